/* See LICENSE file for copyright and license details. */
/* admin_integ_test: prescal's admin endpoint end to end over loopback. The
 * group setup starts one backend and one prescal with -a; tests that kill
 * things (a backend, prescal itself) start their own, which the per-test
 * teardown stops. /metrics is checked by a small parser of the Prometheus
 * text format 0.0.4, itself tested on broken inputs first; /status by a
 * small JSON validator. $PRESCAL_BIN and $PRESCAL_BACKEND name the
 * binaries (default ./prescal and ./tests/backend). Every wait is bounded. */
#include <ctype.h>
#include <pthread.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <cmocka.h>

#include "tests/tclient.h"
#include "util.h"

#define T_RESP      3000     /* ms, an ordinary response */
#define SCOPE_GROUP 0
#define SCOPE_TEST  1
#define MAXFAM      64       /* metric families the parser keeps */

static char prescal_bin[512], backend_bin[512];
static struct tproc *gback, *gprox;
static int bad_exit;       /* the group prescal did not exit 0 on SIGTERM */
static int bport, pport, aport;
static char gbackend[32];   /* "127.0.0.1:<bport>", the group backend's name */

/* helpers */

static char *
hostport(char *buf, size_t n, int port)
{
	snprintf(buf, n, "127.0.0.1:%d", port);
	return buf;
}

/* starts tests/backend on port into *p */
static int
start_backend(struct tproc **p, int port, int scope)
{
	char sport[16];
	char *argv[] = { backend_bin, "-p", sport, NULL };

	snprintf(sport, sizeof(sport), "%d", port);
	if (!(*p = tproc_start(argv, NULL, scope)))
		return -1;
	if (wait_port(port, 5000) < 0) {
		tproc_stop(*p, SIGKILL);
		return -1;
	}
	return 0;
}

/* starts prescal with argv (-l port -a admin among them) into *p */
static int
launch(struct tproc **p, char **argv, int port, int admin, int scope)
{
	if (!(*p = tproc_start(argv, NULL, scope)))
		return -1;
	if (wait_port(port, 5000) < 0 || wait_port(admin, 5000) < 0 || tproc_wait(*p, 0) == 0) {
		char log[2048];
		fprintf(stderr, "prescal did not start:\n%s\n", tproc_log(*p, log, sizeof(log)));
		tproc_stop(*p, SIGKILL);
		return -1;
	}
	return 0;
}

/* starts prescal -q into *p on port with its admin endpoint on admin and the
 * backends bk[0..nb) ("host:port", at most MAXB): one app, named after
 * the listen address (app_label) */
#define MAXB 64
static int
start_prescal(struct tproc **p, int port, int admin, int scope, char *const *bk, int nb)
{
	char *argv[8 + 2 * MAXB], listen[32], adm[32];
	int n = 0;

	argv[n++] = prescal_bin;
	argv[n++] = "-q";
	argv[n++] = "-l";
	argv[n++] = hostport(listen, sizeof(listen), port);
	argv[n++] = "-a";
	argv[n++] = hostport(adm, sizeof(adm), admin);
	for (int i = 0; i < nb && i < MAXB; i++) {
		argv[n++] = "-b";
		argv[n++] = bk[i];
	}
	argv[n] = NULL;
	return launch(p, argv, port, admin, scope);
}

/* starts prescal -q -f file into *p, listening on port and admin */
static int
start_prescal_file(struct tproc **p, int port, int admin, int scope, char *file)
{
	char listen[32], adm[32];
	char *argv[] = { prescal_bin, "-q", "-f", file, "-l",
	                 hostport(listen, sizeof(listen), port), "-a",
	                 hostport(adm, sizeof(adm), admin), NULL };

	return launch(p, argv, port, admin, scope);
}

/* the app label of the one app of a prescal without app blocks that
 * listens on 127.0.0.1:port: its default name is prescal-127.0.0.1-<port> */
static char *
app_label(char *buf, size_t n, int port)
{
	snprintf(buf, n, "app=\"prescal-127.0.0.1-%d\"", port);
	return buf;
}

/* one request on a new connection to port; the connection is closed */
static int
request1(int port, const char *req, struct tresp *r, int is_head)
{
	struct tconn *c = tconn_open(port, 1000);
	int rc;

	r->body = NULL;
	if (!c) {
		snprintf(r->err, sizeof(r->err), "connect: %s", strerror(errno));
		return -1;
	}
	if (tsends(c, req) < 0) {
		snprintf(r->err, sizeof(r->err), "send: %s", strerror(errno));
		rc = -1;
	} else {
		rc = tresp_read(c, r, is_head, T_RESP);
	}
	tconn_close(c);
	return rc;
}

static int
get(int port, const char *path, struct tresp *r)
{
	char req[512];

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", path);
	return request1(port, req, r, 0);
}

#define assert_status(rc, r, want) do { \
	if ((rc) != 0) \
		fail_msg("no response: %s", (r)->err); \
	if ((r)->status != (want)) \
		fail_msg("status %d, want %d; head:\n%s", (r)->status, (want), (r)->head); \
} while (0)

/* checks that r says Connection: close with a Content-Length */
static void
assert_framing(const struct tresp *r)
{
	char v[64];

	assert_int_equal(r->framing, TF_LENGTH);
	assert_non_null(tresp_hdr(r, "Connection", v, sizeof(v)));
	assert_string_equal(v, "close");
}

/* the Prometheus text format 0.0.4 checker */

struct fam {
	char name[128];
	char type[16];
	int help;                 /* # HELP seen */
	int samples;
};

/* state while checking one histogram family */
struct hist {
	double last_le;
	double last_count;
	double inf;               /* the +Inf bucket, NAN until seen */
	int buckets, sum, count;
	double count_val;
};

static int
name_char(int c, int first)
{
	return isalpha(c) || c == '_' || c == ':' || (!first && isdigit(c));
}

/* Reads a metric or label name at *p. Returns its length (0 if none). */
static size_t
read_name(const char **p, char *out, size_t n, int colon)
{
	size_t k = 0;

	while (name_char((unsigned char)(*p)[k], k == 0) && (colon || (*p)[k] != ':'))
		k++;
	if (k == 0 || k >= n)
		return 0;
	memcpy(out, *p, k);
	out[k] = '\0';
	*p += k;
	return k;
}

/* Parses {labels} at *p (may be absent) and copies the value of label
 * want (if not NULL) into wv. Returns 0 or -1 with why set. */
static int
read_labels(const char **p, const char *want, char *wv, size_t wn, const char **why)
{
	char lname[128], val[256];
	size_t k;

	if (**p != '{')
		return 0;
	(*p)++;
	while (**p != '}') {
		if (!read_name(p, lname, sizeof(lname), 0))
			return *why = "bad label name", -1;
		if (*(*p)++ != '=' || *(*p)++ != '"')
			return *why = "label without =\"", -1;
		for (k = 0; **p != '"'; (*p)++) {
			if (**p == '\0' || **p == '\n')
				return *why = "unterminated label value", -1;
			if (**p == '\\') {
				(*p)++;
				if (**p != '\\' && **p != '"' && **p != 'n')
					return *why = "bad escape in label value", -1;
			}
			if (k < sizeof(val) - 1)
				val[k++] = **p;
		}
		val[k] = '\0';
		(*p)++;
		if (want && !strcmp(lname, want))
			snprintf(wv, wn, "%s", val);
		if (**p == ',')
			(*p)++;
		else if (**p != '}')
			return *why = "expected , or } after a label", -1;
	}
	(*p)++;
	return 0;
}

/* Parses a sample value (a float, +Inf, -Inf or NaN). */
static int
read_value(const char **p, double *v)
{
	char *end;

	if (!strncmp(*p, "+Inf", 4) || !strncmp(*p, "-Inf", 4) || !strncmp(*p, "NaN", 3)) {
		*v = **p == 'N' ? NAN : **p == '+' ? INFINITY : -INFINITY;
		*p += **p == 'N' ? 3 : 4;
		return 0;
	}
	if (!isdigit((unsigned char)**p) && **p != '-' && **p != '+' && **p != '.')
		return -1;
	*v = strtod(*p, &end);
	if (end == *p)
		return -1;
	*p = end;
	return 0;
}

/* checks a histogram family that just ended */
static int
hist_end(const struct fam *f, const struct hist *h, const char **why)
{
	if (strcmp(f->type, "histogram"))
		return 0;
	if (!h->buckets || isnan(h->inf))
		return *why = "histogram without a +Inf bucket", -1;
	if (!isinf(h->last_le))
		return *why = "histogram buckets do not end with +Inf", -1;
	if (!h->sum || !h->count)
		return *why = "histogram without _sum or _count", -1;
	if (h->count_val != h->inf)
		return *why = "histogram _count differs from the +Inf bucket", -1;
	return 0;
}

/* checks one sample line of the current family f */
static int
sample(const char *line, struct fam *f, struct hist *h, const char **why)
{
	const char *p = line, *suffix;
	char name[128], le[256] = "";
	double v, lev;
	size_t n;

	if (!read_name(&p, name, sizeof(name), 1))
		return *why = "bad metric name", -1;
	if (!f)
		return *why = "sample before any # TYPE", -1;
	n = strlen(f->name);
	if (strncmp(name, f->name, n))
		return *why = "sample of another family than the last # TYPE", -1;
	suffix = name + n;
	if (strcmp(f->type, "histogram") ? *suffix != '\0' :
	    strcmp(suffix, "_bucket") && strcmp(suffix, "_sum") && strcmp(suffix, "_count"))
		return *why = "sample name does not match its family", -1;
	if (read_labels(&p, "le", le, sizeof(le), why) < 0)
		return -1;
	if (*p++ != ' ' || read_value(&p, &v) < 0)
		return *why = "bad value", -1;
	if (*p != '\0')
		return *why = "junk after the value (timestamps are not expected)", -1;
	if (!strcmp(f->type, "counter") && !(v >= 0))
		return *why = "negative or NaN counter", -1;
	f->samples++;
	if (!strcmp(suffix, "_bucket") && h->sum && h->count) {
		/* the next labelled series of the family (from="paused" after
		 * from="cold"): the one before must be whole */
		if (hist_end(f, h, why) < 0)
			return -1;
		memset(h, 0, sizeof(*h));
		h->inf = NAN;
	}
	if (!strcmp(suffix, "_bucket")) {
		const char *q = le;
		if (!le[0] || read_value(&q, &lev) < 0 || *q)
			return *why = "bucket without a valid le", -1;
		if (h->buckets && (lev <= h->last_le || v < h->last_count))
			return *why = "buckets not increasing or not cumulative", -1;
		h->buckets++;
		h->last_le = lev;
		h->last_count = v;
		if (isinf(lev))
			h->inf = v;
	} else if (!strcmp(suffix, "_sum")) {
		h->sum++;
	} else if (!strcmp(suffix, "_count")) {
		h->count++;
		h->count_val = v;
	}
	return 0;
}

/* Checks a "# TYPE" or "# HELP" line; other comments are fine. Returns
 * the index of the family named, or nfam for other comments, or -1. */
static int
comment(const char *line, struct fam *fams, int *nfam, const char **why)
{
	const char *p = line + 2;
	char name[128];
	int i, help = !strncmp(line, "# HELP ", 7);

	if (!help && strncmp(line, "# TYPE ", 7))
		return *nfam;
	p += 5;
	if (!read_name(&p, name, sizeof(name), 1) || *p++ != ' ')
		return *why = "bad # HELP/# TYPE line", -1;
	for (i = 0; i < *nfam && strcmp(fams[i].name, name); i++)
		;
	if (help) {
		if (i < *nfam && fams[i].help)
			return *why = "second # HELP", -1;
		if (i < *nfam && fams[i].samples)
			return *why = "# HELP after samples", -1;
	} else {
		if (i < *nfam && fams[i].type[0])
			return *why = "second # TYPE", -1;
		if (strcmp(p, "counter") && strcmp(p, "gauge") && strcmp(p, "histogram"))
			return *why = "unexpected type", -1;
		if (!strcmp(p, "counter") && (strlen(name) < 6 ||
		    strcmp(name + strlen(name) - 6, "_total")))
			return *why = "counter name does not end in _total", -1;
	}
	if (i == *nfam) {
		if (*nfam == MAXFAM)
			return *why = "too many families", -1;
		memset(&fams[i], 0, sizeof(fams[i]));
		snprintf(fams[i].name, sizeof(fams[i].name), "%s", name);
		(*nfam)++;
	}
	if (help)
		fams[i].help = 1;
	else
		snprintf(fams[i].type, sizeof(fams[i].type), "%s", p);
	return i;
}

/* Checks text as Prometheus text format 0.0.4. Returns 0, or -1 with
 * *why and *at (the offending line) set. */
static int
prom_check(const char *text, const char **why, char *at, size_t atn)
{
	static struct fam fams[MAXFAM];
	struct fam *cur = NULL;
	struct hist h = { 0 };
	char line[1024];
	const char *p = text, *nl;
	int nfam = 0, i;

	*why = NULL;
	at[0] = '\0';
	for (; *p; p = nl + 1) {
		if (!(nl = strchr(p, '\n')))
			return *why = "last line without a newline", -1;
		if ((size_t)(nl - p) >= sizeof(line))
			return *why = "line too long", -1;
		memcpy(line, p, nl - p);
		line[nl - p] = '\0';
		snprintf(at, atn, "%s", line);
		if (line[0] == '#') {
			struct fam *was = cur;
			if ((i = comment(line, fams, &nfam, why)) < 0)
				return -1;
			if (strncmp(line, "# TYPE ", 7))
				continue;
			cur = &fams[i];
			if (was && hist_end(was, &h, why) < 0)
				return -1;
			memset(&h, 0, sizeof(h));
			h.inf = NAN;
		} else if (sample(line, cur, &h, why) < 0) {
			return -1;
		}
	}
	if (cur && hist_end(cur, &h, why) < 0)
		return -1;
	for (i = 0; i < nfam; i++) {
		snprintf(at, atn, "%s", fams[i].name);
		if (!fams[i].help || !fams[i].type[0])
			return *why = "family without # HELP or # TYPE", -1;
	}
	at[0] = '\0';
	return 0;
}

/* Finds the sample "series value" (series as printed, labels included).
 * Returns 0 with *v set, or -1 if absent. */
static int
prom_value(const char *text, const char *series, double *v)
{
	size_t n = strlen(series);
	const char *p;

	for (p = text; (p = strstr(p, series)); p += n) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ') {
			*v = strtod(p + n + 1, NULL);
			return 0;
		}
	}
	return -1;
}

/* GETs /metrics from admin and checks it. Returns the body, valid until
 * the next call. */
static const char *
metrics(int admin)
{
	static char text[1 << 17];
	struct tresp r = { 0 };
	char ctype[128], at[1024];
	const char *why;
	int rc = get(admin, "/metrics", &r);

	assert_status(rc, &r, 200);
	assert_framing(&r);
	assert_non_null(tresp_hdr(&r, "Content-Type", ctype, sizeof(ctype)));
	assert_true(!strncmp(ctype, "text/plain; version=0.0.4", 25));
	if (prom_check(r.body, &why, at, sizeof(at)) < 0)
		fail_msg("/metrics: %s at: %s", why, at);
	assert_true(r.blen < sizeof(text));
	memcpy(text, r.body, r.blen + 1);
	tresp_free(&r);
	return text;
}

static double
metric(int admin, const char *series)
{
	double v;

	if (prom_value(metrics(admin), series, &v) < 0)
		fail_msg("/metrics has no %s", series);
	return v;
}

/* a JSON validator (RFC 8259, without checking UTF-8) */

static const char *jvalue(const char *p, int depth);

static const char *
jws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static const char *
jstring(const char *p)
{
	if (*p++ != '"')
		return NULL;
	for (; *p != '"'; p++) {
		if ((unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\') {
			p++;
			if (*p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!isxdigit((unsigned char)p[i]))
						return NULL;
				p += 4;
			} else if (!strchr("\"\\/bfnrt", *p) || !*p) {
				return NULL;
			}
		}
	}
	return p + 1;
}

static const char *
jnumber(const char *p)
{
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (isdigit((unsigned char)*p))
		while (isdigit((unsigned char)*p))
			p++;
	else
		return NULL;
	if (*p == '.') {
		if (!isdigit((unsigned char)*++p))
			return NULL;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		if (*++p == '+' || *p == '-')
			p++;
		if (!isdigit((unsigned char)*p))
			return NULL;
		while (isdigit((unsigned char)*p))
			p++;
	}
	return p;
}

/* parses the members of an object (open '{') or an array (open '[') */
static const char *
jlist(const char *p, char open, int depth)
{
	char close = open == '{' ? '}' : ']';

	p = jws(p + 1);
	if (*p == close)
		return p + 1;
	for (;;) {
		if (open == '{') {
			if (!(p = jstring(jws(p))) || *(p = jws(p)) != ':')
				return NULL;
			p++;
		}
		if (!(p = jvalue(p, depth + 1)))
			return NULL;
		p = jws(p);
		if (*p == close)
			return p + 1;
		if (*p++ != ',')
			return NULL;
	}
}

static const char *
jvalue(const char *p, int depth)
{
	p = jws(p);
	if (depth > 32)
		return NULL;
	if (*p == '{' || *p == '[')
		return jlist(p, *p, depth);
	if (*p == '"')
		return jstring(p);
	if (!strncmp(p, "true", 4) || !strncmp(p, "null", 4))
		return p + 4;
	if (!strncmp(p, "false", 5))
		return p + 5;
	return jnumber(p);
}

static int
json_ok(const char *s)
{
	const char *end = jvalue(s, 0);

	return end && *jws(end) == '\0';
}

/* group setup and teardown */

static int
group_setup(void **state)
{
	(void)state;
	snprintf(prescal_bin, sizeof(prescal_bin), "%s",
	         getenv("PRESCAL_BIN") ? getenv("PRESCAL_BIN") : "./prescal");
	snprintf(backend_bin, sizeof(backend_bin), "%s",
	         getenv("PRESCAL_BACKEND") ? getenv("PRESCAL_BACKEND") : "./tests/backend");
	if (access(prescal_bin, X_OK) || access(backend_bin, X_OK)) {
		fprintf(stderr, "admin_integ_test: need %s and %s (set PRESCAL_BIN, "
		        "PRESCAL_BACKEND)\n", prescal_bin, backend_bin);
		return -1;
	}
	if ((bport = free_port()) < 0 || (pport = free_port()) < 0 || (aport = free_port()) < 0)
		return -1;
	hostport(gbackend, sizeof(gbackend), bport);
	if (start_backend(&gback, bport, SCOPE_GROUP) < 0)
		return -1;
	if (start_prescal(&gprox, pport, aport, SCOPE_GROUP, (char *[]){ gbackend }, 1) < 0) {
		tproc_stop(gback, SIGKILL);
		return -1;
	}
	printf("admin: prescal pid %d on %d, admin %d, backend %d\n", (int)gprox->pid, pport,
	       aport, bport);
	return 0;
}

static int
group_teardown(void **state)
{
	char log[4096];
	int rc = 0;

	(void)state;
	if (gprox && gprox->pid > 0 && tproc_wait(gprox, 0) == 0)
		fprintf(stderr, "admin: the group prescal died (status %#x):\n%s\n",
		        gprox->status, tproc_log(gprox, log, sizeof(log)));
	tconn_close_all();
	tresp_free_all();
	tproc_stop_scope(SCOPE_TEST);
	/* SIGTERM, so that a sanitized prescal exits and LeakSanitizer reports */
	if (tproc_term(gprox, 15000) != 0) {
		fprintf(stderr, "admin: the group prescal did not exit 0 on SIGTERM\n");
		bad_exit = 1;
		rc = -1;
	}
	tproc_stop(gback, SIGKILL);
	return rc;
}

static int
test_teardown(void **state)
{
	(void)state;
	tconn_close_all();
	tresp_free_all();
	tproc_stop_scope(SCOPE_TEST);
	return 0;
}

/* tests */

/* the checker itself: each input breaks one rule, so a passing /metrics
 * check means something */
static void
test_prom_checker(void **state)
{
	static const struct { const char *text, *why; } bad[] = {
		{ "x_total 1\n", "no # TYPE" },
		{ "# HELP x_total h\n# TYPE x_total counter\nx_total 1", "no final newline" },
		{ "# HELP x h\n# TYPE x counter\nx 1\n", "counter without _total" },
		{ "# TYPE g gauge\ng 1\n", "no # HELP" },
		{ "# HELP g h\n# TYPE g gauge\ng{a=\"b} 1\n", "unterminated label" },
		{ "# HELP g h\n# TYPE g gauge\ng{a=\"\\x\"} 1\n", "bad escape" },
		{ "# HELP g h\n# TYPE g gauge\ng one\n", "bad value" },
		{ "# HELP g h\n# TYPE g gauge\n# HELP f h\n# TYPE f gauge\ng 1\n", "interleaved" },
		{ "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
		  "h_sum 1\nh_count 1\n", "not cumulative" },
		{ "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"2\"} 1\n"
		  "h_sum 1\nh_count 1\n", "no +Inf" },
		{ "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
		  "h_sum 1\nh_count 1\n", "_count != +Inf" },
		{ "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 2\n", "no _sum" },
		{ "# HELP h h\n# TYPE h histogram\nh_bucket{f=\"a\",le=\"+Inf\"} 1\nh_sum{f=\"a\"} 1\n"
		  "h_count{f=\"a\"} 1\nh_bucket{f=\"b\",le=\"+Inf\"} 2\nh_sum{f=\"b\"} 1\n"
		  "h_count{f=\"b\"} 1\n", "second series: _count != +Inf" },
	};
	static const char good[] =
		"# HELP x_total h\n# TYPE x_total counter\nx_total{code=\"2xx\",b=\"a\\\"\\\\\\n\"} 3\n"
		"# HELP h h\n# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
		"h_sum 0.75\nh_count 2\n# a comment\n# HELP g h\n# TYPE g gauge\ng -1\n"
		"# HELP w h\n# TYPE w histogram\nw_bucket{f=\"a\",le=\"1\"} 3\n"
		"w_bucket{f=\"a\",le=\"+Inf\"} 3\nw_sum{f=\"a\"} 1\nw_count{f=\"a\"} 3\n"
		"w_bucket{f=\"b\",le=\"1\"} 0\nw_bucket{f=\"b\",le=\"+Inf\"} 1\nw_sum{f=\"b\"} 2\n"
		"w_count{f=\"b\"} 1\n";
	const char *why;
	char at[1024];
	double v;

	(void)state;
	for (size_t i = 0; i < LEN(bad); i++)
		if (prom_check(bad[i].text, &why, at, sizeof(at)) == 0)
			fail_msg("checker accepted: %s", bad[i].why);
	if (prom_check(good, &why, at, sizeof(at)) < 0)
		fail_msg("checker rejected good text: %s at: %s", why, at);
	assert_int_equal(prom_value(good, "h_count", &v), 0);
	assert_true(v == 2);
	assert_int_equal(prom_value(good, "h_sum", &v), 0);
	assert_true(v == 0.75);
	assert_int_equal(prom_value(good, "h", &v), -1);
	assert_true(json_ok("{\"a\":[1,-2.5e3,true,null,\"x\\u00e9\"],\"b\":{}}"));
	assert_false(json_ok("{\"a\":1,}"));
	assert_false(json_ok("{\"a\":\"\n\"}"));
	assert_false(json_ok("[1] 2"));
}

static void
test_healthz(void **state)
{
	struct tresp r = { 0 };
	char v[64];
	int rc;

	(void)state;
	rc = get(aport, "/healthz", &r);
	assert_status(rc, &r, 200);
	assert_framing(&r);
	assert_string_equal(r.body, "ok\n");
	tresp_free(&r);
	/* HEAD: the same head, no body */
	rc = request1(aport, "HEAD /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n", &r, 1);
	assert_status(rc, &r, 200);
	assert_non_null(tresp_hdr(&r, "Content-Length", v, sizeof(v)));
	assert_string_equal(v, "3");
	assert_int_equal(r.blen, 0);
	tresp_free(&r);
}

static void
test_metrics_format(void **state)
{
	const char *text;
	char series[192], app[64];
	double v;

	(void)state;
	text = metrics(aport);
	app_label(app, sizeof(app), pport);
	/* the series of every app ("%s" is its label), and the process's */
	static const char *const want[] = {
		"prescal_requests_total{%s,code=\"1xx\"}", "prescal_requests_total{%s,code=\"5xx\"}",
		"prescal_requests_in_flight{%s}", "prescal_held_requests{%s}",
		"prescal_held_requests_total{%s}", "prescal_hold_rejected_total{%s}",
		"prescal_bytes_sent_total{%s}", "prescal_backend_requests_total{%s,backend=\"%s\"}",
		"prescal_backend_responses_total{%s,backend=\"%s\",code=\"2xx\"}",
		"prescal_backend_up{%s,backend=\"%s\"}",
		/* what no app answered; the sum over app is the process's */
		"prescal_requests_total{app=\"\",code=\"4xx\"}", "prescal_bytes_sent_total{app=\"\"}",
		"prescal_request_duration_seconds_bucket{le=\"+Inf\"}",
		"prescal_request_duration_seconds_sum", "prescal_request_duration_seconds_count",
		"prescal_connections_open", "prescal_connections_idle", "prescal_docker_errors_total",
	};
	for (size_t i = 0; i < LEN(want); i++) {
		snprintf(series, sizeof(series), want[i], app, gbackend);
		if (prom_value(text, series, &v) < 0)
			fail_msg("/metrics has no %s", series);
	}
	/* no scaled app: no scaler families at all, and no series without app */
	static const char *const none[] = {
		"prescal_instances{", "prescal_scale_target{", "prescal_scale_events_total{",
		"prescal_instance_replacements_total{", "prescal_cold_start_seconds_bucket{",
		"prescal_wake_seconds_bucket{", "prescal_app_failing{", "prescal_pauses_total{",
		"\nprescal_requests_total{code=", "\nprescal_requests_in_flight ",
		"\nprescal_backend_up{backend=",
	};
	for (size_t i = 0; i < LEN(none); i++)
		if (strstr(text, none[i]))
			fail_msg("/metrics has %s", none[i]);
}

static void
test_requests_counted(void **state)
{
	enum { N = 7 };
	struct tresp r = { 0 };
	char series[192], req[128], app[64];
	double base, bbase, now = 0, bnow;
	int64_t until;
	int rc;

	(void)state;
	app_label(app, sizeof(app), pport);
	snprintf(req, sizeof(req), "prescal_requests_total{%s,code=\"2xx\"}", app);
	snprintf(series, sizeof(series), "prescal_backend_requests_total{%s,backend=\"%s\"}",
	         app, gbackend);
	base = metric(aport, req);
	bbase = metric(aport, series);
	for (int i = 0; i < N; i++) {
		rc = get(pport, "/", &r);
		assert_status(rc, &r, 200);
		tresp_free(&r);
	}
	/* the counters move after the last byte went out: allow a moment */
	for (until = now_ms() + 2000; now_ms() < until; msleep(20))
		if ((now = metric(aport, req)) >= base + N)
			break;
	msleep(100);
	now = metric(aport, req);
	bnow = metric(aport, series);
	printf("admin: 2xx %g -> %g, backend %g -> %g after %d requests\n", base, now, bbase,
	       bnow, N);
	assert_true(now == base + N);
	assert_true(bnow == bbase + N);
	/* the admin's own requests are not proxied requests */
	assert_true(metric(aport, req) == base + N);
}

static void
test_backend_up(void **state)
{
	struct tproc *p, *b1, *b2;
	struct tresp r = { 0 };
	char n1[32], n2[32], s1[192], s2[192], app[64];
	int port = free_port(), admin = free_port(), p1 = free_port(), p2 = free_port(), rc;

	(void)state;
	assert_int_equal(start_backend(&b1, p1, SCOPE_TEST), 0);
	assert_int_equal(start_backend(&b2, p2, SCOPE_TEST), 0);
	hostport(n1, sizeof(n1), p1);
	hostport(n2, sizeof(n2), p2);
	assert_int_equal(start_prescal(&p, port, admin, SCOPE_TEST, (char *[]){ n1, n2 }, 2), 0);
	app_label(app, sizeof(app), port);
	snprintf(s1, sizeof(s1), "prescal_backend_up{%s,backend=\"%s\"}", app, n1);
	snprintf(s2, sizeof(s2), "prescal_backend_up{%s,backend=\"%s\"}", app, n2);
	assert_true(metric(admin, s1) == 1);
	assert_true(metric(admin, s2) == 1);
	/* kill one; max_fails 3: a few requests fail over and mark it down */
	tproc_stop(b2, SIGKILL);
	for (int i = 0; i < 12; i++) {
		rc = get(port, "/", &r);
		assert_status(rc, &r, 200);
		tresp_free(&r);
	}
	assert_true(metric(admin, s1) == 1);
	assert_true(metric(admin, s2) == 0);
	/* /status says so too */
	rc = get(admin, "/status", &r);
	assert_status(rc, &r, 200);
	assert_non_null(strstr(r.body, "\"state\":\"down\""));
	tresp_free(&r);
	tproc_stop(p, SIGKILL);
	tproc_stop(b1, SIGKILL);
}

static void
test_status_json(void **state)
{
	struct tresp r = { 0 };
	char ctype[64], needle[128];
	int rc;

	(void)state;
	rc = get(aport, "/status", &r);
	assert_status(rc, &r, 200);
	assert_framing(&r);
	assert_non_null(tresp_hdr(&r, "Content-Type", ctype, sizeof(ctype)));
	assert_string_equal(ctype, "application/json");
	if (!json_ok(r.body))
		fail_msg("/status is not JSON: %s", r.body);
	snprintf(needle, sizeof(needle), "{\"name\":\"%s\",\"container\":null,\"dynamic\":false,"
	         "\"state\":\"up\"", gbackend);
	if (!strstr(r.body, needle))
		fail_msg("/status lacks %s: %s", needle, r.body);
	assert_non_null(strstr(r.body, "\"draining\":false"));
	assert_non_null(strstr(r.body, "\"connections\":{\"open\":"));
	assert_non_null(strstr(r.body, "\"scaler\":null"));
	tresp_free(&r);
}

/* the numbers of the JSON array "name":[...] in s into v[0..max); returns
 * how many, or -1 if there is no such array */
static int
jarray(const char *s, const char *name, long *v, int max)
{
	char key[64];
	const char *p;
	char *end;
	int n = 0;

	snprintf(key, sizeof(key), "\"%s\":[", name);
	if (!(p = strstr(s, key)))
		return -1;
	for (p += strlen(key); *p != ']'; p = end + (*end == ',')) {
		long x = strtol(p, &end, 10);
		if (end == p || n == max)
			return -1;
		v[n++] = x;
	}
	return n;
}

static long
jsum(const long *v, int n)
{
	long s = 0;

	for (int i = 0; i < n; i++)
		s += v[i];
	return s;
}

/* GET /status?history=1: the ring's series after a little traffic */
static void
test_status_history(void **state)
{
	enum { N = 12, E = 3, MAXS = 900 };
	static const char *const series[] = { "in_flight", "held", "rps", "errors_5xx",
	                                      "starting", "ready", "draining", "want" };
	static long t[MAXS], v[MAXS];
	struct tresp r = { 0 };
	struct tconn *c;
	long rps0, err0, max = 0;
	int rc, n, n0;

	(void)state;
	/* the first sample comes within a second of the start */
	for (int64_t until = now_ms() + 2000;; msleep(50)) {
		rc = get(aport, "/status?history=1", &r);
		assert_status(rc, &r, 200);
		if (!strstr(r.body, "\"samples\":0,") || now_ms() > until)
			break;
		tresp_free(&r);
	}
	if (!json_ok(r.body))
		fail_msg("/status?history=1 is not JSON: %.300s", r.body);
	assert_non_null(strstr(r.body, "\"history\":{\"app\":null,\"interval_s\":1,\"capacity\":900,"));
	assert_true((n0 = jarray(r.body, "rps", v, MAXS)) >= 1);
	rps0 = jsum(v, n0);
	assert_int_equal(jarray(r.body, "errors_5xx", v, MAXS), n0);
	err0 = jsum(v, n0);
	tresp_free(&r);
	/* without ?history=1 there is none */
	rc = get(aport, "/status?x=history=1", &r);
	assert_status(rc, &r, 200);
	assert_null(strstr(r.body, "\"history\""));
	tresp_free(&r);
	/* traffic: a slow request over two samples, N quick ones, E of them 5xx */
	assert_non_null(c = tconn_open(pport, 1000));
	assert_int_equal(tsends(c, "GET /slow?ms=2500 HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
	for (int i = 0; i < N; i++) {
		rc = get(pport, i < E ? "/status/503" : "/", &r);
		assert_status(rc, &r, i < E ? 503 : 200);
		tresp_free(&r);
	}
	assert_int_equal(tresp_read(c, &r, 0, 4000), 0);
	tresp_free(&r);
	tconn_close(c);
	msleep(1300);  /* the next sample counts the last requests */
	rc = get(aport, "/status?history=1", &r);
	assert_status(rc, &r, 200);
	if (!json_ok(r.body))
		fail_msg("/status?history=1 is not JSON: %.300s", r.body);
	n = jarray(r.body, "t", t, MAXS);
	printf("admin: history: %d samples before, %d after; %zu bytes\n", n0, n, r.blen);
	assert_true(n >= n0 + 2 && n <= MAXS);
	for (int i = 1; i < n; i++)
		if (t[i] < t[i - 1] || t[i] > t[i - 1] + 2)
			fail_msg("sample %d: t %ld after %ld", i, t[i], t[i - 1]);
	for (size_t k = 0; k < LEN(series); k++)
		if (jarray(r.body, series[k], v, MAXS) != n)
			fail_msg("series %s: not %d numbers", series[k], n);
	/* N + 1 requests; rates are rounded per second: allow one off */
	jarray(r.body, "rps", v, MAXS);
	printf("admin: history: rps sum %ld -> %ld\n", rps0, jsum(v, n));
	assert_true(jsum(v, n) - rps0 >= N);
	jarray(r.body, "errors_5xx", v, MAXS);
	assert_true(jsum(v, n) - err0 >= E - 1);
	jarray(r.body, "in_flight", v, MAXS);
	for (int i = n0; i < n; i++)
		max = MAX(max, v[i]);
	assert_true(max >= 1);
	/* no scaler: no instances, no events */
	jarray(r.body, "ready", v, MAXS);
	assert_int_equal(jsum(v, n), 0);
	assert_non_null(strstr(r.body, "\"events\":[]}"));
	tresp_free(&r);
}

static void
test_html(void **state)
{
	struct tresp r = { 0 };
	char ctype[64];
	int rc;

	(void)state;
	rc = get(aport, "/", &r);
	assert_status(rc, &r, 200);
	assert_framing(&r);
	assert_non_null(tresp_hdr(&r, "Content-Type", ctype, sizeof(ctype)));
	assert_true(!strncmp(ctype, "text/html", 9));
	assert_true(!strncmp(r.body, "<!DOCTYPE html>", 15));
	/* it refreshes itself: a script, or without one a meta refresh */
	assert_non_null(strstr(r.body, "<noscript><meta http-equiv=\"refresh\" content=\"5\">"));
	assert_non_null(strstr(r.body, "setInterval("));
	/* the history: a plot with its text alternative, no instances without -i */
	assert_non_null(strstr(r.body, "<svg class=\"plot\""));
	assert_non_null(strstr(r.body, "<path class=\"l-if\" d=\"M"));
	assert_non_null(strstr(r.body, "<path class=\"l-rps\" d=\"M"));
	assert_null(strstr(r.body, "class=\"a-ready\""));
	assert_non_null(strstr(r.body, "@media(prefers-color-scheme:dark)"));
	assert_non_null(strstr(r.body, gbackend));
	assert_non_null(strstr(r.body, "class=\"st up\""));
	assert_non_null(strstr(r.body, "</html>"));
	/* self-contained: nothing fetched from elsewhere */
	assert_null(strstr(r.body, "src="));
	assert_null(strstr(r.body, "href="));
	tresp_free(&r);
	/* a query string is not part of the path */
	rc = get(aport, "/?x=1", &r);
	assert_status(rc, &r, 200);
	tresp_free(&r);
}

static void
test_errors(void **state)
{
	static const struct { const char *req; int status; } cases[] = {
		{ "GET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n", 404 },
		{ "GET /metrics/ HTTP/1.1\r\nHost: localhost\r\n\r\n", 404 },
		{ "POST /metrics HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nabc", 405 },
		{ "DELETE / HTTP/1.1\r\nHost: localhost\r\n\r\n", 405 },
		{ "get /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n", 405 },
		{ "garbage\r\n\r\n", 400 },
		{ "GET /healthz HTTP/1.1\r\nHost: localhost\r\nBad Field: x\r\n\r\n", 400 },
		{ "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX: \001\r\n\r\n", 400 },
	};
	struct tresp r = { 0 };
	char v[64], big[12000];
	int rc;

	(void)state;
	for (size_t i = 0; i < LEN(cases); i++) {
		rc = request1(aport, cases[i].req, &r, 0);
		assert_status(rc, &r, cases[i].status);
		assert_framing(&r);
		/* the body is just the status line's words */
		assert_int_equal(atoi(r.body), cases[i].status);
		if (cases[i].status == 405) {
			assert_non_null(tresp_hdr(&r, "Allow", v, sizeof(v)));
			assert_string_equal(v, "GET, HEAD");
		}
		tresp_free(&r);
	}
	/* HEAD of an unknown path: the head only */
	rc = request1(aport, "HEAD /nope HTTP/1.1\r\nHost: localhost\r\n\r\n", &r, 1);
	assert_status(rc, &r, 404);
	tresp_free(&r);
	/* a head over 8 KiB */
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET / HTTP/1.1\r\nHost: localhost\r\nX: ", 28);
	memcpy(big + sizeof(big) - 5, "\r\n\r\n", 5);
	rc = request1(aport, big, &r, 0);
	assert_status(rc, &r, 431);
	tresp_free(&r);
	/* a client that sends half a head and stalls gets 408 within ~2 s */
	rc = request1(aport, "GET /healthz HTTP/1.1\r\n", &r, 0);
	assert_status(rc, &r, 408);
	tresp_free(&r);
	/* still serving */
	rc = get(aport, "/healthz", &r);
	assert_status(rc, &r, 200);
	tresp_free(&r);
}

static void
test_head_metrics(void **state)
{
	struct tresp r = { 0 };
	char v[64];
	int rc;

	(void)state;
	rc = request1(aport, "HEAD /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n", &r, 1);
	assert_status(rc, &r, 200);
	assert_non_null(tresp_hdr(&r, "Content-Length", v, sizeof(v)));
	assert_true(atoi(v) > 1000);
	assert_int_equal(r.blen, 0);
	tresp_free(&r);
	/* nothing followed the head: the connection is closed and empty */
	struct tconn *c = tconn_open(aport, 1000);
	assert_non_null(c);
	assert_int_equal(tsends(c, "HEAD /status HTTP/1.1\r\nHost: localhost\r\n\r\n"), 0);
	assert_int_equal(tresp_read(c, &r, 1, T_RESP), 0);
	assert_int_equal(tclosed(c, 2000), 1);
	tresp_free(&r);
	tconn_close(c);
}

static void
test_healthz_draining(void **state)
{
	struct tproc *p;
	struct tconn *c;
	struct tresp r = { 0 };
	char bp[32];
	int port = free_port(), admin = free_port(), rc;
	int64_t t0, until;

	(void)state;
	hostport(bp, sizeof(bp), bport);
	assert_int_equal(start_prescal(&p, port, admin, SCOPE_TEST, (char *[]){ bp }, 1), 0);
	rc = get(admin, "/healthz", &r);
	assert_status(rc, &r, 200);
	tresp_free(&r);
	/* a slow request keeps prescal draining for a while after SIGTERM */
	c = tconn_open(port, 1000);
	assert_non_null(c);
	assert_int_equal(tsends(c, "GET /slow?ms=1500 HTTP/1.1\r\nHost: localhost\r\n\r\n"), 0);
	msleep(200);
	t0 = now_ms();
	assert_int_equal(kill(p->pid, SIGTERM), 0);
	for (until = now_ms() + 1000; now_ms() < until; msleep(20)) {
		rc = get(admin, "/healthz", &r);
		if (rc == 0 && r.status == 503)
			break;
		tresp_free(&r);
	}
	printf("admin: /healthz said %d %lld ms after SIGTERM\n", r.status,
	       (long long)(now_ms() - t0));
	assert_status(rc, &r, 503);
	assert_framing(&r);
	assert_string_equal(r.body, "draining\n");
	tresp_free(&r);
	/* /status agrees */
	rc = get(admin, "/status", &r);
	assert_status(rc, &r, 200);
	assert_non_null(strstr(r.body, "\"draining\":true"));
	tresp_free(&r);
	/* the slow request still completes, then prescal exits */
	rc = tresp_read(c, &r, 0, 4000);
	assert_status(rc, &r, 200);
	tresp_free(&r);
	tconn_close(c);
	assert_int_equal(tproc_wait(p, 4000), 0);
	tproc_stop(p, SIGKILL);
}

/* as many static backends as prescal takes: every page stays complete */
static void
test_many_backends(void **state)
{
	struct tproc *p;
	struct tresp r = { 0 };
	char names[MAXB][64], *bk[MAXB], series[192], app[64];
	const char *text;
	int port = free_port(), admin = free_port(), rc, n = 0;
	const char *s;
	double v;

	(void)state;
	/* the longest names that resolve: fully written-out IPv4-mapped v6 */
	for (int i = 0; i < MAXB; i++) {
		snprintf(names[i], sizeof(names[i]), "[0000:0000:0000:0000:0000:ffff:7f00:0001]:%d",
		         10000 + i);
		bk[i] = names[i];
	}
	assert_int_equal(start_prescal(&p, port, admin, SCOPE_TEST, bk, MAXB), 0);
	text = metrics(admin);
	for (s = text; (s = strstr(s, "prescal_backend_up{")); s++)
		n++;
	printf("admin: /metrics with %d backends: %zu bytes\n", MAXB, strlen(text));
	assert_int_equal(n, MAXB);
	/* the last one too, by name */
	snprintf(series, sizeof(series), "prescal_backend_up{%s,backend=\"%s\"}",
	         app_label(app, sizeof(app), port), bk[MAXB - 1]);
	assert_int_equal(prom_value(text, series, &v), 0);
	assert_true(v == 1);
	rc = get(admin, "/status", &r);
	assert_status(rc, &r, 200);
	if (!json_ok(r.body))
		fail_msg("/status with %d backends is not JSON", MAXB);
	assert_non_null(strstr(r.body, "\"backends_omitted\":0"));
	tresp_free(&r);
	rc = get(admin, "/", &r);
	assert_status(rc, &r, 200);
	for (n = 0, s = r.body; (s = strstr(s, "<tr><td>")); s++)
		n++;
	assert_int_equal(n, MAXB);
	assert_non_null(strstr(r.body, "</html>"));
	tresp_free(&r);
	tproc_stop(p, SIGKILL);
}

/* bound to 127.0.0.1 the admin listener answers only a loopback Host: a
 * page that a browser loads from a name rebound to 127.0.0.1 (DNS
 * rebinding) gets 421, not the metrics */
static void
test_host_check(void **state)
{
	static const struct { const char *host; int status; } cases[] = {
		{ "localhost", 200 },
		{ "LocalHost:8404", 200 },
		{ "localhost.", 200 },
		{ "prom.localhost", 200 },
		{ "127.0.0.1", 200 },
		{ "127.1.2.3:1", 200 },
		{ "[::1]", 200 },
		{ "[::1]:8404", 200 },
		{ "evil.example", 421 },
		{ "evil.example:8404", 421 },
		{ "localhost.evil.example", 421 },
		{ "evillocalhost", 421 },
		{ "10.0.0.1", 421 },
		{ "128.0.0.1", 421 },
		{ "[::2]", 421 },
		{ "[::1", 421 },
		{ "t", 421 },
	};
	static const char *paths[] = { "/metrics", "/status", "/", "/healthz" };
	struct tresp r = { 0 };
	char req[256];
	int rc;

	(void)state;
	for (size_t i = 0; i < LEN(cases); i++) {
		for (size_t k = 0; k < LEN(paths); k++) {
			snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", paths[k],
			         cases[i].host);
			rc = request1(aport, req, &r, 0);
			if (rc != 0 || r.status != cases[i].status)
				fail_msg("GET %s, Host: %s: status %d, want %d %s", paths[k],
				         cases[i].host, r.status, cases[i].status, r.err);
			if (r.status == 421)
				assert_string_equal(r.body, "421 Misdirected Request\n");
			tresp_free(&r);
		}
	}
	/* an absolute-form target names the host instead of Host */
	rc = request1(aport, "GET http://evil.example/metrics HTTP/1.1\r\nHost: localhost\r\n\r\n",
	              &r, 0);
	assert_status(rc, &r, 421);
	tresp_free(&r);
	rc = request1(aport, "GET http://localhost:1/healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
	              &r, 0);
	assert_status(rc, &r, 200);
	tresp_free(&r);
	/* HTTP/1.0 without Host is no browser */
	rc = request1(aport, "GET /healthz HTTP/1.0\r\n\r\n", &r, 0);
	assert_status(rc, &r, 200);
	tresp_free(&r);
}

/* clients that stall (half a head, or nothing at all) do not hold up a
 * /healthz probe: each waits out its own deadline */
static void
test_stalled_clients(void **state)
{
	struct tconn *c[4];
	struct tresp r = { 0 };
	int64_t t0, worst = 0;
	int rc;

	(void)state;
	for (int i = 0; i < 4; i++) {
		assert_non_null(c[i] = tconn_open(aport, 1000));
		if (i % 2)
			assert_int_equal(tsends(c[i], "GET /metrics HTTP/1.1\r\nHost: localhost\r\n"), 0);
	}
	msleep(100);
	for (int k = 0; k < 5; k++) {
		t0 = now_ms();
		rc = get(aport, "/healthz", &r);
		worst = MAX(worst, now_ms() - t0);
		assert_status(rc, &r, 200);
		tresp_free(&r);
	}
	printf("admin: /healthz with 4 stalled clients: slowest of 5 in %lld ms\n",
	       (long long)worst);
	assert_true(worst < 500);
	/* the stalled ones still get their own answers: 408 or a close */
	for (int i = 0; i < 4; i++) {
		rc = tresp_read(c[i], &r, 0, 4000);
		if (i % 2)
			assert_status(rc, &r, 408);
		else
			assert_int_equal(tclosed(c[i], 4000), 1);
		tresp_free(&r);
		tconn_close(c[i]);
	}
}

/* GET path from admin; the body stays valid until tresp_free_all() */
static const char *
body_of(int admin, const char *path)
{
	struct tresp r = { 0 };
	int rc = get(admin, path, &r);

	assert_status(rc, &r, 200);
	return r.body;
}

/* one request to port with Host host; returns the status */
static int
host_get(int port, const char *host, const char *path)
{
	struct tresp r = { 0 };
	char req[256];
	int rc;

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host);
	rc = request1(port, req, &r, 0);
	if (rc != 0)
		fail_msg("GET %s, Host: %s: %s", path, host, r.err);
	tresp_free(&r);
	return r.status;
}

/* the value of series in /metrics, waiting up to 2 s for it to be want
 * (counters move after the last byte went out) */
static double
metric_wait(int admin, const char *series, double want)
{
	double v = -1;

	for (int64_t until = now_ms() + 2000; now_ms() < until; msleep(20))
		if (prom_value(metrics(admin), series, &v) == 0 && v == want)
			break;
	return v;
}

/* s[from..) has needle before it has stop (NULL: anywhere after) */
static int
before(const char *from, const char *needle, const char *stop)
{
	const char *n = strstr(from, needle), *e = stop ? strstr(from, stop) : NULL;

	return n && (!e || n < e);
}

/* two apps of static backends, matched by host and path: /metrics,
 * /status and the page each group them by app; a reload that removes one
 * moves its requests to app="" */
/* load for test_worker_counts: keep-alive GETs, every other one 2 ms
 * (BLOCKED_MS, so many end as the watcher lets their worker go) */
struct wload {
	int port;
	int64_t until;
	long ok, bad;
};

static void *
wload_run(void *arg)
{
	struct wload *l = arg;
	struct tconn *c = tconn_open(l->port, 1000);
	struct tresp r = { 0 };
	int i = 0, rc;

	while (c && now_ms() < l->until) {
		rc = texchange(c, i++ % 2 ? "GET /slow?ms=2 HTTP/1.1\r\nHost: t\r\n\r\n"
		                          : "GET / HTTP/1.1\r\nHost: t\r\n\r\n", &r, 5000);
		rc = rc == 0 && r.status == 200;
		tresp_free(&r);
		if (!rc)
			break;
		__atomic_add_fetch(&l->ok, 1, __ATOMIC_RELAXED);
	}
	if (!c || now_ms() < l->until)
		__atomic_add_fetch(&l->bad, 1, __ATOMIC_RELAXED);
	if (c)
		tconn_close(c);
	return NULL;
}

/*
 * prescal_workers after load: every worker is polling or sleeping again,
 * none serving, at most 8 per CPU polling (the awake bound). 128 clients
 * for 3 s, half the requests 2 ms long, so that the watcher lets
 * thousands of workers go while they finish: a worker that read whether
 * it still counted outside the lock was let go twice, and "serving" went
 * below zero and the awake workers grew without bound (found by make
 * bench: CPU per request doubled over a run).
 */
static void
test_worker_counts(void **state)
{
	enum { NC = 128 };
	struct tproc *p;
	pthread_t t[NC];
	struct wload l = { 0 };
	char bk[32];
	double pol, ser, slo, sle;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int port = free_port(), admin = free_port();

	(void)state;
	assert_int_equal(start_prescal(&p, port, admin, SCOPE_TEST,
	                               (char *[]){ hostport(bk, sizeof(bk), bport) }, 1), 0);
	l.port = port;
	l.until = now_ms() + 3000;
	for (int i = 0; i < NC; i++)
		assert_int_equal(pthread_create(&t[i], NULL, wload_run, &l), 0);
	for (int i = 0; i < NC; i++)
		pthread_join(t[i], NULL);
	msleep(500);
	pol = metric(admin, "prescal_workers{state=\"polling\"}");
	ser = metric(admin, "prescal_workers{state=\"serving\"}");
	slo = metric(admin, "prescal_workers{state=\"slow\"}");
	sle = metric(admin, "prescal_workers{state=\"sleeping\"}");
	printf("admin: %ld requests from %d clients (%ld failed), then workers: polling %g, "
	       "serving %g, slow %g, sleeping %g (%ld CPUs)\n", l.ok, NC, l.bad, pol, ser, slo,
	       sle, ncpu);
	assert_int_equal(l.bad, 0);
	assert_true(l.ok > 1000);
	assert_true(ser == 0);
	assert_true(slo == 0);
	assert_true(pol >= 1 && pol <= 8 * ncpu);
	assert_true(sle > 0);
}

static void
test_two_apps(void **state)
{
	static const char conf[] =
		"access_log 0\nthreads 16\n"
		"app web\nhost web.localhost\nbackend 127.0.0.1:%d\n"
		"app api\nhost api.localhost\nhost *.api.localhost\npath /status\nbackend 127.0.0.1:%d\n";
	struct tproc *p, *b2;
	char text[512], *file, *file2, n2[32], series[192], web[256], api[256];
	const char *st, *html, *m;
	int port = free_port(), admin = free_port(), p2 = free_port();
	double rest2xx;

	(void)state;
	assert_int_equal(start_backend(&b2, p2, SCOPE_TEST), 0);
	hostport(n2, sizeof(n2), p2);
	snprintf(text, sizeof(text), conf, bport, p2);
	assert_non_null(file = tmp_write("admin-apps", text));
	assert_int_equal(start_prescal_file(&p, port, admin, SCOPE_TEST, file), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(host_get(port, "web.localhost", "/"), 200);
	assert_int_equal(host_get(port, "x.api.localhost", "/status/200"), 200);
	assert_int_equal(host_get(port, "API.localhost:80", "/status/201"), 201);
	assert_int_equal(host_get(port, "api.localhost", "/status/503"), 503);
	assert_int_equal(host_get(port, "api.localhost", "/v2"), 404);  /* no app */
	/* /metrics: each app's requests, backends under their own app */
	assert_true(metric_wait(admin, "prescal_requests_total{app=\"web\",code=\"2xx\"}", 3) == 3);
	assert_true(metric_wait(admin, "prescal_requests_total{app=\"api\",code=\"2xx\"}", 2) == 2);
	assert_true(metric_wait(admin, "prescal_requests_total{app=\"api\",code=\"5xx\"}", 1) == 1);
	assert_true(metric_wait(admin, "prescal_requests_total{app=\"\",code=\"4xx\"}", 1) == 1);
	assert_true(metric(admin, "prescal_requests_total{app=\"web\",code=\"5xx\"}") == 0);
	snprintf(series, sizeof(series), "prescal_backend_requests_total{app=\"web\",backend=\"%s\"}",
	         gbackend);
	assert_true(metric(admin, series) == 3);
	snprintf(series, sizeof(series), "prescal_backend_requests_total{app=\"api\",backend=\"%s\"}",
	         n2);
	assert_true(metric(admin, series) == 3);
	snprintf(series, sizeof(series), "prescal_backend_up{app=\"web\",backend=\"%s\"}", n2);
	assert_null(strstr(metrics(admin), series));
	assert_true(metric(admin, "prescal_requests_in_flight{app=\"api\"}") == 0);
	assert_true(metric(admin, "prescal_held_requests{app=\"web\"}") == 0);
	/* /status: an apps array, each with its match, counters and backends */
	st = body_of(admin, "/status");
	if (!json_ok(st))
		fail_msg("/status is not JSON: %s", st);
	snprintf(web, sizeof(web), "{\"name\":\"web\",\"hosts\":[\"web.localhost\"],\"path\":\"\","
	         "\"requests\":{\"total\":3,\"1xx\":0,\"2xx\":3,\"3xx\":0,\"4xx\":0,\"5xx\":0},");
	snprintf(api, sizeof(api), "{\"name\":\"api\",\"hosts\":[\"api.localhost\","
	         "\"*.api.localhost\"],\"path\":\"/status\",\"requests\":{\"total\":3,\"1xx\":0,"
	         "\"2xx\":2,\"3xx\":0,\"4xx\":0,\"5xx\":1},");
	if (!(st = strstr(st, "\"apps\":[")) || !before(st, web, NULL) || !before(st, api, NULL))
		fail_msg("/status lacks the apps as %s and %s", web, api);
	snprintf(series, sizeof(series), "{\"name\":\"%s\",\"container\":null", gbackend);
	assert_true(before(strstr(st, web), series, api));
	assert_false(before(strstr(st, api), series, NULL));
	snprintf(series, sizeof(series), "{\"name\":\"%s\",\"container\":null", n2);
	assert_true(before(strstr(st, api), series, NULL));
	assert_false(before(strstr(st, web), series, api));
	assert_true(before(strstr(st, web), "\"in_flight\":0,\"held\":0,", api));
	assert_true(before(strstr(st, api), "\"scaler\":null,\"backends\":[", NULL));
	/* the page: a section per app, its match, its backends in it */
	html = body_of(admin, "/");
	assert_non_null(strstr(html, "<h2>All apps</h2>"));
	assert_non_null(st = strstr(html, "<h2>App <span class=\"an\">web</span></h2>"));
	assert_true(before(st, "<p class=\"match\">web.localhost &middot; requests 3 (2xx 3)", "</p>"));
	assert_true(before(st, gbackend, "</section>"));
	assert_false(before(st, n2, "</section>"));
	assert_non_null(st = strstr(html, "<h2>App <span class=\"an\">api</span></h2>"));
	assert_true(before(st, "api.localhost, *.api.localhost &middot; path /status &middot; "
	                   "requests 3 (2xx 2, 5xx 1)", "</p>"));
	assert_true(before(st, n2, "</section>"));
	assert_false(before(st, gbackend, "</section>"));
	/* a reload without api: its requests count as no app's from now on */
	rest2xx = metric(admin, "prescal_requests_total{app=\"\",code=\"2xx\"}");
	snprintf(text, sizeof(text), "access_log 0\nthreads 16\napp web\nhost web.localhost\n"
	         "backend 127.0.0.1:%d\n", bport);
	assert_non_null(file2 = tmp_write("admin-apps", text));
	assert_int_equal(rename(file2, file), 0);
	assert_int_equal(kill(p->pid, SIGHUP), 0);
	for (int64_t until = now_ms() + 3000; now_ms() < until; msleep(50))
		if (!strstr(metrics(admin), "app=\"api\""))
			break;
	m = metrics(admin);
	assert_null(strstr(m, "app=\"api\""));
	printf("admin: after the reload, app=\"\" 2xx %g -> ", rest2xx);
	rest2xx = metric(admin, "prescal_requests_total{app=\"\",code=\"2xx\"}") - rest2xx;
	printf("+%g\n", rest2xx);
	assert_true(rest2xx == 2);
	assert_true(metric(admin, "prescal_requests_total{app=\"web\",code=\"2xx\"}") == 3);
	st = body_of(admin, "/status");
	assert_null(strstr(st, "\"name\":\"api\""));
	tproc_stop(p, SIGKILL);
	tproc_stop(b2, SIGKILL);
}

#define T(f) cmocka_unit_test_teardown(f, test_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_prom_checker),
		T(test_healthz),
		T(test_metrics_format),
		T(test_requests_counted),
		T(test_backend_up),
		T(test_status_json),
		T(test_status_history),
		T(test_html),
		T(test_errors),
		T(test_head_metrics),
		T(test_many_backends),
		T(test_two_apps),
		T(test_worker_counts),
		T(test_host_check),
		T(test_stalled_clients),
		T(test_healthz_draining),
	};

	signal(SIGPIPE, SIG_IGN);
	if (getenv("INTEG_FILTER"))
		cmocka_set_test_filter(getenv("INTEG_FILTER"));
	/* cmocka does not count a failed group teardown */
	return cmocka_run_group_tests(tests, group_setup, group_teardown) || bad_exit;
}
