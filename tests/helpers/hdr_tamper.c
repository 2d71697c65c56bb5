// SPDX-License-Identifier: GPL-2.0
/*
 * Test helper: the attacker who can write the disk but holds no KMS key of
 * the victim. Each command rewrites both header copies of DEVICE with a
 * valid checksum, as anyone with the format documentation can:
 *
 *	hdr_tamper DEVICE provider SLOT NAME   a slot's provider renamed
 *	hdr_tamper DEVICE key_ref SLOT BYTES   a slot's key reference set to
 *	                                       any bytes (newlines, ESC...)
 *	hdr_tamper DEVICE iv_offset SECTORS    a layout field changed
 *	hdr_tamper DEVICE legacy               rewritten as version 1 (no MAC)
 *	hdr_tamper DEVICE forge UUID KEK       a new header for volume UUID
 *	                                       whose data key the attacker
 *	                                       made and wrapped under local
 *	                                       KEK (in $CMEK_KEY_DIR), sealed
 *	                                       with that key's MAC
 *
 * The first three keep the MAC the header had, which no longer matches.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "nl.h"
#include "provider.h"
#include "header.h"

static int put_copies(const char *dev, const struct cmek_vol_hdr *h)
{
	uint8_t *buf = malloc(CMEK_VOL_HDR_SIZE);
	int fd = open(dev, O_WRONLY | O_CLOEXEC), ret = 0;

	if (!buf || fd < 0)
		return -1;
	cmek_vol_encode(h, buf);
	if (pwrite(fd, buf, CMEK_VOL_HDR_SIZE, CMEK_VOL_COPY_OFFSET_0) !=
	    CMEK_VOL_HDR_SIZE ||
	    pwrite(fd, buf, CMEK_VOL_HDR_SIZE, CMEK_VOL_COPY_OFFSET_1) !=
	    CMEK_VOL_HDR_SIZE || fsync(fd) < 0)
		ret = -1;
	close(fd);
	free(buf);
	return ret;
}

/* Sealed as cmekd would seal it: the attacker made this data key. */
static int write_sealed(const char *dev, struct cmek_vol_hdr *h,
			const uint8_t *mk)
{
	struct cmek_vol_dev *d;
	char e[256];
	int ret;

	if (cmek_vol_dev_open(dev, true, false, &d, e, sizeof(e)))
		return -1;
	ret = cmek_vol_format(d, h, mk, true, e, sizeof(e));
	cmek_vol_dev_close(d);
	if (ret)
		fprintf(stderr, "hdr_tamper: %s\n", e);
	return ret;
}

static int forge(const char *dev, struct cmek_vol_hdr *h, const char *uuid,
		 const char *kek)
{
	uint8_t dek[64], mk[CMEK_VOL_MAC_KEY_LEN], *w = NULL;
	struct cmek_error err = { 0 };
	struct cmek_provider *p;
	struct cmek_binding b;
	size_t wl = 0;

	cmek_vol_hdr_init(h);
	if (cmek_uuid_parse(uuid, h->uuid))
		return -1;
	p = cmek_provider_new("local", &err);
	if (!p || RAND_bytes(dek, sizeof(dek)) != 1)
		return -1;
	snprintf(b.volume_uuid, sizeof(b.volume_uuid), "%s", uuid);
	if (p->ops->wrap(p, kek, &b, dek, sizeof(dek), &w, &wl, &err)) {
		fprintf(stderr, "hdr_tamper: wrap: %s\n", err.msg);
		return -1;
	}
	cmek_vol_slot_add(h, "local", kek, w, wl);
	free(w);
	cmek_provider_free(p);
	h->seq = 1;
	if (cmek_vol_mac_key(h->uuid, dek, sizeof(dek), mk))
		return -1;
	OPENSSL_cleanse(dek, sizeof(dek));
	return write_sealed(dev, h, mk);
}

int main(int argc, char **argv)
{
	struct cmek_vol_hdr *h = calloc(1, sizeof(*h));
	struct cmek_vol_dev *d;
	char e[512];
	int ret = -1;

	if (argc < 3 || !h) {
		fprintf(stderr, "usage: hdr_tamper DEVICE provider SLOT NAME | "
			"key_ref SLOT BYTES | iv_offset N | legacy | "
			"forge UUID KEK\n");
		return 2;
	}
	if (!strcmp(argv[2], "forge") && argc == 5)
		return forge(argv[1], h, argv[3], argv[4]) ? 1 : 0;
	if (cmek_vol_dev_open(argv[1], false, false, &d, e, sizeof(e)) ||
	    cmek_vol_read(d, h, NULL, e, sizeof(e))) {
		fprintf(stderr, "hdr_tamper: %s\n", e);
		return 1;
	}
	cmek_vol_dev_close(d);
	if (!strcmp(argv[2], "provider") && argc == 5) {
		snprintf(h->slots[atoi(argv[3])].provider,
			 sizeof(h->slots[0].provider), "%s", argv[4]);
		ret = 0;
	} else if (!strcmp(argv[2], "key_ref") && argc == 5) {
		snprintf(h->slots[atoi(argv[3])].key_ref,
			 sizeof(h->slots[0].key_ref), "%s", argv[4]);
		ret = 0;
	} else if (!strcmp(argv[2], "iv_offset") && argc == 4) {
		h->iv_offset = strtoull(argv[3], NULL, 0);
		ret = 0;
	} else if (!strcmp(argv[2], "legacy") && argc == 3) {
		h->version = CMEK_VOL_VERSION_LEGACY;
		ret = 0;
	}
	if (ret) {
		fprintf(stderr, "hdr_tamper: bad command\n");
		return 2;
	}
	return put_copies(argv[1], h) ? 1 : 0;
}
