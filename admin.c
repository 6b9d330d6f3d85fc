/* See LICENSE file for copyright and license details. */
/* admin.c: the admin listener. One thread serves up to NCLIENT
 * connections at once from a poll() loop over non-blocking sockets: each
 * reads one request head, gets its answer from a snapshot of the counters
 * (proxy.c, and each app's: its pool, fleet and history, copied under the
 * apps' read lock by each_app) and is closed, all within its own deadline,
 * so a stalled client never holds up another (a /healthz probe). Bound to
 * a loopback address it answers only requests for a loopback Host (DNS
 * rebinding). All buffers are file-scope and fixed: only the admin thread
 * touches them. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "http.h"
#include "proxy.h"
#include "pool.h"
#include "scale.h"
#include "fleet.h"
#include "app.h"
#include "hist.h"
#include "admin.h"

#define REQLINE_MAX  2048     /* request line, bytes: longer -> 414 */
#define HEAD_MAX     8192     /* request head, bytes: larger -> 431 */
#define NHDR         32       /* request header fields: more -> 431 */
#define OUT_MAX      (1 << 20) /* response head + body, bytes (100 scaled apps' metrics fit) */
#define HEADROOM     512      /* of OUT_MAX, kept for the response head */
#define IO_MS        2000     /* per client: the whole head read; the whole answer sent */
#define LINGER_MS    500      /* wait for the client's FIN before close() */
#define NCLIENT      8        /* clients served at once; more wait in the backlog */
#define MAX_BACKENDS 512      /* backends copied per request; more are counted */
#define NPLOT        8        /* scaled apps whose history is copied per request */
#define LABEL_MAX    (2 * APP_NAME + 8)  /* app="name", escaped */

enum { ESC_PROM, ESC_JSON, ESC_HTML, NUM_ESC };

/* the series of a history sample, by their /status?history=1 names */
enum { H_INFLIGHT, H_HELD, H_RPS, H_ERRS, H_STARTING, H_READY, H_DRAINING, H_WANT, NUM_H };

static const char *const hseries[NUM_H] = {
	[H_INFLIGHT] = "in_flight", [H_HELD] = "held", [H_RPS] = "rps", [H_ERRS] = "errors_5xx",
	[H_STARTING] = "starting", [H_READY] = "ready", [H_DRAINING] = "draining",
	[H_WANT] = "want",
};

/* one backend as copied under the pool lock */
struct bsnap {
	char name[72], id[65];
	int app;                   /* its app in A.ap[] */
	int dynamic;
	enum backend_state state;
	int inflight, tunnels;
	long served, status[6];
	int64_t created;
};

/* a history as copied for one answer (hist.c) */
struct hcopy {
	int ns, nev;               /* samples and events held */
	struct hist_sample s[HIST_LEN];
	struct hist_event ev[HIST_NEV];
};

/* one app as copied under the apps' lock */
struct asnap {
	char name[APP_NAME];
	char label[LABEL_MAX];     /* app="name" for /metrics */
	char host[APP_HOSTS][APP_HOSTLEN];
	int nhost;
	char path[APP_PATHLEN];
	long requests, bytes, status[6];
	struct pool_stats pl;
	int scaled;                /* it has a fleet: the fields below hold */
	char image[sizeof(((struct scale_conf *)0)->image)];
	long min, max, target;
	struct fleet_stats sc;
	int b0, nb, more;          /* its backends A.b[b0 .. b0 + nb); more did not fit */
	int plot;                  /* its history in A.ph[plot], or -1 */
};

/* everything one answer shows, gathered once per request */
struct view {
	int64_t now;
	int draining;
	long open, idle;
	long wk[4];                /* workers: polling, serving, sleeping, all */
	struct proxy_stats px;
	struct pool_stats pl;      /* summed over the apps */
	long rest[6], rest_bytes;  /* answered by no app listed now: unmatched,
	                              malformed, or of an app a reload removed */
	long docker_errors;
	int napp, more_apps;       /* apps in A.ap[], and those that did not fit */
	int scaled;                /* scaled apps */
	int first;                 /* the first scaled app in A.ap[], or -1 */
	int nplot;                 /* histories in A.ph[] */
	int nb;                    /* backends in b[] */
	int more;                  /* backends that did not fit b[] */
};

struct page {
	const char *path;
	const char *ctype;
	int (*render)(struct buf *o, int nshow);  /* returns the HTTP status */
};

static int render_html(struct buf *o, int nshow);
static int render_status(struct buf *o, int nshow);
static int render_metrics(struct buf *o, int nshow);
static int render_healthz(struct buf *o, int nshow);

static const struct page pages[] = {
	{ "/",        "text/html; charset=utf-8",                  render_html },
	{ "/status",  "application/json",                          render_status },
	{ "/metrics", "text/plain; version=0.0.4; charset=utf-8",  render_metrics },
	{ "/healthz", "text/plain; charset=utf-8",                 render_healthz },
};

enum client_state { AC_FREE, AC_READ, AC_WRITE, AC_LINGER, NUM_AC };

/* one admin connection: reading its head, sending its answer, or waiting
 * for its FIN; each phase ends by its deadline */
struct client {
	enum client_state st;
	int fd;
	int64_t deadline;
	size_t len;                /* AC_READ: bytes in in[] */
	size_t off, end;           /* AC_WRITE: out[off..end) still to send */
	char in[HEAD_MAX];
	char out[OUT_MAX];
};

/* conf is immutable after admin_init(); the rest belongs to the admin
 * thread, so it needs no lock. Only the pages an answer touches become
 * resident: a few apps use little of ap[] and out[]. */
static struct {
	struct admin_conf conf;
	int loopback;              /* the listener is bound to a loopback address */
	struct http_header hdr[NHDR];
	struct view v;
	struct bsnap b[MAX_BACKENDS];
	struct asnap ap[APP_MAX];
	int nap;                   /* apps shown in this answer (render() may cut) */
	struct client cl[NCLIENT];
	int history;               /* the request asked for ?history=1 */
	struct hcopy total;        /* all apps' history, copied by gather() */
	struct hcopy ph[NPLOT];    /* the first scaled apps' own */
} A;

/* output */

/* appends s escaped for a Prometheus label value, a JSON string or HTML
 * text and attributes */
static void
putesc(struct buf *o, const char *s, int how)
{
	char hex[8];

	for (; *s && !o->over; s++) {
		unsigned char c = *s;
		if ((how == ESC_PROM || how == ESC_JSON) && (c == '\\' || c == '"'))
			buf_printf(o, "\\%c", c);
		else if (how == ESC_PROM && c == '\n')
			buf_addn(o, "\\n", 2);
		else if (how == ESC_JSON && c < 0x20)
			buf_addn(o, hex, snprintf(hex, sizeof(hex), "\\u%04x", c));
		else if (how == ESC_HTML && c == '&')
			buf_addn(o, "&amp;", 5);
		else if (how == ESC_HTML && c == '<')
			buf_addn(o, "&lt;", 4);
		else if (how == ESC_HTML && c == '>')
			buf_addn(o, "&gt;", 4);
		else if (how == ESC_HTML && c == '"')
			buf_addn(o, "&quot;", 6);
		else if (how == ESC_HTML && c == '\'')
			buf_addn(o, "&#39;", 5);
		else
			buf_addn(o, (const char *)&c, 1);
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
	d->app = v->napp - 1;
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

/* copies a's history into the next free slot of A.ph[]; returns it, or -1 */
static int
copy_hist(struct view *v, struct hist *h)
{
	struct hcopy *c;

	if (!h || v->nplot == NPLOT)
		return -1;
	c = &A.ph[v->nplot];
	c->ns = hist_samples(h, c->s, HIST_LEN);
	c->nev = hist_events(h, c->ev, HIST_NEV);
	return v->nplot++;
}

/* adds one app's pool counts pl to the sums t */
static void
add_pool(struct pool_stats *t, const struct pool_stats *pl)
{
	t->total += pl->total;
	t->up += pl->up;
	t->starting += pl->starting;
	t->down += pl->down;
	t->draining += pl->draining;
	t->paused += pl->paused;
	t->inflight += pl->inflight;
	t->tunnels += pl->tunnels;
	t->waiting += pl->waiting;
	t->held_total += pl->held_total;
	t->hold_rejected += pl->hold_rejected;
}

/* copies one app, its pool, its scaler and its backends into the view
 * (the apps' lock is held: the stats calls take only their own locks) */
static void
gather_app(struct app *a, void *arg)
{
	struct view *v = arg;
	struct asnap *d;
	struct buf lb;

	if (v->napp == APP_MAX) {
		v->more_apps++;
		return;
	}
	d = &A.ap[v->napp++];
	memcpy(d->name, a->name, sizeof(d->name));
	lb = (struct buf){ d->label, 0, sizeof(d->label), 0 };
	buf_addn(&lb, "app=\"", 5);
	putesc(&lb, d->name, ESC_PROM);
	buf_addn(&lb, "\"", 2);  /* with the NUL */
	d->nhost = a->c.nhost;
	memcpy(d->host, a->c.host, sizeof(d->host[0]) * d->nhost);
	memcpy(d->path, a->c.path, sizeof(d->path));
	d->requests = atomic_load(&a->requests);
	d->bytes = atomic_load(&a->bytes);
	for (int i = 0; i < 6; i++)
		d->status[i] = atomic_load(&a->status[i]);
	pool_get_stats(a->pool, &d->pl);
	add_pool(&v->pl, &d->pl);
	d->scaled = a->fleet != NULL;
	d->plot = -1;
	if (d->scaled) {
		memcpy(d->image, a->c.sc.image, sizeof(d->image));
		d->min = a->c.sc.min;
		d->max = a->c.sc.max;
		d->target = a->c.sc.target;
		fleet_get_stats(a->fleet, &d->sc);
		d->plot = copy_hist(v, a->hist);
		if (!v->scaled++)
			v->first = v->napp - 1;
	}
	d->b0 = v->nb;
	d->more = v->more;
	pool_foreach(a->pool, copy_backend, v);
	d->nb = v->nb - d->b0;
	d->more = v->more - d->more;
}

/* what the proxy counted but no listed app did */
static void
gather_rest(struct view *v)
{
	long bytes = v->px.bytes_out;

	for (int k = 0; k < 6; k++) {
		long sum = 0;
		for (int i = 0; i < v->napp; i++)
			sum += A.ap[i].status[k];
		v->rest[k] = MAX(v->px.status[k] - sum, 0);
	}
	for (int i = 0; i < v->napp; i++)
		bytes -= A.ap[i].bytes;
	v->rest_bytes = MAX(bytes, 0);
}

static void
gather(struct view *v)
{
	struct fleet_stats fs;

	memset(v, 0, sizeof(*v));
	v->first = -1;
	v->now = now_ms();
	v->draining = A.conf.draining ? A.conf.draining() : 0;
	if (A.conf.conns)
		A.conf.conns(&v->open, &v->idle);
	if (A.conf.workers)
		A.conf.workers(&v->wk[0], &v->wk[1], &v->wk[2], &v->wk[3]);
	if (A.conf.each_app)
		A.conf.each_app(gather_app, v);
	/* after the apps: the proxy counts a request before its app does */
	proxy_get_stats(&v->px);
	gather_rest(v);
	fleet_get_stats(NULL, &fs);
	v->docker_errors = fs.docker_errors;
	A.total.ns = A.conf.hist ? hist_samples(A.conf.hist, A.total.s, HIST_LEN) : 0;
	A.total.nev = A.conf.hist ? hist_events(A.conf.hist, A.total.ev, HIST_NEV) : 0;
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
family(struct buf *o, const char *name, const char *type, const char *help)
{
	buf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
histogram(struct buf *o, const char *name, const char *help, const double *le,
          const long *cum, int n, double sum)
{
	family(o, name, "histogram", help);
	for (int i = 0; i < n - 1; i++)
		buf_printf(o, "%s_bucket{le=\"%g\"} %ld\n", name, le[i], cum[i]);
	buf_printf(o, "%s_bucket{le=\"+Inf\"} %ld\n", name, cum[n - 1]);
	buf_printf(o, "%s_sum %.6f\n%s_count %ld\n", name, sum, name, cum[n - 1]);
}

/* one labelled series of a histogram family: labels "k=\"v\"" */
static void
hist_series(struct buf *o, const char *name, const char *labels, const double *le,
            const long *cum, int n, double sum)
{
	for (int i = 0; i < n - 1; i++)
		buf_printf(o, "%s_bucket{%s,le=\"%g\"} %ld\n", name, labels, le[i], cum[i]);
	buf_printf(o, "%s_bucket{%s,le=\"+Inf\"} %ld\n", name, labels, cum[n - 1]);
	buf_printf(o, "%s_sum{%s} %.6f\n%s_count{%s} %ld\n", name, labels, sum, name, labels,
	     cum[n - 1]);
}

/* the values one per app (and one series per app) of /metrics */
enum { M_INFLIGHT, M_HELD, M_HELD_TOTAL, M_REJECTED, M_BYTES, M_TARGET, M_FAILING, NUM_M };

static const struct { const char *name, *type, *help; int scaled; } mfam[NUM_M] = {
	[M_INFLIGHT]   = { "prescal_requests_in_flight", "gauge", "Requests at a backend now.", 0 },
	[M_HELD]       = { "prescal_held_requests", "gauge",
	                   "Requests waiting for a ready backend now.", 0 },
	[M_HELD_TOTAL] = { "prescal_held_requests_total", "counter",
	                   "Requests that waited for a ready backend.", 0 },
	[M_REJECTED]   = { "prescal_hold_rejected_total", "counter",
	                   "Requests refused because too many were waiting.", 0 },
	[M_BYTES]      = { "prescal_bytes_sent_total", "counter",
	                   "Response bytes written to clients.", 0 },
	[M_TARGET]     = { "prescal_scale_target", "gauge", "Instances the scaler wants now.", 1 },
	[M_FAILING]    = { "prescal_app_failing", "gauge",
	                   "1 while the last start failed and no instance has been ready since.", 1 },
};

/* value k of app a */
static long
mval(const struct asnap *a, int k)
{
	switch (k) {
	case M_INFLIGHT:   return a->pl.inflight;
	case M_HELD:       return a->pl.waiting;
	case M_HELD_TOTAL: return a->pl.held_total;
	case M_REJECTED:   return a->pl.hold_rejected;
	case M_BYTES:      return a->bytes;
	case M_TARGET:     return a->sc.want;
	case M_FAILING:    return a->sc.failing;
	default:           return 0;
	}
}

/* family k with one sample per app shown (per scaled app, if it says so) */
static void
metrics_app_family(struct buf *o, int k)
{
	family(o, mfam[k].name, mfam[k].type, mfam[k].help);
	for (int i = 0; i < A.nap; i++)
		if (A.ap[i].scaled || !mfam[k].scaled)
			buf_printf(o, "%s{%s} %ld\n", mfam[k].name, A.ap[i].label, mval(&A.ap[i], k));
}

/* per app, and app="" for what no app listed now answered, so that the
 * sum over apps is the process's */
static void
metrics_requests(struct buf *o, const struct view *v)
{
	family(o, "prescal_requests_total", "counter", "Requests answered, by app and status class.");
	for (int i = 0; i < A.nap; i++)
		for (int k = 1; k <= 5; k++)
			buf_printf(o, "prescal_requests_total{%s,code=\"%dxx\"} %ld\n", A.ap[i].label, k,
			     A.ap[i].status[k]);
	for (int k = 1; k <= 5; k++)
		buf_printf(o, "prescal_requests_total{app=\"\",code=\"%dxx\"} %ld\n", k, v->rest[k]);
	for (int k = M_INFLIGHT; k <= M_REJECTED; k++)
		metrics_app_family(o, k);
	histogram(o, "prescal_request_duration_seconds", "Time from request head to last byte sent.",
	          proxy_buckets, v->px.hist, PROXY_NBUCKETS, v->px.sum);
	metrics_app_family(o, M_BYTES);
	buf_printf(o, "prescal_bytes_sent_total{app=\"\"} %ld\n", v->rest_bytes);
	family(o, "prescal_connections_open", "gauge", "Client connections open now.");
	buf_printf(o, "prescal_connections_open %ld\n", v->open);
	family(o, "prescal_connections_idle", "gauge", "Client connections idle in keep-alive now.");
	buf_printf(o, "prescal_connections_idle %ld\n", v->idle);
	family(o, "prescal_workers", "gauge", "Worker threads now: polling epoll and serving "
	       "(together at most 8 per CPU awake), serving a slow exchange, sleeping.");
	buf_printf(o, "prescal_workers{state=\"polling\"} %ld\n", v->wk[0]);
	buf_printf(o, "prescal_workers{state=\"serving\"} %ld\n", v->wk[1]);
	buf_printf(o, "prescal_workers{state=\"slow\"} %ld\n",
	           v->wk[3] - v->wk[0] - v->wk[1] - v->wk[2]);
	buf_printf(o, "prescal_workers{state=\"sleeping\"} %ld\n", v->wk[2]);
}

/* one sample of a per-backend family; extra holds further labels */
static void
bsample(struct buf *o, const char *name, const struct bsnap *b, const char *extra, long val)
{
	buf_printf(o, "%s{%s,backend=\"", name, A.ap[b->app].label);
	putesc(o, b->name, ESC_PROM);
	buf_printf(o, "\"%s} %ld\n", extra, val);
}

/* whether backend i is shown when nshow are: apps cut off take theirs */
static int
shown(int i, int nshow)
{
	return i < nshow && A.b[i].app < A.nap;
}

static void
metrics_backends(struct buf *o, int nshow)
{
	char code[32];
	int i, k;

	family(o, "prescal_backend_requests_total", "counter", "Requests answered by each backend.");
	for (i = 0; shown(i, nshow); i++)
		bsample(o, "prescal_backend_requests_total", &A.b[i], "", A.b[i].served);
	family(o, "prescal_backend_responses_total", "counter",
	       "Responses of each backend, by status class.");
	for (i = 0; shown(i, nshow); i++) {
		for (k = 1; k <= 5; k++) {
			snprintf(code, sizeof(code), ",code=\"%dxx\"", k);
			bsample(o, "prescal_backend_responses_total", &A.b[i], code, A.b[i].status[k]);
		}
	}
	family(o, "prescal_backend_up", "gauge", "1 if the backend is selectable, else 0.");
	for (i = 0; shown(i, nshow); i++)
		bsample(o, "prescal_backend_up", &A.b[i], "", A.b[i].state == B_UP);
}

/* a family of the scaled apps' counters: value j, read by val(), has the
 * labels lab[j], or key="lab[j]" when key is given */
static void
metrics_scaled(struct buf *o, const char *name, const char *type, const char *help,
               const char *key, const char *const *lab, int n,
               long (*val)(const struct fleet_stats *, int))
{
	family(o, name, type, help);
	for (int i = 0; i < A.nap; i++) {
		for (int j = 0; j < n && A.ap[i].scaled; j++) {
			buf_printf(o, "%s{%s,", name, A.ap[i].label);
			if (key)
				buf_printf(o, "%s=\"%s\"", key, lab[j]);
			else
				buf_add(o, lab[j]);
			buf_printf(o, "} %ld\n", val(&A.ap[i].sc, j));
		}
	}
}

static const char *const inst_lab[] = { "state=\"ready\"", "state=\"starting\"",
                                        "state=\"draining\"", "state=\"paused\"" };
static const char *const event_lab[] = { "direction=\"up\",reason=\"load\"",
                                         "direction=\"down\",reason=\"load\"",
                                         "direction=\"down\",reason=\"idle\"" };
static const char *const repl_lab[] = { "reason=\"died\"", "reason=\"unhealthy\"",
                                        "reason=\"not_ready\"" };
static const char *const pause_lab[] = { "action=\"pause\"", "action=\"wake\"" };

static long
inst_val(const struct fleet_stats *s, int j)
{
	const int v[] = { s->ready, s->starting, s->draining, s->paused };
	return v[j];
}

static long
event_val(const struct fleet_stats *s, int j)
{
	const long v[] = { s->up, s->down_load, s->down_idle };
	return v[j];
}

static long
repl_val(const struct fleet_stats *s, int j)
{
	const long v[] = { s->died, s->unhealthy, s->not_ready };
	return v[j];
}

static long
fail_val(const struct fleet_stats *s, int j)
{
	return s->fail[SF_NONE + 1 + j];
}

static long
pause_val(const struct fleet_stats *s, int j)
{
	return j ? s->wakes : s->pauses;
}

/* the cold-start and wake histograms, one series per scaled app */
static void
metrics_wake(struct buf *o)
{
	char lab[LABEL_MAX + 32];

	family(o, "prescal_cold_start_seconds", "histogram", "Time from container create to ready.");
	for (int i = 0; i < A.nap; i++)
		if (A.ap[i].scaled)
			hist_series(o, "prescal_cold_start_seconds", A.ap[i].label, fleet_buckets,
			            A.ap[i].sc.cold_hist, FLEET_NBUCKETS, A.ap[i].sc.cold_sum);
	family(o, "prescal_wake_seconds", "histogram", "Time until an instance is ready, "
	       "from a create (cold) or an unpause (paused).");
	for (int i = 0; i < A.nap; i++) {
		const struct asnap *a = &A.ap[i];
		if (!a->scaled)
			continue;
		snprintf(lab, sizeof(lab), "%s,from=\"cold\"", a->label);
		hist_series(o, "prescal_wake_seconds", lab, fleet_buckets, a->sc.cold_hist,
		            FLEET_NBUCKETS, a->sc.cold_sum);
		snprintf(lab, sizeof(lab), "%s,from=\"paused\"", a->label);
		hist_series(o, "prescal_wake_seconds", lab, fleet_buckets, a->sc.wake_hist,
		            FLEET_NBUCKETS, a->sc.wake_sum);
	}
}

/* the families of the scaled apps, if any is shown (a family with no
 * sample is left out, as client libraries do); Docker's errors always */
static void
metrics_scaler(struct buf *o, const struct view *v)
{
	int any = 0;

	for (int i = 0; i < A.nap; i++)
		any |= A.ap[i].scaled;
	family(o, "prescal_docker_errors_total", "counter", "Failed Docker Engine API calls.");
	buf_printf(o, "prescal_docker_errors_total %ld\n", v->docker_errors);
	if (!any)
		return;
	metrics_scaled(o, "prescal_instances", "gauge", "Instances of each scaled app, by state.",
	               NULL, inst_lab, LEN(inst_lab), inst_val);
	metrics_app_family(o, M_TARGET);
	metrics_scaled(o, "prescal_scale_events_total", "counter",
	               "Scaling decisions, by direction and reason.", NULL, event_lab, LEN(event_lab),
	               event_val);
	metrics_scaled(o, "prescal_instance_replacements_total", "counter",
	               "Instances replaced, by reason.", NULL, repl_lab, LEN(repl_lab), repl_val);
	metrics_scaled(o, "prescal_instance_start_failures_total", "counter",
	               "Instances that failed to start or become ready, by reason.",
	               "reason", scale_fail_name + SF_NONE + 1, NUM_SF - SF_NONE - 1, fail_val);
	metrics_app_family(o, M_FAILING);
	metrics_wake(o);
	metrics_scaled(o, "prescal_pauses_total", "counter",
	               "Instances paused, and woken from paused.", NULL, pause_lab, LEN(pause_lab),
	               pause_val);
}

static int
render_metrics(struct buf *o, int nshow)
{
	metrics_requests(o, &A.v);
	metrics_backends(o, nshow);
	metrics_scaler(o, &A.v);
	if (nshow < A.v.nb + A.v.more)
		buf_printf(o, "# backends truncated: %d of %d shown\n", nshow, A.v.nb + A.v.more);
	if (A.nap < A.v.napp + A.v.more_apps)
		buf_printf(o, "# apps truncated: %d of %d shown\n", A.nap, A.v.napp + A.v.more_apps);
	return 200;
}

/* GET /status: JSON */

static void
jstr(struct buf *o, const char *s)
{
	buf_addn(o, "\"", 1);
	putesc(o, s, ESC_JSON);
	buf_addn(o, "\"", 1);
}

static void
json_backend(struct buf *o, const struct bsnap *b)
{
	buf_addn(o, "{\"name\":", 8);
	jstr(o, b->name);
	buf_addn(o, ",\"container\":", 13);
	if (b->id[0])
		jstr(o, b->id);
	else
		buf_addn(o, "null", 4);
	buf_printf(o, ",\"dynamic\":%s,\"state\":", b->dynamic ? "true" : "false");
	jstr(o, state_name(b->state));
	buf_printf(o, ",\"in_flight\":%d,\"tunnels\":%d,\"served\":%ld,\"age_s\":%ld}",
	     b->inflight, b->tunnels, b->served, age_s(b));
}

/* series k of history sample s */
static long
hval(const struct hist_sample *s, int k)
{
	switch (k) {
	case H_INFLIGHT: return s->inflight;
	case H_HELD:     return s->held;
	case H_RPS:      return (long)s->rps;
	case H_ERRS:     return (long)s->errs;
	case H_STARTING: return s->starting;
	case H_READY:    return s->ready;
	case H_DRAINING: return s->draining;
	case H_WANT:     return s->want;
	default:         return 0;
	}
}

/* ,"history":{...}: h's samples as one array per series, then its
 * events; app is the app's name, NULL for the total */
static void
json_history(struct buf *o, const struct hcopy *h, const char *app)
{
	buf_printf(o, ",\"history\":{\"app\":");
	if (app)
		jstr(o, app);
	else
		buf_addn(o, "null", 4);
	buf_printf(o, ",\"interval_s\":1,\"capacity\":%d,\"samples\":%d,\"t\":[", HIST_LEN, h->ns);
	for (int i = 0; i < h->ns; i++)
		buf_printf(o, i ? ",%lu" : "%lu", (unsigned long)h->s[i].t);
	for (int k = 0; k < NUM_H; k++) {
		buf_printf(o, "],\"%s\":[", hseries[k]);
		for (int i = 0; i < h->ns; i++)
			buf_printf(o, i ? ",%ld" : "%ld", hval(&h->s[i], k));
	}
	buf_printf(o, "],\"events\":[");
	for (int i = 0; i < h->nev; i++) {
		const struct hist_event *e = &h->ev[i];
		buf_printf(o, "%s{\"t\":%lld.%03d,\"from\":%d,\"to\":%d,\"reason\":", i ? "," : "",
		     (long long)(e->t / 1000), (int)(e->t % 1000), e->from, e->to);
		jstr(o, e->why);
		buf_addn(o, "}", 1);
	}
	buf_addn(o, "]}", 2);
}

/* a scaled app's settings and scaler state */
static void
json_scaler(struct buf *o, const struct asnap *a)
{
	const struct fleet_stats *sc = &a->sc;

	buf_addn(o, "{\"image\":", 9);
	jstr(o, a->image);
	buf_addn(o, ",\"set\":", 7);
	jstr(o, a->name);
	buf_printf(o, ",\"min\":%ld,\"max\":%ld,\"target\":%ld,\"want\":%d,\"ready\":%d,\"starting\":%d,"
	     "\"draining\":%d,\"paused\":%d,\"failing\":%s,\"state\":\"%s\",\"last_error\":", a->min,
	     a->max, a->target, sc->want, sc->ready, sc->starting, sc->draining, sc->paused,
	     sc->failing ? "true" : "false", sc->failing ? "failing" : "ok");
	if (sc->last_error[0])
		jstr(o, sc->last_error);
	else
		buf_addn(o, "null", 4);
	if (sc->failing)
		buf_printf(o, ",\"next_try_ms\":%ld}", sc->next_try_ms);
	else
		buf_addn(o, ",\"next_try_ms\":null}", 20);
}

/* one app: its match, its counters, its scaler (or null), its backends */
static void
json_app(struct buf *o, const struct asnap *a, int nshow)
{
	buf_addn(o, "{\"name\":", 8);
	jstr(o, a->name);
	buf_addn(o, ",\"hosts\":[", 10);
	for (int i = 0; i < a->nhost; i++) {
		if (i)
			buf_addn(o, ",", 1);
		jstr(o, a->host[i]);
	}
	buf_addn(o, "],\"path\":", 9);
	jstr(o, a->path);
	buf_printf(o, ",\"requests\":{\"total\":%ld", a->requests);
	for (int k = 1; k <= 5; k++)
		buf_printf(o, ",\"%dxx\":%ld", k, a->status[k]);
	buf_printf(o, "},\"bytes_sent\":%ld,\"in_flight\":%d,\"held\":%d,\"held_total\":%ld,"
	     "\"hold_rejected\":%ld,\"scaler\":", a->bytes, a->pl.inflight, a->pl.waiting,
	     a->pl.held_total, a->pl.hold_rejected);
	if (a->scaled)
		json_scaler(o, a);
	else
		buf_addn(o, "null", 4);
	buf_addn(o, ",\"backends\":[", 13);
	for (int i = a->b0; i < a->b0 + a->nb && shown(i, nshow); i++) {
		if (i > a->b0)
			buf_addn(o, ",", 1);
		json_backend(o, &A.b[i]);
	}
	buf_addn(o, "]", 1);
	if (A.history && a->plot >= 0)
		json_history(o, &A.ph[a->plot], a->name);
	buf_addn(o, "}", 1);
}

static int
render_status(struct buf *o, int nshow)
{
	const struct view *v = &A.v;
	int nb = 0;

	for (int i = 0; shown(i, nshow); i++)
		nb++;
	buf_printf(o, "{\"draining\":%s,\"connections\":{\"open\":%ld,\"idle\":%ld},\"requests\":%ld,"
	     "\"in_flight\":%d,\"held\":%d,\"backends_omitted\":%d,\"apps_omitted\":%d,\"scaler\":",
	     v->draining ? "true" : "false", v->open, v->idle, v->px.requests, v->pl.inflight,
	     v->pl.waiting, v->nb + v->more - nb, v->napp + v->more_apps - A.nap);
	/* the first scaled app's, as before there were apps */
	if (v->first >= 0 && v->first < A.nap)
		json_scaler(o, &A.ap[v->first]);
	else
		buf_addn(o, "null", 4);
	buf_addn(o, ",\"apps\":[", 9);
	for (int i = 0; i < A.nap; i++) {
		if (i)
			buf_addn(o, ",", 1);
		json_app(o, &A.ap[i], nshow);
	}
	buf_addn(o, "]", 1);
	if (A.history)
		json_history(o, &A.total, NULL);
	buf_addn(o, "}\n", 2);
	return 200;
}

/* GET /: HTML */

static const char html_head[] =
	"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n"
	"<noscript><meta http-equiv=\"refresh\" content=\"5\"></noscript>\n"
	"<title>prescal</title>\n<style>\n"
	":root{color-scheme:light dark;--fg:#222;--bg:#fff;--mut:#666;--grid:#d8d8d8;"
	"--pbg:#fafafa;--if:#1f6feb;--held:#c45500;--ready:#1a7f37;--start:#e0a800;"
	"--drain:#b9c9dc;--want:#222;--rps:#555;--err:#c62828}\n"
	"@media(prefers-color-scheme:dark){:root{--fg:#ddd;--bg:#111;--mut:#999;--grid:#3a3a3a;"
	"--pbg:#181818;--if:#58a6ff;--held:#f0883e;--ready:#3fb950;--start:#d29922;"
	"--drain:#3d5066;--want:#eee;--rps:#aaa;--err:#ff7b72}}\n"
	"body{font:14px/1.4 system-ui,sans-serif;margin:1em auto;padding:0 1em;max-width:72em;"
	"color:var(--fg);background:var(--bg)}\n"
	"h1{font-size:1.3em}h2{font-size:1.1em;margin:1.2em 0 .3em}h3{font-size:1em}\n"
	".tw{overflow-x:auto}table{border-collapse:collapse}\n"
	"th,td{padding:.2em .8em;text-align:left;border-bottom:1px solid var(--grid)}\n"
	"td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
	".st{padding:0 .5em;border-radius:3px;color:#000}\n"
	".up{background:#2a7;color:#fff}.starting{background:#fc3}\n"
	".down{background:#c33;color:#fff}.draining{background:#9bd}.paused{background:#bbe}.removed{background:#ccc}\n"
	".drain{color:var(--err);font-weight:bold}\n"
	".fail{color:var(--err)}\n"
	".plot{display:block;overflow:visible}.plot text{font-size:12px;fill:var(--fg)}\n"
	".pt{paint-order:stroke;stroke:var(--pbg);stroke-width:4px;stroke-linejoin:round}\n"
	".bg{fill:var(--pbg);stroke:var(--grid)}.grid{stroke:var(--grid);stroke-dasharray:2 3}\n"
	"path{vector-effect:non-scaling-stroke;fill:none;stroke-width:2}\n"
	".a-if{fill:var(--if);fill-opacity:.18;stroke:none}.l-if{stroke:var(--if)}\n"
	".l-held{stroke:var(--held);stroke-dasharray:6 3}\n"
	".a-ready{fill:var(--ready)}.a-start{fill:var(--start)}.a-drain{fill:var(--drain)}\n"
	".l-want{stroke:var(--want);stroke-dasharray:5 3;stroke-width:1.5}\n"
	".l-rps{stroke:var(--rps)}.l-5xx{stroke:var(--err);stroke-dasharray:2 3;stroke-width:3}\n"
	".ev line{stroke:var(--mut);stroke-dasharray:1 3}.ev text{font-size:13px}\n"
	".key{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.1em 1.2em;margin:.4em 0}\n"
	".key svg{vertical-align:middle;margin-right:.3em}\n"
	".evl{padding-left:1.2em;font-variant-numeric:tabular-nums}\n"
	"section.app{border-top:1px solid var(--grid);margin-top:1.5em}h4{margin:.6em 0 .2em}\n"
	"</style></head><body>\n<main id=\"m\">\n<h1>prescal</h1>\n";

/* the refresh: the page fetched again and its main swapped in, no flicker;
 * body data-refreshed counts the swaps (make plot-check looks) */
static const char html_tail[] =
	"</main>\n<script>\n"
	"setInterval(async()=>{try{const r=await fetch(location.href,{cache:\"no-store\"});"
	"if(!r.ok)return;const d=new DOMParser().parseFromString(await r.text(),\"text/html\");"
	"const m=d.getElementById(\"m\");if(!m)return;document.getElementById(\"m\").replaceWith(m);"
	"document.body.dataset.refreshed=(+document.body.dataset.refreshed||0)+1}"
	"catch(e){}},3000);\n</script>\n</body></html>\n";

static void
html_age(struct buf *o, long s)
{
	if (s < 60)
		buf_printf(o, "%lds", s);
	else if (s < 3600)
		buf_printf(o, "%ldm%lds", s / 60, s % 60);
	else
		buf_printf(o, "%ldh%ldm", s / 3600, s / 60 % 60);
}

static void
html_backend(struct buf *o, const struct bsnap *b)
{
	char id[13];
	const char *st = state_name(b->state);

	snprintf(id, sizeof(id), "%s", b->id[0] ? b->id : "-");
	buf_addn(o, "<tr><td>", 8);
	putesc(o, b->name, ESC_HTML);
	buf_addn(o, "<td>", 4);
	putesc(o, id, ESC_HTML);
	buf_printf(o, "<td><span class=\"st %s\">%s</span>", st, st);
	buf_printf(o, "<td class=\"n\">%d<td class=\"n\">%d<td class=\"n\">%ld<td class=\"n\">",
	     b->inflight, b->tunnels, b->served);
	html_age(o, age_s(b));
	buf_addn(o, "</tr>\n", 6);
}

/* appends a string literal */
#define PUTL(o, lit) buf_addn((o), (lit), sizeof(lit) - 1)

/* the plot: panels stacked on one time axis. The outer SVG has no viewBox,
 * so text keeps its size on any width: y is in px, x in % of the width.
 * Each panel is a nested SVG whose viewBox is (seconds, 0..100) stretched
 * to the panel; strokes do not scale (vector-effect). */

enum { P_LOAD, P_INST, P_RATE, NUM_P };

#define PLOT_TOP   16     /* px above the first panel: the event markers */
#define PLOT_GAP   6      /* px between panels */
#define PLOT_AXIS  18     /* px below the last panel: the time labels */
#define PLOT_SPAN  60     /* s: the shortest time axis */
#define PLOT_YTOP  20     /* % of a panel above its scale's top: the title */

static const int panel_h[NUM_P] = { [P_LOAD] = 80, [P_INST] = 80, [P_RATE] = 60 };

/* the time axis of one plot, and the history it shows */
struct axis {
	const struct hcopy *h;
	int id;               /* the plot's number on the page */
	long t0, span;        /* unix s at the left edge, seconds shown */
	int y[NUM_P];         /* px: top of each panel, -1 if not drawn */
	int bottom;           /* px: below the last panel */
};

#define BIT(k) (1u << (k))

/* the sum of the series in mask at sample s */
static long
hsum(const struct hist_sample *s, unsigned mask)
{
	long v = 0;

	for (int k = 0; k < NUM_H; k++)
		if (mask & BIT(k))
			v += hval(s, k);
	return v;
}

/* the largest sum of the series in mask over the history h */
static long
hmax(const struct hcopy *h, unsigned mask)
{
	long m = 0;

	for (int i = 0; i < h->ns; i++)
		m = MAX(m, hsum(&h->s[i], mask));
	return m;
}

/* m rounded up to 1, 2 or 5 x 10^n */
static long
round_up(long m)
{
	for (long step = 1;; step *= 10) {
		if (m <= step)
			return step;
		if (m <= 2 * step)
			return 2 * step;
		if (m <= 5 * step)
			return 5 * step;
	}
}

/* one series (the sum of mask) as a step line, or an area down to 0 */
static void
plot_steps(struct buf *o, const struct axis *ax, const char *cls, unsigned mask, long ymax,
           int area)
{
	long x, y, prev = -1;

	buf_printf(o, "<path class=\"%s\" d=\"", cls);
	for (int i = 0; i < ax->h->ns && !o->over; i++) {
		x = (long)ax->h->s[i].t - ax->t0;
		y = 100 - hsum(&ax->h->s[i], mask) * (100 - PLOT_YTOP) / ymax;
		if (i == 0)
			buf_printf(o, area ? "M%ld 100V%ld" : "M%ld %ld", x, y);
		else if (y != prev)
			buf_printf(o, "H%ldV%ld", x, y);
		prev = y;
	}
	buf_printf(o, "H%ld%s\"/>\n", ax->span, area ? "V100Z" : "");
}

/* a panel: its frame, lines at the top of its scale and half-way, the
 * nested SVG with the series drawn by fn, and its title with the scale */
static void
plot_panel(struct buf *o, const struct axis *ax, int p, const char *title, long ymax,
           void (*fn)(struct buf *, const struct axis *, long))
{
	int y = ax->y[p], h = panel_h[p], top = y + h * PLOT_YTOP / 100, mid = (top + y + h) / 2;

	buf_printf(o, "<rect class=\"bg\" x=\"0\" y=\"%d\" width=\"100%%\" height=\"%d\"/>"
	     "<line class=\"grid\" x1=\"0\" x2=\"100%%\" y1=\"%d\" y2=\"%d\"/>"
	     "<line class=\"grid\" x1=\"0\" x2=\"100%%\" y1=\"%d\" y2=\"%d\"/>\n", y, h, top, top,
	     mid, mid);
	buf_printf(o, "<svg y=\"%d\" width=\"100%%\" height=\"%d\" viewBox=\"0 0 %ld 100\" "
	     "preserveAspectRatio=\"none\">\n", y, h, ax->span);
	fn(o, ax, ymax);
	buf_printf(o, "</svg><text class=\"pt\" x=\"4\" y=\"%d\">%s, 0&ndash;%ld</text>\n", y + 13,
	     title, ymax);
}

static void
draw_load(struct buf *o, const struct axis *ax, long ymax)
{
	plot_steps(o, ax, "a-if", BIT(H_INFLIGHT), ymax, 1);
	plot_steps(o, ax, "l-if", BIT(H_INFLIGHT), ymax, 0);
	plot_steps(o, ax, "l-held", BIT(H_HELD), ymax, 0);
}

/* instances stacked: ready, then starting, then draining on top */
static void
draw_inst(struct buf *o, const struct axis *ax, long ymax)
{
	plot_steps(o, ax, "a-drain", BIT(H_READY) | BIT(H_STARTING) | BIT(H_DRAINING), ymax, 1);
	plot_steps(o, ax, "a-start", BIT(H_READY) | BIT(H_STARTING), ymax, 1);
	plot_steps(o, ax, "a-ready", BIT(H_READY), ymax, 1);
	plot_steps(o, ax, "l-want", BIT(H_WANT), ymax, 0);
}

static void
draw_rate(struct buf *o, const struct axis *ax, long ymax)
{
	plot_steps(o, ax, "l-rps", BIT(H_RPS), ymax, 0);
	plot_steps(o, ax, "l-5xx", BIT(H_ERRS), ymax, 0);
}

/* x of unix time t (ms) in % of the width, within 0..100 */
static double
plot_x(const struct axis *ax, int64_t t)
{
	double p = ((double)t / 1000.0 - (double)ax->t0) * 100.0 / (double)ax->span;

	return p < 0 ? 0 : p > 100 ? 100 : p;
}

/* time labels and lines, "-5m" ... "now", about six of them */
static void
plot_time(struct buf *o, const struct axis *ax)
{
	static const long steps[] = { 10, 15, 30, 60, 120, 300, 600 };
	long step = steps[LEN(steps) - 1], end = ax->t0 + ax->span, s;
	double x;

	for (size_t i = 0; i < LEN(steps); i++) {
		if (ax->span / steps[i] <= 6) {
			step = steps[i];
			break;
		}
	}
	buf_printf(o, "<text x=\"100%%\" y=\"%d\" text-anchor=\"end\">now</text>\n", ax->bottom + 14);
	for (s = step; s < ax->span; s += step) {
		x = plot_x(ax, (end - s) * 1000);
		if (x < 4)
			break;
		buf_printf(o, "<line class=\"grid\" x1=\"%.2f%%\" x2=\"%.2f%%\" y1=\"%d\" y2=\"%d\"/>"
		     "<text x=\"%.2f%%\" y=\"%d\" text-anchor=\"middle\">&minus;", x, x, PLOT_TOP,
		     ax->bottom, x, ax->bottom + 14);
		if (s < 60)
			buf_printf(o, "%lds", s);
		else if (s % 60)
			buf_printf(o, "%ldm%lds", s / 60, s % 60);
		else
			buf_printf(o, "%ldm", s / 60);
		PUTL(o, "</text>\n");
	}
}

/* "HH:MM:SS" UTC of unix ms t */
static void
clock_utc(struct buf *o, int64_t t)
{
	time_t sec = (time_t)(t / 1000);
	struct tm tm;

	if (gmtime_r(&sec, &tm))
		buf_printf(o, "%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* one decision in words: "12:03:04 UTC scale up 0 -> 1: reason" */
static void
event_text(struct buf *o, const struct hist_event *e)
{
	clock_utc(o, e->t);
	buf_printf(o, " UTC scale %s %d &rarr; %d: ", e->to > e->from ? "up" : "down", e->from, e->to);
	putesc(o, e->why, ESC_HTML);
}

/* scale decisions: a line through the panels, a shape above (up, down or
 * both, so no colour is needed) and the reasons on hover. Decisions less
 * than 1% of the width apart share a marker. */
static void
plot_events(struct buf *o, const struct axis *ax)
{
	static const char *const glyph[4] = { "", "\xe2\x96\xb2", "\xe2\x96\xbc",
	                                      "\xe2\x97\x86" };  /* up, down, both */
	const struct hist_event *ev = ax->h->ev;
	int i = 0, j, k, dirs, n = ax->h->nev;
	double x;

	while (i < n && ev[i].t / 1000 < ax->t0)
		i++;
	for (; i < n; i = j) {
		x = plot_x(ax, ev[i].t);
		for (j = i + 1; j < n && plot_x(ax, ev[j].t) - x < 1; j++)
			;
		PUTL(o, "<g class=\"ev\"><title>");
		for (k = i, dirs = 0; k < j; k++) {
			if (k > i)
				PUTL(o, "\n");
			event_text(o, &ev[k]);
			dirs |= ev[k].to > ev[k].from ? 1 : 2;
		}
		buf_printf(o, "</title><line x1=\"%.2f%%\" x2=\"%.2f%%\" y1=\"%d\" y2=\"%d\"/>"
		     "<text x=\"%.2f%%\" y=\"12\" text-anchor=\"middle\">%s</text></g>\n", x, x,
		     PLOT_TOP - 2, ax->bottom, x, glyph[dirs]);
	}
}

/* the plot's text alternative */
static void
plot_summary(struct buf *o, const struct axis *ax)
{
	const struct hcopy *h = ax->h;

	PUTL(o, "the last ");
	html_age(o, ax->span);
	buf_printf(o, ": in flight up to %ld, held up to %ld; ", hmax(h, BIT(H_INFLIGHT)),
	     hmax(h, BIT(H_HELD)));
	if (ax->y[P_INST] >= 0)
		buf_printf(o, "ready instances first %u, at most %ld, now %u; %d scale decisions; ",
		     h->s[0].ready, hmax(h, BIT(H_READY)), h->s[h->ns - 1].ready, h->nev);
	buf_printf(o, "up to %ld requests/s and %ld 5xx/s", hmax(h, BIT(H_RPS)),
	     hmax(h, BIT(H_ERRS)));
}

static void
html_plot(struct buf *o, const struct axis *ax)
{
	const struct hcopy *h = ax->h;

	buf_printf(o, "<svg class=\"plot\" width=\"100%%\" height=\"%d\" role=\"img\" "
	     "aria-labelledby=\"sum%d\"><title id=\"sum%d\">", ax->bottom + PLOT_AXIS, ax->id,
	     ax->id);
	plot_summary(o, ax);
	PUTL(o, "</title>\n");
	plot_panel(o, ax, P_LOAD, "requests in flight, held",
	           round_up(MAX(hmax(h, BIT(H_INFLIGHT)), hmax(h, BIT(H_HELD)))), draw_load);
	if (ax->y[P_INST] >= 0)
		plot_panel(o, ax, P_INST, "instances", round_up(MAX(hmax(h, BIT(H_READY) |
		           BIT(H_STARTING) | BIT(H_DRAINING)), hmax(h, BIT(H_WANT)))), draw_inst);
	plot_panel(o, ax, P_RATE, "per second: requests, 5xx",
	           round_up(MAX(hmax(h, BIT(H_RPS)), hmax(h, BIT(H_ERRS)))), draw_rate);
	plot_time(o, ax);
	plot_events(o, ax);
	PUTL(o, "</svg>\n");
}

/* the legend: each series' swatch drawn as in the plot */
static void
html_key(struct buf *o, int inst, int events)
{
	static const struct { const char *cls, *label; int area, inst; } key[] = {
		{ "l-if", "in flight", 0, 0 }, { "l-held", "held for an instance", 0, 0 },
		{ "a-ready", "ready", 1, 1 }, { "a-start", "starting", 1, 1 },
		{ "a-drain", "draining", 1, 1 }, { "l-want", "wanted by the scaler", 0, 1 },
		{ "l-rps", "requests/s", 0, 0 }, { "l-5xx", "5xx/s", 0, 0 },
	};

	PUTL(o, "<ul class=\"key\">");
	for (size_t i = 0; i < LEN(key); i++) {
		if (key[i].inst && !inst)
			continue;
		PUTL(o, "<li><svg width=\"22\" height=\"12\">");
		if (key[i].area)
			buf_printf(o, "<rect class=\"%s\" width=\"22\" height=\"12\"/>", key[i].cls);
		else
			buf_printf(o, "<path class=\"%s\" d=\"M1 6H21\"/>", key[i].cls);
		buf_printf(o, "</svg>%s</li>", key[i].label);
	}
	if (events)
		PUTL(o, "<li>\xe2\x96\xb2 \xe2\x96\xbc \xe2\x97\x86 scale up, down, both "
		     "(hover: why)</li>");
	PUTL(o, "</ul>\n");
}

/* the newest scale decisions of h in words, for phones and screen readers */
static void
html_events(struct buf *o, const struct hcopy *h)
{
	int i, shown = 0;

	PUTL(o, "<h4>Scale decisions</h4>\n");
	if (h->nev == 0)
		PUTL(o, "<p>none yet</p>\n");
	else
		PUTL(o, "<ul class=\"evl\">\n");
	for (i = h->nev - 1; i >= 0 && shown < 8; i--, shown++) {
		PUTL(o, "<li>");
		event_text(o, &h->ev[i]);
		PUTL(o, "</li>\n");
	}
	if (h->nev)
		PUTL(o, "</ul>\n");
	if (shown < h->nev)
		buf_printf(o, "<p>the newest %d of %d; all in /status?history=1</p>\n", shown, h->nev);
}

/* the plot of history h, its legend and, for one app's, its decisions;
 * inst: with the instances panel */
static void
html_history(struct buf *o, const struct hcopy *h, int id, int inst, int events)
{
	struct axis ax = { .h = h, .id = id };
	long end;
	int y = PLOT_TOP;

	if (h->ns == 0) {
		PUTL(o, "<p>no history yet: one sample a second</p>\n");
		return;
	}
	end = (long)h->s[h->ns - 1].t + 1;
	ax.span = MAX(end - (long)h->s[0].t, PLOT_SPAN);
	ax.t0 = end - ax.span;
	for (int p = 0; p < NUM_P; p++) {
		ax.y[p] = p == P_INST && !inst ? -1 : y;
		y += ax.y[p] < 0 ? 0 : panel_h[p] + PLOT_GAP;
	}
	ax.bottom = y - PLOT_GAP;
	html_plot(o, &ax);
	html_key(o, inst, events);
	if (events)
		html_events(o, h);
}

/* requests 12 (2xx 10, 5xx 2): the classes that are not 0 */
static void
html_requests(struct buf *o, long total, const long *status)
{
	const char *sep = " (";

	buf_printf(o, "requests %ld", total);
	for (int k = 1; k <= 5; k++) {
		if (!status[k])
			continue;
		buf_printf(o, "%s%dxx %ld", sep, k, status[k]);
		sep = ", ";
	}
	if (sep[0] == ',')
		PUTL(o, ")");
}

/* a scaled app's settings and state, and why it fails if it does */
static void
html_scaler(struct buf *o, const struct asnap *a)
{
	const struct fleet_stats *sc = &a->sc;

	PUTL(o, "<p>image <b>");
	putesc(o, a->image, ESC_HTML);
	buf_printf(o, "</b>, %ld&ndash;%ld instances, target %ld per instance &middot; want %d, "
	     "ready %d, starting %d, draining %d, paused %d</p>\n", a->min, a->max, a->target,
	     sc->want, sc->ready, sc->starting, sc->draining, sc->paused);
	if (sc->failing) {
		PUTL(o, "<p class=\"fail\"><b>failing</b>: ");
		putesc(o, sc->last_error, ESC_HTML);
		buf_printf(o, " &middot; next try in %ld s</p>\n", (sc->next_try_ms + 999) / 1000);
	}
}

/* one app: its match and counters, its scaler and plot, its backends */
static void
html_app(struct buf *o, const struct asnap *a, int nshow)
{
	int n = 0;

	buf_printf(o, "<section class=\"app\">\n<h2>App <span class=\"an\">");
	putesc(o, a->name, ESC_HTML);
	PUTL(o, "</span></h2>\n<p class=\"match\">");
	for (int i = 0; i < a->nhost; i++) {
		if (i)
			PUTL(o, ", ");
		putesc(o, a->host[i], ESC_HTML);
	}
	if (!a->nhost)
		PUTL(o, "every host");
	if (a->path[0]) {
		PUTL(o, " &middot; path ");
		putesc(o, a->path, ESC_HTML);
	}
	PUTL(o, " &middot; ");
	html_requests(o, a->requests, a->status);
	buf_printf(o, " &middot; in flight %d &middot; held %d</p>\n", a->pl.inflight, a->pl.waiting);
	if (a->scaled)
		html_scaler(o, a);
	if (a->plot >= 0)
		html_history(o, &A.ph[a->plot], a->plot + 1, 1, 1);
	else if (a->scaled)
		buf_printf(o, "<p>(the first %d scaled apps are plotted)</p>\n", NPLOT);
	PUTL(o, "<div class=\"tw\"><table>\n<tr><th>backend<th>container<th>state<th>in flight"
	     "<th>tunnels<th>served<th>age</tr>\n");
	for (int i = a->b0; i < a->b0 + a->nb && shown(i, nshow); i++, n++)
		html_backend(o, &A.b[i]);
	if (!a->nb && !a->more)
		PUTL(o, "<tr><td colspan=\"7\">no instance now</tr>\n");
	PUTL(o, "</table></div>\n");
	if (n < a->nb + a->more)
		buf_printf(o, "<p>%d of %d backends shown</p>\n", n, a->nb + a->more);
	PUTL(o, "</section>\n");
}

static int
render_html(struct buf *o, int nshow)
{
	const struct view *v = &A.v;
	/* one app with a plot of its own: the total would be the same */
	int total = !(v->napp == 1 && A.ap[0].plot >= 0);

	buf_addn(o, html_head, sizeof(html_head) - 1);
	buf_printf(o, "<p>%s &middot; connections %ld open, %ld idle &middot; %d app%s",
	     v->draining ? "<span class=\"drain\">draining</span>" : "accepting",
	     v->open, v->idle, v->napp + v->more_apps, v->napp + v->more_apps == 1 ? "" : "s");
	if (v->scaled)
		buf_printf(o, " (%d scaled)", v->scaled);
	PUTL(o, " &middot; ");
	html_requests(o, v->px.requests, v->px.status);
	buf_printf(o, " &middot; in flight %d &middot; held %d</p>\n", v->pl.inflight, v->pl.waiting);
	if (total) {
		buf_printf(o, "<section>\n<h2>%s</h2>\n", v->napp > 1 ? "All apps" : "Load");
		html_history(o, &A.total, 0, v->scaled > 0, 0);
		PUTL(o, "</section>\n");
	}
	for (int i = 0; i < A.nap; i++)
		html_app(o, &A.ap[i], nshow);
	if (A.nap < v->napp + v->more_apps)
		buf_printf(o, "<p>%d of %d apps shown</p>\n", A.nap, v->napp + v->more_apps);
	buf_addn(o, html_tail, sizeof(html_tail) - 1);
	return 200;
}

/* GET /healthz */

static int
render_healthz(struct buf *o, int nshow)
{
	(void)nshow;
	if (A.v.draining) {
		buf_addn(o, "draining\n", 9);
		return 503;
	}
	buf_addn(o, "ok\n", 3);
	return 200;
}

/* the connection */

/* whether name (a Host or authority, port optional) is a loopback name
 * or address: localhost, *.localhost (RFC 6761), 127.0.0.0/8 or [::1] */
static int
loopback_host(const char *name, size_t n)
{
	char h[64];
	struct in_addr a4;
	struct in6_addr a6;
	const char *e;
	size_t hl;

	if (n && name[0] == '[') {
		if (!(e = memchr(name, ']', n)) || (e + 1 < name + n && e[1] != ':'))
			return 0;
		hl = e - name - 1;
		if (hl >= sizeof(h))
			return 0;
		memcpy(h, name + 1, hl);
		h[hl] = '\0';
		return inet_pton(AF_INET6, h, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
	}
	hl = (e = memchr(name, ':', n)) ? (size_t)(e - name) : n;
	if (hl == 0 || hl >= sizeof(h))
		return 0;
	memcpy(h, name, hl);
	h[hl] = '\0';
	if (h[hl - 1] == '.')
		h[--hl] = '\0';
	if (inet_pton(AF_INET, h, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return !strcasecmp(h, "localhost") ||
	       (hl > 10 && !strcasecmp(h + hl - 10, ".localhost"));
}

/* whether the listening socket lfd is bound to a loopback address */
static int
bound_loopback(int lfd)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sl = sizeof(ss);

	if (getsockname(lfd, (struct sockaddr *)&ss, &sl) < 0)
		return 1;  /* unknown: keep the check */
	if (ss.ss_family == AF_INET)
		return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss.ss_family == AF_INET6) {
		const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return 0;
}

/* A browser on the admin host may be sent to a name that resolves to
 * 127.0.0.1 (DNS rebinding): it then sends that name as Host. A loopback
 * listener answers only loopback names; no Host at all is no browser. */
static int
host_allowed(const struct http_request *req)
{
	if (!A.loopback)
		return 1;
	if (req->authority)
		return loopback_host(req->authority, req->alen);
	return !req->host || loopback_host(req->host, req->hostlen);
}

/* whether the query q[0..n) holds the parameter p ("name=value") */
static int
has_param(const char *q, size_t n, const char *p)
{
	const char *end = q + n, *amp;
	size_t pl = strlen(p);

	for (; q < end; q = amp + 1) {
		if (!(amp = memchr(q, '&', end - q)))
			amp = end;
		if ((size_t)(amp - q) == pl && !memcmp(q, p, pl))
			return 1;
	}
	return 0;
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
	A.history = q && has_param(q + 1, req->pathlen - plen - 1, "history=1");
	for (size_t i = 0; i < LEN(pages); i++) {
		if (strlen(pages[i].path) == plen && !memcmp(pages[i].path, req->path, plen)) {
			*pg = &pages[i];
			return 0;
		}
	}
	return 404;
}

/* Renders pg into o, listing a quarter fewer backends each time the text
 * does not fit, then a quarter fewer apps. Returns the HTTP status. */
static int
render(const struct page *pg, struct buf *o)
{
	int status;

	gather(&A.v);
	A.nap = A.v.napp;
	for (int n = A.v.nb;;) {
		o->len = 0;
		o->over = 0;
		status = pg->render(o, n);
		if (!o->over)
			return status;
		if (n > 0)
			n = n * 3 / 4;
		else if (A.nap > 0)
			A.nap = A.nap * 3 / 4;
		else
			return 500;
	}
}

/* Writes status, the fields and (unless head) the body, which starts at
 * c->out + HEADROOM, into c->out for flush(). */
static void
compose(struct client *c, int status, const char *ctype, const struct buf *body, int head)
{
	char h[HEADROOM];
	int n;

	n = snprintf(h, sizeof(h), "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	             "Cache-Control: no-store\r\n%sConnection: close\r\n\r\n", status,
	             http_reason(status), ctype, body->len,
	             status == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (n < 0 || n >= (int)sizeof(h))
		n = 0;
	memcpy(c->out + HEADROOM - n, h, n);
	c->off = HEADROOM - n;
	c->end = HEADROOM + (head ? 0 : body->len);
}

static void
drop(struct client *c)
{
	close(c->fd);
	c->st = AC_FREE;
}

/* Sends what the socket takes of the answer; all sent: half-close and
 * wait for the client's FIN, since closing with unread bytes would reset
 * the connection and could discard the answer. */
static void
flush(struct client *c)
{
	ssize_t n;

	while (c->off < c->end) {
		n = send(c->fd, c->out + c->off, c->end - c->off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			drop(c);
			return;
		}
		c->off += n;
	}
	shutdown(c->fd, SHUT_WR);
	c->st = AC_LINGER;
	c->deadline = now_ms() + LINGER_MS;
}

/* Answers c: status 0 means req was read and goes to its page. */
static void
answer(struct client *c, int status, const struct http_request *req)
{
	struct buf o = { c->out + HEADROOM, 0, OUT_MAX - HEADROOM, 0 };
	const struct page *pg = NULL;
	const char *ctype = "text/plain; charset=utf-8";
	int head = 0;

	if (status == 0) {
		head = req->mlen == 4 && !memcmp(req->method, "HEAD", 4);
		if (!host_allowed(req))
			status = 421;
		else if ((status = route(req, &pg)) == 0) {
			ctype = pg->ctype;
			status = render(pg, &o);
		}
	}
	if (!pg || o.over) {
		/* errors: just the status, no internal text */
		o = (struct buf){ c->out + HEADROOM, 0, OUT_MAX - HEADROOM, 0 };
		ctype = "text/plain; charset=utf-8";
		buf_printf(&o, "%d %s\n", status, http_reason(status));
	}
	compose(c, status, ctype, &o, head);
	c->st = AC_WRITE;
	c->deadline = now_ms() + IO_MS;
	flush(c);
}

/* Reads what has arrived of c's head; answers once it is complete or
 * cannot be. */
static void
feed(struct client *c)
{
	const struct http_limits lim = { REQLINE_MAX, HEAD_MAX - 1, NHDR, 0, 0 };
	struct http_request req;
	ssize_t n;
	int r;

	n = read(c->fd, c->in + c->len, sizeof(c->in) - c->len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		drop(c);
		return;
	}
	c->len += n;
	req.hdr = A.hdr;
	r = http_parse_request(c->in, c->len, &lim, &req);
	if (r > 0)
		answer(c, 0, &req);
	else if (r == -1)
		answer(c, req.status ? req.status : 400, NULL);
	else if (c->len == sizeof(c->in))
		answer(c, 431, NULL);
}

/* reads and discards until the client's FIN */
static void
linger(struct client *c)
{
	char buf[1024];
	ssize_t n;

	while ((n = read(c->fd, buf, sizeof(buf))) > 0)
		;
	if (n == 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK))
		drop(c);
}

/* a deadline passed: a started head gets 408, the rest is closed */
static void
expire(struct client *c)
{
	if (c->st == AC_READ && c->len > 0) {
		answer(c, 408, NULL);
		if (c->st == AC_WRITE)
			drop(c);  /* a client that does not read gets no second wait */
		return;
	}
	drop(c);
}

/* accepts while a slot is free */
static void
take(int lfd)
{
	int fd, i;

	for (i = 0; i < NCLIENT; i++) {
		if (A.cl[i].st != AC_FREE)
			continue;
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED) {
				/* EMFILE and the like: let the proxy have the fds for a moment */
				warn("admin: accept:");
				usleep(100000);
			}
			return;
		}
		A.cl[i] = (struct client){ .st = AC_READ, .fd = fd,
		                           .deadline = now_ms() + IO_MS };
	}
}

/* one poll() over the listener (while a slot is free) and the clients */
static void
step(int lfd)
{
	struct pollfd pfd[NCLIENT + 1];
	struct client *who[NCLIENT + 1];
	int64_t now = now_ms(), first = now + 1000;
	int n = 0, i, room = 0;

	for (i = 0; i < NCLIENT; i++) {
		struct client *c = &A.cl[i];
		if (c->st == AC_FREE) {
			room = 1;
			continue;
		}
		first = MIN(first, c->deadline);
		who[n] = c;
		pfd[n++] = (struct pollfd){ c->fd, c->st == AC_WRITE ? POLLOUT : POLLIN, 0 };
	}
	if (room) {
		who[n] = NULL;
		pfd[n++] = (struct pollfd){ lfd, POLLIN, 0 };
	}
	if (poll(pfd, n, (int)MAX(first - now, 0)) < 0) {
		if (errno != EINTR)
			usleep(10000);
		return;
	}
	for (i = 0; i < n; i++) {
		struct client *c = who[i];
		if (!c) {
			if (pfd[i].revents)
				take(lfd);
		} else if (pfd[i].revents && c->st == AC_READ) {
			feed(c);
		} else if (pfd[i].revents && c->st == AC_WRITE) {
			flush(c);
		} else if (pfd[i].revents && c->st == AC_LINGER) {
			linger(c);
		}
		if (c && c->st != AC_FREE && now_ms() >= c->deadline)
			expire(c);
	}
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
	int lfd = (int)(intptr_t)arg;

	fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
	A.loopback = bound_loopback(lfd);
	for (;;)
		step(lfd);
	return NULL;
}
