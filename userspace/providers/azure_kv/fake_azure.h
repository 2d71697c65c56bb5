/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Test-only Azure for the azure-kv provider, as a fakesrv handler:
 *
 *  - Microsoft Entra ID's token endpoint, POST /{tenant}/oauth2/v2.0/token
 *    (client credentials grant, form encoded, scope RESOURCE/.default),
 *    with Entra's error bodies ({"error", "error_description": "AADSTS..."});
 *  - the instance metadata service's managed identity endpoint, GET
 *    /metadata/identity/oauth2/token (plain HTTP, "Metadata: true");
 *  - Key Vault's keys API, api-version 7.4: GET keys/{name}[/{version}],
 *    POST keys/{name}/{version}/wrapkey and unwrapkey with real
 *    RSA-OAEP-256 per key version, POST keys/{name}[/{version}]/sign and
 *    verify (RS256, PS256 over a SHA-256 digest), GET deletedkeys/{name},
 *    and the error bodies {"error": {"code", "message", "innererror":
 *    {"code"}}}.
 *
 * One struct fake_azure may serve an HTTPS fakesrv (token + vault) and a
 * plain one (IMDS) at once: pass it as both servers' data. The test drives
 * the state between calls through the functions below (all take fa->lock).
 */
#ifndef CMEK_FAKE_AZURE_H
#define CMEK_FAKE_AZURE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "fakesrv.h"

#define FAKE_AZURE_KEYS_MAX	8
#define FAKE_AZURE_VERSIONS_MAX	6
#define FAKE_AZURE_TOKENS_MAX	32

/* Key operations, for key_ops and for permission denial. */
#define FAKE_AZURE_OP_GET	1u
#define FAKE_AZURE_OP_WRAP	2u
#define FAKE_AZURE_OP_UNWRAP	4u
#define FAKE_AZURE_OP_SIGN	8u
#define FAKE_AZURE_OP_VERIFY	16u
#define FAKE_AZURE_OP_ALL	31u

enum fake_azure_deny {
	FAKE_AZURE_ALLOW,
	FAKE_AZURE_DENY_POLICY,		/* access policy: ForbiddenByPolicy */
	FAKE_AZURE_DENY_RBAC,		/* role assignment: ForbiddenByRbac */
	FAKE_AZURE_DENY_FIREWALL,	/* network ACL: ForbiddenByFirewall */
};

/* Which endpoint a canned answer or a counter is about. */
enum fake_azure_where {
	FAKE_AZURE_VAULT,
	FAKE_AZURE_TOKEN,
	FAKE_AZURE_IMDS,
	FAKE_AZURE_NWHERE,
};

struct fake_azure_version {
	char id[33];
	void *pkey;			/* EVP_PKEY, RSA-2048 */
	bool enabled;
	long long nbf, exp;		/* Unix seconds, 0 = unset */
};

struct fake_azure_key {
	char name[128];
	struct fake_azure_version v[FAKE_AZURE_VERSIONS_MAX];
	int nv;				/* v[nv - 1] is the current version */
	unsigned int ops;		/* key_ops, FAKE_AZURE_OP_* */
	bool deleted;			/* soft-deleted: only deletedkeys/ */
	bool purged;
};

struct fake_azure_canned {
	int status;
	char *body;
	char retry_after[16];
	unsigned int count;
};

struct fake_azure {
	pthread_mutex_t lock;
	char vault[128];		/* "https://NAME.vault.azure.net" */
	char resource[64];		/* the audience its tokens must carry */
	char tenant[64];
	char client_id[64];
	char client_secret[128];
	bool mi_system;			/* IMDS: system-assigned identity */
	char mi_client_id[64];		/* IMDS: a user-assigned one, or "" */
	int token_life;			/* seconds */

	struct {
		char value[128];
		char aud[64];
		long long exp;
	} tokens[FAKE_AZURE_TOKENS_MAX];
	unsigned int ntokens;		/* issued so far (ring) */

	struct fake_azure_key keys[FAKE_AZURE_KEYS_MAX];
	int nkeys;
	enum fake_azure_deny deny;
	unsigned int deny_ops;

	struct fake_azure_canned canned[FAKE_AZURE_NWHERE];
	char canned_suffix[32];		/* vault answers canned only here */

	/* what the provider did, for asserts */
	unsigned long requests[FAKE_AZURE_NWHERE];
	unsigned long wraps, unwraps, signs, verifies;
	size_t last_wrap_len;		/* plaintext bytes of the last wrap */
	char last_scope[128];		/* of the last token request */
	char last_target[512];		/* of the last vault request */
};

int fake_azure_init(struct fake_azure *fa, const char *vault,
		    const char *tenant, const char *client_id,
		    const char *client_secret);
void fake_azure_free(struct fake_azure *fa);
/* The fakesrv handler; s->data is the struct fake_azure. */
void fake_azure_handler(struct fakesrv *s, const struct fake_req *rq,
			struct fake_resp *rs);

/* A new key with one enabled version; 0 or -1. */
int fake_azure_key_add(struct fake_azure *fa, const char *name);
/* A new current version; its id in @version (33 bytes). */
int fake_azure_key_rotate(struct fake_azure *fa, const char *name,
			  char *version);
/* The id of version @idx (-1: the current one) into @buf (33 bytes). */
int fake_azure_key_version(struct fake_azure *fa, const char *name, int idx,
			   char *buf);
/* @version NULL: every version. */
int fake_azure_key_enable(struct fake_azure *fa, const char *name,
			  const char *version, bool enabled);
/* nbf / exp of the current version, Unix seconds, 0 = unset. */
int fake_azure_key_window(struct fake_azure *fa, const char *name,
			  long long nbf, long long exp);
int fake_azure_key_ops(struct fake_azure *fa, const char *name,
		       unsigned int ops);
/* Soft delete, recover, purge. */
int fake_azure_key_delete(struct fake_azure *fa, const char *name);
int fake_azure_key_recover(struct fake_azure *fa, const char *name);
int fake_azure_key_purge(struct fake_azure *fa, const char *name);

void fake_azure_deny(struct fake_azure *fa, enum fake_azure_deny mode,
		     unsigned int ops);
/* Answer the next @count requests to @where with this, before any check. */
void fake_azure_canned(struct fake_azure *fa, enum fake_azure_where where,
		       int status, const char *body, const char *retry_after,
		       unsigned int count);
/* Canned vault answers only for paths ending in @suffix ("/sign"; NULL: any). */
void fake_azure_canned_path(struct fake_azure *fa, const char *suffix);
void fake_azure_token_life(struct fake_azure *fa, int secs);
/* Every token issued so far stops working (revoked, or expired early). */
void fake_azure_revoke_tokens(struct fake_azure *fa);
void fake_azure_identity(struct fake_azure *fa, bool system,
			 const char *user_client_id);
unsigned long fake_azure_requests(struct fake_azure *fa,
				  enum fake_azure_where where);
/* True if @s is one of the tokens issued. */
bool fake_azure_token_issued(struct fake_azure *fa, const char *s);

#endif /* CMEK_FAKE_AZURE_H */
