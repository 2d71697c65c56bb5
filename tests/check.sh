#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The whole test suite, as `make check` runs it (after building):
#
#   1. static checks: a warning-free build, checkpatch.pl --strict and
#      sparse on kernel/ and include/
#   2. host unit tests (build/unit/*, ASan + UBSan), then each libFuzzer
#      target (build/fuzz/*) for FUZZ_SECONDS (20) from its corpus
#   3. rig self-tests (tests/rig/*.sh, on the host, booting the VM)
#   4. VM tests: every build/kselftest/* program and tests/kselftest/*.sh,
#      each in its own VM boot so that a panic fails only that file
#      (VM_JOBS of them at once, default 1). A boot that hung before user
#      space and was retried by tests/vm/run is shown on the file's line
#      and counted on the summary line, never hidden.
#   5. the systemd lane: each tests/systemd/*.sh boots a node with the
#      host's systemd as PID 1 and cmek installed (tests/vm/run --systemd)
#   6. the kernel-facing VM tests again (series_selected below) on each
#      kernel series of CHECK_KERNELS (default "6.12 debug"): Debian's
#      newest kernel of the series, unpacked under build/kimage
#      (tests/vm/kimage.sh), or for "debug" the KASAN and lockdep build of
#      Debian's 6.1 source (tests/vm/kdebug.sh, built once per machine),
#      the module built for it (tests/vm/kbuild.sh), each file's line
#      labelled "[6.12] NAME" and counted in the same totals. A kernel
#      that cannot be had (no network, a failed build) is one failure on
#      its lane, never a silent skip.
#
# Every TAP line counts; a file that crashes, misses its plan or exits
# non-zero without saying why counts as one more failure. Ends with exactly
# one line "N passed, N failed" and exits non-zero on any failure or if
# nothing ran at all.
#
#   tests/check.sh [-k PATTERN]    run only files whose name matches PATTERN
set -uo pipefail

cd "$(dirname "$0")/.."
repo=$PWD
logs=build/logs
mkdir -p "$logs"
pattern=${CHECK_ONLY:-}
[ "${1:-}" = "-k" ] && pattern=$2

passed=0
failed=0
skipped=0
failures=()
boot_retries=0

# count FILE-LABEL LOG RC: add a file's TAP results to the totals.
count() {
	local label=$1 log=$2 rc=$3
	local ok notok skip plan ran retries note

	ok=$(grep -E -c '^ *ok [0-9]+' "$log")
	notok=$(grep -E -c '^ *not ok [0-9]+' "$log")
	skip=$(grep -E -c '^ *ok [0-9]+.*# *(SKIP|skip)' "$log")
	ok=$((ok - skip))
	# Only top-level plans: kselftest subtests are indented or prefixed.
	plan=$(grep -E -m1 '^1\.\.[0-9]+' "$log" | cut -d. -f3)
	ran=$(grep -E -c '^(not )?ok [0-9]+' "$log")
	passed=$((passed + ok))
	failed=$((failed + notok))
	skipped=$((skipped + skip))
	if [ "$notok" -gt 0 ]; then
		failures+=("$label: $notok failed (see $log)")
	fi
	if [ -n "$plan" ] && [ "$plan" -ne "$ran" ]; then
		failed=$((failed + 1))
		failures+=("$label: planned $plan, ran $ran (see $log)")
	elif [ -z "$plan" ] && [ "$ran" -eq 0 ]; then
		failed=$((failed + 1))
		failures+=("$label: no TAP output (see $log)")
	elif [ "$rc" -ne 0 ] && [ "$notok" -eq 0 ]; then
		failed=$((failed + 1))
		failures+=("$label: exited $rc (see $log)")
	fi
	# A guest that hung before user space was booted again by
	# tests/vm/run: not a failure, but never hidden.
	retries=$(grep -a -E '^cmek-vm: boot [0-9]+ of [0-9]+ ' "$log" |
		awk '$3 < $5' | wc -l)
	boot_retries=$((boot_retries + retries))
	note=
	[ "$rc" -eq 0 ] || note="(exit $rc)"
	[ "$retries" -eq 0 ] || note+="${note:+ }(boot retried $retries)"
	printf '%-44s %3d ok %3d not ok %5s %s\n' "$label" "$ok" "$notok" \
		"$(lap)" "$note"
	lap_reset
	# CI keeps only the console: show what failed, not just how many.
	if [ "$notok" -gt 0 ]; then
		grep -E -B4 -A2 '^ *not ok [0-9]+' "$log" | head -40 | sed 's/^/    | /'
	elif [ "$rc" -ne 0 ] || { [ -n "$plan" ] && [ "$plan" -ne "$ran" ]; }; then
		tail -n 15 "$log" | sed 's/^/    | /'
	fi
}

# A single pass/fail line for checks that are not TAP programs.
result() {
	local label=$1 rc=$2 log=$3

	if [ "$rc" -eq 0 ]; then
		passed=$((passed + 1))
		printf '%-44s ok %5s\n' "$label" "$(lap)"
	else
		failed=$((failed + 1))
		failures+=("$label (see $log)")
		printf '%-44s FAILED %5s\n' "$label" "$(lap)"
		tail -n 15 "$log" | sed 's/^/    | /'
	fi
	lap_reset
}

# How long the item just reported took (since the last report), for
# keeping the suite's time in view.
# A file run beside others sets took= to its own time instead.
lap_at=$(date +%s)
took=
lap() { echo "${took:-$(( $(date +%s) - lap_at ))s}"; }
lap_reset() { lap_at=$(date +%s); }

selected() {
	[ -z "$pattern" ] || [[ "$1" == *$pattern* ]]
}

build_all() {
	local log=$logs/build.log rc

	echo "== build"
	make -j2 all tests > "$log" 2>&1
	rc=$?
	result "make all tests (-Werror userspace)" $rc "$log"
	[ $rc -eq 0 ] || tail -n 30 "$log"
}

static_checks() {
	local log f rc kdir612 ignore

	echo "== static checks"
	log=$logs/build-module.log
	rm -f dm-cmek.ko kernel/*.o
	make -s module > "$log" 2>&1
	rc=$?
	if [ $rc -eq 0 ] && grep -E -q 'warning:|error:' "$log"; then rc=1; fi
	result "module builds without warnings" $rc "$log"

	# The other kernel series the project supports: Debian's 6.12, its
	# headers unpacked into build/kheaders (tests/vm/kheaders.sh), the
	# module built from scratch in a copy (tests/vm/kbuild.sh), so the
	# 6.1 build stays as it is; the 6.12 VM lane loads this build.
	log=$logs/build-module-6.12.log
	rm -rf build/k612
	kdir612=$(tests/vm/kheaders.sh 6.12 "$repo/build/kheaders" 2> "$log")
	rc=$?
	if [ $rc -eq 0 ]; then
		tests/vm/kbuild.sh 6.12 > /dev/null 2>> "$log"
		rc=$?
	fi
	if [ $rc -eq 0 ] && grep -E -q 'warning:|error:' "$log"; then rc=1; fi
	result "module and test modules build without warnings against ${kdir612##*/linux-headers-}" $rc "$log"

	log=$logs/sparse.log
	make -s -C "$KDIR" M="$repo" C=2 modules > "$log" 2>&1
	rc=$?
	if grep -E -q '^[^ ]+:[0-9]+:[0-9]+: (warning|error):' "$log"; then rc=1; fi
	result "sparse (make C=2) is clean" $rc "$log"

	for f in kernel/*.c kernel/*.h include/uapi/linux/*.h tests/kmod/*.c; do
		case $f in *.mod.c) continue ;; esac	# made by modpost
		log=$logs/checkpatch-$(basename "$f").log
		# The one place for kernel version checks (issue 15).
		ignore=
		[ "$f" = kernel/compat.h ] &&
			ignore=--ignore=LINUX_VERSION_CODE,CONSTANT_COMPARISON
		perl build/lint/scripts/checkpatch.pl --no-tree --strict \
			--terse -q $ignore -f "$f" > "$log" 2>&1
		rc=$?
		grep -E -q ': (ERROR|WARNING|CHECK):' "$log" && rc=1
		result "checkpatch --strict $f" $rc "$log"
	done

	# The documentation must render without a docutils warning.
	for f in Documentation/*.rst Documentation/admin-guide/*.rst; do
		log=$logs/rst-$(basename "$f").log
		"$(command -v rst2html || command -v rst2html.py || echo rst2html)" \
			--halt=warning --report=2 "$f" /dev/null > "$log" 2>&1
		result "docutils renders $f cleanly" $? "$log"
	done
}

unit_tests() {
	local t log rc

	echo "== host unit tests (ASan + UBSan)"
	for t in build/unit/*; do
		[ -x "$t" ] || continue
		selected "$t" || continue
		log=$logs/unit-$(basename "$t").log
		timeout 300 "$t" > "$log" 2>&1
		rc=$?
		count "$(basename "$t")" "$log" $rc
	done
}

# Each libFuzzer target runs for a bounded time from the committed corpus
# (tests/fuzz/corpus/NAME); a crash, leak or failed property is a failure
# and leaves the input in build/fuzz/.
fuzz_tests() {
	local t name log rc work

	echo "== fuzzing (libFuzzer, ${FUZZ_SECONDS:-20} s each)"
	for t in build/fuzz/fuzz_*; do
		[ -x "$t" ] || continue
		name=${t##*/fuzz_}
		selected "$t" || continue
		log=$logs/fuzz-$name.log
		work=build/fuzz/work-$name
		mkdir -p "$work"
		timeout $(( ${FUZZ_SECONDS:-20} + 60 )) "$t" \
			-max_total_time="${FUZZ_SECONDS:-20}" -timeout=10 \
			-artifact_prefix=build/fuzz/ "$work" "tests/fuzz/corpus/$name" \
			> "$log" 2>&1
		rc=$?
		result "fuzz $name: $(grep -o 'Done [0-9]* runs' "$log" | tail -n1 || true)" $rc "$log"
	done
}

# Host-side shell tests (tests/host/*.sh, executable, TAP): install
# layout, systemd units, man pages. Each gets 300 s, or what a
# "# check-timeout: SECS" line in it asks.
host_tests() {
	local t log rc to

	echo "== host tests"
	for t in tests/host/*.sh; do
		[ -x "$t" ] || continue
		selected "$t" || continue
		log=$logs/host-$(basename "$t").log
		to=$(sed -n 's/^# check-timeout: \([0-9][0-9]*\)$/\1/p' "$t" | head -n1)
		timeout "${to:-300}" "$t" > "$log" 2>&1
		rc=$?
		count "$(basename "$t")" "$log" $rc
	done
}

rig_tests() {
	local t log rc

	echo "== rig self-tests"
	for t in tests/rig/*.sh; do
		[ -f "$t" ] || continue
		selected "$t" || continue
		log=$logs/rig-$(basename "$t").log
		bash "$t" > "$log" 2>&1
		rc=$?
		count "$(basename "$t")" "$log" $rc
	done
}

# The systemd lane: each tests/systemd/*.sh (executable, TAP) boots the
# node itself, a real systemd as PID 1 (tests/vm/run --systemd), with cmek
# installed from its Debian packages and moto_server on the host; a crash,
# a missed plan or a timeout is a failure like any other.
systemd_tests() {
	local t log rc start

	echo "== systemd lane (the host's systemd as PID 1 in the VM)"
	for t in tests/systemd/*.sh; do
		[ -x "$t" ] || continue
		selected "$t" || continue
		log=$logs/systemd-$(basename "$t").log
		start=$SECONDS
		timeout -k 10 "${SYSTEMD_TIMEOUT:-1500}" "$t" > "$log" 2>&1
		rc=$?
		took=$((SECONDS - start))s count "$(basename "$t")" "$log" $rc
	done
}

# vm_one NAME FILE [SERIES]: one VM test file in its own boot, on the
# default kernel or on Debian's kernel of SERIES (tests/vm/run's
# VM_KERNEL); its exit status and seconds go to build/logs/vm-NAME.rc for
# vm_reap (NAME carries the series: 6.12-nl_proto).
vm_one() {
	local start=$SECONDS

	VM_KERNEL=${3:-} tests/vm/run --timeout "${VM_TIMEOUT:-600}" \
		--log "$logs/vm-$1.console" -- "$2" > "$logs/vm-$1.log" 2>&1
	echo "$? $((SECONDS - start))" > "$logs/vm-$1.rc"
}

# Count the next VM test file to finish, in the order they finish.
vm_reap() {
	local pid name label rc secs

	wait -n -p pid "${!vm_running[@]}"
	name=${vm_running[$pid]}
	label=${vm_label[$pid]}
	unset "vm_running[$pid]" "vm_label[$pid]"
	read -r rc secs < "$logs/vm-$name.rc" || rc=125
	took=${secs:-?}s count "$label" "$logs/vm-$name.log" "$rc"
}

# The files a kernel series' lane runs: those that drive the kernel's
# interfaces (netlink, the target, crypto, dm, block and fs behaviour, the
# kernel's uevents) and one end-to-end path through cmekd. The files
# left to the 6.1 lane test cmekd's and cmekctl's own logic (headers,
# trust, KMS failure classes, slots, rotation) through the same kernel
# calls these cover. CHECK_SERIES_TESTS (glob patterns) replaces the list;
# CHECK_SERIES_TESTS='*' runs every file.
#
# The debug kernel's lane (series "debug", tests/vm/kdebug.sh) runs the
# files whose kernel paths its checkers watch: netlink's parsing (and the
# fuzzer, a tenth of its messages), the table, async crypto with its
# backlog, flushes, stacking, swap under memory pressure, and revoke racing
# held and in-flight I/O. Under KASAN and lockdep in emulation each takes
# three to ten times as long (Documentation/testing.rst, "The debug
# kernel"), so dm_cmek_revoke.sh and dm_cmek_interop.sh, whose paths these
# take as well, stay on the stock kernels, as does dm_cmek_module.sh: its
# leak check is the slab's growth, which KASAN's quarantine swamps.
# CHECK_DEBUG_TESTS replaces this list.
series_selected() {
	local p pats

	# Patterns, not file names: no pathname expansion here.
	set -f
	if [ "$2" = debug ]; then
		# shellcheck disable=SC2206
		pats=(${CHECK_DEBUG_TESTS:-build/kselftest/*
			tests/kselftest/dm_cmek_table.sh tests/kselftest/dm_cmek_cipher.sh
			tests/kselftest/dm_cmek_revoke_race.sh tests/kselftest/dm_cmek_stack.sh
			tests/kselftest/dm_cmek_swap.sh tests/kselftest/dm_cmek_flush.sh})
	else
		# shellcheck disable=SC2206
		pats=(${CHECK_SERIES_TESTS:-build/kselftest/* tests/kselftest/dm_*.sh
			tests/kselftest/revoke_fs.sh tests/kselftest/lifecycle.sh
			tests/kselftest/cmekd_daemon.sh tests/kselftest/udev.sh})
	fi
	set +f
	for p in "${pats[@]}"; do
		# shellcheck disable=SC2053
		[[ "$1" == $p ]] && return 0
	done
	return 1
}

# vm_tests [SERIES]: every VM test file on the default kernel, or on
# Debian's newest kernel of SERIES, labelled "[SERIES] NAME". VM_JOBS (1)
# files run at once, each in its own guest.
vm_tests() {
	local series=${1:-} t name files=() jobs=${VM_JOBS:-1} log kroot rc

	# The debug kernel's guests have one vCPU (tests/vm/run): two at once.
	[ "$series" != debug ] || jobs=${VM_JOBS_DEBUG:-2}
	declare -g -A vm_running=() vm_label=()

	# CHECK_VM_TESTS replaces the list (the rig's self-test uses it).
	for t in ${CHECK_VM_TESTS:-build/kselftest/* tests/kselftest/*.sh}; do
		[ -f "$t" ] || continue
		# Sourced helpers are not executable; only test files are.
		[ -x "$t" ] || continue
		selected "$t" || continue
		[ -z "$series" ] || series_selected "$t" "$series" || continue
		files+=("$t")
	done
	[ ${#files[@]} -gt 0 ] || return 0

	if [ -z "$series" ]; then
		echo "== VM tests (Debian $KERNELRELEASE under QEMU, $jobs at a time)"
	else
		# The kernel and the module for it, once, before any boot: no
		# image (no network, no apt-get update) is this one failure,
		# never a silent skip nor one per file.
		log=$logs/vm-kernel-$series.log
		: > "$log"
		# The debug kernel's build started first, in the background.
		if [ "$series" = debug ] && [ -n "$kdebug_pid" ]; then
			wait "$kdebug_pid"
			cat "$logs/kdebug-build.log" > "$log"
		fi
		kroot=$(tests/vm/kimage.sh "$series" "$repo/build/kimage" 2>> "$log") &&
			tests/vm/kbuild.sh "$series" > /dev/null 2>> "$log"
		rc=$?
		if [ "$series" = debug ]; then
			echo "== VM tests on the debug kernel (Debian's 6.1 source, KASAN, lockdep; tests/vm/kdebug.sh)"
		else
			echo "== VM tests on $series (${kroot:+Debian ${kroot##*/} }under QEMU, $jobs at a time)"
		fi
		result "[$series] kernel image and module build" $rc "$log"
		[ $rc -eq 0 ] || return 0
	fi
	for t in "${files[@]}"; do
		name=$(basename "$t")
		while [ ${#vm_running[@]} -ge "$jobs" ]; do
			vm_reap
		done
		vm_one "${series:+$series-}$name" "$t" "$series" &
		vm_running[$!]=${series:+$series-}$name
		vm_label[$!]=${series:+[$series] }$name
	done
	while [ ${#vm_running[@]} -gt 0 ]; do
		vm_reap
	done
}

export KERNELRELEASE=${KERNELRELEASE:-$(make -s -f /dev/null -f Makefile \
	--eval 'print-krel: ; @echo $(KERNELRELEASE)' print-krel)}
export KDIR=${KDIR:-/lib/modules/$KERNELRELEASE/build}

start=$(date +%s)
# The debug kernel takes about a quarter of an hour of both CPUs to build,
# once per machine (tests/vm/kdebug.sh caches it). Started first at the
# lowest priority, it takes the CPU time the tests before its lane leave
# idle (a guest waiting, a test sleeping) and barely slows them; its lock
# makes the lane wait for this build rather than start a second one.
kdebug_pid=
case " ${CHECK_KERNELS-6.12 debug} " in
*" debug "*)
	nice -n 19 tests/vm/kdebug.sh > /dev/null 2> "$logs/kdebug-build.log" &
	kdebug_pid=$!
	;;
esac

[ -z "$pattern" ] && build_all
[ -z "$pattern" ] && static_checks
unit_tests
host_tests
fuzz_tests
[ -z "$pattern" ] && rig_tests
vm_tests
systemd_tests
for series in ${CHECK_KERNELS-6.12 debug}; do
	vm_tests "$series"
done

echo
echo "== $(( $(date +%s) - start )) s, $boot_retries boot retries"
for f in "${failures[@]}"; do
	echo "FAILED: $f"
done
total=$((passed + failed))
if [ "$total" -eq 0 ]; then
	echo "no tests ran"
	failed=1
fi
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
