#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/bench/perf-share.awk sums a perf report into idle, cipher, target
# module and other shares for make bench's BENCH_PERF pass (TAP). Fed a
# kallsyms excerpt and a report whose sums are known, and a report with
# nothing in it, which must give zeros rather than fail.
#   tests/host/bench_perf_share.sh

set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib/ktap.sh"
T=$(mktemp -d /tmp/cmek_perf.XXXXXX)
trap 'rm -rf "$T"' EXIT
AWK="$TOP/tests/bench/perf-share.awk"

ktap_plan 8

cat > "$T/kallsyms" <<'KS'
ffffffff81000000 T native_safe_halt
ffffffffc0a01000 t cmek_crypt_run	[dm_cmek]
ffffffffc0a02000 t cmek_read_endio	[dm_cmek]
ffffffffc0b01000 t crypt_convert	[dm_crypt]
ffffffffc0c01000 t brd_do_bvec	[brd]
KS

cat > "$T/report" <<'RP'
# To display the perf.data header info, please use --header/--header-only options.
#
# Samples: 8K of event 'cpu-clock'
#
# Overhead  Symbol
# ........  ......
#
    26.80%  [k] native_safe_halt
    24.90%  [k] aesni_xts_decrypt
     2.30%  [k] _aesni_dec4
     0.60%  [k] cmek_crypt_run
     0.40%  [k] cmek_read_endio
     0.30%  [k] crypt_convert
     2.10%  [k] brd_do_bvec
     1.50%  [.] fio_gettime
     0.25%  [.] 0x00000000000009ac
RP

out=$(awk -v tag="4096 rand-read-qd32 cmek" -f "$AWK" "$T/kallsyms" "$T/report")
ktap_check "a report sums without error" test $? = 0
share=$(head -n1 <<< "$out")
ktap_check "idle share" grep -qF " idle 26.8% " <<< "$share"
ktap_check "cipher share counts every AES-NI symbol" grep -qF " cipher 27.2% " <<< "$share"
# cmek_crypt_run + cmek_read_endio + crypt_convert: both targets' modules.
ktap_check "target share from the kallsyms module tags" grep -qF " target 1.3% " <<< "$share"
# brd (another module) and user space are neither.
ktap_check "everything else is other" grep -qF " other 3.9%" <<< "$share"
ktap_check "the line is tagged with the case" \
	grep -qx "PERF 4096 rand-read-qd32 cmek share .*" <<< "$share"
ktap_check "symbols of 1% or more are listed, the rest not" \
	test "$(grep -c ' top ' <<< "$out")" = 5

printf '# Samples: 0\n#\n' > "$T/empty"
out=$(awk -v tag="x" -f "$AWK" "$T/kallsyms" "$T/empty")
ktap_check "an empty report gives zero shares" \
	test "$out" = "PERF x share idle 0.0% cipher 0.0% target 0.0% other 0.0%"
ktap_finish
