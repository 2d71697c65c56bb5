// SPDX-License-Identifier: GPL-2.0
/*
 * Test helper: can a process that mapped a device read it again later?
 *
 *	mmap_probe DEVICE STRING
 *
 * Maps the first page of DEVICE shared and read-only, checks that it holds
 * STRING, prints "ready" and waits for a line on stdin; then touches the
 * page again. Prints "readable" and exits 0 if the page still holds STRING,
 * prints "gone" and exits 3 if it no longer does or the access faulted
 * (SIGBUS: the page had to be read again and the read failed), and exits
 * 2 on any other error. The revoke tests use it to show that a revoke
 * takes plaintext pages away from a process that has them mapped.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static sigjmp_buf fault;

static void on_sigbus(int sig)
{
	siglongjmp(fault, 1);
}

static int holds(const volatile char *page, long size, const char *s)
{
	size_t n = strlen(s);
	char buf[256];

	if (!n || n > sizeof(buf) || n > (size_t)size)
		return 0;
	for (size_t i = 0; i < n; i++)
		buf[i] = page[i];
	return !memcmp(buf, s, n);
}

int main(int argc, char **argv)
{
	long size = sysconf(_SC_PAGESIZE);
	struct sigaction sa = { .sa_handler = on_sigbus };
	volatile char *page;
	char line[16];
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: mmap_probe DEVICE STRING\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY);
	if (fd < 0) {
		perror(argv[1]);
		return 2;
	}
	page = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	if (page == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	if (sigaction(SIGBUS, &sa, NULL))
		return 2;
	if (sigsetjmp(fault, 1) || !holds(page, size, argv[2])) {
		fprintf(stderr, "mmap_probe: the page does not hold the string\n");
		return 2;
	}
	printf("ready\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 2;
	if (sigsetjmp(fault, 1)) {
		printf("gone (SIGBUS)\n");
		return 3;
	}
	if (holds(page, size, argv[2])) {
		printf("readable\n");
		return 0;
	}
	printf("gone\n");
	return 3;
}
