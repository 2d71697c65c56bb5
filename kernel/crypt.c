// SPDX-License-Identifier: GPL-2.0
/*
 * Copyright (C) 2026 The cmek developers.
 *
 * The data path: AES-XTS with plain64 IVs, byte-compatible with dm-crypt's
 * aes-xts-plain64.
 *
 * Where the crypto runs adapts to the load. A bio that is alone in the
 * mapping is converted in the context that already has the data, with no
 * workqueue hop (dm-crypt's no_write_workqueue / no_read_workqueue): a
 * write in the submitter's context (map) into bounce pages, a read in
 * place in its completion context. When other bios are in flight, the CPU
 * that submits them is the bottleneck, so the conversion goes to the
 * mapping's unbound workqueue and runs on every CPU, as in dm-crypt's
 * default mode, but without its second hop through a write thread. A
 * completion in hard-irq context, where the SIMD unit is unusable, always
 * goes to the workqueue. The transform may still be asynchronous (the x86
 * simd wrapper defers to cryptd when the FPU is busy, a hardware engine
 * always is): then every sector of the bio is in flight at once, and the
 * last completion finishes the bio. The measurements behind
 * these choices are in Documentation/admin-guide/cmek-benchmark.rst ("How
 * the data path got here").
 */

#include <linux/blkdev.h>
#include <linux/scatterlist.h>
#include "cmek.h"
#include "compat.h"
#include "crypt.h"

/*
 * One crypto sector's request. The bio's first is in its per-bio data; the
 * others, needed only while the first is in an asynchronous cipher, come
 * from ct->req_pool. Both are sized for ct->map.reqsize, which covers the
 * transform of any key the mapping is given (cmek_entry_attach()).
 */
struct cmek_req {
	struct cmek_io *io;
	struct scatterlist sg_in, sg_out;
	__le64 iv[2];
	struct skcipher_request req;	/* last: its context follows */
};

/* Per-bio state, in the dm clone's per_io_data. */
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
	/* See cmek_crypt_run(). */
	atomic_t pending;
	unsigned int nr_async;
	struct completion restart;	/* a backlogged request was started */
	struct cmek_req req;		/* last: its context follows */
};

/* Requests kept in reserve per mapping, as dm-crypt's req_pool. */
#define CMEK_MIN_REQS	64

/*
 * The per-bio data, rounded as dm-crypt rounds its own (dm's dm_target_io
 * follows it), and the pool of further requests.
 */
int cmek_crypt_alloc(struct cmek_target *ct)
{
	unsigned int reqsize = ct->map.reqsize;

	ct->ti->per_io_data_size = ALIGN(sizeof(struct cmek_io) + reqsize,
					 ARCH_KMALLOC_MINALIGN);
	return mempool_init_kmalloc_pool(&ct->req_pool, CMEK_MIN_REQS,
					 sizeof(struct cmek_req) + reqsize);
}

/*
 * Convert this bio on the workqueue rather than here? Yes when another bio
 * of the mapping is in flight (the submitting CPU is the bottleneck), and
 * for large bios, whose conversion dwarfs the cost of the hop.
 *
 * A device that completes in the submitter's context (brd, a fast NVMe
 * polled queue) hides the queue depth: converted inline, each bio is done
 * before the next is submitted, so the in-flight count stays at one
 * however deep the submitter's queue. So one bio in ct->probe_every goes
 * to the workqueue anyway: if the submitter had more to send, the count
 * then grows, and the mapping stays on the workqueue until CMEK_BURST bios
 * in a row found nothing else in flight. The burst is long because a
 * worker that preempts the submitter on its CPU can finish everything in
 * flight before the submitter sends more, so long runs find nothing else
 * in flight even at a deep queue. A burst only starts when concurrency
 * was seen, so a queue-depth-one stream never pays it.
 *
 * A probe that finds the submitter waiting (nothing else in flight when it
 * completes) doubles the interval up to CMEK_PROBE_MAX; any concurrency
 * seen brings it back to CMEK_PROBE_MIN.
 */
#define CMEK_OFFLOAD_BYTES	(64 * 1024)
#define CMEK_PROBE_MIN		64
#define CMEK_PROBE_MAX		1024
#define CMEK_BURST		256

static bool cmek_offload(struct cmek_io *io)
{
	struct cmek_target *ct = io->ct;

	if (atomic_read(&ct->inflight) > 1) {
		/* Read first: under load these lines stay shared, not bounced. */
		if (atomic_read(&ct->burst) != CMEK_BURST)
			atomic_set(&ct->burst, CMEK_BURST);
		if (atomic_read(&ct->probe_every) != CMEK_PROBE_MIN)
			atomic_set(&ct->probe_every, CMEK_PROBE_MIN);
		return true;
	}
	if (io->iter_in.bi_size >= CMEK_OFFLOAD_BYTES ||
	    atomic_dec_if_positive(&ct->burst) >= 0)
		return true;
	if (atomic_inc_return(&ct->probe) < atomic_read(&ct->probe_every))
		return false;
	/* Racing submitters may both probe: harmless, it is a heuristic. */
	atomic_set(&ct->probe, 0);
	io->probe = true;
	return true;
}

/* The probe's verdict, taken while it still counts as in flight. */
static void cmek_probe_done(struct cmek_target *ct)
{
	int every = atomic_read(&ct->probe_every);

	if (atomic_read(&ct->inflight) > 1)
		atomic_set(&ct->probe_every, CMEK_PROBE_MIN);
	else if (every < CMEK_PROBE_MAX)
		atomic_set(&ct->probe_every, every * 2);
}

static void cmek_complete(struct cmek_io *io, blk_status_t status)
{
	struct cmek_target *ct = io->ct;
	struct bio *bio = io->base_bio;

	/* A bio dm gives to the next table is counted there. */
	if (status != BLK_STS_DM_REQUEUE) {
		if (bio_data_dir(bio) == WRITE)
			this_cpu_inc(ct->map.stats->writes);
		else
			this_cpu_inc(ct->map.stats->reads);
		if (status)
			this_cpu_inc(ct->map.stats->errors);
	}
	if (io->probe)
		cmek_probe_done(ct);
	atomic_dec(&ct->inflight);
	bio->bi_status = status;
	bio_endio(bio);
}

static void cmek_need_key(struct cmek_target *ct)
{
	if (!atomic_xchg(&ct->key_needed_sent, 1))
		schedule_work(&ct->event_work);
}

static struct cmek_io *cmek_held_io(struct cmek_target *ct, struct bio *bio)
{
	return dm_per_bio_data(bio, ct->ti->per_io_data_size);
}

/*
 * The held list is kept in deadline order, so that the timer only ever
 * looks at its head. A bio held for the first time has the latest deadline
 * (one key_wait_ms for the mapping) and goes to the tail; one held again
 * (its key came and went before it ran) keeps its deadline and is put in
 * its place. True if it is the new head.
 */
static bool cmek_held_insert(struct cmek_target *ct, struct cmek_io *io)
{
	struct bio **pp = &ct->held.head;
	struct bio *bio = io->base_bio;

	lockdep_assert_held(&ct->hold_lock);
	if (!ct->held.tail ||
	    !time_before(io->deadline, cmek_held_io(ct, ct->held.tail)->deadline)) {
		bio_list_add(&ct->held, bio);
		return ct->held.head == bio;
	}
	while (!time_before(io->deadline, cmek_held_io(ct, *pp)->deadline))
		pp = &(*pp)->bi_next;
	bio->bi_next = *pp;
	*pp = bio;
	return pp == &ct->held.head;
}

/*
 * The timer is due at the head's deadline; a key that is present wants
 * it now. Looked at after arming, so that a key published meanwhile (whose
 * cmek_key_changed() arms it for now) is never put off by this. Called
 * with hold_lock held.
 */
static void cmek_hold_arm(struct cmek_target *ct, bool new_head)
{
	struct bio *head = bio_list_peek(&ct->held);
	unsigned long now = jiffies, due;

	lockdep_assert_held(&ct->hold_lock);
	if (new_head && head) {
		due = cmek_held_io(ct, head)->deadline;
		mod_delayed_work(ct->wq, &ct->hold_work,
				 time_after(due, now) ? due - now : 0);
	}
	if (rcu_access_pointer(ct->entry->key))
		mod_delayed_work(ct->wq, &ct->hold_work, 0);
}

/*
 * How a bio that may not wait ends while the mapping suspends: on a noflush
 * suspend (a table reload) dm takes it back and submits it again to the
 * table that is resumed, as with dm-multipath's queue_if_no_path; on any
 * other it fails.
 */
static blk_status_t cmek_suspend_status(struct cmek_target *ct)
{
	return dm_noflush_suspending(ct->ti) ? BLK_STS_DM_REQUEUE :
					       BLK_STS_IOERR;
}

/*
 * Park a bio until a key arrives or its key_wait_ms runs out. Once the bio
 * is on the list another CPU may release and complete it, so the timer is
 * set under the lock. A key that arrived since cmek_no_key() looked has
 * released the list already, perhaps before this bio was on it:
 * cmek_hold_arm() looks again.
 */
static void cmek_hold(struct cmek_io *io)
{
	struct cmek_target *ct = io->ct;
	blk_status_t status = BLK_STS_OK;
	unsigned long flags;

	if (!io->deadline)
		io->deadline = jiffies + msecs_to_jiffies(ct->key_wait_ms) ?: 1;
	spin_lock_irqsave(&ct->hold_lock, flags);
	if (ct->suspended)
		status = cmek_suspend_status(ct);
	else if (time_after_eq(jiffies, io->deadline))
		status = BLK_STS_IOERR;
	else
		cmek_hold_arm(ct, cmek_held_insert(ct, io));
	spin_unlock_irqrestore(&ct->hold_lock, flags);
	if (status)
		cmek_complete(io, status);
}

static void cmek_no_key(struct cmek_io *io)
{
	cmek_need_key(io->ct);
	if (io->ct->key_wait_ms)
		cmek_hold(io);
	else
		cmek_complete(io, BLK_STS_IOERR);
}

static void cmek_free_clone_pages(struct cmek_target *ct, struct bio *clone)
{
	struct bio_vec *bv;
	struct bvec_iter_all iter_all;

	bio_for_each_segment_all(bv, clone, iter_all)
		cmek_bounce_free(&ct->bounce, bv->bv_page);
}

static void cmek_write_endio(struct bio *clone)
{
	struct cmek_io *io = clone->bi_private;
	blk_status_t status = clone->bi_status;

	cmek_free_clone_pages(io->ct, clone);
	bio_put(clone);
	cmek_complete(io, status);
}

/*
 * Bounce pages for a write. The first pass does not wait; if the pool runs
 * dry, retry under the mapping's mutex with direct reclaim so that
 * concurrent writers cannot each hold part of the pool and deadlock (as
 * dm-crypt does). The mutex is per mapping, as dm-crypt's is: a stalled
 * mapping must not stop the writes of every other, and cmek stacked on
 * cmek would deadlock on a shared one.
 */
static struct bio *cmek_alloc_write_clone(struct cmek_io *io)
{
	struct cmek_target *ct = io->ct;
	struct bio *base = io->base_bio;
	unsigned int size = base->bi_iter.bi_size;
	unsigned int nr = DIV_ROUND_UP(size, PAGE_SIZE);
	gfp_t gfp = GFP_NOWAIT | __GFP_NOWARN;
	bool locked = false;
	struct bio *clone;

retry:
	if (locked)
		mutex_lock(&ct->alloc_lock);
	clone = bio_alloc_bioset(ct->dev->bdev, nr, base->bi_opf, GFP_NOIO,
				 &ct->bs);
	for (unsigned int left = size; left;) {
		unsigned int len = min_t(unsigned int, left, PAGE_SIZE);
		struct page *page = cmek_bounce_alloc(&ct->bounce, gfp);

		if (!page) {
			cmek_free_clone_pages(ct, clone);
			bio_put(clone);
			gfp = GFP_NOIO;
			locked = true;
			goto retry;
		}
		__bio_add_page(clone, page, len, 0);
		left -= len;
	}
	if (locked)
		mutex_unlock(&ct->alloc_lock);

	/* dm polls its own clones only, never ours: complete by interrupt. */
	clone->bi_opf &= ~REQ_POLLED;
	clone->bi_private = io;
	clone->bi_end_io = cmek_write_endio;
	clone->bi_ioprio = base->bi_ioprio;
	clone->bi_iter.bi_sector = ct->start +
		dm_target_offset(ct->ti, base->bi_iter.bi_sector);
	return clone;
}

/*
 * A read completes with plaintext only while its key is not revoked: the
 * reference is held until bio_endio() has returned, so a revoke waits for
 * it, and a read that finds the key revoked zeroes what it decrypted and
 * fails instead. Either the read completed before the revoke returned, or
 * it completes with no plaintext. (A REPLACE also retires the old key, but
 * does not revoke it: its reads complete.)
 */
static void cmek_read_finish(struct cmek_io *io)
{
	struct cmek_key *key = io->key;

	if (READ_ONCE(key->revoked))
		io->error = BLK_STS_IOERR;
	if (io->error)
		zero_fill_bio(io->base_bio);
	cmek_complete(io, io->error);
	cmek_key_put(key);
}

static void cmek_submit_work(struct work_struct *work)
{
	struct cmek_io *io = container_of(work, struct cmek_io, submit_work);

	dm_submit_bio_remap(io->base_bio, io->clone);
}

/*
 * All sectors converted (or an error): hand the bio on. @async: we run in
 * an async cipher's completion, which may be softirq or hard irq context.
 * A read's bio_endio() may run there, but submitting the write may sleep
 * (a frozen queue, a tag wait): as dm-crypt hands such writes to its write
 * thread, it goes to the mapping's submission workqueue.
 */
static void cmek_crypt_finish(struct cmek_io *io, bool async)
{
	struct bio *clone = io->clone;

	if (bio_data_dir(io->base_bio) == READ) {
		cmek_read_finish(io);
		return;
	}
	cmek_key_put(io->key);
	io->key = NULL;
	if (io->error) {
		cmek_free_clone_pages(io->ct, clone);
		bio_put(clone);
		cmek_complete(io, io->error);
		return;
	}
	if (async) {
		INIT_WORK(&io->submit_work, cmek_submit_work);
		queue_work(io->ct->submit_wq, &io->submit_work);
		return;
	}
	dm_submit_bio_remap(io->base_bio, clone);
}

static void cmek_crypt_done(CMEK_CRYPTO_DONE_ARG arg, int err)
{
	struct cmek_req *r = cmek_crypto_done_data(arg);
	struct cmek_io *io = r->io;

	/* A backlogged request was started: its issuer may go on. */
	if (err == -EINPROGRESS) {
		complete(&io->restart);
		return;
	}
	if (err)
		io->error = BLK_STS_IOERR;
	if (r != &io->req)
		mempool_free(r, &io->ct->req_pool);
	if (atomic_dec_and_test(&io->pending))
		cmek_crypt_finish(io, true);
}

static void cmek_crypt_run(struct cmek_io *io);

/* Go on where a read's completion context could not wait. */
static void cmek_crypt_resume(struct work_struct *work)
{
	struct cmek_io *io = container_of(work, struct cmek_io, work);

	wait_for_completion(&io->restart);
	reinit_completion(&io->restart);
	io->in_work = true;
	cmek_crypt_run(io);
}

static void cmek_crypt_defer(struct cmek_io *io)
{
	INIT_WORK(&io->work, cmek_crypt_resume);
	queue_work(io->ct->wq, &io->work);
}

/*
 * The next request: the one the last sector used if that one completed
 * synchronously, so that a synchronous cipher only ever uses the first.
 * The first is free until a request goes asynchronous, and that is always
 * the first.
 */
static struct cmek_req *cmek_req_alloc(struct cmek_io *io, bool may_sleep)
{
	struct cmek_req *r;

	if (!io->nr_async)
		return &io->req;
	r = mempool_alloc(&io->ct->req_pool, may_sleep ? GFP_NOIO : GFP_ATOMIC);
	if (r)
		r->io = io;
	return r;
}

/*
 * Convert the rest of the bio, one crypto sector per request, as dm-crypt
 * does: each sector has its own IV. A request an asynchronous cipher takes
 * stays in flight while the next sectors are issued, so an engine sees the
 * whole bio at once, not one round trip per sector; the last to complete
 * finishes the bio. The key's reference, which a revoke waits for, is
 * dropped only then (cmek_crypt_finish()): it covers every request.
 *
 * @pending counts the requests in flight, plus a bias that keeps it above
 * zero until every sector is issued; the issuer counts them in @nr_async
 * and settles at the end. Counting each request before it is issued, as
 * dm-crypt does, would cost two atomics a sector on a synchronous cipher
 * (AES-NI), which never completes one asynchronously.
 *
 * -EBUSY: the cipher's queue is full and the request waits in its backlog;
 * issue no more until it was started, as dm-crypt. A read converted in its
 * completion context may not wait: the rest goes to the workqueue.
 */
#define CMEK_PENDING_BIAS	BIT(30)	/* more than any bio's sectors */

static void cmek_crypt_run(struct cmek_io *io)
{
	struct cmek_target *ct = io->ct;
	bool write = bio_data_dir(io->base_bio) == WRITE;
	bool may_sleep = write || io->in_work;
	unsigned int ss = ct->sector_size;
	struct cmek_req *r = NULL;
	int err;

	while (io->iter_in.bi_size) {
		struct bio_vec in = bio_iter_iovec(io->base_bio, io->iter_in);
		struct bio_vec out = bio_iter_iovec(io->clone, io->iter_out);
		u64 iv = io->iv_sector;

		/* A crypto sector must not straddle a page: reject, as dm-crypt. */
		if (unlikely(in.bv_len < ss || out.bv_len < ss)) {
			io->error = BLK_STS_IOERR;
			break;
		}
		if (!r) {
			r = cmek_req_alloc(io, may_sleep);
			if (unlikely(!r)) {
				/* Nothing is backlogged: let the worker pass. */
				complete(&io->restart);
				cmek_crypt_defer(io);
				return;
			}
		}
		if (ct->iv_large_sectors)
			iv >>= ct->sector_shift;
		r->iv[0] = cpu_to_le64(iv);
		r->iv[1] = 0;

		sg_init_table(&r->sg_in, 1);
		sg_set_page(&r->sg_in, in.bv_page, ss, in.bv_offset);
		sg_init_table(&r->sg_out, 1);
		sg_set_page(&r->sg_out, out.bv_page, ss, out.bv_offset);

		skcipher_request_set_tfm(&r->req, io->key->tfm);
		skcipher_request_set_callback(&r->req, CRYPTO_TFM_REQ_MAY_BACKLOG,
					      cmek_crypt_done, r);
		skcipher_request_set_crypt(&r->req, &r->sg_in, &r->sg_out, ss,
					   r->iv);

		bio_advance_iter_single(io->base_bio, &io->iter_in, ss);
		bio_advance_iter_single(io->clone, &io->iter_out, ss);
		io->iv_sector += ss >> SECTOR_SHIFT;

		err = write ? crypto_skcipher_encrypt(&r->req) :
			      crypto_skcipher_decrypt(&r->req);
		if (err == -EINPROGRESS || err == -EBUSY) {
			io->nr_async++;
			r = NULL;
			if (err == -EINPROGRESS)
				continue;
			if (may_sleep) {
				wait_for_completion(&io->restart);
			} else if (!try_wait_for_completion(&io->restart)) {
				cmek_crypt_defer(io);
				return;
			}
			reinit_completion(&io->restart);
			continue;
		}
		if (unlikely(err)) {
			io->error = BLK_STS_IOERR;
			break;
		}
		/* A bio of 256 sectors is a long run for a shared worker. */
		if (io->in_work)
			cond_resched();
	}
	if (r && r != &io->req)
		mempool_free(r, &ct->req_pool);
	if (!io->nr_async ||
	    atomic_sub_and_test(CMEK_PENDING_BIAS - io->nr_async, &io->pending))
		cmek_crypt_finish(io, false);
}

static void cmek_crypt_start(struct cmek_io *io)
{
	io->nr_async = 0;
	atomic_set(&io->pending, CMEK_PENDING_BIAS);
	init_completion(&io->restart);
	io->req.io = io;
	cmek_crypt_run(io);
}

static void cmek_read_decrypt(struct cmek_io *io)
{
	io->key = cmek_key_get(io->ct->entry);
	if (!io->key) {
		/* Revoked while the read was at the device. */
		cmek_need_key(io->ct);
		cmek_complete(io, BLK_STS_IOERR);
		return;
	}
	/* Decrypt in place: the "clone" we write into is the base bio. */
	io->clone = io->base_bio;
	io->iter_out = io->iter_in;
	cmek_crypt_start(io);
}

static void cmek_read_work(struct work_struct *work)
{
	struct cmek_io *io = container_of(work, struct cmek_io, work);

	io->in_work = true;
	cmek_read_decrypt(io);
}

static void cmek_read_endio(struct bio *clone)
{
	struct cmek_io *io = clone->bi_private;
	blk_status_t status = clone->bi_status;

	bio_put(clone);
	if (status) {
		cmek_complete(io, status);
		return;
	}
	if (in_hardirq() || irqs_disabled() || cmek_offload(io)) {
		INIT_WORK(&io->work, cmek_read_work);
		queue_work(io->ct->wq, &io->work);
		return;
	}
	cmek_read_decrypt(io);
}

/*
 * The key is taken after the bounce pages, whose allocation may wait for
 * memory: a revoke never waits for a writer that has not started its crypto.
 */
static void cmek_write(struct cmek_io *io)
{
	/* No bounce pages for a write that cannot have a key anyway. */
	if (!rcu_access_pointer(io->ct->entry->key)) {
		cmek_no_key(io);
		return;
	}
	io->clone = cmek_alloc_write_clone(io);
	io->key = cmek_key_get(io->ct->entry);
	if (!io->key) {
		cmek_free_clone_pages(io->ct, io->clone);
		bio_put(io->clone);
		io->clone = NULL;
		cmek_no_key(io);
		return;
	}
	io->iter_out = io->clone->bi_iter;
	cmek_crypt_start(io);
}

static void cmek_write_work(struct work_struct *work)
{
	struct cmek_io *io = container_of(work, struct cmek_io, work);

	io->in_work = true;
	cmek_write(io);
}

static void cmek_submit_read(struct cmek_io *io)
{
	struct cmek_target *ct = io->ct;
	struct bio *clone;

	clone = bio_alloc_clone(ct->dev->bdev, io->base_bio, GFP_NOIO, &ct->bs);
	clone->bi_opf &= ~REQ_POLLED;
	clone->bi_private = io;
	clone->bi_end_io = cmek_read_endio;
	clone->bi_iter.bi_sector = ct->start +
		dm_target_offset(ct->ti, io->base_bio->bi_iter.bi_sector);
	dm_submit_bio_remap(io->base_bio, clone);
}

/* Start (or restart, for a held bio) a read or write. */
static void cmek_process(struct cmek_io *io)
{
	if (bio_data_dir(io->base_bio) == READ) {
		/* The key is taken at decryption time, after the device. */
		if (!rcu_access_pointer(io->ct->entry->key)) {
			cmek_no_key(io);
			return;
		}
		cmek_submit_read(io);
		return;
	}

	if (cmek_offload(io)) {
		INIT_WORK(&io->work, cmek_write_work);
		queue_work(io->ct->wq, &io->work);
		return;
	}
	cmek_write(io);
}

int cmek_map_rw(struct cmek_target *ct, struct bio *bio)
{
	struct cmek_io *io = dm_per_bio_data(bio, ct->ti->per_io_data_size);
	unsigned int mask = (ct->sector_size >> SECTOR_SHIFT) - 1;
	sector_t offset;

	/* Writes need a bounce page per page of data: bound the bio. */
	if (bio_data_dir(bio) == WRITE &&
	    bio->bi_iter.bi_size > (BIO_MAX_VECS << PAGE_SHIFT))
		dm_accept_partial_bio(bio, (BIO_MAX_VECS << PAGE_SHIFT) >>
					   SECTOR_SHIFT);

	offset = dm_target_offset(ct->ti, bio->bi_iter.bi_sector);
	if (unlikely((offset & mask) ||
		     (bio->bi_iter.bi_size & (ct->sector_size - 1)))) {
		this_cpu_inc(ct->map.stats->errors);
		return DM_MAPIO_KILL;
	}

	atomic_inc(&ct->inflight);
	io->ct = ct;
	io->base_bio = bio;
	io->key = NULL;
	io->error = BLK_STS_OK;
	io->probe = false;
	io->in_work = false;
	io->deadline = 0;
	io->iter_in = bio->bi_iter;
	io->iv_sector = offset + ct->iv_offset;
	cmek_process(io);
	return DM_MAPIO_SUBMITTED;
}

/*
 * Take every held bio off the list: retry each (@status 0: the key may
 * have arrived), or end it with @status (the target suspends or goes).
 */
static void cmek_release_held(struct cmek_target *ct, blk_status_t status)
{
	struct bio_list list;
	unsigned long flags;
	struct bio *bio;

	spin_lock_irqsave(&ct->hold_lock, flags);
	list = ct->held;
	bio_list_init(&ct->held);
	spin_unlock_irqrestore(&ct->hold_lock, flags);

	while ((bio = bio_list_pop(&list))) {
		struct cmek_io *io = cmek_held_io(ct, bio);

		if (status)
			cmek_complete(io, status);
		else
			cmek_process(io);
	}
}

/* Fail the bios whose deadline passed: a prefix of the list. */
static void cmek_expire_held(struct cmek_target *ct)
{
	struct bio_list expired;
	unsigned long flags;
	struct bio *bio;

	bio_list_init(&expired);
	spin_lock_irqsave(&ct->hold_lock, flags);
	while ((bio = bio_list_peek(&ct->held)) &&
	       time_after_eq(jiffies, cmek_held_io(ct, bio)->deadline))
		bio_list_add(&expired, bio_list_pop(&ct->held));
	cmek_hold_arm(ct, true);
	spin_unlock_irqrestore(&ct->hold_lock, flags);

	while ((bio = bio_list_pop(&expired)))
		cmek_complete(cmek_held_io(ct, bio), BLK_STS_IOERR);
}

static void cmek_hold_timeout(struct work_struct *work)
{
	struct cmek_target *ct = container_of(to_delayed_work(work),
					      struct cmek_target, hold_work);

	if (rcu_access_pointer(ct->entry->key))
		cmek_release_held(ct, BLK_STS_OK);
	else
		cmek_expire_held(ct);
}

/*
 * Held bios must not keep a suspend waiting until they time out: they end
 * with cmek_suspend_status(), so a table reload carries them over to the
 * new table, where they wait for the key anew.
 */
void cmek_hold_suspend(struct cmek_target *ct)
{
	spin_lock_irq(&ct->hold_lock);
	ct->suspended = true;
	spin_unlock_irq(&ct->hold_lock);
	cancel_delayed_work_sync(&ct->hold_work);
	cmek_release_held(ct, cmek_suspend_status(ct));
}

/* Resumed, or a suspend that failed after presuspend: hold bios again. */
void cmek_hold_resume(struct cmek_target *ct)
{
	spin_lock_irq(&ct->hold_lock);
	ct->suspended = false;
	spin_unlock_irq(&ct->hold_lock);
}

/* The mapping goes: what it holds fails. */
void cmek_hold_exit(struct cmek_target *ct)
{
	cancel_delayed_work_sync(&ct->hold_work);
	cmek_release_held(ct, BLK_STS_IOERR);
}

/*
 * The key table calls it with its lock held when the entry's key comes or
 * goes: the next bio without a key sends KEY_NEEDED again, and held bios
 * go at once when a key came.
 */
static void cmek_key_changed(struct cmek_mapping *m, bool present)
{
	struct cmek_target *ct = container_of(m, struct cmek_target, map);

	atomic_set(&ct->key_needed_sent, 0);
	if (present)
		mod_delayed_work(ct->wq, &ct->hold_work, 0);
}

void cmek_crypt_init(struct cmek_target *ct)
{
	spin_lock_init(&ct->hold_lock);
	mutex_init(&ct->alloc_lock);
	bio_list_init(&ct->held);
	INIT_DELAYED_WORK(&ct->hold_work, cmek_hold_timeout);
	atomic_set(&ct->probe_every, CMEK_PROBE_MIN);
	ct->map.key_changed = cmek_key_changed;
}
