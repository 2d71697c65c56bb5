// SPDX-License-Identifier: GPL-2.0
/*
 * /etc/cmek/volumes parser (userspace/lib/voltab.h).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "header.h"
#include "voltab.h"

struct pctx {
	const char *path;
	int line;
	int errors;
	cmek_voltab_report_fn report;
	void *ctx;
};

static __attribute__((format(printf, 2, 3)))
void perr(struct pctx *p, const char *fmt, ...)
{
	char msg[512], full[1200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->line)
		snprintf(full, sizeof(full), "%s:%d: %s", p->path, p->line, msg);
	else
		snprintf(full, sizeof(full), "%s: %s", p->path, msg);
	p->errors++;
	if (p->report)
		p->report(p->ctx, full);
}

static bool valid_uuid(const char *s)
{
	int i;

	if (strlen(s) != 36)
		return false;
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!isxdigit((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

static bool valid_name(const char *s)
{
	const char *c;

	if (!*s || strlen(s) > CMEK_VOLTAB_NAME_MAX || !strcmp(s, ".") ||
	    !strcmp(s, "..") || !strcmp(s, "control"))
		return false;
	for (c = s; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr("-_.+#@:", *c))
			return false;
	return true;
}

static void entry_free(struct cmek_voltab_entry *e)
{
	free(e->name);
	free(e->device);
	free(e->header);
	free(e->keys);
	free(e->format_provider);
	free(e->format_key);
	memset(e, 0, sizeof(*e));
}

/* keys=PROVIDER:PATTERN, appended to e->keys (blank-separated). */
static bool add_keys(struct pctx *p, struct cmek_voltab_entry *e,
		     const char *v)
{
	size_t old = e->keys ? strlen(e->keys) : 0;
	const char *c;
	char *n;

	if (!v || !strchr(v, ':') || v[0] == ':' || v[strlen(v) - 1] == ':' ||
	    strlen(v) > CMEK_VOLTAB_KEYS_MAX) {
		perr(p, "keys: expected PROVIDER:PATTERN, got '%s'", v ? v : "");
		return false;
	}
	for (c = v; *c; c++)
		if (*c <= ' ' || *c > '~') {
			perr(p, "keys: a pattern holds a blank or a byte that "
			     "is not printable ASCII");
			return false;
		}
	n = realloc(e->keys, old + strlen(v) + 2);
	if (!n) {
		perr(p, "out of memory");
		return false;
	}
	e->keys = n;
	snprintf(n + old, strlen(v) + 2, "%s%s", old ? " " : "", v);
	return true;
}

/*
 * format=PROVIDER:KEYREF, split at the first ':' (a key reference may
 * hold more: an AWS ARN).
 */
static bool set_format(struct pctx *p, struct cmek_voltab_entry *e,
		       const char *v)
{
	const char *colon = v ? strchr(v, ':') : NULL;
	const char *c;

	if (!colon || colon == v || !colon[1] ||
	    (size_t)(colon - v) >= CMEK_VOL_PROVIDER_MAX ||
	    strlen(colon + 1) >= CMEK_VOL_KEYREF_MAX) {
		perr(p, "format: expected PROVIDER:KEYREF, got '%s'",
		     v ? v : "");
		return false;
	}
	for (c = v; c < colon; c++)
		if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_') {
			perr(p, "format: invalid provider name '%.*s'",
			     (int)(colon - v), v);
			return false;
		}
	for (c = colon + 1; *c; c++)
		if (*c <= ' ' || *c > '~') {
			perr(p, "format: the key reference holds a blank or a "
			     "byte that is not printable ASCII");
			return false;
		}
	free(e->format_provider);
	free(e->format_key);
	e->format_provider = strndup(v, (size_t)(colon - v));
	e->format_key = strdup(colon + 1);
	if (!e->format_provider || !e->format_key) {
		perr(p, "out of memory");
		return false;
	}
	return true;
}

static bool set_mkfs(struct pctx *p, struct cmek_voltab_entry *e,
		     const char *v)
{
	if (!v || (strcmp(v, "ext4") && strcmp(v, "xfs"))) {
		perr(p, "mkfs: expected one of " CMEK_VOLTAB_MKFS_TYPES
		     ", got '%s'", v ? v : "");
		return false;
	}
	snprintf(e->mkfs, sizeof(e->mkfs), "%s", v);
	return true;
}

/*
 * What provisioning needs of the whole line: a device path (a blank
 * device has no volume uuid to be found by), its header on it, a
 * writable mapping, and a format= key that keys= allows.
 */
static bool check_provisioning(struct pctx *p, struct cmek_voltab_entry *e)
{
	if (e->mkfs[0] && !e->format_provider) {
		perr(p, "mkfs: goes with format=PROVIDER:KEYREF");
		return false;
	}
	if (!e->format_provider)
		return true;
	if (!e->device) {
		perr(p, "format: the device must be a path: a blank device "
		     "has no volume uuid (pin one with uuid=)");
		return false;
	}
	if (e->header) {
		perr(p, "format: not with header=: provisioning writes the "
		     "header on the device");
		return false;
	}
	if (e->read_only) {
		perr(p, "format: not with read-only: provisioning writes the "
		     "device");
		return false;
	}
	if (!cmek_voltab_keys_allow(e->keys, e->format_provider,
				     e->format_key)) {
		perr(p, "format: key %s:%s is not allowed by this line's keys=",
		     e->format_provider, e->format_key);
		return false;
	}
	return true;
}

/* A decimal 0..@max into *@out; -EINVAL for anything else. */
static int parse_uint(const char *v, unsigned int max, unsigned int *out)
{
	unsigned long n;
	char *end;

	if (!v || !isdigit((unsigned char)*v))
		return -EINVAL;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || *end || n > max)
		return -EINVAL;
	*out = (unsigned int)n;
	return 0;
}

/* Parse "a,b=c" into @e; false (reported) on a bad option. */
static bool parse_opts(struct pctx *p, char *opts, struct cmek_voltab_entry *e)
{
	char *save = NULL, *o;
	bool ok = true;

	if (!strcmp(opts, "-") || !strcmp(opts, "none"))
		return true;
	for (o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		char *v = strchr(o, '=');

		if (v)
			*v++ = '\0';
		if (!strcmp(o, "nofail") && !v) {
			e->nofail = true;
		} else if (!strcmp(o, "discard") && !v) {
			e->discard = true;
		} else if (!strcmp(o, "keepfs") && !v) {
			e->keepfs = true;
		} else if (!strcmp(o, "noauto") && !v) {
			e->noauto = true;
		} else if (!strcmp(o, "_netdev") && !v) {
			e->netdev = true;
		} else if ((!strcmp(o, "read-only") || !strcmp(o, "readonly")) &&
			   !v) {
			e->read_only = true;
		} else if (!strcmp(o, "hold")) {
			unsigned int ms;

			if (parse_uint(v, CMEK_VOLTAB_HOLD_MAX, &ms)) {
				perr(p, "hold: expected milliseconds 0..%d, got '%s'",
				     CMEK_VOLTAB_HOLD_MAX, v ? v : "");
				ok = false;
				continue;
			}
			e->has_hold = true;
			e->hold_ms = ms;
		} else if (!strcmp(o, "timeout")) {
			if (parse_uint(v, CMEK_VOLTAB_TIMEOUT_MAX,
				       &e->timeout_s)) {
				perr(p, "timeout: expected seconds 0..%d, got '%s'",
				     CMEK_VOLTAB_TIMEOUT_MAX, v ? v : "");
				ok = false;
				continue;
			}
		} else if (!strcmp(o, "header")) {
			if (!v || v[0] != '/') {
				perr(p, "header: expected an absolute path, got '%s'",
				     v ? v : "");
				ok = false;
				continue;
			}
			free(e->header);
			e->header = strdup(v);
		} else if (!strcmp(o, "uuid")) {
			if (!v || !valid_uuid(v) ||
			    (e->uuid[0] && strcasecmp(v, e->uuid))) {
				perr(p, "uuid: expected the volume's uuid%s, "
				     "got '%s'", e->uuid[0] ? " (as in UUID=)" :
				     "", v ? v : "");
				ok = false;
				continue;
			}
			for (size_t i = 0; i < 36; i++)
				e->uuid[i] = (char)tolower((unsigned char)v[i]);
		} else if (!strcmp(o, "keys")) {
			if (!add_keys(p, e, v))
				ok = false;
		} else if (!strcmp(o, "format")) {
			if (!set_format(p, e, v))
				ok = false;
		} else if (!strcmp(o, "mkfs")) {
			if (!set_mkfs(p, e, v))
				ok = false;
		} else if (!*o) {
			perr(p, "empty option");
			ok = false;
		} else if (v && (!strcmp(o, "nofail") || !strcmp(o, "discard") ||
				 !strcmp(o, "keepfs") || !strcmp(o, "noauto") ||
				 !strcmp(o, "_netdev") ||
				 !strcmp(o, "read-only") ||
				 !strcmp(o, "readonly"))) {
			perr(p, "option '%s' takes no value", o);
			ok = false;
		} else {
			perr(p, "unknown option '%s' (known: nofail, noauto, "
			     "_netdev, read-only, discard, keepfs, hold=MS, "
			     "timeout=SEC, header=FILE, uuid=UUID, "
			     "keys=PROVIDER:PATTERN, format=PROVIDER:KEYREF, "
			     "mkfs=" CMEK_VOLTAB_MKFS_TYPES ")", o);
			ok = false;
		}
	}
	return ok && check_provisioning(p, e);
}

static void parse_line(struct pctx *p, char *line, struct cmek_voltab *vl)
{
	struct cmek_voltab_entry e = { .line = p->line };
	char *f[4], *save = NULL, *t, *hash;
	int nf = 0;
	size_t i;

	hash = strchr(line, '#');
	if (hash && (hash == line || isspace((unsigned char)hash[-1])))
		*hash = '\0';
	for (t = strtok_r(line, " \t\r\n", &save); t;
	     t = strtok_r(NULL, " \t\r\n", &save)) {
		if (nf == 3) {
			perr(p, "too many fields: expected NAME DEVICE [OPTIONS]");
			return;
		}
		f[nf++] = t;
	}
	if (!nf)
		return;
	if (nf < 2) {
		perr(p, "missing device: expected NAME DEVICE [OPTIONS]");
		return;
	}
	if (!valid_name(f[0])) {
		perr(p, "invalid name '%s': letters, digits and -_.+#@: only, "
		     "at most %d", f[0], CMEK_VOLTAB_NAME_MAX);
		return;
	}
	for (i = 0; i < vl->n; i++)
		if (!strcmp(vl->v[i].name, f[0])) {
			perr(p, "name '%s' already listed on line %d", f[0],
			     vl->v[i].line);
			return;
		}
	if (!strncasecmp(f[1], "UUID=", 5)) {
		if (!valid_uuid(f[1] + 5)) {
			perr(p, "invalid uuid '%s'", f[1] + 5);
			return;
		}
		for (i = 0; i < 36; i++)
			e.uuid[i] = (char)tolower((unsigned char)f[1][5 + i]);
	} else if (f[1][0] == '/') {
		e.device = strdup(f[1]);
	} else {
		perr(p, "invalid device '%s': an absolute path or UUID=<uuid>",
		     f[1]);
		return;
	}
	e.name = strdup(f[0]);
	if ((nf == 3 && !parse_opts(p, f[2], &e)) || !e.name ||
	    (!e.uuid[0] && !e.device)) {
		entry_free(&e);
		return;
	}
	t = realloc(vl->v, (vl->n + 1) * sizeof(*vl->v));
	if (!t) {
		perr(p, "out of memory");
		entry_free(&e);
		return;
	}
	vl->v = (struct cmek_voltab_entry *)t;
	vl->v[vl->n++] = e;
}

int cmek_voltab_parse(struct cmek_voltab *vl, const char *path,
		       const char *text, cmek_voltab_report_fn report,
		       void *ctx)
{
	struct pctx p = { .path = path, .report = report, .ctx = ctx };
	const char *s = text;

	memset(vl, 0, sizeof(*vl));
	while (*s) {
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) : strlen(s);
		char *line = strndup(s, len);

		p.line++;
		if (!line) {
			perr(&p, "out of memory");
			break;
		}
		if (len > 4096)
			perr(&p, "line too long");
		else
			parse_line(&p, line, vl);
		free(line);
		s += len + (nl ? 1 : 0);
	}
	return p.errors;
}

int cmek_voltab_load(struct cmek_voltab *vl, const char *path,
		      bool must_exist, uid_t owner_uid,
		      cmek_voltab_report_fn report, void *ctx)
{
	struct pctx p = { .path = path, .report = report, .ctx = ctx };
	char *buf = NULL, why[512];
	size_t len = 0;
	struct stat st;
	FILE *f, *m;
	int fd, r, c;

	memset(vl, 0, sizeof(*vl));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		if (r == -ENOENT && !must_exist)
			return 0;
		perr(&p, "%s", strerror(-r));
		return r;
	}
	/* Its lines say what opens where: the same trust as cmekd.conf. */
	if (fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(why, sizeof(why), "cannot stat: %s", strerror(-r));
	} else {
		r = cmek_check_admin_file(&st, path, owner_uid, why,
					  sizeof(why));
	}
	f = r ? NULL : fdopen(fd, "r");
	if (!f) {
		if (!r) {
			r = -errno;
			snprintf(why, sizeof(why), "%s", strerror(-r));
		}
		perr(&p, "refused: %s", why);
		close(fd);
		return r;
	}
	m = open_memstream(&buf, &len);
	if (!m) {
		fclose(f);
		return -ENOMEM;
	}
	while ((c = fgetc(f)) != EOF)
		fputc(c == '\0' ? 0x01 : c, m);
	fclose(f);
	fclose(m);
	r = cmek_voltab_parse(vl, path, buf, report, ctx);
	free(buf);
	return r;
}

void cmek_voltab_free(struct cmek_voltab *vl)
{
	size_t i;

	for (i = 0; i < vl->n; i++)
		entry_free(&vl->v[i]);
	free(vl->v);
	memset(vl, 0, sizeof(*vl));
}

const struct cmek_voltab_entry *cmek_voltab_find(const struct cmek_voltab *vl,
						  const char *name)
{
	size_t i;

	for (i = 0; name && i < vl->n; i++)
		if (!strcmp(vl->v[i].name, name))
			return &vl->v[i];
	return NULL;
}

bool cmek_voltab_keys_allow(const char *keys, const char *provider,
			     const char *key_ref)
{
	char *want, *pins, *save = NULL, *pin;
	bool ok = false;

	if (!keys || !*keys)
		return true;
	if (asprintf(&want, "%s:%s", provider, key_ref) < 0)
		return false;
	pins = strdup(keys);
	for (pin = pins ? strtok_r(pins, " ", &save) : NULL; pin && !ok;
	     pin = strtok_r(NULL, " ", &save))
		ok = !fnmatch(pin, want, 0);
	free(pins);
	free(want);
	return ok;
}

const char *cmek_voltab_path(void)
{
	const char *e = getenv("CMEK_VOLUMES");

	return e && *e ? e : CMEK_VOLTAB_DEFAULT_PATH;
}
