/* SPDX-License-Identifier: GPL-2.0 */
/*
 * HTTPS for the cloud KMS providers, on libcurl.
 *
 * One request, one answer: cmek_http_do() returns 0 as soon as any HTTP
 * response arrived, whatever its status, and leaves the judgement of the
 * status and body to the provider, because "403" means "key disabled" to
 * one KMS and "bad credentials" to another. It returns -1 only when no
 * answer came (DNS, connect, TLS, timeout), classified in @err.
 *
 * cmek_http_call() adds the retry policy every provider shares: transient
 * failures (no answer, 408, 429, 5xx, and whatever else the request's
 * retry_if() says) are retried with capped exponential backoff and full
 * jitter, honouring Retry-After, within a bound on the whole call.
 * Anything else is returned at once.
 *
 * TLS peer and host verification are always on; a private endpoint may
 * name its own CA bundle (ca_file), which then replaces the system's
 * trust, and pin the server's public key (pinned_pubkey). Transport
 * failures are classed by the rule in provider.h: only what is wrong
 * before a byte is sent is CMEK_ERR_INVALID.
 *
 * Secrets: response bodies may hold plaintext keys and live in a buffer
 * that cmek_http_resp_free() wipes; header lines (tokens) are wiped
 * before they are freed; libcurl's own heap is wiped on free
 * (cmek_http_global_init()); OpenSSL cleanses decrypted records
 * (SSL_OP_CLEANSE_PLAINTEXT); requests go over HTTP/1.1 only, so no
 * HTTP/2 buffer or header table keeps a copy.
 */
#ifndef CMEK_HTTP_H
#define CMEK_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "provider.h"

#define CMEK_HTTP_BODY_MAX	(1 << 20)	/* larger answers are refused */
#define CMEK_HTTP_HEADERS_MAX	16

struct cmek_http_opts {
	char *ca_file;			/* NULL: the system's bundle */
	char *pinned_pubkey;		/* "sha256//..."; NULL: no pin */
	long timeout_ms;		/* one attempt, connect included */
	long connect_timeout_ms;
	unsigned int retries;		/* extra attempts after the first */
	long backoff_ms;		/* first backoff; doubles, jittered */
	long backoff_max_ms;
	long deadline_ms;		/* whole cmek_http_call(), retries included */
};

/* The settings cmek_http_configure() takes, for a provider's table. */
#define CMEK_HTTP_SETTINGS \
	{ "ca_file", CMEK_SETTING_PATH, 0, NULL, \
	  "PEM CA bundle for every HTTPS request of the provider, instead of the system's" }, \
	{ "pinned_pubkey", CMEK_SETTING_STRING, 0, NULL, \
	  "sha256//BASE64 of the servers' public keys, ';'-separated, checked after the certificate" }, \
	{ "timeout", CMEK_SETTING_DURATION, 0, "10s", \
	  "Bound on one request, connect included" }, \
	{ "connect_timeout", CMEK_SETTING_DURATION, 0, "5s", \
	  "Bound on connecting" }, \
	{ "retries", CMEK_SETTING_NUMBER, 0, "3", \
	  "Attempts after the first for a transient failure (0-10)" }, \
	{ "retry_backoff", CMEK_SETTING_DURATION, 0, "200ms", \
	  "First backoff; doubles per attempt up to 5 s, full jitter" }, \
	{ "deadline", CMEK_SETTING_DURATION, 0, "30s", \
	  "Bound on one call, retries included" }

struct cmek_http_resp;

struct cmek_http_req {
	const char *method;		/* "GET", "POST", "PUT", ... */
	const char *url;
	/* "Name: value" lines, counted by nheaders */
	const char *headers[CMEK_HTTP_HEADERS_MAX];
	size_t nheaders;
	const char *body;		/* may hold key bytes: caller wipes */
	size_t body_len;
	/* AWS SigV4 through libcurl: "aws:amz:REGION:SERVICE" and the
	 * credentials as "ACCESS_KEY_ID:SECRET". NULL: not signed. */
	const char *aws_sigv4;
	const char *userpwd;
	/*
	 * An instance metadata service (AWS IMDS, GCP metadata server, Azure
	 * IMDS): these speak plain HTTP on a link-local address by design, so
	 * http:// is allowed here, to 169.254.169.254, [fd00:ec2::254] and
	 * metadata.google.internal only (and loopback, for tests), never
	 * through a proxy.
	 */
	bool metadata;
	/*
	 * An answer that cmek_http_call() should retry although its status
	 * is not 408, 429 or 5xx: only the KMS knows (AWS throttles with a
	 * 400, a Vault performance standby that is behind says 412). Called
	 * with @retry_arg on each such answer; NULL: none. cmek_http_do()
	 * ignores it.
	 */
	bool (*retry_if)(const struct cmek_http_resp *resp, void *retry_arg);
	void *retry_arg;
};

struct cmek_http_resp {
	long status;
	char *body;			/* NUL-terminated; wiped on free */
	size_t len;
	size_t cap;
	char content_type[128];
	long retry_after_ms;		/* from Retry-After, -1 if none */
	unsigned int attempts;		/* cmek_http_call(): requests sent */
};

/*
 * libcurl's global set-up, with allocators that wipe what libcurl frees.
 * Once per process, before any thread that might use libcurl; later
 * calls return the first one's result. cmek_http_do() calls it too, for
 * programs that never did.
 */
int cmek_http_global_init(void);

/* Timeouts 10 s, connect 5 s, 3 retries from 200 ms up to 5 s, 30 s in all. */
void cmek_http_opts_init(struct cmek_http_opts *o);
void cmek_http_opts_free(struct cmek_http_opts *o);

/*
 * The configuration keys every HTTP provider shares: ca_file,
 * pinned_pubkey, timeout,
 * connect_timeout, retries, deadline (durations as cmek_parse_duration()
 * reads them: "10", "10s", "2m"), retry_backoff.
 * Returns 1 if @key was one of them, 0 if not, -1 with @err on a bad value.
 */
int cmek_http_configure(struct cmek_http_opts *o, const char *key,
			const char *value, struct cmek_error *err);

/* Add a header line, formatted; -1 if the request is full. */
int cmek_http_header(struct cmek_http_req *r, char *buf, size_t len,
		     const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

int cmek_http_do(const struct cmek_http_opts *o, const struct cmek_http_req *r,
		 struct cmek_http_resp *resp, struct cmek_error *err);

/*
 * One attempt at a KMS operation: 0 done; -1 failed with @err (another
 * attempt follows only if @err is TRANSIENT, or NULL); 1 an answer worth
 * another attempt, with the KMS's Retry-After in @retry_after_ms.
 */
typedef int (*cmek_attempt_fn)(void *ctx, long *retry_after_ms,
			       struct cmek_error *err);

/*
 * The one retry policy of every provider, over HTTP or not (KMIP): run
 * @attempt until it is done or fails for good, backing off between
 * attempts (cmek_http_backoff_ms(), or longer for a Retry-After), at most
 * @o->retries more times and never past @o->deadline_ms when another
 * attempt may take @attempt_ms. The last attempt's result.
 */
int cmek_retry(const struct cmek_http_opts *o, long attempt_ms,
	       cmek_attempt_fn attempt, void *ctx, struct cmek_error *err);
int cmek_http_call(const struct cmek_http_opts *o,
		   const struct cmek_http_req *r, struct cmek_http_resp *resp,
		   struct cmek_error *err);
void cmek_http_resp_free(struct cmek_http_resp *resp);

/* 408, 429 and 5xx: worth another attempt. */
bool cmek_http_status_transient(long status);

/*
 * Retry-After for @attempt (0-based): min(max, base << attempt), then a
 * uniformly random point below it ("full jitter"), never below 1 ms.
 */
long cmek_http_backoff_ms(const struct cmek_http_opts *o, unsigned int attempt);

/* CLOCK_MONOTONIC in milliseconds: for deadlines and token lifetimes. */
long cmek_http_now_ms(void);

/* "https://host[:port][/path]" with no query or user info: plain HTTP is
 * refused even for tests, which run their servers with TLS. */
int cmek_http_endpoint_valid(const char *url, struct cmek_error *err);

#endif /* CMEK_HTTP_H */
