// SPDX-License-Identifier: GPL-2.0
/*
 * Escaping attacker-chosen text for logs and terminals (escape.h).
 */
#include <stdbool.h>
#include <stdio.h>

#include "escape.h"

static bool needs_escape(unsigned char c, unsigned int flags)
{
	if (c == '\n' && (flags & CMEK_ESC_KEEP_NL))
		return false;
	if (c < 0x20 || c >= 0x7f)
		return true;
	if ((flags & CMEK_ESC_QUOTE) && (c == '"' || c == '\\'))
		return true;
	return (flags & CMEK_ESC_SPACE) && c == ' ';
}

char *cmek_escape(const char *in, char *out, size_t len, unsigned int flags)
{
	size_t n = 0;

	if (!len)
		return out;
	for (; *in; in++) {
		unsigned char c = (unsigned char)*in;

		if (!needs_escape(c, flags)) {
			if (n + 1 >= len)
				break;
			out[n++] = (char)c;
		} else {
			if (n + 4 >= len)
				break;
			n += (size_t)snprintf(out + n, len - n, "\\%03o", c);
		}
	}
	out[n] = '\0';
	return out;
}
