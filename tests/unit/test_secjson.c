// SPDX-License-Identifier: GPL-2.0
/*
 * secjson.h: what cmek_json_parse_secret() accepts and refuses (and why),
 * that the wipes reach every string, nested ones too, and the getters.
 */
#include <stdbool.h>
#include <string.h>

#include "secjson.h"
#include "../lib/tap.h"

static struct json_object *parse(const char *s, enum json_tokener_error *e)
{
	return cmek_json_parse_secret(s, strlen(s), 16, e);
}

static bool zeroed(const char *s, size_t n)
{
	while (n--)
		if (*s++)
			return false;
	return true;
}

static void test_parse(void)
{
	enum json_tokener_error e = json_tokener_success;
	struct json_object *o;

	o = parse(" {\"k\":\"v\"}\r\n ", &e);
	tap_ok(o && json_object_is_type(o, json_type_object),
	       "an object with white space around it");
	cmek_json_put_wiped(o);
	o = parse("[1,\"two\",{\"x\":null}]", &e);
	tap_ok(o && json_object_is_type(o, json_type_array),
	       "any JSON value: an array");
	cmek_json_put_wiped(o);

	o = parse("{\"Plaintext\":\"c2VjcmV0\"} x", &e);
	tap_ok(!o && e == json_tokener_error_parse_unexpected,
	       "trailing garbage is refused: %s", json_tokener_error_desc(e));
	o = parse("{\"Plaintext\":\"c2Vj", &e);
	tap_ok(!o && e == json_tokener_error_parse_eof,
	       "a truncated answer is refused: %s", json_tokener_error_desc(e));
	o = parse("", &e);
	tap_ok(!o && e == json_tokener_error_parse_eof, "empty input: %s",
	       json_tokener_error_desc(e));
	o = cmek_json_parse_secret("[[[[1]]]]", 9, 3, &e);
	tap_ok(!o && e == json_tokener_error_depth,
	       "deeper than allowed: %s", json_tokener_error_desc(e));
	o = cmek_json_parse_secret("{\"a\":1}", 7, 3, NULL);
	tap_ok(!!o, "no room for the reason is fine");
	cmek_json_put_wiped(o);
}

static void test_wipe(void)
{
	static const char doc[] =
		"{\"a\":\"secret1\",\"n\":{\"b\":[\"secret2\",{\"c\":\"secret3\"}]},\"i\":7}";
	struct json_object *o = parse(doc, NULL);
	const char *a, *b, *c, *d;
	struct json_object *arr;

	if (!o) {
		tap_ok(0, "parse for the wipe tests");
		return;
	}
	a = cmek_json_str(o, "a");
	arr = cmek_json_get(cmek_json_get(o, "n", json_type_object), "b",
			    json_type_array);
	b = json_object_get_string(json_object_array_get_idx(arr, 0));
	c = cmek_json_str(json_object_array_get_idx(arr, 1), "c");
	tap_ok(a && b && c && !strcmp(c, "secret3"), "getters reach nested members");
	cmek_json_wipe_member(o, "a");
	tap_ok(zeroed(a, 7) && !strcmp(b, "secret2"),
	       "wipe_member wipes that member only");
	cmek_json_wipe_member(o, "i");
	cmek_json_wipe_member(o, "missing");
	cmek_json_wipe(o);
	tap_ok(zeroed(b, 7) && zeroed(c, 7) &&
	       json_object_get_int(json_object_object_get(o, "i")) == 7,
	       "wipe reaches strings in arrays and nested objects, not numbers");
	cmek_json_put_wiped(o);
	cmek_json_put_wiped(NULL);
	cmek_json_wipe(NULL);

	o = parse("{\"s\":\"x\",\"t\":true,\"one\":1,\"big\":9000000000}", NULL);
	d = cmek_json_str(o, "t");
	tap_ok(!d && !cmek_json_str(o, "nope") && !cmek_json_str(NULL, "s") &&
	       !cmek_json_get(o, "s", json_type_int),
	       "a member of another type, a missing one, a NULL object: NULL");
	{
		long long v = 0;

		tap_ok(cmek_json_bool(o, "t", 0) == 1 &&
		       cmek_json_bool(o, "one", 0) == 1 &&
		       cmek_json_bool(o, "s", -1) == -1 &&
		       !cmek_json_int64(o, "big", &v) && v == 9000000000LL &&
		       cmek_json_int64(o, "s", &v) < 0 &&
		       cmek_json_int64(o, "nope", &v) < 0,
		       "bool and int64 getters");
	}
	cmek_json_put_wiped(o);
}

int main(void)
{
	tap_plan(12);
	test_parse();
	test_wipe();
	return tap_done();
}
