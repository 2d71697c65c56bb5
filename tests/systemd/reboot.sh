#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A clean boot and a reboot of a node under systemd (TAP): two cmek
# volumes listed in /etc/cmek/volumes, "local" (the local provider) and
# "cloud" (aws-kms, moto_server on the host forwarded into the VM,
# _netdev), mounted from /etc/fstab. Each boot is judged as the operator
# would: running, nothing failed, no ordering cycle in the journal, both
# mounts there, cmekd's lines in the journal once each. Boot 1 writes a
# file on each volume and powers off cleanly (systemctl poweroff: the
# mounts and the mappings are taken down by their units); boot 2, on the
# same disk files, must be judged as clean and read both files back, byte
# for byte.
#
#   tests/systemd/reboot.sh              (root; moto_server, make all tests)
#
# Three boots: the plain rig formats the disks, then the node twice.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib/ktap.sh"
. "$TOP/tests/systemd/lib.sh"

if [ "${1:-}" = --guest ]; then
	KTAP_N=$3
	n=$4
	token=$5
	sd_check_boot "$n"
	ktap_check "boot $n: /srv/local is /dev/mapper/local (local provider), read-write" \
		sd_mounted /srv/local local
	ktap_check "boot $n: /srv/cloud is /dev/mapper/cloud (aws-kms over the network), read-write" \
		sd_mounted /srv/cloud cloud
	sd_check_cmekd_once "$n"
	ktap_diag "boot $n: boot-to-mounted: /srv/local $(sd_mount_s srv-local.mount) s," \
		"/srv/cloud $(sd_mount_s srv-cloud.mount) s;" \
		"$(systemd-analyze 2>/dev/null | head -n1)"
	for v in local cloud; do
		f=/srv/$v/reboot-$token
		if [ "$n" = 1 ]; then
			head -c 1M /dev/urandom >"$f.data" &&
				sha256sum <"$f.data" >"$f.sum" && sync -f "$f.data"
			ktap_check "boot 1: 1 MiB written on $v, synced" test -s "$f.sum"
		else
			ktap_check "boot 2: the file boot 1 wrote on $v reads back the same" \
				eval '[ -s "$f.sum" ] && [ "$(sha256sum <"$f.data")" = "$(cat "$f.sum")" ]'
		fi
	done
	sd_guest_end
fi

cd "$TOP" || exit 1
ktap_plan 22
sd_node reboot
sd_volumes "" ""
token=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
sd_boot 1 "$token"
sd_boot 2 "$token"
ktap_diag "wall time $SECONDS s, $BOOTS boots"
ktap_finish
