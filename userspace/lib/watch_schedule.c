// SPDX-License-Identifier: GPL-2.0
/*
 * The watch's pacing: watch_schedule.h says what and why.
 */
#include "watch_schedule.h"

/* @base, give or take a tenth of it, picked by @rnd. */
static unsigned long jitter(unsigned long base, uint32_t rnd)
{
	unsigned long span = base / 5;

	return base - base / 10 + (span ? rnd % (span + 1) : 0);
}

unsigned long cmek_watch_first(unsigned int interval, uint32_t rnd)
{
	return interval ? rnd % interval : 0;
}

unsigned long cmek_watch_next(unsigned int interval,
			      unsigned int throttled_in_row,
			      long retry_after_ms, uint32_t rnd)
{
	unsigned long mult = 1, wait, advised;

	if (!interval)
		return 0;
	if (throttled_in_row) {
		unsigned int n = throttled_in_row;

		while (n-- && mult < CMEK_WATCH_BACKOFF_MAX)
			mult *= 2;
	}
	wait = jitter((unsigned long)interval * mult, rnd);
	advised = retry_after_ms > 0 ?
		  (unsigned long)(retry_after_ms + 999) / 1000 : 0;
	return wait > advised ? wait : advised;
}
