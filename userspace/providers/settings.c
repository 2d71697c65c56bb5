// SPDX-License-Identifier: GPL-2.0
/*
 * The providers' declared settings (provider.h, struct cmek_setting): the
 * name check with its "known:" list, and the settings reference.
 */
#include <stdio.h>
#include <string.h>

#include "provider.h"


const struct cmek_setting *cmek_setting_find(const struct cmek_setting *tbl,
					     const char *name)
{
	const struct cmek_setting *s;

	for (s = tbl; s && s->name; s++)
		if (!strcmp(s->name, name))
			return s;
	return NULL;
}

int cmek_setting_check(const char *provider, const struct cmek_setting *tbl,
		       const char *key, struct cmek_error *err)
{
	const struct cmek_setting *s;
	char known[CMEK_ERRMSG_MAX] = "";
	size_t n = 0;

	if (cmek_setting_find(tbl, key))
		return 0;
	for (s = tbl; s && s->name && n < sizeof(known); s++)
		n += (size_t)snprintf(known + n, sizeof(known) - n, "%s%s",
				      n ? ", " : "", s->name);
	return cmek_error_set(err, CMEK_ERR_INVALID,
			      "unknown %s setting '%.64s' (known: %s)",
			      provider, key, known);
}

int cmek_setting_unhandled(const char *provider, const char *key,
			   struct cmek_error *err)
{
	return cmek_error_set(err, CMEK_ERR_INVALID,
			      "%s: setting '%.64s' is declared but not handled",
			      provider, key);
}

static const char *const type_names[] = {
	[CMEK_SETTING_STRING] = "string",
	[CMEK_SETTING_PATH] = "path",
	[CMEK_SETTING_URL] = "URL",
	[CMEK_SETTING_NUMBER] = "number",
	[CMEK_SETTING_DURATION] = "duration",
	[CMEK_SETTING_BOOL] = "yes/no",
	[CMEK_SETTING_LIST] = "list",
};

static void rst_title(FILE *f, const char *t, char c)
{
	size_t n = strlen(t);

	fprintf(f, "%s\n", t);
	while (n--)
		fputc(c, f);
	fputs("\n\n", f);
}

void cmek_settings_rst(FILE *f)
{
	const struct cmek_provider_ops *const *o;
	const struct cmek_setting *s;

	fputs(".. SPDX-License-Identifier: GPL-2.0\n"
	      ".. Generated from the providers' settings tables by\n"
	      ".. `make provider-settings-doc`; do not edit.\n\n", f);
	rst_title(f, "cmek provider settings", '=');
	fputs("Every setting of every ``[provider NAME]`` section of cmekd.conf,\n"
	      "as the providers declare them (``struct cmek_setting``). What\n"
	      "each provider does with them is in ``cmek-providers.rst``. A\n"
	      "*secret* is a value that makes cmekd.conf 0600; a *secret file*\n"
	      "is a credentials file, read under the rules of\n"
	      "``cmek-providers.rst`` (\"Credentials files\").\n\n", f);
	for (o = cmek_providers; *o; o++) {
		rst_title(f, (*o)->name, '-');
		if (!(*o)->settings || !(*o)->settings->name) {
			fputs("No settings.\n\n", f);
			continue;
		}
		fputs(".. list-table::\n   :header-rows: 1\n\n"
		      "   * - setting\n     - type\n     - default\n"
		      "     - meaning\n", f);
		for (s = (*o)->settings; s->name; s++)
			fprintf(f, "   * - ``%s``\n     - %s%s\n     - %s%s%s\n"
				"     - %s\n", s->name, type_names[s->type],
				s->flags & CMEK_SETTING_SECRET ? ", secret" :
				s->flags & CMEK_SETTING_SECRET_FILE ?
				", secret file" : "",
				s->def ? "``" : "", s->def ? s->def : "none",
				s->def ? "``" : "", s->help);
		fputc('\n', f);
	}
}
