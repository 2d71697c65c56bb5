#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The VM rig must never turn a failure into a pass: a failing command, a
# kernel panic, a hung guest and a failing test file each have to fail. A
# boot that hangs before user space is retried, shown, and fails when it
# never comes up; a hang inside the test is never retried.
cd "$(dirname "$0")/../.."
. tests/lib/ktap.sh
scratch=build/scratch
mkdir -p "$scratch"

ktap_plan 16

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
out=$(tests/vm/run --timeout 25 -- sleep 600 2>&1)
rc=$?
took=$(( $(date +%s) - start ))
ktap_check "a hung guest is cut off by the timeout (rc $rc after ${took}s)" \
	test "$rc" -eq 124 -a "$took" -lt 60
ktap_check "a hang after user space started is not retried" \
	test -z "$(echo "$out" | grep 'cmek-vm: boot [0-9]')"

# Boot hangs are real ones (VM_BOOT_HANGS: the kernel waits for a root
# device that never comes, no init runs); a short deadline keeps this
# quick, still four times a normal boot to user space.
cat > "$scratch/boots_once_more.sh" <<'EOT'
#!/bin/bash
echo "1..1"
echo "ok 1 - ran after a hung boot"
EOT
chmod +x "$scratch/boots_once_more.sh"
start=$(date +%s)
out=$(VM_BOOT_HANGS=1 VM_BOOT_DEADLINE=12 \
	CHECK_KERNELS= CHECK_VM_TESTS=$scratch/boots_once_more.sh tests/check.sh -k boots_once_more 2>&1)
rc=$?
took=$(( $(date +%s) - start ))
ktap_check "a boot that never reaches user space is booted again and the test passes (rc $rc, ${took}s)" \
	test "$rc" -eq 0 -a "$(echo "$out" | tail -n1)" = "1 passed, 0 failed"
ktap_check "the retry is shown on the test's line" \
	test -n "$(echo "$out" | grep -E '^boots_once_more.sh +1 ok +0 not ok .*\(boot retried 1\)')"
ktap_check "and in the summary" \
	test -n "$(echo "$out" | grep -E '^== [0-9]+ s, 1 boot retries$')"
ktap_check "the hung boot's console is kept and its vCPUs located" \
	test -n "$(grep -a 'Waiting for root device /dev/cmek-no-such-disk' \
		build/logs/vm-boots_once_more.sh.console.boot1)" \
	-a -n "$(grep -E '^  vCPU RIP [0-9a-f]+' build/logs/vm-boots_once_more.sh.log)"

start=$(date +%s)
out=$(VM_BOOT_HANGS=3 VM_BOOT_DEADLINE=12 tests/vm/run --timeout 120 -- true 2>&1)
rc=$?
took=$(( $(date +%s) - start ))
ktap_check "a guest that never comes up in three boots fails (rc $rc, ${took}s)" \
	test "$rc" -eq 125 -a -n "$(echo "$out" | grep 'never reached user space in 3 boots')"
ktap_check "after exactly three boots" \
	test "$(echo "$out" | grep -c '^cmek-vm: boot [0-9] of 3 did not reach user space')" -eq 3

# The rig boots the ELF inside the bzImage; what it unpacks must be the
# whole kernel with its PVH entry, and junk must be refused (the rig then
# boots the bzImage).
krel=$(make -s -f /dev/null -f Makefile --eval 'print-krel: ; @echo $(KERNELRELEASE)' print-krel)
rm -f "$scratch/vmlinux"
tests/vm/mkvmlinux.sh "/boot/vmlinuz-$krel" "$scratch/vmlinux"
rc=$?
ktap_check "mkvmlinux.sh unpacks an ELF with a PVH entry from vmlinuz-$krel (rc $rc)" \
	test "$rc" -eq 0 -a "$(head -c 4 "$scratch/vmlinux" 2>/dev/null | od -A n -t x1 | tr -d ' ')" = 7f454c46
head -c 100000 "/boot/vmlinuz-$krel" > "$scratch/vmlinuz-cut"
tests/vm/mkvmlinux.sh "$scratch/vmlinuz-cut" "$scratch/vmlinux-cut"
rc=$?
ktap_check "and refuses a cut-short bzImage (rc $rc), leaving no file" \
	test "$rc" -ne 0 -a ! -e "$scratch/vmlinux-cut"
rm -f "$scratch/vmlinux" "$scratch/vmlinuz-cut"

cat > "$scratch/deliberate_fail.sh" <<'EOT'
#!/bin/bash
echo "TAP version 13"
echo "1..2"
echo "ok 1 - fine"
echo "not ok 2 - deliberately failing guest test"
exit 1
EOT
chmod +x "$scratch/deliberate_fail.sh"
out=$(CHECK_KERNELS= CHECK_VM_TESTS=$scratch/deliberate_fail.sh tests/check.sh -k deliberate_fail 2>&1)
rc=$?
ktap_check "a failing guest test makes the suite fail" \
	test "$rc" -ne 0 -a "$(echo "$out" | tail -n1)" = "1 passed, 1 failed"

cat > "$scratch/short_plan.sh" <<'EOT'
#!/bin/bash
echo "1..3"
echo "ok 1 - only one of three"
EOT
chmod +x "$scratch/short_plan.sh"
out=$(CHECK_KERNELS= CHECK_VM_TESTS=$scratch/short_plan.sh tests/check.sh -k short_plan 2>&1)
rc=$?
ktap_check "a test file that misses its plan fails the suite" \
	test "$rc" -ne 0 -a "$(echo "$out" | tail -n1)" = "1 passed, 1 failed"

ktap_finish
