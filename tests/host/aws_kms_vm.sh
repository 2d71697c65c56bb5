#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Automatic lock and unlock with AWS KMS, end to end (KTAP): cmekd with the
# aws-kms provider in the VM, moto_server as the KMS, and the time from each
# KMS change to the lock and to the resume, measured.
#
# moto_server (python) takes minutes to start in the emulated guest, so it
# runs here on the host, on loopback with TLS, and the guest reaches it
# through QEMU user-mode networking and nothing else: tests/vm/run
# --guestfwd PORT forwards the guest's 10.0.2.100:443 to 127.0.0.1:PORT
# (restrict=on: no other address is reachable). moto's certificate is made
# for 127.0.0.1 and 10.0.2.100 by build/helpers/mkcert, so TLS is verified
# as in production.
#
# In the guest (--guest DIR N PORT, started by the host part; N = tests so
# far, PORT moto's on the host, which the guest must not reach directly):
# CreateKey, format and open a volume under it, write 1 MiB, then
#   DisableKey            -> locked (reads fail with EIO, kernel key gone)
#   EnableKey             -> resumed, same data, no reopen
#   ScheduleKeyDeletion   -> locked
#   CancelKeyDeletion     -> still locked (moto leaves the key Disabled)
#   EnableKey             -> resumed
# with check_interval = 1s; each lock must come within one interval plus
# the KMS call. The watch's DescribeKey drives it all (moto would keep
# answering Decrypt under a disabled key; unwrap_checks_state stays off).
#
#   tests/host/aws_kms_vm.sh       (root; needs moto_server: $MOTO_SERVER,
#                                   on PATH or /root/.pyenv/shims/moto_server)
#
# Every check can fail; a missing moto_server is a failure, not a skip.

set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib/ktap.sh"
. "$TOP/tests/lib/moto.sh"
ADMIN=$TOP/build/helpers/aws_kms_admin
MKCERT=$TOP/build/helpers/mkcert
# Any credentials do: moto checks no signatures unless told to
# (signature checking is test_aws_kms's job), but cmekd signs all the same.
export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE
export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
INTERVAL_MS=1000
# One interval, plus the DescribeKey that sees the change (a TLS handshake
# under emulation), plus the polling of this script in the slow guest.
LOCK_BOUND_MS=4000
GUEST_TESTS=17

# ---------------------------------------------------------------------------
# The guest part: runs in the VM as root, dm-cmek loaded; DIR holds ca.pem.
# ---------------------------------------------------------------------------
guest() {
	local dir=$1
	. "$TOP/tests/kselftest/cmekd_lib.sh"
	CMEKD=$TOP/build/cmekd
	CMEKCTL=$TOP/build/cmekctl
	CALL=$TOP/build/helpers/cmekd_call
	T=$(mktemp -d /tmp/aws_kms_vm.XXXXXX)
	SOCK=$T/cmekd.sock
	export CMEK_SOCKET=$SOCK
	export AWS_KMS_ENDPOINT=https://10.0.2.100
	CA=$dir/ca.pem
	A=("$ADMIN" --ca-file "$CA")
	PID=
	LOOP=
	KTAP_N=$2
	trap guest_cleanup EXIT

	# eth0: no udev in the guest, so load the driver by hand.
	modprobe virtio_net 2>"$T/modprobe.err"
	wait_until 5 test -e /sys/class/net/eth0
	ip link set lo up
	ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 2>"$T/ip.err"
	run curl curl -sS -m 20 --cacert "$CA" -o /dev/null -w '%{http_code}' \
		https://10.0.2.100/moto-api/
	run curl_nocacert curl -sS -m 20 -o /dev/null https://10.0.2.100/moto-api/
	# restrict=on: the host's own address is not reachable, only the forward.
	run curl_host curl -sS -m 10 --cacert "$CA" -o /dev/null \
		"https://10.0.2.2:$3/moto-api/"
	ktap_check "eth0 up; moto answers at https://10.0.2.100, TLS verified (refused without the test CA); the host (10.0.2.2:$3) unreachable" \
		eval 'rc_is curl 0 && [ "$(cat "$T/curl.out")" = 200 ] && rc_is curl_nocacert 60 && rc_is curl_host 7'
	if ! rc_is curl 0; then
		ktap_diag "curl: $(cat "$T/curl.err" "$T/modprobe.err" "$T/ip.err")"
		ip addr | sed 's/^/# /'
	fi

	run create "${A[@]}" CreateKey
	read -r KID ARN <"$T/create.out"
	run desc0 "${A[@]}" DescribeKey "$KID"
	ktap_check "CreateKey through aws_kms_admin: ${ARN:-none}, Enabled" \
		eval 'rc_is create 0 && [ -n "${ARN:-}" ] && [ "$(cat "$T/desc0.out")" = Enabled ]'

	mkdir -p "$T/keys" "$T/state"
	chmod 700 "$T/keys" "$T/state"
	# The production way: a shared credentials file, 0600, root's, with
	# a session token (moto takes any) for the memory scan to look for.
	STOKEN=FwoGZXIvYXdzEcmekVmTestSessionToken$(head -c 24 /dev/urandom | od -An -tx1 -v | tr -d ' \n')
	printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\naws_session_token = %s\n' \
		"$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" "$STOKEN" >"$T/aws.credentials"
	chmod 600 "$T/aws.credentials"
	cmekd_start
	ktap_check "cmekd starts: aws-kms at https://10.0.2.100, credentials file, check_interval 1s" \
		eval '[ -n "$PID" ] && kill -0 "$PID"'

	modprobe loop 2>/dev/null
	truncate -s 64M "$T/disk"
	LOOP=$(losetup -f --show "$T/disk")
	run fmt "$CMEKCTL" format "$LOOP" --provider aws-kms --key "$ARN"
	run open "$CMEKCTL" open "$LOOP" ca1
	U=$("$CMEKCTL" dump "$LOOP" --json 2>/dev/null | jq -r .uuid)
	ktap_check "format under the KMS key (GenerateDataKey), open as ca1" \
		eval 'rc_is fmt 0 && rc_is open 0 && test -b /dev/mapper/ca1 && [ "$(kstate "$U")" = present ]'
	head -c 1M /dev/urandom >"$T/data"
	SUM=$(sha256sum <"$T/data")
	dd if="$T/data" of=/dev/mapper/ca1 bs=1M oflag=direct 2>/dev/null
	ktap_check "1 MiB written through ca1 reads back" same_data
	DEV=$(dmsetup info -c --noheadings -o major,minor ca1 2>/dev/null)

	lock_cycle 1 DisableKey Disabled "KMS key is disabled"
	unlock_cycle 1 EnableKey

	lock_cycle 2 ScheduleKeyDeletion PendingDeletion "KMS key is pending-deletion"
	# AWS and moto: a cancelled deletion leaves the key Disabled.
	run cancel "${A[@]}" CancelKeyDeletion "$KID"
	run desc_c "${A[@]}" DescribeKey "$KID"
	sleep $((3 * INTERVAL_MS / 1000))
	ktap_check "CancelKeyDeletion: the key is Disabled, ca1 stays locked over 3 checks" \
		eval 'rc_is cancel 0 && [ "$(cat "$T/desc_c.out")" = Disabled ] && read_eio && [ "$(kstate "$U")" != present ]'
	unlock_cycle 2 EnableKey

	ktap_check "never reopened: one open in the audit trail, the same mapping ($DEV)" \
		eval '[ "$(grep -c "audit: op=open " "$T/log")" = 1 ] && [ "$(dmsetup info -c --noheadings -o major,minor ca1)" = "$DEV" ]'
	# --- no key and no session token left in cmekd after open + shred ---
	# The DEK through the provider itself (build/helpers/cmek_unwrap).
	read -r DEK _ < <(CMEK_UNWRAP_SET="endpoint=https://10.0.2.100 region=us-east-1 ca_file=$CA" \
		AWS_SESSION_TOKEN=$STOKEN "$TOP/build/helpers/cmek_unwrap" "$LOOP" 2>"$T/unwrap.err")
	run shred "$CMEKCTL" shred ca1 --yes
	hex() { printf %s "$1" | od -An -tx1 -v | tr -d ' \n'; }
	B64HEX=$(hex "$(printf %s "$DEK" | xxd -r -p | base64 -w0)")
	# scan WHAT [--skip-secmem] HEX: found (0) or not (1), said in scan.out
	scan() {
		local what=$1
		shift
		if [ "$1" = --skip-secmem ]; then
			"$TOP/build/helpers/memscan" "$1" "$PID" "$2"
		else
			"$TOP/build/helpers/memscan" "$PID" "$1"
		fi >"$T/scan1.out" 2>&1
		set -- $?
		sed "s/^/$what: /" "$T/scan1.out" >>"$T/scan.out"
		return "$1"
	}
	# The credential cache is a secmem page (MADV_DONTDUMP): the token
	# may live there, and nowhere else (libcurl, OpenSSL, json-c, SigV4).
	ktap_check "after an open and a shred through aws-kms, cmekd's memory holds no copy of the key or of its base64, and the session token only in its secmem credential cache" \
		eval 'rc_is shred 0 && [ ${#DEK} = 128 ] && scan socket "$(hex "$SOCK")" && scan socket-outside-secmem --skip-secmem "$(hex "$SOCK")" && ! scan dek1 "${DEK:0:64}" && ! scan dek2 "${DEK:64:64}" && ! scan dek-base64 "$B64HEX" && scan token "$(hex "$STOKEN")" && ! scan token-outside-secmem --skip-secmem "$(hex "$STOKEN")"'
	rc_is shred 0 || ktap_diag "shred: $(cat "$T/shred.err")"
	[ ${#DEK} = 128 ] || ktap_diag "cmek_unwrap: $(cat "$T/unwrap.err")"
	sed 's/^/# memscan: /' "$T/scan.out"
	unset DEK B64HEX

	alias_move
	ktap_diag "measured: ${MEASURED[*]}"

	if [ "$KTAP_FAILED" -ne 0 ]; then
		ktap_diag "cmekd log (tail):"
		tail -n 60 "$T/log" | sed 's/^/# /'
	fi
	[ "$KTAP_FAILED" -eq 0 ]
}

guest_cleanup() {
	dmsetup --noudevsync remove ca1 >/dev/null 2>&1
	dmsetup --noudevsync remove ca2 >/dev/null 2>&1
	[ -n "$PID" ] && kill "$PID" 2>/dev/null
	[ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
	[ -n "${LOOP2:-}" ] && losetup -d "$LOOP2" 2>/dev/null
	rm -rf "$T"
}

# cmekd_start [ALLOW_KEYS]: (re)start cmekd with the aws-kms section.
cmekd_start() {
	if [ -n "$PID" ]; then
		kill "$PID"
		wait_until 10 not kill -0 "$PID" 2>/dev/null
	fi
	daemon_conf check_interval=1s log_level=debug
	cat >>"$T/cmekd.conf" <<-EOF

	[provider aws-kms]
	endpoint = https://10.0.2.100
	region = us-east-1
	ca_file = $CA
	credentials_file = $T/aws.credentials
	imds = no
	timeout = 5s
	${1:+allow_keys = $1}
	EOF
	# Only the file's credentials may work: not the environment's.
	(
		unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
		start
		echo "$PID" >"$T/pid"
	)
	PID=$(cat "$T/pid")
}

# A volume made through an alias; the alias moves to another key. Decrypt
# names the key ARN the slot records, so the volume still opens, and
# allow_keys must trust that ARN as well as the alias.
alias_move() {
	local al=alias/cmek-move
	run key2 "${A[@]}" CreateKey
	read -r KID2 _ <"$T/key2.out"
	run mkalias "${A[@]}" CreateAlias "$KID" $al
	truncate -s 32M "$T/disk2"
	LOOP2=$(losetup -f --show "$T/disk2")
	run fmt2 "$CMEKCTL" format "$LOOP2" --provider aws-kms --key $al
	run mvalias "${A[@]}" UpdateAlias "$KID2" $al
	run open2 "$CMEKCTL" open "$LOOP2" ca2
	ktap_check "format through $al, the alias moved to another key: the volume still opens (Decrypt names the slot's key ARN)" \
		eval 'rc_is key2 0 && rc_is mkalias 0 && rc_is fmt2 0 && rc_is mvalias 0 && rc_is open2 0 && test -b /dev/mapper/ca2'
	rc_is open2 0 || ktap_diag "$(cat "$T"/{key2,mkalias,fmt2,mvalias,open2}.err)"
	run close2 "$CMEKCTL" close ca2

	cmekd_start "alias/cmek-*"
	run open3 "$CMEKCTL" open "$LOOP2" ca2
	ktap_check "allow_keys trusts the alias only: open refused and audited, naming the key ARN the slot records" \
		eval 'rc_is close2 0 && ! rc_is open3 0 && ! test -b /dev/mapper/ca2 && grep -q "audit: op=unwrap .*not in allow_keys" "$T/log" && grep -q "key .arn:aws:kms:us-east-1:[0-9]*:key/$KID" "$T/log"'
	cmekd_start "alias/cmek-* arn:aws:kms:us-east-1:*:key/$KID"
	run open4 "$CMEKCTL" open "$LOOP2" ca2
	run close4 "$CMEKCTL" close ca2
	ktap_check "allow_keys trusts the alias and the key ARN: it opens" \
		eval 'rc_is open4 0 && rc_is close4 0'
	rc_is open4 0 || ktap_diag "open4: $(cat "$T/open4.err")"
}

same_data() {
	[ "$(dd if=/dev/mapper/ca1 bs=1M count=1 iflag=direct 2>/dev/null | sha256sum)" = "$SUM" ]
}

# A read fails, and with EIO: the kernel has no key (not some other error).
read_eio() {
	! dd if=/dev/mapper/ca1 of=/dev/null bs=4096 count=1 iflag=direct \
		2>"$T/dd.err" && grep -q "Input/output error" "$T/dd.err"
}

MEASURED=()

# lock_cycle N OP STATE REASON: OP on the key, then time the lock.
lock_cycle() {
	local n=$1 op=$2 state=$3 reason=$4 tc t0 ms rc

	tc=$(now_ms)
	run "op$n" "${A[@]}" "$op" "$KID"
	t0=$(now_ms)
	# Poll reads only: cheap, so the measurement is not the poll's.
	wait_until 20 read_eio
	rc=$?
	ms=$(($(now_ms) - t0))
	MEASURED+=("$op(call $((t0 - tc)) ms)->lock=${ms}ms")
	run "desc$n" "${A[@]}" DescribeKey "$KID"
	ktap_check "$op: ca1 locked ${ms} ms after the call returned (call $((t0 - tc)) ms; bound ${LOCK_BOUND_MS} ms: 1 s interval + DescribeKey)" \
		eval 'rc_is op$n 0 && [ "$(cat "$T/desc$n.out")" = $state ] && [ $rc = 0 ] && [ $ms -le $LOCK_BOUND_MS ]'
	ktap_check "$op: reads fail with EIO, kernel key not present ($(kstate "$U")), audit op=lock" \
		eval 'read_eio && [ "$(kstate "$U")" != present ] && grep -q "audit: op=lock uuid=$U .*$reason" "$T/log"'
	[ "$(grep -c "audit: op=lock uuid=$U" "$T/log")" = "$n" ] ||
		ktap_diag "expected $n lock lines: $(grep "audit: op=lock" "$T/log")"
}

# unlock_cycle N OP: OP on the key, then time the resume.
unlock_cycle() {
	local n=$1 op=$2 tc t0 ms rc

	tc=$(now_ms)
	run "en$n" "${A[@]}" "$op" "$KID"
	t0=$(now_ms)
	wait_until 20 can_read /dev/mapper/ca1
	rc=$?
	ms=$(($(now_ms) - t0))
	MEASURED+=("$op(call $((t0 - tc)) ms)->resume=${ms}ms")
	ktap_check "$op: ca1 resumed ${ms} ms after the call returned (call $((t0 - tc)) ms), same data, audit op=unlock" \
		eval 'rc_is en$n 0 && [ $rc = 0 ] && same_data && [ "$(kstate "$U")" = present ] && [ "$(grep -c "audit: op=unlock uuid=$U" "$T/log")" = $n ]'
}

if [ "${1:-}" = --guest ]; then
	guest "$2" "$3" "$4"
	exit $?
fi

# ---------------------------------------------------------------------------
# The host part: certificates, moto_server, the VM.
# ---------------------------------------------------------------------------
cd "$TOP" || exit 1
ktap_plan $((3 + GUEST_TESTS + 1))

# Under build/: the guest sees it (read-only) through the 9p root; its own
# /tmp is a tmpfs of its own.
DIR=$(mktemp -d "$TOP/build/aws-vm.XXXXXX")
MPID=
host_cleanup() {
	if [ -n "$MPID" ]; then
		kill -TERM -- "-$MPID" 2>/dev/null
		for _ in $(seq 20); do
			kill -0 "$MPID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL -- "-$MPID" 2>/dev/null
		wait "$MPID" 2>/dev/null
	fi
	rm -rf "$DIR"
}
trap host_cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

MOTO=${MOTO_SERVER:-$(command -v moto_server)}
MOTO=${MOTO:-/root/.pyenv/shims/moto_server}
if [ ! -x "$MOTO" ] || [ ! -x "$ADMIN" ] || [ ! -x "$MKCERT" ]; then
	ktap_fail "moto_server ($MOTO) and build/helpers (make kselftest) present" \
		"install moto 5 or set MOTO_SERVER; build with make kselftest"
	ktap_finish
fi
ktap_ok "moto_server: $MOTO"

"$MKCERT" "$DIR" moto IP:10.0.2.100 2>"$DIR/mkcert.err"
ktap_check "certificate for 127.0.0.1 and 10.0.2.100 from a test CA" \
	eval 'openssl verify -CAfile "$DIR/ca.pem" "$DIR/moto.pem" >/dev/null &&
	      openssl x509 -in "$DIR/moto.pem" -noout -ext subjectAltName | grep -q "IP Address:10.0.2.100"'

up=no
moto_up "$MOTO" "$DIR" && up=yes
ktap_check "moto_server answers over TLS on 127.0.0.1:$PORT ($MOTO_MS ms)" \
	test $up = yes
if [ $up != yes ]; then
	sed 's/^/# /' "$DIR/moto.log" | tail -n 20
	ktap_finish
fi

tests/vm/run --timeout 320 --guestfwd "$PORT" -- \
	tests/host/aws_kms_vm.sh --guest "$DIR" "$KTAP_N" "$PORT" 2>&1 |
	tee "$DIR/vm.out"
rc=${PIPESTATUS[0]}
# The guest's lines continue this stream's numbering: count them in.
KTAP_N=$((KTAP_N + $(grep -E -c '^(not )?ok [0-9]+' "$DIR/vm.out")))
KTAP_FAILED=$((KTAP_FAILED + $(grep -E -c '^not ok [0-9]+' "$DIR/vm.out")))
ktap_check "the VM ran the guest part to its end (exit $rc)" test "$rc" = 0
ktap_diag "wall time ${SECONDS} s"
if [ "$rc" != 0 ]; then
	ktap_diag "moto_server log (tail):"
	tail -n 20 "$DIR/moto.log" | sed 's/^/# /'
fi
ktap_finish
