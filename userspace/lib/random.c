// SPDX-License-Identifier: GPL-2.0
/* Random bytes (random.h). */
#include <limits.h>
#include <openssl/rand.h>

#include "random.h"

int cmek_random_bytes(void *buf, size_t len, struct cmek_error *err)
{
	if (len > INT_MAX || RAND_priv_bytes(buf, (int)len) != 1)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT, "RNG failure");
	return 0;
}
