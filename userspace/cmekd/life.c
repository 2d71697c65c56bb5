// SPDX-License-Identifier: GPL-2.0
/*
 * A volume's life: format (a fresh header with one key slot), open (the
 * key pushed, then the mapping), close (the mapping removed, the key
 * revoked when no mapping uses it), shred (the key revoked, then every
 * key slot destroyed). No JSON here: the handlers (volume_ops.c) check
 * the request and answer with what these return.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>

#include "cmekd.h"
#include "log.h"
#include "secmem.h"

int vol_check_path(const char *what, const char *p, bool must_exist,
		   char *msg, size_t len)
{
	struct stat st;

	if (!p || !*p) {
		snprintf(msg, len, "missing \"%s\"", what);
		return -EINVAL;
	}
	if (p[0] != '/') {
		snprintf(msg, len, "%s '%s' must be an absolute path", what, p);
		return -EINVAL;
	}
	if (strlen(p) >= PATH_MAX) {
		snprintf(msg, len, "%s path too long", what);
		return -ENAMETOOLONG;
	}
	if (must_exist && stat(p, &st) < 0) {
		int e = errno;

		snprintf(msg, len, "%s %s: %s", what, p, strerror(e));
		return -e;
	}
	if (must_exist && !S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode)) {
		snprintf(msg, len, "%s %s is neither a block device nor a "
			 "regular file", what, p);
		return -EINVAL;
	}
	return 0;
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

/* ---- format ------------------------------------------------------------ */

/* Refuse to format over an open volume, a cmek header or anything else. */
static int format_refused(struct daemon *d, const struct vol_format *f,
			  char *msg, size_t len)
{
	struct vol *busy = state_find_device(d, f->device);
	char what[256];
	struct hdr_info old;

	if (busy) {
		snprintf(msg, len, "%s is open as %s: close it first",
			 f->device, busy->name);
		return -EBUSY;
	}
	if (f->force || f->blank_checked)
		return 0;
	if (!hdr_read(f->device, f->header, &old, msg, len)) {
		snprintf(msg, len, "%s already holds cmek volume %s: "
			 "formatting destroys it; add --force to do so",
			 f->header ? f->header : f->device, old.uuid);
		hdr_info_free(&old);
		return -EEXIST;
	}
	if (hdr_probe(f->device, what, sizeof(what)) > 0) {
		snprintf(msg, len, "%s holds %s: formatting destroys it; add "
			 "--force to do so", f->device, what);
		return -EEXIST;
	}
	return 0;
}

int vol_format(struct daemon *d, const struct vol_format *f,
	       char uuid[CMEK_UUID_STR_LEN], char *msg, size_t len)
{
	const char *dev = f->device, *hdrf = f->header;
	const char *prov = f->provider, *key = f->key;
	struct cmek_error err = { 0 };
	struct cmek_binding b;
	struct cmek_provider *p;
	struct hdr_info h;
	uint8_t *dek, *mac_key, *wrapped = NULL;
	size_t wrapped_len = 0;
	uint64_t size;
	struct vol *busy;
	int ret;

	ret = format_refused(d, f, msg, len);
	if (ret)
		return ret;
	ret = device_size(dev, &size);
	if (ret) {
		snprintf(msg, len, "cannot size %s: %s", dev, strerror(-ret));
		return ret;
	}
	ret = vol_provider(d, prov, key, &p, msg, len);
	if (ret)
		return ret;

	memset(&h, 0, sizeof(h));
	if (f->uuid) {
		memcpy(h.uuid_bin, f->uuid, CMEK_UUID_LEN);
	} else if (cmek_uuid_generate(h.uuid_bin, &err)) {
		snprintf(msg, len, "cannot make a volume uuid: %s", err.msg);
		return -vol_cls_errno(err.cls);
	}
	cmek_uuid_unparse(h.uuid_bin, h.uuid);
	h.sector_size = f->sector_size;
	h.data_offset = f->data_offset >= 0 ? (uint64_t)f->data_offset :
			(uint64_t)-1;
	h.key_size = CMEK_KEY_SIZE_256;
	snprintf(b.volume_uuid, sizeof(b.volume_uuid), "%s", h.uuid);

	dek = cmek_secmem_alloc_locked(DEK_BUF_LEN);
	mac_key = cmek_secmem_alloc_locked(DEK_BUF_LEN);
	if (!dek || !mac_key) {
		cmek_secmem_free(dek);
		cmek_secmem_free(mac_key);
		snprintf(msg, len, "cannot allocate locked memory");
		return -ENOMEM;
	}
	ret = kms_generate(d, p, key, &b, dek, h.key_size, &wrapped,
			   &wrapped_len, &err);
	if (!ret && cmek_vol_mac_key(h.uuid_bin, dek, h.key_size, mac_key))
		ret = cmek_error_set(&err, CMEK_ERR_INVALID,
				     "cannot derive the header MAC key");
	busy = ret ? NULL : state_find_device(d, dev);
	if (busy || ret) {
		cmek_secmem_free(dek);
		cmek_secmem_free(mac_key);
		free(wrapped);
	}
	if (busy) {
		snprintf(msg, len, "%s was opened as %s while the KMS "
			 "answered: close it first", dev, busy->name);
		return -EBUSY;
	}
	if (ret) {
		audit_op(d, "format", NULL, prov, key, h.uuid, -EIO,
			 "device=%s error=\"%s\"", dev, audit_q(err.msg));
		snprintf(msg, len, "%s: cannot make a data key under %s: %s",
			 prov, key, err.msg);
		return -vol_cls_errno(err.cls);
	}
	h.nslots = 1;
	h.slots[0].index = 0;
	snprintf(h.slots[0].provider, sizeof(h.slots[0].provider), "%s", prov);
	snprintf(h.slots[0].key_ref, sizeof(h.slots[0].key_ref), "%s", key);
	h.slots[0].wrapped = wrapped;
	h.slots[0].wrapped_len = wrapped_len;
	ret = hdr_format(dev, hdrf, &h, mac_key, f->force, msg, len);
	if (!ret)
		trust_record(d, h.uuid_bin, dek, h.key_size, 1);
	cmek_secmem_free(dek);
	cmek_secmem_free(mac_key);
	hdr_info_free(&h);
	audit_op(d, "format", NULL, prov, key, h.uuid, ret,
		 "device=%s%s%s sector_size=%u%s%s", dev,
		 hdrf ? " header=" : "", hdrf ? hdrf : "", f->sector_size,
		 ret ? " error=" : "", ret ? msg : "");
	if (!ret)
		snprintf(uuid, CMEK_UUID_STR_LEN, "%s", h.uuid);
	return ret;
}

/* ---- open -------------------------------------------------------------- */

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
	ret = kernel(d)->get(d, h->uuid_bin, &ki);
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

/*
 * Make @v's mapping (its key is in the kernel): 0, or -errno with @msg; a
 * failed mapping takes the key back out of the kernel unless another
 * mapping uses it.
 */
static int map(struct daemon *d, struct vol *v, uint64_t sectors,
	       const char *params, bool read_only, char *msg, size_t len)
{
	char dm_uuid[160];
	int ret;

	/* "CMEK-" uuid "-" and as much of the name as fits */
	snprintf(dm_uuid, sizeof(dm_uuid), "CMEK-%s-%.*s", v->uuid,
		 (int)sizeof(dm_uuid) - 43, v->name);
	ret = kernel(d)->dm_create(v->name, dm_uuid, sectors, params,
				   read_only, msg, len);
	if (ret) {
		if (kernel(d)->dm_count_users(v->uuid, NULL) == 0)
			vol_revoke_key(d, v, "open-failed", REVOKE_FS_NONE);
		audit_op(d, "open", v, NULL, NULL, NULL, ret, "device=%s "
			 "error=\"%s\"", v->device, audit_q(msg));
	}
	return ret;
}

static void table_params(const struct vol_open *o, const struct hdr_info *h,
			 char *out, size_t len)
{
	struct cmek_dm_table t = {
		.uuid = h->uuid,
		.device = o->device,
		.offset = h->data_offset / 512,
		.sector_size = h->sector_size,
		.iv_large_sectors = h->iv_large_sectors,
		.iv_offset = h->iv_offset,
		.allow_discards = o->allow_discards,
		.key_wait_ms = o->key_wait_ms,
	};

	if (t.key_wait_ms < 0)
		t.key_wait_ms = 0;
	if (t.key_wait_ms > CMEK_MAX_KEY_WAIT_MS)
		t.key_wait_ms = CMEK_MAX_KEY_WAIT_MS;
	cmek_dm_table_params(&t, out, len);
}

/*
 * A mapping of that name exists: the same volume's (then its key is
 * restored) or another's (refused).
 */
static int reopen(struct daemon *d, const struct vol_open *o,
		  struct vol *kv, const struct hdr_info *h, char *msg,
		  size_t len)
{
	enum cmek_err_class cls;
	int ret;

	if (!kv || strcmp(kv->uuid, h->uuid) || strcmp(kv->device, o->device)) {
		snprintf(msg, len, "a device-mapper device named %s already "
			 "exists%s: choose another name or close it first",
			 o->name, kv ? " for another volume" : "");
		return -EEXIST;
	}
	ret = vol_push_header(d, kv, h, "reopen", PUSH_VERIFY, msg, len, &cls);
	if (ret)
		return -vol_errno(ret, cls);
	kv->revoked = false;
	kv->locked = false;
	kv->tampered = false;
	kv->lock_reason[0] = '\0';
	state_save(d);
	audit_op(d, "open", kv, NULL, NULL, NULL, 0,
		 "device=%s mapping=existing", o->device);
	return 0;
}

/* The mapping's length in sectors: 0 with *@sectors, or -errno, @msg. */
static int data_sectors(const struct vol_open *o, const struct hdr_info *h,
			uint64_t *sectors, char *msg, size_t len)
{
	uint64_t size, n;
	int ret;

	ret = device_size(o->device, &size);
	if (ret) {
		snprintf(msg, len, "cannot size %s: %s", o->device,
			 strerror(-ret));
		return ret;
	}
	if (o->header == NULL && h->data_offset == 0) {
		snprintf(msg, len, "header on %s says data starts at 0, over "
			 "the header itself", o->device);
		return -EINVAL;
	}
	n = size > h->data_offset ? (size - h->data_offset) / 512 : 0;
	if (h->data_size && h->data_size / 512 < n)
		n = h->data_size / 512;
	n -= n % (h->sector_size / 512);
	if (!n) {
		snprintf(msg, len, "%s has no room for data after the header "
			 "(data offset %" PRIu64 " bytes, device %" PRIu64
			 " bytes)", o->device, h->data_offset, size);
		return -ENOSPC;
	}
	*sectors = n;
	return 0;
}

int vol_open(struct daemon *d, const struct vol_open *o, struct vol **kv,
	     char *msg, size_t len)
{
	struct vol v = { .kms_state = -1, .slot = -1 };
	char u[CMEK_UUID_STR_LEN], params[PATH_MAX + 512], why[4096];
	enum cmek_err_class cls;
	struct hdr_info h;
	uint64_t sectors;
	int ret;

	ret = hdr_read(o->device, o->header, &h, msg, len);
	if (ret)
		return ret;
	if (o->want && memcmp(o->want_bin, h.uuid_bin, CMEK_UUID_LEN)) {
		snprintf(msg, len, "the header of %s is volume %s, not %s as "
			 "asked", o->header ? o->header : o->device, h.uuid,
			 o->want);
		audit_op(d, "open", NULL, NULL, NULL, h.uuid, -ESTALE,
			 "device=%s name=%s error=\"expected volume %s\"",
			 o->device, o->name, o->want);
		ret = -ESTALE;
		goto out;
	}
	*kv = state_find_name(d, o->name);
	if (*kv || !kernel(d)->dm_get_cmek(o->name, u, NULL, 0)) {
		ret = reopen(d, o, *kv, &h, msg, len);
		goto out;
	}
	*kv = state_find_device(d, o->device);
	if (*kv) {
		snprintf(msg, len, "%s is already open as %s", o->device,
			 (*kv)->name);
		ret = -EBUSY;
		goto out;
	}
	ret = data_sectors(o, &h, &sectors, msg, len);
	if (ret)
		goto out;

	snprintf(v.name, sizeof(v.name), "%s", o->name);
	snprintf(v.uuid, sizeof(v.uuid), "%s", h.uuid);
	memcpy(v.uuid_bin, h.uuid_bin, CMEK_UUID_LEN);
	snprintf(v.device, sizeof(v.device), "%s", o->device);
	if (o->header)
		snprintf(v.header, sizeof(v.header), "%s", o->header);
	if (o->keys)
		snprintf(v.keys, sizeof(v.keys), "%s", o->keys);

	/* One unwrap, push (wiped right after), then the mapping. */
	cls = CMEK_ERR_INVALID;
	ret = uuid_live(d, &h, msg, len);
	if (!ret)
		ret = vol_push_header(d, &v, &h, "open", PUSH_FRESH, msg, len,
				      &cls);
	if (ret) {
		audit_op(d, "open", &v, NULL, NULL, NULL, ret, "device=%s "
			 "error=\"%s\"", o->device, audit_q(msg));
		ret = -vol_errno(ret, cls);
		goto out;
	}
	table_params(o, &h, params, sizeof(params));
	ret = map(d, &v, sectors, params, o->read_only, why, sizeof(why));
	if (ret) {
		snprintf(msg, len, "%s (table: 0 %" PRIu64 " cmek %s)", why,
			 sectors, params);
		goto out;
	}
	*kv = state_add(d, &v);
	if (!*kv) {
		snprintf(msg, len, "out of memory");
		ret = -ENOMEM;
		goto out;
	}
	state_save(d);
	audit_op(d, "open", *kv, NULL, NULL, NULL, 0, "device=%s table=\"0 %"
		 PRIu64 " cmek %s\"", o->device, sectors, params);
out:
	hdr_info_free(&h);
	return ret;
}

/* ---- close, shred ------------------------------------------------------ */

/* Find a volume by name: known, or a cmek mapping we can describe. */
struct vol *vol_lookup(struct daemon *d, const char *name, struct vol *tmp)
{
	struct vol *v = state_find_name(d, name);
	char u[CMEK_UUID_STR_LEN];

	if (v)
		return v;
	memset(tmp, 0, sizeof(*tmp));
	if (!name || kernel(d)->dm_get_cmek(name, u, tmp->device,
					    sizeof(tmp->device)))
		return NULL;
	if (cmek_uuid_parse(u, tmp->uuid_bin))
		return NULL;
	snprintf(tmp->name, sizeof(tmp->name), "%s", name);
	cmek_uuid_unparse(tmp->uuid_bin, tmp->uuid);
	tmp->kms_state = -1;
	return tmp;
}

static bool known(struct daemon *d, const struct vol *v)
{
	return state_find_name(d, v->name) == v;
}

/*
 * Remove @v's mapping; if no other mapping uses the volume, revoke its
 * key; forget @v if cmekd knew it. 0, or -errno of the removal with @msg.
 */
int vol_close(struct daemon *d, struct vol *v, char *msg, size_t len)
{
	bool revoked = false;
	int ret, users;

	ret = kernel(d)->dm_remove(v->name, msg, len);
	if (ret && ret != -ENXIO && ret != -ENOENT) {
		audit_op(d, "close", v, NULL, NULL, NULL, ret, "error=\"%s\"",
			 audit_q(msg));
		return ret;
	}
	users = kernel(d)->dm_count_users(v->uuid, v->name);
	if (users == 0) {
		ret = vol_revoke_key(d, v, "close", REVOKE_FS_NONE);
		revoked = ret == 0;
	}
	audit_op(d, "close", v, NULL, NULL, NULL, 0, "key=%s",
		 revoked ? "revoked" : users > 0 ? "kept (other mappings)" :
		 "revoke failed");
	if (known(d, v)) {
		state_del(d, v);
		state_save(d);
	}
	return 0;
}

/*
 * Revoke @v's key, then destroy every key slot of its header, then remove
 * its mapping (*@removed says if that worked) and forget it. 0, or -errno
 * with @msg saying what was done.
 */
int vol_shred(struct daemon *d, struct vol *v, bool *removed, char *msg,
	      size_t len)
{
	char err[512];
	int ret;

	*removed = false;
	v->revoked = true;
	d->shred_seq++;
	ret = vol_revoke_key(d, v, "shred", REVOKE_FS_CONFIG);
	if (ret) {
		snprintf(msg, len, "revoking the kernel key failed (%s); "
			 "nothing was shredded", strerror(-ret));
		return ret;
	}
	ret = hdr_shred(v->device, v->header[0] ? v->header : NULL,
			v->uuid_bin, err, sizeof(err));
	audit_op(d, "shred", v, NULL, NULL, NULL, ret, "device=%s%s%s%s%s",
		 v->device, v->header[0] ? " header=" : "", v->header,
		 ret ? " error=" : "", ret ? err : "");
	if (ret) {
		if (known(d, v))
			state_save(d);
		snprintf(msg, len, "the key is revoked but the key slots could "
			 "not be destroyed: %s", err);
		return ret;
	}
	v->shredded = true;
	*removed = kernel(d)->dm_remove(v->name, err, sizeof(err)) == 0;
	if (known(d, v)) {
		if (*removed)
			state_del(d, v);
		state_save(d);
	}
	return 0;
}
