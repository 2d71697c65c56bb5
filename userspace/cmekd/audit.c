// SPDX-License-Identifier: GPL-2.0
/*
 * The audit trail: one line per key operation (format, open, push, revoke,
 * shred, rewrap, lock, unlock, refused client) to syslog LOG_AUTHPRIV and
 * stderr, with volume uuid, name, provider and key reference, the peer's pid
 * when a client asked, and the result. Never key bytes. Fields the disk or
 * a client chose are escaped (escape.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cmekd.h"
#include "escape.h"
#include "log.h"

#define WORD	(CMEK_ESC_QUOTE | CMEK_ESC_SPACE)

void audit_op(struct daemon *d, const char *op, const struct vol *v,
	      const char *provider, const char *key_ref, const char *uuid,
	      int result, const char *fmt, ...)
{
	char detail[1600] = "", peer[32] = "";
	char prov_e[CMEK_ESC_SIZE(CMEK_VOL_PROVIDER_MAX)];
	char key_e[CMEK_ESC_SIZE(CMEK_VOL_KEYREF_MAX)];
	char name_e[CMEK_ESC_SIZE(CMEKD_NAME_MAX)];
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
	/*
	 * The header's provider and key reference are the writer of the disk's
	 * choice: a quote, a space or a newline there must not forge a field
	 * or a line.
	 */
	if (provider && *provider)
		provider = cmek_escape(provider, prov_e, sizeof(prov_e), WORD);
	if (key_ref && *key_ref)
		key_ref = cmek_escape(key_ref, key_e, sizeof(key_e), WORD);
	cmek_escape(v ? v->name : "", name_e, sizeof(name_e), WORD);
	if (d && d->peer_pid > 0)
		snprintf(peer, sizeof(peer), " peer_pid=%d", (int)d->peer_pid);
	cmek_audit("op=%s uuid=%s name=%s provider=%s key=%s result=%s%s%s%s",
		   op, uuid && *uuid ? uuid : "-",
		   name_e[0] ? name_e : "-",
		   provider && *provider ? provider : "-",
		   key_ref && *key_ref ? key_ref : "-",
		   result ? "fail" : "ok", peer, detail[0] ? " " : "", detail);
}

const char *audit_q(const char *s)
{
	static __thread char buf[CMEK_ESC_SIZE(2048)];

	return cmek_printable(s ? s : "", buf, sizeof(buf));
}
