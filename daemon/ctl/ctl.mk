# SPDX-License-Identifier: GPL-2.0
#
# gpumuxctl build fragment, -included by the top-level Makefile.
# Targets: gpumuxctl ($(BUILD)/daemon/gpumuxctl), ctl-check (unit tests of
# the parts with no D-Bus, plain and under ASan/UBSan, and the command-line
# checks that need no daemon), install-gpumuxctl.  The tests against the
# real daemon are tests/daemon/test-ctl.sh, run in the VM.  Needs libsystemd
# (sd-bus); the unit tests need check (pkg-config check).

BUILD ?= $(CURDIR)/build
PREFIX ?= /usr
BINDIR ?= $(PREFIX)/bin

CTL_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
CTL_OUT := $(BUILD)/daemon
GPUMUXCTL_VERSION ?= 0.1.0

# The pure parts (unit-tested) and the rest.
CTL_PURE_SRCS := $(addprefix $(CTL_DIR)/,mask.c args.c json.c table.c)
CTL_SRCS := $(CTL_PURE_SRCS) \
	$(addprefix $(CTL_DIR)/,gpumuxctl.c list.c watch.c)
CTL_HDRS := $(CTL_DIR)/ctl.h $(CTL_DIR)/gpumuxctl.h $(CTL_DIR)/../bus-api.h
CTL_TEST_HDRS := $(CTL_DIR)/ctl.h $(CTL_DIR)/../../tests/unit/ckmain.h

CTL_SD_CFLAGS := $(shell pkg-config --cflags libsystemd 2>/dev/null)
CTL_SD_LIBS := $(shell pkg-config --libs libsystemd 2>/dev/null)
CTL_CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CTL_CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

CTL_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror \
	-I$(CTL_DIR) -I$(CTL_DIR)/.. \
	-DGPUMUXCTL_VERSION='"$(GPUMUXCTL_VERSION)"'
CTL_ASAN_CFLAGS := $(CTL_CFLAGS) -fsanitize=address,undefined \
	-fno-omit-frame-pointer -fno-sanitize-recover=all

.PHONY: gpumuxctl ctl-check install-gpumuxctl

## gpumuxctl: build the command-line tool (build/daemon/gpumuxctl)
gpumuxctl: $(CTL_OUT)/gpumuxctl

$(CTL_OUT)/gpumuxctl: $(CTL_SRCS) $(CTL_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CTL_CFLAGS) $(CTL_SD_CFLAGS) -o $@ $(CTL_SRCS) $(CTL_SD_LIBS)

$(CTL_OUT)/gpumuxctl-asan: $(CTL_SRCS) $(CTL_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CTL_ASAN_CFLAGS) $(CTL_SD_CFLAGS) -o $@ $(CTL_SRCS) \
		$(CTL_SD_LIBS)

$(CTL_OUT)/test-ctl: $(CTL_DIR)/test-ctl.c $(CTL_PURE_SRCS) $(CTL_TEST_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CTL_CFLAGS) $(CTL_CHECK_CFLAGS) -o $@ $< $(CTL_PURE_SRCS) \
		$(CTL_CHECK_LIBS)

$(CTL_OUT)/test-ctl-asan: $(CTL_DIR)/test-ctl.c $(CTL_PURE_SRCS) \
		$(CTL_TEST_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CTL_ASAN_CFLAGS) $(CTL_CHECK_CFLAGS) -o $@ $< \
		$(CTL_PURE_SRCS) $(CTL_CHECK_LIBS)

# Runs one test program: 77 from it is a skip, anything else but 0 fails.
define CTL_RUN
	@echo "ctl-check: $(notdir $(1))"; \
	$(2) $(1); rc=$$?; \
	if [ $$rc -eq 77 ]; then echo "SKIP: $(notdir $(1))"; \
	elif [ $$rc -ne 0 ]; then exit $$rc; fi
endef

CTL_ENV := ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1

ifeq ($(CTL_CHECK_LIBS),)
CTL_UNIT :=
else
CTL_UNIT := $(CTL_OUT)/test-ctl $(CTL_OUT)/test-ctl-asan
endif

## ctl-check: gpumuxctl unit tests (check; plain and ASan/UBSan) and command-line checks without a daemon
ctl-check: $(CTL_UNIT) $(CTL_OUT)/gpumuxctl $(CTL_OUT)/gpumuxctl-asan
ifeq ($(CTL_CHECK_LIBS),)
	@echo "SKIP: ctl-check unit tests need check (pkg-config check)"
else
	$(call CTL_RUN,$(CTL_OUT)/test-ctl,)
	$(call CTL_RUN,$(CTL_OUT)/test-ctl-asan,$(CTL_ENV))
endif
	$(call CTL_RUN,$(CTL_DIR)/test-cli.sh $(CTL_OUT)/gpumuxctl,)
	$(call CTL_RUN,$(CTL_DIR)/test-cli.sh $(CTL_OUT)/gpumuxctl-asan,$(CTL_ENV))

## install-gpumuxctl: install gpumuxctl into $(DESTDIR)$(BINDIR)
install-gpumuxctl: $(CTL_OUT)/gpumuxctl
	install -D -m 0755 $< $(DESTDIR)$(BINDIR)/gpumuxctl

CHECK_EXTRA += ctl-check
INSTALL_EXTRA += install-gpumuxctl
