// SPDX-License-Identifier: GPL-2.0
/*
 * The volume requests of the control socket: format, open, close, revoke,
 * shred, rewrap, status, list, check, ping, slot add and remove, upgrade.
 * Each checks the request's JSON, calls the volume logic (life.c, vol.c,
 * slots.c) or the kernel side (struct kernel_ops) and formats the answer;
 * no key ever passes through here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmekd.h"
#include "ipc.h"

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

/* @p must be an absolute path (to an existing block device or file). */
static struct json_object *check_path(const char *what, const char *p,
				      bool must_exist)
{
	char msg[PATH_MAX + 256];
	int ret = vol_check_path(what, p, must_exist, msg, sizeof(msg));

	return ret ? ERR(-ret, "%s", msg) : NULL;
}

struct json_object *op_format(struct json_object *req, void *ctx)
{
	return format_request(ctx, req, NULL, false);
}

struct json_object *format_request(struct daemon *d, struct json_object *req,
				   const uint8_t *uuid, bool blank_checked)
{
	struct vol_format f = {
		.device = cmek_json_str(req, "device"),
		.header = cmek_json_str(req, "header"),
		.provider = cmek_json_str(req, "provider"),
		.key = cmek_json_str(req, "key"),
		.force = cmek_json_bool(req, "force", 0),
		.blank_checked = blank_checked,
		.uuid = uuid,
	};
	long long ss = 512, off = -1;
	char msg[CMEK_ERRMSG_MAX + 1024], u[CMEK_UUID_STR_LEN];
	struct json_object *r;
	int ret;

	if ((r = check_path("device", f.device, true)))
		return r;
	if (f.header && (r = check_path("header", f.header, false)))
		return r;
	if (!f.provider || !*f.provider)
		f.provider = "local";
	if (!f.key || !*f.key)
		return ERR(EINVAL, "missing \"key\": the KMS key reference "
			   "(for the local provider a KEK name)");
	if (strlen(f.key) >= CMEK_VOL_KEYREF_MAX ||
	    strlen(f.provider) >= CMEK_VOL_PROVIDER_MAX)
		return ERR(ENAMETOOLONG, "provider or key reference too long");
	ret = cmek_json_int64(req, "sector_size", &ss);
	if (ret == -EINVAL || ss < 512 || ss > 4096 || (ss & (ss - 1)))
		return ERR(EINVAL, "sector_size must be 512, 1024, 2048 or 4096");
	ret = cmek_json_int64(req, "data_offset", &off);
	if (ret == -EINVAL || (ret == 0 && (off < 0 || off % 4096)))
		return ERR(EINVAL, "data_offset must be a number of bytes, a "
			   "multiple of 4096");
	f.sector_size = (unsigned int)ss;
	f.data_offset = off;
	ret = vol_format(d, &f, u, msg, sizeof(msg));
	if (ret)
		return ERR(-ret, "%s", msg);
	r = cmek_ipc_ok();
	json_object_object_add(r, "uuid", json_object_new_string(u));
	json_object_object_add(r, "device", json_object_new_string(f.device));
	if (f.header)
		json_object_object_add(r, "header",
				       json_object_new_string(f.header));
	return r;
}

/* ---- open / close ------------------------------------------------------ */

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

struct json_object *op_open(struct json_object *req, void *ctx)
{
	struct daemon *d = ctx;
	struct vol_open o = {
		.name = cmek_json_str(req, "name"),
		.device = cmek_json_str(req, "device"),
		.header = cmek_json_str(req, "header"),
		.want = cmek_json_str(req, "uuid"),
		.keys = cmek_json_str(req, "keys"),
		.allow_discards = cmek_json_bool(req, "allow_discards",
						 d->cfg.allow_discards),
		.read_only = cmek_json_bool(req, "read_only", 0) > 0,
		.key_wait_ms = d->cfg.key_wait_ms,
	};
	struct json_object *r;
	struct vol *kv;
	char msg[4096];
	int ret;

	if (!valid_name(o.name))
		return ERR(EINVAL, "invalid or missing \"name\": a "
			   "device-mapper name (printable, no '/', < %d bytes)",
			   CMEKD_NAME_MAX);
	if ((r = check_path("device", o.device, true)))
		return r;
	if (o.header && (r = check_path("header", o.header, true)))
		return r;
	if (o.want && cmek_uuid_parse(o.want, o.want_bin))
		return ERR(EINVAL, "\"uuid\" is not a volume uuid");
	if (o.keys && (strlen(o.keys) >= sizeof(kv->keys) || !*o.keys))
		return ERR(EINVAL, "\"keys\" is empty or longer than %zu "
			   "bytes", sizeof(kv->keys) - 1);
	cmek_json_int64(req, "key_wait_ms", &o.key_wait_ms);
	ret = vol_open(d, &o, &kv, msg, sizeof(msg));
	if (ret)
		return ERR(-ret, "%s", msg);
	return open_reply(kv);
}

struct json_object *op_close(struct json_object *req, void *ctx)
{
	struct daemon *d = ctx;
	const char *name = cmek_json_str(req, "name");
	char msg[512];
	struct vol tmp, *v;
	int ret;

	if (!valid_name(name))
		return ERR(EINVAL, "invalid or missing \"name\"");
	v = vol_lookup(d, name, &tmp);
	if (!v)
		return ERR(ENOENT, "no cmek volume named %s is open", name);
	ret = vol_close(d, v, msg, sizeof(msg));
	if (ret)
		return ERR(-ret, "%s%s", msg, ret == -EBUSY ?
			   ": the device is in use (mounted or open); unmount "
			   "it first" : "");
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
	char msg[CMEK_ERRMSG_MAX + 256];
	struct vol tmp, *v;
	size_t i;
	int ret;

	if (cmek_json_bool(req, "all", 0)) {
		if (name)
			return ERR(EINVAL, "give either \"name\" or \"all\"");
		ret = vol_revoke_all(d, req_fs(req), msg, sizeof(msg));
		if (ret)
			return ERR(-ret, "%s", msg);
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
	v = vol_lookup(d, name, &tmp);
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
	char msg[1024], uuid[CMEK_UUID_STR_LEN];
	struct json_object *r;
	struct vol tmp, *v;
	bool removed;
	int ret;

	if (!valid_name(name))
		return ERR(EINVAL, "invalid or missing \"name\"");
	v = vol_lookup(d, name, &tmp);
	if (!v)
		return ERR(ENOENT, "no cmek volume named %s", name);
	snprintf(uuid, sizeof(uuid), "%s", v->uuid);
	ret = vol_shred(d, v, &removed, msg, sizeof(msg));
	if (ret)
		return ERR(-ret, "shred %s: %s", name, msg);
	r = cmek_ipc_ok();
	json_object_object_add(r, "uuid", json_object_new_string(uuid));
	json_object_object_add(r, "mapping_removed",
			       json_object_new_boolean(removed));
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

/* The watch's view (kms_state, kms_error, per slot too) added to a VOL. */
static void annotate(struct daemon *d, const struct vol *v,
		     struct json_object *o)
{
	struct watch_slot_view w;
	time_t now = time(NULL);
	struct json_object *a, *so;
	int i;

	json_object_object_add(o, "kms_state", json_object_new_string(
		v->kms_state < 0 ? "unknown" :
		cmek_kms_key_state_name(v->kms_state)));
	if (v->kms_error[0])
		json_object_object_add(o, "kms_error",
				       json_object_new_string(v->kms_error));
	if (!json_object_object_get_ex(o, "slots", &a) ||
	    !json_object_is_type(a, json_type_array))
		return;
	for (i = 0; i < v->nslots && i < (int)json_object_array_length(a);
	     i++) {
		watch_slot_view(d, v, i, now, &w);
		so = json_object_array_get_idx(a, i);
		json_object_object_add(so, "kms_state", json_object_new_string(
			w.kms_state < 0 ? "unknown" :
			cmek_kms_key_state_name(w.kms_state)));
		json_object_object_add(so, "verdict", json_object_new_string(
			cmek_slot_verdict_name(w.verdict)));
		if (w.error[0])
			json_object_object_add(so, "kms_error",
					       json_object_new_string(w.error));
	}
}

static struct json_object *vol_status(struct daemon *d, const struct vol *v)
{
	struct json_object *o = vol_to_json(v);
	struct cmek_key_info ki;
	char st[512];

	if (!kernel(d)->get(d, v->uuid_bin, &ki)) {
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
	if (!kernel(d)->dm_get_status(v->name, st, sizeof(st)))
		json_object_object_add(o, "dm_status",
				       json_object_new_string(st));
	annotate(d, v, o);
	return o;
}

struct json_object *op_status(struct json_object *req, void *ctx)
{
	struct daemon *d = ctx;
	const char *name = cmek_json_str(req, "name");
	struct json_object *r = cmek_ipc_ok(), *arr = json_object_new_array();
	size_t i;

	kernel(d)->nl_ready(d);
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
	size_t i;

	if (name && !state_find_name(d, name))
		return ERR(ENOENT, "cmekd does not know a volume named %s",
			   name);
	watch_run(d, name);
	arr = json_object_new_array();
	for (i = 0; i < d->nvols; i++) {
		struct vol *v = d->vols[i];
		struct json_object *o;

		if (name && strcmp(v->name, name))
			continue;
		o = vol_to_json(v);
		annotate(d, v, o);
		json_object_array_add(arr, o);
	}
	r = cmek_ipc_ok();
	json_object_object_add(r, "volumes", arr);
	return r;
}

/* ---- key slots ----------------------------------------------------------- */

struct json_object *op_slot_add(struct json_object *req, void *ctx)
{
	struct daemon *d = ctx;
	const char *prov = cmek_json_str(req, "provider");
	const char *key = cmek_json_str(req, "key");
	struct slot_result res;
	struct json_object *r;
	char msg[4096];
	int ret;

	if (!prov || !*prov)
		prov = "local";
	if (!key || !*key)
		return ERR(EINVAL, "missing \"key\": the KMS key reference "
			   "to wrap the data key under (for the local "
			   "provider a KEK name)");
	if (strlen(key) >= CMEK_VOL_KEYREF_MAX)
		return ERR(ENAMETOOLONG, "key reference too long (at most "
			   "%d bytes)", CMEK_VOL_KEYREF_MAX - 1);
	ret = vol_slot_add(d, cmek_json_str(req, "device"),
			   cmek_json_str(req, "header"), prov, key, &res, msg,
			   sizeof(msg));
	if (ret)
		return ERR(-ret, "%s", msg);
	r = cmek_ipc_ok();
	json_object_object_add(r, "uuid", json_object_new_string(res.uuid));
	json_object_object_add(r, "slot", json_object_new_int(res.slot));
	json_object_object_add(r, "provider", json_object_new_string(prov));
	json_object_object_add(r, "key", json_object_new_string(key));
	json_object_object_add(r, "from_slot",
			       json_object_new_int(res.from_slot));
	json_object_object_add(r, "active_slots",
			       json_object_new_int(res.active_slots));
	return r;
}

struct json_object *op_slot_remove(struct json_object *req, void *ctx)
{
	struct daemon *d = ctx;
	struct slot_result res;
	struct json_object *r;
	long long idx = -1;
	char msg[4096];
	int ret;

	if (cmek_json_int64(req, "slot", &idx) || idx < 0 ||
	    idx >= HDR_SLOTS_MAX)
		return ERR(EINVAL, "\"slot\" must be a slot number from 0 to "
			   "%d (see 'cmekctl slot list')", HDR_SLOTS_MAX - 1);
	ret = vol_slot_remove(d, cmek_json_str(req, "device"),
			      cmek_json_str(req, "header"), (int)idx, &res,
			      msg, sizeof(msg));
	if (ret)
		return ERR(-ret, "%s", msg);
	r = cmek_ipc_ok();
	json_object_object_add(r, "uuid", json_object_new_string(res.uuid));
	json_object_object_add(r, "slot", json_object_new_int(res.slot));
	json_object_object_add(r, "active_slots",
			       json_object_new_int(res.active_slots));
	return r;
}

struct json_object *op_upgrade(struct json_object *req, void *ctx)
{
	struct daemon *d = ctx;
	struct slot_result res;
	struct json_object *r;
	char msg[4096];
	int ret;

	ret = vol_upgrade(d, cmek_json_str(req, "device"),
			  cmek_json_str(req, "header"), &res, msg,
			  sizeof(msg));
	if (ret)
		return ERR(-ret, "%s", msg);
	r = cmek_ipc_ok();
	json_object_object_add(r, "uuid", json_object_new_string(res.uuid));
	json_object_object_add(r, "from_version",
			       json_object_new_int(res.version));
	json_object_object_add(r, "version",
			       json_object_new_int(CMEK_VOL_VERSION));
	json_object_object_add(r, "seq", json_object_new_int64(
		(int64_t)(res.seq > INT64_MAX ? INT64_MAX : res.seq)));
	return r;
}
