#!/bin/bash
# tests/host/fuzz_cursor.sh: bounded fuzzing of the replay cursor (CI smoke):
# builds build-fuzz/fuzz_cursor with clang (libFuzzer + ASan + UBSan) and runs
# it for FUZZ_SECONDS (default 20) from the seed corpus
# tests/fuzz/corpus/trace. TAP; skipped when clang or libFuzzer is missing.
set -u
root=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
secs=${FUZZ_SECONDS:-20}
cd "$root" || exit 1
if ! command -v clang >/dev/null; then
    echo "1..0 # SKIP clang not installed"
    exit 0
fi
echo "1..2"
log=$(mktemp)
corpus=$(mktemp -d)
trap 'rm -rf "$log" "$corpus"' EXIT
if make --no-print-directory -s build-fuzz/fuzz_cursor >"$log" 2>&1; then
    echo "ok 1 - build fuzz_cursor"
else
    echo "not ok 1 - build fuzz_cursor"
    sed 's/^/# /' "$log" | tail -20
    echo "not ok 2 - fuzz the replay cursor # not run"
    exit 1
fi
# A fresh output corpus each run: the committed seeds stay as they are.
if build-fuzz/fuzz_cursor -max_total_time="$secs" -rss_limit_mb=1024 -timeout=10 \
    -print_final_stats=1 "$corpus" tests/fuzz/corpus/trace >"$log" 2>&1; then
    runs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log")
    echo "ok 2 - fuzz the replay cursor for ${secs}s: ${runs:-?} inputs, no crash"
else
    echo "not ok 2 - fuzz the replay cursor: crash, leak or timeout"
    grep -E 'ERROR|SUMMARY|Test unit written|^    #[0-9]' "$log" | head -30 | sed 's/^/# /'
    exit 1
fi
