// SPDX-License-Identifier: GPL-2.0
/*
 * The azure-kv provider against fake_azure.c: an HTTPS server
 * playing Entra ID's token endpoint and the vault (real RSA-OAEP-256 per
 * key version), and a plain one playing IMDS. What is particular to Key
 * Vault: the blob and its key version, rotation and rewrap, key states
 * (expiry, RBAC, the firewall, recovery), every row of the error table
 * in Documentation/admin-guide/cmek-providers.rst (recorded answers from
 * data/ where they exist), the three credential paths, token caching and
 * refresh, malformed answers, signed slots, and that no error message
 * carries a secret or a token. The round trip, the bindings, the key
 * states and the transport faults every provider shares are the provider
 * contract's (tests/unit/test_provider_contract.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "azure_kv.h"
#include "b64.h"
#include "http.h"
#include "fake_azure.h"
#include "fakesrv.h"
#include "tap.h"

#define VAULT	"https://cmektest.vault.azure.net"
#define TENANT	"72f988bf-86f1-41af-91ab-2d7cd011db47"
#define CLIENT	"0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"
/* Characters a form must escape: the fake only matches if they were. */
#define SECRET	"Zq8~s3cr3t+val/ue&x=%41 end"
#define MI_ID	"9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d"
#define K1	VAULT "/keys/k1"
#define K2	VAULT "/keys/k2"
#define K3	VAULT "/keys/k3"
#define DATA	"userspace/providers/azure_kv/data/"
#define TOKEN_PREFIX	"eyJ0eXAi"	/* every token the fake issues */

static char dir[] = "/tmp/cmek-test-azure-XXXXXX";
static char secret_file[300];
static struct fakesrv s, m;
static struct fake_azure fa;
static unsigned int leaks, checked;

static const struct cmek_binding vol_a = {
	"0b5c7e4e-8c1a-4a5e-9a57-2f6d3c1b0a11" };
static const struct cmek_binding vol_b = {
	"6f1d2c3b-4a59-4867-9c3d-2e1f0a9b8c77" };

static long ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 +
	       (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Every error message the provider returns passes through here. */
static void check_leak(const struct cmek_error *err)
{
	checked++;
	if (strstr(err->msg, SECRET) || strstr(err->msg, "s3cr3t") ||
	    strstr(err->msg, TOKEN_PREFIX) || strstr(err->msg, "wrong-secret")) {
		leaks++;
		tap_diag("secret in message: %s", err->msg);
	}
}

static char *load(const char *name)
{
	char path[256], *buf = NULL;
	long n;
	FILE *f;

	snprintf(path, sizeof(path), DATA "%s", name);
	f = fopen(path, "r");
	if (!f) {
		tap_diag("cannot read %s", path);
		return strdup("{}");
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		buf[0] = '\0';
	fclose(f);
	return buf;
}

static const char *cls_name(enum cmek_err_class c)
{
	return c == CMEK_ERR_DEFINITIVE ? "definitive" :
	       c == CMEK_ERR_TRANSIENT ? "transient" :
	       c == CMEK_ERR_INVALID ? "invalid" : "none";
}

/* A provider on the fake: endpoint, authority and IMDS, short timeouts. */
static struct cmek_provider *prov(const char *const *kv)
{
	const char *const base[] = {
		"endpoint", s.url, "authority_host", s.url,
		"ca_file", s.ca_file, "imds_endpoint", m.url,
		"timeout", "2s", "connect_timeout", "1s",
		"retries", "3", "retry_backoff", "10ms", NULL,
	};
	struct cmek_error err = { 0 };
	struct cmek_provider *p = cmek_provider_new("azure-kv", &err);
	size_t i;

	if (!p) {
		tap_diag("cannot make provider: %s", err.msg);
		exit(1);
	}
	for (i = 0; base[i]; i += 2)
		if (p->ops->configure(p, base[i], base[i + 1], &err))
			goto bad;
	for (i = 0; kv && kv[i]; i += 2)
		if (p->ops->configure(p, kv[i], kv[i + 1], &err))
			goto bad;
	return p;
bad:
	tap_diag("configure %s: %s", kv && kv[i] ? kv[i] : base[i], err.msg);
	exit(1);
}

static struct cmek_provider *prov_secret(void)
{
	const char *const kv[] = {
		"tenant_id", TENANT, "client_id", CLIENT,
		"client_secret_file", secret_file, NULL,
	};

	return prov(kv);
}

static int unwrap(struct cmek_provider *p, const char *ref,
		  const struct cmek_binding *b, const uint8_t *w, size_t wl,
		  uint8_t *dek, size_t *n, struct cmek_error *err)
{
	int ret;

	memset(err, 0, sizeof(*err));
	ret = p->ops->unwrap(p, ref, b, w, wl, dek, n, err);
	if (ret)
		check_leak(err);
	return ret;
}

static int wrap(struct cmek_provider *p, const char *ref, const uint8_t *dek,
		size_t n, uint8_t **w, size_t *wl, struct cmek_error *err)
{
	int ret;

	memset(err, 0, sizeof(*err));
	ret = p->ops->wrap(p, ref, &vol_a, dek, n, w, wl, err);
	if (ret)
		check_leak(err);
	return ret;
}

static int state(struct cmek_provider *p, const char *ref,
		 enum cmek_kms_key_state *st, struct cmek_error *err)
{
	int ret;

	memset(err, 0, sizeof(*err));
	ret = p->ops->key_state(p, ref, st, err);
	if (ret)
		check_leak(err);
	return ret;
}

static void last_target(struct fakesrv *srv, char *buf, size_t len)
{
	pthread_mutex_lock(&srv->lock);
	snprintf(buf, len, "%.500s", srv->last.target);
	pthread_mutex_unlock(&srv->lock);
}

/* The blob's recorded key version. */
static bool blob_version_is(const uint8_t *w, size_t wl, const char *v)
{
	return wl > 34 && w[0] == CMEK_AZURE_KV_BLOB_V1 && w[1] == 32 &&
	       !memcmp(w + 2, v, 32);
}

/* ---- configuration and key identifiers ---- */

static void test_config(void)
{
	struct cmek_error err = { 0 };
	struct cmek_provider *p = prov(NULL);
	const struct cmek_provider_ops *o = p->ops;
	int bad = 0;

	tap_ok(cmek_provider_lookup("azure-kv") == &cmek_azure_kv_ops,
	       "azure-kv is registered");
	tap_ok(o->configure(p, "region", "x", &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID && strstr(err.msg, "unknown azure-kv"),
	       "unknown setting refused: %s", err.msg);
	tap_ok(o->configure(p, "endpoint", "http://127.0.0.1:1", &err) < 0 &&
	       strstr(err.msg, "TLS") &&
	       o->configure(p, "authority_host", "https://u:p@x", &err) < 0,
	       "plain http endpoint and credentials in URL refused");
	tap_ok(o->configure(p, "imds_endpoint", "http://evil.example", &err) < 0 &&
	       o->configure(p, "imds_endpoint", "http://169.254.169.254.evil.example", &err) < 0 &&
	       o->configure(p, "imds_endpoint", "https://169.254.169.254", &err) < 0 &&
	       o->configure(p, "imds_endpoint", "http://169.254.169.254", &err) == 0 &&
	       o->configure(p, "imds_endpoint", m.url, &err) == 0,
	       "imds_endpoint: link-local or loopback plain http only");
	bad += o->configure(p, "credential", "password", &err) == 0;
	bad += o->configure(p, "tenant_id", "a/../b", &err) == 0;
	bad += o->configure(p, "client_id", "x y", &err) == 0;
	bad += o->configure(p, "client_secret_file", "secret.txt", &err) == 0;
	bad += o->configure(p, "timeout", "0", &err) == 0;
	tap_ok(!bad && err.cls == CMEK_ERR_INVALID,
	       "bad credential, tenant, client, relative secret file, timeout refused");
	cmek_provider_free(p);
}

static void test_key_refs(void)
{
	static const char *const bad[] = {
		"http://cmektest.vault.azure.net/keys/k1",
		"https://cmektest.vault.azure.net.evil.example/keys/k1",
		"https://vault.azure.net/keys/k1",
		"https://ab.vault.azure.net/keys/k1",
		"https://-abc.vault.azure.net/keys/k1",
		"https://a--b.vault.azure.net/keys/k1",
		"https://cmektest.vault.azure.net:443/keys/k1",
		"https://cmektest.vault.azure.net/secrets/k1",
		"https://cmektest.vault.azure.net/keys/k_1",
		"https://cmektest.vault.azure.net/keys/k1/",
		"https://cmektest.vault.azure.net/keys/k1/xyz",
		"https://cmektest.vault.azure.net/keys/k1/78deebed173b48e48f55abf87ed4cf7",
		"https://cmektest.vault.azure.net/keys/k1?api-version=7.4",
		"https://cmektest.vault.azure.net/keys/k1/78deebed173b48e48f55abf87ed4cf71/x",
		"k1",
		"",
	};
	static const char *const good[] = {
		K1, "https://CMEKTEST.vault.azure.net/keys/Key-1",
		"https://cmektest.vault.azure.net/keys/k1/78deebed173b48e48f55abf87ed4cf71",
		"https://cmekhsm.managedhsm.azure.net/keys/k1",
		"https://cmek-cn.vault.azure.cn/keys/k1",
	};
	struct cmek_provider *p = prov_secret();
	unsigned long before = fakesrv_requests(&s);
	struct cmek_error err;
	uint8_t dek[64], junk[300] = { 2 };
	size_t i, n, refused = 0, parsed = 0;
	char name[160];

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		refused += unwrap(p, bad[i], &vol_a, junk, sizeof(junk), dek,
				  &n, &err) < 0 &&
			   err.cls == CMEK_ERR_INVALID &&
			   strstr(err.msg, "not an Azure Key Vault key identifier");
	tap_ok(refused == sizeof(bad) / sizeof(bad[0]),
	       "%zu malformed key identifiers refused (scheme, host suffix, vault name, port, collection, name, version, query)",
	       refused);
	memset(name, 'a', 128);
	strcpy(name + 128, "");
	{
		char ref[256];

		snprintf(ref, sizeof(ref), VAULT "/keys/%s", name);
		tap_ok(unwrap(p, ref, &vol_a, junk, sizeof(junk), dek, &n,
			      &err) < 0 && strstr(err.msg, "identifier"),
		       "key name over 127 characters refused");
	}
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		parsed += unwrap(p, good[i], &vol_a, junk, sizeof(junk), dek,
				 &n, &err) < 0 &&
			  strstr(err.msg, "not an azure-kv v1 or v2 blob");
	tap_ok(parsed == sizeof(good) / sizeof(good[0]),
	       "vault, mixed case, versioned, Managed HSM and sovereign cloud identifiers accepted");
	tap_ok(fakesrv_requests(&s) == before,
	       "no request sent for a bad identifier or blob");
	cmek_provider_free(p);
}

/* ---- round trips, binding, rotation, rewrap ---- */

static uint8_t blob1[600], dek1[64];
static size_t blob1_len;

static void test_round_trip(void)
{
	struct cmek_provider *p = prov_secret();
	unsigned long tokens = fake_azure_requests(&fa, FAKE_AZURE_TOKEN);
	uint8_t dek[CMEK_DEK_MAX], out[CMEK_DEK_MAX], *w = NULL, *w2 = NULL;
	char v1[33], hdr[512], ref[200];
	struct cmek_error err = { 0 };
	struct timespec t0;
	size_t wl = 0, wl2 = 0, n = 0;
	long ms;
	int ret;

	fake_azure_key_version(&fa, "k1", -1, v1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = p->ops->generate(p, K1, &vol_a, dek, 64, &w, &wl, &err);
	ms = ms_since(&t0);
	tap_ok(ret == 0 && wl == 2 + 32 + 256 && blob_version_is(w, wl, v1),
	       "generate: 64-byte DEK wrapped, blob records version %s (%zu bytes, %ld ms with token and key lookup): %s",
	       v1, wl, ms, ret ? err.msg : "");
	if (ret)
		return;
	memcpy(blob1, w, wl);
	blob1_len = wl;
	memcpy(dek1, dek, 64);
	tap_ok(fa.last_wrap_len == 64 + 32,
	       "Key Vault wrapped DEK || SHA-256(binding): %zu bytes",
	       fa.last_wrap_len);
	tap_ok(!strcmp(fa.last_scope, "https://vault.azure.net/.default") &&
	       fake_azure_requests(&fa, FAKE_AZURE_TOKEN) == tokens + 1,
	       "one client-credentials token for scope %s", fa.last_scope);
	fakesrv_last_header(&s, "Authorization", hdr, sizeof(hdr));
	tap_ok(!strncmp(hdr, "Bearer ", 7) &&
	       fake_azure_token_issued(&fa, hdr + 7),
	       "Authorization: Bearer <issued token> sent to the vault");

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = unwrap(p, K1, &vol_a, w, wl, out, &n, &err);
	ms = ms_since(&t0);
	tap_diag("unwrap: %ld ms %s", ms, ret ? err.msg : "");
	tap_ok(ret == 0 && n == 64 && !memcmp(out, dek, 64) &&
	       fake_azure_requests(&fa, FAKE_AZURE_TOKEN) == tokens + 1,
	       "token cached across calls");
	last_target(&s, hdr, sizeof(hdr));
	snprintf(ref, sizeof(ref), "/keys/k1/%s/unwrapkey?api-version=7.4", v1);
	tap_ok(!strcmp(hdr, ref), "unwrap asked the blob's version: %s", hdr);

	snprintf(ref, sizeof(ref), K1 "/%s", v1);
	tap_ok(wrap(p, ref, dek, 64, &w2, &wl2, &err) == 0 &&
	       blob_version_is(w2, wl2, v1) &&
	       unwrap(p, K1, &vol_a, w2, wl2, out, &n, &err) == 0,
	       "key_ref with a pinned version wraps under it");
	free(w2);

	w[0] = 9;
	tap_ok(unwrap(p, K1, &vol_a, w, wl, out, &n, &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID && strstr(err.msg, "v1 or v2 blob"),
	       "unknown blob format: invalid");
	tap_ok(wrap(p, K1, dek, 0, &w2, &wl2, &err) < 0 &&
	       wrap(p, K1, dek, 65, &w2, &wl2, &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID, "DEK of 0 or 65 bytes refused");
	OPENSSL_cleanse(dek, sizeof(dek));
	free(w);
	cmek_provider_free(p);
}

static void test_rotation(void)
{
	struct cmek_provider *p = prov_secret();
	uint8_t out[CMEK_DEK_MAX], *w = NULL, *w2 = NULL;
	char v1[33], v2[33], k2v[33], t[512];
	enum cmek_kms_key_state st;
	struct cmek_error err;
	unsigned long wraps, unwraps;
	size_t wl = 0, wl2 = 0, n = 0;

	fake_azure_key_version(&fa, "k1", -1, v1);
	fake_azure_key_rotate(&fa, "k1", v2);
	fake_azure_key_version(&fa, "k2", -1, k2v);
	tap_ok(unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err) == 0 &&
	       n == 64 && !memcmp(out, dek1, 64),
	       "after rotation the old version's blob still unwraps");
	wraps = fa.wraps;
	unwraps = fa.unwraps;
	memset(&err, 0, sizeof(err));
	tap_ok(p->ops->rewrap(p, K1, K1, &vol_a, blob1, blob1_len, &w, &wl,
			      &err) == 0 && blob_version_is(w, wl, v2) &&
	       fa.wraps == wraps + 1 && fa.unwraps == unwraps + 1,
	       "rewrap to the same key moves the blob to the new version %s: %s",
	       v2, err.msg);
	last_target(&s, t, sizeof(t));
	tap_ok(w && strstr(t, v2) && strstr(t, "/wrapkey") &&
	       unwrap(p, K1, &vol_a, w, wl, out, &n, &err) == 0 &&
	       !memcmp(out, dek1, 64), "rewrapped blob unwraps under %s", v2);
	wraps = fa.wraps;
	memset(&err, 0, sizeof(err));
	tap_ok(p->ops->rewrap(p, K1, K2, &vol_b, w, wl, &w2, &wl2, &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID && fa.wraps == wraps && !w2,
	       "rewrap under another volume's binding fails before any wrap");

	/* Old version disabled: its blobs lock, the key itself is fine. */
	fake_azure_key_enable(&fa, "k1", v1, false);
	tap_ok(unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err) < 0 &&
	       err.cls == CMEK_ERR_DEFINITIVE && strstr(err.msg, "KeyDisabled"),
	       "old version disabled: its blob is definitive: %s", err.msg);
	snprintf(t, sizeof(t), K1 "/%s", v1);
	tap_ok(state(p, K1, &st, &err) == 0 && st == CMEK_KMS_ENABLED &&
	       state(p, t, &st, &err) == 0 && st == CMEK_KMS_DISABLED &&
	       unwrap(p, K1, &vol_a, w, wl, out, &n, &err) == 0,
	       "key_state: key (current version) enabled, old version disabled; new blob unwraps");
	fake_azure_key_enable(&fa, "k1", NULL, true);
	OPENSSL_cleanse(out, sizeof(out));
	free(w);
	cmek_provider_free(p);
}

/* ---- key state ---- */

static void test_key_state(void)
{
	struct cmek_provider *p = prov_secret();
	uint8_t out[CMEK_DEK_MAX], *w = NULL, dek[64] = { 7 };
	enum cmek_kms_key_state st = CMEK_KMS_UNKNOWN;
	struct cmek_error err;
	long long now = (long long)time(NULL);
	size_t wl = 0, n;
	char *body;
	int ret;

	fake_azure_key_window(&fa, "k1", 0, now - 60);
	ret = state(p, K1, &st, &err);
	tap_ok(ret == 0 && st == CMEK_KMS_DISABLED &&
	       unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err) == 0,
	       "expired key: disabled, while Key Vault still unwraps past exp");
	tap_ok(wrap(p, K1, dek, 64, &w, &wl, &err) < 0 &&
	       err.cls == CMEK_ERR_DEFINITIVE && strstr(err.msg, "expired"),
	       "expired key: wrap definitive: %s", err.msg);
	fake_azure_key_window(&fa, "k1", now + 3600, 0);
	tap_ok(state(p, K1, &st, &err) == 0 && st == CMEK_KMS_DISABLED,
	       "not yet valid (nbf ahead): disabled");
	fake_azure_key_window(&fa, "k1", now - 60, now + 3600);
	tap_ok(state(p, K1, &st, &err) == 0 && st == CMEK_KMS_ENABLED,
	       "inside nbf..exp: enabled");

	fake_azure_deny(&fa, FAKE_AZURE_DENY_RBAC, FAKE_AZURE_OP_ALL);
	tap_ok(state(p, K1, &st, &err) == 0 && st == CMEK_KMS_ACCESS_DENIED,
	       "RBAC denies get: access-denied");
	fake_azure_deny(&fa, FAKE_AZURE_DENY_FIREWALL, 0);
	memset(&err, 0, sizeof(err));
	tap_ok(state(p, K1, &st, &err) < 0 && st == CMEK_KMS_UNKNOWN &&
	       err.cls == CMEK_ERR_TRANSIENT,
	       "the vault's firewall denies this host: unknown, transient (a network rule, not the key owner): %s",
	       err.msg);
	fake_azure_deny(&fa, FAKE_AZURE_ALLOW, 0);

	fake_azure_key_delete(&fa, "k3");
	fake_azure_key_recover(&fa, "k3");
	tap_ok(state(p, K3, &st, &err) == 0 && st == CMEK_KMS_ENABLED,
	       "soft-deleted, then recovered key: enabled");

	body = load("get-key.json");
	fake_azure_canned(&fa, FAKE_AZURE_VAULT, 200, body, NULL, 1);
	tap_ok(state(p, K1, &st, &err) == 0 && st == CMEK_KMS_ENABLED,
	       "recorded get-key.json: enabled");
	free(body);
	body = load("get-key-disabled.json");
	fake_azure_canned(&fa, FAKE_AZURE_VAULT, 200, body, NULL, 1);
	tap_ok(state(p, K1, &st, &err) == 0 && st == CMEK_KMS_DISABLED,
	       "recorded get-key-disabled.json: disabled");
	free(body);
	body = load("get-key-expired.json");
	fake_azure_canned(&fa, FAKE_AZURE_VAULT, 200, body, NULL, 1);
	tap_ok(state(p, K1, &st, &err) == 0 && st == CMEK_KMS_DISABLED,
	       "recorded get-key-expired.json: disabled");
	free(body);
	body = load("error-403-key-disabled.json");
	fake_azure_canned(&fa, FAKE_AZURE_VAULT, 403, body, NULL, 1);
	tap_ok(state(p, K1, &st, &err) == 0 && st == CMEK_KMS_DISABLED,
	       "get answered 403 KeyDisabled: disabled");
	free(body);
	body = load("error-503-unavailable.json");
	fake_azure_canned(&fa, FAKE_AZURE_VAULT, 503, body, NULL, 10);
	tap_ok(state(p, K1, &st, &err) < 0 && err.cls == CMEK_ERR_TRANSIENT &&
	       st == CMEK_KMS_UNKNOWN,
	       "vault unavailable: unknown, transient: %s", err.msg);
	free(body);
	fake_azure_canned(&fa, FAKE_AZURE_VAULT, 200, "{\"key\":{}}", NULL, 1);
	tap_ok(state(p, K1, &st, &err) < 0 && err.cls == CMEK_ERR_TRANSIENT,
	       "get without attributes: malformed, transient (no answer that counts): %s",
	       err.msg);
	fake_azure_canned(&fa, FAKE_AZURE_VAULT, 0, NULL, NULL, 0);
	OPENSSL_cleanse(out, sizeof(out));
	free(w);
	cmek_provider_free(p);
}

/* ---- the error table, row by row ---- */

static void test_error_rows(void)
{
	static const struct {
		const char *file;	/* recorded body, or inline */
		int status;
		enum cmek_err_class cls;
		const char *want;	/* in the message */
		unsigned int vault_reqs;	/* requests for one unwrap */
	} rows[] = {
		{ "error-400-bad-parameter.json", 400, CMEK_ERR_INVALID, "BadParameter", 1 },
		{ "error-403-key-disabled.json", 403, CMEK_ERR_DEFINITIVE, "KeyDisabled", 1 },
		{ "error-403-forbidden-by-policy.json", 403, CMEK_ERR_DEFINITIVE, "ForbiddenByPolicy", 1 },
		{ "error-403-forbidden-by-rbac.json", 403, CMEK_ERR_DEFINITIVE, "ForbiddenByRbac", 1 },
		{ "error-403-forbidden-by-firewall.json", 403, CMEK_ERR_TRANSIENT, "ForbiddenByFirewall", 1 },
		{ "error-403-access-denied.json", 403, CMEK_ERR_DEFINITIVE, "AccessDenied", 1 },
		{ "error-403-not-permitted.json", 403, CMEK_ERR_DEFINITIVE, "not permitted", 1 },
		{ "error-404-key-not-found.json", 404, CMEK_ERR_DEFINITIVE, "KeyNotFound", 1 },
		{ "<html>404 Not Found</html>", 404, CMEK_ERR_TRANSIENT, "not an answer from Key Vault", 1 },
		{ "<html>403 Forbidden (WAF)</html>", 403, CMEK_ERR_TRANSIENT, "not an answer from Key Vault", 1 },
		{ "{\"error\":{\"code\":\"SomethingElse\",\"message\":\"?\"}}", 403, CMEK_ERR_TRANSIENT, "unexpected answer", 1 },
		{ "error-409-conflict.json", 409, CMEK_ERR_TRANSIENT, "Conflict", 1 },
		{ "error-429-throttled.json", 429, CMEK_ERR_TRANSIENT, "Throttled", 4 },
		{ "error-500-internal.json", 500, CMEK_ERR_TRANSIENT, "InternalServerError", 4 },
		{ "error-503-unavailable.json", 503, CMEK_ERR_TRANSIENT, "ServiceUnavailable", 4 },
		{ "{\"error\":{\"code\":\"MethodNotAllowed\",\"message\":\"no\"}}", 405, CMEK_ERR_TRANSIENT, "HTTP 405", 1 },
	};
	struct cmek_provider *p = prov_secret();
	uint8_t out[CMEK_DEK_MAX];
	struct cmek_error err;
	unsigned long before, tok;
	size_t i, n;
	char *body;
	int ret;

	/* A token first, so the counts below are the vault's alone. */
	unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		body = rows[i].file[0] == '<' || rows[i].file[0] == '{' ?
		       strdup(rows[i].file) : load(rows[i].file);
		fake_azure_canned(&fa, FAKE_AZURE_VAULT, rows[i].status, body,
				  NULL, 10);
		before = fake_azure_requests(&fa, FAKE_AZURE_VAULT);
		memset(&err, 0, sizeof(err));
		ret = unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err);
		tap_ok(ret < 0 && err.cls == rows[i].cls &&
		       strstr(err.msg, rows[i].want) &&
		       fake_azure_requests(&fa, FAKE_AZURE_VAULT) - before ==
		       rows[i].vault_reqs &&
		       err.throttled == (rows[i].status == 429),
		       "row HTTP %d %s: %s%s after %lu request(s): %s",
		       rows[i].status, rows[i].file[0] == '<' ? "(not JSON)" :
		       rows[i].file, cls_name(err.cls),
		       err.throttled ? ", throttled" : "",
		       fake_azure_requests(&fa, FAKE_AZURE_VAULT) - before,
		       err.msg);
		free(body);
	}

	/* 401: one refresh, then invalid. */
	body = load("error-401-unauthorized.json");
	fake_azure_canned(&fa, FAKE_AZURE_VAULT, 401, body, NULL, 2);
	tok = fake_azure_requests(&fa, FAKE_AZURE_TOKEN);
	before = fake_azure_requests(&fa, FAKE_AZURE_VAULT);
	ret = unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err);
	tap_ok(ret < 0 && err.cls == CMEK_ERR_TRANSIENT && err.credential &&
	       strstr(err.msg, "HTTP 401") &&
	       fake_azure_requests(&fa, FAKE_AZURE_TOKEN) == tok + 1 &&
	       fake_azure_requests(&fa, FAKE_AZURE_VAULT) == before + 2,
	       "row HTTP 401 twice: one token refresh, then a credential error (transient), not a revocation: %s",
	       err.msg);
	free(body);
	fake_azure_canned(&fa, FAKE_AZURE_VAULT, 0, NULL, NULL, 0);

	/* The same rows from the fake's own state, not canned. */
	fake_azure_deny(&fa, FAKE_AZURE_DENY_POLICY, FAKE_AZURE_OP_UNWRAP);
	tap_ok(unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err) < 0 &&
	       err.cls == CMEK_ERR_DEFINITIVE &&
	       strstr(err.msg, "ForbiddenByPolicy"),
	       "access policy without unwrapKey: definitive");
	fake_azure_deny(&fa, FAKE_AZURE_DENY_RBAC, FAKE_AZURE_OP_UNWRAP);
	tap_ok(unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err) < 0 &&
	       err.cls == CMEK_ERR_DEFINITIVE && strstr(err.msg, "ForbiddenByRbac"),
	       "role assignment removed: definitive");
	fake_azure_deny(&fa, FAKE_AZURE_DENY_FIREWALL, 0);
	tap_ok(unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT &&
	       strstr(err.msg, "ForbiddenByFirewall"),
	       "vault firewall: transient, a firewall change is not a revocation");
	fake_azure_deny(&fa, FAKE_AZURE_ALLOW, 0);
	fake_azure_key_ops(&fa, "k1", FAKE_AZURE_OP_GET | FAKE_AZURE_OP_WRAP);
	tap_ok(unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err) < 0 &&
	       err.cls == CMEK_ERR_DEFINITIVE && strstr(err.msg, "not permitted"),
	       "key_ops without unwrapKey: definitive: %s", err.msg);
	fake_azure_key_ops(&fa, "k1", FAKE_AZURE_OP_ALL);
	fake_azure_key_delete(&fa, "k1");
	tap_ok(unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err) < 0 &&
	       err.cls == CMEK_ERR_DEFINITIVE && strstr(err.msg, "KeyNotFound"),
	       "soft-deleted key: definitive: %s", err.msg);
	fake_azure_key_recover(&fa, "k1");
	tap_ok(unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err) == 0,
	       "recovered key unwraps again");
	OPENSSL_cleanse(out, sizeof(out));
	cmek_provider_free(p);
}

/* ---- tokens and credentials ---- */

static void test_tokens(void)
{
	struct cmek_provider *p = prov_secret();
	uint8_t out[CMEK_DEK_MAX];
	struct cmek_error err;
	unsigned long tok, vr;
	size_t n;
	char *body;
	int ret;

	unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err);
	fake_azure_revoke_tokens(&fa);
	tok = fake_azure_requests(&fa, FAKE_AZURE_TOKEN);
	vr = fake_azure_requests(&fa, FAKE_AZURE_VAULT);
	ret = unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err);
	tap_ok(ret == 0 && fake_azure_requests(&fa, FAKE_AZURE_TOKEN) == tok + 1 &&
	       fake_azure_requests(&fa, FAKE_AZURE_VAULT) == vr + 2,
	       "token revoked early: 401, one refresh, then OK");
	cmek_provider_free(p);

	/* Life 2 s: cached at 0.5 s, refreshed ahead of expiry at 1.9 s. */
	fake_azure_token_life(&fa, 2);
	p = prov_secret();
	tok = fake_azure_requests(&fa, FAKE_AZURE_TOKEN);
	unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err);
	usleep(500000);
	unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err);
	tap_ok(fake_azure_requests(&fa, FAKE_AZURE_TOKEN) == tok + 1,
	       "2 s token still cached after 0.5 s");
	usleep(1400000);
	vr = fake_azure_requests(&fa, FAKE_AZURE_VAULT);
	ret = unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err);
	tap_ok(ret == 0 && fake_azure_requests(&fa, FAKE_AZURE_TOKEN) == tok + 2 &&
	       fake_azure_requests(&fa, FAKE_AZURE_VAULT) == vr + 1,
	       "refreshed before expiry, without a 401 (token requests %lu)",
	       fake_azure_requests(&fa, FAKE_AZURE_TOKEN) - tok);
	fake_azure_token_life(&fa, 3599);
	cmek_provider_free(p);

	/* Recorded answers through the parser. */
	p = prov_secret();
	body = load("token-response.json");
	fake_azure_canned(&fa, FAKE_AZURE_TOKEN, 200, body, NULL, 1);
	tok = fake_azure_requests(&fa, FAKE_AZURE_TOKEN);
	vr = fake_azure_requests(&fa, FAKE_AZURE_VAULT);
	ret = unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err);
	tap_ok(ret == 0 && fake_azure_requests(&fa, FAKE_AZURE_TOKEN) == tok + 2 &&
	       fake_azure_requests(&fa, FAKE_AZURE_VAULT) == vr + 2,
	       "recorded token-response.json parsed and sent (the vault did not issue it: 401, refresh)");
	free(body);
	cmek_provider_free(p);

	p = prov_secret();
	body = load("aad-error-invalid-client.json");
	fake_azure_canned(&fa, FAKE_AZURE_TOKEN, 401, body, NULL, 1);
	tap_ok(unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT && err.credential && strstr(err.msg, "AADSTS7000215") &&
	       !strstr(err.msg, "Trace ID"),
	       "recorded invalid_client: a credential error (transient), first line only: %s", err.msg);
	free(body);
	fake_azure_canned(&fa, FAKE_AZURE_TOKEN, 503,
			  "{\"error\":\"temporarily_unavailable\",\"error_description\":\"AADSTS50196: busy\"}",
			  NULL, 10);
	tap_ok(unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT && strstr(err.msg, "HTTP 503"),
	       "Entra ID 503: transient: %s", err.msg);
	fake_azure_canned(&fa, FAKE_AZURE_TOKEN, 200,
			  "{\"access_token\":\"abc\"}", NULL, 1);
	tap_ok(unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT && strstr(err.msg, "malformed token"),
	       "token answer without token_type/expires_in: malformed, transient");
	fake_azure_canned(&fa, FAKE_AZURE_TOKEN, 200,
			  "{\"token_type\":\"Bearer\",\"expires_in\":3599,\"access_token\":\"a\\r\\nX-Evil: 1\"}",
			  NULL, 1);
	tap_ok(unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT && strstr(err.msg, "header"),
	       "token with CR LF refused (no header injection), transient");
	fake_azure_canned(&fa, FAKE_AZURE_TOKEN, 200,
			  "{\"token_type\":\"Bearer\",\"expires_in\":-5,\"access_token\":\"abc\"}",
			  NULL, 1);
	tap_ok(unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT,
	       "negative expires_in refused, transient");
	fake_azure_canned(&fa, FAKE_AZURE_TOKEN, 200, "<html>login</html>",
			  NULL, 1);
	tap_ok(unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT,
	       "token answer that is not JSON: transient");
	fake_azure_canned(&fa, FAKE_AZURE_TOKEN, 0, NULL, NULL, 0);
	cmek_provider_free(p);
}

static void test_credentials(void)
{
	struct cmek_provider *p;
	uint8_t out[CMEK_DEK_MAX];
	struct cmek_error err;
	unsigned long tok;
	char wrong[300];
	size_t n;
	FILE *f;

	/* Wrong secret, client, tenant: clear and without the secret. */
	snprintf(wrong, sizeof(wrong), "%s/wrong.secret", dir);
	f = fopen(wrong, "w");
	fputs("wrong-secret-value\n", f);
	fclose(f);
	chmod(wrong, 0600);
	{
		const char *const kv[] = {
			"tenant_id", TENANT, "client_id", CLIENT,
			"client_secret_file", wrong, NULL,
		};

		p = prov(kv);
		tap_ok(unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n,
			      &err) < 0 && err.cls == CMEK_ERR_TRANSIENT && err.credential &&
		       strstr(err.msg, "invalid_client") &&
		       strstr(err.msg, "AADSTS7000215") &&
		       !strstr(err.msg, "wrong-secret"),
		       "wrong client secret: a credential error (transient), Entra's reason, no secret: %s",
		       err.msg);
		cmek_provider_free(p);
	}
	{
		const char *const kv[] = {
			"tenant_id", TENANT, "client_id",
			"11111111-2222-3333-4444-555555555555",
			"client_secret", SECRET, NULL,
		};

		p = prov(kv);
		tap_ok(unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n,
			      &err) < 0 && err.cls == CMEK_ERR_TRANSIENT && err.credential &&
		       strstr(err.msg, "AADSTS700016"),
		       "unknown client id: a credential error (transient): %s", err.msg);
		cmek_provider_free(p);
	}
	{
		const char *const kv[] = {
			"tenant_id", "contoso.onmicrosoft.com", "client_id",
			CLIENT, "client_secret", SECRET, NULL,
		};

		p = prov(kv);
		tap_ok(unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n,
			      &err) < 0 && err.cls == CMEK_ERR_TRANSIENT && err.credential &&
		       strstr(err.msg, "AADSTS90002"),
		       "unknown tenant: a credential error (transient): %s", err.msg);
		cmek_provider_free(p);
	}
	{
		const char *const kv[] = {
			"tenant_id", TENANT, "client_id", CLIENT,
			"client_secret", SECRET, NULL,
		};

		p = prov(kv);
		tap_ok(unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n,
			      &err) == 0 && n == 64,
		       "inline client_secret (with & = + / %% ~ space, form-encoded) works");
		cmek_provider_free(p);
	}
	{
		const char *const kv[] = {
			"credential", "client_secret", "client_id", CLIENT,
			NULL,
		};

		tok = fake_azure_requests(&fa, FAKE_AZURE_TOKEN);
		p = prov(kv);
		tap_ok(unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n,
			      &err) < 0 && err.cls == CMEK_ERR_INVALID &&
		       strstr(err.msg, "tenant_id") &&
		       fake_azure_requests(&fa, FAKE_AZURE_TOKEN) == tok,
		       "credential client_secret without tenant: invalid, no request");
		cmek_provider_free(p);
	}

	/* Environment. */
	setenv("AZURE_TENANT_ID", TENANT, 1);
	setenv("AZURE_CLIENT_ID", CLIENT, 1);
	setenv("AZURE_CLIENT_SECRET", SECRET, 1);
	p = prov(NULL);
	tok = fake_azure_requests(&fa, FAKE_AZURE_TOKEN);
	tap_ok(unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err) == 0 &&
	       fake_azure_requests(&fa, FAKE_AZURE_TOKEN) == tok + 1,
	       "credentials from AZURE_TENANT_ID/CLIENT_ID/CLIENT_SECRET");
	cmek_provider_free(p);
	setenv("AZURE_CLIENT_SECRET", "s3cr3t-wrong-env", 1);
	p = prov(NULL);
	tap_ok(unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT && err.credential && strstr(err.msg, "invalid_client") &&
	       !strstr(err.msg, "s3cr3t"),
	       "wrong AZURE_CLIENT_SECRET: a credential error (transient), not quoted");
	cmek_provider_free(p);
	unsetenv("AZURE_TENANT_ID");
	unsetenv("AZURE_CLIENT_ID");
	unsetenv("AZURE_CLIENT_SECRET");

	/* Managed HSM: its own token audience. */
	p = prov_secret();
	tap_ok(unwrap(p, "https://cmekhsm.managedhsm.azure.net/keys/k1",
		      &vol_a, blob1, blob1_len, out, &n, &err) < 0 &&
	       !strcmp(fa.last_scope, "https://managedhsm.azure.net/.default") &&
	       err.cls == CMEK_ERR_TRANSIENT && err.credential &&
	       strstr(err.msg, "401"),
	       "Managed HSM key asks scope %s (this vault refuses the audience: %s)",
	       fa.last_scope, err.msg);
	cmek_provider_free(p);
	OPENSSL_cleanse(out, sizeof(out));
}

static void test_imds(void)
{
	const char *const mi[] = { "credential", "managed_identity", NULL };
	const char *const user[] = {
		"credential", "managed_identity", "client_id", MI_ID, NULL,
	};
	struct cmek_http_req rq = { .method = "GET", .metadata = true };
	struct cmek_http_resp resp = { 0 };
	struct cmek_http_opts o;
	struct cmek_provider *p;
	uint8_t out[CMEK_DEK_MAX];
	struct cmek_error err;
	char t[512], url[256];
	unsigned long im;
	size_t n;
	char *body;

	fake_azure_identity(&fa, true, NULL);
	p = prov(mi);
	im = fake_azure_requests(&fa, FAKE_AZURE_IMDS);
	tap_ok(unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err) == 0 &&
	       fake_azure_requests(&fa, FAKE_AZURE_IMDS) == im + 1,
	       "system-assigned managed identity: token from IMDS: %s",
	       err.msg);
	fakesrv_last_header(&m, "Metadata", t, sizeof(t));
	tap_ok(!strcmp(t, "true"), "IMDS request carries Metadata: true");
	last_target(&m, t, sizeof(t));
	tap_ok(!strcmp(t, "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net"),
	       "IMDS request: %s", t);
	cmek_provider_free(p);

	/* No secret anywhere: auto does not fall back to the VM's identity. */
	p = prov(NULL);
	im = fake_azure_requests(&fa, FAKE_AZURE_IMDS);
	tap_ok(unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID &&
	       strstr(err.msg, "credential = managed_identity") &&
	       fake_azure_requests(&fa, FAKE_AZURE_IMDS) == im,
	       "credential auto without a secret: refused, IMDS not asked: %s",
	       err.msg);
	cmek_provider_free(p);

	p = prov(user);
	tap_ok(unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT && err.credential && strstr(err.msg, "Identity not found"),
	       "user-assigned identity not on this VM: a credential error (transient): %s", err.msg);
	fake_azure_identity(&fa, false, MI_ID);
	tap_ok(unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err) == 0,
	       "user-assigned identity by client_id");
	last_target(&m, t, sizeof(t));
	tap_ok(strstr(t, "&client_id=" MI_ID) != NULL, "client_id sent: %s", t);
	cmek_provider_free(p);

	p = prov(mi);
	tap_ok(unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT && err.credential && strstr(err.msg, "HTTP 400"),
	       "no system-assigned identity: a credential error (transient): %s", err.msg);
	fake_azure_identity(&fa, true, NULL);
	body = load("imds-error-identity-not-found.json");
	fake_azure_canned(&fa, FAKE_AZURE_IMDS, 400, body, NULL, 1);
	tap_ok(unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT && err.credential && strstr(err.msg, "Identity not found"),
	       "recorded IMDS identity-not-found: a credential error (transient)");
	free(body);
	fake_azure_canned(&fa, FAKE_AZURE_IMDS, 404, "{}", NULL, 1);
	tap_ok(unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT,
	       "IMDS 404 (updating): transient");
	fake_azure_canned(&fa, FAKE_AZURE_IMDS, 410, "{}", NULL, 1);
	tap_ok(unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT, "IMDS 410 (starting): transient");
	fake_azure_canned(&fa, FAKE_AZURE_IMDS, 500, "{}", NULL, 10);
	tap_ok(unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT, "IMDS 500: transient");
	body = load("imds-token-response.json");
	fake_azure_canned(&fa, FAKE_AZURE_IMDS, 200, body, NULL, 1);
	im = fake_azure_requests(&fa, FAKE_AZURE_IMDS);
	tap_ok(unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err) == 0 &&
	       fake_azure_requests(&fa, FAKE_AZURE_IMDS) == im + 2,
	       "recorded IMDS answer (numbers as strings) parsed; refreshed after the vault's 401");
	free(body);
	fake_azure_canned(&fa, FAKE_AZURE_IMDS, 0, NULL, NULL, 0);
	cmek_provider_free(p);
	{
		const char *const kv[] = {
			"credential", "managed_identity",
			"imds_endpoint", "http://127.0.0.1:1", NULL,
		};

		p = prov(kv);
		tap_ok(unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n,
			      &err) < 0 && err.cls == CMEK_ERR_TRANSIENT &&
		       strstr(err.msg, "instance metadata"),
		       "IMDS unreachable: transient: %s", err.msg);
		cmek_provider_free(p);
	}

	/* The fake itself refuses what IMDS refuses. */
	cmek_http_opts_init(&o);
	snprintf(url, sizeof(url),
		 "%s/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://vault.azure.net",
		 m.url);
	rq.url = url;
	tap_ok(cmek_http_do(&o, &rq, &resp, &err) == 0 && resp.status == 400 &&
	       strstr(resp.body, "metadata header") != NULL,
	       "fake IMDS refuses a request without Metadata: true");
	cmek_http_resp_free(&resp);
	cmek_http_opts_free(&o);
	OPENSSL_cleanse(out, sizeof(out));
}

/* ---- malformed answers ---- */

static char *unwrap_answer(const char *kid, const uint8_t *pt, size_t len)
{
	char *v = cmek_b64_encode(pt, len, true), *body;

	if (asprintf(&body, "{\"kid\":\"%s\",\"value\":\"%s\"}", kid, v) < 0)
		body = NULL;
	free(v);
	return body;
}

static void test_malformed(void)
{
	static const char *const bad[] = {
		"<html>oops</html>",
		"[1,2,3]",
		"\"just a string\"",
		"{\"kid\":\"" K1 "/78deebed173b48e48f55abf87ed4cf71\",\"value\":5}",
		"{\"kid\":\"" K1 "/78deebed173b48e48f55abf87ed4cf71\"}",
		"{\"kid\":\"" K1 "/78deebed173b48e48f55abf87ed4cf71\",\"value\":\"!!!!\"}",
		"{\"kid\":\"" K1 "/78deebed173b48e48f55abf87ed4cf71\",\"value\":\"AAECAwQFBgcICQ\"}",
		"{\"kid\":\"" K1 "/78deebed173b48e48f55abf87ed4cf71\",\"value\":\"AAECAwQF\"} trailing",
		"{\"value\":",
	};
	struct cmek_provider *p = prov_secret();
	uint8_t out[CMEK_DEK_MAX], pt[96], *w = NULL, dek[64] = { 1 };
	char aad[80], *body, *huge, v1[33], kid[200];
	struct cmek_error err;
	size_t i, n, wl, ok = 0;

	unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fake_azure_canned(&fa, FAKE_AZURE_VAULT, 200, bad[i], NULL, 1);
		ok += unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n,
			     &err) < 0 && err.cls == CMEK_ERR_TRANSIENT;
		if (i == 0)
			tap_diag("e.g. %s", err.msg);
	}
	tap_ok(ok == sizeof(bad) / sizeof(bad[0]),
	       "%zu malformed unwrap answers (not JSON, wrong types, missing value, bad base64url, 10-byte plaintext, trailing garbage, truncated): transient (no answer that counts)",
	       ok);

	huge = malloc(300000);
	memcpy(huge, "{\"kid\":\"x\",\"value\":\"", 20);
	memset(huge + 20, 'A', 299970);
	strcpy(huge + 299990, "\"}");
	fake_azure_canned(&fa, FAKE_AZURE_VAULT, 200, huge, NULL, 1);
	tap_ok(unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT,
	       "300 kB value: transient, no crash: %s", err.msg);
	free(huge);

	/* A well-formed answer is accepted, so the refusals above are real. */
	memcpy(pt, dek1, 64);
	EVP_Digest(aad, cmek_binding_aad(&vol_a, aad, sizeof(aad)), pt + 64,
		   NULL, EVP_sha256(), NULL);
	fake_azure_key_version(&fa, "k1", 0, v1);
	snprintf(kid, sizeof(kid), K1 "/%s", v1);
	body = unwrap_answer(kid, pt, sizeof(pt));
	fake_azure_canned(&fa, FAKE_AZURE_VAULT, 200, body, NULL, 1);
	tap_ok(unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err) == 0 &&
	       n == 64 && !memcmp(out, dek1, 64),
	       "hand-made unwrap answer with the right kid and binding accepted");
	free(body);
	body = unwrap_answer("https://othervault.vault.azure.net/keys/k1/78deebed173b48e48f55abf87ed4cf71",
			     pt, sizeof(pt));
	fake_azure_canned(&fa, FAKE_AZURE_VAULT, 200, body, NULL, 1);
	tap_ok(unwrap(p, K1, &vol_a, blob1, blob1_len, out, &n, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT && strstr(err.msg, "another key"),
	       "unwrap answer naming another vault: transient");
	free(body);

	/* wrapkey answers: the GET goes through, the wrap is canned. */
	snprintf(kid, sizeof(kid), K1 "/%s", v1);
	body = unwrap_answer(kid, pt, 40);
	fake_azure_canned(&fa, FAKE_AZURE_VAULT, 200, body, NULL, 1);
	tap_ok(wrap(p, kid, dek, 64, &w, &wl, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT && strstr(err.msg, "malformed"),
	       "wrapkey answer with a 40-byte ciphertext: transient");
	free(body);
	body = unwrap_answer(K2 "/78deebed173b48e48f55abf87ed4cf71", pt, 40);
	fake_azure_canned(&fa, FAKE_AZURE_VAULT, 200, body, NULL, 1);
	tap_ok(wrap(p, kid, dek, 64, &w, &wl, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT && strstr(err.msg, "another key"),
	       "wrapkey answer naming another key: transient");
	free(body);
	fake_azure_canned(&fa, FAKE_AZURE_VAULT, 200,
			  "{\"key\":{\"kid\":\"" K1 "/78deebed173b48e48f55abf87ed4cf71\",\"kty\":\"oct-HSM\"},\"attributes\":{\"enabled\":true}}",
			  NULL, 1);
	tap_ok(wrap(p, K1, dek, 64, &w, &wl, &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID && strstr(err.msg, "oct-HSM"),
	       "symmetric (oct-HSM) key refused with a clear message: %s",
	       err.msg);
	fake_azure_canned(&fa, FAKE_AZURE_VAULT, 0, NULL, NULL, 0);
	OPENSSL_cleanse(pt, sizeof(pt));
	OPENSSL_cleanse(out, sizeof(out));
	cmek_provider_free(p);
}

#define K4	VAULT "/keys/k4"

/*
 * A slot wrapped under version 1; the key rotates to version 2 and
 * version 1 is disabled: the key (its current version) is enabled, the
 * slot's own version, which slot_state asks about, is disabled.
 */
static void test_slot_object(void)
{
	struct cmek_provider *p = prov_secret();
	struct cmek_error err = { 0 };
	enum cmek_kms_key_state st = CMEK_KMS_UNKNOWN, kst = CMEK_KMS_UNKNOWN;
	uint8_t dek[CMEK_DEK_MAX], *w = NULL;
	char id[CMEK_ERRMSG_MAX], v1[33] = "", v2[33] = "", want[256];
	size_t wl = 0;
	bool ok;

	memset(dek, 9, sizeof(dek));
	ok = p && !fake_azure_key_add(&fa, "k4") &&
	     !fake_azure_key_version(&fa, "k4", -1, v1) &&
	     !p->ops->wrap(p, K4, &vol_a, dek, 64, &w, &wl, &err);
	cmek_slot_key("azure-kv", K4, w, wl, id, sizeof(id));
	snprintf(want, sizeof(want), "%s/%s", K4, v1);
	tap_ok(ok && !strcmp(id, want),
	       "the slot's key identifier: the version its blob records (%s) %s",
	       id, err.msg);
	ok = p && !fake_azure_key_rotate(&fa, "k4", v2) &&
	     !fake_azure_key_enable(&fa, "k4", v1, false) &&
	     !p->ops->key_state(p, K4, &kst, &err) &&
	     kst == CMEK_KMS_ENABLED &&
	     !p->ops->slot_state(p, id, &st, &err) &&
	     st == CMEK_KMS_DISABLED;
	tap_ok(ok, "rotated to %.8s..., version %.8s... disabled: the key says %s, the slot's version %s %s",
	       v2, v1, cmek_kms_key_state_name(kst),
	       cmek_kms_key_state_name(st), err.msg);
	ok = p && !fake_azure_key_enable(&fa, "k4", v1, true) &&
	     !p->ops->slot_state(p, id, &st, &err) &&
	     st == CMEK_KMS_ENABLED && !fake_azure_key_delete(&fa, "k4") &&
	     !p->ops->slot_state(p, id, &st, &err) &&
	     st == CMEK_KMS_PENDING_DELETION;
	tap_ok(ok, "the slot's version enabled again, then the key deleted: enabled, then %s %s",
	       cmek_kms_key_state_name(st), err.msg);
	tap_ok(p && p->ops->slot_state(p, K4, &st, &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID,
	       "slot_state without a version: invalid: %s", err.msg);
	free(w);
	cmek_provider_free(p);
}

/* ---- origin authentication: sign_key ---- */

#define S1	VAULT "/keys/s1"

/* The current public key of fake key @name (only its public half used). */
static EVP_PKEY *fake_pub(const char *name)
{
	int i;

	for (i = 0; i < fa.nkeys; i++)
		if (!strcmp(fa.keys[i].name, name))
			return fa.keys[i].v[fa.keys[i].nv - 1].pkey;
	return NULL;
}

/*
 * What an attacker with K1's public key alone makes: a slot of a DEK of
 * their choosing for volume @b, RSA-OAEP-256 under K1's current version
 * (a version 1 blob), or with @sig_len bytes of made-up signature
 * naming sign_key version @sver (version 2).
 */
static size_t forge(const struct cmek_binding *b, const uint8_t *dek,
		    const char *sver, size_t sig_len, uint8_t *out)
{
	uint8_t pt[96], ct[512];
	size_t ct_len = sizeof(ct), n, h;
	char aad[96], ver[33];
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(fake_pub("k1"), NULL);

	n = cmek_binding_aad(b, aad, sizeof(aad));
	memcpy(pt, dek, 64);
	EVP_Digest(aad, n, pt + 64, NULL, EVP_sha256(), NULL);
	if (!c || EVP_PKEY_encrypt_init(c) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256()) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256()) <= 0 ||
	    EVP_PKEY_encrypt(c, ct, &ct_len, pt, 96) <= 0)
		ct_len = 0;
	EVP_PKEY_CTX_free(c);
	fake_azure_key_version(&fa, "k1", -1, ver);
	out[0] = sver ? 2 : 1;
	out[1] = 32;
	memcpy(out + 2, ver, 32);
	h = 34;
	if (sver) {
		memcpy(out + h, sver, 32);
		out[h + 32] = (uint8_t)(ct_len >> 8);
		out[h + 33] = (uint8_t)ct_len;
		h += 34;
	}
	memcpy(out + h, ct, ct_len);
	h += ct_len;
	if (sver) {
		RAND_bytes(out + h, (int)sig_len);
		h += sig_len;
	}
	return ct_len ? h : 0;
}

static struct cmek_provider *prov_signed(const char *unsigned_slots)
{
	const char *const kv[] = {
		"tenant_id", TENANT, "client_id", CLIENT,
		"client_secret_file", secret_file, "sign_key", S1,
		unsigned_slots ? "unsigned_slots" : NULL, unsigned_slots, NULL,
	};

	return prov(kv);
}

static void test_signed(void)
{
	struct cmek_provider *p = prov_signed(NULL), *plain = prov_secret();
	struct cmek_provider *lax = prov_signed("accept");
	uint8_t dek[64], evil[64], out[CMEK_DEK_MAX], f[1200], *w = NULL;
	uint8_t *w2 = NULL, t[1200];
	unsigned long signs, unwraps, req;
	char sv1[33] = "", sv2[33] = "";
	struct cmek_error err;
	size_t wl = 0, wl2 = 0, fl, n = 0;
	bool ok;

	memset(dek, 0x5a, sizeof(dek));
	memset(evil, 0xe1, sizeof(evil));
	{
		struct cmek_provider *q = cmek_provider_new("azure-kv", &err);

		ok = q && q->ops->configure(q, "sign_key", "https://x.example/keys/s1", &err) < 0 &&
		     err.cls == CMEK_ERR_INVALID &&
		     q->ops->configure(q, "unsigned_slots", "maybe", &err) < 0 &&
		     err.cls == CMEK_ERR_INVALID &&
		     !q->ops->configure(q, "unsigned_slots", "refuse", &err);
		cmek_provider_free(q);
		tap_ok(ok, "sign_key must be a Key Vault key identifier, unsigned_slots refuse or accept: %s",
		       err.msg);
	}

	/* A signed slot opens. */
	fake_azure_key_add(&fa, "s1");
	fake_azure_key_version(&fa, "s1", -1, sv1);
	signs = fa.signs;
	ok = !wrap(p, K1, dek, 64, &w, &wl, &err) && w[0] == 2 &&
	     fa.signs == signs + 1 && !memcmp(w + 34, sv1, 32);
	unwraps = fa.unwraps;
	req = fakesrv_requests(&s);
	ok = ok && !unwrap(p, K1, &vol_a, w, wl, out, &n, &err) && n == 64 &&
	     !memcmp(out, dek, 64) && fa.unwraps == unwraps + 1 &&
	     fakesrv_requests(&s) == req + 1;
	tap_ok(ok, "sign_key set: wrap signs the slot (PS256 by %.8s..., a version 2 blob of %zu bytes); it opens with one unwrapkey (the public key is kept) %s",
	       sv1, wl, err.msg);
	n = 0;
	ok = !unwrap(plain, K1, &vol_a, w, wl, out, &n, &err) && n == 64 &&
	     !memcmp(out, dek, 64);
	tap_ok(ok, "a provider without sign_key still opens a signed slot %s",
	       err.msg);

	/* Forged with K1's public key alone. */
	fl = forge(&vol_a, evil, NULL, 0, f);
	n = 0;
	ok = fl && !unwrap(plain, K1, &vol_a, f, fl, out, &n, &err) &&
	     n == 64 && !memcmp(out, evil, 64);
	tap_ok(ok, "without sign_key, a slot forged with the public key alone unwraps to the forger's key (the attack) %s",
	       err.msg);
	unwraps = fa.unwraps;
	ok = fl && unwrap(p, K1, &vol_a, f, fl, out, &n, &err) < 0 &&
	     err.cls == CMEK_ERR_INVALID &&
	     strstr(err.msg, "carries no signature") && fa.unwraps == unwraps;
	tap_ok(ok, "with sign_key, that unsigned forged slot is refused (invalid) before any unwrapkey: %s",
	       err.msg);
	fl = forge(&vol_a, evil, sv1, 256, f);
	ok = fl && unwrap(p, K1, &vol_a, f, fl, out, &n, &err) < 0 &&
	     err.cls == CMEK_ERR_INVALID && strstr(err.msg, "does not verify") &&
	     fa.unwraps == unwraps;
	tap_ok(ok, "a forged slot with a made-up signature naming sign_key's version is refused (invalid), no unwrapkey: %s",
	       err.msg);
	fl = forge(&vol_a, evil, NULL, 0, f);
	n = 0;
	ok = fl && !unwrap(lax, K1, &vol_a, f, fl, out, &n, &err) &&
	     !memcmp(out, evil, 64) &&
	     unwrap(lax, K1, &vol_a, w, wl, out, &n, &err) == 0;
	tap_ok(ok, "unsigned_slots = accept takes unsigned slots (migration), and still checks signed ones %s",
	       err.msg);

	/* Tampered: the signature, the ciphertext, another volume. */
	unwraps = fa.unwraps;
	memcpy(t, w, wl);
	t[wl - 7] ^= 0x40;
	ok = unwrap(p, K1, &vol_a, t, wl, out, &n, &err) < 0 &&
	     err.cls == CMEK_ERR_INVALID && strstr(err.msg, "does not verify");
	memcpy(t, w, wl);
	t[70] ^= 1;
	ok = ok && unwrap(p, K1, &vol_a, t, wl, out, &n, &err) < 0 &&
	     err.cls == CMEK_ERR_INVALID && strstr(err.msg, "does not verify");
	ok = ok && unwrap(p, K1, &vol_b, w, wl, out, &n, &err) < 0 &&
	     err.cls == CMEK_ERR_INVALID && strstr(err.msg, "does not verify") &&
	     fa.unwraps == unwraps;
	tap_ok(ok, "a flipped bit in the signature or the ciphertext, or the slot copied to another volume: refused (invalid), no unwrapkey: %s",
	       err.msg);
	memcpy(t, w, wl);
	t[wl - 1] = 0;
	ok = unwrap(p, K1, &vol_a, t, wl - 1, out, &n, &err) < 0 &&
	     err.cls == CMEK_ERR_INVALID;
	t[34] = 'x';
	ok = ok && unwrap(p, K1, &vol_a, t, wl, out, &n, &err) < 0 &&
	     err.cls == CMEK_ERR_INVALID && strstr(err.msg, "v2 blob");
	tap_ok(ok, "a truncated signature or a bad sign_key version in the blob: refused (invalid): %s",
	       err.msg);

	/* sign_key rotates: new slots name the new version, old ones open. */
	fake_azure_key_rotate(&fa, "s1", sv2);
	ok = !wrap(p, K1, dek, 64, &w2, &wl2, &err) && !memcmp(w2 + 34, sv2, 32) &&
	     !unwrap(p, K1, &vol_a, w, wl, out, &n, &err) &&
	     !unwrap(p, K1, &vol_a, w2, wl2, out, &n, &err);
	memcpy(t, w, wl);
	memcpy(t + 34, sv2, 32);
	ok = ok && unwrap(p, K1, &vol_a, t, wl, out, &n, &err) < 0 &&
	     err.cls == CMEK_ERR_INVALID;
	tap_ok(ok, "sign_key rotated: new slots are signed by the new version, old slots still open; a slot claiming the other version is refused %s",
	       err.msg);

	/* Key Vault's answers to sign, and about the signing key. */
	{
		static const char *const bad[] = {
			"<html>signed</html>",
			"{\"kid\":\"" S1 "\",\"value\":\"!!!\"}",
			"{\"kid\":\"" S1 "\",\"value\":\"AAECAwQFBgcICQ\"}",
			NULL,	/* 256 random bytes: not a signature */
		};
		char junk[800], *b64;
		uint8_t r[256];
		size_t i, cls_ok = 0;

		RAND_bytes(r, sizeof(r));
		b64 = cmek_b64_encode(r, sizeof(r), true);
		snprintf(junk, sizeof(junk), "{\"kid\":\"%s/%s\",\"value\":\"%s\"}",
			 S1, sv2, b64);
		free(b64);
		fake_azure_canned_path(&fa, "/sign");
		for (i = 0; i < 4; i++) {
			free(w2);
			w2 = NULL;
			fake_azure_canned(&fa, FAKE_AZURE_VAULT, 200,
					  bad[i] ? bad[i] : junk, NULL, 1);
			cls_ok += wrap(p, K1, dek, 64, &w2, &wl2, &err) < 0 &&
				  err.cls == CMEK_ERR_TRANSIENT &&
				  strstr(err.msg, "malformed answer");
		}
		fake_azure_canned(&fa, FAKE_AZURE_VAULT, 403,
				  "<html><body>Request blocked</body></html>",
				  NULL, 1);
		cls_ok += wrap(p, K1, dek, 64, &w2, &wl2, &err) < 0 &&
			  err.cls == CMEK_ERR_TRANSIENT;
		fake_azure_canned(&fa, FAKE_AZURE_VAULT, 0, NULL, NULL, 0);
		fake_azure_canned_path(&fa, NULL);
		tap_ok(cls_ok == 5,
		       "sign answered with HTML, bad base64, a short value, 256 bytes that do not verify, or a WAF's 403: no slot, transient (%zu of 5) %s",
		       cls_ok, err.msg);
		fake_azure_key_ops(&fa, "s1", FAKE_AZURE_OP_ALL & ~FAKE_AZURE_OP_SIGN);
		ok = wrap(p, K1, dek, 64, &w2, &wl2, &err) < 0 &&
		     err.cls == CMEK_ERR_DEFINITIVE &&
		     strstr(err.msg, "sign");
		fake_azure_key_ops(&fa, "s1", FAKE_AZURE_OP_ALL);
		tap_ok(ok, "sign not among sign_key's key_ops: Key Vault's own refusal, definitive: %s",
		       err.msg);
	}
	/* A fresh provider must fetch the public key: malformed, or gone. */
	{
		struct cmek_provider *q = prov_signed(NULL);

		fake_azure_canned(&fa, FAKE_AZURE_VAULT, 200,
				  "{\"key\":{\"kid\":\"" S1 "\",\"kty\":\"RSA\"}}",
				  NULL, 1);
		ok = unwrap(q, K1, &vol_a, w, wl, out, &n, &err) < 0 &&
		     err.cls == CMEK_ERR_TRANSIENT;
		fake_azure_key_delete(&fa, "s1");
		ok = ok && unwrap(q, K1, &vol_a, w, wl, out, &n, &err) < 0 &&
		     err.cls == CMEK_ERR_INVALID && strstr(err.msg, "KeyNotFound");
		fake_azure_key_recover(&fa, "s1");
		ok = ok && !unwrap(q, K1, &vol_a, w, wl, out, &n, &err);
		cmek_provider_free(q);
		tap_ok(ok, "sign_key's public key answered malformed: transient; sign_key deleted: the slot cannot be verified (invalid, not a revocation); recovered: it opens %s",
		       err.msg);
	}
	free(w);
	free(w2);
	cmek_provider_free(lax);
	cmek_provider_free(plain);
	cmek_provider_free(p);
}

int main(void)
{
	FILE *f;

	tap_plan(118);
	if (!mkdtemp(dir))
		return 1;
	unsetenv("AZURE_TENANT_ID");
	unsetenv("AZURE_CLIENT_ID");
	unsetenv("AZURE_CLIENT_SECRET");
	unsetenv("AZURE_AUTHORITY_HOST");
	fake_azure_init(&fa, VAULT, TENANT, CLIENT, SECRET);
	if (fake_azure_key_add(&fa, "k1") || fake_azure_key_add(&fa, "k2") ||
	    fake_azure_key_add(&fa, "k3"))
		return 1;
	if (fakesrv_start(&s, dir, fake_azure_handler, &fa) ||
	    fakesrv_start_plain(&m, dir, fake_azure_handler, &fa))
		return 1;
	snprintf(secret_file, sizeof(secret_file), "%s/client.secret", dir);
	f = fopen(secret_file, "w");
	if (!f)
		return 1;
	fputs(SECRET "\n", f);
	fclose(f);
	chmod(secret_file, 0600);

	test_config();
	test_key_refs();
	test_round_trip();
	test_rotation();
	test_key_state();
	test_error_rows();
	test_tokens();
	test_credentials();
	test_imds();
	test_malformed();
	test_slot_object();
	test_signed();
	tap_ok(leaks == 0 && checked > 60,
	       "no secret or token in any of %u error messages", checked);

	fakesrv_stop(&m);
	fakesrv_stop(&s);
	fake_azure_free(&fa);
	return tap_done();
}
