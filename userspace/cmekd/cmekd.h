/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cmekd internals: the key daemon. One file per concern:
 *   main.c        options, hardening, start-up and the poll loop
 *   jobs.c        the daemon lock, and threads for work that waits on a KMS
 *   kms.c         provider calls, made without the daemon lock
 *   server.c      the control socket (ipc.h protocol), peer checks
 *   kernel.c      the netlink sockets, the events cmekd's own changes cause
 *   events.c      the netlink event group (key needed / set / revoked)
 *   volume_ops.c  the socket's volume requests: format, open, close, revoke,
 *                 shred, rewrap, status, check (JSON in, JSON out)
 *   vol.c         the volume logic: push, revoke, adopt, resync, rewrap
 *   provision.c   first-boot provisioning: blank check, pending mkfs
 *   watch.c       the KMS key-state watch loop (lock / unlock)
 *   keystate.c    what the KMS last said about each key
 *   fs.c          mounted file systems of a revoked volume
 *   state.c       known volumes, persisted in <state_dir>/volumes
 *   trust.c       what the host recorded of each volume's key and header
 *   audit.c       the audit trail of key operations
 */
#ifndef CMEKD_H
#define CMEKD_H

#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <sys/types.h>

#include "config.h"
#include "dm.h"
#include "nl.h"
#include "provider.h"
#include "header.h"

/* Only the socket's handlers build JSON; the rest never includes json-c. */
struct json_object;
struct hdr_info;

#define CMEKD_VERSION		"0.1"
#define CMEKD_NAME_MAX		CMEK_DM_NAME_MAX

/* hdr.c reads at most this many active slots (the header has 8). */
#define HDR_SLOTS_MAX	8

/* One key slot of a volume, as its header last said (no key material). */
struct vol_slot {
	int index;			/* in the header, 0..7 */
	char provider[CMEK_VOL_PROVIDER_MAX];
	char key_ref[CMEK_VOL_KEYREF_MAX];
	/*
	 * The exact KMS object the slot's wrapped key needs (provider.h,
	 * slot_key), "" if its blob does not say: the watch then asks
	 * about key_ref.
	 */
	char key_id[CMEK_VOL_KEYREF_MAX];
};

/* A volume cmekd knows: opened through it (or adopted on a key-needed event). */
struct vol {
	char name[CMEKD_NAME_MAX];	/* dm name */
	char uuid[CMEK_UUID_STR_LEN];
	uint8_t uuid_bin[CMEK_UUID_LEN];
	char device[PATH_MAX];		/* backing device */
	char header[PATH_MAX];		/* detached header file, "" = on device */
	/* keys= of /etc/cmek/volumes: "PROVIDER:PATTERN ...", "" = any */
	char keys[2048];
	char provider[CMEK_VOL_PROVIDER_MAX];	/* of the slot that opened it */
	char key_ref[CMEK_VOL_KEYREF_MAX];
	int slot;			/* header slot index used */
	uint64_t generation;		/* last generation we pushed */
	/* why the key is not pushed on key-needed events */
	bool revoked;			/* by an admin (revoke/shred) */
	bool shredded;
	bool locked;			/* by the watch loop (KMS said no) */
	bool tampered;			/* header changed behind our back */
	char lock_reason[512];
	bool need_push;			/* a key-needed push failed: retry */
	time_t next_rewrap;		/* rewrap_interval: due then, 0 = unset */
	/*
	 * active key slots of the header, from a header whose MAC was checked
	 * (or cmekd's own update); the watch asks about these
	 */
	int nslots;
	struct vol_slot slots[HDR_SLOTS_MAX];
	/* watch loop, not persisted: the policy's summary over the slots */
	int kms_state;			/* enum cmek_kms_key_state, -1 unknown */
	char kms_error[CMEK_ERRMSG_MAX];
	/*
	 * Not persisted. A job that unwraps a key without the daemon lock
	 * pushes it only if the epoch has not moved meanwhile: every revoke
	 * of the volume's uuid (ours, the watch's, the kernel's event, found
	 * at a resync) moves it in every entry of that uuid (vols_revoked()),
	 * and so does forgetting the entry.
	 */
	unsigned int epoch;
	bool gone;			/* forgotten; freed by state_reap() */
	uint64_t gone_seq;		/* jobs_next_seq() when it was */
	bool pushing;			/* a push job runs for it */
	struct vol *next_gone;
};

/*
 * What the KMS last said about one (provider, key reference). One entry per
 * distinct key however many slots of however many volumes use it: the
 * watch asks each once per interval.
 */
/*
 * One KMS object the watch asks about: (provider, key_id) when the slots
 * name their exact object, else (provider, key_ref) with key_id "".
 * key_ref is then the first slot's, for messages.
 */
struct kms_key {
	char provider[CMEK_VOL_PROVIDER_MAX];
	char key_ref[CMEK_VOL_KEYREF_MAX];
	char key_id[CMEK_VOL_KEYREF_MAX];
	bool answered;			/* asked at least once */
	bool failed;			/* key_state() returned an error */
	int state;			/* enum cmek_kms_key_state if !failed */
	enum cmek_err_class cls;	/* if failed */
	bool cred_error;		/* failed: cmekd's credential refused */
	bool credential;		/* so, and not yet accepted again */
	time_t unreachable_since;	/* 0 = reachable */
	time_t next_ask;		/* the watch asks again then */
	unsigned int throttled_in_row;	/* throttling answers in a row */
	bool asked_now;			/* in the current watch run */
	char error[CMEK_ERRMSG_MAX];
};

struct daemon {
	struct cmek_config cfg;
	const char *config_path;
	int lfd;			/* listening socket */
	struct cmek_nl *nl;		/* commands */
	struct cmek_nl *ev;		/* events */
	struct vol **vols;		/* each allocated on its own */
	size_t nvols;
	struct vol *gone;		/* forgotten, not yet freed */
	char state_path[PATH_MAX];
	bool udev;			/* udev is running: let it make nodes */
	volatile bool stop;
	time_t next_check;
	pid_t peer_pid;			/* of the request being served */
	unsigned int njobs;		/* jobs started and not finished */
	bool watch_busy;		/* the watch's tick is a job under way */
	bool own_revoke_all;		/* reading the events of ours */
	/* Moved by each revoke --all and each shred (see struct vol epoch). */
	unsigned int revoke_all_seq;
	unsigned int shred_seq;
	struct kms_key *keys;		/* the watch's answers, per KMS key */
	size_t nkeys;
	/* Key events our own set/revoke will cause, oldest first. */
	struct own_event {
		uint8_t cmd;
		uint8_t uuid[CMEK_UUID_LEN];
	} own[32];
	size_t nown;
	/*
	 * Set when events may have been missed (netlink reopened, the
	 * event queue overflowed): the main loop resyncs on its next turn,
	 * so no path that found it out (a revoke among them) calls the
	 * resync, which pushes keys, itself.
	 */
	bool resync_due;
	/*
	 * Read the kernel's queued events now (events.c, set by main.c): a
	 * job calls it just before it pushes a key, so that a revoke made
	 * outside cmekd while it waited for the KMS is seen first.
	 */
	void (*drain_events)(struct daemon *d);
	const struct kernel_ops *kernel;	/* NULL: kernel_ops */
};

/*
 * kernel.c: the netlink sockets. daemon_nl_ready() (re)opens the command
 * socket and joins the events group (0 or -errno); a fresh subscription
 * sets resync_due. nl_expect_event(): a set or revoke of ours succeeded,
 * so its event is not audited again as one made outside cmekd;
 * nl_own_event() consumes such a match.
 */
int daemon_nl_ready(struct daemon *d);
/*
 * What the volume logic asks of the kernel, as a table so that the host
 * unit tests can stand a fake kernel in its place (d->kernel; NULL is
 * kernel_ops, the real one). Same contracts as nl.h and dm.c's calls.
 */
struct kernel_ops {
	int (*nl_ready)(struct daemon *d);
	int (*set_key)(struct daemon *d, const uint8_t uuid[CMEK_UUID_LEN],
		       const uint8_t *key, size_t key_len, uint32_t flags);
	int (*revoke)(struct daemon *d, const uint8_t uuid[CMEK_UUID_LEN]);
	int (*get)(struct daemon *d, const uint8_t uuid[CMEK_UUID_LEN],
		   struct cmek_key_info *info);
	const char *(*errmsg)(struct daemon *d);
	int (*dm_get_cmek)(const char *name, char uuid[CMEK_UUID_STR_LEN],
			   char *device, size_t devlen);
	int (*dm_for_each_cmek)(int (*cb)(const char *name, const char *uuid,
					  dev_t dev, void *data), void *data);
};
extern const struct kernel_ops kernel_ops;
/* d->kernel, or the real kernel's */
const struct kernel_ops *kernel(const struct daemon *d);
void nl_expect_event(struct daemon *d, uint8_t cmd,
		     const uint8_t uuid[CMEK_UUID_LEN]);
bool nl_own_event(struct daemon *d, uint8_t cmd,
		  const uint8_t uuid[CMEK_UUID_LEN]);

/*
 * jobs.c. One lock, the daemon lock, is held by whichever thread runs
 * daemon code: the main thread always, except in poll(). Work that may
 * wait for a KMS runs as a job, on a thread of its own, and lets go of the
 * lock only inside a provider call (kms.c). So the main thread, which
 * serves the control socket's other requests and the kernel's events,
 * never waits for a KMS; a job must expect anything to have changed after
 * a provider call (struct vol epoch).
 *   JOB_SERIAL  one at a time (in no promised order): the socket's
 *               requests that call a KMS, and the watch, so that none of
 *               them sees another's half-done work
 *   JOB_OWN     at once: a key push for one volume
 */
enum job_lane { JOB_SERIAL, JOB_OWN };
int jobs_init(void);			/* 0 or -errno */
int jobs_wake_fd(void);			/* readable when a job finished */
void jobs_woken(void);			/* empty it */
bool jobs_main_thread(void);
/* Jobs are numbered as they start; the oldest running (or the next). */
uint64_t jobs_next_seq(void);
uint64_t jobs_oldest_seq(void);
void daemon_lock(void);
void daemon_unlock(void);
/* Run @fn(@d, @arg) as a job. 0 or -errno (then @fn never runs). */
int job_start(struct daemon *d, enum job_lane lane,
	      void (*fn)(struct daemon *d, void *arg), void *arg);

/*
 * kms.c: the provider calls, each made without the daemon lock, one at a
 * time per provider (a provider keeps tokens and connections), and never
 * on the main thread (refused, logged as a bug). Same contracts as the
 * cmek_provider_ops they call; @p's ops must have the call, except
 * generate(), which falls back on cmek_generate_by_wrap().
 */
int kms_generate(struct daemon *d, struct cmek_provider *p,
		 const char *key_ref, const struct cmek_binding *b,
		 uint8_t *dek, size_t dek_len, uint8_t **wrapped,
		 size_t *wrapped_len, struct cmek_error *err);
int kms_wrap(struct daemon *d, struct cmek_provider *p, const char *key_ref,
	     const struct cmek_binding *b, const uint8_t *dek, size_t dek_len,
	     uint8_t **wrapped, size_t *wrapped_len, struct cmek_error *err);
int kms_unwrap(struct daemon *d, struct cmek_provider *p,
	       const char *key_ref, const struct cmek_binding *b,
	       const uint8_t *wrapped, size_t wrapped_len, uint8_t *dek,
	       size_t *dek_len, struct cmek_error *err);
int kms_rewrap(struct daemon *d, struct cmek_provider *p,
	       const char *key_ref, const char *new_key_ref,
	       const struct cmek_binding *b, const uint8_t *wrapped,
	       size_t wrapped_len, uint8_t **new_wrapped,
	       size_t *new_wrapped_len, struct cmek_error *err);
int kms_key_state(struct daemon *d, struct cmek_provider *p,
		  const char *key_ref, enum cmek_kms_key_state *state,
		  struct cmek_error *err);
int kms_slot_state(struct daemon *d, struct cmek_provider *p,
		   const char *key_id, enum cmek_kms_key_state *state,
		   struct cmek_error *err);

/* server.c */
int server_start(struct daemon *d);
void server_stop(struct daemon *d);
/* Add the server's fds to @pfd; returns how many were added. */
size_t server_pollfds(struct daemon *d, struct pollfd *pfd, size_t max);
void server_handle(struct daemon *d, struct pollfd *pfd, size_t n);

/* events.c */
void events_handle(struct daemon *d);
/* Retry failed key-needed pushes (as jobs). */
void events_retry(struct daemon *d);
/* Read the events the kernel has queued, without waiting (drain_events). */
void events_drain(struct daemon *d);
/* The same for a revoke of ours: key-needed events go to the resync. */
void events_drain_no_push(struct daemon *d);

/* volume_ops.c: the ops of the socket protocol (thin: vol.c does the work) */
struct json_object *op_ping(struct json_object *req, void *ctx);
struct json_object *op_format(struct json_object *req, void *ctx);
struct json_object *vol_format(struct daemon *d, struct json_object *req,
			       const uint8_t *uuid, bool blank_checked);
struct json_object *op_open(struct json_object *req, void *ctx);
struct json_object *op_close(struct json_object *req, void *ctx);
struct json_object *op_revoke(struct json_object *req, void *ctx);
struct json_object *op_shred(struct json_object *req, void *ctx);
struct json_object *op_rewrap(struct json_object *req, void *ctx);
struct json_object *op_status(struct json_object *req, void *ctx);
struct json_object *op_list(struct json_object *req, void *ctx);
struct json_object *op_check(struct json_object *req, void *ctx);
struct json_object *op_slot_add(struct json_object *req, void *ctx);
struct json_object *op_slot_remove(struct json_object *req, void *ctx);
struct json_object *op_upgrade(struct json_object *req, void *ctx);

/*
 * vol.c: the volume logic (push, revoke, adopt, resync, rewrap), no JSON.
 * Called by the handlers, the events and the watch; calls only down.
 */
/* netlink ready, else -errno with @msg saying to load the module */
int vol_nl_need(struct daemon *d, char *msg, size_t len);
/* A provider failure as an errno: retry later / KMS said no / bad input. */
int vol_cls_errno(enum cmek_err_class cls);
/* keys= of the volume's line of /etc/cmek/volumes allows provider:key_ref */
bool vol_key_pinned(const struct vol *v, const char *provider,
		    const char *key_ref);
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

/*
 * Unwrap @h's DEK from the first slot that works (slot_order), then
 * trust_check(): 0 with *@dek the data key of a header this host trusts (a
 * cmek_secmem_alloc_locked() buffer, the caller's to cmek_secmem_free()),
 * and its MAC key in @mac_key if not NULL (CMEK_VOL_MAC_KEY_LEN bytes of
 * the caller's locked memory); else -errno with @msg and *@cls set.
 */
int vol_unwrap_trusted(struct daemon *d, struct vol *v,
		       const struct hdr_info *h, const char *why,
		       enum push_mode mode, bool legacy_ok, uint8_t **dek,
		       size_t *dek_len, int *used, uint8_t *mac_key,
		       char *msg, size_t msglen, enum cmek_err_class *cls);
/* Unwrap @h's key for @v and push it (@mode); 0 or -errno, @msg, *@cls. */
int vol_push_header(struct daemon *d, struct vol *v, const struct hdr_info *h,
		    const char *why, enum push_mode mode, char *msg,
		    size_t msglen, enum cmek_err_class *cls);
void vol_new_uuid(uint8_t u[16]);
/* Every known entry of volume @uuid was revoked: move their epochs. */
void vols_revoked(struct daemon *d, const uint8_t uuid[CMEK_UUID_LEN]);
/* @v's slot list as its header says now (after cmekd changed it). */
void vol_refresh_slots(struct vol *v);
/* Rewrap @v's slots (or move its slot to nprov/nkey); slots done or -errno. */
int vol_rewrap(struct daemon *d, struct vol *v, const char *nprov,
	       const char *nkey, char *msg, size_t len);
/* The watch's periodic rewrap (rewrap_interval), once per due volume. */
void auto_rewrap(struct daemon *d, time_t now);
/*
 * Unwrap the volume's DEK (one provider call) and push it with REPLACE.
 * @why goes to the audit log ("open", "key-needed", "unlock"). 0 or -errno
 * with @msg filled; *@cls gets the provider's error class.
 */
int vol_push_key(struct daemon *d, struct vol *v, const char *why,
		 char *msg, size_t msglen, enum cmek_err_class *cls);
/* Adopt a mapping named in a key-needed event: read its table's device's
 * header. Returns the new vol or NULL. */
struct vol *vol_adopt(struct daemon *d, const char *dm_name,
		      const uint8_t uuid[CMEK_UUID_LEN]);
/*
 * Compare known volumes with the kernel's key table: push keys that are
 * missing for volumes that are neither revoked nor locked, note keys revoked
 * behind our back, forget volumes whose mapping is gone.
 */
void daemon_resync(struct daemon *d);
/*
 * Push @v's key in a job of its own (@why for the audit), unless one runs
 * already; a transient failure leaves need_push set for events_retry().
 */
void vol_push_later(struct daemon *d, struct vol *v, const char *why);
/* What vol_revoke_key() does with file systems mounted on the volume. */
enum revoke_fs {
	REVOKE_FS_NONE,		/* no mapping left to carry one */
	REVOKE_FS_CONFIG,	/* as [daemon] fs_on_revoke says */
	REVOKE_FS_SHUTDOWN,	/* a request said keep_fs: false */
	REVOKE_FS_KEEP,		/* a request said keep_fs: true */
};
/*
 * Revoke the kernel key (ENOKEY/ENOENT count as done), then, if that
 * worked, handle the file systems mounted on the volume's mappings (fs.c).
 * One audit line for both. 0 or -errno of the kernel revoke.
 */
int vol_revoke_key(struct daemon *d, struct vol *v, const char *why,
		   enum revoke_fs fs);

/* hdr.c: the volume header, through userspace/lib/header.h */
struct cmek_vol_hdr;
struct hdr_slot {
	int index;
	char provider[CMEK_VOL_PROVIDER_MAX];
	char key_ref[CMEK_VOL_KEYREF_MAX];
	char key_id[CMEK_VOL_KEYREF_MAX];	/* from wrapped: struct vol_slot */
	uint8_t *wrapped;		/* malloc()ed */
	size_t wrapped_len;
};
struct hdr_info {
	struct cmek_vol_hdr *raw;	/* as read, for hdr_verify() */
	uint32_t version;		/* CMEK_VOL_VERSION or _LEGACY */
	uint64_t seq;
	char uuid[CMEK_UUID_STR_LEN];
	uint8_t uuid_bin[CMEK_UUID_LEN];
	unsigned int sector_size;	/* bytes */
	uint64_t data_offset;		/* bytes from the start of the device */
	uint64_t data_size;		/* bytes, 0 = to the end */
	unsigned int key_size;		/* DEK bytes: 32 or 64 */
	bool iv_large_sectors;
	uint64_t iv_offset;		/* sectors */
	int nslots;
	struct hdr_slot slots[HDR_SLOTS_MAX];
};
void hdr_info_free(struct hdr_info *h);
/* Read the header of @device (or the detached @header file). 0 or -errno. */
int hdr_read(const char *device, const char *header, struct hdr_info *h,
	     char *err, size_t errlen);
/*
 * 0 if @h carries the MAC of @mac_key, -EBADMSG if not, -ENODATA if it is
 * a version 1 header (no MAC).
 */
int hdr_verify(const struct hdr_info *h, const uint8_t *mac_key);
/*
 * Write a fresh header, sealed with @mac_key. h->uuid etc. filled by the
 * caller.
 */
int hdr_format(const char *device, const char *header,
	       const struct hdr_info *h, const uint8_t *mac_key, bool force,
	       char *err, size_t errlen);
/*
 * An update of the header of volume @uuid: it re-reads the header, which
 * must still be that volume's (-ESTALE) and carry the MAC of @mac_key
 * (-EBADMSG; a version 1 header has none), changes it and writes it
 * crash-safe, sealed with @mac_key, as a version 2 header. @seq gets the
 * sequence number written.
 */
struct hdr_auth {
	uint8_t uuid[CMEK_UUID_LEN];
	const uint8_t *mac_key;		/* CMEK_VOL_MAC_KEY_LEN bytes */
	uint64_t seq;
};
/* Replace slot @index. */
int hdr_update_slot(const char *device, const char *header,
		    struct hdr_auth *a, int index, const char *provider,
		    const char *key_ref, const uint8_t *wrapped,
		    size_t wrapped_len, char *err, size_t errlen);
/*
 * Add a slot (the first empty one); its index in *@index. -ENOSPC when
 * every slot is in use.
 */
int hdr_add_slot(const char *device, const char *header, struct hdr_auth *a,
		 const char *provider, const char *key_ref,
		 const uint8_t *wrapped, size_t wrapped_len, int *index,
		 char *err, size_t errlen);
/*
 * Remove active slot @index: the slot, wrapped key included, is zeroed in
 * both copies. Refuses (-EBUSY) to remove the last active slot; -ENOENT if
 * @index is not an active slot.
 */
int hdr_remove_slot(const char *device, const char *header,
		    struct hdr_auth *a, int index, char *err, size_t errlen);
/* Rewrite the header unchanged but sealed: version 1 becomes 2. */
int hdr_upgrade(const char *device, const char *header, struct hdr_auth *a,
		char *err, size_t errlen);
/* @v's slot list from a header just read. */
void vol_set_slots(struct vol *v, const struct hdr_info *h);
/* 1 with @what set if @device holds a file system, LUKS, cmek header,
 * partition table...; 0 if not; -errno. */
int hdr_probe(const char *device, char *what, size_t len);
/* Overwrite every key slot in both copies of volume @uuid's header. */
int hdr_shred(const char *device, const char *header,
	      const uint8_t uuid[CMEK_UUID_LEN], char *err, size_t errlen);
/*
 * A plaintext DEK or MAC key lives in cmek_secmem_alloc_locked(DEK_BUF_LEN)
 * (secmem.h): unlike a provider's scratch page it must be locked, as
 * cmekd refuses to hold a key it cannot keep out of swap.
 */
#define DEK_BUF_LEN 4096

/* watch.c */
/* Start the watch's tick as a serial job when it is due and none runs. */
void watch_due(struct daemon *d, time_t now);
void watch_run(struct daemon *d, const char *only_name,
	       struct json_object *out);
void watch_tick(struct daemon *d);
/* When the next tick is due: the first key due, at most an interval on. */
time_t watch_next_tick(const struct daemon *d, time_t now);
/* Add the watch's view (kms_state, kms_error, per slot too) to a VOL. */
void watch_annotate(struct daemon *d, const struct vol *v,
		    struct json_object *o);
void watch_free(struct daemon *d);

/*
 * keystate.c: the KMS's last answers per key (d->keys), which the watch
 * fills and the volume logic reads.
 */
bool kms_key_is(const struct kms_key *k, const char *provider,
		const char *key_ref, const char *key_id);
/*
 * The entry for the object a slot needs: (@provider, @key_id), or
 * (@provider, @key_ref) when @key_id is "" or NULL; NULL if none and
 * !@create.
 */
struct kms_key *kms_key_get(struct daemon *d, const char *provider,
			    const char *key_ref, const char *key_id,
			    bool create);
/*
 * Ask the KMS for the key's state (one provider call) and record it.
 * Returns @k's entry as it is after the call (NULL if it was dropped).
 */
struct kms_key *kms_key_ask(struct daemon *d, struct kms_key *k, time_t now);
/* What the last answer for @k means for a slot (slot_policy.h). */
enum cmek_slot_verdict kms_key_verdict(const struct daemon *d,
				       const struct kms_key *k, time_t now);
/* "KMS key is disabled", "KMS refused: ...", "KMS unreachable for ...". */
void kms_key_describe(const struct daemon *d, const struct kms_key *k,
		      time_t now, char *buf, size_t len);

/* state.c */
struct vol *state_find_name(struct daemon *d, const char *name);
struct vol *state_find_uuid(struct daemon *d, const uint8_t uuid[16],
			    struct vol *after);
struct vol *state_add(struct daemon *d, const struct vol *v);
void state_del(struct daemon *d, struct vol *v);
/* Free forgotten volumes that no job running now can hold. */
void state_reap(struct daemon *d);
void state_free(struct daemon *d);
/*
 * The known volumes now, for a loop that may let go of the daemon lock: a
 * volume forgotten meanwhile stays allocated (gone) until the loop's job
 * ends. malloc()ed; NULL with *@n 0 if none or out of memory.
 */
struct vol **state_snapshot(struct daemon *d, size_t *n);
int state_save(struct daemon *d);
int state_load(struct daemon *d);
struct json_object *vol_to_json(const struct vol *v);

/*
 * fs.c: after a kernel revoke, the mounted file systems of the mappings of
 * volume @uuid (every cmek mapping when NULL): shut down, kept, holders
 * reported or killed, per fs_shutdown.h. Appends " mapping=... fs=..."
 * for each to @out (an audit detail) and logs each.
 */
void fs_on_revoke(struct daemon *d, const char *uuid, enum revoke_fs fs,
		  char *out, size_t len);

/*
 * trust.c: <trust_dir>/<uuid> records. trust_init() creates the directory
 * (0 or -errno). trust_check() runs after every unwrap of @h's data key and
 * before the key is used: 0 with @mac_key (CMEK_VOL_MAC_KEY_LEN bytes, the
 * caller's locked memory) filled, or -EKEYREJECTED (not the recorded key),
 * -EBADMSG (MAC), -ESTALE (rolled back), -EPROTO (downgraded, or version 1
 * refused unless @legacy_ok), each audited and alarmed, with @msg set.
 * trust_record() records a volume this host formats; trust_written() the
 * sequence number of a header it wrote.
 */
int trust_init(struct daemon *d);
/*
 * -EAGAIN (with @msg) while trust_dir lies under a mount point of
 * /etc/fstab that is not mounted yet (cmekd starts before local file
 * systems: a separate /var): records read or written then would be the
 * mount point's, not the host's. 0 otherwise.
 */
int trust_ready(struct daemon *d, char *msg, size_t msglen);
int trust_check(struct daemon *d, const struct vol *v,
		const struct hdr_info *h, const uint8_t *dek, size_t dek_len,
		const char *why, bool legacy_ok, uint8_t *mac_key, char *msg,
		size_t msglen);
int trust_record(struct daemon *d, const uint8_t uuid[CMEK_UUID_LEN],
		 const uint8_t *dek, size_t dek_len, uint64_t seq);
void trust_written(struct daemon *d, const uint8_t uuid[CMEK_UUID_LEN],
		   uint64_t seq);

/* provision.c (format= of /etc/cmek/volumes) */
struct json_object *op_provision(struct json_object *req, void *ctx);
struct json_object *op_provision_state(struct json_object *req, void *ctx);

/* audit.c */
void audit_op(struct daemon *d, const char *op, const struct vol *v,
	      const char *provider, const char *key_ref, const char *uuid,
	      int result, const char *fmt, ...)
	__attribute__((format(printf, 8, 9)));
/*
 * @s escaped for a quoted audit field (error="%s"): it may quote a header's
 * key reference. The result lives until this thread's next call.
 */
const char *audit_q(const char *s);

#endif /* CMEKD_H */
