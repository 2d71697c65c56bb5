// SPDX-License-Identifier: GPL-2.0
/*
 * cmekctl kek: the local provider's key-encryption keys
 * (userspace/providers/local/local.h).
 *
 *   kek create NAME [--key-dir DIR]
 *   kek list [--json] [--key-dir DIR]
 *   kek disable|enable NAME [--key-dir DIR]
 *   kek delete NAME [--yes] [--key-dir DIR]
 *
 * The key directory: --key-dir, else $CMEK_KEY_DIR, else cmekd.conf's
 * key_dir ($CMEK_CONFIG or /etc/cmek/cmekd.conf), else /etc/cmek/keys; the
 * same one cmekd uses with the same config.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmekctl.h"
#include "config.h"
#include "local/local.h"

#define KEK_USAGE \
	"usage: cmekctl kek create NAME [--key-dir DIR]\n" \
	"       cmekctl kek list [--json] [--key-dir DIR]\n" \
	"       cmekctl kek disable|enable NAME [--key-dir DIR]\n" \
	"       cmekctl kek delete NAME [--yes] [--key-dir DIR]\n"

static char dirbuf[4096];

static const char *key_dir(const char *opt)
{
	const char *env = getenv("CMEK_KEY_DIR");
	const char *conf = getenv("CMEK_CONFIG");
	struct cmek_config_opts copts = { .owner_uid = 0, .no_providers = true };
	struct cmek_config c;

	if (opt)
		return opt;
	if (env && *env)
		return env;
	cmek_config_init(&c);
	if (cmek_config_load(&c, conf && *conf ? conf : CMEK_CONFIG_DEFAULT_PATH,
			     false, &copts, NULL, NULL) == 0 && c.key_dir) {
		snprintf(dirbuf, sizeof(dirbuf), "%s", c.key_dir);
		cmek_config_free(&c);
		return dirbuf;
	}
	cmek_config_free(&c);
	return cmek_local_key_dir(NULL);
}

static int kek_usage(const char *msg)
{
	fprintf(stderr, "cmekctl: kek: %s\n%s", msg, KEK_USAGE);
	return EXIT_USAGE;
}

struct list_ctx {
	bool json;
	struct json_object *arr;
};

static void list_cb(const char *name, bool enabled, void *data)
{
	struct list_ctx *c = data;

	if (c->json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "name", json_object_new_string(name));
		json_object_object_add(o, "enabled",
				       json_object_new_boolean(enabled));
		json_object_array_add(c->arr, o);
	} else {
		printf("%-32s %s\n", name, enabled ? "enabled" : "disabled");
	}
}

int cmd_kek(int argc, char **argv)
{
	const char *sub, *name = NULL, *dir_opt = NULL, *dir;
	struct cmek_error err = { 0 };
	bool json = false, yes = false;
	int i, ret;

	if (argc < 2)
		return kek_usage("missing subcommand");
	sub = argv[1];
	if (!strcmp(sub, "-h") || !strcmp(sub, "--help")) {
		fputs(KEK_USAGE, stdout);
		return EXIT_OK;
	}
	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--yes")) {
			yes = true;
		} else if (!strcmp(argv[i], "--key-dir") && i + 1 < argc) {
			dir_opt = argv[++i];
		} else if (!strncmp(argv[i], "--key-dir=", 10)) {
			dir_opt = argv[i] + 10;
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "cmekctl: kek: unknown option '%s'\n",
				argv[i]);
			fputs(KEK_USAGE, stderr);
			return EXIT_USAGE;
		} else if (!name) {
			name = argv[i];
		} else {
			return kek_usage("too many arguments");
		}
	}
	dir = key_dir(dir_opt);

	if (!strcmp(sub, "list")) {
		struct list_ctx c = { .json = json };

		if (name)
			return kek_usage("list takes no NAME");
		if (json)
			c.arr = json_object_new_array();
		else
			printf("# %s\n", dir);
		ret = cmek_local_kek_list(dir, list_cb, &c, &err);
		if (ret < 0) {
			err_msg("kek list: %s", err.msg);
			json_object_put(c.arr);
			return EXIT_ERR;
		}
		if (json) {
			struct json_object *o = json_object_new_object();

			json_object_object_add(o, "key_dir",
					       json_object_new_string(dir));
			json_object_object_add(o, "keks", c.arr);
			json_print(o);
			json_object_put(o);
		}
		return EXIT_OK;
	}

	if (json)
		return kek_usage("--json is for 'kek list' only");
	if (!name)
		return kek_usage("missing the KEK NAME");
	if (!cmek_local_name_valid(name))
		return kek_usage("invalid KEK name: 1-64 of A-Z a-z 0-9 . _ -, "
				 "not starting with '.'");
	if (!strcmp(sub, "create")) {
		ret = cmek_local_kek_create(dir, name, &err);
		if (ret == 0)
			info_msg("created KEK %s in %s (format volumes with "
				 "--provider local --key %s)", name, dir, name);
	} else if (!strcmp(sub, "disable")) {
		ret = cmek_local_kek_set_enabled(dir, name, false, &err);
		if (ret == 0)
			info_msg("disabled KEK %s: its volumes lock at cmekd's "
				 "next check", name);
	} else if (!strcmp(sub, "enable")) {
		ret = cmek_local_kek_set_enabled(dir, name, true, &err);
		if (ret == 0)
			info_msg("enabled KEK %s", name);
	} else if (!strcmp(sub, "delete")) {
		char prompt[256];

		snprintf(prompt, sizeof(prompt), "Delete KEK %s? Volumes "
			 "wrapped only by it can never be opened again.", name);
		if (!yes && !confirm(prompt)) {
			err_msg("kek delete: not confirmed, nothing done (pass "
				"--yes to skip the question)");
			return EXIT_ERR;
		}
		ret = cmek_local_kek_delete(dir, name, &err);
		if (ret == 0)
			info_msg("deleted KEK %s: volumes wrapped only by it can "
				 "never be opened again", name);
	} else {
		return kek_usage("unknown subcommand");
	}
	if (ret) {
		err_msg("kek %s: %s", sub, err.msg[0] ? err.msg : strerror(errno));
		return EXIT_ERR;
	}
	return EXIT_OK;
}
