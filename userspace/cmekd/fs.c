// SPDX-License-Identifier: GPL-2.0
/*
 * Mounted file systems of a revoked volume. After the kernel revoke (a
 * "revoke" request, a shred, a lock by the watch), each cmek mapping of
 * the volume that carries a mounted file system is shut down
 * (fs_shutdown.h) unless [daemon] fs_on_revoke = keep, the request's
 * keep_fs, or keepfs on the mapping's line of /etc/cmek/volumes says to
 * keep it; the processes with its files mmapped are named, and killed with
 * mmap_holders = kill. What happened goes into the revoke's audit line.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cmekd.h"
#include "escape.h"
#include "fs_shutdown.h"
#include "log.h"
#include "voltab.h"

struct fs_ctx {
	struct daemon *d;
	const char *uuid;		/* NULL: every mapping */
	enum revoke_fs fs;
	struct cmek_voltab vl;
	char *out;
	size_t len, off;
};

static __attribute__((format(printf, 2, 3)))
void add(struct fs_ctx *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->off >= c->len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(c->out + c->off, c->len - c->off, fmt, ap);
	va_end(ap);
	if (n > 0)
		c->off += (size_t)n;
}

static bool keep_it(const struct fs_ctx *c, const char *name, bool *by_entry)
{
	const struct cmek_voltab_entry *e = cmek_voltab_find(&c->vl, name);

	*by_entry = e && e->keepfs;
	if (*by_entry)
		return true;
	if (c->fs == REVOKE_FS_CONFIG)
		return c->d->cfg.fs_keep;
	return c->fs == REVOKE_FS_KEEP;
}

static int fs_cb(const char *name, const char *uuid, dev_t dev, void *data)
{
	struct fs_ctx *c = data;
	struct cmek_fs_result r;
	char mp[256], who[CMEK_FS_HOLDERS_MAX * CMEK_FS_HOLDER_LEN + 32];
	unsigned int flags = 0;
	bool by_entry;

	if (c->uuid && strcasecmp(uuid, c->uuid))
		return 0;
	if (keep_it(c, name, &by_entry))
		flags |= CMEK_FS_KEEP;
	if (c->d->cfg.mmap_kill)
		flags |= CMEK_FS_KILL_HOLDERS;
	cmek_fs_revoke(dev, flags, &r);
	if (r.state == CMEK_FS_NOT_MOUNTED)
		return 0;
	cmek_printable(r.mount_point, mp, sizeof(mp));
	cmek_fs_holders_str(&r, who, sizeof(who));
	add(c, " mapping=%s fs=%s mount=\"%s\" fstype=%s", name,
	    cmek_fs_state_name(r.state), mp, r.fstype);
	if (r.ns_pid)
		add(c, " mount_ns_pid=%d", (int)r.ns_pid);
	if (by_entry)
		add(c, " keepfs=volumes");
	if (r.state == CMEK_FS_FAILED)
		add(c, " fs_error=\"%s\"", r.why);
	add(c, " mmap_holders=\"%s\"", who);
	if (r.nkilled)
		add(c, " killed=%u", r.nkilled);
	cmek_log(r.state == CMEK_FS_FAILED ? LOG_ERR : LOG_NOTICE,
		 "%s: %s on %s: %s%s%s%s", name, r.fstype, mp, r.why,
		 r.caches_dropped ? "; clean caches dropped" : "",
		 r.nholders ? "; mmapped by " : "", r.nholders ? who : "");
	return 0;
}

static void volumes_report(void *ctx, const char *msg)
{
	log_warn("%s", msg);
}

void fs_on_revoke(struct daemon *d, const char *uuid, enum revoke_fs fs,
		  char *out, size_t len)
{
	struct fs_ctx c = { .d = d, .uuid = uuid, .fs = fs, .out = out,
			    .len = len };

	if (len)
		out[0] = '\0';
	if (fs == REVOKE_FS_NONE)
		return;
	/* A refused file counts as empty: no keepfs, the safe default. */
	cmek_voltab_load(&c.vl, cmek_voltab_path(), false, 0, volumes_report,
			  NULL);
	kernel(d)->dm_for_each_cmek(fs_cb, &c);
	cmek_voltab_free(&c.vl);
}
