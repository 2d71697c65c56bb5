// SPDX-License-Identifier: GPL-2.0
/*
 * The built-in providers. A new provider adds its ops here.
 */
#include <stddef.h>

#include "provider.h"

extern const struct cmek_provider_ops cmek_local_ops;
extern const struct cmek_provider_ops cmek_aws_kms_ops;
extern const struct cmek_provider_ops cmek_gcp_kms_ops;
extern const struct cmek_provider_ops cmek_azure_kv_ops;
extern const struct cmek_provider_ops cmek_vault_transit_ops;
extern const struct cmek_provider_ops cmek_kmip_ops;

const struct cmek_provider_ops *const cmek_providers[] = {
	&cmek_local_ops,
	&cmek_aws_kms_ops,
	&cmek_gcp_kms_ops,
	&cmek_azure_kv_ops,
	&cmek_vault_transit_ops,
	&cmek_kmip_ops,
	NULL,
};
