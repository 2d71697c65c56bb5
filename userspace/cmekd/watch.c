// SPDX-License-Identifier: GPL-2.0
/*
 * The KMS key-state watch (issue 6). Every check_interval, and on demand
 * ("check" op), ask each distinct (provider, key reference) of the known
 * volumes once -- however many volumes share it, KMS calls cost money -- and:
 *   - definitive "no" (disabled, pending deletion, deleted, access denied,
 *     or a CMEK_ERR_DEFINITIVE error): lock its volumes (revoke the kernel
 *     key; key-needed events no longer push it), audit why;
 *   - unreachable (CMEK_ERR_TRANSIENT, or state unknown): keep going; lock
 *     only once unreachable for longer than unreachable_grace (never by
 *     default);
 *   - enabled again: unlock, unwrap and push the key (one unwrap a volume),
 *     so I/O resumes without reopening.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cmekd.h"
#include "log.h"

static bool state_is_definitive(enum cmek_kms_key_state s)
{
	return s == CMEK_KMS_DISABLED || s == CMEK_KMS_PENDING_DELETION ||
	       s == CMEK_KMS_DELETED || s == CMEK_KMS_ACCESS_DENIED;
}

static void lock_vol(struct daemon *d, struct vol *v, const char *reason)
{
	int ret;

	v->locked = true;
	snprintf(v->lock_reason, sizeof(v->lock_reason), "%s", reason);
	ret = vol_revoke_key(d, v, "lock");
	audit_op(d, "lock", v, NULL, NULL, NULL, ret, "reason=\"%s\"%s%s",
		 reason, ret ? " error=" : "", ret ? strerror(-ret) : "");
	state_save(d);
}

static void unlock_vol(struct daemon *d, struct vol *v)
{
	enum cmek_err_class cls = CMEK_ERR_NONE;
	char msg[CMEK_ERRMSG_MAX + 128];
	int ret;

	if (v->revoked || v->shredded) {
		v->locked = false;
		v->lock_reason[0] = '\0';
		state_save(d);
		return;
	}
	ret = vol_push_key(d, v, "unlock", msg, sizeof(msg), &cls);
	if (ret) {
		log_warn("%s (%s): KMS key is enabled again but the key could "
			 "not be pushed: %s", v->name, v->uuid, msg);
		return;
	}
	v->locked = false;
	v->lock_reason[0] = '\0';
	audit_op(d, "unlock", v, NULL, NULL, NULL, 0,
		 "reason=\"KMS key enabled again\"");
	state_save(d);
}

static bool selected(const struct vol *v, const char *only)
{
	return !only || !strcmp(v->name, only);
}

void watch_run(struct daemon *d, const char *only, struct json_object *out)
{
	time_t now = time(NULL);
	size_t i, j;

	for (i = 0; i < d->nvols; i++) {
		struct vol *g = &d->vols[i];
		enum cmek_kms_key_state st = CMEK_KMS_UNKNOWN;
		struct cmek_error err = { 0 };
		struct cmek_provider *p;
		bool seen = false, definitive, unreachable;
		char reason[160];
		int ret;

		if (!selected(g, only) || g->shredded)
			continue;
		/* First volume of its (provider, key) group? */
		for (j = 0; j < i && !seen; j++)
			seen = selected(&d->vols[j], only) &&
			       !d->vols[j].shredded &&
			       !strcmp(d->vols[j].provider, g->provider) &&
			       !strcmp(d->vols[j].key_ref, g->key_ref);
		if (seen)
			continue;

		p = cmek_config_provider(&d->cfg, g->provider, &err);
		if (!p) {
			ret = -EINVAL;
		} else if (!p->ops->key_state) {
			ret = -EOPNOTSUPP;
			cmek_error_set(&err, CMEK_ERR_INVALID,
				       "provider %s cannot report key state",
				       g->provider);
		} else {
			ret = p->ops->key_state(p, g->key_ref, &st, &err) ?
			      -EIO : 0;
		}
		log_debug("key state %s:%s = %s%s%s", g->provider, g->key_ref,
			  ret ? "error" : cmek_kms_key_state_name(st),
			  ret ? ": " : "", ret ? err.msg : "");
		definitive = ret ? err.cls == CMEK_ERR_DEFINITIVE :
			     state_is_definitive(st);
		unreachable = ret ? err.cls == CMEK_ERR_TRANSIENT :
			      st == CMEK_KMS_UNKNOWN;
		if (ret && definitive)
			snprintf(reason, sizeof(reason), "KMS refused: %.120s",
				 err.msg);
		else
			snprintf(reason, sizeof(reason), "KMS key is %s",
				 cmek_kms_key_state_name(st));

		for (j = i; j < d->nvols; j++) {
			struct vol *v = &d->vols[j];

			if (!selected(v, only) || v->shredded ||
			    strcmp(v->provider, g->provider) ||
			    strcmp(v->key_ref, g->key_ref))
				continue;
			v->kms_state = ret ? (definitive ?
				(int)CMEK_KMS_ACCESS_DENIED : -1) : (int)st;
			snprintf(v->kms_error, sizeof(v->kms_error), "%s",
				 ret ? err.msg : "");
			if (definitive) {
				v->unreachable_since = 0;
				if (!v->locked)
					lock_vol(d, v, reason);
			} else if (unreachable) {
				if (!v->unreachable_since)
					v->unreachable_since = now;
				if (d->cfg.unreachable_grace >= 0 &&
				    now - v->unreachable_since >=
				    d->cfg.unreachable_grace && !v->locked) {
					snprintf(reason, sizeof(reason),
						 "KMS unreachable for %lds "
						 "(unreachable_grace %lds)",
						 (long)(now - v->unreachable_since),
						 d->cfg.unreachable_grace);
					lock_vol(d, v, reason);
				} else {
					log_warn("%s (%s): KMS unreachable for "
						 "%lds: %s", v->name, v->uuid,
						 (long)(now - v->unreachable_since),
						 ret ? err.msg : "state unknown");
				}
			} else if (!ret && st == CMEK_KMS_ENABLED) {
				v->unreachable_since = 0;
				if (v->locked)
					unlock_vol(d, v);
			} else if (ret) {
				log_warn("%s (%s): key state check failed: %s",
					 v->name, v->uuid, err.msg);
			}
		}
	}
	if (!out)
		return;
	for (i = 0; i < d->nvols; i++) {
		struct vol *v = &d->vols[i];
		struct json_object *o;

		if (!selected(v, only))
			continue;
		o = vol_to_json(v);
		json_object_object_add(o, "kms_state", json_object_new_string(
			v->kms_state < 0 ? "unknown" :
			cmek_kms_key_state_name(v->kms_state)));
		if (v->kms_error[0])
			json_object_object_add(o, "kms_error",
				json_object_new_string(v->kms_error));
		json_object_array_add(out, o);
	}
}

void watch_tick(struct daemon *d)
{
	if (!d->nvols)
		return;
	log_debug("watch: tick, %zu known volume%s", d->nvols,
		  d->nvols == 1 ? "" : "s");
	watch_run(d, NULL, NULL);
}
