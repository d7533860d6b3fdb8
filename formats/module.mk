# formats/module.mk: the trace benchmark, the trace fuzzer and its seed
# corpus (library sources are globbed by the top Makefile).
#
#   make bench        runs $(BUILD)/bench/trace_bench and bench/trace_callgrind.sh
#   make fuzz         builds build-fuzz/fuzz_trace (clang, libFuzzer+ASan+UBSan)
#                     and runs it for FUZZ_SECONDS (default 30) on the corpus
#   make fuzz-corpus  regenerates tests/fuzz/corpus/trace/ (small traces)

TRACE_BENCH := $(BUILD)/bench/trace_bench

$(TRACE_BENCH): $(BUILD)/bench/trace_bench.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

ALL_TARGETS += $(TRACE_BENCH)
BENCHES += $(TRACE_BENCH) bench/trace_callgrind.sh

# The fuzzer is built from source with clang in its own folder: the library
# objects need -fsanitize=fuzzer-no-link for coverage.
FUZZ_BUILD := build-fuzz
FUZZ_CC ?= clang
FUZZ_FLAGS := -std=gnu11 -g -O1 -I. -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -fno-omit-frame-pointer \
	-DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
FUZZ_TRACE_SRCS := tests/fuzz/fuzz_trace.c $(wildcard formats/*.c) core/state.c core/util.c
FUZZ_SECONDS ?= 30

$(FUZZ_BUILD)/fuzz_trace: $(FUZZ_TRACE_SRCS) tests/fuzz/fuzz_file.h $(wildcard formats/*.h core/*.h)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZCC  $@")
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $(FUZZ_TRACE_SRCS) -lzstd

.PHONY: fuzz-trace fuzz-corpus
fuzz-trace: $(FUZZ_BUILD)/fuzz_trace
	$(Q)mkdir -p $(FUZZ_BUILD)/corpus-trace
	$(Q)$(FUZZ_BUILD)/fuzz_trace -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=1024 \
		-timeout=10 $(FUZZ_BUILD)/corpus-trace tests/fuzz/corpus/trace

fuzz: fuzz-trace

TRACE_CORPUS_GEN := $(BUILD)/tests/fuzz/trace_corpus_gen
$(TRACE_CORPUS_GEN): $(BUILD)/tests/fuzz/trace_corpus_gen.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

fuzz-corpus: $(TRACE_CORPUS_GEN)
	$(Q)mkdir -p tests/fuzz/corpus/trace
	$(Q)$(TRACE_CORPUS_GEN) tests/fuzz/corpus/trace

-include $(BUILD)/bench/trace_bench.d $(BUILD)/tests/fuzz/trace_corpus_gen.d
