// SPDX-License-Identifier: GPL-2.0
/*
 * Host unit tests of the cmekd.conf parser (userspace/lib/config.c): a valid
 * file, each kind of bad line reported as FILE:LINE, unknown sections,
 * providers and keys, and the ownership/permission checks on the config and
 * on credentials files.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "../lib/tap.h"

static char dir[64];
static char msgs[16][1400];
static int nmsgs;

static void report(void *ctx, const char *msg)
{
	if (nmsgs < 16)
		snprintf(msgs[nmsgs], sizeof(msgs[0]), "%s", msg);
	nmsgs++;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f;

	unlink(path);
	f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

/* Load @text as a config; returns the error count, messages in msgs[]. */
static int load(const char *text, mode_t mode, bool providers,
		struct cmek_config *c)
{
	struct cmek_config_opts o = { .owner_uid = geteuid(),
				      .no_providers = !providers };
	char path[128];

	snprintf(path, sizeof(path), "%s/cmekd.conf", dir);
	write_file(path, text, mode);
	nmsgs = 0;
	memset(msgs, 0, sizeof(msgs));
	cmek_config_init(c);
	return cmek_config_load(c, path, true, &o, report, NULL);
}

/* One bad line: exactly one error, at @line, mentioning @what. */
static void bad(const char *text, int line, const char *what, const char *desc)
{
	struct cmek_config c;
	char want[160];
	int n = load(text, 0600, false, &c);

	snprintf(want, sizeof(want), "%s/cmekd.conf:%d: ", dir, line);
	tap_ok(n == 1 && nmsgs == 1 && !strncmp(msgs[0], want, strlen(want)) &&
	       strstr(msgs[0], what),
	       "%s -> %s", desc, nmsgs ? msgs[0] : "(no error)");
	cmek_config_free(&c);
}

int main(void)
{
	struct cmek_config c;
	char path[128], cred[160], text[1024];
	long secs;
	bool b;
	int n;

	tap_plan(58);
	snprintf(dir, sizeof(dir), "/tmp/cmek-test-config.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}

	/* Value parsers. */
	tap_ok(!cmek_parse_duration("30", false, &secs) && secs == 30, "duration 30");
	tap_ok(!cmek_parse_duration("30s", false, &secs) && secs == 30, "duration 30s");
	tap_ok(!cmek_parse_duration("5m", false, &secs) && secs == 300, "duration 5m");
	tap_ok(!cmek_parse_duration("2h", false, &secs) && secs == 7200, "duration 2h");
	tap_ok(!cmek_parse_duration("never", true, &secs) && secs == -1, "duration never");
	tap_ok(cmek_parse_duration("never", false, &secs) == -EINVAL, "never refused where not allowed");
	tap_ok(cmek_parse_duration("-5", false, &secs) == -EINVAL, "negative duration refused");
	tap_ok(cmek_parse_duration("5x", false, &secs) == -EINVAL, "bad unit refused");
	tap_ok(!cmek_parse_bool("yes", &b) && b && !cmek_parse_bool("off", &b) && !b &&
	       cmek_parse_bool("maybe", &b) == -EINVAL, "booleans");

	/* Defaults. */
	cmek_config_init(&c);
	tap_ok(c.check_interval == 30 && c.unreachable_grace == -1 &&
	       c.log_level == LOG_INFO && c.key_wait_ms == 0 &&
	       !strcmp(c.state_dir, "/run/cmek"), "defaults");
	cmek_config_free(&c);

	/* A valid file, with comments, blank lines, quotes and spaces. */
	n = load("# cmekd.conf\n"
		 "\n"
		 "[daemon]\n"
		 "  socket = /tmp/x/cmekd.sock\n"
		 "check_interval=45s\n"
		 "unreachable_grace = 10m\n"
		 "log_level = debug\n"
		 "; another comment\n"
		 "key_dir = \"/tmp/keys\"\n"
		 "state_dir = /tmp/state\n"
		 "key_wait_ms = 5000\n"
		 "allow_discards = yes\n"
		 "\n"
		 "[ provider local ]\n"
		 "key_dir = /tmp/other-keys\n", 0600, false, &c);
	tap_ok(n == 0, "valid config: no errors (%d: %s)", n, msgs[0]);
	tap_ok(!strcmp(c.socket, "/tmp/x/cmekd.sock") && c.check_interval == 45 &&
	       c.unreachable_grace == 600 && c.log_level == LOG_DEBUG &&
	       !strcmp(c.key_dir, "/tmp/keys") && !strcmp(c.state_dir, "/tmp/state") &&
	       c.key_wait_ms == 5000 && c.allow_discards,
	       "valid config: every daemon value parsed");
	tap_ok(c.nproviders == 1 && !strcmp(c.providers[0].name, "local") &&
	       c.providers[0].line == 14 && c.providers[0].has_key_dir,
	       "valid config: provider section recorded");
	cmek_config_free(&c);

	/* slot_policy: default any; any/all (any case) accepted. */
	cmek_config_init(&c);
	tap_ok(c.slot_policy == CMEK_SLOT_POLICY_ANY, "slot_policy defaults to any");
	cmek_config_free(&c);
	n = load("[daemon]\nslot_policy = all\n", 0600, false, &c);
	tap_ok(n == 0 && c.slot_policy == CMEK_SLOT_POLICY_ALL, "slot_policy = all");
	cmek_config_free(&c);
	n = load("[daemon]\nslot_policy = \"ANY\"\n", 0600, false, &c);
	tap_ok(n == 0 && c.slot_policy == CMEK_SLOT_POLICY_ANY, "slot_policy = \"ANY\"");
	cmek_config_free(&c);

	/* fs_on_revoke and mmap_holders: default shutdown and report. */
	cmek_config_init(&c);
	tap_ok(!c.fs_keep && !c.mmap_kill,
	       "fs_on_revoke defaults to shutdown, mmap_holders to report");
	cmek_config_free(&c);
	n = load("[daemon]\nfs_on_revoke = keep\nmmap_holders = KILL\n", 0600,
		 false, &c);
	tap_ok(n == 0 && c.fs_keep && c.mmap_kill,
	       "fs_on_revoke = keep, mmap_holders = KILL");
	cmek_config_free(&c);
	n = load("[daemon]\nfs_on_revoke = shutdown\nmmap_holders = report\n",
		 0600, false, &c);
	tap_ok(n == 0 && !c.fs_keep && !c.mmap_kill,
	       "fs_on_revoke = shutdown, mmap_holders = report");
	cmek_config_free(&c);

	n = load("[daemon]\ncheck_interval = off\n", 0644, false, &c);
	tap_ok(n == 0 && c.check_interval == 0, "check_interval off, config 0644 is fine");
	cmek_config_free(&c);

	/* Each kind of bad line, with its line number. */
	bad("[daemon]\nsocket\n", 2, "expected 'key = value'", "line without '='");
	bad("[daemon]\n\n[frobnicate]\n", 3, "unknown section [frobnicate]", "unknown section");
	bad("[provider no-such-kms]\n", 1, "unknown provider 'no-such-kms'", "unknown provider");
	bad("[daemon]\nsockett = /x\n", 2, "unknown key 'sockett'", "unknown daemon key");
	bad("socket = /x\n", 1, "outside any section", "key outside any section");
	bad("[daemon]\ncheck_interval = soon\n", 2, "not a duration", "bad duration");
	bad("[daemon]\nlog_level = chatty\n", 2, "log_level 'chatty'", "bad log level");
	bad("[daemon]\nsocket = /a\nsocket = /b\n", 3, "set twice", "duplicate key");
	bad("[daemon]\n[daemon]\n", 2, "appears twice (first at line 1)", "duplicate [daemon]");
	bad("[provider local]\n[provider local]\n", 2, "appears twice", "duplicate provider section");
	bad("[daemon]\nsocket = run/cmekd.sock\n", 2, "absolute path", "relative socket path");
	bad("[daemon\n", 1, "no closing ']'", "unterminated section header");
	bad("[daemon]\nstate_dir =\n", 2, "empty value", "empty value");
	bad("[daemon]\nkey_dir = \"/x\n", 2, "unterminated quoted", "unterminated quote");
	bad("[daemon]\nkey_wait_ms = 1000000\n", 2, "key_wait_ms", "key_wait_ms out of range");
	bad("[daemon]\nallow_discards = perhaps\n", 2, "not a boolean", "bad boolean");
	bad("[daemon]\nbad key = 1\n", 2, "bad key name", "bad key name");
	bad("[daemon]\nslot_policy = some\n", 2, "slot_policy 'some' is not 'any'",
	    "bad slot_policy");
	bad("[daemon]\nslot_policy = any\nslot_policy = all\n", 3, "set twice",
	    "slot_policy given twice");
	bad("[daemon]\nfs_on_revoke = freeze\n", 2,
	    "fs_on_revoke 'freeze' is not 'shutdown'", "bad fs_on_revoke");
	bad("[daemon]\nmmap_holders = ignore\n", 2,
	    "mmap_holders 'ignore' is not 'report'", "bad mmap_holders");
	bad("[provider]\n", 1, "bad provider section", "provider section without a name");

	/* Lines after a bad section header are not reported again. */
	n = load("[nope]\na = 1\nb = 2\n[daemon]\nlog_level = x\n", 0600, false, &c);
	tap_ok(n == 2 && strstr(msgs[0], ":1: ") && strstr(msgs[1], ":5: "),
	       "every bad line reported, once each (%d)", n);
	cmek_config_free(&c);

	/* A provider rejects a key it does not know (configure() is called). */
	n = load("[provider local]\nfrobnicate = 1\n", 0600, true, &c);
	tap_ok(n == 1 && strstr(msgs[0], "cmekd.conf:2: ") && strstr(msgs[0], "frobnicate"),
	       "provider's configure() error reported at its line: %s", msgs[0]);
	cmek_config_free(&c);

	/* Implicit provider with the [daemon] key_dir. */
	n = load("[daemon]\nkey_dir = /tmp\n", 0600, true, &c);
	{
		struct cmek_error err = { 0 };

		tap_ok(n == 0 && cmek_config_provider(&c, "local", &err) != NULL,
		       "local provider made on demand (%s)", err.msg);
		tap_ok(cmek_config_provider(&c, "no-such", &err) == NULL &&
		       strstr(err.msg, "unknown provider"),
		       "unknown provider on demand refused: %s", err.msg);
	}
	cmek_config_free(&c);

	/* Config file permissions. */
	n = load("[daemon]\n", 0666, false, &c);
	tap_ok(n == 1 && strstr(msgs[0], "chmod"), "world-writable config refused: %s", msgs[0]);
	cmek_config_free(&c);
	snprintf(path, sizeof(path), "%s/cmekd.conf", dir);
	{
		struct cmek_config_opts o = { .owner_uid = geteuid() + 1, .no_providers = true };

		write_file(path, "[daemon]\n", 0600);
		nmsgs = 0;
		cmek_config_init(&c);
		n = cmek_config_load(&c, path, true, &o, report, NULL);
		tap_ok(n == 1 && strstr(msgs[0], "owned by uid"),
		       "config owned by someone else refused: %s", msgs[0]);
		cmek_config_free(&c);
		snprintf(text, sizeof(text), "%s/missing.conf", dir);
		nmsgs = 0;
		cmek_config_init(&c);
		n = cmek_config_load(&c, text, true, &o, report, NULL);
		tap_ok(n == 1 && strstr(msgs[0], "missing.conf: cannot open"),
		       "missing config refused when required: %s", msgs[0]);
		cmek_config_free(&c);
		cmek_config_init(&c);
		n = cmek_config_load(&c, text, false, &o, report, NULL);
		tap_ok(n == 0, "missing default config is fine");
		cmek_config_free(&c);
	}

	/* Credentials files: 0600 and ours, relative to the config's dir. */
	snprintf(cred, sizeof(cred), "%s/aws.credentials", dir);
	write_file(cred, "secret\n", 0600);
	n = load("[provider aws-kms]\ncredentials_file = aws.credentials\n", 0600, false, &c);
	tap_ok(n == 0, "0600 credentials file beside the config accepted (%s)", msgs[0]);
	cmek_config_free(&c);
	chmod(cred, 0640);
	n = load("[provider aws-kms]\ncredentials_file = aws.credentials\n", 0600, false, &c);
	tap_ok(n == 1 && strstr(msgs[0], "cmekd.conf:2: ") && strstr(msgs[0], "0640") &&
	       strstr(msgs[0], "chmod 600"), "group-readable credentials file refused: %s", msgs[0]);
	cmek_config_free(&c);
	chmod(cred, 0604);
	n = load("[provider vault-transit]\ntoken_file = aws.credentials\n", 0600, false, &c);
	tap_ok(n == 1 && strstr(msgs[0], "0604"), "world-readable token file refused: %s", msgs[0]);
	cmek_config_free(&c);
	chmod(cred, 0600);
	if (geteuid() == 0) {
		if (chown(cred, 65534, 65534)) {
			perror("chown");
		}
		n = load("[provider aws-kms]\ncredentials_file = aws.credentials\n", 0600, false, &c);
		tap_ok(n == 1 && strstr(msgs[0], "owned by uid 65534"),
		       "credentials file not owned by root refused: %s", msgs[0]);
		cmek_config_free(&c);
		if (chown(cred, 0, 0))
			perror("chown");
	} else {
		tap_ok(0, "ownership test needs root");
	}
	snprintf(text, sizeof(text), "%s/link", dir);
	unlink(text);
	if (symlink(cred, text))
		perror("symlink");
	n = load("[provider gcp-kms]\ncredentials_file = link\n", 0600, false, &c);
	tap_ok(n == 1 && strstr(msgs[0], "symbolic"), "symlinked credentials file refused: %s", msgs[0]);
	cmek_config_free(&c);
	n = load("[provider kmip]\nkey_file = nonexistent\n", 0600, false, &c);
	tap_ok(n == 1 && strstr(msgs[0], "cannot open credentials file"),
	       "missing credentials file refused: %s", msgs[0]);
	cmek_config_free(&c);
	n = load("[provider kmip]\nca_file = nonexistent-but-not-secret\n", 0600, false, &c);
	tap_ok(n == 0, "ca_file is not treated as a secret");
	cmek_config_free(&c);

	/* Inline secret in a config others can read. */
	n = load("[provider azure-kv]\nclient_secret = abc\n", 0644, false, &c);
	tap_ok(n == 1 && strstr(msgs[0], "holds a secret") && !strstr(msgs[0], "abc"),
	       "inline secret in a 0644 config refused (value not echoed): %s", msgs[0]);
	cmek_config_free(&c);

	unlink(text);
	unlink(cred);
	snprintf(path, sizeof(path), "%s/cmekd.conf", dir);
	unlink(path);
	rmdir(dir);
	return tap_done();
}
