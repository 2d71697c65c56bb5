// SPDX-License-Identifier: GPL-2.0
/*
 * Copyright (C) 2026 The cmek developers.
 */
#include <linux/module.h>

static int __init cmek_init(void)
{
	return 0;
}

static void __exit cmek_exit(void)
{
}

module_init(cmek_init);
module_exit(cmek_exit);
MODULE_DESCRIPTION("device-mapper AES-XTS target with netlink-managed keys");
MODULE_LICENSE("GPL");
