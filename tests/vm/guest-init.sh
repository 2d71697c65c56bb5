#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# PID 1 inside the guest, in the host's root. Load the modules the tests
# need, run the job the host wrote, and report its exit status on the third
# serial port (ttyS2): the host trusts only that line, never the console,
# because a panicking guest still makes QEMU exit 0.

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb LANG=C.UTF-8

for arg in $(cat /proc/cmdline); do
	case "$arg" in
	cmek.job=*) job=${arg#cmek.job=} ;;
	cmek.repo=*) repo=${arg#cmek.repo=} ;;
	cmek.modules=*) modules=${arg#cmek.modules=} ;;
	cmek.kmods=*) kmods=${arg#cmek.kmods=} ;;
	esac
done

out=/dev/ttyS1
stty -F $out raw -echo 2>/dev/null
stty -F /dev/ttyS2 raw -echo 2>/dev/null

# PID 1 must outlive the power-off without another exec: the power-off
# shuts the 9p device down before QEMU stops, an exec from the host root
# then fails, PID 1 exits, and the kernel panics on the console. So it
# waits in the shell itself, on a FIFO in tmpfs that nobody writes.
report() {
	local idle=/run/cmek-vm-idle

	echo "CMEK-VM-RESULT $1" > /dev/ttyS2
	sync
	mkfifo "$idle" 2>/dev/null
	echo o > /proc/sysrq-trigger
	while :; do
		read -r -t 30 _ <> "$idle"
	done
}

# devtmpfs has no /dev/fd; udev would make these links on a real system.
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
mount -t configfs none /sys/kernel/config 2>/dev/null
mount -t debugfs none /sys/kernel/debug 2>/dev/null
hostname cmek-vm

# A kernel unpacked under build/ (tests/vm/run's VM_KERNEL): its modules
# appear at /lib/modules/$(uname -r) on a tmpfs over the read-only host's,
# for modprobe and the kernel's request_module() alike, and the module
# built for it is bound over the tree's own, where the tests insmod it.
if [ -n "${modules:-}" ]; then
	if ! mount -t tmpfs -o mode=755 tmpfs /lib/modules ||
	   ! ln -s "$modules" "/lib/modules/$(uname -r)"; then
		echo "cmek-vm: cannot put $modules at /lib/modules/$(uname -r)" > $out
		report 125
	fi
fi
if [ -n "${kmods:-}" ]; then
	for ko in "$kmods/dm-cmek.ko" "$kmods"/kmod/*.ko; do
		case $ko in
		"$kmods"/kmod/*) to=$repo/tests/kmod/${ko##*/} ;;
		*) to=$repo/${ko##*/} ;;
		esac
		if [ ! -e "$to" ] || ! mount --bind "$ko" "$to"; then
			echo "cmek-vm: cannot bind $ko over $to (make all tests builds the tree's own first)" > $out
			report 125
		fi
	done
fi

# Explicit loads: the tests must not depend on request_module() timing.
# One modprobe for all: each run reads modules.dep over 9p.
mods="dm-mod dm-crypt dm-flakey dm-delay dm-log-writes brd aesni-intel xts"
if ! modprobe -a $mods 2>/tmp/modprobe.err; then
	echo "cmek-vm: modprobe -a $mods failed: $(cat /tmp/modprobe.err)" > $out
	report 125
fi
if [ -f "$repo/dm-cmek.ko" ] && ! grep -q '^dm_cmek ' /proc/modules; then
	if ! insmod "$repo/dm-cmek.ko" 2>/tmp/insmod.err; then
		echo "cmek-vm: insmod dm-cmek.ko failed: $(cat /tmp/insmod.err)" > $out
		report 125
	fi
fi

# kmemleak (the debug kernel): what the boot left is not the test's.
leaks=/sys/kernel/debug/kmemleak
[ ! -w $leaks ] || echo clear > $leaks

cd "$repo" || report 125
setsid bash "$job" < /dev/null > $out 2>&1
rc=$?

# Two scans, as kmemleak's documentation advises: an object whose only
# reference sits in a register or on a stack for a moment is not a leak.
# Only the module's own leaks fail the run: the rest of the kernel's
# would be another project's bug, found in the same log.
if [ -w $leaks ]; then
	echo scan > $leaks
	echo scan > $leaks
	if grep -q -E '\[?dm_cmek\]?|cmek_' $leaks; then
		echo "BUG: kmemleak: dm-cmek leaked memory" > /dev/kmsg
		cat $leaks > /dev/kmsg
	fi
fi
report $rc
