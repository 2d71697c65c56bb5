#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Crash consistency of the volume header (KTAP), by power cuts after every
# write: the header device sits under dm-log-writes while cmekd formats it,
# adds two key slots, rewraps and removes a slot; the log is then replayed
# onto a blank device one entry at a time, and after every logged write
# the replayed device must hold the key slots of the state before the
# operation or after it, never neither, with the data key unwrapping to
# the same bytes (for format: no header yet, or the new one).
# Runs in the VM as root with dm-cmek and dm-log-writes loaded:
#     tests/vm/run -- tests/kselftest/header_crash.sh
#
# Every check can fail; nothing is skipped silently.

set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib/ktap.sh"
. "$TOP/tests/kselftest/cmekd_lib.sh"
REPLAY=$TOP/build/helpers/replay_log
UNWRAP=$TOP/build/helpers/cmek_unwrap
cmekd_test_init header_crash
LOOPS=

cleanup() {
	dmsetup --noudevsync remove hc1 >/dev/null 2>&1
	dmsetup --noudevsync remove hclw >/dev/null 2>&1
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	for l in $LOOPS; do losetup -d "$l" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

# slots DEV: "SLOT:PROVIDER:KEY ..." of the valid header, "none" if there
# is no cmek header, "error" if dump fails otherwise.
slots() {
	local out rc
	out=$("$CMEKCTL" dump "$1" --json 2>"$T/dump.err")
	rc=$?
	if [ $rc != 0 ]; then
		grep -q "no cmek header" "$T/dump.err" && echo none || echo error
		return
	fi
	echo "$out" | jq -r '[.slots[] | select(.state == "active") | "\(.slot):\(.provider):\(.key)"] | join(" ")'
}

ktap_plan 8

modprobe loop 2>/dev/null
for f in data log replay; do
	truncate -s "$([ $f = log ] && echo 128M || echo 32M)" "$T/$f"
	LOOPS="$LOOPS $(losetup -f --show "$T/$f")"
done
set -- $LOOPS
DATA=$1
LOG=$2
RPL=$3
mkkek k1 && mkkek k2 && mkkek k3
daemon_conf check_interval=off

dmsetup --noudevsync create hclw --table \
	"0 $(blockdev --getsz "$DATA") log-writes $DATA $LOG" &&
LW=/dev/dm-$(dmsetup info -c --noheadings -o minor hclw | tr -d ' ')
ktap_check "dm-log-writes over the header device ($LW), cmekd starts" \
	eval '[ -b "$LW" ] && start'

# Each operation, then a mark; SETS[k] is the slot list after operation k.
SETS=(none)
OPS=(start)
op() {
	local name=$1
	shift
	"$@" >"$T/op.out" 2>&1 || { cat "$T/op.out"; return 1; }
	dmsetup message hclw 0 mark "$name" || return 1
	SETS+=("$(slots "$LW")")
	OPS+=("$name")
}
dmsetup message hclw 0 mark start
ok=0
op format "$CMEKCTL" format "$LW" --provider local --key k1 &&
	DEK=$("$UNWRAP" "$LW" | cut -d' ' -f1) &&
	"$CMEKCTL" open "$LW" hc1 >/dev/null &&
	op slot-add-k2 "$CMEKCTL" slot add "$LW" --key k2 &&
	op slot-add-k3 "$CMEKCTL" slot add "$LW" --key k3 &&
	op rewrap "$CMEKCTL" rewrap hc1 &&
	op slot-remove-1 "$CMEKCTL" slot remove "$LW" 1 && ok=1
"$CMEKCTL" close hc1 >/dev/null 2>&1
dmsetup --noudevsync remove hclw
ktap_check "format, slot add k2, slot add k3, rewrap, slot remove 1 under the log: ${SETS[*]:1}" \
	eval '[ $ok = 1 ] && [ "${SETS[5]}" = "0:local:k1 2:local:k3" ] && [ ${#DEK} = 128 ]'

"$REPLAY" "$LOG" --list >"$T/list" 2>"$T/list.err"
N=$(sed -n 's/^entries \([0-9]*\) .*/\1/p' "$T/list")
ktap_check "the log holds $N entries, $(grep -c ' W' "$T/list") of them writes" \
	test "${N:-0}" -gt 10

# Replay the log onto the blank device and judge it after each write of
# operation k (between marks k-1 and k) against SETS[k-1], SETS[k] and the
# data key. One process does it all: a cmekctl, jq and cmek_unwrap per
# write cost minutes in the emulated guest. The expect file holds the DEK,
# so only root may read it ($T is 0700, and the umask covers the file).
(umask 077 && printf '%s\n' "${DEK:-}" "${SETS[@]}" >"$T/expect")
"$REPLAY" "$LOG" "$RPL" --judge "$T/expect" >"$T/judge" 2>"$T/judge.err"
rc=$?
declare -A writes bad
while read -r _ k _ n _ m why; do
	writes[$k]=$n
	[ "$m" = 0 ] || bad[$k]="$m bad, the first at $why"
done <"$T/judge"
rm -f "$T/expect"
while read -r line; do ktap_diag "$line"; done <"$T/judge.err"
# A failure with no bad state reported (and so no summaries): the replay
# itself failed.
[ $rc = 0 ] || [ ${#bad[@]} -gt 0 ] || bad[replay]=1

for k in 1 2 3 4; do
	ktap_check "${OPS[$k]}: each of ${writes[$k]:-0} power cuts leaves '${SETS[$((k - 1))]}' or '${SETS[$k]}', key intact${bad[$k]:+: ${bad[$k]}}" \
		eval '[ "${writes[$k]:-0}" -gt 0 ] && [ -z "${bad[$k]:-}" ] && [ -z "${bad[replay]:-}" ]'
done
k=5
ktap_check "${OPS[5]}: each of ${writes[5]:-0} power cuts leaves '${SETS[4]}' or '${SETS[5]}'${bad[5]:+: ${bad[5]}}; the full replay equals the device" \
	eval '[ "${writes[5]:-0}" -gt 0 ] && [ -z "${bad[5]:-}" ] && [ "$(dd if=$RPL bs=1M count=2 2>/dev/null | sha256sum)" = "$(dd if=$DATA bs=1M count=2 2>/dev/null | sha256sum)" ]'
ktap_finish
