// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: the kmip provider's response decoder (and the TTLV
 * checker under it).
 *
 * The input's first byte chooses the operation the response answers
 * (Encrypt, Decrypt, GetAttributes, Create); the rest is the Response
 * Message, header included. The corpus holds real PyKMIP 0.10 answers.
 *
 * Properties: decoding never crashes or reads out of bounds (ASan), a
 * refusal is always CMEK_ERR_TRANSIENT (a malformed answer is no answer
 * from the KMS: provider.h) with a terminated message, and an
 * accepted response's payload can be walked item by item inside the input.
 */
#include <stdlib.h>
#include <string.h>

#include "kmip/kmip.h"

static const uint32_t ops[] = {
	KMIP_OP_ENCRYPT, KMIP_OP_DECRYPT, KMIP_OP_GET_ATTRIBUTES, KMIP_OP_CREATE,
};

static void walk(const struct ttlv_item *s, const uint8_t *lo,
		 const uint8_t *hi, int depth)
{
	struct ttlv_iter it;
	struct ttlv_item c;

	if (s->val < lo || s->val + s->len > hi || depth > TTLV_MAX_DEPTH)
		abort();
	if (s->type != TTLV_STRUCT)
		return;
	ttlv_iter_init(&it, s);
	while (ttlv_next(&it, &c))
		walk(&c, lo, hi, depth + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cmek_kmip_reply r = { 0 };
	struct cmek_error err = { 0 };
	uint8_t *msg;

	if (!size)
		return 0;
	/* An exact-size copy, so that ASan sees any read past the end. */
	msg = malloc(size - 1 ? size - 1 : 1);
	memcpy(msg, data + 1, size - 1);
	memset(err.msg, 'x', sizeof(err.msg));
	if (cmek_kmip_parse_response(msg, size - 1, ops[data[0] % 4], &r,
				     &err)) {
		if (err.cls != CMEK_ERR_TRANSIENT ||
		    !memchr(err.msg, '\0', sizeof(err.msg)))
			abort();
	} else {
		if (!memchr(r.message, '\0', sizeof(r.message)))
			abort();
		if (r.has_payload)
			walk(&r.payload, msg, msg + size - 1, 0);
	}
	free(msg);
	return 0;
}
