/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Userspace side of the cmek generic netlink protocol (include/uapi/linux/
 * dm-cmek.h), over libmnl. Used by cmekctl, cmekd and the kselftests.
 *
 * All functions return 0 on success and a negative errno on failure; when
 * the kernel sent an extended-ack message it is copied into nl->errmsg.
 */
#ifndef CMEK_NL_H
#define CMEK_NL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/dm-cmek.h>

#include "uuid.h"

struct cmek_nl;

struct cmek_key_info {
	uint8_t uuid[CMEK_UUID_LEN];
	uint32_t state;			/* enum cmek_key_state */
	uint64_t generation;
	uint32_t key_size;
	uint32_t users;
	uint64_t reads, writes, errors;
};

struct cmek_event {
	uint8_t cmd;			/* CMEK_CMD_EVENT_* */
	uint8_t uuid[CMEK_UUID_LEN];
	uint32_t state;
	uint64_t generation;
	uint32_t users;
	char dm_name[CMEK_DM_NAME_MAX];	/* KEY_NEEDED only, else "" */
	uint32_t dm_dev;		/* KEY_NEEDED only: makedev()-style */
};

/* Open a socket and resolve the "cmek" family; -ENOENT if not loaded. */
int cmek_nl_open(struct cmek_nl **nl);
void cmek_nl_close(struct cmek_nl *nl);
const char *cmek_nl_errmsg(const struct cmek_nl *nl);

int cmek_nl_set_key(struct cmek_nl *nl, const uint8_t uuid[CMEK_UUID_LEN],
		    const uint8_t *key, size_t key_len, uint64_t generation,
		    bool has_generation, uint32_t flags);
/* uuid == NULL with CMEK_REVOKE_F_ALL revokes every key. */
int cmek_nl_revoke(struct cmek_nl *nl, const uint8_t uuid[CMEK_UUID_LEN],
		   uint32_t flags);
int cmek_nl_get(struct cmek_nl *nl, const uint8_t uuid[CMEK_UUID_LEN],
		struct cmek_key_info *info);
/*
 * Calls cb for each entry of one consistent read of the table: the dump is
 * read again while the kernel flags it interrupted (an entry came or went
 * meanwhile), -EAGAIN after 5 tries. A non-zero return from cb stops.
 */
int cmek_nl_dump(struct cmek_nl *nl,
		 int (*cb)(const struct cmek_key_info *info, void *data),
		 void *data);

/* Join the events group (needs CAP_SYS_ADMIN); then poll cmek_nl_fd(). */
int cmek_nl_subscribe(struct cmek_nl *nl);
int cmek_nl_fd(const struct cmek_nl *nl);
/* Read one batch of events, calling cb for each. -EAGAIN if none ready. */
int cmek_nl_read_events(struct cmek_nl *nl,
			void (*cb)(const struct cmek_event *ev, void *data),
			void *data);

const char *cmek_key_state_name(uint32_t state);

#endif /* CMEK_NL_H */
