#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench: run tests/bench/run.sh in the VM and report its figures.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=build/bench
mkdir -p $out
tests/vm/run --timeout 3000 -- env BENCH_TIME="${BENCH_TIME:-3}" \
	BENCH_REPS="${BENCH_REPS:-5}" BENCH_CONFIGS="${BENCH_CONFIGS:-}" \
	BENCH_WORKLOADS="${BENCH_WORKLOADS:-}" BENCH_SECTORS="${BENCH_SECTORS:-}" \
	BENCH_PERF="${BENCH_PERF:-}" \
	tests/bench/run.sh | tee $out/run.log
rc=${PIPESTATUS[0]}
if [ $rc -ne 0 ] || ! grep -q '^BENCH-DONE' $out/run.log; then
	echo "bench: the run failed (exit $rc); see $out/run.log" >&2
	exit 1
fi
grep '^CSV ' $out/run.log | cut -c5- > $out/results.csv
if [ -n "${BENCH_PERF:-}" ]; then
	grep '^PERF ' $out/run.log | cut -c6- > $out/profile.txt
	[ -s $out/profile.txt ] || { echo "bench: BENCH_PERF gave no profile" >&2; exit 1; }
fi
tests/bench/report.sh $out/results.csv > $out/results.md || exit 1
cat $out/results.md
