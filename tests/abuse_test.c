/* See LICENSE file for copyright and license details. */
/* abuse_test: prescal against hostile clients over loopback — request
 * smuggling and ambiguous framing (RFC 9112 6, 11.2), slowloris, many idle
 * connections, connection churn and oversized heads and bodies. The group
 * setup starts a recording backend, a plain one and one prescal; tests that
 * need other settings start their own, which the per-test teardown kills.
 * $PRESCAL_BIN and $PRESCAL_BACKEND name the binaries (default ./prescal
 * and ./tests/backend). Every loop is bounded in count and time; measured
 * figures are printed. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "tests/tclient.h"
#include "util.h"

#define T_RESP      3000           /* ms, an ordinary response */
#define SETTLE      100            /* ms before the record file is compared */
#define RSS_MAX_KB  (64 * 1024)
#define SCOPE_GROUP 0
#define SCOPE_TEST  1
#define GET_REQ     "GET / HTTP/1.1\r\nHost: t\r\n\r\n"
#define RQ(s)       s, sizeof(s) - 1

/* the group: set up once, read-only in the tests */
static char prescal_bin[512], backend_bin[512];
static struct tproc *gback, *gplain, *gprox;
static int bad_exit;       /* the group prescal did not exit 0 on SIGTERM */
static int bport, plport, pport;
static char recfile[64], gconf[80];

/* temporary config files, removed by the teardowns */
static char last_conf[80];       /* the config file start_prescal wrote last */

/* test_idle_5000's connections, closed by the teardown after a failure */
static int idle_fd[5000], idle_n;

static const char group_conf[] =
	"# abuse_test group instance: a small backend connection cache, so that\n"
	"# a tainted backend connection would be reused and show up\n"
	"header_timeout 2000\n"
	"body_timeout 1000\n"
	"keepalive_timeout 10000\n"
	"backend_timeout 3000\n"
	"connect_timeout 500\n"
	"max_fails 1000\n"
	"idle_per_backend 4\n";

/* helpers */


/* starts tests/backend on port, recording into rec unless it is NULL */
static int
start_backend(struct tproc **p, int port, char *rec, int scope)
{
	char sport[16];
	char *argv[] = { backend_bin, "-p", sport, NULL, NULL, NULL };

	snprintf(sport, sizeof(sport), "%d", port);
	if (rec) {
		argv[3] = "-r";
		argv[4] = rec;
	}
	if (!(*p = tproc_start(argv, NULL, scope)))
		return -1;
	if (wait_port(port, 5000) < 0) {
		tproc_stop(*p, SIGKILL);
		return -1;
	}
	return 0;
}

/* starts prescal on 127.0.0.1:port with the config text conf, threads
 * workers and the one backend 127.0.0.1:back */
static int
start_prescal(struct tproc **p, int port, const char *conf, int threads, int back)
{
	char listen[64], th[16], bp[64], *cf = tmp_write("abuse-conf", conf);
	char *argv[] = { prescal_bin, "-q", "-a", "off", "-l", listen, "-b", bp, "-t", th,
	                 "-f", cf, NULL };
	char log[2048];

	if (!cf)
		return -1;
	snprintf(last_conf, sizeof(last_conf), "%s", cf);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	snprintf(bp, sizeof(bp), "127.0.0.1:%d", back);
	snprintf(th, sizeof(th), "%d", threads);
	if (!(*p = tproc_start(argv, NULL, SCOPE_TEST)))
		return -1;
	if (wait_port(port, 5000) < 0 || tproc_wait(*p, 0) == 0) {
		fprintf(stderr, "prescal did not start:\n%s\n", tproc_log(*p, log, sizeof(log)));
		tproc_stop(*p, SIGKILL);
		return -1;
	}
	msleep(50);  /* wait_port's probe connection is gone */
	return 0;
}

/* prints what prescal logged (warnings; -q leaves out the access log) */
static void
show_log(const char *who, const struct tproc *p)
{
	char log[4096];

	tproc_log(p, log, sizeof(log));
	printf("abuse: %s log: %s%s", who, log[0] ? "\n" : "(empty)\n", log);
}

#define assert_resp(rc, r) do { \
	if ((rc) != 0) \
		fail_msg("no response: %s", (r)->err); \
} while (0)

#define assert_status(rc, r, want) do { \
	assert_resp(rc, r); \
	if ((r)->status != (want)) \
		fail_msg("status %d, want %d; head:\n%s", (r)->status, (want), (r)->head); \
} while (0)

/* one request on a new connection; the connection is closed */
static int
request1(int port, const char *req, struct tresp *r)
{
	struct tconn *c = tconn_open(port, 1000);
	int rc;

	r->body = NULL;
	if (!c) {
		snprintf(r->err, sizeof(r->err), "connect: %s", strerror(errno));
		return -1;
	}
	rc = texchange(c, req, r, T_RESP);
	tconn_close(c);
	return rc;
}

/* a GET / through port answers 200 within ms; returns how long it took */
static long
served(int port, int ms)
{
	struct tresp r = { 0 };
	int64_t t0 = now_ms();
	struct tconn *c = tconn_open(port, ms);
	int rc;

	if (!c)
		fail_msg("connect: %s", strerror(errno));
	rc = texchange(c, GET_REQ, &r, ms);
	assert_status(rc, &r, 200);
	tresp_free(&r);
	tconn_close(c);
	return (long)(now_ms() - t0);
}

static long
rec_size(void)
{
	struct stat st;

	return stat(recfile, &st) == 0 ? (long)st.st_size : -1;
}

/* the record file's bytes from off on, malloc'd and NUL-terminated */
static char *
rec_from(long off, long *n)
{
	FILE *f = fopen(recfile, "re");
	long end;
	char *buf = NULL;

	*n = 0;
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	end = ftell(f);
	if (end >= off && (buf = malloc(end - off + 1))) {
		fseek(f, off, SEEK_SET);
		*n = (long)fread(buf, 1, end - off, f);
		buf[*n] = '\0';
	}
	fclose(f);
	return buf;
}

/* waits up to ms for prescal pid to hold at most want fds; returns the count */
static int
wait_nfd(pid_t pid, int want, int ms)
{
	int64_t until = now_ms() + ms;
	int n;

	while ((n = proc_nfd(pid)) > want && now_ms() < until)
		msleep(50);
	return n;
}

/* a tconn over an fd the caller owns, to read responses with tresp_read */
static struct tconn *
reader(int fd)
{
	static struct tconn *rd;   /* the test thread's only */

	if (!rd && !(rd = malloc(sizeof(*rd))))
		return NULL;
	rd->fd = fd;
	rd->off = rd->len = 0;
	return rd;
}

/* a backend that reads and drops everything and never answers: it tells
 * when prescal closes the connection */
struct hole {
	int lfd, port, running;
	atomic_int stop, conns, closed;
	atomic_long bytes;
	_Atomic int64_t closed_at;
	pthread_t t;
};

/* one at a time; the thread reads it, so not on a stack */
static struct hole hole;

static void *
hole_run(void *arg)
{
	struct hole *h = arg;
	struct pollfd pfd[9];
	char buf[65536];
	ssize_t k;
	int n = 1, fd;

	pfd[0].fd = h->lfd;
	pfd[0].events = POLLIN;
	while (!atomic_load(&h->stop)) {
		if (poll(pfd, n, 50) <= 0)
			continue;
		for (int i = n - 1; i > 0; i--) {
			if (!pfd[i].revents)
				continue;
			k = recv(pfd[i].fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (k > 0) {
				atomic_fetch_add(&h->bytes, k);
			} else if (k == 0 || errno != EAGAIN) {
				atomic_store(&h->closed_at, now_ms());
				atomic_fetch_add(&h->closed, 1);
				close(pfd[i].fd);
				pfd[i] = pfd[--n];
			}
		}
		if ((pfd[0].revents & POLLIN) && (fd = accept(h->lfd, NULL, NULL)) >= 0) {
			if (n == (int)LEN(pfd)) {
				close(fd);
				continue;
			}
			atomic_fetch_add(&h->conns, 1);
			pfd[n].fd = fd;
			pfd[n++].events = POLLIN;
		}
	}
	for (int i = 1; i < n; i++)
		close(pfd[i].fd);
	return NULL;
}

static int
hole_start(struct hole *h)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	const char *msg;
	char addr[32];

	memset(h, 0, sizeof(*h));
	h->port = free_port();
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", h->port);
	if (resolve_addr(addr, "127.0.0.1", &ss, &sl, &msg) < 0 ||
	    (h->lfd = listen_tcp(&ss, sl, 16)) < 0)
		return -1;
	if (pthread_create(&h->t, NULL, hole_run, h)) {
		close(h->lfd);
		return -1;
	}
	h->running = 1;
	return 0;
}

/* stops h if it runs */
static void
hole_stop(struct hole *h)
{
	if (!h->running)
		return;
	h->running = 0;
	atomic_store(&h->stop, 1);
	pthread_join(h->t, NULL);
	close(h->lfd);
}

/* group setup and teardown */

static int
group_setup(void **state)
{
	int fd;

	(void)state;
	snprintf(prescal_bin, sizeof(prescal_bin), "%s",
	         getenv("PRESCAL_BIN") ? getenv("PRESCAL_BIN") : "./prescal");
	snprintf(backend_bin, sizeof(backend_bin), "%s",
	         getenv("PRESCAL_BACKEND") ? getenv("PRESCAL_BACKEND") : "./tests/backend");
	if (access(prescal_bin, X_OK) || access(backend_bin, X_OK)) {
		fprintf(stderr, "abuse_test: need %s and %s (set PRESCAL_BIN, PRESCAL_BACKEND)\n",
		        prescal_bin, backend_bin);
		return -1;
	}
	snprintf(recfile, sizeof(recfile), "/tmp/prescal-abuse-rec-XXXXXX");
	if ((fd = mkstemp(recfile)) < 0)
		return -1;
	close(fd);
	if ((bport = free_port()) < 0 || (plport = free_port()) < 0 || (pport = free_port()) < 0)
		return -1;
	if (start_backend(&gback, bport, recfile, SCOPE_GROUP) < 0 ||
	    start_backend(&gplain, plport, NULL, SCOPE_GROUP) < 0)
		return -1;
	if (start_prescal(&gprox, pport, group_conf, 2, bport) < 0)
		return -1;
	gprox->scope = SCOPE_GROUP;
	snprintf(gconf, sizeof(gconf), "%s", last_conf);
	printf("abuse: prescal %s pid %d on %d, backend %d (recording), %d (plain)\n",
	       prescal_bin, (int)gprox->pid, pport, bport, plport);
	return 0;
}

static int
group_teardown(void **state)
{
	char log[4096];
	int rc = 0;

	(void)state;
	if (gprox && tproc_wait(gprox, 0) == 0)
		fprintf(stderr, "abuse: the group prescal died (status %#x):\n%s\n",
		        gprox->status, tproc_log(gprox, log, sizeof(log)));
	tconn_close_all();
	tresp_free_all();
	tproc_stop_scope(SCOPE_TEST);
	/* SIGTERM, so that a sanitized prescal exits and LeakSanitizer reports */
	if (tproc_term(gprox, 15000) != 0) {
		fprintf(stderr, "abuse: the group prescal did not exit 0 on SIGTERM\n");
		bad_exit = 1;
		rc = -1;
	}
	tproc_stop(gplain, SIGKILL);
	tproc_stop(gback, SIGKILL);
	tmp_remove(NULL);
	unlink(recfile);
	return rc;
}

static int
test_teardown(void **state)
{
	(void)state;
	for (int i = 0; i < idle_n; i++)
		close(idle_fd[i]);
	idle_n = 0;
	hole_stop(&hole);
	tconn_close_all();
	tresp_free_all();
	tproc_stop_scope(SCOPE_TEST);
	tmp_remove(gconf);
	return 0;
}

/* 1. request smuggling and framing */

enum { AT_HEAD, AT_BODY };  /* where the fault is: the head, or the chunked body */

struct smug {
	const char *name;
	const char *req;
	size_t len;
	int want, alt;         /* the status; alt: another acceptable one, or 0 */
	int at;
};

#define POSTC "POST /zs HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
#define SMUG  "GET /zsmug HTTP/1.1\r\nHost: t\r\n\r\n"

/* a chunked request whose first chunk-ext is n bytes long */
static char *
long_ext(size_t n)
{
	static const char pre[] = POSTC "5;", post[] = "\r\nhello\r\n0\r\n\r\n" SMUG;
	char *s = malloc(sizeof(pre) + n + sizeof(post));

	if (!s)
		return NULL;
	memcpy(s, pre, sizeof(pre) - 1);
	memset(s + sizeof(pre) - 1, 'e', n);
	memcpy(s + sizeof(pre) - 1 + n, post, sizeof(post));
	return s;
}

/* after a rejected request: no backend connection that saw part of it was
 * reused, so the next request is served as itself */
static int
sync_echo(char *why, size_t n)
{
	struct tresp r = { 0 };
	static const char want[] = "GET /echo?zsync HTTP/1.1\r\n";
	int rc = request1(pport, "GET /echo?zsync HTTP/1.1\r\nHost: t\r\n\r\n", &r);
	int ok = rc == 0 && r.status == 200 && r.body && !strncmp(r.body, want, sizeof(want) - 1);

	if (!ok)
		snprintf(why, n, "the next request is not served as itself: %s status %d, body "
		         "%.60s", rc ? r.err : "", r.status, r.body ? r.body : "");
	tresp_free(&r);
	return ok ? 0 : -1;
}

/* runs one case; returns 0, or -1 with why set; *fwd: bytes the backend got */
static int
smug_case(const struct smug *t, char *why, size_t n, long *fwd)
{
	struct tconn *c = tconn_open(pport, 1000);
	struct tresp r = { 0 };
	long before = rec_size(), got;
	char *delta;
	int rc, closed;

	*fwd = 0;
	if (!c) {
		snprintf(why, n, "connect: %s", strerror(errno));
		return -1;
	}
	if (tsend(c, t->req, t->len) < 0) {
		snprintf(why, n, "send: %s", strerror(errno));
		tconn_close(c);
		return -1;
	}
	rc = tresp_read(c, &r, 0, T_RESP);
	closed = rc == 0 ? tclosed(c, 2000) : 1;
	tconn_close(c);
	if (rc) {
		snprintf(why, n, "no response: %s", r.err);
		return -1;
	}
	tresp_free(&r);
	if (r.status != t->want && (!t->alt || r.status != t->alt)) {
		snprintf(why, n, "status %d, want %d", r.status, t->want);
		return -1;
	}
	if (!strcasestr(r.head, "\r\nConnection: close\r\n") || closed != 1) {
		snprintf(why, n, "%d, but the connection %s", r.status,
		         closed == 1 ? "is not marked Connection: close" : "stays open");
		return -1;
	}
	msleep(SETTLE);
	delta = rec_from(before, &got);
	*fwd = got;
	/* the whole request arrives at once: prescal sees a body fault before
	 * it contacts a backend, so nothing of it may be forwarded */
	if (got > 0) {
		snprintf(why, n, "%d, but the backend received %ld bytes: %.80s", r.status, got,
		         delta ? delta : "");
		free(delta);
		return -1;
	}
	free(delta);
	if (r.status != t->want)
		printf("abuse:   (%s: %d, also accepted; preferred %d)\n", t->name, r.status,
		       t->want);
	return sync_echo(why, n);
}

static void
test_smuggling_table(void **state)
{
	char *ext = long_ext(5000);
	struct smug t[] = {
		/* Content-Length and Transfer-Encoding together (RFC 9112 6.1, 6.3) */
		{ "CL then TE", RQ("POST /zs HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" SMUG), 400, 0, AT_HEAD },
		{ "TE then CL", RQ("POST /zs HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
		  "Content-Length: 40\r\n\r\n0\r\n\r\n" SMUG), 400, 0, AT_HEAD },
		/* Content-Length values (RFC 9112 6.3 item 5, RFC 9110 8.6) */
		{ "CL twice, same", RQ("POST /zs HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
		  "Content-Length: 5\r\n\r\nhello" SMUG), 400, 0, AT_HEAD },
		{ "CL twice, different", RQ("POST /zs HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
		  "Content-Length: 38\r\n\r\nhello" SMUG), 400, 0, AT_HEAD },
		{ "CL list 5, 5", RQ("POST /zs HTTP/1.1\r\nHost: t\r\nContent-Length: 5, 5\r\n\r\n"
		  "hello" SMUG), 400, 0, AT_HEAD },
		{ "CL +5", RQ("POST /zs HTTP/1.1\r\nHost: t\r\nContent-Length: +5\r\n\r\nhello"
		  SMUG), 400, 0, AT_HEAD },
		{ "CL -1", RQ("POST /zs HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n" SMUG),
		  400, 0, AT_HEAD },
		{ "CL 0x5", RQ("POST /zs HTTP/1.1\r\nHost: t\r\nContent-Length: 0x5\r\n\r\nhello"
		  SMUG), 400, 0, AT_HEAD },
		{ "CL 1 0", RQ("POST /zs HTTP/1.1\r\nHost: t\r\nContent-Length: 1 0\r\n\r\nhello"
		  SMUG), 400, 0, AT_HEAD },
		{ "CL 5a", RQ("POST /zs HTTP/1.1\r\nHost: t\r\nContent-Length: 5a\r\n\r\nhello"
		  SMUG), 400, 0, AT_HEAD },
		{ "CL 20 digits", RQ("POST /zs HTTP/1.1\r\nHost: t\r\n"
		  "Content-Length: 99999999999999999999\r\n\r\nhello" SMUG), 400, 413, AT_HEAD },
		{ "CL empty", RQ("POST /zs HTTP/1.1\r\nHost: t\r\nContent-Length:\r\n\r\n" SMUG),
		  400, 0, AT_HEAD },
		/* Transfer-Encoding values: chunked must be last and once (6.1, 6.3 item 4);
		 * an unknown coding may get 501 (6.1) */
		{ "TE chunked, identity", RQ("POST /zs HTTP/1.1\r\nHost: t\r\n"
		  "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" SMUG),
		  400, 501, AT_HEAD },
		{ "TE identity", RQ("POST /zs HTTP/1.1\r\nHost: t\r\n"
		  "Transfer-Encoding: identity\r\n\r\n0\r\n\r\n" SMUG), 501, 400, AT_HEAD },
		{ "TE gzip, chunked", RQ("POST /zs HTTP/1.1\r\nHost: t\r\n"
		  "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" SMUG), 501, 400, AT_HEAD },
		{ "TE chunked;q=1", RQ("POST /zs HTTP/1.1\r\nHost: t\r\n"
		  "Transfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n" SMUG), 400, 501, AT_HEAD },
		{ "TE chunked, chunked", RQ("POST /zs HTTP/1.1\r\nHost: t\r\n"
		  "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n" SMUG), 400, 501, AT_HEAD },
		{ "TE xchunked", RQ("POST /zs HTTP/1.1\r\nHost: t\r\n"
		  "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" SMUG), 501, 400, AT_HEAD },
		{ "TE vertical tab", RQ("POST /zs HTTP/1.1\r\nHost: t\r\n"
		  "Transfer-Encoding: \x0b" "chunked\r\n\r\n0\r\n\r\n" SMUG), 400, 0, AT_HEAD },
		{ "TE obs-fold", RQ("POST /zs HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:\r\n"
		  " chunked\r\n\r\n0\r\n\r\n" SMUG), 400, 0, AT_HEAD },
		{ "TE space before colon", RQ("POST /zs HTTP/1.1\r\nHost: t\r\n"
		  "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n" SMUG), 400, 0, AT_HEAD },
		{ "TE tab before colon", RQ("POST /zs HTTP/1.1\r\nHost: t\r\n"
		  "Transfer-Encoding\t: chunked\r\n\r\n0\r\n\r\n" SMUG), 400, 0, AT_HEAD },
		{ "TE twice", RQ("POST /zs HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" SMUG), 400, 0, AT_HEAD },
		{ "TE twice, identity last", RQ("POST /zs HTTP/1.1\r\nHost: t\r\n"
		  "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n"
		  "0\r\n\r\n" SMUG), 400, 501, AT_HEAD },
		/* chunk framing (RFC 9112 7.1) */
		{ "chunk size -1", RQ(POSTC "-1\r\nhello\r\n0\r\n\r\n" SMUG), 400, 0, AT_BODY },
		{ "chunk size 0x10", RQ(POSTC "0x10\r\n0123456789abcdef\r\n0\r\n\r\n" SMUG),
		  400, 0, AT_BODY },
		{ "chunk size 1 0", RQ(POSTC "1 0\r\n0123456789abcdef\r\n0\r\n\r\n" SMUG),
		  400, 0, AT_BODY },
		{ "chunk size 17 digits", RQ(POSTC "10000000000000000\r\nhello\r\n0\r\n\r\n" SMUG),
		  400, 0, AT_BODY },
		{ "chunk size 17 digits, leading 0", RQ(POSTC "00000000000000005\r\nhello\r\n"
		  "0\r\n\r\n" SMUG), 400, 0, AT_BODY },
		{ "chunk size empty", RQ(POSTC "\r\nhello\r\n0\r\n\r\n" SMUG), 400, 0, AT_BODY },
		{ "no CRLF after chunk data", RQ(POSTC "5\r\nhello0\r\n\r\n" SMUG), 400, 0,
		  AT_BODY },
		{ "chunk data longer than size", RQ(POSTC "5\r\nhelloXX\r\n0\r\n\r\n" SMUG),
		  400, 0, AT_BODY },
		{ "chunk lines LF only", RQ(POSTC "5\nhello\n0\n\n" SMUG), 400, 0, AT_BODY },
		{ "chunk data then LF only", RQ(POSTC "5\r\nhello\n0\r\n\r\n" SMUG), 400, 0,
		  AT_BODY },
		{ "chunk-ext with CTL", RQ(POSTC "5;a=\x01\r\nhello\r\n0\r\n\r\n" SMUG), 400, 0,
		  AT_BODY },
		{ "chunk-ext with bare CR", RQ(POSTC "5;a\rb\r\nhello\r\n0\r\n\r\n" SMUG), 400, 0,
		  AT_BODY },
		{ "chunk-ext 5000 bytes", ext, ext ? strlen(ext) : 0, 400, 0, AT_BODY },
		{ "trailer name with space", RQ(POSTC "5\r\nhello\r\n0\r\nX Y: 1\r\n\r\n" SMUG),
		  400, 0, AT_BODY },
		{ "trailer obs-fold", RQ(POSTC "5\r\nhello\r\n0\r\nX-T: 1\r\n 2\r\n\r\n" SMUG),
		  400, 0, AT_BODY },
		/* field syntax (RFC 9112 2.2, 5) */
		{ "obs-fold, tab", RQ("GET /zs HTTP/1.1\r\nHost: t\r\nX-A: a\r\n\tb\r\n\r\n"),
		  400, 0, AT_HEAD },
		{ "obs-fold after Host", RQ("GET /zs HTTP/1.1\r\nHost: t\r\n x\r\n\r\n"), 400, 0,
		  AT_HEAD },
		{ "bare CR in request line", RQ("GET /zs\rX HTTP/1.1\r\nHost: t\r\n\r\n"), 400, 0,
		  AT_HEAD },
		{ "bare CR in field", RQ("GET /zs HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n"),
		  400, 0, AT_HEAD },
		{ "bare CR ends a field", RQ("GET /zs HTTP/1.1\r\nHost: t\rX-A: a\r\n\r\n"),
		  400, 0, AT_HEAD },
		{ "bare LF in one field", RQ("GET /zs HTTP/1.1\r\nHost: t\nX-A: b\r\n\r\n"),
		  400, 0, AT_HEAD },
		{ "bare LF request line", RQ("GET /zs HTTP/1.1\nHost: t\r\n\r\n"), 400, 0,
		  AT_HEAD },
		{ "bare LF empty line", RQ("GET /zs HTTP/1.1\r\nHost: t\r\n\n"), 400, 0, AT_HEAD },
		{ "NUL in field value", RQ("GET /zs HTTP/1.1\r\nHost: t\r\nX-A: a\0b\r\n\r\n"),
		  400, 0, AT_HEAD },
		{ "NUL in field name", RQ("GET /zs HTTP/1.1\r\nHost: t\r\nX-\0A: b\r\n\r\n"),
		  400, 0, AT_HEAD },
		{ "NUL in request line", RQ("GET /zs\0 HTTP/1.1\r\nHost: t\r\n\r\n"), 400, 0,
		  AT_HEAD },
		{ "space in field name", RQ("GET /zs HTTP/1.1\r\nHost: t\r\nX A: b\r\n\r\n"),
		  400, 0, AT_HEAD },
		{ "empty field name", RQ("GET /zs HTTP/1.1\r\nHost: t\r\n: b\r\n\r\n"), 400, 0,
		  AT_HEAD },
		{ "DEL in field value", RQ("GET /zs HTTP/1.1\r\nHost: t\r\nX-A: a\x7f\r\n\r\n"),
		  400, 0, AT_HEAD },
		/* request line (RFC 9112 3) */
		{ "two spaces after method", RQ("GET  /zs HTTP/1.1\r\nHost: t\r\n\r\n"), 400, 0,
		  AT_HEAD },
		{ "two spaces before version", RQ("GET /zs  HTTP/1.1\r\nHost: t\r\n\r\n"), 400, 0,
		  AT_HEAD },
		{ "tab after method", RQ("GET\t/zs HTTP/1.1\r\nHost: t\r\n\r\n"), 400, 0, AT_HEAD },
		{ "tab before version", RQ("GET /zs\tHTTP/1.1\r\nHost: t\r\n\r\n"), 400, 0,
		  AT_HEAD },
		{ "space after version", RQ("GET /zs HTTP/1.1 \r\nHost: t\r\n\r\n"), 400, 0,
		  AT_HEAD },
		{ "lower-case version", RQ("GET /zs http/1.1\r\nHost: t\r\n\r\n"), 400, 0,
		  AT_HEAD },
		{ "HTTP/3.0", RQ("GET /zs HTTP/3.0\r\nHost: t\r\n\r\n"), 505, 0, AT_HEAD },
		{ "HTTP/1.1 without Host", RQ("POST /zs HTTP/1.1\r\nContent-Length: 5\r\n\r\n"
		  "hello"), 400, 0, AT_HEAD },
		{ "Host twice, same", RQ("GET /zs HTTP/1.1\r\nHost: t\r\nHost: t\r\n\r\n"), 400, 0,
		  AT_HEAD },
		/* issue 12: a Connection that names the framing would strip it */
		{ "Connection: Content-Length", RQ("POST /zs HTTP/1.1\r\nHost: t\r\n"
		  "Connection: Content-Length\r\nContent-Length: 32\r\n\r\n" SMUG), 400, 0, AT_HEAD },
		{ "Connection: transfer-encoding", RQ("POST /zs HTTP/1.1\r\nHost: t\r\n"
		  "Transfer-Encoding: chunked\r\nConnection: transfer-encoding\r\n\r\n0\r\n\r\n" SMUG),
		  400, 0, AT_HEAD },
		{ "Connection: TE among tokens", RQ("POST /zs HTTP/1.1\r\nHost: t\r\n"
		  "Connection: keep-alive,  Transfer-ENCODING ,close\r\nTransfer-Encoding: chunked\r\n"
		  "\r\n0\r\n\r\n" SMUG), 400, 0, AT_HEAD },
		{ "Connection: host", RQ("GET /zs HTTP/1.1\r\nHost: t\r\nConnection: HoSt\r\n\r\n"),
		  400, 0, AT_HEAD },
		{ "second Connection names CL", RQ("POST /zs HTTP/1.1\r\nHost: t\r\nConnection: close"
		  "\r\nContent-Length: 32\r\nConnection: \tcontent-length\r\n\r\n" SMUG), 400, 0, AT_HEAD },
		{ "trailer Content-Length", RQ(POSTC "5\r\nhello\r\n0\r\nContent-Length: 40\r\n\r\n" SMUG),
		  400, 0, AT_BODY },
		{ "trailer transfer-encoding", RQ(POSTC "5\r\nhello\r\n0\r\ntransfer-encoding: chunked"
		  "\r\n\r\n" SMUG), 400, 0, AT_BODY },
		{ "Host with space", RQ("GET /zs HTTP/1.1\r\nHost: a b\r\n\r\n"), 400, 0, AT_HEAD },
		{ "absolute-form with userinfo", RQ("GET http://user:pw@t/zs HTTP/1.1\r\n"
		  "Host: t\r\n\r\n"), 400, 0, AT_HEAD },
		{ "absolute-form with @ only", RQ("GET http://evil@t/zs HTTP/1.1\r\n"
		  "Host: t\r\n\r\n"), 400, 0, AT_HEAD },
	};
	char why[256];
	int nfail = 0, nbody = 0;
	long fwd;
	int64_t t0 = now_ms();

	(void)state;
	assert_non_null(ext);
	for (size_t i = 0; i < LEN(t); i++) {
		nbody += t[i].at == AT_BODY;
		if (smug_case(&t[i], why, sizeof(why), &fwd) == 0)
			continue;
		printf("abuse: FAIL %s: %s\n", t[i].name, why);
		nfail++;
	}
	free(ext);
	printf("abuse: %zu framing cases (%d in the chunked body) in %lld ms, %d failed\n",
	       LEN(t), nbody, (long long)(now_ms() - t0), nfail);
	if (nfail) {
		show_log("group prescal", gprox);
		fail_msg("%d framing cases failed (see above)", nfail);
	}
}

/* A malformed first chunk that arrived with the head: prescal could see it
 * before it contacts the backend, so the backend should not get the head of
 * a request that was answered 400. */
static void
test_bad_first_chunk_not_forwarded(void **state)
{
	struct smug t = { "bad first chunk", RQ(POSTC "zz\r\nhello\r\n0\r\n\r\n"), 400, 0,
	                  AT_HEAD };
	char why[256];
	long fwd;

	(void)state;
	if (smug_case(&t, why, sizeof(why), &fwd))
		fail_msg("%s: %s", t.name, why);
}

/* A malformed chunk that arrives after the body began to stream: the
 * backend has had the head and the chunk before it (bodies are streamed,
 * not held), but no byte from the fault on, and the next request is
 * served as itself (that backend connection was not reused). */
static void
test_late_bad_chunk(void **state)
{
	static const char first[] = POSTC "5\r\nhello\r\n", chunk[] = "5\r\nhello\r\n";
	static const char rest[] = "zz\r\nworld\r\n0\r\n\r\n" SMUG;
	struct tconn *c;
	struct tresp r = { 0 };
	long before = rec_size(), got = 0, streamed = 0;
	int64_t until = now_ms() + T_RESP;
	char *delta = NULL, why[256];
	int rc;

	(void)state;
	assert_true(before >= 0);
	assert_non_null(c = tconn_open(pport, 1000));
	assert_int_equal(tsends(c, first), 0);
	/* the backend has the (rewritten) head and the first chunk */
	while (now_ms() < until) {
		delta = rec_from(before, &streamed);
		rc = delta && streamed >= (long)sizeof(chunk) - 1 &&
		     !memcmp(delta + streamed - (sizeof(chunk) - 1), chunk, sizeof(chunk) - 1);
		free(delta);
		if (rc)
			break;
		msleep(10);
	}
	if (now_ms() >= until)
		fail_msg("the first chunk did not reach the backend: %ld bytes", streamed);
	assert_int_equal(tsends(c, rest), 0);
	rc = tresp_read(c, &r, 0, T_RESP);
	assert_status(rc, &r, 400);
	tresp_free(&r);
	assert_int_equal(tclosed(c, 2000), 1);
	tconn_close(c);
	msleep(SETTLE);
	delta = rec_from(before, &got);
	printf("abuse: bad chunk after the first one streamed: 400; the backend got %ld bytes "
	       "before the fault, %ld in all\n", streamed, got);
	free(delta);
	if (got != streamed)
		fail_msg("the backend got %ld bytes from the fault on", got - streamed);
	if (sync_echo(why, sizeof(why)) < 0)
		fail_msg("%s", why);
}

/* "Transfer_Encoding" is a valid field name, not Transfer-Encoding: the
 * request has no body, and what follows is the next request, which is
 * malformed. None of it may reach the backend as the first one's body. */
static void
test_transfer_underscore(void **state)
{
	static const char smug[] = "GET /zsmug HTTP/1.1\r\nHost: t\r\n\r\n";
	char req[512], v[32];
	struct tconn *c = tconn_open(pport, 1000);
	struct tresp r = { 0 };
	long before = rec_size(), got;
	char *delta;
	int rc, head, body;

	(void)state;
	assert_non_null(c);
	snprintf(req, sizeof(req), "POST /echo?zunder HTTP/1.1\r\nHost: t\r\n"
	         "Transfer_Encoding: chunked\r\n\r\n%zx\r\n%s\r\n0\r\n\r\n", strlen(smug), smug);
	assert_int_equal(tsends(c, req), 0);
	rc = tresp_read(c, &r, 0, T_RESP);
	assert_status(rc, &r, 200);
	assert_non_null(tresp_hdr(&r, "x-body-len", v, sizeof(v)));
	assert_string_equal(v, "0");
	assert_non_null(r.body);
	assert_non_null(strstr(r.body, "\r\nTransfer_Encoding: chunked\r\n"));
	tresp_free(&r);
	/* the chunk-size line as a request line */
	rc = tresp_read(c, &r, 0, T_RESP);
	printf("abuse: Transfer_Encoding: 200 (no body), then %d for the chunk line\n",
	       rc ? -1 : r.status);
	assert_status(rc, &r, 400);
	tresp_free(&r);
	assert_int_equal(tclosed(c, 2000), 1);
	tconn_close(c);
	msleep(SETTLE);
	delta = rec_from(before, &got);
	assert_non_null(delta);
	head = strstr(delta, "POST /echo?zunder HTTP/1.1\r\n") != NULL;
	body = strstr(delta, "zsmug") || strstr(delta, "\r\n0\r\n");
	if (body)
		printf("abuse: the backend received:\n%s\n", delta);
	free(delta);
	assert_true(head);
	if (body)
		fail_msg("the body reached the backend");
	if (sync_echo(req, sizeof(req)))
		fail_msg("%s", req);
}

/* the variants that are fine: the coding name in any case, OWS after it */
static void
test_te_accepted_variants(void **state)
{
	static const char *const te[] = {
		"CHUNKED", "Chunked", "chunked ", "chunked\t",
	};
	char req[256], want[64];
	struct tresp r = { 0 };
	int rc;

	(void)state;
	snprintf(want, sizeof(want), "5 %016llx\n",
	         (unsigned long long)fnv1a64(FNV1A_INIT, "hello", 5));
	for (size_t i = 0; i < LEN(te); i++) {
		snprintf(req, sizeof(req), "POST /sink HTTP/1.1\r\nHost: t\r\n"
		         "transfer-encoding: %s\r\n\r\n5\r\nhello\r\n0\r\n\r\n", te[i]);
		rc = request1(pport, req, &r);
		assert_status(rc, &r, 200);
		if (!r.body || strcmp(r.body, want))
			fail_msg("TE \"%s\": /sink says %s, want %s", te[i],
			         r.body ? r.body : "", want);
		tresp_free(&r);
	}
}

/* 2. slowloris */

enum { NSLOW = 500, SLOW_HDR = 3000, SLOW_TICK = 200 };

struct slowc {
	int fd;
	int64_t t0, t1;        /* connected; cut off */
	int how;               /* 0 open, 1 got 408, 2 closed or reset, 3 other answer */
	size_t pos;            /* head bytes sent */
};

struct slowrun {
	int port;
	int nconn;             /* connected */
	struct slowc c[NSLOW];
	atomic_int done;
};

/* one thread, poll() over all: a byte of the head every SLOW_TICK ms each */
static void *
slowloris(void *arg)
{
	static const char head[] = "GET / HTTP/1.1\r\nHost: t\r\nUser-Agent: slow\r\nX-Slow: ";
	struct slowrun *s = arg;
	struct pollfd *pfd = calloc(NSLOW, sizeof(*pfd));
	int *idx = calloc(NSLOW, sizeof(*idx));
	int64_t until, next, now;
	char buf[512];
	ssize_t k;
	int open = 0, n, i;

	for (i = 0; i < NSLOW; i++) {
		s->c[i].fd = tcp_connect(s->port, 2000);
		s->c[i].t0 = now_ms();
		if (s->c[i].fd < 0)
			break;
		open++;
	}
	s->nconn = open;
	until = now_ms() + SLOW_HDR + 3000;
	next = now_ms();
	while (pfd && idx && open > 0 && (now = now_ms()) < until) {
		if (now >= next) {
			for (i = 0; i < s->nconn; i++) {
				struct slowc *c = &s->c[i];
				char b = c->pos < sizeof(head) - 1 ? head[c->pos] : 'a';

				if (c->how)
					continue;
				if (send(c->fd, &b, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1) {
					c->pos++;
					continue;
				}
				if (errno == EAGAIN)
					continue;
				c->how = 2;
				c->t1 = now;
				close(c->fd);
				open--;
			}
			next += SLOW_TICK;
		}
		for (n = i = 0; i < s->nconn; i++) {
			if (s->c[i].how)
				continue;
			pfd[n].fd = s->c[i].fd;
			pfd[n].events = POLLIN;
			idx[n++] = i;
		}
		if (poll(pfd, n, (int)MAX(0, next - now_ms())) <= 0)
			continue;
		now = now_ms();
		for (i = 0; i < n; i++) {
			struct slowc *c = &s->c[idx[i]];

			if (!pfd[i].revents)
				continue;
			k = recv(c->fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
			if (k < 0 && errno == EAGAIN)
				continue;
			c->how = k > 0 ? !strncmp(buf, "HTTP/1.1 408 ", 13) ? 1 : 3 : 2;
			c->t1 = now;
			close(c->fd);
			open--;
		}
	}
	for (i = 0; i < s->nconn; i++)
		if (!s->c[i].how)
			close(s->c[i].fd);
	free(pfd);
	free(idx);
	atomic_store(&s->done, 1);
	return NULL;
}

/* one run at a time; joined before the test checks anything */
static struct slowrun slow;

static int
cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

static void
test_slowloris(void **state)
{
	struct slowrun *s = &slow;
	struct tproc *p;
	pthread_t th;
	long lat[16], cut[NSLOW], maxlat = 0;
	int port = free_port(), nlat = 0, n408 = 0, nclosed = 0, nother = 0, nopen = 0, ncut = 0;
	char conf[128], lats[256] = "";
	size_t ln = 0;

	(void)state;
	memset(s, 0, sizeof(*s));
	snprintf(conf, sizeof(conf), "header_timeout %d\nkeepalive_timeout 10000\n", SLOW_HDR);
	assert_int_equal(start_prescal(&p, port, conf, 8, plport), 0);
	s->port = port;
	assert_int_equal(pthread_create(&th, NULL, slowloris, s), 0);
	/* a normal client meanwhile, every 400 ms */
	msleep(500);
	while (!atomic_load(&s->done) && nlat < (int)LEN(lat)) {
		lat[nlat] = served(port, 2000);
		maxlat = MAX(maxlat, lat[nlat]);
		ln += snprintf(lats + ln, sizeof(lats) - ln, " %ld", lat[nlat]);
		nlat++;
		msleep(400);
	}
	pthread_join(th, NULL);
	for (int i = 0; i < s->nconn; i++) {
		n408 += s->c[i].how == 1;
		nclosed += s->c[i].how == 2;
		nother += s->c[i].how == 3;
		nopen += s->c[i].how == 0;
		if (s->c[i].how)
			cut[ncut++] = (long)(s->c[i].t1 - s->c[i].t0);
	}
	qsort(cut, ncut, sizeof(cut[0]), cmp_long);
	printf("abuse: slowloris: %d of %d connected; %d got 408, %d closed, %d other, "
	       "%d still open\n", s->nconn, NSLOW, n408, nclosed, nother, nopen);
	if (ncut)
		printf("abuse: slowloris: cut off after min %ld, median %ld, p90 %ld, max %ld ms "
		       "(header_timeout %d)\n", cut[0], cut[ncut / 2], cut[ncut * 9 / 10],
		       cut[ncut - 1], SLOW_HDR);
	printf("abuse: slowloris: normal client answered in%s ms, max %ld\n", lats, maxlat);
	assert_int_equal(s->nconn, NSLOW);
	assert_true(nlat >= 3);
	assert_true(maxlat < 1000);
	assert_int_equal(nopen, 0);
	assert_int_equal(nother, 0);
	assert_true(cut[ncut - 1] <= SLOW_HDR + 1000);
	assert_true(cut[0] >= SLOW_HDR - 100);
	assert_int_equal(tproc_wait(p, 0), -1);  /* still running */
}

/* The head deadline runs from the connection's start: a client that waits
 * before its first byte does not get a second header_timeout. */
static void
test_slow_first_byte(void **state)
{
	static const char head[] = "GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ";
	enum { HDR = 1500, WAIT = 1200 };
	struct tproc *p;
	struct tconn *c;
	struct tresp r = { 0 };
	int port = free_port(), rc = -1, i;
	int64_t t0, ms;
	char conf[64];

	(void)state;
	snprintf(conf, sizeof(conf), "header_timeout %d\n", HDR);
	assert_int_equal(start_prescal(&p, port, conf, 2, plport), 0);
	c = tconn_open(port, 1000);
	assert_non_null(c);
	t0 = now_ms();
	msleep(WAIT);
	for (i = 0; i < 40 && now_ms() - t0 < 2 * HDR + 1500; i++) {
		if (tsend(c, i < (int)sizeof(head) - 1 ? head + i : "a", 1) < 0) {
			r.gone = 1;
			break;
		}
		rc = tresp_read(c, &r, 0, 200);
		if (rc == 0 || r.gone)
			break;
		tresp_free(&r);
	}
	ms = now_ms() - t0;
	printf("abuse: first byte after %d ms, then a byte every 200 ms: cut off %lld ms after "
	       "connect (%s; header_timeout %d)\n", WAIT, (long long)ms,
	       rc == 0 ? "response" : r.gone ? "closed" : "still open", HDR);
	if (rc == 0)
		assert_int_equal(r.status, 408);
	else
		assert_true(r.gone);
	tresp_free(&r);
	tconn_close(c);
	assert_true(ms <= HDR + 1000);
}

/* 3. many idle keep-alive connections */

static void
test_idle_5000(void **state)
{
	enum { NIDLE = LEN(idle_fd), BATCH = 250 };
	static const char conf[] = "keepalive_timeout 120000\nheader_timeout 5000\n"
	                           "max_conns 10000\nidle_per_backend 0\n";
	struct tproc *p;
	struct tresp r = { 0 };
	struct rlimit rl;
	int *fd = idle_fd, port = free_port(), nfd0, nfd, rc, i, j;
	rlim_t need = (rlim_t)NIDLE + 200;
	long rss0, rss, ms, maxms = 0;
	int64_t t0;

	(void)state;
	/* exactly NIDLE, as README says: raise the fd limit (prescal inherits it
	 * and raises its own to the hard limit), or fail */
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < need) {
		rl.rlim_cur = MIN(need, rl.rlim_max);
		setrlimit(RLIMIT_NOFILE, &rl);
		assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	if (rl.rlim_cur < need)
		fail_msg("RLIMIT_NOFILE is %llu (hard %llu): %d idle connections need %llu",
		         (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max, NIDLE,
		         (unsigned long long)need);
	assert_int_equal(start_prescal(&p, port, conf, 4, plport), 0);
	served(port, 2000);
	msleep(100);
	nfd0 = proc_nfd(p->pid);
	rss0 = proc_rss_kb(p->pid);
	t0 = now_ms();
	/* a batch connects and sends, then reads its responses */
	for (i = 0; i < NIDLE && now_ms() - t0 < 30000; i += BATCH) {
		for (j = i; j < MIN(i + BATCH, NIDLE); j++) {
			fd[j] = tcp_connect(port, 2000);
			if (fd[j] < 0)
				fail_msg("connection %d: %s", j, strerror(errno));
			idle_n = j + 1;
			assert_int_equal(writeall(fd[j], GET_REQ, sizeof(GET_REQ) - 1), 0);
		}
		for (j = i; j < idle_n; j++) {
			rc = tresp_read(reader(fd[j]), &r, 0, T_RESP);
			if (rc || r.status != 200)
				fail_msg("connection %d: %s status %d", j, rc ? r.err : "",
				         r.status);
			tresp_free(&r);
		}
	}
	nfd = proc_nfd(p->pid);
	rss = proc_rss_kb(p->pid);
	printf("abuse: %d idle keep-alive connections in %lld ms; prescal %d fds (%d before), "
	       "RSS %ld KiB (%ld before)\n", idle_n, (long long)(now_ms() - t0), nfd, nfd0, rss,
	       rss0);
	assert_int_equal(idle_n, NIDLE);
	assert_true(nfd >= nfd0 + NIDLE);
	assert_true(rss > 0 && rss < RSS_MAX_KB);
	/* a new client is answered at once */
	for (i = 0; i < 5; i++) {
		ms = served(port, 2000);
		maxms = MAX(maxms, ms);
		msleep(100);
	}
	printf("abuse: new client beside %d idle ones: max %ld ms of 5\n", idle_n, maxms);
	assert_true(maxms < 1000);
	/* the idle ones still work: the first and the last */
	for (i = 0; i < 2; i++) {
		j = i ? idle_n - 1 : 0;
		assert_int_equal(writeall(fd[j], GET_REQ, sizeof(GET_REQ) - 1), 0);
		rc = tresp_read(reader(fd[j]), &r, 0, T_RESP);
		assert_status(rc, &r, 200);
		tresp_free(&r);
	}
	for (i = 0; i < idle_n; i++)
		close(fd[i]);
	idle_n = 0;
	nfd = wait_nfd(p->pid, nfd0, 5000);
	printf("abuse: after closing them: prescal %d fds (baseline %d), RSS %ld KiB\n", nfd,
	       nfd0, proc_rss_kb(p->pid));
	assert_true(nfd <= nfd0);
}

/* 4. connection churn */

/* README: 100,000 connections of churn; CHURN_MS only bounds a stuck run */
enum { CHURN_N = 100000, CHURN_MS = 90000, CHURN_THREADS = 4 };

struct churn {
	int port;
	int64_t until;
	atomic_long tickets, done, fails;
	atomic_int lasterr;
};

/* connect, one request with Connection: close, read to EOF, close */
static int
churn1(int port)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	struct pollfd pfd;
	char buf[2048];
	size_t have = 0;
	ssize_t k;
	int fd = tcp_connect(port, 2000), ok = -1;

	if (fd < 0)
		return -1;
	if (writeall(fd, req, sizeof(req) - 1) < 0)
		goto out;
	for (;;) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 3000) != 1) {
			errno = ETIMEDOUT;
			goto out;
		}
		k = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		have += (size_t)k;
		if (have == sizeof(buf) - 1)
			have = 16;  /* keep the status line; the rest does not matter */
	}
	buf[have] = '\0';
	if (k == 0 && !strncmp(buf, "HTTP/1.1 200 ", 13))
		ok = 0;
	else
		errno = k < 0 ? errno : EPROTO;
out:
	close(fd);
	return ok;
}

static void *
churner(void *arg)
{
	struct churn *ch = arg;

	while (now_ms() < ch->until && atomic_fetch_add(&ch->tickets, 1) < CHURN_N) {
		if (churn1(ch->port) < 0) {
			atomic_store(&ch->lasterr, errno);
			atomic_fetch_add(&ch->fails, 1);
		} else {
			atomic_fetch_add(&ch->done, 1);
		}
	}
	return NULL;
}

static void
test_churn(void **state)
{
	static const char conf[] = "idle_per_backend 0\nkeepalive_timeout 10000\n";
	struct churn ch = { 0 };
	pthread_t th[CHURN_THREADS];
	struct tproc *p;
	int port = free_port(), nfd0, nfd;
	int64_t t0;
	long ms;

	(void)state;
	assert_int_equal(start_prescal(&p, port, conf, 4, plport), 0);
	served(port, 2000);
	msleep(100);
	nfd0 = proc_nfd(p->pid);
	ch.port = port;
	t0 = now_ms();
	ch.until = t0 + CHURN_MS;
	for (int i = 0; i < CHURN_THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, churner, &ch), 0);
	for (int i = 0; i < CHURN_THREADS; i++)
		pthread_join(th[i], NULL);
	ms = (long)(now_ms() - t0);
	nfd = wait_nfd(p->pid, nfd0, 5000);
	printf("abuse: churn: %ld connections in %ld ms (%.0f/s, %d threads), %ld failed%s%s; "
	       "prescal %d fds after (%d before), RSS %ld KiB\n", atomic_load(&ch.done), ms,
	       atomic_load(&ch.done) * 1000.0 / MAX(ms, 1), CHURN_THREADS,
	       atomic_load(&ch.fails), atomic_load(&ch.fails) ? ", last: " : "",
	       atomic_load(&ch.fails) ? strerror(atomic_load(&ch.lasterr)) : "",
	       nfd, nfd0, proc_rss_kb(p->pid));
	if (atomic_load(&ch.fails))
		show_log("churn prescal", p);
	assert_int_equal(atomic_load(&ch.fails), 0);
	assert_int_equal(atomic_load(&ch.done), CHURN_N);
	assert_true(nfd <= nfd0);
	served(port, 2000);
}

/* 5. oversized heads and bodies */

/* for the big requests, so that a failed test leaks nothing; the test
 * thread's only */
static char big[(1 << 20) + 64];

/* sends p[0..n) until prescal answers or closes (it stops reading once it
 * has decided); then reads the response. Returns 0 with r filled, 1 if the
 * connection ended without one; *sent and *ms say how far and how long. */
static int
blast(int port, const char *p, size_t n, struct tresp *r, size_t *sent, long *ms)
{
	int64_t t0 = now_ms(), until = t0 + 5000;
	struct pollfd pfd;
	ssize_t k;
	int fd = tcp_connect(port, 1000), rc;
	struct tconn *rd;

	*sent = 0;
	if (fd < 0)
		fail_msg("connect: %s", strerror(errno));
	while (*sent < n && now_ms() < until) {
		pfd.fd = fd;
		pfd.events = POLLIN | POLLOUT;
		if (poll(&pfd, 1, 200) <= 0)
			continue;
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR))
			break;
		k = send(fd, p + *sent, n - *sent, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (k < 0)
			break;
		*sent += (size_t)k;
	}
	rd = reader(fd);
	assert_non_null(rd);
	rc = tresp_read(rd, r, 0, 3000);
	*ms = (long)(now_ms() - t0);
	if (rc && !r->gone)
		fail_msg("neither a response nor a close after %ld ms: %s", *ms, r->err);
	if (rc == 0 && tclosed(rd, 2000) != 1)
		fail_msg("%d, but the connection stays open", r->status);
	close(fd);
	return rc ? 1 : 0;
}

static void
test_huge_header_line(void **state)
{
	enum { N = 1 << 20 };
	static const char pre[] = "GET / HTTP/1.1\r\nHost: t\r\nX-Big: ";
	char *req = big;
	struct tresp r = { 0 };
	size_t sent;
	long ms;
	int rc;

	(void)state;
	memcpy(req, pre, sizeof(pre) - 1);
	memset(req + sizeof(pre) - 1, 'b', N);
	memcpy(req + sizeof(pre) - 1 + N, "\r\n\r\n", 4);
	rc = blast(pport, req, sizeof(pre) - 1 + N + 4, &r, &sent, &ms);
	printf("abuse: 1 MB field line: %s %d after %zu bytes sent, %ld ms\n",
	       rc ? "closed without a response" : "status", rc ? 0 : r.status, sent, ms);
	/* prescal.1: a head over 12288 bytes gets 431 */
	if (rc || r.status != 431)
		fail_msg("%s %d, want 431", rc ? "closed without a response" : "status", r.status);
	tresp_free(&r);
	assert_true(ms < 1000);
	/* and the request line itself */
	memcpy(req, "GET /", 5);
	memset(req + 5, 'a', N);
	memcpy(req + 5 + N, " HTTP/1.1\r\nHost: t\r\n\r\n", 23);
	rc = blast(pport, req, N + 28, &r, &sent, &ms);
	printf("abuse: 1 MB request line: %s %d after %zu bytes sent, %ld ms\n",
	       rc ? "closed without a response" : "status", rc ? 0 : r.status, sent, ms);
	/* prescal.1: a request line over 8192 bytes gets 414 */
	if (rc || r.status != 414)
		fail_msg("%s %d, want 414", rc ? "closed without a response" : "status", r.status);
	tresp_free(&r);
	assert_true(ms < 1000);
	served(pport, 2000);
}

static void
test_many_headers(void **state)
{
	enum { N = 100000 };
	static const char pre[] = "GET / HTTP/1.1\r\nHost: t\r\n";
	char *req = big, *q;
	struct tresp r = { 0 };
	size_t sent;
	long ms;
	int rc;

	(void)state;
	assert_true(sizeof(pre) + N * 10 + 2 <= sizeof(big));
	memcpy(req, pre, sizeof(pre) - 1);
	q = req + sizeof(pre) - 1;
	for (int i = 0; i < N; i++, q += 10)
		memcpy(q, "X-abc: v\r\n", 10);
	memcpy(q, "\r\n", 2);
	rc = blast(pport, req, (size_t)(q + 2 - req), &r, &sent, &ms);
	printf("abuse: %d fields of 10 bytes: %s %d after %zu bytes sent, %ld ms\n", N,
	       rc ? "closed without a response" : "status", rc ? 0 : r.status, sent, ms);
	/* prescal.1: over 100 fields gets 431 */
	if (rc || r.status != 431)
		fail_msg("%s %d, want 431", rc ? "closed without a response" : "status", r.status);
	tresp_free(&r);
	assert_true(ms < 1000);
	served(pport, 2000);
}

/* a body that stalls after `first` bytes: prescal answers 408 within
 * body_timeout + 1 s (prescal.1) and closes the backend connection */
static void
stalled_body(const char *what, const char *head, const char *first, size_t nfirst)
{
	enum { BODY_TMO = 1000 };
	static const char conf[] = "body_timeout 1000\nidle_per_backend 0\n"
	                           "backend_timeout 10000\n";
	struct hole *h = &hole;
	struct tproc *p;
	struct tconn *c;
	struct tresp r = { 0 };
	int port = free_port(), rc;
	int64_t t0, until;
	long ms, rss, got, bms;

	assert_int_equal(hole_start(h), 0);
	if (start_prescal(&p, port, conf, 2, h->port) < 0) {
		hole_stop(h);
		fail_msg("prescal did not start");
	}
	c = tconn_open(port, 1000);
	assert_non_null(c);
	assert_int_equal(tsends(c, head), 0);
	assert_int_equal(tsend(c, first, nfirst), 0);
	t0 = now_ms();
	rss = proc_rss_kb(p->pid);
	rc = tresp_read(c, &r, 0, 5000);
	ms = (long)(now_ms() - t0);
	/* the backend connection is closed */
	until = now_ms() + 1000;
	while (!atomic_load(&h->closed) && now_ms() < until)
		msleep(10);
	hole_stop(h);
	got = atomic_load(&h->bytes);
	bms = atomic_load(&h->closed) ? (long)(atomic_load(&h->closed_at) - t0) : -1;
	printf("abuse: %s: %zu bytes then silence: %s %d after %ld ms (body_timeout %d); "
	       "the backend got %ld bytes on %d connection(s), closed after %ld ms; "
	       "RSS %ld KiB\n", what, nfirst, rc ? "closed" : "status", rc ? 0 : r.status, ms,
	       BODY_TMO, got, atomic_load(&h->conns), bms, rss);
	if (rc)
		fail_msg("no answer: %s", r.err);
	if (r.status != 408)
		fail_msg("status %d, want 408", r.status);
	tresp_free(&r);
	assert_int_equal(tclosed(c, 1000), 1);
	tconn_close(c);
	assert_true(ms <= BODY_TMO + 1000);
	assert_int_equal(atomic_load(&h->conns), 1);
	assert_true(got >= (long)nfirst - 65536);   /* streamed, not held back */
	assert_true(bms >= 0 && bms <= BODY_TMO + 1000);
	assert_true(rss > 0 && rss < RSS_MAX_KB);
	rss = proc_rss_kb(p->pid);
	assert_true(rss > 0 && rss < RSS_MAX_KB);
	/* prescal still serves: through the group instance's backend here */
	assert_int_equal(tproc_wait(p, 0), -1);
	served(pport, 2000);
}

static void
test_huge_content_length_stalls(void **state)
{
	enum { N = 1 << 20 };

	(void)state;
	memset(big, 'x', N);
	stalled_body("Content-Length 10 GB", "POST /sink HTTP/1.1\r\nHost: t\r\n"
	             "Content-Length: 10737418240\r\n\r\n", big, N);
}

static void
test_huge_chunk_stalls(void **state)
{
	enum { N = 1 << 20 };
	static const char size[] = "7fffffffffffffff\r\n";

	(void)state;
	memcpy(big, size, sizeof(size) - 1);
	memset(big + sizeof(size) - 1, 'x', N);
	stalled_body("chunk size 0x7fffffffffffffff", "POST /sink HTTP/1.1\r\nHost: t\r\n"
	             "Transfer-Encoding: chunked\r\n\r\n", big, sizeof(size) - 1 + N);
}

#define T(f) cmocka_unit_test_teardown(f, test_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_smuggling_table),
		T(test_bad_first_chunk_not_forwarded),
		T(test_late_bad_chunk),
		T(test_transfer_underscore),
		T(test_te_accepted_variants),
		T(test_huge_header_line),
		T(test_many_headers),
		T(test_huge_content_length_stalls),
		T(test_huge_chunk_stalls),
		T(test_slowloris),
		T(test_slow_first_byte),
		T(test_idle_5000),
		T(test_churn),
	};
	struct rlimit rl;

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* 5,000 idle connections need as many fds here and in prescal */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = MIN(rl.rlim_max, 20000);
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getenv("INTEG_FILTER"))
		cmocka_set_test_filter(getenv("INTEG_FILTER"));
	/* cmocka does not count a failed group teardown */
	return cmocka_run_group_tests_name("abuse", tests, group_setup, group_teardown) || bad_exit;
}
