/* SPDX-License-Identifier: GPL-2.0 */
/*
 * systemd unit names, escaped as systemd-escape(1) and systemd's own
 * unit_name_escape() / unit_name_from_path() do, so that what
 * cmek-generator writes names the very units systemd makes for a device
 * or mount (dev-disk-by\x2dcmek\x2duuid-<uuid>.device, dev-mapper-<name>.device).
 */
#ifndef CMEK_UNITNAME_H
#define CMEK_UNITNAME_H

#include <stddef.h>

/* systemd's UNIT_NAME_MAX: longer names are not valid units. */
#define CMEK_UNIT_NAME_MAX	256

/*
 * Escape @s as one unit name component: '/' becomes '-', bytes other than
 * ASCII letters, digits, ':', '_' and '.' (and a leading '.') become
 * "\xNN". 0, or -ENAMETOOLONG when the result and its NUL do not fit @len.
 */
int cmek_unit_escape(const char *s, char *out, size_t len);
/*
 * The unit name of path @path with @suffix (".device", ".service"...):
 * repeated and trailing slashes and "." components dropped, the leading
 * slash too, "/" alone is "-". -EINVAL for a relative path or one with a
 * ".." component (systemd refuses those too), -ENAMETOOLONG past
 * CMEK_UNIT_NAME_MAX.
 */
int cmek_unit_from_path(const char *path, const char *suffix, char *out,
			size_t len);

#endif /* CMEK_UNITNAME_H */
