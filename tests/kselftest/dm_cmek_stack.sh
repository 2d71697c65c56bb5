#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# dm-cmek over misbehaving devices: errors from below surface as I/O
# errors and never as silently wrong data.
#
#   dm-flakey (up 1 s, down 1 s, every I/O fails while down): 4 KiB direct
#   writes of numbered blocks, some of which fail. Every block must then
#   read back as exactly what its last successful write put there: a
#   failed write leaves the old contents, a successful one the new.
#   dm-flakey error_writes: writes fail, reads still return the data.
#   dm-delay (10 ms): fio verify=crc32c at queue depth 16, no mismatch.
cd "$(dirname "$0")/../.."
. tests/lib/ktap.sh
. tests/lib/dm.sh

ktap_plan 8
setup_ram 16
raw=/dev/ram0
sz=$(blockdev --getsz $raw)
U=$(new_uuid)
set_key "$U" "$(new_key 64)"
N=96

# Block I of generation GEN is 4 KiB of "cmek block I generation GEN";
# each generation is built once into a file, and every block goes out with
# one dd: forks cost tens of milliseconds in the emulated guest.
T=$(mktemp -d /tmp/dm_cmek_stack.XXXXXX)
trap 'rm -rf "$T"' EXIT
for g in 0 1; do
	for i in $(seq 0 $((N - 1))); do
		printf "%-4095s\n" "cmek block $i generation $g"
	done > "$T/gen$g"
done
put() {	# put I GEN
	dd if="$T/gen$2" of=$dev bs=4096 skip=$1 seek=$1 count=1 \
		oflag=direct status=none 2>/dev/null
}

stat_errors() {
	dmsetup status "$1" | awk '{ print $8 }'
}

dmsetup --noudevsync create fl --table "0 $sz flakey $raw 0 1 1"
cmek_create c "$U" $(dmdev fl) 0 $sz
dev=$(dmdev c)

# Generation 0 everywhere, while flakey is up: retry until it takes.
for i in $(seq 0 $((N - 1))); do
	until put $i 0; do
		sleep 0.2
	done
done
# Generation 1: one attempt per block; remember which ones failed, and
# build what the device must then hold.
ok=0 bad=0
declare -A gen
cp "$T/gen0" "$T/expect"
for i in $(seq 0 $((N - 1))); do
	if put $i 1; then
		gen[$i]=1; ok=$((ok + 1))
		dd if="$T/gen1" of="$T/expect" bs=4096 skip=$i seek=$i count=1 \
			conv=notrunc status=none
	else
		gen[$i]=0; bad=$((bad + 1))
	fi
done
ktap_diag "generation 1: $ok writes succeeded, $bad failed"
ktap_check "flakey: some writes failed with an I/O error ($bad)" test $bad -gt 0
ktap_check "flakey: some writes succeeded ($ok)" test $ok -gt 0
ktap_check "cmek counted the errors (status errors $(stat_errors c))" \
	test "$(stat_errors c)" -gt 0

# Bring flakey up for good and read every block back.
dmsetup --noudevsync suspend c
dmsetup --noudevsync reload fl --table "0 $sz linear $raw 0"
dmsetup --noudevsync resume fl
dmsetup --noudevsync resume c
dd if=$dev of="$T/back" bs=4096 count=$N iflag=direct status=none
# Blocks with at least one differing byte (cmp -l: byte offsets, 1-based).
wrong=$(cmp -l "$T/back" "$T/expect" | awk '{ print int(($1 - 1) / 4096) }' | sort -u | wc -l)
ktap_check "every block holds its last successful write ($wrong wrong of $N)" \
	test "$wrong" = 0 -a "$(stat -c %s "$T/back")" = $((N * 4096))

# error_writes: writes fail, reads keep returning the data.
dmsetup --noudevsync suspend c
dmsetup --noudevsync reload fl --table "0 $sz flakey $raw 0 0 3600 1 error_writes"
dmsetup --noudevsync resume fl
dmsetup --noudevsync resume c
ktap_check "error_writes: a write fails" \
	sh -c "! dd if=$T/gen0 of=$dev bs=4096 count=1 seek=7 oflag=direct status=none 2>/dev/null"
ktap_check "error_writes: the block still reads its old data" \
	bash -c "cmp -s <(dd if=$dev bs=4096 skip=7 count=1 iflag=direct status=none) <(dd if=$T/gen${gen[7]} bs=4096 skip=7 count=1 status=none)"
dmsetup --noudevsync remove c
dmsetup --noudevsync remove fl

# dm-delay: slow completions, concurrent I/O, verified data.
dmsetup --noudevsync create dl --table "0 $sz delay $raw 0 10"
cmek_create c "$U" $(dmdev dl) 0 $sz
fio --name=delay --filename=$(dmdev c) --direct=1 --ioengine=libaio \
	--rw=randrw --bs=4k --iodepth=16 --size=8M --verify=crc32c \
	--verify_fatal=1 --do_verify=1 --output=/tmp/fio-delay.log > /dev/null 2>&1
rc=$?
ktap_check "delay: fio randrw verify=crc32c at QD16, no mismatch (rc $rc)" test $rc = 0
ktap_check "delay: no errors counted" test "$(stat_errors c)" = 0
dmsetup --noudevsync remove c
dmsetup --noudevsync remove dl
ktap_finish
