#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Flush and FUA through dm-cmek: the mapping advertises the write cache and
# FUA of the device below, an fsync reaches that device as a flush, and an
# O_DSYNC direct write reaches it as a FUA write of ciphertext. Seen with
# the block_bio_queue tracepoint on a memory-backed null_blk with a cache
# (brd has no cache, so it would see neither).
cd "$(dirname "$0")/../.."
. tests/lib/ktap.sh
. tests/lib/dm.sh

ktap_plan 7
dmsetup --noudevsync remove_all > /dev/null 2>&1
rmmod null_blk 2> /dev/null
modprobe null_blk nr_devices=1 gb=1 memory_backed=1 cache_size=16 || \
	{ ktap_fail "null_blk with a write cache"; ktap_finish; }
nb=/dev/nullb0
U=$(new_uuid)
key=$(new_key 64)
set_key "$U" "$key"
cmek_create f "$U" $nb 0 $((64 * 2048))
dm=$(basename "$(dmdev f)")
ktap_check "the mapping has a write-back cache, like $nb" \
	test "$(cat /sys/block/$dm/queue/write_cache)" = "write back"
ktap_check "the mapping supports FUA, like $nb" \
	test "$(cat /sys/block/$dm/queue/fua)" = 1

T=/sys/kernel/tracing
mountpoint -q $T || mount -t tracefs nodev $T
echo 0 > $T/tracing_on
# Without recording command names, enabling the event does not patch the
# scheduler's sched_switch call site while the other vCPU runs it: such
# patches are what livelock QEMU's TCG now and then (testing.rst).
echo 0 > $T/options/record-cmd
echo > $T/trace
# Only bios queued to null_blk: what dm-cmek sent down.
nbdev=$(stat -L -c '%t %T' $nb | { read -r a b; echo $(( (16#$a << 20) | 16#$b )); })
echo "dev == $nbdev" > $T/events/block/block_bio_queue/filter
echo 1 > $T/events/block/block_bio_queue/enable

# trace_of CMD...: run CMD with tracing on, print the null_blk bios' rwbs.
trace_of() {
	echo > $T/trace
	echo 1 > $T/tracing_on
	"$@"
	echo 0 > $T/tracing_on
	awk '/block_bio_queue:/ { for (i = 1; i <= NF; i++) if ($i == "block_bio_queue:") print $(i + 2), $(i + 3), $(i + 5) }' $T/trace
}

head -c 4096 /dev/urandom > /tmp/fua.in
rw=$(trace_of dd if=/tmp/fua.in of=$(dmdev f) bs=4096 seek=5 oflag=direct,dsync status=none)
ktap_diag "O_DSYNC write: $(echo $rw)"
ktap_check "an O_DSYNC direct write reaches the device as a FUA write" \
	sh -c "echo '$rw' | grep -q '^WF[A-Z]* 40 8$'"
dd if=$nb of=/tmp/fua.raw bs=4096 skip=5 count=1 iflag=direct status=none
ktap_check "what reached the device is ciphertext, not the data" \
	sh -c "! cmp -s /tmp/fua.in /tmp/fua.raw"
dd if=$(dmdev f) of=/tmp/fua.out bs=4096 skip=5 count=1 iflag=direct status=none
ktap_check "and it reads back as the data" cmp -s /tmp/fua.in /tmp/fua.out

rw=$(trace_of dd if=/tmp/fua.in of=$(dmdev f) bs=4096 seek=9 oflag=direct conv=fsync status=none)
ktap_diag "write + fsync: $(echo $rw)"
ktap_check "the write itself goes down without FUA" \
	sh -c "echo '$rw' | grep -q '^W[A-EG-Z]* 72 8$'"
ktap_check "fsync reaches the device as a flush" \
	sh -c "echo '$rw' | grep -q '^F'"

echo 0 > $T/events/block/block_bio_queue/enable
dmsetup --noudevsync remove f
ktap_finish
