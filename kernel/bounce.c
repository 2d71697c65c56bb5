// SPDX-License-Identifier: GPL-2.0
/*
 * Copyright (C) 2026 The cmek developers.
 *
 * Bounce pages for writes, within a budget. A write is encrypted into
 * pages of its own, so heavy writeback, blkdiscard -z or swap to a volume
 * turns free memory into ciphertext in flight until the system has none
 * left to make progress with. dm-crypt bounds its pages to 2% of low
 * memory shared among its devices ("dm crypt: limit the number of
 * allocated pages"); cmek takes the same budget, shared among its own
 * mappings: past it a mapping lives on its pool's reserve, which its own
 * completions refill.
 */

#include <linux/bio.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include "bounce.h"

#define CMEK_BOUNCE_PERCENT	2
/* Never so few that one mapping cannot keep a few full bios in flight. */
#define CMEK_BOUNCE_MIN_PAGES	(BIO_MAX_VECS * 16)

static DEFINE_MUTEX(cmek_bounce_lock);
static LIST_HEAD(cmek_bounce_list);	/* under cmek_bounce_lock */
static unsigned int cmek_bounce_clients;	/* under cmek_bounce_lock */
static unsigned long cmek_bounce_per_client = CMEK_BOUNCE_MIN_PAGES;

static void cmek_bounce_rebudget(void)
{
	unsigned long pages;

	lockdep_assert_held(&cmek_bounce_lock);
	if (!cmek_bounce_clients)
		return;
	pages = (totalram_pages() - totalhigh_pages()) * CMEK_BOUNCE_PERCENT / 100;
	pages /= cmek_bounce_clients;
	WRITE_ONCE(cmek_bounce_per_client, max_t(unsigned long, pages,
						 CMEK_BOUNCE_MIN_PAGES));
}

static void *cmek_bounce_page_alloc(gfp_t gfp, void *data)
{
	struct cmek_bounce *b = data;
	struct page *page;

	/*
	 * percpu_counter_read_positive() may be off by a batch per CPU, which
	 * is far less than the budget and costs no shared cache line.
	 */
	if (unlikely(percpu_counter_read_positive(&b->pages) >=
		     READ_ONCE(cmek_bounce_per_client)) &&
	    likely(gfp & __GFP_NORETRY))
		return NULL;
	page = alloc_page(gfp);
	if (likely(page))
		percpu_counter_add(&b->pages, 1);
	return page;
}

static void cmek_bounce_page_free(void *page, void *data)
{
	struct cmek_bounce *b = data;

	__free_page(page);
	percpu_counter_sub(&b->pages, 1);
}

/* A mapping joins or leaves the budget's sharing: every share changes. */
static void cmek_bounce_join(struct cmek_bounce *b, bool join)
{
	mutex_lock(&cmek_bounce_lock);
	if (join) {
		list_add(&b->node, &cmek_bounce_list);
		cmek_bounce_clients++;
	} else {
		list_del(&b->node);
		cmek_bounce_clients--;
	}
	cmek_bounce_rebudget();
	mutex_unlock(&cmek_bounce_lock);
}

int cmek_bounce_init(struct cmek_bounce *b)
{
	int err;

	err = percpu_counter_init(&b->pages, 0, GFP_KERNEL);
	if (err)
		return err;
	cmek_bounce_join(b, true);
	err = mempool_init(&b->pool, BIO_MAX_VECS, cmek_bounce_page_alloc,
			   cmek_bounce_page_free, b);
	if (err)
		goto err_join;
	return 0;

err_join:
	cmek_bounce_join(b, false);
	percpu_counter_destroy(&b->pages);
	return err;
}

/* Safe on a zeroed struct that cmek_bounce_init() never set up. */
void cmek_bounce_exit(struct cmek_bounce *b)
{
	if (!mempool_initialized(&b->pool))
		return;
	mempool_exit(&b->pool);
	WARN_ON(percpu_counter_sum(&b->pages));
	cmek_bounce_join(b, false);
	percpu_counter_destroy(&b->pages);
}

/* For debugfs: every mapping's pages now, exact. */
s64 cmek_bounce_pages_total(void)
{
	struct cmek_bounce *b;
	s64 sum = 0;

	mutex_lock(&cmek_bounce_lock);
	list_for_each_entry(b, &cmek_bounce_list, node)
		sum += percpu_counter_sum(&b->pages);
	mutex_unlock(&cmek_bounce_lock);
	return sum;
}

unsigned long cmek_bounce_budget(void)
{
	return READ_ONCE(cmek_bounce_per_client);
}
