# SPDX-License-Identifier: GPL-2.0
#
# gpumux-engine build fragment, included by the top-level Makefile:
#	include engine/engine.mk
# Targets: engine, engine-check, engine-check-asan, engine-serve-check,
# bench-engine.  Outputs under
# $(BUILD)/engine/.  GPUMUX_MODEL_DIR points the tests at the shared models
# (default ../shared/models next to the repository).  The gpumux-engine
# binary links libgpumux ($(BUILD)/libclient, for serve --attach; the rpath
# finds it there) and libsystemd; the test programs need neither.

BUILD ?= $(CURDIR)/build
ENGINE_SRC_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
ENGINE_TEST_DIR := $(ENGINE_SRC_DIR)/../tests/engine
ENGINE_OUT := $(BUILD)/engine
GPUMUX_MODEL_DIR ?= $(abspath $(CURDIR)/../shared/models)

ENGINE_CFLAGS := -std=gnu11 -O2 -g -ffp-contract=off -Wall -Wextra -Werror -pthread
ENGINE_ASAN_CFLAGS := $(ENGINE_CFLAGS) -fsanitize=address,undefined \
	-fno-omit-frame-pointer -fno-sanitize-recover=undefined
ENGINE_LIBS := -lm -pthread
# the HTTP server (serve): libmicrohttpd and jansson
ENGINE_SERVE_PKGS := libmicrohttpd jansson
ENGINE_SERVE_CFLAGS := $(shell pkg-config --cflags $(ENGINE_SERVE_PKGS))
ENGINE_SERVE_LIBS := $(shell pkg-config --libs $(ENGINE_SERVE_PKGS))

ENGINE_LIB_SRCS := $(addprefix $(ENGINE_SRC_DIR)/,model.c tokenizer.c \
	kv.c pool.c forward.c sampler.c engine.c ckpt-gen.c)
ENGINE_HDRS := $(ENGINE_SRC_DIR)/engine.h $(ENGINE_SRC_DIR)/internal.h \
	$(ENGINE_SRC_DIR)/ckpt-gen.h
ENGINE_TEST_NAMES := test-engine test-model test-host
ENGINE_TEST_COMMON := $(ENGINE_TEST_DIR)/etest.c
ENGINE_TEST_HDRS := $(ENGINE_TEST_DIR)/etest.h $(ENGINE_SRC_DIR)/attach.h \
	$(ENGINE_SRC_DIR)/server.h

# the HTTP front shared with the gateway (common/)
ENGINE_COMMON_DIR := $(ENGINE_SRC_DIR)/../common
ENGINE_CLI_SRCS := $(addprefix $(ENGINE_SRC_DIR)/,main.c server.c attach.c) \
	$(addprefix $(ENGINE_COMMON_DIR)/,httpd.c util.c)
ENGINE_CLI_HDRS := $(ENGINE_HDRS) $(ENGINE_SRC_DIR)/server.h \
	$(ENGINE_SRC_DIR)/attach.h $(ENGINE_COMMON_DIR)/httpd.h \
	$(ENGINE_COMMON_DIR)/util.h
# serve --attach: libgpumux (built by libclient/libclient.mk; found next to
# the binary's directory at run time) and sd-bus for property reads
ENGINE_GM_DIR := $(ENGINE_SRC_DIR)/../libclient
ENGINE_GM_LIB := $(BUILD)/libclient/libgpumux.so
ENGINE_GM_CFLAGS := -I$(ENGINE_GM_DIR)/include -I$(ENGINE_SRC_DIR)/../daemon \
	$(shell pkg-config --cflags libsystemd)
ENGINE_GM_LIBS := -L$(BUILD)/libclient -lgpumux \
	-Wl,-rpath,'$$$$ORIGIN/../libclient:$$$$ORIGIN/../../libclient' \
	$(shell pkg-config --libs libsystemd)

.PHONY: engine engine-check engine-check-asan engine-serve-check bench-engine

## engine: build the reference engine (build/engine/gpumux-engine)
engine: $(ENGINE_OUT)/gpumux-engine

# $(1): binary, $(2): CFLAGS
define ENGINE_CLI_RULE
$(1): $(ENGINE_LIB_SRCS) $(ENGINE_CLI_SRCS) $(ENGINE_CLI_HDRS) \
		$(ENGINE_GM_LIB) $(ENGINE_GM_DIR)/include/gpumux/client.h
	@mkdir -p $$(@D)
	$$(CC) $(2) $(ENGINE_SERVE_CFLAGS) $(ENGINE_GM_CFLAGS) -o $$@ \
		$(ENGINE_LIB_SRCS) $(ENGINE_CLI_SRCS) $(ENGINE_SERVE_LIBS) \
		$(ENGINE_GM_LIBS) $(ENGINE_LIBS)
endef
$(eval $(call ENGINE_CLI_RULE,$(ENGINE_OUT)/gpumux-engine,$(ENGINE_CFLAGS)))
$(eval $(call ENGINE_CLI_RULE,$(ENGINE_OUT)/asan/gpumux-engine,$(ENGINE_ASAN_CFLAGS)))

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

ENGINE_SERVE_TEST := $(ENGINE_TEST_DIR)/test-serve.py

## engine-serve-check: the HTTP server driven over HTTP, plain and under ASan/UBSan
engine-serve-check: $(ENGINE_OUT)/gpumux-engine $(ENGINE_OUT)/asan/gpumux-engine
	@rc=0; GPUMUX_MODEL_DIR=$(GPUMUX_MODEL_DIR) /usr/bin/python3 \
		$(ENGINE_SERVE_TEST) $(ENGINE_OUT)/gpumux-engine || rc=$$?; \
	if [ $$rc -eq 0 ]; then \
		echo "== under ASan/UBSan"; \
		GPUMUX_MODEL_DIR=$(GPUMUX_MODEL_DIR) \
		ASAN_OPTIONS=detect_leaks=1 \
		UBSAN_OPTIONS=print_stacktrace=1 /usr/bin/python3 \
		$(ENGINE_SERVE_TEST) $(ENGINE_OUT)/asan/gpumux-engine || rc=$$?; \
	fi; \
	[ $$rc -eq 0 ] || [ $$rc -eq 77 ]

CHECK_EXTRA += engine-serve-check

ENGINE_BENCH_SECONDS ?= 1.5
ENGINE_BENCH_ROUNDS ?= 3
ENGINE_BENCH_CSV ?= $(BUILD)/bench-engine.csv

$(ENGINE_OUT)/engine-bench: $(ENGINE_SRC_DIR)/../bench/engine-bench.c \
		$(ENGINE_LIB_SRCS) $(ENGINE_HDRS)
	@mkdir -p $(@D)
	$(CC) $(ENGINE_CFLAGS) -I$(ENGINE_SRC_DIR) -o $@ $< $(ENGINE_LIB_SRCS) \
		$(ENGINE_LIBS)

## bench-engine: engine tokens/s and TTFT at 1-64 concurrent vs a single-request loop, CSV to build/bench-engine.csv
bench-engine: $(ENGINE_OUT)/engine-bench
	@m=$(GPUMUX_MODEL_DIR)/aidreams260K; \
	if [ ! -r $$m/aidreams260K.bin ] || [ ! -r $$m/tok512.bin ]; then \
		echo "bench-engine: skipped: $$m not found (set GPUMUX_MODEL_DIR)"; \
		exit 0; \
	fi; \
	$(ENGINE_OUT)/engine-bench --model $$m/aidreams260K.bin \
		--tokenizer $$m/tok512.bin --seconds $(ENGINE_BENCH_SECONDS) \
		--rounds $(ENGINE_BENCH_ROUNDS) \
		--csv $(ENGINE_BENCH_CSV)
