/* SPDX-License-Identifier: GPL-2.0 */
/*
 * /etc/cmek/volumes: the volumes to open when their device appears, one a
 * line, like crypttab(5). Documentation/admin-guide/cmek-host.rst.
 *
 *   # name   device                         options
 *   data     UUID=0f6c...-...               nofail,hold=5000
 *   scratch  /dev/disk/by-id/ata-XYZ        discard,header=/etc/cmek/h.img
 *
 * Options (comma-separated, optional, "-" or "none" for none): nofail,
 * discard, hold=MS (key_wait_ms: hold I/O up to MS while no key),
 * header=FILE (detached header), keepfs (a revoke or lock leaves a file
 * system mounted on the mapping running instead of shutting it down:
 * for an application that handles EIO itself), uuid=UUID (a device given
 * by path must hold that volume), keys=PROVIDER:PATTERN (the only KMS
 * keys the volume may be unwrapped with, fnmatch() patterns of key
 * references; may be repeated), and for the boot units cmek-generator
 * makes: noauto (not opened at boot, only when something needs
 * /dev/mapper/NAME), _netdev (the KMS is reached over the network: open
 * after network-online.target, before remote file systems), read-only
 * (also readonly: a read-only mapping), timeout=SEC (how long a boot open
 * retries an unreachable KMS; 0, the default, is no limit), and
 * first-boot provisioning: format=PROVIDER:KEYREF (a blank device is
 * formatted under that KMS key on first use; a device with any signature
 * or data is refused) with mkfs=ext4|xfs (the file system made on the
 * new mapping). Every bad line is reported as "FILE:LINE: message" and
 * skipped; parsing goes on.
 */
#ifndef CMEK_VOLTAB_H
#define CMEK_VOLTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "uuid.h"

#define CMEK_VOLTAB_DEFAULT_PATH	"/etc/cmek/volumes"
#define CMEK_VOLTAB_NAME_MAX		127
#define CMEK_VOLTAB_HOLD_MAX		600000	/* ms */
#define CMEK_VOLTAB_KEYS_MAX		1100	/* one PROVIDER:PATTERN */
#define CMEK_VOLTAB_TIMEOUT_MAX	86400	/* s: a day is "never" enough */
#define CMEK_VOLTAB_MKFS_MAX		7

/* mkfs= values: the file systems provisioning knows how to make. */
#define CMEK_VOLTAB_MKFS_TYPES		"ext4|xfs"

struct cmek_voltab_entry {
	char *name;		/* device-mapper name */
	char *device;		/* a path, or NULL when by uuid */
	char uuid[CMEK_UUID_STR_LEN];		/* lower-case volume uuid, "" when by path */
	char *header;		/* detached header file, or NULL */
	char *keys;		/* "PROVIDER:PATTERN ...", or NULL */
	/* format=PROVIDER:KEYREF: provision a blank device; NULL if not */
	char *format_provider;
	char *format_key;
	char mkfs[CMEK_VOLTAB_MKFS_MAX + 1];	/* mkfs=, "" for none */
	bool nofail;
	bool discard;
	bool keepfs;
	bool noauto;		/* boot does not open it by itself */
	bool netdev;		/* _netdev: its KMS needs the network */
	bool read_only;		/* a read-only mapping */
	unsigned int timeout_s;	/* boot open retries this long; 0: no limit */
	bool has_hold;
	unsigned int hold_ms;
	int line;
};

struct cmek_voltab {
	struct cmek_voltab_entry *v;
	size_t n;
};

typedef void (*cmek_voltab_report_fn)(void *ctx, const char *msg);

/*
 * Read @path into @vl. A missing file is no error (an empty list) unless
 * @must_exist. The file must pass cmek_check_admin_file() for @owner_uid
 * (root's files: 0), else -EPERM and nothing is read. Returns the number
 * of errors reported; good lines are kept. -errno only when the file
 * cannot be read at all (also reported).
 */
int cmek_voltab_load(struct cmek_voltab *vl, const char *path,
		      bool must_exist, uid_t owner_uid,
		      cmek_voltab_report_fn report, void *ctx);
/* Same, from a string (tests); @path names it in messages. */
int cmek_voltab_parse(struct cmek_voltab *vl, const char *path,
		       const char *text, cmek_voltab_report_fn report,
		       void *ctx);
void cmek_voltab_free(struct cmek_voltab *vl);
/* The entry for the mapping @name, or NULL. */
const struct cmek_voltab_entry *cmek_voltab_find(const struct cmek_voltab *vl,
						  const char *name);
/*
 * Whether "PROVIDER:KEYREF" is allowed by @keys ("PROVIDER:PATTERN ...",
 * fnmatch(), as cmekd checks keys=); NULL or "" allows any.
 */
bool cmek_voltab_keys_allow(const char *keys, const char *provider,
			     const char *key_ref);
/* The path to use: $CMEK_VOLUMES or the default. */
const char *cmek_voltab_path(void);

#endif /* CMEK_VOLTAB_H */
