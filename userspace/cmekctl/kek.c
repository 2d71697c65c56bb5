// SPDX-License-Identifier: GPL-2.0
/*
 * cmekctl kek create NAME | kek list [--json]: the local provider's
 * key-encryption keys under /etc/cmek/keys.
 */
#include <stdio.h>

#include "cmekctl.h"

int cmd_kek(int argc, char **argv)
{
	err_msg("kek: not available in this build (local provider missing)");
	return EXIT_ERR;
}
