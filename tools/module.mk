# tools/module.mk: the synthetic trace generator (tests of dump/stats/diff)
# and the diff benchmark.

TOOLS_GEN := $(BUILD)/tools/gen_trace
DIFF_BENCH := $(BUILD)/bench/diff_bench

$(TOOLS_GEN): $(BUILD)/tools/gen_trace.o $(BUILD)/tools/gen.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(DIFF_BENCH): $(BUILD)/bench/diff_bench.o $(BUILD)/tools/gen.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

ALL_TARGETS += $(TOOLS_GEN) $(DIFF_BENCH)
BENCHES += $(DIFF_BENCH)

-include $(BUILD)/tools/gen_trace.d $(BUILD)/tools/gen.d $(BUILD)/bench/diff_bench.d
