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

$(TEST_BINS): $(BUILD)/tests/%: $(BUILD)/tests/%.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) -lpthread

ALL_TARGETS += $(TEST_BINS)

.PHONY: tests
tests: $(TEST_BINS)

# Sub-folders of tests/ with their own build rules (guest images, ...): the
# top Makefile only includes */module.mk, one level down.
-include $(wildcard tests/*/module.mk)

-include $(TEST_BINS:=.d)
