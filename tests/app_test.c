/* See LICENSE file for copyright and license details. */
/*
 * app.c unit tests: host and path patterns, the route table's order (exact
 * host, then wildcards by suffix length, then apps with no host; the longest
 * path prefix within a host), the default app, conflicts, and the
 * references the table holds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "scale.h"
#include "app.h"
#include "util.h"

static struct app A[8];

/* app i named name with hosts "a b" and path p */
static struct app *
mk(int i, const char *name, const char *hosts, const char *path)
{
	struct app *a = &A[i];
	char buf[256], *w, *save;

	memset(a, 0, sizeof(*a));
	snprintf(a->name, sizeof(a->name), "%s", name);
	snprintf(a->c.name, sizeof(a->c.name), "%s", name);
	snprintf(buf, sizeof(buf), "%s", hosts);
	for (w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		snprintf(a->c.host[a->c.nhost], APP_HOSTLEN, "%s", w);
		assert_null(app_check_host(a->c.host[a->c.nhost]));
		a->c.nhost++;
	}
	snprintf(a->c.path, sizeof(a->c.path), "%s", path);
	return a;
}

static const char *
match(const struct routes *rt, const char *host, const char *path)
{
	struct app *a = routes_match(rt, host, host ? strlen(host) : 0, path, strlen(path));

	return a ? a->name : "(none)";
}

static void
test_patterns(void **state)
{
	char h[APP_HOSTLEN];

	(void)state;
	snprintf(h, sizeof(h), "Blog.Example.COM.");
	assert_null(app_check_host(h));
	assert_string_equal(h, "blog.example.com");
	snprintf(h, sizeof(h), "*.Example.com");
	assert_null(app_check_host(h));
	assert_string_equal(h, "*.example.com");
	snprintf(h, sizeof(h), "example.com:8080");
	assert_non_null(app_check_host(h));
	snprintf(h, sizeof(h), "*example.com");
	assert_non_null(app_check_host(h));
	snprintf(h, sizeof(h), "a.*.com");
	assert_non_null(app_check_host(h));
	snprintf(h, sizeof(h), "*.");
	assert_non_null(app_check_host(h));
	assert_null(app_check_path("/api"));
	assert_non_null(app_check_path("api"));
	assert_non_null(app_check_path("/a b"));
	assert_non_null(app_check_path("/a?b"));
}

static void
test_order(void **state)
{
	struct app *list[7];
	struct routes *rt;
	char err[256];

	(void)state;
	list[0] = mk(0, "any", "", "");
	list[1] = mk(1, "wild", "*.example.com", "");
	list[2] = mk(2, "deepwild", "*.eu.example.com", "");
	list[3] = mk(3, "www", "www.example.com example.org", "");
	list[4] = mk(4, "api", "www.example.com", "/api");
	list[5] = mk(5, "apiv2", "www.example.com", "/api/v2/");
	list[6] = mk(6, "anyadmin", "", "/admin");
	assert_non_null(rt = routes_build(list, 7, err, sizeof(err)));
	/* exact host, longest prefix, at a segment boundary */
	assert_string_equal(match(rt, "www.example.com", "/"), "www");
	assert_string_equal(match(rt, "WWW.Example.com:8080", "/api"), "api");
	assert_string_equal(match(rt, "www.example.com.", "/api?x=1"), "api");
	assert_string_equal(match(rt, "www.example.com", "/api/v1"), "api");
	assert_string_equal(match(rt, "www.example.com", "/apix"), "www");
	assert_string_equal(match(rt, "www.example.com", "/api/v2/x"), "apiv2");
	assert_string_equal(match(rt, "www.example.com", "/api/v2"), "api");  /* "/api/v2/" wants the slash */
	assert_string_equal(match(rt, "example.org", "/api"), "www");
	/* an exact host before any wildcard, even one with a longer prefix */
	assert_string_equal(match(rt, "www.example.com", "/admin"), "www");
	/* wildcards: the longer suffix first; never the bare domain */
	assert_string_equal(match(rt, "a.example.com", "/"), "wild");
	assert_string_equal(match(rt, "a.b.example.com", "/"), "wild");
	assert_string_equal(match(rt, "x.eu.example.com", "/"), "deepwild");
	assert_string_equal(match(rt, "example.com", "/"), "any");
	/* no host matches: the apps with no host, longest prefix first */
	assert_string_equal(match(rt, "other.net", "/admin/x"), "anyadmin");
	assert_string_equal(match(rt, "other.net", "/"), "any");
	assert_string_equal(match(rt, NULL, "/"), "any");
	assert_string_equal(match(rt, "[::1]:80", "/admin"), "anyadmin");
	/* references: one per route */
	assert_int_equal(atomic_load(&A[3].refs), 2);
	assert_int_equal(atomic_load(&A[0].refs), 1);
	routes_free(rt);
	for (int i = 0; i < 7; i++)
		assert_int_equal(atomic_load(&A[i].refs), 0);
}

static void
test_no_match_default(void **state)
{
	struct app *list[3];
	struct routes *rt;
	char err[256];

	(void)state;
	list[0] = mk(0, "blog", "blog.example.com", "");
	list[1] = mk(1, "api", "api.example.com", "/v1");
	assert_non_null(rt = routes_build(list, 2, err, sizeof(err)));
	assert_string_equal(match(rt, "nothing.example.com", "/"), "(none)");
	assert_string_equal(match(rt, "api.example.com", "/v2"), "(none)");
	assert_string_equal(match(rt, NULL, "/"), "(none)");
	routes_free(rt);
	list[2] = mk(2, "default", "default.example.com", "");
	assert_non_null(rt = routes_build(list, 3, err, sizeof(err)));
	assert_string_equal(match(rt, "nothing.example.com", "/"), "default");
	assert_string_equal(match(rt, "api.example.com", "/v2"), "default");
	assert_string_equal(match(rt, "blog.example.com", "/"), "blog");
	routes_free(rt);
}

static void
test_conflict(void **state)
{
	struct app *list[2];
	char err[256] = "";

	(void)state;
	list[0] = mk(0, "one", "a.example.com", "/x");
	list[1] = mk(1, "two", "b.example.com A.example.com", "/x");
	assert_null(routes_build(list, 2, err, sizeof(err)));
	assert_non_null(strstr(err, "one"));
	assert_non_null(strstr(err, "two"));
	assert_non_null(strstr(err, "a.example.com"));
	assert_int_equal(atomic_load(&A[0].refs), 0);
	list[1] = mk(1, "two", "", "/");
	list[0] = mk(0, "one", "", "");
	assert_null(routes_build(list, 2, err, sizeof(err)));  /* "/" is every path too */
}

/* the installed table: app_route takes a reference, app_install swaps */
static void
test_install(void **state)
{
	struct app *list[1];
	struct routes *rt;
	struct app *a;
	char err[256];

	(void)state;
	list[0] = mk(0, "only", "x.example.com", "");
	assert_non_null(rt = routes_build(list, 1, err, sizeof(err)));
	assert_null(app_install(rt));
	a = app_route("x.example.com", 13, "/", 1);
	assert_ptr_equal(a, &A[0]);
	assert_int_equal(atomic_load(&A[0].refs), 2);
	assert_int_equal(app_put(a), 1);
	assert_null(app_route("y.example.com", 13, "/", 1));
	routes_free(app_install(NULL));
	assert_int_equal(atomic_load(&A[0].refs), 0);
	assert_null(app_route("x.example.com", 13, "/", 1));
}

/* a hundred apps: every host finds its own */
static void
test_hundred(void **state)
{
	static struct app many[100];
	struct app *list[100];
	struct routes *rt;
	char err[256], h[64];

	(void)state;
	for (int i = 0; i < 100; i++) {
		snprintf(many[i].name, sizeof(many[i].name), "app%d", i);
		snprintf(many[i].c.host[0], APP_HOSTLEN, "app%d.example.com", i);
		many[i].c.nhost = 1;
		list[i] = &many[i];
	}
	assert_non_null(rt = routes_build(list, 100, err, sizeof(err)));
	for (int i = 0; i < 100; i++) {
		snprintf(h, sizeof(h), "APP%d.example.com", i);
		assert_ptr_equal(routes_match(rt, h, strlen(h), "/", 1), &many[i]);
	}
	assert_null(routes_match(rt, "app100.example.com", 18, "/", 1));
	routes_free(rt);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_patterns),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_no_match_default),
		cmocka_unit_test(test_conflict),
		cmocka_unit_test(test_install),
		cmocka_unit_test(test_hundred),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
