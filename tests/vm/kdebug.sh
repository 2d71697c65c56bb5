#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/vm/kdebug.sh: the debug kernel the VM rig boots as the series
# "debug" (VM_KERNEL=debug, CHECK_KERNELS="... debug"): Debian's
# linux-source-6.1 built with tests/vm/kdebug/debug.config, which is the
# rig's machine with everything built in, plus KASAN, lockdep
# (PROVE_LOCKING), DEBUG_ATOMIC_SLEEP, DEBUG_OBJECTS, KFENCE and kmemleak.
# A stock kernel lets a use-after-free, a sleep in atomic context or a lock
# order inversion pass silently; this one reports it on the console, where
# tests/vm/run fails the file.
#
# Prints ROOT, laid out as tests/vm/kimage.sh lays out Debian's images:
# ROOT/boot/vmlinuz-KREL, ROOT/lib/modules/KREL, and the built tree that
# modules are built against (tests/vm/kbuild.sh) at ROOT/build.
#
# Built once per machine: cached outside the clone, under
# $CMEK_KDEBUG_CACHE (default ~/.cache/cmek), keyed by a hash of the
# config, this script and the source package's version, so a change to
# any of them builds afresh and older builds are removed. Concurrent
# callers wait for one build (flock). The build's output goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=/usr/src/linux-source-6.1.tar.xz
config=$here/kdebug/debug.config
cache=${CMEK_KDEBUG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cmek}

if [ ! -r "$src" ]; then
	echo "$0: $src missing (apt-get install linux-source-6.1)" >&2
	exit 1
fi
srcver=$(dpkg-query -W -f '${Version}' linux-source-6.1 2>/dev/null || stat -c %Y "$src")
key=$({ cat "$config" "$0"; echo "$srcver"; } | sha256sum | cut -c1-16)
root=$cache/kdebug-$key

mkdir -p "$cache"
exec 9> "$cache/kdebug.lock"
flock 9
if [ ! -e "$root/.done" ]; then
	t0=$(date +%s)
	rm -rf "$cache"/kdebug-*/
	mkdir -p "$root/boot"
	tar -xf "$src" -C "$root"
	mv "$root/linux-source-6.1" "$root/build"
	b=$root/build
	KCONFIG_ALLCONFIG=$config make -s -C "$b" allnoconfig >&2
	make -s -C "$b" olddefconfig >&2
	# Kconfig drops an option whose dependencies are not met without a
	# word: every line of the fragment must have survived.
	missing=$(grep -E '^CONFIG_[A-Z0-9_]+=' "$config" | grep -v -x -F -f "$b/.config" || true)
	if [ -n "$missing" ]; then
		echo "$0: debug.config options not in the resulting .config:" >&2
		echo "$missing" >&2
		exit 1
	fi
	make -C "$b" -j"$(nproc)" bzImage modules >&2
	krel=$(make -s -C "$b" kernelrelease)
	make -s -C "$b" modules_install INSTALL_MOD_PATH="$root" INSTALL_MOD_STRIP=1 >&2
	rm -f "$root/lib/modules/$krel/build" "$root/lib/modules/$krel/source"
	cp "$b/arch/x86/boot/bzImage" "$root/boot/vmlinuz-$krel"
	cp "$b/System.map" "$root/boot/System.map-$krel"
	echo "$0: built $krel in $(($(date +%s) - t0)) s" >&2
	touch "$root/.done"
fi
echo "$root"
