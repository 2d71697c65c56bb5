// SPDX-License-Identifier: GPL-2.0
/*
 * Volume header: encoding, validation, corruption fallback, crash points.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "header.h"
#include "../lib/tap.h"

static char path[] = "/tmp/cmek-test-volume-XXXXXX";
static char err[512];
/* A MAC key as cmek_vol_mac_key() makes them; any 32 bytes do here. */
static const uint8_t mk[CMEK_VOL_MAC_KEY_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8 };

static struct cmek_vol_dev *open_dev(void)
{
	struct cmek_vol_dev *dev = NULL;

	if (cmek_vol_dev_open(path, true, 0, &dev, err, sizeof(err)))
		tap_diag("open: %s", err);
	return dev;
}

static void fresh_file(size_t size)
{
	int fd = open(path, O_RDWR | O_TRUNC);

	if (fd < 0 || ftruncate(fd, size) < 0)
		abort();
	close(fd);
}

static void poke(uint64_t off, const void *p, size_t len)
{
	int fd = open(path, O_RDWR);

	if (fd < 0 || pwrite(fd, p, len, off) != (ssize_t)len)
		abort();
	close(fd);
}

static struct cmek_vol_hdr *new_hdr(int slots)
{
	struct cmek_vol_hdr *h = malloc(sizeof(*h));
	uint8_t w[100];

	cmek_vol_hdr_init(h);
	for (int i = 0; i < slots; i++) {
		memset(w, 'a' + i, sizeof(w));
		cmek_vol_slot_add(h, "local", "kek-a", w, sizeof(w));
	}
	return h;
}

/*
 * The slot contents two headers agree on. The sequence may differ, and so
 * may a slot's creation time: the crash tests compare against a header
 * built in an earlier run, possibly in an earlier second.
 */
static bool same_slots(const struct cmek_vol_hdr *a,
		       const struct cmek_vol_hdr *b)
{
	for (int i = 0; i < CMEK_VOL_SLOTS; i++) {
		struct cmek_vol_slot x = a->slots[i], y = b->slots[i];

		x.created = 0;
		y.created = 0;
		if (memcmp(&x, &y, sizeof(x)))
			return false;
	}
	return !memcmp(a->uuid, b->uuid, 16);
}

static void test_round_trip(void)
{
	struct cmek_vol_hdr *h = new_hdr(2), *g = malloc(sizeof(*g));
	uint8_t *buf = malloc(CMEK_VOL_HDR_SIZE);

	h->sector_size = 4096;
	h->key_size = 32;
	h->flags = CMEK_VOL_F_IV_LARGE_SECTORS;
	h->iv_offset = 8;
	h->data_size = 4096 * 10;
	h->seq = 7;
	cmek_vol_encode(h, buf);
	tap_ok(cmek_vol_decode(buf, g, err, sizeof(err)) == 0,
	       "encode/decode round trip");
	tap_ok(!memcmp(h, g, sizeof(*h)), "every field survives the round trip");
	tap_ok(!memcmp(buf, CMEK_VOL_MAGIC, 8) && buf[16] == 7,
	       "magic at byte 0, little-endian sequence at byte 16");

	h->sector_size = 3000;
	cmek_vol_encode(h, buf);
	tap_ok(cmek_vol_decode(buf, g, err, sizeof(err)) == -EINVAL &&
	       strstr(err, "sector size"), "bad sector size refused: %s", err);
	h->sector_size = 512;
	h->key_size = 48;
	cmek_vol_encode(h, buf);
	tap_ok(cmek_vol_decode(buf, g, err, sizeof(err)) == -EINVAL &&
	       strstr(err, "key size"), "bad key size refused: %s", err);
	h->key_size = 64;
	h->flags = 0x80;
	cmek_vol_encode(h, buf);
	tap_ok(cmek_vol_decode(buf, g, err, sizeof(err)) == -EINVAL,
	       "unknown flags refused: %s", err);
	h->flags = 0;
	cmek_vol_encode(h, buf);
	memset(buf, 0, 8);
	tap_ok(cmek_vol_decode(buf, g, err, sizeof(err)) == -ENOENT,
	       "missing magic is 'no header'");
	free(h);
	free(g);
	free(buf);
}

static void test_format_and_probe(void)
{
	struct cmek_vol_hdr *h = new_hdr(1), *g = malloc(sizeof(*g));
	struct cmek_vol_read_info info;
	struct cmek_vol_dev *dev;
	uint8_t ext4[2] = { 0x53, 0xef };

	fresh_file(4 << 20);
	dev = open_dev();
	tap_ok(cmek_vol_read(dev, g, NULL, err, sizeof(err)) == -ENOENT &&
	       strstr(err, "no cmek header"), "blank device: %s", err);
	poke(0x438, ext4, 2);
	tap_ok(cmek_vol_format(dev, h, mk, false, err, sizeof(err)) == -EEXIST &&
	       strstr(err, "ext2/3/4") && strstr(err, "--force"),
	       "format refuses an ext4 device: %s", err);
	tap_ok(cmek_vol_format(dev, h, mk, true, err, sizeof(err)) == 0,
	       "format --force overwrites it");
	tap_ok(cmek_vol_read(dev, g, &info, err, sizeof(err)) == 0 &&
	       info.copy_valid[0] && info.copy_valid[1] && g->seq == 1 &&
	       same_slots(h, g), "both copies valid at sequence 1");
	tap_ok(cmek_vol_format(dev, h, mk, false, err, sizeof(err)) == -EEXIST &&
	       strstr(err, "cmek header"), "format refuses an existing cmek header");
	cmek_vol_dev_close(dev);
	free(h);
	free(g);
}

/* Flip bytes of one copy: the other copy must be used, never garbage. */
static void test_corruption(void)
{
	struct cmek_vol_hdr *h = new_hdr(3), *g = malloc(sizeof(*g));
	struct cmek_vol_read_info info;
	struct cmek_vol_dev *dev;
	int bad = 0, n = 0;

	fresh_file(4 << 20);
	dev = open_dev();
	cmek_vol_format(dev, h, mk, true, err, sizeof(err));
	for (uint64_t off = 0; off < CMEK_VOL_HDR_SIZE; off += 61, n++) {
		uint8_t b, x;
		int fd = open(path, O_RDONLY);

		if (fd < 0 || pread(fd, &b, 1, off) != 1)
			abort();
		close(fd);
		x = b ^ 0x5a;
		poke(off, &x, 1);
		if (cmek_vol_read(dev, g, &info, err, sizeof(err)) ||
		    info.used_copy != 1 || info.copy_valid[0] ||
		    !same_slots(h, g))
			bad++;
		poke(off, &b, 1);
	}
	tap_ok(!bad, "%d single-byte corruptions of copy 0 detected, copy 1 used (%d bad)",
	       n, bad);
	{
		uint8_t junk[64];

		memset(junk, 0xff, sizeof(junk));
		poke(100, junk, sizeof(junk));
		poke(CMEK_VOL_COPY_OFFSET_1 + 100, junk, sizeof(junk));
		tap_ok(cmek_vol_read(dev, g, NULL, err, sizeof(err)) == -EBADMSG &&
		       strstr(err, "both header copies are damaged"),
		       "both copies damaged is refused: %s", err);
	}
	cmek_vol_dev_close(dev);
	free(h);
	free(g);
}

/* Shred has two passes; after either, no slot may be usable. */
static bool shredded(const struct cmek_vol_hdr *h)
{
	for (int i = 0; i < CMEK_VOL_SLOTS; i++)
		if (h->slots[i].state == CMEK_SLOT_ACTIVE ||
		    h->slots[i].wrapped_len)
			return false;
	return true;
}

enum op { OP_ADD, OP_REMOVE, OP_REPLACE, OP_SHRED, OP_MAX };
static const char *const op_names[] = { "slot add", "slot remove", "rewrap",
					"shred" };

static int run_op(struct cmek_vol_dev *dev, enum op op,
		  struct cmek_vol_hdr *want)
{
	uint8_t w[200];

	memset(w, 0x77, sizeof(w));
	switch (op) {
	case OP_ADD:
		cmek_vol_slot_add(want, "aws-kms", "arn:aws:kms:x", w, sizeof(w));
		break;
	case OP_REMOVE:
		cmek_vol_slot_remove(want, 0);
		break;
	case OP_REPLACE:
		cmek_vol_slot_set(want, 1, "local", "kek-b", w, sizeof(w));
		break;
	case OP_SHRED:
		return cmek_vol_shred(dev, want->uuid, err, sizeof(err));
	case OP_MAX:
		break;
	}
	return cmek_vol_write(dev, want, mk, err, sizeof(err));
}

/*
 * Cut the power after every write of every update, with and without a torn
 * last write: the header must then open with the old or the new slots.
 */
static void test_crash_points(void)
{
	struct cmek_vol_hdr *old = new_hdr(2), *want = malloc(sizeof(*want));
	struct cmek_vol_hdr *got = malloc(sizeof(*got));
	struct cmek_vol_hdr *newh = malloc(sizeof(*newh));

	for (int op = 0; op < OP_MAX; op++) {
		int states = 0, bad = 0, cuts = 0;

		/* The state after an uninterrupted run. */
		fresh_file(4 << 20);
		struct cmek_vol_dev *dev = open_dev();

		cmek_vol_format(dev, old, mk, true, err, sizeof(err));
		memcpy(want, old, sizeof(*old));
		run_op(dev, op, want);
		cmek_vol_read(dev, newh, NULL, err, sizeof(err));
		cmek_vol_dev_close(dev);

		for (int tear = 0; tear < 2; tear++) {
			for (int n = 0; n < 8; n++) {
				fresh_file(4 << 20);
				dev = open_dev();
				cmek_vol_format(dev, old, mk, true, err, sizeof(err));
				cmek_vol_read(dev, old, NULL, err, sizeof(err));
				memcpy(want, old, sizeof(*old));
				cmek_vol_dev_fail_after(dev, n, tear);
				if (run_op(dev, op, want) == 0) {
					cmek_vol_dev_close(dev);
					continue;
				}
				cuts++;
				cmek_vol_dev_fail_after(dev, -1, false);
				if (cmek_vol_read(dev, got, NULL, err, sizeof(err)) ||
				    !(same_slots(got, old) || same_slots(got, newh) ||
				      (op == OP_SHRED && shredded(got))))
					bad++;
				else
					states++;
				cmek_vol_dev_close(dev);
			}
		}
		tap_ok(cuts > 0 && !bad,
		       "%s: %d power cuts (plain and torn) all open with old or new slots",
		       op_names[op], cuts);
	}
	free(old);
	free(want);
	free(got);
	free(newh);
}

static void test_shred_and_slots(void)
{
	struct cmek_vol_hdr *h = new_hdr(8), *g = malloc(sizeof(*g));
	struct cmek_vol_dev *dev;
	uint8_t w[10] = { 1 }, other[16];
	uint8_t *raw = malloc(CMEK_VOL_AREA_SIZE);
	bool leak = false;
	int fd;

	tap_ok(cmek_vol_slot_add(h, "local", "k", w, sizeof(w)) == -ENOSPC,
	       "a ninth slot is refused");
	tap_ok(cmek_vol_slot_set(h, 0, "local", "", w, sizeof(w)) == -EINVAL,
	       "a slot without key reference is refused");
	fresh_file(4 << 20);
	dev = open_dev();
	cmek_vol_format(dev, h, mk, true, err, sizeof(err));
	memcpy(other, h->uuid, sizeof(other));
	other[0] ^= 1;
	tap_ok(cmek_vol_shred(dev, other, err, sizeof(err)) == -ESTALE &&
	       strstr(err, "belongs to volume"),
	       "shred refuses a header of another volume: %s", err);
	tap_ok(cmek_vol_shred(dev, h->uuid, err, sizeof(err)) == 0,
	       "shred succeeds");
	tap_ok(cmek_vol_read(dev, g, NULL, err, sizeof(err)) == 0 &&
	       cmek_vol_active_slots(g) == 0 &&
	       g->slots[0].state == CMEK_SLOT_DESTROYED,
	       "after shred every slot is destroyed");
	fd = open(path, O_RDONLY);
	if (fd < 0 || pread(fd, raw, CMEK_VOL_AREA_SIZE, 0) != CMEK_VOL_AREA_SIZE)
		abort();
	close(fd);
	/* Slot i's wrapped key was 100 bytes of 'a' + i: none may remain. */
	for (int i = 0; i < 8; i++) {
		uint8_t pat[100];

		memset(pat, 'a' + i, sizeof(pat));
		if (memmem(raw, CMEK_VOL_AREA_SIZE, pat, sizeof(pat)))
			leak = true;
	}
	tap_ok(!leak, "no wrapped key bytes remain in either copy");
	cmek_vol_dev_close(dev);
	free(raw);
	free(h);
	free(g);
}

/* Re-encode @h as both copies of the file, as a disk writer would. */
static void put_copies(const struct cmek_vol_hdr *h)
{
	uint8_t *buf = malloc(CMEK_VOL_HDR_SIZE);

	cmek_vol_encode(h, buf);
	poke(CMEK_VOL_COPY_OFFSET_0, buf, CMEK_VOL_HDR_SIZE);
	poke(CMEK_VOL_COPY_OFFSET_1, buf, CMEK_VOL_HDR_SIZE);
	free(buf);
}

static void test_mac(void)
{
	struct cmek_vol_hdr *h = new_hdr(2), *g = malloc(sizeof(*g));
	uint8_t other[CMEK_VOL_MAC_KEY_LEN] = { 9 }, buf_key[64] = { 7 };
	uint8_t a[CMEK_VOL_KCV_LEN], b[CMEK_VOL_KCV_LEN], c[CMEK_VOL_KCV_LEN];
	uint8_t k1[CMEK_VOL_MAC_KEY_LEN], k2[CMEK_VOL_MAC_KEY_LEN];
	uint8_t *buf = malloc(CMEK_VOL_HDR_SIZE);
	struct cmek_vol_dev *dev;

	fresh_file(4 << 20);
	dev = open_dev();
	cmek_vol_format(dev, h, mk, true, err, sizeof(err));
	tap_ok(cmek_vol_read(dev, g, NULL, err, sizeof(err)) == 0 &&
	       g->version == CMEK_VOL_VERSION && cmek_vol_verify(g, mk) == 0,
	       "a written header is version 2 and carries the MAC of its key");
	tap_ok(cmek_vol_verify(g, other) == -EBADMSG,
	       "another key's MAC does not match");

	/* Someone without the key rewrites fields; the checksum is fine. */
	g->iv_offset = 64;
	put_copies(g);
	tap_ok(cmek_vol_read(dev, g, NULL, err, sizeof(err)) == 0 &&
	       cmek_vol_verify(g, mk) == -EBADMSG,
	       "a layout field rewritten on disk fails the MAC");
	cmek_vol_read(dev, g, NULL, err, sizeof(err));
	g->iv_offset = 0;
	snprintf(g->slots[0].provider, sizeof(g->slots[0].provider), "junk");
	put_copies(g);
	tap_ok(cmek_vol_read(dev, g, NULL, err, sizeof(err)) == 0 &&
	       cmek_vol_verify(g, mk) == -EBADMSG,
	       "a slot's provider rewritten on disk fails the MAC");
	g->seq++;
	tap_ok(cmek_vol_verify(g, mk) == -EBADMSG,
	       "the sequence number is under the MAC too");

	tap_ok(cmek_vol_write(dev, g, NULL, err, sizeof(err)) == -EACCES,
	       "a header with key slots is not written without its MAC key");

	/* Version 1: no MAC; an update with the key makes it version 2. */
	cmek_vol_format(dev, h, mk, true, err, sizeof(err));
	cmek_vol_read(dev, g, NULL, err, sizeof(err));
	g->version = CMEK_VOL_VERSION_LEGACY;
	put_copies(g);
	tap_ok(cmek_vol_read(dev, g, NULL, err, sizeof(err)) == 0 &&
	       g->version == CMEK_VOL_VERSION_LEGACY &&
	       cmek_vol_verify(g, mk) == -ENODATA,
	       "a version 1 header reads, and has no MAC to check");
	tap_ok(cmek_vol_write(dev, g, mk, err, sizeof(err)) == 0 &&
	       cmek_vol_read(dev, g, NULL, err, sizeof(err)) == 0 &&
	       g->version == CMEK_VOL_VERSION && cmek_vol_verify(g, mk) == 0 &&
	       same_slots(g, h), "writing it with its key upgrades it in place");

	/* The sequence number never wraps. */
	g->seq = UINT64_MAX;
	put_copies(g);
	tap_ok(cmek_vol_write(dev, g, mk, err, sizeof(err)) == -EOVERFLOW,
	       "a write at the largest sequence number is refused: %s", err);

	/* Strings an attacker writes are printable or refused. */
	snprintf(g->slots[1].key_ref, sizeof(g->slots[1].key_ref),
		 "kek\n\033[2Jforged");
	cmek_vol_encode(g, buf);
	tap_ok(cmek_vol_decode(buf, g, err, sizeof(err)) == -EINVAL &&
	       strstr(err, "printable"),
	       "control bytes in a key reference are refused: %s", err);

	cmek_vol_mac_key(h->uuid, buf_key, sizeof(buf_key), k1);
	buf_key[63] ^= 1;
	cmek_vol_mac_key(h->uuid, buf_key, sizeof(buf_key), k2);
	cmek_vol_kcv(h->uuid, buf_key, sizeof(buf_key), a);
	cmek_vol_kcv(h->uuid, buf_key, sizeof(buf_key), b);
	buf_key[63] ^= 1;
	cmek_vol_kcv(h->uuid, buf_key, sizeof(buf_key), c);
	tap_ok(memcmp(k1, k2, sizeof(k1)) && !memcmp(a, b, sizeof(a)) &&
	       memcmp(a, c, sizeof(a)) && !memmem(a, sizeof(a), buf_key, 8) &&
	       memcmp(k1, a, sizeof(a)),
	       "MAC key and check value follow the key, and differ");
	g->uuid[0] ^= 1;
	cmek_vol_kcv(g->uuid, buf_key, sizeof(buf_key), b);
	tap_ok(memcmp(b, c, sizeof(b)), "the check value is bound to the UUID");
	cmek_vol_dev_close(dev);
	free(buf);
	free(h);
	free(g);
}

static void test_detached(void)
{
	char hpath[] = "/tmp/cmek-test-hdr-XXXXXX";
	struct cmek_vol_hdr *h = new_hdr(1), *g = malloc(sizeof(*g));
	struct cmek_vol_dev *dev = NULL;
	int fd = mkstemp(hpath);

	close(fd);
	unlink(hpath);
	h->data_offset = 0;
	tap_ok(cmek_vol_dev_open(hpath, true, CMEK_VOL_CREATE, &dev, err,
			       sizeof(err)) == 0 &&
	       cmek_vol_dev_size(dev) == CMEK_VOL_AREA_SIZE,
	       "a detached header file is created at %d bytes", CMEK_VOL_AREA_SIZE);
	tap_ok(dev && cmek_vol_format(dev, h, mk, false, err, sizeof(err)) == 0 &&
	       cmek_vol_read(dev, g, NULL, err, sizeof(err)) == 0 &&
	       g->data_offset == 0, "detached header round trip, data offset 0");
	cmek_vol_dev_close(dev);
	unlink(hpath);
	free(h);
	free(g);
}

static bool file_is(const char *p, const char *want)
{
	char buf[64] = "";
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	return n == (ssize_t)strlen(want) && !memcmp(buf, want, n);
}

static void put_file(const char *p, const char *text)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		tap_diag("cannot write %s", p);
	if (fd >= 0)
		close(fd);
}

/*
 * Whoever can write the header file's directory plants a symbolic link or
 * a file there before the operator formats: neither is used.
 */
static void test_header_file_never_followed(void)
{
	char dir[] = "/tmp/cmek-test-hdrdir-XXXXXX";
	char hp[128], victim[128];
	struct cmek_vol_dev *dev = NULL;
	int r1, r2, r3;

	if (!mkdtemp(dir))
		tap_diag("mkdtemp: %s", strerror(errno));
	snprintf(hp, sizeof(hp), "%s/hdr.img", dir);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	put_file(victim, "precious");
	if (symlink(victim, hp))
		tap_diag("symlink: %s", strerror(errno));
	r1 = cmek_vol_dev_open(hp, true, CMEK_VOL_CREATE, &dev, err,
			       sizeof(err));
	r2 = cmek_vol_dev_open(hp, true, CMEK_VOL_CREATE | CMEK_VOL_REPLACE,
			       &dev, err, sizeof(err));
	r3 = cmek_vol_dev_open(hp, false, CMEK_VOL_HEADER_FILE, &dev, err,
			       sizeof(err));
	tap_ok(r1 == -EEXIST && r2 == -ELOOP && r3 == -ELOOP &&
	       strstr(err, "symbolic link") && file_is(victim, "precious"),
	       "a symlink at the header path is refused (create %d, with "
	       "force %d, open %d), its target untouched", r1, r2, r3);
	unlink(hp);
	put_file(hp, "left here");
	r1 = cmek_vol_dev_open(hp, true, CMEK_VOL_CREATE, &dev, err,
			       sizeof(err));
	tap_ok(r1 == -EEXIST && strstr(err, "--force") &&
	       file_is(hp, "left here"),
	       "a pre-existing header file is refused without force: %s", err);
	r2 = cmek_vol_dev_open(hp, true, CMEK_VOL_CREATE | CMEK_VOL_REPLACE,
			       &dev, err, sizeof(err));
	tap_ok(r2 == 0 && cmek_vol_dev_size(dev) == CMEK_VOL_AREA_SIZE,
	       "... and reused with force");
	cmek_vol_dev_close(dev);
	unlink(hp);
	unlink(victim);
	rmdir(dir);
}

int main(void)
{
	int fd = mkstemp(path);

	close(fd);
	tap_plan(41);
	test_round_trip();
	test_format_and_probe();
	test_corruption();
	test_crash_points();
	test_shred_and_slots();
	test_detached();
	test_mac();
	test_header_file_never_followed();
	unlink(path);
	return tap_done();
}
