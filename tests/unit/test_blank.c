// SPDX-License-Identifier: GPL-2.0
/*
 * Host unit tests of the blank-device check provisioning relies on
 * (userspace/lib/blank.c), on image files: libblkid's probing behind it
 * works the same on a regular file as on a block device. The images are
 * made by the real tools: mkfs.ext4, mkfs.xfs, mkswap, cryptsetup.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blank.h"
#include "header.h"
#include "../lib/tap.h"

/* Sparse; mkfs.xfs wants 300 MiB at least. */
#define IMG_SIZE	(320 * 1024 * 1024)

static char img[64];

/* A fresh image of zeroes; its fd, read-only as cmekd probes it. */
static int fresh(void)
{
	int fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || ftruncate(fd, IMG_SIZE) < 0)
		exit(1);
	close(fd);
	return 0;
}

static void put(off_t off, const void *b, size_t n)
{
	int fd = open(img, O_WRONLY);

	if (fd < 0 || pwrite(fd, b, n, off) != (ssize_t)n)
		exit(1);
	close(fd);
}

static int check(char *what, size_t len)
{
	int fd = open(img, O_RDONLY), r;

	if (fd < 0)
		exit(1);
	what[0] = '\0';
	r = cmek_dev_blank(fd, what, len);
	close(fd);
	return r;
}

/* An MBR with one Linux partition, as fdisk writes it. */
static void put_mbr(void)
{
	unsigned char s[512] = { 0 };
	unsigned char *p = s + 446;

	p[4] = 0x83;				/* Linux */
	p[8] = 0x00; p[9] = 0x08;		/* start LBA 2048 */
	p[12] = 0x00; p[13] = 0x20;		/* 8192 sectors */
	s[510] = 0x55;
	s[511] = 0xaa;
	put(0, s, sizeof(s));
}

int main(void)
{
	char what[256], cmd[160];
	int r;

	tap_plan(9);
	snprintf(img, sizeof(img), "/tmp/test_blank.%d", (int)getpid());

	fresh();
	r = check(what, sizeof(what));
	tap_ok(r == 0, "an image of zeroes is blank");

	put(IMG_SIZE - 1, "x", 1);
	r = check(what, sizeof(what));
	tap_ok(r == 0, "data past the first MiB with no signature: blank");

	fresh();
	put(CMEK_BLANK_ZERO_LEN - 1, "\x01", 1);
	r = check(what, sizeof(what));
	tap_ok(r == -EEXIST && strstr(what, "non-zero data in its first MiB") &&
	       strstr(what, "1048575"),
	       "one non-zero byte at the end of the first MiB is refused, "
	       "and where it is said: %s", what);

	fresh();
	put(CMEK_VOL_COPY_OFFSET_1, CMEK_VOL_MAGIC, 8);
	r = check(what, sizeof(what));
	tap_ok(r == -EEXIST && strstr(what, "cmek header"),
	       "a cmek header's second copy alone is refused: %s", what);

	fresh();
	put_mbr();
	r = check(what, sizeof(what));
	tap_ok(r == -EEXIST && strstr(what, "dos partition table"),
	       "an MBR partition table is refused: %s", what);

	fresh();
	snprintf(cmd, sizeof(cmd), "mkfs.ext4 -q -F %s >/dev/null 2>&1", img);
	r = system(cmd) ? -1 : check(what, sizeof(what));
	tap_ok(r == -EEXIST && strstr(what, "ext4") &&
	       strstr(what, "filesystem"),
	       "an ext4 file system is refused, by libblkid: %s", what);

	fresh();
	snprintf(cmd, sizeof(cmd), "mkfs.xfs -q -f %s >/dev/null 2>&1", img);
	r = system(cmd) ? -1 : check(what, sizeof(what));
	tap_ok(r == -EEXIST && strstr(what, "xfs"),
	       "an XFS file system is refused: %s", what);

	fresh();
	snprintf(cmd, sizeof(cmd), "mkswap %s >/dev/null 2>&1", img);
	r = system(cmd) ? -1 : check(what, sizeof(what));
	tap_ok(r == -EEXIST && strstr(what, "swap"),
	       "swap space is refused: %s", what);

	/* A fast PBKDF: the header is what matters, not the passphrase. */
	fresh();
	snprintf(cmd, sizeof(cmd), "echo pw | cryptsetup luksFormat -q "
		 "--pbkdf pbkdf2 --pbkdf-force-iterations 1000 %s "
		 ">/dev/null 2>&1", img);
	r = system(cmd) ? -1 : check(what, sizeof(what));
	tap_ok(r == -EEXIST && strstr(what, "crypto_LUKS") &&
	       strstr(what, "crypto"),
	       "a LUKS header is refused, as crypto: %s", what);

	unlink(img);
	return tap_done();
}
