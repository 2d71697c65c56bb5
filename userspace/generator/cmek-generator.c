// SPDX-License-Identifier: GPL-2.0
/*
 * cmek-generator: a systemd generator (systemd.generator(7)) that turns
 * /etc/cmek/volumes into one unit per volume, as systemd-cryptsetup-
 * generator does for /etc/crypttab.
 *
 *   cmek-generator NORMAL_DIR [EARLY_DIR LATE_DIR]
 *
 * For a volume NAME it writes, into NORMAL_DIR:
 *   cmek-open-<NAME escaped>.service   runs "cmekctl open-listed --name
 *       NAME --retry" (a oneshot; with nofail a simple service, so that
 *       the boot finishes while it retries); Requires= and After= cmekd.service; BindsTo= and
 *       After= the device unit of its device; ordered before
 *       blockdev@dev-mapper-NAME.target (mounts of /dev/mapper/NAME wait
 *       for it) and, unless nofail, before cryptsetup.target (local KMS)
 *       or remote-cryptsetup.target and remote-fs.target (_netdev: after
 *       network-online.target, which it also wants).
 *   dev-mapper-NAME.device.requires/  the unit: a mount of /dev/mapper/NAME
 *       pulls it in, noauto or not.
 *   <target>.requires/ (.wants/ with nofail)  the unit, unless noauto.
 *   <device>.device.wants/  the unit, unless noauto: a device plugged in
 *       after boot opens by itself (what 61-cmek.rules does without
 *       systemd).
 *   dev-mapper-NAME.device.d/40-cmek.conf  unless nofail or noauto: the
 *       mounts wait for the mapping as long as the open retries
 *       (timeout= or no limit), not the device units' default 90 s; an
 *       fstab x-systemd.device-timeout= (a later drop-in) still wins.
 *
 * It runs before anything is mounted but /, /usr and /run: it reads
 * nothing but the volumes file ($CMEK_VOLUMES, tests) and never touches a
 * device, so whether a volume's KMS is reached over the network is the
 * _netdev option, not a guess from its header. Bad lines are reported and
 * skipped, as by every other reader of the file; exit status is 0 unless
 * the output cannot be written, so one bad line never costs the others.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unitname.h"
#include "voltab.h"

/* Where cmekctl is installed; "make install" builds with its SBINDIR. */
#ifndef CMEK_SBINDIR
#define CMEK_SBINDIR "/usr/sbin"
#endif

static const char *dest;
static const char *cmekctl = CMEK_SBINDIR "/cmekctl";

static __attribute__((format(printf, 1, 2)))
void gen_err(const char *fmt, ...)
{
	va_list ap;

	fputs("cmek-generator: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void report(void *ctx, const char *msg)
{
	gen_err("%s", msg);
}

/* mkdir DEST/DIR (one level: generator directories are flat). */
static int mkdir_in(const char *dir)
{
	char p[PATH_MAX];

	if ((size_t)snprintf(p, sizeof(p), "%s/%s", dest, dir) >= sizeof(p))
		return -ENAMETOOLONG;
	if (mkdir(p, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* DEST/UNIT.KIND/TARGET -> ../TARGET, as generator_add_symlink() does. */
static int add_link(const char *unit, const char *kind, const char *target)
{
	char dir[PATH_MAX], link[PATH_MAX], to[PATH_MAX];
	int ret;

	snprintf(dir, sizeof(dir), "%s.%s", unit, kind);
	ret = mkdir_in(dir);
	if (ret)
		return ret;
	if ((size_t)snprintf(link, sizeof(link), "%s/%s/%s", dest, dir,
			     target) >= sizeof(link) ||
	    (size_t)snprintf(to, sizeof(to), "../%s", target) >= sizeof(to))
		return -ENAMETOOLONG;
	if (symlink(to, link) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Write DEST/PATH (the directory is fresh for each generator run). */
static int write_file(const char *path, const char *text)
{
	char p[PATH_MAX];
	size_t len = strlen(text);
	int fd;

	if ((size_t)snprintf(p, sizeof(p), "%s/%s", dest, path) >= sizeof(p))
		return -ENAMETOOLONG;
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0644);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len) {
		int ret = errno ? -errno : -EIO;

		close(fd);
		return ret;
	}
	return close(fd) < 0 ? -errno : 0;
}

/* The device unit the volume's device appears as, and its path. */
static int source_unit(const struct cmek_voltab_entry *e, char *path,
		       size_t plen, char *unit, size_t ulen)
{
	if (e->device)
		snprintf(path, plen, "%s", e->device);
	else
		snprintf(path, plen, "/dev/disk/by-cmek-uuid/%s", e->uuid);
	return cmek_unit_from_path(path, ".device", unit, ulen);
}

static int gen_volume(const char *src, const struct cmek_voltab_entry *e)
{
	char esc[CMEK_UNIT_NAME_MAX], unit[CMEK_UNIT_NAME_MAX];
	char dm_unit[CMEK_UNIT_NAME_MAX], dev_unit[CMEK_UNIT_NAME_MAX];
	char dm_esc[CMEK_UNIT_NAME_MAX];
	char dev[PATH_MAX], mapper[PATH_MAX], dropin[PATH_MAX + 32];
	const char *target = e->netdev ? "remote-cryptsetup.target" :
					 "cryptsetup.target";
	const char *kind = e->nofail ? "wants" : "requires";
	char tmo[32] = "infinity", *text = NULL;
	size_t tlen = 0;
	FILE *f;
	int ret;

	/*
	 * Names are letters, digits and -_.+#@: (voltab.c): nothing in
	 * them is a unit-file specifier, quote or separator, so they go
	 * into ExecStart= as they are.
	 */
	if (cmek_unit_escape(e->name, esc, sizeof(esc)) ||
	    (size_t)snprintf(unit, sizeof(unit), "cmek-open-%s.service",
			     esc) >= CMEK_UNIT_NAME_MAX) {
		gen_err("%s:%d: %s: the unit name would be too long", src,
			e->line, e->name);
		return 0;
	}
	snprintf(mapper, sizeof(mapper), "/dev/mapper/%s", e->name);
	if (cmek_unit_from_path(mapper, ".device", dm_unit, sizeof(dm_unit)) ||
	    cmek_unit_from_path(mapper, "", dm_esc, sizeof(dm_esc)) ||
	    source_unit(e, dev, sizeof(dev), dev_unit, sizeof(dev_unit))) {
		gen_err("%s:%d: %s: no valid unit name for its device", src,
			e->line, e->name);
		return 0;
	}

	f = open_memstream(&text, &tlen);
	if (!f)
		return -ENOMEM;
	fprintf(f,
		"# Automatically generated by cmek-generator from %s:%d\n"
		"\n"
		"[Unit]\n"
		"Description=Open cmek volume %s\n"
		"Documentation=man:cmek-generator(8) man:cmekctl(8)\n"
		"SourcePath=%s\n"
		/* It may open what / or /var sit on: no implicit ordering. */
		"DefaultDependencies=no\n"
		"IgnoreOnIsolate=yes\n"
		"Requires=cmekd.service\n"
		"After=cmekd.service\n"
		"BindsTo=%s\n"
		"After=%s\n"
		/* Mounts of /dev/mapper/NAME are after this target. */
		"Wants=blockdev@%s.target\n"
		"Before=blockdev@%s.target\n"
		"Conflicts=umount.target\n"
		"Before=umount.target\n",
		src, e->line, e->name, src, dev_unit, dev_unit,
		dm_esc, dm_esc);
	if (e->netdev)
		/*
		 * Wants= too: After= alone orders nothing when no one pulls
		 * network-online.target in. Never before local-fs: the
		 * network comes up after local file systems.
		 */
		fprintf(f,
			"Wants=network-online.target\n"
			"After=network-online.target remote-fs-pre.target\n");
	else
		fprintf(f, "After=cryptsetup-pre.target\n");
	/* nofail: the boot does not wait while the open retries. */
	if (!e->nofail)
		fprintf(f, "Before=%s%s\n", target,
			e->netdev ? " remote-fs.target" : "");
	if (e->header)
		fprintf(f, "RequiresMountsFor=%s\n", e->header);
	/* A little over cmekctl's own deadline, so that it says why. */
	if (e->timeout_s)
		snprintf(tmo, sizeof(tmo), "%us", e->timeout_s + 10);
	/*
	 * nofail: a oneshot's start job lasts as long as the open retries,
	 * and while any job is queued the boot has not finished (systemctl
	 * is-system-running says "starting" until the KMS is back). As a
	 * simple service the job is done when cmekctl starts; the unit stays
	 * active once it has opened the volume and fails if it gives up.
	 * Nothing waits for it: its mounts follow the mapping's device.
	 */
	fprintf(f,
		"\n"
		"[Service]\n"
		"Type=%s\n"
		"RemainAfterExit=yes\n"
		/* cmekctl retries an unreachable KMS, backing off; with
		 * timeout= it gives up then, else systemd never stops it. */
		"TimeoutStartSec=%s\n"
		"ExecStart=%s open-listed --name %s --retry",
		e->nofail ? "simple" : "oneshot", tmo, cmekctl, e->name);
	if (e->timeout_s)
		fprintf(f, " --timeout %u", e->timeout_s);
	fprintf(f, "\nExecStop=%s close %s\n", cmekctl, e->name);
	if (fclose(f))
		return -ENOMEM;
	ret = write_file(unit, text);
	free(text);
	if (ret)
		return ret;

	ret = add_link(dm_unit, "requires", unit);
	if (!ret && !e->noauto) {
		ret = add_link(target, kind, unit);
		if (!ret && e->netdev)
			/* Pulls it in where remote-cryptsetup.target is
			 * not enabled. */
			ret = add_link("remote-fs.target", kind, unit);
		if (!ret)
			ret = add_link(dev_unit, "wants", unit);
	}
	if (!ret && !e->noauto && !e->nofail) {
		snprintf(dropin, sizeof(dropin), "%s.d", dm_unit);
		ret = mkdir_in(dropin);
		if (!ret) {
			char body[256];

			snprintf(body, sizeof(body),
				 "# Automatically generated by cmek-generator\n"
				 "# Mounts wait as long as the open retries.\n"
				 "[Unit]\nJobTimeoutSec=%s\n"
				 "JobRunningTimeoutSec=%s\n", tmo, tmo);
			strcat(dropin, "/40-cmek.conf");
			ret = write_file(dropin, body);
		}
	}
	return ret;
}

int main(int argc, char **argv)
{
	const char *src = cmek_voltab_path();
	const char *ctl = getenv("CMEK_GENERATOR_CMEKCTL");
	struct cmek_voltab vl;
	size_t i;
	int ret = 0, r;

	if (argc != 2 && argc != 4) {
		gen_err("usage: cmek-generator NORMAL_DIR [EARLY_DIR LATE_DIR]");
		return 2;
	}
	dest = argv[1];
	/* Tests point the units at the built cmekctl. */
	if (ctl && *ctl == '/')
		cmekctl = ctl;
	/*
	 * Root's file, as for cmekctl; geteuid() so that a test run as a
	 * user reads its own file (systemd runs generators as root).
	 */
	r = cmek_voltab_load(&vl, src, false, geteuid(), report, NULL);
	if (r < 0)
		return 0;	/* reported; no volumes is a valid boot */
	for (i = 0; i < vl.n; i++) {
		r = gen_volume(src, &vl.v[i]);
		if (r) {
			gen_err("%s: %s: cannot write its unit: %s", dest,
				vl.v[i].name, strerror(-r));
			ret = 1;
		}
	}
	cmek_voltab_free(&vl);
	return ret;
}
