/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The "vault-transit" provider: HashiCorp Vault / OpenBao transit secrets
 * engine. The key reference is the transit key's name; the wrapped blob is
 * transit's ciphertext string ("vault:v<N>:<base64>") as bytes, no NUL.
 *
 * The answer parsers and the classifier are exported for the tests, which
 * feed them recorded examples from the API reference
 * (data/).
 */
#ifndef CMEK_VAULT_TRANSIT_H
#define CMEK_VAULT_TRANSIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "provider.h"

#define CMEK_VT_NAME_MAX	128	/* transit key name */
#define CMEK_VT_CT_MAX		1024	/* ciphertext string of a 64-byte DEK: ~130 */
#define CMEK_VT_TOKEN_MAX	4096	/* batch tokens run to several hundred */

extern const struct cmek_provider_ops cmek_vault_transit_ops;

/* [A-Za-z0-9_] at both ends, [A-Za-z0-9._-] between, no "..". */
bool cmek_vt_name_valid(const char *name);

/*
 * Judge a non-2xx answer (or any answer, for 2xx returns 0): -1 with @err
 * classified as in Documentation/admin-guide/cmek-providers.rst. @what
 * names the operation for the message ("decrypt with key 'k'").
 */
int cmek_vt_classify(long status, const char *body, const char *what,
		     struct cmek_error *err);

/*
 * A datakey or decrypt answer: data.plaintext, base64 of exactly @want
 * bytes (0: 32 or 64). The key goes to @dek (room for CMEK_DEK_MAX).
 * With @ct non-NULL, data.ciphertext too, malloc()ed.
 */
int cmek_vt_parse_plaintext(const char *body, size_t len, size_t want,
			    uint8_t *dek, size_t *dek_len, char **ct,
			    struct cmek_error *err);
/* An encrypt or rewrap answer: data.ciphertext, malloc()ed. */
int cmek_vt_parse_ciphertext(const char *body, size_t len, char **ct,
			     struct cmek_error *err);

struct cmek_vt_key_info {
	long latest_version;
	long min_decryption_version;
	bool derived;
	bool soft_deleted;		/* OpenBao */
	bool supports_decryption;
};

/* A read-key answer (GET keys/NAME). */
int cmek_vt_parse_key(const char *body, size_t len,
		      struct cmek_vt_key_info *ki, struct cmek_error *err);
/* The state a key read tells cmekd (see the rst for why this mapping). */
enum cmek_kms_key_state cmek_vt_key_state(const struct cmek_vt_key_info *ki);

/* The state of a slot under version @version, from a key read. */
enum cmek_kms_key_state cmek_vt_version_state(const struct cmek_vt_key_info *ki,
					      long version);
/* A slot_key() id "NAME:vN" into its parts; 0 or -1. */
int cmek_vt_slot_id_parse(const char *id, char *name, size_t name_len,
			  long *version);

/* "vault:v<N>:<base64>" with N >= 1; the version, or -1. */
long cmek_vt_ct_version(const char *ct, size_t len);

#endif /* CMEK_VAULT_TRANSIT_H */
