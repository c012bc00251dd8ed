# SPDX-License-Identifier: GPL-2.0
#
# gpumux top-level build.  `make help` lists the targets.
#
# The module is built out of tree against KDIR.  Each kernel flavour gets its
# own object directory under build/mod/ (a tree of symlinks to the sources),
# so the host-headers build and the VM builds never share objects.

SHELL := /bin/bash
BUILD ?= $(CURDIR)/build
CACHE ?= $(HOME)/.cache/gpumux
export CACHE

# Kernel to build the module against: the running kernel's build dir when it
# exists, else the newest installed Debian linux-headers-*-amd64.
RUNNING_KDIR := /lib/modules/$(shell uname -r)/build
DEBIAN_KDIR := $(lastword $(shell ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V))
ifneq ($(wildcard $(RUNNING_KDIR)/Makefile),)
KDIR ?= $(RUNNING_KDIR)
else
KDIR ?= $(DEBIAN_KDIR)
endif
# The Debian ABI the VM boots (matches DEBIAN_KDIR): e.g. 6.1.0-56-amd64.
DEBIAN_ABI := $(patsubst linux-headers-%,%,$(notdir $(DEBIAN_KDIR)))

# KERNEL=debian (default) boots Debian's linux-image; KERNEL=debug boots the
# KASAN/lockdep/kmemleak kernel built by tests/vm/debug-kernel.sh.
KERNEL ?= debian
ifeq ($(KERNEL),debug)
VM_KDIR = $(CACHE)/debug-kernel/build
else
VM_KDIR = $(DEBIAN_KDIR)
endif

W ?=
C ?=
KBUILD_OPTS := $(if $(W),W=$(W)) $(if $(C),C=$(C))

USER_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror \
	-I$(CURDIR)/kmod/include/uapi
TEST_BIN := $(BUILD)/tests/bin

.PHONY: all module vm-module tests-kmod vm-check check unit-check \
	bench-kmod demo demo-kmod lint checkpatch sparse dkms-check debug-kernel clean help

all: module engine gpumuxd gpumuxctl libgpumux

# Every fragment may add targets to CHECK_EXTRA (run by `make check` after the
# module suite) and INSTALL_EXTRA (run by `make install`).
CHECK_EXTRA :=
INSTALL_EXTRA :=

include engine/engine.mk
include daemon/policy.mk
-include daemon/daemon.mk
-include daemon/gsched.mk
-include gateway/gateway.mk
-include daemon/ctl/ctl.mk
-include libclient/libclient.mk
-include systemd/install.mk
-include tests/vm/vm-daemon.mk

## module: build gpumux.ko against KDIR (build/mod/default/gpumux.ko)
module:
	@scripts/mkmodtree.sh $(BUILD)/mod/default
	$(MAKE) -C $(KDIR) M=$(BUILD)/mod/default $(KBUILD_OPTS) modules

ifeq ($(KERNEL),debug)
vm-module: debug-kernel
endif

## vm-module: build gpumux.ko for the VM kernel (KERNEL=debian|debug)
vm-module:
	@test -n "$(VM_KDIR)" || { echo "no kernel headers: run scripts/install-deps.sh"; exit 1; }
	@scripts/mkmodtree.sh $(BUILD)/mod/$(KERNEL)
	$(MAKE) -C $(VM_KDIR) M=$(BUILD)/mod/$(KERNEL) $(KBUILD_OPTS) modules

KMOD_TESTS := $(patsubst tests/kmod/%.c,$(TEST_BIN)/%,$(wildcard tests/kmod/test-*.c))
KMOD_BENCH := $(patsubst bench/%.c,$(TEST_BIN)/%,$(wildcard bench/kmod-*.c))

$(TEST_BIN)/%: tests/kmod/%.c tests/kmod/gmtest.c tests/kmod/gmtest.h kmod/include/uapi/linux/gpumux.h
	@mkdir -p $(TEST_BIN)
	$(CC) $(USER_CFLAGS) -static -pthread -o $@ $< tests/kmod/gmtest.c -l:liburing.a

$(TEST_BIN)/%: bench/%.c tests/kmod/gmtest.c tests/kmod/gmtest.h kmod/include/uapi/linux/gpumux.h
	@mkdir -p $(TEST_BIN)
	$(CC) $(USER_CFLAGS) -Itests/kmod -static -pthread -o $@ $< tests/kmod/gmtest.c -l:liburing.a -lm

## tests-kmod: build the static test and benchmark programs run in the VM
tests-kmod: $(KMOD_TESTS) $(KMOD_BENCH) $(TEST_BIN)/demo-kmod

## unit-check: userspace tests on the host (uapi layout)
unit-check:
	@mkdir -p $(BUILD)/tests
	$(CC) $(USER_CFLAGS) -fsanitize=address,undefined -o $(BUILD)/tests/test-uapi tests/unit/test-uapi.c
	$(BUILD)/tests/test-uapi

## vm-check: boot the VM (KERNEL=debian|debug), run the module suite in it
vm-check: vm-module tests-kmod
	tests/vm/run.sh --kernel $(KERNEL) --module $(BUILD)/mod/$(KERNEL)/gpumux.ko \
		--bin $(TEST_BIN) --suite kmod

## bench-kmod: run the module benchmark in the VM, CSV to build/bench-kmod.csv
bench-kmod: vm-module tests-kmod
	tests/vm/run.sh --kernel $(KERNEL) --module $(BUILD)/mod/$(KERNEL)/gpumux.ko \
		--bin $(TEST_BIN) --suite bench --out $(BUILD)/bench-kmod.csv

## demo: the main job: boot the VM; gpumuxd, two engines sharing a virtual GPU, gpumuxctl status (= demo-daemon)
demo: demo-daemon

## demo-kmod: boot the VM and show the module alone at work (demo-kmod.c)
demo-kmod: vm-module tests-kmod
	tests/vm/run.sh --kernel $(KERNEL) --module $(BUILD)/mod/$(KERNEL)/gpumux.ko \
		--bin $(TEST_BIN) --suite demo

## lint: checkpatch.pl --no-tree and sparse (C=2) on the module
lint: checkpatch sparse

checkpatch:
	scripts/checkpatch.sh

sparse:
	@scripts/mkmodtree.sh $(BUILD)/mod/sparse
	$(MAKE) -C $(KDIR) M=$(BUILD)/mod/sparse C=2 W=1 modules 2>&1 | tee $(BUILD)/sparse.log
	@! grep -E "warning|error" $(BUILD)/sparse.log | grep -v "Skipping BTF"

## dkms-check: dkms add/build the module into a private tree (never the host)
dkms-check:
	scripts/dkms-check.sh

## debug-kernel: build (once, cached) the KASAN/lockdep/kmemleak VM kernel
debug-kernel:
	tests/vm/debug-kernel.sh

## check: every test: unit tests, policy and engine tests (plain and ASan/UBSan), lint, dkms build, the VM module suite
check: unit-check policy-check engine-check engine-check-asan lint dkms-check vm-check $(CHECK_EXTRA)

clean:
	rm -rf $(BUILD)

## help: list the targets
help:
	@grep -hE '^## ' $(MAKEFILE_LIST) | sed 's/^## /  /'
