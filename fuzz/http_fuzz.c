/* See LICENSE file for copyright and license details. */
/* http_fuzz.c: libFuzzer driver for http.c. The first input byte picks the
 * parser (0 request, 1 response, 2 response to HEAD, 3 chunked body), the
 * rest is the message. Asserts the invariants the proxy relies on:
 * results inside the input, limits kept, and a prefix of the input gives
 * -2 or the same answer as the whole input. Build:
 *   clang -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE -g -O1 -I. \
 *       -fsanitize=fuzzer,address,undefined -o fuzz/http_fuzz fuzz/http_fuzz.c http.c
 *   ./fuzz/http_fuzz fuzz/corpus */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct http_limits lim = {
	.max_line = 128,
	.max_head = 512,
	.max_headers = 16,
	.max_chunk_line = 64,
	.max_trailer = 128,
};

static int
inside(const char *p, size_t n, const char *buf, size_t len)
{
	return p && p >= buf && p + n <= buf + len;
}

/* Parses buf[0..len) once on a heap copy of exactly len bytes, so ASan
 * catches an over-read. */
static int
request(const char *in, size_t len, struct http_request *r, struct http_header *h)
{
	char *buf = malloc(len ? len : 1);
	size_t i;
	int n;

	memcpy(buf, in, len);
	r->hdr = h;
	n = http_parse_request(buf, len, &lim, r);
	assert(n == -2 || n == -1 || (n > 0 && (size_t)n <= len && (size_t)n <= lim.max_head));
	if (n == -1)
		assert(r->status == 400 || r->status == 405 || r->status == 414 ||
		       r->status == 431 || r->status == 501 || r->status == 505);
	if (n > 0) {
		assert(r->nhdr <= lim.max_headers);
		assert(inside(r->method, r->mlen, buf, n) && inside(r->target, r->tlen, buf, n));
		assert(r->pathlen > 0 && (inside(r->path, r->pathlen, buf, n) ||
		       !strcmp(r->path, "/")));
		assert(!r->host || inside(r->host, r->hostlen, buf, n));
		assert(!r->authority || inside(r->authority, r->alen, buf, n));
		assert(r->minor == 0 || r->minor == 1);
		assert(r->body == HTTP_BODY_NONE || r->body == HTTP_BODY_LENGTH ||
		       r->body == HTTP_BODY_CHUNKED);
		for (i = 0; i < r->nhdr; i++)
			assert(inside(h[i].name, h[i].nlen, buf, n) && h[i].nlen > 0 &&
			       inside(h[i].value, h[i].vlen, buf, n));
	}
	free(buf);
	return n;
}

static void
fuzzrequest(const char *in, size_t len)
{
	struct http_header h[16];
	struct http_request r;
	size_t k;
	int n, m, status;

	n = request(in, len, &r, h);
	status = r.status;
	for (k = 0; k < len; k++) {
		m = request(in, k, &r, h);
		if (n > 0 && k < (size_t)n)
			assert(m == -2);
		else if (n > 0)
			assert(m == n);
		else
			assert(m == -2 || (m == n && r.status == status));
	}
}

static int
response(const char *in, size_t len, int is_head, struct http_response *r,
         struct http_header *h)
{
	char *buf = malloc(len ? len : 1);
	int n;

	memcpy(buf, in, len);
	r->hdr = h;
	n = http_parse_response(buf, len, &lim, is_head, r);
	assert(n == -2 || n == -1 || (n > 0 && (size_t)n <= len && (size_t)n <= lim.max_head));
	if (n > 0) {
		assert(r->nhdr <= lim.max_headers);
		assert(r->status >= 100 && r->status <= 999);
		assert(inside(r->reason, r->rlen, buf, n));
		assert(r->body != HTTP_BODY_CLOSE || !r->keepalive);
		assert(!is_head || r->body == HTTP_BODY_NONE);
	}
	free(buf);
	return n;
}

static void
fuzzresponse(const char *in, size_t len, int is_head)
{
	struct http_header h[16];
	struct http_response r;
	size_t k;
	int n, m;

	n = response(in, len, is_head, &r, h);
	for (k = 0; k < len; k++) {
		m = response(in, k, is_head, &r, h);
		if (n > 0)
			assert(k < (size_t)n ? m == -2 : m == n);
		else
			assert(m == -2 || m == n);
	}
}

/* Decodes in[0..len) in pieces of step bytes (0: whole). Returns -1 on
 * error, else the bytes consumed; the data goes to out. */
static long
chunked(const char *in, size_t len, size_t step, char *out, size_t *olen, int *done)
{
	struct http_chunked c;
	const char *d;
	char *buf;
	size_t used = 0, avail, dlen;
	ssize_t n;

	http_chunked_init(&c);
	*olen = 0;
	while (used < len && !c.done) {
		avail = step && len - used > step ? step : len - used;
		buf = malloc(avail);
		memcpy(buf, in + used, avail);
		n = http_chunked_step(&c, buf, avail, &lim, &d, &dlen);
		assert(n >= -1 && n <= (ssize_t)avail);
		if (dlen) {
			assert(inside(d, dlen, buf, n) && d + dlen == buf + n);
			memcpy(out + *olen, d, dlen);
			*olen += dlen;
		}
		free(buf);
		if (n < 0)
			return -1;
		used += n;
		if (n == 0)
			break;
	}
	*done = c.done;
	return used;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data + 1;
	char *o1, *o2;
	size_t len, l1, l2;
	long u1, u2;
	int d1 = 0, d2 = 0;

	if (size < 1)
		return 0;
	len = size - 1;
	switch (data[0] & 3) {
	case 0:
		fuzzrequest(in, len);
		break;
	case 1:
	case 2:
		fuzzresponse(in, len, (data[0] & 3) == 2);
		break;
	case 3:
		o1 = malloc(len + 1);
		o2 = malloc(len + 1);
		u1 = chunked(in, len, 0, o1, &l1, &d1);
		u2 = chunked(in, len, 1 + data[0] / 4 % 7, o2, &l2, &d2);
		assert(u1 == u2 && d1 == d2);
		if (u1 >= 0)
			assert(l1 == l2 && !memcmp(o1, o2, l1));
		free(o1);
		free(o2);
		break;
	}
	return 0;
}
