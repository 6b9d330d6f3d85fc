/* See LICENSE file for copyright and license details. */
/*
 * apps_test: several apps behind one prescal (issue 13), live. Each test
 * writes a config file with app blocks, starts ./prescal (or $PRESCAL_BIN)
 * on a loopback port, runs static backends (tests/backend, with
 * PRESCAL_INSTANCE naming them) and scaled apps of the local test image,
 * and sends requests with chosen Host headers. Every app, container, image
 * tag and file a test makes is named "happ-<pid>-..." and removed by the
 * teardown, also after a failed assertion.
 *
 * - routing: exact, wildcard, port, case, path prefix, absolute form; 404
 *   for no match, then an app named default; the access log names the app
 * - isolation: 300 requests held for a 3 s cold start while another app
 *   answers 10,000 requests (p99 under 20 ms, no error)
 * - reload: eleven SIGHUPs under load (min and max, an app added, one
 *   removed, a new image, image to static backend and back): no request to
 *   a kept app fails
 * - bad reload: a file that does not load changes nothing
 * - removed while held: a removed app's held requests get 503 at once
 * - removed and added back while its old instance drains
 * - two scaled apps: adopted on restart, replaced after a crash, removed on
 *   SIGTERM, each on its own
 *
 * Without a reachable Docker daemon the Docker tests are skipped, unless
 * PRESCAL_REQUIRE_DOCKER=1. INTEG_KEEP_LOGS=1 keeps prescal's logs;
 * INTEG_VERBOSE=1 prints them after every test; INTEG_FILTER=pattern runs
 * only the matching tests. Run from the source root.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "tclient.h"
#include "tdocker.h"
#include "util.h"

#define IMAGE       "prescal-test-backend:latest"
#define IMAGE_BOOT3 "happ-backend-boot3:latest"   /* IMAGE with BOOT_MS=3000 */
#define READY       " ready on "
#define RELOADED    "reload done"
#define LOGMAX      (1 << 20)     /* prescal log bytes read back */
#define NAPP        4             /* apps (container sets) per test */
#define NBE         2             /* static backends per test */
#define MAXERR      4             /* load errors remembered */
#define CONFMAX     4096

/* fails the test with a message, dumping the prescal logs first */
#define CHECK(f, cond, ...) do { \
	if (!(cond)) { \
		print_error("%s:%d: failed: %s\n  ", __FILE__, __LINE__, #cond); \
		print_error(__VA_ARGS__); \
		print_error("\n"); \
		dump_logs(f); \
		fail(); \
	} \
} while (0)

/* one test: its prescal processes, static backends, apps, files, and the
 * load generators still running (a failed check leaves them to teardown) */
struct fix {
	struct load *load[4];
	struct tproc *p[2];         /* prescal; [1] after a restart */
	int port[2], admin[2];      /* listener, admin listener (0: off) */
	int quiet;                  /* -q: no access log (long runs) */
	struct tproc *be[NBE];      /* static backends */
	int beport[NBE];
	char app[NAPP][64];         /* app names = container sets */
	char conf[64];              /* the config file */
	char tag[2][96];            /* image tags the test made */
};

/* a load generator: threads send req until stop, or n each (n > 0) */
struct load {
	pthread_t t[4];
	int nt, running;
	int port, n;
	int pause_ms;               /* between two requests of a thread */
	char req[160];
	atomic_int stop, next;
	atomic_long sent, failed, notfound;
	long *lat_us;               /* n per thread, or NULL */
	pthread_mutex_t lock;       /* protects err, nerr */
	char err[MAXERR][160];
	int nerr;
};

static const char *bin = "./prescal";
static int have_docker;
static char logbuf[LOGMAX];     /* test thread only */

/* helpers */

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
dump_logs(const struct fix *f)
{
	for (int i = 0; i < 2; i++) {
		if (!f->p[i])
			continue;
		tproc_log(f->p[i], logbuf, sizeof(logbuf));
		fprintf(stderr, "---- prescal %d log ----\n%s---- end ----\n", i, logbuf);
	}
}

/* copies the first line of p's log that contains word into out; 1 if any */
static int
log_find(const struct tproc *p, const char *word, char *out, size_t n)
{
	char *s = tproc_log(p, logbuf, sizeof(logbuf)), *e;

	for (; *s; s = *e ? e + 1 : e) {
		e = s + strcspn(s, "\n");
		if (memmem(s, e - s, word, strlen(word))) {
			snprintf(out, n, "%.*s", (int)(e - s), s);
			return 1;
		}
	}
	out[0] = '\0';
	return 0;
}

/* "happ-<pid>-<tag>" as app i */
static const char *
name_app(struct fix *f, int i, const char *tag)
{
	snprintf(f->app[i], sizeof(f->app[i]), "happ-%d-%s", (int)getpid(), tag);
	return f->app[i];
}

/* (re)writes the config file; rename() so that a reload never reads half */
static int
write_conf(struct fix *f, const char *fmt, ...)
{
	char text[CONFMAX], tmp[80];
	va_list ap;
	FILE *cf;
	int fd;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (!f->conf[0]) {
		snprintf(f->conf, sizeof(f->conf), "/tmp/happ-conf-XXXXXX");
		if ((fd = mkstemp(f->conf)) < 0) {
			f->conf[0] = '\0';
			return -1;
		}
		close(fd);
	}
	snprintf(tmp, sizeof(tmp), "%s.new", f->conf);
	if (!(cf = fopen(tmp, "w")))
		return -1;
	fputs(text, cf);
	if (fclose(cf) != 0 || rename(tmp, f->conf) < 0)
		return -1;
	return 0;
}

/* starts prescal i on the config file; waits until it listens */
static int
start_prescal(struct fix *f, int i)
{
	char path[256], listen[32], admin[32] = "off";
	char *argv[] = { path, "-a", admin, "-l", listen, "-f", f->conf, NULL, NULL };

	if ((f->port[i] = free_port()) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s", bin);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", f->port[i]);
	if (f->admin[i])
		snprintf(admin, sizeof(admin), "127.0.0.1:%d", f->admin[i]);
	if (f->quiet)
		argv[7] = "-q";
	if (!(f->p[i] = tproc_start(argv, NULL, 1)))
		return -1;
	return wait_port(f->port[i], 10000);
}

/* starts static backend i, answering /name with "name\n" */
static int
start_backend(struct fix *f, int i, const char *name)
{
	char port[16], env[96];
	char *argv[] = { "tests/backend", "-p", port, NULL };
	char *envp[] = { env, NULL };

	if ((f->beport[i] = free_port()) < 0)
		return -1;
	snprintf(port, sizeof(port), "%d", f->beport[i]);
	snprintf(env, sizeof(env), "PRESCAL_INSTANCE=%s", name);
	if (!(f->be[i] = tproc_start(argv, envp, 1)))
		return -1;
	return wait_port(f->beport[i], 5000);
}

/* SIGHUP to prescal i, then waits for its n-th "reload done"; 0 or -1 */
static int
reload(struct fix *f, int i, int n)
{
	kill(f->p[i]->pid, SIGHUP);
	return tproc_wait_log(f->p[i], RELOADED, n, 20000);
}

/* HTTP */

/* sends the request head req on a fresh connection; the status (body into
 * out) or -1 */
static int
ask(int port, const char *req, char *out, size_t n, int timeout_ms)
{
	struct tresp *r = calloc(1, sizeof(*r));
	struct tconn *c;
	int st = -1;

	out[0] = '\0';
	if (r && (c = tconn_open(port, 2000))) {
		if (texchange(c, req, r, timeout_ms) == 0)
			st = r->status;
		if (st > 0 && r->body)
			snprintf(out, n, "%s", r->body);
		tresp_free(r);
		tconn_close(c);
	}
	free(r);
	return st;
}

/* GET target with Host: host on a fresh connection */
static int
hget(int port, const char *host, const char *target, char *out, size_t n, int timeout_ms)
{
	char req[512];

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
	         target, host);
	return ask(port, req, out, n, timeout_ms);
}

/* the value of series name of app in GET /metrics ("name{app=\"app\"} v";
 * without per-app series, "name v"), or -1 */
static double
metric(int admin, const char *name, const char *app)
{
	char body[65536], lab[128];
	size_t n = strlen(name), k;

	if (hget(admin, "127.0.0.1", "/metrics", body, sizeof(body), 5000) != 200)
		return -1;
	k = (size_t)snprintf(lab, sizeof(lab), "{app=\"%s\"} ", app);
	for (const char *p = body; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, name, n))
			continue;
		if (p[n] == ' ')
			return atof(p + n + 1);
		if (!strncmp(p + n, lab, k))
			return atof(p + n + k);
	}
	return -1;
}

static void
load_err(struct load *l, const char *fmt, ...)
{
	va_list ap;

	atomic_fetch_add(&l->failed, 1);
	pthread_mutex_lock(&l->lock);
	if (l->nerr < MAXERR) {
		va_start(ap, fmt);
		vsnprintf(l->err[l->nerr++], sizeof(l->err[0]), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&l->lock);
}

/* client thread: keep-alive requests; anything but 200 fails */
static void *
load_thread(void *arg)
{
	struct load *l = arg;
	struct tconn *c = NULL;
	struct tresp *r = calloc(1, sizeof(*r));
	long *lat = l->lat_us ? l->lat_us + (long)atomic_fetch_add(&l->next, 1) * l->n : NULL;
	char v[64];
	int rc, k;

	for (k = 0; r && !atomic_load(&l->stop) && (l->n == 0 || k < l->n); k++) {
		int64_t t0 = now_us();
		if (!c && !(c = tconn_open(l->port, 2000))) {
			atomic_fetch_add(&l->sent, 1);
			load_err(l, "connect: %s", strerror(errno));
			msleep(20);
			continue;
		}
		rc = texchange(c, l->req, r, 10000);
		atomic_fetch_add(&l->sent, 1);
		if (lat)
			lat[k] = (long)(now_us() - t0);
		if (rc < 0)
			load_err(l, "no response: %s", r->err);
		else if (r->status == 404)
			atomic_fetch_add(&l->notfound, 1), atomic_fetch_add(&l->failed, 1);
		else if (r->status != 200)
			load_err(l, "status %d: %.100s", r->status, r->head);
		if (rc < 0 || (tresp_hdr(r, "connection", v, sizeof(v)) &&
		    !strcasecmp(v, "close"))) {
			tconn_close(c);
			c = NULL;
		}
		tresp_free(r);
		if (l->pause_ms)
			msleep(l->pause_ms);
	}
	tconn_close(c);
	free(r);
	return NULL;
}

/* starts nt (at most 4) threads of GET path with Host: host; n requests
 * each, or until load_stop() (n = 0), pause_ms apart; registered in f
 * until stopped */
static void
load_start(struct fix *f, struct load *l, int nt, const char *host, const char *path, int n,
           int pause_ms, long *lat_us)
{
	memset(l, 0, sizeof(*l));
	pthread_mutex_init(&l->lock, NULL);
	l->port = f->port[0];
	l->n = n;
	l->pause_ms = pause_ms;
	l->lat_us = lat_us;
	snprintf(l->req, sizeof(l->req), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host);
	for (l->nt = 0; l->nt < MIN(nt, (int)LEN(l->t)); l->nt++)
		if (pthread_create(&l->t[l->nt], NULL, load_thread, l) != 0)
			abort();
	l->running = 1;
	for (int i = 0; i < (int)LEN(f->load); i++)
		if (!f->load[i]) {
			f->load[i] = l;
			break;
		}
}

/* stops l's threads (those with n requests end by themselves first) and
 * prints its errors; what NULL: quietly */
static void
load_stop(struct fix *f, struct load *l, const char *what)
{
	if (!l->running)
		return;
	if (l->n == 0)
		atomic_store(&l->stop, 1);
	for (int i = 0; i < l->nt; i++)
		pthread_join(l->t[i], NULL);
	for (int i = 0; what && i < l->nerr; i++)
		print_message("    %s: load error: %s\n", what, l->err[i]);
	pthread_mutex_destroy(&l->lock);
	l->running = 0;
	for (int i = 0; i < (int)LEN(f->load); i++)
		if (f->load[i] == l)
			f->load[i] = NULL;
}

/* docker */

/* the images of set's containers, sorted and unique, as "a b" */
static char *
images_of(const char *set, char *out, size_t n)
{
	if (sh_line(out, n, "docker ps -a --filter label=prescal.name=%s --format '{{.Image}}' "
	            "| sort -u | tr '\\n' ' '", set) < 0)
		out[0] = '\0';
	return out;
}

/* fixtures */

static int
group_setup(void **state)
{
	(void)state;
	if (getenv("PRESCAL_BIN"))
		bin = getenv("PRESCAL_BIN");
	if (access(bin, X_OK) < 0 || access("tests/backend", X_OK) < 0) {
		print_error("%s or tests/backend: %s (run make prescal tests/backend, from the "
		            "source root)\n", bin, strerror(errno));
		return -1;
	}
	if (docker_ping() < 0 || sh("docker version >/dev/null 2>&1") != 0) {
		if (docker_required()) {
			print_error("no Docker daemon at %s (or no docker CLI), and "
			            "PRESCAL_REQUIRE_DOCKER=1\n", docker_sock());
			return -1;
		}
		fprintf(stderr, "\n*** SKIPPED: no Docker daemon at %s: the Docker tests of "
		        "apps_test are skipped ***\n\n", docker_sock());
		return 0;
	}
	if (sh("sh tests/mkimage.sh >&2") != 0 ||
	    sh("printf 'FROM " IMAGE "\\nENV BOOT_MS=3000\\n' | DOCKER_BUILDKIT=0 "
	       "docker build -q -t " IMAGE_BOOT3 " - >/dev/null 2>&1") != 0) {
		print_error("tests/mkimage.sh or the build of " IMAGE_BOOT3 " failed\n");
		return -1;
	}
	have_docker = 1;
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	if (have_docker)
		sh("docker rmi " IMAGE_BOOT3 " >/dev/null 2>&1");
	return 0;
}

static int
setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix *f = *state;
	char tmp[80];

	if (getenv("INTEG_VERBOSE"))
		dump_logs(f);
	for (int i = 0; i < (int)LEN(f->load); i++)
		if (f->load[i]) {
			atomic_store(&f->load[i]->stop, 1);
			load_stop(f, f->load[i], NULL);
		}
	tconn_close_all();
	tresp_free_all();
	/* SIGTERM: a sanitized prescal exits and LeakSanitizer reports */
	for (int i = 0; i < 2; i++)
		tproc_term(f->p[i], 30000);
	for (int i = 0; i < NBE; i++)
		tproc_stop(f->be[i], SIGKILL);
	for (int i = 0; i < NAPP; i++)
		if (f->app[i][0] && have_docker)
			dk_rmset(f->app[i]);
	for (int i = 0; i < 2; i++)
		if (f->tag[i][0])
			sh("docker rmi %s >/dev/null 2>&1", f->tag[i]);
	if (f->conf[0]) {
		unlink(f->conf);
		snprintf(tmp, sizeof(tmp), "%s.new", f->conf);
		unlink(tmp);
	}
	free(f);
	return 0;
}

/* tests */

/* one routing case: the request, and the app (index, -1: none) it reaches */
struct rcase {
	const char *host, *target;
	int app;
	const char *why;
};

/* sends case k (target + "?c=k") and checks where it went; returns 1 if
 * it reached the app it should */
static int
route_case(struct fix *f, const struct rcase *rc, int k, const char *const *names,
           const char *id_one, char *body, size_t n)
{
	char req[512], target[128], want[96];
	int st;

	snprintf(target, sizeof(target), "%s?c=%d", rc->target, k);
	if (!strncmp(rc->host, "abs:", 4))  /* absolute form; Host says otherwise */
		snprintf(req, sizeof(req), "GET http://%s%s HTTP/1.1\r\nHost: nomatch.test\r\n"
		         "Connection: close\r\n\r\n", rc->host + 4, target);
	else
		snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\n"
		         "Connection: close\r\n\r\n", target, rc->host);
	st = ask(f->port[0], req, body, n, 30000);
	body[strcspn(body, "\n")] = '\0';
	print_message("    %-26s %-18s -> %d %s (%s)\n", rc->host, target, st, body, rc->why);
	if (rc->app < 0)
		return st == 404 && strlen(body) < 64 && !strstr(body, "happ");
	if (st != 200)
		return 0;
	if (!strncmp(rc->target, "/name", 5) && rc->target[5] != 'x') {
		/* /name answers the instance: "<app>-<n>" or a static backend's name */
		snprintf(want, sizeof(want), "%s", names[rc->app]);
		return !strncmp(body, want, strlen(want));
	}
	/* anything else answers "hello from <hostname>", a container's id */
	snprintf(want, sizeof(want), "hello from %.12s", id_one);
	return !strcmp(body, want);
}

/* the last field of case k's access log line, into out */
static void
logged_app(const struct tproc *p, int k, char *out, size_t n)
{
	char mark[32], line[512], *s;

	snprintf(mark, sizeof(mark), "?c=%d HTTP/1.1\"", k);
	if (!log_find(p, mark, line, sizeof(line))) {
		snprintf(out, n, "(no line)");
		return;
	}
	s = strrchr(line, ' ');
	snprintf(out, n, "%s", s ? s + 1 : line);
}

/*
 * Three apps: a static one, two images scaled to zero that share a host
 * (one by path). Each case reaches the app it names, or 404; the access
 * log's last field is the app. Then an app named default takes what
 * matched nothing.
 */
static void
test_routing(void **state)
{
	struct fix *f = *state;
	const char *names[4], *apps[4];
	const struct rcase cases[] = {
		{ "static.happ.test", "/name", 0, "exact" },
		{ "STATIC.Happ.TEST:8080", "/name", 0, "case, port" },
		{ "static.happ.test.", "/name", 0, "trailing dot" },
		{ "one.happ.test", "/name", 2, "exact, path /name" },
		{ "One.Happ.Test:80", "/name/x", 2, "path below /name" },
		{ "one.happ.test", "/namex", 1, "not at a segment boundary" },
		{ "a.wild.happ.test", "/name", 1, "wildcard" },
		{ "X.Y.WILD.happ.test:8443", "/name", 1, "wildcard, case, port" },
		{ "abs:static.happ.test", "/name", 0, "absolute form wins over Host" },
		{ "wild.happ.test", "/name", -1, "the bare suffix" },
		{ "nomatch.test", "/name", -1, "no app" },
		{ "static.happ.test.evil", "/name", -1, "no app" },
	};
	const struct rcase dcases[] = {
		{ "nomatch.test", "/name", 3, "default" },
		{ "wild.happ.test", "/name", 3, "default" },
		{ "static.happ.test", "/name", 0, "still exact" },
	};
	const char *conf =
		"pull never\nhold_timeout 30000\n"
		"app %s\n\thost static.happ.test\n\tbackend 127.0.0.1:%d\n"
		"app %s\n\thost one.happ.test *.wild.happ.test\n\timage " IMAGE "\n\tport 8080\n"
		"\tmax 1\n"
		"app %s\n\thost one.happ.test\n\tpath /name\n\timage " IMAGE "\n\tport 8080\n"
		"\tmax 1\n%s";
	char body[256], got[96], extra[128], id_one[96] = "", want[64];
	struct ctr c[NCTR];
	int ok = 0, k, n;

	if (!have_docker)
		DOCKER_SKIP("no Docker daemon");
	/* names: what /name answers; apps: the app names the log gives */
	names[0] = "happ-static";
	names[1] = apps[1] = name_app(f, 1, "one");
	names[2] = apps[2] = name_app(f, 2, "two");
	names[3] = "happ-default";
	apps[0] = name_app(f, 0, "stat");
	apps[3] = "default";
	CHECK(f, start_backend(f, 0, names[0]) == 0 && start_backend(f, 1, names[3]) == 0,
	      "static backends");
	CHECK(f, write_conf(f, conf, f->app[0], f->beport[0], names[1], names[2], "") == 0,
	      "config");
	CHECK(f, start_prescal(f, 0) == 0, "prescal does not listen");
	CHECK(f, dk_count(names[1], NULL) == 0 && dk_count(names[2], NULL) == 0,
	      "containers before the first request");

	/* wake app one first: its container id is what "/namex" answers */
	CHECK(f, hget(f->port[0], "one.happ.test", "/x", body, sizeof(body), 30000) == 200,
	      "cold start of app one: %s", body);
	n = dk_list(names[1], c, NCTR);
	CHECK(f, n == 1, "app one has %d containers", n);
	snprintf(id_one, sizeof(id_one), "%s", c[0].id);
	for (k = 0; k < (int)LEN(cases); k++) {
		int hit = route_case(f, &cases[k], k, names, id_one, body, sizeof(body));
		ok += hit;
		if (!hit)
			print_message("      ^ wrong: want %s\n", cases[k].app < 0 ? "404" :
			              names[cases[k].app]);
	}
	CHECK(f, ok == (int)LEN(cases), "%d of %d cases routed right", ok, (int)LEN(cases));
	CHECK(f, dk_count(names[1], NULL) == 1 && dk_count(names[2], NULL) == 1,
	      "one container per scaled app: %d, %d", dk_count(names[1], NULL),
	      dk_count(names[2], NULL));

	/* the access log: app name as the last field, "-" for a 404 */
	msleep(200);
	for (k = 0; k < (int)LEN(cases); k++) {
		logged_app(f->p[0], k, got, sizeof(got));
		snprintf(want, sizeof(want), "%s", cases[k].app < 0 ? "-" : apps[cases[k].app]);
		CHECK(f, !strcmp(got, want), "case %d logged app '%s', want '%s'", k, got, want);
	}

	/* an app named default: what matched nothing goes there */
	snprintf(extra, sizeof(extra), "app default\n\tbackend 127.0.0.1:%d\n", f->beport[1]);
	CHECK(f, write_conf(f, conf, f->app[0], f->beport[0], names[1], names[2], extra) == 0,
	      "config");
	CHECK(f, reload(f, 0, 1) == 0, "no reload");
	for (ok = 0, k = 0; k < (int)LEN(dcases); k++)
		ok += route_case(f, &dcases[k], 100 + k, names, id_one, body, sizeof(body));
	CHECK(f, ok == (int)LEN(dcases), "%d of %d cases with a default app right", ok,
	      (int)LEN(dcases));
	logged_app(f->p[0], 100, got, sizeof(got));
	CHECK(f, !strcmp(got, "default"), "logged app '%s', want 'default'", got);
}

static int
cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return x < y ? -1 : x > y;
}

#define NHELD   300
#define BTHREAD 4
#define BREQ    2500               /* per thread: 10,000 in all */

/*
 * The isolation test: app A at zero with an image that takes 3 s to
 * listen, 300 requests held; app B (a static backend, tests/backend as a
 * process) answers 10,000 requests meanwhile with p99 under 20 ms and no
 * error. Then all 300 of A get 200. prescal runs 64 workers, fewer than
 * the held requests: they must wait without one.
 */
static void
test_isolation(void **state)
{
	struct fix *f = *state;
	static struct tconn *held[NHELD];
	static long lat[BTHREAD * BREQ];
	static const char req[] = "GET /name HTTP/1.1\r\nHost: a.happ.test\r\n\r\n";
	struct tresp *r = calloc(1, sizeof(*r));
	struct load l;
	int64_t t0, b0, b1, first = -1;
	double held0, held1;
	int ok = 0, i;
	long n;

	if (!have_docker)
		DOCKER_SKIP("no Docker daemon");
	CHECK(f, r != NULL, "calloc");
	name_app(f, 0, "a");
	name_app(f, 1, "b");
	f->quiet = 1;
	f->admin[0] = free_port();
	CHECK(f, start_backend(f, 0, f->app[1]) == 0, "static backend");
	/* 64 workers: if a held request took one, 300 would starve B */
	CHECK(f, write_conf(f, "pull never\nthreads 64\n"
	      "app %s\n\thost a.happ.test\n\timage " IMAGE_BOOT3 "\n\tport 8080\n\tmax 1\n"
	      "\thold_max 1000\n\thold_timeout 30000\n\tstart_timeout 30000\n"
	      "app %s\n\thost b.happ.test\n\tbackend 127.0.0.1:%d\n",
	      f->app[0], f->app[1], f->beport[0]) == 0, "config");
	CHECK(f, start_prescal(f, 0) == 0, "prescal does not listen");
	CHECK(f, wait_port(f->admin[0], 5000) == 0, "no admin listener");

	/* 300 requests to A, each on its own connection */
	t0 = now_ms();
	for (i = 0; i < NHELD; i++) {
		CHECK(f, (held[i] = tconn_open(f->port[0], 2000)) != NULL, "connect %d", i);
		CHECK(f, tsends(held[i], req) == 0, "send %d", i);
	}
	for (held0 = 0; held0 < NHELD && now_ms() - t0 < 3000; msleep(20))
		held0 = metric(f->admin[0], "prescal_held_requests", f->app[0]);
	print_message("    A: %.0f requests held %lld ms after the first was sent\n", held0,
	              (long long)(now_ms() - t0));
	CHECK(f, held0 == NHELD, "%.0f of %d requests held", held0, NHELD);

	/* B meanwhile: 4 keep-alive clients, 2,500 requests each */
	b0 = now_ms();
	load_start(f, &l, BTHREAD, "b.happ.test", "/", BREQ, 0, lat);
	load_stop(f, &l, "B");
	b1 = now_ms();
	held1 = metric(f->admin[0], "prescal_held_requests", f->app[0]);
	n = atomic_load(&l.sent);
	qsort(lat, BTHREAD * BREQ, sizeof(lat[0]), cmp_long);
	print_message("    B: %ld requests in %lld ms, %ld failed; latency p50 %.2f ms, "
	              "p99 %.2f ms, max %.2f ms; A still held at its end: %.0f\n", n,
	              (long long)(b1 - b0), atomic_load(&l.failed), lat[n / 2] / 1e3,
	              lat[n * 99 / 100] / 1e3, lat[n - 1] / 1e3, held1);
	CHECK(f, n == BTHREAD * BREQ, "B sent %ld requests", n);
	CHECK(f, atomic_load(&l.failed) == 0, "%ld of B's requests failed", atomic_load(&l.failed));
	CHECK(f, lat[n * 99 / 100] < 20000, "B's p99 is %.2f ms", lat[n * 99 / 100] / 1e3);
	CHECK(f, held1 > 0, "A's cold start was over before B's run ended: not meanwhile");

	/* A: all 300 answered once its instance listens */
	for (i = 0; i < NHELD; i++) {
		memset(r, 0, sizeof(*r));
		if (tresp_read(held[i], r, 0, (int)MAX(1000, 30000 - (now_ms() - t0))) == 0 &&
		    r->status == 200)
			ok++;
		if (first < 0)
			first = now_ms() - t0;
		tresp_free(r);
		tconn_close(held[i]);
		held[i] = NULL;
	}
	free(r);
	print_message("    A: %d of %d held requests got 200; the first after %lld ms, the last "
	              "after %lld ms\n", ok, NHELD, (long long)first, (long long)(now_ms() - t0));
	CHECK(f, ok == NHELD, "%d of %d held requests got 200", ok, NHELD);
	CHECK(f, first >= 3000, "A answered after %lld ms, before its 3 s boot", (long long)first);
}

/* one configuration of the reload test: app s (static) always; x scaled
 * with min, max and image tag; r while r; n while n */
struct rstep {
	const char *why;
	int xmin, xmax;
	char ximg;                  /* 'a' or 'b' */
	int r;                      /* r there */
	int n;                      /* n: 0 none, 1 image, 2 static backend */
	long hold;                  /* every app's hold_timeout */
};

static const struct rstep steps[] = {
	{ "start",                   1, 2, 'a', 1, 0, 30000 },
	{ "nothing changed",         1, 2, 'a', 1, 0, 30000 },
	{ "hold_timeout of each app", 1, 2, 'a', 1, 0, 20000 },
	{ "x: min 1 -> 2, max 3",    2, 3, 'a', 1, 0, 20000 },
	{ "app n added",             2, 3, 'a', 1, 1, 20000 },
	{ "app r removed",           2, 3, 'a', 0, 1, 20000 },
	{ "x: image :a -> :b",       2, 3, 'b', 0, 1, 20000 },
	{ "x: max 3 -> 2",           2, 2, 'b', 0, 1, 20000 },
	{ "x: min 2 -> 1",           1, 2, 'b', 0, 1, 20000 },
	{ "nothing changed",         1, 2, 'b', 0, 1, 20000 },
	{ "n: image -> backend",     1, 2, 'b', 0, 2, 20000 },
	{ "n: backend -> image",     1, 2, 'b', 0, 1, 30000 },
};

static int
write_step(struct fix *f, const struct rstep *s)
{
	char r[256] = "", n[256] = "";

	if (s->r)
		snprintf(r, sizeof(r), "app %s\n\thost r.happ.test\n\timage %s\n\tport 8080\n"
		         "\tmin 1\n\tmax 1\n", f->app[2], f->tag[0]);
	if (s->n == 1)
		snprintf(n, sizeof(n), "app %s\n\thost n.happ.test\n\timage %s\n\tport 8080\n"
		         "\tmin 1\n\tmax 1\n", f->app[3], f->tag[0]);
	else if (s->n == 2)
		snprintf(n, sizeof(n), "app %s\n\thost n.happ.test\n\tbackend 127.0.0.1:%d\n",
		         f->app[3], f->beport[1]);
	return write_conf(f, "# %s\npull never\nhold_timeout %ld\nscale_down_delay 1000\n"
	                  "app %s\n\thost s.happ.test\n\tbackend 127.0.0.1:%d\n"
	                  "app %s\n\thost x.happ.test\n\timage %s\n\tport 8080\n\tmin %d\n"
	                  "\tmax %d\n%s%s", s->why, s->hold, f->app[0], f->beport[0], f->app[1],
	                  f->tag[s->ximg - 'a'], s->xmin, s->xmax, r, n);
}

/* waits until app x runs only image img; returns the most containers it
 * had at once (those containers into seen), or -1 at the time-out */
static int
wait_rolled(struct fix *f, const char *img, int timeout_ms, char *seen, size_t n)
{
	char imgs[256], want[128];
	int64_t until = now_ms() + timeout_ms;
	int most = 0, k;

	snprintf(want, sizeof(want), "%s ", img);
	do {
		if ((k = dk_count(f->app[1], NULL)) > most) {
			most = k;
			dk_ids(f->app[1], seen, n);
		}
		if (!strcmp(images_of(f->app[1], imgs, sizeof(imgs)), want) &&
		    dk_count(f->app[1], "running") == k)
			return most;
		msleep(100);
	} while (now_ms() < until);
	return -1;
}

/*
 * The replacement as prescal tells it, from the "replacing its instances"
 * line on: x's instances in the pool are the ready ones minus those whose
 * drain began ("replacing instances after a reload"). One at a time means
 * that count goes 2, 3, 2, 3, 2: never below x's min, never two new ones
 * at once. Returns the number of replacements, or -1 (what went wrong in
 * out).
 */
static int
roll_order(struct fix *f, int ready, char *out, size_t n)
{
	char *s = tproc_log(f->p[0], logbuf, sizeof(logbuf)), *e, key[128], ready_k[128],
	     drain_k[128];
	int lo = ready, hi = ready, drains = 0, k = 0;

	snprintf(key, sizeof(key), "app %s: image or container settings changed", f->app[1]);
	snprintf(ready_k, sizeof(ready_k), "instance %s-", f->app[1]);
	snprintf(drain_k, sizeof(drain_k), "app %s: replacing instances after a reload", f->app[1]);
	if (!(s = strstr(s, key)))
		return snprintf(out, n, "no '%s'", key), -1;
	k = snprintf(out, n, "%d ", ready);
	for (; *s; s = *e ? e + 1 : e) {
		e = s + strcspn(s, "\n");
		if (memmem(s, e - s, ready_k, strlen(ready_k)) && memmem(s, e - s, READY, 10))
			ready++;
		else if (memmem(s, e - s, drain_k, strlen(drain_k)))
			ready--, drains++;
		else
			continue;
		k += snprintf(out + k, n - k, "%d ", ready);
		lo = MIN(lo, ready);
		hi = MAX(hi, ready);
		if (k >= (int)n)
			break;
	}
	return lo == 2 && hi == 3 ? drains : -1;
}

/* after reload k (steps[k]): what the change should have done */
static void
check_step(struct fix *f, int k, char *say, size_t n)
{
	char buf[512], msg[256];
	int64_t t0 = now_ms();
	int most;

	say[0] = '\0';
	if (k == 3) {
		CHECK(f, dk_wait_count(f->app[1], "running", 2, 20000) == 0 &&
		      tproc_wait_log(f->p[0], READY, 3, 20000) == 0,
		      "min 2 did not apply: %s", dk_ids(f->app[1], buf, sizeof(buf)));
		snprintf(say, n, "x has 2 instances after %lld ms", (long long)(now_ms() - t0));
	} else if (k == 4) {
		snprintf(msg, sizeof(msg), "instance %s-1 ready on", f->app[3]);
		CHECK(f, tproc_wait_log(f->p[0], msg, 1, 20000) == 0 &&
		      dk_count(f->app[3], "running") == 1, "app n did not start at its min: %s",
		      dk_ids(f->app[3], buf, sizeof(buf)));
		snprintf(say, n, "n ready after %lld ms", (long long)(now_ms() - t0));
	} else if (k == 5) {
		CHECK(f, dk_wait_count(f->app[2], NULL, 0, 30000) == 0,
		      "app r's containers left: %s",
		      dk_ids(f->app[2], buf, sizeof(buf)));
		snprintf(msg, sizeof(msg), "app %s: all its instances are gone", f->app[2]);
		CHECK(f, tproc_wait_log(f->p[0], msg, 1, 5000) == 0, "no '%s'", msg);
		snprintf(say, n, "r's containers gone after %lld ms", (long long)(now_ms() - t0));
	} else if (k == 6) {
		most = wait_rolled(f, f->tag[1], 60000, buf, sizeof(buf));
		CHECK(f, most >= 0, "x did not move to %s: %s", f->tag[1],
		      images_of(f->app[1], msg, sizeof(msg)));
		/* a drained instance may still be stopping when the next one starts */
		CHECK(f, most <= 4, "x had %d containers during the replacement: %s", most, buf);
		CHECK(f, roll_order(f, 2, msg, sizeof(msg)) == 2, "x's ready instances during the "
		      "replacement: %s(want 2 3 2 3 2)", msg);
		snprintf(msg, sizeof(msg), "app %s: image or container settings changed: replacing "
		         "its instances", f->app[1]);
		CHECK(f, tproc_log_count(f->p[0], msg) == 1, "no '%s'", msg);
		snprintf(say, n, "x on :b after %lld ms, ready ones %s(%d containers at most)",
		         (long long)(now_ms() - t0), roll_order(f, 2, msg, sizeof(msg)) ? msg : "",
		         most);
	} else if (k == 8) {
		CHECK(f, dk_wait_count(f->app[1], NULL, 1, 20000) == 0, "min 1 did not apply: %s",
		      dk_ids(f->app[1], buf, sizeof(buf)));
		snprintf(say, n, "x down to 1 after %lld ms", (long long)(now_ms() - t0));
	} else if (k == 10) {
		CHECK(f, dk_wait_count(f->app[3], NULL, 0, 20000) == 0, "n's containers left: %s",
		      dk_ids(f->app[3], buf, sizeof(buf)));
		snprintf(say, n, "n's containers gone after %lld ms", (long long)(now_ms() - t0));
	} else if (k == 11) {
		CHECK(f, dk_wait_count(f->app[3], "running", 1, 20000) == 0,
		      "n did not start again: "
		      "%s", dk_ids(f->app[3], buf, sizeof(buf)));
		CHECK(f, hget(f->port[0], "n.happ.test", "/name", msg, sizeof(msg), 20000) == 200 &&
		      !strncmp(msg, f->app[3], strlen(f->app[3])), "n answers '%s'", msg);
		snprintf(say, n, "n's instance %.*s answers after %lld ms", (int)strcspn(msg, "\n"),
		         msg, (long long)(now_ms() - t0));
	} else {
		msleep(300);
	}
}

/*
 * The reload test: continuous load through ten reloads, one that
 * removes an app and one that changes an image: no request to an app that
 * stays fails. Between reloads: min applies (up and down), an added app
 * starts at its min, a removed app's containers are drained and removed,
 * a new image replaces the instances one at a time.
 */
static void
test_reload_under_load(void **state)
{
	struct fix *f = *state;
	static struct load ls, lx, ln, lr;
	static struct tresp resp;
	struct tresp *r = &resp;
	struct tconn *slow = NULL;
	char say[384];
	long sent, failed;
	int k;

	if (!have_docker)
		DOCKER_SKIP("no Docker daemon");
	name_app(f, 0, "s");
	name_app(f, 1, "x");
	name_app(f, 2, "r");
	name_app(f, 3, "n");
	snprintf(f->tag[0], sizeof(f->tag[0]), "happ-img-%d:a", (int)getpid());
	snprintf(f->tag[1], sizeof(f->tag[1]), "happ-img-%d:b", (int)getpid());
	CHECK(f, sh("docker tag " IMAGE " %s && docker tag " IMAGE " %s", f->tag[0], f->tag[1]) ==
	      0, "docker tag");
	f->quiet = 1;
	CHECK(f, start_backend(f, 0, f->app[0]) == 0 && start_backend(f, 1, "happ-n-static") == 0,
	      "static backends");
	CHECK(f, write_step(f, &steps[0]) == 0, "config");
	CHECK(f, start_prescal(f, 0) == 0, "prescal does not listen");
	CHECK(f, tproc_wait_log(f->p[0], READY, 2, 20000) == 0, "x and r not ready");

	load_start(f, &ls, 2, "s.happ.test", "/name", 0, 1, NULL);
	load_start(f, &lx, 2, "x.happ.test", "/name", 0, 1, NULL);
	load_start(f, &lr, 1, "r.happ.test", "/name", 0, 1, NULL);
	msleep(500);
	for (k = 1; k < (int)LEN(steps); k++) {
		if (k == 5) {
			/* a request in flight to r when it goes finishes */
			CHECK(f, (slow = tconn_open(f->port[0], 2000)) && tsends(slow, "GET "
			      "/slow?ms=1500 HTTP/1.1\r\nHost: r.happ.test\r\n\r\n") == 0, "send");
			msleep(200);
		}
		CHECK(f, write_step(f, &steps[k]) == 0, "config");
		CHECK(f, reload(f, 0, k) == 0, "reload %d (%s) not done", k, steps[k].why);
		if (k == 4)
			load_start(f, &ln, 1, "n.happ.test", "/name", 0, 1, NULL);
		check_step(f, k, say, sizeof(say));
		if (k == 5) {
			load_stop(f, &lr, NULL);  /* r is gone: its 404s only cost CPU */
			CHECK(f, tresp_read(slow, r, 0, 5000) == 0 && r->status == 200,
			      "the request in flight to r when it was removed: %d %s", r->status,
			      r->err);
			print_message("    a 1.5 s request in flight to r when it was removed: "
			              "%d\n", r->status);
			tresp_free(r);
			tconn_close(slow);
		}
		print_message("    reload %2d: %-26s s %ld/%ld x %ld/%ld n %ld/%ld "
		              "failed/sent%s%s\n", k, steps[k].why, atomic_load(&ls.failed),
		              atomic_load(&ls.sent), atomic_load(&lx.failed), atomic_load(&lx.sent),
		              atomic_load(&ln.failed), atomic_load(&ln.sent), say[0] ? "; " : "",
		              say);
	}
	msleep(500);
	load_stop(f, &ls, "s");
	load_stop(f, &lx, "x");
	load_stop(f, &ln, "n");
	sent = atomic_load(&ls.sent) + atomic_load(&lx.sent) + atomic_load(&ln.sent);
	failed = atomic_load(&ls.failed) + atomic_load(&lx.failed) + atomic_load(&ln.failed);
	print_message("    apps kept: %ld requests through %d reloads, %ld failed; removed app r: "
	              "%ld requests, %ld 404 once removed, %ld other failures\n", sent, k - 1,
	              failed, atomic_load(&lr.sent), atomic_load(&lr.notfound),
	              atomic_load(&lr.failed) - atomic_load(&lr.notfound));
	CHECK(f, failed == 0, "%ld of %ld requests to the apps kept failed", failed, sent);
	CHECK(f, atomic_load(&lr.failed) == atomic_load(&lr.notfound), "requests to r failed "
	      "otherwise than 404");
	CHECK(f, atomic_load(&ln.sent) > 10 && atomic_load(&lx.sent) > 100 &&
	      atomic_load(&ls.sent) > 100, "too few requests");
	CHECK(f, tproc_log_count(f->p[0], "reload failed") == 0, "a reload failed");
	/* no global setting changed; n changed only at reloads 10 and 11 */
	CHECK(f, tproc_log_count(f->p[0], "global settings changed") == 0, "a reload said global "
	      "settings changed");
	snprintf(say, sizeof(say), "app %s: settings changed", f->app[3]);
	CHECK(f, tproc_log_count(f->p[0], say) == 2, "%d '%s' lines, want 2",
	      tproc_log_count(f->p[0], say), say);
}

/*
 * A file that does not load changes nothing: each bad file's error is
 * logged with file:line, and the apps answer as before. A good file after
 * them applies.
 */
static void
test_reload_bad_file(void **state)
{
	struct fix *f = *state;
	const char *good = "app %s\n\thost a.happ.test\n\tbackend 127.0.0.1:%d\n"
	                   "app %s\n\thost b.happ.test\n\tbackend 127.0.0.1:%d\n";
	struct bad {
		const char *text, *error;
		int line;
	} bad[] = {
		{ "app %s\n\thost a.happ.test\n\tbackend 127.0.0.1:%d\n\tbogus 1\n",
		  "unknown key 'bogus'", 4 },
		{ "app %s\n\thost b.happ.test\n\tbackend 127.0.0.1:%d\n\tmax many\n",
		  "max 'many'", 4 },
		{ "app %s\n\thost a.happ.test\n\tbackend 127.0.0.1:%d\n"
		  "app %s\n\thost a.happ.test\n\tbackend 127.0.0.1:%d\n", "both match host", 4 },
		{ "listen 127.0.0.1:1\napp %s\n\tlisten 127.0.0.1:2\n", "is a global key", 3 },
	};
	char body[128], want[160], line[512];
	int k;

	name_app(f, 0, "a");
	name_app(f, 1, "b");
	CHECK(f, start_backend(f, 0, f->app[0]) == 0 && start_backend(f, 1, f->app[1]) == 0,
	      "static backends");
	CHECK(f, write_conf(f, good, f->app[0], f->beport[0], f->app[1], f->beport[1]) == 0,
	      "config");
	CHECK(f, start_prescal(f, 0) == 0, "prescal does not listen");
	for (k = 0; k < (int)LEN(bad); k++) {
		/* the bad files swap the backends, drop app b, or both */
		CHECK(f, write_conf(f, bad[k].text, f->app[1], f->beport[1], f->app[0],
		      f->beport[0]) == 0, "config");
		kill(f->p[0]->pid, SIGHUP);
		CHECK(f, tproc_wait_log(f->p[0], "reload failed", k + 1, 10000) == 0,
		      "bad file %d: no "
		      "'reload failed'", k);
		snprintf(want, sizeof(want), "%s:%d: ", f->conf, bad[k].line);
		CHECK(f, log_find(f->p[0], bad[k].error, line, sizeof(line)) &&
		      strstr(line, want), "bad file %d: no '%s...%s' line", k, want, bad[k].error);
		print_message("    %s\n", line);
		CHECK(f, hget(f->port[0], "a.happ.test", "/name", body, sizeof(body), 5000) ==
		      200 &&
		      !strncmp(body, f->app[0], strlen(f->app[0])), "bad file %d: a answers '%s'",
		      k, body);
		CHECK(f, hget(f->port[0], "b.happ.test", "/name", body, sizeof(body), 5000) ==
		      200 &&
		      !strncmp(body, f->app[1], strlen(f->app[1])), "bad file %d: b answers '%s'",
		      k, body);
	}
	CHECK(f, tproc_log_count(f->p[0], RELOADED) == 0, "a bad file was applied");

	/* a good file that swaps the backends applies */
	CHECK(f, write_conf(f, good, f->app[0], f->beport[1], f->app[1], f->beport[0]) == 0,
	      "config");
	CHECK(f, reload(f, 0, 1) == 0, "the good file did not load");
	CHECK(f, hget(f->port[0], "a.happ.test", "/name", body, sizeof(body), 5000) == 200 &&
	      !strncmp(body, f->app[1], strlen(f->app[1])), "after the good file, a answers '%s'",
	      body);
}

#define NHOLD 5

/*
 * A reload removes app h while requests wait for its first instance (a
 * 3 s boot), and turns app s from a static backend into an image: h's
 * held requests are answered at once (503, not after hold_timeout), its
 * starting container goes; s starts at its min and no request to s fails.
 */
static void
test_reload_remove_held(void **state)
{
	struct fix *f = *state;
	static const char req[] = "GET /name HTTP/1.1\r\nHost: h.happ.test\r\n\r\n";
	const char *conf = "pull never\nhold_timeout 20000\n%s"
	                   "app %s\n\thost s.happ.test\n\t%s\n\tport 8080\n\tmin 1\n";
	struct tconn *held[NHOLD];
	struct tresp *r = calloc(1, sizeof(*r));
	char happ[256], sback[64], body[128], buf[512];
	struct load ls;
	int64_t t0;
	long ms[NHOLD];
	int st[NHOLD], fast = 0, i;

	if (!have_docker)
		DOCKER_SKIP("no Docker daemon");
	CHECK(f, r != NULL, "calloc");
	name_app(f, 0, "h");
	name_app(f, 1, "s");
	CHECK(f, start_backend(f, 0, "happ-s-static") == 0, "static backend");
	snprintf(happ, sizeof(happ), "app %s\n\thost h.happ.test\n\timage " IMAGE_BOOT3 "\n"
	         "\tport 8080\n\tmax 1\n", f->app[0]);
	snprintf(sback, sizeof(sback), "backend 127.0.0.1:%d", f->beport[0]);
	CHECK(f, write_conf(f, conf, happ, f->app[1], sback) == 0, "config");
	CHECK(f, start_prescal(f, 0) == 0, "prescal does not listen");
	load_start(f, &ls, 1, "s.happ.test", "/name", 0, 1, NULL);
	for (i = 0; i < NHOLD; i++) {
		CHECK(f, (held[i] = tconn_open(f->port[0], 2000)) != NULL, "connect");
		CHECK(f, tsends(held[i], req) == 0, "send");
	}
	CHECK(f, dk_wait_count(f->app[0], NULL, 1, 5000) == 0, "h's instance was not created");

	/* h goes, s becomes an image */
	CHECK(f, write_conf(f, conf, "", f->app[1], "image " IMAGE) == 0, "config");
	t0 = now_ms();
	CHECK(f, reload(f, 0, 1) == 0, "no reload");
	for (i = 0; i < NHOLD; i++) {
		memset(r, 0, sizeof(*r));
		st[i] = tresp_read(held[i], r, 0, 25000) == 0 ? r->status : -1;
		ms[i] = (long)(now_ms() - t0);
		fast += st[i] == 503 && ms[i] < 2000;
		tresp_free(r);
		tconn_close(held[i]);
	}
	free(r);
	print_message("    h's held requests after the reload: %d %d %d %d %d in %ld..%ld ms\n",
	              st[0], st[1], st[2], st[3], st[4], ms[0], ms[NHOLD - 1]);
	CHECK(f, fast == NHOLD, "%d of %d held requests answered 503 within 2 s", fast, NHOLD);
	CHECK(f, dk_wait_count(f->app[0], NULL, 0, 20000) == 0, "h's containers left: %s",
	      dk_ids(f->app[0], buf, sizeof(buf)));
	CHECK(f, dk_wait_count(f->app[1], "running", 1, 20000) == 0, "s did not start: %s",
	      dk_ids(f->app[1], buf, sizeof(buf)));
	CHECK(f, hget(f->port[0], "s.happ.test", "/name", body, sizeof(body), 20000) == 200 &&
	      !strncmp(body, f->app[1], strlen(f->app[1])), "s answers '%s'", body);
	load_stop(f, &ls, "s");
	print_message("    h gone %lld ms after the reload; s: %ld requests, %ld failed, now "
	              "answered by %.*s\n", (long long)(now_ms() - t0), atomic_load(&ls.sent),
	              atomic_load(&ls.failed), (int)strcspn(body, "\n"), body);
	CHECK(f, atomic_load(&ls.failed) == 0, "%ld requests to s failed", atomic_load(&ls.failed));
}

/*
 * A reload removes app q while a request to it runs, and the next reload
 * (a second later, the old instance still draining) brings q back: the new
 * q must not take the old q's draining container for its own. The slow
 * request finishes, no request to the new q fails, and q ends with one
 * container.
 */
static void
test_reload_readd(void **state)
{
	struct fix *f = *state;
	const char *conf = "pull never\nscale_down_delay 1000\n"
	                   "app %s\n\thost s.happ.test\n\tbackend 127.0.0.1:%d\n%s";
	char q[256], buf[512];
	struct tresp *r = calloc(1, sizeof(*r));
	struct tconn *slow;
	struct load lq;
	int st;

	if (!have_docker)
		DOCKER_SKIP("no Docker daemon");
	CHECK(f, r != NULL, "calloc");
	name_app(f, 0, "s");
	name_app(f, 1, "q");
	CHECK(f, start_backend(f, 0, "happ-s-static") == 0, "static backend");
	snprintf(q, sizeof(q), "app %s\n\thost q.happ.test\n\timage " IMAGE "\n\tport 8080\n"
	         "\tmin 1\n", f->app[1]);
	CHECK(f, write_conf(f, conf, f->app[0], f->beport[0], q) == 0, "config");
	CHECK(f, start_prescal(f, 0) == 0, "prescal does not listen");
	CHECK(f, tproc_wait_log(f->p[0], READY, 1, 20000) == 0, "q not ready");
	CHECK(f, (slow = tconn_open(f->port[0], 2000)) && tsends(slow, "GET /slow?ms=4000 "
	      "HTTP/1.1\r\nHost: q.happ.test\r\n\r\n") == 0, "send");
	msleep(300);
	CHECK(f, write_conf(f, conf, f->app[0], f->beport[0], "") == 0, "config");
	CHECK(f, reload(f, 0, 1) == 0, "reload 1");
	msleep(1000);
	CHECK(f, write_conf(f, conf, f->app[0], f->beport[0], q) == 0, "config");
	CHECK(f, reload(f, 0, 2) == 0, "reload 2");
	load_start(f, &lq, 2, "q.happ.test", "/name", 0, 5, NULL);
	st = tresp_read(slow, r, 0, 10000) == 0 ? r->status : -1;
	tresp_free(r);
	free(r);
	tconn_close(slow);
	msleep(4000);
	load_stop(f, &lq, "q");
	print_message("    the slow request to the old q: %d; the new q: %ld requests, %ld failed; "
	              "q now: %s\n", st, atomic_load(&lq.sent), atomic_load(&lq.failed),
	              dk_ids(f->app[1], buf, sizeof(buf)));
	CHECK(f, st == 200, "the slow request: %d", st);
	CHECK(f, atomic_load(&lq.failed) == 0, "%ld of %ld requests to the new q failed",
	      atomic_load(&lq.failed), atomic_load(&lq.sent));
	CHECK(f, dk_wait_count(f->app[1], NULL, 1, 15000) == 0, "q: %s",
	      dk_ids(f->app[1], buf, sizeof(buf)));
}

/*
 * Two scaled apps, p (min 2) and q (min 1): a restart (SIGKILL, start
 * again) adopts both sets as they are; a crashed container of p is
 * replaced and q is not touched; SIGTERM removes both.
 */
static void
test_two_scaled(void **state)
{
	struct fix *f = *state;
	char before[2][512], after[2][512], buf[512], body[128], msg[160];
	struct ctr c[NCTR];
	int code, n;

	if (!have_docker)
		DOCKER_SKIP("no Docker daemon");
	name_app(f, 0, "p");
	name_app(f, 1, "q");
	CHECK(f, write_conf(f, "pull never\n"
	      "app %s\n\thost p.happ.test\n\timage " IMAGE "\n\tport 8080\n\tmin 2\n\tmax 2\n"
	      "app %s\n\thost q.happ.test\n\timage " IMAGE "\n\tport 8080\n\tmin 1\n\tmax 1\n",
	      f->app[0], f->app[1]) == 0, "config");
	CHECK(f, start_prescal(f, 0) == 0, "prescal does not listen");
	CHECK(f, tproc_wait_log(f->p[0], READY, 3, 20000) == 0, "3 instances not ready");
	for (int i = 0; i < 2; i++)
		dk_ids(f->app[i], before[i], sizeof(before[i]));

	/* restart: the same containers, nothing started, nothing removed */
	tproc_stop(f->p[0], SIGKILL);
	f->p[0] = NULL;
	CHECK(f, start_prescal(f, 1) == 0, "the second prescal does not listen");
	CHECK(f, tproc_wait_log(f->p[1], READY, 3, 20000) == 0, "adopted instances not ready");
	CHECK(f, tproc_log_count(f->p[1], "adopting instance") == 3, "%d adoptions logged",
	      tproc_log_count(f->p[1], "adopting instance"));
	msleep(1500);
	for (int i = 0; i < 2; i++) {
		dk_ids(f->app[i], after[i], sizeof(after[i]));
		print_message("    %s before: %s\n      after:  %s\n", i ? "q" : "p", before[i],
		              after[i]);
		CHECK(f, !strcmp(before[i], after[i]), "app %s changed across the restart",
		      f->app[i]);
	}
	CHECK(f, tproc_log_count(f->p[1], "scale up") == 0 &&
	      tproc_log_count(f->p[1], "removing") == 0, "the restarted prescal started or "
	      "removed containers");
	for (int i = 0; i < 2; i++) {
		CHECK(f, hget(f->port[1], i ? "q.happ.test" : "p.happ.test", "/name", body,
		      sizeof(body), 5000) == 200 && !strncmp(body, f->app[i], strlen(f->app[i])),
		      "app %s answers '%s'", f->app[i], body);
	}

	/* a crash in p: p replaces it, q keeps its container */
	n = dk_list(f->app[0], c, NCTR);
	CHECK(f, n == 2, "p: %s", before[0]);
	CHECK(f, sh("docker kill %s >/dev/null 2>&1", c[0].id) == 0, "docker kill");
	snprintf(msg, sizeof(msg), "instance %s died", c[0].name);
	CHECK(f, tproc_wait_log(f->p[1], msg, 1, 10000) == 0, "no '%s'", msg);
	CHECK(f, tproc_wait_log(f->p[1], READY, 4, 20000) == 0, "no replacement ready");
	CHECK(f, dk_wait_count(f->app[0], "running", 2, 10000) == 0 &&
	      dk_wait_count(f->app[0], NULL, 2, 10000) == 0, "p after the crash: %s",
	      dk_ids(f->app[0], buf, sizeof(buf)));
	print_message("    p after the crash: %s\n", dk_ids(f->app[0], buf, sizeof(buf)));
	CHECK(f, !strcmp(dk_ids(f->app[1], buf, sizeof(buf)), before[1]), "q changed: %s", buf);
	CHECK(f, strcmp(dk_ids(f->app[0], buf, sizeof(buf)), before[0]) != 0, "p unchanged");

	/* SIGTERM: both sets gone at exit */
	kill(f->p[1]->pid, SIGTERM);
	CHECK(f, tproc_wait(f->p[1], 30000) == 0, "prescal did not exit");
	code = WIFEXITED(f->p[1]->status) ? WEXITSTATUS(f->p[1]->status) : -1;
	print_message("    SIGTERM: exit %d; left: p [%s] q [%s]\n", code,
	              dk_ids(f->app[0], before[0], sizeof(before[0])),
	              dk_ids(f->app[1], before[1], sizeof(before[1])));
	CHECK(f, code == 0, "exit code %d", code);
	CHECK(f, !before[0][0] && !before[1][0], "containers left at exit");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_routing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_isolation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_under_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_bad_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_remove_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_readd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_scaled, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	if (getenv("INTEG_FILTER"))
		cmocka_set_test_filter(getenv("INTEG_FILTER"));
	return cmocka_run_group_tests_name("apps", tests, group_setup, group_teardown);
}
