#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Stress the emulator with what hangs the guest's boot: live patching of
# kernel text that another vCPU is running. Flips a static key N times on
# vCPU 0 (enabling a trace event also hooks sched_switch, so __schedule's
# call site is patched too) while vCPU 1 keeps scheduling and submitting
# bios. Prints a line every 250 flips. A guest that stops printing has
# livelocked; tests/vm/run then names where each vCPU is.
#
#	tests/vm/run --timeout 300 -- tests/vm/text-patch-stress.sh [N]
#
# Not part of make check: it measures QEMU, not cmek
# (Documentation/testing.rst, "Boot hangs").
set -u
n=${1:-2000}
t=/sys/kernel/tracing
mountpoint -q $t || mount -t tracefs nodev $t
ev=$t/events/block/block_bio_queue/enable
[ -w "$ev" ] || { echo "no $ev"; exit 2; }

taskset -c -p 0 $$ > /dev/null
taskset -c 1 bash -c 'while :; do
	dd if=/dev/zero of=/dev/ram0 bs=4k count=256 oflag=direct status=none
done' &
busy=$!
start=${EPOCHREALTIME/./}
for i in $(seq 1 "$n"); do
	echo 1 > "$ev"
	echo 0 > "$ev"
	[ $((i % 250)) -ne 0 ] ||
		echo "flips $i after $(( (${EPOCHREALTIME/./} - start) / 1000 )) ms"
done
kill $busy
echo "done: $n flips"
