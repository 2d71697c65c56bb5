/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Test-only AWS KMS for fakesrv: the JSON 1.1 protocol (POST /,
 * X-Amz-Target: TrentService.<Op>) as the API reference describes it, for
 * GenerateDataKey, Encrypt, Decrypt, ReEncrypt and DescribeKey, with SigV4
 * verified for real (a wrong secret is an InvalidSignatureException), keys
 * with states, versions (rotation) and regions, and the error bodies AWS
 * sends ({"__type": ..., "message": ...}, or an XML ErrorResponse for auth
 * errors when asked). It covers what moto_server cannot: a Decrypt that a
 * disabled key refuses, throttling, canned malformed answers.
 *
 * And a fake IMDSv2 (instance metadata service, plain HTTP) for the
 * credentials path.
 */
#ifndef CMEK_FAKE_AWS_H
#define CMEK_FAKE_AWS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "fakesrv.h"

#define FAKE_AWS_KEYS		16
#define FAKE_AWS_VERSIONS	8
#define FAKE_AWS_CREDS		4
#define FAKE_AWS_ACCOUNT	"111122223333"

enum fake_aws_op {
	FAKE_AWS_GENERATE, FAKE_AWS_ENCRYPT, FAKE_AWS_DECRYPT,
	FAKE_AWS_REENCRYPT, FAKE_AWS_DESCRIBE, FAKE_AWS_NOPS,
};

struct fake_aws_key {
	char id[37];
	char arn[128];
	char alias[64];			/* "alias/NAME" or "" */
	char region[32];
	char state[32];			/* KeyState, "Enabled" ... */
	bool deny;			/* the key policy denies the caller */
	bool gone;			/* deleted: NotFoundException */
	unsigned int nversions;
	uint8_t material[FAKE_AWS_VERSIONS][32];
};

struct fake_aws_cred {
	char akid[64];
	char secret[64];
	char token[512];		/* "" = long-term key, no token */
	bool expired;
};

struct fake_aws {
	pthread_mutex_t lock;		/* over everything below */
	char region[32];		/* default region of new keys */
	struct fake_aws_key keys[FAKE_AWS_KEYS];
	size_t nkeys;
	struct fake_aws_cred creds[FAKE_AWS_CREDS];
	size_t ncreds;
	bool xml_auth;			/* auth errors as XML ErrorResponse */

	/* canned answer for the next @canned_count requests */
	unsigned int canned_count;
	int canned_status;
	char canned_ct[64];
	char *canned_body;

	/* what was seen */
	unsigned long ops[FAKE_AWS_NOPS];
	unsigned long auth_failures;
	char last_region[32];		/* credential scope of the last call */
	char last_akid[64];
	bool plaintext_in_reencrypt;	/* a Plaintext member in ReEncrypt */
};

void fake_aws_init(struct fake_aws *f, const char *region);
void fake_aws_free(struct fake_aws *f);
/* A new enabled key (alias "alias/NAME" or NULL, region NULL = default);
 * returns its index. */
int fake_aws_key_add(struct fake_aws *f, const char *alias,
		     const char *region);
void fake_aws_key_set(struct fake_aws *f, int key, const char *state,
		      bool deny, bool gone);
void fake_aws_key_rotate(struct fake_aws *f, int key);
void fake_aws_cred_add(struct fake_aws *f, const char *akid,
		       const char *secret, const char *token);
void fake_aws_cred_expire(struct fake_aws *f, const char *akid, bool expired);
/* Answer the next @count requests with this, after authentication. */
void fake_aws_canned(struct fake_aws *f, unsigned int count, int status,
		     const char *content_type, const char *body);
unsigned long fake_aws_ops(struct fake_aws *f, enum fake_aws_op op);
/* Key version inside one of our ciphertext blobs, -1 if not ours. */
int fake_aws_blob_version(const uint8_t *blob, size_t len);

void fake_aws_handler(struct fakesrv *s, const struct fake_req *rq,
		      struct fake_resp *rs);

/* IMDSv2: PUT /latest/api/token, then GETs with the session token. */
struct fake_aws_imds {
	pthread_mutex_t lock;
	char role[64];			/* "" = no role attached (404) */
	char akid[64];
	char secret[64];
	char token[512];
	time_t expires;
	char session[40];		/* the IMDS session token handed out */
	unsigned long token_puts;
	unsigned long cred_gets;
	unsigned long refused;		/* requests without a valid session */
};

void fake_aws_imds_init(struct fake_aws_imds *m, const char *role);
void fake_aws_imds_set(struct fake_aws_imds *m, const char *akid,
		       const char *secret, const char *token, time_t expires);
void fake_aws_imds_handler(struct fakesrv *s, const struct fake_req *rq,
			   struct fake_resp *rs);

#endif /* CMEK_FAKE_AWS_H */
