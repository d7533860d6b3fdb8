# tools/module.mk: the synthetic trace generator (tests of dump/stats/diff)
# and the diff benchmark.

TOOLS_GEN := $(BUILD)/tools/gen_trace
TOOLS_PROBE := $(BUILD)/tools/cursor_probe
DIFF_BENCH := $(BUILD)/bench/diff_bench

$(TOOLS_GEN): $(BUILD)/tools/gen_trace.o $(BUILD)/tools/gen.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(TOOLS_PROBE): $(BUILD)/tools/cursor_probe.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(DIFF_BENCH): $(BUILD)/bench/diff_bench.o $(BUILD)/tools/gen.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

ALL_TARGETS += $(TOOLS_GEN) $(TOOLS_PROBE) $(DIFF_BENCH)
BENCHES += $(DIFF_BENCH) bench/timeline_bench.sh

-include $(BUILD)/tools/gen_trace.d $(BUILD)/tools/gen.d $(BUILD)/tools/cursor_probe.d \
	$(BUILD)/bench/diff_bench.d

# tests/tools/trace_future: a trace with record types this vcr does not know
# (tests/host/timeline.sh); the tests' library for its writer hook.
TOOLS_FUTURE := $(BUILD)/tests/tools/trace_future
$(TOOLS_FUTURE): $(BUILD)/tests/tools/trace_future.o $(TEST_LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
ALL_TARGETS += $(TOOLS_FUTURE)
-include $(TOOLS_FUTURE).d
