/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What every KMS provider does the same way: read a credentials file, quote
 * a server's text in an error message, keep secrets out of messages, parse
 * a JSON answer and decode its base64 members. A provider holds only what
 * is particular to its KMS.
 *
 * @who is the provider's name ("aws-kms"), put in front of each message.
 */
#ifndef CMEK_KIT_H
#define CMEK_KIT_H

#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#include "http.h"
#include "provider.h"

/* Deeper than any KMS answer nests; bounds json-c's recursion. */
#define CMEK_KIT_JSON_DEPTH	16

/*
 * Read credentials file @path into @buf (@size bytes with the NUL), under
 * the rules of cmek_check_secret_file() for the effective uid: no symbolic
 * link, a regular file, owned by us, no access for group or others. The
 * file holds at most @size - 1 bytes; trailing white space (the newline an
 * editor adds) is cut. Empty is an error. On error @buf is wiped. 0 (with
 * @len, which may be NULL) or -1 with @err set (INVALID).
 */
int cmek_kit_secret_read(const char *who, const char *path, char *buf,
			 size_t size, size_t *len, struct cmek_error *err);

/*
 * Copy up to @n bytes of server text @src (may be NULL) into @dst (@len
 * bytes) for an error message: printable ASCII on one line, runs of white
 * space as one space, anything else '?', no space at either end; so that
 * an answer can neither forge log lines nor flood them.
 */
void cmek_kit_clean(char *dst, size_t len, const char *src, size_t n);

static inline void cmek_kit_clean_str(char *dst, size_t len, const char *src)
{
	cmek_kit_clean(dst, len, src, SIZE_MAX);
}

/*
 * Replace every occurrence in @err's message of each of the @n secrets
 * (NULL and those shorter than 4 bytes are passed over) with "[redacted]",
 * whatever put it there (a proxy echoing a header).
 */
void cmek_kit_withhold(struct cmek_error *err, const char *const *secrets,
		       size_t n);

/*
 * Parse a whole answer of @len bytes, which may hold a key or a token
 * (cmek_json_parse_secret(): put it with cmek_json_put_wiped()), and must
 * be a JSON object. NULL if not; then, when @err is not NULL, a TRANSIENT
 * "@who: malformed answer: ..." message.
 */
struct json_object *cmek_kit_json_answer(const char *who, const char *body,
					 size_t len, struct cmek_error *err);

/*
 * Decode base64 member @key of @o, @min to @max bytes, into a new buffer
 * (wipe it before free). NULL with @why ("is missing", "is not a string",
 * "is not valid base64", "is N bytes, expected ...") if not.
 */
uint8_t *cmek_kit_json_b64(struct json_object *o, const char *key,
			   size_t min, size_t max, size_t *len,
			   char *why, size_t whylen);

/* ---- OAuth2 bearer tokens (azure-kv, gcp-kms) ---- */

#define CMEK_KIT_TOKEN_MAX	8192
/*
 * Fetch anew halfway through a token's life, at most this early: a token
 * is never used in its last minutes, when clocks and queues could let it
 * expire on the way.
 */
#define CMEK_KIT_TOKEN_MARGIN_MS	(5 * 60 * 1000L)

struct cmek_kit_token {
	char *value;		/* NULL = none; wiped on drop */
	long refresh_ms;	/* cmek_http_now_ms(): fetch anew after */
};

void cmek_kit_token_drop(struct cmek_kit_token *t);
bool cmek_kit_token_fresh(const struct cmek_kit_token *t);

/*
 * Take a token answer {"access_token", "token_type": "Bearer",
 * "expires_in": N} (N a number or a decimal string, as Azure's IMDS sends
 * it) into @t, replacing what it held. The token goes into a header, so it
 * must be an RFC 6750 b64token of at most CMEK_KIT_TOKEN_MAX bytes. 0, or
 * -1 with a TRANSIENT "@who: malformed token answer: ..." in @err.
 */
int cmek_kit_token_take(struct cmek_kit_token *t, const char *who,
			const struct cmek_http_resp *resp,
			struct cmek_error *err);

/* "Authorization: Bearer <token>" into @hdr. */
int cmek_kit_token_header(const struct cmek_kit_token *t, char *hdr,
			  size_t len, struct cmek_error *err);

/*
 * Put the Authorization header into @hdr (@len bytes): from the cache, or
 * a new token when @fresh (the last one got a 401) or the cache is stale.
 */
typedef int (*cmek_kit_auth_fn)(void *ctx, bool fresh, char *hdr, size_t len,
				struct cmek_error *err);

/*
 * cmek_http_call() of @r with an Authorization header from @auth. A 401
 * means the token expired or was revoked early: a fresh one, and one more
 * try. 0 with whatever answer came (a second 401 included), -1 with @err.
 */
int cmek_kit_bearer_call(const struct cmek_http_opts *o,
			 struct cmek_http_req *r, cmek_kit_auth_fn auth,
			 void *ctx, struct cmek_http_resp *resp,
			 struct cmek_error *err);

#endif /* CMEK_KIT_H */
