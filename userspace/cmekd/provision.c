// SPDX-License-Identifier: GPL-2.0
/*
 * First-boot provisioning: format= of /etc/cmek/volumes
 * (Documentation/admin-guide/cmek-host.rst, "Provisioning").
 *
 * "provision" formats a device only if it is blank (blank.h: no signature
 * libblkid knows, no cmek header copy, zeroes in its first MiB), checked
 * and formatted while cmekd holds the device open with O_EXCL, as
 * cryptsetup does: nothing can mount it, map it or mkfs it between the
 * check and the header write. Every refusal is audited.
 *
 * The file system is made by cmekctl on the opened mapping. That it is
 * still owed is the host's record, <trust_dir>/<uuid>.mkfs, written and
 * synced before the header: after a crash anywhere between the header
 * write and the end of mkfs the record is there, so the next open makes
 * the file system; once cmekctl reports it made (or found one there), the
 * record goes, and no later open runs mkfs on that volume again: whatever
 * its plaintext holds then is data. A device's own bytes never decide it:
 * whoever can write the disk must not be able to get mkfs run over data.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blank.h"
#include "cmekd.h"
#include "escape.h"
#include "ipc.h"
#include "log.h"
#include "secjson.h"

#define ERR(e, ...)	cmek_ipc_err((e), __VA_ARGS__)
#define MARK_MAX	4096

static void mark_path(const struct daemon *d, const char *uuid, char *out,
		      size_t len)
{
	snprintf(out, len, "%s/%s.mkfs", d->cfg.trust_dir, uuid);
}

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* <uuid>.mkfs, durable before the header is written: 0 or -errno. */
static int mark(struct daemon *d, const char *uuid, const char *name,
		const char *dev, const char *mkfs)
{
	struct json_object *o = json_object_new_object();
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	const char *s;
	int fd, ret = 0;

	json_object_object_add(o, "uuid", json_object_new_string(uuid));
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "device", json_object_new_string(dev));
	json_object_object_add(o, "mkfs", json_object_new_string(mkfs));
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
	mark_path(d, uuid, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s) ||
	    fsync(fd) < 0)
		ret = errno ? -errno : -EIO;
	if (fd >= 0)
		close(fd);
	if (!ret && rename(tmp, path) < 0)
		ret = -errno;
	if (!ret)
		ret = sync_dir(d->cfg.trust_dir);
	if (ret) {
		unlink(tmp);
		log_err("cannot record the pending mkfs of %s in %s: %s", uuid,
			d->cfg.trust_dir, strerror(-ret));
	}
	json_object_put(o);
	return ret;
}

static void unmark(struct daemon *d, const char *uuid)
{
	char path[PATH_MAX];

	mark_path(d, uuid, path, sizeof(path));
	if (unlink(path) < 0 && errno != ENOENT)
		log_err("cannot remove %s: %s", path, strerror(errno));
	sync_dir(d->cfg.trust_dir);
}

/* The file system <uuid>.mkfs says is owed, into @fs; "" if none. */
static void marked(struct daemon *d, const char *uuid, char *fs, size_t len)
{
	struct json_object *o;
	char path[PATH_MAX];
	const char *m;
	struct stat st;
	int fd;

	fs[0] = '\0';
	mark_path(d, uuid, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > MARK_MAX) {
		close(fd);
		return;
	}
	o = json_object_from_fd(fd);
	close(fd);
	m = cmek_json_str(o, "mkfs");
	if (m && (!strcmp(m, "ext4") || !strcmp(m, "xfs")))
		snprintf(fs, len, "%s", m);
	json_object_put(o);
}

/* Refused: audited, and the device untouched. */
static struct json_object *refuse(struct daemon *d, const char *dev,
				  const char *name, const char *prov,
				  const char *key, int err, const char *why)
{
	char n[CMEK_ESC_SIZE(CMEKD_NAME_MAX)];

	/* audit_q()'s buffer is one per thread: one call per line. */
	snprintf(n, sizeof(n), "%s", audit_q(name));
	audit_op(d, "provision", NULL, prov, key, NULL, -err,
		 "device=%s for=\"%s\" refused=\"%s\"", dev, n, audit_q(why));
	return ERR(err, "%s: not formatted: %s (provisioning formats only a "
		   "blank device; its data is untouched)", dev, why);
}

/*
 * The O_EXCL claim and the blank check: the fd to hold until the header is
 * written, or -1 with *@r the (audited) refusal.
 */
static int claim(struct daemon *d, const char *dev, const char *name,
		 const char *prov, const char *key, struct json_object **r)
{
	char what[256], why[320];
	struct stat st;
	int fd, ret;

	fd = open(dev, O_RDONLY | O_EXCL | O_CLOEXEC);
	if (fd < 0) {
		ret = errno;
		snprintf(why, sizeof(why), ret == EBUSY ? "it is in use "
			 "(mounted, mapped or opened exclusively)" : "%s",
			 strerror(ret));
		*r = refuse(d, dev, name, prov, key, ret, why);
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISBLK(st.st_mode)) {
		close(fd);
		*r = refuse(d, dev, name, prov, key, ENOTBLK,
			    "not a block device");
		return -1;
	}
	ret = cmek_dev_blank(fd, what, sizeof(what));
	if (ret) {
		close(fd);
		snprintf(why, sizeof(why), "it holds %s", what);
		*r = refuse(d, dev, name, prov, key,
			    ret == -EEXIST ? EEXIST : -ret,
			    ret == -EEXIST ? why : what);
		return -1;
	}
	return fd;
}

/*
 * {"op": "provision", "device", "name", "provider", "key", "uuid"?,
 * "mkfs"?, "sector_size"?}: format a blank device, for the line NAME.
 */
struct json_object *op_provision(struct json_object *req, void *ctx)
{
	struct daemon *d = ctx;
	const char *dev = cmek_json_str(req, "device");
	const char *name = cmek_json_str(req, "name");
	const char *prov = cmek_json_str(req, "provider");
	const char *key = cmek_json_str(req, "key");
	const char *want = cmek_json_str(req, "uuid");
	const char *mkfs = cmek_json_str(req, "mkfs");
	uint8_t uuid[CMEK_UUID_LEN];
	struct json_object *r = NULL;
	char u[CMEK_UUID_STR_LEN], msg[512], rec[PATH_MAX];
	int fd;

	if (!dev || dev[0] != '/' || strlen(dev) >= PATH_MAX || !name ||
	    !*name || strlen(name) >= CMEKD_NAME_MAX || !prov || !key)
		return ERR(EINVAL, "provision: give \"device\" (an absolute "
			   "path), \"name\", \"provider\" and \"key\"");
	if (mkfs && strcmp(mkfs, "ext4") && strcmp(mkfs, "xfs"))
		return ERR(EINVAL, "mkfs: ext4 or xfs");
	if (cmek_json_bool(req, "force", 0) || cmek_json_str(req, "header"))
		return ERR(EINVAL, "provision: no \"force\", no \"header\"");
	if (want && cmek_uuid_parse(want, uuid))
		return ERR(EINVAL, "uuid: malformed");
	if (!want)
		vol_new_uuid(uuid);
	cmek_uuid_unparse(uuid, u);
	/* A shredded volume's uuid stays refused (trust.c): not reused. */
	snprintf(rec, sizeof(rec), "%s/%s", d->cfg.trust_dir, u);
	if (!access(rec, F_OK))
		return refuse(d, dev, name, prov, key, EEXIST, "this host already "
			      "knows a volume with the pinned uuid (see "
			      "trust_dir)");
	/* The record of a pending mkfs must land where the host keeps it. */
	if (trust_ready(d, msg, sizeof(msg)))
		return ERR(EAGAIN, "%s", msg);
	fd = claim(d, dev, name, prov, key, &r);
	if (fd < 0)
		return r;
	if (mkfs && mark(d, u, name, dev, mkfs)) {
		close(fd);
		return ERR(EIO, "cannot record the pending mkfs in %s: not "
			   "formatted", d->cfg.trust_dir);
	}
	r = vol_format(d, req, uuid, true);
	if (mkfs && cmek_json_str(r, "error"))
		unmark(d, u);
	close(fd);
	return r;
}

/*
 * {"op": "provision_state", "name", "done"?, "present"?, "error"?}: the
 * file system owed to the open volume NAME ("mkfs": "ext4", or absent);
 * with "done", cmekctl made it ("present": found one already there), with
 * "error", mkfs failed (the record stays: the next open tries again).
 */
struct json_object *op_provision_state(struct json_object *req, void *ctx)
{
	struct daemon *d = ctx;
	const char *name = cmek_json_str(req, "name");
	const char *fail = cmek_json_str(req, "error");
	bool done = cmek_json_bool(req, "done", 0);
	bool present = cmek_json_bool(req, "present", 0);
	struct json_object *r;
	struct vol *v;
	char fs[8];

	if (!name)
		return ERR(EINVAL, "missing \"name\"");
	v = state_find_name(d, name);
	/*
	 * A mapping cmekd did not open (dmsetup, another host's tools) was
	 * not provisioned here: nothing is owed to it.
	 */
	if (!v && !done && !fail)
		return cmek_ipc_ok();
	if (!v)
		return ERR(ENOENT, "no open volume '%s'", name);
	marked(d, v->uuid, fs, sizeof(fs));
	if (fs[0] && done) {
		unmark(d, v->uuid);
		audit_op(d, "mkfs", v, NULL, NULL, NULL, 0, "fs=%s%s", fs,
			 present ? " found=already-made" : "");
	} else if (fs[0] && fail) {
		audit_op(d, "mkfs", v, NULL, NULL, NULL, -EIO,
			 "fs=%s error=\"%s\"", fs, audit_q(fail));
	}
	r = cmek_ipc_ok();
	if (fs[0] && !done)
		json_object_object_add(r, "mkfs", json_object_new_string(fs));
	return r;
}
