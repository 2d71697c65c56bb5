/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The "azure-kv" provider: data keys wrapped with RSA-OAEP-256 by an Azure
 * Key Vault or Managed HSM key (Documentation/admin-guide/cmek-providers.rst).
 *
 * key_ref is the key identifier Key Vault itself prints:
 *
 *	https://VAULT.vault.azure.net/keys/NAME[/VERSION]
 *	https://HSM.managedhsm.azure.net/keys/NAME[/VERSION]
 *
 * Wrapped blob (what the volume header stores), version 1:
 *
 *	0x01 | L (1 byte, 1..64) | key version (L ASCII bytes) | RSA ciphertext
 *
 * The key version that wrapped the DEK is recorded so that unwrap after a
 * rotation asks for that version, not the key's current one. The RSA
 * plaintext is DEK || SHA-256("cmek-dek-v1:<volume uuid>").
 *
 * Version 2, a slot signed with the section's sign_key (origin
 * authentication: RSA-OAEP alone lets anyone with the public key make a
 * slot that unwraps):
 *
 *	0x02 | 32 | key version (32) | sign_key version (32 ASCII) |
 *	ciphertext length (2 bytes, big endian) | RSA ciphertext |
 *	PS256 signature (256..512 bytes)
 *
 * The signature is over SHA-256 of, each string with its NUL:
 * "cmek azure-kv slot v2", the binding ("cmek-dek-v1:<uuid>"), the
 * wrapping key's https://host/keys/name/version and sign_key's (both in
 * lower case), then the ciphertext.
 */
#ifndef CMEK_AZURE_KV_H
#define CMEK_AZURE_KV_H

#include "provider.h"

#define CMEK_AZURE_KV_API_VERSION	"7.4"
#define CMEK_AZURE_KV_ALG		"RSA-OAEP-256"
#define CMEK_AZURE_KV_BLOB_V1		1
#define CMEK_AZURE_KV_BLOB_V2		2	/* signed */
#define CMEK_AZURE_KV_BIND_LEN		32	/* SHA-256 of the binding AAD */

extern const struct cmek_provider_ops cmek_azure_kv_ops;

#endif /* CMEK_AZURE_KV_H */
