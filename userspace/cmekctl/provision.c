// SPDX-License-Identifier: GPL-2.0
/*
 * First-boot provisioning, cmekctl's half (provision.h); cmekd's half,
 * the blank check under O_EXCL and the record of a pending mkfs, is
 * userspace/cmekd/provision.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "blank.h"
#include "cmekctl.h"
#include "daemon.h"
#include "provision.h"
#include "header.h"

/* 0: a cmek header; -ENOENT: none at all; else -errno (printed). */
static int has_header(const char *dev)
{
	struct cmek_vol_dev *d = NULL;
	struct cmek_vol_hdr *h;
	char err[256];
	int ret;

	ret = cmek_vol_dev_open(dev, false, 0, &d, err, sizeof(err));
	if (ret < 0) {
		err_msg("%s", err);
		return ret;
	}
	h = calloc(1, sizeof(*h));
	ret = h ? cmek_vol_read(d, h, NULL, err, sizeof(err)) : -ENOMEM;
	cmek_vol_dev_close(d);
	if (h)
		explicit_bzero(h, sizeof(*h));
	free(h);
	if (ret && ret != -ENOENT)
		err_msg("%s", err);
	return ret;
}

int provision_format(const struct cmek_voltab_entry *e, const char *dev,
		     int timeout_ms)
{
	struct json_object *req, *reply = NULL;
	int ret = has_header(dev);

	if (ret != -ENOENT)
		return ret;	/* opened as it is, or refused as damaged */
	req = daemon_req("provision");
	jadd_str(req, "device", dev);
	jadd_str(req, "name", e->name);
	jadd_str(req, "provider", e->format_provider);
	jadd_str(req, "key", e->format_key);
	if (e->uuid[0])
		jadd_str(req, "uuid", e->uuid);
	if (e->mkfs[0])
		jadd_str(req, "mkfs", e->mkfs);
	ret = daemon_call_timeout(req, &reply, 0, timeout_ms);
	if (!ret)
		info_msg("%s: provisioned blank %s as volume %s under %s:%s",
			 e->name, dev, jget_str(reply, "uuid") ?: "?",
			 e->format_provider, e->format_key);
	json_object_put(req);
	json_object_put(reply);
	return ret;
}

/* Tell cmekd how the mkfs went; 0 or -errno. */
static int report(const char *name, bool present, const char *error)
{
	struct json_object *req = daemon_req("provision_state"), *reply = NULL;
	int ret;

	jadd_str(req, "name", name);
	if (error) {
		jadd_str(req, "error", error);
	} else {
		json_object_object_add(req, "done", json_object_new_boolean(1));
		json_object_object_add(req, "present",
				       json_object_new_boolean(present));
	}
	ret = daemon_call(req, &reply, 0);
	json_object_put(req);
	json_object_put(reply);
	return ret;
}

/* mkfs.@fs -q @path, with nothing to read: 0 or the exit status. */
static int run_mkfs(const char *fs, const char *path)
{
	char prog[16];
	pid_t pid;
	int st, fd;

	snprintf(prog, sizeof(prog), "mkfs.%s", fs);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0)
			dup2(fd, 0);
		/* Never -F / -f: mkfs's own refusals stay. */
		execlp(prog, prog, "-q", path, (char *)NULL);
		fprintf(stderr, "cmekctl: %s: %s\n", prog, strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int provision_mkfs(const struct cmek_voltab_entry *e)
{
	struct json_object *req, *reply = NULL;
	char path[PATH_MAX], what[256], fs[8], why[128];
	int ret, fd;

	req = daemon_req("provision_state");
	jadd_str(req, "name", e->name);
	ret = daemon_call(req, &reply, 0);
	snprintf(fs, sizeof(fs), "%s", jget_str(reply, "mkfs") ?: "");
	json_object_put(req);
	json_object_put(reply);
	if (ret || !fs[0])
		return ret;
	snprintf(path, sizeof(path), "/dev/mapper/%s", e->name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err_msg("%s: %s: %s", e->name, path, strerror(errno));
		return -errno;
	}
	/*
	 * A file system already there is the earlier mkfs that finished
	 * before its end was recorded: kept, never made again.
	 */
	ret = cmek_blkid_signature(fd, what, sizeof(what));
	close(fd);
	if (ret < 0) {
		err_msg("%s: cannot probe %s: %s", e->name, path,
			strerror(-ret));
		return ret;
	}
	if (ret) {
		info_msg("%s: %s already holds %s: no mkfs", e->name, path,
			 what);
		return report(e->name, true, NULL);
	}
	info_msg("%s: making a %s file system on %s", e->name, fs, path);
	ret = run_mkfs(fs, path);
	if (ret) {
		snprintf(why, sizeof(why), "mkfs.%s exited with %d", fs, ret);
		err_msg("%s: %s", e->name, why);
		report(e->name, false, why);
		return -EIO;
	}
	return report(e->name, false, NULL);
}
