#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# cmekd with a full disk under its state directory (KTAP): operations go on
# (the key is in the kernel, the mapping works), the failure to save is
# logged, the last good state file stays intact (written to a temporary
# file and renamed), the next save after space returns succeeds, and a
# restart recovers the volume it could not record (adopted from the
# kernel's mapping and the device's header).
# Runs in the VM as root with dm-cmek loaded:
#     tests/vm/run -- tests/kselftest/cmekd_diskfull.sh
#
# Every check can fail; nothing is skipped silently.

set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib/ktap.sh"
. "$TOP/tests/kselftest/cmekd_lib.sh"
cmekd_test_init cmekd_diskfull
LOOPS=

cleanup() {
	dmsetup --noudevsync remove cf1 >/dev/null 2>&1
	dmsetup --noudevsync remove cf2 >/dev/null 2>&1
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	for l in $LOOPS; do losetup -d "$l" 2>/dev/null; done
	umount "$T/state" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

state_has() { jq -e --arg n "$1" '[.volumes[] | (.name // .dm_name)] | index($n) != null' "$T/state/volumes" >/dev/null 2>&1; }
known() { "$CMEKCTL" status --json 2>/dev/null | jq -e --arg n "$1" '[.volumes[] | select(.name == $n)] | length == 1' >/dev/null; }

ktap_plan 9

modprobe loop 2>/dev/null
mount -t tmpfs -o size=64k,mode=0700 cmek-state "$T/state"
for i in 1 2; do
	truncate -s 32M "$T/disk$i"
	LOOPS="$LOOPS $(losetup -f --show "$T/disk$i")"
done
set -- $LOOPS
mkkek k1
daemon_conf check_interval=off
ktap_check "cmekd starts with its state on a 64 KiB tmpfs" start

run f1 "$CMEKCTL" format "$1" --provider local --key k1
run o1 "$CMEKCTL" open "$1" cf1
ktap_check "cf1 opened and recorded in the state file" \
	eval 'rc_is f1 0 && rc_is o1 0 && can_read /dev/mapper/cf1 && state_has cf1'
cp "$T/state/volumes" "$T/state.before"

# Fill the file system to the last block.
dd if=/dev/zero of="$T/state/fill" bs=4k 2>/dev/null
run f2 "$CMEKCTL" format "$2" --provider local --key k1
run o2 "$CMEKCTL" open "$2" cf2
ktap_check "disk full: format and open of cf2 still succeed, cf2 readable" \
	eval 'rc_is f2 0 && rc_is o2 0 && can_read /dev/mapper/cf2'
ktap_check "the failed save is logged with the reason" \
	grep -q "cannot save state to $T/state/volumes: No space left on device" "$T/log"
ktap_check "the last good state file is intact (no cf2, valid JSON, same bytes)" \
	eval 'cmp -s "$T/state/volumes" "$T/state.before" && ! state_has cf2 && [ ! -e "$T/state/volumes.tmp" ]'
ktap_check "cmekd still answers and knows both volumes" \
	eval 'known cf1 && known cf2'

# Space back: the next change is saved.
rm -f "$T/state/fill"
run r1 "$CMEKCTL" revoke cf1
ktap_check "space back: the next change (revoke cf1) saves both volumes" \
	eval 'rc_is r1 0 && state_has cf1 && state_has cf2'

# Had cmekd stopped while the disk was full, its state file would lack
# cf2: put that file back and restart; cf2 is adopted from the kernel.
stop
cp "$T/state.before" "$T/state/volumes"
ktap_check "cmekd restarts on the stale state file" start
ktap_check "it adopts cf2 from the mapping and header; cf2 still readable" \
	eval 'wait_until 10 known cf2 && can_read /dev/mapper/cf2 && grep -q "audit: op=adopt .*name=cf2" "$T/log"'
ktap_finish
