// SPDX-License-Identifier: GPL-2.0
/*
 * secmem.h: pages of their own, zeroed, left out of core dumps and fork()ed
 * children (as /proc/self/smaps shows them), freed by the pointer alone:
 * the whole mapping, header included, wiped (seen by munmap() below) and
 * gone; NULL a no-op, a pointer it did not give or a second free fatal
 * (the lock is not checked: ASan turns mlock() into a no-op); and
 * aesgcm.h against the AES-256 vectors of the GCM specification (McGrew &
 * Viega, test cases 13 and 14), a round trip with AAD, and a forged tag.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "aesgcm.h"
#include "secmem.h"
#include "../lib/tap.h"

/* What the last munmap() of this process was given, and whether all zero. */
static void *unmapped;
static size_t unmapped_len;
static bool unmapped_zero;

static bool all_zero(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

/* Ours, ahead of libc's: see what secmem frees, as it goes. */
int munmap(void *addr, size_t len)
{
	unmapped = addr;
	unmapped_len = len;
	unmapped_zero = all_zero(addr, len);
	return (int)syscall(SYS_munmap, addr, len);
}

/* The VmFlags line of the mapping that starts at @p, "" if none. */
static void vmflags(const void *p, char *out, size_t len)
{
	char line[512], start[32];
	FILE *f = fopen("/proc/self/smaps", "re");
	bool in = false;

	out[0] = '\0';
	snprintf(start, sizeof(start), "%lx-", (unsigned long)p);
	while (f && fgets(line, sizeof(line), f)) {
		if (strchr(line, '-') && strchr(line, '-') < strchr(line, ' ') &&
		    strncmp(line, "VmFlags", 7))
			in = !strncmp(line, start, strlen(start));
		else if (in && !strncmp(line, "VmFlags:", 8))
			snprintf(out, len, "%.*s", (int)strcspn(line + 8, "\n"),
				 line + 8);
	}
	if (f)
		fclose(f);
}

static uint8_t *page_of(const void *p)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	return (uint8_t *)((uintptr_t)p / pg * pg);
}

/* Run @fn(@p) in a child: true if the child died rather than returned. */
static bool dies(void (*fn)(void *), void *p)
{
	int status, fd;
	pid_t pid = fork();

	if (pid == 0) {
		/* ASan's report of the fault is expected: keep it off the TAP. */
		fd = open("/dev/null", O_WRONLY);
		if (fd >= 0)
			dup2(fd, 2);
		fn(p);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return false;
	return !WIFEXITED(status) || WEXITSTATUS(status) != 0;
}

static void free_twice(void *len)
{
	uint8_t *p = cmek_secmem_alloc((size_t)(uintptr_t)len);

	cmek_secmem_free(p);
	cmek_secmem_free(p);
}

static void free_inside(void *len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	uint8_t *p = cmek_secmem_alloc((size_t)(uintptr_t)len);

	/* The second page's start: page aligned, but no header there. */
	cmek_secmem_free(page_of(p) + pg + (p - page_of(p)));
}

static void free_off(void *len)
{
	uint8_t *p = cmek_secmem_alloc((size_t)(uintptr_t)len);

	cmek_secmem_free(p + 16);
}

static void test_secmem(void)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	char flags[512];
	uint8_t *p, *q, *base;

	p = cmek_secmem_alloc(32);
	tap_ok(p && !((uintptr_t)p % 16) && all_zero(p, 32) &&
	       page_of(p) + pg >= p + 32,
	       "32 bytes: zeroed, aligned, in a page of their own");
	if (!p)
		return;
	memset(p, 0xa5, 32);
	vmflags(page_of(p), flags, sizeof(flags));
	tap_ok(strstr(flags, " dd") && strstr(flags, " dc"),
	       "not dumped (dd), not inherited by fork (dc): %s", flags);
	base = page_of(p);
	cmek_secmem_free(p);
	tap_ok(unmapped == base && unmapped_len == pg && unmapped_zero,
	       "free without a length: its page wiped, header included, and unmapped");
	vmflags(base, flags, sizeof(flags));
	tap_ok(!flags[0], "and gone from the process's mappings");

	q = cmek_secmem_alloc(pg + 1);
	tap_ok(q && all_zero(q, pg + 1), "a page and a byte: zeroed");
	if (q) {
		memset(q, 0x5a, pg + 1);
		base = page_of(q);
	}
	cmek_secmem_free(q);
	tap_ok(q && unmapped == base && unmapped_len == 2 * pg && unmapped_zero,
	       "a page and a byte and the header: two pages wiped and unmapped");

	p = cmek_secmem_alloc(0);
	tap_ok(p != NULL, "0 bytes: a pointer that can be freed");
	cmek_secmem_free(p);

	/*
	 * mlock() may fail for an unprivileged user: then NULL, not a leak.
	 * ASan makes mlock() a no-op, so "lo" cannot be checked here.
	 */
	p = cmek_secmem_alloc_locked(64);
	tap_ok(!p || (!((uintptr_t)p % 16) && all_zero(p, 64)),
	       "alloc_locked: 64 zeroed bytes, or NULL if they cannot be locked");
	if (p) {
		memset(p, 0x3c, 64);
		base = page_of(p);
	}
	cmek_secmem_free(p);
	tap_ok(!p || (unmapped == base && unmapped_len == pg && unmapped_zero),
	       "alloc_locked: freed without a length, wiped and unmapped");

	unmapped = NULL;
	cmek_secmem_free(NULL);
	tap_ok(!unmapped, "freeing NULL is a no-op");

	tap_ok(dies(free_twice, (void *)(uintptr_t)64),
	       "freeing twice is fatal, not a second unmap");
	tap_ok(dies(free_inside, (void *)(uintptr_t)(2 * pg)),
	       "freeing a page-aligned pointer inside an allocation is fatal");
	tap_ok(dies(free_off, (void *)(uintptr_t)64),
	       "freeing a pointer secmem did not give is fatal");
}

static int unhex(const char *s, uint8_t *out)
{
	size_t i, n = strlen(s) / 2;
	unsigned int b;

	for (i = 0; i < n; i++) {
		if (sscanf(s + 2 * i, "%2x", &b) != 1)
			return -1;
		out[i] = (uint8_t)b;
	}
	return (int)n;
}

static void test_aesgcm(void)
{
	uint8_t key[32] = { 0 }, nonce[12] = { 0 }, pt[16] = { 0 };
	uint8_t ct[16], tag[16], want[16], back[16];
	static const char aad[] = "cmek-dek-v1:volume";

	tap_ok(!cmek_aes256_gcm(true, key, nonce, NULL, 0, NULL, 0, NULL, tag) &&
	       unhex("530f8afbc74536b9a963b4f1c4cb738b", want) == 16 &&
	       !memcmp(tag, want, 16),
	       "GCM test case 13: empty plaintext, empty AAD: the tag");
	tap_ok(!cmek_aes256_gcm(true, key, nonce, NULL, 0, pt, 16, ct, tag) &&
	       unhex("cea7403d4d606b6e074ec5d3baf39d18", want) == 16 &&
	       !memcmp(ct, want, 16) &&
	       unhex("d0d1c8a799996bf0265b98b5d48ab919", want) == 16 &&
	       !memcmp(tag, want, 16),
	       "GCM test case 14: one block of zeros: ciphertext and tag");

	memcpy(pt, "sixteen byte key", 16);
	key[0] = 1;
	nonce[11] = 7;
	tap_ok(!cmek_aes256_gcm(true, key, nonce, aad, strlen(aad), pt, 16, ct,
				tag) &&
	       !cmek_aes256_gcm(false, key, nonce, aad, strlen(aad), ct, 16,
				back, tag) && !memcmp(back, pt, 16),
	       "round trip with AAD");
	tag[15] ^= 1;
	tap_ok(cmek_aes256_gcm(false, key, nonce, aad, strlen(aad), ct, 16, back,
			       tag) < 0, "a forged tag is refused");
	tag[15] ^= 1;
	tap_ok(cmek_aes256_gcm(false, key, nonce, aad, strlen(aad) - 1, ct, 16,
			       back, tag) < 0, "other AAD is refused");
}

int main(void)
{
	tap_plan(18);
	test_secmem();
	test_aesgcm();
	return tap_done();
}
