/* See LICENSE file for copyright and license details. */
/*
 * scale_integ_test: prescal's scaling against a live dockerd. Each test
 * starts ./prescal (or $PRESCAL_BIN) with -i on a loopback port, drives it
 * with real HTTP requests, and watches the containers of its own set
 * ("pit-<pid>-<test>"; "hspec-<pid>-<test>" for the network tests, on
 * network "hspec-net-<pid>") with the docker CLI. Teardown kills what is
 * left of prescal and removes every container labelled with the test's
 * sets, and the network, container and image a test made, also after a
 * failed assertion.
 *
 * Without a reachable Docker daemon every test is skipped, unless
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
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "tclient.h"
#include "tdocker.h"
#include "util.h"

#define IMAGE      "prescal-test-backend:latest"
#define IMAGE_HC   "prescal-test-backend-hc:latest"
/* IMAGE_HC under a name of its own: a run from an older tree, whose backend
 * has no /sick, may rebuild IMAGE_HC on a shared daemon meanwhile */
#define IMAGE_SICK "prescal-test-backend-sick:latest"
#define NOIMAGE    "prescal-no-such-image:latest"
#define IMAGE_SLOW "prescal-test-backend-slow:latest"   /* BOOT_MS=2000 */
#define WOKE       " woke from paused, ready on "
#define PAUSED     " paused in "
#define WAKE_MAX   150            /* ms: a wake from paused answers within */
#define LOGMAX     (1 << 20)      /* prescal log bytes read back */
#define NPROC      3              /* prescal processes per test */
#define NSET       2              /* sets per test */
#define MAXERR     4              /* load errors remembered */
#define READY      " ready on 127.0.0.1:"

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

/* one test: its prescal processes, sets and config files */
struct fix {
	struct tproc *p[NPROC];     /* owned by tclient */
	int port[NPROC];
	int admin[NPROC];           /* admin port, 0: -a off */
	int cport[NPROC];           /* -p, the containers' port; 0: 8080 */
	char set[NSET][64];
	char conf[NPROC][64];
	int noname[NPROC];          /* start without -n: set s is the default name */
	char immutable[2][256];     /* files made chattr +i; teardown undoes it */
	char net[64];               /* a Docker network the test made, or "" */
	char ctr[64];               /* a container (not of a set) the test made, or "" */
	char image[96];             /* an image the test built, or "" */
};

/* a load generator: threads send GET path until the deadline */
struct load {
	int port;
	char req[128];
	int64_t until;
	atomic_long sent, failed;
	pthread_mutex_t lock;         /* protects err, nerr */
	char err[MAXERR][160];
	int nerr;
};

static const char *bin = "./prescal";
static int have_docker;
static char logbuf[LOGMAX];       /* test thread only */

/* docker */


/* index of the container called name in c[0..n), or -1 */
static int
dk_find(const struct ctr *c, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(c[i].name, name))
			return i;
	return -1;
}

/* "name state, ..." for messages */
static char *
dk_fmt(const struct ctr *c, int n, char *out, size_t sz)
{
	size_t k = 0;

	out[0] = '\0';
	for (int i = 0; i < n && k < sz; i++)
		k += snprintf(out + k, sz - k, "%s%s %s", i ? ", " : "", c[i].name, c[i].state);
	return out;
}

/* prescal processes and their logs */

static void
dump_logs(const struct fix *f)
{
	for (int i = 0; i < NPROC; i++) {
		if (!f->p[i])
			continue;
		tproc_log(f->p[i], logbuf, sizeof(logbuf));
		fprintf(stderr, "---- prescal %d log ----\n%s---- end ----\n", i, logbuf);
	}
}

/* the instances p's log says it scaled up by: the sum of B - A over its
 * "scale up A->B" lines */
static int
log_scaled_up(const struct tproc *p)
{
	const char *s = tproc_log(p, logbuf, sizeof(logbuf));
	int a, b, n = 0;

	while ((s = strstr(s, "scale up "))) {
		s += 9;
		if (sscanf(s, "%d->%d", &a, &b) == 2)
			n += b - a;
	}
	return n;
}

/* whether a line of p's log starts with "prescal: " prefix and contains
 * word; copies the first such line into out */
static int
log_line(const struct tproc *p, const char *prefix, const char *word, char *out, size_t n)
{
	char *s = tproc_log(p, logbuf, sizeof(logbuf)), *e;

	for (; *s; s = *e ? e + 1 : e) {
		e = s + strcspn(s, "\n");
		if (!strncmp(s, "prescal: ", 9) && !strncmp(s + 9, prefix, strlen(prefix)) &&
		    memmem(s, e - s, word, strlen(word))) {
			snprintf(out, n, "%.*s", (int)(e - s), s);
			return 1;
		}
	}
	return 0;
}

/* "pit-<pid>-<tag>" as set i */
static void
name_set(struct fix *f, int i, const char *tag)
{
	snprintf(f->set[i], sizeof(f->set[i]), "pit-%d-%s", (int)getpid(), tag);
}

/* starts prescal i for set s with a config file holding conf */
static int
start_prescal(struct fix *f, int i, int s, const char *image, int min, int max,
              int target, const char *conf)
{
	char path[256], img[256], listen[32], smin[16], smax[16], starget[16], admin[32] = "off";
	char cport[16] = "8080";
	char *argv[] = { path, "-q", "-a", admin, "-l", listen, "-i", img, "-p", cport,
	                 "-m", smin, "-M", smax, "-c", starget, "-f", f->conf[i],
	                 "-n", f->set[s], NULL };
	FILE *cf;
	int fd;

	snprintf(f->conf[i], sizeof(f->conf[i]), "/tmp/pit-conf-XXXXXX");
	if ((fd = mkstemp(f->conf[i])) < 0 || !(cf = fdopen(fd, "w"))) {
		f->conf[i][0] = '\0';
		return -1;
	}
	fputs(conf, cf);
	fclose(cf);
	if ((f->port[i] = free_port()) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s", bin);
	snprintf(img, sizeof(img), "%s", image);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", f->port[i]);
	if (f->admin[i])
		snprintf(admin, sizeof(admin), "127.0.0.1:%d", f->admin[i]);
	if (f->cport[i])
		snprintf(cport, sizeof(cport), "%d", f->cport[i]);
	snprintf(smin, sizeof(smin), "%d", min);
	snprintf(smax, sizeof(smax), "%d", max);
	snprintf(starget, sizeof(starget), "%d", target);
	if (f->noname[i]) {
		/* the name prescal gives itself (config.def.h), for the checks
		 * and the teardown */
		argv[LEN(argv) - 3] = NULL;
		snprintf(f->set[s], sizeof(f->set[s]), "prescal-127.0.0.1-%d", f->port[i]);
	}
	return (f->p[i] = tproc_start(argv, NULL, 1)) ? 0 : -1;
}

/* sends sig to prescal i and waits for it to exit; its exit code or -1 */
static int
stop_prescal(struct fix *f, int i, int sig, int timeout_ms)
{
	struct tproc *p = f->p[i];

	if (!p)
		return -1;
	if (p->pid > 0)
		kill(p->pid, sig);
	if (tproc_wait(p, timeout_ms) < 0)
		return -1;
	return WIFEXITED(p->status) ? WEXITSTATUS(p->status) : -1;
}

/* HTTP */

/* one GET on a fresh connection; the status (body into out) or -1 */
static int
get(int port, const char *path, char *out, size_t n, int timeout_ms)
{
	char req[256];
	struct tconn *c;
	struct tresp *r;
	int st = -1;

	if (out)
		out[0] = '\0';
	if (!(r = calloc(1, sizeof(*r))))
		return -1;
	if ((c = tconn_open(port, 2000))) {
		snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n"
		         "Connection: close\r\n\r\n", path);
		if (texchange(c, req, r, timeout_ms) == 0)
			st = r->status;
		if (st > 0 && out && r->body)
			snprintf(out, n, "%s", r->body);
		tresp_free(r);
		tconn_close(c);
	}
	free(r);
	return st;
}

/* GET path from the admin listener (Host: 127.0.0.1); the status or -1 */
static int
admin_get(int port, const char *path, char *out, size_t n)
{
	char req[256];
	struct tconn *c;
	struct tresp *r = calloc(1, sizeof(*r));
	int st = -1;

	out[0] = '\0';
	if (r && (c = tconn_open(port, 2000))) {
		snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		         "Connection: close\r\n\r\n", path);
		if (texchange(c, req, r, 5000) == 0)
			st = r->status;
		if (st > 0 && r->body)
			snprintf(out, n, "%s", r->body);
		tresp_free(r);
		tconn_close(c);
	}
	free(r);
	return st;
}

/* the value of the sample named name (with its labels) in a Prometheus
 * text body, whatever its app label (the first: app="...", which these
 * one-app tests leave out of name), or -1 */
static double
metric(const char *body, const char *name)
{
	const char *brace = strchr(name, '{'), *rest = brace ? brace + 1 : "}", *q;
	size_t k = brace ? (size_t)(brace - name) + 1 : strlen(name), r = strlen(rest);

	for (const char *p = body; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, name, k))
			continue;
		q = p + k;
		if (!brace && *q == ' ')
			return atof(q + 1);
		if (!brace && *q++ != '{')
			continue;
		if (!strncmp(q, "app=\"", 5) && (q = strchr(q + 5, '"')) && *++q == ',')
			q++;
		if (q && !strncmp(q, rest, r) && q[r] == ' ')
			return atof(q + r + 1);
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

/* client thread: keep-alive requests until the deadline; any non-200 fails */
static void *
load_thread(void *arg)
{
	struct load *l = arg;
	struct tconn *c = NULL;
	struct tresp *r = calloc(1, sizeof(*r));
	char v[64];
	int rc;

	while (r && now_ms() < l->until) {
		if (!c && !(c = tconn_open(l->port, 2000))) {
			atomic_fetch_add(&l->sent, 1);
			load_err(l, "connect: %s", strerror(errno));
			msleep(20);
			continue;
		}
		rc = texchange(c, l->req, r, 10000);
		atomic_fetch_add(&l->sent, 1);
		if (rc < 0)
			load_err(l, "no response: %s", r->err);
		else if (r->status != 200)
			load_err(l, "status %d: %.100s", r->status, r->head);
		if (rc < 0 || (tresp_hdr(r, "connection", v, sizeof(v)) &&
		    !strcasecmp(v, "close"))) {
			tconn_close(c);
			c = NULL;
		}
		tresp_free(r);
	}
	tconn_close(c);
	free(r);
	return NULL;
}

/* starts n load threads for ms milliseconds of GET path */
static void
load_start(struct load *l, pthread_t *t, int n, int port, const char *path, int ms)
{
	memset(l, 0, sizeof(*l));
	pthread_mutex_init(&l->lock, NULL);
	l->port = port;
	snprintf(l->req, sizeof(l->req), "GET %s HTTP/1.1\r\nHost: pit\r\n\r\n", path);
	l->until = now_ms() + ms;
	for (int i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, load_thread, l) != 0)
			abort();
}

static void
load_join(struct load *l, pthread_t *t, int n)
{
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < l->nerr; i++)
		print_message("    load error: %s\n", l->err[i]);
	pthread_mutex_destroy(&l->lock);
}

/* fixtures */

static int
group_setup(void **state)
{
	(void)state;
	if (getenv("PRESCAL_BIN"))
		bin = getenv("PRESCAL_BIN");
	if (docker_ping() < 0 || sh("docker version >/dev/null 2>&1") != 0) {
		if (docker_required()) {
			print_error("no Docker daemon at %s (or no docker CLI), and "
			            "PRESCAL_REQUIRE_DOCKER=1\n", docker_sock());
			return -1;
		}
		fprintf(stderr, "\n*** SKIPPED: no Docker daemon at %s (or no docker CLI): "
		        "every scaling integration test is skipped ***\n\n", docker_sock());
		return 0;
	}
	if (access(bin, X_OK) < 0) {
		print_error("%s: %s (run make prescal, from the source root)\n", bin,
		            strerror(errno));
		return -1;
	}
	if (sh("sh tests/mkimage.sh >&2") != 0 ||
	    sh("sh tests/mkimage.sh " IMAGE_HC " health >&2") != 0 ||
	    sh("sh tests/mkimage.sh " IMAGE_SICK " health >&2") != 0 ||
	    sh("printf 'FROM " IMAGE "\\nENV BOOT_MS=2000\\n' | DOCKER_BUILDKIT=0 "
	       "docker build -q -t " IMAGE_SLOW " - >/dev/null") != 0) {
		print_error("tests/mkimage.sh failed\n");
		return -1;
	}
	have_docker = 1;
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

	if (getenv("INTEG_VERBOSE"))
		dump_logs(f);
	tconn_close_all();
	tresp_free_all();
	for (int i = 0; i < NPROC; i++)
		tproc_stop(f->p[i], SIGKILL);
	for (int i = 0; i < 2; i++)
		if (f->immutable[i][0])
			sh("chattr -i '%s' >/dev/null 2>&1", f->immutable[i]);
	if (f->ctr[0])
		sh("docker rm -f %s >/dev/null 2>&1", f->ctr);
	for (int i = 0; i < NSET; i++)
		if (f->set[i][0])
			dk_rmset(f->set[i]);
	if (f->net[0])
		sh("docker network rm %s >/dev/null 2>&1", f->net);
	if (f->image[0])
		sh("docker rmi %s >/dev/null 2>&1", f->image);
	for (int i = 0; i < NPROC; i++)
		if (f->conf[i][0])
			unlink(f->conf[i]);
	free(f);
	return 0;
}

/* tests */

static void
test_scale_from_zero(void **state)
{
	struct fix *f = *state;
	struct load l;
	pthread_t t[16];
	int64_t t0, cold, up = -1, zero;
	int st, run, maxrun = 0, i;

	if (!have_docker)
		DOCKER_SKIP("no Docker daemon");
	name_set(f, 0, "zero");
	CHECK(f, start_prescal(f, 0, 0, IMAGE, 0, 3, 2,
	      "pull never\nscale_down_delay 1000\nidle_timeout 3000\n") == 0, "start");
	CHECK(f, wait_port(f->port[0], 10000) == 0, "prescal does not listen");
	CHECK(f, dk_count(f->set[0], NULL) == 0, "containers before the first request");

	/* cold start: the first request is held until an instance is ready */
	t0 = now_ms();
	st = get(f->port[0], "/", NULL, 0, 30000);
	cold = now_ms() - t0;
	print_message("    cold start: first request %d in %lld ms\n", st, (long long)cold);
	CHECK(f, st == 200, "first request: status %d", st);

	/* load: 16 clients, 100 ms each, target 2 in flight per instance */
	load_start(&l, t, LEN(t), f->port[0], "/slow?ms=100", 3000);
	t0 = now_ms();
	for (i = 0; now_ms() < l.until; i++) {
		if (up < 0 && tproc_log_count(f->p[0], READY) >= 2)
			up = now_ms() - t0;
		if (i % 4 == 0 && (run = dk_count(f->set[0], NULL)) > maxrun)
			maxrun = run;
		msleep(50);
	}
	load_join(&l, t, LEN(t));
	/* a slow host may finish the start after the load */
	if (up < 0 && tproc_wait_log(f->p[0], READY, 2, 10000) == 0)
		up = now_ms() - t0;
	print_message("    load: %ld requests, %ld failed, up to %d containers; "
	              "2nd instance ready %lld ms after the load began\n", atomic_load(&l.sent),
	              atomic_load(&l.failed), maxrun, (long long)up);
	CHECK(f, atomic_load(&l.sent) > 100, "only %ld requests", atomic_load(&l.sent));
	CHECK(f, atomic_load(&l.failed) == 0, "%ld of %ld requests failed",
	      atomic_load(&l.failed), atomic_load(&l.sent));
	CHECK(f, maxrun >= 2, "at most %d containers existed under load", maxrun);
	CHECK(f, up >= 0, "no second instance became ready");

	/* idle: one step down per second, then the last after 3 s idle */
	t0 = now_ms();
	st = dk_wait_count(f->set[0], NULL, 0, 12000);
	zero = now_ms() - t0;
	print_message("    back to 0 containers %lld ms after the load ended\n", (long long)zero);
	CHECK(f, st == 0, "still %d containers 12 s after the load", dk_count(f->set[0], NULL));
	CHECK(f, tproc_log_count(f->p[0], "scale down") >= 1, "no scale down logged");
}

/* issue 19: a ramp to 200 clients of a 50 ms app with -c 10 -M 8 reaches
 * 8 instances, even with 16 workers: what waits for a worker counts */
static void
test_ramp_reaches_max(void **state)
{
	struct fix *f = *state;
	static struct load l[10];
	static pthread_t t[10][20];
	int64_t t0, end, at8 = -1;
	int i, run, maxrun = 0;
	long sent = 0, failed = 0;

	if (!have_docker)
		skip();
	name_set(f, 0, "ramp");
	CHECK(f, start_prescal(f, 0, 0, IMAGE, 0, 8, 10,
	      "pull never\nthreads 16\nscale_down_delay 30000\n") == 0, "start");
	CHECK(f, wait_port(f->port[0], 10000) == 0, "prescal does not listen");
	t0 = now_ms();
	end = t0 + 12000;
	for (i = 0; i < 10; i++) {
		load_start(&l[i], t[i], 20, f->port[0], "/slow?ms=50", (int)(end - now_ms()));
		msleep(300);
	}
	while (now_ms() < end) {
		if ((run = dk_count(f->set[0], "running")) > maxrun)
			maxrun = run;
		if (at8 < 0 && tproc_log_count(f->p[0], READY) >= 8)
			at8 = now_ms() - t0;
		msleep(200);
	}
	for (i = 0; i < 10; i++) {
		load_join(&l[i], t[i], 20);
		sent += atomic_load(&l[i].sent);
		failed += atomic_load(&l[i].failed);
	}
	print_message("    ramp to 200 clients on 16 workers, -c 10 -M 8: %ld requests, %ld "
	              "failed, up to %d running; 8 instances ready %lld ms after the ramp "
	              "began\n", sent, failed, maxrun, (long long)at8);
	CHECK(f, failed == 0, "%ld of %ld requests failed", failed, sent);
	CHECK(f, at8 >= 0, "8 instances never became ready (at most %d running)", maxrun);
}

/* a long request on an instance that the scaler drains */
struct longreq {
	pthread_t t;
	int port, status;
	int64_t ms;
};

/* a POST: prescal never sends it twice, so a cut one ends with 502 */
static void *
longreq_run(void *arg)
{
	struct longreq *q = arg;
	struct tresp *r = calloc(1, sizeof(*r));
	struct tconn *c = tconn_open(q->port, 2000);
	int64_t t0 = now_ms();

	q->status = -1;
	if (r && c && texchange(c, "POST /slow?ms=8000 HTTP/1.1\r\nHost: pit\r\n"
	                        "Content-Length: 0\r\n\r\n", r, 15000) == 0)
		q->status = r->status;
	q->ms = now_ms() - t0;
	if (r)
		tresp_free(r);
	free(r);
	tconn_close(c);
	return NULL;
}

/* the drain_timeout key reaches the instance drain, and is a limit there:
 * a request longer than it on a draining instance is cut at the limit */
static void
test_instance_drain_limit(void **state)
{
	struct fix *f = *state;
	struct longreq q[2];
	struct load l;
	pthread_t t[4];
	int cut = -1, whole = -1;

	if (!have_docker)
		DOCKER_SKIP("no Docker daemon");
	name_set(f, 0, "dlim");
	CHECK(f, start_prescal(f, 0, 0, IMAGE, 1, 2, 2, "pull never\ndrain_timeout 1500\n"
	      "scale_down_delay 2500\nbackend_timeout 20000\n") == 0, "start");
	CHECK(f, wait_port(f->port[0], 10000) == 0, "prescal does not listen");
	CHECK(f, tproc_wait_log(f->p[0], READY, 1, 15000) == 0, "the first instance is not ready");
	/* 4 clients: a second instance */
	load_start(&l, t, LEN(t), f->port[0], "/slow?ms=300", 3000);
	CHECK(f, tproc_wait_log(f->p[0], READY, 2, 15000) == 0, "no second instance");
	/* the short load ends; then one long request on each instance (least
	 * outstanding): 2 in flight at target 2 want 1 instance, and after the
	 * scale-down delay one of the two drains with its request in flight */
	load_join(&l, t, LEN(t));
	msleep(400);
	for (int i = 0; i < 2; i++) {
		q[i] = (struct longreq){ .port = f->port[0] };
		CHECK(f, pthread_create(&q[i].t, NULL, longreq_run, &q[i]) == 0, "thread");
		msleep(100);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(q[i].t, NULL);
		if (q[i].status == 200 && q[i].ms >= 7900)
			whole = i;
		else
			cut = i;
	}
	print_message("    drain_timeout 1500: long requests ended %d after %lld ms and %d after "
	              "%lld ms\n", q[0].status, (long long)q[0].ms, q[1].status, (long long)q[1].ms);
	CHECK(f, cut >= 0, "no long request was cut: the drain waited for it");
	CHECK(f, q[cut].ms < 6500, "the cut request ended after %lld ms", (long long)q[cut].ms);
	CHECK(f, tproc_log_count(f->p[0], "drain timeout with 1 requests in flight") == 1,
	      "no drain time-out logged");
	(void)whole;
}

static void
test_kill_under_load(void **state)
{
	struct fix *f = *state;
	struct ctr c[NCTR];
	struct load l;
	pthread_t t[8];
	char victim[96] = "", died[160], buf[512];
	int n, i;

	if (!have_docker)
		DOCKER_SKIP("no Docker daemon");
	name_set(f, 0, "kill");
	CHECK(f, start_prescal(f, 0, 0, IMAGE, 2, 3, 10, "pull never\n") == 0, "start");
	CHECK(f, tproc_wait_log(f->p[0], READY, 2, 20000) == 0, "2 instances not ready");

	/* 8 clients for 4 s; one instance is killed after 1 s */
	load_start(&l, t, LEN(t), f->port[0], "/slow?ms=20", 4000);
	msleep(1000);
	n = dk_list(f->set[0], c, NCTR);
	for (i = 0; i < n && !victim[0]; i++)
		if (!strcmp(c[i].state, "running"))
			snprintf(victim, sizeof(victim), "%s", c[i].name);
	if (victim[0])
		sh("docker kill %s >/dev/null 2>&1", victim);
	load_join(&l, t, LEN(t));
	print_message("    kill under load: killed %s; %ld requests sent, %ld failed\n",
	              victim, atomic_load(&l.sent), atomic_load(&l.failed));
	CHECK(f, victim[0], "no running instance to kill: %s", dk_fmt(c, n, buf, sizeof(buf)));
	CHECK(f, atomic_load(&l.sent) > 100, "only %ld requests", atomic_load(&l.sent));
	CHECK(f, atomic_load(&l.failed) == 0, "%ld of %ld requests failed",
	      atomic_load(&l.failed), atomic_load(&l.sent));

	/* the dead one goes (Docker's die event or the passive health checks,
	 * whichever sees it first), a replacement comes */
	snprintf(died, sizeof(died), "instance %s ", victim);
	for (i = 0; i < 50 && !log_line(f->p[0], died, ": removing", buf, sizeof(buf)); i++)
		msleep(100);
	CHECK(f, log_line(f->p[0], died, ": removing", buf, sizeof(buf)),
	      "no 'instance %s ...: removing' logged", victim);
	print_message("    %s\n", buf);
	for (i = 0; i < 50; i++) {
		n = dk_list(f->set[0], c, NCTR);
		if (n >= 0 && dk_find(c, n, victim) < 0)
			break;
		msleep(100);
	}
	CHECK(f, n >= 0 && dk_find(c, n, victim) < 0, "%s not removed: %s", victim,
	      dk_fmt(c, n, buf, sizeof(buf)));
	CHECK(f, tproc_wait_log(f->p[0], READY, 3, 15000) == 0, "no replacement became ready");
	CHECK(f, dk_wait_count(f->set[0], "running", 2, 5000) == 0,
	      "not 2 running at the end: %s", dk_fmt(c, dk_list(f->set[0], c, NCTR), buf,
	      sizeof(buf)));
}

/* the host port prescal routes to for instance name, from its ready line; -1 */
static int
ready_port(const struct tproc *p, const char *name)
{
	char prefix[128], line[512], *s;

	snprintf(prefix, sizeof(prefix), "instance %s ", name);
	if (!log_line(p, prefix, READY, line, sizeof(line)) || !(s = strstr(line, READY)))
		return -1;
	return atoi(s + strlen(READY));
}

/* issue 20: an instance that Docker marks unhealthy leaves selection and is
 * replaced, and no client request fails meanwhile: the other one serves.
 * /sick makes the backend's HEALTHCHECK fail while every route still
 * answers, so only Docker's health_status event can tell prescal */
static void
test_unhealthy_replaced(void **state)
{
	static char body[65536];
	struct fix *f = *state;
	struct ctr c[NCTR];
	struct load l;
	pthread_t t[2];
	char victim[96] = "", buf[512], line[512];
	int64_t t0, gone = -1;
	double unhealthy, ready, died;
	int n, i, hport, st;

	if (!have_docker)
		DOCKER_SKIP("no Docker daemon");
	name_set(f, 0, "htests-sick");
	CHECK(f, (f->admin[0] = free_port()) > 0, "admin port");
	CHECK(f, start_prescal(f, 0, 0, IMAGE_SICK, 2, 2, 10, "pull never\n") == 0, "start");
	CHECK(f, tproc_wait_log(f->p[0], READY, 2, 30000) == 0, "2 instances not ready");
	n = dk_list(f->set[0], c, NCTR);
	for (i = 0; i < n && !victim[0]; i++)
		if (!strcmp(c[i].state, "running"))
			snprintf(victim, sizeof(victim), "%s", c[i].name);
	CHECK(f, victim[0], "no running instance: %s", dk_fmt(c, n, buf, sizeof(buf)));
	CHECK(f, (hport = ready_port(f->p[0], victim)) > 0, "no ready line for %s", victim);

	/* 2 clients through prescal while the victim's health checks fail */
	load_start(&l, t, LEN(t), f->port[0], "/slow?ms=10", 10000);
	t0 = now_ms();
	st = get(hport, "/sick", NULL, 0, 5000);
	snprintf(line, sizeof(line), "instance %s became unhealthy: removing", victim);
	tproc_wait_log(f->p[0], line, 1, 15000);
	for (i = 0; i < 100; i++) {
		n = dk_list(f->set[0], c, NCTR);
		if (n >= 0 && dk_find(c, n, victim) < 0) {
			gone = now_ms() - t0;
			break;
		}
		msleep(100);
	}
	load_join(&l, t, LEN(t));
	print_message("    /sick on %s (port %d): %d; removed %lld ms later; %ld requests during, "
	              "%ld failed\n", victim, hport, st, (long long)gone, atomic_load(&l.sent),
	              atomic_load(&l.failed));
	CHECK(f, st == 200, "/sick on the instance: status %d", st);
	CHECK(f, tproc_log_count(f->p[0], line) == 1, "no '%s' logged", line);
	CHECK(f, gone >= 0, "%s not removed: %s", victim, dk_fmt(c, n, buf, sizeof(buf)));
	CHECK(f, atomic_load(&l.sent) > 100, "only %ld requests", atomic_load(&l.sent));
	CHECK(f, atomic_load(&l.failed) == 0, "%ld of %ld requests failed",
	      atomic_load(&l.failed), atomic_load(&l.sent));

	/* a replacement, healthy, and the reason in /metrics */
	CHECK(f, tproc_wait_log(f->p[0], READY, 3, 30000) == 0, "no replacement became ready");
	CHECK(f, dk_wait_count(f->set[0], "running", 2, 5000) == 0, "not 2 running at the end: %s",
	      dk_fmt(c, dk_list(f->set[0], c, NCTR), buf, sizeof(buf)));
	CHECK(f, admin_get(f->admin[0], "/metrics", body, sizeof(body)) == 200, "/metrics");
	unhealthy = metric(body, "prescal_instance_replacements_total{reason=\"unhealthy\"}");
	died = metric(body, "prescal_instance_replacements_total{reason=\"died\"}");
	ready = metric(body, "prescal_instances{state=\"ready\"}");
	print_message("    /metrics: replacements unhealthy %.0f, died %.0f; instances ready "
	              "%.0f\n", unhealthy, died, ready);
	CHECK(f, unhealthy == 1 && died == 0, "replacements: unhealthy %.0f, died %.0f; want 1, 0",
	      unhealthy, died);
	CHECK(f, ready == 2, "instances ready %.0f, want 2", ready);
}

/* issue 20: removals that Docker refuses are tried again until they work.
 * An immutable file in a container's directory makes dockerd's DELETE fail
 * with 500 ("unable to remove filesystem ... operation not permitted") and
 * leaves the container dead. Two instances die, both removals fail; the
 * files stay immutable through one reconcile pass (RECONCILE_MS, 10 s), so
 * that pass fails too, then Docker may remove them: the next pass must
 * remove both as retries, none as a leftover found by listing the set */
static void
test_remove_retried(void **state)
{
	struct fix *f = *state;
	struct ctr c[NCTR];
	char victim[2][96], id[2][80], buf[512], line[512], st[2][32] = { "", "" };
	int64_t t0, gone = -1;
	int n, i, k;

	if (!have_docker)
		DOCKER_SKIP("no Docker daemon");
	name_set(f, 0, "htests-rmfail");
	CHECK(f, start_prescal(f, 0, 0, IMAGE, 2, 2, 10, "pull never\n") == 0, "start");
	CHECK(f, tproc_wait_log(f->p[0], READY, 2, 20000) == 0, "2 instances not ready");
	n = dk_list(f->set[0], c, NCTR);
	CHECK(f, n == 2, "%d containers: %s", n, dk_fmt(c, n, buf, sizeof(buf)));
	for (k = 0; k < 2; k++) {
		snprintf(victim[k], sizeof(victim[k]), "%s", c[k].name);
		snprintf(id[k], sizeof(id[k]), "%s", c[k].id);
		CHECK(f, sh_line(f->immutable[k], sizeof(f->immutable[k]), "docker inspect -f "
		      "'{{.ResolvConfPath}}' %s", id[k]) == 0 && f->immutable[k][0] == '/',
		      "resolv.conf path of %s", victim[k]);
		if (sh("chattr +i '%s' 2>/dev/null", f->immutable[k]) != 0) {
			f->immutable[k][0] = '\0';
			CHECK(f, !docker_required(), "chattr +i on a container's resolv.conf failed "
			      "(not root, or a file system without the immutable flag)");
			DOCKER_SKIP("chattr +i not possible here");
		}
	}

	/* they die; their removals fail and are put off */
	CHECK(f, sh("docker kill %s %s >/dev/null 2>&1", victim[0], victim[1]) == 0, "docker kill");
	for (k = 0; k < 2; k++) {
		snprintf(line, sizeof(line), "instance %s: remove: ", victim[k]);
		CHECK(f, tproc_wait_log(f->p[0], line, 1, 10000) == 0,
		      "no failed removal of %s logged",
		      victim[k]);
		CHECK(f, log_line(f->p[0], line, "will try again", buf, sizeof(buf)),
		      "the failed removal of %s is not to be tried again", victim[k]);
	}
	print_message("    %s\n", buf);
	msleep(11000);  /* a reconcile pass, whose retries fail */
	for (k = 0; k < 2; k++) {
		sh_line(st[k], sizeof(st[k]), "docker inspect -f '{{.State.Status}}' %s", id[k]);
		CHECK(f, st[k][0], "%s is gone, while its directory is immutable", victim[k]);
	}

	/* Docker can remove them now: the next reconcile does */
	for (k = 0; k < 2; k++) {
		sh("chattr -i '%s'", f->immutable[k]);
		f->immutable[k][0] = '\0';
	}
	t0 = now_ms();
	for (i = 0; i < 150; i++) {
		n = dk_list(f->set[0], c, NCTR);
		if (n >= 0 && dk_find(c, n, victim[0]) < 0 && dk_find(c, n, victim[1]) < 0) {
			gone = now_ms() - t0;
			break;
		}
		msleep(100);
	}
	print_message("    %s and %s were %s and %s 11 s after the failed removals; both gone "
	              "%lld ms after Docker could remove them\n", victim[0], victim[1], st[0], st[1],
	              (long long)gone);
	CHECK(f, gone >= 0, "not both removed 15 s later: %s", dk_fmt(c, n, buf, sizeof(buf)));
	for (k = 0; k < 2; k++) {
		snprintf(line, sizeof(line), "container %.12s removed on a later try", id[k]);
		CHECK(f, tproc_wait_log(f->p[0], line, 1, 2000) == 0, "no '%s' logged", line);
	}
	CHECK(f, tproc_log_count(f->p[0], "removing leftover container") == 0,
	      "removed as a leftover, not by a retry");
	CHECK(f, tproc_wait_log(f->p[0], READY, 4, 20000) == 0, "no replacements became ready");
}

static void
test_restart_adoption(void **state)
{
	struct fix *f = *state;
	struct ctr c[NCTR];
	char before[512], after[512], leftover[160], body[256], buf[512];
	int n, st, ok = 0;

	if (!have_docker)
		DOCKER_SKIP("no Docker daemon");
	name_set(f, 0, "adopt");
	CHECK(f, start_prescal(f, 0, 0, IMAGE, 2, 3, 10, "pull never\n") == 0, "start");
	CHECK(f, tproc_wait_log(f->p[0], READY, 2, 20000) == 0, "2 instances not ready");
	dk_ids(f->set[0], before, sizeof(before));
	tproc_stop(f->p[0], SIGKILL);
	f->p[0] = NULL;

	/* an exited container of the set, to be removed at start-up */
	CHECK(f, sh("docker run -d --label prescal.managed=true --label prescal.name=%s "
	      "--name %s-99 " IMAGE " >/dev/null 2>&1", f->set[0], f->set[0]) == 0,
	      "docker run %s-99", f->set[0]);
	CHECK(f, sh("docker stop -t 2 %s-99 >/dev/null 2>&1", f->set[0]) == 0, "docker stop");
	n = dk_list(f->set[0], c, NCTR);
	CHECK(f, n == 3, "before the restart: %s", dk_fmt(c, n, buf, sizeof(buf)));

	/* the second prescal adopts the two, removes the exited one */
	CHECK(f, start_prescal(f, 1, 0, IMAGE, 2, 3, 10, "pull never\n") == 0, "restart");
	CHECK(f, tproc_wait_log(f->p[1], READY, 2, 20000) == 0, "adopted instances not ready");
	snprintf(leftover, sizeof(leftover), "removing leftover container %s-99", f->set[0]);
	CHECK(f, tproc_log_count(f->p[1], leftover) == 1, "no '%s' logged", leftover);
	CHECK(f, tproc_log_count(f->p[1], "adopting instance") == 2, "not 2 adoptions logged");
	msleep(1500);
	dk_ids(f->set[0], after, sizeof(after));
	print_message("    before: %s\n    after:  %s\n", before, after);
	CHECK(f, !strcmp(before, after), "containers changed across the restart");
	CHECK(f, tproc_log_count(f->p[1], "scale up") == 0, "the restarted prescal started more");
	for (int i = 0; i < 10; i++) {
		st = get(f->port[1], "/name", body, sizeof(body), 5000);
		ok += st == 200 && !strncmp(body, f->set[0], strlen(f->set[0]));
	}
	CHECK(f, ok == 10, "%d of 10 requests after the restart answered 200", ok);
}

static void
test_sigterm_cleanup(void **state)
{
	struct fix *f = *state;
	struct ctr c[NCTR];
	char buf[512];
	int code, n;

	if (!have_docker)
		DOCKER_SKIP("no Docker daemon");
	name_set(f, 0, "term");
	name_set(f, 1, "keep");

	/* SIGTERM: exit 0, nothing of the set left at exit */
	CHECK(f, start_prescal(f, 0, 0, IMAGE, 2, 3, 10, "pull never\n") == 0, "start");
	CHECK(f, tproc_wait_log(f->p[0], READY, 2, 20000) == 0, "2 instances not ready");
	code = stop_prescal(f, 0, SIGTERM, 30000);
	n = dk_list(f->set[0], c, NCTR);
	print_message("    SIGTERM: exit %d; at exit: [%s]\n", code, dk_fmt(c, n, buf, sizeof(buf)));
	CHECK(f, code == 0, "exit code %d", code);
	CHECK(f, n == 0, "containers left when prescal had exited: %s", buf);

	/* keep_on_exit 1: exit 0, both still running */
	CHECK(f, start_prescal(f, 1, 1, IMAGE, 2, 3, 10, "pull never\nkeep_on_exit 1\n") == 0,
	      "start keep");
	CHECK(f, tproc_wait_log(f->p[1], READY, 2, 20000) == 0, "2 instances not ready (keep)");
	code = stop_prescal(f, 1, SIGTERM, 30000);
	n = dk_list(f->set[1], c, NCTR);
	print_message("    keep_on_exit 1: exit %d; at exit: [%s]\n", code,
	              dk_fmt(c, n, buf, sizeof(buf)));
	CHECK(f, code == 0, "exit code %d (keep)", code);
	CHECK(f, dk_count(f->set[1], "running") == 2, "keep_on_exit: %s", buf);
	CHECK(f, tproc_log_count(f->p[1], "keeping the containers") == 1, "no 'keeping' logged");
}

/* one held-queue client */
struct held {
	int port;
	pthread_barrier_t *go;
	int status, retry;
	int64_t ms;
	char err[128];
};

static void *
held_thread(void *arg)
{
	struct held *h = arg;
	struct tresp *r = calloc(1, sizeof(*r));
	struct tconn *c = tconn_open(h->port, 2000);
	char v[32];
	int64_t t0;

	pthread_barrier_wait(h->go);
	t0 = now_ms();
	h->status = -1;
	if (!r || !c)
		snprintf(h->err, sizeof(h->err), "connect failed");
	else if (texchange(c, "GET / HTTP/1.1\r\nHost: pit\r\n\r\n", r, 10000) < 0)
		snprintf(h->err, sizeof(h->err), "%s", r->err);
	else
		h->status = r->status;
	h->ms = now_ms() - t0;
	h->retry = r && h->status > 0 && tresp_hdr(r, "retry-after", v, sizeof(v)) != NULL;
	if (r)
		tresp_free(r);
	tconn_close(c);
	free(r);
	return NULL;
}

static void
test_hold_queue_full(void **state)
{
	struct fix *f = *state;
	struct held h[4];
	pthread_t t[4];
	pthread_barrier_t go;
	int fast = 0, held = 0, i;

	if (!have_docker)
		DOCKER_SKIP("no Docker daemon");
	name_set(f, 0, "hold");
	/* readiness never comes: the ready path answers 500 */
	CHECK(f, start_prescal(f, 0, 0, IMAGE, 0, 1, 10, "pull never\nhold_max 2\n"
	      "hold_timeout 3000\nready_path /status/500\nstart_timeout 20000\n") == 0, "start");
	CHECK(f, wait_port(f->port[0], 10000) == 0, "prescal does not listen");
	pthread_barrier_init(&go, NULL, LEN(t));
	for (i = 0; i < (int)LEN(t); i++) {
		h[i] = (struct held){ .port = f->port[0], .go = &go };
		if (pthread_create(&t[i], NULL, held_thread, &h[i]) != 0)
			abort();
	}
	for (i = 0; i < (int)LEN(t); i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&go);
	for (i = 0; i < (int)LEN(t); i++) {
		print_message("    held request %d: status %d after %lld ms%s%s\n", i, h[i].status,
		              (long long)h[i].ms, h[i].retry ? ", Retry-After" : "", h[i].err);
		if (h[i].status == 503 && h[i].retry && h[i].ms < 1000)
			fast++;
		else if (h[i].status == 503 && h[i].retry && h[i].ms >= 2500 && h[i].ms <= 5000)
			held++;
	}
	CHECK(f, fast == 2, "%d requests refused at once (want 2)", fast);
	CHECK(f, held == 2, "%d requests held ~3 s then 503 with Retry-After (want 2)", held);
	CHECK(f, tproc_wait(f->p[0], 0) < 0, "prescal exited");
}

/* one request with the given Accept on a fresh connection: its status,
 * how long it took, and whether it was the self-reloading page with
 * Retry-After */
static int
get_accept(int port, const char *accept, long *ms, int *page)
{
	char req[256], v[64];
	struct tconn *c;
	struct tresp *r = calloc(1, sizeof(*r));
	int64_t t0 = now_ms();
	int st = -1;

	*page = 0;
	if (r && (c = tconn_open(port, 2000))) {
		snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: pit\r\nAccept: %s\r\n\r\n",
		         accept);
		if (texchange(c, req, r, 10000) == 0) {
			st = r->status;
			*page = tresp_hdr(r, "retry-after", v, sizeof(v)) && r->body &&
			        strstr(r->body, "http-equiv=\"refresh\"");
		}
		tresp_free(r);
		tconn_close(c);
	}
	free(r);
	*ms = (long)(now_ms() - t0);
	return st;
}

/* starting_page 1: while no instance is ready, a browser GET gets the
 * reloading 503 page at once; any other request is held. With the
 * default 0 the browser GET is held too */
static void
test_starting_page(void **state)
{
	static const char *const base = "pull never\nhold_timeout 2000\n"
	                                "ready_path /status/500\nstart_timeout 20000\n";
	struct fix *f = *state;
	char conf[256];
	long ms[3];
	int st[3], page[3];

	if (!have_docker)
		DOCKER_SKIP("no Docker daemon");
	name_set(f, 0, "page");
	for (int on = 0; on <= 1; on++) {
		snprintf(conf, sizeof(conf), "%sstarting_page %d\n", base, on);
		CHECK(f, start_prescal(f, on, 0, IMAGE, 0, 1, 10, conf) == 0, "start");
		CHECK(f, wait_port(f->port[on], 10000) == 0, "prescal does not listen");
		st[on] = get_accept(f->port[on], "text/html,*/*;q=0.8", &ms[on], &page[on]);
		if (on)
			st[2] = get_accept(f->port[on], "application/json", &ms[2], &page[2]);
		stop_prescal(f, on, SIGTERM, 30000);
	}
	print_message("    starting_page 0: browser GET %d after %ld ms; starting_page 1: browser "
	              "GET %d after %ld ms%s, other GET %d after %ld ms\n", st[0], ms[0], st[1],
	              ms[1], page[1] ? " (reloading page, Retry-After)" : "", st[2], ms[2]);
	CHECK(f, st[0] == 503 && ms[0] >= 1800 && !page[0], "starting_page 0: browser GET "
	      "%d after %ld ms, want held ~2000 ms then 503", st[0], ms[0]);
	CHECK(f, st[1] == 503 && ms[1] < 1000 && page[1], "starting_page 1: browser GET %d "
	      "after %ld ms, page %d; want the page at once", st[1], ms[1], page[1]);
	CHECK(f, st[2] == 503 && ms[2] >= 1800 && !page[2], "starting_page 1: other GET %d "
	      "after %ld ms, want held ~2000 ms then 503", st[2], ms[2]);
}

/* sequential keep-alive GETs to port for ms: one in flight at a time;
 * returns how many were answered 200 */
static long
sequential(int port, int ms)
{
	struct tresp *r = calloc(1, sizeof(*r));
	struct tconn *c = tconn_open(port, 2000);
	int64_t until = now_ms() + ms;
	long ok = 0;

	while (r && c && now_ms() < until) {
		if (texchange(c, "GET / HTTP/1.1\r\nHost: pit\r\n\r\n", r, 5000) < 0)
			break;
		ok += r->status == 200;
		tresp_free(r);
	}
	tconn_close(c);
	free(r);
	return ok;
}

/* what the admin listener says after the rps prescal (i) scaled to 3:
 * the gauges, the scale-ups and cold starts its log shows, and each
 * running container in /status */
static void
check_admin(struct fix *f, int i)
{
	static char body[65536];
	struct ctr c[NCTR];
	char want[96];
	double ready, target, up, cold;
	int n, ups = log_scaled_up(f->p[i]), readies = tproc_log_count(f->p[i], READY);

	CHECK(f, admin_get(f->admin[i], "/metrics", body, sizeof(body)) == 200, "/metrics");
	ready = metric(body, "prescal_instances{state=\"ready\"}");
	target = metric(body, "prescal_scale_target");
	up = metric(body, "prescal_scale_events_total{direction=\"up\",reason=\"load\"}");
	cold = metric(body, "prescal_cold_start_seconds_count");
	print_message("    /metrics: instances ready %.0f, scale target %.0f, scaled up by %.0f "
	              "(log: %d), cold starts %.0f (log: %d ready)\n", ready, target, up, ups, cold,
	              readies);
	CHECK(f, ready == 3 && target == 3, "instances ready %.0f, target %.0f; want 3, 3", ready,
	      target);
	/* the counter counts instances, not decisions: 0->1 then 1->3 is 3 */
	CHECK(f, up == ups && ups >= 3, "scale-up events %.0f, the log's steps add to %d", up,
	      ups);
	CHECK(f, cold == readies, "cold starts %.0f, the log has %d ready", cold, readies);
	CHECK(f, admin_get(f->admin[i], "/status", body, sizeof(body)) == 200, "/status");
	CHECK(f, strstr(body, "\"want\":3,\"ready\":3,\"starting\":0"), "/status scaler: %s",
	      body);
	n = dk_list(f->set[i], c, NCTR);
	CHECK(f, n == 3, "%d containers", n);
	for (int k = 0; k < n; k++) {
		snprintf(want, sizeof(want), "\"container\":\"%s", c[k].id);  /* a prefix */
		CHECK(f, strstr(body, want), "/status lacks %s: %s", c[k].id, body);
	}
	CHECK(f, !strstr(body, "\"state\":\"starting\""), "/status: %s", body);
}

/* metric rps end to end: one request in flight at a time, hundreds a
 * second. Scaled on concurrency (-c 10) that never needs a second
 * instance; scaled on rps with target_rps 20 it needs the maximum (3).
 * Then the admin content after that scaling episode (check_admin()) */
static void
test_metric_rps(void **state)
{
	static const char *const confs[] = { "pull never\n",
	                                      "pull never\nmetric rps\ntarget_rps 20\n" };
	struct fix *f = *state;
	long n[2];
	int up[2], ctrs[2];

	if (!have_docker)
		DOCKER_SKIP("no Docker daemon");
	for (int i = 0; i < 2; i++) {
		name_set(f, i, i ? "rps" : "conc");
		CHECK(f, (f->admin[i] = free_port()) > 0, "admin port");
		CHECK(f, start_prescal(f, i, i, IMAGE, 1, 3, 10, confs[i]) == 0, "start");
		CHECK(f, tproc_wait_log(f->p[i], READY, 1, 20000) == 0, "no instance ready");
		n[i] = sequential(f->port[i], 6000);
		tproc_wait_log(f->p[i], READY, 3, i ? 10000 : 0);
		up[i] = tproc_log_count(f->p[i], "scale up");
		ctrs[i] = dk_count(f->set[i], "running");
		print_message("    metric %s: %ld sequential requests in 6 s (%ld/s); %d scale-ups "
		              "after the first, %d running\n", i ? "rps (target_rps 20)" :
		              "concurrency (-c 10)", n[i], n[i] / 6, up[i] - 1, ctrs[i]);
		CHECK(f, n[i] > 6 * 60 * 3, "only %ld requests: too few to need 3 instances", n[i]);
	}
	CHECK(f, up[0] == 1 && ctrs[0] == 1, "concurrency: %d scale-ups, %d running; one "
	      "request in flight needs one instance", up[0], ctrs[0]);
	CHECK(f, ctrs[1] == 3, "rps: %d running, want 3 (the maximum)", ctrs[1]);
	check_admin(f, 1);
}

/* start_timeout: an instance that is not ready in time is removed and
 * another started in its place, again and again; the replacements are
 * counted under reason "not_ready", and no container is left behind */
static void
test_start_timeout_retry(void **state)
{
	static char body[65536];
	struct fix *f = *state;
	int64_t until;
	int late, made, left;
	double nr;

	if (!have_docker)
		DOCKER_SKIP("no Docker daemon");
	name_set(f, 0, "late");
	CHECK(f, (f->admin[0] = free_port()) > 0, "admin port");
	/* the ready path answers 500: never ready */
	CHECK(f, start_prescal(f, 0, 0, IMAGE, 1, 1, 10, "pull never\nready_path /status/500\n"
	      "start_timeout 1500\n") == 0, "start");
	until = now_ms() + 20000;
	while (tproc_log_count(f->p[0], "not ready within 1500 ms") < 2 && now_ms() < until)
		msleep(100);
	late = tproc_log_count(f->p[0], "not ready within 1500 ms");
	made = log_scaled_up(f->p[0]);
	CHECK(f, admin_get(f->admin[0], "/metrics", body, sizeof(body)) == 200, "/metrics");
	nr = metric(body, "prescal_instance_replacements_total{reason=\"not_ready\"}");
	print_message("    start_timeout 1500: %d timed out, %.0f replaced (not_ready), %d "
	              "started by scaling\n", late, nr, made);
	CHECK(f, late >= 2, "%d instances timed out in 20 s; want a retry that times out too",
	      late);
	CHECK(f, nr >= 1 && nr <= late, "not_ready replacements %.0f for %d time-outs", nr, late);
	CHECK(f, stop_prescal(f, 0, SIGTERM, 30000) == 0, "exit code after SIGTERM");
	left = dk_count(f->set[0], NULL);
	CHECK(f, left == 0, "%d containers of the set left", left);
}

/* pull missing: an image present locally is used as it is (no pull); a
 * missing one is pulled, and when the pull fails prescal exits 1 */
static void
test_pull_missing(void **state)
{
	struct fix *f = *state;
	int code, st;

	if (!have_docker)
		DOCKER_SKIP("no Docker daemon");
	name_set(f, 0, "pull");
	CHECK(f, start_prescal(f, 0, 0, IMAGE, 1, 1, 10, "pull missing\n") == 0, "start");
	CHECK(f, tproc_wait_log(f->p[0], READY, 1, 20000) == 0,
	      "the local image's instance not ready");
	st = get(f->port[0], "/", NULL, 0, 5000);
	CHECK(f, st == 200, "status %d", st);
	CHECK(f, tproc_log_count(f->p[0], "pulling image") == 0, "pulled a local image");
	name_set(f, 1, "pullno");
	CHECK(f, sh("docker image inspect " NOIMAGE " >/dev/null 2>&1") != 0, NOIMAGE " exists");
	CHECK(f, start_prescal(f, 1, 1, NOIMAGE, 1, 1, 10, "pull missing\n") == 0, "start");
	code = stop_prescal(f, 1, 0, 30000);
	print_message("    pull missing: local image served with %d pulls; missing image: %d "
	              "pulls, exit %d\n", tproc_log_count(f->p[0], "pulling image"),
	              tproc_log_count(f->p[1], "pulling image"), code);
	CHECK(f, tproc_log_count(f->p[1], "pulling image " NOIMAGE) == 1, "no pull of " NOIMAGE);
	CHECK(f, code == 1, "exit code %d (want 1)", code);
	CHECK(f, dk_count(f->set[1], NULL) == 0, "a container was created");
}

/* host_network 1: the container runs in the host's network namespace and
 * listens on the host's port -p; nothing is published */
static void
test_host_network(void **state)
{
	struct fix *f = *state;
	char mode[32] = "", ports[64] = "", body[128] = "", want[96];
	int st, direct;

	if (!have_docker)
		DOCKER_SKIP("no Docker daemon");
	name_set(f, 0, "hostnet");
	CHECK(f, (f->cport[0] = free_port()) > 0, "port");
	CHECK(f, start_prescal(f, 0, 0, IMAGE, 1, 1, 10, "pull never\nhost_network 1\n") == 0,
	      "start");
	snprintf(want, sizeof(want), " ready on 127.0.0.1:%d ", f->cport[0]);
	CHECK(f, tproc_wait_log(f->p[0], want, 1, 20000) == 0,
	      "no instance ready on the host port %d",
	      f->cport[0]);
	sh_line(mode, sizeof(mode), "docker inspect -f '{{.HostConfig.NetworkMode}}' %s-1",
	        f->set[0]);
	sh_line(ports, sizeof(ports), "docker port %s-1 | wc -l", f->set[0]);
	st = get(f->port[0], "/name", body, sizeof(body), 5000);
	direct = get(f->cport[0], "/", NULL, 0, 5000);
	print_message("    host_network 1: network mode '%s', %s published ports; through "
	              "prescal %d '%.*s', directly on :%d %d\n", mode, ports, st,
	              (int)strcspn(body, "\n"), body, f->cport[0], direct);
	CHECK(f, !strcmp(mode, "host"), "network mode '%s'", mode);
	CHECK(f, !strcmp(ports, "0"), "%s published ports", ports);
	CHECK(f, st == 200 && direct == 200, "status %d through prescal, %d directly", st, direct);
}

static void
test_missing_image(void **state)
{
	struct fix *f = *state;
	int code;

	if (!have_docker)
		DOCKER_SKIP("no Docker daemon");
	name_set(f, 0, "noimg");
	CHECK(f, sh("docker image inspect " NOIMAGE " >/dev/null 2>&1") != 0,
	      NOIMAGE " exists");
	CHECK(f, start_prescal(f, 0, 0, NOIMAGE, 1, 2, 10, "pull never\n") == 0, "start");
	code = stop_prescal(f, 0, 0, 15000);
	CHECK(f, code == 1, "exit code %d (want 1)", code);
	CHECK(f, tproc_log_count(f->p[0], "not found locally") == 1, "no 'not found locally'");
	CHECK(f, dk_count(f->set[0], NULL) == 0, "a container was created");
}

static void
test_two_sets(void **state)
{
	struct fix *f = *state;
	char a1[160], b0[512], b1[512], body[256], want[128];
	int code, st;

	if (!have_docker)
		DOCKER_SKIP("no Docker daemon");
	/* B's name begins with A's: a prefix match would be a bug */
	name_set(f, 0, "side");
	name_set(f, 1, "side-b");
	CHECK(f, start_prescal(f, 0, 0, IMAGE, 1, 1, 10, "pull never\n") == 0, "start A");
	CHECK(f, tproc_wait_log(f->p[0], READY, 1, 20000) == 0, "A not ready");
	CHECK(f, start_prescal(f, 1, 1, IMAGE, 1, 1, 10, "pull never\n") == 0, "start B");
	CHECK(f, tproc_wait_log(f->p[1], READY, 1, 20000) == 0, "B not ready");
	dk_ids(f->set[1], b0, sizeof(b0));

	code = stop_prescal(f, 0, SIGTERM, 30000);
	CHECK(f, code == 0, "A exit code %d", code);
	CHECK(f, dk_wait_count(f->set[0], NULL, 0, 5000) == 0, "A's containers remain");
	msleep(500);
	dk_ids(f->set[1], b1, sizeof(b1));
	print_message("    B before A's exit: %s\n    B after:  %s\n", b0, b1);
	CHECK(f, !strcmp(b0, b1), "B's containers changed when A exited");
	snprintf(a1, sizeof(a1), "%s-1", f->set[1]);
	CHECK(f, tproc_log_count(f->p[0], a1) == 0, "A's log names B's container %s", a1);
	snprintf(want, sizeof(want), "%s-1\n", f->set[1]);
	st = get(f->port[1], "/name", body, sizeof(body), 5000);
	CHECK(f, st == 200 && !strcmp(body, want), "B answered %d '%s'", st, body);
}

/* two prescal on one daemon, both without -n, scaling the same image:
 * each has its own set (named after its listener), answers from its own
 * container only, and removes only its own on SIGTERM */
static void
test_two_default_names(void **state)
{
	struct fix *f = *state;
	char body[256], want[128], b0[512], b1[512];
	int st, code;

	if (!have_docker)
		skip();
	f->noname[0] = f->noname[1] = 1;
	CHECK(f, start_prescal(f, 0, 0, IMAGE, 1, 1, 10, "pull never\n") == 0, "start A");
	CHECK(f, tproc_wait_log(f->p[0], READY, 1, 20000) == 0, "A not ready");
	CHECK(f, start_prescal(f, 1, 1, IMAGE, 1, 1, 10, "pull never\n") == 0, "start B");
	CHECK(f, tproc_wait_log(f->p[1], READY, 1, 20000) == 0, "B not ready");
	print_message("    default sets: %s, %s\n", f->set[0], f->set[1]);
	CHECK(f, dk_count(f->set[0], "running") == 1, "set %s: %d running", f->set[0],
	      dk_count(f->set[0], "running"));
	CHECK(f, dk_count(f->set[1], "running") == 1, "set %s: %d running", f->set[1],
	      dk_count(f->set[1], "running"));
	CHECK(f, tproc_log_count(f->p[1], "adopting") == 0, "B adopted A's container");
	for (int i = 0; i < 2; i++) {
		snprintf(want, sizeof(want), "%s-1\n", f->set[i]);
		for (int k = 0; k < 5; k++) {
			st = get(f->port[i], "/name", body, sizeof(body), 5000);
			CHECK(f, st == 200 && !strcmp(body, want), "prescal %d answered %d '%s', "
			      "want '%s'", i, st, body, want);
		}
	}

	/* A's SIGTERM removes A's container only */
	dk_ids(f->set[1], b0, sizeof(b0));
	code = stop_prescal(f, 0, SIGTERM, 30000);
	CHECK(f, code == 0, "A exit code %d", code);
	CHECK(f, dk_wait_count(f->set[0], NULL, 0, 5000) == 0, "A's container remains");
	dk_ids(f->set[1], b1, sizeof(b1));
	CHECK(f, !strcmp(b0, b1), "B's containers changed when A exited: %s -> %s", b0, b1);
	st = get(f->port[1], "/name", body, sizeof(body), 5000);
	CHECK(f, st == 200 && !strcmp(body, want), "B answered %d '%s'", st, body);
	code = stop_prescal(f, 1, SIGTERM, 30000);
	CHECK(f, code == 0, "B exit code %d", code);
	CHECK(f, dk_wait_count(f->set[1], NULL, 0, 5000) == 0, "B's container remains");
}

/* containers that carry the set's labels but run another image, or carry
 * the set's name without prescal.managed=true, are left alone: not
 * adopted, not routed to, not removed at start, by the periodic
 * reconcile or on SIGTERM */
static void
test_foreign_image(void **state)
{
	struct fix *f = *state;
	char body[256], want[128], line[512];
	int st, code;

	if (!have_docker)
		skip();
	name_set(f, 0, "foreign");
	/* one running with the label another prescal would set, one created
	 * (not alive) and unlabelled, known by its Image */
	CHECK(f, sh("docker run -d --label prescal.managed=true --label prescal.name=%s "
	      "--label prescal.image=" IMAGE_HC " -e PRESCAL_INSTANCE=%s-1 --name %s-1 "
	      IMAGE_HC " >/dev/null 2>&1", f->set[0], f->set[0], f->set[0]) == 0, "docker run");
	CHECK(f, sh("docker create --label prescal.managed=true --label prescal.name=%s "
	      "--name %s-5 " IMAGE_HC " >/dev/null 2>&1", f->set[0], f->set[0]) == 0,
	      "docker create");
	/* the right image, but not managed by prescal */
	CHECK(f, sh("docker run -d --label prescal.name=%s -e PRESCAL_INSTANCE=%s-3 --name %s-3 "
	      IMAGE " >/dev/null 2>&1", f->set[0], f->set[0], f->set[0]) == 0, "docker run -3");
	CHECK(f, start_prescal(f, 0, 0, IMAGE, 1, 1, 10, "pull never\n") == 0, "start");
	CHECK(f, tproc_wait_log(f->p[0], READY, 1, 20000) == 0, "not ready");
	snprintf(want, sizeof(want), "container %s-1 of app", f->set[0]);
	CHECK(f, log_line(f->p[0], want, "not " IMAGE, line, sizeof(line)), "no '%s' line", want);
	print_message("    %s\n", line);
	snprintf(want, sizeof(want), "container %s-5 of app", f->set[0]);
	CHECK(f, log_line(f->p[0], want, "leaving it alone", line, sizeof(line)),
	      "no '%s' line", want);
	CHECK(f, tproc_log_count(f->p[0], "adopting") == 0, "a foreign container was adopted");
	/* its own instance continues the numbers: -6 */
	snprintf(want, sizeof(want), "%s-6\n", f->set[0]);
	for (int k = 0; k < 10; k++) {
		st = get(f->port[0], "/name", body, sizeof(body), 5000);
		CHECK(f, st == 200 && !strcmp(body, want), "answered %d '%s', want '%s'", st, body,
		      want);
	}
	/* the reconcile (every 10 s) leaves the not-alive one alone too */
	msleep(10500);
	CHECK(f, dk_count(f->set[0], "created") == 1, "the created foreign container is gone");
	code = stop_prescal(f, 0, SIGTERM, 30000);
	CHECK(f, code == 0, "exit code %d", code);
	CHECK(f, dk_count(f->set[0], "running") == 2, "a running foreign container is gone");
	CHECK(f, dk_count(f->set[0], "created") == 1, "the created foreign container is gone");
	CHECK(f, dk_count(f->set[0], NULL) == 3, "prescal's own instance remains");
}

static void
test_healthcheck(void **state)
{
	struct fix *f = *state;
	char name[128], health[64] = "", seen[64] = "", *p;
	int64_t until;
	long ms = -1;
	int st;

	if (!have_docker)
		DOCKER_SKIP("no Docker daemon");
	name_set(f, 0, "hc");
	snprintf(name, sizeof(name), "%s-1", f->set[0]);
	CHECK(f, start_prescal(f, 0, 0, IMAGE_HC, 1, 1, 10, "pull never\n") == 0, "start");

	/* watch Docker's health while waiting for the ready line */
	until = now_ms() + 20000;
	while (now_ms() < until && tproc_log_count(f->p[0], READY) == 0) {
		if (!seen[0] && sh_line(health, sizeof(health), "docker inspect -f "
		    "'{{.State.Health.Status}}' %s 2>/dev/null", name) == 0)
			snprintf(seen, sizeof(seen), "%s", health);
		msleep(20);
	}
	CHECK(f, tproc_log_count(f->p[0], READY) == 1, "the instance never became ready");
	sh_line(health, sizeof(health), "docker inspect -f '{{.State.Health.Status}}' %s", name);
	tproc_log(f->p[0], logbuf, sizeof(logbuf));
	if ((p = strstr(logbuf, READY)) && (p = strstr(p, " in ")))
		ms = atol(p + 4);
	print_message("    health check image: first seen '%s', ready in %ld ms, "
	              "then Docker says '%s'\n", seen, ms, health);
	CHECK(f, !strcmp(health, "healthy"), "ready while Docker says '%s'", health);
	CHECK(f, ms >= 500, "ready in %ld ms, before the first 1 s health check", ms);
	st = get(f->port[0], "/", NULL, 0, 5000);
	CHECK(f, st == 200, "status %d", st);
}

/* one GET on a fresh connection, timed; the status or -1 */
static int
get_timed(int port, const char *path, int64_t *ms)
{
	int64_t t0 = now_ms();
	int st = get(port, path, NULL, 0, 30000);

	*ms = now_ms() - t0;
	return st;
}

/* the N in the first "<what> N ms" after needle in p's log, or -1 */
static long
log_ms(const struct tproc *p, const char *needle, const char *what)
{
	char *s = tproc_log(p, logbuf, sizeof(logbuf));

	if ((s = strstr(s, needle)) && (s = strstr(s, what)))
		return atol(s + strlen(what));
	return -1;
}

/* idle after a cold start: paused, not removed; the next request wakes it
 * in milliseconds, and the metrics say from where */
static void
test_pause_wake(void **state)
{
	struct fix *f = *state;
	static char body[65536];  /* /metrics, every series with its app label */
	int64_t cold, wake[3];
	int st;

	if (!have_docker)
		DOCKER_SKIP("no Docker daemon");
	name_set(f, 0, "pause");
	f->admin[0] = free_port();
	CHECK(f, start_prescal(f, 0, 0, IMAGE, 0, 2, 10, "pull never\nscale_down_delay 300\n"
	      "idle_timeout 300\npause_after 500\nmax_paused 2\n") == 0, "start");
	CHECK(f, wait_port(f->port[0], 10000) == 0, "prescal does not listen");
	st = get_timed(f->port[0], "/", &cold);
	CHECK(f, st == 200, "cold: status %d", st);
	for (int i = 0; i < 3; i++) {
		CHECK(f, tproc_wait_log(f->p[0], PAUSED, i + 1, 10000) == 0, "not paused (%d)", i);
		CHECK(f, dk_count(f->set[0], "paused") == 1, "Docker does not say paused");
		CHECK(f, dk_count(f->set[0], NULL) == 1, "not one container");
		st = get_timed(f->port[0], "/", &wake[i]);
		CHECK(f, st == 200, "wake %d: status %d", i, st);
	}
	print_message("    0 s boot: cold start %lld ms; wake from paused %lld, %lld, %lld ms\n",
	              (long long)cold, (long long)wake[0], (long long)wake[1],
	              (long long)wake[2]);
	for (int i = 0; i < 3; i++)
		CHECK(f, wake[i] < WAKE_MAX, "wake %d took %lld ms", i, (long long)wake[i]);
	CHECK(f, tproc_log_count(f->p[0], WOKE) == 3, "not 3 wakes logged");
	CHECK(f, tproc_log_count(f->p[0], "waking 1 paused") == 3, "no reason for the wake logged");
	CHECK(f, tproc_log_count(f->p[0], "; pausing one") >= 3, "no reason for the pause logged");
	CHECK(f, tproc_log_count(f->p[0], "removed") == 0, "an instance was removed");
	st = admin_get(f->admin[0], "/metrics", body, sizeof(body));
	CHECK(f, st == 200, "/metrics: %d", st);
	CHECK(f, metric(body, "prescal_wake_seconds_count{from=\"paused\"}") == 3,
	      "no 3 wakes from paused in /metrics");
	CHECK(f, metric(body, "prescal_wake_seconds_count{from=\"cold\"}") == 1,
	      "no cold start in /metrics");
	CHECK(f, metric(body, "prescal_pauses_total{action=\"pause\"}") == 3, "pauses");
	CHECK(f, admin_get(f->admin[0], "/status", body, sizeof(body)) == 200, "/status");
	CHECK(f, strstr(body, "\"paused\":"), "no paused count in /status");
}

/* an app that boots in 2 s, kept warm (min_paused 1) from zero: the first
 * request wakes it in milliseconds, not seconds */
static void
test_pause_slow_boot(void **state)
{
	struct fix *f = *state;
	int64_t wake;
	long cold;
	int st;

	if (!have_docker)
		DOCKER_SKIP("no Docker daemon");
	name_set(f, 0, "pslow");
	CHECK(f, start_prescal(f, 0, 0, IMAGE_SLOW, 0, 2, 10, "pull never\nmin_paused 1\n"
	      "max_paused 1\n") == 0, "start");
	CHECK(f, tproc_wait_log(f->p[0], PAUSED, 1, 20000) == 0, "the warm one was not paused");
	CHECK(f, tproc_log_count(f->p[0], "pausing it for the warm pool") == 1, "no warm-pool line");
	cold = log_ms(f->p[0], " ready in ", " ready in ");
	CHECK(f, dk_count(f->set[0], "paused") == 1, "Docker does not say paused");
	st = get_timed(f->port[0], "/", &wake);
	print_message("    2 s boot: cold start (create to ready) %ld ms; wake from paused "
	              "%lld ms\n", cold, (long long)wake);
	CHECK(f, st == 200, "status %d", st);
	CHECK(f, cold >= 2000, "the slow image was ready in %ld ms", cold);
	CHECK(f, wake < 1000, "wake took %lld ms", (long long)wake);
	/* the warm pool is refilled: a second instance, started and paused */
	CHECK(f, tproc_wait_log(f->p[0], PAUSED, 2, 20000) == 0, "the warm pool was not refilled");
	CHECK(f, dk_count(f->set[0], "paused") == 1 && dk_count(f->set[0], "running") == 1,
	      "not one paused and one running");
}

/* idle keep-alive clients across a pause and a wake: nothing lost, and no
 * cached backend connection to a frozen container is used */
static void
test_pause_keepalive(void **state)
{
	struct fix *f = *state;
	struct tconn *c[4];
	struct tresp *r = calloc(1, sizeof(*r));
	const char *req = "GET / HTTP/1.1\r\nHost: pit\r\n\r\n";
	int ok = 0, rc;

	if (!have_docker)
		DOCKER_SKIP("no Docker daemon");
	CHECK(f, r != NULL, "calloc");
	name_set(f, 0, "pka");
	CHECK(f, start_prescal(f, 0, 0, IMAGE, 0, 2, 10, "pull never\nscale_down_delay 300\n"
	      "idle_timeout 300\npause_after 500\n") == 0, "start");
	CHECK(f, wait_port(f->port[0], 10000) == 0, "prescal does not listen");
	for (size_t i = 0; i < LEN(c); i++) {
		CHECK(f, (c[i] = tconn_open(f->port[0], 2000)) != NULL, "connect");
		rc = texchange(c[i], req, r, 30000);
		CHECK(f, rc == 0 && r->status == 200, "first request on %zu: %d", i, r->status);
		tresp_free(r);
	}
	CHECK(f, tproc_wait_log(f->p[0], PAUSED, 1, 10000) == 0, "not paused");
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < LEN(c); i++) {
			rc = texchange(c[i], req, r, 5000);
			ok += rc == 0 && r->status == 200;
			tresp_free(r);
		}
		if (round == 0)
			CHECK(f, tproc_wait_log(f->p[0], PAUSED, 2, 10000) == 0,
			      "not paused again");
	}
	free(r);
	print_message("    %d of %zu requests on idle keep-alive connections across pauses\n",
	              ok, 2 * LEN(c));
	CHECK(f, ok == 2 * (int)LEN(c), "%d of %zu answered 200", ok, 2 * LEN(c));
	/* an access-log 502 reads "... HTTP/1.1" 502; "idle for 502 ms" is not one */
	CHECK(f, tproc_log_count(f->p[0], "failed") == 0 && tproc_log_count(f->p[0], "\" 502 ") == 0,
	      "a failure was logged");
}

/* a restart adopts a paused instance as paused; someone else's unpause is
 * honoured; SIGTERM removes the paused ones too */
static void
test_pause_restart(void **state)
{
	struct fix *f = *state;
	const char *conf = "pull never\nmin_paused 1\nmax_paused 1\n";
	struct ctr c[NCTR];
	char buf[512];
	int st, code, n;

	if (!have_docker)
		DOCKER_SKIP("no Docker daemon");
	name_set(f, 0, "prest");
	CHECK(f, start_prescal(f, 0, 0, IMAGE, 0, 2, 10, conf) == 0, "start");
	CHECK(f, tproc_wait_log(f->p[0], PAUSED, 1, 20000) == 0, "the warm one was not paused");
	tproc_stop(f->p[0], SIGKILL);
	f->p[0] = NULL;
	CHECK(f, dk_count(f->set[0], "paused") == 1, "not paused after the kill");

	CHECK(f, start_prescal(f, 1, 0, IMAGE, 0, 2, 10, conf) == 0, "restart");
	CHECK(f, tproc_wait_log(f->p[1], "adopted as paused", 1, 10000) == 0,
	      "not adopted as paused");
	msleep(500);
	CHECK(f, dk_count(f->set[0], NULL) == 1, "the restart started another");
	CHECK(f, tproc_log_count(f->p[1], "scale up") == 0 && tproc_log_count(f->p[1], "warm pool") == 0,
	      "the restarted prescal started more");

	/* someone else's unpause: checked, then routed to; the warm pool refills */
	CHECK(f, sh("docker unpause %s-1 >/dev/null 2>&1", f->set[0]) == 0, "docker unpause");
	CHECK(f, tproc_wait_log(f->p[1], "unpaused outside prescal", 1, 5000) == 0, "not noticed");
	CHECK(f, tproc_wait_log(f->p[1], WOKE, 1, 5000) == 0,
	      "not ready after the outside unpause");
	st = get(f->port[1], "/", NULL, 0, 5000);
	CHECK(f, st == 200, "status %d", st);
	CHECK(f, tproc_wait_log(f->p[1], PAUSED, 1, 20000) == 0, "no warm one paused again");

	code = stop_prescal(f, 1, SIGTERM, 30000);
	n = dk_list(f->set[0], c, NCTR);
	print_message("    SIGTERM with a paused instance: exit %d; at exit: [%s]\n", code,
	              dk_fmt(c, n, buf, sizeof(buf)));
	CHECK(f, code == 0, "exit code %d", code);
	CHECK(f, n == 0, "containers left when prescal had exited: %s", buf);
}

/* network NAME (#14): the set "hspec-<pid>-<tag>" on the bridge network
 * "hspec-net-<pid>", which teardown removes after the containers */
static void
net_fix(struct fix *f, const char *tag)
{
	snprintf(f->set[0], sizeof(f->set[0]), "hspec-%d-%s", (int)getpid(), tag);
	snprintf(f->net, sizeof(f->net), "hspec-net-%d", (int)getpid());
}

/* the running containers of set: each on net with an IP, none published */
static int
net_check(const char *set, const char *net, char *out, size_t n)
{
	struct ctr c[NCTR];
	char mode[96], ip[64], ports[16];
	int k = dk_list(set, c, NCTR), bad = 0;

	out[0] = '\0';
	for (int i = 0; i < k; i++) {
		if (strcmp(c[i].state, "running"))
			continue;
		sh_line(mode, sizeof(mode), "docker inspect -f '{{.HostConfig.NetworkMode}}' %s",
		        c[i].id);
		sh_line(ip, sizeof(ip), "docker inspect -f '{{(index .NetworkSettings.Networks "
		        "\"%s\").IPAddress}}' %s", net, c[i].id);
		sh_line(ports, sizeof(ports), "docker port %s | wc -l", c[i].id);
		if (strcmp(mode, net) || !ip[0] || strcmp(ports, "0"))
			bad++;
		snprintf(out + strlen(out), n - strlen(out), "%s%s %s %s ports %s",
		         out[0] ? ", " : "", c[i].name, mode, ip, ports);
	}
	return bad;
}

/* scale from zero, serve, drain with no failed request, a container killed
 * under load is replaced, and a restarted prescal adopts without
 * duplicates: all as with published ports */
static void
test_network_mode(void **state)
{
	struct fix *f = *state;
	struct ctr c[NCTR];
	struct load l;
	pthread_t t[8];
	char conf[256], buf[1024], before[512], after[512], victim[96] = "", died[160];
	int st, n, i, maxrun = 0, run;

	if (!have_docker)
		DOCKER_SKIP("no Docker daemon");
	net_fix(f, "net");
	CHECK(f, sh("docker network create --label hspec=1 %s >/dev/null", f->net) == 0,
	      "docker network create %s", f->net);
	snprintf(conf, sizeof(conf), "pull never\nnetwork %s\nscale_down_delay 1000\n"
	         "idle_timeout 600000\nenv HSPEC=a \"b\"\nlabel hspec.test=yes\n"
	         "memory 64m\ncpus 0.5\nuser 1000:1000\n", f->net);

	/* from zero: the first request is held until an instance on the
	 * network is ready */
	CHECK(f, start_prescal(f, 0, 0, IMAGE, 0, 3, 2, conf) == 0, "start");
	CHECK(f, wait_port(f->port[0], 10000) == 0, "prescal does not listen");
	CHECK(f, dk_count(f->set[0], NULL) == 0, "containers before the first request");
	st = get(f->port[0], "/name", buf, sizeof(buf), 30000);
	CHECK(f, st == 200 && !strncmp(buf, f->set[0], strlen(f->set[0])),
	      "first request: %d '%.60s'", st, buf);
	CHECK(f, tproc_log_count(f->p[0], " ready on 172.") + tproc_log_count(f->p[0],
	      " ready on 10.") + tproc_log_count(f->p[0], " ready on 192.168.") == 1,
	      "not ready on a network IP");
	CHECK(f, tproc_log_count(f->p[0], READY) == 0, "an instance on 127.0.0.1");
	CHECK(f, net_check(f->set[0], f->net, buf, sizeof(buf)) == 0, "%s", buf);
	print_message("    network mode: %s\n", buf);
	/* the container settings of the config file reached the container */
	sh_line(buf, sizeof(buf), "docker inspect -f '{{index .Config.Env 0}}|"
	        "{{index .Config.Labels \"hspec.test\"}}|{{.HostConfig.Memory}}|"
	        "{{.HostConfig.NanoCpus}}|{{.Config.User}}' %s-1", f->set[0]);
	CHECK(f, !strcmp(buf, "HSPEC=a \"b\"|yes|67108864|500000000|1000:1000"),
	      "settings: %s", buf);

	/* up under load, then down under a lighter one: the drain fails nothing */
	load_start(&l, t, LEN(t), f->port[0], "/slow?ms=100", 3000);
	while (now_ms() < l.until) {
		if ((run = dk_count(f->set[0], "running")) > maxrun)
			maxrun = run;
		msleep(200);
	}
	load_join(&l, t, LEN(t));
	CHECK(f, atomic_load(&l.failed) == 0, "%ld of %ld requests failed under load",
	      atomic_load(&l.failed), atomic_load(&l.sent));
	CHECK(f, maxrun >= 2, "at most %d running under load", maxrun);
	load_start(&l, t, 1, f->port[0], "/slow?ms=20", 5000);
	load_join(&l, t, 1);
	print_message("    network mode: up to %d running; light load while draining: %ld "
	              "requests, %ld failed; %d scale-downs logged\n", maxrun,
	              atomic_load(&l.sent), atomic_load(&l.failed),
	              tproc_log_count(f->p[0], "scale down"));
	CHECK(f, atomic_load(&l.failed) == 0, "%ld of %ld requests failed while draining",
	      atomic_load(&l.failed), atomic_load(&l.sent));
	CHECK(f, tproc_log_count(f->p[0], "scale down") >= 1, "no scale down logged");
	CHECK(f, dk_wait_count(f->set[0], NULL, 1, 10000) == 0, "not down to 1: %s",
	      dk_fmt(c, dk_list(f->set[0], c, NCTR), buf, sizeof(buf)));
	tproc_stop(f->p[0], SIGKILL);
	f->p[0] = NULL;
	dk_rmset(f->set[0]);

	/* two instances; one killed under load is replaced, nothing fails */
	CHECK(f, start_prescal(f, 1, 0, IMAGE, 2, 3, 10, conf) == 0, "start 2");
	CHECK(f, tproc_wait_log(f->p[1], " ready on ", 2, 20000) == 0, "2 instances not ready");
	load_start(&l, t, LEN(t), f->port[1], "/slow?ms=20", 4000);
	msleep(1000);
	n = dk_list(f->set[0], c, NCTR);
	for (i = 0; i < n && !victim[0]; i++)
		if (!strcmp(c[i].state, "running"))
			snprintf(victim, sizeof(victim), "%s", c[i].name);
	if (victim[0])
		sh("docker kill %s >/dev/null 2>&1", victim);
	load_join(&l, t, LEN(t));
	print_message("    network mode, kill under load: killed %s; %ld requests, %ld failed\n",
	              victim, atomic_load(&l.sent), atomic_load(&l.failed));
	CHECK(f, victim[0], "no running instance to kill");
	CHECK(f, atomic_load(&l.failed) == 0, "%ld of %ld requests failed",
	      atomic_load(&l.failed), atomic_load(&l.sent));
	snprintf(died, sizeof(died), "instance %s ", victim);
	for (i = 0; i < 50 && !log_line(f->p[1], died, ": removing", buf, sizeof(buf)); i++)
		msleep(100);
	CHECK(f, log_line(f->p[1], died, ": removing", buf, sizeof(buf)),
	      "no 'instance %s ...: removing' logged", victim);
	CHECK(f, tproc_wait_log(f->p[1], " ready on ", 3, 15000) == 0,
	      "no replacement became ready");
	CHECK(f, dk_wait_count(f->set[0], "running", 2, 5000) == 0, "not 2 running: %s",
	      dk_fmt(c, dk_list(f->set[0], c, NCTR), buf, sizeof(buf)));

	/* SIGKILL and restart: the same two are adopted at their network IPs */
	msleep(500);
	dk_ids(f->set[0], before, sizeof(before));
	tproc_stop(f->p[1], SIGKILL);
	f->p[1] = NULL;
	CHECK(f, start_prescal(f, 2, 0, IMAGE, 2, 3, 10, conf) == 0, "restart");
	CHECK(f, tproc_wait_log(f->p[2], " ready on ", 2, 20000) == 0,
	      "adopted instances not ready");
	CHECK(f, tproc_log_count(f->p[2], "adopting instance") == 2, "not 2 adoptions logged");
	msleep(1500);
	dk_ids(f->set[0], after, sizeof(after));
	print_message("    network mode, restart: before %s\n    after  %s\n", before, after);
	CHECK(f, !strcmp(before, after), "containers changed across the restart");
	CHECK(f, tproc_log_count(f->p[2], "scale up") == 0, "the restarted prescal started more");
	CHECK(f, tproc_log_count(f->p[2], READY) == 0, "an adopted instance on 127.0.0.1");
	for (i = 0, n = 0; i < 10; i++)
		n += get(f->port[2], "/", NULL, 0, 5000) == 200;
	CHECK(f, n == 10, "%d of 10 requests after the restart answered 200", n);

	/* SIGTERM: drained and removed */
	CHECK(f, stop_prescal(f, 2, SIGTERM, 20000) == 0, "exit after SIGTERM");
	CHECK(f, dk_count(f->set[0], NULL) == 0, "containers left after SIGTERM");
}

/* a network that does not exist: a start-up error naming it, no container */
static void
test_network_missing(void **state)
{
	struct fix *f = *state;
	char conf[128], want[160];
	int code;

	if (!have_docker)
		DOCKER_SKIP("no Docker daemon");
	net_fix(f, "nonet");
	snprintf(f->net, sizeof(f->net), "hspec-nonet-%d", (int)getpid());
	snprintf(conf, sizeof(conf), "pull never\nnetwork %s\n", f->net);
	CHECK(f, start_prescal(f, 0, 0, IMAGE, 1, 2, 10, conf) == 0, "start");
	code = stop_prescal(f, 0, 0, 15000);
	snprintf(want, sizeof(want), "network %s does not exist", f->net);
	CHECK(f, code == 1, "exit code %d (want 1)", code);
	CHECK(f, tproc_log_count(f->p[0], want) == 1, "no '%s' logged", want);
	CHECK(f, dk_count(f->set[0], NULL) == 0, "a container was created");
}

/* prescal in its own FROM scratch image (make static), on the network
 * with the socket mounted and only its listener published on 127.0.0.1;
 * and the same image on another network: a start-up error */
static int
net_image(struct fix *f, char *img, size_t n)
{
	char dir[] = "/tmp/hspec-img-XXXXXX";
	int r;

	snprintf(img, n, "hspec-prescal-%d:latest", (int)getpid());
	snprintf(f->image, sizeof(f->image), "%s", img);
	if (!mkdtemp(dir))
		return -1;
	r = sh("cp prescal-static %s/prescal && printf 'FROM scratch\\nCOPY prescal /prescal\\n"
	       "ENTRYPOINT [\"/prescal\"]\\n' > %s/Dockerfile && DOCKER_BUILDKIT=0 docker build "
	       "-q -t %s %s >/dev/null 2>&1", dir, dir, img, dir);
	sh("rm -rf %s", dir);
	return r;
}

/* docker run of prescal's image as container f->ctr on network net */
static int
net_run(struct fix *f, const char *img, const char *net, const char *conf, int port)
{
	snprintf(f->ctr, sizeof(f->ctr), "hspec-prescal-%d", (int)getpid());
	snprintf(f->conf[0], sizeof(f->conf[0]), "/tmp/hspec-conf-XXXXXX");
	if (!(f->conf[0][0] && close(mkstemp(f->conf[0])) == 0))
		return -1;
	if (sh("printf '%s' > %s && chmod 644 %s", conf, f->conf[0], f->conf[0]) != 0)
		return -1;
	return sh("docker run -d --name %s --label hspec=1 --network %s -p 127.0.0.1:%d:8080 "
	          "-v %s:/var/run/docker.sock -v %s:/p.conf:ro %s -f /p.conf -l 0.0.0.0:8080 "
	          "-a off -i " IMAGE " -p 8080 -m 0 -M 2 -c 10 -n %s >/dev/null", f->ctr, net,
	          port, docker_sock(), f->conf[0], img, f->set[0]);
}

static void
test_network_in_container(void **state)
{
	struct fix *f = *state;
	char img[96], conf[128], buf[256], logs[1024];
	int port, st, n;

	if (!have_docker)
		DOCKER_SKIP("no Docker daemon");
	net_fix(f, "ctr");
	if (sh("make -s prescal-static >&2") != 0) {
		fprintf(stderr, "\n*** SKIPPED: make prescal-static failed (musl-gcc?) ***\n\n");
		skip();
	}
	CHECK(f, net_image(f, img, sizeof(img)) == 0, "cannot build image %s", img);
	CHECK(f, sh("docker network create --label hspec=1 %s >/dev/null", f->net) == 0,
	      "docker network create %s", f->net);
	snprintf(conf, sizeof(conf), "pull never\\nnetwork %s\\n", f->net);
	CHECK(f, (port = free_port()) > 0, "port");
	CHECK(f, net_run(f, img, f->net, conf, port) == 0, "docker run %s", img);
	CHECK(f, wait_port(port, 10000) == 0, "the published listener does not answer");
	st = get(port, "/name", buf, sizeof(buf), 30000);
	sh_line(logs, sizeof(logs), "docker logs %s 2>&1 | grep ' ready on ' | head -1", f->ctr);
	print_message("    prescal in a container on %s: %d '%.*s'; %s\n", f->net, st,
	              (int)strcspn(buf, "\n"), buf, logs);
	CHECK(f, st == 200 && !strncmp(buf, f->set[0], strlen(f->set[0])), "status %d '%.60s'",
	      st, buf);
	CHECK(f, strstr(logs, " ready on 172.") || strstr(logs, " ready on 10.") ||
	      strstr(logs, " ready on 192.168."), "not ready on a network IP: %s", logs);
	for (int i = n = 0; i < 10; i++)
		n += get(port, "/", NULL, 0, 5000) == 200;
	CHECK(f, n == 10, "%d of 10 answered 200", n);
	/* docker stop: SIGTERM, drained and removed */
	CHECK(f, sh("docker stop -t 20 %s >/dev/null", f->ctr) == 0, "docker stop");
	CHECK(f, dk_count(f->set[0], NULL) == 0, "containers left after docker stop");
	sh("docker rm -f %s >/dev/null 2>&1", f->ctr);
	unlink(f->conf[0]);

	/* on the default bridge instead: a start-up error naming the network */
	CHECK(f, net_run(f, img, "bridge", conf, port) == 0, "docker run %s", img);
	sh_line(buf, sizeof(buf), "timeout 20 docker wait %s", f->ctr);
	sh_line(logs, sizeof(logs), "docker logs %s 2>&1 | grep 'not attached' | head -1", f->ctr);
	print_message("    not attached: exit %s: %s\n", buf, logs);
	CHECK(f, !strcmp(buf, "1"), "exit '%s'", buf);
	CHECK(f, strstr(logs, "not attached to network") && strstr(logs, f->net), "%s", logs);
	CHECK(f, dk_count(f->set[0], NULL) == 0, "a container was created");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_scale_from_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ramp_reaches_max, setup, teardown),
		cmocka_unit_test_setup_teardown(test_instance_drain_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_under_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unhealthy_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_adoption, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sigterm_cleanup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold_queue_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_starting_page, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metric_rps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_timeout_retry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_image, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pull_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_network, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_sets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_healthcheck, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_default_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_image, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_wake, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_slow_boot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_keepalive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_network_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_network_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_network_in_container, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	if (getenv("INTEG_FILTER"))
		cmocka_set_test_filter(getenv("INTEG_FILTER"));
	return cmocka_run_group_tests_name("scale_integ", tests, group_setup, NULL);
}
