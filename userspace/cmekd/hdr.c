// SPDX-License-Identifier: GPL-2.0
/*
 * cmekd's view of the volume header, on top of userspace/lib/header.h:
 * read it into a struct hdr_info (active slots only), format, replace one
 * slot, shred. Every update goes through header.h's crash-safe write.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blank.h"
#include "cmekd.h"
#include "header.h"

static struct cmek_vol_hdr *hdr_new(void)
{
	return calloc(1, sizeof(struct cmek_vol_hdr));
}

static void hdr_put(struct cmek_vol_hdr *vh)
{
	if (vh) {
		explicit_bzero(vh, sizeof(*vh));
		free(vh);
	}
}

void hdr_info_free(struct hdr_info *h)
{
	int i;

	for (i = 0; i < h->nslots && i < HDR_SLOTS_MAX; i++) {
		free(h->slots[i].wrapped);
		h->slots[i].wrapped = NULL;
	}
	hdr_put(h->raw);
	h->raw = NULL;
}

int hdr_verify(const struct hdr_info *h, const uint8_t *mac_key)
{
	return h->raw ? cmek_vol_verify(h->raw, mac_key) : -EINVAL;
}

/*
 * The header an update is about to change must be the volume the caller
 * unwrapped the key of, and carry that key's MAC: an update re-seals
 * what it read, and must not seal what someone else wrote meanwhile.
 * A version 1 header has no MAC to check; an update makes it version 2.
 */
static int check_auth(const struct cmek_vol_hdr *vh,
		      const struct hdr_auth *a, char *err, size_t errlen)
{
	char u[CMEK_UUID_STR_LEN];
	int ret;

	if (memcmp(vh->uuid, a->uuid, CMEK_UUID_LEN)) {
		cmek_uuid_unparse(vh->uuid, u);
		snprintf(err, errlen, "the header now belongs to volume %s", u);
		return -ESTALE;
	}
	ret = cmek_vol_verify(vh, a->mac_key);
	if (ret == -ENODATA)
		return 0;
	if (ret == -EBADMSG)
		snprintf(err, errlen, "the header changed on disk and its MAC "
			 "does not match the data key: not updated");
	else if (ret)
		snprintf(err, errlen, "cannot check the header MAC: %s",
			 strerror(-ret));
	return ret;
}

/* Open the header's device or file and read it: 0 with *@dev, *@vh. */
static int hdr_load(const char *device, const char *header, bool writable,
		    struct cmek_vol_dev **dev, struct cmek_vol_hdr **vh,
		    char *err, size_t errlen)
{
	int ret;

	ret = cmek_vol_dev_open(header ? header : device, writable,
				header ? CMEK_VOL_HEADER_FILE : 0, dev, err,
				errlen);
	if (ret)
		return ret < 0 ? ret : -EIO;
	*vh = hdr_new();
	if (!*vh) {
		cmek_vol_dev_close(*dev);
		return -ENOMEM;
	}
	ret = cmek_vol_read(*dev, *vh, NULL, err, errlen);
	if (ret) {
		cmek_vol_dev_close(*dev);
		hdr_put(*vh);
		return ret < 0 ? ret : -EIO;
	}
	return 0;
}

int hdr_read(const char *device, const char *header, struct hdr_info *h,
	     char *err, size_t errlen)
{
	struct cmek_vol_dev *dev;
	struct cmek_vol_hdr *vh;
	int i, ret;

	memset(h, 0, sizeof(*h));
	ret = hdr_load(device, header, false, &dev, &vh, err, errlen);
	if (ret)
		return ret;
	cmek_vol_dev_close(dev);
	/* The data would overwrite the header copies. */
	if (!header && vh->data_offset < CMEK_VOL_AREA_SIZE) {
		snprintf(err, errlen, "%s: the header's data offset (%llu "
			 "bytes) overlaps its own copies", device,
			 (unsigned long long)vh->data_offset);
		hdr_put(vh);
		return -EINVAL;
	}
	h->version = vh->version;
	h->seq = vh->seq;
	memcpy(h->uuid_bin, vh->uuid, CMEK_UUID_LEN);
	cmek_uuid_unparse(h->uuid_bin, h->uuid);
	h->sector_size = vh->sector_size;
	h->data_offset = vh->data_offset;
	h->data_size = vh->data_size;
	h->key_size = vh->key_size;
	h->iv_large_sectors = vh->flags & CMEK_VOL_F_IV_LARGE_SECTORS;
	h->iv_offset = vh->iv_offset;
	for (i = 0; i < CMEK_VOL_SLOTS && h->nslots < HDR_SLOTS_MAX; i++) {
		const struct cmek_vol_slot *s = &vh->slots[i];
		struct hdr_slot *d = &h->slots[h->nslots];

		if (s->state != CMEK_SLOT_ACTIVE || !s->wrapped_len ||
		    s->wrapped_len > CMEK_VOL_WRAPPED_MAX)
			continue;
		d->index = i;
		snprintf(d->provider, sizeof(d->provider), "%.*s",
			 (int)strnlen(s->provider, CMEK_VOL_PROVIDER_MAX),
			 s->provider);
		snprintf(d->key_ref, sizeof(d->key_ref), "%.*s",
			 (int)strnlen(s->key_ref, CMEK_VOL_KEYREF_MAX - 1),
			 s->key_ref);
		d->wrapped = malloc(s->wrapped_len);
		if (!d->wrapped) {
			hdr_info_free(h);
			hdr_put(vh);
			return -ENOMEM;
		}
		memcpy(d->wrapped, s->wrapped, s->wrapped_len);
		d->wrapped_len = s->wrapped_len;
		cmek_slot_key(d->provider, d->key_ref, d->wrapped,
			      d->wrapped_len, d->key_id, sizeof(d->key_id));
		h->nslots++;
	}
	h->raw = vh;
	return 0;
}

int hdr_format(const char *device, const char *header,
	       const struct hdr_info *h, const uint8_t *mac_key, bool force,
	       char *err, size_t errlen)
{
	struct cmek_vol_dev *dev;
	struct cmek_vol_hdr *vh;
	int i, ret;

	vh = hdr_new();
	if (!vh)
		return -ENOMEM;
	cmek_vol_hdr_init(vh);
	memcpy(vh->uuid, h->uuid_bin, CMEK_UUID_LEN);
	vh->sector_size = h->sector_size;
	vh->key_size = h->key_size;
	if (h->data_offset != (uint64_t)-1)
		vh->data_offset = h->data_offset;
	else
		vh->data_offset = header ? 0 : CMEK_VOL_DEFAULT_DATA_OFFSET;
	for (i = 0; i < h->nslots; i++) {
		ret = cmek_vol_slot_add(vh, h->slots[i].provider,
					h->slots[i].key_ref,
					h->slots[i].wrapped,
					h->slots[i].wrapped_len);
		if (ret < 0) {
			snprintf(err, errlen, "cannot add key slot: %s",
				 strerror(-ret));
			hdr_put(vh);
			return ret;
		}
	}
	ret = cmek_vol_dev_open(header ? header : device, true,
				header ? CMEK_VOL_CREATE |
				(force ? CMEK_VOL_REPLACE : 0) : 0,
				&dev, err, errlen);
	if (ret) {
		hdr_put(vh);
		return ret < 0 ? ret : -EIO;
	}
	if (!header && vh->data_offset < CMEK_VOL_AREA_SIZE) {
		snprintf(err, errlen, "a data offset of %llu bytes overlaps "
			 "the header copies (the data must start at byte %u "
			 "or later)", (unsigned long long)vh->data_offset,
			 CMEK_VOL_AREA_SIZE);
		ret = -EINVAL;
	} else if (!header && cmek_vol_dev_size(dev) <= vh->data_offset) {
		snprintf(err, errlen, "%s is too small: the data would start "
			 "at byte %llu", device,
			 (unsigned long long)vh->data_offset);
		ret = -ENOSPC;
	} else {
		ret = cmek_vol_format(dev, vh, mac_key, force, err, errlen);
	}
	cmek_vol_dev_close(dev);
	hdr_put(vh);
	return ret < 0 ? ret : ret ? -EIO : 0;
}

/*
 * Every update: re-read the header, check it is still @a's volume with
 * @a's MAC, let @change edit it (0, or -errno with @err set), and write
 * it crash-safe, sealed; a->seq gets the sequence number written.
 */
static int hdr_update(const char *device, const char *header,
		      struct hdr_auth *a,
		      int (*change)(struct cmek_vol_hdr *vh, void *arg,
				    char *err, size_t errlen),
		      void *arg, char *err, size_t errlen)
{
	struct cmek_vol_dev *dev;
	struct cmek_vol_hdr *vh;
	int ret;

	ret = hdr_load(device, header, true, &dev, &vh, err, errlen);
	if (ret)
		return ret;
	ret = check_auth(vh, a, err, errlen);
	if (!ret && change)
		ret = change(vh, arg, err, errlen);
	if (!ret)
		ret = cmek_vol_write(dev, vh, a->mac_key, err, errlen);
	if (!ret)
		a->seq = vh->seq;
	cmek_vol_dev_close(dev);
	hdr_put(vh);
	return ret < 0 ? ret : ret ? -EIO : 0;
}

struct slot_change {
	int index;			/* in: to set or remove; out: added */
	const char *provider, *key_ref;
	const uint8_t *wrapped;
	size_t wrapped_len;
};

static int set_slot(struct cmek_vol_hdr *vh, void *arg, char *err,
		    size_t errlen)
{
	struct slot_change *c = arg;
	int ret = cmek_vol_slot_set(vh, c->index, c->provider, c->key_ref,
				    c->wrapped, c->wrapped_len);

	if (ret < 0)
		snprintf(err, errlen, "cannot set key slot %d: %s", c->index,
			 strerror(-ret));
	return ret < 0 ? ret : 0;
}

static int add_slot(struct cmek_vol_hdr *vh, void *arg, char *err,
		    size_t errlen)
{
	struct slot_change *c = arg;
	int ret = cmek_vol_slot_add(vh, c->provider, c->key_ref, c->wrapped,
				    c->wrapped_len);

	if (ret == -ENOSPC)
		snprintf(err, errlen, "every one of the %d key slots is in "
			 "use: remove one first", CMEK_VOL_SLOTS);
	else if (ret < 0)
		snprintf(err, errlen, "cannot add a key slot: %s",
			 strerror(-ret));
	if (ret < 0)
		return ret;
	c->index = ret;
	return 0;
}

static int remove_slot(struct cmek_vol_hdr *vh, void *arg, char *err,
		       size_t errlen)
{
	int index = ((struct slot_change *)arg)->index;

	if (vh->slots[index].state != CMEK_SLOT_ACTIVE) {
		snprintf(err, errlen, "slot %d is %s, not an active key slot",
			 index, cmek_vol_slot_state_name(vh->slots[index].state));
		return -ENOENT;
	}
	if (cmek_vol_active_slots(vh) == 1) {
		snprintf(err, errlen, "slot %d is the last active key slot: "
			 "without it the data can never be read again (to do "
			 "that on purpose, use 'cmekctl shred')", index);
		return -EBUSY;
	}
	/*
	 * Zeroes over the wrapped key; the crash-safe write puts them in both
	 * copies (the stale copy first), so no copy of it is left once the
	 * update returns 0.
	 */
	return cmek_vol_slot_remove(vh, index);
}

int hdr_update_slot(const char *device, const char *header,
		    struct hdr_auth *a, int index, const char *provider,
		    const char *key_ref, const uint8_t *wrapped,
		    size_t wrapped_len, char *err, size_t errlen)
{
	struct slot_change c = { index, provider, key_ref, wrapped,
				 wrapped_len };

	return hdr_update(device, header, a, set_slot, &c, err, errlen);
}

int hdr_upgrade(const char *device, const char *header, struct hdr_auth *a,
		char *err, size_t errlen)
{
	return hdr_update(device, header, a, NULL, NULL, err, errlen);
}

int hdr_add_slot(const char *device, const char *header, struct hdr_auth *a,
		 const char *provider, const char *key_ref,
		 const uint8_t *wrapped, size_t wrapped_len, int *index,
		 char *err, size_t errlen)
{
	struct slot_change c = { -1, provider, key_ref, wrapped, wrapped_len };
	int ret = hdr_update(device, header, a, add_slot, &c, err, errlen);

	if (!ret)
		*index = c.index;
	return ret;
}

int hdr_remove_slot(const char *device, const char *header,
		    struct hdr_auth *a, int index, char *err, size_t errlen)
{
	struct slot_change c = { .index = index };

	if (index < 0 || index >= CMEK_VOL_SLOTS) {
		snprintf(err, errlen, "slot %d does not exist: slots are "
			 "numbered 0 to %d", index, CMEK_VOL_SLOTS - 1);
		return -EINVAL;
	}
	return hdr_update(device, header, a, remove_slot, &c, err, errlen);
}

void vol_set_slots(struct vol *v, const struct hdr_info *h)
{
	int i;

	v->nslots = 0;
	for (i = 0; i < h->nslots && i < HDR_SLOTS_MAX; i++) {
		struct vol_slot *s = &v->slots[v->nslots++];

		s->index = h->slots[i].index;
		snprintf(s->provider, sizeof(s->provider), "%s",
			 h->slots[i].provider);
		snprintf(s->key_ref, sizeof(s->key_ref), "%s",
			 h->slots[i].key_ref);
		snprintf(s->key_id, sizeof(s->key_id), "%s",
			 h->slots[i].key_id);
	}
}

int hdr_shred(const char *device, const char *header,
	      const uint8_t uuid[CMEK_UUID_LEN], char *err, size_t errlen)
{
	struct cmek_vol_dev *dev;
	int ret;

	ret = cmek_vol_dev_open(header ? header : device, true,
				header ? CMEK_VOL_HEADER_FILE : 0, &dev, err,
				errlen);
	if (ret)
		return ret < 0 ? ret : -EIO;
	ret = cmek_vol_shred(dev, uuid, err, errlen);
	cmek_vol_dev_close(dev);
	return ret < 0 ? ret : ret ? -EIO : 0;
}

int hdr_probe(const char *device, char *what, size_t len)
{
	struct cmek_vol_dev *dev;
	char err[256];
	int fd, ret;

	ret = cmek_vol_dev_open(device, false, 0, &dev, err, sizeof(err));
	if (ret)
		return ret < 0 ? ret : -EIO;
	ret = cmek_vol_probe(dev, what, len);
	cmek_vol_dev_close(dev);
	if (ret)
		return ret;
	/* Everything else libblkid knows: LVM, MD RAID, other file systems. */
	fd = open(device, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = cmek_blkid_signature(fd, what, len);
	close(fd);
	return ret;
}
