// SPDX-License-Identifier: GPL-2.0
/*
 * kmip in the provider contract (tests/lib/contract.h), against a real
 * KMIP server (Debian's pykmip-server, kmip_admin.c): keys created,
 * revoked and destroyed through the provider's own transport as a key
 * owner would; another client of the same CA is denied them. There is no
 * HTTP fake to fault: a silent listener hangs, a fake TLS peer closes
 * early or answers garbage.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "contract.h"
#include "kmip_admin.h"

#define KMIP_PASSWORD	"s3cret-contract-pw"

struct kmip_env {
	struct kmip_test_server srv;
	struct cmek_provider *admin;	/* the key owner's */
	char port[16], fault_port[16];
	char rogue_ca[256], rogue_cert[256], rogue_key[256];
	char intruder_cert[256], intruder_key[256];
	char server_cert[256], server_key[256];
	char key_line[48];		/* from the client's private key */
	struct kmip_fake_peer peer;
	bool peer_up;
	int silent;			/* a listener that never accepts */
};

static const uint8_t kmip_junk[] = {
	0x42, 0x00, 0x7b, 0x01, 0x00, 0x00, 0x00, 0x10,
	0x42, 0x00, 0x7a, 0x01, 0x00, 0x00, 0x00, 0x40,	/* overruns */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

static size_t kmip_kv(struct kmip_env *e, const char **kv, const char *port,
		      const char *ca, const char *cert, const char *key,
		      const char *timeout)
{
	const char *const base[] = {
		"host", "127.0.0.1", "port", port, "ca_file", ca,
		"cert_file", cert, "key_file", key, "timeout", timeout,
		"retries", "1", "username", "cmek", "password", KMIP_PASSWORD,
	};

	(void)e;
	memcpy(kv, base, sizeof(base));
	return sizeof(base) / sizeof(base[0]) / 2;
}

static size_t kmip_settings(struct contract *c, enum contract_conf conf,
			    const char **kv)
{
	struct kmip_env *e = c->priv;
	const struct kmip_test_server *s = &e->srv;
	const char *t = conf == CONTRACT_GOOD || conf == CONTRACT_DENIED ?
			"5" : "1";

	switch (conf) {
	case CONTRACT_NOWHERE:
		return kmip_kv(e, kv, "1", s->ca_file, s->cert_file,
			       s->key_file, t);
	case CONTRACT_WRONG_CA:
		return kmip_kv(e, kv, e->port, e->rogue_ca, s->cert_file,
			       s->key_file, t);
	case CONTRACT_BAD_CREDENTIAL:
		return kmip_kv(e, kv, e->port, s->ca_file, e->rogue_cert,
			       e->rogue_key, t);
	case CONTRACT_DENIED:
		return kmip_kv(e, kv, e->port, s->ca_file, e->intruder_cert,
			       e->intruder_key, t);
	default:
		return kmip_kv(e, kv, e->port, s->ca_file, s->cert_file,
			       s->key_file, t);
	}
}

/* 40 characters of the client's private key, a secret. */
static void kmip_key_line(struct kmip_env *e)
{
	char buf[4096] = "", *b;
	FILE *f = fopen(e->srv.key_file, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = '\0';
	b = strstr(buf, "-----\n");
	if (b && strlen(b) > 60)
		snprintf(e->key_line, sizeof(e->key_line), "%.40s", b + 16);
}

static int kmip_start(struct contract *c)
{
	struct kmip_env *e = calloc(1, sizeof(*e));
	const char *kv[2 * CONTRACT_KV_MAX];
	struct cmek_error err = { 0 };
	char why[256];
	size_t n;

	if (!e)
		return -1;
	c->priv = e;
	e->silent = -1;
	if (kmip_server_start(&e->srv, why, sizeof(why))) {
		printf("# kmip: %s\n", why);
		free(e);
		return -1;
	}
	snprintf(e->port, sizeof(e->port), "%d", e->srv.port);
	snprintf(e->rogue_ca, sizeof(e->rogue_ca), "%s/rogue/ca.pem",
		 e->srv.dir);
	snprintf(e->rogue_cert, sizeof(e->rogue_cert), "%s/rogue/client.pem",
		 e->srv.dir);
	snprintf(e->rogue_key, sizeof(e->rogue_key), "%s/rogue/client.key",
		 e->srv.dir);
	snprintf(e->intruder_cert, sizeof(e->intruder_cert),
		 "%s/pki/intruder.pem", e->srv.dir);
	snprintf(e->intruder_key, sizeof(e->intruder_key),
		 "%s/pki/intruder.key", e->srv.dir);
	snprintf(e->server_cert, sizeof(e->server_cert), "%s/pki/server.pem",
		 e->srv.dir);
	snprintf(e->server_key, sizeof(e->server_key), "%s/pki/server.key",
		 e->srv.dir);
	kmip_key_line(e);
	c->secrets[0] = KMIP_PASSWORD;
	c->secrets[1] = e->key_line[0] ? e->key_line : "-no-key-line-";
	c->echo[0] = KMIP_PASSWORD;
	e->admin = cmek_provider_new("kmip", &err);
	n = kmip_settings(c, CONTRACT_GOOD, kv);
	for (size_t i = 0; e->admin && i < n; i++)
		if (e->admin->ops->configure(e->admin, kv[2 * i],
					     kv[2 * i + 1], &err)) {
			cmek_provider_free(e->admin);
			e->admin = NULL;
		}
	if (e->admin)
		return 0;
	printf("# kmip: the key owner's provider: %s\n", err.msg);
	kmip_server_stop(&e->srv);
	free(e);
	return -1;
}

static void kmip_fault_clear(struct contract *c)
{
	struct kmip_env *e = c->priv;

	if (e->peer_up)
		kmip_fake_peer_stop(&e->peer);
	e->peer_up = false;
	if (e->silent >= 0)
		close(e->silent);
	e->silent = -1;
}

static void kmip_stop(struct contract *c)
{
	struct kmip_env *e = c->priv;

	kmip_fault_clear(c);
	cmek_provider_free(e->admin);
	kmip_server_stop(&e->srv);
	kmip_server_cleanup(&e->srv);
	free(e);
}

static int kmip_new_key(struct contract *c, char *ref, size_t len)
{
	struct kmip_env *e = c->priv;
	struct cmek_error err = { 0 };

	return kmip_admin_create_aes(e->admin, ref, len, &err);
}

static void kmip_missing_key(struct contract *c, char *ref, size_t len)
{
	(void)c;
	snprintf(ref, len, "999999");
}

static int kmip_set_state(struct contract *c, const char *ref,
			  enum cmek_kms_key_state st)
{
	struct kmip_env *e = c->priv;
	struct cmek_error err = { 0 };

	switch (st) {
	case CMEK_KMS_DISABLED:		/* Cessation of Operation */
		return kmip_admin_revoke(e->admin, ref, 6, &err);
	case CMEK_KMS_DELETED:
		return kmip_admin_revoke(e->admin, ref, 6, &err) ||
		       kmip_admin_destroy(e->admin, ref, &err) ? -1 : 0;
	case CMEK_KMS_ACCESS_DENIED:
		return 0;	/* the CONTRACT_DENIED client certificate */
	default:
		return -1;	/* KMIP has no way back from either */
	}
}

/* A listener that never accepts: TCP connects, TLS never starts. */
static int kmip_silent(struct kmip_env *e)
{
	struct sockaddr_in a = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t l = sizeof(a);

	e->silent = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (e->silent < 0 || bind(e->silent, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(e->silent, (struct sockaddr *)&a, &l) ||
	    listen(e->silent, 4))
		return -1;
	return ntohs(a.sin_port);
}

static size_t kmip_fault(struct contract *c, enum contract_fault f,
			 const char **kv)
{
	struct kmip_env *e = c->priv;
	int port;

	if (f == CONTRACT_FAULT_HANG) {
		port = kmip_silent(e);
	} else {
		if (kmip_fake_peer_start(&e->peer, e->server_cert,
					 e->server_key))
			return 0;
		e->peer_up = true;
		e->peer.resp = kmip_junk;
		/* the header, then the peer hangs up; or all of it */
		e->peer.resp_len = f == CONTRACT_FAULT_CLOSE ? 12 :
				   sizeof(kmip_junk);
		port = e->peer.port;
	}
	if (port <= 0)
		return 0;
	snprintf(e->fault_port, sizeof(e->fault_port), "%d", port);
	return kmip_kv(e, kv, e->fault_port, e->srv.ca_file,
		       e->srv.cert_file, e->srv.key_file, "1");
}

const struct contract_adapter contract_kmip = {
	.provider = "kmip",
	.gaps = "no HTTP: no status codes, Retry-After or proxy pages; no TLS alert to inject (the server's refusal of a client certificate is one: cmekd's credential refused); no pending deletion in KMIP",
	.confs = CONTRACT_NET_CONFS,
	.states = CONTRACT_BIT(CMEK_KMS_DISABLED) |
		  CONTRACT_BIT(CMEK_KMS_DELETED) |
		  CONTRACT_BIT(CMEK_KMS_ACCESS_DENIED),
	.faults = CONTRACT_BIT(CONTRACT_FAULT_HANG) |
		  CONTRACT_BIT(CONTRACT_FAULT_CLOSE) |
		  CONTRACT_BIT(CONTRACT_FAULT_GARBAGE),
	/* a refused client certificate is a TLS alert, not an answer */
	.credential_flag = false,
	.bad_ref = "a b",
	.start = kmip_start,
	.stop = kmip_stop,
	.settings = kmip_settings,
	.new_key = kmip_new_key,
	.missing_key = kmip_missing_key,
	.set_state = kmip_set_state,
	.fault = kmip_fault,
	.fault_clear = kmip_fault_clear,
	.quick_timeout_ms = 1000,
};
