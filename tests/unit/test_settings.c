// SPDX-License-Identifier: GPL-2.0
/*
 * The providers' declared settings (struct cmek_setting): every declared
 * setting reaches the provider's parser, an undeclared one is refused
 * with the generated "known:" list, each type's parsing and its errors
 * (through a table of the test's own), and the committed settings
 * reference is what the tables generate (make provider-settings-doc).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "provider.h"
#include "../lib/tap.h"

/* A provider's private state, as a table describes it. */
struct conf {
	char str[8];
	char *heap;
	char path[16];
	char url[32];
	unsigned int num;
	long big;
	long ms;
	bool flag;
	char list[32];
	int pick;
	char *secret;
	char word[16];
	int parsed, stored;
};

static bool is_lower(const char *v)
{
	return strspn(v, "abcdefghijklmnopqrstuvwxyz") == strlen(v);
}

static int parse_hook(void *priv, const struct cmek_setting *s,
		      const char *value, struct cmek_error *err)
{
	struct conf *c = priv;

	c->parsed++;
	return cmek_setting_store("test", s, priv, value, err);
}

static int stored_hook(void *priv, struct cmek_error *err)
{
	((struct conf *)priv)->stored++;
	return 0;
}

static const char *const picks[] = { "red", "green", "blue", NULL };

#define AT(field)	CMEK_SETTING_AT(struct conf, field)

static const struct cmek_setting tbl[] = {
	{ "str", CMEK_SETTING_STRING, 0, NULL, "s", AT(str) },
	{ "heap", CMEK_SETTING_STRING, CMEK_SETTING_ALLOC, NULL, "h",
	  AT(heap), .max = 10 },
	{ "path", CMEK_SETTING_PATH, 0, NULL, "p", AT(path) },
	{ "url", CMEK_SETTING_URL, 0, NULL, "u", AT(url) },
	{ "num", CMEK_SETTING_NUMBER, 0, NULL, "n", AT(num), .min = 1,
	  .max = 65535 },
	{ "big", CMEK_SETTING_NUMBER, 0, NULL, "b", AT(big), .min = 0,
	  .max = 5000000000L },
	{ "ms", CMEK_SETTING_DURATION, 0, NULL, "d", AT(ms), .min = 1000,
	  .max = 300000 },
	{ "flag", CMEK_SETTING_BOOL, 0, NULL, "f", AT(flag) },
	{ "list", CMEK_SETTING_LIST, 0, NULL, "l", AT(list) },
	{ "pick", CMEK_SETTING_CHOICE, 0, NULL, "c", AT(pick),
	  .choices = picks },
	{ "secret", CMEK_SETTING_STRING,
	  CMEK_SETTING_SECRET | CMEK_SETTING_ALLOC, NULL, "x", AT(secret),
	  .max = 8, .check = is_lower, .expect = "lower case" },
	{ "word", CMEK_SETTING_STRING, 0, NULL, "w", AT(word),
	  .check = is_lower, .expect = "lower case", .parse = parse_hook,
	  .stored = stored_hook },
	{ .name = NULL }
};

static struct cmek_error err;

static int set(struct conf *c, const char *key, const char *value)
{
	memset(&err, 0, sizeof(err));
	return cmek_setting_set("test", tbl, c, key, value, &err);
}

/* Refused as INVALID, with @want in the message. */
static bool refused(struct conf *c, const char *key, const char *value,
		    const char *want)
{
	bool ok = set(c, key, value) < 0 && err.cls == CMEK_ERR_INVALID &&
		  strstr(err.msg, want);

	if (!ok)
		tap_diag("%s = %s: %s", key, value, err.msg);
	return ok;
}

static void test_types(void)
{
	struct conf c = { 0 };

	tap_ok(!set(&c, "str", "abcdefg") && !strcmp(c.str, "abcdefg") &&
	       refused(&c, "str", "abcdefgh",
		       "test: str too long (at most 7 bytes)") &&
	       !strcmp(c.str, "abcdefg"),
	       "string: stored; one byte over its field refused, the old value kept: %s",
	       err.msg);
	tap_ok(!set(&c, "heap", "one") && !set(&c, "heap", "0123456789") &&
	       !strcmp(c.heap, "0123456789") &&
	       refused(&c, "heap", "0123456789a", "heap too long") &&
	       !strcmp(c.heap, "0123456789"),
	       "malloc()ed string: replaced, bounded by max: %s", err.msg);
	tap_ok(!set(&c, "path", "/etc/x") && !strcmp(c.path, "/etc/x") &&
	       refused(&c, "path", "etc/x",
		       "test: path must be an absolute path of less than 16 bytes") &&
	       refused(&c, "path", "/0123456789abcde", "absolute path") &&
	       !strcmp(c.path, "/etc/x"),
	       "path: absolute and short enough: %s", err.msg);
	tap_ok(!set(&c, "url", "https://kms.example/") &&
	       !strcmp(c.url, "https://kms.example") &&
	       refused(&c, "url", "http://kms.example",
		       "test: url 'http://kms.example' is not https://") &&
	       refused(&c, "url", "https://u@kms.example", "is not https://") &&
	       !strcmp(c.url, "https://kms.example"),
	       "URL: https only, trailing '/' dropped: %s", err.msg);
	tap_ok(!set(&c, "num", "65535") && c.num == 65535 &&
	       refused(&c, "num", "65536",
		       "test: num must be a number from 1 to 65535") &&
	       refused(&c, "num", "0", "from 1 to") &&
	       refused(&c, "num", "-1", "from 1 to") &&
	       refused(&c, "num", "12x", "from 1 to") &&
	       refused(&c, "num", "99999999999999999999", "from 1 to") &&
	       c.num == 65535 &&
	       !set(&c, "big", "5000000000") && c.big == 5000000000L,
	       "number: in range, into an unsigned int or a long: %s",
	       err.msg);
	tap_ok(!set(&c, "ms", "1500ms") && c.ms == 1500 &&
	       !set(&c, "ms", "2m") && c.ms == 120000 &&
	       !set(&c, "ms", "10") && c.ms == 10000 &&
	       refused(&c, "ms", "999ms",
		       "test: ms '999ms' is not a duration between 1s and 300s") &&
	       refused(&c, "ms", "6m", "between 1s and 300s") &&
	       refused(&c, "ms", "5x", "is not a duration") &&
	       refused(&c, "ms", "ms", "is not a duration") &&
	       refused(&c, "ms", "-5s", "is not a duration") &&
	       c.ms == 10000,
	       "duration: 250ms, 10s, 2m forms, in ms, in range: %s", err.msg);
	tap_ok(!set(&c, "flag", "yes") && c.flag && !set(&c, "flag", "off") &&
	       !c.flag && !set(&c, "flag", "TRUE") && c.flag &&
	       refused(&c, "flag", "maybe", "test: flag must be yes or no") &&
	       c.flag,
	       "bool: yes/no, on/off, true/false: %s", err.msg);
	tap_ok(!set(&c, "list", "a, b,c") && !strcmp(c.list, "a, b,c") &&
	       refused(&c, "list", "a,,b", "is not a comma-separated list") &&
	       refused(&c, "list", "a, ", "comma-separated") &&
	       refused(&c, "list", ",", "comma-separated") &&
	       !strcmp(c.list, "a, b,c"),
	       "list: no empty item: %s", err.msg);
	tap_ok(!set(&c, "pick", "blue") && c.pick == 2 &&
	       refused(&c, "pick", "mauve",
		       "test: pick 'mauve' is not red, green or blue") &&
	       c.pick == 2,
	       "choice: its index; else the choices: %s", err.msg);
	tap_ok(refused(&c, "secret", "hunterxyz", "secret too long") &&
	       !strstr(err.msg, "hunter") &&
	       refused(&c, "secret", "Hunter2", "test: secret is not lower case") &&
	       !strstr(err.msg, "unter") &&
	       !set(&c, "secret", "hunter") && !strcmp(c.secret, "hunter"),
	       "a secret's value is never in a message: %s", err.msg);
	tap_ok(refused(&c, "colour", "blue",
		       "unknown test setting 'colour' (known: str, heap, path,") &&
	       strstr(err.msg, "word)"),
	       "unknown setting: refused with the known list: %s", err.msg);
	tap_ok(refused(&c, "word", "Big", "test: word 'Big' is not lower case") &&
	       c.parsed == 1 && c.stored == 0 &&
	       !set(&c, "word", "small") && !strcmp(c.word, "small") &&
	       c.parsed == 2 && c.stored == 1,
	       "a setting's own parse and stored hooks, around the common store");
	cmek_settings_free(tbl, &c);
	tap_ok(!c.heap && !c.secret, "cmek_settings_free() frees and clears");
}

#define RST	"Documentation/admin-guide/cmek-provider-settings.rst"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t cap = 0;
	FILE *m;

	if (!f)
		return NULL;
	m = open_memstream(&buf, &cap);
	if (m) {
		int c;

		while ((c = fgetc(f)) != EOF)
			fputc(c, m);
		fclose(m);
	}
	fclose(f);
	*len = cap;
	return buf;
}

/* Each declared setting is parsed: a value error at most, never unknown. */
static void test_provider(const struct cmek_provider_ops *ops)
{
	const struct cmek_setting *s;
	struct cmek_provider *p;
	struct cmek_error err;
	bool all_parsed = true, all_listed = true;
	char unknown[128];
	int n = 0;

	snprintf(unknown, sizeof(unknown), "unknown %s setting", ops->name);
	for (s = ops->settings; s && s->name; s++, n++) {
		memset(&err, 0, sizeof(err));
		p = cmek_provider_new(ops->name, &err);
		if (!p)
			continue;
		if (p->ops->configure(p, s->name, "x", &err) &&
		    (strstr(err.msg, unknown) ||
		     strstr(err.msg, "not handled"))) {
			tap_diag("%s: %s: %s", ops->name, s->name, err.msg);
			all_parsed = false;
		}
		cmek_provider_free(p);
	}
	tap_ok(n > 0 && all_parsed,
	       "%s: all %d declared settings reach its parser", ops->name, n);

	memset(&err, 0, sizeof(err));
	p = cmek_provider_new(ops->name, &err);
	if (p && p->ops->configure(p, "colour", "blue", &err) == 0)
		all_listed = false;
	for (s = ops->settings; s && s->name; s++)
		if (!strstr(err.msg, s->name))
			all_listed = false;
	tap_ok(p && all_listed && strstr(err.msg, unknown) &&
	       err.cls == CMEK_ERR_INVALID,
	       "%s: an undeclared setting is refused with the known list: %s",
	       ops->name, err.msg);
	cmek_provider_free(p);
}

int main(void)
{
	const struct cmek_provider_ops *const *o;
	size_t want_len = 0, have_len = 0;
	char *want = NULL, *have;
	FILE *m;
	int n = 0;

	for (o = cmek_providers; *o; o++)
		n++;
	tap_plan(2 * n + 2 + 13);
	cmek_http_global_init();
	for (o = cmek_providers; *o; o++)
		test_provider(*o);
	test_types();

	tap_ok(cmek_setting_find(cmek_provider_lookup("azure-kv")->settings,
				 "client_secret")->flags & CMEK_SETTING_SECRET &&
	       cmek_setting_find(cmek_provider_lookup("kmip")->settings,
				 "key_file")->flags & CMEK_SETTING_SECRET_FILE &&
	       !(cmek_setting_find(cmek_provider_lookup("kmip")->settings,
				   "ca_file")->flags &
		 (CMEK_SETTING_SECRET | CMEK_SETTING_SECRET_FILE)),
	       "secrets are declared: azure-kv client_secret, kmip key_file; ca_file is not one");

	m = open_memstream(&want, &want_len);
	if (m) {
		cmek_settings_rst(m);
		fclose(m);
	}
	have = slurp(RST, &have_len);
	tap_ok(want && have && want_len == have_len &&
	       !memcmp(want, have, want_len),
	       "%s is what the tables generate (else: make provider-settings-doc)",
	       RST);
	free(want);
	free(have);
	return tap_done();
}
