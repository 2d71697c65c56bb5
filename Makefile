# SPDX-License-Identifier: GPL-2.0
#
# make            build dm-cmek.ko and the userspace programs
# make check      static checks, host unit tests, VM tests; ends "N passed, N failed"
# make demo       the end-to-end demo in a VM with the local key provider
# make bench      dm-cmek vs dm-crypt vs the raw cipher, in a VM
#
# The module builds against the newest /lib/modules/*/build (the Debian
# kernel the VM boots), not the host's running kernel. Override with
# KERNELRELEASE= or KDIR=.

KERNELRELEASE ?= $(shell for d in $$(ls -1 /lib/modules 2>/dev/null | sort -V); do \
			[ -e /lib/modules/$$d/build/Makefile ] && echo $$d; done | tail -n1)
KDIR ?= /lib/modules/$(KERNELRELEASE)/build
export KERNELRELEASE KDIR

B := build
CC ?= cc
PKGS := libmnl json-c libcrypto libssl libcurl devmapper blkid
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS ?= -O2 -g
WFLAGS := -Wall -Wextra -Werror -Wno-unused-parameter
CPPFLAGS += -Iinclude/uapi -Iuserspace/lib -Iuserspace/providers -D_GNU_SOURCE
ALL_CFLAGS = $(CPPFLAGS) $(WFLAGS) $(CFLAGS) $(PKG_CFLAGS) -std=gnu11 -MMD -MP
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

LIB_SRC := $(wildcard userspace/lib/*.c userspace/providers/*.c)
CMEKCTL_SRC := $(wildcard userspace/cmekctl/*.c)
CMEKD_SRC := $(wildcard userspace/cmekd/*.c)
GEN_SRC := $(wildcard userspace/generator/*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
KSFT_SRC := $(wildcard tests/kselftest/*.c)
HELPER_SRC := $(wildcard tests/helpers/*.c)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
# Test-only KMS servers (tests/kms/), linked into every host unit test.
KMS_SRC := $(wildcard tests/kms/*.c)
KMS_SAN_OBJ := $(KMS_SRC:%.c=$(B)/san/%.o)

LIB_OBJ := $(LIB_SRC:%.c=$(B)/obj/%.o)
LIB_SAN_OBJ := $(LIB_SRC:%.c=$(B)/san/%.o)
LIB := $(B)/libcmek.a
LIB_SAN := $(B)/libcmek-san.a

PROGS := $(if $(CMEKCTL_SRC),$(B)/cmekctl) $(if $(CMEKD_SRC),$(B)/cmekd) \
	$(if $(GEN_SRC),$(B)/cmek-generator)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/unit/%)
KSFT_BIN := $(KSFT_SRC:tests/kselftest/%.c=$(B)/kselftest/%)
HELPER_BIN := $(HELPER_SRC:tests/helpers/%.c=$(B)/helpers/%)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(B)/fuzz/%)

.PHONY: all module userspace tests unit kselftest fuzz check demo bench clean \
	install dkms-install deb test-modules provider-settings-doc
all: module userspace

module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

# Test-only kernel modules (tests/kmod/) that VM tests load; never installed.
test-modules:
	$(MAKE) -C $(KDIR) M=$(CURDIR)/tests/kmod modules

userspace: $(PROGS)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/san/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIB_SAN): $(LIB_SAN_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(B)/cmekctl: $(CMEKCTL_SRC:%.c=$(B)/obj/%.o) $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(B)/cmekd: $(CMEKD_SRC:%.c=$(B)/obj/%.o) $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

$(B)/cmek-generator: $(GEN_SRC:%.c=$(B)/obj/%.o) $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# The providers' settings reference, generated from their declared tables
# (struct cmek_setting); tests/unit/test_settings.c checks the committed
# copy against them.
SETTINGS_RST := Documentation/admin-guide/cmek-provider-settings.rst
$(B)/provider-settings: $(B)/obj/userspace/docgen/provider_settings.o $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

provider-settings-doc: $(B)/provider-settings
	$(B)/provider-settings > $(SETTINGS_RST).tmp && mv $(SETTINGS_RST).tmp $(SETTINGS_RST)

# Host unit tests: ASan + UBSan, one binary per tests/unit/test_*.c.
$(B)/unit/%: $(B)/san/tests/unit/%.o $(KMS_SAN_OBJ) $(LIB_SAN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN_FLAGS) -o $@ $^ $(PKG_LIBS) -lpthread
# cmekd's own files, all but main(), for the tests of its volume logic.
CMEKD_SAN_OBJ := $(filter-out $(B)/san/userspace/cmekd/main.o,\
	$(CMEKD_SRC:%.c=$(B)/san/%.o))
$(B)/unit/test_cmekd: $(B)/san/tests/unit/test_cmekd.o $(CMEKD_SAN_OBJ) \
		$(KMS_SAN_OBJ) $(LIB_SAN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN_FLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

# The kselftest harness and checkpatch come from Debian's linux-source-6.1,
# extracted on demand; no kernel source is kept in this tree.
KSRC_TAR ?= $(firstword $(wildcard /usr/src/linux-source-6.1.tar.xz))
KSFT_HDRS := $(B)/ksft/kselftest_harness.h $(B)/ksft/kselftest.h
LINT := $(B)/lint/scripts/checkpatch.pl

$(KSFT_HDRS):
	@test -n "$(KSRC_TAR)" || { echo "linux-source-6.1 is not installed" >&2; exit 1; }
	@mkdir -p $(B)/ksft
	tar -xJf $(KSRC_TAR) -C $(B)/ksft --strip-components=4 \
		linux-source-6.1/tools/testing/selftests/kselftest_harness.h \
		linux-source-6.1/tools/testing/selftests/kselftest.h
	@touch $(KSFT_HDRS)

$(LINT):
	@test -n "$(KSRC_TAR)" || { echo "linux-source-6.1 is not installed" >&2; exit 1; }
	@mkdir -p $(B)/lint
	tar -xJf $(KSRC_TAR) -C $(B)/lint --strip-components=1 \
		linux-source-6.1/scripts/checkpatch.pl \
		linux-source-6.1/scripts/spelling.txt \
		linux-source-6.1/scripts/const_structs.checkpatch
	@touch $@

# Kernel-facing tests: run in the VM, not sanitized (the guest is slow enough).
$(B)/kselftest/%: tests/kselftest/%.c $(wildcard tests/kselftest/*.h) $(KSFT_HDRS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -I$(B)/ksft -I$(B)/gen $(CFLAGS) $(PKG_CFLAGS) -Wall -Wextra -Werror \
		-Wno-unused-parameter -Wno-sign-compare -o $@ $< $(LIB) $(PKG_LIBS) -lpthread

# nl_proto checks the module against the family's YNL spec.
$(B)/gen/cmek_spec.h: Documentation/netlink/specs/cmek.yaml tests/kselftest/spec2h.sh
	@mkdir -p $(dir $@)
	bash tests/kselftest/spec2h.sh $< > $@.tmp && mv $@.tmp $@
$(B)/kselftest/nl_proto: $(B)/gen/cmek_spec.h

# Programs the VM tests call (never installed: cmek_unwrap prints a DEK).
# They may use the test KMS code (mkcert: fakesrv's certificates), linked
# unsanitized from an archive so that only what a helper uses goes in.
KMS_LIB := $(B)/libkmstest.a
$(KMS_LIB): $(KMS_SRC:%.c=$(B)/obj/%.o)
	rm -f $@ && ar rcs $@ $^

.SECONDARY: $(HELPER_SRC:%.c=$(B)/obj/%.o)
$(B)/helpers/%: $(B)/obj/tests/helpers/%.o $(KMS_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

# libFuzzer targets (clang): the header decoder and the config parser.
FUZZ_CC ?= clang
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -g -O1
FUZZ_LIB := $(B)/fuzz/libcmek.a

$(B)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(WFLAGS) $(PKG_CFLAGS) -std=gnu11 -MMD -MP \
		$(FUZZ_SAN) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_LIB): $(LIB_SRC:%.c=$(B)/fuzz/obj/%.o)
	rm -f $@ && ar rcs $@ $^

$(B)/fuzz/%: $(B)/fuzz/obj/tests/fuzz/%.o $(FUZZ_LIB)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS)

.SECONDARY: $(FUZZ_SRC:%.c=$(B)/fuzz/obj/%.o)

unit: $(UNIT_BIN)
kselftest: $(KSFT_BIN) $(HELPER_BIN) test-modules
fuzz: $(FUZZ_BIN)
tests: unit kselftest fuzz $(LINT)

# The build itself is the suite's first test, so a broken build still ends
# with the "N passed, N failed" line.
check:
	tests/check.sh

demo: all
	@test -x tests/demo.sh || { echo "tests/demo.sh is missing" >&2; exit 1; }
	tests/vm/run --timeout 600 -- tests/demo.sh

bench: all
	tests/bench/bench.sh

-include $(LIB_OBJ:.o=.d) $(LIB_SAN_OBJ:.o=.d)
-include $(CMEKCTL_SRC:%.c=$(B)/obj/%.d) $(CMEKD_SRC:%.c=$(B)/obj/%.d) $(HELPER_SRC:%.c=$(B)/obj/%.d) \
	$(GEN_SRC:%.c=$(B)/obj/%.d) \
	$(LIB_SRC:%.c=$(B)/fuzz/obj/%.d) $(FUZZ_SRC:%.c=$(B)/fuzz/obj/%.d) $(UNIT_SRC:tests/unit/%.c=$(B)/san/tests/unit/%.d) \
	$(KMS_SAN_OBJ:.o=.d) $(KMS_SRC:%.c=$(B)/obj/%.d) $(CMEKD_SAN_OBJ:.o=.d)

# make install [DESTDIR=] [PREFIX=/usr/local] [SBINDIR=] ...: the programs,
# udev rules, systemd units, man pages, and /etc/cmek/cmekd.conf unless one
# exists. Documentation/admin-guide/cmek-host.rst.
PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
UDEVRULESDIR ?= $(PREFIX)/lib/udev/rules.d
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSTEMDGENERATORDIR ?= $(PREFIX)/lib/systemd/system-generators
SYSCONFDIR ?= /etc
DKMS_VERSION := $(shell sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' dkms.conf)

install: userspace
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(UDEVRULESDIR) \
		$(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSTEMDGENERATORDIR)
	install -d -m 0700 $(DESTDIR)$(SYSCONFDIR)/cmek
	install -m 0755 $(B)/cmekctl $(B)/cmekd $(DESTDIR)$(SBINDIR)/
	# The generator writes cmekctl's path into the units: built for SBINDIR.
	$(CC) $(CPPFLAGS) $(WFLAGS) $(CFLAGS) $(PKG_CFLAGS) -std=gnu11 $(LDFLAGS) \
		-DCMEK_SBINDIR='"$(SBINDIR)"' -o $(B)/cmek-generator.install \
		$(GEN_SRC) $(LIB) $(PKG_LIBS)
	install -m 0755 $(B)/cmek-generator.install \
		$(DESTDIR)$(SYSTEMDGENERATORDIR)/cmek-generator
	sed 's|/usr/sbin/cmekctl|$(SBINDIR)/cmekctl|g' udev/61-cmek.rules \
		>$(DESTDIR)$(UDEVRULESDIR)/61-cmek.rules
	for u in systemd/*.service; do \
		sed 's|/usr/sbin/|$(SBINDIR)/|g' $$u \
			>$(DESTDIR)$(SYSTEMDUNITDIR)/$${u##*/} || exit 1; \
	done
	chmod 0644 $(DESTDIR)$(UDEVRULESDIR)/61-cmek.rules $(DESTDIR)$(SYSTEMDUNITDIR)/*.service
	install -m 0644 man/*.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 man/*.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0600 etc/cmekd.conf $(DESTDIR)$(SYSCONFDIR)/cmek/cmekd.conf.example
	test -e $(DESTDIR)$(SYSCONFDIR)/cmek/cmekd.conf || \
		install -m 0600 etc/cmekd.conf $(DESTDIR)$(SYSCONFDIR)/cmek/cmekd.conf

# DKMS: sources to /usr/src/dm-cmek-VERSION (DKMS_VERSION=, default
# dkms.conf's; the Debian package passes its own version), then add, build, install for
# KERNELRELEASE (the running kernel may have no headers, as on the build
# hosts; DKMS's own autoinstall takes care of kernels installed later).
dkms-install:
	install -d $(DESTDIR)/usr/src/dm-cmek-$(DKMS_VERSION)/include/uapi/linux
	cp -r Kbuild kernel $(DESTDIR)/usr/src/dm-cmek-$(DKMS_VERSION)/
	sed 's/^PACKAGE_VERSION=.*/PACKAGE_VERSION="$(DKMS_VERSION)"/' dkms.conf \
		>$(DESTDIR)/usr/src/dm-cmek-$(DKMS_VERSION)/dkms.conf
	cp include/uapi/linux/dm-cmek.h $(DESTDIR)/usr/src/dm-cmek-$(DKMS_VERSION)/include/uapi/linux/
	test -n "$(DESTDIR)" || { \
		{ dkms status dm-cmek/$(DKMS_VERSION) | grep -q . || \
		  dkms add dm-cmek/$(DKMS_VERSION); } && \
		dkms build -k $(KERNELRELEASE) dm-cmek/$(DKMS_VERSION) && \
		dkms install -k $(KERNELRELEASE) dm-cmek/$(DKMS_VERSION); }

# make deb [DEB_OUT=build/deb] [DEB_VERSION=]: the packages cmek and
# cmek-dkms (dpkg-buildpackage -b), built in a copy of the tree's files
# (git's list of them, untracked ones included, when there is a git tree)
# under DEB_OUT/cmek, so that the .deb files land in DEB_OUT and nothing is
# written beside the tree. DEB_VERSION= builds that version instead (a
# changelog entry in the copy only). Our command line (DEB_VERSION=, B=)
# stays out of debian/rules' make. Documentation/admin-guide/cmek-packages.rst.
DEB_OUT ?= $(B)/deb
DEB_VERSION ?=
DEB_JOBS ?= 2

deb:
	rm -rf $(DEB_OUT) && mkdir -p $(DEB_OUT)/cmek
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		git ls-files -z -co --exclude-standard; \
	else \
		find . \( -path ./$(B) -o -path ./.git \) -prune -o -type f -print0; \
	fi | tar -c --null --ignore-failed-read -T - -f - | tar -x -C $(DEB_OUT)/cmek
	test -z "$(DEB_VERSION)" || { cd $(DEB_OUT)/cmek/debian && \
		printf 'cmek (%s) unstable; urgency=medium\n\n  * Local build of %s.\n\n -- %s  %s\n\n' \
			"$(DEB_VERSION)" "$(DEB_VERSION)" \
			"$$(dpkg-parsechangelog -S Maintainer)" "$$(dpkg-parsechangelog -S Date)" \
			>changelog.new && cat changelog >>changelog.new && mv changelog.new changelog; }
	cd $(DEB_OUT)/cmek && env -u MAKEFLAGS -u MFLAGS -u MAKEOVERRIDES \
		dpkg-buildpackage -us -uc -b -j$(DEB_JOBS)
	@ls -1 $(DEB_OUT)/*.deb

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean
	$(MAKE) -C $(KDIR) M=$(CURDIR)/tests/kmod clean
	rm -rf $(B)
