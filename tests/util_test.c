/* See LICENSE file for copyright and license details. */
/* util.c unit tests: the bounded writer (exact fit, sticky overflow,
 * nothing written past cap) and the name validator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "util.h"

static void
test_buf_fit(void **state)
{
	char mem[16];
	struct buf b = { mem, 0, 8, 0 };

	(void)state;
	memset(mem, '#', sizeof(mem));
	buf_add(&b, "abc");
	buf_addn(&b, "defXX", 3);
	buf_addn(&b, "gh", 2);             /* exactly cap */
	assert_false(b.over);
	assert_int_equal(b.len, 8);
	assert_memory_equal(mem, "abcdefgh", 8);
	buf_addn(&b, "", 0);               /* nothing always fits */
	assert_false(b.over);
	buf_add(&b, "i");
	assert_true(b.over);
	assert_int_equal(b.len, 8);
	assert_memory_equal(mem + 8, "########", 8);
}

static void
test_buf_sticky(void **state)
{
	char mem[16];
	struct buf b = { mem, 0, 8, 0 };

	(void)state;
	memset(mem, '#', sizeof(mem));
	buf_add(&b, "123456789");         /* does not fit: dropped whole */
	assert_true(b.over);
	assert_int_equal(b.len, 0);
	buf_add(&b, "x");                 /* fits, but after an overflow */
	buf_printf(&b, "%d", 7);
	assert_int_equal(b.len, 0);
	assert_memory_equal(mem, "################", 16);
}

static void
test_buf_printf(void **state)
{
	char mem[16];
	struct buf b = { mem, 0, 8, 0 };

	(void)state;
	memset(mem, '#', sizeof(mem));
	buf_printf(&b, "%s=%d", "ab", 12);
	assert_false(b.over);
	assert_int_equal(b.len, 5);
	assert_memory_equal(mem, "ab=12", 5);
	buf_printf(&b, "%d", 123);        /* 3 bytes and a NUL do not fit in 3 */
	assert_true(b.over);
	assert_int_equal(b.len, 5);
	assert_memory_equal(mem + 8, "########", 8);
	b = (struct buf){ mem, 0, 8, 0 };
	buf_printf(&b, "%s", "1234567"); /* 7 bytes and a NUL fit in 8 */
	assert_false(b.over);
	assert_int_equal(b.len, 7);
	assert_string_equal(mem, "1234567");
}

static void
test_name_valid(void **state)
{
	static const struct {
		const char *s;
		size_t max;
		int want;
	} t[] = {
		{ "web", 48, 1 },
		{ "a", 1, 1 },
		{ "prescal-127.0.0.1-8080", 48, 1 },
		{ "A_b.c-9", 48, 1 },
		{ "0abc", 48, 1 },
		{ "abcd", 4, 1 },
		{ "abcde", 4, 0 },
		{ "", 48, 0 },
		{ "-web", 48, 0 },
		{ "_web", 48, 0 },
		{ ".web", 48, 0 },
		{ "we b", 48, 0 },
		{ "we/b", 48, 0 },
		{ "web:1", 48, 0 },
		{ "caf\xc3\xa9", 48, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < LEN(t); i++)
		if (name_valid(t[i].s, t[i].max) != t[i].want)
			fail_msg("name_valid(\"%s\", %zu) != %d", t[i].s, t[i].max, t[i].want);
	assert_false(name_valid(NULL, 48));
	assert_true(name_valid_char('-'));
	assert_false(name_valid_char('\0'));
	assert_false(name_valid_char(':'));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_fit),
		cmocka_unit_test(test_buf_sticky),
		cmocka_unit_test(test_buf_printf),
		cmocka_unit_test(test_name_valid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
