// SPDX-License-Identifier: GPL-2.0
/* AES-256-GCM in one call: see aesgcm.h. */
#include <limits.h>

#include <openssl/evp.h>

#include "aesgcm.h"

int cmek_aes256_gcm(bool enc, const uint8_t *key, const uint8_t *nonce,
		    const void *aad, size_t aad_len, const uint8_t *in,
		    size_t len, uint8_t *out, uint8_t *tag)
{
	EVP_CIPHER_CTX *ctx;
	int outl = 0, ok;

	if (aad_len > INT_MAX || len > INT_MAX)
		return -1;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return -1;
	/* Empty AAD or input: no update at all, which OpenSSL may refuse. */
	ok = EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN,
				 CMEK_GCM_NONCE_LEN, NULL) &&
	     EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc) &&
	     (!aad_len || EVP_CipherUpdate(ctx, NULL, &outl, aad,
					   (int)aad_len)) &&
	     (!len || EVP_CipherUpdate(ctx, out, &outl, in, (int)len)) &&
	     (enc || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG,
					 CMEK_GCM_TAG_LEN, tag)) &&
	     EVP_CipherFinal_ex(ctx, out + (len ? outl : 0), &outl) &&
	     (!enc || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG,
					  CMEK_GCM_TAG_LEN, tag));
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -1;
}
