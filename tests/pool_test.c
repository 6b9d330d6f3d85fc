/* See LICENSE file for copyright and license details. */
/*
 * pool.c unit tests. Built by the Makefile with ASan+UBSan; the concurrent
 * test is also meant for a TSan build:
 *
 *   cc -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE -g -O1 -fsanitize=thread -I. \
 *      -o /tmp/pool_tsan tests/pool_test.c pool.c util.c -lcmocka -pthread && /tmp/pool_tsan
 *
 * Every test calls pinit() for a fresh pool P with the conf it needs and
 * removes the backends it added (each test's teardown checks the list is
 * empty); a test that needs two pools makes the second itself. Health and hold tests sleep for
 * real (the pool reads now_ms() itself), a few tens of ms each.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "pool.h"
#include "util.h"

#define PROMPT_MS 200  /* a woken pick must return within this */

static void
msleep(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static struct pool *P;   /* the pool under test */

/* replaces P with a fresh pool */
static void
pinit(const struct pool_conf *c)
{
	pool_free(P);
	P = pool_new(c);
	assert_non_null(P);
}

static struct pool_conf
conf_base(void)
{
	struct pool_conf c = {
		.balance = BAL_LEAST, .max_fails = 3, .backoff_ms = 50, .idle_max = 4,
		.idle_ms = 10000, .hold = 0, .hold_max = 8, .conn_cap = 0, .demand = NULL,
	};

	return c;
}

/* adds 127.0.0.1:8000+i in state st */
static struct backend *
add(int i, enum backend_state st)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct backend *b;
	char name[32];

	memset(&ss, 0, sizeof(ss));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(8000 + i);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	snprintf(name, sizeof(name), "127.0.0.1:%d", 8000 + i);
	b = pool_add(P, name, NULL, &ss, sizeof(*sin), st);
	assert_non_null(b);
	return b;
}

static int
pick(struct backend **out)
{
	return pool_pick(P, out, NULL, 0);
}

static void
collect(struct backend *b, void *arg)
{
	struct backend **left = arg;

	for (int i = 0; i < 16; i++) {
		if (!left[i]) {
			left[i] = b;
			return;
		}
	}
}

/* teardown: the test removed what it added; leftovers are removed so the
 * next test starts clean, and fail this one */
static int
check_empty(void **state)
{
	struct backend *left[16] = { 0 };
	struct pool_stats st;

	(void)state;
	pool_get_stats(P, &st);
	pool_foreach(P, collect, left);
	for (int i = 0; i < 16 && left[i]; i++)
		pool_remove(left[i]);
	assert_int_equal(st.total, 0);
	assert_int_equal(st.inflight, 0);
	assert_int_equal(st.waiting, 0);
	return 0;
}

/* the pool closed its end of a socketpair: the peer reads EOF */
static int
peer_sees_eof(int peer)
{
	char c;

	return recv(peer, &c, 1, MSG_DONTWAIT) == 0;
}

static int
fd_closed(int fd)
{
	return fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

/* demand callback: counts calls and checks the pool lock is not held */
static atomic_int demand_calls;

static void
demand(void *arg)
{
	struct pool_stats st;

	(void)arg;
	pool_get_stats(P, &st);  /* deadlocks if called with the lock held */
	atomic_fetch_add(&demand_calls, 1);
}

/* ready callback: records calls and checks the pool lock is not held */
static atomic_int ready_calls, ready_last;

static void
ready(void *arg, int n)
{
	struct pool_stats st;

	(void)arg;
	pool_get_stats(P, &st);  /* deadlocks if called with the lock held */
	atomic_store(&ready_last, n);
	atomic_fetch_add(&ready_calls, 1);
}

/* a held request's cycle as the proxy runs it: POOL_WAIT, then a hold */
static void
hold_one(void)
{
	struct backend *got;

	assert_int_equal(pool_pick(P, &got, NULL, 0), POOL_WAIT);
	assert_int_equal(pool_hold(P), 0);
}

static void
test_pick_done(void **state)
{
	struct pool_conf c = conf_base();
	struct sockaddr_storage ss = { .ss_family = AF_INET };
	struct backend *b, *d, *got = NULL;
	struct pool_stats st;

	(void)state;
	pinit(&c);
	b = add(0, B_UP);
	assert_string_equal(b->name, "127.0.0.1:8000");
	assert_string_equal(b->id, "");
	assert_int_equal(b->dynamic, 0);
	assert_int_equal(b->state, B_UP);
	assert_int_equal(b->refs, 1);
	assert_int_equal(b->backoff, 50);

	/* pick raises in-flight and takes a reference; done drops both */
	assert_int_equal(pick(&got), 0);
	assert_ptr_equal(got, b);
	assert_int_equal(atomic_load(&b->inflight), 1);
	assert_int_equal(b->refs, 2);
	pool_get_stats(P, &st);
	assert_int_equal(st.total, 1);
	assert_int_equal(st.up, 1);
	assert_int_equal(st.inflight, 1);
	pool_done(b, 1);
	assert_int_equal(atomic_load(&b->inflight), 0);
	assert_int_equal(b->refs, 1);
	assert_int_equal(atomic_load(&b->served), 1);

	/* a failed pick is not served */
	assert_int_equal(pick(&got), 0);
	pool_done(got, 0);
	assert_int_equal(atomic_load(&b->served), 1);
	assert_int_equal(b->fails, 1);

	/* dynamic backends carry a container id; the name is truncated */
	d = pool_add(P, "0123456789012345678901234567890123456789012345678901234567890123456789xyz",
	             "abcdef", &ss, sizeof(ss), B_STARTING);
	assert_non_null(d);
	assert_int_equal(d->dynamic, 1);
	assert_string_equal(d->id, "abcdef");
	assert_int_equal(strlen(d->name), sizeof(d->name) - 1);
	pool_get_stats(P, &st);
	assert_int_equal(st.total, 2);
	assert_int_equal(st.starting, 1);
	pool_remove(d);
	pool_ref(b);
	pool_remove(b);
	pool_remove(b);  /* not in the list any more (kept by our ref): ignored */
	pool_unref(b);
}

static const struct {
	int load[3];  /* picks held on each backend first */
	int want;     /* the backend every next pick must choose */
} least_cases[] = {
	{ { 0, 1, 1 }, 0 },
	{ { 1, 0, 1 }, 1 },
	{ { 2, 2, 1 }, 2 },
	{ { 3, 0, 5 }, 1 },
	{ { 4, 2, 3 }, 1 },
	{ { 9, 8, 7 }, 2 },
};

static void
test_least_outstanding(void **state)
{
	struct pool_conf c = conf_base();
	struct backend *b[3], *held[32], *skip[2], *got;
	int i, j, k, n, count[3];

	(void)state;
	pinit(&c);
	for (i = 0; i < 3; i++)
		b[i] = add(i, B_UP);
	for (size_t t = 0; t < LEN(least_cases); t++) {
		/* load backend i by skipping the others */
		n = 0;
		for (i = 0; i < 3; i++) {
			skip[0] = b[(i + 1) % 3];
			skip[1] = b[(i + 2) % 3];
			for (k = 0; k < least_cases[t].load[i]; k++) {
				assert_int_equal(pool_pick(P, &held[n], skip, 2), 0);
				assert_ptr_equal(held[n], b[i]);
				n++;
			}
		}
		/* three picks so the round-robin tie breaker starts everywhere */
		for (j = 0; j < 3; j++) {
			assert_int_equal(pick(&got), 0);
			if (got != b[least_cases[t].want])
				fail_msg("case %zu: picked %s", t, got->name);
			pool_done(got, 1);
		}
		while (n > 0)
			pool_done(held[--n], 1);
	}

	/* held picks spread: 6 open picks give 2 per backend */
	for (i = 0; i < 6; i++)
		assert_int_equal(pick(&held[i]), 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(atomic_load(&b[i]->inflight), 2);
	memset(count, 0, sizeof(count));
	for (i = 0; i < 6; i++)
		for (j = 0; j < 3; j++)
			count[j] += held[i] == b[j];
	for (j = 0; j < 3; j++)
		assert_int_equal(count[j], 2);
	for (i = 0; i < 6; i++)
		pool_done(held[i], 1);
	for (i = 0; i < 3; i++)
		pool_remove(b[i]);
}

static const struct {
	int n;   /* backends, all up */
	int picks;
} even_cases[] = {
	{ 1, 10 }, { 2, 100 }, { 3, 300 }, { 4, 400 }, { 5, 50 },
};

/* picks one after another (nothing held): each backend gets picks/n */
static void
test_round_robin(void **state)
{
	struct pool_conf c = conf_base();
	struct backend *b[5], *got;
	int bal, i, k;

	(void)state;
	for (bal = 0; bal < NUM_BAL; bal++) {
		c.balance = bal;
		pinit(&c);
		for (size_t t = 0; t < LEN(even_cases); t++) {
			for (i = 0; i < even_cases[t].n; i++)
				b[i] = add(i, B_UP);
			for (k = 0; k < even_cases[t].picks; k++) {
				assert_int_equal(pick(&got), 0);
				pool_done(got, 1);
			}
			for (i = 0; i < even_cases[t].n; i++) {
				if (atomic_load(&b[i]->served) != even_cases[t].picks / even_cases[t].n)
					fail_msg("balance %d, case %zu: backend %d served %ld", bal, t, i,
					         atomic_load(&b[i]->served));
				pool_remove(b[i]);
			}
		}
	}

	/* round-robin also spreads open picks: 3 per backend over 9 */
	c.balance = BAL_RR;
	pinit(&c);
	struct backend *held[9];
	for (i = 0; i < 3; i++)
		b[i] = add(i, B_UP);
	for (k = 0; k < 9; k++)
		assert_int_equal(pick(&held[k]), 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(atomic_load(&b[i]->inflight), 3);
	for (k = 0; k < 9; k++)
		pool_done(held[k], 1);
	for (i = 0; i < 3; i++)
		pool_remove(b[i]);
}

/* the same unequal in-flight load under both policies: 4 open picks on
 * backend 0, none on 1, 2 on 2. least sends every next pick to backend 1;
 * rr ignores the load and gives each backend its turn, the busiest too */
static void
test_rr_vs_least(void **state)
{
	static const int load[3] = { 4, 0, 2 };
	struct pool_conf c = conf_base();
	struct backend *b[3], *held[8], *skip[2], *got;
	int bal, i, k, n, got_n[NUM_BAL][3];

	(void)state;
	memset(got_n, 0, sizeof(got_n));
	for (bal = 0; bal < NUM_BAL; bal++) {
		c.balance = bal;
		pinit(&c);
		for (i = 0; i < 3; i++)
			b[i] = add(i, B_UP);
		n = 0;
		for (i = 0; i < 3; i++) {
			skip[0] = b[(i + 1) % 3];
			skip[1] = b[(i + 2) % 3];
			for (k = 0; k < load[i]; k++)
				assert_int_equal(pool_pick(P, &held[n++], skip, 2), 0);
		}
		/* six picks, each done at once: the load stays as it was */
		for (k = 0; k < 6; k++) {
			assert_int_equal(pick(&got), 0);
			for (i = 0; i < 3; i++)
				got_n[bal][i] += got == b[i];
			pool_done(got, 1);
		}
		while (n > 0)
			pool_done(held[--n], 1);
		for (i = 0; i < 3; i++)
			pool_remove(b[i]);
	}
	for (i = 0; i < 3; i++) {
		if (got_n[BAL_LEAST][i] != (i == 1 ? 6 : 0))
			fail_msg("least: backend %d (load %d) got %d of 6 picks", i, load[i],
			         got_n[BAL_LEAST][i]);
		if (got_n[BAL_RR][i] != 2)
			fail_msg("rr: backend %d (load %d) got %d of 6 picks", i, load[i],
			         got_n[BAL_RR][i]);
	}
}

/*
 * With one backend out of selection, round-robin shares the picks evenly
 * among the others. A cursor taken modulo all backends would give the
 * backend after an unpickable one its slot too: with [up, draining, up]
 * the last one would get 2/3 of the picks.
 */
static void
test_round_robin_skips_evenly(void **state)
{
	struct pool_conf c = conf_base();
	struct backend *b[3], *got;
	int i, k;

	(void)state;
	c.balance = BAL_RR;
	pinit(&c);
	b[0] = add(0, B_UP);
	b[1] = add(1, B_DRAINING);
	b[2] = add(2, B_UP);
	for (k = 0; k < 300; k++) {
		assert_int_equal(pick(&got), 0);
		pool_done(got, 1);
	}
	long s0 = atomic_load(&b[0]->served), s2 = atomic_load(&b[2]->served);
	for (i = 0; i < 3; i++)
		pool_remove(b[i]);
	assert_int_equal(s0 + s2, 300);
	if (s0 != 150 || s2 != 150)
		fail_msg("round-robin over [up, draining, up]: %ld and %ld of 300 picks", s0, s2);
}

static const struct {
	int skip[3];
	int nskip;
	int allowed;  /* bit i: backend i may be picked; 0: 503 */
} skip_cases[] = {
	{ { 0 }, 1, 06 },
	{ { 1 }, 1, 05 },
	{ { 2 }, 1, 03 },
	{ { 0, 2 }, 2, 02 },
	{ { 2, 1 }, 2, 01 },
	{ { 1, 1 }, 2, 05 },
	{ { 0, 1, 2 }, 3, 0 },
};

static void
test_skip(void **state)
{
	struct pool_conf c = conf_base();
	struct backend *b[3], *skip[3], *got;
	int i, k, seen;

	(void)state;
	c.hold = 1;  /* a pick with a skip list is never told to wait */
	pinit(&c);
	for (i = 0; i < 3; i++)
		b[i] = add(i, B_UP);
	for (size_t t = 0; t < LEN(skip_cases); t++) {
		for (i = 0; i < skip_cases[t].nskip; i++)
			skip[i] = b[skip_cases[t].skip[i]];
		seen = 0;
		for (k = 0; k < 6; k++) {
			got = NULL;
			int r = pool_pick(P, &got, skip, skip_cases[t].nskip);
			if (!skip_cases[t].allowed) {
				assert_int_equal(r, 503);
				continue;
			}
			assert_int_equal(r, 0);
			for (i = 0; i < 3 && got != b[i]; i++)
				;
			assert_true(i < 3);
			if (!(skip_cases[t].allowed & 1 << i))
				fail_msg("case %zu: picked skipped backend %d", t, i);
			seen |= 1 << i;
			pool_done(got, 1);
		}
		assert_int_equal(seen, skip_cases[t].allowed);
	}
	for (i = 0; i < 3; i++)
		pool_remove(b[i]);
}

static const struct {
	const char *name;
	int n;
	enum backend_state st[3];
	int want;  /* index picked every time, -1: 503 */
} state_cases[] = {
	{ "empty",            0, { 0 },                              -1 },
	{ "starting",         1, { B_STARTING },                     -1 },
	{ "draining",         1, { B_DRAINING },                     -1 },
	{ "starting draining", 2, { B_STARTING, B_DRAINING },        -1 },
	{ "starting up",      2, { B_STARTING, B_UP },                1 },
	{ "up draining",      2, { B_UP, B_DRAINING },                0 },
	{ "draining up starting", 3, { B_DRAINING, B_UP, B_STARTING }, 1 },
	{ "paused",           1, { B_PAUSED },                       -1 },
	{ "paused up",        2, { B_PAUSED, B_UP },                  1 },
};

/* hold 0: no ready backend answers 503, never POOL_WAIT */
static void
test_states(void **state)
{
	struct pool_conf c = conf_base();
	struct backend *b[3], *got;
	struct pool_stats st;
	int i, k, r;

	(void)state;
	c.demand = demand;
	pinit(&c);
	atomic_store(&demand_calls, 0);
	for (size_t t = 0; t < LEN(state_cases); t++) {
		for (i = 0; i < state_cases[t].n; i++)
			b[i] = add(i, state_cases[t].st[i]);
		for (k = 0; k < 6; k++) {
			got = NULL;
			r = pool_pick(P, &got, NULL, 0);
			if (state_cases[t].want < 0) {
				if (r != 503)
					fail_msg("%s: got %d", state_cases[t].name, r);
				continue;
			}
			assert_int_equal(r, 0);
			if (got != b[state_cases[t].want])
				fail_msg("%s: picked %s", state_cases[t].name, got->name);
			pool_done(got, 1);
		}
		pool_get_stats(P, &st);
		assert_int_equal(st.total, state_cases[t].n);
		for (i = 0; i < state_cases[t].n; i++)
			pool_remove(b[i]);
	}
	assert_int_equal(atomic_load(&demand_calls), 0);  /* no hold, no demand */
}

/* max_fails consecutive failures mark a backend down; one trial after the back-off */
static void
test_passive_health(void **state)
{
	struct pool_conf c = conf_base();
	struct backend *b, *other, *got, *trial;
	struct pool_stats st;
	int i;

	(void)state;
	pinit(&c);
	b = add(0, B_UP);

	/* a success resets the count */
	for (i = 0; i < 2; i++) {
		assert_int_equal(pick(&got), 0);
		pool_done(got, 0);
	}
	assert_int_equal(pick(&got), 0);
	pool_done(got, 1);
	assert_int_equal(b->fails, 0);
	assert_int_equal(b->state, B_UP);

	/* the third consecutive failure marks it down */
	for (i = 0; i < 2; i++) {
		assert_int_equal(pick(&got), 0);
		pool_done(got, 0);
	}
	assert_int_equal(b->state, B_UP);
	assert_int_equal(pick(&got), 0);
	pool_done(got, 0);
	assert_int_equal(b->state, B_DOWN);
	pool_get_stats(P, &st);
	assert_int_equal(st.down, 1);
	assert_int_equal(st.up, 0);

	/* not picked during the back-off, another backend is */
	assert_int_equal(pick(&got), 503);
	other = add(1, B_UP);
	for (i = 0; i < 4; i++) {
		assert_int_equal(pick(&got), 0);
		assert_ptr_equal(got, other);
		pool_done(got, 1);
	}
	pool_remove(other);

	/* after the back-off: one trial at a time */
	msleep(c.backoff_ms + 10);
	assert_int_equal(pick(&trial), 0);
	assert_ptr_equal(trial, b);
	assert_int_equal(b->state, B_DOWN);
	assert_int_equal(pick(&got), 503);
	pool_done(trial, 1);
	assert_int_equal(b->state, B_UP);
	assert_int_equal(b->fails, 0);
	assert_int_equal(b->backoff, c.backoff_ms);
	for (i = 0; i < 4; i++) {
		assert_int_equal(pick(&got), 0);
		pool_done(got, 1);
	}
	pool_remove(b);
}

/* a failed trial doubles the back-off, up to 30 s; success resets it */
/* makes b's next trial due now, picks it and fails it */
static void
failed_trial(struct backend *b)
{
	struct backend *got;

	b->retry_at = 0;
	assert_int_equal(pick(&got), 0);
	assert_ptr_equal(got, b);
	pool_done(got, 0);
}

static void
test_backoff_doubles(void **state)
{
	struct pool_conf c = conf_base();
	struct backend *b, *got;
	int64_t t0;

	(void)state;
	c.max_fails = 1;
	c.backoff_ms = 30;
	pinit(&c);
	b = add(0, B_UP);
	assert_int_equal(pick(&got), 0);
	t0 = now_ms();
	pool_done(got, 0);
	assert_int_equal(b->state, B_DOWN);
	assert_int_equal(b->backoff, 30);
	assert_in_range(b->retry_at - t0, 30, 32);

	/* trial fails: 60 ms now */
	msleep(35);
	assert_int_equal(pick(&got), 0);
	t0 = now_ms();
	pool_done(got, 0);
	assert_int_equal(b->backoff, 60);
	assert_in_range(b->retry_at - t0, 60, 62);
	assert_int_equal(pick(&got), 503);
	msleep(65);
	assert_int_equal(pick(&got), 0);
	pool_done(got, 0);
	assert_int_equal(b->backoff, 120);

	/* pool_set_state(B_UP) resets like a successful trial */
	pool_set_state(b, B_UP);
	assert_int_equal(b->backoff, 30);
	assert_int_equal(b->fails, 0);
	pool_remove(b);

	/* the cap: no sleeping, each trial made due at once */
	c.backoff_ms = 9000;
	pinit(&c);
	b = add(0, B_UP);
	assert_int_equal(pick(&got), 0);
	pool_done(got, 0);
	assert_int_equal(b->state, B_DOWN);
	assert_int_equal(b->backoff, 9000);
	failed_trial(b);
	assert_int_equal(b->backoff, 18000);
	failed_trial(b);
	assert_int_equal(b->backoff, 30000);
	t0 = now_ms();
	failed_trial(b);
	assert_int_equal(b->backoff, 30000);
	assert_in_range(b->retry_at - t0, 30000, 30002);
	pool_remove(b);
}

/*
 * Requests that were already in flight when the backend went down are not
 * trials; their failures do not stretch the back-off. Doubling it for
 * every failure while B_DOWN would send one outage under load (10 open
 * requests, max_fails 3) from a first back-off of 50 ms to 6.4 s.
 */
static void
test_backoff_burst(void **state)
{
	struct pool_conf c = conf_base();
	struct backend *b, *held[10];
	int i;

	(void)state;
	pinit(&c);
	b = add(0, B_UP);
	for (i = 0; i < 10; i++)
		assert_int_equal(pick(&held[i]), 0);
	for (i = 0; i < 10; i++)
		pool_done(held[i], 0);
	assert_int_equal(b->state, B_DOWN);
	int backoff = b->backoff;
	pool_remove(b);
	if (backoff != c.backoff_ms)
		fail_msg("10 in-flight failures: first back-off %d ms, want %d", backoff,
		         c.backoff_ms);
}

/* removing a backend a pick holds: freed by the last pool_done (ASan checks) */
static void
test_remove_held(void **state)
{
	struct pool_conf c = conf_base();
	struct backend *b, *other, *got, *got2;
	struct pool_stats st;
	int sv[2];

	(void)state;
	pinit(&c);
	b = add(0, B_UP);
	other = add(1, B_UP);
	assert_int_equal(pool_pick(P, &got, &other, 1), 0);
	assert_ptr_equal(got, b);
	assert_int_equal(pool_pick(P, &got2, &other, 1), 0);
	assert_ptr_equal(got2, b);
	assert_int_equal(b->refs, 3);
	pool_remove(b);
	assert_int_equal(b->state, B_REMOVED);
	assert_int_equal(b->refs, 2);
	pool_get_stats(P, &st);
	assert_int_equal(st.total, 1);
	assert_int_equal(st.inflight, 0);  /* only listed backends count */

	/* a removed backend stays removed, is never picked, caches nothing */
	pool_set_state(b, B_UP);
	assert_int_equal(b->state, B_REMOVED);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pick(&got2), 0);
		assert_ptr_equal(got2, other);
		pool_done(got2, 1);
	}
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pool_conn_put(b, sv[0]);
	assert_true(peer_sees_eof(sv[1]));
	close(sv[1]);
	assert_int_equal(pool_conn_get(b), -1);

	/* both picks end, a failure and a success; the last one frees b */
	pool_done(got, 0);
	pool_done(b, 1);
	pool_remove(other);
}

static void
test_idle_cache(void **state)
{
	struct pool_conf c = conf_base();
	struct backend *b, *got;
	int sv[4][2], i;

	(void)state;
	c.idle_max = 2;
	c.idle_ms = 30;
	c.max_fails = 1;
	pinit(&c);
	b = add(0, B_UP);

	/* put then get: the same fd, once */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[0]), 0);
	pool_conn_put(b, sv[0][0]);
	assert_int_equal(b->nidle, 1);
	assert_int_equal(pool_conn_get(b), sv[0][0]);
	assert_int_equal(pool_conn_get(b), -1);
	assert_false(peer_sees_eof(sv[0][1]));

	/* peer closed: fails the alive check, closed by the pool */
	pool_conn_put(b, sv[0][0]);
	close(sv[0][1]);
	assert_int_equal(pool_conn_get(b), -1);
	assert_true(fd_closed(sv[0][0]));

	/* unexpected bytes from the peer: not alive either */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[0]), 0);
	pool_conn_put(b, sv[0][0]);
	assert_int_equal(write(sv[0][1], "x", 1), 1);
	assert_int_equal(pool_conn_get(b), -1);
	assert_true(fd_closed(sv[0][0]));
	close(sv[0][1]);

	/* cache full: the third is closed at once */
	for (i = 0; i < 3; i++) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[i]), 0);
		pool_conn_put(b, sv[i][0]);
	}
	assert_int_equal(b->nidle, 2);
	assert_false(peer_sees_eof(sv[0][1]));
	assert_false(peer_sees_eof(sv[1][1]));
	assert_true(peer_sees_eof(sv[2][1]));

	/* expiry via idle_ms: get closes the stale ones */
	msleep(c.idle_ms + 10);
	assert_int_equal(pool_conn_get(b), -1);
	assert_int_equal(b->nidle, 0);
	for (i = 0; i < 3; i++) {
		assert_true(peer_sees_eof(sv[i][1]));
		close(sv[i][1]);
	}

	/* pool_expire_idle closes the old one, keeps the fresh one */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[0]), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[1]), 0);
	pool_conn_put(b, sv[0][0]);
	msleep(c.idle_ms + 10);
	pool_conn_put(b, sv[1][0]);
	pool_expire_idle(P);
	assert_int_equal(b->nidle, 1);
	assert_true(peer_sees_eof(sv[0][1]));
	assert_false(peer_sees_eof(sv[1][1]));
	close(sv[0][1]);

	/* going down closes the cache; a backend not up caches nothing */
	assert_int_equal(pick(&got), 0);
	pool_done(got, 0);
	assert_int_equal(b->state, B_DOWN);
	assert_int_equal(b->nidle, 0);
	assert_true(peer_sees_eof(sv[1][1]));
	close(sv[1][1]);
	static const enum backend_state notup[] = { B_DOWN, B_STARTING, B_DRAINING, B_PAUSED };
	for (size_t t = 0; t < LEN(notup); t++) {
		pool_set_state(b, notup[t]);
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[0]), 0);
		pool_conn_put(b, sv[0][0]);
		assert_int_equal(b->nidle, 0);
		assert_true(peer_sees_eof(sv[0][1]));
		close(sv[0][1]);
	}

	/* draining and removal close cached connections */
	pool_set_state(b, B_UP);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[0]), 0);
	pool_conn_put(b, sv[0][0]);
	pool_set_state(b, B_DRAINING);
	assert_true(peer_sees_eof(sv[0][1]));
	close(sv[0][1]);
	/* and so does pausing: a frozen backend must not be handed out */
	pool_set_state(b, B_UP);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[0]), 0);
	pool_conn_put(b, sv[0][0]);
	assert_int_equal(b->nidle, 1);
	pool_set_state(b, B_PAUSED);
	assert_int_equal(b->nidle, 0);
	assert_true(peer_sees_eof(sv[0][1]));
	close(sv[0][1]);
	pool_set_state(b, B_UP);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[0]), 0);
	pool_conn_put(b, sv[0][0]);
	pool_remove(b);
	assert_true(peer_sees_eof(sv[0][1]));
	close(sv[0][1]);
}

/* hold 1: a pick that finds nothing says POOL_WAIT and tells the scaler;
 * a backend that comes up calls ready for every held request */
static void
test_hold_ready(void **state)
{
	struct pool_conf c = conf_base();
	struct backend *b, *got;
	struct pool_stats st0, st;

	(void)state;
	c.hold = 1;
	c.hold_max = 4;
	c.demand = demand;
	c.ready = ready;
	pinit(&c);
	pool_get_stats(P, &st0);

	/* a starting backend becomes ready */
	atomic_store(&demand_calls, 0);
	atomic_store(&ready_calls, 0);
	b = add(0, B_STARTING);
	hold_one();
	assert_int_equal(atomic_load(&demand_calls), 1);
	pool_get_stats(P, &st);
	assert_int_equal(st.waiting, 1);
	assert_int_equal(atomic_load(&ready_calls), 0);
	pool_set_state(b, B_UP);
	assert_int_equal(atomic_load(&ready_calls), 1);
	assert_int_equal(atomic_load(&ready_last), -1);
	assert_int_equal(pick(&got), 0);
	assert_ptr_equal(got, b);
	pool_unhold(P);
	pool_done(got, 1);
	pool_remove(b);

	/* empty pool, a backend is added up */
	hold_one();
	b = add(1, B_UP);
	assert_int_equal(atomic_load(&ready_calls), 2);  /* the add */
	assert_int_equal(atomic_load(&ready_last), -1);
	assert_int_equal(pick(&got), 0);
	pool_unhold(P);
	pool_done(got, 1);
	pool_remove(b);

	/* nobody held: nobody is told */
	atomic_store(&ready_calls, 0);
	b = add(2, B_UP);
	assert_int_equal(atomic_load(&ready_calls), 0);
	pool_remove(b);

	pool_get_stats(P, &st);
	assert_int_equal(st.waiting, 0);
	assert_int_equal(st.held_total - st0.held_total, 2);
	assert_int_equal(st.hold_rejected, st0.hold_rejected);
}

/* an app failing to start: held requests are all resumed at once, picks
 * say POOL_FAILING with the cause until the back-off ends (the next pick
 * waits again and tells the scaler), an up backend is picked all the same,
 * and clearing ends it */
static void
test_failing(void **state)
{
	struct pool_conf c = conf_base();
	struct backend *b, *got;
	char cause[POOL_CAUSE];

	(void)state;
	c.hold = 1;
	c.demand = demand;
	c.ready = ready;
	pinit(&c);
	atomic_store(&ready_calls, 0);
	atomic_store(&demand_calls, 0);
	b = add(0, B_STARTING);
	assert_int_equal(pool_failing(P, cause, sizeof(cause)), 0);
	hold_one();
	hold_one();
	pool_set_failing(P, "app \"web\" failed to start: exited with code 1", now_ms() + 1500);
	assert_int_equal(atomic_load(&ready_calls), 1);
	assert_int_equal(atomic_load(&ready_last), -1);
	assert_int_equal(pool_pick(P, &got, NULL, 0), POOL_FAILING);
	assert_int_equal(pool_failing(P, cause, sizeof(cause)), 2);
	assert_string_equal(cause, "app \"web\" failed to start: exited with code 1");
	assert_int_equal(pool_failing(P, NULL, 0), 2);
	assert_int_equal(pool_pick(P, &got, &b, 1), 503);  /* a retry is never held */
	assert_int_equal(atomic_load(&demand_calls), 4);
	pool_unhold(P);
	pool_unhold(P);

	/* an up backend is picked while failing */
	pool_set_state(b, B_UP);
	assert_int_equal(pick(&got), 0);
	pool_done(got, 1);
	pool_set_state(b, B_STARTING);
	assert_int_equal(pool_pick(P, &got, NULL, 0), POOL_FAILING);

	/* the back-off ends: the next pick waits for the new try */
	pool_set_failing(P, "app \"web\" failed to start: x", now_ms() + 30);
	msleep(40);
	assert_int_equal(pool_failing(P, cause, sizeof(cause)), 0);
	assert_int_equal(pool_pick(P, &got, NULL, 0), POOL_WAIT);

	/* cleared */
	pool_set_failing(P, "app \"web\" failed to start: x", now_ms() + 10000);
	assert_int_equal(pool_pick(P, &got, NULL, 0), POOL_FAILING);
	atomic_store(&ready_calls, 0);
	pool_set_failing(P, NULL, 0);
	assert_int_equal(atomic_load(&ready_calls), 0);
	assert_int_equal(pool_failing(P, cause, sizeof(cause)), 0);
	assert_int_equal(pool_pick(P, &got, NULL, 0), POOL_WAIT);
	pool_remove(b);
}

/* hold 1: POOL_WAIT at once, never a wait inside the pool; hold 0, or a
 * skip list, or a ready backend: no POOL_WAIT */
static void
test_hold_wait(void **state)
{
	struct pool_conf c = conf_base();
	struct backend *b, *got;
	int64_t t0;

	(void)state;
	c.hold = 1;
	c.demand = demand;
	pinit(&c);
	atomic_store(&demand_calls, 0);
	b = add(0, B_STARTING);
	t0 = now_ms();
	assert_int_equal(pool_pick(P, &got, NULL, 0), POOL_WAIT);
	assert_true(now_ms() - t0 < 50);
	assert_int_equal(atomic_load(&demand_calls), 1);
	assert_int_equal(pool_pick(P, &got, &b, 1), 503);  /* a retry is never held */
	assert_int_equal(atomic_load(&demand_calls), 2);
	assert_false(pool_pickable(P));

	/* a ready backend: no demand */
	pool_set_state(b, B_UP);
	assert_true(pool_pickable(P));
	assert_int_equal(pick(&got), 0);
	pool_done(got, 1);
	assert_int_equal(atomic_load(&demand_calls), 2);
	pool_remove(b);

	/* hold 0: 503, and the scaler is not told */
	c.hold = 0;
	pinit(&c);
	b = add(0, B_STARTING);
	assert_int_equal(pool_pick(P, &got, NULL, 0), 503);
	assert_int_equal(atomic_load(&demand_calls), 2);
	pool_remove(b);
}

/* more than hold_max held: pool_hold says no */
static void
test_hold_max(void **state)
{
	struct pool_conf c = conf_base();
	struct pool_stats st0, st;

	(void)state;
	c.hold = 1;
	c.hold_max = 1;
	pinit(&c);
	pool_get_stats(P, &st0);
	hold_one();
	assert_int_equal(pool_hold(P), -1);
	pool_get_stats(P, &st);
	assert_int_equal(st.hold_rejected - st0.hold_rejected, 1);
	assert_int_equal(st.waiting, 1);
	assert_int_equal(st.held_total - st0.held_total, 1);
	pool_unhold(P);

	/* hold_max 0 (a reload): nobody may wait; the counters carry on */
	c.hold_max = 0;
	pool_set_conf(P, &c);
	assert_int_equal(pool_hold(P), -1);
	pool_get_stats(P, &st);
	assert_int_equal(st.hold_rejected - st0.hold_rejected, 2);
	assert_int_equal(st.waiting, 0);
}

/* max_inflight 2 caps the whole pool (the app): a third pick waits, a done
 * lets one go; another pool is not affected by either */
static void
test_max_inflight_two_pools(void **state)
{
	struct pool_conf c = conf_base(), c2 = conf_base();
	struct backend *b, *b2, *x[3], *other, *ob;
	struct pool *p2;
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

	(void)state;
	c.max_inflight = 2;
	c.ready = ready;
	pinit(&c);
	b = add(0, B_UP);
	b2 = add(1, B_UP);
	assert_non_null(p2 = pool_new(&c2));
	memset(&ss, 0, sizeof(ss));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(9000);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_non_null(ob = pool_add(p2, "127.0.0.1:9000", NULL, &ss, sizeof(*sin), B_UP));
	assert_ptr_equal(ob->pool, p2);
	assert_int_equal(pick(&x[0]), 0);
	assert_int_equal(pick(&x[1]), 0);
	assert_int_equal(pick(&x[2]), POOL_WAIT);
	assert_int_equal(pool_pickable(P), 0);
	assert_int_equal(pool_pick(p2, &other, NULL, 0), 0);  /* the other app goes on */
	assert_ptr_equal(other, ob);
	pool_done(other, 1);
	atomic_store(&ready_calls, 0);
	pool_hold(P);
	pool_done(x[0], 1);
	assert_int_equal(atomic_load(&ready_calls), 1);
	pool_unhold(P);
	assert_int_equal(pool_pickable(P), 1);
	assert_int_equal(pick(&x[2]), 0);
	pool_done(x[1], 1);
	pool_done(x[2], 1);
	pool_remove(b);
	pool_remove(b2);
	pool_free(p2);
}

/* conn_cap 1: a second pick is told to wait; the first pool_done calls
 * ready for one held request */
static void
test_conn_cap(void **state)
{
	struct pool_conf c = conf_base();
	struct backend *b, *b2, *first, *second, *got;
	struct pool_stats st;

	(void)state;
	c.conn_cap = 1;
	c.ready = ready;
	pinit(&c);
	b = add(0, B_UP);
	assert_int_equal(pick(&first), 0);
	hold_one();
	assert_false(pool_pickable(P));
	pool_get_stats(P, &st);
	assert_int_equal(st.waiting, 1);
	assert_int_equal(st.inflight, 1);
	atomic_store(&ready_calls, 0);
	pool_done(first, 1);
	assert_int_equal(atomic_load(&ready_calls), 1);
	assert_int_equal(atomic_load(&ready_last), 1);
	assert_int_equal(pick(&got), 0);
	assert_ptr_equal(got, b);
	pool_unhold(P);
	assert_int_equal(atomic_load(&b->inflight), 1);

	/* with a second backend the next pick goes there; a third is told to wait */
	b2 = add(1, B_UP);
	assert_int_equal(pick(&second), 0);
	assert_ptr_equal(second, b2);
	assert_int_equal(pool_pick(P, &first, NULL, 0), POOL_WAIT);
	pool_done(got, 1);
	pool_done(second, 1);
	pool_remove(b);
	pool_remove(b2);
}

/* 8 workers pick and end requests while a churn thread adds, removes and flips backends */
#define NWORK 8
#define NCYCLE 20000

static struct backend *cb[3];
static atomic_int churn_stop;
static atomic_long cycles_ok, cycles_503;

struct worker {
	pthread_t t;
	unsigned seed;
	long ok[3];  /* successes on cb[i] */
	int err;
};

static void *
worker_run(void *arg)
{
	struct worker *wk = arg;
	struct backend *b;
	int i, r, ok;

	for (i = 0; i < NCYCLE; i++) {
		/* POOL_WAIT: held, as the proxy would, and tried again (up to 20 ms) */
		for (int64_t until = now_ms() + 20;
		     (r = pool_pick(P, &b, NULL, 0)) == POOL_WAIT && now_ms() < until; )
			usleep(500);
		if (r == 503 || r == POOL_WAIT) {
			atomic_fetch_add(&cycles_503, 1);
			continue;
		}
		if (r != 0 || !b) {
			wk->err = 1;
			break;
		}
		ok = rand_r(&wk->seed) % 100 != 0;
		for (int k = 0; k < 3; k++)
			if (b == cb[k] && ok)
				wk->ok[k]++;
		pool_done(b, ok);
		atomic_fetch_add(&cycles_ok, 1);
	}
	return NULL;
}

static void
count_cb(struct backend *b, void *arg)
{
	(void)b;
	(*(int *)arg)++;
}

static void *
churn_run(void *arg)
{
	static const enum backend_state flip[] = { B_UP, B_UP, B_UP, B_DRAINING, B_STARTING, B_DOWN };
	unsigned seed = 7;
	struct pool_stats st;
	struct backend *d;
	int *bad = arg, n;

	while (!atomic_load(&churn_stop)) {
		d = add(3, B_STARTING);
		pool_set_state(cb[rand_r(&seed) % 3], flip[rand_r(&seed) % LEN(flip)]);
		pool_set_state(d, B_UP);
		usleep(50);
		pool_set_state(cb[rand_r(&seed) % 3], flip[rand_r(&seed) % LEN(flip)]);
		pool_get_stats(P, &st);
		n = 0;
		pool_foreach(P, count_cb, &n);
		if (st.total < 3 || st.total > 4 || n < 3 || n > 4 ||
		    st.up + st.starting + st.down + st.draining != st.total ||
		    st.inflight < 0 || st.inflight > NWORK || st.waiting < 0 || st.waiting > NWORK)
			*bad = 1;
		pool_set_state(d, B_DRAINING);
		pool_remove(d);  /* workers may still hold it */
		usleep(50);
	}
	return NULL;
}

static void
test_concurrent(void **state)
{
	struct pool_conf c = conf_base();
	struct worker wk[NWORK];
	struct pool_stats st;
	pthread_t churn;
	long ok[3] = { 0 };
	int i, k, bad = 0;

	(void)state;
	c.hold = 1;
	c.hold_max = NWORK;
	c.backoff_ms = 1;
	c.max_fails = 2;
	pinit(&c);
	for (i = 0; i < 3; i++)
		cb[i] = add(i, B_UP);
	atomic_store(&churn_stop, 0);
	atomic_store(&cycles_ok, 0);
	atomic_store(&cycles_503, 0);
	assert_int_equal(pthread_create(&churn, NULL, churn_run, &bad), 0);
	for (i = 0; i < NWORK; i++) {
		memset(&wk[i], 0, sizeof(wk[i]));
		wk[i].seed = i + 1;
		assert_int_equal(pthread_create(&wk[i].t, NULL, worker_run, &wk[i]), 0);
	}
	for (i = 0; i < NWORK; i++) {
		assert_int_equal(pthread_join(wk[i].t, NULL), 0);
		assert_int_equal(wk[i].err, 0);
		for (k = 0; k < 3; k++)
			ok[k] += wk[i].ok[k];
	}
	atomic_store(&churn_stop, 1);
	assert_int_equal(pthread_join(churn, NULL), 0);
	assert_int_equal(bad, 0);
	assert_int_equal(atomic_load(&cycles_ok) + atomic_load(&cycles_503), (long)NWORK * NCYCLE);
	assert_true(atomic_load(&cycles_ok) > (long)NWORK * NCYCLE / 2);

	pool_get_stats(P, &st);
	assert_int_equal(st.total, 3);
	assert_int_equal(st.inflight, 0);
	assert_int_equal(st.waiting, 0);
	assert_int_equal(st.up + st.starting + st.down + st.draining, 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(atomic_load(&cb[i]->inflight), 0);
		assert_int_equal(cb[i]->refs, 1);
		assert_int_equal(atomic_load(&cb[i]->served), ok[i]);
		pool_remove(cb[i]);
	}
}

/* shutdown: every held request is told to go on, and no pick is told to
 * wait afterwards (runs last) */
static void
test_wake_all(void **state)
{
	struct pool_conf c = conf_base();
	struct backend *got;

	(void)state;
	c.hold = 1;
	c.ready = ready;
	pinit(&c);
	hold_one();
	hold_one();
	atomic_store(&ready_calls, 0);
	pool_wake_all(P);
	assert_int_equal(atomic_load(&ready_calls), 1);
	assert_int_equal(atomic_load(&ready_last), -1);
	assert_int_equal(pool_pick(P, &got, NULL, 0), 503);
	pool_unhold(P);
	pool_unhold(P);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_pick_done, check_empty),
		cmocka_unit_test_teardown(test_least_outstanding, check_empty),
		cmocka_unit_test_teardown(test_round_robin, check_empty),
		cmocka_unit_test_teardown(test_rr_vs_least, check_empty),
		cmocka_unit_test_teardown(test_round_robin_skips_evenly, check_empty),
		cmocka_unit_test_teardown(test_skip, check_empty),
		cmocka_unit_test_teardown(test_states, check_empty),
		cmocka_unit_test_teardown(test_passive_health, check_empty),
		cmocka_unit_test_teardown(test_backoff_doubles, check_empty),
		cmocka_unit_test_teardown(test_backoff_burst, check_empty),
		cmocka_unit_test_teardown(test_remove_held, check_empty),
		cmocka_unit_test_teardown(test_idle_cache, check_empty),
		cmocka_unit_test_teardown(test_hold_ready, check_empty),
		cmocka_unit_test_teardown(test_failing, check_empty),
		cmocka_unit_test_teardown(test_hold_wait, check_empty),
		cmocka_unit_test_teardown(test_hold_max, check_empty),
		cmocka_unit_test_teardown(test_max_inflight_two_pools, check_empty),
		cmocka_unit_test_teardown(test_conn_cap, check_empty),
		cmocka_unit_test_teardown(test_concurrent, check_empty),
		cmocka_unit_test_teardown(test_wake_all, check_empty),  /* last: cannot be undone */
	};

	alarm(60);  /* a lost wake-up fails the run instead of hanging it */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
