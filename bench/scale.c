/* See LICENSE file for copyright and license details. */
/*
 * bench/scale.c: make bench-scale. How fast prescal's capacity follows the
 * load, against a live dockerd, with the demo image (tests/backend) and a
 * "boot" before it listens ($BOOT_MS baked into a variant image):
 *   burst  200 clients at once on an app at 0 instances (max 8, target
 *          10), for boots of 0, 500 and 2000 ms, against the floor: docker
 *          run, then polling until the first answer, by hand;
 *   ramp   concurrency from 10 to 400 over SCALE_RAMP_S (60) seconds on a
 *          50 ms handler: queueing delay and instances against the ideal;
 *   drop   then 5 clients (instances drain) and then none: time to 0;
 *   wake   a cold start against a wake from paused (pause_after), for
 *          boots of 0 and 2000 ms, and the floor;
 *   churn  SCALE_CHURN (500) scale-from-zero cycles: orphans, fds, RSS;
 *   idle   prescal's CPU with one app at 0 instances for 10 s.
 * usage: bench/scale [scenario...] (default: all). Writes markdown to
 * stdout and to bench/scale-results.md (bench/scale-partial.md when
 * scenarios are named). Every container it makes carries the label
 * prescal.bench=scale and is removed at the end.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/tclient.h"
#include "tests/tdocker.h"
#include "util.h"

#define BASE       "prescal-test-backend:latest"
#define NBURST     200
#define MAXC       400      /* ramp: most clients */
#define PERCLIENT  4000     /* ramp: requests recorded per client */
#define WORK_MS    50       /* the handler's time */
#define WINDOW_S   10       /* ramp: rows of the table */

static FILE *md;             /* the results file */
static char bin[512] = "./prescal";

/* one line to stdout and the results file */
static void
out(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	va_start(ap, fmt);
	vfprintf(md, fmt, ap);
	va_end(ap);
	fflush(stdout);
}

static int
cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

/* the q-quantile of v[0..n) (sorts v) */
static long
quantile(long *v, int n, double q)
{
	if (n == 0)
		return -1;
	qsort(v, n, sizeof(*v), cmp_long);
	return v[MIN(n - 1, (int)(q * n))];
}

/* the image with a boot of ms (built on the base image when missing) */
static const char *
image(int ms, char *name, size_t n)
{
	if (ms == 0)
		return BASE;
	snprintf(name, n, "prescal-bench-boot%d:latest", ms);
	if (sh("docker image inspect %s > /dev/null 2>&1", name) != 0 &&
	    sh("printf 'FROM %s\\nENV BOOT_MS=%d\\n' | DOCKER_BUILDKIT=0 docker build -q -t %s - "
	       "> /dev/null 2>&1", BASE, ms, name) != 0) {
		fprintf(stderr, "bench-scale: cannot build %s\n", name);
		exit(1);
	}
	return name;
}

/* a prescal for set on a free port with conf; admin on another */
struct px {
	struct tproc *p;
	int port, admin;
	char set[64];
};

static void
px_start(struct px *x, const char *tag, const char *img, const char *conf)
{
	char listen[32], adm[32], im[256], *cf;
	char *argv[] = { bin, "-q", "-l", listen, "-a", adm, "-i", im, "-p", "8080",
	                 "-m", "0", "-M", "8", "-c", "10", "-n", x->set, "-f", NULL, NULL };

	snprintf(x->set, sizeof(x->set), "pbs-%d-%s", (int)getpid(), tag);
	snprintf(im, sizeof(im), "%s", img);
	x->port = free_port();
	x->admin = free_port();
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", x->port);
	snprintf(adm, sizeof(adm), "127.0.0.1:%d", x->admin);
	if (!(cf = tmp_write("bench-scale", conf)))
		exit(1);
	argv[LEN(argv) - 2] = cf;
	if (!(x->p = tproc_start(argv, NULL, 1)) || wait_port(x->port, 10000) < 0) {
		fprintf(stderr, "bench-scale: prescal did not start\n");
		exit(1);
	}
}

/* SIGTERM (prescal removes its containers); the containers left after */
static int
px_stop(struct px *x)
{
	tproc_term(x->p, 60000);
	tproc_stop(x->p, SIGKILL);
	return dk_count(x->set, NULL);
}

static int
log_count(const struct px *x, const char *needle)
{
	return tproc_log_count(x->p, needle);
}

/* one GET on a new connection; the status or -1 */
static int
get(int port, const char *path, int timeout_ms)
{
	char req[128];
	struct tresp *r = calloc(1, sizeof(*r));
	struct tconn *c = tconn_open(port, 5000);
	int st = -1;

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n", path);
	if (r && c && texchange(c, req, r, timeout_ms) == 0)
		st = r->status;
	if (r)
		tresp_free(r);
	free(r);
	tconn_close(c);
	return st;
}

/* ready + starting instances from the admin /metrics, or -1 */
static int
instances(int admin, int *ready)
{
	struct tconn *c = tconn_open(admin, 1000);
	struct tresp *r = calloc(1, sizeof(*r));
	/* prescal_instances{app="...",state="ready"} N: one app here */
	static const char in[] = "\nprescal_instances{", rd[] = "state=\"ready\"} ",
	                  st[] = "state=\"starting\"} ";
	int n = -1, k;
	char *s, *e;

	*ready = 0;
	if (c && r && texchange(c, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n", r,
	                        2000) == 0 && r->body) {
		n = 0;
		for (s = r->body; (s = strstr(s, in)); s++) {
			if (!(e = strchr(s + 1, '\n')))
				break;
			if ((e = strstr(s, rd)) && e < strchr(s + 1, '\n') &&
			    sscanf(e + sizeof(rd) - 1, "%d", &k) == 1)
				n += *ready = k;
			else if ((e = strstr(s, st)) && e < strchr(s + 1, '\n') &&
			         sscanf(e + sizeof(st) - 1, "%d", &k) == 1)
				n += k;
		}
	}
	if (r)
		tresp_free(r);
	free(r);
	tconn_close(c);
	return n;
}

/* the floor: docker run, then GET / every 5 ms until 200; ms, or -1 */
static long
floor_ms(const char *img)
{
	char id[128], port[64], name[64], *colon;
	int64_t t0 = now_ms();
	long ms = -1;

	snprintf(name, sizeof(name), "pbs-%d-floor", (int)getpid());
	if (sh_line(id, sizeof(id), "docker run -d --name %s --label prescal.bench=scale "
	            "-p 127.0.0.1::8080 %s", name, img) < 0 ||
	    sh_line(port, sizeof(port), "docker port %s 8080/tcp", name) < 0 ||
	    !(colon = strrchr(port, ':')))
		goto out;
	while (now_ms() - t0 < 30000) {
		if (get(atoi(colon + 1), "/", 1000) == 200) {
			ms = (long)(now_ms() - t0);
			break;
		}
		msleep(5);
	}
out:
	sh("docker rm -f %s > /dev/null 2>&1", name);
	return ms;
}

/* burst: NBURST requests released at once */
struct shot {
	pthread_t t;
	pthread_barrier_t *go;
	int port, status;
	int64_t t0;
	long ms;
};

static void *
shot_run(void *arg)
{
	struct shot *s = arg;

	pthread_barrier_wait(s->go);
	s->status = get(s->port, "/slow?ms=50", 60000);
	s->ms = (long)(now_ms() - s->t0);
	return NULL;
}

static void
burst(int boot)
{
	static struct shot s[NBURST];
	pthread_barrier_t go;
	long lat[NBURST], first = -1, last = 0, fl;
	char name[64];
	const char *img = image(boot, name, sizeof(name));
	struct px x;
	int fails = 0, n = 0, left;
	int64_t t0;

	fl = floor_ms(img);
	px_start(&x, "burst", img, "pull never\nidle_timeout 60000\nscale_down_delay 60000\n");
	pthread_barrier_init(&go, NULL, NBURST + 1);
	for (int i = 0; i < NBURST; i++) {
		s[i] = (struct shot){ .go = &go, .port = x.port };
		if (pthread_create(&s[i].t, NULL, shot_run, &s[i]))
			exit(1);
	}
	t0 = now_ms();
	for (int i = 0; i < NBURST; i++)
		s[i].t0 = t0;
	pthread_barrier_wait(&go);
	for (int i = 0; i < NBURST; i++) {
		pthread_join(s[i].t, NULL);
		if (s[i].status != 200) {
			fails++;
			continue;
		}
		lat[n++] = s[i].ms;
		first = first < 0 ? s[i].ms : MIN(first, s[i].ms);
		last = MAX(last, s[i].ms);
	}
	pthread_barrier_destroy(&go);
	msleep(5000);  /* starts still under way finish */
	int started = log_count(&x, " ready on ");
	left = px_stop(&x);
	out("| %d ms | %ld | %ld | %ld | %ld | %d | %d | %ld | %d |\n", boot, first, last,
	    quantile(lat, n, 0.5), quantile(lat, n, 0.99), fails, started, fl, left);
}

/* ramp, drop: clients that come and go, each recording its requests */
struct rec {
	int32_t start;           /* ms since the ramp began */
	int32_t ms;              /* latency, -1: failed */
};

struct client {
	pthread_t t;
	int port;
	atomic_int stop;
	int n;
	struct rec r[PERCLIENT];
	int64_t t0;
};

static void *
client_run(void *arg)
{
	struct client *c = arg;
	struct tconn *k = NULL;
	struct tresp *r = calloc(1, sizeof(*r));
	int64_t a;
	int ok;

	while (r && !atomic_load(&c->stop)) {
		if (!k && !(k = tconn_open(c->port, 5000))) {
			msleep(10);
			continue;
		}
		a = now_ms();
		ok = texchange(k, "GET /slow?ms=50 HTTP/1.1\r\nHost: b\r\n\r\n", r, 60000) == 0 &&
		     r->status == 200;
		if (c->n < PERCLIENT)
			c->r[c->n++] = (struct rec){ (int32_t)(a - c->t0),
			                             ok ? (int32_t)(now_ms() - a) : -1 };
		tresp_free(r);
		if (!ok) {
			tconn_close(k);
			k = NULL;
		}
	}
	tconn_close(k);
	free(r);
	return NULL;
}

static struct client *cl[MAXC];     /* running */
static struct client *every[4 * MAXC]; /* every client made, for the tables */
static int ncl, nevery;

/* starts or stops clients until n run */
static void
clients_to(int n, int port, int64_t t0)
{
	struct client *c;

	while (ncl < n && nevery < (int)LEN(every)) {
		if (!(c = calloc(1, sizeof(*c))))
			exit(1);
		c->port = port;
		c->t0 = t0;
		if (pthread_create(&c->t, NULL, client_run, c))
			exit(1);
		cl[ncl++] = every[nevery++] = c;
	}
	while (ncl > n) {
		c = cl[--ncl];
		atomic_store(&c->stop, 1);
		pthread_join(c->t, NULL);
	}
}

/* queueing delay (latency - WORK_MS) p50/p99 of requests begun in
 * [from, to) ms, and failures */
static void
window(struct client **all, int nall, int from, int to, long *p50, long *p99, int *fails)
{
	static long v[MAXC * PERCLIENT];
	int n = 0;

	*fails = 0;
	for (int i = 0; i < nall; i++)
		for (int j = 0; j < all[i]->n; j++) {
			const struct rec *r = &all[i]->r[j];
			if (r->start < from || r->start >= to)
				continue;
			if (r->ms < 0)
				(*fails)++;
			else
				v[n++] = MAX(r->ms - WORK_MS, 0);
		}
	*p50 = quantile(v, n, 0.5);
	*p99 = quantile(v, n, 0.99);
}

static void
ramp_drop(int secs)
{
	static int samp_ready[1000], samp_c[1000];
	struct px x;
	int64_t t0, t;
	int ns = 0, ready, over = 0, ups, fails, left, c;
	long p50, p99;

	px_start(&x, "ramp", BASE, "pull never\nscale_down_delay 2000\nidle_timeout 5000\n");
	t0 = now_ms();
	ncl = 0;
	for (int s = 0; s <= secs && ns < 1000; s++) {
		c = 10 + (MAXC - 10) * s / secs;
		clients_to(c, x.port, t0);
		instances(x.admin, &ready);
		samp_ready[ns] = ready;
		samp_c[ns++] = c;
		over = MAX(over, ready - (int)MIN(8, (c + 9) / 10));
		while (now_ms() < t0 + (s + 1) * 1000)
			msleep(20);
	}
	ups = log_count(&x, "scale up");
	out("\n### Ramp: 10 to %d clients over %d s, 50 ms handler, target 10, max 8\n\n", MAXC,
	    secs);
	out("| seconds | clients | ideal instances | ready instances | queueing p50 ms | "
	    "queueing p99 ms | failed |\n|--:|--:|--:|--:|--:|--:|--:|\n");
	for (int w = 0; w * WINDOW_S < secs; w++) {
		int from = w * WINDOW_S, to = MIN(secs, from + WINDOW_S), k = MIN(to, ns - 1);
		window(every, nevery, from * 1000, to * 1000, &p50, &p99, &fails);
		out("| %d-%d | %d | %d | %d | %ld | %ld | %d |\n", from, to, samp_c[k],
		    (int)MIN(8, (samp_c[k] + 9) / 10), samp_ready[k], p50, p99, fails);
	}
	out("\nScale-up decisions: %d; largest overshoot (ready - ideal at a sample): %d.\n", ups,
	    over);

	/* drop: 5 clients while instances drain one per 2 s, then none */
	t = now_ms();
	clients_to(5, x.port, t0);
	int64_t one = -1, zero = -1, stop;
	while (now_ms() - t < 40000) {
		if (instances(x.admin, &ready) == 1 && one < 0)
			one = now_ms() - t;
		if (one >= 0 && now_ms() - t > one + 3000)
			break;
		msleep(200);
	}
	int from = (int)(t - t0);
	clients_to(0, x.port, t0);
	window(every, nevery, from, (int)(now_ms() - t0), &p50, &p99, &fails);
	stop = now_ms();
	while (now_ms() - stop < 30000) {
		if (dk_count(x.set, NULL) == 0) {
			zero = now_ms() - stop;
			break;
		}
		msleep(100);
	}
	left = px_stop(&x);
	out("\n### Drop: 5 clients, then none (scale_down_delay 2000, idle_timeout 5000)\n\n");
	out("| 8 to 1 instance | requests failed while draining | no load to 0 containers | "
	    "containers left after SIGTERM |\n|--:|--:|--:|--:|\n");
	out("| %lld ms | %d | %lld ms | %d |\n", (long long)one, fails, (long long)zero, left);
	while (nevery > 0)
		free(every[--nevery]);
}

static void
churn(int cycles)
{
	struct px x;
	long rss0 = 0, rssh = 0, rss1 = 0;
	int fd0 = 0, fd1 = 0, fails = 0, stuck = 0, left;
	int64_t t0 = now_ms(), t;

	px_start(&x, "churn", BASE, "pull never\nscale_down_delay 0\nidle_timeout 0\n");
	for (int i = 0; i < cycles; i++) {
		if (get(x.port, "/", 30000) != 200)
			fails++;
		for (t = now_ms(); now_ms() - t < 10000 && dk_count(x.set, NULL) != 0; )
			msleep(20);
		if (dk_count(x.set, NULL) != 0)
			stuck++;
		if (i == 0) {
			rss0 = proc_rss_kb(x.p->pid);
			fd0 = proc_nfd(x.p->pid);
		}
		if (i == cycles / 2)
			rssh = proc_rss_kb(x.p->pid);
	}
	rss1 = proc_rss_kb(x.p->pid);
	fd1 = proc_nfd(x.p->pid);
	left = px_stop(&x);
	out("\n### Churn: %d scale-from-zero cycles in %lld s\n\n", cycles,
	    (long long)(now_ms() - t0) / 1000);
	out("| failed requests | cycles not back to 0 in 10 s | orphaned containers | fds first "
	    "/ last | RSS KiB first / half-way / last |\n|--:|--:|--:|--:|--:|\n");
	out("| %d | %d | %d | %d / %d | %ld / %ld / %ld |\n", fails, stuck, left, fd0, fd1, rss0,
	    rssh, rss1);
}


/* wake: a cold start against a wake from paused and the floor */
static void
wake(int boot)
{
	char name[64];
	const char *img = image(boot, name, sizeof(name));
	long fl = floor_ms(img), cold = -1, w[3] = { -1, -1, -1 };
	struct px x;
	int64_t t;
	int left;

	px_start(&x, "wake", img, "pull never\npause_after 500\nidle_timeout 500\n"
	         "scale_down_delay 500\n");
	t = now_ms();
	if (get(x.port, "/", 30000) == 200)
		cold = (long)(now_ms() - t);
	for (int i = 0; i < 3; i++) {
		for (t = now_ms(); now_ms() - t < 15000 && log_count(&x, " paused in ") <= i; )
			msleep(20);
		t = now_ms();
		if (get(x.port, "/", 30000) == 200)
			w[i] = (long)(now_ms() - t);
	}
	left = px_stop(&x);
	out("| %d ms | %ld | %ld / %ld / %ld | %ld | %d |\n", boot, cold, w[0], w[1], w[2], fl,
	    left);
}

static void
idle(void)
{
	struct px x;
	double c0, c1;

	px_start(&x, "idle", BASE, "pull never\n");
	msleep(1000);
	c0 = proc_cpu_s(x.p->pid);
	msleep(10000);
	c1 = proc_cpu_s(x.p->pid);
	px_stop(&x);
	out("\n### Idle: one app at 0 instances, 10 s\n\nprescal used %.2f%% of one core "
	    "(%.0f ms of CPU in 10 s).\n", (c1 - c0) * 10, (c1 - c0) * 1000);
}

static int
wanted(int argc, char **argv, const char *name)
{
	if (argc < 2)
		return 1;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], name))
			return 1;
	return 0;
}

int
main(int argc, char **argv)
{
	char load[64] = "", cpu[128] = "";
	int secs = getenv("SCALE_RAMP_S") ? atoi(getenv("SCALE_RAMP_S")) : 60;
	int cycles = getenv("SCALE_CHURN") ? atoi(getenv("SCALE_CHURN")) : 500;
	struct rlimit rl;
	FILE *f;

	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getenv("PRESCAL_BIN"))
		snprintf(bin, sizeof(bin), "%s", getenv("PRESCAL_BIN"));
	if (docker_ping() < 0 || sh("sh tests/mkimage.sh > /dev/null") != 0) {
		fprintf(stderr, "bench-scale: needs a Docker daemon (bash tests/dockerd.sh)\n");
		return 1;
	}
	if (!(md = fopen(argc > 1 ? "bench/scale-partial.md" : "bench/scale-results.md", "w")))
		return 1;
	if ((f = fopen("/proc/loadavg", "r"))) {
		if (!fgets(load, sizeof(load), f))
			load[0] = '\0';
		fclose(f);
	}
	sh_line(cpu, sizeof(cpu), "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2");
	out("# prescal scaling benchmark\n\n- %ld CPUs,%s; load average before: %.14s\n"
	    "- bench/scale.c against a live dockerd; demo image %s\n", sysconf(_SC_NPROCESSORS_ONLN),
	    cpu, load, BASE);
	if (wanted(argc, argv, "burst")) {
		out("\n### Burst from zero: %d clients at once, max 8, target 10, 50 ms handler\n\n"
		    "| boot | first answer ms | last answer ms | p50 ms | p99 ms | failed | instances "
		    "started | floor: docker run to first answer ms | containers left |\n"
		    "|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n", NBURST);
		burst(0);
		burst(500);
		burst(2000);
	}
	if (wanted(argc, argv, "wake")) {
		out("\n### Wake from paused (pause_after 500) against a cold start and the floor\n\n"
		    "| boot | cold start, first answer ms | wake from paused, three wakes ms | floor: "
		    "docker run to first answer ms | containers left |\n|--:|--:|--:|--:|--:|\n");
		wake(0);
		wake(2000);
	}
	if (wanted(argc, argv, "ramp"))
		ramp_drop(secs);
	if (wanted(argc, argv, "churn"))
		churn(cycles);
	if (wanted(argc, argv, "idle"))
		idle();
	if ((f = fopen("/proc/loadavg", "r"))) {
		if (!fgets(load, sizeof(load), f))
			load[0] = '\0';
		fclose(f);
	}
	out("\nLoad average after: %.14s\n", load);
	sh("docker ps -aq --filter label=prescal.bench=scale | xargs -r docker rm -f > /dev/null");
	tmp_remove(NULL);
	fclose(md);
	return 0;
}
