// SPDX-License-Identifier: GPL-2.0
/*
 * The control socket (userspace/lib/ipc.h). Root-only: the peer's uid
 * (SO_PEERCRED) is checked on every connection; a non-root peer gets one
 * EPERM error reply to its first request, an audit line, and is closed.
 * So does a peer outside cmekd's own user namespace (the initial one: the
 * kernel's CAP_NET_ADMIN check on the cmek family needs it), such as root
 * of a container the socket was bind-mounted into: its uid 0 maps to the
 * host's root, but it is not the host's administrator.
 * Requests that may wait for a KMS are served in serial jobs (jobs.c), one
 * at a time; the connection is not read meanwhile. The others
 * (status, revoke, shred, close...) are served at once, on the main
 * thread, whatever the KMS does.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmekd.h"
#include "ipc.h"
#include "log.h"

#define MAX_CLIENTS 64

struct client {
	int fd;
	uid_t uid;
	pid_t pid;
	const char *refused;	/* why, or NULL */
	bool gone;		/* exited before we could check its userns */
	bool busy;		/* a job serves its request */
};

static struct client clients[MAX_CLIENTS];
static size_t nclients;

static const struct cmek_ipc_op ops[] = {
	{ "ping", op_ping, false },
	{ "format", op_format, true },
	{ "provision", op_provision, true },
	{ "provision_state", op_provision_state, false },
	{ "open", op_open, true },
	{ "close", op_close, false },
	{ "revoke", op_revoke, false },
	{ "shred", op_shred, false },
	{ "rewrap", op_rewrap, true },
	{ "status", op_status, false },
	{ "list", op_list, false },
	{ "check", op_check, true },
	{ "slot_add", op_slot_add, true },
	{ "slot_remove", op_slot_remove, true },
	{ "upgrade", op_upgrade, true },
	{ NULL, NULL, false },
};

struct req_job {
	int fd;
	pid_t pid;
	struct json_object *req;
};

int server_start(struct daemon *d)
{
	d->lfd = cmek_ipc_listen(d->cfg.socket);
	if (d->lfd == -EADDRINUSE) {
		log_err("another cmekd answers on %s: stop it first",
			d->cfg.socket);
		return -EADDRINUSE;
	}
	if (d->lfd < 0) {
		log_err("cannot listen on %s: %s", d->cfg.socket,
			strerror(-d->lfd));
		return d->lfd;
	}
	log_info("listening on %s", d->cfg.socket);
	return 0;
}

void server_stop(struct daemon *d)
{
	size_t i;

	for (i = 0; i < nclients; i++)
		close(clients[i].fd);
	nclients = 0;
	if (d->lfd >= 0) {
		close(d->lfd);
		unlink(d->cfg.socket);
		d->lfd = -1;
	}
}

size_t server_pollfds(struct daemon *d, struct pollfd *pfd, size_t max)
{
	size_t i, n = 0;

	if (d->lfd >= 0 && n < max)
		pfd[n++] = (struct pollfd){ .fd = d->lfd, .events = POLLIN };
	for (i = 0; i < nclients && n < max; i++)
		if (!clients[i].busy)
			pfd[n++] = (struct pollfd){ .fd = clients[i].fd,
						    .events = POLLIN };
	return n;
}

/*
 * Is the peer in our user namespace? Asked through /proc/PID/ns/user right
 * after accept(): the kernel's SO_PEERPIDFD (6.5) is not in Debian 12's
 * 6.1, so the pid SO_PEERCRED recorded at connect() is all there is. That
 * leaves one race: a peer that hands its connection to another process
 * and exits, whose pid is then reused by a process of ours before this
 * runs, passes. A pid we cannot see (0: a pid namespace outside ours) or
 * look up fails the check. 1 same, 0 not, -ENOENT if the peer has exited.
 */
static int same_userns(pid_t pid)
{
	struct stat mine, theirs;
	char path[64];

	if (pid <= 0 || stat("/proc/self/ns/user", &mine) < 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
	if (stat(path, &theirs) < 0)
		return errno == ENOENT ? -ENOENT : 0;
	return mine.st_dev == theirs.st_dev && mine.st_ino == theirs.st_ino;
}

static void accept_one(struct daemon *d)
{
	struct client *c;
	int fd, ns;

	fd = accept4(d->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	if (nclients == MAX_CLIENTS) {
		struct json_object *r = cmek_ipc_err(EBUSY,
			"cmekd has %d connections open; try again", MAX_CLIENTS);

		cmek_ipc_send(fd, r);
		json_object_put(r);
		close(fd);
		return;
	}
	c = &clients[nclients++];
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	if (cmek_ipc_peer(fd, &c->uid, &c->pid)) {
		c->uid = (uid_t)-1;
		c->pid = 0;
	}
	if (c->uid != 0)
		c->refused = "not root";
	else if ((ns = same_userns(c->pid)) == -ENOENT)
		c->gone = true;
	else if (!ns)
		c->refused = "another user namespace";
	if (c->refused)
		cmek_audit("op=connect result=refused peer_uid=%d peer_pid=%d "
			   "reason=\"%s\"", (int)c->uid, (int)c->pid,
			   c->refused);
}

static void drop(size_t i)
{
	close(clients[i].fd);
	clients[i] = clients[--nclients];
}

static bool kms_op(struct json_object *req)
{
	const char *op = cmek_json_str(req, "op");
	size_t i;

	for (i = 0; op && ops[i].name; i++)
		if (!strcmp(ops[i].name, op))
			return ops[i].kms;
	return false;
}

static int reply_to(struct daemon *d, int fd, pid_t pid,
		    struct json_object *req)
{
	struct json_object *reply;
	int ret;

	d->peer_pid = pid;
	log_debug("request op=%s from pid %d", cmek_json_str(req, "op"),
		  (int)pid);
	reply = cmek_ipc_dispatch(ops, req, d);
	d->peer_pid = 0;
	ret = cmek_ipc_send(fd, reply);
	if (ret)
		log_warn("cannot reply to pid %d: %s", (int)pid,
			 strerror(-ret));
	json_object_put(reply);
	json_object_put(req);
	return ret;
}

static void req_job(struct daemon *d, void *arg)
{
	struct req_job *r = arg;
	size_t i;

	reply_to(d, r->fd, r->pid, r->req);
	/* A busy client is never dropped: its fd is still this one. */
	for (i = 0; i < nclients; i++)
		if (clients[i].fd == r->fd)
			clients[i].busy = false;
	free(r);
}

/* Serve one message; false when the client must be dropped. */
static bool serve(struct daemon *d, struct client *c)
{
	struct json_object *req = NULL, *err = NULL, *reply;
	int ret;

	ret = cmek_ipc_recv_request(c->fd, &req, &err);
	if (ret == -EAGAIN)
		return true;
	if (ret == 0)
		return false;
	/*
	 * cmekctl revoke does not wait for a cmekd that is slow to accept:
	 * it wiped the kernel key itself and may be gone by now. Its request
	 * only takes a key away, so it is recorded whoever sent it.
	 */
	if (c->gone && !c->refused && (!req ||
	    strcmp(cmek_json_str(req, "op") ?: "", "revoke"))) {
		c->refused = "exited before its user namespace could be checked";
		cmek_audit("op=connect result=refused peer_uid=%d peer_pid=%d "
			   "reason=\"%s\"", (int)c->uid, (int)c->pid,
			   c->refused);
	}
	if (c->refused) {
		reply = c->uid != 0 ? cmek_ipc_err(EPERM,
			"permission denied: cmekd serves root only (your uid "
			"is %d); run the command as root", (int)c->uid) :
			cmek_ipc_err(EPERM,
			"permission denied: cmekd serves the host's root only, "
			"not a client in another user namespace (a container)");
		json_object_put(req);
		json_object_put(err);
		cmek_ipc_send(c->fd, reply);
		json_object_put(reply);
		return false;
	}
	if (ret < 0) {
		if (err) {
			log_warn("bad request from pid %d: %s", (int)c->pid,
				 cmek_json_str(err, "error"));
			cmek_ipc_send(c->fd, err);
			json_object_put(err);
			return true;
		}
		return false;
	}
	if (kms_op(req)) {
		struct req_job *r = malloc(sizeof(*r));

		if (r) {
			*r = (struct req_job){ .fd = c->fd, .pid = c->pid,
					       .req = req };
			c->busy = true;
			if (!job_start(d, JOB_SERIAL, req_job, r))
				return true;
			c->busy = false;
			free(r);
		}
		reply = cmek_ipc_err(ENOMEM, "cmekd cannot start a job for "
				     "this request; try again");
		json_object_put(req);
		ret = cmek_ipc_send(c->fd, reply);
		json_object_put(reply);
		return ret == 0;
	}
	return reply_to(d, c->fd, c->pid, req) == 0;
}

void server_handle(struct daemon *d, struct pollfd *pfd, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		if (!pfd[i].revents)
			continue;
		if (pfd[i].fd == d->lfd) {
			accept_one(d);
			continue;
		}
		for (j = 0; j < nclients; j++) {
			if (clients[j].fd != pfd[i].fd)
				continue;
			if ((pfd[i].revents & POLLIN) && serve(d, &clients[j]))
				break;
			drop(j);
			break;
		}
	}
}
