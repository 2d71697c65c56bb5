// SPDX-License-Identifier: GPL-2.0
/*
 * Copyright (C) 2026 The cmek developers.
 *
 * The "cmek" generic netlink family; the protocol is documented in
 * include/uapi/linux/dm-cmek.h.
 */

#include <linux/capability.h>
#include <linux/device-mapper.h>
#include <linux/kdev_t.h>
#include <net/genetlink.h>
#include "compat.h"
#include "keys.h"
#include "netlink.h"

static struct genl_family cmek_family;

/*
 * The family's policy, which the genetlink core applies (strictly) before
 * any code of ours runs: a request it refuses never reaches the family, so
 * it is freed unwiped and, unless the sender set NETLINK_CAP_ACK, echoed
 * back whole in the error reply (see the uapi header). CMEK_A_KEY is
 * therefore any binary here, so that the core never refuses a request for
 * its key: the key's size is checked in cmek_set_key(), after which
 * post_doit wipes it.
 */
static const struct nla_policy cmek_policy[CMEK_A_MAX + 1] = {
	[CMEK_A_UUID]		= NLA_POLICY_EXACT_LEN(CMEK_UUID_LEN),
	[CMEK_A_KEY]		= { .type = NLA_BINARY },
	[CMEK_A_GENERATION]	= { .type = NLA_U64 },
	[CMEK_A_FLAGS]		= NLA_POLICY_MASK(NLA_U32, __CMEK_SET_F_ALL |
						  __CMEK_REVOKE_F_ALL),
};

static bool cmek_key_size_ok(unsigned int len)
{
	return len == CMEK_KEY_SIZE_128 || len == CMEK_KEY_SIZE_256;
}

/*
 * The request skb is ours; leave no copy of a key in it. Nothing after a
 * malformed attribute can be parsed, and a key may hide there: it goes
 * too.
 */
static void cmek_wipe_msg(const struct nlmsghdr *nlh)
{
	struct nlattr *attr;
	int rem;

	nlmsg_for_each_attr(attr, nlh, GENL_HDRLEN, rem)
		if (nla_type(attr) == CMEK_A_KEY)
			memzero_explicit(nla_data(attr), nla_len(attr));
	if (rem > 0)
		memzero_explicit(attr, rem);
}

static void cmek_wipe_keys(struct genl_info *info)
{
	cmek_wipe_msg(info->nlhdr);
}

/*
 * GENL_ADMIN_PERM would ask for CAP_NET_ADMIN; key management is a storage
 * administration task, so every command asks for CAP_SYS_ADMIN instead.
 */
static int cmek_pre_doit(CMEK_GENL_OPS *ops, struct sk_buff *skb,
			 struct genl_info *info)
{
	if (!netlink_capable(skb, CAP_SYS_ADMIN)) {
		cmek_wipe_keys(info);	/* post_doit is not called */
		return -EPERM;
	}
	return 0;
}

/* Whatever the command and its outcome. */
static void cmek_post_doit(CMEK_GENL_OPS *ops, struct sk_buff *skb,
			   struct genl_info *info)
{
	cmek_wipe_keys(info);
}

static int cmek_set_key(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr **tb = info->attrs;
	u32 flags = 0;
	u64 gen = 0;

	if (!tb[CMEK_A_KEY]) {
		GENL_SET_ERR_MSG(info, "the key (CMEK_A_KEY) is required");
		return -EINVAL;
	}
	if (!cmek_key_size_ok(nla_len(tb[CMEK_A_KEY]))) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[CMEK_A_KEY],
				    "key must be 32 or 64 bytes");
		return -EINVAL;
	}
	if (!tb[CMEK_A_UUID]) {
		GENL_SET_ERR_MSG(info, "the volume UUID (CMEK_A_UUID) is required");
		return -EINVAL;
	}
	if (tb[CMEK_A_FLAGS])
		flags = nla_get_u32(tb[CMEK_A_FLAGS]);
	if (flags & ~__CMEK_SET_F_ALL) {
		GENL_SET_ERR_MSG(info, "unknown set-key flags");
		return -EINVAL;
	}
	if (tb[CMEK_A_GENERATION])
		gen = nla_get_u64(tb[CMEK_A_GENERATION]);

	return cmek_key_set(nla_data(tb[CMEK_A_UUID]), nla_data(tb[CMEK_A_KEY]),
			    nla_len(tb[CMEK_A_KEY]), gen,
			    !!tb[CMEK_A_GENERATION],
			    flags & CMEK_SET_F_REPLACE, info->extack);
}

static int cmek_revoke_key(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr **tb = info->attrs;
	u32 flags = 0;

	if (tb[CMEK_A_FLAGS])
		flags = nla_get_u32(tb[CMEK_A_FLAGS]);
	if (flags & ~__CMEK_REVOKE_F_ALL) {
		GENL_SET_ERR_MSG(info, "unknown revoke flags");
		return -EINVAL;
	}
	if (flags & CMEK_REVOKE_F_ALL) {
		if (tb[CMEK_A_UUID]) {
			GENL_SET_ERR_MSG(info, "REVOKE_F_ALL takes no UUID");
			return -EINVAL;
		}
		return cmek_key_revoke_all();
	}
	if (!tb[CMEK_A_UUID]) {
		GENL_SET_ERR_MSG(info, "the volume UUID (CMEK_A_UUID) is required");
		return -EINVAL;
	}
	return cmek_key_revoke(nla_data(tb[CMEK_A_UUID]), info->extack);
}

/*
 * @cb for a dump: its messages carry NLM_F_DUMP_INTR if the table changed
 * between two of its parts.
 */
static int cmek_fill_entry(struct sk_buff *skb,
			   const struct cmek_entry_info *info, u8 cmd,
			   u32 portid, u32 seq, int flags,
			   struct netlink_callback *cb)
{
	void *hdr;

	hdr = genlmsg_put(skb, portid, seq, &cmek_family, flags, cmd);
	if (!hdr)
		return -EMSGSIZE;
	if (cb)
		genl_dump_check_consistent(cb, hdr);
	if (nla_put(skb, CMEK_A_UUID, CMEK_UUID_LEN, info->uuid) ||
	    nla_put_u32(skb, CMEK_A_STATE, info->state) ||
	    nla_put_u64_64bit(skb, CMEK_A_GENERATION, info->generation,
			      CMEK_A_PAD) ||
	    nla_put_u32(skb, CMEK_A_KEY_SIZE, info->key_size) ||
	    nla_put_u32(skb, CMEK_A_USERS, info->users) ||
	    nla_put_u64_64bit(skb, CMEK_A_READS, info->reads, CMEK_A_PAD) ||
	    nla_put_u64_64bit(skb, CMEK_A_WRITES, info->writes, CMEK_A_PAD) ||
	    nla_put_u64_64bit(skb, CMEK_A_ERRORS, info->errors, CMEK_A_PAD)) {
		genlmsg_cancel(skb, hdr);
		return -EMSGSIZE;
	}
	genlmsg_end(skb, hdr);
	return 0;
}

static int cmek_get_key(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr **tb = info->attrs;
	struct cmek_entry_info entry;
	struct sk_buff *msg;
	int err;

	if (!tb[CMEK_A_UUID]) {
		GENL_SET_ERR_MSG(info, "the volume UUID (CMEK_A_UUID) is required");
		return -EINVAL;
	}
	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;

	err = cmek_entry_get_info(nla_data(tb[CMEK_A_UUID]), &entry);
	if (err)
		GENL_SET_ERR_MSG(info, "no key table entry for this volume");
	else
		err = cmek_fill_entry(msg, &entry, CMEK_CMD_GET_KEY,
				      info->snd_portid, info->snd_seq, 0, NULL);
	if (err) {
		nlmsg_free(msg);
		return err;
	}
	return genlmsg_reply(msg, info);
}

/* A dump request has no key, but may carry one: it is kept until the end. */
static int cmek_dump_start(struct netlink_callback *cb)
{
	cmek_wipe_msg(cb->nlh);
	if (!netlink_capable(cb->skb, CAP_SYS_ADMIN))
		return -EPERM;
	return 0;
}

/* The dump's place in the key table, zeroed by netlink for a new dump. */
static struct cmek_keys_cursor *cmek_dump_cursor(struct netlink_callback *cb)
{
	BUILD_BUG_ON(sizeof(struct cmek_keys_cursor) > sizeof(cb->ctx));
	return (struct cmek_keys_cursor *)cb->ctx;
}

struct cmek_dump {
	struct sk_buff *skb;
	struct netlink_callback *cb;
};

/* Called by cmek_keys_dump(), with the key table's lock held. */
static int cmek_dump_one(const struct cmek_entry_info *info, void *arg)
{
	struct cmek_dump *d = arg;
	struct netlink_callback *cb = d->cb;

	cb->seq = cmek_dump_cursor(cb)->gen;
	return cmek_fill_entry(d->skb, info, CMEK_CMD_GET_KEY,
			       NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
			       NLM_F_MULTI, cb);
}

static int cmek_dump_keys(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct cmek_keys_cursor *c = cmek_dump_cursor(cb);
	struct cmek_dump d = { .skb = skb, .cb = cb };
	int err;

	err = cmek_keys_dump(c, cmek_dump_one, &d);
	cb->seq = c->gen;
	/* A full skb is not an error: netlink calls us again for the rest. */
	if (err == -EMSGSIZE && skb->len)
		return skb->len;
	return err ?: skb->len;
}

static const struct genl_ops cmek_ops[] = {
	{
		.cmd = CMEK_CMD_SET_KEY,
		.doit = cmek_set_key,
	},
	{
		.cmd = CMEK_CMD_REVOKE_KEY,
		.doit = cmek_revoke_key,
	},
	{
		.cmd = CMEK_CMD_GET_KEY,
		.doit = cmek_get_key,
		.start = cmek_dump_start,
		.dumpit = cmek_dump_keys,
	},
};

static const struct genl_multicast_group cmek_mcgrps[] = {
	{ .name = CMEK_GENL_MCGRP_EVENTS, .flags = GENL_MCAST_CAP_SYS_ADMIN },
};

static struct genl_family cmek_family __ro_after_init = {
	.name = CMEK_GENL_NAME,
	.version = CMEK_GENL_VERSION,
	.maxattr = CMEK_A_MAX,
	.policy = cmek_policy,
	/*
	 * Our handlers lock what they touch themselves (cmek_keys_lock), so
	 * no revoke holds genl_mutex while its key drains: requests of other
	 * families go on. It still holds genetlink's cb_lock for reading, as
	 * every request does, so a family being registered or removed
	 * meanwhile waits for the drain (bounded by the bios in the cipher).
	 */
	.parallel_ops = true,
	.pre_doit = cmek_pre_doit,
	.post_doit = cmek_post_doit,
	.netnsok = false,
	.module = THIS_MODULE,
	.ops = cmek_ops,
	.n_ops = ARRAY_SIZE(cmek_ops),
	/*
	 * No .resv_start_op: every command is new, so the core checks the
	 * genetlink header and nlmsg_flags of each, and validates its
	 * attributes strictly with cmek_policy.
	 */
	.mcgrps = cmek_mcgrps,
	.n_mcgrps = ARRAY_SIZE(cmek_mcgrps),
};

/*
 * The key table calls it with its lock held, and only while the family is
 * registered (cmek_genl_init() to cmek_genl_exit()).
 */
static void cmek_notify(u8 cmd, const struct cmek_entry_info *info)
{
	struct sk_buff *skb;
	void *hdr;

	if (!genl_has_listeners(&cmek_family, &init_net, 0))
		return;
	skb = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!skb)
		return;
	hdr = genlmsg_put(skb, 0, 0, &cmek_family, 0, cmd);
	if (!hdr ||
	    nla_put(skb, CMEK_A_UUID, CMEK_UUID_LEN, info->uuid) ||
	    nla_put_u64_64bit(skb, CMEK_A_GENERATION, info->generation,
			      CMEK_A_PAD) ||
	    nla_put_u32(skb, CMEK_A_USERS, info->users)) {
		nlmsg_free(skb);
		return;
	}
	genlmsg_end(skb, hdr);
	genlmsg_multicast(&cmek_family, skb, 0, 0, GFP_KERNEL);
}

/* Process context (the target's event work). */
void cmek_notify_key_needed(struct dm_target *ti, const u8 *uuid,
			    enum cmek_key_state state)
{
	struct mapped_device *md = dm_table_get_md(ti->table);
	char name[DM_NAME_LEN];
	struct sk_buff *skb;
	void *hdr;

	/* dm_device_name() is the internal "major:minor"; users know names. */
	if (dm_copy_name_and_uuid(md, name, NULL))
		strscpy(name, dm_device_name(md), sizeof(name));
	if (!genl_has_listeners(&cmek_family, &init_net, 0))
		return;
	skb = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!skb)
		return;
	hdr = genlmsg_put(skb, 0, 0, &cmek_family, 0,
			  CMEK_CMD_EVENT_KEY_NEEDED);
	if (!hdr ||
	    nla_put(skb, CMEK_A_UUID, CMEK_UUID_LEN, uuid) ||
	    nla_put_string(skb, CMEK_A_DM_NAME, name) ||
	    nla_put_u32(skb, CMEK_A_DM_DEV,
			new_encode_dev(disk_devt(dm_disk(md)))) ||
	    nla_put_u32(skb, CMEK_A_STATE, state)) {
		nlmsg_free(skb);
		return;
	}
	genlmsg_end(skb, hdr);
	genlmsg_multicast(&cmek_family, skb, 0, 0, GFP_KERNEL);
}

int __init cmek_genl_init(void)
{
	int err = genl_register_family(&cmek_family);

	if (!err)
		cmek_keys_set_event_handler(cmek_notify);
	return err;
}

/*
 * Key events stop before the family goes, so that the revokes that follow
 * (cmek_keys_exit) never multicast to group ids already given back.
 */
void cmek_genl_exit(void)
{
	cmek_keys_set_event_handler(NULL);
	genl_unregister_family(&cmek_family);
}
