#!/bin/bash
# record_callgrind.sh: instructions the recorder costs the vCPU thread per
# exit: callgrind counts what executes inside the recorder's observer
# callbacks, which vmm/ calls (obs_after_run_avx2 or _sse2, as picked when
# the observer is filled: AVX2 on this machine and under valgrind, which has
# no AVX-512; obs_before_run), callees included (only these: nested toggles
# would switch collection off again), while
# record_bench --callgrind N drives N exits; main thread only
# (--separate-threads: the writer thread's work is not counted). The bench
# loop around the hooks (the VMM's part) is not counted.
set -euo pipefail
build=${VCR_BUILD:-build}
bench=$build/bench/record_bench
n=${RECORD_CALLGRIND_EXITS:-200000}
if ! command -v valgrind >/dev/null; then
    echo "# record_vcpu_instr_per_exit: not measured (valgrind not installed)"
    exit 0
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
valgrind --tool=callgrind --separate-threads=yes --collect-atstart=no \
    --toggle-collect='obs_after_run*' --toggle-collect=obs_before_run \
    --callgrind-out-file="$dir/cg.out" \
    "$bench" --callgrind "$n" >/dev/null 2>"$dir/log" || { cat "$dir/log" >&2; exit 1; }
# Thread 1 is the main (vCPU) thread; its file says "totals: <Ir>".
f=$(ls "$dir"/cg.out-01 2>/dev/null || ls "$dir"/cg.out* | head -1)
total=$(awk '/^(totals|summary):/ {print $2; exit}' "$f")
awk -v t="$total" -v n="$n" 'BEGIN { printf "record_vcpu_instr_per_exit %.1f instr\n", t / n }'
