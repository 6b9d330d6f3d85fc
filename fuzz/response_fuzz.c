/* See LICENSE file for copyright and license details. */
/* response_fuzz.c: libFuzzer target for http_parse_response(). The input
 * is the bytes a backend (or dockerd) sends. It is parsed as the answer to
 * GET and to HEAD, under two sets of limits (the unit tests' small ones
 * and roomier ones), each time at the very end of a heap block, so ASan
 * catches a read past the end. Asserts:
 *  - the result is -2, -1 or a head length within the input and max_head;
 *  - the status is 100..999, every span lies inside the head, nhdr <=
 *    max_headers, names are tokens, values hold no CTL but HTAB;
 *  - the framing follows RFC 9112 6.3: no body for HEAD, 1xx, 204 and 304,
 *    chunked only with Transfer-Encoding, a length only with a non-zero
 *    Content-Length, and a close-delimited body never kept alive;
 *  - HEAD changes the body framing only, never the length or the fields;
 *  - every prefix gives -2 or the same answer as the whole input (over
 *    300 bytes: those around each CR and LF and the limits, every 16th);
 *  - the head rebuilt from the fields ("HTTP/1.m SSS reason" CRLF, "name:
 *    value" CRLF, CRLF) parses to the same fields and rebuilds to the same
 *    bytes. Build and run: sh fuzz/run.sh */
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
	struct http_response r;
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

/* no CTL but HTAB; trim: no OWS at either end */
static int
isvchars(const char *s, size_t n, int trim)
{
	size_t i;

	if (trim && n > 0 && (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' ||
	    s[n - 1] == '\t'))
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

static void
check(const struct parsed *p, const char *buf, size_t len, const struct http_limits *lim,
      int is_head)
{
	const struct http_response *r = &p->r;
	const struct http_header *te, *cl, *conn;
	size_t i, n = p->n;

	if (p->n == -2 || p->n == -1)
		return;
	assert(p->n > 0 && n <= len && n <= lim->max_head);
	assert(n >= 4 && !memcmp(buf + n - 4, "\r\n\r\n", 4) && !memcmp(buf, "HTTP/1.", 7));
	assert(r->status >= 100 && r->status <= 999 && r->minor >= 0 && r->minor <= 9);
	assert(inside(r->reason, r->rlen, buf, n) && isvchars(r->reason, r->rlen, 0));
	assert(r->nhdr <= lim->max_headers && r->hdr == p->h);
	for (i = 0; i < r->nhdr; i++) {
		assert(inside(p->h[i].name, p->h[i].nlen, buf, n));
		assert(istoken(p->h[i].name, p->h[i].nlen));
		assert(inside(p->h[i].value, p->h[i].vlen, buf, n));
		assert(isvchars(p->h[i].value, p->h[i].vlen, 1));
	}
	te = http_header_find(p->h, r->nhdr, "transfer-encoding");
	cl = http_header_find(p->h, r->nhdr, "content-length");
	conn = http_header_find(p->h, r->nhdr, "connection");
	if (is_head || r->status < 200 || r->status == 204 || r->status == 304)
		assert(r->body == HTTP_BODY_NONE);
	switch (r->body) {
	case HTTP_BODY_CHUNKED:
		assert(te && r->clen == 0);
		break;
	case HTTP_BODY_LENGTH:
		assert(cl && !te && r->clen > 0 && r->clen <= 1ULL << 63);
		break;
	case HTTP_BODY_CLOSE:
		assert(!r->keepalive && (te || !cl));
		break;
	case HTTP_BODY_NONE:
		break;
	default:
		assert(!"response body framing");
	}
	if (te)
		assert(r->clen == 0 && (!cl || !r->keepalive));
	if (!conn && !te)
		assert(r->keepalive == (r->minor > 0 && r->body != HTTP_BODY_CLOSE));
}

/* parses in[0..len) copied to the end of area, a heap block of cap >=
 * len bytes, so a read past the end hits ASan's redzone; the spans in p
 * are then made relative to in */
static void
parse(const char *in, size_t len, char *area, size_t cap, const struct http_limits *lim,
      int is_head, struct parsed *p)
{
	char *buf = area + cap - len;
	size_t i;

	memcpy(buf, in, len);
	memset(p, 0xa5, sizeof(*p));
	p->r.hdr = p->h;
	p->n = http_parse_response(buf, len, lim, is_head, &p->r);
	check(p, buf, len, lim, is_head);
	if (p->n > 0) {
		p->r.reason = in + (p->r.reason - buf);
		for (i = 0; i < p->r.nhdr; i++) {
			p->h[i].name = in + (p->h[i].name - buf);
			p->h[i].value = in + (p->h[i].value - buf);
		}
	}
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

/* the results of two parses are the same; framing: also body and clen */
static void
equal(const struct parsed *a, const struct parsed *b, int framing)
{
	const struct http_response *x = &a->r, *y = &b->r;
	size_t i;

	assert(a->n == b->n && x->minor == y->minor && x->status == y->status &&
	       x->nhdr == y->nhdr);
	assert(same(x->reason, x->rlen, y->reason, y->rlen));
	for (i = 0; i < x->nhdr; i++) {
		assert(same(a->h[i].name, a->h[i].nlen, b->h[i].name, b->h[i].nlen));
		assert(same(a->h[i].value, a->h[i].vlen, b->h[i].value, b->h[i].vlen));
	}
	if (framing)
		assert(x->body == y->body && x->clen == y->clen && x->keepalive == y->keepalive);
}

static size_t
rebuild(const struct parsed *p, char *out)
{
	const struct http_response *r = &p->r;
	size_t i, k;

	k = sprintf(out, "HTTP/1.%d %03d %.*s\r\n", r->minor, r->status, (int)r->rlen,
	            r->reason);
	for (i = 0; i < r->nhdr; i++)
		k += sprintf(out + k, "%.*s: %.*s\r\n", (int)p->h[i].nlen, p->h[i].name,
		             (int)p->h[i].vlen, p->h[i].value);
	memcpy(out + k, "\r\n", 2);
	return k + 2;
}

static void
fuzz(const char *in, size_t len, const struct http_limits *lim, int is_head)
{
	struct parsed whole, part, again;
	struct http_limits big = *lim;
	size_t k, top, n1, n2;
	char *area, *b1, *b2;

	area = malloc(len ? len : 1);
	parse(in, len, area, len, lim, is_head, &whole);
	top = len < lim->max_head + 1 ? len : lim->max_head + 1;
	for (k = 0; k < top; k++) {
		if (!wanted(in, k, top, lim))
			continue;
		parse(in, k, area, len, lim, is_head, &part);
		if (whole.n > 0 && k < (size_t)whole.n)
			assert(part.n == -2);
		else if (whole.n > 0)
			equal(&part, &whole, 1);
		else
			assert(part.n == -2 || part.n == whole.n);
	}
	if (!is_head) {
		parse(in, len, area, len, lim, 1, &part);
		assert(part.n == whole.n);
		if (whole.n > 0)
			equal(&part, &whole, 0);
	}
	free(area);
	if (whole.n <= 0)
		return;

	b1 = malloc(2 * whole.n + 32);
	b2 = malloc(2 * whole.n + 32);
	n1 = rebuild(&whole, b1);
	big.max_head = n1 > lim->max_head ? n1 : lim->max_head;
	area = malloc(n1);
	parse(b1, n1, area, n1, &big, is_head, &again);
	free(area);
	assert(again.n == (int)n1);
	again.n = whole.n;
	equal(&whole, &again, 1);
	n2 = rebuild(&again, b2);
	assert(n1 == n2 && !memcmp(b1, b2, n1));
	free(b1);
	free(b2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t i;

	for (i = 0; i < sizeof(lims) / sizeof(lims[0]); i++) {
		fuzz((const char *)data, size, &lims[i], 0);
		fuzz((const char *)data, size, &lims[i], 1);
	}
	return 0;
}
