// SPDX-License-Identifier: GPL-2.0
/*
 * Mounted file systems on a revoked cmek mapping: find, shut down, drop
 * caches, name the mmap holders (fs_shutdown.h).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

/*
 * The kernel's uapi defines the shutdown ioctl only in f2fs.h; ext4
 * (EXT4_IOC_SHUTDOWN, EXT4_GOING_FLAGS_NOLOGFLUSH) and xfs
 * (XFS_IOC_GOINGDOWN, XFS_FSOP_GOING_FLAGS_NOLOGFLUSH) use the same
 * number, _IOR('X', 125, __u32), and the same flag value.
 */
#include <linux/f2fs.h>

#include "fs_shutdown.h"

#define FS_IOC_GOINGDOWN	F2FS_IOC_SHUTDOWN
#define FS_GOING_NOLOGFLUSH	F2FS_GOING_DOWN_NOSYNC
_Static_assert(F2FS_GOING_DOWN_NOSYNC == 2,
	       "ext4/xfs NOLOGFLUSH and f2fs NOSYNC are all 2");

/*
 * A mountinfo line holds a mount point and a root of up to PATH_MAX bytes
 * each, four times as long escaped, and the options: longer lines are
 * skipped (a mount only they describe is not found).
 */
#define MOUNTINFO_LINE_MAX	(64 * 1024)
/* A maps line is parsed from its head only: the path may be cut. */
#define MAPS_LINE_MAX		512
/* Mount namespaces remembered while looking through other processes. */
#define NS_SEEN_MAX		256
/* Killed holders whose exit is waited for (1 s at most) before the drop. */
#define KILL_WAIT_MAX		64

/*
 * Read one line of @f into @buf (at most @size - 1 bytes; the rest of a
 * longer line is consumed and *@cut set). The kernel writes no NUL byte:
 * one becomes 0x01 and marks the line *@cut too. 0 at end of file.
 */
static int read_line(FILE *f, char *buf, size_t size, bool *cut)
{
	size_t n = 0;
	int c, got = 0;

	*cut = false;
	while ((c = getc(f)) != EOF) {
		got = 1;
		if (c == '\n')
			break;
		if (!c)
			*cut = true;
		if (n + 1 < size)
			buf[n++] = c ? (char)c : '\x01';
		else
			*cut = true;
	}
	buf[n] = '\0';
	return got;
}

/* Digits of @base at *@s, at most @max; *@s moves past them. */
static int parse_num(const char **s, int base, unsigned long max,
		     unsigned long *v)
{
	const char *p = *s;
	unsigned long x = 0;
	int d;

	for (; *p; p++) {
		if (isdigit((unsigned char)*p))
			d = *p - '0';
		else if (base == 16 && isxdigit((unsigned char)*p))
			d = tolower((unsigned char)*p) - 'a' + 10;
		else
			break;
		if (x > (max - (unsigned long)d) / (unsigned long)base)
			return -EINVAL;
		x = x * (unsigned long)base + (unsigned long)d;
	}
	if (p == *s)
		return -EINVAL;
	*s = p;
	*v = x;
	return 0;
}

/* "MAJ:MIN" in @base, nothing after it. */
static int parse_devno(const char *s, int base, unsigned int *major,
		       unsigned int *minor)
{
	unsigned long ma, mi;

	if (parse_num(&s, base, 0xfffff, &ma) || *s++ != ':' ||
	    parse_num(&s, base, 0xfffff, &mi) || *s)
		return -EINVAL;
	*major = (unsigned int)ma;
	*minor = (unsigned int)mi;
	return 0;
}

/* The next space-separated field of *@s, cut in place; NULL at the end. */
static char *next_field(char **s)
{
	char *p = *s, *start;

	while (*p == ' ')
		p++;
	if (!*p)
		return NULL;
	start = p;
	while (*p && *p != ' ')
		p++;
	if (*p)
		*p++ = '\0';
	*s = p;
	return start;
}

static bool is_oct(char c)
{
	return c >= '0' && c <= '7';
}

/* Undo the kernel's \ooo escapes (space, tab, newline, backslash) in place. */
static int unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && is_oct(s[1]) && is_oct(s[2]) &&
		    is_oct(s[3])) {
			int v = (s[1] - '0') * 64 + (s[2] - '0') * 8 +
				(s[3] - '0');

			if (v == 0 || v > 0xff)
				return -EINVAL;
			*w++ = (char)v;
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
	return 0;
}

int cmek_mountinfo_parse(char *line, struct cmek_mountinfo *m)
{
	char *s = line, *f[5], *fstype, *source, *opt;
	int i;

	memset(m, 0, sizeof(*m));
	/* id, parent, major:minor, root, mount point */
	for (i = 0; i < 5; i++)
		if (!(f[i] = next_field(&s)))
			return -EINVAL;
	if (parse_devno(f[2], 10, &m->major, &m->minor))
		return -EINVAL;
	/* mount options, then optional fields up to "-" */
	if (!next_field(&s))
		return -EINVAL;
	do {
		opt = next_field(&s);
		if (!opt)
			return -EINVAL;
	} while (strcmp(opt, "-"));
	fstype = next_field(&s);
	source = next_field(&s);
	if (!fstype || !source)
		return -EINVAL;
	if (unescape(f[3]) || unescape(f[4]) || unescape(fstype) ||
	    unescape(source) || f[4][0] != '/')
		return -EINVAL;
	m->root = f[3];
	m->mount_point = f[4];
	m->fstype = fstype;
	m->source = source;
	return 0;
}

static bool source_is(const char *source, unsigned int major,
		      unsigned int minor)
{
	struct stat st;

	/* Only /dev: a stat elsewhere could hang on a network file system. */
	return !strncmp(source, "/dev/", 5) && !stat(source, &st) &&
	       S_ISBLK(st.st_mode) && st.st_rdev == makedev(major, minor);
}

int cmek_mountinfo_find(FILE *f, unsigned int major, unsigned int minor,
			bool match_source, struct cmek_mount *out)
{
	struct cmek_mountinfo m;
	char *line = malloc(MOUNTINFO_LINE_MAX);
	int found = 0;
	bool cut;

	if (!line)
		return 0;
	while (read_line(f, line, MOUNTINFO_LINE_MAX, &cut)) {
		if (cut || cmek_mountinfo_parse(line, &m))
			continue;
		if (!(m.major == major && m.minor == minor) &&
		    !(match_source && source_is(m.source, major, minor)))
			continue;
		if (strlen(m.mount_point) >= sizeof(out->mount_point) ||
		    strlen(m.fstype) >= sizeof(out->fstype))
			continue;
		/* A bind mount of a directory will do; the root is better. */
		if (found && strcmp(m.root, "/"))
			continue;
		out->major = m.major;
		out->minor = m.minor;
		strcpy(out->mount_point, m.mount_point);
		strcpy(out->fstype, m.fstype);
		found = 1;
		if (!strcmp(m.root, "/"))
			break;
	}
	free(line);
	return found;
}

int cmek_maps_parse(const char *line, unsigned int *major,
		    unsigned int *minor, unsigned long *ino)
{
	const char *s = line;
	unsigned long v, ma, mi;
	int i;

	/* start-end perms offset */
	if (parse_num(&s, 16, ~0UL, &v) || *s++ != '-' ||
	    parse_num(&s, 16, ~0UL, &v) || *s++ != ' ')
		return -EINVAL;
	for (i = 0; i < 4; i++)
		if (!*s || *s++ == ' ')
			return -EINVAL;
	if (*s++ != ' ' || parse_num(&s, 16, ~0UL, &v) || *s++ != ' ')
		return -EINVAL;
	/* dev (hex major:minor) inode */
	if (parse_num(&s, 16, 0xfffff, &ma) || *s++ != ':' ||
	    parse_num(&s, 16, 0xfffff, &mi) || *s++ != ' ' ||
	    parse_num(&s, 10, ~0UL, &v) || (*s && *s != ' '))
		return -EINVAL;
	*major = (unsigned int)ma;
	*minor = (unsigned int)mi;
	*ino = v;
	return 0;
}

int cmek_maps_uses_dev(FILE *f, unsigned int major, unsigned int minor)
{
	char line[MAPS_LINE_MAX];
	unsigned int ma, mi;
	unsigned long ino;
	bool cut;

	while (read_line(f, line, sizeof(line), &cut))
		if (!cmek_maps_parse(line, &ma, &mi, &ino) && ino &&
		    ma == major && mi == minor)
			return 1;
	return 0;
}

const char *cmek_fs_state_name(enum cmek_fs_state s)
{
	switch (s) {
	case CMEK_FS_NOT_MOUNTED:
		return "not-mounted";
	case CMEK_FS_SHUT_DOWN:
		return "shut-down";
	case CMEK_FS_KEPT:
		return "kept";
	case CMEK_FS_NO_SHUTDOWN:
		return "no-shutdown";
	case CMEK_FS_FAILED:
		return "failed";
	}
	return "?";
}

void cmek_fs_holders_str(const struct cmek_fs_result *res, char *buf,
			 size_t len)
{
	size_t off = 0;
	unsigned int i;

	if (!len)
		return;
	buf[0] = '\0';
	if (!res->nholders) {
		snprintf(buf, len, "-");
		return;
	}
	for (i = 0; i < res->nlisted && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
					i ? "," : "", res->holders[i].name);
	if (res->nholders > res->nlisted && off < len)
		snprintf(buf + off, len - off, ",+%u more",
			 res->nholders - res->nlisted);
}

/* A /proc entry's pid, or 0 when the name is not one. */
static pid_t proc_pid(const char *name)
{
	unsigned long v;
	const char *s = name;

	if (parse_num(&s, 10, 0x3fffffff, &v) || *s || !v)
		return 0;
	return (pid_t)v;
}

/* "comm[pid]" of @pid: comm is the process's own choice, so sanitize. */
static void holder_name(pid_t pid, char *out, size_t len)
{
	char path[64], comm[64] = "";
	ssize_t n = -1;
	int fd, i;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, comm, sizeof(comm) - 1);
		close(fd);
	}
	comm[n > 0 ? n : 0] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
	comm[15] = '\0';
	for (i = 0; comm[i]; i++) {
		unsigned char c = (unsigned char)comm[i];

		if (c < 0x21 || c > 0x7e || strchr("[],\"\\", c))
			comm[i] = '?';
	}
	snprintf(out, len, "%s[%d]", comm[0] ? comm : "?", (int)pid);
}

static bool maps_use(pid_t pid, unsigned int major, unsigned int minor)
{
	char path[64];
	FILE *f;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	r = cmek_maps_uses_dev(f, major, minor);
	fclose(f);
	return r == 1;
}

/* Every process with a file of @major:@minor mapped; kill them if asked. */
static void find_holders(struct cmek_fs_result *res, unsigned int major,
			 unsigned int minor, bool kill_them)
{
	pid_t killed[KILL_WAIT_MAX], self = getpid();
	unsigned int nk = 0, i, tries;
	struct dirent *de;
	DIR *dir = opendir("/proc");

	if (!dir)
		return;
	while ((de = readdir(dir))) {
		pid_t pid = proc_pid(de->d_name);
		struct cmek_fs_holder *h;

		if (!pid || pid == self || !maps_use(pid, major, minor))
			continue;
		res->nholders++;
		if (res->nlisted < CMEK_FS_HOLDERS_MAX) {
			h = &res->holders[res->nlisted++];
			h->pid = pid;
			holder_name(pid, h->name, sizeof(h->name));
		}
		if (kill_them && pid != 1 && !kill(pid, SIGKILL)) {
			res->nkilled++;
			if (nk < KILL_WAIT_MAX)
				killed[nk++] = pid;
		}
	}
	closedir(dir);
	/* An exit unmaps asynchronously: let the pages go before the drop. */
	for (tries = 0; nk && tries < 50; tries++) {
		for (i = 0; i < nk;)
			if (maps_use(killed[i], major, minor))
				i++;
			else
				killed[i] = killed[--nk];
		if (nk)
			nanosleep(&(struct timespec){ .tv_nsec = 20000000 },
				  NULL);
	}
}

/*
 * A mount of @major:@minor in another process's mount namespace (a
 * container). Each namespace is read once.
 */
static int find_other_ns(unsigned int major, unsigned int minor,
			 struct cmek_mount *mnt, pid_t *ns_pid)
{
	struct { dev_t dev; ino_t ino; } seen[NS_SEEN_MAX];
	unsigned int nseen = 0, i;
	struct stat self, st;
	struct dirent *de;
	char path[64];
	int found = 0;
	DIR *dir;

	if (stat("/proc/self/ns/mnt", &self))
		return 0;
	dir = opendir("/proc");
	if (!dir)
		return 0;
	while (!found && (de = readdir(dir))) {
		pid_t pid = proc_pid(de->d_name);
		FILE *f;

		if (!pid)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
		if (stat(path, &st) ||
		    (st.st_dev == self.st_dev && st.st_ino == self.st_ino))
			continue;
		for (i = 0; i < nseen; i++)
			if (seen[i].dev == st.st_dev &&
			    seen[i].ino == st.st_ino)
				break;
		if (i < nseen)
			continue;
		if (nseen < NS_SEEN_MAX) {
			seen[nseen].dev = st.st_dev;
			seen[nseen++].ino = st.st_ino;
		}
		snprintf(path, sizeof(path), "/proc/%d/mountinfo", (int)pid);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (cmek_mountinfo_find(f, major, minor, false, mnt) == 1) {
			*ns_pid = pid;
			found = 1;
		}
		fclose(f);
	}
	closedir(dir);
	return found;
}

static int find_mount(dev_t dev, struct cmek_mount *mnt, pid_t *ns_pid)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int found = 0;

	*ns_pid = 0;
	if (f) {
		found = cmek_mountinfo_find(f, major(dev), minor(dev), true,
					    mnt);
		fclose(f);
	}
	return found || find_other_ns(major(dev), minor(dev), mnt, ns_pid);
}

static bool has_shutdown(const char *fstype)
{
	static const char *const types[] = {
		"ext4", "ext3", "ext2", "xfs", "f2fs", NULL
	};
	int i;

	for (i = 0; types[i]; i++)
		if (!strcmp(fstype, types[i]))
			return true;
	return false;
}

/*
 * Shut the file system down through its mount point. The path is checked
 * to lead to the file system itself (st_dev): a mount point in another
 * namespace is that namespace's to change under us.
 */
static void shut_down(struct cmek_fs_result *res)
{
	char path[PATH_MAX];
	__u32 flag = FS_GOING_NOLOGFLUSH;
	struct stat st;
	int fd, n;

	if (res->ns_pid)
		n = snprintf(path, sizeof(path), "/proc/%d/root%s",
			     (int)res->ns_pid, res->mount_point);
	else
		n = snprintf(path, sizeof(path), "%s", res->mount_point);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		res->state = CMEK_FS_FAILED;
		res->error = -ENAMETOOLONG;
		snprintf(res->why, sizeof(res->why), "mount point too long");
		return;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == EIO) {
		/* xfs refuses every open once it is shut down */
		res->state = CMEK_FS_SHUT_DOWN;
		snprintf(res->why, sizeof(res->why), "was already shut down");
		return;
	}
	if (fd < 0) {
		res->state = CMEK_FS_FAILED;
		res->error = -errno;
		snprintf(res->why, sizeof(res->why), "cannot open the mount "
			 "point: %s", strerror(errno));
		return;
	}
	if (fstat(fd, &st) || st.st_dev != makedev(res->major, res->minor)) {
		close(fd);
		res->state = CMEK_FS_FAILED;
		res->error = -ESTALE;
		snprintf(res->why, sizeof(res->why), "the mount point leads to "
			 "another file system (covered or moved)");
		return;
	}
	if (!ioctl(fd, FS_IOC_GOINGDOWN, &flag)) {
		res->state = CMEK_FS_SHUT_DOWN;
		snprintf(res->why, sizeof(res->why), "shut down without log "
			 "flush: read(2) and new opens fail with EIO");
	} else if (errno == EIO) {
		/* f2fs refuses every ioctl once it is shut down */
		res->state = CMEK_FS_SHUT_DOWN;
		snprintf(res->why, sizeof(res->why), "was already shut down");
	} else if (errno == ENOTTY || errno == EOPNOTSUPP) {
		res->state = CMEK_FS_NO_SHUTDOWN;
		snprintf(res->why, sizeof(res->why), "its driver has no "
			 "shutdown ioctl: files it has cached stay readable "
			 "until it is unmounted");
	} else {
		res->state = CMEK_FS_FAILED;
		res->error = -errno;
		snprintf(res->why, sizeof(res->why), "shutdown ioctl failed: "
			 "%s", strerror(errno));
	}
	close(fd);
}

/*
 * Clean page cache, host-wide: the kernel has no per-file-system drop.
 * Costs every file system's cached reads (they are read again from disk).
 */
static bool drop_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
	bool ok;

	if (fd < 0)
		return false;
	ok = write(fd, "1", 1) == 1;
	close(fd);
	return ok;
}

int cmek_fs_revoke(dev_t dev, unsigned int flags, struct cmek_fs_result *res)
{
	struct cmek_mount mnt;
	unsigned int ma = major(dev), mi = minor(dev);

	memset(res, 0, sizeof(*res));
	if (!find_mount(dev, &mnt, &res->ns_pid)) {
		res->state = CMEK_FS_NOT_MOUNTED;
		snprintf(res->why, sizeof(res->why), "not mounted in any mount "
			 "namespace");
	} else {
		res->major = ma = mnt.major;
		res->minor = mi = mnt.minor;
		memcpy(res->mount_point, mnt.mount_point,
		       sizeof(res->mount_point));
		memcpy(res->fstype, mnt.fstype, sizeof(res->fstype));
		if (flags & CMEK_FS_KEEP) {
			res->state = CMEK_FS_KEPT;
			snprintf(res->why, sizeof(res->why), "kept as asked: "
				 "files it has cached stay readable");
		} else if (!has_shutdown(mnt.fstype)) {
			res->state = CMEK_FS_NO_SHUTDOWN;
			snprintf(res->why, sizeof(res->why), "%s has no "
				 "shutdown ioctl: files it has cached stay "
				 "readable until it is unmounted", mnt.fstype);
		} else {
			shut_down(res);
		}
	}
	/* Mapped files are found by the super block's device number. */
	find_holders(res, ma, mi, (flags & CMEK_FS_KILL_HOLDERS) &&
		     !(flags & CMEK_FS_KEEP));
	if (res->state != CMEK_FS_NOT_MOUNTED && res->state != CMEK_FS_KEPT)
		res->caches_dropped = drop_caches();
	return res->state == CMEK_FS_FAILED ? res->error : 0;
}
