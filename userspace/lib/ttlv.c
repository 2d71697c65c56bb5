// SPDX-License-Identifier: GPL-2.0
/*
 * KMIP TTLV encoder and a defensive decoder. See ttlv.h.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ttlv.h"

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static size_t padded(uint32_t len)
{
	return ((size_t)len + 7) & ~(size_t)7;
}

/* Fixed value length of @type, 0 if variable, -1 if @type is unknown. */
static int fixed_len(uint8_t type)
{
	switch (type) {
	case TTLV_INT:
	case TTLV_ENUM:
	case TTLV_INTERVAL:
		return 4;
	case TTLV_LONG:
	case TTLV_BOOL:
	case TTLV_DATETIME:
		return 8;
	case TTLV_STRUCT:
	case TTLV_BIGINT:
	case TTLV_TEXT:
	case TTLV_BYTES:
		return 0;
	}
	return -1;
}

size_t ttlv_item_at(const uint8_t *buf, size_t len, struct ttlv_item *it)
{
	int fixed;

	if (len < TTLV_HDR_LEN)
		return 0;
	it->tag = (uint32_t)buf[0] << 16 | (uint32_t)buf[1] << 8 | buf[2];
	it->type = buf[3];
	it->len = be32(buf + 4);
	it->val = buf + TTLV_HDR_LEN;
	fixed = fixed_len(it->type);
	if (fixed < 0 || (fixed && it->len != (uint32_t)fixed))
		return 0;
	if (padded(it->len) > len - TTLV_HDR_LEN)
		return 0;
	return TTLV_HDR_LEN + padded(it->len);
}

static int check_items(const uint8_t *p, size_t len, unsigned int depth,
		       const char **why)
{
	struct ttlv_item it;
	size_t n;

	while (len) {
		n = ttlv_item_at(p, len, &it);
		if (!n) {
			*why = len < TTLV_HDR_LEN ? "truncated item header" :
			       fixed_len(p[3]) < 0 ? "unknown item type" :
			       fixed_len(p[3]) ? "wrong length for a fixed-size type" :
			       "item longer than its enclosing structure";
			return -1;
		}
		if (it.type == TTLV_BIGINT && it.len % 8) {
			*why = "big integer length is not a multiple of 8";
			return -1;
		}
		if (it.type == TTLV_STRUCT) {
			if (depth + 1 >= TTLV_MAX_DEPTH) {
				*why = "structures nested too deeply";
				return -1;
			}
			if (it.len % 8) {
				*why = "structure length is not a multiple of 8";
				return -1;
			}
			if (check_items(it.val, it.len, depth + 1, why))
				return -1;
		}
		p += n;
		len -= n;
	}
	return 0;
}

int ttlv_check(const uint8_t *buf, size_t len, const char **why)
{
	struct ttlv_item it;
	size_t n;

	*why = NULL;
	if (len > TTLV_MAX_LEN) {
		*why = "message too large";
		return -1;
	}
	if (!len) {
		*why = "empty message";
		return -1;
	}
	n = ttlv_item_at(buf, len, &it);
	if (n && n != len) {
		*why = "trailing bytes after the message";
		return -1;
	}
	/* One item (or a malformed one, which check_items() describes). */
	return check_items(buf, len, 0, why);
}

void ttlv_iter_init(struct ttlv_iter *it, const struct ttlv_item *s)
{
	bool ok = s->type == TTLV_STRUCT;

	it->p = ok ? s->val : NULL;
	it->left = ok ? s->len : 0;
}

bool ttlv_next(struct ttlv_iter *it, struct ttlv_item *out)
{
	size_t n = it->left ? ttlv_item_at(it->p, it->left, out) : 0;

	if (!n) {
		it->left = 0;
		return false;
	}
	it->p += n;
	it->left -= n;
	return true;
}

bool ttlv_find(const struct ttlv_item *s, uint32_t tag, uint8_t type,
	       struct ttlv_item *out)
{
	struct ttlv_iter it;

	ttlv_iter_init(&it, s);
	while (ttlv_next(&it, out))
		if (out->tag == tag && out->type == type)
			return true;
	return false;
}

uint32_t ttlv_u32(const struct ttlv_item *it)
{
	return it->len == 4 ? be32(it->val) : 0;
}

void ttlv_buf_init(struct ttlv_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void ttlv_buf_free(struct ttlv_buf *b)
{
	if (b->data) {
		OPENSSL_cleanse(b->data, b->cap);
		free(b->data);
	}
	memset(b, 0, sizeof(*b));
}

bool ttlv_buf_failed(const struct ttlv_buf *b)
{
	return b->failed || b->depth;
}

/* Room for @n more bytes. Never realloc(): the old buffer is wiped first. */
static bool reserve(struct ttlv_buf *b, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (b->failed)
		return false;
	if (n > TTLV_MAX_LEN - b->len) {
		b->failed = true;
		return false;
	}
	if (b->len + n <= b->cap)
		return true;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + n)
		cap *= 2;
	p = malloc(cap);
	if (!p) {
		b->failed = true;
		return false;
	}
	if (b->data) {
		memcpy(p, b->data, b->len);
		OPENSSL_cleanse(b->data, b->cap);
		free(b->data);
	}
	b->data = p;
	b->cap = cap;
	return true;
}

static void put_item(struct ttlv_buf *b, uint32_t tag, uint8_t type,
		     const void *val, size_t len)
{
	size_t total = TTLV_HDR_LEN + padded((uint32_t)len);
	uint8_t *p;

	if (len > TTLV_MAX_LEN || tag > 0xffffff) {
		b->failed = true;
		return;
	}
	if (!reserve(b, total))
		return;
	p = b->data + b->len;
	p[0] = tag >> 16;
	p[1] = tag >> 8;
	p[2] = tag;
	p[3] = type;
	put_be32(p + 4, (uint32_t)len);
	if (len)
		memcpy(p + TTLV_HDR_LEN, val, len);
	memset(p + TTLV_HDR_LEN + len, 0, total - TTLV_HDR_LEN - len);
	b->len += total;
}

void ttlv_begin(struct ttlv_buf *b, uint32_t tag)
{
	if (b->depth >= TTLV_MAX_DEPTH) {
		b->failed = true;
		return;
	}
	b->open[b->depth++] = b->len;
	put_item(b, tag, TTLV_STRUCT, NULL, 0);
}

void ttlv_end(struct ttlv_buf *b)
{
	size_t off;

	if (!b->depth) {
		b->failed = true;
		return;
	}
	off = b->open[--b->depth];
	if (!b->failed)
		put_be32(b->data + off + 4,
			 (uint32_t)(b->len - off - TTLV_HDR_LEN));
}

void ttlv_put_int(struct ttlv_buf *b, uint32_t tag, int32_t v)
{
	uint8_t p[4];

	put_be32(p, (uint32_t)v);
	put_item(b, tag, TTLV_INT, p, 4);
}

void ttlv_put_enum(struct ttlv_buf *b, uint32_t tag, uint32_t v)
{
	uint8_t p[4];

	put_be32(p, v);
	put_item(b, tag, TTLV_ENUM, p, 4);
}

void ttlv_put_long(struct ttlv_buf *b, uint32_t tag, int64_t v)
{
	uint8_t p[8];

	put_be32(p, (uint32_t)((uint64_t)v >> 32));
	put_be32(p + 4, (uint32_t)v);
	put_item(b, tag, TTLV_LONG, p, 8);
}

void ttlv_put_bool(struct ttlv_buf *b, uint32_t tag, bool v)
{
	uint8_t p[8] = { 0 };

	p[7] = v;
	put_item(b, tag, TTLV_BOOL, p, 8);
}

void ttlv_put_text(struct ttlv_buf *b, uint32_t tag, const char *s)
{
	put_item(b, tag, TTLV_TEXT, s, strlen(s));
}

void ttlv_put_bytes(struct ttlv_buf *b, uint32_t tag, const void *p,
		    size_t len)
{
	put_item(b, tag, TTLV_BYTES, p, len);
}

void ttlv_put_raw(struct ttlv_buf *b, const void *p, size_t len)
{
	if (!len || !reserve(b, len))
		return;
	memcpy(b->data + b->len, p, len);
	b->len += len;
}
