// SPDX-License-Identifier: GPL-2.0
/*
 * Test helper: what does an O_DIRECT read hand back?
 *
 *	odirect_read DEVICE LEN STRING
 *
 * Fills a LEN-byte aligned buffer with 0xa5, reads the first LEN bytes of
 * DEVICE into it with O_DIRECT (so the block layer writes straight into
 * the buffer), and prints one line:
 *
 *	rc=<bytes or -errno> content=<zero|untouched|string|other>
 *
 * "string" when the buffer starts with STRING (the plaintext), "zero" when
 * every byte is 0, "untouched" when it still holds only 0xa5. Exits 0 once
 * it has printed that line, 2 on a usage or set-up error. The revoke tests
 * use it to show that a read failed by a revoke carries no plaintext back.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *classify(const unsigned char *b, size_t n, const char *s)
{
	size_t i, zero = 0, fill = 0;

	if (n >= strlen(s) && !memcmp(b, s, strlen(s)))
		return "string";
	for (i = 0; i < n; i++) {
		zero += !b[i];
		fill += b[i] == 0xa5;
	}
	return zero == n ? "zero" : fill == n ? "untouched" : "other";
}

int main(int argc, char **argv)
{
	unsigned char *buf;
	long len;
	ssize_t r;
	int fd;

	if (argc != 4 || (len = atol(argv[2])) <= 0 || len % 512 ||
	    !*argv[3]) {
		fprintf(stderr, "usage: odirect_read DEVICE LEN STRING\n");
		return 2;
	}
	if (posix_memalign((void **)&buf, 4096, len))
		return 2;
	memset(buf, 0xa5, len);
	fd = open(argv[1], O_RDONLY | O_DIRECT);
	if (fd < 0) {
		perror(argv[1]);
		return 2;
	}
	r = pread(fd, buf, len, 0);
	printf("rc=%zd content=%s\n", r < 0 ? (ssize_t)-errno : r,
	       classify(buf, len, argv[3]));
	close(fd);
	free(buf);
	return 0;
}
