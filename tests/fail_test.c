/* See LICENSE file for copyright and license details. */
/*
 * fail_test: an app that cannot start fails fast and says why (issue #17),
 * against a live dockerd. The images are the test backend (as
 * prescal-fail-base, built by tests/mkimage.sh) with its failure knobs set
 * by ENV in a one-line Dockerfile built locally: FAIL_EXIT=1 exits at once
 * after a line on stdout and one on stderr; NO_LISTEN=1 never listens.
 * Each test starts ./prescal (or $PRESCAL_BIN) on a loopback port with
 * -m 0, sends requests that are held, and checks that they are answered
 * within 1 s of the failure with 503, Retry-After and the cause; that the
 * log has the failure line and the container's last words; and that no
 * container is left. Teardown kills prescal and removes the set's
 * containers and the test's image tags, also after a failed assertion.
 *
 * Without a reachable Docker daemon every test is skipped, unless
 * PRESCAL_REQUIRE_DOCKER=1. INTEG_VERBOSE=1 prints prescal's log after each
 * test. Run from the source root.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "tclient.h"
#include "tdocker.h"
#include "util.h"

#define BASE       "prescal-fail-base:latest"
#define LOGMAX     (1 << 20)      /* prescal log bytes read back */
#define NHELD      3              /* requests held during a cold start */
#define FAILED     "failed to start: "

/* fails the test with a message, dumping prescal's log first */
#define CHECK(f, cond, ...) do { \
	if (!(cond)) { \
		print_error("%s:%d: failed: %s\n  ", __FILE__, __LINE__, #cond); \
		print_error(__VA_ARGS__); \
		print_error("\n"); \
		dump_log(f); \
		fail(); \
	} \
} while (0)

/* one test: its prescal, set, image tag and config file */
struct fix {
	struct tproc *p;            /* owned by tclient */
	int port, admin;
	char set[64];
	char image[96];             /* the tag this test made, "" = none */
	char conf[64];
	struct tresp *r;            /* a response, freed by teardown */
};

/* a request held while the app starts */
struct held {
	int port;
	pthread_barrier_t *go;
	int status, retry;
	int64_t t0, t1;             /* sent, answered (now_ms) */
	char body[512];
	char err[128];
};

static const char *bin = "./prescal";
static int have_docker;
static char logbuf[LOGMAX];       /* test thread only */

static void
dump_log(const struct fix *f)
{
	if (!f->p)
		return;
	tproc_log(f->p, logbuf, sizeof(logbuf));
	fprintf(stderr, "---- prescal log ----\n%s---- end ----\n", logbuf);
}

/* how many times needle occurs in prescal's log */
static int
log_count(const struct fix *f, const char *needle)
{
	return tproc_log_count(f->p, needle);
}

/* waits for n occurrences of needle; the time it saw them, or -1 at the
 * time-out or when prescal exits */
static int64_t
wait_log(struct fix *f, const char *needle, int n, int timeout_ms)
{
	int64_t until = now_ms() + timeout_ms;

	for (;;) {
		if (log_count(f, needle) >= n)
			return now_ms();
		if (now_ms() >= until || (f->p->pid > 0 && tproc_wait(f->p, 0) == 0))
			return -1;
		msleep(5);
	}
}

/* the first log line that is empty or ends in ": ", or NULL */
static const char *
bad_line(const struct fix *f, char *out, size_t n)
{
	char *s = tproc_log(f->p, logbuf, sizeof(logbuf)), *e;

	for (; *s; s = *e ? e + 1 : e) {
		e = s + strcspn(s, "\n");
		if (e == s || (e - s >= 2 && e[-2] == ':' && e[-1] == ' ')) {
			snprintf(out, n, "'%.*s'", (int)(e - s), s);
			return out;
		}
	}
	return NULL;
}

/* builds tag from BASE with one ENV line (env NULL: a plain tag of BASE) */
static int
mkimage(struct fix *f, const char *tag, const char *env)
{
	snprintf(f->image, sizeof(f->image), "%s", tag);
	if (!env)
		return sh("docker tag " BASE " %s", tag);
	return sh("printf 'FROM " BASE "\\nENV %s\\n' | DOCKER_BUILDKIT=0 docker build -q -t %s - "
	          ">/dev/null 2>&1", env, tag);
}

/* starts prescal for the set with -m 0 -M 1 and conf; an admin listener */
static int
start_prescal(struct fix *f, const char *image, const char *conf)
{
	char listen[32], admin[48], path[256], img[96];
	char *argv[] = { path, "-q", "-a", admin, "-l", listen, "-i", img, "-p", "8080",
	                 "-m", "0", "-M", "1", "-c", "10", "-n", f->set, "-f", f->conf, NULL };
	FILE *cf;
	int fd;

	snprintf(f->conf, sizeof(f->conf), "/tmp/pft-conf-XXXXXX");
	if ((fd = mkstemp(f->conf)) < 0 || !(cf = fdopen(fd, "w"))) {
		f->conf[0] = '\0';
		return -1;
	}
	if ((f->port = free_port()) < 0 || (f->admin = free_port()) < 0) {
		fclose(cf);
		return -1;
	}
	snprintf(admin, sizeof(admin), "127.0.0.1:%d", f->admin);
	fprintf(cf, "pull never\n%s", conf);
	fclose(cf);
	snprintf(path, sizeof(path), "%s", bin);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", f->port);
	snprintf(img, sizeof(img), "%s", image);
	/* the admin listener opens after the workers start: under ASan with a
	 * fast failure (test_image_gone) /status was asked before it listened */
	if (!(f->p = tproc_start(argv, NULL, 1)) || wait_port(f->port, 10000) < 0 ||
	    wait_port(f->admin, 10000) < 0)
		return -1;
	return 0;
}

/* SIGTERM to prescal: it removes its containers and exits; 0 or -1 */
static int
stop_prescal(struct fix *f)
{
	if (f->p->pid > 0)
		kill(f->p->pid, SIGTERM);
	return tproc_wait(f->p, 20000);
}

/* one GET with Host: 127.0.0.1 (the admin listener takes a loopback Host
 * only); its status (body into r) or -1 */
static int
get(int port, const char *path, const char *accept, struct tresp *r, int timeout_ms)
{
	char req[256];
	struct tconn *c;
	int st = -1;

	if ((c = tconn_open(port, 2000))) {
		snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n%s%s%s"
		         "Connection: close\r\n\r\n", path, accept ? "Accept: " : "",
		         accept ? accept : "", accept ? "\r\n" : "");
		if (texchange(c, req, r, timeout_ms) == 0)
			st = r->status;
		tconn_close(c);
	}
	return st;
}

static void *
held_thread(void *arg)
{
	struct held *h = arg;
	struct tresp *r = calloc(1, sizeof(*r));
	char v[32];

	pthread_barrier_wait(h->go);
	h->t0 = now_ms();
	h->status = r ? get(h->port, "/", NULL, r, 40000) : -1;
	h->t1 = now_ms();
	if (h->status < 0)
		snprintf(h->err, sizeof(h->err), "%s", r ? r->err : "no memory");
	h->retry = h->status > 0 && tresp_hdr(r, "retry-after", v, sizeof(v)) ? atoi(v) : 0;
	if (h->status > 0 && r->body)
		snprintf(h->body, sizeof(h->body), "%s", r->body);
	if (r)
		tresp_free(r);
	free(r);
	return NULL;
}

/*
 * sends NHELD requests at once, waits for the failure line, and checks each
 * is answered within 1 s of it with 503, Retry-After and a body naming
 * cause; then a request during the back-off gets the same at once, and
 * nothing is left once prescal stops. Returns the slowest answer after the
 * test saw the failure line, ms (the log is polled every 5 ms, so an answer
 * that comes with the line is at -5..0).
 */
static long
held_fail(struct fix *f, const char *cause, const char *words)
{
	struct held h[NHELD];
	pthread_t t[NHELD];
	pthread_barrier_t go;
	struct tresp *r = f->r;
	char want[256], bad[512], series[128];
	int64_t tfail, worst = INT64_MIN;
	int i, st;

	snprintf(want, sizeof(want), "app \"%s\" " FAILED "%s\n", f->set, cause);
	pthread_barrier_init(&go, NULL, NHELD + 1);
	for (i = 0; i < NHELD; i++) {
		h[i] = (struct held){ .port = f->port, .go = &go };
		if (pthread_create(&t[i], NULL, held_thread, &h[i]) != 0)
			abort();
	}
	pthread_barrier_wait(&go);
	tfail = wait_log(f, FAILED, 1, 30000);
	for (i = 0; i < NHELD; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&go);
	CHECK(f, tfail > 0, "no '%s' line", FAILED);
	for (i = 0; i < NHELD; i++) {
		print_message("    held request %d: %d after %lld ms, %lld ms after the failure line, "
		              "Retry-After %d%s\n", i, h[i].status, (long long)(h[i].t1 - h[i].t0),
		              (long long)(h[i].t1 - tfail), h[i].retry, h[i].err);
		CHECK(f, h[i].status == 503, "held request %d: status %d", i, h[i].status);
		CHECK(f, h[i].retry >= 1, "held request %d: no Retry-After", i);
		CHECK(f, !strcmp(h[i].body, want), "held request %d: body '%s', want '%s'", i,
		      h[i].body, want);
		worst = MAX(worst, h[i].t1 - tfail);
	}
	CHECK(f, worst < 1000, "a held request was answered %lld ms after the failure",
	      (long long)worst);

	/* during the back-off: the same answer at once, and for a browser too */
	CHECK(f, r != NULL, "no memory");
	int64_t t0 = now_ms();
	st = get(f->port, "/", NULL, r, 5000);
	CHECK(f, st == 503 && r->body && !strcmp(r->body, want) && now_ms() - t0 < 300,
	      "during the back-off: %d '%s' after %lld ms", st, r->body ? r->body : "",
	      (long long)(now_ms() - t0));
	tresp_free(r);
	st = get(f->port, "/", "text/html", r, 5000);
	CHECK(f, st == 503 && r->body && strstr(r->body, "Failed to start") &&
	      strstr(r->body, "failed to start: "), "browser: %d '%.200s'", st,
	      r->body ? r->body : "");
	tresp_free(r);
	st = get(f->admin, "/status", "application/json", r, 5000);
	CHECK(f, st == 200 && r->body && strstr(r->body, "\"state\":\"failing\"") &&
	      strstr(r->body, cause), "/status: %d '%.300s'", st, r->body ? r->body : "");
	tresp_free(r);
	st = get(f->admin, "/metrics", NULL, r, 5000);
	snprintf(series, sizeof(series), "prescal_app_failing{app=\"%s\"} 1\n", f->set);
	CHECK(f, st == 200 && r->body && strstr(r->body, series), "/metrics: %d, no %s", st, series);
	tresp_free(r);

	CHECK(f, wait_log(f, words, 1, 5000) > 0, "the log lacks the container's last words '%s'",
	      words);
	CHECK(f, !bad_line(f, bad, sizeof(bad)), "a log line is empty or ends in ': ': %s", bad);
	CHECK(f, stop_prescal(f) == 0, "prescal did not exit on SIGTERM");
	CHECK(f, dk_count(f->set, NULL) == 0, "containers left: %d", dk_count(f->set, NULL));
	return (long)worst;
}

/* fixtures */

static int
group_setup(void **state)
{
	const char *req = getenv("PRESCAL_REQUIRE_DOCKER");

	(void)state;
	if (getenv("PRESCAL_BIN"))
		bin = getenv("PRESCAL_BIN");
	if (docker_ping() < 0 || sh("docker version >/dev/null 2>&1") != 0) {
		if (req && !strcmp(req, "1")) {
			print_error("no Docker daemon at %s (or no docker CLI), and "
			            "PRESCAL_REQUIRE_DOCKER=1\n", docker_sock());
			return -1;
		}
		fprintf(stderr, "\n*** SKIPPED: no Docker daemon at %s (or no docker CLI): "
		        "every fail-fast test is skipped ***\n\n", docker_sock());
		return 0;
	}
	if (access(bin, X_OK) < 0) {
		print_error("%s: %s (run make prescal, from the source root)\n", bin,
		            strerror(errno));
		return -1;
	}
	if (sh("sh tests/mkimage.sh " BASE " >&2") != 0) {
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

	if (!f || !(f->r = calloc(1, sizeof(*f->r)))) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix *f = *state;
	struct ctr c[NCTR];
	int n;

	if (getenv("INTEG_VERBOSE"))
		dump_log(f);
	tconn_close_all();
	tresp_free_all();
	tproc_stop(f->p, SIGKILL);
	for (int round = 0; f->set[0] && round < 3 && (n = dk_list(f->set, c, NCTR)) > 0;
	     round++) {
		for (int i = 0; i < n; i++)
			sh("docker rm -f %s >/dev/null 2>&1", c[i].id);
		msleep(200);
	}
	if (f->image[0])
		sh("docker rmi %s >/dev/null 2>&1", f->image);
	if (f->conf[0])
		unlink(f->conf);
	free(f->r);
	free(f);
	return 0;
}

/* names the set and the image tag of test tag */
static void
names(struct fix *f, const char *tag, char *image, size_t n)
{
	snprintf(f->set, sizeof(f->set), "pft-%d-%s", (int)getpid(), tag);
	snprintf(image, n, "prescal-fail-%s:%d", tag, (int)getpid());
}

/* tests */

static void
test_exit_at_once(void **state)
{
	struct fix *f = *state;
	char image[96];
	long ms;

	if (!have_docker)
		skip();
	names(f, "exit", image, sizeof(image));
	CHECK(f, mkimage(f, image, "FAIL_EXIT=1") == 0, "docker build");
	CHECK(f, start_prescal(f, image, "hold_timeout 30000\nstarting_page 1\n") == 0, "start");
	ms = held_fail(f, "exited with code 1 before it was ready",
	               "output | backend: fatal: FAIL_EXIT=1 set");
	print_message("    exit 1 at once: held requests answered at most %ld ms after the "
	              "test saw the failure line\n", ms);
}

static void
test_never_listens(void **state)
{
	struct fix *f = *state;
	char image[96];
	long ms;

	if (!have_docker)
		skip();
	names(f, "nolisten", image, sizeof(image));
	CHECK(f, mkimage(f, image, "NO_LISTEN=1") == 0, "docker build");
	CHECK(f, start_prescal(f, image, "hold_timeout 30000\nstart_timeout 2000\n"
	      "starting_page 1\n") == 0, "start");
	ms = held_fail(f, "was not ready within 2000 ms", "output | backend: NO_LISTEN set");
	print_message("    never listens: held requests answered at most %ld ms after the "
	              "test saw the failure line\n", ms);
}

static void
test_image_gone(void **state)
{
	struct fix *f = *state;
	char image[96], cause[160];
	long ms;

	if (!have_docker)
		skip();
	/* present when prescal starts (it checks), then untagged */
	names(f, "gone", image, sizeof(image));
	CHECK(f, mkimage(f, image, NULL) == 0, "docker tag");
	CHECK(f, start_prescal(f, image, "hold_timeout 30000\nstarting_page 1\n") == 0, "start");
	CHECK(f, sh("docker rmi %s >/dev/null 2>&1", image) == 0, "docker rmi");
	f->image[0] = '\0';
	snprintf(cause, sizeof(cause), "image %s is not available", image);
	ms = held_fail(f, cause, "No such image");
	print_message("    missing image: held requests answered at most %ld ms after the "
	              "test saw the failure line\n", ms);
}

/* fails twice, then the tag points at a working image: requests succeed */
static void
test_fails_twice_then_works(void **state)
{
	struct fix *f = *state;
	struct tresp *r = f->r;
	char image[96], want[256];
	int64_t until;
	int st = -1, n503 = 0;

	if (!have_docker)
		skip();
	names(f, "flaky", image, sizeof(image));
	CHECK(f, r != NULL, "no memory");
	CHECK(f, mkimage(f, image, "FAIL_EXIT=2") == 0, "docker build");
	CHECK(f, start_prescal(f, image, "hold_timeout 30000\n") == 0, "start");
	snprintf(want, sizeof(want), "app \"%s\" " FAILED "exited with code 2 before it was ready\n",
	         f->set);
	for (until = now_ms() + 30000; now_ms() < until; msleep(100)) {
		if (log_count(f, FAILED) >= 2 && sh("docker tag " BASE " %s", image) != 0)
			break;
		st = get(f->port, "/name", NULL, r, 35000);
		if (st == 200)
			break;
		CHECK(f, st == 503 && r->body && !strcmp(r->body, want), "status %d '%s'", st,
		      r->body ? r->body : "");
		n503++;
		tresp_free(r);
	}
	print_message("    %d answers 503 with the cause, %d failed starts, then %d '%s'\n", n503,
	              log_count(f, FAILED), st, st == 200 && r->body ? r->body : "");
	CHECK(f, st == 200, "no success: %d", st);
	CHECK(f, log_count(f, FAILED) == 2, "%d failed starts (want 2)", log_count(f, FAILED));
	tresp_free(r);
	st = get(f->admin, "/status", "application/json", r, 5000);
	CHECK(f, st == 200 && r->body && strstr(r->body, "\"state\":\"ok\""), "/status: %d '%.300s'",
	      st, r->body ? r->body : "");
	tresp_free(r);
	CHECK(f, stop_prescal(f) == 0, "prescal did not exit on SIGTERM");
	CHECK(f, dk_count(f->set, NULL) == 0, "containers left");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_exit_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_never_listens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_image_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fails_twice_then_works, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	if (getenv("INTEG_FILTER"))
		cmocka_set_test_filter(getenv("INTEG_FILTER"));
	return cmocka_run_group_tests_name("fail_fast", tests, group_setup, NULL);
}
