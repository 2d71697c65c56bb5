// SPDX-License-Identifier: GPL-2.0
/*
 * cmekctl output helpers: JSON (json-c) and human-readable values.
 */
#include <inttypes.h>
#include <stdio.h>

#include "cmekctl.h"

void json_print(struct json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
					       JSON_C_TO_STRING_SPACED |
					       JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(stdout);
}

struct json_object *key_info_json(const struct cmek_key_info *ki)
{
	struct json_object *o = json_object_new_object();
	char u[CMEK_UUID_STR_LEN];

	cmek_uuid_unparse(ki->uuid, u);
	json_object_object_add(o, "uuid", json_object_new_string(u));
	json_object_object_add(o, "state",
			       json_object_new_string(cmek_key_state_name(ki->state)));
	json_object_object_add(o, "generation",
			       json_object_new_uint64(ki->generation));
	json_object_object_add(o, "key_size", json_object_new_int(ki->key_size));
	json_object_object_add(o, "users", json_object_new_int(ki->users));
	json_object_object_add(o, "reads", json_object_new_uint64(ki->reads));
	json_object_object_add(o, "writes", json_object_new_uint64(ki->writes));
	json_object_object_add(o, "errors", json_object_new_uint64(ki->errors));
	return o;
}

const char *human_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned int i = 0;
	uint64_t v = bytes;

	while (v >= 1024 && v % 1024 == 0 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, "%" PRIu64 " %s", v, unit[i]);
	return buf;
}
