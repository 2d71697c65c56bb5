#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The xts(aes) driver changes under a loaded table. A mapping's per-bio
# data holds one request of the cipher that does its I/O, sized when the
# table is loaded; a driver of higher priority with larger requests that
# comes later (a hardware engine binding after boot) would have the cipher
# write past it. tests/kmod/cmek_slow_xts.ko is such a driver (its requests
# carry 512 bytes more than it needs): a key set after it loaded is
# refused with the reason until the table is reloaded, the mapping keeps
# serving with the key it had, and after a reload the new driver does the
# I/O.
cd "$(dirname "$0")/../.."
. tests/lib/ktap.sh
. tests/lib/dm.sh

SLOW=/sys/module/cmek_slow_xts/parameters

ktap_plan 16
setup_ram 16
sz=$(( 8 * 2048 ))
U=$(new_uuid)
key=$(new_key 64)
set_key "$U" "$key"
cmek_create c1 "$U" /dev/ram0 0 $sz
dev=$(dmdev c1)
head -c 1M /dev/urandom > /tmp/ref
dd if=/tmp/ref of=$dev bs=64k oflag=direct status=none

insmod tests/kmod/cmek_slow_xts.ko delay_ms=0
ktap_check "a larger xts(aes) of higher priority is registered" \
	grep -q 'xts-aes-cmek-test-slow' /proc/crypto
printf '%s' "$key" | cmekctl key set "$U" --hex --replace > /tmp/set.out 2>&1
rc=$?
ktap_check "a key set now is refused, with the reason ($(tail -n1 /tmp/set.out))" \
	bash -c "test $rc -ne 0 && grep -q 'reload the table' /tmp/set.out"
ktap_check "the kernel log names the driver and both sizes" \
	bash -c "dmesg | grep -q 'volume $U: xts(aes) is xts-aes-cmek-test-slow now, [0-9]*-byte requests, mapping sized for [0-9]*'"
ktap_check "the mapping goes on with the key it had: data intact" \
	bash -c "dd if=$dev bs=64k count=16 iflag=direct status=none | cmp -s - /tmp/ref"

dmsetup --noudevsync reload c1 --table "$(dmsetup table c1)"
dmsetup --noudevsync resume c1
ktap_check "after a table reload the key is set" set_key "$U" "$key" --replace
echo 1000 > $SLOW/delay_ms
t0=$(now_ms)
dd if=$dev of=/tmp/got bs=512 count=1 iflag=direct status=none
rc=$?
t=$(( $(now_ms) - t0 ))
echo 0 > $SLOW/delay_ms
ktap_check "and the new driver does the I/O (a 512-byte read took ${t} ms)" \
	test $rc -eq 0 -a $t -ge 1000
ktap_check "data intact through it" \
	bash -c "dd if=$dev bs=64k count=16 iflag=direct status=none | cmp -s - /tmp/ref"
# Completions in atomic context, as a hardware engine's in softirq: writes
# are submitted from the workqueue, never from the completion.
echo 1 > $SLOW/bh
head -c 1M /dev/urandom > /tmp/ref2
dd if=/tmp/ref2 of=$dev bs=64k oflag=direct status=none
rc=$?
ktap_check "with completions in atomic context, 1 MiB written and read back intact" \
	bash -c "test $rc -eq 0 && dd if=$dev bs=64k count=16 iflag=direct status=none | cmp -s - /tmp/ref2"
echo 0 > $SLOW/bh
cmekctl key revoke "$U" > /dev/null
dmsetup --noudevsync remove c1
ktap_check "the driver unloads: no key and no mapping left on it" \
	rmmod cmek_slow_xts

# A driver that allocates memory per request is never used, whatever its
# priority: writeback and swap must not wait for memory to encrypt.
insmod tests/kmod/cmek_slow_xts.ko delay_ms=0 allocates=1
before=$(cat $SLOW/requests)
set_key "$U" "$key" --replace
cmek_create c1 "$U" /dev/ram0 0 $sz
dev=$(dmdev c1)
dd if=$dev bs=64k count=16 iflag=direct status=none | cmp -s - /tmp/ref2
rc=$?
ktap_check "a higher-priority xts(aes) that allocates memory is passed over (data intact, $(( $(cat $SLOW/requests) - before )) requests to it)" \
	test $rc -eq 0 -a "$(cat $SLOW/requests)" = "$before"
cmekctl key revoke "$U" > /dev/null
dmsetup --noudevsync remove c1
rmmod cmek_slow_xts

# An asynchronous engine gets every sector of a bio at once, not one round
# trip per sector: 64 KiB at 4096-byte sectors is 16 requests, each held
# delay_ms, so the driver's peak counts what the mapping issued before
# the first completed. dm-crypt (through the same driver) reads back what
# cmek wrote.
# Slowed only once its self-tests have run (on 6.12 after the load, and
# a transform allocated meanwhile waits for them).
insmod tests/kmod/cmek_slow_xts.ko delay_ms=0
set_key "$U" "$key" --replace
cmek_create c1 "$U" /dev/ram0 0 $sz sector_size:4096
dev=$(dmdev c1)
echo 1000 > $SLOW/delay_ms
echo 0 > $SLOW/peak
head -c 64k /dev/urandom > /tmp/ref3
dd if=/tmp/ref3 of=$dev bs=64k oflag=direct status=none
rc=$?
ktap_check "a 64 KiB write at 4096-byte sectors has its 16 requests in flight at once (peak $(cat $SLOW/peak))" \
	test $rc -eq 0 -a "$(cat $SLOW/peak)" -ge 16
echo 0 > $SLOW/peak
dd if=$dev of=/tmp/got3 bs=64k count=1 iflag=direct status=none
rc=$?
ktap_check "so has a 64 KiB read (peak $(cat $SLOW/peak)), data intact" \
	bash -c "test $rc -eq 0 -a $(cat $SLOW/peak) -ge 16 && cmp -s /tmp/got3 /tmp/ref3"

# A full queue (-EBUSY): the request waits in the driver's backlog, and
# the mapping issues no more until it was started; a read converted in
# its completion context, which may not wait, goes on in the workqueue.
echo 100 > $SLOW/delay_ms
echo 4 > $SLOW/busy
echo 0 > $SLOW/peak
head -c 64k /dev/urandom > /tmp/ref4
dd if=/tmp/ref4 of=$dev bs=32k oflag=direct status=none
rc=$?
ktap_check "with a queue of 4, 64 KiB written through the backlog ($(cat $SLOW/backlogged) requests backlogged, peak $(cat $SLOW/peak))" \
	test $rc -eq 0 -a "$(cat $SLOW/backlogged)" -gt 0 -a "$(cat $SLOW/peak)" -le 5
before=$(cat $SLOW/backlogged)
dd if=$dev of=/tmp/got4 bs=32k count=2 iflag=direct status=none
rc=$?
ktap_check "and read back intact through it ($(( $(cat $SLOW/backlogged) - before )) more backlogged)" \
	bash -c "test $rc -eq 0 -a $(cat $SLOW/backlogged) -gt $before && cmp -s /tmp/got4 /tmp/ref4"
echo 0 > $SLOW/busy
echo 0 > $SLOW/delay_ms
dmsetup --noudevsync remove c1
crypt_create k1 "$key" /dev/ram0 0 $sz 0 sector_size:4096
ktap_check "dm-crypt reads what cmek wrote through the backlog" \
	bash -c "dd if=$(dmdev k1) bs=64k count=1 iflag=direct status=none | cmp -s - /tmp/ref4"
dmsetup --noudevsync remove k1

# The write clone's bounce pages are not contiguous as the bio's may be;
# the block core splits the clone to the device's limits (as dm-crypt has
# relied on since 6.10), so the mapping takes the device's segment size.
cmek_create c1 "$U" /dev/ram0 0 $sz
mseg=/sys/block/$(basename "$(dmdev c1)")/queue/max_segment_size
ktap_check "the mapping's max_segment_size is the device's ($(cat $mseg))" \
	test "$(cat $mseg)" = "$(cat /sys/block/ram0/queue/max_segment_size)"
cmekctl key revoke "$U" > /dev/null
dmsetup --noudevsync remove c1
rmmod cmek_slow_xts
ktap_finish
