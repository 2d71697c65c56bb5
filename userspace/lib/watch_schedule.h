/* SPDX-License-Identifier: GPL-2.0 */
/*
 * When cmekd's watch asks the KMS about one key next.
 *
 * One check per distinct KMS key per check_interval, however many volumes
 * use it. A fleet of nodes booted together must not ask in step, so each
 * key's first check comes at a random point of the interval and every
 * later one an interval on, give or take a tenth. A throttling answer
 * (cmek_error.throttled) doubles the wait after each one in a row, up to
 * CMEK_WATCH_BACKOFF_MAX intervals and never less than the KMS's own
 * Retry-After; the first answer that is not throttling ends the backoff.
 * A throttled check is no answer: it never resets unreachable_grace.
 */
#ifndef CMEK_WATCH_SCHEDULE_H
#define CMEK_WATCH_SCHEDULE_H

#include <stdint.h>

#define CMEK_WATCH_BACKOFF_MAX	16	/* intervals */

/*
 * Seconds from now to the next check of a key. @interval is
 * check_interval (s, > 0); @throttled_in_row counts the throttling answers
 * in a row just had (0: not throttled); @retry_after_ms is the last one's
 * Retry-After (0 if none); @rnd is a random number.
 */
unsigned long cmek_watch_next(unsigned int interval,
			      unsigned int throttled_in_row,
			      long retry_after_ms, uint32_t rnd);

/* Seconds from now to a new key's first check: in [0, @interval). */
unsigned long cmek_watch_first(unsigned int interval, uint32_t rnd);

#endif /* CMEK_WATCH_SCHEDULE_H */
