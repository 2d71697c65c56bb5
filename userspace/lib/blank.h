/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Is a device blank, so that provisioning may format it? Two questions:
 * does libblkid find any signature on it (a file system, a partition
 * table, LVM, LUKS, RAID member, swap: every superblock and partition
 * table prober it has, at the start and at the end of the device), and
 * are its first CMEK_BLANK_ZERO_LEN bytes all zero. Plus the cmek header
 * magic at both copy offsets, which libblkid does not know.
 */
#ifndef CMEK_BLANK_H
#define CMEK_BLANK_H

#include <stddef.h>

#define CMEK_BLANK_ZERO_LEN	(1024 * 1024)

/*
 * 1 with a description ("ext4 (filesystem, by libblkid)") in @what when
 * libblkid finds a signature on @fd (or more than one), 0 when it finds
 * none, -errno when it cannot probe.
 */
int cmek_blkid_signature(int fd, char *what, size_t len);

/*
 * 0 when @fd is blank: no libblkid signature, no cmek header, nothing
 * but zeroes in the first CMEK_BLANK_ZERO_LEN bytes (or the whole device
 * when smaller). Else -EEXIST (or -errno of a failed read) with why in
 * @what.
 */
int cmek_dev_blank(int fd, char *what, size_t len);

#endif /* CMEK_BLANK_H */
