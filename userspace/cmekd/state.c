// SPDX-License-Identifier: GPL-2.0
/*
 * Known volumes, persisted in <state_dir>/volumes (JSON, 0600, replaced
 * atomically) so that a restarted cmekd knows the volumes it opened. The
 * file holds no secrets: names, uuids, devices, provider and key reference.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmekd.h"
#include "ipc.h"
#include "log.h"

struct vol *state_find_name(struct daemon *d, const char *name)
{
	size_t i;

	for (i = 0; name && i < d->nvols; i++)
		if (!strcmp(d->vols[i]->name, name))
			return d->vols[i];
	return NULL;
}

struct vol *state_find_device(struct daemon *d, const char *dev)
{
	size_t i;

	for (i = 0; i < d->nvols; i++)
		if (!strcmp(d->vols[i]->device, dev))
			return d->vols[i];
	return NULL;
}

struct vol *state_find_uuid(struct daemon *d, const uint8_t uuid[16],
			    struct vol *after)
{
	size_t i = 0;

	if (after) {
		while (i < d->nvols && d->vols[i] != after)
			i++;
		i++;
	}
	for (; i < d->nvols; i++)
		if (!memcmp(d->vols[i]->uuid_bin, uuid, 16))
			return d->vols[i];
	return NULL;
}

/*
 * Each volume has an allocation of its own, so that a job that let go of
 * the daemon lock for a KMS call finds it where it left it.
 */
struct vol *state_add(struct daemon *d, const struct vol *v)
{
	struct vol **n, *nv = malloc(sizeof(*nv));

	if (!nv)
		return NULL;
	n = realloc(d->vols, (d->nvols + 1) * sizeof(*n));
	if (!n) {
		free(nv);
		return NULL;
	}
	d->vols = n;
	*nv = *v;
	nv->gone = false;
	nv->pushing = false;
	nv->next_gone = NULL;
	n[d->nvols++] = nv;
	return nv;
}

/*
 * Forget @v. It is freed by state_reap() once no job runs: one may hold it
 * across a KMS call, and finds it gone (and its epoch moved) afterwards.
 */
void state_del(struct daemon *d, struct vol *v)
{
	size_t i = 0;

	while (i < d->nvols && d->vols[i] != v)
		i++;
	if (i >= d->nvols)
		return;
	memmove(&d->vols[i], &d->vols[i + 1],
		(d->nvols - i - 1) * sizeof(*d->vols));
	d->nvols--;
	v->gone = true;
	v->gone_seq = jobs_next_seq();
	v->epoch++;
	v->next_gone = d->gone;
	d->gone = v;
}

/* A job that started after @v was forgotten never saw it. */
void state_reap(struct daemon *d)
{
	uint64_t oldest = jobs_oldest_seq();
	struct vol **pv = &d->gone, *v;

	while ((v = *pv)) {
		if (v->gone_seq <= oldest) {
			*pv = v->next_gone;
			free(v);
		} else {
			pv = &v->next_gone;
		}
	}
}

struct vol **state_snapshot(struct daemon *d, size_t *n)
{
	struct vol **s = NULL;

	*n = 0;
	if (d->nvols)
		s = malloc(d->nvols * sizeof(*s));
	if (!s)
		return NULL;
	memcpy(s, d->vols, d->nvols * sizeof(*s));
	*n = d->nvols;
	return s;
}

void state_free(struct daemon *d)
{
	size_t i;

	for (i = 0; i < d->nvols; i++)
		free(d->vols[i]);
	free(d->vols);
	d->vols = NULL;
	d->nvols = 0;
	state_reap(d);
}

static void copy_str(char *dst, size_t len, struct json_object *o,
		     const char *k)
{
	const char *s = cmek_json_str(o, k);

	snprintf(dst, len, "%s", s ? s : "");
}

static struct json_object *slots_to_json(const struct vol *v)
{
	struct json_object *a = json_object_new_array(), *o;
	int i;

	for (i = 0; i < v->nslots; i++) {
		o = json_object_new_object();
		json_object_object_add(o, "slot",
				       json_object_new_int(v->slots[i].index));
		json_object_object_add(o, "provider",
			json_object_new_string(v->slots[i].provider));
		json_object_object_add(o, "key",
			json_object_new_string(v->slots[i].key_ref));
		if (v->slots[i].key_id[0])
			json_object_object_add(o, "key_id",
				json_object_new_string(v->slots[i].key_id));
		json_object_array_add(a, o);
	}
	return a;
}

/* A state file without "slots" (older cmekd) leaves nslots 0. */
static void slots_from_json(struct json_object *o, struct vol *v)
{
	struct json_object *a;
	size_t i, n;

	if (!json_object_object_get_ex(o, "slots", &a) ||
	    !json_object_is_type(a, json_type_array))
		return;
	n = json_object_array_length(a);
	for (i = 0; i < n && v->nslots < HDR_SLOTS_MAX; i++) {
		struct json_object *e = json_object_array_get_idx(a, i);
		struct vol_slot *s = &v->slots[v->nslots];
		long long idx = -1;

		if (cmek_json_int64(e, "slot", &idx) || idx < 0 ||
		    idx >= HDR_SLOTS_MAX || !cmek_json_str(e, "provider") ||
		    !cmek_json_str(e, "key"))
			continue;
		s->index = (int)idx;
		copy_str(s->provider, sizeof(s->provider), e, "provider");
		copy_str(s->key_ref, sizeof(s->key_ref), e, "key");
		/* Absent in a state file from before slots kept it. */
		s->key_id[0] = '\0';
		if (cmek_json_str(e, "key_id"))
			copy_str(s->key_id, sizeof(s->key_id), e, "key_id");
		v->nslots++;
	}
}

struct json_object *vol_to_json(const struct vol *v)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(v->name));
	json_object_object_add(o, "uuid", json_object_new_string(v->uuid));
	json_object_object_add(o, "device", json_object_new_string(v->device));
	if (v->header[0])
		json_object_object_add(o, "header",
				       json_object_new_string(v->header));
	json_object_object_add(o, "provider",
			       json_object_new_string(v->provider));
	json_object_object_add(o, "key", json_object_new_string(v->key_ref));
	json_object_object_add(o, "slot", json_object_new_int(v->slot));
	if (v->keys[0])
		json_object_object_add(o, "keys",
				       json_object_new_string(v->keys));
	json_object_object_add(o, "dm_name", json_object_new_string(v->name));
	json_object_object_add(o, "revoked", json_object_new_boolean(v->revoked));
	json_object_object_add(o, "shredded",
			       json_object_new_boolean(v->shredded));
	json_object_object_add(o, "locked", json_object_new_boolean(v->locked));
	if (v->tampered)
		json_object_object_add(o, "tampered",
				       json_object_new_boolean(true));
	if (v->locked)
		json_object_object_add(o, "lock_reason",
				       json_object_new_string(v->lock_reason));
	if (v->next_rewrap)
		json_object_object_add(o, "next_rewrap",
				       json_object_new_int64(v->next_rewrap));
	json_object_object_add(o, "slots", slots_to_json(v));
	return o;
}

static int vol_from_json(struct json_object *o, struct vol *v)
{
	long long slot = 0, next_rewrap = 0;

	memset(v, 0, sizeof(*v));
	copy_str(v->name, sizeof(v->name), o, "name");
	copy_str(v->uuid, sizeof(v->uuid), o, "uuid");
	copy_str(v->device, sizeof(v->device), o, "device");
	copy_str(v->header, sizeof(v->header), o, "header");
	copy_str(v->provider, sizeof(v->provider), o, "provider");
	copy_str(v->key_ref, sizeof(v->key_ref), o, "key");
	copy_str(v->keys, sizeof(v->keys), o, "keys");
	copy_str(v->lock_reason, sizeof(v->lock_reason), o, "lock_reason");
	cmek_json_int64(o, "slot", &slot);
	v->slot = (int)slot;
	cmek_json_int64(o, "next_rewrap", &next_rewrap);
	v->next_rewrap = next_rewrap > 0 ? (time_t)next_rewrap : 0;
	v->revoked = cmek_json_bool(o, "revoked", 0);
	v->shredded = cmek_json_bool(o, "shredded", 0);
	v->locked = cmek_json_bool(o, "locked", 0);
	v->tampered = cmek_json_bool(o, "tampered", 0);
	slots_from_json(o, v);
	v->kms_state = -1;
	if (!v->name[0] || !v->device[0] ||
	    cmek_uuid_parse(v->uuid, v->uuid_bin))
		return -EINVAL;
	return 0;
}

int state_save(struct daemon *d)
{
	struct json_object *arr = json_object_new_array(), *root;
	char tmp[PATH_MAX + 8];
	const char *s;
	size_t i, len;
	int fd, ret = 0;

	for (i = 0; i < d->nvols; i++)
		json_object_array_add(arr, vol_to_json(d->vols[i]));
	root = json_object_new_object();
	json_object_object_add(root, "version", json_object_new_int(1));
	json_object_object_add(root, "volumes", arr);
	s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY);
	len = strlen(s);
	snprintf(tmp, sizeof(tmp), "%s.tmp", d->state_path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	if (write(fd, s, len) != (ssize_t)len || write(fd, "\n", 1) != 1 ||
	    fsync(fd) < 0) {
		ret = errno ? -errno : -EIO;
		close(fd);
		unlink(tmp);
		goto out;
	}
	close(fd);
	if (rename(tmp, d->state_path) < 0) {
		ret = -errno;
		unlink(tmp);
	}
out:
	if (ret)
		log_err("cannot save state to %s: %s", d->state_path,
			strerror(-ret));
	json_object_put(root);
	return ret;
}

int state_load(struct daemon *d)
{
	struct json_object *root, *arr;
	size_t i;

	if (access(d->state_path, F_OK) < 0)
		return 0;
	root = json_object_from_file(d->state_path);
	if (!root || !json_object_object_get_ex(root, "volumes", &arr) ||
	    !json_object_is_type(arr, json_type_array)) {
		log_err("state file %s is unreadable or corrupt; starting with "
			"no known volumes (open mappings keep working; reopen "
			"them or wait for key-needed events)", d->state_path);
		json_object_put(root);
		return -EINVAL;
	}
	for (i = 0; i < json_object_array_length(arr); i++) {
		struct vol v;

		if (vol_from_json(json_object_array_get_idx(arr, i), &v)) {
			log_warn("state file %s: entry %zu is invalid, skipped",
				 d->state_path, i);
			continue;
		}
		if (state_find_name(d, v.name))
			continue;
		state_add(d, &v);
	}
	json_object_put(root);
	return 0;
}
