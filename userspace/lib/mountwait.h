/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Is a directory waiting for a mount? cmekd starts before local file
 * systems (cmek volumes may hold them), so a directory it keeps state in
 * may lie under a mount point of /etc/fstab that is not mounted yet (a
 * separate /var): what it reads or writes there now would be the mount
 * point's, hidden once the file system is mounted over it.
 */
#ifndef CMEK_MOUNTWAIT_H
#define CMEK_MOUNTWAIT_H

#include <stddef.h>

#define CMEK_FSTAB_PATH		"/etc/fstab"
#define CMEK_MOUNTS_PATH	"/proc/self/mounts"

/*
 * The deepest mount point of @fstab other than "/" at or above @dir that
 * @mounts (a /proc/self/mounts) does not list, into @out; "" when there
 * is none (or @fstab cannot be read: nothing to wait for). When @mounts
 * cannot be read, nothing is held back either.
 */
void cmek_mount_pending(const char *dir, const char *fstab,
			const char *mounts, char *out, size_t len);

#endif /* CMEK_MOUNTWAIT_H */
