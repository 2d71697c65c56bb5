// SPDX-License-Identifier: GPL-2.0
/*
 * Test helper: the escape hatch. Read a cmek volume header, unwrap its data
 * key with the slot's provider (for "local": the KEK in $CMEK_KEY_DIR) and
 * print what dm-crypt needs to open the volume without cmek:
 *
 *	cmek_unwrap DEVICE|HEADER-FILE
 *	-> KEY-HEX DATA-OFFSET-SECTORS SECTOR-SIZE IV-LARGE-SECTORS(0|1)
 *
 * $CMEK_UNWRAP_SET ("KEY=VALUE KEY=VALUE ...") configures the provider
 * as a section of cmekd.conf would (an endpoint and ca_file, say).
 *
 * It prints a key on purpose, so it lives with the tests and is never
 * installed: the product itself never shows a DEK.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "nl.h"
#include "provider.h"
#include "header.h"

static int configure(struct cmek_provider *p, struct cmek_error *err)
{
	const char *env = getenv("CMEK_UNWRAP_SET");
	char *set, *tok, *save = NULL, *eq;
	int ret = 0;

	if (!env)
		return 0;
	set = strdup(env);
	for (tok = set ? strtok_r(set, " ", &save) : NULL; tok && !ret;
	     tok = strtok_r(NULL, " ", &save)) {
		eq = strchr(tok, '=');
		if (!eq)
			ret = cmek_error_set(err, CMEK_ERR_INVALID,
					     "'%s' is not KEY=VALUE", tok);
		else
			*eq = '\0';
		if (!ret && p->ops->configure(p, tok, eq + 1, err))
			ret = -1;
	}
	free(set);
	return set ? ret : -1;
}

static int unwrap_slot(const struct cmek_vol_hdr *h,
		       const struct cmek_vol_slot *s, uint8_t *dek,
		       size_t *dek_len)
{
	struct cmek_binding b;
	struct cmek_error err = { 0 };
	struct cmek_provider *p;
	int ret;

	p = cmek_provider_new(s->provider, &err);
	if (!p) {
		fprintf(stderr, "cmek_unwrap: %s\n", err.msg);
		return -1;
	}
	if (configure(p, &err)) {
		fprintf(stderr, "cmek_unwrap: CMEK_UNWRAP_SET: %s\n", err.msg);
		cmek_provider_free(p);
		return -1;
	}
	cmek_uuid_unparse(h->uuid, b.volume_uuid);
	ret = p->ops->unwrap(p, s->key_ref, &b, s->wrapped, s->wrapped_len,
			     dek, dek_len, &err);
	if (ret < 0)
		fprintf(stderr, "cmek_unwrap: %s:%s: %s\n", s->provider,
			s->key_ref, err.msg);
	cmek_provider_free(p);
	return ret < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
	struct cmek_vol_hdr *h = calloc(1, sizeof(*h));
	struct cmek_vol_dev *dev = NULL;
	uint8_t dek[CMEK_DEK_MAX];
	size_t dek_len = 0;
	char err[256];
	int i, ret = 1;

	if (argc != 2 || !h) {
		fprintf(stderr, "usage: cmek_unwrap DEVICE|HEADER-FILE\n");
		return 2;
	}
	if (cmek_vol_dev_open(argv[1], false, 0, &dev, err, sizeof(err)) ||
	    cmek_vol_read(dev, h, NULL, err, sizeof(err))) {
		fprintf(stderr, "cmek_unwrap: %s\n", err);
		goto out;
	}
	for (i = 0; i < CMEK_VOL_SLOTS; i++) {
		if (h->slots[i].state != CMEK_SLOT_ACTIVE)
			continue;
		if (unwrap_slot(h, &h->slots[i], dek, &dek_len) == 0)
			break;
	}
	if (i == CMEK_VOL_SLOTS) {
		fprintf(stderr, "cmek_unwrap: no slot could be unwrapped\n");
		goto out;
	}
	for (size_t j = 0; j < dek_len; j++)
		printf("%02x", dek[j]);
	printf(" %llu %u %d\n", (unsigned long long)h->data_offset / 512,
	       h->sector_size, !!(h->flags & CMEK_VOL_F_IV_LARGE_SECTORS));
	ret = 0;
out:
	OPENSSL_cleanse(dek, sizeof(dek));
	OPENSSL_cleanse(h, sizeof(*h));
	free(h);
	cmek_vol_dev_close(dev);
	return ret;
}
