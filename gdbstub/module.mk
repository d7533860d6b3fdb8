# gdbstub/module.mk: the gdbstub's tests, fuzzer and benchmark.

# Unit tests (tests/unit/rsp_*.c). The harness's tests/module.mk builds every
# tests/unit/*.c; until it exists, build ours here.
GDBSTUB_UNIT := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(wildcard tests/unit/rsp_*.c))
ifeq ($(wildcard tests/module.mk),)
$(BUILD)/tests/unit/rsp_%: tests/unit/rsp_%.c $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)
ALL_TARGETS += $(GDBSTUB_UNIT)
endif

# Host test helper: writes a small trace with the writer API (tests/host/gdb_*).
GDBSTUB_HELPERS := $(BUILD)/tests/host/gdb_mktrace
$(BUILD)/tests/host/gdb_mktrace: tests/host/gdb_mktrace.c $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)
ALL_TARGETS += $(if $(wildcard tests/host/gdb_mktrace.c),$(GDBSTUB_HELPERS))

# libFuzzer target for the packet parser and command layer (clang only).
# `make fuzz` runs each fuzzer briefly; tests/host/fuzz_rsp.sh runs it in CI.
FUZZ_BUILD ?= build-fuzz
FUZZ_TIME ?= 30
FUZZERS += tests/fuzz/fuzz_rsp.c
# The server without its targets (they need the VMM and the replayer).
GDBSTUB_FUZZ_SRCS := $(filter-out gdbstub/target_%.c gdbstub/live_%.c,$(wildcard gdbstub/*.c)) \
	core/regs.c core/state.c core/util.c core/x86_mmu.c
$(FUZZ_BUILD)/fuzz_rsp: tests/fuzz/fuzz_rsp.c $(GDBSTUB_FUZZ_SRCS) gdbstub/gdbstub_int.h tests/unit/rsp_memtarget.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -I. -D_GNU_SOURCE -pthread -o $@ \
		tests/fuzz/fuzz_rsp.c $(GDBSTUB_FUZZ_SRCS)

.PHONY: fuzz-rsp
fuzz: fuzz-rsp
fuzz-rsp: $(FUZZ_BUILD)/fuzz_rsp
	@mkdir -p $(FUZZ_BUILD)/corpus_rsp
	$(FUZZ_BUILD)/fuzz_rsp -max_total_time=$(FUZZ_TIME) -max_len=4096 -timeout=10 \
		-rss_limit_mb=1024 $(FUZZ_BUILD)/corpus_rsp tests/fuzz/corpus_rsp

# gdb 13 against our replay stub and QEMU's (bench/gdb_bench.sh).
BENCHES += bench/gdb_bench.sh
bench/gdb_bench.sh: $(GDBSTUB_HELPERS)
