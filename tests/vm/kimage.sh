#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/vm/kimage.sh SERIES DIR: Debian's kernel image of the series SERIES
# (6.12, say) for amd64, the same version as the headers tests/vm/kheaders.sh
# unpacks into DIR/../kheaders, unpacked with its modules under DIR/VERSION
# and depmod'ed there (not installed: /boot, /lib/modules and the rig's
# default kernel stay as they are). Prints the root of the unpacked tree:
# ROOT/boot/vmlinuz-KREL and ROOT/lib/modules/KREL. Cached: once unpacked,
# nothing is downloaded again. No image in apt's lists (no network, no
# apt-get update) is an error, never a silent fallback to another kernel.
set -euo pipefail

series=$1
dir=$2
here=$(cd "$(dirname "$0")" && pwd)
# The series "debug" is no Debian image but a build of Debian's source.
[ "$series" != debug ] || exec "$here/kdebug.sh"

# The image must be the headers' version: the module is built against those.
kdir=$("$here/kheaders.sh" "$series" "$(dirname "$dir")/kheaders")
ver=${kdir##*/linux-headers-}
ver=${ver%-amd64}
krel=$ver-amd64
root=$dir/$ver
if [ ! -e "$root/.done" ]; then
	rm -rf "$root"
	mkdir -p "$root/deb"
	if ! (cd "$root/deb" && apt-get download -q "linux-image-$krel") >&2; then
		echo "$0: cannot download linux-image-$krel (network? apt-get update?)" >&2
		exit 1
	fi
	dpkg -x "$root"/deb/*.deb "$root"
	rm -rf "$root/deb"
	# The package leaves modules.dep to its postinst.
	depmod -b "$root" -F "$root/boot/System.map-$krel" "$krel"
	touch "$root/.done"
fi
echo "$root"
