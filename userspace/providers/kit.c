// SPDX-License-Identifier: GPL-2.0
/*
 * The providers' shared toolkit: see kit.h.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "b64.h"
#include "config.h"
#include "http.h"
#include "kit.h"
#include "secjson.h"

int cmek_kit_secret_read(const char *who, const char *path, char *buf,
			 size_t size, size_t *len, struct cmek_error *err)
{
	char why[CMEK_ERRMSG_MAX];
	size_t got = 0;
	ssize_t n = 0;
	int fd;

	fd = cmek_open_secret_file(path, geteuid(), why, sizeof(why));
	if (fd < 0) {
		OPENSSL_cleanse(buf, size);
		return cmek_error_set(err, CMEK_ERR_INVALID, "%s: %s", who, why);
	}
	/* One byte more than fits tells "too large" from "just fits". */
	while (got < size) {
		n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (n < 0 || got >= size) {
		OPENSSL_cleanse(buf, size);
		if (n < 0)
			return cmek_error_set(err, CMEK_ERR_INVALID,
					      "%s: cannot read credentials file %s",
					      who, path);
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "%s: credentials file %s is larger than %zu bytes",
				      who, path, size - 1);
	}
	while (got && isspace((unsigned char)buf[got - 1]))
		got--;
	buf[got] = '\0';
	if (!got)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "%s: credentials file %s is empty", who,
				      path);
	if (len)
		*len = got;
	return 0;
}

void cmek_kit_clean(char *dst, size_t len, const char *src, size_t n)
{
	bool space = false;
	size_t i, o = 0;

	if (!len)
		return;
	for (i = 0; src && i < n && src[i] && o + 1 < len; i++) {
		unsigned char c = (unsigned char)src[i];

		if (isspace(c)) {
			space = o > 0;
			continue;
		}
		if (space && o + 2 < len)
			dst[o++] = ' ';
		space = false;
		dst[o++] = isprint(c) ? (char)c : '?';
	}
	dst[o] = '\0';
}

void cmek_kit_withhold(struct cmek_error *err, const char *const *secrets,
		       size_t n)
{
	static const char mark[] = "[redacted]";
	char buf[CMEK_ERRMSG_MAX], *p;
	size_t i, sl;

	for (i = 0; err && i < n; i++) {
		if (!secrets[i])
			continue;
		sl = strlen(secrets[i]);
		if (sl < 4)
			continue;
		while ((p = strstr(err->msg, secrets[i]))) {
			snprintf(buf, sizeof(buf), "%.*s%s%s",
				 (int)(p - err->msg), err->msg, mark, p + sl);
			memcpy(err->msg, buf, sizeof(err->msg));
		}
	}
	OPENSSL_cleanse(buf, sizeof(buf));
}

struct json_object *cmek_kit_json_answer(const char *who, const char *body,
					 size_t len, struct cmek_error *err)
{
	enum json_tokener_error jerr = json_tokener_success;
	struct json_object *o;

	if (!body || !len || len > CMEK_HTTP_BODY_MAX) {
		if (err)
			cmek_error_set(err, CMEK_ERR_TRANSIENT,
				       "%s: malformed answer: empty or too large",
				       who);
		return NULL;
	}
	o = cmek_json_parse_secret(body, len, CMEK_KIT_JSON_DEPTH, &jerr);
	if (o && !json_object_is_type(o, json_type_object)) {
		cmek_json_put_wiped(o);
		if (err)
			cmek_error_set(err, CMEK_ERR_TRANSIENT,
				       "%s: malformed answer: not a JSON object",
				       who);
		return NULL;
	}
	if (!o && err) {
		if (jerr == json_tokener_success)
			cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
		else
			cmek_error_set(err, CMEK_ERR_TRANSIENT,
				       "%s: malformed answer: not JSON (%s)",
				       who, json_tokener_error_desc(jerr));
	}
	return o;
}

uint8_t *cmek_kit_json_b64(struct json_object *o, const char *key,
			   size_t min, size_t max, size_t *len,
			   char *why, size_t whylen)
{
	struct json_object *v;
	uint8_t *d;
	size_t n;

	if (!json_object_object_get_ex(o, key, &v)) {
		snprintf(why, whylen, "is missing");
		return NULL;
	}
	if (!json_object_is_type(v, json_type_string)) {
		snprintf(why, whylen, "is not a string");
		return NULL;
	}
	n = (size_t)json_object_get_string_len(v);
	/* Longer text cannot decode to @max bytes: refuse before decoding. */
	if (n > (max + 2) / 3 * 4) {
		snprintf(why, whylen, "is too long (at most %zu bytes)", max);
		return NULL;
	}
	d = cmek_b64_decode(json_object_get_string(v), n, false, len);
	if (!d) {
		snprintf(why, whylen, "is not valid base64");
		return NULL;
	}
	if (*len < min || *len > max) {
		if (min == max)
			snprintf(why, whylen, "is %zu bytes, expected %zu",
				 *len, min);
		else
			snprintf(why, whylen, "is %zu bytes, expected %zu to %zu",
				 *len, min, max);
		OPENSSL_cleanse(d, *len);
		free(d);
		return NULL;
	}
	return d;
}

void cmek_kit_token_drop(struct cmek_kit_token *t)
{
	if (t->value) {
		OPENSSL_cleanse(t->value, strlen(t->value));
		free(t->value);
	}
	t->value = NULL;
	t->refresh_ms = 0;
}

bool cmek_kit_token_fresh(const struct cmek_kit_token *t)
{
	return t->value && cmek_http_now_ms() < t->refresh_ms;
}

/* A JSON number, or a decimal string; -1 if neither. */
static long long json_count(struct json_object *o, const char *key)
{
	struct json_object *v;
	const char *s;
	long long n;
	char *end;

	if (!json_object_object_get_ex(o, key, &v))
		return -1;
	if (json_object_is_type(v, json_type_int))
		return (long long)json_object_get_int64(v);
	if (!json_object_is_type(v, json_type_string))
		return -1;
	s = json_object_get_string(v);
	errno = 0;
	n = strtoll(s, &end, 10);
	return errno || end == s || *end ? -1 : n;
}

int cmek_kit_token_take(struct cmek_kit_token *t, const char *who,
			const struct cmek_http_resp *resp,
			struct cmek_error *err)
{
	static const char b64token[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				       "abcdefghijklmnopqrstuvwxyz0123456789"
				       "-._~+/=";
	struct json_object *o;
	const char *at, *type;
	long long life;
	long margin;
	size_t n;
	int ret = -1;

	o = cmek_kit_json_answer(who, resp->body, resp->len, NULL);
	if (!o) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT,
			       "%s: malformed token answer: not a JSON object",
			       who);
		goto out;
	}
	at = cmek_json_str(o, "access_token");
	type = cmek_json_str(o, "token_type");
	life = json_count(o, "expires_in");
	n = at ? strlen(at) : 0;
	if (!n || n > CMEK_KIT_TOKEN_MAX || strspn(at, b64token) != n) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT,
			       "%s: malformed token answer: access_token missing or malformed (it goes into a header)",
			       who);
		goto out;
	}
	if (!type || strcasecmp(type, "Bearer")) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT,
			       "%s: malformed token answer: token_type is not Bearer",
			       who);
		goto out;
	}
	/* Up to a week: Entra ID's long-lived (CAE) tokens run past a day. */
	if (life <= 0 || life > 7 * 86400) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT,
			       "%s: malformed token answer: expires_in missing or out of range",
			       who);
		goto out;
	}
	cmek_kit_token_drop(t);
	t->value = strndup(at, n);
	if (!t->value) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
		goto out;
	}
	margin = life * 500 < CMEK_KIT_TOKEN_MARGIN_MS ? (long)life * 500 :
		 CMEK_KIT_TOKEN_MARGIN_MS;
	t->refresh_ms = cmek_http_now_ms() + life * 1000 - margin;
	ret = 0;
out:
	cmek_json_put_wiped(o);
	return ret;
}

int cmek_kit_token_header(const struct cmek_kit_token *t, char *hdr,
			  size_t len, struct cmek_error *err)
{
	if (!t->value ||
	    snprintf(hdr, len, "Authorization: Bearer %s", t->value) >= (int)len)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "access token missing or too long");
	return 0;
}

int cmek_kit_bearer_call(const struct cmek_http_opts *o,
			 struct cmek_http_req *r, cmek_kit_auth_fn auth,
			 void *ctx, struct cmek_http_resp *resp,
			 struct cmek_error *err)
{
	char hdr[CMEK_KIT_TOKEN_MAX + 32];
	size_t n = r->nheaders;
	int i, ret = -1;

	if (n >= CMEK_HTTP_HEADERS_MAX)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "too many request headers");
	for (i = 0; i < 2; i++) {
		ret = auth(ctx, i > 0, hdr, sizeof(hdr), err);
		if (ret)
			break;
		r->headers[n] = hdr;
		r->nheaders = n + 1;
		ret = cmek_http_call(o, r, resp, err);
		OPENSSL_cleanse(hdr, sizeof(hdr));
		if (ret || resp->status != 401)
			break;
	}
	r->nheaders = n;
	return ret;
}
