#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot-to-mounted time with and without cmek (a measurement, TAP, not in
# make check: run it by hand, bash tests/systemd/boot_time.sh [ROUNDS]).
# Each round boots the same node twice: once with cmek installed and the
# two volumes of reboot.sh ("local", "cloud" over the forwarded moto,
# _netdev) mounted from fstab, once without cmek with plain ext4 on the
# same two disks and the same fstab options. The figure is the time from
# the kernel's start to the later of the two mounts being active
# (ActiveEnterTimestampMonotonic), in the guest's own clock.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib/ktap.sh"
. "$TOP/tests/systemd/lib.sh"

if [ "${1:-}" = --guest ]; then
	KTAP_N=$3
	sd_check_boot "$4"
	ktap_check "boot $4: both mounts there" \
		eval 'findmnt /srv/local >/dev/null && findmnt /srv/cloud >/dev/null'
	echo "SD-TIME $(sd_mount_s srv-local.mount) $(sd_mount_s srv-cloud.mount)"
	sd_guest_end
fi

rounds=${1:-1}
cd "$TOP" || exit 1
ktap_plan $((5 + rounds * 10))
sd_node time
sd_volumes "" ""
PLAIN=$D/plain
mkdir -p "$PLAIN"
cp -a "$TREE/." "$PLAIN/"
rm -rf "${PLAIN:?}/usr" "${PLAIN:?}/var" "$PLAIN/etc/cmek" \
	"$PLAIN/etc/systemd/system/sysinit.target.wants/cmekd.service" \
	"$PLAIN/etc/systemd/system/cmekd.service.d" "$PLAIN/etc/systemd/system/var-lib-cmek.mount"
sed -i 's|^/dev/mapper/local |/dev/vda |; s|^/dev/mapper/cloud |/dev/vdb |' "$PLAIN/etc/fstab"
cp "$D/disk0" "$D/plain0" && cp "$D/disk1" "$D/plain1"
mkfs.ext4 -q -F "$D/plain0" && mkfs.ext4 -q -F "$D/plain1"
CMEK_DISKS=("${DISKS[@]}")
later() { awk '{ print ($2 > $3 ? $2 : $3) }'; }
for r in $(seq "$rounds"); do
	TREE0=$TREE
	DISKS=("${CMEK_DISKS[@]}")
	sd_boot "c$r"
	with=$(grep '^SD-TIME' "$D/bootc$r.out" | tr -d '\r' | later)
	TREE=$PLAIN
	DISKS=(--disk "$D/plain0" --disk "$D/plain1")
	sd_boot "p$r"
	without=$(grep '^SD-TIME' "$D/bootp$r.out" | tr -d '\r' | later)
	TREE=$TREE0
	ktap_diag "round $r: boot to mounted with cmek ${with:-?} s, without ${without:-?} s," \
		"ratio $(awk -v a="${with:-0}" -v b="${without:-1}" 'BEGIN { printf "%.2f", a / b }')," \
		"load average $(cut -d' ' -f1-3 /proc/loadavg)"
done
ktap_finish
