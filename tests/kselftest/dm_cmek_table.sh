#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The cmek table: every malformed argument has its own error, the table
# round-trips, status tells the key state, discards and write-zeroes are
# handled as dm-crypt does, 4K mappings refuse misaligned I/O, suspend,
# resume and reload work, and the module cannot go while mapped.
cd "$(dirname "$0")/../.."
. tests/lib/ktap.sh
. tests/lib/dm.sh

ktap_plan 43
setup_ram 8
raw=/dev/ram0
sz=$(blockdev --getsz $raw)
U=$(new_uuid)

# bad_table DESC EXPECTED-ERROR TABLE-ARGS...
bad_table() {
	local desc=$1 want=$2
	shift 2
	dmesg -C
	if dmsetup --noudevsync create bad --table "$*" > /dev/null 2>&1; then
		dmsetup --noudevsync remove bad
		ktap_fail "$desc: table accepted"
		return
	fi
	dmsetup --noudevsync remove bad > /dev/null 2>&1
	if dmesg | grep -q "cmek: $want"; then
		ktap_ok "$desc: \"$want\""
	else
		ktap_fail "$desc" "dmesg: $(dmesg | grep -m1 device-mapper)"
	fi
}

bad_table "too few arguments" "Not enough arguments" "0 $sz cmek $U $raw"
bad_table "malformed uuid" "Invalid volume UUID" "0 $sz cmek 1234-not-a-uuid $raw 0"
bad_table "uuid with trailing junk" "Invalid volume UUID" "0 $sz cmek ${U}0 $raw 0"
bad_table "non-numeric offset" "Invalid device offset" "0 $sz cmek $U $raw 12x"
bad_table "missing device" "Device lookup failed" "0 $sz cmek $U /dev/nonexistent 0"
bad_table "option count above the options" "Invalid number of options" "0 $sz cmek $U $raw 0 2 allow_discards"
bad_table "too many options" "Invalid number of options" "0 $sz cmek $U $raw 0 9 a b c d e f g h i"
bad_table "unknown option" "Unknown option" "0 $sz cmek $U $raw 0 1 no_such_option"
bad_table "duplicate option" "Duplicate option" "0 $sz cmek $U $raw 0 2 allow_discards allow_discards"
bad_table "sector_size 1000" "Invalid sector_size" "0 $sz cmek $U $raw 0 1 sector_size:1000"
bad_table "sector_size 8192" "Invalid sector_size" "0 $sz cmek $U $raw 0 1 sector_size:8192"
bad_table "sector_size junk" "Invalid sector_size" "0 $sz cmek $U $raw 0 1 sector_size:4k"
bad_table "iv_offset junk" "Invalid iv_offset" "0 $sz cmek $U $raw 0 1 iv_offset:-1x"
bad_table "key_wait_ms above the limit" "Invalid key_wait_ms" "0 $sz cmek $U $raw 0 1 key_wait_ms:600001"
# Numbers that overflow their type are refused, not wrapped into range.
bad_table "key_wait_ms of 2^32 + 1" "Invalid key_wait_ms" "0 $sz cmek $U $raw 0 1 key_wait_ms:4294967297"
bad_table "sector_size of 2^32 + 512" "Invalid sector_size" "0 $sz cmek $U $raw 0 1 sector_size:4294967808"
bad_table "iv_offset of 2^64 + 1" "Invalid iv_offset" "0 $sz cmek $U $raw 0 1 iv_offset:18446744073709551617"
bad_table "device offset of 2^64" "Invalid device offset" "0 $sz cmek $U $raw 18446744073709551616"
bad_table "length not a multiple of sector_size" "Device size is not a multiple" "0 7 cmek $U $raw 0 1 sector_size:4096"
bad_table "iv_offset not a multiple of sector_size" "iv_offset is not a multiple" "0 8 cmek $U $raw 0 2 sector_size:4096 iv_offset:3"
bad_table "argument after the options" "Too many arguments" "0 $sz cmek $U $raw 0 1 allow_discards extra"

# Round trip: what dmsetup table prints loads again and prints the same.
mm=$(stat -L -c '%t:%T' $raw | { IFS=: read a b; echo $((16#$a)):$((16#$b)); })
table="0 $((sz - 8)) cmek $U $mm 8 4 sector_size:4096 iv_large_sectors iv_offset:16 key_wait_ms:250"
dmsetup --noudevsync create c1 --table "$table"
ktap_check "table round-trips exactly" test "$(dmsetup table c1)" = "$table"
ktap_check "status before any key: missing" test "$(dmsetup status c1 | cut -d' ' -f4-)" = "missing 0 0 0 0"
ktap_check "a 4096-byte sector mapping has 4096-byte logical blocks" test "$(blockdev --getss $(dmdev c1))" = 4096

key=$(new_key 64)
set_key "$U" "$key" --generation 41
head -c 1M /dev/urandom > /tmp/d
dd if=/tmp/d of=$(dmdev c1) bs=64k oflag=direct status=none
ktap_check "status with a key: present, generation 41, write counted" \
	test "$(dmsetup status c1 | cut -d' ' -f4-6)" = "present 41 0" -a "$(dmsetup status c1 | cut -d' ' -f8)" = 0
ktap_check "a 512-byte direct write on a 4K mapping is refused" \
	bash -c "! dd if=/dev/zero of=$(dmdev c1) bs=512 count=1 seek=1 oflag=direct status=none 2>/dev/null"
dd if=$(dmdev c1) of=/tmp/b bs=64k count=16 iflag=direct status=none
ktap_check "and the data is untouched" cmp -s /tmp/d /tmp/b

# Suspend, resume and reload keep the data and the key.
dmsetup --noudevsync suspend c1 && dmsetup --noudevsync resume c1
dd if=$(dmdev c1) of=/tmp/b bs=64k count=16 iflag=direct status=none
ktap_check "suspend + resume: data intact" cmp -s /tmp/d /tmp/b
dmsetup --noudevsync reload c1 --table "0 $((sz - 8)) cmek $U $raw 8 2 sector_size:4096 iv_large_sectors" &&
	dmsetup --noudevsync resume c1
ktap_check "reload with another table takes effect" \
	test "$(dmsetup table c1)" = "0 $((sz - 8)) cmek $U $mm 8 2 sector_size:4096 iv_large_sectors"
dd if=$(dmdev c1) of=/tmp/b bs=64k count=16 iflag=direct status=none
ktap_check "reload: wrong iv_offset now, so the data reads differently" bash -c "! cmp -s /tmp/d /tmp/b"

# Two mappings share one key entry.
dmsetup --noudevsync create c2 --table "0 8 cmek $U /dev/ram1 0"
ktap_check "a second mapping of the same uuid shares the key (users 2)" \
	bash -c "cmekctl key get $U --json | grep -q '\"users\": *2'"
ktap_check "module unload is refused while mapped" bash -c "! rmmod dm_cmek 2>/dev/null"
dmsetup --noudevsync remove c2

# Key hygiene: the key is nowhere to be seen, before or after a revoke.
leak() {
	{ dmsetup table --showkeys; dmsetup status; dmesg; cmekctl key list --json
	  cmekctl key get "$U" --json; } 2>&1 | grep -qi "${key:0:32}\|${key:32:32}"
}
ktap_check "key bytes are in no table, status, dmesg or dump while present" bash -c "! $(declare -f leak); key=$key U=$U; ! leak" 
cmekctl key revoke "$U" > /dev/null
ktap_check "revoked: status says revoked" test "$(dmsetup status c1 | cut -d' ' -f4)" = revoked
ktap_check "key bytes are in no table, status, dmesg or dump after revoke" bash -c "$(declare -f leak); key=$key U=$U; ! leak"
ktap_check "I/O after revoke fails" bash -c "! dd if=$(dmdev c1) of=/dev/null bs=4k count=1 iflag=direct status=none 2>/dev/null"
dmsetup --noudevsync remove c1

# Discards only with allow_discards; write-zeroes never reach the device.
modprobe loop
head -c 8M /dev/zero > /tmp/loopfile
loop=$(losetup -f --show /tmp/loopfile)
lsz=$(blockdev --getsz $loop)
set_key "$U" "$key" --replace
dmsetup --noudevsync create c3 --table "0 $lsz cmek $U $loop 0"
n=$(dmsetup info -c --noheadings -o minor c3)
ktap_check "without allow_discards the mapping offers no discard" \
	test "$(cat /sys/block/dm-$n/queue/discard_max_bytes)" = 0
ktap_check "write-zeroes is not offloaded" test "$(cat /sys/block/dm-$n/queue/write_zeroes_max_bytes)" = 0
blkdiscard -z -o 0 -l 65536 $(dmdev c3) 2>/dev/null
dd if=$loop of=/tmp/b bs=64k count=1 iflag=direct status=none
dd if=$(dmdev c3) of=/tmp/z bs=64k count=1 iflag=direct status=none
ktap_check "zeroing writes encrypted zeroes: zero through cmek, not on disk" \
	bash -c "cmp -s /tmp/z <(head -c 65536 /dev/zero) && ! cmp -s /tmp/b <(head -c 65536 /dev/zero)"
dmsetup --noudevsync remove c3
dmsetup --noudevsync create c3 --table "0 $lsz cmek $U $loop 0 1 allow_discards"
n=$(dmsetup info -c --noheadings -o minor c3)
ktap_check "with allow_discards the discard limit passes through" \
	test "$(cat /sys/block/dm-$n/queue/discard_max_bytes)" -gt 0
ktap_check "and blkdiscard succeeds" blkdiscard -o 0 -l 65536 $(dmdev c3)
dmsetup --noudevsync remove c3
losetup -d $loop

ktap_check "with no mapping left, the module unloads" rmmod dm_cmek
ktap_check "and loads again" insmod ./dm-cmek.ko
ktap_finish
