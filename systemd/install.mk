# SPDX-License-Identifier: GPL-2.0
#
# Installation and system integration, -included by the top-level Makefile.
#
#   make install [DESTDIR=...] [PREFIX=/usr]
#
# installs gpumuxd, the systemd unit, the D-Bus policy and activation
# files, the polkit action, the udev rule, the modules-load.d entry, the man
# pages of man/, the example configuration and the DKMS source tree of the
# module; then every target of INSTALL_EXTRA, where the other fragments add
# theirs (install-gpumuxctl, install-libgpumux: the tool, the library, its
# header, pkg-config file and man pages).  Nothing goes to /etc: a missing
# /etc/gpumux/gpumuxd.conf means all defaults.
#
# Targets: install, install-gpumuxd, install-systemd, install-man,
# install-dkms; the checks security-check, man-check and install-check
# (added to CHECK_EXTRA).
#
# Every directory can be overridden on the command line.  The unit and
# modules-load.d directories come from systemd's pkg-config file when there
# is one, with /lib/ read as /usr/lib/: Debian 12 says /lib/systemd/system,
# which is /usr/lib/systemd/system on its merged /usr, and systemd reads
# /usr/lib/systemd/system everywhere; a tree with a real lib/ directory
# would not copy over a root whose /lib is a link.  The D-Bus, polkit and udev
# directories are the ones those programs read; with another PREFIX they
# follow it and it is up to the packager to point them where the programs
# look.  The DKMS tree always goes to /usr/src, where dkms looks.

BUILD ?= $(CURDIR)/build
PREFIX ?= /usr
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
LIBDIR ?= $(PREFIX)/lib/$(shell $(CC) -print-multiarch 2>/dev/null)
INCLUDEDIR ?= $(PREFIX)/include
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
DOCDIR ?= $(DATADIR)/doc/gpumux
DBUS_POLICYDIR ?= $(DATADIR)/dbus-1/system.d
DBUS_SERVICEDIR ?= $(DATADIR)/dbus-1/system-services
POLKIT_ACTIONDIR ?= $(DATADIR)/polkit-1/actions
DKMS_SRCDIR ?= /usr/src

usr_lib = $(patsubst /lib/%,/usr/lib/%,$(1))
ifeq ($(origin SYSTEMDSYSTEMUNITDIR),undefined)
SYSTEMDSYSTEMUNITDIR := $(call usr_lib,$(or $(shell pkg-config \
	--variable=systemdsystemunitdir systemd 2>/dev/null), \
	/usr/lib/systemd/system))
endif
ifeq ($(origin MODULESLOADDIR),undefined)
MODULESLOADDIR := $(call usr_lib,$(or $(shell pkg-config \
	--variable=modulesloaddir systemd 2>/dev/null), \
	/usr/lib/modules-load.d))
endif
ifeq ($(origin UDEVRULESDIR),undefined)
UDEV_DIR := $(shell pkg-config --variable=udevdir udev 2>/dev/null)
UDEVRULESDIR := $(call usr_lib,$(if $(UDEV_DIR),$(UDEV_DIR)/rules.d, \
	/usr/lib/udev/rules.d))
endif

# The package version is written once, in dkms.conf.
GPUMUX_VERSION := $(shell sed -n 's/^PACKAGE_VERSION="\(.*\)"$$/\1/p' \
	$(CURDIR)/dkms.conf)
DKMS_TREE = $(DKMS_SRCDIR)/gpumux-$(GPUMUX_VERSION)

# Build outputs installed here; daemon/daemon.mk makes it.
GPUMUXD_BIN ?= $(BUILD)/daemon/gpumuxd

INSTALL_SYSTEMD_DIR := systemd
MAN_PAGES := $(sort $(wildcard man/*.[1-8]))
INSTALL_TEST := $(BUILD)/install-test

.PHONY: install install-gpumuxd install-systemd install-man install-dkms \
	security-check man-check install-check

## install: install everything under $(DESTDIR) (PREFIX=/usr; see systemd/install.mk)
install: install-gpumuxd install-systemd install-man install-dkms
	$(if $(strip $(INSTALL_EXTRA)),+$(MAKE) --no-print-directory \
		$(sort $(INSTALL_EXTRA)))

## install-gpumuxd: install the daemon into $(DESTDIR)$(SBINDIR)
install-gpumuxd: gpumuxd
	install -D -m 0755 $(GPUMUXD_BIN) $(DESTDIR)$(SBINDIR)/gpumuxd

# The unit's ExecStart follows SBINDIR.
## install-systemd: install the unit, D-Bus, polkit, udev and modules-load files and the example configuration
install-systemd:
	install -d $(DESTDIR)$(SYSTEMDSYSTEMUNITDIR)
	sed 's|^ExecStart=/usr/sbin/gpumuxd|ExecStart=$(SBINDIR)/gpumuxd|' \
		$(INSTALL_SYSTEMD_DIR)/gpumuxd.service \
		>$(DESTDIR)$(SYSTEMDSYSTEMUNITDIR)/gpumuxd.service
	chmod 0644 $(DESTDIR)$(SYSTEMDSYSTEMUNITDIR)/gpumuxd.service
	install -D -m 0644 $(INSTALL_SYSTEMD_DIR)/org.gpumux.Scheduler1.conf \
		$(DESTDIR)$(DBUS_POLICYDIR)/org.gpumux.Scheduler1.conf
	install -D -m 0644 $(INSTALL_SYSTEMD_DIR)/org.gpumux.Scheduler1.service \
		$(DESTDIR)$(DBUS_SERVICEDIR)/org.gpumux.Scheduler1.service
	install -D -m 0644 $(INSTALL_SYSTEMD_DIR)/org.gpumux.Scheduler1.policy \
		$(DESTDIR)$(POLKIT_ACTIONDIR)/org.gpumux.Scheduler1.policy
	install -D -m 0644 $(INSTALL_SYSTEMD_DIR)/60-gpumux.rules \
		$(DESTDIR)$(UDEVRULESDIR)/60-gpumux.rules
	install -D -m 0644 $(INSTALL_SYSTEMD_DIR)/gpumux.modules-load.conf \
		$(DESTDIR)$(MODULESLOADDIR)/gpumux.conf
	install -D -m 0644 $(INSTALL_SYSTEMD_DIR)/gpumuxd.conf \
		$(DESTDIR)$(DOCDIR)/gpumuxd.conf.example

## install-man: install the man pages of man/ into $(DESTDIR)$(MANDIR)
install-man:
	@set -e; for p in $(MAN_PAGES); do \
		s=$${p##*.}; \
		echo "install -D -m 0644 $$p $(DESTDIR)$(MANDIR)/man$$s/$${p##*/}"; \
		install -D -m 0644 $$p $(DESTDIR)$(MANDIR)/man$$s/$${p##*/}; \
	done

# What dkms.conf's MAKE needs: `make -C $kernel_source_dir M=<the copy>
# modules` reads the top-level Kbuild, which names kmod/'s objects, so the
# tree is dkms.conf, Kbuild and kmod/'s sources; no Makefile (the
# repository's is not the module's).  Sources only, never objects a build
# in the repository left behind.
## install-dkms: install the module's DKMS source tree into $(DESTDIR)/usr/src/gpumux-VERSION
install-dkms:
	@test -n "$(GPUMUX_VERSION)" || \
		{ echo "install-dkms: no PACKAGE_VERSION in dkms.conf"; exit 1; }
	rm -rf $(DESTDIR)$(DKMS_TREE)
	install -D -m 0644 dkms.conf $(DESTDIR)$(DKMS_TREE)/dkms.conf
	install -D -m 0644 Kbuild $(DESTDIR)$(DKMS_TREE)/Kbuild
	@set -e; find kmod -type f \( -name '*.c' -o -name '*.h' \) | sort | \
	while read -r f; do \
		echo "install -D -m 0644 $$f $(DESTDIR)$(DKMS_TREE)/$$f"; \
		install -D -m 0644 $$f $(DESTDIR)$(DKMS_TREE)/$$f; \
	done

## security-check: systemd-analyze security of gpumuxd.service: exposure 2.0 or lower
security-check:
	scripts/security-score.sh --max 2.0 $(INSTALL_SYSTEMD_DIR)/gpumuxd.service

# Every page renders with groff without a warning (-ww) and, where mandoc
# is installed, passes `mandoc -Tlint` without a message; .TH matches the
# file name; org.gpumux.Scheduler1(5) names every member of the D-Bus
# contract (daemon/org.gpumux.Scheduler1.xml, daemon/bus-api.h).
## man-check: lint the man pages (groff -ww; mandoc -Tlint when installed), check the D-Bus page covers the contract
man-check:
	@set -e; fail=0; \
	command -v groff >/dev/null || { echo "man-check: groff not found"; exit 1; }; \
	command -v mandoc >/dev/null || echo "man-check: mandoc not installed: groff only"; \
	for p in $(MAN_PAGES); do \
		n=$${p##*/}; \
		th=$$(sed -n 's/^\.TH \([^ ]*\) \([^ ]*\) .*/\1.\2/p' $$p | tr A-Z a-z); \
		if [ "$$th" != "$$(echo $$n | tr A-Z a-z)" ]; then \
			echo "man-check: $$p: .TH says '$$th'"; fail=1; fi; \
		out=$$(groff -man -Tutf8 -ww -z $$p 2>&1); \
		if [ -n "$$out" ]; then echo "$$out"; fail=1; fi; \
		if command -v mandoc >/dev/null; then \
			out=$$(mandoc -Tlint -Wstyle $$p 2>&1) || true; \
			if [ -n "$$out" ]; then echo "$$out"; fail=1; fi; \
		fi; \
	done; \
	man/check-dbus-doc.sh || fail=1; \
	[ $$fail -eq 0 ] || { echo "man-check: FAIL"; exit 1; }; \
	echo "man-check: $(words $(MAN_PAGES)) pages: ok"

## install-check: make install into build/install-test; check the tree, the unit (systemd-analyze verify, security), the D-Bus files (a private dbus-daemon), the DKMS tree
install-check:
	rm -rf $(INSTALL_TEST)
	$(MAKE) --no-print-directory install DESTDIR=$(INSTALL_TEST)
	PREFIX=$(PREFIX) BINDIR=$(BINDIR) SBINDIR=$(SBINDIR) LIBDIR=$(LIBDIR) \
	INCLUDEDIR=$(INCLUDEDIR) MANDIR=$(MANDIR) DOCDIR=$(DOCDIR) \
	DBUS_POLICYDIR=$(DBUS_POLICYDIR) DBUS_SERVICEDIR=$(DBUS_SERVICEDIR) \
	POLKIT_ACTIONDIR=$(POLKIT_ACTIONDIR) UDEVRULESDIR=$(UDEVRULESDIR) \
	MODULESLOADDIR=$(MODULESLOADDIR) \
	SYSTEMDSYSTEMUNITDIR=$(SYSTEMDSYSTEMUNITDIR) DKMS_TREE=$(DKMS_TREE) \
	$(INSTALL_SYSTEMD_DIR)/check-install.sh $(INSTALL_TEST) $(BUILD)

CHECK_EXTRA += security-check man-check install-check
