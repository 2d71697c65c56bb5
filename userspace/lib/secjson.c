// SPDX-License-Identifier: GPL-2.0
/*
 * json-c without leftovers: parsing and freeing JSON that may hold a key
 * or a token, for the KMS providers; and the member getters that the
 * providers and the daemon's socket protocol share. See secjson.h.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "secjson.h"

void cmek_json_wipe(struct json_object *o)
{
	size_t i, n;

	/* Recursion is bounded by the depth the tokener allowed. */
	switch (json_object_get_type(o)) {
	case json_type_string:
		explicit_bzero((char *)json_object_get_string(o),
			       (size_t)json_object_get_string_len(o));
		break;
	case json_type_object: {
		json_object_object_foreach(o, k, v) {
			(void)k;
			cmek_json_wipe(v);
		}
		break;
	}
	case json_type_array:
		n = json_object_array_length(o);
		for (i = 0; i < n; i++)
			cmek_json_wipe(json_object_array_get_idx(o, i));
		break;
	default:
		break;
	}
}

void cmek_json_put_wiped(struct json_object *o)
{
	if (!o)
		return;
	cmek_json_wipe(o);
	json_object_put(o);
}

void cmek_json_wipe_member(struct json_object *o, const char *key)
{
	struct json_object *v = cmek_json_get(o, key, json_type_string);

	if (v)
		explicit_bzero((char *)json_object_get_string(v),
			       (size_t)json_object_get_string_len(v));
}

struct json_object *cmek_json_parse_secret(const char *s, size_t len,
					   int depth,
					   enum json_tokener_error *jerr)
{
	enum json_tokener_error e = json_tokener_success;	/* no memory */
	struct json_tokener *tok;
	struct json_object *o = NULL;
	size_t end;
	int i;

	/* json-c counts in int; +16 for the presized buffer below. */
	if (len > INT_MAX - 16) {
		e = json_tokener_error_size;
		goto out;
	}
	tok = json_tokener_new_ex(depth);
	if (!tok)
		goto out;
	/*
	 * No string is longer than the input: a buffer that size never
	 * goes through realloc(), which would leave pieces of it in freed
	 * heap where nothing could wipe them.
	 */
	if (printbuf_memset(tok->pb, 0, 0, (int)len + 16) < 0)
		goto wipe;
	printbuf_reset(tok->pb);
	o = json_tokener_parse_ex(tok, s, (int)len);
	e = json_tokener_get_error(tok);
	if (e != json_tokener_success) {
		/* Half-built objects wait on the tokener's stack. */
		for (i = 0; i <= tok->depth && i < tok->max_depth; i++)
			cmek_json_wipe(tok->stack[i].current);
		cmek_json_put_wiped(o);
		o = NULL;
		if (e == json_tokener_continue)
			e = json_tokener_error_parse_eof;
	}
	end = o ? json_tokener_get_parse_end(tok) : len;
	while (end < len && isspace((unsigned char)s[end]))
		end++;
	if (o && end != len) {
		cmek_json_put_wiped(o);
		o = NULL;
		e = json_tokener_error_parse_unexpected;
	}
wipe:
	if (tok->pb && tok->pb->buf)
		explicit_bzero(tok->pb->buf, (size_t)tok->pb->size);
	json_tokener_free(tok);
out:
	if (jerr && !o)
		*jerr = e;
	return o;
}

struct json_object *cmek_json_get(struct json_object *o, const char *key,
				  enum json_type type)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, type))
		return NULL;
	return v;
}

const char *cmek_json_str(struct json_object *o, const char *key)
{
	struct json_object *v = cmek_json_get(o, key, json_type_string);

	return v ? json_object_get_string(v) : NULL;
}

int cmek_json_bool(struct json_object *o, const char *key, int def)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !v)
		return def;
	if (json_object_is_type(v, json_type_boolean))
		return json_object_get_boolean(v);
	if (json_object_is_type(v, json_type_int))
		return json_object_get_int64(v) != 0;
	return def;
}

int cmek_json_int64(struct json_object *o, const char *key, long long *val)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !v)
		return -ENOENT;
	if (!json_object_is_type(v, json_type_int))
		return -EINVAL;
	*val = json_object_get_int64(v);
	return 0;
}
