// SPDX-License-Identifier: GPL-2.0
/*
 * What the KMS last said about each key the volumes' slots need (struct
 * kms_key, d->keys): one entry per distinct KMS object, asked at its own
 * time (watch_schedule.h). The watch fills it; the volume logic reads it
 * (a push under slot_policy any refuses a key the watch found revoked).
 * It calls only down: the provider calls (kms.c) and the audit.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>

#include "cmekd.h"
#include "log.h"
#include "watch_schedule.h"


/* For pacing only: not a secret, never worth failing over. */
static uint32_t pace_random(void)
{
	uint32_t r;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (uint32_t)time(NULL) ^ (uint32_t)getpid();
	return r;
}

bool kms_key_is(const struct kms_key *k, const char *provider,
		const char *key_ref, const char *key_id)
{
	if (strcmp(k->provider, provider))
		return false;
	if (key_id && key_id[0])
		return !strcmp(k->key_id, key_id);
	return !k->key_id[0] && !strcmp(k->key_ref, key_ref);
}

struct kms_key *kms_key_get(struct daemon *d, const char *provider,
			    const char *key_ref, const char *key_id,
			    bool create)
{
	struct kms_key *n;
	size_t i;

	for (i = 0; i < d->nkeys; i++)
		if (kms_key_is(&d->keys[i], provider, key_ref, key_id))
			return &d->keys[i];
	if (!create)
		return NULL;
	n = realloc(d->keys, (d->nkeys + 1) * sizeof(*n));
	if (!n)
		return NULL;
	d->keys = n;
	n = &d->keys[d->nkeys++];
	memset(n, 0, sizeof(*n));
	snprintf(n->provider, sizeof(n->provider), "%s", provider);
	snprintf(n->key_ref, sizeof(n->key_ref), "%s", key_ref);
	snprintf(n->key_id, sizeof(n->key_id), "%s", key_id ? key_id : "");
	n->state = CMEK_KMS_UNKNOWN;
	n->next_ask = time(NULL) + (time_t)cmek_watch_first(
		d->cfg.check_interval, pace_random());
	return n;
}

/*
 * cmekd's own credential refused (an expired token, a rotated secret): not
 * a revocation, and no lock before unreachable_grace, but the operator
 * must hear of it at once. Said once when it starts and once when it ends.
 */
static void credential_alarm(struct daemon *d, struct kms_key *k,
			     bool refused, const char *msg)
{
	if (refused == k->credential)
		return;
	k->credential = refused;
	if (refused) {
		log_err("key state %s:%s: the KMS refuses cmekd's own "
			"credential: %s. This is not a key revocation; volumes "
			"that use this key lock after unreachable_grace unless "
			"the credential is fixed", k->provider, k->key_ref, msg);
		audit_op(d, "kms-credential", NULL, k->provider, k->key_ref,
			 NULL, -EACCES, "error=\"%s\"", msg);
	} else {
		log_notice("key state %s:%s: the KMS accepts cmekd's "
			   "credential again", k->provider, k->key_ref);
		audit_op(d, "kms-credential", NULL, k->provider, k->key_ref,
			 NULL, 0, "reason=\"accepted again\"");
	}
}

struct kms_key *kms_key_ask(struct daemon *d, struct kms_key *k, time_t now)
{
	enum cmek_kms_key_state st = CMEK_KMS_UNKNOWN;
	struct cmek_error err = { 0 };
	struct cmek_provider *p;
	int ret;

	p = cmek_config_provider(&d->cfg, k->provider, &err);
	if (!p) {
		ret = -EINVAL;
	} else if (k->key_id[0] ? !p->ops->slot_state : !p->ops->key_state) {
		ret = -EOPNOTSUPP;
		cmek_error_set(&err, CMEK_ERR_INVALID,
			       "provider %s cannot report key state",
			       k->provider);
	} else {
		/* Without the daemon lock: copies, and @k found again. */
		char prov[CMEK_VOL_PROVIDER_MAX], ref[CMEK_VOL_KEYREF_MAX];
		char id[CMEK_VOL_KEYREF_MAX];

		snprintf(prov, sizeof(prov), "%s", k->provider);
		snprintf(ref, sizeof(ref), "%s", k->key_ref);
		snprintf(id, sizeof(id), "%s", k->key_id);
		if (id[0])
			ret = kms_slot_state(d, p, id, &st, &err) ? -EIO : 0;
		else
			ret = kms_key_state(d, p, ref, &st, &err) ? -EIO : 0;
		k = kms_key_get(d, prov, ref, id, false);
		if (!k)
			return NULL;
	}
	log_debug("key state %s:%s = %s%s%s%s%s%s", k->provider, k->key_ref,
		  ret ? "error" : cmek_kms_key_state_name(st),
		  ret ? ": " : "", ret ? err.msg : "",
		  k->key_id[0] ? " (slot object " : "", k->key_id,
		  k->key_id[0] ? ")" : "");
	k->answered = true;
	k->failed = ret != 0;
	k->state = ret ? CMEK_KMS_UNKNOWN : st;
	k->cls = ret ? err.cls : CMEK_ERR_NONE;
	k->cred_error = ret && err.credential;
	snprintf(k->error, sizeof(k->error), "%s", ret ? err.msg : "");
	k->throttled_in_row = ret && err.throttled ? k->throttled_in_row + 1 :
			      0;
	k->next_ask = now + (time_t)cmek_watch_next(d->cfg.check_interval,
						    k->throttled_in_row,
						    err.retry_after_ms,
						    pace_random());
	if (k->throttled_in_row)
		log_warn("key state %s:%s: throttled by the KMS (%u in a row): "
			 "next check in %lds", k->provider, k->key_ref,
			 k->throttled_in_row, (long)(k->next_ask - now));
	/* Accepted again only when the KMS itself answered. */
	if (ret && err.credential)
		credential_alarm(d, k, true, err.msg);
	else if (!ret || err.cls == CMEK_ERR_DEFINITIVE)
		credential_alarm(d, k, false, NULL);
	/*
	 * Only the KMS's own answer -- a key state, or a definitive refusal
	 * -- ends an outage. A transient failure (throttled, a certificate
	 * that does not verify, a proxy's page, cmekd's credential refused)
	 * starts the clock or lets it run. A configuration error, found
	 * before any network I/O, says nothing about the KMS: it neither
	 * starts nor stops the clock.
	 */
	if (ret ? err.cls == CMEK_ERR_DEFINITIVE : st != CMEK_KMS_UNKNOWN)
		k->unreachable_since = 0;
	else if ((!ret || err.cls == CMEK_ERR_TRANSIENT) &&
		 !k->unreachable_since)
		k->unreachable_since = now;
	return k;
}

static long unreachable_for(const struct kms_key *k, time_t now)
{
	return k->unreachable_since ? (long)(now - k->unreachable_since) : 0;
}

enum cmek_slot_verdict kms_key_verdict(const struct daemon *d,
				       const struct kms_key *k, time_t now)
{
	if (!k || !k->answered)
		return CMEK_SLOT_UNKNOWN;
	return cmek_slot_verdict(k->failed, k->state, k->cls,
				 unreachable_for(k, now),
				 d->cfg.unreachable_grace);
}

static const char *grace_name(const struct daemon *d, char *buf, size_t len)
{
	if (d->cfg.unreachable_grace < 0)
		return "never";
	snprintf(buf, len, "%lds", d->cfg.unreachable_grace);
	return buf;
}

void kms_key_describe(const struct daemon *d, const struct kms_key *k,
		      time_t now, char *buf, size_t len)
{
	char grace[32];

	if (!k || !k->answered)
		snprintf(buf, len, "not checked yet");
	else if (k->failed && k->cls == CMEK_ERR_DEFINITIVE)
		snprintf(buf, len, "KMS refused: %.200s", k->error);
	else if (k->failed && k->cred_error)
		snprintf(buf, len, "KMS refuses cmekd's credential, no answer "
			 "for %lds (unreachable_grace %s): %.160s",
			 unreachable_for(k, now), grace_name(d, grace,
							     sizeof(grace)),
			 k->error);
	else if (k->unreachable_since && d->cfg.unreachable_grace < 0)
		snprintf(buf, len, "KMS unreachable for %lds "
			 "(unreachable_grace never): %.160s",
			 unreachable_for(k, now),
			 k->failed ? k->error : "state unknown");
	else if (k->unreachable_since)
		snprintf(buf, len, "KMS unreachable for %lds "
			 "(unreachable_grace %lds): %.160s",
			 unreachable_for(k, now), d->cfg.unreachable_grace,
			 k->failed ? k->error : "state unknown");
	else if (k->failed)
		snprintf(buf, len, "key state check failed: %.200s", k->error);
	else
		snprintf(buf, len, "KMS key is %s",
			 cmek_kms_key_state_name(k->state));
}
