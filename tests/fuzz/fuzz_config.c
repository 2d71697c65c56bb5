// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: the cmekd.conf parser, with the providers' own
 * configure() hooks (first input byte odd) or the syntax alone.
 *
 * Properties: parsing never crashes or leaks (ASan/LSan), a config with
 * errors reports exactly as many messages as the error count it returns,
 * and every message names the file and a line ("FILE:LINE: ...").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>
#include "config.h"

static char path[] = "/tmp/cmek-fuzz-config-XXXXXX";
static int fd = -1;

struct reports {
	int n;
	bool bad;
};

static void report(void *ctx, const char *msg)
{
	struct reports *r = ctx;

	r->n++;
	if (strncmp(msg, path, strlen(path)) || msg[strlen(path)] != ':')
		r->bad = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cmek_config_opts opts = { .owner_uid = geteuid() };
	struct reports r = { 0 };
	struct cmek_config c;
	int errors;

	if (!size || size > 65536)
		return 0;
	if (fd < 0) {
		fd = mkstemp(path);
		if (fd < 0)
			abort();
		fchmod(fd, 0600);
	}
	opts.no_providers = !(data[0] & 1);
	if (ftruncate(fd, 0) || pwrite(fd, data + 1, size - 1, 0) != (ssize_t)(size - 1))
		abort();

	cmek_config_init(&c);
	errors = cmek_config_load(&c, path, true, &opts, report, &r);
	cmek_config_free(&c);
	if (errors < 0 || errors != r.n || r.bad)
		abort();
	return 0;
}
