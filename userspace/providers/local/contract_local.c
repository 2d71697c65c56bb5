// SPDX-License-Identifier: GPL-2.0
/*
 * The local provider in the provider contract (tests/lib/contract.h): its
 * "KMS" is a key directory made for the run, each key a KEK file the test
 * creates, disables and deletes as cmekctl kek would.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "contract.h"
#include "local.h"

struct local_env {
	char keys[160];
	unsigned int nkeys;
	/* the KEKs' key bytes, hex: never in a message */
	char kek_hex[CONTRACT_SECRETS_MAX][65];
};

static int local_start(struct contract *c)
{
	struct local_env *e = calloc(1, sizeof(*e));

	if (!e)
		return -1;
	c->priv = e;
	snprintf(e->keys, sizeof(e->keys), "%s/keys", c->dir);
	return mkdir(e->keys, 0700);
}

static void local_stop(struct contract *c)
{
	free(c->priv);
}

static size_t local_settings(struct contract *c, enum contract_conf conf,
			     const char **kv)
{
	struct local_env *e = c->priv;

	(void)conf;
	kv[0] = "key_dir";
	kv[1] = e->keys;
	return 1;
}

/* The key bytes of KEK @name, as hex, among the secrets. */
static void local_secret(struct contract *c, const char *name)
{
	struct local_env *e = c->priv;
	unsigned char buf[40];
	char path[256];
	size_t i = e->nkeys - 1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.kek", e->keys, name);
	f = fopen(path, "r");
	if (!f || i >= CONTRACT_SECRETS_MAX || fread(buf, 1, 40, f) != 40) {
		if (f)
			fclose(f);
		return;
	}
	fclose(f);
	for (size_t j = 0; j < 32; j++)
		sprintf(e->kek_hex[i] + 2 * j, "%02x", buf[8 + j]);
	c->secrets[i] = e->kek_hex[i];
}

static int local_new_key(struct contract *c, char *ref, size_t len)
{
	struct local_env *e = c->priv;
	struct cmek_error err = { 0 };

	snprintf(ref, len, "kek-%u", e->nkeys++);
	if (cmek_local_kek_create(e->keys, ref, &err))
		return -1;
	local_secret(c, ref);
	return 0;
}

static void local_missing_key(struct contract *c, char *ref, size_t len)
{
	(void)c;
	snprintf(ref, len, "never-made");
}

static int local_set_state(struct contract *c, const char *ref,
			   enum cmek_kms_key_state st)
{
	struct local_env *e = c->priv;
	struct cmek_error err = { 0 };

	switch (st) {
	case CMEK_KMS_ENABLED:
		return cmek_local_kek_set_enabled(e->keys, ref, true, &err);
	case CMEK_KMS_DISABLED:
		return cmek_local_kek_set_enabled(e->keys, ref, false, &err);
	case CMEK_KMS_DELETED:
		return cmek_local_kek_delete(e->keys, ref, &err);
	default:
		return -1;
	}
}

const struct contract_adapter contract_local = {
	.provider = "local",
	.gaps = "a key file has no transport, no credential and no access control of its own: no faults, no pending deletion, no access denied",
	.states = CONTRACT_BIT(CMEK_KMS_DISABLED) | CONTRACT_BIT(CMEK_KMS_DELETED),
	.bad_ref = "../evil",
	.start = local_start,
	.stop = local_stop,
	.settings = local_settings,
	.new_key = local_new_key,
	.missing_key = local_missing_key,
	.set_state = local_set_state,
};
