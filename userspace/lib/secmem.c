// SPDX-License-Identifier: GPL-2.0
/*
 * Locked, non-dumpable pages for keys and secrets: see secmem.h. One copy
 * of what cmekd's DEK buffers, the netlink buffer and every provider's
 * scratch pages for plaintext keys and credentials need.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "secmem.h"

static size_t page_round(size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	return (len ? len + pg - 1 : pg) / pg * pg;
}

static void *secmem_alloc(size_t len, bool must_lock)
{
	size_t n = page_round(len);
	void *p;
	int e;

	p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (mlock(p, n) < 0 && must_lock) {
		e = errno;
		munmap(p, n);
		errno = e;
		return NULL;
	}
	/* Advice only: a kernel without it still gives us working memory. */
	(void)madvise(p, n, MADV_DONTDUMP);
	(void)madvise(p, n, MADV_DONTFORK);
	return p;
}

void *cmek_secmem_alloc(size_t len)
{
	return secmem_alloc(len, false);
}

void *cmek_secmem_alloc_locked(size_t len)
{
	return secmem_alloc(len, true);
}

void cmek_secmem_free(void *p, size_t len)
{
	size_t n = page_round(len);

	if (!p)
		return;
	explicit_bzero(p, n);
	munlock(p, n);
	munmap(p, n);
}
