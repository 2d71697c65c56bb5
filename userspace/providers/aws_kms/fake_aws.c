// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only AWS KMS and IMDSv2 for fakesrv; see fake_aws.h.
 *
 * Shapes follow the KMS API reference (2014-11-01, awsJson1_1): client
 * errors are HTTP 400 with {"__type": "<Code>", "message": "..."}, server
 * faults (KMSInternalException, DependencyTimeoutException,
 * KeyUnavailableException) HTTP 500. Ciphertext blobs are our own:
 * "FKMS" || key id (36) || version (1) || nonce (12) || AES-256-GCM
 * ciphertext || tag (16), the encryption context as AAD, so a blob bound
 * to one volume does not decrypt for another.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "aesgcm.h"
#include "b64.h"
#include "fake_aws.h"

#define BLOB_MAGIC	"FKMS"
#define BLOB_HDR	(4 + 36 + 1 + 12)
#define BLOB_TAG	16

static const char *const op_names[FAKE_AWS_NOPS] = {
	"GenerateDataKey", "Encrypt", "Decrypt", "ReEncrypt", "DescribeKey",
};

void fake_aws_init(struct fake_aws *f, const char *region)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	snprintf(f->region, sizeof(f->region), "%s", region);
}

void fake_aws_free(struct fake_aws *f)
{
	free(f->canned_body);
	pthread_mutex_destroy(&f->lock);
	OPENSSL_cleanse(f, sizeof(*f));
}

int fake_aws_key_add(struct fake_aws *f, const char *alias, const char *region)
{
	struct fake_aws_key *k;
	char id[37], reg[32];
	uint8_t r[16];
	int i;

	pthread_mutex_lock(&f->lock);
	if (f->nkeys == FAKE_AWS_KEYS) {
		pthread_mutex_unlock(&f->lock);
		return -1;
	}
	i = (int)f->nkeys++;
	k = &f->keys[i];
	memset(k, 0, sizeof(*k));
	RAND_bytes(r, sizeof(r));
	snprintf(id, sizeof(id),
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9],
		 r[10], r[11], r[12], r[13], r[14], r[15]);
	snprintf(reg, sizeof(reg), "%s", region ? region : f->region);
	memcpy(k->id, id, sizeof(k->id));
	memcpy(k->region, reg, sizeof(k->region));
	snprintf(k->arn, sizeof(k->arn), "arn:aws:kms:%s:%s:key/%s", reg,
		 FAKE_AWS_ACCOUNT, id);
	snprintf(k->alias, sizeof(k->alias), "%s", alias ? alias : "");
	snprintf(k->state, sizeof(k->state), "Enabled");
	k->nversions = 1;
	RAND_bytes(k->material[0], 32);
	pthread_mutex_unlock(&f->lock);
	return i;
}

void fake_aws_key_set(struct fake_aws *f, int key, const char *state,
		      bool deny, bool gone)
{
	pthread_mutex_lock(&f->lock);
	snprintf(f->keys[key].state, sizeof(f->keys[key].state), "%s", state);
	f->keys[key].deny = deny;
	f->keys[key].gone = gone;
	pthread_mutex_unlock(&f->lock);
}

void fake_aws_key_rotate(struct fake_aws *f, int key)
{
	struct fake_aws_key *k = &f->keys[key];

	pthread_mutex_lock(&f->lock);
	if (k->nversions < FAKE_AWS_VERSIONS)
		RAND_bytes(k->material[k->nversions++], 32);
	pthread_mutex_unlock(&f->lock);
}

void fake_aws_cred_add(struct fake_aws *f, const char *akid,
		       const char *secret, const char *token)
{
	struct fake_aws_cred *c;

	pthread_mutex_lock(&f->lock);
	if (f->ncreds < FAKE_AWS_CREDS) {
		c = &f->creds[f->ncreds++];
		snprintf(c->akid, sizeof(c->akid), "%s", akid);
		snprintf(c->secret, sizeof(c->secret), "%s", secret);
		snprintf(c->token, sizeof(c->token), "%s", token ? token : "");
		c->expired = false;
	}
	pthread_mutex_unlock(&f->lock);
}

void fake_aws_cred_expire(struct fake_aws *f, const char *akid, bool expired)
{
	size_t i;

	pthread_mutex_lock(&f->lock);
	for (i = 0; i < f->ncreds; i++)
		if (!strcmp(f->creds[i].akid, akid))
			f->creds[i].expired = expired;
	pthread_mutex_unlock(&f->lock);
}

void fake_aws_canned(struct fake_aws *f, unsigned int count, int status,
		     const char *content_type, const char *body)
{
	pthread_mutex_lock(&f->lock);
	free(f->canned_body);
	f->canned_body = body ? strdup(body) : NULL;
	f->canned_count = body ? count : 0;
	f->canned_status = status;
	snprintf(f->canned_ct, sizeof(f->canned_ct), "%s",
		 content_type ? content_type : "application/x-amz-json-1.1");
	pthread_mutex_unlock(&f->lock);
}

unsigned long fake_aws_ops(struct fake_aws *f, enum fake_aws_op op)
{
	unsigned long n;

	pthread_mutex_lock(&f->lock);
	n = f->ops[op];
	pthread_mutex_unlock(&f->lock);
	return n;
}

int fake_aws_blob_version(const uint8_t *blob, size_t len)
{
	if (len < BLOB_HDR + BLOB_TAG || memcmp(blob, BLOB_MAGIC, 4))
		return -1;
	return blob[40];
}

/* ---- answers ---- */

static void reply_ct(struct fake_resp *rs, int status, const char *ct,
		     const char *body)
{
	fake_reply(rs, status, "%s", body);
	snprintf(rs->content_type, sizeof(rs->content_type), "%s", ct);
}

static void reply_json(struct fake_resp *rs, struct json_object *o)
{
	reply_ct(rs, 200, "application/x-amz-json-1.1",
		 json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
}

/* {"__type": type, "message": msg} as json-c escapes it; msg NULL: none. */
static void reply_err(struct fake_resp *rs, int status, const char *type,
		      const char *msg)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "__type", json_object_new_string(type));
	if (msg)
		json_object_object_add(o, "message",
				       json_object_new_string(msg));
	reply_ct(rs, status, "application/x-amz-json-1.1",
		 json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

static void reply_auth_err(struct fake_aws *f, struct fake_resp *rs,
			   const char *type, const char *msg)
{
	char *xml;

	f->auth_failures++;
	if (!f->xml_auth) {
		reply_err(rs, 400, type, msg);
		return;
	}
	if (asprintf(&xml, "<ErrorResponse><Error><Type>Sender</Type>"
		     "<Code>%s</Code><Message>%s</Message></Error>"
		     "<RequestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</RequestId>"
		     "</ErrorResponse>", type, msg) < 0)
		return;
	reply_ct(rs, 400, "text/xml", xml);
	free(xml);
}

/* ---- SigV4, checked as AWS does ---- */

static void hex(const uint8_t *in, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", in[i]);
}

static void sha256_hex(const void *d, size_t n, char out[65])
{
	uint8_t md[32];

	SHA256(d, n, md);
	hex(md, 32, out);
}

static void hmac(const void *key, size_t klen, const char *msg, uint8_t out[32])
{
	unsigned int n = 32;

	HMAC(EVP_sha256(), key, (int)klen, (const uint8_t *)msg, strlen(msg),
	     out, &n);
}

/* "k=v" after @name in the Authorization header, up to ',' or the end. */
static int auth_field(const char *auth, const char *name, char *out,
		      size_t len)
{
	const char *p = strstr(auth, name);
	size_t n;

	if (!p)
		return -1;
	p += strlen(name);
	n = strcspn(p, ", ");
	if (n >= len)
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

/* Trim and squeeze spaces, as the canonical header value wants. */
static void canon_value(const char *v, char *out, size_t len)
{
	size_t j = 0;
	bool sp = false;

	while (*v == ' ' || *v == '\t')
		v++;
	for (; *v && j + 1 < len; v++) {
		if (*v == ' ' || *v == '\t') {
			sp = true;
			continue;
		}
		if (sp && j)
			out[j++] = ' ';
		sp = false;
		out[j++] = *v;
	}
	out[j] = '\0';
}

static int sigv4_expected(const struct fake_req *rq, const char *secret,
			  const char *date, const char *region,
			  const char *signed_hdrs, char out[65])
{
	char canon[16384], value[4096], name[128], sts[512], hash[65];
	const char *amzdate = fake_header(rq, "X-Amz-Date"), *p, *v;
	uint8_t k[32], k2[32];
	char key[128];
	size_t n = 0, m;

	if (!amzdate)
		return -1;
	n += snprintf(canon + n, sizeof(canon) - n, "%s\n%s\n%s\n",
		      rq->method, rq->path, rq->query);
	for (p = signed_hdrs; *p; p += m + (p[m] == ';')) {
		m = strcspn(p, ";");
		if (!m || m >= sizeof(name))
			return -1;
		memcpy(name, p, m);
		name[m] = '\0';
		v = fake_header(rq, name);
		if (!v)
			return -1;
		canon_value(v, value, sizeof(value));
		n += snprintf(canon + n, sizeof(canon) - n, "%s:%s\n", name,
			      value);
		if (n >= sizeof(canon))
			return -1;
	}
	sha256_hex(rq->body ? rq->body : "", rq->body_len, hash);
	n += snprintf(canon + n, sizeof(canon) - n, "\n%s\n%s", signed_hdrs,
		      hash);
	if (n >= sizeof(canon))
		return -1;
	sha256_hex(canon, n, hash);
	snprintf(sts, sizeof(sts),
		 "AWS4-HMAC-SHA256\n%s\n%s/%s/kms/aws4_request\n%s", amzdate,
		 date, region, hash);
	snprintf(key, sizeof(key), "AWS4%s", secret);
	hmac(key, strlen(key), date, k);
	hmac(k, 32, region, k2);
	hmac(k2, 32, "kms", k);
	hmac(k, 32, "aws4_request", k2);
	hmac(k2, 32, sts, k);
	hex(k, 32, out);
	return 0;
}

/* 0 if the request is signed by a known credential; else answered. */
static int authenticate(struct fake_aws *f, const struct fake_req *rq,
			struct fake_resp *rs)
{
	const char *auth = fake_header(rq, "Authorization");
	const char *tok = fake_header(rq, "X-Amz-Security-Token");
	char cred[256], shdrs[1024], sig[80], want[65];
	char *akid, *date, *region, *svc, *save = NULL;
	struct fake_aws_cred *c = NULL;
	size_t i;

	if (!auth) {
		reply_auth_err(f, rs, "MissingAuthenticationTokenException",
			       "Missing Authentication Token");
		return -1;
	}
	if (strncmp(auth, "AWS4-HMAC-SHA256 ", 17) ||
	    auth_field(auth, "Credential=", cred, sizeof(cred)) ||
	    auth_field(auth, "SignedHeaders=", shdrs, sizeof(shdrs)) ||
	    auth_field(auth, "Signature=", sig, sizeof(sig))) {
		reply_auth_err(f, rs, "IncompleteSignature",
			       "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.");
		return -1;
	}
	akid = strtok_r(cred, "/", &save);
	date = strtok_r(NULL, "/", &save);
	region = strtok_r(NULL, "/", &save);
	svc = strtok_r(NULL, "/", &save);
	if (!akid || !date || !region || !svc || strcmp(svc, "kms")) {
		reply_auth_err(f, rs, "IncompleteSignature",
			       "Credential scope is malformed.");
		return -1;
	}
	snprintf(f->last_region, sizeof(f->last_region), "%s", region);
	snprintf(f->last_akid, sizeof(f->last_akid), "%s", akid);
	for (i = 0; i < f->ncreds; i++)
		if (!strcmp(f->creds[i].akid, akid))
			c = &f->creds[i];
	if (!c || (c->token[0] && (!tok || strcmp(tok, c->token)))) {
		reply_auth_err(f, rs, "UnrecognizedClientException",
			       "The security token included in the request is invalid.");
		return -1;
	}
	if (c->expired) {
		reply_auth_err(f, rs, "ExpiredTokenException",
			       "The security token included in the request is expired");
		return -1;
	}
	if (sigv4_expected(rq, c->secret, date, region, shdrs, want) ||
	    strcmp(want, sig)) {
		reply_auth_err(f, rs, "InvalidSignatureException",
			       "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.");
		return -1;
	}
	return 0;
}

/* ---- keys and blobs ---- */

static struct fake_aws_key *key_find(struct fake_aws *f, const char *ref,
				     const char *region)
{
	struct fake_aws_key *k;
	char arn[160];
	size_t i;

	for (i = 0; ref && i < f->nkeys; i++) {
		k = &f->keys[i];
		/* keys live in one region only, like AWS's */
		if (k->gone || strcmp(k->region, region))
			continue;
		snprintf(arn, sizeof(arn), "arn:aws:kms:%s:%s:%s", k->region,
			 FAKE_AWS_ACCOUNT, k->alias);
		if (!strcmp(ref, k->id) || !strcmp(ref, k->arn) ||
		    (k->alias[0] && (!strcmp(ref, k->alias) ||
				     !strcmp(ref, arn))))
			return k;
	}
	return NULL;
}

static void not_found(struct fake_resp *rs, const char *ref, const char *region)
{
	char msg[512];

	if (ref && !strncmp(ref, "alias/", 6))
		snprintf(msg, sizeof(msg), "Alias arn:aws:kms:%s:%s:%s is not found.",
			 region, FAKE_AWS_ACCOUNT, ref);
	else
		snprintf(msg, sizeof(msg), "Key '%s' does not exist",
			 ref ? ref : "(null)");
	reply_err(rs, 400, "NotFoundException", msg);
}

/* The key may be used for @op: state and policy checks, answered if not. */
static int key_usable(struct fake_aws_key *k, const char *op,
		      struct fake_resp *rs)
{
	char msg[512];

	if (k->deny) {
		snprintf(msg, sizeof(msg),
			 "User: arn:aws:iam::%s:user/cmek is not authorized to perform: kms:%s on resource: %s because no resource-based policy allows the kms:%s action",
			 FAKE_AWS_ACCOUNT, op, k->arn, op);
		reply_err(rs, 400, "AccessDeniedException", msg);
		return -1;
	}
	if (!strcmp(op, "DescribeKey") || !strcmp(k->state, "Enabled") ||
	    !strcmp(k->state, "Updating"))
		return 0;
	if (!strcmp(k->state, "Disabled")) {
		snprintf(msg, sizeof(msg), "%s is disabled.", k->arn);
		reply_err(rs, 400, "DisabledException", msg);
	} else {
		snprintf(msg, sizeof(msg), "%s is %s.", k->arn,
			 !strcmp(k->state, "PendingDeletion") ?
			 "pending deletion" :
			 !strcmp(k->state, "PendingImport") ?
			 "pending import" : k->state);
		reply_err(rs, 400, "KMSInvalidStateException", msg);
	}
	return -1;
}

/* The encryption context as AAD: "k=v;" members sorted by key. */
static int ctx_aad(struct json_object *ctx, char *out, size_t len)
{
	const char *keys[16];
	size_t n = 0, i, j, off = 0;

	out[0] = '\0';
	if (!ctx)
		return 0;
	if (!json_object_is_type(ctx, json_type_object))
		return -1;
	json_object_object_foreach(ctx, k, v) {
		if (n == 16 || !json_object_is_type(v, json_type_string))
			return -1;
		keys[n++] = k;
	}
	for (i = 1; i < n; i++)
		for (j = i; j && strcmp(keys[j - 1], keys[j]) > 0; j--) {
			const char *t = keys[j];

			keys[j] = keys[j - 1];
			keys[j - 1] = t;
		}
	for (i = 0; i < n; i++) {
		struct json_object *v;

		json_object_object_get_ex(ctx, keys[i], &v);
		off += snprintf(out + off, len - off, "%s=%s;", keys[i],
				json_object_get_string(v));
		if (off >= len)
			return -1;
	}
	return 0;
}

/* Encrypt under the key's newest version; base64 of the blob. */
static char *blob_seal(struct fake_aws_key *k, const char *aad,
		       const uint8_t *pt, size_t n)
{
	size_t len = BLOB_HDR + n + BLOB_TAG;
	uint8_t *b = malloc(len);
	char *s = NULL;

	if (!b)
		return NULL;
	memcpy(b, BLOB_MAGIC, 4);
	memcpy(b + 4, k->id, 36);
	b[40] = (uint8_t)k->nversions;
	RAND_bytes(b + 41, 12);
	if (!cmek_aes256_gcm(true, k->material[k->nversions - 1], b + 41,
			     aad, strlen(aad), pt, n, b + BLOB_HDR,
			     b + BLOB_HDR + n))
		s = cmek_b64_encode(b, len, false);
	free(b);
	return s;
}

/* Decrypt a base64 blob: its key in *kp, plaintext in @pt (*n bytes). */
static int blob_open(struct fake_aws *f, const char *b64, const char *region,
		     const char *aad, struct fake_aws_key **kp, uint8_t *pt,
		     size_t *n)
{
	uint8_t *b;
	size_t len = 0, i;
	int ret = -1;

	*kp = NULL;
	b = b64 ? cmek_b64_decode(b64, strlen(b64), false, &len) : NULL;
	if (!b || len < BLOB_HDR + BLOB_TAG || len > BLOB_HDR + BLOB_TAG + 4096 ||
	    memcmp(b, BLOB_MAGIC, 4))
		goto out;
	for (i = 0; i < f->nkeys; i++)
		if (!memcmp(f->keys[i].id, b + 4, 36) &&
		    !strcmp(f->keys[i].region, region))
			*kp = &f->keys[i];
	if (!*kp || (*kp)->gone) {
		ret = -2;
		goto out;
	}
	if (b[40] < 1 || b[40] > (*kp)->nversions)
		goto out;
	*n = len - BLOB_HDR - BLOB_TAG;
	ret = cmek_aes256_gcm(false, (*kp)->material[b[40] - 1], b + 41, aad,
			      strlen(aad), b + BLOB_HDR, *n, pt,
			      b + BLOB_HDR + *n);
out:
	free(b);
	return ret;
}

/* ---- operations ---- */

static const char *str(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, k, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static struct json_object *member(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? v : NULL;
}

/* Key lookup and checks shared by the operations; NULL when answered. */
static struct fake_aws_key *use_key(struct fake_aws *f, struct json_object *rq,
				    const char *field, const char *op,
				    const char *region, struct fake_resp *rs)
{
	const char *ref = str(rq, field);
	struct fake_aws_key *k;
	char msg[128];

	if (!ref) {
		snprintf(msg, sizeof(msg),
			 "1 validation error detected: Value null at '%c%s' failed to satisfy constraint: Member must not be null",
			 tolower((unsigned char)field[0]), field + 1);
		reply_err(rs, 400, "ValidationException", msg);
		return NULL;
	}
	k = key_find(f, ref, region);
	if (!k) {
		not_found(rs, ref, region);
		return NULL;
	}
	return key_usable(k, op, rs) ? NULL : k;
}

static void add_s(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

static void op_seal(struct fake_aws *f, struct json_object *rq,
		    const char *region, bool generate, struct fake_resp *rs)
{
	struct fake_aws_key *k;
	struct json_object *o, *nb;
	uint8_t pt[4096], *in = NULL;
	size_t n = 0;
	char aad[1024], *blob, *pts;
	const char *p;

	k = use_key(f, rq, "KeyId", generate ? "GenerateDataKey" : "Encrypt",
		    region, rs);
	if (!k)
		return;
	if (ctx_aad(member(rq, "EncryptionContext"), aad, sizeof(aad))) {
		reply_err(rs, 400, "ValidationException",
			  "EncryptionContext must be a map of strings");
		return;
	}
	if (generate) {
		nb = member(rq, "NumberOfBytes");
		p = str(rq, "KeySpec");
		n = nb ? (size_t)json_object_get_int(nb) :
		    p && !strcmp(p, "AES_128") ? 16 : p ? 32 : 0;
		if ((nb && p) || (!nb && !p) || n < 1 || n > 1024) {
			reply_err(rs, 400, "ValidationException",
				  "Please specify either number of bytes or key spec.");
			return;
		}
		RAND_bytes(pt, (int)n);
	} else {
		p = str(rq, "Plaintext");
		in = p ? cmek_b64_decode(p, strlen(p), false, &n) : NULL;
		if (!in || !n || n > sizeof(pt)) {
			reply_err(rs, 400, "ValidationException",
				  "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length between 1 and 4096");
			free(in);
			return;
		}
		memcpy(pt, in, n);
		OPENSSL_cleanse(in, n);
		free(in);
	}
	blob = blob_seal(k, aad, pt, n);
	pts = generate ? cmek_b64_encode(pt, n, false) : NULL;
	o = json_object_new_object();
	add_s(o, "CiphertextBlob", blob ? blob : "");
	add_s(o, "KeyId", k->arn);
	if (pts)
		add_s(o, "Plaintext", pts);
	if (!generate)
		add_s(o, "EncryptionAlgorithm", "SYMMETRIC_DEFAULT");
	reply_json(rs, o);
	json_object_put(o);
	free(blob);
	free(pts);
	OPENSSL_cleanse(pt, sizeof(pt));
}

/* Decrypt, or ReEncrypt when @re: the plaintext never leaves the fake. */
static void op_open(struct fake_aws *f, struct json_object *rq,
		    const char *region, bool re, struct fake_resp *rs)
{
	struct fake_aws_key *k, *want = NULL, *dst = NULL;
	const char *ref = str(rq, re ? "SourceKeyId" : "KeyId");
	struct json_object *o;
	uint8_t pt[4096];
	size_t n = 0;
	char aad[1024], *out;
	int r;

	if (re && member(rq, "Plaintext"))
		f->plaintext_in_reencrypt = true;
	if (ctx_aad(member(rq, re ? "SourceEncryptionContext" :
			   "EncryptionContext"), aad, sizeof(aad))) {
		reply_err(rs, 400, "ValidationException",
			  "EncryptionContext must be a map of strings");
		return;
	}
	if (ref) {
		want = key_find(f, ref, region);
		if (!want) {
			not_found(rs, ref, region);
			return;
		}
	}
	r = blob_open(f, str(rq, "CiphertextBlob"), region, aad, &k, pt, &n);
	if (k && want && k != want) {
		reply_err(rs, 400, "IncorrectKeyException",
			  "The key ID in the request does not identify a CMK that can perform this operation.");
		goto out;
	}
	if (r == -2) {
		reply_err(rs, 400, "NotFoundException",
			  "The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access.");
		goto out;
	}
	if (k && key_usable(k, re ? "ReEncryptFrom" : "Decrypt", rs))
		goto out;
	if (r) {
		/* AWS says no more than that */
		reply_err(rs, 400, "InvalidCiphertextException", NULL);
		goto out;
	}
	o = json_object_new_object();
	if (re) {
		dst = use_key(f, rq, "DestinationKeyId", "ReEncryptTo", region,
			      rs);
		if (!dst ||
		    ctx_aad(member(rq, "DestinationEncryptionContext"), aad,
			    sizeof(aad))) {
			json_object_put(o);
			goto out;
		}
		out = blob_seal(dst, aad, pt, n);
		add_s(o, "CiphertextBlob", out ? out : "");
		add_s(o, "KeyId", dst->arn);
		add_s(o, "SourceKeyId", k->arn);
		add_s(o, "SourceEncryptionAlgorithm", "SYMMETRIC_DEFAULT");
		add_s(o, "DestinationEncryptionAlgorithm", "SYMMETRIC_DEFAULT");
		free(out);
	} else {
		out = cmek_b64_encode(pt, n, false);
		add_s(o, "KeyId", k->arn);
		add_s(o, "Plaintext", out ? out : "");
		add_s(o, "EncryptionAlgorithm", "SYMMETRIC_DEFAULT");
		if (out)
			OPENSSL_cleanse(out, strlen(out));
		free(out);
	}
	reply_json(rs, o);
	json_object_put(o);
out:
	OPENSSL_cleanse(pt, sizeof(pt));
}

static void op_describe(struct fake_aws *f, struct json_object *rq,
			const char *region, struct fake_resp *rs)
{
	struct fake_aws_key *k = use_key(f, rq, "KeyId", "DescribeKey",
					 region, rs);
	struct json_object *o, *md, *alg;

	if (!k)
		return;
	o = json_object_new_object();
	md = json_object_new_object();
	alg = json_object_new_array();
	json_object_array_add(alg, json_object_new_string("SYMMETRIC_DEFAULT"));
	add_s(md, "AWSAccountId", FAKE_AWS_ACCOUNT);
	add_s(md, "Arn", k->arn);
	json_object_object_add(md, "CreationDate",
			       json_object_new_double(1571767572.317));
	add_s(md, "CustomerMasterKeySpec", "SYMMETRIC_DEFAULT");
	add_s(md, "Description", "");
	json_object_object_add(md, "Enabled",
			       json_object_new_boolean(!strcmp(k->state,
							       "Enabled")));
	json_object_object_add(md, "EncryptionAlgorithms", alg);
	add_s(md, "KeyId", k->id);
	add_s(md, "KeyManager", "CUSTOMER");
	add_s(md, "KeySpec", "SYMMETRIC_DEFAULT");
	add_s(md, "KeyState", k->state);
	add_s(md, "KeyUsage", "ENCRYPT_DECRYPT");
	json_object_object_add(md, "MultiRegion",
			       json_object_new_boolean(false));
	add_s(md, "Origin", "AWS_KMS");
	if (!strcmp(k->state, "PendingDeletion"))
		json_object_object_add(md, "DeletionDate",
				       json_object_new_double(1900000000.0));
	json_object_object_add(o, "KeyMetadata", md);
	reply_json(rs, o);
	json_object_put(o);
}

void fake_aws_handler(struct fakesrv *s, const struct fake_req *rq,
		      struct fake_resp *rs)
{
	struct fake_aws *f = s->data;
	const char *target = fake_header(rq, "X-Amz-Target");
	const char *ct = fake_header(rq, "Content-Type");
	struct json_object *body = NULL;
	char region[32];
	int op;

	pthread_mutex_lock(&f->lock);
	if (strcmp(rq->method, "POST") || strcmp(rq->path, "/")) {
		reply_err(rs, 404, "UnknownOperationException", NULL);
		goto out;
	}
	if (authenticate(f, rq, rs))
		goto out;
	snprintf(region, sizeof(region), "%s", f->last_region);
	if (f->canned_count) {
		f->canned_count--;
		reply_ct(rs, f->canned_status, f->canned_ct, f->canned_body);
		goto out;
	}
	for (op = 0; op < FAKE_AWS_NOPS; op++)
		if (target && !strncmp(target, "TrentService.", 13) &&
		    !strcmp(target + 13, op_names[op]))
			break;
	if (op == FAKE_AWS_NOPS) {
		reply_err(rs, 400, "UnknownOperationException", NULL);
		goto out;
	}
	body = json_tokener_parse(rq->body);
	if (!ct || strcmp(ct, "application/x-amz-json-1.1") || !body ||
	    !json_object_is_type(body, json_type_object)) {
		reply_err(rs, 400, "SerializationException",
			  "Start of structure or map found where not expected.");
		goto out;
	}
	f->ops[op]++;
	switch (op) {
	case FAKE_AWS_GENERATE:
	case FAKE_AWS_ENCRYPT:
		op_seal(f, body, region, op == FAKE_AWS_GENERATE, rs);
		break;
	case FAKE_AWS_DECRYPT:
	case FAKE_AWS_REENCRYPT:
		op_open(f, body, region, op == FAKE_AWS_REENCRYPT, rs);
		break;
	default:
		op_describe(f, body, region, rs);
		break;
	}
out:
	json_object_put(body);
	pthread_mutex_unlock(&f->lock);
}

/* ---- IMDSv2 ---- */

void fake_aws_imds_init(struct fake_aws_imds *m, const char *role)
{
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	snprintf(m->role, sizeof(m->role), "%s", role ? role : "");
}

void fake_aws_imds_set(struct fake_aws_imds *m, const char *akid,
		       const char *secret, const char *token, time_t expires)
{
	pthread_mutex_lock(&m->lock);
	snprintf(m->akid, sizeof(m->akid), "%s", akid);
	snprintf(m->secret, sizeof(m->secret), "%s", secret);
	snprintf(m->token, sizeof(m->token), "%s", token);
	m->expires = expires;
	pthread_mutex_unlock(&m->lock);
}

static void text(struct fake_resp *rs, int status, const char *body)
{
	reply_ct(rs, status, "text/plain", body);
}

void fake_aws_imds_handler(struct fakesrv *s, const struct fake_req *rq,
			   struct fake_resp *rs)
{
	static const char creds[] = "/latest/meta-data/iam/security-credentials/";
	struct fake_aws_imds *m = s->data;
	const char *ttl = fake_header(rq, "X-aws-ec2-metadata-token-ttl-seconds");
	const char *tok = fake_header(rq, "X-aws-ec2-metadata-token");
	char exp[32], upd[32];
	uint8_t r[16];
	time_t now = time(NULL);
	struct tm tm;

	pthread_mutex_lock(&m->lock);
	if (!strcmp(rq->path, "/latest/api/token")) {
		if (strcmp(rq->method, "PUT"))
			text(rs, 405, "");
		else if (!ttl || atoi(ttl) < 1 || atoi(ttl) > 21600)
			text(rs, 400, "");
		else {
			RAND_bytes(r, sizeof(r));
			hex(r, sizeof(r), m->session);
			m->token_puts++;
			text(rs, 200, m->session);
		}
		goto out;
	}
	if (strcmp(rq->method, "GET") || !tok || !m->session[0] ||
	    strcmp(tok, m->session)) {
		m->refused++;
		text(rs, 401, "");
		goto out;
	}
	if (!strcmp(rq->path, creds)) {
		if (m->role[0])
			text(rs, 200, m->role);
		else
			text(rs, 404, "");
		goto out;
	}
	if (strncmp(rq->path, creds, sizeof(creds) - 1) || !m->role[0] ||
	    strcmp(rq->path + sizeof(creds) - 1, m->role)) {
		text(rs, 404, "");
		goto out;
	}
	m->cred_gets++;
	strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%SZ",
		 gmtime_r(&m->expires, &tm));
	strftime(upd, sizeof(upd), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	fake_reply(rs, 200,
		   "{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \"%s\",\n"
		   "  \"Type\" : \"AWS-HMAC\",\n  \"AccessKeyId\" : \"%s\",\n"
		   "  \"SecretAccessKey\" : \"%s\",\n  \"Token\" : \"%s\",\n"
		   "  \"Expiration\" : \"%s\"\n}", upd, m->akid, m->secret,
		   m->token, exp);
	snprintf(rs->content_type, sizeof(rs->content_type), "text/plain");
out:
	pthread_mutex_unlock(&m->lock);
}
