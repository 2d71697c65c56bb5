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
#include <openssl/rand.h>

#include "cmekd.h"
#include "ipc.h"
#include "log.h"
#include "secmem.h"
#include "volume.h"
#include "volumes.h"

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

static int nl_need(struct daemon *d, char *msg, size_t len)
{
	int ret = daemon_nl_ready(d);

	if (ret)
		snprintf(msg, len, "the dm-cmek kernel module is not "
			 "available (%s): load it with 'modprobe dm-cmek'",
			 strerror(-ret));
	return ret;
}

/* ---- the two key paths ------------------------------------------------ */

/* A provider failure as an errno: retry later / KMS said no / bad input. */
static int cls_errno(enum cmek_err_class cls)
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

/* How hard a push checks the other key slots (slot_policy any). */
enum push_mode {
	/* key-needed, resync, unlock: what the watch last saw, no KMS call */
	PUSH_CACHED,
	/* open: ask the KMS about every other slot's key now */
	PUSH_VERIFY,
	/* a fresh open: as PUSH_VERIFY, and never replaces a key */
	PUSH_FRESH,
	/*
	 * a header update that only seals with the key (slot remove,
	 * rewrap, upgrade): the first slot that unwraps, whatever the
	 * slot_policy; the key goes nowhere else
	 */
	PUSH_UPDATE,
};

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
static bool vol_key_pinned(const struct vol *v, const char *provider,
			   const char *key_ref)
{
	return cmek_volumes_keys_allow(v->keys, provider, key_ref);
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
			ret = -cls_errno(err.cls);
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
	return -cls_errno(*cls);
}

/*
 * unwrap_dek(), then trust_check(): 0 with *@dek the data key of a header
 * this host trusts (a locked secmem buffer, the caller's to
 * cmek_secmem_free()), and its MAC key in @mac_key if not NULL
 * (CMEK_VOL_MAC_KEY_LEN bytes of the caller's locked memory); else -errno with @msg and *@cls set. A trust
 * refusal is definitive: retrying will not change what is on the disk.
 */
static int unwrap_trusted(struct daemon *d, struct vol *v,
			  const struct hdr_info *h, const char *why,
			  enum push_mode mode, bool legacy_ok, uint8_t **dek,
			  size_t *dek_len, int *used, uint8_t *mac_key,
			  char *msg, size_t msglen, enum cmek_err_class *cls)
{
	uint8_t *k = cmek_secmem_alloc_locked(DEK_BUF_LEN);
	uint8_t *mk = mac_key ? mac_key : cmek_secmem_alloc_locked(DEK_BUF_LEN);
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

static int push_from_header(struct daemon *d, struct vol *v,
			    const struct hdr_info *h, const char *why,
			    enum push_mode mode, char *msg, size_t msglen,
			    enum cmek_err_class *cls)
{
	unsigned int epoch = v->epoch, all = d->revoke_all_seq;
	unsigned int shred = d->shred_seq;
	const struct hdr_slot *s;
	struct cmek_key_info ki;
	size_t dek_len = 0;
	uint8_t *dek;
	int used = -1, ret;

	*cls = CMEK_ERR_NONE;
	ret = nl_need(d, msg, msglen);
	if (ret)
		return ret;
	ret = unwrap_trusted(d, v, h, why, mode, false, &dek, &dek_len, &used,
			     NULL, msg, msglen, cls);
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
	if (!ret)
		events_drain(d);
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
	ret = cmek_nl_set_key(d->nl, h->uuid_bin, dek, dek_len, 0, false,
			      mode == PUSH_FRESH ? 0 : CMEK_SET_F_REPLACE);
	cmek_secmem_free(dek);		/* wiped right after the push */
	if (ret) {
		snprintf(msg, msglen, "the kernel refused the key: %s%s%s",
			 strerror(-ret), cmek_nl_errmsg(d->nl)[0] ? ": " : "",
			 cmek_nl_errmsg(d->nl));
		audit_op(d, "push", v, s->provider, s->key_ref, h->uuid, ret,
			 "why=%s slot=%d error=\"%s\"", why, s->index,
			 audit_q(msg));
		return ret;
	}
	events_expect(d, CMEK_CMD_EVENT_KEY_SET, h->uuid_bin);
	if (!cmek_nl_get(d->nl, h->uuid_bin, &ki))
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
	ret = push_from_header(d, v, &h, why, PUSH_CACHED, msg, msglen, cls);
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
	ret = nl_need(d, msg, sizeof(msg));
	if (ret)
		return ret;
	ret = cmek_nl_revoke(d->nl, v->uuid_bin, 0);
	if (!ret)
		events_expect(d, CMEK_CMD_EVENT_KEY_REVOKED, v->uuid_bin);
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
	char u[37], dev[PATH_MAX], msg[512];
	struct hdr_info h;
	struct vol v = { .kms_state = -1, .slot = -1 };
	struct vol *nv;

	cmek_uuid_unparse(uuid, u);
	if (dm_get_cmek(dm_name, NULL, dev, sizeof(dev), NULL, 0)) {
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

	if (!d->nl)
		return;
	/* Mappings made while cmekd was away (or whose state was lost). */
	dm_for_each_cmek(adopt_cb, d);
	while (i < d->nvols) {
		struct vol *v = d->vols[i];
		struct cmek_key_info ki;
		char u[37];
		int ret;

		ret = dm_get_cmek(v->name, u, NULL, 0, NULL, 0);
		if (ret || strcasecmp(u, v->uuid)) {
			log_notice("%s (%s): mapping is gone; forgetting it",
				   v->name, v->uuid);
			state_del(d, v);
			state_save(d);
			continue;
		}
		ret = cmek_nl_get(d->nl, v->uuid_bin, &ki);
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

/* ---- format ------------------------------------------------------------ */

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
	if (strlen(key) >= CMEKD_KEYREF_MAX || strlen(prov) >= CMEKD_PROV_MAX)
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
	if (p->ops->generate)
		ret = kms_generate(d, p, key, &b, dek, h.key_size, &wrapped,
				   &wrapped_len, &err);
	else if (RAND_priv_bytes(dek, (int)h.key_size) != 1)
		ret = cmek_error_set(&err, CMEK_ERR_INVALID,
				     "no randomness for a new key");
	else
		ret = kms_wrap(d, p, key, &b, dek, h.key_size, &wrapped,
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
		return ERR(cls_errno(err.cls), "%s: cannot make a data key "
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
	char opts[256] = "";
	int n = 0;
	size_t o = 0;
	long long kw = d->cfg.key_wait_ms;
	bool discards = cmek_json_bool(req, "allow_discards",
				       d->cfg.allow_discards);

	cmek_json_int64(req, "key_wait_ms", &kw);
	if (kw < 0)
		kw = 0;
	if (kw > CMEK_MAX_KEY_WAIT_MS)
		kw = CMEK_MAX_KEY_WAIT_MS;
	if (h->sector_size != 512) {
		o += snprintf(opts + o, sizeof(opts) - o, " sector_size:%u",
			      h->sector_size);
		n++;
	}
	if (h->iv_large_sectors) {
		o += snprintf(opts + o, sizeof(opts) - o, " iv_large_sectors");
		n++;
	}
	if (h->iv_offset) {
		o += snprintf(opts + o, sizeof(opts) - o, " iv_offset:%" PRIu64,
			      h->iv_offset);
		n++;
	}
	if (discards) {
		o += snprintf(opts + o, sizeof(opts) - o, " allow_discards");
		n++;
	}
	if (kw) {
		o += snprintf(opts + o, sizeof(opts) - o, " key_wait_ms:%lld",
			      kw);
		n++;
	}
	if (n)
		snprintf(out, len, "%s %s %" PRIu64 " %d%s", h->uuid, dev,
			 h->data_offset / 512, n, opts);
	else
		snprintf(out, len, "%s %s %" PRIu64, h->uuid, dev,
			 h->data_offset / 512);
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
	int ret = nl_need(d, msg, len);

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
	char u[37], dm_uuid[160];
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
	if (kv || !dm_get_cmek(name, u, NULL, 0, NULL, 0)) {
		/* Already open: same volume? Then restore its key. */
		if (!kv || strcmp(kv->uuid, h.uuid) ||
		    strcmp(kv->device, dev)) {
			hdr_info_free(&h);
			return ERR(EEXIST, "a device-mapper device named %s "
				   "already exists%s: choose another name or "
				   "close it first", name,
				   kv ? " for another volume" : "");
		}
		ret = push_from_header(d, kv, &h, "reopen", PUSH_VERIFY, msg,
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
		ret = push_from_header(d, &v, &h, "open", PUSH_FRESH, msg,
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
	ret = dm_create(name, dm_uuid, len, params,
			cmek_json_bool(req, "read_only", 0) > 0, msg,
			sizeof(msg));
	if (ret) {
		if (dm_count_users(v.uuid, NULL) == 0)
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
	char u[37];

	if (v)
		return v;
	memset(tmp, 0, sizeof(*tmp));
	if (!name || dm_get_cmek(name, u, tmp->device, sizeof(tmp->device),
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
	ret = dm_remove(name, msg, sizeof(msg));
	if (ret && ret != -ENXIO && ret != -ENOENT) {
		audit_op(d, "close", v, NULL, NULL, NULL, ret, "error=\"%s\"",
			 audit_q(msg));
		return ERR(-ret, "%s%s", msg, ret == -EBUSY ?
			   ": the device is in use (mounted or open); unmount "
			   "it first" : "");
	}
	users = dm_count_users(v->uuid, name);
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
		ret = nl_need(d, msg, sizeof(msg));
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
			events_drain(d);
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
	removed = dm_remove(name, msg, sizeof(msg)) == 0;
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

/* @v's slot list as its header says now (after cmekd changed it). */
static void refresh_vol_slots(struct vol *v)
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
	ret = mac_key ? unwrap_trusted(d, v, &h, "rewrap", PUSH_UPDATE, false,
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
			ret = -cls_errno(err.cls);
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
		refresh_vol_slots(v);
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
	if (!dm_get_status(v->name, st, sizeof(st)))
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
	ret = unwrap_trusted(d, u->v, &u->h, why, mode, legacy_ok,
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
		refresh_vol_slots(u->v);
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
	if (strlen(key) >= CMEKD_KEYREF_MAX)
		return ERR(ENAMETOOLONG, "key reference too long (at most "
			   "%d bytes)", CMEKD_KEYREF_MAX - 1);
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
		r = ERR(cls_errno(err.cls), "cannot wrap the data key under "
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
	char msg[4096], was[CMEKD_PROV_MAX + CMEKD_KEYREF_MAX + 2] = "";
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
