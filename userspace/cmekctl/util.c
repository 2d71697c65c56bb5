// SPDX-License-Identifier: GPL-2.0
/*
 * cmekctl helpers: messages, locked key buffers, reading keys, prompts,
 * netlink error explanations.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>

#include "cmekctl.h"
#include "escape.h"
#include "nl-priv.h"
#include "ipc.h"
#include "secmem.h"

/*
 * Messages quote what the header or cmekd's answer said (key references,
 * KMS errors): no control sequence of theirs reaches the terminal.
 */
static void vmsg(FILE *f, const char *pfx, const char *fmt, va_list ap)
{
	char raw[4096], esc[CMEK_ESC_SIZE(4096)];

	vsnprintf(raw, sizeof(raw), fmt, ap);
	cmek_escape(raw, esc, sizeof(esc), CMEK_ESC_KEEP_NL);
	fprintf(f, "%s%s\n", pfx, esc);
}

void err_msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(stderr, "cmekctl: ", fmt, ap);
	va_end(ap);
}

void info_msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(stdout, "", fmt, ap);
	va_end(ap);
	fflush(stdout);
}

int secbuf_alloc(struct secbuf *b, size_t cap)
{
	void *probe;
	int e;

	memset(b, 0, sizeof(*b));
	b->p = cmek_secmem_alloc_locked(cap);
	if (b->p)
		return 0;
	/* Say which failed: the memory, or its lock. */
	e = errno;
	probe = cmek_secmem_alloc(cap);
	if (!probe) {
		err_msg("cannot allocate memory for the key: %s",
			strerror(errno));
		return -1;
	}
	cmek_secmem_free(probe);
	err_msg("cannot lock memory for the key (mlock: %s): "
		"raise RLIMIT_MEMLOCK or run as root", strerror(e));
	return -1;
}

void secbuf_free(struct secbuf *b)
{
	cmek_secmem_free(b->p);
	memset(b, 0, sizeof(*b));
}

int hex_decode(const char *in, size_t in_len, uint8_t *out, size_t cap,
	       size_t *out_len)
{
	size_t i, n = 0;
	int hi = -1;

	for (i = 0; i < in_len; i++) {
		int c = (unsigned char)in[i], v;

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
			continue;
		v = OPENSSL_hexchar2int((unsigned char)c);
		if (v < 0)
			return -1;
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (n >= cap)
			return -1;
		out[n++] = (uint8_t)(hi << 4 | v);
		hi = -1;
	}
	if (hi >= 0)
		return -1;
	*out_len = n;
	return 0;
}

/* Keys are at most 64 bytes, 128 hex digits; leave room for whitespace. */
#define KEY_READ_MAX 1024

int read_key(const char *file, bool hex, struct secbuf *key)
{
	struct secbuf raw;
	const char *src = file && strcmp(file, "-") ? file : "stdin";
	size_t len = 0;
	int fd = 0, ret = -1;

	if (file && strcmp(file, "-")) {
		fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0) {
			err_msg("cannot open key file %s: %s", file,
				strerror(errno));
			return -1;
		}
	} else if (isatty(0)) {
		err_msg("refusing to read a key from a terminal: pipe it on "
			"stdin or pass --key-file FILE");
		return -1;
	}
	if (secbuf_alloc(&raw, KEY_READ_MAX + 1) < 0)
		goto out_close;
	if (secbuf_alloc(key, 64) < 0)
		goto out_raw;

	for (;;) {
		ssize_t n = read(fd, raw.p + len, KEY_READ_MAX + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_msg("cannot read the key from %s: %s", src,
				strerror(errno));
			goto out_key;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > KEY_READ_MAX) {
			err_msg("key input from %s is too long: a key is 32 "
				"or 64 bytes", src);
			goto out_key;
		}
	}

	if (hex) {
		if (hex_decode((const char *)raw.p, len, key->p, 64,
			       &key->len) < 0) {
			err_msg("key from %s is not valid hex (--hex wants 64 "
				"or 128 hex digits)", src);
			goto out_key;
		}
	} else {
		if (len <= 64) {
			memcpy(key->p, raw.p, len);
			key->len = len;
		} else {
			key->len = len;	/* reported below */
		}
	}
	if (key->len != CMEK_KEY_SIZE_128 && key->len != CMEK_KEY_SIZE_256) {
		bool nl_hint = !hex && (len == 33 || len == 65) &&
			       raw.p[len - 1] == '\n';
		bool hex_hint = !hex && (len == 64 || len == 65 ||
					 len == 128 || len == 129);

		err_msg("wrong key length from %s: %zu bytes; a key is 32 "
			"bytes (AES-128-XTS) or 64 bytes (AES-256-XTS)%s", src,
			key->len,
			nl_hint ? " (is there a trailing newline?)" :
			hex_hint && len != 64 ? " (hex text? pass --hex)" : "");
		goto out_key;
	}
	ret = 0;
	goto out_raw;

out_key:
	secbuf_free(key);
out_raw:
	secbuf_free(&raw);
out_close:
	if (fd > 0)
		close(fd);
	return ret;
}

bool confirm(const char *prompt)
{
	char line[64];

	fprintf(stderr, "%s [y/N] ", prompt);
	fflush(stderr);
	if (!fgets(line, sizeof(line), stdin)) {
		fputc('\n', stderr);
		return false;
	}
	line[strcspn(line, "\r\n")] = '\0';
	return !strcasecmp(line, "y") || !strcasecmp(line, "yes");
}

int nl_open_or_explain(struct cmek_nl **nl)
{
	int ret = cmek_nl_open(nl);

	if (ret)
		err_msg("%s", cmek_nl_open_strerror(ret));
	return ret;
}

void nl_explain(const char *what, const struct cmek_nl *nl, int err,
		const char *uuid_s)
{
	const char *km = nl ? cmek_nl_errmsg(nl) : "";
	char msg[512];

	if (!uuid_s)
		uuid_s = "?";
	switch (-err) {
	case EPERM:
	case EACCES:
		snprintf(msg, sizeof(msg), "permission denied: managing cmek "
			 "keys needs root (CAP_SYS_ADMIN)");
		break;
	case EEXIST:
		snprintf(msg, sizeof(msg), "a key is already present for "
			 "volume %s: pass --replace to replace it", uuid_s);
		break;
	case ENOENT:
		snprintf(msg, sizeof(msg), "the kernel knows no volume %s (no "
			 "key was set for it and no mapping uses it)", uuid_s);
		break;
	case ENOKEY:
		snprintf(msg, sizeof(msg), "volume %s has no key in the kernel "
			 "(never set, or already revoked)", uuid_s);
		break;
	case EKEYREJECTED:
		snprintf(msg, sizeof(msg), "volume %s is mapped and bound to "
			 "another key: it takes only its own (close its "
			 "mappings to set a different one)", uuid_s);
		break;
	default:
		snprintf(msg, sizeof(msg), "%s", strerror(-err));
		break;
	}
	if (km && *km)
		err_msg("%s: %s (kernel: %s)", what, msg, km);
	else
		err_msg("%s: %s", what, msg);
}

const char *daemon_socket(void)
{
	return cmek_ipc_socket_path();
}
