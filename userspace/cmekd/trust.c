// SPDX-License-Identifier: GPL-2.0
/*
 * What this host recorded about each volume whose data key it unwrapped,
 * so that whoever can write a disk cannot make cmekd open something else
 * under a volume's name. One file per volume, <trust_dir>/<uuid> (JSON,
 * 0600, replaced atomically, kept across reboots):
 *   kcv      the key check value of the data key (header.h cmek_vol_kcv)
 *   version  the highest header version seen
 *   seq      the highest header sequence number seen or written
 * After every unwrap, before the key goes anywhere, trust_check() refuses:
 *   - a data key that is not the recorded one (a forged or swapped device
 *     carrying the volume's UUID and a slot some reachable key unwraps);
 *   - a version 2 header whose MAC the data key does not make (a header
 *     rewritten by someone without the key: slots, layout, sequence);
 *   - a header older than one seen (rolled back) or of a lower version
 *     (a downgrade to the unauthenticated format);
 *   - a version 1 header when legacy_headers = refuse.
 * A volume seen for the first time is recorded (trust on first use; a
 * volume formatted by this host is recorded at format). A shred keeps the
 * record: the check value reveals nothing of the destroyed key, and a
 * device that shows up later with the shredded volume's UUID is refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cmekd.h"
#include "ipc.h"
#include "log.h"
#include "mountwait.h"
#include "header.h"

struct trust_rec {
	uint8_t kcv[CMEK_VOL_KCV_LEN];
	uint32_t version;
	uint64_t seq;
	time_t recorded;
};

static void rec_path(const struct daemon *d, const char *uuid, char *out,
		     size_t len)
{
	snprintf(out, len, "%s/%s", d->cfg.trust_dir, uuid);
}

static void to_hex(const uint8_t *b, size_t n, char *out)
{
	static const char x[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = x[b[i] >> 4];
		out[2 * i + 1] = x[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static int from_hex(const char *s, uint8_t *b, size_t n)
{
	size_t i;

	if (!s || strlen(s) != 2 * n)
		return -EINVAL;
	for (i = 0; i < 2 * n; i++) {
		char c = s[i];
		int v = c >= '0' && c <= '9' ? c - '0' :
			c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;

		if (v < 0)
			return -EINVAL;
		b[i / 2] = (uint8_t)(i % 2 ? b[i / 2] | v : v << 4);
	}
	return 0;
}

/* 0 with @r filled, -ENOENT if there is no record, -EINVAL if damaged. */
static int rec_load(const struct daemon *d, const char *uuid,
		    struct trust_rec *r)
{
	struct json_object *o;
	long long version = 0, seq = 0, recorded = 0;
	char path[PATH_MAX];
	struct stat st;
	int fd, ret = -EINVAL;

	rec_path(d, uuid, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > 4096) {
		close(fd);
		return -EINVAL;
	}
	o = json_object_from_fd(fd);
	close(fd);
	if (o && !from_hex(cmek_json_str(o, "kcv"), r->kcv, sizeof(r->kcv)) &&
	    !cmek_json_int64(o, "version", &version) && version > 0 &&
	    version <= 255 && !cmek_json_int64(o, "seq", &seq) && seq >= 0) {
		cmek_json_int64(o, "recorded", &recorded);
		r->version = (uint32_t)version;
		r->seq = (uint64_t)seq;
		r->recorded = (time_t)recorded;
		ret = 0;
	}
	json_object_put(o);
	return ret;
}

static int rec_save(const struct daemon *d, const char *uuid,
		    const struct trust_rec *r)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8], kcv[2 * CMEK_VOL_KCV_LEN + 1];
	struct json_object *o = json_object_new_object();
	const char *s;
	size_t len;
	int fd, ret = 0;

	to_hex(r->kcv, sizeof(r->kcv), kcv);
	json_object_object_add(o, "uuid", json_object_new_string(uuid));
	json_object_object_add(o, "kcv", json_object_new_string(kcv));
	json_object_object_add(o, "version", json_object_new_int(r->version));
	/* json-c keeps int64: a seq past INT64_MAX is recorded as the max. */
	json_object_object_add(o, "seq", json_object_new_int64(
		r->seq > INT64_MAX ? INT64_MAX : (int64_t)r->seq));
	json_object_object_add(o, "recorded",
			       json_object_new_int64(r->recorded));
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
	len = strlen(s);
	rec_path(d, uuid, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	if (write(fd, s, len) != (ssize_t)len || fsync(fd) < 0) {
		ret = errno ? -errno : -EIO;
		close(fd);
		unlink(tmp);
		goto out;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		ret = -errno;
		unlink(tmp);
	}
out:
	if (ret)
		log_err("cannot record volume %s in %s: %s", uuid,
			d->cfg.trust_dir, strerror(-ret));
	json_object_put(o);
	return ret;
}

/* mkdir -p trust_dir: 0 or -errno (logged). */
static int make_dir(struct daemon *d)
{
	char path[PATH_MAX], *p;

	snprintf(path, sizeof(path), "%s", d->cfg.trust_dir);
	for (p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			goto fail;
		*p = '/';
	}
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		goto fail;
	if (access(path, W_OK) < 0)
		goto fail;
	return 0;
fail:
	log_err("cannot create the trust directory %s (trust_dir): %s",
		d->cfg.trust_dir, strerror(errno));
	return -errno;
}

/* The fstab mount point trust_dir waits for, or "" when none. */
static void pending_mount(struct daemon *d, char *mp, size_t len)
{
	cmek_mount_pending(d->cfg.trust_dir, CMEK_FSTAB_PATH, CMEK_MOUNTS_PATH,
			   mp, len);
}

int trust_ready(struct daemon *d, char *msg, size_t msglen)
{
	char mp[PATH_MAX];
	int ret;

	pending_mount(d, mp, sizeof(mp));
	if (mp[0]) {
		snprintf(msg, msglen, "the trust directory %s (trust_dir) is "
			 "on %s, which is not mounted yet: waiting for it (to "
			 "open volumes before it, put trust_dir on the root "
			 "file system, e.g. /etc/cmek/trust)",
			 d->cfg.trust_dir, mp);
		return -EAGAIN;
	}
	/* Its file system came after trust_init(): make it there now. */
	if (access(d->cfg.trust_dir, W_OK) < 0) {
		ret = make_dir(d);
		if (ret) {
			snprintf(msg, msglen, "cannot create the trust "
				 "directory %s: %s", d->cfg.trust_dir,
				 strerror(-ret));
			return ret;
		}
	}
	return 0;
}

int trust_init(struct daemon *d)
{
	char mp[PATH_MAX];

	/*
	 * Made now, it would be the mount point's and hidden once the file
	 * system is mounted over it: trust_ready() makes it then.
	 */
	pending_mount(d, mp, sizeof(mp));
	if (mp[0]) {
		log_warn("the trust directory %s (trust_dir) is on %s, which "
			 "is not mounted yet: volumes open once it is (put "
			 "trust_dir on the root file system to open them "
			 "before)", d->cfg.trust_dir, mp);
		return 0;
	}
	return make_dir(d);
}

/* Refuse with @msg and an audit line; returns @ret. */
static int __attribute__((format(printf, 6, 7)))
refuse(struct daemon *d, const struct vol *v, const struct hdr_info *h,
       const char *why, int ret, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	log_err("ALARM: volume %s on %s: %s", h->uuid, v->device, what);
	audit_op(d, "trust", v, NULL, NULL, h->uuid, ret,
		 "why=%s device=%s error=\"%s\"", why, v->device,
		 audit_q(what));
	return ret;
}

int trust_check(struct daemon *d, const struct vol *v,
		const struct hdr_info *h, const uint8_t *dek, size_t dek_len,
		const char *why, bool legacy_ok, uint8_t *mac_key, char *msg,
		size_t msglen)
{
	struct trust_rec rec, now = { .version = h->version, .seq = h->seq };
	bool known;
	int ret;

	ret = cmek_vol_kcv(h->uuid_bin, dek, dek_len, now.kcv);
	if (!ret)
		ret = cmek_vol_mac_key(h->uuid_bin, dek, dek_len, mac_key);
	if (ret) {
		snprintf(msg, msglen, "cannot derive the key check value");
		return ret;
	}
	ret = rec_load(d, h->uuid, &rec);
	if (ret && ret != -ENOENT) {
		snprintf(msg, msglen, "the trust record of %s in %s is "
			 "unreadable (%s): refusing rather than recording "
			 "it again", h->uuid, d->cfg.trust_dir,
			 strerror(-ret));
		return refuse(d, v, h, why, -EBADMSG, "%s", msg);
	}
	known = !ret;
	if (known && CRYPTO_memcmp(rec.kcv, now.kcv, sizeof(now.kcv))) {
		snprintf(msg, msglen, "the data key of %s is not the one this "
			 "host recorded for volume %s: a forged or swapped "
			 "device carries its UUID; not opened", v->device,
			 h->uuid);
		return refuse(d, v, h, why, -EKEYREJECTED, "%s", msg);
	}
	ret = hdr_verify(h, mac_key);
	if (ret == -EBADMSG) {
		snprintf(msg, msglen, "the header of %s does not carry the MAC "
			 "of its data key: it was changed by someone who "
			 "does not hold the key; not opened", v->device);
		return refuse(d, v, h, why, -EBADMSG, "%s", msg);
	}
	if (ret == -ENODATA && known && rec.version > h->version) {
		snprintf(msg, msglen, "the header of %s is version %u, but "
			 "this host saw version %u of volume %s: a downgrade "
			 "to the unauthenticated format; not opened",
			 v->device, h->version, rec.version, h->uuid);
		return refuse(d, v, h, why, -EPROTO, "%s", msg);
	}
	if (ret == -ENODATA && d->cfg.legacy_refuse && !legacy_ok) {
		snprintf(msg, msglen, "the header of %s is version 1, which "
			 "carries no MAC, and legacy_headers = refuse "
			 "(upgrade it: cmekctl upgrade %s)", v->device,
			 v->device);
		return refuse(d, v, h, why, -EPROTO, "%s", msg);
	}
	if (ret && ret != -ENODATA) {
		snprintf(msg, msglen, "cannot check the header MAC: %s",
			 strerror(-ret));
		return ret;
	}
	if (known && h->seq < rec.seq) {
		snprintf(msg, msglen, "the header of %s has sequence number "
			 "%" PRIu64 ", older than %" PRIu64 " seen before: "
			 "rolled back; not opened", v->device, h->seq,
			 rec.seq);
		return refuse(d, v, h, why, -ESTALE, "%s", msg);
	}
	if (h->version == CMEK_VOL_VERSION_LEGACY)
		log_warn("volume %s on %s has a version 1 header, which "
			 "carries no MAC: upgrade it (cmekctl upgrade %s)",
			 h->uuid, v->device, v->device);
	if (known && rec.seq == h->seq && rec.version == h->version)
		return 0;
	now.recorded = known ? rec.recorded : time(NULL);
	if (known && rec.version > now.version)
		now.version = rec.version;
	if (!known)
		audit_op(d, "trust", v, NULL, NULL, h->uuid, 0,
			 "why=%s device=%s recorded=first-use version=%u",
			 why, v->device, h->version);
	rec_save(d, h->uuid, &now);
	return 0;
}

int trust_record(struct daemon *d, const uint8_t uuid[CMEK_UUID_LEN],
		 const uint8_t *dek, size_t dek_len, uint64_t seq)
{
	struct trust_rec r = { .version = CMEK_VOL_VERSION, .seq = seq,
			       .recorded = time(NULL) };
	char u[CMEK_UUID_STR_LEN];

	cmek_uuid_unparse(uuid, u);
	if (cmek_vol_kcv(uuid, dek, dek_len, r.kcv))
		return -EIO;
	return rec_save(d, u, &r);
}

void trust_written(struct daemon *d, const uint8_t uuid[CMEK_UUID_LEN],
		   uint64_t seq)
{
	struct trust_rec r;
	char u[CMEK_UUID_STR_LEN];

	cmek_uuid_unparse(uuid, u);
	if (rec_load(d, u, &r))
		return;
	if (seq > r.seq || r.version < CMEK_VOL_VERSION) {
		r.seq = seq > r.seq ? seq : r.seq;
		r.version = CMEK_VOL_VERSION;
		rec_save(d, u, &r);
	}
}
