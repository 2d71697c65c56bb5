// SPDX-License-Identifier: GPL-2.0
/*
 * A bounded netlink fuzz run against the cmek family, as root: random
 * commands with random attribute sets (types, lengths around every limit,
 * contents), and valid requests with random bytes flipped, header
 * included. Requests draw their uuids from a small pool so that sets,
 * replaces, revokes and dumps meet the same entries.
 *
 * Afterwards the kernel must still be healthy (the VM panics on any WARN,
 * oops or lockdep report), the family must still work, and a revoke of
 * every key must leave no entry behind: entries that leaked a reference
 * would stay in the dump.
 *
 * CMEK_FUZZ_N sets the number of messages (default 200000 on the rig's
 * default kernel; 50000 on another series, whose netlink code differs only
 * in kernel/compat.h, and 20000 on the debug kernel, several times slower:
 * CMEK_VM_KERNEL names them), CMEK_FUZZ_SEED replays the run whose
 * seed a failure printed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "nl_conn.h"

#define POOL	4
/*
 * Room for the largest message build() makes (6 attributes of 1000 bytes).
 * Not MNL_SOCKET_BUFFER_SIZE: that is one page, and overflowing it on the
 * stack is how this test once crashed itself.
 */
#define BUF_SIZE	16384
#define DRAIN_EVERY	8

static uint8_t pool[POOL][16];
static uint64_t rng_state;

static uint32_t rnd(void)
{
	/* xorshift64*: fast, reproducible from the printed seed */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (rng_state * 0x2545F4914F6CDD1DULL) >> 32;
}

static void rnd_fill(void *p, size_t n)
{
	uint8_t *b = p;

	while (n--)
		*b++ = rnd();
}

/* Lengths at and around every limit the policy knows. */
static size_t rnd_len(void)
{
	static const size_t lens[] = { 0, 1, 2, 3, 4, 7, 8, 9, 15, 16, 17,
				       31, 32, 33, 48, 63, 64, 65, 127, 128,
				       129, 255, 256, 1000 };

	return lens[rnd() % (sizeof(lens) / sizeof(lens[0]))];
}

static void put_random_attr(struct nlmsghdr *nlh)
{
	uint8_t payload[1000];
	uint16_t type = rnd() % (CMEK_A_MAX + 3);
	size_t len = rnd_len();

	if (rnd() % 8 == 0)
		type |= NLA_F_NESTED;
	rnd_fill(payload, len);
	if ((type & ~NLA_F_NESTED) == CMEK_A_UUID && rnd() % 2)
		memcpy(payload, pool[rnd() % POOL], len < 16 ? len : 16);
	mnl_attr_put(nlh, type, len, payload);
}

/* A well-formed request, which the caller may then damage. */
static void put_valid(struct nlmsghdr *nlh, uint8_t cmd)
{
	uint8_t key[64];

	mnl_attr_put(nlh, CMEK_A_UUID, 16, pool[rnd() % POOL]);
	if (cmd == CMEK_CMD_SET_KEY) {
		rnd_fill(key, sizeof(key));
		mnl_attr_put(nlh, CMEK_A_KEY, rnd() % 2 ? 64 : 32, key);
		if (rnd() % 2)
			mnl_attr_put_u64(nlh, CMEK_A_GENERATION, rnd());
	}
	if (rnd() % 3 == 0)
		mnl_attr_put_u32(nlh, CMEK_A_FLAGS, rnd() % 4);
}

static size_t build(struct conn *c, char *buf, unsigned int seq)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g;
	uint8_t cmd = rnd() % (CMEK_CMD_MAX + 2);
	size_t len;
	int i, n;

	nlh->nlmsg_type = c->family;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	if (cmd == CMEK_CMD_GET_KEY && rnd() % 2)
		nlh->nlmsg_flags |= NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = rnd() % 16 ? CMEK_GENL_VERSION : rnd();
	if (rnd() % 2) {
		put_valid(nlh, cmd);
	} else {
		n = rnd() % 7;
		for (i = 0; i < n; i++)
			put_random_attr(nlh);
	}
	len = nlh->nlmsg_len;
	if (len > BUF_SIZE)
		abort();
	/* Flip a few bytes after nlmsg_len, sometimes in the headers. */
	if (rnd() % 3 == 0) {
		n = 1 + rnd() % 4;
		for (i = 0; i < n; i++)
			buf[4 + rnd() % (len - 4)] ^= 1 << (rnd() % 8);
		/* Keep it addressed to cmek: other families are not ours. */
		nlh->nlmsg_type = c->family;
		nlh->nlmsg_flags |= NLM_F_REQUEST;
	}
	return len;
}

/* Read whatever the kernel queued, continuing dumps, without blocking. */
static void drain(struct conn *c, char *buf, size_t size)
{
	while (recv(mnl_socket_get_fd(c->nl), buf, size, MSG_DONTWAIT) > 0)
		;
}

static int count_entries_cb(const struct nlmsghdr *nlh, void *data)
{
	(*(int *)data)++;
	return MNL_CB_OK;
}

/* A clean dump: the number of entries, or -errno. */
static int dump_entries(struct conn *c)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g;
	int n, ret, count = 0;

	drain(c, buf, sizeof(buf));
	nlh->nlmsg_type = c->family;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = ++c->seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = CMEK_CMD_GET_KEY;
	g->version = CMEK_GENL_VERSION;
	if (mnl_socket_sendto(c->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	while ((n = mnl_socket_recvfrom(c->nl, buf, sizeof(buf))) > 0) {
		ret = mnl_cb_run(buf, n, c->seq, 0, count_entries_cb, &count);
		if (ret <= 0)
			return ret < 0 ? -errno : count;
	}
	return -EIO;
}

/* One request with an ack: 0 or the kernel's -errno. */
static int call(struct conn *c, uint8_t cmd, const uint8_t *uuid,
		const uint8_t *key, size_t key_len, uint32_t flags)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g;
	int n, ret = -EIO;

	drain(c, buf, sizeof(buf));
	nlh->nlmsg_type = c->family;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = ++c->seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = CMEK_GENL_VERSION;
	if (uuid)
		mnl_attr_put(nlh, CMEK_A_UUID, 16, uuid);
	if (key)
		mnl_attr_put(nlh, CMEK_A_KEY, key_len, key);
	if (flags)
		mnl_attr_put_u32(nlh, CMEK_A_FLAGS, flags);
	if (mnl_socket_sendto(c->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	while ((n = mnl_socket_recvfrom(c->nl, buf, sizeof(buf))) > 0) {
		ret = mnl_cb_run(buf, n, c->seq, 0, NULL, NULL);
		if (ret <= 0)
			return ret < 0 ? -errno : 0;
	}
	return ret;
}

FIXTURE(fuzz) {
	int unused;
};

FIXTURE_SETUP(fuzz)
{
}

FIXTURE_TEARDOWN(fuzz)
{
}

/* Emulated CPUs are slow: allow 10 minutes, report the rate. */
TEST_F_TIMEOUT(fuzz, then_healthy, 600)
{
	char buf[BUF_SIZE];
	const char *env;
	long i, n;
	struct timespec t0, t1;
	struct conn c;
	uint8_t key[64], uuid[16];
	long sent = 0;

	env = getenv("CMEK_FUZZ_SEED");
	rng_state = env ? strtoull(env, NULL, 0) :
		    (uint64_t)time(NULL) * 2654435761u | 1;
	env = getenv("CMEK_VM_KERNEL");
	n = !env || !*env ? 200000 : !strcmp(env, "debug") ? 20000 : 50000;
	env = getenv("CMEK_FUZZ_N");
	if (env)
		n = atol(env);
	TH_LOG("seed %llu, %ld messages", (unsigned long long)rng_state, n);
	rnd_fill(pool, sizeof(pool));
	ASSERT_EQ(0, conn_open(&c));
	ASSERT_EQ(0, dump_entries(&c));

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < n; i++) {
		size_t len = build(&c, buf, ++c.seq);

		if (mnl_socket_sendto(c.nl, buf, len) >= 0)
			sent++;
		/*
		 * The kernel handles each request inside sendmsg(); replies
		 * may wait for a few more (the receive buffer holds them), so
		 * that a syscall under emulation goes to the next request.
		 */
		if (i % DRAIN_EVERY == DRAIN_EVERY - 1)
			drain(&c, buf, sizeof(buf));
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	TH_LOG("%ld of %ld messages accepted by sendmsg in %.1f s", sent, n,
	       (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	ASSERT_GT(sent, n / 2);

	/* Still working: set, get, revoke on a fresh uuid. */
	rnd_fill(uuid, sizeof(uuid));
	rnd_fill(key, sizeof(key));
	EXPECT_EQ(0, call(&c, CMEK_CMD_SET_KEY, uuid, key, 64, 0));
	EXPECT_EQ(-EEXIST, call(&c, CMEK_CMD_SET_KEY, uuid, key, 64, 0));
	EXPECT_EQ(0, call(&c, CMEK_CMD_GET_KEY, uuid, NULL, 0, 0));
	EXPECT_EQ(-EINVAL, call(&c, CMEK_CMD_SET_KEY, uuid, key, 48,
				CMEK_SET_F_REPLACE));

	/* Nothing is mapped in this VM: revoking all must free every entry. */
	EXPECT_EQ(0, call(&c, CMEK_CMD_REVOKE_KEY, NULL, NULL, 0,
			  CMEK_REVOKE_F_ALL));
	EXPECT_EQ(0, dump_entries(&c));
	conn_close(&c);
}

TEST_HARNESS_MAIN
