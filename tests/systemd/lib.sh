# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Sourced by tests/systemd/*.sh: the root tree a systemd boot of the VM
# copies over the host's (tests/vm/run --systemd TREE), cmek's install
# into it, disks, and the host's KMS.

TOP=${TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}

# sd_base TREE: what makes the host's root a small node: its own
# machine-id and hostname, multi-user.target, the network on the one NIC
# (systemd-networkd, the address tests/vm/run's --guestfwd expects), and
# the host's own services that have no business in a test node masked.
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
		 serial-getty@ttyS0.service systemd-timesyncd.service \
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
}
