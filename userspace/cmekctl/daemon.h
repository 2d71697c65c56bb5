/* SPDX-License-Identifier: GPL-2.0 */
/* cmekctl: requests to cmekd (daemon.c). */
#ifndef CMEKCTL_DAEMON_H
#define CMEKCTL_DAEMON_H

#include <stdbool.h>
#include <json-c/json.h>

/*
 * Send @req, get *@reply (caller puts it, even on error). Returns 0 when
 * cmekd said ok; -ECONNREFUSED when cmekd is not running (message unless
 * @quiet_down); otherwise prints cmekd's or the transport's error and
 * returns -errno.
 */
#define DC_QUIET_DOWN	1	/* no message when cmekd is not running */
#define DC_QUIET_ALL	2	/* no message at all */
int daemon_call(struct json_object *req, struct json_object **reply,
		int quiet);
/* Same, waiting at most @timeout_ms for the reply: -ETIMEDOUT then. */
#define DAEMON_TIMEOUT_MS	120000	/* format, open, rewrap call a KMS */
int daemon_call_timeout(struct json_object *req, struct json_object **reply,
			int quiet, int timeout_ms);
struct json_object *daemon_req(const char *op);
void jadd_str(struct json_object *o, const char *k, const char *v);
const char *jget_str(struct json_object *o, const char *k);

#endif
