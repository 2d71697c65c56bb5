// SPDX-License-Identifier: GPL-2.0
/*
 * Copyright (C) 2026 The cmek developers.
 *
 * The key table: one entry per volume UUID, holding at most one installed
 * key. Control operations (set, revoke, attach, detach, dump) serialise on
 * cmek_keys_lock; the I/O path only does an RCU lookup and a percpu
 * reference, so a busy volume never contends with the control plane. No
 * one waits for I/O under the lock: a revoke unpublishes the key under it
 * and waits for the key to drain without it, so a stalled volume delays
 * its own revoke by one bio's crypto and no other operation at all.
 */

#include <linux/blkdev.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/wait.h>
#include <crypto/algapi.h>
#include <crypto/sha2.h>
#include <linux/device-mapper.h>
#include "compat.h"
#include "debugfs.h"
#include "keys.h"

#define DM_MSG_PREFIX "cmek"

/* Serialises the control plane; the I/O path never takes it. */
static DEFINE_MUTEX(cmek_keys_lock);
static LIST_HEAD(cmek_entries);
/* Moves when an entry comes or goes; never 0 (a dump's "not yet seen"). */
static unsigned int cmek_entries_gen = 1;
/* Who tells user space of key events (netlink.c), while it can. */
static cmek_key_event_fn cmek_event_handler;

static void entries_changed(void)
{
	lockdep_assert_held(&cmek_keys_lock);
	if (!++cmek_entries_gen)
		cmek_entries_gen = 1;
}

static struct cmek_entry *entry_find(const u8 *uuid)
{
	struct cmek_entry *e;

	lockdep_assert_held(&cmek_keys_lock);
	list_for_each_entry(e, &cmek_entries, node)
		if (!memcmp(e->uuid, uuid, CMEK_UUID_LEN))
			return e;
	return NULL;
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
	INIT_LIST_HEAD(&e->mappings);
	INIT_LIST_HEAD(&e->replaced);
	list_add_tail(&e->node, &cmek_entries);
	atomic_inc(&cmek_nr_entries);
	entries_changed();
	return e;
}

/* An entry with no mapping and no key carries nothing worth keeping. */
static void entry_maybe_free(struct cmek_entry *e)
{
	lockdep_assert_held(&cmek_keys_lock);
	if (e->users || e->revoking || e->nreplaced || e->waiters ||
	    rcu_access_pointer(e->key))
		return;
	list_del(&e->node);
	kfree(e);
	atomic_dec(&cmek_nr_entries);
	entries_changed();
}

static struct cmek_key *entry_key(struct cmek_entry *e)
{
	return rcu_dereference_protected(e->key,
					 lockdep_is_held(&cmek_keys_lock));
}

/*
 * The mapping's per-bio data holds one request of the transform that does
 * its I/O, and every key has its own transform, allocated when it is set:
 * the request size a mapping is built for must cover the key present when
 * it attaches, and a key set later must fit every mapping attached.
 */
static unsigned int key_reqsize(const struct cmek_key *key)
{
	return crypto_skcipher_reqsize(key->tfm);
}

struct cmek_entry *cmek_entry_attach(const u8 *uuid, struct cmek_mapping *m)
{
	struct cmek_key *key;
	struct cmek_entry *e;

	mutex_lock(&cmek_keys_lock);
	e = entry_find_or_create(uuid);
	if (e) {
		key = entry_key(e);
		if (key)
			m->reqsize = max(m->reqsize, key_reqsize(key));
		e->users++;
		list_add_tail(&m->node, &e->mappings);
	}
	mutex_unlock(&cmek_keys_lock);
	return e;
}

/*
 * The highest-priority xts(aes) can change after a table was loaded (a
 * hardware engine whose driver binds late, a module loaded by hand), and
 * with it the request size: a key whose requests do not fit a mapping's
 * per-bio data would have the cipher write past it. Refuse it; a reload of
 * the table sizes the mapping for the new driver.
 */
static int entry_check_reqsize(struct cmek_entry *e, struct cmek_key *key,
			       struct netlink_ext_ack *extack)
{
	struct cmek_mapping *m;

	lockdep_assert_held(&cmek_keys_lock);
	list_for_each_entry(m, &e->mappings, node) {
		if (key_reqsize(key) <= m->reqsize)
			continue;
		DMWARN("volume %pUb: xts(aes) is %s now, %u-byte requests, mapping sized for %u",
		       e->uuid, crypto_skcipher_driver_name(key->tfm),
		       key_reqsize(key), m->reqsize);
		NL_SET_ERR_MSG(extack,
			       "xts(aes) changed driver since the mapping was loaded and its requests do not fit: reload the table (dmsetup reload, resume), then set the key");
		return -EOPNOTSUPP;
	}
	return 0;
}

void cmek_entry_detach(struct cmek_entry *e, struct cmek_mapping *m)
{
	mutex_lock(&cmek_keys_lock);
	list_del(&m->node);
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

void cmek_mapping_stats(const struct cmek_mapping *m, struct cmek_stats *sum)
{
	int cpu;

	memset(sum, 0, sizeof(*sum));
	for_each_possible_cpu(cpu) {
		const struct cmek_stats *s = per_cpu_ptr(m->stats, cpu);

		sum->reads += READ_ONCE(s->reads);
		sum->writes += READ_ONCE(s->writes);
		sum->errors += READ_ONCE(s->errors);
	}
}

static void cmek_key_release(struct percpu_ref *ref)
{
	struct cmek_key *key = container_of(ref, struct cmek_key, ref);

	complete(&key->released);
}

/*
 * Every transform cmek uses. Asynchronous drivers are welcome (the I/O
 * path completes from their callbacks), but not those that allocate
 * memory per request: writeback under memory pressure, and swap, must not
 * wait for memory to encrypt. dm-crypt masks the same flag.
 */
struct crypto_skcipher *cmek_alloc_xts(void)
{
	return crypto_alloc_skcipher("xts(aes)", 0,
				     CRYPTO_ALG_ALLOCATES_MEMORY);
}

static struct cmek_key *cmek_key_alloc(const u8 *bytes, unsigned int size,
				       struct netlink_ext_ack *extack)
{
	struct cmek_key *key;
	int err;

	key = kzalloc(sizeof(*key), GFP_KERNEL);
	if (!key)
		return ERR_PTR(-ENOMEM);
	key->tfm = cmek_alloc_xts();
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
 * Retiring a key takes two steps so that the wait happens without
 * cmek_keys_lock. cmek_key_kill(), under the lock, makes every later
 * cmek_key_get() fail. cmek_key_drain() then waits until no bio is inside
 * the cipher with @key and frees the transform: crypto_free_skcipher()
 * releases the expanded key schedule with kfree_sensitive(). The release
 * callback runs only after an RCU grace period, so no reader that saw the
 * old pointer can still touch @key when it is freed.
 */
static void cmek_key_kill(struct cmek_key *key)
{
	percpu_ref_kill(&key->ref);
}

static void cmek_key_free(struct cmek_key *key)
{
	percpu_ref_exit(&key->ref);
	crypto_free_skcipher(key->tfm);
	kfree_sensitive(key);
	atomic_dec(&cmek_nr_keys);
}

static void cmek_key_drain(struct cmek_key *key)
{
	wait_for_completion(&key->released);
	cmek_key_free(key);
}

static void entry_mappings_changed(struct cmek_entry *e, bool present)
{
	struct cmek_mapping *m;

	lockdep_assert_held(&cmek_keys_lock);
	list_for_each_entry(m, &e->mappings, node)
		m->key_changed(m, present);
}

static void entry_info(struct cmek_entry *e, struct cmek_entry_info *info)
{
	struct cmek_mapping *m;

	lockdep_assert_held(&cmek_keys_lock);
	memcpy(info->uuid, e->uuid, CMEK_UUID_LEN);
	info->state = e->state;
	info->generation = e->generation;
	info->key_size = e->key_size;
	info->users = e->users;
	info->reads = 0;
	info->writes = 0;
	info->errors = 0;
	list_for_each_entry(m, &e->mappings, node) {
		struct cmek_stats sum;

		cmek_mapping_stats(m, &sum);
		info->reads += sum.reads;
		info->writes += sum.writes;
		info->errors += sum.errors;
	}
}

static void entry_notify(u8 cmd, struct cmek_entry *e)
{
	struct cmek_entry_info info;

	lockdep_assert_held(&cmek_keys_lock);
	if (!cmek_event_handler)
		return;
	entry_info(e, &info);
	cmek_event_handler(cmd, &info);
}

/*
 * Events stop (NULL) before their handler's family goes, so that the
 * revokes that follow (cmek_keys_exit) never reach it.
 */
void cmek_keys_set_event_handler(cmek_key_event_fn fn)
{
	mutex_lock(&cmek_keys_lock);
	cmek_event_handler = fn;
	mutex_unlock(&cmek_keys_lock);
}

/* Woken whenever a key has drained or a revoke has finished. */
static DECLARE_WAIT_QUEUE_HEAD(cmek_revoke_wq);
/* Numbers the revokes, so that revoke_all can wait for the older ones. */
static u64 cmek_revoke_seq;

/*
 * The waits below drop cmek_keys_lock while they sleep; @e stays allocated
 * meanwhile (e->waiters). Each is called and returns with the lock held.
 */

/* Until the revoke of @e under way, if any, has finished. */
static void entry_wait_revoked(struct cmek_entry *e)
{
	u64 seq = e->revoke_seq;

	lockdep_assert_held(&cmek_keys_lock);
	while (e->revoke_done < seq) {
		e->waiters++;
		mutex_unlock(&cmek_keys_lock);
		wait_event(cmek_revoke_wq, READ_ONCE(e->revoke_done) >= seq);
		mutex_lock(&cmek_keys_lock);
		e->waiters--;
	}
}

/* Until no key a REPLACE retired is draining any more. */
static void entry_wait_replaced(struct cmek_entry *e)
{
	lockdep_assert_held(&cmek_keys_lock);
	while (e->nreplaced) {
		e->waiters++;
		mutex_unlock(&cmek_keys_lock);
		wait_event(cmek_revoke_wq, !READ_ONCE(e->nreplaced));
		mutex_lock(&cmek_keys_lock);
		e->waiters--;
	}
}

/*
 * A REPLACE's old key drains without the lock too, on e->replaced, so that
 * a revoke can find it, mark it revoked and wait for it as well.
 */
static void entry_drain_replaced(struct cmek_entry *e, struct cmek_key *old)
{
	lockdep_assert_held(&cmek_keys_lock);
	cmek_key_kill(old);
	old->entry = e;
	list_add_tail(&old->drain_node, &e->replaced);
	WRITE_ONCE(e->nreplaced, e->nreplaced + 1);
	mutex_unlock(&cmek_keys_lock);

	wait_for_completion(&old->released);

	mutex_lock(&cmek_keys_lock);
	list_del(&old->drain_node);
	WRITE_ONCE(e->nreplaced, e->nreplaced - 1);
	mutex_unlock(&cmek_keys_lock);
	wake_up_all(&cmek_revoke_wq);
	cmek_key_free(old);
}

/*
 * What binds a volume to its key without keeping the key: SHA-256 over a
 * label of this use alone, the volume UUID and the key. A key is 256 or
 * 512 random bits, so its digest gives nothing of it away.
 */
static void key_fingerprint(const u8 *uuid, const u8 *bytes,
			    unsigned int size, u8 *out)
{
	static const char label[] = "cmek key binding v1";
	struct sha256_state sctx;

	sha256_init(&sctx);
	sha256_update(&sctx, (const u8 *)label, sizeof(label) - 1);
	sha256_update(&sctx, uuid, CMEK_UUID_LEN);
	sha256_update(&sctx, bytes, size);
	sha256_final(&sctx, out);	/* and wipes @sctx */
}

/*
 * A mapped volume keeps the key it has, or had before a revoke: whoever
 * can push keys (a daemon fooled by a copy of the volume's disk, say) must
 * not swap the key of a volume in use. With no mapping, any key may be
 * set, and the entry is bound to it.
 */
static int entry_check_binding(struct cmek_entry *e, const u8 *fp,
			       struct netlink_ext_ack *extack)
{
	lockdep_assert_held(&cmek_keys_lock);
	if (!e->users || !e->bound ||
	    !crypto_memneq(fp, e->binding, sizeof(e->binding)))
		return 0;
	DMWARN_LIMIT("volume %pUb: a different key for a mapped volume refused, %u mapping(s)",
		     e->uuid, e->users);
	NL_SET_ERR_MSG(extack,
		       "a different key for a mapped volume is refused: it takes only the key it has or had; remove its mappings to set another");
	return -EKEYREJECTED;
}

int cmek_key_set(const u8 *uuid, u8 *bytes, unsigned int size,
		 u64 generation, bool has_generation, bool replace,
		 struct netlink_ext_ack *extack)
{
	u8 fp[SHA256_DIGEST_SIZE];
	struct cmek_key *key, *old;
	struct cmek_entry *e;
	int err = 0;

	key_fingerprint(uuid, bytes, size, fp);
	key = cmek_key_alloc(bytes, size, extack);
	/* The transform has it now: no copy waits with us below. */
	memzero_explicit(bytes, size);
	if (IS_ERR(key))
		return PTR_ERR(key);

	mutex_lock(&cmek_keys_lock);
	e = entry_find_or_create(uuid);
	if (!e) {
		err = -ENOMEM;
		goto err_unlock;
	}
	/*
	 * A revoke of this volume is under way: let it finish, so that its
	 * caller never sees the volume unlocked before it returns.
	 */
	while (e->revoking)
		entry_wait_revoked(e);
	/* Before EEXIST: for a different key, REPLACE would not help. */
	err = entry_check_binding(e, fp, extack);
	if (err)
		goto err_unlock;
	old = entry_key(e);
	if (old && !replace) {
		NL_SET_ERR_MSG(extack, "a key is already set for this volume (use REPLACE)");
		err = -EEXIST;
		goto err_unlock;
	}
	err = entry_check_reqsize(e, key, extack);
	if (err) {
		entry_maybe_free(e);
		goto err_unlock;
	}
	key->generation = has_generation ? generation : e->generation + 1;
	WRITE_ONCE(e->generation, key->generation);
	e->key_size = size;
	memcpy(e->binding, fp, sizeof(e->binding));
	e->bound = true;
	WRITE_ONCE(e->state, CMEK_KEY_PRESENT);
	rcu_assign_pointer(e->key, key);
	entry_mappings_changed(e, true);
	entry_notify(CMEK_CMD_EVENT_KEY_SET, e);
	if (old)
		entry_drain_replaced(e, old);	/* drops the lock */
	else
		mutex_unlock(&cmek_keys_lock);
	return 0;

err_unlock:
	mutex_unlock(&cmek_keys_lock);
	cmek_key_kill(key);
	cmek_key_drain(key);
	return err;
}

/*
 * Drop whatever the mapped device has cached: plaintext pages must not
 * outlive the key that decrypted them. Pages mapped into a process are
 * unmapped first, or invalidation would skip them; private copies made by
 * a write fault belong to the process and stay. Dirty, locked and
 * writeback pages are skipped rather than waited for, since the device
 * below may be stalled; dirty pages then fail to write back, which is what
 * a locked volume should do with them. A page that a process faults in
 * again between the unmap and the invalidation stays: one more round makes
 * that window small, not gone.
 */
static void entry_invalidate_caches(struct cmek_entry *e)
{
	struct cmek_mapping *m;

	lockdep_assert_held(&cmek_keys_lock);
	list_for_each_entry(m, &e->mappings, node) {
		struct mapped_device *md = dm_table_get_md(m->ti->table);
		struct block_device *bdev = dm_disk(md)->part0;
		struct address_space *mapping = cmek_bdev_mapping(bdev);

		for (int round = 0; round < 2; round++) {
			unmap_mapping_range(mapping, 0, 0, 0);
			invalidate_bdev(bdev);
			if (!mapping_mapped(mapping) || !mapping->nrpages)
				break;
		}
	}
}

/*
 * First half of a revoke, under cmek_keys_lock: unpublish the key, mark it
 * and any key a REPLACE left draining revoked, and kill its reference, so
 * that from here on no bio starts crypto with any of them and no read
 * hands out plaintext made with them. The cache goes at once too; what
 * reads in flight still put there goes in the second half.
 */
static void entry_revoke_start(struct cmek_entry *e, struct cmek_key *key)
{
	struct cmek_key *old;

	lockdep_assert_held(&cmek_keys_lock);
	RCU_INIT_POINTER(e->key, NULL);
	WRITE_ONCE(key->revoked, true);
	list_for_each_entry(old, &e->replaced, drain_node)
		WRITE_ONCE(old->revoked, true);
	cmek_key_kill(key);
	key->entry = e;
	WRITE_ONCE(e->state, CMEK_KEY_REVOKED);
	WRITE_ONCE(e->revoking, true);
	e->revoke_seq = ++cmek_revoke_seq;
	entry_mappings_changed(e, false);
	entry_invalidate_caches(e);
}

/*
 * Second half, under the lock again once the key has drained (and been
 * freed): wait for keys a REPLACE left draining, then nothing can put
 * plaintext into the page cache any more; drop it, and tell the world.
 */
static void entry_revoke_finish(struct cmek_entry *e, ktime_t start)
{
	lockdep_assert_held(&cmek_keys_lock);
	entry_wait_replaced(e);
	entry_invalidate_caches(e);
	DMINFO("volume %pUb: key revoked and wiped, %u mapping(s), in %lld us",
	       e->uuid, e->users, ktime_us_delta(ktime_get(), start));
	entry_notify(CMEK_CMD_EVENT_KEY_REVOKED, e);
	WRITE_ONCE(e->revoke_done, e->revoke_seq);
	WRITE_ONCE(e->revoking, false);
	wake_up_all(&cmek_revoke_wq);
	entry_maybe_free(e);
}

int cmek_key_revoke(const u8 *uuid, struct netlink_ext_ack *extack)
{
	ktime_t start = ktime_get();
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
		/* Another revoke is under way: return when it is done. */
		if (e->revoking) {
			entry_wait_revoked(e);
			entry_maybe_free(e);
			goto out;
		}
		NL_SET_ERR_MSG(extack, "no key is present for this volume");
		err = -ENOKEY;
		goto out;
	}
	entry_revoke_start(e, key);
	mutex_unlock(&cmek_keys_lock);

	cmek_key_drain(key);

	mutex_lock(&cmek_keys_lock);
	entry_revoke_finish(e, start);
out:
	mutex_unlock(&cmek_keys_lock);
	return err;
}

/*
 * Kill every key first, then wait: the drains overlap, so revoking many
 * volumes costs about as much as revoking the slowest one. Revokes of
 * single volumes that started before are waited for too; later ones are
 * not, so a stream of them cannot hold this up.
 */
int cmek_key_revoke_all(void)
{
	ktime_t start = ktime_get();
	struct cmek_key *key, *tmp;
	struct cmek_entry *e;
	LIST_HEAD(drain);
	u64 seq0;

	mutex_lock(&cmek_keys_lock);
	seq0 = cmek_revoke_seq;
	list_for_each_entry(e, &cmek_entries, node) {
		key = entry_key(e);
		if (!key)
			continue;
		entry_revoke_start(e, key);
		list_add_tail(&key->drain_node, &drain);
	}
	mutex_unlock(&cmek_keys_lock);

	list_for_each_entry(key, &drain, drain_node)
		wait_for_completion(&key->released);

	mutex_lock(&cmek_keys_lock);
	list_for_each_entry_safe(key, tmp, &drain, drain_node) {
		e = key->entry;
		list_del(&key->drain_node);
		cmek_key_free(key);
		entry_revoke_finish(e, start);
	}
	/* Each pass waits for one older revoke; the list may change meanwhile. */
	for (;;) {
		struct cmek_entry *older = NULL;

		list_for_each_entry(e, &cmek_entries, node)
			if (e->revoking && e->revoke_seq <= seq0) {
				older = e;
				break;
			}
		if (!older)
			break;
		entry_wait_revoked(older);
		entry_maybe_free(older);
	}
	mutex_unlock(&cmek_keys_lock);
	return 0;
}

int cmek_entry_get_info(const u8 *uuid, struct cmek_entry_info *info)
{
	struct cmek_entry *e;

	mutex_lock(&cmek_keys_lock);
	e = entry_find(uuid);
	if (e)
		entry_info(e, info);
	mutex_unlock(&cmek_keys_lock);
	return e ? 0 : -ENOENT;
}

static struct cmek_entry *entry_nth(unsigned int n)
{
	struct cmek_entry *e;

	lockdep_assert_held(&cmek_keys_lock);
	list_for_each_entry(e, &cmek_entries, node)
		if (!n--)
			return e;
	return NULL;
}

/* The entry after @e in the table's order, NULL after the last. */
static struct cmek_entry *entry_next(struct cmek_entry *e)
{
	lockdep_assert_held(&cmek_keys_lock);
	if (list_is_last(&e->node, &cmek_entries))
		return NULL;
	return list_next_entry(e, node);
}

/* A dump of n entries takes O(n) steps, not one walk per entry. */
int cmek_keys_dump(struct cmek_keys_cursor *c,
		   int (*fill)(const struct cmek_entry_info *info, void *arg),
		   void *arg)
{
	struct cmek_entry_info info;
	struct cmek_entry *e;
	int err = 0;

	mutex_lock(&cmek_keys_lock);
	if (c->idx && c->gen == cmek_entries_gen)
		e = c->pos;
	else
		e = entry_nth(c->idx);
	c->gen = cmek_entries_gen;
	for (; e; e = entry_next(e), c->idx++) {
		entry_info(e, &info);
		err = fill(&info, arg);
		if (err)
			break;
	}
	c->pos = e;
	mutex_unlock(&cmek_keys_lock);
	return err;
}

/*
 * Mappings hold a module reference, so only unmapped keys remain here, and
 * the netlink family is gone: nothing can set a key behind us.
 */
void cmek_keys_exit(void)
{
	cmek_key_revoke_all();
}
