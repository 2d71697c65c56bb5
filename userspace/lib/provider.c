// SPDX-License-Identifier: GPL-2.0
/*
 * Provider registry and the small helpers every provider shares.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "provider.h"
#include "secmem.h"

const struct cmek_provider_ops *cmek_provider_lookup(const char *name)
{
	for (const struct cmek_provider_ops *const *p = cmek_providers; *p; p++)
		if (!strcmp((*p)->name, name))
			return *p;
	return NULL;
}

struct cmek_provider *cmek_provider_new(const char *name,
					struct cmek_error *err)
{
	const struct cmek_provider_ops *ops = cmek_provider_lookup(name);
	struct cmek_provider *p;

	if (!ops) {
		cmek_error_set(err, CMEK_ERR_INVALID, "unknown provider '%s'",
			       name);
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
		return NULL;
	}
	p->ops = ops;
	if (ops->init && ops->init(p, err) < 0) {
		free(p);
		return NULL;
	}
	return p;
}

void cmek_provider_free(struct cmek_provider *p)
{
	if (!p)
		return;
	if (p->ops->destroy)
		p->ops->destroy(p);
	free(p);
}

size_t cmek_binding_aad(const struct cmek_binding *b, char *buf, size_t len)
{
	int n = snprintf(buf, len, "cmek-dek-v1:%s", b->volume_uuid);

	return n < 0 ? 0 : (size_t)n;
}

void cmek_error_throttled(struct cmek_error *err, long retry_after_ms)
{
	if (!err)
		return;
	err->throttled = true;
	err->retry_after_ms = retry_after_ms > 0 ? retry_after_ms : 0;
}

int cmek_error_credential(struct cmek_error *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	err->cls = CMEK_ERR_TRANSIENT;
	err->credential = true;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int cmek_error_set(struct cmek_error *err, enum cmek_err_class cls,
		   const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	err->cls = cls;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int cmek_generate_by_wrap(struct cmek_provider *p, const char *key_ref,
			  const struct cmek_binding *b, uint8_t *dek,
			  size_t dek_len, uint8_t **wrapped,
			  size_t *wrapped_len, struct cmek_error *err)
{
	if (RAND_priv_bytes(dek, (int)dek_len) != 1)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT, "RNG failure");
	if (p->ops->wrap(p, key_ref, b, dek, dek_len, wrapped, wrapped_len,
			 err)) {
		/* No half-made key is left for a caller to use by mistake. */
		OPENSSL_cleanse(dek, dek_len);
		return -1;
	}
	return 0;
}

int cmek_rewrap_by_unwrap(struct cmek_provider *p, const char *key_ref,
			  const char *new_key_ref,
			  const struct cmek_binding *b, const uint8_t *wrapped,
			  size_t wrapped_len, uint8_t **new_wrapped,
			  size_t *new_wrapped_len, struct cmek_error *err)
{
	uint8_t *dek = cmek_secmem_alloc(CMEK_DEK_MAX);
	size_t n = 0;
	int ret;

	if (!dek)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
	ret = p->ops->unwrap(p, key_ref, b, wrapped, wrapped_len, dek, &n, err);
	if (!ret)
		ret = p->ops->wrap(p, new_key_ref, b, dek, n, new_wrapped,
				   new_wrapped_len, err);
	cmek_secmem_free(dek);
	return ret;
}

const char *cmek_kms_key_state_name(enum cmek_kms_key_state s)
{
	switch (s) {
	case CMEK_KMS_ENABLED:
		return "enabled";
	case CMEK_KMS_DISABLED:
		return "disabled";
	case CMEK_KMS_PENDING_DELETION:
		return "pending-deletion";
	case CMEK_KMS_DELETED:
		return "deleted";
	case CMEK_KMS_ACCESS_DENIED:
		return "access-denied";
	case CMEK_KMS_UNKNOWN:
		break;
	}
	return "unknown";
}

void cmek_slot_key(const char *provider, const char *key_ref,
		   const uint8_t *wrapped, size_t wrapped_len, char *id,
		   size_t id_len)
{
	const struct cmek_provider_ops *ops = cmek_provider_lookup(provider);

	if (!id_len)
		return;
	id[0] = '\0';
	if (!ops || !ops->slot_key || !ops->slot_state || !wrapped)
		return;
	if (ops->slot_key(key_ref, wrapped, wrapped_len, id, id_len))
		id[0] = '\0';
}

uint8_t *cmek_slot_prefix(const char *name, const uint8_t *ct, size_t ct_len,
			  size_t *out_len)
{
	size_t n = strlen(name), hl = CMEK_SLOT_MAGIC_LEN + 3;
	uint8_t *b;

	if (n > 0xffff || ct_len > SIZE_MAX - hl - n)
		return NULL;
	b = malloc(hl + n + ct_len);
	if (!b)
		return NULL;
	memcpy(b, CMEK_SLOT_MAGIC, CMEK_SLOT_MAGIC_LEN);
	b[4] = CMEK_SLOT_PREFIX_V1;
	b[5] = (uint8_t)(n >> 8);
	b[6] = (uint8_t)n;
	memcpy(b + hl, name, n);
	memcpy(b + hl + n, ct, ct_len);
	*out_len = hl + n + ct_len;
	return b;
}

int cmek_slot_unprefix(const uint8_t *wrapped, size_t wrapped_len,
		       char *name, size_t name_len, const uint8_t **ct,
		       size_t *ct_len)
{
	size_t hl = CMEK_SLOT_MAGIC_LEN + 3, n, i;

	if (wrapped_len < CMEK_SLOT_MAGIC_LEN ||
	    memcmp(wrapped, CMEK_SLOT_MAGIC, CMEK_SLOT_MAGIC_LEN)) {
		*ct = wrapped;
		*ct_len = wrapped_len;
		if (name_len)
			name[0] = '\0';
		return 0;
	}
	if (wrapped_len < hl || wrapped[4] != CMEK_SLOT_PREFIX_V1)
		return -1;
	n = (size_t)wrapped[5] << 8 | wrapped[6];
	/* A prefix with nothing after it names an object and holds no key. */
	if (!n || n >= name_len || wrapped_len - hl <= n)
		return -1;
	for (i = 0; i < n; i++)
		if (wrapped[hl + i] < 0x21 || wrapped[hl + i] > 0x7e)
			return -1;
	memcpy(name, wrapped + hl, n);
	name[n] = '\0';
	*ct = wrapped + hl + n;
	*ct_len = wrapped_len - hl - n;
	return 1;
}
