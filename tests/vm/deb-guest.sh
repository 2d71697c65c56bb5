#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The guest half of tests/host/deb_vm.sh (KTAP). Over a tmpfs overlay of
# the read-only 9p root, with cmek and cmek-dkms V1 installed as the host
# half left them (DIR/v1-state.tar: dpkg's database, DKMS's tree and its
# build for this kernel): the DKMS build is the module that loads, and a
# volume opened on it stays open and readable across an upgrade of cmek to
# V2, its removal and its purge.
#   tests/vm/deb-guest.sh DIR V1 V2

set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/ktap.sh
. tests/lib/deb.sh
D=$1
V1=$2
V2=$3
KR=$(uname -r)
R=/tmp/deb-root
KO=/lib/modules/$KR/updates/dkms/dm-cmek.ko
MAP=debvol

vol_ok() {
	dmsetup status "$MAP" | grep -q ' cmek present ' &&
		dd if="$DEV" of=/tmp/back bs=64k count=16 iflag=direct status=none &&
		cmp -s /tmp/data /tmp/back
}

ktap_plan 11

# The guest's / is the host's, read-only: dpkg writes into a tmpfs over it.
modprobe overlay
mkdir -p /tmp/ov/upper /tmp/ov/work "$R"
# dpkg reads every package's file list on each run: once over 9p is enough.
if ! mount -t overlay overlay -o lowerdir=/,upperdir=/tmp/ov/upper,workdir=/tmp/ov/work "$R" ||
   ! cp -a /var/lib/dpkg/info "$R/var/lib/dpkg/" ||
   ! tar -x -f "$D/v1-state.tar" -C "$R"; then
	ktap_fail "overlay of / with the installed V1" "mount or tar failed"
	ktap_finish
fi
mount -t proc proc "$R/proc" && mount -t sysfs sys "$R/sys" &&
	mount --bind /dev "$R/dev" && mount -t tmpfs tmpfs "$R/tmp" &&
	mount -t tmpfs tmpfs "$R/run" && mkdir -p "$R/debs" && mount --bind "$D" "$R/debs"
# man-db's trigger would index every manual page over 9p (minutes under TCG).
rm -f "$R/var/lib/man-db/auto-update"
ktap_check "chroot over a tmpfs overlay of /: cmek $V1 installed, kernel $KR" \
	test "$(in_root dpkg-query -W -f '${Status} ${Version}' cmek-dkms)" = "install ok installed $V1"

# The tree's build goes; the one modprobe finds in the chroot is DKMS's.
! grep -q '^dm_cmek ' /proc/modules || rmmod dm_cmek
got=$(in_root modprobe --show-depends dm-cmek 2>/dev/null | sed -n 's/^insmod //p' | tail -n1 | tr -d ' ')
in_root modprobe dm-cmek
ktap_check "modprobe loads the DKMS build ($got)" \
	test "$got" = "$KO" -a -d /sys/module/dm_cmek
ktap_check "that module is built for $KR and signed by DKMS's MOK key" \
	test "$(in_root modinfo -F vermagic "$KO" | cut -d' ' -f1)" = "$KR" -a \
	     "$(in_root modinfo -F signer "$KO")" = "DKMS module signing key"

# A volume, its key set by the packaged cmekctl.
modprobe brd rd_nr=1 rd_size=8192 max_part=0
U=$(cat /proc/sys/kernel/random/uuid)
dmsetup --noudevsync create "$MAP" --table "0 $(blockdev --getsz /dev/ram0) cmek $U /dev/ram0 0"
DEV=/dev/dm-$(dmsetup info -c --noheadings -o minor "$MAP")
head -c 64 /dev/urandom | od -An -tx1 -v | tr -d ' \n' |
	in_root cmekctl key set "$U" --hex > /dev/null
head -c 1M /dev/urandom > /tmp/data
dd if=/tmp/data of="$DEV" bs=64k oflag=direct status=none
ktap_check "a volume on the DKMS module, key set by the packaged cmekctl, reads back" vol_ok

echo '# mine' >> "$R/etc/cmek/cmekd.conf"
mkdir -p "$R/var/lib/cmek/trust" && echo kept > "$R/var/lib/cmek/trust/sentinel"
timed /tmp/upgrade.log dpkg -i /debs/v2/cmek_"$V2"_"$(dpkg --print-architecture)".deb
ktap_check "dpkg -i cmek $V2: upgrade (${SECS}s)" test $? = 0
ktap_check "the volume stayed open and reads back after the upgrade" vol_ok

# cmek-dkms's removal (dkms remove: module files, depmod) is the host
# half's: depmod over 9p under TCG takes minutes.
timed /tmp/remove.log dpkg -r cmek
ktap_check "dpkg -r cmek (${SECS}s): its programs are gone" \
	test $? = 0 -a ! -e "$R/usr/sbin/cmekd"
ktap_check "remove kept /etc/cmek/cmekd.conf as edited" conf_kept
ktap_check "the volume stayed open and readable after remove" vol_ok

# Purge removes the configuration, never the trust records.
timed /tmp/purge.log dpkg -P cmek
ktap_check "dpkg -P cmek (${SECS}s): conffiles gone, /var/lib/cmek/trust kept" \
	test $? = 0 -a ! -e "$R/etc/cmek/cmekd.conf" -a \
	     "$(cat "$R/var/lib/cmek/trust/sentinel" 2>/dev/null)" = kept
ktap_check "the volume stayed open and readable after purge" vol_ok

dmsetup --noudevsync remove "$MAP"
ktap_finish
