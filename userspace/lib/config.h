/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cmekd.conf parser. Format and every key: Documentation/admin-guide/cmekd.rst.
 *
 *   # comment                ; comment
 *   [daemon]
 *   socket = /run/cmek/cmekd.sock
 *   check_interval = 30s
 *   [provider local]
 *   key_dir = /etc/cmek/keys
 *
 * Every line of a [provider NAME] section goes to that provider's
 * configure() as it is read, so a provider's complaint is reported with the
 * file and line too. Parsing does not stop at the first error: every bad
 * line is reported through the report callback as "FILE:LINE: message".
 */
#ifndef CMEK_CONFIG_H
#define CMEK_CONFIG_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "provider.h"
#include "slot_policy.h"

#define CMEK_CONFIG_DEFAULT_PATH	"/etc/cmek/cmekd.conf"
#define CMEK_CONFIG_DEFAULT_KEY_DIR	"/etc/cmek/keys"
#define CMEK_CONFIG_DEFAULT_STATE_DIR	"/run/cmek"
#define CMEK_CONFIG_DEFAULT_TRUST_DIR	"/var/lib/cmek/trust"
#define CMEK_CONFIG_MAX_LINE		4096

struct cmek_config_provider {
	char *name;			/* "local", "aws-kms", ... */
	int line;			/* of the [provider NAME] header; 0 if implicit */
	bool has_key_dir;		/* section set key_dir itself */
	char **allow_keys;		/* fnmatch() patterns; none: any */
	size_t nallow_keys;
	struct cmek_provider *prov;	/* init()ed and configure()d */
};

struct cmek_config {
	char *path;			/* file read, NULL if none */
	/* [daemon] */
	char *socket;			/* default cmek_ipc_socket_path() */
	char *state_dir;		/* default /run/cmek */
	char *trust_dir;		/* default /var/lib/cmek/trust */
	bool legacy_refuse;		/* legacy_headers = refuse */
	char *key_dir;			/* default for the local provider */
	unsigned int check_interval;	/* seconds, 0 = no watch; default 30 */
	long unreachable_grace;		/* seconds; -1 = never lock (default) */
	long rewrap_interval;		/* seconds; 0 = no automatic rewrap */
	int log_level;			/* syslog priority; default LOG_INFO */
	unsigned int key_wait_ms;	/* table option for mappings; default 0 */
	bool allow_discards;		/* table option; default false */
	enum cmek_slot_policy slot_policy; /* lock across key slots; default any */
	bool fs_keep;			/* fs_on_revoke = keep (default shutdown) */
	bool mmap_kill;			/* mmap_holders = kill (default report) */
	/* [provider NAME] sections, in file order */
	struct cmek_config_provider *providers;
	size_t nproviders;
};

struct cmek_config_opts {
	/* Owner that the config and credentials files must have (0). */
	uid_t owner_uid;
	/* Do not instantiate providers (tests of the syntax only). */
	bool no_providers;
};

typedef void (*cmek_config_report_fn)(void *ctx, const char *msg);

/* Defaults for every field (no providers). */
void cmek_config_init(struct cmek_config *c);
void cmek_config_free(struct cmek_config *c);

/*
 * Read @path into @c (which cmek_config_init() prepared). A missing file is
 * an error only if @must_exist. Returns the number of errors reported
 * (0 = good config), each reported once through @report.
 */
int cmek_config_load(struct cmek_config *c, const char *path, bool must_exist,
		     const struct cmek_config_opts *opts,
		     cmek_config_report_fn report, void *ctx);

/*
 * The provider instance for @name: the one its [provider NAME] section
 * configured. The local provider needs no section (it gets key_dir from
 * [daemon]); any other without a section is refused, so that a volume
 * header cannot pick a KMS that this host was not set up to use. NULL
 * with @err set.
 */
struct cmek_provider *cmek_config_provider(struct cmek_config *c,
					   const char *name,
					   struct cmek_error *err);

/*
 * Value parsers used by the config (exported for tests and cmekctl).
 * Durations: "30", "30s", "5m", "2h", "1d"; "never"/"off" -> -1 where
 * @allow_never. Return 0 or -EINVAL.
 */
int cmek_parse_duration(const char *s, bool allow_never, long *secs);
int cmek_parse_bool(const char *s, bool *val);
/* @s without leading and trailing white space, cut in place. */
char *cmek_trim(char *s);

/*
 * A file root acts on as it stands (cmekd.conf, /etc/cmek/volumes): a
 * regular file owned by @uid that group and others cannot change. 0, or
 * -EINVAL (not a regular file) / -EPERM (owner, mode) with @why filled,
 * without the path in front.
 */
int cmek_check_admin_file(const struct stat *st, const char *path,
			  uid_t uid, char *why, size_t whylen);

/*
 * A credentials file must be a regular file owned by @uid with no access for
 * group or others (0600 or 0400). 0 or -errno with @why filled.
 */
int cmek_check_secret_file(const char *path, uid_t uid, char *why,
			   size_t whylen);
/* The same rules on an open file. */
int cmek_check_secret_fd(int fd, const char *path, uid_t uid, char *why,
			 size_t whylen);
/* Open a credentials file (no symbolic link) that passes them: fd or -errno. */
int cmek_open_secret_file(const char *path, uid_t uid, char *why,
			  size_t whylen);

/*
 * Whether this host trusts KMS key @key_ref of @provider: the provider has
 * a section (or is local) and the key matches one of the section's
 * allow_keys patterns, when it has any. 0, or -EPERM with @err set.
 */
int cmek_config_key_trusted(const struct cmek_config *c, const char *provider,
			    const char *key_ref, struct cmek_error *err);

#endif /* CMEK_CONFIG_H */
