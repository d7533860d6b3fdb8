#!/bin/bash
# fuzz_rsp: run the gdbstub's libFuzzer target (tests/fuzz/fuzz_rsp.c: packet
# parser + command layer on an in-memory target) for a bounded time, from the
# seed corpus. Garbage, oversized and truncated packets must never crash,
# leak or hang the stub. FUZZ_TIME (seconds, default 30). TAP
# (tests/host/fuzz_lib.inc).
root=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$root/tests/host/fuzz_lib.inc"
fuzz_run fuzz_rsp "the packet parser and command layer" "${FUZZ_TIME:-30}" \
    "$root/tests/fuzz/corpus_rsp" -- -max_len=4096
