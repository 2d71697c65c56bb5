#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The whole life of cmek volumes with the local provider (KTAP), in the VM
# as root:  tests/vm/run -- tests/kselftest/lifecycle.sh
#
# kek create; format two brd disks under two KEKs; open; mkfs.ext4; write
# files; status/list; revoke (direct reads fail); close and open again
# (files back); wrong KEK refused; cmekd killed (volumes undisturbed,
# revoke without it); cmekd killed during open and during rewrap; no DEK
# left in cmekd's memory after a push; non-root refused; shred
# (open fails, dump shows no slot); plain dm-crypt with the DEK unwrapped
# by a test helper reads the data (escape hatch); a damaged header copy.

set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib/ktap.sh"
. "$TOP/tests/kselftest/lifecycle_lib.sh"
trap lc_cleanup EXIT

NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all"
MNT1=$LC_T/mnt1
MNT2=$LC_T/mnt2
mkdir -p "$MNT1" "$MNT2"

# check DESC COND-COMMAND...: ok if the command succeeds; on failure show
# the outputs of the last run named in $LAST.
LAST=
check() {
	local desc=$1
	shift
	if "$@"; then
		ktap_ok "$desc"
	else
		ktap_fail "$desc" "$( [ -n "$LAST" ] && { err "$LAST"; out "$LAST"; } | head -c 600)"
	fi
}
ok_run() { LAST=$1; run "$@"; [ "$(rc "$1")" = 0 ]; }
fail_run() { LAST=$1; run "$@"; [ "$(rc "$1")" != 0 ]; }
err_has() { grep -Eqi -- "$2" "$LC_T/$1.err"; }

ktap_plan 56

# 1-4: KEKs
check "kek create k1" ok_run kek1 "$CMEKCTL" kek create k1
check "kek create k2" ok_run kek2 "$CMEKCTL" kek create k2
check "KEK files are 0600 in the key directory" \
	test "$(stat -c %a "$LC_KEYS"/k1* 2>/dev/null | head -n1)" = 600
check "kek create refuses to overwrite k1" \
	eval 'fail_run kek1dup "$CMEKCTL" kek create k1 && err_has kek1dup "exist"'
check "kek list shows k1 and k2" \
	eval 'ok_run keklist "$CMEKCTL" kek list --json && grep -q k1 "$LC_T/keklist.out" && grep -q k2 "$LC_T/keklist.out"'

# 6: daemon + disks
check "brd RAM disks" lc_ramdisks 3 64
check "cmekd starts with the test config" lc_daemon_start

# format
check "format /dev/ram0 with local:k1" \
	ok_run fmt1 "$CMEKCTL" format /dev/ram0 --provider local --key k1
check "format /dev/ram1 with local:k2, 4096-byte sectors" \
	ok_run fmt2 "$CMEKCTL" format /dev/ram1 --provider local --key k2 --sector-size 4096
check "format refuses an existing cmek header without --force" \
	eval 'fail_run fmt1b "$CMEKCTL" format /dev/ram0 --provider local --key k2 && err_has fmt1b "force"'
ok_run dump1 "$CMEKCTL" dump /dev/ram0 --json
U1=$(jf dump1 .uuid)
check "dump --json: uuid and one local:k1 slot" \
	eval '[ -n "$U1" ] && [ "$U1" != null ] && [ "$(jq "[.. | objects | select(.provider? == \"local\" and .key? == \"k1\")] | length" <"$LC_T/dump1.out")" -ge 1 ]'

# open, mkfs, files
check "open /dev/ram0 as lc1" ok_run open1 "$CMEKCTL" open /dev/ram0 lc1
check "/dev/mapper/lc1 exists" test -b /dev/mapper/lc1
check "open /dev/ram1 as lc2" ok_run open2 "$CMEKCTL" open /dev/ram1 lc2
check "mkfs.ext4 + mount lc1, write files" \
	eval 'mkfs.ext4 -q -F /dev/mapper/lc1 && mount /dev/mapper/lc1 "$MNT1" && lc_write_files "$MNT1" 5'
check "mkfs.ext4 + mount lc2, write files" \
	eval 'mkfs.ext4 -q -F /dev/mapper/lc2 && mount /dev/mapper/lc2 "$MNT2" && lc_write_files "$MNT2" 3'
check "the ciphertext on /dev/ram0 is not the plaintext" \
	eval '! dd if=/dev/ram0 bs=1M count=64 2>/dev/null | grep -qa "lost+found"'

# status / list
check "status lc1 --json: present, local:k1, uuid" \
	eval 'ok_run st1 "$CMEKCTL" status lc1 --json && [ "$(jf st1 ".volumes[0].state")" = present ] && [ "$(jf st1 ".volumes[0].provider")" = local ] && [ "$(jf st1 ".volumes[0].uuid")" = "$U1" ]'
check "list --json: both volumes" \
	eval 'ok_run ls1 "$CMEKCTL" list --json && [ "$(jq "[.volumes[] | select(.name == \"lc1\" or .name == \"lc2\")] | length" <"$LC_T/ls1.out")" = 2 ]'
check "status (text) names lc1 and lc2" \
	eval 'ok_run st2 "$CMEKCTL" status && grep -q "^lc1 " "$LC_T/st2.out" && grep -q "^lc2 " "$LC_T/st2.out"'

# detached header: the device holds only data
check "format /dev/ram2 with a detached header file" \
	ok_run fmt3 "$CMEKCTL" format /dev/ram2 --provider local --key k1 --header "$LC_T/hdr3"
check "dump --header shows the volume; the device itself has no header" \
	eval 'ok_run dump3 "$CMEKCTL" dump /dev/ram2 --header "$LC_T/hdr3" --json && [ "$(jf dump3 .active_slots)" = 1 ] && fail_run dump3b "$CMEKCTL" dump /dev/ram2'
check "open with --header: data written reads back" \
	eval 'ok_run open3 "$CMEKCTL" open /dev/ram2 lc3 --header "$LC_T/hdr3" && head -c 1048576 /dev/urandom >"$LC_T/d3" && dd if="$LC_T/d3" of=/dev/mapper/lc3 bs=64k oflag=direct 2>/dev/null && cmp <(dd if=/dev/mapper/lc3 bs=64k count=16 iflag=direct 2>/dev/null) "$LC_T/d3" && ok_run close3 "$CMEKCTL" close lc3'

# rewrap: the slot is re-encrypted, the header sequence moves on
check "rewrap lc1: still one active local:k1 slot, header updated" \
	eval 'ok_run rw1 "$CMEKCTL" rewrap lc1 && ok_run dump1b "$CMEKCTL" dump /dev/ram0 --json && [ "$(jf dump1b .active_slots)" = 1 ] && [ "$(jf dump1b ".slots[0].key")" = k1 ] && [ "$(jf dump1b .seq)" -gt "$(jf dump1 .seq)" ]'
check "status of an unknown name fails clearly" \
	eval 'fail_run stx "$CMEKCTL" status nosuchvol && err_has stx "no volume .nosuchvol."'

# revoke lc1
umount "$MNT1"
check "revoke lc1" ok_run rev1 "$CMEKCTL" revoke lc1
check "after revoke, direct reads of lc1 fail" eval '! lc_can_read /dev/mapper/lc1'
check "after revoke, the kernel says revoked" \
	eval 'ok_run kg1 "$CMEKCTL" key get "$U1" --json && [ "$(jf kg1 .state)" = revoked ]'
check "lc2 is untouched by lc1's revoke" eval 'lc_can_read /dev/mapper/lc2 && lc_check_files "$MNT2"'

# open again
check "close lc1" ok_run close1 "$CMEKCTL" close lc1
check "open lc1 again" ok_run open1b "$CMEKCTL" open /dev/ram0 lc1
check "files on lc1 are back" eval 'mount /dev/mapper/lc1 "$MNT1" && lc_check_files "$MNT1"'
umount "$MNT1"

# The escape hatch: with the DEK unwrapped by a test helper, plain dm-crypt
# (aes-xts-plain64) reads what cmek wrote. The product never prints a DEK.
"$CMEKCTL" close lc1 >/dev/null 2>&1
read -r DEK OFF SS IVL < <("$TOP/build/helpers/cmek_unwrap" /dev/ram0 2>"$LC_T/unwrap.err")
check "test helper unwraps lc1's 64-byte DEK from the header with k1" \
	eval '[ ${#DEK} = 128 ] || { LAST=unwrap; false; }'
escape_open() {
	local opt=(sector_size:$SS)
	[ "$IVL" = 1 ] && opt+=(iv_large_sectors)
	dmsetup --noudevsync create lcesc --readonly --table \
		"0 $(( $(blockdev --getsz /dev/ram0) - OFF )) crypt aes-xts-plain64 $DEK 0 /dev/ram0 $OFF ${#opt[@]} ${opt[*]}" &&
	mount -o ro "/dev/dm-$(dmsetup info -c --noheadings -o minor lcesc)" "$MNT1" &&
	lc_check_files "$MNT1"
}
check "dm-crypt with that DEK reads lc1's files (data offset $OFF sectors)" escape_open
umount "$MNT1" 2>/dev/null
dmsetup --noudevsync remove lcesc >/dev/null 2>&1

# A damaged header copy: the other one is used, and the next update
# rewrites both.
dd if=/dev/urandom of=/dev/ram0 bs=512 seek=1 count=2 conv=notrunc status=none
check "damaged copy 0: dump says so and uses copy 1" \
	eval 'ok_run dumpc "$CMEKCTL" dump /dev/ram0 --json && [ "$(jf dumpc ".copies[0].valid")" = false ] && [ "$(jf dumpc ".copies[1].in_use")" = true ]'
check "lc1 opens from copy 1, files intact" \
	eval 'ok_run open1d "$CMEKCTL" open /dev/ram0 lc1 && mount /dev/mapper/lc1 "$MNT1" && lc_check_files "$MNT1"'
umount "$MNT1"
# cmekd unwrapped the DEK for that open and pushed it: no copy of either
# XTS half may remain anywhere in its memory (it is wiped right after the
# push). The scanner must find what is there: cmekd's socket path.
SOCKHEX=$(printf %s "$CMEK_SOCKET" | od -An -tx1 -v | tr -d ' \n')
check "cmekd's memory holds no copy of the DEK after the push" \
	eval '[ ${#DEK} = 128 ] && "$TOP/build/helpers/memscan" "$LC_PID" "$SOCKHEX" >/dev/null && ! "$TOP/build/helpers/memscan" "$LC_PID" "${DEK:0:64}" && ! "$TOP/build/helpers/memscan" "$LC_PID" "${DEK:64:64}"'
unset DEK
check "the next header update (rewrap) repairs copy 0" \
	eval 'ok_run rw1c "$CMEKCTL" rewrap lc1 && ok_run dumpd "$CMEKCTL" dump /dev/ram0 --json && [ "$(jf dumpd ".copies[0].valid")" = true ] && [ "$(jf dumpd ".copies[1].valid")" = true ]'

# wrong KEK: replace k2 by another key of the same name
umount "$MNT2"
"$CMEKCTL" close lc2 >/dev/null 2>&1
mkdir -p "$LC_T/k2.saved"
mv "$LC_KEYS"/k2* "$LC_T/k2.saved/"
"$CMEKCTL" kek create k2 >/dev/null 2>&1
check "open with the wrong KEK is refused" \
	eval 'fail_run wrong "$CMEKCTL" open /dev/ram1 lc2 && [ ! -b /dev/mapper/lc2 ]'
rm -f "$LC_KEYS"/k2*
mv "$LC_T/k2.saved"/* "$LC_KEYS/"
check "open with the right KEK works again, files intact" \
	eval 'ok_run open2b "$CMEKCTL" open /dev/ram1 lc2 && mount /dev/mapper/lc2 "$MNT2" && lc_check_files "$MNT2"'

# cmekd killed: volumes stay, revoke works without it
lc_daemon_kill KILL
check "cmekd killed: lc2 still serves I/O" eval 'lc_can_read /dev/mapper/lc2 && lc_check_files "$MNT2"'
umount "$MNT2"
check "revoke lc2 without cmekd" \
	eval 'ok_run rev2 "$CMEKCTL" revoke lc2 && err_has rev2 "not running" && ! lc_can_read /dev/mapper/lc2'
check "status works without cmekd" \
	eval 'ok_run st3 "$CMEKCTL" status --json && [ "$(jf st3 .daemon)" = "not running" ]'

# cmekd killed during open: afterwards either the open had completed (and
# the restarted cmekd keeps the key present), or nothing is left half-done
# and a new open works.
"$CMEKCTL" close lc1 >/dev/null 2>&1
lc_daemon_start
"$CMEKCTL" open /dev/ram0 lc1 >"$LC_T/killopen.out" 2>&1 &
OPID=$!
sleep 0.2
lc_daemon_kill KILL
wait $OPID
lc_daemon_start
killed_open_ok() {
	if [ -b /dev/mapper/lc1 ]; then
		ktap_diag "open had created the mapping before cmekd died"
		local i
		for i in $(seq 50); do
			"$CMEKCTL" key get "$U1" --json >"$LC_T/ko.out" 2>&1
			[ "$(jq -r .state <"$LC_T/ko.out" 2>/dev/null)" = present ] && return 0
			sleep 0.1
		done
		ktap_diag "mapping without a key after cmekd restarted: $(cat "$LC_T/ko.out")"
		return 1
	fi
	ktap_diag "open had not created the mapping; opening again"
	ok_run reopen "$CMEKCTL" open /dev/ram0 lc1
}
check "after cmekd died during open: consistent, lc1 usable" killed_open_ok
check "files on lc1 after the restart" \
	eval 'mount /dev/mapper/lc1 "$MNT1" && lc_check_files "$MNT1"'
umount "$MNT1"

# cmekd killed during a rewrap: the header still opens with one active
# slot (old or new wrap), the mapping keeps its key, a new rewrap works.
"$CMEKCTL" rewrap lc1 >/dev/null 2>&1 &
OPID=$!
sleep 0.1
lc_daemon_kill KILL
wait $OPID
lc_daemon_start
check "after cmekd died during rewrap: header opens, one slot, lc1 readable" \
	eval 'ok_run dumpk "$CMEKCTL" dump /dev/ram0 --json && [ "$(jf dumpk .active_slots)" = 1 ] && lc_can_read /dev/mapper/lc1'
check "and the next rewrap succeeds" ok_run rwk "$CMEKCTL" rewrap lc1

# cmekd killed while the watch locks lc1: k1 disabled, then SIGKILL at a
# random point of the 2 s check interval (before, inside or right after
# the lock; each run lands elsewhere). Back up, cmekd must lock lc1 within
# two intervals, and unlock it when k1 comes back, data intact.
"$CMEKCTL" kek disable k1 >/dev/null
D=${LC_KILL_MS:-$((RANDOM % 2000))}	# LC_KILL_MS replays a run
ktap_diag "SIGKILL ${D} ms after k1 was disabled"
sleep "$((D / 1000)).$(printf %03d $((D % 1000)))"
lc_daemon_kill KILL
lc_daemon_start
lc_locked() { ! lc_can_read /dev/mapper/lc1; }
lc_wait() {
	local i
	for i in $(seq 100); do "$@" && return 0; sleep 0.1; done
	return 1
}
check "after cmekd died during a lock: lc1 locked once it is back" \
	lc_wait lc_locked
"$CMEKCTL" kek enable k1 >/dev/null
check "k1 enabled again: lc1 unlocks without a reopen, files intact" \
	eval 'lc_wait lc_can_read /dev/mapper/lc1 && mount /dev/mapper/lc1 "$MNT1" && lc_check_files "$MNT1" && umount "$MNT1"'
lc_can_read /dev/mapper/lc1 || tail -n 40 "$LC_LOG" | sed 's/^/# cmekd: /'

# non-root
check "non-root status refused" \
	eval 'fail_run np1 $NOBODY "$CMEKCTL" status && err_has np1 "permission denied"'
check "non-root open refused" \
	eval 'fail_run np2 $NOBODY "$CMEKCTL" open /dev/ram0 lcx && err_has np2 "permission denied"'
check "non-root revoke refused, key still present" \
	eval 'fail_run np3 $NOBODY "$CMEKCTL" revoke lc1 && lc_can_read /dev/mapper/lc1'

# shred
check "shred without --yes and no answer does nothing" \
	eval 'fail_run sh0 "$CMEKCTL" shred lc1 </dev/null && lc_can_read /dev/mapper/lc1'
check "shred lc1 --yes" ok_run sh1 "$CMEKCTL" shred lc1 --yes
"$CMEKCTL" close lc1 >/dev/null 2>&1
check "open after shred fails, even with the KEK" \
	eval 'fail_run open1c "$CMEKCTL" open /dev/ram0 lc1 && [ ! -b /dev/mapper/lc1 ]'
check "dump after shred: header readable, no active slot, slot destroyed" \
	eval 'ok_run dump2 "$CMEKCTL" dump /dev/ram0 --json && [ "$(jf dump2 .active_slots)" = 0 ] && [ "$(jq "[.slots[] | select(.state == \"destroyed\")] | length" <"$LC_T/dump2.out")" -ge 1 ] && [ "$(jf dump2 .uuid)" = "$U1" ]'

ktap_finish
