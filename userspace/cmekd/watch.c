// SPDX-License-Identifier: GPL-2.0
/*
 * The KMS key-state watch. Every check_interval, and on demand ("check"
 * op):
 *   1. re-read the key slots of each known volume from its header;
 *   2. ask about each distinct KMS object among those slots once --
 *      however many slots of however many volumes share it: KMS calls
 *      cost money -- and keep the answer in d->keys. The object is the
 *      one the slot's wrapped key needs (struct vol_slot's key_id: the
 *      key an alias pointed to, the key version that wrapped it), not
 *      whatever its key reference names today; a slot whose blob does
 *      not say is asked about by key reference. Each key has its own
 *      time, spread over the interval and backed off when the KMS
 *      throttles (watch_schedule.h); a tick asks the keys that are due;
 *   3. turn each slot's answer into a verdict (ok / bad / unknown) and let
 *      [daemon] slot_policy decide (slot_policy.h): lock the volume (revoke
 *      the kernel key; key-needed events no longer push it; audit why), or
 *      unlock it (unwrap and push again, so I/O resumes without reopening),
 *      or leave it as it is.
 * "bad" is a definitive no from the KMS (disabled, pending deletion,
 * deleted, access denied, CMEK_ERR_DEFINITIVE) or a KMS unreachable for
 * longer than unreachable_grace (never by default). Unreachable is every
 * failure that is not the KMS's own answer (CMEK_ERR_TRANSIENT:
 * provider.h): only the KMS's own answer ends it, so someone on the
 * network path cannot hold a volume open past the grace.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>

#include "cmekd.h"
#include "log.h"

/* The kms_state a key's last answer shows in status and check replies. */
static int shown_state(const struct kms_key *k)
{
	if (!k || !k->answered)
		return -1;
	if (k->failed)
		return k->cls == CMEK_ERR_DEFINITIVE ?
		       (int)CMEK_KMS_ACCESS_DENIED : -1;
	return k->state;
}

/*
 * The lock goes to the state file before the key leaves the kernel: a
 * cmekd that dies in between comes back knowing the volume is locked (and
 * finishes the revoke, daemon_resync()), not finding a revoked key it
 * cannot explain and must then treat as an administrator's revoke, which
 * the watch never undoes.
 */
static void lock_vol(struct daemon *d, struct vol *v, const char *reason)
{
	int ret;

	v->locked = true;
	snprintf(v->lock_reason, sizeof(v->lock_reason), "%s", reason);
	state_save(d);
	ret = vol_revoke_key(d, v, "lock", REVOKE_FS_CONFIG);
	audit_op(d, "lock", v, NULL, NULL, NULL, ret,
		 "slot_policy=%s reason=\"%s\"%s%s",
		 cmek_slot_policy_name(d->cfg.slot_policy), reason,
		 ret ? " error=" : "", ret ? strerror(-ret) : "");
}

static void unlock_vol(struct daemon *d, struct vol *v)
{
	enum cmek_err_class cls = CMEK_ERR_NONE;
	char msg[2048];
	int ret;

	if (v->revoked || v->shredded) {
		v->locked = false;
		v->lock_reason[0] = '\0';
		state_save(d);
		return;
	}
	ret = vol_push_key(d, v, "unlock", msg, sizeof(msg), &cls);
	if (ret) {
		log_warn("%s (%s): the KMS keys allow it again but the key "
			 "could not be pushed: %s", v->name, v->uuid, msg);
		return;
	}
	v->locked = false;
	v->lock_reason[0] = '\0';
	audit_op(d, "unlock", v, NULL, NULL, NULL, 0,
		 "slot_policy=%s reason=\"KMS key enabled again\"",
		 cmek_slot_policy_name(d->cfg.slot_policy));
	state_save(d);
}

static bool selected(const struct vol *v, const char *only)
{
	return !only || !strcmp(v->name, only);
}

static bool same_slots(const struct vol *v, const struct hdr_info *h)
{
	int i;

	if (strcmp(h->uuid, v->uuid) || h->nslots != v->nslots)
		return false;
	for (i = 0; i < h->nslots; i++)
		if (h->slots[i].index != v->slots[i].index ||
		    strcmp(h->slots[i].provider, v->slots[i].provider) ||
		    strcmp(h->slots[i].key_ref, v->slots[i].key_ref) ||
		    (v->slots[i].key_id[0] &&
		     strcmp(h->slots[i].key_id, v->slots[i].key_id)))
			return false;
	return true;
}

/*
 * The key slots cmekd recorded (from a header whose MAC it checked, and
 * after each change it made) say which KMS keys the watch asks; the
 * header on the disk is only compared with them. One that reads but
 * differs was rewritten behind cmekd's back by someone who can write the
 * disk -- say, a slot's provider turned to garbage so that its revoked
 * key would never be asked about -- so the volume locks, and stays locked
 * until it is closed and opened again (which checks the header's MAC).
 * A header that cannot be read changes nothing: the recorded slots are
 * still asked about.
 */
static void check_slots(struct daemon *d, struct vol *v)
{
	char msg[512], reason[512];
	struct hdr_info h;

	if (hdr_read(v->device, v->header[0] ? v->header : NULL, &h, msg,
		     sizeof(msg))) {
		log_debug("%s (%s): cannot re-read the header (%s); asking "
			  "about the key slots recorded", v->name, v->uuid,
			  msg);
	} else {
		if (v->nslots && !v->tampered && !same_slots(v, &h)) {
			snprintf(reason, sizeof(reason), "the header on %.200s no "
				 "longer matches the key slots cmekd recorded "
				 "(%d slot%s on disk, %d recorded%s): changed "
				 "behind cmekd's back; open it again (cmekctl "
				 "open) to check the header's MAC", v->device,
				 h.nslots, h.nslots == 1 ? "" : "s", v->nslots,
				 strcmp(h.uuid, v->uuid) ? ", another volume's "
				 "UUID" : "");
			log_err("ALARM: %s (%s): %s", v->name, v->uuid,
				reason);
			v->tampered = true;
			if (!v->locked && !v->revoked && !v->shredded)
				lock_vol(d, v, reason);
			else
				state_save(d);
		}
		hdr_info_free(&h);
	}
	if (!v->nslots && v->provider[0]) {
		/* A state file from before slots were kept, and no header. */
		v->nslots = 1;
		v->slots[0].index = v->slot;
		snprintf(v->slots[0].provider, sizeof(v->slots[0].provider),
			 "%s", v->provider);
		snprintf(v->slots[0].key_ref, sizeof(v->slots[0].key_ref),
			 "%s", v->key_ref);
		v->slots[0].key_id[0] = '\0';
	}
}

/* Append "; slot N (p:k[ as id]): what" to @buf. */
static void add_reason(char *buf, size_t len, const struct vol_slot *s,
		       const char *what)
{
	size_t o = strlen(buf);

	if (o < len)
		snprintf(buf + o, len - o, "%sslot %d (%s:%.100s%s%.120s): %s",
			 o ? "; " : "", s->index, s->provider, s->key_ref,
			 s->key_id[0] && strcmp(s->key_id, s->key_ref) ?
			 " as " : "", s->key_id[0] &&
			 strcmp(s->key_id, s->key_ref) ? s->key_id : "",
			 what);
}

static void decide(struct daemon *d, struct vol *v, time_t now)
{
	enum cmek_slot_verdict vd[HDR_SLOTS_MAX];
	enum cmek_slot_action act;
	char bad[512] = "", reason[512], what[320];
	int i, first_bad = -1, first_unknown = -1;

	for (i = 0; i < v->nslots; i++) {
		const struct vol_slot *s = &v->slots[i];
		const struct kms_key *k = kms_key_get(d, s->provider,
						      s->key_ref, s->key_id,
						      false);

		vd[i] = kms_key_verdict(d, k, now);
		kms_key_describe(d, k, now, what, sizeof(what));
		if (vd[i] == CMEK_SLOT_BAD) {
			add_reason(bad, sizeof(bad), s, what);
			if (first_bad < 0)
				first_bad = i;
		} else if (vd[i] == CMEK_SLOT_UNKNOWN) {
			if (first_unknown < 0)
				first_unknown = i;
			if (k && k->answered)
				log_warn("%s (%s): slot %d (%s:%s): %s",
					 v->name, v->uuid, s->index,
					 s->provider, s->key_ref, what);
		}
	}
	/* The summary status shows: the slot that counts against it. */
	i = first_bad >= 0 ? first_bad : first_unknown;
	if (i >= 0) {
		const struct kms_key *k = kms_key_get(d, v->slots[i].provider,
						      v->slots[i].key_ref,
						      v->slots[i].key_id,
						      false);

		v->kms_state = shown_state(k);
		snprintf(v->kms_error, sizeof(v->kms_error), "%s",
			 k && k->failed ? k->error : "");
	} else {
		v->kms_state = v->nslots ? (int)CMEK_KMS_ENABLED : -1;
		v->kms_error[0] = '\0';
	}

	/* Only a check of the header's MAC (a new open) lifts that lock. */
	if (v->tampered)
		return;
	act = cmek_slot_decide(d->cfg.slot_policy, vd, (size_t)v->nslots,
			       v->locked);
	if (act == CMEK_SLOT_LOCK) {
		if (d->cfg.slot_policy == CMEK_SLOT_POLICY_ALL || v->nslots == 1)
			snprintf(reason, sizeof(reason), "%s", bad);
		else
			snprintf(reason, sizeof(reason), "%s (slot_policy any: "
				 "one revoked key slot locks the volume)", bad);
		lock_vol(d, v, reason);
	} else if (act == CMEK_SLOT_UNLOCK) {
		unlock_vol(d, v);
	}
}

/* Forget answers for keys no known volume uses any more. */
static void prune_keys(struct daemon *d)
{
	size_t i = 0, j;
	int s;

	while (i < d->nkeys) {
		bool used = false;

		for (j = 0; j < d->nvols && !used; j++)
			for (s = 0; s < d->vols[j]->nslots && !used; s++)
				used = kms_key_is(&d->keys[i],
						  d->vols[j]->slots[s].provider,
						  d->vols[j]->slots[s].key_ref,
						  d->vols[j]->slots[s].key_id);
		if (used) {
			i++;
			continue;
		}
		d->keys[i] = d->keys[--d->nkeys];
	}
}

void watch_annotate(struct daemon *d, const struct vol *v,
		    struct json_object *o)
{
	struct json_object *a, *so;
	time_t now = time(NULL);
	char what[320];
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
		const struct kms_key *k = kms_key_get(d, v->slots[i].provider,
						      v->slots[i].key_ref,
						      v->slots[i].key_id,
						      false);
		int st = shown_state(k);

		so = json_object_array_get_idx(a, i);
		json_object_object_add(so, "kms_state", json_object_new_string(
			st < 0 ? "unknown" : cmek_kms_key_state_name(st)));
		json_object_object_add(so, "verdict", json_object_new_string(
			cmek_slot_verdict_name(kms_key_verdict(d, k, now))));
		if (k && k->answered && (k->failed || k->unreachable_since)) {
			kms_key_describe(d, k, now, what, sizeof(what));
			json_object_object_add(so, "kms_error",
					       json_object_new_string(what));
		}
	}
}

/*
 * Ask about the keys of the selected volumes (all of them, or only those
 * due when @due_only), then let each volume's slot policy decide.
 */
static void watch_pass(struct daemon *d, const char *only, bool due_only,
		       struct json_object *out)
{
	time_t now = time(NULL);
	struct vol **vs;
	size_t i, n;
	int s;

	/* KMS calls let go of the daemon lock: loop over what is known now. */
	vs = state_snapshot(d, &n);
	for (i = 0; i < d->nkeys; i++)
		d->keys[i].asked_now = false;
	for (i = 0; i < n; i++)
		if (selected(vs[i], only) && !vs[i]->shredded &&
		    !vs[i]->gone)
			check_slots(d, vs[i]);
	/* One question per distinct key, however many slots share it. */
	for (i = 0; i < n; i++) {
		struct vol *v = vs[i];

		if (!selected(v, only) || v->shredded || v->gone)
			continue;
		for (s = 0; s < v->nslots; s++) {
			struct kms_key *k = kms_key_get(d, v->slots[s].provider,
							v->slots[s].key_ref,
							v->slots[s].key_id,
							true);

			if (!k) {
				log_err("out of memory in the key-state watch");
				continue;
			}
			if (!k->asked_now &&
			    (!due_only || k->next_ask <= now)) {
				k = kms_key_ask(d, k, now);
				if (k)
					k->asked_now = true;
			}
		}
	}
	for (i = 0; i < n; i++)
		if (selected(vs[i], only) && !vs[i]->shredded && !vs[i]->gone)
			decide(d, vs[i], now);
	free(vs);
	prune_keys(d);
	if (!out)
		return;
	for (i = 0; i < d->nvols; i++) {
		struct vol *v = d->vols[i];
		struct json_object *o;

		if (!selected(v, only))
			continue;
		o = vol_to_json(v);
		watch_annotate(d, v, o);
		json_object_array_add(out, o);
	}
}

void watch_run(struct daemon *d, const char *only, struct json_object *out)
{
	watch_pass(d, only, false, out);
}

void watch_tick(struct daemon *d)
{
	if (!d->nvols)
		return;
	log_debug("watch: tick, %zu known volume%s", d->nvols,
		  d->nvols == 1 ? "" : "s");
	watch_pass(d, NULL, true, NULL);
	auto_rewrap(d, time(NULL));
}

time_t watch_next_tick(const struct daemon *d, time_t now)
{
	time_t next = now + d->cfg.check_interval;
	size_t i;

	/* A key still due after a tick belongs to no volume it checks. */
	for (i = 0; i < d->nkeys; i++)
		if (d->keys[i].next_ask > now && d->keys[i].next_ask < next)
			next = d->keys[i].next_ask;
	return next;
}

static void watch_job(struct daemon *d, void *arg)
{
	watch_tick(d);
	d->next_check = watch_next_tick(d, time(NULL));
	d->watch_busy = false;
}

/* The watch's tick, as a serial job, when it is due and none runs. */
void watch_due(struct daemon *d, time_t now)
{
	if (!d->next_check || d->watch_busy || now < d->next_check)
		return;
	d->watch_busy = true;
	if (job_start(d, JOB_SERIAL, watch_job, NULL)) {
		d->watch_busy = false;
		d->next_check = now + 1;
	}
}

void watch_free(struct daemon *d)
{
	free(d->keys);
	d->keys = NULL;
	d->nkeys = 0;
}
