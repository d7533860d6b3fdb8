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
