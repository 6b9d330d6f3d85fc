/* See LICENSE file for copyright and license details. */
#include <stdio.h>
#include <string.h>

#include "json.h"

struct scan {
	const char *p, *end;
};

/* one parsed path segment: a key, or an index when key is NULL */
struct seg {
	const char *key;
	size_t klen;
	size_t idx;
};

static int value(struct scan *sc, int depth, const char *path, struct json_val *out,
                 int *found);

static void
skipws(struct scan *sc)
{
	while (sc->p < sc->end && (*sc->p == ' ' || *sc->p == '\t' || *sc->p == '\n' ||
	       *sc->p == '\r'))
		sc->p++;
}

/* length of the UTF-8 sequence at p (RFC 3629 table), or -1 */
static int
utf8len(const unsigned char *p, const unsigned char *end)
{
	unsigned char lo = 0x80, hi = 0xbf;
	int n, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return -1;
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;       /* no encoded surrogates */
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;       /* nothing above U+10FFFF */
	if (end - p < n || p[1] < lo || p[1] > hi)
		return -1;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return -1;
	return n;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* 4 hex digits at p, or -1 */
static long
hex4(const char *p)
{
	long v = 0;
	int i, h;

	for (i = 0; i < 4; i++) {
		if ((h = hexval((unsigned char)p[i])) < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

static int
string(struct scan *sc)
{
	const unsigned char *p = (const unsigned char *)sc->p + 1;
	const unsigned char *end = (const unsigned char *)sc->end;
	int n;

	while (p < end) {
		if (*p == '"') {
			sc->p = (const char *)p + 1;
			return 0;
		}
		if (*p < 0x20)
			return -1;
		if (*p == '\\') {
			if (end - p < 2)
				return -1;
			if (p[1] == 'u') {
				if (end - p < 6 || hex4((const char *)p + 2) < 0)
					return -1;
				p += 6;
			} else if (p[1] && strchr("\"\\/bfnrt", p[1])) {
				p += 2;
			} else {
				return -1;
			}
			continue;
		}
		if ((n = utf8len(p, end)) < 0)
			return -1;
		p += n;
	}
	return -1;
}

int
json_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	int k;

	while (p < end) {
		if ((k = utf8len(p, end)) < 0)
			return 0;
		p += k;
	}
	return 1;
}

static int
digits(struct scan *sc)
{
	const char *s = sc->p;

	while (sc->p < sc->end && *sc->p >= '0' && *sc->p <= '9')
		sc->p++;
	return sc->p > s ? 0 : -1;
}

static int
number(struct scan *sc)
{
	if (sc->p < sc->end && *sc->p == '-')
		sc->p++;
	if (sc->p < sc->end && *sc->p == '0')
		sc->p++;
	else if (digits(sc) < 0)
		return -1;
	if (sc->p < sc->end && *sc->p == '.') {
		sc->p++;
		if (digits(sc) < 0)
			return -1;
	}
	if (sc->p < sc->end && (*sc->p == 'e' || *sc->p == 'E')) {
		sc->p++;
		if (sc->p < sc->end && (*sc->p == '+' || *sc->p == '-'))
			sc->p++;
		if (digits(sc) < 0)
			return -1;
	}
	return 0;
}

static int
literal(struct scan *sc, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(sc->end - sc->p) < n || memcmp(sc->p, lit, n) != 0)
		return -1;
	sc->p += n;
	return 0;
}

/* parses the first segment of path; *rest is what follows it ("" at the end) */
static int
nextseg(const char *path, struct seg *sg, const char **rest)
{
	const char *p = path, *q;

	sg->key = NULL;
	sg->klen = sg->idx = 0;
	if (p[0] == '[' && p[1] == '"') {
		p += 2;
		if (!(q = strstr(p, "\"]")))
			return -1;
		sg->key = p;
		sg->klen = q - p;
		p = q + 2;
	} else if (p[0] == '[') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			if (sg->idx > 100000000)
				return -1;
			sg->idx = sg->idx * 10 + (*p - '0');
		}
		if (p == path + 1 || *p != ']')
			return -1;
		p++;
	} else {
		sg->key = p;
		while (*p && *p != '.' && *p != '[')
			p++;
		sg->klen = p - path;
		if (sg->klen == 0)
			return -1;
	}
	if (*p == '.') {
		p++;
		if (!*p || *p == '.' || *p == '[')
			return -1;
	} else if (*p && *p != '[') {
		return -1;
	}
	*rest = p;
	return 0;
}

/* compares the raw string token raw (with quotes) with k[0..kn) */
static int
keyeq(const char *raw, size_t rawn, const char *k, size_t kn)
{
	struct json_val v = { JSON_STRING, raw, rawn };
	char buf[256];
	int n;

	if (!memchr(raw, '\\', rawn))
		return rawn == kn + 2 && memcmp(raw + 1, k, kn) == 0;
	n = json_string(&v, buf, sizeof(buf));
	return n >= 0 && (size_t)n == kn && memcmp(buf, k, kn) == 0;
}

static int
object(struct scan *sc, int depth, const char *path, struct json_val *out, int *found)
{
	struct seg sg;
	const char *rest = NULL, *key, *sub;
	int want = 0;

	if (path && *path) {
		if (nextseg(path, &sg, &rest) < 0)
			return -1;
		want = sg.key != NULL;
	}
	sc->p++;
	skipws(sc);
	if (sc->p < sc->end && *sc->p == '}') {
		sc->p++;
		return 0;
	}
	for (;;) {
		skipws(sc);
		if (sc->p >= sc->end || *sc->p != '"')
			return -1;
		key = sc->p;
		if (string(sc) < 0)
			return -1;
		sub = NULL;
		if (want && !*found && keyeq(key, sc->p - key, sg.key, sg.klen))
			sub = rest;
		skipws(sc);
		if (sc->p >= sc->end || *sc->p != ':')
			return -1;
		sc->p++;
		if (value(sc, depth, sub, out, found) < 0)
			return -1;
		skipws(sc);
		if (sc->p >= sc->end)
			return -1;
		if (*sc->p == '}') {
			sc->p++;
			return 0;
		}
		if (*sc->p++ != ',')
			return -1;
	}
}

static int
array(struct scan *sc, int depth, const char *path, struct json_val *out, int *found)
{
	struct seg sg;
	const char *rest = NULL;
	size_t i;
	int want = 0;

	if (path && *path) {
		if (nextseg(path, &sg, &rest) < 0)
			return -1;
		want = sg.key == NULL;
	}
	sc->p++;
	skipws(sc);
	if (sc->p < sc->end && *sc->p == ']') {
		sc->p++;
		return 0;
	}
	for (i = 0;; i++) {
		if (value(sc, depth, want && i == sg.idx ? rest : NULL, out, found) < 0)
			return -1;
		skipws(sc);
		if (sc->p >= sc->end)
			return -1;
		if (*sc->p == ']') {
			sc->p++;
			return 0;
		}
		if (*sc->p++ != ',')
			return -1;
	}
}

/* parses one value at sc->p (after whitespace); depth counts the
 * enclosing containers. Where path is "" this value is the one wanted. */
static int
value(struct scan *sc, int depth, const char *path, struct json_val *out, int *found)
{
	const char *start;
	enum json_type t;
	int r;

	skipws(sc);
	if (sc->p >= sc->end)
		return -1;
	start = sc->p;
	switch (*sc->p) {
	case '{':
	case '[':
		if (depth >= JSON_MAXDEPTH)
			return -1;
		t = *sc->p == '{' ? JSON_OBJECT : JSON_ARRAY;
		if (t == JSON_OBJECT)
			r = object(sc, depth + 1, path, out, found);
		else
			r = array(sc, depth + 1, path, out, found);
		break;
	case '"':
		t = JSON_STRING;
		r = string(sc);
		break;
	case 't':
		t = JSON_BOOL;
		r = literal(sc, "true");
		break;
	case 'f':
		t = JSON_BOOL;
		r = literal(sc, "false");
		break;
	case 'n':
		t = JSON_NULL;
		r = literal(sc, "null");
		break;
	default:
		t = JSON_NUMBER;
		r = number(sc);
		break;
	}
	if (r < 0)
		return -1;
	if (path && !*path && !*found) {
		out->type = t;
		out->s = start;
		out->n = sc->p - start;
		*found = 1;
	}
	return 0;
}

static int
document(const char *js, size_t n, const char *path, struct json_val *out, int *found)
{
	struct scan sc = { js, js + n };

	if (value(&sc, 0, path, out, found) < 0)
		return -1;
	skipws(&sc);
	return sc.p == sc.end ? 0 : -1;
}

int
json_valid(const char *js, size_t n)
{
	struct json_val v;
	int found = 0;

	return document(js, n, NULL, &v, &found);
}

int
json_get(const char *js, size_t n, const char *path, struct json_val *out)
{
	struct json_val v = { JSON_NONE, NULL, 0 };
	struct seg sg;
	const char *p;
	int found = 0;

	/* a malformed path is an error even where the document ends early */
	for (p = path; *p; )
		if (nextseg(p, &sg, &p) < 0)
			return -1;
	if (document(js, n, path, &v, &found) < 0)
		return -1;
	*out = v;
	return found;
}

/* appends the code point c as UTF-8 to out; *len is updated */
static int
put8(char *out, size_t n, size_t *len, unsigned long c)
{
	unsigned char b[4];
	size_t k;

	if (c < 0x80) {
		b[0] = c;
		k = 1;
	} else if (c < 0x800) {
		b[0] = 0xc0 | (c >> 6);
		b[1] = 0x80 | (c & 0x3f);
		k = 2;
	} else if (c < 0x10000) {
		b[0] = 0xe0 | (c >> 12);
		b[1] = 0x80 | ((c >> 6) & 0x3f);
		b[2] = 0x80 | (c & 0x3f);
		k = 3;
	} else {
		b[0] = 0xf0 | (c >> 18);
		b[1] = 0x80 | ((c >> 12) & 0x3f);
		b[2] = 0x80 | ((c >> 6) & 0x3f);
		b[3] = 0x80 | (c & 0x3f);
		k = 4;
	}
	if (*len + k >= n)
		return -1;
	memcpy(out + *len, b, k);
	*len += k;
	return 0;
}

/* decodes the \u escape(s) at *pp (pointing at the backslash) */
static long
uesc(const char **pp, const char *end)
{
	const char *p = *pp;
	long c, lo;

	if (end - p < 6 || (c = hex4(p + 2)) < 0)
		return -1;
	p += 6;
	if (c >= 0xdc00 && c <= 0xdfff)
		return -1;  /* lone low surrogate */
	if (c >= 0xd800 && c <= 0xdbff) {
		if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
		    (lo = hex4(p + 2)) < 0xdc00 || lo > 0xdfff)
			return -1;
		c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
		p += 6;
	}
	*pp = p;
	return c;
}

int
json_string(const struct json_val *v, char *out, size_t n)
{
	const char *p, *end;
	const char *esc = "\"\"\\\\//b\bf\fn\nr\rt\t", *e;
	size_t len = 0;
	long c;

	if (v->type != JSON_STRING || v->n < 2 || n == 0)
		return -1;
	p = v->s + 1;
	end = v->s + v->n - 1;
	while (p < end) {
		if (*p != '\\') {
			if (len + 1 >= n)
				return -1;
			out[len++] = *p++;
			continue;
		}
		if (end - p < 2)
			return -1;
		if (p[1] == 'u') {
			if ((c = uesc(&p, end)) <= 0 || put8(out, n, &len, c) < 0)
				return -1;
			continue;
		}
		for (e = esc; *e && *e != p[1]; e += 2)
			;
		if (!*e || len + 1 >= n)
			return -1;
		out[len++] = e[1];
		p += 2;
	}
	out[len] = '\0';
	return (int)len;
}

int
json_streq(const struct json_val *v, const char *s)
{
	if (v->type != JSON_STRING)
		return 0;
	return keyeq(v->s, v->n, s, strlen(s));
}

int
json_int(const struct json_val *v, long long *out)
{
	const char *p = v->s, *end = v->s + v->n;
	unsigned long long u = 0, lim = 9223372036854775807ULL;
	int neg = 0;

	if (v->type != JSON_NUMBER || v->n == 0)
		return -1;
	if (*p == '-') {
		neg = 1;
		lim++;
		p++;
	}
	if (p == end)
		return -1;
	for (; p < end; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		if (u > (lim - (*p - '0')) / 10)
			return -1;
		u = u * 10 + (*p - '0');
	}
	*out = neg ? (long long)(0 - u) : (long long)u;
	return 0;
}

int
json_bool(const struct json_val *v)
{
	if (v->type != JSON_BOOL)
		return -1;
	return v->s[0] == 't';
}

/* shared step of the two iterators: positions sc at the next member */
static int
iterstep(const struct json_val *c, size_t *pos, char open, char close, struct scan *sc)
{
	sc->p = c->s + *pos;
	sc->end = c->s + c->n;
	if (*pos == 0) {
		if (c->n == 0 || *sc->p != open)
			return -1;
		sc->p++;
		skipws(sc);
		if (sc->p < sc->end && *sc->p == close)
			return 0;
		return 1;
	}
	skipws(sc);
	if (sc->p >= sc->end)
		return -1;
	if (*sc->p == close)
		return 0;
	if (*sc->p++ != ',')
		return -1;
	skipws(sc);
	return 1;
}

int
json_array_next(const struct json_val *arr, size_t *pos, struct json_val *elem)
{
	struct scan sc;
	int r, found = 0;

	if (arr->type != JSON_ARRAY)
		return -1;
	if ((r = iterstep(arr, pos, '[', ']', &sc)) <= 0)
		return r;
	if (value(&sc, 1, "", elem, &found) < 0)
		return -1;
	*pos = sc.p - arr->s;
	return 1;
}

int
json_object_next(const struct json_val *obj, size_t *pos, struct json_val *key,
                 struct json_val *val)
{
	struct scan sc;
	int r, found = 0;

	if (obj->type != JSON_OBJECT)
		return -1;
	if ((r = iterstep(obj, pos, '{', '}', &sc)) <= 0)
		return r;
	if (sc.p >= sc.end || *sc.p != '"')
		return -1;
	key->type = JSON_STRING;
	key->s = sc.p;
	if (string(&sc) < 0)
		return -1;
	key->n = sc.p - key->s;
	skipws(&sc);
	if (sc.p >= sc.end || *sc.p++ != ':')
		return -1;
	if (value(&sc, 1, "", val, &found) < 0)
		return -1;
	*pos = sc.p - obj->s;
	return 1;
}

/* writer: b.cap leaves room for the NUL that json_w_end() adds; b.over is
 * also set for calls out of order */

/* checks the place of a value and writes the comma before it */
static int
beginval(struct json_w *w)
{
	if (w->b.over)
		return -1;
	if (w->depth == 0) {
		if (!w->first[0])
			w->b.over = 1;  /* a second top-level value */
		w->first[0] = 0;
		return w->b.over ? -1 : 0;
	}
	if (w->open[w->depth - 1] == '{') {
		if (!w->afterkey)
			w->b.over = 1;
		w->afterkey = 0;
		return w->b.over ? -1 : 0;
	}
	if (!w->first[w->depth])
		buf_addn(&w->b, ",", 1);
	w->first[w->depth] = 0;
	return w->b.over ? -1 : 0;
}

static void
putstr(struct json_w *w, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *end = p + strlen(s);
	char hex[8];
	int n;

	buf_addn(&w->b, "\"", 1);
	while (p < end && !w->b.over) {
		if (*p == '"' || *p == '\\') {
			hex[0] = '\\';
			hex[1] = *p;
			buf_addn(&w->b, hex, 2);
			n = 1;
		} else if (*p < 0x20) {
			snprintf(hex, sizeof(hex), "\\u%04x", *p);
			buf_addn(&w->b, hex, 6);
			n = 1;
		} else if ((n = utf8len(p, end)) < 0) {
			w->b.over = 1;
			return;
		} else {
			buf_addn(&w->b, (const char *)p, n);
		}
		p += n;
	}
	buf_addn(&w->b, "\"", 1);
}

void
json_w_init(struct json_w *w, char *buf, size_t cap)
{
	memset(w, 0, sizeof(*w));
	w->first[0] = 1;
	if (cap) {
		w->b = (struct buf){ buf, 0, cap - 1, 0 };
		buf[0] = '\0';
	} else {
		w->b.over = 1;
	}
}

void
json_w_open(struct json_w *w, char c)
{
	if (beginval(w) < 0)
		return;
	if ((c != '{' && c != '[') || w->depth >= JSON_MAXDEPTH) {
		w->b.over = 1;
		return;
	}
	buf_addn(&w->b, &c, 1);
	w->open[w->depth++] = c;
	w->first[w->depth] = 1;
}

void
json_w_close(struct json_w *w)
{
	if (w->depth == 0 || w->afterkey) {
		w->b.over = 1;
		return;
	}
	w->depth--;
	buf_addn(&w->b, w->open[w->depth] == '{' ? "}" : "]", 1);
}

void
json_w_key(struct json_w *w, const char *k)
{
	if (w->depth == 0 || w->open[w->depth - 1] != '{' || w->afterkey) {
		w->b.over = 1;
		return;
	}
	if (!w->first[w->depth])
		buf_addn(&w->b, ",", 1);
	w->first[w->depth] = 0;
	putstr(w, k);
	buf_addn(&w->b, ":", 1);
	w->afterkey = 1;
}

void
json_w_str(struct json_w *w, const char *s)
{
	if (beginval(w) == 0)
		putstr(w, s);
}

void
json_w_int(struct json_w *w, long long v)
{
	char num[32];

	if (beginval(w) == 0)
		buf_addn(&w->b, num, snprintf(num, sizeof(num), "%lld", v));
}

void
json_w_bool(struct json_w *w, int b)
{
	if (beginval(w) == 0)
		buf_addn(&w->b, b ? "true" : "false", b ? 4 : 5);
}

int
json_w_end(struct json_w *w)
{
	if (w->b.p)
		w->b.p[w->b.len] = '\0';
	if (w->b.over || w->depth || w->afterkey || w->first[0] || w->b.len > 0x7fffffff)
		return -1;
	return (int)w->b.len;
}

int
json_get_str(const char *js, size_t n, const char *path, char *out, size_t on)
{
	struct json_val v;
	int r;

	out[0] = '\0';
	if ((r = json_get(js, n, path, &v)) != 1)
		return r;
	if (v.type == JSON_NULL)
		return 0;
	return json_string(&v, out, on) < 0 ? -1 : 1;
}
