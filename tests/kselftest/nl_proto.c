// SPDX-License-Identifier: GPL-2.0
/*
 * The cmek generic netlink family against the real kernel: strict attribute
 * validation with extended-ack messages, the key table's semantics, events,
 * CAP_SYS_ADMIN on every command and on the events group, init netns only,
 * no key bytes in any reply, and a mapped volume bound to its key.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <libmnl/libmnl.h>
#include <linux/capability.h>
#include <linux/genetlink.h>
#include <linux/dm-cmek.h>

#include "kselftest_harness.h"
#include "nl_conn.h"
#include "uuid.h"
#include "cmek_spec.h"

struct reply {
	char errmsg[256];
	int nr;			/* messages seen */
	uint32_t state;
	uint64_t generation;
	uint32_t key_size, users;
	bool has_key_attr;
	bool key_bytes_seen;
	const uint8_t *key;	/* bytes that must never come back */
	size_t key_len;
	uint8_t want_uuid[16];
	bool found;
};

static int reply_attr_cb(const struct nlattr *attr, void *data)
{
	struct reply *r = data;
	const uint8_t *p = mnl_attr_get_payload(attr);
	size_t len = mnl_attr_get_payload_len(attr);

	if (r->key && len >= 16 && memmem(p, len, r->key, 16))
		r->key_bytes_seen = true;
	switch (mnl_attr_get_type(attr)) {
	case CMEK_A_UUID:
		if (len == 16 && !memcmp(p, r->want_uuid, 16))
			r->found = true;
		break;
	case CMEK_A_KEY:
		r->has_key_attr = true;
		break;
	case CMEK_A_STATE:
		r->state = mnl_attr_get_u32(attr);
		break;
	case CMEK_A_GENERATION:
		r->generation = mnl_attr_get_u64(attr);
		break;
	case CMEK_A_KEY_SIZE:
		r->key_size = mnl_attr_get_u32(attr);
		break;
	case CMEK_A_USERS:
		r->users = mnl_attr_get_u32(attr);
		break;
	}
	return MNL_CB_OK;
}

static int reply_cb(const struct nlmsghdr *nlh, void *data)
{
	struct reply *r = data;
	struct reply one = *r;

	one.found = false;
	r->nr++;
	mnl_attr_parse(nlh, sizeof(struct genlmsghdr), reply_attr_cb, &one);
	r->key_bytes_seen |= one.key_bytes_seen;
	r->has_key_attr |= one.has_key_attr;
	if (one.found || !memcmp(r->want_uuid, (uint8_t[16]){0}, 16)) {
		r->found |= one.found;
		r->state = one.state;
		r->generation = one.generation;
		r->key_size = one.key_size;
		r->users = one.users;
	}
	return MNL_CB_OK;
}

/* Pull the extack message out of an error reply. */
static void extack_msg(const char *buf, int len, struct reply *r)
{
	const struct nlmsghdr *nlh = (const void *)buf;
	const struct nlmsgerr *e;
	struct nlattr *attr;
	size_t off;

	if (!mnl_nlmsg_ok(nlh, len) || nlh->nlmsg_type != NLMSG_ERROR)
		return;
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	e = mnl_nlmsg_get_payload(nlh);
	off = sizeof(*e);
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += mnl_nlmsg_get_payload_len(&e->msg);
	mnl_attr_for_each_payload((void *)((char *)e + off),
				  mnl_nlmsg_get_payload_len(nlh) - off) {
		if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG)
			snprintf(r->errmsg, sizeof(r->errmsg), "%s",
				 mnl_attr_get_str(attr));
	}
}

/*
 * Send @nlh and collect the answer into @r. Returns 0 or -errno. The
 * message is built by the caller so tests can make it as wrong as needed.
 */
static int conn_call(struct conn *c, struct nlmsghdr *nlh, struct reply *r)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	int n, ret = 0;

	r->errmsg[0] = '\0';
	nlh->nlmsg_seq = ++c->seq;
	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	if (mnl_socket_sendto(c->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	while ((n = mnl_socket_recvfrom(c->nl, buf, sizeof(buf))) > 0) {
		extack_msg(buf, n, r);
		ret = mnl_cb_run(buf, n, c->seq, 0, reply_cb, r);
		if (ret <= 0)
			break;
	}
	return ret < 0 ? -errno : 0;
}

static struct nlmsghdr *msg(struct conn *c, char *buf, uint8_t cmd)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g;

	nlh->nlmsg_type = c->family;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = CMEK_GENL_VERSION;
	return nlh;
}

static void rand_bytes(void *p, size_t n)
{
	FILE *f = fopen("/dev/urandom", "r");

	if (!f || fread(p, 1, n, f) != n)
		abort();
	fclose(f);
}

static int set_key(struct conn *c, const uint8_t *uuid, const uint8_t *key,
		   size_t len, uint32_t flags, struct reply *r)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg(c, buf, CMEK_CMD_SET_KEY);

	mnl_attr_put(nlh, CMEK_A_UUID, 16, uuid);
	mnl_attr_put(nlh, CMEK_A_KEY, len, key);
	if (flags)
		mnl_attr_put_u32(nlh, CMEK_A_FLAGS, flags);
	return conn_call(c, nlh, r);
}

static int simple(struct conn *c, uint8_t cmd, const uint8_t *uuid,
		  uint32_t flags, struct reply *r)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg(c, buf, cmd);

	if (uuid)
		mnl_attr_put(nlh, CMEK_A_UUID, 16, uuid);
	if (flags)
		mnl_attr_put_u32(nlh, CMEK_A_FLAGS, flags);
	return conn_call(c, nlh, r);
}

FIXTURE(nl) {
	struct conn c;
	uint8_t uuid[16];
	uint8_t key[64];
	struct reply r;
};

FIXTURE_SETUP(nl)
{
	ASSERT_EQ(0, conn_open(&self->c));
	rand_bytes(self->uuid, sizeof(self->uuid));
	rand_bytes(self->key, sizeof(self->key));
	memset(&self->r, 0, sizeof(self->r));
	memcpy(self->r.want_uuid, self->uuid, 16);
	self->r.key = self->key;
}

FIXTURE_TEARDOWN(nl)
{
	struct reply r = { 0 };

	simple(&self->c, CMEK_CMD_REVOKE_KEY, self->uuid, 0, &r);
	conn_close(&self->c);
}

TEST_F(nl, set_get_revoke)
{
	struct reply *r = &self->r;

	ASSERT_EQ(0, set_key(&self->c, self->uuid, self->key, 64, 0, r));
	ASSERT_EQ(0, simple(&self->c, CMEK_CMD_GET_KEY, self->uuid, 0, r));
	EXPECT_TRUE(r->found);
	EXPECT_EQ(CMEK_KEY_PRESENT, r->state);
	EXPECT_EQ(1, r->generation);
	EXPECT_EQ(64, r->key_size);
	EXPECT_EQ(0, r->users);
	EXPECT_FALSE(r->has_key_attr);
	EXPECT_FALSE(r->key_bytes_seen);
	ASSERT_EQ(0, simple(&self->c, CMEK_CMD_REVOKE_KEY, self->uuid, 0, r));
	/* No mapping and no key: the entry is gone. */
	EXPECT_EQ(-ENOENT, simple(&self->c, CMEK_CMD_GET_KEY, self->uuid, 0, r));
}

TEST_F(nl, dump_has_no_key_bytes)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	struct reply *r = &self->r;

	ASSERT_EQ(0, set_key(&self->c, self->uuid, self->key, 32, 0, r));
	nlh = msg(&self->c, buf, CMEK_CMD_GET_KEY);
	nlh->nlmsg_flags = NLM_F_DUMP;
	ASSERT_EQ(0, conn_call(&self->c, nlh, r));
	EXPECT_TRUE(r->found);
	EXPECT_EQ(32, r->key_size);
	EXPECT_FALSE(r->has_key_attr);
	EXPECT_FALSE(r->key_bytes_seen);
}

TEST_F(nl, duplicate_set_needs_replace)
{
	struct reply *r = &self->r;

	ASSERT_EQ(0, set_key(&self->c, self->uuid, self->key, 64, 0, r));
	EXPECT_EQ(-EEXIST, set_key(&self->c, self->uuid, self->key, 64, 0, r));
	EXPECT_NE(NULL, strstr(r->errmsg, "already set"));
	EXPECT_EQ(0, set_key(&self->c, self->uuid, self->key, 64,
			     CMEK_SET_F_REPLACE, r));
	ASSERT_EQ(0, simple(&self->c, CMEK_CMD_GET_KEY, self->uuid, 0, r));
	EXPECT_EQ(2, r->generation);
}

TEST_F(nl, explicit_generation)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg(&self->c, buf, CMEK_CMD_SET_KEY);
	struct reply *r = &self->r;

	mnl_attr_put(nlh, CMEK_A_UUID, 16, self->uuid);
	mnl_attr_put(nlh, CMEK_A_KEY, 64, self->key);
	mnl_attr_put_u64(nlh, CMEK_A_GENERATION, 1234567);
	ASSERT_EQ(0, conn_call(&self->c, nlh, r));
	ASSERT_EQ(0, simple(&self->c, CMEK_CMD_GET_KEY, self->uuid, 0, r));
	EXPECT_EQ(1234567, r->generation);
}

/* Malformed requests: each is refused with EINVAL and says why. */
FIXTURE(bad) {
	struct conn c;
	uint8_t uuid[16];
	uint8_t key[64];
	struct reply r;
};

FIXTURE_SETUP(bad)
{
	ASSERT_EQ(0, conn_open(&self->c));
	rand_bytes(self->key, sizeof(self->key));
	memset(&self->r, 0, sizeof(self->r));
}

FIXTURE_TEARDOWN(bad)
{
	struct reply r = { 0 };

	simple(&self->c, CMEK_CMD_REVOKE_KEY, self->uuid, 0, &r);
	conn_close(&self->c);
}

FIXTURE_VARIANT(bad)
{
	const char *what;
	int uuid_len;		/* -1: omit */
	int key_len;		/* -1: omit */
	uint32_t flags;
	int extra_attr;		/* attribute type to add, 0: none */
	const char *msg;	/* expected in the extack message */
	int err;		/* expected errno, 0: EINVAL */
};

FIXTURE_VARIANT_ADD(bad, ok)
{ "valid", 16, 64, 0, 0, NULL, 0 };
FIXTURE_VARIANT_ADD(bad, no_uuid)
{ "no uuid", -1, 64, 0, 0, "UUID (CMEK_A_UUID) is required", 0 };
FIXTURE_VARIANT_ADD(bad, short_uuid)
{ "15-byte uuid", 15, 64, 0, 0, "out of range", ERANGE };
FIXTURE_VARIANT_ADD(bad, long_uuid)
{ "17-byte uuid", 17, 64, 0, 0, "out of range", ERANGE };
FIXTURE_VARIANT_ADD(bad, no_key)
{ "no key", 16, -1, 0, 0, "key (CMEK_A_KEY) is required", 0 };
FIXTURE_VARIANT_ADD(bad, key_48)
{ "48-byte key", 16, 48, 0, 0, "32 or 64", 0 };
FIXTURE_VARIANT_ADD(bad, key_65)
{ "65-byte key", 16, 65, 0, 0, "32 or 64", 0 };
FIXTURE_VARIANT_ADD(bad, key_0)
{ "empty key", 16, 0, 0, 0, "32 or 64", 0 };
FIXTURE_VARIANT_ADD(bad, bad_flags)
{ "unknown flag", 16, 64, 0x80, 0, "reserved bit", 0 };
FIXTURE_VARIANT_ADD(bad, unknown_attr)
{ "unknown attribute", 16, 64, 0, CMEK_A_MAX + 5, "Unknown attribute", 0 };
FIXTURE_VARIANT_ADD(bad, reply_only_attr)
{ "reply-only attribute in a request", 16, 64, 0, CMEK_A_USERS, "Unsupported attribute", 0 };

TEST_F(bad, malformed_set)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg(&self->c, buf, CMEK_CMD_SET_KEY);
	uint8_t big[80];
	int ret;

	memset(big, 0xab, sizeof(big));
	memcpy(big, self->key, 64);
	if (variant->uuid_len >= 0)
		mnl_attr_put(nlh, CMEK_A_UUID, variant->uuid_len, big);
	if (variant->key_len >= 0)
		mnl_attr_put(nlh, CMEK_A_KEY, variant->key_len, big);
	if (variant->flags)
		mnl_attr_put_u32(nlh, CMEK_A_FLAGS, variant->flags);
	if (variant->extra_attr)
		mnl_attr_put_u32(nlh, variant->extra_attr, 1);
	memcpy(self->uuid, big, 16);
	ret = conn_call(&self->c, nlh, &self->r);
	if (!variant->msg) {
		EXPECT_EQ(0, ret);
		return;
	}
	TH_LOG("%s: %s", variant->what, self->r.errmsg);
	EXPECT_EQ(-(variant->err ?: EINVAL), ret);
	EXPECT_NE(0, strlen(self->r.errmsg));
	EXPECT_NE(NULL, strstr(self->r.errmsg, variant->msg));
}

/*
 * Send @nlh as it is (no flags added) on @nl and read the one reply into
 * @rbuf; returns its length, or -errno.
 */
static int send_raw(struct mnl_socket *nl, struct nlmsghdr *nlh, char *rbuf,
		    size_t size)
{
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	return mnl_socket_recvfrom(nl, rbuf, size);
}

/* The error in the NLMSG_ERROR reply at @rbuf, and its echo if any. */
static int reply_error(const char *rbuf, int n, const struct nlmsgerr **e)
{
	const struct nlmsghdr *rh = (const void *)rbuf;

	if (n <= 0 || !mnl_nlmsg_ok(rh, n) || rh->nlmsg_type != NLMSG_ERROR)
		return 1;
	*e = mnl_nlmsg_get_payload(rh);
	return (*e)->error;
}

/*
 * A SET with a good key and a UUID one byte short: the genetlink core
 * refuses it against the family's policy before dm-cmek sees it, so dm-cmek
 * cannot wipe it. The uapi header says so and tells clients to set
 * NETLINK_CAP_ACK, as userspace/lib/nl.c does: then no byte of the key
 * comes back. Without it the error echoes the request, key and all (which
 * is why the library refuses such a socket).
 */
static void put_core_refused_set(struct nlmsghdr *nlh, const uint8_t *uuid,
				 const uint8_t *key)
{
	mnl_attr_put(nlh, CMEK_A_KEY, 64, key);
	mnl_attr_put(nlh, CMEK_A_UUID, 15, uuid);
	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
}

TEST_F(nl, core_refusal_with_cap_ack_has_no_key)
{
	char buf[MNL_SOCKET_BUFFER_SIZE], rbuf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg(&self->c, buf, CMEK_CMD_SET_KEY);
	const struct nlmsghdr *rh = (const void *)rbuf;
	const struct nlmsgerr *e;
	int one = 1, n;

	put_core_refused_set(nlh, self->uuid, self->key);
	nlh->nlmsg_seq = ++self->c.seq;
	/* Without CAP_ACK: the family never saw it, the key comes back. */
	n = send_raw(self->c.nl, nlh, rbuf, sizeof(rbuf));
	ASSERT_EQ(-ERANGE, reply_error(rbuf, n, &e));
	ASSERT_FALSE(rh->nlmsg_flags & NLM_F_CAPPED);
	EXPECT_NE(NULL, memmem(rbuf, n, self->key, 64));

	/* With it, as the library's socket: no key byte in the reply. */
	ASSERT_EQ(0, mnl_socket_setsockopt(self->c.nl, NETLINK_CAP_ACK, &one,
					   sizeof(one)));
	nlh->nlmsg_seq = ++self->c.seq;
	n = send_raw(self->c.nl, nlh, rbuf, sizeof(rbuf));
	ASSERT_EQ(-ERANGE, reply_error(rbuf, n, &e));
	EXPECT_TRUE(rh->nlmsg_flags & NLM_F_CAPPED);
	EXPECT_EQ(NULL, memmem(rbuf, n, self->key, 8));
	EXPECT_EQ(NULL, memmem(rbuf, n, self->key + 56, 8));
}

/*
 * What the family refuses itself (a key of the wrong size, a missing UUID,
 * no permission is in needs_cap_sys_admin) it wipes before the reply:
 * without NETLINK_CAP_ACK the echo shows the request as the kernel left
 * it, the UUID there, no byte of the key.
 */
FIXTURE_VARIANT(refused) {
	int key_len;
	bool uuid;
};
FIXTURE(refused) {
	struct conn c;
	uint8_t uuid[16], key[80];
};
FIXTURE_SETUP(refused)
{
	ASSERT_EQ(0, conn_open(&self->c));
	rand_bytes(self->uuid, sizeof(self->uuid));
	rand_bytes(self->key, sizeof(self->key));
}
FIXTURE_TEARDOWN(refused)
{
	conn_close(&self->c);
}
FIXTURE_VARIANT_ADD(refused, key_48) { 48, true };
FIXTURE_VARIANT_ADD(refused, key_80) { 80, true };
FIXTURE_VARIANT_ADD(refused, no_uuid) { 64, false };

TEST_F(refused, key_is_wiped)
{
	char buf[MNL_SOCKET_BUFFER_SIZE], rbuf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg(&self->c, buf, CMEK_CMD_SET_KEY);
	const struct nlmsghdr *rh = (const void *)rbuf;
	const struct nlmsgerr *e;
	int n;

	if (variant->uuid)
		mnl_attr_put(nlh, CMEK_A_UUID, 16, self->uuid);
	mnl_attr_put(nlh, CMEK_A_KEY, variant->key_len, self->key);
	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = ++self->c.seq;
	n = send_raw(self->c.nl, nlh, rbuf, sizeof(rbuf));
	ASSERT_EQ(-EINVAL, reply_error(rbuf, n, &e));
	ASSERT_FALSE(rh->nlmsg_flags & NLM_F_CAPPED);
	ASSERT_EQ(nlh->nlmsg_len, e->msg.nlmsg_len);
	EXPECT_EQ(NULL, memmem(&e->msg, e->msg.nlmsg_len, self->key, 8));
	EXPECT_EQ(NULL, memmem(&e->msg, e->msg.nlmsg_len,
			       self->key + variant->key_len - 8, 8));
	if (variant->uuid)
		EXPECT_NE(NULL, memmem(&e->msg, e->msg.nlmsg_len, self->uuid,
				       16));
}

/*
 * Every command is new to the core (no resv_start_op): it checks the
 * genetlink header's reserved field and refuses nlmsg_flags it gives no
 * meaning to.
 */
TEST_F(nl, header_is_checked)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg(&self->c, buf, CMEK_CMD_GET_KEY);
	struct genlmsghdr *g = mnl_nlmsg_get_payload(nlh);
	struct reply *r = &self->r;

	mnl_attr_put(nlh, CMEK_A_UUID, 16, self->uuid);
	g->reserved = 1;
	EXPECT_EQ(-EINVAL, conn_call(&self->c, nlh, r));
	EXPECT_NE(NULL, strstr(r->errmsg, "reserved"));
	g->reserved = 0;
	nlh->nlmsg_flags = NLM_F_REPLACE;
	EXPECT_EQ(-EINVAL, conn_call(&self->c, nlh, r));
	EXPECT_NE(NULL, strstr(r->errmsg, "nlmsg_flags"));
	nlh->nlmsg_flags = 0;
	EXPECT_EQ(-ENOENT, conn_call(&self->c, nlh, r));
}

/*
 * A dump in parts, and an entry added between two of them: the kernel
 * flags the dump interrupted (NLM_F_DUMP_INTR), so a reader knows to read
 * again instead of trusting a list that may miss or repeat entries.
 */
#define DUMP_ENTRIES	300

TEST_F(nl, dump_interrupted_is_flagged)
{
	char buf[MNL_SOCKET_BUFFER_SIZE], rbuf[4096];
	uint8_t uuids[DUMP_ENTRIES][16], extra[16];
	struct reply *r = &self->r;
	struct nlmsghdr *nlh;
	bool intr = false, done = false;
	int i, n, parts = 0, seen = 0;
	struct conn d;

	for (i = 0; i < DUMP_ENTRIES; i++) {
		rand_bytes(uuids[i], 16);
		ASSERT_EQ(0, set_key(&self->c, uuids[i], self->key, 32, 0, r));
	}
	ASSERT_EQ(0, conn_open(&d));
	nlh = msg(&d, buf, CMEK_CMD_GET_KEY);
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = ++d.seq;
	ASSERT_LT(0, mnl_socket_sendto(d.nl, nlh, nlh->nlmsg_len));
	while (!done && (n = mnl_socket_recvfrom(d.nl, rbuf, sizeof(rbuf))) > 0) {
		const struct nlmsghdr *m = (const void *)rbuf;

		for (; mnl_nlmsg_ok(m, n); m = mnl_nlmsg_next(m, &n)) {
			intr |= !!(m->nlmsg_flags & NLM_F_DUMP_INTR);
			if (m->nlmsg_type == NLMSG_DONE)
				done = true;
			else
				seen++;
		}
		if (++parts == 1) {
			/* After the first part: an entry comes. */
			rand_bytes(extra, 16);
			ASSERT_EQ(0, set_key(&self->c, extra, self->key, 32, 0,
					     r));
		}
	}
	TH_LOG("%d parts, %d entries seen", parts, seen);
	EXPECT_TRUE(done);
	EXPECT_LT(2, parts);
	EXPECT_TRUE(intr);
	conn_close(&d);
	simple(&self->c, CMEK_CMD_REVOKE_KEY, extra, 0, r);
	for (i = 0; i < DUMP_ENTRIES; i++)
		simple(&self->c, CMEK_CMD_REVOKE_KEY, uuids[i], 0, r);
}

TEST_F(nl, revoke_errors)
{
	struct reply *r = &self->r;

	EXPECT_EQ(-ENOENT, simple(&self->c, CMEK_CMD_REVOKE_KEY, self->uuid, 0, r));
	EXPECT_NE(NULL, strstr(r->errmsg, "no key table entry"));
	EXPECT_EQ(-EINVAL, simple(&self->c, CMEK_CMD_REVOKE_KEY, NULL, 0, r));
	EXPECT_EQ(-EINVAL, simple(&self->c, CMEK_CMD_REVOKE_KEY, self->uuid,
				  CMEK_REVOKE_F_ALL, r));
	EXPECT_EQ(-EINVAL, simple(&self->c, CMEK_CMD_REVOKE_KEY, self->uuid, 2, r));
	EXPECT_EQ(-ENOENT, simple(&self->c, CMEK_CMD_GET_KEY, self->uuid, 0, r));
	EXPECT_EQ(-EINVAL, simple(&self->c, CMEK_CMD_GET_KEY, NULL, 0, r));
}

static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* A mapping without a key: ENOKEY on revoke; REVOKE_F_ALL takes them all. */
TEST_F(nl, mapping_entry_and_revoke_all)
{
	uint8_t uuid2[16];
	struct reply *r = &self->r;
	char us[CMEK_UUID_STR_LEN];

	cmek_uuid_unparse(self->uuid, us);
	ASSERT_EQ(0, sh("dmsetup --noudevsync create nlt --table '0 8 cmek %s /dev/ram0 0'", us));
	ASSERT_EQ(0, simple(&self->c, CMEK_CMD_GET_KEY, self->uuid, 0, r));
	EXPECT_EQ(CMEK_KEY_MISSING, r->state);
	EXPECT_EQ(1, r->users);
	EXPECT_EQ(-ENOKEY, simple(&self->c, CMEK_CMD_REVOKE_KEY, self->uuid, 0, r));
	EXPECT_NE(NULL, strstr(r->errmsg, "no key is present"));

	rand_bytes(uuid2, 16);
	ASSERT_EQ(0, set_key(&self->c, self->uuid, self->key, 64, 0, r));
	ASSERT_EQ(0, set_key(&self->c, uuid2, self->key, 64, 0, r));
	ASSERT_EQ(0, simple(&self->c, CMEK_CMD_REVOKE_KEY, NULL,
			    CMEK_REVOKE_F_ALL, r));
	ASSERT_EQ(0, simple(&self->c, CMEK_CMD_GET_KEY, self->uuid, 0, r));
	EXPECT_EQ(CMEK_KEY_REVOKED, r->state);
	EXPECT_EQ(-ENOENT, simple(&self->c, CMEK_CMD_GET_KEY, uuid2, 0, r));
	EXPECT_EQ(0, sh("dmsetup --noudevsync remove nlt"));
}

/* Drop CAP_SYS_ADMIN (keep the rest of root) and try everything. */
static int drop_sys_admin(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -1;
	d[0].effective &= ~(1U << CAP_SYS_ADMIN);
	d[0].permitted &= ~(1U << CAP_SYS_ADMIN);
	d[0].inheritable &= ~(1U << CAP_SYS_ADMIN);
	return syscall(SYS_capset, &h, d);
}

TEST_F(nl, needs_cap_sys_admin)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	struct reply *r = &self->r;
	int status, grp;
	pid_t pid;

	ASSERT_EQ(0, set_key(&self->c, self->uuid, self->key, 64, 0, r));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		struct conn c;
		int fails = 0;

		if (drop_sys_admin() || conn_open(&c))
			_exit(100);
		fails += set_key(&c, self->uuid, self->key, 64,
				 CMEK_SET_F_REPLACE, r) != -EPERM;
		fails += simple(&c, CMEK_CMD_REVOKE_KEY, self->uuid, 0, r) != -EPERM;
		fails += simple(&c, CMEK_CMD_GET_KEY, self->uuid, 0, r) != -EPERM;
		nlh = msg(&c, buf, CMEK_CMD_GET_KEY);
		nlh->nlmsg_flags = NLM_F_DUMP;
		fails += conn_call(&c, nlh, r) != -EPERM;
		grp = c.mcgrp;
		fails += !(mnl_socket_setsockopt(c.nl, NETLINK_ADD_MEMBERSHIP,
						 &grp, sizeof(grp)) < 0 &&
			   errno == EPERM);
		_exit(fails);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	/* And the key is still there. */
	ASSERT_EQ(0, simple(&self->c, CMEK_CMD_GET_KEY, self->uuid, 0, r));
	EXPECT_EQ(CMEK_KEY_PRESENT, r->state);
}

TEST_F(nl, init_netns_only)
{
	int status;
	pid_t pid = fork();

	ASSERT_GE(pid, 0);
	if (!pid) {
		struct conn c;

		if (unshare(CLONE_NEWNET))
			_exit(100);
		_exit(conn_open(&c) == -ENOENT ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

struct event {
	uint8_t cmd;
	struct reply r;
	char dm_name[64];
	uint32_t dev;
};

static int event_attr_cb(const struct nlattr *attr, void *data)
{
	struct event *e = data;

	if (mnl_attr_get_type(attr) == CMEK_A_DM_NAME)
		snprintf(e->dm_name, sizeof(e->dm_name), "%s",
			 mnl_attr_get_str(attr));
	if (mnl_attr_get_type(attr) == CMEK_A_DM_DEV)
		e->dev = mnl_attr_get_u32(attr);
	return reply_attr_cb(attr, &e->r);
}

/* Wait up to 5 s for an event of type @cmd for the fixture's uuid. */
static int wait_event(struct conn *c, uint8_t cmd, const uint8_t *uuid,
		      struct event *e)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct timeval tv = { 1, 0 };
	time_t end = time(NULL) + 5;

	setsockopt(mnl_socket_get_fd(c->nl), SOL_SOCKET, SO_RCVTIMEO, &tv,
		   sizeof(tv));
	while (time(NULL) < end) {
		int n = mnl_socket_recvfrom(c->nl, buf, sizeof(buf));
		struct nlmsghdr *nlh = (void *)buf;

		if (n <= 0)
			continue;
		for (; mnl_nlmsg_ok(nlh, n); nlh = mnl_nlmsg_next(nlh, &n)) {
			struct genlmsghdr *g = mnl_nlmsg_get_payload(nlh);

			memset(e, 0, sizeof(*e));
			memcpy(e->r.want_uuid, uuid, 16);
			e->cmd = g->cmd;
			mnl_attr_parse(nlh, sizeof(*g), event_attr_cb, e);
			if (e->cmd == cmd && e->r.found)
				return 0;
		}
	}
	return -ETIMEDOUT;
}

TEST_F(nl, events)
{
	struct conn ev;
	struct event e;
	struct reply *r = &self->r;
	char us[CMEK_UUID_STR_LEN], devno[32];
	int grp;

	ASSERT_EQ(0, conn_open(&ev));
	grp = ev.mcgrp;
	ASSERT_EQ(0, mnl_socket_setsockopt(ev.nl, NETLINK_ADD_MEMBERSHIP,
					   &grp, sizeof(grp)));
	cmek_uuid_unparse(self->uuid, us);

	ASSERT_EQ(0, sh("dmsetup --noudevsync create nlev --table '0 8 cmek %s /dev/ram0 0'", us));
	ASSERT_EQ(0, wait_event(&ev, CMEK_CMD_EVENT_KEY_NEEDED, self->uuid, &e));
	EXPECT_STREQ("nlev", e.dm_name);
	EXPECT_EQ(CMEK_KEY_MISSING, e.r.state);
	snprintf(devno, sizeof(devno), "%u:%u", (e.dev >> 8) & 0xfff,
		 (e.dev & 0xff) | ((e.dev >> 12) & 0xfff00));
	EXPECT_EQ(0, sh("test \"$(dmsetup info -c --noheadings -o major,minor --separator : nlev)\" = %s", devno));

	ASSERT_EQ(0, set_key(&self->c, self->uuid, self->key, 64, 0, r));
	ASSERT_EQ(0, wait_event(&ev, CMEK_CMD_EVENT_KEY_SET, self->uuid, &e));
	EXPECT_EQ(1, e.r.generation);
	EXPECT_EQ(1, e.r.users);
	EXPECT_FALSE(e.r.key_bytes_seen);

	ASSERT_EQ(0, simple(&self->c, CMEK_CMD_REVOKE_KEY, self->uuid, 0, r));
	ASSERT_EQ(0, wait_event(&ev, CMEK_CMD_EVENT_KEY_REVOKED, self->uuid, &e));
	EXPECT_EQ(1, e.r.generation);

	/* I/O without a key asks again. */
	sh("dd if=/dev/mapper/nlev of=/dev/null bs=512 count=1 iflag=direct 2>/dev/null || "
	   "dd if=/dev/dm-$(dmsetup info -c --noheadings -o minor nlev) of=/dev/null bs=512 count=1 iflag=direct 2>/dev/null");
	ASSERT_EQ(0, wait_event(&ev, CMEK_CMD_EVENT_KEY_NEEDED, self->uuid, &e));
	EXPECT_EQ(CMEK_KEY_REVOKED, e.r.state);
	/* ... and so does the "key_needed" message. */
	ASSERT_EQ(0, sh("dmsetup message nlev 0 key_needed"));
	ASSERT_EQ(0, wait_event(&ev, CMEK_CMD_EVENT_KEY_NEEDED, self->uuid, &e));
	EXPECT_NE(0, sh("dmsetup message nlev 0 no_such_message 2>/dev/null"));
	EXPECT_EQ(0, sh("dmsetup --noudevsync remove nlev"));
	conn_close(&ev);
}

/*
 * The binding of a volume to its key: while a mapping names a UUID, only
 * the key it has (or had, before a revoke) may be set for it; with no
 * mapping, any key. Data written with the first key must read back after
 * every refusal: the refused key never served I/O.
 */
#define BIND_BYTES	4096

FIXTURE(bind) {
	struct conn c;
	uint8_t uuid[16];
	uint8_t key_a[64], key_b[64];
	uint8_t data[BIND_BYTES];
	char dev[32];		/* the first mapping's /dev/dm-N */
	struct reply r;
};

FIXTURE_SETUP(bind)
{
	ASSERT_EQ(0, conn_open(&self->c));
	rand_bytes(self->uuid, sizeof(self->uuid));
	rand_bytes(self->key_a, sizeof(self->key_a));
	rand_bytes(self->key_b, sizeof(self->key_b));
	rand_bytes(self->data, sizeof(self->data));
	memset(&self->r, 0, sizeof(self->r));
	memcpy(self->r.want_uuid, self->uuid, 16);
	self->r.key = self->key_a;
}

FIXTURE_TEARDOWN(bind)
{
	struct reply r = { 0 };

	sh("dmsetup --noudevsync remove nlbind1 2>/dev/null");
	sh("dmsetup --noudevsync remove nlbind2 2>/dev/null");
	simple(&self->c, CMEK_CMD_REVOKE_KEY, self->uuid, 0, &r);
	conn_close(&self->c);
}

/* Map @uuid as @name over the first 8 sectors of @bdev; @dev: /dev/dm-N. */
static int map_volume(const char *name, const uint8_t *uuid, const char *bdev,
		      char *dev, size_t len)
{
	unsigned int minor;
	char us[CMEK_UUID_STR_LEN], cmd[128];
	FILE *f;
	int n;

	cmek_uuid_unparse(uuid, us);
	if (sh("dmsetup --noudevsync create %s --table '0 8 cmek %s %s 0'",
	       name, us, bdev))
		return -1;
	if (!dev)
		return 0;
	snprintf(cmd, sizeof(cmd), "dmsetup info -c --noheadings -o minor %s",
		 name);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	n = fscanf(f, "%u", &minor);
	pclose(f);
	if (n != 1)
		return -1;
	snprintf(dev, len, "/dev/dm-%u", minor);
	return 0;
}

static int unmap_volume(const char *name)
{
	return sh("dmsetup --noudevsync remove %s", name);
}

/* BIND_BYTES at offset 0, past the page cache: what the key serves now. */
static int dev_io(const char *dev, uint8_t *data, bool write)
{
	void *buf;
	ssize_t n;
	int fd;

	if (posix_memalign(&buf, 4096, BIND_BYTES))
		return -ENOMEM;
	fd = open(dev, (write ? O_WRONLY : O_RDONLY) | O_DIRECT);
	if (fd < 0) {
		free(buf);
		return -errno;
	}
	if (write) {
		memcpy(buf, data, BIND_BYTES);
		n = pwrite(fd, buf, BIND_BYTES, 0);
	} else {
		n = pread(fd, buf, BIND_BYTES, 0);
		memcpy(data, buf, BIND_BYTES);
	}
	close(fd);
	free(buf);
	return n == BIND_BYTES ? 0 : -EIO;
}

static bool reads_back(const char *dev, const uint8_t *want)
{
	uint8_t got[BIND_BYTES];

	return !dev_io(dev, got, false) && !memcmp(got, want, BIND_BYTES);
}

#define REFUSED_MSG	"a different key for a mapped volume is refused"

/*
 * Key A set on a mapped volume, data written with it; key B, with or
 * without REPLACE, and a key of the other size that is A's first half,
 * are refused with the reason, and A goes on serving the data.
 */
TEST_F(bind, mapped_volume_refuses_different_key)
{
	struct reply *r = &self->r;

	ASSERT_EQ(0, map_volume("nlbind1", self->uuid, "/dev/ram1", self->dev,
				sizeof(self->dev)));
	ASSERT_EQ(0, set_key(&self->c, self->uuid, self->key_a, 64, 0, r));
	ASSERT_EQ(0, dev_io(self->dev, self->data, true));

	EXPECT_EQ(-EKEYREJECTED, set_key(&self->c, self->uuid, self->key_b, 64,
					 CMEK_SET_F_REPLACE, r));
	TH_LOG("REPLACE with key B: %s", r->errmsg);
	EXPECT_NE(NULL, strstr(r->errmsg, REFUSED_MSG));
	EXPECT_EQ(-EKEYREJECTED, set_key(&self->c, self->uuid, self->key_b, 64,
					 0, r));
	EXPECT_NE(NULL, strstr(r->errmsg, REFUSED_MSG));
	EXPECT_EQ(-EKEYREJECTED, set_key(&self->c, self->uuid, self->key_a, 32,
					 CMEK_SET_F_REPLACE, r));
	EXPECT_NE(NULL, strstr(r->errmsg, REFUSED_MSG));

	ASSERT_EQ(0, simple(&self->c, CMEK_CMD_GET_KEY, self->uuid, 0, r));
	EXPECT_EQ(CMEK_KEY_PRESENT, r->state);
	EXPECT_EQ(1, r->generation);
	EXPECT_EQ(64, r->key_size);
	EXPECT_TRUE(reads_back(self->dev, self->data));
	EXPECT_EQ(0, unmap_volume("nlbind1"));
}

/*
 * The case: a second device carrying the UUID of a mounted
 * volume is mapped, and its key pushed with REPLACE. The mapped volume
 * keeps its key; the second mapping shares it.
 */
TEST_F(bind, second_device_cannot_swap_the_key)
{
	struct reply *r = &self->r;

	ASSERT_EQ(0, map_volume("nlbind1", self->uuid, "/dev/ram1", self->dev,
				sizeof(self->dev)));
	ASSERT_EQ(0, set_key(&self->c, self->uuid, self->key_a, 64, 0, r));
	ASSERT_EQ(0, dev_io(self->dev, self->data, true));
	ASSERT_EQ(0, map_volume("nlbind2", self->uuid, "/dev/ram2", NULL, 0));

	EXPECT_EQ(-EKEYREJECTED, set_key(&self->c, self->uuid, self->key_b, 64,
					 CMEK_SET_F_REPLACE, r));
	EXPECT_NE(NULL, strstr(r->errmsg, REFUSED_MSG));
	ASSERT_EQ(0, simple(&self->c, CMEK_CMD_GET_KEY, self->uuid, 0, r));
	EXPECT_EQ(2, r->users);
	EXPECT_EQ(1, r->generation);
	EXPECT_TRUE(reads_back(self->dev, self->data));
	/* The binding is the volume's, not the first mapping's. */
	EXPECT_EQ(0, unmap_volume("nlbind1"));
	EXPECT_EQ(-EKEYREJECTED, set_key(&self->c, self->uuid, self->key_b, 64,
					 CMEK_SET_F_REPLACE, r));
	EXPECT_EQ(0, unmap_volume("nlbind2"));
}

/*
 * A revoke wipes the key but not the binding: the locked volume gets
 * back the key it had, and no other, REPLACE or not.
 */
TEST_F(bind, revoked_mapped_volume_refuses_different_key)
{
	struct reply *r = &self->r;

	ASSERT_EQ(0, map_volume("nlbind1", self->uuid, "/dev/ram1", self->dev,
				sizeof(self->dev)));
	ASSERT_EQ(0, set_key(&self->c, self->uuid, self->key_a, 64, 0, r));
	ASSERT_EQ(0, dev_io(self->dev, self->data, true));
	ASSERT_EQ(0, simple(&self->c, CMEK_CMD_REVOKE_KEY, self->uuid, 0, r));

	EXPECT_EQ(-EKEYREJECTED, set_key(&self->c, self->uuid, self->key_b, 64,
					 0, r));
	TH_LOG("SET of key B after the revoke: %s", r->errmsg);
	EXPECT_NE(NULL, strstr(r->errmsg, REFUSED_MSG));
	EXPECT_EQ(-EKEYREJECTED, set_key(&self->c, self->uuid, self->key_b, 64,
					 CMEK_SET_F_REPLACE, r));
	EXPECT_NE(NULL, strstr(r->errmsg, REFUSED_MSG));
	ASSERT_EQ(0, simple(&self->c, CMEK_CMD_GET_KEY, self->uuid, 0, r));
	EXPECT_EQ(CMEK_KEY_REVOKED, r->state);
	EXPECT_EQ(1, r->generation);
	EXPECT_FALSE(reads_back(self->dev, self->data));

	ASSERT_EQ(0, set_key(&self->c, self->uuid, self->key_a, 64, 0, r));
	ASSERT_EQ(0, simple(&self->c, CMEK_CMD_GET_KEY, self->uuid, 0, r));
	EXPECT_EQ(CMEK_KEY_PRESENT, r->state);
	EXPECT_EQ(2, r->generation);
	EXPECT_TRUE(reads_back(self->dev, self->data));
	EXPECT_EQ(0, unmap_volume("nlbind1"));
}

/*
 * A key pushed before the table is loaded may be replaced by another
 * before use; the mapping then binds the volume to the replacement.
 */
TEST_F(bind, unmapped_entry_accepts_rebind)
{
	struct reply *r = &self->r;

	ASSERT_EQ(0, set_key(&self->c, self->uuid, self->key_a, 64, 0, r));
	ASSERT_EQ(0, set_key(&self->c, self->uuid, self->key_b, 32,
			     CMEK_SET_F_REPLACE, r));
	ASSERT_EQ(0, simple(&self->c, CMEK_CMD_GET_KEY, self->uuid, 0, r));
	EXPECT_EQ(2, r->generation);
	EXPECT_EQ(32, r->key_size);

	ASSERT_EQ(0, map_volume("nlbind1", self->uuid, "/dev/ram1", self->dev,
				sizeof(self->dev)));
	ASSERT_EQ(0, dev_io(self->dev, self->data, true));
	EXPECT_EQ(-EKEYREJECTED, set_key(&self->c, self->uuid, self->key_a, 64,
					 CMEK_SET_F_REPLACE, r));
	EXPECT_NE(NULL, strstr(r->errmsg, REFUSED_MSG));
	EXPECT_EQ(0, set_key(&self->c, self->uuid, self->key_b, 32,
			     CMEK_SET_F_REPLACE, r));
	EXPECT_TRUE(reads_back(self->dev, self->data));
	EXPECT_EQ(0, unmap_volume("nlbind1"));
}

/*
 * Once the last mapping is gone the volume is free to take another key:
 * at once if its key is still present (the entry stays), and as a new
 * entry after a revoke (the entry, and its binding, went with the key).
 */
TEST_F(bind, unmapped_volume_accepts_rebind)
{
	struct reply *r = &self->r;

	ASSERT_EQ(0, map_volume("nlbind1", self->uuid, "/dev/ram1", self->dev,
				sizeof(self->dev)));
	ASSERT_EQ(0, set_key(&self->c, self->uuid, self->key_a, 64, 0, r));
	ASSERT_EQ(0, unmap_volume("nlbind1"));
	EXPECT_EQ(0, set_key(&self->c, self->uuid, self->key_b, 64,
			     CMEK_SET_F_REPLACE, r));

	ASSERT_EQ(0, map_volume("nlbind1", self->uuid, "/dev/ram1", self->dev,
				sizeof(self->dev)));
	EXPECT_EQ(-EKEYREJECTED, set_key(&self->c, self->uuid, self->key_a, 64,
					 CMEK_SET_F_REPLACE, r));
	ASSERT_EQ(0, simple(&self->c, CMEK_CMD_REVOKE_KEY, self->uuid, 0, r));
	ASSERT_EQ(0, unmap_volume("nlbind1"));
	EXPECT_EQ(-ENOENT, simple(&self->c, CMEK_CMD_GET_KEY, self->uuid, 0, r));

	ASSERT_EQ(0, map_volume("nlbind1", self->uuid, "/dev/ram1", self->dev,
				sizeof(self->dev)));
	EXPECT_EQ(0, set_key(&self->c, self->uuid, self->key_a, 64, 0, r));
	ASSERT_EQ(0, dev_io(self->dev, self->data, true));
	EXPECT_TRUE(reads_back(self->dev, self->data));
	EXPECT_EQ(0, unmap_volume("nlbind1"));
}

/*
 * The same key again is no swap: a REPLACE of it, and a table reload
 * meanwhile, leave the data readable and bump the generation.
 */
TEST_F(bind, same_key_replace_allowed)
{
	struct reply *r = &self->r;
	char us[CMEK_UUID_STR_LEN];

	ASSERT_EQ(0, map_volume("nlbind1", self->uuid, "/dev/ram1", self->dev,
				sizeof(self->dev)));
	ASSERT_EQ(0, set_key(&self->c, self->uuid, self->key_a, 64, 0, r));
	ASSERT_EQ(0, dev_io(self->dev, self->data, true));
	EXPECT_EQ(0, set_key(&self->c, self->uuid, self->key_a, 64,
			     CMEK_SET_F_REPLACE, r));
	cmek_uuid_unparse(self->uuid, us);
	EXPECT_EQ(0, sh("dmsetup --noudevsync reload nlbind1 --table '0 8 cmek %s /dev/ram1 0'",
			us));
	EXPECT_EQ(0, sh("dmsetup --noudevsync resume nlbind1"));
	EXPECT_EQ(0, set_key(&self->c, self->uuid, self->key_a, 64,
			     CMEK_SET_F_REPLACE, r));
	EXPECT_EQ(-EKEYREJECTED, set_key(&self->c, self->uuid, self->key_b, 64,
					 CMEK_SET_F_REPLACE, r));
	ASSERT_EQ(0, simple(&self->c, CMEK_CMD_GET_KEY, self->uuid, 0, r));
	EXPECT_EQ(CMEK_KEY_PRESENT, r->state);
	EXPECT_EQ(3, r->generation);
	EXPECT_TRUE(reads_back(self->dev, self->data));
	EXPECT_EQ(0, unmap_volume("nlbind1"));
}


/*
 * The module against its YNL spec (Documentation/netlink/specs/cmek.yaml,
 * compiled into cmek_spec.h by spec2h.sh): the policy dump of
 * CTRL_CMD_GETPOLICY and the replies.
 */
#define POL_MAX		4
#define POL_ATTRS	32
#define POL_CMDS	16

struct pol_attr {
	bool present;
	uint32_t type;
	uint64_t min_len, max_len, mask;
	bool has_min, has_max, has_mask;
};

struct pol_dump {
	struct pol_attr attr[POL_MAX][POL_ATTRS];
	int do_idx[POL_CMDS], dump_idx[POL_CMDS];
	bool bad;
};

static void pol_attr_read(const struct nlattr *nest, struct pol_attr *a)
{
	const struct nlattr *x;

	a->present = true;
	mnl_attr_for_each_nested(x, nest) {
		switch (mnl_attr_get_type(x)) {
		case NL_POLICY_TYPE_ATTR_TYPE:
			a->type = mnl_attr_get_u32(x);
			break;
		case NL_POLICY_TYPE_ATTR_MIN_LENGTH:
			a->min_len = mnl_attr_get_u32(x);
			a->has_min = true;
			break;
		case NL_POLICY_TYPE_ATTR_MAX_LENGTH:
			a->max_len = mnl_attr_get_u32(x);
			a->has_max = true;
			break;
		case NL_POLICY_TYPE_ATTR_MASK:
			a->mask = mnl_attr_get_u64(x);
			a->has_mask = true;
			break;
		}
	}
}

static int pol_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *top, *l1, *l2;
	struct pol_dump *d = data;
	unsigned int i, j;

	mnl_attr_for_each(top, nlh, sizeof(struct genlmsghdr)) {
		if (mnl_attr_get_type(top) == CTRL_ATTR_POLICY) {
			mnl_attr_for_each_nested(l1, top) {
				i = mnl_attr_get_type(l1);
				mnl_attr_for_each_nested(l2, l1) {
					j = mnl_attr_get_type(l2);
					if (i >= POL_MAX || j >= POL_ATTRS) {
						d->bad = true;
						continue;
					}
					pol_attr_read(l2, &d->attr[i][j]);
				}
			}
		} else if (mnl_attr_get_type(top) == CTRL_ATTR_OP_POLICY) {
			mnl_attr_for_each_nested(l1, top) {
				i = mnl_attr_get_type(l1);
				if (i >= POL_CMDS) {
					d->bad = true;
					continue;
				}
				mnl_attr_for_each_nested(l2, l1) {
					if (mnl_attr_get_type(l2) == CTRL_ATTR_POLICY_DO)
						d->do_idx[i] = mnl_attr_get_u32(l2);
					else if (mnl_attr_get_type(l2) == CTRL_ATTR_POLICY_DUMP)
						d->dump_idx[i] = mnl_attr_get_u32(l2);
				}
			}
		}
	}
	return MNL_CB_OK;
}

static int pol_dump_read(struct conn *c, struct pol_dump *d)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g;
	int n, i, ret = 0;

	memset(d, 0, sizeof(*d));
	for (i = 0; i < POL_CMDS; i++)
		d->do_idx[i] = d->dump_idx[i] = -1;
	nlh->nlmsg_type = GENL_ID_CTRL;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = ++c->seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = CTRL_CMD_GETPOLICY;
	g->version = 1;
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, CMEK_GENL_NAME);
	if (mnl_socket_sendto(c->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	while ((n = mnl_socket_recvfrom(c->nl, buf, sizeof(buf))) > 0) {
		ret = mnl_cb_run(buf, n, c->seq, 0, pol_cb, d);
		if (ret <= 0)
			break;
	}
	return ret < 0 ? -errno : 0;
}

static const struct spec_attr *spec_attr(int value)
{
	for (size_t i = 0; i < sizeof(spec_attrs) / sizeof(spec_attrs[0]); i++)
		if (spec_attrs[i].value == value)
			return &spec_attrs[i];
	return NULL;
}

static uint32_t spec_nl_type(const char *type)
{
	static const struct { const char *name; uint32_t nl; } map[] = {
		{ "u8", NL_ATTR_TYPE_U8 }, { "u16", NL_ATTR_TYPE_U16 },
		{ "u32", NL_ATTR_TYPE_U32 }, { "u64", NL_ATTR_TYPE_U64 },
		{ "binary", NL_ATTR_TYPE_BINARY },
		{ "string", NL_ATTR_TYPE_NUL_STRING },
		{ "flag", NL_ATTR_TYPE_FLAG },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(map[i].name, type))
			return map[i].nl;
	return NL_ATTR_TYPE_INVALID;
}

/* A spec list (" a b ") names @name. */
static bool listed(const char *list, const char *name)
{
	char word[64];

	snprintf(word, sizeof(word), " %s ", name);
	return strstr(list, word);
}

/* Named in any op's request: what a request policy must accept. */
static bool spec_request_attr(const char *name)
{
	for (size_t i = 0; i < sizeof(spec_ops) / sizeof(spec_ops[0]); i++)
		if (listed(spec_ops[i].do_request, name))
			return true;
	return false;
}

static unsigned int spec_flags_mask(const char *name)
{
	for (size_t i = 0; i < sizeof(spec_flags) / sizeof(spec_flags[0]); i++)
		if (!strcmp(spec_flags[i].name, name))
			return spec_flags[i].mask;
	return 0;
}

/* Each command the policy dump lists is a spec op and vice versa. */
static int check_ops(struct __test_metadata *_metadata,
		     const struct pol_dump *d)
{
	bool found[POL_CMDS] = { 0 };
	int errors = 0;

	for (size_t i = 0; i < sizeof(spec_ops) / sizeof(spec_ops[0]); i++) {
		const struct spec_op *op = &spec_ops[i];
		int v = op->value;

		if (v <= 0 || v >= POL_CMDS) {
			TH_LOG("spec op %s: value %d", op->name, v);
			errors++;
			continue;
		}
		found[v] = true;
		if ((d->do_idx[v] >= 0) != (op->has_do && !op->is_event) ||
		    (d->dump_idx[v] >= 0) != (op->has_dump && !op->is_event)) {
			TH_LOG("op %s (%d): kernel do %d dump %d, spec do %d dump %d",
			       op->name, v, d->do_idx[v], d->dump_idx[v],
			       op->has_do, op->has_dump);
			errors++;
		}
	}
	for (int v = 0; v < POL_CMDS; v++)
		if ((d->do_idx[v] >= 0 || d->dump_idx[v] >= 0) && !found[v]) {
			TH_LOG("kernel command %d is not in the spec", v);
			errors++;
		}
	return errors;
}

/* One kernel policy attribute against the spec's. */
static int check_attr(struct __test_metadata *_metadata, int v,
		      const struct pol_attr *a)
{
	const struct spec_attr *s = spec_attr(v);
	int errors = 0;

	if (!s || !spec_request_attr(s->name)) {
		TH_LOG("kernel accepts attribute %d, the spec has no request with it", v);
		return 1;
	}
	if (a->type != spec_nl_type(s->type)) {
		TH_LOG("%s: kernel type %u, spec %s", s->name, a->type, s->type);
		errors++;
	}
	if (s->exact_len ? !(a->has_min && a->has_max &&
			     a->min_len == (uint64_t)s->exact_len &&
			     a->max_len == (uint64_t)s->exact_len)
			 : (a->has_min || a->has_max)) {
		TH_LOG("%s: kernel length %llu..%llu, spec exact-len %d",
		       s->name, (unsigned long long)a->min_len,
		       (unsigned long long)a->max_len, s->exact_len);
		errors++;
	}
	if (*s->flags && spec_flags_mask(s->flags) &&
	    !(a->has_mask && a->mask == spec_flags_mask(s->flags))) {
		TH_LOG("%s: kernel mask %#llx, spec %s %#x", s->name,
		       (unsigned long long)a->mask, s->flags,
		       spec_flags_mask(s->flags));
		errors++;
	}
	return errors;
}

TEST_F(nl, policy_matches_spec)
{
	static struct pol_dump d;
	bool seen[POL_ATTRS] = { 0 };
	int errors, idx, v;

	ASSERT_EQ(0, pol_dump_read(&self->c, &d));
	ASSERT_FALSE(d.bad);
	errors = check_ops(_metadata, &d);
	for (idx = 0; idx < POL_MAX; idx++)
		for (v = 1; v < POL_ATTRS; v++) {
			if (!d.attr[idx][v].present)
				continue;
			seen[v] = true;
			errors += check_attr(_metadata, v, &d.attr[idx][v]);
		}
	for (size_t i = 0; i < sizeof(spec_attrs) / sizeof(spec_attrs[0]); i++)
		if (spec_request_attr(spec_attrs[i].name) &&
		    (spec_attrs[i].value >= POL_ATTRS ||
		     !seen[spec_attrs[i].value])) {
			TH_LOG("spec request attribute %s is not in the kernel's policy",
			       spec_attrs[i].name);
			errors++;
		}
	EXPECT_EQ(0, errors);
}

/* The attributes of a reply are the spec's, each of its type's size. */
struct reply_check {
	const char *list;
	unsigned int seen;	/* bit per attribute value */
	int errors;
	struct __test_metadata *md;
};

static int reply_check_attr(const struct nlattr *attr, void *data)
{
	struct reply_check *rc = data;
	struct __test_metadata *_metadata = rc->md;
	int v = mnl_attr_get_type(attr);
	const struct spec_attr *s = spec_attr(v);
	size_t len = mnl_attr_get_payload_len(attr);
	size_t want = 0;

	if (!s || (!listed(rc->list, s->name) && strcmp(s->type, "pad"))) {
		TH_LOG("reply attribute %d is not in the spec's reply", v);
		rc->errors++;
		return MNL_CB_OK;
	}
	rc->seen |= 1u << v;
	if (!strcmp(s->type, "u32"))
		want = 4;
	else if (!strcmp(s->type, "u64"))
		want = 8;
	else if (s->exact_len)
		want = s->exact_len;
	if (want && len != want) {
		TH_LOG("%s: %zu bytes, spec %zu", s->name, len, want);
		rc->errors++;
	}
	return MNL_CB_OK;
}

static int reply_check_cb(const struct nlmsghdr *nlh, void *data)
{
	return mnl_attr_parse(nlh, sizeof(struct genlmsghdr),
			      reply_check_attr, data);
}

static int reply_check_missing(struct __test_metadata *_metadata,
			       const struct reply_check *rc)
{
	int errors = 0;

	for (size_t i = 0; i < sizeof(spec_attrs) / sizeof(spec_attrs[0]); i++)
		if (listed(rc->list, spec_attrs[i].name) &&
		    !(rc->seen & (1u << spec_attrs[i].value))) {
			TH_LOG("spec reply attribute %s is not in the reply",
			       spec_attrs[i].name);
			errors++;
		}
	return errors;
}

TEST_F(nl, replies_match_spec)
{
	const struct spec_op *get = NULL;
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct reply_check rc = { .md = _metadata };
	struct nlmsghdr *nlh;
	int n, ret = 0;

	for (size_t i = 0; i < sizeof(spec_ops) / sizeof(spec_ops[0]); i++)
		if (spec_ops[i].value == CMEK_CMD_GET_KEY)
			get = &spec_ops[i];
	ASSERT_NE(NULL, get);
	ASSERT_EQ(0, set_key(&self->c, self->uuid, self->key, 64, 0,
			     &self->r));
	for (int dump = 0; dump < 2; dump++) {
		rc.list = dump ? get->dump_reply : get->do_reply;
		rc.seen = 0;
		nlh = msg(&self->c, buf, CMEK_CMD_GET_KEY);
		if (dump) {
			nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
		} else {
			mnl_attr_put(nlh, CMEK_A_UUID, 16, self->uuid);
			nlh->nlmsg_flags = NLM_F_REQUEST;
		}
		nlh->nlmsg_seq = ++self->c.seq;
		ASSERT_LT(0, mnl_socket_sendto(self->c.nl, nlh, nlh->nlmsg_len));
		while ((n = mnl_socket_recvfrom(self->c.nl, buf, sizeof(buf))) > 0) {
			ret = mnl_cb_run(buf, n, self->c.seq, 0, reply_check_cb,
					 &rc);
			if (ret <= 0 || !dump)
				break;
		}
		ASSERT_LE(0, ret);
		EXPECT_EQ(0, rc.errors + reply_check_missing(_metadata, &rc));
	}
}

TEST_HARNESS_MAIN
