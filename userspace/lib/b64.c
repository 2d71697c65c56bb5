// SPDX-License-Identifier: GPL-2.0
/*
 * Base64 and base64url; see b64.h.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "b64.h"

char *cmek_b64_encode(const uint8_t *in, size_t len, bool url)
{
	size_t n = 4 * ((len + 2) / 3), i;
	char *out;

	if (len > (1 << 24))
		return NULL;
	out = malloc(n + 1);
	if (!out)
		return NULL;
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	if (!url)
		return out;
	for (i = 0; i < n; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
		else if (out[i] == '=')
			out[i] = '\0';
	}
	return out;
}

static bool valid_char(char c, bool url)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return url ? c == '-' || c == '_' : c == '+' || c == '/';
}

uint8_t *cmek_b64_decode(const char *in, size_t len, bool url,
			 size_t *out_len)
{
	size_t pad = 0, i, n;
	uint8_t *out = NULL;
	char *tmp;
	int got;

	while (pad < 2 && len > pad && in[len - 1 - pad] == '=')
		pad++;
	for (i = 0; i < len - pad; i++)
		if (!valid_char(in[i], url))
			return NULL;
	if (len > (1 << 24) || (!url && len % 4) ||
	    (url && pad && len % 4) || (len - pad) % 4 == 1)
		return NULL;
	/* Back to standard, padded form for EVP_DecodeBlock(). */
	n = (len - pad + 3) / 4 * 4;
	tmp = malloc(n + 1);
	if (!tmp)
		return NULL;
	for (i = 0; i < len - pad; i++)
		tmp[i] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
	for (; i < n; i++)
		tmp[i] = '=';
	tmp[n] = '\0';
	out = malloc(n / 4 * 3 + 1);
	if (!out)
		goto out;
	got = EVP_DecodeBlock(out, (unsigned char *)tmp, (int)n);
	if (got < 0 || (size_t)got != n / 4 * 3) {
		OPENSSL_cleanse(out, n / 4 * 3 + 1);
		free(out);
		out = NULL;
		goto out;
	}
	/* EVP_DecodeBlock() counts each '=' as a zero byte. */
	*out_len = (size_t)got - (n - (len - pad));
out:
	OPENSSL_cleanse(tmp, n + 1);
	free(tmp);
	return out;
}
