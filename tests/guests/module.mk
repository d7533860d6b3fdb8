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

# pcsmp32: a multiboot kernel checking the pc machine (IRQ lines through the
# in-kernel IOAPIC, HLT woken by an interrupt, APs by INIT/SIPI;
# tests/kvm/pc_machine.sh).
PCSMP32 := $(BUILD)/tests/guests/pcsmp32.elf
$(PCSMP32): tests/guests/pcsmp32.S tests/guests/lib32.inc tests/guests/guest.h tests/guests/guest.ld \
		tests/guests/module.mk
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GUEST   $@")
	$(Q)$(CC) -m32 $(GUEST_ASFLAGS) -c -o $(@:.elf=.o) $<
	$(Q)$(GUEST_LD) -m elf_i386 $(GUEST_LDFLAGS) -T tests/guests/guest.ld -o $@ $(@:.elf=.o)
ALL_TARGETS += $(PCSMP32)

# vmport32: a multiboot kernel calling the pc machine's VMware backdoor port
# at CPL 0 and checking the registers as QEMU leaves them (tests/kvm/vmport.sh).
VMPORT32 := $(BUILD)/tests/guests/vmport32.elf
$(VMPORT32): tests/guests/vmport32.S tests/guests/lib32.inc tests/guests/guest.h \
		tests/guests/guest.ld tests/guests/module.mk
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GUEST   $@")
	$(Q)$(CC) -m32 $(GUEST_ASFLAGS) -c -o $(@:.elf=.o) $<
	$(Q)$(GUEST_LD) -m elf_i386 $(GUEST_LDFLAGS) -T tests/guests/guest.ld -o $@ $(@:.elf=.o)
ALL_TARGETS += $(VMPORT32)

# hv32: a multiboot kernel using KVM's Hyper-V emulation (--cpuid
# host,hv-passthrough; tests/kvm/hyperv.sh).
HV32 := $(BUILD)/tests/guests/hv32.elf
$(HV32): tests/guests/hv32.S tests/guests/lib32.inc tests/guests/guest.h \
		tests/guests/guest.ld tests/guests/module.mk
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GUEST   $@")
	$(Q)$(CC) -m32 $(GUEST_ASFLAGS) -c -o $(@:.elf=.o) $<
	$(Q)$(GUEST_LD) -m elf_i386 $(GUEST_LDFLAGS) -T tests/guests/guest.ld -o $@ $(@:.elf=.o)
ALL_TARGETS += $(HV32)

# insn16/32/64: guests that triple-fault at a known instruction in each
# mode (tests/kvm/insn_exits.sh). insn16.elf only gives nm its symbols;
# insn32f.elf is insn32 without paging.
INSN16 := $(BUILD)/tests/guests/insn16.bin
INSN32 := $(BUILD)/tests/guests/insn32.elf $(BUILD)/tests/guests/insn32f.elf
INSN64 := $(BUILD)/tests/guests/insn64.elf
$(INSN16): tests/guests/insn16.S tests/guests/guest.h tests/guests/module.mk
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GUEST   $@")
	$(Q)$(CC) -m32 $(GUEST_ASFLAGS) -c -o $(@:.bin=.o) $<
	$(Q)$(GUEST_LD) -m elf_i386 $(GUEST_LDFLAGS) -Ttext=0x7c00 -e _start -o $(@:.bin=.elf) \
		$(@:.bin=.o)
	$(Q)objcopy -O binary $(@:.bin=.elf) $@
$(INSN32): tests/guests/insn32.S tests/guests/guest.h tests/guests/guest.ld tests/guests/module.mk
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GUEST   $@")
	$(Q)$(CC) -m32 $(if $(filter %f.elf,$@),-DINSN32_FLAT) $(GUEST_ASFLAGS) -c -o $(@:.elf=.o) $<
	$(Q)$(GUEST_LD) -m elf_i386 $(GUEST_LDFLAGS) -T tests/guests/guest.ld -o $@ $(@:.elf=.o)

ALL_TARGETS += $(INSN16) $(INSN32) $(INSN64)

# mem64: memory in traces (tests/kvm/mem_checkpoints.sh): C with frame
# pointers and debug info, so gdb walks its call chain from a trace.
MEM64 := $(BUILD)/tests/guests/mem64.elf
$(MEM64): tests/guests/mem64.c tests/guests/mem64_start.S tests/guests/guest.h \
		tests/guests/guest.ld tests/guests/module.mk
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GUEST   $@")
	$(Q)$(CC) $(GUEST_CFLAGS) -fno-omit-frame-pointer -c -o $(@:.elf=.o) tests/guests/mem64.c
	$(Q)$(CC) -m64 $(GUEST_ASFLAGS) -c -o $(@:.elf=_start.o) tests/guests/mem64_start.S
	$(Q)$(GUEST_LD) -m elf_x86_64 $(GUEST_LDFLAGS) -T tests/guests/guest.ld -o $@ \
		$(@:.elf=_start.o) $(@:.elf=.o)

ALL_TARGETS += $(MEM64)

# memload64 / exits64: the guests of bench/mem_bench.sh (a guest that dirties
# memory steadily, and one that only exits), from one source.
MEMLOAD64 := $(BUILD)/tests/guests/memload64.elf $(BUILD)/tests/guests/exits64.elf
$(BUILD)/tests/guests/memload64.elf: DEFS := -DMEMLOAD_DIRTY -DMEMLOAD_ITERS=300000u
$(BUILD)/tests/guests/exits64.elf: DEFS := -DMEMLOAD_ITERS=2000000u
$(MEMLOAD64): tests/guests/memload64.c tests/guests/gdb64_start.S tests/guests/guest.h \
		tests/guests/guest.ld tests/guests/module.mk
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GUEST   $@")
	$(Q)$(CC) $(GUEST_CFLAGS) $(DEFS) -Dgdb64_main=memload64_main -c -o $(@:.elf=.o) \
		tests/guests/memload64.c
	$(Q)$(CC) -m64 $(GUEST_ASFLAGS) -Dgdb64_main=memload64_main -c -o $(@:.elf=_start.o) \
		tests/guests/gdb64_start.S
	$(Q)$(GUEST_LD) -m elf_x86_64 $(GUEST_LDFLAGS) -T tests/guests/guest.ld -o $@ \
		$(@:.elf=_start.o) $(@:.elf=.o)

ALL_TARGETS += $(MEMLOAD64)
