/* See LICENSE file for copyright and license details. */
/* json_fuzz.c: libFuzzer target for json.c's reader. The input is a JSON
 * document (a daemon's reply body), optionally preceded by a path and a
 * NUL byte; the document is a heap copy of exactly its bytes. Asserts:
 *  - json_valid() agrees with json_get(""): 0 with 1, -1 with -1, and a
 *    malformed document fails json_get() for every path;
 *  - a malformed path fails whatever the document, a valid one gives 0
 *    or 1 on a valid document (a few fixed paths, and the input's path);
 *  - a found value is a span inside the document, of the type its first
 *    byte says, valid on its own, and found again as "" of itself;
 *  - json_string() writes at most the buffer, NUL-terminated, never more
 *    bytes than the token, the same text for every buffer it fits and -1
 *    for every one it does not; the text is UTF-8 that the writer writes
 *    and the reader reads back the same, and json_streq() matches it;
 *  - json_int() reads an integer back to its own text, json_bool() and
 *    the literals agree;
 *  - array and object iteration ends with 0 on a valid value, moves
 *    forward every step, and "[i]" / ["key"] find the same member (the
 *    first of duplicate keys); on bytes never validated it still ends;
 *  - a proper prefix of a string, literal, object or array is invalid.
 * Build and run: sh fuzz/run.sh */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define MAXITER 8    /* members checked in each container */
#define MAXLEVEL 3   /* levels of containers checked */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *paths[] = {
	"Id", "message", "State.Running", "State.Health.Status", "[0]", "[1].Names[0]",
	"NetworkSettings.Ports[\"8080/tcp\"][0].HostPort", "Actor.Attributes.name",
	"Config.Labels[\"prescal.name\"]", "a.b[2]", "[0][0][0]",
};

static void checkval(const struct json_val *v, const char *js, size_t n, int level);

static int
inside(const char *p, size_t n, const char *buf, size_t len)
{
	return p && p >= buf && n <= len && p - buf <= (long)(len - n);
}

static int
sameval(const struct json_val *a, const struct json_val *b)
{
	return a->type == b->type && a->s == b->s && a->n == b->n;
}

/* decodes a string at two buffer sizes and through the writer */
static void
checkstr(const struct json_val *v)
{
	struct json_val w;
	struct json_w jw;
	char *big, *small, *enc;
	size_t cap = v->n, scap;
	int r, rs, k;

	big = malloc(cap);
	r = json_string(v, big, cap);
	assert(r >= -1 && r <= (int)v->n - 2);
	if (r >= 0)
		assert(big[r] == '\0' && strlen(big) == (size_t)r);
	/* a buffer size from the token: fits exactly when it is over r */
	scap = 1 + (v->n * 7 + (unsigned char)v->s[v->n / 2]) % (v->n + 1);
	small = malloc(scap);
	rs = json_string(v, small, scap);
	if (r < 0 || scap <= (size_t)r)
		assert(rs == -1);
	else
		assert(rs == r && !memcmp(small, big, r + 1));
	free(small);
	if (r < 0) {
		free(big);
		return;
	}
	if (r < 255)
		assert(json_streq(v, big));
	/* the writer takes the text back, the reader reads it again */
	enc = malloc(6 * r + 3);
	json_w_init(&jw, enc, 6 * r + 3);
	json_w_str(&jw, big);
	k = json_w_end(&jw);
	assert(k >= 2);
	assert(json_get(enc, k, "", &w) == 1 && w.type == JSON_STRING);
	small = malloc(r + 1);
	assert(json_string(&w, small, r + 1) == r && !memcmp(small, big, r + 1));
	free(small);
	free(enc);
	free(big);
}

static void
checknum(const struct json_val *v)
{
	char text[32];
	long long x;
	size_t i, digits = 0;
	int plain = 1;

	for (i = 0; i < v->n; i++) {
		if (v->s[i] >= '0' && v->s[i] <= '9')
			digits++;
		else if (v->s[i] != '-' || i > 0)
			plain = 0;
	}
	if (json_int(v, &x) == 0) {
		assert(plain);
		snprintf(text, sizeof(text), "%lld", x);
		assert((v->n == 2 && !memcmp(v->s, "-0", 2)) ||
		       (strlen(text) == v->n && !memcmp(text, v->s, v->n)));
	} else {
		assert(!plain || digits > 18);
	}
}

/* iterates an array; "[i]" finds the same elements */
static void
checkarray(const struct json_val *v, const char *js, size_t n, int level)
{
	struct json_val e, g;
	size_t pos = 0, last = 0, i = 0;
	char path[32];
	int r;

	while ((r = json_array_next(v, &pos, &e)) == 1) {
		assert(pos > last && pos <= v->n && inside(e.s, e.n, v->s, v->n));
		last = pos;
		if (i < MAXITER) {
			checkval(&e, js, n, level + 1);
			snprintf(path, sizeof(path), "[%zu]", i);
			assert(json_get(v->s, v->n, path, &g) == 1 && sameval(&g, &e));
		}
		i++;
	}
	assert(r == 0 && i <= v->n / 2);
	snprintf(path, sizeof(path), "[%zu]", i);
	assert(json_get(v->s, v->n, path, &g) == 0);
}

/* iterates an object; ["key"] finds the first member of each key */
static void
checkobject(const struct json_val *v, const char *js, size_t n, int level)
{
	struct json_val k, e, g, first[MAXITER];
	char keys[MAXITER][256], *path;
	size_t pos = 0, last = 0, i = 0, j;
	int r, kl[MAXITER];

	path = malloc(256 + 5);
	while ((r = json_object_next(v, &pos, &k, &e)) == 1) {
		assert(pos > last && pos <= v->n && inside(k.s, k.n, v->s, v->n) &&
		       inside(e.s, e.n, v->s, v->n) && k.type == JSON_STRING && k.s < e.s);
		last = pos;
		if (i < MAXITER) {
			checkval(&k, js, n, level + 1);
			checkval(&e, js, n, level + 1);
			first[i] = e;
			kl[i] = json_string(&k, keys[i], sizeof(keys[i]));
			if (kl[i] >= 0 && !strstr(keys[i], "\"]")) {
				for (j = 0; j < i && (kl[j] != kl[i] || strcmp(keys[j], keys[i])); j++)
					;
				snprintf(path, 256 + 5, "[\"%s\"]", keys[i]);
				assert(json_get(v->s, v->n, path, &g) == 1 && sameval(&g, &first[j]));
			}
		}
		i++;
	}
	assert(r == 0 && i <= v->n / 4);
	free(path);
}

static void
checkval(const struct json_val *v, const char *js, size_t n, int level)
{
	struct json_val w;

	assert(inside(v->s, v->n, js, n) && v->n > 0);
	assert(json_valid(v->s, v->n) == 0);
	assert(json_get(v->s, v->n, "", &w) == 1 && sameval(&w, v));
	switch (v->type) {
	case JSON_STRING:
		assert(v->s[0] == '"' && v->s[v->n - 1] == '"' && v->n >= 2);
		checkstr(v);
		break;
	case JSON_NUMBER:
		assert(v->s[0] == '-' || (v->s[0] >= '0' && v->s[0] <= '9'));
		checknum(v);
		break;
	case JSON_BOOL:
		assert(json_bool(v) == (v->s[0] == 't') && v->n == (v->s[0] == 't' ? 4u : 5u));
		break;
	case JSON_NULL:
		assert(v->n == 4 && !memcmp(v->s, "null", 4) && json_bool(v) == -1);
		break;
	case JSON_ARRAY:
		assert(v->s[0] == '[' && v->s[v->n - 1] == ']');
		if (level < MAXLEVEL)
			checkarray(v, js, n, level);
		break;
	case JSON_OBJECT:
		assert(v->s[0] == '{' && v->s[v->n - 1] == '}');
		if (level < MAXLEVEL)
			checkobject(v, js, n, level);
		break;
	default:
		assert(!"json type");
	}
}

/* a container span that was never validated: iteration still ends */
static void
raw(const char *js, size_t n)
{
	struct json_val c = { JSON_ARRAY, js, n }, k, e;
	size_t pos = 0, last = 0;

	if (n == 0)
		return;
	if (js[0] == '[') {
		while (json_array_next(&c, &pos, &e) == 1) {
			assert(pos > last && pos <= n && inside(e.s, e.n, js, n));
			last = pos;
		}
	} else if (js[0] == '{') {
		c.type = JSON_OBJECT;
		while (json_object_next(&c, &pos, &k, &e) == 1) {
			assert(pos > last && pos <= n && inside(e.s, e.n, js, n) &&
			       inside(k.s, k.n, js, n));
			last = pos;
		}
	}
}

static void
lookup(const char *js, size_t n, const char *path, int valid)
{
	struct json_val v;
	int r, pr;

	pr = json_get("0", 1, path, &v);     /* -1 only for a malformed path */
	r = json_get(js, n, path, &v);
	if (valid < 0 || pr < 0)
		assert(r == -1);
	else
		assert(r == 0 || r == 1);
	if (r == 1)
		checkval(&v, js, n, 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nul = memchr(data, '\0', size);
	struct json_val root;
	char *path = NULL, *js;
	size_t n = size, i, k, end;
	int valid, r;

	if (nul) {
		path = malloc(nul - (const char *)data + 1);
		memcpy(path, data, nul - (const char *)data + 1);
		n = size - (nul - (const char *)data) - 1;
	}
	js = malloc(n ? n : 1);
	memcpy(js, (const char *)data + (size - n), n);

	valid = json_valid(js, n);
	assert(valid == 0 || valid == -1);
	r = json_get(js, n, "", &root);
	assert(valid == 0 ? r == 1 : r == -1);
	if (r == 1) {
		checkval(&root, js, n, 0);
		/* proper prefixes, at points taken from the data */
		end = root.s - js + root.n;
		for (i = 0; i < 4; i++) {
			k = i == 0 ? end - 1 : (size_t)(js[(i * 7) % n] * 131u + i) % end;
			if (root.type != JSON_NUMBER || k <= (size_t)(root.s - js))
				assert(json_valid(js, k) == -1);
		}
	}
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		lookup(js, n, paths[i], valid);
	if (path)
		lookup(js, n, path, valid);
	raw(js, n);
	free(js);
	free(path);
	return 0;
}
