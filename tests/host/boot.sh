#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot integration on the host (TAP): cmek-generator turns a volumes file
# into the units and links of Documentation/admin-guide/cmek-host.rst
# ("Boot"), they pass systemd-analyze verify, and a whole boot transaction
# (default.target with this system's vendor units, cmekd enabled, the
# generated units, a local and a _netdev fstab mount on cmek volumes, /var
# on its own file system, a network stack ordered after local-fs as
# Debian's ifupdown is) has no ordering cycle. The cycle check is shown to
# bite: cmekd.service with PrivateTmp=, StateDirectory= or
# After=network-online.target put back makes it fail, as the old unit did.
#   tests/host/boot.sh
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib/ktap.sh"
cd "$TOP" || exit 1
T=$(mktemp -d /tmp/cmek_boot.XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$T"' EXIT

ktap_plan 27

make -s build/cmek-generator build/cmekctl build/cmekd >"$T/make.log" 2>&1
ktap_check "cmek-generator builds" test -x build/cmek-generator

UUID=0f6c1e2a-1111-2222-3333-444455556666
DEVU='dev-disk-by\x2dcmek\x2duuid-0f6c1e2a\x2d1111\x2d2222\x2d3333\x2d444455556666.device'
cat >"$T/volumes" <<EOF
# name   device                          options
data     UUID=$UUID                      hold=5000
cloud    /dev/disk/by-id/nvme-EX_1       _netdev,nofail,read-only,timeout=600
lazy     /dev/sdc                        noauto,header=$T/sdc.hdr
a@b+c    /dev/sdd                        -
bad      /dev/sde                        frobnicate
EOF
chmod 600 "$T/volumes"

# gen DIR [VOLUMES]: run the generator as systemd would (three dirs).
gen() {
	mkdir -p "$1/normal" "$1/early" "$1/late"
	CMEK_VOLUMES=${2:-$T/volumes} CMEK_GENERATOR_CMEKCTL=$TOP/build/cmekctl \
		build/cmek-generator "$1/normal" "$1/early" "$1/late" 2>"$1/stderr"
}
gen "$T/gen"
rc=$?
G=$T/gen/normal
ktap_check "a bad line is reported and the others still get units (exit 0)" \
	sh -c "test $rc = 0 && grep -q ':6: unknown option .frobnicate.' '$T/gen/stderr' &&
	       test ! -e '$G/cmek-open-bad.service'"
ktap_check "one unit per volume, names escaped as systemd-escape does" \
	test -f "$G/cmek-open-data.service" -a -f "$G/cmek-open-cloud.service" \
	-a -f "$G/cmek-open-lazy.service" -a -f "$G/cmek-open-a\\x40b\\x2bc.service"
[ -f "$G/cmek-open-a\\x40b\\x2bc.service" ] || ls "$G" | sed 's/^/# /'
has() { grep -qxF -- "$2" "$G/$1"; }
ktap_check "local volume: bound to its by-cmek-uuid device, after cmekd" \
	sh -c "grep -qxF 'BindsTo=$DEVU' '$G/cmek-open-data.service' &&
	       grep -qxF 'After=$DEVU' '$G/cmek-open-data.service' &&
	       grep -qxF 'Requires=cmekd.service' '$G/cmek-open-data.service' &&
	       grep -qxF 'After=cmekd.service' '$G/cmek-open-data.service' &&
	       grep -qxF 'DefaultDependencies=no' '$G/cmek-open-data.service'"
ktap_check "local volume: before cryptsetup.target and blockdev@dev-mapper-data.target" \
	sh -c "grep -qxF 'Before=cryptsetup.target' '$G/cmek-open-data.service' &&
	       grep -qxF 'After=cryptsetup-pre.target' '$G/cmek-open-data.service' &&
	       grep -qxF 'Before=blockdev@dev-mapper-data.target' '$G/cmek-open-data.service' &&
	       ! grep -q network '$G/cmek-open-data.service'"
ktap_check "local volume: retries with no time limit" \
	sh -c "grep -qxF 'TimeoutStartSec=infinity' '$G/cmek-open-data.service' &&
	       grep -qxF 'ExecStart=$TOP/build/cmekctl open-listed --name data --retry' '$G/cmek-open-data.service' &&
	       grep -qxF 'ExecStop=$TOP/build/cmekctl close data' '$G/cmek-open-data.service'"
ktap_check "local volume: required by cryptsetup.target, wanted by its device, pulled in by /dev/mapper/data" \
	test -L "$G/cryptsetup.target.requires/cmek-open-data.service" \
	-a -L "$G/$DEVU.wants/cmek-open-data.service" \
	-a -L "$G/dev-mapper-data.device.requires/cmek-open-data.service" \
	-a "$(readlink "$G/cryptsetup.target.requires/cmek-open-data.service")" = ../cmek-open-data.service
ktap_check "local volume: mounts of /dev/mapper/data wait as long as the open retries" \
	grep -qxF 'JobRunningTimeoutSec=infinity' "$G/dev-mapper-data.device.d/40-cmek.conf"
ktap_check "_netdev: wants and follows network-online.target, after remote-fs-pre" \
	sh -c "grep -qxF 'Wants=network-online.target' '$G/cmek-open-cloud.service' &&
	       grep -qxF 'After=network-online.target remote-fs-pre.target' '$G/cmek-open-cloud.service' &&
	       ! grep -q 'cryptsetup-pre\|local-fs' '$G/cmek-open-cloud.service'"
ktap_check "_netdev,nofail: wanted (not required) by remote-cryptsetup and remote-fs, boot not held" \
	sh -c "test -L '$G/remote-cryptsetup.target.wants/cmek-open-cloud.service' &&
	       test -L '$G/remote-fs.target.wants/cmek-open-cloud.service' &&
	       test ! -e '$G/cryptsetup.target.requires/cmek-open-cloud.service' &&
	       ! grep -q '^Before=.*\(remote-cryptsetup\|remote-fs\.target\)' '$G/cmek-open-cloud.service' &&
	       test ! -e '$G/dev-mapper-cloud.device.d'"
ktap_check "nofail: a simple service (the boot is not held while it retries), others oneshot" \
	sh -c "grep -qxF 'Type=simple' '$G/cmek-open-cloud.service' &&
	       grep -qxF 'RemainAfterExit=yes' '$G/cmek-open-cloud.service' &&
	       grep -qxF 'Type=oneshot' '$G/cmek-open-data.service' &&
	       grep -qxF 'Type=oneshot' '$G/cmek-open-lazy.service'"
ktap_check "timeout=600: cmekctl gives up after 600 s, systemd a little later" \
	sh -c "grep -qxF 'TimeoutStartSec=610s' '$G/cmek-open-cloud.service' &&
	       grep -q -- '--retry --timeout 600$' '$G/cmek-open-cloud.service'"
ktap_check "noauto: only /dev/mapper/lazy pulls it in; its header's mount is required" \
	sh -c "test -L '$G/dev-mapper-lazy.device.requires/cmek-open-lazy.service' &&
	       ! ls '$G'/*.target.*/cmek-open-lazy.service '$G'/dev-sdc.device.wants 2>/dev/null | grep -q . &&
	       grep -qxF 'RequiresMountsFor=$T/sdc.hdr' '$G/cmek-open-lazy.service'"
: >"$T/empty" && chmod 600 "$T/empty"
gen "$T/gen-none" "$T/nonexistent" && gen "$T/gen-empty" "$T/empty"
ktap_check "no volumes file, or an empty one: no units, exit 0" \
	test -z "$(find "$T/gen-none/normal" "$T/gen-empty/normal" -mindepth 1)"
chmod 666 "$T/volumes"
gen "$T/gen-unsafe"
ktap_check "a world-writable volumes file is refused: no units" \
	sh -c "test -z \"\$(find '$T/gen-unsafe/normal' -mindepth 1)\" &&
	       grep -q 'refused' '$T/gen-unsafe/stderr'"
chmod 600 "$T/volumes"

# The retry of a boot unit, with cmekd not answering (a transient failure).
printf 'v1 /dev/null -\n' >"$T/v1" && chmod 600 "$T/v1"
start=$SECONDS
CMEK_VOLUMES=$T/v1 CMEK_SOCKET=$T/nosock build/cmekctl open-listed --name v1 \
	--retry --timeout 3 >"$T/retry.out" 2>&1
rc=$? secs=$((SECONDS - start))
ktap_check "open-listed --retry: backs off 1 s, 2 s, gives up at --timeout 3 (exit 1)" \
	sh -c "test $rc = 1 && test $secs -ge 3 && test $secs -le 6 &&
	       test \$(grep -c 'will try again' '$T/retry.out') = 2 &&
	       grep -q 'in 1 s' '$T/retry.out' && grep -q 'in 2 s' '$T/retry.out' &&
	       grep -q 'giving up' '$T/retry.out'"
[ "$rc" = 1 ] || sed 's/^/# /' "$T/retry.out"
CMEK_VOLUMES=$T/v1 CMEK_SOCKET=$T/nosock build/cmekctl open-listed --name v1 \
	>"$T/once.out" 2>&1
rc=$?
ktap_check "open-listed --name without --retry: one try, exit 1" \
	sh -c "test $rc = 1 && ! grep -q 'try again' '$T/once.out'"

if ! command -v systemd-analyze >/dev/null || [ ! -e /lib/systemd/system/local-fs.target ]; then
	for i in $(seq $((KTAP_N + 1)) 27); do
		echo "ok $i # SKIP systemd-analyze or systemd's units not installed"
	done
	KTAP_N=27
	ktap_finish
fi

# The installed units, their programs pointing at this build.
U=$T/units
mkdir -p "$U/sysinit.target.wants" "$U/local-fs.target.requires" \
	"$U/remote-fs.target.requires" "$U/network-online.target.wants"
sed "s|/usr/sbin/|$TOP/build/|g" systemd/cmekd.service >"$U/cmekd.service"
ln -s ../cmekd.service "$U/sysinit.target.wants/cmekd.service"

out=$(cd "$G" && SYSTEMD_UNIT_PATH="$G:$U:/lib/systemd/system" \
	SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no \
	./cmek-open-*.service 2>&1 | grep -i cmek)
ktap_check "systemd-analyze verify of the generated units: no complaint" test -z "$out"
[ -n "$out" ] && echo "$out" | sed 's/^/# /'

# What systemd-fstab-generator makes of
#   /dev/mapper/data   /srv/data   ext4  defaults
#   /dev/mapper/cloud  /srv/cloud  ext4  _netdev,nofail
#   /dev/vdb           /var        ext4  defaults
#   /dev/vda           /           ext4  defaults
# plus a network stack ordered after local-fs (Debian's networking.service).
cat >"$U/srv-data.mount" <<EOF
[Unit]
SourcePath=/etc/fstab
Before=local-fs.target
After=blockdev@dev-mapper-data.target
[Mount]
What=/dev/mapper/data
Where=/srv/data
Type=ext4
EOF
cat >"$U/srv-cloud.mount" <<EOF
[Unit]
SourcePath=/etc/fstab
After=blockdev@dev-mapper-cloud.target
[Mount]
What=/dev/mapper/cloud
Where=/srv/cloud
Type=ext4
Options=_netdev,nofail
EOF
cat >"$U/var.mount" <<EOF
[Unit]
SourcePath=/etc/fstab
Before=local-fs.target
[Mount]
What=/dev/vdb
Where=/var
Type=ext4
EOF
cat >"$U/fake-networking.service" <<EOF
[Unit]
DefaultDependencies=no
After=local-fs.target
Before=network.target network-online.target
Wants=network.target
[Service]
Type=oneshot
ExecStart=/bin/true
EOF
ln -s ../srv-data.mount "$U/local-fs.target.requires/"
ln -s ../var.mount "$U/local-fs.target.requires/"
ln -s ../srv-cloud.mount "$U/remote-fs.target.requires/"
ln -s ../fake-networking.service "$U/network-online.target.wants/"
# Enabled by default on Debian (systemctl enable remote-fs.target).
mkdir -p "$U/multi-user.target.wants" "$U/local-fs.target.wants"
ln -s /lib/systemd/system/remote-fs.target "$U/multi-user.target.wants/"
# What systemd-fstab-generator adds for the / line; it wants
# local-fs-pre.target, so that target is in the transaction as on a boot.
ln -s /lib/systemd/system/systemd-remount-fs.service "$U/local-fs.target.wants/"

# boot_cycles: the boot transaction's ordering cycles, if any.
boot_cycles() {
	(cd "$T" && SYSTEMD_UNIT_PATH="$G:$U:/lib/systemd/system" \
		SYSTEMD_LOG_LEVEL=info systemd-analyze verify --man=no \
		default.target 2>&1) | grep -E 'ordering cycle|to break ordering cycle|Found dependency on'
}
cyc=$(boot_cycles)
if [ -z "$cyc" ]; then
	ktap_ok "boot transaction (default.target): no ordering cycle"
else
	ktap_fail "boot transaction (default.target): no ordering cycle"
	echo "$cyc" | sed 's/^/# /'
fi
(cd "$T" && SYSTEMD_UNIT_PATH="$G:$U:/lib/systemd/system" \
	SYSTEMD_LOG_LEVEL=debug systemd-analyze verify --man=no default.target \
	>"$T/jobs" 2>&1)
# in_transaction UNIT...: each got a start job.
in_transaction() {
	local u

	for u in "$@"; do
		grep -qF "$u: Installed new job $u/start" "$T/jobs" || return 1
	done
}
ktap_check "the transaction holds jobs for cmekd, both volumes, their mounts, /var, local-fs-pre, network-online" \
	in_transaction cmekd.service cmek-open-data.service cmek-open-cloud.service \
		srv-data.mount srv-cloud.mount var.mount local-fs-pre.target local-fs.target \
		network-online.target fake-networking.service
in_transaction cmekd.service cmek-open-data.service cmek-open-cloud.service \
	local-fs-pre.target || grep -E ': Installed new job' "$T/jobs" | sed 's/^/# /'
ktap_check "no job deleted from the boot transaction" \
	sh -c "! grep -q 'deleted to break\|Job .* deleted' '$T/jobs'"

# The check bites: each way the old unit made a cycle, put back alone.
cp "$U/cmekd.service" "$T/cmekd.service.good"
bites() {
	sed "$1" "$T/cmekd.service.good" >"$U/cmekd.service"
	cyc=$(boot_cycles)
	cp "$T/cmekd.service.good" "$U/cmekd.service"
	echo "$cyc" | grep -q "$2"
}
ktap_check "PrivateTmp=yes put back: the cycle through systemd-tmpfiles-setup is found" \
	bites 's/^ProtectHome=yes/&\nPrivateTmp=yes/' 'systemd-tmpfiles-setup.service'
ktap_check "StateDirectory=cmek put back: the cycle through var.mount is found" \
	bites 's/^ProtectHome=yes/&\nStateDirectory=cmek/' 'var.mount'
ktap_check "After=network-online.target put back: the cycle through the network is found" \
	bites 's/^DefaultDependencies=no/&\nAfter=network-online.target/' 'network-online.target'
ktap_check "Before=local-fs-pre.target on a _netdev volume: the cycle through the network is found" \
	sh -c "cp '$G/cmek-open-cloud.service' '$T/cloud.good' &&
	       sed -i 's/^Conflicts=umount.target/&\nBefore=local-fs-pre.target/' '$G/cmek-open-cloud.service' &&
	       (cd '$T' && SYSTEMD_UNIT_PATH='$G:$U:/lib/systemd/system' SYSTEMD_LOG_LEVEL=info \
		systemd-analyze verify --man=no default.target 2>&1) >'$T/cloud.out';
	       cp '$T/cloud.good' '$G/cmek-open-cloud.service';
	       grep -q 'Found ordering cycle' '$T/cloud.out'"

# Logging: cmekd under systemd writes each line once (syslog), not twice.
# Its own socket, state and trust directories: nothing of the host's.
printf '[daemon]\nsocket = %s\nstate_dir = %s\ntrust_dir = %s\nkey_dir = %s\n' \
	"$T/sock" "$T/state" "$T/trust" "$T/keys" >"$T/cmekd.conf"
chmod 600 "$T/cmekd.conf"
# run_cmekd JOURNAL_STREAM ERRFILE: a second of cmekd, stderr to ERRFILE.
run_cmekd() {
	JOURNAL_STREAM=$1 build/cmekd -c "$T/cmekd.conf" 2>>"$2" &
	local pid=$!
	sleep 1
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}
: >"$T/err"
run_cmekd "$(stat -c '%d:%i' "$T/err")" "$T/err"
ktap_check "cmekd with stderr as \$JOURNAL_STREAM: nothing on stderr (syslog only)" \
	test ! -s "$T/err"
[ -s "$T/err" ] && head -3 "$T/err" | sed 's/^/# /'
: >"$T/err2"
run_cmekd 1:1 "$T/err2"
ktap_check "cmekd with stderr elsewhere: it still logs to stderr" \
	grep -q 'cmekd.*started\|must run as root' "$T/err2"
[ -s "$T/err2" ] || echo "# cmekd wrote nothing on stderr"
[ "$KTAP_FAILED" -ne 0 ] && sed 's/^/# make: /' "$T/make.log" | tail -20
ktap_finish
