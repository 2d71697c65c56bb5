// SPDX-License-Identifier: GPL-2.0
/*
 * gcp-kms in the provider contract (tests/lib/contract.h), against the
 * fake Cloud KMS (fake_gcp.c): a service-account key it trusts, tokens
 * from its OAuth endpoint, key versions set as a key administrator would.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract.h"
#include "fake_gcp.h"
#include "fakesrv.h"

#define GCP_RING	"projects/cmek-test/locations/europe-west1/keyRings/cmek-ring/cryptoKeys/"
#define GCP_EMAIL	"cmekd@cmek-test.iam.gserviceaccount.com"

struct gcp_env {
	struct fakesrv s;
	struct fake_gcp *f;
	char sa[300], foreign[300], token_uri[128];
	char pem_line[48];		/* from the middle of the private key */
	unsigned int nkeys;
};

/* 40 characters of the service account's private key, a secret. */
static void gcp_pem_line(struct gcp_env *e)
{
	char buf[8192] = "", *b;
	FILE *f = fopen(e->sa, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = '\0';
	b = strstr(buf, "KEY-----\\n");
	if (b && strlen(b) > 60)
		snprintf(e->pem_line, sizeof(e->pem_line), "%.40s", b + 20);
}

static int gcp_start(struct contract *c)
{
	struct gcp_env *e = calloc(1, sizeof(*e));

	if (!e)
		return -1;
	c->priv = e;
	e->f = fake_gcp_new();
	if (!e->f || fakesrv_start(&e->s, c->dir, fake_gcp_handler, e->f)) {
		fake_gcp_free(e->f);
		free(e);
		return -1;
	}
	c->srv = &e->s;
	snprintf(e->token_uri, sizeof(e->token_uri), "%s/token", e->s.url);
	snprintf(e->sa, sizeof(e->sa), "%s/sa.json", c->dir);
	snprintf(e->foreign, sizeof(e->foreign), "%s/foreign.json", c->dir);
	if (fake_gcp_write_sa(e->f, e->sa, e->token_uri, GCP_EMAIL, true) ||
	    fake_gcp_write_sa(e->f, e->foreign, e->token_uri, GCP_EMAIL,
			      false)) {
		fakesrv_stop(&e->s);
		fake_gcp_free(e->f);
		free(e);
		return -1;
	}
	gcp_pem_line(e);
	c->secrets[0] = e->pem_line[0] ? e->pem_line : "-no-pem-line-";
	c->secrets[1] = "BEGIN PRIVATE";
	c->secrets[2] = "ya29.";	/* every token the fake issues */
	c->secrets[3] = "eyJ";		/* a JWT assertion */
	return 0;
}

static void gcp_stop(struct contract *c)
{
	struct gcp_env *e = c->priv;

	fakesrv_stop(&e->s);
	fake_gcp_free(e->f);
	free(e);
}

static size_t gcp_settings(struct contract *c, enum contract_conf conf,
			   const char **kv)
{
	struct gcp_env *e = c->priv;
	size_t n = contract_http_settings(&e->s, conf, kv);

	kv[2 * n] = "credentials_file";
	kv[2 * n + 1] = conf == CONTRACT_BAD_CREDENTIAL ? e->foreign : e->sa;
	return n + 1;
}

static int gcp_new_key(struct contract *c, char *ref, size_t len)
{
	struct gcp_env *e = c->priv;

	snprintf(ref, len, GCP_RING "k%u", e->nkeys++);
	return fake_gcp_add_key(e->f, ref);
}

static void gcp_missing_key(struct contract *c, char *ref, size_t len)
{
	(void)c;
	snprintf(ref, len, GCP_RING "never-made");
}

static int gcp_set_state(struct contract *c, const char *ref,
			 enum cmek_kms_key_state st)
{
	static const char *const names[] = {
		[CMEK_KMS_ENABLED] = "ENABLED",
		[CMEK_KMS_DISABLED] = "DISABLED",
		[CMEK_KMS_PENDING_DELETION] = "DESTROY_SCHEDULED",
		[CMEK_KMS_DELETED] = "DESTROYED",
	};
	struct gcp_env *e = c->priv;

	if (st == CMEK_KMS_ACCESS_DENIED)
		return fake_gcp_deny(e->f, ref, true);
	if (st >= sizeof(names) / sizeof(names[0]) || !names[st])
		return -1;
	if (st == CMEK_KMS_ENABLED && fake_gcp_deny(e->f, ref, false))
		return -1;
	return fake_gcp_set_state(e->f, ref, 0, names[st]);
}

const struct contract_adapter contract_gcp_kms = {
	.provider = "gcp-kms",
	.confs = CONTRACT_NET_CONFS,
	.states = CONTRACT_ALL_STATES,
	.faults = CONTRACT_FAKESRV_FAULTS,
	.credential_flag = true,
	.bad_ref = "projects/P/locations/l/keyRings/r/cryptoKeys/k",
	.echo_body = "{\"error\":{\"code\":400,\"message\":\"%s\",\"status\":\"INVALID_ARGUMENT\"}}",
	.echo_status = 400,
	.start = gcp_start,
	.stop = gcp_stop,
	.settings = gcp_settings,
	.new_key = gcp_new_key,
	.missing_key = gcp_missing_key,
	.set_state = gcp_set_state,
	.quick_timeout_ms = 500,
};
