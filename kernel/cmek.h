/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Copyright (C) 2026 The cmek developers.
 */
#ifndef _DM_CMEK_H
#define _DM_CMEK_H

#include <linux/bio.h>
#include <linux/device-mapper.h>
#include <linux/mempool.h>
#include <linux/mutex.h>
#include <linux/netlink.h>
#include <linux/percpu-refcount.h>
#include <linux/scatterlist.h>
#include <linux/workqueue.h>
#include <crypto/sha2.h>
#include <crypto/skcipher.h>
#include <linux/dm-cmek.h>
#include "bounce.h"

#define DM_MSG_PREFIX "cmek"

/*
 * One installed key: a keyed xts(aes) transform. I/O takes a reference for
 * one bio's crypto (a read keeps it until its caller has the plaintext) and
 * never takes a lock; revocation kills the reference and waits for it to
 * drain before freeing the transform, so "revoked" means no request is in
 * the cipher with this key any more and no plaintext it made is on its way.
 */
struct cmek_key {
	struct percpu_ref ref;
	struct completion released;
	struct crypto_skcipher *tfm;
	u64 generation;
	unsigned int key_size;
	/*
	 * Set by a revoke (not by a REPLACE, whose reads may finish): a
	 * read that finds it set hands back no plaintext.
	 */
	bool revoked;
	struct cmek_entry *entry;	/* while it drains */
	struct list_head drain_node;	/* entry->replaced, or a revoke_all */
};

/*
 * Key table entry, one per volume UUID. It lives while a key is present, a
 * mapping names it, a key of it drains, or someone waits for that. All
 * fields but @key are protected by cmek_keys_lock; @revoking, @revoke_done
 * and @nreplaced are also read without it by waiters on cmek_revoke_wq.
 */
struct cmek_entry {
	struct list_head node;
	u8 uuid[CMEK_UUID_LEN];
	struct cmek_key __rcu *key;
	enum cmek_key_state state;
	u64 generation;
	unsigned int key_size;
	unsigned int users;
	bool revoking;			/* a revoke started and not finished */
	u64 revoke_seq;			/* of the last revoke started */
	u64 revoke_done;		/* of the last revoke finished */
	struct list_head replaced;	/* keys a REPLACE left draining */
	unsigned int nreplaced;
	unsigned int waiters;		/* control ops waiting on it */
	struct list_head targets;
	/*
	 * The key this volume is bound to: the fingerprint of the present
	 * or last key (key_fingerprint()), kept across a revoke. While a
	 * mapping names the entry, only that key may be set.
	 */
	u8 binding[SHA256_DIGEST_SIZE];
	bool bound;
};

struct cmek_stats {
	atomic64_t reads;
	atomic64_t writes;
	atomic64_t errors;
};

struct cmek_args;

struct cmek_target {
	struct dm_target *ti;
	struct dm_dev *dev;
	struct cmek_entry *entry;
	struct list_head entry_node;	/* entry->targets, cmek_keys_lock */

	sector_t start;
	u64 iv_offset;
	unsigned int sector_size;
	unsigned int sector_shift;	/* log2(sector_size / 512) */
	unsigned int key_wait_ms;
	bool iv_large_sectors;
	bool allow_discards;
	unsigned int reqsize;

	/* Unbound: conversions under load, hard-irq reads, held bios. */
	struct workqueue_struct *wq;
	/*
	 * Writes an async cipher finished, submitted. Not on @wq: its items
	 * may all be waiting for bounce pages that only these submissions
	 * give back (dm-crypt has its write thread for them).
	 */
	struct workqueue_struct *submit_wq;
	atomic_t inflight;		/* bios between map and completion */
	atomic_t probe, burst;		/* see cmek_offload() */
	atomic_t probe_every;
	struct bio_set bs;
	struct cmek_bounce bounce;
	struct mutex alloc_lock;	/* the bounce pool's waiting pass */

	/*
	 * Bios waiting for a key (key_wait_ms), earliest deadline first;
	 * hold_work is due at the head's.
	 */
	spinlock_t hold_lock;
	struct bio_list held;
	struct delayed_work hold_work;
	bool suspended;

	/* One KEY_NEEDED event per transition to "needs a key". */
	atomic_t key_needed_sent;
	struct work_struct event_work;

	struct cmek_stats stats;
	struct cmek_args *args;
};

/* Per-bio state, in the dm clone's per_io_data, followed by the request. */
struct cmek_io {
	struct cmek_target *ct;
	struct bio *base_bio;
	struct bio *clone;
	struct cmek_key *key;
	struct work_struct work;
	/* A write finished by an async cipher is submitted from here. */
	struct work_struct submit_work;
	struct bvec_iter iter_in;	/* base bio: plaintext or ciphertext */
	struct bvec_iter iter_out;	/* where the result goes */
	u64 iv_sector;			/* 512-byte units, iv_offset included */
	unsigned long deadline;		/* jiffies, held bios only */
	blk_status_t error;
	bool probe;			/* sent to the workqueue to look */
	bool in_work;			/* converted by a work item: may sleep */
	struct scatterlist sg_in, sg_out;
	__le64 iv[2];
	/* struct skcipher_request follows, ct->reqsize bytes */
};

/* keys.c */
extern struct mutex cmek_keys_lock;
struct crypto_skcipher *cmek_alloc_xts(void);
void cmek_keys_exit(void);
struct cmek_entry *cmek_entry_attach(const u8 *uuid, struct cmek_target *ct);
void cmek_entry_detach(struct cmek_target *ct);
struct cmek_key *cmek_key_get(struct cmek_entry *e);
void cmek_key_put(struct cmek_key *key);
int cmek_key_set(const u8 *uuid, u8 *key, unsigned int key_size,
		 u64 generation, bool has_generation, bool replace,
		 struct netlink_ext_ack *extack);
int cmek_key_revoke(const u8 *uuid, struct netlink_ext_ack *extack);
int cmek_key_revoke_all(void);
struct cmek_entry *cmek_entry_find(const u8 *uuid);
void cmek_entry_sum_stats(struct cmek_entry *e, u64 *reads, u64 *writes,
			  u64 *errors);
struct cmek_entry *cmek_entry_nth(unsigned int n);
struct cmek_entry *cmek_entry_next(struct cmek_entry *e);
/* Changes whenever an entry is added or removed; never 0. */
unsigned int cmek_entries_seq(void);

/* netlink.c */
int cmek_genl_init(void);
void cmek_genl_exit(void);
void cmek_notify(u8 cmd, struct cmek_entry *e);
void cmek_notify_key_needed(struct cmek_target *ct);

/* crypt.c */
void cmek_offload_init(struct cmek_target *ct);
int cmek_map_rw(struct cmek_target *ct, struct bio *bio);
void cmek_release_held(struct cmek_target *ct, blk_status_t status);
blk_status_t cmek_suspend_status(struct cmek_target *ct);
void cmek_hold_timeout(struct work_struct *work);
size_t cmek_io_size(unsigned int reqsize);

/* debugfs.c: live objects, for leak checks */
extern atomic_t cmek_nr_entries, cmek_nr_keys, cmek_nr_targets;
void cmek_debugfs_init(void);
void cmek_debugfs_exit(void);

/* target.c */
int cmek_target_register(void);
void cmek_target_unregister(void);
void cmek_target_key_changed(struct cmek_target *ct, bool present);

#endif /* _DM_CMEK_H */
