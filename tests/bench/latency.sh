#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The latencies and the footprint of the key path, in the guest, as CSV
# lines for tests/bench/report.sh (run by tests/bench/run.sh after fio):
#
#   revoke:    `cmekctl key revoke` from exec to exit (it returns when the
#              kernel confirmed the wipe), 100 times while fio runs randrw
#              at QD16 on the mapping; the key is set again after each;
#              and the same 100 as the kernel's log line times them
#   push:      a read held by key_wait_ms, from `cmekctl key set` to the
#              read's completion, 30 times
#   open:      `cmekctl open` through cmekd (local provider: header read,
#              unwrap, table load, key push) to the first 4 KiB read
#   cmekd RSS: VmRSS and VmLck of cmekd with one volume open
#
# The latencies include starting cmekctl, which dominates under emulation;
# the same round trip with `cmekctl key get` is measured as the baseline.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
cd "$TOP"
. tests/lib/dm.sh

die() {
	echo "latency: $*" >&2
	exit 1
}

now_us() {
	echo $(( $(date +%s%N) / 1000 ))
}

# pct P FILE: the P-th percentile (nearest rank) of the numbers in FILE.
pct() {
	sort -n "$2" | awk -v p="$1" '{ v[NR] = $1 } END {
		i = int((p * NR + 99) / 100); if (i < 1) i = 1; print v[i] }'
}

ms() {
	awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'
}

setup_ram 64
raw=/dev/ram0
sz=$(blockdev --getsz $raw)
U=$(new_uuid)
key=$(new_key 64)
set_key "$U" "$key" || die "set key"
cmek_create lat "$U" $raw 0 $sz key_wait_ms:10000 || die "create"
dev=$(dmdev lat)

# revoke under load
fio --name=load --filename=$dev --direct=1 --ioengine=libaio --rw=randrw \
	--bs=4k --iodepth=16 --time_based --runtime=600 --size=48M \
	--continue_on_error=all --output=/dev/null > /dev/null 2>&1 &
fio=$!
sleep 2
# What starting cmekctl costs by itself: the same round trip, no revoke.
: > /tmp/get.us
for i in $(seq 30); do
	t0=$(now_us)
	cmekctl key get "$U" > /dev/null || die "get $i failed"
	echo $(( $(now_us) - t0 )) >> /tmp/get.us
done
echo "CSV latency,cmekctl key get under fio (exec baseline),$(ms "$(pct 50 /tmp/get.us)"),$(ms "$(pct 99 /tmp/get.us)"),30"
: > /tmp/revoke.us
for i in $(seq 100); do
	t0=$(now_us)
	cmekctl key revoke "$U" > /dev/null || die "revoke $i failed"
	echo $(( $(now_us) - t0 )) >> /tmp/revoke.us
	set_key "$U" "$key" || die "set key $i"
	sleep 0.05
done
kill $fio
wait $fio 2> /dev/null
echo "CSV latency,revoke under fio,$(ms "$(pct 50 /tmp/revoke.us)"),$(ms "$(pct 99 /tmp/revoke.us)"),100"
# The same revokes as the kernel timed them (its log line: the request's
# lookup to the page cache dropped and the event sent), with no exec.
dmesg | sed -n "s/.*volume $U: key revoked and wiped, .* in \([0-9]*\) us$/\1/p" |
	tail -n 100 > /tmp/krevoke.us
[ "$(wc -l < /tmp/krevoke.us)" = 100 ] || die "the kernel logged $(wc -l < /tmp/krevoke.us) of 100 revokes"
echo "CSV latency,revoke under fio: in the kernel,$(ms "$(pct 50 /tmp/krevoke.us)"),$(ms "$(pct 99 /tmp/krevoke.us)"),100"

# key push -> held read completes
: > /tmp/push.us
for i in $(seq 30); do
	cmekctl key revoke "$U" > /dev/null || die "revoke"
	dd if=$dev of=/dev/null bs=4096 count=1 iflag=direct status=none &
	rd=$!
	sleep 0.2
	t0=$(now_us)
	set_key "$U" "$key" || die "push $i"
	wait $rd || die "held read $i failed"
	echo $(( $(now_us) - t0 )) >> /tmp/push.us
done
echo "CSV latency,key push to held read done,$(ms "$(pct 50 /tmp/push.us)"),$(ms "$(pct 99 /tmp/push.us)"),30"
dmsetup --noudevsync remove lat
cmekctl key revoke "$U" > /dev/null 2>&1

# open through cmekd, and its footprint
. tests/kselftest/lifecycle_lib.sh
trap lc_cleanup EXIT
lc_daemon_start > /dev/null || die "cmekd did not start"
rss0=$(awk '/VmRSS/ { print $2 }' /proc/$LC_PID/status)
"$CMEKCTL" kek create bench > /dev/null || die "kek create"
"$CMEKCTL" format $raw --provider local --key bench --force > /dev/null || die "format"
: > /tmp/open.us
for i in $(seq 10); do
	t0=$(now_us)
	"$CMEKCTL" open $raw blat > /dev/null || die "open $i"
	node="/dev/dm-$(dmsetup info -c --noheadings -o minor blat)"
	dd if="$node" of=/dev/null bs=4096 count=1 iflag=direct status=none || die "read $i"
	echo $(( $(now_us) - t0 )) >> /tmp/open.us
	[ $i = 10 ] || "$CMEKCTL" close blat > /dev/null || die "close $i"
done
echo "CSV latency,cmekctl open to first read,$(ms "$(pct 50 /tmp/open.us)"),$(ms "$(pct 99 /tmp/open.us)"),10"
rss1=$(awk '/VmRSS/ { print $2 }' /proc/$LC_PID/status)
lck=$(awk '/VmLck/ { print $2 }' /proc/$LC_PID/status)
echo "CSV footprint,cmekd,$rss0,$rss1,$lck"
"$CMEKCTL" close blat > /dev/null
