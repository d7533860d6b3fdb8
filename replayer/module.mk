# replayer/module.mk: the replayer's tools and benchmark (the library sources
# are globbed by the top Makefile; unit tests by tests/module.mk).

REPLAYER_TOOLS := $(BUILD)/tests/tools/trace_edit
REPLAYER_BENCH := $(BUILD)/bench/cursor_bench $(BUILD)/bench/mem_read_bench $(BUILD)/bench/core_bench

$(REPLAYER_TOOLS) $(REPLAYER_BENCH): $(BUILD)/%: $(BUILD)/%.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

ALL_TARGETS += $(REPLAYER_TOOLS) $(REPLAYER_BENCH)
BENCHES += $(REPLAYER_BENCH)

-include $(REPLAYER_TOOLS:=.d) $(REPLAYER_BENCH:=.d)

# The cursor fuzzer (make fuzz; tests/host/fuzz_cursor.sh in CI): clang,
# libFuzzer + ASan + UBSan, the cursor and the trace library from source;
# seeded with the trace reader's corpus (tests/fuzz/corpus/trace).
FUZZERS += tests/fuzz/fuzz_cursor.c
FUZZ_CURSOR_SRCS := tests/fuzz/fuzz_cursor.c replayer/cursor.c replayer/memory.c $(wildcard formats/*.c) \
	core/state.c core/util.c

$(FUZZ_BUILD)/fuzz_cursor: $(FUZZ_CURSOR_SRCS) tests/fuzz/fuzz_file.h $(wildcard formats/*.h core/*.h replayer/*.h)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZCC  $@")
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $(FUZZ_CURSOR_SRCS) -lzstd

.PHONY: fuzz-cursor
fuzz: fuzz-cursor
fuzz-cursor: $(FUZZ_BUILD)/fuzz_cursor
	$(Q)mkdir -p $(FUZZ_BUILD)/corpus-cursor
	$(Q)$(FUZZ_BUILD)/fuzz_cursor -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=1024 \
		-timeout=10 $(FUZZ_BUILD)/corpus-cursor tests/fuzz/corpus/trace

# The core writer's fuzzer (tests/host/fuzz_core.sh in CI): the trace
# corpus and a trace with page tables (tests/fuzz/corpus/core, written by
# tests/unit/core_elf SEED).
FUZZERS += tests/fuzz/fuzz_core.c
FUZZ_CORE_SRCS := tests/fuzz/fuzz_core.c replayer/core.c replayer/cursor.c replayer/memory.c $(wildcard formats/*.c) \
	core/state.c core/util.c core/regs.c core/x86_mmu.c

$(FUZZ_BUILD)/fuzz_core: $(FUZZ_CORE_SRCS) tests/fuzz/fuzz_file.h $(wildcard formats/*.h core/*.h replayer/*.h)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZCC  $@")
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $(FUZZ_CORE_SRCS) -lzstd

.PHONY: fuzz-core
fuzz: fuzz-core
fuzz-core: $(FUZZ_BUILD)/fuzz_core
	$(Q)mkdir -p $(FUZZ_BUILD)/corpus-core
	$(Q)$(FUZZ_BUILD)/fuzz_core -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=1024 \
		-timeout=10 $(FUZZ_BUILD)/corpus-core tests/fuzz/corpus/trace tests/fuzz/corpus/core
