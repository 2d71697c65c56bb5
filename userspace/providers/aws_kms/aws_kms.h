/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The "aws-kms" provider: AWS Key Management Service over its JSON 1.1
 * protocol, signed with libcurl's SigV4. Configuration, credentials and the
 * error table: Documentation/admin-guide/cmek-providers.rst, "aws-kms".
 *
 * The parsers below are exported for test_aws_kms.c, which feeds
 * them recorded answers from the API reference (data/).
 */
#ifndef CMEK_AWS_KMS_H
#define CMEK_AWS_KMS_H

#include <stddef.h>

#include "provider.h"

#define CMEK_AWS_REGION_MAX	32
#define CMEK_AWS_BLOB_MAX	6144	/* CiphertextBlob, per the API */

extern const struct cmek_provider_ops cmek_aws_kms_ops;

/*
 * Check a key reference (key ARN, alias ARN, key id, "alias/NAME") and
 * copy the region of an ARN into @region ("" for the other forms).
 */
int cmek_aws_kms_key_ref(const char *key_ref, char *region, size_t len,
			 struct cmek_error *err);

/* KeyMetadata.KeyState to a provider state; -1 for a state we do not know. */
int cmek_aws_kms_key_state_parse(const char *key_state,
				 enum cmek_kms_key_state *state);

/* A DescribeKey answer body (HTTP 200) to a key state, or -1 (invalid). */
int cmek_aws_kms_describe_parse(const char *body, size_t len,
				enum cmek_kms_key_state *state,
				struct cmek_error *err);

/*
 * Classify an error answer (JSON {"__type", "message"} or an XML
 * ErrorResponse) of HTTP @status: fills @err, copies the bare error code
 * into @type (may be NULL) and returns the class.
 */
enum cmek_err_class cmek_aws_kms_error(long status, const char *body,
				       char *type, size_t type_len,
				       struct cmek_error *err);

#endif /* CMEK_AWS_KMS_H */
