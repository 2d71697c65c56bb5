// SPDX-License-Identifier: GPL-2.0
/*
 * Copyright (C) 2026 The cmek developers.
 *
 * A test-only xts(aes) that answers late: an asynchronous skcipher of the
 * highest priority that completes each request delay_ms after it was
 * issued, or when "release" is written, whichever comes first, computing
 * it with the generic xts(ecb(aes-generic)). A test that holds requests
 * with a long delay_ms and releases them when it has checked what it
 * wants checked does not depend on how fast the machine is. Loaded
 * before a cmek table and key, it makes every conversion an async one
 * that stays in flight long enough for a test to act while it does: a
 * revoke that must wait for it, a read that must not hand out plaintext
 * afterwards, other requests that must not wait behind it. Loaded after a
 * table, its larger requests are the driver change a mapping must not be
 * given a key for until it is reloaded.
 *
 * "peak" tells how many requests were in flight at once, and with "busy"
 * set its queue holds that many: further requests flagged
 * CRYPTO_TFM_REQ_MAY_BACKLOG wait in a backlog (-EBUSY) and are started
 * (-EINPROGRESS to their callback) as the queue drains, as
 * crypto_enqueue_request() does for a real engine.
 */

#include <linux/module.h>
#include <linux/list.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <crypto/aes.h>
#include <crypto/internal/skcipher.h>

static unsigned int delay_ms = 2000;
module_param(delay_ms, uint, 0644);
MODULE_PARM_DESC(delay_ms, "how long each request stays in flight (ms)");

static bool allocates;
module_param(allocates, bool, 0444);
MODULE_PARM_DESC(allocates, "flag CRYPTO_ALG_ALLOCATES_MEMORY (at load)");

static atomic_t requests = ATOMIC_INIT(0);
module_param_named(requests, requests.counter, int, 0444);
MODULE_PARM_DESC(requests, "requests taken since load (read only)");

static bool bh;
module_param(bh, bool, 0644);
MODULE_PARM_DESC(bh, "complete with bottom halves disabled (as in softirq)");

static atomic_t inflight = ATOMIC_INIT(0);
module_param_named(inflight, inflight.counter, int, 0444);
MODULE_PARM_DESC(inflight, "requests in flight now (read only)");

/* Under slow_lock, as the queue and the backlog. */
static int peak;
module_param(peak, int, 0644);
MODULE_PARM_DESC(peak, "most requests in flight at once, backlog included");

static unsigned int busy;
module_param(busy, uint, 0644);
MODULE_PARM_DESC(busy, "queue length past which requests go to the backlog (0: none)");

static int backlogged;
module_param(backlogged, int, 0444);
MODULE_PARM_DESC(backlogged, "requests answered -EBUSY since load (read only)");

/*
 * One work item completes every request that is due, so that a release
 * never races a request's own timer: a request is on slow_pending until
 * the work takes it off, under slow_lock, and is completed only by that.
 */
static LIST_HEAD(slow_pending);
static LIST_HEAD(slow_backlog);
static unsigned int slow_queued;	/* on slow_pending */
static DEFINE_SPINLOCK(slow_lock);
static void slow_run(struct work_struct *work);
static DECLARE_DELAYED_WORK(slow_dwork, slow_run);

struct slow_ctx {
	struct crypto_skcipher *fallback;
};

/*
 * Larger than any x86 xts(aes)'s request, as a hardware engine's is (QAT:
 * 248 bytes and more, aesni 168): loaded after a mapping, it is the driver
 * change that the mapping's per-bio data was not sized for.
 */
#define SLOW_REQ_PAD	512

struct slow_req {
	struct list_head node;
	unsigned long due;		/* jiffies */
	struct skcipher_request *req;
	struct list_head started;	/* to be told -EINPROGRESS */
	bool encrypt;
	u8 pad[SLOW_REQ_PAD];
	struct skcipher_request subreq;	/* the fallback's context follows */
};

static int slow_setkey(struct crypto_skcipher *tfm, const u8 *key,
		       unsigned int len)
{
	struct slow_ctx *ctx = crypto_skcipher_ctx(tfm);

	return crypto_skcipher_setkey(ctx->fallback, key, len);
}

static void slow_complete(struct slow_req *r)
{
	struct skcipher_request *req = r->req;
	struct slow_ctx *ctx = crypto_skcipher_ctx(crypto_skcipher_reqtfm(req));
	int err;

	skcipher_request_set_tfm(&r->subreq, ctx->fallback);
	skcipher_request_set_callback(&r->subreq, 0, NULL, NULL);
	skcipher_request_set_crypt(&r->subreq, req->src, req->dst,
				   req->cryptlen, req->iv);
	err = r->encrypt ? crypto_skcipher_encrypt(&r->subreq) :
			   crypto_skcipher_decrypt(&r->subreq);
	atomic_dec(&inflight);
	if (READ_ONCE(bh)) {
		local_bh_disable();
		skcipher_request_complete(req, err);
		local_bh_enable();
	} else {
		skcipher_request_complete(req, err);
	}
}

/* Called with slow_lock held: when the work must next look at the list. */
static void slow_schedule(void)
{
	struct slow_req *r;
	unsigned long next = 0;
	bool any = false;

	list_for_each_entry(r, &slow_pending, node) {
		if (!any || time_before(r->due, next))
			next = r->due;
		any = true;
	}
	if (any)
		mod_delayed_work(system_unbound_wq, &slow_dwork,
				 time_after(next, jiffies) ? next - jiffies : 0);
}

static bool slow_queue_full(void)
{
	unsigned int max = READ_ONCE(busy);

	return max && slow_queued >= max;
}

/* Called with slow_lock held: onto the queue, due delay_ms from now. */
static void slow_start(struct slow_req *r)
{
	r->due = jiffies + msecs_to_jiffies(READ_ONCE(delay_ms));
	list_add_tail(&r->node, &slow_pending);
	slow_queued++;
}

static void slow_run(struct work_struct *work)
{
	struct slow_req *r, *tmp;
	LIST_HEAD(due);
	LIST_HEAD(started);

	spin_lock_bh(&slow_lock);
	list_for_each_entry_safe(r, tmp, &slow_pending, node)
		if (!time_before(jiffies, r->due)) {
			list_move_tail(&r->node, &due);
			slow_queued--;
		}
	/* Room in the queue: start the backlog's oldest. */
	while (!slow_queue_full() && !list_empty(&slow_backlog)) {
		r = list_first_entry(&slow_backlog, struct slow_req, node);
		list_del(&r->node);
		slow_start(r);
		list_add_tail(&r->started, &started);
	}
	slow_schedule();
	spin_unlock_bh(&slow_lock);

	/*
	 * Those done first, as an engine frees its queue before it starts the
	 * backlog. The started are told before the queue can complete them:
	 * slow_run() is serialised.
	 */
	list_for_each_entry_safe(r, tmp, &due, node) {
		list_del(&r->node);
		slow_complete(r);
	}
	list_for_each_entry_safe(r, tmp, &started, started)
		skcipher_request_complete(r->req, -EINPROGRESS);
}

static int slow_queue(struct skcipher_request *req, bool encrypt)
{
	struct slow_req *r = skcipher_request_ctx(req);
	int ret = -EINPROGRESS;

	r->req = req;
	r->encrypt = encrypt;
	spin_lock_bh(&slow_lock);
	if (slow_queue_full()) {
		if (!(req->base.flags & CRYPTO_TFM_REQ_MAY_BACKLOG)) {
			spin_unlock_bh(&slow_lock);
			return -ENOSPC;
		}
		list_add_tail(&r->node, &slow_backlog);
		backlogged++;
		ret = -EBUSY;
	} else {
		slow_start(r);
	}
	atomic_inc(&requests);
	peak = max(peak, atomic_inc_return(&inflight));
	slow_schedule();
	spin_unlock_bh(&slow_lock);
	return ret;
}

/* Writing anything to "release" makes every request held now due. */
static int slow_release(const char *val, const struct kernel_param *kp)
{
	struct slow_req *r;

	spin_lock_bh(&slow_lock);
	list_for_each_entry(r, &slow_pending, node)
		r->due = jiffies;
	slow_schedule();
	spin_unlock_bh(&slow_lock);
	return 0;
}

static const struct kernel_param_ops slow_release_ops = {
	.set = slow_release,
};
module_param_cb(release, &slow_release_ops, NULL, 0200);
MODULE_PARM_DESC(release, "complete every request held now (write only)");

static int slow_encrypt(struct skcipher_request *req)
{
	return slow_queue(req, true);
}

static int slow_decrypt(struct skcipher_request *req)
{
	return slow_queue(req, false);
}

static int slow_init(struct crypto_skcipher *tfm)
{
	struct slow_ctx *ctx = crypto_skcipher_ctx(tfm);

	ctx->fallback = crypto_alloc_skcipher("xts(ecb(aes-generic))", 0,
					      CRYPTO_ALG_ASYNC);
	if (IS_ERR(ctx->fallback))
		return PTR_ERR(ctx->fallback);
	crypto_skcipher_set_reqsize(tfm, sizeof(struct slow_req) +
				    crypto_skcipher_reqsize(ctx->fallback));
	return 0;
}

static void slow_exit(struct crypto_skcipher *tfm)
{
	struct slow_ctx *ctx = crypto_skcipher_ctx(tfm);

	crypto_free_skcipher(ctx->fallback);
}

static struct skcipher_alg slow_alg = {
	.base.cra_name		= "xts(aes)",
	.base.cra_driver_name	= "xts-aes-cmek-test-slow",
	.base.cra_priority	= 5000,
	.base.cra_flags		= CRYPTO_ALG_ASYNC,
	.base.cra_blocksize	= AES_BLOCK_SIZE,
	.base.cra_ctxsize	= sizeof(struct slow_ctx),
	.base.cra_module	= THIS_MODULE,
	.min_keysize		= 2 * AES_MIN_KEY_SIZE,
	.max_keysize		= 2 * AES_MAX_KEY_SIZE,
	.ivsize			= AES_BLOCK_SIZE,
	.setkey			= slow_setkey,
	.encrypt		= slow_encrypt,
	.decrypt		= slow_decrypt,
	.init			= slow_init,
	.exit			= slow_exit,
};

static int __init slow_mod_init(void)
{
	if (allocates)
		slow_alg.base.cra_flags |= CRYPTO_ALG_ALLOCATES_MEMORY;
	return crypto_register_skcipher(&slow_alg);
}

/* No request is left: each holds a tfm, and a tfm holds the module. */
static void __exit slow_mod_exit(void)
{
	crypto_unregister_skcipher(&slow_alg);
	cancel_delayed_work_sync(&slow_dwork);
}

module_init(slow_mod_init);
module_exit(slow_mod_exit);
MODULE_DESCRIPTION("cmek tests: an xts(aes) that completes late");
MODULE_LICENSE("GPL");
