// SPDX-License-Identifier: GPL-2.0
/*
 * Copyright (C) 2026 The cmek developers.
 *
 * dm-cmek: a device-mapper target that encrypts with AES-XTS (on disk as
 * dm-crypt's aes-xts-plain64) while its keys come and go over generic
 * netlink, never through a dm table.
 */

#include <linux/module.h>
#include <linux/device-mapper.h>
#include <net/genetlink.h>
#include "debugfs.h"
#include "keys.h"
#include "netlink.h"
#include "target.h"

static int __init cmek_init(void)
{
	int err;

	err = cmek_genl_init();
	if (err)
		return err;
	err = cmek_target_register();
	if (err)
		goto err_genl;
	cmek_debugfs_init();
	return 0;

err_genl:
	cmek_genl_exit();
	cmek_keys_exit();	/* keys set while the family was up */
	return err;
}

/* dm holds a module reference per mapping: no mapping can remain here. */
static void __exit cmek_exit(void)
{
	cmek_target_unregister();
	cmek_genl_exit();
	cmek_keys_exit();
	cmek_debugfs_exit();
}

module_init(cmek_init);
module_exit(cmek_exit);
MODULE_AUTHOR("The cmek developers");
MODULE_DESCRIPTION(DM_NAME " AES-XTS target with netlink-managed keys");
MODULE_LICENSE("GPL");
MODULE_ALIAS_GENL_FAMILY(CMEK_GENL_NAME);
