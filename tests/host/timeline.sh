#!/bin/bash
# timeline: `vcr timeline` pictures rendered by a real browser (Debian's
# chromium, headless) to PNG and read back pixel by pixel
# (tests/host/timeline_png.py): one band per vCPU, each exit's column
# coloured in the band of the vCPU `vcr dump --json` says made it and not in
# the others, the reasons' documented colours (docs/tools.md), the crash
# mark, the divergence line of `vcr timeline A B` at the exit the generator
# changed, a 10^6-exit trace with IO and MMIO in the guest model's 3:1
# ratio; the HTML loads nothing from outside; option errors.
set -u
ROOT=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${VCR_BUILD:-$ROOT/build}
VCR=${VCR:-$BUILD/vcr}
GEN=$BUILD/tools/gen_trace
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

echo "1..15"
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }

CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
    for i in $(seq 1 15); do echo "ok $i # SKIP no chromium (scripts/deps.sh installs it)"; done
    exit 0
fi

# shot FILE PNG: screenshot FILE (svg or html) at the picture's size. As
# root chromium needs --no-sandbox; --disable-gpu: no GPU in the sandbox.
shot() {
    local w h
    w=$(sed -n 's/.*<svg [^>]*width="\([0-9]*\)".*/\1/p' "$1" | head -1)
    h=$(sed -n 's/.*<svg [^>]*height="\([0-9]*\)".*/\1/p' "$1" | head -1)
    HOME=$T timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars \
        --user-data-dir="$T/chromium" --screenshot="$2" \
        --window-size=$((w + 16)),$((h + 16)) "file://$1" >"$T/chromium.log" 2>&1
    [ -s "$2" ] || { sed 's/^/# /' "$T/chromium.log" | tail -5; return 1; }
}

PNGPY="$ROOT/tests/host/timeline_png.py"
# Documented colours (docs/tools.md): IO, MMIO, HLT, SHUTDOWN; crash mark;
# first divergence; lane background.
IO='#4e79a7' MMIO='#f28e2b' HLT='#59a14f' SHUT='#e15759' CRASH='#d00000' DIV='#e000e0' BG='#f2f2f2'

# 1-4: the 2-vCPU corpus trace (vcr run -c 2 --record of tests/guests/smp64).
SMP=$ROOT/tests/corpus/smp64.vcr
"$VCR" timeline -o "$T/smp.html" "$SMP" && "$VCR" timeline -o "$T/smp.svg" "$SMP"
ok $? "timeline of a 2-vCPU trace as HTML and SVG"
shot "$T/smp.html" "$T/smp.png"
ok $? "chromium renders the HTML to a PNG"
"$VCR" dump --json "$SMP" > "$T/smp.jsonl"
python3 - "$PNGPY" "$T/smp.png" "$T/smp.jsonl" "$IO" "$HLT" "$BG" > "$T/smp.out" <<'PY'
import json, os, sys
sys.path.insert(0, os.path.dirname(sys.argv[1]))
from timeline_png import read_png, rgb
w, h, rows = read_png(sys.argv[2])
exits = [r for r in map(json.loads, open(sys.argv[3])) if r["type"] == "exit"]
io, hlt, bg = rgb(sys.argv[4]), rgb(sys.argv[5]), rgb(sys.argv[6])
lane = {io, hlt, bg}
# Bands: runs of rows holding lane pixels, at least 16 rows high (the
# legend's swatches are smaller).
bands, cur = [], None
for y in range(h):
    if sum(1 for p in rows[y] if p in lane) > 50:
        cur = [y, y] if cur is None or cur[1] != y - 1 else [cur[0], y]
        if cur[0] == y:
            bands.append(cur)
        else:
            bands[-1] = cur
bands = [b for b in bands if b[1] - b[0] >= 15]
nv = 1 + max(e["vcpu"] for e in exits)
ok1 = len(bands) == nv and all(a[1] < b[0] for a, b in zip(bands, bands[1:]))
print("bands %s for %d vCPUs" % (bands, nv), file=sys.stderr)
# The plot's x range: where the lane background or exits are, in band 0.
mid = [(b[0] + b[1]) // 2 for b in bands]
xs = [x for x in range(w) if rows[mid[0]][x] in lane]
x0, x1 = min(xs), max(xs)
bad = []
N = len(exits)
for e in exits:
    x = int(x0 + (e["seq"] + 0.5) * (x1 - x0 + 1) / N)
    for v, y in enumerate(mid[:nv]):
        coloured = rows[y][x] in (io, hlt)
        if coloured != (v == e["vcpu"]):
            bad.append((e["seq"], v, rows[y][x]))
ok2 = ok1 and not bad
print("columns off: %s" % bad[:5], file=sys.stderr)
seen = {p for y in mid for p in rows[y]}
ok3 = io in seen and hlt in seen
print("%d %d %d" % (ok1, ok2, ok3))
PY
read -r b1 b2 b3 < "$T/smp.out" 2>/dev/null || { b1=0 b2=0 b3=0; }
ok $((1 - ${b1:-0})) "one band per vCPU, top to bottom"
ok $((1 - ${b2:-0})) "each exit's column coloured in its vCPU's band only (against vcr dump --json)"
ok $((1 - ${b3:-0})) "IO and HLT in their documented colours"

# 6: the HTML's hover script, run by chromium on a mouse move over vCPU 1's
# lane at exit 30 (a vCPU 1 IO exit by vcr dump; one column an exit: 84
# exits in 1000 px): the tip names the vCPU, the exit and its reason.
python3 - "$T/smp.jsonl" > "$T/x30" <<'PY'
import json, sys
e = [r for r in map(json.loads, open(sys.argv[1])) if r["type"] == "exit"][30]
print(e["vcpu"], e["seq"], e["reason"])
PY
read -r v30 s30 r30 < "$T/x30"
sed 's|</body>|<script>(function(){var s=document.getElementById("tl"),r=s.getBoundingClientRect(),g=TL.groups[0];s.dispatchEvent(new MouseEvent("mousemove",{bubbles:true,clientX:r.left+TL.x+(30.5)*TL.w/g.ncols,clientY:r.top+g.y+'"$v30"'*(TL.laneH+TL.laneGap)+TL.laneH/2}));document.body.setAttribute("data-tip",document.getElementById("tip").textContent);})();</script></body>|' "$T/smp.html" > "$T/hover.html"
HOME=$T timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --user-data-dir="$T/chromium" \
    --dump-dom "file://$T/hover.html" 2>/dev/null | grep -o 'data-tip="[^"]*"' > "$T/tip"
grep -qx "data-tip=\"vCPU $v30, exit $s30: $r30 1\"" "$T/tip"
ok $? "hover over vCPU $v30 at exit $s30: the tip says '$(cat "$T/tip")'"

# 7: the crash corpus trace: SHUTDOWN colour and the crash mark.
"$VCR" timeline -o "$T/crash.svg" "$ROOT/tests/corpus/crash64.vcr" &&
shot "$T/crash.svg" "$T/crash.png" &&
python3 - "$PNGPY" "$T/crash.png" "$SHUT" "$CRASH" <<'PY'
import os, sys
sys.path.insert(0, os.path.dirname(sys.argv[1]))
from timeline_png import read_png, rgb
w, h, rows = read_png(sys.argv[2])
px = {p for r in rows for p in r}
sys.exit(0 if rgb(sys.argv[3]) in px and rgb(sys.argv[4]) in px else 1)
PY
ok $? "crash trace: SHUTDOWN exit and crash mark drawn"

# 8-9: timeline A B: rdi changed at exit 3000 of a 1-vCPU run of 8000.
"$GEN" --exits 8000 "$T/a.vcr" && "$GEN" --exits 8000 --reg-at 3000 --reg-value 7 "$T/b.vcr" &&
"$VCR" timeline -o "$T/ab.svg" "$T/a.vcr" "$T/b.vcr"
ok $? "timeline A B written"
shot "$T/ab.svg" "$T/ab.png" &&
python3 - "$PNGPY" "$T/ab.png" "$DIV" "$IO" "$BG" <<'PY'
import os, sys
sys.path.insert(0, os.path.dirname(sys.argv[1]))
from timeline_png import read_png, rgb
w, h, rows = read_png(sys.argv[2])
div, lane = rgb(sys.argv[3]), {rgb(sys.argv[4]), rgb(sys.argv[5])}
ys = [y for y in range(h) if sum(1 for p in rows[y] if p in lane) > 50]
xs = [x for x in range(w) if rows[ys[0]][x] in lane or rows[ys[0]][x] == div]
x0, x1 = min(xs), max(xs)
want = x0 + 3000 * (x1 - x0 + 1) / 8000
got = sorted({x for y in ys for x, p in enumerate(rows[y]) if p == div and x0 <= x <= x1})
# The line is drawn in both traces' lanes at the same exit.
lines_y = [y for y in range(h) if any(rows[y][x] == div for x in range(x0, x1 + 1))]
print("divergence at x %s, want %.1f (plot %d..%d)" % (got, want, x0, x1), file=sys.stderr)
sys.exit(0 if got and all(abs(x - want) <= 3 for x in got) and len(lines_y) > 40 else 1)
PY
ok $? "first divergence line at exit 3000 in both traces"

# 10-11: 10^6 exits, 2 vCPUs (the guest model: 6 IO to 2 MMIO in every 8).
"$GEN" --exits 1000000 --vcpus 2 "$T/big.vcr" &&
"$VCR" timeline -o "$T/big.html" "$T/big.vcr"
ok $? "timeline of 10^6 exits"
sz=$(stat -c %s "$T/big.html")
shot "$T/big.html" "$T/big.png" &&
python3 - "$PNGPY" "$T/big.png" "$IO" "$MMIO" "$sz" <<'PY'
import os, sys
sys.path.insert(0, os.path.dirname(sys.argv[1]))
from timeline_png import read_png, rgb
w, h, rows = read_png(sys.argv[2])
io, mmio = rgb(sys.argv[3]), rgb(sys.argv[4])
ys = [y for y in range(h) if sum(1 for p in rows[y] if p in (io, mmio)) > 500]
bands = []
for y in ys:
    if bands and bands[-1][1] == y - 1:
        bands[-1][1] = y
    else:
        bands.append([y, y])
nio = sum(1 for y in ys for p in rows[y] if p == io)
nmm = sum(1 for y in ys for p in rows[y] if p == mmio)
r = nio / max(nmm, 1)
print("bands %s, IO:MMIO %.2f, html %s bytes" % (bands, r, sys.argv[5]), file=sys.stderr)
sys.exit(0 if len(bands) == 2 and 2.6 < r < 3.4 and int(sys.argv[5]) < 4 << 20 else 1)
PY
ok $? "10^6 exits: two full bands, IO to MMIO 3:1, HTML under 4 MiB"

grep -Eo '(src|href)=|https?://[^"]*' "$T/big.html" "$T/smp.html" | grep -v 'http://www.w3.org/2000/svg' > "$T/ext"
[ ! -s "$T/ext" ]
ok $? "the HTML loads nothing from outside"

# Record types this vcr does not know (a newer writer's) are skipped: the
# same picture.
mkdir -p "$T/old" "$T/new" && cp "$SMP" "$T/old/t.vcr" &&
"$BUILD/tests/tools/trace_future" "$SMP" "$T/new/t.vcr" 5 >/dev/null &&
(cd "$T/old" && "$VCR" timeline -o t.svg t.vcr) && (cd "$T/new" && "$VCR" timeline -o t.svg t.vcr) &&
cmp -s "$T/old/t.svg" "$T/new/t.svg"
ok $? "a trace with unknown optional records draws the same picture"

# A damaged chunk: status 1, a message, and the rest drawn (20000 exits in
# chunks of 500: one chunk lost).
"$GEN" --exits 20000 --chunk 500 "$T/dmg.vcr" &&
sz=$(stat -c %s "$T/dmg.vcr") &&
printf '\377\377\377\377\377\377\377\377' | dd of="$T/dmg.vcr" bs=1 seek=$((sz / 2)) conv=notrunc 2>/dev/null
"$VCR" timeline -o "$T/dmg.svg" "$T/dmg.vcr" 2>"$T/dmg.err"
[ $? = 1 ] && grep -q "checksum" "$T/dmg.err" && grep -q "(19500 exits)" "$T/dmg.svg"
ok $? "a damaged chunk: status 1, named on stderr, the other 19500 exits drawn"

"$VCR" timeline "$SMP" 2>/dev/null; s1=$?
"$VCR" timeline -o "$T/x.png" "$SMP" 2>/dev/null; s2=$?
"$VCR" timeline -o "$T/x.svg" "$T/nope.vcr" 2>/dev/null; s3=$?
"$VCR" timeline -o "$T/x.svg" --width 3 "$SMP" 2>/dev/null; s4=$?
[ "$s1$s2$s3$s4" = 2222 ]
ok $? "no -o, not .svg/.html, unreadable trace, bad --width: status 2 ($s1$s2$s3$s4)"
