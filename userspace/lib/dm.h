/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Device-mapper through libdevmapper, for cmekd (which creates and removes
 * cmek mappings) and cmekctl (which reads them), and the cmek table line
 * both write and read, built from the option names of linux/dm-cmek.h.
 */
#ifndef CMEK_DM_H
#define CMEK_DM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "provider.h"

/*
 * Once, before any other call. @udev_running: let udev make the
 * /dev/mapper nodes (else libdm makes them and never waits for udev).
 * @log gets libdevmapper's error lines (NULL: dropped); the last one also
 * goes into the @err of a failed cmek_dm_create()/_remove().
 */
void cmek_dm_setup(bool udev_running, void (*log)(const char *msg));
int cmek_dm_create(const char *name, const char *dm_uuid,
		   uint64_t len_sectors, const char *params, bool read_only,
		   char *err, size_t errlen);
int cmek_dm_remove(const char *name, char *err, size_t errlen);
/* 0, -ENOENT (no such mapping) or -errno; its device number, suspended. */
int cmek_dm_info(const char *name, uint32_t *major, uint32_t *minor,
		 bool *suspended);
/*
 * 0 if a cmek mapping @name exists: its table's volume uuid and device
 * (resolved: cmek_dm_resolve_dev), and the whole params; -ENOENT,
 * -EMEDIUMTYPE (another target), -errno. Any out pointer may be NULL.
 */
int cmek_dm_get_cmek(const char *name, char uuid[CMEK_UUID_STR_LEN],
		     char *device, size_t devlen, char *params, size_t plen);
/* Status line of the mapping, "" if none. */
int cmek_dm_get_status(const char *name, char *out, size_t len);
/*
 * Tables name devices as MAJOR:MINOR. Turn that into a /dev path: the
 * kernel's name from /sys/dev/block/M:m/uevent, checked against the node's
 * rdev; else /dev/block/M:m (udev's link). Other strings are kept.
 */
void cmek_dm_resolve_dev(const char *in, char *out, size_t len);
/* Name of the mapping whose dev_t is @dev (makedev() style); 0 or -ENOENT. */
int cmek_dm_name_of_dev(uint32_t dev, char *name, size_t len);
/*
 * Call @cb for each cmek mapping, with its volume uuid and device number
 * (stops on non-zero); count or -errno.
 */
int cmek_dm_for_each_cmek(int (*cb)(const char *name, const char *uuid,
				    dev_t dev, void *data), void *data);
/* Count cmek mappings (other than @except) whose table names @uuid. */
int cmek_dm_count_users(const char *uuid, const char *except);

/* What a cmek table line says (Documentation/admin-guide/dm-cmek.rst). */
struct cmek_dm_table {
	const char *uuid;		/* the volume's */
	const char *device;		/* backing device */
	uint64_t offset;		/* data start, 512-byte sectors */
	unsigned int sector_size;	/* bytes; 512 is the default */
	bool iv_large_sectors;
	uint64_t iv_offset;		/* sectors */
	bool allow_discards;
	long long key_wait_ms;		/* 0 = not held */
};
/* The target params for @t; -ENAMETOOLONG if they do not fit @len. */
int cmek_dm_table_params(const struct cmek_dm_table *t, char *out,
			 size_t len);

#endif /* CMEK_DM_H */
