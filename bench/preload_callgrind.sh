#!/bin/bash
# preload_callgrind.sh: instructions libvcr-preload.so adds to a VMM's
# KVM_RUN (goal <= 200): callgrind counts what executes inside the
# interposed ioctl (pre_ioctl_avx2 or pre_ioctl_sse2, whichever its ifunc
# picked), with the replayed kernel part (vcr_pre_bench_kvm_run, a nested
# toggle) left out, over bench/preload_bench's N calls on captured
# kvm_run pages (half IN exits, which the VMM answers, half OUT exits).
set -euo pipefail
build=${VCR_BUILD:-build}
bench=$build/bench/preload_bench
n=${PRELOAD_CALLGRIND_CALLS:-100000}
if ! command -v valgrind >/dev/null; then
    echo "# preload_instr_per_kvm_run: not measured (valgrind not installed)"
    exit 0
fi
if [ ! -r /dev/kvm ]; then
    echo "# preload_instr_per_kvm_run: not measured (no /dev/kvm to capture pages on)"
    exit 0
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
valgrind --tool=callgrind --collect-atstart=no \
    --toggle-collect=pre_ioctl_avx2 --toggle-collect=pre_ioctl_sse2 --toggle-collect=vcr_pre_bench_kvm_run \
    --callgrind-out-file="$dir/cg.out" \
    "$bench" --callgrind "$n" >/dev/null 2>"$dir/log" || { cat "$dir/log" >&2; exit 1; }
total=$(awk '/^(totals|summary):/ {print $2; exit}' "$dir/cg.out")
awk -v t="$total" -v n="$n" 'BEGIN { printf "preload_instr_per_kvm_run %.1f instr\n", t / n }'
