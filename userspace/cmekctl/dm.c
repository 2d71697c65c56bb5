// SPDX-License-Identifier: GPL-2.0
/*
 * cmekctl's view of the cmek mappings, through userspace/lib/dm.h. cmekctl
 * only reads tables and status (cmekd creates and removes mappings); it
 * never waits for udev, so it works in a guest without udev.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmekctl.h"
#include "dm.h"

static void dm_log_quiet(const char *msg)
{
	if (getenv("CMEKCTL_DEBUG"))
		fprintf(stderr, "libdevmapper: %s\n", msg);
}

void dm_setup(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	cmek_dm_setup(false, dm_log_quiet);
}

int dm_cmek_lookup(const char *name, struct dm_cmek_dev *d)
{
	int ret;

	dm_setup();
	memset(d, 0, sizeof(*d));
	if (access("/sys/module/dm_mod", F_OK) < 0)
		return -ENODEV;
	snprintf(d->name, sizeof(d->name), "%s", name);
	ret = cmek_dm_info(name, &d->major, &d->minor, &d->suspended);
	if (ret)
		return ret;
	ret = cmek_dm_get_cmek(name, d->uuid, d->device, sizeof(d->device),
			       d->table, sizeof(d->table));
	if (ret == -EMEDIUMTYPE)
		return -EINVAL;
	if (ret)
		return ret;
	return cmek_dm_get_status(name, d->status, sizeof(d->status));
}

struct list_ctx {
	struct dm_cmek_dev *v;
	size_t n;
	int err;
};

static int list_cb(const char *name, const char *uuid, dev_t dev, void *data)
{
	struct list_ctx *c = data;
	struct dm_cmek_dev d, *nv;

	if (dm_cmek_lookup(name, &d))
		return 0;
	nv = realloc(c->v, (c->n + 1) * sizeof(*nv));
	if (!nv) {
		c->err = -ENOMEM;
		return 1;
	}
	c->v = nv;
	c->v[c->n++] = d;
	return 0;
}

int dm_cmek_list(struct dm_cmek_dev **out, size_t *n)
{
	struct list_ctx c = { NULL, 0, 0 };
	int ret;

	dm_setup();
	*out = NULL;
	*n = 0;
	if (access("/sys/module/dm_mod", F_OK) < 0)
		return -ENODEV;
	ret = cmek_dm_for_each_cmek(list_cb, &c);
	if (ret >= 0)
		ret = c.err;
	if (ret < 0) {
		free(c.v);
		return ret;
	}
	*out = c.v;
	*n = c.n;
	return 0;
}
