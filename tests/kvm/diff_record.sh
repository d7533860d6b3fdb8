#!/bin/bash
# diff_record: dump, stats and diff on traces recorded on real KVM with
# `vcr run --record`:
#   - the same deterministic guest recorded twice: `vcr diff` says same (0);
#   - one input changed at a known exit (port 0xf0 answers nvcpus << 16, so
#     -c 1 vs -c 2 changes that input of vCPU 0; vCPU 1 only halts): the
#     report names that exit and then rax at the next exit, with both values;
#   - a variant that makes three extra exits in the middle: an inserted
#     stretch of three, then realignment;
#   - `vcr dump --json` of a real trace agrees with the cursor, and
#     `vcr stats` of count64 counts what the guest is known to do.
# The small guests are written here as real-mode machine code so that the
# variant keeps every other instruction at the same address: the base
# version jumps over the three extra `out`s, the variant has NOPs there.
set -u
ROOT=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${VCR_BUILD:-$ROOT/build}
VCR=${VCR:-$BUILD/vcr}
PROBE=$BUILD/tools/cursor_probe
G=$BUILD/tests/guests
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

echo "1..10"
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
rec() { local out=$1; shift; timeout 60 "$VCR" run --no-stdin --record "$out" "$@" > "$T/run.out" 2> "$T/run.err"; }

# vCPU 0: exit 0 in eax, 0xf0 (input: index | nvcpus << 16) | 1 out 0xf1 'a'
# (rax = input | 'a') | 2 out 'b' | [variant: 3 x out 0xf1] | 'c'..'f' | out
# 0xf4 (status 0). Other vCPUs (-c 2) halt after their first exit.
base=(66 e5 f0 84 c0 75 24 b0 61 e6 f1 b0 62 e6 f1)
skip=(eb 06)
nops=(90 90)
extra=(e6 f1 e6 f1 e6 f1)
tail=(b0 63 e6 f1 b0 64 e6 f1 b0 65 e6 f1 b0 66 e6 f1 b0 00 e6 f4 f4 eb fd)
mk() { local f=$1; shift; printf "$(printf '\\x%s' "$@")" > "$f"; }
mk "$T/base.bin" "${base[@]}" "${skip[@]}" "${extra[@]}" "${tail[@]}"
mk "$T/extra.bin" "${base[@]}" "${nops[@]}" "${extra[@]}" "${tail[@]}"

rec "$T/a.vcr" "$T/base.bin"; s1=$?
rec "$T/b.vcr" "$T/base.bin"; s2=$?
rec "$T/c2.vcr" -c 2 "$T/base.bin"; s3=$?
rec "$T/x.vcr" "$T/extra.bin"; s4=$?
rec "$T/k1.vcr" "$G/count64.elf"; s5=$?
rec "$T/k2.vcr" "$G/count64.elf"; s6=$?
[ "$s1 $s2 $s3 $s4 $s5 $s6" = "0 0 0 0 64 64" ]
ok $? "record the guests (statuses: $s1 $s2 $s3 $s4 $s5 $s6)"
[ "$s1" = 0 ] || sed 's/^/# /' "$T/run.err" | head

"$VCR" diff "$T/a.vcr" "$T/b.vcr" > "$T/out"
ok $? "same small guest recorded twice: vcr diff status 0 ($(cat "$T/out"))"

"$VCR" diff "$T/k1.vcr" "$T/k2.vcr" > "$T/out"
ok $? "count64 recorded twice: vcr diff status 0 ($(cat "$T/out"))"

"$VCR" diff --json --vcpu 0 "$T/a.vcr" "$T/c2.vcr" > "$T/out"
s=$?
got=$(python3 -c '
import json, sys
ev = [json.loads(l) for l in sys.stdin]
p = [e for e in ev if e["type"] == "pair"]
print(p[0]["a"]["vcpu_exit"], p[0]["a"]["io"]["port"], p[0]["served_with_differs"],
      p[0]["a"]["served_with"][0]["data"], p[0]["b"]["served_with"][0]["data"],
      p[1]["a"]["vcpu_exit"], [(r["name"], r["a"], r["b"]) for r in p[1]["regs"]])' < "$T/out" 2>&1)
[ $s = 1 ] && [ "$got" = "0 240 True 00000100 00000200 1 [('rax', '0x0000000000010061', '0x0000000000020061')]" ]
ok $? "-c 1 vs -c 2, vCPU 0: input at exit 0 (port 0xf0) differs, then rax 0x10061/0x20061 at exit 1"
[ $s = 1 ] || sed 's/^/# /' "$T/out" | head
echo "# $got"

"$VCR" diff --json "$T/a.vcr" "$T/x.vcr" > "$T/out"
s=$?
got=$(python3 -c '
import json, sys
ev = [json.loads(l) for l in sys.stdin]
g = [e for e in ev if e["type"] == "gap"]
print(len(g), g[0]["kind"], g[0]["b"]["count"], g[0]["b"]["first_vcpu_exit"], g[0]["resume_a"]["vcpu_exit"],
      g[0]["resume_b"]["vcpu_exit"], len([e for e in ev if e["type"] == "pair"]))' < "$T/out" 2>&1)
[ $s = 1 ] && [ "$got" = "1 inserted 3 3 3 6 0" ]
ok $? "variant with 3 extra exits: inserted stretch of 3 at B exit 3, realigned at A 3 / B 6 ($got)"

"$VCR" diff --all "$T/a.vcr" "$T/x.vcr" > "$T/out"
s=$?
[ $s = 1 ] && grep -q '^vcpu 0: 3 exits only in B (inserted): B exits 3..5 (#3..#5)$' "$T/out" &&
grep -q '^different: 1 stretch, 0 of 8 aligned exits differ$' "$T/out"
ok $? "--all: that one stretch, the 8 exits of the base run aligned and equal"
[ $s = 1 ] || sed 's/^/# /' "$T/out" | head

"$VCR" dump --json --full "$T/k1.vcr" > "$T/d.jsonl" && "$PROBE" "$T/k1.vcr" > "$T/p.jsonl" &&
python3 - "$T/d.jsonl" "$T/p.jsonl" <<'PY'
import json, sys
d = [json.loads(l) for l in open(sys.argv[1])]
p = {o["seq"]: o for o in map(json.loads, open(sys.argv[2]))}
ex = [r for r in d if r["type"] == "exit"]
assert len(ex) == len(p) > 300
for r in ex:
    assert p[r["seq"]]["regs"] == r["regs"], r["seq"]
# count64: at its MMIO write exits rax = 3i^2 + 0x1234 and rcx = i
w = [r for r in ex if r["reason"] == "MMIO" and r["mmio"]["direction"] == "write"]
assert len(w) == 100
for i, r in enumerate(w):
    assert int(r["regs"]["rcx"], 16) == i and int(r["regs"]["rax"], 16) == i * i * 3 + 0x1234, i
PY
ok $? "count64 trace: dump --json agrees with the cursor; MMIO writes show rax = 3i^2+0x1234"

"$VCR" stats --json "$T/k1.vcr" > "$T/s.json"
s=$?
python3 - "$T/s.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
mm = {(m["addr"], m["direction"]): m["count"] for m in s["top_mmio"]}
assert mm[("0xd0000000", "read")] == 100 and mm[("0xd0000008", "write")] == 100, mm
ports = {(p["port"], p["direction"]): p["count"] for p in s["top_ports"]}
assert ports[(0xf1, "out")] == 101 and ports[(0xf4, "out")] == 1, ports
assert s["end"]["how"] == "exit_port" and s["end"]["status"] == 64, s["end"]
assert s["complete"] is True
PY
p=$?
[ $s = 0 ] && [ $p = 0 ]
ok $? "count64 stats: 100 MMIO reads, 100 writes, 101 outs to 0xf1, ended by exit port 64, complete"

"$VCR" stats "$T/k1.vcr" > "$T/out" && grep -q '^complete     yes$' "$T/out"
ok $? "count64 stats (text) reads as complete"
sed 's/^/# /' "$T/out" | head -12

"$VCR" dump "$T/x.vcr" > "$T/out" && [ "$(grep -c ' IO out port=0xf1 ' "$T/out")" = 9 ]
ok $? "text dump of the variant: 9 outs to 0xf1"
