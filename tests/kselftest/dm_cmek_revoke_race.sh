#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Revocation against I/O that is inside the cipher, made deterministic:
# tests/kmod/cmek_slow_xts.ko registers an xts(aes) of the highest priority
# that holds each request until the test writes its "release" parameter
# (or HOLD ms pass, so a broken kernel fails the test instead of hanging
# it), so a read's decryption is in flight for as long as the test acts,
# however slow the machine. Its "inflight" parameter says how many
# requests it holds, so each check knows the drain was under way.
#   - a revoke waits for the read, and the read fails with what it
#     decrypted zeroed; meanwhile generic netlink, the key table dump and a
#     revoke and a set of another volume go on;
#   - a second revoke of the volume waits for the first and succeeds; a
#     key set waits for it too;
#   - a REPLACE with a read in the cipher: the read completes, plaintext;
#   - revoke --all kills every key before it waits.
# Then, on the normal cipher: pages a process has mapped are taken away, a
# locked volume takes no discard, writes stalled below with memory short do
# not hold a revoke up, and revoke --all of 8 volumes under fio.
cd "$(dirname "$0")/../.."
. tests/lib/ktap.sh
. tests/lib/dm.sh

HOLD=30000
SLOW=/sys/module/cmek_slow_xts/parameters
MARK=CMEK-PLAINTEXT-MARKER

# timed VAR CMD...: run CMD, store its wall time in ms in VAR, return its status.
timed() {
	local var=$1 t0 rc
	shift
	t0=$(now_ms)
	"$@" > /dev/null 2>&1
	rc=$?
	printf -v "$var" '%s' $(( $(now_ms) - t0 ))
	return $rc
}

inflight() { cat $SLOW/inflight; }
release() { echo 1 > $SLOW/release; }
inflight_is() { [ "$(inflight)" = "$1" ]; }
# in_revoke PID: the process waits inside the kernel's revoke
in_revoke() { grep -q cmek_key_revoke /proc/$1/stack 2> /dev/null; }

key_state() {
	cmekctl key get "$1" --json 2>/dev/null | grep -o '"state": *"[a-z]*"' |
		grep -o '[a-z]*"$' | tr -d '"'
}
state_is() { [ "$(key_state "$1")" = "$2" ]; }

# slow_read DEV OUT: an O_DIRECT read of the first sector in the background,
# its result line in OUT; returns once its decryption is in the cipher.
slow_read() {
	local before
	before=$(inflight)
	build/helpers/odirect_read "$1" 512 $MARK > "$2" 2>&1 &
	wait_until 10 eval '[ "$(inflight)" -gt '"$before"' ]'
}

ktap_plan 29
setup_ram 16
sz=$(( 8 * 2048 ))
UA=$(new_uuid) UB=$(new_uuid)
keyA=$(new_key 64) keyB=$(new_key 64)

# The crypto manager self-tests a new algorithm at registration: no delay
# yet. On 6.12 insmod returns before the test has run: until it has, the
# algorithm's test larval (same driver name, module "kernel") is listed
# too and the algorithm's own entry says "unknown". A lookup of xts(aes)
# waits for the test, so the first key set makes the result final.
insmod tests/kmod/cmek_slow_xts.ko delay_ms=0
set_key "$UA" "$keyA"
ktap_check "the slow xts(aes) is registered and passed its self-test" \
	awk '/^driver/ { d = $3 } /^module/ { m = $3 } /^selftest/ &&
	     d == "xts-aes-cmek-test-slow" && m == "cmek_slow_xts" \
	     { ok = $3 == "passed" } END { exit !ok }' /proc/crypto
set_key "$UB" "$keyB"
cmek_create ca "$UA" /dev/ram0 0 $sz
cmek_create cb "$UB" /dev/ram1 0 $sz
devA=$(dmdev ca) devB=$(dmdev cb)
yes $MARK | head -c 4096 > /tmp/plain
dd if=/tmp/plain of=$devA bs=4k count=1 oflag=direct status=none
dd if=/tmp/plain of=$devB bs=4k count=1 oflag=direct status=none
ktap_check "data round-trips through the slow cipher" \
	bash -c "dd if=$devA bs=512 count=1 iflag=direct status=none | grep -q $MARK"

# --- a revoke with a read in the cipher, and what goes on meanwhile --------
# The read is held until released: each request below either answers while
# it is held or waits HOLD ms for it, and then the read has left.
echo $HOLD > $SLOW/delay_ms
rm -f /tmp/rv.rc
slow_read $devA /tmp/race
ktap_check "a read's decryption is in the slow cipher" inflight_is 1
rv0=$(now_ms)
( cmekctl key revoke "$UA" > /dev/null; echo $? > /tmp/rv.rc; now_ms > /tmp/rv.end ) &
rv=$!
# The revoke has begun (state revoked) and the read is still in the cipher.
wait_until 10 state_is "$UA" revoked
timed t_genl genl ctrl list; rc_genl=$?
timed t_list cmekctl key list; rc_list=$?
timed t_rvb cmekctl key revoke "$UB"; rc_rvb=$?
timed t_setb set_key "$UB" "$keyB"; rc_setb=$?
during=$(inflight)
waiting=no
[ -e /tmp/rv.rc ] || waiting=yes
rel=$(now_ms)
release
wait $rv
wait
t_rv=$(( $(cat /tmp/rv.end) - rv0 ))
t_rel=$(( $(cat /tmp/rv.end) - rel ))
ktap_diag "revoke ${t_rv} ms, ${t_rel} ms after the release; during its drain:" \
	"genl ${t_genl} ms, key list ${t_list} ms, revoke B ${t_rvb} ms," \
	"set B ${t_setb} ms; read: $(cat /tmp/race)"
ktap_check "the revoke waited for the read, and succeeded once it left the cipher" \
	test $waiting = yes -a "$(cat /tmp/rv.rc)" -eq 0 -a "$(inflight)" = 0
ktap_check "the read was still in the cipher after the four requests below" \
	test "$during" = 1
ktap_check "genl ctrl list answered during the drain (${t_genl} ms)" \
	test $rc_genl -eq 0
ktap_check "the key table dump answered during the drain (${t_list} ms)" \
	test $rc_list -eq 0
ktap_check "another volume's revoke did not wait for it (${t_rvb} ms)" \
	test $rc_rvb -eq 0
ktap_check "nor did another volume's key set (${t_setb} ms)" \
	test $rc_setb -eq 0
ktap_check "the read in the cipher failed, what it decrypted zeroed ($(cat /tmp/race))" \
	grep -q 'rc=-5 content=zero' /tmp/race
ktap_check "the key is revoked" state_is "$UA" revoked
ktap_check "the kernel logged the revoke: uuid, mappings, time" \
	bash -c "dmesg | grep -q 'volume $UA: key revoked and wiped, 1 mapping(s), in [0-9]* us'"

# --- a second revoke, and a key set, during a drain -----------------------
# The second revoke must not return while the read is held: once it waits
# in the kernel (its stack shows cmek_key_revoke), it must still be there,
# then the read is released.
set_key "$UA" "$keyA"
rm -f /tmp/rv2.rc
slow_read $devA /tmp/race2
ok_inflight=$?
cmekctl key revoke "$UA" > /dev/null &
rv=$!
wait_until 10 state_is "$UA" revoked
cmekctl key revoke "$UA" > /dev/null &
rv2=$!
# Let go of the read only once the second revoke waits in the kernel: an
# exec in the emulated guest can take a second under load.
wait_until 20 in_revoke $rv2
in_kernel=$?
held=$(inflight)
early=no
kill -0 $rv2 2> /dev/null || early=yes
release
wait $rv2
echo $? > /tmp/rv2.rc
wait $rv
rc_rv=$?
timed t_set set_key "$UA" "$keyA"; rc_set=$?
wait
ktap_check "a second revoke during the drain waited for it and succeeded" \
	test $ok_inflight -eq 0 -a $in_kernel -eq 0 -a "$held" = 1 -a \
	$early = no -a "$(cat /tmp/rv2.rc)" -eq 0
ktap_check "a key set after it took; the first revoke succeeded (${t_set} ms)" \
	test $rc_rv -eq 0 -a $rc_set -eq 0 -a "$(key_state "$UA")" = present

# --- a REPLACE with a read in the cipher: the read completes ---------------
slow_read $devA /tmp/repl
ok_inflight=$?
( sleep 1; release ) &
timed t_repl set_key "$UA" "$keyA" --replace; rc_repl=$?
wait
ktap_check "a REPLACE waits for the old key's reads, which complete with the data ($(cat /tmp/repl))" \
	test $ok_inflight -eq 0 -a $rc_repl -eq 0 -a \
	"$(cat /tmp/repl)" = "rc=512 content=string" -a "$(key_state "$UA")" = present

# --- revoke --all kills every key before it waits --------------------------
# Both reads are held: a revoke that drained A before it killed B would
# leave B's key present until A's read is released.
set_key "$UB" "$keyB" --replace
rm -f /tmp/all.rc
slow_read $devA /tmp/allA
ok_a=$?
slow_read $devB /tmp/allB
ok_b=$?
( cmekctl key revoke --all > /dev/null; echo $? > /tmp/all.rc ) &
rv=$!
wait_until 10 bash -c "[ \"\$(cmekctl key list 2> /dev/null | grep -c revoked)\" -ge 2 ]"
killed=$(cmekctl key list 2> /dev/null | grep -c revoked)
held=$(inflight)
release
wait $rv
wait
ktap_check "revoke --all: both keys revoked while both reads were held ($killed revoked, $held held)" \
	test $ok_a -eq 0 -a $ok_b -eq 0 -a "$killed" -ge 2 -a "$held" = 2
ktap_check "both reads failed with nothing decrypted ($(cat /tmp/allA); $(cat /tmp/allB))" \
	test "$(cat /tmp/all.rc)" -eq 0 -a \
	"$(cat /tmp/allA)" = "rc=-5 content=zero" -a "$(cat /tmp/allB)" = "rc=-5 content=zero"
echo 0 > $SLOW/delay_ms
dmsetup --noudevsync remove ca
dmsetup --noudevsync remove cb
ktap_check "the slow cipher unloads: no request and no key left in it" \
	rmmod cmek_slow_xts

# --- back on the normal cipher: a process that mapped the plaintext loses it
set_key "$UA" "$keyA"
cmek_create ca "$UA" /dev/ram0 0 $sz
devA=$(dmdev ca)
rm -f /tmp/go
mkfifo /tmp/go
build/helpers/mmap_probe $devA $MARK < /tmp/go > /tmp/probe.out 2>&1 &
probe=$!
exec 3> /tmp/go
wait_until 20 grep -q ready /tmp/probe.out
cmekctl key revoke "$UA" > /dev/null
echo go >&3
exec 3>&-
wait $probe
rc=$?
ktap_check "a page mapped before the revoke is gone after it ($(tail -n1 /tmp/probe.out))" \
	test $rc -eq 3

# --- a locked volume takes no discard: no one destroys data without the key
# (-f: blkdiscard's own probe would read the device, and fail, first.)
modprobe loop
truncate -s 8M /tmp/disc.img
loop=$(losetup -f --show /tmp/disc.img)
set_key "$UA" "$keyA"
cmek_create cd "$UA" $loop 0 $sz allow_discards
dd if=/dev/urandom of=$(dmdev cd) bs=1M count=8 oflag=direct status=none
ktap_check "an unlocked volume takes a discard" \
	blkdiscard -f -o 0 -l 1M $(dmdev cd)
sync
before=$(sha256sum < /tmp/disc.img)
cmekctl key revoke "$UA" > /dev/null
ktap_check "a locked volume refuses a discard" \
	bash -c "test -b $(dmdev cd) && ! blkdiscard -f -o 1M -l 4M $(dmdev cd) 2> /dev/null"
sync
ktap_check "and the data below is untouched" test "$(sha256sum < /tmp/disc.img)" = "$before"
dmsetup --noudevsync remove cd
losetup -d $loop

# --- a stalled device below, under memory pressure --------------------------
# Writes queue at a suspended dm-linear while a tmpfs holds all but 96 MiB
# of the memory available: bounce pages may have to wait for memory that
# the stalled writes hold. The revoke must not wait for any of it.
set_key "$UA" "$keyA"
dmsetup --noudevsync create low --table "0 $sz linear /dev/ram1 0"
cmek_create cs "$UA" $(dmdev low) 0 $sz
dmsetup --noudevsync suspend --noflush low
mkdir -p /tmp/fill
mount -t tmpfs -o size=100% cmek-fill /tmp/fill
avail=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
fallocate -l $(( (avail - 96 * 1024) * 1024 )) /tmp/fill/hog
left=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
pids=()
for i in 1 2 3 4; do
	dd if=/dev/zero of=$(dmdev cs) bs=64k count=32 seek=$(( (i - 1) * 32 )) \
		oflag=direct status=none 2> /dev/null &
	pids+=($!)
done
sleep 1
stalled=no
kill -0 "${pids[@]}" 2> /dev/null && stalled=yes
timed t_rv timeout 60 cmekctl key revoke "$UA"; rc=$?
timed t_genl timeout 60 genl ctrl list; rc_genl=$?
timed t_list timeout 60 cmekctl key list; rc_list=$?
still=no
kill -0 "${pids[@]}" 2> /dev/null && still=yes
ktap_diag "stalled writes, ${left} MiB available: revoke ${t_rv} ms," \
	"genl ${t_genl} ms, key list ${t_list} ms"
ktap_check "a revoke with writes stalled below and memory short returns while they are stalled" \
	test $stalled = yes -a $rc -eq 0 -a $still = yes -a \
	"$(key_state "$UA")" = revoked
ktap_check "genl ctrl list and the key table dump answer meanwhile" \
	test $rc_genl -eq 0 -a $rc_list -eq 0 -a $still = yes
rm -f /tmp/fill/hog
umount /tmp/fill
dmsetup --noudevsync resume low
wait_until 60 bash -c "! kill -0 ${pids[*]} 2> /dev/null"
ktap_check "the stalled writes finish when the device comes back" \
	bash -c "! kill -0 ${pids[*]} 2> /dev/null"
wait "${pids[@]}"
ktap_check "and the mappings go: nothing holds them" \
	bash -c "dmsetup --noudevsync remove cs && dmsetup --noudevsync remove low"

# --- revoke --all of 8 volumes under fio ------------------------------------
dmsetup --noudevsync remove ca
pids=()
for i in $(seq 0 7); do
	u=$(new_uuid)
	set_key "$u" "$(new_key 64)"
	cmek_create v$i "$u" /dev/ram0 $(( i * 2048 )) 2048
	fio --name=v$i --filename=$(dmdev v$i) --direct=1 --ioengine=libaio \
		--rw=randrw --bs=4k --iodepth=4 --time_based --runtime=600 \
		--continue_on_error=all > /dev/null 2>&1 &
	pids+=($!)
done
sleep 3
n0=$(dmesg | grep -c 'key revoked and wiped')
timed t_all cmekctl key revoke --all
rc=$?
present=$(cmekctl key list 2> /dev/null | grep -c present)
ktap_diag "revoke --all of 8 volumes under fio: ${t_all} ms"
ktap_check "revoke --all of 8 volumes under fio (${t_all} ms): none left present" \
	test $rc -eq 0 -a "$present" -eq 0
n=$(( $(dmesg | grep -c 'key revoked and wiped') - n0 ))
kill "${pids[@]}"
wait "${pids[@]}"
ktap_check "fio finished: no I/O was left hanging" \
	bash -c "! kill -0 ${pids[*]} 2> /dev/null"
for i in $(seq 0 7); do dmsetup --noudevsync remove v$i; done
ktap_check "one kernel log line per volume revoked ($n)" test "$n" -eq 8
ktap_finish
