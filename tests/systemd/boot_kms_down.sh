#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A node boots while its network KMS is down (TAP): "cloud" (aws-kms,
# _netdev,nofail in /etc/cmek/volumes; nofail and
# x-systemd.wanted-by=dev-mapper-cloud.device in /etc/fstab) cannot open,
# the KMS being down for the guest (sd_kms_down: its connections are
# accepted on the host and never answered, so every call times out, a
# transient failure, and moto keeps its keys). The boot must complete all the same
# (running, nothing failed, "local" mounted) while the open retries; then
# the host brings the KMS back (sd_kms_up) and, with no operator action, the volume
# opens and /srv/cloud is mounted within one retry interval (the last
# "will try again in N s" of cmekctl, plus the attempt and the mount
# under emulation).
#
#   tests/systemd/boot_kms_down.sh       (root; moto_server, make all tests)
#
# Two boots: the plain rig formats the disks, then the node boots.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib/ktap.sh"
. "$TOP/tests/systemd/lib.sh"

# Under emulation an aws-kms attempt is a TLS handshake and a call (1 to 2
# s), the mount a fsck and a mount: on top of the retry interval.
SLACK_S=15

if [ "${1:-}" = --guest ]; then
	KTAP_N=$3
	sd_check_boot 1
	ktap_check "boot 1: /srv/local mounted (its KMS is local)" sd_mounted /srv/local local
	# The boot can be running before the first attempt has failed: one
	# attempt is cmekd's aws-kms call, itself up to four tries of
	# timeout (5 s) within 30 s, so cmekctl says "will try again" only
	# then. Wait for that (bounded by cmekctl's 120 s per call), not for
	# a boot that happened to be slower.
	t0=$(now_ms)
	until journalctl -q -b -u cmek-open-cloud -o cat | grep -q "will try again" ||
	      [ $(($(now_ms) - t0)) -gt 150000 ]; do
		sleep 1
	done
	ktap_diag "first failed attempt logged $(($(now_ms) - t0)) ms after running"
	st=$(systemctl show -P ActiveState cmek-open-cloud.service)
	ktap_check "boot 1: /srv/cloud not mounted, cmek-open-cloud still retrying ($st)" \
		eval '! findmnt /srv/cloud >/dev/null && [ "$st" = active ] &&
		      journalctl -q -b -u cmek-open-cloud -o cat | grep -q "will try again"'
	journalctl -q -b -u cmek-open-cloud -o short-monotonic | tail -n 8 | sed 's/^/# /'
	# The interval cmekctl is sleeping when the KMS comes back.
	iv=$(journalctl -q -b -u cmek-open-cloud -o cat | sed -n 's/.*will try again in \([0-9]*\) s.*/\1/p' | tail -n1)
	t0=$(now_ms)
	sd_mark kms-up
	wait_until $((${iv:-60} + SLACK_S + 30)) sd_mounted /srv/cloud cloud
	ms=$(($(now_ms) - t0))
	ktap_check "KMS back: /srv/cloud mounted ${ms} ms later, no operator action (bound: retry interval ${iv:-?} s + ${SLACK_S} s)" \
		eval 'sd_mounted /srv/cloud cloud && [ -n "$iv" ] && [ $ms -le $(( (iv + SLACK_S) * 1000 )) ]'
	failed=$(systemctl --failed --no-legend --plain)
	ktap_check "afterwards: systemctl --failed still lists nothing, state $(systemctl is-system-running)" \
		test -z "$failed" -a "$(systemctl is-system-running)" = running
	[ -z "$failed" ] || echo "$failed" | sed 's/^/# /'
	sd_guest_end
fi

cd "$TOP" || exit 1
ktap_plan 14
sd_node kmsdown
sd_volumes nofail "nofail,x-systemd.wanted-by=dev-mapper-cloud.device"
ktap_check "the KMS down for the guest for the boot (no connection answered)" sd_kms_down
SD_ON_MARK=sd_kms_up sd_boot 1
ktap_diag "wall time $SECONDS s, $BOOTS boots"
ktap_finish
