// SPDX-License-Identifier: GPL-2.0
/*
 * The "azure-kv" provider: Azure Key Vault and Managed HSM keys through the
 * Key Vault REST API (api-version 7.4: wrapkey, unwrapkey, get key), with
 * Microsoft Entra ID access tokens from client credentials or from the
 * instance metadata service (managed identity). Formats: azure_kv.h;
 * configuration and the error table: the azure-kv section of
 * Documentation/admin-guide/cmek-providers.rst.
 *
 * Binding. Key Vault's RSA-OAEP-256 takes no label and no AAD, so the volume
 * is bound inside the plaintext: DEK || SHA-256("cmek-dek-v1:<uuid>"),
 * checked in constant time on unwrap. OAEP is non-malleable (IND-CCA2):
 * without the private key nobody turns a ciphertext of DEK || H(volume A)
 * into one of DEK || H(volume B), so a blob copied into another volume's
 * header fails the check there. Anyone can encrypt a key of their own
 * choosing under the public key, but that only plants a key the attacker
 * already knows, which write access to the header gives anyway.
 *
 * Rewrap. Key Vault has no re-encrypt: rewrap is unwrap + wrap here, with
 * the DEK in a locked, non-dumpable page that is wiped at once.
 *
 * Plaintext hygiene: request bodies that carry a DEK, decoded buffers, the
 * JSON tokener's buffer and the json-c strings that held a key or a token
 * are wiped before they are freed (secjson.h).
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "azure_kv.h"
#include "b64.h"
#include "http.h"
#include "kit.h"
#include "secjson.h"
#include "secmem.h"

#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))

#define AKV_AUTHORITY		"https://login.microsoftonline.com"
#define AKV_IMDS		"http://169.254.169.254"
#define AKV_IMDS_API		"2018-02-01"
#define AKV_VERSION_LEN		32	/* Key Vault versions: 32 hex digits */
#define AKV_NAME_MAX		127
#define AKV_SECRET_MAX		1024
#define AKV_URL_MAX		2048
#define AKV_CT_MIN		256	/* RSA-2048 */
#define AKV_CT_MAX		512	/* RSA-4096 */
#define AKV_PAYLOAD_MAX		(CMEK_DEK_MAX + CMEK_AZURE_KV_BIND_LEN)
#define AKV_MSG_MAX		200	/* of a KMS message quoted in errors */
#define AKV_SIG_MIN		256	/* PS256 with RSA-2048 */
#define AKV_SIG_MAX		512	/* PS256 with RSA-4096 */
#define AKV_PUB_CACHE		8	/* sign_key versions whose public key is kept */

/* Vault DNS suffixes and the token audience (resource) each one wants. */
static const struct {
	const char *suffix;
	const char *resource;
} akv_clouds[] = {
	{ ".vault.azure.net", "https://vault.azure.net" },
	{ ".managedhsm.azure.net", "https://managedhsm.azure.net" },
	{ ".vault.azure.cn", "https://vault.azure.cn" },
	{ ".managedhsm.azure.cn", "https://managedhsm.azure.cn" },
	{ ".vault.usgovcloudapi.net", "https://vault.usgovcloudapi.net" },
	{ ".managedhsm.usgovcloudapi.net",
	  "https://managedhsm.usgovcloudapi.net" },
};

struct akv_ref {
	char host[128];			/* lower case, "v.vault.azure.net" */
	char name[AKV_NAME_MAX + 1];
	char version[AKV_VERSION_LEN + 1];	/* "" = the current one */
	size_t cloud;			/* index in akv_clouds */
};

enum akv_cred { AKV_CRED_AUTO, AKV_CRED_SECRET, AKV_CRED_MI };

struct akv_priv {
	struct cmek_http_opts http;
	char endpoint[256];		/* "" = https://<vault host> */
	char authority[256];		/* "" = $AZURE_AUTHORITY_HOST or default */
	char imds[128];
	char tenant[128];		/* "" = $AZURE_TENANT_ID */
	char client[128];		/* "" = $AZURE_CLIENT_ID */
	char *secret;			/* inline client_secret, wiped */
	char secret_file[512];
	enum akv_cred cred;
	struct akv_ref sign;		/* sign_key; name "" = slots unsigned */
	bool accept_unsigned;		/* unsigned_slots = accept */
	pthread_mutex_t lock;		/* over tok[] and pub[] */
	struct cmek_kit_token tok[ARRAY_SIZE(akv_clouds)];
	struct {
		char version[AKV_VERSION_LEN + 1];
		EVP_PKEY *pk;
	} pub[AKV_PUB_CACHE];		/* sign_key's public keys, by version */
	unsigned int npub;		/* filled so far (ring) */
};

/* ---- key identifiers ---- */

/* Vault and HSM names: 3-24 of a-z 0-9 -, a letter first, no "--". */
static bool vault_name_ok(const char *s, size_t n)
{
	size_t i;

	if (n < 3 || n > 24 || !islower((unsigned char)s[0]) ||
	    s[n - 1] == '-')
		return false;
	for (i = 0; i < n; i++) {
		if (!islower((unsigned char)s[i]) &&
		    !isdigit((unsigned char)s[i]) && s[i] != '-')
			return false;
		if (s[i] == '-' && s[i + 1] == '-')
			return false;
	}
	return true;
}

static bool hex_version_ok(const char *s, size_t n)
{
	size_t i;

	if (n != AKV_VERSION_LEN)
		return false;
	for (i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]) &&
		    !(s[i] >= 'a' && s[i] <= 'f'))
			return false;
	return true;
}

static int parse_ref(const char *ref, struct akv_ref *r, bool need_version,
		     struct cmek_error *err)
{
	static const char name_chars[] = "abcdefghijklmnopqrstuvwxyz"
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-";
	const char *p, *slash;
	size_t n, i, k, sl = 0;

	memset(r, 0, sizeof(*r));
	if (strncmp(ref, "https://", 8))
		goto bad;
	p = ref + 8;
	slash = strchr(p, '/');
	if (!slash || (size_t)(slash - p) >= sizeof(r->host))
		goto bad;
	n = (size_t)(slash - p);
	for (i = 0; i < n; i++)
		r->host[i] = (char)tolower((unsigned char)p[i]);
	for (k = 0; k < ARRAY_SIZE(akv_clouds); k++) {
		sl = strlen(akv_clouds[k].suffix);
		if (n > sl && !strcmp(r->host + n - sl, akv_clouds[k].suffix))
			break;
	}
	if (k == ARRAY_SIZE(akv_clouds) || !vault_name_ok(r->host, n - sl))
		goto bad;
	r->cloud = k;
	if (strncmp(slash, "/keys/", 6))
		goto bad;
	p = slash + 6;
	n = strspn(p, name_chars);
	if (!n || n > AKV_NAME_MAX)
		goto bad;
	memcpy(r->name, p, n);
	p += n;
	if (*p == '/') {
		n = strlen(++p);
		if (!hex_version_ok(p, n))
			goto bad;
		memcpy(r->version, p, n);
	} else if (*p) {
		goto bad;
	}
	if (need_version && !r->version[0])
		goto bad;
	return 0;
bad:
	return cmek_error_set(err, CMEK_ERR_INVALID,
			      "'%.300s' is not an Azure Key Vault key identifier (https://VAULT.vault.azure.net/keys/NAME[/VERSION], or HSM.managedhsm.azure.net)",
			      ref);
}

/* ---- JSON ---- */

static const char *jstr(struct json_object *o, const char *key, size_t *len)
{
	struct json_object *v = cmek_json_get(o, key, json_type_string);

	if (!v)
		return NULL;
	if (len)
		*len = (size_t)json_object_get_string_len(v);
	return json_object_get_string(v);
}

/* An integer that may come as a JSON number or a decimal string (IMDS). */
static long long jint(struct json_object *o, const char *key, bool *ok)
{
	struct json_object *v;
	const char *s;
	long long n;
	char *end;

	*ok = false;
	if (!o || !json_object_object_get_ex(o, key, &v))
		return 0;
	if (json_object_is_type(v, json_type_int)) {
		*ok = true;
		return (long long)json_object_get_int64(v);
	}
	if (!json_object_is_type(v, json_type_string))
		return 0;
	s = json_object_get_string(v);
	errno = 0;
	n = strtoll(s, &end, 10);
	*ok = !errno && end != s && !*end;
	return n;
}

/* Put "@prefix: " before the message a lower layer left in @err. */
static void err_prefix(struct cmek_error *err, const char *prefix)
{
	size_t pl = strlen(prefix), ml;

	if (!err || pl + 2 >= sizeof(err->msg))
		return;
	ml = strlen(err->msg);
	if (pl + 2 + ml >= sizeof(err->msg))
		ml = sizeof(err->msg) - 1 - pl - 2;
	memmove(err->msg + pl + 2, err->msg, ml);
	memcpy(err->msg, prefix, pl);
	memcpy(err->msg + pl, ": ", 2);
	err->msg[pl + 2 + ml] = '\0';
}

/* ---- Microsoft Entra ID tokens ---- */

/* Tenant (GUID or domain) and client (GUID) ids go into URLs and forms. */
static bool id_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	return n && n <= max &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789-._") == n && s[0] != '.';
}

static void form_escape(char *dst, const char *src)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char c;

	for (; *src; src++) {
		c = (unsigned char)*src;
		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
			*dst++ = (char)c;
		} else {
			*dst++ = '%';
			*dst++ = hex[c >> 4];
			*dst++ = hex[c & 15];
		}
	}
	*dst = '\0';
}

/* Entra ID: {"error": "invalid_client", "error_description": "AADSTS..."}. */
static int token_fail(const struct cmek_http_resp *resp, const char *who,
		      bool imds, struct cmek_error *err)
{
	struct json_object *o = cmek_kit_json_answer("azure-kv", resp->body,
						     resp->len, NULL);
	char code[64], desc[AKV_MSG_MAX];
	long st = resp->status;

	cmek_kit_clean_str(code, sizeof(code), jstr(o, "error", NULL));
	cmek_kit_clean_str(desc, sizeof(desc),
			   jstr(o, "error_description", NULL));
	json_object_put(o);
	/*
	 * IMDS: 404 while it updates, 410 while it starts: retry later. An
	 * identity provider's own refusal (invalid_client, an identity not
	 * found) is cmekd's credential, not the key: alarmed, and like any
	 * other failure to get an answer it counts toward unreachable_grace.
	 */
	if (cmek_http_status_transient(st) || (imds && (st == 404 || st == 410)) ||
	    !*code)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT,
				      "%s refused the token request: HTTP %ld%s%s%s%s",
				      who, st, *code ? " " : "", code,
				      *desc ? ": " : "", desc);
	return cmek_error_credential(err,
				     "%s refused cmekd's credential: HTTP %ld %s%s%s",
				     who, st, code, *desc ? ": " : "", desc);
}

static int token_from_secret(struct akv_priv *ap, const char *tenant,
			     const char *client, const char *resource,
			     struct cmek_kit_token *t, struct cmek_error *err)
{
	struct cmek_http_req rq = { .method = "POST" };
	struct cmek_http_resp resp = { 0 };
	char secret[AKV_SECRET_MAX], scope[128], url[AKV_URL_MAX], who[160];
	const char *authority = ap->authority, *env;
	char *form = NULL;
	size_t flen = 0;
	int ret = -1;

	secret[0] = '\0';
	env = getenv("AZURE_AUTHORITY_HOST");
	if (!*authority && env && *env) {
		if (cmek_http_endpoint_valid(env, err))
			return -1;
		authority = env;
	}
	if (!*authority)
		authority = AKV_AUTHORITY;
	if (ap->secret) {
		snprintf(secret, sizeof(secret), "%s", ap->secret);
	} else if (ap->secret_file[0]) {
		if (cmek_kit_secret_read("azure-kv", ap->secret_file, secret,
					 sizeof(secret), NULL, err))
			goto out;
	} else {
		env = getenv("AZURE_CLIENT_SECRET");
		if (!env || strlen(env) >= sizeof(secret)) {
			cmek_error_set(err, CMEK_ERR_INVALID,
				       "AZURE_CLIENT_SECRET is unset or too long");
			goto out;
		}
		snprintf(secret, sizeof(secret), "%s", env);
	}
	snprintf(scope, sizeof(scope), "%s/.default", resource);
	snprintf(who, sizeof(who), "Microsoft Entra ID (tenant %.100s)", tenant);
	if (snprintf(url, sizeof(url), "%.*s/%s/oauth2/v2.0/token",
		     (int)(strlen(authority) -
			   (authority[strlen(authority) - 1] == '/')),
		     authority, tenant) >= (int)sizeof(url)) {
		cmek_error_set(err, CMEK_ERR_INVALID, "authority URL too long");
		goto out;
	}
	flen = 96 + 3 * (strlen(client) + strlen(secret) + strlen(scope));
	form = malloc(flen);
	if (!form) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
		goto out;
	}
	strcpy(form, "grant_type=client_credentials&client_id=");
	form_escape(form + strlen(form), client);
	strcat(form, "&client_secret=");
	form_escape(form + strlen(form), secret);
	strcat(form, "&scope=");
	form_escape(form + strlen(form), scope);
	rq.url = url;
	rq.body = form;
	rq.body_len = strlen(form);
	rq.headers[rq.nheaders++] =
		"Content-Type: application/x-www-form-urlencoded";
	rq.headers[rq.nheaders++] = "Accept: application/json";
	if (cmek_http_call(&ap->http, &rq, &resp, err))
		goto out;
	if (resp.status != 200)
		token_fail(&resp, who, false, err);
	else
		ret = cmek_kit_token_take(t, who, &resp, err);
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	if (form) {
		OPENSSL_cleanse(form, flen);
		free(form);
	}
	cmek_http_resp_free(&resp);
	return ret;
}

/* Managed identity: GET .../metadata/identity/oauth2/token, "Metadata: true". */
static int token_from_imds(struct akv_priv *ap, const char *client,
			   const char *resource, struct cmek_kit_token *t,
			   struct cmek_error *err)
{
	struct cmek_http_req rq = { .method = "GET", .metadata = true };
	struct cmek_http_resp resp = { 0 };
	char res[128], cid[3 * 128 + 1], url[AKV_URL_MAX], who[256];
	int ret = -1;

	form_escape(res, resource);
	cid[0] = '\0';
	if (client)
		form_escape(cid, client);
	snprintf(url, sizeof(url),
		 "%s/metadata/identity/oauth2/token?api-version=" AKV_IMDS_API
		 "&resource=%s%s%s", ap->imds, res, *cid ? "&client_id=" : "",
		 cid);
	snprintf(who, sizeof(who),
		 "instance metadata service %s (managed identity%s%.40s)",
		 ap->imds, client ? " " : "", client ? client : "");
	rq.url = url;
	rq.headers[rq.nheaders++] = "Metadata: true";
	rq.headers[rq.nheaders++] = "Accept: application/json";
	if (cmek_http_call(&ap->http, &rq, &resp, err)) {
		/* Not on Azure, or IMDS down: say which credential was tried. */
		err_prefix(err, "no client secret configured and the instance metadata service does not answer");
		goto out;
	}
	if (resp.status != 200)
		token_fail(&resp, who, true, err);
	else
		ret = cmek_kit_token_take(t, who, &resp, err);
out:
	cmek_http_resp_free(&resp);
	return ret;
}

static int token_fetch(struct akv_priv *ap, size_t cloud, struct cmek_kit_token *t,
		       struct cmek_error *err)
{
	const char *tenant = *ap->tenant ? ap->tenant : getenv("AZURE_TENANT_ID");
	const char *client = *ap->client ? ap->client : getenv("AZURE_CLIENT_ID");
	const char *resource = akv_clouds[cloud].resource;
	const char *env = getenv("AZURE_CLIENT_SECRET");
	bool secret = ap->secret || ap->secret_file[0] || (env && *env);
	enum akv_cred cred = ap->cred;

	if (tenant && !*tenant)
		tenant = NULL;
	if (client && !*client)
		client = NULL;
	if ((tenant && !id_ok(tenant, 100)) || (client && !id_ok(client, 64)))
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "tenant or client id (from the config or AZURE_TENANT_ID/AZURE_CLIENT_ID) is not a GUID or domain");
	/*
	 * The instance's managed identity belongs to every process on it:
	 * only credential = managed_identity uses it.
	 */
	if (cred == AKV_CRED_AUTO)
		cred = AKV_CRED_SECRET;
	if (cred == AKV_CRED_MI)
		return token_from_imds(ap, client, resource, t, err);
	if ((!tenant || !client || !secret) && ap->cred == AKV_CRED_AUTO)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "no credentials: set tenant_id, client_id and client_secret_file (or AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET), or credential = managed_identity to use the VM's identity");
	if (!tenant || !client || !secret)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "credential client_secret needs tenant_id, client_id and client_secret_file (or AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET)");
	return token_from_secret(ap, tenant, client, resource, t, err);
}

/* "Authorization: Bearer <token>" into @hdr; @fresh after a 401. */
static int auth_header(struct akv_priv *ap, const struct akv_ref *r,
		       bool fresh, char *hdr, size_t len,
		       struct cmek_error *err)
{
	struct cmek_kit_token *t = &ap->tok[r->cloud];
	int ret = 0;

	pthread_mutex_lock(&ap->lock);
	if (fresh || !cmek_kit_token_fresh(t)) {
		cmek_kit_token_drop(t);
		ret = token_fetch(ap, r->cloud, t, err);
	}
	if (!ret)
		ret = cmek_kit_token_header(t, hdr, len, err);
	pthread_mutex_unlock(&ap->lock);
	return ret;
}

/* Defence in depth: no message leaves with a secret or a token in it. */
static int scrub(struct akv_priv *ap, int ret, struct cmek_error *err)
{
	const char *s[ARRAY_SIZE(akv_clouds) + 2];
	size_t i, n = 0;

	if (!ret || !err)
		return ret;
	s[n++] = ap->secret;
	s[n++] = getenv("AZURE_CLIENT_SECRET");
	pthread_mutex_lock(&ap->lock);
	for (i = 0; i < ARRAY_SIZE(akv_clouds); i++)
		s[n++] = ap->tok[i].value;
	cmek_kit_withhold(err, s, n);
	pthread_mutex_unlock(&ap->lock);
	return ret;
}

/* ---- Key Vault calls ---- */

static int kv_url(const struct akv_priv *ap, const struct akv_ref *r,
		  const char *coll, const char *version, const char *op,
		  char *url, size_t len, struct cmek_error *err)
{
	int n;

	n = snprintf(url, len, "%s%s/%s/%s%s%s%s%s?api-version="
		     CMEK_AZURE_KV_API_VERSION,
		     *ap->endpoint ? "" : "https://",
		     *ap->endpoint ? ap->endpoint : r->host, coll, r->name,
		     version && *version ? "/" : "", version ? version : "",
		     op ? "/" : "", op ? op : "");
	if (n < 0 || (size_t)n >= len)
		return cmek_error_set(err, CMEK_ERR_INVALID, "URL too long");
	return 0;
}

struct auth_ctx {
	struct akv_priv *ap;
	const struct akv_ref *r;
};

static int auth(void *ctx, bool fresh, char *hdr, size_t len,
		struct cmek_error *err)
{
	struct auth_ctx *a = ctx;

	return auth_header(a->ap, a->r, fresh, hdr, len, err);
}

/*
 * One Key Vault request, with a fresh token after a 401. 0 with whatever
 * answer came (the caller classifies it), -1 with @err if none.
 */
static int kv_call(struct akv_priv *ap, const struct akv_ref *r,
		   const char *method, const char *url, const char *body,
		   struct cmek_http_resp *resp, struct cmek_error *err)
{
	struct cmek_http_req rq = { .method = method, .url = url };
	struct auth_ctx a = { ap, r };

	rq.headers[rq.nheaders++] = "Accept: application/json";
	if (body) {
		rq.body = body;
		rq.body_len = strlen(body);
		rq.headers[rq.nheaders++] = "Content-Type: application/json";
	}
	return cmek_kit_bearer_call(&ap->http, &rq, auth, &a, resp, err);
}

/* Key Vault errors: {"error": {"code", "message", "innererror": {"code"}}}. */
struct kv_err {
	char code[64];
	char inner[64];
	char msg[AKV_MSG_MAX];
};

static bool kv_err_parse(const struct cmek_http_resp *resp, struct kv_err *e)
{
	struct json_object *o = cmek_kit_json_answer("azure-kv", resp->body,
						     resp->len, NULL);
	struct json_object *er = cmek_json_get(o, "error", json_type_object);
	struct json_object *in = cmek_json_get(er, "innererror",
					       json_type_object);

	cmek_kit_clean_str(e->code, sizeof(e->code), jstr(er, "code", NULL));
	cmek_kit_clean_str(e->inner, sizeof(e->inner), jstr(in, "code", NULL));
	cmek_kit_clean_str(e->msg, sizeof(e->msg), jstr(er, "message", NULL));
	json_object_put(o);
	return e->code[0] != '\0';
}

/*
 * Definitive only on Key Vault's own error body: {"error": {"code":
 * "Forbidden", "innererror": {"code": ...}}} or a KeyNotFound. An HTML 403
 * from a WAF or a proxy is no answer, and neither is ForbiddenByFirewall:
 * a network rule, not the key owner, refused the caller. A 401 is cmekd's
 * own token refused (a credential error, alarmed, not a revocation).
 */
static int kv_fail(const struct cmek_http_resp *resp, const struct akv_ref *r,
		   const char *what, struct cmek_error *err)
{
	enum cmek_err_class cls = CMEK_ERR_TRANSIENT;
	const char *why = "not an answer from Key Vault (a proxy or firewall on the way?)";
	long st = resp->status;
	struct kv_err e;
	bool kv = kv_err_parse(resp, &e), credential = false;

	if (st == 403 && kv && !strcmp(e.inner, "ForbiddenByFirewall")) {
		why = "the vault's network rules refuse this host (a firewall change, not the key owner)";
	} else if (st == 403 && kv && !strcmp(e.code, "Forbidden")) {
		cls = CMEK_ERR_DEFINITIVE;
		if (!strcmp(e.inner, "KeyDisabled"))
			why = "key disabled";
		else if (!strncmp(e.inner, "ForbiddenBy", 11) ||
			 !strcmp(e.inner, "AccessDenied"))
			why = "access denied";
		else
			why = "use of the key refused";
	} else if (st == 404 && kv && !strcmp(e.code, "KeyNotFound")) {
		cls = CMEK_ERR_DEFINITIVE;
		why = "key or version not found (deleted?)";
	} else if (st == 401 && kv) {
		credential = true;
		why = "cmekd's token refused after a refresh (wrong tenant or resource, or the identity was removed?)";
	} else if (st == 400 && kv) {
		cls = CMEK_ERR_INVALID;
		why = "request refused";
	} else if (st == 429 || st == 409 || cmek_http_status_transient(st)) {
		why = st == 429 ? "throttled" : "Key Vault busy or unavailable";
	} else if (kv) {
		why = "unexpected answer";
	}
	if (credential)
		cmek_error_credential(err,
				      "Key Vault %s %s/keys/%s: %s (HTTP %ld%s%s%s%s): %s",
				      what, r->host, r->name, why, st,
				      *e.code ? " " : "", e.code,
				      *e.inner ? "/" : "", e.inner,
				      *e.msg ? e.msg : "no message");
	else
		cmek_error_set(err, cls,
			       "Key Vault %s %s/keys/%s: %s (HTTP %ld%s%s%s%s): %s",
			       what, r->host, r->name, why, st,
			       *e.code ? " " : "", e.code, *e.inner ? "/" : "",
			       e.inner, *e.msg ? e.msg : "no message");
	if (st == 429)
		cmek_error_throttled(err, resp->retry_after_ms);
	return -1;
}

/* Transport failures come back as "URL: detail"; say what was asked. */
static int kv_transport(const struct akv_ref *r, const char *what,
			struct cmek_error *err)
{
	char prefix[CMEK_ERRMSG_MAX];

	snprintf(prefix, sizeof(prefix), "Key Vault %s %.127s/keys/%.127s",
		 what, r->host, r->name);
	err_prefix(err, prefix);
	return -1;
}

/* A "kid" from an answer: the same vault and key, with a version. */
static int kid_check(const char *kid, const struct akv_ref *r, char *version,
		     struct cmek_error *err)
{
	struct akv_ref k;

	if (!kid || parse_ref(kid, &k, true, NULL) ||
	    strcmp(k.host, r->host) || strcasecmp(k.name, r->name))
		return cmek_error_set(err, CMEK_ERR_TRANSIENT,
				      "Key Vault answer for %s/keys/%s names another key: '%.200s'",
				      r->host, r->name, kid ? kid : "(none)");
	memcpy(version, k.version, sizeof(k.version));
	return 0;
}

/* GET keys/{name}: the current version, and that it is an RSA key. */
static int kv_current_version(struct akv_priv *ap, const struct akv_ref *r,
			      char *version, struct cmek_error *err)
{
	struct cmek_http_resp resp = { 0 };
	struct json_object *o = NULL, *key;
	char url[AKV_URL_MAX];
	const char *kty;
	int ret = -1;

	if (kv_url(ap, r, "keys", NULL, NULL, url, sizeof(url), err))
		return -1;
	if (kv_call(ap, r, "GET", url, NULL, &resp, err)) {
		kv_transport(r, "get", err);
		goto out;
	}
	if (resp.status != 200) {
		kv_fail(&resp, r, "get", err);
		goto out;
	}
	o = cmek_kit_json_answer("azure-kv", resp.body, resp.len, NULL);
	key = cmek_json_get(o, "key", json_type_object);
	kty = jstr(key, "kty", NULL);
	if (kid_check(jstr(key, "kid", NULL), r, version, err))
		goto out;
	if (!kty || (strcmp(kty, "RSA") && strcmp(kty, "RSA-HSM"))) {
		cmek_error_set(err, CMEK_ERR_INVALID,
			       "Key Vault key %s/keys/%s is of type '%.20s', not RSA or RSA-HSM: it cannot wrap with "
			       CMEK_AZURE_KV_ALG, r->host, r->name,
			       kty ? kty : "(none)");
		goto out;
	}
	ret = 0;
out:
	json_object_put(o);
	cmek_http_resp_free(&resp);
	return ret;
}

/* {"alg": "RSA-OAEP-256", "value": base64url}; may hold a key: caller wipes. */
static char *op_body(const uint8_t *in, size_t len, size_t *blen)
{
	char *b64 = cmek_b64_encode(in, len, true), *body;
	size_t n;

	if (!b64)
		return NULL;
	n = strlen(b64);
	*blen = n + 64;
	body = malloc(*blen);
	if (body)
		snprintf(body, *blen, "{\"alg\":\"" CMEK_AZURE_KV_ALG
			 "\",\"value\":\"%s\"}", b64);
	OPENSSL_cleanse(b64, n);
	free(b64);
	return body;
}

/* ---- origin authentication: slots signed with sign_key ---- */

/* A slot as stored (azure_kv.h); sig is NULL for a version 1 blob. */
struct akv_blob {
	char version[AKV_VERSION_LEN + 1];	/* of the wrapping key */
	char sversion[AKV_VERSION_LEN + 1];	/* of sign_key, or "" */
	const uint8_t *ct, *sig;
	size_t ct_len, sig_len;
};

static void digest_add(EVP_MD_CTX *c, const char *s)
{
	EVP_DigestUpdate(c, s, strlen(s) + 1);	/* with its NUL: a separator */
}

static void key_id(char *out, size_t len, const struct akv_ref *r,
		   const char *version)
{
	size_t i;

	snprintf(out, len, "https://%s/keys/%s/%s", r->host, r->name,
		 version);
	for (i = 0; out[i]; i++)
		out[i] = (char)tolower((unsigned char)out[i]);
}

/*
 * What sign_key signs: SHA-256 over a label, the volume binding, the
 * wrapping key's and the signing key's full identifiers and the RSA
 * ciphertext. A signature is good for this slot of this volume only.
 */
static int slot_digest(const struct akv_priv *ap, const struct akv_ref *r,
		       const struct cmek_binding *b,
		       const struct akv_blob *bl, uint8_t *out,
		       struct cmek_error *err)
{
	char aad[96], id[AKV_URL_MAX];
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	size_t n = cmek_binding_aad(b, aad, sizeof(aad));
	unsigned int len = 0;
	int ok;

	ok = c && n && n < sizeof(aad) &&
	     EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1;
	if (ok) {
		digest_add(c, "cmek azure-kv slot v2");
		digest_add(c, aad);
		key_id(id, sizeof(id), r, bl->version);
		digest_add(c, id);
		key_id(id, sizeof(id), &ap->sign, bl->sversion);
		digest_add(c, id);
		ok = EVP_DigestUpdate(c, bl->ct, bl->ct_len) == 1 &&
		     EVP_DigestFinal_ex(c, out, &len) == 1 && len == 32;
	}
	EVP_MD_CTX_free(c);
	return ok ? 0 : cmek_error_set(err, CMEK_ERR_INVALID,
				       "cannot hash the slot for its signature");
}

/* A JWK's RSA modulus and exponent (base64url) as a public key. */
static EVP_PKEY *rsa_from_jwk(struct json_object *key)
{
	const char *n64 = jstr(key, "n", NULL), *e64 = jstr(key, "e", NULL);
	uint8_t *n = NULL, *e = NULL;
	size_t nl = 0, el = 0;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *par = NULL;
	EVP_PKEY_CTX *c = NULL;
	EVP_PKEY *pk = NULL;
	BIGNUM *bn = NULL, *be = NULL;

	if (!n64 || !e64 || strlen(n64) > 2 * AKV_SIG_MAX)
		return NULL;
	n = cmek_b64_decode(n64, strlen(n64), true, &nl);
	e = cmek_b64_decode(e64, strlen(e64), true, &el);
	if (!n || !e || nl < AKV_SIG_MIN || nl > AKV_SIG_MAX || !el || el > 8)
		goto out;
	bn = BN_bin2bn(n, (int)nl, NULL);
	be = BN_bin2bn(e, (int)el, NULL);
	bld = OSSL_PARAM_BLD_new();
	if (!bn || !be || !bld ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
		goto out;
	par = OSSL_PARAM_BLD_to_param(bld);
	c = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (!par || !c || EVP_PKEY_fromdata_init(c) != 1 ||
	    EVP_PKEY_fromdata(c, &pk, EVP_PKEY_PUBLIC_KEY, par) != 1)
		pk = NULL;
out:
	EVP_PKEY_CTX_free(c);
	OSSL_PARAM_free(par);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	free(n);
	free(e);
	return pk;
}

/*
 * The public key of sign_key's @version: GET keys/{name}/{version} once,
 * kept (a version's key never changes). Verifying here, not with Key
 * Vault's verify, costs no KMS call per open and trusts no answer about
 * a signature. Key Vault's own refusals about the signing key (deleted,
 * disabled) leave the slot unverifiable: invalid, not a revocation of
 * the wrapping key.
 */
static EVP_PKEY *sign_pub(struct akv_priv *ap, const char *version,
			  struct cmek_error *err)
{
	struct cmek_http_resp resp = { 0 };
	struct json_object *o = NULL, *key;
	char url[AKV_URL_MAX], kidv[AKV_VERSION_LEN + 1];
	EVP_PKEY *pk = NULL;
	const char *kty;
	unsigned int i;

	pthread_mutex_lock(&ap->lock);
	for (i = 0; i < AKV_PUB_CACHE && !pk; i++)
		if (ap->pub[i].pk && !strcmp(ap->pub[i].version, version))
			pk = ap->pub[i].pk;
	if (pk)
		EVP_PKEY_up_ref(pk);
	pthread_mutex_unlock(&ap->lock);
	if (pk)
		return pk;
	if (kv_url(ap, &ap->sign, "keys", version, NULL, url, sizeof(url), err))
		return NULL;
	if (kv_call(ap, &ap->sign, "GET", url, NULL, &resp, err)) {
		kv_transport(&ap->sign, "get (sign_key)", err);
		goto out;
	}
	if (resp.status != 200) {
		kv_fail(&resp, &ap->sign, "get (sign_key)", err);
		if (err && err->cls == CMEK_ERR_DEFINITIVE)
			err->cls = CMEK_ERR_INVALID;
		goto out;
	}
	o = cmek_kit_json_answer("azure-kv", resp.body, resp.len, NULL);
	key = cmek_json_get(o, "key", json_type_object);
	kty = jstr(key, "kty", NULL);
	if (kid_check(jstr(key, "kid", NULL), &ap->sign, kidv, err))
		goto out;
	if (strcmp(kidv, version) || !kty ||
	    (strcmp(kty, "RSA") && strcmp(kty, "RSA-HSM")) ||
	    !(pk = rsa_from_jwk(key))) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT,
			       "Key Vault get %s/keys/%s/%s (sign_key): malformed answer (want the RSA public key of that version)",
			       ap->sign.host, ap->sign.name, version);
		goto out;
	}
	pthread_mutex_lock(&ap->lock);
	i = ap->npub++ % AKV_PUB_CACHE;
	EVP_PKEY_free(ap->pub[i].pk);
	ap->pub[i].pk = pk;
	EVP_PKEY_up_ref(pk);
	memcpy(ap->pub[i].version, version, sizeof(ap->pub[i].version));
	pthread_mutex_unlock(&ap->lock);
out:
	json_object_put(o);
	cmek_http_resp_free(&resp);
	return pk;
}

/* PS256 (RFC 7518: MGF1 SHA-256, salt as long as the hash) of @digest. */
static bool ps256_ok(EVP_PKEY *pk, const uint8_t *digest, const uint8_t *sig,
		     size_t sig_len)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(pk, NULL);
	bool ok;

	ok = c && EVP_PKEY_verify_init(c) == 1 &&
	     EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PSS_PADDING) == 1 &&
	     EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) == 1 &&
	     EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256()) == 1 &&
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(c, RSA_PSS_SALTLEN_DIGEST) == 1 &&
	     EVP_PKEY_verify(c, sig, sig_len, digest, 32) == 1;
	EVP_PKEY_CTX_free(c);
	return ok;
}

/*
 * Origin authentication, before the slot goes anywhere near unwrapkey:
 * with sign_key set, a slot must carry sign_key's signature (an RSA
 * wrap alone can be made by anyone with the public key). An unsigned
 * slot is refused unless unsigned_slots = accept.
 */
static int slot_verify(struct akv_priv *ap, const struct akv_ref *r,
		       const struct cmek_binding *b,
		       const struct akv_blob *bl, struct cmek_error *err)
{
	uint8_t digest[32];
	EVP_PKEY *pk;
	bool ok;

	if (!ap->sign.name[0])
		return 0;
	if (!bl->sig)
		return ap->accept_unsigned ? 0 :
		       cmek_error_set(err, CMEK_ERR_INVALID,
				      "slot under %s/keys/%s carries no signature, and sign_key is set: anyone with the key's public half can make such a slot (unsigned_slots = accept takes it; a rewrap signs it)",
				      r->host, r->name);
	if (slot_digest(ap, r, b, bl, digest, err))
		return -1;
	pk = sign_pub(ap, bl->sversion, err);
	if (!pk)
		return -1;
	ok = ps256_ok(pk, digest, bl->sig, bl->sig_len);
	EVP_PKEY_free(pk);
	if (!ok)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "slot under %s/keys/%s: its signature does not verify with sign_key %s/keys/%s/%s: a forged or altered slot",
				      r->host, r->name, ap->sign.host,
				      ap->sign.name, bl->sversion);
	return 0;
}

/*
 * POST keys/{name}[/{version}]/sign {"alg": "PS256", "value": digest}.
 * The answer's signature is checked with the public key before it is
 * stored: a slot that would not open later is a malformed answer now.
 */
static int kv_sign(struct akv_priv *ap, const struct akv_ref *r,
		   const struct cmek_binding *b, struct akv_blob *bl,
		   uint8_t *sig, struct cmek_error *err)
{
	struct cmek_http_resp resp = { 0 };
	struct json_object *o = NULL;
	char url[AKV_URL_MAX], body[128], *d64;
	uint8_t digest[32], *sg = NULL;
	size_t vlen = 0, sl = 0;
	EVP_PKEY *pk = NULL;
	const char *v;
	int ret = -1;

	/* The version signs too: learn it first when sign_key pins none. */
	if (ap->sign.version[0])
		memcpy(bl->sversion, ap->sign.version, sizeof(bl->sversion));
	else if (kv_current_version(ap, &ap->sign, bl->sversion, err))
		return -1;
	if (slot_digest(ap, r, b, bl, digest, err) ||
	    kv_url(ap, &ap->sign, "keys", bl->sversion, "sign", url,
		   sizeof(url), err))
		return -1;
	d64 = cmek_b64_encode(digest, sizeof(digest), true);
	if (!d64)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
	snprintf(body, sizeof(body), "{\"alg\":\"PS256\",\"value\":\"%s\"}", d64);
	free(d64);
	if (kv_call(ap, &ap->sign, "POST", url, body, &resp, err)) {
		kv_transport(&ap->sign, "sign", err);
		goto out;
	}
	if (resp.status != 200) {
		kv_fail(&resp, &ap->sign, "sign", err);
		goto out;
	}
	o = cmek_kit_json_answer("azure-kv", resp.body, resp.len, NULL);
	v = jstr(o, "value", &vlen);
	sg = v && vlen <= 2 * AKV_SIG_MAX ?
	     cmek_b64_decode(v, vlen, true, &sl) : NULL;
	pk = sg ? sign_pub(ap, bl->sversion, err) : NULL;
	if (sg && !pk)
		goto out;
	if (!pk || sl < AKV_SIG_MIN || sl > AKV_SIG_MAX ||
	    !ps256_ok(pk, digest, sg, sl)) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT,
			       "Key Vault sign %s/keys/%s: malformed answer (value is not a PS256 signature of the slot by version %s)",
			       ap->sign.host, ap->sign.name, bl->sversion);
		goto out;
	}
	memcpy(sig, sg, sl);
	bl->sig = sig;
	bl->sig_len = sl;
	ret = 0;
out:
	EVP_PKEY_free(pk);
	free(sg);
	json_object_put(o);
	cmek_http_resp_free(&resp);
	return ret;
}

/* Version 1 without a signature, version 2 with one (azure_kv.h). */
static uint8_t *blob_make(const struct akv_blob *bl, size_t *len)
{
	size_t n = 2 + AKV_VERSION_LEN + bl->ct_len;
	uint8_t *out, *p;

	if (bl->sig)
		n += AKV_VERSION_LEN + 2 + bl->sig_len;
	out = malloc(n);
	if (!out)
		return NULL;
	out[0] = bl->sig ? CMEK_AZURE_KV_BLOB_V2 : CMEK_AZURE_KV_BLOB_V1;
	out[1] = AKV_VERSION_LEN;
	memcpy(out + 2, bl->version, AKV_VERSION_LEN);
	p = out + 2 + AKV_VERSION_LEN;
	if (bl->sig) {
		memcpy(p, bl->sversion, AKV_VERSION_LEN);
		p += AKV_VERSION_LEN;
		*p++ = (uint8_t)(bl->ct_len >> 8);
		*p++ = (uint8_t)bl->ct_len;
	}
	memcpy(p, bl->ct, bl->ct_len);
	if (bl->sig)
		memcpy(p + bl->ct_len, bl->sig, bl->sig_len);
	*len = n;
	return out;
}

/* Wrap @pt under @r (its pinned version, or the current one) into a blob. */
static int kv_wrap_payload(struct akv_priv *ap, const struct akv_ref *r,
			   const struct cmek_binding *b, const uint8_t *pt,
			   size_t pt_len, uint8_t **blob, size_t *blob_len,
			   struct cmek_error *err)
{
	uint8_t sig[AKV_SIG_MAX];
	struct akv_blob bl = { .sig = NULL };
	char url[AKV_URL_MAX], version[AKV_VERSION_LEN + 1], kidv[sizeof(version)];
	struct cmek_http_resp resp = { 0 };
	struct json_object *o = NULL;
	uint8_t *ct = NULL, *out;
	size_t blen = 0, ct_len = 0, vlen;
	const char *v;
	char *body = NULL;
	int ret = -1;

	if (r->version[0])
		memcpy(version, r->version, sizeof(version));
	else if (kv_current_version(ap, r, version, err))
		return -1;
	if (kv_url(ap, r, "keys", version, "wrapkey", url, sizeof(url), err))
		return -1;
	body = op_body(pt, pt_len, &blen);
	if (!body)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
	if (kv_call(ap, r, "POST", url, body, &resp, err)) {
		kv_transport(r, "wrapkey", err);
		goto out;
	}
	if (resp.status != 200) {
		kv_fail(&resp, r, "wrapkey", err);
		goto out;
	}
	o = cmek_kit_json_answer("azure-kv", resp.body, resp.len, NULL);
	if (kid_check(jstr(o, "kid", NULL), r, kidv, err))
		goto out;
	v = jstr(o, "value", &vlen);
	ct = v ? cmek_b64_decode(v, vlen, true, &ct_len) : NULL;
	if (!ct || ct_len < AKV_CT_MIN || ct_len > AKV_CT_MAX ||
	    strcmp(kidv, version)) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT,
			       "Key Vault wrapkey %s/keys/%s: malformed answer (value not base64url of %d-%d bytes, or another version)",
			       r->host, r->name, AKV_CT_MIN, AKV_CT_MAX);
		goto out;
	}
	memcpy(bl.version, version, sizeof(bl.version));
	bl.ct = ct;
	bl.ct_len = ct_len;
	if (ap->sign.name[0] && kv_sign(ap, r, b, &bl, sig, err))
		goto out;
	out = blob_make(&bl, blob_len);
	if (!out) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
		goto out;
	}
	*blob = out;
	ret = 0;
out:
	OPENSSL_cleanse(body, blen);
	free(body);
	free(ct);
	json_object_put(o);
	cmek_http_resp_free(&resp);
	return ret;
}

static int blob_parse(const uint8_t *w, size_t len, struct akv_blob *bl,
		      struct cmek_error *err)
{
	size_t h = 2 + AKV_VERSION_LEN;

	memset(bl, 0, sizeof(*bl));
	if (len < h || (w[0] != CMEK_AZURE_KV_BLOB_V1 &&
			w[0] != CMEK_AZURE_KV_BLOB_V2) ||
	    w[1] != AKV_VERSION_LEN ||
	    !hex_version_ok((const char *)w + 2, AKV_VERSION_LEN))
		goto bad;
	memcpy(bl->version, w + 2, AKV_VERSION_LEN);
	bl->ct = w + h;
	bl->ct_len = len - h;
	if (w[0] == CMEK_AZURE_KV_BLOB_V2) {
		h += AKV_VERSION_LEN + 2;
		if (len < h ||
		    !hex_version_ok((const char *)w + h - 2 - AKV_VERSION_LEN,
				    AKV_VERSION_LEN))
			goto bad;
		memcpy(bl->sversion, w + h - 2 - AKV_VERSION_LEN,
		       AKV_VERSION_LEN);
		bl->ct = w + h;
		bl->ct_len = (size_t)w[h - 2] << 8 | w[h - 1];
		if (bl->ct_len > len - h)
			goto bad;
		bl->sig = bl->ct + bl->ct_len;
		bl->sig_len = len - h - bl->ct_len;
		if (bl->sig_len < AKV_SIG_MIN || bl->sig_len > AKV_SIG_MAX)
			goto bad;
	}
	if (bl->ct_len < AKV_CT_MIN || bl->ct_len > AKV_CT_MAX)
		goto bad;
	return 0;
bad:
	return cmek_error_set(err, CMEK_ERR_INVALID,
			      "wrapped key is not an azure-kv v1 or v2 blob");
}

static int bind_hash(const struct cmek_binding *b, uint8_t *out,
		     struct cmek_error *err)
{
	char aad[96];
	size_t n;

	if (strnlen(b->volume_uuid, sizeof(b->volume_uuid)) != 36)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "binding has no volume UUID");
	n = cmek_binding_aad(b, aad, sizeof(aad));
	if (!n || n >= sizeof(aad) ||
	    !EVP_Digest(aad, n, out, NULL, EVP_sha256(), NULL))
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "cannot hash the volume binding");
	return 0;
}

/* unwrapkey with the version the blob records; check the binding. */
static int kv_unwrap_payload(struct akv_priv *ap, const struct akv_ref *r,
			     const struct cmek_binding *b,
			     const uint8_t *wrapped, size_t wrapped_len,
			     uint8_t *dek, size_t *dek_len,
			     struct cmek_error *err)
{
	char url[AKV_URL_MAX], kidv[AKV_VERSION_LEN + 1];
	uint8_t h[CMEK_AZURE_KV_BIND_LEN], *pt = NULL;
	struct cmek_http_resp resp = { 0 };
	struct json_object *o = NULL;
	size_t blen = 0, pt_len = 0, vlen;
	struct akv_blob bl;
	const char *v;
	char *body = NULL;
	int ret = -1;

	if (blob_parse(wrapped, wrapped_len, &bl, err) ||
	    bind_hash(b, h, err) ||
	    slot_verify(ap, r, b, &bl, err) ||
	    kv_url(ap, r, "keys", bl.version, "unwrapkey", url, sizeof(url),
		   err))
		return -1;
	body = op_body(bl.ct, bl.ct_len, &blen);
	if (!body)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
	if (kv_call(ap, r, "POST", url, body, &resp, err)) {
		kv_transport(r, "unwrapkey", err);
		goto out;
	}
	if (resp.status != 200) {
		kv_fail(&resp, r, "unwrapkey", err);
		goto out;
	}
	o = cmek_kit_json_answer("azure-kv", resp.body, resp.len, NULL);
	v = jstr(o, "value", &vlen);
	pt = v && vlen <= 4 * AKV_PAYLOAD_MAX ?
	     cmek_b64_decode(v, vlen, true, &pt_len) : NULL;
	if (!pt || pt_len <= CMEK_AZURE_KV_BIND_LEN ||
	    pt_len > AKV_PAYLOAD_MAX) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT,
			       "Key Vault unwrapkey %s/keys/%s: malformed answer (value is not base64url of a DEK and binding, %zu bytes)",
			       r->host, r->name, pt_len);
		goto out;
	}
	if (kid_check(jstr(o, "kid", NULL), r, kidv, err))
		goto out;
	if (CRYPTO_memcmp(pt + pt_len - CMEK_AZURE_KV_BIND_LEN, h,
			  CMEK_AZURE_KV_BIND_LEN)) {
		cmek_error_set(err, CMEK_ERR_INVALID,
			       "wrapped key does not belong to volume %s (binding check failed: a header from another volume?)",
			       b->volume_uuid);
		goto out;
	}
	*dek_len = pt_len - CMEK_AZURE_KV_BIND_LEN;
	memcpy(dek, pt, *dek_len);
	ret = 0;
out:
	if (pt) {
		OPENSSL_cleanse(pt, pt_len);
		free(pt);
	}
	cmek_json_wipe_member(o, "value");
	json_object_put(o);
	OPENSSL_cleanse(body, blen);
	free(body);
	cmek_http_resp_free(&resp);
	return ret;
}

/* ---- provider operations ---- */

static int wrap_ref(struct akv_priv *ap, const struct akv_ref *r,
		    const struct cmek_binding *b, const uint8_t *dek,
		    size_t dek_len, uint8_t **wrapped, size_t *wrapped_len,
		    struct cmek_error *err)
{
	uint8_t pt[AKV_PAYLOAD_MAX];
	int ret = -1;

	if (!dek_len || dek_len > CMEK_DEK_MAX)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "DEK length %zu is not 1-%d", dek_len,
				      CMEK_DEK_MAX);
	memcpy(pt, dek, dek_len);
	if (!bind_hash(b, pt + dek_len, err))
		ret = kv_wrap_payload(ap, r, b, pt, dek_len +
				      CMEK_AZURE_KV_BIND_LEN, wrapped,
				      wrapped_len, err);
	OPENSSL_cleanse(pt, sizeof(pt));
	return ret;
}

static int akv_wrap(struct cmek_provider *p, const char *key_ref,
		    const struct cmek_binding *b, const uint8_t *dek,
		    size_t dek_len, uint8_t **wrapped, size_t *wrapped_len,
		    struct cmek_error *err)
{
	struct akv_ref r;

	if (parse_ref(key_ref, &r, false, err))
		return -1;
	return scrub(p->priv, wrap_ref(p->priv, &r, b, dek, dek_len, wrapped,
				       wrapped_len, err), err);
}

static int akv_generate(struct cmek_provider *p, const char *key_ref,
			const struct cmek_binding *b, uint8_t *dek,
			size_t dek_len, uint8_t **wrapped, size_t *wrapped_len,
			struct cmek_error *err)
{
	if (!dek_len || dek_len > CMEK_DEK_MAX)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "DEK length %zu is not 1-%d", dek_len,
				      CMEK_DEK_MAX);
	return cmek_generate_by_wrap(p, key_ref, b, dek, dek_len, wrapped,
				     wrapped_len, err);
}

static int akv_unwrap(struct cmek_provider *p, const char *key_ref,
		      const struct cmek_binding *b, const uint8_t *wrapped,
		      size_t wrapped_len, uint8_t *dek, size_t *dek_len,
		      struct cmek_error *err)
{
	struct akv_ref r;

	if (parse_ref(key_ref, &r, false, err))
		return -1;
	return scrub(p->priv, kv_unwrap_payload(p->priv, &r, b, wrapped,
						wrapped_len, dek, dek_len,
						err), err);
}

/*
 * Key Vault has no re-encrypt: unwrap and wrap here, the DEK held in a
 * locked page. To the same key_ref: the key's current version (rotation);
 * to another: its pinned version, or its current one.
 */
static int akv_rewrap(struct cmek_provider *p, const char *key_ref,
		      const char *new_key_ref, const struct cmek_binding *b,
		      const uint8_t *wrapped, size_t wrapped_len,
		      uint8_t **new_wrapped, size_t *new_wrapped_len,
		      struct cmek_error *err)
{
	struct akv_ref r, nr;
	size_t dek_len = 0;
	uint8_t *dek;
	int ret;

	if (parse_ref(key_ref, &r, false, err) ||
	    parse_ref(new_key_ref, &nr, false, err))
		return -1;
	if (!strcmp(key_ref, new_key_ref))
		nr.version[0] = '\0';
	dek = cmek_secmem_alloc(CMEK_DEK_MAX);
	if (!dek)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
	ret = kv_unwrap_payload(p->priv, &r, b, wrapped, wrapped_len, dek,
				&dek_len, err);
	if (!ret)
		ret = wrap_ref(p->priv, &nr, b, dek, dek_len, new_wrapped,
			       new_wrapped_len, err);
	cmek_secmem_free(dek);
	return scrub(p->priv, ret, err);
}

/* Soft-deleted keys answer 404 on keys/; deletedkeys/ tells them apart. */
static enum cmek_kms_key_state kv_deleted_state(struct akv_priv *ap,
						const struct akv_ref *r)
{
	struct cmek_http_resp resp = { 0 };
	enum cmek_kms_key_state st = CMEK_KMS_DELETED;
	char url[AKV_URL_MAX];

	if (!kv_url(ap, r, "deletedkeys", NULL, NULL, url, sizeof(url), NULL) &&
	    !kv_call(ap, r, "GET", url, NULL, &resp, NULL) &&
	    resp.status == 200)
		st = CMEK_KMS_PENDING_DELETION;
	cmek_http_resp_free(&resp);
	return st;
}

/* attributes.enabled, and the nbf/exp window (Unix seconds). */
static int key_attr_state(const struct cmek_http_resp *resp,
			  const struct akv_ref *r,
			  enum cmek_kms_key_state *state,
			  struct cmek_error *err)
{
	struct json_object *o = cmek_kit_json_answer("azure-kv", resp->body,
						     resp->len, NULL);
	struct json_object *a = cmek_json_get(o, "attributes",
					      json_type_object);
	struct json_object *en = cmek_json_get(a, "enabled", json_type_boolean);
	long long now = (long long)time(NULL), t;
	bool ok;
	int ret = 0;

	if (!en || !cmek_json_get(o, "key", json_type_object)) {
		ret = cmek_error_set(err, CMEK_ERR_TRANSIENT,
				     "Key Vault get %s/keys/%s: malformed answer (no key or attributes.enabled)",
				     r->host, r->name);
		goto out;
	}
	*state = json_object_get_boolean(en) ? CMEK_KMS_ENABLED :
					       CMEK_KMS_DISABLED;
	t = jint(a, "exp", &ok);
	if (ok && t <= now)
		*state = CMEK_KMS_DISABLED;
	t = jint(a, "nbf", &ok);
	if (ok && t > now)
		*state = CMEK_KMS_DISABLED;
out:
	json_object_put(o);
	return ret;
}

static int akv_key_state(struct cmek_provider *p, const char *key_ref,
			 enum cmek_kms_key_state *state,
			 struct cmek_error *err)
{
	struct akv_priv *ap = p->priv;
	struct cmek_http_resp resp = { 0 };
	char url[AKV_URL_MAX];
	struct kv_err e;
	struct akv_ref r;
	int ret = -1;

	*state = CMEK_KMS_UNKNOWN;
	if (parse_ref(key_ref, &r, false, err) ||
	    kv_url(ap, &r, "keys", r.version, NULL, url, sizeof(url), err))
		return -1;
	if (kv_call(ap, &r, "GET", url, NULL, &resp, err)) {
		kv_transport(&r, "get", err);
		goto out;
	}
	if (resp.status == 200) {
		ret = key_attr_state(&resp, &r, state, err);
	} else if (kv_fail(&resp, &r, "get", err) &&
		   err && err->cls == CMEK_ERR_DEFINITIVE) {
		/* Key Vault's own answers about the key (kv_fail()). */
		kv_err_parse(&resp, &e);
		if (resp.status == 404)
			*state = kv_deleted_state(ap, &r);
		else
			*state = !strcmp(e.inner, "KeyDisabled") ?
				 CMEK_KMS_DISABLED : CMEK_KMS_ACCESS_DENIED;
		ret = 0;
	}
out:
	if (ret)
		*state = CMEK_KMS_UNKNOWN;
	cmek_http_resp_free(&resp);
	return scrub(ap, ret, err);
}

/*
 * The key version the blob records (the one unwrap asks for), as a full
 * key identifier: disabling, expiring or deleting that version is what
 * stops the slot from unwrapping, whichever version is current.
 */
static int akv_slot_key(const char *key_ref, const uint8_t *wrapped,
			size_t wrapped_len, char *id, size_t id_len)
{
	struct cmek_error err = { 0 };
	struct akv_blob bl;
	struct akv_ref r;

	if (parse_ref(key_ref, &r, false, &err) ||
	    blob_parse(wrapped, wrapped_len, &bl, &err))
		return -1;
	return snprintf(id, id_len, "https://%s/keys/%s/%s", r.host, r.name,
			bl.version) < (int)id_len ? 0 : -1;
}

static int akv_slot_state(struct cmek_provider *p, const char *id,
			  enum cmek_kms_key_state *state,
			  struct cmek_error *err)
{
	struct akv_ref r;

	*state = CMEK_KMS_UNKNOWN;
	if (parse_ref(id, &r, true, err))
		return -1;
	return akv_key_state(p, id, state, err);
}

/* ---- configuration ---- */

/* IMDS speaks plain HTTP on the link-local address (loopback for tests). */
static bool imds_url_ok(const char *url)
{
	static const char *const hosts[] = {
		"169.254.169.254", "127.0.0.1", "localhost", "[::1]",
	};
	const char *p;
	size_t i, n;

	if (strncmp(url, "http://", 7))
		return false;
	url += 7;
	for (i = 0; i < ARRAY_SIZE(hosts); i++) {
		n = strlen(hosts[i]);
		if (strncmp(url, hosts[i], n))
			continue;
		p = url + n;
		if (*p == ':') {
			p++;
			n = strspn(p, "0123456789");
			if (!n || n > 5)
				return false;
			p += n;
		}
		return !*p;
	}
	return false;
}

static int set_url(char *dst, size_t len, const char *key, const char *value,
		   struct cmek_error *err)
{
	size_t n = strlen(value);

	if (cmek_http_endpoint_valid(value, err))
		return -1;
	while (n > 8 && value[n - 1] == '/')
		n--;
	if (n >= len)
		return cmek_error_set(err, CMEK_ERR_INVALID, "%s too long",
				      key);
	memcpy(dst, value, n);
	dst[n] = '\0';
	return 0;
}

static int set_id(char *dst, size_t len, const char *key, const char *value,
		  size_t max, struct cmek_error *err)
{
	if (!id_ok(value, max) || strlen(value) >= len)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "%s '%.80s' is not a GUID or domain name",
				      key, value);
	snprintf(dst, len, "%s", value);
	return 0;
}

static const struct cmek_setting akv_settings[] = {
	{ "endpoint", CMEK_SETTING_URL, 0, NULL,
	  "Vault URL instead of the key reference's host (tests, private links)" },
	{ "authority_host", CMEK_SETTING_URL, 0,
	  "https://login.microsoftonline.com",
	  "Entra ID authority; default also $AZURE_AUTHORITY_HOST" },
	{ "tenant_id", CMEK_SETTING_STRING, 0, NULL,
	  "Directory (tenant) id; default $AZURE_TENANT_ID" },
	{ "client_id", CMEK_SETTING_STRING, 0, NULL,
	  "Application (client) id; default $AZURE_CLIENT_ID" },
	{ "client_secret_file", CMEK_SETTING_PATH, CMEK_SETTING_SECRET_FILE,
	  NULL, "File holding the client secret" },
	{ "client_secret", CMEK_SETTING_STRING, CMEK_SETTING_SECRET, NULL,
	  "The client secret inline (cmekd.conf must then be 0600)" },
	{ "credential", CMEK_SETTING_STRING, 0, "auto",
	  "auto, client_secret or managed_identity" },
	{ "imds_endpoint", CMEK_SETTING_URL, 0, "http://169.254.169.254",
	  "Instance metadata service, for managed_identity" },
	{ "sign_key", CMEK_SETTING_URL, 0, NULL,
	  "Key Vault key that signs each slot's binding" },
	{ "unsigned_slots", CMEK_SETTING_STRING, 0, "refuse",
	  "refuse or accept slots without a signature when sign_key is set" },
	CMEK_HTTP_SETTINGS,
	{ .name = NULL }
};

static int akv_configure(struct cmek_provider *p, const char *key,
			 const char *value, struct cmek_error *err)
{
	struct akv_priv *ap = p->priv;
	int ret;

	if (cmek_setting_check("azure-kv", akv_settings, key, err))
		return -1;
	ret = cmek_http_configure(&ap->http, key, value, err);
	if (ret)
		return ret < 0 ? -1 : 0;
	if (!strcmp(key, "endpoint"))
		return set_url(ap->endpoint, sizeof(ap->endpoint), key, value,
			       err);
	if (!strcmp(key, "authority_host"))
		return set_url(ap->authority, sizeof(ap->authority), key,
			       value, err);
	if (!strcmp(key, "tenant_id"))
		return set_id(ap->tenant, sizeof(ap->tenant), key, value, 100,
			      err);
	if (!strcmp(key, "client_id"))
		return set_id(ap->client, sizeof(ap->client), key, value, 64,
			      err);
	if (!strcmp(key, "imds_endpoint")) {
		if (!imds_url_ok(value) || strlen(value) >= sizeof(ap->imds))
			return cmek_error_set(err, CMEK_ERR_INVALID,
					      "imds_endpoint must be http://169.254.169.254[:PORT] (or a loopback address, for tests)");
		snprintf(ap->imds, sizeof(ap->imds), "%s", value);
		return 0;
	}
	if (!strcmp(key, "client_secret_file")) {
		if (value[0] != '/' ||
		    strlen(value) >= sizeof(ap->secret_file))
			return cmek_error_set(err, CMEK_ERR_INVALID,
					      "client_secret_file must be an absolute path");
		snprintf(ap->secret_file, sizeof(ap->secret_file), "%s",
			 value);
		return 0;
	}
	if (!strcmp(key, "client_secret")) {
		if (ap->secret) {
			OPENSSL_cleanse(ap->secret, strlen(ap->secret));
			free(ap->secret);
		}
		ap->secret = strlen(value) < AKV_SECRET_MAX ? strdup(value) :
			     NULL;
		if (!ap->secret)
			return cmek_error_set(err, CMEK_ERR_INVALID,
					      "client_secret too long");
		return 0;
	}
	if (!strcmp(key, "sign_key"))
		return parse_ref(value, &ap->sign, false, err);
	if (!strcmp(key, "unsigned_slots")) {
		if (strcmp(value, "refuse") && strcmp(value, "accept"))
			return cmek_error_set(err, CMEK_ERR_INVALID,
					      "unsigned_slots '%.40s' is not refuse or accept",
					      value);
		ap->accept_unsigned = !strcmp(value, "accept");
		return 0;
	}
	if (!strcmp(key, "credential")) {
		if (!strcmp(value, "auto"))
			ap->cred = AKV_CRED_AUTO;
		else if (!strcmp(value, "client_secret"))
			ap->cred = AKV_CRED_SECRET;
		else if (!strcmp(value, "managed_identity"))
			ap->cred = AKV_CRED_MI;
		else
			return cmek_error_set(err, CMEK_ERR_INVALID,
					      "credential '%.40s' is not auto, client_secret or managed_identity",
					      value);
		return 0;
	}
	return cmek_setting_unhandled("azure-kv", key, err);
}

static int akv_init(struct cmek_provider *p, struct cmek_error *err)
{
	struct akv_priv *ap = calloc(1, sizeof(*ap));

	if (!ap)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
	cmek_http_opts_init(&ap->http);
	snprintf(ap->imds, sizeof(ap->imds), "%s", AKV_IMDS);
	pthread_mutex_init(&ap->lock, NULL);
	p->priv = ap;
	return 0;
}

static void akv_destroy(struct cmek_provider *p)
{
	struct akv_priv *ap = p->priv;
	size_t i;

	if (!ap)
		return;
	for (i = 0; i < ARRAY_SIZE(ap->tok); i++)
		cmek_kit_token_drop(&ap->tok[i]);
	for (i = 0; i < AKV_PUB_CACHE; i++)
		EVP_PKEY_free(ap->pub[i].pk);
	if (ap->secret) {
		OPENSSL_cleanse(ap->secret, strlen(ap->secret));
		free(ap->secret);
	}
	cmek_http_opts_free(&ap->http);
	pthread_mutex_destroy(&ap->lock);
	OPENSSL_cleanse(ap, sizeof(*ap));
	free(ap);
	p->priv = NULL;
}

const struct cmek_provider_ops cmek_azure_kv_ops = {
	.name = "azure-kv",
	.settings = akv_settings,
	.init = akv_init,
	.configure = akv_configure,
	.generate = akv_generate,
	.wrap = akv_wrap,
	.unwrap = akv_unwrap,
	.rewrap = akv_rewrap,
	.key_state = akv_key_state,
	.slot_key = akv_slot_key,
	.slot_state = akv_slot_state,
	.destroy = akv_destroy,
};
