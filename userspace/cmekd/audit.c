// SPDX-License-Identifier: GPL-2.0
/*
 * The audit trail: one line per key operation (format, open, push, revoke,
 * shred, rewrap, lock, unlock, refused client) to syslog LOG_AUTHPRIV and
 * stderr, with volume uuid, name, provider and key reference, the peer's pid
 * when a client asked, and the result. Never key bytes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cmekd.h"
#include "log.h"

void audit_op(struct daemon *d, const char *op, const struct vol *v,
	      const char *provider, const char *key_ref, const char *uuid,
	      int result, const char *fmt, ...)
{
	char detail[1600] = "", peer[32] = "";
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(detail, sizeof(detail), fmt, ap);
		va_end(ap);
	}
	if (v) {
		provider = provider ? provider : v->provider;
		key_ref = key_ref ? key_ref : v->key_ref;
		uuid = uuid ? uuid : v->uuid;
	}
	if (d && d->peer_pid > 0)
		snprintf(peer, sizeof(peer), " peer_pid=%d", (int)d->peer_pid);
	cmek_audit("op=%s uuid=%s name=%s provider=%s key=%s result=%s%s%s%s",
		   op, uuid && *uuid ? uuid : "-",
		   v && v->name[0] ? v->name : "-",
		   provider && *provider ? provider : "-",
		   key_ref && *key_ref ? key_ref : "-",
		   result ? "fail" : "ok", peer, detail[0] ? " " : "", detail);
}
