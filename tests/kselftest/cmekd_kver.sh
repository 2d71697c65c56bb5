#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The watch asks about the key version a slot needs (KTAP). cmekd talks
# to a Vault transit server (tests/helpers/vault_fake) with one key k1:
#   - kv1 is formatted under k1 version 1; k1 rotates; kv2 is formatted
#     under version 2. cmekd records each slot's object (k1:v1, k1:v2) and
#     keeps it in its state file;
#   - min_decryption_version goes to 2: the key itself is enabled, but
#     kv1's slot can no longer be decrypted: the watch locks kv1 and only
#     kv1, asking the key once per version in use;
#   - cmekd restarted keeps the objects (state file), and
#     min_decryption_version back to 1 unlocks kv1 by itself.
# Runs in the VM as root with dm-cmek loaded:
#     tests/vm/run -- tests/kselftest/cmekd_kver.sh

set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib/ktap.sh"
. "$TOP/tests/kselftest/cmekd_lib.sh"
cmekd_test_init cmekd_kver
FAKE=${VAULT_FAKE:-$TOP/build/helpers/vault_fake}
KMS=$T/kms
PORT=18201
KPID=
LOOP1=
LOOP2=

cleanup() {
	dmsetup --noudevsync remove kv1 >/dev/null 2>&1
	dmsetup --noudevsync remove kv2 >/dev/null 2>&1
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	[ -n "$KPID" ] && kill "$KPID" 2>/dev/null && wait "$KPID" 2>/dev/null
	[ -n "$LOOP1" ] && losetup -d "$LOOP1" 2>/dev/null
	[ -n "$LOOP2" ] && losetup -d "$LOOP2" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

# The watch runs on `check` only: an interval longer than the test.
conf() {
	daemon_conf check_interval=1h log_level=debug
	cat >>"$T/cmekd.conf" <<-EOF

	[provider vault-transit]
	endpoint = https://127.0.0.1:$PORT
	token_file = $T/vault.token
	ca_file = $KMS/ca.pem
	timeout = 10s
	retries = 1
	retry_backoff = 100ms
	EOF
}

kms_start() {
	rm -f "$T/kms.out"
	"$FAKE" "$KMS" "$PORT" k1 "$(cat "$T/vault.token")" >"$T/kms.out" 2>>"$T/kms.err" &
	KPID=$!
	wait_until 20 grep -q ready "$T/kms.out" && return 0
	sed 's/^/# vault_fake: /' "$T/kms.err"
	return 1
}

# status NAME: cmekd's status of the volume into $T/st-NAME.out
status() { $CALL "$SOCK" '{"op":"status","name":"'"$1"'"}' >"$T/st-$1.out" 2>/dev/null; }
vol_has() { status "$1" && jq -e ".volumes[0] | $2" <"$T/st-$1.out" >/dev/null 2>&1; }
check() { $CALL "$SOCK" '{"op":"check"}' >"$T/check.out" 2>&1; }
# key reads the server got since the mark
reads() { grep -c "GET .*/keys/k1$" "$KMS/requests"; }

ktap_plan 9

modprobe loop 2>/dev/null
ip link set lo up
truncate -s 64M "$T/disk1" "$T/disk2"
LOOP1=$(losetup -f --show "$T/disk1")
LOOP2=$(losetup -f --show "$T/disk2")
mkdir -p "$KMS"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/vault.token"
chmod 600 "$T/vault.token"
conf
kms_start
ktap_check "the fake Vault (TLS, key k1) listens on 127.0.0.1:$PORT" test $? = 0
start

run fmt1 "$CMEKCTL" format "$LOOP1" --provider vault-transit --key k1
run open1 "$CMEKCTL" open "$LOOP1" kv1
touch "$KMS/rotate"
check
run fmt2 "$CMEKCTL" format "$LOOP2" --provider vault-transit --key k1
run open2 "$CMEKCTL" open "$LOOP2" kv2
ktap_check "kv1 under k1 v1, k1 rotated, kv2 under k1 v2; both open" \
	eval 'rc_is fmt1 0 && rc_is open1 0 && rc_is fmt2 0 && rc_is open2 0 &&
	      can_read /dev/mapper/kv1 && can_read /dev/mapper/kv2'
rc_is open2 0 || tail -n 20 "$T/fmt1.err" "$T/open1.err" "$T/fmt2.err" "$T/open2.err" "$T/log" | sed 's/^/# /'
ktap_check "cmekd records each slot's object: kv1 k1:v1, kv2 k1:v2" \
	eval 'vol_has kv1 ".slots[0].key_id == \"k1:v1\"" &&
	      vol_has kv2 ".slots[0].key_id == \"k1:v2\""'

: >"$KMS/requests"
echo 2 >"$KMS/min_decrypt"
check
ktap_check "min_decryption_version 2: kv1 locked (its slot's version retired), kv2 open" \
	eval 'vol_has kv1 ".locked and (.lock_reason | contains(\"k1:v1\"))" &&
	      ! can_read /dev/mapper/kv1 && vol_has kv2 ".locked | not" &&
	      can_read /dev/mapper/kv2'
ktap_check "one key read per version in use ($(reads) for 2 volumes, 2 versions)" \
	test "$(reads)" = 2
ktap_check "the watch logs the object it asked about" \
	grep -q "key state vault-transit:k1 = disabled (slot object k1:v1)" "$T/log"

stop
start
ktap_check "cmekd restarted: the state file kept the objects" \
	eval 'vol_has kv1 ".slots[0].key_id == \"k1:v1\" and .locked" &&
	      vol_has kv2 ".slots[0].key_id == \"k1:v2\""'
echo 1 >"$KMS/min_decrypt"
check
ktap_check "min_decryption_version back to 1: kv1 unlocks by itself, kv2 still open" \
	eval 'wait_until 10 vol_has kv1 ".locked | not" && can_read /dev/mapper/kv1 &&
	      can_read /dev/mapper/kv2'
run close1 "$CMEKCTL" close kv1
run close2 "$CMEKCTL" close kv2
ktap_check "close both" eval 'rc_is close1 0 && rc_is close2 0'

ktap_finish
