/* See LICENSE file for copyright and license details. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "json.h"
#include "util.h"

/* inputs are copied right before a PROT_NONE page so over-reads crash */
static char *guard;
static size_t pagesz;

static int
setup(void **state)
{
	(void)state;
	pagesz = sysconf(_SC_PAGESIZE);
	guard = mmap(NULL, 4 * pagesz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	             -1, 0);
	if (guard == MAP_FAILED)
		return -1;
	return mprotect(guard + 3 * pagesz, pagesz, PROT_NONE);
}

static int
teardown(void **state)
{
	(void)state;
	munmap(guard, 4 * pagesz);
	return 0;
}

static const char *
guarded(const char *s, size_t n)
{
	char *p = guard + 3 * pagesz - n;

	assert_true(n <= 3 * pagesz);
	memcpy(p, s, n);
	return p;
}

static const char doc[] =
	"{\"Id\":\"abc\",\"State\":{\"Status\":\"running\",\"Running\":true,\"Paused\":false,"
	"\"ExitCode\":-1,\"Health\":{\"Status\":\"healthy\",\"Log\":[]}},"
	"\"NetworkSettings\":{\"Ports\":{\"8080/tcp\":[{\"HostIp\":\"127.0.0.1\","
	"\"HostPort\":\"32775\"}],\"9090/udp\":null}},"
	"\"Config\":{\"Labels\":{\"prescal.name\":\"web\"}},"
	"\"Nested\":[[1,2],[3,[4,{\"x\":\"y\"}]]],"
	"\"Num\":1.5e+3,\"Big\":9223372036854775807,\"Neg\":-9223372036854775808,"
	"\"Over\":9223372036854775808,\"Zero\":0,\"Frac\":0.25,"
	"\"Esc\":\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\",\"E\\u0301\":1,\"Dup\":1,\"Dup\":2}\n";

struct get_case {
	const char *path;
	int ret;                  /* json_get() result */
	enum json_type type;
	const char *raw;          /* expected raw span, or NULL */
	const char *name;
};

static const struct get_case gets[] = {
	{ "", 1, JSON_OBJECT, NULL, "root" },
	{ "Id", 1, JSON_STRING, "\"abc\"", "top-level key" },
	{ "State.Status", 1, JSON_STRING, "\"running\"", "nested key" },
	{ "State.Running", 1, JSON_BOOL, "true", "bool" },
	{ "State.ExitCode", 1, JSON_NUMBER, "-1", "negative number" },
	{ "State.Health.Status", 1, JSON_STRING, "\"healthy\"", "three levels" },
	{ "State.Health.Log", 1, JSON_ARRAY, "[]", "empty array" },
	{ "State.Health.Log[0]", 0, JSON_NONE, NULL, "index past the end" },
	{ "NetworkSettings.Ports.8080/tcp[0].HostPort", 1, JSON_STRING, "\"32775\"", "key with slash" },
	{ "NetworkSettings.Ports[\"8080/tcp\"][0].HostIp", 1, JSON_STRING, "\"127.0.0.1\"", "bracket key" },
	{ "NetworkSettings.Ports.9090/udp", 1, JSON_NULL, "null", "null" },
	{ "NetworkSettings.Ports.9090/udp[0]", 0, JSON_NONE, NULL, "index into null" },
	{ "NetworkSettings.Ports.8081/tcp[0].HostPort", 0, JSON_NONE, NULL, "absent key" },
	{ "Config.Labels[\"prescal.name\"]", 1, JSON_STRING, "\"web\"", "key with dot" },
	{ "Config.Labels.prescal", 0, JSON_NONE, NULL, "dot splits keys" },
	{ "Nested[1][1][1].x", 1, JSON_STRING, "\"y\"", "nested arrays" },
	{ "Nested[0]", 1, JSON_ARRAY, "[1,2]", "array element span" },
	{ "Nested[1][1][0]", 1, JSON_NUMBER, "4", "deep index" },
	{ "Nested.x", 0, JSON_NONE, NULL, "key into array" },
	{ "Id[0]", 0, JSON_NONE, NULL, "index into string" },
	{ "Num", 1, JSON_NUMBER, "1.5e+3", "exponent" },
	{ "Dup", 1, JSON_NUMBER, "1", "first duplicate wins" },
	{ "E\xcc\x81", 1, JSON_NUMBER, "1", "escaped key matches decoded" },
	{ "State..Status", -1, JSON_NONE, NULL, "empty segment" },
	{ "State.", -1, JSON_NONE, NULL, "trailing dot" },
	{ ".State", -1, JSON_NONE, NULL, "leading dot" },
	{ "Nested[x]", -1, JSON_NONE, NULL, "bad index" },
	{ "Nested[1", -1, JSON_NONE, NULL, "unclosed index" },
	{ "Config.Labels[\"prescal.name", -1, JSON_NONE, NULL, "unclosed bracket key" },
	{ "Nested[0]x", -1, JSON_NONE, NULL, "junk after index" },
};

static void
test_get_table(void **state)
{
	struct json_val v;
	const char *js;
	size_t i, n = sizeof(doc) - 1;
	int r;

	(void)state;
	js = guarded(doc, n);
	for (i = 0; i < LEN(gets); i++) {
		memset(&v, 0xaa, sizeof(v));
		r = json_get(js, n, gets[i].path, &v);
		if (r != gets[i].ret)
			fail_msg("%s: %s: got %d want %d", gets[i].name, gets[i].path, r, gets[i].ret);
		if (r != 1)
			continue;
		assert_int_equal(v.type, gets[i].type);
		if (gets[i].raw) {
			if (v.n != strlen(gets[i].raw) || memcmp(v.s, gets[i].raw, v.n))
				fail_msg("%s: raw %.*s", gets[i].name, (int)v.n, v.s);
		}
	}
}

static void
test_scalars(void **state)
{
	struct json_val v;
	long long x;
	char s[64];

	(void)state;
	assert_int_equal(json_get(doc, sizeof(doc) - 1, "Big", &v), 1);
	assert_int_equal(json_int(&v, &x), 0);
	assert_true(x == 9223372036854775807LL);
	assert_int_equal(json_get(doc, sizeof(doc) - 1, "Neg", &v), 1);
	assert_int_equal(json_int(&v, &x), 0);
	assert_true(x == -9223372036854775807LL - 1);
	assert_int_equal(json_get(doc, sizeof(doc) - 1, "Over", &v), 1);
	assert_int_equal(json_int(&v, &x), -1);
	assert_int_equal(json_get(doc, sizeof(doc) - 1, "Zero", &v), 1);
	assert_int_equal(json_int(&v, &x), 0);
	assert_true(x == 0);
	assert_int_equal(json_get(doc, sizeof(doc) - 1, "Frac", &v), 1);
	assert_int_equal(json_int(&v, &x), -1);
	assert_int_equal(json_get(doc, sizeof(doc) - 1, "Num", &v), 1);
	assert_int_equal(json_int(&v, &x), -1);
	assert_int_equal(json_bool(&v), -1);
	assert_int_equal(json_string(&v, s, sizeof(s)), -1);
	assert_int_equal(json_get(doc, sizeof(doc) - 1, "State.Paused", &v), 1);
	assert_int_equal(json_bool(&v), 0);
	assert_int_equal(json_get(doc, sizeof(doc) - 1, "State.Running", &v), 1);
	assert_int_equal(json_bool(&v), 1);
	assert_int_equal(json_int(&v, &x), -1);
	assert_int_equal(json_get(doc, sizeof(doc) - 1, "Esc", &v), 1);
	assert_int_equal(json_string(&v, s, sizeof(s)), 12);
	assert_string_equal(s, "a\"b\\c/d\b\f\n\r\t");
	assert_true(json_streq(&v, "a\"b\\c/d\b\f\n\r\t"));
	assert_false(json_streq(&v, "a\"b"));
	assert_int_equal(json_get(doc, sizeof(doc) - 1, "Id", &v), 1);
	assert_true(json_streq(&v, "abc"));
	assert_false(json_streq(&v, "abcd"));
	assert_false(json_streq(&v, "ab"));
}

struct str_case {
	const char *in;      /* a JSON string token */
	int ret;
	const char *out;
	size_t cap;          /* output buffer size, 0: 64 */
	const char *name;
};

static const struct str_case strs[] = {
	{ "\"\"", 0, "", 0, "empty" },
	{ "\"caf\\u00e9\"", 5, "caf\xc3\xa9", 0, "u00e9 to 2 bytes" },
	{ "\"caf\xc3\xa9\"", 5, "caf\xc3\xa9", 0, "raw UTF-8 passes" },
	{ "\"\\u20AC\"", 3, "\xe2\x82\xac", 0, "euro, upper-case hex" },
	{ "\"\\u007f\\u0080\\u07ff\\u0800\\uffff\"", 1 + 2 + 2 + 3 + 3,
	  "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf", 0, "boundaries" },
	{ "\"\\ud83d\\ude00\"", 4, "\xf0\x9f\x98\x80", 0, "surrogate pair" },
	{ "\"\\udbff\\udfff\"", 4, "\xf4\x8f\xbf\xbf", 0, "U+10FFFF" },
	{ "\"\\ud83d\"", -1, NULL, 0, "lone high surrogate" },
	{ "\"\\ud83dx\"", -1, NULL, 0, "high surrogate then text" },
	{ "\"\\ud83d\\u0041\"", -1, NULL, 0, "high surrogate then BMP" },
	{ "\"\\ude00\"", -1, NULL, 0, "lone low surrogate" },
	{ "\"a\\u0000b\"", -1, NULL, 0, "NUL is refused" },
	{ "\"abcd\"", 4, "abcd", 5, "exact fit" },
	{ "\"abcd\"", -1, NULL, 4, "one short" },
	{ "\"\\u00e9\"", -1, NULL, 2, "multi-byte does not fit" },
	{ "\"\\ud83d\\ude00\"", -1, NULL, 4, "4-byte does not fit" },
	{ "\"\\n\"", 1, "\n", 2, "escape fits" },
	{ "\"\\n\"", -1, NULL, 1, "escape does not fit" },
};

static void
test_string_table(void **state)
{
	struct json_val v, w;
	char out[64];
	size_t i, cap;
	int r;

	(void)state;
	for (i = 0; i < LEN(strs); i++) {
		cap = strs[i].cap ? strs[i].cap : sizeof(out);
		/* through the validator, as a caller gets it */
		assert_int_equal(json_get(strs[i].in, strlen(strs[i].in), "", &v), 1);
		w = v;
		w.s = guarded(v.s, v.n);
		r = json_string(&w, out, cap);
		if (r != strs[i].ret)
			fail_msg("%s: got %d want %d", strs[i].name, r, strs[i].ret);
		if (r >= 0)
			assert_memory_equal(out, strs[i].out, (size_t)r + 1);
	}
}

struct bad_case {
	const char *in;
	const char *name;
};

static const struct bad_case bads[] = {
	{ "", "empty" },
	{ " ", "only space" },
	{ "{", "open object" },
	{ "{\"a\"", "key only" },
	{ "{\"a\":", "no value" },
	{ "{\"a\":1", "no close" },
	{ "{\"a\":1,}", "trailing comma in object" },
	{ "[1,]", "trailing comma in array" },
	{ "[1 2]", "missing comma" },
	{ "{\"a\" 1}", "missing colon" },
	{ "{a:1}", "unquoted key" },
	{ "{1:1}", "number key" },
	{ "{'a':1}", "single quotes" },
	{ "[01]", "leading zero" },
	{ "[-]", "bare minus" },
	{ "[1.]", "no fraction digits" },
	{ "[.5]", "no integer part" },
	{ "[1e]", "no exponent digits" },
	{ "[+1]", "plus sign" },
	{ "[0x10]", "hex" },
	{ "[NaN]", "NaN" },
	{ "[tru]", "short true" },
	{ "[nul]", "short null" },
	{ "[True]", "capital True" },
	{ "\"abc", "unterminated string" },
	{ "\"a\tb\"", "raw tab in string" },
	{ "\"a\nb\"", "raw newline in string" },
	{ "\"\\x\"", "bad escape" },
	{ "\"\\u12\"", "short \\u" },
	{ "\"\\u12g4\"", "bad hex" },
	{ "\"\\", "backslash at end" },
	{ "\"\xc3\"", "truncated UTF-8" },
	{ "\"\xc0\xaf\"", "overlong UTF-8" },
	{ "\"\xed\xa0\x80\"", "encoded surrogate" },
	{ "\"\xf4\x90\x80\x80\"", "above U+10FFFF" },
	{ "\"\xff\"", "0xff byte" },
	{ "\"\x80\"", "lone continuation" },
	{ "{} {}", "two values" },
	{ "{}x", "junk after" },
	{ "[1]]", "extra close" },
	{ "[}", "mismatched close" },
	{ "{\"a\":1]", "mismatched close 2" },
};

static void
test_malformed(void **state)
{
	struct json_val v;
	size_t i, n;

	(void)state;
	for (i = 0; i < LEN(bads); i++) {
		n = strlen(bads[i].in);
		if (json_valid(guarded(bads[i].in, n), n) != -1)
			fail_msg("%s: accepted", bads[i].name);
		if (json_get(guarded(bads[i].in, n), n, "a", &v) != -1)
			fail_msg("%s: get accepted", bads[i].name);
	}
	/* an embedded NUL is just a bad byte */
	assert_int_equal(json_valid("[\"a\0\"]", 6), -1);
	assert_int_equal(json_valid("[1]\0", 4), -1);
}

static const char *goods[] = {
	"{}", "[]", " [ ] ", "0", "-0", "1e5", "-1.25E-3", "\"x\"", "true", "null",
	"{\"a\":{\"b\":[1,{\"c\":null}]}}", "[\"\\u00e9\", \"\xf0\x9f\x98\x80\"]",
	"\t\r\n{ \"a\" : [ 1 , 2 ] }\n",
};

/* every proper prefix of a valid object or array is truncated, so invalid */
static void
test_truncated(void **state)
{
	struct json_val v;
	size_t i, k, n;
	const char *js;

	(void)state;
	for (i = 0; i < LEN(goods); i++) {
		n = strlen(goods[i]);
		assert_int_equal(json_valid(guarded(goods[i], n), n), 0);
	}
	n = sizeof(doc) - 1;
	for (k = 0; k < n - 1; k++) {
		js = guarded(doc, k);
		if (json_valid(js, k) != -1)
			fail_msg("prefix %zu accepted", k);
		/* a value found early must not hide the truncation */
		assert_int_equal(json_get(js, k, "Id", &v), -1);
	}
}

static void
test_depth(void **state)
{
	char buf[300];
	struct json_val v;
	size_t i;

	(void)state;
	for (i = 0; i < JSON_MAXDEPTH; i++) {
		buf[i] = '[';
		buf[2 * JSON_MAXDEPTH - 1 - i] = ']';
	}
	assert_int_equal(json_valid(buf, 2 * JSON_MAXDEPTH), 0);
	for (i = 0; i <= JSON_MAXDEPTH; i++) {
		buf[i] = '[';
		buf[2 * JSON_MAXDEPTH + 1 - i] = ']';
	}
	assert_int_equal(json_valid(buf, 2 * JSON_MAXDEPTH + 2), -1);
	assert_int_equal(json_get(buf, 2 * JSON_MAXDEPTH + 2, "[0]", &v), -1);
	/* deep objects too, and far deeper than the limit does not recurse */
	memset(buf, '[', sizeof(buf));
	assert_int_equal(json_valid(buf, sizeof(buf)), -1);
	for (i = 0; i + 5 <= sizeof(buf); i += 5)
		memcpy(buf + i, "{\"a\":", 5);
	assert_int_equal(json_valid(buf, sizeof(buf)), -1);
}

static void
test_iterate(void **state)
{
	static const char list[] =
		"[{\"Id\":\"a\",\"Names\":[\"/x\"]} ,\n{\"Id\":\"b\"}, 7, [], \"s\"]";
	struct json_val root, e, k, val;
	size_t pos = 0, i = 0;
	char s[16];

	(void)state;
	assert_int_equal(json_get(list, sizeof(list) - 1, "", &root), 1);
	while (json_array_next(&root, &pos, &e) == 1) {
		switch (i++) {
		case 0:
			assert_int_equal(e.type, JSON_OBJECT);
			assert_int_equal(json_get(e.s, e.n, "Names[0]", &val), 1);
			assert_true(json_streq(&val, "/x"));
			break;
		case 1:
			assert_int_equal(json_get(e.s, e.n, "Id", &val), 1);
			assert_true(json_streq(&val, "b"));
			break;
		case 2:
			assert_int_equal(e.type, JSON_NUMBER);
			break;
		case 3:
			assert_int_equal(e.type, JSON_ARRAY);
			break;
		case 4:
			assert_int_equal(e.type, JSON_STRING);
			break;
		}
	}
	assert_int_equal(i, 5);
	assert_int_equal(json_array_next(&root, &pos, &e), 0);

	/* empty array, not an array */
	assert_int_equal(json_get("[ ]", 3, "", &root), 1);
	pos = 0;
	assert_int_equal(json_array_next(&root, &pos, &e), 0);
	assert_int_equal(json_get("{}", 2, "", &root), 1);
	pos = 0;
	assert_int_equal(json_array_next(&root, &pos, &e), -1);

	/* objects */
	assert_int_equal(json_get("{\"a\":1, \"b\" : [2]}", 18, "", &root), 1);
	pos = 0;
	assert_int_equal(json_object_next(&root, &pos, &k, &val), 1);
	assert_int_equal(json_string(&k, s, sizeof(s)), 1);
	assert_string_equal(s, "a");
	assert_int_equal(val.type, JSON_NUMBER);
	assert_int_equal(json_object_next(&root, &pos, &k, &val), 1);
	assert_true(json_streq(&k, "b"));
	assert_int_equal(val.type, JSON_ARRAY);
	assert_int_equal(json_object_next(&root, &pos, &k, &val), 0);

	/* a span that was never validated still fails cleanly */
	root.type = JSON_ARRAY;
	root.s = guarded("[1,", 3);
	root.n = 3;
	pos = 0;
	assert_int_equal(json_array_next(&root, &pos, &e), 1);
	assert_int_equal(json_array_next(&root, &pos, &e), -1);
}

static void
test_writer(void **state)
{
	struct json_w w;
	char buf[256], s[64];
	struct json_val v;
	int n;

	(void)state;
	json_w_init(&w, buf, sizeof(buf));
	json_w_open(&w, '{');
	json_w_key(&w, "Image");
	json_w_str(&w, "img\"x\\y");
	json_w_key(&w, "Env");
	json_w_open(&w, '[');
	json_w_str(&w, "A=\n\x01\x1f\x7f");
	json_w_str(&w, "B=caf\xc3\xa9");
	json_w_close(&w);
	json_w_key(&w, "E");
	json_w_open(&w, '{');
	json_w_close(&w);
	json_w_key(&w, "N");
	json_w_int(&w, -42);
	json_w_key(&w, "T");
	json_w_bool(&w, 1);
	json_w_key(&w, "k\"");
	json_w_bool(&w, 0);
	json_w_close(&w);
	n = json_w_end(&w);
	assert_int_equal(n, (int)strlen(buf));
	assert_string_equal(buf, "{\"Image\":\"img\\\"x\\\\y\",\"Env\":[\"A=\\u000a\\u0001"
	                    "\\u001f\x7f\",\"B=caf\xc3\xa9\"],\"E\":{},\"N\":-42,\"T\":true,"
	                    "\"k\\\"\":false}");
	/* what it writes reads back */
	assert_int_equal(json_get(buf, n, "Env[0]", &v), 1);
	assert_int_equal(json_string(&v, s, sizeof(s)), 6);
	assert_string_equal(s, "A=\n\x01\x1f\x7f");
	assert_int_equal(json_get(buf, n, "Image", &v), 1);
	assert_true(json_streq(&v, "img\"x\\y"));
}

static void
test_writer_errors(void **state)
{
	struct json_w w;
	char buf[16];
	size_t cap;
	int n;

	(void)state;
	/* every size that is too small fails, and the buffer stays terminated */
	for (cap = 1; cap <= 12; cap++) {
		json_w_init(&w, buf, cap);
		json_w_open(&w, '[');
		json_w_str(&w, "abc\"");
		json_w_close(&w);
		n = json_w_end(&w);
		if (cap < 10)
			assert_int_equal(n, -1);
		else
			assert_int_equal(n, 9);
		assert_true(memchr(buf, '\0', cap) != NULL);
	}
	json_w_init(&w, buf, 0);
	assert_int_equal(json_w_end(&w), -1);
	/* misuse */
	json_w_init(&w, buf, sizeof(buf));
	assert_int_equal(json_w_end(&w), -1);        /* nothing written */
	json_w_open(&w, '{');
	json_w_str(&w, "x");                           /* value without key */
	assert_int_equal(json_w_end(&w), -1);
	json_w_init(&w, buf, sizeof(buf));
	json_w_open(&w, '[');
	json_w_key(&w, "x");                           /* key in array */
	assert_int_equal(json_w_end(&w), -1);
	json_w_init(&w, buf, sizeof(buf));
	json_w_open(&w, '[');
	assert_int_equal(json_w_end(&w), -1);        /* not closed */
	json_w_init(&w, buf, sizeof(buf));
	json_w_open(&w, '{');
	json_w_key(&w, "x");
	json_w_close(&w);                              /* key without value */
	assert_int_equal(json_w_end(&w), -1);
	json_w_init(&w, buf, sizeof(buf));
	json_w_int(&w, 1);
	json_w_int(&w, 2);                             /* two roots */
	assert_int_equal(json_w_end(&w), -1);
	json_w_init(&w, buf, sizeof(buf));
	json_w_close(&w);
	assert_int_equal(json_w_end(&w), -1);
	json_w_init(&w, buf, sizeof(buf));
	json_w_str(&w, "bad \xff utf8");
	assert_int_equal(json_w_end(&w), -1);
	json_w_init(&w, buf, sizeof(buf));
	json_w_str(&w, "\xe2\x82");                    /* truncated sequence */
	assert_int_equal(json_w_end(&w), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_table),
		cmocka_unit_test(test_scalars),
		cmocka_unit_test(test_string_table),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_iterate),
		cmocka_unit_test(test_writer),
		cmocka_unit_test(test_writer_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
