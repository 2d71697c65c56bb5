#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/vm/kbuild.sh SERIES: dm-cmek.ko and the test modules (tests/kmod/)
# built against Debian's headers of the kernel series SERIES
# (tests/vm/kheaders.sh), or for the series "debug" against the debug
# kernel's tree (tests/vm/kdebug.sh), in a copy of the sources under build/kSERIES
# (build/k612 for 6.12) so that the tree's own build for the VM's default
# kernel stays as it is: build/k612/dm-cmek.ko and
# build/k612/kmod/cmek_slow_xts.ko. The build's output goes to stderr, the
# directory to stdout. Incremental: the copy keeps the sources' times.
# No BTF: pahole is not needed, and the guest does not ask for it.
set -euo pipefail

series=$1
repo=$(cd "$(dirname "$0")/../.." && pwd)
out=$repo/build/k${series//./}

if [ "$series" = debug ]; then
	kdir=$("$repo/tests/vm/kdebug.sh")/build
else
	kdir=$("$repo/tests/vm/kheaders.sh" "$series" "$repo/build/kheaders")
fi
mkdir -p "$out/kernel" "$out/kmod"
# Sources only: objects of the other kernel must not look up to date.
cp -rp "$repo/include" "$repo/Kbuild" "$out/"
cp -p "$repo"/kernel/*.[ch] "$out/kernel/"
cp -p "$repo"/tests/kmod/*.c "$repo/tests/kmod/Kbuild" "$out/kmod/"
rm -f "$out"/kmod/*.mod.c
make -C "$kdir" M="$out" CONFIG_DEBUG_INFO_BTF_MODULES= modules >&2
make -C "$kdir" M="$out/kmod" CONFIG_DEBUG_INFO_BTF_MODULES= modules >&2
echo "$out"
