// SPDX-License-Identifier: GPL-2.0
/*
 * A fake Vault / OpenBao transit engine for the tests; see fake_vault.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "aesgcm.h"
#include "b64.h"
#include "fake_vault.h"

#define NONCE_LEN	12
#define TAG_LEN		16

/* ---- state, for the test thread ---- */

void fake_vault_init(struct fake_vault *v, const char *mount, const char *ns)
{
	memset(v, 0, sizeof(*v));
	pthread_mutex_init(&v->lock, NULL);
	snprintf(v->mount, sizeof(v->mount), "%s", mount);
	snprintf(v->ns, sizeof(v->ns), "%s", ns ? ns : "");
}

void fake_vault_free(struct fake_vault *v)
{
	free(v->once_body);
	pthread_mutex_destroy(&v->lock);
	memset(v, 0, sizeof(*v));
}

static struct fake_vault_key *key_find(struct fake_vault *v, const char *name)
{
	size_t i;

	for (i = 0; i < v->nkeys; i++)
		if (!strcmp(v->keys[i].name, name))
			return &v->keys[i];
	return NULL;
}

static int key_new_version(struct fake_vault_key *k)
{
	if (k->latest >= FAKE_VAULT_VERSIONS_MAX)
		return -1;
	k->latest++;
	k->created[k->latest] = (long)time(NULL);
	return RAND_bytes(k->ver[k->latest], 32) == 1 ? 0 : -1;
}

int fake_vault_key_add(struct fake_vault *v, const char *name, bool derived)
{
	struct fake_vault_key *k;
	int ret = -1;

	pthread_mutex_lock(&v->lock);
	if (v->nkeys < FAKE_VAULT_KEYS_MAX && !key_find(v, name) &&
	    strlen(name) <= FAKE_VAULT_NAME_MAX) {
		k = &v->keys[v->nkeys++];
		memset(k, 0, sizeof(*k));
		strcpy(k->name, name);
		k->derived = derived;
		k->min_decrypt = 1;
		ret = key_new_version(k);
	}
	pthread_mutex_unlock(&v->lock);
	return ret;
}

int fake_vault_key_rotate(struct fake_vault *v, const char *name)
{
	struct fake_vault_key *k;
	int ret = -1;

	pthread_mutex_lock(&v->lock);
	k = key_find(v, name);
	if (k && !k->soft_deleted)
		ret = key_new_version(k);
	pthread_mutex_unlock(&v->lock);
	return ret;
}

int fake_vault_key_min_decrypt(struct fake_vault *v, const char *name,
			       int version)
{
	struct fake_vault_key *k;
	int ret = -1;

	pthread_mutex_lock(&v->lock);
	k = key_find(v, name);
	/* "minimum decryption version of %d is greater than the latest" */
	if (k && version >= 1 && version <= k->latest) {
		k->min_decrypt = version;
		ret = 0;
	}
	pthread_mutex_unlock(&v->lock);
	return ret;
}

int fake_vault_key_delete(struct fake_vault *v, const char *name)
{
	struct fake_vault_key *k;
	int ret = -1;

	pthread_mutex_lock(&v->lock);
	k = key_find(v, name);
	if (k) {
		memset(k->ver, 0, sizeof(k->ver));
		*k = v->keys[--v->nkeys];
		ret = 0;
	}
	pthread_mutex_unlock(&v->lock);
	return ret;
}

int fake_vault_key_soft_delete(struct fake_vault *v, const char *name,
			       bool deleted)
{
	struct fake_vault_key *k;

	pthread_mutex_lock(&v->lock);
	k = key_find(v, name);
	if (k)
		k->soft_deleted = deleted;
	pthread_mutex_unlock(&v->lock);
	return k ? 0 : -1;
}

int fake_vault_token_add(struct fake_vault *v, const char *token,
			 const char *ns, unsigned int caps, const char *key)
{
	struct fake_vault_token *t;
	int ret = -1;

	pthread_mutex_lock(&v->lock);
	if (v->ntokens < FAKE_VAULT_TOKENS_MAX) {
		t = &v->tokens[v->ntokens++];
		snprintf(t->token, sizeof(t->token), "%s", token);
		snprintf(t->ns, sizeof(t->ns), "%s", ns ? ns : "");
		snprintf(t->key, sizeof(t->key), "%s", key ? key : "");
		t->caps = caps;
		ret = 0;
	}
	pthread_mutex_unlock(&v->lock);
	return ret;
}

void fake_vault_seal(struct fake_vault *v, bool sealed)
{
	pthread_mutex_lock(&v->lock);
	v->sealed = sealed;
	pthread_mutex_unlock(&v->lock);
}

void fake_vault_legacy(struct fake_vault *v, bool no_associated_data)
{
	pthread_mutex_lock(&v->lock);
	v->legacy_no_ad = no_associated_data;
	pthread_mutex_unlock(&v->lock);
}

void fake_vault_answer_once(struct fake_vault *v, int status,
			    const char *body)
{
	pthread_mutex_lock(&v->lock);
	free(v->once_body);
	v->once_body = strdup(body);
	v->once_status = status;
	pthread_mutex_unlock(&v->lock);
}

unsigned long fake_vault_calls(struct fake_vault *v, enum fake_vault_op op)
{
	unsigned long n;

	pthread_mutex_lock(&v->lock);
	n = v->calls[op];
	pthread_mutex_unlock(&v->lock);
	return n;
}

/* ---- answers ---- */

static void reply_errors(struct fake_resp *rs, int status, const char *msg)
{
	struct json_object *o = json_object_new_object();
	struct json_object *a = json_object_new_array();

	if (msg)
		json_object_array_add(a, json_object_new_string(msg));
	json_object_object_add(o, "errors", a);
	fake_reply(rs, status, "%s", json_object_to_json_string_ext(o,
			JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

/* Vault's multierror rendering of ACL failures. */
#define DENIED		"1 error occurred:\n\t* permission denied\n\n"
#define BAD_TOKEN	"2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n"

/* The envelope every logical response has; @data is consumed. */
static void reply_data(struct fake_resp *rs, struct json_object *data,
		       struct json_object *warnings)
{
	struct json_object *o = json_object_new_object();
	unsigned char id[16];
	char uuid[37];

	RAND_bytes(id, sizeof(id));
	snprintf(uuid, sizeof(uuid),
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 id[0], id[1], id[2], id[3], id[4], id[5], id[6], id[7], id[8],
		 id[9], id[10], id[11], id[12], id[13], id[14], id[15]);
	json_object_object_add(o, "request_id", json_object_new_string(uuid));
	json_object_object_add(o, "lease_id", json_object_new_string(""));
	json_object_object_add(o, "renewable", json_object_new_boolean(0));
	json_object_object_add(o, "lease_duration", json_object_new_int(0));
	json_object_object_add(o, "data", data);
	json_object_object_add(o, "wrap_info", NULL);
	json_object_object_add(o, "warnings", warnings);
	json_object_object_add(o, "auth", NULL);
	fake_reply(rs, 200, "%s", json_object_to_json_string_ext(o,
			JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

/* ---- crypto ---- */

/* The key for @version and @context: Vault refuses derived keys without. */
static const char *op_key(const struct fake_vault_key *k, int version,
			  const uint8_t *ctx, size_t ctx_len, uint8_t out[32])
{
	unsigned int n = 32;

	if (!k->derived) {
		/* GetKey() fast path: a context is ignored, not refused. */
		memcpy(out, k->ver[version], 32);
		return NULL;
	}
	if (!ctx_len)
		return "missing 'context' for key derivation; the key was created using a derived key, which means additional, per-request information must be included in order to perform operations with the key";
	HMAC(EVP_sha256(), k->ver[version], 32, ctx, ctx_len, out, &n);
	return NULL;
}

/* "vault:v<N>:" base64(nonce || ciphertext || tag), malloc()ed. */
static char *seal(const struct fake_vault_key *k, const uint8_t *pt,
		  size_t len, const uint8_t *ctx, size_t ctx_len,
		  const uint8_t *aad, size_t aad_len, const char **uerr)
{
	uint8_t key[32], *buf;
	char *b64 = NULL, *out = NULL;

	*uerr = op_key(k, k->latest, ctx, ctx_len, key);
	if (*uerr)
		return NULL;
	buf = malloc(NONCE_LEN + len + TAG_LEN);
	if (buf && RAND_bytes(buf, NONCE_LEN) == 1 &&
	    !cmek_aes256_gcm(true, key, buf, aad, aad_len, pt, len,
			     buf + NONCE_LEN, buf + NONCE_LEN + len))
		b64 = cmek_b64_encode(buf, NONCE_LEN + len + TAG_LEN, false);
	if (b64 && asprintf(&out, "vault:v%d:%s", k->latest, b64) < 0)
		out = NULL;
	free(b64);
	free(buf);
	return out;
}

/* policy.go DecryptWithFactory(), message for message. */
static uint8_t *open_ct(const struct fake_vault_key *k, const char *ct,
			const uint8_t *ctx, size_t ctx_len, const uint8_t *aad,
			size_t aad_len, size_t *len, const char **uerr)
{
	const char *p = ct + 7, *colon;
	uint8_t key[32], *raw, *pt;
	size_t rl = 0;
	char *end;
	long ver;

	if (k->soft_deleted)
		return *uerr = "refusing to use soft-deleted key", NULL;
	if (strncmp(ct, "vault:v", 7))
		return *uerr = "invalid ciphertext: no prefix", NULL;
	colon = strchr(p, ':');
	if (!colon)
		return *uerr = "invalid ciphertext: wrong number of fields", NULL;
	ver = strtol(p, &end, 10);
	if (end != colon || end == p)
		return *uerr = "invalid ciphertext: version number could not be decoded", NULL;
	if (ver == 0)
		ver = 1;
	if (ver > k->latest)
		return *uerr = "invalid ciphertext: version is too new", NULL;
	if (ver < k->min_decrypt)
		return *uerr = "ciphertext or signature version is disallowed by policy (too old)", NULL;
	raw = cmek_b64_decode(colon + 1, strlen(colon + 1), false, &rl);
	if (!raw)
		return *uerr = "invalid ciphertext: could not decode base64", NULL;
	*uerr = op_key(k, (int)ver, ctx, ctx_len, key);
	if (*uerr) {
		free(raw);
		return NULL;
	}
	if (rl < NONCE_LEN + TAG_LEN) {
		free(raw);
		return *uerr = "invalid ciphertext length", NULL;
	}
	*len = rl - NONCE_LEN - TAG_LEN;
	pt = malloc(*len + 1);
	if (!pt || cmek_aes256_gcm(false, key, raw, aad, aad_len,
				   raw + NONCE_LEN, *len, pt,
				   raw + NONCE_LEN + *len)) {
		free(pt);
		free(raw);
		return *uerr = "cipher: message authentication failed", NULL;
	}
	free(raw);
	return pt;
}

/* ---- requests ---- */

struct route {
	enum fake_vault_op op;
	const char *name;
	bool plaintext;			/* datakey/plaintext */
};

static bool name_ok(const char *n)
{
	size_t len = strlen(n), i;

	if (!len || len > FAKE_VAULT_NAME_MAX ||
	    !(isalnum((unsigned char)n[0]) || n[0] == '_') ||
	    !(isalnum((unsigned char)n[len - 1]) || n[len - 1] == '_'))
		return false;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)n[i]) && !strchr("_-.", n[i]))
			return false;
	return true;
}

/* "datakey/plaintext/NAME", "decrypt/NAME", ... below the mount. */
static bool route(const char *rest, struct route *r)
{
	static const struct { const char *pfx; enum fake_vault_op op; bool pt; } t[] = {
		{ "datakey/plaintext/", FAKE_VAULT_OP_DATAKEY, true },
		{ "datakey/wrapped/", FAKE_VAULT_OP_DATAKEY, false },
		{ "encrypt/", FAKE_VAULT_OP_ENCRYPT, false },
		{ "decrypt/", FAKE_VAULT_OP_DECRYPT, false },
		{ "rewrap/", FAKE_VAULT_OP_REWRAP, false },
		{ "keys/", FAKE_VAULT_OP_READ, false },
	};
	size_t i, n;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		n = strlen(t[i].pfx);
		if (!strncmp(rest, t[i].pfx, n) && name_ok(rest + n)) {
			r->op = t[i].op;
			r->name = rest + n;
			r->plaintext = t[i].pt;
			return true;
		}
	}
	return false;
}

static const unsigned int op_cap[] = {
	[FAKE_VAULT_OP_DATAKEY] = FAKE_VAULT_CAP_DATAKEY,
	[FAKE_VAULT_OP_ENCRYPT] = FAKE_VAULT_CAP_ENCRYPT,
	[FAKE_VAULT_OP_DECRYPT] = FAKE_VAULT_CAP_DECRYPT,
	[FAKE_VAULT_OP_REWRAP] = FAKE_VAULT_CAP_REWRAP,
	[FAKE_VAULT_OP_READ] = FAKE_VAULT_CAP_READ,
};

/* Each endpoint's fields (framework.FieldSchema); others are warned of. */
static const char *const fields[][8] = {
	[FAKE_VAULT_OP_DATAKEY] = { "bits", "context", "nonce", "key_version",
				    "associated_data", NULL },
	[FAKE_VAULT_OP_ENCRYPT] = { "plaintext", "context", "nonce", "key_version",
				    "type", "associated_data", "batch_input", NULL },
	[FAKE_VAULT_OP_DECRYPT] = { "ciphertext", "context", "nonce",
				    "associated_data", "batch_input", NULL },
	[FAKE_VAULT_OP_REWRAP] = { "ciphertext", "context", "nonce",
				   "key_version", "batch_input", NULL },
};

static bool known_field(const struct fake_vault *v, enum fake_vault_op op,
			const char *f)
{
	size_t i;

	if (v->legacy_no_ad && !strcmp(f, "associated_data"))
		return false;
	for (i = 0; fields[op][i]; i++)
		if (!strcmp(fields[op][i], f))
			return true;
	return false;
}

/* Vault's "Endpoint ignored these unrecognized parameters: [a b]". */
static struct json_object *unknown_fields(const struct fake_vault *v,
					  enum fake_vault_op op,
					  struct json_object *body)
{
	char list[256] = "", msg[320];
	struct json_object *w;

	json_object_object_foreach(body, k, val) {
		(void)val;
		if (known_field(v, op, k))
			continue;
		if (list[0])
			strncat(list, " ", sizeof(list) - strlen(list) - 1);
		strncat(list, k, sizeof(list) - strlen(list) - 1);
	}
	if (!list[0])
		return NULL;
	snprintf(msg, sizeof(msg),
		 "Endpoint ignored these unrecognized parameters: [%s]", list);
	w = json_object_new_array();
	json_object_array_add(w, json_object_new_string(msg));
	return w;
}

/* A base64 field as bytes; "" and absent are empty. -1 if not base64. */
static int b64_field(const struct fake_vault *v, enum fake_vault_op op,
		     struct json_object *body, const char *name, uint8_t **out,
		     size_t *len)
{
	struct json_object *o;
	const char *s;

	*out = NULL;
	*len = 0;
	if (!known_field(v, op, name) ||
	    !json_object_object_get_ex(body, name, &o))
		return 0;
	s = json_object_get_string(o);
	if (!s || !*s)
		return 0;
	*out = cmek_b64_decode(s, strlen(s), false, len);
	return *out ? 0 : -1;
}

static const char *str_field(struct json_object *body, const char *name)
{
	struct json_object *o;

	if (!json_object_object_get_ex(body, name, &o) ||
	    !json_object_is_type(o, json_type_string))
		return NULL;
	return json_object_get_string(o);
}

static void do_read(struct fake_resp *rs, const struct fake_vault_key *k)
{
	struct json_object *d = json_object_new_object();
	struct json_object *keys = json_object_new_object();
	char ver[16];
	int i;

	for (i = k->min_decrypt; i <= k->latest; i++) {
		snprintf(ver, sizeof(ver), "%d", i);
		json_object_object_add(keys, ver,
				       json_object_new_int64(k->created[i]));
	}
	json_object_object_add(d, "allow_plaintext_backup",
			       json_object_new_boolean(0));
	json_object_object_add(d, "auto_rotate_period", json_object_new_int(0));
	json_object_object_add(d, "deletion_allowed", json_object_new_boolean(0));
	json_object_object_add(d, "derived", json_object_new_boolean(k->derived));
	json_object_object_add(d, "exportable", json_object_new_boolean(0));
	json_object_object_add(d, "imported_key", json_object_new_boolean(0));
	json_object_object_add(d, "keys", keys);
	json_object_object_add(d, "latest_version", json_object_new_int(k->latest));
	json_object_object_add(d, "min_available_version", json_object_new_int(0));
	json_object_object_add(d, "min_decryption_version",
			       json_object_new_int(k->min_decrypt));
	json_object_object_add(d, "min_encryption_version", json_object_new_int(0));
	json_object_object_add(d, "name", json_object_new_string(k->name));
	json_object_object_add(d, "soft_deleted",
			       json_object_new_boolean(k->soft_deleted));
	json_object_object_add(d, "supports_decryption", json_object_new_boolean(1));
	json_object_object_add(d, "supports_derivation", json_object_new_boolean(1));
	json_object_object_add(d, "supports_encryption", json_object_new_boolean(1));
	json_object_object_add(d, "supports_signing", json_object_new_boolean(0));
	json_object_object_add(d, "type", json_object_new_string("aes256-gcm96"));
	reply_data(rs, d, NULL);
}

/* datakey, encrypt, decrypt, rewrap: the body is a JSON object. */
static void do_crypto(struct fake_vault *v, struct fake_resp *rs,
		      const struct route *r, struct fake_vault_key *k,
		      struct json_object *body)
{
	uint8_t *ctx = NULL, *aad = NULL, *pt = NULL, newkey[64];
	size_t ctx_len, aad_len, pt_len = 0;
	struct json_object *d, *warn, *o;
	const char *uerr = NULL, *s;
	char *ct = NULL, *b64;
	int bits = 256;

	warn = unknown_fields(v, r->op, body);
	if (b64_field(v, r->op, body, "context", &ctx, &ctx_len) ||
	    b64_field(v, r->op, body, "associated_data", &aad, &aad_len)) {
		uerr = "failed to base64-decode context or associated_data";
		goto out;
	}
	if (k->soft_deleted) {
		uerr = "refusing to use soft-deleted key";
		goto out;
	}
	switch (r->op) {
	case FAKE_VAULT_OP_DATAKEY:
		if (json_object_object_get_ex(body, "bits", &o))
			bits = json_object_get_int(o);
		if (bits != 128 && bits != 256 && bits != 512) {
			uerr = "invalid bit length";
			goto out;
		}
		pt_len = (size_t)bits / 8;
		RAND_bytes(newkey, (int)pt_len);
		ct = seal(k, newkey, pt_len, ctx, ctx_len, aad, aad_len, &uerr);
		break;
	case FAKE_VAULT_OP_ENCRYPT:
		s = str_field(body, "plaintext");
		if (!s) {
			uerr = "missing plaintext to encrypt";
			goto out;
		}
		pt = cmek_b64_decode(s, strlen(s), false, &pt_len);
		if (!pt && *s) {
			uerr = "failed to base64-decode plaintext";
			goto out;
		}
		ct = seal(k, pt, pt_len, ctx, ctx_len, aad, aad_len, &uerr);
		break;
	case FAKE_VAULT_OP_DECRYPT:
	case FAKE_VAULT_OP_REWRAP:
		s = str_field(body, "ciphertext");
		if (!s || !*s) {
			uerr = "missing ciphertext to decrypt";
			goto out;
		}
		/* Rewrap: Decrypt(context, nil, ...) - no associated data. */
		pt = open_ct(k, s, ctx, ctx_len, aad, aad_len, &pt_len, &uerr);
		if (pt && r->op == FAKE_VAULT_OP_REWRAP)
			ct = seal(k, pt, pt_len, ctx, ctx_len, NULL, 0, &uerr);
		break;
	default:
		break;
	}
	if (uerr)
		goto out;
	d = json_object_new_object();
	if (ct) {
		json_object_object_add(d, "ciphertext", json_object_new_string(ct));
		json_object_object_add(d, "key_version",
				       json_object_new_int(k->latest));
	}
	b64 = NULL;
	if (r->op == FAKE_VAULT_OP_DATAKEY && r->plaintext)
		b64 = cmek_b64_encode(newkey, pt_len, false);
	else if (r->op == FAKE_VAULT_OP_DECRYPT)
		b64 = cmek_b64_encode(pt, pt_len, false);
	if (b64)
		json_object_object_add(d, "plaintext", json_object_new_string(b64));
	free(b64);
	reply_data(rs, d, warn);
	warn = NULL;
out:
	if (uerr)
		reply_errors(rs, 400, uerr);
	json_object_put(warn);
	free(ctx);
	free(aad);
	free(pt);
	free(ct);
}

static const struct fake_vault_token *token_find(const struct fake_vault *v,
						 const char *tok)
{
	size_t i;

	for (i = 0; tok && i < v->ntokens; i++)
		if (!strcmp(v->tokens[i].token, tok))
			return &v->tokens[i];
	return NULL;
}

/* "ns1/ns2/" and "/ns1/ns2" are the same namespace. */
static bool ns_equal(const char *hdr, const char *ns)
{
	size_t n;

	while (hdr && *hdr == '/')
		hdr++;
	n = hdr ? strlen(hdr) : 0;
	while (n && hdr[n - 1] == '/')
		n--;
	return n == strlen(ns) && (!n || !strncmp(hdr, ns, n));
}

static void handle(struct fake_vault *v, const struct fake_req *rq,
		   struct fake_resp *rs)
{
	const char *tok = fake_header(rq, "X-Vault-Token");
	const char *ns = fake_header(rq, "X-Vault-Namespace");
	const struct fake_vault_token *t;
	struct json_object *body = NULL;
	struct fake_vault_key *k;
	char noroute[FAKE_PATH_MAX + 64];
	struct route r = { .op = FAKE_VAULT_OP_OTHER };
	size_t ml = strlen(v->mount);
	const char *rest = rq->path + 4;
	bool write = !strcmp(rq->method, "POST") || !strcmp(rq->method, "PUT");

	/* Sealed: before anything else, authentication included. */
	if (v->sealed) {
		v->calls[FAKE_VAULT_OP_OTHER]++;
		reply_errors(rs, 503, "Vault is sealed");
		return;
	}
	if (strncmp(rq->path, "/v1/", 4) || !ns_equal(ns, v->ns) ||
	    strncmp(rest, v->mount, ml) || rest[ml] != '/' ||
	    !route(rest + ml + 1, &r))
		r.op = FAKE_VAULT_OP_OTHER;
	v->calls[r.op]++;
	if (v->once_body) {
		fake_reply(rs, v->once_status, "%s", v->once_body);
		free(v->once_body);
		v->once_body = NULL;
		return;
	}
	t = token_find(v, tok);
	if (!tok || !*tok) {
		reply_errors(rs, 403, "permission denied");
		return;
	}
	if (!t) {
		reply_errors(rs, 403, BAD_TOKEN);
		return;
	}
	/* The default policy lets every token look itself up. */
	if (!strcmp(rq->path, "/v1/auth/token/lookup-self") &&
	    !strcmp(rq->method, "GET")) {
		reply_data(rs, json_object_new_object(), NULL);
		return;
	}
	if (!(t->caps & FAKE_VAULT_CAP_ROOT) &&
	    (r.op == FAKE_VAULT_OP_OTHER || !ns_equal(ns, t->ns) ||
	     !(t->caps & op_cap[r.op]) ||
	     (t->key[0] && strcmp(t->key, r.name)))) {
		reply_errors(rs, 403, DENIED);
		return;
	}
	if (r.op == FAKE_VAULT_OP_OTHER) {
		snprintf(noroute, sizeof(noroute),
			 "no handler for route \"%s\". route entry not found.",
			 rest);
		reply_errors(rs, 404, noroute);
		return;
	}
	if (r.op == FAKE_VAULT_OP_READ ? strcmp(rq->method, "GET") : !write) {
		reply_errors(rs, 405, NULL);
		return;
	}
	k = key_find(v, r.name);
	if (r.op == FAKE_VAULT_OP_READ) {
		/* A nil response from the read handler: 404, no errors. */
		if (k)
			do_read(rs, k);
		else
			reply_errors(rs, 404, NULL);
		return;
	}
	body = json_tokener_parse(rq->body && *rq->body ? rq->body : "{}");
	if (!json_object_is_type(body, json_type_object)) {
		reply_errors(rs, 400, "failed to parse JSON input: invalid character");
		goto out;
	}
	if (!k) {
		reply_errors(rs, 400, "encryption key not found");
		goto out;
	}
	do_crypto(v, rs, &r, k, body);
out:
	json_object_put(body);
}

void fake_vault_handler(struct fakesrv *s, const struct fake_req *rq,
			struct fake_resp *rs)
{
	struct fake_vault *v = s->data;

	pthread_mutex_lock(&v->lock);
	handle(v, rq, rs);
	pthread_mutex_unlock(&v->lock);
}
