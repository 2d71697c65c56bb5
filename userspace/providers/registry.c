// SPDX-License-Identifier: GPL-2.0
/*
 * The built-in providers. A new provider adds its ops here.
 */
#include <stddef.h>

#include "provider.h"

extern const struct cmek_provider_ops cmek_local_ops;

const struct cmek_provider_ops *const cmek_providers[] = {
	&cmek_local_ops,
	NULL,
};
