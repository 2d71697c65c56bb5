// SPDX-License-Identifier: GPL-2.0
/* A file parser's complaints (diag.h). */
#include <stdarg.h>
#include <stdio.h>

#include "diag.h"

void cmek_diag(struct cmek_diag *g, const char *fmt, ...)
{
	char msg[1024], full[1400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (g->line)
		snprintf(full, sizeof(full), "%s:%d: %s", g->path, g->line,
			 msg);
	else
		snprintf(full, sizeof(full), "%s: %s", g->path, msg);
	g->errors++;
	if (g->report)
		g->report(g->ctx, full);
}
