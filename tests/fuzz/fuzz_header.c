// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: the volume header decoder.
 *
 * The input's first byte chooses the mode, the rest overlays the 64 KiB
 * header copy from byte 0. In "sealed" mode (odd first byte) the checksum
 * is recomputed after the overlay, so the fuzzer reaches the field and slot
 * checks behind it instead of stopping at the SHA-256 every time.
 *
 * Properties: decoding never crashes or reads out of bounds (ASan), its
 * error message is a terminated string, and a header that decodes encodes
 * and decodes again to the same structure.
 *
 * Includes header.c to reach the layout constants, which are private.
 */
#include "../../userspace/lib/header.c"

static uint8_t buf[CMEK_VOL_HDR_SIZE], again[CMEK_VOL_HDR_SIZE];
static struct cmek_vol_hdr h, h2;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	size_t n;

	if (!size)
		return 0;
	n = size - 1 < sizeof(buf) ? size - 1 : sizeof(buf);
	memset(buf, 0, sizeof(buf));
	memcpy(buf, data + 1, n);
	if (data[0] & 1)
		SHA256(buf, OFF_CSUM, buf + OFF_CSUM);

	err[0] = '\0';
	memset(err + 1, 'x', sizeof(err) - 1);
	if (cmek_vol_decode(buf, &h, err, sizeof(err))) {
		if (!memchr(err, '\0', sizeof(err)) || !err[0])
			abort();
		return 0;
	}
	cmek_vol_encode(&h, again);
	if (cmek_vol_decode(again, &h2, err, sizeof(err)))
		abort();
	if (memcmp(&h, &h2, sizeof(h)))
		abort();
	return 0;
}
