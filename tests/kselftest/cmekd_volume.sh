#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# cmekd with real volumes (KTAP), talking to its socket directly: format,
# open, I/O, status, the audit trail; SIGKILL with a volume open (the volume
# keeps working, a restart recovers the state); key-needed events (a
# mapping loaded with dmsetup gets its key pushed, also when it appeared
# while cmekd was down); revoke is not undone by key-needed events; reopen
# restores the key; KEK disabled -> locked by the watch, enabled -> unlocked
# (on demand, with I/O held by key_wait_ms across the lock, and by the
# automatic watch, which asks once per KEK however many volumes use it);
# rewrap and move to another KEK; close; shred. Local provider, KEK in a temporary CMEK_KEY_DIR, loop devices
# on tmpfs. Runs in the VM as root with dm-cmek loaded:
#     tests/vm/run -- tests/kselftest/cmekd_volume.sh
#
# Every check can fail; nothing is skipped silently.

set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib/ktap.sh"
. "$TOP/tests/kselftest/cmekd_lib.sh"
CMEKD=${CMEKD:-$TOP/build/cmekd}
CMEKCTL=${CMEKCTL:-$TOP/build/cmekctl}
CALL="$TOP/build/helpers/cmekd_call"
T=$(mktemp -d /tmp/cmekd_volume.XXXXXX)
SOCK=$T/cmekd.sock
export CMEK_SOCKET=$SOCK
export CMEK_KEY_DIR=$T/keys
PID=
LOOPS=

cleanup() {
	local m l
	for m in cv1 cv2 cvx cvy cvh cva cvb cvc; do
		dmsetup --noudevsync remove "$m" >/dev/null 2>&1
	done
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	for l in $LOOPS; do losetup -d "$l" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

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

kstate() { "$CMEKCTL" key get "$1" --json 2>/dev/null | jq -r .state; }
same_data() {	# same_data DEV: the first MiB is what we wrote
	[ "$(dd if="$1" bs=1M count=1 iflag=direct 2>/dev/null | sha256sum)" = "$SUM" ]
}

ktap_plan 44

modprobe loop 2>/dev/null
mkdir -p "$T/keys" "$T/state"
chmod 700 "$T/keys" "$T/state"
daemon_conf check_interval=off log_level=debug
for i in 0 1 2; do
	truncate -s 64M "$T/disk$i"
	L=$(losetup -f --show "$T/disk$i")
	LOOPS="$LOOPS $L"
done
set -- $LOOPS
D0=$1
D1=$2
D2=$3

# --- set-up -------------------------------------------------------------
# A local-provider KEK file (userspace/providers/local/local.h): "CMEKKEK1" and
# 32 random bytes, 0600, NAME.kek; disabled = NAME.kek.disabled (mkkek in
# cmekd_lib.sh).
ktap_check "KEK k1 in a temporary CMEK_KEY_DIR" mkkek k1
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
MM=$(printf '%d:%d' 0x$(stat -c %t "$D0") 0x$(stat -c %T "$D0"))
ktap_check "dm table names the volume and device, not a key" \
	test "$TABLE" = "0 98304 cmek $U $MM 32768"
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

# --- a second device carrying the UUID of a live volume --------------------
# A copy of cv1's disk (a snapshot, a clone, an attacker's device) must not
# be opened next to it, nor give its UUID a key of its own.
dd if="$D0" of="$D2" bs=1M count=64 conv=notrunc 2>/dev/null
G0=$("$CMEKCTL" key get "$U" --json | jq -r .generation)
call clone '{"op":"open","device":"'"$D2"'","name":"cvc"}'
ktap_check "a second device with cv1's UUID is refused ($(j clone .error | head -c 150))" \
	eval '! ok clone && errno_is clone 17 && ! dmsetup info cvc >/dev/null 2>&1 &&
	      [ "$("$CMEKCTL" key get "$U" --json | jq -r .generation)" = "$G0" ] &&
	      same_data /dev/mapper/cv1 &&
	      grep -q "audit: op=open uuid=$U name=cvc .*result=.*already live" "$T/log"'

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
dmsetup mknodes cvx >/dev/null 2>&1	# no udev in the VM
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
dmsetup mknodes cvy >/dev/null 2>&1
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
mv "$T/keys/k1.kek" "$T/keys/k1.kek.disabled"
call chk1 '{"op":"check","name":"cvy"}'
ktap_check "check with k1 disabled locks cvy (reads fail)" \
	sh -c "[ \"\$(jq -r '.volumes[0].locked' <'$T/chk1.json')\" = true ] && ! dd if=/dev/mapper/cvy of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null"
mv "$T/keys/k1.kek.disabled" "$T/keys/k1.kek"
call chk2 '{"op":"check","name":"cvy"}'
ktap_check "check with k1 enabled again unlocks cvy (data back)" \
	sh -c "[ \"\$(jq -r '.volumes[0].locked' <'$T/chk2.json')\" = false ]" && same_data /dev/mapper/cvy

# --- held I/O (key_wait_ms): a lock and unlock inside the window is invisible --
call openh '{"op":"open","device":"'"$D1"'","name":"cvh","key_wait_ms":20000}'
ktap_check "open $D1 as cvh with key_wait_ms 20000 (4096-byte sectors)" \
	sh -c "[ $(cat "$T/openh.rc") = 0 ] && dmsetup table cvh | grep -q ' 2 sector_size:4096 key_wait_ms:20000\$'"
dd if="$T/data" of=/dev/mapper/cvh bs=1M oflag=direct 2>/dev/null
mv "$T/keys/k1.kek" "$T/keys/k1.kek.disabled"
call chk3 '{"op":"check","name":"cvh"}'
dd if=/dev/mapper/cvh bs=1M count=1 iflag=direct of="$T/held" 2>"$T/held.err" &
DDPID=$!
sleep 2
HELD=no
kill -0 $DDPID 2>/dev/null && HELD=yes
mv "$T/keys/k1.kek.disabled" "$T/keys/k1.kek"
call chk4 '{"op":"check","name":"cvh"}'
wait $DDPID
DDRC=$?
ktap_check "a read during the lock is held, not failed" \
	sh -c "[ \"\$(jq -r '.volumes[0].locked' <'$T/chk3.json')\" = true ] && [ $HELD = yes ]"
ktap_check "after the unlock the held read completes with the right data" \
	sh -c "[ $DDRC = 0 ] && [ \"\$(sha256sum <'$T/held')\" = '$SUM' ]"
call closeh '{"op":"close","name":"cvh"}'

# --- rewrap, and move to another KEK ------------------------------------------
call rw1 '{"op":"rewrap","name":"cvy"}'
ktap_check "rewrap cvy under the same KEK" \
	sh -c "[ $(cat "$T/rw1.rc") = 0 ] && [ \"\$(jq -r .slots <'$T/rw1.json')\" = 1 ]"
mkkek k2
call rw2 '{"op":"rewrap","name":"cvy","provider":"local","key":"k2"}'
ktap_check "rewrap cvy to local:k2" \
	sh -c "[ $(cat "$T/rw2.rc") = 0 ] && [ \"\$(jq -r .key <'$T/rw2.json')\" = k2 ]"
ktap_check "rewrap audit-logged" \
	grep -q "audit: op=rewrap uuid=$U name=cvy provider=local key=k2 result=ok.*from=local:k1" "$T/log"
mv "$T/keys/k1.kek" "$T/keys/k1.kek.disabled"
call close3 '{"op":"close","name":"cvy"}'
call open5 '{"op":"open","device":"'"$D0"'","name":"cvy"}'
ktap_check "with k1 disabled, cvy opens with k2, data intact" \
	sh -c "[ $(cat "$T/open5.rc") = 0 ] && [ \"\$(jq -r .key <'$T/open5.json')\" = k2 ]" && same_data /dev/mapper/cvy
mv "$T/keys/k1.kek.disabled" "$T/keys/k1.kek"

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

# --- the automatic watch: one KMS call per key per interval; lock, unlock ------
call fmt6 '{"op":"format","device":"'"$D0"'","provider":"local","key":"k1","force":true}'
call opa '{"op":"open","device":"'"$D1"'","name":"cva"}'
call opb '{"op":"open","device":"'"$D0"'","name":"cvb"}'
kill_daemon TERM
sed -i 's/^check_interval = off/check_interval = 1s/' "$T/cmekd.conf"
N0=$(wc -l <"$T/log")
start
sleep 3.5
# One snapshot for both counts; it may end between a tick and its ask, so
# asks = ticks or ticks - 1 (asking per volume would give 2 asks a tick).
tail -n +$((N0 + 1)) "$T/log" >"$T/log.watch"
TICKS=$(grep -c 'watch: tick, 2 known volumes' "$T/log.watch")
ASKS=$(grep -c 'key state local:k1 = enabled' "$T/log.watch")
ktap_check "watch asks local:k1 once per interval for its 2 volumes ($ASKS asks, $TICKS ticks)" \
	sh -c "[ $TICKS -ge 2 ] && [ $ASKS -le $TICKS ] && [ $ASKS -ge $((TICKS - 1)) ]"
t0=$(date +%s%N)
mv "$T/keys/k1.kek" "$T/keys/k1.kek.disabled"
wait_until 5 sh -c "! dd if=/dev/mapper/cva of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null && ! dd if=/dev/mapper/cvb of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null"
rc=$?
ktap_check "KEK disabled: both volumes lock by themselves ($(( ($(date +%s%N) - t0) / 1000000 )) ms)" test $rc = 0
t0=$(date +%s%N)
mv "$T/keys/k1.kek.disabled" "$T/keys/k1.kek"
wait_until 5 sh -c "dd if=/dev/mapper/cvb of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null" && same_data /dev/mapper/cva
rc=$?
ktap_check "KEK enabled: both resume by themselves ($(( ($(date +%s%N) - t0) / 1000000 )) ms)" test $rc = 0
call closea '{"op":"close","name":"cva"}'
call closeb '{"op":"close","name":"cvb"}'

if [ "$KTAP_FAILED" -ne 0 ]; then
	ktap_diag "cmekd log (tail):"
	tail -60 "$T/log" | sed 's/^/# /'
fi
ktap_finish
