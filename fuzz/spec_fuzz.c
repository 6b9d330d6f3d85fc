/* See LICENSE file for copyright and license details. */
/* spec_fuzz.c: libFuzzer target for docker_spec_set(), the parser of the
 * container-settings keys. The input is records separated by NUL bytes:
 * a key byte (e c v l m n u p: env, cmd, volume, label, memory, cpus, user,
 * constraint; another byte: its value mod 8) and the value. Asserts:
 *  - a call returns 0 or -1; -1 leaves the spec byte for byte as it was
 *    and says why in a NUL-terminated, non-empty message;
 *  - the spec stays in its bounds: used bytes, entries per list, each
 *    entry NUL-terminated inside the used bytes;
 *  - what docker_spec_get() prints reads back with docker_spec_set() into
 *    a spec that docker_spec_equal() finds equal (the -T round trip), and
 *    a copy by '=' is equal too.
 * Build and run: sh fuzz/run.sh spec */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *keys[] = { "env", "cmd", "volume", "label", "memory", "cpus", "user",
                               "constraint" };

static void
bounded(const struct docker_spec_buf *s)
{
	assert(s->len <= DOCKER_SPEC_MAXSTR);
	assert(memchr(s->user, '\0', sizeof(s->user)));
	for (int l = 0; l < NUM_DOCKER_SL; l++) {
		assert(s->n[l] <= DOCKER_SPEC_MAXITEMS);
		for (size_t i = 0; i < s->n[l]; i++) {
			assert(s->off[l][i] < s->len);
			assert(memchr(s->str + s->off[l][i], '\0', s->len - s->off[l][i]));
		}
	}
}

/* b printed key by key and read back into c */
static void
roundtrip(const struct docker_spec_buf *b)
{
	static struct docker_spec_buf c, d;
	static char val[2 * DOCKER_SPEC_MAXSTR];
	char err[256];

	memset(&c, 0, sizeof(c));
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
		for (size_t i = 0; docker_spec_get(b, keys[k], i, val, sizeof(val)); i++)
			if (docker_spec_set(&c, keys[k], val, err, sizeof(err)) < 0) {
				fprintf(stderr, "%s '%s' does not read back: %s\n", keys[k], val, err);
				abort();
			}
	assert(docker_spec_equal(b, &c));
	d = *b;
	assert(docker_spec_equal(&d, b));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct docker_spec_buf s, before;
	char *buf = malloc(size + 1), *p, *end, err[256];
	const char *k;
	int r;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	memset(&s, 0, sizeof(s));
	for (p = buf, end = buf + size; p < end; p += strlen(p) + 1) {
		if (!*p)
			continue;
		before = s;
		err[0] = '\0';
		k = strchr("ecvlmnup", *p) ? keys[strchr("ecvlmnup", *p) - "ecvlmnup"] :
		    keys[(unsigned char)*p % 8];
		r = docker_spec_set(&s, k, p + 1, err, sizeof(err));
		assert(r == 0 || r == -1);
		if (r < 0) {
			assert(err[0] && memchr(err, '\0', sizeof(err)));
			assert(!memcmp(&s, &before, sizeof(s)));
		}
		bounded(&s);
	}
	roundtrip(&s);
	free(buf);
	return 0;
}
