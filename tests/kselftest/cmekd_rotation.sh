#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Key rotation (KTAP), with local KEKs standing for KMS keys:
#   - cmekctl rekey-kek moves an open volume to another key online: the
#     mapping keeps working, the header names the new key, and the volume
#     opens with the old key gone; without --key it is a usage error;
#   - rewrap_interval: cmekd rewraps each volume by itself once per
#     interval (the header moves on, the data key does not), not while the
#     volume is locked, and resumes after; bad values are refused.
# Runs in the VM as root with dm-cmek loaded:
#     tests/vm/run -- tests/kselftest/cmekd_rotation.sh
#
# Every check can fail; nothing is skipped silently.

set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib/ktap.sh"
. "$TOP/tests/kselftest/cmekd_lib.sh"
cmekd_test_init cmekd_rotation
LOOP=

cleanup() {
	dmsetup --noudevsync remove cr1 >/dev/null 2>&1
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	[ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

# conf REWRAP_INTERVAL
conf() {
	daemon_conf check_interval=1s log_level=debug "rewrap_interval=$1"
}

same_data() {
	[ "$(dd if="$1" bs=1M count=1 iflag=direct 2>/dev/null | sha256sum)" = "$SUM" ]
}
seq_of() { "$CMEKCTL" dump "$LOOP" --json 2>/dev/null | jq -r .seq; }
seq_above() { [ "$(seq_of)" -gt "$1" ]; }
slot0_key() { "$CMEKCTL" dump "$LOOP" --json 2>/dev/null | jq -r '.slots[0].key'; }
rewraps() { grep -c "automatic rewrap of 1 key slot" "$T/log"; }

ktap_plan 15

modprobe loop 2>/dev/null
truncate -s 64M "$T/disk"
LOOP=$(losetup -f --show "$T/disk")
mkkek k1 && mkkek k2

# --- config ------------------------------------------------------------------
conf 0
run cc0 "$CMEKD" -c "$T/cmekd.conf" --check-config
conf soon
run cc1 "$CMEKD" -c "$T/cmekd.conf" --check-config
ktap_check "rewrap_interval 0 and 'soon' refused with the line and the key" \
	eval 'rc_is cc0 1 && rc_is cc1 1 && err_has cc0 "cmekd.conf:$(grep -n "^rewrap_interval" "$T/cmekd.conf" | cut -d: -f1): rewrap_interval .0. is not a duration" && err_has cc1 "rewrap_interval .soon."'

# --- rekey-kek -----------------------------------------------------------------
conf 3s
ktap_check "cmekd starts with rewrap_interval = 3s" start
run fmt "$CMEKCTL" format "$LOOP" --provider local --key k1
run open "$CMEKCTL" open "$LOOP" cr1
head -c 1M /dev/urandom >"$T/data"
SUM=$(sha256sum <"$T/data")
dd if="$T/data" of=/dev/mapper/cr1 bs=1M oflag=direct 2>/dev/null
ktap_check "format under k1, open cr1, write 1 MiB" \
	eval 'rc_is fmt 0 && rc_is open 0 && same_data /dev/mapper/cr1'

run rk0 "$CMEKCTL" rekey-kek cr1
ktap_check "rekey-kek without --key: usage error naming --key" \
	eval 'rc_is rk0 2 && err_has rk0 "give the new KMS key with --key"'
S0=$(seq_of)
run rk1 "$CMEKCTL" rekey-kek cr1 --key k2
ktap_check "rekey-kek cr1 --key k2: header names k2, sequence moved on" \
	eval 'rc_is rk1 0 && out_has rk1 "rewrapped under local:k2" && [ "$(slot0_key)" = k2 ] && seq_above "$S0"'
ktap_check "the mapping kept working through it" same_data /dev/mapper/cr1
ktap_check "audit line for the move" \
	grep -q "audit: op=rewrap .*name=cr1 provider=local key=k2 result=ok.*from=local:k1" "$T/log"

run close "$CMEKCTL" close cr1
rm -f "$T/keys/k1.kek"
run open2 "$CMEKCTL" open "$LOOP" cr1
ktap_check "with k1 deleted the volume opens under k2, same data" \
	eval 'rc_is close 0 && rc_is open2 0 && same_data /dev/mapper/cr1'

# --- automatic rewrap ---------------------------------------------------------------
S1=$(seq_of)
W1=$("$CMEKCTL" dump "$LOOP" --json | jq -c '.slots[0]')
ktap_check "cmekd rewraps cr1 by itself within 2 intervals" \
	wait_until 8 seq_above "$S1"
ktap_check "log and audit say so; the slot stays under k2" \
	eval '[ "$(rewraps)" -ge 1 ] && grep -q "audit: op=rewrap .*name=cr1 provider=local key=k2 result=ok slot=0 from=local:k2" "$T/log" && [ "$(slot0_key)" = k2 ]'
ktap_check "the data key did not change: data still reads back" \
	same_data /dev/mapper/cr1
run st "$CMEKCTL" status cr1 --json
ktap_check "status shows the next rewrap in the future" \
	eval 'jq -e ".volumes[0].next_rewrap > $(date +%s) - 1" <"$T/st.out" >/dev/null'

# Locked: no rewrap (it would fail, and it is not wanted).
disable k2
ktap_check "k2 disabled: the watch locks cr1" \
	wait_until 10 eval 'not can_read /dev/mapper/cr1'
N=$(rewraps)
S2=$(seq_of)
sleep 7
ktap_check "no automatic rewrap while locked (7 s, interval 3 s)" \
	eval '[ "$(rewraps)" = "$N" ] && [ "$(seq_of)" = "$S2" ]'
enable k2
ktap_check "k2 back: unlocked, then rewrapped again" \
	eval 'wait_until 10 can_read /dev/mapper/cr1 && wait_until 10 seq_above "$S2" && same_data /dev/mapper/cr1'

ktap_finish
