#!/bin/bash
# mem_bench.sh: what memory checkpoints cost a recorded run, on this
# machine's /dev/kvm. Two guests (tests/guests/memload64.c): exits64, an
# exit-heavy one (one port exit per iteration, no stores), and memload64,
# which also writes a text line into one of 64 pages before each exit.
# Each is recorded for MEM_BENCH_SECONDS (default 3) with
# --mem-checkpoints off and periodic (the default interval), alternated
# MEM_BENCH_ROUNDS times (default 3) so both see the same load. Figures:
#   mem_ckpt_ratio_exits / _dirty   exits/s off / exits/s periodic: the
#                                   slowdown (median over rounds)
#   mem_ckpt_pause_us               vCPU pause per checkpoint (copy; mean of
#                                   memload64's runs)
#   mem_ckpt_pause_us_per_page      the same per dirty page
#   mem_ckpt_bytes_per_dirty_page   trace bytes checkpoints add, per dirty page
# Times are wall times of a shared machine: ratios only mean something
# within one run.
set -uo pipefail
build=${VCR_BUILD:-build}
vcr=$build/vcr
secs=${MEM_BENCH_SECONDS:-3}
rounds=${MEM_BENCH_ROUNDS:-3}
if [ ! -w /dev/kvm ]; then echo "# mem_bench: not measured (no /dev/kvm)"; exit 0; fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
json() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }
# run GUEST MODE TAG: exits/s, trace bytes per exit, log in $dir/TAG.log
run() {
    timeout -s INT "$secs" "$vcr" run -v --no-stdin --mem-checkpoints "$2" --record "$dir/$3.vcr" \
        "$build/tests/guests/$1.elf" >/dev/null 2>"$dir/$3.log"
    "$vcr" stats --json "$dir/$3.vcr" >"$dir/$3.json" 2>/dev/null
    json "$dir/$3.json" 'd["exits"] / (d["duration_ns"] / 1e9)'
}
med() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for g in exits64 memload64; do
    : >"$dir/$g.ratios"
    for r in $(seq 1 "$rounds"); do
        if [ $((r % 2)) = 1 ]; then a=$(run $g off $g-off-$r); b=$(run $g periodic $g-on-$r)
        else b=$(run $g periodic $g-on-$r); a=$(run $g off $g-off-$r); fi
        echo "$a $b" | awk '{ printf "%.4f\n", $1 / $2 }' >>"$dir/$g.ratios"
    done
done
echo "mem_ckpt_ratio_exits $(med <"$dir/exits64.ratios") x"
echo "mem_ckpt_ratio_dirty $(med <"$dir/memload64.ratios") x"
cat "$dir"/memload64-on-*.log | sed -n 's/.*paused \([0-9.]*\) us per checkpoint.*, \([0-9.]*\) us per dirty page.*/\1 \2/p' |
    awk '{ p += $1; q += $2; n++ } END { if (n) { printf "mem_ckpt_pause_us %.1f us\nmem_ckpt_pause_us_per_page %.3f us\n", p / n, q / n } }'
for r in $(seq 1 "$rounds"); do
    on=$dir/memload64-on-$r.json off=$dir/memload64-off-$r.json
    python3 - "$on" "$off" <<'PY'
import json, sys
on, off = (json.load(open(p)) for p in sys.argv[1:3])
d = on["checkpoints"]["dirty_pages"]
extra = on["file_size"] - off["file_size"] / off["exits"] * on["exits"]
if d: print(extra / d)
PY
done | med | awk '{ printf "mem_ckpt_bytes_per_dirty_page %.0f bytes\n", $1 }'
