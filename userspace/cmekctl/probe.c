// SPDX-License-Identifier: GPL-2.0
/*
 * cmekctl probe [--export] DEV: is DEV a cmek volume? For udev's
 * IMPORT{program}. Reads the header directly (userspace/lib/header.h) and
 * prints only public metadata: never key bytes, never wrapped keys.
 *
 * Exit status: 0 a valid cmek header was found, 1 an error (cannot open
 * or read DEV, or both header copies damaged: a message on stderr), 3 DEV holds no cmek header (nothing printed), 2 usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmekctl.h"
#include "header.h"

#define EXIT_NOT_CMEK	3

int cmd_probe(int argc, char **argv)
{
	const char *path = NULL;
	struct cmek_vol_dev *dev = NULL;
	struct cmek_vol_read_info ri;
	struct cmek_vol_hdr *h;
	bool export = false;
	char err[256], u[CMEK_UUID_STR_LEN];
	int i, r;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--export"))
			export = true;
		else if (argv[i][0] == '-')
			return usage_error("probe", "unknown option '%s'", argv[i]);
		else if (!path)
			path = argv[i];
		else
			return usage_error("probe", "one device only");
	}
	if (!path)
		return usage_error("probe", "no device given");

	if (cmek_vol_dev_open(path, false, 0, &dev, err, sizeof(err)) < 0) {
		err_msg("probe: %s", err);
		return EXIT_ERR;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		cmek_vol_dev_close(dev);
		err_msg("probe: out of memory");
		return EXIT_ERR;
	}
	r = cmek_vol_read(dev, h, &ri, err, sizeof(err));
	cmek_vol_dev_close(dev);
	if (r == -ENOENT) {
		free(h);
		return EXIT_NOT_CMEK;	/* quiet: most devices are not cmek */
	}
	if (r < 0) {
		err_msg("probe: %s: %s", path, err);
		free(h);
		return EXIT_ERR;
	}
	cmek_uuid_unparse(h->uuid, u);
	if (export) {
		printf("ID_FS_TYPE=cmek\nID_FS_USAGE=crypto\n"
		       "ID_FS_VERSION=%u\nID_FS_UUID=%s\nID_FS_UUID_ENC=%s\n"
		       "CMEK_UUID=%s\nCMEK_CIPHER=%s\nCMEK_KEY_SIZE=%" PRIu32
		       "\nCMEK_SECTOR_SIZE=%" PRIu32 "\nCMEK_DATA_OFFSET=%" PRIu64
		       "\nCMEK_ACTIVE_SLOTS=%d\n",
		       h->version, u, u, u, h->cipher, h->key_size,
		       h->sector_size, h->data_offset, cmek_vol_active_slots(h));
	} else {
		printf("%s: cmek volume %s, version %u, %s, sector size %" PRIu32
		       ", data offset %" PRIu64 "\n", path, u, h->version,
		       h->cipher, h->sector_size, h->data_offset);
	}
	free(h);
	return EXIT_OK;
}
