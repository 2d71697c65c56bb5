// SPDX-License-Identifier: GPL-2.0
/*
 * cmekctl's client side of the cmekd socket protocol: one JSON object per
 * SOCK_SEQPACKET message, {"op": ...} -> {"ok": true, ...} or
 * {"ok": false, "errno": N, "error": "..."}. The transport is
 * userspace/lib/ipc.h's cmek_ipc_call().
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cmekctl.h"
#include "daemon.h"

#include "ipc.h"

int daemon_call(struct json_object *req, struct json_object **reply,
		int quiet)
{
	return daemon_call_timeout(req, reply, quiet, DAEMON_TIMEOUT_MS);
}

int daemon_call_timeout(struct json_object *req, struct json_object **reply,
			int quiet, int timeout_ms)
{
	const char *sock = daemon_socket();
	const char *op = json_object_get_string(
		json_object_object_get(req, "op"));
	struct json_object *ok, *e;
	int ret;

	*reply = NULL;
	ret = cmek_ipc_call_timeout(sock, req, reply, timeout_ms);
	if (ret == -ENOENT || ret == -ECONNREFUSED) {
		if (!quiet)
			err_msg("%s: cmekd is not running (no answer on %s): "
				"start it with 'systemctl start cmekd' or "
				"'cmekd'", op, sock);
		return -ECONNREFUSED;
	}
	if ((ret == -EACCES || ret == -EPERM) && !(quiet & DC_QUIET_ALL)) {
		err_msg("%s: permission denied on %s: talking to cmekd needs "
			"root", op, sock);
		return ret;
	}
	if (ret == -EACCES || ret == -EPERM)
		return ret;
	if (ret) {
		if (!(quiet & DC_QUIET_ALL))
			err_msg("%s: cannot talk to cmekd on %s: %s", op, sock,
			strerror(-ret));
		return ret;
	}
	ok = json_object_object_get(*reply, "ok");
	if (ok && json_object_get_boolean(ok))
		return 0;
	e = json_object_object_get(*reply, "errno");
	ret = e ? json_object_get_int(e) : EIO;
	if (ret <= 0)
		ret = EIO;
	e = json_object_object_get(*reply, "error");
	if (!(quiet & DC_QUIET_ALL))
		err_msg("%s: %s", op, e ? json_object_get_string(e) :
		"cmekd refused the request without saying why");
	return -ret;
}

struct json_object *daemon_req(const char *op)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "op", json_object_new_string(op));
	return o;
}

void jadd_str(struct json_object *o, const char *k, const char *v)
{
	if (v)
		json_object_object_add(o, k, json_object_new_string(v));
}

const char *jget_str(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, k, &v) || !v)
		return NULL;
	return json_object_get_string(v);
}
