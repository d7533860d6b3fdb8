# tests/guests/module.mk: guests built outside vmm/module.mk's list. This
# file is read before vmm/module.mk, so targets and prerequisites spell
# their paths out; recipes use vmm/module.mk's GUEST_* (expanded later).

# mbcalc32: a multiboot a.out-kludge kernel whose port exits are the same
# under vcr and QEMU (tests/kvm/record_foreign.sh).
MBCALC32 := $(BUILD)/tests/guests/mbcalc32.bin
$(MBCALC32): tests/guests/mbcalc32.S tests/guests/guest.h tests/guests/guest.ld \
		tests/guests/module.mk
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GUEST   $@")
	$(Q)$(CC) -m32 $(GUEST_ASFLAGS) -c -o $(@:.bin=.o) $<
	$(Q)$(GUEST_LD) -m elf_i386 $(GUEST_LDFLAGS) -T tests/guests/guest.ld \
		-o $(@:.bin=.elf) $(@:.bin=.o)
	$(Q)objcopy -O binary $(@:.bin=.elf) $@

ALL_TARGETS += $(MBCALC32)
