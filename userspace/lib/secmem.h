/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Memory for plaintext keys and secrets: whole pages of their own,
 * mmap()ed, mlock()ed, left out of core dumps (MADV_DONTDUMP) and out of
 * fork()ed children (MADV_DONTFORK), and wiped before they are unmapped.
 *
 * The heap is no place for a key: malloc() may hand the same bytes to
 * anyone after free(), realloc() leaves copies behind, and nothing keeps
 * it out of swap or a core file. A page of our own has none of that.
 *
 * The size is kept in a header just before the pointer, in the same
 * pages (as cryptsetup's crypt_safe_alloc does), so that freeing needs
 * only the pointer: no caller can wipe less than it was given.
 */
#ifndef CMEK_SECMEM_H
#define CMEK_SECMEM_H

#include <stddef.h>

/*
 * @len bytes, zeroed, aligned for any type, in pages of their own (the
 * header and @len rounded up to whole pages). The lock is best effort:
 * RLIMIT_MEMLOCK may refuse it to an unprivileged cmekctl, and a key in
 * unlocked memory still beats no key at all. NULL only if mmap() fails.
 */
void *cmek_secmem_alloc(size_t len);
/* The same, but NULL (errno set) if the pages cannot be locked either. */
void *cmek_secmem_alloc_locked(size_t len);
/*
 * Wipe, unlock and unmap all the pages cmek_secmem_alloc*() gave; NULL is
 * a no-op. A pointer it did not give aborts the process rather than
 * unmap what someone else holds; so does freeing twice (the header is
 * gone with the pages).
 */
void cmek_secmem_free(void *p);

#endif /* CMEK_SECMEM_H */
