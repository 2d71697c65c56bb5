# SPDX-License-Identifier: GPL-2.0
#
# Helpers shared by tests/kselftest/lifecycle.sh and tests/demo.sh: a
# private cmekd (config, key directory and socket under a temporary
# directory, so nothing in /etc or /run is touched), brd RAM disks, and
# command runners that keep output for the report.
#
# Source it after setting TOP (the source tree).

CMEKCTL=${CMEKCTL:-$TOP/build/cmekctl}
CMEKD=${CMEKD:-$TOP/build/cmekd}

LC_T=$(mktemp -d /tmp/cmek_lc.XXXXXX)
chmod 755 "$LC_T"
LC_KEYS=$LC_T/keys
LC_CONF=$LC_T/cmekd.conf
LC_LOG=$LC_T/cmekd.log
LC_PID=
export CMEK_SOCKET=$LC_T/cmekd.sock
export CMEK_KEY_DIR=$LC_KEYS
export CMEK_CONFIG=$LC_CONF

mkdir -p "$LC_KEYS" "$LC_T/state"
chmod 700 "$LC_KEYS" "$LC_T/state"
cat >"$LC_CONF" <<EOF
[daemon]
socket = $CMEK_SOCKET
state_dir = $LC_T/state
trust_dir = $LC_T/trust
key_dir = $LC_KEYS
check_interval = 2s

[provider local]
key_dir = $LC_KEYS
EOF
chmod 600 "$LC_CONF"

lc_daemon_start() {
	"$CMEKD" -c "$LC_CONF" --no-syslog -f >>"$LC_LOG" 2>&1 &
	LC_PID=$!
	local i
	for i in $(seq 100); do
		"$CMEKCTL" ping >/dev/null 2>&1 && return 0
		kill -0 "$LC_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "# cmekd did not come up; its log:" >&2
	sed 's/^/#   /' "$LC_LOG" >&2
	return 1
}

lc_daemon_kill() {
	local sig=${1:-TERM}
	[ -n "$LC_PID" ] || return 0
	kill "-$sig" "$LC_PID" 2>/dev/null
	wait "$LC_PID" 2>/dev/null
	LC_PID=
}

# lc_ramdisks N SIZE_MB: /dev/ram0.. at least N disks of SIZE_MB. The VM
# loads brd with its small defaults: reload it (nothing uses it yet).
lc_ramdisks() {
	local want=$(($2 * 1024 * 1024))
	if [ -b /dev/ram$(($1 - 1)) ] &&
	   [ "$(blockdev --getsize64 /dev/ram0)" -ge "$want" ]; then
		return 0
	fi
	if grep -q '^brd ' /proc/modules; then
		rmmod brd || return 1
	fi
	modprobe brd rd_nr="$1" rd_size=$(($2 * 1024)) || return 1
	[ -b /dev/ram$(($1 - 1)) ] &&
		[ "$(blockdev --getsize64 /dev/ram0)" -ge "$want" ]
}

lc_cleanup() {
	local m
	for m in $(dmsetup ls --target cmek 2>/dev/null | awk '{print $1}'); do
		grep -qs "^/dev/mapper/$m " /proc/mounts && umount "/dev/mapper/$m"
		dmsetup --noudevsync remove "$m" >/dev/null 2>&1
	done
	lc_daemon_kill TERM
	rm -rf "$LC_T"
}

# run NAME CMD...: keep stdout/stderr/rc as $LC_T/NAME.{out,err,rc}
run() {
	local n=$1
	shift
	"$@" >"$LC_T/$n.out" 2>"$LC_T/$n.err"
	echo $? >"$LC_T/$n.rc"
}
rc() { cat "$LC_T/$1.rc"; }
out() { cat "$LC_T/$1.out"; }
err() { cat "$LC_T/$1.err"; }
jf() { jq -r "$2" <"$LC_T/$1.out" 2>/dev/null; }

# Write N files of random data under MOUNTPOINT, record their sums.
lc_write_files() {
	local mnt=$1 n=$2 i
	for i in $(seq "$n"); do
		head -c $((i * 37 * 1024)) /dev/urandom >"$mnt/file$i" || return 1
	done
	(cd "$mnt" && sha256sum file*) >"$LC_T/sums.$(basename "$mnt")"
	sync
}

lc_check_files() {
	local mnt=$1
	(cd "$mnt" && sha256sum -c --quiet "$LC_T/sums.$(basename "$mnt")")
}

# Direct read of the first 4 KiB: fails once the key is revoked.
lc_can_read() {
	dd if="$1" of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null
}
