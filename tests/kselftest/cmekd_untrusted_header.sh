#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A hostile detached-header path and a hostile header (KTAP): a symbolic
# link or a file planted where `cmekctl format --header` will write is
# refused and left alone; a header whose key reference carries a newline,
# an ESC sequence and a quote (a disk writer's choice, with valid
# checksums) is refused as not printable, before any KMS is asked, and
# reaches neither `cmekctl dump`, cmekctl's error message nor cmekd's log
# raw. Local provider, loop device on tmpfs.
# Runs in the VM as root with dm-cmek loaded:
#     tests/vm/run -- tests/kselftest/cmekd_untrusted_header.sh
#
# Every check can fail; nothing is skipped silently.

set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib/ktap.sh"
. "$TOP/tests/kselftest/cmekd_lib.sh"
cmekd_test_init cmekd_untrusted_header
TAMPER=$TOP/build/helpers/hdr_tamper
LOOP=

cleanup() {
	dmsetup --noudevsync remove cuh >/dev/null 2>&1
	[ -n "$PID" ] && stop
	[ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

# raw_esc FILE: FILE holds a control byte other than tab and newline
raw_esc() { LC_ALL=C grep -q "$(printf '[\001-\010\013-\037\177]')" "$1"; }

ktap_plan 13

modprobe loop 2>/dev/null
truncate -s 16M "$T/disk"
LOOP=$(losetup -f --show "$T/disk")
daemon_conf check_interval=off log_level=debug
mkkek k1
start
ktap_check "cmekd starts" test $? -eq 0

# --- a symbolic link or a file planted at the header path -----------------
echo precious >"$T/victim"
ln -s "$T/victim" "$T/h.link"
run fmt_link "$CMEKCTL" format "$LOOP" --key k1 --header "$T/h.link"
run fmt_link_f "$CMEKCTL" format "$LOOP" --key k1 --header "$T/h.link" --force
ktap_check "a symlink at the header path is refused, with --force too" \
	sh -c '[ "$(cat "$1/fmt_link.rc")" != 0 ] &&
	       [ "$(cat "$1/fmt_link_f.rc")" != 0 ] &&
	       grep -q "symbolic link" "$1/fmt_link_f.err"' _ "$T"
ktap_check "... and the link's target is untouched" \
	test "$(cat "$T/victim")" = precious
echo "left here" >"$T/h.img"
run fmt_file "$CMEKCTL" format "$LOOP" --key k1 --header "$T/h.img"
ktap_check "a pre-existing header file is refused without --force" \
	sh -c '[ "$(cat "$1/fmt_file.rc")" != 0 ] &&
	       grep -q "already exists" "$1/fmt_file.err" &&
	       [ "$(cat "$1/h.img")" = "left here" ]' _ "$T"
rm -f "$T/h.img"
run fmt "$CMEKCTL" format "$LOOP" --key k1 --header "$T/h.img"
ktap_check "a new header file is created, 0600" \
	sh -c '[ "$(cat "$1/fmt.rc")" = 0 ] &&
	       [ "$(stat -c %a "$1/h.img")" = 600 ]' _ "$T"

# --- a hostile key reference ----------------------------------------------
EVIL=$(printf 'k1\n2026 audit: op=forged result=ok\033[2J"q')
"$TAMPER" "$T/h.img" key_ref 0 "$EVIL"
ktap_check "the header now holds the hostile key reference" \
	eval '[ $? = 0 ] && LC_ALL=C grep -q "op=forged" "$T/h.img"'

run dump "$CMEKCTL" dump "$LOOP" --header "$T/h.img"
ktap_check "dump refuses it: not printable ASCII" \
	eval 'not rc_is dump 0 && err_has dump "not printable ASCII"'
ktap_check "... with no raw control byte and no forged line" \
	sh -c '! LC_ALL=C grep -q "$(printf "\033")" "$1/dump.out" "$1/dump.err" &&
	       ! grep -q "^2026 audit" "$1/dump.out" "$1/dump.err"' _ "$T"

run open "$CMEKCTL" open "$LOOP" cuh --header "$T/h.img"
ktap_check "open fails: the header is refused" \
	eval 'not rc_is open 0 && err_has open "not printable ASCII"'
ktap_check "cmekctl's error message carries no raw control byte" \
	sh -c '! LC_ALL=C grep -q "$(printf "\033")" "$1/open.err"' _ "$T"
ktap_check "no KMS was asked for it" not grep -q 'op=unwrap' "$T/log"
ktap_check "cmekd's log has no raw control byte" not raw_esc "$T/log"
ktap_check "... and no forged audit line" \
	not grep -q '^2026 audit: op=forged' "$T/log"

if [ "$KTAP_FAILED" -ne 0 ]; then
	ktap_diag "cmekd log:"
	sed 's/^/# /' "$T/log" | tail -30
	for f in fmt_link fmt_link_f fmt_file fmt dump open; do
		ktap_diag "$f: rc $(cat "$T/$f.rc" 2>/dev/null)"
		sed 's/^/#   /' "$T/$f.out" "$T/$f.err" 2>/dev/null | cat -v | head -20
	done
fi
ktap_finish
