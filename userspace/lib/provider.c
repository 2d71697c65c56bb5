// SPDX-License-Identifier: GPL-2.0
/*
 * Provider registry and the small helpers every provider shares.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider.h"

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
