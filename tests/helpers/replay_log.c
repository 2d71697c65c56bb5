// SPDX-License-Identifier: GPL-2.0
/*
 * Test helper: replay a dm-log-writes log (drivers/md/dm-log-writes.c) onto
 * a device, a prefix at a time, to see the device as a power cut after any
 * logged write would have left it.
 *
 *	replay_log LOG --list
 *	    -> "entries N sectorsize S", then "I SECTOR NR_SECTORS FLAGS" per
 *	       entry (flags: W write, F flush, U fua, D discard, M mark)
 *	replay_log LOG TARGET FIRST END
 *	    -> write entries FIRST..END-1 (writes and discards) to TARGET
 *	replay_log LOG TARGET --judge EXPECT
 *	    -> write every entry to TARGET in order and judge its cmek header
 *	       after each write of operation K (the writes between mark K-1
 *	       and mark K; those before the first mark are not judged): its
 *	       active slots, "SLOT:PROVIDER:KEY ..." or "none" without a cmek
 *	       header, must be state K-1 or state K of EXPECT, and unless
 *	       "none" the first slot that unwraps ("local": $CMEK_KEY_DIR)
 *	       must give EXPECT's data key. EXPECT: the data key in hex, then
 *	       one line per state, from state 0 (before operation 1). Prints
 *	       "op K writes N bad M[ FIRST-BAD]" per operation once the whole
 *	       log is replayed; exit 0 if nothing is bad.
 *
 * The judge runs in this process because a fork and exec per logged write
 * cost minutes under the emulated guest. It holds the data key, so it is a
 * test helper only, and never prints a key.
 *
 * The log: a super block at byte 0, then per entry one sector holding a
 * struct log_write_entry (and a mark's name), followed by the entry's data
 * sectors unless it is a discard. Everything is little-endian.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "nl.h"
#include "provider.h"
#include "header.h"

#define LOG_FLUSH_FLAG		(1 << 0)
#define LOG_FUA_FLAG		(1 << 1)
#define LOG_DISCARD_FLAG	(1 << 2)
#define LOG_MARK_FLAG		(1 << 3)
#define WRITE_LOG_MAGIC		0x6a736677736872ULL
#define WRITE_LOG_VERSION	1ULL

struct log_write_super {
	uint64_t magic;
	uint64_t version;
	uint64_t nr_entries;
	uint32_t sectorsize;
} __attribute__((packed));

struct log_write_entry {
	uint64_t sector;
	uint64_t nr_sectors;
	uint64_t flags;
	uint64_t data_len;
} __attribute__((packed));

struct log {
	int fd;
	uint64_t entries;
	uint32_t ssize;
	uint64_t pos;		/* byte offset of the next entry */
};

static int log_open(struct log *l, const char *path)
{
	struct log_write_super s;

	l->fd = open(path, O_RDONLY);
	if (l->fd < 0 || pread(l->fd, &s, sizeof(s), 0) != sizeof(s)) {
		fprintf(stderr, "replay_log: %s: %s\n", path, strerror(errno));
		return -1;
	}
	l->entries = le64toh(s.nr_entries);
	l->ssize = le32toh(s.sectorsize);
	if (le64toh(s.magic) != WRITE_LOG_MAGIC ||
	    le64toh(s.version) != WRITE_LOG_VERSION ||
	    (l->ssize != 512 && l->ssize != 4096)) {
		fprintf(stderr, "replay_log: %s: not a dm-log-writes log\n",
			path);
		return -1;
	}
	l->pos = l->ssize;
	return 0;
}

/* Read the entry at l->pos; leave l->pos at its data. */
static int log_entry(struct log *l, struct log_write_entry *e)
{
	if (pread(l->fd, e, sizeof(*e), l->pos) != sizeof(*e)) {
		fprintf(stderr, "replay_log: short log at %llu\n",
			(unsigned long long)l->pos);
		return -1;
	}
	e->sector = le64toh(e->sector);
	e->nr_sectors = le64toh(e->nr_sectors);
	e->flags = le64toh(e->flags);
	e->data_len = le64toh(e->data_len);
	if (e->nr_sectors > (64 << 20) / l->ssize) {
		fprintf(stderr, "replay_log: implausible entry at %llu\n",
			(unsigned long long)l->pos);
		return -1;
	}
	l->pos += l->ssize;
	return 0;
}

static void log_skip_data(struct log *l, const struct log_write_entry *e)
{
	if (!(e->flags & (LOG_DISCARD_FLAG | LOG_MARK_FLAG)))
		l->pos += e->nr_sectors * l->ssize;
}

/* What --list flags "W" and the judge judges: a write that carries data. */
static bool is_write(const struct log_write_entry *e)
{
	return !(e->flags & (LOG_DISCARD_FLAG | LOG_MARK_FLAG)) &&
	       e->nr_sectors;
}

static int list(struct log *l)
{
	struct log_write_entry e;
	uint64_t i;

	printf("entries %llu sectorsize %u\n", (unsigned long long)l->entries,
	       l->ssize);
	for (i = 0; i < l->entries; i++) {
		if (log_entry(l, &e))
			return 1;
		printf("%llu %llu %llu %s%s%s%s%s\n", (unsigned long long)i,
		       (unsigned long long)e.sector,
		       (unsigned long long)e.nr_sectors,
		       is_write(&e) ? "W" : "",
		       e.flags & LOG_FLUSH_FLAG ? "F" : "",
		       e.flags & LOG_FUA_FLAG ? "U" : "",
		       e.flags & LOG_DISCARD_FLAG ? "D" : "",
		       e.flags & LOG_MARK_FLAG ? "M" : "");
		log_skip_data(l, &e);
	}
	return 0;
}

static int apply(struct log *l, int out, const struct log_write_entry *e)
{
	size_t n = e->nr_sectors * l->ssize;
	off_t at = (off_t)(e->sector * l->ssize);
	char *buf;
	int ret = 0;

	if (!n || (e->flags & LOG_MARK_FLAG))
		return 0;
	buf = calloc(1, n);
	if (!buf)
		return -1;
	/* A discard reads back as zeroes on the devices the tests use. */
	if (!(e->flags & LOG_DISCARD_FLAG) &&
	    pread(l->fd, buf, n, l->pos) != (ssize_t)n)
		ret = -1;
	if (!ret && pwrite(out, buf, n, at) != (ssize_t)n)
		ret = -1;
	free(buf);
	if (ret)
		fprintf(stderr, "replay_log: entry at sector %llu: %s\n",
			(unsigned long long)e->sector, strerror(errno));
	return ret;
}

static int replay(struct log *l, const char *target, uint64_t first,
		  uint64_t end)
{
	struct log_write_entry e;
	int out, ret = 0;
	uint64_t i;

	if (end > l->entries || first > end) {
		fprintf(stderr, "replay_log: entries %llu..%llu not in 0..%llu\n",
			(unsigned long long)first, (unsigned long long)end,
			(unsigned long long)l->entries);
		return 1;
	}
	out = open(target, O_WRONLY);
	if (out < 0) {
		fprintf(stderr, "replay_log: %s: %s\n", target, strerror(errno));
		return 1;
	}
	for (i = 0; i < end && !ret; i++) {
		ret = log_entry(l, &e);
		if (!ret && i >= first)
			ret = apply(l, out, &e);
		log_skip_data(l, &e);
	}
	if (!ret && fsync(out))
		ret = -1;
	close(out);
	return ret ? 1 : 0;
}

#define EXPECT_MAX	(1 << 20)
#define SLOTS_STR_MAX	(CMEK_VOL_SLOTS * \
			 (CMEK_VOL_PROVIDER_MAX + CMEK_VOL_KEYREF_MAX + 16))
#define WHY_MAX		(SLOTS_STR_MAX + 128)

struct expect {
	uint8_t dek[CMEK_DEK_MAX];
	size_t dek_len;
	char **states;		/* states[k]: the slots after operation k */
	int nstates;
};

struct op_result {
	unsigned int writes, bad;
	char why[WHY_MAX];	/* the first bad state */
};

static void expect_free(struct expect *x)
{
	OPENSSL_cleanse(x->dek, sizeof(x->dek));
	for (int k = 0; k < x->nstates; k++)
		free(x->states[k]);
	free(x->states);
}

/*
 * Read the expect file with read(2) into one buffer that is wiped after
 * parsing, rather than with stdio, whose buffers would keep the key's hex.
 */
static int expect_load(struct expect *x, const char *path)
{
	char *buf, *p, *nl;
	ssize_t n, len = 0;
	int fd, ret = -1;
	size_t hex;

	memset(x, 0, sizeof(*x));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "replay_log: %s: %s\n", path, strerror(errno));
		return -1;
	}
	buf = malloc(EXPECT_MAX + 1);
	if (!buf) {
		close(fd);
		return -1;
	}
	while ((n = read(fd, buf + len, EXPECT_MAX - len)) > 0)
		len += n;
	close(fd);
	if (n < 0 || len == EXPECT_MAX) {
		fprintf(stderr, "replay_log: %s: unreadable or too long\n",
			path);
		goto out;
	}
	buf[len] = '\0';

	nl = strchr(buf, '\n');
	hex = nl ? (size_t)(nl - buf) : strlen(buf);
	if (!hex || hex % 2 || hex / 2 > sizeof(x->dek))
		goto bad;
	for (size_t j = 0; j < hex; j += 2) {
		int hi = OPENSSL_hexchar2int((unsigned char)buf[j]);
		int lo = OPENSSL_hexchar2int((unsigned char)buf[j + 1]);

		if (hi < 0 || lo < 0)
			goto bad;
		x->dek[j / 2] = hi << 4 | lo;
	}
	x->dek_len = hex / 2;

	/* One state per remaining line; "" (no active slot) is a state too. */
	for (p = nl ? nl + 1 : buf + len; *p; p = nl + 1) {
		char **st;

		nl = strchr(p, '\n');
		if (!nl)
			nl = p + strlen(p);
		st = realloc(x->states, (x->nstates + 1) * sizeof(*st));
		if (!st)
			goto out;
		x->states = st;
		x->states[x->nstates] = strndup(p, nl - p);
		if (!x->states[x->nstates])
			goto out;
		x->nstates++;
		if (!*nl)
			break;
	}
	if (x->nstates < 2)
		goto bad;
	ret = 0;
	goto out;
bad:
	fprintf(stderr, "replay_log: %s: want the data key in hex, then a line per state (at least two)\n",
		path);
out:
	OPENSSL_cleanse(buf, EXPECT_MAX + 1);
	free(buf);
	if (ret)
		expect_free(x);
	return ret;
}

/* "SLOT:PROVIDER:KEY ..." of the active slots, as cmekctl dump lists them. */
static void slots_str(const struct cmek_vol_hdr *h, char *out, size_t len)
{
	size_t at = 0;

	out[0] = '\0';
	for (int i = 0; i < CMEK_VOL_SLOTS && at < len; i++) {
		const struct cmek_vol_slot *s = &h->slots[i];

		if (s->state != CMEK_SLOT_ACTIVE)
			continue;
		at += snprintf(out + at, len - at, "%s%d:%.*s:%.*s",
			       at ? " " : "", i,
			       CMEK_VOL_PROVIDER_MAX, s->provider,
			       CMEK_VOL_KEYREF_MAX, s->key_ref);
	}
}

/* The first active slot that unwraps decides, as in cmek_unwrap. */
static bool dek_intact(const struct cmek_vol_hdr *h, const struct expect *x)
{
	uint8_t dek[CMEK_DEK_MAX];
	struct cmek_binding b;
	size_t dek_len = 0;
	bool same = false;
	int i;

	cmek_uuid_unparse(h->uuid, b.volume_uuid);
	for (i = 0; i < CMEK_VOL_SLOTS; i++) {
		const struct cmek_vol_slot *s = &h->slots[i];
		struct cmek_error err = { 0 };
		struct cmek_provider *p;
		int ret;

		if (s->state != CMEK_SLOT_ACTIVE)
			continue;
		p = cmek_provider_new(s->provider, &err);
		if (!p)
			continue;
		ret = p->ops->unwrap(p, s->key_ref, &b, s->wrapped,
				     s->wrapped_len, dek, &dek_len, &err);
		cmek_provider_free(p);
		if (ret == 0)
			break;
	}
	if (i < CMEK_VOL_SLOTS)
		same = dek_len == x->dek_len && !memcmp(dek, x->dek, dek_len);
	OPENSSL_cleanse(dek, sizeof(dek));
	return same;
}

/*
 * Whether a copy of the header lacks the cmek magic altogether, the one
 * damage that still reads as "no cmek header" (cmek_vol_decode's -ENOENT).
 */
static bool copy_unformatted(int fd, int c, struct cmek_vol_hdr *h)
{
	static const off_t at[2] = {
		CMEK_VOL_COPY_OFFSET_0, CMEK_VOL_COPY_OFFSET_1
	};
	uint8_t *buf = malloc(CMEK_VOL_HDR_SIZE);
	char err[128];
	bool none;

	none = buf && pread(fd, buf, CMEK_VOL_HDR_SIZE, at[c]) ==
		      CMEK_VOL_HDR_SIZE &&
	       cmek_vol_decode(buf, h, err, sizeof(err)) == -ENOENT;
	free(buf);
	return none;
}

/* Judge the device after a write of operation @k; false with @why if bad. */
static bool judge_state(struct cmek_vol_dev *dev, int fd,
			struct cmek_vol_hdr *h, const struct expect *x, int k,
			uint64_t i, char *why, size_t len)
{
	char err[256] = "", *s;
	bool good;
	int ret;

	s = malloc(SLOTS_STR_MAX);
	if (!s) {
		snprintf(why, len, "entry %llu: out of memory",
			 (unsigned long long)i);
		return false;
	}
	ret = cmek_vol_read(dev, h, NULL, err, sizeof(err));
	/*
	 * No valid copy and one without magic is "none" too, as it was when
	 * the test grepped dump's error for "no cmek header": format zeroes
	 * both copies, so a cut in its first header write leaves copy 0
	 * blank and copy 1 torn, and no header has existed yet.
	 */
	if (ret == -ENOENT ||
	    (ret == -EBADMSG && (copy_unformatted(fd, 0, h) ||
				 copy_unformatted(fd, 1, h)))) {
		strcpy(s, "none");
	} else if (ret) {
		/* Damaged copies or an I/O error: neither state, so bad. */
		snprintf(why, len, "entry %llu: 'error' (%s)",
			 (unsigned long long)i, err[0] ? err : strerror(-ret));
		good = false;
		goto out;
	} else {
		slots_str(h, s, SLOTS_STR_MAX);
	}
	good = !strcmp(s, x->states[k - 1]) || !strcmp(s, x->states[k]);
	if (!good)
		snprintf(why, len, "entry %llu: '%s'", (unsigned long long)i, s);
	else if (strcmp(s, "none") && !dek_intact(h, x)) {
		snprintf(why, len, "entry %llu: key does not unwrap",
			 (unsigned long long)i);
		good = false;
	}
out:
	OPENSSL_cleanse(h, sizeof(*h));
	free(s);
	return good;
}

static int judge(struct log *l, const char *target, const struct expect *x)
{
	int nops = x->nstates - 1, k = 0, out, ret = 0;
	struct cmek_vol_dev *dev = NULL;
	struct cmek_vol_hdr *h;
	struct op_result *ops;
	struct log_write_entry e;
	char *why = NULL;
	bool all_good = true;
	char err[256] = "";
	uint64_t i;

	h = calloc(1, sizeof(*h));
	ops = calloc(nops + 1, sizeof(*ops));
	why = malloc(WHY_MAX);
	out = open(target, O_RDWR);
	if (!h || !ops || !why || out < 0 ||
	    cmek_vol_dev_open(target, false, 0, &dev, err, sizeof(err))) {
		fprintf(stderr, "replay_log: %s: %s\n", target,
			err[0] ? err : strerror(out < 0 ? errno : ENOMEM));
		ret = -1;
		goto out;
	}
	/*
	 * Judging reads through the same block device page cache as the
	 * writes go, so it sees each write without an fsync per entry.
	 */
	for (i = 0; i < l->entries; i++) {
		ret = log_entry(l, &e);
		if (!ret)
			ret = apply(l, out, &e);
		log_skip_data(l, &e);
		if (ret)
			break;
		if (e.flags & LOG_MARK_FLAG) {
			k++;
			continue;
		}
		/* Before the first mark is the start state: nothing to judge. */
		if (!is_write(&e) || !k)
			continue;
		if (k > nops) {
			fprintf(stderr, "replay_log: entry %llu: a write after the last of %d operations\n",
				(unsigned long long)i, nops);
			ret = -1;
			break;
		}
		ops[k].writes++;
		if (judge_state(dev, out, h, x, k, i, why, WHY_MAX))
			continue;
		/* The first bad state says the most: later ones follow it. */
		if (!ops[k].bad++)
			strcpy(ops[k].why, why);
	}
	if (!ret && fsync(out)) {
		fprintf(stderr, "replay_log: %s: %s\n", target, strerror(errno));
		ret = -1;
	}
	if (ret)
		goto out;
	for (k = 1; k <= nops; k++) {
		printf("op %d writes %u bad %u%s%s\n", k, ops[k].writes,
		       ops[k].bad, ops[k].bad ? " " : "",
		       ops[k].bad ? ops[k].why : "");
		if (!ops[k].writes || ops[k].bad)
			all_good = false;
	}
out:
	if (out >= 0)
		close(out);
	cmek_vol_dev_close(dev);
	free(why);
	free(ops);
	free(h);
	return ret || !all_good ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct expect x;
	struct log l;
	int ret;

	if (argc == 3 && !strcmp(argv[2], "--list"))
		return log_open(&l, argv[1]) ? 1 : list(&l);
	if (argc == 5 && !strcmp(argv[3], "--judge")) {
		if (expect_load(&x, argv[4]))
			return 2;
		ret = log_open(&l, argv[1]) ? 1 : judge(&l, argv[2], &x);
		expect_free(&x);
		return ret;
	}
	if (argc == 5 && argv[3][0] != '-')
		return log_open(&l, argv[1]) ? 1 :
		       replay(&l, argv[2], strtoull(argv[3], NULL, 10),
			      strtoull(argv[4], NULL, 10));
	fprintf(stderr, "usage: replay_log LOG --list | LOG TARGET FIRST END | LOG TARGET --judge EXPECT\n");
	return 2;
}
