// SPDX-License-Identifier: GPL-2.0
/*
 * aws_kms_admin: the AWS KMS administrator's side of a test, the calls
 * cmek itself never makes (the customer changes the key, cmekd notices):
 *
 *	aws_kms_admin [--endpoint URL] [--region R] [--ca-file PEM] OP [KEY]
 *
 *	CreateKey		prints "KEYID ARN"
 *	DisableKey KEY		}
 *	EnableKey KEY		} print nothing
 *	CancelKeyDeletion KEY	}
 *	ScheduleKeyDeletion KEY	(PendingWindowInDays 7)
 *	DescribeKey KEY		prints the KeyState
 *	CreateAlias KEY ALIAS	} alias/NAME to KEY (UpdateAlias: moves it),
 *	UpdateAlias KEY ALIAS	} print nothing
 *
 * JSON 1.1 over HTTPS (TLS verified, against --ca-file if given), signed
 * with SigV4 for "kms" in --region (default us-east-1) with
 * $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY, through the same HTTP
 * layer as the provider (userspace/lib/http.c). --endpoint defaults to
 * $AWS_KMS_ENDPOINT. Used against moto_server (tests/host/aws_kms_vm.sh).
 *
 * Exit status: 0 done, 1 the KMS answered with an error (its __type and
 * message on stderr), 2 usage, 3 no usable answer (connection, TLS,
 * timeout, malformed body).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "http.h"
#include "provider.h"

static const char *const ops[] = {
	"CreateKey", "DisableKey", "EnableKey", "ScheduleKeyDeletion",
	"CancelKeyDeletion", "DescribeKey", "CreateAlias", "UpdateAlias",
};

static void usage(void)
{
	fprintf(stderr,
		"usage: aws_kms_admin [--endpoint URL] [--region R] [--ca-file PEM] OP [KEY]\n"
		"  OP: CreateKey | DisableKey KEY | EnableKey KEY | ScheduleKeyDeletion KEY\n"
		"      | CancelKeyDeletion KEY | DescribeKey KEY\n"
		"      | CreateAlias KEY ALIAS | UpdateAlias KEY ALIAS\n"
		"  credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY\n");
}

static const char *str_at(struct json_object *o, const char *a, const char *b)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, a, &v))
		return NULL;
	if (b && !json_object_object_get_ex(v, b, &v))
		return NULL;
	return json_object_is_type(v, json_type_string) ?
	       json_object_get_string(v) : NULL;
}

/* The request body: the key, and the op's own fields. */
static char *request_body(const char *op, const char *key,
			  const char *alias)
{
	struct json_object *o = json_object_new_object();
	char *s;

	if (!o)
		return NULL;
	if (!strcmp(op, "CreateKey"))
		json_object_object_add(o, "Description",
				       json_object_new_string("cmek VM test"));
	else if (alias)
		json_object_object_add(o, "AliasName",
				       json_object_new_string(alias));
	else
		json_object_object_add(o, "KeyId", json_object_new_string(key));
	if (alias)
		json_object_object_add(o, "TargetKeyId",
				       json_object_new_string(key));
	if (!strcmp(op, "ScheduleKeyDeletion"))
		/* 7 days is the shortest window AWS allows */
		json_object_object_add(o, "PendingWindowInDays",
				       json_object_new_int(7));
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

/* Print what the op is for; 0, or 3 if the answer lacks it. */
static int report(const char *op, struct json_object *o)
{
	const char *id, *arn, *state;

	if (!strcmp(op, "CreateKey")) {
		id = str_at(o, "KeyMetadata", "KeyId");
		arn = str_at(o, "KeyMetadata", "Arn");
		if (!id || !arn) {
			fprintf(stderr, "aws_kms_admin: CreateKey: no KeyMetadata.KeyId/Arn in the answer\n");
			return 3;
		}
		printf("%s %s\n", id, arn);
	} else if (!strcmp(op, "DescribeKey")) {
		state = str_at(o, "KeyMetadata", "KeyState");
		if (!state) {
			fprintf(stderr, "aws_kms_admin: DescribeKey: no KeyMetadata.KeyState in the answer\n");
			return 3;
		}
		printf("%s\n", state);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "endpoint", required_argument, NULL, 'e' },
		{ "region", required_argument, NULL, 'r' },
		{ "ca-file", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *endpoint = getenv("AWS_KMS_ENDPOINT"), *region = "us-east-1";
	const char *ca = NULL, *op, *key = NULL, *alias = NULL, *akid, *secret;
	const char *type, *msg;
	char sig[128], up[512], h_ct[64], h_target[96];
	struct cmek_http_req r = { .method = "POST" };
	struct cmek_http_resp resp = { 0 };
	struct cmek_error err = { 0 };
	struct cmek_http_opts o;
	enum json_tokener_error jerr = json_tokener_success;
	struct json_object *ans;
	char *body = NULL;
	bool known = false;
	int c, ret = 3;
	size_t i;

	while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (c) {
		case 'e':
			endpoint = optarg;
			break;
		case 'r':
			region = optarg;
			break;
		case 'c':
			ca = optarg;
			break;
		case 'h':
			usage();
			return 0;
		default:
			usage();
			return 2;
		}
	}
	if (optind >= argc) {
		usage();
		return 2;
	}
	op = argv[optind++];
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		known |= !strcmp(op, ops[i]);
	if (!known) {
		fprintf(stderr, "aws_kms_admin: unknown operation '%s'\n", op);
		usage();
		return 2;
	}
	if (strcmp(op, "CreateKey"))
		key = optind < argc ? argv[optind++] : NULL;
	if (strstr(op, "Alias"))
		alias = optind < argc ? argv[optind++] : NULL;
	if ((strcmp(op, "CreateKey") && !key) || (strstr(op, "Alias") &&
						   !alias) || optind != argc) {
		fprintf(stderr, "aws_kms_admin: %s takes %s\n", op,
			strstr(op, "Alias") ? "KEY ALIAS" :
			strcmp(op, "CreateKey") ? "one KEY (id or ARN)" :
						  "no argument");
		return 2;
	}
	if (!endpoint || !*endpoint) {
		fprintf(stderr, "aws_kms_admin: no endpoint: give --endpoint or set AWS_KMS_ENDPOINT\n");
		return 2;
	}
	if (cmek_http_endpoint_valid(endpoint, &err)) {
		fprintf(stderr, "aws_kms_admin: endpoint %s: %s\n", endpoint,
			err.msg);
		return 2;
	}
	akid = getenv("AWS_ACCESS_KEY_ID");
	secret = getenv("AWS_SECRET_ACCESS_KEY");
	if (!akid || !*akid || !secret || !*secret) {
		fprintf(stderr, "aws_kms_admin: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY\n");
		return 2;
	}

	cmek_http_opts_init(&o);
	if (ca) {
		o.ca_file = strdup(ca);
		if (!o.ca_file)
			return 3;
	}
	/* A test step: fail within seconds rather than retry for long. */
	o.retries = 1;
	o.deadline_ms = 20000;
	snprintf(sig, sizeof(sig), "aws:amz:%s:kms", region);
	snprintf(up, sizeof(up), "%s:%s", akid, secret);
	body = request_body(op, key, alias);
	if (!body)
		goto out;
	r.url = endpoint;
	r.aws_sigv4 = sig;
	r.userpwd = up;
	r.body = body;
	r.body_len = strlen(body);
	if (cmek_http_header(&r, h_ct, sizeof(h_ct),
			     "Content-Type: application/x-amz-json-1.1") ||
	    cmek_http_header(&r, h_target, sizeof(h_target),
			     "X-Amz-Target: TrentService.%s", op))
		goto out;
	if (cmek_http_call(&o, &r, &resp, &err)) {
		fprintf(stderr, "aws_kms_admin: %s %s: no answer: %s\n", op,
			endpoint, err.msg);
		goto out;
	}
	/*
	 * DisableKey and the like answer 200 with an empty body (AWS) or
	 * "null" (moto): both parse to no object without an error.
	 */
	ans = resp.len ? json_tokener_parse_verbose(resp.body, &jerr) : NULL;
	if (resp.status != 200) {
		type = str_at(ans, "__type", NULL);
		msg = str_at(ans, "message", NULL);
		if (!msg)
			msg = str_at(ans, "Message", NULL);
		fprintf(stderr, "aws_kms_admin: %s: HTTP %ld %s: %s\n", op,
			resp.status, type ? type : "(no __type)",
			msg ? msg : (resp.body ? resp.body : ""));
		ret = 1;
	} else if (resp.len && jerr != json_tokener_success) {
		fprintf(stderr, "aws_kms_admin: %s: the answer is not JSON\n",
			op);
	} else {
		ret = report(op, ans);
	}
	json_object_put(ans);
out:
	free(body);
	cmek_http_resp_free(&resp);
	cmek_http_opts_free(&o);
	return ret;
}
