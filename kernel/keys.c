// SPDX-License-Identifier: GPL-2.0
/*
 * Copyright (C) 2026 The cmek developers.
 *
 * The key table: one entry per volume UUID, holding at most one installed
 * key. Control operations (set, revoke, attach, detach, dump) serialise on
 * cmek_keys_lock; the I/O path only does an RCU lookup and a percpu
 * reference, so a busy volume never contends with the control plane.
 */

#include <linux/blkdev.h>
#include <linux/slab.h>
#include <linux/string.h>
#include "cmek.h"

/* Serialises the control plane; the I/O path never takes it. */
DEFINE_MUTEX(cmek_keys_lock);
static LIST_HEAD(cmek_entries);

static struct cmek_entry *entry_find(const u8 *uuid)
{
	struct cmek_entry *e;

	lockdep_assert_held(&cmek_keys_lock);
	list_for_each_entry(e, &cmek_entries, node)
		if (!memcmp(e->uuid, uuid, CMEK_UUID_LEN))
			return e;
	return NULL;
}

struct cmek_entry *cmek_entry_find(const u8 *uuid)
{
	return entry_find(uuid);
}

static struct cmek_entry *entry_find_or_create(const u8 *uuid)
{
	struct cmek_entry *e = entry_find(uuid);

	if (e)
		return e;
	e = kzalloc(sizeof(*e), GFP_KERNEL);
	if (!e)
		return NULL;
	memcpy(e->uuid, uuid, CMEK_UUID_LEN);
	e->state = CMEK_KEY_MISSING;
	INIT_LIST_HEAD(&e->targets);
	list_add_tail(&e->node, &cmek_entries);
	atomic_inc(&cmek_nr_entries);
	return e;
}

/* An entry with no mapping and no key carries nothing worth keeping. */
static void entry_maybe_free(struct cmek_entry *e)
{
	lockdep_assert_held(&cmek_keys_lock);
	if (e->users || rcu_access_pointer(e->key))
		return;
	list_del(&e->node);
	kfree(e);
	atomic_dec(&cmek_nr_entries);
}

static struct cmek_key *entry_key(struct cmek_entry *e)
{
	return rcu_dereference_protected(e->key,
					 lockdep_is_held(&cmek_keys_lock));
}

struct cmek_entry *cmek_entry_attach(const u8 *uuid, struct cmek_target *ct)
{
	struct cmek_entry *e;

	mutex_lock(&cmek_keys_lock);
	e = entry_find_or_create(uuid);
	if (e) {
		e->users++;
		list_add_tail(&ct->entry_node, &e->targets);
	}
	mutex_unlock(&cmek_keys_lock);
	return e;
}

void cmek_entry_detach(struct cmek_target *ct)
{
	struct cmek_entry *e = ct->entry;

	mutex_lock(&cmek_keys_lock);
	list_del(&ct->entry_node);
	e->users--;
	entry_maybe_free(e);
	mutex_unlock(&cmek_keys_lock);
}

struct cmek_key *cmek_key_get(struct cmek_entry *e)
{
	struct cmek_key *key;

	rcu_read_lock();
	key = rcu_dereference(e->key);
	if (key && !percpu_ref_tryget_live(&key->ref))
		key = NULL;
	rcu_read_unlock();
	return key;
}

void cmek_key_put(struct cmek_key *key)
{
	percpu_ref_put(&key->ref);
}

static void cmek_key_release(struct percpu_ref *ref)
{
	struct cmek_key *key = container_of(ref, struct cmek_key, ref);

	complete(&key->released);
}

static struct cmek_key *cmek_key_alloc(const u8 *bytes, unsigned int size,
				       struct netlink_ext_ack *extack)
{
	struct cmek_key *key;
	int err;

	key = kzalloc(sizeof(*key), GFP_KERNEL);
	if (!key)
		return ERR_PTR(-ENOMEM);
	key->tfm = crypto_alloc_skcipher("xts(aes)", 0, 0);
	if (IS_ERR(key->tfm)) {
		err = PTR_ERR(key->tfm);
		NL_SET_ERR_MSG(extack, "cannot allocate xts(aes)");
		goto err_free;
	}
	err = crypto_skcipher_setkey(key->tfm, bytes, size);
	if (err) {
		NL_SET_ERR_MSG(extack, "xts(aes) rejected the key");
		goto err_tfm;
	}
	err = percpu_ref_init(&key->ref, cmek_key_release, 0, GFP_KERNEL);
	if (err)
		goto err_tfm;
	init_completion(&key->released);
	key->key_size = size;
	atomic_inc(&cmek_nr_keys);
	return key;

err_tfm:
	crypto_free_skcipher(key->tfm);
err_free:
	kfree(key);
	return ERR_PTR(err);
}

/*
 * Wait until no bio is inside the cipher with @key, then free the transform:
 * crypto_free_skcipher() releases the expanded key schedule with
 * kfree_sensitive(). percpu_ref_kill() makes every later tryget fail, and the
 * release callback runs only after an RCU grace period, so no reader that
 * saw the old pointer can still touch @key when it is freed.
 */
static void cmek_key_retire(struct cmek_key *key)
{
	percpu_ref_kill(&key->ref);
	wait_for_completion(&key->released);
	percpu_ref_exit(&key->ref);
	crypto_free_skcipher(key->tfm);
	kfree_sensitive(key);
	atomic_dec(&cmek_nr_keys);
}

static void entry_targets_changed(struct cmek_entry *e, bool present)
{
	struct cmek_target *ct;

	list_for_each_entry(ct, &e->targets, entry_node)
		cmek_target_key_changed(ct, present);
}

int cmek_key_set(const u8 *uuid, const u8 *bytes, unsigned int size,
		 u64 generation, bool has_generation, bool replace,
		 struct netlink_ext_ack *extack)
{
	struct cmek_key *key, *old;
	struct cmek_entry *e;
	int err = 0;

	key = cmek_key_alloc(bytes, size, extack);
	if (IS_ERR(key))
		return PTR_ERR(key);

	mutex_lock(&cmek_keys_lock);
	e = entry_find_or_create(uuid);
	if (!e) {
		err = -ENOMEM;
		goto err_unlock;
	}
	old = entry_key(e);
	if (old && !replace) {
		NL_SET_ERR_MSG(extack, "a key is already set for this volume (use REPLACE)");
		err = -EEXIST;
		goto err_unlock;
	}
	key->generation = has_generation ? generation : e->generation + 1;
	e->generation = key->generation;
	e->key_size = size;
	e->state = CMEK_KEY_PRESENT;
	rcu_assign_pointer(e->key, key);
	if (old)
		cmek_key_retire(old);
	entry_targets_changed(e, true);
	cmek_notify(CMEK_CMD_EVENT_KEY_SET, e);
	mutex_unlock(&cmek_keys_lock);
	return 0;

err_unlock:
	mutex_unlock(&cmek_keys_lock);
	cmek_key_retire(key);
	return err;
}

/*
 * Drop whatever the mapped device has cached: plaintext pages must not
 * outlive the key that decrypted them. Dirty pages are left alone by
 * invalidate_bdev() and fail to write back, which is what a locked volume
 * should do with them.
 */
static void entry_invalidate_caches(struct cmek_entry *e)
{
	struct cmek_target *ct;

	list_for_each_entry(ct, &e->targets, entry_node) {
		struct mapped_device *md = dm_table_get_md(ct->ti->table);

		invalidate_bdev(dm_disk(md)->part0);
	}
}

static void entry_revoke(struct cmek_entry *e, struct cmek_key *key)
{
	RCU_INIT_POINTER(e->key, NULL);
	e->state = CMEK_KEY_REVOKED;
	cmek_key_retire(key);
	entry_targets_changed(e, false);
	entry_invalidate_caches(e);
	cmek_notify(CMEK_CMD_EVENT_KEY_REVOKED, e);
	entry_maybe_free(e);
}

int cmek_key_revoke(const u8 *uuid, struct netlink_ext_ack *extack)
{
	struct cmek_entry *e;
	struct cmek_key *key;
	int err = 0;

	mutex_lock(&cmek_keys_lock);
	e = entry_find(uuid);
	if (!e) {
		NL_SET_ERR_MSG(extack, "no key table entry for this volume");
		err = -ENOENT;
		goto out;
	}
	key = entry_key(e);
	if (!key) {
		NL_SET_ERR_MSG(extack, "no key is present for this volume");
		err = -ENOKEY;
		goto out;
	}
	entry_revoke(e, key);
out:
	mutex_unlock(&cmek_keys_lock);
	return err;
}

int cmek_key_revoke_all(void)
{
	struct cmek_entry *e, *tmp;
	struct cmek_key *key;

	mutex_lock(&cmek_keys_lock);
	list_for_each_entry_safe(e, tmp, &cmek_entries, node) {
		key = entry_key(e);
		if (key)
			entry_revoke(e, key);
	}
	mutex_unlock(&cmek_keys_lock);
	return 0;
}

void cmek_entry_sum_stats(struct cmek_entry *e, u64 *reads, u64 *writes,
			  u64 *errors)
{
	struct cmek_target *ct;

	*reads = 0;
	*writes = 0;
	*errors = 0;
	list_for_each_entry(ct, &e->targets, entry_node) {
		*reads += atomic64_read(&ct->stats.reads);
		*writes += atomic64_read(&ct->stats.writes);
		*errors += atomic64_read(&ct->stats.errors);
	}
}

struct cmek_entry *cmek_entry_nth(unsigned int n)
{
	struct cmek_entry *e;

	lockdep_assert_held(&cmek_keys_lock);
	list_for_each_entry(e, &cmek_entries, node)
		if (!n--)
			return e;
	return NULL;
}

/* Mappings hold a module reference, so only unmapped keys remain here. */
void cmek_keys_exit(void)
{
	cmek_key_revoke_all();
}
