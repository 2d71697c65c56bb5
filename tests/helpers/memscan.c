// SPDX-License-Identifier: GPL-2.0
/*
 * Test helper: does a process's memory hold a byte string?
 *
 *	memscan PID HEX-BYTES
 *
 * Reads every readable mapping of PID through /proc/PID/mem (root, or
 * ptrace rights) and looks for the bytes, also across chunk boundaries.
 * Exit 0 and print the address if found, 1 if not, 2 on an error. The
 * tests use it to show that cmekd keeps no copy of a DEK after the push.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK	(1 << 20)

static int unhex(const char *s, unsigned char *out, size_t max)
{
	size_t n = strlen(s) / 2;

	if (strlen(s) % 2 || !n || n > max)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (sscanf(s + 2 * i, "%2hhx", &out[i]) != 1)
			return -1;
	return n;
}

/* Scan [start, end) of @fd for @pat; the address or 0. */
static unsigned long scan(int fd, unsigned long start, unsigned long end,
			  const unsigned char *pat, size_t n, unsigned char *buf)
{
	unsigned long off = start;
	size_t keep = 0;

	while (off < end) {
		size_t want = end - off < CHUNK ? end - off : CHUNK;
		ssize_t got = pread(fd, buf + keep, want, off);
		unsigned char *hit;
		size_t have;

		if (got <= 0)
			return 0;	/* unreadable (guard pages, vvar) */
		have = keep + got;
		hit = memmem(buf, have, pat, n);
		if (hit)
			return off - keep + (hit - buf);
		/* Keep the tail: the pattern may straddle two chunks. */
		keep = have < n - 1 ? have : n - 1;
		memmove(buf, buf + have - keep, keep);
		off += got;
	}
	return 0;
}

int main(int argc, char **argv)
{
	unsigned char pat[256], *buf;
	char path[64], line[512];
	FILE *maps;
	int fd, n;

	if (argc != 3 || (n = unhex(argv[2], pat, sizeof(pat))) < 0) {
		fprintf(stderr, "usage: memscan PID HEX-BYTES\n");
		return 2;
	}
	snprintf(path, sizeof(path), "/proc/%s/maps", argv[1]);
	maps = fopen(path, "r");
	snprintf(path, sizeof(path), "/proc/%s/mem", argv[1]);
	fd = open(path, O_RDONLY);
	buf = malloc(CHUNK + sizeof(pat));
	if (!maps || fd < 0 || !buf) {
		fprintf(stderr, "memscan: %s: %s\n", path, strerror(errno));
		return 2;
	}
	while (fgets(line, sizeof(line), maps)) {
		unsigned long start, end, at;
		char perms[8];

		if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) != 3 ||
		    perms[0] != 'r')
			continue;
		at = scan(fd, start, end, pat, n, buf);
		if (at) {
			printf("found at 0x%lx in %s", at, line);
			return 0;
		}
	}
	return 1;
}
