// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only KMIP server control and key administration; see kmip_admin.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "fakesrv.h"
#include "kmip_admin.h"

#define START_TIMEOUT_MS	30000

static int free_port(void)
{
	struct sockaddr_in a = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	if (fd < 0)
		return -1;
	if (!bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
	    !getsockname(fd, (struct sockaddr *)&a, &l))
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static bool accepts(int port)
{
	struct sockaddr_in a = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

static int write_conf(struct kmip_test_server *s, const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	/* INFO, not DEBUG: pykmip logs request bytes (data keys) at DEBUG. */
	fprintf(f, "[server]\nhostname=127.0.0.1\nport=%d\n"
		"certificate_path=%s/pki/server.pem\nkey_path=%s/pki/server.key\n"
		"ca_path=%s/pki/ca.pem\nauth_suite=TLS1.2\n"
		"enable_tls_client_auth=True\nlogging_level=INFO\n"
		"database_path=%s/pykmip.sqlite\n",
		s->port, s->dir, s->dir, s->dir, s->dir);
	return fclose(f);
}

static int make_pki(struct kmip_test_server *s)
{
	char pki[160], rogue[160];

	snprintf(pki, sizeof(pki), "%s/pki", s->dir);
	snprintf(rogue, sizeof(rogue), "%s/rogue", s->dir);
	if (mkdir(pki, 0700) || mkdir(rogue, 0700) ||
	    fake_cert_issue(pki, "server") || fake_cert_issue(pki, "client") ||
	    fake_cert_issue(pki, "intruder") ||
	    fake_cert_issue(rogue, "client"))
		return -1;
	snprintf(s->ca_file, sizeof(s->ca_file), "%s/ca.pem", pki);
	snprintf(s->cert_file, sizeof(s->cert_file), "%s/client.pem", pki);
	snprintf(s->key_file, sizeof(s->key_file), "%s/client.key", pki);
	return 0;
}

static void exec_server(struct kmip_test_server *s, const char *conf)
{
	char out[192];
	int fd;

	snprintf(out, sizeof(out), "%s/stdout.log", s->dir);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	execlp("pykmip-server", "pykmip-server", "-f", conf, "-l", s->log,
	       (char *)NULL);
	dprintf(2, "exec pykmip-server: %s\n", strerror(errno));
	_exit(127);
}

/*
 * pykmip-server forks helpers of its own (a multiprocessing manager and
 * the policy monitor), so it runs in a process group of its own under a
 * watchdog: the watchdog exits with the server's status if it dies, and
 * kills the whole group once the test process is gone, however it ended.
 * Stopping the server is kill(-watchdog, SIGKILL).
 */
static pid_t spawn(struct kmip_test_server *s, const char *conf)
{
	pid_t test = getpid(), w, srv;
	int status;

	w = fork();
	if (w) {
		if (w > 0)
			setpgid(w, w);
		return w;
	}
	setpgid(0, 0);
	srv = fork();
	if (!srv)
		exec_server(s, conf);
	while (srv > 0 && getppid() == test) {
		if (waitpid(srv, &status, WNOHANG) == srv)
			_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 126);
		usleep(100000);
	}
	kill(0, SIGKILL);
	_exit(1);
}

int kmip_server_start(struct kmip_test_server *s, char *why, size_t len)
{
	char conf[192];
	int status;

	memset(s, 0, sizeof(*s));
	snprintf(s->dir, sizeof(s->dir), "/tmp/cmek-kmip-XXXXXX");
	if (!mkdtemp(s->dir) || make_pki(s)) {
		snprintf(why, len, "cannot make certificates in %s", s->dir);
		return -1;
	}
	s->port = free_port();
	snprintf(conf, sizeof(conf), "%s/server.conf", s->dir);
	snprintf(s->log, sizeof(s->log), "%s/server.log", s->dir);
	if (s->port < 0 || write_conf(s, conf)) {
		snprintf(why, len, "cannot write %s", conf);
		return -1;
	}
	s->pid = spawn(s, conf);
	if (s->pid < 0) {
		snprintf(why, len, "fork: %s", strerror(errno));
		s->pid = 0;
		return -1;
	}
	for (int ms = 0; ms < START_TIMEOUT_MS; ms += 50) {
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = 0;
			snprintf(why, len,
				 "pykmip-server exited with status %d%s; see %s/stdout.log",
				 WIFEXITED(status) ? WEXITSTATUS(status) : -1,
				 WIFEXITED(status) && WEXITSTATUS(status) == 127 ?
				 " (not installed? apt-get install python3-pykmip)" :
				 "", s->dir);
			return -1;
		}
		if (accepts(s->port))
			return 0;
		usleep(50000);
	}
	kmip_server_stop(s);
	snprintf(why, len, "pykmip-server did not listen on port %d within %d s",
		 s->port, START_TIMEOUT_MS / 1000);
	return -1;
}

void kmip_server_stop(struct kmip_test_server *s)
{
	if (s->pid <= 0)
		return;
	kill(-s->pid, SIGKILL);
	waitpid(s->pid, NULL, 0);
	s->pid = 0;
	/* The group's other members (not our children) close the socket. */
	for (int ms = 0; ms < 5000 && accepts(s->port); ms += 20)
		usleep(20000);
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	return remove(path);
}

void kmip_server_cleanup(struct kmip_test_server *s)
{
	if (s->dir[0] && strncmp(s->dir, "/tmp/cmek-kmip-", 15) == 0)
		nftw(s->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- key administration ---- */

static void put_attr_int(struct ttlv_buf *b, const char *name, uint8_t type,
			 uint32_t v)
{
	ttlv_begin(b, KMIP_TAG_ATTRIBUTE);
	ttlv_put_text(b, KMIP_TAG_ATTRIBUTE_NAME, name);
	if (type == TTLV_ENUM)
		ttlv_put_enum(b, KMIP_TAG_ATTRIBUTE_VALUE, v);
	else
		ttlv_put_int(b, KMIP_TAG_ATTRIBUTE_VALUE, (int32_t)v);
	ttlv_end(b);
}

static int uid_op(struct cmek_provider *p, uint32_t op, const char *uid,
		  uint32_t revoke_code, struct cmek_error *err)
{
	struct cmek_kmip_reply r;
	struct ttlv_buf b;
	int ret;

	ttlv_buf_init(&b);
	ttlv_put_text(&b, KMIP_TAG_UNIQUE_IDENTIFIER, uid);
	if (op == KMIP_OP_REVOKE) {
		ttlv_begin(&b, KMIP_TAG_REVOCATION_REASON);
		ttlv_put_enum(&b, KMIP_TAG_REVOCATION_CODE, revoke_code);
		ttlv_end(&b);
	}
	ret = cmek_kmip_call(p, op, &b, &r, err);
	cmek_kmip_reply_free(&r);
	ttlv_buf_free(&b);
	return ret;
}

int kmip_admin_create_aes(struct cmek_provider *p, char *uid, size_t len,
			  struct cmek_error *err)
{
	struct cmek_kmip_reply r;
	struct ttlv_item v;
	struct ttlv_buf b;
	int ret = -1;

	ttlv_buf_init(&b);
	ttlv_put_enum(&b, KMIP_TAG_OBJECT_TYPE, 2);	/* Symmetric Key */
	ttlv_begin(&b, KMIP_TAG_TEMPLATE_ATTRIBUTE);
	put_attr_int(&b, "Cryptographic Algorithm", TTLV_ENUM, 3);	/* AES */
	put_attr_int(&b, "Cryptographic Length", TTLV_INT, 256);
	put_attr_int(&b, "Cryptographic Usage Mask", TTLV_INT, 4 | 8);
	ttlv_end(&b);
	if (cmek_kmip_call(p, KMIP_OP_CREATE, &b, &r, err))
		goto out;
	if (!r.has_payload ||
	    !ttlv_find(&r.payload, KMIP_TAG_UNIQUE_IDENTIFIER, TTLV_TEXT, &v) ||
	    !v.len || v.len >= len) {
		cmek_error_set(err, CMEK_ERR_INVALID, "Create: no Unique Identifier");
		goto out;
	}
	memcpy(uid, v.val, v.len);
	uid[v.len] = '\0';
	ret = uid_op(p, KMIP_OP_ACTIVATE, uid, 0, err);
out:
	cmek_kmip_reply_free(&r);
	ttlv_buf_free(&b);
	return ret;
}

int kmip_admin_revoke(struct cmek_provider *p, const char *uid,
		      uint32_t code, struct cmek_error *err)
{
	return uid_op(p, KMIP_OP_REVOKE, uid, code, err);
}

int kmip_admin_destroy(struct cmek_provider *p, const char *uid,
		       struct cmek_error *err)
{
	return uid_op(p, KMIP_OP_DESTROY, uid, 0, err);
}

/* ---- a TLS peer with canned answers ---- */

static bool read_n(SSL *ssl, uint8_t *p, size_t n)
{
	size_t got;

	while (n) {
		if (SSL_read_ex(ssl, p, n, &got) <= 0)
			return false;
		p += got;
		n -= got;
	}
	return true;
}

static void serve_one(struct kmip_fake_peer *fp, int c)
{
	struct timeval tv = { .tv_sec = 5 };
	uint8_t hdr[8], *body;
	SSL *ssl = SSL_new(fp->ctx);
	uint32_t len;
	size_t n;

	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (!ssl || !SSL_set_fd(ssl, c) || SSL_accept(ssl) != 1 ||
	    !read_n(ssl, hdr, sizeof(hdr)))
		goto out;
	len = (uint32_t)hdr[4] << 24 | hdr[5] << 16 | hdr[6] << 8 | hdr[7];
	body = len <= 65536 ? malloc(len + 1) : NULL;
	if (!body || !read_n(ssl, body, len))
		goto out_body;
	fp->req_len = 0;
	if (sizeof(hdr) + len <= sizeof(fp->req)) {
		memcpy(fp->req, hdr, sizeof(hdr));
		memcpy(fp->req + sizeof(hdr), body, len);
		fp->req_len = sizeof(hdr) + len;
	}
	if (fp->resp_len)
		SSL_write_ex(ssl, fp->resp, fp->resp_len, &n);
out_body:
	free(body);
out:
	SSL_free(ssl);
	close(c);
}

static void *peer_main(void *arg)
{
	struct kmip_fake_peer *fp = arg;
	int c;

	while (!fp->stop) {
		c = accept(fp->fd, NULL, NULL);
		if (c < 0) {
			if (errno != EINTR)
				break;
			continue;
		}
		fp->served++;
		serve_one(fp, c);
	}
	return NULL;
}

int kmip_fake_peer_start(struct kmip_fake_peer *fp, const char *cert,
			 const char *key)
{
	struct sockaddr_in a = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t l = sizeof(a);
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	memset(fp, 0, sizeof(*fp));
	fp->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!ctx || fp->fd < 0 ||
	    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    bind(fp->fd, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(fp->fd, (struct sockaddr *)&a, &l) ||
	    listen(fp->fd, 4))
		goto fail;
	fp->port = ntohs(a.sin_port);
	fp->ctx = ctx;
	if (pthread_create(&fp->thread, NULL, peer_main, fp))
		goto fail;
	return 0;
fail:
	SSL_CTX_free(ctx);
	if (fp->fd >= 0)
		close(fp->fd);
	fp->ctx = NULL;
	fp->fd = -1;
	return -1;
}

void kmip_fake_peer_stop(struct kmip_fake_peer *fp)
{
	if (!fp->ctx)
		return;
	fp->stop = true;
	shutdown(fp->fd, SHUT_RDWR);
	pthread_join(fp->thread, NULL);
	close(fp->fd);
	SSL_CTX_free(fp->ctx);
	fp->ctx = NULL;
}
