// SPDX-License-Identifier: GPL-2.0
/*
 * The providers' declared settings (struct cmek_setting): every declared
 * setting reaches the provider's parser, an undeclared one is refused
 * with the generated "known:" list, and the committed settings reference
 * is what the tables generate (make provider-settings-doc).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "provider.h"
#include "../lib/tap.h"

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
	tap_plan(2 * n + 2);
	cmek_http_global_init();
	for (o = cmek_providers; *o; o++)
		test_provider(*o);

	tap_ok(cmek_setting_find(cmek_provider_lookup("azure-kv")->settings,
				 "client_secret")->flags & CMEK_SETTING_SECRET &&
	       cmek_setting_find(cmek_provider_lookup("kmip")->settings,
				 "key_file")->flags & CMEK_SETTING_SECRET_FILE &&
	       !cmek_setting_find(cmek_provider_lookup("kmip")->settings,
				  "ca_file")->flags,
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
