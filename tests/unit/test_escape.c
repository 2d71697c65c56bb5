// SPDX-License-Identifier: GPL-2.0
/*
 * Host unit tests of the escaping of attacker-chosen text
 * (userspace/lib/escape.c): what reaches a log line or a terminal.
 */
#include <string.h>

#include "escape.h"
#include "../lib/tap.h"

int main(void)
{
	char out[256];

	tap_plan(6);
	cmek_escape("k\n\033[2J\"\\ \xff\x7f", out, sizeof(out), 0);
	tap_ok(!strcmp(out, "k\\012\\033[2J\"\\ \\377\\177"),
	       "control bytes, DEL and non-ASCII escaped, the rest kept: %s",
	       out);
	cmek_printable("a \"b\"\\", out, sizeof(out));
	tap_ok(!strcmp(out, "a \\042b\\042\\134"),
	       "for a quoted field also quotes and backslash: %s", out);
	cmek_escape("k1 result=ok", out, sizeof(out),
		    CMEK_ESC_QUOTE | CMEK_ESC_SPACE);
	tap_ok(!strcmp(out, "k1\\040result=ok"),
	       "for an unquoted key=value a space cannot start a field: %s",
	       out);
	cmek_escape("one\ntwo\033", out, sizeof(out), CMEK_ESC_KEEP_NL);
	tap_ok(!strcmp(out, "one\ntwo\\033"),
	       "a message of ours keeps its lines, not an ESC");
	cmek_escape("abcdef\n", out, 9, 0);
	tap_ok(!strcmp(out, "abcdef"), "an escape that does not fit is left "
	       "out whole");
	tap_ok(!strcmp(cmek_escape("", out, sizeof(out), 0), ""),
	       "empty in, empty out");
	return tap_done();
}
