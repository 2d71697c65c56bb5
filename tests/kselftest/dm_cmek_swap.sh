#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Swap on a cmek volume under memory pressure (KTAP). A memory cgroup
# capped at 32 MiB runs tests/helpers/memtouch over 160 MiB: most of its
# pages are swapped out through cmek (bounce pages, a clone per bio, with
# memory short in the cgroup) and read back, and each must come back as
# written. The swap device is a cmek mapping on a RAM disk; dm bounds the
# swap bios in flight (limit_swap_bios), as for dm-crypt. Then swapoff
# brings everything back, and the revoke of a volume that served as swap
# goes as any other. A hung task, a WARN or an oops fails the run.
#
# Then the bounce-page budget: 128 writes of 1 MiB at once to a mapping
# over a device that takes ten seconds per write (dm-delay) would hold
# 128 MiB of ciphertext in flight; dm-cmek holds at most its budget (2% of
# the guest's memory per mapping, as dm-crypt), sampled from debugfs while
# fio runs, and every write still completes.
cd "$(dirname "$0")/../.."
. tests/lib/ktap.sh
. tests/lib/dm.sh

CG=/sys/fs/cgroup
ktap_plan 8
setup_ram 256
sz=$(( 256 * 2048 ))
U=$(new_uuid)
set_key "$U" "$(new_key 64)"
cmek_create sw "$U" /dev/ram0 0 $sz
dev=$(dmdev sw)
ktap_check "mkswap and swapon on the cmek mapping" \
	bash -c "mkswap $dev > /dev/null && swapon $dev"

grep -q cgroup2 /proc/mounts || mount -t cgroup2 none $CG
echo +memory > $CG/cgroup.subtree_control
mkdir -p $CG/swaptest
echo 32M > $CG/swaptest/memory.max
out0=$(awk '/^pswpout / { print $2 }' /proc/vmstat)
w0=$(cmekctl key get "$U" --json | grep -o '"writes": *[0-9]*' | grep -o '[0-9]*$')
t0=$(now_ms)
bash -c "echo \$\$ > $CG/swaptest/cgroup.procs && exec timeout 300 build/helpers/memtouch 160" \
	> /tmp/memtouch.out 2>&1
rc=$?
t=$(( $(now_ms) - t0 ))
out=$(( $(awk '/^pswpout / { print $2 }' /proc/vmstat) - out0 ))
w=$(( $(cmekctl key get "$U" --json | grep -o '"writes": *[0-9]*' | grep -o '[0-9]*$') - w0 ))
ktap_diag "memtouch 160 MiB in a 32 MiB cgroup: ${t} ms, $(( out / 256 )) MiB swapped out, $w writes to cmek"
ktap_check "160 MiB through a 32 MiB cgroup come back intact ($(cat /tmp/memtouch.out))" \
	test $rc -eq 0 -a "$(cat /tmp/memtouch.out)" = "ok 160"
ktap_check "and over 64 MiB of it went out through cmek ($(( out / 256 )) MiB, $w bios)" \
	test $out -gt $(( 64 * 256 )) -a $w -gt 0
rmdir $CG/swaptest
ktap_check "swapoff brings it all back" swapoff $dev
ktap_check "the volume that served as swap is revoked and removed" \
	bash -c "cmekctl key revoke $U > /dev/null && dmsetup --noudevsync remove sw"

# The budget, on ram1 behind a write delay: a fresh table set, one mapping.
dmsetup --noudevsync create slow --table "0 $sz delay /dev/ram1 0 0 /dev/ram1 0 10000"
U2=$(new_uuid)
set_key "$U2" "$(new_key 64)"
cmek_create bw "$U2" "$(dmdev slow)" 0 $sz
OBJ=/sys/kernel/debug/dm_cmek/objects
budget=$(awk '$1 == "bounce_budget" { print $2 }' $OBJ)
fio --name=bounce --filename="$(dmdev bw)" --rw=write --bs=1M --iodepth=128 \
	--ioengine=libaio --direct=1 --size=200M --time_based --runtime=12 \
	> /tmp/fio-bounce.out 2>&1 &
fpid=$!
peak=0
while kill -0 $fpid 2> /dev/null; do
	n=$(awk '$1 == "bounce_pages" { print $2 }' $OBJ)
	[ "${n:-0}" -le $peak ] || peak=$n
	sleep 0.05
done
wait $fpid
rc=$?
ktap_diag "bounce pages: peak $peak sampled, budget $budget ($(( budget / 256 )) MiB)"
ktap_check "128 x 1 MiB writes in flight over a slow device all complete" test $rc -eq 0
# percpu_counter_read_positive() may lag by a batch on each CPU, and
# allocations that passed the check together may land together: a bio's
# worth of pages on top. Without the budget the peak is about 33000.
slack=$(( 64 * $(nproc) + 256 ))
ktap_check "the mapping's bounce pages reached the budget ($peak of $budget)" \
	test $peak -ge $(( budget / 2 ))
ktap_check "and never went past it ($peak <= $budget + $slack)" \
	test $peak -le $(( budget + slack ))
dmsetup --noudevsync remove bw
dmsetup --noudevsync remove slow
ktap_finish
