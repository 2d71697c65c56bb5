/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cmekctl's side of first-boot provisioning (format= in
 * /etc/cmek/volumes): ask cmekd to format a device that has no cmek
 * header, and make the file system it owes on the opened mapping.
 */
#ifndef CMEKCTL_PROVISION_H
#define CMEKCTL_PROVISION_H

#include "voltab.h"

/*
 * Before the open: a device with a valid cmek header is left to the open;
 * one without is formatted by cmekd if it is blank (else cmekd refuses it,
 * audited). 0 or -errno (cmekd's: transient ones may be retried).
 */
int provision_format(const struct cmek_voltab_entry *e, const char *dev,
		     int timeout_ms);
/*
 * After the open: the file system cmekd's record says is owed, made on
 * /dev/mapper/NAME unless one is already there. 0 or -errno.
 */
int provision_mkfs(const struct cmek_voltab_entry *e);

#endif
