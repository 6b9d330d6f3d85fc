/* See LICENSE file for copyright and license details. */
/* admin.c: the admin listener. One thread accepts one connection at a
 * time, reads one request head with a total deadline, answers it from a
 * snapshot of the counters (proxy.c, pool.c, fleet.c) and closes. All
 * buffers are file-scope and fixed: only the admin thread touches them. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "http.h"
#include "proxy.h"
#include "pool.h"
#include "scale.h"
#include "admin.h"

#define REQLINE_MAX  2048     /* request line, bytes: longer -> 414 */
#define HEAD_MAX     8192     /* request head, bytes: larger -> 431 */
#define NHDR         32       /* request header fields: more -> 431 */
#define OUT_MAX      65536    /* response head + body, bytes */
#define HEADROOM     512      /* of OUT_MAX, kept for the response head */
#define IO_MS        2000     /* whole head read; one blocked write */
#define LINGER_MS    500      /* wait for the client's FIN before close() */
#define MAX_BACKENDS 512      /* backends copied per request; more are counted */

enum { ESC_PROM, ESC_JSON, ESC_HTML, NUM_ESC };

/* one backend as copied under the pool lock */
struct bsnap {
	char name[72], id[65];
	int dynamic;
	enum backend_state state;
	int inflight, tunnels;
	long served, status[6];
	int64_t created;
};

/* everything one answer shows, gathered once per request */
struct view {
	int64_t now;
	int draining;
	long open, idle;
	struct proxy_stats px;
	struct pool_stats pl;
	struct scale_stats sc;
	int nb;                    /* backends in b[] */
	int more;                  /* backends that did not fit b[] */
};

/* a bounded text builder; err is sticky and means "incomplete" */
struct out {
	char *buf;
	size_t cap, len;
	int err;
};

struct page {
	const char *path;
	const char *ctype;
	int (*render)(struct out *o, int nshow);  /* returns the HTTP status */
};

static int render_html(struct out *o, int nshow);
static int render_status(struct out *o, int nshow);
static int render_metrics(struct out *o, int nshow);
static int render_healthz(struct out *o, int nshow);

static const struct page pages[] = {
	{ "/",        "text/html; charset=utf-8",                  render_html },
	{ "/status",  "application/json",                          render_status },
	{ "/metrics", "text/plain; version=0.0.4; charset=utf-8",  render_metrics },
	{ "/healthz", "text/plain; charset=utf-8",                 render_healthz },
};

/* conf is immutable after admin_init(); the rest belongs to the admin
 * thread (one request at a time), so it needs no lock */
static struct {
	struct admin_conf conf;
	char in[HEAD_MAX];
	char out[OUT_MAX];
	struct http_header hdr[NHDR];
	struct view v;
	struct bsnap b[MAX_BACKENDS];
} A;

/* output */

static void
put(struct out *o, const char *s, size_t n)
{
	if (o->err || n > o->cap - o->len) {
		o->err = 1;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static void
outf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->err)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len)
		o->err = 1;
	else
		o->len += n;
}

/* appends s escaped for a Prometheus label value, a JSON string or HTML
 * text and attributes */
static void
putesc(struct out *o, const char *s, int how)
{
	char hex[8];

	for (; *s && !o->err; s++) {
		unsigned char c = *s;
		if ((how == ESC_PROM || how == ESC_JSON) && (c == '\\' || c == '"'))
			outf(o, "\\%c", c);
		else if (how == ESC_PROM && c == '\n')
			put(o, "\\n", 2);
		else if (how == ESC_JSON && c < 0x20)
			put(o, hex, snprintf(hex, sizeof(hex), "\\u%04x", c));
		else if (how == ESC_HTML && c == '&')
			put(o, "&amp;", 5);
		else if (how == ESC_HTML && c == '<')
			put(o, "&lt;", 4);
		else if (how == ESC_HTML && c == '>')
			put(o, "&gt;", 4);
		else if (how == ESC_HTML && c == '"')
			put(o, "&quot;", 6);
		else if (how == ESC_HTML && c == '\'')
			put(o, "&#39;", 5);
		else
			put(o, (const char *)&c, 1);
	}
}

/* the snapshot */

static void
copy_backend(struct backend *b, void *arg)
{
	struct view *v = arg;
	struct bsnap *d;

	/* the pool lock is held: copy, nothing else */
	if (v->nb == MAX_BACKENDS) {
		v->more++;
		return;
	}
	d = &A.b[v->nb++];
	memcpy(d->name, b->name, sizeof(d->name));
	d->name[sizeof(d->name) - 1] = '\0';
	memcpy(d->id, b->id, sizeof(d->id));
	d->id[sizeof(d->id) - 1] = '\0';
	d->dynamic = b->dynamic;
	d->state = b->state;
	d->created = b->created;
	d->inflight = atomic_load(&b->inflight);
	d->tunnels = atomic_load(&b->tunnels);
	d->served = atomic_load(&b->served);
	for (int i = 0; i < 6; i++)
		d->status[i] = atomic_load(&b->status[i]);
}

static void
gather(struct view *v)
{
	memset(v, 0, sizeof(*v));
	v->now = now_ms();
	v->draining = A.conf.draining ? A.conf.draining() : 0;
	if (A.conf.conns)
		A.conf.conns(&v->open, &v->idle);
	proxy_get_stats(&v->px);
	pool_get_stats(&v->pl);
	if (A.conf.scaling)
		scale_get_stats(&v->sc);
	pool_foreach(copy_backend, v);
}

static const char *
state_name(enum backend_state st)
{
	if ((unsigned)st >= NUM_B || !backend_state_name[st])
		return "unknown";
	return backend_state_name[st];
}

static long
age_s(const struct bsnap *b)
{
	return b->created && A.v.now > b->created ? (long)((A.v.now - b->created) / 1000) : 0;
}

/* GET /metrics: Prometheus text exposition format 0.0.4 */

static void
family(struct out *o, const char *name, const char *type, const char *help)
{
	outf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
histogram(struct out *o, const char *name, const char *help, const double *le,
          const long *cum, int n, double sum)
{
	family(o, name, "histogram", help);
	for (int i = 0; i < n - 1; i++)
		outf(o, "%s_bucket{le=\"%g\"} %ld\n", name, le[i], cum[i]);
	outf(o, "%s_bucket{le=\"+Inf\"} %ld\n", name, cum[n - 1]);
	outf(o, "%s_sum %.6f\n%s_count %ld\n", name, sum, name, cum[n - 1]);
}

/* one sample of a per-backend family; extra holds further labels */
static void
bsample(struct out *o, const char *name, const struct bsnap *b, const char *extra, long val)
{
	outf(o, "%s{backend=\"", name);
	putesc(o, b->name, ESC_PROM);
	outf(o, "\"%s} %ld\n", extra, val);
}

static void
metrics_proxy(struct out *o, const struct view *v)
{
	family(o, "prescal_requests_total", "counter", "Requests answered, by status class.");
	for (int i = 1; i <= 5; i++)
		outf(o, "prescal_requests_total{code=\"%dxx\"} %ld\n", i, v->px.status[i]);
	family(o, "prescal_requests_in_flight", "gauge", "Requests at a backend now.");
	outf(o, "prescal_requests_in_flight %d\n", v->pl.inflight);
	family(o, "prescal_held_requests", "gauge", "Requests waiting for a ready backend now.");
	outf(o, "prescal_held_requests %d\n", v->pl.waiting);
	family(o, "prescal_held_requests_total", "counter",
	       "Requests that waited for a ready backend.");
	outf(o, "prescal_held_requests_total %ld\n", v->pl.held_total);
	family(o, "prescal_hold_rejected_total", "counter",
	       "Requests refused because too many were waiting.");
	outf(o, "prescal_hold_rejected_total %ld\n", v->pl.hold_rejected);
	histogram(o, "prescal_request_duration_seconds", "Time from request head to last byte sent.",
	          proxy_buckets, v->px.hist, PROXY_NBUCKETS, v->px.sum);
	family(o, "prescal_bytes_sent_total", "counter", "Response bytes written to clients.");
	outf(o, "prescal_bytes_sent_total %ld\n", v->px.bytes_out);
	family(o, "prescal_connections_open", "gauge", "Client connections open now.");
	outf(o, "prescal_connections_open %ld\n", v->open);
	family(o, "prescal_connections_idle", "gauge", "Client connections idle in keep-alive now.");
	outf(o, "prescal_connections_idle %ld\n", v->idle);
}

static void
metrics_backends(struct out *o, int nshow)
{
	char code[32];
	int i, k;

	family(o, "prescal_backend_requests_total", "counter", "Requests answered by each backend.");
	for (i = 0; i < nshow; i++)
		bsample(o, "prescal_backend_requests_total", &A.b[i], "", A.b[i].served);
	family(o, "prescal_backend_responses_total", "counter",
	       "Responses of each backend, by status class.");
	for (i = 0; i < nshow; i++) {
		for (k = 1; k <= 5; k++) {
			snprintf(code, sizeof(code), ",code=\"%dxx\"", k);
			bsample(o, "prescal_backend_responses_total", &A.b[i], code, A.b[i].status[k]);
		}
	}
	family(o, "prescal_backend_up", "gauge", "1 if the backend is selectable, else 0.");
	for (i = 0; i < nshow; i++)
		bsample(o, "prescal_backend_up", &A.b[i], "", A.b[i].state == B_UP);
}

static void
metrics_scaler(struct out *o, const struct scale_stats *s)
{
	if (A.conf.scaling) {
		family(o, "prescal_instances", "gauge", "Instances of the scaled set, by state.");
		outf(o, "prescal_instances{state=\"ready\"} %d\n", s->ready);
		outf(o, "prescal_instances{state=\"starting\"} %d\n", s->starting);
		outf(o, "prescal_instances{state=\"draining\"} %d\n", s->draining);
		family(o, "prescal_scale_target", "gauge", "Instances the scaler wants now.");
		outf(o, "prescal_scale_target %d\n", s->want);
	}
	family(o, "prescal_scale_events_total", "counter", "Scaling decisions, by direction and reason.");
	outf(o, "prescal_scale_events_total{direction=\"up\",reason=\"load\"} %ld\n", s->up);
	outf(o, "prescal_scale_events_total{direction=\"down\",reason=\"load\"} %ld\n", s->down_load);
	outf(o, "prescal_scale_events_total{direction=\"down\",reason=\"idle\"} %ld\n", s->down_idle);
	family(o, "prescal_instance_replacements_total", "counter", "Instances replaced, by reason.");
	outf(o, "prescal_instance_replacements_total{reason=\"died\"} %ld\n", s->died);
	outf(o, "prescal_instance_replacements_total{reason=\"unhealthy\"} %ld\n", s->unhealthy);
	outf(o, "prescal_instance_replacements_total{reason=\"not_ready\"} %ld\n", s->not_ready);
	family(o, "prescal_instance_start_failures_total", "counter",
	       "Instances that failed to start or become ready, by reason.");
	for (int i = SF_NONE + 1; i < NUM_SF; i++)
		outf(o, "prescal_instance_start_failures_total{reason=\"%s\"} %ld\n",
		     scale_fail_name[i], s->fail[i]);
	if (A.conf.scaling) {
		family(o, "prescal_app_failing", "gauge",
		       "1 while the last start failed and no instance has been ready since.");
		outf(o, "prescal_app_failing %d\n", s->failing);
	}
	family(o, "prescal_docker_errors_total", "counter", "Failed Docker Engine API calls.");
	outf(o, "prescal_docker_errors_total %ld\n", s->docker_errors);
	histogram(o, "prescal_cold_start_seconds", "Time from container create to ready.",
	          scale_buckets, s->cold_hist, SCALE_NBUCKETS, s->cold_sum);
}

static int
render_metrics(struct out *o, int nshow)
{
	metrics_proxy(o, &A.v);
	metrics_backends(o, nshow);
	metrics_scaler(o, &A.v.sc);
	if (nshow < A.v.nb + A.v.more)
		outf(o, "# backends truncated: %d of %d shown\n", nshow, A.v.nb + A.v.more);
	return 200;
}

/* GET /status: JSON */

static void
jstr(struct out *o, const char *s)
{
	put(o, "\"", 1);
	putesc(o, s, ESC_JSON);
	put(o, "\"", 1);
}

static void
json_backend(struct out *o, const struct bsnap *b)
{
	put(o, "{\"name\":", 8);
	jstr(o, b->name);
	put(o, ",\"container\":", 13);
	if (b->id[0])
		jstr(o, b->id);
	else
		put(o, "null", 4);
	outf(o, ",\"dynamic\":%s,\"state\":", b->dynamic ? "true" : "false");
	jstr(o, state_name(b->state));
	outf(o, ",\"in_flight\":%d,\"tunnels\":%d,\"served\":%ld,\"age_s\":%ld}",
	     b->inflight, b->tunnels, b->served, age_s(b));
}

static int
render_status(struct out *o, int nshow)
{
	const struct view *v = &A.v;

	outf(o, "{\"draining\":%s,\"connections\":{\"open\":%ld,\"idle\":%ld},\"requests\":%ld,"
	     "\"backends\":[", v->draining ? "true" : "false", v->open, v->idle, v->px.requests);
	for (int i = 0; i < nshow; i++) {
		if (i)
			put(o, ",", 1);
		json_backend(o, &A.b[i]);
	}
	outf(o, "],\"backends_omitted\":%d,\"scaler\":", v->nb + v->more - nshow);
	if (!A.conf.scaling) {
		put(o, "null}\n", 6);
		return 200;
	}
	put(o, "{\"image\":", 9);
	jstr(o, A.conf.image ? A.conf.image : "");
	put(o, ",\"set\":", 7);
	jstr(o, A.conf.set ? A.conf.set : "");
	outf(o, ",\"min\":%ld,\"max\":%ld,\"target\":%ld,\"want\":%d,\"ready\":%d,\"starting\":%d,"
	     "\"draining\":%d,\"state\":\"%s\",\"last_error\":", A.conf.min, A.conf.max,
	     A.conf.target, v->sc.want, v->sc.ready, v->sc.starting, v->sc.draining,
	     v->sc.failing ? "failing" : "ok");
	if (v->sc.last_error[0])
		jstr(o, v->sc.last_error);
	else
		put(o, "null", 4);
	if (v->sc.failing)
		outf(o, ",\"next_try_ms\":%ld}}\n", v->sc.next_try_ms);
	else
		outf(o, ",\"next_try_ms\":null}}\n");
	return 200;
}

/* GET /: HTML */

static const char html_head[] =
	"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	"<meta http-equiv=\"refresh\" content=\"2\">\n<title>prescal</title>\n<style>\n"
	"body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\n"
	"h1{font-size:1.3em}\n"
	"table{border-collapse:collapse}\n"
	"th,td{padding:.2em .8em;text-align:left;border-bottom:1px solid #ddd}\n"
	"td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
	".st{padding:0 .5em;border-radius:3px}\n"
	".up{background:#2a7;color:#fff}.starting{background:#fc3}\n"
	".down{background:#c33;color:#fff}.draining{background:#9bd}.removed{background:#ccc}\n"
	".drain{color:#c33;font-weight:bold}\n"
	".fail{color:#c33}\n"
	"</style></head><body>\n<h1>prescal</h1>\n";

static void
html_age(struct out *o, long s)
{
	if (s < 60)
		outf(o, "%lds", s);
	else if (s < 3600)
		outf(o, "%ldm%lds", s / 60, s % 60);
	else
		outf(o, "%ldh%ldm", s / 3600, s / 60 % 60);
}

static void
html_backend(struct out *o, const struct bsnap *b)
{
	char id[13];
	const char *st = state_name(b->state);

	snprintf(id, sizeof(id), "%s", b->id[0] ? b->id : "-");
	put(o, "<tr><td>", 8);
	putesc(o, b->name, ESC_HTML);
	put(o, "<td>", 4);
	putesc(o, id, ESC_HTML);
	outf(o, "<td><span class=\"st %s\">%s</span>", st, st);
	outf(o, "<td class=\"n\">%d<td class=\"n\">%d<td class=\"n\">%ld<td class=\"n\">",
	     b->inflight, b->tunnels, b->served);
	html_age(o, age_s(b));
	put(o, "</tr>\n", 6);
}

static int
render_html(struct out *o, int nshow)
{
	const struct view *v = &A.v;

	put(o, html_head, sizeof(html_head) - 1);
	outf(o, "<p>%s &middot; connections %ld open, %ld idle &middot; requests %ld &middot; "
	     "in flight %d &middot; held %d</p>\n",
	     v->draining ? "<span class=\"drain\">draining</span>" : "accepting",
	     v->open, v->idle, v->px.requests, v->pl.inflight, v->pl.waiting);
	if (A.conf.scaling) {
		put(o, "<p>scaler: image <b>", 20);
		putesc(o, A.conf.image ? A.conf.image : "", ESC_HTML);
		put(o, "</b> set <b>", 12);
		putesc(o, A.conf.set ? A.conf.set : "", ESC_HTML);
		outf(o, "</b>, %ld&ndash;%ld instances, target %ld per instance; want %d, ready %d, "
		     "starting %d, draining %d</p>\n", A.conf.min, A.conf.max, A.conf.target,
		     v->sc.want, v->sc.ready, v->sc.starting, v->sc.draining);
		if (v->sc.failing) {
			put(o, "<p class=\"fail\"><b>failing</b>: ", 32);
			putesc(o, v->sc.last_error, ESC_HTML);
			outf(o, " &middot; next try in %ld s</p>\n", (v->sc.next_try_ms + 999) / 1000);
		}
	}
	outf(o, "<table>\n<tr><th>backend<th>container<th>state<th>in flight<th>tunnels"
	     "<th>served<th>age</tr>\n");
	for (int i = 0; i < nshow; i++)
		html_backend(o, &A.b[i]);
	put(o, "</table>\n", 9);
	if (nshow < v->nb + v->more)
		outf(o, "<p>%d of %d backends shown</p>\n", nshow, v->nb + v->more);
	put(o, "</body></html>\n", 15);
	return 200;
}

/* GET /healthz */

static int
render_healthz(struct out *o, int nshow)
{
	(void)nshow;
	if (A.v.draining) {
		put(o, "draining\n", 9);
		return 503;
	}
	put(o, "ok\n", 3);
	return 200;
}

/* the connection */

/* Reads one request head into A.in. Returns 0 with req parsed, an HTTP
 * status to answer with, or -1 to close without an answer. */
static int
read_head(int fd, struct http_request *req)
{
	const struct http_limits lim = { REQLINE_MAX, HEAD_MAX - 1, NHDR, 0, 0 };
	int64_t deadline = now_ms() + IO_MS;
	size_t len = 0;
	ssize_t n;
	int r;

	for (;;) {
		/* a total deadline: a per-read time-out alone lets a slow client pin us */
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return len ? 408 : -1;
		sock_timeouts(fd, (int)left, 0);
		n = read(fd, A.in + len, sizeof(A.in) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return len ? 408 : -1;
		if (n <= 0)
			return -1;
		len += n;
		req->hdr = A.hdr;
		r = http_parse_request(A.in, len, &lim, req);
		if (r > 0)
			return 0;
		if (r == -1)
			return req->status ? req->status : 400;
		if (len == sizeof(A.in))
			return 431;
	}
}

/* Finds the page for req. Returns 0 with *pg set, or an HTTP status. */
static int
route(const struct http_request *req, const struct page **pg)
{
	const char *q;
	size_t plen = req->pathlen;

	if (!((req->mlen == 3 && !memcmp(req->method, "GET", 3)) ||
	      (req->mlen == 4 && !memcmp(req->method, "HEAD", 4))))
		return 405;
	if ((q = memchr(req->path, '?', plen)))
		plen = q - req->path;
	for (size_t i = 0; i < LEN(pages); i++) {
		if (strlen(pages[i].path) == plen && !memcmp(pages[i].path, req->path, plen)) {
			*pg = &pages[i];
			return 0;
		}
	}
	return 404;
}

/* Renders pg into o, listing a quarter fewer backends each time the text
 * does not fit. Returns the HTTP status. */
static int
render(const struct page *pg, struct out *o)
{
	int status;

	gather(&A.v);
	for (int n = A.v.nb;; n = n * 3 / 4) {
		o->len = 0;
		o->err = 0;
		status = pg->render(o, n);
		if (!o->err)
			return status;
		if (n == 0)
			return 500;
	}
}

/* Writes status, the fields and (unless head) the body, which starts
 * at A.out + HEADROOM, in one write. */
static void
reply(int fd, int status, const char *ctype, const struct out *body, int head)
{
	char h[HEADROOM];
	int n;

	n = snprintf(h, sizeof(h), "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	             "Cache-Control: no-store\r\n%sConnection: close\r\n\r\n", status,
	             http_reason(status), ctype, body->len,
	             status == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (n < 0 || n >= (int)sizeof(h))
		return;
	memcpy(A.out + HEADROOM - n, h, n);
	writeall(fd, A.out + HEADROOM - n, n + (head ? 0 : body->len));
}

/* Closes fd after the client has seen the whole answer: closing with
 * unread bytes would reset the connection and could discard it. */
static void
linger_close(int fd)
{
	char buf[1024];
	int64_t end = now_ms() + LINGER_MS;

	shutdown(fd, SHUT_WR);
	sock_timeouts(fd, LINGER_MS, 0);
	while (now_ms() < end && read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
}

/* Answers one request on fd and closes it. */
static void
serve(int fd)
{
	struct http_request req;
	struct out o = { A.out + HEADROOM, OUT_MAX - HEADROOM, 0, 0 };
	const struct page *pg = NULL;
	const char *ctype = "text/plain; charset=utf-8";
	int status, head = 0;

	if ((status = read_head(fd, &req)) < 0) {
		close(fd);
		return;
	}
	if (status == 0) {
		head = req.mlen == 4 && !memcmp(req.method, "HEAD", 4);
		if ((status = route(&req, &pg)) == 0) {
			ctype = pg->ctype;
			status = render(pg, &o);
		}
	}
	if (!pg || o.err) {
		/* errors: just the status, no internal text */
		o = (struct out){ A.out + HEADROOM, OUT_MAX - HEADROOM, 0, 0 };
		ctype = "text/plain; charset=utf-8";
		outf(&o, "%d %s\n", status, http_reason(status));
	}
	reply(fd, status, ctype, &o, head);
	linger_close(fd);
}

int
admin_listen(const char *addr, const char **msg)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int fd;

	if (resolve_addr(addr, "127.0.0.1", &ss, &sslen, msg) < 0)
		return -1;
	if ((fd = listen_tcp(&ss, sslen, 16)) < 0)
		*msg = strerror(errno);
	return fd;
}

void
admin_init(const struct admin_conf *conf)
{
	A.conf = *conf;
}

void *
admin_loop(void *arg)
{
	int lfd = (int)(intptr_t)arg, fd;

	for (;;) {
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
			if (errno != EINTR && errno != ECONNABORTED) {
				/* EMFILE and the like: let the proxy have the fds for a moment */
				warn("admin: accept:");
				usleep(100000);
			}
			continue;
		}
		sock_timeouts(fd, IO_MS, IO_MS);
		serve(fd);
	}
	return NULL;
}
