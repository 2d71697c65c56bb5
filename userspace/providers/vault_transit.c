// SPDX-License-Identifier: GPL-2.0
/*
 * The "vault-transit" provider: data keys wrapped by a HashiCorp Vault or
 * OpenBao transit key. The key reference is the transit key's name; the
 * wrapped blob is transit's ciphertext string, "vault:v<N>:<base64>".
 *
 *   generate  POST /v1/MOUNT/datakey/plaintext/NAME  {"bits":512, binding}
 *   wrap      POST /v1/MOUNT/encrypt/NAME            {"plaintext", binding}
 *   unwrap    POST /v1/MOUNT/decrypt/NAME            {"ciphertext", binding}
 *   rewrap    POST /v1/MOUNT/rewrap/NAME             {"ciphertext", "context"}
 *   key_state GET  /v1/MOUNT/keys/NAME
 *
 * The binding is "cmek-dek-v1:<uuid>", base64, sent either as
 * associated_data (AEAD additional data; the default, any aes*-gcm96 or
 * chacha20-poly1305 key, Vault 1.13+ / OpenBao) or as context (key
 * derivation; the key must have been created with derived=true, because
 * transit silently ignores a context for a key that is not derived).
 *
 * Transit's rewrap endpoint takes no associated_data (hashicorp/vault
 * #29532): it would decrypt an AAD-bound ciphertext without the AAD and
 * fail. So the server-side rewrap is used with context binding only; with
 * associated_data, and for a move to another key (transit has no cross-key
 * rewrap), the provider decrypts and encrypts, holding the DEK in a locked
 * page that it wipes.
 *
 * The token comes from token_file, read at every request so that a token
 * renewed by Vault Agent is picked up, else from $VAULT_TOKEN. It lives in
 * a stack buffer and a header line that are wiped after the request, and
 * it is scrubbed from every error message, whatever the message's origin.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <json-c/printbuf.h>
#include <openssl/crypto.h>

#include "b64.h"
#include "http.h"
#include "kit.h"
#include "secjson.h"
#include "vault_transit.h"

#define VT_DEFAULT_ENDPOINT	"https://127.0.0.1:8200"
#define VT_PATH_MAX		256
#define VT_NAME_CHARS		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" \
				"0123456789_"

enum vt_binding { VT_BIND_AD, VT_BIND_CONTEXT };

struct vt_priv {
	struct cmek_http_opts http;
	char endpoint[512];
	bool endpoint_from_env;
	char mount[VT_PATH_MAX];
	char ns[VT_PATH_MAX];		/* "" = root namespace */
	char token_file[512];		/* "" = $VAULT_TOKEN */
	enum vt_binding binding;
};

/* One request's secrets and buffers; vt_ctx_done() wipes them. */
struct vt_ctx {
	char token[CMEK_VT_TOKEN_MAX + 2];
	char hdr_token[CMEK_VT_TOKEN_MAX + 32];
	char hdr_ns[VT_PATH_MAX + 32];
	char hdr_ct[48];
	char hdr_req[32];
	char url[1024];
	char what[CMEK_VT_NAME_MAX + 64];
	struct cmek_http_resp resp;
};

static const char *binding_field(const struct vt_priv *vp)
{
	return vp->binding == VT_BIND_CONTEXT ? "context" : "associated_data";
}

/* ---- names and paths ---- */

static bool word_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* Vault's GenericNameRegex, \w(([\w-.]+)?\w)?, minus "..". */
bool cmek_vt_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (!n || n > CMEK_VT_NAME_MAX || !word_char(name[0]) ||
	    !word_char(name[n - 1]))
		return false;
	return strspn(name, VT_NAME_CHARS ".-") == n && !strstr(name, "..");
}

static int check_ref(const char *key_ref, struct cmek_error *err)
{
	if (cmek_vt_name_valid(key_ref))
		return 0;
	return cmek_error_set(err, CMEK_ERR_INVALID,
			      "vault-transit: invalid key name '%.64s' (1-%d of A-Z a-z 0-9 _ . -, beginning and ending with a letter, digit or _)",
			      key_ref ? key_ref : "", CMEK_VT_NAME_MAX);
}

/*
 * A mount or namespace path: segments of [A-Za-z0-9._-] that are not "."
 * or "..", slashes at either end dropped. It goes into a URL or a header
 * as it is, so nothing else may pass.
 */
static int path_set(char *dst, size_t len, const char *key, const char *value,
		    bool may_be_empty, struct cmek_error *err)
{
	const char *s = value, *seg;
	size_t n, i, segn;

	while (*s == '/')
		s++;
	n = strlen(s);
	while (n && s[n - 1] == '/')
		n--;
	if (n >= len || (!n && !may_be_empty))
		goto bad;
	for (i = 0; i < n; i += segn + 1) {
		seg = s + i;
		segn = strcspn(seg, "/");
		if (segn > n - i)
			segn = n - i;
		if (!segn || (segn == 1 && seg[0] == '.') ||
		    (segn == 2 && !strncmp(seg, "..", 2)))
			goto bad;
		for (size_t j = 0; j < segn; j++)
			if (!word_char(seg[j]) && seg[j] != '.' &&
			    seg[j] != '-')
				goto bad;
	}
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
bad:
	return cmek_error_set(err, CMEK_ERR_INVALID,
			      "vault-transit: %s '%.100s' is not a path of A-Z a-z 0-9 _ . - segments",
			      key, value);
}

/* ---- the token ---- */

/* Trim and check in place: printable ASCII only, for it goes in a header. */
static int token_check(char *tok, const char *from, struct cmek_error *err)
{
	size_t n = strlen(tok), start = 0, i;

	while (n && isspace((unsigned char)tok[n - 1]))
		tok[--n] = '\0';
	while (start < n && isspace((unsigned char)tok[start]))
		start++;
	if (start) {
		memmove(tok, tok + start, n - start + 1);
		n -= start;
	}
	if (!n)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "vault-transit: %s holds no token", from);
	for (i = 0; i < n; i++)
		if (tok[i] < 0x21 || tok[i] > 0x7e)
			return cmek_error_set(err, CMEK_ERR_INVALID,
					      "vault-transit: %s holds characters a Vault token cannot have",
					      from);
	return 0;
}

static int token_load(const struct vt_priv *vp, char *tok,
		      struct cmek_error *err)
{
	const char *env;
	size_t n;

	if (vp->token_file[0]) {
		if (cmek_kit_secret_read("vault-transit", vp->token_file, tok,
					 CMEK_VT_TOKEN_MAX + 1, NULL, err))
			return -1;
		return token_check(tok, "token_file", err);
	}
	env = getenv("VAULT_TOKEN");
	if (!env || !*env)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "vault-transit: no Vault token: set token_file in [provider vault-transit] or VAULT_TOKEN");
	n = strlen(env);
	if (n > CMEK_VT_TOKEN_MAX)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "vault-transit: VAULT_TOKEN is longer than %d bytes",
				      CMEK_VT_TOKEN_MAX);
	memcpy(tok, env, n + 1);
	return token_check(tok, "VAULT_TOKEN", err);
}

/* Whatever put the token in a message (a proxy echoing headers), cut it. */
static void scrub(struct cmek_error *err, const char *secret)
{
	cmek_kit_withhold(err, &secret, 1);
}

static struct json_object *data_of(struct json_object *root,
				   struct cmek_error *err)
{
	struct json_object *d;

	if (!json_object_is_type(root, json_type_object) ||
	    !json_object_object_get_ex(root, "data", &d) ||
	    !json_object_is_type(d, json_type_object)) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT,
			       "vault-transit: malformed answer: no \"data\" object");
		return NULL;
	}
	return d;
}

static const char *str_field(struct json_object *d, const char *name,
			     size_t *len, struct cmek_error *err)
{
	struct json_object *v;

	if (!json_object_object_get_ex(d, name, &v) ||
	    !json_object_is_type(v, json_type_string)) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT,
			       "vault-transit: malformed answer: data.%s is missing or not a string",
			       name);
		return NULL;
	}
	*len = (size_t)json_object_get_string_len(v);
	return json_object_get_string(v);
}

long cmek_vt_ct_version(const char *ct, size_t len)
{
	size_t i = 7, digits;
	long v = 0;

	if (!ct || len > CMEK_VT_CT_MAX || len < 10 ||
	    strncmp(ct, "vault:v", 7))
		return -1;
	for (digits = 0; i < len && isdigit((unsigned char)ct[i]); i++) {
		if (++digits > 9)
			return -1;
		v = v * 10 + (ct[i] - '0');
	}
	if (!digits || v < 1 || i >= len - 1 || ct[i] != ':')
		return -1;
	for (i++; i < len; i++)
		if (!isalnum((unsigned char)ct[i]) && ct[i] != '+' &&
		    ct[i] != '/' && ct[i] != '=')
			return -1;
	return v;
}

static char *ct_field(struct json_object *d, struct cmek_error *err)
{
	const char *s;
	size_t n;
	char *ct;

	s = str_field(d, "ciphertext", &n, err);
	if (!s)
		return NULL;
	if (cmek_vt_ct_version(s, n) < 0) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT,
			       "vault-transit: malformed answer: data.ciphertext is not a transit ciphertext (vault:v<N>:<base64>, at most %d bytes)",
			       CMEK_VT_CT_MAX);
		return NULL;
	}
	ct = strndup(s, n);
	if (!ct)
		cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
	return ct;
}

int cmek_vt_parse_plaintext(const char *body, size_t len, size_t want,
			    uint8_t *dek, size_t *dek_len, char **ct,
			    struct cmek_error *err)
{
	struct json_object *root, *d;
	uint8_t *raw = NULL;
	size_t n, rl = 0;
	const char *s;
	int ret = -1;

	root = cmek_kit_json_answer("vault-transit", body, len, err);
	if (!root)
		return -1;
	d = data_of(root, err);
	s = d ? str_field(d, "plaintext", &n, err) : NULL;
	if (!s)
		goto out;
	/* Decode nothing that cannot be a key: no huge allocation either. */
	if (n > 4 * ((CMEK_DEK_MAX + 2) / 3)) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT,
			       "vault-transit: malformed answer: data.plaintext is %zu characters, too long for a 32- or 64-byte key",
			       n);
		goto out;
	}
	raw = cmek_b64_decode(s, n, false, &rl);
	if (!raw) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT,
			       "vault-transit: malformed answer: data.plaintext is not base64");
		goto out;
	}
	if (want ? rl != want : rl != 32 && rl != 64) {
		cmek_error_set(err, CMEK_ERR_INVALID,
			       "vault-transit: data.plaintext is %zu bytes, not a %s-byte key",
			       rl, want == 32 ? "32" : want == 64 ? "64" :
			       "32- or 64");
		goto out;
	}
	if (ct && !(*ct = ct_field(d, err)))
		goto out;
	memcpy(dek, raw, rl);
	*dek_len = rl;
	ret = 0;
out:
	if (raw) {
		OPENSSL_cleanse(raw, rl);
		free(raw);
	}
	cmek_json_put_wiped(root);
	return ret;
}

int cmek_vt_parse_ciphertext(const char *body, size_t len, char **ct,
			     struct cmek_error *err)
{
	struct json_object *root, *d;

	root = cmek_kit_json_answer("vault-transit", body, len, err);
	if (!root)
		return -1;
	d = data_of(root, err);
	*ct = d ? ct_field(d, err) : NULL;
	cmek_json_put_wiped(root);
	return *ct ? 0 : -1;
}

static int int_field(struct json_object *d, const char *name, long *v,
		     bool required, struct cmek_error *err)
{
	struct json_object *o;
	int64_t x;

	if (!json_object_object_get_ex(d, name, &o)) {
		if (!required)
			return 1;
		return cmek_error_set(err, CMEK_ERR_TRANSIENT,
				      "vault-transit: malformed answer: no data.%s",
				      name);
	}
	x = json_object_is_type(o, json_type_int) ? json_object_get_int64(o) :
						       -1;
	if (x < 0 || x > 1000000000)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT,
				      "vault-transit: malformed answer: data.%s is not a version number",
				      name);
	*v = (long)x;
	return 0;
}

static int bool_field(struct json_object *d, const char *name, bool *v,
		      struct cmek_error *err)
{
	struct json_object *o;

	if (!json_object_object_get_ex(d, name, &o))
		return 0;
	if (!json_object_is_type(o, json_type_boolean))
		return cmek_error_set(err, CMEK_ERR_TRANSIENT,
				      "vault-transit: malformed answer: data.%s is not a boolean",
				      name);
	*v = json_object_get_boolean(o);
	return 0;
}

/* The docs' own example has no latest_version: the highest of "keys". */
static int latest_from_keys(struct json_object *d, long *latest,
			    struct cmek_error *err)
{
	struct json_object *keys;
	long v, max = 0;
	char *end;

	if (json_object_object_get_ex(d, "keys", &keys) &&
	    json_object_is_type(keys, json_type_object)) {
		json_object_object_foreach(keys, k, val) {
			(void)val;
			errno = 0;
			v = strtol(k, &end, 10);
			if (!errno && end != k && !*end && v > max &&
			    v <= 1000000000)
				max = v;
		}
	}
	if (!max)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT,
				      "vault-transit: malformed answer: no latest_version and no key versions");
	*latest = max;
	return 0;
}

int cmek_vt_parse_key(const char *body, size_t len,
		      struct cmek_vt_key_info *ki, struct cmek_error *err)
{
	struct json_object *root, *d;
	int ret = -1, r;

	memset(ki, 0, sizeof(*ki));
	ki->supports_decryption = true;
	root = cmek_kit_json_answer("vault-transit", body, len, err);
	if (!root)
		return -1;
	d = data_of(root, err);
	if (!d)
		goto out;
	r = int_field(d, "latest_version", &ki->latest_version, false, err);
	if (r < 0 || (r > 0 && latest_from_keys(d, &ki->latest_version, err)))
		goto out;
	if (int_field(d, "min_decryption_version",
		      &ki->min_decryption_version, true, err) ||
	    bool_field(d, "derived", &ki->derived, err) ||
	    bool_field(d, "soft_deleted", &ki->soft_deleted, err) ||
	    bool_field(d, "supports_decryption", &ki->supports_decryption,
		       err))
		goto out;
	if (ki->latest_version < 1) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT,
			       "vault-transit: malformed answer: latest_version %ld",
			       ki->latest_version);
		goto out;
	}
	ret = 0;
out:
	cmek_json_put_wiped(root);
	return ret;
}

/*
 * Transit has no "disabled" flag. OpenBao's soft deletion is the nearest
 * thing to AWS's pending deletion: unusable, but restorable. Raising
 * min_decryption_version retires old versions, not the key: the key's
 * state does not say which version a slot needs, cmek_vt_version_state()
 * does (the watch asks that for every slot whose ciphertext names its
 * version, which is all of them). Vault refuses min_decryption_version
 * above latest_version; should an answer say so anyway, nothing decrypts.
 */
enum cmek_kms_key_state cmek_vt_key_state(const struct cmek_vt_key_info *ki)
{
	if (ki->soft_deleted)
		return CMEK_KMS_PENDING_DELETION;
	if (ki->min_decryption_version > ki->latest_version)
		return CMEK_KMS_DISABLED;
	return CMEK_KMS_ENABLED;
}

/*
 * A warning that Vault ignored the binding: a Vault older than 1.13 takes
 * no associated_data and says so only in "warnings". Such a wrap would not
 * be bound to the volume.
 */
static int check_warnings(const struct vt_priv *vp, const char *body,
			  size_t len, struct cmek_error *err)
{
	struct json_object *root, *w, *s;
	const char *field = binding_field(vp), *t;
	size_t i, n;
	int ret = 0;

	root = cmek_kit_json_answer("vault-transit", body, len, err);
	if (!root)
		return -1;
	if (json_object_object_get_ex(root, "warnings", &w) &&
	    json_object_is_type(w, json_type_array)) {
		n = json_object_array_length(w);
		for (i = 0; i < n && !ret; i++) {
			s = json_object_array_get_idx(w, i);
			if (!json_object_is_type(s, json_type_string))
				continue;
			t = json_object_get_string(s);
			if (!strstr(t, "ignored") || !strstr(t, field))
				continue;
			ret = cmek_error_set(err, CMEK_ERR_INVALID,
					     "vault-transit: Vault ignored %s (\"%.120s\"): this Vault cannot bind the key to the volume that way; upgrade (1.13+) or use binding = context with a derived key",
					     field, t);
		}
	}
	cmek_json_put_wiped(root);
	return ret;
}

/* ---- classification ---- */

/*
 * Vault's {"errors": [...]}, flattened to one line into @out; true if the
 * body is that, Vault's own error body. Anything else (a proxy's or a
 * WAF's page) gets a little of itself, printable, and false.
 */
static bool vault_message(const char *body, char *out, size_t len)
{
	struct json_object *root = NULL, *errs, *e;
	size_t i, n, o = 0, sep;

	out[0] = '\0';
	if (body)
		root = cmek_kit_json_answer("vault-transit", body, strlen(body),
					    NULL);
	errs = cmek_json_get(root, "errors", json_type_array);
	if (!errs) {
		cmek_kit_clean_str(out, len < 81 ? len : 81, body);
		cmek_json_put_wiped(root);
		return false;
	}
	n = json_object_array_length(errs);
	for (i = 0; i < n && o + 3 < len; i++) {
		e = json_object_array_get_idx(errs, i);
		if (!json_object_is_type(e, json_type_string))
			continue;
		sep = o ? 2 : 0;
		cmek_kit_clean_str(out + o + sep, len - o - sep,        json_object_get_string(e));
		if (!out[o + sep]) {
			out[o] = '\0';
			continue;
		}
		if (sep)
			memcpy(out + o, "; ", 2);
		o += sep + strlen(out + o + sep);
	}
	cmek_json_put_wiped(root);
	return true;
}

/*
 * Definitive only on Vault's own error body with the message Vault gives
 * for that case: an HTML 403 from a WAF, a proxy's 404 or a firewall's
 * reset must not lock a volume. A 403 is Vault refusing cmekd's token
 * (expired, revoked) or its policies refusing the path; only the first
 * says so ("invalid token", Vault 1.x since 2019), so a bare "permission
 * denied" is taken as the credential until request() has asked Vault
 * whether the token itself is still good (token_valid()).
 */
int cmek_vt_classify(long status, const char *body, const char *what,
		     struct cmek_error *err)
{
	enum cmek_err_class cls = CMEK_ERR_TRANSIENT;
	const char *why = "unexpected HTTP status";
	bool credential = false, vault;
	char vmsg[200];

	if (status >= 200 && status < 300)
		return 0;
	vault = vault_message(body, vmsg, sizeof(vmsg));
	switch (vault ? status : 0) {
	case 0:
		why = "not an answer from Vault (a proxy or firewall on the way?)";
		break;
	case 400:
		cls = CMEK_ERR_INVALID;
		if (strstr(vmsg, "disallowed by policy (too old)")) {
			cls = CMEK_ERR_DEFINITIVE;
			why = "the wrapped key's version is below the key's min_decryption_version (retired by the key owner)";
		} else if (strstr(vmsg, "encryption key not found")) {
			cls = CMEK_ERR_DEFINITIVE;
			why = "no such key (deleted?)";
		} else if (strstr(vmsg, "soft-deleted")) {
			cls = CMEK_ERR_DEFINITIVE;
			why = "the key is soft-deleted";
		} else if (strstr(vmsg, "message authentication failed")) {
			why = "wrapped key does not authenticate: a header from another volume, a corrupted key slot, or a changed binding setting";
		} else if (strstr(vmsg, "missing 'context'")) {
			why = "the key is derived: set binding = context";
		} else if (strstr(vmsg, "non-AEAD")) {
			why = "this key type takes no associated_data: use an aes256-gcm96 key or binding = context";
		} else {
			why = "Vault refused the request";
		}
		break;
	case 401:
	case 403:
		credential = true;
		why = strstr(vmsg, "invalid token") ?
		      "Vault rejected cmekd's token (invalid, expired or revoked)" :
		      "permission denied (cmekd's token expired or revoked, or its policies do not allow this path)";
		break;
	case 404:
		cls = CMEK_ERR_DEFINITIVE;
		why = strstr(vmsg, "no handler for route") ?
		      "not found: no transit engine is mounted at this path (disabled, with its keys?)" :
		      "not found: the key is deleted";
		break;
	case 412:
		why = "Vault node not yet consistent (performance standby)";
		break;
	case 429:
		why = "rate limited by Vault";
		break;
	default:
		if (status >= 500 && status < 600)
			why = strstr(vmsg, "sealed") ? "Vault is sealed" :
			      "Vault unavailable";
		break;
	}
	if (credential)
		cmek_error_credential(err, "vault-transit %s: %s (HTTP %ld%s%s)",
				      what, why, status, vmsg[0] ? ": " : "",
				      vmsg);
	else
		cmek_error_set(err, cls, "vault-transit %s: %s (HTTP %ld%s%s)",
			       what, why, status, vmsg[0] ? ": " : "", vmsg);
	if (status == 429)
		cmek_error_throttled(err, 0);
	return -1;
}

/* ---- requests ---- */

static void ctx_done(struct vt_ctx *c)
{
	OPENSSL_cleanse(c->token, sizeof(c->token));
	OPENSSL_cleanse(c->hdr_token, sizeof(c->hdr_token));
	cmek_http_resp_free(&c->resp);
}

/* 412: a performance standby that has not caught up; Vault's clients retry. */
static bool standby_behind(const struct cmek_http_resp *resp, void *arg)
{
	return resp->status == 412;
}

/*
 * After a bare 403 "permission denied": is cmekd's token itself still
 * good? Vault's answer to the token's own lookup-self, which the default
 * policy allows, tells a token that expired (credential) from policies
 * that no longer allow the key (access revoked). Anything but a 200 from
 * Vault leaves it a credential failure. @r is the request that got the
 * 403: the same headers go again.
 */
static bool token_valid(const struct vt_priv *vp, struct vt_ctx *c,
			const struct cmek_http_req *r)
{
	struct cmek_http_req lr = *r;
	struct cmek_http_resp resp = { 0 };
	struct cmek_error e = { 0 };
	char url[sizeof(c->url)];
	bool ok;

	if (snprintf(url, sizeof(url), "%s/v1/auth/token/lookup-self",
		     vp->endpoint) >= (int)sizeof(url))
		return false;
	lr.method = "GET";
	lr.url = url;
	lr.body = NULL;
	lr.body_len = 0;
	ok = cmek_http_call(&vp->http, &lr, &resp, &e) == 0 &&
	     resp.status == 200 && resp.body &&
	     strstr(resp.body, "\"data\"") != NULL;
	cmek_http_resp_free(&resp);
	return ok;
}

/*
 * One transit call, retried as http.c does, plus 412 (standby_behind()).
 * 0 on a 2xx answer (in c->resp); -1 with @err classified otherwise.
 */
static int request(const struct vt_priv *vp, struct vt_ctx *c,
		   const char *method, const char *op, const char *name,
		   const char *body, struct cmek_error *err)
{
	struct cmek_http_req r = { .method = method, .url = c->url };
	char msg[CMEK_ERRMSG_MAX];
	struct cmek_error local;
	int ret;

	if (!err)
		err = &local;
	if (!strcmp(op, "keys"))
		snprintf(c->what, sizeof(c->what), "read of key '%s'", name);
	else
		snprintf(c->what, sizeof(c->what), "%.7s with key '%s'", op,
			 name);
	if (cmek_http_endpoint_valid(vp->endpoint, err)) {
		if (vp->endpoint_from_env)
			strncat(err->msg, " (from VAULT_ADDR)",
				sizeof(err->msg) - strlen(err->msg) - 1);
		return -1;
	}
	if (token_load(vp, c->token, err))
		goto out_scrub;
	if (snprintf(c->url, sizeof(c->url), "%s/v1/%s/%s/%s", vp->endpoint,
		     vp->mount, op, name) >= (int)sizeof(c->url)) {
		cmek_error_set(err, CMEK_ERR_INVALID,
			       "vault-transit: endpoint and mount too long");
		goto out_scrub;
	}
	if (cmek_http_header(&r, c->hdr_token, sizeof(c->hdr_token),
			     "X-Vault-Token: %s", c->token) ||
	    (vp->ns[0] && cmek_http_header(&r, c->hdr_ns, sizeof(c->hdr_ns),
					   "X-Vault-Namespace: %s", vp->ns)) ||
	    cmek_http_header(&r, c->hdr_req, sizeof(c->hdr_req),
			     "X-Vault-Request: true") ||
	    (body && cmek_http_header(&r, c->hdr_ct, sizeof(c->hdr_ct),
				      "Content-Type: application/json"))) {
		cmek_error_set(err, CMEK_ERR_INVALID,
			       "vault-transit: request headers too long");
		goto out_scrub;
	}
	if (body) {
		r.body = body;
		r.body_len = strlen(body);
	}
	r.retry_if = standby_behind;
	ret = cmek_http_call(&vp->http, &r, &c->resp, err);
	if (ret) {
		snprintf(msg, sizeof(msg), "%s", err->msg);
		cmek_error_set(err, err->cls, "vault-transit %s: %s", c->what,
			       msg);
	} else {
		ret = cmek_vt_classify(c->resp.status, c->resp.body, c->what,
				       err);
		if (ret && c->resp.status == 403 && err->credential &&
		    !strstr(err->msg, "invalid token") &&
		    token_valid(vp, c, &r)) {
			err->credential = false;
			cmek_error_set(err, CMEK_ERR_DEFINITIVE,
				       "vault-transit %s: permission denied: cmekd's token is valid (token lookup-self) but its policies no longer allow this key (access revoked) (HTTP 403)",
				       c->what);
		}
	}
	scrub(err, c->token);
	return ret;
out_scrub:
	scrub(err, c->token);
	return -1;
}

/* "\"associated_data\":\"<base64>\"" or the same with "context". */
static int binding_json(const struct vt_priv *vp, const struct cmek_binding *b,
			char *out, size_t len, struct cmek_error *err)
{
	char aad[96], *e;
	size_t n;
	int w;

	if (!b || !b->volume_uuid[0])
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "vault-transit: no volume to bind the key to");
	n = cmek_binding_aad(b, aad, sizeof(aad));
	if (!n || n >= sizeof(aad))
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "vault-transit: bad volume binding");
	e = cmek_b64_encode((const uint8_t *)aad, n, false);
	if (!e)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
	w = snprintf(out, len, "\"%s\":\"%s\"", binding_field(vp), e);
	free(e);
	if (w < 0 || (size_t)w >= len)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "vault-transit: bad volume binding");
	return 0;
}

static int read_key(const struct vt_priv *vp, const char *name,
		    struct cmek_vt_key_info *ki, long *status,
		    struct cmek_error *err)
{
	struct vt_ctx *c = calloc(1, sizeof(*c));
	int ret;

	if (!c)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
	ret = request(vp, c, "GET", "keys", name, NULL, err);
	*status = c->resp.status;
	if (!ret)
		ret = cmek_vt_parse_key(c->resp.body, c->resp.len, ki, err);
	ctx_done(c);
	free(c);
	return ret;
}

/*
 * Transit ignores a context for a key that is not derived: the wrap would
 * look bound and not be. Checked before anything is wrapped that way.
 */
static int require_derived(const struct vt_priv *vp, const char *name,
			   struct cmek_error *err)
{
	struct cmek_vt_key_info ki;
	long status;

	if (vp->binding != VT_BIND_CONTEXT)
		return 0;
	if (read_key(vp, name, &ki, &status, err))
		return -1;
	if (!ki.derived)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "vault-transit: key '%s' is not derived: Vault ignores the context for it, so the key would not be bound to the volume (create it with derived=true, or use binding = associated_data)",
				      name);
	return 0;
}

/* The transit ciphertext in a key slot, NUL-terminated. */
static char *slot_ct(const uint8_t *wrapped, size_t len,
		     struct cmek_error *err)
{
	char *ct;

	if (!wrapped || cmek_vt_ct_version((const char *)wrapped, len) < 0) {
		cmek_error_set(err, CMEK_ERR_INVALID,
			       "vault-transit: wrapped key is not a transit ciphertext (vault:v<N>:...)");
		return NULL;
	}
	ct = strndup((const char *)wrapped, len);
	if (!ct)
		cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
	return ct;
}

/* {"ciphertext": the slot's, and the binding}: what decrypt and rewrap take. */
static char *ct_body(const struct vt_priv *vp, const struct cmek_binding *b,
		     const uint8_t *wrapped, size_t len,
		     struct cmek_error *err)
{
	char bind[160], *ct, *body;
	size_t blen;

	if (binding_json(vp, b, bind, sizeof(bind), err))
		return NULL;
	ct = slot_ct(wrapped, len, err);
	if (!ct)
		return NULL;
	blen = strlen(ct) + strlen(bind) + 32;
	body = malloc(blen);
	if (body)
		snprintf(body, blen, "{\"ciphertext\":\"%s\",%s}", ct, bind);
	else
		cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
	free(ct);
	return body;
}

/* POST @op with @body; the answer's data.ciphertext goes to the slot. */
static int call_for_ct(const struct vt_priv *vp, const char *op,
		       const char *name, const char *body, uint8_t **wrapped,
		       size_t *wrapped_len, struct cmek_error *err)
{
	struct vt_ctx *c = calloc(1, sizeof(*c));
	char *ct = NULL;
	int ret;

	if (!c)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
	ret = request(vp, c, "POST", op, name, body, err);
	if (!ret)
		ret = check_warnings(vp, c->resp.body, c->resp.len, err);
	if (!ret)
		ret = cmek_vt_parse_ciphertext(c->resp.body, c->resp.len, &ct,
					       err);
	if (!ret) {
		*wrapped = (uint8_t *)ct;
		*wrapped_len = strlen(ct);
	}
	ctx_done(c);
	free(c);
	return ret;
}

/* POST @op with @body; data.plaintext (and data.ciphertext) come back. */
static int call_for_key(const struct vt_priv *vp, const char *op,
			const char *name, const char *body, size_t want,
			uint8_t *dek, size_t *dek_len, char **ct,
			struct cmek_error *err)
{
	struct vt_ctx *c = calloc(1, sizeof(*c));
	int ret;

	if (!c)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
	ret = request(vp, c, "POST", op, name, body, err);
	if (!ret)
		ret = check_warnings(vp, c->resp.body, c->resp.len, err);
	if (!ret)
		ret = cmek_vt_parse_plaintext(c->resp.body, c->resp.len, want,
					      dek, dek_len, ct, err);
	ctx_done(c);
	free(c);
	return ret;
}

/* ---- the operations ---- */

static int vt_generate(struct cmek_provider *p, const char *key_ref,
		       const struct cmek_binding *b, uint8_t *dek,
		       size_t dek_len, uint8_t **wrapped, size_t *wrapped_len,
		       struct cmek_error *err)
{
	const struct vt_priv *vp = p->priv;
	char bind[160], body[224];
	char *ct = NULL;
	size_t got = 0;

	if (check_ref(key_ref, err))
		return -1;
	if (dek_len != 32 && dek_len != 64)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "vault-transit: transit data keys are 256 or 512 bits, not %zu bytes",
				      dek_len);
	if (binding_json(vp, b, bind, sizeof(bind), err) ||
	    require_derived(vp, key_ref, err))
		return -1;
	snprintf(body, sizeof(body), "{\"bits\":%zu,%s}", dek_len * 8, bind);
	if (call_for_key(vp, "datakey/plaintext", key_ref, body, dek_len, dek,
			 &got, &ct, err)) {
		OPENSSL_cleanse(dek, dek_len);
		return -1;
	}
	*wrapped = (uint8_t *)ct;
	*wrapped_len = strlen(ct);
	return 0;
}

static int vt_wrap(struct cmek_provider *p, const char *key_ref,
		   const struct cmek_binding *b, const uint8_t *dek,
		   size_t dek_len, uint8_t **wrapped, size_t *wrapped_len,
		   struct cmek_error *err)
{
	const struct vt_priv *vp = p->priv;
	char bind[160], *pt = NULL, *body = NULL;
	size_t blen = 0;
	int ret = -1;

	if (check_ref(key_ref, err))
		return -1;
	if (!dek || !dek_len || dek_len > CMEK_DEK_MAX)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "vault-transit: bad key length %zu", dek_len);
	if (binding_json(vp, b, bind, sizeof(bind), err) ||
	    require_derived(vp, key_ref, err))
		return -1;
	pt = cmek_b64_encode(dek, dek_len, false);
	if (pt) {
		blen = strlen(pt) + strlen(bind) + 32;
		body = malloc(blen);
	}
	if (!body) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
		goto out;
	}
	snprintf(body, blen, "{\"plaintext\":\"%s\",%s}", pt, bind);
	ret = call_for_ct(vp, "encrypt", key_ref, body, wrapped, wrapped_len,
			  err);
out:
	if (pt) {
		OPENSSL_cleanse(pt, strlen(pt));
		free(pt);
	}
	if (body) {
		OPENSSL_cleanse(body, blen);
		free(body);
	}
	return ret;
}

static int vt_unwrap(struct cmek_provider *p, const char *key_ref,
		     const struct cmek_binding *b, const uint8_t *wrapped,
		     size_t wrapped_len, uint8_t *dek, size_t *dek_len,
		     struct cmek_error *err)
{
	const struct vt_priv *vp = p->priv;
	char *body;
	int ret;

	if (check_ref(key_ref, err))
		return -1;
	body = ct_body(vp, b, wrapped, wrapped_len, err);
	if (!body)
		return -1;
	ret = call_for_key(vp, "decrypt", key_ref, body, 0, dek, dek_len, NULL,
			   err);
	if (ret)
		OPENSSL_cleanse(dek, CMEK_DEK_MAX);
	free(body);
	return ret;
}

/* Server side: same key, context binding; the plaintext stays in Vault. */
static int rewrap_server(const struct vt_priv *vp, const char *key_ref,
			 const struct cmek_binding *b, const uint8_t *wrapped,
			 size_t wrapped_len, uint8_t **nw, size_t *nwl,
			 struct cmek_error *err)
{
	char *body = ct_body(vp, b, wrapped, wrapped_len, err);
	int ret;

	if (!body)
		return -1;
	ret = call_for_ct(vp, "rewrap", key_ref, body, nw, nwl, err);
	free(body);
	return ret;
}

static int vt_rewrap(struct cmek_provider *p, const char *key_ref,
		     const char *new_key_ref, const struct cmek_binding *b,
		     const uint8_t *wrapped, size_t wrapped_len,
		     uint8_t **new_wrapped, size_t *new_wrapped_len,
		     struct cmek_error *err)
{
	const struct vt_priv *vp = p->priv;

	if (!new_key_ref)
		new_key_ref = key_ref;
	if (check_ref(key_ref, err) || check_ref(new_key_ref, err))
		return -1;
	if (!strcmp(key_ref, new_key_ref) && vp->binding == VT_BIND_CONTEXT)
		return rewrap_server(vp, key_ref, b, wrapped, wrapped_len,
				     new_wrapped, new_wrapped_len, err);
	/*
	 * The rewrap endpoint takes no associated_data, and transit cannot
	 * re-encrypt from one key to another: decrypt, then encrypt.
	 */
	return cmek_rewrap_by_unwrap(p, key_ref, new_key_ref, b, wrapped,
				     wrapped_len, new_wrapped, new_wrapped_len,
				     err);
}

/*
 * Vault's word on key @name: the key as a whole (@version 0) or the
 * version @version of it. 0, or -1 with @err set.
 */
static int read_state(struct cmek_provider *p, const char *name,
		      long version, enum cmek_kms_key_state *state,
		      struct cmek_error *err)
{
	struct cmek_vt_key_info ki;
	long status = 0;

	if (read_key(p->priv, name, &ki, &status, err)) {
		/* Vault's own answers about the key, not failures to ask. */
		if (err && err->cls == CMEK_ERR_DEFINITIVE && status == 404) {
			*state = CMEK_KMS_DELETED;
			return 0;
		}
		if (err && err->cls == CMEK_ERR_DEFINITIVE && status == 403) {
			*state = CMEK_KMS_ACCESS_DENIED;
			return 0;
		}
		return -1;
	}
	if (!ki.supports_decryption)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "vault-transit: key '%s' cannot decrypt (a signing key?)",
				      name);
	*state = version ? cmek_vt_version_state(&ki, version) :
			   cmek_vt_key_state(&ki);
	return 0;
}

static int vt_key_state(struct cmek_provider *p, const char *key_ref,
			enum cmek_kms_key_state *state,
			struct cmek_error *err)
{
	*state = CMEK_KMS_UNKNOWN;
	if (check_ref(key_ref, err))
		return -1;
	return read_state(p, key_ref, 0, state, err);
}

/* "NAME:vN": the key and the version its ciphertext "vault:vN:..." needs. */
static int vt_slot_key(const char *key_ref, const uint8_t *wrapped,
		       size_t wrapped_len, char *id, size_t id_len)
{
	long v = cmek_vt_ct_version((const char *)wrapped, wrapped_len);

	if (v < 0 || !cmek_vt_name_valid(key_ref))
		return -1;
	return snprintf(id, id_len, "%s:v%ld", key_ref, v) < (int)id_len ?
	       0 : -1;
}

int cmek_vt_slot_id_parse(const char *id, char *name, size_t name_len,
			  long *version)
{
	const char *c = strrchr(id, ':');
	char *end;
	long v;

	if (!c || c[1] != 'v' || (size_t)(c - id) >= name_len)
		return -1;
	errno = 0;
	v = strtol(c + 2, &end, 10);
	if (errno || end == c + 2 || *end || v < 1 || v > 1000000000 ||
	    !isdigit((unsigned char)c[2]))
		return -1;
	memcpy(name, id, (size_t)(c - id));
	name[c - id] = '\0';
	if (!cmek_vt_name_valid(name))
		return -1;
	*version = v;
	return 0;
}

/*
 * What a read of the key says about ciphertexts of version @version.
 * Transit has no per-version switch: raising min_decryption_version past
 * a version is how a customer retires it (reversible, like disabling), and
 * trimming needs min_decryption_version past the versions trimmed first.
 * A version above latest_version belongs to a key deleted and made again
 * under the same name: the key that wrapped the slot is gone.
 */
enum cmek_kms_key_state cmek_vt_version_state(const struct cmek_vt_key_info *ki,
					      long version)
{
	enum cmek_kms_key_state st = cmek_vt_key_state(ki);

	if (st != CMEK_KMS_ENABLED)
		return st;
	if (version > ki->latest_version)
		return CMEK_KMS_DELETED;
	if (version < ki->min_decryption_version)
		return CMEK_KMS_DISABLED;
	return CMEK_KMS_ENABLED;
}

static int vt_slot_state(struct cmek_provider *p, const char *id,
			 enum cmek_kms_key_state *state,
			 struct cmek_error *err)
{
	char name[CMEK_VT_NAME_MAX + 1];
	long version;

	*state = CMEK_KMS_UNKNOWN;
	if (cmek_vt_slot_id_parse(id, name, sizeof(name), &version) ||
	    version < 1)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "vault-transit: '%.200s' is not NAME:vN",
				      id);
	return read_state(p, name, version, state, err);
}

/* ---- configuration ---- */

static int endpoint_set(struct vt_priv *vp, const char *value, bool env,
			struct cmek_error *err)
{
	size_t n = strlen(value);

	while (n && value[n - 1] == '/')
		n--;
	if (n >= sizeof(vp->endpoint))
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "vault-transit: endpoint too long");
	memcpy(vp->endpoint, value, n);
	vp->endpoint[n] = '\0';
	vp->endpoint_from_env = env;
	return 0;
}

static int vt_init(struct cmek_provider *p, struct cmek_error *err)
{
	struct vt_priv *vp = calloc(1, sizeof(*vp));
	const char *env;

	if (!vp)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
	cmek_http_opts_init(&vp->http);
	strcpy(vp->mount, "transit");
	vp->binding = VT_BIND_AD;
	env = getenv("VAULT_ADDR");
	if (endpoint_set(vp, env && *env ? env : VT_DEFAULT_ENDPOINT,
			 env && *env, err))
		goto fail;
	env = getenv("VAULT_NAMESPACE");
	if (env && *env && path_set(vp->ns, sizeof(vp->ns), "VAULT_NAMESPACE",
				    env, true, err))
		goto fail;
	env = getenv("VAULT_CACERT");
	if (env && *env && cmek_http_configure(&vp->http, "ca_file", env,
					       err) < 0)
		goto fail;
	p->priv = vp;
	return 0;
fail:
	/* cmek_provider_new() does not destroy() what init() failed. */
	cmek_http_opts_free(&vp->http);
	free(vp);
	return -1;
}

static const struct cmek_setting vt_settings[] = {
	{ "endpoint", CMEK_SETTING_URL, 0, "https://127.0.0.1:8200",
	  "Vault address; default also $VAULT_ADDR" },
	{ "mount", CMEK_SETTING_STRING, 0, "transit",
	  "Mount path of the transit engine" },
	{ "namespace", CMEK_SETTING_STRING, 0, NULL,
	  "Vault Enterprise namespace; default $VAULT_NAMESPACE" },
	{ "token_file", CMEK_SETTING_PATH, CMEK_SETTING_SECRET_FILE, NULL,
	  "File holding the Vault token, read at every request; default $VAULT_TOKEN" },
	{ "binding", CMEK_SETTING_STRING, 0, "associated_data",
	  "associated_data or context: how the volume binding is sent" },
	CMEK_HTTP_SETTINGS,
	{ .name = NULL }
};

static int vt_configure(struct cmek_provider *p, const char *key,
			const char *value, struct cmek_error *err)
{
	struct vt_priv *vp = p->priv;
	int r;

	/* Not a setting, but a likely mistake: say what to do instead. */
	if (!strcmp(key, "token"))
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "vault-transit: put the token in a 0600 file and name it with token_file (or set VAULT_TOKEN)");
	if (cmek_setting_check("vault-transit", vt_settings, key, err))
		return -1;
	if (!strcmp(key, "endpoint")) {
		if (cmek_http_endpoint_valid(value, err))
			return -1;
		return endpoint_set(vp, value, false, err);
	}
	if (!strcmp(key, "mount"))
		return path_set(vp->mount, sizeof(vp->mount), key, value, false,
				err);
	if (!strcmp(key, "namespace"))
		return path_set(vp->ns, sizeof(vp->ns), key, value, true, err);
	if (!strcmp(key, "token_file")) {
		if (snprintf(vp->token_file, sizeof(vp->token_file), "%s",
			     value) >= (int)sizeof(vp->token_file))
			return cmek_error_set(err, CMEK_ERR_INVALID,
					      "vault-transit: token_file path too long");
		return 0;
	}
	if (!strcmp(key, "binding")) {
		if (!strcmp(value, "associated_data"))
			vp->binding = VT_BIND_AD;
		else if (!strcmp(value, "context"))
			vp->binding = VT_BIND_CONTEXT;
		else
			return cmek_error_set(err, CMEK_ERR_INVALID,
					      "vault-transit: binding '%.40s' is not associated_data or context",
					      value);
		return 0;
	}
	r = cmek_http_configure(&vp->http, key, value, err);
	if (r)
		return r < 0 ? -1 : 0;
	return cmek_setting_unhandled("vault-transit", key, err);
}

static void vt_destroy(struct cmek_provider *p)
{
	struct vt_priv *vp = p->priv;

	if (!vp)
		return;
	cmek_http_opts_free(&vp->http);
	free(vp);
	p->priv = NULL;
}

const struct cmek_provider_ops cmek_vault_transit_ops = {
	.name = "vault-transit",
	.settings = vt_settings,
	.init = vt_init,
	.configure = vt_configure,
	.generate = vt_generate,
	.wrap = vt_wrap,
	.unwrap = vt_unwrap,
	.rewrap = vt_rewrap,
	.key_state = vt_key_state,
	.slot_key = vt_slot_key,
	.slot_state = vt_slot_state,
	.destroy = vt_destroy,
};
