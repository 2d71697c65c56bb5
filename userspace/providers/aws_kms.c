// SPDX-License-Identifier: GPL-2.0
/*
 * The "aws-kms" provider: AWS KMS through its JSON 1.1 protocol
 * (POST / with X-Amz-Target: TrentService.<Op>), signed by libcurl's
 * built-in SigV4.
 *
 *   generate  GenerateDataKey, NumberOfBytes = dek_len: KMS makes the DEK
 *   wrap      Encrypt of a given DEK
 *   unwrap    Decrypt, with KeyId the key ARN the slot records (an alias
 *             moves; the key that made the blob does not), so that a
 *             blob of another key is refused
 *   rewrap    ReEncrypt: the plaintext never leaves KMS (same region only;
 *             across regions Decrypt + Encrypt in locked memory)
 *   key_state DescribeKey, KeyMetadata.KeyState
 *   slot_state DescribeKey of the key ARN the slot records
 *
 * Every call binds the DEK to the volume with the encryption context
 * {"cmek:volume": "<uuid>"}. The wrapped key is the CiphertextBlob after
 * the key ARN it was made under (cmek_slot_prefix(): an alias names a
 * key only for a while); a bare CiphertextBlob, as older slots hold, is
 * still taken.
 *
 * unwrap is one Decrypt and nothing more: an open costs one KMS call, and
 * AWS refuses Decrypt under a disabled or pending-deletion key by itself
 * (DisabledException, KMSInvalidStateException: definitive). The watch
 * asks DescribeKey about the slot's key, whose KeyState drives lock and
 * unlock. For servers
 * that keep decrypting under disabled keys (moto), unwrap_checks_state
 * makes unwrap ask DescribeKey first.
 *
 * Credentials: the provider's config (credentials_file + profile, or
 * access_key_id + secret_access_key_file), else the environment, else the
 * instance metadata service (IMDSv2), refreshed before they expire. They
 * live in locked, non-dumpable pages and are wiped when dropped; no error
 * message ever carries the secret or the session token.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "aws_kms.h"
#include "b64.h"
#include "config.h"
#include "http.h"
#include "kit.h"
#include "secjson.h"
#include "secmem.h"

#define AWS_CT			"Content-Type: application/x-amz-json-1.1"
#define AWS_KEY_REF_MAX		2048
#define AWS_AKID_MAX		128
#define AWS_SECRET_MAX		128
#define AWS_TOKEN_MAX		4096
#define AWS_REFRESH_SECS	300	/* renew IMDS credentials this early */
#define AWS_IMDS_DEFAULT	"http://169.254.169.254"
#define AWS_IMDS_TTL		"21600"
#define AWS_FILE_MAX		16384	/* credentials files we read */

struct aws_creds {
	char akid[AWS_AKID_MAX];
	char secret[AWS_SECRET_MAX];
	char token[AWS_TOKEN_MAX];
	time_t expires;			/* 0: does not expire */
	const char *source;		/* for messages */
	bool valid;
};

/* What one request needs of the credentials, in a locked page too. */
struct aws_call {
	struct aws_creds c;
	char userpwd[AWS_AKID_MAX + AWS_SECRET_MAX + 2];
	char token_hdr[AWS_TOKEN_MAX + 32];
};

struct aws_priv {
	struct cmek_http_opts http;
	char region[CMEK_AWS_REGION_MAX + 1];
	char endpoint[512];
	char credentials_file[512];
	char profile[128];
	char access_key_id[AWS_AKID_MAX];
	char secret_file[512];
	char token_file[512];
	char imds_endpoint[256];
	bool imds;
	bool unwrap_checks_state;

	pthread_mutex_t lock;		/* over creds */
	struct aws_creds *creds;	/* cache, locked memory */
};

/* ---- wiping ---- */

static void wipe_free(void *p, size_t n)
{
	if (!p)
		return;
	OPENSSL_cleanse(p, n);
	free(p);
}

static void wipe_str(char *s)
{
	if (s)
		wipe_free(s, strlen(s));
}

/* ---- small parsers ---- */

static bool all_of(const char *s, size_t n, const char *set)
{
	return strspn(s, set) == n;
}

#define HEX		"0123456789abcdefABCDEF"
#define ALNUM		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

static bool region_valid(const char *r)
{
	size_t n = strlen(r);

	return n && n <= CMEK_AWS_REGION_MAX && isalpha((unsigned char)*r) &&
	       all_of(r, n, "abcdefghijklmnopqrstuvwxyz0123456789-");
}

static bool key_id_valid(const char *s)
{
	size_t n = strlen(s), i;

	/* multi-Region keys: "mrk-" and 32 hex digits */
	if (n == 32 + 4 && !strncmp(s, "mrk-", 4))
		return all_of(s + 4, 32, HEX);
	if (n != 36)
		return false;
	for (i = 0; i < n; i++)
		if ((i == 8 || i == 13 || i == 18 || i == 23) ?
		    s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

static bool alias_name_valid(const char *s)
{
	size_t n = strlen(s);

	return !strncmp(s, "alias/", 6) && n > 6 && n <= 256 &&
	       all_of(s, n, ALNUM "/_-");
}

/* arn:PARTITION:kms:REGION:ACCOUNT:key/ID or :alias/NAME */
static bool arn_parse(const char *ref, char *region, size_t len)
{
	const char *f[6], *p = ref;
	size_t n;
	int i;

	for (i = 0; i < 6; i++) {
		f[i] = p;
		p = i < 5 ? strchr(p, ':') : p;
		if (!p)
			return false;
		if (i < 5)
			p++;
	}
	n = (size_t)(f[2] - f[1] - 1);
	if (strncmp(f[0], "arn:", 4) || !n ||
	    !all_of(f[1], n, "abcdefghijklmnopqrstuvwxyz-") ||
	    strncmp(f[2], "kms:", 4))
		return false;
	n = (size_t)(f[4] - f[3] - 1);
	if (!n || n >= len || n > CMEK_AWS_REGION_MAX)
		return false;
	memcpy(region, f[3], n);
	region[n] = '\0';
	if (!region_valid(region) || f[5] - f[4] - 1 != 12 ||
	    !all_of(f[4], 12, "0123456789"))
		return false;
	if (!strncmp(f[5], "key/", 4))
		return key_id_valid(f[5] + 4);
	return alias_name_valid(f[5]);
}

/* arn:PARTITION:kms:REGION:ACCOUNT:key/ID: one key, never an alias. */
static bool key_arn_valid(const char *s, char *region, size_t len)
{
	const char *k = strstr(s, ":key/");

	return strlen(s) <= AWS_KEY_REF_MAX && k &&
	       all_of(s, strlen(s), ALNUM ":/_-") && arn_parse(s, region, len);
}

int cmek_aws_kms_key_ref(const char *key_ref, char *region, size_t len,
			 struct cmek_error *err)
{
	size_t n = key_ref ? strlen(key_ref) : 0;
	char shown[201];

	if (len)
		region[0] = '\0';
	if (n && n <= AWS_KEY_REF_MAX && all_of(key_ref, n, ALNUM ":/_-")) {
		if (!strncmp(key_ref, "arn:", 4) && arn_parse(key_ref, region,
							      len))
			return 0;
		if (len)
			region[0] = '\0';
		if (!strncmp(key_ref, "alias/", 6) ? alias_name_valid(key_ref) :
		    key_id_valid(key_ref))
			return 0;
	}
	cmek_kit_clean(shown, sizeof(shown), key_ref ? key_ref : "", n);
	return cmek_error_set(err, CMEK_ERR_INVALID,
			      "aws-kms: key reference '%s' is not a key ARN, alias ARN, key id or alias/NAME",
			      shown);
}

int cmek_aws_kms_key_state_parse(const char *s, enum cmek_kms_key_state *st)
{
	static const struct {
		const char *name;
		enum cmek_kms_key_state st;
	} map[] = {
		{ "Enabled", CMEK_KMS_ENABLED },
		/* a multi-Region key while its primary moves: still usable */
		{ "Updating", CMEK_KMS_ENABLED },
		{ "Disabled", CMEK_KMS_DISABLED },
		/* imported key material missing or expired: unusable until
		 * the owner imports it again, exactly like a disable */
		{ "PendingImport", CMEK_KMS_DISABLED },
		{ "PendingDeletion", CMEK_KMS_PENDING_DELETION },
		{ "PendingReplicaDeletion", CMEK_KMS_PENDING_DELETION },
		/* custom key store disconnected, replica being made: not a
		 * decision of the key's owner about this key; grace applies */
		{ "Unavailable", CMEK_KMS_UNKNOWN },
		{ "Creating", CMEK_KMS_UNKNOWN },
	};
	size_t i;

	for (i = 0; s && i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(s, map[i].name)) {
			*st = map[i].st;
			return 0;
		}
	return -1;
}

/* ---- JSON ---- */

/* A base64 member of @min..@max bytes, decoded into a new buffer. */
static int json_b64(struct json_object *o, const char *key, size_t min,
		    size_t max, uint8_t **out, size_t *len, const char *what,
		    struct cmek_error *err)
{
	char why[80];

	*out = cmek_kit_json_b64(o, key, min, max, len, why, sizeof(why));
	if (!*out)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT,
				      "%s: malformed answer: %s %s", what, key,
				      why);
	return 0;
}

/* ---- errors ---- */

enum {
	AWS_F_CREDS = 1,	/* credentials rejected: read them again */
	AWS_F_EXPIRED = 2,	/* session token expired: refresh, retry once */
	AWS_F_THROTTLE = 4,	/* HTTP 400 but worth another attempt */
	AWS_F_CLOCK = 8,	/* our signature's time refused */
};

static const struct aws_err_row {
	const char *type;
	enum cmek_err_class cls;
	int flags;
	const char *why;
} aws_errs[] = {
	{ "DisabledException", CMEK_ERR_DEFINITIVE, 0, "the key is disabled" },
	{ "KMSInvalidStateException", CMEK_ERR_DEFINITIVE, 0,
	  "the key is pending deletion, pending import or otherwise unusable" },
	{ "NotFoundException", CMEK_ERR_DEFINITIVE, 0,
	  "no such key or alias (deleted?)" },
	{ "AccessDeniedException", CMEK_ERR_DEFINITIVE, 0,
	  "access denied by the key policy, a grant or IAM" },
	{ "AccessDenied", CMEK_ERR_DEFINITIVE, 0,
	  "access denied by the key policy, a grant or IAM" },
	{ "KeyUnavailableException", CMEK_ERR_TRANSIENT, 0,
	  "the key is not available right now; KMS says to retry" },
	{ "KMSInternalException", CMEK_ERR_TRANSIENT, 0, "KMS internal error" },
	{ "InternalFailure", CMEK_ERR_TRANSIENT, 0, "KMS internal error" },
	{ "ServiceUnavailable", CMEK_ERR_TRANSIENT, 0, "KMS unavailable" },
	{ "DependencyTimeoutException", CMEK_ERR_TRANSIENT, 0,
	  "KMS timed out" },
	{ "ThrottlingException", CMEK_ERR_TRANSIENT, AWS_F_THROTTLE,
	  "request rate too high" },
	{ "Throttling", CMEK_ERR_TRANSIENT, AWS_F_THROTTLE,
	  "request rate too high" },
	{ "LimitExceededException", CMEK_ERR_TRANSIENT, AWS_F_THROTTLE,
	  "quota exceeded" },
	{ "ExpiredTokenException", CMEK_ERR_TRANSIENT,
	  AWS_F_EXPIRED | AWS_F_CREDS, "the session token expired" },
	{ "ExpiredToken", CMEK_ERR_TRANSIENT, AWS_F_EXPIRED | AWS_F_CREDS,
	  "the session token expired" },
	{ "InvalidCiphertextException", CMEK_ERR_INVALID, 0,
	  "the wrapped key does not authenticate: corrupted, or another volume's" },
	{ "IncorrectKeyException", CMEK_ERR_INVALID, 0,
	  "the wrapped key was made under another KMS key" },
	{ "InvalidKeyUsageException", CMEK_ERR_INVALID, 0,
	  "the key is not a symmetric ENCRYPT_DECRYPT key" },
	{ "ValidationException", CMEK_ERR_INVALID, 0, "request refused" },
	{ "InvalidArnException", CMEK_ERR_INVALID, 0, "malformed ARN" },
	{ "InvalidGrantTokenException", CMEK_ERR_INVALID, 0,
	  "bad grant token" },
	{ "UnrecognizedClientException", CMEK_ERR_TRANSIENT, AWS_F_CREDS,
	  "credentials rejected: unknown access key id or session token" },
	{ "InvalidClientTokenId", CMEK_ERR_TRANSIENT, AWS_F_CREDS,
	  "credentials rejected: unknown access key id or session token" },
	{ "InvalidSignatureException", CMEK_ERR_TRANSIENT, AWS_F_CREDS,
	  "credentials rejected: wrong secret access key" },
	{ "SignatureDoesNotMatch", CMEK_ERR_TRANSIENT, AWS_F_CREDS,
	  "credentials rejected: wrong secret access key" },
	{ "IncompleteSignature", CMEK_ERR_TRANSIENT, AWS_F_CREDS,
	  "credentials rejected: incomplete signature" },
	{ "MissingAuthenticationTokenException", CMEK_ERR_TRANSIENT, AWS_F_CREDS,
	  "request not signed" },
	{ "RequestExpired", CMEK_ERR_TRANSIENT, AWS_F_CLOCK,
	  "request time out of range: check the system clock" },
};

/* <Code>..</Code> and <Message>..</Message>, wherever they are. */
static void xml_field(const char *body, const char *tag, char *out,
		      size_t len)
{
	char open[32], close[32];
	const char *a, *b;

	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	a = strstr(body, open);
	b = a ? strstr(a, close) : NULL;
	if (a && b)
		cmek_kit_clean(out, len, a + strlen(open),
			   (size_t)(b - a - strlen(open)));
}

/*
 * "com.amazonaws.kms#DisabledException" -> "DisabledException"; a ':'
 * suffix goes too (awsJson1_1: "aws.protocoltests#Foo:http://...").
 */
static void error_parse(const char *body, char *type, size_t tlen, char *msg,
			size_t mlen)
{
	struct json_object *o;
	const char *t, *m, *p = body;
	char raw[128] = "";

	type[0] = msg[0] = '\0';
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '<') {
		xml_field(p, "Code", raw, sizeof(raw));
		xml_field(p, "Message", msg, mlen);
	} else if (*p == '{' &&
		   (o = cmek_kit_json_answer("aws-kms", body, strlen(body),
					     NULL))) {
		t = cmek_json_str(o, "__type");
		if (!t)
			t = cmek_json_str(o, "code");
		m = cmek_json_str(o, "message");
		if (!m)
			m = cmek_json_str(o, "Message");
		if (t)
			cmek_kit_clean(raw, sizeof(raw), t, strlen(t));
		if (m)
			cmek_kit_clean(msg, mlen, m, strlen(m));
		json_object_put(o);
	}
	t = strrchr(raw, '#');
	t = t ? t + 1 : raw;
	cmek_kit_clean(type, tlen, t, strcspn(t, ":"));
}

static const struct aws_err_row *error_row(const char *type)
{
	size_t i;

	for (i = 0; *type && i < sizeof(aws_errs) / sizeof(aws_errs[0]); i++)
		if (!strcmp(type, aws_errs[i].type))
			return &aws_errs[i];
	return NULL;
}

/* Class and message of an error answer whose code @t and text @m are parsed. */
static enum cmek_err_class error_class(long status, const char *t,
				       const char *m, struct cmek_error *err)
{
	const struct aws_err_row *row;
	enum cmek_err_class cls;

	row = error_row(t);
	if (row)
		cls = row->cls;
	else
		cls = CMEK_ERR_TRANSIENT;	/* not KMS's own answer */
	cmek_error_set(err, cls, "HTTP %ld %s%s%s%s(%s)", status,
		       *t ? t : "(no error code)", *m ? ": " : "", m,
		       *m ? " " : " ",
		       row && row->why ? row->why :
		       cmek_http_status_transient(status) ? "KMS unavailable" :
		       "not an answer from KMS (a proxy or firewall on the way?)");
	/* cmekd's own credential refused: alarmed, not a revocation. */
	if (err && row && (row->flags & (AWS_F_CREDS | AWS_F_CLOCK)))
		err->credential = true;
	return cls;
}

enum cmek_err_class cmek_aws_kms_error(long status, const char *body,
				       char *type, size_t type_len,
				       struct cmek_error *err)
{
	char t[64], m[256];

	error_parse(body ? body : "", t, sizeof(t), m, sizeof(m));
	if (type && type_len)
		snprintf(type, type_len, "%s", t);
	return error_class(status, t, m, err);
}

/* ---- request bodies ---- */

/* {"cmek:volume": "<uuid>"}; the uuid is checked, it is a JSON value. */
static struct json_object *context(const struct cmek_binding *b,
				   struct cmek_error *err)
{
	struct json_object *c;
	const char *u = b ? b->volume_uuid : "";
	size_t i;

	for (i = 0; i < 36; i++)
		if ((i == 8 || i == 13 || i == 18 || i == 23) ? u[i] != '-' :
		    !strchr("0123456789abcdef", u[i]) || !u[i])
			break;
	if (i != 36 || u[36]) {
		cmek_error_set(err, CMEK_ERR_INVALID,
			       "aws-kms: volume id is not a lower-case RFC 4122 uuid");
		return NULL;
	}
	c = json_object_new_object();
	if (c && json_object_object_add(c, "cmek:volume",
					json_object_new_string(u))) {
		json_object_put(c);
		c = NULL;
	}
	if (!c)
		cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
	return c;
}

static int add_str(struct json_object *o, const char *k, const char *v)
{
	struct json_object *s = json_object_new_string(v);

	if (!s || json_object_object_add(o, k, s)) {
		json_object_put(s);
		return -1;
	}
	return 0;
}

static int add_blob(struct json_object *o, const char *k, const uint8_t *b,
		    size_t n)
{
	char *s = cmek_b64_encode(b, n, false);
	int ret = s ? add_str(o, k, s) : -1;

	free(s);
	return ret;
}

/*
 * Serialize @o, with "Plaintext": @pt first when given. The plaintext is
 * spliced in by hand so that it lives only in buffers we wipe, never in
 * json-c's own (base64 needs no JSON escaping).
 */
static char *body_make(struct json_object *o, const char *pt, size_t *len)
{
	const char *rest = json_object_to_json_string_ext(o,
			JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t n;
	char *body;

	if (!rest)
		return NULL;
	if (!pt) {
		body = strdup(rest);
		*len = body ? strlen(body) : 0;
		return body;
	}
	n = strlen(pt) + strlen(rest) + 32;
	body = malloc(n);
	if (!body)
		return NULL;
	snprintf(body, n, "{\"Plaintext\":\"%s\"%s%s", pt,
		 strcmp(rest, "{}") ? "," : "}",
		 strcmp(rest, "{}") ? rest + 1 : "");
	*len = strlen(body);
	return body;
}

/* ---- credentials ---- */

static bool akid_valid(const char *s)
{
	size_t n = strlen(s);

	return n >= 4 && n < AWS_AKID_MAX && all_of(s, n, ALNUM);
}

/* No ':' (the SigV4 user:password split) and nothing that ends a header. */
static bool secret_valid(const char *s, size_t max, bool colon_ok)
{
	size_t n = strlen(s), i;

	if (!n || n >= max)
		return false;
	for (i = 0; i < n; i++)
		if (!isgraph((unsigned char)s[i]) || (!colon_ok && s[i] == ':'))
			return false;
	return true;
}

static int creds_check(const struct aws_creds *c, const char *src,
		       struct cmek_error *err)
{
	if (!akid_valid(c->akid))
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "aws-kms: access key id from %s is missing or malformed",
				      src);
	if (!secret_valid(c->secret, sizeof(c->secret), false))
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "aws-kms: secret access key from %s is missing or malformed",
				      src);
	if (c->token[0] && !secret_valid(c->token, sizeof(c->token), true))
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "aws-kms: session token from %s is malformed",
				      src);
	return 0;
}

/* Copy @s (@n bytes) into @dst; a too long value fails, never truncates. */
static int set_field(char *dst, size_t len, const char *s, size_t n)
{
	if (n >= len)
		return -1;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

/*
 * The AWS shared credentials format: "[profile]" sections (also
 * "[profile NAME]", as in ~/.aws/config) of aws_access_key_id,
 * aws_secret_access_key and aws_session_token lines.
 */
static int ini_creds(char *text, const char *profile, struct aws_creds *c)
{
	char *line, *save = NULL, *eq, *k, *v, *sect;
	bool in = false, seen = false;
	int bad = 0;

	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		line = cmek_trim(line);
		if (!*line || *line == '#' || *line == ';')
			continue;
		if (*line == '[') {
			sect = cmek_trim(line + 1);
			if (sect[0] && sect[strlen(sect) - 1] == ']')
				sect[strlen(sect) - 1] = '\0';
			sect = cmek_trim(sect);
			if (!strncmp(sect, "profile ", 8))
				sect = cmek_trim(sect + 8);
			in = !strcmp(sect, profile);
			seen |= in;
			continue;
		}
		eq = strchr(line, '=');
		if (!in || !eq)
			continue;
		*eq = '\0';
		k = cmek_trim(line);
		v = cmek_trim(eq + 1);
		if (!strcmp(k, "aws_access_key_id"))
			bad |= set_field(c->akid, sizeof(c->akid), v, strlen(v));
		else if (!strcmp(k, "aws_secret_access_key"))
			bad |= set_field(c->secret, sizeof(c->secret), v,
					 strlen(v));
		else if (!strcmp(k, "aws_session_token"))
			bad |= set_field(c->token, sizeof(c->token), v,
					 strlen(v));
	}
	return !seen ? -1 : bad ? -2 : 0;
}

static int creds_from_config(struct aws_priv *ap, struct aws_creds *c,
			     struct cmek_error *err)
{
	char *buf = cmek_secmem_alloc(AWS_FILE_MAX);
	int ret = -1, r;

	if (!buf)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
	if (ap->credentials_file[0] && ap->access_key_id[0]) {
		cmek_error_set(err, CMEK_ERR_INVALID,
			       "aws-kms: set credentials_file or access_key_id, not both");
		goto out;
	}
	if (ap->credentials_file[0]) {
		if (cmek_kit_secret_read("aws-kms", ap->credentials_file, buf,
					 AWS_FILE_MAX, NULL, err))
			goto out;
		r = ini_creds(buf, ap->profile[0] ? ap->profile : "default", c);
		if (r) {
			cmek_error_set(err, CMEK_ERR_INVALID,
				       r == -1 ? "aws-kms: no profile [%s] in %s" :
				       "aws-kms: a value of profile [%s] in %s is too long",
				       ap->profile[0] ? ap->profile : "default",
				       ap->credentials_file);
			goto out;
		}
		c->source = "credentials_file";
	} else {
		snprintf(c->akid, sizeof(c->akid), "%s", ap->access_key_id);
		if (!ap->secret_file[0]) {
			cmek_error_set(err, CMEK_ERR_INVALID,
				       "aws-kms: access_key_id needs secret_access_key_file");
			goto out;
		}
		if (cmek_kit_secret_read("aws-kms", ap->secret_file, buf,
					 AWS_FILE_MAX, NULL, err))
			goto out;
		if (set_field(c->secret, sizeof(c->secret), cmek_trim(buf),
			      strlen(cmek_trim(buf))))
			goto toolong;
		if (ap->token_file[0]) {
			if (cmek_kit_secret_read("aws-kms", ap->token_file, buf,
					 AWS_FILE_MAX, NULL, err))
				goto out;
			if (set_field(c->token, sizeof(c->token), cmek_trim(buf),
				      strlen(cmek_trim(buf))))
				goto toolong;
		}
		c->source = "secret_access_key_file";
	}
	ret = creds_check(c, c->source, err);
	goto out;
toolong:
	cmek_error_set(err, CMEK_ERR_INVALID,
		       "aws-kms: secret or token file too long");
out:
	cmek_secmem_free(buf);
	return ret;
}

/* 1 if the environment has credentials, 0 if not, -1 if they are bad. */
static int creds_from_env(struct aws_creds *c, struct cmek_error *err)
{
	const char *a = getenv("AWS_ACCESS_KEY_ID");
	const char *s = getenv("AWS_SECRET_ACCESS_KEY");
	const char *t = getenv("AWS_SESSION_TOKEN");

	if ((!a || !*a) && (!s || !*s))
		return 0;
	if (!a || !s || set_field(c->akid, sizeof(c->akid), a, strlen(a)) ||
	    set_field(c->secret, sizeof(c->secret), s, strlen(s)) ||
	    (t && set_field(c->token, sizeof(c->token), t, strlen(t))))
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "aws-kms: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must both be set (and not too long)");
	c->source = "the environment";
	return creds_check(c, c->source, err) ? -1 : 1;
}

/* One IMDS request: short bounds, it is on the local link or absent. */
static int imds_req(struct aws_priv *ap, const char *method, const char *path,
		    const char *hdr, struct cmek_http_resp *resp,
		    struct cmek_error *err)
{
	struct cmek_http_opts o;
	struct cmek_http_req r = { .method = method, .metadata = true };
	char url[512];
	int ret;

	cmek_http_opts_init(&o);
	o.timeout_ms = ap->http.timeout_ms < 2000 ? ap->http.timeout_ms : 2000;
	o.connect_timeout_ms = 1000;
	o.retries = 1;
	o.deadline_ms = 5000;
	snprintf(url, sizeof(url), "%s%s", ap->imds_endpoint, path);
	r.url = url;
	r.headers[r.nheaders++] = hdr;
	ret = cmek_http_call(&o, &r, resp, err);
	/* Not an answer from KMS: never a configuration error. */
	if (ret == 0 && resp->status != 200 &&
	    cmek_http_status_transient(resp->status))
		ret = cmek_error_set(err, CMEK_ERR_TRANSIENT, "%s: HTTP %ld",
				     path, resp->status);
	else if (ret == 0 && resp->status != 200)
		ret = cmek_error_credential(err, "%s: HTTP %ld", path,
					    resp->status);
	return ret;
}

static time_t parse_iso8601(const char *s)
{
	struct tm tm = { 0 };
	const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;

	if (!end || (*end != 'Z' && *end != '\0'))
		return (time_t)-1;
	return timegm(&tm);
}

/* IMDSv2: a session token, the role name, the role's credentials. */
static int creds_from_imds(struct aws_priv *ap, struct aws_creds *c,
			   struct cmek_error *err)
{
	struct cmek_http_resp resp = { 0 };
	struct json_object *o = NULL;
	char tok[1100], hdr[1200], role[80], path[160];
	char why[CMEK_ERRMSG_MAX];
	const char *code, *a, *s, *t, *x;
	int ret = -1;

	if (imds_req(ap, "PUT", "/latest/api/token",
		     "X-aws-ec2-metadata-token-ttl-seconds: " AWS_IMDS_TTL,
		     &resp, err))
		goto fail;
	if (!resp.len || resp.len >= sizeof(tok) ||
	    !secret_valid(resp.body, sizeof(tok), true)) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT, "malformed IMDS token");
		goto fail;
	}
	memcpy(tok, resp.body, resp.len + 1);
	snprintf(hdr, sizeof(hdr), "X-aws-ec2-metadata-token: %s", tok);
	OPENSSL_cleanse(tok, sizeof(tok));
	if (imds_req(ap, "GET", "/latest/meta-data/iam/security-credentials/",
		     hdr, &resp, err)) {
		if (resp.status == 404)
			cmek_error_credential(err,
				       "no IAM role attached to this instance");
		goto fail;
	}
	resp.body[strcspn(resp.body, "\r\n")] = '\0';
	if (!*resp.body || strlen(resp.body) >= 65 ||
	    !all_of(resp.body, strlen(resp.body), ALNUM "+=,.@_-")) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT,
			       "malformed IAM role name from IMDS");
		goto fail;
	}
	snprintf(role, sizeof(role), "%s", resp.body);
	snprintf(path, sizeof(path),
		 "/latest/meta-data/iam/security-credentials/%s", role);
	if (imds_req(ap, "GET", path, hdr, &resp, err))
		goto fail;
	o = cmek_kit_json_answer("aws-kms", resp.body, resp.len, NULL);
	code = cmek_json_str(o, "Code");
	a = cmek_json_str(o, "AccessKeyId");
	s = cmek_json_str(o, "SecretAccessKey");
	t = cmek_json_str(o, "Token");
	x = cmek_json_str(o, "Expiration");
	if (!o || !code || strcmp(code, "Success") || !a || !s || !t ||
	    set_field(c->akid, sizeof(c->akid), a, strlen(a)) ||
	    set_field(c->secret, sizeof(c->secret), s, strlen(s)) ||
	    set_field(c->token, sizeof(c->token), t, strlen(t)) ||
	    (c->expires = parse_iso8601(x)) == (time_t)-1) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT,
			       "malformed credentials of role %s from IMDS%s%.40s",
			       role, code && strcmp(code, "Success") ?
			       ": Code " : "", code && strcmp(code, "Success") ?
			       code : "");
		goto fail;
	}
	c->source = "instance metadata";
	ret = creds_check(c, c->source, err);
	/* An answer from the network, not the configuration. */
	if (ret && err)
		err->cls = CMEK_ERR_TRANSIENT;
	goto out;
fail:
	snprintf(why, sizeof(why), "%s", err->msg);
	cmek_error_set(err, err->cls,
		       "aws-kms: no credentials configured or in the environment, and the instance metadata service at %s failed: %.300s",
		       ap->imds_endpoint, why);
out:
	OPENSSL_cleanse(hdr, sizeof(hdr));
	cmek_json_put_wiped(o);
	cmek_http_resp_free(&resp);
	return ret;
}

static int creds_load(struct aws_priv *ap, struct aws_creds *c,
		      struct cmek_error *err)
{
	int r;

	memset(c, 0, sizeof(*c));
	if (ap->credentials_file[0] || ap->access_key_id[0])
		return creds_from_config(ap, c, err);
	r = creds_from_env(c, err);
	if (r)
		return r < 0 ? -1 : 0;
	if (!ap->imds)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "aws-kms: no credentials: set credentials_file, or access_key_id and secret_access_key_file, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (imds = no)");
	return creds_from_imds(ap, c, err);
}

/*
 * The cached credentials, loaded or renewed when needed, copied into the
 * caller's locked @out. Credentials about to expire that fail to renew are
 * used while they last, as the AWS SDKs do.
 */
static int creds_get(struct aws_priv *ap, struct aws_creds *out,
		     struct cmek_error *err)
{
	struct aws_creds *c = ap->creds;
	time_t now = time(NULL);
	int ret = 0;

	pthread_mutex_lock(&ap->lock);
	if (!c->valid || (c->expires && now >= c->expires - AWS_REFRESH_SECS)) {
		ret = creds_load(ap, out, err);
		if (!ret) {
			*c = *out;
			c->valid = true;
		} else if (c->valid && c->expires && now < c->expires) {
			ret = 0;
		} else {
			memset(c, 0, sizeof(*c));
		}
	}
	if (!ret)
		*out = *c;
	pthread_mutex_unlock(&ap->lock);
	return ret;
}

static void creds_drop(struct aws_priv *ap)
{
	pthread_mutex_lock(&ap->lock);
	OPENSSL_cleanse(ap->creds, sizeof(*ap->creds));
	ap->creds->valid = false;
	pthread_mutex_unlock(&ap->lock);
}

/* Belt and braces: no message leaves with the secret or the token in it. */
static void scrub(struct cmek_error *err, const struct aws_creds *c)
{
	const char *secrets[] = { c->secret, c->token };

	cmek_kit_withhold(err, secrets, 2);
}

/* ---- the KMS call ---- */

static int region_of(struct aws_priv *ap, const char *key_ref, char *region,
		     struct cmek_error *err)
{
	const char *env;

	if (cmek_aws_kms_key_ref(key_ref, region, CMEK_AWS_REGION_MAX + 1,
				 err))
		return -1;
	if (region[0])
		return 0;
	env = getenv("AWS_REGION");
	if (!env || !*env)
		env = getenv("AWS_DEFAULT_REGION");
	if (ap->region[0])
		env = ap->region;
	if (!env || !region_valid(env))
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "aws-kms: no region for '%.200s': use a key ARN, set region, or AWS_REGION",
				      key_ref);
	snprintf(region, CMEK_AWS_REGION_MAX + 1, "%s", env);
	return 0;
}

static void url_of(struct aws_priv *ap, const char *region, char *url,
		   size_t len)
{
	const char *p;

	if (!ap->endpoint[0]) {
		snprintf(url, len, "https://kms.%s.amazonaws.com%s/", region,
			 !strncmp(region, "cn-", 3) ? ".cn" : "");
		return;
	}
	p = strchr(ap->endpoint + 8, '/');
	snprintf(url, len, "%s%s", ap->endpoint, p ? "" : "/");
}

struct kms_req {
	const char *op;			/* "Decrypt" */
	const char *key_ref;		/* for messages */
	const char *region;
	const char *body;
	size_t body_len;
	char type[64];			/* out: the error code, if any */
	/* The error answer throttled() parsed, for kms_call() to reuse. */
	char msg[256];
	unsigned int parsed;		/* resp->attempts it is of; 0: none */
};

/* Throttling comes as HTTP 400, not a status that http.c would retry. */
static bool throttled(const struct cmek_http_resp *resp, void *arg)
{
	const struct aws_err_row *row;
	struct kms_req *q = arg;

	if (resp->status == 200)
		return false;
	error_parse(resp->body ? resp->body : "", q->type, sizeof(q->type),
		    q->msg, sizeof(q->msg));
	q->parsed = resp->attempts;
	row = error_row(q->type);
	return row && (row->flags & AWS_F_THROTTLE);
}

static int kms_send(struct aws_priv *ap, struct kms_req *q,
		    struct aws_call *sec, struct cmek_http_resp *resp,
		    struct cmek_error *err)
{
	struct cmek_http_req r = { .method = "POST" };
	char url[600], target[64], sigv4[64];

	if (creds_get(ap, &sec->c, err))
		return -1;
	url_of(ap, q->region, url, sizeof(url));
	snprintf(target, sizeof(target), "X-Amz-Target: TrentService.%s",
		 q->op);
	snprintf(sigv4, sizeof(sigv4), "aws:amz:%s:kms", q->region);
	snprintf(sec->userpwd, sizeof(sec->userpwd), "%s:%s", sec->c.akid,
		 sec->c.secret);
	r.url = url;
	r.body = q->body;
	r.body_len = q->body_len;
	r.aws_sigv4 = sigv4;
	r.userpwd = sec->userpwd;
	r.retry_if = throttled;
	r.retry_arg = q;
	q->parsed = 0;
	r.headers[r.nheaders++] = AWS_CT;
	r.headers[r.nheaders++] = target;
	if (sec->c.token[0]) {
		snprintf(sec->token_hdr, sizeof(sec->token_hdr),
			 "X-Amz-Security-Token: %s", sec->c.token);
		r.headers[r.nheaders++] = sec->token_hdr;
	}
	return cmek_http_call(&ap->http, &r, resp, err);
}

static bool row_is_creds(const char *type)
{
	const struct aws_err_row *row = error_row(type);

	return row && (row->flags & AWS_F_CREDS);
}

/*
 * One KMS operation: 0 with the answer object in *out, or -1 with @err
 * classified by the table above. Throttling is retried by cmek_http_call()
 * (throttled()); an expired session token makes us fetch fresh credentials
 * and try once more.
 */
static int kms_call(struct aws_priv *ap, struct kms_req *q,
		    struct json_object **out, struct cmek_error *err)
{
	struct cmek_http_resp resp = { 0 };
	const struct aws_err_row *row;
	struct aws_call *sec = cmek_secmem_alloc(sizeof(*sec));
	struct cmek_error dummy;
	bool refreshed = false;
	char pre[300];
	int ret = -1;

	*out = NULL;
	q->type[0] = '\0';
	if (!err)
		err = &dummy;
	snprintf(pre, sizeof(pre), "aws-kms %s %.200s", q->op, q->key_ref);
	if (!sec)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
	for (;;) {
		if (kms_send(ap, q, sec, &resp, err))
			goto out;
		if (resp.status == 200)
			break;
		/* Parsed once: by throttled(), unless a 5xx skipped it. */
		if (q->parsed != resp.attempts)
			error_parse(resp.body ? resp.body : "", q->type,
				    sizeof(q->type), q->msg, sizeof(q->msg));
		error_class(resp.status, q->type, q->msg, err);
		row = error_row(q->type);
		if ((row && (row->flags & AWS_F_THROTTLE)) ||
		    resp.status == 429)
			cmek_error_throttled(err, resp.retry_after_ms);
		if (row && (row->flags & AWS_F_CREDS))
			creds_drop(ap);
		if (!row || !(row->flags & AWS_F_EXPIRED) || refreshed)
			goto out;
		refreshed = true;
	}
	*out = cmek_kit_json_answer("aws-kms", resp.body, resp.len, NULL);
	if (*out)
		ret = 0;
	else
		cmek_error_set(err, CMEK_ERR_TRANSIENT,
			       "malformed answer: HTTP 200 but not a JSON object (%zu bytes, %s)",
			       resp.len, resp.content_type[0] ?
			       resp.content_type : "no content type");
out:
	if (ret && err) {
		char m[CMEK_ERRMSG_MAX];

		snprintf(m, sizeof(m), "%s", strncmp(err->msg, "aws-kms: ", 9) ?
			 err->msg : err->msg + 9);
		cmek_error_set(err, err->cls, "%s: %s%s%s", pre, m,
			       row_is_creds(q->type) ? "; credentials from " : "",
			       row_is_creds(q->type) ? sec->c.source ?
			       sec->c.source : "?" : "");
		scrub(err, &sec->c);
	}
	cmek_http_resp_free(&resp);
	cmek_secmem_free(sec);
	return ret;
}

/* ---- operations ---- */

/* Region and encryption context, the two things every operation needs. */
static struct json_object *prepare(struct aws_priv *ap, const char *key_ref,
				   const struct cmek_binding *b, char *region,
				   struct json_object **ctx,
				   struct cmek_error *err)
{
	struct json_object *o;

	if (region_of(ap, key_ref, region, err))
		return NULL;
	if (ctx) {
		*ctx = context(b, err);
		if (!*ctx)
			return NULL;
	}
	o = json_object_new_object();
	if (!o || add_str(o, "KeyId", key_ref)) {
		json_object_put(o);
		if (ctx)
			json_object_put(*ctx);
		cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
		return NULL;
	}
	return o;
}

/* Send @o (plus @pt as Plaintext) as @op; the request body is wiped. */
static int call_obj(struct aws_priv *ap, const char *op, const char *key_ref,
		    const char *region, struct json_object *o, const char *pt,
		    struct json_object **out, char *type,
		    struct cmek_error *err)
{
	struct kms_req q = { .op = op, .key_ref = key_ref, .region = region };
	char *body = body_make(o, pt, &q.body_len);
	int ret;

	if (!body)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
	q.body = body;
	ret = kms_call(ap, &q, out, err);
	if (type)
		snprintf(type, 64, "%s", q.type);
	wipe_free(body, q.body_len);
	return ret;
}

static int with_ctx(struct json_object *o, const char *k,
		    struct json_object *ctx, struct cmek_error *err)
{
	if (json_object_object_add(o, k, json_object_get(ctx))) {
		json_object_put(ctx);
		return cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
	}
	return 0;
}

/*
 * The CiphertextBlob of @ans with the key it was made under in front
 * (cmek_slot_prefix()): AWS names that key (the alias's target at this
 * moment) only inside its opaque blob and in the answer's KeyId. The
 * watch asks DescribeKey about it (slot_state), wherever the alias
 * points later.
 */
static int sealed_blob(struct json_object *ans, const char *what,
		       uint8_t **wrapped, size_t *wrapped_len,
		       struct cmek_error *err)
{
	const char *arn = cmek_json_str(ans, "KeyId");
	char r[CMEK_AWS_REGION_MAX + 1];
	uint8_t *ct = NULL;
	size_t n = 0;

	if (json_b64(ans, "CiphertextBlob", 1, CMEK_AWS_BLOB_MAX, &ct, &n,
		     what, err))
		return -1;
	if (!arn || !key_arn_valid(arn, r, sizeof(r))) {
		free(ct);
		return cmek_error_set(err, CMEK_ERR_TRANSIENT,
				      "%s: malformed answer: KeyId is not a key ARN",
				      what);
	}
	*wrapped = cmek_slot_prefix(arn, ct, n, wrapped_len);
	free(ct);
	if (!*wrapped)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
	return 0;
}

/*
 * The KMS ciphertext inside a slot, and the key ARN it records ("" for a
 * blob from before slots recorded it).
 */
static int slot_open(const uint8_t *wrapped, size_t wrapped_len, char *arn,
		     size_t arn_len, const uint8_t **ct, size_t *ct_len,
		     struct cmek_error *err)
{
	char r[CMEK_AWS_REGION_MAX + 1];
	int pre = cmek_slot_unprefix(wrapped, wrapped_len, arn, arn_len, ct,
				     ct_len);

	if (pre < 0 || (pre && !key_arn_valid(arn, r, sizeof(r))) ||
	    !*ct_len || *ct_len > CMEK_AWS_BLOB_MAX)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "aws-kms: wrapped key of %zu bytes is not a KMS ciphertext blob",
				      wrapped_len);
	return 0;
}

static int aws_generate(struct cmek_provider *p, const char *key_ref,
			const struct cmek_binding *b, uint8_t *dek,
			size_t dek_len, uint8_t **wrapped, size_t *wrapped_len,
			struct cmek_error *err)
{
	struct json_object *o, *ctx, *ans = NULL;
	char region[CMEK_AWS_REGION_MAX + 1];
	uint8_t *pt = NULL;
	size_t n = 0;
	int ret = -1;

	if (!dek_len || dek_len > CMEK_DEK_MAX)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "aws-kms: a DEK is 1 to %d bytes",
				      CMEK_DEK_MAX);
	o = prepare(p->priv, key_ref, b, region, &ctx, err);
	if (!o)
		return -1;
	if (json_object_object_add(o, "NumberOfBytes",
				   json_object_new_int((int)dek_len))) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
		goto out;
	}
	if (with_ctx(o, "EncryptionContext", ctx, err))
		goto out;
	if (call_obj(p->priv, "GenerateDataKey", key_ref, region, o, NULL,
		     &ans, NULL, err))
		goto out;
	if (json_b64(ans, "Plaintext", dek_len, dek_len, &pt, &n,
		     "aws-kms GenerateDataKey", err) ||
	    sealed_blob(ans, "aws-kms GenerateDataKey", wrapped,
			wrapped_len, err))
		goto out;
	memcpy(dek, pt, dek_len);
	ret = 0;
out:
	wipe_free(pt, n);
	cmek_json_put_wiped(ans);
	json_object_put(ctx);
	json_object_put(o);
	return ret;
}

static int aws_wrap(struct cmek_provider *p, const char *key_ref,
		    const struct cmek_binding *b, const uint8_t *dek,
		    size_t dek_len, uint8_t **wrapped, size_t *wrapped_len,
		    struct cmek_error *err)
{
	struct json_object *o, *ctx, *ans = NULL;
	char region[CMEK_AWS_REGION_MAX + 1];
	char *pt = NULL;
	int ret = -1;

	if (!dek_len || dek_len > CMEK_DEK_MAX)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "aws-kms: a DEK is 1 to %d bytes",
				      CMEK_DEK_MAX);
	o = prepare(p->priv, key_ref, b, region, &ctx, err);
	if (!o)
		return -1;
	pt = cmek_b64_encode(dek, dek_len, false);
	if (!pt) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
		goto out;
	}
	if (with_ctx(o, "EncryptionContext", ctx, err) ||
	    call_obj(p->priv, "Encrypt", key_ref, region, o, pt, &ans, NULL,
		     err) ||
	    sealed_blob(ans, "aws-kms Encrypt", wrapped, wrapped_len,
			err))
		goto out;
	ret = 0;
out:
	wipe_str(pt);
	json_object_put(ans);
	json_object_put(ctx);
	json_object_put(o);
	return ret;
}

static int aws_key_state(struct cmek_provider *p, const char *key_ref,
			 enum cmek_kms_key_state *state,
			 struct cmek_error *err);

/*
 * The key a slot's Decrypt (or ReEncrypt) names: the key ARN the slot
 * records, so that moving an alias does not strand the slots made
 * through it; @key_ref for an older slot that records none. The ARN is
 * written by whoever writes the disk: cmekd checks it against allow_keys
 * and keys= as it does key_ref (cmek_provider_ops.unwrap_by_slot_key),
 * and here it must agree with what key_ref says of the key: the same
 * key ARN, or the region (and account) of an alias.
 */
static int slot_kms_key(struct aws_priv *ap, const char *key_ref,
			const char *arn, const char **kid,
			struct cmek_error *err)
{
	char region[CMEK_AWS_REGION_MAX + 1], r[CMEK_AWS_REGION_MAX + 1];
	const char *a, *b;

	*kid = key_ref;
	if (!arn[0] || !strcmp(arn, key_ref))
		return 0;
	if (region_of(ap, key_ref, region, err) ||
	    !key_arn_valid(arn, r, sizeof(r)))
		return -1;
	/* arn:PARTITION:kms:REGION:ACCOUNT: of both, when key_ref is an ARN. */
	a = arn;
	b = key_ref;
	if (!strncmp(key_ref, "arn:", 4)) {
		for (int i = 0; i < 5 && a && b; i++) {
			a = strchr(a, ':');
			b = strchr(b, ':');
			a = a ? a + 1 : NULL;
			b = b ? b + 1 : NULL;
		}
		if (!a || !b || a - arn != b - key_ref ||
		    strncmp(arn, key_ref, (size_t)(a - arn)) ||
		    strstr(key_ref, ":key/"))
			goto bad;
	} else if (strcmp(region, r) ||
		   (strncmp(key_ref, "alias/", 6) &&
		    strcmp(strstr(arn, ":key/") + 5, key_ref))) {
		goto bad;
	}
	*kid = arn;
	return 0;
bad:
	return cmek_error_set(err, CMEK_ERR_INVALID,
			      "aws-kms: the slot records key %.300s, which %.300s cannot name (another key, account or region)",
			      arn, key_ref);
}

static int aws_unwrap(struct cmek_provider *p, const char *key_ref,
		      const struct cmek_binding *b, const uint8_t *wrapped,
		      size_t wrapped_len, uint8_t *dek, size_t *dek_len,
		      struct cmek_error *err)
{
	struct aws_priv *ap = p->priv;
	struct json_object *o, *ctx, *ans = NULL;
	char region[CMEK_AWS_REGION_MAX + 1];
	char arn[AWS_KEY_REF_MAX + 1];
	enum cmek_kms_key_state st;
	const char *kid;
	uint8_t *pt = NULL;
	size_t n = 0;
	int ret = -1;

	if (slot_open(wrapped, wrapped_len, arn, sizeof(arn), &wrapped,
		      &wrapped_len, err) ||
	    slot_kms_key(ap, key_ref, arn, &kid, err))
		return -1;
	/* A KMS that decrypts under disabled keys (moto): ask first. */
	if (ap->unwrap_checks_state) {
		if (aws_key_state(p, kid, &st, err))
			return -1;
		if (st != CMEK_KMS_ENABLED)
			return cmek_error_set(err, st == CMEK_KMS_UNKNOWN ?
					      CMEK_ERR_TRANSIENT :
					      CMEK_ERR_DEFINITIVE,
					      "aws-kms Decrypt %.300s: DescribeKey says the key is %s",
					      kid, cmek_kms_key_state_name(st));
	}
	o = prepare(ap, kid, b, region, &ctx, err);
	if (!o)
		return -1;
	if (add_blob(o, "CiphertextBlob", wrapped, wrapped_len)) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
		goto out;
	}
	if (with_ctx(o, "EncryptionContext", ctx, err) ||
	    call_obj(ap, "Decrypt", kid, region, o, NULL, &ans, NULL,
		     err) ||
	    json_b64(ans, "Plaintext", 1, CMEK_DEK_MAX, &pt, &n,
		     "aws-kms Decrypt", err))
		goto out;
	memcpy(dek, pt, n);
	*dek_len = n;
	ret = 0;
out:
	wipe_free(pt, n);
	cmek_json_put_wiped(ans);
	json_object_put(ctx);
	json_object_put(o);
	return ret;
}

static int aws_rewrap(struct cmek_provider *p, const char *key_ref,
		      const char *new_key_ref, const struct cmek_binding *b,
		      const uint8_t *wrapped, size_t wrapped_len,
		      uint8_t **new_wrapped, size_t *new_wrapped_len,
		      struct cmek_error *err)
{
	struct aws_priv *ap = p->priv;
	struct json_object *o, *ctx, *ans = NULL;
	char region[CMEK_AWS_REGION_MAX + 1], dst[CMEK_AWS_REGION_MAX + 1];
	char arn[AWS_KEY_REF_MAX + 1];
	const uint8_t *ct;
	const char *kid;
	size_t ct_len;
	int ret = -1;

	if (!new_key_ref)
		new_key_ref = key_ref;
	if (slot_open(wrapped, wrapped_len, arn, sizeof(arn), &ct, &ct_len,
		      err) ||
	    slot_kms_key(ap, key_ref, arn, &kid, err))
		return -1;
	if (region_of(ap, new_key_ref, dst, err))
		return -1;
	o = prepare(ap, key_ref, b, region, &ctx, err);
	if (!o)
		return -1;
	if (strcmp(region, dst)) {
		json_object_put(ctx);
		json_object_put(o);
		return cmek_rewrap_by_unwrap(p, key_ref, new_key_ref, b,
					     wrapped, wrapped_len, new_wrapped,
					     new_wrapped_len, err);
	}
	/* ReEncrypt names the source key SourceKeyId, not KeyId. */
	json_object_object_del(o, "KeyId");
	if (add_str(o, "SourceKeyId", kid) ||
	    add_str(o, "DestinationKeyId", new_key_ref) ||
	    add_blob(o, "CiphertextBlob", ct, ct_len)) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
		goto out;
	}
	if (with_ctx(o, "SourceEncryptionContext", ctx, err) ||
	    with_ctx(o, "DestinationEncryptionContext", ctx, err) ||
	    call_obj(ap, "ReEncrypt", key_ref, region, o, NULL, &ans, NULL,
		     err) ||
	    sealed_blob(ans, "aws-kms ReEncrypt", new_wrapped,
			new_wrapped_len, err))
		goto out;
	ret = 0;
out:
	json_object_put(ans);
	json_object_put(ctx);
	json_object_put(o);
	return ret;
}

static int describe(struct json_object *ans, enum cmek_kms_key_state *state,
		    struct cmek_error *err)
{
	struct json_object *md;
	const char *ks;

	if (!json_object_object_get_ex(ans, "KeyMetadata", &md) ||
	    !json_object_is_type(md, json_type_object))
		return cmek_error_set(err, CMEK_ERR_TRANSIENT,
				      "aws-kms DescribeKey: malformed answer: no KeyMetadata object");
	ks = cmek_json_str(md, "KeyState");
	if (!ks)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT,
				      "aws-kms DescribeKey: malformed answer: no KeyMetadata.KeyState string");
	if (cmek_aws_kms_key_state_parse(ks, state))
		return cmek_error_set(err, CMEK_ERR_TRANSIENT,
				      "aws-kms DescribeKey: unknown KeyState '%.40s'",
				      ks);
	return 0;
}

int cmek_aws_kms_describe_parse(const char *body, size_t len,
				enum cmek_kms_key_state *state,
				struct cmek_error *err)
{
	struct json_object *o = cmek_kit_json_answer("aws-kms", body, len,
						     NULL);
	int ret;

	if (!o)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT,
				      "aws-kms DescribeKey: malformed answer: not a JSON object");
	ret = describe(o, state, err);
	json_object_put(o);
	return ret;
}

/*
 * A key that no longer exists and a key we may no longer see are states,
 * not failures: the watch locks on them like on a disabled key.
 */
static int aws_key_state(struct cmek_provider *p, const char *key_ref,
			 enum cmek_kms_key_state *state,
			 struct cmek_error *err)
{
	struct json_object *o, *ans = NULL;
	char region[CMEK_AWS_REGION_MAX + 1], type[64] = "";
	int ret;

	o = prepare(p->priv, key_ref, NULL, region, NULL, err);
	if (!o)
		return -1;
	ret = call_obj(p->priv, "DescribeKey", key_ref, region, o, NULL,
		       &ans, type, err);
	if (ret && !strcmp(type, "NotFoundException")) {
		*state = CMEK_KMS_DELETED;
		ret = 0;
	} else if (ret && (!strcmp(type, "AccessDeniedException") ||
			   !strcmp(type, "AccessDenied"))) {
		*state = CMEK_KMS_ACCESS_DENIED;
		ret = 0;
	} else if (!ret) {
		ret = describe(ans, state, err);
	}
	json_object_put(ans);
	json_object_put(o);
	return ret;
}

/* The key ARN the slot records (the alias's target at wrap time). */
static int aws_slot_key(const char *key_ref, const uint8_t *wrapped,
			size_t wrapped_len, char *id, size_t id_len)
{
	const uint8_t *ct;
	size_t ct_len;

	return slot_open(wrapped, wrapped_len, id, id_len, &ct, &ct_len,
			 NULL) ? -1 : 0;
}

static int aws_slot_state(struct cmek_provider *p, const char *id,
			  enum cmek_kms_key_state *state,
			  struct cmek_error *err)
{
	char region[CMEK_AWS_REGION_MAX + 1];

	*state = CMEK_KMS_UNKNOWN;
	if (!key_arn_valid(id, region, sizeof(region)))
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "aws-kms: '%.200s' is not a key ARN", id);
	return aws_key_state(p, id, state, err);
}

/* ---- setup ---- */

static int aws_init(struct cmek_provider *p, struct cmek_error *err)
{
	struct aws_priv *ap = calloc(1, sizeof(*ap));

	if (ap)
		ap->creds = cmek_secmem_alloc(sizeof(*ap->creds));
	if (!ap || !ap->creds) {
		free(ap);
		return cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
	}
	cmek_http_opts_init(&ap->http);
	snprintf(ap->imds_endpoint, sizeof(ap->imds_endpoint), "%s",
		 AWS_IMDS_DEFAULT);
	/* The instance's role belongs to every process on it: opt in. */
	ap->imds = false;
	pthread_mutex_init(&ap->lock, NULL);
	p->priv = ap;
	return 0;
}

static int set_path(char *dst, size_t len, const char *key, const char *v,
		    struct cmek_error *err)
{
	if (v[0] != '/' || snprintf(dst, len, "%s", v) >= (int)len)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "%s must be an absolute path of less than %zu bytes",
				      key, len);
	return 0;
}

static const struct cmek_setting aws_settings[] = {
	{ "region", CMEK_SETTING_STRING, 0, NULL,
	  "Region of key references that are not ARNs" },
	{ "endpoint", CMEK_SETTING_URL, 0, "https://kms.REGION.amazonaws.com",
	  "KMS endpoint (.com.cn for cn- regions)" },
	{ "credentials_file", CMEK_SETTING_PATH, CMEK_SETTING_SECRET_FILE, NULL,
	  "AWS shared credentials file (INI)" },
	{ "profile", CMEK_SETTING_STRING, 0, "default",
	  "Profile of credentials_file" },
	{ "access_key_id", CMEK_SETTING_STRING, 0, NULL,
	  "Access key id, with secret_access_key_file" },
	{ "secret_access_key_file", CMEK_SETTING_PATH,
	  CMEK_SETTING_SECRET_FILE, NULL,
	  "File holding the secret access key of access_key_id" },
	{ "session_token_file", CMEK_SETTING_PATH, CMEK_SETTING_SECRET_FILE,
	  NULL, "File holding a session token, for temporary credentials" },
	{ "imds", CMEK_SETTING_BOOL, 0, "no",
	  "Use the instance's role from the instance metadata service" },
	{ "imds_endpoint", CMEK_SETTING_URL, 0, "http://169.254.169.254",
	  "Instance metadata service" },
	{ "unwrap_checks_state", CMEK_SETTING_BOOL, 0, "no",
	  "Ask DescribeKey before each unwrap" },
	CMEK_HTTP_SETTINGS,
	{ .name = NULL }
};

static int aws_configure(struct cmek_provider *p, const char *key,
			 const char *value, struct cmek_error *err)
{
	struct aws_priv *ap = p->priv;
	int r;

	if (cmek_setting_check("aws-kms", aws_settings, key, err))
		return -1;
	r = cmek_http_configure(&ap->http, key, value, err);
	if (r)
		return r < 0 ? -1 : 0;
	if (!strcmp(key, "region")) {
		if (!region_valid(value))
			return cmek_error_set(err, CMEK_ERR_INVALID,
					      "region '%.64s' is not an AWS region name (e.g. eu-west-1)",
					      value);
		snprintf(ap->region, sizeof(ap->region), "%s", value);
	} else if (!strcmp(key, "endpoint")) {
		if (cmek_http_endpoint_valid(value, err))
			return -1;
		if (snprintf(ap->endpoint, sizeof(ap->endpoint), "%s", value) >=
		    (int)sizeof(ap->endpoint))
			return cmek_error_set(err, CMEK_ERR_INVALID,
					      "endpoint too long");
	} else if (!strcmp(key, "credentials_file")) {
		return set_path(ap->credentials_file,
				sizeof(ap->credentials_file), key, value, err);
	} else if (!strcmp(key, "profile")) {
		if (!*value || strlen(value) >= sizeof(ap->profile) ||
		    strpbrk(value, "[]\n"))
			return cmek_error_set(err, CMEK_ERR_INVALID,
					      "bad profile name");
		snprintf(ap->profile, sizeof(ap->profile), "%s", value);
	} else if (!strcmp(key, "access_key_id")) {
		if (!akid_valid(value))
			return cmek_error_set(err, CMEK_ERR_INVALID,
					      "access_key_id is not an AWS access key id");
		snprintf(ap->access_key_id, sizeof(ap->access_key_id), "%s",
			 value);
	} else if (!strcmp(key, "secret_access_key_file")) {
		return set_path(ap->secret_file, sizeof(ap->secret_file), key,
				value, err);
	} else if (!strcmp(key, "session_token_file")) {
		return set_path(ap->token_file, sizeof(ap->token_file), key,
				value, err);
	} else if (!strcmp(key, "imds")) {
		if (cmek_parse_bool(value, &ap->imds))
			return cmek_error_set(err, CMEK_ERR_INVALID,
					      "imds must be yes or no");
	} else if (!strcmp(key, "imds_endpoint")) {
		if (strncmp(value, "http://", 7) || strpbrk(value, "@?# \t") ||
		    snprintf(ap->imds_endpoint, sizeof(ap->imds_endpoint),
			     "%s", value) >= (int)sizeof(ap->imds_endpoint))
			return cmek_error_set(err, CMEK_ERR_INVALID,
					      "imds_endpoint must be http://HOST[:PORT] (the link-local service)");
		ap->imds_endpoint[strcspn(ap->imds_endpoint + 7, "/") + 7] =
			'\0';
	} else if (!strcmp(key, "unwrap_checks_state")) {
		if (cmek_parse_bool(value, &ap->unwrap_checks_state))
			return cmek_error_set(err, CMEK_ERR_INVALID,
					      "unwrap_checks_state must be yes or no");
	} else {
		return cmek_setting_unhandled("aws-kms", key, err);
	}
	return 0;
}

static void aws_destroy(struct cmek_provider *p)
{
	struct aws_priv *ap = p->priv;

	if (!ap)
		return;
	cmek_secmem_free(ap->creds);
	pthread_mutex_destroy(&ap->lock);
	cmek_http_opts_free(&ap->http);
	OPENSSL_cleanse(ap, sizeof(*ap));
	free(ap);
	p->priv = NULL;
}

const struct cmek_provider_ops cmek_aws_kms_ops = {
	.name = "aws-kms",
	.settings = aws_settings,
	.init = aws_init,
	.configure = aws_configure,
	.generate = aws_generate,
	.wrap = aws_wrap,
	.unwrap = aws_unwrap,
	.rewrap = aws_rewrap,
	.key_state = aws_key_state,
	.slot_key = aws_slot_key,
	.slot_state = aws_slot_state,
	.destroy = aws_destroy,
	.unwrap_by_slot_key = true,
};
