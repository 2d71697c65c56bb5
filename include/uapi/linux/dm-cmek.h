/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * Copyright (C) 2026 The cmek developers.
 *
 * Documentation
 * =============
 *
 * dm-cmek is a device-mapper target ("cmek") that encrypts every sector with
 * AES-XTS (on-disk identical to dm-crypt's aes-xts-plain64). Its volume keys
 * never appear in a dm table. Each mapping names a volume UUID, and the key
 * for that UUID is pushed into, and revoked from, an in-kernel key table over
 * the generic netlink family described here:
 *
 *     family name:            "cmek"      (CMEK_GENL_NAME)
 *     family version:         1           (CMEK_GENL_VERSION)
 *     multicast group:        "events"    (CMEK_GENL_MCGRP_EVENTS)
 *
 * Every command, and joining the events group, requires CAP_SYS_ADMIN. The
 * family exists in the initial network namespace only. Attributes are
 * validated strictly: unknown attributes, attributes that only appear in
 * replies, missing required attributes and unknown flag bits are rejected
 * with EINVAL, attributes of the wrong length with ERANGE (EINVAL for a key
 * that is neither 32 nor 64 bytes), each with an extended-ack message. So
 * are a non-zero genlmsghdr.reserved and nlmsg_flags other than
 * NLM_F_REQUEST, NLM_F_ACK, NLM_F_ECHO and NLM_F_DUMP (on a dump). The
 * family's policy can be read with CTRL_CMD_GETPOLICY (genl ctrl policy);
 * Documentation/netlink/specs/cmek.yaml is its YNL specification.
 *
 * Volume UUIDs travel as 16 raw bytes (CMEK_A_UUID), the binary form of the
 * RFC 4122 string that appears in the dm table.
 *
 * Key table
 * ---------
 *
 * The table holds one entry per volume UUID. An entry exists while a key is
 * set for it or while at least one mapping names it, so a key may be pushed
 * before or after the mapping is created, and several mappings may share one
 * entry. An entry is in one of three states (enum cmek_key_state):
 *
 *     CMEK_KEY_MISSING   no key has been set since the entry was created
 *     CMEK_KEY_PRESENT   a key is installed and I/O is served
 *     CMEK_KEY_REVOKED   the key was revoked; I/O fails (or is held)
 *
 * Each successful CMEK_CMD_SET_KEY installs a new key instance with a
 * generation number: the one given in CMEK_A_GENERATION, or else the previous
 * generation plus one (starting at 1).
 *
 * Commands
 * --------
 *
 * CMEK_CMD_SET_KEY
 *     Install a key. Request attributes:
 *
 *         CMEK_A_UUID         binary[16], required
 *         CMEK_A_KEY          binary[32|64], required: AES-128-XTS or
 *                             AES-256-XTS key, the same bytes dm-crypt takes
 *                             for aes-xts-plain64
 *         CMEK_A_GENERATION   u64, optional
 *         CMEK_A_FLAGS        u32, optional, CMEK_SET_F_*:
 *             CMEK_SET_F_REPLACE  replace a key that is already present
 *                                 (without it, setting a present key fails
 *                                 with EEXIST)
 *
 *     What becomes of the key bytes in the request. The genetlink core
 *     checks a request before dm-cmek sees it: its genetlink header and
 *     nlmsg_flags, the command, and every attribute against the family's
 *     policy. What it refuses (for example an unknown command or
 *     attribute, a UUID of the wrong length, an unknown flag bit,
 *     NLM_F_DUMP on a command that has no dump, bytes after the last
 *     attribute, a sender outside the initial network namespace) never
 *     reaches dm-cmek: the kernel frees the request without wiping it,
 *     and, unless the socket set NETLINK_CAP_ACK, copies it whole, key
 *     included, into the NLMSG_ERROR reply. No family can change that
 *     (since 6.1 a new family's requests are always validated by the core
 *     first). So:
 *
 *       - a client sets NETLINK_CAP_ACK on its socket before it sends a
 *         key (userspace/lib/nl.c refuses a socket without it), and sends
 *         well-formed requests;
 *       - the policy accepts CMEK_A_KEY of any length, so the core never
 *         refuses a request for its key; dm-cmek checks the size itself;
 *       - every request dm-cmek is handed has each CMEK_A_KEY wiped before
 *         its reply is sent, whatever the outcome (bad key size, missing
 *         attributes, no permission, any error);
 *       - what remains is the freed request of a refused message: kernel
 *         memory, reused without being read by anyone but the kernel;
 *         init_on_free=1 wipes it too. (A netlink tap, nlmon, sees every
 *         request: it needs CAP_NET_ADMIN.)
 *
 *     On success the kernel multicasts CMEK_CMD_EVENT_KEY_SET and replies
 *     with no payload. A SET for a volume whose revoke is under way waits for it.
 *
 *     Key binding: the entry is bound to the key of its last successful SET
 *     (the kernel keeps a SHA-256 fingerprint of the UUID and the key, not
 *     the key), for as long as the entry exists, a revoke included. While
 *     at least one mapping names the UUID, a SET whose key differs from the
 *     bound one is refused with EKEYREJECTED, with or without REPLACE, also
 *     when the key was revoked: a mapped volume only ever gets its own key
 *     back. The same key is always accepted. With no mapping, any key is
 *     accepted and the entry is bound to it (a key pushed before the table
 *     is loaded may be replaced before use). Loading a table binds nothing.
 *
 *     Errors: EINVAL (bad attributes), EKEYREJECTED (a mapped volume and a
 *     key other than the one it is bound to; checked before EEXIST),
 *     EEXIST (key present and no REPLACE), EOPNOTSUPP (the xts(aes) driver
 *     the key got needs larger requests than a mapping of the volume was
 *     loaded for: reload the table), ENOMEM, or the crypto API's error for
 *     the key.
 *
 * CMEK_CMD_REVOKE_KEY
 *     Revoke one key, or all keys. Request attributes:
 *
 *         CMEK_A_UUID         binary[16], required unless CMEK_REVOKE_F_ALL
 *         CMEK_A_FLAGS        u32, optional, CMEK_REVOKE_F_*:
 *             CMEK_REVOKE_F_ALL   revoke every present key (CMEK_A_UUID
 *                                 must then be absent)
 *
 *     Revocation is synchronous: when the reply arrives the raw key and the
 *     expanded key schedule are wiped and freed (also those of keys a
 *     REPLACE retired and that were still in use), no request is encrypted
 *     or decrypted with them afterwards, no read completes with plaintext
 *     decrypted with them any more (a read whose decryption ends after the
 *     revoke began fails with EIO and what it decrypted zeroed), the clean
 *     page cache of every mapping using the key has been dropped (mapped
 *     pages unmapped first; see Documentation for what remains), and
 *     in-flight I/O that still needed the key has completed (with an
 *     error). Later I/O fails, or is held if the mapping was loaded with
 *     key_wait_ms; discards fail at once. On success the kernel multicasts
 *     CMEK_CMD_EVENT_KEY_REVOKED for each key revoked.
 *
 *     A revoke waits for the bios that are in the cipher with the key (and,
 *     for reads, their completion), even when the device below is
 *     stalled, without holding a lock that requests for other volumes or
 *     dumps need. CMEK_REVOKE_F_ALL kills every key before it waits, and
 *     waits for revokes of single volumes that started before it. A
 *     CMEK_CMD_SET_KEY for a volume whose revoke is under way waits until
 *     it is done; revoking a volume whose revoke is under way waits for it
 *     and succeeds (a SET may then have installed a key again).
 *     Errors: ENOENT (no entry for the UUID), ENOKEY (entry has no key
 *     present), EINVAL (bad attributes).
 *
 * CMEK_CMD_GET_KEY
 *     Without NLM_F_DUMP: report the entry named by CMEK_A_UUID (required).
 *     With NLM_F_DUMP: report every entry, one message each. A report
 *     carries, and never carries key bytes:
 *
 *         CMEK_A_UUID         binary[16]
 *         CMEK_A_STATE        u32, enum cmek_key_state
 *         CMEK_A_GENERATION   u64, generation of the present or last key
 *                             (0 if never set)
 *         CMEK_A_KEY_SIZE     u32, size in bytes of the present or last key
 *                             (0 if never set)
 *         CMEK_A_USERS        u32, number of mappings naming this UUID
 *         CMEK_A_READS        u64, read bios completed across the mappings
 *         CMEK_A_WRITES       u64, write bios completed
 *         CMEK_A_ERRORS       u64, bios failed by the target, including
 *                             for want of a key
 *
 *     A dump comes in parts; if an entry was added or removed between two
 *     of them, a later message (or NLMSG_DONE) carries NLM_F_DUMP_INTR:
 *     the list may miss or repeat entries, and must be read again.
 *
 *     Errors: ENOENT (no entry for the UUID).
 *
 * Events
 * ------
 *
 * Sent to the "events" multicast group with the command number below:
 *
 * CMEK_CMD_EVENT_KEY_NEEDED
 *     A mapping was loaded or resumed, or I/O arrived, while no key was
 *     present. Sent once per mapping per transition to "needs a key", not per
 *     bio. Attributes: CMEK_A_UUID, CMEK_A_DM_NAME (string, the dm device
 *     name), CMEK_A_DM_DEV (u32, the mapped device's dev_t in the kernel's
 *     new_encode_dev() format, i.e. userspace makedev()-compatible),
 *     CMEK_A_STATE.
 *
 * CMEK_CMD_EVENT_KEY_SET
 *     A key was installed. Attributes: CMEK_A_UUID, CMEK_A_GENERATION,
 *     CMEK_A_USERS.
 *
 * CMEK_CMD_EVENT_KEY_REVOKED
 *     A key was revoked and wiped. Attributes: CMEK_A_UUID,
 *     CMEK_A_GENERATION, CMEK_A_USERS.
 *
 * Device-mapper table
 * -------------------
 *
 *     <start> <len> cmek <volume-uuid> <device> <offset> [<#opts> <opt>...]
 *
 * <offset> is the start of the encrypted data on <device> in 512-byte
 * sectors. Options: sector_size:<512|1024|2048|4096>, iv_large_sectors,
 * iv_offset:<sectors>, allow_discards, key_wait_ms:<ms> (hold I/O that finds
 * no key for up to <ms> milliseconds, at most CMEK_MAX_KEY_WAIT_MS, instead
 * of failing it at once). See Documentation/admin-guide/dm-cmek.rst.
 */

#ifndef _UAPI_LINUX_DM_CMEK_H
#define _UAPI_LINUX_DM_CMEK_H

#include <linux/types.h>

#define CMEK_GENL_NAME		"cmek"
#define CMEK_GENL_VERSION	1
#define CMEK_GENL_MCGRP_EVENTS	"events"

#define CMEK_UUID_LEN		16
#define CMEK_KEY_SIZE_128	32	/* AES-128-XTS: two 16-byte keys */
#define CMEK_KEY_SIZE_256	64	/* AES-256-XTS: two 32-byte keys */
#define CMEK_MAX_KEY_WAIT_MS	600000
#define CMEK_DM_NAME_MAX	128

/*
 * Table options, as they appear after <#opts>. A valued option is the name,
 * CMEK_OPT_SEP and a decimal number; the others are the name alone.
 */
#define CMEK_OPT_SECTOR_SIZE		"sector_size"
#define CMEK_OPT_IV_LARGE_SECTORS	"iv_large_sectors"
#define CMEK_OPT_IV_OFFSET		"iv_offset"
#define CMEK_OPT_ALLOW_DISCARDS		"allow_discards"
#define CMEK_OPT_KEY_WAIT_MS		"key_wait_ms"
#define CMEK_OPT_SEP			':'

enum cmek_cmd {
	CMEK_CMD_UNSPEC,
	CMEK_CMD_SET_KEY,
	CMEK_CMD_REVOKE_KEY,
	CMEK_CMD_GET_KEY,
	CMEK_CMD_EVENT_KEY_NEEDED,
	CMEK_CMD_EVENT_KEY_SET,
	CMEK_CMD_EVENT_KEY_REVOKED,
	__CMEK_CMD_MAX
};

#define CMEK_CMD_MAX (__CMEK_CMD_MAX - 1)

enum cmek_attr {
	CMEK_A_UNSPEC,
	CMEK_A_UUID,
	CMEK_A_KEY,
	CMEK_A_GENERATION,
	CMEK_A_FLAGS,
	CMEK_A_STATE,
	CMEK_A_KEY_SIZE,
	CMEK_A_USERS,
	CMEK_A_READS,
	CMEK_A_WRITES,
	CMEK_A_ERRORS,
	CMEK_A_DM_NAME,
	CMEK_A_DM_DEV,
	CMEK_A_PAD,
	__CMEK_A_MAX
};

#define CMEK_A_MAX (__CMEK_A_MAX - 1)

enum cmek_key_state {
	CMEK_KEY_MISSING,
	CMEK_KEY_PRESENT,
	CMEK_KEY_REVOKED,
	__CMEK_KEY_STATE_MAX
};

enum cmek_set_flag {
	CMEK_SET_F_REPLACE = 1U << 0,
	__CMEK_SET_F_ALL = CMEK_SET_F_REPLACE
};

enum cmek_revoke_flag {
	CMEK_REVOKE_F_ALL = 1U << 0,
	__CMEK_REVOKE_F_ALL = CMEK_REVOKE_F_ALL
};

#endif /* _UAPI_LINUX_DM_CMEK_H */
