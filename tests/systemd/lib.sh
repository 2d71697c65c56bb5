# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Sourced by tests/systemd/*.sh: the root tree a systemd boot of the VM
# copies over the host's (tests/vm/run --systemd TREE), cmek's install
# into it, disks, and the host's KMS.

TOP=${TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
. "$TOP/tests/lib/moto.sh"
. "$TOP/tests/lib/deb.sh"

# sd_base TREE: what makes the host's root a small node: its own
# machine-id and hostname, multi-user.target, the network on the one NIC
# (systemd-networkd, the address tests/vm/run's --guestfwd expects), and
# the host's own services that have no business in a test node masked,
# cloud-init disabled.
sd_base() {
	local t=$1 u

	mkdir -p "$t/etc/systemd/system" "$t/etc/systemd/network" \
		"$t/etc/systemd/system/multi-user.target.wants" \
		"$t/etc/systemd/system/sockets.target.wants" \
		"$t/etc/systemd/system/network-online.target.wants"
	od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > "$t/etc/machine-id"
	echo >> "$t/etc/machine-id"
	echo cmek-node > "$t/etc/hostname"
	ln -sf /lib/systemd/system/multi-user.target "$t/etc/systemd/system/default.target"
	for u in postgresql.service e2scrub_reap.service getty@tty1.service \
		 serial-getty@ttyS0.service console-getty.service systemd-timesyncd.service \
		 systemd-pstore.service apt-daily.timer apt-daily-upgrade.timer \
		 dpkg-db-backup.timer e2scrub_all.timer fstrim.timer man-db.timer; do
		ln -sf /dev/null "$t/etc/systemd/system/$u"
	done
	cat > "$t/etc/systemd/network/10-vm.network" <<-EOF2
	[Match]
	Driver=virtio_net

	[Network]
	Address=10.0.2.15/24
	EOF2
	ln -sf /lib/systemd/system/systemd-networkd.service \
		"$t/etc/systemd/system/multi-user.target.wants/"
	ln -sf /lib/systemd/system/systemd-networkd.socket \
		"$t/etc/systemd/system/sockets.target.wants/"
	ln -sf /lib/systemd/system/systemd-networkd-wait-online.service \
		"$t/etc/systemd/system/network-online.target.wants/"
	printf 'tmpfs /tmp tmpfs mode=1777,nosuid,nodev 0 0\n' > "$t/etc/fstab"
	# The host's cloud-init (for tests/systemd/cloudinit.sh) stays out
	# of every other node: its generator then stops before ds-identify,
	# and no cloud-init unit runs.
	mkdir -p "$t/etc/cloud"
	: >"$t/etc/cloud/cloud-init.disabled"
}

# ---------------------------------------------------------------------------
# The host side.
# ---------------------------------------------------------------------------
ADMIN=$TOP/build/helpers/aws_kms_admin
MKCERT=$TOP/build/helpers/mkcert
# Any credentials do: moto checks no signatures unless told to.
export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE
export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY

# sd_host_init NAME NDISKS: the test's directory under build/ (the guest
# sees it through the 9p root), its root tree and NDISKS 64 MiB disks.
sd_host_init() {
	local i

	D=$(mktemp -d "$TOP/build/sd-$1.XXXXXX")
	TREE=$D/tree
	DISKS=()
	for i in $(seq 0 $(($2 - 1))); do
		truncate -s 64M "$D/disk$i"
		DISKS+=(--disk "$D/disk$i")
	done
	MPID=
	BOOTS=0
	trap sd_host_cleanup EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
	mkdir -p "$TREE"
}

sd_host_cleanup() {
	if [ -n "$MPID" ]; then
		kill -CONT -- "-$MPID" 2>/dev/null
		kill -TERM -- "-$MPID" 2>/dev/null
		for _ in $(seq 20); do
			kill -0 "$MPID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL -- "-$MPID" 2>/dev/null
		wait "$MPID" 2>/dev/null
	fi
	[ -n "${KEEP:-}" ] || rm -rf "$D"
}

# cmek_install TREE: cmek as a node gets it, from its Debian packages:
# the node's share of sd_pkg's install (dpkg's database, the files of
# cmek and cmek-dkms, DKMS's build of dm-cmek.ko for the VM's kernel with
# the modules.dep that finds it, cmekd.service enabled by the package's
# postinst) copied into TREE. The one place that knows how cmek gets onto
# the node; developers keep make install.
cmek_install() {
	sd_pkg && tar -x -f "$SD_PKG/node.tar" -C "$1"
}

# sd_pkg: SD_PKG, build/sd-pkg/KREL-VERSION, VERSION a hash of the files
# the packages are built from (git's list, untracked included, but
# tests/): make deb there and dpkg -i of both packages in a chroot over an
# overlay of / on the host (tests/lib/deb.sh, as tests/host/deb_vm.sh),
# its upper layer kept as node.tar; made once per tree version and kernel,
# then reused. dpkg and DKMS run on the host because under TCG a DKMS
# compile takes over five minutes and depmod over 9p minutes more
# (Documentation/testing.rst). SD_PKG_SECS: what this call took.
sd_pkg() {
	local c v kr t0=$SECONDS rc

	kr=$(deb_krel) || return 1
	v=$(cd "$TOP" && git ls-files -z -co --exclude-standard -- . ':(exclude)tests' |
		xargs -0 sha1sum 2>/dev/null | sha1sum | cut -c1-16)
	[ -n "$v" ] || return 1
	c=$TOP/build/sd-pkg/$kr-$v
	mkdir -p "$TOP/build/sd-pkg" || return 1
	(
		flock 9 || exit 1
		[ -e "$c/done" ] && exit 0
		rm -rf "$TOP"/build/sd-pkg/*-* && mkdir -p "$c" || exit 1
		make -s -C "$TOP" deb DEB_OUT="$c/debs" >"$c/deb.log" 2>&1 || {
			tail -n 20 "$c/deb.log" | sed 's/^/# make deb: /'
			exit 1
		}
		unshare -m --propagation private \
			bash "$TOP/tests/systemd/lib.sh" pkg-install "$c" "$kr" >"$c/install.out" 2>&1
		rc=$?
		sed 's/^/# /' "$c/install.out"
		[ "$rc" = 0 ] && : >"$c/done"
	) 9>"$TOP/build/sd-pkg/.lock" || return 1
	SD_PKG=$c
	SD_PKG_SECS=$((SECONDS - t0))
}

# sd_pkg_install DIR KREL (in a private mount namespace): dpkg -i of the
# packages in DIR/debs in a chroot over an overlay of /; DKMS must have
# built and installed dm-cmek.ko for KREL. Its upper layer, less dpkg's
# and man-db's caches and logs, becomes DIR/node.tar.
sd_pkg_install() {
	local c=$1 kr=$2 v arch ko

	v=$(dpkg-parsechangelog -l "$TOP/debian/changelog" -S Version)
	arch=$(dpkg --print-architecture)
	ko=/lib/modules/$kr/updates/dkms/dm-cmek.ko
	deb_root_up "$c" "$c/debs" || { echo "overlay of / for dpkg: mount failed"; return 1; }
	# man-db's trigger would index every manual page (a minute).
	rm -f "$R/var/lib/man-db/auto-update"
	timed "$c/dpkg.log" dpkg -i /debs/cmek-dkms_"${v}"_all.deb /debs/cmek_"${v}_$arch".deb ||
		return 1
	echo "dpkg -i cmek-dkms cmek $v: ${SECS} s, DKMS's build for $kr included"
	[ -s "$R$ko" ] || { echo "DKMS built no $ko"; return 1; }
	deb_upper_tar "$c" "$c/node.tar" ! -path './var/cache/*' ! -path './var/log/*' \
		! -name '*-old'
}

# sd_slow_node: under emulation on a loaded machine (other VMs on the
# same two CPUs) udev's coldplug has taken over 90 s, systemd's default
# wait for a device, and the boot went to emergency mode waiting for
# disks that were there: the node waits up to 5 minutes.
sd_slow_node() {
	mkdir -p "$TREE/etc/systemd/system.conf.d" &&
		printf '[Manager]\nDefaultTimeoutStartSec=300s\n' \
			>"$TREE/etc/systemd/system.conf.d/50-emulated.conf"
}

# sd_state_disk: /var/lib/cmek (cmekd's trust records and pending-mkfs
# records) on a disk file of its own, $D/state (ext4, made here), so that
# it outlives the node's tmpfs root across the lane's reboots as it does
# on a node's /. cmekd runs before local-fs-pre.target and an fstab
# line's mount is after it, so this is a mount unit without default
# dependencies, and cmekd.service requires it (RequiresMountsFor=): what
# a node whose /var/lib/cmek is not on / needs (cmek-host.rst).
sd_state_disk() {
	local n=$((${#DISKS[@]} / 2)) u=$TREE/etc/systemd/system

	truncate -s 16M "$D/state" && mkfs.ext4 -q -F -L cmek-state "$D/state" || return 1
	DISKS+=(--disk "$D/state")
	mkdir -p "$u/cmekd.service.d" || return 1
	cat >"$u/var-lib-cmek.mount" <<-EOF2
	[Unit]
	Description=cmek's state, on a disk of its own (the test node's / is a tmpfs)
	DefaultDependencies=no
	Conflicts=umount.target
	Before=umount.target

	[Mount]
	What=/dev/disk/by-id/virtio-cmek$n
	Where=/var/lib/cmek
	Type=ext4
	EOF2
	printf '[Unit]\nRequiresMountsFor=/var/lib/cmek\n' >"$u/cmekd.service.d/50-state-disk.conf"
}

# sd_trust_on_disk UUID...: the state disk's file system (read on the
# host, the node powered off) holds a trust record for each UUID.
sd_trust_on_disk() {
	local l u

	l=$(debugfs -R 'ls -l /trust' "$D/state" 2>/dev/null) || return 1
	for u in "$@"; do
		echo "$l" | grep -q -w -- "$u" || return 1
	done
}

# sd_moto_start: moto_server on a free loopback port ($PORT) with a
# certificate for 10.0.2.100 from a test CA ($D/ca.pem), as
# tests/host/aws_kms_vm.sh runs it. Its own process group ($MPID).
sd_moto_start() {
	local moto

	moto=${MOTO_SERVER:-$(command -v moto_server)}
	moto=${moto:-/root/.pyenv/shims/moto_server}
	if [ ! -x "$moto" ] || [ ! -x "$ADMIN" ] || [ ! -x "$MKCERT" ]; then
		echo "# moto_server ($moto) and build/helpers (make kselftest) needed"
		return 1
	fi
	"$MKCERT" "$D" moto IP:10.0.2.100 2>"$D/mkcert.err" || return 1
	if moto_up "$moto" "$D"; then
		echo "# moto_server up on 127.0.0.1:$PORT in $MOTO_MS ms"
		return 0
	fi
	tail -n 20 "$D/moto.log" | sed 's/^/# /'
	return 1
}

# The KMS down and back, as the guest sees it: while $D/kms.down exists,
# every guest connection to the forwarded port is accepted and never
# answered (tests/vm/run --guestfwd-down), so every call times out, a
# transient failure, and moto keeps running with its keys. Down is
# decided where the guest's connection enters the host, not by what the
# moto process does, so nothing can answer while down.
sd_kms_down() {
	: >"$D/kms.down" && echo "# KMS down for the guest at $(date +%T.%N)"
}
sd_kms_up() {
	rm -f "$D/kms.down" && echo "# KMS up for the guest at $(date +%T.%N)"
}

# sd_node_conf: the node's /etc/cmek: cmekd.conf with the local provider
# (a KEK made here) and aws-kms at the forwarded moto, its credentials
# and CA.
sd_node_conf() {
	local e=$TREE/etc/cmek

	mkdir -p "$e/keys"
	chmod 700 "$e" "$e/keys"
	CMEK_KEY_DIR=$e/keys "$TOP/build/cmekctl" kek create node >/dev/null 2>&1 || return 1
	install -m 0644 "$D/ca.pem" "$e/ca.pem"
	printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
		"$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >"$e/aws.credentials"
	chmod 600 "$e/aws.credentials"
	sd_cmekd_conf /run/cmek/cmekd.sock /var/lib/cmek /var/lib/cmek/trust /etc/cmek \
		>"$e/cmekd.conf"
	chmod 600 "$e/cmekd.conf"
}

# sd_cmekd_conf SOCKET STATE TRUST ETC: cmekd.conf for a node whose
# /etc/cmek is ETC.
sd_cmekd_conf() {
	cat <<-EOF2
	[daemon]
	socket = $1
	state_dir = $2
	trust_dir = $3
	key_dir = $4/keys

	[provider local]
	key_dir = $4/keys

	[provider aws-kms]
	endpoint = https://10.0.2.100
	region = us-east-1
	ca_file = $4/ca.pem
	credentials_file = $4/aws.credentials
	imds = no
	timeout = 5s
	EOF2
}

# sd_prep: one boot of the plain rig (busybox, no systemd) that makes a
# KMS key in moto and formats disk0 (local provider, KEK "node") and
# disk1 (aws-kms) with an ext4 inside each; sets UUID0, UUID1 and ARN.
sd_prep() {
	local rc

	"$TOP/tests/vm/run" --timeout 240 --guestfwd "$PORT" "${DISKS[@]}" \
		--log "$D/prep.console" -- /bin/bash "$TOP/tests/systemd/lib.sh" \
		prep "$D" >"$D/prep.out" 2>&1
	rc=$?
	BOOTS=$((BOOTS + 1))
	UUID0=$(sed -n 's/^SD-SET UUID0=//p' "$D/prep.out" | tr -d '\r')
	UUID1=$(sed -n 's/^SD-SET UUID1=//p' "$D/prep.out" | tr -d '\r')
	ARN=$(sed -n 's/^SD-SET ARN=//p' "$D/prep.out" | tr -d '\r')
	[ "$rc" = 0 ] && [ -n "$UUID0" ] && [ -n "$UUID1" ] && [ -n "$ARN" ] && return 0
	sed 's/^/# prep: /' "$D/prep.out" | tail -n 30
	return 1
}

# sd_volumes VOLOPTS1 FSTABOPTS1: /etc/cmek/volumes and /etc/fstab:
# "local" (disk0) at /srv/local before local-fs.target, "cloud" (disk1,
# aws-kms, _netdev plus VOLOPTS1) at /srv/cloud with FSTABOPTS1.
sd_volumes() {
	cat >"$TREE/etc/cmek/volumes" <<-EOF2
	# name  device       options
	local   UUID=$UUID0  -
	cloud   UUID=$UUID1  _netdev${1:+,$1}
	EOF2
	chmod 600 "$TREE/etc/cmek/volumes"
	cat >>"$TREE/etc/fstab" <<-EOF2
	/dev/mapper/local  /srv/local  ext4  defaults  0 2
	/dev/mapper/cloud  /srv/cloud  ext4  _netdev${2:+,$2}  0 2
	EOF2
}

# sd_boot N [ARGS...]: boot the node (systemd, the tree, the disks, moto
# forwarded) and run "$0 --guest DIR KTAP_N N ARGS..." in it; its TAP
# lines continue this stream's numbering. $D/bootN.out is its output.
#
# SD_ON_MARK=FUNCTION: FUNCTION runs here once the guest has printed a
# line "SD-MARK" (sd_mark), within a fifth of a second.
sd_boot() {
	local n=$1 rc t0=$SECONDS wpid=

	shift
	: >"$D/boot$n.out"
	if [ -n "${SD_ON_MARK:-}" ]; then
		(
			until grep -q '^SD-MARK' "$D/boot$n.out" 2>/dev/null; do
				sleep 0.2
			done
			"$SD_ON_MARK"
		) &
		wpid=$!
	fi
	"$TOP/tests/vm/run" --timeout "${SD_TIMEOUT:-480}" --systemd "$TREE" \
		--guestfwd "$PORT" --guestfwd-down "$D/kms.down" "${DISKS[@]}" \
		--log "$D/boot$n.console" -- \
		/bin/bash "$(cd "$(dirname "$0")" && pwd)/${0##*/}" --guest "$D" \
		"$KTAP_N" "$n" "$@" 2>&1 | tee "$D/boot$n.out"
	rc=${PIPESTATUS[0]}
	[ -z "$wpid" ] || { kill "$wpid" 2>/dev/null; wait "$wpid" 2>/dev/null; }
	BOOTS=$((BOOTS + 1))
	KTAP_N=$((KTAP_N + $(grep -E -c '^(not )?ok [0-9]+' "$D/boot$n.out")))
	KTAP_FAILED=$((KTAP_FAILED + $(grep -E -c '^not ok [0-9]+' "$D/boot$n.out")))
	ktap_check "boot $n: the node ran the test to its end and powered off (exit $rc, $((SECONDS - t0)) s)" \
		test "$rc" = 0
	if [ "$rc" != 0 ]; then
		sed 's/\x1b\[[0-9;]*[mK]//g' "$D/boot$n.console" | tail -n 25 | sed 's/^/# console: /'
	fi
}

# sd_node NAME: the five host steps every test of the lane starts with
# (five TAP lines): sd_node_tree's four, and the disks formatted. Ends
# the test if moto, cmek's install or the disks are not there.
sd_node() {
	sd_host_init "$1" 2
	sd_node_tree
	sd_must "disks formatted (local, aws-kms) with ext4 inside, in the plain rig" sd_prep
}

# sd_node_tree: the node's tree (four TAP lines): moto up, cmek
# installed, the state disk, the node's /etc.
sd_node_tree() {
	sd_must "moto_server answers on loopback" sd_moto_start
	sd_must "cmek installed into the node's tree from its packages (dpkg -i, DKMS)" \
		cmek_install "$TREE"
	ktap_diag "packages: $SD_PKG_SECS s (${SD_PKG##*/})"
	sd_base "$TREE"
	sd_slow_node
	ktap_check "/var/lib/cmek on a disk of its own (ext4), mounted before cmekd" sd_state_disk
	ktap_check "the node's /etc/cmek: a local KEK, aws-kms credentials and CA" sd_node_conf
}

# sd_must DESCRIPTION COMMAND...: a check the rest cannot do without; if
# it fails, the test ends there (its missed plan is one more failure).
sd_must() {
	local desc=$1

	shift
	if "$@"; then
		ktap_ok "$desc"
	else
		ktap_fail "$desc" "failed: $*"
		ktap_finish
	fi
}

# ---------------------------------------------------------------------------
# The guest side.
# ---------------------------------------------------------------------------

# The plain rig's boot that formats the disks (sd_prep).
sd_prep_guest() {
	local d=$1 p=/tmp/prep arn u0 u1 pid i

	mkdir -p "$p"
	chmod 700 "$p"
	modprobe -a virtio_net virtio_blk || return 1
	wait_until 10 test -e /sys/class/net/eth0 -a -b /dev/vda -a -b /dev/vdb || return 1
	ip link set lo up
	ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 || return 1
	export AWS_KMS_ENDPOINT=https://10.0.2.100
	# moto's first answer can take longer than aws_kms_admin waits on
	# a loaded host: three tries.
	for i in 1 2 3; do
		arn=$("$ADMIN" --ca-file "$d/ca.pem" CreateKey | awk '{ print $2 }')
		[ -z "$arn" ] || break
	done
	[ -n "$arn" ] || { echo "CreateKey failed"; return 1; }
	sd_cmekd_conf "$p/sock" "$p/state" "$p/trust" "$d/tree/etc/cmek" >"$p/cmekd.conf"
	chmod 600 "$p/cmekd.conf"
	export CMEK_SOCKET=$p/sock
	"$TOP/build/cmekd" -c "$p/cmekd.conf" --no-syslog >"$p/log" 2>&1 &
	pid=$!
	wait_until 10 "$TOP/build/helpers/cmekd_call" "$p/sock" '{"op":"ping"}' >/dev/null 2>&1 ||
		{ cat "$p/log"; return 1; }
	"$TOP/build/cmekctl" format /dev/vda --provider local --key node &&
	"$TOP/build/cmekctl" format /dev/vdb --provider aws-kms --key "$arn" &&
	"$TOP/build/cmekctl" open /dev/vda p0 && "$TOP/build/cmekctl" open /dev/vdb p1 &&
	mkfs.ext4 -q /dev/mapper/p0 && mkfs.ext4 -q /dev/mapper/p1 &&
	"$TOP/build/cmekctl" close p0 && "$TOP/build/cmekctl" close p1 ||
		{ tail -n 20 "$p/log"; return 1; }
	u0=$("$TOP/build/cmekctl" dump /dev/vda --json | jq -r .uuid)
	u1=$("$TOP/build/cmekctl" dump /dev/vdb --json | jq -r .uuid)
	kill "$pid"
	for i in u0 u1; do
		[ -n "${!i}" ] || return 1
	done
	echo "SD-SET UUID0=$u0"
	echo "SD-SET UUID1=$u1"
	echo "SD-SET ARN=$arn"
	sync
}

# sd_guest_end: the end of a guest part: cmekd's and the open units'
# journal if anything failed; exit status 0 only if nothing did.
sd_guest_end() {
	[ "$KTAP_FAILED" -eq 0 ] && exit 0
	journalctl -q -b --no-pager -o short-monotonic -u cmekd -u 'cmek-open-*' \
		-u 'srv-*.mount' | tail -n 40 | sed 's/^/# /'
	exit 1
}

# sd_mark: tell the host (SD_ON_MARK) that the guest is ready for it.
sd_mark() { echo "SD-MARK $*"; }

# In a node: the boot's verdict, as the issue states it.
sd_running() {
	SD_STATE=$(timeout "${1:-300}" systemctl is-system-running --wait 2>&1)
	[ "$SD_STATE" = running ]
}

sd_check_boot() {
	local cyc failed

	sd_running 300
	ktap_check "boot $1: systemctl is-system-running: running (got '$SD_STATE')" \
		test "$SD_STATE" = running
	failed=$(systemctl --failed --no-legend --plain 2>&1)
	ktap_check "boot $1: systemctl --failed lists nothing" test -z "$failed"
	[ -z "$failed" ] || echo "$failed" | sed 's/^/# /'
	cyc=$(journalctl -b --no-pager -o cat 2>&1 | grep -i -E 'ordering cycle|to break ordering')
	ktap_check "boot $1: no ordering cycle in the journal" test -z "$cyc"
	[ -z "$cyc" ] || echo "$cyc" | head -n 10 | sed 's/^/# /'
	if [ -n "$failed" ] || [ "$SD_STATE" != running ]; then
		systemctl list-jobs --no-pager 2>&1 | head -n 20 | sed 's/^/# jobs: /'
		journalctl -b --no-pager -p warning -o short-monotonic 2>&1 | tail -n 30 | sed 's/^/# /'
		for dev in /dev/vd?; do
			echo "# udev $dev: $(udevadm info --query=property "$dev" |
				grep -E '^(ID_FS_TYPE|CMEK_|DEVLINKS)' | tr '\n' ' ')"
		done
	fi
}

# sd_check_pkg N: cmek is on the node as its packages put it there (three
# TAP lines): dpkg has both installed; the dm_cmek running is DKMS's
# build: modinfo resolves the name to DKMS's file and the module's GNU
# build-id note in sysfs is that file's (Debian's kernel keeps no
# srcversion for a module without MODULE_VERSION); cmekd.service is
# enabled, and deb-systemd-helper's record says the package's postinst
# enabled it (the test enables nothing).
sd_check_pkg() {
	local ko st got id want en

	ko=/lib/modules/$(uname -r)/updates/dkms/dm-cmek.ko
	st=$(dpkg-query -W -f '${Package}=${Status}\n' cmek cmek-dkms 2>&1 | sort | tr '\n' ' ')
	ktap_check "boot $1: dpkg: $st" \
		test "$st" = "cmek-dkms=install ok installed cmek=install ok installed "
	got=$(modinfo -n dm_cmek 2>&1)
	id=$(od -An -tx1 -v -j16 /sys/module/dm_cmek/notes/.note.gnu.build-id 2>/dev/null | tr -d ' \n')
	want=$(readelf -n "$ko" 2>/dev/null | sed -n 's/^ *Build ID: //p')
	ktap_check "boot $1: the dm_cmek loaded is DKMS's build: modinfo -n $got, build-id ${id:-none} (the file's ${want:-none})" \
		test "$got" = "$ko" -a -n "$id" -a "$id" = "$want"
	en=$(systemctl is-enabled cmekd.service 2>&1)
	ktap_check "boot $1: cmekd.service $en, by the package's postinst (deb-systemd-helper's record)" \
		test "$en" = enabled -a -e /var/lib/systemd/deb-systemd-helper-enabled/cmekd.service.dsh-also
}

# sd_first_use: this boot's audit lines of volumes cmekd recorded as seen
# for the first time.
sd_first_use() {
	journalctl -b --no-pager -o cat 2>/dev/null | grep 'op=trust .*recorded=first-use'
}

# sd_trust_kept UUID...: each UUID's trust record was there before this
# boot (its "recorded" time is before the kernel started).
sd_trust_kept() {
	local u t bt

	bt=$(awk '/^btime/ { print $2 }' /proc/stat)
	for u in "$@"; do
		t=$(sed -n 's/.*"recorded": *\([0-9]*\).*/\1/p' "/var/lib/cmek/trust/$u" 2>/dev/null)
		echo "# trust record of $u: recorded ${t:-none}, this boot began $bt"
		[ -n "$t" ] && [ "$t" -lt "$bt" ] || return 1
	done
}

# sd_mounted MOUNTPOINT NAME: MOUNTPOINT is NAME's mapping, read-write.
sd_mounted() {
	[ "$(findmnt -n -o SOURCE "$1" 2>/dev/null)" = "/dev/mapper/$2" ] &&
		findmnt -n -o OPTIONS "$1" | grep -q -w rw
}

# sd_mount_s UNIT: seconds from the kernel's start to UNIT active.
sd_mount_s() {
	local us

	us=$(systemctl show -P ActiveEnterTimestampMonotonic "$1")
	awk -v u="${us:-0}" 'BEGIN { printf "%.1f", u / 1e6 }'
}

# cmekd logs each line once: through syslog only, none through the
# stdout stream, no line twice.
sd_check_cmekd_once() {
	local sys out dup

	sys=$(journalctl -b --no-pager -o cat _SYSTEMD_UNIT=cmekd.service _TRANSPORT=syslog | wc -l)
	out=$(journalctl -b --no-pager -o cat _SYSTEMD_UNIT=cmekd.service _TRANSPORT=stdout | wc -l)
	dup=$(journalctl -q -b --no-pager -o short-monotonic _SYSTEMD_UNIT=cmekd.service |
		sed 's/^\[[ 0-9.]*\] //' | sort | uniq -d)
	ktap_check "boot $1: cmekd logs each line once ($sys via syslog, $out via stdout, no line twice)" \
		test "$sys" -gt 0 -a "$out" = 0 -a -z "$dup"
	[ -z "$dup" ] || echo "$dup" | head -n 5 | sed 's/^/# twice: /'
}

if [ "${BASH_SOURCE[0]}" = "$0" ] && [ "${1:-}" = prep ]; then
	. "$TOP/tests/lib/ktap.sh"
	sd_prep_guest "$2"
	exit $?
fi
if [ "${BASH_SOURCE[0]}" = "$0" ] && [ "${1:-}" = pkg-install ]; then
	sd_pkg_install "$2" "$3"
	exit $?
fi
