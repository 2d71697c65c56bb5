// SPDX-License-Identifier: GPL-2.0
/*
 * Print the providers' settings reference (RST) from their declared
 * tables: `make provider-settings-doc` writes it to
 * Documentation/admin-guide/cmek-provider-settings.rst, and
 * tests/unit/test_settings.c checks that the committed file matches.
 */
#include <stdio.h>

#include "provider.h"

int main(void)
{
	cmek_settings_rst(stdout);
	return fflush(stdout) ? 1 : 0;
}
