/* See LICENSE file for copyright and license details. */
/* hist.c unit tests: the sample ring (order, wrap-around, copies that ask
 * for fewer), gauges that saturate, rates from counters, and the event
 * ring with reasons cut to fit. No clock: readings carry their times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hist.h"
#include "util.h"

static struct hist h;
static struct hist_sample out[HIST_LEN + 8];
static struct hist_event evout[HIST_NEV + 8];

/* the i-th reading of a steady 5 requests/s, one 5xx every other second */
static struct hist_reading
reading(long i)
{
	struct hist_reading r = {
		.mono = 1000 + i * 1000, .wall = 1700000000000LL + i * 1000,
		.inflight = i, .held = i % 3, .starting = 1, .ready = 2, .draining = 3,
		.want = 4, .requests = 5 * i, .errs = i / 2,
	};

	return r;
}

static int
setup(void **state)
{
	(void)state;
	hist_init(&h);
	return 0;
}

static void
test_empty(void **state)
{
	(void)state;
	assert_int_equal(hist_samples(&h, out, HIST_LEN), 0);
	assert_int_equal(hist_events(&h, evout, HIST_NEV), 0);
	printf("hist: a set's history takes %zu bytes (%d samples of %zu, %d events of %zu)\n",
	       sizeof(struct hist), HIST_LEN, sizeof(struct hist_sample), HIST_NEV,
	       sizeof(struct hist_event));
	assert_true(sizeof(struct hist) <= 32 * 1024);
}

static void
test_order_and_rates(void **state)
{
	struct hist_reading r;
	int n;

	(void)state;
	for (long i = 0; i < 10; i++) {
		r = reading(i);
		hist_add(&h, &r);
	}
	n = hist_samples(&h, out, HIST_LEN);
	assert_int_equal(n, 10);
	for (int i = 0; i < n; i++) {
		assert_int_equal(out[i].t, 1700000000 + i);
		assert_int_equal(out[i].inflight, i);
		assert_int_equal(out[i].held, i % 3);
		assert_int_equal(out[i].starting, 1);
		assert_int_equal(out[i].ready, 2);
		assert_int_equal(out[i].draining, 3);
		assert_int_equal(out[i].want, 4);
		/* the first sample has nothing to compare with */
		assert_int_equal(out[i].rps, i ? 5 : 0);
	}
	/* 5xx: 0,0,1,1,2,2,...: one every other second */
	assert_int_equal(out[2].errs, 1);
	assert_int_equal(out[3].errs, 0);
	/* fewer than held: the newest */
	n = hist_samples(&h, out, 3);
	assert_int_equal(n, 3);
	assert_int_equal(out[0].inflight, 7);
	assert_int_equal(out[2].inflight, 9);
}

static void
test_wrap(void **state)
{
	struct hist_reading r;
	long total = 2 * HIST_LEN + 17;
	int n;

	(void)state;
	for (long i = 0; i < total; i++) {
		r = reading(i);
		r.inflight = i % 60000;
		hist_add(&h, &r);
	}
	/* asking for more than the ring holds gets exactly HIST_LEN */
	n = hist_samples(&h, out, LEN(out));
	assert_int_equal(n, HIST_LEN);
	for (int i = 0; i < n; i++) {
		long want = total - HIST_LEN + i;
		if (out[i].t != 1700000000 + want || out[i].inflight != want % 60000)
			fail_msg("sample %d: t %u inflight %u, want reading %ld", i, out[i].t,
			         out[i].inflight, want);
		assert_int_equal(out[i].rps, 5);
	}
	/* a ring that just wrapped: the oldest is the one after the newest */
	hist_init(&h);
	for (long i = 0; i < HIST_LEN + 1; i++) {
		r = reading(i);
		hist_add(&h, &r);
	}
	assert_int_equal(hist_samples(&h, out, LEN(out)), HIST_LEN);
	assert_int_equal(out[0].t, 1700000001);
	assert_int_equal(out[HIST_LEN - 1].t, 1700000000 + HIST_LEN);
}

static void
test_bounds(void **state)
{
	struct hist_reading r = reading(1);
	int n;

	(void)state;
	hist_add(&h, &r);
	r = reading(2);
	r.inflight = 1000000;
	r.held = -5;
	r.want = HIST_MAXVAL + 1;
	r.requests = r.requests + 1000000000L;  /* a billion in one second */
	r.errs = 0;                            /* a counter going back: no rate */
	hist_add(&h, &r);
	/* a reading at the same instant: no rate rather than a division by 0 */
	r.requests += 10;
	hist_add(&h, &r);
	n = hist_samples(&h, out, HIST_LEN);
	assert_int_equal(n, 3);
	assert_int_equal(out[1].inflight, HIST_MAXVAL);
	assert_int_equal(out[1].held, 0);
	assert_int_equal(out[1].want, HIST_MAXVAL);
	assert_int_equal(out[1].rps, 1000000005);
	assert_int_equal(out[1].errs, 0);
	assert_int_equal(out[2].rps, 0);
	/* max 0 copies nothing */
	assert_int_equal(hist_samples(&h, out, 0), 0);
}

static void
test_events(void **state)
{
	char why[200], want[HIST_WHY];
	int n;

	(void)state;
	for (int i = 0; i < HIST_NEV + 5; i++) {
		snprintf(why, sizeof(why), "reason %d", i);
		hist_event(&h, 1000 * i, i, i + 1, why);
	}
	n = hist_events(&h, evout, LEN(evout));
	assert_int_equal(n, HIST_NEV);
	for (int i = 0; i < n; i++) {
		snprintf(why, sizeof(why), "reason %d", i + 5);
		assert_string_equal(evout[i].why, why);
		assert_int_equal(evout[i].t, 1000 * (i + 5));
		assert_int_equal(evout[i].from, i + 5);
		assert_int_equal(evout[i].to, i + 6);
	}
	/* a long reason is cut, NUL-terminated */
	memset(why, 'x', sizeof(why) - 1);
	why[sizeof(why) - 1] = '\0';
	hist_event(&h, 1, 0, 1, why);
	assert_int_equal(hist_events(&h, evout, 1), 1);
	memset(want, 'x', sizeof(want) - 1);
	want[sizeof(want) - 1] = '\0';
	assert_string_equal(evout[0].why, want);
	assert_int_equal(h.nevents, HIST_NEV + 6);
}

#define T(f) cmocka_unit_test_setup(f, setup)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_empty),
		T(test_order_and_rates),
		T(test_wrap),
		T(test_bounds),
		T(test_events),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
