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
 * locks only when every slot's key says no.
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
#include "local.h"
#include "../lib/tap.h"

/* The fake kernel: a key table and mappings, and a log of the calls. */
static struct {
	int ready;			/* nl_ready()'s answer */
	int revoke_ret;
	unsigned int epoch_at_revoke;	/* of the volume, when revoked */
	struct vol *watched;
	char log[512];
	struct { const char *name; const char *uuid; } maps[4];
	int nmaps;
	struct { const char *uuid; int ret; int state; uint64_t gen; } keys[4];
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

static int f_set_key(struct daemon *d, const uint8_t uuid[CMEK_UUID_LEN],
		     const uint8_t *key, size_t len, uint32_t flags)
{
	log_call(flags & CMEK_SET_F_REPLACE ? "set-replace" : "set", uuid);
	K.key_len = len;
	return 0;
}

static int f_revoke(struct daemon *d, const uint8_t uuid[CMEK_UUID_LEN])
{
	log_call("revoke", uuid);
	if (K.watched)
		K.epoch_at_revoke = K.watched->epoch;
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

static const struct kernel_ops fake = {
	.nl_ready = f_ready,
	.set_key = f_set_key,
	.revoke = f_revoke,
	.get = f_get,
	.errmsg = f_errmsg,
	.dm_get_cmek = f_dm_get_cmek,
	.dm_for_each_cmek = f_dm_for_each,
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
	struct json_object *req = json_object_new_object(), *r, *u;
	enum cmek_err_class cls;
	char msg[2048], want[128];
	struct vol *v;
	int ret;

	json_object_object_add(req, "device", json_object_new_string(disk));
	json_object_object_add(req, "key", json_object_new_string("k1"));
	r = vol_format(&d, req, NULL, true);
	json_object_put(req);
	if (!tap_ok(json_object_object_get_ex(r, "uuid", &u),
		    "format with the local provider: %s",
		    json_object_to_json_string(r))) {
		json_object_put(r);
		return;
	}
	v = add("p", json_object_get_string(u));
	json_object_put(r);
	snprintf(v->device, sizeof(v->device), "%s", disk);
	K.watched = v;
	d.drain_events = f_drain;

	reset();
	K.watched = v;
	K.keys[K.nkeys++] = (typeof(K.keys[0])){ v->uuid, 0,
						 CMEK_KEY_PRESENT, 9 };
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

	tap_plan(25);
	if (!mkdtemp(dir))
		return 1;
	snprintf(keys, sizeof(keys), "%s/keys", dir);
	snprintf(trust, sizeof(trust), "%s/trust", dir);
	snprintf(disk, sizeof(disk), "%s/disk", dir);
	if (mkdir(keys, 0700) || cmek_local_kek_create(keys, "k1", &err))
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
	state_free(&d);
	cmek_config_free(&d.cfg);
	daemon_unlock();
	nftw(dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
	return tap_done();
}
