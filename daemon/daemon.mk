# SPDX-License-Identifier: GPL-2.0
#
# gpumuxd build fragment, included by the top-level Makefile.
# Targets: gpumuxd (build/daemon/gpumuxd), gpumuxd-asan (the same under
# ASan/UBSan, for the VM suite), daemon-check (unit tests: configuration and
# argument checks, plain and under ASan/UBSan).

DAEMON_SRC_DIR := daemon
DAEMON_OUT := $(BUILD)/daemon
GPUMUXD_SRCS := $(addprefix $(DAEMON_SRC_DIR)/,main.c config.c kmod.c \
	sched.c state.c discover.c polkit.c bus.c) $(GPUMUX_POLICY_SRCS)
GPUMUXD_HDRS := $(addprefix $(DAEMON_SRC_DIR)/,gpumuxd.h bus-api.h) \
	$(GPUMUX_POLICY_HDRS)
DAEMON_PKGS := libsystemd liburing libdrm libdrm_amdgpu
DAEMON_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror \
	-D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE \
	-I$(DAEMON_SRC_DIR) -Ikmod/include/uapi \
	$(shell pkg-config --cflags $(DAEMON_PKGS) 2>/dev/null)
DAEMON_LDFLAGS := -pie -Wl,-z,relro,-z,now
DAEMON_LIBS := $(shell pkg-config --libs $(DAEMON_PKGS) 2>/dev/null)
DAEMON_ASAN := -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined

.PHONY: gpumuxd gpumuxd-asan daemon-check

## gpumuxd: build the scheduler daemon (build/daemon/gpumuxd)
gpumuxd: $(DAEMON_OUT)/gpumuxd

## gpumuxd-asan: the daemon under ASan/UBSan (build/daemon/gpumuxd-asan)
gpumuxd-asan: $(DAEMON_OUT)/gpumuxd-asan

$(DAEMON_OUT)/gpumuxd: $(GPUMUXD_SRCS) $(GPUMUXD_HDRS) kmod/include/uapi/linux/gpumux.h
	@mkdir -p $(@D)
	$(CC) $(DAEMON_CFLAGS) $(DAEMON_LDFLAGS) -o $@ $(GPUMUXD_SRCS) $(DAEMON_LIBS)

$(DAEMON_OUT)/gpumuxd-asan: $(GPUMUXD_SRCS) $(GPUMUXD_HDRS) kmod/include/uapi/linux/gpumux.h
	@mkdir -p $(@D)
	$(CC) $(DAEMON_CFLAGS) $(DAEMON_ASAN) -o $@ $(GPUMUXD_SRCS) $(DAEMON_LIBS)

DAEMON_UNIT_SRCS := tests/unit/test-config.c $(DAEMON_SRC_DIR)/config.c $(GPUMUX_POLICY_SRCS)

$(DAEMON_OUT)/test-config: $(DAEMON_UNIT_SRCS) $(GPUMUXD_HDRS)
	@mkdir -p $(@D)
	$(CC) $(DAEMON_CFLAGS) $(POLICY_CHECK_CFLAGS) -o $@ $(DAEMON_UNIT_SRCS) $(POLICY_CHECK_LIBS)

$(DAEMON_OUT)/test-config-asan: $(DAEMON_UNIT_SRCS) $(GPUMUXD_HDRS)
	@mkdir -p $(@D)
	$(CC) $(DAEMON_CFLAGS) $(DAEMON_ASAN) $(POLICY_CHECK_CFLAGS) -o $@ $(DAEMON_UNIT_SRCS) $(POLICY_CHECK_LIBS)

## daemon-check: gpumuxd unit tests (configuration, argument checks), plain and ASan/UBSan
daemon-check: $(DAEMON_OUT)/test-config $(DAEMON_OUT)/test-config-asan gpumuxd
	$(DAEMON_OUT)/test-config
	ASAN_OPTIONS=detect_leaks=1 $(DAEMON_OUT)/test-config-asan

CHECK_EXTRA += daemon-check

$(DAEMON_OUT)/daemon-bench: bench/daemon-bench.c
	@mkdir -p $(@D)
	$(CC) $(DAEMON_CFLAGS) -o $@ $< $(DAEMON_LIBS)
