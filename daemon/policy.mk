# SPDX-License-Identifier: GPL-2.0
#
# gpumuxd policy layer build fragment, included by the top-level Makefile:
#	include daemon/policy.mk
# Targets: policy-check (the unit tests, plain and under ASan/UBSan).
# Outputs under $(BUILD)/daemon/.  GPUMUX_POLICY_SRCS is what gpumuxd and
# the simulator link.  Needs check (pkg-config check); without it the
# target says SKIP.

BUILD ?= $(CURDIR)/build
POLICY_SRC_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
POLICY_TEST_DIR := $(POLICY_SRC_DIR)/../tests/unit
POLICY_OUT := $(BUILD)/daemon

GPUMUX_POLICY_SRCS := $(addprefix $(POLICY_SRC_DIR)/,policy.c \
	policy-fairshare.c)
GPUMUX_POLICY_HDRS := $(POLICY_SRC_DIR)/policy.h

POLICY_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror \
	-I$(POLICY_SRC_DIR) -I$(POLICY_SRC_DIR)/../kmod/include/uapi
POLICY_ASAN_CFLAGS := $(POLICY_CFLAGS) -fsanitize=address,undefined \
	-fno-omit-frame-pointer -fno-sanitize-recover=all
POLICY_CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
POLICY_CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

.PHONY: policy-check

$(POLICY_OUT)/test-policy: $(POLICY_TEST_DIR)/test-policy.c \
		$(POLICY_TEST_DIR)/ckmain.h $(GPUMUX_POLICY_SRCS) \
		$(GPUMUX_POLICY_HDRS)
	@mkdir -p $(@D)
	$(CC) $(POLICY_CFLAGS) $(POLICY_CHECK_CFLAGS) -o $@ $< \
		$(GPUMUX_POLICY_SRCS) $(POLICY_CHECK_LIBS) -lm

$(POLICY_OUT)/test-policy-asan: $(POLICY_TEST_DIR)/test-policy.c \
		$(POLICY_TEST_DIR)/ckmain.h $(GPUMUX_POLICY_SRCS) \
		$(GPUMUX_POLICY_HDRS)
	@mkdir -p $(@D)
	$(CC) $(POLICY_ASAN_CFLAGS) $(POLICY_CHECK_CFLAGS) -o $@ $< \
		$(GPUMUX_POLICY_SRCS) $(POLICY_CHECK_LIBS) -lm

# Runs one test binary: 77 from it is a skip, anything else but 0 fails.
define POLICY_RUN
	@echo "policy-check: $(notdir $(1))"; \
	$(2) $(1); rc=$$?; \
	if [ $$rc -eq 77 ]; then echo "SKIP: $(notdir $(1))"; \
	elif [ $$rc -ne 0 ]; then exit $$rc; fi
endef

ifeq ($(POLICY_CHECK_LIBS),)
## policy-check: policy unit tests (check), plain and ASan/UBSan
policy-check:
	@echo "SKIP: policy-check needs check (pkg-config check)"
else
## policy-check: policy unit tests (check), plain and ASan/UBSan
policy-check: $(POLICY_OUT)/test-policy $(POLICY_OUT)/test-policy-asan
	$(call POLICY_RUN,$(POLICY_OUT)/test-policy,)
	$(call POLICY_RUN,$(POLICY_OUT)/test-policy-asan,\
		ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1)
endif
