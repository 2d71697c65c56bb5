/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Test-only HTTPS server for the KMS provider tests: a thread in the test
 * process that answers one request per TLS connection through a handler
 * that follows a KMS's published API (each provider's fake_*.c, in
 * userspace/providers/NAME/), with faults the test injects between calls
 * (status codes, delays, a server that never answers). Its certificate
 * chains to a CA made for the run, so providers are tested with TLS
 * verification on, as they always run.
 */
#ifndef CMEK_FAKESRV_H
#define CMEK_FAKESRV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#define FAKE_PATH_MAX		2048
#define FAKE_HDRS_MAX		32
#define FAKE_BODY_MAX		(1 << 20)

struct fake_req {
	char method[16];
	char target[FAKE_PATH_MAX];	/* path and query, as sent */
	char path[FAKE_PATH_MAX];	/* without the query */
	char *query;			/* into target, after '?', or "" */
	struct { char *name, *value; } hdrs[FAKE_HDRS_MAX];
	size_t nhdrs;
	char *body;			/* NUL-terminated */
	size_t body_len;
};

struct fake_resp {
	int status;
	char content_type[64];
	char headers[512];		/* extra "Name: value\r\n" lines */
	char *body;			/* malloc()ed, NUL-terminated */
	size_t body_len;
};

struct fakesrv;
typedef void (*fake_handler_fn)(struct fakesrv *s, const struct fake_req *rq,
				struct fake_resp *rs);

/*
 * Fault injection and counters. Take s->lock to change them while the
 * server runs; the provider call that follows sees the change.
 */
struct fake_faults {
	int status;		/* answer this status for the next @count */
	unsigned int count;	/* requests, before the handler runs */
	char body[512];		/* with this body ("" = a plain-text one) */
	char retry_after[16];	/* Retry-After value, "" = none */
	int delay_ms;		/* sleep before every answer */
	bool hang;		/* read the request, never answer */
	bool close_early;	/* close the connection without answering */
	bool tls_alert;		/* answer the ClientHello with a fatal alert */
};

struct fakesrv {
	char dir[256];		/* the run's files: CA and server keys */
	char ca_file[300];	/* PEM of the CA that signed the server */
	char url[64];		/* "https://127.0.0.1:PORT" (http:// if plain) */
	int port;

	fake_handler_fn handler;
	void *data;		/* the handler's own state */

	pthread_mutex_t lock;	/* over everything below */
	struct fake_faults faults;
	unsigned long requests;	/* requests read, faulted ones included */
	struct fake_req last;	/* copy of the last request, for asserts */

	bool plain;		/* fakesrv_start_plain(): no TLS */

	/* private */
	int fd;
	void *ctx;
	pthread_t thread;
	volatile bool stop;
};

/* Make the CA and server certificate in @dir and start serving. */
int fakesrv_start(struct fakesrv *s, const char *dir, fake_handler_fn h,
		  void *data);
/* The same on 127.0.0.1:@port, for a server that a test kills and restarts. */
int fakesrv_start_port(struct fakesrv *s, const char *dir, int port,
		       fake_handler_fn h, void *data);
/* The same without TLS, for instance metadata services (plain HTTP). */
int fakesrv_start_plain(struct fakesrv *s, const char *dir,
			fake_handler_fn h, void *data);
void fakesrv_stop(struct fakesrv *s);

/* Under s->lock: set, or clear with NULL, the faults for what follows. */
void fakesrv_faults(struct fakesrv *s, const struct fake_faults *f);
unsigned long fakesrv_requests(struct fakesrv *s);
/* A header of the last request (case-insensitive), "" if absent. */
void fakesrv_last_header(struct fakesrv *s, const char *name, char *buf,
			 size_t len);

/* Header lookup for handlers, NULL if absent. */
const char *fake_header(const struct fake_req *rq, const char *name);
/* Set the answer: status, JSON content type, printf-formatted body. */
void fake_reply(struct fake_resp *rs, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Certificates for a test: a CA (ca.pem, ca.key) in @dir on first use,
 * and a leaf for @name (NAME.pem, NAME.key) signed by it, valid for
 * 127.0.0.1 and localhost, usable by a server and a client (mutual TLS).
 */
int fake_cert_issue(const char *dir, const char *name);
/*
 * The same, valid for @extra_san as well ("IP:10.0.2.100,DNS:kms.test",
 * OpenSSL's subjectAltName syntax; NULL: nothing more): a server that a
 * VM guest reaches at another address than the host's loopback.
 */
int fake_cert_issue_san(const char *dir, const char *name,
			const char *extra_san);

#endif /* CMEK_FAKESRV_H */
