// SPDX-License-Identifier: GPL-2.0
/* Is a directory waiting for a mount? (mountwait.h) */
#include <mntent.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "mountwait.h"

/* Is @dir @mp or below it? ("/var" holds "/var/lib", not "/variant".) */
static bool under(const char *dir, const char *mp)
{
	size_t n = strlen(mp);

	while (n > 1 && mp[n - 1] == '/')
		n--;
	return !strncmp(dir, mp, n) && (dir[n] == '/' || dir[n] == '\0');
}

static bool mounted(const char *mounts, const char *mp)
{
	FILE *f = setmntent(mounts, "re");
	struct mntent *m;
	bool found = false;

	if (!f)
		return true;	/* cannot tell: do not hold anything back */
	while (!found && (m = getmntent(f)))
		found = !strcmp(m->mnt_dir, mp);
	endmntent(f);
	return found;
}

void cmek_mount_pending(const char *dir, const char *fstab,
			const char *mounts, char *out, size_t len)
{
	FILE *f = setmntent(fstab, "re");
	struct mntent *m;

	out[0] = '\0';
	while (f && (m = getmntent(f))) {
		/* swap and "none" lines have no directory to wait for. */
		if (m->mnt_dir[0] != '/' || !strcmp(m->mnt_dir, "/") ||
		    !under(dir, m->mnt_dir) ||
		    strlen(m->mnt_dir) <= strlen(out))
			continue;
		snprintf(out, len, "%s", m->mnt_dir);
	}
	/* As the kernel lists it: "/var/lib/" in fstab is "/var/lib". */
	for (size_t n = strlen(out); n > 1 && out[n - 1] == '/'; n--)
		out[n - 1] = '\0';
	if (f)
		endmntent(f);
	if (out[0] && mounted(mounts, out))
		out[0] = '\0';
}
