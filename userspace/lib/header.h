/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The cmek volume header: what a device needs to be opened, minus the key.
 * Byte layout and update protocol: Documentation/admin-guide/cmek-header.rst.
 *
 * Two copies of a 64 KiB header sit at byte 0 and at byte 1 MiB of the
 * device (or of a detached header file), each with a SHA-256 checksum and a
 * sequence number. Reads take the valid copy with the highest sequence;
 * writes go to the other copy first and then to the current one, each
 * followed by fdatasync(), so a crash at any point leaves at least one
 * valid copy holding every key slot of either the old or the new state.
 */
#ifndef CMEK_HEADER_H
#define CMEK_HEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uuid.h"

#define CMEK_VOL_MAGIC			"CMEKVOL1"
/* Version 2 adds the header MAC; version 1 headers are read and upgraded. */
#define CMEK_VOL_VERSION		2
#define CMEK_VOL_VERSION_LEGACY		1
#define CMEK_VOL_MAC_LEN		32	/* HMAC-SHA256 */
#define CMEK_VOL_MAC_KEY_LEN		32
#define CMEK_VOL_KCV_LEN		32
#define CMEK_VOL_HDR_SIZE		65536
#define CMEK_VOL_COPY_OFFSET_0		0
#define CMEK_VOL_COPY_OFFSET_1		(1024 * 1024)
#define CMEK_VOL_AREA_SIZE		(CMEK_VOL_COPY_OFFSET_1 + CMEK_VOL_HDR_SIZE)
#define CMEK_VOL_DEFAULT_DATA_OFFSET	(16ULL * 1024 * 1024)
#define CMEK_VOL_SLOTS			8
/*
 * A slot's provider name and key reference, each with its NUL: the only
 * limits on them anywhere (cmekd, /etc/cmek/volumes), since a name that
 * does not fit a slot could never be written to one.
 */
#define CMEK_VOL_PROVIDER_MAX		32
#define CMEK_VOL_KEYREF_MAX		1024
#define CMEK_VOL_WRAPPED_MAX		6096
#define CMEK_VOL_CIPHER			"aes-xts-plain64"
#define CMEK_VOL_F_IV_LARGE_SECTORS	(1U << 0)

enum cmek_vol_slot_state {
	CMEK_SLOT_EMPTY = 0,
	CMEK_SLOT_ACTIVE = 1,
	CMEK_SLOT_DESTROYED = 2,
};

struct cmek_vol_slot {
	uint32_t state;			/* enum cmek_vol_slot_state */
	uint32_t wrapped_len;
	uint64_t created;		/* unix seconds */
	char provider[CMEK_VOL_PROVIDER_MAX];
	char key_ref[CMEK_VOL_KEYREF_MAX];
	uint8_t wrapped[CMEK_VOL_WRAPPED_MAX];
};

struct cmek_vol_hdr {
	uint32_t version;		/* as read; a write makes it current */
	uint64_t seq;
	uint8_t uuid[16];
	char cipher[32];
	uint32_t key_size;		/* DEK bytes: 32 or 64 */
	uint32_t sector_size;		/* 512..4096 */
	uint32_t flags;			/* CMEK_VOL_F_* */
	uint64_t data_offset;		/* bytes, on the data device */
	uint64_t data_size;		/* bytes, 0 = to the end of the device */
	uint64_t iv_offset;		/* 512-byte sectors */
	uint64_t created;
	struct cmek_vol_slot slots[CMEK_VOL_SLOTS];
	uint8_t mac[CMEK_VOL_MAC_LEN];	/* version 2; see cmek_vol_verify() */
};

/* What a read found, for dump and for repair decisions. */
struct cmek_vol_read_info {
	int used_copy;			/* 0 or 1 */
	bool copy_valid[2];
	uint64_t copy_seq[2];
	char copy_problem[2][128];	/* "" when valid */
};

struct cmek_vol_dev;

/* cmek_vol_dev_open() @how: what @path names and what may happen to it. */
enum {
	/*
	 * A detached header file: a symbolic link as its last component is
	 * refused, never followed (whoever can plant one in the header's
	 * directory must not redirect where keys are read or written).
	 */
	CMEK_VOL_HEADER_FILE	= 1 << 0,
	/* Create the header file; an existing one is refused (EEXIST). */
	CMEK_VOL_CREATE		= 1 << 1,
	/* With CMEK_VOL_CREATE: reuse an existing file (the operator's --force). */
	CMEK_VOL_REPLACE	= 1 << 2,
};

/*
 * Open a device (by any path, symbolic links included: /dev/disk/by-*) or,
 * with CMEK_VOL_HEADER_FILE, a detached header file. Errors are written to
 * @err.
 */
int cmek_vol_dev_open(const char *path, bool writable, unsigned int how,
		      struct cmek_vol_dev **dev, char *err, size_t errlen);
void cmek_vol_dev_close(struct cmek_vol_dev *dev);
/* Size in bytes of the underlying device or file. */
uint64_t cmek_vol_dev_size(const struct cmek_vol_dev *dev);
/*
 * Test hook: let @writes more writes through, then fail every write as if
 * power was cut. With @tear the failing write first lands half its bytes.
 * A negative @writes removes the limit.
 */
void cmek_vol_dev_fail_after(struct cmek_vol_dev *dev, int writes, bool tear);

/* Defaults: random uuid, aes-xts-plain64, 64-byte key, 512-byte sectors. */
void cmek_vol_hdr_init(struct cmek_vol_hdr *h);

/* 0 and *h filled, or -errno with a message (ENOENT: no cmek header). */
int cmek_vol_read(struct cmek_vol_dev *dev, struct cmek_vol_hdr *h,
		  struct cmek_vol_read_info *info, char *err, size_t errlen);
/*
 * Crash-safe update: h->seq is advanced and both copies written, as the
 * current version, sealed with @mac_key (cmek_vol_mac_key()). Without a
 * MAC key only a header with no active slot can be written (a shred):
 * -EACCES otherwise. -EOVERFLOW when the sequence number would wrap.
 */
int cmek_vol_write(struct cmek_vol_dev *dev, struct cmek_vol_hdr *h,
		   const uint8_t *mac_key, char *err, size_t errlen);
/*
 * Write a new header (seq 1). Refuses a device that holds a file system, a
 * LUKS or cmek header or a partition table unless @force.
 */
int cmek_vol_format(struct cmek_vol_dev *dev, struct cmek_vol_hdr *h,
		    const uint8_t *mac_key, bool force, char *err,
		    size_t errlen);

/*
 * The header MAC authenticates every field of a copy (sequence number,
 * layout, slots), keyed from the data key, so that only whoever can
 * unwrap the data key can make a header that cmekd accepts.
 *   mac key = HKDF-SHA256(ikm = data key, salt = uuid,
 *                         info = "cmek header mac v2")
 *   mac     = HMAC-SHA256(mac key, bytes 0..65471 of the encoded copy)
 * 0 or -errno.
 */
int cmek_vol_mac_key(const uint8_t uuid[16], const uint8_t *dek,
		     size_t dek_len, uint8_t key[CMEK_VOL_MAC_KEY_LEN]);
/*
 * 0 if @h (version 2) carries the MAC @mac_key makes; -EBADMSG if not;
 * -ENODATA for a version 1 header, which has no MAC.
 */
int cmek_vol_verify(const struct cmek_vol_hdr *h, const uint8_t *mac_key);
/*
 * The key check value a host records for a volume: it tells whether a
 * data key is the one seen before, and reveals nothing about it.
 *   kcv = HMAC-SHA256(data key, "cmek key check v1" || uuid)
 */
int cmek_vol_kcv(const uint8_t uuid[16], const uint8_t *dek, size_t dek_len,
		 uint8_t kcv[CMEK_VOL_KCV_LEN]);
/* 1 and a description in @what if the device holds a known signature. */
int cmek_vol_probe(struct cmek_vol_dev *dev, char *what, size_t len);
/*
 * Destroy every key slot in both copies: overwrite the wrapped keys with
 * random bytes, write, then with zeroes, write, each crash-safe. -ESTALE
 * if the header is not volume @uuid's (NULL: any).
 */
int cmek_vol_shred(struct cmek_vol_dev *dev, const uint8_t uuid[16],
		   char *err, size_t errlen);

/* Slot helpers on an in-memory header; index or -errno. */
int cmek_vol_slot_add(struct cmek_vol_hdr *h, const char *provider,
		      const char *key_ref, const uint8_t *wrapped, size_t len);
int cmek_vol_slot_set(struct cmek_vol_hdr *h, int index, const char *provider,
		      const char *key_ref, const uint8_t *wrapped, size_t len);
int cmek_vol_slot_remove(struct cmek_vol_hdr *h, int index);
int cmek_vol_active_slots(const struct cmek_vol_hdr *h);

/* Serialise one copy into @buf (CMEK_VOL_HDR_SIZE bytes) and back. */
void cmek_vol_encode(const struct cmek_vol_hdr *h, uint8_t *buf);
int cmek_vol_decode(const uint8_t *buf, struct cmek_vol_hdr *h,
		    char *err, size_t errlen);

const char *cmek_vol_slot_state_name(uint32_t state);

#endif /* CMEK_HEADER_H */
