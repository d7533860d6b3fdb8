#!/bin/bash
# ckpt_precopy: periodic memory checkpoints copy most pages before the pause
# (vcr_recorder_checkpoint_pre) while the guest keeps writing; each
# checkpoint must still hold the memory at its own exit. memload64
# (tests/guests/memload64.c) writes a known text line into one of 64 pages
# before each of its port exits, the exit's data byte being the iteration
# number's low byte: at exit i the 256 KiB area holds exactly the lines of
# iterations 0..i, which this test computes itself. Recorded with timed
# checkpoints every 50 ms (the rounds that pre-copy), then at every
# checkpoint's exit `vcr core` writes the memory the trace holds there, and
# the area in that core is compared byte for byte with the model. A
# pre-copied page the guest wrote again before the pause, served from the
# pre-copy, shows up as an older line. The recording must have stored pages
# from pre-copies (vcr -v says how many) for the test to mean anything.
# On a KVM without a dirty log there are no periodic checkpoints: the test
# says so and checks the final one only.
set -u
root=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${VCR_BUILD:-$root/build}
vcr=${VCR:-$build/vcr}
guest=$build/tests/guests/memload64.elf

if [ ! -e /dev/kvm ]; then
    if [ -n "${VCR_ALLOW_SKIP_KVM:-}" ]; then echo "1..0 # SKIP no /dev/kvm"; exit 0; fi
    echo "1..1"; echo "not ok 1 - /dev/kvm missing (run through tests/nested/kvm-run)"; exit 1
fi
[ -f "$guest" ] || { echo "1..1"; echo "not ok 1 - $guest not built"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
echo "1..5"

area=$(nm "$guest" | awk '$3 == "area" { print "0x" $1 }')
# Long enough for several pre-copied rounds on a slow (nested) host.
timeout -s INT "${VCR_PRECOPY_SECONDS:-3}" "$vcr" run -v --no-stdin --mem-interval 50ms --mem-budget 0 \
    --record "$tmp/t.vcr" "$guest" >/dev/null 2>"$tmp/run.err"
"$vcr" dump --json "$tmp/t.vcr" >"$tmp/dump.jsonl" 2>"$tmp/dump.err"
ok $? "the recording (stopped by SIGINT) dumps"
nolog=0
grep -q "no dirty page log" "$tmp/run.err" && nolog=1
served=$(sed -n 's/.*pre-copies: [0-9]*,.*; \([0-9]*\) of the [0-9]* stored pages came from them/\1/p' "$tmp/run.err")
if [ $nolog = 1 ]; then
    echo "# this KVM has no dirty page log: no periodic checkpoints, no pre-copy"
    ok $(grep -q "pre-copies" "$tmp/run.err"; [ $? != 0 ]; echo $?) "no dirty log: no pre-copy reported"
else
    ok $([ "${served:-0}" -gt 0 ]; echo $?) "pre-copies served stored pages (${served:-none}; $(grep -o 'pre-copies: [0-9]*' "$tmp/run.err"))"
fi

# Every checkpoint's exit, and that exit's data byte.
python3 - "$tmp/dump.jsonl" >"$tmp/ckpts" <<'PY'
import json, sys
last = None
out = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["type"] == "exit":
        last = r
    elif r["type"] == "ckpt" and last and last["seq"] == r["seq"]:
        kind = "final" if r["final"] else "periodic"
        if out and out[-1][0] == r["seq"]:
            # A second checkpoint at the same exit (the final one right
            # after a periodic one, no exit between): the same memory.
            if kind == "final":
                out[-1] = (r["seq"], out[-1][1], kind)
            continue
        out.append((r["seq"], last.get("data") or "-", kind))
# At most 12 of them, spread evenly, the last (the final one) included:
# each `vcr core` below writes the whole known memory.
step = max(1, (len(out) + 10) // 11)
for k, o in enumerate(out):
    if k % step == 0 or k == len(out) - 1:
        print(*o)
PY
nck=$(python3 -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l)["type"] == "ckpt" and not json.loads(l)["final"]))' "$tmp/dump.jsonl")
want=3
[ $nolog = 1 ] && want=0
ok $([ "$nck" -ge $want ]; echo $?) "at least $want periodic checkpoints at exits ($nck)"

bad=0 checked=0
while read -r seq data kind; do
    "$vcr" core -q --at "$seq" -o "$tmp/c.core" "$tmp/t.vcr" 2>"$tmp/core.err" || { bad=$((bad + 1)); echo "# core at $seq: $(cat "$tmp/core.err")"; continue; }
    # The model: lines of iterations 0..i; i's low byte is the exit's data.
    msg=$(python3 - "$tmp/c.core" "$area" "$seq" "$data" <<'PY'
import struct, sys
core, area, seq, data = sys.argv[1], int(sys.argv[2], 16), int(sys.argv[3]), sys.argv[4]
PAGES, LINE = 64, 128
words = b"the quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs. "
f = open(core, "rb").read()
phoff, phentsize, phnum = struct.unpack_from("<Q", f, 32)[0], *struct.unpack_from("<HH", f, 54)
mem = bytearray(PAGES * 4096)
have = bytearray(PAGES * 4096)
for k in range(phnum):
    t, _, off, _, paddr, filesz = struct.unpack_from("<IIQQQQ", f, phoff + k * phentsize)
    if t != 1:
        continue
    lo, hi = max(paddr, area), min(paddr + filesz, area + len(mem))
    if lo < hi:
        mem[lo - area:hi - area] = f[off + lo - paddr:off + hi - paddr]
        have[lo - area:hi - area] = b"\1" * (hi - lo)
# Exit `seq` is iteration i = seq's port exit (one per iteration, none
# before). Another exit there (the kick of SIGINT: no data) came after
# iteration seq - 1's, possibly in the middle of iteration seq's line.
io = data != "-"
i = seq if io else seq - 1
if io and int(data[:2], 16) != i & 0xff:
    print("exit %d carries data %s, not iteration %d's low byte" % (seq, data, i)); sys.exit()
def line_of(j):
    return (j % PAGES) * 4096 + (j // PAGES * LINE) % 4096, \
        bytes(words[(k + j) % len(words)] for k in range(127)) + b"\n"
want = bytearray(len(mem))
for j in range(i + 1):
    o, line = line_of(j)
    want[o:o + LINE] = line
if not io:
    # A prefix of iteration seq's line may be written: take it as the
    # guest left it when it is one.
    o, line = line_of(seq)
    m = 0
    while m < LINE and mem[o + m] == line[m]:
        m += 1
    if mem[o + m:o + LINE] == want[o + m:o + LINE]:
        want[o:o + m] = line[:m]
# Pages the guest has not written by then may be left out (never dirtied,
# not loaded: the trace does not hold them); every written one must be in.
for p in range(min(i + 1, PAGES)):
    if 0 in have[p * 4096:(p + 1) * 4096]:
        print("exit %d: the core lacks page %d of the area, written by then" % (seq, p)); sys.exit()
for k in range(len(mem)):
    if not have[k]:
        mem[k] = 0
if mem != want:
    d = next(k for k in range(len(mem)) if mem[k] != want[k])
    print("exit %d (%s): area differs from the guest's writes at offset %#x (page %d): %r, want %r" %
          (seq, "port" if io else "no data", d, d // 4096, bytes(mem[d:d + 16]), bytes(want[d:d + 16]))); sys.exit()
print("ok")
PY
)
    checked=$((checked + 1))
    [ "$msg" = ok ] || { bad=$((bad + 1)); echo "# $msg"; }
done <"$tmp/ckpts"
ok $([ $bad = 0 ] && [ $checked -gt 0 ]; echo $?) "at each of $checked checkpoint exits (of $nck + final) the area holds exactly the lines written up to that exit ($bad wrong)"
ok $(grep -q "final" "$tmp/ckpts"; echo $?) "the run's final checkpoint is among them"
