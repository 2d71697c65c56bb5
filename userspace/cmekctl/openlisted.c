// SPDX-License-Identifier: GPL-2.0
/*
 * cmekctl open-listed [--quiet] --all | --name NAME [--retry [--timeout
 * SEC]] | DEV...: open, through cmekd, the volumes of /etc/cmek/volumes
 * ($CMEK_VOLUMES) whose device is present. udev runs it with the device
 * that just appeared (61-cmek.rules, without systemd); the units
 * cmek-generator makes run it with --name and --retry.
 *
 * A DEV that no line lists is left alone (exit 0, and silent with
 * --quiet). A listed volume whose mapping already exists is not opened
 * again. With --all, an absent device is an error unless the line says
 * nofail. --retry (with --name) keeps trying while the failure is one
 * that time may cure: the KMS unreachable (cmekd's EAGAIN), cmekd not
 * answering yet, the device not there yet; it backs off from 1 s to 60 s
 * and gives up after --timeout SEC (default: never), so a boot with the
 * KMS down opens the volume when the KMS comes back, with no operator.
 * A line with format=PROVIDER:KEYREF provisions its device first when
 * it has no cmek header (provision.h): cmekd formats it if blank and
 * refuses it otherwise; with mkfs= the file system is made on the new
 * mapping, once.
 * Exit status: 0 all good, 1 some open failed or a listed device is
 * missing (without nofail) or the file has bad lines, 2 usage.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmekctl.h"
#include "daemon.h"
#include "provision.h"
#include "header.h"
#include "voltab.h"

static bool quiet;

static void report(void *ctx, const char *msg)
{
	fprintf(stderr, "cmekctl: %s\n", msg);
}

/* The volume uuid in @dev's header, "" if none. */
static void dev_uuid(const char *dev, char out[CMEK_UUID_STR_LEN])
{
	struct cmek_vol_dev *d = NULL;
	struct cmek_vol_read_info ri;
	struct cmek_vol_hdr *h;
	char err[256];

	out[0] = '\0';
	if (cmek_vol_dev_open(dev, false, 0, &d, err, sizeof(err)) < 0)
		return;
	h = calloc(1, sizeof(*h));
	if (h && !cmek_vol_read(d, h, &ri, err, sizeof(err)))
		cmek_uuid_unparse(h->uuid, out);
	free(h);
	cmek_vol_dev_close(d);
}

static bool same_dev(const char *a, const char *b)
{
	struct stat sa, sb;

	if (stat(a, &sa) || stat(b, &sb))
		return false;
	if (S_ISBLK(sa.st_mode) && S_ISBLK(sb.st_mode))
		return sa.st_rdev == sb.st_rdev;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Where the entry's device is now, or false when absent. */
static bool entry_dev(const struct cmek_voltab_entry *e, char *out)
{
	char link[128];

	if (e->device)
		return realpath(e->device, out) != NULL;
	snprintf(link, sizeof(link), "/dev/disk/by-cmek-uuid/%s", e->uuid);
	if (realpath(link, out))
		return true;
	return false;
}

/* Returns 0 or -errno: cmekd's, or the transport's (daemon.h). */
static int open_one(const struct cmek_voltab_entry *e, const char *dev,
		    int timeout_ms)
{
	struct json_object *req, *reply = NULL;
	struct dm_cmek_dev d;
	char hdr[PATH_MAX];
	int n;

	dm_setup();
	if (!dm_cmek_lookup(e->name, &d)) {
		if (!quiet)
			info_msg("%s is already open", e->name);
		/* An earlier open whose mkfs failed: it is still owed. */
		return e->mkfs[0] ? provision_mkfs(e) : 0;
	}
	if (e->format_provider) {
		n = provision_format(e, dev, timeout_ms);
		if (n)
			return n;
	}
	if (e->uuid[0] && !e->header) {
		char u[CMEK_UUID_STR_LEN];

		dev_uuid(dev, u);
		if (strcmp(u, e->uuid)) {
			err_msg("open-listed: %s: %s holds volume %s, not %s",
				e->name, dev, u[0] ? u : "(none)", e->uuid);
			return -ESTALE;
		}
	}
	req = daemon_req("open");
	jadd_str(req, "device", dev);
	jadd_str(req, "name", e->name);
	/* cmekd checks them against the header it reads, detached or not. */
	if (e->uuid[0])
		jadd_str(req, "uuid", e->uuid);
	if (e->keys)
		jadd_str(req, "keys", e->keys);
	if (e->header)
		jadd_str(req, "header", realpath(e->header, hdr) ? hdr : e->header);
	if (e->discard)
		json_object_object_add(req, "allow_discards",
				       json_object_new_boolean(1));
	if (e->has_hold)
		json_object_object_add(req, "key_wait_ms",
				       json_object_new_int64(e->hold_ms));
	if (e->read_only)
		json_object_object_add(req, "read_only",
				       json_object_new_boolean(1));
	n = daemon_call_timeout(req, &reply, 0, timeout_ms);
	if (!n && !quiet)
		info_msg("opened %s as /dev/mapper/%s", dev, e->name);
	json_object_put(req);
	json_object_put(reply);
	if (!n && e->mkfs[0])
		n = provision_mkfs(e);
	return n;
}

/*
 * cmekd's answers that waiting may cure: the KMS unreachable (EAGAIN,
 * the providers' transient class), cmekd not answering yet or too slow.
 * Not ENOENT from cmekd: a missing header file stays missing.
 */
static bool transient(int err)
{
	return err == -EAGAIN || err == -ECONNREFUSED || err == -ETIMEDOUT;
}

static time_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/*
 * --name NAME [--retry [--timeout SEC]]: the one volume of a generated
 * unit. Backs off 1, 2, 4 ... 60 s between tries: a KMS that is down
 * for an hour costs about 60 calls, not thousands.
 */
static int open_named(const struct cmek_voltab *vl, const char *name,
		      bool retry, unsigned int timeout_s)
{
	const struct cmek_voltab_entry *e = cmek_voltab_find(vl, name);
	time_t start = now_s(), left;
	unsigned int delay = 1;
	char dev[PATH_MAX];
	bool absent;
	int ret, tmo;

	if (!e) {
		err_msg("open-listed: %s: no such volume in %s", name,
			cmek_voltab_path());
		return -ENOENT;
	}
	for (;;) {
		/* An attempt never runs past the deadline (but gets 1 s). */
		left = timeout_s ? (time_t)timeout_s - (now_s() - start) : 0;
		tmo = !timeout_s || left * 1000 > DAEMON_TIMEOUT_MS ?
			DAEMON_TIMEOUT_MS : left > 1 ? (int)(left * 1000) : 1000;
		/* The device not there yet may come (its link, udev). */
		absent = !entry_dev(e, dev);
		if (absent) {
			ret = -ENOENT;
			err_msg("open-listed: %s: device %s%s is absent",
				e->name, e->device ? "" : "UUID=",
				e->device ? e->device : e->uuid);
		} else {
			ret = open_one(e, dev, tmo);
		}
		if (!ret || !retry || (!absent && !transient(ret)))
			return ret;
		if (timeout_s) {
			left = (time_t)timeout_s - (now_s() - start);
			if (left <= 0) {
				err_msg("open-listed: %s: still failing after "
					"%u s (timeout=%u): giving up",
					e->name, timeout_s, timeout_s);
				return ret;
			}
			if ((time_t)delay > left)
				delay = (unsigned int)left;
		}
		info_msg("%s: will try again in %u s", e->name, delay);
		sleep(delay);
		delay = delay * 2 > 60 ? 60 : delay * 2;
	}
}

int cmd_open_listed(int argc, char **argv)
{
	struct cmek_voltab vl;
	bool all = false, retry = false;
	const char *name = NULL;
	unsigned long timeout_s = 0;
	char dev[PATH_MAX], u[CMEK_UUID_STR_LEN], *end;
	int i, nd = 0, bad = 0;
	size_t k;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--all")) {
			all = true;
		} else if (!strcmp(argv[i], "--name") && i + 1 < argc) {
			name = argv[++i];
		} else if (!strcmp(argv[i], "--retry")) {
			retry = true;
		} else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			errno = 0;
			timeout_s = strtoul(argv[++i], &end, 10);
			if (errno || *end || !*argv[i] || timeout_s > 86400)
				return usage_error("open-listed", "--timeout: "
						   "expected seconds 0..86400");
		} else if (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "-q")) {
			quiet = true;
		} else if (argv[i][0] == '-') {
			return usage_error("open-listed", "unknown option '%s'",
					   argv[i]);
		} else {
			nd++;
		}
	}
	if ((int)all + (name != NULL) + (nd > 0) != 1)
		return usage_error("open-listed", "give --all, --name NAME or "
				   "devices");
	if ((retry || timeout_s) && !name)
		return usage_error("open-listed", "--retry and --timeout go "
				   "with --name");

	bad = cmek_voltab_load(&vl, cmek_voltab_path(), all || name, 0,
				report, NULL);
	if (bad < 0)
		return EXIT_ERR;
	if (name) {
		/* Another line's error is not this volume's. */
		bad = open_named(&vl, name, retry, (unsigned int)timeout_s) ?
			1 : 0;
		cmek_voltab_free(&vl);
		return bad ? EXIT_ERR : EXIT_OK;
	}

	if (all) {
		for (k = 0; k < vl.n; k++) {
			if (!entry_dev(&vl.v[k], dev)) {
				if (vl.v[k].nofail) {
					if (!quiet)
						info_msg("%s: device absent (nofail)",
							 vl.v[k].name);
					continue;
				}
				err_msg("open-listed: %s: device %s%s is absent",
					vl.v[k].name, vl.v[k].device ? "" : "UUID=",
					vl.v[k].device ? vl.v[k].device : vl.v[k].uuid);
				bad++;
				continue;
			}
			if (open_one(&vl.v[k], dev, DAEMON_TIMEOUT_MS))
				bad++;
		}
	}
	for (i = 1; i < argc; i++) {
		if (argv[i][0] == '-')
			continue;
		if (!realpath(argv[i], dev)) {
			err_msg("open-listed: %s: %s", argv[i], strerror(errno));
			bad++;
			continue;
		}
		dev_uuid(dev, u);
		for (k = 0; k < vl.n; k++) {
			const struct cmek_voltab_entry *e = &vl.v[k];

			if ((e->uuid[0] && !strcmp(e->uuid, u)) ||
			    (e->device && same_dev(e->device, dev)))
				break;
		}
		if (k == vl.n)
			continue;	/* not listed: not ours to open */
		if (open_one(&vl.v[k], dev, DAEMON_TIMEOUT_MS))
			bad++;
	}
	cmek_voltab_free(&vl);
	return bad ? EXIT_ERR : EXIT_OK;
}
