/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The "gcp-kms" provider: Google Cloud KMS symmetric keys through the v1
 * REST API (cryptoKeys.encrypt, cryptoKeys.decrypt, cryptoKeys.get).
 *
 *	[provider gcp-kms]
 *	credentials_file = gcp-sa.json   # else $GOOGLE_APPLICATION_CREDENTIALS,
 *	                                 # else the instance metadata server
 *	endpoint = https://cloudkms.googleapis.com
 *
 * Key references are CryptoKey names,
 * projects/P/locations/L/keyRings/R/cryptoKeys/K: encrypt always uses the
 * key's primary version, decrypt finds the version in the ciphertext.
 * The wrapped DEK is Cloud KMS's ciphertext as it is, so that
 * "gcloud kms decrypt" with the AAD cmek-dek-v1:<uuid> can recover a DEK
 * without cmek. Documentation/admin-guide/cmek-providers.rst has the
 * settings, the IAM roles and the error table.
 */
#ifndef CMEK_GCP_KMS_H
#define CMEK_GCP_KMS_H

#include <stdbool.h>

#include "provider.h"

#define CMEK_GCP_ENDPOINT	"https://cloudkms.googleapis.com"
/* The metadata server by address: no DNS answer can redirect it. */
#define CMEK_GCP_METADATA	"http://169.254.169.254"
#define CMEK_GCP_TOKEN_URI	"https://oauth2.googleapis.com/token"
#define CMEK_GCP_SCOPE		"https://www.googleapis.com/auth/cloudkms"
#define CMEK_GCP_KEY_REF_MAX	512

/* projects/P/locations/L/keyRings/R/cryptoKeys/K, strictly. */
bool cmek_gcp_key_ref_valid(const char *ref);

extern const struct cmek_provider_ops cmek_gcp_kms_ops;

#endif /* CMEK_GCP_KMS_H */
