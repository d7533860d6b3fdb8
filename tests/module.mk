# tests/module.mk: the test executables (see docs/testing.md).
#
# Every tests/unit/NAME.c becomes $(BUILD)/tests/unit/NAME (run on this
# machine) and every tests/kvm/NAME.c becomes $(BUILD)/tests/kvm/NAME (run on
# real KVM, nested if need be, by tests/run through tests/nested/kvm-run).
# One .c per test, linked with libvcr.a; helpers shared by tests are headers
# in tests/lib/. Scripts (tests/host/*.sh, tests/kvm/*.sh) need no build.

TEST_UNIT_BINS := $(patsubst %.c,$(BUILD)/%,$(wildcard tests/unit/*.c))
TEST_KVM_BINS := $(patsubst %.c,$(BUILD)/%,$(wildcard tests/kvm/*.c))
TEST_BINS := $(TEST_UNIT_BINS) $(TEST_KVM_BINS)

# The tests' library: libvcr.a with the writer built with VCR_TEST_HOOKS
# (trf_writer_append_raw, formats/trace_fmt.h). `make install` ships
# libvcr.a, which has no test hook.
TEST_LIB := $(BUILD)/libvcr-test.a
TEST_HOOK_OBJS := $(BUILD)/formats/trace_writer-hooks.o
$(TEST_HOOK_OBJS): $(BUILD)/formats/%-hooks.o: formats/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $< (test hooks)")
	$(Q)$(CC) $(CPPFLAGS) -DVCR_TEST_HOOKS $(CFLAGS) -c -o $@ $<
$(TEST_LIB): $(filter-out $(BUILD)/formats/trace_writer.o,$(LIB_OBJS)) $(TEST_HOOK_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

# Per-test link flags: TEST_LDFLAGS_<name>. trace_nomem wraps malloc to
# inject allocation failures into the library (the wrap is the test's own;
# nothing of it is in either library).
TEST_LDFLAGS_trace_nomem := -Wl,--wrap=malloc

$(TEST_BINS): $(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $(TEST_LDFLAGS_$(notdir $@)) -o $@ $< $(TEST_LIB) $(LDLIBS) -lpthread

ALL_TARGETS += $(TEST_BINS)

.PHONY: tests
tests: $(TEST_BINS)

# Sub-folders of tests/ with their own build rules (guest images, ...): the
# top Makefile only includes */module.mk, one level down.
-include $(wildcard tests/*/module.mk)

-include $(TEST_BINS:=.d) $(TEST_HOOK_OBJS:.o=.d)
