// SPDX-License-Identifier: GPL-2.0
/*
 * DEK buffers: one page each, mmap()ed, mlock()ed (on top of mlockall),
 * excluded from core dumps (MADV_DONTDUMP) and from fork()ed children
 * (MADV_DONTFORK), wiped with explicit_bzero() before munmap().
 */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cmekd.h"

#define DEK_PAGE 4096

uint8_t *dek_alloc(void)
{
	void *p = mmap(NULL, DEK_PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (mlock(p, DEK_PAGE) < 0) {
		munmap(p, DEK_PAGE);
		return NULL;
	}
	madvise(p, DEK_PAGE, MADV_DONTDUMP);
	madvise(p, DEK_PAGE, MADV_DONTFORK);
	return p;
}

void dek_free(uint8_t *dek)
{
	if (!dek)
		return;
	explicit_bzero(dek, DEK_PAGE);
	munlock(dek, DEK_PAGE);
	munmap(dek, DEK_PAGE);
}
