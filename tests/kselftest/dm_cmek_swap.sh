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
cd "$(dirname "$0")/../.."
. tests/lib/ktap.sh
. tests/lib/dm.sh

CG=/sys/fs/cgroup
ktap_plan 5
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
ktap_finish
