// SPDX-License-Identifier: GPL-2.0
/*
 * The gcp-kms provider against tests/kms/fake_gcp.c: round trips, volume
 * binding, rotation and rewrap, key states, every row of the error table
 * in Documentation/admin-guide/cmek-providers.rst, transport faults, the
 * CRC32C integrity checks, the three ways to get a token (service-account
 * key from the config or the environment, metadata server) and their
 * failures, malformed answers, and recorded answers of the documented
 * shape (tests/kms/data/gcp_kms/).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "b64.h"
#include "crc32c.h"
#include "gcp_kms.h"
#include "provider.h"
#include "../kms/fake_gcp.h"
#include "../kms/fakesrv.h"
#include "../lib/tap.h"

#define KEY	"projects/cmek-test/locations/europe-west1/keyRings/cmek-ring/cryptoKeys/volumes"
#define KEY2	"projects/cmek-test/locations/europe-west1/keyRings/cmek-ring/cryptoKeys/other"
#define GONE	"projects/cmek-test/locations/europe-west1/keyRings/cmek-ring/cryptoKeys/never-made"
#define EMAIL	"cmekd@cmek-test.iam.gserviceaccount.com"

static char dir[] = "/tmp/cmek-test-gcp-XXXXXX";
static struct fakesrv s, m;
static struct fake_gcp *f;
static char sa_path[300], token_uri[128];
static const struct cmek_binding vol = {
	"6f1c1d2e-8d4b-4d0c-9a65-2f7e1b0c3a11"
};
static const struct cmek_binding vol2 = {
	"0b7f6a52-1111-4e22-8c33-9d44e55f6a77"
};

/* Every error message the provider gave, to look for secrets at the end. */
static char *all_msgs;
static size_t all_len;

static void keep(const struct cmek_error *e)
{
	size_t n = strlen(e->msg);
	char *p = realloc(all_msgs, all_len + n + 2);

	if (!p)
		return;
	all_msgs = p;
	memcpy(all_msgs + all_len, e->msg, n);
	all_len += n;
	all_msgs[all_len++] = '\n';
	all_msgs[all_len] = '\0';
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 +
	       (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static struct fake_gcp_stats stats(void)
{
	struct fake_gcp_stats st;

	fake_gcp_stats(f, &st);
	return st;
}

/*
 * A provider on the fake: endpoint, CA, short timeouts, quick retries,
 * then the NULL-terminated key/value pairs of @kv.
 */
static struct cmek_provider *prov(const char *const *kv)
{
	struct cmek_error err = { 0 };
	struct cmek_provider *p = cmek_provider_new("gcp-kms", &err);

	if (!p)
		return NULL;
	if (p->ops->configure(p, "endpoint", s.url, &err) ||
	    p->ops->configure(p, "ca_file", s.ca_file, &err) ||
	    p->ops->configure(p, "timeout", "2s", &err) ||
	    p->ops->configure(p, "connect_timeout", "1s", &err) ||
	    p->ops->configure(p, "retries", "2", &err) ||
	    p->ops->configure(p, "retry_backoff", "10ms", &err))
		goto bad;
	for (; kv && kv[0]; kv += 2)
		if (p->ops->configure(p, kv[0], kv[1], &err))
			goto bad;
	return p;
bad:
	tap_diag("configure: %s", err.msg);
	cmek_provider_free(p);
	return NULL;
}

static int do_unwrap(struct cmek_provider *p, const char *key,
		     const struct cmek_binding *b, const uint8_t *w, size_t wl,
		     uint8_t *dek, size_t *dl, struct cmek_error *err)
{
	int r = p->ops->unwrap(p, key, b, w, wl, dek, dl, err);

	if (r)
		keep(err);
	return r;
}

static int do_wrap(struct cmek_provider *p, const char *key,
		   const struct cmek_binding *b, const uint8_t *dek,
		   size_t len, uint8_t **w, size_t *wl, struct cmek_error *err)
{
	int r = p->ops->wrap(p, key, b, dek, len, w, wl, err);

	if (r)
		keep(err);
	return r;
}

static int do_state(struct cmek_provider *p, const char *key,
		    enum cmek_kms_key_state *st, struct cmek_error *err)
{
	int r = p->ops->key_state(p, key, st, err);

	if (r)
		keep(err);
	return r;
}

static char *slurp(const char *name)
{
	static const char *const dirs[] = {
		"tests/kms/data/gcp_kms", "../tests/kms/data/gcp_kms",
	};
	char path[400];
	FILE *fp = NULL;
	char *buf;
	size_t n;

	for (size_t i = 0; !fp && i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", dirs[i], name);
		fp = fopen(path, "r");
	}
	if (!fp) {
		tap_diag("cannot open test data %s (run from the tree's top)",
			 name);
		return NULL;
	}
	buf = calloc(1, 65536);
	n = buf ? fread(buf, 1, 65535, fp) : 0;
	fclose(fp);
	if (buf)
		buf[n] = '\0';
	return buf;
}

/* ---- configuration ---- */

static void test_config(void)
{
	static const char *const bad_refs[] = {
		"projects/p/locations/l/keyRings/r",
		"projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1",
		"projects/p/locations/l/keyRings/r/cryptoKeys/",
		"projects/P/locations/l/keyRings/r/cryptoKeys/k",
		"projects/p/locations/l/keyRings/r/cryptoKeys/k?x",
		"projects/p/locations/l/keyRings/r/cryptoKeys/k/../../x",
		"projects/p/locations/l/keyRings/r%2F/cryptoKeys/k",
		"folders/p/locations/l/keyRings/r/cryptoKeys/k",
		"/projects/p/locations/l/keyRings/r/cryptoKeys/k",
		"",
	};
	struct cmek_error err = { 0 };
	struct cmek_provider *p = cmek_provider_new("gcp-kms", &err);
	char path[400];
	unsigned long before;
	uint8_t dek[64], *w = NULL;
	size_t wl, i;
	bool all_bad = true;
	FILE *fp;
	int r;

	tap_ok(p && !strcmp(p->ops->name, "gcp-kms") && !p->ops->rewrap &&
	       cmek_provider_lookup("gcp-kms") == &cmek_gcp_kms_ops,
	       "registered as gcp-kms; no rewrap (Cloud KMS has no re-encrypt call)");
	if (!p)
		return;
	tap_ok(p->ops->configure(p, "endpoint", "http://127.0.0.1:1", &err) &&
	       err.cls == CMEK_ERR_INVALID && strstr(err.msg, "https") &&
	       p->ops->configure(p, "endpoint", "https://u:p@kms.example", &err) &&
	       p->ops->configure(p, "metadata_endpoint", "https://169.254.169.254", &err) &&
	       p->ops->configure(p, "credentials_file", "sa.json", &err) &&
	       p->ops->configure(p, "timeout", "0", &err) &&
	       p->ops->configure(p, "project", "x", &err) &&
	       strstr(err.msg, "unknown gcp-kms setting 'project'") &&
	       !p->ops->configure(p, "endpoint", "https://europe-west1-cloudkms.googleapis.com/", &err) &&
	       !p->ops->configure(p, "metadata_endpoint", "http://169.254.169.254", &err),
	       "config: endpoint https only, metadata http only, absolute credentials_file, unknown keys refused");

	snprintf(path, sizeof(path), "%s/notjson.json", dir);
	fp = fopen(path, "w");
	fputs("{\"private_key\": \"-----BEGIN PRIVATE KEY-----\\nMIIsecret", fp);
	fclose(fp);
	chmod(path, 0600);
	r = p->ops->configure(p, "credentials_file", path, &err);
	keep(&err);
	tap_ok(r < 0 && err.cls == CMEK_ERR_INVALID &&
	       strstr(err.msg, "not a JSON object") && !strstr(err.msg, "MIIsecret"),
	       "credentials file that is not JSON: %s", err.msg);
	snprintf(path, sizeof(path), "%s/badkey.json", dir);
	fp = fopen(path, "w");
	fprintf(fp, "{\"type\":\"service_account\",\"client_email\":\"%s\","
		"\"private_key_id\":\"abc\",\"private_key\":\"-----BEGIN PRIVATE KEY-----\\nMIIsecret\\n-----END PRIVATE KEY-----\\n\"}",
		EMAIL);
	fclose(fp);
	chmod(path, 0600);
	r = p->ops->configure(p, "credentials_file", path, &err);
	keep(&err);
	tap_ok(r < 0 && err.cls == CMEK_ERR_INVALID &&
	       strstr(err.msg, "not a PEM RSA private key") &&
	       !strstr(err.msg, "MIIsecret"),
	       "credentials file with a broken private_key: %s", err.msg);
	fp = fopen(path, "w");
	fputs("{\"type\":\"authorized_user\",\"refresh_token\":\"1//secret\"}", fp);
	fclose(fp);
	chmod(path, 0600);
	r = p->ops->configure(p, "credentials_file", path, &err);
	keep(&err);
	tap_ok(r < 0 && err.cls == CMEK_ERR_INVALID &&
	       strstr(err.msg, "only service_account") &&
	       !strstr(err.msg, "1//secret"),
	       "user credentials refused: %s", err.msg);
	snprintf(path, sizeof(path), "%s/missing.json", dir);
	r = p->ops->configure(p, "credentials_file", path, &err);
	keep(&err);
	tap_ok(r < 0 && err.cls == CMEK_ERR_INVALID &&
	       strstr(err.msg, "cannot open credentials file"),
	       "missing credentials file: %s", err.msg);
	cmek_provider_free(p);

	p = prov(NULL);
	before = fakesrv_requests(&s);
	for (i = 0; p && i < sizeof(bad_refs) / sizeof(bad_refs[0]); i++) {
		memset(dek, 1, sizeof(dek));
		if (!p->ops->wrap(p, bad_refs[i], &vol, dek, 64, &w, &wl, &err) ||
		    err.cls != CMEK_ERR_INVALID) {
			tap_diag("accepted key ref '%s'", bad_refs[i]);
			all_bad = false;
		}
		keep(&err);
	}
	tap_ok(p && all_bad && fakesrv_requests(&s) == before &&
	       cmek_gcp_key_ref_valid(KEY) &&
	       cmek_gcp_key_ref_valid("projects/example.com:p-1/locations/global/keyRings/R_1/cryptoKeys/K-2"),
	       "malformed key references refused before any request (%zu tried)",
	       i);
	cmek_provider_free(p);
}

/* ---- round trips, binding, rotation ---- */

static void test_round_trip(struct cmek_provider *p, uint8_t **blob,
			    size_t *blob_len)
{
	struct cmek_error err = { 0 };
	struct timespec t0;
	uint8_t dek[CMEK_DEK_MAX], out[CMEK_DEK_MAX];
	size_t wl = 0, dl = 0;
	char hdr[256], aad[64];
	long ms;
	int r1, r2;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	r1 = p->ops->generate(p, KEY, &vol, dek, 64, blob, &wl, &err);
	if (r1)
		keep(&err);
	r2 = r1 ? -1 : do_unwrap(p, KEY, &vol, *blob, wl, out, &dl, &err);
	ms = ms_since(&t0);
	tap_ok(!r1 && !r2 && dl == 64 && !memcmp(dek, out, 64) &&
	       wl > 64 + 16,
	       "generate (64-byte DEK) + unwrap round trip, first call gets a token: %ld ms %s",
	       ms, err.msg);
	*blob_len = wl;
	snprintf(aad, sizeof(aad), "cmek-dek-v1:%s", vol.volume_uuid);
	tap_ok(!strcmp(stats().last_aad, aad) && stats().token_requests == 1 &&
	       stats().encrypts == 1 && stats().decrypts == 1,
	       "AAD is the volume binding (%s); one token for both calls",
	       stats().last_aad);
	fakesrv_last_header(&s, "Authorization", hdr, sizeof(hdr));
	tap_ok(!strncmp(hdr, "Bearer ya29.c.", 14), "Authorization: Bearer <token from the JWT grant>");
	fakesrv_last_header(&s, "Content-Type", hdr, sizeof(hdr));
	tap_ok(!strcmp(hdr, "application/json"), "Content-Type: %s", hdr);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 10; i++)
		r1 |= do_unwrap(p, KEY, &vol, *blob, wl, out, &dl, &err);
	ms = ms_since(&t0);
	tap_ok(!r1 && stats().token_requests == 1,
	       "10 more unwraps with the cached token: %ld ms each", ms / 10);
	tap_diag("round trip against the fake: %ld ms per unwrap", ms / 10);

	tap_ok(do_unwrap(p, KEY, &vol2, *blob, wl, out, &dl, &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID &&
	       strstr(err.msg, "INVALID_ARGUMENT") &&
	       strstr(err.msg, "Decryption failed"),
	       "bound to another volume: invalid: %s", err.msg);
	(*blob)[wl / 2] ^= 0x40;
	tap_ok(do_unwrap(p, KEY, &vol, *blob, wl, out, &dl, &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID,
	       "corrupted wrapped key: invalid: %s", err.msg);
	(*blob)[wl / 2] ^= 0x40;
	tap_ok(do_unwrap(p, KEY2, &vol, *blob, wl, out, &dl, &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID,
	       "wrapped key given to another key: invalid: %s", err.msg);
}

/*
 * The fake's key version in a slot: its ciphertext, after the version
 * name gcp_wrap puts in front, starts with the version (4 bytes, BE).
 */
static int ct_version(const uint8_t *w, size_t wl)
{
	const uint8_t *c;
	char name[600];
	size_t cl;

	if (!w || cmek_slot_unprefix(w, wl, name, sizeof(name), &c, &cl) < 0 ||
	    cl < 4)
		return -1;
	return c[0] << 24 | c[1] << 16 | c[2] << 8 | c[3];
}

static void test_rotation(struct cmek_provider *p, const uint8_t *old,
			  size_t old_len)
{
	struct cmek_error err = { 0 };
	enum cmek_kms_key_state st = CMEK_KMS_UNKNOWN;
	uint8_t dek[CMEK_DEK_MAX], dek2[CMEK_DEK_MAX], *nw = NULL, *ow = NULL;
	size_t dl = 0, dl2 = 0, nl = 0, ol = 0;
	int v;

	v = fake_gcp_add_version(f, KEY, true);
	/* cmekd's rewrap where the KMS has none: unwrap + wrap. */
	tap_ok(v == 2 && !do_unwrap(p, KEY, &vol, old, old_len, dek, &dl, &err) &&
	       !do_wrap(p, KEY, &vol, dek, dl, &nw, &nl, &err) &&
	       ct_version(nw, nl) == 2 && ct_version(old, old_len) == 1,
	       "rotation: the old version still decrypts, encrypt moves to version %d", v);
	tap_ok(nw && !do_unwrap(p, KEY, &vol, nw, nl, dek2, &dl2, &err) &&
	       dl2 == dl && !memcmp(dek, dek2, dl),
	       "rewrapped key unwraps to the same DEK");
	fake_gcp_set_state(f, KEY, 1, "DISABLED");
	tap_ok(do_unwrap(p, KEY, &vol, old, old_len, dek2, &dl2, &err) < 0 &&
	       err.cls == CMEK_ERR_DEFINITIVE &&
	       strstr(err.msg, "FAILED_PRECONDITION") &&
	       strstr(err.msg, "cryptoKeyVersions/1 is not enabled") &&
	       !do_unwrap(p, KEY, &vol, nw, nl, dek2, &dl2, &err) &&
	       !do_state(p, KEY, &st, &err) && st == CMEK_KMS_ENABLED,
	       "old version disabled: its wrapped key is definitive (%s), the rewrapped one works, key_state (primary) stays enabled",
	       err.msg);
	fake_gcp_set_state(f, KEY, 1, "ENABLED");

	/* To another key: unwrap under KEY, wrap under KEY2. */
	tap_ok(!do_wrap(p, KEY2, &vol, dek, dl, &ow, &ol, &err) &&
	       !do_unwrap(p, KEY2, &vol, ow, ol, dek2, &dl2, &err) &&
	       dl2 == dl && !memcmp(dek, dek2, dl) &&
	       do_unwrap(p, KEY, &vol, ow, ol, dek2, &dl2, &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID,
	       "rewrap to another key round trips, and only under that key");
	free(nw);
	free(ow);
}

static void test_states(struct cmek_provider *p, const uint8_t *blob,
			size_t blob_len)
{
	static const struct {
		const char *state;
		enum cmek_kms_key_state want;
	} rows[] = {
		{ "ENABLED", CMEK_KMS_ENABLED },
		{ "DISABLED", CMEK_KMS_DISABLED },
		{ "DESTROY_SCHEDULED", CMEK_KMS_PENDING_DELETION },
		{ "DESTROYED", CMEK_KMS_DELETED },
		{ "PENDING_GENERATION", CMEK_KMS_UNKNOWN },
		{ "PENDING_IMPORT", CMEK_KMS_UNKNOWN },
		{ "IMPORT_FAILED", CMEK_KMS_DISABLED },
		{ "GENERATION_FAILED", CMEK_KMS_DISABLED },
		{ "PENDING_EXTERNAL_DESTRUCTION", CMEK_KMS_PENDING_DELETION },
		{ "EXTERNAL_DESTRUCTION_FAILED", CMEK_KMS_DELETED },
	};
	struct cmek_error err = { 0 };
	enum cmek_kms_key_state st;
	uint8_t dek[CMEK_DEK_MAX], *w = NULL;
	size_t wl = 0, i;
	char got[400] = "";
	bool ok = true;

	/* KEY2 has one version: the primary, which wrapped nothing here. */
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		fake_gcp_set_state(f, KEY2, 0, rows[i].state);
		st = CMEK_KMS_UNKNOWN;
		if (do_state(p, KEY2, &st, &err) || st != rows[i].want)
			ok = false;
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s",
			 i ? ", " : "", cmek_kms_key_state_name(st));
	}
	fake_gcp_set_state(f, KEY2, 0, "ENABLED");
	tap_ok(ok, "key_state of the primary, every CryptoKeyVersionState -> %s",
	       got);

	fake_gcp_set_state(f, KEY, 0, "DISABLED");
	memset(dek, 7, sizeof(dek));
	tap_ok(do_wrap(p, KEY, &vol, dek, 64, &w, &wl, &err) < 0 &&
	       err.cls == CMEK_ERR_DEFINITIVE &&
	       strstr(err.msg, "FAILED_PRECONDITION") &&
	       !do_state(p, KEY, &st, &err) && st == CMEK_KMS_DISABLED,
	       "primary disabled: wrap definitive (%s), state disabled", err.msg);
	fake_gcp_set_state(f, KEY, 0, "ENABLED");
	fake_gcp_set_state(f, KEY, 1, "DESTROYED");
	tap_ok(do_unwrap(p, KEY, &vol, blob, blob_len, dek, &wl, &err) < 0 &&
	       err.cls == CMEK_ERR_DEFINITIVE &&
	       strstr(err.msg, "current state is: DESTROYED"),
	       "version destroyed: unwrap definitive: %s", err.msg);
	fake_gcp_set_state(f, KEY, 1, "ENABLED");
	fake_gcp_set_primary(f, KEY2, 0);
	tap_ok(!do_state(p, KEY2, &st, &err) && st == CMEK_KMS_DISABLED &&
	       do_wrap(p, KEY2, &vol, dek, 64, &w, &wl, &err) < 0 &&
	       err.cls == CMEK_ERR_DEFINITIVE,
	       "no primary version: disabled, wrap definitive");
	fake_gcp_set_primary(f, KEY2, 1);
	tap_ok(!do_state(p, GONE, &st, &err) && st == CMEK_KMS_DELETED,
	       "unknown key: state deleted (NOT_FOUND)");
	fake_gcp_deny(f, KEY, true);
	tap_ok(!do_state(p, KEY, &st, &err) && st == CMEK_KMS_ACCESS_DENIED,
	       "IAM binding removed: state access denied (PERMISSION_DENIED)");
	fake_gcp_deny(f, KEY, false);

	fake_gcp_canned(f, 503, "{\"error\":{\"code\":503,\"message\":\"x\",\"status\":\"UNAVAILABLE\"}}", 10);
	ok = do_state(p, KEY, &st, &err) < 0 && err.cls == CMEK_ERR_TRANSIENT &&
	     st == CMEK_KMS_UNKNOWN;
	fake_gcp_canned(f, 200, "<html>", 1);
	ok = ok && do_state(p, KEY, &st, &err) < 0 && err.cls == CMEK_ERR_TRANSIENT;
	fake_gcp_canned(f, 0, NULL, 0);
	fake_gcp_reject_tokens(f, true);
	memset(&err, 0, sizeof(err));
	ok = ok && do_state(p, KEY, &st, &err) < 0 &&
	     err.cls == CMEK_ERR_TRANSIENT && err.credential &&
	     st == CMEK_KMS_UNKNOWN && strstr(err.msg, "UNAUTHENTICATED");
	fake_gcp_reject_tokens(f, false);
	tap_ok(ok, "key_state errors: UNAVAILABLE transient, not JSON transient, UNAUTHENTICATED a credential error (transient), never a state");
	free(w);
}

/* ---- the error table ---- */

static void test_error_rows(struct cmek_provider *p, const uint8_t *blob,
			    size_t blob_len)
{
	/* Rows of the table in cmek-providers.rst, through unwrap. */
	static const struct {
		int http;
		const char *status;	/* NULL: no google.rpc.Status body */
		enum cmek_err_class cls;
		unsigned long requests;	/* retries=2: 3 for 408/429/5xx */
	} rows[] = {
		{ 403, "PERMISSION_DENIED", CMEK_ERR_DEFINITIVE, 1 },
		{ 404, "NOT_FOUND", CMEK_ERR_DEFINITIVE, 1 },
		{ 400, "FAILED_PRECONDITION", CMEK_ERR_DEFINITIVE, 1 },
		{ 400, "INVALID_ARGUMENT", CMEK_ERR_INVALID, 1 },
		{ 400, "OUT_OF_RANGE", CMEK_ERR_INVALID, 1 },
		{ 409, "ALREADY_EXISTS", CMEK_ERR_INVALID, 1 },
		{ 501, "UNIMPLEMENTED", CMEK_ERR_INVALID, 3 },
		{ 429, "RESOURCE_EXHAUSTED", CMEK_ERR_TRANSIENT, 3 },
		{ 503, "UNAVAILABLE", CMEK_ERR_TRANSIENT, 3 },
		{ 504, "DEADLINE_EXCEEDED", CMEK_ERR_TRANSIENT, 3 },
		{ 500, "INTERNAL", CMEK_ERR_TRANSIENT, 3 },
		{ 409, "ABORTED", CMEK_ERR_TRANSIENT, 1 },
		{ 500, "UNKNOWN", CMEK_ERR_TRANSIENT, 3 },
		{ 499, "CANCELLED", CMEK_ERR_TRANSIENT, 1 },
		{ 403, NULL, CMEK_ERR_TRANSIENT, 1 },
		{ 404, NULL, CMEK_ERR_TRANSIENT, 1 },
		{ 400, NULL, CMEK_ERR_TRANSIENT, 1 },
		{ 502, NULL, CMEK_ERR_TRANSIENT, 3 },
	};
	static const char *const names[] = {
		[CMEK_ERR_DEFINITIVE] = "definitive",
		[CMEK_ERR_TRANSIENT] = "transient",
		[CMEK_ERR_INVALID] = "invalid",
	};
	struct cmek_error err = { 0 };
	uint8_t dek[CMEK_DEK_MAX];
	unsigned long before, sent;
	struct fake_gcp_stats st0;
	char body[400], tok[256];
	size_t dl;
	size_t i;
	int r;

	/* A token first, so that only KMS requests are counted. */
	do_unwrap(p, KEY, &vol, blob, blob_len, dek, &dl, &err);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (rows[i].status)
			snprintf(body, sizeof(body),
				 "{\"error\": {\"code\": %d, \"message\": \"row %zu\", \"status\": \"%s\"}}",
				 rows[i].http, i, rows[i].status);
		else
			snprintf(body, sizeof(body),
				 "<html><body>%d from a proxy</body></html>",
				 rows[i].http);
		fake_gcp_canned(f, rows[i].http, body, 10);
		before = fakesrv_requests(&s);
		memset(&err, 0, sizeof(err));
		r = do_unwrap(p, KEY, &vol, blob, blob_len, dek, &dl, &err);
		sent = fakesrv_requests(&s) - before;
		fake_gcp_canned(f, 0, NULL, 0);
		tap_ok(r < 0 && err.cls == rows[i].cls && sent == rows[i].requests &&
		       (!rows[i].status || strstr(err.msg, rows[i].status)) &&
		       err.throttled == (rows[i].http == 429),
		       "HTTP %d %s -> %s%s after %lu request(s): %s",
		       rows[i].http,
		       rows[i].status ? rows[i].status : "(no Status body)",
		       names[rows[i].cls], err.throttled ? ", throttled" : "",
		       sent, err.msg);
	}

	/* UNAUTHENTICATED: one new token, one more try, then invalid. */
	fake_gcp_reject_tokens(f, true);
	st0 = stats();
	before = fakesrv_requests(&s);
	r = do_unwrap(p, KEY, &vol, blob, blob_len, dek, &dl, &err);
	fakesrv_last_header(&s, "Authorization", tok, sizeof(tok));
	tap_ok(r < 0 && err.cls == CMEK_ERR_TRANSIENT && err.credential &&
	       strstr(err.msg, "UNAUTHENTICATED") && strstr(err.msg, "fresh token") &&
	       stats().token_requests == st0.token_requests + 1 &&
	       stats().unauthenticated == st0.unauthenticated + 2 &&
	       fakesrv_requests(&s) - before == 3 && strlen(tok) > 20 &&
	       !strstr(err.msg, tok + 7),
	       "HTTP 401 UNAUTHENTICATED twice -> one token refresh, then a credential error (transient), token not in the message: %s",
	       err.msg);
	fake_gcp_reject_tokens(f, false);
}

/* ---- faults ---- */

static void test_faults(struct cmek_provider *p, const uint8_t *blob,
			size_t blob_len)
{
	const char *const quick[] = { "timeout", "300ms", "retries", "1",
				      "credentials_file", sa_path, NULL };
	struct cmek_error err = { 0 };
	struct fake_faults ft = { 0 };
	struct cmek_provider *q;
	uint8_t dek[CMEK_DEK_MAX];
	unsigned long before;
	struct timespec t0;
	size_t dl = 0;
	long ms;
	int r;

	/* The 401 rows left no token: get one before counting requests. */
	do_unwrap(p, KEY, &vol, blob, blob_len, dek, &dl, &err);
	ft.status = 503;
	ft.count = 2;
	fakesrv_faults(&s, &ft);
	before = fakesrv_requests(&s);
	r = do_unwrap(p, KEY, &vol, blob, blob_len, dek, &dl, &err);
	tap_ok(!r && dl == 64 && fakesrv_requests(&s) - before == 3,
	       "503 twice then OK: succeeds with %lu requests",
	       fakesrv_requests(&s) - before);

	ft.status = 429;
	ft.count = 1;
	snprintf(ft.body, sizeof(ft.body),
		 "{\"error\":{\"code\":429,\"message\":\"Quota exceeded\",\"status\":\"RESOURCE_EXHAUSTED\"}}");
	snprintf(ft.retry_after, sizeof(ft.retry_after), "1");
	fakesrv_faults(&s, &ft);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = do_unwrap(p, KEY, &vol, blob, blob_len, dek, &dl, &err);
	ms = ms_since(&t0);
	tap_ok(!r && ms >= 1000 && ms < 6000,
	       "429 with Retry-After: 1 -> waited and succeeded (%ld ms)", ms);
	fakesrv_faults(&s, NULL);

	/*
	 * A warm-up call gets q its token. It has the same 300 ms timeout as
	 * the call under test, which a loaded machine can overrun: give it
	 * three tries, so that only the hang below is measured.
	 */
	q = prov(quick);
	r = -1;
	for (int i = 0; q && r && i < 3; i++)
		r = do_unwrap(q, KEY, &vol, blob, blob_len, dek, &dl, &err);
	memset(&ft, 0, sizeof(ft));
	ft.hang = true;
	fakesrv_faults(&s, &ft);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = q && !r ? do_unwrap(q, KEY, &vol, blob, blob_len, dek, &dl, &err) : 0;
	ms = ms_since(&t0);
	fakesrv_faults(&s, NULL);
	tap_ok(r < 0 && err.cls == CMEK_ERR_TRANSIENT && ms >= 600 && ms < 5000,
	       "server that never answers: transient after 2 x 300 ms (%ld ms): %s",
	       ms, err.msg);
	tap_diag("hang -> transient measured in %ld ms (timeout 300ms, retries 1)",
		 ms);

	ft.hang = false;
	ft.close_early = true;
	fakesrv_faults(&s, &ft);
	r = q ? do_unwrap(q, KEY, &vol, blob, blob_len, dek, &dl, &err) : 0;
	fakesrv_faults(&s, NULL);
	tap_ok(r < 0 && err.cls == CMEK_ERR_TRANSIENT,
	       "connection closed without an answer: transient: %s", err.msg);
	cmek_provider_free(q);
}

/* ---- CRC32C integrity ---- */

static void test_integrity(struct cmek_provider *p, const uint8_t *blob,
			   size_t blob_len)
{
	struct cmek_error err = { 0 };
	uint8_t dek[CMEK_DEK_MAX], ref[CMEK_DEK_MAX], *w = NULL;
	struct fake_gcp_stats st0;
	unsigned long before;
	size_t dl = 0, wl = 0;
	int r;

	r = do_unwrap(p, KEY, &vol, blob, blob_len, ref, &dl, &err);
	fake_gcp_corrupt(f, FAKE_GCP_CORRUPT_PLAINTEXT, 1);
	st0 = stats();
	r |= do_unwrap(p, KEY, &vol, blob, blob_len, dek, &dl, &err);
	tap_ok(!r && !memcmp(dek, ref, 64) &&
	       stats().decrypts == st0.decrypts + 2,
	       "plaintext corrupted once: CRC32C mismatch seen, answer discarded, retried, right DEK");
	fake_gcp_corrupt(f, FAKE_GCP_CORRUPT_PLAINTEXT, 5);
	st0 = stats();
	r = do_unwrap(p, KEY, &vol, blob, blob_len, dek, &dl, &err);
	fake_gcp_corrupt(f, FAKE_GCP_CORRUPT_PLAINTEXT, 0);
	tap_ok(r < 0 && err.cls == CMEK_ERR_TRANSIENT &&
	       strstr(err.msg, "plaintextCrc32c does not match") &&
	       stats().decrypts == st0.decrypts + 3,
	       "plaintext corrupted every time: transient after 3 answers: %s",
	       err.msg);

	memset(dek, 3, sizeof(dek));
	fake_gcp_corrupt(f, FAKE_GCP_CORRUPT_CIPHERTEXT_CRC, 1);
	st0 = stats();
	r = do_wrap(p, KEY, &vol, dek, 64, &w, &wl, &err);
	tap_ok(!r && stats().encrypts == st0.encrypts + 2,
	       "ciphertextCrc32c wrong once: encrypt repeated, then accepted");
	free(w);
	w = NULL;
	fake_gcp_corrupt(f, FAKE_GCP_DROP_VERIFIED, 5);
	r = do_wrap(p, KEY, &vol, dek, 64, &w, &wl, &err);
	fake_gcp_corrupt(f, FAKE_GCP_DROP_VERIFIED, 0);
	tap_ok(r < 0 && err.cls == CMEK_ERR_TRANSIENT &&
	       strstr(err.msg, "did not verify the plaintext checksum"),
	       "verifiedPlaintextCrc32c false every time: transient: %s", err.msg);
	fake_gcp_canned(f, 400,
			"{\"error\":{\"code\":400,\"message\":\"The checksum in field ciphertext_crc32c did not match the data in field ciphertext.\",\"status\":\"INVALID_ARGUMENT\"}}",
			1);
	st0 = stats();
	r = do_unwrap(p, KEY, &vol, blob, blob_len, dek, &dl, &err);
	tap_ok(!r && stats().decrypts == st0.decrypts + 1 &&
	       !memcmp(dek, ref, 64),
	       "request checksum refused once (INVALID_ARGUMENT): repeated, then OK");
	fake_gcp_canned(f, 400,
			"{\"error\":{\"code\":400,\"message\":\"The checksum in field ciphertext_crc32c did not match the data in field ciphertext.\",\"status\":\"INVALID_ARGUMENT\"}}",
			5);
	before = fakesrv_requests(&s);
	r = do_unwrap(p, KEY, &vol, blob, blob_len, dek, &dl, &err);
	tap_ok(r < 0 && err.cls == CMEK_ERR_INVALID &&
	       fakesrv_requests(&s) - before == 3 && strstr(err.msg, "checksum"),
	       "request checksum refused every time: invalid after 3 requests: %s",
	       err.msg);
	fake_gcp_canned(f, 0, NULL, 0);
	free(w);
}

/* ---- tokens and credentials ---- */

static void test_tokens(struct cmek_provider *p, const uint8_t *blob,
			size_t blob_len)
{
	struct cmek_error err = { 0 };
	struct fake_gcp_stats st0;
	uint8_t dek[CMEK_DEK_MAX];
	size_t dl;
	int r;

	/* Revoked server side while the provider still trusts it. */
	fake_gcp_expire_tokens(f);
	st0 = stats();
	r = do_unwrap(p, KEY, &vol, blob, blob_len, dek, &dl, &err);
	tap_ok(!r && stats().token_requests == st0.token_requests + 1 &&
	       stats().unauthenticated == st0.unauthenticated + 1,
	       "token expired early: one 401, one refresh (counted: %lu -> %lu), call succeeds",
	       st0.token_requests, stats().token_requests);

	/* A 2-second token is renewed halfway, without a 401. */
	fake_gcp_token_ttl(f, 2);
	fake_gcp_expire_tokens(f);
	r = do_unwrap(p, KEY, &vol, blob, blob_len, dek, &dl, &err);
	st0 = stats();
	r |= do_unwrap(p, KEY, &vol, blob, blob_len, dek, &dl, &err);
	tap_ok(!r && stats().token_requests == st0.token_requests,
	       "short-lived token used while fresh");
	usleep(1200 * 1000);
	r = do_unwrap(p, KEY, &vol, blob, blob_len, dek, &dl, &err);
	tap_ok(!r && stats().token_requests == st0.token_requests + 1 &&
	       stats().unauthenticated == st0.unauthenticated,
	       "token renewed before it expires (no 401): %lu token requests",
	       stats().token_requests);
	fake_gcp_token_ttl(f, 3600);
}

static void test_credentials(const uint8_t *blob, size_t blob_len)
{
	struct cmek_error err = { 0 };
	struct cmek_provider *p;
	struct fake_gcp_stats st0;
	uint8_t dek[CMEK_DEK_MAX];
	char path[400], meta[128], hdr[256], *pem = NULL, *b = NULL;
	const char *kv[7] = { NULL };
	size_t dl = 0;
	FILE *fp;
	int r;

	/* $GOOGLE_APPLICATION_CREDENTIALS */
	setenv("GOOGLE_APPLICATION_CREDENTIALS", sa_path, 1);
	p = prov(NULL);
	st0 = stats();
	r = p ? do_unwrap(p, KEY, &vol, blob, blob_len, dek, &dl, &err) : -1;
	tap_ok(!r && stats().token_requests == st0.token_requests + 1,
	       "credentials from GOOGLE_APPLICATION_CREDENTIALS");
	cmek_provider_free(p);
	chmod(sa_path, 0644);
	p = prov(NULL);
	r = p ? do_unwrap(p, KEY, &vol, blob, blob_len, dek, &dl, &err) : 0;
	tap_ok(r < 0 && err.cls == CMEK_ERR_INVALID && strstr(err.msg, "chmod 600"),
	       "GOOGLE_APPLICATION_CREDENTIALS readable by others: refused: %s",
	       err.msg);
	chmod(sa_path, 0600);
	cmek_provider_free(p);
	unsetenv("GOOGLE_APPLICATION_CREDENTIALS");

	/* Without metadata = yes, the VM's service account is not used. */
	kv[0] = "metadata_endpoint";
	kv[1] = m.url;
	p = prov(kv);
	st0 = stats();
	r = p ? do_unwrap(p, KEY, &vol, blob, blob_len, dek, &dl, &err) : -1;
	tap_ok(r < 0 && err.cls == CMEK_ERR_INVALID &&
	       strstr(err.msg, "metadata = yes") &&
	       stats().metadata_requests == st0.metadata_requests,
	       "no key file and no metadata = yes: refused, metadata server not asked: %s",
	       err.msg);
	cmek_provider_free(p);

	/* The metadata server */
	kv[2] = "metadata";
	kv[3] = "yes";
	p = prov(kv);
	st0 = stats();
	r = p ? do_unwrap(p, KEY, &vol, blob, blob_len, dek, &dl, &err) : -1;
	fakesrv_last_header(&m, "Metadata-Flavor", meta, sizeof(meta));
	fakesrv_last_header(&s, "Authorization", hdr, sizeof(hdr));
	tap_ok(!r && dl == 64 && stats().metadata_requests == st0.metadata_requests + 1 &&
	       stats().token_requests == st0.token_requests &&
	       !strcmp(meta, "Google") && !strncmp(hdr, "Bearer ya29.m.", 14),
	       "no key file: token from the metadata server (Metadata-Flavor: %s), used on KMS calls",
	       meta);
	fake_gcp_metadata_no_sa(f, true);
	cmek_provider_free(p);
	p = prov(kv);
	r = p ? do_unwrap(p, KEY, &vol, blob, blob_len, dek, &dl, &err) : 0;
	tap_ok(r < 0 && err.cls == CMEK_ERR_TRANSIENT && err.credential &&
	       strstr(err.msg, "no service account attached"),
	       "metadata server without a service account: a credential error (transient): %s",
	       err.msg);
	fake_gcp_metadata_no_sa(f, false);
	cmek_provider_free(p);
	kv[1] = "http://127.0.0.1:1";
	p = prov(kv);
	r = p ? do_unwrap(p, KEY, &vol, blob, blob_len, dek, &dl, &err) : 0;
	tap_ok(r < 0 && err.cls == CMEK_ERR_TRANSIENT &&
	       strstr(err.msg, "metadata server"),
	       "metadata server unreachable: transient: %s", err.msg);
	cmek_provider_free(p);

	/* A key the token endpoint does not know (deleted or foreign). */
	snprintf(path, sizeof(path), "%s/foreign.json", dir);
	fake_gcp_write_sa(f, path, token_uri, EMAIL, false);
	kv[0] = "credentials_file";
	kv[1] = path;
	p = prov(kv);
	r = p ? do_unwrap(p, KEY, &vol, blob, blob_len, dek, &dl, &err) : 0;
	fp = fopen(path, "r");
	pem = calloc(1, 8192);
	if (fp && pem && fread(pem, 1, 8191, fp) > 0) {
		/* A line from the middle of the PEM body. */
		b = strstr(pem, "KEY-----\\n");
		if (b && strlen(b) > 80)
			b[80] = '\0';
	}
	if (fp)
		fclose(fp);
	tap_ok(r < 0 && err.cls == CMEK_ERR_TRANSIENT && err.credential &&
	       strstr(err.msg, "invalid_grant") &&
	       strstr(err.msg, "Invalid JWT Signature") &&
	       strstr(err.msg, EMAIL) && b && !strstr(err.msg, b + 10) &&
	       !strstr(err.msg, "PRIVATE KEY") && !strstr(err.msg, "eyJ"),
	       "wrong service-account key: clear message, no key, no assertion: %s",
	       err.msg);
	free(pem);
	cmek_provider_free(p);

	/* A token endpoint that is down. */
	kv[1] = sa_path;
	p = prov(kv);
	{
		struct fake_faults ft = { .status = 503, .count = 3 };

		fakesrv_faults(&s, &ft);
	}
	r = p ? do_unwrap(p, KEY, &vol, blob, blob_len, dek, &dl, &err) : 0;
	fakesrv_faults(&s, NULL);
	tap_ok(r < 0 && err.cls == CMEK_ERR_TRANSIENT &&
	       strstr(err.msg, "refused a token: HTTP 503"),
	       "token endpoint answering 503: transient: %s", err.msg);
	cmek_provider_free(p);

	/* A token endpoint answering nonsense. */
	kv[1] = sa_path;
	p = prov(kv);
	{
		struct fake_faults ft = { .status = 200, .count = 1 };

		snprintf(ft.body, sizeof(ft.body),
			 "{\"access_token\": 5, \"expires_in\": 3599, \"token_type\": \"Bearer\"}");
		fakesrv_faults(&s, &ft);
	}
	r = p ? do_unwrap(p, KEY, &vol, blob, blob_len, dek, &dl, &err) : 0;
	fakesrv_faults(&s, NULL);
	tap_ok(r < 0 && err.cls == CMEK_ERR_TRANSIENT &&
	       strstr(err.msg, "access_token missing or malformed"),
	       "malformed token answer: transient: %s", err.msg);
	cmek_provider_free(p);
}

/* ---- malformed answers ---- */

static void test_malformed(struct cmek_provider *p, const uint8_t *blob,
			   size_t blob_len)
{
	static const char *const dec[] = {
		"this is not JSON",
		"[1, 2, 3]",
		"{\"plaintext\": 5, \"plaintextCrc32c\": \"1\"}",
		"{\"plaintextCrc32c\": \"1\"}",
		"{\"plaintext\": \"!!!notbase64\", \"plaintextCrc32c\": \"1\"}",
		"{\"plaintext\": \"\", \"plaintextCrc32c\": \"0\"}",
		"{\"plaintext\": \"AAAA\", \"plaintextCrc32c\": \"99999999999\"}",
		"{\"plaintext\": \"AAAA\", \"plaintextCrc32c\": -1}",
		"{\"plaintext\": \"AAAA\", \"plaintextCrc32c\": [\"1\"]}",
		"{\"plaintext\": \"AAAA\", \"plaintextCrc32c\": \"1\"} trailing",
	};
	struct cmek_error err = { 0 };
	uint8_t dek[CMEK_DEK_MAX], pt[65], *w = NULL;
	enum cmek_kms_key_state st;
	char body[600], *huge, *p64;
	size_t dl = 0, wl = 0, i, n;
	unsigned int crc;
	bool ok = true;
	int r;

	for (i = 0; i < sizeof(dec) / sizeof(dec[0]); i++) {
		fake_gcp_canned(f, 200, dec[i], 3);
		r = do_unwrap(p, KEY, &vol, blob, blob_len, dek, &dl, &err);
		if (!(r < 0 && err.cls == CMEK_ERR_TRANSIENT)) {
			tap_diag("accepted decrypt answer %s", dec[i]);
			ok = false;
		}
	}
	tap_ok(ok, "%zu malformed decrypt answers (not JSON, wrong types, missing, bad base64, empty, CRC out of range, trailing bytes): transient",
	       i);

	/* 65 bytes, CRC right: a plaintext that is not a data key. */
	memset(pt, 0x5a, sizeof(pt));
	crc = cmek_crc32c(0, pt, sizeof(pt));
	p64 = cmek_b64_encode(pt, sizeof(pt), false);
	snprintf(body, sizeof(body),
		 "{\"plaintext\": \"%s\", \"plaintextCrc32c\": \"%u\"}",
		 p64 ? p64 : "", crc);
	free(p64);
	fake_gcp_canned(f, 200, body, 3);
	r = do_unwrap(p, KEY, &vol, blob, blob_len, dek, &dl, &err);
	tap_ok(r < 0 && err.cls == CMEK_ERR_INVALID &&
	       strstr(err.msg, "65 bytes is not a data key"),
	       "65-byte plaintext: invalid: %s", err.msg);

	n = 900 * 1024;
	huge = malloc(n + 64);
	memcpy(huge, "{\"plaintext\": \"", 15);
	memset(huge + 15, 'A', n);
	strcpy(huge + 15 + n, "\", \"plaintextCrc32c\": \"1\"}");
	fake_gcp_canned(f, 200, huge, 3);
	r = do_unwrap(p, KEY, &vol, blob, blob_len, dek, &dl, &err);
	tap_ok(r < 0 && err.cls == CMEK_ERR_TRANSIENT && strstr(err.msg, "too long"),
	       "900 KiB plaintext: transient: %s", err.msg);
	huge[15 + 200] = '\0';
	fake_gcp_canned(f, 200, "{\"plaintext\": \"Zm9v\", \"plaintextCrc32c\": \"1\", \"x\": \"", 3);
	free(huge);
	r = do_unwrap(p, KEY, &vol, blob, blob_len, dek, &dl, &err);
	tap_ok(r < 0 && err.cls == CMEK_ERR_TRANSIENT,
	       "truncated JSON: transient: %s", err.msg);

	memset(dek, 9, sizeof(dek));
	snprintf(body, sizeof(body),
		 "{\"name\": \"%s/cryptoKeyVersions/1\", \"ciphertext\": \"AAAA\", \"ciphertextCrc32c\": \"1214729159\", "
		 "\"verifiedPlaintextCrc32c\": true, \"verifiedAdditionalAuthenticatedDataCrc32c\": true}",
		 KEY2);
	fake_gcp_canned(f, 200, body, 3);
	r = do_wrap(p, KEY, &vol, dek, 64, &w, &wl, &err);
	tap_ok(r < 0 && err.cls == CMEK_ERR_TRANSIENT &&
	       strstr(err.msg, "another key version"),
	       "encrypt answer naming another key: transient: %s", err.msg);
	snprintf(body, sizeof(body),
		 "{\"name\": \"%s/cryptoKeyVersions/1\", \"ciphertext\": \"AAAA\", \"ciphertextCrc32c\": \"1214729159\", "
		 "\"verifiedPlaintextCrc32c\": \"yes\", \"verifiedAdditionalAuthenticatedDataCrc32c\": true}",
		 KEY);
	fake_gcp_canned(f, 200, body, 3);
	r = do_wrap(p, KEY, &vol, dek, 64, &w, &wl, &err);
	fake_gcp_canned(f, 200, "{\"name\": \"" KEY "/cryptoKeyVersions/1\"}", 3);
	r = r < 0 && err.cls == CMEK_ERR_TRANSIENT ?
	    do_wrap(p, KEY, &vol, dek, 64, &w, &wl, &err) : 0;
	tap_ok(r < 0 && err.cls == CMEK_ERR_TRANSIENT &&
	       strstr(err.msg, "ciphertext is missing"),
	       "encrypt answers with a string for a bool, without ciphertext: transient: %s",
	       err.msg);

	fake_gcp_canned(f, 200, "{\"name\": \"" KEY "\", \"primary\": {\"state\": \"BOGUS\"}}", 1);
	r = do_state(p, KEY, &st, &err);
	ok = r < 0 && err.cls == CMEK_ERR_TRANSIENT;
	/* The KMS's own word on the key: not one that encrypts. */
	fake_gcp_canned(f, 200, "{\"name\": \"" KEY "\", \"purpose\": \"ASYMMETRIC_SIGN\", \"primary\": {\"state\": \"ENABLED\"}}", 1);
	r = do_state(p, KEY, &st, &err);
	ok = ok && r < 0 && err.cls == CMEK_ERR_INVALID;
	fake_gcp_canned(f, 200, "{\"name\": \"" KEY2 "\", \"primary\": {\"state\": \"ENABLED\"}}", 1);
	r = do_state(p, KEY, &st, &err);
	tap_ok(ok && r < 0 && err.cls == CMEK_ERR_TRANSIENT,
	       "CryptoKey answers with an unknown state, another key: transient; a signing key: invalid");
	fake_gcp_canned(f, 0, NULL, 0);
}

/* ---- answers of the documented shape, from tests/kms/data/gcp_kms ---- */

static void test_recorded(struct cmek_provider *p)
{
	static const struct {
		const char *file;
		int http;
		enum cmek_err_class cls;
	} errs[] = {
		{ "error-permission-denied.json", 403, CMEK_ERR_DEFINITIVE },
		{ "error-failed-precondition.json", 400, CMEK_ERR_DEFINITIVE },
		{ "error-invalid-argument.json", 400, CMEK_ERR_INVALID },
		{ "error-resource-exhausted.json", 429, CMEK_ERR_TRANSIENT },
		{ "error-unavailable.json", 503, CMEK_ERR_TRANSIENT },
	};
	struct cmek_error err = { 0 };
	enum cmek_kms_key_state st = CMEK_KMS_UNKNOWN;
	uint8_t dek[CMEK_DEK_MAX], *w = NULL, blob[8] = { 0, 0, 0, 1 };
	size_t dl = 0, wl = 0, i;
	bool ok = true, in_order = true;
	char *body;
	int r;

	body = slurp("encrypt-response.json");
	fake_gcp_canned(f, 200, body, 1);
	memset(dek, 1, sizeof(dek));
	r = body ? do_wrap(p, KEY, &vol, dek, 64, &w, &wl, &err) : -1;
	{
		char name[600] = "";
		const uint8_t *c = NULL;
		size_t cl = 0;

		r = r ? r : cmek_slot_unprefix(w, wl, name, sizeof(name), &c,
					       &cl) != 1;
		tap_ok(!r && cl == 113 && c[0] == 0x0a && c[cl - 1] == 0xef &&
		       !strcmp(name, KEY "/cryptoKeyVersions/1"),
		       "recorded EncryptResponse: ciphertext taken as is (%zu bytes), after the version it names %s",
		       cl, err.msg);
	}
	free(body);
	free(w);

	body = slurp("decrypt-response.json");
	fake_gcp_canned(f, 200, body, 1);
	r = body ? do_unwrap(p, KEY, &vol, blob, sizeof(blob), dek, &dl, &err) : -1;
	for (i = 0; i < 64; i++)
		in_order &= dek[i] == i;
	tap_ok(!r && dl == 64 && in_order,
	       "recorded DecryptResponse: 64-byte plaintext, CRC32C verified %s",
	       err.msg);
	free(body);

	body = slurp("cryptokey-get.json");
	fake_gcp_canned(f, 200, body, 1);
	r = body ? do_state(p, KEY, &st, &err) : -1;
	tap_ok(!r && st == CMEK_KMS_ENABLED, "recorded CryptoKey: primary ENABLED");
	free(body);

	for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		body = slurp(errs[i].file);
		fake_gcp_canned(f, errs[i].http, body, 5);
		r = body ? do_unwrap(p, KEY, &vol, blob, sizeof(blob), dek,
				     &dl, &err) : 0;
		if (!(r < 0 && err.cls == errs[i].cls)) {
			tap_diag("%s: %s", errs[i].file, err.msg);
			ok = false;
		}
		free(body);
	}
	fake_gcp_canned(f, 0, NULL, 0);
	tap_ok(ok, "recorded google.rpc.Status errors classified as in the table");
}

#define KEY3	"projects/cmek-test/locations/europe-west1/keyRings/cmek-ring/cryptoKeys/slots"

/*
 * A slot wrapped under version 1; version 2 becomes primary and version 1
 * is disabled: the key (its primary) is enabled, the slot's own version is
 * what slot_state asks about, and it says disabled, then destroyed.
 */
static void test_slot_object(struct cmek_provider *p)
{
	struct cmek_error err = { 0 };
	enum cmek_kms_key_state st = CMEK_KMS_UNKNOWN, kst = CMEK_KMS_UNKNOWN;
	uint8_t dek[CMEK_DEK_MAX], out[CMEK_DEK_MAX], *w = NULL;
	size_t wl = 0, dl = 0, cl = 0;
	char id[CMEK_ERRMSG_MAX], name[600];
	const uint8_t *c = NULL;
	struct fake_gcp_stats s0, s1;
	bool ok;

	memset(dek, 7, sizeof(dek));
	ok = !fake_gcp_add_key(f, KEY3) &&
	     !do_wrap(p, KEY3, &vol, dek, 64, &w, &wl, &err);
	cmek_slot_key("gcp-kms", KEY3, w, wl, id, sizeof(id));
	tap_ok(ok && !strcmp(id, KEY3 "/cryptoKeyVersions/1"),
	       "the slot records the version encrypt used (%s) %s", id,
	       err.msg);

	ok = fake_gcp_add_version(f, KEY3, true) == 2 &&
	     !fake_gcp_set_state(f, KEY3, 1, "DISABLED");
	fake_gcp_stats(f, &s0);
	ok = ok && !do_state(p, KEY3, &kst, &err) && kst == CMEK_KMS_ENABLED &&
	     !p->ops->slot_state(p, id, &st, &err) && st == CMEK_KMS_DISABLED;
	fake_gcp_stats(f, &s1);
	tap_ok(ok && s1.gets == s0.gets + 2,
	       "version 2 primary, version 1 disabled: the key says %s, the slot's version %s %s",
	       cmek_kms_key_state_name(kst), cmek_kms_key_state_name(st),
	       err.msg);
	ok = !fake_gcp_set_state(f, KEY3, 1, "DESTROY_SCHEDULED") &&
	     !p->ops->slot_state(p, id, &st, &err) &&
	     st == CMEK_KMS_PENDING_DELETION &&
	     !fake_gcp_set_state(f, KEY3, 1, "DESTROYED") &&
	     !p->ops->slot_state(p, id, &st, &err) && st == CMEK_KMS_DELETED &&
	     !p->ops->slot_state(p, KEY3 "/cryptoKeyVersions/9", &st, &err) &&
	     st == CMEK_KMS_DELETED;
	tap_ok(ok, "the slot's version destroy-scheduled, destroyed, unknown: pending-deletion, deleted, deleted %s",
	       err.msg);
	tap_ok(p->ops->slot_state(p, KEY3, &st, &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID,
	       "slot_state of something that is no version: invalid: %s",
	       err.msg);

	/* A ciphertext from before the prefix: unwraps, names no version. */
	fake_gcp_set_state(f, KEY3, 1, "ENABLED");
	free(w);
	w = NULL;
	err.msg[0] = '\0';
	ok = !do_wrap(p, KEY3, &vol, dek, 64, &w, &wl, &err) &&
	     cmek_slot_unprefix(w, wl, name, sizeof(name), &c, &cl) == 1 &&
	     !strcmp(name, KEY3 "/cryptoKeyVersions/2");
	if (ok) {
		memmove(w, c, cl);
		wl = cl;
	}
	cmek_slot_key("gcp-kms", KEY3, w, wl, id, sizeof(id));
	ok = ok && !id[0] && !do_unwrap(p, KEY3, &vol, w, wl, out, &dl, &err) &&
	     dl == 64 && !memcmp(out, dek, 64);
	tap_ok(ok, "a bare Cloud KMS ciphertext (older slot) still unwraps and names no version %s",
	       err.msg);
	free(w);
}

int main(void)
{
	struct cmek_provider *p;
	uint8_t *blob = NULL;
	size_t blob_len = 0;
	const char *kv[3];

	tap_plan(84);
	unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
	f = fake_gcp_new();
	if (!f || !mkdtemp(dir) ||
	    fakesrv_start(&s, dir, fake_gcp_handler, f) ||
	    fakesrv_start_plain(&m, dir, fake_gcp_metadata, f))
		return 1;
	snprintf(token_uri, sizeof(token_uri), "%s/token", s.url);
	snprintf(sa_path, sizeof(sa_path), "%s/sa.json", dir);
	if (fake_gcp_write_sa(f, sa_path, token_uri, EMAIL, true) ||
	    fake_gcp_add_key(f, KEY) || fake_gcp_add_key(f, KEY2))
		return 1;

	test_config();
	kv[0] = "credentials_file";
	kv[1] = sa_path;
	kv[2] = NULL;
	p = prov(kv);
	if (!p)
		return 1;
	test_round_trip(p, &blob, &blob_len);
	test_rotation(p, blob, blob_len);
	test_states(p, blob, blob_len);
	test_error_rows(p, blob, blob_len);
	test_faults(p, blob, blob_len);
	test_integrity(p, blob, blob_len);
	test_tokens(p, blob, blob_len);
	test_credentials(blob, blob_len);
	test_malformed(p, blob, blob_len);
	test_recorded(p);
	test_slot_object(p);

	tap_ok(all_msgs && !strstr(all_msgs, "ya29.") &&
	       !strstr(all_msgs, "BEGIN PRIVATE") && !strstr(all_msgs, "eyJ") &&
	       !strstr(all_msgs, "Bearer"),
	       "no token, private key or JWT in any of %zu bytes of error messages",
	       all_len);
	cmek_provider_free(p);
	free(blob);
	free(all_msgs);
	fakesrv_stop(&m);
	fakesrv_stop(&s);
	fake_gcp_free(f);
	return tap_done();
}
