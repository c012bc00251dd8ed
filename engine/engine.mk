# SPDX-License-Identifier: GPL-2.0
#
# gpumux-engine build fragment, included by the top-level Makefile:
#	include engine/engine.mk
# Targets: engine, engine-check, engine-check-asan.  Outputs under
# $(BUILD)/engine/.  GPUMUX_MODEL_DIR points the tests at the shared models
# (default ../shared/models next to the repository).

BUILD ?= $(CURDIR)/build
ENGINE_SRC_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
ENGINE_TEST_DIR := $(ENGINE_SRC_DIR)/../tests/engine
ENGINE_OUT := $(BUILD)/engine
GPUMUX_MODEL_DIR ?= $(abspath $(CURDIR)/../shared/models)

ENGINE_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -pthread
ENGINE_ASAN_CFLAGS := $(ENGINE_CFLAGS) -fsanitize=address,undefined \
	-fno-omit-frame-pointer -fno-sanitize-recover=undefined
ENGINE_LIBS := -lm -pthread

ENGINE_LIB_SRCS := $(addprefix $(ENGINE_SRC_DIR)/,model.c tokenizer.c \
	kv.c pool.c forward.c sampler.c engine.c)
ENGINE_HDRS := $(ENGINE_SRC_DIR)/engine.h $(ENGINE_SRC_DIR)/internal.h
ENGINE_TEST_NAMES := test-engine test-model
ENGINE_TEST_COMMON := $(ENGINE_TEST_DIR)/etest.c
ENGINE_TEST_HDRS := $(ENGINE_TEST_DIR)/etest.h

.PHONY: engine engine-check engine-check-asan

## engine: build the reference engine (build/engine/gpumux-engine)
engine: $(ENGINE_OUT)/gpumux-engine

$(ENGINE_OUT)/gpumux-engine: $(ENGINE_LIB_SRCS) $(ENGINE_SRC_DIR)/main.c \
		$(ENGINE_HDRS)
	@mkdir -p $(@D)
	$(CC) $(ENGINE_CFLAGS) -o $@ $(ENGINE_LIB_SRCS) \
		$(ENGINE_SRC_DIR)/main.c $(ENGINE_LIBS)

# $(1): output dir, $(2): CFLAGS
define ENGINE_TEST_RULES
$(1)/%: $(ENGINE_TEST_DIR)/%.c $(ENGINE_TEST_COMMON) $(ENGINE_TEST_HDRS) \
		$(ENGINE_LIB_SRCS) $(ENGINE_HDRS)
	@mkdir -p $$(@D)
	$$(CC) $(2) -I$(ENGINE_SRC_DIR) -o $$@ $$< $(ENGINE_TEST_COMMON) \
		$(ENGINE_LIB_SRCS) $(ENGINE_LIBS)
endef
$(eval $(call ENGINE_TEST_RULES,$(ENGINE_OUT)/tests,$(ENGINE_CFLAGS)))
$(eval $(call ENGINE_TEST_RULES,$(ENGINE_OUT)/tests-asan,$(ENGINE_ASAN_CFLAGS)))

## engine-check: build and run the engine tests
engine-check: $(ENGINE_OUT)/gpumux-engine \
		$(addprefix $(ENGINE_OUT)/tests/,$(ENGINE_TEST_NAMES))
	@GPUMUX_MODEL_DIR=$(GPUMUX_MODEL_DIR) \
		$(ENGINE_TEST_DIR)/run-tests.sh $(ENGINE_OUT)/tests \
		$(ENGINE_OUT)/gpumux-engine $(ENGINE_TEST_NAMES)

## engine-check-asan: the engine tests under ASan and UBSan
engine-check-asan: $(addprefix $(ENGINE_OUT)/tests-asan/,$(ENGINE_TEST_NAMES))
	@GPUMUX_MODEL_DIR=$(GPUMUX_MODEL_DIR) \
		ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		$(ENGINE_TEST_DIR)/run-tests.sh $(ENGINE_OUT)/tests-asan \
		"" $(ENGINE_TEST_NAMES)
