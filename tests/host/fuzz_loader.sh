#!/bin/bash
# fuzz_loader: run the guest-image loader fuzzer (tests/fuzz/fuzz_loader.c:
# format detection, ELF32/64 and multiboot parsing, flat images) for a bounded
# time, seeded with the test guests. A damaged image must give an error,
# never a crash, an out-of-bounds access or a hang. FUZZ_TIME (s, default 30).
# TAP (tests/host/fuzz_lib.inc).
root=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${VCR_BUILD:-build}
case $build in /*) ;; *) build=$root/$build ;; esac
. "$root/tests/host/fuzz_lib.inc"
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
cp "$build"/tests/guests/*.elf "$build"/tests/guests/*.bin "$seeds/" 2>/dev/null
fuzz_run fuzz_loader "the loader from $(ls "$seeds" | wc -l) guest images" "${FUZZ_TIME:-30}" \
    "$seeds" -- -max_len=65536
