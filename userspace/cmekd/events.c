// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel's "events" multicast group:
 *   KEY_NEEDED   a mapping needs a key: if the volume is known (or its
 *                mapping's device carries a cmek header we can adopt), and it
 *                is neither revoked by an admin nor locked by the watch loop,
 *                unwrap and push the key, in a job: the KMS may be slow,
 *                and other volumes' events must not wait for it.
 *   KEY_REVOKED  someone revoked a key: remember it, so that a key-needed
 *                event does not undo an admin's revoke.
 *   KEY_SET      logged; a key set by someone else clears "revoked".
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cmekd.h"
#include "log.h"

static void key_needed(struct daemon *d, const struct cmek_event *ev,
		       const char *u)
{
	struct vol *v = state_find_uuid(d, ev->uuid, NULL);

	if (!v) {
		char name[CMEK_DM_NAME_MAX] = "";

		/* The dm name in the event, or the device number's. */
		if (ev->dm_dev && cmek_dm_name_of_dev(ev->dm_dev, name, sizeof(name)))
			name[0] = '\0';
		if (!name[0])
			snprintf(name, sizeof(name), "%s", ev->dm_name);
		if (name[0])
			v = vol_adopt(d, name, ev->uuid);
		if (!v)
			return;
	}
	if (!v) {
		log_info("key needed for unknown volume %s: ignored", u);
		return;
	}
	if (v->shredded || v->revoked || v->locked) {
		log_notice("key needed for %s (%s) but it is %s: not pushing "
			   "(open it again to restore the key)", v->name,
			   v->uuid, v->shredded ? "shredded" : v->locked ?
			   "locked by the KMS key-state watch" : "revoked");
		return;
	}
	vol_push_later(d, v, "key-needed");
}

void events_retry(struct daemon *d)
{
	size_t i;

	for (i = 0; i < d->nvols; i++) {
		struct vol *v = d->vols[i];

		if (!v->need_push || v->pushing)
			continue;
		if (v->revoked || v->locked || v->shredded) {
			v->need_push = false;
			continue;
		}
		vol_push_later(d, v, "key-needed-retry");
	}
}

/* A key revoked or set (by us or anyone). */
static void key_changed(struct daemon *d, const struct cmek_event *ev,
			const char *u)
{
	bool known;
	struct vol *v;

	switch (ev->cmd) {
	case CMEK_CMD_EVENT_KEY_REVOKED:
		log_info("event: key revoked uuid=%s generation=%llu", u,
			 (unsigned long long)ev->generation);
		vols_revoked(d, ev->uuid);	/* a push under way loses */
		if (nl_own_event(d, ev->cmd, ev->uuid) || d->own_revoke_all)
			break;
		known = false;
		for (v = state_find_uuid(d, ev->uuid, NULL); v;
		     v = state_find_uuid(d, ev->uuid, v)) {
			known = true;
			if (v->revoked || v->locked || v->shredded)
				continue;
			v->revoked = true;
			audit_op(d, "revoke", v, NULL, NULL, NULL, 0,
				 "by=kernel-event (revoked outside cmekd)");
			state_save(d);
		}
		if (!known)
			audit_op(d, "revoke", NULL, NULL, NULL, u, 0,
				 "by=kernel-event (revoked outside cmekd) "
				 "generation=%llu",
				 (unsigned long long)ev->generation);
		break;
	case CMEK_CMD_EVENT_KEY_SET:
		log_info("event: key set uuid=%s generation=%llu users=%u", u,
			 (unsigned long long)ev->generation, ev->users);
		if (nl_own_event(d, ev->cmd, ev->uuid)) {
			for (v = state_find_uuid(d, ev->uuid, NULL); v;
			     v = state_find_uuid(d, ev->uuid, v))
				v->generation = ev->generation;
			break;
		}
		known = false;
		for (v = state_find_uuid(d, ev->uuid, NULL); v;
		     v = state_find_uuid(d, ev->uuid, v)) {
			known = true;
			if (v->generation == ev->generation)
				continue;
			v->generation = ev->generation;
			audit_op(d, "key-set", v, NULL, NULL, NULL, 0,
				 "by=kernel-event (set outside cmekd) "
				 "generation=%llu",
				 (unsigned long long)ev->generation);
			if (v->revoked && !v->shredded) {
				v->revoked = false;
				log_notice("%s (%s): key set outside cmekd, no "
					   "longer revoked", v->name, u);
				state_save(d);
			}
		}
		if (!known)
			audit_op(d, "key-set", NULL, NULL, NULL, u, 0,
				 "by=kernel-event (set outside cmekd) "
				 "generation=%llu",
				 (unsigned long long)ev->generation);
		break;
	default:
		break;
	}
}

/* A key-needed event from a revoke's read: the main loop's resync has it. */
static void key_needed_later(struct daemon *d, const struct cmek_event *ev,
			     const char *u)
{
	d->resync_due = true;
}

static void dispatch(struct daemon *d, const struct cmek_event *ev,
		     void (*needed)(struct daemon *d,
				    const struct cmek_event *ev,
				    const char *u))
{
	char u[CMEK_UUID_STR_LEN];

	cmek_uuid_unparse(ev->uuid, u);
	if (ev->cmd != CMEK_CMD_EVENT_KEY_NEEDED) {
		key_changed(d, ev, u);
		return;
	}
	log_info("event: key needed uuid=%s dm=%s state=%s", u,
		 ev->dm_name[0] ? ev->dm_name : "-",
		 cmek_key_state_name(ev->state));
	needed(d, ev, u);
}

static void on_event(const struct cmek_event *ev, void *data)
{
	dispatch(data, ev, key_needed);
}

/*
 * As on_event(), but a key-needed event is left to the main loop's
 * resync, which pushes the keys still missing: a revoke never starts a
 * push.
 */
static void on_event_no_push(const struct cmek_event *ev, void *data)
{
	dispatch(data, ev, key_needed_later);
}

/*
 * Read what is queued; after lost events, the main loop resyncs. The read
 * that ended it.
 */
static int read_queued(struct daemon *d,
		       void (*cb)(const struct cmek_event *ev, void *data))
{
	int ret;

	do
		ret = cmek_nl_read_events(d->ev, cb, d);
	while (ret >= 0);
	if (ret == -ENOBUFS) {
		log_warn("netlink events overflowed: resynchronising with "
			 "the kernel's key table");
		d->resync_due = true;
	}
	return ret;
}

/* Other errors are the main loop's to handle, on its next read. */
void events_drain(struct daemon *d)
{
	if (d->ev)
		read_queued(d, on_event);
}

void events_drain_no_push(struct daemon *d)
{
	if (d->ev)
		read_queued(d, on_event_no_push);
}

void events_handle(struct daemon *d)
{
	int ret;

	if (!d->ev)
		return;
	ret = read_queued(d, on_event);
	if (ret != -ENOBUFS && ret != -EAGAIN && ret != -EINTR) {
		log_err("netlink events: %s; reconnecting", strerror(-ret));
		cmek_nl_close(d->ev);
		d->ev = NULL;
	}
}
