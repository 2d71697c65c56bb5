// SPDX-License-Identifier: GPL-2.0
/*
 * Host unit tests of the watch's pacing (userspace/lib/watch_schedule.c):
 * first checks spread over the whole interval, later ones an interval
 * apart within a tenth, throttling answers backing off by doubling up to
 * the cap and never below Retry-After, and a fleet of nodes started
 * together that ends up asking the KMS spread out rather than in step.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "watch_schedule.h"
#include "../lib/tap.h"

/* A fixed sequence, so that a failure replays. */
static uint32_t lcg(uint32_t *s)
{
	*s = *s * 1664525u + 1013904223u;
	return *s >> 8;
}

static void first_checks(void)
{
	unsigned int hist[30] = { 0 };
	uint32_t s = 1;
	unsigned long v, lo = 1000, hi = 0;
	int empty = 0, i;

	for (i = 0; i < 30000; i++) {
		v = cmek_watch_first(30, lcg(&s));
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
		if (v < 30)
			hist[v]++;
	}
	for (i = 0; i < 30; i++)
		empty += !hist[i] || hist[i] < 700 || hist[i] > 1300;
	tap_ok(lo == 0 && hi == 29, "first checks fall in [0, 30) s (%lu..%lu)",
	       lo, hi);
	tap_ok(!empty, "and cover every second of it about evenly");
	tap_ok(cmek_watch_first(1, 12345) == 0,
	       "with a 1 s interval the first check is now");
}

static void steady(void)
{
	uint32_t s = 7;
	unsigned long v, lo = 1000, hi = 0;
	int i;

	for (i = 0; i < 10000; i++) {
		v = cmek_watch_next(30, 0, 0, lcg(&s));
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	tap_ok(lo == 27 && hi == 33,
	       "later checks come every 30 s give or take 3 (%lu..%lu)", lo, hi);
	tap_ok(cmek_watch_next(1, 0, 0, 99) == 1 &&
	       cmek_watch_next(2, 0, 0, 99) == 2,
	       "short test intervals are kept exactly");
	tap_ok(cmek_watch_next(30, 0, 120000, 5) == 120,
	       "a Retry-After longer than the interval is honoured");
}

static void backoff(void)
{
	unsigned long want[] = { 60, 120, 240, 480, 480, 480 };
	bool ok = true;
	unsigned int n;

	for (n = 1; n <= 6; n++) {
		/* rnd 0 and a span of a fifth: the low end of the jitter */
		unsigned long v = cmek_watch_next(30, n, 0, 0);
		unsigned long lowest = want[n - 1] - want[n - 1] / 10;

		if (v != lowest) {
			tap_diag("throttled %u in a row: %lu s, want %lu", n,
				 v, lowest);
			ok = false;
		}
	}
	tap_ok(ok, "throttling doubles the wait, capped at %d intervals",
	       CMEK_WATCH_BACKOFF_MAX);
	tap_ok(cmek_watch_next(30, 1, 600000, 0) == 600,
	       "a throttled check waits at least the KMS's Retry-After");
	tap_ok(cmek_watch_next(30, 0, 0, 0) == 27,
	       "one answer that is not throttling ends the backoff");
	tap_ok(cmek_watch_next(0, 3, 0, 0) == 0, "no interval, no wait");
}

/*
 * 1000 nodes booted in the same second, one key each, interval 30 s: over
 * the tenth interval no second of it sees more than a few times its share
 * of the checks.
 */
static void fleet(void)
{
	enum { NODES = 1000, IV = 30 };
	static unsigned long next[NODES];
	unsigned int per_sec[IV] = { 0 }, worst = 0;
	uint32_t s = 42;
	unsigned long t;
	int i;

	for (i = 0; i < NODES; i++)
		next[i] = cmek_watch_first(IV, lcg(&s));
	for (t = 0; t < 10 * IV + IV; t++)
		for (i = 0; i < NODES; i++) {
			if (next[i] != t)
				continue;
			if (t >= 10 * IV)
				per_sec[t - 10 * IV]++;
			next[i] = t + cmek_watch_next(IV, 0, 0, lcg(&s));
		}
	for (i = 0; i < IV; i++)
		worst = per_sec[i] > worst ? per_sec[i] : worst;
	tap_ok(worst < 3 * NODES / IV,
	       "1000 nodes booted together: busiest second has %u checks "
	       "(an even spread is %d)", worst, NODES / IV);
}

int main(void)
{
	tap_plan(11);
	first_checks();
	steady();
	backoff();
	fleet();
	return tap_done();
}
