/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The "kmip" provider: KMIP 1.4 over mutual TLS. Its configuration, wrapped
 * key format and error classification are documented in
 * Documentation/admin-guide/cmek-providers.rst.
 *
 * The request/response layer is exported for tests and admin tooling
 * (creating, activating and revoking keys on a test server).
 */
#ifndef CMEK_KMIP_H
#define CMEK_KMIP_H

#include <stdint.h>

#include "provider.h"
#include "ttlv.h"

#define KMIP_DEFAULT_PORT	5696
#define KMIP_DEFAULT_TIMEOUT	10	/* seconds, whole request */
#define KMIP_TIMEOUT_MAX	300
#define KMIP_RESPONSE_MAX	65536	/* bytes after the 8-byte header */
#define KMIP_KEY_REF_MAX	255

/* Tags (KMIP 1.4 section 9.1.3.1) used by the provider and its tests. */
enum kmip_tag {
	KMIP_TAG_ATTRIBUTE		= 0x420008,
	KMIP_TAG_ATTRIBUTE_NAME		= 0x42000a,
	KMIP_TAG_ATTRIBUTE_VALUE	= 0x42000b,
	KMIP_TAG_AUTHENTICATION		= 0x42000c,
	KMIP_TAG_BATCH_COUNT		= 0x42000d,
	KMIP_TAG_BATCH_ITEM		= 0x42000f,
	KMIP_TAG_BLOCK_CIPHER_MODE	= 0x420011,
	KMIP_TAG_CREDENTIAL		= 0x420023,
	KMIP_TAG_CREDENTIAL_TYPE	= 0x420024,
	KMIP_TAG_CREDENTIAL_VALUE	= 0x420025,
	KMIP_TAG_CRYPTO_ALGORITHM	= 0x420028,
	KMIP_TAG_CRYPTO_LENGTH		= 0x42002a,
	KMIP_TAG_CRYPTO_PARAMETERS	= 0x42002b,
	KMIP_TAG_CRYPTO_USAGE_MASK	= 0x42002c,
	KMIP_TAG_IV_COUNTER_NONCE	= 0x42003d,
	KMIP_TAG_MAX_RESPONSE_SIZE	= 0x420050,
	KMIP_TAG_OBJECT_TYPE		= 0x420057,
	KMIP_TAG_OPERATION		= 0x42005c,
	KMIP_TAG_PROTOCOL_VERSION	= 0x420069,
	KMIP_TAG_PROTOCOL_MAJOR		= 0x42006a,
	KMIP_TAG_PROTOCOL_MINOR		= 0x42006b,
	KMIP_TAG_REQUEST_HEADER		= 0x420077,
	KMIP_TAG_REQUEST_MESSAGE	= 0x420078,
	KMIP_TAG_REQUEST_PAYLOAD	= 0x420079,
	KMIP_TAG_RESPONSE_HEADER	= 0x42007a,
	KMIP_TAG_RESPONSE_MESSAGE	= 0x42007b,
	KMIP_TAG_RESPONSE_PAYLOAD	= 0x42007c,
	KMIP_TAG_RESULT_MESSAGE		= 0x42007d,
	KMIP_TAG_RESULT_REASON		= 0x42007e,
	KMIP_TAG_RESULT_STATUS		= 0x42007f,
	KMIP_TAG_REVOCATION_REASON	= 0x420081,
	KMIP_TAG_REVOCATION_CODE	= 0x420082,
	KMIP_TAG_STATE			= 0x42008d,
	KMIP_TAG_TEMPLATE_ATTRIBUTE	= 0x420091,
	KMIP_TAG_TIME_STAMP		= 0x420092,
	KMIP_TAG_UNIQUE_IDENTIFIER	= 0x420094,
	KMIP_TAG_USERNAME		= 0x420099,
	KMIP_TAG_PASSWORD		= 0x4200a1,
	KMIP_TAG_DATA			= 0x4200c2,
	KMIP_TAG_RANDOM_IV		= 0x4200c5,
	KMIP_TAG_IV_LENGTH		= 0x4200cd,
	KMIP_TAG_TAG_LENGTH		= 0x4200ce,
	KMIP_TAG_AEAD_DATA		= 0x4200fe,
	KMIP_TAG_AEAD_TAG		= 0x4200ff,
};

enum kmip_operation {
	KMIP_OP_CREATE		= 0x01,
	KMIP_OP_GET_ATTRIBUTES	= 0x0b,
	KMIP_OP_ACTIVATE	= 0x12,
	KMIP_OP_REVOKE		= 0x13,
	KMIP_OP_DESTROY		= 0x14,
	KMIP_OP_ENCRYPT		= 0x1f,
	KMIP_OP_DECRYPT		= 0x20,
};

enum kmip_result_status {
	KMIP_STATUS_SUCCESS	= 0,
	KMIP_STATUS_FAILED	= 1,
	KMIP_STATUS_PENDING	= 2,
	KMIP_STATUS_UNDONE	= 3,
};

enum kmip_state {
	KMIP_STATE_PRE_ACTIVE	= 1,
	KMIP_STATE_ACTIVE	= 2,
	KMIP_STATE_DEACTIVATED	= 3,
	KMIP_STATE_COMPROMISED	= 4,
	KMIP_STATE_DESTROYED	= 5,
	KMIP_STATE_DESTROYED_COMPROMISED = 6,
};

/* One decoded response batch item. */
struct cmek_kmip_reply {
	uint8_t *msg;			/* the whole response; wiped on free */
	size_t msg_len;
	uint32_t status;		/* enum kmip_result_status */
	uint32_t reason;		/* Result Reason, 0 if absent */
	char message[160];		/* Result Message, printable ASCII only */
	bool has_payload;
	struct ttlv_item payload;	/* Response Payload, points into msg */
};

/*
 * Send one request (a single batch item: @op with the Request Payload
 * children in @payload) and read its response. 0 only if the server
 * answered Success; otherwise -1 with @err classified and, when a
 * response was decoded, @r filled in. Always cmek_kmip_reply_free() @r.
 */
int cmek_kmip_call(struct cmek_provider *p, uint32_t op,
		   const struct ttlv_buf *payload, struct cmek_kmip_reply *r,
		   struct cmek_error *err);

/*
 * Decode a Response Message (@msg, @len: header included) for a request
 * of @op. Takes ownership of nothing: @r->payload points into @msg.
 * 0, or -1 with a CMEK_ERR_INVALID error for anything malformed.
 */
int cmek_kmip_parse_response(const uint8_t *msg, size_t len, uint32_t op,
			     struct cmek_kmip_reply *r, struct cmek_error *err);

void cmek_kmip_reply_free(struct cmek_kmip_reply *r);

/* How a failed result is treated (documented in cmek-providers.rst). */
enum cmek_err_class cmek_kmip_classify(uint32_t op, uint32_t status,
				       uint32_t reason);
const char *cmek_kmip_reason_name(uint32_t reason);

#endif /* CMEK_KMIP_H */
