/* See LICENSE file for copyright and license details. */
/* hist.h: what the scaler did and why, for the admin page. A fixed ring of
 * one sample a second (15 minutes) and a fixed ring of the last scale
 * events, per set. Nothing is allocated: a struct hist is the whole memory
 * (sizeof(struct hist), about 25 KiB). Its own lock; never held across I/O. */
#ifndef HIST_H
#define HIST_H

#include <pthread.h>
#include <stdint.h>

#define HIST_LEN     900       /* samples kept: 15 minutes at one a second */
#define HIST_NEV     32        /* scale events kept */
#define HIST_WHY     96        /* bytes of an event's reason, with its NUL */
#define HIST_MAXVAL  65535     /* gauges saturate here (uint16_t) */

/* one second; gauges are the values at the sample, rates over the second before */
struct hist_sample {
	uint32_t t;                /* unix time, s */
	uint16_t inflight, held;   /* requests at a backend, held for an instance */
	uint16_t starting, ready, draining;  /* instances by state */
	uint16_t want;             /* instances the scaler wants */
	uint32_t rps, errs;        /* requests answered per second, of them 5xx */
};

/* one scaling decision */
struct hist_event {
	int64_t t;                 /* unix time, ms */
	int from, to;              /* instances running before, wanted after */
	char why[HIST_WHY];        /* the scaler's reason */
};

/* what prescal.c reads off the counters once a second */
struct hist_reading {
	int64_t mono;              /* now_ms() */
	int64_t wall;              /* unix time, ms */
	long inflight, held;
	long starting, ready, draining, want;
	long requests, errs;       /* cumulative: requests answered, of them 5xx */
};

/* lock protects every field below it */
struct hist {
	pthread_mutex_t lock;
	struct hist_sample s[HIST_LEN];
	int head, n;               /* next slot, samples held */
	struct hist_event ev[HIST_NEV];
	int evhead, nev;
	long nevents;              /* events ever recorded */
	struct hist_reading last;  /* the reading before, for the rates */
};

/* Empties h and sets up its lock; call before any other hist_ function. */
void hist_init(struct hist *h);

/* Appends one sample made from r, overwriting the oldest when full. The
 * rates come from the difference to the reading before (0 for the first).
 * Does not block beyond the lock. */
void hist_add(struct hist *h, const struct hist_reading *r);

/* Records a scale event at wall (unix ms); why is copied and cut to fit. */
void hist_event(struct hist *h, int64_t wall, int from, int to, const char *why);

/* Copies up to max samples, oldest first, into s; returns how many. */
int hist_samples(struct hist *h, struct hist_sample *s, int max);

/* Copies up to max events, oldest first, into ev; returns how many. */
int hist_events(struct hist *h, struct hist_event *ev, int max);

#endif
