// SPDX-License-Identifier: GPL-2.0
/*
 * Blank-device check for provisioning (userspace/lib/blank.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <blkid/blkid.h>

#include "blank.h"
#include "header.h"

/* "TYPE" or "PTTYPE", with USAGE when there is one. */
static void describe(blkid_probe pr, char *what, size_t len)
{
	const char *type = NULL, *usage = NULL;

	if (blkid_probe_lookup_value(pr, "TYPE", &type, NULL) == 0) {
		blkid_probe_lookup_value(pr, "USAGE", &usage, NULL);
		snprintf(what, len, "%s (%s, by libblkid)", type,
			 usage ? usage : "unknown usage");
	} else if (blkid_probe_lookup_value(pr, "PTTYPE", &type, NULL) == 0) {
		snprintf(what, len, "a %s partition table (by libblkid)", type);
	} else {
		snprintf(what, len, "a signature (by libblkid)");
	}
}

int cmek_blkid_signature(int fd, char *what, size_t len)
{
	blkid_probe pr = blkid_new_probe();
	int ret;

	if (!pr)
		return -ENOMEM;
	if (blkid_probe_set_device(pr, fd, 0, 0)) {
		blkid_free_probe(pr);
		return -EIO;
	}
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE |
					  BLKID_SUBLKS_USAGE |
					  BLKID_SUBLKS_MAGIC);
	blkid_probe_enable_partitions(pr, 1);
	blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC);
	/*
	 * safeprobe: -2 is several signatures at once (e.g. a file system
	 * and a partition table): not blank either.
	 */
	ret = blkid_do_safeprobe(pr);
	if (ret == 0) {
		describe(pr, what, len);
		ret = 1;
	} else if (ret == -2) {
		snprintf(what, len, "several signatures (libblkid: ambivalent)");
		ret = 1;
	} else if (ret == 1) {
		ret = 0;
	} else {
		ret = -EIO;
	}
	blkid_free_probe(pr);
	return ret;
}

static bool all_zero(const unsigned char *b, size_t n)
{
	return n == 0 || (b[0] == 0 && !memcmp(b, b + 1, n - 1));
}

int cmek_dev_blank(int fd, char *what, size_t len)
{
	unsigned char *buf, magic[8];
	size_t got = 0;
	ssize_t n;
	int ret;

	ret = cmek_blkid_signature(fd, what, len);
	if (ret < 0) {
		snprintf(what, len, "libblkid cannot probe it: %s",
			 strerror(-ret));
		return ret;
	}
	if (ret)
		return -EEXIST;
	/* The copy past the first MiB: a half-overwritten cmek volume. */
	if (pread(fd, magic, sizeof(magic), CMEK_VOL_COPY_OFFSET_1) ==
	    (ssize_t)sizeof(magic) && !memcmp(magic, CMEK_VOL_MAGIC, 8)) {
		snprintf(what, len, "a cmek header (its second copy)");
		return -EEXIST;
	}
	buf = malloc(CMEK_BLANK_ZERO_LEN);
	if (!buf)
		return -ENOMEM;
	while (got < CMEK_BLANK_ZERO_LEN) {
		n = pread(fd, buf + got, CMEK_BLANK_ZERO_LEN - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			snprintf(what, len, "cannot read it: %s",
				 strerror(errno));
			free(buf);
			return ret;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (!all_zero(buf, got)) {
		size_t i = 0;

		while (!buf[i])
			i++;
		snprintf(what, len, "non-zero data in its first MiB (at byte "
			 "%zu)", i);
		ret = -EEXIST;
	}
	free(buf);
	return ret;
}
