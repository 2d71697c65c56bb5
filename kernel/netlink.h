/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Copyright (C) 2026 The cmek developers.
 *
 * The "cmek" generic netlink family (netlink.c).
 */
#ifndef DM_CMEK_NETLINK_H
#define DM_CMEK_NETLINK_H

#include <linux/dm-cmek.h>

struct dm_target;

int cmek_genl_init(void);
void cmek_genl_exit(void);
void cmek_notify_key_needed(struct dm_target *ti, const u8 *uuid,
			    enum cmek_key_state state);

#endif /* DM_CMEK_NETLINK_H */
