// SPDX-License-Identifier: GPL-2.0
/*
 * aws-kms in the provider contract (tests/lib/contract.h), against the
 * fake AWS KMS (fake_aws.c): SigV4 checked, key states and key policies
 * set as a key administrator would.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract.h"
#include "fake_aws.h"
#include "fakesrv.h"

#define AWS_AKID	"AKIAIOSFODNN7EXAMPLE"
#define AWS_SECRET	"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define AWS_WRONG	"wJalrXUtnFEMI/K7MDENG/bPxRfiCYWRONGSECRET"

struct aws_env {
	struct fakesrv s;
	struct fake_aws f;
	char secret_file[300], wrong_file[300];
};

static int aws_start(struct contract *c)
{
	struct aws_env *e = calloc(1, sizeof(*e));

	if (!e)
		return -1;
	c->priv = e;
	fake_aws_init(&e->f, "us-east-1");
	fake_aws_cred_add(&e->f, AWS_AKID, AWS_SECRET, NULL);
	c->secrets[0] = AWS_SECRET;
	c->secrets[1] = AWS_WRONG;
	c->echo[0] = AWS_SECRET;
	if (contract_write_file(c->dir, "aws.secret", AWS_SECRET "\n",
				e->secret_file, sizeof(e->secret_file)) ||
	    contract_write_file(c->dir, "wrong.secret", AWS_WRONG "\n",
				e->wrong_file, sizeof(e->wrong_file)) ||
	    fakesrv_start(&e->s, c->dir, fake_aws_handler, &e->f)) {
		fake_aws_free(&e->f);
		free(e);
		return -1;
	}
	c->srv = &e->s;
	return 0;
}

static void aws_stop(struct contract *c)
{
	struct aws_env *e = c->priv;

	fakesrv_stop(&e->s);
	fake_aws_free(&e->f);
	free(e);
}

static size_t aws_settings(struct contract *c, enum contract_conf conf,
			   const char **kv)
{
	struct aws_env *e = c->priv;
	size_t n = contract_http_settings(&e->s, conf, kv);
	const char *const more[] = {
		"region", "us-east-1",
		"deadline", "10s",
		"imds", "no",
		"access_key_id", AWS_AKID,
		"secret_access_key_file", conf == CONTRACT_BAD_CREDENTIAL ?
					  e->wrong_file : e->secret_file,
	};

	memcpy(kv + 2 * n, more, sizeof(more));
	return n + sizeof(more) / sizeof(more[0]) / 2;
}

static int aws_key(struct aws_env *e, const char *ref)
{
	for (size_t i = 0; i < e->f.nkeys; i++)
		if (!strcmp(e->f.keys[i].arn, ref))
			return (int)i;
	return -1;
}

static int aws_new_key(struct contract *c, char *ref, size_t len)
{
	struct aws_env *e = c->priv;
	int k = fake_aws_key_add(&e->f, NULL, NULL);

	if (k < 0)
		return -1;
	snprintf(ref, len, "%s", e->f.keys[k].arn);
	return 0;
}

static void aws_missing_key(struct contract *c, char *ref, size_t len)
{
	(void)c;
	snprintf(ref, len, "arn:aws:kms:us-east-1:" FAKE_AWS_ACCOUNT
		 ":key/12345678-1234-1234-1234-123456789012");
}

static int aws_set_state(struct contract *c, const char *ref,
			 enum cmek_kms_key_state st)
{
	struct aws_env *e = c->priv;
	int k = aws_key(e, ref);

	if (k < 0)
		return -1;
	switch (st) {
	case CMEK_KMS_ENABLED:
		fake_aws_key_set(&e->f, k, "Enabled", false, false);
		return 0;
	case CMEK_KMS_DISABLED:
		fake_aws_key_set(&e->f, k, "Disabled", false, false);
		return 0;
	case CMEK_KMS_PENDING_DELETION:
		fake_aws_key_set(&e->f, k, "PendingDeletion", false, false);
		return 0;
	case CMEK_KMS_DELETED:
		fake_aws_key_set(&e->f, k, "Enabled", false, true);
		return 0;
	case CMEK_KMS_ACCESS_DENIED:
		fake_aws_key_set(&e->f, k, "Enabled", true, false);
		return 0;
	default:
		return -1;
	}
}

const struct contract_adapter contract_aws_kms = {
	.provider = "aws-kms",
	.confs = CONTRACT_NET_CONFS,
	.states = CONTRACT_ALL_STATES,
	.faults = CONTRACT_FAKESRV_FAULTS,
	.credential_flag = true,
	.bad_ref = "not a key",
	.echo_body = "{\"__type\":\"ValidationException\",\"message\":\"%s\"}",
	.echo_status = 400,
	.start = aws_start,
	.stop = aws_stop,
	.settings = aws_settings,
	.new_key = aws_new_key,
	.missing_key = aws_missing_key,
	.set_state = aws_set_state,
	.quick_timeout_ms = 500,
};
