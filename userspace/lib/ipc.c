// SPDX-License-Identifier: GPL-2.0
/*
 * cmekd control socket: JSON over Unix SOCK_SEQPACKET. See ipc.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "escape.h"
#include "ipc.h"

const char *cmek_ipc_socket_path(void)
{
	const char *s = getenv("CMEK_SOCKET");

	return s && *s ? s : CMEK_IPC_DEFAULT_SOCKET;
}

static int fill_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (!path || !*path)
		return -EINVAL;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

int cmek_ipc_call_timeout(const char *sock_path, struct json_object *req,
			  struct json_object **reply, int timeout_ms)
{
	struct sockaddr_un sa;
	const char *s;
	size_t len;
	char *buf = NULL;
	ssize_t n;
	int fd, ret;

	*reply = NULL;
	if (!sock_path)
		sock_path = cmek_ipc_socket_path();
	ret = fill_addr(&sa, sock_path);
	if (ret)
		return ret;
	s = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	if (!s)
		return -ENOMEM;
	len = strlen(s);
	if (len > CMEK_IPC_MSG_MAX)
		return -EMSGSIZE;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A daemon too busy to accept: its backlog full, connect() waits. */
	if (timeout_ms >= 0) {
		struct timeval tv = { .tv_sec = timeout_ms / 1000,
				      .tv_usec = timeout_ms % 1000 * 1000 };

		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = errno == EAGAIN ? -ETIMEDOUT : -errno;
		goto out;
	}
	if (send(fd, s, len, MSG_NOSIGNAL) < 0) {
		ret = -errno;
		goto out;
	}
	buf = malloc(CMEK_IPC_MSG_MAX + 1);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int r = poll(&pfd, 1, timeout_ms);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			goto out;
		}
		if (r == 0) {
			ret = -ETIMEDOUT;
			goto out;
		}
		n = recv(fd, buf, CMEK_IPC_MSG_MAX + 1, MSG_TRUNC);
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	if (n < 0) {
		ret = -errno;
		goto out;
	}
	if (n == 0) {
		ret = -ECONNRESET;
		goto out;
	}
	if (n > CMEK_IPC_MSG_MAX) {
		ret = -EMSGSIZE;
		goto out;
	}
	buf[n] = '\0';
	*reply = json_tokener_parse(buf);
	if (!*reply || !json_object_is_type(*reply, json_type_object)) {
		json_object_put(*reply);
		*reply = NULL;
		ret = -EBADMSG;
	}
out:
	free(buf);
	close(fd);
	return ret;
}

int cmek_ipc_call(const char *sock_path, struct json_object *req,
		  struct json_object **reply)
{
	return cmek_ipc_call_timeout(sock_path, req, reply, 120000);
}

struct json_object *cmek_ipc_ok(void)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(1));
	return o;
}

struct json_object *cmek_ipc_err(int err, const char *fmt, ...)
{
	struct json_object *o = json_object_new_object();
	char msg[1024], esc[CMEK_ESC_SIZE(1024)];
	va_list ap;

	if (err < 0)
		err = -err;
	if (!err)
		err = EIO;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* It may quote a header's key reference: valid UTF-8, one line. */
	cmek_escape(msg, esc, sizeof(esc), 0);
	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "errno", json_object_new_int(err));
	json_object_object_add(o, "error", json_object_new_string(esc));
	return o;
}

static int mkdir_parent(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;
	struct stat st;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (stat(dir, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int cmek_ipc_listen(const char *path)
{
	struct sockaddr_un sa;
	mode_t old;
	int fd, ret, probe;

	ret = fill_addr(&sa, path);
	if (ret)
		return ret;
	ret = mkdir_parent(path);
	if (ret)
		return ret;

	/* Another daemon listening? Then do not steal its socket. */
	probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (probe >= 0) {
		if (connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(probe);
			return -EADDRINUSE;
		}
		close(probe);
	}
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	old = umask(077);
	ret = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (ret < 0 || chmod(path, 0600) < 0 || listen(fd, 16) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

int cmek_ipc_recv_request(int fd, struct json_object **req,
			  struct json_object **err_reply)
{
	struct json_object *o, *op;
	enum json_tokener_error jerr;
	struct json_tokener *tok;
	char *buf;
	ssize_t n;
	int ret;

	*req = NULL;
	if (err_reply)
		*err_reply = NULL;
	buf = malloc(CMEK_IPC_MSG_MAX + 1);
	if (!buf)
		return -ENOMEM;
	do
		n = recv(fd, buf, CMEK_IPC_MSG_MAX + 1, MSG_TRUNC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		ret = errno == EWOULDBLOCK ? -EAGAIN : -errno;
		goto out;
	}
	if (n == 0) {
		ret = 0;
		goto out;
	}
	if (n > CMEK_IPC_MSG_MAX) {
		ret = -EMSGSIZE;
		if (err_reply)
			*err_reply = cmek_ipc_err(EMSGSIZE,
				"request of %zd bytes is larger than the %d-byte limit",
				n, CMEK_IPC_MSG_MAX);
		goto out;
	}
	buf[n] = '\0';
	if (strlen(buf) != (size_t)n) {
		ret = -EBADMSG;
		if (err_reply)
			*err_reply = cmek_ipc_err(EBADMSG,
				"request contains a NUL byte: send one JSON object per message");
		goto out;
	}
	tok = json_tokener_new();
	if (!tok) {
		ret = -ENOMEM;
		goto out;
	}
	o = json_tokener_parse_ex(tok, buf, (int)n);
	jerr = json_tokener_get_error(tok);
	if (o && jerr == json_tokener_success &&
	    (size_t)json_tokener_get_parse_end(tok) < (size_t)n) {
		/* Trailing garbage after the object (whitespace is fine). */
		size_t i;

		for (i = json_tokener_get_parse_end(tok); i < (size_t)n; i++)
			if (!strchr(" \t\r\n", buf[i]))
				break;
		if (i < (size_t)n) {
			json_object_put(o);
			o = NULL;
			jerr = json_tokener_error_parse_unexpected;
		}
	}
	json_tokener_free(tok);
	if (!o || jerr != json_tokener_success) {
		json_object_put(o);
		ret = -EBADMSG;
		if (err_reply)
			*err_reply = cmek_ipc_err(EBADMSG,
				"request is not valid JSON (%s): send one JSON object per message",
				json_tokener_error_desc(jerr == json_tokener_success ?
					json_tokener_error_parse_eof : jerr));
		goto out;
	}
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		ret = -EBADMSG;
		if (err_reply)
			*err_reply = cmek_ipc_err(EBADMSG,
				"request is JSON but not an object: send {\"op\": ...}");
		goto out;
	}
	if (!json_object_object_get_ex(o, "op", &op) ||
	    !json_object_is_type(op, json_type_string)) {
		json_object_put(o);
		ret = -EINVAL;
		if (err_reply)
			*err_reply = cmek_ipc_err(EINVAL,
				"request has no \"op\" string: send {\"op\": \"ping\"} and the like");
		goto out;
	}
	*req = o;
	ret = 1;
out:
	free(buf);
	return ret;
}

int cmek_ipc_send(int fd, struct json_object *reply)
{
	const char *s = json_object_to_json_string_ext(reply,
						       JSON_C_TO_STRING_PLAIN);
	size_t len;
	ssize_t n;

	if (!s)
		return -ENOMEM;
	len = strlen(s);
	if (len > CMEK_IPC_MSG_MAX)
		return -EMSGSIZE;
	do
		n = send(fd, s, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : 0;
}

struct json_object *cmek_ipc_dispatch(const struct cmek_ipc_op *ops,
				      struct json_object *req, void *ctx)
{
	const char *op = cmek_json_str(req, "op");
	char known[512];
	size_t off = 0;
	int i;

	for (i = 0; op && ops[i].name; i++)
		if (!strcmp(ops[i].name, op))
			return ops[i].fn(req, ctx);
	known[0] = '\0';
	for (i = 0; ops[i].name; i++)
		off += snprintf(known + off, off < sizeof(known) ?
				sizeof(known) - off : 0, "%s%s",
				i ? ", " : "", ops[i].name);
	if (!op)
		return cmek_ipc_err(EINVAL, "request has no \"op\" string "
				    "(known ops: %s)", known);
	return cmek_ipc_err(EOPNOTSUPP, "unknown op \"%.64s\" (known ops: %s)",
			    op, known);
}

int cmek_ipc_peer(int fd, uid_t *uid, pid_t *pid)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return -errno;
	if (uid)
		*uid = cr.uid;
	if (pid)
		*pid = cr.pid;
	return 0;
}
