# SPDX-License-Identifier: GPL-2.0
#
# gpumux-gateway build fragment, included by the top-level Makefile:
#	-include gateway/gateway.mk
# Targets: gateway (build/gateway/gpumux-gateway), gateway-check (the unit
# tests, plain and ASan/UBSan, then the HTTP tests with real engines in
# front of the plain and the ASan/UBSan gateway).  Needs libmicrohttpd,
# jansson, and check for the unit tests.  Links the global scheduler
# (GPUMUX_GSCHED_SRCS from daemon/gsched.mk, included before this).

BUILD ?= $(CURDIR)/build
GATEWAY_SRC_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
GATEWAY_TEST_DIR := $(GATEWAY_SRC_DIR)/../tests/gateway
GATEWAY_OUT := $(BUILD)/gateway
GPUMUX_MODEL_DIR ?= $(abspath $(CURDIR)/../shared/models)
GATEWAY_GSCHED_DIR := $(GATEWAY_SRC_DIR)/../daemon
GATEWAY_GSCHED_SRCS := $(or $(GPUMUX_GSCHED_SRCS),$(addprefix \
	$(GATEWAY_GSCHED_DIR)/,gsched.c gsched-llumnix.c gsched-simple.c))

GATEWAY_PKGS := libmicrohttpd jansson
GATEWAY_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -pthread \
	-I$(GATEWAY_SRC_DIR) -I$(GATEWAY_GSCHED_DIR) \
	$(shell pkg-config --cflags $(GATEWAY_PKGS) 2>/dev/null)
GATEWAY_ASAN_CFLAGS := $(GATEWAY_CFLAGS) -fsanitize=address,undefined \
	-fno-omit-frame-pointer -fno-sanitize-recover=undefined
GATEWAY_LIBS := $(shell pkg-config --libs $(GATEWAY_PKGS) 2>/dev/null) \
	-pthread
GATEWAY_CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
GATEWAY_CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

# buffers, clocks, the HTTP server frame: shared with the engine (common/)
GATEWAY_COMMON_DIR := $(GATEWAY_SRC_DIR)/../common
# the pure pieces (no libmicrohttpd): what the unit test links
GATEWAY_CORE_SRCS := $(addprefix $(GATEWAY_SRC_DIR)/,http.c sse.c \
	engines.c) $(GATEWAY_COMMON_DIR)/util.c
GATEWAY_SRCS := $(GATEWAY_CORE_SRCS) $(addprefix $(GATEWAY_SRC_DIR)/,\
	server.c main.c) $(GATEWAY_COMMON_DIR)/httpd.c
GATEWAY_HDRS := $(GATEWAY_SRC_DIR)/gateway.h $(GATEWAY_GSCHED_DIR)/gsched.h \
	$(GATEWAY_COMMON_DIR)/util.h $(GATEWAY_COMMON_DIR)/httpd.h
GATEWAY_ENGINE := $(BUILD)/engine/gpumux-engine

.PHONY: gateway gateway-check

## gateway: build the OpenAI-compatible front door (build/gateway/gpumux-gateway)
gateway: $(GATEWAY_OUT)/gpumux-gateway

$(GATEWAY_OUT)/gpumux-gateway: $(GATEWAY_SRCS) $(GATEWAY_GSCHED_SRCS) \
		$(GATEWAY_HDRS)
	@mkdir -p $(@D)
	$(CC) $(GATEWAY_CFLAGS) -o $@ $(GATEWAY_SRCS) $(GATEWAY_GSCHED_SRCS) \
		$(GATEWAY_LIBS)

$(GATEWAY_OUT)/asan/gpumux-gateway: $(GATEWAY_SRCS) $(GATEWAY_GSCHED_SRCS) \
		$(GATEWAY_HDRS)
	@mkdir -p $(@D)
	$(CC) $(GATEWAY_ASAN_CFLAGS) -o $@ $(GATEWAY_SRCS) \
		$(GATEWAY_GSCHED_SRCS) $(GATEWAY_LIBS)

$(GATEWAY_OUT)/test-gwunit: $(GATEWAY_TEST_DIR)/test-gwunit.c \
		$(GATEWAY_CORE_SRCS) $(GATEWAY_GSCHED_SRCS) $(GATEWAY_HDRS)
	@mkdir -p $(@D)
	$(CC) $(GATEWAY_CFLAGS) $(GATEWAY_CHECK_CFLAGS) -o $@ $< \
		$(GATEWAY_CORE_SRCS) $(GATEWAY_GSCHED_SRCS) \
		$(GATEWAY_CHECK_LIBS) $(GATEWAY_LIBS)

$(GATEWAY_OUT)/test-gwunit-asan: $(GATEWAY_TEST_DIR)/test-gwunit.c \
		$(GATEWAY_CORE_SRCS) $(GATEWAY_GSCHED_SRCS) $(GATEWAY_HDRS)
	@mkdir -p $(@D)
	$(CC) $(GATEWAY_ASAN_CFLAGS) $(GATEWAY_CHECK_CFLAGS) -o $@ $< \
		$(GATEWAY_CORE_SRCS) $(GATEWAY_GSCHED_SRCS) \
		$(GATEWAY_CHECK_LIBS) $(GATEWAY_LIBS)

GATEWAY_ASAN_ENV := ASAN_OPTIONS=detect_leaks=1 \
	UBSAN_OPTIONS=print_stacktrace=1

## gateway-check: gateway unit tests (check) and HTTP tests with real engines, plain and ASan/UBSan
ifeq ($(GATEWAY_CHECK_LIBS),)
gateway-check: $(GATEWAY_OUT)/gpumux-gateway \
		$(GATEWAY_OUT)/asan/gpumux-gateway $(GATEWAY_ENGINE)
	@echo "SKIP: gateway unit tests need check (pkg-config check)"
else
gateway-check: $(GATEWAY_OUT)/test-gwunit $(GATEWAY_OUT)/test-gwunit-asan \
		$(GATEWAY_OUT)/gpumux-gateway \
		$(GATEWAY_OUT)/asan/gpumux-gateway $(GATEWAY_ENGINE)
	$(GATEWAY_OUT)/test-gwunit
	$(GATEWAY_ASAN_ENV) $(GATEWAY_OUT)/test-gwunit-asan
endif
	@rc=0; GPUMUX_MODEL_DIR=$(GPUMUX_MODEL_DIR) /usr/bin/python3 \
		$(GATEWAY_TEST_DIR)/test-gateway.py \
		$(GATEWAY_OUT)/gpumux-gateway $(GATEWAY_ENGINE) || rc=$$?; \
	if [ $$rc -eq 0 ]; then \
		echo "== under ASan/UBSan"; \
		GPUMUX_MODEL_DIR=$(GPUMUX_MODEL_DIR) $(GATEWAY_ASAN_ENV) \
		/usr/bin/python3 $(GATEWAY_TEST_DIR)/test-gateway.py \
		$(GATEWAY_OUT)/asan/gpumux-gateway $(GATEWAY_ENGINE) \
		|| rc=$$?; \
	fi; \
	[ $$rc -eq 0 ] || [ $$rc -eq 77 ]

CHECK_EXTRA += gateway-check
