#!/bin/bash
# fuzz_loader: run the guest-image loader fuzzer (tests/fuzz/fuzz_loader.c:
# format detection, ELF32/64 and multiboot parsing, flat images) for a bounded
# time, seeded with the test guests. A damaged image must give an error,
# never a crash, an out-of-bounds access or a hang. FUZZ_TIME (s, default 30).
set -u
root=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${VCR_BUILD:-build}
case $build in /*) ;; *) build=$root/$build ;; esac
t=${FUZZ_TIME:-30}
command -v clang >/dev/null || { echo "1..0 # SKIP no clang"; exit 0; }
echo "1..2"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
if make -C "$root" --no-print-directory build-fuzz/fuzz_loader >"$out/build.log" 2>&1; then
    echo "ok 1 - build the loader fuzzer"
else
    echo "not ok 1 - build the loader fuzzer"; sed 's/^/# /' "$out/build.log"
    echo "not ok 2 - fuzz # not run"; exit 1
fi
mkdir -p "$out/corpus" "$out/seeds"
cp "$build"/tests/guests/*.elf "$build"/tests/guests/*.bin "$out/seeds/" 2>/dev/null
timeout $((t + 60)) "$root/build-fuzz/fuzz_loader" -max_total_time="$t" -max_len=65536 \
    -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 "$out/corpus" "$out/seeds" >"$out/log" 2>&1
rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/log")
seeds=$(ls "$out/seeds" | wc -l)
if [ $rc = 0 ]; then
    echo "ok 2 - ${t}s of fuzzing from $seeds guest images, ${runs:-?} inputs, no crash, leak or hang"
else
    echo "not ok 2 - fuzzer failed (status $rc)"; tail -40 "$out/log" | sed 's/^/# /'
fi
exit $rc
