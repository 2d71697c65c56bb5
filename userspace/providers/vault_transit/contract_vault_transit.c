// SPDX-License-Identifier: GPL-2.0
/*
 * vault-transit in the provider contract (tests/lib/contract.h), against
 * the fake transit engine (fake_vault.c): tokens with their policies,
 * keys deleted or soft-deleted (OpenBao) as an operator would.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract.h"
#include "fake_vault.h"
#include "fakesrv.h"

#define VT_NS		"team-a"
#define VT_TOKEN	"hvs.CAESIContractTokenForTheCmekSuite0123456789abcdefXY"
#define VT_DENY		"hvs.CAESIContractNoPolicyToken0123456789abcdefghijklm"
#define VT_BAD		"hvs.CAESIContractUnknownToVault0123456789abcdefghijkl"

struct vault_env {
	struct fakesrv s;
	struct fake_vault v;
	char token[300], deny[300], bad[300];
	unsigned int nkeys;
};

static int vault_start(struct contract *c)
{
	struct vault_env *e = calloc(1, sizeof(*e));

	if (!e)
		return -1;
	c->priv = e;
	fake_vault_init(&e->v, "transit", VT_NS);
	/* The policy the key owner took away: nothing on any transit path. */
	if (fake_vault_token_add(&e->v, VT_TOKEN, VT_NS, FAKE_VAULT_CAP_ALL,
				 NULL) ||
	    fake_vault_token_add(&e->v, VT_DENY, VT_NS, 0, NULL) ||
	    contract_write_file(c->dir, "vault.token", VT_TOKEN "\n",
				e->token, sizeof(e->token)) ||
	    contract_write_file(c->dir, "deny.token", VT_DENY "\n", e->deny,
				sizeof(e->deny)) ||
	    contract_write_file(c->dir, "bad.token", VT_BAD "\n", e->bad,
				sizeof(e->bad)) ||
	    fakesrv_start(&e->s, c->dir, fake_vault_handler, &e->v)) {
		fake_vault_free(&e->v);
		free(e);
		return -1;
	}
	c->srv = &e->s;
	c->secrets[0] = VT_TOKEN;
	c->secrets[1] = VT_DENY;
	c->secrets[2] = VT_BAD;
	c->echo[0] = VT_TOKEN;
	return 0;
}

static void vault_stop(struct contract *c)
{
	struct vault_env *e = c->priv;

	fakesrv_stop(&e->s);
	fake_vault_free(&e->v);
	free(e);
}

static size_t vault_settings(struct contract *c, enum contract_conf conf,
			     const char **kv)
{
	struct vault_env *e = c->priv;
	size_t n = contract_http_settings(&e->s, conf, kv);
	const char *const more[] = {
		"deadline", "10s",
		"namespace", VT_NS,
		"token_file", conf == CONTRACT_BAD_CREDENTIAL ? e->bad :
			      conf == CONTRACT_DENIED ? e->deny : e->token,
	};

	memcpy(kv + 2 * n, more, sizeof(more));
	return n + sizeof(more) / sizeof(more[0]) / 2;
}

static int vault_new_key(struct contract *c, char *ref, size_t len)
{
	struct vault_env *e = c->priv;

	snprintf(ref, len, "k%u", e->nkeys++);
	return fake_vault_key_add(&e->v, ref, false);
}

static void vault_missing_key(struct contract *c, char *ref, size_t len)
{
	(void)c;
	snprintf(ref, len, "never-made");
}

static int vault_set_state(struct contract *c, const char *ref,
			   enum cmek_kms_key_state st)
{
	struct vault_env *e = c->priv;

	switch (st) {
	case CMEK_KMS_ENABLED:
		return fake_vault_key_soft_delete(&e->v, ref, false);
	case CMEK_KMS_PENDING_DELETION:
		return fake_vault_key_soft_delete(&e->v, ref, true);
	case CMEK_KMS_DELETED:
		return fake_vault_key_delete(&e->v, ref);
	case CMEK_KMS_ACCESS_DENIED:
		return 0;	/* the CONTRACT_DENIED token */
	default:
		return -1;
	}
}

const struct contract_adapter contract_vault_transit = {
	.provider = "vault-transit",
	.gaps = "transit keys cannot be disabled (min_decryption_version retires versions, not the key: test_vault_transit)",
	.confs = CONTRACT_NET_CONFS,
	.states = CONTRACT_BIT(CMEK_KMS_PENDING_DELETION) |
		  CONTRACT_BIT(CMEK_KMS_DELETED) |
		  CONTRACT_BIT(CMEK_KMS_ACCESS_DENIED),
	.faults = CONTRACT_FAKESRV_FAULTS,
	.credential_flag = true,
	.bad_ref = "../x",
	.echo_body = "{\"errors\":[\"%s\"]}",
	.echo_status = 400,
	.start = vault_start,
	.stop = vault_stop,
	.settings = vault_settings,
	.new_key = vault_new_key,
	.missing_key = vault_missing_key,
	.set_state = vault_set_state,
	.quick_timeout_ms = 500,
};
