// SPDX-License-Identifier: GPL-2.0
/*
 * cmekctl status / list: one view of every cmek volume, merged from
 * cmekd's answer (if it runs), the kernel key table (netlink dump) and the
 * device-mapper tables and status (libdevmapper).
 *
 * JSON: {"daemon": "running"|"not running"|"error",
 *        "volumes": [{"name", "uuid", "device", "provider", "key", "state",
 *                     "generation", ..., "kernel": {key info} | null,
 *                     "mapping": {"dm_name", "dev", "backing", "table",
 *                                 "status", "suspended"} | null}]}
 * "state" is the kernel's key state ("present", "missing", "revoked"), or
 * "unknown" when the kernel has no entry for the uuid; cmekd reports it the
 * same way (userspace/lib/ipc.h VOL).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmekctl.h"
#include "daemon.h"
#include "escape.h"

struct view {
	struct json_object *vols;	/* array */
	const char *only;		/* status NAME */
};

static struct json_object *find_by(struct json_object *vols, const char *k,
				   const char *v)
{
	size_t i;

	if (!v)
		return NULL;
	for (i = 0; i < json_object_array_length(vols); i++) {
		struct json_object *o = json_object_array_get_idx(vols, i);
		const char *s = jget_str(o, k);

		if (s && !strcasecmp(s, v))
			return o;
	}
	return NULL;
}

static int kernel_cb(const struct cmek_key_info *ki, void *data)
{
	struct view *v = data;
	struct json_object *o, *k;
	char u[CMEK_UUID_STR_LEN];
	bool new_vol = false;

	cmek_uuid_unparse(ki->uuid, u);
	o = find_by(v->vols, "uuid", u);
	if (!o) {
		if (v->only)
			return 0;
		o = json_object_new_object();
		json_object_object_add(o, "name", NULL);
		jadd_str(o, "uuid", u);
		new_vol = true;
	}
	k = key_info_json(ki);
	json_object_object_del(k, "uuid");
	json_object_object_add(o, "kernel", k);
	if (new_vol)
		json_object_array_add(v->vols, o);
	return 0;
}

static struct json_object *mapping_json(const struct dm_cmek_dev *d)
{
	struct json_object *m = json_object_new_object();
	char dev[64];

	jadd_str(m, "dm_name", d->name);
	snprintf(dev, sizeof(dev), "%u:%u", d->major, d->minor);
	jadd_str(m, "dev", dev);
	jadd_str(m, "backing", d->device);
	jadd_str(m, "table", d->table);
	jadd_str(m, "status", d->status);
	json_object_object_add(m, "suspended",
			       json_object_new_boolean(d->suspended));
	return m;
}

static void add_mapping(struct view *v, const struct dm_cmek_dev *d)
{
	struct json_object *o = find_by(v->vols, "dm_name", d->name);
	bool new_vol = false;

	if (!o)
		o = find_by(v->vols, "name", d->name);

	if (!o) {
		o = json_object_new_object();
		jadd_str(o, "name", d->name);
		jadd_str(o, "uuid", d->uuid);
		jadd_str(o, "device", d->device);
		new_vol = true;
	}
	json_object_object_add(o, "mapping", mapping_json(d));
	if (new_vol)
		json_object_array_add(v->vols, o);
}

/* Fill in "state" (and "generation") from the kernel when cmekd gave none. */
static void derive_state(struct json_object *o)
{
	struct json_object *k, *g;

	if (jget_str(o, "state"))
		return;
	if (!json_object_object_get_ex(o, "kernel", &k) || !k) {
		jadd_str(o, "state", "unknown");
		return;
	}
	jadd_str(o, "state", jget_str(k, "state") ?: "unknown");
	if (!json_object_object_get_ex(o, "generation", &g) &&
	    json_object_object_get_ex(k, "generation", &g))
		json_object_object_add(o, "generation", json_object_get(g));
}

static const char *str_or(struct json_object *o, const char *k,
			  const char *def)
{
	const char *s = jget_str(o, k);

	return s && *s ? s : def;
}

static void print_table(struct json_object *vols)
{
	size_t i;

	printf("%-16s %-36s %-8s %-5s %-20s %s\n", "NAME", "UUID", "STATE",
	       "GEN", "DEVICE", "PROVIDER:KEY");
	for (i = 0; i < json_object_array_length(vols); i++) {
		struct json_object *o = json_object_array_get_idx(vols, i);
		struct json_object *m = NULL;
		char pk[2048], pk_e[CMEK_ESC_SIZE(sizeof(pk))], dev[1024];

		json_object_object_get_ex(o, "mapping", &m);
		if (jget_str(o, "provider"))
			snprintf(pk, sizeof(pk), "%s:%s",
				 jget_str(o, "provider"), str_or(o, "key", "?"));
		else
			snprintf(pk, sizeof(pk), "-");
		/* The provider and key come from the volume header. */
		cmek_printable(pk, pk_e, sizeof(pk_e));
		cmek_escape(str_or(o, "device",
				   m ? str_or(m, "backing", "-") : "-"),
			    dev, sizeof(dev), 0);
		printf("%-16s %-36s %-8s %-5s %-20s %s\n",
		       str_or(o, "name", "-"), str_or(o, "uuid", "-"),
		       str_or(o, "state", "-"), str_or(o, "generation", "-"),
		       dev, pk_e);
	}
}

static void print_detail(struct json_object *o)
{
	struct json_object *k = NULL, *m = NULL;
	char esc[CMEK_ESC_SIZE(2048)];

	/* Values quote the volume header (key reference) and KMS answers. */
	json_object_object_foreach(o, key, val) {
		if (!strcmp(key, "kernel") || !strcmp(key, "mapping") || !val)
			continue;
		if (json_object_is_type(val, json_type_object) ||
		    json_object_is_type(val, json_type_array))
			cmek_escape(json_object_to_json_string_ext(val,
					JSON_C_TO_STRING_PLAIN),
				    esc, sizeof(esc), 0);
		else if (!strcmp(key, "provider") || !strcmp(key, "key"))
			cmek_printable(json_object_get_string(val), esc,
				       sizeof(esc));
		else
			cmek_escape(json_object_get_string(val), esc,
				    sizeof(esc), 0);
		printf("%-14s %s\n", key, esc);
	}
	json_object_object_get_ex(o, "kernel", &k);
	json_object_object_get_ex(o, "mapping", &m);
	if (k) {
		printf("kernel key:    %s, generation %s, %s bytes, %s "
		       "mapping(s)\n", str_or(k, "state", "?"),
		       str_or(k, "generation", "?"), str_or(k, "key_size", "?"),
		       str_or(k, "users", "?"));
		printf("I/O:           %s reads, %s writes, %s errors\n",
		       str_or(k, "reads", "0"), str_or(k, "writes", "0"),
		       str_or(k, "errors", "0"));
	} else {
		printf("kernel key:    none (no entry in the kernel)\n");
	}
	if (m) {
		printf("mapping:       /dev/mapper/%s (%s)%s\n",
		       str_or(m, "dm_name", "?"), str_or(m, "dev", "?"),
		       json_object_get_boolean(json_object_object_get(m,
				"suspended")) ? " suspended" : "");
		printf("dm status:     %s\n", str_or(m, "status", ""));
	} else {
		printf("mapping:       none\n");
	}
}

static int run_view(const char *cmd, const char *only, bool json)
{
	struct json_object *req, *reply = NULL, *vols = NULL, *out;
	struct dm_cmek_dev *devs = NULL;
	struct view v = { .only = only };
	const char *daemon = "not running";
	struct cmek_nl *nl = NULL;
	size_t i, ndev = 0;
	int ret, failed = 0;

	/* 1. cmekd, if it runs */
	req = daemon_req(only ? "status" : "list");
	if (only)
		jadd_str(req, "name", only);
	ret = daemon_call(req, &reply, DC_QUIET_ALL);
	json_object_put(req);
	if (ret == 0) {
		daemon = "running";
		if (json_object_object_get_ex(reply, "volumes", &vols) &&
		    json_object_is_type(vols, json_type_array))
			v.vols = json_object_get(vols);
	} else if (ret != -ECONNREFUSED && ret != -ENOENT) {
		/* cmekd answered with an error (printed), e.g. unknown NAME */
		daemon = ret == -EACCES || ret == -EPERM ? "permission denied" :
			 "error";
	}
	json_object_put(reply);
	if (!v.vols)
		v.vols = json_object_new_array();

	/* 2. device-mapper */
	if (only) {
		struct dm_cmek_dev d;

		ret = dm_cmek_lookup(only, &d);
		if (ret == 0)
			add_mapping(&v, &d);
		else if (ret == -EPERM || ret == -EACCES)
			failed = ret;
	} else {
		ret = dm_cmek_list(&devs, &ndev);
		if (ret == -EPERM || ret == -EACCES)
			failed = ret;
		for (i = 0; i < ndev; i++)
			add_mapping(&v, &devs[i]);
		free(devs);
	}

	/* 3. the kernel's key table */
	ret = cmek_nl_open(&nl);
	if (ret) {
		if (!strcmp(daemon, "running") || json_object_array_length(v.vols))
			err_msg("%s: warning: %s", cmd,
				cmek_nl_open_strerror(ret));
		else
			failed = failed ? failed : ret;
	} else {
		ret = cmek_nl_dump(nl, kernel_cb, &v);
		if (ret) {
			nl_explain(cmd, nl, ret, NULL);
			failed = ret;
		}
		cmek_nl_close(nl);
	}

	if (only && !json_object_array_length(v.vols)) {
		err_msg("%s: no volume '%s' (not known to cmekd, no such cmek "
			"mapping)", cmd, only);
		json_object_put(v.vols);
		return EXIT_ERR;
	}
	if (failed == -ENOENT && !json_object_array_length(v.vols)) {
		err_msg("%s: %s", cmd, cmek_nl_open_strerror(failed));
		json_object_put(v.vols);
		return EXIT_ERR;
	}
	if (failed == -EPERM || failed == -EACCES) {
		err_msg("%s: permission denied: reading cmek state needs root",
			cmd);
		json_object_put(v.vols);
		return EXIT_ERR;
	}
	for (i = 0; i < json_object_array_length(v.vols); i++)
		derive_state(json_object_array_get_idx(v.vols, i));

	if (json) {
		out = json_object_new_object();
		jadd_str(out, "daemon", daemon);
		json_object_object_add(out, "volumes", v.vols);
		json_print(out);
		json_object_put(out);
		return failed ? EXIT_ERR : EXIT_OK;
	}
	if (strcmp(daemon, "running"))
		printf("# cmekd %s: showing the kernel's and device-mapper's "
		       "view only\n", daemon);
	if (only) {
		for (i = 0; i < json_object_array_length(v.vols); i++)
			print_detail(json_object_array_get_idx(v.vols, i));
	} else {
		print_table(v.vols);
	}
	json_object_put(v.vols);
	return failed ? EXIT_ERR : EXIT_OK;
}

static int view_cmd(const char *cmd, int argc, char **argv, int max_pos)
{
	const char *only = NULL;
	bool json = false;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "-j")) {
			json = true;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			print_cmd_usage(cmd, 1);
			return EXIT_OK;
		} else if (argv[i][0] == '-') {
			return usage_error(cmd, "unknown option '%s'", argv[i]);
		} else if (!only && max_pos > 0) {
			only = argv[i];
		} else {
			return usage_error(cmd, "unexpected argument '%s'",
					   argv[i]);
		}
	}
	return run_view(cmd, only, json);
}

int cmd_status(int argc, char **argv)
{
	return view_cmd("status", argc, argv, 1);
}

int cmd_list(int argc, char **argv)
{
	return view_cmd("list", argc, argv, 0);
}
