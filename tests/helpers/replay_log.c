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
 *
 * The log: a super block at byte 0, then per entry one sector holding a
 * struct log_write_entry (and a mark's name), followed by the entry's data
 * sectors unless it is a discard. Everything is little-endian.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
		       e.flags & (LOG_DISCARD_FLAG | LOG_MARK_FLAG) ||
		       !e.nr_sectors ? "" : "W",
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

int main(int argc, char **argv)
{
	struct log l;

	if (argc == 3 && !strcmp(argv[2], "--list"))
		return log_open(&l, argv[1]) ? 1 : list(&l);
	if (argc == 5)
		return log_open(&l, argv[1]) ? 1 :
		       replay(&l, argv[2], strtoull(argv[3], NULL, 10),
			      strtoull(argv[4], NULL, 10));
	fprintf(stderr, "usage: replay_log LOG --list | LOG TARGET FIRST END\n");
	return 2;
}
