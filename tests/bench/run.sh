#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# dm-cmek against dm-crypt and the raw device, in one guest, same key size
# (512-bit) and sector size, alternating configurations so that drift on a
# noisy host hits all of them alike, and rotating their order each round
# (A B C D, B C D A, ...) so that none always runs after the same one: a
# config run right after another inherits its state (workers, caches), and
# with a fixed order that bias would be the same in every round. Runs in
# the VM:
#
#	make bench                       (tests/vm/run -- tests/bench/run.sh)
#	BENCH_TIME=3 BENCH_REPS=5        seconds per run, repetitions
#	BENCH_CONFIGS="crypt cmek"       a subset, for quick A/B runs (also
#	BENCH_WORKLOADS="seq-read"       BENCH_SECTORS="4096"); make bench
#	                                 itself always runs everything
#	BENCH_PERF=1                     after the measured runs, run each
#	                                 selected case once more under
#	                                 perf record -a (cpu-clock) and print
#	                                 where the samples fell as "PERF ..."
#	                                 lines (bench.sh: profile.txt)
#
# The guest sees the tree read-only: results go to stdout as "CSV ..." lines,
# and tests/bench/bench.sh (the host side of make bench) turns them into
# build/bench/results.{csv,md,png}.
set -uo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PWD/build:$PATH
. tests/lib/dm.sh

T=${BENCH_TIME:-3}
REPS=${BENCH_REPS:-5}
SIZE_MB=${BENCH_SIZE_MB:-256}

configs=(${BENCH_CONFIGS:-raw crypt crypt-nowq cmek})
wrap=()
workloads=(
	"seq-read read 1M 4"
	"seq-write write 1M 4"
	"rand-read-qd1 randread 4k 1"
	"rand-write-qd1 randwrite 4k 1"
	"rand-read-qd32 randread 4k 32"
	"rand-write-qd32 randwrite 4k 32"
)

die() {
	echo "bench: $*" >&2
	exit 1
}

# selected WORKLOAD: is it in BENCH_WORKLOADS (all are when that is unset)?
selected() {
	[[ " ${BENCH_WORKLOADS:-$1} " == *" $1 "* ]]
}

setup_ram $SIZE_MB || die "cannot create the RAM disk"
raw=/dev/ram0
sz=$(blockdev --getsz $raw)
key=$(new_key 64)
uuid=$(new_uuid)
set_key "$uuid" "$key" || die "cannot set the cmek key (is dm-cmek loaded?)"

# map CONFIG SECTOR_SIZE: create the mapping, print the device to test.
map() {
	local opts=(sector_size:$2)
	dmsetup --noudevsync remove_all > /dev/null 2>&1
	case $1 in
	raw) echo $raw; return 0 ;;
	crypt) crypt_create b "$key" $raw 0 $sz 0 "${opts[@]}" ;;
	crypt-nowq) crypt_create b "$key" $raw 0 $sz 0 "${opts[@]}" no_read_workqueue no_write_workqueue ;;
	cmek) cmek_create b "$uuid" $raw 0 $sz "${opts[@]}" ;;
	esac || return 1
	dmdev b
}

# run DEV RW BS QD: one fio run, under the command in wrap if set; prints
# "MiB/s IOPS p50_us p99_us", the latencies from submission to completion
# (a synchronous device like brd does most of the work inside submission,
# so clat alone would hide it).
run() {
	local dev=$1 rw=$2 bs=$3 qd=$4 j dir
	j=$("${wrap[@]}" fio --name=b --filename=$dev --direct=1 --ioengine=libaio --rw=$rw \
		--bs=$bs --iodepth=$qd --time_based --runtime=$T --ramp_time=1 \
		--size=$((SIZE_MB - 8))M --randrepeat=0 --norandommap --lat_percentiles=1 \
		--output-format=json 2>/dev/null) || return 1
	case $rw in *read) dir=read ;; *) dir=write ;; esac
	[ -n "$j" ] || return 1
	echo "$j" | jq -r ".jobs[0].$dir | \"\(.bw_bytes / 1048576) \(.iops) \(.lat_ns.percentile[\"50.000000\"] / 1000) \(.lat_ns.percentile[\"99.000000\"] / 1000)\""
}

# profile SS WORKLOAD RW BS QD CONFIG: one more run of a case under perf,
# system-wide: under emulation there is no PMU, so the sampling event is
# the hrtimer-driven cpu-clock. Separate from the measured runs, which
# perf would slow down. tests/bench/perf-share.awk sums the samples spent
# idle, in AES-NI, in the target's own module and elsewhere.
profile() {
	local ss=$1 w=$2 c=$6 dev tag="$1 $2 $6"
	dev=$(map $c $ss) || die "cannot map $c (sector $ss)"
	wrap=(perf record -q -a -e cpu-clock -F 997 -o /tmp/perf.data --)
	run $dev $3 $4 $5 > /dev/null || die "fio under perf failed: $c $w"
	wrap=()
	perf report -i /tmp/perf.data --stdio --no-children --sort sym \
		2>/dev/null > /tmp/perf.txt || die "perf report failed: $c $w"
	awk -v tag="$tag" -f tests/bench/perf-share.awk /proc/kallsyms /tmp/perf.txt
	rm -f /tmp/perf.data /tmp/perf.txt
}

echo "# cipher ceiling"
cb=$(cryptsetup benchmark -c aes-xts-plain64 -s 512 2>/dev/null | awk '/aes-xts/ { print $3, $5 }')
[ -n "$cb" ] || die "cryptsetup benchmark failed"
echo "cipher enc_MiBs dec_MiBs: $cb"
echo "CSV cipher,$cb"

# Precondition: the first selected workload of the first repetition writes
# the whole device once per config, so that reads decrypt real ciphertext,
# not brd's unallocated zero pages.
first=
for w in "${workloads[@]}"; do
	set -- $w
	selected $1 && { first=$1; break; }
done
[ -n "$first" ] || die "no workload selected (BENCH_WORKLOADS=${BENCH_WORKLOADS:-})"

for ss in ${BENCH_SECTORS:-512 4096}; do
	for rep in $(seq $REPS); do
		for w in "${workloads[@]}"; do
			set -- $w
			selected $1 || continue
			for i in "${!configs[@]}"; do
				c=${configs[$(((i + rep - 1) % ${#configs[@]}))]}
				dev=$(map $c $ss) || die "cannot map $c (sector $ss)"
				if [ $rep = 1 ] && [ "$1" = "$first" ]; then
					dd if=/dev/zero of=$dev bs=1M oflag=direct status=none 2>/dev/null
				fi
				r=$(run $dev $2 $3 $4) || die "fio failed: $c $1 sector $ss"
				echo "CSV $ss,$1,$c,$rep,${r// /,}"
			done
		done
	done
done
if [ -n "${BENCH_PERF:-}" ]; then
	command -v perf > /dev/null || die "BENCH_PERF: no perf (apt-get install linux-perf)"
	for ss in ${BENCH_SECTORS:-512 4096}; do
		for w in "${workloads[@]}"; do
			set -- $w
			selected $1 || continue
			for c in "${configs[@]}"; do
				profile $ss "$@" $c
			done
		done
	done
fi
dmsetup --noudevsync remove_all
# Revoke and key-push latencies, cmekd's footprint: only for the full run.
if [ -z "${BENCH_CONFIGS:-}${BENCH_WORKLOADS:-}${BENCH_SECTORS:-}" ]; then
	tests/bench/latency.sh || die "latency measurements failed"
fi
echo "BENCH-DONE"
