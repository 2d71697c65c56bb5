// SPDX-License-Identifier: GPL-2.0
/*
 * The aws-kms provider, three ways:
 *
 *  1. its parsers, fed the API reference's recorded answers
 *     (tests/kms/data/aws_kms/) and every row of the error table;
 *  2. against tests/kms/fake_aws.c (TLS, SigV4 checked, key states, faults
 *     moto cannot make: Decrypt refused under a disabled key, throttling,
 *     5xx, hangs, XML auth errors, malformed answers) and its fake IMDSv2;
 *  3. against moto_server, a third-party AWS implementation, over TLS with
 *     signature checking on. A missing or dead moto_server is a failure.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "aws_kms.h"
#include "b64.h"
#include "http.h"
#include "provider.h"
#include "../kms/fake_aws.h"
#include "../kms/fakesrv.h"
#include "../lib/tap.h"

#define DATA		"tests/kms/data/aws_kms/"
#define AKID		"AKIAIOSFODNN7EXAMPLE"
#define SECRET		"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define STS_AKID	"ASIAIOSFODNN7EXAMPLE"
#define STS_SECRET	"je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"
#define STS_TOKEN	"IQoJb3JpZ2luX2VjEXAMPLETOKENAQoJb3JpZ2luX2VjEXAMPLETOKEN"
#define MOTO_SHIM	"/root/.pyenv/shims/moto_server"
#define MOTO_START_MS	60000	/* measured 0.5-1.3 s here; python, cold CI */

static char dir[] = "/tmp/cmek-test-aws-XXXXXX";
static const struct cmek_binding vol = { "0f8a3e7c-1b2d-4c5e-9f60-123456789abc" };
static const struct cmek_binding vol2 = { "11111111-2222-4333-8444-555555555555" };

static long ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 +
	       (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (!fseek(f, 0, SEEK_END) && (n = ftell(f)) >= 0 &&
	    !fseek(f, 0, SEEK_SET)) {
		buf = calloc(1, (size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
	}
	fclose(f);
	return buf;
}

static int write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fchmod(fileno(f), mode);
	fputs(text, f);
	return fclose(f);
}

static void clear_env(void)
{
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_REGION");
	unsetenv("AWS_DEFAULT_REGION");
}

/* A provider from "key", "value", ... NULL; NULL and a diag on failure. */
static struct cmek_provider *prov(const char *const *kv)
{
	struct cmek_error err = { 0 };
	struct cmek_provider *p = cmek_provider_new("aws-kms", &err);

	for (; p && kv && kv[0]; kv += 2)
		if (p->ops->configure(p, kv[0], kv[1], &err)) {
			tap_diag("configure %s: %s", kv[0], err.msg);
			cmek_provider_free(p);
			return NULL;
		}
	return p;
}

static const char *cls_name(enum cmek_err_class c)
{
	return c == CMEK_ERR_DEFINITIVE ? "definitive" :
	       c == CMEK_ERR_TRANSIENT ? "transient" :
	       c == CMEK_ERR_INVALID ? "invalid" : "none";
}

/* generate + unwrap; 0 if the DEK came back. */
static int round_trip(struct cmek_provider *p, const char *gen_ref,
		      const char *unwrap_ref, struct cmek_error *err)
{
	uint8_t dek[CMEK_DEK_MAX], out[CMEK_DEK_MAX], *w = NULL;
	size_t wl = 0, ol = 0;
	int ret = -1;

	if (p->ops->generate(p, gen_ref, &vol, dek, 64, &w, &wl, err))
		return -1;
	if (!p->ops->unwrap(p, unwrap_ref, &vol, w, wl, out, &ol, err) &&
	    ol == 64 && !memcmp(dek, out, 64))
		ret = 0;
	free(w);
	return ret;
}

/* ---- 1. parsers ---- */

static void test_parsers(void)
{
	static const char *const good[][2] = {
		{ "arn:aws:kms:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", "us-east-2" },
		{ "arn:aws:kms:eu-west-1:111122223333:alias/cmek/prod", "eu-west-1" },
		{ "arn:aws-cn:kms:cn-north-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab", "cn-north-1" },
		{ "1234abcd-12ab-34cd-56ef-1234567890ab", "" },
		{ "mrk-1234abcd12ab34cd56ef1234567890ab", "" },
		{ "alias/ExampleAlias", "" },
	};
	static const char *const bad[] = {
		"", "alias/", "1234abcd", "arn:aws:s3:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"arn:aws:kms::111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"arn:aws:kms:us-east-1:1111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"arn:aws:kms:us-east-1:111122223333:key/nope",
		"alias/a b", "alias/\"x", "1234abcd-12ab-34cd-56ef-1234567890ab\n",
	};
	static const char *const states[][2] = {
		{ "Enabled", "enabled" }, { "Updating", "enabled" },
		{ "Disabled", "disabled" }, { "PendingImport", "disabled" },
		{ "PendingDeletion", "pending-deletion" },
		{ "PendingReplicaDeletion", "pending-deletion" },
		{ "Unavailable", "unknown" }, { "Creating", "unknown" },
	};
	static const char *const docs[][2] = {
		{ DATA "describe_key.json", "enabled" },
		{ DATA "describe_key_disabled.json", "disabled" },
		{ DATA "describe_key_pending_deletion.json", "pending-deletion" },
	};
	struct cmek_error err = { 0 };
	enum cmek_kms_key_state st;
	char region[40], *body;
	bool ok = true;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (cmek_aws_kms_key_ref(good[i][0], region, sizeof(region),
					 &err) || strcmp(region, good[i][1])) {
			tap_diag("%s: %s", good[i][0], err.msg);
			ok = false;
		}
	tap_ok(ok, "key refs: key/alias ARN (region taken), key id, mrk id, alias/NAME");
	ok = true;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (!cmek_aws_kms_key_ref(bad[i], region, sizeof(region), &err) ||
		    err.cls != CMEK_ERR_INVALID) {
			tap_diag("accepted: '%s'", bad[i]);
			ok = false;
		}
	tap_ok(ok, "malformed key refs refused as invalid: %s", err.msg);
	ok = true;
	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		if (cmek_aws_kms_key_state_parse(states[i][0], &st) ||
		    strcmp(cmek_kms_key_state_name(st), states[i][1])) {
			tap_diag("KeyState %s", states[i][0]);
			ok = false;
		}
	tap_ok(ok && cmek_aws_kms_key_state_parse("Exploded", &st) < 0,
	       "all 8 KeyStates mapped, an unknown one refused");
	ok = true;
	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		body = slurp(docs[i][0]);
		if (!body || cmek_aws_kms_describe_parse(body, strlen(body), &st,
							 &err) ||
		    strcmp(cmek_kms_key_state_name(st), docs[i][1])) {
			tap_diag("%s: %s", docs[i][0], body ? err.msg : "missing");
			ok = false;
		}
		free(body);
	}
	tap_ok(ok, "DescribeKey answers from the API reference parsed");
	tap_ok(cmek_aws_kms_describe_parse("{\"KeyMetadata\":{}}", 18, &st,
					   &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT &&
	       cmek_aws_kms_describe_parse("{\"KeyMetadata\":{\"KeyState\":7}}",
					   30, &st, &err) < 0 &&
	       cmek_aws_kms_describe_parse("[1]", 3, &st, &err) < 0 &&
	       cmek_aws_kms_describe_parse("{\"KeyMetadata\":{\"KeyState\":\"Enabled\"}} x",
					   40, &st, &err) < 0,
	       "malformed DescribeKey answers transient (no answer that counts): %s", err.msg);
}

/* ---- 2. the fake ---- */

struct env {
	struct fakesrv s;
	struct fake_aws f;
	char secret_file[300];
	char url[64];
};

static struct cmek_provider *fake_prov(struct env *e, const char *k1,
				       const char *v1, const char *k2,
				       const char *v2)
{
	const char *kv[] = {
		"endpoint", e->s.url, "ca_file", e->s.ca_file,
		"region", "us-east-1", "timeout", "2s",
		"connect_timeout", "1s", "retries", "2",
		"retry_backoff", "20ms", "deadline", "10s",
		"imds", "no",
		k1, v1, k2, v2, NULL,
	};

	return prov(kv);
}

static struct cmek_provider *fake_std(struct env *e)
{
	return fake_prov(e, "access_key_id", AKID, "secret_access_key_file",
			 e->secret_file);
}

/* The decoded base64 member @key of the JSON file @name, or NULL. */
static uint8_t *doc_b64(const char *name, const char *key, size_t *n)
{
	struct json_object *o = json_object_from_file(name), *v;
	uint8_t *b = NULL;

	if (o && json_object_object_get_ex(o, key, &v))
		b = cmek_b64_decode(json_object_get_string(v),
				    (size_t)json_object_get_string_len(v),
				    false, n);
	json_object_put(o);
	return b;
}

/* The API reference's example answers, fed through the whole provider. */
/* The API reference's example answers name these keys (KeyId). */
#define DOC_ARN1_E2 "arn:aws:kms:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
#define DOC_ARN1_W2 "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
#define DOC_ARN2_E2 "arn:aws:kms:us-east-2:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321"

/* @w is the KMS's ciphertext @ct with the key ARN @arn in front. */
static bool sealed_as(const uint8_t *w, size_t wl, const char *arn,
		      const uint8_t *ct, size_t n)
{
	char name[256];
	const uint8_t *c;
	size_t cl;

	return cmek_slot_unprefix(w, wl, name, sizeof(name), &c, &cl) == 1 &&
	       !strcmp(name, arn) && cl == n && !memcmp(c, ct, n);
}

/* The fake's key version inside a slot, prefix or not. */
static int blob_version(const uint8_t *w, size_t wl)
{
	char name[256];
	const uint8_t *c;
	size_t cl;

	if (cmek_slot_unprefix(w, wl, name, sizeof(name), &c, &cl) < 0)
		return -1;
	return fake_aws_blob_version(c, cl);
}

static void test_doc_answers(struct env *e, int k)
{
	struct cmek_provider *p = fake_std(e);
	struct cmek_error err = { 0 };
	uint8_t dek[CMEK_DEK_MAX], out[CMEK_DEK_MAX], *w = NULL, *want, *pt;
	size_t wl = 0, ol = 0, n = 0, m = 0;
	const char *ref = e->f.keys[k].arn;
	char *body;
	bool ok = p != NULL;

	body = slurp(DATA "generate_data_key.json");
	fake_aws_canned(&e->f, 1, 200, NULL, body);
	want = doc_b64(DATA "generate_data_key.json", "CiphertextBlob", &n);
	pt = doc_b64(DATA "generate_data_key.json", "Plaintext", &m);
	ok = ok && body && want && pt && m == 64 &&
	     !p->ops->generate(p, ref, &vol, dek, 64, &w, &wl, &err) &&
	     sealed_as(w, wl, DOC_ARN1_E2, want, n) &&
	     !memcmp(dek, pt, 64);
	free(body);
	free(want);
	free(pt);
	free(w);
	w = NULL;

	body = slurp(DATA "decrypt.json");
	fake_aws_canned(&e->f, 1, 200, NULL, body);
	pt = doc_b64(DATA "decrypt.json", "Plaintext", &m);
	ok = ok && body && pt &&
	     !p->ops->unwrap(p, ref, &vol, (const uint8_t *)"x", 1, out, &ol,
			     &err) && ol == m && !memcmp(out, pt, m);
	free(body);
	free(pt);

	body = slurp(DATA "encrypt.json");
	fake_aws_canned(&e->f, 1, 200, NULL, body);
	want = doc_b64(DATA "encrypt.json", "CiphertextBlob", &n);
	ok = ok && body && want &&
	     !p->ops->wrap(p, ref, &vol, dek, 64, &w, &wl, &err) &&
	     sealed_as(w, wl, DOC_ARN1_W2, want, n);
	free(body);
	free(want);

	body = slurp(DATA "reencrypt.json");
	fake_aws_canned(&e->f, 1, 200, NULL, body);
	want = doc_b64(DATA "reencrypt.json", "CiphertextBlob", &n);
	free(w);
	w = NULL;
	ok = ok && body && want &&
	     !p->ops->rewrap(p, ref, "alias/cmek-two", &vol,
			     (const uint8_t *)"x", 1, &w, &wl, &err) &&
	     sealed_as(w, wl, DOC_ARN2_E2, want, n);
	free(body);
	free(want);
	free(w);
	fake_aws_canned(&e->f, 0, 0, NULL, NULL);
	tap_ok(ok, "API reference answers of GenerateDataKey, Decrypt, Encrypt, ReEncrypt parsed: %s",
	       ok ? "" : err.msg);
	cmek_provider_free(p);
}

static void test_roundtrips(struct env *e, int k1, int k2)
{
	struct cmek_provider *p = fake_std(e);
	struct cmek_error err = { 0 };
	uint8_t dek[CMEK_DEK_MAX], out[CMEK_DEK_MAX], *w = NULL, *w2 = NULL;
	size_t wl = 0, wl2 = 0, ol = 0;
	char auth[512], target[64], *b64;
	struct timespec t0;
	unsigned long re;
	bool ok;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ok = p && p->ops->generate(p, e->f.keys[k1].arn, &vol, dek, 64, &w,
				   &wl, &err) == 0 &&
	     p->ops->unwrap(p, e->f.keys[k1].arn, &vol, w, wl, out, &ol,
			    &err) == 0 &&
	     ol == 64 && !memcmp(dek, out, 64);
	ms = ms_since(&t0);
	tap_ok(ok, "GenerateDataKey 64 bytes, Decrypt round trip (%ld ms for both): %s",
	       ms, ok ? "" : err.msg);
	fakesrv_last_header(&e->s, "Authorization", auth, sizeof(auth));
	fakesrv_last_header(&e->s, "X-Amz-Target", target, sizeof(target));
	pthread_mutex_lock(&e->s.lock);
	tap_ok(!strncmp(auth, "AWS4-HMAC-SHA256 Credential=" AKID "/", 29 + 20) &&
	       strstr(auth, "/us-east-1/kms/aws4_request") &&
	       strstr(auth, "x-amz-target") &&
	       !strcmp(target, "TrentService.Decrypt") &&
	       strstr(e->s.last.body, "\"EncryptionContext\":{\"cmek:volume\":\"0f8a3e7c-1b2d-4c5e-9f60-123456789abc\"}") &&
	       strstr(e->s.last.body, "\"KeyId\":\"arn:aws:kms:us-east-1:") &&
	       e->f.auth_failures == 0,
	       "request: SigV4 (verified by the fake), TrentService.Decrypt, KeyId, encryption context");
	pthread_mutex_unlock(&e->s.lock);
	err.msg[0] = '\0';
	tap_ok(p && p->ops->unwrap(p, e->f.keys[k1].arn, &vol2, w, wl, out,
				   &ol, &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID &&
	       strstr(err.msg, "InvalidCiphertextException"),
	       "bound to the volume: another volume's context is invalid: %s",
	       err.msg);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 10 && p; i++)
		p->ops->unwrap(p, e->f.keys[k1].arn, &vol, w, wl, out, &ol,
			       &err);
	ms = ms_since(&t0);
	tap_diag("unwrap against the fake: %ld ms each (TLS handshake included)",
		 ms / 10);

	/* rotation: ReEncrypt under the same key's newest version */
	fake_aws_key_rotate(&e->f, k1);
	re = fake_aws_ops(&e->f, FAKE_AWS_REENCRYPT);
	b64 = cmek_b64_encode(dek, 64, false);
	err.msg[0] = '\0';
	tap_ok(p && p->ops->rewrap(p, e->f.keys[k1].arn, e->f.keys[k1].arn,
				   &vol, w, wl, &w2, &wl2, &err) == 0 &&
	       blob_version(w, wl) == 1 && blob_version(w2, wl2) == 2 &&
	       fake_aws_ops(&e->f, FAKE_AWS_REENCRYPT) == re + 1 &&
	       p->ops->unwrap(p, e->f.keys[k1].arn, &vol, w2, wl2, out, &ol,
			      &err) == 0 && !memcmp(out, dek, 64),
	       "rewrap to the rotated key's new version (ReEncrypt) round trips: %s",
	       err.msg);
	pthread_mutex_lock(&e->s.lock);
	tap_ok(!e->f.plaintext_in_reencrypt && b64 &&
	       !strstr(e->s.last.body, b64) && !strstr(e->s.last.body, "Plaintext"),
	       "ReEncrypt request carried no plaintext");
	pthread_mutex_unlock(&e->s.lock);
	free(w2);
	w2 = NULL;

	/* another key, named by alias */
	tap_ok(p && p->ops->rewrap(p, e->f.keys[k1].arn, "alias/cmek-two",
				   &vol, w, wl, &w2, &wl2, &err) == 0 &&
	       p->ops->unwrap(p, "alias/cmek-two", &vol, w2, wl2, out, &ol,
			      &err) == 0 && !memcmp(out, dek, 64) &&
	       p->ops->unwrap(p, e->f.keys[k1].arn, &vol, w2, wl2, out, &ol,
			      &err) < 0 && err.cls == CMEK_ERR_INVALID &&
	       strstr(err.msg, "cannot name"),
	       "rewrap to another key (alias) round trips; the old key is refused: %s",
	       err.msg);
	free(w2);
	w2 = NULL;

	/* wrap() of a given DEK: Encrypt */
	memset(dek, 0x5a, 32);
	err.msg[0] = '\0';
	tap_ok(p && p->ops->wrap(p, e->f.keys[k2].id, &vol, dek, 32, &w2, &wl2,
				 &err) == 0 &&
	       p->ops->unwrap(p, e->f.keys[k2].id, &vol, w2, wl2, out, &ol,
			      &err) == 0 && ol == 32 && !memcmp(out, dek, 32),
	       "wrap (Encrypt) of a 32-byte DEK by key id round trips: %s",
	       err.msg);
	free(b64);
	free(w);
	free(w2);
	cmek_provider_free(p);
}

/*
 * A slot made through an alias records the key the alias named then; the
 * alias moves to another key and the old one is disabled: the watch's
 * question (slot_key, slot_state) is about the old key, and says
 * disabled while the alias's new target is enabled.
 */
static void test_slot_object(struct env *e)
{
	struct cmek_provider *p = fake_std(e);
	struct cmek_error err = { 0 };
	enum cmek_kms_key_state st = CMEK_KMS_UNKNOWN, ast = CMEK_KMS_UNKNOWN;
	uint8_t dek[CMEK_DEK_MAX], out[CMEK_DEK_MAX], *w = NULL, *w2 = NULL;
	size_t wl = 0, wl2 = 0, ol = 0, cl = 0;
	char id[CMEK_ERRMSG_MAX], name[256];
	const uint8_t *c = NULL;
	unsigned long dk;
	int a, b;
	bool ok;

	a = fake_aws_key_add(&e->f, "alias/cmek-moving", NULL);
	b = fake_aws_key_add(&e->f, NULL, NULL);
	ok = p && a >= 0 && b >= 0 &&
	     !p->ops->generate(p, "alias/cmek-moving", &vol, dek, 64, &w, &wl,
			       &err);
	cmek_slot_key("aws-kms", "alias/cmek-moving", w, wl, id, sizeof(id));
	tap_ok(ok && !strcmp(id, e->f.keys[a].arn),
	       "GenerateDataKey through an alias: the slot records the key ARN it named (%s) %s",
	       id, err.msg);

	/* The alias moves to key b; key a, which the slot needs, is disabled. */
	snprintf(e->f.keys[b].alias, sizeof(e->f.keys[b].alias), "%s",
		 "alias/cmek-moving");
	e->f.keys[a].alias[0] = '\0';
	ok = p && !p->ops->unwrap(p, "alias/cmek-moving", &vol, w, wl, out,
				  &ol, &err) && ol == 64 && !memcmp(out, dek, 64);
	pthread_mutex_lock(&e->s.lock);
	ok = ok && strstr(e->s.last.body, e->f.keys[a].arn) &&
	     !strstr(e->s.last.body, "alias/cmek-moving");
	pthread_mutex_unlock(&e->s.lock);
	tap_ok(ok, "the alias moved to another key: the slot still unwraps, Decrypt names the key ARN it records %s",
	       err.msg);
	/* The recorded ARN is the disk's word: it must fit the reference. */
	{
		static const char *const forged[] = {
			"arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab",
			"arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		};
		static const char *const refs[] = {
			"arn:aws:kms:us-east-1:111122223333:alias/cmek-moving",
			"alias/cmek-moving",
		};
		unsigned long dec = fake_aws_ops(&e->f, FAKE_AWS_DECRYPT);
		uint8_t *fw;
		size_t fl, i, j;

		ok = p && cmek_slot_unprefix(w, wl, name, sizeof(name), &c,
					     &cl) == 1;
		for (i = 0; ok && i < 2; i++) {
			fw = cmek_slot_prefix(forged[i], c, cl, &fl);
			/* alias/NAME says no account: allow_keys does. */
			for (j = 0; fw && j < 2 - !i; j++)
				ok = ok && p->ops->unwrap(p, refs[j], &vol, fw,
							  fl, out, &ol,
							  &err) < 0 &&
				     err.cls == CMEK_ERR_INVALID &&
				     strstr(err.msg, "cannot name");
			ok = ok && fw;
			free(fw);
		}
		tap_ok(ok && fake_aws_ops(&e->f, FAKE_AWS_DECRYPT) == dec,
		       "a slot recording a key of another account (alias ARN) or region is refused before any Decrypt: %s",
		       err.msg);
	}
	fake_aws_key_set(&e->f, a, "Disabled", false, false);
	dk = fake_aws_ops(&e->f, FAKE_AWS_DESCRIBE);
	ok = p && !p->ops->key_state(p, "alias/cmek-moving", &ast, &err) &&
	     ast == CMEK_KMS_ENABLED &&
	     !p->ops->slot_state(p, id, &st, &err) &&
	     st == CMEK_KMS_DISABLED &&
	     fake_aws_ops(&e->f, FAKE_AWS_DESCRIBE) == dk + 2;
	tap_ok(ok, "alias moved to an enabled key, the slot's key disabled: the alias says %s, the slot's key (one DescribeKey) %s %s",
	       cmek_kms_key_state_name(ast), cmek_kms_key_state_name(st),
	       err.msg);
	fake_aws_key_set(&e->f, a, "PendingDeletion", false, false);
	ok = p && !p->ops->slot_state(p, id, &st, &err) &&
	     st == CMEK_KMS_PENDING_DELETION;
	fake_aws_key_set(&e->f, a, "Enabled", false, true);
	ok = ok && !p->ops->slot_state(p, id, &st, &err) &&
	     st == CMEK_KMS_DELETED;
	tap_ok(ok, "the slot's key pending deletion, then deleted: slot_state says so");
	fake_aws_key_set(&e->f, a, "Enabled", false, false);

	/* A blob from before the prefix: unwraps, checked by key reference. */
	err.msg[0] = '\0';
	ok = p && !p->ops->wrap(p, e->f.keys[b].arn, &vol, dek, 64, &w2, &wl2,
				&err) &&
	     cmek_slot_unprefix(w2, wl2, name, sizeof(name), &c, &cl) == 1;
	if (ok) {
		memmove(w2, c, cl);
		wl2 = cl;
	}
	cmek_slot_key("aws-kms", e->f.keys[b].arn, w2, wl2, id, sizeof(id));
	ok = ok && !id[0] &&
	     !p->ops->unwrap(p, e->f.keys[b].arn, &vol, w2, wl2, out, &ol,
			     &err) && ol == 64 && !memcmp(out, dek, 64) &&
	     !p->ops->key_state(p, e->f.keys[b].arn, &st, &err) &&
	     st == CMEK_KMS_ENABLED;
	tap_ok(ok, "a raw CiphertextBlob (older slot) still unwraps, names no object, key_state as before %s",
	       err.msg);
	w[0] ^= 1;
	cmek_slot_key("aws-kms", "alias/cmek-moving", w, wl, id, sizeof(id));
	tap_ok(!id[0] && p &&
	       p->ops->unwrap(p, "alias/cmek-moving", &vol, w, wl, out, &ol,
			      &err) < 0 && err.cls == CMEK_ERR_INVALID,
	       "a damaged prefix names no object and does not unwrap (invalid): %s",
	       err.msg);
	free(w);
	free(w2);
	cmek_provider_free(p);
}

static void test_cross_region(struct env *e, int k1, int keu)
{
	struct cmek_provider *p = fake_std(e);
	struct cmek_error err = { 0 };
	uint8_t dek[CMEK_DEK_MAX], out[CMEK_DEK_MAX], *w = NULL, *w2 = NULL;
	size_t wl = 0, wl2 = 0, ol = 0;
	unsigned long re = fake_aws_ops(&e->f, FAKE_AWS_REENCRYPT);
	unsigned long dec = fake_aws_ops(&e->f, FAKE_AWS_DECRYPT);
	unsigned long enc = fake_aws_ops(&e->f, FAKE_AWS_ENCRYPT);

	err.msg[0] = '\0';
	tap_ok(p && p->ops->generate(p, e->f.keys[k1].arn, &vol, dek, 64, &w,
				     &wl, &err) == 0 &&
	       p->ops->rewrap(p, e->f.keys[k1].arn, e->f.keys[keu].arn, &vol,
			      w, wl, &w2, &wl2, &err) == 0 &&
	       fake_aws_ops(&e->f, FAKE_AWS_REENCRYPT) == re &&
	       fake_aws_ops(&e->f, FAKE_AWS_DECRYPT) == dec + 1 &&
	       fake_aws_ops(&e->f, FAKE_AWS_ENCRYPT) == enc + 1 &&
	       !strcmp(e->f.last_region, "eu-west-1") &&
	       p->ops->unwrap(p, e->f.keys[keu].arn, &vol, w2, wl2, out, &ol,
			      &err) == 0 && !memcmp(out, dek, 64),
	       "rewrap across regions: Decrypt in us-east-1, Encrypt in eu-west-1: %s",
	       err.msg);
	free(w);
	free(w2);
	cmek_provider_free(p);
}

static void test_states(struct env *e, int k)
{
	static const struct {
		const char *state;
		bool deny, gone;
		const char *want;
		const char *unwrap_err;
	} rows[] = {
		{ "Enabled", false, false, "enabled", NULL },
		{ "Disabled", false, false, "disabled", "DisabledException" },
		{ "PendingDeletion", false, false, "pending-deletion",
		  "KMSInvalidStateException" },
		{ "PendingImport", false, false, "disabled",
		  "KMSInvalidStateException" },
		{ "Unavailable", false, false, "unknown",
		  "KMSInvalidStateException" },
		{ "Enabled", true, false, "access-denied",
		  "AccessDeniedException" },
		{ "Enabled", false, true, "deleted", "NotFoundException" },
	};
	struct cmek_provider *p = fake_std(e);
	const char *ref = e->f.keys[k].arn;
	struct cmek_error err = { 0 };
	uint8_t dek[CMEK_DEK_MAX], out[CMEK_DEK_MAX], *w = NULL;
	enum cmek_kms_key_state st;
	size_t wl = 0, ol = 0, i;
	bool ok;

	if (!p || p->ops->generate(p, ref, &vol, dek, 64, &w, &wl, &err))
		tap_diag("setup: %s", err.msg);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		fake_aws_key_set(&e->f, k, rows[i].state, rows[i].deny,
				 rows[i].gone);
		ok = p && p->ops->key_state(p, ref, &st, &err) == 0 &&
		     !strcmp(cmek_kms_key_state_name(st), rows[i].want);
		if (!rows[i].unwrap_err)
			ok = ok && p->ops->unwrap(p, ref, &vol, w, wl, out, &ol,
						  &err) == 0;
		else
			ok = ok && p->ops->unwrap(p, ref, &vol, w, wl, out,
						  &ol, &err) < 0 &&
			     err.cls == CMEK_ERR_DEFINITIVE &&
			     strstr(err.msg, rows[i].unwrap_err);
		tap_ok(ok, "key %s%s%s: DescribeKey -> %s, Decrypt -> %s: %s",
		       rows[i].state, rows[i].deny ? " (policy denies)" : "",
		       rows[i].gone ? " (deleted)" : "", rows[i].want,
		       rows[i].unwrap_err ? rows[i].unwrap_err : "ok",
		       err.msg);
	}
	fake_aws_key_set(&e->f, k, "Enabled", false, false);
	free(w);
	cmek_provider_free(p);

	/* unwrap_checks_state: DescribeKey first, one more call per open */
	p = fake_prov(e, "access_key_id", AKID, "secret_access_key_file",
		      e->secret_file);
	if (p)
		p->ops->configure(p, "unwrap_checks_state", "yes", &err);
	w = NULL;
	if (!p || p->ops->generate(p, ref, &vol, dek, 64, &w, &wl, &err))
		tap_diag("setup: %s", err.msg);
	{
		unsigned long d = fake_aws_ops(&e->f, FAKE_AWS_DESCRIBE);
		unsigned long x = fake_aws_ops(&e->f, FAKE_AWS_DECRYPT);

		ok = p && p->ops->unwrap(p, ref, &vol, w, wl, out, &ol,
					 &err) == 0 &&
		     fake_aws_ops(&e->f, FAKE_AWS_DESCRIBE) == d + 1 &&
		     fake_aws_ops(&e->f, FAKE_AWS_DECRYPT) == x + 1;
		fake_aws_key_set(&e->f, k, "Disabled", false, false);
		ok = ok && p->ops->unwrap(p, ref, &vol, w, wl, out, &ol,
					  &err) < 0 &&
		     err.cls == CMEK_ERR_DEFINITIVE &&
		     strstr(err.msg, "DescribeKey says the key is disabled") &&
		     fake_aws_ops(&e->f, FAKE_AWS_DECRYPT) == x + 1;
		tap_ok(ok, "unwrap_checks_state: DescribeKey then Decrypt; disabled -> definitive without Decrypt: %s",
		       err.msg);
	}
	fake_aws_key_set(&e->f, k, "Enabled", false, false);
	free(w);
	cmek_provider_free(p);
}

/* Every row of the error table, parsed and through the whole provider. */
static void test_error_rows(struct env *e, struct json_object *rows, int k)
{
	struct cmek_provider *p = fake_prov(e, "access_key_id", AKID,
					    "secret_access_key_file",
					    e->secret_file);
	struct cmek_error err = { 0 }, perr = { 0 };
	uint8_t dek[CMEK_DEK_MAX], out[CMEK_DEK_MAX], *w = NULL;
	size_t wl = 0, ol = 0, i;
	char type[64];

	if (p)
		p->ops->configure(p, "retries", "0", &err);
	if (!p || p->ops->generate(p, e->f.keys[k].arn, &vol, dek, 64, &w,
				   &wl, &err))
		tap_diag("setup: %s", err.msg);
	for (i = 0; i < json_object_array_length(rows); i++) {
		struct json_object *r = json_object_array_get_idx(rows, i), *v;
		const char *body, *want_type, *want_cls;
		long status;
		enum cmek_err_class cls;
		int ret = 0;

		json_object_object_get_ex(r, "status", &v);
		status = json_object_get_int(v);
		json_object_object_get_ex(r, "body", &v);
		body = json_object_get_string(v);
		json_object_object_get_ex(r, "type", &v);
		want_type = json_object_get_string(v);
		json_object_object_get_ex(r, "class", &v);
		want_cls = json_object_get_string(v);

		cls = cmek_aws_kms_error(status, body, type, sizeof(type),
					 &perr);
		/* twice: an expired token is refreshed and retried once */
		fake_aws_canned(&e->f, 2, (int)status,
				body[0] == '<' ? "text/xml" :
				"application/x-amz-json-1.1", body);
		if (p)
			ret = p->ops->unwrap(p, e->f.keys[k].arn, &vol, w, wl,
					     out, &ol, &err);
		fake_aws_canned(&e->f, 0, 0, NULL, NULL);
		tap_ok(!strcmp(type, want_type) &&
		       !strcmp(cls_name(cls), want_cls) && p && ret < 0 &&
		       !strcmp(cls_name(err.cls), want_cls) &&
		       (!*want_type || strstr(err.msg, want_type)),
		       "HTTP %ld %s -> %s: %s", status,
		       *want_type ? want_type : "(no code)", want_cls,
		       err.msg);
	}
	free(w);
	cmek_provider_free(p);
}

static void test_faults(struct env *e, int k)
{
	struct cmek_provider *p = fake_std(e);
	struct cmek_error err = { 0 };
	struct fake_faults f = { 0 };
	enum cmek_kms_key_state st;
	const char *ref = e->f.keys[k].arn;
	struct timespec t0;
	unsigned long n;
	long ms;
	int ret;

	f.status = 503;
	f.count = 2;
	fakesrv_faults(&e->s, &f);
	n = fakesrv_requests(&e->s);
	ret = p ? p->ops->key_state(p, ref, &st, &err) : -1;
	n = fakesrv_requests(&e->s) - n;
	tap_ok(ret == 0 && st == CMEK_KMS_ENABLED && n == 3,
	       "503 twice then OK: succeeds with 3 requests (%lu)", n);

	memset(&f, 0, sizeof(f));
	f.status = 429;
	f.count = 1;
	snprintf(f.retry_after, sizeof(f.retry_after), "1");
	fakesrv_faults(&e->s, &f);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = p ? p->ops->key_state(p, ref, &st, &err) : -1;
	ms = ms_since(&t0);
	tap_ok(ret == 0 && ms >= 950 && ms < 5000,
	       "429 with Retry-After: 1 honoured, then OK (%ld ms)", ms);

	/* throttling comes as HTTP 400: the provider retries it itself */
	fake_aws_canned(&e->f, 2, 400, NULL,
			"{\"__type\":\"ThrottlingException\",\"message\":\"Rate exceeded\"}");
	n = fakesrv_requests(&e->s);
	err.msg[0] = '\0';
	tap_ok(p && p->ops->key_state(p, ref, &st, &err) == 0 &&
	       st == CMEK_KMS_ENABLED && fakesrv_requests(&e->s) == n + 3,
	       "ThrottlingException (HTTP 400) twice then OK: retried, 3 requests");
	fake_aws_canned(&e->f, 5, 400, NULL,
			"{\"__type\":\"ThrottlingException\",\"message\":\"Rate exceeded\"}");
	memset(&err, 0, sizeof(err));
	tap_ok(p && p->ops->key_state(p, ref, &st, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT && err.throttled,
	       "throttled beyond the retries: transient, marked throttled: %s",
	       err.msg);
	fake_aws_canned(&e->f, 0, 0, NULL, NULL);
	cmek_provider_free(p);

	p = fake_prov(e, "access_key_id", AKID, "secret_access_key_file",
		      e->secret_file);
	if (p) {
		p->ops->configure(p, "timeout", "700ms", &err);
		p->ops->configure(p, "retries", "1", &err);
	}
	memset(&f, 0, sizeof(f));
	f.hang = true;
	fakesrv_faults(&e->s, &f);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = p ? p->ops->key_state(p, ref, &st, &err) : 0;
	ms = ms_since(&t0);
	tap_ok(ret < 0 && err.cls == CMEK_ERR_TRANSIENT && ms >= 1400 &&
	       ms < 7000,
	       "server hangs: transient after 2 x 700 ms timeout (%ld ms): %s",
	       ms, err.msg);
	memset(&f, 0, sizeof(f));
	f.close_early = true;
	fakesrv_faults(&e->s, &f);
	err.msg[0] = '\0';
	tap_ok(p && p->ops->key_state(p, ref, &st, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT,
	       "connection closed without an answer: transient: %s", err.msg);
	fakesrv_faults(&e->s, NULL);
	cmek_provider_free(p);
}

static void test_malformed(struct env *e, int k)
{
	static const struct {
		const char *op;		/* g generate, u unwrap, s state */
		const char *body;
	} rows[] = {
		{ "g", "not json" },
		{ "g", "[\"Plaintext\"]" },
		{ "g", "" },
		{ "g", "{\"CiphertextBlob\":\"AAAA\"}" },
		{ "g", "{\"CiphertextBlob\":\"AAAA\",\"Plaintext\":12}" },
		{ "g", "{\"CiphertextBlob\":\"AAAA\",\"Plaintext\":\"!!notbase64!!\"}" },
		{ "g", "{\"CiphertextBlob\":\"AAAA\",\"Plaintext\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"}" },
		{ "g", "{\"CiphertextBlob\":null,\"Plaintext\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==\"}" },
		{ "g", "{\"CiphertextBlob\":\"AAAA\",\"Plaintext\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==\"} trailing" },
		{ "u", "{\"Plaintext\":\"\"}" },
		{ "u", "{\"KeyId\":\"x\",\"Plaintext\":{\"a\":1}}" },
		{ "s", "{\"KeyMetadata\":\"Enabled\"}" },
		{ "s", "{\"KeyMetadata\":{\"KeyState\":\"Sleeping\"}}" },
	};
	struct cmek_provider *p = fake_std(e);
	struct cmek_error err = { 0 };
	uint8_t dek[CMEK_DEK_MAX], out[CMEK_DEK_MAX], *w = NULL, *w2 = NULL;
	const char *ref = e->f.keys[k].arn;
	enum cmek_kms_key_state st;
	size_t wl = 0, wl2 = 0, ol = 0, i, n;
	char *big;
	int ret;
	bool ok = true;

	if (!p || p->ops->generate(p, ref, &vol, dek, 64, &w, &wl, &err))
		tap_diag("setup: %s", err.msg);
	for (i = 0; p && i < sizeof(rows) / sizeof(rows[0]); i++) {
		fake_aws_canned(&e->f, 1, 200, NULL, rows[i].body);
		if (rows[i].op[0] == 'g')
			ret = p->ops->generate(p, ref, &vol, dek, 64, &w2,
					       &wl2, &err);
		else if (rows[i].op[0] == 'u')
			ret = p->ops->unwrap(p, ref, &vol, w, wl, out, &ol,
					     &err);
		else
			ret = p->ops->key_state(p, ref, &st, &err);
		if (ret == 0 || err.cls != CMEK_ERR_TRANSIENT ||
		    !(strstr(err.msg, "malformed") ||
		      strstr(err.msg, "unknown KeyState"))) {
			tap_diag("'%s' -> %d %s: %s", rows[i].body, ret,
				 cls_name(err.cls), err.msg);
			ok = false;
		}
		if (ret == 0)
			free(w2);
	}
	tap_ok(ok && p, "%zu malformed answers (not JSON, wrong types, missing fields, bad base64, wrong lengths): transient, e.g. %s",
	       i, err.msg);

	/* huge values: a 600 KB Plaintext, a CiphertextBlob beyond 6144 bytes */
	n = 600000;
	big = malloc(n + 100);
	memcpy(big, "{\"CiphertextBlob\":\"AAAA\",\"Plaintext\":\"", 38);
	memset(big + 38, 'A', n);
	strcpy(big + 38 + n, "\"}");
	fake_aws_canned(&e->f, 1, 200, NULL, big);
	ret = p ? p->ops->generate(p, ref, &vol, dek, 64, &w2, &wl2, &err) : 0;
	ok = ret < 0 && err.cls == CMEK_ERR_TRANSIENT &&
	     strstr(err.msg, "Plaintext");
	i = (size_t)sprintf(big, "{\"Plaintext\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==\",\"CiphertextBlob\":\"");
	memset(big + i, 'A', 8200);
	strcpy(big + i + 8200, "\"}");
	fake_aws_canned(&e->f, 1, 200, NULL, big);
	ret = p ? p->ops->generate(p, ref, &vol, dek, 64, &w2, &wl2, &err) : 0;
	ok = ok && ret < 0 && err.cls == CMEK_ERR_TRANSIENT &&
	     strstr(err.msg, "CiphertextBlob");
	tap_ok(ok, "huge Plaintext and CiphertextBlob refused: %s", err.msg);
	free(big);
	fake_aws_canned(&e->f, 0, 0, NULL, NULL);
	free(w);
	cmek_provider_free(p);
}

static void test_auth(struct env *e, int k)
{
	const char *ref = e->f.keys[k].arn;
	struct cmek_error err = { 0 };
	struct cmek_provider *p;
	char wrong[300], tok[600], path[320];
	enum cmek_kms_key_state st;
	bool ok;

	/* a wrong secret: InvalidSignatureException, computed by the fake */
	snprintf(wrong, sizeof(wrong), "%s/wrong.secret", dir);
	write_file(wrong, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYWRONGSECRET\n", 0600);
	p = fake_prov(e, "access_key_id", AKID, "secret_access_key_file",
		      wrong);
	err.msg[0] = '\0';
	tap_ok(p && p->ops->key_state(p, ref, &st, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT && err.credential &&
	       strstr(err.msg, "credentials rejected: wrong secret access key") &&
	       strstr(err.msg, "InvalidSignatureException") &&
	       strstr(err.msg, "secret_access_key_file") &&
	       !strstr(err.msg, "WRONGSECRET") && !strstr(err.msg, "wJalr"),
	       "wrong secret: a credential error (transient), clear, secret not in the message: %s",
	       err.msg);
	e->f.xml_auth = true;
	err.msg[0] = '\0';
	tap_ok(p && p->ops->key_state(p, ref, &st, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT && err.credential &&
	       strstr(err.msg, "credentials rejected") &&
	       strstr(err.msg, "HTTP 400 InvalidSignatureException"),
	       "the same as an XML ErrorResponse: %s", err.msg);
	e->f.xml_auth = false;
	cmek_provider_free(p);

	p = fake_prov(e, "access_key_id", "AKIAUNKNOWNKEY000000",
		      "secret_access_key_file", e->secret_file);
	err.msg[0] = '\0';
	tap_ok(p && p->ops->key_state(p, ref, &st, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT && err.credential &&
	       strstr(err.msg, "UnrecognizedClientException") &&
	       strstr(err.msg, "unknown access key id"),
	       "unknown access key id: a credential error (transient): %s", err.msg);
	cmek_provider_free(p);

	/* environment, with a session token that the fake insists on */
	setenv("AWS_ACCESS_KEY_ID", STS_AKID, 1);
	setenv("AWS_SECRET_ACCESS_KEY", STS_SECRET, 1);
	setenv("AWS_SESSION_TOKEN", STS_TOKEN, 1);
	p = fake_prov(e, NULL, NULL, NULL, NULL);
	ok = p && round_trip(p, ref, ref, &err) == 0;
	fakesrv_last_header(&e->s, "X-Amz-Security-Token", tok, sizeof(tok));
	tap_ok(ok && !strcmp(tok, STS_TOKEN) &&
	       !strcmp(e->f.last_akid, STS_AKID),
	       "credentials from the environment, session token sent: %s",
	       err.msg);
	cmek_provider_free(p);
	setenv("AWS_SESSION_TOKEN", "IQoJWRONGTOKENWRONGTOKENWRONGTOKEN", 1);
	p = fake_prov(e, NULL, NULL, NULL, NULL);
	err.msg[0] = '\0';
	tap_ok(p && p->ops->key_state(p, ref, &st, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT && err.credential &&
	       strstr(err.msg, "UnrecognizedClientException") &&
	       strstr(err.msg, "the environment") &&
	       !strstr(err.msg, "WRONGTOKEN"),
	       "wrong session token: a credential error (transient), token not in the message: %s",
	       err.msg);
	cmek_provider_free(p);

	/* an answer that echoes the secret and token is scrubbed */
	setenv("AWS_SESSION_TOKEN", STS_TOKEN, 1);
	p = fake_prov(e, NULL, NULL, NULL, NULL);
	fake_aws_canned(&e->f, 1, 400, NULL,
			"{\"__type\":\"AccessDeniedException\",\"message\":\"secret "
			STS_SECRET " token " STS_TOKEN "\"}");
	err.msg[0] = '\0';
	tap_ok(p && p->ops->key_state(p, ref, &st, &err) == 0 &&
	       st == CMEK_KMS_ACCESS_DENIED, "AccessDeniedException on DescribeKey: access-denied state");
	fake_aws_canned(&e->f, 1, 400, NULL,
			"{\"__type\":\"AccessDeniedException\",\"message\":\"secret "
			STS_SECRET " token " STS_TOKEN "\"}");
	err.msg[0] = '\0';
	tap_ok(p && round_trip(p, ref, ref, &err) < 0 &&
	       err.cls == CMEK_ERR_DEFINITIVE &&
	       !strstr(err.msg, STS_SECRET) && !strstr(err.msg, STS_TOKEN) &&
	       strstr(err.msg, "secret [redacted]"),
	       "secret and token echoed by the server are scrubbed: %s",
	       err.msg);
	fake_aws_canned(&e->f, 0, 0, NULL, NULL);
	cmek_provider_free(p);
	clear_env();

	/* shared credentials file, profile */
	snprintf(path, sizeof(path), "%s/aws.credentials", dir);
	write_file(path,
		   "# cmek\n[default]\naws_access_key_id = AKIAWRONGWRONGWRONG0\n"
		   "aws_secret_access_key = nope\n\n[profile cmek]\n"
		   "aws_access_key_id = " AKID "\naws_secret_access_key = "
		   SECRET "\n", 0600);
	p = fake_prov(e, "credentials_file", path, "profile", "cmek");
	err.msg[0] = '\0';
	tap_ok(p && round_trip(p, ref, ref, &err) == 0 &&
	       !strcmp(e->f.last_akid, AKID),
	       "credentials_file (shared-credentials INI), profile cmek: %s",
	       err.msg);
	cmek_provider_free(p);
	p = fake_prov(e, "credentials_file", path, "profile", "none");
	err.msg[0] = '\0';
	tap_ok(p && p->ops->key_state(p, ref, &st, &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID && strstr(err.msg, "no profile [none]"),
	       "missing profile: %s", err.msg);
	cmek_provider_free(p);
	chmod(path, 0644);
	p = fake_prov(e, "credentials_file", path, NULL, NULL);
	err.msg[0] = '\0';
	tap_ok(p && p->ops->key_state(p, ref, &st, &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID && strstr(err.msg, "chmod 600"),
	       "credentials file readable by others refused: %s", err.msg);
	cmek_provider_free(p);

	p = fake_prov(e, NULL, NULL, NULL, NULL);
	err.msg[0] = '\0';
	tap_ok(p && p->ops->key_state(p, ref, &st, &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID &&
	       strstr(err.msg, "no credentials"),
	       "no credentials anywhere (imds = no): %s", err.msg);
	cmek_provider_free(p);
}

static void test_imds(struct env *e, int k)
{
	const char *ref = e->f.keys[k].arn;
	struct cmek_error err = { 0 };
	struct fake_aws_imds m;
	struct fakesrv md;
	struct cmek_provider *p;
	enum cmek_kms_key_state st;
	char sub[300];
	unsigned long gets;
	const char *kv[] = {
		"endpoint", e->s.url, "ca_file", e->s.ca_file,
		"region", "us-east-1", "retries", "0", "imds", "yes",
		"imds_endpoint", NULL, NULL,
	};

	snprintf(sub, sizeof(sub), "%s/imds", dir);
	mkdir(sub, 0700);
	fake_aws_imds_init(&m, "cmek-node");
	fake_aws_imds_set(&m, "ASIAIMDSFIRST0000000", "imdsSecretFirst/abcdefghij",
			  "IQoJimdsTOKENfirst", time(NULL) + 120);
	fake_aws_cred_add(&e->f, "ASIAIMDSFIRST0000000", "imdsSecretFirst/abcdefghij",
			  "IQoJimdsTOKENfirst");
	if (fakesrv_start_plain(&md, sub, fake_aws_imds_handler, &m)) {
		tap_ok(0, "fake IMDS started");
		return;
	}
	kv[11] = md.url;	/* imds_endpoint */
	p = prov(kv);
	err.msg[0] = '\0';
	tap_ok(p && p->ops->key_state(p, ref, &st, &err) == 0 &&
	       st == CMEK_KMS_ENABLED && m.token_puts == 1 &&
	       m.cred_gets == 1 && m.refused == 0 &&
	       !strcmp(e->f.last_akid, "ASIAIMDSFIRST0000000"),
	       "IMDSv2: token PUT, role, credentials; KMS call signed with them: %s",
	       err.msg);
	/* expiring within 5 minutes: renewed before every use */
	fake_aws_imds_set(&m, "ASIAIMDSSECOND000000", "imdsSecretSecond/abcdefghi",
			  "IQoJimdsTOKENsecond", time(NULL) + 3600);
	fake_aws_cred_add(&e->f, "ASIAIMDSSECOND000000",
			  "imdsSecretSecond/abcdefghi", "IQoJimdsTOKENsecond");
	gets = m.cred_gets;
	err.msg[0] = '\0';
	tap_ok(p && p->ops->key_state(p, ref, &st, &err) == 0 &&
	       m.cred_gets == gets + 1 &&
	       !strcmp(e->f.last_akid, "ASIAIMDSSECOND000000") &&
	       p->ops->key_state(p, ref, &st, &err) == 0 &&
	       m.cred_gets == gets + 1,
	       "credentials refreshed 5 min before Expiration, then cached: %s",
	       err.msg);
	/* KMS says expired: fetch fresh ones and try again */
	fake_aws_cred_expire(&e->f, "ASIAIMDSSECOND000000", true);
	fake_aws_imds_set(&m, "ASIAIMDSFIRST0000000", "imdsSecretFirst/abcdefghij",
			  "IQoJimdsTOKENfirst", time(NULL) + 3600);
	err.msg[0] = '\0';
	tap_ok(p && p->ops->key_state(p, ref, &st, &err) == 0 &&
	       m.cred_gets == gets + 2 &&
	       !strcmp(e->f.last_akid, "ASIAIMDSFIRST0000000"),
	       "ExpiredTokenException: credentials refreshed, call retried: %s",
	       err.msg);
	/* expired again, and IMDS hands out the same expired ones */
	fake_aws_cred_expire(&e->f, "ASIAIMDSFIRST0000000", true);
	err.msg[0] = '\0';
	tap_ok(p && p->ops->key_state(p, ref, &st, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT &&
	       strstr(err.msg, "ExpiredTokenException") &&
	       !strstr(err.msg, "imdsSecret") && !strstr(err.msg, "IQoJimds"),
	       "still expired after the refresh: transient: %s", err.msg);
	fake_aws_cred_expire(&e->f, "ASIAIMDSFIRST0000000", false);
	cmek_provider_free(p);

	pthread_mutex_lock(&m.lock);
	m.role[0] = '\0';
	pthread_mutex_unlock(&m.lock);
	p = prov(kv);
	err.msg[0] = '\0';
	tap_ok(p && p->ops->key_state(p, ref, &st, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT && err.credential &&
	       strstr(err.msg, "no IAM role attached"),
	       "IMDS without a role: a credential error (transient): %s", err.msg);
	cmek_provider_free(p);
	fakesrv_stop(&md);

	p = prov(kv);	/* the stopped server's port: nothing listens */
	tap_ok(p && p->ops->key_state(p, ref, &st, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT &&
	       strstr(err.msg, "instance metadata service"),
	       "no IMDS answers: transient: %s", err.msg);
	cmek_provider_free(p);
}

static void test_config(struct env *e)
{
	struct cmek_error err = { 0 };
	struct cmek_provider *p = cmek_provider_new("aws-kms", &err);
	enum cmek_kms_key_state st;
	bool ok;

	ok = p && p->ops->configure(p, "endpoint", "http://127.0.0.1:1", &err) < 0 &&
	     strstr(err.msg, "TLS");
	ok = ok && p->ops->configure(p, "region", "Mars 1", &err) < 0 &&
	     p->ops->configure(p, "colour", "blue", &err) < 0 &&
	     strstr(err.msg, "unknown aws-kms setting 'colour'") &&
	     p->ops->configure(p, "credentials_file", "aws.creds", &err) < 0 &&
	     p->ops->configure(p, "imds_endpoint", "https://x", &err) < 0 &&
	     p->ops->configure(p, "timeout", "0", &err) < 0 &&
	     err.cls == CMEK_ERR_INVALID;
	tap_ok(ok, "bad settings refused (http endpoint, region, unknown key, relative path, timeout)");
	ok = p && p->ops->key_state(p, "alias/x", &st, &err) < 0 &&
	     err.cls == CMEK_ERR_INVALID && strstr(err.msg, "no region");
	setenv("AWS_DEFAULT_REGION", "eu-central-1", 1);
	ok = ok && p->ops->configure(p, "imds", "no", &err) == 0 &&
	     p->ops->key_state(p, "alias/x", &st, &err) < 0 &&
	     !strstr(err.msg, "no region") && strstr(err.msg, "no credentials");
	tap_ok(ok, "region from the ARN, else region, else AWS_REGION / AWS_DEFAULT_REGION: %s",
	       err.msg);
	clear_env();
	cmek_provider_free(p);
	(void)e;
}

/* ---- 3. moto_server ---- */

struct moto {
	pid_t pid;
	int port;
	char url[64];
	char ca[400];
	char log[400];
	char account[16];
	char akid[64], secret[128];		/* admin user, kms:* */
	char deny_akid[64], deny_secret[128];	/* kms:DescribeKey only */
	char sts_akid[64], sts_secret[128], sts_token[2048];
	char key1[64], arn1[160], key2[64], arn2[160];
};

static struct moto moto = { .pid = -1 };

static void moto_stop(void)
{
	int i;

	if (moto.pid <= 0)
		return;
	kill(-moto.pid, SIGTERM);
	for (i = 0; i < 40 && waitpid(moto.pid, NULL, WNOHANG) == 0; i++)
		usleep(50000);
	if (i == 40) {
		kill(-moto.pid, SIGKILL);
		waitpid(moto.pid, NULL, 0);
	}
	moto.pid = -1;
}

static void on_signal(int sig)
{
	if (moto.pid > 0)
		kill(-moto.pid, SIGKILL);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void moto_log(void)
{
	char *log = slurp(moto.log), *line, *save = NULL;
	int n = 0;

	tap_diag("moto_server log (%s):", moto.log);
	for (line = log ? strtok_r(log, "\n", &save) : NULL; line && n < 80;
	     line = strtok_r(NULL, "\n", &save), n++)
		tap_diag("  %s", line);
	free(log);
}

/* MOTO_SERVER, else moto_server on PATH, else the image's pyenv shim. */
static const char *moto_find(char *buf, size_t len)
{
	const char *env = getenv("MOTO_SERVER"), *path = getenv("PATH");
	char *copy, *d, *save = NULL;

	if (env && *env)
		return env;
	copy = strdup(path ? path : "");
	for (d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		snprintf(buf, len, "%s/moto_server", d);
		if (!access(buf, X_OK)) {
			free(copy);
			return buf;
		}
	}
	free(copy);
	return access(MOTO_SHIM, X_OK) ? NULL : MOTO_SHIM;
}

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
	    !getsockname(fd, (struct sockaddr *)&a, &alen))
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* Any request to moto; signed when @svc is given. */
static int moto_req(const char *path, const char *svc, const char *akid,
		    const char *secret, const char *token, const char *ct,
		    const char *target, const char *body,
		    struct cmek_http_resp *resp, struct cmek_error *err)
{
	struct cmek_http_opts o;
	struct cmek_http_req r = { .method = body ? "POST" : "GET" };
	char url[128], sig[64], up[256], h1[128], h2[128], h3[2100];
	int ret;

	cmek_http_opts_init(&o);
	o.ca_file = moto.ca;
	o.retries = 0;
	o.timeout_ms = 10000;
	snprintf(url, sizeof(url), "%s%s", moto.url, path);
	r.url = url;
	r.body = body;
	r.body_len = body ? strlen(body) : 0;
	if (svc) {
		snprintf(sig, sizeof(sig), "aws:amz:us-east-1:%s", svc);
		snprintf(up, sizeof(up), "%s:%s", akid, secret);
		r.aws_sigv4 = sig;
		r.userpwd = up;
	}
	if (ct)
		cmek_http_header(&r, h1, sizeof(h1), "Content-Type: %s", ct);
	if (target)
		cmek_http_header(&r, h2, sizeof(h2), "X-Amz-Target: %s", target);
	if (token)
		cmek_http_header(&r, h3, sizeof(h3), "X-Amz-Security-Token: %s",
				 token);
	ret = cmek_http_do(&o, &r, resp, err);
	o.ca_file = NULL;
	return ret;
}

static void xml_get(const char *body, const char *tag, char *out, size_t len)
{
	char open[64], close[64];
	const char *a, *b;

	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	out[0] = '\0';
	a = body ? strstr(body, open) : NULL;
	b = a ? strstr(a, close) : NULL;
	if (a && b && (size_t)(b - a - strlen(open)) < len)
		snprintf(out, len, "%.*s", (int)(b - a - strlen(open)),
			 a + strlen(open));
}

/* Query-protocol call (IAM, STS); the answer's XML in @resp. */
static int moto_query(const char *svc, const char *akid, const char *secret,
		      const char *params, struct cmek_http_resp *resp)
{
	struct cmek_error err = { 0 };

	if (moto_req("/", svc, akid, secret, NULL,
		     "application/x-www-form-urlencoded", NULL, params, resp,
		     &err) || resp->status != 200) {
		tap_diag("%s %s: HTTP %ld %s %s", svc, params, resp->status,
			 resp->body ? resp->body : "", err.msg);
		return -1;
	}
	return 0;
}

/* KMS admin call as the admin user (CreateKey, DisableKey, ...). */
static struct json_object *moto_kms(const char *op, const char *body)
{
	struct cmek_http_resp resp = { 0 };
	struct cmek_error err = { 0 };
	struct json_object *o = NULL;
	char target[64];

	snprintf(target, sizeof(target), "TrentService.%s", op);
	if (!moto_req("/", "kms", moto.akid, moto.secret, NULL,
		      "application/x-amz-json-1.1", target, body, &resp,
		      &err) && resp.status == 200) {
		/* DisableKey and the like answer with no body */
		o = json_tokener_parse(resp.body);
		if (!o)
			o = json_object_new_object();
	}
	else
		tap_diag("moto %s: HTTP %ld %s %s", op, resp.status,
			 resp.body ? resp.body : "", err.msg);
	cmek_http_resp_free(&resp);
	return o;
}

static int moto_start(const char *bin, long *ms)
{
	struct cmek_http_resp resp = { 0 };
	struct cmek_error err = { 0 };
	char sub[300], cert[320], key[320], port[16];
	struct timespec t0;
	int fd, st;

	snprintf(sub, sizeof(sub), "%s/moto", dir);
	mkdir(sub, 0700);
	if (fake_cert_issue(sub, "moto"))
		return -1;
	snprintf(moto.ca, sizeof(moto.ca), "%s/ca.pem", sub);
	snprintf(cert, sizeof(cert), "%s/moto.pem", sub);
	snprintf(key, sizeof(key), "%s/moto.key", sub);
	snprintf(moto.log, sizeof(moto.log), "%s/moto.log", sub);
	moto.port = free_port();
	snprintf(port, sizeof(port), "%d", moto.port);
	snprintf(moto.url, sizeof(moto.url), "https://127.0.0.1:%d", moto.port);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	moto.pid = fork();
	if (moto.pid < 0)
		return -1;
	if (moto.pid == 0) {
		setpgid(0, 0);
		/* if this test dies, so does moto */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fd = open(moto.log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		clear_env();
		setenv("INITIAL_NO_AUTH_ACTION_COUNT", "0", 1);
		setenv("MOTO_ACCOUNT_ID", "123456789012", 1);
		execl(bin, "moto_server", "-H", "127.0.0.1", "-p", port, "-c",
		      cert, "-k", key, (char *)NULL);
		fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	setpgid(moto.pid, moto.pid);
	while (ms_since(&t0) < MOTO_START_MS) {
		if (waitpid(moto.pid, &st, WNOHANG) == moto.pid) {
			tap_diag("moto_server exited (status %d)", st);
			moto.pid = -1;
			return -1;
		}
		if (!moto_req("/moto-api/", NULL, NULL, NULL, NULL, NULL, NULL,
			      NULL, &resp, &err) && resp.status == 200) {
			*ms = ms_since(&t0);
			cmek_http_resp_free(&resp);
			return 0;
		}
		usleep(100000);
	}
	cmek_http_resp_free(&resp);
	tap_diag("moto_server did not answer within %d ms: %s", MOTO_START_MS,
		 err.msg);
	return -1;
}

#define ALLOW_ALL "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22%2A%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D"
#define ALLOW_DESCRIBE "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22kms%3ADescribeKey%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D"

/*
 * Auth is on from the start (INITIAL_NO_AUTH_ACTION_COUNT=0); moto's own
 * control endpoint lets exactly the five IAM calls that create the first
 * user through unsigned (moto routes them by the signature's scope, so
 * they carry a dummy one), and checks every later signature.
 */
static int moto_bootstrap(void)
{
	struct cmek_http_resp r = { 0 };
	struct cmek_error err = { 0 };
	struct json_object *o, *md, *v;
	const char *dummy = "AKIABOOTSTRAP0000000", *ds = "bootstrap";
	char arn[200], params[1200];
	int ret = -1;

	if (moto_req("/moto-api/reset-auth", NULL, NULL, NULL, NULL,
		     "text/plain", NULL, "5", &r, &err) || r.status != 200) {
		tap_diag("reset-auth: %ld %s", r.status, err.msg);
		goto out;
	}
	if (moto_query("iam", dummy, ds, "Action=CreateUser&Version=2010-05-08&UserName=cmek", &r))
		goto out;
	xml_get(r.body, "Arn", arn, sizeof(arn));
	sscanf(arn, "arn:aws:iam::%12[0-9]:", moto.account);
	if (moto_query("iam", dummy, ds, "Action=PutUserPolicy&Version=2010-05-08&UserName=cmek&PolicyName=all&PolicyDocument=" ALLOW_ALL, &r) ||
	    moto_query("iam", dummy, ds, "Action=CreateAccessKey&Version=2010-05-08&UserName=cmek", &r))
		goto out;
	xml_get(r.body, "AccessKeyId", moto.akid, sizeof(moto.akid));
	xml_get(r.body, "SecretAccessKey", moto.secret, sizeof(moto.secret));
	snprintf(params, sizeof(params),
		 "Action=CreateRole&Version=2010-05-08&RoleName=cmek-role&AssumeRolePolicyDocument="
		 "%%7B%%22Version%%22%%3A%%222012-10-17%%22%%2C%%22Statement%%22%%3A%%5B%%7B%%22Effect%%22%%3A%%22Allow%%22%%2C%%22Principal%%22%%3A%%7B%%22AWS%%22%%3A%%22arn%%3Aaws%%3Aiam%%3A%%3A%s%%3Auser%%2Fcmek%%22%%7D%%2C%%22Action%%22%%3A%%22sts%%3AAssumeRole%%22%%7D%%5D%%7D",
		 moto.account);
	if (moto_query("iam", dummy, ds, params, &r) ||
	    moto_query("iam", dummy, ds, "Action=PutRolePolicy&Version=2010-05-08&RoleName=cmek-role&PolicyName=all&PolicyDocument=" ALLOW_ALL, &r))
		goto out;
	/* from here on, signed for real */
	if (moto_query("iam", moto.akid, moto.secret, "Action=CreateUser&Version=2010-05-08&UserName=cmek-deny", &r) ||
	    moto_query("iam", moto.akid, moto.secret, "Action=PutUserPolicy&Version=2010-05-08&UserName=cmek-deny&PolicyName=describe&PolicyDocument=" ALLOW_DESCRIBE, &r) ||
	    moto_query("iam", moto.akid, moto.secret, "Action=CreateAccessKey&Version=2010-05-08&UserName=cmek-deny", &r))
		goto out;
	xml_get(r.body, "AccessKeyId", moto.deny_akid, sizeof(moto.deny_akid));
	xml_get(r.body, "SecretAccessKey", moto.deny_secret,
		sizeof(moto.deny_secret));
	snprintf(params, sizeof(params),
		 "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%%3Aaws%%3Aiam%%3A%%3A%s%%3Arole%%2Fcmek-role&RoleSessionName=cmek",
		 moto.account);
	if (moto_query("sts", moto.akid, moto.secret, params, &r))
		goto out;
	xml_get(r.body, "AccessKeyId", moto.sts_akid, sizeof(moto.sts_akid));
	xml_get(r.body, "SecretAccessKey", moto.sts_secret,
		sizeof(moto.sts_secret));
	xml_get(r.body, "SessionToken", moto.sts_token, sizeof(moto.sts_token));
	for (int i = 0; i < 2; i++) {
		o = moto_kms("CreateKey", "{\"Description\":\"cmek test\"}");
		if (!o || !json_object_object_get_ex(o, "KeyMetadata", &md))
			goto out;
		json_object_object_get_ex(md, "KeyId", &v);
		snprintf(i ? moto.key2 : moto.key1, sizeof(moto.key1), "%s",
			 json_object_get_string(v));
		json_object_object_get_ex(md, "Arn", &v);
		snprintf(i ? moto.arn2 : moto.arn1, sizeof(moto.arn1), "%s",
			 json_object_get_string(v));
		json_object_put(o);
	}
	snprintf(params, sizeof(params),
		 "{\"AliasName\":\"alias/cmek-moto\",\"TargetKeyId\":\"%s\"}",
		 moto.key1);
	o = moto_kms("CreateAlias", params);
	if (!o)
		goto out;
	json_object_put(o);
	ret = moto.akid[0] && moto.secret[0] && moto.deny_akid[0] &&
	      moto.sts_token[0] ? 0 : -1;
	if (ret)
		tap_diag("bootstrap: akid %s, deny %s, sts %s, token %zu bytes",
			 moto.akid, moto.deny_akid, moto.sts_akid,
			 strlen(moto.sts_token));
out:
	cmek_http_resp_free(&r);
	return ret;
}

static int moto_key_op(const char *op, const char *key, const char *extra)
{
	char body[256];
	struct json_object *o;

	snprintf(body, sizeof(body), "{\"KeyId\":\"%s\"%s}", key, extra);
	o = moto_kms(op, body);
	json_object_put(o);
	return o ? 0 : -1;
}

static struct cmek_provider *moto_prov(const char *akid, const char *secret,
				       bool checks_state)
{
	static int n;
	char path[320];
	const char *kv[] = {
		"endpoint", moto.url, "ca_file", moto.ca, "region", "us-east-1",
		"timeout", "10s", "retries", "1", "imds", "no",
		"unwrap_checks_state", checks_state ? "yes" : "no",
		"access_key_id", akid, "secret_access_key_file", path, NULL,
	};

	snprintf(path, sizeof(path), "%s/moto/%d.secret", dir, n++);
	if (write_file(path, secret, 0600))
		return NULL;
	return prov(kv);
}

#define MOTO_TESTS 14

static void test_moto(void)
{
	struct cmek_error err = { 0 };
	struct cmek_provider *p = NULL, *q = NULL;
	uint8_t dek[CMEK_DEK_MAX], out[CMEK_DEK_MAX], *w = NULL, *w2 = NULL;
	size_t wl = 0, wl2 = 0, ol = 0;
	enum cmek_kms_key_state st;
	char buf[512], alias_arn[200];
	const char *bin = moto_find(buf, sizeof(buf));
	int before = tap_failed, i;
	struct timespec t0;
	long ms = 0;

	if (!bin || moto_start(bin, &ms)) {
		tap_ok(0, "moto_server (%s) starts with TLS and signature checks",
		       bin ? bin : "not found: set MOTO_SERVER");
		for (i = 1; i < MOTO_TESTS; i++)
			tap_ok(0, "moto: not run, moto_server did not start");
		goto out;
	}
	tap_ok(1, "moto_server %s answers over TLS after %ld ms", bin, ms);
	if (moto_bootstrap()) {
		tap_ok(0, "moto: IAM user, access keys, role, KMS keys created");
		for (i = 2; i < MOTO_TESTS; i++)
			tap_ok(0, "moto: not run, bootstrap failed");
		goto out;
	}
	tap_ok(1, "moto: IAM users, access keys, assumed role, 2 KMS keys and an alias created through signed calls");

	p = moto_prov(moto.akid, moto.secret, false);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	i = p && p->ops->generate(p, moto.arn1, &vol, dek, 64, &w, &wl,
				  &err) == 0 &&
	    p->ops->unwrap(p, moto.arn1, &vol, w, wl, out, &ol, &err) == 0 &&
	    ol == 64 && !memcmp(dek, out, 64);
	ms = ms_since(&t0);
	tap_ok(i, "moto: signatures accepted; GenerateDataKey 64 bytes, Decrypt round trip (%ld ms): %s",
	       ms, i ? "" : err.msg);
	err.msg[0] = '\0';
	tap_ok(p && p->ops->unwrap(p, moto.arn1, &vol2, w, wl, out, &ol,
				   &err) < 0 && err.cls == CMEK_ERR_INVALID &&
	       strstr(err.msg, "InvalidCiphertextException"),
	       "moto: another volume's encryption context: invalid: %s",
	       err.msg);

	q = moto_prov(moto.akid, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYWRONGSECRET",
		      false);
	err.msg[0] = '\0';
	tap_ok(q && q->ops->unwrap(q, moto.arn1, &vol, w, wl, out, &ol,
				   &err) < 0 && err.cls == CMEK_ERR_TRANSIENT && err.credential &&
	       strstr(err.msg, "credentials rejected") &&
	       !strstr(err.msg, "WRONGSECRET") && !strstr(err.msg, moto.secret),
	       "moto: wrong secret rejected as a credential error, clear message without the secret: %s",
	       err.msg);
	cmek_provider_free(q);

	setenv("AWS_ACCESS_KEY_ID", moto.sts_akid, 1);
	setenv("AWS_SECRET_ACCESS_KEY", moto.sts_secret, 1);
	setenv("AWS_SESSION_TOKEN", moto.sts_token, 1);
	{
		const char *kv[] = {
			"endpoint", moto.url, "ca_file", moto.ca,
			"imds", "no", NULL,
		};

		setenv("AWS_REGION", "us-east-1", 1);
		q = prov(kv);
		err.msg[0] = '\0';
		tap_ok(q && q->ops->unwrap(q, moto.arn1, &vol, w, wl, out,
					   &ol, &err) == 0 &&
		       !memcmp(dek, out, 64),
		       "moto: assumed-role credentials from the environment, session token checked: %s",
		       err.msg);
		cmek_provider_free(q);
		setenv("AWS_SESSION_TOKEN", "FQoGZXIvYXdzEWRONGTOKEN", 1);
		q = prov(kv);
		err.msg[0] = '\0';
		tap_ok(q && q->ops->unwrap(q, moto.arn1, &vol, w, wl, out,
					   &ol, &err) < 0 &&
		       err.cls == CMEK_ERR_TRANSIENT && err.credential &&
		       strstr(err.msg, "credentials rejected") &&
		       !strstr(err.msg, "WRONGTOKEN"),
		       "moto: wrong session token rejected: %s", err.msg);
		cmek_provider_free(q);
	}
	clear_env();

	err.msg[0] = '\0';
	tap_ok(p && p->ops->rewrap(p, moto.arn1, moto.arn2, &vol, w, wl, &w2,
				   &wl2, &err) == 0 &&
	       p->ops->unwrap(p, moto.arn2, &vol, w2, wl2, out, &ol,
			      &err) == 0 && !memcmp(dek, out, 64),
	       "moto: ReEncrypt to a second key round trips: %s", err.msg);
	free(w2);
	w2 = NULL;

	snprintf(alias_arn, sizeof(alias_arn), "arn:aws:kms:us-east-1:%s:alias/cmek-moto",
		 moto.account);
	err.msg[0] = '\0';
	tap_ok(p && round_trip(p, "alias/cmek-moto", alias_arn, &err) == 0 &&
	       p->ops->key_state(p, "alias/cmek-moto", &st, &err) == 0 &&
	       st == CMEK_KMS_ENABLED,
	       "moto: alias/NAME and alias ARN key refs: %s", err.msg);

	q = moto_prov(moto.akid, moto.secret, true);
	err.msg[0] = '\0';
	tap_ok(!moto_key_op("DisableKey", moto.key1, "") && p &&
	       p->ops->key_state(p, moto.arn1, &st, &err) == 0 &&
	       st == CMEK_KMS_DISABLED && q &&
	       q->ops->unwrap(q, moto.arn1, &vol, w, wl, out, &ol, &err) < 0 &&
	       err.cls == CMEK_ERR_DEFINITIVE,
	       "moto: DisableKey seen by DescribeKey as disabled; definitive on the lock path: %s",
	       err.msg);
	if (p && p->ops->unwrap(p, moto.arn1, &vol, w, wl, out, &ol, &err) == 0)
		tap_diag("moto still answers Decrypt under the disabled key (DESIGN.md); real AWS says DisabledException");
	err.msg[0] = '\0';
	tap_ok(!moto_key_op("EnableKey", moto.key1, "") && p &&
	       p->ops->key_state(p, moto.arn1, &st, &err) == 0 &&
	       st == CMEK_KMS_ENABLED && q &&
	       q->ops->unwrap(q, moto.arn1, &vol, w, wl, out, &ol, &err) == 0,
	       "moto: EnableKey: enabled again, unwrap works: %s", err.msg);
	cmek_provider_free(q);

	q = moto_prov(moto.deny_akid, moto.deny_secret, false);
	err.msg[0] = '\0';
	tap_ok(q && q->ops->unwrap(q, moto.arn1, &vol, w, wl, out, &ol,
				   &err) < 0 && err.cls == CMEK_ERR_DEFINITIVE &&
	       strstr(err.msg, "AccessDenied") &&
	       q->ops->key_state(q, moto.arn1, &st, &err) == 0 &&
	       st == CMEK_KMS_ENABLED,
	       "moto: IAM denies kms:Decrypt (XML AccessDenied, 403): definitive: %s",
	       err.msg);
	cmek_provider_free(q);

	err.msg[0] = '\0';
	tap_ok(!moto_key_op("ScheduleKeyDeletion", moto.key2,
			    ",\"PendingWindowInDays\":7") && p &&
	       p->ops->key_state(p, moto.arn2, &st, &err) == 0 &&
	       st == CMEK_KMS_PENDING_DELETION,
	       "moto: ScheduleKeyDeletion: pending-deletion: %s", err.msg);
	err.msg[0] = '\0';
	tap_ok(p && p->ops->key_state(p, "12345678-1234-1234-1234-123456789012",
				      &st, &err) == 0 &&
	       st == CMEK_KMS_DELETED,
	       "moto: unknown key id: NotFoundException -> deleted");
out:
	if (tap_failed != before && moto.log[0])
		moto_log();
	free(w);
	cmek_provider_free(p);
	moto_stop();
}

int main(void)
{
	struct json_object *rows;
	struct env e;
	char sub[300];
	int k1, k2, keu, kst;

	rows = json_object_from_file(DATA "errors.json");
	tap_plan(5 + 1 + 7 + 7 + 1 + 8 + 6 + 2 + 11 + 6 + 2 +
		 (rows ? (int)json_object_array_length(rows) : 1) +
		 MOTO_TESTS);
	if (!mkdtemp(dir))
		return 1;
	clear_env();
	atexit(moto_stop);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);

	test_parsers();

	snprintf(sub, sizeof(sub), "%s/fake", dir);
	mkdir(sub, 0700);
	fake_aws_init(&e.f, "us-east-1");
	fake_aws_cred_add(&e.f, AKID, SECRET, NULL);
	fake_aws_cred_add(&e.f, STS_AKID, STS_SECRET, STS_TOKEN);
	k1 = fake_aws_key_add(&e.f, "alias/cmek-one", NULL);
	k2 = fake_aws_key_add(&e.f, "alias/cmek-two", NULL);
	keu = fake_aws_key_add(&e.f, NULL, "eu-west-1");
	kst = fake_aws_key_add(&e.f, NULL, NULL);
	snprintf(e.secret_file, sizeof(e.secret_file), "%s/aws.secret", dir);
	write_file(e.secret_file, SECRET "\n", 0600);
	if (fakesrv_start(&e.s, sub, fake_aws_handler, &e.f)) {
		tap_diag("fake server did not start");
		return 1;
	}
	test_doc_answers(&e, k1);
	test_roundtrips(&e, k1, k2);
	test_slot_object(&e);
	test_cross_region(&e, k1, keu);
	test_states(&e, kst);
	test_faults(&e, k1);
	test_malformed(&e, k1);
	test_auth(&e, k1);
	test_imds(&e, k1);
	test_config(&e);
	if (rows)
		test_error_rows(&e, rows, k1);
	else
		tap_ok(0, DATA "errors.json readable");
	json_object_put(rows);
	fakesrv_stop(&e.s);
	fake_aws_free(&e.f);

	test_moto();
	/* keep the files (moto.log, certificates) of a failed run */
	if (!tap_failed) {
		snprintf(sub, sizeof(sub), "rm -rf '%s'", dir);
		if (system(sub))
			tap_diag("could not remove %s", dir);
	}
	return tap_done();
}
