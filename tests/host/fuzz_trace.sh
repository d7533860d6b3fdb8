#!/bin/bash
# tests/host/fuzz_trace.sh: bounded fuzzing of the trace reader (CI smoke,
# tests/fuzz/fuzz_trace.c) for FUZZ_SECONDS (default 30) from the seed
# corpus tests/fuzz/corpus/trace. TAP (tests/host/fuzz_lib.inc).
root=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$root/tests/host/fuzz_lib.inc"
fuzz_run fuzz_trace "the trace reader" "${FUZZ_SECONDS:-30}" "$root/tests/fuzz/corpus/trace"
