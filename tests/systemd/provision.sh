#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# First-boot provisioning on a node under systemd (TAP), and a reboot.
# /etc/cmek/volumes lists two disks with format=local:node,mkfs=ext4:
# "fresh", a blank disk, mounted at /srv/fresh from /etc/fstab; "used"
# (nofail, fstab nofail too), a disk that carries an ext4 file system
# made on the host. Boot 1: the generator's unit formats "fresh" under
# the local KEK, opens it and makes its ext4, and the fstab mount is
# there; a file is written. "used" is refused: its unit fails with a
# clear error in the journal, cmekd audits the refusal, no mapping; the
# boot otherwise completes (degraded by that one unit, nothing else
# failed, no ordering cycle). Boot 2 on the same disk files: "fresh" is
# only opened (same cmek UUID, no format, no mkfs, the file reads back);
# "used" is refused again. On the host, the first MiB of "used" is
# byte-identical before and after each boot.
#
#   tests/systemd/provision.sh           (root; moto_server, make all tests)
#
# Two boots, both of the node: blank disks need no formatting beforehand.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib/ktap.sh"
. "$TOP/tests/systemd/lib.sh"

# The boot's verdict with "used" refused: only its unit failed.
prov_check_boot() {
	local n=$1 failed cyc

	sd_running 300
	failed=$(systemctl --failed --no-legend --plain 2>&1 | awk '{ print $1 }' | tr '\n' ' ')
	ktap_check "boot $n: $SD_STATE, and the one failed unit is the refused volume's ($failed)" \
		test "$SD_STATE" = degraded -a "$failed" = "cmek-open-used.service "
	cyc=$(journalctl -b --no-pager -o cat 2>&1 | grep -i -E 'ordering cycle|to break ordering')
	ktap_check "boot $n: no ordering cycle in the journal" test -z "$cyc"
	[ -z "$cyc" ] || echo "$cyc" | head -n 10 | sed 's/^/# /'
}

# The refusal of "used", as the operator reads it.
prov_check_refused() {
	local n=$1 err aud

	err=$(journalctl -b --no-pager -o cat -u cmek-open-used.service 2>&1 | grep 'not formatted')
	aud=$(journalctl -b --no-pager -o cat 2>&1 | grep 'op=provision .*result=fail .*for="used"')
	echo "$err" | head -n 2 | sed 's/^/# used: /'
	echo "$aud" | head -n 2 | sed 's/^/# audit: /'
	ktap_check "boot $n: \"used\" refused: the error in its unit's journal names ext4, an audit line, no mapping" \
		eval 'echo "$err" | grep -q ext4 && [ -n "$aud" ] && ! dmsetup info used >/dev/null 2>&1'
}

if [ "${1:-}" = --guest ]; then
	KTAP_N=$3
	n=$4
	token=$5
	prov_check_boot "$n"
	u=$(dmsetup table fresh 2>/dev/null | awk '$3 == "cmek" { print $4 }')
	# cmekd's audit of a provisioning format names no volume yet: any
	# format counts (nothing else is formatted on this node).
	fmt=$(journalctl -b --no-pager -o cat 2>&1 | grep -c -E 'op=format |op=mkfs .*name=fresh ')
	ktap_check "boot $n: /srv/fresh is /dev/mapper/fresh (cmek volume ${u:-none}), ext4, read-write" \
		eval 'sd_mounted /srv/fresh fresh && [ -n "$u" ] &&
		      [ "$(findmnt -n -o FSTYPE /srv/fresh)" = ext4 ]'
	f=/srv/fresh/prov-$token
	if [ "$n" = 1 ]; then
		echo "SD-SET FRESH=$u"
		journalctl -b --no-pager -o cat -u cmek-open-fresh.service | grep provisioned | sed 's/^/# /'
		ktap_check "boot 1: provisioned: cmekd audited the format and the mkfs of fresh ($fmt lines)" \
			test "$fmt" = 2
		head -c 1M /dev/urandom >"$f.data" && sha256sum <"$f.data" >"$f.sum" && sync -f "$f.data"
		ktap_check "boot 1: 1 MiB written on fresh, synced" test -s "$f.sum"
	else
		ktap_check "boot 2: fresh only opened: the UUID of boot 1 ($6), no format, no mkfs" \
			test "$u" = "$6" -a "$fmt" = 0
		ktap_check "boot 2: the file boot 1 wrote on fresh reads back the same" \
			eval '[ -s "$f.sum" ] && [ "$(sha256sum <"$f.data")" = "$(cat "$f.sum")" ]'
	fi
	prov_check_refused "$n"
	sd_guest_end
fi

# first_mib FILE: the hash of FILE's first MiB.
first_mib() { head -c 1M "$1" | sha256sum | cut -d' ' -f1; }

cd "$TOP" || exit 1
ktap_plan 21
sd_host_init provision 2
sd_node_tree
sd_must "disk1 carries an ext4 file system (mkfs.ext4 on the host)" \
	mkfs.ext4 -q -F "$D/disk1"
h0=$(first_mib "$D/disk1")
cat >"$TREE/etc/cmek/volumes" <<-EOF2
# name  device                        options
fresh   /dev/disk/by-id/virtio-cmek0  format=local:node,mkfs=ext4
used    /dev/disk/by-id/virtio-cmek1  format=local:node,mkfs=ext4,nofail
EOF2
chmod 600 "$TREE/etc/cmek/volumes"
cat >>"$TREE/etc/fstab" <<-EOF2
/dev/mapper/fresh  /srv/fresh  ext4  defaults  0 2
/dev/mapper/used   /srv/used   ext4  nofail,x-systemd.wanted-by=dev-mapper-used.device  0 2
EOF2
token=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
sd_boot 1 "$token"
fresh=$(sed -n 's/^SD-SET FRESH=//p' "$D/boot1.out" | tr -d '\r')
ktap_check "after boot 1: the first MiB of disk1 (used) is unchanged ($h0)" \
	test "$(first_mib "$D/disk1")" = "$h0"
sd_boot 2 "$token" "$fresh"
ktap_check "after boot 2: the first MiB of disk1 (used) is unchanged" \
	test "$(first_mib "$D/disk1")" = "$h0"
ktap_diag "wall time $SECONDS s, $BOOTS boots"
ktap_finish
