# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash disable=SC2034
# Helpers for the Debian package tests (source after ktap.sh; host and
# guest): dpkg and DKMS in a chroot at $R over an overlay of /. Also the
# systemd lane's install of cmek into its node (tests/systemd/lib.sh).

in_root() { chroot "$R" "$@"; }

# deb_krel: the kernel release DKMS builds for, the one the VM boots: the
# tree's Makefile decides it, as for the tree's own module (the host's
# running kernel has no headers).
deb_krel() {
	echo "${KERNELRELEASE:-$(make -s -C "$TOP" -f /dev/null -f Makefile \
		--eval 'print-krel: ; @echo $(KERNELRELEASE)' print-krel)}"
}

# deb_root_up DIR DEBS: R=DIR/ovl/root, a chroot over an overlay of / whose
# upper layer is a tmpfs (DIR/ovl/upper), with proc, sys, dev, a tmpfs
# /tmp and /run, and DEBS bound at /debs. Run it in a private mount
# namespace (unshare -m): everything goes when that ends.
deb_root_up() {
	local o=$1/ovl

	R=$o/root
	mkdir -p "$o" && mount -t tmpfs tmpfs "$o" &&
	mkdir -p "$o/upper" "$o/work" "$R" &&
	mount -t overlay overlay -o "lowerdir=/,upperdir=$o/upper,workdir=$o/work" "$R" &&
	mount -t proc proc "$R/proc" && mount --rbind /dev "$R/dev" &&
	mount -t sysfs sys "$R/sys" && mount -t tmpfs tmpfs "$R/tmp" &&
	mount -t tmpfs tmpfs "$R/run" && mkdir -p "$R/debs" && mount --bind "$2" "$R/debs"
}

# deb_upper_tar DIR OUT [FIND-TESTS...]: what dpkg changed in deb_root_up
# DIR's chroot, as a tar: the upper layer's files but its whiteouts
# (which 9p would show as character devices), /tmp and /debs, and those
# the FIND-TESTS (e.g. ! -path './var/log/*') leave out.
deb_upper_tar() {
	local up=$1/ovl/upper out=$2

	shift 2
	(cd "$up" && find . ! -type c ! -path ./tmp ! -path './tmp/*' ! -path ./debs "$@" -print0 |
		tar -c --null --no-recursion -T - -f "$out")
}

# timed LOG CMD...: CMD in the chroot, its output in LOG, its seconds in
# $SECS; on failure the log's tail as TAP comments.
timed() {
	local log=$1 t0 rc
	shift
	t0=$(date +%s)
	in_root "$@" > "$log" 2>&1
	rc=$?
	SECS=$(($(date +%s) - t0))
	[ $rc = 0 ] || sed 's/^/# /' "$log" | tail -n 25
	return $rc
}

# conf_kept: the line the tests add to cmekd.conf is still there, once.
conf_kept() { test "$(grep -c '^# mine$' "$R/etc/cmek/cmekd.conf" 2>/dev/null)" = 1; }
