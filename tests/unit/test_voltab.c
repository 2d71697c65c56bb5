// SPDX-License-Identifier: GPL-2.0
/*
 * Host unit tests of the /etc/cmek/volumes parser (userspace/lib/voltab.c):
 * good lines, each kind of bad line reported as FILE:LINE and skipped,
 * duplicates, comments, a missing file, $CMEK_VOLUMES; the boot options
 * cmek-generator reads (noauto, _netdev, read-only, timeout=); the
 * provisioning options (format=, mkfs=) and what they need of the line.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "header.h"
#include "voltab.h"
#include "../lib/tap.h"

static char msgs[16][1400];
static int nmsgs;

static void report(void *ctx, const char *msg)
{
	if (nmsgs < 16)
		snprintf(msgs[nmsgs], sizeof(msgs[0]), "%s", msg);
	nmsgs++;
}

static int parse(const char *text, struct cmek_voltab *vl)
{
	nmsgs = 0;
	memset(msgs, 0, sizeof(msgs));
	return cmek_voltab_parse(vl, "vols", text, report, NULL);
}

/* One bad line: exactly one error, at "vols:LINE:", containing @what. */
static void bad(const char *text, int line, const char *what)
{
	struct cmek_voltab vl;
	char pfx[32];
	int r = parse(text, &vl);

	snprintf(pfx, sizeof(pfx), "vols:%d: ", line);
	tap_ok(r == 1 && nmsgs == 1 && !strncmp(msgs[0], pfx, strlen(pfx)) &&
	       strstr(msgs[0], what) && vl.n == 0,
	       "bad line reported: %s", what);
	if (nmsgs)
		tap_diag("%s", msgs[0]);
	cmek_voltab_free(&vl);
}

/*
 * Whoever can write the list decides which device opens under which name
 * and with which detached header: it gets cmekd.conf's owner and mode rules.
 */
static void test_volumes_file_trusted_like_config(const char *path)
{
	struct cmek_voltab vl;
	int r;

	chmod(path, 0666);
	nmsgs = 0;
	r = cmek_voltab_load(&vl, path, true, geteuid(), report, NULL);
	tap_ok(r == -EPERM && vl.n == 0 && nmsgs == 1 &&
	       strstr(msgs[0], "refused: mode 0666 lets group or others") &&
	       strstr(msgs[0], "chmod 600"),
	       "a world-writable volumes file is refused: %s", msgs[0]);
	chmod(path, 0620);
	nmsgs = 0;
	r = cmek_voltab_load(&vl, path, false, geteuid(), report, NULL);
	tap_ok(r == -EPERM && vl.n == 0 && nmsgs == 1,
	       "a group-writable one too, even when it may be missing");
	chmod(path, 0644);
	nmsgs = 0;
	r = cmek_voltab_load(&vl, path, true, geteuid() + 1, report, NULL);
	tap_ok(r == -EPERM && vl.n == 0 && nmsgs == 1 &&
	       strstr(msgs[0], "refused: owned by uid"),
	       "a volumes file owned by another user is refused: %s", msgs[0]);
}

/*
 * One field of format= at its limit @max (which counts the NUL, as a
 * header slot does): @max - 1 characters are taken, @max refused.
 * @fmt places the field, "%s", in the line.
 */
static void format_limit(const char *fmt, size_t max, const char *what, bool key)
{
	char *field = malloc(max + 1), *line = malloc(max + 128);
	struct cmek_voltab vl;
	const char *got;

	memset(field, 'x', max);
	field[max - 1] = '\0';
	snprintf(line, max + 128, fmt, field);
	got = parse(line, &vl) == 0 && vl.n == 1 ?
	      (key ? vl.v[0].format_key : vl.v[0].format_provider) : NULL;
	tap_ok(got && strlen(got) == max - 1, "%s of %zu characters is taken",
	       what, max - 1);
	cmek_voltab_free(&vl);
	field[max - 1] = 'x';
	field[max] = '\0';
	snprintf(line, max + 128, fmt, field);
	bad(line, 1, "format: expected PROVIDER:KEYREF");
	free(field);
	free(line);
}

/* format=PROVIDER:KEYREF and mkfs=, and what they need of the line. */
static void test_provisioning_options(void)
{
	struct cmek_voltab vl;
	int r;

	r = parse("d /dev/vdb format=aws-kms:arn:aws:kms:eu-west-1:1111:key/ab,"
		  "mkfs=ext4,nofail,uuid=0F6C1E2A-1111-2222-3333-444455556666,"
		  "keys=aws-kms:arn:aws:kms:*:1111:key/*\n"
		  "x /dev/vdc mkfs=xfs,format=local:k1\n"
		  "n /dev/vdd format=local:k1\nplain /dev/vde\n", &vl);
	tap_ok(r == 0 && vl.n == 4 &&
	       !strcmp(vl.v[0].format_provider, "aws-kms") &&
	       !strcmp(vl.v[0].format_key, "arn:aws:kms:eu-west-1:1111:key/ab") &&
	       !strcmp(vl.v[0].mkfs, "ext4") && vl.v[0].nofail &&
	       !strcmp(vl.v[0].uuid, "0f6c1e2a-1111-2222-3333-444455556666"),
	       "format= splits at the first ':' (an ARN keeps its own), "
	       "mkfs=ext4, with uuid= and a keys= pin that allows it");
	tap_ok(vl.n == 4 && !strcmp(vl.v[1].mkfs, "xfs") &&
	       !strcmp(vl.v[1].format_provider, "local") &&
	       !strcmp(vl.v[1].format_key, "k1"),
	       "mkfs= before format= on the line, xfs");
	tap_ok(vl.n == 4 && vl.v[2].format_provider && !vl.v[2].mkfs[0] &&
	       !vl.v[3].format_provider && !vl.v[3].format_key &&
	       !vl.v[3].mkfs[0],
	       "format= without mkfs= (a raw volume); neither on a plain line");
	cmek_voltab_free(&vl);

	bad("a /dev/a format=local\n", 1, "format: expected PROVIDER:KEYREF");
	bad("a /dev/a format=:k\n", 1, "format: expected PROVIDER:KEYREF");
	bad("a /dev/a format=local:\n", 1, "format: expected PROVIDER:KEYREF");
	bad("a /dev/a format=\n", 1, "format: expected PROVIDER:KEYREF");
	bad("a /dev/a format\n", 1, "format: expected PROVIDER:KEYREF");
	bad("a /dev/a format=lo/cal:k\n", 1, "invalid provider name");
	format_limit("a /dev/a format=%s:k\n", CMEK_VOL_PROVIDER_MAX,
		     "a provider name", false);
	format_limit("a /dev/a format=local:%s\n", CMEK_VOL_KEYREF_MAX,
		     "a key reference", true);
	bad("a /dev/a format=local:k\033\n", 1, "not printable ASCII");
	bad("a /dev/a format=local:k,mkfs=btrfs\n", 1,
	    "mkfs: expected one of ext4|xfs");
	bad("a /dev/a format=local:k,mkfs=\n", 1, "mkfs: expected one of");
	bad("a /dev/a mkfs=ext4\n", 1, "mkfs: goes with format=");
	bad("a UUID=0f6c1e2a-1111-2222-3333-444455556666 format=local:k\n", 1,
	    "format: the device must be a path");
	bad("a /dev/a format=local:k,header=/etc/cmek/h\n", 1,
	    "format: not with header=");
	bad("a /dev/a format=local:k,read-only\n", 1,
	    "format: not with read-only");
	bad("a /dev/a keys=local:other,format=local:k\n", 1,
	    "format: key local:k is not allowed by this line's keys=");
	bad("a /dev/a format=local:k,keys=aws-kms:*\n", 1,
	    "is not allowed by this line's keys=");

	tap_ok(cmek_voltab_keys_allow(NULL, "local", "k") &&
	       cmek_voltab_keys_allow("", "local", "k") &&
	       cmek_voltab_keys_allow("aws-kms:* local:k?", "local", "k1") &&
	       !cmek_voltab_keys_allow("aws-kms:* local:k?", "local", "k10"),
	       "keys= pins: fnmatch on PROVIDER:KEYREF, none allows any");
	tap_ok(!cmek_voltab_keys_allow("local:k", "vault-transit", "k"),
	       "keys= pins: another provider with the same key name is refused");
}

int main(void)
{
	struct cmek_voltab vl;
	char path[64];
	FILE *f;
	int r;

	tap_plan(64);

	r = parse("# volumes\n\n"
		  "data  UUID=0F6C1E2A-1111-2222-3333-444455556666  nofail,hold=5000\n"
		  "  scratch\t/dev/disk/by-id/ata-X   discard,header=/etc/cmek/h.img # c\n"
		  "plain /dev/ram0\n"
		  "dash  /dev/ram1 -\n", &vl);
	tap_ok(r == 0 && nmsgs == 0 && vl.n == 4, "good file: 4 entries, no error");
	tap_ok(vl.n == 4 && !strcmp(vl.v[0].name, "data") && !vl.v[0].device &&
	       !strcmp(vl.v[0].uuid, "0f6c1e2a-1111-2222-3333-444455556666") &&
	       vl.v[0].nofail && vl.v[0].has_hold && vl.v[0].hold_ms == 5000 &&
	       !vl.v[0].discard && !vl.v[0].header && vl.v[0].line == 3,
	       "UUID= entry, lower-cased, nofail, hold, line number");
	tap_ok(vl.n == 4 && !strcmp(vl.v[1].device, "/dev/disk/by-id/ata-X") &&
	       !vl.v[1].uuid[0] && vl.v[1].discard && !vl.v[1].nofail &&
	       vl.v[1].header && !strcmp(vl.v[1].header, "/etc/cmek/h.img"),
	       "path entry with discard, header and a trailing comment");
	tap_ok(vl.n == 4 && !vl.v[2].nofail && !vl.v[2].has_hold &&
	       !vl.v[3].discard, "no options, and '-' for none");
	cmek_voltab_free(&vl);

	bad("a\n", 1, "missing device");
	bad("\nx /dev/a nofail extra\n", 2, "too many fields");
	bad("a/b /dev/a\n", 1, "invalid name");
	bad("control /dev/a\n", 1, "invalid name");
	bad("a dev/a\n", 1, "invalid device");
	bad("a UUID=1234\n", 1, "invalid uuid");
	bad("a /dev/a frobnicate\n", 1, "unknown option 'frobnicate'");
	bad("a /dev/a hold=abc\n", 1, "hold: expected milliseconds");
	bad("a /dev/a hold=999999999\n", 1, "hold: expected milliseconds");
	bad("a /dev/a hold=\n", 1, "hold: expected milliseconds");
	bad("a /dev/a header=rel.img\n", 1, "header: expected an absolute path");
	bad("a /dev/a nofail=1\n", 1, "takes no value");
	bad("a /dev/a keepfs=yes\n", 1, "takes no value");
	bad("a /dev/a uuid=1234\n", 1, "uuid: expected the volume's uuid");
	bad("a UUID=0f6c1e2a-1111-2222-3333-444455556666 "
	    "uuid=0f6c1e2a-1111-2222-3333-444455556667\n", 1, "(as in UUID=)");
	bad("a /dev/a keys=local\n", 1, "keys: expected PROVIDER:PATTERN");
	bad("a /dev/a keys=aws-kms:\n", 1, "keys: expected PROVIDER:PATTERN");
	bad("a /dev/a keys=local:k\033x\n", 1, "not printable ASCII");

	r = parse("a /dev/a uuid=0F6C1E2A-1111-2222-3333-444455556666,"
		  "keys=aws-kms:arn:aws:kms:*:111122223333:key/*,keys=local:k1\n",
		  &vl);
	tap_ok(r == 0 && vl.n == 1 &&
	       !strcmp(vl.v[0].uuid, "0f6c1e2a-1111-2222-3333-444455556666") &&
	       !strcmp(vl.v[0].device, "/dev/a") && vl.v[0].keys &&
	       !strcmp(vl.v[0].keys,
		       "aws-kms:arn:aws:kms:*:111122223333:key/* local:k1"),
	       "a path entry pins its volume's uuid and its KMS keys");
	cmek_voltab_free(&vl);

	bad("a /dev/a timeout=abc\n", 1, "timeout: expected seconds");
	bad("a /dev/a timeout=86401\n", 1, "timeout: expected seconds");
	bad("a /dev/a _netdev=1\n", 1, "takes no value");
	bad("a /dev/a read-only=yes\n", 1, "takes no value");
	r = parse("net /dev/a _netdev,nofail,read-only,timeout=600\n"
		  "lazy /dev/b noauto,readonly,timeout=0\nplain /dev/c\n", &vl);
	tap_ok(r == 0 && vl.n == 3 && vl.v[0].netdev && vl.v[0].nofail &&
	       vl.v[0].read_only && vl.v[0].timeout_s == 600 &&
	       !vl.v[0].noauto && vl.v[1].noauto && vl.v[1].read_only &&
	       !vl.v[1].netdev && vl.v[1].timeout_s == 0 && !vl.v[2].noauto &&
	       !vl.v[2].netdev && !vl.v[2].read_only && !vl.v[2].timeout_s,
	       "boot options: _netdev, noauto, read-only/readonly, timeout=");
	cmek_voltab_free(&vl);

	test_provisioning_options();

	r = parse("db /dev/a keepfs,nofail\nweb /dev/b\n", &vl);
	tap_ok(r == 0 && vl.n == 2 && vl.v[0].keepfs && vl.v[0].nofail &&
	       !vl.v[1].keepfs, "keepfs: set where given, not elsewhere");
	tap_ok(cmek_voltab_find(&vl, "web") == &vl.v[1] &&
	       cmek_voltab_find(&vl, "db") == &vl.v[0] &&
	       !cmek_voltab_find(&vl, "we") && !cmek_voltab_find(&vl, NULL),
	       "find an entry by mapping name");
	cmek_voltab_free(&vl);

	r = parse("a /dev/a\nb /dev/b bogus\na /dev/c\nc /dev/c\n", &vl);
	tap_ok(r == 2 && vl.n == 2 && !strcmp(vl.v[1].name, "c") &&
	       strstr(msgs[0], "vols:2: ") && strstr(msgs[1], "vols:3: ") &&
	       strstr(msgs[1], "already listed on line 1"),
	       "every bad line reported, good lines kept, duplicate name");
	cmek_voltab_free(&vl);

	r = parse("a /dev/a,", &vl);
	tap_ok(r == 0 && vl.n == 1 && !strcmp(vl.v[0].device, "/dev/a,"),
	       "no final newline");
	cmek_voltab_free(&vl);

	r = cmek_voltab_load(&vl, "/nonexistent/cmek/volumes", false, 0, report,
			      NULL);
	tap_ok(r == 0 && vl.n == 0, "missing file is an empty list");
	nmsgs = 0;
	r = cmek_voltab_load(&vl, "/nonexistent/cmek/volumes", true, 0, report,
			      NULL);
	tap_ok(r == -ENOENT && nmsgs == 1 &&
	       strstr(msgs[0], "/nonexistent/cmek/volumes: "),
	       "missing file is an error when it must exist");

	snprintf(path, sizeof(path), "/tmp/test_volumes.%d", (int)getpid());
	f = fopen(path, "w");
	if (!f)
		return 1;
	fputs("x /dev/x nofail\ny\n", f);
	fclose(f);
	chmod(path, 0644);
	nmsgs = 0;
	r = cmek_voltab_load(&vl, path, true, geteuid(), report, NULL);
	tap_ok(r == 1 && vl.n == 1 && vl.v[0].nofail && nmsgs == 1 &&
	       strstr(msgs[0], ":2: missing device"), "load from a file");
	cmek_voltab_free(&vl);
	test_volumes_file_trusted_like_config(path);
	unlink(path);

	setenv("CMEK_VOLUMES", "/tmp/v", 1);
	tap_ok(!strcmp(cmek_voltab_path(), "/tmp/v"), "$CMEK_VOLUMES overrides");
	unsetenv("CMEK_VOLUMES");
	tap_ok(!strcmp(cmek_voltab_path(), "/etc/cmek/volumes"), "default path");
	return tap_done();
}
