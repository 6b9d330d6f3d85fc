/* See LICENSE file for copyright and license details. */
/*
 * conf.c unit tests: config.h's apps[] table (which config_test cannot
 * reach: it is compiled in), app blocks over it, the flags over both, and
 * a failed load leaving nothing allocated.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "docker.h"
#include "scale.h"
#include "app.h"
#include "conf.h"
#include "util.h"

static struct settings D;   /* the "config.h" defaults */

static const struct conf_rule rules[] = {
	/* name    hosts                           path   backends                       image   port min max target */
	{ "blog", "blog.example.com www.example.com", NULL, "127.0.0.1:9000 127.0.0.1:9001", NULL, 0, 0, 0, 0 },
	{ "api",  "api.example.com", "/v1", NULL, "api:latest", 8080, 1, 6, 20 },
	{ NULL },
};

static void
defaults(void)
{
	memset(&D, 0, sizeof(D));
	snprintf(D.listen, sizeof(D.listen), "0.0.0.0:8080");
	D.max_active = 4096;
	D.drain_timeout = 30000;
	D.def = (struct app_conf){ .balance = "least", .hold_timeout = 30000, .hold_max = 1000,
		.max_fails = 3, .down_backoff = 1000, .idle_per_backend = 64, .backend_idle = 30000,
		.sc = { .port = 80, .min = 0, .max = 4, .target = 10, .metric = "concurrency",
		        .target_rps = 100, .start_timeout = 30000, .ready_path = "/",
		        .pull = "missing", .sample_ms = 100, .max_paused = 4 } };
}

static FILE *
errs(char **buf, size_t *n)
{
	FILE *f = open_memstream(buf, n);

	assert_non_null(f);
	return f;
}

static void
test_rules(void **state)
{
	struct conf_flags fl = { 0 };
	struct settings s;
	char *buf = NULL;
	size_t n;
	FILE *e = errs(&buf, &n);

	(void)state;
	assert_int_equal(conf_load(&s, &D, rules, &fl, 128, 4096, 512, e), 0);
	fclose(e);
	free(buf);
	assert_int_equal(s.napp, 2);
	assert_int_equal(s.blocks, 1);
	assert_string_equal(s.app[0].name, "blog");
	assert_int_equal(s.app[0].nhost, 2);
	assert_int_equal(s.app[0].nbackend, 2);
	assert_string_equal(s.app[0].backend[1], "127.0.0.1:9001");
	assert_string_equal(s.app[1].sc.image, "api:latest");
	assert_string_equal(s.app[1].sc.name, "api");
	assert_string_equal(s.app[1].path, "/v1");
	assert_int_equal(s.app[1].sc.port, 8080);
	assert_int_equal(s.app[1].sc.min, 1);
	assert_int_equal(s.app[1].sc.max, 6);
	assert_int_equal(s.app[1].sc.target, 20);
	assert_int_equal(s.app[1].sc.drain_timeout, 30000);  /* the global key reaches it */
	/* threads: 2 x 512 for blog, 6 x 20 for api, +25% */
	assert_int_equal(s.threads, (2 * 512 + 120) * 5 / 4);
	conf_free(&s);
}

/* a file with app blocks replaces the table; flags -p -m -M -c reach every app */
static void
test_file_over_rules(void **state)
{
	char path[64], *buf = NULL;
	struct conf_flags fl = { 0 };
	struct settings s;
	size_t n;
	FILE *f, *e;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/prescal-conf-test-%d", (int)getpid());
	assert_non_null(f = fopen(path, "w"));
	fputs("drain_timeout 1500\nmax 3\n\napp only\n\thost only.example.com\n\timage x\n", f);
	fclose(f);
	fl.file = path;
	assert_int_equal(conf_flag(&fl, 'm', "1", stderr), 0);
	e = errs(&buf, &n);
	assert_int_equal(conf_load(&s, &D, rules, &fl, 128, 4096, 512, e), 0);
	fclose(e);
	free(buf);
	unlink(path);
	assert_int_equal(s.napp, 1);
	assert_string_equal(s.app[0].name, "only");
	assert_int_equal(s.app[0].sc.max, 3);   /* the file's default */
	assert_int_equal(s.app[0].sc.min, 1);   /* the flag */
	assert_int_equal(s.app[0].sc.drain_timeout, 1500);
	conf_free(&s);
}

/* no table, no blocks: the flags make the one app, named after -l */
static void
test_one_app(void **state)
{
	struct conf_flags fl = { 0 };
	struct settings s;
	char *buf = NULL;
	size_t n;
	FILE *e;

	(void)state;
	assert_int_equal(conf_flag(&fl, 'l', "127.0.0.1:9090", stderr), 0);
	assert_int_equal(conf_flag(&fl, 'b', "127.0.0.1:1", stderr), 0);
	assert_int_equal(conf_flag(&fl, 'b', "127.0.0.1:2", stderr), 0);
	e = errs(&buf, &n);
	assert_int_equal(conf_load(&s, &D, NULL, &fl, 128, 4096, 512, e), 0);
	fclose(e);
	free(buf);
	assert_int_equal(s.napp, 1);
	assert_int_equal(s.blocks, 0);
	assert_string_equal(s.app[0].name, "prescal-127.0.0.1-9090");
	assert_int_equal(s.app[0].nhost, 0);
	assert_int_equal(s.app[0].nbackend, 2);
	conf_free(&s);
}

/* errors: a message, -1, nothing left allocated; -i with the table */
static void
test_errors(void **state)
{
	struct conf_flags fl = { 0 };
	struct settings s;
	char *buf = NULL;
	size_t n;
	FILE *e;

	(void)state;
	assert_int_equal(conf_flag(&fl, 'i', "img", stderr), 0);
	e = errs(&buf, &n);
	assert_int_equal(conf_load(&s, &D, rules, &fl, 128, 4096, 512, e), -1);
	fclose(e);
	assert_non_null(strstr(buf, "-i defines the one app"));
	assert_null(s.app);
	assert_int_equal(s.napp, 0);
	free(buf);
	e = errs(&buf, &n);
	assert_int_equal(conf_flag(&fl, 'x', "1", e), -1);
	assert_int_equal(conf_flag(&fl, 'p', "0", e), -1);
	fclose(e);
	assert_non_null(strstr(buf, "unknown flag -x"));
	assert_non_null(strstr(buf, "-p '0'"));
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_file_over_rules),
		cmocka_unit_test(test_one_app),
		cmocka_unit_test(test_errors),
	};

	defaults();
	conf_init(4096);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
