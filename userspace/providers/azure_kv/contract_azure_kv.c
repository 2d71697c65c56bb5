// SPDX-License-Identifier: GPL-2.0
/*
 * azure-kv in the provider contract (tests/lib/contract.h), against the
 * fake Entra ID and Key Vault (fake_azure.c): a client secret it knows,
 * key versions and access policies set as a vault administrator would.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract.h"
#include "fake_azure.h"
#include "fakesrv.h"

#define AZ_VAULT	"https://cmekcontract.vault.azure.net"
#define AZ_TENANT	"72f988bf-86f1-41af-91ab-2d7cd011db47"
#define AZ_CLIENT	"0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"
#define AZ_SECRET	"Zq8~s3cr3t+val/ue&x=%41 end"
#define AZ_WRONG	"wrong-secret~Zq8s3cr3t"

struct azure_env {
	struct fakesrv s;
	struct fake_azure fa;
	char secret_file[300], wrong_file[300];
	unsigned int nkeys;
};

static int azure_start(struct contract *c)
{
	struct azure_env *e = calloc(1, sizeof(*e));

	if (!e)
		return -1;
	c->priv = e;
	if (fake_azure_init(&e->fa, AZ_VAULT, AZ_TENANT, AZ_CLIENT,
			    AZ_SECRET)) {
		free(e);
		return -1;
	}
	if (contract_write_file(c->dir, "client.secret", AZ_SECRET "\n",
				e->secret_file, sizeof(e->secret_file)) ||
	    contract_write_file(c->dir, "wrong.secret", AZ_WRONG "\n",
				e->wrong_file, sizeof(e->wrong_file)) ||
	    fakesrv_start(&e->s, c->dir, fake_azure_handler, &e->fa)) {
		fake_azure_free(&e->fa);
		free(e);
		return -1;
	}
	c->srv = &e->s;
	c->secrets[0] = AZ_SECRET;
	c->secrets[1] = "s3cr3t";
	c->secrets[2] = AZ_WRONG;
	c->secrets[3] = "eyJ0eXAi";	/* every token the fake issues */
	c->echo[0] = AZ_SECRET;
	return 0;
}

static void azure_stop(struct contract *c)
{
	struct azure_env *e = c->priv;

	fakesrv_stop(&e->s);
	fake_azure_free(&e->fa);
	free(e);
}

static size_t azure_settings(struct contract *c, enum contract_conf conf,
			     const char **kv)
{
	struct azure_env *e = c->priv;
	size_t n = contract_http_settings(&e->s, conf, kv);
	const char *const more[] = {
		"authority_host", e->s.url,
		"tenant_id", AZ_TENANT,
		"client_id", AZ_CLIENT,
		"client_secret_file", conf == CONTRACT_BAD_CREDENTIAL ?
				      e->wrong_file : e->secret_file,
	};

	memcpy(kv + 2 * n, more, sizeof(more));
	return n + sizeof(more) / sizeof(more[0]) / 2;
}

static int azure_new_key(struct contract *c, char *ref, size_t len)
{
	struct azure_env *e = c->priv;
	char name[16];

	snprintf(name, sizeof(name), "k%u", e->nkeys++);
	snprintf(ref, len, AZ_VAULT "/keys/%s", name);
	return fake_azure_key_add(&e->fa, name);
}

static void azure_missing_key(struct contract *c, char *ref, size_t len)
{
	(void)c;
	snprintf(ref, len, AZ_VAULT "/keys/never-made");
}

static int azure_set_state(struct contract *c, const char *ref,
			   enum cmek_kms_key_state st)
{
	struct azure_env *e = c->priv;
	const char *name = strrchr(ref, '/');

	if (!name)
		return -1;
	name++;
	switch (st) {
	case CMEK_KMS_ENABLED:
		/* Access policies are the vault's: granted again to all. */
		fake_azure_deny(&e->fa, FAKE_AZURE_ALLOW, 0);
		fake_azure_key_recover(&e->fa, name);
		return fake_azure_key_enable(&e->fa, name, NULL, true);
	case CMEK_KMS_DISABLED:
		return fake_azure_key_enable(&e->fa, name, NULL, false);
	case CMEK_KMS_PENDING_DELETION:
		return fake_azure_key_delete(&e->fa, name);
	case CMEK_KMS_DELETED:
		return fake_azure_key_delete(&e->fa, name) ||
		       fake_azure_key_purge(&e->fa, name) ? -1 : 0;
	case CMEK_KMS_ACCESS_DENIED:
		fake_azure_deny(&e->fa, FAKE_AZURE_DENY_POLICY,
				FAKE_AZURE_OP_ALL);
		return 0;
	default:
		return -1;
	}
}

const struct contract_adapter contract_azure_kv = {
	.provider = "azure-kv",
	.confs = CONTRACT_NET_CONFS,
	.states = CONTRACT_ALL_STATES,
	.faults = CONTRACT_FAKESRV_FAULTS,
	.credential_flag = true,
	.bad_ref = AZ_VAULT "/secrets/k1",
	.echo_body = "{\"error\":{\"code\":\"BadParameter\",\"message\":\"%s\"}}",
	.echo_status = 400,
	.start = azure_start,
	.stop = azure_stop,
	.settings = azure_settings,
	.new_key = azure_new_key,
	.missing_key = azure_missing_key,
	.set_state = azure_set_state,
	.quick_timeout_ms = 500,
};
