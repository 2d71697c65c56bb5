// SPDX-License-Identifier: GPL-2.0
/* systemd unit name escaping (unitname.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "unitname.h"

static bool plain(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == ':' || c == '_' || c == '.';
}

int cmek_unit_escape(const char *s, char *out, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	const char *c;

	for (c = s; *c; c++) {
		unsigned char b = (unsigned char)*c;

		if (*c == '/') {
			if (o + 1 >= len)
				return -ENAMETOOLONG;
			out[o++] = '-';
		} else if (plain(*c) && !(c == s && *c == '.')) {
			if (o + 1 >= len)
				return -ENAMETOOLONG;
			out[o++] = *c;
		} else {
			if (o + 4 >= len)
				return -ENAMETOOLONG;
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[b >> 4];
			out[o++] = hex[b & 15];
		}
	}
	if (o >= len)
		return -ENAMETOOLONG;
	out[o] = '\0';
	return 0;
}

int cmek_unit_from_path(const char *path, const char *suffix, char *out,
			size_t len)
{
	char simple[4096], esc[4 * sizeof(simple)];
	const char *c = path, *seg;
	size_t o = 0, n;
	int ret;

	if (!path || path[0] != '/')
		return -EINVAL;
	/* path_simplify(): components joined by one '/', no leading one,
	 * no "." (systemd drops them too). */
	while (*c) {
		while (*c == '/')
			c++;
		if (!*c)
			break;
		seg = c;
		while (*c && *c != '/')
			c++;
		n = (size_t)(c - seg);
		if (n == 1 && seg[0] == '.')
			continue;
		if (n == 2 && seg[0] == '.' && seg[1] == '.')
			return -EINVAL;
		if (o + n + 2 > sizeof(simple))
			return -ENAMETOOLONG;
		if (o)
			simple[o++] = '/';
		memcpy(simple + o, seg, n);
		o += n;
	}
	simple[o] = '\0';
	if (!o) {
		snprintf(esc, sizeof(esc), "-");
	} else {
		ret = cmek_unit_escape(simple, esc, sizeof(esc));
		if (ret)
			return ret;
	}
	if (strlen(esc) + strlen(suffix) >= CMEK_UNIT_NAME_MAX ||
	    (size_t)snprintf(out, len, "%s%s", esc, suffix) >= len)
		return -ENAMETOOLONG;
	return 0;
}
