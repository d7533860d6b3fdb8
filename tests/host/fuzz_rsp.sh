#!/bin/bash
# fuzz_rsp: run the gdbstub's libFuzzer target (tests/fuzz/fuzz_rsp.c: packet
# parser + command layer on an in-memory target) for a bounded time, from the
# seed corpus. Garbage, oversized and truncated packets must never crash,
# leak or hang the stub. FUZZ_TIME (seconds, default 30).
set -u
root=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
t=${FUZZ_TIME:-30}
command -v clang >/dev/null || { echo "1..0 # SKIP no clang"; exit 0; }
echo "1..2"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
if make -C "$root" --no-print-directory build-fuzz/fuzz_rsp >"$out/build.log" 2>&1; then
    echo "ok 1 - build the fuzzer"
else
    echo "not ok 1 - build the fuzzer"; sed 's/^/# /' "$out/build.log"; echo "not ok 2 - fuzz # not run"; exit 1
fi
mkdir -p "$out/corpus"
timeout $((t + 60)) "$root/build-fuzz/fuzz_rsp" -max_total_time="$t" -max_len=4096 -timeout=10 \
    -rss_limit_mb=1024 -print_final_stats=1 "$out/corpus" "$root/tests/fuzz/corpus_rsp" >"$out/log" 2>&1
rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/log")
if [ $rc = 0 ]; then
    echo "ok 2 - ${t}s of fuzzing, ${runs:-?} inputs, no crash, leak or hang"
else
    echo "not ok 2 - fuzzer failed (status $rc)"; tail -40 "$out/log" | sed 's/^/# /'
fi
exit $rc
