/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Mounted file systems on a revoked cmek mapping. Revoking the key stops
 * the mapping, but a file system mounted on it still serves what it has
 * cached. cmek_fs_revoke() finds where the mapping is mounted (this mount
 * namespace, else any other process's: a container), shuts the file
 * system down so that read(2) and every fresh open fail with EIO, drops
 * the clean page cache it leaves, and names the processes that still have
 * its files mmapped: their mapped pages stay readable to them until they
 * exit (optionally they are killed).
 * Documentation/admin-guide/cmek-runbook.rst, "Mounted file systems".
 *
 * The shutdown is the ioctl _IOR('X', 125, __u32) with the no-log-flush
 * flag: EXT4_IOC_SHUTDOWN (ext4, and ext2/ext3 when ext4 serves them),
 * XFS_IOC_GOINGDOWN, F2FS_IOC_SHUTDOWN. Another file system type has no
 * shutdown: only its clean caches are dropped, and the result says what
 * stays readable.
 *
 * Everything read from /proc is untrusted input: lines are read into
 * fixed buffers (overlong ones skipped or cut), names are bounded and made
 * printable, and the mount point opened is checked to be the device's.
 */
#ifndef CMEK_FS_SHUTDOWN_H
#define CMEK_FS_SHUTDOWN_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#define CMEK_FS_HOLDERS_MAX	16	/* named in a result; more counted */
#define CMEK_FS_HOLDER_LEN	32	/* "comm[pid]": 15 + 2 + 10 + NUL */
#define CMEK_FS_TYPE_LEN	32

enum cmek_fs_state {
	CMEK_FS_NOT_MOUNTED,	/* no mount in any mount namespace */
	CMEK_FS_SHUT_DOWN,	/* shut down now, or found shut down */
	CMEK_FS_KEPT,		/* CMEK_FS_KEEP: found and reported only */
	CMEK_FS_NO_SHUTDOWN,	/* its type has no shutdown ioctl */
	CMEK_FS_FAILED,		/* open or ioctl failed: error */
};

struct cmek_fs_holder {
	pid_t pid;
	char name[CMEK_FS_HOLDER_LEN];	/* "comm[pid]", printable */
};

struct cmek_fs_result {
	enum cmek_fs_state state;
	unsigned int major, minor;	/* of the super block (mountinfo) */
	char mount_point[PATH_MAX];	/* in its namespace, unescaped */
	pid_t ns_pid;			/* found in this process's mount
					 * namespace only; 0: in ours */
	char fstype[CMEK_FS_TYPE_LEN];
	int error;			/* -errno when CMEK_FS_FAILED */
	char why[256];			/* what happened, what remains */
	bool caches_dropped;
	unsigned int nholders;		/* processes found */
	unsigned int nlisted;		/* of them in holders[] */
	unsigned int nkilled;
	struct cmek_fs_holder holders[CMEK_FS_HOLDERS_MAX];
};

#define CMEK_FS_KEEP		0x1	/* find and report only */
#define CMEK_FS_KILL_HOLDERS	0x2	/* SIGKILL the mmap holders */

/*
 * For the block device @dev (the cmek mapping): find its mount, shut it
 * down (unless CMEK_FS_KEEP), drop clean caches, list (and with
 * CMEK_FS_KILL_HOLDERS kill) the processes with its files mmapped.
 * Fills *@res. Returns 0, or -errno when a mounted file system that has a
 * shutdown could not be shut down (res->state CMEK_FS_FAILED).
 */
int cmek_fs_revoke(dev_t dev, unsigned int flags, struct cmek_fs_result *res);

/* "shut-down", "kept", "not-mounted", "no-shutdown", "failed". */
const char *cmek_fs_state_name(enum cmek_fs_state s);
/* "a[1],b[2],+3 more" ("-" for none) into @buf. */
void cmek_fs_holders_str(const struct cmek_fs_result *res, char *buf,
			 size_t len);

/* ---- the parsers, pure (unit-tested with fixture text) ---------------- */

/* One /proc/PID/mountinfo line, fields pointing into the line. */
struct cmek_mountinfo {
	unsigned int major, minor;	/* field 3 */
	const char *root;		/* field 4, unescaped */
	const char *mount_point;	/* field 5, unescaped */
	const char *fstype;		/* after the " - " separator */
	const char *source;		/* unescaped */
};

/*
 * Parse @line (one line, modified in place: fields are cut and their
 * \ooo escapes undone). 0, or -EINVAL when the line is malformed (too few
 * fields, no separator, a bad major:minor, an escape that makes a NUL).
 */
int cmek_mountinfo_parse(char *line, struct cmek_mountinfo *m);

/* A mount of one super block, copied out of a mountinfo stream. */
struct cmek_mount {
	unsigned int major, minor;
	char mount_point[PATH_MAX];
	char fstype[CMEK_FS_TYPE_LEN];
};

/*
 * Scan a mountinfo stream for a mount of @major:@minor (field 3); with
 * @match_source also accept a line whose source names that block device
 * (btrfs shows an anonymous device in field 3). Prefers a mount of the
 * file system's root. 1 found, 0 none; malformed and overlong lines are
 * skipped.
 */
int cmek_mountinfo_find(FILE *f, unsigned int major, unsigned int minor,
			bool match_source, struct cmek_mount *out);

/*
 * One /proc/PID/maps line: the device (hex major:minor) and inode of the
 * mapped file. 0, or -EINVAL when malformed.
 */
int cmek_maps_parse(const char *line, unsigned int *major,
		    unsigned int *minor, unsigned long *ino);
/* 1 when a maps stream maps a file of @major:@minor (inode != 0), else 0. */
int cmek_maps_uses_dev(FILE *f, unsigned int major, unsigned int minor);

#endif /* CMEK_FS_SHUTDOWN_H */
