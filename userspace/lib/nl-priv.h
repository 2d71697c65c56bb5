/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internals of nl.c exposed for the host unit tests (tests/unit/test_nl.c):
 * message builders and reply parsers that need no kernel. Not a stable API;
 * programs use nl.h.
 */
#ifndef CMEK_NL_PRIV_H
#define CMEK_NL_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/netlink.h>
#include "nl.h"

/* Large enough for any request we build and any reply we read. */
#define CMEK_NL_BUF_SIZE	32768

/*
 * Build requests into @buf (@len bytes). Return the message, or NULL with
 * errno = EINVAL (bad arguments) or EMSGSIZE (buffer too small). The
 * SET_KEY builder copies the key into @buf: wipe it with
 * cmek_nl_wipe_msg() once sent.
 */
struct nlmsghdr *cmek_nl_build_set_key(void *buf, size_t len, uint16_t family,
				       uint32_t seq,
				       const uint8_t uuid[CMEK_UUID_LEN],
				       const uint8_t *key, size_t key_len,
				       uint64_t generation, bool has_generation,
				       uint32_t flags);
struct nlmsghdr *cmek_nl_build_revoke(void *buf, size_t len, uint16_t family,
				      uint32_t seq,
				      const uint8_t uuid[CMEK_UUID_LEN],
				      uint32_t flags);
/* uuid == NULL: dump request. */
struct nlmsghdr *cmek_nl_build_get(void *buf, size_t len, uint16_t family,
				   uint32_t seq,
				   const uint8_t uuid[CMEK_UUID_LEN]);
struct nlmsghdr *cmek_nl_build_getfamily(void *buf, size_t len, uint32_t seq,
					 const char *name);

/* Message for a cmek_nl_open() error: -ENOENT means "module not loaded". */
const char *cmek_nl_open_strerror(int err);

/* Zero the whole message (header and payload), explicit_bzero. */
void cmek_nl_wipe_msg(struct nlmsghdr *nlh);

/*
 * Parse an NLMSG_ERROR message: returns the (negative or zero) error and
 * copies NLMSGERR_ATTR_MSG, if any, into @errmsg (else leaves it "").
 * -EBADMSG if the message is truncated.
 */
int cmek_nl_parse_ack(const struct nlmsghdr *nlh, char *errmsg, size_t len);

/* Parse a CTRL_CMD_NEWFAMILY reply: family id and the id of @grp (0 if
 * absent). */
int cmek_nl_parse_family(const struct nlmsghdr *nlh, const char *grp,
			 uint16_t *family_id, uint32_t *grp_id);

/* Parse a GET_KEY report / an event. -EBADMSG if malformed. */
int cmek_nl_parse_info(const struct nlmsghdr *nlh, struct cmek_key_info *info);
int cmek_nl_parse_event(const struct nlmsghdr *nlh, struct cmek_event *ev);

#endif /* CMEK_NL_PRIV_H */
