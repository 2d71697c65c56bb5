// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only HTTPS server for the KMS provider tests; see fakesrv.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "fakesrv.h"

/* ---- certificates ---- */

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return -1;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

static int write_pem(const char *path, X509 *cert, EVP_PKEY *key)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (!f)
		return -1;
	fchmod(fileno(f), 0600);
	ok = cert ? PEM_write_X509(f, cert) :
		    PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	return fclose(f) || !ok ? -1 : 0;
}

/*
 * A certificate for @cn, self-signed when @ca_cert is NULL; a leaf is valid
 * for 127.0.0.1 and localhost, and for @extra_san too ("IP:..,DNS:..")
 * when it is not NULL.
 */
static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *ca_cert,
		       EVP_PKEY *ca_key, const char *extra_san)
{
	static long serial = 1;
	char san[512];
	X509 *c = X509_new();
	X509_NAME *name;
	bool ca = !ca_cert;

	if (!c)
		return NULL;
	if ((size_t)snprintf(san, sizeof(san), "IP:127.0.0.1,DNS:localhost%s%s",
			     extra_san ? "," : "",
			     extra_san ? extra_san : "") >= sizeof(san)) {
		X509_free(c);
		return NULL;
	}
	X509_set_version(c, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(c), (long)time(NULL) + serial++);
	X509_gmtime_adj(X509_getm_notBefore(c), -3600);
	X509_gmtime_adj(X509_getm_notAfter(c), 86400L * 2);
	X509_set_pubkey(c, key);
	name = X509_get_subject_name(c);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(c, ca ? name : X509_get_subject_name(ca_cert));
	if (add_ext(c, ca ? c : ca_cert, NID_basic_constraints,
		    ca ? "critical,CA:TRUE" : "critical,CA:FALSE") ||
	    add_ext(c, ca ? c : ca_cert, NID_key_usage,
		    ca ? "critical,keyCertSign,cRLSign" :
			 "critical,digitalSignature,keyEncipherment") ||
	    add_ext(c, ca ? c : ca_cert, NID_subject_key_identifier, "hash") ||
	    (!ca && (add_ext(c, ca_cert, NID_ext_key_usage,
			     "serverAuth,clientAuth") ||
		     add_ext(c, ca_cert, NID_subject_alt_name, san))) ||
	    !X509_sign(c, ca ? key : ca_key, EVP_sha256())) {
		X509_free(c);
		return NULL;
	}
	return c;
}

static int load_ca(const char *dir, X509 **cert, EVP_PKEY **key)
{
	char cpath[300], kpath[300], cn[64];
	const char *base;
	FILE *f;

	snprintf(cpath, sizeof(cpath), "%s/ca.pem", dir);
	snprintf(kpath, sizeof(kpath), "%s/ca.key", dir);
	f = fopen(cpath, "r");
	if (f) {
		*cert = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
		f = fopen(kpath, "r");
		if (!f)
			return -1;
		*key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
		return *cert && *key ? 0 : -1;
	}
	/*
	 * A name of its own per run directory: two test CAs that shared a
	 * subject would be tried as each other's issuer, and a certificate
	 * from the wrong one would fail on its signature instead of as one
	 * whose issuer is unknown.
	 */
	base = strrchr(dir, '/');
	snprintf(cn, sizeof(cn), "cmek test CA %.48s", base ? base + 1 : dir);
	*key = EVP_EC_gen("P-256");
	*cert = *key ? make_cert(cn, *key, NULL, NULL, NULL) : NULL;
	if (!*cert || write_pem(cpath, *cert, NULL) ||
	    write_pem(kpath, NULL, *key))
		return -1;
	return 0;
}

int fake_cert_issue(const char *dir, const char *name)
{
	return fake_cert_issue_san(dir, name, NULL);
}

int fake_cert_issue_san(const char *dir, const char *name,
			const char *extra_san)
{
	X509 *ca = NULL, *leaf = NULL;
	EVP_PKEY *ca_key = NULL, *key = NULL;
	char path[300];
	int ret = -1;

	if (load_ca(dir, &ca, &ca_key))
		goto out;
	key = EVP_EC_gen("P-256");
	leaf = key ? make_cert(name, key, ca, ca_key, extra_san) : NULL;
	if (!leaf)
		goto out;
	snprintf(path, sizeof(path), "%s/%s.pem", dir, name);
	if (write_pem(path, leaf, NULL))
		goto out;
	snprintf(path, sizeof(path), "%s/%s.key", dir, name);
	ret = write_pem(path, NULL, key);
out:
	X509_free(ca);
	X509_free(leaf);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
	return ret;
}

/* ---- HTTP over TLS, one request per connection ---- */

const char *fake_header(const struct fake_req *rq, const char *name)
{
	size_t i;

	for (i = 0; i < rq->nhdrs; i++)
		if (!strcasecmp(rq->hdrs[i].name, name))
			return rq->hdrs[i].value;
	return NULL;
}

void fake_reply(struct fake_resp *rs, int status, const char *fmt, ...)
{
	va_list ap;
	int n;

	free(rs->body);
	rs->status = status;
	snprintf(rs->content_type, sizeof(rs->content_type),
		 "application/json");
	va_start(ap, fmt);
	n = vasprintf(&rs->body, fmt, ap);
	va_end(ap);
	if (n < 0) {
		rs->body = NULL;
		rs->body_len = 0;
		rs->status = 500;
		return;
	}
	rs->body_len = (size_t)n;
}

static void req_free(struct fake_req *rq)
{
	size_t i;

	for (i = 0; i < rq->nhdrs; i++) {
		free(rq->hdrs[i].name);
		free(rq->hdrs[i].value);
	}
	free(rq->body);
	memset(rq, 0, sizeof(*rq));
}

static void req_copy(struct fake_req *dst, const struct fake_req *src)
{
	size_t i;

	req_free(dst);
	memcpy(dst->method, src->method, sizeof(dst->method));
	memcpy(dst->target, src->target, sizeof(dst->target));
	memcpy(dst->path, src->path, sizeof(dst->path));
	dst->query = dst->target + (src->query - src->target);
	for (i = 0; i < src->nhdrs; i++) {
		dst->hdrs[i].name = strdup(src->hdrs[i].name);
		dst->hdrs[i].value = strdup(src->hdrs[i].value);
	}
	dst->nhdrs = src->nhdrs;
	dst->body = strdup(src->body ? src->body : "");
	dst->body_len = src->body_len;
}

/* One connection, with or without TLS. */
struct fconn {
	SSL *ssl;
	int fd;
};

static int conn_read(struct fconn *c, void *buf, int n)
{
	return c->ssl ? SSL_read(c->ssl, buf, n) : (int)read(c->fd, buf, n);
}

static void conn_write(struct fconn *c, const void *buf, int n)
{
	if (c->ssl)
		SSL_write(c->ssl, buf, n);
	else if (write(c->fd, buf, n) < 0)
		return;
}

/* Read up to the end of the headers; the rest stays in @buf. */
static int read_head(struct fconn *ssl, char *buf, size_t size, size_t *got,
		     char **end)
{
	int n;

	*got = 0;
	for (;;) {
		if (*got + 1 >= size)
			return -1;
		n = conn_read(ssl, buf + *got, (int)(size - 1 - *got));
		if (n <= 0)
			return -1;
		*got += (size_t)n;
		buf[*got] = '\0';
		*end = strstr(buf, "\r\n\r\n");
		if (*end)
			return 0;
	}
}

static int parse_head(struct fake_req *rq, char *head)
{
	char *line, *save = NULL, *colon, *q;
	char version[16];

	line = strtok_r(head, "\r\n", &save);
	if (!line || sscanf(line, "%15s %2047s %15s", rq->method, rq->target,
			    version) != 3)
		return -1;
	snprintf(rq->path, sizeof(rq->path), "%s", rq->target);
	q = strchr(rq->path, '?');
	if (q)
		*q = '\0';
	q = strchr(rq->target, '?');
	rq->query = q ? q + 1 : rq->target + strlen(rq->target);
	while ((line = strtok_r(NULL, "\r\n", &save)) &&
	       rq->nhdrs < FAKE_HDRS_MAX) {
		colon = strchr(line, ':');
		if (!colon)
			return -1;
		*colon++ = '\0';
		while (*colon == ' ')
			colon++;
		rq->hdrs[rq->nhdrs].name = strdup(line);
		rq->hdrs[rq->nhdrs].value = strdup(colon);
		rq->nhdrs++;
	}
	return 0;
}

static int read_request(struct fconn *ssl, struct fake_req *rq)
{
	char buf[16384], *end;
	const char *cl;
	size_t got, have, want = 0;
	int n;

	if (read_head(ssl, buf, sizeof(buf), &got, &end))
		return -1;
	*end = '\0';
	end += 4;
	if (parse_head(rq, buf))
		return -1;
	cl = fake_header(rq, "Content-Length");
	if (cl)
		want = strtoul(cl, NULL, 10);
	if (want > FAKE_BODY_MAX)
		return -1;
	rq->body = calloc(1, want + 1);
	if (!rq->body)
		return -1;
	have = got - (size_t)(end - buf);
	if (have > want)
		have = want;
	memcpy(rq->body, end, have);
	while (have < want) {
		n = conn_read(ssl, rq->body + have, (int)(want - have));
		if (n <= 0)
			return -1;
		have += (size_t)n;
	}
	rq->body_len = want;
	return 0;
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	}
	return "Status";
}

static void send_resp(struct fconn *ssl, const struct fake_resp *rs)
{
	char head[1024];
	int n;

	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n%s\r\n",
		     rs->status, reason(rs->status), rs->content_type,
		     rs->body_len, rs->headers);
	if (n > 0 && (size_t)n < sizeof(head))
		conn_write(ssl, head, n);
	if (rs->body_len)
		conn_write(ssl, rs->body, (int)rs->body_len);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Consume one injected fault, if any: true if it answered for us. */
static bool take_fault(struct fakesrv *s, struct fake_faults *f,
		       struct fake_resp *rs)
{
	bool faulted = false;

	pthread_mutex_lock(&s->lock);
	*f = s->faults;
	if (s->faults.count) {
		s->faults.count--;
		faulted = true;
	}
	pthread_mutex_unlock(&s->lock);
	if (!faulted)
		return false;
	if (f->body[0])
		fake_reply(rs, f->status, "%s", f->body);
	else
		fake_reply(rs, f->status, "{\"fault\":\"injected %d\"}",
			   f->status);
	if (f->retry_after[0])
		snprintf(rs->headers, sizeof(rs->headers),
			 "Retry-After: %s\r\n", f->retry_after);
	return true;
}

/*
 * What someone on the path who cannot break TLS can still do: answer the
 * ClientHello with a fatal handshake_failure alert of his own (a TLS 1.2
 * record: content type 21, version 3.3, length 2, level fatal,
 * description 40). The request is counted: one was attempted.
 */
static bool tls_alert(struct fakesrv *s, struct fconn *c)
{
	static const unsigned char alert[] = { 21, 3, 3, 0, 2, 2, 40 };
	unsigned char hello[16384];
	bool on;

	pthread_mutex_lock(&s->lock);
	on = s->faults.tls_alert;
	if (on)
		s->requests++;
	pthread_mutex_unlock(&s->lock);
	if (!on)
		return false;
	if (read(c->fd, hello, sizeof(hello)) <= 0 ||
	    write(c->fd, alert, sizeof(alert)) < 0)
		return true;
	shutdown(c->fd, SHUT_WR);
	return true;
}

static void serve(struct fakesrv *s, struct fconn *ssl)
{
	struct fake_req rq = { 0 };
	struct fake_resp rs = { 0 };
	struct fake_faults f;

	if (ssl->ssl && tls_alert(s, ssl))
		goto out;
	if ((ssl->ssl && SSL_accept(ssl->ssl) != 1) || read_request(ssl, &rq))
		goto out;
	pthread_mutex_lock(&s->lock);
	s->requests++;
	req_copy(&s->last, &rq);
	pthread_mutex_unlock(&s->lock);

	if (!take_fault(s, &f, &rs)) {
		/* Until the test clears the fault: the client must give up. */
		while (f.hang && !s->stop) {
			sleep_ms(20);
			pthread_mutex_lock(&s->lock);
			f.hang = s->faults.hang;
			pthread_mutex_unlock(&s->lock);
		}
		if (s->stop)
			goto out;
		if (f.close_early)
			goto out;
		fake_reply(&rs, 500, "{\"error\":\"no handler answer\"}");
		s->handler(s, &rq, &rs);
	}
	if (f.delay_ms)
		sleep_ms(f.delay_ms);
	send_resp(ssl, &rs);
	if (ssl->ssl)
		SSL_shutdown(ssl->ssl);
out:
	free(rs.body);
	req_free(&rq);
}

static void *server_thread(void *arg)
{
	struct fakesrv *s = arg;
	struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
	struct timeval tv = { 5, 0 };
	struct fconn fc;
	int c;

	while (!s->stop) {
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		c = accept(s->fd, NULL, NULL);
		if (c < 0)
			continue;
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		fc.fd = c;
		fc.ssl = s->plain ? NULL : SSL_new(s->ctx);
		if (fc.ssl)
			SSL_set_fd(fc.ssl, c);
		if (fc.ssl || s->plain)
			serve(s, &fc);
		SSL_free(fc.ssl);
		close(c);
	}
	return NULL;
}

static int tls_setup(struct fakesrv *s)
{
	char cert[300], key[300];
	SSL_CTX *ctx;

	if (fake_cert_issue(s->dir, "server"))
		return -1;
	snprintf(cert, sizeof(cert), "%s/server.pem", s->dir);
	snprintf(key, sizeof(key), "%s/server.key", s->dir);
	snprintf(s->ca_file, sizeof(s->ca_file), "%s/ca.pem", s->dir);
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		return -1;
	if (SSL_CTX_use_certificate_file(ctx, cert, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		SSL_CTX_free(ctx);
		return -1;
	}
	s->ctx = ctx;
	return 0;
}

static int listen_loopback(struct fakesrv *s, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	int one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons(port);
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	/* A restarted server takes its port back from TIME_WAIT. */
	if (s->fd < 0 ||
	    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(s->fd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(s->fd, 16) ||
	    getsockname(s->fd, (struct sockaddr *)&a, &alen))
		return -1;
	s->port = ntohs(a.sin_port);
	snprintf(s->url, sizeof(s->url), "%s://127.0.0.1:%d",
		 s->plain ? "http" : "https", s->port);
	return 0;
}

static int start(struct fakesrv *s, const char *dir, int port,
		 fake_handler_fn h, void *data, bool plain)
{
	/* A client that timed out must not kill the test on our write. */
	signal(SIGPIPE, SIG_IGN);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	s->handler = h;
	s->data = data;
	s->plain = plain;
	pthread_mutex_init(&s->lock, NULL);
	if ((!plain && tls_setup(s)) || listen_loopback(s, port) ||
	    pthread_create(&s->thread, NULL, server_thread, s)) {
		fprintf(stderr, "fakesrv: cannot start: %s\n", strerror(errno));
		ERR_print_errors_fp(stderr);
		if (s->fd >= 0)
			close(s->fd);
		SSL_CTX_free(s->ctx);
		return -1;
	}
	return 0;
}

int fakesrv_start(struct fakesrv *s, const char *dir, fake_handler_fn h,
		  void *data)
{
	return start(s, dir, 0, h, data, false);
}

int fakesrv_start_port(struct fakesrv *s, const char *dir, int port,
		       fake_handler_fn h, void *data)
{
	return start(s, dir, port, h, data, false);
}

int fakesrv_start_plain(struct fakesrv *s, const char *dir,
			fake_handler_fn h, void *data)
{
	return start(s, dir, 0, h, data, true);
}

void fakesrv_stop(struct fakesrv *s)
{
	s->stop = true;
	pthread_join(s->thread, NULL);
	close(s->fd);
	SSL_CTX_free(s->ctx);
	req_free(&s->last);
	pthread_mutex_destroy(&s->lock);
}

void fakesrv_faults(struct fakesrv *s, const struct fake_faults *f)
{
	pthread_mutex_lock(&s->lock);
	if (f)
		s->faults = *f;
	else
		memset(&s->faults, 0, sizeof(s->faults));
	pthread_mutex_unlock(&s->lock);
}

unsigned long fakesrv_requests(struct fakesrv *s)
{
	unsigned long n;

	pthread_mutex_lock(&s->lock);
	n = s->requests;
	pthread_mutex_unlock(&s->lock);
	return n;
}

void fakesrv_last_header(struct fakesrv *s, const char *name, char *buf,
			 size_t len)
{
	const char *v;

	pthread_mutex_lock(&s->lock);
	v = fake_header(&s->last, name);
	snprintf(buf, len, "%s", v ? v : "");
	pthread_mutex_unlock(&s->lock);
}
