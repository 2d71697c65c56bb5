#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Mounted file systems on a revoked cmek volume (KTAP), in the VM as root:
#     tests/vm/run -- tests/kselftest/revoke_fs.sh
#
# For ext4 and for xfs, on a volume opened through cmekd (local provider):
#   --keep-fs: `cmekctl revoke NAME --keep-fs` leaves the file system
#     running (a file read before still reads from the cache) and audited
#     as kept; `cmekctl open` again and it goes on by itself.
#   shutdown (the default): a file read into the page cache and another
#     kept mmapped by a process (tests/helpers/mmap_hold); after
#     `cmekctl revoke NAME` reading the cached file and opening a file
#     afresh fail with EIO, the holder is named by pid in cmekctl's output
#     and in cmekd's audit line, dmesg has no WARN or BUG. Recovery as the
#     runbook says: kill the holder, unmount, `cmekctl open` again, fsck
#     (e2fsck -fy; xfs: mount once to replay the log, xfs_repair), mount:
#     the data synced before the revoke is intact.
# A file system mounted only in a private mount namespace is found and
# shut down there. `cmekctl revoke --all` shuts down every mapping's file
# system but the keepfs one.
# The watch's lock: KEK k2 disabled locks an ext4 volume with default
# settings: shut down and audited with its holder, still shut down after
# the KEK is back (an operator's remount), recovered as above. Then KEK k3
# disabled locks one listed with keepfs in $CMEK_VOLUMES: it stays
# readable from its cache and resumes by itself after the unlock.
#
# Every check can fail; nothing is skipped.

set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib/ktap.sh"
. "$TOP/tests/kselftest/cmekd_lib.sh"
cmekd_test_init revoke_fs
HOLD=$TOP/build/helpers/mmap_hold
export CMEK_VOLUMES=$T/volumes
HPIDS=

cleanup() {
	local p m
	[ "$KTAP_FAILED" -gt 0 ] && tail -n 30 "$T/log" | sed 's/^/# cmekd: /'
	for p in $HPIDS; do kill -KILL "$p" 2>/dev/null; done
	for m in "$T"/mnt/*; do umount "$m" 2>/dev/null; done
	for m in rf-ext4 rf-xfs rfn rfa rfb; do
		dmsetup --noudevsync remove "$m" >/dev/null 2>&1
	done
	[ -n "$PID" ] && stop
	rm -rf "$T"
}
trap cleanup EXIT

# xfsprogs refuses file systems under 300 MB unless run by fstests.
mkfs_fs() {
	case $1 in
	ext4) mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$2" ;;
	xfs) TEST_DIR=1 TEST_DEV=1 QA_CHECK_FS=1 mkfs.xfs -q -f "$2" ;;
	esac
}

# The runbook's fsck step: e2fsck corrects (exit 1 = corrected); xfs
# replays its log at mount, then xfs_repair checks what is left.
fsck_fs() {
	case $1 in
	ext4) e2fsck -fy "$2" >"$T/fsck.out" 2>&1; [ $? -le 1 ] ;;
	xfs) mount "$2" "$3" && umount "$3" &&
	     xfs_repair "$2" >"$T/fsck.out" 2>&1 ;;
	esac
}

# new_vol DEV NAME KEK FS: format, open, mkfs, mount on $T/mnt/NAME
# (noatime: no metadata write comes from the reads of the test), files.
new_vol() {
	local m=$T/mnt/$2
	mkdir -p "$m"
	run "fmt-$2" "$CMEKCTL" format "$1" --provider local --key "$3" &&
	run "open-$2" "$CMEKCTL" open "$1" "$2" && rc_is "open-$2" 0 &&
	mkfs_fs "$4" "/dev/mapper/$2" && mount -o noatime "/dev/mapper/$2" "$m" &&
	head -c 1M /dev/urandom >"$m/synced" &&
	head -c 256K /dev/urandom >"$m/mapped" &&
	head -c 64K /dev/urandom >"$m/unopened" &&
	(cd "$m" && sha256sum synced mapped unopened) >"$T/sums-$2" && sync
}
intact() { (cd "$T/mnt/$1" && sha256sum -c --quiet "$T/sums-$1"); }
# A cached read, then the file read again from the page cache.
cached_reads() { cat "$1" >/dev/null && cat "$1" >/dev/null; }
# eio FILE: opening or reading FILE fails with EIO
eio() { ! cat "$1" >/dev/null 2>"$T/eio.err" && grep -q "Input/output error" "$T/eio.err"; }
key_is() { [ "$(kstate "$1")" = "$2" ]; }
no_warn() { ! dmesg | grep -E -q '(WARNING|BUG):|Oops|Call Trace'; }
uuid_of() { "$CMEKCTL" status "$1" --json 2>/dev/null | jq -r '.volumes[0].uuid'; }

# hold NAME FILE: start a process that keeps FILE mmapped; its pid in HPID
hold() {
	"$HOLD" "$2" >"$T/hold-$1.out" 2>&1 &
	HPID=$!
	HPIDS="$HPIDS $HPID"
	wait_until 20 grep -q ready "$T/hold-$1.out"
}
unhold() { kill -KILL "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

# audit_has REGEX: cmekd's log gets an audit line matching within 10 s
audit_has() { wait_until 10 grep -E -q "audit: $1" "$T/log"; }

ktap_plan 54

mkkek k1 && mkkek k2 && mkkek k3
daemon_conf check_interval=1s
: >"$T/volumes"
grep -q '^brd ' /proc/modules && rmmod brd
modprobe brd rd_nr=4 rd_size=$((80 * 1024)) max_part=0
for fs in ext4 xfs; do modprobe "$fs" 2>/dev/null; done
ktap_check "cmekd starts; four 80 MiB RAM disks" \
	eval 'start && [ -b /dev/ram3 ]'

# round FS DEV: --keep-fs, then the shutdown and the recovery.
round() {
	local fs=$1 dev=$2 n=rf-$1 m=$T/mnt/rf-$1 u t0

	ktap_check "$fs: volume formatted, opened, mounted, files synced" \
		new_vol "$dev" "$n" k1 "$fs"
	u=$(uuid_of "$n")

	# --keep-fs: the file system goes on serving its cache
	cached_reads "$m/synced"
	run "keep-$n" "$CMEKCTL" revoke "$n" --keep-fs
	ktap_check "$fs: revoke --keep-fs: exit 0, key revoked, file system kept" \
		eval 'rc_is keep-$n 0 && key_is "$u" revoked &&
		      out_has keep-$n "$fs on $m kept"'
	ktap_check "$fs: --keep-fs: the cached file still reads, audited fs=kept" \
		eval 'cat "$m/synced" >/dev/null &&
		      audit_has "op=revoke uuid=$u name=$n .*why=admin .*fs=kept mount=\"$m\" fstype=$fs"'
	run "reopen1-$n" "$CMEKCTL" open "$dev" "$n"
	ktap_check "$fs: open again: key back, the kept file system goes on by itself" \
		eval 'rc_is reopen1-$n 0 && key_is "$u" present &&
		      head -c 64K /dev/urandom >"$m/after-keep" && sync &&
		      [ -s "$m/after-keep" ] && intact "$n"'

	# shutdown: a cached file, a mmapped one
	cached_reads "$m/synced"
	ktap_check "$fs: a process holds a file mmapped" hold "$n" "$m/mapped"
	t0=$(now_ms)
	run "rev-$n" "$CMEKCTL" revoke "$n"
	ktap_diag "$fs: cmekctl revoke took $(( $(now_ms) - t0 )) ms; it said:"
	sed 's/^/#   /' "$T/rev-$n.out" "$T/rev-$n.err"
	ktap_check "$fs: cmekctl revoke: exit 0, key revoked in the kernel" \
		eval 'rc_is rev-$n 0 && key_is "$u" revoked &&
		      out_has rev-$n "key revoked and wiped from the kernel"'
	ktap_check "$fs: cmekctl says the file system was shut down" \
		out_has "rev-$n" "$fs on $m shut down"
	ktap_check "$fs: reading the file cached before the revoke fails (EIO)" \
		eio "$m/synced"
	ktap_check "$fs: opening a file afresh fails (EIO)" eio "$m/unopened"
	ktap_check "$fs: read(2) of the mmapped file fails (EIO) though its pages stay cached" \
		eio "$m/mapped"
	ktap_check "$fs: cmekctl names the mmap holder by name and pid" \
		out_has "rev-$n" "mmapped by .*mmap_hold\[$HPID\]"
	ktap_check "$fs: cmekd's audit line: mount point, shut down, holder" \
		audit_has "op=revoke uuid=$u name=$n .*why=admin .*fs=shut-down mount=\"$m\" fstype=$fs .*mmap_holders=\"[^\"]*mmap_hold\[$HPID\]"
	ktap_check "$fs: dmesg has no WARNING, BUG or Oops" no_warn

	# recovery, as the runbook says
	unhold "$HPID"
	ktap_check "$fs: holder killed, file system unmounted" umount "$m"
	run "reopen2-$n" "$CMEKCTL" open "$dev" "$n"
	ktap_check "$fs: cmekctl open again: the key is back" \
		eval 'rc_is reopen2-$n 0 && key_is "$u" present'
	ktap_check "$fs: fsck as the runbook says" fsck_fs "$fs" "/dev/mapper/$n" "$m"
	ktap_check "$fs: mounted again, the data synced before the revoke is intact" \
		eval 'mount -o noatime "/dev/mapper/$n" "$m" && intact "$n"'
	umount "$m"
	"$CMEKCTL" close "$n" >/dev/null 2>&1
}

round ext4 /dev/ram0
round xfs /dev/ram1

# A file system mounted only in another mount namespace (a container's):
# found through /proc/PID/mountinfo, shut down through /proc/PID/root.
run open-rfn "$CMEKCTL" open /dev/ram0 rfn
mkdir -p "$T/mnt/rfn"
unshare -m --propagation private sh -c "mount -o noatime /dev/mapper/rfn '$T/mnt/rfn' &&
	cat '$T/mnt/rfn/synced' >/dev/null && echo ready && exec sleep 1000" \
	>"$T/ns.out" 2>&1 &
NSPID=$!
HPIDS="$HPIDS $NSPID"
ktap_check "namespace: rfn mounted in a private mount namespace only" \
	eval 'rc_is open-rfn 0 && wait_until 20 grep -q ready "$T/ns.out" &&
	      ! grep -q " $T/mnt/rfn " /proc/self/mountinfo'
run rev-rfn "$CMEKCTL" revoke rfn
ktap_check "namespace: cmekctl revoke finds it there and shuts it down" \
	out_has rev-rfn "ext4 on $T/mnt/rfn (mount namespace of pid $NSPID) shut down"
ktap_check "namespace: inside it, the cached file fails (EIO)" \
	eval '! nsenter -t "$NSPID" -m cat "$T/mnt/rfn/synced" >/dev/null 2>"$T/ns.err" &&
	      grep -q "Input/output error" "$T/ns.err"'
unhold "$NSPID"
wait_until 10 "$CMEKCTL" close rfn >/dev/null 2>&1

# The watch's lock: k2 disabled locks rfa (shut down), k3 disabled rfb
# (keepfs). One at a time: the cache drop after rfa's shutdown is
# host-wide and would take rfb's cached pages too.
echo "rfb /dev/ram3 keepfs" >"$T/volumes"
ktap_check "watch: rfa under k2, rfb (keepfs) under k3, ext4, files synced" \
	eval 'new_vol /dev/ram2 rfa k2 ext4 && new_vol /dev/ram3 rfb k3 ext4'
UA=$(uuid_of rfa)
UB=$(uuid_of rfb)
cached_reads "$T/mnt/rfa/synced"
ktap_check "watch: a process holds a file of rfa mmapped" \
	hold rfa "$T/mnt/rfa/mapped"
"$CMEKCTL" kek disable k2 >/dev/null
ktap_check "watch: k2 disabled: rfa locked within 15 s" \
	wait_until 15 key_is "$UA" revoked
ktap_check "watch: rfa's cached file fails (EIO): shut down" \
	wait_until 5 eio "$T/mnt/rfa/synced"
ktap_check "watch: read(2) of rfa's mmapped file fails (EIO)" \
	eio "$T/mnt/rfa/mapped"
ktap_check "watch: the lock's audit line has rfa's mount, shut down, holder" \
	audit_has "op=revoke uuid=$UA name=rfa .*why=lock .*fs=shut-down mount=\"$T/mnt/rfa\" fstype=ext4 .*mmap_holders=\"[^\"]*mmap_hold\[$HPID\]"
ktap_check "watch: op=lock audited for rfa" \
	audit_has "op=lock uuid=$UA name=rfa .*result=ok"
"$CMEKCTL" kek enable k2 >/dev/null
ktap_check "watch: k2 enabled: rfa's key back within 15 s" \
	wait_until 15 key_is "$UA" present
ktap_check "watch: rfa stays shut down after the unlock (needs the operator)" \
	eio "$T/mnt/rfa/synced"
unhold "$HPID"
ktap_check "watch: rfa recovered: unmount, e2fsck, mount, data intact" \
	eval 'umount "$T/mnt/rfa" && fsck_fs ext4 /dev/mapper/rfa &&
	      mount -o noatime /dev/mapper/rfa "$T/mnt/rfa" && intact rfa'

cached_reads "$T/mnt/rfb/synced"
"$CMEKCTL" kek disable k3 >/dev/null
ktap_check "watch: k3 disabled: rfb (keepfs) locked within 15 s" \
	wait_until 15 key_is "$UB" revoked
ktap_check "watch: rfb still reads its cached file, audited kept (keepfs)" \
	eval 'audit_has "op=revoke uuid=$UB name=rfb .*why=lock .*fs=kept .*keepfs=volumes" &&
	      cat "$T/mnt/rfb/synced" >/dev/null'
"$CMEKCTL" kek enable k3 >/dev/null
ktap_check "watch: k3 enabled: rfb resumed by itself, writes and reads, data intact" \
	eval 'wait_until 15 key_is "$UB" present &&
	      head -c 64K /dev/urandom >"$T/mnt/rfb/after" && sync &&
	      [ -s "$T/mnt/rfb/after" ] && intact rfb'
# A whole node: every key, every mapping's file system.
cached_reads "$T/mnt/rfa/synced"
run revall "$CMEKCTL" revoke --all
ktap_check "revoke --all: exit 0, keys revoked, rfa shut down, rfb kept" \
	eval 'rc_is revall 0 && key_is "$UA" revoked && key_is "$UB" revoked &&
	      out_has revall "ext4 on $T/mnt/rfa shut down" &&
	      out_has revall "ext4 on $T/mnt/rfb kept" && eio "$T/mnt/rfa/synced"'
ktap_check "revoke --all: cmekd's revoke-all audit line has both mappings" \
	eval 'audit_has "op=revoke-all .*mapping=rfa fs=shut-down" &&
	      audit_has "op=revoke-all .*mapping=rfb fs=kept"'
ktap_check "dmesg has no WARNING, BUG or Oops at the end" no_warn

ktap_finish
