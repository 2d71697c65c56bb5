#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# cmek-vm-job.service (tests/vm/run --systemd): run the job the host wrote,
# as root in the repository, once the boot's transaction has been queued;
# report its exit status on the result port (ttyS2) and power off cleanly,
# so that the disks see a real shutdown before the next boot.

for arg in $(cat /proc/cmdline); do
	case "$arg" in
	cmek.job=*) job=${arg#cmek.job=} ;;
	cmek.repo=*) repo=${arg#cmek.repo=} ;;
	esac
done

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb LANG=C.UTF-8
out=/dev/ttyS1
stty -F $out raw -echo 2>/dev/null
stty -F /dev/ttyS2 raw -echo 2>/dev/null

rc=125
if cd "${repo:-/nonexistent}" && [ -n "${job:-}" ]; then
	setsid bash "$job" < /dev/null > $out 2>&1
	rc=$?
else
	echo "cmek-vm: no cmek.job= or cmek.repo= on the kernel command line" > $out
fi
echo "CMEK-VM-RESULT $rc" > /dev/ttyS2
sync
systemctl poweroff
