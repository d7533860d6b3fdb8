# recorder/module.mk: the recorder's benchmark (library sources are globbed
# by the top Makefile).

RECORD_BENCH := $(BUILD)/bench/record_bench

$(RECORD_BENCH): $(BUILD)/bench/record_bench.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

ALL_TARGETS += $(RECORD_BENCH)
BENCHES += $(RECORD_BENCH) bench/record_callgrind.sh

-include $(BUILD)/bench/record_bench.d

# tests/tools/oracle_check: the differential oracle's comparison
# (tests/kvm/record_oracle.sh, docs/testing.md).
ORACLE_CHECK := $(BUILD)/tests/tools/oracle_check
$(ORACLE_CHECK): $(BUILD)/tests/tools/oracle_check.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)
ALL_TARGETS += $(ORACLE_CHECK)
-include $(BUILD)/tests/tools/oracle_check.d

# build/vcr-static: vcr linked with -static (Debian's libc.a, libzstd.a),
# the static VMM `vcr record --backend seccomp` is tested on. Where the
# static link is impossible (no libzstd.a, a sanitizer build) nothing is
# built and tests/kvm/record_oracle.sh skips that part, saying so.
VCR_STATIC := $(BUILD)/vcr-static
$(VCR_STATIC): $(CLI_OBJS) $(LIB)
	@$(if $(Q),echo "  LD      $@ (static)")
	$(Q)$(CC) -static -pthread -o $@ $(CLI_OBJS) $(LIB) $(LDLIBS) 2>$@.err && rm -f $@.err || \
	{ rm -f $@; echo "  vcr-static: cannot link statically here (see $@.err)" >&2; }
ifeq ($(SAN),0)
ALL_TARGETS += $(VCR_STATIC)
endif

# Memory checkpoints on real KVM (bench/mem_bench.sh; the guests are
# tests/guests/memload64.c's).
BENCHES += bench/mem_bench.sh
