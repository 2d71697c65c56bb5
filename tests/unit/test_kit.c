// SPDX-License-Identifier: GPL-2.0
/*
 * kit.h, the providers' shared toolkit: the credentials-file rules, the
 * cleaning of server text, the withholding of secrets, the JSON answer
 * parser and the base64 members.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kit.h"
#include "secjson.h"
#include "../lib/tap.h"

static char dir[] = "/tmp/cmek-test-kit-XXXXXX";

static const char *file(const char *name, const char *text, mode_t mode)
{
	static char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		tap_diag("cannot write %s", path);
	if (fd >= 0)
		close(fd);
	chmod(path, mode);
	return path;
}

static bool zeroed(const char *s, size_t n)
{
	while (n--)
		if (*s++)
			return false;
	return true;
}

static void test_secret_read(void)
{
	struct cmek_error err = { 0 };
	char buf[16], link[PATH_MAX];
	const char *p;
	size_t len = 0;
	int r;

	p = file("ok", "s3cret\n\n", 0600);
	r = cmek_kit_secret_read("test", p, buf, sizeof(buf), &len, &err);
	tap_ok(r == 0 && !strcmp(buf, "s3cret") && len == 6,
	       "a 0600 file of ours: read, the trailing newlines cut: %s",
	       err.msg);
	p = file("ro", "  tok en ", 0400);
	r = cmek_kit_secret_read("test", p, buf, sizeof(buf), NULL, &err);
	tap_ok(r == 0 && !strcmp(buf, "  tok en"),
	       "0400 too; white space inside and in front is kept");

	p = file("group", "s3cret", 0640);
	memset(buf, 'x', sizeof(buf));
	r = cmek_kit_secret_read("test", p, buf, sizeof(buf), NULL, &err);
	tap_ok(r < 0 && err.cls == CMEK_ERR_INVALID &&
	       !strncmp(err.msg, "test: ", 6) && strstr(err.msg, "chmod 600") &&
	       zeroed(buf, sizeof(buf)),
	       "readable by group: refused, buffer wiped: %s", err.msg);

	p = file("theirs", "s3cret", 0600);
	if (geteuid() == 0 && chown(p, 65534, 65534) == 0) {
		r = cmek_kit_secret_read("test", p, buf, sizeof(buf), NULL,
					 &err);
		tap_ok(r < 0 && strstr(err.msg, "owned by uid 65534"),
		       "owned by another uid: refused: %s", err.msg);
	} else {
		/* Not root: the file is someone else's only if root's. */
		r = cmek_kit_secret_read("test", "/etc/shadow", buf,
					 sizeof(buf), NULL, &err);
		tap_ok(r < 0, "a file of another uid: refused: %s", err.msg);
	}

	p = file("target", "s3cret", 0600);
	snprintf(link, sizeof(link), "%s/link", dir);
	unlink(link);
	r = symlink(p, link);
	r = r ? r : cmek_kit_secret_read("test", link, buf, sizeof(buf), NULL,
					 &err);
	tap_ok(r < 0 && strstr(err.msg, "symbolic links are refused"),
	       "a symbolic link: refused: %s", err.msg);

	r = cmek_kit_secret_read("test", dir, buf, sizeof(buf), NULL, &err);
	tap_ok(r < 0 && strstr(err.msg, "not a regular file"),
	       "a directory: refused: %s", err.msg);

	p = file("big", "0123456789abcdef", 0600);
	memset(buf, 'x', sizeof(buf));
	r = cmek_kit_secret_read("test", p, buf, sizeof(buf), NULL, &err);
	tap_ok(r < 0 && strstr(err.msg, "larger than 15 bytes") &&
	       zeroed(buf, sizeof(buf)),
	       "one byte over the cap: refused, buffer wiped: %s", err.msg);
	p = file("fits", "0123456789abcde", 0600);
	r = cmek_kit_secret_read("test", p, buf, sizeof(buf), &len, &err);
	tap_ok(r == 0 && len == 15, "exactly the cap: read");

	p = file("blank", " \n", 0600);
	r = cmek_kit_secret_read("test", p, buf, sizeof(buf), NULL, &err);
	tap_ok(r < 0 && strstr(err.msg, "is empty"),
	       "only white space: refused: %s", err.msg);
}

static void test_clean(void)
{
	char out[16];

	cmek_kit_clean(out, sizeof(out), "  a\r\nb\t\x01z ", SIZE_MAX);
	tap_ok(!strcmp(out, "a b ?z"),
	       "clean: one line, white space folded, control bytes '?': '%s'",
	       out);
	cmek_kit_clean(out, sizeof(out), "abcdefghijklmnopqrstuvwxyz",
		       SIZE_MAX);
	tap_ok(strlen(out) == sizeof(out) - 1, "clean: bounded by the buffer");
	cmek_kit_clean(out, sizeof(out), "abcdef", 3);
	tap_ok(!strcmp(out, "abc"), "clean: bounded by the source length");
	cmek_kit_clean(out, sizeof(out), NULL, SIZE_MAX);
	tap_ok(!out[0], "clean: NULL gives the empty string");
}

static void test_withhold(void)
{
	struct cmek_error err = { 0 };
	const char *secrets[] = { "hunter22", NULL, "abc", "T0KEN" };

	snprintf(err.msg, sizeof(err.msg),
		 "denied: hunter22 and T0KEN, hunter22 again; abc stays");
	cmek_kit_withhold(&err, secrets, 4);
	tap_ok(!strcmp(err.msg, "denied: [redacted] and [redacted], "
		       "[redacted] again; abc stays"),
	       "withhold: each occurrence, short ones left: %s", err.msg);
	cmek_kit_withhold(NULL, secrets, 4);
	tap_ok(1, "withhold: a NULL error is passed over");
}

static void test_json(void)
{
	struct cmek_error err = { 0 };
	struct json_object *o;
	char deep[64], why[80];
	uint8_t *d;
	size_t len = 0;
	int i;

	o = cmek_kit_json_answer("t", "{\"a\":\"AAEC\",\"b\":\"AAECAwQF\"}",
				 27, &err);
	tap_ok(o != NULL, "json: an object");
	d = o ? cmek_kit_json_b64(o, "a", 1, 3, &len, why, sizeof(why)) : NULL;
	tap_ok(d && len == 3 && d[2] == 2, "b64: decoded");
	free(d);
	d = o ? cmek_kit_json_b64(o, "a", 4, 8, &len, why, sizeof(why)) : NULL;
	tap_ok(!d && !strcmp(why, "is 3 bytes, expected 4 to 8"),
	       "b64: out of range: %s", why);
	d = o ? cmek_kit_json_b64(o, "b", 1, 2, &len, why, sizeof(why)) : NULL;
	tap_ok(!d && strstr(why, "too long"), "b64: too long text: %s", why);
	d = o ? cmek_kit_json_b64(o, "c", 1, 2, &len, why, sizeof(why)) : NULL;
	tap_ok(!d && !strcmp(why, "is missing"), "b64: absent: %s", why);
	cmek_json_put_wiped(o);

	o = cmek_kit_json_answer("t", "[1]", 3, &err);
	tap_ok(!o && err.cls == CMEK_ERR_TRANSIENT &&
	       !strcmp(err.msg, "t: malformed answer: not a JSON object"),
	       "json: an array refused: %s", err.msg);
	o = cmek_kit_json_answer("t", "{\"a\":1} x", 9, &err);
	tap_ok(!o && strstr(err.msg, "not JSON"),
	       "json: trailing bytes refused: %s", err.msg);
	o = cmek_kit_json_answer("t", "", 0, &err);
	tap_ok(!o && strstr(err.msg, "empty"), "json: empty refused");

	/* The object and CMEK_KIT_JSON_DEPTH arrays in it: one too many. */
	snprintf(deep, sizeof(deep), "{\"a\":");
	for (i = 5; i < 5 + CMEK_KIT_JSON_DEPTH; i++)
		deep[i] = '[';
	for (; i < 5 + 2 * CMEK_KIT_JSON_DEPTH; i++)
		deep[i] = ']';
	deep[i++] = '}';
	deep[i] = '\0';
	o = cmek_kit_json_answer("t", deep, strlen(deep), NULL);
	tap_ok(!o, "json: nesting deeper than %d refused",
	       CMEK_KIT_JSON_DEPTH);
}

static int take(struct cmek_kit_token *t, const char *body,
		struct cmek_error *err)
{
	struct cmek_http_resp resp = { .status = 200 };

	resp.body = (char *)body;
	resp.len = strlen(body);
	return cmek_kit_token_take(t, "idp", &resp, err);
}

static void test_token(void)
{
	struct cmek_kit_token t = { 0 };
	struct cmek_error err = { 0 };
	char hdr[64];
	long now;
	int r;

	now = cmek_http_now_ms();
	r = take(&t, "{\"access_token\":\"ya29.a-b_c\",\"token_type\":"
		 "\"bearer\",\"expires_in\":3600}", &err);
	tap_ok(r == 0 && t.value && !strcmp(t.value, "ya29.a-b_c") &&
	       t.refresh_ms >= now + 3600000 - CMEK_KIT_TOKEN_MARGIN_MS &&
	       t.refresh_ms <= cmek_http_now_ms() + 3600000 -
			       CMEK_KIT_TOKEN_MARGIN_MS &&
	       cmek_kit_token_fresh(&t),
	       "token: an hour's token is renewed 5 minutes early: %s",
	       err.msg);
	tap_ok(!cmek_kit_token_header(&t, hdr, sizeof(hdr), &err) &&
	       !strcmp(hdr, "Authorization: Bearer ya29.a-b_c"),
	       "token: the header");
	now = cmek_http_now_ms();
	r = take(&t, "{\"access_token\":\"abc\",\"token_type\":\"Bearer\","
		 "\"expires_in\":\"60\"}", &err);
	tap_ok(r == 0 && t.refresh_ms >= now + 30000 &&
	       t.refresh_ms <= cmek_http_now_ms() + 30000,
	       "token: expires_in as a string; a minute's token halfway");
	r = take(&t, "{\"access_token\":\"a\\r\\nX-Evil: 1\",\"token_type\":"
		 "\"Bearer\",\"expires_in\":60}", &err);
	tap_ok(r < 0 && err.cls == CMEK_ERR_TRANSIENT &&
	       strstr(err.msg, "header") && t.value && !strcmp(t.value, "abc"),
	       "token: CR LF refused, the old token kept: %s", err.msg);
	r = take(&t, "{\"access_token\":\"abc\",\"token_type\":\"mac\","
		 "\"expires_in\":60}", &err);
	tap_ok(r < 0 && strstr(err.msg, "not Bearer"),
	       "token: not Bearer refused: %s", err.msg);
	r = take(&t, "{\"access_token\":\"abc\",\"token_type\":\"Bearer\","
		 "\"expires_in\":0}", &err);
	tap_ok(r < 0 && strstr(err.msg, "expires_in"),
	       "token: expires_in 0 refused: %s", err.msg);
	cmek_kit_token_drop(&t);
	tap_ok(!t.value && !cmek_kit_token_fresh(&t) &&
	       cmek_kit_token_header(&t, hdr, sizeof(hdr), &err) < 0,
	       "token: dropped, not fresh, no header");
}

static void cleanup(void)
{
	static const char *const names[] = {
		"ok", "ro", "group", "theirs", "target", "link", "big", "fits",
		"blank",
	};
	char path[PATH_MAX];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

int main(void)
{
	tap_plan(31);
	if (!mkdtemp(dir)) {
		tap_diag("mkdtemp failed");
		return 1;
	}
	test_secret_read();
	test_clean();
	test_withhold();
	test_json();
	test_token();
	cleanup();
	return tap_done();
}
