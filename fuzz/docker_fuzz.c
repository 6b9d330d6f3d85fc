/* See LICENSE file for copyright and license details. */
/* docker_fuzz.c: libFuzzer target for docker.c's reply reader. The input
 * is the raw bytes dockerd sends back: status line, headers, a body framed
 * by Content-Length, chunks or the end of the connection, and JSON (or
 * event lines). docker_parse_reply() runs them through the code the real
 * calls use (readhead, readbody, the chunked decoder, the bounded body
 * buffer, the pull-stream and event-line readers, the per-call JSON), with
 * the buffer standing in for the socket. Each input is read as the reply
 * to every call, once in reads as large as the buffer allows and once in
 * reads of 1 to 16 bytes (from the data); the bytes sit in a heap copy of
 * exactly the input. Asserts:
 *  - each call returns one of its documented values, success comes only
 *    with the call's success status, and an error always has a text;
 *  - the status is 0 or 100..999, the error text is bounded;
 *  - results are terminated and in range: 64-hex ids, bounded names and
 *    states, health one of DOCKER_HEALTH_*, ports 0..65535, no more
 *    containers than room, exit codes within the bounds docker.c sets;
 *  - an event stream yields well-formed events and then ends with -1
 *    (never a time-out: the bytes have run out), and no more events than
 *    the input can hold;
 *  - the way the bytes are split into reads changes nothing: the same
 *    result, status, error text, fields and events.
 * Build and run: sh fuzz/run.sh */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "docker.h"

#define MAXCTR 4
#define MAXEV 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct outcome {
	int ret, status;
	char err[512];
	struct docker_reply rep;
	struct docker_ctr ctr[MAXCTR];
	struct docker_event ev[MAXEV];
	size_t nev;
	int evend;           /* what docker_events_next() returned last */
};

static struct docker *d;

static int
isid(const char *s)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[64] == '\0';
}

static int
bounded(const char *s, size_t n)
{
	return memchr(s, '\0', n) != NULL;
}

static void
checkev(const struct docker_event *ev)
{
	/* a container's id is 64 hex digits; a service's or a node's a name */
	if (!strcmp(ev->type, "container"))
		assert(isid(ev->id));
	else
		assert((!strcmp(ev->type, "service") || !strcmp(ev->type, "node")) && ev->id[0] &&
		       bounded(ev->id, sizeof(ev->id)));
	assert(bounded(ev->action, sizeof(ev->action)) && bounded(ev->name, sizeof(ev->name)));
	assert(ev->exitcode >= -1000000 && ev->exitcode <= 1000000);
}

static void
run(const char *buf, size_t n, enum docker_call call, size_t step, struct outcome *o)
{
	struct docker_event ev;
	const struct docker_state *st = &o->rep.st;
	size_t i, k;
	int r;

	memset(o, 0, sizeof(*o));
	o->rep.call = call;
	o->rep.port = 8080;
	o->rep.ctr = o->ctr;
	o->rep.max = MAXCTR;
	o->ret = docker_parse_reply(d, &o->rep, buf, n, step);
	o->status = docker_status(d);
	assert(bounded(docker_error(d), sizeof(o->err)));
	strcpy(o->err, docker_error(d));
	assert(o->status == 0 || (o->status >= 100 && o->status <= 999));
	assert(o->ret == 0 || o->ret == -1 || (call == DOCKER_CALL_LIST && o->ret == 1));
	assert(o->ret >= 0 || o->err[0]);

	switch (call) {
	case DOCKER_CALL_CREATE:
		assert(o->ret < 0 ? o->rep.id[0] == '\0' : o->status == 201 && isid(o->rep.id));
		break;
	case DOCKER_CALL_INSPECT:
		if (o->ret < 0)
			break;
		assert(o->status == 200 && (st->running == 0 || st->running == 1));
		assert(bounded(st->status, sizeof(st->status)) && bounded(st->name, sizeof(st->name)));
		assert(st->health >= DOCKER_HEALTH_NONE && st->health < NUM_DOCKER_HEALTH);
		assert(st->hostport >= 0 && st->hostport <= 65535);
		assert(st->exitcode >= -1000000 && st->exitcode <= 1000000);
		break;
	case DOCKER_CALL_LIST:
		assert(o->rep.nctr <= MAXCTR && (o->ret != 1 || o->rep.nctr == MAXCTR));
		assert(o->ret < 0 ? o->rep.nctr == 0 : o->status == 200);
		for (i = 0; i < o->rep.nctr; i++) {
			assert(isid(o->ctr[i].id) && bounded(o->ctr[i].name, sizeof(o->ctr[i].name)));
			assert(bounded(o->ctr[i].state, sizeof(o->ctr[i].state)));
			assert(bounded(o->ctr[i].image, sizeof(o->ctr[i].image)));
			assert(o->ctr[i].hostport >= 0 && o->ctr[i].hostport <= 65535);
		}
		break;
	case DOCKER_CALL_PULL:
		assert(o->ret < 0 || o->status == 200);
		break;
	case DOCKER_CALL_LOGS:
		assert(o->ret < 0 ? o->rep.logs[0] == '\0' : o->status == 200);
		assert(bounded(o->rep.logs, DOCKER_LOGMAX + 1));
		for (i = 0; o->rep.logs[i]; i++)
			assert(o->rep.logs[i] == '\n' || ((unsigned char)o->rep.logs[i] >= 0x20 &&
			       o->rep.logs[i] != 0x7f));
		break;
	case DOCKER_CALL_EVENTS:
		if (o->ret < 0)
			break;
		assert(o->status == 200);
		/* each event is a line of at least 35 bytes
		 * ({"Type":"node","Actor":{"ID":"a"}}), so n bytes hold few */
		for (k = 0; (r = docker_events_next(d, &ev, 0)) == 1; k++) {
			checkev(&ev);
			assert(k < n / 35);
			if (k < MAXEV)
				o->ev[o->nev++] = ev;
		}
		assert(r == -1 && docker_error(d)[0]);
		o->evend = r;
		assert(docker_events_next(d, &ev, 0) == -1);
		break;
	default:
		break;
	}
}

static void
agree(const struct outcome *a, const struct outcome *b)
{
	size_t i;

	assert(a->ret == b->ret && a->status == b->status && !strcmp(a->err, b->err));
	assert(!strcmp(a->rep.id, b->rep.id) && !memcmp(&a->rep.st, &b->rep.st, sizeof(a->rep.st)));
	assert(a->rep.nctr == b->rep.nctr && !memcmp(a->ctr, b->ctr, sizeof(a->ctr)));
	assert(a->nev == b->nev && a->evend == b->evend);
	for (i = 0; i < a->nev; i++)
		assert(!memcmp(&a->ev[i], &b->ev[i], sizeof(a->ev[i])));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct outcome whole, split;
	char *buf;
	size_t step;
	int call;

	if (!d && !(d = docker_open("fuzz.sock", 1000)))
		abort();
	buf = malloc(size ? size : 1);
	memcpy(buf, data, size);
	step = size ? 1 + data[size - 1] % 16 : 1;
	for (call = 0; call < NUM_DOCKER_CALL; call++) {
		run(buf, size, call, 0, &whole);
		run(buf, size, call, step, &split);
		agree(&whole, &split);
	}
	free(buf);
	return 0;
}
