/* SPDX-License-Identifier: GPL-2.0 */
/*
 * CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78), the
 * checksum of iSCSI (RFC 3720) and of the Google Cloud KMS integrity
 * fields (plaintextCrc32c, ciphertextCrc32c, ...).
 */
#ifndef CMEK_CRC32C_H
#define CMEK_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*
 * Continue @crc over @len bytes; start with 0. The pre- and
 * post-inversion are inside, so calls chain like zlib's crc32():
 * cmek_crc32c(cmek_crc32c(0, a, n), b, m) == CRC-32C of a || b.
 */
uint32_t cmek_crc32c(uint32_t crc, const void *buf, size_t len);

#endif /* CMEK_CRC32C_H */
