/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The "local" provider's key-encryption keys (KEKs): one file per key in the
 * key directory (default /etc/cmek/keys; env CMEK_KEY_DIR or the provider's
 * "key_dir" config line override it).
 *
 *	NAME.kek           enabled KEK, 0600, owned by the caller (root)
 *	NAME.kek.disabled  the same file, disabled: unwrap fails definitively
 *	(no file)          deleted
 *
 * File format: the 8 bytes "CMEKKEK1" followed by 32 random key bytes.
 */
#ifndef CMEK_LOCAL_H
#define CMEK_LOCAL_H

#include <stdbool.h>
#include "provider.h"

#define CMEK_LOCAL_KEY_DIR	"/etc/cmek/keys"
#define CMEK_LOCAL_NAME_MAX	64

/* The directory in effect: @configured, else $CMEK_KEY_DIR, else default. */
const char *cmek_local_key_dir(const char *configured);
/* Names: 1-64 of [A-Za-z0-9._-], not starting with '.'. */
bool cmek_local_name_valid(const char *name);

int cmek_local_kek_create(const char *dir, const char *name,
			  struct cmek_error *err);
/* Calls cb(name, enabled) for each KEK, sorted by name; count or -1. */
int cmek_local_kek_list(const char *dir,
			void (*cb)(const char *name, bool enabled, void *data),
			void *data, struct cmek_error *err);
int cmek_local_kek_set_enabled(const char *dir, const char *name,
			       bool enabled, struct cmek_error *err);
int cmek_local_kek_delete(const char *dir, const char *name,
			  struct cmek_error *err);

#endif /* CMEK_LOCAL_H */
