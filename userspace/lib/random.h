/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Random bytes for keys and identifiers: the one way cmek's userspace
 * gets them (OpenSSL's private generator, seeded from getrandom()).
 */
#ifndef CMEK_RANDOM_H
#define CMEK_RANDOM_H

#include <stddef.h>

#include "provider.h"

/*
 * Fill @buf with @len random bytes: 0, or -1 with @err set "RNG failure",
 * class CMEK_ERR_TRANSIENT (the generator may work on a later try; the
 * request was not at fault).
 */
int cmek_random_bytes(void *buf, size_t len, struct cmek_error *err);

#endif /* CMEK_RANDOM_H */
