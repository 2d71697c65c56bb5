// SPDX-License-Identifier: GPL-2.0
/* Volume UUIDs: the RFC 4122 string and back (uuid.h). */
#include <errno.h>
#include <string.h>
#include <openssl/crypto.h>

#include "uuid.h"

int cmek_uuid_parse(const char *s, uint8_t uuid[CMEK_UUID_LEN])
{
	uint8_t out[CMEK_UUID_LEN];
	size_t i, n = 0;

	if (!s || strlen(s) != 36)
		return -EINVAL;
	for (i = 0; i < 36; ) {
		int hi, lo;

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return -EINVAL;
			i++;
			continue;
		}
		hi = OPENSSL_hexchar2int((unsigned char)s[i]);
		lo = OPENSSL_hexchar2int((unsigned char)s[i + 1]);
		if (hi < 0 || lo < 0 || n >= CMEK_UUID_LEN)
			return -EINVAL;
		out[n++] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	if (n != CMEK_UUID_LEN)
		return -EINVAL;
	memcpy(uuid, out, CMEK_UUID_LEN);
	return 0;
}

void cmek_uuid_unparse(const uint8_t uuid[CMEK_UUID_LEN],
		       char out[CMEK_UUID_STR_LEN])
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	for (i = 0; i < CMEK_UUID_LEN; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[uuid[i] >> 4];
		out[o++] = hex[uuid[i] & 15];
	}
	out[o] = '\0';
}
