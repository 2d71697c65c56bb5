/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A raw libmnl connection to the cmek genetlink family for the kselftests,
 * which need to send messages the library in userspace/lib never would.
 */
#ifndef CMEK_KSFT_NL_CONN_H
#define CMEK_KSFT_NL_CONN_H

#include <errno.h>
#include <string.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/dm-cmek.h>

struct conn {
	struct mnl_socket *nl;
	uint16_t family;
	uint32_t mcgrp;
	unsigned int seq;
};

static int ctrl_attr_cb(const struct nlattr *attr, void *data)
{
	struct conn *c = data;

	if (mnl_attr_get_type(attr) == CTRL_ATTR_FAMILY_ID)
		c->family = mnl_attr_get_u16(attr);
	if (mnl_attr_get_type(attr) == CTRL_ATTR_MCAST_GROUPS) {
		struct nlattr *grp, *a;

		mnl_attr_for_each_nested(grp, attr)
			mnl_attr_for_each_nested(a, grp)
				if (mnl_attr_get_type(a) == CTRL_ATTR_MCAST_GRP_ID)
					c->mcgrp = mnl_attr_get_u32(a);
	}
	return MNL_CB_OK;
}

static int ctrl_cb(const struct nlmsghdr *nlh, void *data)
{
	return mnl_attr_parse(nlh, sizeof(struct genlmsghdr), ctrl_attr_cb, data);
}

static int conn_open(struct conn *c)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	struct genlmsghdr *g;
	int one = 1, n;

	memset(c, 0, sizeof(*c));
	c->nl = mnl_socket_open(NETLINK_GENERIC);
	if (!c->nl || mnl_socket_bind(c->nl, 0, MNL_SOCKET_AUTOPID) < 0)
		return -errno;
	mnl_socket_setsockopt(c->nl, NETLINK_EXT_ACK, &one, sizeof(one));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = GENL_ID_CTRL;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = ++c->seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = CTRL_CMD_GETFAMILY;
	g->version = 1;
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, CMEK_GENL_NAME);
	if (mnl_socket_sendto(c->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	while ((n = mnl_socket_recvfrom(c->nl, buf, sizeof(buf))) > 0) {
		n = mnl_cb_run(buf, n, c->seq, 0, ctrl_cb, c);
		if (n <= 0)
			break;
	}
	return c->family ? 0 : -ENOENT;
}

static void conn_close(struct conn *c)
{
	if (c->nl)
		mnl_socket_close(c->nl);
}

#endif /* CMEK_KSFT_NL_CONN_H */
