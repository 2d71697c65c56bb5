// SPDX-License-Identifier: GPL-2.0
/*
 * The "kmip" provider: the customer's AES key stays in a KMIP server; the
 * server encrypts and decrypts data keys with it (KMIP 1.4 Encrypt and
 * Decrypt, AES-256-GCM), and GetAttributes(State) tells cmekd whether the
 * key is usable. The key reference is the key's KMIP Unique Identifier.
 *
 * Wrapped blob: version (1 byte, 2) || IV length n (1) || IV (n) || GCM
 * tag (16) || ciphertext, where the server authenticated
 * "cmek-dek-v1:<volume uuid>" as Authenticated Encryption Additional Data
 * and chose the IV itself (Random IV): a client that picks GCM IVs can
 * reuse one, and anyone with Encrypt permission and a copy of the header
 * could then recover the DEK from the keystream; FIPS servers refuse
 * client IVs anyway. Version 1 blobs (IV (12) chosen by cmekd, no length
 * byte) still unwrap. A blob moved to another volume fails the server's
 * tag check. (PyKMIP 0.10 implements GCM with AAD when the request says
 * KMIP 1.4, which is why the protocol version is 1.4.)
 *
 * Transport: one TLS connection per operation (cmekd makes a call per
 * open, rewrap or health-check interval, so a pooled connection would buy
 * little and need keep-alive handling). TLS 1.2 or later, the server
 * certificate checked against ca_file only and against the host name or IP
 * address (or server_name), a client certificate always presented. The
 * whole request (connect, handshake, write, read) shares one deadline.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "kit.h"
#include "kmip.h"

#define WRAP_V1		1	/* client IV: unwrap only */
#define WRAP_V2		2	/* server IV */
#define V1_IV_LEN	12
#define IV_LEN		12	/* asked of the server (IV Length) */
#define IV_MIN		12	/* GCM's 96 bits; PyKMIP returns 16 bytes */
#define IV_MAX		64
#define TAG_LEN		16
#define V1_OVERHEAD	(1 + V1_IV_LEN + TAG_LEN)

#define KMIP_ALG_AES		3
#define KMIP_MODE_GCM		9
#define KMIP_CRED_USER_PASS	1

struct kmip_priv {
	char *host;
	unsigned int port;
	char *ca_file, *cert_file, *key_file;
	char *server_name;		/* verified name; default host */
	unsigned int timeout;		/* seconds */
	struct cmek_http_opts retry;	/* retries, backoff, deadline */
	char *username, *password;
	SSL_CTX *ctx;			/* built on first use */
};

struct kmip_conn {
	struct kmip_priv *kp;
	int fd;
	SSL *ssl;
	struct timespec deadline;
};

/* ---- result classification ---- */

static const struct {
	uint32_t reason;
	const char *name;
} reasons[] = {
	{ 1, "Item Not Found" },
	{ 2, "Response Too Large" },
	{ 3, "Authentication Not Successful" },
	{ 4, "Invalid Message" },
	{ 5, "Operation Not Supported" },
	{ 6, "Missing Data" },
	{ 7, "Invalid Field" },
	{ 8, "Feature Not Supported" },
	{ 9, "Operation Canceled By Requester" },
	{ 10, "Cryptographic Failure" },
	{ 11, "Illegal Operation" },
	{ 12, "Permission Denied" },
	{ 13, "Object Archived" },
	{ 14, "Index Out of Bounds" },
	{ 15, "Application Namespace Not Supported" },
	{ 16, "Key Format Type Not Supported" },
	{ 17, "Key Compression Type Not Supported" },
	{ 18, "Encoding Option Error" },
	{ 19, "Key Value Not Present" },
	{ 20, "Attestation Required" },
	{ 21, "Attestation Failed" },
	{ 22, "Sensitive" },
	{ 23, "Not Extractable" },
	{ 24, "Object Already Exists" },
	{ 26, "Usage Limit Exceeded" },
	{ 36, "Bad Cryptographic Parameters" },
	{ 37, "Bad Password" },
	{ 41, "Incompatible Cryptographic Usage Mask" },
	{ 42, "Internal Server Error" },
	{ 54, "Object Destroyed" },
	{ 55, "Object Not Found" },
	{ 57, "Not Authorised" },
	{ 58, "Server Limit Exceeded" },
	{ 62, "Unsupported Cryptographic Parameters" },
	{ 63, "Unsupported Protocol Version" },
	{ 67, "Wrong Key Lifecycle State" },
	{ 68, "Protection Storage Unavailable" },
	{ 256, "General Failure" },
};

const char *cmek_kmip_reason_name(uint32_t reason)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].reason == reason)
			return reasons[i].name;
	return "unknown reason";
}

enum cmek_err_class cmek_kmip_classify(uint32_t op, uint32_t status,
				       uint32_t reason)
{
	if (status == KMIP_STATUS_SUCCESS)
		return CMEK_ERR_NONE;
	if (status == KMIP_STATUS_UNDONE)
		return CMEK_ERR_TRANSIENT;
	if (status != KMIP_STATUS_FAILED)
		return CMEK_ERR_INVALID;	/* Pending: we never ask async */
	switch (reason) {
	case 1:		/* Item Not Found */
	case 12:	/* Permission Denied (also PyKMIP: key not Active) */
	case 13:	/* Object Archived */
	case 26:	/* Usage Limit Exceeded */
	case 54:	/* Object Destroyed */
	case 55:	/* Object Not Found */
	case 57:	/* Not Authorised */
	case 67:	/* Wrong Key Lifecycle State */
		return CMEK_ERR_DEFINITIVE;
	case 9:		/* Operation Canceled By Requester */
	case 42:	/* Internal Server Error */
	case 58:	/* Server Limit Exceeded */
	case 68:	/* Protection Storage Unavailable */
		return CMEK_ERR_TRANSIENT;
	case 256:	/* General Failure */
		/*
		 * PyKMIP answers a GCM tag mismatch with General Failure (the
		 * InvalidTag exception is not mapped): on Decrypt this is how
		 * a wrong-volume blob looks, so it must not be retried.
		 */
		return op == KMIP_OP_DECRYPT ? CMEK_ERR_INVALID :
		       CMEK_ERR_TRANSIENT;
	case 0:		/* no reason given */
		return CMEK_ERR_TRANSIENT;
	}
	/* Malformed or unsupported request, bad credentials, crypto failure. */
	return reason < 256 ? CMEK_ERR_INVALID : CMEK_ERR_TRANSIENT;
}

/* ---- response decoding ---- */

int cmek_kmip_parse_response(const uint8_t *msg, size_t len, uint32_t op,
			     struct cmek_kmip_reply *r, struct cmek_error *err)
{
	struct ttlv_item top, hdr, item, v;
	const char *why;

	r->status = 0;
	r->reason = 0;
	r->message[0] = '\0';
	r->has_payload = false;
	if (ttlv_check(msg, len, &why))
		return cmek_error_set(err, CMEK_ERR_TRANSIENT,
				      "malformed KMIP response: %s", why);
	ttlv_item_at(msg, len, &top);
	if (top.tag != KMIP_TAG_RESPONSE_MESSAGE || top.type != TTLV_STRUCT)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT,
				      "malformed KMIP response: not a Response Message");
	if (!ttlv_find(&top, KMIP_TAG_RESPONSE_HEADER, TTLV_STRUCT, &hdr) ||
	    !ttlv_find(&hdr, KMIP_TAG_BATCH_COUNT, TTLV_INT, &v) ||
	    ttlv_u32(&v) != 1)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT,
				      "malformed KMIP response: no header or batch count is not 1");
	if (!ttlv_find(&top, KMIP_TAG_BATCH_ITEM, TTLV_STRUCT, &item) ||
	    !ttlv_find(&item, KMIP_TAG_RESULT_STATUS, TTLV_ENUM, &v))
		return cmek_error_set(err, CMEK_ERR_TRANSIENT,
				      "malformed KMIP response: no batch item or result status");
	r->status = ttlv_u32(&v);
	/* Error replies to unparsable requests carry no Operation. */
	if (ttlv_find(&item, KMIP_TAG_OPERATION, TTLV_ENUM, &v) &&
	    ttlv_u32(&v) != op) {
		r->status = 0;
		return cmek_error_set(err, CMEK_ERR_TRANSIENT,
				      "malformed KMIP response: answers operation %u, not %u",
				      ttlv_u32(&v), op);
	}
	if (ttlv_find(&item, KMIP_TAG_RESULT_REASON, TTLV_ENUM, &v))
		r->reason = ttlv_u32(&v);
	if (ttlv_find(&item, KMIP_TAG_RESULT_MESSAGE, TTLV_TEXT, &v))
		cmek_kit_clean(r->message, sizeof(r->message),
			       (const char *)v.val, v.len);
	r->has_payload = ttlv_find(&item, KMIP_TAG_RESPONSE_PAYLOAD,
				   TTLV_STRUCT, &r->payload);
	return 0;
}

void cmek_kmip_reply_free(struct cmek_kmip_reply *r)
{
	if (r->msg) {
		OPENSSL_cleanse(r->msg, r->msg_len);
		free(r->msg);
	}
	memset(r, 0, sizeof(*r));
}

/* ---- transport ---- */

static long ms_left(const struct timespec *deadline)
{
	struct timespec now;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (deadline->tv_sec - now.tv_sec) * 1000 +
	     (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms > 0 ? ms : 0;
}

/* 0 when @fd is ready for @events, -ETIMEDOUT at the deadline. */
static int wait_fd(int fd, short events, const struct timespec *deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	long ms;
	int n;

	do {
		ms = ms_left(deadline);
		if (!ms)
			return -ETIMEDOUT;
		n = poll(&pfd, 1, (int)ms);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n ? 0 : -ETIMEDOUT;
}

static int timeout_error(struct kmip_conn *c, const char *stage,
			 struct cmek_error *err)
{
	return cmek_error_set(err, CMEK_ERR_TRANSIENT,
			      "KMIP server %s:%u did not answer within %u s (%s)",
			      c->kp->host, c->kp->port, c->kp->timeout, stage);
}

static int connect_one(struct kmip_conn *c, const struct addrinfo *ai)
{
	socklen_t sl = sizeof(int);
	int fd, e = 0;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
	if (fd < 0)
		return -errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		e = errno == EINPROGRESS ? wait_fd(fd, POLLOUT, &c->deadline) :
		    -errno;
		if (!e && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl) == 0)
			e = -e;
	}
	if (e) {
		close(fd);
		return e;
	}
	c->fd = fd;
	return 0;
}

static int tcp_connect(struct kmip_conn *c, struct cmek_error *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	char port[8];
	int ret, e = -ECONNREFUSED;

	snprintf(port, sizeof(port), "%u", c->kp->port);
	/* Name resolution is bounded by resolv.conf, not by our deadline. */
	ret = getaddrinfo(c->kp->host, port, &hints, &res);
	if (ret)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT,
				      "cannot resolve KMIP server %s: %s",
				      c->kp->host, gai_strerror(ret));
	for (ai = res; ai; ai = ai->ai_next) {
		e = connect_one(c, ai);
		if (!e || e == -ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	if (e == -ETIMEDOUT)
		return timeout_error(c, "connect", err);
	if (e)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT,
				      "cannot connect to KMIP server %s:%u: %s",
				      c->kp->host, c->kp->port, strerror(-e));
	return 0;
}

/* Alerts that mean "your certificate or TLS settings are not accepted". */
static bool alert_is_config(int alert)
{
	switch (alert) {
	case SSL_AD_HANDSHAKE_FAILURE:
	case SSL_AD_DECRYPT_ERROR:	/* client certificate signature */
	case SSL_AD_BAD_CERTIFICATE:
	case SSL_AD_UNSUPPORTED_CERTIFICATE:
	case SSL_AD_CERTIFICATE_REVOKED:
	case SSL_AD_CERTIFICATE_EXPIRED:
	case SSL_AD_CERTIFICATE_UNKNOWN:
	case SSL_AD_UNKNOWN_CA:
	case SSL_AD_ACCESS_DENIED:
	case SSL_AD_PROTOCOL_VERSION:
	case SSL_AD_INSUFFICIENT_SECURITY:
	case SSL_AD_CERTIFICATE_REQUIRED:
		return true;
	}
	return false;
}

static int tls_error(struct kmip_conn *c, int ret, const char *stage,
		     struct cmek_error *err)
{
	int saved_errno = errno, e = SSL_get_error(c->ssl, ret), reason;
	unsigned long code = ERR_peek_error();
	long vr = SSL_get_verify_result(c->ssl);
	const char *rs;

	/* OpenSSL 3 reports an EOF without close_notify as an SSL error. */
	if (e == SSL_ERROR_ZERO_RETURN ||
	    (e == SSL_ERROR_SYSCALL && !code) ||
	    (ERR_GET_LIB(code) == ERR_LIB_SSL &&
	     ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING))
		return cmek_error_set(err, CMEK_ERR_TRANSIENT,
				      "KMIP server %s:%u closed the connection during %s%s%s",
				      c->kp->host, c->kp->port, stage,
				      saved_errno ? ": " : "",
				      saved_errno ? strerror(saved_errno) : "");
	/*
	 * Whatever the server or someone on the way sends -- a certificate,
	 * an alert, another protocol -- is no answer from the KMIP server:
	 * it counts toward unreachable_grace (provider.h), whatever the
	 * likely cause the message names.
	 */
	if (vr != X509_V_OK)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT,
				      "cannot verify the certificate of KMIP server %s:%u: %s (check ca_file and server_name)",
				      c->kp->host, c->kp->port,
				      X509_verify_cert_error_string(vr));
	reason = ERR_GET_REASON(code);
	rs = ERR_reason_error_string(code);
	if (!rs)
		rs = "unknown TLS error";
	if (ERR_GET_LIB(code) == ERR_LIB_SSL &&
	    reason >= SSL_AD_REASON_OFFSET &&
	    alert_is_config(reason - SSL_AD_REASON_OFFSET))
		return cmek_error_set(err, CMEK_ERR_TRANSIENT,
				      "KMIP server %s:%u refused the TLS handshake (%s): does it trust cert_file's CA?",
				      c->kp->host, c->kp->port, rs);
	if (ERR_GET_LIB(code) == ERR_LIB_SSL &&
	    (reason == SSL_R_WRONG_VERSION_NUMBER ||
	     reason == SSL_R_UNSUPPORTED_PROTOCOL ||
	     reason == SSL_R_NO_PROTOCOLS_AVAILABLE ||
	     reason == SSL_R_NO_SHARED_CIPHER))
		return cmek_error_set(err, CMEK_ERR_TRANSIENT,
				      "TLS with KMIP server %s:%u failed (%s): is it a KMIP/TLS port?",
				      c->kp->host, c->kp->port, rs);
	return cmek_error_set(err, CMEK_ERR_TRANSIENT,
			      "TLS error with KMIP server %s:%u during %s: %s",
			      c->kp->host, c->kp->port, stage, rs);
}

/*
 * Wait after an SSL call returned @ret <= 0: 1 to retry, -1 with @err set
 * when it really failed or the deadline passed.
 */
static int tls_retry(struct kmip_conn *c, int ret, const char *stage,
		     struct cmek_error *err)
{
	int e = SSL_get_error(c->ssl, ret), w;

	if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
		return tls_error(c, ret, stage, err);
	w = wait_fd(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
		    &c->deadline);
	if (w == -ETIMEDOUT)
		return timeout_error(c, stage, err);
	if (w)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT,
				      "poll: %s", strerror(-w));
	return 1;
}

static int tls_handshake(struct kmip_conn *c, struct cmek_error *err)
{
	const char *name = c->kp->server_name ? c->kp->server_name :
			   c->kp->host;
	unsigned char bin[16];
	bool is_ip = inet_pton(AF_INET, name, bin) == 1 ||
		     inet_pton(AF_INET6, name, bin) == 1;
	int ret;

	c->ssl = SSL_new(c->kp->ctx);
	if (!c->ssl || !SSL_set_fd(c->ssl, c->fd))
		return cmek_error_set(err, CMEK_ERR_TRANSIENT,
				      "out of memory (SSL_new)");
	if (is_ip ? !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl),
						   name) :
	    (!SSL_set1_host(c->ssl, name) ||
	     !SSL_set_tlsext_host_name(c->ssl, name)))
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "cannot verify against server name '%s'",
				      name);
	ERR_clear_error();
	while ((ret = SSL_connect(c->ssl)) <= 0) {
		ret = tls_retry(c, ret, "TLS handshake", err);
		if (ret < 0)
			return -1;
		ERR_clear_error();
	}
	return 0;
}

static int tls_write_all(struct kmip_conn *c, const uint8_t *p, size_t len,
			 struct cmek_error *err)
{
	size_t n;
	int ret;

	while (len) {
		ERR_clear_error();
		ret = SSL_write_ex(c->ssl, p, len, &n);
		if (ret <= 0) {
			if (tls_retry(c, ret, "sending the request", err) < 0)
				return -1;
			continue;
		}
		p += n;
		len -= n;
	}
	return 0;
}

static int tls_read_all(struct kmip_conn *c, uint8_t *p, size_t len,
			struct cmek_error *err)
{
	size_t n;
	int ret;

	while (len) {
		ERR_clear_error();
		ret = SSL_read_ex(c->ssl, p, len, &n);
		if (ret <= 0) {
			if (tls_retry(c, ret, "waiting for the response", err) < 0)
				return -1;
			continue;
		}
		p += n;
		len -= n;
	}
	return 0;
}

static void conn_close(struct kmip_conn *c)
{
	if (c->ssl) {
		/* Best effort close_notify; never wait for the peer's. */
		if (SSL_is_init_finished(c->ssl))
			SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	if (c->fd >= 0)
		close(c->fd);
	ERR_clear_error();
}

/* Read the 8-byte header, check it, then exactly the announced length. */
static int read_response(struct kmip_conn *c, struct cmek_kmip_reply *r,
			 struct cmek_error *err)
{
	uint8_t hdr[TTLV_HDR_LEN];
	uint32_t len;

	if (tls_read_all(c, hdr, sizeof(hdr), err))
		return -1;
	len = (uint32_t)hdr[4] << 24 | (uint32_t)hdr[5] << 16 |
	      (uint32_t)hdr[6] << 8 | hdr[7];
	if ((hdr[0] << 16 | hdr[1] << 8 | hdr[2]) != KMIP_TAG_RESPONSE_MESSAGE ||
	    hdr[3] != TTLV_STRUCT)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT,
				      "malformed KMIP response: not a Response Message");
	if (len > KMIP_RESPONSE_MAX || len % 8)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT,
				      "malformed KMIP response: announced length %u (limit %u, multiple of 8)",
				      len, KMIP_RESPONSE_MAX);
	r->msg = malloc(sizeof(hdr) + len);
	if (!r->msg)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
	r->msg_len = sizeof(hdr) + len;
	memcpy(r->msg, hdr, sizeof(hdr));
	return tls_read_all(c, r->msg + sizeof(hdr), len, err);
}

/* ---- requests ---- */

static int build_ctx(struct kmip_priv *kp, struct cmek_error *err)
{
	SSL_CTX *ctx;

	if (kp->ctx)
		return 0;
	if (!kp->host || !kp->ca_file || !kp->cert_file || !kp->key_file)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "kmip provider needs host, ca_file, cert_file and key_file");
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT,
				      "out of memory (SSL_CTX_new)");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
#ifdef SSL_OP_CLEANSE_PLAINTEXT
	/* OpenSSL would keep the decrypted record (an unwrapped DEK). */
	SSL_CTX_set_options(ctx, SSL_OP_CLEANSE_PLAINTEXT);
#endif
	if (SSL_CTX_load_verify_locations(ctx, kp->ca_file, NULL) != 1) {
		cmek_error_set(err, CMEK_ERR_INVALID,
			       "cannot load ca_file %s", kp->ca_file);
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, kp->cert_file) != 1) {
		cmek_error_set(err, CMEK_ERR_INVALID,
			       "cannot load cert_file %s", kp->cert_file);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, kp->key_file,
					SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		cmek_error_set(err, CMEK_ERR_INVALID,
			       "cannot load key_file %s, or it does not match cert_file",
			       kp->key_file);
		goto fail;
	}
	kp->ctx = ctx;
	return 0;
fail:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return -1;
}

static void build_request(struct kmip_priv *kp, uint32_t op,
			  const struct ttlv_buf *payload, struct ttlv_buf *b)
{
	ttlv_begin(b, KMIP_TAG_REQUEST_MESSAGE);
	ttlv_begin(b, KMIP_TAG_REQUEST_HEADER);
	ttlv_begin(b, KMIP_TAG_PROTOCOL_VERSION);
	ttlv_put_int(b, KMIP_TAG_PROTOCOL_MAJOR, 1);
	ttlv_put_int(b, KMIP_TAG_PROTOCOL_MINOR, 4);
	ttlv_end(b);
	ttlv_put_int(b, KMIP_TAG_MAX_RESPONSE_SIZE, KMIP_RESPONSE_MAX);
	if (kp->username) {
		ttlv_begin(b, KMIP_TAG_AUTHENTICATION);
		ttlv_begin(b, KMIP_TAG_CREDENTIAL);
		ttlv_put_enum(b, KMIP_TAG_CREDENTIAL_TYPE, KMIP_CRED_USER_PASS);
		ttlv_begin(b, KMIP_TAG_CREDENTIAL_VALUE);
		ttlv_put_text(b, KMIP_TAG_USERNAME, kp->username);
		if (kp->password)
			ttlv_put_text(b, KMIP_TAG_PASSWORD, kp->password);
		ttlv_end(b);
		ttlv_end(b);
		ttlv_end(b);
	}
	ttlv_put_int(b, KMIP_TAG_BATCH_COUNT, 1);
	ttlv_end(b);
	ttlv_begin(b, KMIP_TAG_BATCH_ITEM);
	ttlv_put_enum(b, KMIP_TAG_OPERATION, op);
	ttlv_begin(b, KMIP_TAG_REQUEST_PAYLOAD);
	if (payload->len)
		ttlv_put_raw(b, payload->data, payload->len);
	ttlv_end(b);
	ttlv_end(b);
	ttlv_end(b);
}

/* Writing to a closed connection must not kill the caller with SIGPIPE. */
static void sigpipe_block(sigset_t *old)
{
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &s, old);
}

static void sigpipe_restore(const sigset_t *old)
{
	struct timespec zero = { 0 };
	sigset_t s, pending;

	sigemptyset(&s);
	sigaddset(&s, SIGPIPE);
	if (!sigismember(old, SIGPIPE) && sigpending(&pending) == 0 &&
	    sigismember(&pending, SIGPIPE))
		sigtimedwait(&s, NULL, &zero);
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

static const char *op_name(uint32_t op)
{
	switch (op) {
	case KMIP_OP_CREATE:
		return "Create";
	case KMIP_OP_GET_ATTRIBUTES:
		return "GetAttributes";
	case KMIP_OP_ACTIVATE:
		return "Activate";
	case KMIP_OP_REVOKE:
		return "Revoke";
	case KMIP_OP_DESTROY:
		return "Destroy";
	case KMIP_OP_ENCRYPT:
		return "Encrypt";
	case KMIP_OP_DECRYPT:
		return "Decrypt";
	}
	return "operation";
}

static int exchange(struct kmip_priv *kp, const struct ttlv_buf *req,
		    struct cmek_kmip_reply *r, struct cmek_error *err)
{
	struct kmip_conn c = { .kp = kp, .fd = -1 };
	sigset_t old;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &c.deadline);
	c.deadline.tv_sec += kp->timeout;
	sigpipe_block(&old);
	ret = tcp_connect(&c, err);
	if (!ret)
		ret = tls_handshake(&c, err);
	if (!ret)
		ret = tls_write_all(&c, req->data, req->len, err);
	if (!ret)
		ret = read_response(&c, r, err);
	conn_close(&c);
	sigpipe_restore(&old);
	return ret;
}

struct kmip_attempt {
	struct kmip_priv *kp;
	uint32_t op;
	const struct ttlv_buf *req;
	struct cmek_kmip_reply *r;
};

static int kmip_attempt(void *ctx, long *retry_after_ms,
			struct cmek_error *err)
{
	struct kmip_attempt *a = ctx;
	struct cmek_kmip_reply *r = a->r;
	enum cmek_err_class cls;

	cmek_kmip_reply_free(r);
	if (exchange(a->kp, a->req, r, err) ||
	    cmek_kmip_parse_response(r->msg, r->msg_len, a->op, r, err))
		return -1;
	cls = cmek_kmip_classify(a->op, r->status, r->reason);
	if (cls == CMEK_ERR_NONE)
		return 0;
	return cmek_error_set(err, cls, "KMIP %s failed: %s (%u)%s%s%s",
			      op_name(a->op), r->status == KMIP_STATUS_FAILED ?
			      cmek_kmip_reason_name(r->reason) :
			      "unexpected result status", r->reason,
			      r->message[0] ? ": \"" : "", r->message,
			      r->message[0] ? "\"" : "");
}

/*
 * What may be sent again after a failure that might have reached the
 * server: reads, and encryption (a new IV, a new ciphertext). Not Create,
 * Activate, Revoke or Destroy.
 */
static bool op_idempotent(uint32_t op)
{
	return op == KMIP_OP_ENCRYPT || op == KMIP_OP_DECRYPT ||
	       op == KMIP_OP_GET_ATTRIBUTES;
}

int cmek_kmip_call(struct cmek_provider *p, uint32_t op,
		   const struct ttlv_buf *payload, struct cmek_kmip_reply *r,
		   struct cmek_error *err)
{
	struct kmip_priv *kp = p->priv;
	struct kmip_attempt a = { kp, op, NULL, r };
	struct cmek_http_opts once;
	struct ttlv_buf req;
	int ret;

	memset(r, 0, sizeof(*r));
	if (build_ctx(kp, err))
		return -1;
	if (ttlv_buf_failed(payload))
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "KMIP %s request too large", op_name(op));
	ttlv_buf_init(&req);
	build_request(kp, op, payload, &req);
	if (ttlv_buf_failed(&req)) {
		ttlv_buf_free(&req);
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "KMIP %s request too large", op_name(op));
	}
	a.req = &req;
	once = kp->retry;
	if (!op_idempotent(op))
		once.retries = 0;
	ret = cmek_retry(&once, kp->timeout * 1000L, kmip_attempt, &a, err);
	ttlv_buf_free(&req);	/* wipes the request: it may hold a DEK */
	return ret ? -1 : 0;
}

static bool key_ref_valid(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > KMIP_KEY_REF_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return false;
	return true;
}

static int check_key_ref(const char *key_ref, struct cmek_error *err)
{
	if (!key_ref_valid(key_ref))
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "invalid KMIP key reference (a Unique Identifier: 1-%d printable characters)",
				      KMIP_KEY_REF_MAX);
	return 0;
}

/* @random_iv: Encrypt, the server picks the IV and returns it. */
static void put_gcm_params(struct ttlv_buf *b, bool random_iv)
{
	/* PyKMIP reads these in the order KMIP 1.4 lists them. */
	ttlv_begin(b, KMIP_TAG_CRYPTO_PARAMETERS);
	ttlv_put_enum(b, KMIP_TAG_BLOCK_CIPHER_MODE, KMIP_MODE_GCM);
	ttlv_put_enum(b, KMIP_TAG_CRYPTO_ALGORITHM, KMIP_ALG_AES);
	if (random_iv) {
		ttlv_put_bool(b, KMIP_TAG_RANDOM_IV, true);
		ttlv_put_int(b, KMIP_TAG_IV_LENGTH, IV_LEN * 8);	/* bits */
	}
	ttlv_put_int(b, KMIP_TAG_TAG_LENGTH, TAG_LEN);
	ttlv_end(b);
}

/*
 * An item of a successful Encrypt/Decrypt: exactly @len bytes, or with
 * @max, @len to @max bytes.
 */
static int reply_data(const struct cmek_kmip_reply *r, uint32_t tag,
		      size_t len, size_t max, struct ttlv_item *out,
		      struct cmek_error *err)
{
	if (!r->has_payload ||
	    !ttlv_find(&r->payload, tag, TTLV_BYTES, out) ||
	    out->len < len || out->len > (max ? max : len))
		return cmek_error_set(err, CMEK_ERR_TRANSIENT,
				      "malformed KMIP response: missing or wrong-sized %s",
				      tag == KMIP_TAG_DATA ? "Data" :
				      tag == KMIP_TAG_IV_COUNTER_NONCE ?
				      "IV/Counter/Nonce (the server must "
				      "generate the IV)" :
				      "Authenticated Encryption Tag");
	return 0;
}

static int kmip_wrap(struct cmek_provider *p, const char *key_ref,
		     const struct cmek_binding *b, const uint8_t *dek,
		     size_t dek_len, uint8_t **wrapped, size_t *wrapped_len,
		     struct cmek_error *err)
{
	struct cmek_kmip_reply r;
	struct ttlv_item ct, tag, iv;
	struct ttlv_buf pl;
	uint8_t *out;
	char aad[64];
	size_t aad_len = cmek_binding_aad(b, aad, sizeof(aad)), n;
	int ret = -1;

	if (!dek_len || dek_len > CMEK_DEK_MAX || !aad_len ||
	    aad_len >= sizeof(aad))
		return cmek_error_set(err, CMEK_ERR_INVALID, "bad wrap input");
	if (check_key_ref(key_ref, err))
		return -1;
	/* No IV of ours: the server draws one (Random IV) and returns it. */
	ttlv_buf_init(&pl);
	ttlv_put_text(&pl, KMIP_TAG_UNIQUE_IDENTIFIER, key_ref);
	put_gcm_params(&pl, true);
	ttlv_put_bytes(&pl, KMIP_TAG_DATA, dek, dek_len);
	ttlv_put_bytes(&pl, KMIP_TAG_AEAD_DATA, aad, aad_len);
	if (cmek_kmip_call(p, KMIP_OP_ENCRYPT, &pl, &r, err) ||
	    reply_data(&r, KMIP_TAG_DATA, dek_len, 0, &ct, err) ||
	    reply_data(&r, KMIP_TAG_IV_COUNTER_NONCE, IV_MIN, IV_MAX, &iv,
		       err) ||
	    reply_data(&r, KMIP_TAG_AEAD_TAG, TAG_LEN, 0, &tag, err))
		goto out;
	n = 2 + iv.len + TAG_LEN + dek_len;
	out = malloc(n);
	if (!out) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
		goto out;
	}
	out[0] = WRAP_V2;
	out[1] = (uint8_t)iv.len;
	memcpy(out + 2, iv.val, iv.len);
	memcpy(out + 2 + iv.len, tag.val, TAG_LEN);
	memcpy(out + 2 + iv.len + TAG_LEN, ct.val, dek_len);
	*wrapped = out;
	*wrapped_len = n;
	ret = 0;
out:
	ttlv_buf_free(&pl);	/* held the plaintext DEK */
	cmek_kmip_reply_free(&r);
	return ret;
}

static int kmip_generate(struct cmek_provider *p, const char *key_ref,
			 const struct cmek_binding *b, uint8_t *dek,
			 size_t dek_len, uint8_t **wrapped,
			 size_t *wrapped_len, struct cmek_error *err)
{
	if (!dek_len || dek_len > CMEK_DEK_MAX)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT, "RNG failure");
	return cmek_generate_by_wrap(p, key_ref, b, dek, dek_len, wrapped,
				     wrapped_len, err);
}

static int kmip_unwrap(struct cmek_provider *p, const char *key_ref,
		       const struct cmek_binding *b, const uint8_t *wrapped,
		       size_t wrapped_len, uint8_t *dek, size_t *dek_len,
		       struct cmek_error *err)
{
	struct cmek_kmip_reply r;
	struct ttlv_item pt;
	struct ttlv_buf pl;
	const uint8_t *iv;
	char aad[64];
	size_t aad_len = cmek_binding_aad(b, aad, sizeof(aad)), iv_len, hdr;
	size_t len;
	int ret = -1;

	if (wrapped_len && wrapped[0] == WRAP_V1) {
		iv = wrapped + 1;
		iv_len = V1_IV_LEN;
		hdr = V1_OVERHEAD;
	} else if (wrapped_len > 2 && wrapped[0] == WRAP_V2 &&
		   wrapped[1] >= IV_MIN && wrapped[1] <= IV_MAX) {
		iv = wrapped + 2;
		iv_len = wrapped[1];
		hdr = 2 + iv_len + TAG_LEN;
	} else {
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "wrapped key is not a kmip-provider v1 or v2 blob");
	}
	len = wrapped_len > hdr ? wrapped_len - hdr : 0;
	if (!len || len > CMEK_DEK_MAX)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "wrapped key is not a kmip-provider v%u blob: %zu bytes",
				      wrapped[0], wrapped_len);
	if (!aad_len || aad_len >= sizeof(aad))
		return cmek_error_set(err, CMEK_ERR_INVALID, "bad binding");
	if (check_key_ref(key_ref, err))
		return -1;
	ttlv_buf_init(&pl);
	ttlv_put_text(&pl, KMIP_TAG_UNIQUE_IDENTIFIER, key_ref);
	put_gcm_params(&pl, false);
	ttlv_put_bytes(&pl, KMIP_TAG_DATA, wrapped + hdr, len);
	ttlv_put_bytes(&pl, KMIP_TAG_IV_COUNTER_NONCE, iv, iv_len);
	ttlv_put_bytes(&pl, KMIP_TAG_AEAD_DATA, aad, aad_len);
	ttlv_put_bytes(&pl, KMIP_TAG_AEAD_TAG, iv + iv_len, TAG_LEN);
	if (cmek_kmip_call(p, KMIP_OP_DECRYPT, &pl, &r, err)) {
		/* What a failed tag check looks like (see classify()). */
		if (r.status == KMIP_STATUS_FAILED &&
		    (r.reason == 10 || r.reason == 256))
			cmek_error_set(err, CMEK_ERR_INVALID,
				       "wrapped key does not authenticate: a header from another volume, or corrupted (KMIP Decrypt: %s%s%s)",
				       cmek_kmip_reason_name(r.reason),
				       r.message[0] ? ": " : "", r.message);
		goto out;
	}
	if (reply_data(&r, KMIP_TAG_DATA, len, 0, &pt, err))
		goto out;
	memcpy(dek, pt.val, len);
	*dek_len = len;
	ret = 0;
out:
	ttlv_buf_free(&pl);
	cmek_kmip_reply_free(&r);	/* wipes the plaintext in the response */
	return ret;
}

static enum cmek_kms_key_state state_of(uint32_t s)
{
	switch (s) {
	case KMIP_STATE_ACTIVE:
		return CMEK_KMS_ENABLED;
	case KMIP_STATE_PRE_ACTIVE:
	case KMIP_STATE_DEACTIVATED:
		return CMEK_KMS_DISABLED;
	case KMIP_STATE_COMPROMISED:
	case KMIP_STATE_DESTROYED:
	case KMIP_STATE_DESTROYED_COMPROMISED:
		return CMEK_KMS_DELETED;
	}
	return CMEK_KMS_UNKNOWN;
}

/* The State attribute in a GetAttributes response payload. */
static bool find_state(const struct ttlv_item *payload, uint32_t *state)
{
	struct ttlv_item a, name, val;
	struct ttlv_iter it;

	ttlv_iter_init(&it, payload);
	while (ttlv_next(&it, &a)) {
		if (a.tag != KMIP_TAG_ATTRIBUTE || a.type != TTLV_STRUCT ||
		    !ttlv_find(&a, KMIP_TAG_ATTRIBUTE_NAME, TTLV_TEXT, &name) ||
		    name.len != 5 || memcmp(name.val, "State", 5) ||
		    !ttlv_find(&a, KMIP_TAG_ATTRIBUTE_VALUE, TTLV_ENUM, &val))
			continue;
		*state = ttlv_u32(&val);
		return true;
	}
	return false;
}

static int kmip_key_state(struct cmek_provider *p, const char *key_ref,
			  enum cmek_kms_key_state *state,
			  struct cmek_error *err)
{
	struct cmek_kmip_reply r;
	struct ttlv_buf pl;
	uint32_t s;
	int ret = -1;

	*state = CMEK_KMS_UNKNOWN;
	if (check_key_ref(key_ref, err))
		return -1;
	ttlv_buf_init(&pl);
	ttlv_put_text(&pl, KMIP_TAG_UNIQUE_IDENTIFIER, key_ref);
	ttlv_put_text(&pl, KMIP_TAG_ATTRIBUTE_NAME, "State");
	if (cmek_kmip_call(p, KMIP_OP_GET_ATTRIBUTES, &pl, &r, err)) {
		/* The answers that say what became of the key. */
		if (r.status == KMIP_STATUS_FAILED &&
		    cmek_kmip_classify(KMIP_OP_GET_ATTRIBUTES, r.status,
				       r.reason) == CMEK_ERR_DEFINITIVE) {
			*state = r.reason == 12 || r.reason == 57 ?
				 CMEK_KMS_ACCESS_DENIED : r.reason == 13 ||
				 r.reason == 26 || r.reason == 67 ?
				 CMEK_KMS_DISABLED : CMEK_KMS_DELETED;
			ret = 0;
		}
		goto out;
	}
	if (!r.has_payload || !find_state(&r.payload, &s) ||
	    state_of(s) == CMEK_KMS_UNKNOWN) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT,
			       "malformed KMIP response: no valid State attribute for key '%s'",
			       key_ref);
		goto out;
	}
	*state = state_of(s);
	ret = 0;
out:
	ttlv_buf_free(&pl);
	cmek_kmip_reply_free(&r);
	return ret;
}

/* ---- configuration ---- */

static int kmip_init(struct cmek_provider *p, struct cmek_error *err)
{
	struct kmip_priv *kp = calloc(1, sizeof(*kp));

	if (!kp)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
	kp->port = KMIP_DEFAULT_PORT;
	kp->timeout = KMIP_DEFAULT_TIMEOUT;
	cmek_http_opts_init(&kp->retry);
	p->priv = kp;
	return 0;
}

static int set_str(char **dst, const char *value, struct cmek_error *err)
{
	char *s = strdup(value);

	if (!s)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
	if (*dst) {
		OPENSSL_cleanse(*dst, strlen(*dst));
		free(*dst);
	}
	*dst = s;
	return 0;
}

static int set_file(char **dst, const char *key, const char *value,
		    struct cmek_error *err)
{
	if (access(value, R_OK))
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "%s %s: %s", key, value, strerror(errno));
	return set_str(dst, value, err);
}

static int set_uint(unsigned int *dst, const char *key, const char *value,
		    unsigned long lo, unsigned long hi, struct cmek_error *err)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(value, &end, 10);
	if (errno || end == value || *end || value[0] == '-' || v < lo ||
	    v > hi)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "%s must be a number from %lu to %lu",
				      key, lo, hi);
	*dst = (unsigned int)v;
	return 0;
}

static const struct cmek_setting kmip_settings[] = {
	{ "host", CMEK_SETTING_STRING, 0, NULL,
	  "Server name or IP address (required)" },
	{ "port", CMEK_SETTING_NUMBER, 0, "5696", "1 to 65535" },
	{ "ca_file", CMEK_SETTING_PATH, 0, NULL,
	  "PEM CA(s) that may sign the server certificate (required)" },
	{ "cert_file", CMEK_SETTING_PATH, 0, NULL,
	  "Client certificate, PEM (required)" },
	{ "key_file", CMEK_SETTING_PATH, CMEK_SETTING_SECRET_FILE, NULL,
	  "Private key of cert_file (required)" },
	{ "server_name", CMEK_SETTING_STRING, 0, NULL,
	  "Name the server certificate must carry; default host" },
	{ "timeout", CMEK_SETTING_DURATION, 0, "10s",
	  "Bound on one whole request (1s to 300s)" },
	{ "retries", CMEK_SETTING_NUMBER, 0, "3",
	  "Attempts after the first for a transient Encrypt, Decrypt or GetAttributes failure (0-10)" },
	{ "username", CMEK_SETTING_STRING, 0, NULL,
	  "KMIP Credential user name, for servers that want one" },
	{ "password", CMEK_SETTING_STRING, CMEK_SETTING_SECRET, NULL,
	  "KMIP Credential password (cmekd.conf must then be 0600)" },
	{ .name = NULL }
};

static int kmip_configure(struct cmek_provider *p, const char *key,
			  const char *value, struct cmek_error *err)
{
	struct kmip_priv *kp = p->priv;
	long secs;

	if (cmek_setting_check("kmip", kmip_settings, key, err))
		return -1;
	/* Any change invalidates a TLS context built from the old values. */
	SSL_CTX_free(kp->ctx);
	kp->ctx = NULL;
	if (!strcmp(key, "host"))
		return set_str(&kp->host, value, err);
	if (!strcmp(key, "port"))
		return set_uint(&kp->port, key, value, 1, 65535, err);
	if (!strcmp(key, "ca_file"))
		return set_file(&kp->ca_file, key, value, err);
	if (!strcmp(key, "cert_file"))
		return set_file(&kp->cert_file, key, value, err);
	if (!strcmp(key, "key_file"))
		return set_file(&kp->key_file, key, value, err);
	if (!strcmp(key, "server_name"))
		return set_str(&kp->server_name, value, err);
	if (!strcmp(key, "retries"))
		return set_uint(&kp->retry.retries, key, value, 0, 10, err);
	if (!strcmp(key, "timeout")) {
		if (cmek_parse_duration(value, false, &secs) || secs < 1 ||
		    secs > KMIP_TIMEOUT_MAX)
			return cmek_error_set(err, CMEK_ERR_INVALID,
					      "timeout must be 1s to %ds",
					      KMIP_TIMEOUT_MAX);
		kp->timeout = (unsigned int)secs;
		return 0;
	}
	if (!strcmp(key, "username"))
		return set_str(&kp->username, value, err);
	if (!strcmp(key, "password"))
		return set_str(&kp->password, value, err);
	return cmek_setting_unhandled("kmip", key, err);
}

static void free_str(char *s)
{
	if (s)
		OPENSSL_clear_free(s, strlen(s));
}

static void kmip_destroy(struct cmek_provider *p)
{
	struct kmip_priv *kp = p->priv;

	if (!kp)
		return;
	SSL_CTX_free(kp->ctx);
	free_str(kp->host);
	free_str(kp->ca_file);
	free_str(kp->cert_file);
	free_str(kp->key_file);
	free_str(kp->server_name);
	free_str(kp->username);
	free_str(kp->password);
	free(kp);
}

const struct cmek_provider_ops cmek_kmip_ops = {
	.name = "kmip",
	.settings = kmip_settings,
	.init = kmip_init,
	.configure = kmip_configure,
	.generate = kmip_generate,
	.wrap = kmip_wrap,
	.unwrap = kmip_unwrap,
	.rewrap = NULL,		/* KMIP has no re-encrypt: unwrap + wrap */
	.key_state = kmip_key_state,
	.destroy = kmip_destroy,
};
