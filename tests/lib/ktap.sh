# SPDX-License-Identifier: GPL-2.0
# KTAP output for kselftest-style shell tests. Source it, then:
#
#	ktap_plan 3
#	ktap_check "table round-trips" test "$a" = "$b"
#	ktap_ok "something"   /  ktap_fail "something" "why"
#	ktap_finish            # exits 1 if anything failed or the plan was missed

KTAP_N=0
KTAP_FAILED=0
KTAP_PLANNED=0

ktap_plan() {
	KTAP_PLANNED=$1
	echo "TAP version 13"
	echo "1..$1"
}

ktap_ok() {
	KTAP_N=$((KTAP_N + 1))
	echo "ok $KTAP_N - $1"
}

ktap_fail() {
	KTAP_N=$((KTAP_N + 1))
	KTAP_FAILED=$((KTAP_FAILED + 1))
	echo "not ok $KTAP_N - $1"
	[ -n "${2:-}" ] && echo "# $2"
	return 0
}

# ktap_check DESCRIPTION COMMAND...: ok if COMMAND exits 0.
ktap_check() {
	local desc=$1
	shift
	if "$@"; then ktap_ok "$desc"; else ktap_fail "$desc" "failed: $*"; fi
}

# wait_until SECONDS CMD...: until CMD succeeds, polling every 0.1 s.
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

now_ms() { echo $(($(date +%s%N) / 1000000)); }

ktap_diag() {
	echo "# $*"
}

ktap_finish() {
	if [ "$KTAP_N" -ne "$KTAP_PLANNED" ]; then
		echo "# planned $KTAP_PLANNED tests, ran $KTAP_N"
		exit 1
	fi
	[ "$KTAP_FAILED" -eq 0 ]
	exit $?
}
