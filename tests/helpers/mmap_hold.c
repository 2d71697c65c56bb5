// SPDX-License-Identifier: GPL-2.0
/*
 * Test helper: a process that keeps a file mmapped.
 *
 *	mmap_hold FILE
 *
 * Maps FILE shared and read-only, reads every page of it (so that they
 * are mapped in, not only cached), prints "ready" and sleeps until it is
 * killed. Exit 2 on an error. The revoke tests use it as the workload
 * whose mapped pages a file system shutdown cannot take away: its name
 * (comm "mmap_hold") and pid must appear among the mmap holders that
 * cmekctl and cmekd report.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	volatile const char *p;
	unsigned long sum = 0;
	struct stat st;
	off_t off;
	long pg = sysconf(_SC_PAGESIZE);
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: mmap_hold FILE\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size <= 0) {
		perror(argv[1]);
		return 2;
	}
	p = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	close(fd);
	for (off = 0; off < st.st_size; off += pg)
		sum += (unsigned char)p[off];
	printf("ready %lu\n", sum);
	fflush(stdout);
	for (;;)
		pause();
}
