// SPDX-License-Identifier: GPL-2.0
/*
 * vault_fake DIR PORT KEY TOKEN: the fake Vault transit engine of the unit
 * tests (userspace/providers/vault_transit/fake_vault.c) as a server
 * process, for VM tests that kill the KMS in the middle of a request and
 * start it again (tests/kselftest/cmekd_kmsfail.sh).
 *
 * It serves HTTPS on 127.0.0.1:PORT with a certificate from the CA in
 * DIR/ca.pem (made on first start, reused after), knows one transit key
 * KEY and one token TOKEN with every capability on it, and prints "ready"
 * once it listens. What a restarted server must still know lives in DIR:
 * KEY's bytes in DIR/KEY.bytes, made on first start, so that what one
 * instance wrapped the next one unwraps.
 *
 * To stop in the middle of a request: while DIR/stall exists and its
 * first line is a substring of a request's path, the request has been read
 * but gets no answer; the server writes that path to DIR/stalled and waits
 * until DIR/stall goes away. The test kills it there, or lets it go on.
 *
 * To throttle: while DIR/throttle exists, a request whose path has its
 * first line as a substring gets HTTP 429 and Vault's rate-limit error.
 * To stand in for something on the way (a WAF, a proxy): while
 * DIR/answer exists, every request gets its first line as the HTTP
 * status and the rest of the file as the body, from the server itself.
 * Every request's method and path are appended to DIR/requests.
 * Key administration, applied before the next request is answered: a file
 * DIR/rotate makes a new version of KEY (the file is removed), a file
 * DIR/min_decrypt sets KEY's min_decryption_version to the number in it.
 *
 * Test use only: the key bytes sit in a plain file.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "vault_transit/fake_vault.h"

static char dir[256];
static const char *key_name;

/* DIR/NAME exists and its first line is a substring of @path. */
static bool file_matches(const char *name, const char *path)
{
	char want[256], file[300];
	FILE *f;
	bool hit;

	snprintf(file, sizeof(file), "%s/%s", dir, name);
	f = fopen(file, "r");
	if (!f)
		return false;
	if (!fgets(want, sizeof(want), f))
		want[0] = '\0';
	fclose(f);
	want[strcspn(want, "\n")] = '\0';
	hit = strstr(path, want) != NULL;
	return hit;
}

static void stall(const char *path)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	char file[300], tmp[310];
	FILE *f;

	snprintf(file, sizeof(file), "%s/stalled", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", file);
	f = fopen(tmp, "w");
	if (f) {
		fprintf(f, "%s\n", path);
		fclose(f);
		rename(tmp, file);
	}
	while (file_matches("stall", path))
		nanosleep(&ts, NULL);
}

static void log_request(const struct fake_req *rq)
{
	char file[300];
	FILE *f;

	snprintf(file, sizeof(file), "%s/requests", dir);
	f = fopen(file, "a");
	if (!f)
		return;
	fprintf(f, "%s %s\n", rq->method, rq->path);
	fclose(f);
}

/* DIR/answer: "STATUS\nBODY...", answered as it is; false if none. */
static bool canned(struct fake_resp *rs)
{
	char file[300], *body;
	int status;
	long n;
	FILE *f;

	snprintf(file, sizeof(file), "%s/answer", dir);
	f = fopen(file, "r");
	if (!f)
		return false;
	if (fscanf(f, "%d\n", &status) != 1 || status < 100 || status > 599 ||
	    !(body = calloc(1, 4096))) {
		fclose(f);
		return false;
	}
	n = (long)fread(body, 1, 4095, f);
	fclose(f);
	free(rs->body);
	rs->status = status;
	snprintf(rs->content_type, sizeof(rs->content_type), "%s",
		 body[0] == '<' ? "text/html" : "application/json");
	rs->body = body;
	rs->body_len = (size_t)n;
	return true;
}

static void key_admin(struct fake_vault *v)
{
	char file[300];
	FILE *f;
	int n;

	snprintf(file, sizeof(file), "%s/rotate", dir);
	if (!unlink(file) && fake_vault_key_rotate(v, key_name) < 0)
		fprintf(stderr, "vault_fake: cannot rotate %s\n", key_name);
	snprintf(file, sizeof(file), "%s/min_decrypt", dir);
	f = fopen(file, "r");
	if (!f)
		return;
	if (fscanf(f, "%d", &n) != 1 ||
	    fake_vault_key_min_decrypt(v, key_name, n))
		fprintf(stderr, "vault_fake: bad min_decrypt for %s\n",
			key_name);
	fclose(f);
}

static void handler(struct fakesrv *s, const struct fake_req *rq,
		    struct fake_resp *rs)
{
	log_request(rq);
	key_admin(s->data);
	if (file_matches("stall", rq->path))
		stall(rq->path);
	if (file_matches("throttle", rq->path)) {
		rs->status = 429;
		snprintf(rs->content_type, sizeof(rs->content_type),
			 "application/json");
		rs->body = strdup("{\"errors\":[\"rate limit quota exceeded\"]}");
		rs->body_len = rs->body ? strlen(rs->body) : 0;
		return;
	}
	if (canned(rs))
		return;
	fake_vault_handler(s, rq, rs);
}

/* KEY's bytes: from DIR/KEY.bytes, or new ones written there. */
static int key_bytes(const char *name, uint8_t out[32])
{
	char file[400];
	ssize_t n;
	int fd;

	snprintf(file, sizeof(file), "%s/%s.bytes", dir, name);
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, out, 32);
		close(fd);
		return n == 32 ? 0 : -1;
	}
	if (errno != ENOENT || RAND_bytes(out, 32) != 1)
		return -1;
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	n = write(fd, out, 32);
	if (close(fd) || n != 32)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	static struct fake_vault v;
	static struct fakesrv s;
	sigset_t set;
	int port, sig;

	if (argc != 5) {
		fprintf(stderr, "usage: vault_fake DIR PORT KEY TOKEN\n");
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s", argv[1]);
	key_name = argv[3];
	port = atoi(argv[2]);
	if (port <= 0 || port > 65535) {
		fprintf(stderr, "vault_fake: bad port '%s'\n", argv[2]);
		return 2;
	}
	fake_vault_init(&v, "transit", NULL);
	if (fake_vault_key_add(&v, argv[3], false) ||
	    key_bytes(argv[3], v.keys[0].ver[1]) ||
	    fake_vault_token_add(&v, argv[4], NULL, FAKE_VAULT_CAP_ALL,
				 argv[3])) {
		fprintf(stderr, "vault_fake: cannot set up key %s in %s\n",
			argv[3], dir);
		return 1;
	}
	/* The server thread must not take the signal that ends us. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (fakesrv_start_port(&s, dir, port, handler, &v))
		return 1;
	printf("ready\n");
	fflush(stdout);
	sigwait(&set, &sig);
	fakesrv_stop(&s);
	fake_vault_free(&v);
	return 0;
}
