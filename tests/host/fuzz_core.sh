#!/bin/bash
# tests/host/fuzz_core.sh: bounded fuzzing of the ELF core writer (CI smoke,
# tests/fuzz/fuzz_core.c) for FUZZ_SECONDS (default 20) from the trace
# reader's seeds and a trace with page tables (tests/fuzz/corpus/core).
# TAP (tests/host/fuzz_lib.inc).
root=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$root/tests/host/fuzz_lib.inc"
fuzz_run fuzz_core "the ELF core writer" "${FUZZ_SECONDS:-20}" "$root/tests/fuzz/corpus/trace" \
    "$root/tests/fuzz/corpus/core"
