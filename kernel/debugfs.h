/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Copyright (C) 2026 The cmek developers.
 *
 * Live objects, for leak checks (debugfs.c).
 */
#ifndef DM_CMEK_DEBUGFS_H
#define DM_CMEK_DEBUGFS_H

#include <linux/atomic.h>

extern atomic_t cmek_nr_entries, cmek_nr_keys, cmek_nr_targets;
void cmek_debugfs_init(void);
void cmek_debugfs_exit(void);

#endif /* DM_CMEK_DEBUGFS_H */
