/* See LICENSE file for copyright and license details. */
/*
 * config_test: the configuration file and the flags, as a user meets them:
 * a table of {file, flags, exit status, prescal's message, a line that
 * must be in the -T output}. stdout and stderr come back as one text: on
 * an error the message must be its first line, exactly; on success (the
 * settings first, then "configuration ok") a whole line of it. Runs
 * ./prescal (or $PRESCAL_BIN) with -T, so nothing listens.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/tclient.h"
#include "util.h"

struct row {
	const char *name;
	const char *file;       /* config file text, NULL: no -f */
	const char *flags[8];   /* extra flags, NULL-terminated */
	int status;             /* exit status */
	const char *err;        /* the message line, "%F" = the file's path */
	const char *out;        /* a whole line of the -T output, or NULL */
};

static const struct row rows[] = {
	{ "defaults", "", { "-b", "127.0.0.1:9", NULL }, 0,
	  "prescal: configuration ok", "listen             0.0.0.0:8080" },
	{ "file sets a key", "# a comment\n\nthreads 4   # trailing comment\n",
	  { "-b", "127.0.0.1:9", NULL }, 0, "prescal: configuration ok",
	  "threads            4" },
	{ "flag beats file", "threads 4\n", { "-t", "8", "-b", "127.0.0.1:9", NULL }, 0,
	  "prescal: configuration ok", "threads            8" },
	{ "file beats config.h", "header_timeout 1234\n", { "-b", "127.0.0.1:9", NULL }, 0,
	  "prescal: configuration ok", "header_timeout     1234" },
	{ "file backends", "backend 127.0.0.1:81\nbackend 127.0.0.1:82\n", { NULL }, 0,
	  "prescal: configuration ok", "backend            127.0.0.1:82" },
	{ "flag backends replace the file's", "backend 127.0.0.1:81\n",
	  { "-b", "127.0.0.1:83", NULL }, 0, "prescal: configuration ok",
	  "backend            127.0.0.1:83" },
	{ "choice", "balance rr\nmetric rps\npull never\n", { "-b", "127.0.0.1:9", NULL }, 0,
	  "prescal: configuration ok", "balance            rr" },
	{ "unknown key", "threads 4\n\nno_such_key 5\n", { "-b", "127.0.0.1:9", NULL }, 2,
	  "prescal: %F:3: unknown key 'no_such_key'", NULL },
	{ "not a number", "header_timeout soon\n", { "-b", "127.0.0.1:9", NULL }, 2,
	  "prescal: %F:1: header_timeout 'soon': expected a whole number from 100 to 3600000",
	  NULL },
	{ "out of range", "threads 4097\n", { "-b", "127.0.0.1:9", NULL }, 2,
	  "prescal: %F:1: threads '4097': expected a whole number from 0 to 4096", NULL },
	/* issue 13: app blocks */
	{ "app blocks", "listen 127.0.0.1:8080\nmin 0\n\napp blog\n  host Blog.Example.com\n"
	  "  backend 127.0.0.1:81\napp api\n  host api.example.com *.api.example.com\n"
	  "  path /v1\n  image api:1\n  max 7\n", { NULL }, 0,
	  "prescal: configuration ok", "\thost               blog.example.com" },
	{ "app block inherits and overrides", "max 3\ntarget 5\napp a\nhost a.x\nimage i\n"
	  "target 9\napp b\nhost b.x\nimage i\n", { NULL }, 0,
	  "prescal: configuration ok", "\ttarget             9" },
	{ "app flags beat the blocks", "app a\nhost a.x\nimage i\nmax 9\n",
	  { "-M", "2", NULL }, 0, "prescal: configuration ok", "\tmax                2" },
	{ "threads sum over apps", "app a\nhost a.x\nimage i\nmax 20\ntarget 10\n"
	  "app b\nhost b.x\nimage i\nmax 30\ntarget 10\n", { NULL }, 0,
	  "prescal: configuration ok", "threads            625" },
	{ "max_inflight caps an app's threads", "app a\nhost a.x\nbackend 127.0.0.1:9\n"
	  "max_inflight 100\n", { NULL }, 0, "prescal: configuration ok",
	  "threads            128" },
	{ "global key in a block", "app a\nhost a.x\nbackend 127.0.0.1:9\nthreads 4\n",
	  { NULL }, 2, "prescal: %F:4: threads is a global key: put it above the first app block",
	  NULL },
	{ "unknown key in a block", "app a\nhost a.x\nbackend 127.0.0.1:9\nhots b.x\n",
	  { NULL }, 2, "prescal: %F:4: unknown key 'hots'", NULL },
	{ "bad host", "app a\nhost a.x:80\nbackend 127.0.0.1:9\n", { NULL }, 2,
	  "prescal: %F:2: host 'a.x:80': a.x:80: host names have letters, digits, '-', '_' "
	  "and '.' only (no port)", NULL },
	{ "bad path", "app a\nhost a.x\npath api\nbackend 127.0.0.1:9\n", { NULL }, 2,
	  "prescal: %F:3: path 'api': a path prefix starts with '/'", NULL },
	{ "app with nothing", "app a\nhost a.x\n", { NULL }, 2,
	  "prescal: %F:1: app a: nothing to proxy to: give backend host:port or image", NULL },
	{ "two apps, one name", "app a\nhost a.x\nbackend 127.0.0.1:9\napp a\nhost b.x\n"
	  "backend 127.0.0.1:9\n", { NULL }, 2,
	  "prescal: %F:4: app a: a second app of that name", NULL },
	{ "two apps, one route", "app a\nhost a.x\nbackend 127.0.0.1:9\napp b\nhost A.x\n"
	  "backend 127.0.0.1:9\n", { NULL }, 2,
	  "prescal: %F:4: app b: apps a and b both match host a.x path /", NULL },
	{ "bad app name", "app -a\nhost a.x\nimage i\n", { NULL }, 2,
	  "prescal: %F:1: app -a: -n '-a': use up to 48 of [a-zA-Z0-9][a-zA-Z0-9_.-]", NULL },
	{ "-i with app blocks", "app a\nhost a.x\nbackend 127.0.0.1:9\n", { "-i", "x", NULL },
	  2, "prescal: -i defines the one app of a setup without app blocks, but %F defines apps",
	  NULL },
	{ "app scaling check names its app", "app a\nhost a.x\nimage i\nready_path x\n",
	  { NULL }, 2, "prescal: %F:1: app a: ready_path 'x': must start with /", NULL },
	/* issue 19: the worker count follows the configuration */
	{ "threads auto, static", "", { "-b", "127.0.0.1:9", NULL }, 0,
	  "prescal: configuration ok", "threads            640" },
	{ "threads auto, scaling", "", { "-i", "img", "-M", "40", "-c", "10", NULL }, 0,
	  "prescal: configuration ok",
	  "# threads: auto: 400 in flight at the scaling bounds and static backends, +25%, "
	  "within 128..4096" },
	{ "threads auto, capped", "", { "-i", "img", "-M", "1000", "-c", "100", NULL }, 0,
	  "prescal: configuration ok", "threads            4096" },
	{ "threads below need", "threads 16\n", { "-i", "img", "-M", "8", NULL }, 0,
	  "prescal: configuration ok",
	  "# threads: below the 100 that the scaling bounds and static backends need (+25%): "
	  "requests beyond it wait for a worker" },
	{ "no value", "threads\n", { "-b", "127.0.0.1:9", NULL }, 2,
	  "prescal: %F:1: threads needs a value", NULL },
	{ "bad choice", "balance fastest\n", { "-b", "127.0.0.1:9", NULL }, 2,
	  "prescal: %F:1: balance 'fastest': expected least or rr", NULL },
	{ "bad pull", "pull always\n", { "-b", "127.0.0.1:9", NULL }, 2,
	  "prescal: %F:1: pull 'always': expected never or missing", NULL },
	{ "bad metric", "metric load\n", { "-b", "127.0.0.1:9", NULL }, 2,
	  "prescal: %F:1: metric 'load': expected concurrency or rps", NULL },
	{ "line too long", NULL, { NULL }, 2, NULL, NULL },  /* built below */
	{ "bad flag value", NULL, { "-t", "abc", "-b", "127.0.0.1:9", NULL }, 2,
	  "prescal: -t 'abc': expected a whole number from 0 to 4096", NULL },
	{ "unknown flag", NULL, { "-x", NULL }, 2, "prescal: unknown flag -x", NULL },
	{ "flag without value", NULL, { "-b", NULL }, 2, "prescal: flag -b needs a value", NULL },
	{ "nothing to proxy", NULL, { NULL }, 2,
	  "prescal: nothing to proxy to: give -b host:port or -i image", NULL },
	{ "min above max", NULL, { "-i", "img", "-m", "5", "-M", "2", NULL }, 2,
	  "prescal: -m 5 is above -M 2", NULL },
	{ "set name from the listener", NULL, { "-i", "img", "-l", "127.0.0.1:8085", NULL }, 0,
	  "prescal: configuration ok", "name               prescal-127.0.0.1-8085" },
	{ "set name from a wildcard listener", NULL, { "-i", "img", "-l", "8086", NULL }, 0,
	  "prescal: configuration ok", "name               prescal-8086" },
	{ "file set name beats the default", "name web\n", { "-i", "img", NULL }, 0,
	  "prescal: configuration ok", "name               web" },
	{ "bad set name", NULL, { "-i", "img", "-n", "bad name", NULL }, 2,
	  "prescal: -n 'bad name': use up to 48 of [a-zA-Z0-9][a-zA-Z0-9_.-]", NULL },
	/* a configuration error like the others (exit 1 before conf.c checked it) */
	{ "bad backend", NULL, { "-b", "127.0.0.1:99999", NULL }, 2,
	  "prescal: backend 127.0.0.1:99999: expected [host:]port with a port in 1..65535", NULL },
	/* container settings (#13) and network (#14) */
	{ "container settings", "env A=1\ncmd -p 9090  \"a b\" \"q\\\"x\"\nmemory 1g\n"
	  "cpus 0.50\nvolume data:/data:ro\nlabel team=web\nuser 1000:1000\n",
	  { "-i", "img", NULL }, 0, "prescal: configuration ok",
	  "cmd                -p 9090 \"a b\" \"q\\\"x\"" },
	{ "memory in bytes", "memory 512m\n", { "-i", "img", NULL }, 0,
	  "prescal: configuration ok", "memory             536870912" },
	{ "cpus", "cpus 0.50\n", { "-i", "img", NULL }, 0,
	  "prescal: configuration ok", "cpus               0.5" },
	{ "env repeats", "env A=1\nenv B=2\n", { "-i", "img", NULL }, 0,
	  "prescal: configuration ok", "env                B=2" },
	{ "bad memory", "\nmemory lots\n", { "-i", "img", NULL }, 2,
	  "prescal: %F:2: memory 'lots': expected bytes, or a number ending in k, m or g "
	  "(1024s), e.g. 512m", NULL },
	{ "reserved label", "label prescal.managed=false\n", { "-i", "img", NULL }, 2,
	  "prescal: %F:1: label 'prescal.managed=false': label keys prescal.* are "
	  "prescal's own", NULL },
	{ "bad volume", "volume data:relative\n", { "-i", "img", NULL }, 2,
	  "prescal: %F:1: volume 'data:relative': container path must be absolute, not "
	  "\"/\", without ':'", NULL },
	{ "network", "network apps\n", { "-i", "img", NULL }, 0,
	  "prescal: configuration ok", "network            apps" },
	{ "network and host_network", "network apps\nhost_network 1\n", { "-i", "img", NULL }, 2,
	  "prescal: network 'apps' and host_network 1 exclude each other", NULL },
	{ "bad network", "network a/b\n", { "-i", "img", NULL }, 2,
	  "prescal: network 'a/b': expected a network name [a-zA-Z0-9][a-zA-Z0-9_.-]*", NULL },
	/* driver swarm (#14) */
	{ "driver swarm", "driver swarm\nnetwork apps\nenv A=1\nmemory 64m\n", { "-i", "img", NULL },
	  0, "prescal: configuration ok", "driver             swarm" },
	{ "driver default", "", { "-i", "img", NULL }, 0, "prescal: configuration ok",
	  "driver             container" },
	{ "driver unknown", "driver k8s\n", { "-i", "img", NULL }, 2,
	  "prescal: %F:1: driver 'k8s': expected container or swarm", NULL },
	{ "driver swarm without network", "driver swarm\n", { "-i", "img", NULL }, 2,
	  "prescal: driver swarm needs network (an attachable overlay network prescal is on)",
	  NULL },
	{ "driver swarm and pause", "driver swarm\nnetwork apps\npause_after 60000\n",
	  { "-i", "img", NULL }, 2,
	  "prescal: driver swarm cannot pause instances: set pause_after 0 and min_paused 0",
	  NULL },
	{ "driver swarm and volume", "app a\n image img\n driver swarm\n network apps\n"
	  " volume data:/data\n", { NULL }, 2, "prescal: %F:1: app a: driver swarm passes env, "
	  "constraint, memory and cpus (as reservations) only: not cmd, volume, label or user",
	  NULL },
	{ "constraint", "driver swarm\nnetwork apps\nconstraint node.role==worker\n"
	  "constraint node.labels.zone!=b\n", { "-i", "img", NULL }, 0,
	  "prescal: configuration ok", "constraint         node.labels.zone!=b" },
	{ "constraint without swarm", "constraint node.role==worker\n", { "-i", "img", NULL }, 2,
	  "prescal: constraint needs driver swarm", NULL },
	{ "bad constraint", "constraint node.role\n", { "-i", "img", NULL }, 2,
	  "prescal: %F:1: constraint 'node.role': expected ATTRIBUTE==VALUE or ATTRIBUTE!=VALUE",
	  NULL },
	{ "missing file", "", { "-b", "127.0.0.1:9", NULL }, 2, NULL, NULL },  /* see below */
};

static const char *bin = "./prescal";

/* whether out has line as a whole line; first: as its first line */
static int
has_line(const char *out, const char *line, int first)
{
	size_t n = strlen(line);
	const char *p = out;

	for (;;) {
		if (!strncmp(p, line, n) && (p[n] == '\n' || p[n] == '\0'))
			return 1;
		if (first || !(p = strchr(p, '\n')))
			return 0;
		p++;
	}
}

/* runs one row; the file is written to a temp path */
static void
run_row(const struct row *r, const char *filetext, int missing)
{
	char path[] = "/tmp/prescal-config-XXXXXX", out[8192], want[512], *argv[24];
	const char *p;
	size_t k = 0, o;
	int fd = -1, st;

	argv[k++] = (char *)(uintptr_t)bin;
	argv[k++] = "-T";
	if (filetext) {
		assert_true((fd = mkstemp(path)) >= 0);
		assert_int_equal(writeall(fd, filetext, strlen(filetext)), 0);
		close(fd);
		if (missing)
			unlink(path);
		argv[k++] = "-f";
		argv[k++] = path;
	}
	for (size_t i = 0; r->flags[i]; i++)
		argv[k++] = (char *)(uintptr_t)r->flags[i];
	argv[k] = NULL;
	st = trun(argv, 5000, out, sizeof(out));
	if (filetext && !missing)
		unlink(path);
	if (st != r->status)
		fail_msg("%s: exit %d, want %d; output:\n%s", r->name, st, r->status, out);
	/* "%F" in the expected text stands for the file's path */
	want[0] = '\0';
	if (missing) {
		snprintf(want, sizeof(want), "prescal: %s: No such file or directory", path);
	} else if (r->err) {
		for (p = r->err, o = 0; *p && o < sizeof(want) - 1; p++) {
			if (p[0] == '%' && p[1] == 'F') {
				o += snprintf(want + o, sizeof(want) - o, "%s", path);
				p++;
			} else {
				want[o++] = *p;
				want[o] = '\0';
			}
		}
	}
	if (want[0] && !has_line(out, want, r->status != 0))
		fail_msg("%s: want the %sline\n  %s\ngot:\n%s", r->name,
		         r->status ? "first " : "", want, out);
	if (r->out && !has_line(out, r->out, 0))
		fail_msg("%s: -T output lacks\n  %s\ngot:\n%s", r->name, r->out, out);
}

static void
test_table(void **state)
{
	char longline[2100];

	(void)state;
	for (size_t i = 0; i < LEN(rows); i++) {
		if (!strcmp(rows[i].name, "line too long")) {
			memset(longline, 'x', sizeof(longline) - 2);
			longline[sizeof(longline) - 2] = '\n';
			longline[sizeof(longline) - 1] = '\0';
			struct row r = rows[i];
			r.err = "prescal: %F:1: line too long";
			run_row(&r, longline, 0);
		} else if (!strcmp(rows[i].name, "missing file")) {
			run_row(&rows[i], "", 1);
		} else {
			run_row(&rows[i], rows[i].file, 0);
		}
	}
	printf("config: %zu cases\n", LEN(rows));
}

/* whether man has a line "<macro> key" with key a whole word */
static int
documented(const char *man, const char *macro, const char *key)
{
	char pat[80];
	const char *p;
	size_t n;

	n = (size_t)snprintf(pat, sizeof(pat), "\n%s %s", macro, key);
	for (p = man; (p = strstr(p, pat)); p += n)
		if (strchr(" \n\\", p[n]))
			return 1;
	return 0;
}

/* every key -T prints (the settings table, global and per app, and "app")
 * is documented in prescal.1 as ".B key" or ".BR key" */
static void
test_man_lists_every_key(void **state)
{
	static char out[32768], man[131072];
	char *argv[] = { NULL, "-T", "-b", "127.0.0.1:9", NULL }, *line, *save;
	char key[64], path[64], *argv2[] = { NULL, "-T", "-f", path, NULL };
	const char *mp = getenv("PRESCAL_MAN") ? getenv("PRESCAL_MAN") : "prescal.1";
	FILE *f;
	size_t n;
	int keys = 0, missing = 0;

	(void)state;
	argv[0] = argv2[0] = strdup(bin);
	assert_int_equal(trun(argv, 5000, out, sizeof(out)), 0);
	/* and an app block, for the keys only blocks print (host, path) */
	snprintf(path, sizeof(path), "/tmp/prescal-config-%d", (int)getpid());
	assert_non_null(f = fopen(path, "w"));
	fputs("app a\nhost a.example.com\npath /x\nbackend 127.0.0.1:9\n", f);
	fclose(f);
	n = strlen(out);
	assert_int_equal(trun(argv2, 5000, out + n, sizeof(out) - n), 0);
	unlink(path);
	free(argv[0]);
	assert_non_null(f = fopen(mp, "r"));
	n = fread(man, 1, sizeof(man) - 1, f);
	fclose(f);
	man[n] = '\0';
	strcat(out, "app x\n");  /* the block keyword */
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#' || !strncmp(line, "prescal:", 8) ||
		    sscanf(line, "%63s", key) != 1)
			continue;
		keys++;
		if (documented(man, ".B", key) || documented(man, ".BR", key))
			continue;
		printf("config: key '%s' is not in %s\n", key, mp);
		missing++;
	}
	printf("config: %d keys, %d missing from %s\n", keys, missing, mp);
	assert_true(keys > 50);
	assert_int_equal(missing, 0);
}

/* every .conf file in examples/ passes -T, so an example cannot rot; a fragment
 * that is used with flags gets them here */
static void
test_examples(void **state)
{
	static const struct { const char *file, *flags[4]; } with[] = {
		/* compose-network.yaml's command line gives the image */
		{ "network.conf", { "-i", "prescal-demo:latest", NULL } },
	};
	static char out[32768];
	char path[300], *argv[8];
	struct dirent *e;
	DIR *d;
	size_t n, k;
	int files = 0, st;

	(void)state;
	assert_non_null(d = opendir("examples"));
	while ((e = readdir(d))) {
		n = strlen(e->d_name);
		if (n < 6 || strcmp(e->d_name + n - 5, ".conf"))
			continue;
		snprintf(path, sizeof(path), "examples/%s", e->d_name);
		k = 0;
		argv[k++] = (char *)(uintptr_t)bin;
		argv[k++] = "-T";
		argv[k++] = "-f";
		argv[k++] = path;
		for (size_t i = 0; i < LEN(with); i++)
			for (size_t j = 0; !strcmp(with[i].file, e->d_name) && with[i].flags[j]; j++)
				argv[k++] = (char *)(uintptr_t)with[i].flags[j];
		argv[k] = NULL;
		st = trun(argv, 5000, out, sizeof(out));
		if (st != 0 || !has_line(out, "prescal: configuration ok", 0))
			fail_msg("%s: exit %d; output:\n%s", path, st, out);
		files++;
	}
	closedir(d);
	printf("config: %d example files pass -T\n", files);
	assert_true(files >= 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_man_lists_every_key),
		cmocka_unit_test(test_examples),
	};

	if (getenv("PRESCAL_BIN"))
		bin = getenv("PRESCAL_BIN");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
