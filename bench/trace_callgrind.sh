#!/bin/bash
# trace_callgrind.sh: instructions per exit to encode (vcr_writer_append and
# vcr_writer_close, so zstd compression of every chunk is included) and to
# decode (vcr_reader_next, decompression included) the trace_bench stream,
# counted by callgrind with collection on inside those functions only.
set -euo pipefail
build=${VCR_BUILD:-build}
bench=$build/bench/trace_bench
n=${TRACE_CALLGRIND_EXITS:-200000}
if ! command -v valgrind >/dev/null; then
    echo "# trace_encode_instr_per_exit: not measured (valgrind not installed)"
    exit 0
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
total() { awk '/^(totals|summary):/ {print $2; exit}' "$1"; }

TMPDIR=$dir valgrind --tool=callgrind --collect-atstart=no \
    --toggle-collect=vcr_writer_append --toggle-collect=vcr_writer_close \
    --callgrind-out-file="$dir/enc.out" "$bench" --encode "$n" >/dev/null 2>"$dir/log" \
    || { cat "$dir/log" >&2; exit 1; }
"$bench" --gen "$dir/t.vcr" "$n"
valgrind --tool=callgrind --collect-atstart=no --toggle-collect=vcr_reader_next \
    --callgrind-out-file="$dir/dec.out" "$bench" --decode "$dir/t.vcr" "$n" >/dev/null 2>"$dir/log" \
    || { cat "$dir/log" >&2; exit 1; }
awk -v e="$(total "$dir/enc.out")" -v d="$(total "$dir/dec.out")" -v n="$n" 'BEGIN {
    printf "trace_encode_instr_per_exit %.1f instr\n", e / n
    printf "trace_decode_instr_per_exit %.1f instr\n", d / n
}'
