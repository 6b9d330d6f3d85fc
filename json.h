/* See LICENSE file for copyright and license details. */
/* json.h: a small JSON reader (RFC 8259) that finds values by path without
 * building a tree, and a bounded writer that escapes every string. Nothing
 * here does I/O or allocates; values are pointer+length spans into the
 * caller's buffer.
 *
 * Path syntax: segments separated by '.', array elements as "[n]", and
 * keys that contain '.' or '[' as ["key"]. The empty path is the whole
 * document. Any other byte is part of the key, so "/" is fine:
 *	State.Health.Status
 *	NetworkSettings.Ports.8080/tcp[0].HostPort
 *	Config.Labels["prescal.name"]
 * With duplicate keys the first one wins. */

#include <stddef.h>

#include "util.h"

#define JSON_MAXDEPTH 64  /* nesting deeper than this is malformed */

enum json_type {
	JSON_NONE,    /* not found / not parsed */
	JSON_STRING,
	JSON_NUMBER,
	JSON_BOOL,
	JSON_NULL,
	JSON_OBJECT,
	JSON_ARRAY,
	NUM_JSON_TYPE
};

struct json_val {
	enum json_type type;
	const char *s;  /* raw text of the value, quotes included for strings */
	size_t n;
};

/* Returns 0 if js[0..n) is exactly one valid JSON value (whitespace around
 * it allowed), -1 if malformed, truncated or nested too deep. */
int json_valid(const char *js, size_t n);

/* Validates all of js[0..n) and looks up path. Returns 1 with *out set if
 * found, 0 if absent (or the path goes through a value of another type),
 * -1 if the document or the path is malformed. */
int json_get(const char *js, size_t n, const char *path, struct json_val *out);

/* Decodes a string value into out (NUL-terminated UTF-8; \u escapes and
 * surrogate pairs included). Returns the length without the NUL, or -1 if
 * v is not a string, has a lone surrogate or \u0000, or does not fit. */
int json_string(const struct json_val *v, char *out, size_t n);

/* Copies the string at path in js[0..n) into out[0..on). Returns 1, 0 if
 * absent or null (out ""), -1 if not a string or too long. */
int json_get_str(const char *js, size_t n, const char *path, char *out, size_t on);

/* Returns 1 if the string value v equals s (after decoding), else 0. */
int json_streq(const struct json_val *v, const char *s);

/* Reads an integer number (no fraction or exponent) into *out. Returns 0,
 * or -1 if v is not one or it does not fit a long long. */
int json_int(const struct json_val *v, long long *out);

/* Returns 1 for true, 0 for false, -1 if v is not a bool. */
int json_bool(const struct json_val *v);

/* Iterates an array: *pos starts at 0. Returns 1 with the next element in
 * *elem, 0 at the end, -1 if arr is not a valid array. */
int json_array_next(const struct json_val *arr, size_t *pos, struct json_val *elem);

/* Iterates an object like json_array_next; *key is the member name as a
 * string value (decode it with json_string). */
int json_object_next(const struct json_val *obj, size_t *pos, struct json_val *key,
                     struct json_val *val);

/* Returns 1 if s[0..n) is valid UTF-8 (RFC 3629: no overlong forms,
 * surrogates or code points above U+10FFFF), else 0. Pure. */
int json_utf8_valid(const char *s, size_t n);

/* Writer: a bounded builder. Errors are sticky; check json_w_end(). */
struct json_w {
	struct buf b;                    /* over: did not fit, or calls out of order */
	int depth;
	int afterkey;                    /* a key was written; its value comes next */
	char open[JSON_MAXDEPTH];        /* '{' or '[' for each open level */
	unsigned char first[JSON_MAXDEPTH + 1]; /* nothing written at this level yet */
};

/* Starts writing into buf[0..cap). The writer does not own buf. */
void json_w_init(struct json_w *w, char *buf, size_t cap);

/* Opens an object (c '{') or an array (c '['). */
void json_w_open(struct json_w *w, char c);

/* Closes the innermost open object or array. */
void json_w_close(struct json_w *w);

/* Writes an object key; the next call writes its value. */
void json_w_key(struct json_w *w, const char *k);

/* Writes a string value; '"', '\\' and control bytes are escaped, invalid
 * UTF-8 is an error. */
void json_w_str(struct json_w *w, const char *s);

/* Writes an integer value. */
void json_w_int(struct json_w *w, long long v);

/* Writes true or false. */
void json_w_bool(struct json_w *w, int b);

/* Ends the document and NUL-terminates it. Returns its length, or -1 if
 * it did not fit, was not complete or the calls were out of order. */
int json_w_end(struct json_w *w);
