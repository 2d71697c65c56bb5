// SPDX-License-Identifier: GPL-2.0
/*
 * secmem.h: pages of their own, zeroed, left out of core dumps and fork()ed
 * children (as /proc/self/smaps shows them), freed without complaint (the
 * lock is not checked: ASan turns mlock() into a no-op); and
 * aesgcm.h against the AES-256 vectors of the GCM specification (McGrew &
 * Viega, test cases 13 and 14), a round trip with AAD, and a forged tag.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "aesgcm.h"
#include "secmem.h"
#include "../lib/tap.h"

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

static bool all_zero(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

static void test_secmem(void)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	char flags[512];
	uint8_t *p, *q;

	p = cmek_secmem_alloc(32);
	tap_ok(p && !((uintptr_t)p % pg) && all_zero(p, pg),
	       "32 bytes: a whole zeroed page of its own");
	if (!p)
		return;
	memset(p, 0xa5, pg);
	vmflags(p, flags, sizeof(flags));
	tap_ok(strstr(flags, " dd") && strstr(flags, " dc"),
	       "not dumped (dd), not inherited by fork (dc): %s", flags);
	cmek_secmem_free(p, 32);

	q = cmek_secmem_alloc(pg + 1);
	tap_ok(q && all_zero(q, 2 * pg), "a page and a byte: two zeroed pages");
	if (q)
		memset(q, 0x5a, 2 * pg);
	cmek_secmem_free(q, pg + 1);

	/*
	 * mlock() may fail for an unprivileged user: then NULL, not a leak.
	 * ASan makes mlock() a no-op, so "lo" cannot be checked here.
	 */
	p = cmek_secmem_alloc_locked(64);
	tap_ok(!p || (!((uintptr_t)p % pg) && all_zero(p, pg)),
	       "alloc_locked: a zeroed page, or NULL if it cannot be locked");
	cmek_secmem_free(p, 64);
	cmek_secmem_free(NULL, 64);
	tap_ok(1, "freeing NULL is a no-op");
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
	tap_plan(10);
	test_secmem();
	test_aesgcm();
	return tap_done();
}
