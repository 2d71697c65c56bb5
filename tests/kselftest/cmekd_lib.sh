# SPDX-License-Identifier: GPL-2.0
# Shell helpers for the VM tests that drive cmekd (sourced, not run).
# cmekd_test_init sets CMEKD, CMEKCTL, CALL (cmekd_call), T (a temporary
# directory, with keys/ for the local provider's KEKs and state/) and
# SOCK; the caller writes $T/cmekd.conf before start; PID holds the
# daemon's pid.

# cmekd_test_init NAME: the programs (CMEKD, CMEKCTL and CMEKD_CALL
# override the ones under build/), $T under /tmp, and cmekd's socket and
# KEK directory there, for the daemon and the CLI alike.
cmekd_test_init() {
	CMEKD=${CMEKD:-$TOP/build/cmekd}
	CMEKCTL=${CMEKCTL:-$TOP/build/cmekctl}
	CALL=${CMEKD_CALL:-$TOP/build/helpers/cmekd_call}
	T=$(mktemp -d "/tmp/$1.XXXXXX")
	SOCK=$T/cmekd.sock
	export CMEK_SOCKET=$SOCK
	export CMEK_KEY_DIR=$T/keys
	mkdir -p "$T/keys" "$T/state"
	chmod 700 "$T/keys" "$T/state"
	PID=
}

# daemon_conf [KEY=VALUE...]: a fresh $T/cmekd.conf, 0600, whose [daemon]
# section points at this test's socket, state and KEK directories, plus
# the KEY = VALUE lines given; provider sections are appended by the caller.
daemon_conf() {
	local kv

	{
		echo "[daemon]"
		echo "socket = $SOCK"
		echo "state_dir = $T/state"
		echo "trust_dir = $T/trust"
		echo "key_dir = $T/keys"
		for kv in "$@"; do
			echo "${kv%%=*} = ${kv#*=}"
		done
	} >"$T/cmekd.conf"
	chmod 600 "$T/cmekd.conf"
}

# start: run cmekd on $T/cmekd.conf until it answers a ping (10 s at most)
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

stop() {
	kill -TERM "$PID" 2>/dev/null
	wait "$PID" 2>/dev/null
	PID=
}

# run NAME CMD...: stdout, stderr and exit status in $T/NAME.{out,err,rc}
run() {
	local n=$1
	shift
	"$@" >"$T/$n.out" 2>"$T/$n.err"
	echo $? >"$T/$n.rc"
}
rc_is() { [ "$(cat "$T/$1.rc")" = "$2" ]; }
jf() { jq -r "$2" <"$T/$1.out" 2>/dev/null; }
# jq_ok NAME EXPR: EXPR is true of $T/NAME.out
jq_ok() { jq -e "$2" <"$T/$1.out" >/dev/null 2>&1; }
out_has() { grep -q -- "$2" "$T/$1.out"; }
err_has() { grep -q -- "$2" "$T/$1.err"; }

not() { ! "$@"; }
can_read() { dd if="$1" of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null; }

# The kernel's key table, as "cmekctl key list" dumps it.
kstate() {
	"$CMEKCTL" key list --json 2>/dev/null |
		jq -r --arg u "$1" '.keys[] | select(.uuid == $u) | .state'
}

# Local KEKs, standing in for KMS keys: make, disable, enable.
mkkek() {
	{ printf CMEKKEK1; head -c 32 /dev/urandom; } >"$T/keys/$1.kek" &&
	chmod 600 "$T/keys/$1.kek"
}
disable() { mv "$T/keys/$1.kek" "$T/keys/$1.kek.disabled"; }
enable() { mv "$T/keys/$1.kek.disabled" "$T/keys/$1.kek"; }
