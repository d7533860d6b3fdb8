# vcr: one non-recursive Makefile. Modules add rules in their own module.mk.
#
#   make [all]        build $(BUILD)/vcr and everything the tests need
#   make check        install deps, build, run every test (unit, host, KVM)
#   make check-san    the same tests on an ASan+UBSan build in build-san/ (KVM
#                     tests on this machine's /dev/kvm where it has one)
#   make demo         record the sample guest on KVM and print the trace summary
#   make bench        run every benchmark in bench/ (prints "name value unit")
#   make fuzz         build the libFuzzer targets (clang) and run each briefly
#   make install      PREFIX=/usr/local DESTDIR= (pkg/module.mk; make uninstall)
#   make deps         install build/test dependencies (idempotent, quick)
#   V=1               show commands

BUILD ?= build
SAN ?= 0
ifeq ($(SAN),1)
BUILD := build-san
endif

CC ?= cc
PREFIX ?= /usr/local
DESTDIR ?=

WARNINGS := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral
OPT ?= -O2 -g
SANFLAGS :=
ifeq ($(SAN),1)
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
OPT := -O1 -g
endif
CFLAGS ?=
override CFLAGS += -std=gnu11 $(OPT) $(WARNINGS) $(SANFLAGS) -pthread
override CPPFLAGS += -I. -D_GNU_SOURCE -MMD -MP
LDFLAGS ?=
override LDFLAGS += $(SANFLAGS) -pthread
LDLIBS := -lzstd

# libcapstone (Debian's libcapstone-dev) decodes the instruction at an exit
# (core/disasm.c): a required dependency, found by pkg-config. Checked when
# core/disasm.o is compiled, not when the Makefile is read, so that `make
# deps` and `make check` can install it first.
CAPSTONE_CFLAGS := $(shell pkg-config --cflags capstone 2>/dev/null)
CAPSTONE_LIBS := $(shell pkg-config --libs capstone 2>/dev/null)
$(BUILD)/core/disasm.o: core/disasm.c
	@test -n "$(CAPSTONE_LIBS)" || { echo "libcapstone not found by pkg-config:" \
		"install libcapstone-dev (scripts/deps.sh)" >&2; exit 1; }
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CAPSTONE_CFLAGS) $(CFLAGS) -c -o $@ $<
LDLIBS += $(CAPSTONE_LIBS)

ifeq ($(V),1)
Q :=
else
Q := @
endif

.DEFAULT_GOAL := all
.PHONY: all check check-san demo bench fuzz clean deps

# Library: every .c of the modules below. The CLI links it, and so do tests.
LIB_DIRS := core formats vmm recorder replayer gdbstub
LIB_SRCS := $(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIB := $(BUILD)/libvcr.a

CLI_SRCS := $(wildcard cli/*.c)
CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/%.o)
VCR := $(BUILD)/vcr

# Modules append to these: ALL_TARGETS are built by `all`, BENCHES are run by
# `make bench` (each an executable printing "name value unit" lines), FUZZERS
# are libFuzzer target sources (tests/fuzz/*.c).
ALL_TARGETS := $(VCR)
BENCHES :=

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(VCR): $(CLI_OBJS) $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(LIB) $(LDLIBS)

# libvcr-preload.so (recorder/preload/): loaded into VMMs vcr did not write
# by `vcr record`; self-contained (libc and libdl only, no libvcr.a), PIC,
# and never sanitized (it runs inside someone else's process).
PRELOAD_SRCS := $(wildcard recorder/preload/*.c)
PRELOAD_OBJS := $(PRELOAD_SRCS:%.c=$(BUILD)/%.pic.o)
PRELOAD := $(BUILD)/libvcr-preload.so
PRELOAD_CFLAGS :=
ALL_TARGETS += $(PRELOAD)

$(BUILD)/%.pic.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $< (pic)")
	$(Q)$(CC) $(CPPFLAGS) -std=gnu11 -O2 -g $(WARNINGS) $(PRELOAD_CFLAGS) -fPIC -c -o $@ $<

$(PRELOAD): $(PRELOAD_OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared -o $@ $^ -ldl -lpthread

# bench/preload_bench: the library's work per KVM_RUN (preload.c built with
# VCR_PRE_BENCH: KVM_RUN replays captured kvm_run pages), counted by
# bench/preload_callgrind.sh.
PRELOAD_BENCH := $(BUILD)/bench/preload_bench
$(BUILD)/recorder/preload/preload.bench.o: recorder/preload/preload.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $< (bench)")
	$(Q)$(CC) $(CPPFLAGS) -std=gnu11 -O2 -g $(WARNINGS) $(PRELOAD_CFLAGS) -DVCR_PRE_BENCH -c -o $@ $<
$(PRELOAD_BENCH): $(BUILD)/bench/preload_bench.o $(BUILD)/recorder/preload/preload.bench.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -ldl
ALL_TARGETS += $(PRELOAD_BENCH)
BENCHES += bench/preload_callgrind.sh bench/foreign_record_bench.sh

# Module fragments (tests, guests, benches, fuzzers).
-include $(wildcard */module.mk)

all: $(ALL_TARGETS)

deps:
	$(Q)scripts/deps.sh

check: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory peer-suite
	$(Q)tests/run --build $(BUILD)

# The sanitizer build's KVM tests run on one flavour: this machine's own
# /dev/kvm where there is one (the nested reference already ran in `make
# check`; under ASan a nested batch doubles CI's time), else the nested one.
check-san: deps
	$(Q)$(MAKE) --no-print-directory SAN=1 all
	$(Q)$(MAKE) --no-print-directory SAN=1 peer-suite
	$(Q)tests/run --build build-san $(if $(wildcard /dev/kvm),--flavour direct,)

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)scripts/demo.sh $(BUILD)

bench: all $(BENCHES)
	$(Q)set -e; for b in $(BENCHES); do echo "# $$b"; VCR_BUILD=$(BUILD) ./$$b; done

clean:
	rm -rf build build-san build-fuzz

-include $(LIB_OBJS:.o=.d) $(CLI_OBJS:.o=.d) $(PRELOAD_OBJS:.o=.d) $(BUILD)/recorder/preload/preload.bench.d
