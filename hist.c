/* See LICENSE file for copyright and license details. */
/* hist.c: the history rings behind the admin page's plots. Writers: the
 * main thread (hist_add, once a second) and the scaler (hist_event); the
 * reader: the admin thread, which copies under the lock and renders from
 * its copy. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "hist.h"

_Static_assert(sizeof(struct hist_sample) == 24, "a sample is 24 bytes");
_Static_assert(sizeof(struct hist) <= 32768, "the history of a set fits in 32 KiB");

/* v clamped to 0..HIST_MAXVAL */
static uint16_t
gauge(long v)
{
	return v < 0 ? 0 : v > HIST_MAXVAL ? HIST_MAXVAL : (uint16_t)v;
}

/* events per second between two readings of a counter, rounded */
static uint32_t
rate(long now, long before, int64_t ms)
{
	double r;

	if (ms <= 0 || now <= before)
		return 0;
	r = (double)(now - before) * 1000.0 / (double)ms + 0.5;
	return r >= UINT32_MAX ? UINT32_MAX : (uint32_t)r;
}

void
hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->lock, NULL);
}

void
hist_add(struct hist *h, const struct hist_reading *r)
{
	struct hist_sample s;

	s.t = r->wall > 0 ? (uint32_t)(r->wall / 1000) : 0;
	s.inflight = gauge(r->inflight);
	s.held = gauge(r->held);
	s.starting = gauge(r->starting);
	s.ready = gauge(r->ready);
	s.draining = gauge(r->draining);
	s.want = gauge(r->want);
	pthread_mutex_lock(&h->lock);
	s.rps = h->last.mono ? rate(r->requests, h->last.requests, r->mono - h->last.mono) : 0;
	s.errs = h->last.mono ? rate(r->errs, h->last.errs, r->mono - h->last.mono) : 0;
	h->last = *r;
	h->s[h->head] = s;
	h->head = (h->head + 1) % HIST_LEN;
	if (h->n < HIST_LEN)
		h->n++;
	pthread_mutex_unlock(&h->lock);
}

void
hist_event(struct hist *h, int64_t wall, int from, int to, const char *why)
{
	struct hist_event *e;
	size_t n = strnlen(why, HIST_WHY - 1);

	pthread_mutex_lock(&h->lock);
	e = &h->ev[h->evhead];
	e->t = wall;
	e->from = from;
	e->to = to;
	memcpy(e->why, why, n);
	e->why[n] = '\0';
	h->evhead = (h->evhead + 1) % HIST_NEV;
	if (h->nev < HIST_NEV)
		h->nev++;
	h->nevents++;
	pthread_mutex_unlock(&h->lock);
}

int
hist_samples(struct hist *h, struct hist_sample *s, int max)
{
	int n, first;

	pthread_mutex_lock(&h->lock);
	n = h->n < max ? h->n : max;
	/* the newest n: they end just before head */
	first = (h->head - n + HIST_LEN) % HIST_LEN;
	for (int i = 0; i < n; i++)
		s[i] = h->s[(first + i) % HIST_LEN];
	pthread_mutex_unlock(&h->lock);
	return n < 0 ? 0 : n;
}

int
hist_events(struct hist *h, struct hist_event *ev, int max)
{
	int n, first;

	pthread_mutex_lock(&h->lock);
	n = h->nev < max ? h->nev : max;
	first = (h->evhead - n + HIST_NEV) % HIST_NEV;
	for (int i = 0; i < n; i++)
		ev[i] = h->ev[(first + i) % HIST_NEV];
	pthread_mutex_unlock(&h->lock);
	return n < 0 ? 0 : n;
}
