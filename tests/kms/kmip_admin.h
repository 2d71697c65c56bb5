/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Test-only helpers for the kmip provider: a real KMIP server (Debian's
 * python3-pykmip, `pykmip-server`) started on 127.0.0.1 with certificates
 * made for the run, the key administration a KMS operator would do
 * (Create, Activate, Revoke, Destroy) sent through the provider's own
 * transport, and a TLS peer that answers with canned bytes.
 */
#ifndef CMEK_KMIP_ADMIN_H
#define CMEK_KMIP_ADMIN_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kmip.h"

struct kmip_test_server {
	char dir[128];		/* mkdtemp(): certificates, config, db, logs */
	char ca_file[192];	/* CA of the server and of client.pem */
	char cert_file[192];	/* client.pem: the key owner's identity */
	char key_file[192];
	char log[192];		/* pykmip's own log */
	int port;
	pid_t pid;		/* the watchdog, leader of the group; 0 once stopped */
};

/*
 * Make a CA, a server and a client certificate (and "intruder", a second
 * client of the same CA), write a pykmip server.conf and start
 * pykmip-server on a free port; return once it accepts connections. The
 * server and its helper processes die with the test process (a watchdog
 * kills their process group) if it is never stopped. 0, or -1 with @why
 * filled.
 */
int kmip_server_start(struct kmip_test_server *s, char *why, size_t len);
/* SIGKILL and reap the server; idempotent. */
void kmip_server_stop(struct kmip_test_server *s);
/* Remove the run's directory. */
void kmip_server_cleanup(struct kmip_test_server *s);

/* Create an AES-256 key usable for Encrypt and Decrypt, then Activate it. */
int kmip_admin_create_aes(struct cmek_provider *p, char *uid, size_t len,
			  struct cmek_error *err);
/* Revoke with a Revocation Reason Code (2 = Key Compromise, 6 = Cessation). */
int kmip_admin_revoke(struct cmek_provider *p, const char *uid,
		      uint32_t code, struct cmek_error *err);
int kmip_admin_destroy(struct cmek_provider *p, const char *uid,
		       struct cmek_error *err);

/* A TLS server on 127.0.0.1 that reads one request and sends @resp. */
struct kmip_fake_peer {
	int fd, port;
	void *ctx;
	pthread_t thread;
	const uint8_t *resp;	/* set before each call; not copied */
	size_t resp_len;
	/* The last request (whole TTLV message), stored before answering. */
	uint8_t req[8192];
	size_t req_len;
	volatile unsigned int served;	/* connections accepted */
	volatile bool stop;
};

int kmip_fake_peer_start(struct kmip_fake_peer *fp, const char *cert,
			 const char *key);
void kmip_fake_peer_stop(struct kmip_fake_peer *fp);

#endif /* CMEK_KMIP_ADMIN_H */
