// SPDX-License-Identifier: GPL-2.0
/*
 * HTTPS for the cloud KMS providers: one request on libcurl, and the retry
 * policy they share. See http.h.
 */
#include <ctype.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "config.h"
#include "http.h"

/*
 * libcurl's own heap holds what passed through it: header lines with
 * bearer tokens, the SigV4 secret, the receive buffer with a Decrypt
 * answer. It frees them unwiped; these allocators wipe every block on
 * free and never leave the old block of a realloc behind.
 */
static void *wipe_malloc(size_t n)
{
	return malloc(n);
}

static void wipe_free(void *p)
{
	if (!p)
		return;
	OPENSSL_cleanse(p, malloc_usable_size(p));
	free(p);
}

static void *wipe_realloc(void *p, size_t n)
{
	size_t old;
	void *q;

	if (!p)
		return malloc(n);
	if (!n) {
		wipe_free(p);
		return NULL;
	}
	q = malloc(n);
	if (!q)
		return NULL;
	old = malloc_usable_size(p);
	memcpy(q, p, old < n ? old : n);
	wipe_free(p);
	return q;
}

static char *wipe_strdup(const char *s)
{
	return strdup(s);
}

static void *wipe_calloc(size_t nmemb, size_t size)
{
	return calloc(nmemb, size);
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_ret;

static void global_init(void)
{
	global_ret = curl_global_init_mem(CURL_GLOBAL_DEFAULT, wipe_malloc,
					  wipe_free, wipe_realloc,
					  wipe_strdup, wipe_calloc) ? -1 : 0;
}

int cmek_http_global_init(void)
{
	pthread_once(&global_once, global_init);
	return global_ret;
}

void cmek_http_opts_init(struct cmek_http_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->timeout_ms = 10000;
	o->connect_timeout_ms = 5000;
	o->retries = 3;
	o->backoff_ms = 200;
	o->backoff_max_ms = 5000;
	o->deadline_ms = 30000;
}

void cmek_http_opts_free(struct cmek_http_opts *o)
{
	free(o->ca_file);
	o->ca_file = NULL;
	free(o->pinned_pubkey);
	o->pinned_pubkey = NULL;
}

/* "250ms", or a duration in seconds as the rest of the config writes it. */
static int parse_ms(const char *s, long *ms)
{
	size_t n = strlen(s);
	long secs;
	char *end;

	if (n > 2 && !strcmp(s + n - 2, "ms") && isdigit((unsigned char)*s)) {
		errno = 0;
		*ms = strtol(s, &end, 10);
		return errno || end != s + n - 2 || *ms > 3600000 ? -1 : 0;
	}
	if (cmek_parse_duration(s, false, &secs) || secs > 3600)
		return -1;
	*ms = secs * 1000;
	return 0;
}

/*
 * "sha256//BASE64[;sha256//BASE64...]", each the base64 of a SHA-256
 * (44 characters): libcurl would also take a PEM or DER file, which would
 * make a typo in a hash look like a missing file.
 */
static bool pinned_valid(const char *v)
{
	const char *p = v;
	size_t n;

	for (;;) {
		if (strncmp(p, "sha256//", 8))
			return false;
		p += 8;
		n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=");
		if (n != 44 || p[43] != '=')
			return false;
		p += n;
		if (!*p)
			return true;
		if (*p != ';')
			return false;
		p++;
	}
}

int cmek_http_configure(struct cmek_http_opts *o, const char *key,
			const char *value, struct cmek_error *err)
{
	long *ms = NULL, v;
	char *end;

	if (!strcmp(key, "ca_file")) {
		free(o->ca_file);
		o->ca_file = strdup(value);
		if (!o->ca_file)
			return cmek_error_set(err, CMEK_ERR_TRANSIENT,
					      "out of memory");
		return 1;
	}
	if (!strcmp(key, "pinned_pubkey")) {
		if (!pinned_valid(value))
			return cmek_error_set(err, CMEK_ERR_INVALID,
					      "pinned_pubkey '%.120s' is not sha256//BASE64 (one or more, separated by ';')",
					      value);
		free(o->pinned_pubkey);
		o->pinned_pubkey = strdup(value);
		if (!o->pinned_pubkey)
			return cmek_error_set(err, CMEK_ERR_TRANSIENT,
					      "out of memory");
		return 1;
	}
	if (!strcmp(key, "retries")) {
		errno = 0;
		v = strtol(value, &end, 10);
		if (errno || end == value || *end || v < 0 || v > 10)
			return cmek_error_set(err, CMEK_ERR_INVALID,
					      "retries '%s' is not 0-10", value);
		o->retries = v;
		return 1;
	}
	if (!strcmp(key, "timeout"))
		ms = &o->timeout_ms;
	else if (!strcmp(key, "connect_timeout"))
		ms = &o->connect_timeout_ms;
	else if (!strcmp(key, "deadline"))
		ms = &o->deadline_ms;
	else if (!strcmp(key, "retry_backoff"))
		ms = &o->backoff_ms;
	else
		return 0;
	if (parse_ms(value, &v) || v <= 0)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "%s '%s' is not a duration between 1ms and 1h (e.g. 10s, 500ms)",
				      key, value);
	*ms = v;
	return 1;
}

int cmek_http_header(struct cmek_http_req *r, char *buf, size_t len,
		     const char *fmt, ...)
{
	va_list ap;
	int n;

	if (r->nheaders >= CMEK_HTTP_HEADERS_MAX)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len)
		return -1;
	r->headers[r->nheaders++] = buf;
	return 0;
}

/*
 * Grow by doubling into fresh memory and wipe the old block: realloc()
 * would leave fragments of a plaintext key in freed heap.
 */
static size_t write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	struct cmek_http_resp *resp = userp;
	size_t n = size * nmemb, cap;
	char *p;

	if (resp->len + n + 1 > CMEK_HTTP_BODY_MAX)
		return 0;
	if (resp->len + n + 1 > resp->cap) {
		cap = resp->cap ? resp->cap : 4096;
		while (cap < resp->len + n + 1)
			cap *= 2;
		p = malloc(cap);
		if (!p)
			return 0;
		if (resp->body) {
			memcpy(p, resp->body, resp->len);
			OPENSSL_cleanse(resp->body, resp->cap);
			free(resp->body);
		}
		resp->body = p;
		resp->cap = cap;
	}
	memcpy(resp->body + resp->len, data, n);
	resp->len += n;
	resp->body[resp->len] = '\0';
	return n;
}

/* Only Retry-After in seconds; an HTTP-date is read as "no advice". */
static size_t header_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	struct cmek_http_resp *resp = userp;
	size_t n = size * nmemb;
	char line[128];
	long secs;

	if (n >= sizeof(line) || n < 12)
		return n;
	memcpy(line, data, n);
	line[n] = '\0';
	if (!strncasecmp(line, "Retry-After:", 12) &&
	    sscanf(line + 12, " %ld", &secs) == 1 && secs >= 0 && secs < 3600)
		resp->retry_after_ms = secs * 1000;
	return n;
}

void cmek_http_resp_free(struct cmek_http_resp *resp)
{
	if (resp->body) {
		OPENSSL_cleanse(resp->body, resp->cap);
		free(resp->body);
	}
	memset(resp, 0, sizeof(*resp));
}

static void resp_reset(struct cmek_http_resp *resp)
{
	unsigned int attempts = resp->attempts;

	cmek_http_resp_free(resp);
	resp->attempts = attempts;
	resp->retry_after_ms = -1;
}

int cmek_http_endpoint_valid(const char *url, struct cmek_error *err)
{
	const char *host = url + 8, *p;

	if (strncmp(url, "https://", 8))
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "endpoint '%s' is not an https:// URL (TLS is always required)",
				      url);
	for (p = host; *p && *p != '/'; p++)
		if (*p == '@' || *p == '?' || *p == '#' ||
		    isspace((unsigned char)*p))
			break;
	if (p == host || (*p && *p != '/') || strpbrk(p, "?# \t\r\n"))
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "endpoint '%s' must be https://HOST[:PORT][/PATH] with no user, query or fragment",
				      url);
	return 0;
}

static bool metadata_url_ok(const char *url)
{
	static const char *const hosts[] = {
		"169.254.169.254", "[fd00:ec2::254]", "metadata.google.internal",
		"127.0.0.1", "localhost", "[::1]",
	};
	size_t i, n;

	if (strncmp(url, "http://", 7))
		return false;
	url += 7;
	for (i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		n = strlen(hosts[i]);
		if (!strncmp(url, hosts[i], n) &&
		    (url[n] == '/' || url[n] == ':' || !url[n]))
			return true;
	}
	return false;
}

/*
 * No answer. Only what libcurl finds before it sends a byte is a
 * configuration error: the URL, a ca_file or client certificate it cannot
 * load, a feature it lacks. Everything else -- DNS, connect, timeouts, a
 * certificate that does not verify, a pin that does not match, a TLS
 * alert, an answer cut short or too large -- is what someone on the
 * network path can cause, and must count as no answer (transient), never
 * pass for a configuration error that resets unreachable_grace.
 */
static int transport_error(CURLcode rc, const char *detail, const char *url,
			   struct cmek_error *err)
{
	const char *what = "";

	switch (rc) {
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_NOT_BUILT_IN:
	case CURLE_UNKNOWN_OPTION:
		return cmek_error_set(err, CMEK_ERR_INVALID, "%s: %s", url,
				      *detail ? detail :
				      curl_easy_strerror(rc));
	case CURLE_PEER_FAILED_VERIFICATION:
		what = "TLS: the server's certificate does not verify "
		       "(ca_file, or someone on the network path): ";
		break;
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		what = "TLS: the server's public key is not pinned_pubkey "
		       "(a new key, or someone on the network path): ";
		break;
	case CURLE_SSL_CONNECT_ERROR:
		what = "TLS handshake failed: ";
		break;
	case CURLE_WRITE_ERROR:
		return cmek_error_set(err, CMEK_ERR_TRANSIENT,
				      "%s: answer larger than %d bytes", url,
				      CMEK_HTTP_BODY_MAX);
	default:
		break;
	}
	return cmek_error_set(err, CMEK_ERR_TRANSIENT, "%s: %s%s", url, what,
			      *detail ? detail : curl_easy_strerror(rc));
}

/*
 * OpenSSL wipes decrypted records from its buffers once they are read:
 * a Decrypt answer holds a plaintext key.
 */
static CURLcode ssl_ctx_cb(CURL *c, void *ssl_ctx, void *arg)
{
	SSL_CTX_set_options(ssl_ctx, SSL_OP_CLEANSE_PLAINTEXT);
	return CURLE_OK;
}

static CURLcode setup(CURL *c, const struct cmek_http_opts *o,
		      const struct cmek_http_req *r, struct curl_slist *hdrs,
		      struct cmek_http_resp *resp, char *errbuf)
{
	CURLcode rc = CURLE_OK;

#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(c, opt, val); } while (0)
	SET(CURLOPT_URL, r->url);
	SET(CURLOPT_PROTOCOLS_STR, r->metadata ? "http,https" : "https");
	if (r->metadata)
		SET(CURLOPT_NOPROXY, "*");
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	/*
	 * ca_file replaces the system's trust, it does not add to it:
	 * libcurl would otherwise still trust every CA in its built-in
	 * CA path (/etc/ssl/certs on Debian) as well.
	 */
	if (o->ca_file) {
		SET(CURLOPT_CAINFO, o->ca_file);
		SET(CURLOPT_CAPATH, NULL);
	}
	if (o->pinned_pubkey)
		SET(CURLOPT_PINNEDPUBLICKEY, o->pinned_pubkey);
	SET(CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
	/* HTTP/2's connection buffers and HPACK tables would hold answers
	 * and tokens beyond our reach. */
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	SET(CURLOPT_TIMEOUT_MS, o->timeout_ms);
	SET(CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_ERRORBUFFER, errbuf);
	SET(CURLOPT_WRITEFUNCTION, write_cb);
	SET(CURLOPT_WRITEDATA, resp);
	SET(CURLOPT_HEADERFUNCTION, header_cb);
	SET(CURLOPT_HEADERDATA, resp);
	SET(CURLOPT_HTTPHEADER, hdrs);
	SET(CURLOPT_CUSTOMREQUEST, r->method);
	if (r->body) {
		SET(CURLOPT_POSTFIELDS, r->body);
		SET(CURLOPT_POSTFIELDSIZE, (long)r->body_len);
	} else if (!strcmp(r->method, "GET")) {
		SET(CURLOPT_HTTPGET, 1L);
	}
	if (r->aws_sigv4) {
		SET(CURLOPT_AWS_SIGV4, r->aws_sigv4);
		SET(CURLOPT_USERPWD, r->userpwd);
	}
#undef SET
	return rc;
}

int cmek_http_do(const struct cmek_http_opts *o, const struct cmek_http_req *r,
		 struct cmek_http_resp *resp, struct cmek_error *err)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL, *t;
	int ret = -1;
	CURLcode rc;
	size_t i;
	CURL *c;
	char *ct = NULL;

	resp_reset(resp);
	resp->attempts++;
	if (cmek_http_global_init())
		return cmek_error_set(err, CMEK_ERR_TRANSIENT,
				      "libcurl cannot initialise");
	/* libcurl is limited to https too; this says why in plain words. */
	if (strncmp(r->url, "https://", 8) &&
	    !(r->metadata && metadata_url_ok(r->url)))
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "'%s' is not an https:// URL (TLS is always required)",
				      r->url);
	c = curl_easy_init();
	if (!c)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT,
				      "cannot start an HTTP request");
	for (i = 0; i < r->nheaders; i++) {
		t = curl_slist_append(hdrs, r->headers[i]);
		if (!t) {
			cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
			goto out;
		}
		hdrs = t;
	}
	rc = setup(c, o, r, hdrs, resp, errbuf);
	if (rc == CURLE_OK)
		rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		transport_error(rc, errbuf, r->url, err);
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
	if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
		snprintf(resp->content_type, sizeof(resp->content_type), "%s",
			 ct);
	if (!resp->body) {
		resp->body = calloc(1, 1);
		resp->cap = resp->body ? 1 : 0;
	}
	ret = resp->body ? 0 :
	      cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
out:
	/* The lines are copies, some with a token in them. */
	for (t = hdrs; t; t = t->next)
		OPENSSL_cleanse(t->data, strlen(t->data));
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	return ret;
}

bool cmek_http_status_transient(long status)
{
	return status == 408 || status == 429 || (status >= 500 && status < 600);
}

long cmek_http_backoff_ms(const struct cmek_http_opts *o, unsigned int attempt)
{
	long cap = o->backoff_ms;
	uint32_t r = 0;

	while (attempt-- && cap < o->backoff_max_ms)
		cap *= 2;
	if (cap > o->backoff_max_ms)
		cap = o->backoff_max_ms;
	if (cap <= 1)
		return 1;
	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = (uint32_t)random();
	return 1 + (long)(r % (uint32_t)cap);
}

long cmek_http_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

int cmek_retry(const struct cmek_http_opts *o, long attempt_ms,
	       cmek_attempt_fn attempt, void *ctx, struct cmek_error *err)
{
	long start = cmek_http_now_ms(), wait, after;
	unsigned int n;
	int ret;

	for (n = 0;; n++) {
		after = 0;
		ret = attempt(ctx, &after, err);
		if (ret == 0)
			return 0;
		if (ret < 0 && err && err->cls != CMEK_ERR_TRANSIENT)
			return ret;
		if (n >= o->retries)
			break;
		wait = cmek_http_backoff_ms(o, n);
		if (after > wait)
			wait = after;
		if (cmek_http_now_ms() + wait + attempt_ms >
		    start + o->deadline_ms)
			break;
		sleep_ms(wait);
	}
	return ret;
}

struct http_attempt {
	const struct cmek_http_opts *o;
	const struct cmek_http_req *r;
	struct cmek_http_resp *resp;
};

/* An answer worth another attempt is 1, with the KMS's Retry-After. */
static int http_attempt(void *ctx, long *retry_after_ms,
			struct cmek_error *err)
{
	struct http_attempt *a = ctx;
	const struct cmek_http_req *r = a->r;

	if (cmek_http_do(a->o, r, a->resp, err))
		return -1;
	if (!cmek_http_status_transient(a->resp->status) &&
	    !(r->retry_if && r->retry_if(a->resp, r->retry_arg)))
		return 0;
	*retry_after_ms = a->resp->retry_after_ms;
	return 1;
}

int cmek_http_call(const struct cmek_http_opts *o,
		   const struct cmek_http_req *r, struct cmek_http_resp *resp,
		   struct cmek_error *err)
{
	struct http_attempt a = { o, r, resp };
	int ret;

	resp->attempts = 0;
	ret = cmek_retry(o, o->timeout_ms, http_attempt, &a, err);
	/* Out of attempts: the last answer (a 5xx/429 body) is the caller's. */
	return ret > 0 ? 0 : ret;
}
