// SPDX-License-Identifier: GPL-2.0
/*
 * The operations of the control socket: format, open, close, revoke, shred,
 * rewrap, status, list, check, ping; and the two key paths the event loop
 * and the watch use (push a key, revoke a key).
 *
 * Key hygiene: a DEK exists in plaintext only in a locked secmem buffer
 * (locked, not dumpable), from the provider's unwrap until the netlink push
 * returns, then it is wiped. It is never logged or sent over the socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>
#include <openssl/crypto.h>

#include "cmekd.h"
#include "ipc.h"
#include "log.h"
#include "secmem.h"
#include "header.h"
#include "voltab.h"

#define ERR(e, ...)	cmek_ipc_err((e), __VA_ARGS__)

struct json_object *op_ping(struct json_object *req, void *ctx)
{
	struct daemon *d = ctx;
	struct json_object *r = cmek_ipc_ok();

	json_object_object_add(r, "version",
			       json_object_new_string(CMEKD_VERSION));
	json_object_object_add(r, "protocol",
			       json_object_new_int(CMEK_IPC_VERSION));
	json_object_object_add(r, "pid", json_object_new_int(getpid()));
	json_object_object_add(r, "volumes",
			       json_object_new_int((int)d->nvols));
	json_object_object_add(r, "kernel",
			       json_object_new_boolean(d->nl != NULL));
	json_object_object_add(r, "slot_policy", json_object_new_string(
		cmek_slot_policy_name(d->cfg.slot_policy)));
	return r;
}

static bool valid_name(const char *n)
{
	size_t i;

	if (!n || !*n || strlen(n) >= CMEKD_NAME_MAX || !strcmp(n, ".") ||
	    !strcmp(n, ".."))
		return false;
	for (i = 0; n[i]; i++)
		if (n[i] == '/' || (unsigned char)n[i] < 0x21 ||
		    (unsigned char)n[i] > 0x7e)
			return false;
	return true;
}

/* @p must be an absolute path to an existing block device or file. */
static struct json_object *check_path(const char *what, const char *p,
				      bool must_exist)
{
	struct stat st;

	if (!p || !*p)
		return ERR(EINVAL, "missing \"%s\"", what);
	if (p[0] != '/')
		return ERR(EINVAL, "%s '%s' must be an absolute path", what, p);
	if (strlen(p) >= PATH_MAX)
		return ERR(ENAMETOOLONG, "%s path too long", what);
	if (must_exist && stat(p, &st) < 0)
		return ERR(errno, "%s %s: %s", what, p, strerror(errno));
	if (must_exist && !S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode))
		return ERR(EINVAL, "%s %s is neither a block device nor a "
			   "regular file", what, p);
	return NULL;
}

static int device_size(const char *dev, uint64_t *bytes)
{
	struct stat st;
	int fd, ret = 0;

	fd = open(dev, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		ret = -errno;
	else if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, bytes) < 0)
			ret = -errno;
	} else {
		*bytes = (uint64_t)st.st_size;
	}
	close(fd);
	return ret;
}


static struct vol *vol_by_device(struct daemon *d, const char *dev)
{
	size_t i;

	for (i = 0; i < d->nvols; i++)
		if (!strcmp(d->vols[i]->device, dev))
			return d->vols[i];
	return NULL;
}

struct json_object *op_format(struct json_object *req, void *ctx)
{
	return vol_format(ctx, req, NULL, false);
}

/*
 * @uuid: the new volume's, or NULL for a random one. @blank_checked:
 * provisioning (provision.c) holds the device exclusively and found it
 * blank, which is more than the checks --force skips.
 */
struct json_object *vol_format(struct daemon *d, struct json_object *req,
			       const uint8_t *uuid, bool blank_checked)
{
	const char *dev = cmek_json_str(req, "device");
	const char *hdrf = cmek_json_str(req, "header");
	const char *prov = cmek_json_str(req, "provider");
	const char *key = cmek_json_str(req, "key");
	bool force = cmek_json_bool(req, "force", 0);
	long long ss = 512, off = -1;
	struct cmek_error err = { 0 };
	struct cmek_binding b;
	struct hdr_info h, old;
	struct cmek_provider *p;
	struct json_object *r;
	uint8_t *dek, *mac_key, *wrapped = NULL;
	size_t wrapped_len = 0;
	uint64_t size;
	char msg[512], what[256];
	struct vol *busy;
	int ret;

	if ((r = check_path("device", dev, true)))
		return r;
	if (hdrf && (r = check_path("header", hdrf, false)))
		return r;
	if (!prov || !*prov)
		prov = "local";
	if (!key || !*key)
		return ERR(EINVAL, "missing \"key\": the KMS key reference "
			   "(for the local provider a KEK name)");
	if (strlen(key) >= CMEK_VOL_KEYREF_MAX || strlen(prov) >= CMEK_VOL_PROVIDER_MAX)
		return ERR(ENAMETOOLONG, "provider or key reference too long");
	ret = cmek_json_int64(req, "sector_size", &ss);
	if (ret == -EINVAL || ss < 512 || ss > 4096 || (ss & (ss - 1)))
		return ERR(EINVAL, "sector_size must be 512, 1024, 2048 or 4096");
	ret = cmek_json_int64(req, "data_offset", &off);
	if (ret == -EINVAL || (ret == 0 && (off < 0 || off % 4096)))
		return ERR(EINVAL, "data_offset must be a number of bytes, a "
			   "multiple of 4096");
	busy = vol_by_device(d, dev);
	if (busy)
		return ERR(EBUSY, "%s is open as %s: close it first", dev,
			   busy->name);
	if (!force && !blank_checked) {
		if (!hdr_read(dev, hdrf, &old, msg, sizeof(msg))) {
			r = ERR(EEXIST, "%s already holds cmek volume %s: "
				"formatting destroys it; add --force to do so",
				hdrf ? hdrf : dev, old.uuid);
			hdr_info_free(&old);
			return r;
		}
		if (hdr_probe(dev, what, sizeof(what)) > 0)
			return ERR(EEXIST, "%s holds %s: formatting destroys it; "
				   "add --force to do so", dev, what);
	}
	ret = device_size(dev, &size);
	if (ret)
		return ERR(-ret, "cannot size %s: %s", dev, strerror(-ret));

	p = cmek_config_provider(&d->cfg, prov, &err);
	if (!p)
		return ERR(ENOPROTOOPT, "%s", err.msg);
	if (cmek_config_key_trusted(&d->cfg, prov, key, &err))
		return ERR(EPERM, "%s", err.msg);

	memset(&h, 0, sizeof(h));
	if (uuid)
		memcpy(h.uuid_bin, uuid, CMEK_UUID_LEN);
	else
		vol_new_uuid(h.uuid_bin);
	cmek_uuid_unparse(h.uuid_bin, h.uuid);
	h.sector_size = (unsigned int)ss;
	h.data_offset = off >= 0 ? (uint64_t)off : (uint64_t)-1;
	h.key_size = CMEK_KEY_SIZE_256;
	snprintf(b.volume_uuid, sizeof(b.volume_uuid), "%s", h.uuid);

	dek = cmek_secmem_alloc_locked(DEK_BUF_LEN);
	mac_key = cmek_secmem_alloc_locked(DEK_BUF_LEN);
	if (!dek || !mac_key) {
		cmek_secmem_free(dek);
		cmek_secmem_free(mac_key);
		return ERR(ENOMEM, "cannot allocate locked memory");
	}
	ret = kms_generate(d, p, key, &b, dek, h.key_size, &wrapped,
			   &wrapped_len, &err);
	if (!ret && cmek_vol_mac_key(h.uuid_bin, dek, h.key_size, mac_key))
		ret = cmek_error_set(&err, CMEK_ERR_INVALID,
				     "cannot derive the header MAC key");
	busy = ret ? NULL : vol_by_device(d, dev);
	if (busy || ret) {
		cmek_secmem_free(dek);
		cmek_secmem_free(mac_key);
		free(wrapped);
	}
	if (busy)
		return ERR(EBUSY, "%s was opened as %s while the KMS answered: "
			   "close it first", dev, busy->name);
	if (ret) {
		audit_op(d, "format", NULL, prov, key, h.uuid, -EIO,
			 "device=%s error=\"%s\"", dev, audit_q(err.msg));
		return ERR(vol_cls_errno(err.cls), "%s: cannot make a data key "
			   "under %s: %s",
			   prov, key, err.msg);
	}
	h.nslots = 1;
	h.slots[0].index = 0;
	snprintf(h.slots[0].provider, sizeof(h.slots[0].provider), "%s", prov);
	snprintf(h.slots[0].key_ref, sizeof(h.slots[0].key_ref), "%s", key);
	h.slots[0].wrapped = wrapped;
	h.slots[0].wrapped_len = wrapped_len;
	ret = hdr_format(dev, hdrf, &h, mac_key, force, msg, sizeof(msg));
	if (!ret)
		trust_record(d, h.uuid_bin, dek, h.key_size, 1);
	cmek_secmem_free(dek);
	cmek_secmem_free(mac_key);
	hdr_info_free(&h);
	audit_op(d, "format", NULL, prov, key, h.uuid, ret,
		 "device=%s%s%s sector_size=%lld%s%s", dev,
		 hdrf ? " header=" : "", hdrf ? hdrf : "", ss,
		 ret ? " error=" : "", ret ? msg : "");
	if (ret)
		return ERR(-ret, "%s", msg);
	r = cmek_ipc_ok();
	json_object_object_add(r, "uuid", json_object_new_string(h.uuid));
	json_object_object_add(r, "device", json_object_new_string(dev));
	if (hdrf)
		json_object_object_add(r, "header",
				       json_object_new_string(hdrf));
	return r;
}

/* ---- open / close ------------------------------------------------------ */

static void table_params(struct daemon *d, const struct hdr_info *h,
			 const char *dev, struct json_object *req,
			 char *out, size_t len)
{
	struct cmek_dm_table t = {
		.uuid = h->uuid,
		.device = dev,
		.offset = h->data_offset / 512,
		.sector_size = h->sector_size,
		.iv_large_sectors = h->iv_large_sectors,
		.iv_offset = h->iv_offset,
		.allow_discards = cmek_json_bool(req, "allow_discards",
						 d->cfg.allow_discards),
		.key_wait_ms = d->cfg.key_wait_ms,
	};

	cmek_json_int64(req, "key_wait_ms", &t.key_wait_ms);
	if (t.key_wait_ms < 0)
		t.key_wait_ms = 0;
	if (t.key_wait_ms > CMEK_MAX_KEY_WAIT_MS)
		t.key_wait_ms = CMEK_MAX_KEY_WAIT_MS;
	cmek_dm_table_params(&t, out, len);
}

static struct json_object *open_reply(const struct vol *v)
{
	struct json_object *r = cmek_ipc_ok();
	char path[CMEKD_NAME_MAX + 16];

	snprintf(path, sizeof(path), "/dev/mapper/%s", v->name);
	json_object_object_add(r, "uuid", json_object_new_string(v->uuid));
	json_object_object_add(r, "name", json_object_new_string(v->name));
	json_object_object_add(r, "path", json_object_new_string(path));
	json_object_object_add(r, "generation",
			       json_object_new_uint64(v->generation));
	json_object_object_add(r, "provider",
			       json_object_new_string(v->provider));
	json_object_object_add(r, "key", json_object_new_string(v->key_ref));
	return r;
}

/*
 * A fresh open gives a key to a UUID no mapping uses and no key is set
 * for: the header on its device may be a copy, a snapshot, or a disk made
 * to look like a volume that is open. (Its push never replaces a key
 * either, for a mapping made meanwhile.)
 */
static int uuid_live(struct daemon *d, const struct hdr_info *h, char *msg,
		     size_t len)
{
	struct cmek_key_info ki;
	int ret = vol_nl_need(d, msg, len);

	if (ret)
		return ret;
	ret = cmek_nl_get(d->nl, h->uuid_bin, &ki);
	if (ret == -ENOENT)
		return 0;
	if (ret) {
		snprintf(msg, len, "cannot read the kernel's key table: %s",
			 strerror(-ret));
		return ret;
	}
	if (!ki.users && ki.state != CMEK_KEY_PRESENT)
		return 0;
	snprintf(msg, len, "volume %s is already live in the kernel (%u "
		 "mapping%s, key %s): a second device with its UUID is "
		 "refused; close what uses it (or revoke its key) first",
		 h->uuid, ki.users, ki.users == 1 ? "" : "s",
		 cmek_key_state_name(ki.state));
	return -EEXIST;
}

static int errno_of(int ret, enum cmek_err_class cls)
{
	if (ret == -EAGAIN || cls == CMEK_ERR_TRANSIENT)
		return EAGAIN;
	return ret < 0 ? -ret : EIO;
}

struct json_object *op_open(struct json_object *req, void *ctx)
{
	struct daemon *d = ctx;
	const char *dev = cmek_json_str(req, "device");
	const char *name = cmek_json_str(req, "name");
	const char *hdrf = cmek_json_str(req, "header");
	const char *want = cmek_json_str(req, "uuid");
	const char *keys = cmek_json_str(req, "keys");
	struct vol v = { .kms_state = -1, .slot = -1 }, *kv;
	enum cmek_err_class cls;
	char msg[4096], params[PATH_MAX + 512];
	char u[CMEK_UUID_STR_LEN], dm_uuid[160];
	uint8_t want_bin[CMEK_UUID_LEN];
	struct hdr_info h;
	struct json_object *r;
	uint64_t size, len;
	int ret;

	if (!valid_name(name))
		return ERR(EINVAL, "invalid or missing \"name\": a "
			   "device-mapper name (printable, no '/', < %d bytes)",
			   CMEKD_NAME_MAX);
	if ((r = check_path("device", dev, true)))
		return r;
	if (hdrf && (r = check_path("header", hdrf, true)))
		return r;
	if (want && cmek_uuid_parse(want, want_bin))
		return ERR(EINVAL, "\"uuid\" is not a volume uuid");
	if (keys && (strlen(keys) >= sizeof(v.keys) || !*keys))
		return ERR(EINVAL, "\"keys\" is empty or longer than %zu "
			   "bytes", sizeof(v.keys) - 1);
	ret = hdr_read(dev, hdrf, &h, msg, sizeof(msg));
	if (ret)
		return ERR(-ret, "%s", msg);
	if (want && memcmp(want_bin, h.uuid_bin, CMEK_UUID_LEN)) {
		r = ERR(ESTALE, "the header of %s is volume %s, not %s as "
			"asked", hdrf ? hdrf : dev, h.uuid, want);
		audit_op(d, "open", NULL, NULL, NULL, h.uuid, -ESTALE,
			 "device=%s name=%s error=\"expected volume %s\"",
			 dev, name, want);
		hdr_info_free(&h);
		return r;
	}

	kv = state_find_name(d, name);
	if (kv || !cmek_dm_get_cmek(name, u, NULL, 0, NULL, 0)) {
		/* Already open: same volume? Then restore its key. */
		if (!kv || strcmp(kv->uuid, h.uuid) ||
		    strcmp(kv->device, dev)) {
			hdr_info_free(&h);
			return ERR(EEXIST, "a device-mapper device named %s "
				   "already exists%s: choose another name or "
				   "close it first", name,
				   kv ? " for another volume" : "");
		}
		ret = vol_push_header(d, kv, &h, "reopen", PUSH_VERIFY, msg,
				      sizeof(msg), &cls);
		hdr_info_free(&h);
		if (ret)
			return ERR(errno_of(ret, cls), "%s", msg);
		kv->revoked = false;
		kv->locked = false;
		kv->tampered = false;
		kv->lock_reason[0] = '\0';
		state_save(d);
		audit_op(d, "open", kv, NULL, NULL, NULL, 0,
			 "device=%s mapping=existing", dev);
		return open_reply(kv);
	}
	kv = vol_by_device(d, dev);
	if (kv) {
		hdr_info_free(&h);
		return ERR(EBUSY, "%s is already open as %s", dev, kv->name);
	}

	ret = device_size(dev, &size);
	if (ret) {
		hdr_info_free(&h);
		return ERR(-ret, "cannot size %s: %s", dev, strerror(-ret));
	}
	if (hdrf == NULL && h.data_offset == 0) {
		hdr_info_free(&h);
		return ERR(EINVAL, "header on %s says data starts at 0, over "
			   "the header itself", dev);
	}
	len = size > h.data_offset ? (size - h.data_offset) / 512 : 0;
	if (h.data_size && h.data_size / 512 < len)
		len = h.data_size / 512;
	len -= len % (h.sector_size / 512);
	if (!len) {
		hdr_info_free(&h);
		return ERR(ENOSPC, "%s has no room for data after the header "
			   "(data offset %" PRIu64 " bytes, device %" PRIu64
			   " bytes)", dev, h.data_offset, size);
	}

	snprintf(v.name, sizeof(v.name), "%s", name);
	snprintf(v.uuid, sizeof(v.uuid), "%s", h.uuid);
	memcpy(v.uuid_bin, h.uuid_bin, CMEK_UUID_LEN);
	snprintf(v.device, sizeof(v.device), "%s", dev);
	if (hdrf)
		snprintf(v.header, sizeof(v.header), "%s", hdrf);
	if (keys)
		snprintf(v.keys, sizeof(v.keys), "%s", keys);

	/* One unwrap, push (wiped right after), then the mapping. */
	cls = CMEK_ERR_INVALID;
	ret = uuid_live(d, &h, msg, sizeof(msg));
	if (!ret)
		ret = vol_push_header(d, &v, &h, "open", PUSH_FRESH, msg,
				      sizeof(msg), &cls);
	if (ret) {
		hdr_info_free(&h);
		audit_op(d, "open", &v, NULL, NULL, NULL, ret, "device=%s "
			 "error=\"%s\"", dev, audit_q(msg));
		return ERR(errno_of(ret, cls), "%s", msg);
	}
	table_params(d, &h, dev, req, params, sizeof(params));
	hdr_info_free(&h);
	snprintf(dm_uuid, sizeof(dm_uuid), "CMEK-%s-%s", v.uuid, name);
	/* read_only: a read-only mapping (crypttab's read-only). */
	ret = cmek_dm_create(name, dm_uuid, len, params,
			cmek_json_bool(req, "read_only", 0) > 0, msg,
			sizeof(msg));
	if (ret) {
		if (cmek_dm_count_users(v.uuid, NULL) == 0)
			vol_revoke_key(d, &v, "open-failed",
				       REVOKE_FS_NONE);
		audit_op(d, "open", &v, NULL, NULL, NULL, ret, "device=%s "
			 "error=\"%s\"", dev, audit_q(msg));
		return ERR(-ret, "%s (table: 0 %" PRIu64 " cmek %s)", msg, len,
			   params);
	}
	kv = state_add(d, &v);
	if (!kv)
		return ERR(ENOMEM, "out of memory");
	state_save(d);
	audit_op(d, "open", kv, NULL, NULL, NULL, 0, "device=%s table=\"0 %"
		 PRIu64 " cmek %s\"", dev, len, params);
	return open_reply(kv);
}

/* Find a volume by name: known, or a cmek mapping we can describe. */
static struct vol *lookup(struct daemon *d, const char *name, struct vol *tmp)
{
	struct vol *v = state_find_name(d, name);
	char u[CMEK_UUID_STR_LEN];

	if (v)
		return v;
	memset(tmp, 0, sizeof(*tmp));
	if (!name || cmek_dm_get_cmek(name, u, tmp->device, sizeof(tmp->device),
				 NULL, 0))
		return NULL;
	if (cmek_uuid_parse(u, tmp->uuid_bin))
		return NULL;
	snprintf(tmp->name, sizeof(tmp->name), "%s", name);
	cmek_uuid_unparse(tmp->uuid_bin, tmp->uuid);
	tmp->kms_state = -1;
	return tmp;
}

struct json_object *op_close(struct json_object *req, void *ctx)
{
	struct daemon *d = ctx;
	const char *name = cmek_json_str(req, "name");
	char msg[512];
	struct vol tmp, *v;
	bool revoked = false;
	int ret, users;

	if (!valid_name(name))
		return ERR(EINVAL, "invalid or missing \"name\"");
	v = lookup(d, name, &tmp);
	if (!v)
		return ERR(ENOENT, "no cmek volume named %s is open", name);
	ret = cmek_dm_remove(name, msg, sizeof(msg));
	if (ret && ret != -ENXIO && ret != -ENOENT) {
		audit_op(d, "close", v, NULL, NULL, NULL, ret, "error=\"%s\"",
			 audit_q(msg));
		return ERR(-ret, "%s%s", msg, ret == -EBUSY ?
			   ": the device is in use (mounted or open); unmount "
			   "it first" : "");
	}
	users = cmek_dm_count_users(v->uuid, name);
	if (users == 0) {
		ret = vol_revoke_key(d, v, "close", REVOKE_FS_NONE);
		revoked = ret == 0;
	}
	audit_op(d, "close", v, NULL, NULL, NULL, 0, "key=%s",
		 revoked ? "revoked" : users > 0 ? "kept (other mappings)" :
		 "revoke failed");
	if (v != &tmp) {
		state_del(d, v);
		state_save(d);
	}
	return cmek_ipc_ok();
}

/* ---- revoke / shred ---------------------------------------------------- */

/* The request's keep_fs: absent, fs_on_revoke decides. */
static enum revoke_fs req_fs(struct json_object *req)
{
	int keep = cmek_json_bool(req, "keep_fs", -1);

	return keep < 0 ? REVOKE_FS_CONFIG : keep ? REVOKE_FS_KEEP :
	       REVOKE_FS_SHUTDOWN;
}

struct json_object *op_revoke(struct json_object *req, void *ctx)
{
	struct daemon *d = ctx;
	const char *name = cmek_json_str(req, "name");
	struct json_object *r, *arr;
	char msg[256], fsd[1280] = "";
	struct vol tmp, *v;
	size_t i;
	int ret;

	if (cmek_json_bool(req, "all", 0)) {
		if (name)
			return ERR(EINVAL, "give either \"name\" or \"all\"");
		ret = vol_nl_need(d, msg, sizeof(msg));
		if (ret)
			return ERR(-ret, "%s", msg);
		d->revoke_all_seq++;
		for (i = 0; i < d->nvols; i++) {
			d->vols[i]->revoked = true;
			d->vols[i]->epoch++;
		}
		state_save(d);
		ret = cmek_nl_revoke(d->nl, NULL, CMEK_REVOKE_F_ALL);
		if (!ret) {
			/* Its events are queued by now: ours, not outsiders'. */
			d->own_revoke_all = true;
			events_drain_no_push(d);
			d->own_revoke_all = false;
		}
		if (ret == -ENOKEY)
			ret = 0;	/* no key left: nothing to wipe */
		if (!ret)
			fs_on_revoke(d, NULL, req_fs(req), fsd, sizeof(fsd));
		audit_op(d, "revoke-all", NULL, NULL, NULL, NULL, ret,
			 "volumes_known=%zu%s%s%s", d->nvols,
			 ret ? " error=" : "", ret ? strerror(-ret) : "", fsd);
		if (ret)
			return ERR(-ret, "revoking every key failed: %s%s%s",
				   strerror(-ret), cmek_nl_errmsg(d->nl)[0] ?
				   ": " : "", cmek_nl_errmsg(d->nl));
		r = cmek_ipc_ok();
		arr = json_object_new_array();
		for (i = 0; i < d->nvols; i++)
			json_object_array_add(arr,
				json_object_new_string(d->vols[i]->uuid));
		json_object_object_add(r, "revoked", arr);
		return r;
	}
	if (!valid_name(name))
		return ERR(EINVAL, "give \"name\" or \"all\": true");
	v = lookup(d, name, &tmp);
	if (!v)
		return ERR(ENOENT, "no cmek volume named %s", name);
	v->revoked = true;
	if (v != &tmp)
		state_save(d);
	ret = vol_revoke_key(d, v, "admin", req_fs(req));
	if (ret)
		return ERR(-ret, "revoking the key of %s failed: %s", name,
			   strerror(-ret));
	r = cmek_ipc_ok();
	arr = json_object_new_array();
	json_object_array_add(arr, json_object_new_string(v->uuid));
	json_object_object_add(r, "revoked", arr);
	return r;
}

struct json_object *op_shred(struct json_object *req, void *ctx)
{
	struct daemon *d = ctx;
	const char *name = cmek_json_str(req, "name");
	struct json_object *r;
	char msg[512];
	struct vol tmp, *v;
	bool removed;
	int ret;

	if (!valid_name(name))
		return ERR(EINVAL, "invalid or missing \"name\"");
	v = lookup(d, name, &tmp);
	if (!v)
		return ERR(ENOENT, "no cmek volume named %s", name);
	v->revoked = true;
	d->shred_seq++;
	ret = vol_revoke_key(d, v, "shred", REVOKE_FS_CONFIG);
	if (ret)
		return ERR(-ret, "shred %s: revoking the kernel key failed "
			   "(%s); nothing was shredded", name, strerror(-ret));
	ret = hdr_shred(v->device, v->header[0] ? v->header : NULL,
			v->uuid_bin, msg, sizeof(msg));
	audit_op(d, "shred", v, NULL, NULL, NULL, ret, "device=%s%s%s%s%s",
		 v->device, v->header[0] ? " header=" : "", v->header,
		 ret ? " error=" : "", ret ? msg : "");
	if (ret) {
		if (v != &tmp)
			state_save(d);
		return ERR(-ret, "shred %s: the key is revoked but the key "
			   "slots could not be destroyed: %s", name, msg);
	}
	v->shredded = true;
	removed = cmek_dm_remove(name, msg, sizeof(msg)) == 0;
	r = cmek_ipc_ok();
	json_object_object_add(r, "uuid", json_object_new_string(v->uuid));
	json_object_object_add(r, "mapping_removed",
			       json_object_new_boolean(removed));
	if (v != &tmp) {
		if (removed)
			state_del(d, v);
		state_save(d);
	}
	return r;
}

/* ---- rewrap ------------------------------------------------------------ */

struct json_object *op_rewrap(struct json_object *req, void *ctx)
{
	struct daemon *d = ctx;
	const char *name = cmek_json_str(req, "name");
	char msg[CMEK_ERRMSG_MAX + 256];
	struct json_object *r;
	struct vol *v;
	int ret;

	if (!valid_name(name))
		return ERR(EINVAL, "invalid or missing \"name\"");
	v = state_find_name(d, name);
	if (!v)
		return ERR(ENOENT, "cmekd does not know a volume named %s: "
			   "open it with cmekctl first", name);
	if (v->shredded)
		return ERR(EKEYREVOKED, "%s was shredded", name);
	ret = vol_rewrap(d, v, cmek_json_str(req, "provider"),
			 cmek_json_str(req, "key"), msg, sizeof(msg));
	if (ret < 0)
		return ERR(-ret, "rewrap %s: %s", name, msg);
	r = cmek_ipc_ok();
	json_object_object_add(r, "uuid", json_object_new_string(v->uuid));
	json_object_object_add(r, "slots", json_object_new_int(ret));
	json_object_object_add(r, "provider",
			       json_object_new_string(v->provider));
	json_object_object_add(r, "key", json_object_new_string(v->key_ref));
	return r;
}
/* ---- status / list / check --------------------------------------------- */

static struct json_object *vol_status(struct daemon *d, const struct vol *v)
{
	struct json_object *o = vol_to_json(v);
	struct cmek_key_info ki;
	char st[512];

	if (d->nl && !cmek_nl_get(d->nl, v->uuid_bin, &ki)) {
		json_object_object_add(o, "state", json_object_new_string(
			cmek_key_state_name(ki.state)));
		json_object_object_add(o, "generation",
				       json_object_new_uint64(ki.generation));
		json_object_object_add(o, "key_size",
				       json_object_new_int((int)ki.key_size));
		json_object_object_add(o, "users",
				       json_object_new_int((int)ki.users));
		json_object_object_add(o, "reads",
				       json_object_new_uint64(ki.reads));
		json_object_object_add(o, "writes",
				       json_object_new_uint64(ki.writes));
		json_object_object_add(o, "errors",
				       json_object_new_uint64(ki.errors));
	} else {
		json_object_object_add(o, "state",
				       json_object_new_string("unknown"));
		json_object_object_add(o, "generation",
				       json_object_new_uint64(v->generation));
	}
	if (!cmek_dm_get_status(v->name, st, sizeof(st)))
		json_object_object_add(o, "dm_status",
				       json_object_new_string(st));
	watch_annotate(d, v, o);
	return o;
}

struct json_object *op_status(struct json_object *req, void *ctx)
{
	struct daemon *d = ctx;
	const char *name = cmek_json_str(req, "name");
	struct json_object *r = cmek_ipc_ok(), *arr = json_object_new_array();
	size_t i;

	daemon_nl_ready(d);
	for (i = 0; i < d->nvols; i++)
		if (!name || !strcmp(d->vols[i]->name, name))
			json_object_array_add(arr, vol_status(d, d->vols[i]));
	json_object_object_add(r, "volumes", arr);
	return r;
}

struct json_object *op_list(struct json_object *req, void *ctx)
{
	struct json_object *q = json_object_new_object(), *r;

	r = op_status(q, ctx);
	json_object_put(q);
	return r;
}

struct json_object *op_check(struct json_object *req, void *ctx)
{
	struct daemon *d = ctx;
	const char *name = cmek_json_str(req, "name");
	struct json_object *r, *arr;

	if (name && !state_find_name(d, name))
		return ERR(ENOENT, "cmekd does not know a volume named %s",
			   name);
	arr = json_object_new_array();
	watch_run(d, name, arr);
	r = cmek_ipc_ok();
	json_object_object_add(r, "volumes", arr);
	return r;
}

/* ---- key slots ----------------------------------------------------------- */

/*
 * Check a wrap before it goes into the header: a key that may encrypt but
 * not decrypt (a KMS policy that allows only Encrypt) would make a slot
 * that never opens the volume.
 */
static int wrap_checked(struct daemon *d, struct cmek_provider *p,
			const char *key, const struct cmek_binding *b,
			const uint8_t *dek, size_t dek_len, uint8_t **wrapped,
			size_t *wl, struct cmek_error *err)
{
	uint8_t *back;
	size_t back_len = 0;
	int ret;

	ret = kms_wrap(d, p, key, b, dek, dek_len, wrapped, wl, err);
	if (ret)
		return ret;
	back = cmek_secmem_alloc_locked(DEK_BUF_LEN);
	if (!back)
		ret = cmek_error_set(err, CMEK_ERR_TRANSIENT,
				     "cannot allocate locked memory");
	else if (kms_unwrap(d, p, key, b, *wrapped, *wl, back, &back_len,
			    err))
		ret = -1;
	else if (back_len != dek_len || CRYPTO_memcmp(back, dek, dek_len))
		ret = cmek_error_set(err, CMEK_ERR_INVALID, "the new slot "
				     "does not unwrap to the data key");
	cmek_secmem_free(back);
	if (ret) {
		free(*wrapped);
		*wrapped = NULL;
	}
	return ret;
}

/* The volume cmekd knows on @dev, if its header is the one just read. */
static struct vol *known_vol(struct daemon *d, const char *dev,
			     const char *uuid)
{
	struct vol *v = vol_by_device(d, dev);

	return v && !strcmp(v->uuid, uuid) ? v : NULL;
}

/* A detached header defaults to the one the open volume on @dev uses. */
static const char *default_header(struct daemon *d, const char *dev,
				  const char *hdrf)
{
	struct vol *v = vol_by_device(d, dev);

	if (!hdrf && v && v->header[0])
		return v->header;
	return hdrf;
}

/*
 * A header update asked for over the socket (slot add and remove,
 * upgrade): the header as read, the volume it belongs to (known, or
 * described in @tmp), and, once update_unwrap() worked, the data key and
 * the MAC key that seals what the update writes.
 */
struct update {
	const char *dev, *hdrf;
	struct hdr_info h;
	struct vol tmp, *v;
	unsigned int shred0;
	uint8_t *dek, *mac_key;
	size_t dek_len;
	int used;			/* index in h.slots that unwrapped */
	struct hdr_auth auth;
};

/* NULL with @u filled, or the error reply. */
static struct json_object *update_read(struct daemon *d,
				       struct json_object *req,
				       struct update *u)
{
	struct json_object *r;
	char msg[1024];
	int ret;

	memset(u, 0, sizeof(*u));
	u->used = -1;
	u->shred0 = d->shred_seq;
	u->dev = cmek_json_str(req, "device");
	u->hdrf = cmek_json_str(req, "header");
	if ((r = check_path("device", u->dev, true)))
		return r;
	if (u->hdrf && (r = check_path("header", u->hdrf, true)))
		return r;
	u->hdrf = default_header(d, u->dev, u->hdrf);
	ret = hdr_read(u->dev, u->hdrf, &u->h, msg, sizeof(msg));
	if (ret)
		return ERR(-ret, "%s", msg);
	u->v = known_vol(d, u->dev, u->h.uuid);
	if (!u->v) {
		u->v = &u->tmp;
		u->tmp.kms_state = -1;
		u->tmp.slot = -1;
		snprintf(u->tmp.uuid, sizeof(u->tmp.uuid), "%s", u->h.uuid);
		snprintf(u->tmp.device, sizeof(u->tmp.device), "%s", u->dev);
	}
	return NULL;
}

/*
 * The data key (@mode PUSH_CACHED: slot_policy rules as for a key-needed
 * push; PUSH_UPDATE: any slot that unwraps; never generate()) of a header
 * this host trusts, and its MAC key. A shred
 * while the KMS answered cancels the update. 0, or -errno with @msg and
 * *@cls set.
 */
static int update_unwrap(struct daemon *d, struct update *u, const char *why,
			 enum push_mode mode, bool legacy_ok, char *msg,
			 size_t msglen, enum cmek_err_class *cls)
{
	int ret;

	u->mac_key = cmek_secmem_alloc_locked(DEK_BUF_LEN);
	if (!u->mac_key) {
		snprintf(msg, msglen, "cannot allocate locked memory");
		*cls = CMEK_ERR_TRANSIENT;
		return -ENOMEM;
	}
	ret = vol_unwrap_trusted(d, u->v, &u->h, why, mode, legacy_ok,
				 &u->dek, &u->dek_len, &u->used, u->mac_key, msg,
				 msglen, cls);
	if (!ret && d->shred_seq != u->shred0) {
		snprintf(msg, msglen, "a volume was shredded while the KMS "
			 "answered: nothing written");
		*cls = CMEK_ERR_DEFINITIVE;
		ret = -ECANCELED;
	}
	memcpy(u->auth.uuid, u->h.uuid_bin, CMEK_UUID_LEN);
	u->auth.mac_key = u->mac_key;
	u->auth.seq = u->h.seq;
	return ret;
}

/* After a successful write: what the host and the known volume record. */
static void update_written(struct daemon *d, struct update *u)
{
	trust_written(d, u->h.uuid_bin, u->auth.seq);
	if (u->v != &u->tmp) {
		vol_refresh_slots(u->v);
		state_save(d);
	}
}

static void update_done(struct update *u)
{
	cmek_secmem_free(u->dek);
	cmek_secmem_free(u->mac_key);
	u->dek = u->mac_key = NULL;
	hdr_info_free(&u->h);
}

struct json_object *op_slot_add(struct json_object *req, void *ctx)
{
	struct daemon *d = ctx;
	const char *prov = cmek_json_str(req, "provider");
	const char *key = cmek_json_str(req, "key");
	struct cmek_error err = { 0 };
	enum cmek_err_class cls;
	struct cmek_binding b;
	struct cmek_provider *np;
	struct json_object *r;
	struct update u;
	uint8_t *wrapped = NULL;
	size_t wl = 0;
	int i, idx = -1, ret;
	char msg[4096];

	if (!prov || !*prov)
		prov = "local";
	if (!key || !*key)
		return ERR(EINVAL, "missing \"key\": the KMS key reference "
			   "to wrap the data key under (for the local "
			   "provider a KEK name)");
	if (strlen(key) >= CMEK_VOL_KEYREF_MAX)
		return ERR(ENAMETOOLONG, "key reference too long (at most "
			   "%d bytes)", CMEK_VOL_KEYREF_MAX - 1);
	np = cmek_config_provider(&d->cfg, prov, &err);
	if (!np)
		return ERR(ENOPROTOOPT, "%s", err.msg);
	if (cmek_config_key_trusted(&d->cfg, prov, key, &err))
		return ERR(EPERM, "%s", err.msg);
	r = update_read(d, req, &u);
	if (r)
		return r;
	if (!vol_key_pinned(u.v, prov, key)) {
		r = ERR(EPERM, "%s:%s is not among the keys the line of %s in "
			"/etc/cmek/volumes pins (keys=)", prov, key, u.v->name);
		goto out;
	}
	for (i = 0; i < u.h.nslots; i++) {
		if (strcmp(u.h.slots[i].provider, prov) ||
		    strcmp(u.h.slots[i].key_ref, key))
			continue;
		r = ERR(EEXIST, "slot %d already wraps the data key of %s "
			"under %s:%s", u.h.slots[i].index, u.h.uuid, prov, key);
		goto out;
	}
	if (u.h.nslots >= HDR_SLOTS_MAX) {
		r = ERR(ENOSPC, "every one of the %d key slots of %s is in "
			"use: remove one first", HDR_SLOTS_MAX, u.dev);
		goto out;
	}
	snprintf(b.volume_uuid, sizeof(b.volume_uuid), "%s", u.h.uuid);
	ret = update_unwrap(d, &u, "slot-add", PUSH_CACHED, false, msg, sizeof(msg), &cls);
	if (ret) {
		r = ERR(errno_of(ret, cls), "no key slot of %s unwraps the "
			"data key, so no slot can be added: %s", u.dev, msg);
		goto out;
	}
	ret = wrap_checked(d, np, key, &b, u.dek, u.dek_len, &wrapped, &wl,
			   &err);
	if (!ret && d->shred_seq != u.shred0) {
		r = ERR(ECANCELED, "a volume was shredded while the KMS "
			"answered: no slot added");
		goto out;
	}
	if (ret) {
		audit_op(d, "slot-add", u.v, prov, key, u.h.uuid, -EIO,
			 "device=%s error=\"%s\"", u.dev, audit_q(err.msg));
		r = ERR(vol_cls_errno(err.cls), "cannot wrap the data key under "
			"%s:%s: %s", prov, key, err.msg);
		goto out;
	}
	ret = hdr_add_slot(u.dev, u.hdrf, &u.auth, prov, key, wrapped, wl,
			   &idx, msg, sizeof(msg));
	audit_op(d, "slot-add", u.v, prov, key, u.h.uuid, ret,
		 "device=%s%s%s slot=%d from_slot=%d%s%s", u.dev,
		 u.hdrf ? " header=" : "", u.hdrf ? u.hdrf : "", idx,
		 u.h.slots[u.used].index, ret ? " error=" : "",
		 ret ? msg : "");
	if (ret) {
		r = ERR(-ret, "%s", msg);
		goto out;
	}
	update_written(d, &u);
	r = cmek_ipc_ok();
	json_object_object_add(r, "uuid", json_object_new_string(u.h.uuid));
	json_object_object_add(r, "slot", json_object_new_int(idx));
	json_object_object_add(r, "provider", json_object_new_string(prov));
	json_object_object_add(r, "key", json_object_new_string(key));
	json_object_object_add(r, "from_slot",
			       json_object_new_int(u.h.slots[u.used].index));
	json_object_object_add(r, "active_slots",
			       json_object_new_int(u.h.nslots + 1));
out:
	free(wrapped);
	update_done(&u);
	return r;
}

struct json_object *op_slot_remove(struct json_object *req, void *ctx)
{
	struct daemon *d = ctx;
	char msg[4096], was[CMEK_VOL_PROVIDER_MAX + CMEK_VOL_KEYREF_MAX + 2] = "";
	enum cmek_err_class cls;
	struct json_object *r;
	struct update u;
	long long idx = -1;
	int i, ret;

	if (cmek_json_int64(req, "slot", &idx) || idx < 0 ||
	    idx >= HDR_SLOTS_MAX)
		return ERR(EINVAL, "\"slot\" must be a slot number from 0 to "
			   "%d (see 'cmekctl slot list')", HDR_SLOTS_MAX - 1);
	r = update_read(d, req, &u);
	if (r)
		return r;
	for (i = 0; i < u.h.nslots; i++)
		if (u.h.slots[i].index == idx)
			snprintf(was, sizeof(was), "%s:%s",
				 u.h.slots[i].provider, u.h.slots[i].key_ref);
	/* The header is sealed with a key only the data key gives. */
	ret = update_unwrap(d, &u, "slot-remove", PUSH_UPDATE, false, msg, sizeof(msg),
			    &cls);
	if (ret) {
		r = ERR(errno_of(ret, cls), "no key slot of %s unwraps the "
			"data key, which seals the header, so no slot can be "
			"removed: %s", u.dev, msg);
		goto out;
	}
	ret = hdr_remove_slot(u.dev, u.hdrf, &u.auth, (int)idx, msg,
			      sizeof(msg));
	audit_op(d, "slot-remove", u.v, NULL, NULL, u.h.uuid, ret,
		 "device=%s slot=%lld was=%s%s%s", u.dev, idx,
		 was[0] ? was : "-", ret ? " error=" : "", ret ? msg : "");
	if (ret) {
		r = ERR(-ret, "%s: %s", u.dev, msg);
		goto out;
	}
	update_written(d, &u);
	/* Opened with the removed slot: the next push uses another. */
	if (u.v != &u.tmp && u.v->slot == idx && u.v->nslots) {
		u.v->slot = u.v->slots[0].index;
		snprintf(u.v->provider, sizeof(u.v->provider), "%s",
			 u.v->slots[0].provider);
		snprintf(u.v->key_ref, sizeof(u.v->key_ref), "%s",
			 u.v->slots[0].key_ref);
		state_save(d);
	}
	r = cmek_ipc_ok();
	json_object_object_add(r, "uuid", json_object_new_string(u.h.uuid));
	json_object_object_add(r, "slot", json_object_new_int((int)idx));
	json_object_object_add(r, "active_slots",
			       json_object_new_int(u.h.nslots - 1));
out:
	update_done(&u);
	return r;
}

/*
 * A version 1 header carries no MAC: rewrite it, unchanged, as version 2
 * sealed with the data key's MAC key. The data key must be the one this
 * host recorded for the volume, if it recorded one (trust_check()).
 */
struct json_object *op_upgrade(struct json_object *req, void *ctx)
{
	struct daemon *d = ctx;
	enum cmek_err_class cls;
	struct json_object *r;
	struct update u;
	char msg[4096];
	int ret;

	r = update_read(d, req, &u);
	if (r)
		return r;
	ret = update_unwrap(d, &u, "upgrade", PUSH_UPDATE, true, msg, sizeof(msg), &cls);
	if (ret) {
		r = ERR(errno_of(ret, cls), "%s: %s", u.dev, msg);
		goto out;
	}
	if (u.h.version != CMEK_VOL_VERSION) {
		ret = hdr_upgrade(u.dev, u.hdrf, &u.auth, msg, sizeof(msg));
		audit_op(d, "upgrade", u.v, NULL, NULL, u.h.uuid, ret,
			 "device=%s from_version=%u%s%s", u.dev, u.h.version,
			 ret ? " error=" : "", ret ? msg : "");
		if (ret) {
			r = ERR(-ret, "%s: %s", u.dev, msg);
			goto out;
		}
		update_written(d, &u);
	}
	r = cmek_ipc_ok();
	json_object_object_add(r, "uuid", json_object_new_string(u.h.uuid));
	json_object_object_add(r, "from_version",
			       json_object_new_int(u.h.version));
	json_object_object_add(r, "version",
			       json_object_new_int(CMEK_VOL_VERSION));
	json_object_object_add(r, "seq", json_object_new_int64(
		(int64_t)(u.auth.seq > INT64_MAX ? INT64_MAX : u.auth.seq)));
out:
	update_done(&u);
	return r;
}
