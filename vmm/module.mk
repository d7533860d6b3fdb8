# vmm/module.mk: the test guests (tests/guests/) built into $(BUILD)/tests/guests.
# The VMM sources themselves are globbed into libvcr.a by the Makefile.
#
# Guests are freestanding: assembled with the C preprocessor (for guest.h)
# and linked with ld, no libc. Flags are the guests' own, not $(CFLAGS).

GUEST_SRC := tests/guests
GUEST_OUT := $(BUILD)/tests/guests
GUEST_LD ?= ld
GUEST_ASFLAGS := -I$(GUEST_SRC) -ffreestanding -nostdlib
GUEST_CFLAGS := -I$(GUEST_SRC) -m64 -ffreestanding -nostdlib -fno-pic -fno-pie \
	-fno-stack-protector -fno-asynchronous-unwind-tables -mno-red-zone \
	-mgeneral-regs-only -O1 -g -Wall -Wextra -Werror
GUEST_LDFLAGS := --build-id=none -z max-page-size=0x1000 -z noexecstack --no-warn-rwx-segments

GUESTS := $(GUEST_OUT)/hello16.bin $(GUEST_OUT)/pm32.elf $(GUEST_OUT)/count64.elf \
	$(GUEST_OUT)/count64.bin $(GUEST_OUT)/crash64.elf $(GUEST_OUT)/smp64.elf \
	$(GUEST_OUT)/rdtsc64.elf $(GUEST_OUT)/gdb64.elf $(GUEST_OUT)/spin64.elf \
	$(GUEST_OUT)/echo64.elf $(GUEST_OUT)/pm32k.bin
ALL_TARGETS += $(GUESTS)
GUEST_DEPS := $(GUEST_SRC)/guest.h $(GUEST_SRC)/lib64.inc $(GUEST_SRC)/guest.ld vmm/module.mk

# Real mode: a flat binary whose first byte is loaded at 0x7c00.
$(GUEST_OUT)/hello16.bin: $(GUEST_SRC)/hello16.S $(GUEST_DEPS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GUEST   $@")
	$(Q)$(CC) -m32 $(GUEST_ASFLAGS) -c -o $(@:.bin=.o) $<
	$(Q)$(GUEST_LD) -m elf_i386 $(GUEST_LDFLAGS) -Ttext=0x7c00 -e _start \
		--oformat binary -o $@ $(@:.bin=.o)

$(GUEST_OUT)/pm32.elf: $(GUEST_SRC)/pm32.S $(GUEST_DEPS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GUEST   $@")
	$(Q)$(CC) -m32 $(GUEST_ASFLAGS) -c -o $(@:.elf=.o) $<
	$(Q)$(GUEST_LD) -m elf_i386 $(GUEST_LDFLAGS) -T $(GUEST_SRC)/guest.ld -o $@ $(@:.elf=.o)

# pm32 again, as a flat multiboot kernel with a.out-kludge addresses.
$(GUEST_OUT)/pm32k.bin: $(GUEST_SRC)/pm32.S $(GUEST_DEPS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GUEST   $@")
	$(Q)$(CC) -m32 -DAOUT_KLUDGE $(GUEST_ASFLAGS) -c -o $(GUEST_OUT)/pm32k.o $<
	$(Q)$(GUEST_LD) -m elf_i386 $(GUEST_LDFLAGS) -T $(GUEST_SRC)/guest.ld \
		-o $(GUEST_OUT)/pm32k.elf $(GUEST_OUT)/pm32k.o
	$(Q)objcopy -O binary $(GUEST_OUT)/pm32k.elf $@

$(GUEST_OUT)/%64.elf: $(GUEST_SRC)/%64.S $(GUEST_DEPS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GUEST   $@")
	$(Q)$(CC) -m64 $(GUEST_ASFLAGS) -c -o $(@:.elf=.o) $<
	$(Q)$(GUEST_LD) -m elf_x86_64 $(GUEST_LDFLAGS) -T $(GUEST_SRC)/guest.ld -o $@ $(@:.elf=.o)

# The same long-mode guest as a flat image (load it at 0x100000).
$(GUEST_OUT)/count64.bin: $(GUEST_OUT)/count64.elf
	$(Q)objcopy -O binary $< $@

$(GUEST_OUT)/gdb64.elf: $(GUEST_SRC)/gdb64.c $(GUEST_SRC)/gdb64_start.S $(GUEST_DEPS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GUEST   $@")
	$(Q)$(CC) $(GUEST_CFLAGS) -c -o $(GUEST_OUT)/gdb64.o $(GUEST_SRC)/gdb64.c
	$(Q)$(CC) -m64 $(GUEST_ASFLAGS) -c -o $(GUEST_OUT)/gdb64_start.o $(GUEST_SRC)/gdb64_start.S
	$(Q)$(GUEST_LD) -m elf_x86_64 $(GUEST_LDFLAGS) -T $(GUEST_SRC)/guest.ld -o $@ \
		$(GUEST_OUT)/gdb64_start.o $(GUEST_OUT)/gdb64.o

# The loader fuzzer (make fuzz): clang, libFuzzer + ASan + UBSan, built from
# source in its own folder; seeded with the test guests.
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 30
FUZZERS += tests/fuzz/fuzz_loader.c
FUZZ_LOADER_SRCS := tests/fuzz/fuzz_loader.c $(wildcard vmm/*.c) core/state.c core/util.c core/end.c

$(FUZZ_BUILD)/fuzz_loader: $(FUZZ_LOADER_SRCS) $(wildcard vmm/*.h core/*.h)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZCC  $@")
	$(Q)clang -std=gnu11 -g -O1 -I. -D_GNU_SOURCE -pthread \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-fno-omit-frame-pointer -o $@ $(FUZZ_LOADER_SRCS)

.PHONY: fuzz-loader
fuzz: fuzz-loader
fuzz-loader: $(FUZZ_BUILD)/fuzz_loader $(GUESTS)
	$(Q)mkdir -p $(FUZZ_BUILD)/corpus-loader
	$(Q)$(FUZZ_BUILD)/fuzz_loader -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
		-timeout=10 -rss_limit_mb=1024 $(FUZZ_BUILD)/corpus-loader $(GUEST_OUT)

# The VMM's exit round-trip benchmark (make bench).
VMM_BENCH := $(BUILD)/bench/vmm_bench
BENCHES += $(VMM_BENCH) bench/linux_boot_bench.sh
$(VMM_BENCH): $(BUILD)/bench/vmm_bench.o $(LIB) $(GUEST_OUT)/spin64.elf
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)
-include $(BUILD)/bench/vmm_bench.d
