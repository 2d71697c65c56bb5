/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Key providers: the one interface between cmekd/cmekctl and a KMS.
 *
 * A provider wraps and unwraps a volume's data encryption key (DEK) with a
 * customer key held in a KMS (or, for "local", a key-encryption key file).
 * Every wrap is bound to the volume (struct cmek_binding) so that a wrapped
 * DEK copied into another volume's header does not unwrap there.
 *
 * Plaintext DEKs are only ever written into caller-provided buffers, which the
 * caller allocates from locked memory (secmem.h) and wipes after use.
 * Providers wipe any intermediate copy (OpenSSL_cleanse / explicit_bzero),
 * including decoded HTTP response bodies that held a plaintext.
 */
#ifndef CMEK_PROVIDER_H
#define CMEK_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "uuid.h"

#define CMEK_DEK_MAX		64
#define CMEK_ERRMSG_MAX		512

/*
 * How a failure must be treated. The lock logic in cmekd depends on this
 * classification, so every provider documents its mapping from KMS error
 * codes and HTTP statuses in Documentation/admin-guide/cmek-providers.rst.
 *
 * Someone on the network path who cannot break TLS can still refuse to
 * carry an answer, inject a TLS alert, present a certificate of his own or
 * put a page of his own (a proxy's, a WAF's) in place of the KMS's. None of
 * that may stop a volume from locking once its KMS has been silent for
 * unreachable_grace, so the rule is: DEFINITIVE needs the KMS's own,
 * well-formed answer; INVALID is found before any network I/O (or is the
 * KMS's own well-formed refusal of this request, such as a ciphertext that
 * does not authenticate); everything else is TRANSIENT.
 */
enum cmek_err_class {
	CMEK_ERR_NONE = 0,
	/* The KMS's own answer: key disabled, revoked, pending deletion,
	 * deleted or access to it denied. The volume must lock. */
	CMEK_ERR_DEFINITIVE,
	/* No answer that counts: network error, timeout, 5xx, throttling,
	 * a certificate that does not verify, a TLS alert, an answer that is
	 * not the KMS's (malformed, a proxy's page), cmekd's own credential
	 * refused (cmek_error.credential). Retried; counts toward
	 * unreachable_grace and never resets it. */
	CMEK_ERR_TRANSIENT,
	/* Bad configuration, bad key reference, missing credentials file
	 * (all found before any network I/O), or the KMS's own refusal of a
	 * wrapped key that fails to authenticate (wrong volume, corrupted):
	 * neither locks nor retries. */
	CMEK_ERR_INVALID,
};

struct cmek_error {
	enum cmek_err_class cls;
	/*
	 * A transient error that is the KMS asking us to slow down (HTTP
	 * 429, AWS ThrottlingException, GCP RESOURCE_EXHAUSTED): the watch
	 * backs off. retry_after_ms is the KMS's Retry-After, 0 if none.
	 * Only ever set, never cleared, by providers: a caller that reads
	 * them starts from a zeroed struct cmek_error.
	 */
	bool throttled;
	long retry_after_ms;
	/*
	 * A transient error that is the KMS (or its identity provider)
	 * refusing cmekd's own credential: an expired or revoked token, a
	 * wrong secret, a signature it rejects. Not a key revocation: cmekd
	 * alarms and audits it, and it counts toward unreachable_grace like
	 * any other failure to get an answer. Set with cmek_error_credential().
	 */
	bool credential;
	char msg[CMEK_ERRMSG_MAX];	/* never contains secrets */
};

/* State of a customer key as the KMS reports it. */
enum cmek_kms_key_state {
	CMEK_KMS_ENABLED,
	CMEK_KMS_DISABLED,
	CMEK_KMS_PENDING_DELETION,
	CMEK_KMS_DELETED,
	CMEK_KMS_ACCESS_DENIED,
	CMEK_KMS_UNKNOWN,	/* could not be determined (transient) */
};

/*
 * Binds a wrapped DEK to one volume. Providers that take a byte string
 * (AAD) use cmek_binding_aad(); those that take a string map (AWS
 * EncryptionContext) use {"cmek:volume": volume_uuid}.
 */
struct cmek_binding {
	char volume_uuid[CMEK_UUID_STR_LEN];		/* RFC 4122 string, lower case */
};

struct cmek_provider;

/*
 * A provider's settings, declared once: the table checks a setting's name
 * before the provider parses its value, says which are secrets (for the
 * config file's rules), gives the "known:" list of an unknown-setting
 * error and is the source of Documentation/admin-guide/
 * cmek-provider-settings.rst (make provider-settings-doc).
 */
enum cmek_setting_type {
	CMEK_SETTING_STRING,
	CMEK_SETTING_PATH,		/* absolute file name */
	CMEK_SETTING_URL,
	CMEK_SETTING_NUMBER,
	CMEK_SETTING_DURATION,		/* "10", "10s", "250ms", "2m" */
	CMEK_SETTING_BOOL,		/* yes/no */
	CMEK_SETTING_LIST,		/* comma-separated */
};

#define CMEK_SETTING_SECRET		0x1	/* the value itself */
#define CMEK_SETTING_SECRET_FILE	0x2	/* a credentials file */

struct cmek_setting {
	const char *name;
	enum cmek_setting_type type;
	unsigned int flags;
	const char *def;		/* NULL: none, or computed */
	const char *help;		/* one sentence */
};

struct cmek_provider_ops {
	const char *name;		/* "local", "aws-kms", ... */

	/* Allocate p->priv; called once before any configure(). */
	int (*init)(struct cmek_provider *p, struct cmek_error *err);
	/* Its settings, ended by a NULL name; every one goes to configure(). */
	const struct cmek_setting *settings;
	/* One "key = value" line of the provider's cmekd.conf section. */
	int (*configure)(struct cmek_provider *p, const char *key,
			 const char *value, struct cmek_error *err);

	/*
	 * Make a fresh DEK of dek_len bytes in @dek and wrap it under
	 * @key_ref. *wrapped is malloc()ed and owned by the caller. Providers
	 * whose KMS generates keys (AWS GenerateDataKey, transit datakey) let
	 * it do so; the rest use cmek_generate_by_wrap().
	 */
	int (*generate)(struct cmek_provider *p, const char *key_ref,
			const struct cmek_binding *b, uint8_t *dek,
			size_t dek_len, uint8_t **wrapped, size_t *wrapped_len,
			struct cmek_error *err);
	int (*wrap)(struct cmek_provider *p, const char *key_ref,
		    const struct cmek_binding *b, const uint8_t *dek,
		    size_t dek_len, uint8_t **wrapped, size_t *wrapped_len,
		    struct cmek_error *err);
	/* @dek has room for CMEK_DEK_MAX bytes. */
	int (*unwrap)(struct cmek_provider *p, const char *key_ref,
		      const struct cmek_binding *b, const uint8_t *wrapped,
		      size_t wrapped_len, uint8_t *dek, size_t *dek_len,
		      struct cmek_error *err);
	/*
	 * Re-encrypt under @new_key_ref (which may equal @key_ref: then under
	 * the key's current version) without exposing the plaintext where
	 * the KMS allows it; where it does not, cmek_rewrap_by_unwrap().
	 * May be NULL: callers then unwrap() and wrap().
	 */
	int (*rewrap)(struct cmek_provider *p, const char *key_ref,
		      const char *new_key_ref, const struct cmek_binding *b,
		      const uint8_t *wrapped, size_t wrapped_len,
		      uint8_t **new_wrapped, size_t *new_wrapped_len,
		      struct cmek_error *err);
	int (*key_state)(struct cmek_provider *p, const char *key_ref,
			 enum cmek_kms_key_state *state,
			 struct cmek_error *err);
	/*
	 * The customer revokes a wrapped key by disabling or destroying the
	 * one KMS object that can decrypt it: a key behind an alias, a key
	 * version. key_ref may name something else by now (the alias moved,
	 * the primary or current version changed), so the watch asks about
	 * that object, which the slot's wrapped bytes name.
	 *
	 * slot_key(): no I/O, no configuration. Writes the exact object a
	 * slot wrapped under @key_ref needs to @id (self-contained: it alone
	 * names the object within the provider), "" when the blob does not
	 * say (a format from before it did: key_state(key_ref) is then the
	 * best there is, and a rewrap upgrades the blob). -1 only when @id
	 * is too small or the blob is malformed.
	 * slot_state(): that object's state, with key_state()'s error rules.
	 * Both NULL where key_ref already is the exact object (kmip, local).
	 */
	int (*slot_key)(const char *key_ref, const uint8_t *wrapped,
			size_t wrapped_len, char *id, size_t id_len);
	int (*slot_state)(struct cmek_provider *p, const char *id,
			  enum cmek_kms_key_state *state,
			  struct cmek_error *err);
	void (*destroy)(struct cmek_provider *p);
	/*
	 * unwrap() names the key slot_key() reads from the blob, not
	 * key_ref (aws-kms: the key ARN an alias pointed to): cmekd checks
	 * that key against allow_keys and keys= as well as key_ref.
	 */
	bool unwrap_by_slot_key;
};

struct cmek_provider {
	const struct cmek_provider_ops *ops;
	void *priv;
};

/* The registry of built-in providers (providers/registry.c). */
const struct cmek_provider_ops *cmek_provider_lookup(const char *name);
/* NULL-terminated list, for "cmekctl providers" and error messages. */
extern const struct cmek_provider_ops *const cmek_providers[];

/* Allocate and init() a provider by name; NULL with err set on failure. */
struct cmek_provider *cmek_provider_new(const char *name,
					struct cmek_error *err);
void cmek_provider_free(struct cmek_provider *p);

/* "cmek-dek-v1:<uuid>": the AAD every byte-string provider binds to. */
size_t cmek_binding_aad(const struct cmek_binding *b, char *buf, size_t len);

/* Mark @err, already set, as a throttling answer. */
void cmek_error_throttled(struct cmek_error *err, long retry_after_ms);
/* Set @err as cmekd's own credential refused (transient); returns -1. */
int cmek_error_credential(struct cmek_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Fill err and return -1; for providers' one-line error paths. */
int cmek_error_set(struct cmek_error *err, enum cmek_err_class cls,
		   const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * generate() for a provider whose KMS only wraps: @dek_len fresh bytes from
 * RAND_priv_bytes(), then p->ops->wrap(); @dek is wiped if the wrap fails.
 * The caller has checked @dek_len, with its own words for a bad one.
 */
int cmek_generate_by_wrap(struct cmek_provider *p, const char *key_ref,
			  const struct cmek_binding *b, uint8_t *dek,
			  size_t dek_len, uint8_t **wrapped,
			  size_t *wrapped_len, struct cmek_error *err);

/*
 * rewrap() where the KMS cannot re-encrypt itself (another key, another
 * region): p->ops->unwrap() into locked memory, p->ops->wrap() under
 * @new_key_ref, and the DEK wiped.
 */
int cmek_rewrap_by_unwrap(struct cmek_provider *p, const char *key_ref,
			  const char *new_key_ref,
			  const struct cmek_binding *b, const uint8_t *wrapped,
			  size_t wrapped_len, uint8_t **new_wrapped,
			  size_t *new_wrapped_len, struct cmek_error *err);

const char *cmek_kms_key_state_name(enum cmek_kms_key_state s);

/*
 * slot_key() by provider name: "" for a provider that has none, an unknown
 * provider, or a blob that does not name its object.
 */
void cmek_slot_key(const char *provider, const char *key_ref,
		   const uint8_t *wrapped, size_t wrapped_len, char *id,
		   size_t id_len);

/*
 * The self-describing prefix that aws-kms and gcp-kms put in front of the
 * KMS's opaque ciphertext: CMEK_SLOT_MAGIC (4 bytes), a version byte (1),
 * a big-endian 16-bit length L, L bytes of object name (printable ASCII),
 * then the KMS ciphertext. Neither KMS's ciphertext starts with 0xC3.
 */
#define CMEK_SLOT_MAGIC		"\xc3" "CMK"
#define CMEK_SLOT_MAGIC_LEN	4
#define CMEK_SLOT_PREFIX_V1	1
/* The prefixed blob, malloc()ed; NULL when out of memory. */
uint8_t *cmek_slot_prefix(const char *name, const uint8_t *ct, size_t ct_len,
			  size_t *out_len);
/*
 * 1 with @name (NUL-terminated, at most @name_len - 1) and the KMS
 * ciphertext inside @wrapped; 0 for a blob without the prefix (taken
 * whole as the ciphertext); -1 for a prefix that does not parse.
 */
int cmek_slot_unprefix(const uint8_t *wrapped, size_t wrapped_len,
		       char *name, size_t name_len, const uint8_t **ct,
		       size_t *ct_len);

/* @name in a settings table, or NULL. */
const struct cmek_setting *cmek_setting_find(const struct cmek_setting *tbl,
					     const char *name);
/*
 * 0 if @key is in @tbl, the settings of @provider, else -1 with an INVALID
 * "unknown PROVIDER setting 'KEY' (known: ...)" error.
 */
int cmek_setting_check(const char *provider, const struct cmek_setting *tbl,
		       const char *key, struct cmek_error *err);
/* A declared setting that configure() does not parse: a bug, said as one. */
int cmek_setting_unhandled(const char *provider, const char *key,
			   struct cmek_error *err);
/* The settings reference (RST) of every built-in provider. */
void cmek_settings_rst(FILE *f);

#endif /* CMEK_PROVIDER_H */
