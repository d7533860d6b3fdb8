# tests/fuzz/module.mk: the Linux boot protocol fuzzer (tests/fuzz/fuzz_linux.c,
# clang, libFuzzer + ASan + UBSan); tests/host/fuzz_linux.sh runs it in CI.
# The other fuzzers' rules live with the module they fuzz.
FUZZ_BUILD ?= build-fuzz
FUZZERS += tests/fuzz/fuzz_linux.c
FUZZ_LINUX_SRCS := tests/fuzz/fuzz_linux.c vmm/loader_linux.c core/util.c

$(FUZZ_BUILD)/fuzz_linux: $(FUZZ_LINUX_SRCS) vmm/loader_linux.h core/util.h core/state.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZCC  $@")
	$(Q)clang -std=gnu11 -g -O1 -I. -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -fno-omit-frame-pointer -o $@ $(FUZZ_LINUX_SRCS)

.PHONY: fuzz-linux
fuzz: fuzz-linux
fuzz-linux:
	$(Q)FUZZ_TIME=$(or $(FUZZ_SECONDS),30) tests/host/fuzz_linux.sh

# The instruction decoder on any state and memory (tests/fuzz/fuzz_disasm.c,
# tests/host/fuzz_disasm.sh).
FUZZERS += tests/fuzz/fuzz_disasm.c
FUZZ_DISASM_SRCS := tests/fuzz/fuzz_disasm.c core/disasm.c core/x86_mmu.c

$(FUZZ_BUILD)/fuzz_disasm: $(FUZZ_DISASM_SRCS) core/disasm.h core/x86_mmu.h core/state.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZCC  $@")
	$(Q)clang -std=gnu11 -g -O1 -I. -D_GNU_SOURCE $(CAPSTONE_CFLAGS) \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-fno-omit-frame-pointer -o $@ $(FUZZ_DISASM_SRCS) $(CAPSTONE_LIBS)

.PHONY: fuzz-disasm
fuzz: fuzz-disasm
fuzz-disasm:
	$(Q)FUZZ_TIME=$(or $(FUZZ_SECONDS),30) tests/host/fuzz_disasm.sh
