#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/vm/kheaders.sh SERIES DIR: Debian's newest linux-headers for the
# kernel series SERIES (6.12, say) for amd64, unpacked under DIR/VERSION
# (not installed: the machine's own kernels and the rig's choice of kernel
# stay as they are). Prints the directory to build modules against
# (KDIR). Cached: once unpacked, nothing is downloaded again.
set -euo pipefail

series=$1
dir=$2
re="^linux-headers-${series//./\\.}\.[0-9]+\+deb[0-9]+-amd64\$"
ver=$(apt-cache search --names-only "$re" | awk '{ print $1 }' |
	sed 's/^linux-headers-//; s/-amd64$//' | sort -V | tail -n1)
if [ -z "$ver" ]; then
	echo "$0: no linux-headers-$series.*-amd64 in apt's lists (apt-get update?)" >&2
	exit 1
fi
root=$dir/$ver
kdir=$root/usr/src/linux-headers-$ver-amd64
if [ ! -e "$root/.done" ]; then
	rm -rf "$root"
	mkdir -p "$root/deb"
	(cd "$root/deb" && apt-get download -q "linux-headers-$ver-amd64" \
		"linux-headers-$ver-common" "linux-kbuild-$ver") >&2
	for f in "$root"/deb/*.deb; do
		dpkg -x "$f" "$root"
	done
	rm -rf "$root/deb"
	# The arch package includes the common one by its installed path.
	sed -i "s#/usr/src/linux-headers-$ver-common#$root/usr/src/linux-headers-$ver-common#" \
		"$kdir/Makefile"
	touch "$root/.done"
fi
echo "$kdir"
