#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make dkms-install for real (TAP): DKMS builds dm-cmek.ko for the Debian
# kernel the VM boots, installs it under updates/dkms, and the guest's
# modprobe loads that module (not the tree's build) and registers the
# target. Everything DKMS installed is removed at the end.
# Needs root and Debian's dkms package (.ci/deps installs it).
#   tests/host/dkms.sh

set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib/ktap.sh"
cd "$TOP" || exit 1
KR=${KERNELRELEASE:-$(make -s -f /dev/null -f Makefile \
	--eval 'print-krel: ; @echo $(KERNELRELEASE)' print-krel)}
VER=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' dkms.conf)
T=$(mktemp -d /tmp/cmek_dkms.XXXXXX)

dkms_clean() {
	dkms remove "dm-cmek/$VER" --all >/dev/null 2>&1
	rm -rf "/usr/src/dm-cmek-$VER"
	depmod "$KR" 2>/dev/null
}
trap 'dkms_clean; rm -rf "$T"' EXIT

ktap_plan 7

if [ "$(id -u)" != 0 ] || ! command -v dkms >/dev/null; then
	ktap_fail "dkms installed and running as root" \
		"install Debian's dkms (.ci/deps) and run as root"
	ktap_finish
fi
ktap_ok "dkms $(dkms --version 2>/dev/null | head -n1) for $KR"
dkms_clean

make -s dkms-install KERNELRELEASE="$KR" >"$T/dkms.log" 2>&1
rc=$?
ktap_check "make dkms-install (add, build, install for $KR)" test $rc = 0
[ $rc = 0 ] || sed 's/^/# /' "$T/dkms.log" | tail -n 20

ktap_check "dkms status: installed for $KR" \
	grep -q "dm-cmek/$VER, $KR, x86_64: installed" <(dkms status dm-cmek)

ko=$(ls /lib/modules/"$KR"/updates/dkms/dm-cmek.ko* 2>/dev/null | head -n1)
ktap_check "module installed under updates/dkms (${ko:-none})" test -n "$ko"

found=$(modinfo -k "$KR" -F filename dm-cmek 2>/dev/null)
vermagic=$(modinfo -k "$KR" -F vermagic dm-cmek 2>/dev/null)
ktap_check "depmod prefers it: $found, vermagic ${vermagic%% *}" \
	test "$found" = "$ko" -a "${vermagic%% *}" = "$KR"

# In the guest: drop the tree's module the rig loaded, ask modprobe which
# file it resolves, load it, and see the target registered.
tests/vm/run --timeout 180 --log "$TOP/build/logs/host-dkms-vm.console" -- sh -c '
	rmmod dm_cmek &&
	echo "resolves=$(modprobe --show-depends dm-cmek | sed -n "s/^insmod //p" | tail -n1)" &&
	modprobe dm-cmek && dmsetup targets | grep "^cmek "' >"$T/vm.log" 2>&1
rc=$?
# A boot the rig retried is shown on this file's line by make check.
grep -a '^cmek-vm: boot [0-9]* of ' "$T/vm.log" || true
got=$(sed -n 's/^resolves=//p' "$T/vm.log" | tr -d '\r ' | tail -n1)
ktap_check "guest modprobe loads the DKMS build ($got) and cmek registers" \
	test $rc = 0 -a "$got" = "$ko"
[ $rc = 0 ] || sed 's/^/# /' "$T/vm.log" | tail -n 20

dkms_clean
ktap_check "dkms remove leaves no module behind" \
	test ! -e "$ko" -a -z "$(dkms status dm-cmek 2>/dev/null)"
ktap_finish
