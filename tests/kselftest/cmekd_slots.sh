#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Key slots and redundancy (KTAP): one volume's data key wrapped under
# several KMS keys, here three local KEKs standing for three KMS keys.
#   - cmekctl slot add / list / remove, through cmekd; malformed slot
#     commands fail with a clear message and leave the header bytes as they
#     were; the last active slot cannot be removed; a removed slot's
#     wrapped key is gone from both header copies;
#   - open tries the slots in order: a slot whose KEK the provider refuses
#     for a non-definitive reason (bad file mode) is skipped; under the
#     default slot_policy any, a disabled or deleted KEK of any slot refuses
#     the open;
#   - the watch asks each KEK once per interval however many slots of
#     however many volumes use it; slot_policy any locks a mapped volume as
#     soon as one slot's KEK is disabled and unlocks it when it is back;
#     slot_policy all keeps it running until every slot's KEK is disabled;
#     under "all" a volume whose first KEK is deleted opens through slot 1.
# Runs in the VM as root with dm-cmek loaded:
#     tests/vm/run -- tests/kselftest/cmekd_slots.sh
# CMEKD, CMEKCTL and CMEKD_CALL override the programs under build/.
#
# Every check can fail; nothing is skipped silently.

set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib/ktap.sh"
. "$TOP/tests/kselftest/cmekd_lib.sh"
cmekd_test_init cmekd_slots
LOOPS=

cleanup() {
	local m l
	for m in cs1 cs2; do
		dmsetup --noudevsync remove "$m" >/dev/null 2>&1
	done
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	for l in $LOOPS; do losetup -d "$l" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

# conf POLICY INTERVAL: write the config (POLICY "" = the default)
conf() {
	daemon_conf "check_interval=$2" log_level=debug ${1:+"slot_policy=$1"}
}

same_data() {
	[ "$(dd if="$1" bs=1M count=1 iflag=direct 2>/dev/null | sha256sum)" = "$SUM" ]
}
locked() { not can_read "$1" && [ "$(kstate "$2")" != present ]; }

# Header bytes: both copies (the first 1 MiB + 64 KiB).
hdr_sum() { dd if="$1" bs=64K count=17 2>/dev/null | sha256sum; }
unchanged() { [ "$(hdr_sum "$1")" = "$2" ]; }
# copy_hex DEV COPY: one 64 KiB header copy as hex, one line
copy_hex() { dd if="$1" bs=64K skip=$(($2 * 16)) count=1 2>/dev/null | xxd -p | tr -d '\n'; }
# slot_bytes DEV COPY SLOT OFF LEN: bytes of a key slot (7168 bytes at 256)
slot_bytes() {
	dd if="$1" iflag=skip_bytes,count_bytes bs=8K \
		skip=$(($2 * 1048576 + 256 + $3 * 7168 + $4)) count="$5" 2>/dev/null
}
slot_zero() { [ "$(slot_bytes "$1" "$2" "$3" 0 7168 | tr -d '\0' | wc -c)" = 0 ]; }
# in_copy DEV COPY HEX: the bytes HEX (as xxd -p prints them) are in the copy
in_copy() { copy_hex "$1" "$2" | grep -q "$3"; }

ktap_plan 40

modprobe loop 2>/dev/null
for i in 0 1; do
	truncate -s 64M "$T/disk$i"
	L=$(losetup -f --show "$T/disk$i")
	LOOPS="$LOOPS $L"
done
set -- $LOOPS
D0=$1
D1=$2
mkkek k1 && mkkek k2 && mkkek k3
conf "" off
ktap_check "cmekd starts (slot_policy not set: the default)" start
run ping1 $CALL "$SOCK" '{"op":"ping"}'
ktap_check "ping reports slot_policy any" jq_ok ping1 '.slot_policy == "any"'

# --- format, data, slot add -----------------------------------------------------
run fmt "$CMEKCTL" format "$D0" --provider local --key k1
run dump0 "$CMEKCTL" dump "$D0" --json
U=$(jf dump0 .uuid)
run open0 "$CMEKCTL" open "$D0" cs1
head -c 1M /dev/urandom >"$T/data"
SUM=$(sha256sum <"$T/data")
dd if="$T/data" of=/dev/mapper/cs1 bs=1M oflag=direct 2>/dev/null
ktap_check "format $D0 under k1, open, write 1 MiB" \
	eval 'rc_is fmt 0 && rc_is open0 0 && same_data /dev/mapper/cs1'
run close0 "$CMEKCTL" close cs1

run add1 "$CMEKCTL" slot add "$D0" --provider local --key k2 --json
ktap_check "slot add k2: slot 1, data key unwrapped from slot 0" \
	eval 'rc_is add1 0 && jq_ok add1 ".slot == 1 and .from_slot == 0 and .active_slots == 2 and .uuid == \"$U\""'
run add2 "$CMEKCTL" slot add "$D0" --key k3
ktap_check "slot add k3 (local provider by default): slot 2" \
	eval 'rc_is add2 0 && out_has add2 "added key slot 2 (local:k3)"'
run list1 "$CMEKCTL" slot list "$D0" --json
ktap_check "slot list: slots 0 1 2 active under k1 k2 k3" \
	test "$(jf list1 '[.slots[] | "\(.slot):\(.state):\(.provider):\(.key)"] | join(" ")')" = \
	     "0:active:local:k1 1:active:local:k2 2:active:local:k3"
ktap_check "the wrapped keys differ from slot to slot" \
	test "$(for s in 0 1 2; do slot_bytes "$D0" 0 $s 1072 93 | sha256sum; done | sort -u | wc -l)" = 3

# --- malformed slot commands: a clear error, not one header byte changed ----------
H0=$(hdr_sum "$D0")
run bad1 "$CMEKCTL" slot add "$D0" --provider nosuchkms --key k2
ktap_check "slot add with an unknown provider: names it, header unchanged" \
	eval 'rc_is bad1 1 && err_has bad1 "unknown provider .nosuchkms." && unchanged "$D0" "$H0"'
run bad2 "$CMEKCTL" slot add "$D0" --provider local
ktap_check "slot add without --key: usage error, header unchanged" \
	eval 'rc_is bad2 2 && err_has bad2 "missing --key" && unchanged "$D0" "$H0"'
run bad3 "$CMEKCTL" slot add "$D0" --key k9
ktap_check "slot add under a KEK that does not exist: names it, header unchanged" \
	eval 'rc_is bad3 1 && err_has bad3 "local:k9: KEK .k9. not found" && unchanged "$D0" "$H0"'
run bad4 "$CMEKCTL" slot add "$D0" --key k2
ktap_check "slot add of a key that already has a slot: refused, header unchanged" \
	eval 'rc_is bad4 1 && err_has bad4 "slot 1 already wraps" && unchanged "$D0" "$H0"'
run bad5 "$CMEKCTL" slot remove "$D0" 9
run bad6 "$CMEKCTL" slot remove "$D0" one
ktap_check "slot remove with a bad index (9, 'one'): usage error, header unchanged" \
	eval 'rc_is bad5 2 && rc_is bad6 2 && err_has bad5 "invalid slot .9." &&
	      err_has bad6 "invalid slot .one." && unchanged "$D0" "$H0"'
run bad7 "$CMEKCTL" slot remove "$D0" 5
ktap_check "slot remove of an empty slot: refused, header unchanged" \
	eval 'rc_is bad7 1 && err_has bad7 "slot 5 is empty" && unchanged "$D0" "$H0"'
run bad8 $CALL "$SOCK" '{"op":"slot_remove","device":"'"$D0"'","slot":-1}'
run bad9 $CALL "$SOCK" '{"op":"slot_remove","device":"'"$D0"'","slot":"x"}'
ktap_check "cmekd itself refuses slot -1 and \"x\" (EINVAL), header unchanged" \
	eval 'jq_ok bad8 ".errno == 22" && jq_ok bad9 ".errno == 22" && unchanged "$D0" "$H0"'
run fmt1 "$CMEKCTL" format "$D1" --key k1
H1=$(hdr_sum "$D1")
run last "$CMEKCTL" slot remove "$D1" 0
ktap_check "slot remove refuses the last active slot, header unchanged" \
	eval 'rc_is fmt1 0 && rc_is last 1 && err_has last "last active key slot" && unchanged "$D1" "$H1"'

# --- open: the slots in order ---------------------------------------------------
chmod 644 "$T/keys/k1.kek"	# the local provider refuses it: not definitive
run open1 "$CMEKCTL" open "$D0" cs1
run st1 $CALL "$SOCK" '{"op":"status","name":"cs1"}'
ktap_check "k1's file unusable (mode 644): open goes on to slot 1, data intact" \
	eval 'rc_is open1 0 && jq_ok st1 ".volumes[0] | .slot == 1 and .key == \"k2\"" && same_data /dev/mapper/cs1'
run close1 "$CMEKCTL" close cs1
chmod 600 "$T/keys/k1.kek"

disable k2
run open2 "$CMEKCTL" open "$D0" cs1
ktap_check "slot_policy any: k2 (slot 1) disabled refuses the open, says why" \
	eval 'rc_is open2 1 && err_has open2 "slot 1 (local:k2): KMS key is disabled" && err_has open2 "slot_policy any"'
ktap_check "... no mapping was made and no key is in the kernel" \
	eval '! dmsetup info cs1 >/dev/null 2>&1 && [ "$(kstate "$U")" != present ]'
enable k2
mv "$T/keys/k1.kek" "$T/k1.saved"
run open3 "$CMEKCTL" open "$D0" cs1
ktap_check "slot_policy any: k1 (slot 0) deleted refuses the open, slot 1 not tried" \
	eval 'rc_is open3 1 && err_has open3 "slot 0 (local:k1)" && ! err_has open3 "slot 1 (local:k2)" &&
	      ! dmsetup info cs1 >/dev/null 2>&1'
mv "$T/k1.saved" "$T/keys/k1.kek"

# --- slot remove: the wrapped key leaves both copies ----------------------------
W2=$(slot_bytes "$D0" 0 2 1072 93 | xxd -p | tr -d '\n')
ktap_check "slot 2's wrapped key is in both header copies before the remove" \
	eval '[ ${#W2} = 186 ] && in_copy "$D0" 0 "$W2" && in_copy "$D0" 1 "$W2"'
run rm2 "$CMEKCTL" slot remove "$D0" 2 --json
ktap_check "slot remove $D0 2" eval 'rc_is rm2 0 && jq_ok rm2 ".slot == 2 and .active_slots == 2"'
ktap_check "slot 2's wrapped key is in neither copy, the slot is zeroes in both" \
	eval '! in_copy "$D0" 0 "$W2" && ! in_copy "$D0" 1 "$W2" && slot_zero "$D0" 0 2 && slot_zero "$D0" 1 2'
run dump2 "$CMEKCTL" dump "$D0" --json
ktap_check "dump: 2 active slots (k1, k2), both copies valid at the new sequence" \
	test "$(jf dump2 '"\(.active_slots) \([.slots[].key] | join(",")) \([.copies[] | "\(.valid):\(.seq)"] | join(","))"')" = \
	     "2 k1,k2 true:$(jf dump2 .seq),true:$(jf dump2 .seq)"

# --- the watch, slot_policy any -------------------------------------------------
stop
conf "" 1s
ktap_check "cmekd restarts with check_interval 1s" start
run open4 "$CMEKCTL" open "$D0" cs1
run open5 "$CMEKCTL" open "$D1" cs2
ktap_check "open $D0 (slots k1, k2) as cs1 and $D1 (k1) as cs2" \
	eval 'rc_is open4 0 && rc_is open5 0 && same_data /dev/mapper/cs1'
U1=$(jq -r .uuid < <("$CMEKCTL" dump "$D1" --json))
N0=$(wc -l <"$T/log")
sleep 3.5
tail -n +$((N0 + 1)) "$T/log" >"$T/log.watch"
TICKS=$(grep -c 'watch: tick, 2 known volumes' "$T/log.watch")
A1=$(grep -c 'key state local:k1 = enabled' "$T/log.watch")
A2=$(grep -c 'key state local:k2 = enabled' "$T/log.watch")
# The snapshot may end between a tick and its asks: ticks - 1 <= asks <= ticks.
ktap_check "one key_state call per KEK per interval: k1 (slots of 2 volumes) $A1, k2 $A2, ticks $TICKS" \
	sh -c "[ $TICKS -ge 2 ] && [ $A1 -le $TICKS ] && [ $A1 -ge $((TICKS - 1)) ] && [ $A2 -le $TICKS ] && [ $A2 -ge $((TICKS - 1)) ]"

t0=$(now_ms)
disable k2
wait_until 10 locked /dev/mapper/cs1 "$U"
rc=$?
LOCK_MS=$(($(now_ms) - t0))
ktap_check "k2 disabled: cs1 locks by itself though slot 0 is fine ($LOCK_MS ms; I/O fails, key gone from the kernel)" \
	test $rc = 0
ktap_check "... cs2, which uses only k1, keeps working" can_read /dev/mapper/cs2
run st2 $CALL "$SOCK" '{"op":"status","name":"cs1"}'
ktap_check "status: locked by slot 1 (local:k2), per-slot kms_state enabled/disabled" \
	jq_ok st2 '.volumes[0] | .locked and (.lock_reason | contains("slot 1 (local:k2): KMS key is disabled")) and ([.slots[].kms_state] == ["enabled", "disabled"])'
run list2 "$CMEKCTL" slot list "$D0" --json
ktap_check "slot list shows what the watch saw of each slot" \
	test "$(jf list2 '[.slots[] | "\(.slot):\(.kms_state):\(.verdict)"] | join(" ")')" = "0:enabled:ok 1:disabled:bad"
t0=$(now_ms)
enable k2
wait_until 10 can_read /dev/mapper/cs1
rc=$?
UNLOCK_MS=$(($(now_ms) - t0))
ktap_check "k2 enabled again: cs1 unlocks by itself ($UNLOCK_MS ms), data intact" \
	eval '[ $rc = 0 ] && same_data /dev/mapper/cs1'

# --- slot_policy all ----------------------------------------------------------------
stop
conf all 1s
start
run ping2 $CALL "$SOCK" '{"op":"ping"}'
ktap_check "cmekd restarted with slot_policy all, knows cs1 and cs2" \
	jq_ok ping2 '.slot_policy == "all" and .volumes == 2'
disable k2
sleep 3
run st3 $CALL "$SOCK" '{"op":"status","name":"cs1"}'
ktap_check "k2 disabled: cs1 keeps running (3 s, not locked, slot 1 seen disabled)" \
	eval 'jq_ok st3 ".volumes[0] | (.locked | not) and .slots[1].kms_state == \"disabled\"" && same_data /dev/mapper/cs1'
t0=$(now_ms)
disable k1
wait_until 10 locked /dev/mapper/cs1 "$U"
rc=$?
ALL_MS=$(($(now_ms) - t0))
ktap_check "k1 disabled too: cs1 locks ($ALL_MS ms)" test $rc = 0
ktap_check "... and cs2 (k1 only) with it" wait_until 5 locked /dev/mapper/cs2 "$U1"
enable k1
ktap_check "k1 enabled again (k2 still disabled): both unlock, cs1 through slot 0" \
	eval 'wait_until 10 can_read /dev/mapper/cs2 && wait_until 5 same_data /dev/mapper/cs1'
enable k2
mv "$T/keys/k1.kek" "$T/k1.saved"
run close2 "$CMEKCTL" close cs1
run open6 "$CMEKCTL" open "$D0" cs1
run st4 $CALL "$SOCK" '{"op":"status","name":"cs1"}'
ktap_check "slot_policy all: k1 deleted, cs1 reopens through slot 1 (k2), data intact" \
	eval 'rc_is open6 0 && jq_ok st4 ".volumes[0] | .slot == 1 and .key == \"k2\"" && same_data /dev/mapper/cs1'
run add3 "$CMEKCTL" slot add "$D0" --key k3 --json
ktap_check "slot add with k1 deleted: the data key comes from slot 1" \
	eval 'rc_is add3 0 && jq_ok add3 ".slot == 2 and .from_slot == 1"'
mv "$T/k1.saved" "$T/keys/k1.kek"

# --- the audit trail --------------------------------------------------------------
ktap_check "audit: slot-add and slot-remove lines with uuid, key and slot" \
	sh -c "grep -q 'audit: op=slot-add uuid=$U name=- provider=local key=k2 result=ok.* slot=1 from_slot=0' '$T/log' &&
	       grep -q 'audit: op=slot-remove uuid=$U name=- provider=- key=- result=ok.* slot=2 was=local:k3' '$T/log' &&
	       grep -q 'audit: op=lock uuid=$U name=cs1 .*slot_policy=any' '$T/log'"
ktap_check "no key-sized hex string in the log" \
	sh -c "! grep -Eiq '[0-9a-f]{32}' '$T/log'"

ktap_diag "lock after disabling one slot's KEK (any, check_interval 1s): $LOCK_MS ms; unlock $UNLOCK_MS ms; lock after disabling the last (all): $ALL_MS ms"
"$CMEKCTL" close cs1 >/dev/null 2>&1
"$CMEKCTL" close cs2 >/dev/null 2>&1
if [ "$KTAP_FAILED" -ne 0 ]; then
	ktap_diag "cmekd log (tail):"
	tail -60 "$T/log" | sed 's/^/# /'
fi
ktap_finish
