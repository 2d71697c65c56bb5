// SPDX-License-Identifier: GPL-2.0
/*
 * The "local" provider: data keys wrapped with AES-256-GCM under a
 * key-encryption key kept in a root-only file. It is the default that works
 * on any machine, and it behaves like a KMS where it matters to cmekd:
 * disabling or deleting a KEK makes unwrap fail with CMEK_ERR_DEFINITIVE.
 *
 * Wrapped blob: version (1 byte, 1) || nonce (12) || ciphertext || tag (16),
 * authenticated with AAD = "cmek-dek-v1:<volume uuid>" NUL KEK name, so a
 * blob moved to another volume's header, or to another KEK, does not unwrap.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "aesgcm.h"
#include "local.h"
#include "secmem.h"

#define KEK_MAGIC	"CMEKKEK1"
#define KEK_MAGIC_LEN	8
#define KEK_LEN		32
#define KEK_FILE_LEN	(KEK_MAGIC_LEN + KEK_LEN)
#define WRAP_VERSION	1
#define NONCE_LEN	CMEK_GCM_NONCE_LEN
#define TAG_LEN		CMEK_GCM_TAG_LEN
#define WRAP_OVERHEAD	(1 + NONCE_LEN + TAG_LEN)

struct local_priv {
	char key_dir[512];
};

const char *cmek_local_key_dir(const char *configured)
{
	const char *env = getenv("CMEK_KEY_DIR");

	if (configured && *configured)
		return configured;
	if (env && *env)
		return env;
	return CMEK_LOCAL_KEY_DIR;
}

bool cmek_local_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (!n || n > CMEK_LOCAL_NAME_MAX || name[0] == '.')
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789._-") == n;
}

static int kek_path(char *buf, size_t len, const char *dir, const char *name,
		    bool disabled, struct cmek_error *err)
{
	if (!cmek_local_name_valid(name))
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "invalid KEK name '%s' (use 1-64 of A-Z a-z 0-9 . _ -)",
				      name);
	if (snprintf(buf, len, "%s/%s.kek%s", dir, name,
		     disabled ? ".disabled" : "") >= (int)len)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "key directory path too long");
	return 0;
}

static int ensure_dir(const char *dir, struct cmek_error *err)
{
	struct stat st;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "cannot create key directory %s: %s",
				      dir, strerror(errno));
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "%s is not a directory", dir);
	if (st.st_mode & 077)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "key directory %s is accessible to group or others (mode %03o): chmod 700 it",
				      dir, st.st_mode & 0777);
	return 0;
}

int cmek_local_kek_create(const char *dir, const char *name,
			  struct cmek_error *err)
{
	unsigned char buf[KEK_FILE_LEN];
	char path[600], dpath[600];
	int fd, ret = -1;

	if (kek_path(path, sizeof(path), dir, name, false, err) ||
	    kek_path(dpath, sizeof(dpath), dir, name, true, err) ||
	    ensure_dir(dir, err))
		return -1;
	if (access(dpath, F_OK) == 0)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "KEK '%s' exists (disabled)", name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      errno == EEXIST ? "KEK '%s' already exists" :
				      "cannot create KEK '%s'", name);
	memcpy(buf, KEK_MAGIC, KEK_MAGIC_LEN);
	if (RAND_priv_bytes(buf + KEK_MAGIC_LEN, KEK_LEN) != 1) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT, "RNG failure");
		goto out;
	}
	if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf) || fsync(fd)) {
		cmek_error_set(err, CMEK_ERR_INVALID, "cannot write %s: %s",
			       path, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	close(fd);
	if (ret)
		unlink(path);
	return ret;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int cmek_local_kek_list(const char *dir,
			void (*cb)(const char *name, bool enabled, void *data),
			void *data, struct cmek_error *err)
{
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d) {
		if (errno == ENOENT)
			return 0;
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "cannot read key directory %s: %s", dir,
				      strerror(errno));
	}
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char **tmp;

		if (!(len > 4 && !strcmp(de->d_name + len - 4, ".kek")) &&
		    !(len > 13 && !strcmp(de->d_name + len - 13, ".kek.disabled")))
			continue;
		tmp = realloc(names, (n + 1) * sizeof(*names));
		if (!tmp)
			break;
		names = tmp;
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n; i++) {
		char *dot = strstr(names[i], ".kek");
		bool enabled = !strcmp(dot, ".kek");

		*dot = '\0';
		cb(names[i], enabled, data);
		free(names[i]);
	}
	free(names);
	return (int)n;
}

int cmek_local_kek_set_enabled(const char *dir, const char *name,
			       bool enabled, struct cmek_error *err)
{
	char on[600], off[600];

	if (kek_path(on, sizeof(on), dir, name, false, err) ||
	    kek_path(off, sizeof(off), dir, name, true, err))
		return -1;
	if (access(enabled ? on : off, F_OK) == 0)
		return 0;
	if (rename(enabled ? off : on, enabled ? on : off) < 0)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "no KEK '%s' in %s", name, dir);
	return 0;
}

int cmek_local_kek_delete(const char *dir, const char *name,
			  struct cmek_error *err)
{
	char on[600], off[600];
	int gone = 0;

	if (kek_path(on, sizeof(on), dir, name, false, err) ||
	    kek_path(off, sizeof(off), dir, name, true, err))
		return -1;
	gone += unlink(on) == 0;
	gone += unlink(off) == 0;
	if (!gone)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "no KEK '%s' in %s", name, dir);
	return 0;
}

/*
 * Load a KEK into @kek (locked by the caller). A disabled or missing KEK is
 * definitive: that is what lets "disable the KEK" lock a volume.
 */
static int kek_load(struct local_priv *lp, const char *name,
		    unsigned char kek[KEK_LEN], struct cmek_error *err)
{
	unsigned char buf[KEK_FILE_LEN + 1];
	char path[600], dpath[600];
	struct stat st;
	ssize_t n;
	int fd;

	if (kek_path(path, sizeof(path), lp->key_dir, name, false, err) ||
	    kek_path(dpath, sizeof(dpath), lp->key_dir, name, true, err))
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT && access(dpath, F_OK) == 0)
			return cmek_error_set(err, CMEK_ERR_DEFINITIVE,
					      "KEK '%s' is disabled", name);
		if (errno == ENOENT)
			return cmek_error_set(err, CMEK_ERR_DEFINITIVE,
					      "KEK '%s' not found in %s (deleted?)",
					      name, lp->key_dir);
		return cmek_error_set(err, CMEK_ERR_DEFINITIVE,
				      "cannot open KEK %s: %s", path,
				      strerror(errno));
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "%s is not a regular file", path);
	}
	if ((st.st_mode & 077) || st.st_uid != geteuid()) {
		close(fd);
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "KEK file %s is readable by others or not owned by uid %u (mode %03o): chmod 600 and chown it",
				      path, geteuid(), st.st_mode & 0777);
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n != KEK_FILE_LEN || memcmp(buf, KEK_MAGIC, KEK_MAGIC_LEN)) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "%s is not a cmek KEK file", path);
	}
	memcpy(kek, buf + KEK_MAGIC_LEN, KEK_LEN);
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

static size_t local_aad(const struct cmek_binding *b, const char *name,
			unsigned char *aad, size_t len)
{
	size_t n = cmek_binding_aad(b, (char *)aad, len);
	size_t m = strlen(name);

	if (n + 1 + m > len)
		return 0;
	aad[n] = '\0';
	memcpy(aad + n + 1, name, m);
	return n + 1 + m;
}

static int local_wrap(struct cmek_provider *p, const char *key_ref,
		      const struct cmek_binding *b, const uint8_t *dek,
		      size_t dek_len, uint8_t **wrapped, size_t *wrapped_len,
		      struct cmek_error *err)
{
	unsigned char aad[CMEK_LOCAL_NAME_MAX + 64], *kek, *out;
	size_t aad_len = local_aad(b, key_ref, aad, sizeof(aad));
	int ret = -1;

	if (!dek_len || dek_len > CMEK_DEK_MAX || !aad_len)
		return cmek_error_set(err, CMEK_ERR_INVALID, "bad wrap input");
	/* The KEK lives in locked memory only for the one operation. */
	kek = cmek_secmem_alloc(KEK_LEN);
	if (!kek)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
	if (kek_load(p->priv, key_ref, kek, err))
		goto out;
	out = malloc(WRAP_OVERHEAD + dek_len);
	if (!out) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
		goto out;
	}
	out[0] = WRAP_VERSION;
	if (RAND_bytes(out + 1, NONCE_LEN) != 1 ||
	    cmek_aes256_gcm(true, kek, out + 1, aad, aad_len, dek, dek_len,
			    out + 1 + NONCE_LEN,
			    out + 1 + NONCE_LEN + dek_len)) {
		free(out);
		cmek_error_set(err, CMEK_ERR_TRANSIENT, "AES-GCM wrap failed");
		goto out;
	}
	*wrapped = out;
	*wrapped_len = WRAP_OVERHEAD + dek_len;
	ret = 0;
out:
	cmek_secmem_free(kek);
	return ret;
}

static int local_generate(struct cmek_provider *p, const char *key_ref,
			  const struct cmek_binding *b, uint8_t *dek,
			  size_t dek_len, uint8_t **wrapped,
			  size_t *wrapped_len, struct cmek_error *err)
{
	if (dek_len > CMEK_DEK_MAX)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT, "RNG failure");
	return cmek_generate_by_wrap(p, key_ref, b, dek, dek_len, wrapped,
				     wrapped_len, err);
}

static int local_unwrap(struct cmek_provider *p, const char *key_ref,
			const struct cmek_binding *b, const uint8_t *wrapped,
			size_t wrapped_len, uint8_t *dek, size_t *dek_len,
			struct cmek_error *err)
{
	unsigned char aad[CMEK_LOCAL_NAME_MAX + 64], tag[TAG_LEN], *kek;
	size_t aad_len = local_aad(b, key_ref, aad, sizeof(aad));
	size_t len = wrapped_len - WRAP_OVERHEAD;
	int ret = -1;

	if (wrapped_len <= WRAP_OVERHEAD || len > CMEK_DEK_MAX ||
	    wrapped[0] != WRAP_VERSION || !aad_len)
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "wrapped key is not a local-provider v1 blob");
	kek = cmek_secmem_alloc(KEK_LEN);
	if (!kek)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
	if (kek_load(p->priv, key_ref, kek, err))
		goto out;
	memcpy(tag, wrapped + 1 + NONCE_LEN + len, TAG_LEN);
	if (cmek_aes256_gcm(false, kek, wrapped + 1, aad, aad_len,
			    wrapped + 1 + NONCE_LEN, len, dek, tag)) {
		OPENSSL_cleanse(dek, CMEK_DEK_MAX);
		cmek_error_set(err, CMEK_ERR_INVALID,
			       "wrapped key does not authenticate: wrong KEK or a header from another volume");
		goto out;
	}
	*dek_len = len;
	ret = 0;
out:
	cmek_secmem_free(kek);
	return ret;
}

static int local_key_state(struct cmek_provider *p, const char *key_ref,
			   enum cmek_kms_key_state *state,
			   struct cmek_error *err)
{
	struct local_priv *lp = p->priv;
	char on[600], off[600];

	if (kek_path(on, sizeof(on), lp->key_dir, key_ref, false, err) ||
	    kek_path(off, sizeof(off), lp->key_dir, key_ref, true, err))
		return -1;
	if (access(on, F_OK) == 0)
		*state = CMEK_KMS_ENABLED;
	else if (access(off, F_OK) == 0)
		*state = CMEK_KMS_DISABLED;
	else
		*state = CMEK_KMS_DELETED;
	return 0;
}

static int local_init(struct cmek_provider *p, struct cmek_error *err)
{
	struct local_priv *lp = calloc(1, sizeof(*lp));

	if (!lp)
		return cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
	snprintf(lp->key_dir, sizeof(lp->key_dir), "%s",
		 cmek_local_key_dir(NULL));
	p->priv = lp;
	return 0;
}

static const struct cmek_setting local_settings[] = {
	{ "key_dir", CMEK_SETTING_PATH, 0, "/etc/cmek/keys",
	  "Directory of the KEK files; default also $CMEK_KEY_DIR" },
	{ .name = NULL }
};

static int local_configure(struct cmek_provider *p, const char *key,
			   const char *value, struct cmek_error *err)
{
	struct local_priv *lp = p->priv;

	if (cmek_setting_check("local", local_settings, key, err))
		return -1;
	if (value[0] != '/' ||
	    snprintf(lp->key_dir, sizeof(lp->key_dir), "%s", value) >=
	    (int)sizeof(lp->key_dir))
		return cmek_error_set(err, CMEK_ERR_INVALID,
				      "key_dir must be an absolute path");
	return 0;
}

static void local_destroy(struct cmek_provider *p)
{
	free(p->priv);
}

const struct cmek_provider_ops cmek_local_ops = {
	.name = "local",
	.settings = local_settings,
	.init = local_init,
	.configure = local_configure,
	.generate = local_generate,
	.wrap = local_wrap,
	.unwrap = local_unwrap,
	.rewrap = NULL,
	.key_state = local_key_state,
	.destroy = local_destroy,
};
