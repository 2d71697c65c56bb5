// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only Azure Key Vault, Entra ID token endpoint and IMDS; see
 * fake_azure.h. Request and answer shapes follow the Key Vault REST
 * reference (api-version 7.4), the Microsoft identity platform's client
 * credentials flow (v2.0 endpoint) and the IMDS managed identity endpoint.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "b64.h"
#include "fake_azure.h"

#define FAKE_AZ_API		"7.4"
#define FAKE_AZ_IMDS_API	"2018-02-01"

static const char *const fake_az_resources[] = {
	"https://vault.azure.net", "https://managedhsm.azure.net",
};

/* ---- small helpers ---- */

static void fake_az_hex(char *out, size_t bytes)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[64];
	size_t i;

	RAND_bytes(b, (int)bytes);
	for (i = 0; i < bytes; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[2 * bytes] = '\0';
}

/* Parameter @name of a query or form ("a=1&b=2"), percent-decoded. */
static bool fake_az_param(const char *s, const char *name, char *out,
			  size_t len)
{
	size_t n = strlen(name), seg, i, o;
	const char *amp, *v;

	while (s && *s) {
		amp = strchr(s, '&');
		seg = amp ? (size_t)(amp - s) : strlen(s);
		if (seg > n && !strncmp(s, name, n) && s[n] == '=') {
			v = s + n + 1;
			for (i = 0, o = 0; i < seg - n - 1 && o + 1 < len; i++) {
				int hi = -1, lo = -1;

				if (v[i] == '%' && i + 2 < seg - n - 1) {
					hi = OPENSSL_hexchar2int((unsigned char)v[i + 1]);
					lo = OPENSSL_hexchar2int((unsigned char)v[i + 2]);
				}
				if (v[i] == '+') {
					out[o++] = ' ';
				} else if (hi >= 0 && lo >= 0) {
					out[o++] = (char)(hi << 4 | lo);
					i += 2;
				} else if (v[i] == '%') {
					return false;
				} else {
					out[o++] = v[i];
				}
			}
			out[o] = '\0';
			return true;
		}
		s = amp ? amp + 1 : NULL;
	}
	return false;
}

static struct fake_azure_key *fake_az_key(struct fake_azure *fa,
					  const char *name)
{
	int i;

	for (i = 0; i < fa->nkeys; i++)
		if (!strcasecmp(fa->keys[i].name, name))
			return &fa->keys[i];
	return NULL;
}

static struct fake_azure_version *fake_az_version(struct fake_azure_key *k,
						  const char *id)
{
	int i;

	if (!id || !*id)
		return k->nv ? &k->v[k->nv - 1] : NULL;
	for (i = 0; i < k->nv; i++)
		if (!strcasecmp(k->v[i].id, id))
			return &k->v[i];
	return NULL;
}

static const char *fake_az_vault_name(struct fake_azure *fa, char *buf,
				      size_t len)
{
	const char *h = fa->vault + 8;

	snprintf(buf, len, "%.*s", (int)strcspn(h, "."), h);
	return buf;
}

static void fake_az_issue(struct fake_azure *fa, const char *aud, char *out)
{
	unsigned int i = fa->ntokens++ % FAKE_AZURE_TOKENS_MAX;
	char hex[65];

	fake_az_hex(hex, 24);
	/* Shaped like a JWT: header.payload.signature, base64url. */
	snprintf(fa->tokens[i].value, sizeof(fa->tokens[i].value),
		 "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.%s.c2lnbmF0dXJl", hex);
	snprintf(fa->tokens[i].aud, sizeof(fa->tokens[i].aud), "%s", aud);
	fa->tokens[i].exp = (long long)time(NULL) + fa->token_life;
	strcpy(out, fa->tokens[i].value);
}

static bool fake_az_canned(struct fake_azure *fa, enum fake_azure_where w,
			   const struct fake_req *rq, struct fake_resp *rs)
{
	struct fake_azure_canned *c = &fa->canned[w];
	size_t pl = strlen(rq->path), sl = strlen(fa->canned_suffix);

	if (!c->count || (w == FAKE_AZURE_VAULT && sl &&
			  (pl < sl || strcmp(rq->path + pl - sl,
					     fa->canned_suffix))))
		return false;
	c->count--;
	fake_reply(rs, c->status, "%s", c->body ? c->body : "");
	if (c->retry_after[0])
		snprintf(rs->headers, sizeof(rs->headers),
			 "Retry-After: %s\r\n", c->retry_after);
	return true;
}

/* ---- Microsoft Entra ID: POST /{tenant}/oauth2/v2.0/token ---- */

static void fake_az_aad_error(struct fake_resp *rs, int status,
			      const char *error, int code, const char *fmt,
			      ...)
	__attribute__((format(printf, 5, 6)));

static void fake_az_aad_error(struct fake_resp *rs, int status,
			      const char *error, int code, const char *fmt,
			      ...)
{
	char desc[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	fake_reply(rs, status,
		   "{\"error\":\"%s\",\"error_description\":\"AADSTS%d: %s\\r\\n"
		   "Trace ID: 6d7c5e1a-0b1c-4c2e-9d7f-2a1b3c4d5e00\\r\\n"
		   "Correlation ID: 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\\r\\n"
		   "Timestamp: 2024-05-01 10:00:00Z\",\"error_codes\":[%d],"
		   "\"timestamp\":\"2024-05-01 10:00:00Z\","
		   "\"trace_id\":\"6d7c5e1a-0b1c-4c2e-9d7f-2a1b3c4d5e00\","
		   "\"correlation_id\":\"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\","
		   "\"error_uri\":\"https://login.microsoftonline.com/error?code=%d\"}",
		   error, code, desc, code, code);
}

static void fake_az_token(struct fake_azure *fa, const struct fake_req *rq,
			  struct fake_resp *rs)
{
	char tenant[128], v[256], scope[256], tok[128];
	const char *ct = fake_header(rq, "Content-Type");
	const char *p = rq->path + 1;
	size_t i;

	snprintf(tenant, sizeof(tenant), "%.*s", (int)strcspn(p, "/"), p);
	if (strcmp(rq->method, "POST"))
		return fake_az_aad_error(rs, 400, "invalid_request", 900561,
					 "The endpoint only accepts POST requests. Received a %s request.",
					 rq->method);
	if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33) ||
	    !fake_az_param(rq->body, "grant_type", v, sizeof(v)))
		return fake_az_aad_error(rs, 400, "invalid_request", 900144,
					 "The request body must contain the following parameter: 'grant_type'.");
	if (strcmp(v, "client_credentials"))
		return fake_az_aad_error(rs, 400, "unsupported_grant_type",
					 70003, "The app requested an unsupported grant type '%.40s'.",
					 v);
	if (strcmp(tenant, fa->tenant))
		return fake_az_aad_error(rs, 400, "invalid_request", 90002,
					 "Tenant '%.60s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.",
					 tenant);
	if (!fake_az_param(rq->body, "client_id", v, sizeof(v)))
		return fake_az_aad_error(rs, 400, "invalid_request", 900144,
					 "The request body must contain the following parameter: 'client_id'.");
	if (strcmp(v, fa->client_id))
		return fake_az_aad_error(rs, 400, "unauthorized_client", 700016,
					 "Application with identifier '%.60s' was not found in the directory '%s'.",
					 v, fa->tenant);
	if (!fake_az_param(rq->body, "client_secret", v, sizeof(v)) ||
	    strcmp(v, fa->client_secret))
		return fake_az_aad_error(rs, 401, "invalid_client", 7000215,
					 "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.",
					 fa->client_id);
	if (!fake_az_param(rq->body, "scope", scope, sizeof(scope)))
		scope[0] = '\0';
	snprintf(fa->last_scope, sizeof(fa->last_scope), "%s", scope);
	for (i = 0; i < 2; i++) {
		size_t n = strlen(fake_az_resources[i]);

		if (!strncmp(scope, fake_az_resources[i], n) &&
		    !strcmp(scope + n, "/.default"))
			break;
	}
	if (i == 2)
		return fake_az_aad_error(rs, 400, "invalid_scope", 1002012,
					 "The provided value for scope %.80s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).",
					 scope);
	fake_az_issue(fa, fake_az_resources[i], tok);
	fake_reply(rs, 200,
		   "{\"token_type\":\"Bearer\",\"expires_in\":%d,"
		   "\"ext_expires_in\":%d,\"access_token\":\"%s\"}",
		   fa->token_life, fa->token_life, tok);
}

/* ---- IMDS: GET /metadata/identity/oauth2/token ---- */

static void fake_az_imds(struct fake_azure *fa, const struct fake_req *rq,
			 struct fake_resp *rs)
{
	const char *md = fake_header(rq, "Metadata");
	char v[128], res[128], cid[128], tok[128];
	long long now = (long long)time(NULL);
	size_t i;

	if (!md || strcmp(md, "true"))
		return fake_reply(rs, 400, "{\"error\":\"invalid_request\",\"error_description\":\"Required metadata header not specified\"}");
	if (strcmp(rq->method, "GET"))
		return fake_reply(rs, 405, "{\"error\":\"invalid_request\",\"error_description\":\"Method not allowed\"}");
	if (!fake_az_param(rq->query, "api-version", v, sizeof(v)) ||
	    strcmp(v, FAKE_AZ_IMDS_API))
		return fake_reply(rs, 400, "{\"error\":\"invalid_request\",\"error_description\":\"Required query variable 'api-version' is missing or not supported\"}");
	if (!fake_az_param(rq->query, "resource", res, sizeof(res)))
		res[0] = '\0';
	for (i = 0; i < 2; i++)
		if (!strcmp(res, fake_az_resources[i]))
			break;
	if (i == 2)
		return fake_reply(rs, 400, "{\"error\":\"invalid_resource\",\"error_description\":\"AADSTS500011: The resource principal named %.80s was not found in the tenant.\"}",
				  res);
	if (fake_az_param(rq->query, "client_id", cid, sizeof(cid))) {
		if (!fa->mi_client_id[0] || strcmp(cid, fa->mi_client_id))
			return fake_reply(rs, 400, "{\"error\":\"invalid_request\",\"error_description\":\"Identity not found\"}");
	} else if (!fa->mi_system) {
		return fake_reply(rs, 400, "{\"error\":\"invalid_request\",\"error_description\":\"Identity not found\"}");
	} else {
		snprintf(cid, sizeof(cid), "5b7e6a2c-0d4f-4e7a-9c3b-1a2b3c4d5e6f");
	}
	fake_az_issue(fa, fake_az_resources[i], tok);
	/* IMDS writes its numbers as strings. */
	fake_reply(rs, 200,
		   "{\"access_token\":\"%s\",\"client_id\":\"%s\","
		   "\"expires_in\":\"%d\",\"expires_on\":\"%lld\","
		   "\"ext_expires_in\":\"%d\",\"not_before\":\"%lld\","
		   "\"resource\":\"%s\",\"token_type\":\"Bearer\"}",
		   tok, cid, fa->token_life, now + fa->token_life,
		   fa->token_life, now - 300, res);
}

/* ---- Key Vault ---- */

static void fake_az_kv_error(struct fake_resp *rs, int status, const char *code,
			     const char *inner, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void fake_az_kv_error(struct fake_resp *rs, int status, const char *code,
			     const char *inner, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (inner)
		fake_reply(rs, status,
			   "{\"error\":{\"code\":\"%s\",\"message\":\"%s\","
			   "\"innererror\":{\"code\":\"%s\"}}}", code, msg, inner);
	else
		fake_reply(rs, status,
			   "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}",
			   code, msg);
}

/* 401 with the challenge Key Vault sends: where to get a token, for what. */
static void fake_az_unauthorized(struct fake_azure *fa, struct fake_resp *rs,
				 const char *msg)
{
	fake_az_kv_error(rs, 401, "Unauthorized", NULL, "%s", msg);
	snprintf(rs->headers, sizeof(rs->headers),
		 "WWW-Authenticate: Bearer authorization=\"https://login.microsoftonline.com/%s\", resource=\"%s\"\r\n",
		 fa->tenant, fa->resource);
}

static bool fake_az_authorized(struct fake_azure *fa,
			       const struct fake_req *rq, struct fake_resp *rs)
{
	const char *a = fake_header(rq, "Authorization");
	long long now = (long long)time(NULL);
	unsigned int i;

	if (!a || strncmp(a, "Bearer ", 7)) {
		fake_az_unauthorized(fa, rs, "AKV10000: Request is missing a Bearer or PoP token.");
		return false;
	}
	for (i = 0; i < FAKE_AZURE_TOKENS_MAX; i++) {
		if (!fa->tokens[i].value[0] || strcmp(fa->tokens[i].value, a + 7))
			continue;
		if (strcmp(fa->tokens[i].aud, fa->resource)) {
			fake_az_unauthorized(fa, rs, "AKV10022: Invalid audience.");
			return false;
		}
		if (fa->tokens[i].exp <= now) {
			fake_az_unauthorized(fa, rs, "AKV10032: Token has expired.");
			return false;
		}
		return true;
	}
	fake_az_unauthorized(fa, rs, "AKV10032: Token validation failed.");
	return false;
}

static const char *fake_az_op_name(unsigned int op)
{
	return op == FAKE_AZURE_OP_GET ? "get" :
	       op == FAKE_AZURE_OP_WRAP ? "wrapKey" :
	       op == FAKE_AZURE_OP_SIGN ? "sign" :
	       op == FAKE_AZURE_OP_VERIFY ? "verify" : "unwrapKey";
}

static bool fake_az_permitted(struct fake_azure *fa, unsigned int op,
			      struct fake_resp *rs)
{
	char vn[64];

	/* A network ACL refuses everything; the others, what they name. */
	if (fa->deny == FAKE_AZURE_ALLOW ||
	    (fa->deny != FAKE_AZURE_DENY_FIREWALL && !(fa->deny_ops & op)))
		return true;
	fake_az_vault_name(fa, vn, sizeof(vn));
	if (fa->deny == FAKE_AZURE_DENY_POLICY)
		fake_az_kv_error(rs, 403, "Forbidden", "ForbiddenByPolicy",
				 "The user, group or application 'appid=%s;oid=3c5d1f7e-2b4a-4c6d-8e9f-0a1b2c3d4e5f;iss=https://sts.windows.net/%s/' does not have keys %s permission on key vault '%s;location=westeurope'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287",
				 fa->client_id, fa->tenant, fake_az_op_name(op),
				 vn);
	else if (fa->deny == FAKE_AZURE_DENY_RBAC)
		fake_az_kv_error(rs, 403, "Forbidden", "ForbiddenByRbac",
				 "Caller is not authorized to perform action on resource.\\r\\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\\r\\nCaller: appid=%s\\r\\nAction: 'Microsoft.KeyVault/vaults/keys/%s'\\r\\nAssignment: (not found)\\r\\nVault: %s;location=westeurope\\r\\n",
				 fa->client_id,
				 op == FAKE_AZURE_OP_GET ? "read" :
				 op == FAKE_AZURE_OP_WRAP ? "wrap/action" :
				 op == FAKE_AZURE_OP_SIGN ? "sign/action" :
				 op == FAKE_AZURE_OP_VERIFY ? "verify/action" :
				 "unwrap/action", vn);
	else
		fake_az_kv_error(rs, 403, "Forbidden", "ForbiddenByFirewall",
				 "Client address is not authorized and caller is not a trusted service.\\r\\nClient address: 127.0.0.1\\r\\nCaller: appid=%s\\r\\nVault: %s;location=westeurope",
				 fa->client_id, vn);
	return false;
}

static void fake_az_not_found(struct fake_resp *rs, const char *name,
			      const char *version)
{
	fake_az_kv_error(rs, 404, "KeyNotFound", NULL,
			 "A key with (name/id) %s%s%s was not found in this key vault. If you recently deleted this key you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182",
			 name, version && *version ? "/" : "",
			 version ? version : "");
}

static char *fake_az_bn(EVP_PKEY *pk, const char *param)
{
	unsigned char buf[600];
	BIGNUM *bn = NULL;
	char *s = NULL;
	int n;

	if (EVP_PKEY_get_bn_param(pk, param, &bn) != 1)
		return NULL;
	n = BN_bn2bin(bn, buf);
	if (n > 0 && n <= (int)sizeof(buf))
		s = cmek_b64_encode(buf, (size_t)n, true);
	BN_free(bn);
	return s;
}

/* The KeyBundle: {"key": JsonWebKey, "attributes": KeyAttributes}. */
static void fake_az_bundle(struct fake_azure *fa, struct fake_azure_key *k,
			   struct fake_azure_version *v, struct fake_resp *rs,
			   bool deleted)
{
	char *n = fake_az_bn(v->pkey, OSSL_PKEY_PARAM_RSA_N);
	char *e = fake_az_bn(v->pkey, OSSL_PKEY_PARAM_RSA_E);
	char ops[128] = "", times[96] = "", del[384] = "";

	snprintf(ops, sizeof(ops), "\"encrypt\",\"decrypt\"%s%s%s%s",
		 k->ops & FAKE_AZURE_OP_WRAP ? ",\"wrapKey\"" : "",
		 k->ops & FAKE_AZURE_OP_UNWRAP ? ",\"unwrapKey\"" : "",
		 k->ops & FAKE_AZURE_OP_SIGN ? ",\"sign\"" : "",
		 k->ops & FAKE_AZURE_OP_VERIFY ? ",\"verify\"" : "");
	if (v->nbf)
		snprintf(times, sizeof(times), "\"nbf\":%lld,", v->nbf);
	if (v->exp)
		snprintf(times + strlen(times), sizeof(times) - strlen(times),
			 "\"exp\":%lld,", v->exp);
	if (deleted)
		snprintf(del, sizeof(del),
			 "\"recoveryId\":\"%s/deletedkeys/%s\",\"deletedDate\":1714557600,\"scheduledPurgeDate\":1722333600,",
			 fa->vault, k->name);
	fake_reply(rs, 200,
		   "{%s\"key\":{\"kid\":\"%s/keys/%s/%s\",\"kty\":\"RSA\","
		   "\"key_ops\":[%s],\"n\":\"%s\",\"e\":\"%s\"},"
		   "\"attributes\":{\"enabled\":%s,%s\"created\":1714550400,"
		   "\"updated\":1714550400,\"recoveryLevel\":\"Recoverable+Purgeable\","
		   "\"recoverableDays\":90}}",
		   del, fa->vault, k->name, v->id, ops, n ? n : "",
		   e ? e : "", v->enabled ? "true" : "false", times);
	free(n);
	free(e);
}

static int fake_az_rsa(EVP_PKEY *pk, bool enc, const unsigned char *in,
		       size_t len, unsigned char *out, size_t *out_len)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(pk, NULL);
	int ok;

	ok = c && (enc ? EVP_PKEY_encrypt_init(c) : EVP_PKEY_decrypt_init(c)) > 0 &&
	     EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) > 0 &&
	     EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256()) > 0 &&
	     EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256()) > 0 &&
	     (enc ? EVP_PKEY_encrypt(c, out, out_len, in, len) :
		    EVP_PKEY_decrypt(c, out, out_len, in, len)) > 0;
	EVP_PKEY_CTX_free(c);
	return ok ? 0 : -1;
}

/* RS256 or PS256 (RFC 7518: salt as long as the hash) over @digest. */
static int fake_az_pkey_sig(EVP_PKEY *pk, bool ps, bool sign,
			    const unsigned char *digest, unsigned char *sig,
			    size_t *sig_len)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(pk, NULL);
	int ok;

	ok = c && (sign ? EVP_PKEY_sign_init(c) : EVP_PKEY_verify_init(c)) > 0 &&
	     EVP_PKEY_CTX_set_rsa_padding(c, ps ? RSA_PKCS1_PSS_PADDING :
					  RSA_PKCS1_PADDING) > 0 &&
	     EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) > 0 &&
	     (!ps || (EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256()) > 0 &&
		      EVP_PKEY_CTX_set_rsa_pss_saltlen(c,
						       RSA_PSS_SALTLEN_DIGEST) > 0)) &&
	     (sign ? EVP_PKEY_sign(c, sig, sig_len, digest, 32) :
		     EVP_PKEY_verify(c, sig, *sig_len, digest, 32)) > 0;
	EVP_PKEY_CTX_free(c);
	return ok ? 0 : -1;
}

static unsigned char *fake_az_b64_member(struct json_object *o,
					 const char *name, size_t *len)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, name, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return cmek_b64_decode(json_object_get_string(v),
			       (size_t)json_object_get_string_len(v), true,
			       len);
}

/*
 * sign: KeySignParameters {"alg", "value": digest} in, KeyOperationResult
 * {"kid", "value": signature} out. verify: KeyVerifyParameters {"alg",
 * "digest", "value": signature} in, {"value": true|false} out.
 */
static void fake_az_signop(struct fake_azure *fa, struct fake_azure_key *k,
			   struct fake_azure_version *v, unsigned int op,
			   struct json_object *o, struct fake_resp *rs)
{
	bool sign = op == FAKE_AZURE_OP_SIGN, ps;
	unsigned char *digest = NULL, *sig = NULL, out[1024];
	size_t dl = 0, sl = 0, ol = sizeof(out);
	struct json_object *alg = NULL;
	const char *a = "";
	char *b64 = NULL;

	if (json_object_object_get_ex(o, "alg", &alg) &&
	    json_object_is_type(alg, json_type_string))
		a = json_object_get_string(alg);
	if (strcmp(a, "RS256") && strcmp(a, "PS256"))
		return fake_az_kv_error(rs, 400, "BadParameter", NULL,
					"Invalid or unsupported algorithm for this key: %.40s",
					*a ? a : "(none)");
	ps = !strcmp(a, "PS256");
	digest = fake_az_b64_member(o, sign ? "value" : "digest", &dl);
	if (!sign)
		sig = fake_az_b64_member(o, "value", &sl);
	if (!digest || dl != 32 || (!sign && !sig)) {
		fake_az_kv_error(rs, 400, "BadParameter", NULL,
				 "Invalid length of the digest, or a property missing or not base64url.");
		goto out;
	}
	if (sign) {
		if (fake_az_pkey_sig(v->pkey, ps, true, digest, out, &ol)) {
			fake_az_kv_error(rs, 500, "InternalServerError", NULL,
					 "Signing failed.");
			goto out;
		}
		fa->signs++;
		b64 = cmek_b64_encode(out, ol, true);
		fake_reply(rs, 200, "{\"kid\":\"%s/keys/%s/%s\",\"value\":\"%s\"}",
			   fa->vault, k->name, v->id, b64 ? b64 : "");
	} else {
		fa->verifies++;
		fake_reply(rs, 200, "{\"value\":%s}",
			   fake_az_pkey_sig(v->pkey, ps, false, digest, sig,
					    &sl) ? "false" : "true");
	}
out:
	free(b64);
	free(sig);
	free(digest);
}

/* KeyOperationsParameters in, KeyOperationResult out. */
static void fake_az_keyop(struct fake_azure *fa, struct fake_azure_key *k,
			  struct fake_azure_version *v, unsigned int op,
			  const struct fake_req *rq, struct fake_resp *rs)
{
	const char *opname = fake_az_op_name(op), *ct;
	struct json_object *o = NULL, *alg = NULL, *val = NULL;
	unsigned char out[1024], *in = NULL;
	long long now = (long long)time(NULL);
	size_t in_len = 0, out_len = sizeof(out);
	char *b64 = NULL;

	if (!v->enabled)
		return fake_az_kv_error(rs, 403, "Forbidden", "KeyDisabled",
					"Operation %s is not allowed on a disabled key.",
					opname);
	if (!(k->ops & op))
		return fake_az_kv_error(rs, 403, "Forbidden", NULL,
					"Operation %s is not permitted on this key.",
					opname);
	/* Outside nbf/exp only decrypt, unwrap and verify still work. */
	if ((op == FAKE_AZURE_OP_WRAP || op == FAKE_AZURE_OP_SIGN) &&
	    ((v->exp && v->exp <= now) ||
					 (v->nbf && v->nbf > now)))
		return fake_az_kv_error(rs, 403, "Forbidden", NULL,
					"Operation %s is not allowed on %s key.",
					opname, v->exp && v->exp <= now ?
					"an expired" : "a not yet valid");
	ct = fake_header(rq, "Content-Type");
	if (!ct || strncasecmp(ct, "application/json", 16))
		return fake_az_kv_error(rs, 400, "BadParameter", NULL,
					"The request content type is not supported.");
	o = json_tokener_parse(rq->body);
	if (op == FAKE_AZURE_OP_SIGN || op == FAKE_AZURE_OP_VERIFY) {
		fake_az_signop(fa, k, v, op, o, rs);
		goto out;
	}
	if (!json_object_object_get_ex(o, "alg", &alg) ||
	    !json_object_is_type(alg, json_type_string) ||
	    strcmp(json_object_get_string(alg), "RSA-OAEP-256")) {
		fake_az_kv_error(rs, 400, "BadParameter", NULL,
				 "Invalid or unsupported algorithm for this key: %.40s",
				 alg ? json_object_get_string(alg) : "(none)");
		goto out;
	}
	if (!json_object_object_get_ex(o, "value", &val) ||
	    !json_object_is_type(val, json_type_string) ||
	    !(in = cmek_b64_decode(json_object_get_string(val),
				   (size_t)json_object_get_string_len(val),
				   true, &in_len))) {
		fake_az_kv_error(rs, 400, "BadParameter", NULL,
				 "Property 'value' is missing or not base64url.");
		goto out;
	}
	if (op == FAKE_AZURE_OP_WRAP)
		fa->last_wrap_len = in_len;
	if (fake_az_rsa(v->pkey, op == FAKE_AZURE_OP_WRAP, in, in_len, out,
			&out_len)) {
		fake_az_kv_error(rs, 400, "BadParameter", NULL,
				 "The parameter is incorrect.\\r\\n");
		goto out;
	}
	if (op == FAKE_AZURE_OP_WRAP)
		fa->wraps++;
	else
		fa->unwraps++;
	b64 = cmek_b64_encode(out, out_len, true);
	fake_reply(rs, 200, "{\"kid\":\"%s/keys/%s/%s\",\"value\":\"%s\"}",
		   fa->vault, k->name, v->id, b64 ? b64 : "");
out:
	free(b64);
	free(in);
	json_object_put(o);
}

static void fake_az_vault(struct fake_azure *fa, const struct fake_req *rq,
			  struct fake_resp *rs)
{
	char seg[4][160] = { "" }, api[32];
	struct fake_azure_version *v;
	struct fake_azure_key *k;
	const char *p = rq->path;
	unsigned int op;
	int n = 0;

	snprintf(fa->last_target, sizeof(fa->last_target), "%.511s", rq->target);
	if (!fake_az_authorized(fa, rq, rs))
		return;
	if (fa->deny == FAKE_AZURE_DENY_FIREWALL)
		return (void)fake_az_permitted(fa, FAKE_AZURE_OP_ALL, rs);
	if (!fake_az_param(rq->query, "api-version", api, sizeof(api)) ||
	    strcmp(api, FAKE_AZ_API))
		return fake_az_kv_error(rs, 400, "BadParameter", NULL,
					"The specified version (%.20s) is not recognized. Consider using the latest supported version (" FAKE_AZ_API ").",
					api);
	while (*p == '/' && n < 4) {
		size_t len = strcspn(++p, "/");

		if (!len || len >= sizeof(seg[0]))
			break;
		snprintf(seg[n++], sizeof(seg[0]), "%.*s", (int)len, p);
		p += len;
	}
	if (*p)
		n = 0;
	/* deletedkeys/{name} */
	if (n == 2 && !strcmp(seg[0], "deletedkeys") &&
	    !strcmp(rq->method, "GET")) {
		k = fake_az_key(fa, seg[1]);
		if (!k || !k->deleted || k->purged)
			return fake_az_kv_error(rs, 404, "KeyNotFound", NULL,
						"Deleted Key not found: %s", seg[1]);
		return fake_az_bundle(fa, k, fake_az_version(k, NULL), rs, true);
	}
	if (n < 2 || strcmp(seg[0], "keys"))
		return fake_az_kv_error(rs, 400, "BadParameter", NULL,
					"Unknown request path.");
	/* keys/{name}[/{version}][/{op}] */
	op = FAKE_AZURE_OP_GET;
	if (n >= 3 && (!strcmp(seg[n - 1], "wrapkey") ||
		       !strcmp(seg[n - 1], "unwrapkey") ||
		       !strcmp(seg[n - 1], "sign") ||
		       !strcmp(seg[n - 1], "verify"))) {
		op = !strcmp(seg[n - 1], "wrapkey") ? FAKE_AZURE_OP_WRAP :
		     !strcmp(seg[n - 1], "sign") ? FAKE_AZURE_OP_SIGN :
		     !strcmp(seg[n - 1], "verify") ? FAKE_AZURE_OP_VERIFY :
						     FAKE_AZURE_OP_UNWRAP;
		n--;
	}
	if (n > 3 || strcmp(rq->method, op == FAKE_AZURE_OP_GET ? "GET" : "POST"))
		return fake_az_kv_error(rs, 405, "MethodNotAllowed", NULL,
					"The requested resource does not support http method '%s'.",
					rq->method);
	if (!fake_az_permitted(fa, op, rs))
		return;
	k = fake_az_key(fa, seg[1]);
	if (!k || k->deleted || k->purged)
		return fake_az_not_found(rs, seg[1], NULL);
	v = fake_az_version(k, n == 3 ? seg[2] : NULL);
	if (!v)
		return fake_az_not_found(rs, seg[1], seg[2]);
	if (op == FAKE_AZURE_OP_GET)
		return fake_az_bundle(fa, k, v, rs, false);
	fake_az_keyop(fa, k, v, op, rq, rs);
}

void fake_azure_handler(struct fakesrv *s, const struct fake_req *rq,
			struct fake_resp *rs)
{
	struct fake_azure *fa = s->data;
	enum fake_azure_where w;

	pthread_mutex_lock(&fa->lock);
	if (!strcmp(rq->path, "/metadata/identity/oauth2/token"))
		w = FAKE_AZURE_IMDS;
	else if (strstr(rq->path, "/oauth2/v2.0/token"))
		w = FAKE_AZURE_TOKEN;
	else
		w = FAKE_AZURE_VAULT;
	fa->requests[w]++;
	if (!fake_az_canned(fa, w, rq, rs)) {
		if (w == FAKE_AZURE_IMDS)
			fake_az_imds(fa, rq, rs);
		else if (w == FAKE_AZURE_TOKEN)
			fake_az_token(fa, rq, rs);
		else
			fake_az_vault(fa, rq, rs);
	}
	pthread_mutex_unlock(&fa->lock);
}

/* ---- the test's controls ---- */

int fake_azure_init(struct fake_azure *fa, const char *vault,
		    const char *tenant, const char *client_id,
		    const char *client_secret)
{
	memset(fa, 0, sizeof(*fa));
	pthread_mutex_init(&fa->lock, NULL);
	snprintf(fa->vault, sizeof(fa->vault), "%s", vault);
	snprintf(fa->resource, sizeof(fa->resource), "%s",
		 strstr(vault, ".managedhsm.") ? fake_az_resources[1] :
						  fake_az_resources[0]);
	snprintf(fa->tenant, sizeof(fa->tenant), "%s", tenant);
	snprintf(fa->client_id, sizeof(fa->client_id), "%s", client_id);
	snprintf(fa->client_secret, sizeof(fa->client_secret), "%s",
		 client_secret);
	fa->token_life = 3599;
	return 0;
}

void fake_azure_free(struct fake_azure *fa)
{
	int i, j;

	for (i = 0; i < fa->nkeys; i++)
		for (j = 0; j < fa->keys[i].nv; j++)
			EVP_PKEY_free(fa->keys[i].v[j].pkey);
	for (i = 0; i < FAKE_AZURE_NWHERE; i++)
		free(fa->canned[i].body);
	pthread_mutex_destroy(&fa->lock);
	memset(fa, 0, sizeof(*fa));
}

static int fake_az_new_version(struct fake_azure_key *k, char *version)
{
	struct fake_azure_version *v;

	if (k->nv >= FAKE_AZURE_VERSIONS_MAX)
		return -1;
	v = &k->v[k->nv];
	memset(v, 0, sizeof(*v));
	v->pkey = EVP_RSA_gen(2048);
	if (!v->pkey)
		return -1;
	fake_az_hex(v->id, 16);
	v->enabled = true;
	k->nv++;
	if (version)
		strcpy(version, v->id);
	return 0;
}

int fake_azure_key_add(struct fake_azure *fa, const char *name)
{
	struct fake_azure_key *k;
	int ret = -1;

	pthread_mutex_lock(&fa->lock);
	if (fa->nkeys < FAKE_AZURE_KEYS_MAX && !fake_az_key(fa, name)) {
		k = &fa->keys[fa->nkeys];
		memset(k, 0, sizeof(*k));
		snprintf(k->name, sizeof(k->name), "%s", name);
		k->ops = FAKE_AZURE_OP_ALL;
		ret = fake_az_new_version(k, NULL);
		if (!ret)
			fa->nkeys++;
	}
	pthread_mutex_unlock(&fa->lock);
	return ret;
}

/* The key @name with fa->lock held, or NULL (and not held). */
static struct fake_azure_key *fake_az_lock_key(struct fake_azure *fa,
					       const char *name)
{
	struct fake_azure_key *k;

	pthread_mutex_lock(&fa->lock);
	k = fake_az_key(fa, name);
	if (!k)
		pthread_mutex_unlock(&fa->lock);
	return k;
}

int fake_azure_key_rotate(struct fake_azure *fa, const char *name,
			  char *version)
{
	struct fake_azure_key *k = fake_az_lock_key(fa, name);
	int ret;

	if (!k)
		return -1;
	ret = fake_az_new_version(k, version);
	pthread_mutex_unlock(&fa->lock);
	return ret;
}

int fake_azure_key_version(struct fake_azure *fa, const char *name, int idx,
			   char *buf)
{
	struct fake_azure_key *k = fake_az_lock_key(fa, name);
	int ret = -1;

	if (!k)
		return -1;
	if (idx < 0)
		idx = k->nv - 1;
	if (idx < k->nv) {
		strcpy(buf, k->v[idx].id);
		ret = 0;
	}
	pthread_mutex_unlock(&fa->lock);
	return ret;
}

int fake_azure_key_enable(struct fake_azure *fa, const char *name,
			  const char *version, bool enabled)
{
	struct fake_azure_key *k = fake_az_lock_key(fa, name);
	int i;

	if (!k)
		return -1;
	for (i = 0; i < k->nv; i++)
		if (!version || !strcmp(version, k->v[i].id))
			k->v[i].enabled = enabled;
	pthread_mutex_unlock(&fa->lock);
	return 0;
}

int fake_azure_key_window(struct fake_azure *fa, const char *name,
			  long long nbf, long long exp)
{
	struct fake_azure_key *k = fake_az_lock_key(fa, name);

	if (!k)
		return -1;
	k->v[k->nv - 1].nbf = nbf;
	k->v[k->nv - 1].exp = exp;
	pthread_mutex_unlock(&fa->lock);
	return 0;
}

int fake_azure_key_ops(struct fake_azure *fa, const char *name,
		       unsigned int ops)
{
	struct fake_azure_key *k = fake_az_lock_key(fa, name);

	if (!k)
		return -1;
	k->ops = ops;
	pthread_mutex_unlock(&fa->lock);
	return 0;
}

int fake_azure_key_delete(struct fake_azure *fa, const char *name)
{
	struct fake_azure_key *k = fake_az_lock_key(fa, name);

	if (!k)
		return -1;
	k->deleted = true;
	pthread_mutex_unlock(&fa->lock);
	return 0;
}

int fake_azure_key_recover(struct fake_azure *fa, const char *name)
{
	struct fake_azure_key *k = fake_az_lock_key(fa, name);
	int ret = -1;

	if (!k)
		return -1;
	if (!k->purged) {
		k->deleted = false;
		ret = 0;
	}
	pthread_mutex_unlock(&fa->lock);
	return ret;
}

int fake_azure_key_purge(struct fake_azure *fa, const char *name)
{
	struct fake_azure_key *k = fake_az_lock_key(fa, name);

	if (!k)
		return -1;
	k->deleted = true;
	k->purged = true;
	pthread_mutex_unlock(&fa->lock);
	return 0;
}

void fake_azure_deny(struct fake_azure *fa, enum fake_azure_deny mode,
		     unsigned int ops)
{
	pthread_mutex_lock(&fa->lock);
	fa->deny = mode;
	fa->deny_ops = ops;
	pthread_mutex_unlock(&fa->lock);
}

void fake_azure_canned(struct fake_azure *fa, enum fake_azure_where where,
		       int status, const char *body, const char *retry_after,
		       unsigned int count)
{
	struct fake_azure_canned *c = &fa->canned[where];

	pthread_mutex_lock(&fa->lock);
	free(c->body);
	c->body = body ? strdup(body) : NULL;
	c->status = status;
	c->count = count;
	snprintf(c->retry_after, sizeof(c->retry_after), "%s",
		 retry_after ? retry_after : "");
	pthread_mutex_unlock(&fa->lock);
}

void fake_azure_token_life(struct fake_azure *fa, int secs)
{
	pthread_mutex_lock(&fa->lock);
	fa->token_life = secs;
	pthread_mutex_unlock(&fa->lock);
}

void fake_azure_revoke_tokens(struct fake_azure *fa)
{
	pthread_mutex_lock(&fa->lock);
	for (int i = 0; i < FAKE_AZURE_TOKENS_MAX; i++)
		fa->tokens[i].exp = 0;
	pthread_mutex_unlock(&fa->lock);
}

void fake_azure_identity(struct fake_azure *fa, bool system,
			 const char *user_client_id)
{
	pthread_mutex_lock(&fa->lock);
	fa->mi_system = system;
	snprintf(fa->mi_client_id, sizeof(fa->mi_client_id), "%s",
		 user_client_id ? user_client_id : "");
	pthread_mutex_unlock(&fa->lock);
}

unsigned long fake_azure_requests(struct fake_azure *fa,
				  enum fake_azure_where where)
{
	unsigned long n;

	pthread_mutex_lock(&fa->lock);
	n = fa->requests[where];
	pthread_mutex_unlock(&fa->lock);
	return n;
}

bool fake_azure_token_issued(struct fake_azure *fa, const char *s)
{
	bool found = false;

	pthread_mutex_lock(&fa->lock);
	for (int i = 0; i < FAKE_AZURE_TOKENS_MAX && !found; i++)
		found = fa->tokens[i].value[0] && !strcmp(fa->tokens[i].value, s);
	pthread_mutex_unlock(&fa->lock);
	return found;
}

void fake_azure_canned_path(struct fake_azure *fa, const char *suffix)
{
	pthread_mutex_lock(&fa->lock);
	snprintf(fa->canned_suffix, sizeof(fa->canned_suffix), "%s",
		 suffix ? suffix : "");
	pthread_mutex_unlock(&fa->lock);
}
