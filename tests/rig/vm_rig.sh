#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The VM rig must never turn a failure into a pass: a failing command, a
# kernel panic, a hung guest and a failing test file each have to fail.
cd "$(dirname "$0")/../.."
. tests/lib/ktap.sh
scratch=build/scratch
mkdir -p "$scratch"

ktap_plan 7

# One boot for the first three: each boot costs about 20 s under TCG.
out=$(tests/vm/run --timeout 120 -- bash -c 'echo guest-says-hi; uname -r
	grep -q "^dm_cmek " /proc/modules && grep -q xts-aes-aesni /proc/crypto &&
	echo module-and-cipher-present; exit 3' 2>&1)
rc=$?
ktap_check "a passing command's output comes back" \
	test -n "$(echo "$out" | grep guest-says-hi)"
ktap_check "a command's exit status (3) is reported" test "$rc" -eq 3
ktap_check "the guest has dm_cmek loaded and xts-aes-aesni" \
	test -n "$(echo "$out" | grep module-and-cipher-present)"

out=$(tests/vm/run --timeout 120 -- bash -c 'echo 1 > /proc/sys/kernel/sysrq; echo c > /proc/sysrq-trigger; sleep 5; exit 0' 2>&1)
rc=$?
ktap_check "a kernel crash is a failure, not a pass (rc $rc)" \
	test "$rc" -ne 0 -a -n "$(echo "$out" | grep 'never reported')"

start=$(date +%s)
tests/vm/run --timeout 25 -- sleep 600 > /dev/null 2>&1
rc=$?
took=$(( $(date +%s) - start ))
ktap_check "a hung guest is cut off by the timeout (rc $rc after ${took}s)" \
	test "$rc" -eq 124 -a "$took" -lt 60

cat > "$scratch/deliberate_fail.sh" <<'EOT'
#!/bin/bash
echo "TAP version 13"
echo "1..2"
echo "ok 1 - fine"
echo "not ok 2 - deliberately failing guest test"
exit 1
EOT
chmod +x "$scratch/deliberate_fail.sh"
out=$(CHECK_VM_TESTS=$scratch/deliberate_fail.sh tests/check.sh -k deliberate_fail 2>&1)
rc=$?
ktap_check "a failing guest test makes the suite fail" \
	test "$rc" -ne 0 -a "$(echo "$out" | tail -n1)" = "1 passed, 1 failed"

cat > "$scratch/short_plan.sh" <<'EOT'
#!/bin/bash
echo "1..3"
echo "ok 1 - only one of three"
EOT
chmod +x "$scratch/short_plan.sh"
out=$(CHECK_VM_TESTS=$scratch/short_plan.sh tests/check.sh -k short_plan 2>&1)
rc=$?
ktap_check "a test file that misses its plan fails the suite" \
	test "$rc" -ne 0 -a "$(echo "$out" | tail -n1)" = "1 passed, 1 failed"

ktap_finish
