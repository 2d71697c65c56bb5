/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A fake Google Cloud KMS for test_gcp_kms.c, served by
 * fakesrv: the v1 REST calls cmek uses, as the API reference describes
 * them, with real cryptography so that the provider's mistakes show.
 *
 *   POST /token                          OAuth2 JWT bearer grant (RFC 7523):
 *                                        RS256 signature checked against the
 *                                        service account's public key, and
 *                                        iss, aud, scope, iat, exp
 *   GET  /v1/{key}                       CryptoKey, with its primary version
 *   GET  /v1/{key}/cryptoKeyVersions/{n} CryptoKeyVersion, with its state
 *   POST /v1/{key}:encrypt               AES-256-GCM under the primary
 *   POST /v1/{key}:decrypt               version's own key, the request's
 *                                        AAD authenticated; CRC32C fields
 *                                        checked and returned
 *   GET  /computeMetadata/v1/instance/service-accounts/default/token
 *                                        (fake_gcp_metadata, plain HTTP)
 *
 * Errors are google.rpc.Status bodies {"error": {"code", "message",
 * "status"}} with the HTTP status the API maps each code to; the token
 * endpoint answers {"error", "error_description"} as Google's does.
 * Both handlers take the same struct fake_gcp as fakesrv data and may run
 * in two server threads at once.
 */
#ifndef CMEK_FAKE_GCP_H
#define CMEK_FAKE_GCP_H

#include <stdbool.h>

#include "fakesrv.h"

struct fake_gcp;

/* Damage the next answers of the KMS, for the integrity checks. */
enum fake_gcp_corruption {
	FAKE_GCP_CORRUPT_PLAINTEXT,	/* decrypt: a plaintext byte flipped */
	FAKE_GCP_CORRUPT_CIPHERTEXT_CRC, /* encrypt: ciphertextCrc32c + 1 */
	FAKE_GCP_DROP_VERIFIED,		/* encrypt: verified...Crc32c false */
};

struct fake_gcp_stats {
	unsigned long token_requests;	/* POST /token, good or bad */
	unsigned long tokens_issued;	/* by /token and the metadata server */
	unsigned long metadata_requests;
	unsigned long encrypts, decrypts, gets; /* that reached the key */
	unsigned long unauthenticated;	/* 401s answered */
	char last_jwt_error[160];	/* why the last assertion was refused */
	char last_aad[128];		/* AAD of the last encrypt/decrypt */
};

struct fake_gcp *fake_gcp_new(void);
void fake_gcp_free(struct fake_gcp *f);

/*
 * Write a service-account key file (0600) for @email whose token_uri is
 * @token_uri. With @trusted the fake keeps the public key and accepts
 * the account's assertions; otherwise the file holds a key the fake has
 * never seen (a revoked or foreign key). 0 or -1.
 */
int fake_gcp_write_sa(struct fake_gcp *f, const char *path,
		      const char *token_uri, const char *email, bool trusted);

/* A symmetric ENCRYPT_DECRYPT key with version 1 ENABLED and primary. */
int fake_gcp_add_key(struct fake_gcp *f, const char *name);
/* A new ENABLED version, made primary if @primary; its number or -1. */
int fake_gcp_add_version(struct fake_gcp *f, const char *name, bool primary);
/* Version @version's state ("DISABLED", "DESTROYED", ...); 0 = primary. */
int fake_gcp_set_state(struct fake_gcp *f, const char *name, int version,
		       const char *state);
/* Make @version primary; 0 removes the primary. */
int fake_gcp_set_primary(struct fake_gcp *f, const char *name, int version);
/* PERMISSION_DENIED on every call for the key (IAM binding removed). */
int fake_gcp_deny(struct fake_gcp *f, const char *name, bool deny);

/* expires_in of the tokens issued from now on (default 3600). */
void fake_gcp_token_ttl(struct fake_gcp *f, int secs);
/* Every token issued so far stops working (revoked, or expired early). */
void fake_gcp_expire_tokens(struct fake_gcp *f);
/* Refuse every bearer token, new ones too (401 UNAUTHENTICATED). */
void fake_gcp_reject_tokens(struct fake_gcp *f, bool reject);
/* The metadata server has no service account (404). */
void fake_gcp_metadata_no_sa(struct fake_gcp *f, bool none);

void fake_gcp_corrupt(struct fake_gcp *f, enum fake_gcp_corruption what,
		      unsigned int count);
/* Answer the next @count KMS calls (not /token) with @status and @body. */
void fake_gcp_canned(struct fake_gcp *f, int status, const char *body,
		     unsigned int count);

void fake_gcp_stats(struct fake_gcp *f, struct fake_gcp_stats *st);

void fake_gcp_handler(struct fakesrv *s, const struct fake_req *rq,
		      struct fake_resp *rs);
void fake_gcp_metadata(struct fakesrv *s, const struct fake_req *rq,
		       struct fake_resp *rs);

#endif /* CMEK_FAKE_GCP_H */
