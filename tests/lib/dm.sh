# SPDX-License-Identifier: GPL-2.0
# Helpers for the dm-cmek shell tests (source after ktap.sh). Guest only.

export PATH=$PWD/build:$PATH

# setup_ram MiB: a fresh /dev/ram0 of that size.
setup_ram() {
	dmsetup --noudevsync remove_all > /dev/null 2>&1
	rmmod brd 2> /dev/null
	modprobe brd rd_nr=2 rd_size=$(( $1 * 1024 )) max_part=0
}

new_uuid() {
	cat /proc/sys/kernel/random/uuid
}

# new_key BYTES: random key as hex
new_key() {
	head -c "$1" /dev/urandom | od -An -tx1 -v | tr -d ' \n'
}

# set_key UUID HEXKEY [extra cmekctl args]
set_key() {
	local uuid=$1 key=$2
	shift 2
	printf '%s' "$key" | cmekctl key set "$uuid" --hex "$@" > /dev/null
}

dmdev() {
	echo "/dev/dm-$(dmsetup info -c --noheadings -o minor "$1")"
}

# cmek_create NAME UUID DEV OFFSET LEN [OPTS...]
cmek_create() {
	local name=$1 uuid=$2 dev=$3 off=$4 len=$5
	shift 5
	local table="0 $len cmek $uuid $dev $off"
	[ $# -gt 0 ] && table+=" $# $*"
	dmsetup --noudevsync create "$name" --table "$table"
}

# crypt_create NAME HEXKEY DEV OFFSET LEN IV_OFFSET [OPTS...]
crypt_create() {
	local name=$1 key=$2 dev=$3 off=$4 len=$5 ivoff=$6
	shift 6
	local table="0 $len crypt aes-xts-plain64 $key $ivoff $dev $off"
	[ $# -gt 0 ] && table+=" $# $*"
	dmsetup --noudevsync create "$name" --table "$table"
}
