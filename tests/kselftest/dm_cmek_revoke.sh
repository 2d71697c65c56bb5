#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Revocation: synchronous, complete, and never a hang. Under fio load, every
# revoke returns, later I/O fails, the page cache is dropped, and setting the
# key again brings the volume back without a reload. With key_wait_ms, I/O
# waits for the key up to its bound, then fails.
cd "$(dirname "$0")/../.."
. tests/lib/ktap.sh
. tests/lib/dm.sh

LOOPS=${LOOPS:-50}
ktap_plan 17
setup_ram 16
U=$(new_uuid)
key=$(new_key 64)
sz=$(blockdev --getsz /dev/ram0)
set_key "$U" "$key"
cmek_create c1 "$U" /dev/ram0 0 "$sz"
dev=$(dmdev c1)
head -c 1M /dev/urandom > /tmp/ref
dd if=/tmp/ref of=$dev bs=64k oflag=direct status=none

# fio hammers the second half of the device while we revoke and re-set.
fio --name=load --filename=$dev --direct=1 --ioengine=libaio --rw=randrw \
	--bs=4k --iodepth=16 --offset=4M --size=4M --time_based --runtime=600 \
	--continue_on_error=all --output=/tmp/fio.log > /dev/null 2>&1 &
fio_pid=$!
sleep 2

bad_revoke=0 bad_read=0 bad_set=0 slowest=0
for i in $(seq $LOOPS); do
	t0=$(date +%s%N)
	cmekctl key revoke "$U" > /dev/null || bad_revoke=$((bad_revoke + 1))
	t=$(( ($(date +%s%N) - t0) / 1000000 ))
	[ $t -gt $slowest ] && slowest=$t
	dd if=$dev of=/dev/null bs=4k count=1 iflag=direct status=none 2>/dev/null &&
		bad_read=$((bad_read + 1))
	set_key "$U" "$key" || bad_set=$((bad_set + 1))
	dd if=$dev of=/tmp/got bs=64k count=16 iflag=direct status=none 2>/dev/null &&
		cmp -s /tmp/got /tmp/ref || bad_set=$((bad_set + 1))
done
ktap_check "$LOOPS revokes under fio load all confirmed (slowest ${slowest} ms)" test $bad_revoke -eq 0
ktap_check "a read right after each revoke failed" test $bad_read -eq 0
ktap_check "each re-set key brought the data back without a reload" test $bad_set -eq 0
kill $fio_pid
wait $fio_pid
ktap_check "fio saw errors during the revokes" grep -q -i 'err=\|error' /tmp/fio.log
ktap_check "fio finished: no I/O was left hanging" bash -c "! kill -0 $fio_pid 2>/dev/null"
errs=$(dmsetup status c1 | awk '{ print $8 }')
ktap_check "the error counter counted them ($errs)" test "$errs" -gt 0

# A revoke drops the mapping's page cache: a buffered read cannot be served
# from plaintext pages decrypted before.
dd if=$dev of=/dev/null bs=4k count=16 status=none
cmekctl key revoke "$U" > /dev/null
ktap_check "after revoke a buffered read fails too (page cache dropped)" \
	bash -c "! dd if=$dev of=/dev/null bs=4k count=16 status=none 2>/dev/null"
dmsetup --noudevsync remove c1

# key_wait_ms: I/O waits for the key, and gets it.
cmek_create c2 "$U" /dev/ram0 0 "$sz" key_wait_ms:10000
dev=$(dmdev c2)
t0=$(date +%s%N)
dd if=$dev of=/tmp/got bs=64k count=16 iflag=direct status=none 2>/dev/null &
dd_pid=$!
sleep 1.5
ktap_check "a read without a key is held (still waiting after 1.5 s)" kill -0 $dd_pid
set_key "$U" "$key"
wait $dd_pid
rc=$?
t=$(( ($(date +%s%N) - t0) / 1000000 ))
ktap_check "setting the key releases it: no error, right data (${t} ms)" \
	bash -c "test $rc -eq 0 && cmp -s /tmp/got /tmp/ref && test $t -lt 9000"

# A key set while a read is being parked must release it at once, never at
# its deadline: set and revoke against held reads, many times over.
late=0 failed=0
for i in $(seq ${HOLD_LOOPS:-40}); do
	cmekctl key revoke "$U" > /dev/null
	dd if=$dev of=/dev/null bs=4k count=1 skip=$((i % 64)) iflag=direct \
		status=none 2>/dev/null &
	dd_pid=$!
	[ $((i % 2)) = 0 ] && sleep 0.0$((i % 10))
	t0=$(date +%s%N)
	set_key "$U" "$key"
	wait $dd_pid || failed=$((failed + 1))
	t=$(( ($(date +%s%N) - t0) / 1000000 ))
	[ $t -gt 5000 ] && late=$((late + 1))
done
ktap_check "set against held reads: every read released at once ($late late, $failed failed)" \
	test $late -eq 0 -a $failed -eq 0
dmsetup --noudevsync remove c2

# ... but only up to key_wait_ms.
cmekctl key revoke "$U" > /dev/null
cmek_create c3 "$U" /dev/ram0 0 "$sz" key_wait_ms:1000
t0=$(date +%s%N)
dd if=$(dmdev c3) of=/dev/null bs=4k count=1 iflag=direct status=none 2>/dev/null
rc=$?
t=$(( ($(date +%s%N) - t0) / 1000000 ))
ktap_check "with no key, held I/O fails after key_wait_ms (${t} ms)" \
	bash -c "test $rc -ne 0 && test $t -ge 900 && test $t -lt 5000"
dmsetup --noudevsync remove c3

# Each held bio fails at its own deadline, the timer due at the earliest
# each time: 6 reads started 300 ms apart in one process (held_reads), each
# timed from its own start.
cmek_create c5 "$U" /dev/ram0 0 "$sz" key_wait_ms:2000
build/helpers/held_reads $(dmdev c5) 6 300 > /tmp/held
times=$(awk '{ sub("ms=", "", $3); printf "%s ", $3 }' /tmp/held)
ktap_check "held reads fail at their own deadline of 2000 ms (ms: $times)" \
	awk '$2 == "rc=-5" { sub("ms=", "", $3) }
	     $2 != "rc=-5" || $3 + 0 < 1990 || $3 + 0 > 2600 { bad = 1 }
	     END { exit bad || NR != 6 }' /tmp/held
dmsetup --noudevsync remove c5

# A table reload (noflush suspend, load, resume) carries held bios over to
# the new table, where the key releases them.
cmek_create c6 "$U" /dev/ram0 0 "$sz" key_wait_ms:600000
dev=$(dmdev c6)
dd if=$dev of=/tmp/got bs=64k count=16 iflag=direct status=none 2>/dev/null &
dd_pid=$!
sleep 1
dmsetup --noudevsync load c6 --table "0 $sz cmek $U /dev/ram0 0 1 key_wait_ms:600000"
t0=$(date +%s%N)
timeout 30 dmsetup --noudevsync suspend --noflush c6 &&
	timeout 30 dmsetup --noudevsync resume c6
rc=$?
t=$(( ($(date +%s%N) - t0) / 1000000 ))
ktap_check "reload with a read held: suspend and resume return (${t} ms)" \
	test $rc -eq 0 -a $t -lt 10000
sleep 1
ktap_check "the held read is still waiting, on the new table" kill -0 $dd_pid
set_key "$U" "$key"
wait $dd_pid
rc=$?
ktap_check "the key releases it: no error, right data" \
	bash -c "test $rc -eq 0 && cmp -s /tmp/got /tmp/ref"
cmekctl key revoke "$U" > /dev/null
dmsetup --noudevsync remove c6

# A held bio must not keep a suspend waiting for its timeout.
cmek_create c4 "$U" /dev/ram0 0 "$sz" key_wait_ms:600000
dd if=$(dmdev c4) of=/dev/null bs=4k count=1 iflag=direct status=none 2>/dev/null &
dd_pid=$!
sleep 1
t0=$(date +%s%N)
timeout 30 dmsetup --noudevsync suspend c4
rc=$?
t=$(( ($(date +%s%N) - t0) / 1000000 ))
ktap_check "suspend completes with I/O held (${t} ms)" test $rc -eq 0 -a $t -lt 10000
wait $dd_pid
ktap_check "and the held read failed" test $? -ne 0
dmsetup --noudevsync resume c4
dmsetup --noudevsync remove c4
ktap_finish
