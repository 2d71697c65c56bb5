// SPDX-License-Identifier: GPL-2.0
/*
 * Host unit tests of the cmek table line (userspace/lib/dm.c): the
 * option names and separator of linux/dm-cmek.h, in the order the target
 * documents, the count only when there are options, a line that does not
 * fit refused; and the device resolver's fallbacks.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dm.h"
#include "../lib/tap.h"

#define U "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0"

static void params(void)
{
	struct cmek_dm_table t = { .uuid = U, .device = "/dev/vdb",
				   .offset = 2048, .sector_size = 512 };
	char out[512];
	int ret;

	ret = cmek_dm_table_params(&t, out, sizeof(out));
	tap_ok(!ret && !strcmp(out, U " /dev/vdb 2048"),
	       "no options: uuid, device, offset (%s)", out);
	t.sector_size = 4096;
	t.iv_large_sectors = true;
	t.iv_offset = 8;
	t.allow_discards = true;
	t.key_wait_ms = 100;
	ret = cmek_dm_table_params(&t, out, sizeof(out));
	tap_ok(!ret && !strcmp(out, U " /dev/vdb 2048 5 sector_size:4096 "
			       "iv_large_sectors iv_offset:8 allow_discards "
			       "key_wait_ms:100"),
	       "every option, by the uapi names (%s)", out);
	t.sector_size = 512;
	t.iv_large_sectors = false;
	t.iv_offset = 0;
	t.key_wait_ms = 0;
	ret = cmek_dm_table_params(&t, out, sizeof(out));
	tap_ok(!ret && !strcmp(out, U " /dev/vdb 2048 1 allow_discards"),
	       "one option counts 1 (%s)", out);
	ret = cmek_dm_table_params(&t, out, 20);
	tap_ok(ret == -ENAMETOOLONG, "a line longer than the buffer: "
	       "-ENAMETOOLONG (%d)", ret);
}

static void resolve(void)
{
	char out[64];

	cmek_dm_resolve_dev("/dev/loop0", out, sizeof(out));
	tap_ok(!strcmp(out, "/dev/loop0"), "a path is kept");
	cmek_dm_resolve_dev("4095:1048575", out, sizeof(out));
	tap_ok(!strcmp(out, "/dev/block/4095:1048575"),
	       "an unknown MAJOR:MINOR becomes udev's link (%s)", out);
	cmek_dm_resolve_dev("7:0x", out, sizeof(out));
	tap_ok(!strcmp(out, "7:0x"), "trailing junk is not a device number");
}

int main(void)
{
	tap_plan(7);
	params();
	resolve();
	return tap_done();
}
