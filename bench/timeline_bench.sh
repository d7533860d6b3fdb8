#!/bin/bash
# timeline_bench.sh: what `vcr timeline` costs per million exits, on a
# synthetic 2-vCPU trace of TIMELINE_BENCH_EXITS exits (default 10^7: the
# size the picture must stay readable for) from tools/gen_trace.
#   timeline_s_per_mexits       CPU seconds (user + sys of the vcr process,
#                               from wait4's rusage: the machine is shared,
#                               so wall time measures the neighbours) per
#                               10^6 exits, median of TIMELINE_BENCH_ROUNDS
#                               runs, SVG and HTML alternating
#   timeline_wall_s_per_mexits  the same in wall time, for reference
#   timeline_svg_bytes, timeline_html_bytes  the pictures' sizes
set -euo pipefail
build=${VCR_BUILD:-build}
exits=${TIMELINE_BENCH_EXITS:-10000000}
rounds=${TIMELINE_BENCH_ROUNDS:-5}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$build/tools/gen_trace" --exits "$exits" --vcpus 2 "$dir/t.vcr"
python3 - "$build/vcr" "$dir" "$exits" "$rounds" <<'PY'
import os, statistics, sys, time
vcr, d, exits, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
cpu, wall = [], []
for i in range(rounds * 2):
    out = os.path.join(d, "t.svg" if i % 2 == 0 else "t.html")
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        fd = os.open(os.devnull, os.O_RDWR)
        os.dup2(fd, 2)
        os.execv(vcr, [vcr, "timeline", "-q", "-o", out, os.path.join(d, "t.vcr")])
    _, status, ru = os.wait4(pid, 0)
    wall.append(time.monotonic() - t0)
    if status != 0:
        sys.exit("vcr timeline failed: status %d" % status)
    cpu.append(ru.ru_utime + ru.ru_stime)
m = exits / 1e6
print("timeline_s_per_mexits %.4f s" % (statistics.median(cpu) / m))
print("timeline_wall_s_per_mexits %.4f s" % (statistics.median(wall) / m))
print("timeline_svg_bytes %d bytes" % os.path.getsize(os.path.join(d, "t.svg")))
print("timeline_html_bytes %d bytes" % os.path.getsize(os.path.join(d, "t.html")))
PY
