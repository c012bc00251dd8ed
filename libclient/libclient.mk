# SPDX-License-Identifier: GPL-2.0
#
# libgpumux build fragment, -included by the top-level Makefile.
# Targets: libgpumux, libgpumux-example, libgpumux-check, libgpumux-e2e,
# install-libgpumux.  Outputs under $(BUILD)/libclient/; the end-to-end test
# program (run in the VM by tests/daemon/test-libgpumux.sh) under
# $(BUILD)/tests/daemon/.  Needs libsystemd (sd-bus); the unit tests need
# check (pkg-config check).

BUILD ?= $(CURDIR)/build
PREFIX ?= /usr
LIBDIR ?= $(PREFIX)/lib/x86_64-linux-gnu
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man

LGM_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
LGM_ROOT := $(LGM_DIR)/..
LGM_OUT := $(BUILD)/libclient
LGM_E2E_OUT := $(BUILD)/tests/daemon
LGM_VERSION := 0.1.0
LGM_SONAME := libgpumux.so.0
LGM_REAL := libgpumux.so.$(LGM_VERSION)

LGM_NAMES := tenant bus partition buffer mask
LGM_SRCS := $(addprefix $(LGM_DIR)/src/,$(addsuffix .c,$(LGM_NAMES)))
LGM_OBJS := $(addprefix $(LGM_OUT)/obj/,$(addsuffix .o,$(LGM_NAMES)))
LGM_PUBLIC_HDR := $(LGM_DIR)/include/gpumux/client.h
LGM_HDRS := $(LGM_PUBLIC_HDR) $(LGM_DIR)/src/internal.h \
	$(LGM_ROOT)/daemon/bus-api.h $(LGM_ROOT)/kmod/include/uapi/linux/gpumux.h
LGM_SYM := $(LGM_DIR)/libgpumux.sym

LGM_SD_CFLAGS := $(shell pkg-config --cflags libsystemd 2>/dev/null)
LGM_SD_LIBS := $(shell pkg-config --libs libsystemd 2>/dev/null)
LGM_CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
LGM_CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

LGM_WARN := -std=gnu11 -O2 -g -Wall -Wextra -Werror -pthread
LGM_CFLAGS := $(LGM_WARN) -D_GNU_SOURCE -fPIC -I$(LGM_DIR)/include \
	-I$(LGM_DIR)/src -I$(LGM_ROOT)/daemon -I$(LGM_ROOT)/kmod/include/uapi \
	$(LGM_SD_CFLAGS)
LGM_ASAN := -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all

.PHONY: libgpumux libgpumux-example libgpumux-check libgpumux-e2e \
	install-libgpumux

## libgpumux: build the client library (build/libclient/libgpumux.so.0)
libgpumux: $(LGM_OUT)/$(LGM_SONAME) $(LGM_OUT)/libgpumux.so \
	$(LGM_OUT)/libgpumux.a $(LGM_OUT)/gpumux.pc

$(LGM_OUT)/obj/%.o: $(LGM_DIR)/src/%.c $(LGM_HDRS)
	@mkdir -p $(@D)
	$(CC) $(LGM_CFLAGS) -c -o $@ $<

$(LGM_OUT)/$(LGM_REAL): $(LGM_OBJS) $(LGM_SYM)
	$(CC) -shared -pthread -o $@ $(LGM_OBJS) -Wl,-soname,$(LGM_SONAME) \
		-Wl,--version-script=$(LGM_SYM) -Wl,-z,defs -Wl,--as-needed \
		$(LGM_SD_LIBS)

$(LGM_OUT)/$(LGM_SONAME): $(LGM_OUT)/$(LGM_REAL)
	ln -sf $(LGM_REAL) $@

$(LGM_OUT)/libgpumux.so: $(LGM_OUT)/$(LGM_SONAME)
	ln -sf $(LGM_SONAME) $@

# For the unit tests, which also call internal functions.
$(LGM_OUT)/libgpumux.a: $(LGM_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

# The pkg-config file, for the install prefix; rewritten only on change.
$(LGM_OUT)/gpumux.pc: $(LGM_DIR)/gpumux.pc.in FORCE
	@mkdir -p $(@D)
	@sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
		-e 's|@VERSION@|$(LGM_VERSION)|' $< >$@.tmp
	@if cmp -s $@.tmp $@; then rm $@.tmp; else mv $@.tmp $@; fi

.PHONY: FORCE
FORCE:

## libgpumux-example: build the example client (build/libclient/gpumux-example)
libgpumux-example: $(LGM_OUT)/gpumux-example

# Built as a user would: only the public header and the shared library.
$(LGM_OUT)/gpumux-example: $(LGM_DIR)/examples/gpumux-example.c \
		$(LGM_PUBLIC_HDR) $(LGM_OUT)/$(LGM_SONAME) $(LGM_OUT)/libgpumux.so
	$(CC) $(LGM_WARN) -I$(LGM_DIR)/include -o $@ $< -L$(LGM_OUT) \
		-lgpumux -Wl,-rpath,'$$ORIGIN'

## libgpumux-e2e: what tests/daemon/test-libgpumux.sh runs in the VM (test programs, example)
libgpumux-e2e: $(LGM_E2E_OUT)/test-libgpumux $(LGM_E2E_OUT)/test-libgpumux-asan \
	$(LGM_OUT)/gpumux-example

$(LGM_E2E_OUT)/test-libgpumux: $(LGM_ROOT)/tests/daemon/test-libgpumux.c \
		$(LGM_HDRS) $(LGM_OUT)/$(LGM_SONAME) $(LGM_OUT)/libgpumux.so
	@mkdir -p $(@D)
	$(CC) $(LGM_WARN) -I$(LGM_DIR)/include -I$(LGM_ROOT)/daemon \
		-I$(LGM_ROOT)/kmod/include/uapi $(LGM_SD_CFLAGS) -o $@ $< \
		-L$(LGM_OUT) -lgpumux \
		-Wl,-rpath,'$$ORIGIN/../../libclient' $(LGM_SD_LIBS)

# The same with the library's sources built in, both under ASan/UBSan.
$(LGM_E2E_OUT)/test-libgpumux-asan: $(LGM_ROOT)/tests/daemon/test-libgpumux.c \
		$(LGM_SRCS) $(LGM_HDRS)
	@mkdir -p $(@D)
	$(CC) $(LGM_CFLAGS) $(LGM_ASAN) -o $@ $< $(LGM_SRCS) $(LGM_SD_LIBS)

# ------------------------------------------------------------------ tests

LGM_TEST_SRC := $(LGM_DIR)/tests/test-client.c

$(LGM_OUT)/tests/test-client: $(LGM_TEST_SRC) $(LGM_OUT)/libgpumux.a \
		$(LGM_HDRS)
	@mkdir -p $(@D)
	$(CC) $(LGM_CFLAGS) $(LGM_CHECK_CFLAGS) -o $@ $< \
		$(LGM_OUT)/libgpumux.a $(LGM_CHECK_LIBS) $(LGM_SD_LIBS)

$(LGM_OUT)/tests/test-client-asan: $(LGM_TEST_SRC) $(LGM_SRCS) $(LGM_HDRS)
	@mkdir -p $(@D)
	$(CC) $(LGM_CFLAGS) $(LGM_ASAN) $(LGM_CHECK_CFLAGS) -o $@ $< \
		$(LGM_SRCS) $(LGM_CHECK_LIBS) $(LGM_SD_LIBS)

# The public header alone, as C99 and as C++ (extern "C", no gnu-isms).
$(LGM_OUT)/tests/header.stamp: $(LGM_PUBLIC_HDR)
	@mkdir -p $(@D)
	printf '#include <gpumux/client.h>\nint main(void) { return 0; }\n' \
		>$(@D)/header.c
	$(CC) -std=c99 -pedantic -Wall -Wextra -Werror -I$(LGM_DIR)/include \
		-fsyntax-only $(@D)/header.c
	if command -v $(CXX) >/dev/null; then \
		$(CXX) -std=c++11 -pedantic -Wall -Wextra -Werror \
		-I$(LGM_DIR)/include -fsyntax-only -x c++ $(@D)/header.c; fi
	touch $@

# Runs one test binary: 77 from it is a skip, anything else but 0 fails.
define LGM_RUN
	@echo "libgpumux-check: $(notdir $(1))"; \
	$(2) $(1); rc=$$?; \
	if [ $$rc -eq 77 ]; then echo "SKIP: $(notdir $(1))"; \
	elif [ $$rc -ne 0 ]; then exit $$rc; fi
endef

LGM_DESTDIR := $(LGM_OUT)/destdir

## libgpumux-check: libgpumux unit tests (plain, ASan/UBSan), ABI, man pages, install
ifeq ($(LGM_CHECK_LIBS),)
libgpumux-check:
	@echo "SKIP: libgpumux-check needs check (pkg-config check)"
else
libgpumux-check: libgpumux libgpumux-example libgpumux-e2e \
		$(LGM_OUT)/tests/test-client $(LGM_OUT)/tests/test-client-asan \
		$(LGM_OUT)/tests/header.stamp
	$(call LGM_RUN,$(LGM_OUT)/tests/test-client,CK_DEFAULT_TIMEOUT=20)
	$(call LGM_RUN,$(LGM_OUT)/tests/test-client-asan,CK_DEFAULT_TIMEOUT=60 \
		ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1)
	$(LGM_DIR)/tests/check-symbols.sh $(LGM_OUT)/$(LGM_SONAME) $(LGM_SYM) \
		$(LGM_PUBLIC_HDR)
	$(LGM_DIR)/tests/check-man.sh $(LGM_DIR)/man $(LGM_SYM)
	rm -rf $(LGM_DESTDIR)
	$(MAKE) --no-print-directory install-libgpumux DESTDIR=$(LGM_DESTDIR) \
		PREFIX=/usr LIBDIR=/usr/lib/x86_64-linux-gnu \
		INCLUDEDIR=/usr/include MANDIR=/usr/share/man >/dev/null
	$(LGM_DIR)/tests/check-install.sh $(LGM_DESTDIR) \
		$(LGM_DIR)/examples/gpumux-example.c
	@echo "PASS: libgpumux-check"
endif

CHECK_EXTRA += libgpumux-check

# ---------------------------------------------------------------- install

## install-libgpumux: install the library, header, gpumux.pc and man pages
install-libgpumux: libgpumux
	install -d $(DESTDIR)$(INCLUDEDIR)/gpumux $(DESTDIR)$(LIBDIR)/pkgconfig \
		$(DESTDIR)$(MANDIR)/man3
	install -m 644 $(LGM_PUBLIC_HDR) $(DESTDIR)$(INCLUDEDIR)/gpumux/
	install -m 755 $(LGM_OUT)/$(LGM_REAL) $(DESTDIR)$(LIBDIR)/
	ln -sf $(LGM_REAL) $(DESTDIR)$(LIBDIR)/$(LGM_SONAME)
	ln -sf $(LGM_SONAME) $(DESTDIR)$(LIBDIR)/libgpumux.so
	install -m 644 $(LGM_OUT)/gpumux.pc $(DESTDIR)$(LIBDIR)/pkgconfig/
	install -m 644 $(LGM_DIR)/man/*.3 $(DESTDIR)$(MANDIR)/man3/

INSTALL_EXTRA += install-libgpumux
