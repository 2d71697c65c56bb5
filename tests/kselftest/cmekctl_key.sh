#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# cmekctl key set/get/list/revoke against the real kernel (KTAP), plus
# `cmekctl revoke NAME` with no daemon. Runs in the VM as root with
# dm-cmek loaded:  tests/vm/run -- tests/kselftest/cmekctl_key.sh
#
# Every check can fail; nothing is skipped silently.

set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib/ktap.sh"
CMEKCTL=${CMEKCTL:-$TOP/build/cmekctl}
T=$(mktemp -d /tmp/cmekctl_key.XXXXXX)
DM_NAME=cmekctl_key_$$
export CMEK_SOCKET=$T/no-daemon.sock	# make sure no cmekd is used

cleanup() {
	dmsetup --noudevsync remove "$DM_NAME" >/dev/null 2>&1
	"$CMEKCTL" key revoke "$U1" >/dev/null 2>&1
	"$CMEKCTL" key revoke "$U2" >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT

newuuid() { cat /proc/sys/kernel/random/uuid; }
U1=$(newuuid)
U2=$(newuuid)
U3=$(newuuid)	# never used: unknown to the kernel

# run NAME CMD...: run, keep stdout/stderr/rc in $T/NAME.{out,err,rc}
run() {
	local n=$1
	shift
	"$@" >"$T/$n.out" 2>"$T/$n.err"
	echo $? >"$T/$n.rc"
}
rc() { cat "$T/$1.rc"; }
# expect NAME RC [REGEX-in-stderr]: one KTAP result
expect() {
	local n=$1 want=$2 re=${3:-} desc=$4 got
	got=$(rc "$n")
	if [ "$got" != "$want" ]; then
		ktap_fail "$desc" "exit $got, wanted $want; stderr: $(head -c 400 "$T/$n.err")"
	elif [ -n "$re" ] && ! grep -Eq -- "$re" "$T/$n.err"; then
		ktap_fail "$desc" "stderr lacks /$re/: $(head -c 400 "$T/$n.err")"
	else
		ktap_ok "$desc"
	fi
}
jfield() { jq -r "$2" <"$T/$1.out" 2>/dev/null; }

ktap_plan 35

# --- basics --------------------------------------------------------------
run list0 "$CMEKCTL" key list
expect list0 0 "" "key list works (netlink family cmek resolved)"

head -c 64 /dev/urandom >"$T/k64"
head -c 32 /dev/urandom >"$T/k32"
run set1 "$CMEKCTL" key set "$U1" <"$T/k64"
expect set1 0 "" "key set: 64-byte key from stdin"

run get1 "$CMEKCTL" key get "$U1" --json
if [ "$(rc get1)" = 0 ] && [ "$(jfield get1 .state)" = present ] &&
   [ "$(jfield get1 .key_size)" = 64 ] && [ "$(jfield get1 .generation)" = 1 ] &&
   [ "$(jfield get1 .uuid)" = "$U1" ]; then
	ktap_ok "key get --json: present, 64 bytes, generation 1"
else
	ktap_fail "key get --json: present, 64 bytes, generation 1" "$(cat "$T/get1.out" "$T/get1.err")"
fi

run list1 "$CMEKCTL" key list --json
if [ "$(jq -r --arg u "$U1" '.keys[] | select(.uuid == $u) | .state' <"$T/list1.out")" = present ]; then
	ktap_ok "key list --json shows the key as present"
else
	ktap_fail "key list --json shows the key as present" "$(cat "$T/list1.out" "$T/list1.err")"
fi
run list1h "$CMEKCTL" key list
if grep -q "^$U1 *present" "$T/list1h.out"; then
	ktap_ok "key list (table) shows the key as present"
else
	ktap_fail "key list (table) shows the key as present" "$(cat "$T/list1h.out")"
fi

run set1dup "$CMEKCTL" key set "$U1" <"$T/k64"
expect set1dup 1 "already present.*--replace" "second set without --replace refused (EEXIST, says --replace)"

run set1rep "$CMEKCTL" key set "$U1" --replace --generation 7 --key-file "$T/k32"
run get1b "$CMEKCTL" key get "$U1" --json
if [ "$(rc set1rep)" = 0 ] && [ "$(jfield get1b .generation)" = 7 ] &&
   [ "$(jfield get1b .key_size)" = 32 ]; then
	ktap_ok "--replace --generation 7 --key-file: 32-byte key, generation 7"
else
	ktap_fail "--replace --generation 7 --key-file: 32-byte key, generation 7" "$(cat "$T/set1rep.err" "$T/get1b.out")"
fi

xxd -p -c 64 "$T/k64" >"$T/k64.hex"
run sethex "$CMEKCTL" key set "$U1" --replace --hex --key-file "$T/k64.hex"
run get1c "$CMEKCTL" key get "$U1" --json
if [ "$(rc sethex)" = 0 ] && [ "$(jfield get1c .generation)" = 8 ] &&
   [ "$(jfield get1c .key_size)" = 64 ]; then
	ktap_ok "--hex key: 64 bytes, generation counts on to 8"
else
	ktap_fail "--hex key: 64 bytes, generation counts on to 8" "$(cat "$T/sethex.err" "$T/get1c.out")"
fi

# key bytes never appear in any output
KHEX=$(xxd -p -c 64 "$T/k64")
KHEX32=$(xxd -p -c 32 "$T/k32")
run get1t "$CMEKCTL" key get "$U1"
leak=0
for f in "$T"/*.out "$T"/*.err; do
	[ "$f" = "$T/k64.hex" ] && continue
	if xxd -p "$f" | tr -d '\n' | grep -Eq "${KHEX:0:32}|${KHEX:32:32}|${KHEX32:0:32}"; then
		leak=1
		ktap_diag "key bytes found in $f"
	fi
done
[ $leak = 0 ] && ktap_ok "no key bytes in any cmekctl output" || ktap_fail "no key bytes in any cmekctl output"

# --- bad input -------------------------------------------------------------
head -c 33 /dev/urandom >"$T/k33"
run badlen "$CMEKCTL" key set "$U2" --key-file "$T/k33"
expect badlen 1 "wrong key length.*33 bytes.*32.*64" "33-byte key refused with a clear message"
head -c 16 /dev/urandom >"$T/k16"
run badlen2 "$CMEKCTL" key set "$U2" <"$T/k16"
expect badlen2 1 "wrong key length.*16 bytes" "16-byte key refused"
run badlen3 "$CMEKCTL" key set "$U2" </dev/null
expect badlen3 1 "wrong key length.*0 bytes" "empty key refused"
printf 'zz%.0s' $(seq 32) >"$T/badhex"
run badhex "$CMEKCTL" key set "$U2" --hex --key-file "$T/badhex"
expect badhex 1 "not valid hex" "malformed hex refused"
run get2 "$CMEKCTL" key get "$U2"
expect get2 1 "knows no volume" "refused keys left no entry behind"

run baduuid "$CMEKCTL" key set "not-a-uuid" <"$T/k64"
expect baduuid 2 "invalid volume uuid" "bad uuid refused (usage, exit 2)"
run baduuid2 "$CMEKCTL" key get "${U1:0:35}"
expect baduuid2 2 "invalid volume uuid" "truncated uuid refused"
run baduuid3 "$CMEKCTL" key revoke "${U1}0"
expect baduuid3 2 "invalid volume uuid" "overlong uuid refused"

run argv1 "$CMEKCTL" key set "$U2" "$KHEX"
expect argv1 2 "refusing a key on the command line" "key as an argument refused"
run argv2 "$CMEKCTL" key set "$U2" "--key=$KHEX"
expect argv2 2 "refusing a key on the command line" "--key=HEX refused"
if grep -q "${KHEX:0:16}" "$T/argv1.err" "$T/argv2.err"; then
	ktap_fail "refusal does not echo the key" "key text in stderr"
else
	ktap_ok "refusal does not echo the key"
fi

run unk1 "$CMEKCTL" key get "$U3"
expect unk1 1 "knows no volume $U3" "get of an unknown uuid: ENOENT, clear message"
run unk2 "$CMEKCTL" key revoke "$U3"
expect unk2 1 "knows no volume $U3" "revoke of an unknown uuid: ENOENT, clear message"
run badgen "$CMEKCTL" key set "$U2" --generation abc <"$T/k64"
expect badgen 2 "invalid --generation" "non-numeric --generation refused"
run nosub "$CMEKCTL" key frob
expect nosub 2 "unknown subcommand" "unknown subcommand is a usage error"

# --- permissions -------------------------------------------------------------
NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all"
chmod 755 "$T"
chmod 644 "$T/k64"
run np1 $NOBODY "$CMEKCTL" key list
expect np1 1 "permission denied.*CAP_SYS_ADMIN" "non-root key list: permission denied"
run np2 $NOBODY "$CMEKCTL" key set "$U1" --replace --key-file "$T/k64"
expect np2 1 "permission denied.*CAP_SYS_ADMIN" "non-root key set: permission denied"
run np3 $NOBODY "$CMEKCTL" key revoke "$U1"
expect np3 1 "permission denied" "non-root key revoke: permission denied"
run get1d "$CMEKCTL" key get "$U1" --json
if [ "$(jfield get1d .state)" = present ] && [ "$(jfield get1d .generation)" = 8 ]; then
	ktap_ok "non-root attempts changed nothing"
else
	ktap_fail "non-root attempts changed nothing" "$(cat "$T/get1d.out")"
fi

# --- revoke --------------------------------------------------------------
# No mapping names U1: once revoked, its entry is gone (uapi: an entry
# lives while a key is set or a mapping names it).
run rev1 "$CMEKCTL" key revoke "$U1"
run get1e "$CMEKCTL" key get "$U1" --json
if [ "$(rc rev1)" = 0 ] && grep -q "revoked and wiped" "$T/rev1.out" &&
   [ "$(rc get1e)" = 1 ] && grep -q "knows no volume" "$T/get1e.err"; then
	ktap_ok "key revoke of an unmapped key: confirmed, entry gone"
else
	ktap_fail "key revoke of an unmapped key: confirmed, entry gone" "$(cat "$T/rev1.out" "$T/rev1.err" "$T/get1e.out" "$T/get1e.err")"
fi
run rev1b "$CMEKCTL" key revoke "$U1"
expect rev1b 1 "knows no volume" "second revoke of an unmapped key: ENOENT, clear message"

# --- revoke NAME without cmekd, through the dm table -------------------------
BDEV=
if [ -b /dev/ram0 ] || modprobe brd rd_nr=2 rd_size=16384 2>/dev/null; then
	for d in /dev/ram1 /dev/ram0; do [ -b $d ] && BDEV=$d && break; done
fi
if [ -z "$BDEV" ]; then
	ktap_fail "block device for the dm test" "no /dev/ram* (brd)"
	ktap_fail "revoke NAME without cmekd"
	ktap_fail "I/O fails after revoke NAME"
	ktap_fail "revoke of a revoked key with a mapping"
	ktap_fail "key revoke --all"
	ktap_finish
fi
SECTORS=$(( $(blockdev --getsz "$BDEV") > 8192 ? 8192 : $(blockdev --getsz "$BDEV") ))
"$CMEKCTL" key set "$U2" <"$T/k64" >/dev/null 2>&1
if dmsetup --noudevsync create "$DM_NAME" --table "0 $SECTORS cmek $U2 $BDEV 0" 2>"$T/dm.err" &&
   { [ -b "/dev/mapper/$DM_NAME" ] || dmsetup mknodes "$DM_NAME"; } &&
   dd if=/dev/urandom of="/dev/mapper/$DM_NAME" bs=4096 count=16 oflag=direct 2>"$T/dd.err"; then
	ktap_ok "cmek mapping with a key set is writable"
else
	ktap_fail "cmek mapping with a key set is writable" "$(cat "$T/dm.err" "$T/dd.err" 2>/dev/null)"
fi
run revn "$CMEKCTL" revoke "$DM_NAME"
run get2b "$CMEKCTL" key get "$U2" --json
if [ "$(rc revn)" = 0 ] && grep -q "cmekd is not running" "$T/revn.err" &&
   [ "$(jfield get2b .state)" = revoked ] && [ "$(jfield get2b .users)" = 1 ]; then
	ktap_ok "revoke NAME without cmekd: kernel confirms revoked"
else
	ktap_fail "revoke NAME without cmekd: kernel confirms revoked" "$(cat "$T/revn.out" "$T/revn.err" "$T/get2b.out")"
fi
if dd if="/dev/mapper/$DM_NAME" of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null; then
	ktap_fail "I/O fails after revoke NAME" "read succeeded"
else
	ktap_ok "I/O fails after revoke NAME"
fi
run rev2b "$CMEKCTL" key revoke "$U2"
expect rev2b 1 "has no key in the kernel" "revoke of a revoked key with a mapping: ENOKEY, clear message"
"$CMEKCTL" key set "$U2" --replace <"$T/k64" >/dev/null 2>&1
"$CMEKCTL" key set "$U1" --replace <"$T/k32" >/dev/null 2>&1
run revall "$CMEKCTL" key revoke --all
run listall "$CMEKCTL" key list --json
if [ "$(rc revall)" = 0 ] &&
   [ "$(jq '[.keys[] | select(.state == "present")] | length' <"$T/listall.out")" = 0 ]; then
	ktap_ok "key revoke --all: no key left present"
else
	ktap_fail "key revoke --all: no key left present" "$(cat "$T/revall.err" "$T/listall.out")"
fi

ktap_finish
