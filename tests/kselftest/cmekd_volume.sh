#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# cmekd with real volumes (KTAP), talking to its socket directly: format,
# open, I/O, status, the audit trail; SIGKILL with a volume open (the volume
# keeps working, a restart recovers the state); key-needed events (a
# mapping loaded with dmsetup gets its key pushed, also when it appeared
# while cmekd was down); revoke is not undone by key-needed events; reopen
# restores the key; KEK disabled -> locked by the watch, enabled -> unlocked;
# close; shred. Local provider, KEK in a temporary CMEK_KEY_DIR, loop devices
# on tmpfs. Runs in the VM as root with dm-cmek loaded:
#     tests/vm/run -- tests/kselftest/cmekd_volume.sh
#
# Every check can fail; nothing is skipped silently.

set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib/ktap.sh"
CMEKD=${CMEKD:-$TOP/build/cmekd}
CMEKCTL=${CMEKCTL:-$TOP/build/cmekctl}
CALL="/usr/bin/python3 $TOP/tests/kselftest/cmekd_call.py"
T=$(mktemp -d /tmp/cmekd_volume.XXXXXX)
SOCK=$T/cmekd.sock
export CMEK_SOCKET=$SOCK
export CMEK_KEY_DIR=$T/keys
PID=
LOOPS=

cleanup() {
	local m l
	for m in cv1 cv2 cvx cvy; do
		dmsetup --noudevsync remove "$m" >/dev/null 2>&1
	done
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	for l in $LOOPS; do losetup -d "$l" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

start() {
	"$CMEKD" -c "$T/cmekd.conf" --no-syslog >>"$T/log" 2>&1 &
	PID=$!
	local i
	for i in $(seq 100); do
		$CALL "$SOCK" '{"op":"ping"}' >/dev/null 2>&1 && return 0
		kill -0 "$PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

kill_daemon() {
	kill "-$1" "$PID" 2>/dev/null
	wait "$PID" 2>/dev/null
	PID=
}

# call NAME JSON: request to cmekd, reply in $T/NAME.json, exit status kept
call() {
	$CALL "$SOCK" "$2" >"$T/$1.json" 2>"$T/$1.err"
	echo $? >"$T/$1.rc"
}
ok() { [ "$(cat "$T/$1.rc")" = 0 ]; }
j() { jq -r "$2" <"$T/$1.json" 2>/dev/null; }
errno_is() { [ "$(j "$1" .errno)" = "$2" ]; }

not() { ! "$@"; }
can_read() { dd if="$1" of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null; }
# wait_until SECONDS CMD...: poll every 0.1 s
wait_until() {
	local n=$(($1 * 10))
	shift
	while [ $n -gt 0 ]; do
		"$@" && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}
kstate() { "$CMEKCTL" key get "$1" --json 2>/dev/null | jq -r .state; }
same_data() {	# same_data DEV: the first MiB is what we wrote
	[ "$(dd if="$1" bs=1M count=1 iflag=direct 2>/dev/null | sha256sum)" = "$SUM" ]
}

ktap_plan 33

modprobe loop 2>/dev/null
mkdir -p "$T/keys" "$T/state"
chmod 700 "$T/keys" "$T/state"
cat >"$T/cmekd.conf" <<EOF
[daemon]
socket = $SOCK
state_dir = $T/state
key_dir = $T/keys
check_interval = off
log_level = debug
EOF
chmod 600 "$T/cmekd.conf"
for i in 0 1; do
	truncate -s 64M "$T/disk$i"
	L=$(losetup -f --show "$T/disk$i")
	LOOPS="$LOOPS $L"
done
set -- $LOOPS
D0=$1
D1=$2

# --- set-up -------------------------------------------------------------
ktap_check "kek create k1 (local provider, CMEK_KEY_DIR)" \
	"$CMEKCTL" kek create k1
ktap_check "cmekd starts" start

# --- format -------------------------------------------------------------
call fmt '{"op":"format","device":"'"$D0"'","provider":"local","key":"k1"}'
U=$(j fmt .uuid)
ktap_check "format $D0 via the socket gives a uuid" \
	sh -c "[ $(cat "$T/fmt.rc") = 0 ] && echo '$U' | grep -Eq '^[0-9a-f-]{36}$'"
call fmt2 '{"op":"format","device":"'"$D0"'","provider":"local","key":"k1"}'
ktap_check "format refuses an existing cmek header (EEXIST)" errno_is fmt2 17
mkfs.ext4 -q -F "$D1" >/dev/null 2>&1
call fmt3 '{"op":"format","device":"'"$D1"'","provider":"local","key":"k1"}'
ktap_check "format refuses an ext4 filesystem without force" \
	sh -c "[ \"\$(jq -r .errno <'$T/fmt3.json')\" = 17 ] && grep -q ext '$T/fmt3.json'"
call fmt4 '{"op":"format","device":"'"$D1"'","provider":"local","key":"k1","force":true,"sector_size":4096}'
ktap_check "format with force and 4096-byte sectors" ok fmt4
call fmt5 '{"op":"format","device":"'"$D1"'","provider":"local","key":"nosuchkek","force":true}'
ktap_check "format with an unknown KEK fails with a message" \
	sh -c "[ $(cat "$T/fmt5.rc") = 1 ] && grep -q nosuchkek '$T/fmt5.json'"

# --- open, I/O -----------------------------------------------------------
call open '{"op":"open","device":"'"$D0"'","name":"cv1"}'
ktap_check "open $D0 as cv1" sh -c "[ $(cat "$T/open.rc") = 0 ] && [ \"\$(jq -r .path <'$T/open.json')\" = /dev/mapper/cv1 ]"
ktap_check "/dev/mapper/cv1 is a block device" test -b /dev/mapper/cv1
TABLE=$(dmsetup table cv1 2>/dev/null)
ktap_check "dm table names the volume, not a key" \
	sh -c "echo '$TABLE' | grep -q ' cmek $U $D0 '"
ktap_check "dm uuid is CMEK-<uuid>-cv1" \
	test "$(dmsetup info -c --noheadings -o uuid cv1 2>/dev/null)" = "CMEK-$U-cv1"
head -c 1M /dev/urandom >"$T/data"
SUM=$(sha256sum <"$T/data")
dd if="$T/data" of=/dev/mapper/cv1 bs=1M oflag=direct 2>/dev/null
ktap_check "data written through cv1 reads back" same_data /dev/mapper/cv1
ktap_check "kernel key is present" test "$(kstate "$U")" = present
call st '{"op":"status","name":"cv1"}'
ktap_check "status cv1: present, local:k1, uuid" \
	test "$(j st '.volumes[0] | "\(.state) \(.provider):\(.key) \(.uuid)"')" = "present local:k1 $U"
ktap_check "audit log has format, open and push lines with uuid and provider" \
	sh -c "grep -q 'audit: op=format uuid=$U name=- provider=local key=k1 result=ok' '$T/log' &&
	       grep -q 'audit: op=open uuid=$U name=cv1 provider=local key=k1 result=ok' '$T/log' &&
	       grep -q 'audit: op=push uuid=$U name=cv1 provider=local key=k1 result=ok.*why=open' '$T/log'"
ktap_check "no key-sized hex string in the log" \
	sh -c "! grep -Eiq '[0-9a-f]{32}' '$T/log'"

# --- SIGKILL with a volume open --------------------------------------------
kill_daemon KILL
ktap_check "cmekd killed: cv1 still serves I/O" same_data /dev/mapper/cv1
ktap_check "cmekd restarts" start
call st2 '{"op":"status","name":"cv1"}'
ktap_check "restarted cmekd knows cv1 (state reloaded)" \
	test "$(j st2 '.volumes[0] | "\(.name) \(.uuid) \(.state)"')" = "cv1 $U present"

# --- key-needed events -------------------------------------------------------
call close '{"op":"close","name":"cv1"}'
ktap_check "close cv1: mapping gone, key revoked" \
	sh -c "[ $(cat "$T/close.rc") = 0 ] && ! dmsetup info cv1 >/dev/null 2>&1 && [ \"\$($CMEKCTL key get $U --json 2>/dev/null | jq -r .state)\" != present ]"
T0=${TABLE%% cmek *}
dmsetup --noudevsync create cvx --table "$TABLE" >/dev/null 2>&1
ktap_check "a mapping loaded with dmsetup gets its key from cmekd (key-needed)" \
	wait_until 10 same_data /dev/mapper/cvx
ktap_check "the mapping was adopted and audit-logged" \
	grep -q "audit: op=adopt uuid=$U name=cvx" "$T/log"

kill_daemon TERM
dmsetup --noudevsync create cvy --table "$TABLE" >/dev/null 2>&1
dmsetup --noudevsync remove cvx >/dev/null 2>&1
"$CMEKCTL" key revoke "$U" >/dev/null 2>&1
dmsetup --noudevsync remove cvy >/dev/null 2>&1
dmsetup --noudevsync create cvy --table "$TABLE" >/dev/null 2>&1
ktap_check "a mapping loaded while cmekd is down has no key" not can_read /dev/mapper/cvy
start
ktap_check "... and gets it when cmekd starts (resync)" wait_until 10 same_data /dev/mapper/cvy

# --- revoke is not undone ------------------------------------------------------
call rev '{"op":"revoke","name":"cvy"}'
ktap_check "revoke cvy via the socket" sh -c "[ $(cat "$T/rev.rc") = 0 ] && ! can_read /dev/mapper/cvy"
sleep 1
can_read /dev/mapper/cvy
sleep 1
ktap_check "key-needed after an admin revoke does not re-push" \
	sh -c "! dd if=/dev/mapper/cvy of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null && [ \"\$($CMEKCTL key get $U --json | jq -r .state)\" = revoked ]"
call reopen '{"op":"open","device":"'"$D0"'","name":"cvy"}'
ktap_check "open of the same name restores the key" \
	sh -c "[ $(cat "$T/reopen.rc") = 0 ]" && same_data /dev/mapper/cvy
ktap_check "status after reopen: not revoked" \
	sh -c "$CALL '$SOCK' '{\"op\":\"status\",\"name\":\"cvy\"}' | jq -e '.volumes[0].revoked == false and .volumes[0].state == \"present\"' >/dev/null"

# --- KMS key state watch: local KEK disabled / enabled --------------------------
"$CMEKCTL" kek disable k1 >/dev/null 2>&1
call chk1 '{"op":"check","name":"cvy"}'
ktap_check "check with k1 disabled locks cvy (reads fail)" \
	sh -c "[ \"\$(jq -r '.volumes[0].locked' <'$T/chk1.json')\" = true ] && ! dd if=/dev/mapper/cvy of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null"
"$CMEKCTL" kek enable k1 >/dev/null 2>&1
call chk2 '{"op":"check","name":"cvy"}'
ktap_check "check with k1 enabled again unlocks cvy (data back)" \
	sh -c "[ \"\$(jq -r '.volumes[0].locked' <'$T/chk2.json')\" = false ]" && same_data /dev/mapper/cvy

# --- close, shred ----------------------------------------------------------------
call close2 '{"op":"close","name":"cvy"}'
ktap_check "close cvy" ok close2
call open3 '{"op":"open","device":"'"$D0"'","name":"cv1"}'
call shred '{"op":"shred","name":"cv1"}'
ktap_check "shred cv1: key revoked, mapping removed" \
	sh -c "[ $(cat "$T/shred.rc") = 0 ] && [ \"\$(jq -r .mapping_removed <'$T/shred.json')\" = true ] && ! dmsetup info cv1 >/dev/null 2>&1"
call open4 '{"op":"open","device":"'"$D0"'","name":"cv1"}'
ktap_check "open after shred fails, even with the KEK" \
	sh -c "[ $(cat "$T/open4.rc") = 1 ] && ! dmsetup info cv1 >/dev/null 2>&1"

if [ "$KTAP_FAILED" -ne 0 ]; then
	ktap_diag "cmekd log (tail):"
	tail -60 "$T/log" | sed 's/^/# /'
fi
ktap_finish
