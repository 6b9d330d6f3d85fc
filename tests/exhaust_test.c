/* See LICENSE file for copyright and license details. */
/* exhaust_test: no client behaviour takes the workers away from everyone
 * else (issue 12, item 4), and the worker pool carries slow apps (issue
 * 19). Each test starts tests/backend and a prescal of its own over
 * loopback; the per-test teardown kills them. Most prescals here run with
 * two workers on purpose: whatever waits on someone else (a held request,
 * a quiet WebSocket) must cost none of them. $PRESCAL_BIN and
 * $PRESCAL_BACKEND name the binaries; EXHAUST_FILTER=pattern runs only the
 * matching tests (make sanitize runs those that measure no speed or
 * memory). Every wait is bounded; figures are printed. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "tests/tclient.h"
#include "util.h"

#define T_RESP   3000    /* ms, an ordinary response */
#define FAST_MS  50      /* a normal request's bound while others wait */
#define SCOPE    1

static char prescal_bin[512], backend_bin[512];
static struct tproc *back, *prox;
static int bport, pport;

/* starts tests/backend on a free port (bport) */
static void
backend_up(void)
{
	char sport[16];
	char *argv[] = { backend_bin, "-p", sport, NULL };

	assert_true((bport = free_port()) > 0);
	snprintf(sport, sizeof(sport), "%d", bport);
	assert_non_null(back = tproc_start(argv, NULL, SCOPE));
	assert_int_equal(wait_port(bport, 5000), 0);
}

/* starts prescal on a free port (pport) in front of the backend, with the
 * config text conf and extra flags (NULL-terminated); through sh when
 * shell (for ulimit), a prefix such as "ulimit -n 64;" */
static void
prescal_up(const char *shell, const char *conf, ...)
{
	char *argv[24], listen[32], bp[32], *cf, *a, cmd[1024];
	int n = 0, k = 0;
	va_list ap;

	assert_true((pport = free_port()) > 0);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", pport);
	snprintf(bp, sizeof(bp), "127.0.0.1:%d", bport);
	assert_non_null(cf = tmp_write("exhaust-conf", conf));
	argv[n++] = prescal_bin;
	argv[n++] = "-l";
	argv[n++] = listen;
	argv[n++] = "-b";
	argv[n++] = bp;
	argv[n++] = "-f";
	argv[n++] = cf;
	va_start(ap, conf);
	while ((a = va_arg(ap, char *)) && n < (int)LEN(argv) - 1)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	if (shell) {
		k = snprintf(cmd, sizeof(cmd), "%s exec", shell);
		for (int i = 0; i < n; i++)
			k += snprintf(cmd + k, sizeof(cmd) - k, " %s", argv[i]);
		assert_true(k < (int)sizeof(cmd));
		assert_non_null(prox = tproc_start((char *[]){ "/bin/sh", "-c", cmd, NULL }, NULL,
		                                   SCOPE));
	} else {
		assert_non_null(prox = tproc_start(argv, NULL, SCOPE));
	}
	assert_int_equal(wait_port(pport, 5000), 0);
}

static int
teardown(void **state)
{
	char log[4096];

	(void)state;
	if (prox && getenv("EXHAUST_LOG"))
		fprintf(stderr, "prescal log:\n%s\n", tproc_log(prox, log, sizeof(log)));
	tconn_close_all();
	tresp_free_all();
	tproc_stop_scope(SCOPE);
	prox = back = NULL;
	tmp_remove(NULL);
	return 0;
}

/* one request on a new connection; returns the status or -1, *ms its time */
static int
get1(const char *req, int64_t *ms)
{
	struct tresp r = { 0 };
	struct tconn *c;
	int64_t t0 = now_ms();
	int rc;

	if (!(c = tconn_open(pport, 1000)))
		return -1;
	rc = texchange(c, req, &r, T_RESP);
	tconn_close(c);
	tresp_free(&r);
	if (ms)
		*ms = now_ms() - t0;
	return rc ? -1 : r.status;
}

/* the slowest of n requests that prescal answers itself (400), or -1 if
 * one got something else */
static int64_t
slowest_own(int n)
{
	int64_t ms, worst = 0;

	for (int i = 0; i < n; i++) {
		if (get1("BAD\r\n\r\n", &ms) != 400)
			return -1;
		worst = MAX(worst, ms);
	}
	return worst;
}

/* requests sent on connections that stay open, answers read later */
struct many {
	struct tconn *c[2000];
	int n;
};

static void
many_send(struct many *m, int n, const char *req)
{
	for (m->n = 0; m->n < n; m->n++) {
		assert_non_null(m->c[m->n] = tconn_open(pport, 1000));
		assert_int_equal(tsends(m->c[m->n], req), 0);
	}
}

/* reads one answer on each; returns how many had status want */
static int
many_read(struct many *m, int want, int timeout_ms)
{
	struct tresp r = { 0 };
	int ok = 0;

	for (int i = 0; i < m->n; i++) {
		if (tresp_read(m->c[i], &r, 0, timeout_ms) == 0 && r.status == want)
			ok++;
		tresp_free(&r);
	}
	return ok;
}

static void
many_close(struct many *m)
{
	for (int i = 0; i < m->n; i++)
		tconn_close(m->c[i]);
	m->n = 0;
}

/* a request that holds the only slot (conn_cap 1) for ms */
struct slow {
	pthread_t t;
	int ms, status;
};

static void *
slow_run(void *arg)
{
	struct slow *s = arg;
	char req[128];

	snprintf(req, sizeof(req), "GET /slow?ms=%d HTTP/1.1\r\nHost: t\r\n\r\n", s->ms);
	s->status = get1(req, NULL);
	return NULL;
}

/* 200 requests held (conn_cap 1, its slot taken by a slow request) on a
 * prescal with two workers: they wait parked, and prescal still answers at
 * once what it can. Then all 200 are served. */
static void
test_held_cost_no_worker(void **state)
{
	static struct many m;
	struct slow s = { .ms = 1500 };
	int64_t worst, t0;
	int ok;

	(void)state;
	backend_up();
	prescal_up(NULL, "conn_cap 1\nhold_timeout 20000\nhold_max 1000\naccess_log 0\n",
	           "-t", "2", NULL);
	assert_int_equal(pthread_create(&s.t, NULL, slow_run, &s), 0);
	msleep(100);
	many_send(&m, 200, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
	msleep(200);
	worst = slowest_own(20);
	printf("exhaust: 200 held on 2 workers; prescal's own answers took at most %lld ms\n",
	       (long long)worst);
	if (worst < 0 || worst > FAST_MS)
		fail_msg("with 200 requests held, an answer took %lld ms (bound %d)",
		         (long long)worst, FAST_MS);
	t0 = now_ms();
	assert_int_equal(pthread_join(s.t, NULL), 0);
	assert_int_equal(s.status, 200);
	ok = many_read(&m, 200, 10000);
	printf("exhaust: the slot came free: %d of 200 held requests served in %lld ms\n", ok,
	       (long long)(now_ms() - t0));
	assert_int_equal(ok, 200);
	many_close(&m);
}

/* held past hold_timeout: 503 with Retry-After, and the workers are free */
static void
test_held_times_out(void **state)
{
	static struct many m;
	struct slow s = { .ms = 2500 };
	struct tresp r = { 0 };
	char v[16];
	int64_t t0 = 0;

	(void)state;
	backend_up();
	prescal_up(NULL, "conn_cap 1\nhold_timeout 500\naccess_log 0\n", "-t", "2", NULL);
	assert_int_equal(pthread_create(&s.t, NULL, slow_run, &s), 0);
	msleep(100);
	many_send(&m, 20, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
	t0 = now_ms();
	for (int i = 0; i < m.n; i++) {
		assert_int_equal(tresp_read(m.c[i], &r, 0, T_RESP), 0);
		assert_int_equal(r.status, 503);
		assert_non_null(tresp_hdr(&r, "retry-after", v, sizeof(v)));
		tresp_free(&r);
	}
	printf("exhaust: 20 held with hold_timeout 500: all 503 after %lld ms\n",
	       (long long)(now_ms() - t0));
	assert_true(now_ms() - t0 < 1500);
	many_close(&m);
	assert_int_equal(pthread_join(s.t, NULL), 0);
	assert_int_equal(s.status, 200);
}

/* opens a WebSocket; returns the connection or NULL */
static struct tconn *
ws_open(int *status)
{
	struct tconn *c = tconn_open(pport, 1000);
	struct tresp r = { 0 };

	*status = -1;
	if (!c)
		return NULL;
	if (texchange(c, "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
	              "Connection: Upgrade\r\n\r\n", &r, T_RESP) == 0)
		*status = r.status;
	tresp_free(&r);
	return c;
}

/* 200 quiet WebSockets on two workers cost none of them; max_tunnels
 * bounds them (503 beyond); each still echoes */
static void
test_tunnels_cost_no_worker(void **state)
{
	static struct tconn *ws[200];
	struct tconn *extra;
	char buf[8];
	int64_t worst, ms;
	long rss;
	int st, i;

	(void)state;
	backend_up();
	prescal_up(NULL, "max_tunnels 200\naccess_log 0\n", "-t", "2", NULL);
	for (i = 0; i < 200; i++) {
		ws[i] = ws_open(&st);
		if (st != 101)
			fail_msg("WebSocket %d: status %d", i + 1, st);
	}
	extra = ws_open(&st);
	printf("exhaust: WebSocket 201 with max_tunnels 200: %d\n", st);
	assert_int_equal(st, 503);
	tconn_close(extra);
	worst = 0;
	for (i = 0; i < 50; i++) {
		if (get1("GET / HTTP/1.1\r\nHost: t\r\n\r\n", &ms) != 200)
			fail_msg("request %d beside 200 tunnels failed", i + 1);
		worst = MAX(worst, ms);
	}
	rss = proc_rss_kb(prox->pid);
	printf("exhaust: 200 tunnels on 2 workers: 50 requests, slowest %lld ms; prescal RSS "
	       "%ld KiB\n", (long long)worst, rss);
	assert_true(worst <= FAST_MS);
	for (i = 0; i < 200; i += 20) {
		assert_int_equal(tsends(ws[i], "ping"), 0);
		memset(buf, 0, sizeof(buf));
		assert_int_equal(tread_some(ws[i], buf, 4, T_RESP), 4);
		assert_string_equal(buf, "ping");
	}
	for (i = 0; i < 200; i++)
		tconn_close(ws[i]);
	/* the slots come back as the tunnels end */
	msleep(300);
	extra = ws_open(&st);
	assert_int_equal(st, 101);
	tconn_close(extra);
}

/* a client that keeps a keep-alive connection busy for secs */
struct loop {
	pthread_t t;
	int port, secs;
	long ok, bad;
};

static void *
loop_run(void *arg)
{
	struct loop *l = arg;
	struct tconn *c = tconn_open(l->port, 2000);
	struct tresp r = { 0 };
	int64_t until = now_ms() + l->secs * 1000;

	while (c && now_ms() < until) {
		if (texchange(c, "GET /slow?ms=50 HTTP/1.1\r\nHost: t\r\n\r\n", &r, T_RESP) == 0 &&
		    r.status == 200) {
			l->ok++;
		} else {
			l->bad++;
			tconn_close(c);
			c = tconn_open(l->port, 2000);
		}
		tresp_free(&r);
	}
	tconn_close(c);
	return NULL;
}

/* requests per second that nclients keep-alive clients get from port */
static double
rate(int port, int nclients, int secs, long *bad)
{
	static struct loop l[400];
	long ok = 0;

	*bad = 0;
	for (int i = 0; i < nclients; i++) {
		l[i] = (struct loop){ .port = port, .secs = secs };
		assert_int_equal(pthread_create(&l[i].t, NULL, loop_run, &l[i]), 0);
	}
	for (int i = 0; i < nclients; i++) {
		assert_int_equal(pthread_join(l[i].t, NULL), 0);
		ok += l[i].ok;
		*bad += l[i].bad;
	}
	return (double)ok / secs;
}

/* issue 19: a 50 ms app and 100 clients, prescal at its defaults (no -t):
 * within 10% of the app's own rate */
static void
test_slow_app_default_workers(void **state)
{
	double direct, through;
	long bad1, bad2;
	char log[4096];

	(void)state;
	backend_up();
	prescal_up(NULL, "access_log 0\n", NULL);
	direct = rate(bport, 100, 3, &bad1);
	through = rate(pport, 100, 3, &bad2);
	printf("exhaust: 50 ms app, 100 clients: direct %.0f req/s, through prescal (default "
	       "workers) %.0f req/s (%.2fx), %ld + %ld failed\n", direct, through,
	       through / direct, bad1, bad2);
	tproc_log(prox, log, sizeof(log));
	printf("exhaust: %.*s", (int)strcspn(log, "\n") + 1, log);
	assert_int_equal(bad1 + bad2, 0);
	if (through < 0.9 * direct)
		fail_msg("through prescal %.0f req/s, below 90%% of direct %.0f", through, direct);
}

/* keep-alive GET / from nthreads clients for ms; returns req/s */
struct quick {
	pthread_t t;
	int ms;
	long ok, bad;
};

static void *
quick_run(void *arg)
{
	struct quick *q = arg;
	struct tconn *c = tconn_open(pport, 1000);
	struct tresp r = { 0 };
	int64_t until = now_ms() + q->ms;

	while (c && now_ms() < until) {
		if (texchange(c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", &r, T_RESP) == 0 &&
		    r.status == 200)
			q->ok++;
		else
			q->bad++;
		tresp_free(&r);
	}
	tconn_close(c);
	return NULL;
}

static double
quick_rate(int ms, long *bad)
{
	struct quick q[4];
	long ok = 0;

	*bad = 0;
	for (int i = 0; i < 4; i++) {
		q[i] = (struct quick){ .ms = ms };
		assert_int_equal(pthread_create(&q[i].t, NULL, quick_run, &q[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(q[i].t, NULL), 0);
		ok += q[i].ok;
		*bad += q[i].bad;
	}
	return ok * 1000.0 / ms;
}

/* a client that sends a body one byte every 300 ms */
struct trickle {
	pthread_t t;
	int status;
};

static void *
trickle_run(void *arg)
{
	struct trickle *k = arg;
	struct tconn *c = tconn_open(pport, 1000);
	struct tresp r = { 0 };
	int64_t until = now_ms() + 15000;

	k->status = -1;
	if (!c || tsends(c, "POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n"))
		goto out;
	while (now_ms() < until && tsend(c, "x", 1) == 0) {
		if (tresp_read(c, &r, 0, 300) == 0) {
			k->status = r.status;
			break;
		}
		tresp_free(&r);
	}
out:
	tresp_free(&r);
	tconn_close(c);
	return NULL;
}

/* everything at once: 16 slow bodies, 16 slow readers and 200 quiet
 * WebSockets, at the default worker count; a normal client is answered
 * within 50 ms and normal throughput stays within 10% of a quiet run; the
 * slow bodies get 408 from min_rate */
static void
test_everything_at_once(void **state)
{
	static struct tconn *ws[200], *rd[16];
	struct trickle tk[16];
	double quiet, loaded;
	long bad;
	int64_t worst = 0, ms, until;
	int st, n408 = 0;

	(void)state;
	backend_up();
	prescal_up(NULL, "min_rate 1000\nmin_rate_grace 5000\nsend_timeout 3000\n"
	           "access_log 0\n", NULL);
	quiet = quick_rate(1500, &bad);
	assert_int_equal(bad, 0);
	for (int i = 0; i < 16; i++) {
		assert_non_null(rd[i] = tconn_open(pport, 1000));
		assert_int_equal(tsends(rd[i], "GET /big?bytes=20000000 HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
	}
	for (int i = 0; i < 200; i++) {
		ws[i] = ws_open(&st);
		assert_int_equal(st, 101);
	}
	for (int i = 0; i < 16; i++)
		assert_int_equal(pthread_create(&tk[i].t, NULL, trickle_run, &tk[i]), 0);
	msleep(300);
	for (until = now_ms() + 1500; now_ms() < until; msleep(20)) {
		assert_int_equal(get1("GET / HTTP/1.1\r\nHost: t\r\n\r\n", &ms), 200);
		worst = MAX(worst, ms);
	}
	loaded = quick_rate(1500, &bad);
	for (int i = 0; i < 16; i++) {
		assert_int_equal(pthread_join(tk[i].t, NULL), 0);
		n408 += tk[i].status == 408;
	}
	printf("exhaust: %d of 16 slow bodies got 408 (min_rate 1000, grace 5000 ms)\n", n408);
	for (int i = 0; i < 16; i++)
		tconn_close(rd[i]);
	for (int i = 0; i < 200; i++)
		tconn_close(ws[i]);
	assert_int_equal(bad, 0);
	/* quiet before and after: drift on a shared machine hits both alike */
	quiet = (quiet + quick_rate(1500, &bad)) / 2;
	printf("exhaust: 16 slow bodies, 16 slow readers, 200 WebSockets: a normal request "
	       "took at most %lld ms; throughput %.0f req/s against %.0f quiet (mean of before "
	       "and after, %.2fx), %ld failed\n", (long long)worst, loaded, quiet, loaded / quiet,
	       bad);
	assert_int_equal(bad, 0);
	assert_int_equal(n408, 16);
	if (worst > FAST_MS)
		fail_msg("a normal request took %lld ms (bound %d)", (long long)worst, FAST_MS);
	if (loaded < 0.9 * quiet)
		fail_msg("throughput %.0f req/s, below 90%% of the quiet %.0f", loaded, quiet);
}

/* issue 19: threads are cheap. 2,000 workers idle, then all 2,000 busy
 * with a slow request each: prescal's RSS stays under 32 and 64 MiB */
static void
test_worker_memory(void **state)
{
	static struct many m;
	long idle, busy;
	int ok;

	(void)state;
	backend_up();
	prescal_up(NULL, "access_log 0\nmax_conns 4000\n", "-t", "2000", NULL);
	msleep(500);
	idle = proc_rss_kb(prox->pid);
	many_send(&m, 2000, "GET /slow?ms=2000 HTTP/1.1\r\nHost: t\r\n\r\n");
	msleep(1000);
	busy = proc_rss_kb(prox->pid);
	ok = many_read(&m, 200, 10000);
	many_close(&m);
	printf("exhaust: 2000 workers: RSS %ld KiB idle, %ld KiB with all 2000 busy "
	       "(%d answered 200)\n", idle, busy, ok);
	assert_int_equal(ok, 2000);
	assert_true(idle > 0 && idle < 32 * 1024);
	assert_true(busy > 0 && busy < 64 * 1024);
}


/* out of descriptors (ulimit -n 64): prescal pauses accepts instead of
 * spinning on the listener, logs at most once a second, and serves again
 * once descriptors are free */
static void
test_emfile_backoff(void **state)
{
	static struct tconn *c[120];
	double cpu0, cpu1;
	int i, n = 0, logs;
	int64_t ms;

	(void)state;
	backend_up();
	prescal_up("ulimit -n 64;", "access_log 0\n", "-t", "4", NULL);
	for (i = 0; i < (int)LEN(c); i++)
		if ((c[i] = tconn_open(pport, 1000)))
			n++;
	msleep(300);
	cpu0 = proc_cpu_s(prox->pid);
	msleep(2000);
	cpu1 = proc_cpu_s(prox->pid);
	logs = tproc_log_count(prox, "pausing accepts");
	printf("exhaust: %d connections at ulimit -n 64: prescal used %.0f%% of a core over "
	       "2 s, %d log lines\n", n, (cpu1 - cpu0) / 2 * 100, logs);
	assert_true(cpu0 >= 0 && cpu1 >= 0);
	assert_true(logs >= 1 && logs <= 4);
	if (cpu1 - cpu0 > 0.2)
		fail_msg("prescal spun: %.2f s of CPU in 2 s", cpu1 - cpu0);
	for (i = 0; i < (int)LEN(c); i++)
		tconn_close(c[i]);
	msleep(300);
	assert_int_equal(get1("GET / HTTP/1.1\r\nHost: t\r\n\r\n", &ms), 200);
	printf("exhaust: after the clients left, a request was answered in %lld ms\n",
	       (long long)ms);
}

#define T(f) cmocka_unit_test_teardown(f, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_held_cost_no_worker),
		T(test_held_times_out),
		T(test_tunnels_cost_no_worker),
		T(test_slow_app_default_workers),
		T(test_everything_at_once),
		T(test_worker_memory),
		T(test_emfile_backoff),
	};
	struct rlimit rl;

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	snprintf(prescal_bin, sizeof(prescal_bin), "%s",
	         getenv("PRESCAL_BIN") ? getenv("PRESCAL_BIN") : "./prescal");
	snprintf(backend_bin, sizeof(backend_bin), "%s",
	         getenv("PRESCAL_BACKEND") ? getenv("PRESCAL_BACKEND") : "./tests/backend");
	if (getenv("EXHAUST_FILTER"))
		cmocka_set_test_filter(getenv("EXHAUST_FILTER"));
	return cmocka_run_group_tests_name("exhaust", tests, NULL, NULL);
}
