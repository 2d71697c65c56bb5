// SPDX-License-Identifier: GPL-2.0
/*
 * The "gcp-kms" provider: data keys wrapped by Google Cloud KMS
 * (REST API v1). See gcp_kms.h and the gcp-kms section of
 * Documentation/admin-guide/cmek-providers.rst.
 *
 * Cloud KMS has no data-key API and no re-encrypt API: generate draws the
 * DEK from RAND_priv_bytes() and encrypts it, and rewrap is left to the
 * caller (decrypt, then encrypt, in cmekd's locked memory). encrypt uses
 * the key's primary version, so decrypt + encrypt is also how a wrapped
 * key moves to a new version after a rotation. The wrapped key is the
 * ciphertext after the version that made it (cmek_slot_prefix()), which
 * the watch asks about (slot_state) whichever version is primary.
 *
 * Every request and answer carries the CRC32C integrity fields of the API;
 * an answer that fails them is discarded and the call repeated a few
 * times, as Google's reference asks, then reported as invalid.
 *
 * Authentication: an OAuth2 access token, from a service-account key
 * (JWT bearer grant, RS256) or the instance metadata server, cached until
 * shortly before it expires. A 401 drops the token and retries once.
 * The token and the private key never reach an error message, and are
 * wiped when replaced and on destroy.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <json-c/printbuf.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "b64.h"
#include "config.h"
#include "crc32c.h"
#include "gcp_kms.h"
#include "http.h"
#include "kit.h"
#include "secjson.h"

#define CREDS_FILE_MAX		(64 * 1024)
#define CIPHERTEXT_MAX		(64 * 1024 + 1024)
#define INTEGRITY_TRIES		3	/* answers failing CRC32C checks */
#define KMS_MSG_MAX		240	/* of the KMS's own error message */
#define JWT_LIFETIME		3600	/* the most Google accepts */

struct gcp_sa {
	char *client_email;
	char *key_id;			/* private_key_id, the JWT "kid" */
	char *token_uri;
	EVP_PKEY *key;
};

struct gcp_priv {
	struct cmek_http_opts http;
	char endpoint[512];
	char metadata[256];
	char creds_path[PATH_MAX];
	bool use_metadata;		/* metadata = yes */
	struct gcp_sa *sa;		/* loaded service account, or NULL */

	struct cmek_kit_token token;
};

/* ---- small helpers ---- */

static bool seg_ok(const char *s, size_t n, size_t max, bool upper,
		   const char *extra)
{
	size_t i;

	if (!n || n > max)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (islower(c) || isdigit(c) || (upper && isupper(c)) ||
		    (c && strchr(extra, c)))
			continue;
		return false;
	}
	return true;
}

/*
 * projects/P/locations/L/keyRings/R/cryptoKeys/K. Project IDs are lower
 * case, digits and '-' (numbers, and domain-scoped "example.com:p", too);
 * location IDs lower case; key ring and key IDs [A-Za-z0-9_-]{1,63}.
 */
bool cmek_gcp_key_ref_valid(const char *ref)
{
	static const char *const fixed[] = {
		"projects", "locations", "keyRings", "cryptoKeys",
	};
	const char *p = ref, *slash;
	size_t i, n;

	if (strlen(ref) > CMEK_GCP_KEY_REF_MAX)
		return false;
	for (i = 0; i < 8; i++) {
		slash = strchr(p, '/');
		n = slash ? (size_t)(slash - p) : strlen(p);
		if ((i == 7) != !slash)
			return false;
		if (!(i & 1)) {
			if (n != strlen(fixed[i / 2]) ||
			    strncmp(p, fixed[i / 2], n))
				return false;
		} else if (i == 1) {
			if (!seg_ok(p, n, 100, false, "-.:") || !isalnum(*p))
				return false;
		} else if (i == 3) {
			if (!seg_ok(p, n, 63, false, "-"))
				return false;
		} else if (!seg_ok(p, n, 63, true, "-_")) {
			return false;
		}
		p += n + 1;
	}
	return true;
}

/* KEY/cryptoKeyVersions/N, N 1 to 20 digits; under @key_ref if not NULL. */
static bool version_name_valid(const char *name, const char *key_ref)
{
	const char *v = strstr(name, "/cryptoKeyVersions/");
	char key[CMEK_GCP_KEY_REF_MAX + 1];
	size_t klen, n;

	if (!v || (size_t)(v - name) > CMEK_GCP_KEY_REF_MAX)
		return false;
	klen = (size_t)(v - name);
	memcpy(key, name, klen);
	key[klen] = '\0';
	v += 19;
	n = strlen(v);
	return cmek_gcp_key_ref_valid(key) &&
	       (!key_ref || !strcmp(key, key_ref)) && n && n <= 20 &&
	       strspn(v, "0123456789") == n;
}

/*
 * The integrity fields are google.protobuf.Int64Value, which the JSON
 * mapping writes as a decimal string; a bare number is accepted too.
 * 1 if present and valid, 0 if absent, -1 if malformed.
 */
static int json_crc(struct json_object *o, const char *field, uint32_t *crc)
{
	struct json_object *v;
	unsigned long long x;
	const char *s;
	char *end;
	int64_t i;

	if (!json_object_object_get_ex(o, field, &v))
		return 0;
	if (json_object_is_type(v, json_type_int)) {
		errno = 0;
		i = json_object_get_int64(v);
		if (errno || i < 0 || i > 0xffffffffLL)
			return -1;
		*crc = (uint32_t)i;
		return 1;
	}
	if (!json_object_is_type(v, json_type_string))
		return -1;
	s = json_object_get_string(v);
	if (!*s || strlen(s) > 10 || strspn(s, "0123456789") != strlen(s))
		return -1;
	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno || *end || x > 0xffffffffULL)
		return -1;
	*crc = (uint32_t)x;
	return 1;
}

/* 1 if @field is the JSON true, 0 if absent or false, -1 if not a bool. */
static int json_true(struct json_object *o, const char *field)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, field, &v))
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return -1;
	return json_object_get_boolean(v) ? 1 : 0;
}

/* ---- credentials ---- */

static void sa_free(struct gcp_sa *sa)
{
	if (!sa)
		return;
	free(sa->client_email);
	free(sa->key_id);
	free(sa->token_uri);
	EVP_PKEY_free(sa->key);	/* frees the RSA private key's bignums cleared */
	free(sa);
}

static void token_drop(struct gcp_priv *gp)
{
	cmek_kit_token_drop(&gp->token);
}

static bool field_ok(const char *s, size_t max, const char *extra)
{
	size_t n = s ? strlen(s) : 0, i;

	if (!n || n > max)
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr(extra, s[i]))
			return false;
	return true;
}

static EVP_PKEY *pem_key(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k;

	if (!bio)
		return NULL;
	k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (k && EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
		EVP_PKEY_free(k);
		k = NULL;
	}
	return k;
}

/*
 * A service-account key file as the console makes it:
 * {"type": "service_account", "private_key_id", "private_key" (PEM),
 *  "client_email", "token_uri", ...}. Messages name fields, never values.
 */
static int sa_parse(struct json_object *o, const char *path,
		    struct gcp_sa *sa, struct cmek_error *err)
{
	const char *type = cmek_json_str(o, "type"), *v;
	struct cmek_error e2;

	if (type && strcmp(type, "service_account"))
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "gcp-kms: %s holds '%.40s' credentials; only service_account keys (or the metadata server) are supported",
				      path, type);
	v = cmek_json_str(o, "client_email");
	if (!field_ok(v, 254, "@.-_+"))
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "gcp-kms: %s: client_email missing or malformed",
				      path);
	sa->client_email = strdup(v);
	if (!sa->client_email)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
	v = cmek_json_str(o, "private_key_id");
	if (v && !field_ok(v, 128, "-_"))
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "gcp-kms: %s: private_key_id malformed",
				      path);
	sa->key_id = v ? strdup(v) : NULL;
	if (v && !sa->key_id)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
	v = cmek_json_str(o, "token_uri");
	if (!v)
		v = CMEK_GCP_TOKEN_URI;
	if (cmek_http_endpoint_valid(v, &e2))
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "gcp-kms: %s: token_uri: %s", path,
				      e2.msg);
	sa->token_uri = strdup(v);
	if (!sa->token_uri)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
	v = cmek_json_str(o, "private_key");
	if (!v)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "gcp-kms: %s: private_key missing", path);
	sa->key = pem_key(v);
	if (!sa->key)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "gcp-kms: %s: private_key is not a PEM RSA private key",
				      path);
	return 0;
}

static int sa_load(struct gcp_priv *gp, struct cmek_error *err)
{
	struct json_object *o = NULL;
	struct gcp_sa *sa;
	size_t len = 0;
	char *buf;
	int ret = -1;

	buf = malloc(CREDS_FILE_MAX + 1);
	if (!buf)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
	if (cmek_kit_secret_read("gcp-kms", gp->creds_path, buf,
				 CREDS_FILE_MAX + 1, &len, err)) {
		free(buf);
		return -1;
	}
	sa = calloc(1, sizeof(*sa));
	if (!sa) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
		goto out;
	}
	o = cmek_kit_json_answer("gcp-kms", buf, len, NULL);
	if (!o) {
		cmek_error_set(err, CMEK_ERR_INVALID,
			       "gcp-kms: credentials file %s is not a JSON object",
			       gp->creds_path);
		goto out;
	}
	if (sa_parse(o, gp->creds_path, sa, err))
		goto out;
	sa_free(gp->sa);
	gp->sa = sa;
	sa = NULL;
	token_drop(gp);
	ret = 0;
out:
	cmek_json_wipe_member(o, "private_key");
	json_object_put(o);
	sa_free(sa);
	OPENSSL_cleanse(buf, CREDS_FILE_MAX + 1);
	free(buf);
	return ret;
}

/* ---- OAuth2 ---- */

static char *b64url_str(const char *s)
{
	return cmek_b64_encode((const uint8_t *)s, strlen(s), true);
}

static char *jwt_sign(const struct gcp_sa *sa, const char *input)
{
	unsigned char sig[1024];
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok;

	if (!md)
		return NULL;
	ok = EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, sa->key) == 1 &&
	     EVP_PKEY_get_size(sa->key) <= (int)sizeof(sig) &&
	     EVP_DigestSign(md, sig, &siglen, (const unsigned char *)input,
			    strlen(input)) == 1;
	EVP_MD_CTX_free(md);
	return ok ? cmek_b64_encode(sig, siglen, true) : NULL;
}

/*
 * RFC 7523 assertion: header {"alg":"RS256","typ":"JWT","kid"}, claims
 * iss, scope, aud (= token_uri), iat, exp; base64url, no padding.
 */
static char *jwt_make(const struct gcp_sa *sa)
{
	struct json_object *h = json_object_new_object();
	struct json_object *c = json_object_new_object();
	char *hb = NULL, *cb = NULL, *sig = NULL, *input = NULL, *jwt = NULL;
	const int fl = JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE;
	int64_t now = (int64_t)time(NULL);

	if (!h || !c)
		goto out;
	json_object_object_add(h, "alg", json_object_new_string("RS256"));
	json_object_object_add(h, "typ", json_object_new_string("JWT"));
	if (sa->key_id)
		json_object_object_add(h, "kid",
				       json_object_new_string(sa->key_id));
	json_object_object_add(c, "iss",
			       json_object_new_string(sa->client_email));
	json_object_object_add(c, "scope",
			       json_object_new_string(CMEK_GCP_SCOPE));
	json_object_object_add(c, "aud", json_object_new_string(sa->token_uri));
	json_object_object_add(c, "iat", json_object_new_int64(now));
	json_object_object_add(c, "exp",
			       json_object_new_int64(now + JWT_LIFETIME));
	hb = b64url_str(json_object_to_json_string_ext(h, fl));
	cb = b64url_str(json_object_to_json_string_ext(c, fl));
	if (!hb || !cb || asprintf(&input, "%s.%s", hb, cb) < 0) {
		input = NULL;
		goto out;
	}
	sig = jwt_sign(sa, input);
	if (sig && asprintf(&jwt, "%s.%s", input, sig) < 0)
		jwt = NULL;
out:
	json_object_put(h);
	json_object_put(c);
	free(hb);
	free(cb);
	free(input);
	free(sig);
	return jwt;
}

/* A token answer from the token endpoint or the metadata server. */
static int token_take(struct gcp_priv *gp, const struct cmek_http_resp *resp,
		      const char *from, struct cmek_error *err)
{
	char who[700];

	snprintf(who, sizeof(who), "gcp-kms: %s", from);
	return cmek_kit_token_take(&gp->token, who, resp, err);
}

/* A refusal from the token endpoint or the metadata server. */
static int token_refused(const struct cmek_http_resp *resp, const char *from,
			 struct cmek_error *err)
{
	struct json_object *o = cmek_kit_json_answer("gcp-kms", resp->body,
						     resp->len, NULL);
	char code[64] = "", desc[KMS_MSG_MAX] = "";

	if (o) {
		cmek_kit_clean_str(code, sizeof(code),
				   cmek_json_str(o, "error"));
		cmek_kit_clean_str(desc, sizeof(desc),
				   cmek_json_str(o, "error_description"));
	}
	json_object_put(o);
	/* cmekd's own credential refused: alarmed, not a revocation. */
	if (*code && !cmek_http_status_transient(resp->status))
		return cmek_error_credential(err,
					     "gcp-kms: %s refused cmekd's credential: HTTP %ld: %s%s%s",
					     from, resp->status, code,
					     *desc ? ": " : "", desc);
	return cmek_error_set(err, CMEK_ERR_TRANSIENT,
			      "gcp-kms: %s refused a token: HTTP %ld%s%s%s%s",
			      from, resp->status, *code ? ": " : "", code,
			      *desc ? ": " : "", desc);
}

static int token_from_sa(struct gcp_priv *gp, struct cmek_error *err)
{
	static const char grant[] = "grant_type=urn%3Aietf%3Aparams%3Aoauth"
				    "%3Agrant-type%3Ajwt-bearer&assertion=";
	struct cmek_http_resp resp = { 0 };
	struct cmek_http_req r = { .method = "POST" };
	char from[600], why[CMEK_ERRMSG_MAX], *jwt, *body = NULL;
	int ret = -1, n;

	snprintf(from, sizeof(from), "token endpoint %s (service account %s)",
		 gp->sa->token_uri, gp->sa->client_email);
	jwt = jwt_make(gp->sa);
	if (!jwt)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "gcp-kms: cannot sign a JWT with the service account key of %s",
				      gp->sa->client_email);
	n = asprintf(&body, "%s%s", grant, jwt);
	if (n < 0) {
		body = NULL;
		cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
		goto out;
	}
	r.url = gp->sa->token_uri;
	r.body = body;
	r.body_len = (size_t)n;
	r.headers[r.nheaders++] =
		"Content-Type: application/x-www-form-urlencoded";
	r.headers[r.nheaders++] = "Accept: application/json";
	if (cmek_http_call(&gp->http, &r, &resp, err)) {
		snprintf(why, sizeof(why), "%s", err->msg);
		cmek_error_set(err, err->cls, "gcp-kms: token endpoint: %s",
			       why);
		goto out;
	}
	ret = resp.status == 200 ? token_take(gp, &resp, from, err) :
				   token_refused(&resp, from, err);
out:
	cmek_http_resp_free(&resp);
	/* The assertion buys a token for an hour: a secret until then. */
	OPENSSL_cleanse(jwt, strlen(jwt));
	free(jwt);
	if (body) {
		OPENSSL_cleanse(body, (size_t)n);
		free(body);
	}
	return ret;
}

static int token_from_metadata(struct gcp_priv *gp, struct cmek_error *err)
{
	struct cmek_http_resp resp = { 0 };
	struct cmek_http_req r = { .method = "GET", .metadata = true };
	char url[400], from[300], why[CMEK_ERRMSG_MAX];
	int ret;

	snprintf(url, sizeof(url),
		 "%s/computeMetadata/v1/instance/service-accounts/default/token",
		 gp->metadata);
	snprintf(from, sizeof(from), "metadata server %s", gp->metadata);
	r.url = url;
	r.headers[r.nheaders++] = "Metadata-Flavor: Google";
	if (cmek_http_call(&gp->http, &r, &resp, err)) {
		snprintf(why, sizeof(why), "%s", err->msg);
		cmek_error_set(err, err->cls,
			       "gcp-kms: no credentials_file, no GOOGLE_APPLICATION_CREDENTIALS, and %s: %s",
			       from, why);
		cmek_http_resp_free(&resp);
		return -1;
	}
	if (resp.status == 404)
		ret = cmek_error_credential(err,
					    "gcp-kms: %s: no service account attached to this instance (HTTP 404)",
					    from);
	else if (resp.status == 200)
		ret = token_take(gp, &resp, from, err);
	else
		ret = token_refused(&resp, from, err);
	cmek_http_resp_free(&resp);
	return ret;
}

/* A valid access token in gp->token, from the cache if it is fresh. */
static int token_get(struct gcp_priv *gp, struct cmek_error *err)
{
	if (cmek_kit_token_fresh(&gp->token))
		return 0;
	token_drop(gp);
	/* $GOOGLE_APPLICATION_CREDENTIALS too: sa_load() checks the file. */
	if (!gp->sa && gp->creds_path[0]) {
		if (sa_load(gp, err))
			return -1;
	}
	if (gp->sa)
		return token_from_sa(gp, err);
	/* The VM's service account belongs to every process on it: opt in. */
	if (!gp->use_metadata)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "gcp-kms: no credentials: set credentials_file or GOOGLE_APPLICATION_CREDENTIALS, or metadata = yes to use the VM's service account");
	return token_from_metadata(gp, err);
}

/* ---- KMS requests and their errors ---- */

static int auth(void *ctx, bool fresh, char *hdr, size_t len,
		struct cmek_error *err)
{
	struct gcp_priv *gp = ctx;

	if (fresh)
		token_drop(gp);
	if (token_get(gp, err))
		return -1;
	return cmek_kit_token_header(&gp->token, hdr, len, err);
}

/*
 * One KMS request with the shared retry policy and a fresh token after a
 * 401. 0 with any answer in @resp (a second 401 included), -1 with none.
 */
static int kms_call(struct gcp_priv *gp, const char *method, const char *url,
		    const char *body, size_t body_len,
		    struct cmek_http_resp *resp, struct cmek_error *err)
{
	struct cmek_http_req r = {
		.method = method, .url = url, .body = body,
		.body_len = body_len,
	};

	r.headers[r.nheaders++] = "Accept: application/json";
	if (body)
		r.headers[r.nheaders++] = "Content-Type: application/json";
	return cmek_kit_bearer_call(&gp->http, &r, auth, gp, resp, err);
}

static const struct {
	const char *status;
	enum cmek_err_class cls;
} kms_codes[] = {
	{ "PERMISSION_DENIED",	CMEK_ERR_DEFINITIVE },
	{ "NOT_FOUND",		CMEK_ERR_DEFINITIVE },
	{ "FAILED_PRECONDITION", CMEK_ERR_DEFINITIVE },
	{ "INVALID_ARGUMENT",	CMEK_ERR_INVALID },
	{ "OUT_OF_RANGE",	CMEK_ERR_INVALID },
	{ "UNAUTHENTICATED",	CMEK_ERR_TRANSIENT },	/* a credential */
	{ "ALREADY_EXISTS",	CMEK_ERR_INVALID },
	{ "UNIMPLEMENTED",	CMEK_ERR_INVALID },
	{ "RESOURCE_EXHAUSTED",	CMEK_ERR_TRANSIENT },
	{ "UNAVAILABLE",	CMEK_ERR_TRANSIENT },
	{ "DEADLINE_EXCEEDED",	CMEK_ERR_TRANSIENT },
	{ "INTERNAL",		CMEK_ERR_TRANSIENT },
	{ "ABORTED",		CMEK_ERR_TRANSIENT },
	{ "UNKNOWN",		CMEK_ERR_TRANSIENT },
	{ "CANCELLED",		CMEK_ERR_TRANSIENT },
};

/* google.rpc.Status: {"error": {"code", "message", "status"}}. */
static void kms_status(const struct cmek_http_resp *resp, char *status,
		       size_t slen, char *msg, size_t mlen)
{
	struct json_object *o = cmek_kit_json_answer("gcp-kms", resp->body,
						     resp->len, NULL), *e;

	*status = *msg = '\0';
	if (o && json_object_object_get_ex(o, "error", &e) &&
	    json_object_is_type(e, json_type_object)) {
		cmek_kit_clean_str(status, slen, cmek_json_str(e, "status"));
		cmek_kit_clean_str(msg, mlen, cmek_json_str(e, "message"));
	}
	json_object_put(o);
}

/*
 * Classify a non-200 answer. The google.rpc.Status name decides; without
 * one (a proxy's page, an empty body) only the transport rows apply and
 * a 403 or 404 is not taken for a revoked key.
 */
static int kms_error(const struct cmek_http_resp *resp, const char *what,
		     const char *key_ref, struct cmek_error *err)
{
	enum cmek_err_class cls = CMEK_ERR_TRANSIENT;
	char status[40], msg[KMS_MSG_MAX];
	const char *hint = "";
	size_t i;

	kms_status(resp, status, sizeof(status), msg, sizeof(msg));
	for (i = 0; i < sizeof(kms_codes) / sizeof(kms_codes[0]); i++)
		if (!strcmp(status, kms_codes[i].status))
			cls = kms_codes[i].cls;
	if (!*status)
		snprintf(msg, sizeof(msg), "not a google.rpc.Status answer");
	if (!strcmp(status, "UNAUTHENTICATED") || resp->status == 401)
		hint = " (rejected again with a fresh token: check the service account or the instance's credentials)";
	cmek_error_set(err, cls, "gcp-kms %s %s: HTTP %ld %s%s%s%s", what,
		       key_ref, resp->status, status, *status ? ": " : "", msg,
		       hint);
	if (err && (!strcmp(status, "UNAUTHENTICATED") ||
		    (!*status && resp->status == 401)))
		err->credential = true;
	if (!strcmp(status, "RESOURCE_EXHAUSTED") || resp->status == 429)
		cmek_error_throttled(err, resp->retry_after_ms);
	return -1;
}

/* INVALID_ARGUMENT for a checksum we sent: Google asks for a retry. */
static bool kms_checksum_refused(const struct cmek_http_resp *resp)
{
	char status[40], msg[KMS_MSG_MAX];

	if (resp->status != 400)
		return false;
	kms_status(resp, status, sizeof(status), msg, sizeof(msg));
	return !strcmp(status, "INVALID_ARGUMENT") &&
	       strcasestr(msg, "checksum");
}

static int kms_url(struct gcp_priv *gp, const char *key_ref,
		   const char *verb, char *url, size_t len,
		   struct cmek_error *err)
{
	if (!cmek_gcp_key_ref_valid(key_ref))
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "gcp-kms: key '%.*s' is not projects/P/locations/L/keyRings/R/cryptoKeys/K",
				      CMEK_GCP_KEY_REF_MAX, key_ref);
	if (snprintf(url, len, "%s/v1/%s%s", gp->endpoint, key_ref, verb) >=
	    (int)len)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "gcp-kms: endpoint and key too long");
	return 0;
}

/* "cmek-dek-v1:<uuid>" and its checksum. */
static size_t binding_aad(const struct cmek_binding *b, char *aad,
			  size_t len, char **aad64, uint32_t *crc)
{
	size_t n = cmek_binding_aad(b, aad, len);

	if (!n || n >= len)
		return 0;
	*aad64 = cmek_b64_encode((const uint8_t *)aad, n, false);
	*crc = cmek_crc32c(0, aad, n);
	return *aad64 ? n : 0;
}

/* ---- encrypt ---- */

enum { ANSWER_OK = 0, ANSWER_CORRUPT = 1, ANSWER_BAD = -1 };

/*
 * EncryptResponse: {"name": the version used, "ciphertext",
 * "ciphertextCrc32c", "verifiedPlaintextCrc32c",
 * "verifiedAdditionalAuthenticatedDataCrc32c", "protectionLevel"}.
 */
static int encrypt_answer(const struct cmek_http_resp *resp,
			  const char *key_ref, uint8_t **ct, size_t *ct_len,
			  char *version, size_t version_len,
			  struct cmek_error *err)
{
	struct json_object *o = cmek_kit_json_answer("gcp-kms", resp->body,
						     resp->len, NULL);
	size_t klen = strlen(key_ref);
	const char *name;
	char why[80];
	uint32_t crc = 0;
	int ret = ANSWER_BAD, vp, va, hc;

	*ct = NULL;
	if (!o) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT,
			       "gcp-kms encrypt %s: answer is not a JSON object",
			       key_ref);
		goto out;
	}
	name = cmek_json_str(o, "name");
	if (!name || strncmp(name, key_ref, klen) ||
	    !version_name_valid(name, key_ref) ||
	    strlen(name) >= version_len) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT,
			       "gcp-kms encrypt %s: answer names another key version (%.200s)",
			       key_ref, name ? name : "none");
		goto out;
	}
	snprintf(version, version_len, "%s", name);
	vp = json_true(o, "verifiedPlaintextCrc32c");
	va = json_true(o, "verifiedAdditionalAuthenticatedDataCrc32c");
	hc = json_crc(o, "ciphertextCrc32c", &crc);
	if (vp < 0 || va < 0 || hc < 0) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT,
			       "gcp-kms encrypt %s: integrity fields of the wrong type",
			       key_ref);
		goto out;
	}
	*ct = cmek_kit_json_b64(o, "ciphertext", 1, CIPHERTEXT_MAX, ct_len,
				why, sizeof(why));
	if (!*ct) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT,
			       "gcp-kms encrypt %s: ciphertext %s", key_ref,
			       why);
		goto out;
	}
	ret = ANSWER_CORRUPT;
	if (!vp || !va)
		cmek_error_set(err, CMEK_ERR_TRANSIENT,
			       "gcp-kms encrypt %s: the KMS did not verify the %s checksum we sent",
			       key_ref, !vp ? "plaintext" : "AAD");
	else if (!hc || crc != cmek_crc32c(0, *ct, *ct_len))
		cmek_error_set(err, CMEK_ERR_TRANSIENT,
			       "gcp-kms encrypt %s: ciphertextCrc32c %s",
			       key_ref, hc ? "does not match the ciphertext" :
			       "missing");
	else
		ret = ANSWER_OK;
out:
	if (ret != ANSWER_OK) {
		free(*ct);
		*ct = NULL;
	}
	json_object_put(o);
	return ret;
}

/*
 * Repeat a request whose answer fails the CRC32C checks, as the API
 * reference asks ("discard the response and perform a limited number of
 * retries"). @answer returns ANSWER_*; a persistent mismatch is still no
 * answer that counts (transient): it came over the network.
 */
typedef int (*answer_fn)(const struct cmek_http_resp *resp,
			 const char *key_ref, void *out, struct cmek_error *err);

static int kms_integrity_call(struct gcp_priv *gp, const char *what,
			      const char *key_ref, const char *url,
			      const char *body, size_t len, answer_fn answer,
			      void *out, struct cmek_error *err)
{
	char what_failed[CMEK_ERRMSG_MAX];
	struct cmek_http_resp resp = { 0 };
	int i, r = ANSWER_BAD;

	for (i = 0; i < INTEGRITY_TRIES; i++) {
		if (kms_call(gp, "POST", url, body, len, &resp, err))
			goto out;
		if (resp.status != 200) {
			if (kms_checksum_refused(&resp) &&
			    i + 1 < INTEGRITY_TRIES)
				continue;
			kms_error(&resp, what, key_ref, err);
			r = ANSWER_BAD;
			goto out;
		}
		r = answer(&resp, key_ref, out, err);
		if (r != ANSWER_CORRUPT)
			goto out;
	}
	snprintf(what_failed, sizeof(what_failed), "%s", err->msg);
	cmek_error_set(err, CMEK_ERR_TRANSIENT, "%s (%d answers in a row)",
		       what_failed, INTEGRITY_TRIES);
out:
	cmek_http_resp_free(&resp);
	return r == ANSWER_OK ? 0 : -1;
}

struct ct_out {
	uint8_t *ct;
	size_t len;
	char version[CMEK_GCP_KEY_REF_MAX + 40];
};

static int encrypt_cb(const struct cmek_http_resp *resp, const char *key_ref,
		      void *out, struct cmek_error *err)
{
	struct ct_out *c = out;

	return encrypt_answer(resp, key_ref, &c->ct, &c->len, c->version,
			      sizeof(c->version), err);
}

static int gcp_wrap(struct cmek_provider *p, const char *key_ref,
		    const struct cmek_binding *b, const uint8_t *dek,
		    size_t dek_len, uint8_t **wrapped, size_t *wrapped_len,
		    struct cmek_error *err)
{
	struct gcp_priv *gp = p->priv;
	char url[1200], aad[96], *aad64 = NULL, *pt64 = NULL, *body = NULL;
	struct cmek_error local;
	struct ct_out c = { 0 };
	uint32_t aad_crc = 0;
	int n = -1, ret = -1;

	if (!err)
		err = &local;	/* the helpers below read err back */
	if (!dek_len || dek_len > CMEK_DEK_MAX)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "gcp-kms: bad DEK length %zu", dek_len);
	if (kms_url(gp, key_ref, ":encrypt", url, sizeof(url), err))
		return -1;
	if (!binding_aad(b, aad, sizeof(aad), &aad64, &aad_crc)) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
		goto out;
	}
	pt64 = cmek_b64_encode(dek, dek_len, false);
	if (pt64)
		n = asprintf(&body,
			     "{\"plaintext\":\"%s\",\"additionalAuthenticatedData\":\"%s\","
			     "\"plaintextCrc32c\":\"%u\",\"additionalAuthenticatedDataCrc32c\":\"%u\"}",
			     pt64, aad64, cmek_crc32c(0, dek, dek_len), aad_crc);
	if (n < 0) {
		body = NULL;
		cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
		goto out;
	}
	if (kms_integrity_call(gp, "encrypt", key_ref, url, body, (size_t)n,
			       encrypt_cb, &c, err))
		goto out;
	/*
	 * The ciphertext names its version only to Cloud KMS: the slot says
	 * it too, so that the watch asks about that version (slot_state).
	 */
	*wrapped = cmek_slot_prefix(c.version, c.ct, c.len, wrapped_len);
	free(c.ct);
	if (!*wrapped) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
		goto out;
	}
	ret = 0;
out:
	if (pt64) {
		OPENSSL_cleanse(pt64, strlen(pt64));
		free(pt64);
	}
	if (body) {
		OPENSSL_cleanse(body, (size_t)n);
		free(body);
	}
	free(aad64);
	return ret;
}

static int gcp_generate(struct cmek_provider *p, const char *key_ref,
			const struct cmek_binding *b, uint8_t *dek,
			size_t dek_len, uint8_t **wrapped, size_t *wrapped_len,
			struct cmek_error *err)
{
	if (!dek_len || dek_len > CMEK_DEK_MAX)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "gcp-kms: bad DEK length %zu", dek_len);
	return cmek_generate_by_wrap(p, key_ref, b, dek, dek_len, wrapped,
				     wrapped_len, err);
}

/* ---- decrypt ---- */

struct pt_out {
	uint8_t *dek;			/* CMEK_DEK_MAX bytes, the caller's */
	size_t *len;
};

/* DecryptResponse: {"plaintext", "plaintextCrc32c", "usedPrimary", ...}. */
static int decrypt_cb(const struct cmek_http_resp *resp, const char *key_ref,
		      void *out, struct cmek_error *err)
{
	struct json_object *o = cmek_kit_json_answer("gcp-kms", resp->body,
						     resp->len, NULL);
	struct pt_out *po = out;
	char why[80];
	uint8_t *pt = NULL;
	size_t len = 0;
	uint32_t crc = 0;
	int ret = ANSWER_BAD, hc;

	if (!o) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT,
			       "gcp-kms decrypt %s: answer is not a JSON object",
			       key_ref);
		goto out;
	}
	hc = json_crc(o, "plaintextCrc32c", &crc);
	if (hc < 0) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT,
			       "gcp-kms decrypt %s: plaintextCrc32c is not a 32-bit checksum",
			       key_ref);
		goto out;
	}
	/* A few bytes more than a DEK, to tell "too long" from "corrupt". */
	pt = cmek_kit_json_b64(o, "plaintext", 1, CMEK_DEK_MAX * 4, &len, why,
			       sizeof(why));
	if (!pt) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT,
			       "gcp-kms decrypt %s: plaintext %s", key_ref, why);
		goto out;
	}
	if (!hc || crc != cmek_crc32c(0, pt, len)) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT,
			       "gcp-kms decrypt %s: plaintextCrc32c %s: answer discarded",
			       key_ref, hc ? "does not match the plaintext" :
			       "missing");
		ret = ANSWER_CORRUPT;
		goto out;
	}
	if (len > CMEK_DEK_MAX) {
		cmek_error_set(err, CMEK_ERR_INVALID,
			       "gcp-kms decrypt %s: plaintext of %zu bytes is not a data key",
			       key_ref, len);
		goto out;
	}
	memcpy(po->dek, pt, len);
	*po->len = len;
	ret = ANSWER_OK;
out:
	if (pt) {
		OPENSSL_cleanse(pt, len);
		free(pt);
	}
	cmek_json_wipe_member(o, "plaintext");
	json_object_put(o);
	return ret;
}

static int gcp_unwrap(struct cmek_provider *p, const char *key_ref,
		      const struct cmek_binding *b, const uint8_t *wrapped,
		      size_t wrapped_len, uint8_t *dek, size_t *dek_len,
		      struct cmek_error *err)
{
	struct gcp_priv *gp = p->priv;
	char url[1200], aad[96], *aad64 = NULL, *ct64 = NULL, *body = NULL;
	struct pt_out po = { dek, dek_len };
	char version[CMEK_GCP_KEY_REF_MAX + 40];
	struct cmek_error local;
	uint32_t aad_crc = 0;
	int n = -1, ret = -1, pre;

	if (!err)
		err = &local;
	pre = cmek_slot_unprefix(wrapped, wrapped_len, version,
				 sizeof(version), &wrapped, &wrapped_len);
	if (pre < 0 || (pre && !version_name_valid(version, key_ref)))
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "gcp-kms: wrapped key names no version of %.200s",
				      key_ref);
	if (!wrapped_len || wrapped_len > CIPHERTEXT_MAX)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "gcp-kms: wrapped key of %zu bytes is not a Cloud KMS ciphertext",
				      wrapped_len);
	if (kms_url(gp, key_ref, ":decrypt", url, sizeof(url), err))
		return -1;
	if (!binding_aad(b, aad, sizeof(aad), &aad64, &aad_crc)) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
		goto out;
	}
	ct64 = cmek_b64_encode(wrapped, wrapped_len, false);
	if (ct64)
		n = asprintf(&body,
			     "{\"ciphertext\":\"%s\",\"additionalAuthenticatedData\":\"%s\","
			     "\"ciphertextCrc32c\":\"%u\",\"additionalAuthenticatedDataCrc32c\":\"%u\"}",
			     ct64, aad64, cmek_crc32c(0, wrapped, wrapped_len),
			     aad_crc);
	if (n < 0) {
		body = NULL;
		cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
		goto out;
	}
	ret = kms_integrity_call(gp, "decrypt", key_ref, url, body, (size_t)n,
				 decrypt_cb, &po, err);
out:
	if (ret)
		OPENSSL_cleanse(dek, CMEK_DEK_MAX);
	free(ct64);
	free(body);
	free(aad64);
	return ret;
}

/* ---- key state ---- */

static const struct {
	const char *name;
	enum cmek_kms_key_state state;
} version_states[] = {
	{ "ENABLED",			CMEK_KMS_ENABLED },
	{ "DISABLED",			CMEK_KMS_DISABLED },
	{ "DESTROY_SCHEDULED",		CMEK_KMS_PENDING_DELETION },
	{ "DESTROYED",			CMEK_KMS_DELETED },
	{ "PENDING_EXTERNAL_DESTRUCTION", CMEK_KMS_PENDING_DELETION },
	{ "EXTERNAL_DESTRUCTION_FAILED", CMEK_KMS_DELETED },
	{ "GENERATION_FAILED",		CMEK_KMS_DISABLED },
	{ "IMPORT_FAILED",		CMEK_KMS_DISABLED },
	/* Becomes ENABLED by itself in a moment: not a reason to lock. */
	{ "PENDING_GENERATION",		CMEK_KMS_UNKNOWN },
	{ "PENDING_IMPORT",		CMEK_KMS_UNKNOWN },
};

/* CryptoKey: {"name", "primary": CryptoKeyVersion {"name", "state"}, ...} */
static int key_answer(const struct cmek_http_resp *resp, const char *key_ref,
		      enum cmek_kms_key_state *state, struct cmek_error *err)
{
	struct json_object *o = cmek_kit_json_answer("gcp-kms", resp->body,
						     resp->len, NULL), *pr;
	const char *name, *purpose, *st;
	int ret = -1;
	size_t i;

	if (!o) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT,
			       "gcp-kms get %s: answer is not a JSON object",
			       key_ref);
		goto out;
	}
	name = cmek_json_str(o, "name");
	purpose = cmek_json_str(o, "purpose");
	if (!name || strcmp(name, key_ref)) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT,
			       "gcp-kms get %s: answer is about another key (%.200s)",
			       key_ref, name ? name : "no name");
		goto out;
	}
	if (purpose && strcmp(purpose, "ENCRYPT_DECRYPT")) {
		cmek_error_set(err, CMEK_ERR_INVALID,
			       "gcp-kms get %s: key purpose %.40s cannot encrypt (ENCRYPT_DECRYPT needed)",
			       key_ref, purpose);
		goto out;
	}
	if (!json_object_object_get_ex(o, "primary", &pr)) {
		/* Nothing to encrypt with: as good as disabled. */
		*state = CMEK_KMS_DISABLED;
		ret = 0;
		goto out;
	}
	st = json_object_is_type(pr, json_type_object) ?
	     cmek_json_str(pr, "state") : NULL;
	for (i = 0; st && i < sizeof(version_states) / sizeof(version_states[0]);
	     i++)
		if (!strcmp(st, version_states[i].name)) {
			*state = version_states[i].state;
			ret = 0;
			goto out;
		}
	cmek_error_set(err, CMEK_ERR_TRANSIENT,
		       "gcp-kms get %s: primary version state %.40s not understood",
		       key_ref, st ? st : "missing");
out:
	json_object_put(o);
	return ret;
}

/*
 * GET @url (a key or a key version, @name) and turn the answer into a
 * state: @answer reads a 200's body; PERMISSION_DENIED and NOT_FOUND are
 * the KMS's own word about the object. 0, or -1 with @err set.
 */
static int get_state(struct gcp_priv *gp, const char *url, const char *name,
		     int (*answer)(const struct cmek_http_resp *resp,
				   const char *name,
				   enum cmek_kms_key_state *state,
				   struct cmek_error *err),
		     enum cmek_kms_key_state *state, struct cmek_error *err)
{
	struct cmek_http_resp resp = { 0 };
	char status[40], msg[KMS_MSG_MAX];
	int ret = -1;

	if (kms_call(gp, "GET", url, NULL, 0, &resp, err))
		goto out;
	if (resp.status == 200) {
		ret = answer(&resp, name, state, err);
		goto out;
	}
	kms_status(&resp, status, sizeof(status), msg, sizeof(msg));
	if (!strcmp(status, "PERMISSION_DENIED")) {
		*state = CMEK_KMS_ACCESS_DENIED;
		ret = 0;
	} else if (!strcmp(status, "NOT_FOUND")) {
		*state = CMEK_KMS_DELETED;
		ret = 0;
	} else {
		kms_error(&resp, "get", name, err);
	}
out:
	cmek_http_resp_free(&resp);
	return ret;
}

/*
 * The state of the key's primary version: what a new wrap would use. A
 * slot wrapped under another version is asked about through
 * gcp_slot_state(), by the version its blob names; only an older blob,
 * which names none, is checked here.
 */
static int gcp_key_state(struct cmek_provider *p, const char *key_ref,
			 enum cmek_kms_key_state *state,
			 struct cmek_error *err)
{
	struct gcp_priv *gp = p->priv;
	struct cmek_error local;
	char url[1200];

	if (!err)
		err = &local;
	*state = CMEK_KMS_UNKNOWN;
	if (kms_url(gp, key_ref, "", url, sizeof(url), err))
		return -1;
	return get_state(gp, url, key_ref, key_answer, state, err);
}

/* The version the slot's prefix names (gcp_wrap), "" for an older blob. */
static int gcp_slot_key(const char *key_ref, const uint8_t *wrapped,
			size_t wrapped_len, char *id, size_t id_len)
{
	const uint8_t *ct;
	size_t ct_len;
	int pre;

	pre = cmek_slot_unprefix(wrapped, wrapped_len, id, id_len, &ct,
				 &ct_len);
	if (pre <= 0)
		return pre;
	return version_name_valid(id, key_ref) ? 0 : -1;
}

/* CryptoKeyVersion: {"name", "state", ...}, the version asked about. */
static int version_answer(const struct cmek_http_resp *resp, const char *id,
			  enum cmek_kms_key_state *state,
			  struct cmek_error *err)
{
	struct json_object *o = cmek_kit_json_answer("gcp-kms", resp->body,
						     resp->len, NULL);
	const char *name, *st = NULL;
	int ret = -1;
	size_t i;

	if (!o) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT,
			       "gcp-kms get %s: answer is not a JSON object", id);
		goto out;
	}
	name = cmek_json_str(o, "name");
	if (!name || strcmp(name, id)) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT,
			       "gcp-kms get %s: answer is about another version (%.200s)",
			       id, name ? name : "no name");
		goto out;
	}
	st = cmek_json_str(o, "state");
	for (i = 0; st && i < sizeof(version_states) / sizeof(version_states[0]);
	     i++)
		if (!strcmp(st, version_states[i].name)) {
			*state = version_states[i].state;
			ret = 0;
			goto out;
		}
	cmek_error_set(err, CMEK_ERR_TRANSIENT,
		       "gcp-kms get %s: version state %.40s not understood", id,
		       st ? st : "missing");
out:
	json_object_put(o);
	return ret;
}

/*
 * The state of the one version a slot was wrapped under, whichever
 * version is primary now: disabling or destroying it is what makes the
 * slot undecryptable.
 */
static int gcp_slot_state(struct cmek_provider *p, const char *id,
			  enum cmek_kms_key_state *state,
			  struct cmek_error *err)
{
	struct gcp_priv *gp = p->priv;
	struct cmek_error local;
	char url[1200];

	if (!err)
		err = &local;
	*state = CMEK_KMS_UNKNOWN;
	if (!version_name_valid(id, NULL))
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "gcp-kms: '%.200s' is not a key version name",
				      id);
	if (snprintf(url, sizeof(url), "%s/v1/%s", gp->endpoint, id) >=
	    (int)sizeof(url))
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "gcp-kms: endpoint and key too long");
	return get_state(gp, url, id, version_answer, state, err);
}

/* ---- setup ---- */

static int gcp_init(struct cmek_provider *p, struct cmek_error *err)
{
	struct gcp_priv *gp = calloc(1, sizeof(*gp));
	const char *env = getenv("GOOGLE_APPLICATION_CREDENTIALS");

	if (!gp)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
	cmek_http_opts_init(&gp->http);
	snprintf(gp->endpoint, sizeof(gp->endpoint), "%s", CMEK_GCP_ENDPOINT);
	snprintf(gp->metadata, sizeof(gp->metadata), "%s", CMEK_GCP_METADATA);
	/* Read at the first request, so that a config line can override. */
	if (env && *env && strlen(env) < sizeof(gp->creds_path))
		snprintf(gp->creds_path, sizeof(gp->creds_path), "%s", env);
	p->priv = gp;
	return 0;
}

static int set_url(char *dst, size_t len, const char *key, const char *value,
		   bool metadata, struct cmek_error *err)
{
	size_t n = strlen(value);

	if (metadata ? strncmp(value, "http://", 7) ||
		       strpbrk(value + 7, "@?# \t\r\n") || n == 7 :
		       cmek_http_endpoint_valid(value, err) != 0)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "gcp-kms: %s '%s' is not %s", key, value,
				      metadata ? "http://HOST[:PORT] (the metadata server speaks plain HTTP)" :
				      "https://HOST[:PORT][/PATH]");
	while (n > 8 && value[n - 1] == '/')
		n--;
	if (n >= len)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "gcp-kms: %s too long", key);
	memcpy(dst, value, n);
	dst[n] = '\0';
	return 0;
}

static const struct cmek_setting gcp_settings[] = {
	{ "credentials_file", CMEK_SETTING_PATH, CMEK_SETTING_SECRET_FILE, NULL,
	  "Service-account key file (JSON); default $GOOGLE_APPLICATION_CREDENTIALS" },
	{ "endpoint", CMEK_SETTING_URL, 0, "https://cloudkms.googleapis.com",
	  "Cloud KMS endpoint" },
	{ "metadata", CMEK_SETTING_BOOL, 0, "no",
	  "Use the VM's service account from the metadata server" },
	{ "metadata_endpoint", CMEK_SETTING_URL, 0, "http://169.254.169.254",
	  "Metadata server" },
	CMEK_HTTP_SETTINGS,
	{ .name = NULL }
};

static int gcp_configure(struct cmek_provider *p, const char *key,
			 const char *value, struct cmek_error *err)
{
	struct gcp_priv *gp = p->priv;
	int r;

	if (cmek_setting_check("gcp-kms", gcp_settings, key, err))
		return -1;
	r = cmek_http_configure(&gp->http, key, value, err);
	if (r)
		return r < 0 ? -1 : 0;
	if (!strcmp(key, "endpoint"))
		return set_url(gp->endpoint, sizeof(gp->endpoint), key, value,
			       false, err);
	if (!strcmp(key, "metadata")) {
		token_drop(gp);
		if (cmek_parse_bool(value, &gp->use_metadata))
			return cmek_error_set(err, CMEK_ERR_INVALID,
					      "gcp-kms: metadata must be yes or no");
		return 0;
	}
	if (!strcmp(key, "metadata_endpoint")) {
		token_drop(gp);
		return set_url(gp->metadata, sizeof(gp->metadata), key, value,
			       true, err);
	}
	if (!strcmp(key, "credentials_file")) {
		if (value[0] != '/' || strlen(value) >= sizeof(gp->creds_path))
			return cmek_error_set(err, CMEK_ERR_INVALID,
					      "gcp-kms: credentials_file must be an absolute path");
		snprintf(gp->creds_path, sizeof(gp->creds_path), "%s", value);
		/* Now, so that a bad file is reported with its config line. */
		return sa_load(gp, err);
	}
	return cmek_setting_unhandled("gcp-kms", key, err);
}

static void gcp_destroy(struct cmek_provider *p)
{
	struct gcp_priv *gp = p->priv;

	if (!gp)
		return;
	sa_free(gp->sa);
	token_drop(gp);
	cmek_http_opts_free(&gp->http);
	OPENSSL_cleanse(gp, sizeof(*gp));
	free(gp);
	p->priv = NULL;
}

const struct cmek_provider_ops cmek_gcp_kms_ops = {
	.name = "gcp-kms",
	.settings = gcp_settings,
	.init = gcp_init,
	.configure = gcp_configure,
	.generate = gcp_generate,
	.wrap = gcp_wrap,
	.unwrap = gcp_unwrap,
	.rewrap = NULL,		/* Cloud KMS has no re-encrypt call */
	.key_state = gcp_key_state,
	.slot_key = gcp_slot_key,
	.slot_state = gcp_slot_state,
	.destroy = gcp_destroy,
};
