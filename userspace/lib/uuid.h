/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Volume UUIDs: 16 bytes (CMEK_UUID_LEN, linux/dm-cmek.h) and their RFC 4122
 * string, "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", lower case.
 */
#ifndef CMEK_UUID_H
#define CMEK_UUID_H

#include <stdint.h>
#include <linux/dm-cmek.h>

/* A UUID string's buffer: 36 characters and the NUL. */
#define CMEK_UUID_STR_LEN	37

/* Parsing accepts upper or lower case; 0 or -EINVAL. */
int cmek_uuid_parse(const char *s, uint8_t uuid[CMEK_UUID_LEN]);
void cmek_uuid_unparse(const uint8_t uuid[CMEK_UUID_LEN],
		       char out[CMEK_UUID_STR_LEN]);

#endif /* CMEK_UUID_H */
