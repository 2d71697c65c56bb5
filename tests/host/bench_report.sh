#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/bench/report.sh turns the benchmark's CSV into the results table
# (TAP). Fed synthetic figures whose medians and ratios are known: a full
# run, and a BENCH_CONFIGS subset whose missing columns must print "-"
# rather than break the report or its chart.
#   tests/host/bench_report.sh

set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib/ktap.sh"
T=$(mktemp -d /tmp/cmek_report.XXXXXX)
trap 'rm -rf "$T"' EXIT

ktap_plan 10

# row CSV SECTOR WORKLOAD: the table row of that sector and workload.
row() {
	grep -F "| $2 | $3 |" "$1"
}

# Three rounds; cmek's per-round ratios against the better dm-crypt are
# 1.10, 0.90 and 1.00 (median 1.00, spread 0.90-1.10).
mkdir "$T/full" "$T/sub"
{
	echo "cipher,2000.0 2100.0"
	for r in 1 2 3; do
		echo "4096,seq-read,raw,$r,1000,250,10,20"
		echo "4096,seq-read,crypt,$r,100,25,40,80"
		echo "4096,seq-read,crypt-nowq,$r,90,22,40,80"
	done
	echo "4096,seq-read,cmek,1,110,27,30,60"
	echo "4096,seq-read,cmek,2,90,22,31,61"
	echo "4096,seq-read,cmek,3,100,25,32,62"
	echo "latency,revoke under fio,0.50,1.50,100"
	echo "footprint,cmekd,3000,3100,2048"
} > "$T/full/results.csv"

"$TOP/tests/bench/report.sh" "$T/full/results.csv" > "$T/full/out.md" 2> "$T/full/err"
ktap_check "a full run reports without error" test $? = 0
r=$(row "$T/full/out.md" 4096 seq-read)
ktap_check "medians per configuration" \
	grep -qF "| 1000.0 | 100.0 | 90.0 | 100.0 | 25 | 31 / 61 | 1.00 |" <<< "$r"
ktap_check "per-round median and spread" grep -qF "| 1.00 (0.90-1.10) |" <<< "$r"
# Ceiling: 1 / (1/1000 + 1/2100) = 677.4 MiB/s; 100 / 677.4 = 0.15.
ktap_check "sequential ceiling against raw and the cipher" grep -qF "| 0.15 |" <<< "$r"
ktap_check "key path latency and footprint rows" \
	grep -qF "| revoke under fio | 0.50 | 1.50 | 100 |" "$T/full/out.md"

# A subset: BENCH_CONFIGS="crypt cmek" measured no raw and no nowq.
grep -v ',raw,\|,crypt-nowq,\|^latency\|^footprint' "$T/full/results.csv" > "$T/sub/results.csv"
"$TOP/tests/bench/report.sh" "$T/sub/results.csv" > "$T/sub/out.md" 2> "$T/sub/err"
rc=$?
ktap_check "a subset run reports without error" test $rc = 0
[ $rc = 0 ] || sed 's/^/# /' "$T/sub/err"
r=$(row "$T/sub/out.md" 4096 seq-read)
# .ci/deps installs gnuplot: the chart is part of the report.
ktap_check "the subset's chart is drawn" test -s "$T/sub/results.png"
ktap_check "missing configurations print '-'" \
	grep -qF "| - | 100.0 | - | 100.0 | 25 | 31 / 61 | 1.00 | 1.00 (0.90-1.10) | - |" <<< "$r"

# Only cmek: no dm-crypt to compare with, so no ratio either.
grep ',cmek,\|^cipher' "$T/full/results.csv" > "$T/sub/cmek.csv"
"$TOP/tests/bench/report.sh" "$T/sub/cmek.csv" > "$T/sub/cmek.md" 2> "$T/sub/err"
ktap_check "a cmek-only run reports without error" test $? = 0
r=$(row "$T/sub/cmek.md" 4096 seq-read)
ktap_check "no ratio without dm-crypt" \
	grep -qF "| - | - | - | 100.0 | 25 | 31 / 61 | - | - | - |" <<< "$r"

ktap_finish
