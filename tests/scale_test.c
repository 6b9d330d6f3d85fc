/* See LICENSE file for copyright and license details. */
/*
 * scale.c unit tests: the scaling decision with an injected clock
 * (scale_input.now) and injected scale_ops that record what they are asked
 * to do. No sleeps, no Docker. Scenarios are tables of samples fed to
 * scale_tick() in order, each with the expected wanted count, start(n) and
 * drain_one() calls.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "scale.h"
#include "util.h"

/* what the injected ops were asked to do during one tick */
struct rec {
	int start_calls;
	int started;     /* n of the last start() */
	int drains;
	int events;      /* event() calls, each with a reason */
	char why[128];
};

static void
rec_start(void *arg, int n)
{
	struct rec *r = arg;

	r->start_calls++;
	r->started = n;
}

static void
rec_drain(void *arg)
{
	struct rec *r = arg;

	r->drains++;
}

static void
rec_event(void *arg, int from, int to, const char *why)
{
	struct rec *r = arg;

	(void)from;
	(void)to;
	r->events++;
	snprintf(r->why, sizeof(r->why), "%s", why);
}

static struct scale_conf
conf_base(void)
{
	struct scale_conf c = {
		.image = "nginx:1.25", .port = 80, .min = 0, .max = 10, .target = 10,
		.name = "web", .metric = "concurrency", .target_rps = 10,
		.down_delay = 10000, .idle_timeout = 60000, .start_timeout = 30000,
		.ready_path = "/", .pull = "never", .drain_timeout = 10000, .sample_ms = 100,
	};

	return c;
}

enum { A_NONE, A_FAIL, A_OK };  /* scale_failed(now) / scale_succeeded() before the tick */

struct step {
	int64_t now;
	int ready, starting, inflight, waiting;
	long requests;
	int draining;
	int want;     /* scale_tick() returns */
	int starts;   /* start(n) called with n, 0: not called */
	int drains;   /* drain_one() calls */
	int act;
};

struct scenario {
	const char *name;
	long min, max, target, down_delay, idle_timeout;
	const char *metric;
	const struct step *steps;
	size_t nsteps;
};

#define STEPS(a) (a), LEN(a)

/*    now   rdy st infl wait req dr  want start drain act */
static const struct step up_from_zero[] = {
	{ 1000, 0, 0,  0, 0,   0, 0,   0, 0, 0, 0 },
	{ 1100, 0, 0,  0, 1,   0, 0,   1, 1, 0, 0 },  /* a held request starts one */
	{ 1200, 0, 1,  0, 1,   0, 0,   1, 0, 0, 0 },  /* starting counts as running */
	{ 1300, 0, 1,  0, 3,   0, 0,   1, 0, 0, 0 },
	{ 1400, 1, 0,  3, 0,   3, 0,   1, 0, 0, 0 },
	{ 1500, 1, 0,  0, 25,  3, 0,   3, 2, 0, 0 },  /* waiting is load too */
};

static const struct step load_step[] = {
	{ 1000, 1, 0,    5, 0, 0, 0,   1, 0, 0, 0 },
	{ 1100, 1, 0,   37, 0, 0, 0,   4, 3, 0, 0 },  /* all missing at once */
	{ 1200, 1, 3,   37, 0, 0, 0,   4, 0, 0, 0 },
	{ 1300, 4, 0,   37, 0, 0, 0,   4, 0, 0, 0 },
	{ 1400, 4, 0,   40, 5, 0, 0,   5, 1, 0, 0 },
	{ 1500, 4, 1,  100, 0, 0, 0,  10, 5, 0, 0 },
	{ 1600, 5, 5, 1000, 0, 0, 0,  10, 0, 0, 0 },  /* max */
	{ 1700, 10, 0, 101, 0, 0, 0,  10, 0, 0, 0 },
};

static const struct step clamp[] = {
	{  1000, 0, 0,    0, 0, 0, 0,   2, 2, 0, 0 },  /* min 2 from nothing */
	{  1100, 0, 2,    0, 0, 0, 0,   2, 0, 0, 0 },
	{  1200, 2, 0, 1000, 0, 0, 0,   3, 1, 0, 0 },  /* max 3 */
	{  1300, 3, 0,    0, 0, 0, 0,   3, 0, 0, 0 },
	{ 11300, 3, 0,    0, 0, 0, 0,   2, 0, 1, 0 },
	{ 11400, 2, 0,    0, 0, 0, 1,   2, 0, 0, 0 },
	{ 99000, 2, 0,    0, 0, 0, 0,   2, 0, 0, 0 },  /* never below min */
};

static const struct step scale_down[] = {
	{  1000, 4, 0, 40, 0, 0, 0,   4, 0, 0, 0 },
	{  2000, 4, 0, 10, 0, 0, 0,   4, 0, 0, 0 },  /* below since 2000 */
	{  6000, 4, 0, 10, 0, 0, 0,   4, 0, 0, 0 },
	{ 11999, 4, 0, 10, 0, 0, 0,   4, 0, 0, 0 },
	{ 12000, 4, 0, 10, 0, 0, 0,   3, 0, 1, 0 },  /* delay passed: one */
	{ 13000, 3, 0, 10, 0, 0, 1,   3, 0, 0, 0 },
	{ 21999, 3, 0, 10, 0, 0, 0,   3, 0, 0, 0 },  /* the next waits again */
	{ 22000, 3, 0, 10, 0, 0, 0,   2, 0, 1, 0 },
	{ 23000, 2, 0, 25, 0, 0, 0,   3, 1, 0, 0 },  /* load back: up at once */
	{ 24000, 3, 0, 10, 0, 0, 0,   3, 0, 0, 0 },
	{ 33999, 3, 0, 10, 0, 0, 0,   3, 0, 0, 0 },
	{ 34000, 3, 0, 10, 0, 0, 0,   2, 0, 1, 0 },
	{ 44000, 2, 0, 10, 0, 0, 0,   1, 0, 1, 0 },
	{ 90000, 1, 0,  0, 0, 0, 0,   1, 0, 0, 0 },  /* min 1 */
};

static const struct step one_drain[] = {
	{ 1000, 3, 0, 0, 0, 0, 0,   3, 0, 0, 0 },
	{ 2000, 3, 0, 0, 0, 0, 0,   2, 0, 1, 0 },
	{ 3000, 2, 0, 0, 0, 0, 1,   1, 0, 0, 0 },  /* still draining: no second */
	{ 4000, 2, 0, 0, 0, 0, 1,   1, 0, 0, 0 },
	{ 5000, 2, 0, 0, 0, 0, 0,   1, 0, 1, 0 },
	{ 6000, 1, 0, 0, 0, 0, 1,   1, 0, 0, 0 },
	{ 9000, 1, 0, 0, 0, 0, 0,   1, 0, 0, 0 },
};

/* down_delay 500: high and low alternate every 100 ms sample */
static const struct step flapping[] = {
	{ 1000, 4, 0, 40, 0, 0, 0,   4, 0, 0, 0 },
	{ 1100, 4, 0,  0, 0, 0, 0,   4, 0, 0, 0 },
	{ 1200, 4, 0, 40, 0, 0, 0,   4, 0, 0, 0 },
	{ 1300, 4, 0,  0, 0, 0, 0,   4, 0, 0, 0 },
	{ 1400, 4, 0, 40, 0, 0, 0,   4, 0, 0, 0 },
	{ 1500, 4, 0,  0, 0, 0, 0,   4, 0, 0, 0 },
	{ 1600, 4, 0, 40, 0, 0, 0,   4, 0, 0, 0 },
	{ 1700, 4, 0,  0, 0, 0, 0,   4, 0, 0, 0 },
	{ 1800, 4, 0, 40, 0, 0, 0,   4, 0, 0, 0 },
	{ 1900, 4, 0,  0, 0, 0, 0,   4, 0, 0, 0 },
	{ 2000, 4, 0, 40, 0, 0, 0,   4, 0, 0, 0 },
	{ 2100, 4, 0,  0, 0, 0, 0,   4, 0, 0, 0 },
	{ 2200, 4, 0,  5, 0, 0, 0,   4, 0, 0, 0 },  /* low for 300 ms ... */
	{ 2300, 4, 0,  0, 0, 0, 0,   4, 0, 0, 0 },
	{ 2500, 4, 0,  5, 0, 0, 0,   4, 0, 0, 0 },
	{ 2600, 4, 0, 31, 0, 0, 0,   4, 0, 0, 0 },  /* ... one high resets */
	{ 2700, 4, 0,  0, 0, 0, 0,   4, 0, 0, 0 },
	{ 3100, 4, 0,  0, 0, 0, 0,   4, 0, 0, 0 },
	{ 3200, 4, 0,  0, 0, 0, 0,   3, 0, 1, 0 },  /* sustained low: down */
};

/* min 0: the last instance goes after idle_timeout without requests */
static const struct step idle_last[] = {
	{   1000, 1, 0, 1, 0, 10, 0,   1, 0, 0, 0 },
	{   2000, 1, 0, 0, 0, 10, 0,   1, 0, 0, 0 },  /* busy last at 1000 */
	{  30000, 1, 0, 0, 0, 10, 0,   1, 0, 0, 0 },
	{  60999, 1, 0, 0, 0, 10, 0,   1, 0, 0, 0 },
	{  61000, 1, 0, 0, 0, 10, 0,   0, 0, 1, 0 },
	{  61100, 0, 0, 0, 0, 10, 1,   0, 0, 0, 0 },
	{ 200000, 0, 0, 0, 0, 10, 0,   0, 0, 0, 0 },
	{ 200100, 0, 0, 0, 1, 10, 0,   1, 1, 0, 0 },  /* and from zero again */
};

/* the requests counter moving is activity even with nothing in flight */
static const struct step idle_requests[] = {
	{   1000, 1, 0, 0, 0, 5, 0,   1, 0, 0, 0 },
	{  50000, 1, 0, 0, 0, 6, 0,   1, 0, 0, 0 },  /* busy at 50000 */
	{  61000, 1, 0, 0, 0, 6, 0,   1, 0, 0, 0 },
	{ 109999, 1, 0, 0, 0, 6, 0,   1, 0, 0, 0 },
	{ 110000, 1, 0, 0, 0, 6, 0,   0, 0, 1, 0 },
};

/* min 0 with two idle: down to one after down_delay, the last after idle_timeout */
static const struct step idle_two[] = {
	{  1000, 2, 0, 0, 0, 0, 0,   2, 0, 0, 0 },
	{ 10999, 2, 0, 0, 0, 0, 0,   2, 0, 0, 0 },
	{ 11000, 2, 0, 0, 0, 0, 0,   1, 0, 1, 0 },
	{ 12000, 1, 0, 0, 0, 0, 0,   1, 0, 0, 0 },
	{ 60999, 1, 0, 0, 0, 0, 0,   1, 0, 0, 0 },
	{ 61000, 1, 0, 0, 0, 0, 0,   0, 0, 1, 0 },
};

/*
 * metric rps, target_rps 10, one sample a second, 50 requests each:
 * rps 0.7 * rps + 0.3 * 50 = 15, 25.5, 32.85, 37.995, 41.5965; need is
 * ceil(rps / 10) (computed as + 0.999).
 */
static const struct step rps[] = {
	{ 1000, 1, 0, 0, 0,   0, 0,   1, 0, 0, 0 },  /* no rate yet; kept by idle */
	{ 2000, 1, 0, 0, 0,  50, 0,   2, 1, 0, 0 },
	{ 3000, 1, 1, 0, 0, 100, 0,   3, 1, 0, 0 },
	{ 4000, 2, 1, 0, 0, 150, 0,   4, 1, 0, 0 },
	{ 5000, 4, 0, 0, 0, 200, 0,   4, 0, 0, 0 },
	{ 6000, 4, 0, 0, 0, 250, 0,   5, 1, 0, 0 },
	{ 7000, 5, 0, 99, 0, 250, 0,  5, 0, 0, 0 },  /* in-flight is not the metric */
};

/* metric rps from zero: a held request starts one though the rate is 0 */
static const struct step rps_zero[] = {
	{ 1000, 0, 0, 0, 0, 0, 0,   0, 0, 0, 0 },
	{ 1100, 0, 0, 0, 1, 0, 0,   1, 1, 0, 0 },
	{ 1200, 0, 1, 0, 4, 0, 0,   1, 0, 0, 0 },
};

/* start back-off: 1 s, 2 s, 4 s; success resets */
static const struct step backoff[] = {
	{ 1000, 0, 0,  0, 1, 0, 0,   0, 0, 0, A_FAIL },  /* until 2000 */
	{ 1999, 0, 0,  0, 1, 0, 0,   0, 0, 0, 0 },
	{ 2000, 0, 0,  0, 1, 0, 0,   1, 1, 0, 0 },
	{ 2100, 0, 0,  0, 1, 0, 0,   0, 0, 0, A_FAIL },  /* until 4100 */
	{ 4099, 0, 0,  0, 1, 0, 0,   0, 0, 0, 0 },
	{ 4100, 0, 0,  0, 1, 0, 0,   1, 1, 0, 0 },
	{ 4200, 0, 0,  0, 1, 0, 0,   0, 0, 0, A_FAIL },  /* until 8200 */
	{ 8199, 0, 0,  0, 1, 0, 0,   0, 0, 0, 0 },
	{ 8200, 0, 0,  0, 1, 0, 0,   1, 1, 0, A_OK },
	{ 8300, 0, 0,  0, 1, 0, 0,   0, 0, 0, A_FAIL },  /* reset: 1 s again */
	{ 9300, 0, 0,  0, 1, 0, 0,   1, 1, 0, 0 },
	{ 9400, 2, 0, 40, 0, 0, 0,   2, 0, 0, A_FAIL },  /* keeps the running ones */
	{ 11399, 2, 0, 40, 0, 0, 0,  2, 0, 0, 0 },  /* 2 s */
	{ 11400, 2, 0, 40, 0, 0, 0,  4, 2, 0, 0 },
};

static struct scenario scenarios[] = {
	{ "up from zero",    0, 5,  10, 10000, 60000, "concurrency", STEPS(up_from_zero) },
	{ "load step",       1, 10, 10, 10000, 60000, "concurrency", STEPS(load_step) },
	{ "clamp",           2, 3,  10, 10000, 60000, "concurrency", STEPS(clamp) },
	{ "scale down",      1, 10, 10, 10000, 60000, "concurrency", STEPS(scale_down) },
	{ "one drain",       1, 10, 10, 1000,  60000, "concurrency", STEPS(one_drain) },
	{ "flapping",        1, 10, 10, 500,   60000, "concurrency", STEPS(flapping) },
	{ "idle last",       0, 5,  10, 10000, 60000, "concurrency", STEPS(idle_last) },
	{ "idle requests",   0, 5,  10, 10000, 60000, "concurrency", STEPS(idle_requests) },
	{ "idle two",        0, 5,  10, 10000, 60000, "concurrency", STEPS(idle_two) },
	{ "rps",             0, 10, 10, 10000, 60000, "rps",         STEPS(rps) },
	{ "rps from zero",   0, 10, 10, 10000, 60000, "rps",         STEPS(rps_zero) },
	{ "backoff",         0, 5,  10, 10000, 60000, "concurrency", STEPS(backoff) },
};

static void
run_scenario(const struct scenario *sc)
{
	struct scale_conf c = conf_base();
	struct scale_state s;
	struct scale_input in;
	struct rec r;
	struct scale_ops ops = { rec_start, rec_drain, &r, rec_event, NULL, NULL, NULL, NULL };
	int want;

	c.min = sc->min;
	c.max = sc->max;
	c.target = sc->target;
	c.down_delay = sc->down_delay;
	c.idle_timeout = sc->idle_timeout;
	snprintf(c.metric, sizeof(c.metric), "%s", sc->metric);
	memset(&s, 0, sizeof(s));
	for (size_t i = 0; i < sc->nsteps; i++) {
		const struct step *st = &sc->steps[i];

		if (st->act == A_FAIL)
			scale_failed(&s, st->now);
		else if (st->act == A_OK)
			scale_succeeded(&s);
		in = (struct scale_input){ st->now, st->ready, st->starting, st->inflight,
		                           st->waiting, st->requests, 0, 0, 0, 0 };
		memset(&r, 0, sizeof(r));
		want = scale_tick(&c, &s, &in, st->draining, &ops);
		if (want != st->want || r.started != st->starts || r.drains != st->drains ||
		    r.start_calls != (st->starts > 0))
			fail_msg("%s, step %zu (now %lld): want %d start %d (%d calls) drain %d; "
			         "expected want %d start %d drain %d", sc->name, i,
			         (long long)st->now, want, r.started, r.start_calls, r.drains,
			         st->want, st->starts, st->drains);
		/* every start or drain is an event, with the reason logged */
		if (r.events != r.start_calls + r.drains || (r.events && !r.why[0]))
			fail_msg("%s, step %zu: %d events for %d starts and %d drains", sc->name, i,
			         r.events, r.start_calls, r.drains);
	}
}

/* the paused tier: what the injected ops were asked */
struct prec {
	int started, woken, pauses, drains, warmed, removed;
	int avail;       /* paused instances wake() finds */
};

static void
p_start(void *arg, int n)
{
	((struct prec *)arg)->started += n;
}

static void
p_drain(void *arg)
{
	((struct prec *)arg)->drains++;
}

static int
p_wake(void *arg, int n)
{
	struct prec *r = arg;

	r->woken += MIN(n, r->avail);
	return MIN(n, r->avail);
}

static void
p_pause(void *arg)
{
	((struct prec *)arg)->pauses++;
}

static void
p_warm(void *arg, int n)
{
	((struct prec *)arg)->warmed += n;
}

static void
p_remove(void *arg)
{
	((struct prec *)arg)->removed++;
}

struct pstep {
	int64_t now;
	int ready, starting, paused, warming;
	int64_t oldest;
	int inflight, waiting;
	long requests;
	int want, starts, woken, pauses, drains, warmed, removed;
};

/* pause_after 20 s, max_paused 2, remove_after 300 s, min_paused 0 */
static const struct pstep tier[] = {
	/* now  rdy st  pz wm oldest infl wait req  want st wk pz dr wm rm */
	{  1000, 2, 0,  0, 0,      0, 0, 0, 10,   2, 0, 0, 0, 0, 0, 0 },
	{ 20999, 2, 0,  0, 0,      0, 0, 0, 10,   2, 0, 0, 0, 0, 0, 0 },  /* not 10 s */
	{ 21000, 2, 0,  0, 0,      0, 0, 0, 10,   1, 0, 0, 1, 0, 0, 0 },  /* paused, not removed */
	{ 22000, 1, 0,  1, 0,   1000, 0, 0, 10,   1, 0, 0, 0, 0, 0, 0 },
	{ 61000, 1, 0,  1, 0,  40000, 0, 0, 10,   0, 0, 0, 1, 0, 0, 0 },  /* idle: the last too */
	{ 62000, 0, 0,  2, 0,  41000, 0, 0, 10,   0, 0, 0, 0, 0, 0, 0 },
	{ 62100, 0, 0,  2, 0,  41100, 0, 1, 10,   1, 0, 1, 0, 0, 0, 0 },  /* held: wake, no start */
	{ 62200, 0, 1,  1, 0,  41200, 0, 1, 10,   1, 0, 0, 0, 0, 0, 0 },
	{ 62300, 1, 0,  1, 0,  41300, 25, 0, 11,  3, 1, 1, 0, 0, 0, 0 },  /* paused first */
	{400000, 1, 0,  2, 0, 340000, 1, 0, 20,   1, 0, 0, 0, 0, 0, 1 },  /* remove_after */
	{400100, 2, 0,  2, 0,   1000, 1, 0, 20,   2, 0, 0, 0, 0, 0, 0 },  /* full: usual delay */
	{410100, 2, 0,  2, 0,  11000, 1, 0, 20,   1, 0, 0, 0, 1, 0, 0 },  /* full: removed */
	{410200, 1, 0,  3, 0,  11100, 1, 0, 20,   1, 0, 0, 0, 0, 0, 1 },  /* over max_paused */
};

/* pause_after off, min_paused 1: a warm pool kept even at zero */
static const struct pstep warm[] = {
	/* now  rdy st  pz wm oldest infl wait req  want st wk pz dr wm rm */
	{  1000, 0, 0,  0, 0,      0, 0, 0,  0,   0, 0, 0, 0, 0, 1, 0 },
	{  1100, 0, 0,  0, 1,      0, 0, 0,  0,   0, 0, 0, 0, 0, 0, 0 },
	{  2000, 0, 0,  1, 0,    100, 0, 0,  0,   0, 0, 0, 0, 0, 0, 0 },
	{  2100, 0, 0,  1, 0,    200, 0, 1,  0,   1, 0, 1, 0, 0, 0, 0 },
	{  2200, 0, 1,  0, 0,      0, 0, 0,  0,   1, 0, 0, 0, 0, 1, 0 },  /* refilled */
	{100000, 1, 0,  1, 0,  90000, 0, 0,  0,   0, 0, 0, 0, 1, 0, 0 },  /* off: removed */
	{900000, 0, 0,  1, 0, 890000, 0, 0,  0,   0, 0, 0, 0, 0, 0, 0 },  /* min_paused stays */
};

static void
run_paused(const char *name, const struct pstep *steps, size_t n, long pause_after,
           long min_paused)
{
	struct scale_conf c = conf_base();
	struct scale_ops ops = { p_start, p_drain, NULL, NULL, p_wake, p_pause, p_warm, p_remove };
	struct scale_state s;
	struct scale_input in;
	struct prec r;
	int want;

	c.pause_after = pause_after;
	c.min_paused = min_paused;
	c.max_paused = 2;
	c.remove_after = 300000;
	c.max = 5;
	ops.arg = &r;
	memset(&s, 0, sizeof(s));
	for (size_t i = 0; i < n; i++) {
		const struct pstep *st = &steps[i];

		in = (struct scale_input){ .now = st->now, .ready = st->ready,
		                           .starting = st->starting, .inflight = st->inflight,
		                           .waiting = st->waiting, .requests = st->requests,
		                           .paused = st->paused, .warming = st->warming,
		                           .oldest_paused = st->oldest };
		memset(&r, 0, sizeof(r));
		r.avail = st->paused;
		want = scale_tick(&c, &s, &in, 0, &ops);
		if (want != st->want || r.started != st->starts || r.woken != st->woken ||
		    r.pauses != st->pauses || r.drains != st->drains || r.warmed != st->warmed ||
		    r.removed != st->removed)
			fail_msg("%s, step %zu (now %lld): want %d start %d wake %d pause %d drain %d "
			         "warm %d remove %d; expected %d %d %d %d %d %d %d", name, i,
			         (long long)st->now, want, r.started, r.woken, r.pauses, r.drains,
			         r.warmed, r.removed, st->want, st->starts, st->woken, st->pauses,
			         st->drains, st->warmed, st->removed);
	}
}

static void
test_paused_tier(void **state)
{
	(void)state;
	run_paused("tier", tier, LEN(tier), 20000, 0);
	run_paused("warm", warm, LEN(warm), 0, 1);
}

/* one cmocka test per scenario, the scenario as its state */
static void
test_scenario(void **state)
{
	run_scenario(*state);
}

/* failures of starts made in one round (all within the back-off) count
 * once: three instances failing together wait 1 s, not 4 */
static void
test_backoff_same_round(void **state)
{
	struct scale_state s;

	(void)state;
	memset(&s, 0, sizeof(s));
	scale_failed(&s, 1000);
	scale_failed(&s, 1200);
	scale_failed(&s, 1999);
	assert_int_equal(s.backoff, 1000);
	assert_int_equal(s.backoff_until, 2000);
	scale_failed(&s, 2000);
	assert_int_equal(s.backoff, 2000);
	assert_int_equal(s.backoff_until, 4000);
}

/* what a user reads about each kind of failed start */
static void
test_fail_text(void **state)
{
	static const struct {
		enum scale_fail why;
		long arg;
		const char *want, *name;
	} cases[] = {
		{ SF_EXIT, 1, "exited with code 1 before it was ready", "exit" },
		{ SF_EXIT, 0, "exited with code 0 before it was ready", "exit" },
		{ SF_OOM, 137, "was killed for lack of memory (OOM) before it was ready", "oom" },
		{ SF_TIMEOUT, 3000, "was not ready within 3000 ms", "timeout" },
		{ SF_UNHEALTHY, 0, "became unhealthy before it was ready", "unhealthy" },
		{ SF_CREATE, 0, "Docker could not create or start its container", "create" },
		{ SF_IMAGE, 0, "image web:1 is not available", "image" },
	};
	char out[160];

	(void)state;
	for (size_t i = 0; i < LEN(cases); i++) {
		scale_fail_text(out, sizeof(out), cases[i].why, cases[i].arg, "web:1");
		assert_string_equal(out, cases[i].want);
		assert_string_equal(scale_fail_name[cases[i].why], cases[i].name);
	}
}

/* scale_failed: 1 s doubling, capped at 30 s; scale_succeeded resets */
static void
test_backoff_cap(void **state)
{
	static const int want[] = { 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000 };
	struct scale_state s;
	int64_t now = 5000;

	(void)state;
	memset(&s, 0, sizeof(s));
	for (size_t i = 0; i < LEN(want); i++, now += 100000) {
		scale_failed(&s, now);
		assert_int_equal(s.backoff, want[i]);
		assert_int_equal(s.backoff_until, now + want[i]);
	}
	scale_succeeded(&s);
	assert_int_equal(s.backoff, 0);
	assert_int_equal(s.backoff_until, 0);
	scale_failed(&s, now);
	assert_int_equal(s.backoff, 1000);
}

/* scale_decide is pure: the reason it gives, and the same input gives the same answer */
static void
test_decide_why(void **state)
{
	static const struct {
		struct scale_input in;
		int act;
		int want;
		const char *why;
	} cases[] = {
		{ { 1000, 1, 0, 37, 0, 0, 0, 0, 0, 0 }, A_NONE, 4, "in-flight 37, target 10" },
		{ { 1000, 1, 0, 30, 7, 0, 0, 0, 0, 0 }, A_NONE, 4, "in-flight 37, target 10" },
		{ { 1000, 0, 0, 0, 2, 0, 0, 0, 0, 0 }, A_FAIL, 0, "start back-off, 1000 ms left" },
	};
	struct scale_conf c = conf_base();
	struct scale_state s;
	char why[128];

	(void)state;
	for (size_t i = 0; i < LEN(cases); i++) {
		memset(&s, 0, sizeof(s));
		if (cases[i].act == A_FAIL)
			scale_failed(&s, cases[i].in.now);
		assert_int_equal(scale_decide(&c, &s, &cases[i].in, why, sizeof(why)), cases[i].want);
		assert_string_equal(why, cases[i].why);
		assert_int_equal(scale_decide(&c, &s, &cases[i].in, why, sizeof(why)), cases[i].want);
	}

	/* the last instance, idle */
	struct scale_input in = { 1000, 1, 0, 0, 0, 0, 0, 0, 0, 0 };
	memset(&s, 0, sizeof(s));
	assert_int_equal(scale_decide(&c, &s, &in, why, sizeof(why)), 1);
	in.now = 61000;
	assert_int_equal(scale_decide(&c, &s, &in, why, sizeof(why)), 0);
	assert_string_equal(why, "idle for 60000 ms");

	/* rps: the reason shows the smoothed rate; a tiny buffer is cut, not overrun */
	snprintf(c.metric, sizeof(c.metric), "rps");
	memset(&s, 0, sizeof(s));
	in = (struct scale_input){ 1000, 1, 0, 0, 0, 0, 0, 0, 0, 0 };
	scale_decide(&c, &s, &in, why, sizeof(why));
	in = (struct scale_input){ 2000, 1, 0, 0, 0, 50, 0, 0, 0, 0 };
	assert_int_equal(scale_decide(&c, &s, &in, why, 5), 2);
	assert_string_equal(why, "rps ");
}

/* issue 19: with every worker busy, in-flight stops at the worker count;
 * what waits for a worker still counts, so the scaler sees all the demand */
static void
test_demand_saturated(void **state)
{
	struct scale_conf c = conf_base();
	struct scale_state s;
	struct scale_input in = { .now = 1000, .ready = 2, .inflight = 16 };
	char why[128];

	(void)state;
	c.max = 8;
	memset(&s, 0, sizeof(s));
	/* 16 workers, all busy: alone that asks for 2 instances */
	assert_int_equal(scale_decide(&c, &s, &in, why, sizeof(why)), 2);
	/* 184 more requests wait for a worker (200 clients): all 8 */
	in.queued = 184;
	assert_int_equal(scale_decide(&c, &s, &in, why, sizeof(why)), 8);
	assert_string_equal(why, "in-flight 200, target 10");
	/* with requests held for an instance as well: still capped at max */
	in.waiting = 50;
	assert_int_equal(scale_decide(&c, &s, &in, why, sizeof(why)), 8);
	/* 30 waiting on a quiet pool: 3 */
	in = (struct scale_input){ .now = 2000, .ready = 1, .queued = 30 };
	memset(&s, 0, sizeof(s));
	assert_int_equal(scale_decide(&c, &s, &in, why, sizeof(why)), 3);
}

static const struct {
	const char *image, *name, *metric, *pull, *ready_path;  /* NULL: the good default */
	int rc;
	const char *msg;  /* in the one line printed, NULL: nothing printed */
} conf_cases[] = {
	{ NULL, NULL, NULL, NULL, NULL, 0, NULL },
	{ NULL, NULL, "rps", "missing", NULL, 0, NULL },
	{ "registry.local:5000/team/app@sha256:0123abcd", "a", NULL, NULL, "/healthz?x=1", 0, NULL },
	{ NULL, "A.b_c-9", NULL, NULL, "/a/b", 0, NULL },
	{ NULL, "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuv", NULL, NULL, NULL, 0, NULL },
	{ "", "-bad", "bad", "bad", "bad", 0, NULL },  /* no image: not scaling, not checked */
	{ "ng inx", NULL, NULL, NULL, NULL, -1, "-i 'ng inx'" },
	{ "a\"b", NULL, NULL, NULL, NULL, -1, "-i 'a\"b'" },
	{ "a\\b", NULL, NULL, NULL, NULL, -1, "-i" },
	{ "caf\xc3\xa9", NULL, NULL, NULL, NULL, -1, "-i" },
	{ NULL, "", NULL, NULL, NULL, -1, "-n ''" },
	{ NULL, "-web", NULL, NULL, NULL, -1, "-n '-web'" },
	{ NULL, ".web", NULL, NULL, NULL, -1, "-n '.web'" },
	{ NULL, "we b", NULL, NULL, NULL, -1, "-n 'we b'" },
	{ NULL, "web/1", NULL, NULL, NULL, -1, "-n 'web/1'" },
	{ NULL, "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvw", NULL, NULL, NULL, -1, "-n" },
	{ NULL, NULL, "", NULL, NULL, -1, "metric ''" },
	{ NULL, NULL, "RPS", NULL, NULL, -1, "metric 'RPS'" },
	{ NULL, NULL, "rps ", NULL, NULL, -1, "metric 'rps '" },
	{ NULL, NULL, "latency", NULL, NULL, -1, "metric 'latency'" },
	{ NULL, NULL, NULL, "always", NULL, -1, "pull 'always'" },
	{ NULL, NULL, NULL, "", NULL, -1, "pull ''" },
	{ NULL, NULL, NULL, NULL, "", -1, "ready_path ''" },
	{ NULL, NULL, NULL, NULL, "health", -1, "ready_path 'health'" },
	{ NULL, NULL, NULL, NULL, "/a b", -1, "ready_path '/a b'" },
	{ NULL, NULL, NULL, NULL, "/a\tb", -1, "ready_path" },
	{ NULL, NULL, NULL, NULL, "/a\x7f", -1, "ready_path" },
	{ NULL, NULL, NULL, NULL, "/\xc3\xa9", -1, "ready_path" },
};

static void
test_check_conf(void **state)
{
	struct scale_conf c;
	char *out;
	size_t len;
	FILE *f;
	int rc;

	(void)state;
	for (size_t i = 0; i < LEN(conf_cases); i++) {
		c = conf_base();
		snprintf(c.image, sizeof(c.image), "%s", conf_cases[i].image ? conf_cases[i].image : "nginx:1.25");
		snprintf(c.name, sizeof(c.name), "%s", conf_cases[i].name ? conf_cases[i].name : "web");
		snprintf(c.metric, sizeof(c.metric), "%s",
		         conf_cases[i].metric ? conf_cases[i].metric : "concurrency");
		snprintf(c.pull, sizeof(c.pull), "%s", conf_cases[i].pull ? conf_cases[i].pull : "never");
		snprintf(c.ready_path, sizeof(c.ready_path), "%s",
		         conf_cases[i].ready_path ? conf_cases[i].ready_path : "/");
		out = NULL;
		assert_non_null(f = open_memstream(&out, &len));
		rc = scale_check_conf(&c, f);
		fclose(f);
		if (rc != conf_cases[i].rc)
			fail_msg("case %zu: rc %d, output '%s'", i, rc, out);
		if (!conf_cases[i].msg) {
			assert_int_equal(len, 0);
		} else {
			/* one line, "prescal: " then the offending key and value */
			assert_true(len > 0 && out[len - 1] == '\n');
			assert_ptr_equal(strchr(out, '\n'), out + len - 1);
			assert_int_equal(strncmp(out, "prescal: ", 9), 0);
			if (!strstr(out, conf_cases[i].msg))
				fail_msg("case %zu: '%s' does not name '%s'", i, out, conf_cases[i].msg);
		}
		free(out);
	}
}

/* the set name without -n: one per listen address, valid for -n */
static const struct {
	const char *listen, *name;
} default_names[] = {
	{ "8080",                 "prescal-8080" },
	{ "0.0.0.0:8080",         "prescal-8080" },
	{ ":8080",                "prescal-8080" },
	{ "[::]:8081",            "prescal-8081" },
	{ "127.0.0.1:8080",       "prescal-127.0.0.1-8080" },
	{ "[::1]:80",             "prescal-__1-80" },
	{ "localhost:65535",      "prescal-localhost-65535" },
	{ "a very long host name with spaces and more:1", "prescal-a_very_long_host_name_with_spaces_-1" },
	{ "abcdefghijklmnopqrstuvwxyzabcdefghijklmn:65535",
	  "prescal-abcdefghijklmnopqrstuvwxyzabcdefgh-65535" },
};

static void
test_default_name(void **state)
{
	struct scale_conf c;

	(void)state;
	for (size_t i = 0; i < LEN(default_names); i++) {
		c = conf_base();
		c.name[0] = '\0';
		scale_default_name(&c, default_names[i].listen);
		if (strcmp(c.name, default_names[i].name))
			fail_msg("listen '%s': name '%s', want '%s'", default_names[i].listen,
			         c.name, default_names[i].name);
		assert_int_equal(scale_check_conf(&c, stderr), 0);
	}
	/* a name given with -n or in the file stays */
	c = conf_base();
	snprintf(c.name, sizeof(c.name), "web");
	scale_default_name(&c, "0.0.0.0:8080");
	assert_string_equal(c.name, "web");
}

int
main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_backoff_cap),
		cmocka_unit_test(test_backoff_same_round),
		cmocka_unit_test(test_fail_text),
		cmocka_unit_test(test_decide_why),
		cmocka_unit_test(test_paused_tier),
		cmocka_unit_test(test_demand_saturated),
		cmocka_unit_test(test_check_conf),
		cmocka_unit_test(test_default_name),
	};
	struct CMUnitTest tests[LEN(fixed) + LEN(scenarios)];

	/* the fixed tests, then one per scenario */
	memcpy(tests, fixed, sizeof(fixed));
	for (size_t i = 0; i < LEN(scenarios); i++)
		tests[LEN(fixed) + i] = (struct CMUnitTest){ scenarios[i].name, test_scenario, NULL,
		                                             NULL, &scenarios[i] };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
