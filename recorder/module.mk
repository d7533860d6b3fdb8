# recorder/module.mk: the recorder's benchmark (library sources are globbed
# by the top Makefile).

RECORD_BENCH := $(BUILD)/bench/record_bench

$(RECORD_BENCH): $(BUILD)/bench/record_bench.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

ALL_TARGETS += $(RECORD_BENCH)
BENCHES += $(RECORD_BENCH) bench/record_callgrind.sh

-include $(BUILD)/bench/record_bench.d

# Memory checkpoints on real KVM (bench/mem_bench.sh; the guests are
# tests/guests/memload64.c's).
BENCHES += bench/mem_bench.sh
