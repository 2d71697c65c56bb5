// SPDX-License-Identifier: GPL-2.0
/*
 * Userspace side of the cmek generic netlink protocol, over libmnl.
 *
 * One socket carries requests and their replies; cmek_nl_subscribe() opens a
 * second one for the "events" multicast group so that events never
 * interleave with a request's replies.
 *
 * Key hygiene: requests are built in a locked, non-dumpable buffer
 * (secmem.h); the SET_KEY message is wiped right after sendmsg()
 * and the receive buffer is wiped after its replies are read. The socket
 * sets NETLINK_CAP_ACK so that an error reply does not echo the request
 * (and so the key) back to us.
 *
 * The builders accept any key length and any flag combination on purpose:
 * the kernel is the one that validates them (and the kselftests check that
 * it does); callers such as cmekctl validate their own input first.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <openssl/crypto.h>

#include "nl.h"
#include "nl-priv.h"
#include "secmem.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

#define CMEK_NL_MAX_KEY		512	/* builder sanity bound only */

struct cmek_nl {
	struct mnl_socket *sk;		/* requests and replies */
	struct mnl_socket *ev;		/* events group, after subscribe */
	uint32_t portid;
	uint32_t seq;
	uint16_t family;
	uint32_t mcgrp;
	uint8_t *buf;			/* CMEK_NL_BUF_SIZE, locked */
	char errmsg[512];
};

/* ------------------------------------------------------------------ */
/* UUIDs and names                                                    */

const char *cmek_key_state_name(uint32_t state)
{
	switch (state) {
	case CMEK_KEY_MISSING:
		return "missing";
	case CMEK_KEY_PRESENT:
		return "present";
	case CMEK_KEY_REVOKED:
		return "revoked";
	default:
		return "unknown";
	}
}

/* ------------------------------------------------------------------ */
/* Message builders                                                   */

static struct nlmsghdr *put_genl(void *buf, size_t len, uint16_t type,
				 uint16_t flags, uint32_t seq, uint8_t cmd,
				 uint8_t version)
{
	struct nlmsghdr *nlh;
	struct genlmsghdr *g;

	if (len < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*g))) {
		errno = EMSGSIZE;
		return NULL;
	}
	memset(buf, 0, MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*g)));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	nlh->nlmsg_seq = seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = version;
	return nlh;
}

struct nlmsghdr *cmek_nl_build_set_key(void *buf, size_t len, uint16_t family,
				       uint32_t seq,
				       const uint8_t uuid[CMEK_UUID_LEN],
				       const uint8_t *key, size_t key_len,
				       uint64_t generation, bool has_generation,
				       uint32_t flags)
{
	struct nlmsghdr *nlh;
	bool ok;

	if (!buf || !uuid || !key || key_len == 0 ||
	    key_len > CMEK_NL_MAX_KEY) {
		errno = EINVAL;
		return NULL;
	}
	nlh = put_genl(buf, len, family, NLM_F_REQUEST | NLM_F_ACK, seq,
		       CMEK_CMD_SET_KEY, CMEK_GENL_VERSION);
	if (!nlh)
		return NULL;
	ok = mnl_attr_put_check(nlh, len, CMEK_A_UUID, CMEK_UUID_LEN, uuid) &&
	     mnl_attr_put_check(nlh, len, CMEK_A_KEY, key_len, key);
	if (ok && has_generation)
		ok = mnl_attr_put_u64_check(nlh, len, CMEK_A_GENERATION,
					    generation);
	if (ok && flags)
		ok = mnl_attr_put_u32_check(nlh, len, CMEK_A_FLAGS, flags);
	if (!ok) {
		/* May hold part of the key. */
		explicit_bzero(buf, len);
		errno = EMSGSIZE;
		return NULL;
	}
	return nlh;
}

struct nlmsghdr *cmek_nl_build_revoke(void *buf, size_t len, uint16_t family,
				      uint32_t seq,
				      const uint8_t uuid[CMEK_UUID_LEN],
				      uint32_t flags)
{
	struct nlmsghdr *nlh;
	bool ok = true;

	if (!buf) {
		errno = EINVAL;
		return NULL;
	}
	nlh = put_genl(buf, len, family, NLM_F_REQUEST | NLM_F_ACK, seq,
		       CMEK_CMD_REVOKE_KEY, CMEK_GENL_VERSION);
	if (!nlh)
		return NULL;
	if (uuid)
		ok = mnl_attr_put_check(nlh, len, CMEK_A_UUID, CMEK_UUID_LEN,
					uuid);
	if (ok && flags)
		ok = mnl_attr_put_u32_check(nlh, len, CMEK_A_FLAGS, flags);
	if (!ok) {
		errno = EMSGSIZE;
		return NULL;
	}
	return nlh;
}

struct nlmsghdr *cmek_nl_build_get(void *buf, size_t len, uint16_t family,
				   uint32_t seq,
				   const uint8_t uuid[CMEK_UUID_LEN])
{
	struct nlmsghdr *nlh;

	if (!buf) {
		errno = EINVAL;
		return NULL;
	}
	nlh = put_genl(buf, len, family,
		       NLM_F_REQUEST | (uuid ? NLM_F_ACK : NLM_F_DUMP), seq,
		       CMEK_CMD_GET_KEY, CMEK_GENL_VERSION);
	if (!nlh)
		return NULL;
	if (uuid && !mnl_attr_put_check(nlh, len, CMEK_A_UUID, CMEK_UUID_LEN,
					uuid)) {
		errno = EMSGSIZE;
		return NULL;
	}
	return nlh;
}

struct nlmsghdr *cmek_nl_build_getfamily(void *buf, size_t len, uint32_t seq,
					 const char *name)
{
	struct nlmsghdr *nlh;

	if (!buf || !name) {
		errno = EINVAL;
		return NULL;
	}
	nlh = put_genl(buf, len, GENL_ID_CTRL, NLM_F_REQUEST | NLM_F_ACK, seq,
		       CTRL_CMD_GETFAMILY, 1);
	if (!nlh)
		return NULL;
	if (!mnl_attr_put_strz_check(nlh, len, CTRL_ATTR_FAMILY_NAME, name)) {
		errno = EMSGSIZE;
		return NULL;
	}
	return nlh;
}

void cmek_nl_wipe_msg(struct nlmsghdr *nlh)
{
	if (nlh)
		explicit_bzero(nlh, nlh->nlmsg_len);
}

/* ------------------------------------------------------------------ */
/* Reply parsers                                                      */

int cmek_nl_parse_ack(const struct nlmsghdr *nlh, char *errmsg, size_t len)
{
	const struct nlmsgerr *err;
	size_t off, plen;
	const struct nlattr *attr;

	if (errmsg && len)
		errmsg[0] = '\0';
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*err)))
		return -EBADMSG;
	err = mnl_nlmsg_get_payload(nlh);
	plen = mnl_nlmsg_get_payload_len(nlh);

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS) || !errmsg || !len)
		return err->error > 0 ? -err->error : err->error;

	/* TLVs follow the error and, unless capped, the echoed request. */
	off = sizeof(*err);
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
		if (err->msg.nlmsg_len < sizeof(struct nlmsghdr))
			return -EBADMSG;
		off += MNL_ALIGN(err->msg.nlmsg_len - sizeof(struct nlmsghdr));
	}
	off = MNL_ALIGN(off);
	if (off > plen)
		return -EBADMSG;
	mnl_attr_for_each_payload((const void *)((const char *)err + off),
				  plen - off) {
		if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
		    mnl_attr_get_payload_len(attr) > 0) {
			size_t n = mnl_attr_get_payload_len(attr);
			const char *s = mnl_attr_get_payload(attr);

			n = strnlen(s, n);
			if (n >= len)
				n = len - 1;
			memcpy(errmsg, s, n);
			errmsg[n] = '\0';
		}
	}
	return err->error > 0 ? -err->error : err->error;
}

struct family_parse {
	const char *grp;
	uint16_t id;
	uint32_t grp_id;
	bool have_id;
};

static int family_grp_cb(const struct nlattr *grp, struct family_parse *fp)
{
	const struct nlattr *a;
	const char *name = NULL;
	uint32_t id = 0;
	bool have_id = false;

	mnl_attr_for_each_nested(a, grp) {
		switch (mnl_attr_get_type(a)) {
		case CTRL_ATTR_MCAST_GRP_NAME:
			if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0)
				return -EBADMSG;
			name = mnl_attr_get_str(a);
			break;
		case CTRL_ATTR_MCAST_GRP_ID:
			if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
				return -EBADMSG;
			id = mnl_attr_get_u32(a);
			have_id = true;
			break;
		}
	}
	if (name && have_id && fp->grp && !strcmp(name, fp->grp))
		fp->grp_id = id;
	return 0;
}

int cmek_nl_parse_family(const struct nlmsghdr *nlh, const char *grp,
			 uint16_t *family_id, uint32_t *grp_id)
{
	struct family_parse fp = { .grp = grp };
	const struct nlattr *a, *g;
	int ret;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(struct genlmsghdr)))
		return -EBADMSG;
	mnl_attr_for_each(a, nlh, sizeof(struct genlmsghdr)) {
		switch (mnl_attr_get_type(a)) {
		case CTRL_ATTR_FAMILY_ID:
			if (mnl_attr_validate(a, MNL_TYPE_U16) < 0)
				return -EBADMSG;
			fp.id = mnl_attr_get_u16(a);
			fp.have_id = true;
			break;
		case CTRL_ATTR_MCAST_GROUPS:
			if (mnl_attr_validate(a, MNL_TYPE_NESTED) < 0)
				return -EBADMSG;
			mnl_attr_for_each_nested(g, a) {
				ret = family_grp_cb(g, &fp);
				if (ret)
					return ret;
			}
			break;
		}
	}
	if (!fp.have_id)
		return -EBADMSG;
	*family_id = fp.id;
	if (grp_id)
		*grp_id = fp.grp_id;
	return 0;
}

/* Collect the cmek attributes of a message, checking each one's length. */
static int parse_cmek_attrs(const struct nlmsghdr *nlh,
			    const struct nlattr *tb[CMEK_A_MAX + 1])
{
	const struct nlattr *a;

	memset(tb, 0, sizeof(*tb) * (CMEK_A_MAX + 1));
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(struct genlmsghdr)))
		return -EBADMSG;
	mnl_attr_for_each(a, nlh, sizeof(struct genlmsghdr)) {
		uint16_t type = mnl_attr_get_type(a);
		int bad = 0;

		if (type > CMEK_A_MAX)
			continue;	/* newer kernel: ignore */
		switch (type) {
		case CMEK_A_UUID:
			bad = mnl_attr_get_payload_len(a) != CMEK_UUID_LEN;
			break;
		case CMEK_A_STATE:
		case CMEK_A_KEY_SIZE:
		case CMEK_A_USERS:
		case CMEK_A_FLAGS:
		case CMEK_A_DM_DEV:
			bad = mnl_attr_validate(a, MNL_TYPE_U32) < 0;
			break;
		case CMEK_A_GENERATION:
		case CMEK_A_READS:
		case CMEK_A_WRITES:
		case CMEK_A_ERRORS:
			bad = mnl_attr_validate(a, MNL_TYPE_U64) < 0;
			break;
		case CMEK_A_DM_NAME:
			bad = mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0;
			break;
		default:
			continue;
		}
		if (bad)
			return -EBADMSG;
		tb[type] = a;
	}
	return 0;
}

static uint32_t get_u32(const struct nlattr *a)
{
	return a ? mnl_attr_get_u32(a) : 0;
}

static uint64_t get_u64(const struct nlattr *a)
{
	return a ? mnl_attr_get_u64(a) : 0;
}

int cmek_nl_parse_info(const struct nlmsghdr *nlh, struct cmek_key_info *info)
{
	const struct nlattr *tb[CMEK_A_MAX + 1];
	int ret = parse_cmek_attrs(nlh, tb);

	if (ret)
		return ret;
	if (!tb[CMEK_A_UUID])
		return -EBADMSG;
	memset(info, 0, sizeof(*info));
	memcpy(info->uuid, mnl_attr_get_payload(tb[CMEK_A_UUID]),
	       CMEK_UUID_LEN);
	info->state = get_u32(tb[CMEK_A_STATE]);
	info->generation = get_u64(tb[CMEK_A_GENERATION]);
	info->key_size = get_u32(tb[CMEK_A_KEY_SIZE]);
	info->users = get_u32(tb[CMEK_A_USERS]);
	info->reads = get_u64(tb[CMEK_A_READS]);
	info->writes = get_u64(tb[CMEK_A_WRITES]);
	info->errors = get_u64(tb[CMEK_A_ERRORS]);
	return 0;
}

int cmek_nl_parse_event(const struct nlmsghdr *nlh, struct cmek_event *ev)
{
	const struct nlattr *tb[CMEK_A_MAX + 1];
	const struct genlmsghdr *g;
	int ret = parse_cmek_attrs(nlh, tb);

	if (ret)
		return ret;
	g = mnl_nlmsg_get_payload(nlh);
	if (g->cmd != CMEK_CMD_EVENT_KEY_NEEDED &&
	    g->cmd != CMEK_CMD_EVENT_KEY_SET &&
	    g->cmd != CMEK_CMD_EVENT_KEY_REVOKED)
		return -EBADMSG;
	if (!tb[CMEK_A_UUID])
		return -EBADMSG;
	memset(ev, 0, sizeof(*ev));
	ev->cmd = g->cmd;
	memcpy(ev->uuid, mnl_attr_get_payload(tb[CMEK_A_UUID]), CMEK_UUID_LEN);
	ev->state = get_u32(tb[CMEK_A_STATE]);
	ev->generation = get_u64(tb[CMEK_A_GENERATION]);
	ev->users = get_u32(tb[CMEK_A_USERS]);
	ev->dm_dev = get_u32(tb[CMEK_A_DM_DEV]);
	if (tb[CMEK_A_DM_NAME]) {
		const char *s = mnl_attr_get_str(tb[CMEK_A_DM_NAME]);

		snprintf(ev->dm_name, sizeof(ev->dm_name), "%s", s);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Transport                                                          */

static void set_errmsg(struct cmek_nl *nl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_errmsg(struct cmek_nl *nl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(nl->errmsg, sizeof(nl->errmsg), fmt, ap);
	va_end(ap);
}

const char *cmek_nl_open_strerror(int err)
{
	if (err == -ENOENT)
		return "dm-cmek module not loaded (netlink family "
		       CMEK_GENL_NAME " not found): run modprobe dm-cmek";
	if (err == -EPROTONOSUPPORT || err == -EAFNOSUPPORT)
		return "this kernel has no generic netlink support";
	return strerror(-err);
}

const char *cmek_nl_errmsg(const struct cmek_nl *nl)
{
	return nl ? nl->errmsg : "";
}

typedef int (*msg_cb)(const struct nlmsghdr *nlh, void *data);

/*
 * Send @nlh and read replies until the ACK (or NLMSG_DONE for a dump),
 * calling @cb for each message of type @type. If @wipe the request is
 * wiped right after sending and the receive buffer after each read. A
 * non-zero return from @cb stops calling it but the replies are still
 * drained so the socket stays in sync.
 */
static int transact(struct cmek_nl *nl, struct nlmsghdr *nlh, uint16_t type,
		    msg_cb cb, void *data, bool wipe)
{
	uint32_t seq = nlh->nlmsg_seq;
	bool dump = nlh->nlmsg_flags & NLM_F_DUMP;
	bool acked = nlh->nlmsg_flags & NLM_F_ACK;
	bool stopped = false, done = false, intr = false;
	int ret = 0, err = 0;
	ssize_t n;

	nl->errmsg[0] = '\0';
	n = mnl_socket_sendto(nl->sk, nlh, nlh->nlmsg_len);
	if (wipe)
		cmek_nl_wipe_msg(nlh);
	if (n < 0)
		return -errno;

	while (!done) {
		const struct nlmsghdr *m;
		int len;

		n = mnl_socket_recvfrom(nl->sk, nl->buf, CMEK_NL_BUF_SIZE);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		len = (int)n;
		for (m = (const struct nlmsghdr *)nl->buf;
		     mnl_nlmsg_ok(m, len); m = mnl_nlmsg_next(m, &len)) {
			if (m->nlmsg_seq != seq || m->nlmsg_pid != nl->portid)
				continue;	/* stale reply */
			intr |= dump && (m->nlmsg_flags & NLM_F_DUMP_INTR);
			if (m->nlmsg_type == NLMSG_ERROR) {
				err = cmek_nl_parse_ack(m, nl->errmsg,
							sizeof(nl->errmsg));
				done = true;
				break;
			}
			if (m->nlmsg_type == NLMSG_DONE) {
				if (mnl_nlmsg_get_payload_len(m) >= sizeof(int)) {
					int e;

					memcpy(&e, mnl_nlmsg_get_payload(m),
					       sizeof(e));
					if (e < 0)
						err = e;
				}
				done = true;
				break;
			}
			if (m->nlmsg_type == NLMSG_OVERRUN) {
				err = -EOVERFLOW;
				done = true;
				break;
			}
			if (m->nlmsg_type != type || !cb || stopped)
				continue;
			ret = cb(m, data);
			if (ret) {
				stopped = true;
				if (ret < 0 && !err)
					err = ret;
				ret = 0;
			}
			if (!dump && !acked)
				done = true;
		}
		if (wipe)
			explicit_bzero(nl->buf, (size_t)n);
	}
	if (ret)
		return ret;
	/* The table changed while it was dumped: what came may be wrong. */
	return err ?: intr ? -EAGAIN : 0;
}

static int family_cb(const struct nlmsghdr *nlh, void *data)
{
	struct cmek_nl *nl = data;

	return cmek_nl_parse_family(nlh, CMEK_GENL_MCGRP_EVENTS, &nl->family,
				    &nl->mcgrp);
}

static struct mnl_socket *open_sock(uint32_t *portid)
{
	struct mnl_socket *sk = mnl_socket_open(NETLINK_GENERIC);
	int one = 1;

	if (!sk)
		return NULL;
	if (mnl_socket_bind(sk, 0, MNL_SOCKET_AUTOPID) < 0) {
		int e = errno;

		mnl_socket_close(sk);
		errno = e;
		return NULL;
	}
	/*
	 * A request the genetlink core refuses never reaches dm-cmek, and
	 * its error reply echoes it, a key included, unless the socket caps
	 * acks: no socket without it (every kernel since 4.3 has it).
	 * Extended acks are only for the messages.
	 */
	if (mnl_socket_setsockopt(sk, NETLINK_CAP_ACK, &one, sizeof(one)) < 0) {
		int e = errno;

		mnl_socket_close(sk);
		errno = e;
		return NULL;
	}
	(void)mnl_socket_setsockopt(sk, NETLINK_EXT_ACK, &one, sizeof(one));
	if (portid)
		*portid = mnl_socket_get_portid(sk);
	return sk;
}

int cmek_nl_open(struct cmek_nl **out)
{
	struct cmek_nl *nl;
	struct nlmsghdr *nlh;
	int ret;

	*out = NULL;
	nl = calloc(1, sizeof(*nl));
	if (!nl)
		return -ENOMEM;
	nl->buf = cmek_secmem_alloc(CMEK_NL_BUF_SIZE);
	if (!nl->buf) {
		free(nl);
		return -ENOMEM;
	}
	nl->sk = open_sock(&nl->portid);
	if (!nl->sk) {
		ret = -errno;
		goto fail;
	}
	nl->seq = (uint32_t)getpid() << 8;

	nlh = cmek_nl_build_getfamily(nl->buf, CMEK_NL_BUF_SIZE, ++nl->seq,
				      CMEK_GENL_NAME);
	if (!nlh) {
		ret = -errno;
		goto fail;
	}
	nl->family = 0;
	ret = transact(nl, nlh, GENL_ID_CTRL, family_cb, nl, false);
	if (!ret && !nl->family)
		ret = -ENOENT;
	if (ret)
		goto fail;
	*out = nl;
	return 0;

fail:
	/* The caller has no handle to read errmsg from: -ENOENT is the
	 * documented "module not loaded" case (see cmek_nl_open_strerror). */
	cmek_nl_close(nl);
	return ret;
}

void cmek_nl_close(struct cmek_nl *nl)
{
	if (!nl)
		return;
	if (nl->sk)
		mnl_socket_close(nl->sk);
	if (nl->ev)
		mnl_socket_close(nl->ev);
	cmek_secmem_free(nl->buf);
	free(nl);
}

int cmek_nl_set_key(struct cmek_nl *nl, const uint8_t uuid[CMEK_UUID_LEN],
		    const uint8_t *key, size_t key_len, uint64_t generation,
		    bool has_generation, uint32_t flags)
{
	struct nlmsghdr *nlh;

	nlh = cmek_nl_build_set_key(nl->buf, CMEK_NL_BUF_SIZE, nl->family,
				    ++nl->seq, uuid, key, key_len, generation,
				    has_generation, flags);
	if (!nlh)
		return -errno;
	return transact(nl, nlh, nl->family, NULL, NULL, true);
}

int cmek_nl_revoke(struct cmek_nl *nl, const uint8_t uuid[CMEK_UUID_LEN],
		   uint32_t flags)
{
	struct nlmsghdr *nlh;

	nlh = cmek_nl_build_revoke(nl->buf, CMEK_NL_BUF_SIZE, nl->family,
				   ++nl->seq, uuid, flags);
	if (!nlh)
		return -errno;
	return transact(nl, nlh, nl->family, NULL, NULL, false);
}

struct get_ctx {
	struct cmek_key_info *info;
	bool found;
};

static int get_cb(const struct nlmsghdr *nlh, void *data)
{
	struct get_ctx *c = data;
	int ret = cmek_nl_parse_info(nlh, c->info);

	if (!ret)
		c->found = true;
	return ret;
}

int cmek_nl_get(struct cmek_nl *nl, const uint8_t uuid[CMEK_UUID_LEN],
		struct cmek_key_info *info)
{
	struct get_ctx c = { .info = info };
	struct nlmsghdr *nlh;
	int ret;

	if (!uuid || !info)
		return -EINVAL;
	nlh = cmek_nl_build_get(nl->buf, CMEK_NL_BUF_SIZE, nl->family,
				++nl->seq, uuid);
	if (!nlh)
		return -errno;
	ret = transact(nl, nlh, nl->family, get_cb, &c, false);
	if (!ret && !c.found)
		ret = -ENOENT;
	return ret;
}

/* A dump is collected whole, and handed out only once it is consistent. */
struct dump_ctx {
	struct cmek_key_info *infos;
	size_t n, cap;
};

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *c = data;
	struct cmek_key_info info, *ni;
	int ret = cmek_nl_parse_info(nlh, &info);

	if (ret)
		return ret;
	if (c->n == c->cap) {
		ni = reallocarray(c->infos, c->cap ? 2 * c->cap : 64,
				  sizeof(*ni));
		if (!ni)
			return -ENOMEM;
		c->infos = ni;
		c->cap = c->cap ? 2 * c->cap : 64;
	}
	c->infos[c->n++] = info;
	return 0;
}

/* Tries before a table that keeps changing is reported as EAGAIN. */
#define DUMP_TRIES	5

int cmek_nl_dump(struct cmek_nl *nl,
		 int (*cb)(const struct cmek_key_info *info, void *data),
		 void *data)
{
	struct dump_ctx c = { 0 };
	struct nlmsghdr *nlh;
	int ret = -EAGAIN, tries;
	size_t i;

	if (!cb)
		return -EINVAL;
	for (tries = 0; tries < DUMP_TRIES && ret == -EAGAIN; tries++) {
		c.n = 0;
		nlh = cmek_nl_build_get(nl->buf, CMEK_NL_BUF_SIZE, nl->family,
					++nl->seq, NULL);
		if (!nlh) {
			ret = -errno;
			break;
		}
		ret = transact(nl, nlh, nl->family, dump_cb, &c, false);
	}
	if (ret == -EAGAIN)
		set_errmsg(nl, "the key table kept changing while it was read");
	/* A callback's negative return is passed on; positive means stop. */
	for (i = 0; !ret && i < c.n; i++) {
		int r = cb(&c.infos[i], data);

		if (r)
			ret = r < 0 ? r : 0;
		if (r)
			break;
	}
	free(c.infos);
	return ret;
}

int cmek_nl_subscribe(struct cmek_nl *nl)
{
	unsigned int grp = nl->mcgrp;

	nl->errmsg[0] = '\0';
	if (nl->ev)
		return 0;
	if (!grp) {
		set_errmsg(nl, "the cmek netlink family has no \""
			   CMEK_GENL_MCGRP_EVENTS "\" multicast group");
		return -ENOENT;
	}
	nl->ev = open_sock(NULL);
	if (!nl->ev)
		return -errno;
	if (mnl_socket_setsockopt(nl->ev, NETLINK_ADD_MEMBERSHIP, &grp,
				  sizeof(grp)) < 0) {
		int e = errno;

		if (e == EPERM || e == EACCES)
			set_errmsg(nl, "joining the cmek events group needs "
				   "CAP_SYS_ADMIN");
		mnl_socket_close(nl->ev);
		nl->ev = NULL;
		return -e;
	}
	return 0;
}

int cmek_nl_fd(const struct cmek_nl *nl)
{
	return mnl_socket_get_fd(nl->ev ? nl->ev : nl->sk);
}

int cmek_nl_read_events(struct cmek_nl *nl,
			void (*cb)(const struct cmek_event *ev, void *data),
			void *data)
{
	const struct nlmsghdr *m;
	ssize_t n;
	int len;

	if (!nl->ev)
		return -EINVAL;
	do
		n = recv(mnl_socket_get_fd(nl->ev), nl->buf, CMEK_NL_BUF_SIZE,
			 MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	len = (int)n;
	for (m = (const struct nlmsghdr *)nl->buf; mnl_nlmsg_ok(m, len);
	     m = mnl_nlmsg_next(m, &len)) {
		struct cmek_event ev;

		if (m->nlmsg_type != nl->family || m->nlmsg_pid != 0)
			continue;
		if (cmek_nl_parse_event(m, &ev) == 0 && cb)
			cb(&ev, data);
	}
	return 0;
}
