// SPDX-License-Identifier: GPL-2.0
/*
 * DEK buffers: one page each from secmem.h (mlock()ed, on top of mlockall,
 * excluded from core dumps and from fork()ed children, wiped before
 * munmap()). Unlike a provider's scratch page, a DEK buffer must be
 * locked: cmekd refuses to hold a key it cannot keep out of swap.
 */
#include <stdint.h>

#include "cmekd.h"
#include "secmem.h"

#define DEK_PAGE 4096

uint8_t *dek_alloc(void)
{
	return cmek_secmem_alloc_locked(DEK_PAGE);
}

void dek_free(uint8_t *dek)
{
	cmek_secmem_free(dek);
}
