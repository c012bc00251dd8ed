# SPDX-License-Identifier: GPL-2.0
#
# gpumuxd global scheduler and migration state machine build fragment,
# included by the top-level Makefile:
#	-include daemon/gsched.mk
# Targets: gsched-check (the unit tests, plain and under ASan/UBSan).
# Outputs under $(BUILD)/daemon/.  GPUMUX_GSCHED_SRCS is what gpumuxd and
# the cluster simulator link (pure logic, no library needed).  The tests
# need check (pkg-config check); without it the target says SKIP.

BUILD ?= $(CURDIR)/build
GSCHED_SRC_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
GSCHED_TEST_DIR := $(GSCHED_SRC_DIR)/../tests/unit
GSCHED_OUT := $(BUILD)/daemon

GPUMUX_GSCHED_SRCS := $(addprefix $(GSCHED_SRC_DIR)/,gsched.c \
	gsched-llumnix.c gsched-simple.c migration.c)
GPUMUX_GSCHED_HDRS := $(addprefix $(GSCHED_SRC_DIR)/,gsched.h migration.h)

GSCHED_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -I$(GSCHED_SRC_DIR)
GSCHED_ASAN_CFLAGS := $(GSCHED_CFLAGS) -fsanitize=address,undefined \
	-fno-omit-frame-pointer -fno-sanitize-recover=all
GSCHED_CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
GSCHED_CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

GSCHED_TESTS := test-gsched test-migration
GSCHED_ASAN_ENV := ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1

.PHONY: gsched-check

$(GSCHED_OUT)/test-gsched $(GSCHED_OUT)/test-gsched-asan: \
	$(GSCHED_TEST_DIR)/test-gsched.c $(GSCHED_TEST_DIR)/ckmain.h
$(GSCHED_OUT)/test-migration $(GSCHED_OUT)/test-migration-asan: \
	$(GSCHED_TEST_DIR)/test-migration.c $(GSCHED_TEST_DIR)/ckmain.h

$(addprefix $(GSCHED_OUT)/,$(GSCHED_TESTS)): $(GPUMUX_GSCHED_SRCS) \
		$(GPUMUX_GSCHED_HDRS)
	@mkdir -p $(@D)
	$(CC) $(GSCHED_CFLAGS) $(GSCHED_CHECK_CFLAGS) -o $@ \
		$(filter %.c,$^) $(GSCHED_CHECK_LIBS)

$(addprefix $(GSCHED_OUT)/,$(addsuffix -asan,$(GSCHED_TESTS))): \
		$(GPUMUX_GSCHED_SRCS) $(GPUMUX_GSCHED_HDRS)
	@mkdir -p $(@D)
	$(CC) $(GSCHED_ASAN_CFLAGS) $(GSCHED_CHECK_CFLAGS) -o $@ \
		$(filter %.c,$^) $(GSCHED_CHECK_LIBS)

# Runs one test binary: 77 from it is a skip, anything else but 0 fails.
define GSCHED_RUN
	@echo "gsched-check: $(notdir $(1))"; \
	$(2) $(1); rc=$$?; \
	if [ $$rc -eq 77 ]; then echo "SKIP: $(notdir $(1))"; \
	elif [ $$rc -ne 0 ]; then exit $$rc; fi
endef

## gsched-check: global scheduler and migration state machine unit tests (check), plain and ASan/UBSan
ifeq ($(GSCHED_CHECK_LIBS),)
gsched-check:
	@echo "SKIP: gsched-check needs check (pkg-config check)"
else
gsched-check: $(addprefix $(GSCHED_OUT)/,$(GSCHED_TESTS) \
		$(addsuffix -asan,$(GSCHED_TESTS)))
	$(call GSCHED_RUN,$(GSCHED_OUT)/test-gsched,)
	$(call GSCHED_RUN,$(GSCHED_OUT)/test-migration,)
	$(call GSCHED_RUN,$(GSCHED_OUT)/test-gsched-asan,$(GSCHED_ASAN_ENV))
	$(call GSCHED_RUN,$(GSCHED_OUT)/test-migration-asan,$(GSCHED_ASAN_ENV))
endif

CHECK_EXTRA += gsched-check
