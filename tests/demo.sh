#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The cmek demo (`make demo` runs it in the VM): a local KEK, a RAM disk
# formatted as a cmek volume, a filesystem on it, revoke, reopen, shred.
# Prints each step and what it shows; exits non-zero if any step does not
# behave as described.

set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
. "$TOP/tests/kselftest/lifecycle_lib.sh"
trap lc_cleanup EXIT

MNT=$LC_T/mnt
mkdir -p "$MNT"
STEP=0
FAILED=0

if [ -t 1 ]; then B=$'\033[1m' G=$'\033[32m' R=$'\033[31m' N=$'\033[0m'; else B= G= R= N=; fi
step() {
	STEP=$((STEP + 1))
	printf '\n%s== %d. %s%s\n' "$B" "$STEP" "$*" "$N"
}
# show CMD...: print the command, run it, indent its output
show() {
	printf '$ %s\n' "$*"
	"$@" 2>&1 | sed 's/^/  /'
	return "${PIPESTATUS[0]}"
}
good() { printf '  %sOK%s: %s\n' "$G" "$N" "$*"; }
bad() { printf '  %sFAILED%s: %s\n' "$R" "$N" "$*"; FAILED=$((FAILED + 1)); }
expect_ok() { local d=$1; shift; if "$@"; then good "$d"; else bad "$d"; fi; }
expect_fail() { local d=$1; shift; if "$@"; then bad "$d"; else good "$d"; fi; }
# Stop on a failure that later steps depend on.
must() { [ "$FAILED" = 0 ] || { echo; echo "demo stopped: $FAILED step(s) failed"; exit 1; }; }

echo "cmek demo: customer-managed encryption keys for a block device"
echo "(key directory $LC_KEYS, daemon socket $CMEK_SOCKET)"

step "Start the key daemon cmekd"
expect_ok "cmekd answers" lc_daemon_start
must

step "Create a key-encryption key (KEK) with the local provider"
expect_ok "KEK 'demo-kek' created" show "$CMEKCTL" kek create demo-kek
show "$CMEKCTL" kek list
must

step "Format a 64 MiB RAM disk as a cmek volume"
expect_ok "RAM disk /dev/ram0" lc_ramdisks 1 64
expect_ok "formatted: a random data key, wrapped by demo-kek" \
	show "$CMEKCTL" format /dev/ram0 --provider local --key demo-kek
show "$CMEKCTL" dump /dev/ram0
must

step "Open it: cmekd unwraps the data key and pushes it into the kernel"
expect_ok "/dev/mapper/demo created" show "$CMEKCTL" open /dev/ram0 demo
expect_ok "the key is not in the device-mapper table" \
	eval '! dmsetup table --showkeys demo | grep -Eq "[0-9a-f]{64}"'
show dmsetup table demo
must

step "Make a filesystem and write files"
expect_ok "mkfs.ext4 and mount" eval 'mkfs.ext4 -q -F /dev/mapper/demo && mount /dev/mapper/demo "$MNT"'
expect_ok "files written" lc_write_files "$MNT" 4
show ls -l "$MNT"
expect_ok "the RAM disk holds only ciphertext" \
	eval '! dd if=/dev/ram0 bs=1M count=64 2>/dev/null | grep -qa "lost+found"'
umount "$MNT"
must

step "Status"
expect_ok "status shows the volume with its key present" \
	eval 'show "$CMEKCTL" status && "$CMEKCTL" status demo --json | jq -e ".volumes[0].state == \"present\"" >/dev/null'

step "Revoke the key: it is wiped from the kernel at once"
expect_ok "revoked" show "$CMEKCTL" revoke demo
expect_fail "reading the device now fails" show dd if=/dev/mapper/demo of=/dev/null bs=4096 count=1 iflag=direct
expect_fail "mounting it fails" mount -o ro /dev/mapper/demo "$MNT" 2>/dev/null
show "$CMEKCTL" status
must

step "Open it again: the key comes back from the KEK, and so do the files"
show "$CMEKCTL" close demo
expect_ok "reopened" show "$CMEKCTL" open /dev/ram0 demo
expect_ok "files are back, byte for byte" eval 'mount /dev/mapper/demo "$MNT" && lc_check_files "$MNT"'
show ls -l "$MNT"
umount "$MNT"
must

step "Shred: revoke and destroy every wrapped copy of the data key"
expect_ok "shredded" show "$CMEKCTL" shred demo --yes
[ -b /dev/mapper/demo ] && show "$CMEKCTL" close demo
expect_fail "opening fails, even with the KEK" show "$CMEKCTL" open /dev/ram0 demo
expect_ok "the header has no key slot left" \
	eval 'show "$CMEKCTL" dump /dev/ram0 && [ "$("$CMEKCTL" dump /dev/ram0 --json | jq .active_slots)" = 0 ]'

echo
if [ "$FAILED" = 0 ]; then
	echo "demo complete: every step behaved as described"
	exit 0
fi
echo "demo FAILED: $FAILED step(s) misbehaved"
exit 1
