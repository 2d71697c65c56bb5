/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KMIP TTLV (tag, type, length, value) encoding, KMIP 1.x section 9.1.
 *
 * Every item is a 3-byte tag, a 1-byte type, a 4-byte big-endian length and
 * the value padded with zeros to a multiple of 8 bytes. A structure's value
 * is the concatenation of its children.
 *
 * The decoder never trusts a length: ttlv_check() walks a whole encoding
 * once (bounded depth, every child inside its parent, fixed sizes for the
 * numeric types) before anything reads a value, and the accessors below
 * re-check bounds anyway. The encoder keeps everything in one buffer that
 * is wiped (OPENSSL_cleanse) whenever it is grown or freed, because request
 * payloads carry plaintext data keys.
 */
#ifndef CMEK_TTLV_H
#define CMEK_TTLV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TTLV_HDR_LEN		8
#define TTLV_MAX_DEPTH		16		/* KMIP 1.4 messages need < 10 */
#define TTLV_MAX_LEN		(1u << 20)	/* largest encoding we build or accept */

enum ttlv_type {
	TTLV_STRUCT	= 0x01,
	TTLV_INT	= 0x02,
	TTLV_LONG	= 0x03,
	TTLV_BIGINT	= 0x04,
	TTLV_ENUM	= 0x05,
	TTLV_BOOL	= 0x06,
	TTLV_TEXT	= 0x07,
	TTLV_BYTES	= 0x08,
	TTLV_DATETIME	= 0x09,
	TTLV_INTERVAL	= 0x0a,
};

/* One decoded item; @val points into the caller's buffer. */
struct ttlv_item {
	uint32_t tag;
	uint8_t type;
	uint32_t len;		/* unpadded value length */
	const uint8_t *val;
};

/*
 * Check that @buf holds exactly one well-formed item (a structure tree no
 * deeper than TTLV_MAX_DEPTH) and nothing after it. 0, or -1 with *why set
 * to a static description of the first problem.
 */
int ttlv_check(const uint8_t *buf, size_t len, const char **why);

/*
 * Decode the item that starts at @buf. Returns its encoded size (header,
 * value and padding, never more than @len) or 0 if it does not fit or its
 * type is unknown. Children of a structure are not examined.
 */
size_t ttlv_item_at(const uint8_t *buf, size_t len, struct ttlv_item *it);

/* Children of a structure, in order. */
struct ttlv_iter {
	const uint8_t *p;
	size_t left;
};

void ttlv_iter_init(struct ttlv_iter *it, const struct ttlv_item *s);
bool ttlv_next(struct ttlv_iter *it, struct ttlv_item *out);

/* First child of @s with @tag and @type; false if none (or @s not a struct). */
bool ttlv_find(const struct ttlv_item *s, uint32_t tag, uint8_t type,
	       struct ttlv_item *out);

/* Value of an Integer, Enumeration or Interval item. */
uint32_t ttlv_u32(const struct ttlv_item *it);

/* Encoder. Errors are sticky: check ttlv_buf_failed() once at the end. */
struct ttlv_buf {
	uint8_t *data;
	size_t len, cap;
	size_t open[TTLV_MAX_DEPTH];	/* offsets of unfinished structures */
	unsigned int depth;
	bool failed;
};

void ttlv_buf_init(struct ttlv_buf *b);
/* Wipe and free; @b may be reused after ttlv_buf_init(). */
void ttlv_buf_free(struct ttlv_buf *b);
/* True if anything failed or a structure is still open. */
bool ttlv_buf_failed(const struct ttlv_buf *b);

void ttlv_begin(struct ttlv_buf *b, uint32_t tag);
void ttlv_end(struct ttlv_buf *b);
void ttlv_put_int(struct ttlv_buf *b, uint32_t tag, int32_t v);
void ttlv_put_enum(struct ttlv_buf *b, uint32_t tag, uint32_t v);
void ttlv_put_long(struct ttlv_buf *b, uint32_t tag, int64_t v);
void ttlv_put_bool(struct ttlv_buf *b, uint32_t tag, bool v);
void ttlv_put_text(struct ttlv_buf *b, uint32_t tag, const char *s);
void ttlv_put_bytes(struct ttlv_buf *b, uint32_t tag, const void *p,
		    size_t len);
/* Append items encoded elsewhere (e.g. a payload into a message). */
void ttlv_put_raw(struct ttlv_buf *b, const void *p, size_t len);

#endif /* CMEK_TTLV_H */
