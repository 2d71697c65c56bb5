// SPDX-License-Identifier: GPL-2.0
/*
 * cmekctl dump DEV [--header FILE] [--json]: print a volume header, read
 * directly from the device or the detached header file
 * (userspace/lib/header.h). Never prints key bytes: a wrapped key is shown
 * by its length only. "cmekctl slot list" prints the same slots, with what
 * cmekd's watch last saw of each slot's key when cmekd runs.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmekctl.h"
#include "daemon.h"
#include "escape.h"
#include "header.h"

static const char *fmt_time(uint64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!t || !gmtime_r(&tt, &tm))
		return "-";
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

/* Every slot that is not empty; shared by dump and "slot list". */
static struct json_object *slots_json(const struct cmek_vol_hdr *h)
{
	struct json_object *a = json_object_new_array();
	char tb[32];
	int i;

	for (i = 0; i < CMEK_VOL_SLOTS; i++) {
		const struct cmek_vol_slot *s = &h->slots[i];
		struct json_object *so;

		if (s->state == CMEK_SLOT_EMPTY)
			continue;
		so = json_object_new_object();
		json_object_object_add(so, "slot", json_object_new_int(i));
		json_object_object_add(so, "state", json_object_new_string(
					       cmek_vol_slot_state_name(s->state)));
		if (s->state == CMEK_SLOT_ACTIVE) {
			json_object_object_add(so, "provider",
					       json_object_new_string(s->provider));
			json_object_object_add(so, "key",
					       json_object_new_string(s->key_ref));
			json_object_object_add(so, "wrapped_len",
					       json_object_new_int(s->wrapped_len));
		}
		json_object_object_add(so, "created", json_object_new_string(
					       fmt_time(s->created, tb, sizeof(tb))));
		json_object_array_add(a, so);
	}
	return a;
}

/* One line per non-empty slot; @kms: kms_state per slot index, or NULL. */
static void print_slots(const struct cmek_vol_hdr *h,
			const char *const kms[CMEK_VOL_SLOTS])
{
	char tb[32], prov[CMEK_ESC_SIZE(CMEK_VOL_PROVIDER_MAX)];
	char key[CMEK_ESC_SIZE(CMEK_VOL_KEYREF_MAX)];
	int i, n = 0;

	for (i = 0; i < CMEK_VOL_SLOTS; i++) {
		const struct cmek_vol_slot *s = &h->slots[i];

		if (s->state == CMEK_SLOT_EMPTY)
			continue;
		n++;
		/* Whoever can write the disk chose these. */
		if (s->state == CMEK_SLOT_ACTIVE)
			printf("    slot %d: %s, %s:%s, wrapped key %u bytes, "
			       "created %s%s%s\n", i,
			       cmek_vol_slot_state_name(s->state),
			       cmek_printable(s->provider, prov, sizeof(prov)),
			       cmek_printable(s->key_ref, key, sizeof(key)),
			       s->wrapped_len,
			       fmt_time(s->created, tb, sizeof(tb)),
			       kms && kms[i] ? ", KMS key " : "",
			       kms && kms[i] ? kms[i] : "");
		else
			printf("    slot %d: %s\n", i,
			       cmek_vol_slot_state_name(s->state));
	}
	if (!n)
		printf("    (none)\n");
}

static struct json_object *hdr_json(const char *dev, const char *hfile,
				    const struct cmek_vol_hdr *h,
				    const struct cmek_vol_read_info *ri)
{
	struct json_object *o = json_object_new_object(), *a;
	char u[CMEK_UUID_STR_LEN], tb[32];
	int i;

	cmek_uuid_unparse(h->uuid, u);
	json_object_object_add(o, "device", json_object_new_string(dev));
	json_object_object_add(o, "header", hfile ?
			       json_object_new_string(hfile) : NULL);
	json_object_object_add(o, "uuid", json_object_new_string(u));
	json_object_object_add(o, "version", json_object_new_int(h->version));
	json_object_object_add(o, "cipher", json_object_new_string(h->cipher));
	json_object_object_add(o, "key_size", json_object_new_int(h->key_size));
	json_object_object_add(o, "sector_size",
			       json_object_new_int(h->sector_size));
	json_object_object_add(o, "iv_large_sectors",
			       json_object_new_boolean(h->flags &
						CMEK_VOL_F_IV_LARGE_SECTORS));
	json_object_object_add(o, "flags", json_object_new_int64(h->flags));
	json_object_object_add(o, "data_offset",
			       json_object_new_uint64(h->data_offset));
	json_object_object_add(o, "data_size",
			       json_object_new_uint64(h->data_size));
	json_object_object_add(o, "iv_offset",
			       json_object_new_uint64(h->iv_offset));
	json_object_object_add(o, "created", json_object_new_string(
				       fmt_time(h->created, tb, sizeof(tb))));
	json_object_object_add(o, "seq", json_object_new_uint64(h->seq));

	a = json_object_new_array();
	for (i = 0; i < 2; i++) {
		struct json_object *c = json_object_new_object();

		json_object_object_add(c, "copy", json_object_new_int(i));
		json_object_object_add(c, "valid",
				       json_object_new_boolean(ri->copy_valid[i]));
		json_object_object_add(c, "seq",
				       json_object_new_uint64(ri->copy_seq[i]));
		json_object_object_add(c, "in_use",
				       json_object_new_boolean(ri->used_copy == i));
		if (ri->copy_problem[i][0])
			json_object_object_add(c, "problem",
				json_object_new_string(ri->copy_problem[i]));
		json_object_array_add(a, c);
	}
	json_object_object_add(o, "copies", a);

	json_object_object_add(o, "active_slots",
			       json_object_new_int(cmek_vol_active_slots(h)));
	json_object_object_add(o, "slots", slots_json(h));
	return o;
}

static void print_human(const struct cmek_vol_hdr *h,
			const struct cmek_vol_read_info *ri, const char *dev,
			const char *hfile)
{
	char u[CMEK_UUID_STR_LEN], tb[32], sz[32];
	int i;

	cmek_uuid_unparse(h->uuid, u);
	printf("cmek volume header (version %u%s)\n", h->version,
	       h->version == CMEK_VOL_VERSION_LEGACY ?
	       ", no MAC: cmekctl upgrade" : "");
	printf("  device:       %s\n", dev);
	if (hfile)
		printf("  header file:  %s\n", hfile);
	printf("  uuid:         %s\n", u);
	printf("  cipher:       %s, %u-byte key (AES-%u-XTS)\n", h->cipher,
	       h->key_size, h->key_size * 4);
	printf("  sector size:  %u%s\n", h->sector_size,
	       h->flags & CMEK_VOL_F_IV_LARGE_SECTORS ? ", iv_large_sectors" :
						       "");
	printf("  data offset:  %" PRIu64 " bytes (%s)\n", h->data_offset,
	       human_size(h->data_offset, sz, sizeof(sz)));
	if (h->data_size)
		printf("  data size:    %" PRIu64 " bytes\n", h->data_size);
	else
		printf("  data size:    to the end of the device\n");
	if (h->iv_offset)
		printf("  iv offset:    %" PRIu64 " sectors\n", h->iv_offset);
	printf("  created:      %s\n", fmt_time(h->created, tb, sizeof(tb)));
	printf("  sequence:     %" PRIu64 "\n", h->seq);
	for (i = 0; i < 2; i++)
		printf("  copy %d:       %s, seq %" PRIu64 "%s%s%s\n", i,
		       ri->copy_valid[i] ? "valid" : "INVALID", ri->copy_seq[i],
		       ri->used_copy == i ? " (in use)" : "",
		       ri->copy_problem[i][0] ? ": " : "", ri->copy_problem[i]);
	printf("  key slots:    %d active\n", cmek_vol_active_slots(h));
	print_slots(h, NULL);
}

/* Parse "DEV [--header FILE] [--json]" for dump and "slot list". */
static int parse_dev_args(const char *cmd, int argc, char **argv,
			  const char **dev, const char **hfile, bool *json)
{
	int i;

	*dev = *hfile = NULL;
	*json = false;
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			*json = true;
		} else if (!strcmp(argv[i], "--header") && i + 1 < argc) {
			*hfile = argv[++i];
		} else if (!strncmp(argv[i], "--header=", 9)) {
			*hfile = argv[i] + 9;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			print_cmd_usage(cmd, 1);
			return -2;
		} else if (argv[i][0] == '-') {
			return usage_error(cmd, "unknown option '%s'", argv[i]),
			       -1;
		} else if (!*dev) {
			*dev = argv[i];
		} else {
			return usage_error(cmd, "unexpected argument '%s'",
					   argv[i]), -1;
		}
	}
	if (!*dev)
		return usage_error(cmd, "give the device"), -1;
	return 0;
}

/* Read the header of @dev (or @hfile) into a malloc()ed *@h. */
static int read_hdr(const char *cmd, const char *dev, const char *hfile,
		    struct cmek_vol_hdr **h, struct cmek_vol_read_info *ri)
{
	struct cmek_vol_dev *vd;
	char err[256] = "";
	int ret;

	ret = cmek_vol_dev_open(hfile ? hfile : dev, false,
				hfile ? CMEK_VOL_HEADER_FILE : 0, &vd, err,
				sizeof(err));
	if (ret) {
		err_msg("%s: %s", cmd, err[0] ? err : strerror(-ret));
		return -1;
	}
	*h = calloc(1, sizeof(**h));
	if (!*h) {
		cmek_vol_dev_close(vd);
		err_msg("%s: out of memory", cmd);
		return -1;
	}
	memset(ri, 0, sizeof(*ri));
	ret = cmek_vol_read(vd, *h, ri, err, sizeof(err));
	cmek_vol_dev_close(vd);
	if (!ret)
		return 0;
	if (err[0])
		err_msg("%s: %s", cmd, err);
	else
		err_msg("%s: %s: %s", cmd, hfile ? hfile : dev,
			ret == -ENOENT ? "no cmek header" : strerror(-ret));
	free(*h);
	*h = NULL;
	return -1;
}

static void put_hdr(struct cmek_vol_hdr *h)
{
	explicit_bzero(h, sizeof(*h));
	free(h);
}

int cmd_dump(int argc, char **argv)
{
	const char *dev, *hfile;
	struct cmek_vol_read_info ri;
	struct cmek_vol_hdr *h;
	bool json;
	int ret;

	ret = parse_dev_args("dump", argc, argv, &dev, &hfile, &json);
	if (ret)
		return ret == -2 ? EXIT_OK : EXIT_USAGE;
	if (read_hdr("dump", dev, hfile, &h, &ri))
		return EXIT_ERR;
	if (json) {
		struct json_object *o = hdr_json(dev, hfile, h, &ri);

		json_print(o);
		json_object_put(o);
	} else {
		print_human(h, &ri, dev, hfile);
	}
	put_hdr(h);
	return EXIT_OK;
}

/*
 * What cmekd's watch last saw of each slot's key, if cmekd runs and knows
 * the volume: {slot index -> {kms_state, verdict, kms_error?}} from the
 * "status" reply. NULL otherwise; never an error.
 */
static struct json_object *daemon_slot_states(const char *uuid,
					      const char **policy)
{
	struct json_object *req, *reply = NULL, *vols, *v, *sl, *e, *out;
	struct json_object *ping = NULL;
	size_t i, j;

	*policy = NULL;
	req = daemon_req("status");
	if (daemon_call(req, &reply, DC_QUIET_ALL)) {
		json_object_put(req);
		json_object_put(reply);
		return NULL;
	}
	json_object_put(req);
	out = json_object_new_object();
	if (json_object_object_get_ex(reply, "volumes", &vols) &&
	    json_object_is_type(vols, json_type_array)) {
		for (i = 0; i < json_object_array_length(vols); i++) {
			v = json_object_array_get_idx(vols, i);
			if (strcmp(jget_str(v, "uuid") ?: "", uuid) ||
			    !json_object_object_get_ex(v, "slots", &sl))
				continue;
			for (j = 0; j < json_object_array_length(sl); j++) {
				e = json_object_array_get_idx(sl, j);
				json_object_object_add(out,
					jget_str(e, "slot") ?: "-",
					json_object_get(e));
			}
			break;
		}
	}
	json_object_put(reply);
	req = daemon_req("ping");
	if (!daemon_call(req, &ping, DC_QUIET_ALL)) {
		static char pol[16];

		snprintf(pol, sizeof(pol), "%s",
			 jget_str(ping, "slot_policy") ?: "");
		*policy = pol[0] ? pol : NULL;
	}
	json_object_put(req);
	json_object_put(ping);
	return out;
}

int cmd_slot_list(int argc, char **argv)
{
	const char *dev, *hfile, *policy = NULL, *kms[CMEK_VOL_SLOTS] = { 0 };
	struct json_object *states, *a, *e, *st;
	struct cmek_vol_read_info ri;
	struct cmek_vol_hdr *h;
	char u[CMEK_UUID_STR_LEN], idx[16];
	bool json;
	size_t i;
	int ret;

	ret = parse_dev_args("slot", argc, argv, &dev, &hfile, &json);
	if (ret)
		return ret == -2 ? EXIT_OK : EXIT_USAGE;
	if (read_hdr("slot list", dev, hfile, &h, &ri))
		return EXIT_ERR;
	cmek_uuid_unparse(h->uuid, u);
	states = daemon_slot_states(u, &policy);
	a = slots_json(h);
	for (i = 0; i < json_object_array_length(a); i++) {
		e = json_object_array_get_idx(a, i);
		snprintf(idx, sizeof(idx), "%s", jget_str(e, "slot") ?: "");
		if (!states || !json_object_object_get_ex(states, idx, &st))
			continue;
		json_object_object_add(e, "kms_state", json_object_get(
			json_object_object_get(st, "kms_state")));
		json_object_object_add(e, "verdict", json_object_get(
			json_object_object_get(st, "verdict")));
		if (json_object_object_get(st, "kms_error"))
			json_object_object_add(e, "kms_error", json_object_get(
				json_object_object_get(st, "kms_error")));
		ret = atoi(idx);
		if (ret >= 0 && ret < CMEK_VOL_SLOTS)
			kms[ret] = jget_str(e, "kms_state");
	}
	if (json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "device", json_object_new_string(dev));
		json_object_object_add(o, "header", hfile ?
				       json_object_new_string(hfile) : NULL);
		json_object_object_add(o, "uuid", json_object_new_string(u));
		json_object_object_add(o, "slot_policy", policy ?
				       json_object_new_string(policy) : NULL);
		json_object_object_add(o, "active_slots", json_object_new_int(
					       cmek_vol_active_slots(h)));
		json_object_object_add(o, "slots", json_object_get(a));
		json_print(o);
		json_object_put(o);
	} else {
		printf("volume %s: %d active key slot%s%s%s\n", u,
		       cmek_vol_active_slots(h),
		       cmek_vol_active_slots(h) == 1 ? "" : "s",
		       policy ? ", cmekd slot_policy " : "", policy ?: "");
		print_slots(h, kms);
	}
	json_object_put(a);
	json_object_put(states);
	put_hdr(h);
	return EXIT_OK;
}
