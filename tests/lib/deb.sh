# SPDX-License-Identifier: GPL-2.0
# Helpers for the Debian package tests (source after ktap.sh; host and
# guest): dpkg and DKMS in a chroot at $R over an overlay of /.

in_root() { chroot "$R" "$@"; }

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
