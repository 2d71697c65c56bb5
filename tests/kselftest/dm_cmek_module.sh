#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Module life cycle: 100 rounds of load, set a key, map, write and read,
# unmap, (usually) revoke, unload; every tenth round unloads with the key
# still set, so module exit must free live entries and their transforms.
# Afterwards the kernel's unreclaimable slab and per-CPU memory must not
# have grown by more than 1 MiB (one leaked mapping's page mempool alone is
# 1 MiB; a leaked transform or entry per round adds up past it), and the
# module's own object counters (debugfs dm_cmek/objects) must show exactly
# the entry, key, target and bounce pages each step should have, and none
# left after.
cd "$(dirname "$0")/../.."
. tests/lib/ktap.sh
. tests/lib/dm.sh

ROUNDS=100
ktap_plan 6
mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug
# expect WHEN ENTRIES KEYS TARGETS: note the first mismatch. Each idle
# mapping holds exactly its bounce pool's reserve (BIO_MAX_VECS pages),
# and none is left once it is gone. Builtins only: a fork costs tens of
# milliseconds in the emulated guest.
bad_objects=
expect() {
	local want="entries $2 keys $3 targets $4 bounce_pages $(($4 * 256))" got lines
	mapfile -t lines < /sys/kernel/debug/dm_cmek/objects
	got="${lines[*]:0:4}"
	[ "$got" = "$want" ] || bad_objects=${bad_objects:-"round $i, $1: '$got'"}
}
setup_ram 8
raw=/dev/ram0
sz=$(blockdev --getsz $raw)

unreclaimable_kib() {
	sync
	echo 3 > /proc/sys/vm/drop_caches
	sleep 1
	awk '/^SUnreclaim:|^Percpu:/ { s += $2 } END { print s }' /proc/meminfo
}

# A key per round, made in one go (forks are what a round costs).
mapfile -t keys < <(head -c $((64 * (ROUNDS + 1))) /dev/urandom |
	od -An -tx1 -v -w64 | tr -d ' ')
head -c 4096 /dev/urandom > /tmp/mod.in
# The module without its debug sections, from tmpfs: insmod reads the
# whole file, and the build's 1.4 MiB come over 9p every round otherwise.
objcopy --strip-debug ./dm-cmek.ko /tmp/dm-cmek.ko

round() {
	local i=$1 u dev
	read -r u < /proc/sys/kernel/random/uuid
	insmod /tmp/dm-cmek.ko || return 1
	set_key "$u" "${keys[$((i - 1))]}" || return 2
	expect "key set" 1 1 0
	cmek_create m "$u" $raw 0 $sz || return 3
	expect mapped 1 1 1
	dev=$(dmdev m)
	dd if=/tmp/mod.in of=$dev bs=4096 oflag=direct status=none || return 4
	dd if=$dev of=/tmp/mod.out bs=4096 count=1 iflag=direct status=none || return 5
	cmp -s /tmp/mod.in /tmp/mod.out || return 6
	dmsetup --noudevsync remove m || return 7
	expect unmapped 1 1 0
	if [ $((i % 10)) != 0 ]; then
		cmekctl key revoke "$u" > /dev/null || return 8
		expect revoked 0 0 0
	fi
	rmmod dm_cmek || return 9
}

rmmod dm_cmek
# One warm-up round: the first load allocates what stays (module text,
# crypto algorithm instances), which is not a leak.
round $((ROUNDS + 1)) || { ktap_fail "warm-up round"; ktap_finish; }
before=$(unreclaimable_kib)
failed=
t0=$(date +%s)
for i in $(seq $ROUNDS); do
	round $i || { failed=$i:$?; break; }
done
t1=$(date +%s)
after=$(unreclaimable_kib)
ktap_diag "$ROUNDS rounds in $((t1 - t0)) s; SUnreclaim+Percpu $before -> $after KiB"
ktap_check "$ROUNDS load/map/io/unmap/unload rounds${failed:+ (failed: round $failed)}" test -z "$failed"
ktap_check "unreclaimable slab + per-CPU grew by less than 1 MiB ($((after - before)) KiB)" \
	test $((after - before)) -lt 1024
ktap_check "object counters right at every step of every round${bad_objects:+ (first wrong: $bad_objects)}" \
	test -z "$bad_objects" -a -z "$failed"
ktap_check "no dm-cmek left loaded" sh -c "! grep -q '^dm_cmek ' /proc/modules"
ktap_check "and it loads again" insmod ./dm-cmek.ko
ktap_check "with an empty key table" test "$(cmekctl key list --json | jq '.keys | length')" = 0
ktap_finish
