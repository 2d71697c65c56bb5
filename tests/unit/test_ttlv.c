// SPDX-License-Identifier: GPL-2.0
/*
 * The KMIP TTLV codec: the encodings of the KMIP 1.4 specification's
 * examples (section 9.1.2), round trips, and a decoder that refuses every
 * malformed, truncated, oversized or too deeply nested input without
 * reading out of bounds (ASan watches), including under random mutation.
 */
#include <stdlib.h>
#include <string.h>

#include "ttlv.h"
#include "../lib/tap.h"

static const char *why;

static bool check(const uint8_t *p, size_t len)
{
	return ttlv_check(p, len, &why) == 0;
}

/* Walk every item of an accepted encoding; returns how many there are. */
static int walk(const struct ttlv_item *s, int depth)
{
	struct ttlv_iter it;
	struct ttlv_item c;
	int n = 1;

	if (s->type != TTLV_STRUCT || depth > TTLV_MAX_DEPTH)
		return 1;
	ttlv_iter_init(&it, s);
	while (ttlv_next(&it, &c))
		n += walk(&c, depth + 1);
	return n;
}

static void build_sample(struct ttlv_buf *b)
{
	ttlv_begin(b, 0x42007b);
	ttlv_begin(b, 0x42007a);
	ttlv_put_int(b, 0x42000d, 1);
	ttlv_put_long(b, 0x420092, 0x0102030405060708LL);
	ttlv_end(b);
	ttlv_begin(b, 0x42000f);
	ttlv_put_enum(b, 0x42007f, 1);
	ttlv_put_text(b, 0x42007d, "not found");
	ttlv_put_bool(b, 0x420001, true);
	ttlv_put_bytes(b, 0x4200c2, "\x01\x02\x03", 3);
	ttlv_end(b);
	ttlv_end(b);
}

static uint32_t rnd(void)
{
	static uint64_t s = 0x9e3779b97f4a7c15ULL;

	s ^= s << 13;
	s ^= s >> 7;
	s ^= s << 17;
	return (uint32_t)(s >> 16);
}

/* One random mutation: bit flip, byte set, length rewrite or truncation. */
static size_t mutate(uint8_t *p, size_t len)
{
	size_t i = rnd() % len;

	switch (rnd() % 5) {
	case 0:
		p[i] ^= 1u << (rnd() % 8);
		break;
	case 1:
		p[i] = (uint8_t)rnd();
		break;
	case 2:	/* a length field of some header-aligned offset */
		i &= ~(size_t)7;
		if (i + 8 <= len) {
			uint32_t v = rnd() % 3 ? rnd() % 64 : rnd();

			p[i + 4] = v >> 24;
			p[i + 5] = v >> 16;
			p[i + 6] = v >> 8;
			p[i + 7] = v;
		}
		break;
	case 3:
		return i;
	default:
		p[i] = (uint8_t)(rnd() % 11);	/* plausible type bytes */
		break;
	}
	return len;
}

int main(void)
{
	static const uint8_t int8[] = {
		0x42, 0x00, 0x20, 0x02, 0x00, 0x00, 0x00, 0x04,
		0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00,
	};
	static const uint8_t hello[] = {
		0x42, 0x00, 0x20, 0x07, 0x00, 0x00, 0x00, 0x0b,
		'H', 'e', 'l', 'l', 'o', ' ', 'W', 'o', 'r', 'l', 'd',
		0x00, 0x00, 0x00, 0x00, 0x00,
	};
	static const uint8_t strct[] = {
		0x42, 0x00, 0x20, 0x01, 0x00, 0x00, 0x00, 0x20,
		0x42, 0x00, 0x04, 0x05, 0x00, 0x00, 0x00, 0x04,
		0x00, 0x00, 0x00, 0xfe, 0x00, 0x00, 0x00, 0x00,
		0x42, 0x00, 0x05, 0x02, 0x00, 0x00, 0x00, 0x04,
		0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00,
	};
	uint8_t raw[64 * 8 + 8], copy[512];
	struct ttlv_item top, hdr, item, v;
	struct ttlv_buf b;
	bool all = true, crashed = false, bad;
	int accepted = 0, items;
	size_t i, len;

	tap_plan(22);

	ttlv_buf_init(&b);
	ttlv_put_int(&b, 0x420020, 8);
	tap_ok(!ttlv_buf_failed(&b) && b.len == sizeof(int8) &&
	       !memcmp(b.data, int8, sizeof(int8)), "Integer 8 encodes as in the spec");
	ttlv_buf_free(&b);
	ttlv_put_text(&b, 0x420020, "Hello World");
	tap_ok(b.len == sizeof(hello) && !memcmp(b.data, hello, sizeof(hello)),
	       "Text String 'Hello World' encodes as in the spec, zero-padded");
	ttlv_buf_free(&b);
	ttlv_begin(&b, 0x420020);
	ttlv_put_enum(&b, 0x420004, 254);
	ttlv_put_int(&b, 0x420005, 255);
	ttlv_end(&b);
	tap_ok(!ttlv_buf_failed(&b) && b.len == sizeof(strct) &&
	       !memcmp(b.data, strct, sizeof(strct)),
	       "Structure {Enumeration 254, Integer 255} encodes as in the spec");
	ttlv_buf_free(&b);

	tap_ok(check(int8, sizeof(int8)) && check(hello, sizeof(hello)) &&
	       check(strct, sizeof(strct)), "the spec examples decode");
	ttlv_item_at(strct, sizeof(strct), &top);
	tap_ok(ttlv_find(&top, 0x420005, TTLV_INT, &v) && ttlv_u32(&v) == 255 &&
	       !ttlv_find(&top, 0x420005, TTLV_ENUM, &v),
	       "find matches tag and type");

	build_sample(&b);
	tap_ok(!ttlv_buf_failed(&b) && check(b.data, b.len),
	       "a nested message round-trips through the checker");
	ttlv_item_at(b.data, b.len, &top);
	tap_ok(ttlv_find(&top, 0x42007a, TTLV_STRUCT, &hdr) &&
	       ttlv_find(&hdr, 0x42000d, TTLV_INT, &v) && ttlv_u32(&v) == 1 &&
	       ttlv_find(&top, 0x42000f, TTLV_STRUCT, &item) &&
	       ttlv_find(&item, 0x42007d, TTLV_TEXT, &v) && v.len == 9 &&
	       !memcmp(v.val, "not found", 9) &&
	       ttlv_find(&item, 0x4200c2, TTLV_BYTES, &v) && v.len == 3,
	       "values read back");
	tap_ok(walk(&top, 0) == 9, "walk sees all 9 items");
	len = b.len;
	memcpy(copy, b.data, len);

	for (i = 0; i < len; i++)
		all &= !check(copy, i);
	tap_ok(all, "every truncation of the message is refused");
	copy[len] = 0;
	bad = !check(copy, len + 8);
	tap_ok(bad && strstr(why, "trailing"), "trailing bytes refused: %s", why);

	memcpy(raw, int8, 16);
	raw[7] = 8;
	bad = !check(raw, 16);
	tap_ok(bad && strstr(why, "fixed-size"),
	       "an Integer of length 8 is refused: %s", why);
	memcpy(raw, int8, 16);
	raw[3] = 0x0b;
	bad = !check(raw, 16);
	tap_ok(bad && strstr(why, "unknown"), "unknown type 0x0b refused: %s",
	       why);
	memcpy(raw, strct, sizeof(strct));
	raw[15] = 0x20;		/* the Enumeration becomes a 32-byte... */
	raw[11] = TTLV_BYTES;	/* ...byte string overrunning its parent */
	bad = !check(raw, sizeof(strct));
	tap_ok(bad && strstr(why, "longer"),
	       "a child longer than its structure is refused: %s", why);
	memcpy(raw, hello, sizeof(hello));
	raw[4] = raw[5] = raw[6] = raw[7] = 0xff;
	tap_ok(!check(raw, sizeof(hello)), "length 0xffffffff is refused");
	memcpy(raw, strct, sizeof(strct));
	raw[7] = 0x1c;		/* 28: not a multiple of 8 */
	tap_ok(!check(raw, sizeof(strct)), "a structure length not a multiple of 8 is refused");
	tap_ok(!check(raw, 0) && !check(raw, 7), "empty and 7-byte inputs are refused");

	/* 64 nested empty-ish structures, built by hand. */
	for (i = 0; i < 64; i++) {
		uint32_t l = (uint32_t)((63 - i) * 8);

		raw[i * 8] = 0x42;
		raw[i * 8 + 1] = 0;
		raw[i * 8 + 2] = 0x01;
		raw[i * 8 + 3] = TTLV_STRUCT;
		raw[i * 8 + 4] = l >> 24;
		raw[i * 8 + 5] = l >> 16;
		raw[i * 8 + 6] = l >> 8;
		raw[i * 8 + 7] = l;
	}
	bad = !check(raw, 64 * 8);
	tap_ok(bad && strstr(why, "deeply"), "64 nested structures refused: %s",
	       why);
	tap_ok(check(raw + (64 - TTLV_MAX_DEPTH + 1) * 8,
		     (TTLV_MAX_DEPTH - 1) * 8) &&
	       !check(raw + (64 - TTLV_MAX_DEPTH) * 8, TTLV_MAX_DEPTH * 8),
	       "%d nested structures accepted, %d refused",
	       TTLV_MAX_DEPTH - 1, TTLV_MAX_DEPTH);
	ttlv_buf_free(&b);

	for (i = 0; i < TTLV_MAX_DEPTH + 1; i++)
		ttlv_begin(&b, 0x420001);
	tap_ok(ttlv_buf_failed(&b), "the encoder refuses to nest deeper than %d",
	       TTLV_MAX_DEPTH);
	ttlv_buf_free(&b);
	ttlv_end(&b);
	tap_ok(ttlv_buf_failed(&b), "an unbalanced end fails the encoder");
	ttlv_buf_free(&b);
	ttlv_put_bytes(&b, 0x420001, raw, TTLV_MAX_LEN + 1);
	tap_ok(ttlv_buf_failed(&b) && !b.len, "the encoder refuses > %u bytes",
	       TTLV_MAX_LEN);
	ttlv_buf_free(&b);

	/* Random mutation: ASan aborts on any out-of-bounds read. */
	build_sample(&b);
	for (i = 0; i < 200000 && !crashed; i++) {
		size_t n = b.len;
		uint8_t *m = malloc(n);	/* exact size: ASan sees overreads */

		memcpy(m, b.data, n);
		for (int k = 1 + rnd() % 4; k; k--)
			n = n ? mutate(m, n) : 0;
		if (check(m, n)) {
			accepted++;
			ttlv_item_at(m, n, &top);
			items = walk(&top, 0);
			crashed = items < 1;
		}
		free(m);
	}
	ttlv_buf_free(&b);
	tap_ok(!crashed && accepted > 0 && accepted < 200000,
	       "200000 mutated messages decoded safely (%d accepted)", accepted);
	return tap_done();
}
