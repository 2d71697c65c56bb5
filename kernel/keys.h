/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Copyright (C) 2026 The cmek developers.
 *
 * The key table (keys.c). It owns cmek_keys_lock, which no other file
 * takes: what the others need done under it, keys.c does for them, and
 * what it tells them under it goes through the callbacks below, so that
 * calls between files run one way (netlink and target call keys, keys
 * calls no one by name).
 */
#ifndef DM_CMEK_KEYS_H
#define DM_CMEK_KEYS_H

#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/list.h>
#include <linux/netlink.h>
#include <linux/percpu-refcount.h>
#include <crypto/sha2.h>
#include <crypto/skcipher.h>
#include <linux/dm-cmek.h>

struct dm_target;

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
 * and @nreplaced are also read without it by waiters on cmek_revoke_wq,
 * and @state and @generation by a mapping's status (READ_ONCE). The I/O
 * path reads @key under RCU only.
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
	struct list_head mappings;	/* struct cmek_mapping */
	/*
	 * The key this volume is bound to: the fingerprint of the present
	 * or last key (key_fingerprint()), kept across a revoke. While a
	 * mapping names the entry, only that key may be set.
	 */
	u8 binding[SHA256_DIGEST_SIZE];
	bool bound;
};

/*
 * A mapping's bio counts, per CPU so that CPUs completing its bios do not
 * share a cache line for them; summed when read (cmek_mapping_stats()).
 * Only statistics: a sum may miss a bio that is completing meanwhile.
 */
struct cmek_stats {
	u64 reads;
	u64 writes;
	u64 errors;
};

/*
 * What the key table needs of a mapping that names an entry. The mapping
 * embeds it and fills @ti, @reqsize and @key_changed before attaching;
 * keys.c links @node under its lock and reads the rest there.
 */
struct cmek_mapping {
	struct list_head node;		/* entry->mappings, cmek_keys_lock */
	struct dm_target *ti;		/* whose page cache a revoke drops */
	unsigned int reqsize;		/* room for a request, per bio */
	struct cmek_stats __percpu *stats;	/* summed into the entry's */
	/*
	 * Called with cmek_keys_lock held (keys.c asserts it) when the
	 * entry's key comes (@present) or goes. Must not sleep for I/O.
	 */
	void (*key_changed)(struct cmek_mapping *m, bool present);
};

/* An entry as user space sees it: no key bytes, no pointers. */
struct cmek_entry_info {
	u8 uuid[CMEK_UUID_LEN];
	enum cmek_key_state state;
	u64 generation;
	unsigned int key_size;
	unsigned int users;
	u64 reads, writes, errors;
};

/*
 * Told of a key set or revoked (@cmd: CMEK_CMD_EVENT_KEY_SET or
 * CMEK_CMD_EVENT_KEY_REVOKED), with cmek_keys_lock held, so that events
 * reach listeners in the order of the changes.
 */
typedef void (*cmek_key_event_fn)(u8 cmd, const struct cmek_entry_info *info);
void cmek_keys_set_event_handler(cmek_key_event_fn fn);

struct crypto_skcipher *cmek_alloc_xts(void);
void cmek_keys_exit(void);

struct cmek_entry *cmek_entry_attach(const u8 *uuid, struct cmek_mapping *m);
void cmek_entry_detach(struct cmek_entry *e, struct cmek_mapping *m);
struct cmek_key *cmek_key_get(struct cmek_entry *e);
void cmek_key_put(struct cmek_key *key);
void cmek_mapping_stats(const struct cmek_mapping *m, struct cmek_stats *sum);

int cmek_key_set(const u8 *uuid, u8 *key, unsigned int key_size,
		 u64 generation, bool has_generation, bool replace,
		 struct netlink_ext_ack *extack);
int cmek_key_revoke(const u8 *uuid, struct netlink_ext_ack *extack);
int cmek_key_revoke_all(void);

int cmek_entry_get_info(const u8 *uuid, struct cmek_entry_info *info);

/*
 * Where a dump of the table goes on from, kept between its parts: @pos is
 * good only while no entry came or went, which @gen tells; otherwise the
 * dump walks to @idx again. Zeroed for a new dump.
 */
struct cmek_keys_cursor {
	unsigned int idx;
	unsigned int gen;	/* the table's generation, never 0 */
	struct cmek_entry *pos;
};

/*
 * @fill is called with cmek_keys_lock held, for each entry from @c on,
 * until it returns an error, which is returned. @c->gen is the table's
 * generation before the first call.
 */
int cmek_keys_dump(struct cmek_keys_cursor *c,
		   int (*fill)(const struct cmek_entry_info *info, void *arg),
		   void *arg);

#endif /* DM_CMEK_KEYS_H */
