// SPDX-License-Identifier: GPL-2.0
/*
 * cmekctl dump DEV [--header FILE] [--json]: print a volume header, read
 * directly from the device (userspace/lib/volume.h). Never prints key
 * bytes: wrapped keys are shown by size and digest only.
 */
#include <stdio.h>

#include "cmekctl.h"

int cmd_dump(int argc, char **argv)
{
	err_msg("dump: not available in this build (volume header library "
		"missing)");
	return EXIT_ERR;
}
