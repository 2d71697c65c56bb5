/* SPDX-License-Identifier: GPL-2.0 */
/*
 * AES-256-GCM in one call, with the 12-byte nonce and 16-byte tag that the
 * local provider's wrapped keys use, and that the test KMS fakes
 * (each provider's fake_*.c) use to seal their own blobs.
 */
#ifndef CMEK_AESGCM_H
#define CMEK_AESGCM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CMEK_GCM_KEY_LEN	32
#define CMEK_GCM_NONCE_LEN	12
#define CMEK_GCM_TAG_LEN	16

/*
 * Encrypt (@enc) @len bytes of @in into @out and write the tag to @tag, or
 * decrypt and check @tag; @aad (may be empty) is authenticated too. @out
 * has room for @len bytes. 0, or -1 if the tag does not match or OpenSSL
 * fails; the caller wipes @out on failure if it matters.
 */
int cmek_aes256_gcm(bool enc, const uint8_t *key, const uint8_t *nonce,
		    const void *aad, size_t aad_len, const uint8_t *in,
		    size_t len, uint8_t *out, uint8_t *tag);

#endif /* CMEK_AESGCM_H */
