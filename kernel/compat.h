/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Copyright (C) 2026 The cmek developers.
 *
 * The differences between the kernels dm-cmek builds against (Debian's
 * 6.1 and 6.12), in one place: the rest of the module has no version
 * checks.
 */
#ifndef DM_CMEK_COMPAT_H
#define DM_CMEK_COMPAT_H

#include <linux/version.h>
#include <linux/blkdev.h>
#include <crypto/skcipher.h>
#include <net/genetlink.h>

/*
 * 6.3 made an async crypto completion's argument the request's data
 * itself (crypto_completion_t takes void *).
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
#define CMEK_CRYPTO_DONE_ARG	void *
static inline void *cmek_crypto_done_data(void *data)
{
	return data;
}
#else
#define CMEK_CRYPTO_DONE_ARG	struct crypto_async_request *
static inline void *cmek_crypto_done_data(struct crypto_async_request *areq)
{
	return areq->data;
}
#endif

/* 6.2 passes genl pre_doit and post_doit the split ops, const. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
#define CMEK_GENL_OPS		const struct genl_split_ops
#else
#define CMEK_GENL_OPS		const struct genl_ops
#endif

/* 6.10 gave the block device its page cache mapping, bd_inode gone. */
static inline struct address_space *cmek_bdev_mapping(struct block_device *bdev)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 10, 0)
	return bdev->bd_mapping;
#else
	return bdev->bd_inode->i_mapping;
#endif
}

#endif /* DM_CMEK_COMPAT_H */
