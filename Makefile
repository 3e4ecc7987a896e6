# xcon: GNU make + pkg-config.  `make` builds bin/xcon and bin/xe; `make run`
# starts the TUI on the simulated host; `make check` builds everything twice
# (plain and AddressSanitizer+UBSan) and runs every test; `make bench` measures.

PKGS     := sqlite3 libmicrohttpd jansson pam
CC       ?= cc
PYTHON   := /usr/bin/python3
CSTD     := -std=c11 -D_GNU_SOURCE
WARN     := -Wall -Wextra -Wshadow -Wno-unused-parameter -Wstrict-prototypes -Wmissing-prototypes
OPT      ?= -O2 -g
# XML-RPC requests are parsed by rpc/xmlrpc_parse.c: nothing links xmlrpc-c
# (tools/install-deps keeps its package for the future xe client).
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lutil -lm
CFLAGS   ?=
CFLAGS_ALL = $(CSTD) $(WARN) $(OPT) $(PKG_CFLAGS) $(CFLAGS) -MMD -MP

# Layers, bottom up (tools/check-layers keeps the includes pointing this way).
LIB_DIRS := util dm hv engine rpc client
LIB_SRC  := $(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.c))
XCON_SRC := $(wildcard cmd/xcon*.c) $(wildcard ui/*.c)
XE_SRC   := $(wildcard cli/*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)

# Two builds: B=build (plain) and B=build-asan (sanitizers).
B ?= build
ifeq ($(B),build-asan)
OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
# libcrypt linked up front: ASan intercepts crypt_r, and would find no real
# one when PAM loads pam_unix.so (and with it libcrypt) later.
LDSAN := -fsanitize=address,undefined -Wl,--no-as-needed -lcrypt
endif

LIB_OBJ  := $(LIB_SRC:%.c=$(B)/obj/%.o)
XCON_OBJ := $(XCON_SRC:%.c=$(B)/obj/%.o)
XE_OBJ   := $(XE_SRC:%.c=$(B)/obj/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
BIN_DIR  := $(if $(filter build,$(B)),bin,$(B)/bin)
# Whole archive: handlers bind by weak reference (engine/ops_table.c), which
# would not pull their objects out of a plain archive.
WHOLE    := -Wl,--whole-archive $(B)/libxcon.a -Wl,--no-whole-archive

.PHONY: all deps run check unit e2e layers bench clean asan
.DEFAULT_GOAL := all

all: deps
	@$(MAKE) --no-print-directory B=build binaries

asan: deps
	@$(MAKE) --no-print-directory B=build-asan binaries

binaries: $(BIN_DIR)/xcon $(BIN_DIR)/xe $(UNIT_BIN)

deps:
	@tools/install-deps

$(B)/libxcon.a: $(LIB_OBJ)
	@mkdir -p $(@D)
	@rm -f $@
	@echo "  AR      $@"
	@ar rcs $@ $^

$(BIN_DIR)/xcon: $(XCON_OBJ) $(B)/libxcon.a
	@mkdir -p $(@D)
	$(CC) $(LDSAN) -o $@ $(XCON_OBJ) $(WHOLE) $(PKG_LIBS) $(shell pkg-config --libs ncursesw 2>/dev/null)

$(BIN_DIR)/xe: $(XE_OBJ) $(B)/libxcon.a
	@mkdir -p $(@D)
	$(CC) $(LDSAN) -o $@ $(XE_OBJ) $(WHOLE) $(PKG_LIBS)

$(B)/tests/%: tests/unit/%.c $(B)/libxcon.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(LDSAN) -o $@ $< $(WHOLE) $(PKG_LIBS) $(shell pkg-config --libs cmocka)

$(B)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

# Until the TUI lands (a later issue), `make run` runs the engine in the
# foreground on the simulated host, serving the API on its socket and :8080.
run: all
	@mkdir -p $(HOME)/.local/state/xcon
	bin/xcon --headless --backend sim --state-dir $(HOME)/.local/state/xcon \
	  --socket $(HOME)/.local/state/xcon/xcon.sock --listen 127.0.0.1:8080

unit: all asan
	@tools/run-unit build build-asan

e2e: all asan
	@XCON_BIN=$(CURDIR)/build-asan/bin/xcon XE_BIN=$(CURDIR)/build-asan/bin/xe \
	  $(PYTHON) -m pytest -q -p no:cacheprovider tests/e2e $(PYTEST_ARGS)

layers:
	@tools/check-layers

check: layers unit e2e

# Only bin/xcon is needed (bench/run compiles its own clients with cc).
bench: deps
	@$(MAKE) --no-print-directory B=build bin/xcon
	@bench/run

clean:
	rm -rf build build-asan bin

-include $(shell find $(B) build build-asan -name '*.d' 2>/dev/null | sort -u)
