#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Someone who can write the disk, but holds none of the customer's KMS
# keys, against cmekd (KTAP). Each check is named after what it proves:
#   - a forged device under a known volume's UUID (a slot that a key the
#     host can reach unwraps, with a data key the attacker made) is refused
#     by the key check value the host recorded, and, on a host that never
#     saw the volume, by allow_keys;
#   - a header naming a provider without a config section is refused;
#   - a header whose fields were rewritten fails its MAC and is refused;
#   - a slot rewritten on disk while the volume is open locks it (the
#     watch asks about the slots cmekd recorded, not the disk's), with an
#     alarm, until it is opened again;
#   - a header rolled back to an older copy, or down to version 1, is
#     refused; a version 1 header the host never saw opens, and
#     cmekctl upgrade seals it; legacy_headers = refuse refuses it;
#   - a line of /etc/cmek/volumes pins the volume's UUID (also for a device
#     given by path) and the KMS keys it may be unwrapped with;
#   - format refuses a data offset over its own header copies;
#   - azure-kv with sign_key: a slot without sign_key's signature (what
#     anyone with the wrapping key's public half can make) is refused and
#     audited, a signed one opens (tests/helpers/azure_fake).
# Local provider; KEKs stand in for KMS keys. Runs in the VM as root with
# dm-cmek loaded:  tests/vm/run -- tests/kselftest/cmekd_trust.sh
#
# Every check can fail; nothing is skipped silently.

set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib/ktap.sh"
. "$TOP/tests/kselftest/cmekd_lib.sh"
cmekd_test_init cmekd_trust
TAMPER=$TOP/build/helpers/hdr_tamper
LOOPS=
AZPID=

cleanup() {
	local m l
	for m in ct0 ct1 ct2; do
		dmsetup --noudevsync remove "$m" >/dev/null 2>&1
	done
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	[ -n "$AZPID" ] && kill "$AZPID" 2>/dev/null && wait "$AZPID" 2>/dev/null
	for l in $LOOPS; do losetup -d "$l" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

# conf [KEY=VALUE...]: [daemon] as given, a local section allowing $ALLOW
conf() {
	daemon_conf check_interval=off log_level=debug "$@"
	printf '[provider local]\nkey_dir = %s\n%s' "$T/keys" \
		"${ALLOW:+allow_keys = $ALLOW
}" >>"$T/cmekd.conf"
}
restart() { stop; start; }

# Header bytes: both copies (the first 1 MiB + 64 KiB).
hdr_save() { dd if="$1" of="$2" bs=64K count=17 2>/dev/null; }
hdr_load() { dd if="$2" of="$1" bs=64K count=17 conv=notrunc,fsync 2>/dev/null; }
hdr_sum() { dd if="$1" bs=64K count=17 2>/dev/null | sha256sum; }
same_data() {
	[ "$(dd if="$1" bs=1M count=1 iflag=direct 2>/dev/null | sha256sum)" = "$SUM" ]
}
refused() {	# refused NAME TEXT: the command failed, saying TEXT
	! rc_is "$1" 0 && err_has "$1" "$2"
}
audited() { tail -n +$((N0 + 1)) "$T/log" | grep -q -- "$1"; }
mark() { N0=$(wc -l <"$T/log"); }
rec() { echo "$T/trust/$1"; }

ktap_plan 29

modprobe loop 2>/dev/null
for i in 0 1 2; do
	truncate -s 64M "$T/disk$i"
	L=$(losetup -f --show "$T/disk$i")
	LOOPS="$LOOPS $L"
done
set -- $LOOPS
D0=$1
D1=$2
D2=$3
mkkek ka && mkkek kb && mkkek kx
ALLOW=
conf
start || ktap_diag "cmekd did not start: $(tail -5 "$T/log")"

# --- the host records what it formats -------------------------------------
run fmt "$CMEKCTL" format "$D0" --key ka
U0=$("$CMEKCTL" dump "$D0" --json 2>/dev/null | jq -r .uuid)
run op0 "$CMEKCTL" open "$D0" ct0
head -c 1M /dev/urandom >"$T/data"
dd if="$T/data" of=/dev/mapper/ct0 bs=1M oflag=direct 2>/dev/null
SUM=$(sha256sum <"$T/data")
ktap_check "format records the volume: key check value, version 2, no key bytes" \
	eval 'rc_is fmt 0 && rc_is op0 0 && jq -e ".kcv | test(\"^[0-9a-f]{64}$\")" "$(rec "$U0")" >/dev/null &&
	[ "$(jq -r .version "$(rec "$U0")")" = 2 ] &&
	[ "$(stat -c %a "$(rec "$U0")")" = 600 ] &&
	[ "$("$CMEKCTL" dump "$D0" --json | jq -r .version)" = 2 ]'
run cl0 "$CMEKCTL" close ct0

# --- forged and swapped devices -------------------------------------------
"$TAMPER" "$D1" forge "$U0" kx
mark
run forged "$CMEKCTL" open "$D1" ct1
ktap_check "a forged device under a known UUID is refused: not the recorded key" \
	eval 'refused forged "not the one this host recorded" &&
	! dmsetup info ct1 >/dev/null 2>&1 && [ "$(kstate "$U0")" != present ]'
ktap_check "the refusal is audited and alarmed" \
	eval 'audited "op=trust uuid=$U0.*result=fail" && audited "ALARM"'

# A host that never saw the volume: only allow_keys stands in the way.
mv "$(rec "$U0")" "$T/rec0"
ALLOW="ka kb"
conf
restart
run forged2 "$CMEKCTL" open "$D1" ct1
ktap_check "on a host without a record, allow_keys refuses the attacker's key" \
	eval 'refused forged2 "not in allow_keys" && ! dmsetup info ct1 >/dev/null 2>&1 &&
	[ ! -e "$(rec "$U0")" ]'
mv "$T/rec0" "$(rec "$U0")"

# --- a header rewritten on disk -------------------------------------------
hdr_save "$D0" "$T/d0.good"
"$TAMPER" "$D0" provider 0 aws-kms
run noprov "$CMEKCTL" open "$D0" ct0
ktap_check "a header naming a provider without a config section is refused" \
	eval 'refused noprov "no \[provider aws-kms\] section"'
hdr_load "$D0" "$T/d0.good"

"$TAMPER" "$D0" iv_offset 8
BAD=$(hdr_sum "$D0")
mark
run badmac "$CMEKCTL" open "$D0" ct0
ktap_check "a header whose layout was rewritten fails its MAC: refused, audited, untouched" \
	eval 'refused badmac "does not carry the MAC" && audited "op=trust uuid=$U0.*result=fail" &&
	[ "$(hdr_sum "$D0")" = "$BAD" ] && ! dmsetup info ct0 >/dev/null 2>&1'
hdr_load "$D0" "$T/d0.good"
run op1 "$CMEKCTL" open "$D0" ct0
ktap_check "the restored header opens, same data" \
	eval 'rc_is op1 0 && same_data /dev/mapper/ct0'

# --- the watch fails closed -----------------------------------------------
"$TAMPER" "$D0" provider 0 garbage
mark
run chk "$CMEKCTL" check ct0
ktap_check "a slot rewritten on disk while open locks the volume" \
	eval '[ "$("$CMEKCTL" status ct0 --json | jq -r ".volumes[0].locked // .locked")" = true ] &&
	not can_read /dev/mapper/ct0 && [ "$(kstate "$U0")" = revoked ]'
ktap_check "the lock says why, and raises an alarm" \
	eval '"$CMEKCTL" status ct0 --json | grep -q "no longer matches the key slots" &&
	audited "ALARM" && audited "op=lock uuid=$U0"'
hdr_load "$D0" "$T/d0.good"
run chk2 "$CMEKCTL" check ct0
ktap_check "it stays locked when the header is put back" \
	eval 'not can_read /dev/mapper/ct0'
run reop "$CMEKCTL" open "$D0" ct0
ktap_check "opening it again checks the MAC and unlocks it" \
	eval 'rc_is reop 0 && same_data /dev/mapper/ct0'

# --- rolled back, downgraded ----------------------------------------------
hdr_save "$D0" "$T/d0.old"
run add "$CMEKCTL" slot add "$D0" --key kb
hdr_save "$D0" "$T/d0.new"
run cl1 "$CMEKCTL" close ct0
hdr_load "$D0" "$T/d0.old"
run rolled "$CMEKCTL" open "$D0" ct0
ktap_check "a header rolled back to a copy older than one seen is refused" \
	eval 'rc_is add 0 && refused rolled "rolled back"'
hdr_load "$D0" "$T/d0.new"
"$TAMPER" "$D0" legacy
run down "$CMEKCTL" open "$D0" ct0
ktap_check "a header turned into an unauthenticated version 1 is refused" \
	eval 'refused down "downgrade"'
hdr_load "$D0" "$T/d0.new"
run op2 "$CMEKCTL" open "$D0" ct0
ktap_check "the current header opens, same data" \
	eval 'rc_is op2 0 && same_data /dev/mapper/ct0'

# --- version 1 headers: open, upgrade -------------------------------------
run fmt2 "$CMEKCTL" format "$D2" --key ka
U2=$("$CMEKCTL" dump "$D2" --json 2>/dev/null | jq -r .uuid)
"$TAMPER" "$D2" legacy
rm -f "$(rec "$U2")"	# as on a host that never saw it as version 2
mark
run v1 "$CMEKCTL" open "$D2" ct2
ktap_check "a version 1 header the host never saw opens, with a warning" \
	eval 'rc_is v1 0 && audited "version 1 header" &&
	[ "$("$CMEKCTL" dump "$D2" --json | jq -r .version)" = 1 ]'
run cl2 "$CMEKCTL" close ct2
S1=$("$CMEKCTL" dump "$D2" --json | jq -r .slots[0].wrapped_len)
run up "$CMEKCTL" upgrade "$D2"
ktap_check "cmekctl upgrade rewrites it as version 2, slots unchanged" \
	eval 'rc_is up 0 && [ "$("$CMEKCTL" dump "$D2" --json | jq -r .version)" = 2 ] &&
	[ "$("$CMEKCTL" dump "$D2" --json | jq -r .slots[0].wrapped_len)" = "$S1" ] &&
	[ "$(jq -r .version "$(rec "$U2")")" = 2 ]'
run op3 "$CMEKCTL" open "$D2" ct2
run cl3 "$CMEKCTL" close ct2
"$TAMPER" "$D2" legacy
run down2 "$CMEKCTL" open "$D2" ct2
ktap_check "after the upgrade a version 1 copy of it is a downgrade" \
	eval 'rc_is op3 0 && refused down2 "downgrade"'
rm -f "$(rec "$U2")"
conf legacy_headers=refuse
restart
run v1r "$CMEKCTL" open "$D2" ct2
ktap_check "legacy_headers = refuse refuses a version 1 header" \
	eval 'refused v1r "legacy_headers = refuse"'
run up2 "$CMEKCTL" upgrade "$D2"
run op4 "$CMEKCTL" open "$D2" ct2
ktap_check "... and cmekctl upgrade still works there, after which it opens" \
	eval 'rc_is up2 0 && rc_is op4 0'

# --- /etc/cmek/volumes pins the volume and its keys ------------------------
run cl4 "$CMEKCTL" close ct2
listed() {	# listed OPTIONS: $D2 as ct2 in $CMEK_VOLUMES, opened from it
	echo "ct2 $D2 $1" >"$T/volumes"
	chmod 600 "$T/volumes"
	CMEK_VOLUMES=$T/volumes run "$2" "$CMEKCTL" open-listed "$D2"
}
listed "uuid=$U0" lu
ktap_check "a path entry whose device holds another volume than uuid= is refused" \
	eval 'refused lu "volume $U2, not $U0" && ! dmsetup info ct2 >/dev/null 2>&1'
run su $CALL "$SOCK" "{\"op\":\"open\",\"device\":\"$D2\",\"name\":\"ct2\",\"uuid\":\"$U0\"}"
ktap_check "cmekd itself refuses an open whose header is not the uuid asked for" \
	eval 'jq_ok su ".errno == 116" && out_has su "not $U0 as asked" &&
	! dmsetup info ct2 >/dev/null 2>&1'
listed "uuid=$U2,keys=local:kb" lk
ktap_check "keys= refuses a slot under a key the line does not pin" \
	eval 'refused lk "not among the keys" && ! dmsetup info ct2 >/dev/null 2>&1'
listed "uuid=$U2,keys=local:k[a-c]" lok
ktap_check "... and opens with a key it pins; the pin survives in cmekd's state" \
	eval 'rc_is lok 0 && "$CMEKCTL" status ct2 --json | jq -e ".volumes[0].keys == \"local:k[a-c]\"" >/dev/null'

# --- format ---------------------------------------------------------------
run fmt3 "$CMEKCTL" format "$D1" --key ka --data-offset 4096 --force
ktap_check "format refuses a data offset over its own header copies" \
	eval 'refused fmt3 "overlaps the header copies"'
run fmt4 "$CMEKCTL" format "$D1" --key kx --force
ktap_check "format refuses a KMS key outside allow_keys" \
	eval 'refused fmt4 "not in allow_keys"'
run sh "$CMEKCTL" shred ct0 --yes
ktap_check "a shred keeps the record: the UUID stays bound to its key" \
	eval 'rc_is sh 0 && [ -e "$(rec "$U0")" ]'

# --- azure-kv: origin authentication -------------------------------------
AZT0=$SECONDS
AZ=$T/az
AZPORT=18301
AZKEY=https://cmektest.vault.azure.net/keys
TENANT=72f988bf-86f1-41af-91ab-2d7cd011db47
CLIENT=0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9
mkdir -p "$AZ"
ip link set lo up	# the guest has no network, loopback is down
echo s3cr3t-azure-client >"$T/az.secret"
chmod 600 "$T/az.secret"
"$TOP/build/helpers/azure_fake" "$AZ" $AZPORT $TENANT $CLIENT \
	s3cr3t-azure-client k1 s1 >"$T/az.out" 2>"$T/az.err" &
AZPID=$!
# RSA key generation under emulation: allow it time.
wait_until 60 grep -q ready "$T/az.out" &&
	AZREADY=$((SECONDS - AZT0)) ||
	ktap_diag "azure_fake not ready: $(cat "$T/az.err")"
# azconf [SIGN_KEY_NAME]: the local section and an azure-kv one on the fake
azconf() {
	conf
	cat >>"$T/cmekd.conf" <<-EOF2

	[provider azure-kv]
	endpoint = https://127.0.0.1:$AZPORT
	authority_host = https://127.0.0.1:$AZPORT
	ca_file = $AZ/ca.pem
	tenant_id = $TENANT
	client_id = $CLIENT
	client_secret_file = $T/az.secret
	timeout = 5s
	${1:+sign_key = $AZKEY/$1}
	EOF2
}
# The forger's slot: k1's RSA wrap, unsigned, as anyone with its public
# half makes one (the unit test forges it from the public key alone).
azconf
restart
run azf "$CMEKCTL" format "$D1" --provider azure-kv --key $AZKEY/k1 --force
azconf s1
restart
run azs "$CMEKCTL" format "$D0" --provider azure-kv --key $AZKEY/k1 --force
run azso "$CMEKCTL" open "$D0" ct0
ktap_check "azure-kv with sign_key: format signs the slot, and the volume opens" \
	eval 'rc_is azf 0 && rc_is azs 0 && rc_is azso 0 && dmsetup info ct0 >/dev/null 2>&1'
rc_is azso 0 || ktap_diag "$(cat "$T"/{azf,azs,azso}.err)"
mark
run azfo "$CMEKCTL" open "$D1" ct1
ktap_check "a slot without sign_key's signature (made with the public key) is refused, before any unwrap" \
	eval 'refused azfo "carries no signature" && ! dmsetup info ct1 >/dev/null 2>&1'
ktap_check "... and audited (op=unwrap, the reason)" \
	eval 'audited "audit: op=unwrap .*provider=azure-kv .*carries no signature"'
"$CMEKCTL" close ct0 >/dev/null 2>&1
ktap_diag "azure-kv part: $((SECONDS - AZT0)) s (azure_fake ready after ${AZREADY:-?} s)"

stop
ktap_finish
