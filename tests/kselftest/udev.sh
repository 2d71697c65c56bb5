#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host integration with udev (KTAP), in the VM as root:
#   tests/vm/run -- tests/kselftest/udev.sh
#
# Starts the host's systemd-udevd in the guest with udev/61-cmek.rules in
# /run/udev/rules.d (the guest's /etc is read-only, /run is tmpfs), a
# private cmekd, and a temporary volumes file ($CMEK_VOLUMES). A formatted
# image is then attached to a new loop device (hot-add): the
# /dev/disk/by-cmek-uuid link must appear, the listed volume must open by
# itself and read back the data written before; a nofail-listed absent
# device must not break anything; a non-cmek device gets no link.

set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib/ktap.sh"
. "$TOP/tests/kselftest/lifecycle_lib.sh"

UDEVD=/lib/systemd/systemd-udevd
export CMEK_VOLUMES=$LC_T/volumes
LOOPS=
UDEVD_UP=

cleanup() {
	[ -n "$UDEVD_UP" ] && udevadm control --exit >/dev/null 2>&1
	for m in $(dmsetup ls --target cmek 2>/dev/null | awk '{print $1}'); do
		dmsetup --noudevsync remove "$m" >/dev/null 2>&1
	done
	for l in $LOOPS; do losetup -d "$l" 2>/dev/null; done
	lc_cleanup
}
trap cleanup EXIT

ktap_plan 17

if [ ! -x "$UDEVD" ] || ! command -v udevadm >/dev/null; then
	for i in $(seq 13); do echo "ok $i # SKIP no systemd-udevd"; done
	exit 0
fi
modprobe loop 2>/dev/null

# cmekctl as udev runs it: a clean environment, so a wrapper points it at
# the private daemon and volumes file.
WRAP=$LC_T/cmekctl
cat >"$WRAP" <<W
#!/bin/sh
export CMEK_SOCKET=$CMEK_SOCKET CMEK_VOLUMES=$CMEK_VOLUMES CMEK_CONFIG=$CMEK_CONFIG
echo "\$(date +%s.%N) \$*" >>$LC_T/udev-calls.log
exec $CMEKCTL "\$@"
W
chmod 755 "$WRAP"

ktap_check "cmekd starts" lc_daemon_start
run kek "$CMEKCTL" kek create k1
IMG=$LC_T/vol.img
PLAIN=$LC_T/plain.img
truncate -s 48M "$IMG"
truncate -s 48M "$PLAIN"
L0=$(losetup -f --show "$IMG") && LOOPS="$L0"
run fmt "$CMEKCTL" format "$L0" --provider local --key k1
UUID=$("$CMEKCTL" probe --export "$L0" | sed -n 's/^CMEK_UUID=//p')
if [ "$(rc fmt)" = 0 ] && [ -n "$UUID" ]; then
	ktap_ok "format a loop device; probe finds volume $UUID"
else
	ktap_fail "format a loop device; probe finds the volume" \
		"$(err kek; err fmt | head -c 400)"
fi

"$CMEKCTL" probe --export "$L0" >"$LC_T/probe.out"
if grep -qx "ID_FS_TYPE=cmek" "$LC_T/probe.out" &&
   grep -qx "ID_FS_UUID=$UUID" "$LC_T/probe.out" &&
   grep -qx "ID_FS_USAGE=crypto" "$LC_T/probe.out" &&
   ! grep -qi "wrap\|key_ref\|KEK" "$LC_T/probe.out"; then
	ktap_ok "probe --export: udev properties, no key material"
else
	ktap_fail "probe --export: udev properties" "$(head -c 400 "$LC_T/probe.out")"
fi
L1=$(losetup -f --show "$PLAIN") && LOOPS="$LOOPS $L1"
run p2 "$CMEKCTL" probe --export "$L1"
ktap_check "probe of a non-cmek device: exit 3, quiet" \
	test "$(rc p2)" = 3 -a ! -s "$LC_T/p2.out" -a ! -s "$LC_T/p2.err"

# Data written through a manual open, read back after the automatic one.
run open0 "$CMEKCTL" open "$L0" pre
head -c 1M /dev/urandom >"$LC_T/data"
dd if="$LC_T/data" of=/dev/mapper/pre bs=1M oflag=direct 2>/dev/null ||
	dd if="$LC_T/data" of="$(realpath /dev/mapper/pre)" bs=1M oflag=direct 2>/dev/null
run close0 "$CMEKCTL" close pre
losetup -d "$L0"; LOOPS="$L1"
ktap_check "write data through a manual open, close, detach" \
	test "$(rc open0)" = 0 -a "$(rc close0)" = 0

GHOST=$(cat /proc/sys/kernel/random/uuid)
cat >"$CMEK_VOLUMES" <<V
# test volumes
auto   UUID=$UUID   hold=2000,read-only
ghost  UUID=$GHOST  nofail
V

# udevd with the project's rules only in /run (guest /etc is read-only).
mkdir -p /run/udev/rules.d
sed "s|/usr/sbin/cmekctl|$WRAP|g" "$TOP/udev/61-cmek.rules" \
	>/run/udev/rules.d/61-cmek.rules
"$UDEVD" --daemon --resolve-names=never 2>"$LC_T/udevd.err"
UDEVD_UP=1
sleep 0.5
ktap_check "systemd-udevd runs with 61-cmek.rules" udevadm control --ping

# Hot-add: attach the image to a new loop device.
T0=$(date +%s%N)
L2=$(losetup -f --show "$IMG") && LOOPS="$LOOPS $L2"
udevadm settle --timeout=30
LINK=/dev/disk/by-cmek-uuid/$UUID
for i in $(seq 100); do [ -e /dev/mapper/auto ] || dmsetup info auto >/dev/null 2>&1 && break; sleep 0.1; done
T1=$(date +%s%N)
if [ -L "$LINK" ] && [ "$(realpath "$LINK")" = "$L2" ]; then
	ktap_ok "by-cmek-uuid link points to the hot-added $L2"
else
	ktap_fail "by-cmek-uuid link" "$(ls -l /dev/disk/by-cmek-uuid 2>&1; udevadm info "$L2" 2>&1 | head -30)"
fi
# libblkid has no cmek prober: what says "crypto" is the udev database.
udevadm info --query=property "$L2" >"$LC_T/udevprop.out" 2>&1
ktap_check "the udev database says ID_FS_TYPE=cmek, ID_FS_USAGE=crypto, ID_FS_UUID" \
	eval 'grep -qx "ID_FS_TYPE=cmek" "$LC_T/udevprop.out" &&
	grep -qx "ID_FS_USAGE=crypto" "$LC_T/udevprop.out" &&
	grep -qx "ID_FS_UUID=$UUID" "$LC_T/udevprop.out"'
ktap_check "lsblk -f (which reads udev) shows the device as cmek with its uuid" \
	eval '[ "$(lsblk -dno FSTYPE,UUID "$L2" | tr -s " ")" = "cmek $UUID" ]'
if dmsetup info auto >/dev/null 2>&1; then
	ktap_ok "listed volume opened automatically ($(( (T1 - T0) / 1000000 )) ms from hot-add)"
	ktap_diag "hot-add to open: $(( (T1 - T0) / 1000000 )) ms"
else
	ktap_fail "listed volume opened automatically" \
		"$(cat "$LC_T/udev-calls.log" 2>&1; tail -5 "$LC_LOG")"
fi
DEV=/dev/mapper/auto
[ -b "$DEV" ] || { dmsetup mknodes auto >/dev/null 2>&1; }
if cmp -n 1048576 "$LC_T/data" "$DEV" >/dev/null 2>&1; then
	ktap_ok "/dev/mapper/auto reads the data written before"
else
	ktap_fail "/dev/mapper/auto reads the data written before" "$(ls -l /dev/mapper)"
fi
run dmtab dmsetup table auto
ktap_check "hold=2000 reached the table (key_wait_ms)" grep -q "key_wait_ms:2000" "$LC_T/dmtab.out"
run dminfo dmsetup info auto
ktap_check "read-only: the mapping is read-only" grep -q "READ-ONLY" "$LC_T/dminfo.out"

# The non-cmek loop device: a change event, no link, nothing opened.
udevadm trigger --action=change --settle "$L1" 2>/dev/null || udevadm settle --timeout=30
N=$(ls /dev/disk/by-cmek-uuid 2>/dev/null | wc -l)
ktap_check "non-cmek device gets no link ($N link(s) in by-cmek-uuid)" test "$N" = 1

# Replayed event and --all with an absent nofail device: no error, no
# second mapping.
udevadm trigger --action=change --settle "$L2" 2>/dev/null || udevadm settle --timeout=30
run all "$WRAP" open-listed --all
ktap_check "open-listed --all: absent nofail device and an open volume are fine" \
	test "$(rc all)" = 0 -a "$(dmsetup ls --target cmek | wc -l)" = 1

# What the units of cmek-generator run: one volume by name, already open.
run named "$WRAP" open-listed --name auto --retry --timeout 5
ktap_check "open-listed --name auto --retry: an open volume is fine at once" \
	test "$(rc named)" = 0 -a "$(dmsetup ls --target cmek | wc -l)" = 1

echo "ghost UUID=$GHOST" >"$CMEK_VOLUMES.2"
run all2 env CMEK_VOLUMES="$CMEK_VOLUMES.2" "$CMEKCTL" open-listed --all
ktap_check "without nofail, an absent device is an error" \
	grep -q "absent" "$LC_T/all2.err"

ktap_finish
