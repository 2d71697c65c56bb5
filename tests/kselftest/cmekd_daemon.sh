#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# cmekd as a process (KTAP): config validation, start/stop, the control
# socket's modes and framing, root-only peers (and only the initial user
# namespace's root), a second daemon refused.
# Runs in the VM as root with dm-cmek loaded:
#     tests/vm/run -- tests/kselftest/cmekd_daemon.sh
#
# Every check can fail; nothing is skipped silently.

set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib/ktap.sh"
CMEKD=${CMEKD:-$TOP/build/cmekd}
CALL="$TOP/build/helpers/cmekd_call"
T=$(mktemp -d /tmp/cmekd_daemon.XXXXXX)
SOCK=$T/run/cmekd.sock
PID=

cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

conf() {	# conf FILE TEXT: write a config, 0600
	printf '%s\n' "$2" >"$1"
	chmod 600 "$1"
}

wait_sock() {	# wait until the daemon answers ping (5 s)
	local i
	for i in $(seq 50); do
		$CALL "$SOCK" '{"op":"ping"}' >/dev/null 2>&1 && return 0
		[ -n "$PID" ] && ! kill -0 "$PID" 2>/dev/null && return 1
		sleep 0.1
	done
	return 1
}

start() {	# start CONFIG: cmekd in the background, log in $T/log
	"$CMEKD" -c "$1" --no-syslog >>"$T/log" 2>&1 &
	PID=$!
	wait_sock
}

stop() {
	[ -n "$PID" ] || return 1
	kill -TERM "$PID"
	wait "$PID"
	local rc=$?
	PID=
	return $rc
}

# reply_errno JSON-REQUEST EXTRA-ARGS...: print the errno of cmekd's reply
reply_errno() {
	local req=$1
	shift
	$CALL "$SOCK" "$req" "$@" 2>/dev/null | jq -r '.errno // "none"'
}

ktap_plan 31

mkdir -p "$T/keys"
chmod 700 "$T/keys"
GOOD="[daemon]
socket = $SOCK
state_dir = $T/state
trust_dir = $T/trust
key_dir = $T/keys
check_interval = 1h
log_level = debug"
conf "$T/good.conf" "$GOOD"

# --- config validation ----------------------------------------------------
out=$("$CMEKD" -c "$T/good.conf" --check-config 2>&1)
ktap_check "--check-config accepts a good config" test $? -eq 0

conf "$T/bad.conf" "[daemon]
socket = $SOCK
check_interval = soon
[nonsense]
[provider no-such-kms]
what is this"
out=$("$CMEKD" -c "$T/bad.conf" --check-config 2>&1)
rc=$?
ktap_check "--check-config rejects a bad config (exit 1)" test $rc -eq 1
ktap_check "every bad line reported as FILE:LINE" \
	sh -c 'echo "$1" | grep -q "bad.conf:3: check_interval" &&
	       echo "$1" | grep -q "bad.conf:4: unknown section" &&
	       echo "$1" | grep -q "bad.conf:5: unknown provider" &&
	       echo "$1" | grep -q "bad.conf:6: expected"' _ "$out"

# It exits once it has read the config: 20 s is for a slow machine only.
"$CMEKD" -c "$T/bad.conf" --no-syslog >"$T/bad.log" 2>&1 &
BADPID=$!
wait_until 20 eval "! kill -0 $BADPID 2>/dev/null"
if kill -0 $BADPID 2>/dev/null; then
	kill $BADPID
	ktap_fail "cmekd refuses to start on a bad config" "it is still running after 20 s"
else
	wait $BADPID
	rc=$?
	ktap_check "cmekd refuses to start on a bad config (exit $rc)" \
		sh -c "[ $rc -eq 1 ] && grep -q 'refusing to start' '$T/bad.log' && [ ! -S '$SOCK' ]"
fi

echo secret >"$T/creds"
chmod 644 "$T/creds"
conf "$T/creds.conf" "$GOOD
[provider vault-transit]
token_file = creds"
out=$("$CMEKD" -c "$T/creds.conf" --no-syslog 2>&1)
rc=$?
CREDS_LINE=$(grep -n '^token_file' "$T/creds.conf" | cut -d: -f1)
ktap_check "a 0644 credentials file refuses start-up with FILE:LINE" \
	sh -c '[ "$1" -eq 1 ] && echo "$2" | grep -q "creds.conf:$3: .*0644"' _ $rc "$out" "$CREDS_LINE"

chmod 666 "$T/good.conf"
out=$("$CMEKD" -c "$T/good.conf" --check-config 2>&1)
ktap_check "a world-writable config is refused" \
	sh -c '[ $1 -eq 1 ] && echo "$2" | grep -q "chmod 600"' _ $? "$out"
chmod 600 "$T/good.conf"

out=$("$CMEKD" -c "$T/missing.conf" 2>&1)
ktap_check "a missing -c config is refused" test $? -eq 1

# --- start ---------------------------------------------------------------
start "$T/good.conf"
ktap_check "cmekd starts and answers ping" test $? -eq 0
ktap_check "socket is 0600 root" \
	test "$(stat -c '%a %u %F' "$SOCK")" = "600 0 socket"
ktap_check "socket directory is 0700" test "$(stat -c %a "$T/run")" = 700
ktap_check "ping reports the daemon's pid" \
	test "$($CALL "$SOCK" '{"op":"ping"}' | jq -r .pid)" = "$PID"
ktap_check "cmekd reached the cmek netlink family" \
	test "$($CALL "$SOCK" '{"op":"ping"}' | jq -r .kernel)" = true
ktap_check "core files disabled (RLIMIT_CORE 0)" \
	sh -c "grep -q '^Max core file size *0 *0' /proc/$PID/limits"
ktap_check "memory is locked (VmLck > 0)" \
	sh -c "[ \$(awk '/VmLck/ {print \$2}' /proc/$PID/status) -gt 0 ]"

# --- framing -------------------------------------------------------------
ktap_check "non-JSON refused with EBADMSG" test "$(reply_errno 'hello')" = 74
ktap_check "missing op refused with EINVAL" test "$(reply_errno '{"name":"x"}')" = 22
ktap_check "unknown op refused with EOPNOTSUPP" \
	test "$(reply_errno '{"op":"frobnicate"}')" = 95
ktap_check "oversized message refused with EMSGSIZE" \
	test "$(reply_errno '{"op":"ping"}' --size 70000)" = 90
ktap_check "status of an unknown volume is an empty list" \
	test "$($CALL "$SOCK" '{"op":"status","name":"nope"}' | jq -r '.volumes | length')" = 0
ktap_check "open with a bad name is refused" \
	test "$(reply_errno '{"op":"open","device":"/dev/null","name":"a/b"}')" = 22

# --- peers -----------------------------------------------------------------
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups $CALL "$SOCK" '{"op":"ping"}' 2>&1)
ktap_check "non-root client cannot even connect (socket 0600, dir 0700)" \
	sh -c '[ $1 -eq 2 ] && echo "$2" | grep -qi "permission denied"' _ $? "$out"
chmod 711 "$T"
chmod 755 "$T/run"
chmod 666 "$SOCK"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups $CALL "$SOCK" '{"op":"ping"}' 2>/dev/null)
rc=$?
chmod 700 "$T" "$T/run"
chmod 600 "$SOCK"
ktap_check "non-root client refused by SO_PEERCRED with EPERM" \
	sh -c '[ $1 -eq 1 ] && [ "$(echo "$2" | jq -r .errno)" = 1 ]' _ $rc "$out"
ktap_check "refused client audit-logged" \
	grep -q 'audit: op=connect result=refused peer_uid=65534' "$T/log"
# Root of a container the socket was bind-mounted into: uid 0 to
# SO_PEERCRED, but not the host's administrator.
out=$(unshare --user --map-root-user $CALL "$SOCK" '{"op":"ping"}' 2>/dev/null)
ktap_check "root in another user namespace refused with EPERM" \
	sh -c '[ $1 -eq 1 ] && [ "$(echo "$2" | jq -r .errno)" = 1 ] &&
	       echo "$2" | jq -r .error | grep -q "user namespace"' _ $? "$out"
ktap_check "... audit-logged as such" \
	grep -q 'audit: op=connect result=refused peer_uid=0 peer_pid=[0-9]* reason="another user namespace"' "$T/log"
ktap_check "root in the initial user namespace is still served" \
	test "$($CALL "$SOCK" '{"op":"ping"}' | jq -r .ok)" = true

# --- key operations made outside cmekd are audited -------------------------
# log_has REGEX: cmekd's log gets a line matching within 5 s
log_has() {
	local i
	for i in $(seq 50); do
		grep -E -q "$1" "$T/log" && return 0
		sleep 0.1
	done
	return 1
}
U=$(cat /proc/sys/kernel/random/uuid)
head -c 64 /dev/urandom | od -An -tx1 -v | tr -d ' \n' |
	"$TOP/build/cmekctl" key set "$U" --hex >/dev/null
ktap_check "a key set straight in the kernel is audited" \
	log_has "audit: op=key-set uuid=$U .*by=kernel-event \\(set outside cmekd\\) generation=1"
"$TOP/build/cmekctl" key revoke "$U" >/dev/null
ktap_check "a key revoked straight in the kernel is audited" \
	log_has "audit: op=revoke uuid=$U .*by=kernel-event \\(revoked outside cmekd\\)"
# cmekd's own revoke --all wipes keys it did not know of: its events are
# its own, not revokes made outside. A later key set outside marks when
# the events before it have been read.
U2=$(cat /proc/sys/kernel/random/uuid)
U3=$(cat /proc/sys/kernel/random/uuid)
head -c 64 /dev/urandom | od -An -tx1 -v | tr -d ' \n' |
	"$TOP/build/cmekctl" key set "$U2" --hex >/dev/null
log_has "audit: op=key-set uuid=$U2 "
$CALL "$SOCK" '{"op":"revoke","all":true}' >"$T/revall.out" 2>&1
rc=$?
head -c 64 /dev/urandom | od -An -tx1 -v | tr -d ' \n' |
	"$TOP/build/cmekctl" key set "$U3" --hex >/dev/null
log_has "audit: op=key-set uuid=$U3 "
"$TOP/build/cmekctl" key revoke "$U3" >/dev/null
ktap_check "cmekd's revoke --all is audited once, as its own" \
	sh -c '[ $1 = 0 ] && grep -q "audit: op=revoke-all " "$2" &&
	       ! grep -q "op=revoke uuid=$3 .*revoked outside cmekd" "$2" &&
	       [ "$("$4" key get "$3" --json 2>/dev/null | jq -r .state)" != present ]' \
	_ $rc "$T/log" "$U2" "$TOP/build/cmekctl"

# --- a second daemon, then stop -------------------------------------------
out=$("$CMEKD" -c "$T/good.conf" --no-syslog 2>&1)
ktap_check "a second cmekd on the same socket refuses to start" \
	sh -c '[ $1 -eq 1 ] && echo "$2" | grep -q "another cmekd"' _ $? "$out"

stop
rc=$?
ktap_check "SIGTERM stops cmekd cleanly and removes the socket" \
	sh -c "[ $rc -eq 0 ] && [ ! -e '$SOCK' ]"

if [ "$KTAP_FAILED" -ne 0 ]; then
	ktap_diag "cmekd log:"
	sed 's/^/# /' "$T/log" | tail -40
fi
ktap_finish
