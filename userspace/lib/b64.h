/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Base64 (RFC 4648 section 4) and base64url (section 5) for KMS APIs, on
 * OpenSSL's block coder. Decoders are strict: wrong characters, bad
 * padding or stray bytes are an error, never a truncated key.
 */
#ifndef CMEK_B64_H
#define CMEK_B64_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* malloc()ed, NUL-terminated; base64url without padding when @url. */
char *cmek_b64_encode(const uint8_t *in, size_t len, bool url);

/*
 * Decode @in (@len chars; padding optional for base64url) into a new
 * buffer of *out_len bytes. NULL on malformed input or no memory. The
 * result may be a key: callers wipe it before free().
 */
uint8_t *cmek_b64_decode(const char *in, size_t len, bool url,
			 size_t *out_len);

#endif /* CMEK_B64_H */
