#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The KMS dies in the middle of a request (KTAP). cmekd talks to a Vault
# transit server (tests/helpers/vault_fake: the unit tests' fake Vault as
# a process, over TLS) that is SIGKILLed while it holds a request it has
# read and not answered:
#   - during open's unwrap: open fails as a transient error, nothing is
#     mapped, no key reaches the kernel, the header is untouched; with the
#     server back, open works and the data is intact;
#   - during the watch's key-state read: the open volume keeps working
#     (unreachable is not revoked, unreachable_grace never by default);
#   - during rewrap, after the unwrap and before the new wrap: rewrap fails,
#     the header is byte-identical and still opens; rewrap works later;
#   - with the server gone, cmekd SIGKILLed and restarted adopts the
#     mapped volume, and picks the watch up again when the server is back;
#   - with unreachable_grace set, the volume locks once the server has been
#     gone that long, and unlocks by itself when it is back;
#   - a lock in the state file whose revoke never happened (cmekd died in
#     between) is finished at start-up, and undone by the watch;
#   - with the watch stuck in a key-state read the server holds, cmekd
#     still answers status, serves a key-needed event for a volume of
#     another provider, and records `cmekctl revoke`, which wipes the key
#     as fast as the command starts; with cmekd stopped, the revoke does
#     not wait for it, and cmekd records it once it runs again;
#     `cmekctl open` again undoes it;
#   - a server that throttles (HTTP 429): the watch backs off, and a
#     throttled check counts as no answer for unreachable_grace.
# Runs in the VM as root with dm-cmek loaded:
#     tests/vm/run -- tests/kselftest/cmekd_kmsfail.sh

set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib/ktap.sh"
. "$TOP/tests/kselftest/cmekd_lib.sh"
cmekd_test_init cmekd_kmsfail
FAKE=${VAULT_FAKE:-$TOP/build/helpers/vault_fake}
KMS=$T/kms
PORT=18200
KPID=
LOOP=
LOOP2=
# How much later than a bare `cmekctl key get` the key may be gone, or
# status answer, with the KMS hung. The revoke also looks the mapping up,
# and one exec in the VM varies by tens of ms here and more on a slower
# machine (measured 8, 44 and 79 ms over the baseline; 438 ms on a busier
# day). Waiting for the stuck cmekd or the KMS would take as long as the
# test holds them, or the 60 s of the KMS timeout.
REVOKE_SLACK_MS=${REVOKE_SLACK_MS:-5000}

cleanup() {
	dmsetup --noudevsync remove kf1 >/dev/null 2>&1
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	[ -n "$KPID" ] && kill -9 "$KPID" 2>/dev/null && wait "$KPID" 2>/dev/null
	dmsetup --noudevsync remove kl2 >/dev/null 2>&1
	[ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
	[ -n "$LOOP2" ] && losetup -d "$LOOP2" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

# conf UNREACHABLE_GRACE
conf() {
	daemon_conf check_interval=1s log_level=debug "unreachable_grace=$1"
	cat >>"$T/cmekd.conf" <<-EOF

	[provider vault-transit]
	endpoint = https://127.0.0.1:$PORT
	token_file = $T/vault.token
	ca_file = $KMS/ca.pem
	timeout = 60s
	retries = 1
	retry_backoff = 100ms
	EOF
}

# kms_start: the fake Vault on $PORT, until it says ready (20 s at most)
kms_start() {
	# The old "ready" must go first: the new one appears only once the
	# server listens, but the shell may look before the redirection
	# truncates the file.
	rm -f "$KMS/stall" "$KMS/stalled" "$T/kms.out"
	"$FAKE" "$KMS" "$PORT" k1 "$(cat "$T/vault.token")" >"$T/kms.out" 2>>"$T/kms.err" &
	KPID=$!
	wait_until 20 grep -q ready "$T/kms.out" && return 0
	sed 's/^/# vault_fake: /' "$T/kms.err"
	return 1
}

# kms_kill_in REQUEST-PATH-PART: the next request whose path has it is
# read and held; SIGKILL the server there. 0 once it died holding one.
kms_stall() { echo "$1" >"$KMS/stall"; }
kms_kill_held() {
	wait_until 30 test -s "$KMS/stalled" || return 1
	kill -9 "$KPID" && wait "$KPID" 2>/dev/null
	KPID=
	return 0
}

# timed_revoke NAME OUT: cmekctl revoke NAME, each output line stamped;
# t_gone (ms to the "wiped" line, or a day if none) and t_exit (ms).
timed_revoke() {
	local t0 l

	t0=$(now_ms)
	"$CMEKCTL" revoke "$1" 2>&1 | while IFS= read -r l; do
		echo "$(now_ms) $l"
	done >"$2"
	t_exit=$(($(now_ms) - t0))
	t_gone=$(awk '/key revoked and wiped/ { print $1; exit }' "$2")
	t_gone=$((${t_gone:-$((t0 + 86400000))} - t0))
}

same_data() {
	[ "$(dd if="$1" bs=1M count=1 iflag=direct 2>/dev/null | sha256sum)" = "$SUM" ]
}
hdr_sum() { dd if="$LOOP" bs=1M count=1 2>/dev/null | sha256sum; }
mapped() { dmsetup info kf1 >/dev/null 2>&1; }
status_has() {
	$CALL "$SOCK" '{"op":"status","name":"kf1"}' 2>/dev/null |
		jq -e ".volumes[0] | $1" >/dev/null 2>&1
}
locked() { status_has '.locked' && ! can_read /dev/mapper/kf1; }
unlocked() { status_has '.locked | not' && can_read /dev/mapper/kf1; }

ktap_plan 33

modprobe loop 2>/dev/null
ip link set lo up	# the guest has no network, loopback is down
truncate -s 64M "$T/disk"
LOOP=$(losetup -f --show "$T/disk")
mkdir -p "$KMS"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/vault.token"
chmod 600 "$T/vault.token"
conf never

kms_start
ktap_check "the fake Vault (TLS, key k1) listens on 127.0.0.1:$PORT" test $? = 0
start
run fmt "$CMEKCTL" format "$LOOP" --provider vault-transit --key k1
run open0 "$CMEKCTL" open "$LOOP" kf1
dd if=/dev/urandom of="$T/data" bs=1M count=1 2>/dev/null
SUM=$(sha256sum <"$T/data")
dd if="$T/data" of=/dev/mapper/kf1 bs=1M oflag=direct 2>/dev/null
run close0 "$CMEKCTL" close kf1
ktap_check "format and open under vault-transit:k1, write 1 MiB, close" \
	eval 'rc_is fmt 0 && rc_is open0 0 && rc_is close0 0 && ! mapped'
rc_is open0 0 || tail -n 20 "$T/fmt.err" "$T/open0.err" "$T/log" | sed 's/^/# /'
U=$("$CMEKCTL" dump "$LOOP" --json | jq -r .uuid)
H0=$(hdr_sum)

# --- open: killed during the unwrap ---------------------------------------
kms_stall /decrypt/
$CALL "$SOCK" '{"op":"open","device":"'"$LOOP"'","name":"kf1"}' >"$T/open1.out" 2>"$T/open1.err" &
OPID=$!
kms_kill_held
ktap_check "open's decrypt request reached the server, which died holding it" \
	test $? = 0
t0=$(now_ms)
wait $OPID
echo $? >"$T/open1.rc"
OPEN_MS=$(($(now_ms) - t0))
ktap_check "open fails $OPEN_MS ms after the kill, as transient (EAGAIN): $(jf open1 .error | head -c 300)" \
	eval 'jq_ok open1 ".errno == 11 and (.error | contains(\"vault-transit decrypt\"))"'
ktap_check "nothing mapped, no key in the kernel, header byte-identical" \
	eval '! mapped && [ "$(kstate "$U")" != present ] && [ "$(hdr_sum)" = "$H0" ]'
ktap_check "cmekd is still up and answers" \
	eval 'kill -0 $PID && $CALL "$SOCK" "{\"op\":\"ping\"}" >/dev/null'
kms_start
run open2 "$CMEKCTL" open "$LOOP" kf1
ktap_check "server back (same key): open works, data intact" \
	eval 'rc_is open2 0 && same_data /dev/mapper/kf1'

# --- the watch: killed during a key-state read -----------------------------
kms_stall /keys/
kms_kill_held
ktap_check "the watch's key read reached the server, which died holding it" \
	test $? = 0
sleep 3
ktap_check "kf1 keeps working with the KMS gone (grace never); status says unreachable" \
	eval 'unlocked && status_has "(.lock_reason // \"\") == \"\"" && grep -q "KMS unreachable\|key state vault-transit:k1 = error" "$T/log"'

# --- rewrap: killed after the unwrap, during the new wrap ------------------
kms_start
wait_until 10 status_has '.slots[0].kms_state == "enabled"'
H1=$(hdr_sum)
kms_stall /encrypt/
run rewrap1 "$CMEKCTL" rewrap kf1 &
RPID=$!
kms_kill_held
ktap_check "rewrap's encrypt request (after its decrypt) died with the server" \
	test $? = 0
wait $RPID
ktap_check "rewrap fails; header byte-identical; kf1 still works" \
	eval 'not rc_is rewrap1 0 && [ "$(hdr_sum)" = "$H1" ] && unlocked'
kms_start
run rewrap2 "$CMEKCTL" rewrap kf1
run close2 "$CMEKCTL" close kf1
run open3 "$CMEKCTL" open "$LOOP" kf1
ktap_check "server back: rewrap works (header changed), reopen, data intact" \
	eval 'rc_is rewrap2 0 && [ "$(hdr_sum)" != "$H1" ] && rc_is open3 0 && same_data /dev/mapper/kf1'

# --- cmekd killed while the KMS is gone ------------------------------------
kms_stall /keys/
kms_kill_held
kill -9 "$PID"
wait "$PID" 2>/dev/null
PID=
start
ktap_check "cmekd SIGKILLed and restarted with the KMS gone: kf1 adopted, working" \
	eval 'status_has ".name == \"kf1\"" && unlocked'
kms_start
ktap_check "server back: the watch sees k1 enabled again" \
	wait_until 10 status_has '.slots[0].kms_state == "enabled"'

# --- unreachable_grace: gone too long locks, back unlocks -------------------
stop
conf 2s
start
wait_until 10 status_has '.slots[0].kms_state == "enabled"'
kms_stall /keys/
t0=$(now_ms)
kms_kill_held
wait_until 15 locked
rc=$?
ktap_check "unreachable_grace 2s: kf1 locks $(($(now_ms) - t0)) ms after the KMS died" \
	eval '[ $rc = 0 ] && [ "$(kstate "$U")" != present ] && status_has ".lock_reason | contains(\"unreachable\")"'
t0=$(now_ms)
kms_start
wait_until 15 unlocked
rc=$?
ktap_check "server back: kf1 unlocks by itself in $(($(now_ms) - t0)) ms, data intact" \
	eval '[ $rc = 0 ] && same_data /dev/mapper/kf1'
# --- a lock recorded, its revoke not done: cmekd died in between ------------
stop
jq '(.volumes[] | select(.name == "kf1")) |= (.locked = true |
	.lock_reason = "test: recorded, not revoked")' "$T/state/volumes" \
	>"$T/volumes.new" && mv "$T/volumes.new" "$T/state/volumes"
chmod 600 "$T/state/volumes"
LOGN=$(wc -l <"$T/log")
newlog() { tail -n +$((LOGN + 1)) "$T/log"; }
start
ktap_check "state says locked, key still in the kernel: cmekd revokes it at start-up" \
	eval 'wait_until 10 eval "newlog | grep -q \"op=revoke .*name=kf1 .*result=ok .*why=lock\"" &&
	      newlog | grep -q "locked (test: recorded, not revoked) but its key is in the kernel"'
ktap_check "... and the watch unlocks it (the KMS key is fine), data intact" \
	eval 'wait_until 10 eval "newlog | grep -q \"op=unlock .*name=kf1\"" && wait_until 5 unlocked && same_data /dev/mapper/kf1'

# --- the KMS hangs: cmekd serves on, and a revoke waits for neither --------
# A second volume, kl2, on the local provider: formatted, written and its
# table kept while the KMS answers; closed, to come back as a mapping
# loaded with dmsetup (a key-needed event) while the KMS hangs.
mkkek l1
truncate -s 64M "$T/disk2"
LOOP2=$(losetup -f --show "$T/disk2")
run fmt2 "$CMEKCTL" format "$LOOP2" --provider local --key l1
run open2b "$CMEKCTL" open "$LOOP2" kl2
dd if="$T/data" of=/dev/mapper/kl2 bs=1M oflag=direct 2>/dev/null
TABLE2=$(dmsetup table kl2)
run close2b "$CMEKCTL" close kl2
U2=$("$CMEKCTL" dump "$LOOP2" --json | jq -r .uuid)
rc_is close2b 0 || tail -n 5 "$T/fmt2.err" "$T/open2b.err" "$T/close2b.err" | sed 's/^/# /'
kms_stall /keys/
wait_until 10 test -s "$KMS/stalled"
rc=$?
ktap_check "cmekd is stuck in the watch's key-state read (held by the server); kl2 made" \
	eval '[ $rc = 0 ] && rc_is fmt2 0 && rc_is open2b 0 && rc_is close2b 0 && [ -n "$TABLE2" ]'
base=
for i in 1 2 3; do
	t0=$(now_ms)
	"$CMEKCTL" key get "$U" >/dev/null 2>&1
	t=$(($(now_ms) - t0))
	if [ -z "$base" ] || [ $t -lt "$base" ]; then base=$t; fi
done
t0=$(now_ms)
$CALL "$SOCK" '{"op":"status"}' >"$T/status.out" 2>&1
rc=$?
t_status=$(($(now_ms) - t0))
ktap_check "KMS hung: status answers in $t_status ms (exec baseline $base ms)" \
	eval '[ $rc = 0 ] && jq -e ".volumes[] | select(.name == \"kf1\")" "$T/status.out" >/dev/null &&
	      [ $t_status -le $((base + REVOKE_SLACK_MS)) ]'
t0=$(now_ms)
dmsetup --noudevsync create kl2 --table "$TABLE2" >/dev/null 2>&1
dmsetup mknodes kl2 >/dev/null 2>&1
wait_until 20 same_data /dev/mapper/kl2
rc=$?
ktap_check "KMS hung: a key-needed event for a local volume is served in $(($(now_ms) - t0)) ms, data intact" \
	eval '[ $rc = 0 ] && grep -q "audit: op=push uuid=$U2 name=kl2 .*why=key-needed" "$T/log"'
timed_revoke kf1 "$T/revoke.out"
ktap_diag "exec baseline (cmekctl key get) $base ms; status $t_status ms;" \
	"revoke: key wiped at $t_gone ms, exit at $t_exit ms"
ktap_check "KMS hung: cmekctl revoke wipes the key at $t_gone ms and exits at $t_exit ms" \
	eval '[ "$(kstate "$U")" = revoked ] && grep -q "kf1: key revoked and wiped" "$T/revoke.out" &&
	      [ $t_gone -le $((base + REVOKE_SLACK_MS)) ] && [ $t_exit -le $((base + 2 * REVOKE_SLACK_MS)) ]'
ktap_check "KMS still hung: cmekd records the revoke (state, audit line)" \
	eval 'wait_until 10 status_has ".revoked" && grep -q "audit: op=revoke uuid=$U name=kf1 .*why=admin" "$T/log" &&
	      test -e "$KMS/stall"'
# cmekd itself stuck: the revoke does not wait for it either. The order of
# the lines is what proves the kernel came first; the bounds only catch a
# revoke that waited for cmekd, which never answers while stopped.
kill -STOP "$PID"
timed_revoke kl2 "$T/revoke2.out"
kill -CONT "$PID"
ktap_check "cmekd stopped: cmekctl revoke wipes the key first, at $t_gone ms, and exits at $t_exit ms" \
	eval '[ "$(kstate "$U2")" = revoked ] && grep -q "kl2: key revoked and wiped" "$T/revoke2.out" &&
	      [ $t_gone -le $((base + REVOKE_SLACK_MS)) ] &&
	      [ $t_exit -le $((base + 2 * REVOKE_SLACK_MS)) ] &&
	      grep -q "cmekd has not confirmed within 100 ms" "$T/revoke2.out" &&
	      awk "/key revoked and wiped/ { k = NR } /cmekd has not confirmed/ { c = NR }
		   END { exit !(k && c && k < c) }" "$T/revoke2.out"'
ktap_check "cmekd, running again, records that revoke too" \
	wait_until 10 grep -q "audit: op=revoke uuid=$U2 name=kl2 .*why=admin" "$T/log"
rm -f "$KMS/stall"
dmsetup --noudevsync remove kl2 >/dev/null 2>&1
run undo "$CMEKCTL" open "$LOOP" kf1
ktap_check "undo as the runbook says (cmekctl open again): kf1 works, data intact" \
	eval 'rc_is undo 0 && wait_until 5 unlocked && same_data /dev/mapper/kf1'

# --- a revoke while an open waits for the KMS wins --------------------------
# The reopen's unwrap is held by the server; the revoke is served at once,
# and when the KMS answers the key it unwrapped is not pushed.
rm -f "$KMS/stalled"
kms_stall /decrypt/
$CALL "$SOCK" '{"op":"open","device":"'"$LOOP"'","name":"kf1"}' >"$T/open4.out" 2>"$T/open4.err" &
OPID=$!
wait_until 10 test -s "$KMS/stalled"
rc=$?
run rv4 "$CMEKCTL" revoke kf1
rm -f "$KMS/stall"
wait $OPID
ktap_check "a revoke while open's unwrap is held wins: open fails ($(jf open4 .error | head -c 200))" \
	eval '[ $rc = 0 ] && rc_is rv4 0 && [ "$(kstate "$U")" = revoked ] &&
	      jq_ok open4 ".error | contains(\"revoked while its key was being unwrapped\")" &&
	      grep -q "audit: op=push uuid=$U name=kf1 .*result=.*why=reopen" "$T/log"'
run undo2 "$CMEKCTL" open "$LOOP" kf1
ktap_check "cmekctl open after it restores kf1, data intact" \
	eval 'rc_is undo2 0 && wait_until 5 unlocked && same_data /dev/mapper/kf1'

# --- the KMS throttles: the watch backs off, and no answer is no answer -----
wait_until 10 status_has '.slots[0].kms_state == "enabled"'
: >"$KMS/requests"
echo /keys/ >"$KMS/throttle"
t0=$(now_ms)
wait_until 15 locked
rc=$?
t_lock=$(($(now_ms) - t0))
left=$((t0 + 10000 - $(now_ms)))
[ $left -gt 0 ] && sleep "$(printf '%d.%03d' $((left / 1000)) $((left % 1000)))"
reads=$(grep -c "/keys/k1" "$KMS/requests")
ktap_check "throttled (HTTP 429): $reads key reads in 10 s at check_interval 1s, retries 1" \
	eval '[ "$reads" -ge 2 ] && [ "$reads" -le 10 ]'
ktap_check "the watch says it backs off" \
	grep -E -q "key state vault-transit:k1: throttled by the KMS \(3 in a row\): next check in [89]s" "$T/log"
ktap_check "a throttled check is no answer: unreachable_grace 2s locked kf1 in $t_lock ms" \
	eval '[ $rc = 0 ] && status_has ".lock_reason | contains(\"unreachable\")"'
rm -f "$KMS/throttle"
t0=$(now_ms)
wait_until 30 unlocked
rc=$?
ktap_check "throttling over: kf1 unlocks by itself in $(($(now_ms) - t0)) ms, data intact" \
	eval '[ $rc = 0 ] && same_data /dev/mapper/kf1'

run close3 "$CMEKCTL" close kf1
ktap_check "close; the key leaves the kernel" \
	eval 'rc_is close3 0 && ! mapped && [ "$(kstate "$U")" != present ]'

ktap_finish
