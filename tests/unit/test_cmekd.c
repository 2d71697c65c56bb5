// SPDX-License-Identifier: GPL-2.0
/*
 * Host unit tests of cmekd's volume logic (userspace/cmekd/vol.c, linked
 * as it is) against a fake kernel (struct kernel_ops): a revoke moves the
 * volume's epoch before it asks the kernel, so a push under way loses; it
 * expects its own event only when the kernel did revoke; ENOKEY counts as
 * done; a resync forgets volumes whose mapping is gone, keeps a key
 * revoked behind cmekd's back revoked, revokes the key of a volume
 * recorded locked, and takes the generation of a present key. And the
 * watch (userspace/cmekd/watch.c, keystate.c) on answers the KMS gave
 * earlier: a disabled key locks the volume through a kernel revoke, once;
 * an unreachable KMS within the grace changes nothing; a key enabled again
 * unlocks an admin-revoked volume without pushing its key; slot_policy all
 * locks only when every slot's key says no; the view of a slot the
 * handlers turn into JSON says what the KMS said, and why it failed. And
 * the socket's handlers (volume_ops.c) over life.c, slots.c and vol.c:
 * format, open, status, slot add and remove, close, revoke --all and
 * shred reach the kernel only through the fake, with the messages they
 * always gave.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <json-c/json.h>

#include "../../userspace/cmekd/cmekd.h"
#include "local/local.h"
#include "../lib/tap.h"

/* The fake kernel: a key table and mappings, and a log of the calls. */
static struct {
	int ready;			/* nl_ready()'s answer */
	int revoke_ret;
	unsigned int epoch_at_revoke;	/* of the volume, when revoked */
	struct vol *watched;
	char log[512];
	struct { char name[64]; char uuid[40]; } maps[4];
	int nmaps;
	struct { char uuid[40]; int ret; int state; uint64_t gen; } keys[4];
	int nkeys;
	size_t key_len;			/* of the last key set */
} K;

static void log_call(const char *what, const uint8_t uuid[CMEK_UUID_LEN])
{
	char u[CMEK_UUID_STR_LEN];

	cmek_uuid_unparse(uuid, u);
	snprintf(K.log + strlen(K.log), sizeof(K.log) - strlen(K.log),
		 "%s %.8s;", what, u);
}

static int f_ready(struct daemon *d)
{
	return K.ready;
}

/* The fake key table's entry of @uuid, made if @create and room. */
static typeof(K.keys[0]) *key_of(const uint8_t uuid[CMEK_UUID_LEN],
				 bool create)
{
	char u[CMEK_UUID_STR_LEN];
	int i;

	cmek_uuid_unparse(uuid, u);
	for (i = 0; i < K.nkeys; i++)
		if (!strcmp(K.keys[i].uuid, u))
			return &K.keys[i];
	if (!create || K.nkeys == 4)
		return NULL;
	snprintf(K.keys[K.nkeys].uuid, sizeof(K.keys[0].uuid), "%s", u);
	K.keys[K.nkeys].state = CMEK_KEY_MISSING;
	K.keys[K.nkeys].gen = 1;
	return &K.keys[K.nkeys++];
}

static int f_set_key(struct daemon *d, const uint8_t uuid[CMEK_UUID_LEN],
		     const uint8_t *key, size_t len, uint32_t flags)
{
	typeof(K.keys[0]) *k = key_of(uuid, true);

	log_call(flags & CMEK_SET_F_REPLACE ? "set-replace" : "set", uuid);
	K.key_len = len;
	if (k)
		k->state = CMEK_KEY_PRESENT;
	return 0;
}

static int f_revoke(struct daemon *d, const uint8_t uuid[CMEK_UUID_LEN])
{
	typeof(K.keys[0]) *k = key_of(uuid, false);

	log_call("revoke", uuid);
	if (K.watched)
		K.epoch_at_revoke = K.watched->epoch;
	if (k && !K.revoke_ret)
		k->state = CMEK_KEY_REVOKED;
	return K.revoke_ret;
}

static int f_revoke_all(struct daemon *d)
{
	int i;

	snprintf(K.log + strlen(K.log), sizeof(K.log) - strlen(K.log),
		 "revoke-all;");
	for (i = 0; i < K.nkeys; i++)
		K.keys[i].state = CMEK_KEY_REVOKED;
	return K.revoke_ret;
}

static int f_get(struct daemon *d, const uint8_t uuid[CMEK_UUID_LEN],
		 struct cmek_key_info *ki)
{
	char u[CMEK_UUID_STR_LEN];
	int i;

	log_call("get", uuid);
	cmek_uuid_unparse(uuid, u);
	memset(ki, 0, sizeof(*ki));
	for (i = 0; i < K.nkeys; i++)
		if (!strcmp(K.keys[i].uuid, u)) {
			ki->state = K.keys[i].state;
			ki->generation = K.keys[i].gen;
			return K.keys[i].ret;
		}
	return -ENOENT;
}

static const char *f_errmsg(struct daemon *d)
{
	return "";
}

static int f_dm_get_cmek(const char *name, char uuid[CMEK_UUID_STR_LEN],
			 char *dev, size_t devlen)
{
	int i;

	for (i = 0; i < K.nmaps; i++)
		if (!strcmp(K.maps[i].name, name)) {
			if (uuid)
				snprintf(uuid, CMEK_UUID_STR_LEN, "%s", K.maps[i].uuid);
			if (dev)
				snprintf(dev, devlen, "/dev/fake%d", i);
			return 0;
		}
	return -ENOENT;
}

/* No mapping cmekd does not know: nothing to adopt. */
static int f_dm_for_each(int (*cb)(const char *, const char *, dev_t,
				   void *), void *data)
{
	return 0;
}

static void log_dm(const char *what, const char *name)
{
	snprintf(K.log + strlen(K.log), sizeof(K.log) - strlen(K.log),
		 "%s %s;", what, name);
}

/* dm_uuid is "CMEK-<uuid>-<name>": the fake keeps the volume's uuid. */
static int f_dm_create(const char *name, const char *dm_uuid,
		       uint64_t sectors, const char *params, bool read_only,
		       char *err, size_t errlen)
{
	log_dm("create", name);
	if (K.nmaps == 4 || strncmp(dm_uuid, "CMEK-", 5)) {
		snprintf(err, errlen, "fake dm: no room");
		return -ENOSPC;
	}
	snprintf(K.maps[K.nmaps].name, sizeof(K.maps[0].name), "%s", name);
	snprintf(K.maps[K.nmaps].uuid, sizeof(K.maps[0].uuid), "%.36s",
		 dm_uuid + 5);
	K.nmaps++;
	return 0;
}

static int f_dm_remove(const char *name, char *err, size_t errlen)
{
	int i;

	log_dm("remove", name);
	for (i = 0; i < K.nmaps; i++)
		if (!strcmp(K.maps[i].name, name)) {
			K.maps[i] = K.maps[--K.nmaps];
			return 0;
		}
	snprintf(err, errlen, "fake dm: no mapping %s", name);
	return -ENXIO;
}

static int f_dm_count_users(const char *uuid, const char *except)
{
	int i, n = 0;

	for (i = 0; i < K.nmaps; i++)
		n += !strcasecmp(K.maps[i].uuid, uuid) &&
		     (!except || strcmp(K.maps[i].name, except));
	return n;
}

static int f_dm_get_status(const char *name, char *out, size_t len)
{
	snprintf(out, len, "fake status of %s", name);
	return 0;
}

static const struct kernel_ops fake = {
	.nl_ready = f_ready,
	.set_key = f_set_key,
	.revoke = f_revoke,
	.get = f_get,
	.errmsg = f_errmsg,
	.dm_get_cmek = f_dm_get_cmek,
	.dm_for_each_cmek = f_dm_for_each,
	.revoke_all = f_revoke_all,
	.dm_create = f_dm_create,
	.dm_remove = f_dm_remove,
	.dm_count_users = f_dm_count_users,
	.dm_get_status = f_dm_get_status,
};

static struct daemon d;

static struct vol *add(const char *name, const char *uuid)
{
	struct vol v = { .kms_state = -1, .slot = -1 };

	snprintf(v.name, sizeof(v.name), "%s", name);
	snprintf(v.uuid, sizeof(v.uuid), "%s", uuid);
	cmek_uuid_parse(uuid, v.uuid_bin);
	return state_add(&d, &v);
}

static void reset(void)
{
	memset(&K, 0, sizeof(K));
	d.nown = 0;
}

#define U1 "11111111-1111-4111-8111-111111111111"
#define U2 "22222222-2222-4222-8222-222222222222"
#define U3 "33333333-3333-4333-8333-333333333333"
#define U4 "44444444-4444-4444-8444-444444444444"

static void revoke_key(void)
{
	struct vol *v = add("a", U1);
	unsigned int e;
	int ret;

	reset();
	K.watched = v;
	e = v->epoch;
	ret = vol_revoke_key(&d, v, "admin", REVOKE_FS_NONE);
	tap_ok(ret == 0 && !strcmp(K.log, "revoke 11111111;"),
	       "revoke asks the kernel once (%d, %s)", ret, K.log);
	tap_ok(K.epoch_at_revoke > e,
	       "the epoch moved before the kernel revoke, so a push under "
	       "way loses");
	tap_ok(d.nown == 1 && d.own[0].cmd == CMEK_CMD_EVENT_KEY_REVOKED &&
	       !memcmp(d.own[0].uuid, v->uuid_bin, CMEK_UUID_LEN),
	       "its own KEY_REVOKED event is expected");

	reset();
	K.revoke_ret = -ENOKEY;
	ret = vol_revoke_key(&d, v, "admin", REVOKE_FS_NONE);
	tap_ok(ret == 0 && d.nown == 0,
	       "no key in the kernel counts as done, no event expected");

	reset();
	K.revoke_ret = -EIO;
	ret = vol_revoke_key(&d, v, "admin", REVOKE_FS_NONE);
	tap_ok(ret == -EIO && d.nown == 0, "a kernel failure is returned");

	reset();
	K.ready = -ENOENT;
	e = v->epoch;
	ret = vol_revoke_key(&d, v, "admin", REVOKE_FS_NONE);
	tap_ok(ret == -ENOENT && !K.log[0] && v->epoch > e,
	       "without the module: -ENOENT, no call, the epoch moved anyway");
	state_del(&d, v);
}

static void resync_cases(void)
{
	struct vol *gone, *away, *present, *missing;

	gone = add("gone", U1);
	away = add("away", U2);
	present = add("present", U3);
	missing = add("missing", U4);
	missing->pushing = true;	/* a push job runs: none is started */
	reset();
	K.maps[K.nmaps++] = (typeof(K.maps[0])){ "away", U2 };
	K.maps[K.nmaps++] = (typeof(K.maps[0])){ "present", U3 };
	K.maps[K.nmaps++] = (typeof(K.maps[0])){ "missing", U4 };
	K.keys[K.nkeys++] = (typeof(K.keys[0])){ U2, 0, CMEK_KEY_REVOKED, 5 };
	K.keys[K.nkeys++] = (typeof(K.keys[0])){ U3, 0, CMEK_KEY_PRESENT, 7 };
	K.keys[K.nkeys++] = (typeof(K.keys[0])){ U4, 0, CMEK_KEY_MISSING, 0 };
	(void)gone;
	daemon_resync(&d);
	tap_ok(d.nvols == 3 && !state_find_name(&d, "gone"),
	       "a volume whose mapping is gone is forgotten");
	tap_ok(away->revoked && away->epoch > 0,
	       "a key revoked while cmekd was away stays revoked");
	tap_ok(present->generation == 7 && !present->revoked,
	       "a present key's generation is taken");
	tap_ok(missing->need_push && !strstr(K.log, "set "),
	       "a missing key is pushed later, never in the resync itself");
	tap_ok(!strstr(K.log, "revoke"), "nothing is revoked (%s)", K.log);

	reset();
	K.maps[K.nmaps++] = (typeof(K.maps[0])){ "away", U2 };
	K.maps[K.nmaps++] = (typeof(K.maps[0])){ "present", U3 };
	K.maps[K.nmaps++] = (typeof(K.maps[0])){ "missing", U4 };
	K.keys[K.nkeys++] = (typeof(K.keys[0])){ U3, 0, CMEK_KEY_PRESENT, 7 };
	present->locked = true;
	daemon_resync(&d);
	tap_ok(strstr(K.log, "get 33333333;revoke 33333333;") != NULL,
	       "a volume recorded locked whose key is present: revoked (%s)",
	       K.log);

	reset();
	K.ready = -ENOENT;
	daemon_resync(&d);
	tap_ok(!K.log[0] && d.nvols == 3,
	       "without the module a resync does nothing");
}

/* What the KMS said about provider "local", key @ref, as if asked already. */
static void answer(const char *ref, bool failed, int state)
{
	struct kms_key *k = kms_key_get(&d, "local", ref, NULL, true);

	k->answered = true;
	k->failed = failed;
	k->state = state;
	k->cls = failed ? CMEK_ERR_TRANSIENT : CMEK_ERR_NONE;
	k->unreachable_since = failed ? time(NULL) - 10 : 0;
	k->next_ask = time(NULL) + 3600;	/* not due: no KMS call */
}

static struct vol *add_slots(const char *name, const char *uuid,
			     const char *ref1, const char *ref2)
{
	struct vol *v = add(name, uuid);
	const char *refs[] = { ref1, ref2 };
	int i;

	/* No header to re-read: the watch asks about the recorded slots. */
	snprintf(v->device, sizeof(v->device), "/nonexistent/%s", name);
	for (i = 0; i < 2 && refs[i]; i++) {
		v->slots[i].index = i;
		snprintf(v->slots[i].provider, sizeof(v->slots[i].provider),
			 "local");
		snprintf(v->slots[i].key_ref, sizeof(v->slots[i].key_ref),
			 "%s", refs[i]);
		v->nslots++;
	}
	return v;
}

static void watch_decisions(void)
{
	struct vol *a = add_slots("wa", U1, "ka", NULL);
	struct vol *b = add_slots("wb", U2, "kb", NULL);
	struct watch_slot_view w;

	reset();
	K.maps[K.nmaps++] = (typeof(K.maps[0])){ "wa", U1 };
	K.maps[K.nmaps++] = (typeof(K.maps[0])){ "wb", U2 };
	d.cfg.slot_policy = CMEK_SLOT_POLICY_ANY;
	answer("ka", false, CMEK_KMS_DISABLED);
	answer("kb", true, 0);
	watch_tick(&d);
	tap_ok(a->locked && strstr(a->lock_reason, "disabled") &&
	       !strcmp(K.log, "revoke 11111111;"),
	       "a disabled key locks its volume by a kernel revoke (%s; %s)",
	       K.log, a->lock_reason);
	tap_ok(!b->locked && b->kms_state == -1,
	       "an unreachable KMS within the grace changes nothing");
	watch_slot_view(&d, a, 0, time(NULL), &w);
	tap_ok(w.kms_state == CMEK_KMS_DISABLED && w.verdict == CMEK_SLOT_BAD &&
	       !w.error[0], "the watch's view of the slot: disabled, bad, no "
	       "failure (%d %d %s)", w.kms_state, w.verdict, w.error);
	watch_slot_view(&d, b, 0, time(NULL), &w);
	tap_ok(w.kms_state == -1 && w.verdict == CMEK_SLOT_UNKNOWN &&
	       strstr(w.error, "unreachable"), "and of an unreachable one: "
	       "unknown, with why (%s)", w.error);
	reset();
	watch_tick(&d);
	tap_ok(a->locked && !K.log[0], "a locked volume is not revoked again");

	reset();
	a->revoked = true;
	answer("ka", false, CMEK_KMS_ENABLED);
	watch_tick(&d);
	tap_ok(!a->locked && !a->lock_reason[0] && !K.log[0],
	       "enabled again: an admin-revoked volume unlocks, no key pushed "
	       "(%s)", K.log);
	state_del(&d, a);
	state_del(&d, b);

	a = add_slots("wc", U3, "k1", "k2");
	reset();
	K.maps[K.nmaps++] = (typeof(K.maps[0])){ "wc", U3 };
	d.cfg.slot_policy = CMEK_SLOT_POLICY_ALL;
	answer("k1", false, CMEK_KMS_DISABLED);
	answer("k2", false, CMEK_KMS_ENABLED);
	watch_tick(&d);
	tap_ok(!a->locked && !K.log[0],
	       "slot_policy all: one slot's key enabled keeps it open");
	answer("k2", false, CMEK_KMS_DELETED);
	watch_tick(&d);
	tap_ok(a->locked && !strcmp(K.log, "revoke 33333333;"),
	       "and every slot's key saying no locks it (%s)", K.log);
	state_del(&d, a);
	d.cfg.slot_policy = CMEK_SLOT_POLICY_ANY;
}

/* The queued events, as a job reads them just before it pushes. */
static int drain_revokes;		/* this many revokes arrive meanwhile */
static bool drain_shreds;

static void f_drain(struct daemon *dd)
{
	snprintf(K.log + strlen(K.log), sizeof(K.log) - strlen(K.log),
		 "drain;");
	if (drain_revokes) {
		drain_revokes--;
		vols_revoked(dd, K.watched->uuid_bin);
	}
	if (drain_shreds)
		dd->shred_seq++;
}

static void push(const char *disk)
{
	struct vol_format f = {
		.device = disk, .provider = "local", .key = "k1",
		.sector_size = 512, .data_offset = -1, .blank_checked = true,
	};
	char msg[2048], want[128], u[CMEK_UUID_STR_LEN];
	enum cmek_err_class cls;
	struct vol *v;
	int ret;

	ret = vol_format(&d, &f, u, msg, sizeof(msg));
	if (!tap_ok(ret == 0, "format with the local provider: %d %s", ret,
		    ret ? msg : u))
		return;
	v = add("p", u);
	snprintf(v->device, sizeof(v->device), "%s", disk);
	K.watched = v;
	d.drain_events = f_drain;

	reset();
	K.watched = v;
	key_of(v->uuid_bin, true)->state = CMEK_KEY_PRESENT;
	K.keys[0].gen = 9;
	ret = vol_push_key(&d, v, "key-needed", msg, sizeof(msg), &cls);
	snprintf(want, sizeof(want), "drain;set-replace %.8s;get %.8s;",
		 v->uuid, v->uuid);
	tap_ok(ret == 0 && !strcmp(K.log, want),
	       "push: events read, then the key set (replace), then its "
	       "generation read (%d %s %s)", ret, K.log, ret ? msg : "");
	tap_ok(K.key_len == CMEK_KEY_SIZE_256 && v->generation == 9 &&
	       d.nown == 1 && d.own[0].cmd == CMEK_CMD_EVENT_KEY_SET,
	       "an AES-256-XTS key (%zu bytes), generation %llu, its KEY_SET "
	       "event expected", K.key_len,
	       (unsigned long long)v->generation);

	reset();
	K.watched = v;
	drain_revokes = 1;
	ret = vol_push_key(&d, v, "key-needed", msg, sizeof(msg), &cls);
	tap_ok(ret == -ECANCELED && cls == CMEK_ERR_DEFINITIVE &&
	       !strcmp(K.log, "drain;") && strstr(msg, "was revoked"),
	       "revoked while the KMS answered: not pushed, definitive (%s)",
	       msg);

	reset();
	K.watched = v;
	drain_shreds = true;
	ret = vol_push_key(&d, v, "key-needed", msg, sizeof(msg), &cls);
	drain_shreds = false;
	tap_ok(ret == -ECANCELED && cls == CMEK_ERR_TRANSIENT &&
	       !strcmp(K.log, "drain;"),
	       "a shred meanwhile: not pushed, to be tried again (%s)", msg);

	reset();
	K.ready = -ENOENT;
	ret = vol_push_key(&d, v, "key-needed", msg, sizeof(msg), &cls);
	tap_ok(ret == -ENOENT && !K.log[0] && strstr(msg, "modprobe dm-cmek"),
	       "without the module: nothing pushed, and it says to load it "
	       "(%s)", msg);

	d.drain_events = NULL;
	state_del(&d, v);
}

static bool drained_own;

static void f_drain_no_push(struct daemon *dd)
{
	drained_own = dd->own_revoke_all;
}

/* A request to a handler, as JSON text; the reply's "error" or "". */
static struct json_object *call(struct json_object *(*op)(struct json_object *,
							  void *),
				const char *text)
{
	struct json_object *req = json_tokener_parse(text), *r;

	r = op(req, &d);
	json_object_put(req);
	return r;
}

static const char *str(struct json_object *r, const char *key)
{
	struct json_object *o;

	return json_object_object_get_ex(r, key, &o) ?
	       json_object_get_string(o) : "";
}

static int num(struct json_object *r, const char *key)
{
	struct json_object *o;

	return json_object_object_get_ex(r, key, &o) ?
	       json_object_get_int(o) : -1;
}

/*
 * The socket's handlers, thin over life.c, vol.c and slots.c, against the
 * fake kernel: format, open (the key set, then the mapping), status,
 * slot add and remove, close, revoke --all, shred; and messages as they
 * were.
 */
static void handlers(const char *disk)
{
	char req[512], want[256], uuid[CMEK_UUID_STR_LEN];
	struct json_object *r, *a;

	reset();
	snprintf(req, sizeof(req), "{\"device\": \"%s\", \"key\": \"k1\", "
		 "\"force\": true}", disk);
	r = call(op_format, req);
	snprintf(uuid, sizeof(uuid), "%s", str(r, "uuid"));
	tap_ok(strlen(uuid) == 36 && !strcmp(str(r, "device"), disk),
	       "format: %s", json_object_to_json_string(r));
	json_object_put(r);

	reset();
	snprintf(req, sizeof(req), "{\"name\": \"h\", \"device\": \"%s\"}",
		 disk);
	r = call(op_open, req);
	snprintf(want, sizeof(want), "get %.8s;set %.8s;get %.8s;create h;",
		 uuid, uuid, uuid);
	tap_ok(!strcmp(str(r, "path"), "/dev/mapper/h") &&
	       !strcmp(K.log, want) && state_find_name(&d, "h"),
	       "open: the uuid is not live, the key set (never replacing), "
	       "then the mapping (%s; %s)", K.log,
	       json_object_to_json_string(r));
	json_object_put(r);

	r = call(op_open, req);
	tap_ok(r && !strcmp(str(r, "uuid"), uuid) && strstr(K.log, "set-replace"),
	       "open again: the same volume's key restored (%s)", K.log);
	json_object_put(r);
	snprintf(req, sizeof(req), "{\"name\": \"h\", \"device\": \"%s\", "
		 "\"uuid\": \"%s\"}", disk, U1);
	r = call(op_open, req);
	snprintf(want, sizeof(want), "the header of %s is volume %s, not %s "
		 "as asked", disk, uuid, U1);
	tap_ok(num(r, "errno") == ESTALE && !strcmp(str(r, "error"), want),
	       "open of another uuid: ESTALE, as before (%s)", str(r, "error"));
	json_object_put(r);

	r = call(op_status, "{\"name\": \"h\"}");
	a = json_object_array_get_idx(json_object_object_get(r, "volumes"), 0);
	tap_ok(a && !strcmp(str(a, "state"), "present") &&
	       !strcmp(str(a, "dm_status"), "fake status of h") &&
	       !strcmp(str(a, "kms_state"), "unknown"),
	       "status: the kernel's state, dm status, the watch's view (%s)",
	       json_object_to_json_string(r));
	json_object_put(r);

	snprintf(req, sizeof(req), "{\"device\": \"%s\", \"key\": \"k2\"}",
		 disk);
	r = call(op_slot_add, req);
	tap_ok(num(r, "slot") == 1 && num(r, "from_slot") == 0 &&
	       num(r, "active_slots") == 2 &&
	       state_find_name(&d, "h")->nslots == 2,
	       "slot add: slot 1 under k2, from slot 0, recorded (%s)",
	       json_object_to_json_string(r));
	json_object_put(r);
	r = call(op_slot_add, req);
	snprintf(want, sizeof(want), "slot 1 already wraps the data key of %s "
		 "under local:k2", uuid);
	tap_ok(num(r, "errno") == EEXIST && !strcmp(str(r, "error"), want),
	       "the same key again: EEXIST, as before (%s)", str(r, "error"));
	json_object_put(r);
	snprintf(req, sizeof(req), "{\"device\": \"%s\", \"slot\": 0}", disk);
	r = call(op_slot_remove, req);
	tap_ok(num(r, "slot") == 0 && num(r, "active_slots") == 1 &&
	       !strcmp(state_find_name(&d, "h")->key_ref, "k2"),
	       "slot remove: slot 0 goes, the volume now opens with k2 (%s)",
	       json_object_to_json_string(r));
	json_object_put(r);

	reset();
	K.maps[K.nmaps++] = (typeof(K.maps[0])){ "h", "" };
	snprintf(K.maps[0].uuid, sizeof(K.maps[0].uuid), "%s", uuid);
	key_of(state_find_name(&d, "h")->uuid_bin, true)->state =
		CMEK_KEY_PRESENT;
	r = call(op_close, "{\"name\": \"h\"}");
	snprintf(want, sizeof(want), "remove h;revoke %.8s;", uuid);
	tap_ok(json_object_get_boolean(json_object_object_get(r, "ok")) &&
	       !strcmp(K.log, want) && !state_find_name(&d, "h"),
	       "close: mapping removed, no other user: key revoked, volume "
	       "forgotten (%s)", K.log);
	json_object_put(r);
	r = call(op_close, "{\"name\": \"h\"}");
	tap_ok(num(r, "errno") == ENOENT &&
	       !strcmp(str(r, "error"), "no cmek volume named h is open"),
	       "close again: ENOENT, as before (%s)", str(r, "error"));
	json_object_put(r);

	reset();
	snprintf(req, sizeof(req), "{\"name\": \"h\", \"device\": \"%s\"}",
		 disk);
	json_object_put(call(op_open, req));
	d.drain_no_push = f_drain_no_push;
	drained_own = false;
	r = call(op_revoke, "{\"all\": true}");
	a = json_object_object_get(r, "revoked");
	tap_ok(strstr(K.log, "revoke-all;") && drained_own &&
	       state_find_name(&d, "h")->revoked &&
	       json_object_array_length(a) == 1,
	       "revoke --all: the kernel's, its own events read as ours, the "
	       "volume marked revoked (%s; %s)", K.log,
	       json_object_to_json_string(r));
	json_object_put(r);
	K.revoke_ret = -EIO;
	r = call(op_revoke, "{\"all\": true}");
	tap_ok(num(r, "errno") == EIO && !strcmp(str(r, "error"),
	       "revoking every key failed: Input/output error"),
	       "a failed revoke --all says so, as before (%s)", str(r, "error"));
	json_object_put(r);
	K.revoke_ret = 0;
	d.drain_no_push = NULL;

	reset();
	K.maps[K.nmaps++] = (typeof(K.maps[0])){ "h", "" };
	snprintf(K.maps[0].uuid, sizeof(K.maps[0].uuid), "%s", uuid);
	r = call(op_shred, "{\"name\": \"h\"}");
	snprintf(want, sizeof(want), "revoke %.8s;remove h;", uuid);
	tap_ok(json_object_get_boolean(json_object_object_get(r,
	       "mapping_removed")) && !strcmp(str(r, "uuid"), uuid) &&
	       !strcmp(K.log, want) && !state_find_name(&d, "h"),
	       "shred: key revoked, slots destroyed, mapping removed, volume "
	       "forgotten (%s)", K.log);
	json_object_put(r);
	r = call(op_open, req);
	tap_ok(num(r, "errno") > 0 && !strstr(K.log, "set "),
	       "a shredded volume no longer opens (%s)", str(r, "error"));
	json_object_put(r);
}

static int rm_cb(const char *path, const struct stat *st, int flag,
		 struct FTW *ftw)
{
	return remove(path);
}

int main(void)
{
	char dir[] = "/tmp/cmekd-vol-XXXXXX", keys[64];
	char trust[64], disk[64];
	struct cmek_error err = { 0 };
	int fd;

	tap_plan(41);
	if (!mkdtemp(dir))
		return 1;
	snprintf(keys, sizeof(keys), "%s/keys", dir);
	snprintf(trust, sizeof(trust), "%s/trust", dir);
	snprintf(disk, sizeof(disk), "%s/disk", dir);
	if (mkdir(keys, 0700) || cmek_local_kek_create(keys, "k1", &err) ||
	    cmek_local_kek_create(keys, "k2", &err))
		return 1;
	fd = open(disk, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || ftruncate(fd, 32 << 20) || close(fd))
		return 1;
	cmek_config_init(&d.cfg);
	free(d.cfg.key_dir);
	d.cfg.key_dir = strdup(keys);
	free(d.cfg.trust_dir);
	d.cfg.trust_dir = strdup(trust);
	d.kernel = &fake;
	snprintf(d.state_path, sizeof(d.state_path), "%s/volumes", dir);
	/* The KMS calls let go of the daemon lock: hold it, as cmekd does. */
	daemon_lock();
	if (trust_init(&d))
		return 1;
	revoke_key();
	resync_cases();
	while (d.nvols)
		state_del(&d, d.vols[0]);
	watch_decisions();
	watch_free(&d);
	push(disk);
	handlers(disk);
	state_free(&d);
	cmek_config_free(&d.cfg);
	daemon_unlock();
	nftw(dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
	return tap_done();
}
