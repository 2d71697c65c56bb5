// SPDX-License-Identifier: GPL-2.0
/*
 * Host unit tests of the /proc parsers behind the file system shutdown on
 * revoke (userspace/lib/fs_shutdown.c): mountinfo lines with escapes,
 * optional fields, garbage and overlong lines; maps lines with hex device
 * numbers, cut paths and garbage; the printable form of untrusted names;
 * and a whole cmek_fs_revoke() of a device that is mounted nowhere.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "escape.h"
#include "fs_shutdown.h"
#include "../lib/tap.h"

static int parse(const char *text, struct cmek_mountinfo *m, char *buf,
		 size_t len)
{
	snprintf(buf, len, "%s", text);
	return cmek_mountinfo_parse(buf, m);
}

static int find(const char *text, size_t len, unsigned int ma,
		unsigned int mi, struct cmek_mount *out)
{
	FILE *f = fmemopen((void *)text, len, "r");
	int r;

	if (!f)
		return -1;
	memset(out, 0, sizeof(*out));
	r = cmek_mountinfo_find(f, ma, mi, false, out);
	fclose(f);
	return r;
}

static int uses(const char *text, size_t len, unsigned int ma,
		unsigned int mi)
{
	FILE *f = fmemopen((void *)text, len, "r");
	int r;

	if (!f)
		return -1;
	r = cmek_maps_uses_dev(f, ma, mi);
	fclose(f);
	return r;
}

/* A string of @n copies of @c followed by @tail (malloc()ed). */
static char *repeat(char c, size_t n, const char *head, const char *tail)
{
	size_t hl = strlen(head), tl = strlen(tail);
	char *s = malloc(hl + n + tl + 1);

	if (!s)
		abort();
	memcpy(s, head, hl);
	memset(s + hl, c, n);
	memcpy(s + hl + n, tail, tl + 1);
	return s;
}

static void test_mountinfo_lines(void)
{
	static const char *const bad[] = {
		"",
		"36 35 253:3 / /mnt",
		"36 35 253:3 / /mnt rw,relatime shared:1",
		"36 35 253:3 / /mnt rw,relatime shared:1 -",
		"36 35 253:3 / /mnt rw,relatime - ext4",
		"36 35 253 / /mnt rw - ext4 /dev/dm-3 rw",
		"36 35 253:x / /mnt rw - ext4 /dev/dm-3 rw",
		"36 35 :3 / /mnt rw - ext4 /dev/dm-3 rw",
		"36 35 253:3: / /mnt rw - ext4 /dev/dm-3 rw",
		"36 35 99999999999:3 / /mnt rw - ext4 /dev/dm-3 rw",
		"36 35 -1:3 / /mnt rw - ext4 /dev/dm-3 rw",
		"36 35 253:3 / mnt rw - ext4 /dev/dm-3 rw",
		"36 35 253:3 / /mnt\\000x rw - ext4 /dev/dm-3 rw",
		"36 35 253:3 / /mnt\\777 rw - ext4 /dev/dm-3 rw",
		"\x01\x02\xff garbage \\\\\\ - - -",
	};
	struct cmek_mountinfo m;
	char buf[512];
	size_t i;
	int ok = 1;

	tap_ok(!parse("36 35 253:3 / /mnt/data rw,noatime shared:7 - ext4 "
		      "/dev/mapper/data rw,errors=remount-ro", &m, buf,
		      sizeof(buf)) &&
	       m.major == 253 && m.minor == 3 && !strcmp(m.root, "/") &&
	       !strcmp(m.mount_point, "/mnt/data") &&
	       !strcmp(m.fstype, "ext4") &&
	       !strcmp(m.source, "/dev/mapper/data"),
	       "mountinfo: a plain line, its fields");
	tap_ok(!parse("1 2 259:1048575 /sub/dir /srv/a\\040b\\134c\\011d\\012e "
		      "rw shared:1 master:2 propagate_from:3 unbindable - xfs "
		      "/dev/dm\\0401 rw", &m, buf, sizeof(buf)) &&
	       m.major == 259 && m.minor == 1048575 &&
	       !strcmp(m.root, "/sub/dir") &&
	       !strcmp(m.mount_point, "/srv/a b\\c\td\ne") &&
	       !strcmp(m.fstype, "xfs") && !strcmp(m.source, "/dev/dm 1"),
	       "mountinfo: escapes undone, several optional fields, big minor");
	tap_ok(!parse("1 2 8:1 / /a\\04x\\9 rw - ext4 none", &m, buf,
		      sizeof(buf)) && !strcmp(m.mount_point, "/a\\04x\\9"),
	       "mountinfo: an incomplete escape stays as it is");
	tap_ok(!parse("40 1 0:52 net:[4026531992] /run/netns/a rw - nsfs nsfs "
		      "rw", &m, buf, sizeof(buf)) &&
	       !strcmp(m.root, "net:[4026531992]"),
	       "mountinfo: a root that is not a path (nsfs)");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse(bad[i], &m, buf, sizeof(buf)) != -EINVAL) {
			tap_diag("accepted: %s", bad[i]);
			ok = 0;
		}
	tap_ok(ok, "mountinfo: %zu malformed lines refused",
	       sizeof(bad) / sizeof(bad[0]));
}

static void test_mountinfo_find(void)
{
	static const char fixture[] =
		"garbage\n"
		"\n"
		"22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
		"30 22 253:3 /www /srv/www rw - ext4 /dev/mapper/data rw\n"
		"31 22 253:30 / /other rw - ext4 /dev/mapper/other rw\n"
		"32 22 253:3 / /mnt/my\\040data rw - ext4 /dev/mapper/data rw\n"
		"33 22 253:3 / /mnt/second rw - ext4 /dev/mapper/data rw\n";
	static const char nul[] =
		"30 22 253:4 / /mnt/a\0b rw - ext4 /dev/x rw\n"
		"31 22 253:4 / /mnt/ok rw - ext4 /dev/x rw\n";
	struct cmek_mount m;
	char *big, *text, *mp;

	tap_ok(find(fixture, strlen(fixture), 253, 3, &m) == 1 &&
	       !strcmp(m.mount_point, "/mnt/my data") &&
	       !strcmp(m.fstype, "ext4") && m.major == 253 && m.minor == 3,
	       "find: the first mount of the root preferred over a bind "
	       "mount, unescaped");
	tap_ok(find(fixture, (size_t)(strstr(fixture, "32 22") - fixture),
		    253, 3, &m) == 1 &&
	       !strcmp(m.mount_point, "/srv/www"),
	       "find: a bind mount of a directory when it is the only one");
	tap_ok(find(fixture, strlen(fixture), 253, 33, &m) == 0 &&
	       find("", 0, 253, 3, &m) == 0,
	       "find: none for another device or an empty file");
	tap_ok(find(nul, sizeof(nul) - 1, 253, 4, &m) == 1 &&
	       !strcmp(m.mount_point, "/mnt/ok"),
	       "find: a line with a NUL byte is skipped, the next one found");

	/*
	 * An overlong line (its options run past the 64 KiB limit) is
	 * skipped whole: neither its head nor its tail, each of which reads
	 * as a mount of 253:3, may be taken for a line.
	 */
	big = repeat('o', 70 * 1024, "50 22 253:3 / /mnt/long rw - ext4 "
		     "/dev/x rw,", " 22 253:3 / /mnt/fake rw - ext4 /dev/x rw\n"
		     "52 22 253:3 / /mnt/after rw - ext4 /dev/x rw\n");
	tap_ok(find(big, strlen(big), 253, 3, &m) == 1 &&
	       !strcmp(m.mount_point, "/mnt/after"),
	       "find: an overlong line is skipped whole, the next one found");
	free(big);

	/* A mount point of PATH_MAX - 1 bytes fits; PATH_MAX does not. */
	mp = repeat('p', PATH_MAX - 2, "/", "");
	if (asprintf(&text, "60 22 253:5 / %s rw - xfs /dev/x rw\n", mp) < 0)
		abort();
	tap_ok(find(text, strlen(text), 253, 5, &m) == 1 &&
	       strlen(m.mount_point) == PATH_MAX - 1,
	       "find: a mount point of PATH_MAX - 1 bytes");
	free(text);
	free(mp);
	mp = repeat('p', PATH_MAX - 1, "/", "");
	if (asprintf(&text, "60 22 253:5 / %s rw - xfs /dev/x rw\n", mp) < 0)
		abort();
	tap_ok(find(text, strlen(text), 253, 5, &m) == 0,
	       "find: a mount point of PATH_MAX bytes is skipped");
	free(text);
	free(mp);
	text = repeat('t', 100, "60 22 253:5 / /m rw - ", " /dev/x rw\n");
	tap_ok(find(text, strlen(text), 253, 5, &m) == 0,
	       "find: an fstype longer than %d bytes is skipped",
	       CMEK_FS_TYPE_LEN - 1);
	free(text);
}

static void test_maps(void)
{
	static const char *const bad[] = {
		"",
		"7f00-7f01",
		"7f00-7f01 r--p 00000000 fd:03",
		"7f00-7f01 r-p 00000000 fd:03 12 /x",
		"7f00 7f01 r--p 00000000 fd:03 12 /x",
		"7f00-7f01 r--p 00000000 fd03 12 /x",
		"7f00-7f01 r--p 00000000 fffff1:03 12 /x",
		"7f00-7f01 r--p 00000000 fd:03 12x /x",
		"7f00-7f01 r--p 00000000 fd:03 99999999999999999999999 /x",
		"zz00-7f01 r--p 00000000 fd:03 12 /x",
		"\xff\xfe garbage",
	};
	unsigned int ma, mi;
	unsigned long ino;
	size_t i;
	int ok = 1;
	char *text;

	tap_ok(!cmek_maps_parse("55d4c9a00000-55d4c9a02000 r--p 00000000 fd:03 "
				"1311 /mnt/data/file", &ma, &mi, &ino) &&
	       ma == 253 && mi == 3 && ino == 1311,
	       "maps: device in hex, inode");
	tap_ok(!cmek_maps_parse("7ffd1000-7ffd2000 rw-p 00000000 00:00 0",
				&ma, &mi, &ino) && ma == 0 && mi == 0 &&
	       ino == 0 &&
	       !cmek_maps_parse("7f00-7f01 r-xs 0001f000 103:1a2 77          "
				"/x (deleted)", &ma, &mi, &ino) &&
	       ma == 0x103 && mi == 0x1a2 && ino == 77,
	       "maps: anonymous mapping; minor above 255, padded path");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (cmek_maps_parse(bad[i], &ma, &mi, &ino) != -EINVAL) {
			tap_diag("accepted: %s", bad[i]);
			ok = 0;
		}
	tap_ok(ok, "maps: %zu malformed lines refused",
	       sizeof(bad) / sizeof(bad[0]));

	/*
	 * The tail of a cut line must not be read as a line of its own:
	 * wherever the reader cuts, the path ends in what would read as a
	 * mapping of 253:3.
	 */
	for (i = 0, ok = 1; i < 1200 && ok; i++) {
		text = repeat('/', i, "7f00-7f01 r--p 00000000 08:01 5 ",
			      "7f00-7f01 r--p 00000000 fd:03 12 /fake\n"
			      "7f00-7f01 rw-p 00000000 00:00 0\n");
		ok = uses(text, strlen(text), 253, 3) == 0 &&
		     uses(text, strlen(text), 8, 1) == 1;
		if (!ok)
			tap_diag("path of %zu bytes", i);
		free(text);
	}
	tap_ok(ok, "maps: a cut line's head counts, its tail is not a line");
	text = repeat('x', 3000, "garbage ", "\n"
		      "7f00-7f01 rw-p 00000000 fd:03 0 [anon]\n"
		      "7f02-7f03 r--s 00000000 fd:03 4099 /mnt/data/f\n");
	tap_ok(uses(text, strlen(text), 253, 3) == 1 &&
	       uses(text, 60, 253, 3) == 0,
	       "maps: found after garbage; inode 0 does not count");
	free(text);
}

static void test_strings(void)
{
	struct cmek_fs_result r;
	char buf[64];
	int i;

	cmek_printable("/mnt/a \"b\"\\c\nd\xff", buf, sizeof(buf));
	tap_ok(!strcmp(buf, "/mnt/a \\042b\\042\\134c\\012d\\377"),
	       "printable: quotes, backslash, newline, high byte escaped");
	cmek_printable("abcdef\n", buf, 9);
	tap_ok(!strcmp(buf, "abcdef"), "printable: an escape that does not "
	       "fit is left out whole");
	cmek_printable("abcdefghijkl", buf, 5);
	tap_ok(!strcmp(buf, "abcd"), "printable: cut to the buffer");

	memset(&r, 0, sizeof(r));
	cmek_fs_holders_str(&r, buf, sizeof(buf));
	tap_ok(!strcmp(buf, "-"), "holders: none is '-'");
	r.nholders = 5;
	r.nlisted = 2;
	snprintf(r.holders[0].name, sizeof(r.holders[0].name), "sleep[12]");
	snprintf(r.holders[1].name, sizeof(r.holders[1].name), "db[7]");
	cmek_fs_holders_str(&r, buf, sizeof(buf));
	tap_ok(!strcmp(buf, "sleep[12],db[7],+3 more"),
	       "holders: listed, then how many more");
	cmek_fs_holders_str(&r, buf, 8);
	tap_ok(strlen(buf) == 7, "holders: cut to a small buffer");

	for (i = CMEK_FS_NOT_MOUNTED; i <= CMEK_FS_FAILED; i++)
		if (!strcmp(cmek_fs_state_name(i), "?"))
			break;
	tap_ok(i > CMEK_FS_FAILED && !strcmp(cmek_fs_state_name(
		CMEK_FS_SHUT_DOWN), "shut-down"), "state names");
}

int main(void)
{
	struct cmek_fs_result r;

	tap_plan(26);
	test_mountinfo_lines();
	test_mountinfo_find();
	test_maps();
	test_strings();

	/* No device 4095:1048575 exists: nothing found, nothing done. */
	tap_ok(cmek_fs_revoke(makedev(4095, 1048575), 0, &r) == 0 &&
	       r.state == CMEK_FS_NOT_MOUNTED && !r.nholders &&
	       !r.caches_dropped && r.why[0],
	       "revoke of a device mounted nowhere: not-mounted, no holders, "
	       "no cache drop");
	return tap_done();
}
