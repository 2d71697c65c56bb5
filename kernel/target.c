// SPDX-License-Identifier: GPL-2.0
/*
 * Copyright (C) 2026 The cmek developers.
 *
 * The "cmek" device-mapper target: table parsing, status, messages and the
 * life cycle of a mapping. The table carries no key, only the volume UUID
 * under which the key is looked up in the key table (keys.c).
 *
 *   <start> <len> cmek <volume-uuid> <device> <offset> [<#opts> <opt>...]
 */

#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uuid.h>
#include "cmek.h"
#include "crypt.h"
#include "debugfs.h"
#include "keys.h"
#include "netlink.h"
#include "target.h"

#define DM_MSG_PREFIX "cmek"

#define CMEK_MAX_OPTS 5
#define CMEK_OPTS_LEN 128
#define CMEK_MIN_IOS 64	/* clone bios kept in reserve, per mapping */

struct cmek_args {
	char uuid_str[UUID_STRING_LEN + 1];
	u8 uuid[CMEK_UUID_LEN];
	char opts[CMEK_OPTS_LEN];	/* as given, for the table line */
	unsigned int nr_opts;
};

static const char *const cmek_state_names[] = {
	[CMEK_KEY_MISSING] = "missing",
	[CMEK_KEY_PRESENT] = "present",
	[CMEK_KEY_REVOKED] = "revoked",
};

/* Is @opt @name, CMEK_OPT_SEP and a value? Then *@ret_value is the value. */
static bool cmek_opt_valued(const char *opt, const char *name,
			    const char **ret_value)
{
	size_t len = strlen(name);

	if (strncmp(opt, name, len) || opt[len] != CMEK_OPT_SEP)
		return false;
	*ret_value = opt + len + 1;
	return true;
}

static int cmek_parse_opt(struct cmek_target *ct, const char *opt,
			  unsigned long *seen, char **error)
{
	unsigned long long ull;
	unsigned int val, bit;
	const char *v;

	if (!strcmp(opt, CMEK_OPT_IV_LARGE_SECTORS)) {
		bit = 0;
		ct->iv_large_sectors = true;
	} else if (!strcmp(opt, CMEK_OPT_ALLOW_DISCARDS)) {
		bit = 1;
		ct->allow_discards = true;
	} else if (cmek_opt_valued(opt, CMEK_OPT_SECTOR_SIZE, &v)) {
		bit = 2;
		if (kstrtouint(v, 10, &val) ||
		    val < SECTOR_SIZE || val > 4096 || !is_power_of_2(val)) {
			*error = "Invalid sector_size (512, 1024, 2048 or 4096)";
			return -EINVAL;
		}
		ct->sector_size = val;
		ct->sector_shift = __ffs(val) - SECTOR_SHIFT;
	} else if (cmek_opt_valued(opt, CMEK_OPT_IV_OFFSET, &v)) {
		bit = 3;
		if (kstrtoull(v, 10, &ull)) {
			*error = "Invalid iv_offset";
			return -EINVAL;
		}
		ct->iv_offset = ull;
	} else if (cmek_opt_valued(opt, CMEK_OPT_KEY_WAIT_MS, &v)) {
		bit = 4;
		if (kstrtouint(v, 10, &val) ||
		    val > CMEK_MAX_KEY_WAIT_MS) {
			*error = "Invalid key_wait_ms (0 to 600000)";
			return -EINVAL;
		}
		ct->key_wait_ms = val;
	} else {
		*error = "Unknown option";
		return -EINVAL;
	}
	if (__test_and_set_bit(bit, seen)) {
		*error = "Duplicate option";
		return -EINVAL;
	}
	return 0;
}

static int cmek_parse_opts(struct dm_target *ti, struct cmek_target *ct,
			   struct dm_arg_set *as, struct cmek_args *args)
{
	static const struct dm_arg _args[] = {
		{0, CMEK_MAX_OPTS, "Invalid number of options"},
	};
	unsigned long seen = 0;
	size_t used = 0;
	int err;

	if (!as->argc)
		return 0;
	err = dm_read_arg_group(_args, as, &args->nr_opts, &ti->error);
	if (err)
		return err;
	for (unsigned int i = 0; i < args->nr_opts; i++) {
		const char *opt = dm_shift_arg(as);
		int n;

		err = cmek_parse_opt(ct, opt, &seen, &ti->error);
		if (err)
			return err;
		n = snprintf(args->opts + used, sizeof(args->opts) - used,
			     "%s%s", i ? " " : "", opt);
		if (n >= sizeof(args->opts) - used) {
			ti->error = "Options too long";
			return -EINVAL;
		}
		used += n;
	}
	if (as->argc) {
		ti->error = "Too many arguments";
		return -EINVAL;
	}
	return 0;
}

/* dm-crypt's constraints, so that a table valid here is valid there. */
static int cmek_check_geometry(struct dm_target *ti, struct cmek_target *ct)
{
	sector_t mask = (ct->sector_size >> SECTOR_SHIFT) - 1;

	if (ti->len & mask) {
		ti->error = "Device size is not a multiple of sector_size";
		return -EINVAL;
	}
	if (ct->iv_offset & mask) {
		ti->error = "iv_offset is not a multiple of sector_size";
		return -EINVAL;
	}
	return 0;
}

/*
 * The request size of the xts(aes) that keys set from now on will get; the
 * key present when the mapping attaches may need more (keys.c).
 */
static int cmek_probe_cipher(struct dm_target *ti, struct cmek_target *ct)
{
	struct crypto_skcipher *tfm = cmek_alloc_xts();

	if (IS_ERR(tfm)) {
		ti->error = "Cannot allocate xts(aes) cipher";
		return PTR_ERR(tfm);
	}
	ct->map.reqsize = crypto_skcipher_reqsize(tfm);
	crypto_free_skcipher(tfm);
	return 0;
}

static void cmek_event_work(struct work_struct *work)
{
	struct cmek_target *ct = container_of(work, struct cmek_target,
					      event_work);

	cmek_notify_key_needed(ct->ti, ct->entry->uuid,
			       READ_ONCE(ct->entry->state));
}

static int cmek_parse_args(struct dm_target *ti, struct cmek_target *ct,
			   unsigned int argc, char **argv,
			   struct cmek_args *args)
{
	struct dm_arg_set as = { .argc = argc - 3, .argv = argv + 3 };
	unsigned long long ull;
	uuid_t uuid;

	if (strlen(argv[0]) != UUID_STRING_LEN || uuid_parse(argv[0], &uuid)) {
		ti->error = "Invalid volume UUID";
		return -EINVAL;
	}
	strscpy(args->uuid_str, argv[0], sizeof(args->uuid_str));
	export_uuid(args->uuid, &uuid);

	if (kstrtoull(argv[2], 10, &ull) || ull != (sector_t)ull) {
		ti->error = "Invalid device offset";
		return -EINVAL;
	}
	ct->start = ull;
	return cmek_parse_opts(ti, ct, &as, args);
}

static void cmek_free(struct cmek_target *ct)
{
	if (ct->wq)
		destroy_workqueue(ct->wq);
	if (ct->submit_wq)
		destroy_workqueue(ct->submit_wq);
	cmek_bounce_exit(&ct->bounce);
	mempool_exit(&ct->req_pool);
	free_percpu(ct->map.stats);
	bioset_exit(&ct->bs);
	if (ct->dev)
		dm_put_device(ct->ti, ct->dev);
	kfree(ct);
}

static int cmek_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct cmek_target *ct;
	struct cmek_args *args;
	int err;

	if (argc < 3) {
		ti->error = "Not enough arguments: <uuid> <device> <offset> [<#opts> <opt>...]";
		return -EINVAL;
	}
	ct = kzalloc(sizeof(*ct), GFP_KERNEL);
	args = kzalloc(sizeof(*args), GFP_KERNEL);
	if (!ct || !args) {
		ti->error = "Cannot allocate target";
		err = -ENOMEM;
		goto err;
	}
	ct->ti = ti;
	ct->map.ti = ti;
	ct->map.stats = alloc_percpu(struct cmek_stats);
	if (!ct->map.stats) {
		ti->error = "Cannot allocate target";
		err = -ENOMEM;
		goto err;
	}
	ct->sector_size = SECTOR_SIZE;
	INIT_WORK(&ct->event_work, cmek_event_work);
	cmek_crypt_init(ct);

	err = cmek_parse_args(ti, ct, argc, argv, args);
	if (!err)
		err = cmek_check_geometry(ti, ct);
	if (!err)
		err = cmek_probe_cipher(ti, ct);
	if (err)
		goto err;

	err = dm_get_device(ti, argv[1], dm_table_get_mode(ti->table),
			    &ct->dev);
	if (err) {
		ti->error = "Device lookup failed";
		goto err;
	}
	/* dm-crypt's reserve: writeback and swap progress on it alone. */
	err = bioset_init(&ct->bs, CMEK_MIN_IOS, 0, BIOSET_NEED_BVECS);
	if (!err)
		err = cmek_bounce_init(&ct->bounce);
	if (err) {
		ti->error = "Cannot allocate mempools";
		goto err;
	}
	ct->wq = alloc_workqueue("kcmekd/%s", WQ_MEM_RECLAIM | WQ_CPU_INTENSIVE |
				 WQ_UNBOUND, num_online_cpus(),
				 dm_table_device_name(ti->table));
	ct->submit_wq = alloc_workqueue("kcmekd_io/%s", WQ_MEM_RECLAIM |
					WQ_UNBOUND, 0,
					dm_table_device_name(ti->table));
	if (!ct->wq || !ct->submit_wq) {
		ti->error = "Cannot allocate workqueue";
		err = -ENOMEM;
		goto err;
	}
	ct->entry = cmek_entry_attach(args->uuid, &ct->map);
	if (!ct->entry) {
		ti->error = "Cannot allocate key table entry";
		err = -ENOMEM;
		goto err;
	}
	/* Sized now: attaching may have raised the reqsize for the key. */
	err = cmek_crypt_alloc(ct);
	if (err) {
		cmek_entry_detach(ct->entry, &ct->map);
		ti->error = "Cannot allocate mempools";
		goto err;
	}
	/* The table line is kept as given, so "dmsetup table" round-trips. */
	ti->private = ct;
	ct->args = args;
	ti->num_flush_bios = 1;
	ti->num_discard_bios = ct->allow_discards ? 1 : 0;
	/* Zeroes must be encrypted like any data: no write-zeroes offload. */
	ti->num_write_zeroes_bios = 0;
	ti->accounts_remapped_io = true;
	/*
	 * Swap to the volume: every swap-out bio needs bounce pages, so dm
	 * bounds how many are in flight (dm-crypt's "fix deadlock when
	 * swapping to encrypted device").
	 */
	ti->limit_swap_bios = true;
	atomic_inc(&cmek_nr_targets);
	return 0;

err:
	kfree(args);
	if (ct)
		cmek_free(ct);
	return err;
}

static void cmek_dtr(struct dm_target *ti)
{
	struct cmek_target *ct = ti->private;

	cmek_hold_exit(ct);
	cancel_work_sync(&ct->event_work);
	cmek_entry_detach(ct->entry, &ct->map);
	kfree(ct->args);
	cmek_free(ct);
	atomic_dec(&cmek_nr_targets);
}

static int cmek_map(struct dm_target *ti, struct bio *bio)
{
	struct cmek_target *ct = ti->private;

	/*
	 * A locked volume takes no discard: without the key no one may
	 * destroy its data.
	 */
	if (unlikely(bio_op(bio) == REQ_OP_DISCARD &&
		     !rcu_access_pointer(ct->entry->key))) {
		this_cpu_inc(ct->map.stats->errors);
		return DM_MAPIO_KILL;
	}
	/* Empty flushes and discards carry no data to encrypt. */
	if (unlikely(bio->bi_opf & REQ_PREFLUSH ||
		     bio_op(bio) == REQ_OP_DISCARD)) {
		bio_set_dev(bio, ct->dev->bdev);
		if (bio_sectors(bio))
			bio->bi_iter.bi_sector = ct->start +
				dm_target_offset(ti, bio->bi_iter.bi_sector);
		return DM_MAPIO_REMAPPED;
	}
	if (unlikely(bio_op(bio) != REQ_OP_READ &&
		     bio_op(bio) != REQ_OP_WRITE))
		return DM_MAPIO_KILL;
	return cmek_map_rw(ct, bio);
}

static void cmek_status(struct dm_target *ti, status_type_t type,
			unsigned int status_flags, char *result,
			unsigned int maxlen)
{
	struct cmek_target *ct = ti->private;
	struct cmek_entry *e = ct->entry;
	struct cmek_stats sum;
	unsigned int sz = 0;

	switch (type) {
	case STATUSTYPE_INFO:
		cmek_mapping_stats(&ct->map, &sum);
		DMEMIT("%s %llu %llu %llu %llu",
		       cmek_state_names[READ_ONCE(e->state)],
		       READ_ONCE(e->generation), sum.reads, sum.writes,
		       sum.errors);
		break;
	case STATUSTYPE_TABLE:
		DMEMIT("%s %s %llu", ct->args->uuid_str, ct->dev->name,
		       (unsigned long long)ct->start);
		if (ct->args->nr_opts)
			DMEMIT(" %u %s", ct->args->nr_opts, ct->args->opts);
		break;
	case STATUSTYPE_IMA:
		DMEMIT_TARGET_NAME_VERSION(ti->type);
		DMEMIT(",volume_uuid=%s," CMEK_OPT_SECTOR_SIZE "=%u,"
		       CMEK_OPT_IV_LARGE_SECTORS "=%c;",
		       ct->args->uuid_str, ct->sector_size,
		       ct->iv_large_sectors ? 'y' : 'n');
		break;
	}
}

static int cmek_message(struct dm_target *ti, unsigned int argc, char **argv,
			char *result, unsigned int maxlen)
{
	struct cmek_target *ct = ti->private;

	if (argc == 1 && !strcasecmp(argv[0], "key_needed")) {
		if (rcu_access_pointer(ct->entry->key))
			return 0;
		atomic_set(&ct->key_needed_sent, 1);
		schedule_work(&ct->event_work);
		return 0;
	}
	DMWARN("unrecognised message received");
	return -EINVAL;
}

static int cmek_iterate_devices(struct dm_target *ti,
				iterate_devices_callout_fn fn, void *data)
{
	struct cmek_target *ct = ti->private;

	return fn(ti, ct->dev, ct->start, ti->len, data);
}

static void cmek_io_hints(struct dm_target *ti, struct queue_limits *limits)
{
	struct cmek_target *ct = ti->private;
	unsigned int ss = ct->sector_size;

	/*
	 * max_segment_size stays the device's: a write's clone, a bounce page
	 * per page, may have more segments than the bio, but the block layer
	 * splits it to the device's limits (dm-crypt dropped its PAGE_SIZE
	 * limit in 6.10 for that reason).
	 */
	limits->logical_block_size = max_t(unsigned int,
					   limits->logical_block_size, ss);
	limits->physical_block_size = max_t(unsigned int,
					    limits->physical_block_size, ss);
	limits->io_min = max_t(unsigned int, limits->io_min, ss);
	limits->dma_alignment = limits->logical_block_size - 1;
}

static void cmek_presuspend(struct dm_target *ti)
{
	cmek_hold_suspend(ti->private);
}

static void cmek_presuspend_undo(struct dm_target *ti)
{
	cmek_hold_resume(ti->private);
}

static void cmek_resume(struct dm_target *ti)
{
	struct cmek_target *ct = ti->private;

	cmek_hold_resume(ct);
	if (!rcu_access_pointer(ct->entry->key) &&
	    !atomic_xchg(&ct->key_needed_sent, 1))
		schedule_work(&ct->event_work);
}

static struct target_type cmek_target = {
	.name = "cmek",
	.version = {1, 0, 0},
	.module = THIS_MODULE,
	.ctr = cmek_ctr,
	.dtr = cmek_dtr,
	.map = cmek_map,
	.status = cmek_status,
	.message = cmek_message,
	.iterate_devices = cmek_iterate_devices,
	.io_hints = cmek_io_hints,
	.presuspend = cmek_presuspend,
	.presuspend_undo = cmek_presuspend_undo,
	.resume = cmek_resume,
};

int __init cmek_target_register(void)
{
	return dm_register_target(&cmek_target);
}

void cmek_target_unregister(void)
{
	dm_unregister_target(&cmek_target);
}
