# SPDX-License-Identifier: GPL-2.0
#
# The daemon's tests in the VM, -included by the top-level Makefile (after
# the other fragments).  tests/vm/README.md explains the rig.
#
#   make vm-daemon-check [ONLY=GLOB]   tests/daemon/test-*.{sh,py} in the VM
#   make vm-systemd-check              boot Debian with systemd as PID 1
#   make demo-daemon                   tests/daemon/demo.sh in the VM
#
# VM_DAEMON_DEPS: the userspace the tests run, built first.  A target whose
# fragment is missing is left out, so one helper's missing piece does not
# break the others' build.

VM_DAEMON_DEPS := engine \
	$(if $(wildcard daemon/daemon.mk),gpumuxd gpumuxd-asan) \
	$(if $(wildcard daemon/ctl/ctl.mk),gpumuxctl) \
	$(if $(wildcard libclient/libclient.mk),libgpumux-e2e)

VM_DAEMON_RUN = BUILD=$(BUILD) tests/vm/run.sh --kernel $(KERNEL) \
	--module $(BUILD)/mod/$(KERNEL)/gpumux.ko
VM_SYSTEMD_STAGE := $(BUILD)/vm/systemd-stage

.PHONY: vm-daemon-check vm-systemd-check demo-daemon bench-daemon

## vm-daemon-check: the daemon's end-to-end tests (tests/daemon) in the VM on a private bus (ONLY=GLOB picks tests)
vm-daemon-check: vm-module $(VM_DAEMON_DEPS)
	$(VM_DAEMON_RUN) --suite daemon $(if $(ONLY),--only '$(ONLY)')

## vm-systemd-check: boot Debian (debootstrap, cached) with systemd as PID 1 in the VM and make install; systemctl start/stop gpumuxd, busctl Attach, polkit
vm-systemd-check: vm-module $(VM_DAEMON_DEPS)
	@test -f systemd/install.mk || \
		{ echo "vm-systemd-check: needs make install (systemd/install.mk)"; exit 1; }
	rm -rf $(VM_SYSTEMD_STAGE)
	$(MAKE) --no-print-directory install DESTDIR=$(VM_SYSTEMD_STAGE) >/dev/null
	$(VM_DAEMON_RUN) --suite systemd --stage $(VM_SYSTEMD_STAGE)

## demo-daemon: boot the VM and run tests/daemon/demo.sh (gpumuxd, two engines sharing a virtual GPU)
demo-daemon: vm-module $(VM_DAEMON_DEPS)
	$(VM_DAEMON_RUN) --suite demo-daemon

## bench-daemon: attach/detach calls/s against a D-Bus round trip, in the VM (CSV to build/bench-daemon.csv)
bench-daemon: vm-module gpumuxd $(BUILD)/daemon/daemon-bench
	$(VM_DAEMON_RUN) --suite daemon --only bench-daemon.sh
	@sed -n '/^GMBENCH-CSV-BEGIN/,/^GMBENCH-CSV-END/p' $(BUILD)/vm/daemon-$(KERNEL).console.log | \
		sed '1d;$$d' | tr -d '\r' >$(BUILD)/bench-daemon.csv
	@echo "CSV: $(BUILD)/bench-daemon.csv"; cat $(BUILD)/bench-daemon.csv

CHECK_EXTRA += vm-daemon-check vm-systemd-check
