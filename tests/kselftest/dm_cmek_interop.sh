#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# dm-cmek must be byte-identical on disk to dm-crypt's aes-xts-plain64: data
# written through cmek reads back through dm-crypt with the same key and
# options and the other way round, for every sector size, with and without
# iv_large_sectors, with non-zero offset and iv_offset. Plus the IEEE 1619
# XTS-AES vectors end to end and an fio verify run.
cd "$(dirname "$0")/../.."
. tests/lib/ktap.sh
. tests/lib/dm.sh

cases=(
	# sector_size iv_large offset iv_offset keybytes
	"512 0 0 0 64"
	"512 0 2048 0 32"
	"512 0 8 1000 64"
	"1024 0 16 0 64"
	"1024 1 16 64 64"
	"2048 0 0 0 64"
	"2048 1 2048 8 32"
	"4096 0 8 0 64"
	"4096 1 0 0 64"
	"4096 1 2048 4096 64"
)
ktap_plan $(( ${#cases[@]} * 2 + 2 + 1 ))

setup_ram 16
raw=/dev/ram0
rawsz=$(blockdev --getsz $raw)

for c in "${cases[@]}"; do
	set -- $c
	ss=$1 large=$2 off=$3 ivoff=$4 kb=$5
	# 4 MiB per case: a thousand 4 KiB sectors or more, each with its own
	# tweak, say as much about the format as the whole disk would.
	len=$(( (rawsz - off) / (ss / 512) * (ss / 512) ))
	[ $len -gt 8192 ] && len=8192
	opts=("sector_size:$ss")
	[ "$large" = 1 ] && opts+=(iv_large_sectors)
	[ "$ivoff" != 0 ] && copts=("${opts[@]}" "iv_offset:$ivoff") || copts=("${opts[@]}")
	desc="ss=$ss large=$large offset=$off iv_offset=$ivoff key=$((kb * 8))b"
	key=$(new_key $kb)
	uuid=$(new_uuid)

	# cmek writes, dm-crypt reads.
	head -c $((len * 512)) /dev/urandom > /tmp/data
	cmek_create c1 "$uuid" $raw $off $len "${copts[@]}" &&
	set_key "$uuid" "$key" &&
	dd if=/tmp/data of=$(dmdev c1) bs=64k oflag=direct status=none &&
	dmsetup --noudevsync remove c1
	crypt_create k1 "$key" $raw $off $len $ivoff "${opts[@]}" &&
	dd if=$(dmdev k1) of=/tmp/back bs=64k iflag=direct status=none
	dmsetup --noudevsync remove k1
	ktap_check "cmek -> dm-crypt: $desc" cmp -s /tmp/data /tmp/back

	# dm-crypt writes, cmek reads.
	head -c $((len * 512)) /dev/urandom > /tmp/data
	crypt_create k1 "$key" $raw $off $len $ivoff "${opts[@]}" &&
	dd if=/tmp/data of=$(dmdev k1) bs=64k oflag=direct status=none
	dmsetup --noudevsync remove k1
	cmek_create c1 "$uuid" $raw $off $len "${copts[@]}" &&
	dd if=$(dmdev c1) of=/tmp/back bs=64k iflag=direct status=none
	dmsetup --noudevsync remove c1
	ktap_check "dm-crypt -> cmek: $desc" cmp -s /tmp/data /tmp/back
	cmekctl key revoke "$uuid" > /dev/null
done

# IEEE 1619 vectors: plaintext through the target, ciphertext on the device.
for v in tests/kselftest/data/ieee1619-vec4.txt tests/kselftest/data/ieee1619-vec10.txt; do
	sector=$(awk '$1 == "sector" { print $2 }' $v)
	key=$(awk '$1 == "key" { print $2 }' $v)
	awk '$1 == "plaintext" { print $2 }' $v | xxd -r -p > /tmp/pt
	awk '$1 == "ciphertext" { print $2 }' $v | xxd -r -p > /tmp/ct
	uuid=$(new_uuid)
	cmek_create c1 "$uuid" $raw 0 $rawsz &&
	set_key "$uuid" "$key" &&
	dd if=/tmp/pt of=$(dmdev c1) bs=512 seek=$sector oflag=direct status=none
	dmsetup --noudevsync remove c1
	dd if=$raw of=/tmp/got bs=512 skip=$sector count=1 iflag=direct status=none
	ktap_check "$(basename $v .txt): $(( ${#key} * 4 ))-bit key, sector $sector matches IEEE 1619" \
		cmp -s /tmp/ct /tmp/got
	cmekctl key revoke "$uuid" > /dev/null
done

# fio verify with a mixed random workload: zero mismatches.
uuid=$(new_uuid)
key=$(new_key 64)
cmek_create c1 "$uuid" $raw 0 $rawsz sector_size:4096 && set_key "$uuid" "$key"
fio --name=verify --filename=$(dmdev c1) --direct=1 --ioengine=libaio \
	--rw=randrw --bsrange=4k-64k --iodepth=16 --size=12M --verify=crc32c \
	--verify_fatal=1 --do_verify=1 --output=/tmp/fio.log > /dev/null 2>&1
rc=$?
ktap_check "fio randrw verify=crc32c over cmek: no mismatch (fio rc $rc)" \
	test $rc -eq 0 -a -z "$(grep -i 'verify.*bad\|crc32c.*mismatch' /tmp/fio.log)"
dmsetup --noudevsync remove c1

ktap_finish
