#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host-side checks of the host integration (TAP): make install into a
# DESTDIR lays out the expected files (and keeps an existing cmekd.conf),
# the installed generator writes SBINDIR's cmekctl into its units (the
# generated units themselves: tests/host/boot.sh), cmekd.service passes
# systemd-analyze verify, the man pages render
# without groff warnings, dkms.conf names the module.
#   tests/host/install.sh

set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib/ktap.sh"
cd "$TOP" || exit 1
T=$(mktemp -d /tmp/cmek_install.XXXXXX)
trap 'rm -rf "$T"' EXIT

ktap_plan 8

make -s install DESTDIR="$T/root" PREFIX=/usr >"$T/make.log" 2>&1
ktap_check "make install DESTDIR= PREFIX=/usr" test $? = 0
missing=
for f in usr/sbin/cmekctl usr/sbin/cmekd usr/lib/udev/rules.d/61-cmek.rules \
	 usr/lib/systemd/system/cmekd.service \
	 usr/lib/systemd/system-generators/cmek-generator \
	 usr/share/man/man8/cmekctl.8 usr/share/man/man8/cmekd.8 \
	 usr/share/man/man8/cmek-generator.8 \
	 usr/share/man/man5/cmekd.conf.5 etc/cmek/cmekd.conf \
	 etc/cmek/cmekd.conf.example; do
	[ -e "$T/root/$f" ] || missing="$missing $f"
done
ktap_check "installed files present${missing:+ (missing:$missing)}" test -z "$missing"
mkdir -p "$T/gen"
printf 'data /dev/sdx -\n' >"$T/volumes" && chmod 600 "$T/volumes"
CMEK_VOLUMES=$T/volumes "$T/root/usr/lib/systemd/system-generators/cmek-generator" \
	"$T/gen" "$T/gen" "$T/gen" 2>>"$T/make.log"
ktap_check "installed paths point at SBINDIR (udev rules, generated units)" \
	sh -c "grep -q '/usr/sbin/cmekctl probe' '$T/root/usr/lib/udev/rules.d/61-cmek.rules' &&
	       grep -q '^ExecStart=/usr/sbin/cmekctl open-listed --name data' '$T/gen/cmek-open-data.service'"

echo "# mine" >"$T/root/etc/cmek/cmekd.conf"
make -s install DESTDIR="$T/root" PREFIX=/usr >>"$T/make.log" 2>&1
ktap_check "an existing cmekd.conf is not overwritten" \
	grep -qx "# mine" "$T/root/etc/cmek/cmekd.conf"

make -s install DESTDIR="$T/local" >>"$T/make.log" 2>&1
ktap_check "default PREFIX=/usr/local" test -x "$T/local/usr/local/sbin/cmekctl"

if command -v systemd-analyze >/dev/null; then
	# verify resolves ExecStart= paths: point them at the DESTDIR copies.
	mkdir -p "$T/units"
	for u in systemd/*.service; do
		sed "s|/usr/sbin/|$T/root/usr/sbin/|g" "$u" >"$T/units/${u##*/}"
	done
	out=$(cd "$T/units" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify \
		--man=no ./cmekd.service 2>&1)
	ktap_check "systemd-analyze verify: no complaint" test -z "$out"
	[ -n "$out" ] && echo "$out" | sed 's/^/# /'
else
	echo "ok $((KTAP_N += 1)) # SKIP systemd-analyze not installed"
fi

if command -v groff >/dev/null; then
	out=$(for m in man/*.[58]; do groff -man -Tutf8 -ww -z "$m" 2>&1; done)
	ktap_check "man pages render without groff warnings" test -z "$out"
	[ -n "$out" ] && echo "$out" | sed 's/^/# /'
else
	echo "ok $((KTAP_N += 1)) # SKIP groff not installed"
fi

ktap_check "dkms.conf names dm-cmek, /updates/dkms, AUTOINSTALL, M=" \
	sh -c 'grep -q "^PACKAGE_NAME=\"dm-cmek\"" dkms.conf &&
	       grep -q "^BUILT_MODULE_NAME\[0\]=\"dm-cmek\"" dkms.conf &&
	       grep -q "DEST_MODULE_LOCATION\[0\]=\"/updates/dkms\"" dkms.conf &&
	       grep -q "^AUTOINSTALL=\"yes\"" dkms.conf && grep -q "M=" dkms.conf'
[ "$KTAP_FAILED" -ne 0 ] && sed 's/^/# make: /' "$T/make.log" | tail -20
ktap_finish
