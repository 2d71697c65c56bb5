/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cmekctl internals shared between its files: one file per concern
 * (main.c dispatch and usage, key.c raw kernel keys, volume.c volume
 * commands through cmekd, kek.c local KEKs, dm.c libdevmapper, util.c
 * secrets/prompts/errors, out.c JSON and table output).
 *
 * Exit codes: 0 success, 1 error, 2 usage.
 */
#ifndef CMEKCTL_H
#define CMEKCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "nl.h"
#include "nl-priv.h"	/* cmek_nl_open_strerror */

#define EXIT_OK		0
#define EXIT_ERR	1
#define EXIT_USAGE	2

#define CMEK_DEFAULT_SOCKET "/run/cmek/cmekd.sock"

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;	/* arguments, after "cmekctl NAME" */
	const char *help;	/* one line */
};

/* main.c */
extern const struct cmd cmekctl_cmds[];
int usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void print_cmd_usage(const char *cmd, int fd);

/* util.c */
void err_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void info_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Key bytes in locked memory (secmem.h), @len of them; wiped on free. */
struct secbuf {
	uint8_t *p;
	size_t len;
};
int secbuf_alloc(struct secbuf *b, size_t cap);
void secbuf_free(struct secbuf *b);

/*
 * Read a key from @file ("-" or NULL = stdin): raw 32/64 bytes, or with
 * @hex 64/128 hex digits (whitespace ignored). Prints the error itself.
 */
int read_key(const char *file, bool hex, struct secbuf *key);
/* Decode hex text (whitespace ignored) into @out; -1 if malformed. */
int hex_decode(const char *in, size_t in_len, uint8_t *out, size_t cap,
	       size_t *out_len);

/* Ask "prompt [y/N]" on the terminal; true only for y/yes. */
bool confirm(const char *prompt);

/* Open netlink, printing a clear message on failure. */
int nl_open_or_explain(struct cmek_nl **nl);
/* Print why a key operation failed (errno + kernel extack). */
void nl_explain(const char *what, const struct cmek_nl *nl, int err,
		const char *uuid_s);

const char *daemon_socket(void);

/* out.c */
void json_print(struct json_object *o);
struct json_object *key_info_json(const struct cmek_key_info *ki);
/* Human-readable byte count, e.g. "16 MiB". */
const char *human_size(uint64_t bytes, char *buf, size_t len);

/* dm.c */
void dm_setup(void);
struct dm_cmek_dev {
	char name[128];
	char uuid[CMEK_UUID_STR_LEN];	/* volume uuid, from the table */
	char device[256];	/* backing device, from the table */
	char dm_uuid[130];	/* the dm device's own uuid, may be "" */
	uint32_t major, minor;
	bool suspended;
	char status[512];	/* target status line */
	char table[1024];	/* target params */
};
/* 0, -ENOENT (no such dm device), -EINVAL (not a cmek device), -errno. */
int dm_cmek_lookup(const char *name, struct dm_cmek_dev *d);
/* All cmek mappings; *n entries malloc()ed into *out. */
int dm_cmek_list(struct dm_cmek_dev **out, size_t *n);

/* commands */
int cmd_key(int argc, char **argv);
int cmd_format(int argc, char **argv);
int cmd_open(int argc, char **argv);
int cmd_close(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_revoke(int argc, char **argv);
int cmd_shred(int argc, char **argv);
int cmd_rewrap(int argc, char **argv);
int cmd_rekey_kek(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_slot(int argc, char **argv);
int cmd_upgrade(int argc, char **argv);
int cmd_slot_list(int argc, char **argv);	/* dump.c */
int cmd_kek(int argc, char **argv);
int cmd_ping(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_open_listed(int argc, char **argv);

#endif /* CMEKCTL_H */
