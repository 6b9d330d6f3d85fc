/* See LICENSE file for copyright and license details. */
/* chunked_fuzz.c: libFuzzer target for http_chunked_step(). The input is
 * a chunked message body as it follows a head. It is decoded the way the
 * proxy meets it, in reads: all at once, split at a point taken from the
 * data, in reads of 1 to 8 bytes (the size also from the data), and one
 * byte at a time; every read is a heap copy of exactly its bytes. Asserts:
 *  - a step consumes 0..len bytes and its data is a span that ends where
 *    the step stopped; a step stops early only after data or at the end;
 *  - the decoded bytes never outnumber the input bytes;
 *  - every way of reading gives the same result (error, or the same bytes
 *    consumed, done flag and decoded data);
 *  - a prefix (cut at the data-derived point) fails only if the whole
 *    does, is done only if it holds the whole body, else consumes all of
 *    itself, and decodes to a prefix of the whole body's data;
 *  - once done, the data re-encoded as one chunk (or none) decodes to the
 *    same data and consumes exactly the re-encoded bytes.
 * Build and run: sh fuzz/run.sh */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* the unit tests' limits: each one can be hit */
static const struct http_limits lim = {
	.max_line = 64,
	.max_head = 256,
	.max_headers = 8,
	.max_chunk_line = 32,
	.max_trailer = 64,
};

struct result {
	long used;       /* bytes consumed, -1 on error */
	int done;
	char *out;       /* decoded data */
	size_t olen;
};

/* Decodes in[0..len) arriving in reads that end at cut (if 0 < cut < len)
 * and then every step bytes (0: all that is left). */
static void
decode(const char *in, size_t len, size_t cut, size_t step, struct result *res)
{
	struct http_chunked c;
	const char *d;
	char *buf;
	size_t used = 0, avail, dlen, end;
	ssize_t n;

	http_chunked_init(&c);
	res->olen = 0;
	res->out = malloc(len + 1);
	while (used < len && !c.done) {
		/* one read: the bytes up to the next boundary */
		if (cut > used && cut < len)
			end = cut;
		else if (step && len - used > step)
			end = used + step;
		else
			end = len;
		avail = end - used;
		buf = malloc(avail);
		memcpy(buf, in + used, avail);
		/* the caller's loop: step until the read is used up */
		while (avail > 0 && !c.done) {
			n = http_chunked_step(&c, buf + (end - used - avail), avail, &lim, &d, &dlen);
			assert(n >= -1 && n <= (ssize_t)avail);
			if (n < 0) {
				free(buf);
				res->used = -1;
				res->done = 0;
				return;
			}
			if (dlen) {
				assert(dlen <= (size_t)n && d + dlen == buf + (end - used - avail) + n);
				memcpy(res->out + res->olen, d, dlen);
				res->olen += dlen;
			} else {
				/* without data a step stops only at the end or when done */
				assert((size_t)n == avail || c.done);
			}
			assert(res->olen <= len);
			avail -= n;
			if (n == 0)
				break;
		}
		free(buf);
		used = end - avail;
		if (avail > 0)
			break;
	}
	res->used = used;
	res->done = c.done;
}

static void
prefix(const struct result *whole, const struct result *part, size_t cut)
{
	if (part->used < 0) {
		assert(whole->used < 0);
		return;
	}
	if (whole->done && (long)cut >= whole->used)
		assert(part->done && part->used == whole->used);
	else
		assert(!part->done && part->used == (long)cut);
	if (whole->used >= 0)
		assert(part->olen <= whole->olen && !memcmp(part->out, whole->out, part->olen));
}

static void
agree(const struct result *a, const struct result *b)
{
	assert(a->used == b->used && a->done == b->done);
	if (a->used >= 0)
		assert(a->olen == b->olen && !memcmp(a->out, b->out, a->olen));
}

/* the data as one chunk and the last chunk */
static void
reencode(const struct result *whole)
{
	struct result again;
	char *enc;
	size_t k = 0;

	enc = malloc(whole->olen + 64);
	if (whole->olen)
		k = sprintf(enc, "%zx\r\n", whole->olen);
	memcpy(enc + k, whole->out, whole->olen);
	k += whole->olen;
	k += sprintf(enc + k, "%s0\r\n\r\n", whole->olen ? "\r\n" : "");
	decode(enc, k, 0, 0, &again);
	assert(again.done && again.used == (long)k);
	assert(again.olen == whole->olen && !memcmp(again.out, whole->out, whole->olen));
	free(again.out);
	free(enc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct result whole, other;
	size_t i, cut = 0, step = 1;

	/* a split point and a read size that depend on the data */
	for (i = 0; i < size; i++)
		cut = cut * 31 + data[i];
	if (size > 0) {
		step = 1 + data[size - 1] % 8;
		cut %= size + 1;
	}

	decode(in, size, 0, 0, &whole);
	decode(in, size, cut, 0, &other);
	agree(&whole, &other);
	free(other.out);
	decode(in, size, cut, step, &other);
	agree(&whole, &other);
	free(other.out);
	decode(in, size, 0, 1, &other);
	agree(&whole, &other);
	free(other.out);
	decode(in, cut, 0, 0, &other);
	prefix(&whole, &other, cut);
	free(other.out);
	if (whole.done)
		reencode(&whole);
	free(whole.out);
	return 0;
}
