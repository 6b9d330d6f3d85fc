/* See LICENSE file for copyright and license details. */
/* swarm_fuzz.c: libFuzzer target for swarm.c's pure parsers and decision.
 * The input is a reply body as the daemon sends it to GET /services,
 * /services/{id}, /tasks or /nodes (JSON). Each input is parsed as all
 * four, and the tasks and nodes it yields are judged by swarm_assess()
 * for the services it yields. Asserts:
 *  - each parser returns -1, 0 or 1; -1 stores nothing, 1 fills the room;
 *  - every string field is terminated within its array; an address has no
 *    prefix length; task errors and host names have no control bytes;
 *  - parsing again gives the same bytes (no hidden state);
 *  - verdicts and reasons are in range, a routed instance has an address
 *    and a running task on a ready node, and task pointers point into the
 *    task array.
 * Build and run: sh fuzz/run.sh swarm */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "swarm.h"

#define MAXN 3

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
term(const char *s, size_t n)
{
	assert(memchr(s, '\0', n) != NULL);
}

static void
printable(const char *s)
{
	for (; *s; s++)
		assert((unsigned char)*s >= 0x20 && *s != 0x7f);
}

static void
count(int r, size_t n)
{
	assert(r >= -1 && r <= 1);
	assert(n <= MAXN);
	assert(r != -1 || n == 0);
	assert(r != 1 || n == MAXN);
}

static void
assess(const struct swarm_service *sv, size_t ns, const struct swarm_task *t, size_t nt,
       const struct swarm_node *nd, size_t nn)
{
	struct swarm_assessment a[MAXN];
	size_t i;

	swarm_assess(sv, ns, t, nt, nd, nn, a);
	for (i = 0; i < ns; i++) {
		assert(a[i].verdict < NUM_SWARM_VERDICT && a[i].reason < NUM_SWARM_REASON);
		assert(!a[i].task || (a[i].task >= t && a[i].task < t + nt));
		term(a[i].addr, sizeof(a[i].addr));
		if (a[i].verdict != SWARM_ROUTE) {
			assert(!a[i].addr[0]);
			continue;
		}
		assert(a[i].task && a[i].addr[0] && !strcmp(a[i].task->state, "running"));
		assert(!strcmp(a[i].task->service, sv[i].id));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct swarm_service sv[MAXN], sv2[MAXN], one;
	struct swarm_task t[MAXN], t2[MAXN];
	struct swarm_node nd[MAXN], nd2[MAXN];
	size_t ns, nt, nn, n2, i;
	char *js = malloc(size ? size : 1);
	int r;

	if (!js)
		return 0;
	memcpy(js, data, size);
	r = swarm_parse_services(js, size, sv, MAXN, &ns);
	count(r, ns);
	assert(swarm_parse_services(js, size, sv2, MAXN, &n2) == r && n2 == ns);
	assert(!memcmp(sv, sv2, ns * sizeof(sv[0])));
	for (i = 0; i < ns; i++) {
		term(sv[i].id, sizeof(sv[i].id));
		term(sv[i].name, sizeof(sv[i].name));
		term(sv[i].app, sizeof(sv[i].app));
		term(sv[i].image, sizeof(sv[i].image));
		assert(sv[i].port >= 0 && sv[i].port <= 65535);
	}
	r = swarm_parse_service(js, size, &one);
	assert(r == 0 || r == -1);

	r = swarm_parse_tasks(js, size, "hswarm-net", t, MAXN, &nt);
	count(r, nt);
	assert(swarm_parse_tasks(js, size, "hswarm-net", t2, MAXN, &n2) == r && n2 == nt);
	assert(!memcmp(t, t2, nt * sizeof(t[0])));
	for (i = 0; i < nt; i++) {
		term(t[i].addr, sizeof(t[i].addr));
		term(t[i].err, sizeof(t[i].err));
		term(t[i].state, sizeof(t[i].state));
		assert(!strchr(t[i].addr, '/'));
		printable(t[i].err);
	}

	r = swarm_parse_nodes(js, size, nd, MAXN, &nn);
	count(r, nn);
	assert(swarm_parse_nodes(js, size, nd2, MAXN, &n2) == r && n2 == nn);
	assert(!memcmp(nd, nd2, nn * sizeof(nd[0])));
	for (i = 0; i < nn; i++) {
		term(nd[i].hostname, sizeof(nd[i].hostname));
		printable(nd[i].hostname);
		assert(nd[i].ready <= 1 && nd[i].active <= 1 && nd[i].drain <= 1);
		assert(!(nd[i].active && nd[i].drain));
	}

	/* the tasks' own ids as services: each task then speaks for one */
	for (i = 0; i < nt; i++) {
		memset(&sv2[i], 0, sizeof(sv2[i]));
		memcpy(sv2[i].id, t[i].service, sizeof(sv2[i].id));
	}
	assess(sv2, nt, t, nt, nd, nn);
	assess(sv, ns, t, nt, nd, nn);
	free(js);
	return 0;
}
