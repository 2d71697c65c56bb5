// SPDX-License-Identifier: GPL-2.0
/*
 * CRC-32C against the test vectors of RFC 3720 appendix B.4 (iSCSI), the
 * usual "123456789" check value, and chaining across calls.
 */
#include <string.h>

#include "crc32c.h"
#include "../lib/tap.h"

int main(void)
{
	/* RFC 3720 B.4: a SCSI Read (10) command PDU. */
	static const uint8_t pdu[48] = {
		0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
		0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
		0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	uint8_t buf[32];
	uint32_t c;
	int i;

	tap_plan(8);

	/* The RFC prints the CRC as the bytes sent, least significant first. */
	memset(buf, 0, sizeof(buf));
	c = cmek_crc32c(0, buf, sizeof(buf));
	tap_ok(c == 0x8a9136aa, "32 bytes of zeros: %08x (RFC: aa 36 91 8a)", c);
	memset(buf, 0xff, sizeof(buf));
	c = cmek_crc32c(0, buf, sizeof(buf));
	tap_ok(c == 0x62a8ab43, "32 bytes of 0xff: %08x (RFC: 43 ab a8 62)", c);
	for (i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	c = cmek_crc32c(0, buf, sizeof(buf));
	tap_ok(c == 0x46dd794e, "32 incrementing bytes: %08x (RFC: 4e 79 dd 46)", c);
	for (i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	c = cmek_crc32c(0, buf, sizeof(buf));
	tap_ok(c == 0x113fdb5c, "32 decrementing bytes: %08x (RFC: 5c db 3f 11)", c);
	c = cmek_crc32c(0, pdu, sizeof(pdu));
	tap_ok(c == 0xd9963a56, "iSCSI read PDU: %08x (RFC: 56 3a 96 d9)", c);

	c = cmek_crc32c(0, "123456789", 9);
	tap_ok(c == 0xe3069283, "check value of \"123456789\": %08x", c);
	tap_ok(cmek_crc32c(0, "", 0) == 0, "empty input: 0");
	c = cmek_crc32c(cmek_crc32c(0, pdu, 17), pdu + 17, sizeof(pdu) - 17);
	tap_ok(c == 0xd9963a56, "chained over two calls: %08x", c);
	return tap_done();
}
