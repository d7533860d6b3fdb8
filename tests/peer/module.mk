# tests/peer/module.mk: qdev32, the guest that checks vcr's QEMU-compatible
# devices and multiboot placement (tests/kvm/qemu_devices.sh). The GUEST_*
# flags are vmm/module.mk's (read when the recipe runs).
$(BUILD)/tests/guests/qdev32.elf: tests/guests/qdev32.S tests/guests/lib32.inc tests/guests/qdev32.ld \
		tests/guests/guest.h tests/peer/module.mk
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GUEST   $@")
	$(Q)$(CC) -m32 $(GUEST_ASFLAGS) -c -o $(@:.elf=.o) $<
	$(Q)$(GUEST_LD) -m elf_i386 $(GUEST_LDFLAGS) -T tests/guests/qdev32.ld -o $@ $(@:.elf=.o)
ALL_TARGETS += $(BUILD)/tests/guests/qdev32.elf

# make peer: every default x86_64 test of kvm-unit-tests, under vcr (plain,
# recorded, replayed) and QEMU side by side (docs/testing.md).
.PHONY: peer
peer: all
	tests/peer/kvm-unit-tests.sh --build $(BUILD)

# peer-suite: kvm-unit-tests built into $(BUILD)/peer/ from the shared
# tarball (nothing when there is none), for tests/kvm/peer_subset.sh, which
# runs in L1 where building would be slow. make check and check-san make it.
.PHONY: peer-suite
peer-suite:
	$(Q)tests/peer/kvm-unit-tests.sh --build $(BUILD) --build-only
