#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A reboot of a node under systemd (TAP): boot 1 writes a file on each of
# the two volumes mounted from fstab ("local", the local provider;
# "cloud", aws-kms over the forwarded moto_server) and powers off cleanly
# (systemctl poweroff: the mounts and the mappings are taken down by
# their units); boot 2, on the same disk files, must be judged as clean
# as boot 1 and read both files back, byte for byte.
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
	ktap_check "boot $n: /srv/local and /srv/cloud mounted" \
		eval 'sd_mounted /srv/local local && sd_mounted /srv/cloud cloud'
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
ktap_plan 18
sd_node reboot
sd_volumes "" ""
token=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
sd_boot 1 "$token"
sd_boot 2 "$token"
ktap_diag "wall time $SECONDS s, $BOOTS boots"
ktap_finish
