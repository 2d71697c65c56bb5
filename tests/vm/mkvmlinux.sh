#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Unpack a bzImage into the ELF vmlinux inside it, for QEMU to boot through
# the kernel's PVH entry point: the same kernel, without the five seconds
# that decompressing it takes under TCG on every boot. Fails (and the rig
# boots the bzImage) unless the result is an ELF with a PVH entry note.
#
#	mkvmlinux.sh BZIMAGE OUTPUT
set -uo pipefail

in=$1
out=$2
tmp=$out.tmp.$$
trap 'rm -f "$tmp"' EXIT

# try MAGIC DECOMPRESSOR...: unpack the stream found at MAGIC's first
# offset; trailing bytes after the stream make the tools complain, so the
# ELF header is what decides.
try() {
	local magic=$1 off
	shift
	off=$(LC_ALL=C grep -a -b -o -m1 -P "$magic" "$in" | head -n1 | cut -d: -f1)
	[ -n "$off" ] || return 1
	tail -c +$((off + 1)) "$in" | "$@" > "$tmp" 2>/dev/null
	[ "$(head -c 4 "$tmp" | od -A n -t x1 | tr -d ' ')" = 7f454c46 ]
}

try '\xfd7zXZ\x00' xz -dc || try '\x28\xb5\x2f\xfd' zstd -dc ||
	try '\x1f\x8b\x08' gzip -dc || exit 1
# A cut-short ELF makes readelf warn about its section headers.
[ -z "$(LC_ALL=C readelf -S -W "$tmp" 2>&1 >/dev/null)" ] || exit 1
# XEN_ELFNOTE_PHYS32_ENTRY (18): the 32-bit PVH entry QEMU jumps to.
LC_ALL=C readelf -n "$tmp" 2>/dev/null |
	grep -q -E '^ +Xen +0x[0-9a-f]+[[:space:]]+(Unknown note type: \(0x00000012\)|XEN_ELFNOTE_PHYS32_ENTRY)' ||
	exit 1
mv "$tmp" "$out"
