// SPDX-License-Identifier: GPL-2.0
/*
 * The HTTPS layer the cloud providers share (userspace/lib/http.c) and the
 * base64 coders, against the test server in tests/lib/fakesrv.c: TLS
 * verification, status handling, the retry policy with its backoff, the
 * bounds on time and size, and the configuration keys.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "b64.h"
#include "http.h"
#include "../lib/fakesrv.h"
#include "../lib/tap.h"

static char dir[] = "/tmp/cmek-test-http-XXXXXX";
/* A CA that stands for the system's trust store (/etc/ssl/certs). */
static char sysdir[] = "/tmp/cmek-test-http-sys-XXXXXX";
static char residir[] = "/tmp/cmek-test-http-res-XXXXXX";

static void echo(struct fakesrv *s, const struct fake_req *rq,
		 struct fake_resp *rs)
{
	const char *h = fake_header(rq, "X-Test");
	char *big;

	if (!strcmp(rq->path, "/big")) {
		big = malloc(CMEK_HTTP_BODY_MAX + 2);
		memset(big, 'a', CMEK_HTTP_BODY_MAX + 1);
		big[CMEK_HTTP_BODY_MAX + 1] = '\0';
		fake_reply(rs, 200, "\"%s\"", big);
		free(big);
		return;
	}

	fake_reply(rs, 200, "{\"method\":\"%s\",\"path\":\"%s\",\"len\":%zu,\"x\":\"%s\"}",
		   rq->method, rq->path, rq->body_len, h ? h : "");
}

/* ---- the system's trust store, for this process only ---- */

/*
 * Put @ca_pem in place of /etc/ssl/certs -- libcurl's built-in CA path
 * and bundle on Debian -- in a mount namespace of our own: the host's
 * store is untouched, and a test can show that a CA the system trusts is
 * not trusted once ca_file names another. Before any thread.
 */
static int fake_system_store(const char *ca_pem, const char *certs)
{
	char link[600], bundle[600];
	unsigned long h;
	X509 *x = NULL;
	FILE *f;

	f = fopen(ca_pem, "r");
	if (f) {
		x = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (!x)
		return -1;
	h = X509_subject_name_hash(x);
	X509_free(x);
	if (mkdir(certs, 0755))
		return -1;
	snprintf(link, sizeof(link), "%s/%08lx.0", certs, h);
	snprintf(bundle, sizeof(bundle), "%s/ca-certificates.crt", certs);
	if (symlink(ca_pem, link) || symlink(ca_pem, bundle))
		return -1;
	if (unshare(CLONE_NEWNS) ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount(certs, "/etc/ssl/certs", NULL, MS_BIND, NULL))
		return -1;
	return 0;
}

/* ---- what stays in our memory after a request ---- */

#define MASK	0x5a

/*
 * Is @masked (each byte XOR MASK, so that the pattern itself is nowhere
 * in memory) anywhere in our writable mappings? Mappings over 1 GiB are
 * the sanitizer's shadow: reserved, not data.
 */
static bool mem_holds(const unsigned char *masked, size_t n)
{
	static unsigned char buf[1 << 20];
	unsigned long a, b, off;
	char line[512], perm[8];
	bool found = false;
	FILE *maps;
	ssize_t got;
	size_t i, j;
	int fd;

	maps = fopen("/proc/self/maps", "r");
	fd = open("/proc/self/mem", O_RDONLY);
	while (maps && fd >= 0 && !found && fgets(line, sizeof(line), maps)) {
		if (sscanf(line, "%lx-%lx %7s", &a, &b, perm) != 3 ||
		    perm[0] != 'r' || perm[1] != 'w' || b - a > (1UL << 30))
			continue;
		/* The scan buffer itself holds whatever it read last. */
		if ((unsigned long)buf < b && (unsigned long)buf + sizeof(buf) > a &&
		    b - a <= sizeof(buf))
			continue;
		for (off = a; off < b && !found; off += sizeof(buf) - n) {
			got = pread(fd, buf, sizeof(buf) < b - off ?
				    sizeof(buf) : b - off, (off_t)off);
			if (got <= 0)
				break;
			if ((unsigned long)buf >= off &&
			    (unsigned long)buf < off + (unsigned long)got)
				continue;
			for (i = 0; i + n <= (size_t)got && !found; i++) {
				for (j = 0; j < n; j++)
					if ((buf[i + j] ^ MASK) != masked[j])
						break;
				found = j == n;
			}
			if ((size_t)got < sizeof(buf))
				break;
		}
	}
	memset(buf, 0, sizeof(buf));
	if (maps)
		fclose(maps);
	if (fd >= 0)
		close(fd);
	return found;
}

/* "sha256//BASE64" of the SubjectPublicKeyInfo in @cert_pem. */
static void pin_of(const char *cert_pem, char *out, size_t len)
{
	unsigned char *der = NULL, md[32];
	X509 *x = NULL;
	FILE *f;
	char *e;
	int n;

	out[0] = '\0';
	f = fopen(cert_pem, "r");
	if (f) {
		x = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	n = x ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der) : -1;
	if (n > 0 && EVP_Digest(der, n, md, NULL, EVP_sha256(), NULL)) {
		e = cmek_b64_encode(md, sizeof(md), false);
		snprintf(out, len, "sha256//%s", e ? e : "");
		free(e);
	}
	OPENSSL_free(der);
	X509_free(x);
}

static char answer_secret[49];

/* The child's server: a Decrypt-like answer with the secret in it. */
static void secret_answer(struct fakesrv *s, const struct fake_req *rq,
			  struct fake_resp *rs)
{
	fake_reply(rs, 200, "{\"Plaintext\":\"%s\"}", answer_secret);
}

/*
 * A bearer token goes out in a header, a key comes back in the answer;
 * once the request is done and its answer freed, neither may be left in
 * our memory: not in libcurl's header list or buffers, not in OpenSSL's
 * records. The server is another process, so all that is here is the
 * client's. Before any thread of ours (fork).
 */
static void test_residue(void)
{
	unsigned char tok_raw[24], sec_raw[36], mtok[32], msec[48];
	struct cmek_http_req r = { .method = "POST", .body = "{}",
				   .body_len = 2 };
	struct cmek_http_resp resp = { 0 };
	struct cmek_error err = { 0 };
	struct cmek_http_opts o;
	char tok[33], hdr[64], url[96], line[128];
	int pfd[2], port = 0, st;
	struct fakesrv cs;
	bool before, held, ok;
	size_t i;
	pid_t pid;
	char *e;

	RAND_bytes(tok_raw, sizeof(tok_raw));
	RAND_bytes(sec_raw, sizeof(sec_raw));
	e = cmek_b64_encode(tok_raw, sizeof(tok_raw), false);
	snprintf(tok, sizeof(tok), "%s", e ? e : "");
	free(e);
	e = cmek_b64_encode(sec_raw, sizeof(sec_raw), false);
	snprintf(answer_secret, sizeof(answer_secret), "%s", e ? e : "");
	free(e);
	for (i = 0; i < 32; i++)
		mtok[i] = (unsigned char)tok[i] ^ MASK;
	for (i = 0; i < 48; i++)
		msec[i] = (unsigned char)answer_secret[i] ^ MASK;
	OPENSSL_cleanse(tok_raw, sizeof(tok_raw));
	OPENSSL_cleanse(sec_raw, sizeof(sec_raw));

	if (!mkdtemp(residir) || pipe(pfd))
		return;
	pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		if (fakesrv_start(&cs, residir, secret_answer, NULL))
			_exit(1);
		dprintf(pfd[1], "%d\n", cs.port);
		close(pfd[1]);
		pause();
		_exit(0);
	}
	close(pfd[1]);
	OPENSSL_cleanse(answer_secret, sizeof(answer_secret));
	ok = read(pfd[0], line, sizeof(line) - 1) > 0;
	close(pfd[0]);
	if (ok)
		port = atoi(line);

	cmek_http_opts_init(&o);
	snprintf(line, sizeof(line), "%s/ca.pem", residir);
	o.ca_file = strdup(line);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/decrypt", port);
	r.url = url;
	cmek_http_header(&r, hdr, sizeof(hdr), "X-Vault-Token: %s", tok);
	OPENSSL_cleanse(tok, sizeof(tok));
	before = mem_holds(mtok, 32);
	ok = port > 0 && cmek_http_call(&o, &r, &resp, &err) == 0 &&
	     resp.status == 200;
	/* The scan finds what is there: the answer we still hold. */
	held = ok && mem_holds(msec, 48);
	OPENSSL_cleanse(hdr, sizeof(hdr));
	cmek_http_resp_free(&resp);
	cmek_http_opts_free(&o);
	tap_ok(ok && before && held,
	       "a request with a token out and a key back; the scan finds both while we hold them%s%s",
	       err.msg[0] ? ": " : "", err.msg);
	tap_ok(!mem_holds(mtok, 32),
	       "after the request: the token is nowhere in our memory (header lists wiped, libcurl's heap wiped)");
	tap_ok(!mem_holds(msec, 48),
	       "after the answer is freed: the key is nowhere in our memory (receive buffers wiped, OpenSSL cleanses records)");
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 +
	       (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static void test_b64(void)
{
	static const uint8_t bin[] = { 0xfb, 0xff, 0xbf, 0x00, 0x01 };
	uint8_t *d;
	size_t n = 0;
	char *e;

	e = cmek_b64_encode(bin, sizeof(bin), false);
	tap_ok(e && !strcmp(e, "+/+/AAE="), "base64 encode: %s", e ? e : "(null)");
	d = e ? cmek_b64_decode(e, strlen(e), false, &n) : NULL;
	tap_ok(d && n == sizeof(bin) && !memcmp(d, bin, n),
	       "base64 round trip (%zu bytes)", n);
	free(d);
	free(e);
	e = cmek_b64_encode(bin, sizeof(bin), true);
	tap_ok(e && !strcmp(e, "-_-_AAE"), "base64url encode, no padding: %s", e ? e : "(null)");
	d = e ? cmek_b64_decode(e, strlen(e), true, &n) : NULL;
	tap_ok(d && n == sizeof(bin) && !memcmp(d, bin, n),
	       "base64url round trip");
	free(d);
	free(e);
	d = cmek_b64_decode("AAECAw==", 8, false, &n);
	tap_ok(d && n == 4 && d[3] == 3, "padded input decodes to 4 bytes");
	free(d);
	tap_ok(!cmek_b64_decode("AAE", 3, false, &n) &&
	       !cmek_b64_decode("AA=E", 4, false, &n) &&
	       !cmek_b64_decode("AA E", 4, false, &n) &&
	       !cmek_b64_decode("-_-_", 4, false, &n) &&
	       !cmek_b64_decode("+/+/", 4, true, &n) &&
	       !cmek_b64_decode("A", 1, true, &n),
	       "malformed base64 refused (length, '=' inside, space, wrong alphabet)");
}

/* The shared settings, as a provider's table holds them (o first). */
struct http_conf {
	struct cmek_http_opts o;
};

static const struct cmek_setting http_settings[] = {
	CMEK_HTTP_SETTINGS(struct http_conf, o),
	{ .name = NULL }
};

static int http_set(struct cmek_http_opts *o, const char *key,
		    const char *value, struct cmek_error *err)
{
	return cmek_setting_set("http", http_settings, o, key, value, err);
}

static void test_config(void)
{
	struct cmek_http_opts o;
	struct cmek_error err = { 0 };

	cmek_http_opts_init(&o);
	tap_ok(http_set(&o, "timeout", "250ms", &err) == 0 &&
	       o.timeout_ms == 250 &&
	       http_set(&o, "deadline", "2m", &err) == 0 &&
	       o.deadline_ms == 120000 &&
	       http_set(&o, "retries", "0", &err) == 0 &&
	       o.retries == 0 &&
	       http_set(&o, "ca_file", "/x/ca.pem", &err) == 0 &&
	       !strcmp(o.ca_file, "/x/ca.pem"),
	       "timeout, deadline, retries, ca_file parsed");
	tap_ok(http_set(&o, "region", "x", &err) < 0 &&
	       strstr(err.msg, "unknown http setting 'region'"),
	       "a provider's own key is not the shared table's: %s", err.msg);
	tap_ok(http_set(&o, "timeout", "0", &err) < 0 &&
	       strstr(err.msg, "timeout '0'") &&
	       http_set(&o, "timeout", "2h", &err) < 0 &&
	       http_set(&o, "connect_timeout", "5x", &err) < 0 &&
	       http_set(&o, "retries", "11", &err) < 0 &&
	       http_set(&o, "retries", "-1", &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID,
	       "bad values refused: %s", err.msg);
	tap_ok(cmek_http_endpoint_valid("http://127.0.0.1:1", &err) < 0 &&
	       strstr(err.msg, "TLS") &&
	       cmek_http_endpoint_valid("https://u:p@kms.example", &err) < 0 &&
	       cmek_http_endpoint_valid("https://kms.example/?q", &err) < 0 &&
	       cmek_http_endpoint_valid("https://", &err) < 0 &&
	       cmek_http_endpoint_valid("https://kms.example:8200/v1", NULL) == 0,
	       "endpoints: https only, no credentials or query");
	cmek_http_opts_free(&o);

	cmek_http_opts_init(&o);
	o.backoff_ms = 100;
	o.backoff_max_ms = 400;
	long mx[4] = { 0 };
	for (int a = 0; a < 4; a++)
		for (int i = 0; i < 200; i++) {
			long b = cmek_http_backoff_ms(&o, a);

			if (b > mx[a])
				mx[a] = b;
			if (b < 1)
				mx[a] = 100000;
		}
	tap_ok(mx[0] <= 100 && mx[0] > 50 && mx[1] <= 200 && mx[1] > 100 &&
	       mx[2] <= 400 && mx[2] > 200 && mx[3] <= 400,
	       "backoff: jittered below 100, 200, 400, 400 ms (max seen %ld %ld %ld %ld)",
	       mx[0], mx[1], mx[2], mx[3]);
}

static unsigned int seen_400;

static bool retry_400(const struct cmek_http_resp *resp, void *arg)
{
	if (resp->status != 400)
		return false;
	(*(unsigned int *)arg)++;
	return true;
}

int main(void)
{
	struct cmek_http_resp resp = { 0 };
	struct cmek_error err = { 0 };
	struct cmek_http_opts o;
	struct cmek_http_req r = { .method = "POST" };
	struct fake_faults f = { 0 };
	struct fakesrv s, s2;
	struct timespec t0;
	char url[128], hdr[64], seen[64], certs[128], sysca[128], pin[128];
	bool sys_ok;
	unsigned long before;
	long ms;
	int ret;

	tap_plan(41);
	/* Both before any thread: a fork, and a mount namespace. */
	test_residue();
	sys_ok = mkdtemp(sysdir) && !fake_cert_issue(sysdir, "server") &&
		 snprintf(certs, sizeof(certs), "%s/certs", sysdir) > 0 &&
		 !fake_system_store(strcat(strcpy(sysca, sysdir), "/ca.pem"),
				    certs);
	if (!sys_ok)
		tap_diag("cannot stand in for the system's CA store (%s): "
			 "the ca_file test is skipped", strerror(errno));
	test_b64();
	test_config();
	if (!mkdtemp(dir) || fakesrv_start(&s, dir, echo, NULL))
		return 1;
	if (sys_ok && fakesrv_start(&s2, sysdir, echo, NULL))
		return 1;

	cmek_http_opts_init(&o);
	o.backoff_ms = 20;
	o.timeout_ms = 2000;
	snprintf(url, sizeof(url), "%s/v1/echo?x=1", s.url);
	r.url = url;
	r.body = "{\"a\":1}";
	r.body_len = 7;
	cmek_http_header(&r, hdr, sizeof(hdr), "X-Test: %s", "yes");

	tap_ok(cmek_http_do(&o, &r, &resp, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT && strstr(err.msg, "certificate"),
	       "a server certificate that does not verify (a man in the middle's would not): transient, no answer, never a configuration error: %s",
	       err.msg);

	/* ca_file replaces the system's trust, it does not add to it. */
	if (sys_ok) {
		snprintf(url, sizeof(url), "%s/v1/echo", s2.url);
		tap_ok(cmek_http_do(&o, &r, &resp, &err) == 0 &&
		       resp.status == 200,
		       "without ca_file, a server whose CA is in the system's store is trusted");
		o.ca_file = strdup(s.ca_file);
		tap_ok(cmek_http_do(&o, &r, &resp, &err) < 0 &&
		       err.cls == CMEK_ERR_TRANSIENT &&
		       strstr(err.msg, "certificate"),
		       "with ca_file, a server whose CA is only in the system's store is refused: %s",
		       err.msg);
		snprintf(url, sizeof(url), "%s/v1/echo?x=1", s.url);
	} else {
		tap_ok(1, "system store trusted without ca_file # SKIP no mount namespace");
		tap_ok(1, "ca_file replaces the system store # SKIP no mount namespace");
		o.ca_file = strdup(s.ca_file);
	}

	/* What someone on the path can do without breaking TLS. */
	f.tls_alert = true;
	fakesrv_faults(&s, &f);
	tap_ok(cmek_http_do(&o, &r, &resp, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT && strstr(err.msg, "TLS"),
	       "an injected TLS alert: transient, no answer, never a configuration error: %s",
	       err.msg);
	fakesrv_faults(&s, NULL);
	f.tls_alert = false;

	/* pinned_pubkey: the server's key, or nothing. */
	snprintf(seen, sizeof(seen), "%s/server.pem", dir);
	pin_of(seen, pin, sizeof(pin));
	tap_ok(http_set(&o, "pinned_pubkey", pin, &err) == 0 &&
	       cmek_http_do(&o, &r, &resp, &err) == 0 && resp.status == 200,
	       "pinned_pubkey with the server's own key: the request goes through");
	memcpy(pin + 8, "AAAAAAAA", 8);
	tap_ok(http_set(&o, "pinned_pubkey", pin, &err) == 0 &&
	       cmek_http_do(&o, &r, &resp, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT && strstr(err.msg, "pinned_pubkey"),
	       "pinned_pubkey with another key: refused, transient (the path, or a new key): %s",
	       err.msg);
	tap_ok(http_set(&o, "pinned_pubkey", "/etc/ssl/pin.pem", &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID &&
	       http_set(&o, "pinned_pubkey", "sha256//short", &err) < 0,
	       "pinned_pubkey must be sha256//BASE64 hashes: %s", err.msg);
	free(o.pinned_pubkey);
	o.pinned_pubkey = NULL;

	tap_ok(cmek_http_call(&o, &r, &resp, &err) == 0 && resp.status == 200 &&
	       strstr(resp.body, "\"path\":\"/v1/echo\"") &&
	       strstr(resp.body, "\"len\":7") && strstr(resp.body, "\"x\":\"yes\"") &&
	       strstr(resp.content_type, "json") && resp.attempts == 1,
	       "request with the run's CA: method, path, body, header arrive");
	fakesrv_last_header(&s, "Content-Length", seen, sizeof(seen));
	tap_ok(!strcmp(seen, "7"), "Content-Length sent: %s", seen);

	f.status = 503;
	f.count = 2;
	fakesrv_faults(&s, &f);
	before = fakesrv_requests(&s);
	tap_ok(cmek_http_call(&o, &r, &resp, &err) == 0 && resp.status == 200 &&
	       resp.attempts == 3 && fakesrv_requests(&s) - before == 3,
	       "two 503s then 200: retried, %u attempts", resp.attempts);

	f.status = 429;
	f.count = 10;
	fakesrv_faults(&s, &f);
	before = fakesrv_requests(&s);
	tap_ok(cmek_http_call(&o, &r, &resp, &err) == 0 && resp.status == 429 &&
	       resp.attempts == 4 && fakesrv_requests(&s) - before == 4,
	       "429 throughout: 1 + 3 retries, then the 429 is the caller's");

	f.status = 400;
	f.count = 1;
	fakesrv_faults(&s, &f);
	before = fakesrv_requests(&s);
	tap_ok(cmek_http_call(&o, &r, &resp, &err) == 0 && resp.status == 400 &&
	       fakesrv_requests(&s) - before == 1 && strstr(resp.body, "injected"),
	       "400 is not retried");

	/* The provider's own transient statuses (AWS throttling is a 400). */
	f.status = 400;
	f.count = 2;
	fakesrv_faults(&s, &f);
	before = fakesrv_requests(&s);
	r.retry_if = retry_400;
	r.retry_arg = &seen_400;
	tap_ok(cmek_http_call(&o, &r, &resp, &err) == 0 && resp.status == 200 &&
	       resp.attempts == 3 && fakesrv_requests(&s) - before == 3 &&
	       seen_400 == 2,
	       "retry_if: two 400s it calls transient, then 200: 3 attempts");
	f.count = 10;
	fakesrv_faults(&s, &f);
	tap_ok(cmek_http_call(&o, &r, &resp, &err) == 0 && resp.status == 400 &&
	       resp.attempts == 4,
	       "retry_if: 400 throughout: 1 + 3 retries, the same bound");
	r.retry_if = NULL;
	r.retry_arg = NULL;

	f.status = 503;
	f.count = 1;
	snprintf(f.retry_after, sizeof(f.retry_after), "1");
	fakesrv_faults(&s, &f);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = cmek_http_call(&o, &r, &resp, &err);
	ms = ms_since(&t0);
	tap_ok(ret == 0 && resp.status == 200 && ms >= 1000 && ms < 6000,
	       "Retry-After: 1 honoured (%ld ms)", ms);
	f.retry_after[0] = '\0';

	f.count = 0;
	f.hang = true;
	fakesrv_faults(&s, &f);
	o.timeout_ms = 300;
	o.retries = 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = cmek_http_call(&o, &r, &resp, &err);
	ms = ms_since(&t0);
	tap_ok(ret < 0 && err.cls == CMEK_ERR_TRANSIENT && ms >= 600 &&
	       ms < 5000, "server that never answers: transient after 2 x 300 ms (%ld ms): %s",
	       ms, err.msg);
	fakesrv_faults(&s, NULL);

	o.deadline_ms = 500;
	o.retries = 10;
	f.hang = false;
	f.status = 503;
	f.count = 100;
	fakesrv_faults(&s, &f);
	o.backoff_ms = 100;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = cmek_http_call(&o, &r, &resp, &err);
	ms = ms_since(&t0);
	tap_ok(ret == 0 && resp.status == 503 && ms < 2500 &&
	       resp.attempts >= 2 && resp.attempts < 10,
	       "deadline bounds the retries: %u attempts in %ld ms (status %ld)",
	       resp.attempts, ms, resp.status);
	fakesrv_faults(&s, NULL);
	o.deadline_ms = 30000;
	o.timeout_ms = 2000;

	memset(&f, 0, sizeof(f));
	f.close_early = true;
	fakesrv_faults(&s, &f);
	o.retries = 0;
	tap_ok(cmek_http_call(&o, &r, &resp, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT,
	       "connection closed without an answer: transient: %s", err.msg);
	fakesrv_faults(&s, NULL);

	snprintf(url, sizeof(url), "%s/big", s.url);
	tap_ok(cmek_http_call(&o, &r, &resp, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT && strstr(err.msg, "larger than"),
	       "an answer over 1 MiB is refused, as no answer (transient): %s",
	       err.msg);

	snprintf(url, sizeof(url), "https://127.0.0.1:1/v1");
	tap_ok(cmek_http_call(&o, &r, &resp, &err) < 0 &&
	       err.cls == CMEK_ERR_TRANSIENT,
	       "connection refused: transient: %s", err.msg);
	snprintf(url, sizeof(url), "https://localhost:%d/v1", s.port);
	tap_ok(cmek_http_call(&o, &r, &resp, &err) == 0 && resp.status == 200,
	       "host name verified against the certificate's DNS name");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1", s.port);
	before = fakesrv_requests(&s);
	tap_ok(cmek_http_call(&o, &r, &resp, &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID && fakesrv_requests(&s) == before,
	       "plain http refused before any request: %s", err.msg);

	/* Instance metadata: plain HTTP, to link-local or loopback only. */
	fakesrv_stop(&s);
	if (fakesrv_start_plain(&s, dir, echo, NULL))
		return 1;
	snprintf(url, sizeof(url), "%s/latest/api/token", s.url);
	r.metadata = false;
	tap_ok(cmek_http_call(&o, &r, &resp, &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID,
	       "plain http refused without the metadata flag");
	r.metadata = true;
	r.method = "PUT";
	tap_ok(cmek_http_call(&o, &r, &resp, &err) == 0 && resp.status == 200 &&
	       strstr(resp.body, "\"method\":\"PUT\"") &&
	       strstr(resp.body, "/latest/api/token"),
	       "metadata request over plain http to loopback");
	snprintf(url, sizeof(url), "http://kms.example.com/latest");
	tap_ok(cmek_http_call(&o, &r, &resp, &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID,
	       "metadata flag does not open plain http to other hosts");
	snprintf(url, sizeof(url), "http://169.254.169.254.evil.example/latest");
	tap_ok(cmek_http_call(&o, &r, &resp, &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID,
	       "nor to a host that only starts like the metadata address");

	cmek_http_resp_free(&resp);
	tap_ok(resp.body == NULL && resp.len == 0, "response freed");
	cmek_http_opts_free(&o);
	fakesrv_stop(&s);
	if (sys_ok)
		fakesrv_stop(&s2);
	return tap_done();
}
