// SPDX-License-Identifier: GPL-2.0
/*
 * The kmip provider against a real KMIP server: Debian's python3-pykmip
 * (pykmip-server), started on 127.0.0.1 with a CA and certificates made
 * for the run. A missing pykmip-server is a failure, not a skip.
 *
 * Covers the data-key round trip, the volume binding, key state and the
 * lock-relevant error classes (revoked, destroyed, unknown, access
 * denied), TLS verification both ways, a dead server, a peer that never
 * answers (timing the timeout), and malformed answers, over the network
 * and by mutating a real response byte by byte.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kmip.h"
#include "provider.h"
#include "../kms/kmip_admin.h"
#include "../lib/tap.h"

#define PLAN	53

static struct kmip_test_server srv;
static struct cmek_error err;

static void cleanup(void)
{
	kmip_server_stop(&srv);
	if (tap_failed || tap_n != tap_planned)
		tap_diag("kept %s (pykmip's server.log, stdout.log)", srv.dir);
	else
		kmip_server_cleanup(&srv);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* A kmip provider for 127.0.0.1:@port with the given credentials. */
static struct cmek_provider *provider(int port, const char *ca,
				      const char *cert, const char *key,
				      const char *timeout)
{
	struct cmek_provider *p = cmek_provider_new("kmip", &err);
	char sport[16];

	snprintf(sport, sizeof(sport), "%d", port);
	if (!p)
		return NULL;
	if (p->ops->configure(p, "host", "127.0.0.1", &err) ||
	    p->ops->configure(p, "port", sport, &err) ||
	    p->ops->configure(p, "ca_file", ca, &err) ||
	    p->ops->configure(p, "cert_file", cert, &err) ||
	    p->ops->configure(p, "key_file", key, &err) ||
	    p->ops->configure(p, "timeout", timeout, &err) ||
	    p->ops->configure(p, "retries", "0", &err)) {
		cmek_provider_free(p);
		return NULL;
	}
	return p;
}

static int unwrap(struct cmek_provider *p, const char *uid,
		  const struct cmek_binding *b, const uint8_t *w, size_t wl,
		  uint8_t *out, size_t *ol)
{
	memset(&err, 0, sizeof(err));
	return p->ops->unwrap(p, uid, b, w, wl, out, ol, &err);
}

static int state(struct cmek_provider *p, const char *uid,
		 enum cmek_kms_key_state *st)
{
	memset(&err, 0, sizeof(err));
	return p->ops->key_state(p, uid, st, &err);
}

static bool failed_as(int ret, enum cmek_err_class cls, const char *needle)
{
	return ret < 0 && err.cls == cls && strstr(err.msg, needle);
}

static void test_config(void)
{
	struct cmek_provider *p = cmek_provider_new("kmip", &err);
	enum cmek_kms_key_state st;
	bool bad = true;

	tap_ok(p && p->ops->configure(p, "bogus", "1", &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID && strstr(err.msg, "server_name"),
	       "unknown setting refused: %s", err.msg);
	bad &= p->ops->configure(p, "timeout", "0", &err) < 0;
	bad &= p->ops->configure(p, "timeout", "301", &err) < 0;
	bad &= p->ops->configure(p, "timeout", "ten", &err) < 0;
	bad &= p->ops->configure(p, "port", "65536", &err) < 0;
	bad &= p->ops->configure(p, "port", "-1", &err) < 0;
	bad &= p->ops->configure(p, "ca_file", "/nonexistent/ca.pem", &err) < 0;
	tap_ok(bad && p->ops->configure(p, "timeout", "2m", &err) == 0 &&
	       p->ops->configure(p, "port", "5696", &err) == 0,
	       "timeout, port and file values are checked");
	tap_ok(state(p, "1", &st) < 0 && err.cls == CMEK_ERR_INVALID &&
	       strstr(err.msg, "needs host"),
	       "an incomplete configuration is INVALID: %s", err.msg);
	p->ops->configure(p, "host", "127.0.0.1", &err);
	tap_ok(state(p, "", &st) < 0 && err.cls == CMEK_ERR_INVALID &&
	       state(p, "a b", &st) < 0 && err.cls == CMEK_ERR_INVALID,
	       "empty or non-printable key references are INVALID");
	cmek_provider_free(p);
}

/* Mutate a real response: never a crash, only success or TRANSIENT. */
static void fuzz_response(const uint8_t *msg, size_t len, uint32_t op)
{
	struct cmek_kmip_reply r = { 0 };
	bool all_invalid = true, classes_ok = true;
	unsigned int seed = 1, ok = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		uint8_t *m = malloc(i ? i : 1);

		memcpy(m, msg, i);
		all_invalid &= cmek_kmip_parse_response(m, i, op, &r, &err) < 0 &&
			       err.cls == CMEK_ERR_TRANSIENT;
		free(m);
	}
	tap_ok(all_invalid, "every truncation of a real %zu-byte response is TRANSIENT (no answer that counts)",
	       len);
	for (i = 0; i < 100000; i++) {
		size_t n = len;
		uint8_t *m = malloc(n);

		memcpy(m, msg, n);
		for (int k = 1 + rand_r(&seed) % 3; k; k--) {
			size_t at = rand_r(&seed) % n;

			if (rand_r(&seed) % 4)
				m[at] ^= 1u << (rand_r(&seed) % 8);
			else
				m[(at & ~(size_t)7) | 4] = (uint8_t)rand_r(&seed);
		}
		if (rand_r(&seed) % 8 == 0)
			n = rand_r(&seed) % n;
		if (cmek_kmip_parse_response(m, n, op, &r, &err) == 0)
			ok++;
		else
			classes_ok &= err.cls == CMEK_ERR_TRANSIENT ||
				      err.cls == CMEK_ERR_INVALID ||
				      err.cls == CMEK_ERR_DEFINITIVE;
		free(m);
	}
	tap_ok(classes_ok, "100000 mutated responses: %u parsed, all others classed, no crash",
	       ok);
}

static void test_bad_peers(const struct cmek_binding *b, const uint8_t *w,
			   size_t wl)
{
	static const uint8_t huge[] = {
		0x42, 0x00, 0x7b, 0x01, 0x01, 0x00, 0x00, 0x00,
	};
	static const uint8_t junk[] = {
		0x42, 0x00, 0x7b, 0x01, 0x00, 0x00, 0x00, 0x10,
		0x42, 0x00, 0x7a, 0x01, 0x00, 0x00, 0x00, 0x40,	/* overruns */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	struct sockaddr_in a = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	struct kmip_fake_peer fp;
	struct cmek_provider *p;
	enum cmek_kms_key_state st;
	uint8_t out[CMEK_DEK_MAX];
	char cert[256], key[256];
	socklen_t l = sizeof(a);
	unsigned int served;
	double t0, el;
	size_t ol;
	int fd, ret;

	snprintf(cert, sizeof(cert), "%s/pki/server.pem", srv.dir);
	snprintf(key, sizeof(key), "%s/pki/server.key", srv.dir);
	tap_ok(kmip_fake_peer_start(&fp, cert, key) == 0,
	       "a fake KMIP/TLS peer is listening");
	p = provider(fp.port, srv.ca_file, srv.cert_file, srv.key_file, "5");
	fp.resp = huge;
	fp.resp_len = sizeof(huge);
	ret = unwrap(p, "1", b, w, wl, out, &ol);
	tap_ok(failed_as(ret, CMEK_ERR_TRANSIENT, "announced length"),
	       "a response announcing 16 MiB is TRANSIENT, refused before any allocation: %s",
	       err.msg);
	fp.resp = junk;
	fp.resp_len = sizeof(junk);
	ret = state(p, "1", &st);
	tap_ok(failed_as(ret, CMEK_ERR_TRANSIENT, "malformed KMIP response") &&
	       st == CMEK_KMS_UNKNOWN,
	       "a key state answer whose header overruns the message: TRANSIENT, state unknown: %s",
	       err.msg);
	fp.resp_len = 12;	/* the header, then the peer hangs up */
	ret = state(p, "1", &st);
	tap_ok(failed_as(ret, CMEK_ERR_TRANSIENT, "closed the connection"),
	       "a response cut short by the peer is TRANSIENT: %s", err.msg);
	served = fp.served;
	ret = p->ops->configure(p, "retries", "2", &err);
	ret = ret ? ret : state(p, "1", &st);
	tap_ok(failed_as(ret, CMEK_ERR_TRANSIENT, "closed the connection") &&
	       fp.served == served + 3,
	       "retries = 2: GetAttributes is sent 3 times (%u): %s",
	       fp.served - served, err.msg);
	served = fp.served;
	ret = kmip_admin_destroy(p, "1", &err);
	tap_ok(ret < 0 && err.cls == CMEK_ERR_TRANSIENT &&
	       fp.served == served + 1,
	       "... but Destroy, which must not run twice, once (%u)",
	       fp.served - served);
	cmek_provider_free(p);
	kmip_fake_peer_stop(&fp);

	/* A listener that never accepts: TCP connects, TLS never starts. */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(fd, (struct sockaddr *)&a, &l) || listen(fd, 4))
		tap_diag("cannot make the silent listener: %s", strerror(errno));
	p = provider(ntohs(a.sin_port), srv.ca_file, srv.cert_file,
		     srv.key_file, "1");
	t0 = now_ms();
	ret = state(p, "1", &st);
	el = now_ms() - t0;
	tap_ok(failed_as(ret, CMEK_ERR_TRANSIENT, "did not answer within 1 s"),
	       "a peer that never answers is TRANSIENT: %s", err.msg);
	tap_ok(el >= 950 && el < 1500,
	       "... after %.0f ms with timeout = 1 (expected 1000-1500)", el);
	cmek_provider_free(p);
	close(fd);
}

static void test_tls(const char *uid, const struct cmek_binding *b,
		     const uint8_t *w, size_t wl)
{
	char rca[256], rcert[256], rkey[256], icert[256], ikey[256];
	enum cmek_kms_key_state st;
	uint8_t out[CMEK_DEK_MAX];
	struct cmek_provider *p;
	size_t ol;
	int ret;

	snprintf(rca, sizeof(rca), "%s/rogue/ca.pem", srv.dir);
	snprintf(rcert, sizeof(rcert), "%s/rogue/client.pem", srv.dir);
	snprintf(rkey, sizeof(rkey), "%s/rogue/client.key", srv.dir);
	snprintf(icert, sizeof(icert), "%s/pki/intruder.pem", srv.dir);
	snprintf(ikey, sizeof(ikey), "%s/pki/intruder.key", srv.dir);

	p = provider(srv.port, rca, srv.cert_file, srv.key_file, "5");
	ret = unwrap(p, uid, b, w, wl, out, &ol);
	tap_ok(failed_as(ret, CMEK_ERR_TRANSIENT, "cannot verify the certificate"),
	       "a server whose CA is not ca_file is refused, as no answer (TRANSIENT): %s",
	       err.msg);
	cmek_provider_free(p);

	p = provider(srv.port, srv.ca_file, rcert, rkey, "5");
	ret = unwrap(p, uid, b, w, wl, out, &ol);
	tap_ok(failed_as(ret, CMEK_ERR_TRANSIENT, "refused the TLS handshake"),
	       "a client certificate from another CA is refused (an alert: TRANSIENT): %s",
	       err.msg);
	cmek_provider_free(p);

	p = provider(srv.port, srv.ca_file, srv.cert_file, srv.key_file, "5");
	p->ops->configure(p, "server_name", "kms.example.com", &err);
	ret = unwrap(p, uid, b, w, wl, out, &ol);
	tap_ok(failed_as(ret, CMEK_ERR_TRANSIENT, "cannot verify the certificate") &&
	       strstr(err.msg, "mismatch"),
	       "a server_name the certificate does not name is refused: %s",
	       err.msg);
	p->ops->configure(p, "server_name", "localhost", &err);
	tap_ok(state(p, uid, &st) == 0 && st == CMEK_KMS_ENABLED,
	       "server_name = localhost (a name in the certificate) verifies");
	cmek_provider_free(p);

	p = provider(srv.port, srv.ca_file, icert, ikey, "5");
	ret = unwrap(p, uid, b, w, wl, out, &ol);
	tap_ok(failed_as(ret, CMEK_ERR_DEFINITIVE, "Permission Denied"),
	       "another client of the same CA is denied the key (DEFINITIVE): %s",
	       err.msg);
	tap_ok(state(p, uid, &st) == 0 && st == CMEK_KMS_ACCESS_DENIED,
	       "... and key_state says access-denied");
	cmek_provider_free(p);
}

#define D	CMEK_ERR_DEFINITIVE
#define T	CMEK_ERR_TRANSIENT
#define I	CMEK_ERR_INVALID

/* Every row of the classification table in cmek-providers.rst. */
static void test_classify_table(void)
{
	static const struct {
		uint32_t op, status, reason;
		enum cmek_err_class cls;
	} rows[] = {
		{ KMIP_OP_DECRYPT, 1, 1, D }, { KMIP_OP_ENCRYPT, 1, 54, D },
		{ KMIP_OP_ENCRYPT, 1, 55, D }, { KMIP_OP_DECRYPT, 1, 12, D },
		{ KMIP_OP_ENCRYPT, 1, 57, D }, { KMIP_OP_ENCRYPT, 1, 13, D },
		{ KMIP_OP_ENCRYPT, 1, 26, D }, { KMIP_OP_DECRYPT, 1, 67, D },
		{ KMIP_OP_ENCRYPT, 1, 9, T }, { KMIP_OP_ENCRYPT, 1, 42, T },
		{ KMIP_OP_ENCRYPT, 1, 58, T }, { KMIP_OP_ENCRYPT, 1, 68, T },
		{ KMIP_OP_DECRYPT, 1, 256, I },
		{ KMIP_OP_GET_ATTRIBUTES, 1, 256, T },
		{ KMIP_OP_ENCRYPT, 1, 256, T }, { KMIP_OP_DECRYPT, 1, 0, T },
		{ KMIP_OP_DECRYPT, 1, 10, I }, { KMIP_OP_ENCRYPT, 1, 3, I },
		{ KMIP_OP_ENCRYPT, 1, 37, I }, { KMIP_OP_ENCRYPT, 1, 4, I },
		{ KMIP_OP_ENCRYPT, 1, 7, I }, { KMIP_OP_ENCRYPT, 1, 6, I },
		{ KMIP_OP_ENCRYPT, 1, 5, I }, { KMIP_OP_ENCRYPT, 1, 8, I },
		{ KMIP_OP_ENCRYPT, 1, 11, I }, { KMIP_OP_ENCRYPT, 1, 2, I },
		{ KMIP_OP_ENCRYPT, 1, 36, I }, { KMIP_OP_ENCRYPT, 1, 62, I },
		{ KMIP_OP_ENCRYPT, 1, 41, I }, { KMIP_OP_ENCRYPT, 1, 63, I },
		{ KMIP_OP_ENCRYPT, 1, 0x80000001, T },
		{ KMIP_OP_ENCRYPT, 3, 0, T }, { KMIP_OP_ENCRYPT, 2, 0, I },
		{ KMIP_OP_ENCRYPT, 0, 0, CMEK_ERR_NONE },
	};
	int bad = 0;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		enum cmek_err_class c = cmek_kmip_classify(rows[i].op,
							   rows[i].status,
							   rows[i].reason);

		if (c != rows[i].cls) {
			tap_diag("op %u status %u reason %u: class %d, documented %d",
				 rows[i].op, rows[i].status, rows[i].reason,
				 c, rows[i].cls);
			bad++;
		}
	}
	tap_ok(!bad, "all %zu rows of the documented Result Reason table hold",
	       sizeof(rows) / sizeof(rows[0]));
}

#undef D
#undef T
#undef I

/* A successful @op answer carrying @ct_len bytes of Data and, if @iv_len, an IV. */
static void canned_answer(struct ttlv_buf *rb, uint32_t op, const uint8_t *iv,
			  size_t iv_len, size_t ct_len)
{
	uint8_t ct[CMEK_DEK_MAX], tag[16];

	memset(ct, 0x5a, sizeof(ct));
	memset(tag, 0x11, sizeof(tag));
	ttlv_buf_init(rb);
	ttlv_begin(rb, KMIP_TAG_RESPONSE_MESSAGE);
	ttlv_begin(rb, KMIP_TAG_RESPONSE_HEADER);
	ttlv_begin(rb, KMIP_TAG_PROTOCOL_VERSION);
	ttlv_put_int(rb, KMIP_TAG_PROTOCOL_MAJOR, 1);
	ttlv_put_int(rb, KMIP_TAG_PROTOCOL_MINOR, 4);
	ttlv_end(rb);
	ttlv_put_int(rb, KMIP_TAG_BATCH_COUNT, 1);
	ttlv_end(rb);
	ttlv_begin(rb, KMIP_TAG_BATCH_ITEM);
	ttlv_put_enum(rb, KMIP_TAG_OPERATION, op);
	ttlv_put_enum(rb, KMIP_TAG_RESULT_STATUS, KMIP_STATUS_SUCCESS);
	ttlv_begin(rb, KMIP_TAG_RESPONSE_PAYLOAD);
	ttlv_put_text(rb, KMIP_TAG_UNIQUE_IDENTIFIER, "1");
	ttlv_put_bytes(rb, KMIP_TAG_DATA, ct, ct_len);
	if (iv_len)
		ttlv_put_bytes(rb, KMIP_TAG_IV_COUNTER_NONCE, iv, iv_len);
	if (op == KMIP_OP_ENCRYPT)
		ttlv_put_bytes(rb, KMIP_TAG_AEAD_TAG, tag, sizeof(tag));
	ttlv_end(rb);
	ttlv_end(rb);
	ttlv_end(rb);
}

/* The Request Payload of the request @fp last read. */
static bool request_payload(const struct kmip_fake_peer *fp,
			    struct ttlv_item *pl)
{
	struct ttlv_item top, item;
	const char *why;

	if (!fp->req_len || ttlv_check(fp->req, fp->req_len, &why))
		return false;
	ttlv_item_at(fp->req, fp->req_len, &top);
	return ttlv_find(&top, KMIP_TAG_BATCH_ITEM, TTLV_STRUCT, &item) &&
	       ttlv_find(&item, KMIP_TAG_REQUEST_PAYLOAD, TTLV_STRUCT, pl);
}

static bool asks_random_iv(const struct ttlv_item *pl)
{
	struct ttlv_item cp, v;

	return ttlv_find(pl, KMIP_TAG_CRYPTO_PARAMETERS, TTLV_STRUCT, &cp) &&
	       ttlv_find(&cp, KMIP_TAG_RANDOM_IV, TTLV_BOOL, &v) &&
	       v.len == 8 && v.val[7] == 1;
}

/*
 * The wrap never picks a GCM IV (two wraps under one IV give away the
 * DEK to anyone with Encrypt permission and the header): it asks the
 * server for one and keeps what the server returns; unwrap sends it back.
 */
static void test_server_iv(const struct cmek_binding *b)
{
	static const uint8_t siv[12] = {
		0xa5, 0xa4, 0xa3, 0xa2, 0xa1, 0xa0, 0x9f, 0x9e,
		0x9d, 0x9c, 0x9b, 0x9a,
	};
	struct kmip_fake_peer fp;
	struct cmek_provider *p;
	struct ttlv_item pl, v;
	struct ttlv_buf rb;
	uint8_t dek[64], out[CMEK_DEK_MAX], *w = NULL;
	char cert[256], key[256];
	size_t wl = 0, ol = 0;
	int ret;

	memset(dek, 0x42, sizeof(dek));
	snprintf(cert, sizeof(cert), "%s/pki/server.pem", srv.dir);
	snprintf(key, sizeof(key), "%s/pki/server.key", srv.dir);
	if (kmip_fake_peer_start(&fp, cert, key))
		tap_diag("cannot start the fake KMIP peer");
	p = provider(fp.port, srv.ca_file, srv.cert_file, srv.key_file, "5");

	canned_answer(&rb, KMIP_OP_ENCRYPT, siv, sizeof(siv), sizeof(dek));
	fp.resp = rb.data;
	fp.resp_len = rb.len;
	ret = p->ops->wrap(p, "1", b, dek, sizeof(dek), &w, &wl, &err);
	tap_ok(ret == 0 && request_payload(&fp, &pl) && asks_random_iv(&pl) &&
	       !ttlv_find(&pl, KMIP_TAG_IV_COUNTER_NONCE, TTLV_BYTES, &v),
	       "the Encrypt request asks for Random IV and carries no IV %s",
	       err.msg);
	tap_ok(ret == 0 && wl == 2 + sizeof(siv) + 16 + sizeof(dek) &&
	       w[0] == 2 && w[1] == sizeof(siv) &&
	       !memcmp(w + 2, siv, sizeof(siv)) &&
	       w[2 + sizeof(siv)] == 0x11 && w[wl - 1] == 0x5a,
	       "the blob (version 2) stores the IV the server returned");
	ttlv_buf_free(&rb);

	canned_answer(&rb, KMIP_OP_DECRYPT, NULL, 0, sizeof(dek));
	fp.resp = rb.data;
	fp.resp_len = rb.len;
	ret = w ? unwrap(p, "1", b, w, wl, out, &ol) : -1;
	tap_ok(ret == 0 && request_payload(&fp, &pl) && !asks_random_iv(&pl) &&
	       ttlv_find(&pl, KMIP_TAG_IV_COUNTER_NONCE, TTLV_BYTES, &v) &&
	       v.len == sizeof(siv) && !memcmp(v.val, siv, sizeof(siv)),
	       "unwrap sends the stored server IV back %s", err.msg);
	ttlv_buf_free(&rb);
	free(w);
	w = NULL;

	canned_answer(&rb, KMIP_OP_ENCRYPT, NULL, 0, sizeof(dek));
	fp.resp = rb.data;
	fp.resp_len = rb.len;
	ret = p->ops->wrap(p, "1", b, dek, sizeof(dek), &w, &wl, &err);
	tap_ok(failed_as(ret, CMEK_ERR_TRANSIENT, "IV/Counter/Nonce") && !w,
	       "a server that returns no IV: the wrap fails, as a malformed answer (TRANSIENT): %s",
	       err.msg);
	ttlv_buf_free(&rb);
	free(w);
	cmek_provider_free(p);
	kmip_fake_peer_stop(&fp);
}

/* What cmekd before the server IV wrote: version 1, its own 12-byte IV. */
static int wrap_v1(struct cmek_provider *p, const char *uid,
		   const struct cmek_binding *b, const uint8_t *dek,
		   size_t dek_len, uint8_t *blob, size_t *blob_len)
{
	static const uint8_t iv[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
	struct cmek_kmip_reply r;
	struct ttlv_item ct, tag;
	struct ttlv_buf pl;
	char aad[64];
	size_t aad_len = cmek_binding_aad(b, aad, sizeof(aad));
	int ret = -1;

	ttlv_buf_init(&pl);
	ttlv_put_text(&pl, KMIP_TAG_UNIQUE_IDENTIFIER, uid);
	ttlv_begin(&pl, KMIP_TAG_CRYPTO_PARAMETERS);
	ttlv_put_enum(&pl, KMIP_TAG_BLOCK_CIPHER_MODE, 9);	/* GCM */
	ttlv_put_enum(&pl, KMIP_TAG_CRYPTO_ALGORITHM, 3);	/* AES */
	ttlv_put_int(&pl, KMIP_TAG_TAG_LENGTH, 16);
	ttlv_end(&pl);
	ttlv_put_bytes(&pl, KMIP_TAG_DATA, dek, dek_len);
	ttlv_put_bytes(&pl, KMIP_TAG_IV_COUNTER_NONCE, iv, sizeof(iv));
	ttlv_put_bytes(&pl, KMIP_TAG_AEAD_DATA, aad, aad_len);
	if (!cmek_kmip_call(p, KMIP_OP_ENCRYPT, &pl, &r, &err) && r.has_payload &&
	    ttlv_find(&r.payload, KMIP_TAG_DATA, TTLV_BYTES, &ct) &&
	    ct.len == dek_len &&
	    ttlv_find(&r.payload, KMIP_TAG_AEAD_TAG, TTLV_BYTES, &tag) &&
	    tag.len == 16) {
		blob[0] = 1;
		memcpy(blob + 1, iv, sizeof(iv));
		memcpy(blob + 13, tag.val, 16);
		memcpy(blob + 29, ct.val, dek_len);
		*blob_len = 29 + dek_len;
		ret = 0;
	}
	ttlv_buf_free(&pl);
	cmek_kmip_reply_free(&r);
	return ret;
}

int main(void)
{
	struct cmek_binding b = { "0f8a3e7c-1b2d-4c5e-9f60-123456789abc" };
	struct cmek_binding other = { "11111111-2222-4333-8444-555555555555" };
	uint8_t dek[CMEK_DEK_MAX], out[CMEK_DEK_MAX], *w = NULL, *w2 = NULL;
	uint8_t *w3 = NULL, *capture = NULL;
	size_t wl = 0, wl2 = 0, wl3 = 0, ol = 0, capture_len = 0;
	struct cmek_provider *p, *pc;
	enum cmek_kms_key_state st;
	struct cmek_kmip_reply r;
	struct ttlv_buf pl;
	char uid[64] = "", uid2[64] = "", why[256];
	double t0, t_wrap, t_unwrap, t_state;
	bool found = false;
	int ret, i;

	tap_plan(PLAN);
	atexit(cleanup);

	for (i = 0; cmek_providers[i]; i++)
		found |= !strcmp(cmek_providers[i]->name, "kmip");
	tap_ok(found && cmek_provider_lookup("kmip") != NULL,
	       "kmip is a registered provider");
	test_config();

	t0 = now_ms();
	ret = kmip_server_start(&srv, why, sizeof(why));
	tap_ok(ret == 0, "pykmip-server runs on 127.0.0.1:%d (ready in %.0f ms)%s%s",
	       srv.port, now_ms() - t0, ret ? ": " : "", ret ? why : "");
	if (ret) {
		printf("Bail out! no KMIP server: %s\n", why);
		return 1;
	}
	p = provider(srv.port, srv.ca_file, srv.cert_file, srv.key_file, "5");
	memset(&err, 0, sizeof(err));
	ret = p ? kmip_admin_create_aes(p, uid, sizeof(uid), &err) : -1;
	tap_ok(ret == 0 && uid[0],
	       "an AES-256 key is created and activated: UID %s%s", uid,
	       err.msg);
	if (!p || !uid[0]) {
		printf("Bail out! cannot create a key: %s\n", err.msg);
		return 1;
	}

	t0 = now_ms();
	ret = state(p, uid, &st);
	t_state = now_ms() - t0;
	tap_ok(ret == 0 && st == CMEK_KMS_ENABLED,
	       "key_state of an Active key is enabled %s", err.msg);
	t0 = now_ms();
	ret = p->ops->generate(p, uid, &b, dek, 64, &w, &wl, &err);
	t_wrap = now_ms() - t0;
	tap_ok(ret == 0 && wl > 2 && wl == 2 + (size_t)w[1] + 16 + 64,
	       "generate a 64-byte DEK, wrapped by the server (%zu-byte blob) %s",
	       wl, err.msg);
	t0 = now_ms();
	ret = unwrap(p, uid, &b, w, wl, out, &ol);
	t_unwrap = now_ms() - t0;
	tap_ok(ret == 0 && ol == 64 && !memcmp(out, dek, 64),
	       "unwrap returns the same DEK %s", err.msg);
	tap_diag("latency: key_state %.1f ms, generate+wrap %.1f ms, unwrap %.1f ms",
		 t_state, t_wrap, t_unwrap);
	tap_ok(w && !memmem(w, wl, dek, 16) && w[0] == 2,
	       "the blob is version 2 and does not contain the DEK");
	/* PyKMIP ignores IV Length and draws one AES block: 16 bytes. */
	tap_ok(w && w[1] == 16,
	       "the blob stores the IV PyKMIP drew (%u bytes; cmekd sends none) "
	       "and unwraps with it", w ? w[1] : 0);

	ret = unwrap(p, uid, &other, w, wl, out, &ol);
	tap_ok(failed_as(ret, CMEK_ERR_INVALID, "another volume"),
	       "another volume's binding fails the server's GCM check (INVALID): %s",
	       err.msg);
	w[wl - 1] ^= 1;
	ret = unwrap(p, uid, &b, w, wl, out, &ol);
	tap_ok(failed_as(ret, CMEK_ERR_INVALID, "does not authenticate"),
	       "a corrupted ciphertext is INVALID");
	w[wl - 1] ^= 1;
	w[0] = 3;
	ret = unwrap(p, uid, &b, w, wl, out, &ol);
	w[0] = 2;
	tap_ok(failed_as(ret, CMEK_ERR_INVALID, "v1 or v2 blob") &&
	       unwrap(p, uid, &b, w, 34, out, &ol) < 0 &&
	       err.cls == CMEK_ERR_INVALID,
	       "an unknown version or a short blob is INVALID without a request");
	{
		uint8_t v1[29 + 64];
		size_t v1_len = 0;

		ret = wrap_v1(p, uid, &b, dek, 64, v1, &v1_len);
		tap_ok(ret == 0 && unwrap(p, uid, &b, v1, v1_len, out, &ol) == 0 &&
		       ol == 64 && !memcmp(out, dek, 64),
		       "a version 1 blob (cmekd's own IV, before) still unwraps %s",
		       err.msg);
	}
	tap_ok(p->ops->wrap(p, uid, &b, dek, 32, &w2, &wl2, &err) == 0 &&
	       unwrap(p, uid, &b, w2, wl2, out, &ol) == 0 && ol == 32 &&
	       !memcmp(out, dek, 32), "wrap/unwrap a 32-byte key");
	tap_ok(p->ops->wrap(p, uid, &b, dek, 64, &w3, &wl3, &err) == 0 &&
	       wl3 == wl && memcmp(w3, w, wl),
	       "wrapping twice gives different blobs (fresh server IV)");
	test_server_iv(&b);

	pc = provider(srv.port, srv.ca_file, srv.cert_file, srv.key_file, "5");
	pc->ops->configure(pc, "username", "cmek", &err);
	pc->ops->configure(pc, "password", "s3cret-pw", &err);
	ret = unwrap(pc, uid, &b, w, wl, out, &ol);
	tap_ok(ret == 0 && ol == 64 && !memcmp(out, dek, 64),
	       "a request carrying a username/password Credential is accepted %s",
	       err.msg);
	ret = unwrap(pc, "no-such-key", &b, w, wl, out, &ol);
	tap_ok(ret < 0 && !strstr(err.msg, "s3cret"),
	       "error messages never contain the password");
	cmek_provider_free(pc);

	/* A real Decrypt response, kept for the fuzzing below. */
	ttlv_buf_init(&pl);
	ttlv_put_text(&pl, KMIP_TAG_UNIQUE_IDENTIFIER, uid);
	ttlv_put_text(&pl, KMIP_TAG_ATTRIBUTE_NAME, "State");
	if (cmek_kmip_call(p, KMIP_OP_GET_ATTRIBUTES, &pl, &r, &err) == 0) {
		capture = malloc(r.msg_len);
		memcpy(capture, r.msg, r.msg_len);
		capture_len = r.msg_len;
	}
	cmek_kmip_reply_free(&r);
	ttlv_buf_free(&pl);

	ret = unwrap(p, "999999", &b, w, wl, out, &ol);
	tap_ok(failed_as(ret, CMEK_ERR_DEFINITIVE, "Item Not Found"),
	       "an unknown UID is DEFINITIVE: %s", err.msg);
	tap_ok(state(p, "999999", &st) == 0 && st == CMEK_KMS_DELETED,
	       "... and key_state says deleted");

	test_tls(uid, &b, w, wl);

	/* Revoke: what makes cmekd lock the volume. */
	memset(&err, 0, sizeof(err));
	ret = kmip_admin_revoke(p, uid, 6, &err);
	tap_ok(ret == 0,
	       "the key is revoked on the server (Cessation of Operation) %s",
	       err.msg);
	ret = state(p, uid, &st);
	tap_ok(ret == 0 && st == CMEK_KMS_DISABLED,
	       "key_state of the revoked (Deactivated) key is %s",
	       ret ? err.msg : cmek_kms_key_state_name(st));
	ret = unwrap(p, uid, &b, w, wl, out, &ol);
	tap_ok(failed_as(ret, CMEK_ERR_DEFINITIVE, "Permission Denied"),
	       "unwrap with the revoked key is DEFINITIVE: %s", err.msg);
	free(w2);
	w2 = NULL;
	ret = p->ops->generate(p, uid, &b, dek, 64, &w2, &wl2, &err);
	tap_ok(ret < 0 && err.cls == CMEK_ERR_DEFINITIVE && !w2,
	       "generate with the revoked key is DEFINITIVE");

	tap_ok(kmip_admin_create_aes(p, uid2, sizeof(uid2), &err) == 0 &&
	       kmip_admin_revoke(p, uid2, 2, &err) == 0,
	       "a second key is created and revoked as compromised (UID %s)", uid2);
	tap_ok(state(p, uid2, &st) == 0 && st == CMEK_KMS_DELETED,
	       "key_state of a Compromised key is deleted");
	ret = kmip_admin_destroy(p, uid2, &err);
	if (!ret)
		ret = state(p, uid2, &st);
	tap_ok(ret == 0 && st == CMEK_KMS_DELETED,
	       "a destroyed key reports deleted (GetAttributes: %s)", err.msg);

	test_bad_peers(&b, w, wl);

	kmip_server_stop(&srv);
	t0 = now_ms();
	ret = state(p, uid, &st);
	tap_ok(failed_as(ret, CMEK_ERR_TRANSIENT, "cannot connect") &&
	       now_ms() - t0 < 1000,
	       "with the server killed key_state is TRANSIENT at once: %s", err.msg);
	ret = unwrap(p, uid, &b, w, wl, out, &ol);
	tap_ok(ret < 0 && err.cls == CMEK_ERR_TRANSIENT,
	       "... and so is unwrap");

	tap_ok(capture_len > 0, "a real GetAttributes response was captured (%zu bytes)",
	       capture_len);
	if (capture_len) {
		fuzz_response(capture, capture_len, KMIP_OP_GET_ATTRIBUTES);
	} else {
		tap_ok(0, "fuzz truncations");
		tap_ok(0, "fuzz mutations");
	}

	test_classify_table();

	free(capture);
	free(w);
	free(w2);
	free(w3);
	cmek_provider_free(p);
	return tap_done();
}
