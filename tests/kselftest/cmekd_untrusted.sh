#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The watch against someone on the network path who cannot break TLS
# (KTAP). cmekd watches a volume on Vault transit (tests/helpers/vault_fake
# over TLS) with check_interval 1s:
#   - the KMS goes away and, during the grace, a server with a
#     certificate that does not chain to ca_file takes its address (a man
#     in the middle): no answer counts, so the volume locks at the end of
#     unreachable_grace, counted from the first failed check; it unlocks
#     by itself once the real KMS answers again;
#   - an HTML 403 from something on the way (a WAF) is no answer either:
#     it never locks at once, as a "key disabled" would, and it does not
#     reset the grace;
#   - cmekd's own token refused ("invalid token"): a credential error,
#     logged and audited once (op=kms-credential), not a revocation;
#   - Vault's own refusal (the token is good, its policies no longer
#     allow the key) still locks at once;
#   - after an open (an unwrap over HTTPS with the token in a header),
#     cmekd's memory holds neither the data key, nor its base64 as it
#     came in the answer, nor the token (tests/helpers/memscan).
# Runs in the VM as root with dm-cmek loaded:
#     tests/vm/run -- tests/kselftest/cmekd_untrusted.sh

set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib/ktap.sh"
. "$TOP/tests/kselftest/cmekd_lib.sh"
cmekd_test_init cmekd_untrusted
FAKE=${VAULT_FAKE:-$TOP/build/helpers/vault_fake}
KMS=$T/kms
ROGUE=$T/rogue
PORT=18201
GRACE=8
KPID=
LOOP=

cleanup() {
	dmsetup --noudevsync remove ku1 >/dev/null 2>&1
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	[ -n "$KPID" ] && kill -9 "$KPID" 2>/dev/null && wait "$KPID" 2>/dev/null
	[ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

# conf UNREACHABLE_GRACE [CHECK_INTERVAL]
conf() {
	daemon_conf "check_interval=${2:-1s}" log_level=debug "unreachable_grace=$1"
	cat >>"$T/cmekd.conf" <<-EOF2

	[provider vault-transit]
	endpoint = https://127.0.0.1:$PORT
	token_file = $T/vault.token
	ca_file = $KMS/ca.pem
	timeout = 5s
	retries = 0
	EOF2
}

# kms_start DIR [TOKEN [KEY]]: a vault_fake on $PORT with DIR's CA (the
# real KMS: $KMS; a man in the middle: $ROGUE), knowing one key (k1) and
# one token (cmekd's) with every right on that key, until it says ready
kms_start() {
	mkdir -p "$1"
	rm -f "$T/kms.out"
	"$FAKE" "$1" "$PORT" "${3:-k1}" "${2:-$(cat "$T/vault.token")}" >"$T/kms.out" 2>>"$T/kms.err" &
	KPID=$!
	wait_until 20 grep -q ready "$T/kms.out" && return 0
	sed 's/^/# vault_fake: /' "$T/kms.err"
	return 1
}
kms_stop() {
	[ -n "$KPID" ] && kill -9 "$KPID" 2>/dev/null && wait "$KPID" 2>/dev/null
	KPID=
}

status_has() {
	$CALL "$SOCK" '{"op":"status","name":"ku1"}' 2>/dev/null |
		jq -e ".volumes[0] | $1" >/dev/null 2>&1
}
locked() { status_has '.locked' && ! can_read /dev/mapper/ku1; }
unlocked() { status_has '.locked | not' && can_read /dev/mapper/ku1; }
enabled() { status_has '.slots[0].kms_state == "enabled"'; }
# wait_for SECONDS CMD...: until CMD succeeds, by the clock (a poll costs
# several processes, slow under emulation)
wait_for() {
	local end=$(($(now_ms) + $1 * 1000))

	shift
	while [ "$(now_ms)" -lt $end ]; do
		"$@" && return 0
		sleep 0.5
	done
	return 1
}
# checks N PATTERN: the log holds N "key state" error lines matching
# PATTERN since the mark (60 s at most)
mark() { MARK=$(wc -l <"$T/log"); }
since_mark() { tail -n +$((MARK + 1)) "$T/log"; }
enough() {
	[ "$(since_mark | grep "key state vault-transit:k1 = error" |
	     grep -c -- "$2")" -ge "$1" ]
}
checks() { wait_for 60 enough "$1" "$2"; }

ktap_plan 13

modprobe loop 2>/dev/null
ip link set lo up
truncate -s 64M "$T/disk"
LOOP=$(losetup -f --show "$T/disk")
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/vault.token"
chmod 600 "$T/vault.token"
conf $GRACE
kms_start "$KMS"
start
run fmt "$CMEKCTL" format "$LOOP" --provider vault-transit --key k1
run open0 "$CMEKCTL" open "$LOOP" ku1
wait_for 30 enabled
U=$("$CMEKCTL" dump "$LOOP" --json | jq -r .uuid)
ktap_check "ku1 on vault-transit:k1, open, the watch sees the key enabled" \
	eval 'rc_is fmt 0 && rc_is open0 0 && unlocked && enabled'
rc_is open0 0 || tail -n 20 "$T/fmt.err" "$T/open0.err" "$T/log" | sed 's/^/# /'

# --- a man in the middle during the grace -----------------------------------
# The KMS goes; a server with a certificate of its own takes its address
# within the grace. Each of its answers used to reset the grace.
mark
kms_stop
t0=$(now_ms)
kms_start "$ROGUE"
checks 1 "certificate"
rc=$?
ktap_check "during the grace, a server whose certificate does not verify answers on the KMS's address" \
	eval '[ $rc = 0 ] && { unlocked || [ $(($(now_ms) - t0)) -ge $(((GRACE - 1) * 1000)) ]; }'
wait_for 60 locked
rc=$?
t_lock=$(($(now_ms) - t0))
ktap_check "ku1 locks at the end of unreachable_grace ${GRACE}s, counted from the KMS's last answer: $t_lock ms" \
	eval '[ $rc = 0 ] && [ $t_lock -ge $(((GRACE - 1) * 1000)) ] && [ "$(kstate "$U")" != present ]'
ktap_check "the lock says why: unreachable, the certificate" \
	eval 'status_has ".lock_reason | contains(\"unreachable\")" && status_has ".lock_reason | contains(\"certificate\")"'
kms_stop
kms_start "$KMS"
wait_for 60 unlocked
ktap_check "the real KMS back: ku1 unlocks by itself" unlocked

# --- an HTML 403 from something on the way -----------------------------------
stop
conf 60
start
wait_for 30 enabled
mark
printf '403\n<html><body><h1>Forbidden</h1>Request blocked by the web application firewall.</body></html>\n' >"$KMS/answer"
checks 3 "not an answer from Vault"
rc=$?
ktap_check "three checks answered by a WAF's HTML 403: ku1 still unlocked (grace 60s)" \
	eval '[ $rc = 0 ] && unlocked'
ktap_check "status shows the KMS unreachable, not the key refused" \
	eval 'status_has ".slots[0].kms_error | contains(\"unreachable\")" && status_has ".slots[0].kms_state == \"unknown\""'
rm -f "$KMS/answer"
wait_for 30 enabled

# --- cmekd's own token refused ------------------------------------------------
mark
kms_stop
kms_start "$KMS" "not-the-token-cmekd-has"
checks 3 "invalid token"
rc=$?
ktap_check "cmekd's token refused three times: ku1 still unlocked, a credential error" \
	eval '[ $rc = 0 ] && unlocked && status_has ".slots[0].kms_error | contains(\"credential\")"'
ktap_check "said and audited once: op=kms-credential" \
	eval '[ "$(since_mark | grep -c "audit: op=kms-credential .*result=fail")" = 1 ] && since_mark | grep -q "refuses cmekd.s own credential"'
kms_stop
kms_start "$KMS"
wait_for 30 enabled
ktap_check "token accepted again: audited (op=kms-credential result=ok), ku1 unlocked" \
	eval 'since_mark | grep -q "audit: op=kms-credential .*result=ok" && unlocked'

# --- the real refusal still locks at once ------------------------------------
# A Vault whose policies give cmekd's token rights on another key only:
# "permission denied" on k1, while the token itself is good (lookup-self).
kms_stop
mark
kms_start "$KMS" "" k9
wait_for 30 locked
rc=$?
ktap_check "cmekd's token valid, its policies no longer allow k1: ku1 locks at once (grace 60s)" \
	eval '[ $rc = 0 ] && status_has ".lock_reason | contains(\"access-denied\")" && [ "$(kstate "$U")" != present ]'
kms_stop
kms_start "$KMS"
wait_for 60 unlocked
ktap_check "k1 allowed again: ku1 unlocks by itself" unlocked

# --- no token, no key left in cmekd's memory after an unwrap ------------------
# The watch off, so that no request is under way while the scan runs.
stop
conf 60 off
start
run close9 "$CMEKCTL" close ku1
run open9 "$CMEKCTL" open "$LOOP" ku1
read -r DEK _ < <(VAULT_ADDR=https://127.0.0.1:$PORT VAULT_CACERT=$KMS/ca.pem \
	VAULT_TOKEN=$(cat "$T/vault.token") "$TOP/build/helpers/cmek_unwrap" "$LOOP" 2>"$T/unwrap.err")
hex() { printf %s "$1" | od -An -tx1 -v | tr -d ' \n'; }
B64HEX=$(hex "$(printf %s "$DEK" | xxd -r -p | base64 -w0)")
TOKHEX=$(hex "$(cat "$T/vault.token")")
SOCKHEX=$(hex "$SOCK")
scan() { "$TOP/build/helpers/memscan" "$PID" "$1" >/dev/null; }
ktap_check "after an open through Vault, cmekd's memory holds no copy of the key, of its base64, or of the token" \
	eval 'rc_is open9 0 && [ ${#DEK} = 128 ] && scan "$SOCKHEX" && ! scan "${DEK:0:64}" && ! scan "${DEK:64:64}" && ! scan "$B64HEX" && ! scan "$TOKHEX"'
unset DEK B64HEX

[ "${KTAP_FAILED:-0}" = 0 ] || tail -n 40 "$T/log" | sed 's/^/# cmekd: /'
ktap_finish
