/* See LICENSE file for copyright and license details. */
/* request_fuzz.c: libFuzzer target for http_parse_request(). The input is
 * the bytes a client sends. It is parsed under two sets of limits (the
 * unit tests' small ones, so every limit is hit, and roomier ones), each
 * time at the very end of a heap block, so ASan catches a read past the
 * end. Asserts:
 *  - the result is -2, -1 with a status the proxy answers with, or a head
 *    length within the input and max_head;
 *  - every span lies inside the head, nhdr <= max_headers, names are
 *    tokens, values hold no CTL but HTAB and no OWS at either end;
 *  - the framing fields agree with the header fields (body, clen, Host,
 *    keep-alive);
 *  - every prefix gives -2 or the same error as the whole input, and once
 *    it holds the whole head the same length and fields (over 300 bytes:
 *    the prefixes around each CR and LF and the limits, and every 16th);
 *  - the head rebuilt from the fields (method SP target SP version CRLF,
 *    "name: value" CRLF, CRLF) parses to the same fields, and rebuilding
 *    that gives the same bytes;
 *  - the head as a proxy forwards it (without Connection and the fields it
 *    names) frames the same body, and only a body-less GET is an upgrade.
 * Build and run: sh fuzz/run.sh */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

#define MAXHDR 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct http_limits lims[] = {
	{ .max_line = 64, .max_head = 256, .max_headers = 8 },
	{ .max_line = 512, .max_head = 1024, .max_headers = MAXHDR },
};

struct parsed {
	int n;
	struct http_request r;
	struct http_header h[MAXHDR];
};

static int
inside(const char *p, size_t n, const char *buf, size_t len)
{
	return p && p >= buf && n <= len && p - buf <= (long)(len - n);
}

static int
istoken(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || (s[i] && strchr("!#$%&'*+-.^_`|~", s[i]))))
			return 0;
	return n > 0;
}

static int
isvalue(const char *s, size_t n)
{
	size_t i;

	if (n > 0 && (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] != '\t' && ((unsigned char)s[i] < 0x20 || s[i] == 0x7f))
			return 0;
	return 1;
}

static int
same(const char *a, size_t an, const char *b, size_t bn)
{
	return an == bn && (an == 0 || !memcmp(a, b, an));
}

/* checks what one parse of buf[0..len) returned */
static void
check(const struct parsed *p, const char *buf, size_t len, const struct http_limits *lim)
{
	const struct http_request *r = &p->r;
	const struct http_header *te, *cl, *host, *conn;
	size_t i, n = p->n;

	if (p->n == -2)
		return;
	if (p->n == -1) {
		assert(r->status == 400 || r->status == 405 || r->status == 414 ||
		       r->status == 431 || r->status == 501 || r->status == 505);
		return;
	}
	assert(p->n > 0 && n <= len && n <= lim->max_head && r->status == 0);
	assert(n >= 4 && !memcmp(buf + n - 4, "\r\n\r\n", 4));
	assert(r->nhdr <= lim->max_headers && r->hdr == p->h);
	assert(inside(r->method, r->mlen, buf, n) && istoken(r->method, r->mlen));
	assert(inside(r->target, r->tlen, buf, n) && r->tlen > 0);
	assert(r->pathlen > 0 && (inside(r->path, r->pathlen, buf, n) || !strcmp(r->path, "/")));
	assert(!r->authority || (inside(r->authority, r->alen, buf, n) && r->alen > 0));
	assert(r->authority || r->path == r->target);
	assert(r->minor == 0 || r->minor == 1);
	for (i = 0; i < r->nhdr; i++) {
		assert(inside(p->h[i].name, p->h[i].nlen, buf, n));
		assert(istoken(p->h[i].name, p->h[i].nlen));
		assert(inside(p->h[i].value, p->h[i].vlen, buf, n));
		assert(isvalue(p->h[i].value, p->h[i].vlen));
	}
	te = http_header_find(p->h, r->nhdr, "transfer-encoding");
	cl = http_header_find(p->h, r->nhdr, "content-length");
	host = http_header_find(p->h, r->nhdr, "host");
	conn = http_header_find(p->h, r->nhdr, "connection");
	assert(!(te && cl));
	switch (r->body) {
	case HTTP_BODY_CHUNKED:
		assert(te && r->minor == 1 && r->clen == 0);
		break;
	case HTTP_BODY_LENGTH:
		assert(cl && r->clen > 0 && r->clen <= 1ULL << 63);
		break;
	case HTTP_BODY_NONE:
		assert(!te && r->clen == 0);
		break;
	default:
		assert(!"request body framing");
	}
	assert(!host == !r->host);
	assert(!host || (host->value == r->host && host->vlen == r->hostlen));
	assert(r->minor == 0 || r->host);
	if (!conn)
		assert(r->keepalive == (r->minor == 1) && !r->upgrade);
}

/* parses in[0..len) copied to the end of area, a heap block of cap >=
 * len bytes, so a read past the end hits ASan's redzone; the spans in p
 * are then made relative to in */
static void
parse(const char *in, size_t len, char *area, size_t cap, const struct http_limits *lim,
      struct parsed *p)
{
	char *buf = area + cap - len;
	struct http_request *r = &p->r;
	size_t i;

#define MOVE(ptr) do { if ((ptr) && (ptr) >= buf && (ptr) <= buf + len) \
                               (ptr) = in + ((ptr) - buf); } while (0)
	memcpy(buf, in, len);
	memset(p, 0xa5, sizeof(*p));
	r->hdr = p->h;
	p->n = http_parse_request(buf, len, lim, r);
	check(p, buf, len, lim);
	if (p->n > 0) {
		MOVE(r->method);
		MOVE(r->target);
		MOVE(r->path);
		MOVE(r->authority);
		MOVE(r->host);
		for (i = 0; i < r->nhdr; i++) {
			MOVE(p->h[i].name);
			MOVE(p->h[i].value);
		}
	}
#undef MOVE
}

/* whether to parse the prefix of k bytes: all of them in short inputs;
 * in long ones those around a CR or LF (where a line's checks fire), the
 * limits, and every 16th from a data-derived start */
static int
wanted(const char *in, size_t k, size_t top, const struct http_limits *lim)
{
	size_t i;

	if (top <= 300 || k + 2 >= top || k % 16 == (unsigned char)in[0] % 16)
		return 1;
	for (i = k > 2 ? k - 2 : 0; i <= k && i < top; i++)
		if (in[i] == '\r' || in[i] == '\n')
			return 1;
	return k + 1 == lim->max_line || k == lim->max_line || k == lim->max_line + 1 ||
	       k + 1 == lim->max_head || k == lim->max_head;
}

/* the results of two parses are the same */
static void
equal(const struct parsed *a, const struct parsed *b)
{
	const struct http_request *x = &a->r, *y = &b->r;
	size_t i;

	assert(x->minor == y->minor && x->nhdr == y->nhdr && x->body == y->body &&
	       x->clen == y->clen && x->keepalive == y->keepalive &&
	       x->expect100 == y->expect100 && x->upgrade == y->upgrade);
	assert(same(x->method, x->mlen, y->method, y->mlen));
	assert(same(x->target, x->tlen, y->target, y->tlen));
	assert(same(x->path, x->pathlen, y->path, y->pathlen));
	assert(!x->authority == !y->authority && !x->host == !y->host);
	assert(!x->authority || same(x->authority, x->alen, y->authority, y->alen));
	assert(!x->host || same(x->host, x->hostlen, y->host, y->hostlen));
	for (i = 0; i < x->nhdr; i++) {
		assert(same(a->h[i].name, a->h[i].nlen, b->h[i].name, b->h[i].nlen));
		assert(same(a->h[i].value, a->h[i].vlen, b->h[i].value, b->h[i].vlen));
	}
}

/* writes the head of p into out (room enough). Returns its length. */
static size_t
rebuild(const struct parsed *p, char *out)
{
	const struct http_request *r = &p->r;
	size_t i, k;

	k = sprintf(out, "%.*s %.*s HTTP/1.%d\r\n", (int)r->mlen, r->method,
	            (int)r->tlen, r->target, r->minor);
	for (i = 0; i < r->nhdr; i++)
		k += sprintf(out + k, "%.*s: %.*s\r\n", (int)p->h[i].nlen, p->h[i].name,
		             (int)p->h[i].vlen, p->h[i].value);
	memcpy(out + k, "\r\n", 2);
	return k + 2;
}

/* whether a Connection field of p names field h (hop-by-hop: a proxy drops it) */
static int
dropped(const struct parsed *p, const struct http_header *h)
{
	char name[64];
	size_t i;

	if (http_eq(h->name, h->nlen, "connection"))
		return 1;
	if (h->nlen >= sizeof(name))
		return 0;
	memcpy(name, h->name, h->nlen);
	name[h->nlen] = '\0';
	for (i = 0; i < p->r.nhdr; i++)
		if (http_eq(p->h[i].name, p->h[i].nlen, "connection") &&
		    http_list_has(p->h[i].value, p->h[i].vlen, name))
			return 1;
	return 0;
}

/* the head as a proxy forwards it, without the hop-by-hop fields, must
 * frame the same body (issue 12: Connection never removes the framing) */
static void
forwarded(const struct parsed *p, const struct http_limits *lim)
{
	const struct http_request *r = &p->r;
	struct parsed f;
	struct http_limits big = *lim;
	char *out = malloc(2 * lim->max_head + 64), *area;
	size_t i, k;

	k = sprintf(out, "%.*s %.*s HTTP/1.%d\r\n", (int)r->mlen, r->method,
	            (int)r->tlen, r->target, r->minor);
	for (i = 0; i < r->nhdr; i++)
		if (!dropped(p, &p->h[i]))
			k += sprintf(out + k, "%.*s: %.*s\r\n", (int)p->h[i].nlen, p->h[i].name,
			             (int)p->h[i].vlen, p->h[i].value);
	memcpy(out + k, "\r\n", 2);
	k += 2;
	big.max_head = k > lim->max_head ? k : lim->max_head;
	area = malloc(k);
	parse(out, k, area, k, &big, &f);
	assert(f.n == (int)k && f.r.body == r->body && f.r.clen == r->clen);
	assert(!r->upgrade || (r->mlen == 3 && !memcmp(r->method, "GET", 3) &&
	                       r->body == HTTP_BODY_NONE));
	free(area);
	free(out);
}

static void
fuzz(const char *in, size_t len, const struct http_limits *lim)
{
	struct parsed whole, part, again;
	struct http_limits big = *lim;
	size_t k, top, n1, n2;
	char *area, *b1, *b2;

	area = malloc(len ? len : 1);
	parse(in, len, area, len, lim, &whole);

	/* prefixes: past max_head + 1 bytes the parser sees nothing new */
	top = len < lim->max_head + 1 ? len : lim->max_head + 1;
	for (k = 0; k < top; k++) {
		if (!wanted(in, k, top, lim))
			continue;
		parse(in, k, area, len, lim, &part);
		if (whole.n > 0 && k < (size_t)whole.n) {
			assert(part.n == -2);
		} else if (whole.n > 0) {
			assert(part.n == whole.n);
			equal(&part, &whole);
		} else if (part.n == -1) {
			assert(whole.n == -1 && part.r.status == whole.r.status);
		} else {
			assert(part.n == -2);
		}
	}
	free(area);
	if (whole.n <= 0)
		return;

	/* re-serialised: the same fields, and a fixed point */
	b1 = malloc(2 * whole.n + 32);
	b2 = malloc(2 * whole.n + 32);
	n1 = rebuild(&whole, b1);
	big.max_head = n1 > lim->max_head ? n1 : lim->max_head;
	area = malloc(n1);
	parse(b1, n1, area, n1, &big, &again);
	free(area);
	assert(again.n == (int)n1);
	equal(&whole, &again);
	n2 = rebuild(&again, b2);
	assert(n1 == n2 && !memcmp(b1, b2, n1));
	forwarded(&whole, lim);
	free(b1);
	free(b2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t i;

	for (i = 0; i < sizeof(lims) / sizeof(lims[0]); i++)
		fuzz((const char *)data, size, &lims[i]);
	return 0;
}
