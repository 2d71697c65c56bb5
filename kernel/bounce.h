/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Copyright (C) 2026 The cmek developers.
 */
#ifndef _DM_CMEK_BOUNCE_H
#define _DM_CMEK_BOUNCE_H

#include <linux/list.h>
#include <linux/mempool.h>
#include <linux/percpu_counter.h>

/* A mapping's bounce pages: the ciphertext of its writes in flight. */
struct cmek_bounce {
	mempool_t pool;
	struct percpu_counter pages;	/* allocated now, reserve included */
	struct list_head node;		/* on the module's list of mappings */
};

int cmek_bounce_init(struct cmek_bounce *b);
void cmek_bounce_exit(struct cmek_bounce *b);
s64 cmek_bounce_pages_total(void);
unsigned long cmek_bounce_budget(void);

/*
 * Past the budget, a first pass (mempool_alloc() adds __GFP_NORETRY to it)
 * gets the pool's reserve or NULL, never more pages from the system.
 */
static inline struct page *cmek_bounce_alloc(struct cmek_bounce *b, gfp_t gfp)
{
	return mempool_alloc(&b->pool, gfp);
}

static inline void cmek_bounce_free(struct cmek_bounce *b, struct page *page)
{
	mempool_free(page, &b->pool);
}

#endif /* _DM_CMEK_BOUNCE_H */
