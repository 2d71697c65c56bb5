/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Text an attacker may choose (a volume header's provider and key
 * reference, a mount point, a KMS's message) made safe for a log line or
 * a terminal: such bytes become \ooo escapes (mountinfo's style), so no
 * newline forges a log line, no ESC sequence reaches a terminal, no quote
 * closes a quoted field and no invalid UTF-8 reaches a JSON or syslog
 * reader.
 */
#ifndef CMEK_ESCAPE_H
#define CMEK_ESCAPE_H

#include <stddef.h>

enum {
	/* Also '"' and '\\': the text goes between quotes (field="%s"). */
	CMEK_ESC_QUOTE	= 1 << 0,
	/* Also ' ': the text is an unquoted value (key=%s) in a log line. */
	CMEK_ESC_SPACE	= 1 << 1,
	/* Leave '\n' alone: a whole message of ours, lines and all. */
	CMEK_ESC_KEEP_NL = 1 << 2,
};

/*
 * Copy @in to @out (@len bytes, NUL included) with control characters,
 * DEL and every byte outside ASCII escaped, plus what @flags asks for. The
 * copy is cut at an escape boundary when @out is short. Returns @out.
 */
char *cmek_escape(const char *in, char *out, size_t len, unsigned int flags);

/* cmek_escape(..., CMEK_ESC_QUOTE): a field value printed for people. */
static inline char *cmek_printable(const char *in, char *out, size_t len)
{
	return cmek_escape(in, out, len, CMEK_ESC_QUOTE);
}

/* Room for @n input bytes escaped, NUL included. */
#define CMEK_ESC_SIZE(n)	(4 * (n) + 1)

#endif /* CMEK_ESCAPE_H */
