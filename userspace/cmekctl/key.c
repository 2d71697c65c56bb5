// SPDX-License-Identifier: GPL-2.0
/*
 * cmekctl key: the kernel key table, directly over netlink.
 *
 *   key set UUID [--key-file F] [--hex] [--generation N] [--replace]
 *   key revoke UUID|--all
 *   key list [--json]
 *   key get UUID [--json]
 *
 * The key comes from stdin or a file, never from argv (which every user
 * can read in /proc); it lives in locked memory and is wiped after use.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmekctl.h"

#define KEY_USAGE \
	"usage: cmekctl key set UUID [--key-file FILE] [--hex] " \
	"[--generation N] [--replace]\n" \
	"       cmekctl key revoke UUID|--all\n" \
	"       cmekctl key list [--json]\n" \
	"       cmekctl key get UUID [--json]\n" \
	"The key (32 or 64 raw bytes, or hex with --hex) is read from stdin " \
	"or FILE.\n"

static int key_usage(const char *fmt, const char *arg)
{
	fputs("cmekctl: key: ", stderr);
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	fputs(KEY_USAGE, stderr);
	return EXIT_USAGE;
}

static const char *const ARGV_KEY_REFUSED =
	"refusing a key on the command line (every user can read it in "
	"ps and /proc): pipe the key on stdin or pass --key-file FILE";

static int parse_uuid_arg(const char *s, uint8_t uuid[CMEK_UUID_LEN])
{
	if (cmek_uuid_parse(s, uuid) == 0)
		return 0;
	fprintf(stderr, "cmekctl: key: invalid volume uuid '%.64s': expected "
		"xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx (see 'cmekctl dump DEV' "
		"or 'cmekctl key list')\n", s);
	return -1;
}

static int key_set(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key-file", required_argument, NULL, 'f' },
		{ "hex", no_argument, NULL, 'x' },
		{ "generation", required_argument, NULL, 'g' },
		{ "replace", no_argument, NULL, 'r' },
		{ "key", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = NULL;
	bool hex = false, has_gen = false, argv_key = false;
	uint64_t gen = 0;
	uint32_t flags = 0;
	struct cmek_key_info ki;
	struct secbuf key = { 0 };
	struct cmek_nl *nl;
	uint8_t uuid[CMEK_UUID_LEN];
	char *end;
	int c, ret;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "f:xg:rh", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			file = optarg;
			break;
		case 'x':
			hex = true;
			break;
		case 'g':
			errno = 0;
			gen = strtoull(optarg, &end, 0);
			if (errno || !*optarg || *end || *optarg == '-')
				return key_usage("invalid --generation '%s': "
						 "expected a number", optarg);
			has_gen = true;
			break;
		case 'r':
			flags |= CMEK_SET_F_REPLACE;
			break;
		case 'k':
			argv_key = true;
			break;
		case 'h':
			fputs(KEY_USAGE, stdout);
			return EXIT_OK;
		default:
			/* Do not echo the option: it may hold key bytes. */
			return key_usage("%s", "unknown option or missing "
					 "option argument");
		}
	}
	if (argv_key || argc - optind > 1)
		return key_usage("%s", ARGV_KEY_REFUSED);
	if (argc - optind < 1)
		return key_usage("%s", "set: missing the volume UUID");
	if (parse_uuid_arg(argv[optind], uuid) < 0)
		return EXIT_USAGE;

	if (read_key(file, hex, &key) < 0)
		return EXIT_ERR;
	if (nl_open_or_explain(&nl)) {
		secbuf_free(&key);
		return EXIT_ERR;
	}
	ret = cmek_nl_set_key(nl, uuid, key.p, key.len, gen, has_gen, flags);
	secbuf_free(&key);
	if (ret) {
		nl_explain("key set", nl, ret, argv[optind]);
		cmek_nl_close(nl);
		return EXIT_ERR;
	}
	if (cmek_nl_get(nl, uuid, &ki) == 0)
		info_msg("volume %s: key set (%u bytes, generation %" PRIu64
			 ", %u mapping%s)", argv[optind], ki.key_size,
			 ki.generation, ki.users, ki.users == 1 ? "" : "s");
	else
		info_msg("volume %s: key set", argv[optind]);
	cmek_nl_close(nl);
	return EXIT_OK;
}

static int key_revoke(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool all = false;
	struct cmek_nl *nl;
	uint8_t uuid[CMEK_UUID_LEN];
	int c, ret;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "ah", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			all = true;
			break;
		case 'h':
			fputs(KEY_USAGE, stdout);
			return EXIT_OK;
		default:
			return key_usage("%s", "revoke: unknown option");
		}
	}
	if (all && argc - optind != 0)
		return key_usage("%s", "revoke: give a UUID or --all, not both");
	if (!all && argc - optind != 1)
		return key_usage("%s", "revoke: give one volume UUID or --all");
	if (!all && parse_uuid_arg(argv[optind], uuid) < 0)
		return EXIT_USAGE;
	if (nl_open_or_explain(&nl))
		return EXIT_ERR;
	ret = cmek_nl_revoke(nl, all ? NULL : uuid,
			     all ? CMEK_REVOKE_F_ALL : 0);
	if (ret) {
		nl_explain("key revoke", nl, ret, all ? "(all)" : argv[optind]);
		cmek_nl_close(nl);
		return EXIT_ERR;
	}
	if (all)
		info_msg("all keys revoked and wiped from the kernel");
	else
		info_msg("volume %s: key revoked and wiped from the kernel",
			 argv[optind]);
	cmek_nl_close(nl);
	return EXIT_OK;
}

static void print_info_human(const struct cmek_key_info *ki)
{
	char u[CMEK_UUID_STR_LEN];

	cmek_uuid_unparse(ki->uuid, u);
	printf("uuid:       %s\n", u);
	printf("state:      %s\n", cmek_key_state_name(ki->state));
	printf("generation: %" PRIu64 "\n", ki->generation);
	printf("key size:   %u bytes%s\n", ki->key_size,
	       ki->key_size == 64 ? " (AES-256-XTS)" :
	       ki->key_size == 32 ? " (AES-128-XTS)" : "");
	printf("mappings:   %u\n", ki->users);
	printf("reads:      %" PRIu64 "\n", ki->reads);
	printf("writes:     %" PRIu64 "\n", ki->writes);
	printf("errors:     %" PRIu64 "\n", ki->errors);
}

static int parse_json_only(int argc, char **argv, bool *json,
			   const char *what)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			*json = true;
			break;
		case 'h':
			fputs(KEY_USAGE, stdout);
			return 1;
		default:
			key_usage("%s: unknown option", what);
			return -1;
		}
	}
	return 0;
}

static int key_get(int argc, char **argv)
{
	struct cmek_key_info ki;
	struct cmek_nl *nl;
	uint8_t uuid[CMEK_UUID_LEN];
	bool json = false;
	int ret;

	ret = parse_json_only(argc, argv, &json, "get");
	if (ret)
		return ret > 0 ? EXIT_OK : EXIT_USAGE;
	if (argc - optind != 1)
		return key_usage("%s", "get: give one volume UUID");
	if (parse_uuid_arg(argv[optind], uuid) < 0)
		return EXIT_USAGE;
	if (nl_open_or_explain(&nl))
		return EXIT_ERR;
	ret = cmek_nl_get(nl, uuid, &ki);
	if (ret) {
		nl_explain("key get", nl, ret, argv[optind]);
		cmek_nl_close(nl);
		return EXIT_ERR;
	}
	cmek_nl_close(nl);
	if (json) {
		struct json_object *o = key_info_json(&ki);

		json_print(o);
		json_object_put(o);
	} else {
		print_info_human(&ki);
	}
	return EXIT_OK;
}

struct list_ctx {
	bool json;
	struct json_object *arr;
	int n;
};

static int list_cb(const struct cmek_key_info *ki, void *data)
{
	struct list_ctx *c = data;
	char u[CMEK_UUID_STR_LEN];

	c->n++;
	if (c->json) {
		json_object_array_add(c->arr, key_info_json(ki));
		return 0;
	}
	cmek_uuid_unparse(ki->uuid, u);
	printf("%-36s  %-7s  %10" PRIu64 "  %3u  %5u  %10" PRIu64 "  %10"
	       PRIu64 "  %8" PRIu64 "\n", u, cmek_key_state_name(ki->state),
	       ki->generation, ki->key_size, ki->users, ki->reads, ki->writes,
	       ki->errors);
	return 0;
}

static int key_list(int argc, char **argv)
{
	struct list_ctx c = { 0 };
	struct cmek_nl *nl;
	int ret;

	ret = parse_json_only(argc, argv, &c.json, "list");
	if (ret)
		return ret > 0 ? EXIT_OK : EXIT_USAGE;
	if (argc - optind != 0)
		return key_usage("%s", "list: takes no arguments");
	if (nl_open_or_explain(&nl))
		return EXIT_ERR;
	if (c.json)
		c.arr = json_object_new_array();
	else
		printf("%-36s  %-7s  %10s  %3s  %5s  %10s  %10s  %8s\n", "UUID",
		       "STATE", "GENERATION", "KEY", "USERS", "READS", "WRITES",
		       "ERRORS");
	ret = cmek_nl_dump(nl, list_cb, &c);
	if (ret) {
		nl_explain("key list", nl, ret, NULL);
		cmek_nl_close(nl);
		json_object_put(c.arr);
		return EXIT_ERR;
	}
	cmek_nl_close(nl);
	if (c.json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "keys", c.arr);
		json_print(o);
		json_object_put(o);
	}
	return EXIT_OK;
}

int cmd_key(int argc, char **argv)
{
	if (argc < 2)
		return key_usage("%s", "missing subcommand");
	if (!strcmp(argv[1], "set"))
		return key_set(argc - 1, argv + 1);
	if (!strcmp(argv[1], "revoke"))
		return key_revoke(argc - 1, argv + 1);
	if (!strcmp(argv[1], "list"))
		return key_list(argc - 1, argv + 1);
	if (!strcmp(argv[1], "get"))
		return key_get(argc - 1, argv + 1);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fputs(KEY_USAGE, stdout);
		return EXIT_OK;
	}
	return key_usage("unknown subcommand '%.32s'", argv[1]);
}
