// SPDX-License-Identifier: GPL-2.0
/*
 * cmekctl dump DEV [--header FILE] [--json]: print a volume header, read
 * directly from the device or the detached header file
 * (userspace/lib/volume.h). Never prints key bytes: a wrapped key is shown
 * by its length only.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmekctl.h"
#include "volume.h"

static const char *fmt_time(uint64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!t || !gmtime_r(&tt, &tm))
		return "-";
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

static struct json_object *hdr_json(const char *dev, const char *hfile,
				    const struct cmek_vol_hdr *h,
				    const struct cmek_vol_read_info *ri)
{
	struct json_object *o = json_object_new_object(), *a;
	char u[37], tb[32];
	int i;

	cmek_vol_uuid_str(h->uuid, u);
	json_object_object_add(o, "device", json_object_new_string(dev));
	json_object_object_add(o, "header", hfile ?
			       json_object_new_string(hfile) : NULL);
	json_object_object_add(o, "uuid", json_object_new_string(u));
	json_object_object_add(o, "version", json_object_new_int(CMEK_VOL_VERSION));
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
	a = json_object_new_array();
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
	json_object_object_add(o, "slots", a);
	return o;
}

static void print_human(const struct cmek_vol_hdr *h,
			const struct cmek_vol_read_info *ri, const char *dev,
			const char *hfile)
{
	char u[37], tb[32], sz[32];
	int i, n = 0;

	cmek_vol_uuid_str(h->uuid, u);
	printf("cmek volume header (version %d)\n", CMEK_VOL_VERSION);
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
	for (i = 0; i < CMEK_VOL_SLOTS; i++) {
		const struct cmek_vol_slot *s = &h->slots[i];

		if (s->state == CMEK_SLOT_EMPTY)
			continue;
		n++;
		if (s->state == CMEK_SLOT_ACTIVE)
			printf("    slot %d: %s, %s:%s, wrapped key %u bytes, "
			       "created %s\n", i,
			       cmek_vol_slot_state_name(s->state), s->provider,
			       s->key_ref, s->wrapped_len,
			       fmt_time(s->created, tb, sizeof(tb)));
		else
			printf("    slot %d: %s\n", i,
			       cmek_vol_slot_state_name(s->state));
	}
	if (!n)
		printf("    (none)\n");
}

int cmd_dump(int argc, char **argv)
{
	const char *dev = NULL, *hfile = NULL;
	struct cmek_vol_read_info ri;
	struct cmek_vol_dev *vd;
	struct cmek_vol_hdr *h;
	char err[256] = "";
	bool json = false;
	int i, ret;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--header") && i + 1 < argc) {
			hfile = argv[++i];
		} else if (!strncmp(argv[i], "--header=", 9)) {
			hfile = argv[i] + 9;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			print_cmd_usage("dump", 1);
			return EXIT_OK;
		} else if (argv[i][0] == '-') {
			return usage_error("dump", "unknown option '%s'", argv[i]);
		} else if (!dev) {
			dev = argv[i];
		} else {
			return usage_error("dump", "unexpected argument '%s'",
					   argv[i]);
		}
	}
	if (!dev)
		return usage_error("dump", "give the device");

	ret = cmek_vol_dev_open(hfile ? hfile : dev, false, false, &vd, err,
				sizeof(err));
	if (ret) {
		err_msg("dump: %s", err[0] ? err : strerror(-ret));
		return EXIT_ERR;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		cmek_vol_dev_close(vd);
		err_msg("dump: out of memory");
		return EXIT_ERR;
	}
	memset(&ri, 0, sizeof(ri));
	ret = cmek_vol_read(vd, h, &ri, err, sizeof(err));
	cmek_vol_dev_close(vd);
	if (ret) {
		if (err[0])
			err_msg("dump: %s", err);
		else
			err_msg("dump: %s: %s", hfile ? hfile : dev,
				ret == -ENOENT ? "no cmek header" :
				strerror(-ret));
		free(h);
		return EXIT_ERR;
	}
	if (json) {
		struct json_object *o = hdr_json(dev, hfile, h, &ri);

		json_print(o);
		json_object_put(o);
	} else {
		print_human(h, &ri, dev, hfile);
	}
	explicit_bzero(h, sizeof(*h));
	free(h);
	return EXIT_OK;
}
