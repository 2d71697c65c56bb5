// SPDX-License-Identifier: GPL-2.0
/*
 * The vault-transit provider against the fake transit engine
 * (tests/kms/fake_vault.c) over TLS: round trips, the volume binding,
 * rewrap on the server and through the provider, key states, every row of
 * the error table in Documentation/admin-guide/cmek-providers.rst, faults,
 * credentials, malformed answers, and the API reference's own examples
 * (tests/kms/data/vault_transit/) through the parsers.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "b64.h"
#include "config.h"
#include "http.h"
#include "provider.h"
#include "vault_transit.h"
#include "../kms/fake_vault.h"
#include "../kms/fakesrv.h"
#include "../lib/tap.h"

#define TOKEN		"hvs.CAESIGk3x9testTokenForTheCmekSuite0123456789abcdefXY"
#define TOKEN2		"hvs.CAESIRotatedByVaultAgent0123456789abcdefghijklmnopq"
#define TOKEN_ENV	"hvs.CAESIFromTheEnvironmentVariable0123456789abcdefgh"
#define TOKEN_RO	"hvs.CAESIReadOnlyPolicyToken0123456789abcdefghijklmno"
#define TOKEN_NOREAD	"hvs.CAESINoReadPolicyToken0123456789abcdefghijklmnopq"
#define TOKEN_ROOT	"hvs.CAESIRootPolicyToken0123456789abcdefghijklmnopqrst"
#define TOKEN_BAD	"hvs.CAESIUnknownToVaultRevokedLongAgo0123456789abcdef"
#define NS		"team-a"

static char dir[] = "/tmp/cmek-test-vault-XXXXXX";
static char data_dir[512];
static struct fakesrv s;
static struct fake_vault v;
static const struct cmek_binding vol = { "0f8a3e7c-1b2d-4c5e-9f60-123456789abc" };
static const struct cmek_binding other = { "11111111-2222-4333-8444-555555555555" };
static unsigned int msg_checks, msg_leaks;

/* Every error message a test prints goes through here: never a token. */
static const char *M(const struct cmek_error *e)
{
	static const char *const toks[] = { TOKEN, TOKEN2, TOKEN_ENV, TOKEN_RO,
					    TOKEN_NOREAD, TOKEN_ROOT, TOKEN_BAD };
	size_t i;

	msg_checks++;
	for (i = 0; i < sizeof(toks) / sizeof(toks[0]); i++)
		if (strstr(e->msg, toks[i]))
			msg_leaks++;
	return e->msg;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 +
	       (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static void write_file(const char *name, const char *text, mode_t mode)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd >= 0) {
		if (write(fd, text, strlen(text)) < 0)
			tap_diag("write %s: %s", path, strerror(errno));
		fchmod(fd, mode);
		close(fd);
	}
}

static void token_file(const char *name, const char *tok)
{
	char text[300];

	snprintf(text, sizeof(text), "%s\n", tok);
	write_file(name, text, 0600);
}

/* A provider on the fake: NULL-terminated "key", "value" pairs on top. */
static struct cmek_provider *mk(const char *const *kv)
{
	struct cmek_error err = { 0 };
	struct cmek_provider *p = cmek_provider_new("vault-transit", &err);
	const char *base[] = { "endpoint", s.url, "ca_file", s.ca_file,
			       "timeout", "2s", "connect_timeout", "1s",
			       "retries", "2", "retry_backoff", "20ms",
			       "deadline", "10s", NULL };
	size_t i;

	for (i = 0; p && base[i]; i += 2)
		if (p->ops->configure(p, base[i], base[i + 1], &err))
			goto bad;
	for (i = 0; p && kv && kv[i]; i += 2)
		if (p->ops->configure(p, kv[i], kv[i + 1], &err))
			goto bad;
	if (!p)
		tap_diag("provider: %s", M(&err));
	return p;
bad:
	tap_diag("configure: %s", M(&err));
	cmek_provider_free(p);
	return NULL;
}

/* A file in the run's directory; a ring, for several in one list. */
static char *path_in(const char *name)
{
	static char path[16][600];
	static unsigned int next;
	char *p = path[next++ % 16];

	snprintf(p, sizeof(path[0]), "%s/%s", dir, name);
	return p;
}

/* The last request the fake saw. */
static void last(char *method, char *path, size_t plen, char **body)
{
	pthread_mutex_lock(&s.lock);
	if (method)
		snprintf(method, 16, "%s", s.last.method);
	if (path) {
		size_t n = strnlen(s.last.path, plen - 1);

		memcpy(path, s.last.path, n);
		path[n] = '\0';
	}
	if (body)
		*body = strdup(s.last.body ? s.last.body : "");
	pthread_mutex_unlock(&s.lock);
}

static char *data_file(const char *name, size_t *len)
{
	char path[700], *buf = NULL;
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", data_dir, name);
	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) < 0 || !(buf = calloc(1, st.st_size + 1)) ||
	    read(fd, buf, st.st_size) != st.st_size) {
		tap_diag("cannot read %s", path);
		free(buf);
		buf = NULL;
	}
	if (fd >= 0)
		close(fd);
	*len = buf ? (size_t)st.st_size : 0;
	return buf;
}

/*
 * The last request's body only uses parameters the API reference documents
 * for @endpoint (parameters.json), and has @need.
 */
static bool body_documented(const char *endpoint, const char *need)
{
	struct json_object *params = NULL, *list, *body = NULL, *x;
	char *b = NULL, *pj;
	bool ok = false, found;
	size_t n, i;

	pj = data_file("parameters.json", &n);
	last(NULL, NULL, 0, &b);
	if (pj)
		params = json_tokener_parse(pj);
	body = json_tokener_parse(b);
	if (!params || !body ||
	    !json_object_object_get_ex(params, endpoint, &list) ||
	    !json_object_is_type(body, json_type_object) ||
	    (need && !json_object_object_get_ex(body, need, &x)))
		goto out;
	ok = true;
	json_object_object_foreach(body, k, val) {
		(void)val;
		found = false;
		for (i = 0; i < json_object_array_length(list); i++)
			found |= !strcmp(k, json_object_get_string(
					json_object_array_get_idx(list, i)));
		if (!found) {
			tap_diag("%s: undocumented parameter %s", endpoint, k);
			ok = false;
		}
	}
out:
	json_object_put(params);
	json_object_put(body);
	free(pj);
	free(b);
	return ok;
}

static bool body_has(const char *needle)
{
	char *b = NULL;
	bool r;

	last(NULL, NULL, 0, &b);
	r = b && strstr(b, needle);
	free(b);
	return r;
}

static bool hdr_is(const char *name, const char *want)
{
	char got[512];

	fakesrv_last_header(&s, name, got, sizeof(got));
	if (strcmp(got, want))
		tap_diag("%s: '%s', want '%s'", name, got, want);
	return !strcmp(got, want);
}

/* ---- configuration and names ---- */

static void test_config(void)
{
	struct cmek_error err = { 0 };
	struct cmek_provider *p = cmek_provider_new("vault-transit", &err);
	const struct cmek_provider_ops *o;

	tap_ok(p && cmek_provider_lookup("vault-transit") == p->ops,
	       "vault-transit is registered");
	if (!p)
		return;
	o = p->ops;
	tap_ok(o->configure(p, "region", "x", &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID && strstr(err.msg, "known:") &&
	       o->configure(p, "token", TOKEN, &err) < 0 &&
	       strstr(err.msg, "0600 file") && !strstr(err.msg, TOKEN),
	       "unknown keys and an inline token refused: %s", M(&err));
	tap_ok(o->configure(p, "endpoint", "http://127.0.0.1:8200", &err) < 0 &&
	       strstr(err.msg, "TLS") &&
	       o->configure(p, "endpoint", "https://u:p@vault:8200", &err) < 0 &&
	       o->configure(p, "endpoint", "https://vault.example:8200/", &err) == 0,
	       "endpoint validated (https only, no user info): %s", M(&err));
	tap_ok(o->configure(p, "mount", "../sys", &err) < 0 &&
	       o->configure(p, "mount", "a//b", &err) < 0 &&
	       o->configure(p, "mount", "", &err) < 0 &&
	       o->configure(p, "mount", "a?b", &err) < 0 &&
	       o->configure(p, "mount", "/kv/transit-eu/", &err) == 0 &&
	       o->configure(p, "namespace", "a b", &err) < 0 &&
	       o->configure(p, "namespace", "team-a/child/", &err) == 0 &&
	       o->configure(p, "namespace", "", &err) == 0,
	       "mount and namespace are plain path segments: %s", M(&err));
	tap_ok(o->configure(p, "binding", "aad", &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID &&
	       o->configure(p, "binding", "context", &err) == 0 &&
	       o->configure(p, "binding", "associated_data", &err) == 0,
	       "binding is associated_data or context: %s", M(&err));
	tap_ok(o->configure(p, "timeout", "500ms", &err) == 0 &&
	       o->configure(p, "retries", "11", &err) < 0,
	       "shared HTTP keys go through cmek_http_configure: %s", M(&err));
	cmek_provider_free(p);
}

static void test_names(struct cmek_provider *p)
{
	static const char *const bad[] = { "a/b", "..", "a..b", ".x", "x-", "",
					   "k1?x", "k 1", "-k", NULL };
	char long_name[CMEK_VT_NAME_MAX + 2];
	struct cmek_error err = { 0 };
	enum cmek_kms_key_state st;
	unsigned long before = fakesrv_requests(&s);
	bool all = true;
	size_t i;

	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	for (i = 0; bad[i]; i++)
		all &= p->ops->key_state(p, bad[i], &st, &err) < 0 &&
		       err.cls == CMEK_ERR_INVALID;
	all &= p->ops->key_state(p, long_name, &st, &err) < 0;
	tap_ok(all && fakesrv_requests(&s) == before &&
	       cmek_vt_name_valid("my_key.v2-eu") && cmek_vt_name_valid("k"),
	       "bad key names refused before any request: %s", M(&err));
	tap_ok(cmek_vt_ct_version("vault:v12:AAAA", 14) == 12 &&
	       cmek_vt_ct_version("vault:v0:AAAA", 13) < 0 &&
	       cmek_vt_ct_version("vault:vx:AAAA", 13) < 0 &&
	       cmek_vt_ct_version("vault:v1:", 9) < 0 &&
	       cmek_vt_ct_version("vault:v1:A A", 12) < 0 &&
	       cmek_vt_ct_version("vault:v1:A\"A", 12) < 0,
	       "transit ciphertext strings recognised");
}

/* ---- round trips and the binding ---- */

static uint8_t dek[CMEK_DEK_MAX], *blob;
static size_t blob_len;

static void test_roundtrip(struct cmek_provider *p)
{
	uint8_t out[CMEK_DEK_MAX], d32[CMEK_DEK_MAX], *w = NULL;
	struct cmek_error err = { 0 };
	char method[16], path[256], aad[80], *ad64;
	size_t ol = 0, wl = 0;
	unsigned long dk = fake_vault_calls(&v, FAKE_VAULT_OP_DATAKEY);
	unsigned long before;
	struct timespec t0;
	long ms;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = p->ops->generate(p, "k1", &vol, dek, 64, &blob, &blob_len, &err);
	tap_ok(ret == 0 && blob_len > 9 && !memcmp(blob, "vault:v1:", 9) &&
	       fake_vault_calls(&v, FAKE_VAULT_OP_DATAKEY) == dk + 1,
	       "generate: one datakey call, a v1 transit ciphertext (%zu bytes): %s",
	       blob_len, ret ? M(&err) : "ok");
	last(method, path, sizeof(path), NULL);
	snprintf(aad, sizeof(aad), "\"associated_data\":\"%s\"",
		 (ad64 = cmek_b64_encode((const uint8_t *)"cmek-dek-v1:0f8a3e7c-1b2d-4c5e-9f60-123456789abc",
					 48, false)));
	free(ad64);
	tap_ok(!strcmp(method, "POST") &&
	       !strcmp(path, "/v1/transit/datakey/plaintext/k1") &&
	       body_has("\"bits\":512") && body_has(aad) &&
	       !body_has("context") && body_documented("datakey", "bits"),
	       "datakey request: POST %s, bits 512, associated_data = base64 of the AAD", path);
	tap_ok(hdr_is("X-Vault-Token", TOKEN) && hdr_is("X-Vault-Namespace", NS) &&
	       hdr_is("Content-Type", "application/json") &&
	       hdr_is("X-Vault-Request", "true"),
	       "X-Vault-Token (from token_file) and X-Vault-Namespace sent");
	if (ret)
		return;
	memset(out, 0, sizeof(out));
	ret = p->ops->unwrap(p, "k1", &vol, blob, blob_len, out, &ol, &err);
	ms = ms_since(&t0);
	tap_ok(ret == 0 && ol == 64 && !memcmp(out, dek, 64),
	       "unwrap returns the same 64-byte DEK (generate + unwrap %ld ms)%s%s",
	       ms, ret ? ": " : "", ret ? M(&err) : "");
	last(method, path, sizeof(path), NULL);
	tap_ok(!strcmp(path, "/v1/transit/decrypt/k1") &&
	       body_documented("decrypt", "ciphertext") && body_has(aad),
	       "decrypt request: ciphertext and the same associated_data");
	before = fakesrv_requests(&s);
	ret = p->ops->generate(p, "k1", &vol, d32, 32, &w, &wl, &err);
	tap_ok(ret == 0 && body_has("\"bits\":256") &&
	       p->ops->unwrap(p, "k1", &vol, w, wl, out, &ol, &err) == 0 &&
	       ol == 32 && !memcmp(out, d32, 32) &&
	       fakesrv_requests(&s) == before + 2,
	       "a 32-byte DEK round trips too (bits 256)");
	free(w);
	before = fakesrv_requests(&s);
	tap_ok(p->ops->generate(p, "k1", &vol, d32, 48, &w, &wl, &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID && fakesrv_requests(&s) == before,
	       "a 48-byte DEK is refused before any request: %s", M(&err));
}

static void test_binding(struct cmek_provider *pa, struct cmek_provider *pc)
{
	uint8_t out[CMEK_DEK_MAX], *w = NULL, *bad;
	struct cmek_error err = { 0 };
	size_t ol, wl;
	unsigned long before;

	memset(out, 0xaa, sizeof(out));
	tap_ok(pa->ops->unwrap(pa, "k1", &other, blob, blob_len, out, &ol,
			       &err) < 0 && err.cls == CMEK_ERR_INVALID &&
	       strstr(err.msg, "does not authenticate") &&
	       out[0] == 0 && out[63] == 0,
	       "bound to the volume: another volume's unwrap is invalid, output wiped: %s",
	       M(&err));
	bad = malloc(blob_len);
	memcpy(bad, blob, blob_len);
	bad[blob_len - 5] = bad[blob_len - 5] == 'A' ? 'B' : 'A';
	tap_ok(pa->ops->unwrap(pa, "k1", &vol, bad, blob_len, out, &ol, &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID,
	       "a corrupted ciphertext is invalid: %s", M(&err));
	free(bad);
	before = fakesrv_requests(&s);
	tap_ok(pa->ops->unwrap(pa, "k1", &vol, (const uint8_t *)"AQIDBAUG", 8,
			       out, &ol, &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID && fakesrv_requests(&s) == before,
	       "a slot that is not a transit ciphertext is refused locally: %s",
	       M(&err));

	before = fake_vault_calls(&v, FAKE_VAULT_OP_DATAKEY);
	tap_ok(pc->ops->generate(pc, "k1", &vol, out, 64, &w, &wl, &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID && strstr(err.msg, "not derived") &&
	       fake_vault_calls(&v, FAKE_VAULT_OP_DATAKEY) == before,
	       "binding = context on a key that is not derived: refused, nothing wrapped: %s",
	       M(&err));
	tap_ok(pa->ops->generate(pa, "kd", &vol, out, 64, &w, &wl, &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID &&
	       strstr(err.msg, "binding = context"),
	       "associated_data on a derived key: Vault's 400 'missing context' is invalid: %s",
	       M(&err));
	fake_vault_legacy(&v, true);
	tap_ok(pa->ops->generate(pa, "k1", &vol, out, 64, &w, &wl, &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID &&
	       strstr(err.msg, "ignored associated_data"),
	       "a Vault that ignores associated_data (before 1.13) is caught by its warning: %s",
	       M(&err));
	fake_vault_legacy(&v, false);
}

/* ---- rewrap ---- */

static void test_rewrap(struct cmek_provider *pa, struct cmek_provider *pc)
{
	uint8_t out[CMEK_DEK_MAX], dd[CMEK_DEK_MAX], *nw = NULL, *n2 = NULL;
	uint8_t *wd = NULL, *nd = NULL;
	struct cmek_error err = { 0 };
	size_t nwl = 0, n2l = 0, wdl = 0, ndl = 0, ol = 0;
	unsigned long dec, enc, rw;
	char *pt64, path[256];
	int ret;

	fake_vault_key_rotate(&v, "k1");
	dec = fake_vault_calls(&v, FAKE_VAULT_OP_DECRYPT);
	enc = fake_vault_calls(&v, FAKE_VAULT_OP_ENCRYPT);
	rw = fake_vault_calls(&v, FAKE_VAULT_OP_REWRAP);
	ret = pa->ops->rewrap(pa, "k1", "k1", &vol, blob, blob_len, &nw, &nwl,
			      &err);
	tap_ok(ret == 0 && nwl > 9 && !memcmp(nw, "vault:v2:", 9) &&
	       fake_vault_calls(&v, FAKE_VAULT_OP_DECRYPT) == dec + 1 &&
	       fake_vault_calls(&v, FAKE_VAULT_OP_ENCRYPT) == enc + 1 &&
	       fake_vault_calls(&v, FAKE_VAULT_OP_REWRAP) == rw &&
	       body_documented("encrypt", "plaintext"),
	       "associated_data rewrap to the new version: decrypt + encrypt (transit's rewrap takes no associated_data)%s%s",
	       ret ? ": " : "", ret ? M(&err) : "");
	tap_ok(ret == 0 &&
	       pa->ops->unwrap(pa, "k1", &vol, nw, nwl, out, &ol, &err) == 0 &&
	       ol == 64 && !memcmp(out, dek, 64),
	       "the v2 ciphertext unwraps to the same DEK");
	ret = pa->ops->rewrap(pa, "k1", "k2", &vol, blob, blob_len, &n2, &n2l,
			      &err);
	last(NULL, path, sizeof(path), NULL);
	tap_ok(ret == 0 && !strcmp(path, "/v1/transit/encrypt/k2") &&
	       pa->ops->unwrap(pa, "k2", &vol, n2, n2l, out, &ol, &err) == 0 &&
	       !memcmp(out, dek, 64) &&
	       pa->ops->unwrap(pa, "k1", &vol, n2, n2l, out, &ol, &err) < 0,
	       "rewrap to another key: k2 unwraps it, k1 does not");

	/* Context binding: the server-side rewrap. */
	ret = pc->ops->generate(pc, "kd", &vol, dd, 64, &wd, &wdl, &err);
	tap_ok(ret == 0 && body_has("\"context\":") &&
	       !body_has("associated_data") &&
	       pc->ops->unwrap(pc, "kd", &vol, wd, wdl, out, &ol, &err) == 0 &&
	       !memcmp(out, dd, 64),
	       "binding = context on a derived key round trips%s%s",
	       ret ? ": " : "", ret ? M(&err) : "");
	tap_ok(pc->ops->unwrap(pc, "kd", &other, wd, wdl, out, &ol, &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID,
	       "context binding: another volume derives another key: invalid: %s",
	       M(&err));
	fake_vault_key_rotate(&v, "kd");
	dec = fake_vault_calls(&v, FAKE_VAULT_OP_DECRYPT);
	rw = fake_vault_calls(&v, FAKE_VAULT_OP_REWRAP);
	ret = pc->ops->rewrap(pc, "kd", "kd", &vol, wd, wdl, &nd, &ndl, &err);
	pt64 = cmek_b64_encode(dd, 64, false);
	tap_ok(ret == 0 && ndl > 9 && !memcmp(nd, "vault:v2:", 9) &&
	       fake_vault_calls(&v, FAKE_VAULT_OP_REWRAP) == rw + 1 &&
	       fake_vault_calls(&v, FAKE_VAULT_OP_DECRYPT) == dec &&
	       !body_has("plaintext") && !body_has(pt64) &&
	       body_documented("rewrap", "context"),
	       "context rewrap: one rewrap call, the plaintext never on the wire%s%s",
	       ret ? ": " : "", ret ? M(&err) : "");
	OPENSSL_cleanse(pt64, strlen(pt64));
	free(pt64);
	tap_ok(ret == 0 &&
	       pc->ops->unwrap(pc, "kd", &vol, nd, ndl, out, &ol, &err) == 0 &&
	       !memcmp(out, dd, 64),
	       "the server-rewrapped ciphertext unwraps to the same DEK");
	free(nw);
	free(n2);
	free(wd);
	free(nd);
}

/* ---- key states ---- */

static void test_key_state(struct cmek_provider *pa)
{
	const char *ro[] = { "token_file", path_in("ro.token"), "namespace", NS,
			     NULL };
	const char *nr[] = { "token_file", path_in("noread.token"),
			     "namespace", NS, NULL };
	struct cmek_provider *pro, *pnr;
	uint8_t out[CMEK_DEK_MAX], *w = NULL, *g = NULL, *nw = NULL;
	struct cmek_error err = { 0 };
	enum cmek_kms_key_state st;
	size_t wl = 0, gl = 0, nwl = 0, ol;
	unsigned long before;
	int ret;

	tap_ok(pa->ops->key_state(pa, "k1", &st, &err) == 0 &&
	       st == CMEK_KMS_ENABLED, "key_state: k1 enabled");

	/* Retiring old versions: the state stays enabled, unwrap refuses. */
	ret = pa->ops->generate(pa, "kmin", &vol, out, 64, &w, &wl, &err);
	fake_vault_key_rotate(&v, "kmin");
	tap_ok(ret == 0 && fake_vault_key_min_decrypt(&v, "kmin", 3) < 0 &&
	       fake_vault_key_min_decrypt(&v, "kmin", 2) == 0 &&
	       pa->ops->key_state(pa, "kmin", &st, &err) == 0 &&
	       st == CMEK_KMS_ENABLED,
	       "min_decryption_version raised to 2: the key itself is still enabled");
	tap_ok(pa->ops->unwrap(pa, "kmin", &vol, w, wl, out, &ol, &err) < 0 &&
	       err.cls == CMEK_ERR_DEFINITIVE &&
	       strstr(err.msg, "min_decryption_version") &&
	       strstr(err.msg, "(too old)"),
	       "a v1 ciphertext below min_decryption_version: definitive: %s",
	       M(&err));
	tap_ok(pa->ops->rewrap(pa, "kmin", "kmin", &vol, w, wl, &nw, &nwl,
			       &err) < 0 && err.cls == CMEK_ERR_DEFINITIVE,
	       "and it cannot be rewrapped either: %s", M(&err));

	fake_vault_key_soft_delete(&v, "ksoft", true);
	tap_ok(pa->ops->key_state(pa, "ksoft", &st, &err) == 0 &&
	       st == CMEK_KMS_PENDING_DELETION &&
	       pa->ops->generate(pa, "ksoft", &vol, out, 64, &g, &gl, &err) < 0 &&
	       err.cls == CMEK_ERR_DEFINITIVE && strstr(err.msg, "soft-deleted"),
	       "OpenBao soft deletion: pending_deletion, operations definitive: %s",
	       M(&err));
	fake_vault_key_soft_delete(&v, "ksoft", false);
	tap_ok(pa->ops->key_state(pa, "ksoft", &st, &err) == 0 &&
	       st == CMEK_KMS_ENABLED, "restored: enabled again");

	free(w);
	w = NULL;
	ret = pa->ops->generate(pa, "kgone", &vol, out, 64, &w, &wl, &err);
	fake_vault_key_delete(&v, "kgone");
	tap_ok(ret == 0 && pa->ops->key_state(pa, "kgone", &st, &err) == 0 &&
	       st == CMEK_KMS_DELETED, "deleted key: GET keys/NAME 404 -> deleted");
	tap_ok(pa->ops->unwrap(pa, "kgone", &vol, w, wl, out, &ol, &err) < 0 &&
	       err.cls == CMEK_ERR_DEFINITIVE && strstr(err.msg, "deleted") &&
	       strstr(err.msg, "encryption key not found"),
	       "unwrap under a deleted key: 400 'encryption key not found' is definitive: %s",
	       M(&err));
	free(w);

	pro = mk(ro);
	pnr = mk(nr);
	tap_ok(pnr && pnr->ops->key_state(pnr, "k1", &st, &err) == 0 &&
	       st == CMEK_KMS_ACCESS_DENIED,
	       "a token whose policy lacks read on keys/NAME: access_denied");
	tap_ok(pro && pro->ops->unwrap(pro, "k1", &vol, blob, blob_len, out,
				       &ol, &err) < 0 &&
	       err.cls == CMEK_ERR_DEFINITIVE &&
	       strstr(err.msg, "permission denied") &&
	       !strstr(err.msg, "invalid token"),
	       "a token whose policy lacks decrypt: 403, definitive: %s",
	       M(&err));
	cmek_provider_free(pro);
	cmek_provider_free(pnr);

	fake_vault_seal(&v, true);
	before = fakesrv_requests(&s);
	tap_ok(pa->ops->key_state(pa, "k1", &st, &err) < 0 &&
	       st == CMEK_KMS_UNKNOWN && err.cls == CMEK_ERR_TRANSIENT &&
	       strstr(err.msg, "sealed") && fakesrv_requests(&s) == before + 3,
	       "sealed Vault: 503, retried (3 requests), state unknown, transient: %s",
	       M(&err));
	tap_ok(pa->ops->unwrap(pa, "k1", &vol, blob, blob_len, out, &ol,
			       &err) < 0 && err.cls == CMEK_ERR_TRANSIENT,
	       "sealed Vault: unwrap transient");
	fake_vault_seal(&v, false);
}

/* ---- the error table, row by row ---- */

struct row {
	int status;
	const char *body;
	unsigned int count;
	enum cmek_err_class cls;
	const char *needle;
	unsigned long requests;	/* requests the unwrap sent */
	bool credential;	/* cmekd's own credential refused */
};

static const char *cls_name(enum cmek_err_class c)
{
	return c == CMEK_ERR_DEFINITIVE ? "definitive" :
	       c == CMEK_ERR_TRANSIENT ? "transient" :
	       c == CMEK_ERR_INVALID ? "invalid" : "none";
}

static void test_rows(struct cmek_provider *pa)
{
	static const struct row rows[] = {
		{ 400, "{\"errors\":[\"invalid ciphertext: version is too new\"]}",
		  1, CMEK_ERR_INVALID, "refused", 1, false },
		{ 401, "{\"errors\":[\"unauthorized\"]}", 1,
		  CMEK_ERR_TRANSIENT, "cmekd's token", 1, true },
		/* A WAF's or a proxy's page is no answer from Vault. */
		{ 403, "<html><body>Request blocked (WAF)</body></html>", 1,
		  CMEK_ERR_TRANSIENT, "not an answer from Vault", 1, false },
		{ 404, "<html>Not Found</html>", 1, CMEK_ERR_TRANSIENT,
		  "not an answer from Vault", 1, false },
		{ 400, "Bad Request", 1, CMEK_ERR_TRANSIENT,
		  "not an answer from Vault", 1, false },
		/* Bare "permission denied", and lookup-self refused too: an
		 * expired token, cmekd's credential. */
		{ 403, "{\"errors\":[\"1 error occurred:\\n\\t* permission denied\\n\\n\"]}",
		  2, CMEK_ERR_TRANSIENT, "cmekd's token expired or revoked", 2,
		  true },
		/* Bare "permission denied", lookup-self fine: the token is
		 * good, its policies no longer allow the key. */
		{ 403, "{\"errors\":[\"1 error occurred:\\n\\t* permission denied\\n\\n\"]}",
		  1, CMEK_ERR_DEFINITIVE, "access revoked", 2, false },
		{ 405, "{\"errors\":[]}", 1, CMEK_ERR_TRANSIENT, "HTTP 405", 1,
		  false },
		{ 412, "{\"errors\":[\"required index state not present\"]}", 10,
		  CMEK_ERR_TRANSIENT, "performance standby", 3, false },
		{ 429, "{\"errors\":[\"rate limit quota exceeded\"]}", 10,
		  CMEK_ERR_TRANSIENT, "rate limited", 3, false },
		{ 500, "{\"errors\":[\"internal error\"]}", 10,
		  CMEK_ERR_TRANSIENT, "unavailable", 3, false },
		{ 502, "<html>Bad Gateway</html>", 10, CMEK_ERR_TRANSIENT,
		  "Bad Gateway", 3, false },
		{ 504, "", 10, CMEK_ERR_TRANSIENT, "HTTP 504", 3, false },
		{ 302, "", 1, CMEK_ERR_TRANSIENT, "not an answer from Vault", 1,
		  false },
		{ 418, "{\"errors\":[\"teapot\"]}", 1, CMEK_ERR_TRANSIENT,
		  "unexpected", 1, false },
	};
	const char *root[] = { "token_file", path_in("root.token"),
			       "namespace", NS, "mount", "transit2", NULL };
	const char *bad[] = { "token_file", path_in("bad.token"),
			      "namespace", NS, NULL };
	struct fake_faults f = { 0 };
	struct cmek_error err = { 0 };
	enum cmek_kms_key_state st;
	struct cmek_provider *p;
	uint8_t out[CMEK_DEK_MAX];
	unsigned long before, sent;
	size_t i, ol;
	int ret;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		memset(&f, 0, sizeof(f));
		f.status = rows[i].status;
		f.count = rows[i].count;
		snprintf(f.body, sizeof(f.body), "%s", rows[i].body);
		fakesrv_faults(&s, &f);
		before = fakesrv_requests(&s);
		memset(&err, 0, sizeof(err));
		ret = pa->ops->unwrap(pa, "k1", &vol, blob, blob_len, out, &ol,
				      &err);
		sent = fakesrv_requests(&s) - before;
		fakesrv_faults(&s, NULL);
		tap_ok(ret < 0 && err.cls == rows[i].cls &&
		       strstr(err.msg, rows[i].needle) &&
		       sent == rows[i].requests &&
		       err.throttled == (rows[i].status == 429) &&
		       err.credential == rows[i].credential,
		       "HTTP %d -> %s%s%s after %lu request(s): %s",
		       rows[i].status, cls_name(rows[i].cls),
		       err.throttled ? ", throttled" : "",
		       err.credential ? ", credential" : "", sent, M(&err));
	}
	/* 412 once: retried by the provider, then the answer. */
	memset(&f, 0, sizeof(f));
	f.status = 412;
	f.count = 1;
	fakesrv_faults(&s, &f);
	before = fakesrv_requests(&s);
	ret = pa->ops->unwrap(pa, "k1", &vol, blob, blob_len, out, &ol, &err);
	tap_ok(ret == 0 && ol == 64 && fakesrv_requests(&s) == before + 2,
	       "one 412 from a performance standby, then the answer: 2 requests");
	fakesrv_faults(&s, NULL);

	/* 404 from the router: no transit engine at that mount (root token). */
	p = mk(root);
	tap_ok(p && p->ops->unwrap(p, "k1", &vol, blob, blob_len, out, &ol,
				   &err) < 0 &&
	       err.cls == CMEK_ERR_DEFINITIVE && strstr(err.msg, "no handler"),
	       "HTTP 404 'no handler for route' (mount gone) -> definitive: %s",
	       M(&err));
	cmek_provider_free(p);

	/* 403 with "invalid token": told apart in the message only. */
	p = mk(bad);
	ret = p ? p->ops->unwrap(p, "k1", &vol, blob, blob_len, out, &ol, &err) :
		  -1;
	tap_ok(ret < 0 && err.cls == CMEK_ERR_TRANSIENT && err.credential &&
	       strstr(err.msg, "rejected cmekd's token") &&
	       strstr(err.msg, "invalid token") && !strstr(err.msg, TOKEN_BAD) &&
	       hdr_is("X-Vault-Token", TOKEN_BAD),
	       "cmekd's token expired: 403 'invalid token' -> a credential error (transient), not a revocation; the message names no token: %s",
	       M(&err));
	st = CMEK_KMS_ENABLED;
	memset(&err, 0, sizeof(err));
	ret = p ? p->ops->key_state(p, "k1", &st, &err) : -1;
	tap_ok(ret < 0 && st == CMEK_KMS_UNKNOWN &&
	       err.cls == CMEK_ERR_TRANSIENT && err.credential,
	       "key state with cmekd's token expired: unknown, a credential error, not access_denied: %s",
	       M(&err));
	cmek_provider_free(p);
}

/* ---- faults ---- */

static void test_faults(struct cmek_provider *pa)
{
	const char *quick[] = { "token_file", path_in("vault.token"),
				"namespace", NS, "timeout", "300ms",
				"retries", "1", NULL };
	const char *nowhere[] = { "token_file", path_in("vault.token"),
				  "namespace", NS, "endpoint",
				  "https://127.0.0.1:1", NULL };
	struct fake_faults f = { 0 };
	struct cmek_error err = { 0 };
	struct cmek_provider *p;
	enum cmek_kms_key_state st;
	uint8_t out[CMEK_DEK_MAX];
	unsigned long before;
	struct timespec t0;
	size_t ol;
	long ms;
	int ret;

	f.status = 503;
	f.count = 2;
	snprintf(f.body, sizeof(f.body), "{\"errors\":[\"Vault is sealed\"]}");
	fakesrv_faults(&s, &f);
	before = fakesrv_requests(&s);
	ret = pa->ops->unwrap(pa, "k1", &vol, blob, blob_len, out, &ol, &err);
	tap_ok(ret == 0 && !memcmp(out, dek, 64) &&
	       fakesrv_requests(&s) == before + 3,
	       "503 twice then the answer: unwrap succeeds with 3 requests");

	memset(&f, 0, sizeof(f));
	f.status = 429;
	f.count = 1;
	snprintf(f.retry_after, sizeof(f.retry_after), "1");
	fakesrv_faults(&s, &f);
	before = fakesrv_requests(&s);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = pa->ops->key_state(pa, "k1", &st, &err);
	ms = ms_since(&t0);
	tap_ok(ret == 0 && st == CMEK_KMS_ENABLED && ms >= 1000 && ms < 6000 &&
	       fakesrv_requests(&s) == before + 2,
	       "429 with Retry-After: 1 honoured (%ld ms), then the answer", ms);
	fakesrv_faults(&s, NULL);

	p = mk(quick);
	memset(&f, 0, sizeof(f));
	f.hang = true;
	fakesrv_faults(&s, &f);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = p ? p->ops->unwrap(p, "k1", &vol, blob, blob_len, out, &ol, &err) :
		  0;
	ms = ms_since(&t0);
	fakesrv_faults(&s, NULL);
	tap_ok(ret < 0 && err.cls == CMEK_ERR_TRANSIENT && ms >= 600 &&
	       ms < 5000,
	       "a Vault that never answers: transient after 2 x 300 ms (%ld ms): %s",
	       ms, M(&err));
	memset(&f, 0, sizeof(f));
	f.close_early = true;
	fakesrv_faults(&s, &f);
	ret = p ? p->ops->unwrap(p, "k1", &vol, blob, blob_len, out, &ol, &err) :
		  0;
	fakesrv_faults(&s, NULL);
	tap_ok(ret < 0 && err.cls == CMEK_ERR_TRANSIENT,
	       "connection closed without an answer: transient: %s", M(&err));
	cmek_provider_free(p);

	p = mk(nowhere);
	tap_ok(p && p->ops->key_state(p, "k1", &st, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT && st == CMEK_KMS_UNKNOWN,
	       "connection refused: transient, state unknown: %s", M(&err));
	cmek_provider_free(p);

	p = cmek_provider_new("vault-transit", &err);
	if (p) {
		p->ops->configure(p, "endpoint", s.url, &err);
		p->ops->configure(p, "token_file", path_in("vault.token"), &err);
		p->ops->configure(p, "retries", "0", &err);
	}
	before = fakesrv_requests(&s);
	tap_ok(p && p->ops->key_state(p, "k1", &st, &err) < 0 &&
	       st == CMEK_KMS_UNKNOWN && err.cls == CMEK_ERR_TRANSIENT &&
	       strstr(err.msg, "certificate"),
	       "a server certificate that does not verify (as a man in the middle's would not): transient, state unknown, counts toward the grace: %s",
	       M(&err));
	cmek_provider_free(p);

	/* What else the path can do without breaking TLS. */
	p = mk(quick);
	memset(&f, 0, sizeof(f));
	f.tls_alert = true;
	fakesrv_faults(&s, &f);
	memset(&err, 0, sizeof(err));
	ret = p ? p->ops->key_state(p, "k1", &st, &err) : 0;
	fakesrv_faults(&s, NULL);
	tap_ok(ret < 0 && st == CMEK_KMS_UNKNOWN &&
	       err.cls == CMEK_ERR_TRANSIENT && strstr(err.msg, "TLS"),
	       "an injected TLS alert: transient, state unknown, counts toward the grace: %s",
	       M(&err));
	memset(&f, 0, sizeof(f));
	f.status = 200;
	f.count = 1;
	snprintf(f.body, sizeof(f.body), "<html>garbage</html>");
	fakesrv_faults(&s, &f);
	memset(&err, 0, sizeof(err));
	ret = p ? p->ops->key_state(p, "k1", &st, &err) : 0;
	fakesrv_faults(&s, NULL);
	tap_ok(ret < 0 && st == CMEK_KMS_UNKNOWN &&
	       err.cls == CMEK_ERR_TRANSIENT && strstr(err.msg, "malformed"),
	       "a garbage 200 answer to a key read: transient, state unknown, counts toward the grace: %s",
	       M(&err));
	cmek_provider_free(p);
}

/* ---- credentials ---- */

static void test_credentials(void)
{
	const char *file[] = { "token_file", path_in("rot.token"), "namespace",
			       NS, NULL };
	const char *open_file[] = { "token_file", path_in("open.token"),
				    "namespace", NS, NULL };
	const char *missing[] = { "token_file", path_in("none.token"),
				  "namespace", NS, NULL };
	const char *empty[] = { "token_file", path_in("empty.token"),
				"namespace", NS, NULL };
	const char *none[] = { "namespace", NS, NULL };
	struct cmek_error err = { 0 };
	enum cmek_kms_key_state st;
	struct cmek_provider *p;
	struct fake_faults f = { 0 };
	unsigned long before;
	char body[300];
	int ret;

	token_file("rot.token", TOKEN);
	p = mk(file);
	ret = p ? p->ops->key_state(p, "k1", &st, &err) : -1;
	tap_ok(ret == 0 && hdr_is("X-Vault-Token", TOKEN),
	       "token read from token_file, trailing newline dropped");
	token_file("rot.token", TOKEN2);
	ret = p ? p->ops->key_state(p, "k1", &st, &err) : -1;
	tap_ok(ret == 0 && st == CMEK_KMS_ENABLED && hdr_is("X-Vault-Token", TOKEN2),
	       "token_file rewritten (Vault Agent renewal): the next request uses the new token");

	/* A proxy that echoes the request into its error: scrubbed. */
	snprintf(body, sizeof(body),
		 "{\"errors\":[\"header X-Vault-Token: %s refused\"]}", TOKEN2);
	f.status = 400;
	f.count = 1;
	snprintf(f.body, sizeof(f.body), "%s", body);
	fakesrv_faults(&s, &f);
	ret = p ? p->ops->key_state(p, "k1", &st, &err) : 0;
	fakesrv_faults(&s, NULL);
	tap_ok(ret < 0 && !strstr(err.msg, TOKEN2) &&
	       strstr(err.msg, "[redacted]"),
	       "a token echoed in an error body is redacted: %s", M(&err));
	cmek_provider_free(p);

	write_file("open.token", TOKEN "\n", 0644);
	p = mk(open_file);
	before = fakesrv_requests(&s);
	tap_ok(p && p->ops->key_state(p, "k1", &st, &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID && strstr(err.msg, "chmod 600") &&
	       fakesrv_requests(&s) == before,
	       "a token_file readable by others is refused: %s", M(&err));
	cmek_provider_free(p);
	p = mk(missing);
	tap_ok(p && p->ops->key_state(p, "k1", &st, &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID && strstr(err.msg, "none.token"),
	       "a missing token_file: invalid: %s", M(&err));
	cmek_provider_free(p);
	write_file("empty.token", " \n", 0600);
	p = mk(empty);
	tap_ok(p && p->ops->key_state(p, "k1", &st, &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID && strstr(err.msg, "is empty"),
	       "an empty token_file: invalid: %s", M(&err));
	cmek_provider_free(p);

	unsetenv("VAULT_TOKEN");
	p = mk(none);
	before = fakesrv_requests(&s);
	tap_ok(p && p->ops->key_state(p, "k1", &st, &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID && strstr(err.msg, "no Vault token") &&
	       fakesrv_requests(&s) == before,
	       "neither token_file nor VAULT_TOKEN: invalid, nothing sent: %s",
	       M(&err));
	setenv("VAULT_TOKEN", TOKEN_ENV, 1);
	tap_ok(p && p->ops->key_state(p, "k1", &st, &err) == 0 &&
	       st == CMEK_KMS_ENABLED && hdr_is("X-Vault-Token", TOKEN_ENV),
	       "VAULT_TOKEN used when there is no token_file");
	cmek_provider_free(p);

	/* Nothing configured: VAULT_ADDR, VAULT_NAMESPACE, VAULT_CACERT. */
	setenv("VAULT_ADDR", s.url, 1);
	setenv("VAULT_NAMESPACE", NS "/", 1);
	setenv("VAULT_CACERT", s.ca_file, 1);
	memset(&err, 0, sizeof(err));
	p = cmek_provider_new("vault-transit", &err);
	tap_ok(p && p->ops->key_state(p, "k1", &st, &err) == 0 &&
	       st == CMEK_KMS_ENABLED && hdr_is("X-Vault-Namespace", NS) &&
	       hdr_is("X-Vault-Token", TOKEN_ENV),
	       "the Vault CLI's environment alone is enough%s%s",
	       p && err.msg[0] ? ": " : "", p ? M(&err) : "");
	cmek_provider_free(p);
	unsetenv("VAULT_NAMESPACE");
	unsetenv("VAULT_CACERT");
	setenv("VAULT_ADDR", "http://127.0.0.1:8200", 1);
	p = cmek_provider_new("vault-transit", &err);
	before = fakesrv_requests(&s);
	tap_ok(p && p->ops->key_state(p, "k1", &st, &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID && strstr(err.msg, "VAULT_ADDR") &&
	       fakesrv_requests(&s) == before,
	       "an http:// VAULT_ADDR is refused, and says where it came from: %s",
	       M(&err));
	cmek_provider_free(p);
	unsetenv("VAULT_ADDR");

	/* Without the namespace the token's policy does not apply. */
	p = mk(NULL);
	tap_ok(p && p->ops->key_state(p, "k1", &st, &err) == 0 &&
	       st == CMEK_KMS_ACCESS_DENIED && hdr_is("X-Vault-Namespace", ""),
	       "no namespace configured: no X-Vault-Namespace header, access denied");
	cmek_provider_free(p);
	unsetenv("VAULT_TOKEN");
}

static void report(void *ctx, const char *msg)
{
	(void)ctx;
	tap_diag("config: %s", msg);
}

/* Through cmekd.conf: token_file relative to the config's directory. */
static void test_config_file(void)
{
	struct cmek_config_opts opts = { .owner_uid = geteuid() };
	struct cmek_error err = { 0 };
	enum cmek_kms_key_state st = CMEK_KMS_UNKNOWN;
	struct cmek_config cfg;
	struct cmek_provider *p;
	char text[1024];
	int errors;

	snprintf(text, sizeof(text),
		 "[provider vault-transit]\n"
		 "endpoint = %s\n"
		 "ca_file = %s\n"
		 "namespace = " NS "\n"
		 "token_file = vault.token\n"
		 "binding = associated_data\n"
		 "timeout = 2s\n", s.url, s.ca_file);
	write_file("cmekd.conf", text, 0600);
	cmek_config_init(&cfg);
	errors = cmek_config_load(&cfg, path_in("cmekd.conf"), true, &opts,
				  report, NULL);
	p = errors ? NULL : cmek_config_provider(&cfg, "vault-transit", &err);
	tap_ok(p && p->ops->key_state(p, "k1", &st, &err) == 0 &&
	       st == CMEK_KMS_ENABLED && hdr_is("X-Vault-Token", TOKEN),
	       "configured from cmekd.conf, token_file beside it (%d config errors)",
	       errors);
	cmek_config_free(&cfg);
}

/* ---- malformed answers ---- */

static void test_malformed(struct cmek_provider *pa)
{
	static const struct { const char *body, *needle, *what; } unwraps[] = {
		{ "not json at all", "not JSON", "not JSON" },
		{ "{\"data\":\"x\"}", "no \"data\" object", "data not an object" },
		{ "{\"data\":{\"plaintext\":12345}}", "not a string",
		  "plaintext a number" },
		{ "{\"data\":{}}", "missing", "no plaintext" },
		{ "{\"data\":{\"plaintext\":\"!!not base64!!\"}}", "not base64",
		  "bad base64" },
		{ "{\"data\":{\"plaintext\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKiss"
		  "LS4vMA==\"}}", "49 bytes", "49-byte key" },
		{ "{\"data\":{\"plaintext\":\"\"}}", "0 bytes", "empty plaintext" },
		{ "{\"data\":{\"plaintext\":\"AAAA\"}} trailing", "not JSON",
		  "trailing garbage" },
		{ "[1,2,3]", "not a JSON object", "an array" },
	};
	struct cmek_error err = { 0 };
	enum cmek_err_class cls;
	enum cmek_kms_key_state st;
	uint8_t out[CMEK_DEK_MAX], *w = NULL;
	size_t i, ol = 0, wl = 0;
	char *big;
	int ret;

	for (i = 0; i < sizeof(unwraps) / sizeof(unwraps[0]); i++) {
		memset(out, 0xaa, sizeof(out));
		fake_vault_answer_once(&v, 200, unwraps[i].body);
		ret = pa->ops->unwrap(pa, "k1", &vol, blob, blob_len, out, &ol,
				      &err);
		/* A key of the wrong size is Vault's answer: the slot's. */
		cls = strstr(unwraps[i].needle, "bytes") ? CMEK_ERR_INVALID :
		      CMEK_ERR_TRANSIENT;
		tap_ok(ret < 0 && err.cls == cls &&
		       strstr(err.msg, unwraps[i].needle) && out[0] == 0,
		       "malformed decrypt answer (%s): %s: %s",
		       unwraps[i].what, cls_name(cls), M(&err));
	}

	/* Huge values: a 600 KB plaintext, nesting past the depth limit. */
	big = malloc(700000);
	strcpy(big, "{\"data\":{\"plaintext\":\"");
	memset(big + strlen(big), 'A', 600000);
	strcpy(big + 22 + 600000, "\"}}");
	fake_vault_answer_once(&v, 200, big);
	tap_ok(pa->ops->unwrap(pa, "k1", &vol, blob, blob_len, out, &ol, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT && strstr(err.msg, "too long"),
	       "a 600 KB plaintext: transient, not decoded: %s", M(&err));
	for (i = 0; i < 5000; i++)
		big[i] = '[';
	big[i] = '\0';
	fake_vault_answer_once(&v, 200, big);
	tap_ok(pa->ops->unwrap(pa, "k1", &vol, blob, blob_len, out, &ol, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT && strstr(err.msg, "not JSON"),
	       "5000 nested arrays: transient, no stack overflow: %s", M(&err));
	strcpy(big, "{\"data\":{\"plaintext\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
		    "\"ciphertext\":\"vault:v1:");
	memset(big + strlen(big), 'A', 3000);
	strcpy(big + strlen(big) - 0, "\"}}");
	fake_vault_answer_once(&v, 200, big);
	tap_ok(pa->ops->generate(pa, "k1", &vol, out, 32, &w, &wl, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT && strstr(err.msg, "ciphertext"),
	       "a datakey answer with a 3 KB ciphertext: transient (no answer that counts): %s", M(&err));
	free(big);
	fake_vault_answer_once(&v, 200, "{\"data\":{\"plaintext\":"
			       "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
			       "\"ciphertext\":\"AQIDBA==\"}}");
	tap_ok(pa->ops->generate(pa, "k1", &vol, out, 32, &w, &wl, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT && strstr(err.msg, "vault:v"),
	       "a datakey answer whose ciphertext is not vault:vN: transient (no answer that counts): %s",
	       M(&err));
	fake_vault_answer_once(&v, 200, "{\"data\":{\"plaintext\":"
			       "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}}");
	tap_ok(pa->ops->generate(pa, "k1", &vol, out, 32, &w, &wl, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT && strstr(err.msg, "ciphertext"),
	       "a datakey answer without a ciphertext: transient (no answer that counts): %s", M(&err));
	fake_vault_answer_once(&v, 200, "{\"data\":{\"latest_version\":\"3\","
			       "\"min_decryption_version\":1}}");
	tap_ok(pa->ops->key_state(pa, "k1", &st, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT && st == CMEK_KMS_UNKNOWN,
	       "a key read with a string latest_version: transient (no answer that counts): %s", M(&err));
	fake_vault_answer_once(&v, 200, "{\"data\":{\"latest_version\":2,"
			       "\"min_decryption_version\":1e300}}");
	tap_ok(pa->ops->key_state(pa, "k1", &st, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT,
	       "a key read with min_decryption_version 1e300: transient (no answer that counts): %s",
	       M(&err));
	fake_vault_answer_once(&v, 200, "{\"data\":{\"latest_version\":2,"
			       "\"min_decryption_version\":1,\"derived\":\"yes\"}}");
	tap_ok(pa->ops->key_state(pa, "k1", &st, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT && strstr(err.msg, "boolean"),
	       "a key read with derived \"yes\": transient (no answer that counts): %s", M(&err));
	fake_vault_answer_once(&v, 403, "<html><body>Forbidden</body></html>");
	memset(&err, 0, sizeof(err));
	tap_ok(pa->ops->unwrap(pa, "k1", &vol, blob, blob_len, out, &ol, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT && !err.credential &&
	       strstr(err.msg, "Forbidden"),
	       "a 403 whose body is not Vault's JSON (a WAF's page) is not definitive: transient: %s",
	       M(&err));
	fake_vault_answer_once(&v, 200, "{\"data\":{\"ciphertext\":\"vault:v1:AAAA\"},"
			       "\"warnings\":[\"Endpoint ignored these unrecognized parameters: [associated_data]\"]}");
	tap_ok(pa->ops->rewrap(pa, "k1", "k2", &vol, blob, blob_len, &w, &wl,
			       &err) < 0 && err.cls == CMEK_ERR_INVALID,
	       "rewrap whose decrypt answer warns of an ignored binding: invalid: %s",
	       M(&err));
}

/* ---- the API reference's examples through the parsers ---- */

static void test_recorded(void)
{
	static const struct { const char *file; long status;
			      enum cmek_err_class cls; const char *needle; } errs[] = {
		/* Until lookup-self says the token is good (request()). */
		{ "error-permission-denied.json", 403, CMEK_ERR_TRANSIENT, "cmekd's token expired or revoked, or its policies" },
		{ "error-invalid-token.json", 403, CMEK_ERR_TRANSIENT, "rejected cmekd's token" },
		{ "error-too-old.json", 400, CMEK_ERR_DEFINITIVE, "min_decryption_version" },
		{ "error-key-not-found.json", 400, CMEK_ERR_DEFINITIVE, "deleted" },
		{ "error-soft-deleted.json", 400, CMEK_ERR_DEFINITIVE, "soft-deleted" },
		{ "error-auth-failed.json", 400, CMEK_ERR_INVALID, "does not authenticate" },
		{ "error-too-new.json", 400, CMEK_ERR_INVALID, "refused" },
		{ "error-missing-context.json", 400, CMEK_ERR_INVALID, "binding = context" },
		{ "error-sealed.json", 503, CMEK_ERR_TRANSIENT, "Vault is sealed" },
		{ "error-rate-limit.json", 429, CMEK_ERR_TRANSIENT, "rate limited" },
		{ "error-standby.json", 412, CMEK_ERR_TRANSIENT, "standby" },
		{ "error-no-route.json", 404, CMEK_ERR_DEFINITIVE, "no transit engine" },
		{ "error-empty.json", 404, CMEK_ERR_DEFINITIVE, "deleted" },
	};
	struct cmek_vt_key_info ki;
	struct cmek_error err = { 0 };
	uint8_t out[CMEK_DEK_MAX];
	size_t n, ol = 0, i;
	char *b, *ct = NULL;
	bool seq = true;
	int ret;

	b = data_file("datakey-plaintext-response.json", &n);
	tap_ok(b && cmek_vt_parse_plaintext(b, n, 64, out, &ol, &ct, &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID && strstr(err.msg, "20 bytes"),
	       "docs' datakey sample: its 20-byte \"key\" is refused: %s", M(&err));
	free(b);
	b = data_file("datakey-512-response.json", &n);
	ret = b ? cmek_vt_parse_plaintext(b, n, 64, out, &ol, &ct, &err) : -1;
	for (i = 0; !ret && i < 64; i++)
		seq &= out[i] == i;
	tap_ok(ret == 0 && ol == 64 && seq &&
	       !strcmp(ct, "vault:v1:XjsPWPjqPrBi1N2Ms2s1QM798YyFWnO4TR4lsFA="),
	       "a 512-bit datakey answer: the key and the ciphertext");
	free(ct);
	ct = NULL;
	free(b);
	b = data_file("decrypt-response.json", &n);
	tap_ok(b && cmek_vt_parse_plaintext(b, n, 0, out, &ol, NULL, &err) < 0 &&
	       strstr(err.msg, "20 bytes"),
	       "docs' decrypt sample: decodes, and is refused as a key: %s",
	       M(&err));
	free(b);
	b = data_file("encrypt-response.json", &n);
	tap_ok(b && cmek_vt_parse_ciphertext(b, n, &ct, &err) == 0 &&
	       cmek_vt_ct_version(ct, strlen(ct)) == 1,
	       "docs' encrypt sample: a v1 ciphertext");
	free(ct);
	ct = NULL;
	free(b);
	b = data_file("rewrap-response.json", &n);
	tap_ok(b && cmek_vt_parse_ciphertext(b, n, &ct, &err) == 0 &&
	       cmek_vt_ct_version(ct, strlen(ct)) == 2,
	       "docs' rewrap sample: a v2 ciphertext");
	free(ct);
	free(b);
	b = data_file("read-key-response.json", &n);
	tap_ok(b && cmek_vt_parse_key(b, n, &ki, &err) == 0 &&
	       ki.latest_version == 1 && ki.min_decryption_version == 1 &&
	       !ki.derived && cmek_vt_key_state(&ki) == CMEK_KMS_ENABLED,
	       "docs' read-key sample (no latest_version): version 1 from \"keys\", enabled");
	free(b);
	b = data_file("read-key-openbao-response.json", &n);
	tap_ok(b && cmek_vt_parse_key(b, n, &ki, &err) == 0 &&
	       ki.latest_version == 2 && ki.derived && ki.soft_deleted &&
	       cmek_vt_key_state(&ki) == CMEK_KMS_PENDING_DELETION,
	       "OpenBao read with soft_deleted: pending deletion");
	free(b);
	for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		b = data_file(errs[i].file, &n);
		tap_ok(b && cmek_vt_classify(errs[i].status, b, "decrypt with key 'my-key'",
					     &err) < 0 &&
		       err.cls == errs[i].cls && strstr(err.msg, errs[i].needle),
		       "%s, HTTP %ld -> %s: %s", errs[i].file, errs[i].status,
		       cls_name(errs[i].cls), M(&err));
		free(b);
	}
}

/* The run's directory: tokens, config, the fake's CA and keys. */
static void cleanup(void)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.')
			unlink(path_in(de->d_name));
	if (d)
		closedir(d);
	rmdir(dir);
}

/*
 * A slot under version 1; the key rotates and min_decryption_version goes
 * to 2: the key is enabled, the slot (what slot_key names, and slot_state
 * asks) is not. One read of the key per question.
 */
static void test_slot_object(struct cmek_provider *pa)
{
	enum cmek_kms_key_state st = CMEK_KMS_UNKNOWN, kst = CMEK_KMS_UNKNOWN;
	uint8_t out[CMEK_DEK_MAX], *w = NULL, *w2 = NULL;
	char id[CMEK_ERRMSG_MAX], id2[CMEK_ERRMSG_MAX];
	struct cmek_error err = { 0 };
	size_t wl = 0, wl2 = 0;
	bool ok;

	ok = pa->ops->generate(pa, "kslot", &vol, out, 64, &w, &wl, &err) == 0;
	cmek_slot_key("vault-transit", "kslot", w, wl, id, sizeof(id));
	tap_ok(ok && !strcmp(id, "kslot:v1"),
	       "the slot names its key and version: %s %s", id, err.msg);
	ok = !fake_vault_key_rotate(&v, "kslot") &&
	     !pa->ops->wrap(pa, "kslot", &vol, out, 64, &w2, &wl2, &err);
	cmek_slot_key("vault-transit", "kslot", w2, wl2, id2, sizeof(id2));
	ok = ok && !strcmp(id2, "kslot:v2") &&
	     !fake_vault_key_min_decrypt(&v, "kslot", 2) &&
	     !pa->ops->key_state(pa, "kslot", &kst, &err) &&
	     kst == CMEK_KMS_ENABLED &&
	     !pa->ops->slot_state(pa, id, &st, &err) &&
	     st == CMEK_KMS_DISABLED;
	tap_ok(ok, "min_decryption_version 2: the key says %s, the slot under v1 %s %s",
	       cmek_kms_key_state_name(kst), cmek_kms_key_state_name(st),
	       err.msg);
	ok = !pa->ops->slot_state(pa, id2, &st, &err) &&
	     st == CMEK_KMS_ENABLED &&
	     !pa->ops->slot_state(pa, "kslot:v3", &st, &err) &&
	     st == CMEK_KMS_DELETED;
	tap_ok(ok, "the slot under v2: enabled; a version above latest_version (the key made again): deleted %s",
	       err.msg);
	ok = !fake_vault_key_min_decrypt(&v, "kslot", 1) &&
	     !pa->ops->slot_state(pa, id, &st, &err) &&
	     st == CMEK_KMS_ENABLED && !fake_vault_key_delete(&v, "kslot") &&
	     !pa->ops->slot_state(pa, id, &st, &err) && st == CMEK_KMS_DELETED;
	tap_ok(ok, "min_decryption_version back to 1: enabled; the key deleted: deleted %s",
	       err.msg);
	ok = pa->ops->slot_state(pa, "kslot", &st, &err) < 0 &&
	     err.cls == CMEK_ERR_INVALID &&
	     pa->ops->slot_state(pa, "kslot:v0", &st, &err) < 0 &&
	     pa->ops->slot_state(pa, "../x:v1", &st, &err) < 0 &&
	     pa->ops->slot_state(pa, "kslot:v1x", &st, &err) < 0;
	cmek_slot_key("vault-transit", "kslot", (const uint8_t *)"vault:x", 7,
		      id, sizeof(id));
	tap_ok(ok && !id[0],
	       "malformed ids: invalid before any request; a blob that is no transit ciphertext names nothing: %s",
	       err.msg);
	free(w);
	free(w2);
}

static void setup_vault(void)
{
	fake_vault_init(&v, "transit", NS);
	fake_vault_key_add(&v, "k1", false);
	fake_vault_key_add(&v, "k2", false);
	fake_vault_key_add(&v, "kd", true);
	fake_vault_key_add(&v, "kmin", false);
	fake_vault_key_add(&v, "ksoft", false);
	fake_vault_key_add(&v, "kgone", false);
	fake_vault_key_add(&v, "kslot", false);
	fake_vault_token_add(&v, TOKEN, NS, FAKE_VAULT_CAP_ALL, NULL);
	fake_vault_token_add(&v, TOKEN2, NS, FAKE_VAULT_CAP_ALL, NULL);
	fake_vault_token_add(&v, TOKEN_ENV, NS, FAKE_VAULT_CAP_ALL, NULL);
	fake_vault_token_add(&v, TOKEN_RO, NS, FAKE_VAULT_CAP_READ, NULL);
	fake_vault_token_add(&v, TOKEN_NOREAD, NS,
			     FAKE_VAULT_CAP_ALL & ~FAKE_VAULT_CAP_READ, NULL);
	fake_vault_token_add(&v, TOKEN_ROOT, NS, FAKE_VAULT_CAP_ROOT, NULL);
	token_file("vault.token", TOKEN);
	token_file("ro.token", TOKEN_RO);
	token_file("noread.token", TOKEN_NOREAD);
	token_file("root.token", TOKEN_ROOT);
	token_file("bad.token", TOKEN_BAD);
}

int main(void)
{
	const char *a[] = { "token_file", NULL, "namespace", NS, NULL };
	const char *c[] = { "token_file", NULL, "namespace", NS,
			    "binding", "context", NULL };
	const char *env = getenv("CMEK_TEST_DATA");
	struct cmek_provider *pa, *pc;
	char *slash;

	tap_plan(124);
	if (env)
		snprintf(data_dir, sizeof(data_dir), "%s", env);
	else
		snprintf(data_dir, sizeof(data_dir), "%s", __FILE__);
	slash = strstr(data_dir, "unit/test_vault_transit.c");
	if (slash)
		strcpy(slash, "kms/data/vault_transit");
	unsetenv("VAULT_ADDR");
	unsetenv("VAULT_TOKEN");
	unsetenv("VAULT_NAMESPACE");
	unsetenv("VAULT_CACERT");
	if (!mkdtemp(dir))
		return 1;
	a[1] = c[1] = path_in("vault.token");
	setup_vault();
	if (fakesrv_start(&s, dir, fake_vault_handler, &v))
		return 1;

	test_config();
	pa = mk(a);
	pc = mk(c);
	if (!pa || !pc)
		return 1;
	test_names(pa);
	test_roundtrip(pa);
	if (!blob) {
		tap_diag("no wrapped key to go on with");
		return 1;
	}
	test_binding(pa, pc);
	test_rewrap(pa, pc);
	test_key_state(pa);
	test_slot_object(pa);
	test_rows(pa);
	test_faults(pa);
	test_credentials();
	test_config_file();
	test_malformed(pa);
	test_recorded();
	tap_ok(msg_checks > 60 && !msg_leaks,
	       "none of %u error messages carried a token", msg_checks);

	OPENSSL_cleanse(dek, sizeof(dek));
	free(blob);
	cmek_provider_free(pa);
	cmek_provider_free(pc);
	fakesrv_stop(&s);
	fake_vault_free(&v);
	cleanup();
	return tap_done();
}
