#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the guest's initramfs: a static busybox and just the modules needed
# to mount the host's root over virtio-9p. Everything else (dmsetup, fio,
# cryptsetup, the project's own builds, the rest of the Debian modules) is
# used from the host root the guest switches into.
#
#	mkinitramfs.sh KERNELRELEASE OUTPUT [ROOT]
#
# ROOT is where the kernel's /lib/modules is, if not / (a kernel unpacked
# under build/ by tests/vm/kimage.sh). Compressed modules (.ko.xz, as 6.12
# ships them) are unpacked: busybox's insmod takes plain ELF only.
set -euo pipefail

krel=$1
out=$2
modroot=${3:-/}
here=$(cd "$(dirname "$0")" && pwd)
mods="virtio_pci 9pnet_virtio 9p"
# Loaded only for a boot of systemd (tests/vm/run --systemd): the
# writable overlay over the read-only host root.
sdmods="overlay"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work"/{bin,dev,proc,sys,mnt,lib/modules}
cp /bin/busybox "$work/bin/busybox"
cp "$here/initramfs-init" "$work/init"
chmod 755 "$work/init"

# modlist LIST MODULE...: resolve dependencies on the host, in load
# order, once; copy the modules in and list them in LIST.
modlist() {
	local list=$1

	shift
	: > "$work/$list"
	for m in "$@"; do
		modprobe -d "$modroot" -S "$krel" --show-depends "$m" |
			awk '$1 == "insmod" { print $2 }'
	done | awk '!seen[$0]++' | while read -r ko; do
		name=$(basename "$ko")
		case $name in
		*.ko.xz) name=${name%.xz}; xz -dc "$ko" > "$work/lib/modules/$name" ;;
		*.ko.zst) name=${name%.zst}; zstd -q -dc "$ko" > "$work/lib/modules/$name" ;;
		*) cp "$ko" "$work/lib/modules/" ;;
		esac
		echo "$name" >> "$work/$list"
	done
}
# shellcheck disable=SC2086 # lists of names
modlist modules.list $mods
# shellcheck disable=SC2086
modlist modules-systemd.list $sdmods

(cd "$work" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 > "$out.tmp.$$"
mv "$out.tmp.$$" "$out"
