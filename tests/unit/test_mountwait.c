// SPDX-License-Identifier: GPL-2.0
/*
 * Host unit tests of cmek_mount_pending() (userspace/lib/mountwait.c): a
 * trust_dir under a separate /var that is not mounted yet must be told
 * apart from one on the root file system, from one whose file system is
 * mounted, and from a path that only shares a prefix.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mountwait.h"
#include "../lib/tap.h"

static char fstab[64], mounts[64];

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static const char *pending(const char *dir)
{
	static char out[256];

	cmek_mount_pending(dir, fstab, mounts, out, sizeof(out));
	return out;
}

int main(void)
{
	tap_plan(9);
	snprintf(fstab, sizeof(fstab), "/tmp/test_mountwait.fstab.%d",
		 (int)getpid());
	snprintf(mounts, sizeof(mounts), "/tmp/test_mountwait.mounts.%d",
		 (int)getpid());
	put(fstab, "# comment\n"
		   "/dev/vda1  /          ext4  defaults 0 1\n"
		   "/dev/vdb   /var       ext4  defaults 0 2\n"
		   "/dev/vdc   /var/lib/  xfs   defaults 0 2\n"
		   "/dev/vdd   none       swap  sw       0 0\n"
		   "/dev/vde   /srv       ext4  nofail   0 2\n");
	put(mounts, "/dev/vda1 / ext4 rw 0 0\nproc /proc proc rw 0 0\n");

	tap_ok(!strcmp(pending("/var/lib/cmek/trust"), "/var/lib"),
	       "the deepest unmounted fstab mount point above: %s",
	       pending("/var/lib/cmek/trust"));
	tap_ok(!strcmp(pending("/var/cache"), "/var"), "/var/cache waits for /var");
	tap_ok(!strcmp(pending("/var"), "/var"), "the mount point itself waits");
	tap_ok(!*pending("/etc/cmek/trust"), "on the root file system: nothing");
	tap_ok(!*pending("/variant/x"), "a shared prefix is not a parent");
	put(mounts, "/dev/vda1 / ext4 rw 0 0\n/dev/vdb /var ext4 rw 0 0\n"
		    "/dev/vdc /var/lib xfs rw 0 0\n");
	tap_ok(!*pending("/var/lib/cmek/trust"),
	       "\"/var/lib/\" in fstab is mounted when /var/lib is listed");
	put(fstab, "/dev/vdb /var ext4 defaults 0 2\n");
	put(mounts, "/dev/vdb /var ext4 rw 0 0\n");
	tap_ok(!*pending("/var/lib/cmek/trust"), "once mounted: nothing to wait for");
	unlink(mounts);
	tap_ok(!*pending("/var/lib/cmek/trust"),
	       "mounts unreadable: nothing is held back");
	unlink(fstab);
	tap_ok(!*pending("/var/lib/cmek/trust"), "no fstab: nothing to wait for");
	return tap_done();
}
