// SPDX-License-Identifier: GPL-2.0
/*
 * Host unit tests of systemd unit name escaping (userspace/lib/unitname.c):
 * cmek-generator's units must name the very device units systemd makes,
 * so every expected string here is what systemd-escape(1) of systemd 252
 * prints for the same input.
 */
#include <errno.h>
#include <string.h>

#include "unitname.h"
#include "../lib/tap.h"

static void path_is(const char *path, const char *suffix, const char *want)
{
	char out[CMEK_UNIT_NAME_MAX];
	int r = cmek_unit_from_path(path, suffix, out, sizeof(out));

	tap_ok(!r && !strcmp(out, want), "path %s -> %s%s%s", path, want,
	       r || strcmp(out, want) ? ", got " : "", r ? "an error" :
	       strcmp(out, want) ? out : "");
}

static void escape_is(const char *s, const char *want)
{
	char out[CMEK_UNIT_NAME_MAX];
	int r = cmek_unit_escape(s, out, sizeof(out));

	tap_ok(!r && !strcmp(out, want), "escape '%s' -> %s (got %s)", s, want,
	       r ? "an error" : out);
}

int main(void)
{
	char out[CMEK_UNIT_NAME_MAX], small[8], longp[300];

	tap_plan(15);
	path_is("/dev/disk/by-cmek-uuid/0f6c1e2a-1111-2222-3333-444455556666",
		".device", "dev-disk-by\\x2dcmek\\x2duuid-0f6c1e2a\\x2d1111"
		"\\x2d2222\\x2d3333\\x2d444455556666.device");
	path_is("/dev/mapper/a@b+c#d:e_f.g", ".device",
		"dev-mapper-a\\x40b\\x2bc\\x23d:e_f.g.device");
	path_is("//dev///mapper/data/", ".device", "dev-mapper-data.device");
	path_is("/a/./b", "", "a-b");
	path_is("/", ".mount", "-.mount");
	path_is("/.a/b", ".mount", "\\x2ea-b.mount");
	escape_is("data", "data");
	escape_is(".hidden", "\\x2ehidden");
	escape_is("caf\xc3\xa9 x", "caf\\xc3\\xa9\\x20x");
	escape_is("a-b/c", "a\\x2db-c");

	tap_ok(cmek_unit_from_path("rel/x", ".device", out, sizeof(out)) ==
	       -EINVAL, "a relative path is refused");
	tap_ok(cmek_unit_from_path("/a/../b", ".device", out, sizeof(out)) ==
	       -EINVAL, "a path with .. is refused, as systemd does");
	tap_ok(cmek_unit_escape("abcdefgh", small, sizeof(small)) ==
	       -ENAMETOOLONG, "escape into too small a buffer: -ENAMETOOLONG");
	tap_ok(cmek_unit_escape("a b", small, 4) == -ENAMETOOLONG,
	       "an escape sequence is never cut in half");
	memset(longp, 'x', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	tap_ok(cmek_unit_from_path(longp, ".device", out, sizeof(out)) ==
	       -ENAMETOOLONG, "a unit name past 255 bytes is refused");
	return tap_done();
}
