/* See LICENSE file for copyright and license details. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pool.h"
#include "util.h"

const char *const backend_state_name[NUM_B] = {
	[B_STARTING] = "starting",
	[B_UP]       = "up",
	[B_DOWN]     = "down",
	[B_DRAINING] = "draining",
	[B_PAUSED]   = "paused",
	[B_REMOVED]  = "removed",
};

/*
 * The pool lock protects the list, every backend's state, fails, backoff,
 * retry_at, refs and idle cache, and the fields below. conf is immutable
 * after pool_init(). inflight/tunnels/served are atomics.
 */
struct pool {
	pthread_mutex_t lock;
	struct pool_conf conf;
	struct backend *head;
	unsigned rr;                /* round-robin cursor */
	int waiting;                /* requests held (pool_hold) */
	long held_total, hold_rejected;
	int woken;                  /* pool_wake_all() was called */
	char cause[POOL_CAUSE];     /* why the app fails to start, "" = it does not */
	int64_t failing_until;      /* no try before (now_ms() clock) */
	atomic_int inflight;        /* requests in progress on all backends */
};

static void close_idle_unlocked(struct backend *b);
static void unref_unlocked(struct backend *b);

struct pool *
pool_new(const struct pool_conf *conf)
{
	struct pool *p;

	if (!(p = calloc(1, sizeof(*p))))
		return NULL;
	pthread_mutex_init(&p->lock, NULL);
	pool_set_conf(p, conf);
	return p;
}

void
pool_set_conf(struct pool *p, const struct pool_conf *conf)
{
	pthread_mutex_lock(&p->lock);
	p->conf = *conf;
	if (p->conf.idle_max > POOL_IDLE_CAP)
		p->conf.idle_max = POOL_IDLE_CAP;
	if (p->conf.idle_max < 0)
		p->conf.idle_max = 0;
	pthread_mutex_unlock(&p->lock);
}

void
pool_free(struct pool *p)
{
	struct backend *b, *next;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	for (b = p->head; b; b = next) {
		next = b->next;
		b->next = NULL;
		b->state = B_REMOVED;
		close_idle_unlocked(b);
		unref_unlocked(b);
	}
	p->head = NULL;
	pthread_mutex_unlock(&p->lock);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* tells the owner of held requests that n of them (-1: all) may go on;
 * called without the lock */
static void
ready(struct pool *p, int n, int waiting)
{
	if (waiting > 0 && p->conf.ready)
		p->conf.ready(p->conf.arg, n);
}

struct backend *
pool_add(struct pool *p, const char *name, const char *id, const struct sockaddr_storage *ss,
         socklen_t sslen, enum backend_state st)
{
	struct backend *b, **pp;
	int waiting;

	if (!(b = calloc(1, sizeof(*b))))
		return NULL;
	snprintf(b->name, sizeof(b->name), "%s", name);
	snprintf(b->id, sizeof(b->id), "%s", id ? id : "");
	b->dynamic = id && *id;
	memcpy(&b->addr, ss, sslen);
	b->addrlen = sslen;
	b->created = now_ms();
	b->state = st;
	b->backoff = p->conf.backoff_ms;
	b->refs = 1;
	b->pool = p;
	pthread_mutex_lock(&p->lock);
	for (pp = &p->head; *pp; pp = &(*pp)->next)
		;
	*pp = b;
	waiting = p->waiting;
	pthread_mutex_unlock(&p->lock);
	if (st == B_UP)
		ready(p, -1, waiting);
	return b;
}

static void
close_idle_unlocked(struct backend *b)
{
	while (b->nidle > 0)
		close(b->idle_fd[--b->nidle]);
}

static void
unref_unlocked(struct backend *b)
{
	if (--b->refs == 0) {
		close_idle_unlocked(b);
		free(b);
	}
}

void
pool_set_state(struct backend *b, enum backend_state st)
{
	struct pool *p = b->pool;
	int waiting;

	pthread_mutex_lock(&p->lock);
	if (b->state != B_REMOVED) {
		b->state = st;
		if (st == B_UP) {
			b->fails = 0;
			b->backoff = p->conf.backoff_ms;
		} else if (st != B_DOWN) {
			close_idle_unlocked(b);
		}
	}
	waiting = p->waiting;
	pthread_mutex_unlock(&p->lock);
	if (st == B_UP)
		ready(p, -1, waiting);
}

void
pool_remove(struct backend *b)
{
	struct pool *p = b->pool;
	struct backend **pp;

	pthread_mutex_lock(&p->lock);
	for (pp = &p->head; *pp; pp = &(*pp)->next) {
		if (*pp == b) {
			*pp = b->next;
			b->next = NULL;
			b->state = B_REMOVED;
			close_idle_unlocked(b);
			unref_unlocked(b);
			break;
		}
	}
	pthread_mutex_unlock(&p->lock);
}

static int
pickable_unlocked(struct pool *p, struct backend *b, int64_t now)
{
	if (b->state == B_DOWN && now >= b->retry_at)
		return 1;  /* one trial after the back-off */
	if (b->state != B_UP)
		return 0;
	if (p->conf.conn_cap > 0 && atomic_load(&b->inflight) >= p->conf.conn_cap)
		return 0;
	return 1;
}

static int
skipped(struct backend *b, struct backend *const *skip, int nskip)
{
	for (int i = 0; i < nskip; i++)
		if (skip[i] == b)
			return 1;
	return 0;
}

/* chooses among pickable backends; the round-robin cursor counts pickable
 * ones only, so a down backend's turn does not fall to its neighbour */
void
pool_ref(struct backend *b)
{
	struct pool *p = b->pool;
	pthread_mutex_lock(&p->lock);
	b->refs++;
	pthread_mutex_unlock(&p->lock);
}

void
pool_unref(struct backend *b)
{
	struct pool *p = b->pool;
	pthread_mutex_lock(&p->lock);
	unref_unlocked(b);
	pthread_mutex_unlock(&p->lock);
}

enum backend_state
pool_state(struct backend *b)
{
	struct pool *p = b->pool;
	enum backend_state st;

	pthread_mutex_lock(&p->lock);
	st = b->state;
	pthread_mutex_unlock(&p->lock);
	return st;
}

static struct backend *
choose_unlocked(struct pool *p, struct backend *const *skip, int nskip, int64_t now)
{
	struct backend *b, *best = NULL;
	int n = 0, i, k, bestload = 0, load;

	if (p->conf.max_inflight > 0 && atomic_load(&p->inflight) >= p->conf.max_inflight)
		return NULL;
	for (b = p->head; b; b = b->next)
		n += pickable_unlocked(p, b, now) && !skipped(b, skip, nskip);
	if (n == 0)
		return NULL;
	k = p->rr++ % n;
	for (i = 0, b = p->head; b; b = b->next) {
		if (!pickable_unlocked(p, b, now) || skipped(b, skip, nskip))
			continue;
		if (p->conf.balance == BAL_RR) {
			if (i++ == k)
				return b;
			continue;
		}
		/* least outstanding; ties go to the first at or after the cursor */
		load = atomic_load(&b->inflight) * 2 + (i++ < k);
		if (!best || load < bestload) {
			best = b;
			bestload = load;
		}
	}
	return best;
}

/* whether waiting can help: a backend is starting or may be started, or
 * one is up but busy at conn_cap */
static int
worth_waiting_unlocked(struct pool *p)
{
	struct backend *b;

	if (p->woken)
		return 0;
	if (p->conf.hold)
		return 1;
	if (p->conf.max_inflight > 0 && atomic_load(&p->inflight) >= p->conf.max_inflight)
		return 1;
	if (p->conf.conn_cap > 0)
		for (b = p->head; b; b = b->next)
			if (b->state == B_UP)
				return 1;
	return 0;
}

static int
failing_unlocked(struct pool *p, int64_t now)
{
	return p->cause[0] && now < p->failing_until;
}

void
pool_set_failing(struct pool *p, const char *cause, int64_t until)
{
	int waiting;

	pthread_mutex_lock(&p->lock);
	snprintf(p->cause, sizeof(p->cause), "%s", cause ? cause : "");
	p->failing_until = until;
	waiting = p->waiting;
	pthread_mutex_unlock(&p->lock);
	if (cause)
		ready(p, -1, waiting);
}

int
pool_failing(struct pool *p, char *out, size_t n)
{
	int64_t now = now_ms();
	int s = 0;

	pthread_mutex_lock(&p->lock);
	if (failing_unlocked(p, now)) {
		s = (int)MAX((p->failing_until - now + 999) / 1000, 1);
		if (out)
			snprintf(out, n, "%s", p->cause);
	}
	pthread_mutex_unlock(&p->lock);
	return s;
}

int
pool_pick(struct pool *p, struct backend **out, struct backend *const *skip, int nskip)
{
	struct backend *b;
	int64_t now = now_ms();
	int r = 503;

	pthread_mutex_lock(&p->lock);
	if ((b = choose_unlocked(p, skip, nskip, now))) {
		if (b->state == B_DOWN) {
			b->retry_at = now + b->backoff;  /* one trial at a time */
			b->trial = 1;
		}
		b->refs++;
		atomic_fetch_add(&b->inflight, 1);
		atomic_fetch_add(&p->inflight, 1);
		*out = b;
		r = 0;
	} else if (nskip == 0 && failing_unlocked(p, now)) {
		r = POOL_FAILING;
	} else if (nskip == 0 && worth_waiting_unlocked(p)) {
		r = POOL_WAIT;
	}
	pthread_mutex_unlock(&p->lock);
	/* tell the scaler at once, even if this request won't wait */
	if (!b && p->conf.hold && p->conf.demand)
		p->conf.demand(p->conf.arg);
	return r;
}

int
pool_pickable(struct pool *p)
{
	struct backend *b;
	int64_t now = now_ms();
	int n = 0;

	pthread_mutex_lock(&p->lock);
	if (p->conf.max_inflight > 0 && atomic_load(&p->inflight) >= p->conf.max_inflight)
		b = NULL;
	else
		b = p->head;
	for (; b && !n; b = b->next)
		n = pickable_unlocked(p, b, now);
	pthread_mutex_unlock(&p->lock);
	return n;
}

int
pool_hold(struct pool *p)
{
	int r = 0;

	pthread_mutex_lock(&p->lock);
	if (p->waiting >= p->conf.hold_max) {
		p->hold_rejected++;
		r = -1;
	} else {
		p->waiting++;
		p->held_total++;
	}
	pthread_mutex_unlock(&p->lock);
	return r;
}

void
pool_unhold(struct pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->waiting--;
	pthread_mutex_unlock(&p->lock);
}

static void
fail_unlocked(struct backend *b)
{
	struct pool *p = b->pool;

	if (++b->fails >= p->conf.max_fails && b->state == B_UP) {
		b->state = B_DOWN;
		b->retry_at = now_ms() + b->backoff;
		close_idle_unlocked(b);
		warn("backend %s down after %d failures, retry in %d ms", b->name,
		     b->fails, b->backoff);
	} else if (b->state == B_DOWN && b->trial) {
		/* only a failed trial doubles the back-off, not requests
		 * that were already in flight when it went down */
		b->trial = 0;
		b->backoff = MIN(b->backoff * 2, BACKOFF_MAX);
		b->retry_at = now_ms() + b->backoff;
	}
}


void
pool_done(struct backend *b, int ok)
{
	struct pool *p = b->pool;
	int waiting;

	pthread_mutex_lock(&p->lock);
	atomic_fetch_sub(&b->inflight, 1);
	atomic_fetch_sub(&p->inflight, 1);
	if (ok) {
		atomic_fetch_add(&b->served, 1);
		b->fails = 0;
		b->trial = 0;
		if (b->state == B_DOWN) {
			b->state = B_UP;
			b->backoff = p->conf.backoff_ms;
			warn("backend %s up again", b->name);
		}
	} else {
		fail_unlocked(b);
	}
	waiting = p->waiting;
	unref_unlocked(b);
	pthread_mutex_unlock(&p->lock);
	ready(p, 1, waiting);  /* a slot may be free (conn_cap), or b is up again */
}

/* a cached connection is alive when it has nothing to read and no EOF */
static int
alive(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 0) == 0;
}

int
pool_conn_get(struct backend *b)
{
	struct pool *p = b->pool;
	int fd = -1;
	int64_t now = now_ms();

	pthread_mutex_lock(&p->lock);
	while (b->nidle > 0) {
		b->nidle--;
		fd = b->idle_fd[b->nidle];
		if (now - b->idle_at[b->nidle] < p->conf.idle_ms)
			break;
		close(fd);
		fd = -1;
	}
	pthread_mutex_unlock(&p->lock);
	if (fd >= 0 && !alive(fd)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

void
pool_conn_put(struct backend *b, int fd)
{
	struct pool *p = b->pool;
	pthread_mutex_lock(&p->lock);
	if (b->state == B_UP && b->nidle < p->conf.idle_max) {
		b->idle_fd[b->nidle] = fd;
		b->idle_at[b->nidle] = now_ms();
		b->nidle++;
		fd = -1;
	}
	pthread_mutex_unlock(&p->lock);
	if (fd >= 0)
		close(fd);
}

void
pool_get_stats(struct pool *p, struct pool_stats *st)
{
	struct backend *b;

	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&p->lock);
	for (b = p->head; b; b = b->next) {
		st->total++;
		switch (b->state) {
		case B_UP:       st->up++; break;
		case B_STARTING: st->starting++; break;
		case B_DOWN:     st->down++; break;
		case B_DRAINING: st->draining++; break;
		case B_PAUSED:   st->paused++; break;
		default:         break;
		}
		st->inflight += atomic_load(&b->inflight);
		st->tunnels += atomic_load(&b->tunnels);
	}
	st->waiting = p->waiting;
	st->held_total = p->held_total;
	st->hold_rejected = p->hold_rejected;
	pthread_mutex_unlock(&p->lock);
}

void
pool_foreach(struct pool *p, void (*fn)(struct backend *b, void *arg), void *arg)
{
	struct backend *b;

	pthread_mutex_lock(&p->lock);
	for (b = p->head; b; b = b->next)
		fn(b, arg);
	pthread_mutex_unlock(&p->lock);
}

int
pool_static(struct pool *p, struct backend **out, int max)
{
	struct backend *b;
	int n = 0;

	pthread_mutex_lock(&p->lock);
	for (b = p->head; b && n < max; b = b->next) {
		if (!b->dynamic) {
			b->refs++;
			out[n++] = b;
		}
	}
	pthread_mutex_unlock(&p->lock);
	return n;
}

void
pool_wake_all(struct pool *p)
{
	int waiting;

	pthread_mutex_lock(&p->lock);
	p->woken = 1;
	waiting = p->waiting;
	pthread_mutex_unlock(&p->lock);
	ready(p, -1, waiting);
}

void
pool_expire_idle(struct pool *p)
{
	struct backend *b;
	int64_t now = now_ms();
	int i, j;

	pthread_mutex_lock(&p->lock);
	for (b = p->head; b; b = b->next) {
		for (i = j = 0; i < b->nidle; i++) {
			if (now - b->idle_at[i] >= p->conf.idle_ms) {
				close(b->idle_fd[i]);
				continue;
			}
			b->idle_fd[j] = b->idle_fd[i];
			b->idle_at[j++] = b->idle_at[i];
		}
		b->nidle = j;
	}
	pthread_mutex_unlock(&p->lock);
}
