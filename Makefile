# Strata — plain GNU make, out-of-tree build.
#   make            build build/stratad and build/strata
#   make run        build and start stratad on ./data
#   make test       unit tests, fuzz-corpus replays, integration tests
#   make asan       the same suite under AddressSanitizer + UBSan (build-asan/)
#   make fuzz       libFuzzer targets (clang) for FUZZ_SECONDS each (build-fuzz/)
#   make bench      print the benchmark figures
#   make check-layers   fail on an #include that points up the layers
# V=1 shows commands.

BUILD ?= build
CC ?= cc
ifeq ($(origin CC),default)
CC := gcc
endif
FUZZ_SECONDS ?= 30
PKGS := liblz4 libzstd libuv sqlite3 zlib libpcre2-8

Q := $(if $(V),,@)
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

OPT ?= -O2
WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wvla
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -g $(OPT) -fno-strict-aliasing -pthread
ifeq ($(SAN),1)
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT := -O1
endif
ifeq ($(SAN),thread)
SAN_FLAGS := -fsanitize=thread -fno-omit-frame-pointer
OPT := -O1
endif
ifeq ($(FUZZ),1)
SAN_FLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -DST_FUZZING=1
OPT := -O1
endif
CFLAGS_ALL = $(BASE_CFLAGS) $(SAN_FLAGS) $(WARN) -I. -I$(LLHTTP_INC) $(PKG_CFLAGS) -MMD -MP $(EXTRA_CFLAGS)
LDFLAGS_ALL = $(SAN_FLAGS) -pthread $(EXTRA_LDFLAGS)
LIBS = $(PKG_LIBS) -lm

# llhttp from Debian's node-llhttp: compiled as-is, without our warning flags.
LLHTTP_SRC_DIR := /usr/share/llhttp
LLHTTP_INC := /usr/share/include/llhttp
LLHTTP_OBJ := $(BUILD)/llhttp/api.o $(BUILD)/llhttp/http.o $(BUILD)/llhttp/llhttp.o

LIB_SRC := $(wildcard common/*.c ingest/*.c query/*.c storage/*.c) \
           $(filter-out server/main.c,$(wildcard server/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
TOOL_SRC := $(wildcard tools/*.c)
TOOL_OBJ := $(TOOL_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
REPLAY_BIN := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=$(BUILD)/tests/fuzz/replay_%)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=$(BUILD)/tests/fuzz/fuzz_%)
BENCH_SRC := $(wildcard tools/bench/*.c)
BENCH_BIN := $(BENCH_SRC:tools/bench/%.c=$(BUILD)/bench/%)

STRATAD := $(abspath $(BUILD)/stratad)
STRATA := $(abspath $(BUILD)/strata)
export STRATAD STRATA

.SECONDARY:
.PHONY: all deps run test unit itest bench fuzz fuzz-build asan tsan clean install check-layers test-bins
.DEFAULT_GOAL := all

all: deps
	$(Q)$(MAKE) --no-print-directory binaries

binaries: $(BUILD)/stratad $(BUILD)/strata

deps:
	$(Q)sh tools/deps.sh

$(BUILD)/libstrata.a: $(LIB_OBJ)
	@mkdir -p $(@D)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/stratad: $(BUILD)/server/main.o $(BUILD)/libstrata.a $(LLHTTP_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(BUILD)/strata: $(TOOL_OBJ) $(BUILD)/libstrata.a $(LLHTTP_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(BUILD)/llhttp/%.o: $(LLHTTP_SRC_DIR)/%.c
	@mkdir -p $(@D)
	$(Q)$(CC) -std=c11 -g -O2 $(SAN_FLAGS) -w -I$(LLHTTP_INC) -c -o $@ $<

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(BUILD)/libstrata.a $(LLHTTP_OBJ)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

# Fuzz targets: with gcc, linked to a main() that replays the corpus (make test);
# with FUZZ=1 (clang), linked to libFuzzer (make fuzz).
$(BUILD)/tests/fuzz/replay_%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/tests/fuzz/replay_main.o $(BUILD)/libstrata.a $(LLHTTP_OBJ)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(BUILD)/tests/fuzz/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/libstrata.a $(LLHTTP_OBJ)
	$(Q)$(CC) $(LDFLAGS_ALL) -fsanitize=fuzzer -o $@ $^ $(LIBS)

# fuzz_csv also links strata import's CSV converter (tools/import_csv.c).
$(BUILD)/tests/fuzz/replay_csv: $(BUILD)/tests/fuzz/fuzz_csv.o $(BUILD)/tests/fuzz/replay_main.o $(BUILD)/tools/import_csv.o $(BUILD)/libstrata.a $(LLHTTP_OBJ)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(BUILD)/tests/fuzz/fuzz_csv: $(BUILD)/tests/fuzz/fuzz_csv.o $(BUILD)/tools/import_csv.o $(BUILD)/libstrata.a $(LLHTTP_OBJ)
	$(Q)$(CC) $(LDFLAGS_ALL) -fsanitize=fuzzer -o $@ $^ $(LIBS)

$(BUILD)/bench/%: $(BUILD)/tools/bench/%.o $(BUILD)/libstrata.a $(LLHTTP_OBJ)
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

# The HTTP load and query clients speak through the strata CLI's client.
$(BUILD)/bench/loadgen $(BUILD)/bench/qbench: $(BUILD)/bench/%: $(BUILD)/tools/bench/%.o $(BUILD)/tools/httpc.o $(BUILD)/libstrata.a $(LLHTTP_OBJ)
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

test-bins: binaries $(UNIT_BIN) $(REPLAY_BIN)

run: all
	$(Q)mkdir -p data
	$(BUILD)/stratad --data ./data

test: deps check-layers
	$(Q)$(MAKE) --no-print-directory test-bins
	$(Q)python3 tests/run.py --build $(BUILD) $(TEST_ARGS)

unit: deps
	$(Q)$(MAKE) --no-print-directory test-bins
	$(Q)python3 tests/run.py --build $(BUILD) --only unit,fuzz

itest: deps
	$(Q)$(MAKE) --no-print-directory test-bins
	$(Q)python3 tests/run.py --build $(BUILD) --only integration

asan: deps
	$(Q)$(MAKE) --no-print-directory BUILD=build-asan SAN=1 test

# The suite under ThreadSanitizer (halt_on_error: a race fails its test).
tsan: deps
	$(Q)TSAN_OPTIONS="halt_on_error=1 $(TSAN_OPTIONS)" $(MAKE) --no-print-directory BUILD=build-tsan SAN=thread test

fuzz: deps
	$(Q)$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang FUZZ=1 fuzz-build
	$(Q)sh tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

fuzz-build: $(FUZZ_BIN)

bench: deps
	$(Q)$(MAKE) --no-print-directory binaries $(BENCH_BIN)
	$(Q)sh tools/bench/run.sh $(BUILD) $(BENCH_ARGS)

check-layers:
	$(Q)sh tools/check-layers.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(BUILD)/stratad $(BUILD)/strata $(DESTDIR)$(PREFIX)/bin/
PREFIX ?= /usr/local

clean:
	rm -rf build build-asan build-tsan build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
