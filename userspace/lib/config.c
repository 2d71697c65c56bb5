// SPDX-License-Identifier: GPL-2.0
/*
 * cmekd.conf parser: see config.h and Documentation/admin-guide/cmekd.rst.
 */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/dm-cmek.h>

#include "config.h"
#include "ipc.h"
#include "log.h"

struct parser {
	struct cmek_config *c;
	const struct cmek_config_opts *opts;
	cmek_config_report_fn report;
	void *ctx;
	const char *path;
	char *dir;			/* directory of path, for relative files */
	struct stat st;			/* of the config file */
	int line;
	int errors;
	enum { SEC_NONE, SEC_DAEMON, SEC_PROVIDER, SEC_BAD } sec;
	struct cmek_config_provider *cur;
	unsigned int daemon_seen;	/* bitmask of daemon keys already set */
	int daemon_line;
};

static __attribute__((format(printf, 2, 3)))
void perr(struct parser *p, const char *fmt, ...)
{
	char msg[1024], full[1400];
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

void cmek_config_init(struct cmek_config *c)
{
	memset(c, 0, sizeof(*c));
	c->socket = strdup(cmek_ipc_socket_path());
	c->state_dir = strdup(CMEK_CONFIG_DEFAULT_STATE_DIR);
	c->trust_dir = strdup(CMEK_CONFIG_DEFAULT_TRUST_DIR);
	c->key_dir = strdup(getenv("CMEK_KEY_DIR") && *getenv("CMEK_KEY_DIR") ?
			    getenv("CMEK_KEY_DIR") : CMEK_CONFIG_DEFAULT_KEY_DIR);
	c->check_interval = 30;
	c->unreachable_grace = -1;
	c->log_level = LOG_INFO;
}

void cmek_config_free(struct cmek_config *c)
{
	size_t i;

	for (i = 0; i < c->nproviders; i++) {
		if (c->providers[i].prov)
			cmek_provider_free(c->providers[i].prov);
		free(c->providers[i].name);
		for (size_t j = 0; j < c->providers[i].nallow_keys; j++)
			free(c->providers[i].allow_keys[j]);
		free(c->providers[i].allow_keys);
	}
	free(c->providers);
	free(c->path);
	free(c->socket);
	free(c->state_dir);
	free(c->trust_dir);
	free(c->key_dir);
	memset(c, 0, sizeof(*c));
}

int cmek_parse_duration(const char *s, bool allow_never, long *secs)
{
	char *end;
	long v, mul = 1;

	if (!s || !*s)
		return -EINVAL;
	if (allow_never && (!strcasecmp(s, "never") || !strcasecmp(s, "off"))) {
		*secs = -1;
		return 0;
	}
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || v < 0)
		return -EINVAL;
	if (!strcmp(end, "") || !strcmp(end, "s"))
		mul = 1;
	else if (!strcmp(end, "m") || !strcmp(end, "min"))
		mul = 60;
	else if (!strcmp(end, "h"))
		mul = 3600;
	else if (!strcmp(end, "d"))
		mul = 86400;
	else
		return -EINVAL;
	if (v > LONG_MAX / mul || v * mul > 365L * 86400)
		return -EINVAL;
	*secs = v * mul;
	return 0;
}

int cmek_parse_bool(const char *s, bool *val)
{
	static const char *const yes[] = { "1", "yes", "true", "on", NULL };
	static const char *const no[] = { "0", "no", "false", "off", NULL };
	int i;

	for (i = 0; yes[i]; i++)
		if (!strcasecmp(s, yes[i])) {
			*val = true;
			return 0;
		}
	for (i = 0; no[i]; i++)
		if (!strcasecmp(s, no[i])) {
			*val = false;
			return 0;
		}
	return -EINVAL;
}

int cmek_check_secret_fd(int fd, const char *path, uid_t uid, char *why,
			 size_t whylen)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		int e = errno;

		snprintf(why, whylen, "cannot stat %s: %s", path, strerror(e));
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "credentials file %s is not a regular file",
			 path);
		return -EINVAL;
	}
	if (st.st_uid != uid) {
		snprintf(why, whylen,
			 "credentials file %s is owned by uid %u, not %u: "
			 "chown %u %s", path, (unsigned)st.st_uid,
			 (unsigned)uid, (unsigned)uid, path);
		return -EPERM;
	}
	if (st.st_mode & 077) {
		snprintf(why, whylen,
			 "credentials file %s has mode %04o, readable or "
			 "writable by group or others: chmod 600 %s",
			 path, (unsigned)(st.st_mode & 07777), path);
		return -EPERM;
	}
	return 0;
}

int cmek_open_secret_file(const char *path, uid_t uid, char *why,
			  size_t whylen)
{
	int fd, ret;

	/* O_NONBLOCK: a FIFO in its place must not hang the open. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		int e = errno;

		snprintf(why, whylen, "cannot open credentials file %s: %s%s",
			 path, strerror(e),
			 e == ELOOP ? " (symbolic links are refused)" : "");
		return -e;
	}
	ret = cmek_check_secret_fd(fd, path, uid, why, whylen);
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

int cmek_check_secret_file(const char *path, uid_t uid, char *why,
			   size_t whylen)
{
	int fd = cmek_open_secret_file(path, uid, why, whylen);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

int cmek_check_admin_file(const struct stat *st, const char *path,
			  uid_t uid, char *why, size_t whylen)
{
	why[0] = '\0';
	if (!S_ISREG(st->st_mode)) {
		snprintf(why, whylen, "not a regular file");
		return -EINVAL;
	}
	if (st->st_uid != uid) {
		snprintf(why, whylen, "owned by uid %u, not %u: chown %u %s",
			 (unsigned)st->st_uid, (unsigned)uid, (unsigned)uid,
			 path);
		return -EPERM;
	}
	if (st->st_mode & 022) {
		snprintf(why, whylen, "mode %04o lets group or others change "
			 "it: chmod 600 %s (or 644)",
			 (unsigned)(st->st_mode & 07777), path);
		return -EPERM;
	}
	return 0;
}

char *cmek_trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* CMEK_SETTING_SECRET, _SECRET_FILE: as provider @name declares @key. */
static unsigned int setting_flags(const char *name, const char *key)
{
	const struct cmek_provider_ops *ops = cmek_provider_lookup(name);
	const struct cmek_setting *s;

	s = ops ? cmek_setting_find(ops->settings, key) : NULL;
	return s ? s->flags : 0;
}

static struct cmek_config_provider *find_section(struct cmek_config *c,
						 const char *name)
{
	size_t i;

	for (i = 0; i < c->nproviders; i++)
		if (!strcmp(c->providers[i].name, name))
			return &c->providers[i];
	return NULL;
}

static struct cmek_config_provider *add_section(struct cmek_config *c,
						const char *name, int line)
{
	struct cmek_config_provider *n;

	n = realloc(c->providers, (c->nproviders + 1) * sizeof(*n));
	if (!n)
		return NULL;
	c->providers = n;
	n = &c->providers[c->nproviders];
	memset(n, 0, sizeof(*n));
	n->name = strdup(name);
	if (!n->name)
		return NULL;
	n->line = line;
	c->nproviders++;
	return n;
}

static void known_providers(char *buf, size_t len)
{
	size_t off = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; cmek_providers[i]; i++)
		off += snprintf(buf + off, off < len ? len - off : 0, "%s%s",
				i ? ", " : "", cmek_providers[i]->name);
}

static void section_header(struct parser *p, char *s)
{
	char *end = strchr(s, ']');
	char *inner, *name;
	const struct cmek_provider_ops *ops;
	struct cmek_config_provider *sec;
	char known[256];

	p->cur = NULL;
	p->sec = SEC_BAD;
	if (!end) {
		perr(p, "section header '%s' has no closing ']'", s);
		return;
	}
	if (*cmek_trim(end + 1)) {
		perr(p, "unexpected text after ']' in section header");
		return;
	}
	*end = '\0';
	inner = cmek_trim(s + 1);
	if (!strcmp(inner, "daemon")) {
		if (p->daemon_line) {
			perr(p, "[daemon] appears twice (first at line %d): "
			     "merge the two sections", p->daemon_line);
			return;
		}
		p->daemon_line = p->line;
		p->sec = SEC_DAEMON;
		return;
	}
	if (strncmp(inner, "provider", 8) ||
	    (inner[8] && !isspace((unsigned char)inner[8]))) {
		perr(p, "unknown section [%s]: expected [daemon] or "
		     "[provider NAME]", inner);
		return;
	}
	name = cmek_trim(inner + 8);
	if (!*name || strpbrk(name, " \t\"'")) {
		perr(p, "bad provider section [%s]: expected [provider NAME] "
		     "with one word for NAME", inner);
		return;
	}
	ops = cmek_provider_lookup(name);
	if (!ops) {
		known_providers(known, sizeof(known));
		perr(p, "unknown provider '%s' (known: %s)", name, known);
		return;
	}
	sec = find_section(p->c, name);
	if (sec) {
		perr(p, "[provider %s] appears twice (first at line %d): "
		     "merge the two sections", name, sec->line);
		return;
	}
	sec = add_section(p->c, name, p->line);
	if (!sec) {
		perr(p, "out of memory");
		return;
	}
	if (!p->opts->no_providers) {
		struct cmek_error err = { 0 };

		sec->prov = cmek_provider_new(name, &err);
		if (!sec->prov) {
			perr(p, "provider %s failed to initialise: %s", name,
			     err.msg[0] ? err.msg : "unknown error");
			return;
		}
	}
	p->cur = sec;
	p->sec = SEC_PROVIDER;
}

enum daemon_key {
	DK_SOCKET, DK_STATE_DIR, DK_KEY_DIR, DK_CHECK_INTERVAL,
	DK_UNREACHABLE_GRACE, DK_LOG_LEVEL, DK_KEY_WAIT_MS, DK_ALLOW_DISCARDS,
	DK_SLOT_POLICY, DK_REWRAP_INTERVAL, DK_FS_ON_REVOKE, DK_MMAP_HOLDERS,
	DK_TRUST_DIR, DK_LEGACY_HEADERS,
	DK__MAX
};

static const char *const daemon_keys[DK__MAX] = {
	[DK_SOCKET] = "socket",
	[DK_STATE_DIR] = "state_dir",
	[DK_KEY_DIR] = "key_dir",
	[DK_CHECK_INTERVAL] = "check_interval",
	[DK_UNREACHABLE_GRACE] = "unreachable_grace",
	[DK_LOG_LEVEL] = "log_level",
	[DK_KEY_WAIT_MS] = "key_wait_ms",
	[DK_ALLOW_DISCARDS] = "allow_discards",
	[DK_SLOT_POLICY] = "slot_policy",
	[DK_REWRAP_INTERVAL] = "rewrap_interval",
	[DK_FS_ON_REVOKE] = "fs_on_revoke",
	[DK_MMAP_HOLDERS] = "mmap_holders",
	[DK_TRUST_DIR] = "trust_dir",
	[DK_LEGACY_HEADERS] = "legacy_headers",
};

/* @v is @a (*@val false) or @b (*@val true), in any case. */
static int parse_choice(const char *v, const char *a, const char *b,
			bool *val)
{
	if (!strcasecmp(v, a))
		*val = false;
	else if (!strcasecmp(v, b))
		*val = true;
	else
		return -EINVAL;
	return 0;
}

static int set_path(struct parser *p, char **dst, const char *key,
		    const char *v)
{
	if (v[0] != '/') {
		perr(p, "%s must be an absolute path, not '%s'", key, v);
		return -1;
	}
	free(*dst);
	*dst = strdup(v);
	return 0;
}

static void daemon_line(struct parser *p, const char *key, const char *v)
{
	struct cmek_config *c = p->c;
	long secs;
	int i, lvl;
	bool b;

	for (i = 0; i < DK__MAX; i++)
		if (!strcmp(key, daemon_keys[i]))
			break;
	if (i == DK__MAX) {
		perr(p, "unknown key '%s' in [daemon] (known: socket, "
		     "state_dir, key_dir, check_interval, unreachable_grace, "
		     "log_level, key_wait_ms, allow_discards, slot_policy, "
		     "rewrap_interval, fs_on_revoke, mmap_holders, trust_dir, "
		     "legacy_headers)",
		     key);
		return;
	}
	if (p->daemon_seen & (1U << i)) {
		perr(p, "'%s' is set twice in [daemon]", key);
		return;
	}
	p->daemon_seen |= 1U << i;
	switch (i) {
	case DK_SOCKET:
		if (!set_path(p, &c->socket, key, v) &&
		    strlen(v) >= 108)
			perr(p, "socket path is longer than 107 bytes");
		break;
	case DK_STATE_DIR:
		set_path(p, &c->state_dir, key, v);
		break;
	case DK_TRUST_DIR:
		set_path(p, &c->trust_dir, key, v);
		break;
	case DK_LEGACY_HEADERS:
		if (parse_choice(v, "allow", "refuse", &c->legacy_refuse))
			perr(p, "legacy_headers '%s' is not 'allow' (open "
			     "version 1 headers, which carry no MAC, the "
			     "default) or 'refuse'", v);
		break;
	case DK_KEY_DIR:
		set_path(p, &c->key_dir, key, v);
		break;
	case DK_CHECK_INTERVAL:
		if (cmek_parse_duration(v, true, &secs))
			perr(p, "check_interval '%s' is not a duration "
			     "(e.g. 30, 30s, 5m, 1h, or 'off')", v);
		else
			c->check_interval = secs < 0 ? 0 : (unsigned int)secs;
		break;
	case DK_UNREACHABLE_GRACE:
		if (cmek_parse_duration(v, true, &secs))
			perr(p, "unreachable_grace '%s' is not a duration "
			     "(e.g. 300, 5m, 1h, or 'never')", v);
		else
			c->unreachable_grace = secs;
		break;
	case DK_LOG_LEVEL:
		lvl = cmek_log_level_parse(v);
		if (lvl < LOG_ERR)
			perr(p, "log_level '%s' is not one of err, warning, "
			     "notice, info, debug", v);
		else
			c->log_level = lvl;
		break;
	case DK_KEY_WAIT_MS:
		if (strspn(v, "0123456789") != strlen(v) || strlen(v) > 7 ||
		    (secs = atol(v)) > CMEK_MAX_KEY_WAIT_MS)
			perr(p, "key_wait_ms '%s' is not a number of "
			     "milliseconds from 0 to %d", v,
			     CMEK_MAX_KEY_WAIT_MS);
		else
			c->key_wait_ms = (unsigned int)secs;
		break;
	case DK_ALLOW_DISCARDS:
		if (cmek_parse_bool(v, &b))
			perr(p, "%s '%s' is not a boolean (yes/no, true/false, "
			     "on/off, 1/0)", key, v);
		else
			c->allow_discards = b;
		break;
	case DK_SLOT_POLICY:
		if (cmek_slot_policy_parse(v, &c->slot_policy))
			perr(p, "slot_policy '%s' is not 'any' (lock when any "
			     "key slot's key is revoked, the default) or 'all' "
			     "(lock only when every slot's key is)", v);
		break;
	case DK_REWRAP_INTERVAL:
		if (cmek_parse_duration(v, true, &secs) || secs == 0)
			perr(p, "rewrap_interval '%s' is not a duration "
			     "(e.g. 1d, 30d) or 'off'", v);
		else
			c->rewrap_interval = secs < 0 ? 0 : secs;
		break;
	case DK_FS_ON_REVOKE:
		if (parse_choice(v, "shutdown", "keep", &c->fs_keep))
			perr(p, "fs_on_revoke '%s' is not 'shutdown' (shut a "
			     "mounted file system down when its key is "
			     "revoked, the default) or 'keep'", v);
		break;
	case DK_MMAP_HOLDERS:
		if (parse_choice(v, "report", "kill", &c->mmap_kill))
			perr(p, "mmap_holders '%s' is not 'report' (name the "
			     "processes with files of a revoked volume "
			     "mmapped, the default) or 'kill' (SIGKILL them)",
			     v);
		break;
	}
}

/* allow_keys = PATTERN[, PATTERN...]: fnmatch() patterns of key references. */
static void add_allow_keys(struct parser *p, struct cmek_config_provider *sec,
			   const char *v)
{
	char *list = strdup(v), *save = NULL, *tok, **n;

	if (!list) {
		perr(p, "out of memory");
		return;
	}
	for (tok = strtok_r(list, ", \t", &save); tok;
	     tok = strtok_r(NULL, ", \t", &save)) {
		n = realloc(sec->allow_keys,
			    (sec->nallow_keys + 1) * sizeof(*n));
		if (!n || !(n[sec->nallow_keys] = strdup(tok))) {
			if (n)
				sec->allow_keys = n;
			perr(p, "out of memory");
			break;
		}
		sec->allow_keys = n;
		sec->nallow_keys++;
	}
	free(list);
}

static void provider_line(struct parser *p, const char *key, const char *v)
{
	struct cmek_config_provider *sec = p->cur;
	char abspath[PATH_MAX], why[PATH_MAX + 200];
	unsigned int flags = setting_flags(sec->name, key);
	struct cmek_error err = { 0 };

	if (flags & CMEK_SETTING_SECRET_FILE) {
		if (v[0] != '/' && p->dir) {
			snprintf(abspath, sizeof(abspath), "%s/%s", p->dir, v);
			v = abspath;
		}
		if (cmek_check_secret_file(v, p->opts->owner_uid, why,
					   sizeof(why))) {
			perr(p, "%s", why);
			return;
		}
	} else if ((flags & CMEK_SETTING_SECRET) && (p->st.st_mode & 077)) {
		perr(p, "'%s' holds a secret but %s has mode %04o: chmod 600 "
		     "%s, or put the secret in a 0600 file and use %s_file",
		     key, p->path, (unsigned)(p->st.st_mode & 07777), p->path,
		     key);
		return;
	}
	if (!strcmp(key, "allow_keys")) {
		add_allow_keys(p, sec, v);
		return;
	}
	if (!strcmp(key, "key_dir"))
		sec->has_key_dir = true;
	if (!sec->prov)
		return;
	if (!sec->prov->ops->configure) {
		perr(p, "provider %s takes no settings, but '%s' was given",
		     sec->name, key);
		return;
	}
	if (sec->prov->ops->configure(sec->prov, key, v, &err))
		perr(p, "[provider %s] %s: %s", sec->name, key,
		     err.msg[0] ? err.msg : "rejected by the provider");
}

static void parse_line(struct parser *p, char *raw)
{
	char *s = cmek_trim(raw), *eq, *key, *val;
	size_t n;

	if (!*s || *s == '#' || *s == ';')
		return;
	if (*s == '[') {
		section_header(p, s);
		return;
	}
	eq = strchr(s, '=');
	if (!eq) {
		perr(p, "expected 'key = value' or a [section] header, got '%.60s'",
		     s);
		return;
	}
	*eq = '\0';
	key = cmek_trim(s);
	val = cmek_trim(eq + 1);
	if (!*key) {
		perr(p, "missing key before '='");
		return;
	}
	for (n = 0; key[n]; n++)
		if (!isalnum((unsigned char)key[n]) && key[n] != '_' &&
		    key[n] != '-' && key[n] != '.') {
			perr(p, "bad key name '%.60s': use letters, digits, "
			     "'_', '-' and '.'", key);
			return;
		}
	n = strlen(val);
	if (n >= 2 && ((val[0] == '"' && val[n - 1] == '"') ||
		       (val[0] == '\'' && val[n - 1] == '\''))) {
		val[n - 1] = '\0';
		val++;
	} else if (n && (val[0] == '"' || val[0] == '\'')) {
		perr(p, "unterminated quoted value for '%s'", key);
		return;
	}
	if (!*val) {
		perr(p, "empty value for '%s'", key);
		return;
	}
	switch (p->sec) {
	case SEC_NONE:
		perr(p, "'%s' is outside any section: put it under [daemon] "
		     "or [provider NAME]", key);
		break;
	case SEC_DAEMON:
		daemon_line(p, key, val);
		break;
	case SEC_PROVIDER:
		provider_line(p, key, val);
		break;
	case SEC_BAD:
		/* The header was already reported; stay quiet. */
		break;
	}
}

static void configure_local_default(struct cmek_config *c,
				    struct cmek_config_provider *sec,
				    struct parser *p)
{
	struct cmek_error err = { 0 };

	if (!sec->prov || sec->has_key_dir || strcmp(sec->name, "local") ||
	    !sec->prov->ops->configure)
		return;
	if (sec->prov->ops->configure(sec->prov, "key_dir", c->key_dir, &err)) {
		if (p) {
			p->line = sec->line;
			perr(p, "[provider local] key_dir %s (from [daemon] "
			     "key_dir): %s", c->key_dir, err.msg);
		}
	}
}

int cmek_config_load(struct cmek_config *c, const char *path, bool must_exist,
		     const struct cmek_config_opts *opts,
		     cmek_config_report_fn report, void *ctx)
{
	static const struct cmek_config_opts defopts;
	struct parser p = {
		.c = c, .opts = opts ? opts : &defopts, .report = report,
		.ctx = ctx, .path = path, .sec = SEC_NONE,
	};
	char line[CMEK_CONFIG_MAX_LINE + 2], why[512] = "";
	char *slash;
	FILE *f;
	size_t i;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT && !must_exist)
			return 0;
		perr(&p, "cannot open: %s", strerror(errno));
		return p.errors;
	}
	if (fstat(fd, &p.st) < 0) {
		perr(&p, "cannot stat: %s", strerror(errno));
		close(fd);
		return p.errors;
	}
	if (cmek_check_admin_file(&p.st, path, p.opts->owner_uid, why,
				  sizeof(why)) == -EINVAL) {
		perr(&p, "%s", why);
		close(fd);
		return p.errors;
	} else if (why[0]) {
		perr(&p, "%s", why);
	}
	f = fdopen(fd, "r");
	if (!f) {
		perr(&p, "%s", strerror(errno));
		close(fd);
		return p.errors;
	}
	free(c->path);
	c->path = strdup(path);
	p.dir = strdup(path);
	slash = p.dir ? strrchr(p.dir, '/') : NULL;
	if (slash && slash != p.dir)
		*slash = '\0';
	else if (slash)
		slash[1] = '\0';
	else {
		free(p.dir);
		p.dir = strdup(".");
	}

	while (fgets(line, sizeof(line), f)) {
		size_t n = strlen(line);

		p.line++;
		if (n && line[n - 1] != '\n' && !feof(f)) {
			int ch;

			perr(&p, "line longer than %d bytes",
			     CMEK_CONFIG_MAX_LINE);
			while ((ch = fgetc(f)) != EOF && ch != '\n')
				;
			continue;
		}
		if (memchr(line, '\0', n) != NULL && strlen(line) != n) {
			perr(&p, "NUL byte in line");
			continue;
		}
		parse_line(&p, line);
	}
	if (ferror(f)) {
		p.line = 0;
		perr(&p, "read error: %s", strerror(errno));
	}
	fclose(f);
	for (i = 0; i < c->nproviders; i++)
		configure_local_default(c, &c->providers[i], &p);
	free(p.dir);
	return p.errors;
}

struct cmek_provider *cmek_config_provider(struct cmek_config *c,
					   const char *name,
					   struct cmek_error *err)
{
	struct cmek_config_provider *sec = find_section(c, name);

	if (sec && sec->prov)
		return sec->prov;
	if (!cmek_provider_lookup(name)) {
		char known[256];

		known_providers(known, sizeof(known));
		cmek_error_set(err, CMEK_ERR_INVALID,
			       "unknown provider '%s' (known: %s)", name, known);
		return NULL;
	}
	if (!sec && strcmp(name, "local")) {
		cmek_error_set(err, CMEK_ERR_INVALID, "provider '%s' has no "
			       "[provider %s] section in %s: this host is not "
			       "set up to use it", name, name,
			       c->path ? c->path : "the configuration");
		return NULL;
	}
	if (!sec) {
		sec = add_section(c, name, 0);
		if (!sec) {
			cmek_error_set(err, CMEK_ERR_INVALID, "out of memory");
			return NULL;
		}
	}
	sec->prov = cmek_provider_new(name, err);
	if (!sec->prov)
		return NULL;
	configure_local_default(c, sec, NULL);
	return sec->prov;
}

int cmek_config_key_trusted(const struct cmek_config *c, const char *provider,
			    const char *key_ref, struct cmek_error *err)
{
	const struct cmek_config_provider *sec = NULL;
	size_t i;

	for (i = 0; i < c->nproviders && !sec; i++)
		if (!strcmp(c->providers[i].name, provider))
			sec = &c->providers[i];
	if (!sec && !strcmp(provider, "local"))
		return 0;
	if (!sec) {
		cmek_error_set(err, CMEK_ERR_INVALID, "provider '%s' has no "
			       "[provider %s] section: this host does not "
			       "trust its keys", provider, provider);
		return -EPERM;
	}
	if (!sec->nallow_keys)
		return 0;
	for (i = 0; i < sec->nallow_keys; i++)
		if (!fnmatch(sec->allow_keys[i], key_ref, 0))
			return 0;
	cmek_error_set(err, CMEK_ERR_INVALID, "key '%.300s' is not in "
		       "allow_keys of [provider %s]: this host does not trust "
		       "it", key_ref, provider);
	return -EPERM;
}
