// SPDX-License-Identifier: GPL-2.0
/*
 * Copyright (C) 2026 The cmek developers.
 *
 * The "cmek" generic netlink family; the protocol is documented in
 * include/uapi/linux/dm-cmek.h.
 */

#include <linux/capability.h>
#include <linux/kdev_t.h>
#include <net/genetlink.h>
#include "cmek.h"
#include "compat.h"

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
 * Called with cmek_keys_lock held. @cb for a dump: its messages carry
 * NLM_F_DUMP_INTR if the table changed between two of its parts.
 */
static int cmek_fill_entry(struct sk_buff *skb, struct cmek_entry *e, u8 cmd,
			   u32 portid, u32 seq, int flags,
			   struct netlink_callback *cb)
{
	u64 reads, writes, errors;
	void *hdr;

	hdr = genlmsg_put(skb, portid, seq, &cmek_family, flags, cmd);
	if (!hdr)
		return -EMSGSIZE;
	if (cb)
		genl_dump_check_consistent(cb, hdr);
	cmek_entry_sum_stats(e, &reads, &writes, &errors);
	if (nla_put(skb, CMEK_A_UUID, CMEK_UUID_LEN, e->uuid) ||
	    nla_put_u32(skb, CMEK_A_STATE, e->state) ||
	    nla_put_u64_64bit(skb, CMEK_A_GENERATION, e->generation,
			      CMEK_A_PAD) ||
	    nla_put_u32(skb, CMEK_A_KEY_SIZE, e->key_size) ||
	    nla_put_u32(skb, CMEK_A_USERS, e->users) ||
	    nla_put_u64_64bit(skb, CMEK_A_READS, reads, CMEK_A_PAD) ||
	    nla_put_u64_64bit(skb, CMEK_A_WRITES, writes, CMEK_A_PAD) ||
	    nla_put_u64_64bit(skb, CMEK_A_ERRORS, errors, CMEK_A_PAD)) {
		genlmsg_cancel(skb, hdr);
		return -EMSGSIZE;
	}
	genlmsg_end(skb, hdr);
	return 0;
}

static int cmek_get_key(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr **tb = info->attrs;
	struct cmek_entry *e;
	struct sk_buff *msg;
	int err;

	if (!tb[CMEK_A_UUID]) {
		GENL_SET_ERR_MSG(info, "the volume UUID (CMEK_A_UUID) is required");
		return -EINVAL;
	}
	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;

	mutex_lock(&cmek_keys_lock);
	e = cmek_entry_find(nla_data(tb[CMEK_A_UUID]));
	if (!e) {
		GENL_SET_ERR_MSG(info, "no key table entry for this volume");
		err = -ENOENT;
	} else {
		err = cmek_fill_entry(msg, e, CMEK_CMD_GET_KEY, info->snd_portid,
				      info->snd_seq, 0, NULL);
	}
	mutex_unlock(&cmek_keys_lock);
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

/*
 * cb->args: [0] how many entries were dumped, [1] the entry to go on with,
 * [2] the table's generation when [1] was taken. The pointer is good only
 * while no entry came or went, which the generation says; otherwise the
 * dump walks to its index again (and is flagged interrupted anyway). So a
 * dump of n entries takes O(n) steps, not one walk per entry.
 */
static int cmek_dump_keys(struct sk_buff *skb, struct netlink_callback *cb)
{
	unsigned int idx = cb->args[0];
	struct cmek_entry *e;
	int err = 0;

	mutex_lock(&cmek_keys_lock);
	if (idx && cb->args[2] == cmek_entries_seq())
		e = (struct cmek_entry *)cb->args[1];
	else
		e = cmek_entry_nth(idx);
	cb->seq = cmek_entries_seq();
	for (; e; e = cmek_entry_next(e), idx++) {
		err = cmek_fill_entry(skb, e, CMEK_CMD_GET_KEY,
				      NETLINK_CB(cb->skb).portid,
				      cb->nlh->nlmsg_seq, NLM_F_MULTI, cb);
		if (err)
			break;
	}
	mutex_unlock(&cmek_keys_lock);
	cb->args[0] = idx;
	cb->args[1] = (unsigned long)e;
	cb->args[2] = cb->seq;
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

/* The family's multicast group ids are valid; see cmek_genl_exit(). */
static bool cmek_genl_live;

/* Called with cmek_keys_lock held. */
void cmek_notify(u8 cmd, struct cmek_entry *e)
{
	struct sk_buff *skb;
	void *hdr;

	lockdep_assert_held(&cmek_keys_lock);
	if (!cmek_genl_live ||
	    !genl_has_listeners(&cmek_family, &init_net, 0))
		return;
	skb = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!skb)
		return;
	hdr = genlmsg_put(skb, 0, 0, &cmek_family, 0, cmd);
	if (!hdr ||
	    nla_put(skb, CMEK_A_UUID, CMEK_UUID_LEN, e->uuid) ||
	    nla_put_u64_64bit(skb, CMEK_A_GENERATION, e->generation,
			      CMEK_A_PAD) ||
	    nla_put_u32(skb, CMEK_A_USERS, e->users)) {
		nlmsg_free(skb);
		return;
	}
	genlmsg_end(skb, hdr);
	genlmsg_multicast(&cmek_family, skb, 0, 0, GFP_KERNEL);
}

/* Process context (the target's event work). */
void cmek_notify_key_needed(struct cmek_target *ct)
{
	struct mapped_device *md = dm_table_get_md(ct->ti->table);
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
	    nla_put(skb, CMEK_A_UUID, CMEK_UUID_LEN, ct->entry->uuid) ||
	    nla_put_string(skb, CMEK_A_DM_NAME, name) ||
	    nla_put_u32(skb, CMEK_A_DM_DEV,
			new_encode_dev(disk_devt(dm_disk(md)))) ||
	    nla_put_u32(skb, CMEK_A_STATE, READ_ONCE(ct->entry->state))) {
		nlmsg_free(skb);
		return;
	}
	genlmsg_end(skb, hdr);
	genlmsg_multicast(&cmek_family, skb, 0, 0, GFP_KERNEL);
}

int __init cmek_genl_init(void)
{
	int err = genl_register_family(&cmek_family);

	if (!err) {
		mutex_lock(&cmek_keys_lock);
		cmek_genl_live = true;
		mutex_unlock(&cmek_keys_lock);
	}
	return err;
}

/*
 * Key events stop before the family goes, so that the revokes that follow
 * (cmek_keys_exit) never multicast to group ids already given back.
 */
void cmek_genl_exit(void)
{
	mutex_lock(&cmek_keys_lock);
	cmek_genl_live = false;
	mutex_unlock(&cmek_keys_lock);
	genl_unregister_family(&cmek_family);
}
