#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The Debian packages on a machine (TAP), with dpkg in a chroot over a
# tmpfs overlay of / (nothing is installed on the host or the guest's
# read-only root). Builds them twice: this tree's version V1 and V1+up1
# (make deb DEB_VERSION=).
#
# On the host, in a private mount namespace: dpkg -i V1, DKMS builds
# dm-cmek.ko for the kernel the VM boots (the running kernel has no
# headers: Debian's dkms then builds for the newest /boot/config-*), signed
# with DKMS's MOK key; the installed state is kept for the guest; then an
# upgrade of both packages to V1+up1 (DKMS builds again) keeps the edited
# /etc/cmek/cmekd.conf.
#
# In the VM (tests/vm/deb-guest.sh), over that V1 state: the DKMS build is
# the module that loads; a volume opened on it stays open and readable
# across an upgrade of cmek, its removal and its purge, which keeps
# /var/lib/cmek/trust. The host half also removes and purges both. DKMS
# compiles, and cmek-dkms is removed (depmod), on the host because in the
# guest under TCG a compile of the module takes over five minutes and
# depmod over 9p minutes more (Documentation/testing.rst). One VM boot.
#   tests/host/deb_vm.sh
# check-timeout: 900

set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib/ktap.sh"
. "$TOP/tests/lib/deb.sh"
cd "$TOP" || exit 1
# Under build/: the guest sees the host's /tmp as its own empty tmpfs.
D=$TOP/build/deb-vm
KR=$(deb_krel)
V1=$(dpkg-parsechangelog -S Version)
V2=$V1+up1
KO=/lib/modules/$KR/updates/dkms/dm-cmek.ko
ARCH=$(dpkg --print-architecture)

# dkms_ok VERSION: DKMS built and installed that version for KR.
dkms_ok() { in_root dkms status dm-cmek | grep -q "^dm-cmek/$1, $KR, x86_64: installed"; }

# hcheck DESC CMD...: the host phase's result lines, made TAP by the parent.
hcheck() {
	local desc=$1
	shift
	if "$@"; then echo "PASS $desc"; else echo "FAIL $desc"; fi
}

# The host's half, in its own mount namespace (the overlay goes with it).
host_phase() {
	deb_root_up "$D" "$D" || {
		echo "FAIL host: overlay of / for dpkg (mount failed)"
		return
	}
	if in_root dpkg -s cmek > /dev/null 2>&1 || in_root dpkg -s cmek-dkms > /dev/null 2>&1; then
		in_root dpkg -P cmek cmek-dkms > /dev/null 2>&1
	fi
	timed "$D/install.log" dpkg -i /debs/v1/cmek-dkms_"$V1"_all.deb /debs/v1/cmek_"$V1"_"$ARCH".deb
	hcheck "host: dpkg -i $V1 (${SECS}s with the DKMS build)" test $? = 0
	hcheck "host: dkms status: dm-cmek/$V1 installed for $KR" dkms_ok "$V1"
	local vermagic signer
	vermagic=$(modinfo -F vermagic "$R$KO" 2>/dev/null)
	signer=$(modinfo -F signer "$R$KO" 2>/dev/null)
	hcheck "host: module for $KR (${vermagic%% *}), signed by DKMS's MOK key ($signer)" \
		test "${vermagic%% *}" = "$KR" -a "$signer" = "DKMS module signing key"
	hcheck "host: cmekd --check-config accepts the packaged cmekd.conf" \
		in_root cmekd --check-config -c /etc/cmek/cmekd.conf

	# The installed V1 for the guest.
	deb_upper_tar "$D" "$D/v1-state.tar"
	hcheck "host: V1 state saved for the guest" test -s "$D/v1-state.tar"

	echo '# mine' >> "$R/etc/cmek/cmekd.conf"
	timed "$D/upgrade.log" dpkg -i /debs/v2/cmek-dkms_"$V2"_all.deb /debs/v2/cmek_"$V2"_"$ARCH".deb
	hcheck "host: upgrade to $V2 (${SECS}s with the DKMS build)" test $? = 0
	local old
	old=$(in_root dkms status dm-cmek | grep -c "^dm-cmek/$V1,")
	hcheck "host: dkms: dm-cmek/$V2 installed for $KR, $V1 gone" \
		test "$(dkms_ok "$V2" && echo yes)" = yes -a "$old" = 0
	hcheck "host: the upgrade kept the edited cmekd.conf, no .dpkg-* beside it" \
		test "$(conf_kept && echo yes)" = yes -a -z "$(ls "$R"/etc/cmek/*.dpkg-* 2>/dev/null)"

	timed "$D/remove.log" dpkg -r cmek cmek-dkms
	hcheck "host: dpkg -r cmek cmek-dkms (${SECS}s): module file and DKMS's record gone, cmekd.conf kept" \
		test $? = 0 -a ! -e "$R$KO" -a -z "$(in_root dkms status dm-cmek)" \
		     -a "$(conf_kept && echo yes)" = yes
	in_root dpkg -P cmek cmek-dkms > "$D/purge.log" 2>&1
	hcheck "host: dpkg -P: conffiles gone" test $? = 0 -a ! -e "$R/etc/cmek/cmekd.conf"
}

if [ "${1:-}" = --host-phase ]; then
	host_phase
	exit 0
fi

ktap_plan 12
t0=$(date +%s)
rm -rf "$D" && mkdir -p "$D/ovl" "$TOP/build/logs"
make -s deb DEB_OUT="$D/v1" > "$D/v1.log" 2>&1 &
p1=$!
make -s deb DEB_OUT="$D/v2" DEB_VERSION="$V2" > "$D/v2.log" 2>&1 &
p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
ktap_check "make deb: $V1 and $V2 ($(($(date +%s) - t0))s, both at once)" test $r1 = 0 -a $r2 = 0
[ $r1 = 0 ] || tail -n 20 "$D/v1.log" | sed 's/^/# /'
[ $r2 = 0 ] || tail -n 20 "$D/v2.log" | sed 's/^/# /'

t1=$(date +%s)
unshare -m --propagation private "$0" --host-phase > "$D/host.res" 2>&1
while IFS= read -r l; do
	case $l in
	'#'*) echo "$l" ;;
	FAIL\ *) ktap_fail "${l#FAIL }" ;;
	PASS\ *) ktap_ok "${l#PASS }" ;;
	*) echo "# $l" ;;
	esac
done < "$D/host.res"
echo "# host phase: $(($(date +%s) - t1))s"

t2=$(date +%s)
tests/vm/run --timeout 400 --log "$TOP/build/logs/host-deb-vm.console" -- \
	tests/vm/deb-guest.sh "$D" "$V1" "$V2" > "$D/vm.log" 2>&1
rc=$?
# A boot the rig retried is shown on this file's line by make check.
grep -a '^cmek-vm: boot [0-9]* of ' "$D/vm.log" || true
sed 's/^/    /' "$D/vm.log"
ktap_check "in the VM: the DKMS build loads; a volume stays open across upgrade, remove, purge ($(($(date +%s) - t2))s)" \
	test $rc = 0 -a "$(grep -ac '^not ok' "$D/vm.log")" = 0 -a \
	     "$(grep -ac '^ok' "$D/vm.log")" -gt 0
ktap_finish
