// SPDX-License-Identifier: GPL-2.0
/*
 * The cmek volume header: encoding, validation, crash-safe updates, shred.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "header.h"

/* Field offsets inside one 64 KiB copy; see cmek-header.rst. */
#define OFF_MAGIC	0
#define OFF_VERSION	8
#define OFF_HDRSIZE	12
#define OFF_SEQ		16
#define OFF_UUID	24
#define OFF_CIPHER	40
#define OFF_KEYSIZE	72
#define OFF_SECSIZE	76
#define OFF_FLAGS	80
#define OFF_NSLOTS	84
#define OFF_DATAOFF	88
#define OFF_DATASIZE	96
#define OFF_IVOFF	104
#define OFF_CREATED	112
#define OFF_SLOTS	256
#define SLOT_SIZE	7168
#define SOFF_STATE	0
#define SOFF_WLEN	4
#define SOFF_CREATED	8
#define SOFF_PROVIDER	16
#define SOFF_KEYREF	48
#define SOFF_WRAPPED	1072
#define OFF_CSUM	(CMEK_VOL_HDR_SIZE - SHA256_DIGEST_LENGTH)
#define OFF_MAC		(OFF_CSUM - CMEK_VOL_MAC_LEN)

#define MAC_LABEL	"cmek header mac v2"
#define KCV_LABEL	"cmek key check v1"

_Static_assert(SOFF_WRAPPED + CMEK_VOL_WRAPPED_MAX == SLOT_SIZE, "slot size");
_Static_assert(OFF_SLOTS + CMEK_VOL_SLOTS * SLOT_SIZE <= OFF_MAC, "slots fit");

static const uint64_t copy_offset[2] = {
	CMEK_VOL_COPY_OFFSET_0, CMEK_VOL_COPY_OFFSET_1
};

struct cmek_vol_dev {
	int fd;
	char path[256];
	uint64_t size;
	int writes_left;	/* test hook; < 0: unlimited */
	bool tear;
};

static int __attribute__((format(printf, 4, 5)))
errf(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return ret;
}

#define ERR(ret, ...) errf(err, errlen, ret, __VA_ARGS__)

static void put16(uint8_t *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v); put16(p + 2, v >> 16); }
static void put64(uint8_t *p, uint64_t v) { put32(p, v); put32(p + 4, v >> 32); }
static uint32_t get32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

const char *cmek_vol_slot_state_name(uint32_t state)
{
	switch (state) {
	case CMEK_SLOT_EMPTY:
		return "empty";
	case CMEK_SLOT_ACTIVE:
		return "active";
	case CMEK_SLOT_DESTROYED:
		return "destroyed";
	}
	return "invalid";
}

void cmek_vol_hdr_init(struct cmek_vol_hdr *h)
{
	memset(h, 0, sizeof(*h));
	h->version = CMEK_VOL_VERSION;
	RAND_bytes(h->uuid, sizeof(h->uuid));
	h->uuid[6] = (h->uuid[6] & 0x0f) | 0x40;	/* RFC 4122 version 4 */
	h->uuid[8] = (h->uuid[8] & 0x3f) | 0x80;
	snprintf(h->cipher, sizeof(h->cipher), "%s", CMEK_VOL_CIPHER);
	h->key_size = 64;
	h->sector_size = 512;
	h->data_offset = CMEK_VOL_DEFAULT_DATA_OFFSET;
	h->created = (uint64_t)time(NULL);
}

void cmek_vol_encode(const struct cmek_vol_hdr *h, uint8_t *buf)
{
	memset(buf, 0, CMEK_VOL_HDR_SIZE);
	memcpy(buf + OFF_MAGIC, CMEK_VOL_MAGIC, 8);
	put32(buf + OFF_VERSION, h->version == CMEK_VOL_VERSION_LEGACY ?
	      CMEK_VOL_VERSION_LEGACY : CMEK_VOL_VERSION);
	put32(buf + OFF_HDRSIZE, CMEK_VOL_HDR_SIZE);
	put64(buf + OFF_SEQ, h->seq);
	memcpy(buf + OFF_UUID, h->uuid, 16);
	memcpy(buf + OFF_CIPHER, h->cipher, strnlen(h->cipher, 31));
	put32(buf + OFF_KEYSIZE, h->key_size);
	put32(buf + OFF_SECSIZE, h->sector_size);
	put32(buf + OFF_FLAGS, h->flags);
	put32(buf + OFF_NSLOTS, CMEK_VOL_SLOTS);
	put64(buf + OFF_DATAOFF, h->data_offset);
	put64(buf + OFF_DATASIZE, h->data_size);
	put64(buf + OFF_IVOFF, h->iv_offset);
	put64(buf + OFF_CREATED, h->created);
	for (int i = 0; i < CMEK_VOL_SLOTS; i++) {
		const struct cmek_vol_slot *s = &h->slots[i];
		uint8_t *p = buf + OFF_SLOTS + i * SLOT_SIZE;

		put32(p + SOFF_STATE, s->state);
		put32(p + SOFF_WLEN, s->wrapped_len);
		put64(p + SOFF_CREATED, s->created);
		memcpy(p + SOFF_PROVIDER, s->provider,
		       strnlen(s->provider, CMEK_VOL_PROVIDER_MAX - 1));
		memcpy(p + SOFF_KEYREF, s->key_ref,
		       strnlen(s->key_ref, CMEK_VOL_KEYREF_MAX - 1));
		memcpy(p + SOFF_WRAPPED, s->wrapped, CMEK_VOL_WRAPPED_MAX);
	}
	if (h->version != CMEK_VOL_VERSION_LEGACY)
		memcpy(buf + OFF_MAC, h->mac, CMEK_VOL_MAC_LEN);
	SHA256(buf, OFF_CSUM, buf + OFF_CSUM);
}

int cmek_vol_mac_key(const uint8_t uuid[16], const uint8_t *dek,
		     size_t dek_len, uint8_t key[CMEK_VOL_MAC_KEY_LEN])
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[5];
	int ret = -EIO;

	if (!kctx)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						     "SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						      (void *)dek, dek_len);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
						      (void *)uuid, 16);
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
						      MAC_LABEL,
						      sizeof(MAC_LABEL) - 1);
	params[4] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, key, CMEK_VOL_MAC_KEY_LEN, params) == 1)
		ret = 0;
out:
	/* Frees the context's copy of the data key cleansed. */
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return ret;
}

int cmek_vol_kcv(const uint8_t uuid[16], const uint8_t *dek, size_t dek_len,
		 uint8_t kcv[CMEK_VOL_KCV_LEN])
{
	uint8_t msg[sizeof(KCV_LABEL) - 1 + 16];
	unsigned int len = CMEK_VOL_KCV_LEN;

	memcpy(msg, KCV_LABEL, sizeof(KCV_LABEL) - 1);
	memcpy(msg + sizeof(KCV_LABEL) - 1, uuid, 16);
	if (!HMAC(EVP_sha256(), dek, (int)dek_len, msg, sizeof(msg), kcv, &len))
		return -EIO;
	return 0;
}

/* The MAC of @h's encoding (in @buf, CMEK_VOL_HDR_SIZE bytes) into @mac. */
static int header_mac(const struct cmek_vol_hdr *h, const uint8_t *mac_key,
		      uint8_t *buf, uint8_t mac[CMEK_VOL_MAC_LEN])
{
	unsigned int len = CMEK_VOL_MAC_LEN;

	cmek_vol_encode(h, buf);
	if (!HMAC(EVP_sha256(), mac_key, CMEK_VOL_MAC_KEY_LEN, buf, OFF_MAC,
		  mac, &len))
		return -EIO;
	return 0;
}

int cmek_vol_verify(const struct cmek_vol_hdr *h, const uint8_t *mac_key)
{
	uint8_t mac[CMEK_VOL_MAC_LEN], *buf;
	int ret;

	if (h->version == CMEK_VOL_VERSION_LEGACY)
		return -ENODATA;
	buf = malloc(CMEK_VOL_HDR_SIZE);
	if (!buf)
		return -ENOMEM;
	ret = header_mac(h, mac_key, buf, mac);
	if (!ret && CRYPTO_memcmp(mac, h->mac, sizeof(mac)))
		ret = -EBADMSG;
	free(buf);
	return ret;
}

/* Make @h a current-version header carrying the MAC of @mac_key. */
static int seal(struct cmek_vol_hdr *h, const uint8_t *mac_key, uint8_t *buf)
{
	h->version = CMEK_VOL_VERSION;
	return header_mac(h, mac_key, buf, h->mac);
}

static bool terminated(const uint8_t *p, size_t len)
{
	return memchr(p, '\0', len) != NULL;
}

/*
 * An attacker who can write the disk writes these: printable ASCII only, so
 * that no log line, terminal or JSON reader is fed control characters.
 */
static bool printable(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

/* A terminated string field; bytes after its NUL are not part of it. */
static void get_str(char *dst, const uint8_t *src, size_t len)
{
	memset(dst, 0, len);
	memcpy(dst, src, strnlen((const char *)src, len));
}

static int decode_slot(const uint8_t *p, struct cmek_vol_slot *s, int i,
		       char *err, size_t errlen)
{
	s->state = get32(p + SOFF_STATE);
	s->wrapped_len = get32(p + SOFF_WLEN);
	s->created = get64(p + SOFF_CREATED);
	if (s->state > CMEK_SLOT_DESTROYED)
		return ERR(-EINVAL, "slot %d: invalid state %u", i, s->state);
	if (s->wrapped_len > CMEK_VOL_WRAPPED_MAX ||
	    (s->state == CMEK_SLOT_ACTIVE && !s->wrapped_len))
		return ERR(-EINVAL, "slot %d: invalid wrapped key length %u", i,
			   s->wrapped_len);
	if (!terminated(p + SOFF_PROVIDER, CMEK_VOL_PROVIDER_MAX) ||
	    !terminated(p + SOFF_KEYREF, CMEK_VOL_KEYREF_MAX))
		return ERR(-EINVAL, "slot %d: unterminated provider or key reference",
			   i);
	get_str(s->provider, p + SOFF_PROVIDER, CMEK_VOL_PROVIDER_MAX);
	get_str(s->key_ref, p + SOFF_KEYREF, CMEK_VOL_KEYREF_MAX);
	if (!printable(s->provider) || !printable(s->key_ref))
		return ERR(-EINVAL, "slot %d: provider or key reference holds "
			   "bytes that are not printable ASCII", i);
	memcpy(s->wrapped, p + SOFF_WRAPPED, CMEK_VOL_WRAPPED_MAX);
	if (s->state == CMEK_SLOT_ACTIVE && (!s->provider[0] || !s->key_ref[0]))
		return ERR(-EINVAL, "slot %d: active but has no provider or key", i);
	return 0;
}

int cmek_vol_decode(const uint8_t *buf, struct cmek_vol_hdr *h, char *err,
		    size_t errlen)
{
	uint8_t sum[SHA256_DIGEST_LENGTH];
	uint32_t ss, version;

	if (memcmp(buf + OFF_MAGIC, CMEK_VOL_MAGIC, 8))
		return ERR(-ENOENT, "no cmek header magic");
	version = get32(buf + OFF_VERSION);
	if (version != CMEK_VOL_VERSION && version != CMEK_VOL_VERSION_LEGACY)
		return ERR(-EINVAL, "unsupported header version %u", version);
	if (get32(buf + OFF_HDRSIZE) != CMEK_VOL_HDR_SIZE ||
	    get32(buf + OFF_NSLOTS) != CMEK_VOL_SLOTS)
		return ERR(-EINVAL, "bad header size or slot count");
	SHA256(buf, OFF_CSUM, sum);
	if (CRYPTO_memcmp(sum, buf + OFF_CSUM, sizeof(sum)))
		return ERR(-EBADMSG, "checksum mismatch");

	memset(h, 0, sizeof(*h));
	h->version = version;
	if (version != CMEK_VOL_VERSION_LEGACY)
		memcpy(h->mac, buf + OFF_MAC, CMEK_VOL_MAC_LEN);
	h->seq = get64(buf + OFF_SEQ);
	memcpy(h->uuid, buf + OFF_UUID, 16);
	if (!terminated(buf + OFF_CIPHER, 32))
		return ERR(-EINVAL, "unterminated cipher name");
	get_str(h->cipher, buf + OFF_CIPHER, 32);
	h->key_size = get32(buf + OFF_KEYSIZE);
	h->sector_size = ss = get32(buf + OFF_SECSIZE);
	h->flags = get32(buf + OFF_FLAGS);
	h->data_offset = get64(buf + OFF_DATAOFF);
	h->data_size = get64(buf + OFF_DATASIZE);
	h->iv_offset = get64(buf + OFF_IVOFF);
	h->created = get64(buf + OFF_CREATED);
	if (strcmp(h->cipher, CMEK_VOL_CIPHER))
		return ERR(-EINVAL, "unsupported cipher '%s'", h->cipher);
	if (h->key_size != 32 && h->key_size != 64)
		return ERR(-EINVAL, "invalid key size %u", h->key_size);
	if (ss < 512 || ss > 4096 || (ss & (ss - 1)))
		return ERR(-EINVAL, "invalid sector size %u", ss);
	if (h->flags & ~CMEK_VOL_F_IV_LARGE_SECTORS)
		return ERR(-EINVAL, "unknown header flags 0x%x", h->flags);
	if (h->data_offset % ss || h->data_size % ss || h->iv_offset % (ss / 512))
		return ERR(-EINVAL, "data offset, size or iv offset not aligned to the sector size");
	for (int i = 0; i < CMEK_VOL_SLOTS; i++) {
		int r = decode_slot(buf + OFF_SLOTS + i * SLOT_SIZE,
				    &h->slots[i], i, err, errlen);
		if (r)
			return r;
	}
	return 0;
}

int cmek_vol_dev_open(const char *path, bool writable, unsigned int how,
		      struct cmek_vol_dev **devp, char *err, size_t errlen)
{
	int flags = (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC;
	bool create = how & CMEK_VOL_CREATE;
	struct cmek_vol_dev *dev;
	struct stat st;
	int fd;

	if (how & (CMEK_VOL_HEADER_FILE | CMEK_VOL_CREATE))
		flags |= O_NOFOLLOW;
	if (create)
		flags |= O_CREAT | (how & CMEK_VOL_REPLACE ? 0 : O_EXCL);
	fd = open(path, flags, 0600);
	if (fd < 0 && errno == ELOOP && (flags & O_NOFOLLOW))
		return ERR(-ELOOP, "%s is a symbolic link: a header file is "
			   "never opened through one; give the file's own path",
			   path);
	if (fd < 0 && errno == EEXIST)
		return ERR(-EEXIST, "%s already exists: formatting would "
			   "replace it; add --force to do so", path);
	if (fd < 0)
		return ERR(-errno, "%s: %s", path, strerror(errno));
	dev = calloc(1, sizeof(*dev));
	if (!dev || fstat(fd, &st) < 0) {
		close(fd);
		free(dev);
		return ERR(-ENOMEM, "%s: cannot stat", path);
	}
	dev->fd = fd;
	dev->writes_left = -1;
	snprintf(dev->path, sizeof(dev->path), "%s", path);
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &dev->size) < 0)
			dev->size = 0;
	} else if (S_ISREG(st.st_mode)) {
		if (create && writable && st.st_size < CMEK_VOL_AREA_SIZE &&
		    ftruncate(fd, CMEK_VOL_AREA_SIZE) == 0)
			st.st_size = CMEK_VOL_AREA_SIZE;
		dev->size = st.st_size;
	} else {
		cmek_vol_dev_close(dev);
		return ERR(-ENOTBLK, "%s: not a block device or regular file", path);
	}
	*devp = dev;
	return 0;
}

void cmek_vol_dev_close(struct cmek_vol_dev *dev)
{
	if (!dev)
		return;
	close(dev->fd);
	free(dev);
}

uint64_t cmek_vol_dev_size(const struct cmek_vol_dev *dev)
{
	return dev->size;
}

void cmek_vol_dev_fail_after(struct cmek_vol_dev *dev, int writes, bool tear)
{
	dev->writes_left = writes;
	dev->tear = tear;
}

/* One durable write; the test hook can "cut the power" here. */
static int dev_write(struct cmek_vol_dev *dev, const uint8_t *buf, size_t len,
		     uint64_t off)
{
	if (dev->writes_left == 0) {
		if (dev->tear) {
			if (pwrite(dev->fd, buf, len / 2, off) < 0)
				return -errno;
			dev->tear = false;
		}
		return -EIO;
	}
	if (dev->writes_left > 0)
		dev->writes_left--;
	if (pwrite(dev->fd, buf, len, off) != (ssize_t)len)
		return errno ? -errno : -EIO;
	if (fdatasync(dev->fd) < 0)
		return -errno;
	return 0;
}

static int read_copy(struct cmek_vol_dev *dev, int copy, uint8_t *buf)
{
	ssize_t n = pread(dev->fd, buf, CMEK_VOL_HDR_SIZE, copy_offset[copy]);

	return n == CMEK_VOL_HDR_SIZE ? 0 : -EIO;
}

int cmek_vol_read(struct cmek_vol_dev *dev, struct cmek_vol_hdr *h,
		  struct cmek_vol_read_info *info, char *err, size_t errlen)
{
	struct cmek_vol_read_info local;
	struct cmek_vol_hdr *tmp[2] = { NULL, NULL };
	uint8_t *buf = malloc(CMEK_VOL_HDR_SIZE);
	bool foreign = true;
	int best = -1, ret;

	if (!info)
		info = &local;
	memset(info, 0, sizeof(*info));
	tmp[0] = malloc(sizeof(*h));
	tmp[1] = malloc(sizeof(*h));
	if (!buf || !tmp[0] || !tmp[1]) {
		ret = -ENOMEM;
		ERR(-ENOMEM, "out of memory");
		goto out;
	}
	for (int c = 0; c < 2; c++) {
		char *why = info->copy_problem[c];

		if (read_copy(dev, c, buf)) {
			snprintf(why, 128, "cannot read (device too small?)");
			continue;
		}
		ret = cmek_vol_decode(buf, tmp[c], why, 128);
		if (ret != -ENOENT)
			foreign = false;
		if (ret)
			continue;
		info->copy_valid[c] = true;
		info->copy_seq[c] = tmp[c]->seq;
		if (best < 0 || tmp[c]->seq > tmp[best]->seq)
			best = c;
	}
	if (best < 0) {
		ret = foreign ? -ENOENT : -EBADMSG;
		if (foreign) {
			char what[128];

			if (cmek_vol_probe(dev, what, sizeof(what)) == 1)
				ERR(ret, "%s: no cmek header (found %s)", dev->path,
				    what);
			else
				ERR(ret, "%s: no cmek header", dev->path);
		} else {
			ERR(ret, "%s: both header copies are damaged (copy 0: %s; copy 1: %s)",
			    dev->path, info->copy_problem[0],
			    info->copy_problem[1]);
		}
		goto out;
	}
	info->used_copy = best;
	memcpy(h, tmp[best], sizeof(*h));
	ret = 0;
out:
	free(buf);
	for (int c = 0; c < 2; c++) {
		if (tmp[c])
			OPENSSL_cleanse(tmp[c], sizeof(*h));
		free(tmp[c]);
	}
	return ret;
}

/*
 * Write the stale copy first, then the current one: until the first write
 * is durable the current copy is untouched, and once it is, it carries the
 * higher sequence number.
 */
int cmek_vol_write(struct cmek_vol_dev *dev, struct cmek_vol_hdr *h,
		   const uint8_t *mac_key, char *err, size_t errlen)
{
	struct cmek_vol_read_info info;
	struct cmek_vol_hdr *cur = malloc(sizeof(*cur));
	uint8_t *buf = malloc(CMEK_VOL_HDR_SIZE);
	char ignore[256];
	int first = 1, ret;

	if (!cur || !buf) {
		ret = -ENOMEM;
		ERR(-ENOMEM, "out of memory");
		goto out;
	}
	if (dev->size < CMEK_VOL_AREA_SIZE) {
		ret = -ENOSPC;
		ERR(ret, "%s: too small for a cmek header (%llu bytes)", dev->path,
		    (unsigned long long)dev->size);
		goto out;
	}
	if (!mac_key && cmek_vol_active_slots(h)) {
		ret = -EACCES;
		ERR(ret, "%s: a header with key slots is written only with its "
		    "MAC key", dev->path);
		goto out;
	}
	if (cmek_vol_read(dev, cur, &info, ignore, sizeof(ignore)) == 0) {
		first = !info.used_copy;
		if (cur->seq >= h->seq)
			h->seq = cur->seq;
	}
	/* A sequence number that wrapped would let the older copy win. */
	if (h->seq == UINT64_MAX) {
		ret = -EOVERFLOW;
		ERR(ret, "%s: the header's sequence number is at its maximum",
		    dev->path);
		goto out;
	}
	h->seq++;
	if (mac_key) {
		ret = seal(h, mac_key, buf);
		if (ret) {
			ERR(ret, "cannot compute the header MAC");
			goto out;
		}
	} else {
		memset(h->mac, 0, sizeof(h->mac));
	}
	cmek_vol_encode(h, buf);
	ret = dev_write(dev, buf, CMEK_VOL_HDR_SIZE, copy_offset[first]);
	if (!ret)
		ret = dev_write(dev, buf, CMEK_VOL_HDR_SIZE,
				copy_offset[!first]);
	if (ret)
		ERR(ret, "%s: header write failed: %s", dev->path, strerror(-ret));
out:
	if (cur)
		OPENSSL_cleanse(cur, sizeof(*cur));
	free(cur);
	free(buf);
	return ret;
}

struct signature {
	uint64_t off;
	const char *magic;
	size_t len;
	const char *what;
};

static const struct signature signatures[] = {
	{ 0, "LUKS\xba\xbe", 6, "a LUKS header" },
	{ 0, "SKUL\xba\xbe", 6, "a LUKS2 header" },
	{ 0, CMEK_VOL_MAGIC, 8, "a cmek header" },
	{ CMEK_VOL_COPY_OFFSET_1, CMEK_VOL_MAGIC, 8, "a cmek header (copy 1)" },
	{ 0x438, "\x53\xef", 2, "an ext2/3/4 file system" },
	{ 0, "XFSB", 4, "an XFS file system" },
	{ 0x10040, "_BHRfS_M", 8, "a btrfs file system" },
	{ 0, "hsqs", 4, "a squashfs image" },
	{ 4086, "SWAPSPACE2", 10, "swap space" },
	{ 512, "EFI PART", 8, "a GPT partition table" },
	{ 512, "LABELONE", 8, "an LVM physical volume" },
	{ 510, "\x55\xaa", 2, "a partition table or boot sector" },
};

int cmek_vol_probe(struct cmek_vol_dev *dev, char *what, size_t len)
{
	for (size_t i = 0; i < sizeof(signatures) / sizeof(signatures[0]); i++) {
		const struct signature *s = &signatures[i];
		char buf[16];

		if (pread(dev->fd, buf, s->len, s->off) != (ssize_t)s->len)
			continue;
		if (!memcmp(buf, s->magic, s->len)) {
			snprintf(what, len, "%s", s->what);
			return 1;
		}
	}
	return 0;
}

int cmek_vol_format(struct cmek_vol_dev *dev, struct cmek_vol_hdr *h,
		    const uint8_t *mac_key, bool force, char *err,
		    size_t errlen)
{
	uint8_t *zero;
	char what[128];
	int ret;

	if (!force && cmek_vol_probe(dev, what, sizeof(what)) == 1)
		return ERR(-EEXIST, "%s holds %s; refusing to format it (use --force to overwrite)",
			   dev->path, what);
	/* Clear both copies so no older sequence number can win. */
	zero = calloc(1, CMEK_VOL_HDR_SIZE);
	if (!zero)
		return ERR(-ENOMEM, "out of memory");
	ret = dev_write(dev, zero, CMEK_VOL_HDR_SIZE, copy_offset[1]);
	if (!ret)
		ret = dev_write(dev, zero, CMEK_VOL_HDR_SIZE, copy_offset[0]);
	free(zero);
	if (ret)
		return ERR(ret, "%s: cannot write: %s", dev->path,
			   strerror(-ret));
	h->seq = 0;
	return cmek_vol_write(dev, h, mac_key, err, errlen);
}

int cmek_vol_shred(struct cmek_vol_dev *dev, const uint8_t uuid[16],
		   char *err, size_t errlen)
{
	struct cmek_vol_hdr *h = malloc(sizeof(*h));
	int ret;

	if (!h)
		return ERR(-ENOMEM, "out of memory");
	ret = cmek_vol_read(dev, h, NULL, err, errlen);
	if (ret)
		goto out;
	if (uuid && memcmp(uuid, h->uuid, 16)) {
		char u[CMEK_UUID_STR_LEN];

		cmek_uuid_unparse(h->uuid, u);
		ret = ERR(-ESTALE, "%s: the header now belongs to volume %s",
			  dev->path, u);
		goto out;
	}
	for (int pass = 0; pass < 2 && !ret; pass++) {
		for (int i = 0; i < CMEK_VOL_SLOTS; i++) {
			struct cmek_vol_slot *s = &h->slots[i];

			if (s->state == CMEK_SLOT_EMPTY)
				continue;
			if (pass == 0)
				RAND_bytes(s->wrapped, sizeof(s->wrapped));
			else
				memset(s->wrapped, 0, sizeof(s->wrapped));
			s->state = CMEK_SLOT_DESTROYED;
			s->wrapped_len = 0;
		}
		ret = cmek_vol_write(dev, h, NULL, err, errlen);
	}
out:
	OPENSSL_cleanse(h, sizeof(*h));
	free(h);
	return ret;
}

int cmek_vol_slot_set(struct cmek_vol_hdr *h, int i, const char *provider,
		      const char *key_ref, const uint8_t *wrapped, size_t len)
{
	struct cmek_vol_slot *s;

	if (i < 0 || i >= CMEK_VOL_SLOTS)
		return -EINVAL;
	if (!len || len > CMEK_VOL_WRAPPED_MAX ||
	    strlen(provider) >= CMEK_VOL_PROVIDER_MAX || !*provider ||
	    strlen(key_ref) >= CMEK_VOL_KEYREF_MAX || !*key_ref)
		return -EINVAL;
	s = &h->slots[i];
	memset(s, 0, sizeof(*s));
	s->state = CMEK_SLOT_ACTIVE;
	s->wrapped_len = len;
	s->created = (uint64_t)time(NULL);
	snprintf(s->provider, sizeof(s->provider), "%s", provider);
	snprintf(s->key_ref, sizeof(s->key_ref), "%s", key_ref);
	memcpy(s->wrapped, wrapped, len);
	return i;
}

int cmek_vol_slot_add(struct cmek_vol_hdr *h, const char *provider,
		      const char *key_ref, const uint8_t *wrapped, size_t len)
{
	for (int i = 0; i < CMEK_VOL_SLOTS; i++)
		if (h->slots[i].state == CMEK_SLOT_EMPTY)
			return cmek_vol_slot_set(h, i, provider, key_ref,
						 wrapped, len);
	return -ENOSPC;
}

int cmek_vol_slot_remove(struct cmek_vol_hdr *h, int i)
{
	if (i < 0 || i >= CMEK_VOL_SLOTS ||
	    h->slots[i].state != CMEK_SLOT_ACTIVE)
		return -EINVAL;
	memset(&h->slots[i], 0, sizeof(h->slots[i]));
	return 0;
}

int cmek_vol_active_slots(const struct cmek_vol_hdr *h)
{
	int n = 0;

	for (int i = 0; i < CMEK_VOL_SLOTS; i++)
		n += h->slots[i].state == CMEK_SLOT_ACTIVE;
	return n;
}
