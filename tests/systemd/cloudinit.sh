#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# First boot of a cloud node provisioned by cloud-init (TAP): Debian's
# cloud-init (the host's package) runs in the node with the NoCloud
# datasource, its seed an ISO 9660 disk labelled "cidata" made here with
# genisoimage, and as user data the example of
# Documentation/admin-guide/cmek-host.rst, read from that file between
# its "cloud-init-example" comments, so the documentation and the test
# cannot drift: write_files (cmekd.conf, /etc/cmek/volumes with
# format=local:data,mkfs=ext4 for the blank disk0), mounts (/srv/data)
# and runcmd (the KEK, daemon-reload, cmekd restarted, the volume's unit
# and the mount started). The node must come up clean (running, nothing
# failed, no ordering cycle), cloud-init done with no error, from
# NoCloud and without ever asking a metadata service (169.254.169.254),
# the blank disk provisioned under the local KEK and mounted on
# /srv/data, and a file written there must be on the mapping and not in
# the clear on the disk.
#
#   tests/systemd/cloudinit.sh           (root; make all tests, cloud-init
#                                         and genisoimage on the host)
#
# One boot: the node. No KMS on the host: the local provider is the
# node's own.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib/ktap.sh"
. "$TOP/tests/systemd/lib.sh"

DOC=$TOP/Documentation/admin-guide/cmek-host.rst
VOL_UUID=7c0e5f4a-2b1d-4e8f-9a3c-5d6e7f809a1b

# ci_logs: what cloud-init said, when something failed.
ci_logs() {
	cloud-init status --long 2>&1 | sed 's/^/# status: /'
	jq -c .v1 /run/cloud-init/status.json /run/cloud-init/result.json 2>&1 | sed 's/^/# /'
	grep -E 'WARNING|ERROR|Traceback' /var/log/cloud-init.log 2>/dev/null |
		tail -n 20 | sed 's/^/# cloud-init.log: /'
	tail -n 20 /var/log/cloud-init-output.log 2>/dev/null | sed 's/^/# output: /'
}

# ci_none_failed: status.json: the four stages Debian's units run
# (modules-init is part of init there) each finished, with no error;
# result.json, the final verdict: no error either.
ci_none_failed() {
	jq -e '.v1 | [."init-local", .init, ."modules-config", ."modules-final"] |
	       all(.finished != null and (.errors | length) == 0)' \
		/run/cloud-init/status.json >/dev/null &&
	jq -e '.v1.errors | length == 0' /run/cloud-init/result.json >/dev/null
}

if [ "${1:-}" = --guest ]; then
	KTAP_N=$3
	sd_check_boot 1
	st=$(timeout 300 cloud-init status --wait --long 2>&1)
	ktap_check "cloud-init status: done ($(echo "$st" | sed -n 's/^status: //p'))" \
		eval 'echo "$st" | grep -q -x "status: done"'
	ktap_check "cloud-init: every stage finished with no error (status.json, result.json), the config valid for its schema" \
		eval 'ci_none_failed && ! grep -q "Invalid cloud-config" /var/log/cloud-init.log'
	ktap_diag "cloud-init's warnings: $(grep -c "\[WARNING\]" /var/log/cloud-init.log)"
	ds=$(jq -r .v1.datasource /run/cloud-init/result.json 2>/dev/null)
	ktap_check "cloud-init's datasource: NoCloud, seeded from the cidata disk ($ds)" \
		eval '[[ "$ds" == "DataSourceNoCloud [seed=/dev/vdb]"* ]]'
	ktap_check "no metadata service asked: 169.254.169.254 nowhere in cloud-init's log" \
		eval '[ -s /var/log/cloud-init.log ] &&
		      ! grep -q "169\.254\.169\.254" /var/log/cloud-init.log /run/cloud-init/ds-identify.log'
	ktap_check "write_files: /etc/cmek/cmekd.conf and volumes, root's, mode 0600" \
		eval '[ "$(stat -c "%U %a" /etc/cmek/cmekd.conf /etc/cmek/volumes | sort -u)" = "root 600" ] &&
		      grep -q "format=local:data,mkfs=ext4" /etc/cmek/volumes'
	ktap_check "mounts: /dev/mapper/data on /srv/data in /etc/fstab" \
		eval 'grep -q "^/dev/mapper/data[[:space:]]\+/srv/data[[:space:]]\+ext4" /etc/fstab'
	ktap_check "runcmd: the KEK made on the node (/etc/cmek/keys/data.kek, 0600), cmekd enabled and active" \
		eval '[ "$(stat -c %a /etc/cmek/keys/data.kek)" = 600 ] &&
		      systemctl -q is-enabled cmekd.service && systemctl -q is-active cmekd.service'
	ktap_check "the blank disk provisioned by cmek-open-data.service (its journal says so)" \
		eval 'journalctl -q -b -u cmek-open-data.service -o cat |
		      grep -q "^data: provisioned blank /dev/vda as volume $VOL_UUID under local:data$"'
	hdr=$(cmekctl dump /dev/vda --json 2>/dev/null |
		jq -r '.uuid + " " + .slots[0].provider + ":" + .slots[0].key' 2>/dev/null)
	ktap_check "its header: volume $VOL_UUID (uuid= pinned), slot under local:data ($hdr)" \
		test "$hdr" = "$VOL_UUID local:data"
	ktap_check "/srv/data is /dev/mapper/data, ext4, read-write" \
		eval 'sd_mounted /srv/data data && [ "$(findmnt -n -o FSTYPE /srv/data)" = ext4 ]'
	token=cmek-cloudinit-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
	printf '%s\n' "$token" >/srv/data/token && sync -f /srv/data/token
	ktap_check "a file written on /srv/data is on the mapping, not in the clear on the disk" \
		eval 'grep -a -q "$token" /dev/mapper/data && ! grep -a -q "$token" /dev/vda'
	ktap_diag "cloud-init stages (s): $(jq -r '.v1 | [to_entries[] |
		select(.value | type == "object" and .start != null and .finished != null) |
		"\(.key)=\(.value.finished - .value.start | floor)"] | join(" ")' \
		/run/cloud-init/status.json 2>/dev/null)"
	ktap_diag "/srv/data mounted at $(sd_mount_s srv-data.mount) s, cloud-final done at" \
		"$(sd_mount_s cloud-final.service) s; $(systemd-analyze 2>/dev/null | head -n1)"
	[ "$KTAP_FAILED" -eq 0 ] || ci_logs
	sd_guest_end
fi

# ci_user_data FILE: the literal block of cmek-host.rst between the
# cloud-init-example comments, unindented.
ci_user_data() {
	awk '/^\.\. cloud-init-example-begin/ { on = 1; next }
	     /^\.\. cloud-init-example-end/ { on = 0 }
	     on && /^    / { for (; held > 0; held--) print ""; print substr($0, 5); n++; next }
	     on && /^$/ && n { held++ }' "$DOC" >"$1" || return 1
	[ "$(head -n1 "$1")" = "#cloud-config" ] || { echo "# no #cloud-config block in $DOC"; return 1; }
	# cloud-init's own schema check of the user data.
	cloud-init schema --config-file "$1" >"$D/schema.out" 2>&1 ||
		{ sed 's/^/# schema: /' "$D/schema.out"; return 1; }
}

# ci_seed: the NoCloud seed, an ISO 9660 image labelled cidata with
# user-data and meta-data at its root, attached as the second disk.
ci_seed() {
	local s=$D/seed

	mkdir -p "$s"
	ci_user_data "$s/user-data" || return 1
	printf 'instance-id: cmek-node-%s\nlocal-hostname: cmek-node\n' \
		"$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')" >"$s/meta-data"
	genisoimage -quiet -output "$D/seed.iso" -volid cidata -joliet -rock \
		"$s/user-data" "$s/meta-data" || return 1
	DISKS+=(--disk "$D/seed.iso")
}

# ci_tree: cloud-init enabled in this node only (sd_base disables it),
# with the settings an image ships in /etc/cloud/cloud.cfg.d: NoCloud
# its only datasource, so that neither ds-identify nor cloud-init looks
# for a metadata service; the network the node's own (sd_base's
# systemd-networkd file), not one cloud-init renders; C.UTF-8 (cloud-init's
# default en_US.UTF-8 is not in the host's /etc/locale.gen, and Debian's
# locale-gen makes only what that lists: the locale module would fail);
# one SSH host key type, ed25519 (RSA takes seconds under emulation).
ci_tree() {
	rm -f "$TREE/etc/cloud/cloud-init.disabled"
	mkdir -p "$TREE/etc/cloud/cloud.cfg.d"
	cat >"$TREE/etc/cloud/cloud.cfg.d/90-cmek-test.cfg" <<-EOF2
	datasource_list: [ NoCloud ]
	network: {config: disabled}
	locale: C.UTF-8
	ssh_genkeytypes: [ ed25519 ]
	EOF2
}

cd "$TOP" || exit 1
ktap_plan 18
sd_host_init cloudinit 1
sd_must "cloud-init and genisoimage on the host (.ci/deps)" \
	eval 'command -v cloud-init >/dev/null && command -v genisoimage >/dev/null'
ktap_check "cmek installed into the node's tree" cmek_install "$TREE"
sd_base "$TREE"
ci_tree
sd_must "NoCloud seed: cmek-host.rst's example as user data, valid for cloud-init's schema, on an ISO labelled cidata" \
	ci_seed
# The node's NIC, so that network-online.target (which cloud-init's
# stages want) is reached as on a node; nothing in this test connects
# out, and nothing listens on this port.
PORT=9
# cloud-init's four stages, each a Python start under emulation, on top
# of the lane's usual boot.
SD_TIMEOUT=900 sd_boot 1
ktap_diag "wall time $SECONDS s, $BOOTS boot"
ktap_finish
