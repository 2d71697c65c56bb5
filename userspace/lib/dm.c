// SPDX-License-Identifier: GPL-2.0
/*
 * Device-mapper through libdevmapper (dm.h): create and remove cmek
 * mappings, read their tables and status, and build their table line.
 * Without udev (the test VM, early boot) libdm is told not to wait for
 * udev and creates the /dev/mapper nodes itself.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <libdevmapper.h>
#include <linux/dm-cmek.h>

#include "dm.h"
#include "nl.h"

static char dm_last_err[512];
static void (*dm_log_cb)(const char *msg);

static void dm_log(int level, const char *file, int line, int dm_errno,
		   const char *f, ...)
{
	char msg[512];
	va_list ap;

	if (level > 3 /* _LOG_ERR */)
		return;
	va_start(ap, f);
	vsnprintf(msg, sizeof(msg), f, ap);
	va_end(ap);
	snprintf(dm_last_err, sizeof(dm_last_err), "%s", msg);
	if (dm_log_cb)
		dm_log_cb(msg);
}

static bool dm_udev;

void cmek_dm_setup(bool udev_running, void (*log)(const char *msg))
{
	dm_udev = udev_running;
	dm_log_cb = log;
	dm_log_with_errno_init(dm_log);
	if (!udev_running)
		dm_udev_set_sync_support(0);
}

static int run(struct dm_task *dmt, bool cookie, char *err, size_t errlen,
	       const char *what)
{
	uint32_t ck = 0;
	int ret = 0, e;

	dm_last_err[0] = '\0';
	if (cookie && !dm_task_set_cookie(dmt, &ck, 0)) {
		snprintf(err, errlen, "%s: cannot set udev cookie", what);
		return -EIO;
	}
	if (!dm_task_run(dmt)) {
		e = dm_task_get_errno(dmt);
		ret = e > 0 ? -e : -EIO;
		if (err)
			snprintf(err, errlen, "%s: %s", what,
				 dm_last_err[0] ? dm_last_err :
				 strerror(-ret));
	}
	if (cookie) {
		dm_udev_wait(ck);
		if (!dm_udev)
			dm_task_update_nodes();
	}
	return ret;
}

int cmek_dm_create(const char *name, const char *dm_uuid,
		   uint64_t len_sectors, const char *params, bool read_only,
		   char *err, size_t errlen)
{
	struct dm_task *dmt = dm_task_create(DM_DEVICE_CREATE);
	int ret;

	if (!dmt)
		return -ENOMEM;
	if (!dm_task_set_name(dmt, name) ||
	    (dm_uuid && !dm_task_set_uuid(dmt, dm_uuid)) ||
	    (read_only && !dm_task_set_ro(dmt)) ||
	    !dm_task_add_target(dmt, 0, len_sectors, "cmek", params)) {
		snprintf(err, errlen, "cannot prepare the device-mapper "
			 "request for %s", name);
		dm_task_destroy(dmt);
		return -EINVAL;
	}
	dm_task_set_add_node(dmt, DM_ADD_NODE_ON_CREATE);
	ret = run(dmt, true, err, errlen, "device-mapper create");
	dm_task_destroy(dmt);
	return ret;
}

int cmek_dm_remove(const char *name, char *err, size_t errlen)
{
	struct dm_task *dmt = dm_task_create(DM_DEVICE_REMOVE);
	int ret;

	if (!dmt)
		return -ENOMEM;
	if (!dm_task_set_name(dmt, name)) {
		dm_task_destroy(dmt);
		return -EINVAL;
	}
	dm_task_retry_remove(dmt);
	ret = run(dmt, true, err, errlen, "device-mapper remove");
	dm_task_destroy(dmt);
	return ret;
}

/* Run a TABLE or STATUS task for @name; returns the task or NULL (-errno). */
static struct dm_task *query(int type, const char *name, int *ret)
{
	struct dm_task *dmt = dm_task_create(type);
	struct dm_info info;

	*ret = -ENOMEM;
	if (!dmt)
		return NULL;
	*ret = -EINVAL;
	if (!dm_task_set_name(dmt, name))
		goto fail;
	*ret = run(dmt, false, NULL, 0, "query");
	if (*ret)
		goto fail;
	if (!dm_task_get_info(dmt, &info) || !info.exists) {
		*ret = -ENOENT;
		goto fail;
	}
	return dmt;
fail:
	dm_task_destroy(dmt);
	return NULL;
}

void cmek_dm_resolve_dev(const char *in, char *out, size_t len)
{
	unsigned int maj, min;
	char path[300], line[256], extra;
	struct stat st;
	FILE *f;

	snprintf(out, len, "%s", in);
	if (sscanf(in, "%u:%u%c", &maj, &min, &extra) != 2)
		return;
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/uevent", maj, min);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "DEVNAME=", 8))
			continue;
		line[strcspn(line, "\n")] = '\0';
		snprintf(path, sizeof(path), "/dev/%s", line + 8);
		if (!stat(path, &st) && S_ISBLK(st.st_mode) &&
		    major(st.st_rdev) == maj && minor(st.st_rdev) == min) {
			snprintf(out, len, "%s", path);
			fclose(f);
			return;
		}
	}
	if (f)
		fclose(f);
	snprintf(out, len, "/dev/block/%u:%u", maj, min);
}

int cmek_dm_name_of_dev(uint32_t dev, char *name, size_t len)
{
	struct dm_task *dmt = dm_task_create(DM_DEVICE_INFO);
	struct dm_info info;
	const char *n;
	int ret = -ENOENT;

	if (!dmt)
		return -ENOMEM;
	if (!dm_task_set_major(dmt, major(dev)) ||
	    !dm_task_set_minor(dmt, minor(dev)) || !dm_task_run(dmt))
		goto out;
	if (dm_task_get_info(dmt, &info) && info.exists &&
	    (n = dm_task_get_name(dmt)) && *n) {
		snprintf(name, len, "%s", n);
		ret = 0;
	}
out:
	dm_task_destroy(dmt);
	return ret;
}

int cmek_dm_get_cmek(const char *name, char uuid[CMEK_UUID_STR_LEN],
		     char *device, size_t devlen, char *params, size_t plen)
{
	uint64_t start, len;
	char *type = NULL, *p = NULL;
	struct dm_task *dmt;
	char u[64], dev[4096];
	int ret;

	dmt = query(DM_DEVICE_TABLE, name, &ret);
	if (!dmt)
		return ret;
	dm_get_next_target(dmt, NULL, &start, &len, &type, &p);
	if (!type || strcmp(type, "cmek") || !p ||
	    sscanf(p, "%63s %4095s", u, dev) != 2) {
		dm_task_destroy(dmt);
		return -EMEDIUMTYPE;
	}
	if (uuid)
		snprintf(uuid, CMEK_UUID_STR_LEN, "%.36s", u);
	if (device)
		cmek_dm_resolve_dev(dev, device, devlen);
	if (params)
		snprintf(params, plen, "%s", p);
	dm_task_destroy(dmt);
	return 0;
}

int cmek_dm_get_status(const char *name, char *out, size_t len)
{
	uint64_t start, l;
	char *type = NULL, *p = NULL;
	struct dm_task *dmt;
	int ret;

	out[0] = '\0';
	dmt = query(DM_DEVICE_STATUS, name, &ret);
	if (!dmt)
		return ret;
	dm_get_next_target(dmt, NULL, &start, &l, &type, &p);
	snprintf(out, len, "%s", p ? p : "");
	dm_task_destroy(dmt);
	return 0;
}

int cmek_dm_for_each_cmek(int (*cb)(const char *name, const char *uuid,
				    dev_t dev, void *data), void *data)
{
	struct dm_task *dmt = dm_task_create(DM_DEVICE_LIST);
	struct dm_names *n;
	unsigned int next = 0;
	int count = 0;

	if (!dmt)
		return -ENOMEM;
	if (!dm_task_run(dmt)) {
		int e = dm_task_get_errno(dmt);

		dm_task_destroy(dmt);
		return e > 0 ? -e : -EIO;
	}
	n = dm_task_get_names(dmt);
	if (n && n->dev) {
		do {
			char u[CMEK_UUID_STR_LEN];

			n = (struct dm_names *)((char *)n + next);
			if (!cmek_dm_get_cmek(n->name, u, NULL, 0, NULL, 0)) {
				count++;
				if (cb(n->name, u, (dev_t)n->dev, data))
					break;
			}
			next = n->next;
		} while (next);
	}
	dm_task_destroy(dmt);
	return count;
}

struct count_ctx {
	const char *uuid, *except;
	int n;
};

static int count_cb(const char *name, const char *uuid, dev_t dev,
		    void *data)
{
	struct count_ctx *c = data;

	if ((!c->except || strcmp(name, c->except)) &&
	    !strcasecmp(uuid, c->uuid))
		c->n++;
	return 0;
}

int cmek_dm_count_users(const char *uuid, const char *except)
{
	struct count_ctx c = { uuid, except, 0 };
	int ret = cmek_dm_for_each_cmek(count_cb, &c);

	return ret < 0 ? ret : c.n;
}

int cmek_dm_info(const char *name, uint32_t *major, uint32_t *minor,
		 bool *suspended)
{
	struct dm_task *dmt = dm_task_create(DM_DEVICE_INFO);
	struct dm_info info;
	int ret;

	if (!dmt)
		return -ENOMEM;
	ret = -EINVAL;
	if (!dm_task_set_name(dmt, name) || !dm_task_no_open_count(dmt))
		goto out;
	ret = run(dmt, false, NULL, 0, "info");
	if (ret == -ENXIO)
		ret = -ENOENT;
	if (ret)
		goto out;
	ret = -EIO;
	if (!dm_task_get_info(dmt, &info))
		goto out;
	ret = -ENOENT;
	if (!info.exists)
		goto out;
	*major = info.major;
	*minor = info.minor;
	*suspended = info.suspended;
	ret = 0;
out:
	dm_task_destroy(dmt);
	return ret;
}

/* " name" or " name:value" (CMEK_OPT_SEP) appended at @o; the new end. */
static size_t opt_add(char *buf, size_t len, size_t o, int *n,
		      const char *name, const char *value)
{
	int w;

	if (o >= len)
		return o;
	w = value ? snprintf(buf + o, len - o, " %s%c%s", name, CMEK_OPT_SEP,
			     value) :
		    snprintf(buf + o, len - o, " %s", name);
	(*n)++;
	return o + (size_t)(w > 0 ? w : 0);
}

int cmek_dm_table_params(const struct cmek_dm_table *t, char *out,
			 size_t len)
{
	char opts[256] = "", v[32];
	size_t o = 0;
	int n = 0, w;

	if (t->sector_size != 512) {
		snprintf(v, sizeof(v), "%u", t->sector_size);
		o = opt_add(opts, sizeof(opts), o, &n, CMEK_OPT_SECTOR_SIZE, v);
	}
	if (t->iv_large_sectors)
		o = opt_add(opts, sizeof(opts), o, &n,
			    CMEK_OPT_IV_LARGE_SECTORS, NULL);
	if (t->iv_offset) {
		snprintf(v, sizeof(v), "%" PRIu64, t->iv_offset);
		o = opt_add(opts, sizeof(opts), o, &n, CMEK_OPT_IV_OFFSET, v);
	}
	if (t->allow_discards)
		o = opt_add(opts, sizeof(opts), o, &n, CMEK_OPT_ALLOW_DISCARDS,
			    NULL);
	if (t->key_wait_ms) {
		snprintf(v, sizeof(v), "%lld", t->key_wait_ms);
		o = opt_add(opts, sizeof(opts), o, &n, CMEK_OPT_KEY_WAIT_MS, v);
	}
	if (n)
		w = snprintf(out, len, "%s %s %" PRIu64 " %d%s", t->uuid,
			     t->device, t->offset, n, opts);
	else
		w = snprintf(out, len, "%s %s %" PRIu64, t->uuid, t->device,
			     t->offset);
	return w < 0 || (size_t)w >= len ? -ENAMETOOLONG : 0;
}
