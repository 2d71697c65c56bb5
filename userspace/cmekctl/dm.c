// SPDX-License-Identifier: GPL-2.0
/*
 * cmekctl's device-mapper queries, through libdevmapper. cmekctl only reads
 * tables and status (cmekd creates and removes mappings); it never waits
 * for udev, so it works in a guest without udev.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libdevmapper.h>

#include "cmekctl.h"

static void dm_log_quiet(int level, const char *file, int line, int dm_errno,
			 const char *f, ...)
{
	va_list ap;

	if (!getenv("CMEKCTL_DEBUG"))
		return;
	va_start(ap, f);
	fprintf(stderr, "libdevmapper: ");
	vfprintf(stderr, f, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void dm_setup(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	dm_udev_set_sync_support(0);
	dm_log_with_errno_init(dm_log_quiet);
}

/* "253:4" -> "/dev/dm-4" when sysfs knows it; else unchanged. */
static void resolve_devt(const char *in, char *out, size_t len)
{
	unsigned int maj, min;
	char path[64], line[256];
	FILE *f;
	int n = 0;

	snprintf(out, len, "%s", in);
	if (sscanf(in, "%u:%u%n", &maj, &min, &n) != 2 || in[n])
		return;
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/uevent", maj, min);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "DEVNAME=", 8)) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(out, len, "/dev/%s", line + 8);
			break;
		}
	}
	fclose(f);
}

static int run_task(int type, const char *name, char *ttype, size_t tlen,
		    char *params, size_t plen, struct dm_info *info)
{
	struct dm_task *dmt = dm_task_create(type);
	uint64_t start, length;
	char *tt = NULL, *p = NULL;
	int ret = 0;

	if (!dmt)
		return -ENOMEM;
	if (!dm_task_set_name(dmt, name) || !dm_task_no_open_count(dmt)) {
		ret = -EINVAL;
		goto out;
	}
	if (!dm_task_run(dmt)) {
		ret = dm_task_get_errno(dmt) ? -dm_task_get_errno(dmt) : -EIO;
		goto out;
	}
	if (info && !dm_task_get_info(dmt, info)) {
		ret = -EIO;
		goto out;
	}
	if (info && !info->exists) {
		ret = -ENOENT;
		goto out;
	}
	if (ttype) {
		dm_get_next_target(dmt, NULL, &start, &length, &tt, &p);
		snprintf(ttype, tlen, "%s", tt ? tt : "");
		snprintf(params, plen, "%s", p ? p : "");
	}
out:
	dm_task_destroy(dmt);
	return ret;
}

int dm_cmek_lookup(const char *name, struct dm_cmek_dev *d)
{
	char ttype[64], dev[256];
	struct dm_info info;
	int ret;

	dm_setup();
	memset(d, 0, sizeof(*d));
	if (access("/sys/module/dm_mod", F_OK) < 0)
		return -ENODEV;
	snprintf(d->name, sizeof(d->name), "%s", name);
	ret = run_task(DM_DEVICE_INFO, name, NULL, 0, NULL, 0, &info);
	if (ret == -ENXIO)
		ret = -ENOENT;
	if (ret)
		return ret;
	d->major = info.major;
	d->minor = info.minor;
	d->suspended = info.suspended;
	ret = run_task(DM_DEVICE_TABLE, name, ttype, sizeof(ttype), d->table,
		       sizeof(d->table), &info);
	if (ret)
		return ret;
	if (strcmp(ttype, "cmek"))
		return -EINVAL;
	if (sscanf(d->table, "%36s %255s", d->uuid, dev) != 2)
		return -EINVAL;
	resolve_devt(dev, d->device, sizeof(d->device));
	ret = run_task(DM_DEVICE_STATUS, name, ttype, sizeof(ttype), d->status,
		       sizeof(d->status), &info);
	return ret;
}

int dm_cmek_list(struct dm_cmek_dev **out, size_t *n)
{
	struct dm_task *dmt;
	struct dm_names *names;
	struct dm_cmek_dev *v = NULL;
	size_t cnt = 0;
	unsigned int next = 0;

	dm_setup();
	*out = NULL;
	*n = 0;
	if (access("/sys/module/dm_mod", F_OK) < 0)
		return -ENODEV;
	dmt = dm_task_create(DM_DEVICE_LIST);
	if (!dmt)
		return -ENOMEM;
	if (!dm_task_run(dmt)) {
		int e = dm_task_get_errno(dmt);

		dm_task_destroy(dmt);
		return e ? -e : -EIO;
	}
	names = dm_task_get_names(dmt);
	if (names && names->dev) {
		do {
			struct dm_cmek_dev d, *nv;

			names = (struct dm_names *)((char *)names + next);
			if (dm_cmek_lookup(names->name, &d) == 0) {
				nv = realloc(v, (cnt + 1) * sizeof(*v));
				if (!nv) {
					free(v);
					dm_task_destroy(dmt);
					return -ENOMEM;
				}
				v = nv;
				v[cnt++] = d;
			}
			next = names->next;
		} while (next);
	}
	dm_task_destroy(dmt);
	*out = v;
	*n = cnt;
	return 0;
}
