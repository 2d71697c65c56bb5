// SPDX-License-Identifier: GPL-2.0
/*
 * A fake Google Cloud KMS (REST v1) and its OAuth2 token endpoint and
 * metadata server, for the gcp-kms provider's tests; see fake_gcp.h.
 * Linked into every unit test binary: no main(), every global symbol
 * starts with fake_gcp_.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "aesgcm.h"
#include "b64.h"
#include "crc32c.h"
#include "fake_gcp.h"

#define MAX_KEYS	8
#define MAX_VERSIONS	8
#define MAX_TOKENS	64
#define NONCE_LEN	12
#define TAG_LEN		16
#define CT_HDR		(4 + NONCE_LEN)

struct version {
	char state[40];
	unsigned char aes[32];
};

struct key {
	char name[256];
	struct version v[MAX_VERSIONS];	/* v[i] is version i + 1 */
	int nver;
	int primary;			/* 0: none */
	bool deny;
};

struct token {
	char tok[64];
	time_t exp;
	bool valid;
};

struct fake_gcp {
	pthread_mutex_t lock;
	struct key keys[MAX_KEYS];
	int nkeys;

	EVP_PKEY *sa_pub;
	char sa_email[128];
	char sa_kid[48];

	struct token tokens[MAX_TOKENS];
	unsigned int ntok;		/* next slot, round robin */
	int ttl;
	bool reject;
	bool metadata_no_sa;

	unsigned int corrupt[3];
	int canned_status;
	char *canned_body;
	unsigned int canned_count;

	struct fake_gcp_stats st;
};

/* ---- set-up, from the test thread ---- */

struct fake_gcp *fake_gcp_new(void)
{
	struct fake_gcp *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	pthread_mutex_init(&f->lock, NULL);
	f->ttl = 3600;
	return f;
}

void fake_gcp_free(struct fake_gcp *f)
{
	if (!f)
		return;
	EVP_PKEY_free(f->sa_pub);
	free(f->canned_body);
	pthread_mutex_destroy(&f->lock);
	OPENSSL_cleanse(f, sizeof(*f));
	free(f);
}

static char *pem_of(EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out = NULL;
	long n;

	if (!b)
		return NULL;
	if (PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) == 1) {
		n = BIO_get_mem_data(b, &data);
		out = n > 0 ? strndup(data, (size_t)n) : NULL;
	}
	BIO_free(b);
	return out;
}

int fake_gcp_write_sa(struct fake_gcp *f, const char *path,
		      const char *token_uri, const char *email, bool trusted)
{
	struct json_object *o = json_object_new_object();
	EVP_PKEY *k = EVP_RSA_gen(2048);
	char kid[48], *pem = NULL;
	unsigned char rnd[16];
	const char *text;
	FILE *fp = NULL;
	int i, ret = -1;

	if (!o || !k || RAND_bytes(rnd, sizeof(rnd)) != 1)
		goto out;
	for (i = 0; i < 16; i++)
		snprintf(kid + 2 * i, 3, "%02x", rnd[i]);
	pem = pem_of(k);
	if (!pem)
		goto out;
	json_object_object_add(o, "type",
			       json_object_new_string("service_account"));
	json_object_object_add(o, "project_id", json_object_new_string("p"));
	json_object_object_add(o, "private_key_id", json_object_new_string(kid));
	json_object_object_add(o, "private_key", json_object_new_string(pem));
	json_object_object_add(o, "client_email", json_object_new_string(email));
	json_object_object_add(o, "client_id",
			       json_object_new_string("100000000000000000001"));
	json_object_object_add(o, "auth_uri",
			       json_object_new_string("https://accounts.google.com/o/oauth2/auth"));
	json_object_object_add(o, "token_uri", json_object_new_string(token_uri));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	fp = fopen(path, "w");
	if (!fp)
		goto out;
	fchmod(fileno(fp), 0600);
	if (fputs(text, fp) < 0)
		goto out;
	if (trusted) {
		pthread_mutex_lock(&f->lock);
		EVP_PKEY_free(f->sa_pub);
		f->sa_pub = k;
		k = NULL;
		snprintf(f->sa_email, sizeof(f->sa_email), "%s", email);
		snprintf(f->sa_kid, sizeof(f->sa_kid), "%s", kid);
		pthread_mutex_unlock(&f->lock);
	}
	ret = 0;
out:
	if (fp && fclose(fp))
		ret = -1;
	free(pem);
	json_object_put(o);
	EVP_PKEY_free(k);
	return ret;
}

static struct key *find_key(struct fake_gcp *f, const char *name, size_t n)
{
	int i;

	for (i = 0; i < f->nkeys; i++)
		if (strlen(f->keys[i].name) == n &&
		    !strncmp(f->keys[i].name, name, n))
			return &f->keys[i];
	return NULL;
}

static int new_version(struct key *k)
{
	struct version *v;

	if (k->nver >= MAX_VERSIONS)
		return -1;
	v = &k->v[k->nver];
	snprintf(v->state, sizeof(v->state), "ENABLED");
	if (RAND_bytes(v->aes, sizeof(v->aes)) != 1)
		return -1;
	return ++k->nver;
}

int fake_gcp_add_key(struct fake_gcp *f, const char *name)
{
	struct key *k;
	int ret = -1;

	pthread_mutex_lock(&f->lock);
	if (f->nkeys < MAX_KEYS && strlen(name) < sizeof(k->name)) {
		k = &f->keys[f->nkeys];
		memset(k, 0, sizeof(*k));
		snprintf(k->name, sizeof(k->name), "%s", name);
		k->primary = new_version(k);
		if (k->primary > 0) {
			f->nkeys++;
			ret = 0;
		}
	}
	pthread_mutex_unlock(&f->lock);
	return ret;
}

int fake_gcp_add_version(struct fake_gcp *f, const char *name, bool primary)
{
	struct key *k;
	int v = -1;

	pthread_mutex_lock(&f->lock);
	k = find_key(f, name, strlen(name));
	if (k)
		v = new_version(k);
	if (k && v > 0 && primary)
		k->primary = v;
	pthread_mutex_unlock(&f->lock);
	return v;
}

int fake_gcp_set_state(struct fake_gcp *f, const char *name, int version,
		       const char *state)
{
	struct key *k;
	int ret = -1;

	pthread_mutex_lock(&f->lock);
	k = find_key(f, name, strlen(name));
	if (k && !version)
		version = k->primary;
	if (k && version > 0 && version <= k->nver) {
		snprintf(k->v[version - 1].state,
			 sizeof(k->v[version - 1].state), "%s", state);
		ret = 0;
	}
	pthread_mutex_unlock(&f->lock);
	return ret;
}

int fake_gcp_set_primary(struct fake_gcp *f, const char *name, int version)
{
	struct key *k;
	int ret = -1;

	pthread_mutex_lock(&f->lock);
	k = find_key(f, name, strlen(name));
	if (k && version >= 0 && version <= k->nver) {
		k->primary = version;
		ret = 0;
	}
	pthread_mutex_unlock(&f->lock);
	return ret;
}

int fake_gcp_deny(struct fake_gcp *f, const char *name, bool deny)
{
	struct key *k;

	pthread_mutex_lock(&f->lock);
	k = find_key(f, name, strlen(name));
	if (k)
		k->deny = deny;
	pthread_mutex_unlock(&f->lock);
	return k ? 0 : -1;
}

void fake_gcp_token_ttl(struct fake_gcp *f, int secs)
{
	pthread_mutex_lock(&f->lock);
	f->ttl = secs;
	pthread_mutex_unlock(&f->lock);
}

void fake_gcp_expire_tokens(struct fake_gcp *f)
{
	pthread_mutex_lock(&f->lock);
	for (int i = 0; i < MAX_TOKENS; i++)
		f->tokens[i].valid = false;
	pthread_mutex_unlock(&f->lock);
}

void fake_gcp_reject_tokens(struct fake_gcp *f, bool reject)
{
	pthread_mutex_lock(&f->lock);
	f->reject = reject;
	pthread_mutex_unlock(&f->lock);
}

void fake_gcp_metadata_no_sa(struct fake_gcp *f, bool none)
{
	pthread_mutex_lock(&f->lock);
	f->metadata_no_sa = none;
	pthread_mutex_unlock(&f->lock);
}

void fake_gcp_corrupt(struct fake_gcp *f, enum fake_gcp_corruption what,
		      unsigned int count)
{
	pthread_mutex_lock(&f->lock);
	f->corrupt[what] = count;
	pthread_mutex_unlock(&f->lock);
}

void fake_gcp_canned(struct fake_gcp *f, int status, const char *body,
		     unsigned int count)
{
	pthread_mutex_lock(&f->lock);
	free(f->canned_body);
	f->canned_body = body ? strdup(body) : NULL;
	f->canned_status = status;
	f->canned_count = f->canned_body ? count : 0;
	pthread_mutex_unlock(&f->lock);
}

void fake_gcp_stats(struct fake_gcp *f, struct fake_gcp_stats *st)
{
	pthread_mutex_lock(&f->lock);
	*st = f->st;
	pthread_mutex_unlock(&f->lock);
}

/* ---- answers ---- */

/* google.rpc.Status, with the HTTP status the API maps @status to. */
static void status_reply(struct fake_resp *rs, int code, const char *status,
			 const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void status_reply(struct fake_resp *rs, int code, const char *status,
			 const char *fmt, ...)
{
	struct json_object *o = json_object_new_object();
	struct json_object *e = json_object_new_object();
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(e, "code", json_object_new_int(code));
	json_object_object_add(e, "message", json_object_new_string(msg));
	json_object_object_add(e, "status", json_object_new_string(status));
	json_object_object_add(o, "error", e);
	fake_reply(rs, code, "%s",
		   json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

static void oauth_error(struct fake_gcp *f, struct fake_resp *rs,
			const char *error, const char *desc)
{
	snprintf(f->st.last_jwt_error, sizeof(f->st.last_jwt_error), "%s: %s",
		 error, desc);
	fake_reply(rs, 400, "{\n  \"error\": \"%s\",\n  \"error_description\": \"%s\"\n}",
		   error, desc);
}

static void issue_token(struct fake_gcp *f, struct fake_resp *rs,
			const char *prefix)
{
	struct token *t = &f->tokens[f->ntok++ % MAX_TOKENS];
	unsigned char rnd[18];
	char *r;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		fake_reply(rs, 500, "{}");
		return;
	}
	r = cmek_b64_encode(rnd, sizeof(rnd), true);
	snprintf(t->tok, sizeof(t->tok), "ya29.%s.%s", prefix, r ? r : "x");
	free(r);
	t->exp = time(NULL) + f->ttl;
	t->valid = true;
	f->st.tokens_issued++;
	fake_reply(rs, 200, "{\n  \"access_token\": \"%s\",\n  \"expires_in\": %d,\n  \"token_type\": \"Bearer\"\n}",
		   t->tok, f->ttl);
}

/* ---- POST /token: the JWT bearer grant ---- */

static int unhex(char c)
{
	return isdigit((unsigned char)c) ? c - '0' :
	       (c >= 'a' && c <= 'f') ? c - 'a' + 10 :
	       (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
}

/* The value of @name in an x-www-form-urlencoded body, decoded. */
static char *form_value(const char *body, const char *name)
{
	size_t n = strlen(name), i, o;
	const char *p = body, *end;
	char *v;

	while (p && *p) {
		end = strchr(p, '&');
		if (!end)
			end = p + strlen(p);
		if ((size_t)(end - p) > n && !strncmp(p, name, n) &&
		    p[n] == '=') {
			p += n + 1;
			v = malloc((size_t)(end - p) + 1);
			if (!v)
				return NULL;
			for (i = o = 0; p + i < end; i++) {
				if (p[i] == '%' && p + i + 2 < end &&
				    unhex(p[i + 1]) >= 0 && unhex(p[i + 2]) >= 0) {
					v[o++] = (char)(unhex(p[i + 1]) * 16 +
							unhex(p[i + 2]));
					i += 2;
				} else {
					v[o++] = p[i] == '+' ? ' ' : p[i];
				}
			}
			v[o] = '\0';
			return v;
		}
		p = *end ? end + 1 : NULL;
	}
	return NULL;
}

static struct json_object *b64url_json(const char *s, size_t n)
{
	size_t len = 0;
	uint8_t *d = cmek_b64_decode(s, n, true, &len);
	struct json_object *o;
	char *z;

	if (!d)
		return NULL;
	z = strndup((char *)d, len);
	free(d);
	o = z ? json_tokener_parse(z) : NULL;
	free(z);
	return o;
}

static const char *jstr(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) &&
	       json_object_is_type(v, json_type_string) ?
	       json_object_get_string(v) : NULL;
}

static int64_t jint(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) &&
	       json_object_is_type(v, json_type_int) ?
	       json_object_get_int64(v) : -1;
}

static bool rs256_ok(EVP_PKEY *pub, const char *input, size_t n,
		     const char *sig64)
{
	size_t slen = 0;
	uint8_t *sig = cmek_b64_decode(sig64, strlen(sig64), true, &slen);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	bool ok;

	ok = sig && md && pub &&
	     EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) == 1 &&
	     EVP_DigestVerify(md, sig, slen, (const unsigned char *)input,
			      n) == 1;
	EVP_MD_CTX_free(md);
	free(sig);
	return ok;
}

/* Google's checks of a service-account assertion, in its words. */
static void token_grant(struct fakesrv *s, struct fake_gcp *f,
			const struct fake_req *rq, struct fake_resp *rs)
{
	const char *ct = fake_header(rq, "Content-Type"), *d1, *d2, *v;
	struct json_object *h = NULL, *c = NULL;
	char *grant = NULL, *jwt = NULL, aud[FAKE_PATH_MAX + 64];
	int64_t iat, exp, now = (int64_t)time(NULL);

	f->st.token_requests++;
	if (strcmp(rq->method, "POST") || !ct ||
	    strncasecmp(ct, "application/x-www-form-urlencoded", 33)) {
		oauth_error(f, rs, "invalid_request",
			    "Content-Type must be application/x-www-form-urlencoded");
		return;
	}
	grant = form_value(rq->body, "grant_type");
	jwt = form_value(rq->body, "assertion");
	if (!grant || strcmp(grant, "urn:ietf:params:oauth:grant-type:jwt-bearer")) {
		oauth_error(f, rs, "unsupported_grant_type", "Invalid grant_type");
		goto out;
	}
	d1 = jwt ? strchr(jwt, '.') : NULL;
	d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	if (!d2 || strchr(d2 + 1, '.')) {
		oauth_error(f, rs, "invalid_grant", "Invalid JWT: not three segments");
		goto out;
	}
	h = b64url_json(jwt, (size_t)(d1 - jwt));
	c = b64url_json(d1 + 1, (size_t)(d2 - d1 - 1));
	if (!h || !c || !jstr(h, "alg") || strcmp(jstr(h, "alg"), "RS256") ||
	    (jstr(h, "typ") && strcmp(jstr(h, "typ"), "JWT"))) {
		oauth_error(f, rs, "invalid_grant", "Invalid JWT header");
		goto out;
	}
	v = jstr(h, "kid");
	if (!rs256_ok(f->sa_pub, jwt, (size_t)(d2 - jwt), d2 + 1) ||
	    (v && strcmp(v, f->sa_kid))) {
		oauth_error(f, rs, "invalid_grant", "Invalid JWT Signature.");
		goto out;
	}
	snprintf(aud, sizeof(aud), "%s%s", s->url, rq->path);
	v = jstr(c, "iss");
	if (!v || strcmp(v, f->sa_email)) {
		oauth_error(f, rs, "invalid_grant", "Invalid email or User ID");
		goto out;
	}
	v = jstr(c, "aud");
	if (!v || strcmp(v, aud)) {
		oauth_error(f, rs, "invalid_grant",
			    "Invalid JWT: Failed audience check.");
		goto out;
	}
	v = jstr(c, "scope");
	if (!v || (!strstr(v, "https://www.googleapis.com/auth/cloudkms") &&
		   !strstr(v, "https://www.googleapis.com/auth/cloud-platform"))) {
		oauth_error(f, rs, "invalid_scope",
			    "Invalid OAuth scope or ID token audience provided.");
		goto out;
	}
	iat = jint(c, "iat");
	exp = jint(c, "exp");
	if (iat < 0 || exp <= now || iat > now + 60 || exp - iat > 3600 ||
	    exp <= iat) {
		oauth_error(f, rs, "invalid_grant",
			    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.");
		goto out;
	}
	f->st.last_jwt_error[0] = '\0';
	issue_token(f, rs, "c");
out:
	json_object_put(h);
	json_object_put(c);
	free(grant);
	free(jwt);
}

/* ---- the KMS ---- */

static bool bearer_ok(struct fake_gcp *f, const struct fake_req *rq)
{
	const char *a = fake_header(rq, "Authorization");
	time_t now = time(NULL);
	int i;

	if (!a || strncmp(a, "Bearer ", 7) || f->reject)
		return false;
	for (i = 0; i < MAX_TOKENS; i++)
		if (f->tokens[i].valid && !strcmp(f->tokens[i].tok, a + 7))
			return f->tokens[i].exp > now;
	return false;
}

/*
 * Request fields: bytes as base64, Int64Value checksums as decimal
 * strings. Anything else is an "Unknown name", as the real API says.
 */
struct body {
	uint8_t *data, *aad;
	size_t len, aad_len;
	bool has_crc, has_aad_crc;
	uint32_t crc, aad_crc;
};

static int crc_field(struct json_object *v, uint32_t *crc)
{
	const char *s = json_object_get_string(v);
	char *end;
	unsigned long long x;

	if (!json_object_is_type(v, json_type_string) &&
	    !json_object_is_type(v, json_type_int))
		return -1;
	x = strtoull(s, &end, 10);
	if (*end || !*s || x > 0xffffffffULL)
		return -1;
	*crc = (uint32_t)x;
	return 0;
}

static int parse_body(const struct fake_req *rq, const char *data_field,
		      struct body *b, struct fake_resp *rs)
{
	struct json_object *o = json_tokener_parse(rq->body);
	char crc_name[64];
	const char *s;
	int ret = -1;

	memset(b, 0, sizeof(*b));
	snprintf(crc_name, sizeof(crc_name), "%sCrc32c", data_field);
	if (!o || !json_object_is_type(o, json_type_object)) {
		status_reply(rs, 400, "INVALID_ARGUMENT",
			     "Invalid JSON payload received.");
		goto out;
	}
	json_object_object_foreach(o, k, v) {
		if (!strcmp(k, data_field) ||
		    !strcmp(k, "additionalAuthenticatedData")) {
			bool is_aad = strcmp(k, data_field);
			uint8_t **dst = is_aad ? &b->aad : &b->data;

			s = json_object_get_string(v);
			if (json_object_is_type(v, json_type_string))
				*dst = cmek_b64_decode(s, strlen(s), false,
						       is_aad ? &b->aad_len :
								&b->len);
			if (!*dst) {
				status_reply(rs, 400, "INVALID_ARGUMENT",
					     "Invalid value at '%s' (TYPE_BYTES), Base64 decoding failed for \"%.40s\"",
					     k, s);
				goto out;
			}
		} else if (!strcmp(k, crc_name) ||
			   !strcmp(k, "additionalAuthenticatedDataCrc32c")) {
			bool aad = strcmp(k, crc_name);

			if (crc_field(v, aad ? &b->aad_crc : &b->crc)) {
				status_reply(rs, 400, "INVALID_ARGUMENT",
					     "Invalid value at '%s' (type.googleapis.com/google.protobuf.Int64Value)",
					     k);
				goto out;
			}
			*(aad ? &b->has_aad_crc : &b->has_crc) = true;
		} else {
			status_reply(rs, 400, "INVALID_ARGUMENT",
				     "Invalid JSON payload received. Unknown name \"%s\": Cannot find field.",
				     k);
			goto out;
		}
	}
	if (!b->data || !b->len) {
		status_reply(rs, 400, "INVALID_ARGUMENT",
			     "%s is required.", data_field);
		goto out;
	}
	if (b->len > 65536 + 64 || b->aad_len > 65536) {
		status_reply(rs, 400, "INVALID_ARGUMENT",
			     "The %s must be no larger than 64KiB.",
			     data_field);
		goto out;
	}
	if (b->has_crc && b->crc != cmek_crc32c(0, b->data, b->len)) {
		status_reply(rs, 400, "INVALID_ARGUMENT",
			     "The checksum in field %s_crc32c did not match the data in field %s.",
			     !strcmp(data_field, "plaintext") ? "plaintext" : "ciphertext",
			     data_field);
		goto out;
	}
	if (b->has_aad_crc &&
	    b->aad_crc != cmek_crc32c(0, b->aad, b->aad_len)) {
		status_reply(rs, 400, "INVALID_ARGUMENT",
			     "The checksum in field additional_authenticated_data_crc32c did not match the data in field additional_authenticated_data.");
		goto out;
	}
	ret = 0;
out:
	if (o) {
		/* The request held a plaintext key: not for freed heap. */
		json_object_object_foreach(o, k2, v2) {
			(void)k2;
			if (json_object_is_type(v2, json_type_string))
				OPENSSL_cleanse((char *)json_object_get_string(v2),
						(size_t)json_object_get_string_len(v2));
		}
	}
	json_object_put(o);
	return ret;
}

static void body_free(struct body *b)
{
	if (b->data)
		OPENSSL_cleanse(b->data, b->len);
	free(b->data);
	free(b->aad);
}

static void note_aad(struct fake_gcp *f, const struct body *b)
{
	size_t n = b->aad_len < sizeof(f->st.last_aad) - 1 ?
		   b->aad_len : sizeof(f->st.last_aad) - 1;

	if (b->aad)
		memcpy(f->st.last_aad, b->aad, n);
	f->st.last_aad[b->aad ? n : 0] = '\0';
}

static bool version_usable(const struct key *k, int ver, struct fake_resp *rs)
{
	if (!strcmp(k->v[ver - 1].state, "ENABLED"))
		return true;
	status_reply(rs, 400, "FAILED_PRECONDITION",
		     "%s/cryptoKeyVersions/%d is not enabled, current state is: %s.",
		     k->name, ver, k->v[ver - 1].state);
	return false;
}

static void do_encrypt(struct fake_gcp *f, struct key *k,
		       const struct fake_req *rq, struct fake_resp *rs)
{
	unsigned char *ct = NULL;
	struct body b;
	char *ct64 = NULL;
	size_t n;
	uint32_t crc;
	bool drop;

	if (parse_body(rq, "plaintext", &b, rs))
		goto out;
	note_aad(f, &b);
	if (!k->primary) {
		status_reply(rs, 400, "FAILED_PRECONDITION",
			     "%s has no primary version.", k->name);
		goto out;
	}
	if (!version_usable(k, k->primary, rs))
		goto out;
	f->st.encrypts++;
	n = CT_HDR + b.len + TAG_LEN;
	ct = malloc(n);
	if (!ct)
		goto out;
	ct[0] = (uint8_t)(k->primary >> 24);
	ct[1] = (uint8_t)(k->primary >> 16);
	ct[2] = (uint8_t)(k->primary >> 8);
	ct[3] = (uint8_t)k->primary;
	if (RAND_bytes(ct + 4, NONCE_LEN) != 1 ||
	    cmek_aes256_gcm(true, k->v[k->primary - 1].aes, ct + 4, b.aad,
			    b.aad_len, b.data, b.len, ct + CT_HDR,
			    ct + CT_HDR + b.len))
		goto out;
	ct64 = cmek_b64_encode(ct, n, false);
	crc = cmek_crc32c(0, ct, n);
	if (f->corrupt[FAKE_GCP_CORRUPT_CIPHERTEXT_CRC]) {
		f->corrupt[FAKE_GCP_CORRUPT_CIPHERTEXT_CRC]--;
		crc++;
	}
	drop = f->corrupt[FAKE_GCP_DROP_VERIFIED] > 0;
	if (drop)
		f->corrupt[FAKE_GCP_DROP_VERIFIED]--;
	fake_reply(rs, 200,
		   "{\n  \"name\": \"%s/cryptoKeyVersions/%d\",\n"
		   "  \"ciphertext\": \"%s\",\n  \"ciphertextCrc32c\": \"%u\",\n"
		   "  \"verifiedPlaintextCrc32c\": %s,\n"
		   "  \"verifiedAdditionalAuthenticatedDataCrc32c\": %s,\n"
		   "  \"protectionLevel\": \"SOFTWARE\"\n}",
		   k->name, k->primary, ct64 ? ct64 : "", crc,
		   b.has_crc && !drop ? "true" : "false",
		   b.has_aad_crc && !drop ? "true" : "false");
out:
	free(ct64);
	free(ct);
	body_free(&b);
}

static void do_decrypt(struct fake_gcp *f, struct key *k,
		       const struct fake_req *rq, struct fake_resp *rs)
{
	unsigned char *pt = NULL;
	char *pt64 = NULL;
	struct body b;
	size_t n = 0;
	uint32_t crc;
	int ver;

	if (parse_body(rq, "ciphertext", &b, rs))
		goto out;
	note_aad(f, &b);
	ver = b.len > CT_HDR + TAG_LEN ?
	      (b.data[0] << 24 | b.data[1] << 16 | b.data[2] << 8 | b.data[3]) : 0;
	if (ver < 1 || ver > k->nver) {
		status_reply(rs, 400, "INVALID_ARGUMENT",
			     "Decryption failed: the ciphertext is invalid.");
		goto out;
	}
	if (!version_usable(k, ver, rs))
		goto out;
	n = b.len - CT_HDR - TAG_LEN;
	pt = malloc(n + 1);
	if (!pt || cmek_aes256_gcm(false, k->v[ver - 1].aes, b.data + 4, b.aad,
				   b.aad_len, b.data + CT_HDR, n, pt,
				   b.data + CT_HDR + n)) {
		status_reply(rs, 400, "INVALID_ARGUMENT",
			     "Decryption failed: verify that 'name' refers to the correct CryptoKey.");
		goto out;
	}
	f->st.decrypts++;
	crc = cmek_crc32c(0, pt, n);
	if (f->corrupt[FAKE_GCP_CORRUPT_PLAINTEXT]) {
		f->corrupt[FAKE_GCP_CORRUPT_PLAINTEXT]--;
		pt[n - 1] ^= 0x01;
	}
	pt64 = cmek_b64_encode(pt, n, false);
	fake_reply(rs, 200,
		   "{\n  \"plaintext\": \"%s\",\n  \"plaintextCrc32c\": \"%u\",\n"
		   "  \"usedPrimary\": %s,\n  \"protectionLevel\": \"SOFTWARE\"\n}",
		   pt64 ? pt64 : "", crc, ver == k->primary ? "true" : "false");
out:
	if (pt) {
		OPENSSL_cleanse(pt, n);
		free(pt);
	}
	if (pt64) {
		OPENSSL_cleanse(pt64, strlen(pt64));
		free(pt64);
	}
	body_free(&b);
}

static void do_get(struct fake_gcp *f, struct key *k, struct fake_resp *rs)
{
	char primary[512] = "";

	f->st.gets++;
	if (k->primary)
		snprintf(primary, sizeof(primary),
			 "  \"primary\": {\n"
			 "    \"name\": \"%s/cryptoKeyVersions/%d\",\n"
			 "    \"state\": \"%s\",\n"
			 "    \"createTime\": \"2024-05-01T10:00:00.000000Z\",\n"
			 "    \"protectionLevel\": \"SOFTWARE\",\n"
			 "    \"algorithm\": \"GOOGLE_SYMMETRIC_ENCRYPTION\",\n"
			 "    \"generateTime\": \"2024-05-01T10:00:00.000000Z\"\n"
			 "  },\n", k->name, k->primary,
			 k->v[k->primary - 1].state);
	fake_reply(rs, 200,
		   "{\n  \"name\": \"%s\",\n%s"
		   "  \"purpose\": \"ENCRYPT_DECRYPT\",\n"
		   "  \"createTime\": \"2024-05-01T10:00:00.000000Z\",\n"
		   "  \"versionTemplate\": {\n"
		   "    \"protectionLevel\": \"SOFTWARE\",\n"
		   "    \"algorithm\": \"GOOGLE_SYMMETRIC_ENCRYPTION\"\n  },\n"
		   "  \"destroyScheduledDuration\": \"86400s\"\n}",
		   k->name, primary);
}

static void do_get_version(struct fake_gcp *f, struct key *k, const char *ver,
			   struct fake_resp *rs)
{
	char *end;
	long v = strtol(ver, &end, 10);

	f->st.gets++;
	if (end == ver || *end || v < 1 || v > k->nver) {
		status_reply(rs, 404, "NOT_FOUND",
			     "CryptoKeyVersion %s/cryptoKeyVersions/%s not found.",
			     k->name, ver);
		return;
	}
	fake_reply(rs, 200,
		   "{\n  \"name\": \"%s/cryptoKeyVersions/%ld\",\n"
		   "  \"state\": \"%s\",\n"
		   "  \"createTime\": \"2024-05-01T10:00:00.000000Z\",\n"
		   "  \"protectionLevel\": \"SOFTWARE\",\n"
		   "  \"algorithm\": \"GOOGLE_SYMMETRIC_ENCRYPTION\",\n"
		   "  \"generateTime\": \"2024-05-01T10:00:00.000000Z\"\n}",
		   k->name, v, k->v[v - 1].state);
}

/* /v1/projects/P/locations/L/keyRings/R/cryptoKeys/K[:verb] */
static void kms(struct fake_gcp *f, const struct fake_req *rq,
		struct fake_resp *rs)
{
	const char *name = rq->path + 4, *verb = strrchr(rq->path, ':');
	size_t n = verb && verb > name ? (size_t)(verb - name) : strlen(name);
	const char *ct = fake_header(rq, "Content-Type");
	const char *perm, *ver;
	struct key *k;

	if (!bearer_ok(f, rq)) {
		f->st.unauthenticated++;
		status_reply(rs, 401, "UNAUTHENTICATED",
			     "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.");
		return;
	}
	if (!verb || verb < name)
		verb = "";
	ver = strstr(name, "/cryptoKeyVersions/");
	if (ver && !*verb) {
		n = (size_t)(ver - name);
		ver += 19;
	} else {
		ver = NULL;
	}
	perm = ver ? "cloudkms.cryptoKeyVersions.get" :
	       !*verb ? "cloudkms.cryptoKeys.get" :
	       !strcmp(verb, ":encrypt") ? "cloudkms.cryptoKeyVersions.useToEncrypt" :
	       "cloudkms.cryptoKeyVersions.useToDecrypt";
	k = find_key(f, name, n);
	if (k && k->deny) {
		status_reply(rs, 403, "PERMISSION_DENIED",
			     "Permission '%s' denied on resource '%.*s' (or it may not exist).",
			     perm, (int)n, name);
		return;
	}
	if (!k) {
		status_reply(rs, 404, "NOT_FOUND", "CryptoKey %.*s not found.",
			     (int)n, name);
		return;
	}
	if (ver && !strcmp(rq->method, "GET")) {
		do_get_version(f, k, ver, rs);
		return;
	}
	if (!*verb && !strcmp(rq->method, "GET")) {
		do_get(f, k, rs);
		return;
	}
	if (strcmp(rq->method, "POST") || (strcmp(verb, ":encrypt") &&
					   strcmp(verb, ":decrypt"))) {
		status_reply(rs, 404, "NOT_FOUND", "Method not found.");
		return;
	}
	if (ct && strncasecmp(ct, "application/json", 16)) {
		status_reply(rs, 400, "INVALID_ARGUMENT",
			     "Invalid JSON payload received.");
		return;
	}
	if (!strcmp(verb, ":encrypt"))
		do_encrypt(f, k, rq, rs);
	else
		do_decrypt(f, k, rq, rs);
}

void fake_gcp_handler(struct fakesrv *s, const struct fake_req *rq,
		      struct fake_resp *rs)
{
	struct fake_gcp *f = s->data;

	pthread_mutex_lock(&f->lock);
	if (!strcmp(rq->path, "/token")) {
		token_grant(s, f, rq, rs);
	} else if (f->canned_count) {
		f->canned_count--;
		fake_reply(rs, f->canned_status, "%s", f->canned_body);
	} else if (!strncmp(rq->path, "/v1/projects/", 13)) {
		kms(f, rq, rs);
	} else {
		status_reply(rs, 404, "NOT_FOUND", "The requested URL %.200s was not found on this server.",
			     rq->path);
	}
	pthread_mutex_unlock(&f->lock);
}

/* The metadata server: plain HTTP, Metadata-Flavor: Google required. */
void fake_gcp_metadata(struct fakesrv *s, const struct fake_req *rq,
		       struct fake_resp *rs)
{
	struct fake_gcp *f = s->data;
	const char *flavor = fake_header(rq, "Metadata-Flavor");

	pthread_mutex_lock(&f->lock);
	f->st.metadata_requests++;
	if (!flavor || strcmp(flavor, "Google") ||
	    fake_header(rq, "X-Forwarded-For")) {
		fake_reply(rs, 403, "Missing required header \"Metadata-Flavor\": \"Google\"");
		snprintf(rs->content_type, sizeof(rs->content_type),
			 "text/html; charset=UTF-8");
	} else if (strcmp(rq->method, "GET") ||
		   strcmp(rq->path, "/computeMetadata/v1/instance/service-accounts/default/token") ||
		   f->metadata_no_sa) {
		fake_reply(rs, 404, "Not Found");
		snprintf(rs->content_type, sizeof(rs->content_type),
			 "text/html; charset=UTF-8");
	} else {
		issue_token(f, rs, "m");
	}
	pthread_mutex_unlock(&f->lock);
}
