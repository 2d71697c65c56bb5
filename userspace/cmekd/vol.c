// SPDX-License-Identifier: GPL-2.0
/*
 * The volume logic: push a volume's key (unwrap from its header's slots,
 * check what the host recorded, set it in the kernel), revoke it, adopt a
 * mapping, resynchronise with the kernel's key table, rewrap the slots.
 * The control socket's handlers (volume_ops.c), the events and the watch
 * call these; nothing here speaks the socket's JSON.
 *
 * Key hygiene: a DEK exists in plaintext only in a
 * cmek_secmem_alloc_locked(DEK_BUF_LEN) buffer (locked, not dumpable), from
 * the provider's unwrap until the netlink push returns, then it is wiped.
 * It is never logged.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/rand.h>

#include "cmekd.h"
#include "log.h"
#include "secmem.h"
#include "header.h"
#include "voltab.h"

int vol_nl_need(struct daemon *d, char *msg, size_t len)
{
	int ret = kernel(d)->nl_ready(d);

	if (ret)
		snprintf(msg, len, "the dm-cmek kernel module is not "
			 "available (%s): load it with 'modprobe dm-cmek'",
			 strerror(-ret));
	return ret;
}

/* ---- the two key paths ------------------------------------------------ */

/* A provider failure as an errno: retry later / KMS said no / bad input. */
int vol_cls_errno(enum cmek_err_class cls)
{
	return cls == CMEK_ERR_TRANSIENT ? EAGAIN :
	       cls == CMEK_ERR_DEFINITIVE ? EKEYREVOKED : EKEYREJECTED;
}

static __attribute__((format(printf, 3, 4)))
void msg_add(char *msg, size_t len, const char *fmt, ...)
{
	size_t o = strlen(msg);
	va_list ap;

	if (o + 2 >= len)
		return;
	if (o) {
		memcpy(msg + o, "; ", 3);
		o += 2;
	}
	va_start(ap, fmt);
	vsnprintf(msg + o, len - o, fmt, ap);
	va_end(ap);
}

/* The slot @v used last time first, then the others in header order. */
static void slot_order(const struct vol *v, const struct hdr_info *h,
		       int order[HDR_SLOTS_MAX])
{
	int i, n = 0, pref = -1;

	for (i = 0; i < h->nslots; i++)
		if (h->slots[i].index == v->slot && v->provider[0] &&
		    !strcmp(h->slots[i].provider, v->provider))
			pref = i;
	if (pref >= 0)
		order[n++] = pref;
	for (i = 0; i < h->nslots; i++)
		if (i != pref)
			order[n++] = i;
}

/*
 * Under slot_policy any, refuse when the watch last found one of the
 * slots' keys revoked: a revocation is not worked around through another
 * slot. Returns -EKEYREVOKED with @msg set, or 0.
 */
static int cached_refusal(struct daemon *d, const struct hdr_info *h,
			  char *msg, size_t msglen)
{
	time_t now = time(NULL);
	char what[320];
	int i, ret = 0;

	if (d->cfg.slot_policy != CMEK_SLOT_POLICY_ANY)
		return 0;
	for (i = 0; i < h->nslots; i++) {
		const struct hdr_slot *s = &h->slots[i];
		const struct kms_key *k = kms_key_get(d, s->provider,
						      s->key_ref, s->key_id,
						      false);

		if (kms_key_verdict(d, k, now) != CMEK_SLOT_BAD)
			continue;
		kms_key_describe(d, k, now, what, sizeof(what));
		msg_add(msg, msglen, "slot %d (%s:%.200s): %s at the last "
			"check", s->index, s->provider, s->key_ref, what);
		ret = -EKEYREVOKED;
	}
	if (ret)
		msg_add(msg, msglen, "slot_policy any refuses the key while "
			"one key slot's key is revoked (re-enable it, remove "
			"the slot, or set slot_policy = all)");
	return ret;
}

/*
 * A volume opened from a line of /etc/cmek/volumes with keys= unwraps only
 * with those: "PROVIDER:PATTERN ...", fnmatch() on "provider:key_ref".
 */
bool vol_key_pinned(const struct vol *v, const char *provider,
			   const char *key_ref)
{
	return cmek_voltab_keys_allow(v->keys, provider, key_ref);
}

/*
 * May a slot's unwrap name @key: the volume's keys= pins and the
 * section's allow_keys. Refusals are audited.
 */
static bool key_trusted(struct daemon *d, struct vol *v,
			const struct hdr_info *h, const struct hdr_slot *c,
			const char *why, const char *key,
			struct cmek_error *err)
{
	if (!vol_key_pinned(v, c->provider, key))
		cmek_error_set(err, CMEK_ERR_INVALID, "%s:%.300s is not among "
			       "the keys the volume's line of "
			       "/etc/cmek/volumes pins (keys=)", c->provider,
			       key);
	else if (!cmek_config_key_trusted(&d->cfg, c->provider, key, err))
		return true;
	audit_op(d, "unwrap", v, c->provider, c->key_ref, h->uuid, -EPERM,
		 "why=%s slot=%d error=\"%s\"", why, c->index,
		 audit_q(err->msg));
	return false;
}

/*
 * Unwrap @h's DEK into @dek from the first slot that works, in
 * slot_order(). A transient or invalid failure moves on to the next slot;
 * so does a definitive one under slot_policy all, where a slot the watch
 * found revoked is not even asked. Under "any" a definitive failure stops
 * everything. On failure @msg holds every slot's error and *@cls the most
 * hopeful class (transient if any slot may work later).
 */
static int unwrap_dek(struct daemon *d, struct vol *v,
		      const struct hdr_info *h, const char *why,
		      enum push_mode mode, uint8_t *dek, size_t *dek_len,
		      int *used, char *msg, size_t msglen,
		      enum cmek_err_class *cls)
{
	bool any = d->cfg.slot_policy == CMEK_SLOT_POLICY_ANY &&
		   mode != PUSH_UPDATE;
	bool transient = false, definitive = false;
	int order[HDR_SLOTS_MAX], i, ret;
	struct cmek_binding b;
	time_t now = time(NULL);

	msg[0] = '\0';
	*cls = CMEK_ERR_INVALID;
	if (!h->nslots) {
		snprintf(msg, msglen, "the header of %s has no key slot",
			 v->device);
		return -ENOKEY;
	}
	if (mode == PUSH_CACHED && cached_refusal(d, h, msg, msglen)) {
		*cls = CMEK_ERR_DEFINITIVE;
		return -EKEYREVOKED;
	}
	snprintf(b.volume_uuid, sizeof(b.volume_uuid), "%s", h->uuid);
	slot_order(v, h, order);
	for (i = 0; i < h->nslots; i++) {
		const struct hdr_slot *c = &h->slots[order[i]];
		struct cmek_error err = { 0 };
		struct cmek_provider *p;

		if (!any && mode == PUSH_CACHED &&
		    kms_key_verdict(d, kms_key_get(d, c->provider, c->key_ref,
						   c->key_id, false), now) ==
		    CMEK_SLOT_BAD) {
			msg_add(msg, msglen, "slot %d (%s:%.200s): skipped, "
				"its key was revoked at the last check",
				c->index, c->provider, c->key_ref);
			definitive = true;
			continue;
		}
		p = cmek_config_provider(&d->cfg, c->provider, &err);
		if (p && (!key_trusted(d, v, h, c, why, c->key_ref, &err) ||
			  (p->ops->unwrap_by_slot_key && c->key_id[0] &&
			   strcmp(c->key_id, c->key_ref) &&
			   !key_trusted(d, v, h, c, why, c->key_id, &err))))
			p = NULL;
		if (!p) {
			msg_add(msg, msglen, "slot %d: %.400s", c->index,
				err.msg);
			continue;
		}
		*dek_len = 0;
		if (kms_unwrap(d, p, c->key_ref, &b, c->wrapped,
			       c->wrapped_len, dek, dek_len, &err)) {
			explicit_bzero(dek, CMEK_DEK_MAX);
			ret = -vol_cls_errno(err.cls);
			msg_add(msg, msglen, "slot %d (%s:%.200s): unwrap "
				"failed: %.400s", c->index, c->provider,
				c->key_ref, err.msg[0] ? err.msg :
				"provider error");
			audit_op(d, "unwrap", v, c->provider, c->key_ref,
				 h->uuid, ret, "why=%s slot=%d error=\"%s\"",
				 why, c->index, audit_q(err.msg));
			transient |= err.cls == CMEK_ERR_TRANSIENT;
			if (err.cls != CMEK_ERR_DEFINITIVE)
				continue;
			definitive = true;
			if (!any)
				continue;
			if (i + 1 < h->nslots)
				msg_add(msg, msglen, "slot_policy any does not "
					"try the other key slots when the KMS "
					"refuses one");
			break;
		}
		if (*dek_len != h->key_size ||
		    (*dek_len != CMEK_KEY_SIZE_128 &&
		     *dek_len != CMEK_KEY_SIZE_256)) {
			explicit_bzero(dek, CMEK_DEK_MAX);
			msg_add(msg, msglen, "slot %d: unwrapped key has %zu "
				"bytes, the header says %u", c->index,
				*dek_len, h->key_size);
			continue;
		}
		*used = order[i];
		*cls = CMEK_ERR_NONE;
		return 0;
	}
	*cls = transient ? CMEK_ERR_TRANSIENT :
	       definitive ? CMEK_ERR_DEFINITIVE : CMEK_ERR_INVALID;
	return -vol_cls_errno(*cls);
}

/*
 * unwrap_dek(), then trust_check(): 0 with *@dek the data key of a header
 * this host trusts (a cmek_secmem_alloc_locked(DEK_BUF_LEN) buffer, the
 * caller's to cmek_secmem_free()), and its MAC key in @mac_key if not NULL
 * (CMEK_VOL_MAC_KEY_LEN bytes of the caller's locked memory); else -errno
 * with @msg and *@cls set. A trust
 * refusal is definitive: retrying will not change what is on the disk.
 */
int vol_unwrap_trusted(struct daemon *d, struct vol *v,
		       const struct hdr_info *h, const char *why,
		       enum push_mode mode, bool legacy_ok, uint8_t **dek,
		       size_t *dek_len, int *used, uint8_t *mac_key,
		       char *msg, size_t msglen, enum cmek_err_class *cls)
{
	uint8_t *k = cmek_secmem_alloc_locked(DEK_BUF_LEN), *mk = mac_key ? mac_key : cmek_secmem_alloc_locked(DEK_BUF_LEN);
	int ret;

	*dek = NULL;
	if (!k || !mk) {
		snprintf(msg, msglen, "cannot allocate locked memory");
		*cls = CMEK_ERR_TRANSIENT;
		ret = -ENOMEM;
		goto out;
	}
	/* Before the unwrap: an open that must wait costs no KMS call. */
	ret = trust_ready(d, msg, msglen);
	if (ret) {
		*cls = ret == -EAGAIN ? CMEK_ERR_TRANSIENT : CMEK_ERR_INVALID;
		goto out;
	}
	ret = unwrap_dek(d, v, h, why, mode, k, dek_len, used, msg, msglen,
			 cls);
	if (ret)
		goto out;
	ret = trust_check(d, v, h, k, *dek_len, why, legacy_ok, mk, msg,
			  msglen);
	if (ret) {
		*cls = CMEK_ERR_DEFINITIVE;
		goto out;
	}
	*dek = k;
	k = NULL;
out:
	cmek_secmem_free(k);
	if (!mac_key)
		cmek_secmem_free(mk);
	return ret;
}

/*
 * Open under slot_policy any: the slot that unwrapped is fine, but the
 * customer may have revoked another slot's key. Ask the KMS (once per
 * distinct key) before the key reaches the kernel. A KMS unreachable for
 * less than unreachable_grace does not refuse an open (the watch deals
 * with it as with any volume); one unreachable for longer does, as its
 * verdict is then bad.
 */
static bool same_object(const struct hdr_slot *a, const struct hdr_slot *b)
{
	return !strcmp(a->provider, b->provider) &&
	       !strcmp(a->key_id, b->key_id) &&
	       (a->key_id[0] || !strcmp(a->key_ref, b->key_ref));
}

static int verify_slots(struct daemon *d, const struct hdr_info *h,
			int used, char *msg, size_t msglen)
{
	const struct hdr_slot *u = &h->slots[used];
	time_t now = time(NULL);
	char what[320];
	int i, j, ret = 0;

	if (d->cfg.slot_policy != CMEK_SLOT_POLICY_ANY)
		return 0;
	msg[0] = '\0';
	for (i = 0; i < h->nslots; i++) {
		const struct hdr_slot *s = &h->slots[i];
		struct kms_key *k;
		bool seen = same_object(s, u);

		for (j = 0; j < i && !seen; j++)
			seen = same_object(s, &h->slots[j]);
		if (seen)
			continue;
		k = kms_key_get(d, s->provider, s->key_ref, s->key_id, true);
		if (!k) {
			snprintf(msg, msglen, "out of memory");
			return -ENOMEM;
		}
		k = kms_key_ask(d, k, now);
		if (kms_key_verdict(d, k, now) != CMEK_SLOT_BAD)
			continue;
		kms_key_describe(d, k, now, what, sizeof(what));
		msg_add(msg, msglen, "slot %d (%s:%.200s): %s", s->index,
			s->provider, s->key_ref, what);
		ret = -EKEYREVOKED;
	}
	if (ret)
		msg_add(msg, msglen, "slot_policy any refuses to open a volume "
			"while one key slot's key is revoked (re-enable it, "
			"remove the slot, or set slot_policy = all)");
	return ret;
}

int vol_push_header(struct daemon *d, struct vol *v, const struct hdr_info *h,
		    const char *why, enum push_mode mode, char *msg,
		    size_t msglen, enum cmek_err_class *cls)
{
	unsigned int epoch = v->epoch, all = d->revoke_all_seq;
	unsigned int shred = d->shred_seq;
	const struct hdr_slot *s;
	struct cmek_key_info ki;
	size_t dek_len = 0;
	uint8_t *dek;
	int used = -1, ret;

	*cls = CMEK_ERR_NONE;
	ret = vol_nl_need(d, msg, msglen);
	if (ret)
		return ret;
	ret = vol_unwrap_trusted(d, v, h, why, mode, false, &dek, &dek_len,
				 &used, NULL, msg, msglen, cls);
	if (ret)
		return ret;
	vol_set_slots(v, h);
	if (mode != PUSH_CACHED) {
		ret = verify_slots(d, h, used, msg, msglen);
		if (ret) {
			*cls = CMEK_ERR_DEFINITIVE;
			audit_op(d, "push", v, h->slots[used].provider,
				 h->slots[used].key_ref, h->uuid, ret,
				 "why=%s slot=%d error=\"%s\"", why,
				 h->slots[used].index, audit_q(msg));
		}
	}
	/*
	 * A revoke made while the KMS answered wins: the key is not pushed.
	 * A shred (of any volume: this one may have another entry) makes it
	 * start again, from the header as the shred left it.
	 */
	if (!ret && d->drain_events)
		d->drain_events(d);
	if (!ret && (v->gone || v->epoch != epoch ||
		     d->revoke_all_seq != all || d->shred_seq != shred)) {
		ret = -ECANCELED;
		*cls = d->shred_seq != shred && v->epoch == epoch && !v->gone &&
		       d->revoke_all_seq == all ? CMEK_ERR_TRANSIENT :
		       CMEK_ERR_DEFINITIVE;
		snprintf(msg, msglen, "%s (%s) was %s while its key was being "
			 "unwrapped: not pushed", v->name, h->uuid,
			 v->gone ? "closed" : *cls == CMEK_ERR_TRANSIENT ?
			 "shredded, or another volume was," : "revoked");
		audit_op(d, "push", v, h->slots[used].provider,
			 h->slots[used].key_ref, h->uuid, ret,
			 "why=%s slot=%d error=\"%s\"", why,
			 h->slots[used].index, audit_q(msg));
	}
	if (ret) {
		cmek_secmem_free(dek);
		return ret;
	}
	s = &h->slots[used];
	ret = kernel(d)->set_key(d, h->uuid_bin, dek, dek_len,
				 mode == PUSH_FRESH ? 0 : CMEK_SET_F_REPLACE);
	cmek_secmem_free(dek);		/* wiped right after the push */
	if (ret) {
		snprintf(msg, msglen, "the kernel refused the key: %s%s%s",
			 strerror(-ret), kernel(d)->errmsg(d)[0] ? ": " : "",
			 kernel(d)->errmsg(d));
		audit_op(d, "push", v, s->provider, s->key_ref, h->uuid, ret,
			 "why=%s slot=%d error=\"%s\"", why, s->index,
			 audit_q(msg));
		return ret;
	}
	nl_expect_event(d, CMEK_CMD_EVENT_KEY_SET, h->uuid_bin);
	if (!kernel(d)->get(d, h->uuid_bin, &ki))
		v->generation = ki.generation;
	v->slot = s->index;
	snprintf(v->provider, sizeof(v->provider), "%s", s->provider);
	snprintf(v->key_ref, sizeof(v->key_ref), "%s", s->key_ref);
	audit_op(d, "push", v, NULL, NULL, h->uuid, 0,
		 "why=%s slot=%d generation=%" PRIu64 " key_bits=%zu", why,
		 s->index, v->generation, dek_len * 4);
	return 0;
}

int vol_push_key(struct daemon *d, struct vol *v, const char *why,
		 char *msg, size_t msglen, enum cmek_err_class *cls)
{
	struct hdr_info h;
	int ret;

	*cls = CMEK_ERR_NONE;
	ret = hdr_read(v->device, v->header[0] ? v->header : NULL, &h, msg,
		       msglen);
	if (ret) {
		*cls = CMEK_ERR_INVALID;
		return ret;
	}
	if (strcmp(h.uuid, v->uuid)) {
		snprintf(msg, msglen, "the header on %s now belongs to volume "
			 "%s, not %s", v->device, h.uuid, v->uuid);
		hdr_info_free(&h);
		*cls = CMEK_ERR_INVALID;
		return -ESTALE;
	}
	ret = vol_push_header(d, v, &h, why, PUSH_CACHED, msg, msglen, cls);
	hdr_info_free(&h);
	return ret;
}

struct push_job {
	struct vol *v;
	const char *why;
};

static void push_job(struct daemon *d, void *arg)
{
	struct push_job *pj = arg;
	struct vol *v = pj->v;
	enum cmek_err_class cls;
	char msg[CMEK_ERRMSG_MAX + 128];

	if (v->gone || v->revoked || v->locked || v->shredded) {
		v->need_push = false;
	} else if (vol_push_key(d, v, pj->why, msg, sizeof(msg), &cls)) {
		v->need_push = cls == CMEK_ERR_TRANSIENT && !v->gone;
		log_err("%s for %s (%s): %s%s", pj->why, v->name, v->uuid, msg,
			v->need_push ? " (will retry)" : "");
	} else {
		v->need_push = false;
	}
	v->pushing = false;
	free(pj);
}

void vol_push_later(struct daemon *d, struct vol *v, const char *why)
{
	struct push_job *pj;

	v->need_push = true;
	if (v->pushing)
		return;
	pj = malloc(sizeof(*pj));
	if (!pj)
		return;		/* need_push: events_retry() tries again */
	*pj = (struct push_job){ .v = v, .why = why };
	v->pushing = true;
	if (job_start(d, JOB_OWN, push_job, pj)) {
		v->pushing = false;
		free(pj);
	}
}

int vol_revoke_key(struct daemon *d, struct vol *v, const char *why,
		   enum revoke_fs fs)
{
	char msg[256], fsd[1280] = "";
	int ret;

	v->epoch++;
	vols_revoked(d, v->uuid_bin);
	ret = vol_nl_need(d, msg, sizeof(msg));
	if (ret)
		return ret;
	ret = kernel(d)->revoke(d, v->uuid_bin);
	if (!ret)
		nl_expect_event(d, CMEK_CMD_EVENT_KEY_REVOKED, v->uuid_bin);
	if (ret == -ENOKEY || ret == -ENOENT)
		ret = 0;	/* nothing to wipe: already gone */
	if (!ret)
		fs_on_revoke(d, v->uuid, fs, fsd, sizeof(fsd));
	audit_op(d, "revoke", v, NULL, NULL, NULL, ret, "why=%s%s%s%s", why,
		 ret ? " error=" : "", ret ? strerror(-ret) : "", fsd);
	return ret;
}

struct vol *vol_adopt(struct daemon *d, const char *dm_name,
		      const uint8_t uuid[CMEK_UUID_LEN])
{
	char u[CMEK_UUID_STR_LEN], dev[PATH_MAX], msg[512];
	struct hdr_info h;
	struct vol v = { .kms_state = -1, .slot = -1 };
	struct vol *nv;

	cmek_uuid_unparse(uuid, u);
	if (kernel(d)->dm_get_cmek(dm_name, NULL, dev, sizeof(dev))) {
		log_info("key needed for unknown volume %s (%s): no such "
			 "cmek mapping", u, dm_name);
		return NULL;
	}
	if (hdr_read(dev, NULL, &h, msg, sizeof(msg))) {
		log_notice("key needed for unknown volume %s on %s (mapping "
			   "%s): no cmek header there (%s); open it with "
			   "'cmekctl open --header FILE' instead", u, dev,
			   dm_name, msg);
		return NULL;
	}
	if (memcmp(h.uuid_bin, uuid, CMEK_UUID_LEN) || !h.nslots) {
		log_notice("mapping %s names volume %s but the header on %s "
			   "is volume %s: not adopted", dm_name, u, dev,
			   h.uuid);
		hdr_info_free(&h);
		return NULL;
	}
	snprintf(v.name, sizeof(v.name), "%s", dm_name);
	snprintf(v.uuid, sizeof(v.uuid), "%s", h.uuid);
	memcpy(v.uuid_bin, h.uuid_bin, CMEK_UUID_LEN);
	snprintf(v.device, sizeof(v.device), "%s", dev);
	snprintf(v.provider, sizeof(v.provider), "%s", h.slots[0].provider);
	snprintf(v.key_ref, sizeof(v.key_ref), "%s", h.slots[0].key_ref);
	v.slot = h.slots[0].index;
	vol_set_slots(&v, &h);
	hdr_info_free(&h);
	nv = state_add(d, &v);
	if (nv) {
		audit_op(d, "adopt", nv, NULL, NULL, NULL, 0,
			 "why=key-needed device=%s", dev);
		state_save(d);
	}
	return nv;
}

static int adopt_cb(const char *name, const char *uuid, dev_t dev,
		    void *data)
{
	struct daemon *d = data;
	uint8_t u[CMEK_UUID_LEN];

	if (state_find_name(d, name) || cmek_uuid_parse(uuid, u))
		return 0;
	if (vol_adopt(d, name, u))
		log_notice("found cmek mapping %s (volume %s) that cmekd did "
			   "not know: adopted", name, uuid);
	return 0;
}

void daemon_resync(struct daemon *d)
{
	size_t i = 0;

	if (kernel(d)->nl_ready(d))
		return;
	/* Mappings made while cmekd was away (or whose state was lost). */
	kernel(d)->dm_for_each_cmek(adopt_cb, d);
	while (i < d->nvols) {
		struct vol *v = d->vols[i];
		struct cmek_key_info ki;
		char u[CMEK_UUID_STR_LEN];
		int ret;

		ret = kernel(d)->dm_get_cmek(v->name, u, NULL, 0);
		if (ret || strcasecmp(u, v->uuid)) {
			log_notice("%s (%s): mapping is gone; forgetting it",
				   v->name, v->uuid);
			state_del(d, v);
			state_save(d);
			continue;
		}
		ret = kernel(d)->get(d, v->uuid_bin, &ki);
		if (!ret && ki.state == CMEK_KEY_MISSING && !v->revoked &&
		    !v->locked && !v->shredded) {
			vol_push_later(d, v, "resync");
		} else if (!ret && ki.state == CMEK_KEY_REVOKED && !v->revoked &&
			   !v->locked && !v->shredded) {
			v->revoked = true;
			vols_revoked(d, v->uuid_bin);
			log_notice("%s (%s): key was revoked while cmekd was "
				   "away; not pushing it again", v->name,
				   v->uuid);
			state_save(d);
		} else if (!ret && ki.state == CMEK_KEY_PRESENT && v->locked) {
			/* Died after recording a lock, before the revoke. */
			log_notice("%s (%s): locked (%s) but its key is in the "
				   "kernel: revoking it", v->name, v->uuid,
				   v->lock_reason);
			vol_revoke_key(d, v, "lock", REVOKE_FS_CONFIG);
		} else if (!ret) {
			v->generation = ki.generation;
		}
		i++;
	}
}

void vols_revoked(struct daemon *d, const uint8_t uuid[CMEK_UUID_LEN])
{
	struct vol *v;

	for (v = state_find_uuid(d, uuid, NULL); v;
	     v = state_find_uuid(d, uuid, v))
		v->epoch++;
}

/* ---- uuid, rewrap ------------------------------------------------------ */

void vol_new_uuid(uint8_t u[16])
{
	if (RAND_bytes(u, 16) != 1) {
		int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

		if (fd < 0 || read(fd, u, 16) != 16)
			abort();
		close(fd);
	}
	u[6] = (u[6] & 0x0f) | 0x40;	/* version 4 */
	u[8] = (u[8] & 0x3f) | 0x80;	/* RFC 4122 variant */
}

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

	ret = hdr_read(v->device, v->header[0] ? v->header : NULL, &h, msg,
		       len);
	if (ret)
		return ret;
	if (strcmp(h.uuid, v->uuid)) {
		snprintf(msg, len, "the header on %s now belongs to volume %s, "
			 "not %s", v->device, h.uuid, v->uuid);
		hdr_info_free(&h);
		return -ESTALE;
	}
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

