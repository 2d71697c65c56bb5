// SPDX-License-Identifier: GPL-2.0
/*
 * Locked, non-dumpable pages for keys and secrets: see secmem.h. The one
 * copy of what cmekd's DEK buffers, cmekctl's key buffers, the netlink
 * buffer and every provider's scratch pages for plaintext keys and
 * credentials need.
 */
#include <errno.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "secmem.h"

/* Tells a pointer of ours from any other: a check, not a secret. */
#define SECMEM_MAGIC 0x636d656b7365636dULL	/* "cmeksecm" */

/* At the start of the mapping, just before what the caller gets. */
struct secmem_hdr {
	alignas(max_align_t) size_t map_len;	/* whole mapping, header too */
	uint64_t magic;
};

static size_t page_round(size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	return (len + pg - 1) / pg * pg;
}

static void *secmem_alloc(size_t len, bool must_lock)
{
	struct secmem_hdr *h;
	size_t n;
	int e;

	if (len > SIZE_MAX / 2) {
		errno = ENOMEM;
		return NULL;
	}
	n = page_round(sizeof(*h) + len);
	h = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (h == MAP_FAILED)
		return NULL;
	if (mlock(h, n) < 0 && must_lock) {
		e = errno;
		munmap(h, n);
		errno = e;
		return NULL;
	}
	/* Advice only: a kernel without it still gives us working memory. */
	(void)madvise(h, n, MADV_DONTDUMP);
	(void)madvise(h, n, MADV_DONTFORK);
	h->map_len = n;
	h->magic = SECMEM_MAGIC;
	return h + 1;
}

void *cmek_secmem_alloc(size_t len)
{
	return secmem_alloc(len, false);
}

void *cmek_secmem_alloc_locked(size_t len)
{
	return secmem_alloc(len, true);
}

void cmek_secmem_free(void *p)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	struct secmem_hdr *h;
	size_t n;

	if (!p)
		return;
	h = (struct secmem_hdr *)p - 1;
	/* Page first: only then is the header known to be readable. */
	if ((uintptr_t)h % pg || h->magic != SECMEM_MAGIC || h->map_len % pg)
		abort();
	n = h->map_len;
	explicit_bzero(h, n);
	munlock(h, n);
	munmap(h, n);
}
