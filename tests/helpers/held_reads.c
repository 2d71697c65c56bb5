// SPDX-License-Identifier: GPL-2.0
/*
 * Test helper: how long does each of a few staggered reads wait?
 *
 *	held_reads DEVICE N GAP_MS
 *
 * Starts N threads; thread i sleeps i * GAP_MS, then reads 4096 bytes at
 * offset i * 4096 of DEVICE with O_DIRECT. Prints one line per read, in
 * thread order:
 *
 *	<i> rc=<bytes or -errno> ms=<time the read took>
 *
 * Timed inside one process, so that what dm-cmek's key_wait_ms holds is
 * measured without the start-up time of a program per read (a second and
 * more in the emulated guest under load). Exits 0 once every line is
 * printed, 2 on a usage or set-up error.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define MAX_READS	64

struct one {
	pthread_t thread;
	int fd, i, gap_ms;
	long rc, ms;
};

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

static void *one_read(void *arg)
{
	struct one *o = arg;
	struct timespec gap = {
		.tv_sec = (long)o->i * o->gap_ms / 1000,
		.tv_nsec = ((long)o->i * o->gap_ms % 1000) * 1000000,
	};
	void *buf;
	long t0;

	if (posix_memalign(&buf, 4096, 4096)) {
		o->rc = -ENOMEM;
		return NULL;
	}
	nanosleep(&gap, NULL);
	t0 = now_ms();
	o->rc = pread(o->fd, buf, 4096, (off_t)o->i * 4096);
	if (o->rc < 0)
		o->rc = -errno;
	o->ms = now_ms() - t0;
	free(buf);
	return NULL;
}

int main(int argc, char **argv)
{
	static struct one reads[MAX_READS];
	int fd, n, gap, i;

	if (argc != 4 || (n = atoi(argv[2])) <= 0 || n > MAX_READS ||
	    (gap = atoi(argv[3])) < 0) {
		fprintf(stderr, "usage: held_reads DEVICE N GAP_MS\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY | O_DIRECT);
	if (fd < 0) {
		perror(argv[1]);
		return 2;
	}
	for (i = 0; i < n; i++) {
		reads[i] = (struct one){ .fd = fd, .i = i, .gap_ms = gap };
		if (pthread_create(&reads[i].thread, NULL, one_read, &reads[i]))
			return 2;
	}
	for (i = 0; i < n; i++) {
		pthread_join(reads[i].thread, NULL);
		printf("%d rc=%ld ms=%ld\n", i, reads[i].rc, reads[i].ms);
	}
	close(fd);
	return 0;
}
