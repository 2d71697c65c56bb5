/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The cmekd control socket protocol (client and server sides).
 *
 * Transport: a Unix SOCK_SEQPACKET socket, by default /run/cmek/cmekd.sock
 * (CMEK_IPC_DEFAULT_SOCKET; the environment variable CMEK_SOCKET or cmekd's
 * config "socket =" override it). The directory is 0700 and the socket 0600,
 * both root's; cmekd checks SO_PEERCRED on every connection and answers a
 * non-root peer with an error reply (EPERM) before closing.
 *
 * Messages: one JSON object (json-c) per datagram, at most CMEK_IPC_MSG_MAX
 * bytes. A client sends one request and reads one reply per request; it may
 * send several requests over one connection.
 *
 *   request:  {"op": OP, ...arguments...}
 *   reply:    {"ok": true, ...results...}
 *         or  {"ok": false, "errno": N, "error": "what is wrong and what to do"}
 *
 * Ops (arguments; results):
 *   ping                                         ; {version, protocol, pid,
 *                                                   volumes, kernel,
 *                                                   slot_policy}
 *   format  {device, header?, provider, key, sector_size?, data_offset?
 *            (bytes), force?}                    ; {uuid, device, header?}
 *   open    {device, name, header?, key_wait_ms?, allow_discards?}
 *                                                ; {uuid, name, path,
 *                                                   generation, provider, key}
 *   close   {name}                               ; {}
 *   revoke  {name | all: true, keep_fs?}         ; {revoked: [uuid...]}
 *   shred   {name}                               ; {uuid, mapping_removed}
 *   rewrap  {name, provider?, key?}              ; {uuid, slots, provider, key}
 *   status  {name?}                              ; {volumes: [VOL...]}
 *   list                                         ; {volumes: [VOL...]}
 *   check   {name?}                              ; {volumes: [VOL + kms_state]}
 *   slot_add {device, header?, provider?, key}   ; {uuid, slot, provider, key,
 *                                                   from_slot, active_slots}
 *   slot_remove {device, header?, slot}          ; {uuid, slot, active_slots}
 *
 * VOL = {name, uuid, device, header?, provider, key, slot, state, generation,
 *        dm_name, key_size, users, reads, writes, errors, dm_status,
 *        revoked, shredded, locked, lock_reason?, kms_state, kms_error?,
 *        slots: [{slot, provider, key, kms_state, verdict, kms_error?}]}
 * where state is the kernel's key state ("present", "missing", "revoked")
 * or "unknown" when the kernel has no entry for the uuid.
 */
#ifndef CMEK_IPC_H
#define CMEK_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <json-c/json.h>

/* cmek_json_str(), _bool(), _int64(): for the members of a request. */
#include "secjson.h"

#define CMEK_IPC_DEFAULT_SOCKET	"/run/cmek/cmekd.sock"
#define CMEK_IPC_MSG_MAX	65536
#define CMEK_IPC_VERSION	1

/* $CMEK_SOCKET if set and non-empty, else CMEK_IPC_DEFAULT_SOCKET. */
const char *cmek_ipc_socket_path(void);

/*
 * Client: connect to @sock_path (NULL: cmek_ipc_socket_path()), send @req,
 * receive one reply into *@reply (caller json_object_put()s it; NULL on
 * transport failure). Returns 0 when a well-formed reply object arrived
 * (whatever its "ok"), or -errno: -ENOENT / -ECONNREFUSED when cmekd is not
 * running, -EACCES when not allowed to connect, -EMSGSIZE when @req is too
 * big, -EBADMSG when the reply is not a JSON object, -ECONNRESET when cmekd
 * closed without replying. Waits at most @timeout_ms for the connection
 * and as long for the reply, -ETIMEDOUT past that (cmek_ipc_call uses
 * 120 s; format/open/rewrap may call a remote KMS).
 */
int cmek_ipc_call(const char *sock_path, struct json_object *req,
		  struct json_object **reply);
int cmek_ipc_call_timeout(const char *sock_path, struct json_object *req,
			  struct json_object **reply, int timeout_ms);

/* Helpers for reply objects. */
struct json_object *cmek_ipc_ok(void);
/* {"ok": false, "errno": err (positive), "error": printf(fmt, ...)}. */
struct json_object *cmek_ipc_err(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Server: create a listening SOCK_SEQPACKET socket at @path: creates the
 * parent directory 0700 if missing, removes a stale socket (but refuses if
 * another daemon answers on it: -EADDRINUSE), binds with umask 077 and
 * chmods 0600. Returns the fd (non-blocking, close-on-exec) or -errno.
 */
int cmek_ipc_listen(const char *path);

/*
 * Server: receive one request datagram from @fd into a parsed object.
 * Returns 1 with *@req set (a JSON object with a string "op"), 0 on orderly
 * EOF, -EAGAIN when nothing is ready, or another -errno. On a malformed
 * request (too big: -EMSGSIZE; not JSON / not an object: -EBADMSG; no "op"
 * string: -EINVAL) it returns that -errno and, if @err_reply is not NULL,
 * sets *@err_reply to the error reply to send (the connection stays usable).
 */
int cmek_ipc_recv_request(int fd, struct json_object **req,
			  struct json_object **err_reply);
/* Server: send @reply as one datagram (MSG_NOSIGNAL). 0 or -errno. */
int cmek_ipc_send(int fd, struct json_object *reply);

/*
 * Server: dispatch a request to the handler named by its "op". Unknown ops
 * get an EOPNOTSUPP error reply naming the known ones. Handlers return a
 * reply object (never NULL).
 */
struct cmek_ipc_op {
	const char *name;
	struct json_object *(*fn)(struct json_object *req, void *ctx);
	bool kms;	/* may wait for a KMS: cmekd serves it in a job */
};
struct json_object *cmek_ipc_dispatch(const struct cmek_ipc_op *ops,
				      struct json_object *req, void *ctx);

/* Peer credentials of a connected socket: 0 or -errno. */
int cmek_ipc_peer(int fd, uid_t *uid, pid_t *pid);

#endif /* CMEK_IPC_H */
