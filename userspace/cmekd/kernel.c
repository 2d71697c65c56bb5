// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel side: the netlink command socket and events group, (re)opened
 * on demand; the events cmekd's own key changes will cause; and
 * kernel_ops, what the volume logic asks of netlink and device-mapper, as
 * a table a host test can replace. It calls nothing of cmekd's: whatever
 * needs a resync after a (re)subscription finds resync_due set, and the
 * main loop does it.
 */
#include <errno.h>
#include <string.h>

#include "cmekd.h"
#include "log.h"

static int events_start(struct daemon *d)
{
	int ret;

	if (d->ev)
		return 0;
	ret = cmek_nl_open(&d->ev);
	if (ret)
		return ret;
	ret = cmek_nl_subscribe(d->ev);
	if (ret) {
		log_err("cannot join the cmek events group: %s",
			strerror(-ret));
		cmek_nl_close(d->ev);
		d->ev = NULL;
	}
	return ret;
}

int daemon_nl_ready(struct daemon *d)
{
	int ret;

	if (!d->nl) {
		ret = cmek_nl_open(&d->nl);
		if (ret) {
			d->nl = NULL;
			return ret;
		}
	}
	if (!d->ev) {
		ret = events_start(d);
		if (ret)
			return ret;
		/* We may have missed events while not subscribed. */
		d->resync_due = true;
	}
	return 0;
}

void nl_expect_event(struct daemon *d, uint8_t cmd,
		     const uint8_t uuid[CMEK_UUID_LEN])
{
	const size_t max = sizeof(d->own) / sizeof(d->own[0]);

	/* Full: an event was lost (ENOBUFS); forget the oldest. */
	if (d->nown == max) {
		memmove(d->own, d->own + 1, (max - 1) * sizeof(d->own[0]));
		d->nown--;
	}
	d->own[d->nown].cmd = cmd;
	memcpy(d->own[d->nown].uuid, uuid, CMEK_UUID_LEN);
	d->nown++;
}

/* Was this event caused by a set or revoke of ours? Consumes the match. */
bool nl_own_event(struct daemon *d, uint8_t cmd,
		  const uint8_t uuid[CMEK_UUID_LEN])
{
	for (size_t i = 0; i < d->nown; i++) {
		if (d->own[i].cmd != cmd ||
		    memcmp(d->own[i].uuid, uuid, CMEK_UUID_LEN))
			continue;
		memmove(d->own + i, d->own + i + 1,
			(d->nown - i - 1) * sizeof(d->own[0]));
		d->nown--;
		return true;
	}
	return false;
}

static int nl_set_key(struct daemon *d, const uint8_t uuid[CMEK_UUID_LEN],
		      const uint8_t *key, size_t key_len, uint32_t flags)
{
	return cmek_nl_set_key(d->nl, uuid, key, key_len, 0, false, flags);
}

static int nl_revoke(struct daemon *d, const uint8_t uuid[CMEK_UUID_LEN])
{
	return cmek_nl_revoke(d->nl, uuid, 0);
}

static int nl_get(struct daemon *d, const uint8_t uuid[CMEK_UUID_LEN],
		  struct cmek_key_info *info)
{
	return cmek_nl_get(d->nl, uuid, info);
}

static const char *nl_errmsg(struct daemon *d)
{
	return cmek_nl_errmsg(d->nl);
}

static int get_cmek(const char *name, char uuid[CMEK_UUID_STR_LEN],
		    char *device, size_t devlen)
{
	return cmek_dm_get_cmek(name, uuid, device, devlen, NULL, 0);
}

const struct kernel_ops kernel_ops = {
	.nl_ready = daemon_nl_ready,
	.set_key = nl_set_key,
	.revoke = nl_revoke,
	.get = nl_get,
	.errmsg = nl_errmsg,
	.dm_get_cmek = get_cmek,
	.dm_for_each_cmek = cmek_dm_for_each_cmek,
};

const struct kernel_ops *kernel(const struct daemon *d)
{
	return d->kernel ? d->kernel : &kernel_ops;
}
