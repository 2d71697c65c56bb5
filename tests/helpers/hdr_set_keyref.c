// SPDX-License-Identifier: GPL-2.0
/*
 * Test helper: play the attacker who can write the disk. Replace a key
 * slot's key reference with any bytes (newlines, ESC sequences, quotes)
 * and write the header back with valid checksums, as a well-formed but
 * hostile header:
 *
 *	hdr_set_keyref DEVICE|HEADER-FILE SLOT KEYREF
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "volume.h"

int main(int argc, char **argv)
{
	struct cmek_vol_hdr *h = calloc(1, sizeof(*h));
	struct cmek_vol_dev *dev = NULL;
	char err[256];
	int slot, ret = 1;

	if (argc != 4 || !h) {
		fprintf(stderr, "usage: hdr_set_keyref DEVICE|HEADER-FILE "
			"SLOT KEYREF\n");
		return 2;
	}
	slot = atoi(argv[2]);
	if (slot < 0 || slot >= CMEK_VOL_SLOTS ||
	    strlen(argv[3]) >= CMEK_VOL_KEYREF_MAX) {
		fprintf(stderr, "hdr_set_keyref: bad slot or key reference\n");
		return 2;
	}
	if (cmek_vol_dev_open(argv[1], true, 0, &dev, err, sizeof(err)) ||
	    cmek_vol_read(dev, h, NULL, err, sizeof(err))) {
		fprintf(stderr, "hdr_set_keyref: %s\n", err);
		goto out;
	}
	snprintf(h->slots[slot].key_ref, sizeof(h->slots[slot].key_ref), "%s",
		 argv[3]);
	if (cmek_vol_write(dev, h, err, sizeof(err))) {
		fprintf(stderr, "hdr_set_keyref: %s\n", err);
		goto out;
	}
	ret = 0;
out:
	cmek_vol_dev_close(dev);
	free(h);
	return ret;
}
