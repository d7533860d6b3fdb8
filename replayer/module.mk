# replayer/module.mk: the replayer's tools and benchmark (the library sources
# are globbed by the top Makefile; unit tests by tests/module.mk).

REPLAYER_TOOLS := $(BUILD)/tests/tools/trace_edit
REPLAYER_BENCH := $(BUILD)/bench/cursor_bench

$(REPLAYER_TOOLS) $(REPLAYER_BENCH): $(BUILD)/%: $(BUILD)/%.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

ALL_TARGETS += $(REPLAYER_TOOLS) $(REPLAYER_BENCH)
BENCHES += $(REPLAYER_BENCH)

-include $(REPLAYER_TOOLS:=.d) $(REPLAYER_BENCH:=.d)
