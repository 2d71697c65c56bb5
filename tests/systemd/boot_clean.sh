#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A clean boot of a node under systemd (TAP): two cmek volumes listed in
# /etc/cmek/volumes, "local" (the local provider) and "cloud" (aws-kms,
# moto_server on the host forwarded into the VM, _netdev), mounted from
# /etc/fstab. The boot is judged as the operator would: running, nothing
# failed, no ordering cycle in the journal, both mounts there, cmekd's
# lines in the journal once each.
#
#   tests/systemd/boot_clean.sh          (root; moto_server, make all tests)
#
# Two boots: the plain rig formats the disks, then the node boots.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib/ktap.sh"
. "$TOP/tests/systemd/lib.sh"

if [ "${1:-}" = --guest ]; then
	KTAP_N=$3
	sd_check_boot 1
	ktap_check "boot 1: /srv/local is /dev/mapper/local (local provider), read-write" \
		sd_mounted /srv/local local
	ktap_check "boot 1: /srv/cloud is /dev/mapper/cloud (aws-kms over the network), read-write" \
		sd_mounted /srv/cloud cloud
	sd_check_cmekd_once 1
	ktap_diag "boot-to-mounted: /srv/local $(sd_mount_s srv-local.mount) s," \
		"/srv/cloud $(sd_mount_s srv-cloud.mount) s;" \
		"$(systemd-analyze 2>/dev/null | head -n1)"
	sd_guest_end
fi

cd "$TOP" || exit 1
ktap_plan 11
sd_node clean
sd_volumes "" ""
sd_boot 1
ktap_diag "wall time $SECONDS s, $BOOTS boots"
ktap_finish
