// SPDX-License-Identifier: GPL-2.0
/*
 * The providers' declared settings (provider.h, struct cmek_setting): one
 * parser for every value of every provider, and the settings reference.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "config.h"
#include "http.h"
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

/* The "unknown setting" error, with every setting @tbl declares. */
static int unknown(const char *provider, const struct cmek_setting *tbl,
		   const char *key, struct cmek_error *err)
{
	const struct cmek_setting *s;
	char known[CMEK_ERRMSG_MAX] = "";
	size_t n = 0;

	for (s = tbl; s && s->name && n < sizeof(known); s++)
		n += (size_t)snprintf(known + n, sizeof(known) - n, "%s%s",
				      n ? ", " : "", s->name);
	return cmek_error_set(err, CMEK_ERR_INVALID,
			      "unknown %s setting '%.64s' (known: %s)",
			      provider, key, known);
}

/*
 * "PROVIDER: NAME 'VALUE' WHAT", or without the value for a secret: the
 * one shape of a bad value.
 */
static int bad(const char *provider, const struct cmek_setting *s,
	       const char *value, const char *what, struct cmek_error *err)
{
	if (s->flags & CMEK_SETTING_SECRET)
		return cmek_error_set(err, CMEK_ERR_INVALID, "%s: %s %s",
				      provider, s->name, what);
	return cmek_error_set(err, CMEK_ERR_INVALID, "%s: %s '%.80s' %s",
			      provider, s->name, value, what);
}

/* "10", "10s", "2m", "1h" (cmek_parse_duration()) or "250ms", in ms. */
static int parse_ms(const char *v, long *ms)
{
	size_t n = strlen(v);
	long secs;
	char *end;

	if (n > 2 && !strcmp(v + n - 2, "ms") && isdigit((unsigned char)*v)) {
		errno = 0;
		*ms = strtol(v, &end, 10);
		return errno || end != v + n - 2 ? -1 : 0;
	}
	if (cmek_parse_duration(v, false, &secs) || secs > LONG_MAX / 1000)
		return -1;
	*ms = secs * 1000;
	return 0;
}

/* A duration bound as people write it: 250ms, 30s, 1h. */
static void fmt_ms(char *buf, size_t len, long ms)
{
	if (ms % 1000)
		snprintf(buf, len, "%ldms", ms);
	else if (ms >= 3600000 && !(ms % 3600000))
		snprintf(buf, len, "%ldh", ms / 3600000);
	else
		snprintf(buf, len, "%lds", ms / 1000);
}

static int parse_number(const char *provider, const struct cmek_setting *s,
			const char *v, long *out, struct cmek_error *err)
{
	char *end = NULL;
	long n = 0;

	/* Digits only: strtol() would take blanks, a sign, and "". */
	if (isdigit((unsigned char)*v)) {
		errno = 0;
		n = strtol(v, &end, 10);
	}
	if (!end || errno || *end || n < s->min || n > s->max)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "%s: %s must be a number from %ld to %ld",
				      provider, s->name, s->min, s->max);
	*out = n;
	return 0;
}

static int parse_duration(const char *provider, const struct cmek_setting *s,
			  const char *v, long *out, struct cmek_error *err)
{
	char lo[32], hi[32], what[128];

	if (!parse_ms(v, out) && *out >= s->min && *out <= s->max)
		return 0;
	fmt_ms(lo, sizeof(lo), s->min);
	fmt_ms(hi, sizeof(hi), s->max);
	snprintf(what, sizeof(what),
		 "is not a duration between %s and %s (e.g. 10s, 500ms)",
		 lo, hi);
	return bad(provider, s, v, what, err);
}

static int parse_choice(const char *provider, const struct cmek_setting *s,
			const char *v, long *out, struct cmek_error *err)
{
	char what[CMEK_ERRMSG_MAX / 2];
	size_t i, n = 0;

	for (i = 0; s->choices[i]; i++)
		if (!strcmp(v, s->choices[i])) {
			*out = (long)i;
			return 0;
		}
	n = (size_t)snprintf(what, sizeof(what), "is not ");
	for (i = 0; s->choices[i] && n < sizeof(what); i++)
		n += (size_t)snprintf(what + n, sizeof(what) - n, "%s%s",
				      !i ? "" : s->choices[i + 1] ? ", " :
				      " or ", s->choices[i]);
	return bad(provider, s, v, what, err);
}

/* Items separated by commas (blanks around them allowed), none empty. */
static bool list_valid(const char *v)
{
	const char *p = v;
	size_t n;

	for (;;) {
		p += strspn(p, " \t");
		n = strcspn(p, ",");
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (!n)
			return false;
		p += strcspn(p, ",");
		if (!*p)
			return true;
		p++;
	}
}

/* Text checked by type, with the length the field allows, into @len. */
static int check_text(const char *provider, const struct cmek_setting *s,
		      const char *v, size_t *len, struct cmek_error *err)
{
	size_t cap = !(s->flags & CMEK_SETTING_ALLOC) ? s->size :
		     s->max > 0 ? (size_t)s->max + 1 : PATH_MAX;
	size_t n = strlen(v);

	if (s->type == CMEK_SETTING_PATH && (v[0] != '/' || n >= cap))
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "%s: %s must be an absolute path of less than %zu bytes",
				      provider, s->name, cap);
	if (s->type == CMEK_SETTING_URL) {
		if (!s->check && cmek_http_endpoint_valid(v, err))
			return bad(provider, s, v,
				   "is not https://HOST[:PORT][/PATH] (TLS is always required; no user, query or fragment)",
				   err);
		/* "https://host/" and "https://host" are one endpoint. */
		while (n > 8 && v[n - 1] == '/')
			n--;
	}
	if (s->type == CMEK_SETTING_LIST && !list_valid(v))
		return bad(provider, s, v, "is not a comma-separated list", err);
	if (s->check && !s->check(v)) {
		char what[CMEK_ERRMSG_MAX / 2];

		snprintf(what, sizeof(what), "is not %s", s->expect);
		return bad(provider, s, v, what, err);
	}
	if (n >= cap)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "%s: %s too long (at most %zu bytes)",
				      provider, s->name, cap - 1);
	*len = n;
	return 0;
}

/* A value may be a secret: wiped before it is freed. */
static void wipe_free(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

static int store_text(const char *provider, const struct cmek_setting *s,
		      char *field, const char *v, struct cmek_error *err)
{
	char **heap = (char **)field, *dup;
	size_t n;

	if (check_text(provider, s, v, &n, err))
		return -1;
	if (!(s->flags & CMEK_SETTING_ALLOC)) {
		memcpy(field, v, n);
		field[n] = '\0';
		return 0;
	}
	dup = strndup(v, n);
	if (!dup)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
	wipe_free(*heap);
	*heap = dup;
	return 0;
}

int cmek_setting_store(const char *provider, const struct cmek_setting *s,
		       void *priv, const char *v, struct cmek_error *err)
{
	char *field = (char *)priv + s->off;
	long n = 0;
	bool b;

	switch (s->type) {
	case CMEK_SETTING_STRING:
	case CMEK_SETTING_PATH:
	case CMEK_SETTING_URL:
	case CMEK_SETTING_LIST:
		return store_text(provider, s, field, v, err);
	case CMEK_SETTING_BOOL:
		if (cmek_parse_bool(v, &b))
			return cmek_error_set(err, CMEK_ERR_INVALID,
					      "%s: %s must be yes or no",
					      provider, s->name);
		*(bool *)field = b;
		return 0;
	case CMEK_SETTING_CHOICE:
		if (parse_choice(provider, s, v, &n, err))
			return -1;
		*(int *)field = (int)n;
		return 0;
	case CMEK_SETTING_NUMBER:
		if (parse_number(provider, s, v, &n, err))
			return -1;
		break;
	case CMEK_SETTING_DURATION:
		if (parse_duration(provider, s, v, &n, err))
			return -1;
		break;
	}
	if (s->size == sizeof(long))
		*(long *)field = n;
	else
		*(unsigned int *)field = (unsigned int)n;
	return 0;
}

int cmek_setting_set(const char *provider, const struct cmek_setting *tbl,
		     void *priv, const char *key, const char *value,
		     struct cmek_error *err)
{
	const struct cmek_setting *s = cmek_setting_find(tbl, key);

	if (!s)
		return unknown(provider, tbl, key, err);
	if (s->parse ? s->parse(priv, s, value, err) :
	    cmek_setting_store(provider, s, priv, value, err))
		return -1;
	return s->stored ? s->stored(priv, err) : 0;
}

int cmek_settings_configure(struct cmek_provider *p, const char *key,
			    const char *value, struct cmek_error *err)
{
	return cmek_setting_set(p->ops->name, p->ops->settings, p->priv, key,
				value, err);
}

void cmek_settings_free(const struct cmek_setting *tbl, void *priv)
{
	const struct cmek_setting *s;
	char **heap;

	for (s = tbl; s && s->name; s++) {
		if (!(s->flags & CMEK_SETTING_ALLOC))
			continue;
		heap = (char **)((char *)priv + s->off);
		wipe_free(*heap);
		*heap = NULL;
	}
}

static const char *const type_names[] = {
	[CMEK_SETTING_STRING] = "string",
	[CMEK_SETTING_PATH] = "path",
	[CMEK_SETTING_URL] = "URL",
	[CMEK_SETTING_NUMBER] = "number",
	[CMEK_SETTING_DURATION] = "duration",
	[CMEK_SETTING_BOOL] = "yes/no",
	[CMEK_SETTING_LIST] = "list",
	[CMEK_SETTING_CHOICE] = "choice",
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
	      "``cmek-providers.rst`` (\"Credentials files\").\n\n"
	      "A *path* is an absolute file name; a *URL* is\n"
	      "``https://HOST[:PORT][/PATH]`` unless its meaning says otherwise;\n"
	      "a *number* is decimal digits, in the range its meaning gives;\n"
	      "a *duration* is ``250ms``, ``10`` or ``10s``, ``2m`` or ``1h``;\n"
	      "*yes/no* also takes ``true``/``false``, ``on``/``off``,\n"
	      "``1``/``0``; a *list* is comma-separated; a *choice* is one of\n"
	      "the words its meaning names. Each setting may be given once per\n"
	      "section; a bad value is refused with the provider, the setting\n"
	      "and what was expected, never with a secret's value.\n\n", f);
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
