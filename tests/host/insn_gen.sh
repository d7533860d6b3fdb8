#!/bin/bash
# insn_gen: the instruction at each exit on generated traces (no KVM):
# `gen_trace --code` writes the model guest's page tables and, at each op's
# rip, the instruction tools/gen.c documents (bytes listed there); the
# expected texts below are those bytes' meanings (Intel SDM opcode map) in
# capstone's AT&T spelling, written by hand. Checks dump --insn (JSON and
# text), that dump without --insn is unchanged, bytes the trace does not
# hold (no page tables: "no_tables" at cr3), stats --top and diff's gap
# lines.
set -u
ROOT=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${VCR_BUILD:-$ROOT/build}
VCR=${VCR:-$BUILD/vcr}
GEN=$BUILD/tools/gen_trace
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

echo "1..7"
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }

"$GEN" --exits 4000 --vcpus 2 --chunk 64 --code "$T/c.vcr" &&
	"$GEN" --exits 4000 --vcpus 2 --chunk 64 "$T/n.vcr" &&
	"$GEN" --exits 400 --code "$T/a.vcr" && "$GEN" --exits 400 --code --extra-at 20 "$T/x.vcr"
ok $? "generate traces with and without code"

"$VCR" dump --insn --json "$T/c.vcr" > "$T/c.jsonl" && "$VCR" dump --json "$T/c.vcr" > "$T/plain.jsonl" &&
	"$VCR" dump --insn --json "$T/n.vcr" > "$T/n.jsonl" && "$VCR" dump --insn "$T/c.vcr" > "$T/c.txt"
ok $? "dump --insn, text and JSON"

python3 - "$T" > "$T/py.out" 2>&1 <<'PY'
import json, sys
T = sys.argv[1]
want = {0: "outb %al, %dx", 1: "outb %al, %dx", 2: "movabsl %eax, 0xfee000b0",
        3: "inb $0x60, %al", 4: "outb %al, %dx", 5: "outb %al, $0x80",
        6: "movabsl 0xfed00000, %eax", 7: "inb $0x60, %al"}
blen = {0: 1, 1: 1, 2: 9, 3: 2, 4: 1, 5: 2, 6: 9, 7: 2}
ex = [json.loads(l) for l in open(T + "/c.jsonl")]
ex = [r for r in ex if r["type"] == "exit"]
assert len(ex) == 4000, len(ex)
for r in ex:
    op = r["vcpu_exit"] % 8
    i = r["insn"]
    assert int(r["rip"], 16) == 0x100000 + op * 0x10, r["rip"]
    assert (i["status"], i["text"], i["mode"]) == ("ok", want[op], 64), (r["seq"], i)
    assert i["linear"] == r["rip"] and i["gpa"] == r["rip"], i
    assert len(i["bytes"]) == 2 * blen[op], i
    assert list(r.keys()).index("insn") == list(r.keys()).index("rip") + 1
print("every exit: the model's instruction, 64-bit, linear = gpa = rip")
plain = [json.loads(l) for l in open(T + "/plain.jsonl")]
assert all("insn" not in r for r in plain)
ins = [json.loads(l) for l in open(T + "/c.jsonl")]
for p, q in zip(plain, ins):
    q.pop("insn", None)
    assert p == q, (p, q)
print("without --insn: the same records, no insn")
nx = [json.loads(l) for l in open(T + "/n.jsonl")]
nx = [r for r in nx if r["type"] == "exit"]
for r in nx:
    i = r["insn"]
    # PML4 entry 0 at cr3 = 0x9000: the trace never held it
    assert (i["status"], i["why"], i["where"], i["bytes"]) == ("unknown", "no_tables", "0x9000", ""), i
print("no page tables in the trace: unknown, no_tables at 0x9000")
txt = [l for l in open(T + "/c.txt") if l.startswith("#")]
assert len(txt) == 4000
for l in txt:
    e = int(l.split(" exit ")[1].split(":")[0])
    assert l.rstrip().endswith('insn="%s"' % want[e % 8]), l
print("text: insn=\"...\" at the end of each exit line")
PY
s=$?
ok $s "dump --insn JSON and text agree with the model; without --insn unchanged; no tables: unknown"
sed 's/^/# /' "$T/py.out"

"$VCR" dump --insn "$T/n.vcr" | grep -c 'insn=unknown (page table entry at gpa 0x9000 not known)$' > "$T/cnt"
[ "$(cat "$T/cnt")" = 4000 ]
ok $? "text: every exit of the trace without code says why it is unknown ($(cat "$T/cnt"))"

"$VCR" stats --top 8 --json "$T/c.vcr" > "$T/s.json" && "$VCR" stats --top 8 "$T/c.vcr" > "$T/s.txt"
python3 - "$T" <<'PY' > "$T/py.out" 2>&1
import json, sys
T = sys.argv[1]
s = json.load(open(T + "/s.json"))
want = ["outb %al, %dx", "outb %al, %dx", "movabsl %eax, 0xfee000b0", "inb $0x60, %al",
        "outb %al, %dx", "outb %al, $0x80", "movabsl 0xfed00000, %eax", "inb $0x60, %al"]
r = s["top_rips"]
assert [(x["rip"], x["count"], x["mode"], x["insn"]["text"]) for x in r] == \
    [(hex(0x100000 + 0x10 * op), 500, 64, want[op]) for op in range(8)], r
txt = open(T + "/s.txt").read()
for op in range(8):
    line = "  %-18s %12d %6.2f%%  64-bit  \"%s\"" % (hex(0x100000 + 0x10 * op), 500, 12.5, want[op])
    assert line in txt, line
print("8 rips, 500 exits each, with their instruction")
PY
ok $? "stats --top 8: each op's rip, count, mode and instruction, JSON and text"
sed 's/^/# /' "$T/py.out"

"$VCR" stats --top 8 --no-insn --json "$T/c.vcr" | python3 -c '
import json, sys
r = json.load(sys.stdin)["top_rips"]
assert len(r) == 8 and all("insn" not in x for x in r)'
ok $? "stats --no-insn: rips without instructions"

"$VCR" diff "$T/a.vcr" "$T/x.vcr" > "$T/d.txt"
[ $? = 1 ] && [ "$(grep -c '^  + B exit .* rip=0x10010[024] insn="outb %al, \$0xe9"$' "$T/d.txt")" = 3 ]
s=$?
ok $s "diff: the inserted exits listed with their instruction (out %al, \$0xe9)"
[ $s = 0 ] || sed 's/^/# /' "$T/d.txt"
