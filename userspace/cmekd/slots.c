// SPDX-License-Identifier: GPL-2.0
/*
 * Header updates: add and remove a key slot, upgrade a version 1 header,
 * rewrap the slots (asked for, or every rewrap_interval). Each update
 * unwraps the data key first, from a header this host trusts: it seals
 * what the update writes. No JSON here: the handlers (volume_ops.c) parse
 * the request and answer with what these return.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "cmekd.h"
#include "log.h"
#include "secmem.h"

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
	struct vol *v = state_find_device(d, dev);

	return v && !strcmp(v->uuid, uuid) ? v : NULL;
}

/* A detached header defaults to the one the open volume on @dev uses. */
static const char *default_header(struct daemon *d, const char *dev,
				  const char *hdrf)
{
	struct vol *v = state_find_device(d, dev);

	if (!hdrf && v && v->header[0])
		return v->header;
	return hdrf;
}

/*
 * A header update (slot add and remove, upgrade): the header as read, the
 * volume it belongs to (known, or described in @tmp), and, once
 * update_unwrap() worked, the data key and the MAC key that seals what
 * the update writes.
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

/* 0 with @u filled (update_done() it), or -errno with @msg. */
static int update_read(struct daemon *d, const char *dev, const char *hdrf,
		       struct update *u, char *msg, size_t len)
{
	int ret;

	memset(u, 0, sizeof(*u));
	u->used = -1;
	u->shred0 = d->shred_seq;
	u->dev = dev;
	ret = vol_check_path("device", dev, true, msg, len);
	if (!ret && hdrf)
		ret = vol_check_path("header", hdrf, true, msg, len);
	if (ret)
		return ret;
	u->hdrf = default_header(d, dev, hdrf);
	ret = hdr_read(u->dev, u->hdrf, &u->h, msg, len);
	if (ret)
		return ret;
	u->v = known_vol(d, u->dev, u->h.uuid);
	if (!u->v) {
		u->v = &u->tmp;
		u->tmp.kms_state = -1;
		u->tmp.slot = -1;
		snprintf(u->tmp.uuid, sizeof(u->tmp.uuid), "%s", u->h.uuid);
		snprintf(u->tmp.device, sizeof(u->tmp.device), "%s", u->dev);
	}
	return 0;
}

/*
 * The data key (@mode PUSH_CACHED: slot_policy rules as for a key-needed
 * push; PUSH_UPDATE: any slot that unwraps; never generate()) of a header
 * this host trusts, and its MAC key. A shred while the KMS answered
 * cancels the update. 0, or -errno with @msg and *@cls set.
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
				 &u->dek, &u->dek_len, &u->used, u->mac_key,
				 msg, msglen, cls);
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

static void update_result(const struct update *u, struct slot_result *res)
{
	snprintf(res->uuid, sizeof(res->uuid), "%s", u->h.uuid);
	res->active_slots = u->h.nslots;
	res->version = u->h.version;
	res->seq = u->auth.seq;
}

int vol_slot_add(struct daemon *d, const char *dev, const char *hdrf,
		 const char *prov, const char *key, struct slot_result *res,
		 char *msg, size_t len)
{
	struct cmek_error err = { 0 };
	enum cmek_err_class cls;
	struct cmek_binding b;
	struct cmek_provider *np;
	struct update u;
	uint8_t *wrapped = NULL;
	size_t wl = 0;
	int i, idx = -1, ret;
	char why[4096];

	ret = vol_provider(d, prov, key, &np, msg, len);
	if (ret)
		return ret;
	ret = update_read(d, dev, hdrf, &u, msg, len);
	if (ret)
		return ret;
	if (!vol_key_pinned(u.v, prov, key)) {
		snprintf(msg, len, "%s:%s is not among the keys the line of %s "
			 "in /etc/cmek/volumes pins (keys=)", prov, key,
			 u.v->name);
		ret = -EPERM;
		goto out;
	}
	for (i = 0; i < u.h.nslots; i++) {
		if (strcmp(u.h.slots[i].provider, prov) ||
		    strcmp(u.h.slots[i].key_ref, key))
			continue;
		snprintf(msg, len, "slot %d already wraps the data key of %s "
			 "under %s:%s", u.h.slots[i].index, u.h.uuid, prov,
			 key);
		ret = -EEXIST;
		goto out;
	}
	if (u.h.nslots >= HDR_SLOTS_MAX) {
		snprintf(msg, len, "every one of the %d key slots of %s is in "
			 "use: remove one first", HDR_SLOTS_MAX, u.dev);
		ret = -ENOSPC;
		goto out;
	}
	snprintf(b.volume_uuid, sizeof(b.volume_uuid), "%s", u.h.uuid);
	ret = update_unwrap(d, &u, "slot-add", PUSH_CACHED, false, why,
			    sizeof(why), &cls);
	if (ret) {
		snprintf(msg, len, "no key slot of %s unwraps the data key, so "
			 "no slot can be added: %s", u.dev, why);
		ret = -vol_errno(ret, cls);
		goto out;
	}
	ret = wrap_checked(d, np, key, &b, u.dek, u.dek_len, &wrapped, &wl,
			   &err);
	if (!ret && d->shred_seq != u.shred0) {
		snprintf(msg, len, "a volume was shredded while the KMS "
			 "answered: no slot added");
		ret = -ECANCELED;
		goto out;
	}
	if (ret) {
		audit_op(d, "slot-add", u.v, prov, key, u.h.uuid, -EIO,
			 "device=%s error=\"%s\"", u.dev, audit_q(err.msg));
		snprintf(msg, len, "cannot wrap the data key under %s:%s: %s",
			 prov, key, err.msg);
		ret = -vol_cls_errno(err.cls);
		goto out;
	}
	ret = hdr_add_slot(u.dev, u.hdrf, &u.auth, prov, key, wrapped, wl,
			   &idx, msg, len);
	audit_op(d, "slot-add", u.v, prov, key, u.h.uuid, ret,
		 "device=%s%s%s slot=%d from_slot=%d%s%s", u.dev,
		 u.hdrf ? " header=" : "", u.hdrf ? u.hdrf : "", idx,
		 u.h.slots[u.used].index, ret ? " error=" : "",
		 ret ? msg : "");
	if (ret)
		goto out;
	update_written(d, &u);
	update_result(&u, res);
	res->slot = idx;
	res->from_slot = u.h.slots[u.used].index;
	res->active_slots++;
out:
	free(wrapped);
	update_done(&u);
	return ret;
}

int vol_slot_remove(struct daemon *d, const char *dev, const char *hdrf,
		    int idx, struct slot_result *res, char *msg, size_t len)
{
	char why[4096], was[CMEK_VOL_PROVIDER_MAX + CMEK_VOL_KEYREF_MAX + 2] = "";
	enum cmek_err_class cls;
	struct update u;
	int i, ret;

	ret = update_read(d, dev, hdrf, &u, msg, len);
	if (ret)
		return ret;
	for (i = 0; i < u.h.nslots; i++)
		if (u.h.slots[i].index == idx)
			snprintf(was, sizeof(was), "%s:%s",
				 u.h.slots[i].provider, u.h.slots[i].key_ref);
	/* The header is sealed with a key only the data key gives. */
	ret = update_unwrap(d, &u, "slot-remove", PUSH_UPDATE, false, why,
			    sizeof(why), &cls);
	if (ret) {
		snprintf(msg, len, "no key slot of %s unwraps the data key, "
			 "which seals the header, so no slot can be removed: "
			 "%s", u.dev, why);
		ret = -vol_errno(ret, cls);
		goto out;
	}
	ret = hdr_remove_slot(u.dev, u.hdrf, &u.auth, idx, why, sizeof(why));
	audit_op(d, "slot-remove", u.v, NULL, NULL, u.h.uuid, ret,
		 "device=%s slot=%d was=%s%s%s", u.dev, idx,
		 was[0] ? was : "-", ret ? " error=" : "", ret ? why : "");
	if (ret) {
		snprintf(msg, len, "%s: %s", u.dev, why);
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
	update_result(&u, res);
	res->slot = idx;
	res->active_slots--;
out:
	update_done(&u);
	return ret;
}

/*
 * A version 1 header carries no MAC: rewrite it, unchanged, as version 2
 * sealed with the data key's MAC key. The data key must be the one this
 * host recorded for the volume, if it recorded one (trust_check()).
 */
int vol_upgrade(struct daemon *d, const char *dev, const char *hdrf,
		struct slot_result *res, char *msg, size_t len)
{
	enum cmek_err_class cls;
	struct update u;
	char why[4096];
	int ret;

	ret = update_read(d, dev, hdrf, &u, msg, len);
	if (ret)
		return ret;
	ret = update_unwrap(d, &u, "upgrade", PUSH_UPDATE, true, why,
			    sizeof(why), &cls);
	if (ret) {
		snprintf(msg, len, "%s: %s", u.dev, why);
		ret = -vol_errno(ret, cls);
		goto out;
	}
	if (u.h.version != CMEK_VOL_VERSION) {
		ret = hdr_upgrade(u.dev, u.hdrf, &u.auth, why, sizeof(why));
		audit_op(d, "upgrade", u.v, NULL, NULL, u.h.uuid, ret,
			 "device=%s from_version=%u%s%s", u.dev, u.h.version,
			 ret ? " error=" : "", ret ? why : "");
		if (ret) {
			snprintf(msg, len, "%s: %s", u.dev, why);
			goto out;
		}
		update_written(d, &u);
	}
	update_result(&u, res);
out:
	update_done(&u);
	return ret;
}

/* ---- rewrap ----------------------------------------------------------- */

void vol_refresh_slots(struct vol *v)
{
	char msg[512];
	struct hdr_info h;

	if (hdr_read(v->device, v->header[0] ? v->header : NULL, &h, msg,
		     sizeof(msg)))
		return;
	if (!strcmp(h.uuid, v->uuid))
		vol_set_slots(v, &h);
	hdr_info_free(&h);
}

/*
 * Every slot under its key's current version, or, with @nprov/@nkey, the
 * slot cmekd opened with moved to that key. Stops at the first failure:
 * slots already done stay done, each update being crash-safe on its own.
 */
int vol_rewrap(struct daemon *d, struct vol *v, const char *nprov,
	       const char *nkey, char *msg, size_t len)
{
	unsigned int shred0 = d->shred_seq;
	struct cmek_error err = { 0 };
	enum cmek_err_class cls;
	struct cmek_binding b;
	struct hdr_auth auth;
	struct hdr_info h;
	uint8_t *dek = NULL, *mac_key;
	size_t dek_len = 0;
	int i, ret, done = 0, used = -1;

	ret = vol_read_header(v, &h, msg, len);
	if (ret)
		return ret;
	snprintf(b.volume_uuid, sizeof(b.volume_uuid), "%s", h.uuid);
	/*
	 * The data key first, from whichever slot works: it seals the header
	 * each update writes, and is wrapped under keys no rewrap() serves.
	 */
	mac_key = cmek_secmem_alloc_locked(DEK_BUF_LEN);
	ret = mac_key ? vol_unwrap_trusted(d, v, &h, "rewrap", PUSH_UPDATE, false,
				       &dek, &dek_len, &used, mac_key, msg,
				       len, &cls) : -ENOMEM;
	if (ret) {
		cmek_secmem_free(mac_key);
		hdr_info_free(&h);
		return ret;
	}
	memcpy(auth.uuid, h.uuid_bin, CMEK_UUID_LEN);
	auth.mac_key = mac_key;

	for (i = 0; i < h.nslots; i++) {
		struct hdr_slot *s = &h.slots[i];
		const char *to_prov = s->provider, *to_key = s->key_ref;
		struct cmek_provider *p, *np;
		uint8_t *nw = NULL;
		size_t nwl = 0;

		/* Moving to another key: only the slot cmekd opened with. */
		if (nprov || nkey) {
			if (s->index != v->slot)
				continue;
			to_prov = nprov ? nprov : s->provider;
			to_key = nkey ? nkey : s->key_ref;
		}
		p = cmek_config_provider(&d->cfg, s->provider, &err);
		np = p && strcmp(to_prov, s->provider) ?
		     cmek_config_provider(&d->cfg, to_prov, &err) : p;
		if (np && cmek_config_key_trusted(&d->cfg, to_prov, to_key,
						  &err))
			np = NULL;
		if (!p || !np) {
			ret = -ENOPROTOOPT;
			snprintf(msg, len, "slot %d: %s", s->index, err.msg);
			break;
		}
		memset(&err, 0, sizeof(err));
		if (np == p && p->ops->rewrap)
			ret = kms_rewrap(d, p, s->key_ref, to_key, &b,
					 s->wrapped, s->wrapped_len, &nw, &nwl,
					 &err);
		else
			ret = kms_wrap(d, np, to_key, &b, dek, dek_len, &nw,
				       &nwl, &err);
		if (ret) {
			ret = -vol_cls_errno(err.cls);
			snprintf(msg, len, "slot %d (%s:%.200s): %.400s",
				 s->index, s->provider, s->key_ref, err.msg);
			audit_op(d, "rewrap", v, s->provider, s->key_ref, NULL,
				 ret, "slot=%d error=\"%s\"", s->index,
				 audit_q(err.msg));
			break;
		}
		/* A shred while the KMS answered is final: write nothing. */
		if (d->shred_seq != shred0 || v->shredded) {
			free(nw);
			ret = -ECANCELED;
			snprintf(msg, len, "a volume was shredded while the KMS "
				 "answered: nothing written");
			break;
		}
		ret = hdr_update_slot(v->device, v->header[0] ? v->header :
				      NULL, &auth, s->index, to_prov, to_key,
				      nw, nwl, msg, len);
		free(nw);
		if (!ret)
			trust_written(d, h.uuid_bin, auth.seq);
		audit_op(d, "rewrap", v, to_prov, to_key, NULL, ret,
			 "slot=%d from=%s:%s%s%s", s->index, s->provider,
			 s->key_ref, ret ? " error=" : "", ret ? msg : "");
		if (ret)
			break;
		if (s->index == v->slot) {
			snprintf(v->provider, sizeof(v->provider), "%s",
				 to_prov);
			snprintf(v->key_ref, sizeof(v->key_ref), "%s", to_key);
		}
		done++;
	}
	cmek_secmem_free(dek);
	cmek_secmem_free(mac_key);
	hdr_info_free(&h);
	if (done) {
		vol_refresh_slots(v);
		state_save(d);
	}
	if (ret && done) {
		size_t n = strlen(msg);

		snprintf(msg + n, len - n, " (earlier slots were rewrapped)");
	}
	if (!ret && !done) {
		snprintf(msg, len, "no key slot to rewrap");
		ret = -ENOENT;
	}
	return ret ? ret : done;
}


/*
 * KMS keys rotate (AWS yearly, GCP and Azure on a schedule); old versions
 * keep decrypting, but a customer who retires them expects every wrap to
 * move on. Rewrapping each volume once per rewrap_interval keeps the
 * header within one interval of the key's current version, whatever the
 * KMS, at one rewrap per volume per interval. A failure is retried after
 * a tenth of the interval (at least a check_interval), not every tick.
 */
void auto_rewrap(struct daemon *d, time_t now)
{
	long every = d->cfg.rewrap_interval, retry;
	char msg[CMEK_ERRMSG_MAX + 256];
	struct vol **vs;
	size_t i, n;
	int ret;

	if (every <= 0)
		return;
	retry = every / 10 > (long)d->cfg.check_interval ?
		every / 10 : (long)d->cfg.check_interval;
	vs = state_snapshot(d, &n);
	for (i = 0; i < n; i++) {
		struct vol *v = vs[i];

		if (v->shredded || v->revoked || v->locked || v->gone)
			continue;
		if (!v->next_rewrap) {
			v->next_rewrap = now + every;
			continue;
		}
		if (now < v->next_rewrap)
			continue;
		ret = vol_rewrap(d, v, NULL, NULL, msg, sizeof(msg));
		if (ret < 0) {
			log_warn("%s (%s): automatic rewrap failed, next try "
				 "in %ld s: %s", v->name, v->uuid, retry, msg);
			v->next_rewrap = now + retry;
		} else {
			log_info("%s (%s): automatic rewrap of %d key slot%s",
				 v->name, v->uuid, ret, ret == 1 ? "" : "s");
			v->next_rewrap = now + every;
		}
		state_save(d);
	}
	free(vs);
}

