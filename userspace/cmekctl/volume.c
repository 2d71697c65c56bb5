// SPDX-License-Identifier: GPL-2.0
/*
 * cmekctl volume commands that go through cmekd: format, open, close,
 * shred, rewrap, check, ping; and revoke, which revokes in the kernel
 * first, shuts down the mounted file system, and only then tells cmekd.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "cmekctl.h"
#include "daemon.h"
#include "escape.h"
#include "fs_shutdown.h"
#include "voltab.h"

/*
 * cmekd is told after the kernel revoke, for its record only, so a cmekd
 * stuck in a KMS call must not hold the command up: the request stays in
 * its socket, and the kernel's KEY_REVOKED event tells it as well.
 */
#define REVOKE_DAEMON_TIMEOUT_MS	100

/* Parse options common to volume commands; returns -1 on usage error. */
struct vopts {
	const char *provider, *key, *header;
	int64_t sector_size, data_offset;
	bool force, yes, all, json, keep_fs;
};

enum { O_PROVIDER = 'p', O_KEY = 'k', O_HEADER = 'H', O_SECTOR = 's',
       O_OFFSET = 'o', O_FORCE = 'f', O_YES = 'y', O_ALL = 'a',
       O_JSON = 'j', O_KEEP_FS = 'K', O_HELP = 'h' };

static int parse_num(const char *s, int64_t *v)
{
	char *end;
	long long x;

	errno = 0;
	x = strtoll(s, &end, 0);
	if (errno || end == s || x < 0)
		return -1;
	/* K/M/G suffixes (binary) for offsets. */
	if (*end == 'K' || *end == 'k')
		x <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		x <<= 20, end++;
	else if (*end == 'G' || *end == 'g')
		x <<= 30, end++;
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	if (*end)
		return -1;
	*v = x;
	return 0;
}

/*
 * @allowed: the option letters this command takes. Returns the number of
 * positional arguments (moved to argv[optind..]) or -1/-2 (usage / help).
 */
static int vparse(const char *cmd, int argc, char **argv, const char *allowed,
		  struct vopts *o)
{
	static const struct option opts[] = {
		{ "provider", required_argument, NULL, O_PROVIDER },
		{ "key", required_argument, NULL, O_KEY },
		{ "header", required_argument, NULL, O_HEADER },
		{ "sector-size", required_argument, NULL, O_SECTOR },
		{ "data-offset", required_argument, NULL, O_OFFSET },
		{ "force", no_argument, NULL, O_FORCE },
		{ "yes", no_argument, NULL, O_YES },
		{ "all", no_argument, NULL, O_ALL },
		{ "json", no_argument, NULL, O_JSON },
		{ "keep-fs", no_argument, NULL, O_KEEP_FS },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	int c, idx;

	memset(o, 0, sizeof(*o));
	o->sector_size = -1;
	o->data_offset = -1;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, &idx)) != -1) {
		if (c == O_HELP) {
			print_cmd_usage(cmd, 1);
			return -2;
		}
		if (c == '?' || c == ':' || !strchr(allowed, c)) {
			usage_error(cmd, "unknown option or missing argument "
				    "(%s)", optind > 0 && optind <= argc ?
				    argv[optind - 1] : "?");
			return -1;
		}
		switch (c) {
		case O_PROVIDER: o->provider = optarg; break;
		case O_KEY: o->key = optarg; break;
		case O_HEADER: o->header = optarg; break;
		case O_SECTOR:
			if (parse_num(optarg, &o->sector_size) < 0) {
				usage_error(cmd, "invalid --sector-size '%s'",
					    optarg);
				return -1;
			}
			break;
		case O_OFFSET:
			if (parse_num(optarg, &o->data_offset) < 0) {
				usage_error(cmd, "invalid --data-offset '%s'",
					    optarg);
				return -1;
			}
			break;
		case O_FORCE: o->force = true; break;
		case O_YES: o->yes = true; break;
		case O_ALL: o->all = true; break;
		case O_JSON: o->json = true; break;
		case O_KEEP_FS: o->keep_fs = true; break;
		}
	}
	return argc - optind;
}

/* Permute options anywhere: re-run getopt without '+' semantics. */
#define VPARSE(cmd, allowed, o) \
	vparse_any(cmd, argc, argv, allowed, o)

static int vparse_any(const char *cmd, int argc, char **argv,
		      const char *allowed, struct vopts *o)
{
	/* Move positionals after options ourselves: GNU getopt with a
	 * leading '+' stops at the first non-option, so collect them. */
	char *pos[16], *opt[32];
	int np = 0, no = 0, i, n;

	opt[no++] = argv[0];
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			for (i++; i < argc && np < 16; i++)
				pos[np++] = argv[i];
			break;
		}
		if (argv[i][0] == '-' && argv[i][1]) {
			if (no >= 31)
				return usage_error(cmd, "too many options"), -1;
			opt[no++] = argv[i];
			/* options with a separate argument */
			if (argv[i][1] == '-' && !strchr(argv[i], '=') &&
			    (!strcmp(argv[i], "--provider") ||
			     !strcmp(argv[i], "--key") ||
			     !strcmp(argv[i], "--header") ||
			     !strcmp(argv[i], "--sector-size") ||
			     !strcmp(argv[i], "--data-offset")) &&
			    i + 1 < argc)
				opt[no++] = argv[++i];
			continue;
		}
		if (np >= 16)
			return usage_error(cmd, "too many arguments"), -1;
		pos[np++] = argv[i];
	}
	n = vparse(cmd, no, opt, allowed, o);
	if (n < 0)
		return n;
	if (n > 0) {
		usage_error(cmd, "unexpected argument '%s'", opt[optind]);
		return -1;
	}
	/* Positionals land in argv[1..np]. */
	for (i = 0; i < np; i++)
		argv[1 + i] = pos[i];
	optind = 1;
	return np;
}

static int vexit(int n)
{
	return n == -2 ? EXIT_OK : EXIT_USAGE;
}

/* Absolute path for the daemon, whose cwd is not ours. */
static char *abspath(const char *p, char *buf)
{
	if (realpath(p, buf))
		return buf;
	snprintf(buf, PATH_MAX, "%s", p);
	return buf;
}

/*
 * A header file's absolute path with its last component left alone: cmekd
 * refuses a header that is a symbolic link, and resolving it here would
 * follow the link before cmekd could see it.
 */
static char *hdrpath(const char *p, char *buf)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(p, '/');
	const char *base = slash ? slash + 1 : p;

	if (slash == p)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s",
			 slash ? (int)(slash - p) : 1, slash ? p : ".");
	if (*base && realpath(dir, buf) &&
	    strlen(buf) + 1 + strlen(base) < PATH_MAX) {
		if (strcmp(buf, "/"))
			strcat(buf, "/");
		strcat(buf, base);
		return buf;
	}
	snprintf(buf, PATH_MAX, "%s", p);
	return buf;
}

int cmd_format(int argc, char **argv)
{
	struct json_object *req, *reply = NULL;
	char dev[PATH_MAX], hdr[PATH_MAX];
	struct vopts o;
	int n = VPARSE("format", "pkHsof", &o);

	if (n < 0)
		return vexit(n);
	if (n != 1)
		return usage_error("format", "give one device");
	if (!o.provider)
		o.provider = "local";
	if (!o.key)
		return usage_error("format", "missing --key KEYREF (for the "
				   "local provider: a KEK name from "
				   "'cmekctl kek list')");
	if (o.sector_size >= 0 &&
	    (o.sector_size < 512 || o.sector_size > 4096 ||
	     (o.sector_size & (o.sector_size - 1))))
		return usage_error("format", "--sector-size must be 512, 1024, "
				   "2048 or 4096");
	req = daemon_req("format");
	jadd_str(req, "device", abspath(argv[1], dev));
	if (o.header)
		jadd_str(req, "header", hdrpath(o.header, hdr));
	jadd_str(req, "provider", o.provider);
	jadd_str(req, "key", o.key);
	if (o.sector_size >= 0)
		json_object_object_add(req, "sector_size",
				       json_object_new_int64(o.sector_size));
	if (o.data_offset >= 0)
		json_object_object_add(req, "data_offset",
				       json_object_new_int64(o.data_offset));
	if (o.force)
		json_object_object_add(req, "force",
				       json_object_new_boolean(1));
	n = daemon_call(req, &reply, 0);
	if (!n) {
		const char *u = jget_str(reply, "uuid");

		info_msg("formatted %s: volume %s, key %s:%s", dev,
			 u ? u : "(uuid not reported)", o.provider, o.key);
	}
	json_object_put(req);
	json_object_put(reply);
	return n ? EXIT_ERR : EXIT_OK;
}

int cmd_open(int argc, char **argv)
{
	struct json_object *req, *reply = NULL;
	char dev[PATH_MAX], hdr[PATH_MAX];
	struct vopts o;
	int n = VPARSE("open", "H", &o);

	if (n < 0)
		return vexit(n);
	if (n != 2)
		return usage_error("open", "give the device and a name");
	if (strchr(argv[2], '/') || strlen(argv[2]) >= CMEK_DM_NAME_MAX)
		return usage_error("open", "invalid name '%s': a device-mapper "
				   "name, without '/'", argv[2]);
	req = daemon_req("open");
	jadd_str(req, "device", abspath(argv[1], dev));
	jadd_str(req, "name", argv[2]);
	if (o.header)
		jadd_str(req, "header", hdrpath(o.header, hdr));
	n = daemon_call(req, &reply, 0);
	if (!n) {
		const char *path = jget_str(reply, "path");
		const char *u = jget_str(reply, "uuid");
		char def[256];

		snprintf(def, sizeof(def), "/dev/mapper/%s", argv[2]);
		info_msg("opened %s as %s%s%s", dev, path ? path : def,
			 u ? ", volume " : "", u ? u : "");
	}
	json_object_put(req);
	json_object_put(reply);
	return n ? EXIT_ERR : EXIT_OK;
}

/* Commands that take exactly NAME and send {"op", "name"}. */
static int simple_name_op(const char *cmd, const char *op, int argc,
			  char **argv, const char *done_fmt)
{
	struct json_object *req, *reply = NULL;
	struct vopts o;
	int n = vparse_any(cmd, argc, argv, "", &o);

	if (n < 0)
		return vexit(n);
	if (n != 1)
		return usage_error(cmd, "give one volume name");
	req = daemon_req(op);
	jadd_str(req, "name", argv[1]);
	n = daemon_call(req, &reply, 0);
	if (!n)
		info_msg(done_fmt, argv[1]);
	json_object_put(req);
	json_object_put(reply);
	return n ? EXIT_ERR : EXIT_OK;
}

int cmd_close(int argc, char **argv)
{
	return simple_name_op("close", "close", argc, argv, "closed %s");
}

/*
 * rewrap and rekey-kek are one cmekd request: rekey-kek is the name
 * operators look for when they move a volume to another KMS key, and it
 * insists on being told which.
 */
static int rewrap(const char *cmd, bool need_key, int argc, char **argv)
{
	struct json_object *req, *reply = NULL;
	struct vopts o;
	int n = VPARSE(cmd, "pk", &o);

	if (n < 0)
		return vexit(n);
	if (n != 1)
		return usage_error(cmd, "give one volume name");
	if (need_key && !o.key)
		return usage_error(cmd, "give the new KMS key with --key "
				   "(and --provider to change provider)");
	req = daemon_req("rewrap");
	jadd_str(req, "name", argv[1]);
	jadd_str(req, "provider", o.provider);
	jadd_str(req, "key", o.key);
	n = daemon_call(req, &reply, 0);
	if (!n) {
		struct json_object *sl = json_object_object_get(reply, "slots");

		info_msg("%s: key slots rewrapped under %s:%s%s%s", argv[1],
			 jget_str(reply, "provider") ?: o.provider ?: "?",
			 jget_str(reply, "key") ?: o.key ?: "?",
			 sl ? ", slots " : "",
			 sl ? json_object_to_json_string_ext(sl,
				JSON_C_TO_STRING_PLAIN) : "");
	}
	json_object_put(req);
	json_object_put(reply);
	return n ? EXIT_ERR : EXIT_OK;
}

int cmd_rewrap(int argc, char **argv)
{
	return rewrap("rewrap", false, argc, argv);
}

int cmd_rekey_kek(int argc, char **argv)
{
	return rewrap("rekey-kek", true, argc, argv);
}

int cmd_ping(int argc, char **argv)
{
	struct json_object *req, *reply = NULL;
	int n;

	if (argc > 1)
		return usage_error("ping", "takes no arguments");
	req = daemon_req("ping");
	n = daemon_call(req, &reply, 0);
	if (!n)
		info_msg("cmekd is running (%s)", daemon_socket());
	json_object_put(req);
	json_object_put(reply);
	return n ? EXIT_ERR : EXIT_OK;
}

int cmd_check(int argc, char **argv)
{
	struct json_object *req, *reply = NULL;
	struct vopts o;
	int n = VPARSE("check", "j", &o);

	if (n < 0)
		return vexit(n);
	if (n > 1)
		return usage_error("check", "give at most one volume name");
	req = daemon_req("check");
	if (n == 1)
		jadd_str(req, "name", argv[1]);
	n = daemon_call(req, &reply, 0);
	if (!n) {
		if (o.json) {
			json_print(reply);
		} else {
			struct json_object *vols, *v;
			size_t i;

			if (json_object_object_get_ex(reply, "volumes", &vols) &&
			    json_object_is_type(vols, json_type_array)) {
				for (i = 0; i < json_object_array_length(vols); i++) {
					const char *s;

					v = json_object_array_get_idx(vols, i);
					s = jget_str(v, "kms_state");
					printf("%-16s %-10s %s\n",
					       jget_str(v, "name") ?: "-",
					       jget_str(v, "state") ?: "-",
					       s ? s : "");
				}
			} else {
				info_msg("check done");
			}
		}
	}
	json_object_put(req);
	json_object_put(reply);
	return n ? EXIT_ERR : EXIT_OK;
}

/* @name's mapping, or -1 with the reason printed. */
static int revoke_lookup(const char *name, struct dm_cmek_dev *d,
			 uint8_t uuid[CMEK_UUID_LEN])
{
	int ret = dm_cmek_lookup(name, d);

	if (ret == -ENOENT)
		err_msg("revoke: no device-mapper device '%s' (see 'cmekctl "
			"list')", name);
	else if (ret == -EINVAL)
		err_msg("revoke: '%s' is not a cmek mapping", name);
	else if (ret == -ENODEV)
		err_msg("revoke: device-mapper is not available in this "
			"kernel: run modprobe dm-mod");
	else if (ret == -EPERM || ret == -EACCES)
		err_msg("revoke: permission denied: device-mapper needs root");
	else if (ret)
		err_msg("revoke: cannot read the table of '%s': %s", name,
			strerror(-ret));
	else if (cmek_uuid_parse(d->uuid, uuid))
		err_msg("revoke: '%s' has a malformed volume uuid in its "
			"table", name);
	else
		return 0;
	return -1;
}

/*
 * The kernel first: CMEK_CMD_REVOKE_KEY returns only once the key is
 * wiped. A key already gone (ENOKEY) counts as revoked.
 */
static int revoke_kernel(const struct dm_cmek_dev *d,
			 const uint8_t uuid[CMEK_UUID_LEN])
{
	struct cmek_nl *nl;
	int ret;

	if (nl_open_or_explain(&nl))
		return -1;
	ret = cmek_nl_revoke(nl, d ? uuid : NULL, d ? 0 : CMEK_REVOKE_F_ALL);
	if (ret == -ENOKEY && d)
		info_msg("%s: no key present in the kernel (already revoked)",
			 d->name);
	else if (ret == -ENOKEY || (!ret && !d))
		info_msg("all keys revoked and wiped from the kernel");
	else if (!ret)
		info_msg("%s: key revoked and wiped from the kernel "
			 "(volume %s)", d->name, d->uuid);
	else
		nl_explain("revoke", nl, ret, d ? d->uuid : "(all)");
	cmek_nl_close(nl);
	return ret && ret != -ENOKEY ? -1 : 0;
}

/*
 * Then the file system mounted on the mapping: shut down unless kept
 * (--keep-fs, or keepfs on its line of /etc/cmek/volumes); say what
 * happened and who still has its files mmapped.
 */
static void revoke_fs(const struct dm_cmek_dev *d, bool keep,
		      const struct cmek_voltab *vl)
{
	const struct cmek_voltab_entry *e = cmek_voltab_find(vl, d->name);
	struct cmek_fs_result r;
	char mp[512], who[CMEK_FS_HOLDERS_MAX * CMEK_FS_HOLDER_LEN + 32];
	char ns[48] = "";

	keep |= e && e->keepfs;
	cmek_fs_revoke(makedev(d->major, d->minor), keep ? CMEK_FS_KEEP : 0,
		       &r);
	cmek_printable(r.mount_point, mp, sizeof(mp));
	if (r.ns_pid)
		snprintf(ns, sizeof(ns), " (mount namespace of pid %d)",
			 (int)r.ns_pid);
	switch (r.state) {
	case CMEK_FS_NOT_MOUNTED:
		info_msg("%s: no file system mounted", d->name);
		break;
	case CMEK_FS_FAILED:
		err_msg("revoke: %s: %s on %s%s: %s; unmount it (umount -l) "
			"to drop what it caches", d->name, r.fstype, mp, ns,
			r.why);
		break;
	case CMEK_FS_KEPT:
		info_msg("%s: %s on %s%s %s%s%s%s", d->name, r.fstype, mp, ns,
			 r.why, e && e->keepfs ? " (keepfs in " : "",
			 e && e->keepfs ? cmek_voltab_path() : "",
			 e && e->keepfs ? ")" : "");
		break;
	default:
		info_msg("%s: %s on %s%s %s%s", d->name, r.fstype, mp, ns,
			 r.why, r.caches_dropped ? "; clean caches dropped" :
			 "; clean caches NOT dropped");
		break;
	}
	if (r.nholders) {
		cmek_fs_holders_str(&r, who, sizeof(who));
		info_msg("%s: files mmapped by %s: their mapped pages stay "
			 "readable to them until they exit", d->name, who);
	}
}

/*
 * Last, tell cmekd, for its state (no key pushed again on key-needed
 * events) and its audit line. The key is already gone: a cmekd that is
 * down or slow gets a warning, never a failure. It also learns of the
 * revoke from the kernel's KEY_REVOKED event (or when it starts).
 */
static void revoke_tell_daemon(const char *name, bool keep_fs)
{
	struct json_object *req, *reply = NULL;
	const char *e;
	int n;

	req = daemon_req("revoke");
	if (name)
		jadd_str(req, "name", name);
	else
		json_object_object_add(req, "all", json_object_new_boolean(1));
	json_object_object_add(req, "keep_fs",
			       json_object_new_boolean(keep_fs));
	n = daemon_call_timeout(req, &reply, DC_QUIET_ALL,
				REVOKE_DAEMON_TIMEOUT_MS);
	json_object_put(req);
	e = jget_str(reply, "error");
	if (!n)
		info_msg("cmekd recorded the revoke");
	else if (n == -ECONNREFUSED)
		err_msg("warning: cmekd is not running: the key is revoked in "
			"the kernel; cmekd records it when it starts");
	else if (n == -ETIMEDOUT)
		info_msg("cmekd has not confirmed within %d ms: it records the "
			 "revoke when it gets to this request or the kernel's "
			 "event", REVOKE_DAEMON_TIMEOUT_MS);
	else
		err_msg("warning: cmekd: %s: the key is revoked in the kernel",
			e ? e : strerror(-n));
	json_object_put(reply);
}

int cmd_revoke(int argc, char **argv)
{
	struct dm_cmek_dev d, *all = NULL;
	struct cmek_voltab vl;
	uint8_t uuid[CMEK_UUID_LEN] = { 0 };
	struct vopts o;
	size_t i, nall = 0;
	int n = VPARSE("revoke", "aK", &o);

	if (n < 0)
		return vexit(n);
	if (o.all ? n != 0 : n != 1)
		return usage_error("revoke", "give one volume name or --all");
	if (!o.all && revoke_lookup(argv[1], &d, uuid))
		return EXIT_ERR;
	if (revoke_kernel(o.all ? NULL : &d, uuid))
		return EXIT_ERR;
	cmek_voltab_load(&vl, cmek_voltab_path(), false, 0, NULL, NULL);
	if (!o.all) {
		revoke_fs(&d, o.keep_fs, &vl);
	} else if (!(n = dm_cmek_list(&all, &nall))) {
		for (i = 0; i < nall; i++)
			revoke_fs(&all[i], o.keep_fs, &vl);
	} else {
		err_msg("revoke: cannot list the cmek mappings for their file "
			"systems: %s", strerror(-n));
	}
	free(all);
	cmek_voltab_free(&vl);
	revoke_tell_daemon(o.all ? NULL : argv[1], o.keep_fs);
	return EXIT_OK;
}

int cmd_shred(int argc, char **argv)
{
	struct json_object *req, *reply = NULL;
	char prompt[256];
	struct vopts o;
	int n = VPARSE("shred", "y", &o);

	if (n < 0)
		return vexit(n);
	if (n != 1)
		return usage_error("shred", "give one volume name");
	if (!o.yes) {
		snprintf(prompt, sizeof(prompt),
			 "Shred %s? Its key is revoked and every wrapped copy "
			 "destroyed: the data can never be read again.",
			 argv[1]);
		if (!confirm(prompt)) {
			err_msg("shred: not confirmed, nothing done (pass "
				"--yes to skip the question)");
			return EXIT_ERR;
		}
	}
	req = daemon_req("shred");
	jadd_str(req, "name", argv[1]);
	n = daemon_call(req, &reply, 0);
	if (!n)
		info_msg("%s: shredded: key revoked, every key slot "
			 "overwritten%s", argv[1],
			 json_object_get_boolean(json_object_object_get(reply,
				"mapping_removed")) ? ", mapping removed" : "");
	json_object_put(req);
	json_object_put(reply);
	return n ? EXIT_ERR : EXIT_OK;
}

static int slot_add(int argc, char **argv)
{
	struct json_object *req, *reply = NULL;
	char dev[PATH_MAX], hdr[PATH_MAX];
	struct vopts o;
	int n = VPARSE("slot", "pkHj", &o);

	if (n < 0)
		return vexit(n);
	if (n != 1)
		return usage_error("slot", "add: give one device");
	if (!o.key)
		return usage_error("slot", "add: missing --key KEYREF (the KMS "
				   "key to wrap the data key under; for the "
				   "local provider a KEK name)");
	req = daemon_req("slot_add");
	jadd_str(req, "device", abspath(argv[1], dev));
	if (o.header)
		jadd_str(req, "header", hdrpath(o.header, hdr));
	jadd_str(req, "provider", o.provider ? o.provider : "local");
	jadd_str(req, "key", o.key);
	n = daemon_call(req, &reply, 0);
	if (!n && o.json)
		json_print(reply);
	else if (!n)
		info_msg("%s: added key slot %s (%s:%s), data key unwrapped "
			 "from slot %s; %s active slots", dev,
			 jget_str(reply, "slot") ?: "?",
			 o.provider ? o.provider : "local", o.key,
			 jget_str(reply, "from_slot") ?: "?",
			 jget_str(reply, "active_slots") ?: "?");
	json_object_put(req);
	json_object_put(reply);
	return n ? EXIT_ERR : EXIT_OK;
}

static int slot_remove(int argc, char **argv)
{
	struct json_object *req, *reply = NULL;
	char dev[PATH_MAX], hdr[PATH_MAX], *end;
	struct vopts o;
	long idx;
	int n = VPARSE("slot", "Hj", &o);

	if (n < 0)
		return vexit(n);
	if (n != 2)
		return usage_error("slot", "remove: give the device and a slot "
				   "number");
	errno = 0;
	idx = strtol(argv[2], &end, 10);
	if (errno || end == argv[2] || *end || idx < 0 || idx > 7)
		return usage_error("slot", "remove: invalid slot '%s': a slot "
				   "number from 0 to 7 (see 'cmekctl slot "
				   "list %s')", argv[2], argv[1]);
	req = daemon_req("slot_remove");
	jadd_str(req, "device", abspath(argv[1], dev));
	if (o.header)
		jadd_str(req, "header", hdrpath(o.header, hdr));
	json_object_object_add(req, "slot", json_object_new_int((int)idx));
	n = daemon_call(req, &reply, 0);
	if (!n && o.json)
		json_print(reply);
	else if (!n)
		info_msg("%s: key slot %ld removed, its wrapped key overwritten "
			 "in both header copies; %s active slot(s) left", dev,
			 idx, jget_str(reply, "active_slots") ?: "?");
	json_object_put(req);
	json_object_put(reply);
	return n ? EXIT_ERR : EXIT_OK;
}

int cmd_upgrade(int argc, char **argv)
{
	struct json_object *req, *reply = NULL;
	char dev[PATH_MAX], hdr[PATH_MAX];
	struct vopts o;
	int n = VPARSE("upgrade", "Hj", &o);

	if (n < 0)
		return vexit(n);
	if (n != 1)
		return usage_error("upgrade", "give one device");
	req = daemon_req("upgrade");
	jadd_str(req, "device", abspath(argv[1], dev));
	if (o.header)
		jadd_str(req, "header", abspath(o.header, hdr));
	n = daemon_call(req, &reply, 0);
	if (!n && o.json)
		json_print(reply);
	else if (!n)
		info_msg("%s: header version %s -> %s (sequence %s)", dev,
			 jget_str(reply, "from_version") ?: "?",
			 jget_str(reply, "version") ?: "?",
			 jget_str(reply, "seq") ?: "?");
	json_object_put(req);
	json_object_put(reply);
	return n ? EXIT_ERR : EXIT_OK;
}

int cmd_slot(int argc, char **argv)
{
	if (argc < 2)
		return usage_error("slot", "give add, remove or list");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		print_cmd_usage("slot", 1);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "add"))
		return slot_add(argc - 1, argv + 1);
	if (!strcmp(argv[1], "remove"))
		return slot_remove(argc - 1, argv + 1);
	if (!strcmp(argv[1], "list"))
		return cmd_slot_list(argc - 1, argv + 1);
	return usage_error("slot", "unknown subcommand '%s': add, remove or "
			   "list", argv[1]);
}
