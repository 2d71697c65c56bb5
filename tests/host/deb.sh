#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make deb (TAP): builds cmek and cmek-dkms into build/deb, lintian finds
# nothing at its default level (no E: or W: tags; an override needs a
# written reason in debian/*.lintian-overrides), and the packages hold
# what make install and make dkms-install lay out, at Debian 12's paths,
# with /etc/cmek's files as conffiles and DKMS's maintainer scripts.
#   tests/host/deb.sh

set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib/ktap.sh"
cd "$TOP" || exit 1
T=$(mktemp -d /tmp/cmek_deb.XXXXXX)
trap 'rm -rf "$T"' EXIT
O=$TOP/build/deb
V=$(dpkg-parsechangelog -S Version)
ARCH=$(dpkg --print-architecture)
DEB=$O/cmek_${V}_$ARCH.deb
DKMS_DEB=$O/cmek-dkms_${V}_all.deb

ktap_plan 10

t0=$(date +%s)
make -s deb > "$T/build.log" 2>&1
rc=$?
ktap_check "make deb ($(($(date +%s) - t0))s): cmek_${V}_$ARCH.deb, cmek-dkms_${V}_all.deb in build/deb" \
	test $rc = 0 -a -s "$DEB" -a -s "$DKMS_DEB"
[ $rc = 0 ] || tail -n 30 "$T/build.log" | sed 's/^/# /'

lintian --fail-on none "$O"/cmek_"${V}"_"$ARCH".changes > "$T/lintian.log" 2>&1
ktap_check "lintian: no E: or W: tags" test -z "$(grep -E '^[EW]: ' "$T/lintian.log")"
grep -E '^[EW]: ' "$T/lintian.log" | head -n 20 | sed 's/^/# /'
bad=
for f in debian/*lintian-overrides; do
	[ -e "$f" ] || continue
	# Every override follows a comment that says why.
	awk '/^#/ { why = 1; next } /^[^#[:space:]]/ && !why { print FILENAME ": " $0 } { why = 0 }' "$f"
done > "$T/overrides"
ktap_check "every lintian override has a written reason" test ! -s "$T/overrides"

dpkg-deb -c "$DEB" | awk '{ print $6 }' | sed 's|^\./|/|' > "$T/cmek.files"
dpkg-deb -c "$DKMS_DEB" | awk '{ print $6 }' | sed 's|^\./|/|' > "$T/dkms.files"
missing=
for f in /usr/sbin/cmekctl /usr/sbin/cmekd /lib/systemd/system/cmekd.service \
	 /lib/systemd/system-generators/cmek-generator /lib/udev/rules.d/61-cmek.rules \
	 /usr/share/man/man8/cmekctl.8.gz /usr/share/man/man8/cmekd.8.gz \
	 /usr/share/man/man8/cmek-generator.8.gz /usr/share/man/man5/cmekd.conf.5.gz \
	 /etc/cmek/cmekd.conf /etc/cmek/cmekd.conf.example \
	 /usr/share/doc/cmek/copyright /usr/share/doc/cmek/cmek-packages.rst.gz; do
	grep -qx "$f" "$T/cmek.files" || missing="$missing $f"
done
ktap_check "cmek holds the programs, units, generator, rules, man pages, docs${missing:+ (missing:$missing)}" \
	test -z "$missing"

# make install's list, at the package's paths: nothing more, nothing less.
make -s install DESTDIR="$T/inst" PREFIX=/usr UDEVRULESDIR=/lib/udev/rules.d \
	SYSTEMDUNITDIR=/lib/systemd/system SYSTEMDGENERATORDIR=/lib/systemd/system-generators \
	> "$T/install.log" 2>&1
(cd "$T/inst" && find . -type f | sed 's|^\.||; s|/man/man\([58]\)/\(.*\)|/man/man\1/\2.gz|') |
	sort > "$T/install.files"
grep -v -e '/$' -e '^/usr/share/doc/' "$T/cmek.files" | sort > "$T/pkg.files"
ktap_check "cmek's files outside /usr/share/doc are make install's" \
	diff -u "$T/install.files" "$T/pkg.files"

dpkg-deb -f "$DEB" Depends > "$T/depends"
ktap_check "cmek depends on the libraries it links ($(tr -d '\n' < "$T/depends" | cut -c1-60)...)" \
	sh -c "grep -q libcurl4 '$T/depends' && grep -q libdevmapper '$T/depends' && grep -q libjson-c '$T/depends'"
dpkg-deb --ctrl-tarfile "$DEB" | tar -x -O ./conffiles > "$T/conffiles"
ktap_check "conffiles: /etc/cmek/cmekd.conf and its example" \
	test "$(sort "$T/conffiles" | tr '\n' ' ')" = "/etc/cmek/cmekd.conf /etc/cmek/cmekd.conf.example "

src=/usr/src/dm-cmek-$V
missing=
for f in $src/dkms.conf $src/Kbuild $src/include/uapi/linux/dm-cmek.h \
	 $(cd "$TOP" && ls kernel/*.[ch] | sed "s|^|$src/|"); do
	grep -qx "$f" "$T/dkms.files" || missing="$missing $f"
done
ktap_check "cmek-dkms holds the module source in $src${missing:+ (missing:$missing)}" \
	test -z "$missing"
dpkg-deb --fsys-tarfile "$DKMS_DEB" | tar -x -O ".$src/dkms.conf" > "$T/dkms.conf"
ktap_check "its dkms.conf: dm-cmek, version $V, built in place for each kernel" \
	sh -c "grep -qx 'PACKAGE_NAME=\"dm-cmek\"' '$T/dkms.conf' &&
	       grep -qx 'PACKAGE_VERSION=\"$V\"' '$T/dkms.conf' &&
	       grep -qx 'AUTOINSTALL=\"yes\"' '$T/dkms.conf'"
dpkg-deb --ctrl-tarfile "$DKMS_DEB" | tar -x -O ./postinst ./prerm > "$T/scripts" 2>/dev/null
ktap_check "cmek-dkms: DKMS builds at configure, removes at prerm; depends on dkms" \
	sh -c "grep -q 'common.postinst' '$T/scripts' && grep -q 'dkms remove -m \$DKMS_NAME' '$T/scripts' &&
	       dpkg-deb -f '$DKMS_DEB' Depends | grep -q '^dkms'"
ktap_finish
