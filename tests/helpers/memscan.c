// SPDX-License-Identifier: GPL-2.0
/*
 * Test helper: does a process's memory hold a byte string?
 *
 *	memscan [--skip-secmem] PID HEX-BYTES
 *
 * Reads every readable mapping of PID through /proc/PID/mem (root, or
 * ptrace rights) and looks for the bytes, also across chunk boundaries.
 * --skip-secmem skips the mappings marked MADV_DONTDUMP (smaps VmFlags
 * "dd"): secmem.h's pages, where a credential cache is meant to live
 * (cmekd locks all its memory, so "Locked:" tells nothing apart).
 * Exit 0 and print the address if found, 1 if not, 2 on an error. The
 * tests use it to show that cmekd keeps no copy of a DEK after the push.
 */
#include <errno.h>
#include <stdbool.h>
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

/* The next readable mapping of /proc/PID/smaps, and whether it is secmem. */
static bool next_map(FILE *f, unsigned long *start, unsigned long *end,
		     bool *secmem, char *desc, size_t len)
{
	char line[512], perms[8];
	unsigned long s, e;
	bool have = false;
	long pos;

	for (;;) {
		pos = ftell(f);
		if (!fgets(line, sizeof(line), f))
			return have;
		if (sscanf(line, "%lx-%lx %7s", &s, &e, perms) == 3 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			if (have) {
				fseek(f, pos, SEEK_SET);
				return true;
			}
			if (perms[0] != 'r')
				continue;
			have = true;
			*start = s;
			*end = e;
			*secmem = false;
			snprintf(desc, len, "%s", line);
		} else if (have && !strncmp(line, "VmFlags:", 8)) {
			*secmem = strstr(line, " dd") != NULL;
		}
	}
}

int main(int argc, char **argv)
{
	unsigned char pat[256], *buf;
	unsigned long start, end, at;
	char path[64], desc[512];
	bool skip = argc == 4 && !strcmp(argv[1], "--skip-secmem"), secmem;
	FILE *maps;
	int fd, n;

	argv += skip;
	argc -= skip;
	if (argc != 3 || (n = unhex(argv[2], pat, sizeof(pat))) < 0) {
		fprintf(stderr, "usage: memscan [--skip-secmem] PID HEX-BYTES\n");
		return 2;
	}
	snprintf(path, sizeof(path), "/proc/%s/smaps", argv[1]);
	maps = fopen(path, "r");
	snprintf(path, sizeof(path), "/proc/%s/mem", argv[1]);
	fd = open(path, O_RDONLY);
	buf = malloc(CHUNK + sizeof(pat));
	if (!maps || fd < 0 || !buf) {
		fprintf(stderr, "memscan: %s: %s\n", path, strerror(errno));
		return 2;
	}
	while (next_map(maps, &start, &end, &secmem, desc, sizeof(desc))) {
		if (skip && secmem)
			continue;
		at = scan(fd, start, end, pat, n, buf);
		if (at) {
			printf("found at 0x%lx in %s", at, desc);
			return 0;
		}
	}
	return 1;
}
