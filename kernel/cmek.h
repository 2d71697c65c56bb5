/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Copyright (C) 2026 The cmek developers.
 *
 * A mapping of the target: built by target.c, whose I/O crypt.c does.
 */
#ifndef _DM_CMEK_H
#define _DM_CMEK_H

#include <linux/bio.h>
#include <linux/device-mapper.h>
#include <linux/mempool.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include "bounce.h"
#include "keys.h"

struct cmek_args;

struct cmek_target {
	struct dm_target *ti;
	struct dm_dev *dev;
	struct cmek_entry *entry;
	struct cmek_mapping map;	/* what the key table sees of it */

	sector_t start;
	u64 iv_offset;
	unsigned int sector_size;
	unsigned int sector_shift;	/* log2(sector_size / 512) */
	unsigned int key_wait_ms;
	bool iv_large_sectors;
	bool allow_discards;

	/* Unbound: conversions under load, hard-irq reads, held bios. */
	struct workqueue_struct *wq;
	/*
	 * Writes an async cipher finished, submitted. Not on @wq: its items
	 * may all be waiting for bounce pages that only these submissions
	 * give back (dm-crypt has its write thread for them).
	 */
	struct workqueue_struct *submit_wq;
	struct bio_set bs;
	mempool_t req_pool;		/* crypto requests past a bio's first */
	struct cmek_bounce bounce;
	struct mutex alloc_lock;	/* the bounce pool's waiting pass */

	/*
	 * Bios waiting for a key (key_wait_ms), earliest deadline first;
	 * hold_work is due at the head's. crypt.c owns hold_lock, which
	 * protects @held and @suspended.
	 */
	spinlock_t hold_lock;
	struct bio_list held;
	struct delayed_work hold_work;
	bool suspended;

	/* One KEY_NEEDED event per transition to "needs a key". */
	atomic_t key_needed_sent;
	struct work_struct event_work;

	struct cmek_args *args;

	/*
	 * Shared atomics, not per-CPU counters: cmek_offload() reads them on
	 * every bio and needs the mapping's value then, not a sum. @inflight
	 * is written by every bio; the others only while at most one bio is
	 * in flight, and only read under load. On a line of their own, so
	 * that the writes do not bounce the read-mostly fields above.
	 */
	atomic_t inflight ____cacheline_aligned_in_smp;	/* map to completion */
	atomic_t probe, burst;		/* see cmek_offload() */
	atomic_t probe_every;
};

#endif /* _DM_CMEK_H */
