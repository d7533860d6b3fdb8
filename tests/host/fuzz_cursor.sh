#!/bin/bash
# tests/host/fuzz_cursor.sh: bounded fuzzing of the replay cursor (CI smoke,
# tests/fuzz/fuzz_cursor.c) for FUZZ_SECONDS (default 20) from the trace
# reader's seed corpus tests/fuzz/corpus/trace. TAP (tests/host/fuzz_lib.inc).
root=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$root/tests/host/fuzz_lib.inc"
fuzz_run fuzz_cursor "the replay cursor" "${FUZZ_SECONDS:-20}" "$root/tests/fuzz/corpus/trace"
