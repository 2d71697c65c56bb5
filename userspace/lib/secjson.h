/* SPDX-License-Identifier: GPL-2.0 */
/*
 * json-c for answers that may hold a secret (an unwrapped key, an access
 * token, a credentials file), and the small getters every JSON user here
 * needs.
 *
 * json-c copies each string it reads through its tokener's buffer, grows
 * that buffer with realloc(), and frees objects without wiping them: a
 * plaintext key parsed the plain way stays behind in freed heap. Parse such
 * answers with cmek_json_parse_secret() and let go of them with
 * cmek_json_put_wiped(). Strings copied out of the tree are the caller's
 * to wipe.
 */
#ifndef CMEK_SECJSON_H
#define CMEK_SECJSON_H

#include <stddef.h>

#include <json-c/json.h>

/*
 * Parse all of @s (@len bytes; trailing white space is fine, anything else
 * is refused) with at most @depth levels of nesting. The tokener's buffer
 * is sized for the whole input up front, so it never moves, and wiped
 * before it is freed; whatever a refused input had built is wiped too.
 * NULL on failure, with the reason in *@jerr if @jerr is not NULL:
 * json_tokener_success there means that memory ran out.
 */
struct json_object *cmek_json_parse_secret(const char *s, size_t len,
					   int depth,
					   enum json_tokener_error *jerr);

/* Wipe every string in @o in place, nested ones too. NULL is fine. */
void cmek_json_wipe(struct json_object *o);
/* cmek_json_wipe() then json_object_put(). NULL is fine. */
void cmek_json_put_wiped(struct json_object *o);
/* Wipe one string member of object @o in place, if it is one. */
void cmek_json_wipe_member(struct json_object *o, const char *key);

/* Member @key of object @o if it has @type, else NULL. NULL @o is fine. */
struct json_object *cmek_json_get(struct json_object *o, const char *key,
				  enum json_type type);
/* String member @key of object @o, or NULL if absent or not a string. */
const char *cmek_json_str(struct json_object *o, const char *key);
/* Boolean member (an integer counts: non-zero is true), else @def. */
int cmek_json_bool(struct json_object *o, const char *key, int def);
/* 0 with *val set; -ENOENT absent; -EINVAL not an integer. */
int cmek_json_int64(struct json_object *o, const char *key, long long *val);

#endif /* CMEK_SECJSON_H */
