// SPDX-License-Identifier: GPL-2.0
/*
 * Host unit tests of the cmekd socket framing (userspace/lib/ipc.c):
 * message size limit, non-JSON, non-object, missing op, unknown op,
 * listen/call round trip, stale socket, second daemon refused, socket
 * modes, peer credentials of a non-root client, daemon-down errors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipc.h"
#include "../lib/tap.h"

static int sp[2];

/* Send raw bytes on one end; run recv_request on the other. */
static int feed(const void *buf, size_t len, struct json_object **req,
		struct json_object **err)
{
	if (send(sp[0], buf, len, 0) != (ssize_t)len)
		return -999;
	return cmek_ipc_recv_request(sp[1], req, err);
}

static int err_errno(struct json_object *r)
{
	long long v = -1;

	if (!r || cmek_json_bool(r, "ok", 1) != 0)
		return -1;
	if (cmek_json_int64(r, "errno", &v))
		return -1;
	return (int)v;
}

static struct json_object *h_ping(struct json_object *req, void *ctx)
{
	struct json_object *o = cmek_ipc_ok();

	(*(int *)ctx)++;
	json_object_object_add(o, "pong", json_object_new_boolean(1));
	return o;
}

static const struct cmek_ipc_op ops[] = {
	{ "ping", h_ping, false },
	{ NULL, NULL, false },
};

int main(void)
{
	struct json_object *req, *err, *r;
	char *big, path[128], dir[64];
	struct stat st;
	int ret, calls = 0, lfd, cfd;
	uid_t uid;
	pid_t pid;

	tap_plan(32);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp) < 0) {
		perror("socketpair");
		return 1;
	}

	ret = feed("{\"op\":\"ping\"}", 13, &req, &err);
	tap_ok(ret == 1 && req && !err, "well-formed request accepted");
	tap_ok(req && !strcmp(cmek_json_str(req, "op"), "ping"), "op parsed");
	json_object_put(req);

	big = malloc(CMEK_IPC_MSG_MAX + 100);
	memset(big, ' ', CMEK_IPC_MSG_MAX + 100);
	memcpy(big, "{\"op\":\"ping\",\"x\":\"", 18);
	big[CMEK_IPC_MSG_MAX + 98] = '"';
	big[CMEK_IPC_MSG_MAX + 99] = '}';
	ret = feed(big, CMEK_IPC_MSG_MAX + 100, &req, &err);
	tap_ok(ret == -EMSGSIZE && !req, "oversized message refused (%d)", ret);
	tap_ok(err_errno(err) == EMSGSIZE, "oversized message gets an EMSGSIZE reply");
	json_object_put(err);

	/* Exactly at the limit is fine. */
	memset(big, ' ', CMEK_IPC_MSG_MAX);
	memcpy(big, "{\"op\":\"ping\"}", 13);
	ret = feed(big, CMEK_IPC_MSG_MAX, &req, &err);
	tap_ok(ret == 1 && req, "message of exactly %d bytes accepted", CMEK_IPC_MSG_MAX);
	json_object_put(req);
	free(big);

	ret = feed("hello", 5, &req, &err);
	tap_ok(ret == -EBADMSG && !req, "non-JSON refused");
	tap_ok(err_errno(err) == EBADMSG && strstr(cmek_json_str(err, "error"), "JSON"),
	       "non-JSON reply says so");
	json_object_put(err);

	ret = feed("{\"op\":\"ping\"", 12, &req, &err);
	tap_ok(ret == -EBADMSG && !req, "truncated JSON refused");
	json_object_put(err);

	ret = feed("{\"op\":\"ping\"} {}", 16, &req, &err);
	tap_ok(ret == -EBADMSG && !req, "two objects in one message refused");
	json_object_put(err);

	ret = feed("{\"op\":\"ping\"}\0x", 15, &req, &err);
	tap_ok(ret == -EBADMSG && !req, "embedded NUL refused");
	json_object_put(err);

	ret = feed("[1,2]", 5, &req, &err);
	tap_ok(ret == -EBADMSG && err_errno(err) == EBADMSG, "JSON array refused");
	json_object_put(err);

	ret = feed("\"ping\"", 6, &req, &err);
	tap_ok(ret == -EBADMSG, "JSON string refused");
	json_object_put(err);

	ret = feed("{\"name\":\"x\"}", 12, &req, &err);
	tap_ok(ret == -EINVAL && err_errno(err) == EINVAL, "missing op refused with EINVAL");
	tap_ok(err && strstr(cmek_json_str(err, "error"), "op"), "missing-op reply names op");
	json_object_put(err);

	ret = feed("{\"op\":42}", 9, &req, &err);
	tap_ok(ret == -EINVAL, "non-string op refused");
	json_object_put(err);

	ret = cmek_ipc_recv_request(sp[1], &req, &err);
	tap_ok(ret == -EAGAIN, "nothing pending -> -EAGAIN");

	/* Dispatch. */
	req = json_tokener_parse("{\"op\":\"frobnicate\"}");
	r = cmek_ipc_dispatch(ops, req, &calls);
	tap_ok(err_errno(r) == EOPNOTSUPP, "unknown op -> EOPNOTSUPP");
	tap_ok(strstr(cmek_json_str(r, "error"), "frobnicate") &&
	       strstr(cmek_json_str(r, "error"), "ping"),
	       "unknown-op reply names the op and the known ones");
	json_object_put(r);
	json_object_put(req);
	req = json_tokener_parse("{\"op\":\"ping\"}");
	r = cmek_ipc_dispatch(ops, req, &calls);
	tap_ok(calls == 1 && cmek_json_bool(r, "ok", 0) == 1, "known op dispatched");
	json_object_put(r);
	json_object_put(req);

	close(sp[0]);
	ret = cmek_ipc_recv_request(sp[1], &req, &err);
	tap_ok(ret == 0, "peer closed -> 0");
	close(sp[1]);

	/* Real socket. */
	snprintf(dir, sizeof(dir), "/tmp/cmek-test-ipc.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/run/cmekd.sock", dir);
	req = json_tokener_parse("{\"op\":\"ping\"}");
	ret = cmek_ipc_call(path, req, &r);
	tap_ok((ret == -ENOENT || ret == -ECONNREFUSED) && !r,
	       "no daemon -> ENOENT/ECONNREFUSED (%d)", ret);

	lfd = cmek_ipc_listen(path);
	tap_ok(lfd >= 0, "listen at %s (%d)", path, lfd);
	tap_ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600 && S_ISSOCK(st.st_mode),
	       "socket mode 0600");
	snprintf(path, sizeof(path), "%s/run", dir);
	tap_ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0700, "directory mode 0700");
	snprintf(path, sizeof(path), "%s/run/cmekd.sock", dir);
	ret = cmek_ipc_listen(path);
	tap_ok(ret == -EADDRINUSE, "second listener on a live socket refused (%d)", ret);
	/* Its probe connection sits in our accept queue: drain it. */
	cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (cfd >= 0)
		close(cfd);

	/* Round trip: a child calls, we serve. */
	pid = fork();
	if (pid == 0) {
		struct json_object *rr = NULL;
		int rc = cmek_ipc_call(path, req, &rr);

		_exit(rc == 0 && cmek_json_bool(rr, "pong", 0) == 1 ? 0 : 1);
	}
	cfd = -1;
	for (int i = 0; i < 500 && cfd < 0; i++) {
		cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0)
			usleep(10000);
	}
	tap_ok(cfd >= 0 && cmek_ipc_peer(cfd, &uid, NULL) == 0 && uid == getuid(),
	       "peer credentials read");
	for (int i = 0; i < 500; i++) {
		ret = cmek_ipc_recv_request(cfd, &err, NULL);
		if (ret != -EAGAIN)
			break;
		usleep(10000);
	}
	tap_ok(ret == 1, "server received the request");
	r = cmek_ipc_dispatch(ops, err, &calls);
	tap_ok(cmek_ipc_send(cfd, r) == 0, "reply sent");
	json_object_put(r);
	json_object_put(err);
	close(cfd);
	waitpid(pid, &ret, 0);
	tap_ok(WIFEXITED(ret) && WEXITSTATUS(ret) == 0, "client got the reply");

	/* A non-root client: the server sees its uid. */
	if (getuid() == 0) {
		chmod(path, 0666);
		chmod(dir, 0755);
		snprintf(path, sizeof(path), "%s/run", dir);
		chmod(path, 0755);
		snprintf(path, sizeof(path), "%s/run/cmekd.sock", dir);
		pid = fork();
		if (pid == 0) {
			struct json_object *rr = NULL;

			if (setgid(65534) || setuid(65534))
				_exit(2);
			cmek_ipc_call_timeout(path, req, &rr, 2000);
			_exit(0);
		}
		cfd = -1;
		for (int i = 0; i < 500 && cfd < 0; i++) {
			cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			if (cfd < 0)
				usleep(10000);
		}
		tap_ok(cfd >= 0 && cmek_ipc_peer(cfd, &uid, NULL) == 0 && uid == 65534,
		       "non-root peer's uid seen as 65534");
		if (cfd >= 0)
			close(cfd);
		waitpid(pid, &ret, 0);
	} else {
		tap_ok(0, "non-root peer test needs root (running as uid %u)",
		       (unsigned)getuid());
	}

	/* Stale socket (no listener) is replaced. */
	close(lfd);
	lfd = cmek_ipc_listen(path);
	tap_ok(lfd >= 0, "stale socket replaced by a new listener");
	close(lfd);
	unlink(path);
	json_object_put(req);

	/* Oversized request refused on the client side. */
	big = malloc(CMEK_IPC_MSG_MAX + 10);
	memset(big, 'a', CMEK_IPC_MSG_MAX + 9);
	big[CMEK_IPC_MSG_MAX + 9] = '\0';
	req = json_object_new_object();
	json_object_object_add(req, "op", json_object_new_string(big));
	ret = cmek_ipc_call(path, req, &r);
	tap_ok(ret == -EMSGSIZE, "client refuses an oversized request (%d)", ret);
	json_object_put(req);
	free(big);

	snprintf(path, sizeof(path), "%s/run", dir);
	rmdir(path);
	rmdir(dir);
	return tap_done();
}
