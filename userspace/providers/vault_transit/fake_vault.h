/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A fake HashiCorp Vault / OpenBao transit secrets engine for the
 * vault-transit provider's tests, served by fakesrv. It follows the HTTP
 * API reference (website/content/api-docs/secret/transit.mdx) and the
 * behaviour of builtin/logical/transit where the reference is silent:
 *
 *   POST|PUT /v1/MOUNT/datakey/{plaintext|wrapped}/NAME  bits, context,
 *                                      associated_data, key_version, nonce
 *   POST|PUT /v1/MOUNT/encrypt/NAME    plaintext, context, associated_data
 *   POST|PUT /v1/MOUNT/decrypt/NAME    ciphertext, context, associated_data
 *   POST|PUT /v1/MOUNT/rewrap/NAME     ciphertext, context, key_version
 *                                      (no associated_data: as in Vault,
 *                                      it is ignored with a warning)
 *   GET      /v1/MOUNT/keys/NAME
 *   GET      /v1/auth/token/lookup-self    (any token the fake knows:
 *                                      Vault's default policy allows it)
 *
 * Answers are {"request_id", "lease_id", "renewable", "lease_duration",
 * "data", "wrap_info", "warnings", "auth"}; errors are {"errors": [...]}
 * with Vault's own status codes and messages: 503 "Vault is sealed", 403
 * "permission denied" (plus "invalid token" for a token Vault does not
 * know), 404 "no handler for route", 400 "encryption key not found",
 * "ciphertext or signature version is disallowed by policy (too old)",
 * "cipher: message authentication failed", "missing 'context' ...".
 *
 * Keys are AES-256-GCM with a random 96-bit nonce; the ciphertext is
 * "vault:v<N>:" base64(nonce || ciphertext || tag). A derived key's
 * per-context key is HMAC-SHA256(key, context) (Vault uses HKDF; only the
 * fake ever decrypts what it encrypted, so the KDF is its own business).
 *
 * Everything here is test-only; every symbol is prefixed fake_vault_.
 */
#ifndef CMEK_FAKE_VAULT_H
#define CMEK_FAKE_VAULT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "fakesrv.h"

#define FAKE_VAULT_KEYS_MAX	16
#define FAKE_VAULT_VERSIONS_MAX	16
#define FAKE_VAULT_TOKENS_MAX	16
#define FAKE_VAULT_NAME_MAX	128

/* What a token's policy grants ("update" or "read" on one path kind). */
enum {
	FAKE_VAULT_CAP_DATAKEY	= 1 << 0,	/* datakey/plaintext/NAME */
	FAKE_VAULT_CAP_ENCRYPT	= 1 << 1,
	FAKE_VAULT_CAP_DECRYPT	= 1 << 2,
	FAKE_VAULT_CAP_REWRAP	= 1 << 3,
	FAKE_VAULT_CAP_READ	= 1 << 4,	/* keys/NAME */
	FAKE_VAULT_CAP_ALL	= 0x1f,
	FAKE_VAULT_CAP_ROOT	= 1 << 8,	/* the root policy: any path */
};

enum fake_vault_op {
	FAKE_VAULT_OP_DATAKEY,
	FAKE_VAULT_OP_ENCRYPT,
	FAKE_VAULT_OP_DECRYPT,
	FAKE_VAULT_OP_REWRAP,
	FAKE_VAULT_OP_READ,
	FAKE_VAULT_OP_OTHER,		/* refused before routing, or no route */
	FAKE_VAULT_OPS,
};

struct fake_vault_key {
	char name[FAKE_VAULT_NAME_MAX + 1];
	bool derived;
	bool soft_deleted;		/* OpenBao's soft deletion */
	int latest;			/* versions 1..latest */
	int min_decrypt;
	long created[FAKE_VAULT_VERSIONS_MAX + 1];
	uint8_t ver[FAKE_VAULT_VERSIONS_MAX + 1][32];
};

struct fake_vault_token {
	char token[256];
	char ns[64];			/* the namespace it was issued in */
	unsigned int caps;
	char key[FAKE_VAULT_NAME_MAX + 1];	/* only this key; "" = any */
};

struct fake_vault {
	pthread_mutex_t lock;		/* the handler runs on fakesrv's thread */
	char mount[64];
	char ns[64];			/* the mount's namespace; "" = root */
	bool sealed;
	bool legacy_no_ad;		/* a Vault before 1.13 */
	struct fake_vault_key keys[FAKE_VAULT_KEYS_MAX];
	size_t nkeys;
	struct fake_vault_token tokens[FAKE_VAULT_TOKENS_MAX];
	size_t ntokens;
	unsigned long calls[FAKE_VAULT_OPS];
	/* fake_vault_answer_once() */
	int once_status;
	char *once_body;
};

void fake_vault_init(struct fake_vault *v, const char *mount, const char *ns);
void fake_vault_free(struct fake_vault *v);

/* Key management as an operator would do it; 0 or -1 (as Vault refuses). */
int fake_vault_key_add(struct fake_vault *v, const char *name, bool derived);
int fake_vault_key_rotate(struct fake_vault *v, const char *name);
/* POST keys/NAME/config min_decryption_version: at most the latest. */
int fake_vault_key_min_decrypt(struct fake_vault *v, const char *name,
			       int version);
int fake_vault_key_delete(struct fake_vault *v, const char *name);
int fake_vault_key_soft_delete(struct fake_vault *v, const char *name,
			       bool deleted);
int fake_vault_token_add(struct fake_vault *v, const char *token,
			 const char *ns, unsigned int caps, const char *key);
void fake_vault_seal(struct fake_vault *v, bool sealed);
void fake_vault_legacy(struct fake_vault *v, bool no_associated_data);

/* The next routed request gets this answer instead (malformed answers). */
void fake_vault_answer_once(struct fake_vault *v, int status,
			    const char *body);
unsigned long fake_vault_calls(struct fake_vault *v, enum fake_vault_op op);

/* The fakesrv handler; fakesrv_start(..., fake_vault_handler, v). */
void fake_vault_handler(struct fakesrv *s, const struct fake_req *rq,
			struct fake_resp *rs);

#endif /* CMEK_FAKE_VAULT_H */
