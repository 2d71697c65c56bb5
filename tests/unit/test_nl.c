// SPDX-License-Identifier: GPL-2.0
/*
 * Host tests of the netlink client (userspace/lib/nl.c) that need no
 * kernel: UUID parsing, the exact layout of every request we build, key
 * wiping, and the parsers for acks (extack), family replies, reports and
 * events, fed with hand-built messages.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include "nl.h"
#include "nl-priv.h"
#include "../lib/tap.h"

#define FAMILY 0x1234

static const char *UUID_S = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
static const uint8_t UUID_B[16] = {
	0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78,
	0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0,
};

static uint8_t buf[CMEK_NL_BUF_SIZE];

static int mem_contains(const void *hay, size_t hlen, const void *needle,
			size_t nlen)
{
	return memmem(hay, hlen, needle, nlen) != NULL;
}

static int all_zero(const void *p, size_t len)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i])
			return 0;
	return 1;
}

/* Attributes of a built request, by type (last one wins), and their count. */
static int collect(const struct nlmsghdr *nlh, const struct nlattr **tb,
		   int max)
{
	const struct nlattr *a;
	int n = 0;

	memset(tb, 0, sizeof(*tb) * (max + 1));
	mnl_attr_for_each(a, nlh, sizeof(struct genlmsghdr)) {
		if (mnl_attr_get_type(a) <= max)
			tb[mnl_attr_get_type(a)] = a;
		n++;
	}
	return n;
}

static void test_uuid(void)
{
	uint8_t u[16];
	char s[CMEK_UUID_STR_LEN];
	static const char *bad[] = {
		"",
		"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f",		/* short */
		"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f00",	/* long */
		"0f1e2d3c4b5a-6978-8796-a5b4c3d2e1f0a",		/* hyphen */
		"0f1e2d3c-4b5a-6978-8796_a5b4c3d2e1f0",
		"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1g0",		/* not hex */
		"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1 0",
		"-f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
		"0f1e2d3c0-4b5-6978-8796-a5b4c3d2e1f0",		/* shifted */
	};
	size_t i;
	int rejected = 0;

	tap_ok(cmek_uuid_parse(UUID_S, u) == 0 && !memcmp(u, UUID_B, 16),
	       "uuid parse gives the RFC 4122 byte order");
	cmek_uuid_unparse(u, s);
	tap_ok(!strcmp(s, UUID_S), "uuid unparse round-trips (%s)", s);
	tap_ok(cmek_uuid_parse("0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0", u) == 0 &&
	       !memcmp(u, UUID_B, 16), "uuid parse accepts upper case");
	cmek_uuid_unparse(u, s);
	tap_ok(!strcmp(s, UUID_S), "uuid unparse prints lower case");

	memset(u, 0xaa, sizeof(u));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (cmek_uuid_parse(bad[i], u) == -EINVAL)
			rejected++;
		else
			tap_diag("accepted bad uuid \"%s\"", bad[i]);
	}
	tap_ok(rejected == (int)(sizeof(bad) / sizeof(bad[0])),
	       "uuid parse rejects %d malformed strings with EINVAL", rejected);
	tap_ok(u[0] == 0xaa && u[15] == 0xaa,
	       "a rejected uuid leaves the output untouched");
	tap_ok(cmek_uuid_parse(NULL, u) == -EINVAL, "uuid parse rejects NULL");
}

static void test_set_key(void)
{
	const struct nlattr *tb[CMEK_A_MAX + 1];
	const struct genlmsghdr *g;
	struct nlmsghdr *nlh;
	uint8_t key[64];
	size_t i, len;
	int n;

	for (i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(0xc0 + i);

	nlh = cmek_nl_build_set_key(buf, sizeof(buf), FAMILY, 77, UUID_B, key,
				    32, 0, false, 0);
	tap_ok(nlh != NULL, "SET_KEY (32-byte key) builds");
	if (!nlh)
		return;
	g = mnl_nlmsg_get_payload(nlh);
	tap_ok(nlh->nlmsg_type == FAMILY && nlh->nlmsg_seq == 77 &&
	       nlh->nlmsg_flags == (NLM_F_REQUEST | NLM_F_ACK),
	       "SET_KEY header: family type, seq, REQUEST|ACK");
	tap_ok(g->cmd == CMEK_CMD_SET_KEY && g->version == CMEK_GENL_VERSION,
	       "SET_KEY genl cmd %u version %u", g->cmd, g->version);
	n = collect(nlh, tb, CMEK_A_MAX);
	tap_ok(n == 2 && tb[CMEK_A_UUID] && tb[CMEK_A_KEY] &&
	       !tb[CMEK_A_GENERATION] && !tb[CMEK_A_FLAGS],
	       "SET_KEY without generation/flags carries exactly UUID and KEY");
	tap_ok(tb[CMEK_A_UUID] &&
	       mnl_attr_get_payload_len(tb[CMEK_A_UUID]) == 16 &&
	       !memcmp(mnl_attr_get_payload(tb[CMEK_A_UUID]), UUID_B, 16),
	       "SET_KEY UUID attribute is the 16 raw bytes");
	tap_ok(tb[CMEK_A_KEY] &&
	       mnl_attr_get_payload_len(tb[CMEK_A_KEY]) == 32 &&
	       !memcmp(mnl_attr_get_payload(tb[CMEK_A_KEY]), key, 32),
	       "SET_KEY KEY attribute is the 32 key bytes");
	tap_ok(nlh->nlmsg_len == 16 + 4 + (4 + 16) + (4 + 32),
	       "SET_KEY length %u = hdr + genl + uuid + key", nlh->nlmsg_len);

	nlh = cmek_nl_build_set_key(buf, sizeof(buf), FAMILY, 78, UUID_B, key,
				    64, 0x1122334455667788ULL, true,
				    CMEK_SET_F_REPLACE);
	tap_ok(nlh != NULL, "SET_KEY (64-byte key, generation, REPLACE) builds");
	if (!nlh)
		return;
	n = collect(nlh, tb, CMEK_A_MAX);
	tap_ok(n == 4 && tb[CMEK_A_GENERATION] && tb[CMEK_A_FLAGS] &&
	       mnl_attr_get_payload_len(tb[CMEK_A_GENERATION]) == 8 &&
	       mnl_attr_get_u64(tb[CMEK_A_GENERATION]) == 0x1122334455667788ULL &&
	       mnl_attr_get_payload_len(tb[CMEK_A_FLAGS]) == 4 &&
	       mnl_attr_get_u32(tb[CMEK_A_FLAGS]) == CMEK_SET_F_REPLACE,
	       "SET_KEY GENERATION is u64, FLAGS is u32 REPLACE");
	tap_ok(tb[CMEK_A_KEY] &&
	       mnl_attr_get_payload_len(tb[CMEK_A_KEY]) == 64 &&
	       !memcmp(mnl_attr_get_payload(tb[CMEK_A_KEY]), key, 64),
	       "SET_KEY KEY attribute is the 64 key bytes");
	tap_ok(nlh->nlmsg_len == 16 + 4 + 20 + 68 + 12 + 8,
	       "SET_KEY length %u with all attributes", nlh->nlmsg_len);

	len = nlh->nlmsg_len;
	tap_ok(mem_contains(buf, len, key, 64), "key bytes are in the message");
	cmek_nl_wipe_msg(nlh);
	tap_ok(all_zero(buf, len) && !mem_contains(buf, sizeof(buf), key + 8, 16),
	       "wipe zeroes the whole message, no key bytes left");

	/* Too small a buffer: refused, and no partial key left behind. */
	memset(buf, 0, sizeof(buf));
	errno = 0;
	nlh = cmek_nl_build_set_key(buf, 60, FAMILY, 79, UUID_B, key, 64, 0,
				    false, 0);
	tap_ok(!nlh && errno == EMSGSIZE && all_zero(buf, 60),
	       "SET_KEY into a short buffer fails EMSGSIZE and leaves no key");
	errno = 0;
	nlh = cmek_nl_build_set_key(buf, sizeof(buf), FAMILY, 80, UUID_B, key,
				    0, 0, false, 0);
	tap_ok(!nlh && errno == EINVAL, "SET_KEY with an empty key is EINVAL");
	nlh = cmek_nl_build_set_key(buf, sizeof(buf), FAMILY, 81, NULL, key,
				    32, 0, false, 0);
	tap_ok(!nlh && errno == EINVAL, "SET_KEY without a uuid is EINVAL");
	/* Odd lengths are the kernel's to refuse (kselftests rely on it). */
	nlh = cmek_nl_build_set_key(buf, sizeof(buf), FAMILY, 82, UUID_B, key,
				    31, 0, false, 0);
	tap_ok(nlh && collect(nlh, tb, CMEK_A_MAX) == 2 &&
	       mnl_attr_get_payload_len(tb[CMEK_A_KEY]) == 31,
	       "SET_KEY builder passes an odd key length through to the kernel");
	explicit_bzero(key, sizeof(key));
	explicit_bzero(buf, sizeof(buf));
}

static void test_revoke_get(void)
{
	const struct nlattr *tb[CMEK_A_MAX + 1];
	const struct genlmsghdr *g;
	struct nlmsghdr *nlh;

	nlh = cmek_nl_build_revoke(buf, sizeof(buf), FAMILY, 5, UUID_B, 0);
	g = nlh ? mnl_nlmsg_get_payload(nlh) : NULL;
	tap_ok(nlh && g->cmd == CMEK_CMD_REVOKE_KEY &&
	       nlh->nlmsg_flags == (NLM_F_REQUEST | NLM_F_ACK) &&
	       collect(nlh, tb, CMEK_A_MAX) == 1 && tb[CMEK_A_UUID] &&
	       mnl_attr_get_payload_len(tb[CMEK_A_UUID]) == 16,
	       "REVOKE_KEY of one uuid carries only UUID, asks for an ACK");

	nlh = cmek_nl_build_revoke(buf, sizeof(buf), FAMILY, 6, NULL,
				   CMEK_REVOKE_F_ALL);
	tap_ok(nlh && collect(nlh, tb, CMEK_A_MAX) == 1 && tb[CMEK_A_FLAGS] &&
	       mnl_attr_get_u32(tb[CMEK_A_FLAGS]) == CMEK_REVOKE_F_ALL,
	       "REVOKE_KEY all carries only FLAGS=ALL");

	nlh = cmek_nl_build_get(buf, sizeof(buf), FAMILY, 7, UUID_B);
	g = nlh ? mnl_nlmsg_get_payload(nlh) : NULL;
	tap_ok(nlh && g->cmd == CMEK_CMD_GET_KEY &&
	       nlh->nlmsg_flags == (NLM_F_REQUEST | NLM_F_ACK) &&
	       collect(nlh, tb, CMEK_A_MAX) == 1 && tb[CMEK_A_UUID],
	       "GET_KEY of one uuid: REQUEST|ACK with UUID");

	nlh = cmek_nl_build_get(buf, sizeof(buf), FAMILY, 8, NULL);
	tap_ok(nlh && (nlh->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP &&
	       collect(nlh, tb, CMEK_A_MAX) == 0,
	       "GET_KEY dump: NLM_F_DUMP and no attributes");

	nlh = cmek_nl_build_getfamily(buf, sizeof(buf), 9, "cmek");
	g = nlh ? mnl_nlmsg_get_payload(nlh) : NULL;
	tap_ok(nlh && nlh->nlmsg_type == GENL_ID_CTRL &&
	       g->cmd == CTRL_CMD_GETFAMILY &&
	       collect(nlh, tb, 0) == 1,
	       "CTRL_CMD_GETFAMILY request for \"cmek\"");
}

/* An NLMSG_ERROR as the kernel builds it. */
static struct nlmsghdr *make_err(int error, bool capped, const char *msg,
				 const struct nlmsghdr *orig)
{
	struct nlmsghdr *nlh;
	struct nlmsgerr *e;

	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = NLMSG_ERROR;
	nlh->nlmsg_seq = orig->nlmsg_seq;
	e = mnl_nlmsg_put_extra_header(nlh, sizeof(*e));
	e->error = error;
	memcpy(&e->msg, orig, sizeof(*orig));
	if (capped) {
		nlh->nlmsg_flags |= NLM_F_CAPPED;
	} else {
		size_t extra = orig->nlmsg_len - sizeof(*orig);

		memcpy(mnl_nlmsg_put_extra_header(nlh, extra),
		       (const char *)orig + sizeof(*orig), extra);
	}
	if (msg) {
		nlh->nlmsg_flags |= NLM_F_ACK_TLVS;
		mnl_attr_put_strz(nlh, NLMSGERR_ATTR_MSG, msg);
		mnl_attr_put_u32(nlh, NLMSGERR_ATTR_OFFS, 20);
	}
	return nlh;
}

static void test_ack(void)
{
	static uint8_t req[256];
	struct nlmsghdr *orig, *nlh;
	char m[128];
	int ret;

	/* Request with a 31-byte key: its echo is not 4-byte aligned. */
	orig = cmek_nl_build_set_key(req, sizeof(req), FAMILY, 42, UUID_B,
				     (const uint8_t *)"0123456789abcdef0123456789abcde",
				     31, 0, false, 0);
	if (!orig) {
		tap_ok(0, "build request for ack tests");
		return;
	}

	nlh = make_err(-EINVAL, true, "CMEK_A_KEY: key must be 32 or 64 bytes",
		       orig);
	ret = cmek_nl_parse_ack(nlh, m, sizeof(m));
	tap_ok(ret == -EINVAL && !strcmp(m, "CMEK_A_KEY: key must be 32 or 64 bytes"),
	       "capped ack: error %d, extack \"%s\"", ret, m);

	nlh = make_err(-EEXIST, false, "key already present", orig);
	ret = cmek_nl_parse_ack(nlh, m, sizeof(m));
	tap_ok(ret == -EEXIST && !strcmp(m, "key already present"),
	       "uncapped ack (request echoed): error %d, extack \"%s\"", ret, m);

	nlh = make_err(-ENOENT, true, NULL, orig);
	strcpy(m, "stale");
	ret = cmek_nl_parse_ack(nlh, m, sizeof(m));
	tap_ok(ret == -ENOENT && m[0] == '\0',
	       "ack without TLVs: error only, empty message");

	nlh = make_err(0, true, NULL, orig);
	tap_ok(cmek_nl_parse_ack(nlh, m, sizeof(m)) == 0, "plain ACK is 0");

	nlh = make_err(-EINVAL, true, "a rather long extack message", orig);
	ret = cmek_nl_parse_ack(nlh, m, 8);
	tap_ok(ret == -EINVAL && !strcmp(m, "a rathe"),
	       "extack message truncated to the buffer, NUL-terminated");

	nlh = make_err(-EINVAL, true, NULL, orig);
	nlh->nlmsg_len = MNL_NLMSG_HDRLEN + 2;
	tap_ok(cmek_nl_parse_ack(nlh, m, sizeof(m)) == -EBADMSG,
	       "truncated error message is EBADMSG");
	explicit_bzero(req, sizeof(req));
}

static void test_family(void)
{
	struct nlmsghdr *nlh;
	struct genlmsghdr *g;
	struct nlattr *grps, *grp;
	uint16_t id = 0;
	uint32_t gid = 0;

	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = GENL_ID_CTRL;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = CTRL_CMD_NEWFAMILY;
	mnl_attr_put_u16(nlh, CTRL_ATTR_FAMILY_ID, 0x2a);
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, "cmek");
	mnl_attr_put_u32(nlh, CTRL_ATTR_VERSION, 1);
	grps = mnl_attr_nest_start(nlh, CTRL_ATTR_MCAST_GROUPS);
	grp = mnl_attr_nest_start(nlh, 1);
	mnl_attr_put_strz(nlh, CTRL_ATTR_MCAST_GRP_NAME, "other");
	mnl_attr_put_u32(nlh, CTRL_ATTR_MCAST_GRP_ID, 5);
	mnl_attr_nest_end(nlh, grp);
	grp = mnl_attr_nest_start(nlh, 2);
	mnl_attr_put_u32(nlh, CTRL_ATTR_MCAST_GRP_ID, 9);
	mnl_attr_put_strz(nlh, CTRL_ATTR_MCAST_GRP_NAME, "events");
	mnl_attr_nest_end(nlh, grp);
	mnl_attr_nest_end(nlh, grps);

	tap_ok(cmek_nl_parse_family(nlh, "events", &id, &gid) == 0 &&
	       id == 0x2a && gid == 9,
	       "family reply: id 0x%x, events group %u", id, gid);
	gid = 1;
	tap_ok(cmek_nl_parse_family(nlh, "nosuch", &id, &gid) == 0 && gid == 0,
	       "family reply: absent group gives id 0");
}

static struct nlmsghdr *put_report(uint8_t cmd)
{
	struct nlmsghdr *nlh;
	struct genlmsghdr *g;

	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = FAMILY;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = CMEK_GENL_VERSION;
	return nlh;
}

static void test_info_event(void)
{
	struct cmek_key_info info;
	struct cmek_event ev;
	struct nlmsghdr *nlh;
	char s[CMEK_UUID_STR_LEN];

	nlh = put_report(CMEK_CMD_GET_KEY);
	mnl_attr_put(nlh, CMEK_A_UUID, 16, UUID_B);
	mnl_attr_put_u32(nlh, CMEK_A_STATE, CMEK_KEY_PRESENT);
	mnl_attr_put(nlh, CMEK_A_PAD, 0, NULL);
	mnl_attr_put_u64(nlh, CMEK_A_GENERATION, 3);
	mnl_attr_put_u32(nlh, CMEK_A_KEY_SIZE, 64);
	mnl_attr_put_u32(nlh, CMEK_A_USERS, 2);
	mnl_attr_put_u64(nlh, CMEK_A_READS, 1000);
	mnl_attr_put_u64(nlh, CMEK_A_WRITES, 2000);
	mnl_attr_put_u64(nlh, CMEK_A_ERRORS, 7);
	mnl_attr_put_u32(nlh, CMEK_A_MAX + 5, 0xdead);	/* future attr */
	tap_ok(cmek_nl_parse_info(nlh, &info) == 0 &&
	       !memcmp(info.uuid, UUID_B, 16) &&
	       info.state == CMEK_KEY_PRESENT && info.generation == 3 &&
	       info.key_size == 64 && info.users == 2 && info.reads == 1000 &&
	       info.writes == 2000 && info.errors == 7,
	       "report parses: every field, PAD and unknown attributes skipped");
	cmek_uuid_unparse(info.uuid, s);
	tap_ok(!strcmp(s, UUID_S), "report uuid round-trips");

	nlh = put_report(CMEK_CMD_GET_KEY);
	mnl_attr_put(nlh, CMEK_A_UUID, 15, UUID_B);
	tap_ok(cmek_nl_parse_info(nlh, &info) == -EBADMSG,
	       "report with a 15-byte uuid is EBADMSG");
	nlh = put_report(CMEK_CMD_GET_KEY);
	mnl_attr_put_u32(nlh, CMEK_A_STATE, 1);
	tap_ok(cmek_nl_parse_info(nlh, &info) == -EBADMSG,
	       "report without a uuid is EBADMSG");
	nlh = put_report(CMEK_CMD_GET_KEY);
	mnl_attr_put(nlh, CMEK_A_UUID, 16, UUID_B);
	mnl_attr_put_u16(nlh, CMEK_A_GENERATION, 1);
	tap_ok(cmek_nl_parse_info(nlh, &info) == -EBADMSG,
	       "report with a 2-byte generation is EBADMSG");

	nlh = put_report(CMEK_CMD_EVENT_KEY_NEEDED);
	mnl_attr_put(nlh, CMEK_A_UUID, 16, UUID_B);
	mnl_attr_put_strz(nlh, CMEK_A_DM_NAME, "vol0");
	mnl_attr_put_u32(nlh, CMEK_A_DM_DEV, (253 << 20) | 4);
	mnl_attr_put_u32(nlh, CMEK_A_STATE, CMEK_KEY_MISSING);
	tap_ok(cmek_nl_parse_event(nlh, &ev) == 0 &&
	       ev.cmd == CMEK_CMD_EVENT_KEY_NEEDED &&
	       !memcmp(ev.uuid, UUID_B, 16) && !strcmp(ev.dm_name, "vol0") &&
	       ev.dm_dev == ((253 << 20) | 4) && ev.state == CMEK_KEY_MISSING,
	       "KEY_NEEDED event: uuid, dm name, dev_t, state");

	nlh = put_report(CMEK_CMD_EVENT_KEY_REVOKED);
	mnl_attr_put(nlh, CMEK_A_UUID, 16, UUID_B);
	mnl_attr_put_u64(nlh, CMEK_A_GENERATION, 9);
	mnl_attr_put_u32(nlh, CMEK_A_USERS, 1);
	tap_ok(cmek_nl_parse_event(nlh, &ev) == 0 &&
	       ev.cmd == CMEK_CMD_EVENT_KEY_REVOKED && ev.generation == 9 &&
	       ev.users == 1 && ev.dm_name[0] == '\0',
	       "KEY_REVOKED event: generation, users, no dm name");

	nlh = put_report(CMEK_CMD_SET_KEY);
	mnl_attr_put(nlh, CMEK_A_UUID, 16, UUID_B);
	tap_ok(cmek_nl_parse_event(nlh, &ev) == -EBADMSG,
	       "a non-event command is not parsed as an event");
}

static void test_names(void)
{
	tap_ok(!strcmp(cmek_key_state_name(CMEK_KEY_MISSING), "missing") &&
	       !strcmp(cmek_key_state_name(CMEK_KEY_PRESENT), "present") &&
	       !strcmp(cmek_key_state_name(CMEK_KEY_REVOKED), "revoked") &&
	       !strcmp(cmek_key_state_name(99), "unknown"),
	       "key state names");
	tap_ok(strstr(cmek_nl_open_strerror(-ENOENT), "modprobe dm-cmek") != NULL,
	       "ENOENT from open says to load the module");
}

int main(void)
{
	tap_plan(47);
	test_uuid();
	test_set_key();
	test_revoke_get();
	test_ack();
	test_family();
	test_info_event();
	test_names();
	return tap_done();
}
