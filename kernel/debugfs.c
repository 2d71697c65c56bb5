// SPDX-License-Identifier: GPL-2.0
/*
 * Copyright (C) 2026 The cmek developers.
 *
 * The module's own object accounting, in debugfs: how many key table
 * entries, keys (each with its transform) and targets exist right now.
 * kmemleak needs a debug kernel; these counters let the tests on Debian's
 * stock kernel see that every object a mapping or a key brought in is
 * gone once they are, without guessing from slab totals.
 *
 *	/sys/kernel/debug/dm_cmek/objects:
 *	entries N
 *	keys N
 *	targets N
 *	bounce_pages N		(every mapping's, now)
 *	bounce_budget N		(each mapping's, in pages)
 */

#include <linux/debugfs.h>
#include <linux/seq_file.h>
#include "bounce.h"
#include "debugfs.h"

atomic_t cmek_nr_entries = ATOMIC_INIT(0);
atomic_t cmek_nr_keys = ATOMIC_INIT(0);
atomic_t cmek_nr_targets = ATOMIC_INIT(0);

static struct dentry *cmek_debugfs_dir;

static int objects_show(struct seq_file *m, void *v)
{
	seq_printf(m, "entries %d\nkeys %d\ntargets %d\n",
		   atomic_read(&cmek_nr_entries), atomic_read(&cmek_nr_keys),
		   atomic_read(&cmek_nr_targets));
	seq_printf(m, "bounce_pages %lld\nbounce_budget %lu\n",
		   cmek_bounce_pages_total(), cmek_bounce_budget());
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(objects);

/* Best effort: the module works the same without debugfs. */
void cmek_debugfs_init(void)
{
	cmek_debugfs_dir = debugfs_create_dir("dm_cmek", NULL);
	debugfs_create_file("objects", 0400, cmek_debugfs_dir, NULL,
			    &objects_fops);
}

void cmek_debugfs_exit(void)
{
	debugfs_remove(cmek_debugfs_dir);
}
