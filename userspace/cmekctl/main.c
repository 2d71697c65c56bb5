// SPDX-License-Identifier: GPL-2.0
/*
 * cmekctl: command-line tool for cmek volumes and keys. Dispatch and usage.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmekctl.h"

const struct cmd cmekctl_cmds[] = {
	{ "format", cmd_format,
	  "DEV --provider NAME --key KEYREF [--sector-size N] [--header FILE] "
	  "[--data-offset BYTES] [--force]",
	  "make DEV a cmek volume: new data key wrapped by the KMS key" },
	{ "open", cmd_open, "DEV NAME [--header FILE]",
	  "unwrap the volume key and create /dev/mapper/NAME" },
	{ "close", cmd_close, "NAME", "remove the mapping NAME" },
	{ "status", cmd_status, "[NAME] [--json]",
	  "volumes with their key state (daemon, kernel and device-mapper)" },
	{ "list", cmd_list, "[--json]", "all cmek volumes" },
	{ "revoke", cmd_revoke, "NAME|--all [--keep-fs]",
	  "wipe the volume key from the kernel now and shut down its mounted "
	  "file system (works without cmekd)" },
	{ "shred", cmd_shred, "NAME [--yes]",
	  "revoke and destroy every wrapped key: the data is gone for good" },
	{ "rewrap", cmd_rewrap, "NAME [--provider NAME --key KEYREF]",
	  "re-encrypt the wrapped keys under the KMS key's current version "
	  "(or another key)" },
	{ "rekey-kek", cmd_rekey_kek, "NAME --key KEYREF [--provider NAME]",
	  "move the volume to another KMS key or provider, online "
	  "(the data key stays, its wrapping changes)" },
	{ "check", cmd_check, "[NAME] [--json]",
	  "ask cmekd to check the KMS keys of the volumes now" },
	{ "dump", cmd_dump, "DEV [--header FILE] [--json]",
	  "print the volume header (never key bytes)" },
	{ "slot", cmd_slot,
	  "add DEV --provider NAME --key KEYREF [--header FILE] [--json] | "
	  "remove DEV SLOT [--header FILE] [--json] | "
	  "list DEV [--header FILE] [--json]",
	  "key slots: the data key wrapped under more KMS keys (redundancy)" },
	{ "upgrade", cmd_upgrade, "DEV [--header FILE] [--json]",
	  "rewrite a version 1 header as version 2, sealed with a MAC of the "
	  "data key (crash-safe)" },
	{ "probe", cmd_probe, "[--export] DEV",
	  "is DEV a cmek volume? udev properties with --export "
	  "(exit 0 yes, 3 no)" },
	{ "open-listed", cmd_open_listed, "[--quiet] --all | --name NAME "
	  "[--retry [--timeout SEC]] | DEV...",
	  "open the volumes of /etc/cmek/volumes ($CMEK_VOLUMES) whose "
	  "device is present" },
	{ "kek", cmd_kek, "create NAME | list [--json] | disable|enable NAME | "
	  "delete NAME [--yes]  (each with [--key-dir DIR])",
	  "local key-encryption keys in /etc/cmek/keys" },
	{ "key", cmd_key,
	  "set UUID [--key-file F] [--hex] [--generation N] [--replace] | "
	  "revoke UUID|--all | list [--json] | get UUID [--json]",
	  "low-level: kernel key table over netlink (key on stdin or file)" },
	{ "ping", cmd_ping, "", "check that cmekd answers" },
	{ NULL, NULL, NULL, NULL },
};

static const struct cmd *find_cmd(const char *name)
{
	const struct cmd *c;

	for (c = cmekctl_cmds; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

void print_cmd_usage(const char *cmd, int fd)
{
	const struct cmd *c = find_cmd(cmd);
	FILE *f = fd == 1 ? stdout : stderr;

	if (c)
		fprintf(f, "usage: cmekctl %s %s\n", c->name, c->usage);
}

int usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "cmekctl: %s%s", cmd ? cmd : "", cmd ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (cmd)
		print_cmd_usage(cmd, 2);
	return EXIT_USAGE;
}

static void usage(FILE *f)
{
	const struct cmd *c;

	fprintf(f, "usage: cmekctl COMMAND [ARGS...]\n\ncommands:\n");
	for (c = cmekctl_cmds; c->name; c++)
		fprintf(f, "  %-8s %s\n", c->name, c->help);
	fprintf(f, "\n'cmekctl help COMMAND' shows a command's arguments.\n"
		   "Key bytes are never taken on the command line.\n"
		   "Environment: CMEK_SOCKET (default " CMEK_DEFAULT_SOCKET
		   ").\nExit status: 0 success, 1 error, 2 usage.\n");
}

int main(int argc, char **argv)
{
	const struct cmd *c;

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		if (argc > 2) {
			if (!find_cmd(argv[2]))
				return usage_error(NULL, "unknown command '%s'",
						   argv[2]);
			print_cmd_usage(argv[2], 1);
			return EXIT_OK;
		}
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("cmekctl %d (netlink family %s v%d)\n", 1,
		       CMEK_GENL_NAME, CMEK_GENL_VERSION);
		return EXIT_OK;
	}
	c = find_cmd(argv[1]);
	if (!c) {
		fprintf(stderr, "cmekctl: unknown command '%s'\n", argv[1]);
		usage(stderr);
		return EXIT_USAGE;
	}
	return c->fn(argc - 1, argv + 1);
}
