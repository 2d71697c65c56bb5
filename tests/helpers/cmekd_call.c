// SPDX-License-Identifier: GPL-2.0
/*
 * Test helper: send one raw request to cmekd's socket, print the reply.
 *
 *	cmekd_call SOCKET MESSAGE [--size N]
 *
 * MESSAGE goes out as is (JSON or not: the framing tests send garbage);
 * --size N pads it with spaces to N bytes (the oversized-message test).
 * Exit 0 if the reply is {"ok": true}, 1 if it is any other JSON object,
 * 2 on a transport error (message on stderr, e.g. "Permission denied").
 * It speaks the socket directly rather than through lib/ipc.c so that it
 * can send what a well-behaved client never would.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <json-c/json.h>

#define REPLY_MAX	70000

static int transport_error(const char *what)
{
	fprintf(stderr, "transport error: %s: %s\n", what, strerror(errno));
	return 2;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 120 };
	size_t len, size = 0;
	struct json_object *r, *ok;
	char *msg, *reply;
	ssize_t n;
	int fd, ret;

	if (argc == 5 && !strcmp(argv[3], "--size"))
		size = strtoul(argv[4], NULL, 0);
	else if (argc != 3) {
		fprintf(stderr, "usage: cmekd_call SOCKET MESSAGE [--size N]\n");
		return 2;
	}
	len = strlen(argv[2]);
	if (size < len)
		size = len;
	msg = malloc(size);
	reply = malloc(REPLY_MAX + 1);
	if (!msg || !reply)
		return 2;
	memset(msg, ' ', size);
	memcpy(msg, argv[2], len);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[1]);

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return transport_error("socket");
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return transport_error(argv[1]);
	if (send(fd, msg, size, 0) < 0)
		return transport_error("send");
	n = recv(fd, reply, REPLY_MAX, 0);
	if (n < 0)
		return transport_error("recv");
	if (n == 0) {
		fprintf(stderr, "transport error: connection closed without a reply\n");
		return 2;
	}
	reply[n] = '\0';
	printf("%s\n", reply);

	r = json_tokener_parse(reply);
	if (!r || !json_object_is_type(r, json_type_object))
		ret = 2;
	else if (json_object_object_get_ex(r, "ok", &ok) &&
		 json_object_is_type(ok, json_type_boolean) &&
		 json_object_get_boolean(ok))
		ret = 0;
	else
		ret = 1;
	json_object_put(r);
	free(msg);
	free(reply);
	close(fd);
	return ret;
}
