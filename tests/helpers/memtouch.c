// SPDX-License-Identifier: GPL-2.0
/*
 * memtouch MIB: map MIB MiB of anonymous memory, write a pattern of its
 * own into every page, then read every page back. Run in a memory cgroup
 * smaller than MIB, most of it goes to swap and back in between.
 * Prints "ok MIB" and exits 0, or names the first bad page and exits 1.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static uint64_t pattern(size_t page, size_t word)
{
	return (page * 0x9e3779b97f4a7c15ULL) ^ (word * 0xbf58476d1ce4e5b9ULL);
}

int main(int argc, char **argv)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE), words = ps / 8;
	size_t mib = argc == 2 ? strtoul(argv[1], NULL, 10) : 0;
	size_t pages = mib * 1024 * 1024 / ps, p, w;
	uint64_t *m;

	if (!pages) {
		fprintf(stderr, "usage: memtouch MIB\n");
		return 2;
	}
	m = mmap(NULL, pages * ps, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	for (p = 0; p < pages; p++)
		for (w = 0; w < words; w++)
			m[p * words + w] = pattern(p, w);
	for (p = 0; p < pages; p++)
		for (w = 0; w < words; w++)
			if (m[p * words + w] != pattern(p, w)) {
				printf("bad page %zu word %zu\n", p, w);
				return 1;
			}
	printf("ok %zu\n", mib);
	return 0;
}
