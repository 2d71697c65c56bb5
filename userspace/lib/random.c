// SPDX-License-Identifier: GPL-2.0
/*
 * Random bytes (random.h). A leaf: it fills @err itself, so that
 * provider.c can call it without the two calling each other.
 */
#include <limits.h>
#include <stdio.h>
#include <openssl/rand.h>

#include "random.h"

int cmek_random_bytes(void *buf, size_t len, struct cmek_error *err)
{
	if (len <= INT_MAX && RAND_priv_bytes(buf, (int)len) == 1)
		return 0;
	if (err) {
		err->cls = CMEK_ERR_TRANSIENT;
		snprintf(err->msg, sizeof(err->msg), "RNG failure");
	}
	return -1;
}
