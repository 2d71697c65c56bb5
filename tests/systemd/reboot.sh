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
# for byte. cmek comes from its packages (lib.sh cmek_install): boot 1
# checks that dpkg has them, that the dm_cmek loaded is DKMS's build and
# that the package enabled cmekd. /var/lib/cmek is a disk of its own
# (sd_state_disk): boot 1 records both volumes at first use, the host
# finds the records on that disk, and boot 2 finds them there before
# cmekd opened anything, with no first use.
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
	u0=$6
	u1=$7
	sd_check_boot "$n"
	if [ "$n" = 1 ]; then
		sd_check_pkg 1
		fu=$(sd_first_use)
		ktap_check "boot 1: /var/lib/cmek is the state disk; cmekd recorded both volumes at first use" \
			eval '[ "$(findmnt -n -o SOURCE /var/lib/cmek)" = /dev/vdc ] &&
			      echo "$fu" | grep -q "uuid=$u0 " && echo "$fu" | grep -q "uuid=$u1 "'
	else
		fu=$(sd_first_use)
		ktap_check "boot 2: the trust records boot 1 made were there before cmekd opened the volumes; no first use" \
			eval 'sd_trust_kept "$u0" "$u1" && [ -z "$fu" ]'
		[ -z "$fu" ] || echo "$fu" | sed 's/^/# /'
	fi
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
ktap_plan 29
sd_node reboot
sd_volumes "" ""
token=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
sd_boot 1 "$token" "$UUID0" "$UUID1"
ktap_check "after boot 1: the state disk holds both volumes' trust records (debugfs on the host)" \
	sd_trust_on_disk "$UUID0" "$UUID1"
sd_boot 2 "$token" "$UUID0" "$UUID1"
ktap_diag "wall time $SECONDS s, $BOOTS boots"
ktap_finish
