#!/bin/bash
# dump_stats: `vcr stats` counts (checked against the generator's guest
# model and against `vcr dump --json`), sizes, completeness of a trace cut
# short, --top, --json; IRQ line changes and the console-tail note of the
# pc-machine-like corpus trace (tests/fuzz/trace_corpus_gen.c: exit i of 24
# is an OUT of vCPU i % 2, gsi 4 raised after it on that vCPU when i % 3 ==
# 0, lowered asynchronously when i % 3 == 1).
set -u
ROOT=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${VCR_BUILD:-$ROOT/build}
VCR=${VCR:-$BUILD/vcr}
GEN=$BUILD/tools/gen_trace
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

echo "1..10"
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }

"$GEN" --exits 8000 --vcpus 2 --marker --end-status 5 "$T/t.vcr" &&
"$GEN" --exits 8000 --chunk 500 --cut "$T/cut.vcr"
ok $? "generate a complete and a cut-short trace"

"$VCR" stats --json "$T/t.vcr" > "$T/s.json"
s=$?
"$VCR" dump --json "$T/t.vcr" > "$T/d.jsonl"
python3 - "$T/s.json" "$T/d.jsonl" "$T/t.vcr" <<'PY'
import json, os, sys
s = json.load(open(sys.argv[1]))
d = [json.loads(l) for l in open(sys.argv[2])]
# Per vCPU 4000 exits; e % 8: 0,1,4 OUT 3f8; 5 OUT 80; 3,7 IN 60; 2 MMIO write; 6 MMIO read
assert s["exits"] == 8000 and s["exits_by_vcpu"] == [4000, 4000], s["exits_by_vcpu"]
assert s["exits_by_reason"] == {"IO": 6000, "MMIO": 2000}, s["exits_by_reason"]
ports = {(p["port"], p["direction"]): p["count"] for p in s["top_ports"]}
assert ports == {(0x3f8, "out"): 3000, (0x60, "in"): 2000, (0x80, "out"): 1000}, ports
assert s["top_ports"][0]["port"] == 0x3f8, "sorted by count"
mm = {(m["addr"], m["direction"]): m["count"] for m in s["top_mmio"]}
assert mm == {("0xfee000b0", "write"): 1000, ("0xfed00000", "read"): 1000}, mm
# the same counts from dump
ex = [r for r in d if r["type"] == "exit"]
assert len(ex) == s["exits"]
assert s["records"]["input"] == len([r for r in d if r["type"] == "input"]) == 3000
assert s["records"]["marker"] == 1 and s["records"]["mem_write"] == 1
assert s["end"] == {"how": "exit_port", "status": 5, "run_exit_status": 5, "msg": ""}, s["end"]
assert s["complete"] and s["has_footer"] and not s["truncated"]
assert s["file_size"] == os.path.getsize(sys.argv[3])
assert abs(s["bytes_per_exit"] - s["file_size"] / 8000) < 0.01
assert s["compression_ratio"] > 1 and abs(s["compression_ratio"] - s["raw_bytes"] / s["file_size"]) < 0.01
assert s["keys"]["loader"] == "synthetic" and s["nvcpus"] == 2
PY
p=$?
[ $s = 0 ] && [ $p = 0 ]
ok $? "stats --json: counts by reason, vCPU, port, MMIO, records, end, sizes agree with the model and dump"

"$VCR" stats --json --top 1 "$T/t.vcr" | python3 -c 'import json,sys; s=json.load(sys.stdin); assert len(s["top_ports"]) == 1 and len(s["top_mmio"]) == 1'
ok $? "--top 1 lists one port and one MMIO address"

"$VCR" stats "$T/t.vcr" > "$T/text"
s=$?
[ $s = 0 ] && grep -q '^  0x03f8 out  *3000  *37.50%$' "$T/text" && grep -q '^ended        exit_port, guest status 5; vcr run exit status 5$' "$T/text" &&
grep -q '^complete     yes$' "$T/text"
ok $? "text stats: port line, end, complete"

"$VCR" stats "$T/cut.vcr" > "$T/cut.txt"
s=$?
[ $s = 1 ] && grep -q '^complete     NO; no index footer' "$T/cut.txt" && grep -q '^ended        no END record' "$T/cut.txt"
ok $? "cut-short trace: status 1, says no footer and no END"

"$VCR" stats --json "$T/cut.vcr" | python3 -c 'import json,sys; s=json.load(sys.stdin); assert s["complete"] is False and s["has_footer"] is False and s["end"] is None and s["exits"] > 0, s'
ok $? "cut-short trace, JSON: complete false, end null, exits still counted"

"$GEN" --exits 50000 --chunk 500 --ring 20000 "$T/ring.vcr"
"$VCR" stats --json "$T/ring.vcr" | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["first_seq"] > 0 and s["first_seq"] + s["exits"] == 50000 and s["complete"], s' &&
"$VCR" stats "$T/ring.vcr" | grep -q "a ring trace, the [0-9]* older exits were dropped"
ok $? "ring trace: first kept exit + kept exits = 50000, said in text too"

"$VCR" stats /nonexistent.vcr > /dev/null 2>&1
[ $? = 2 ]
ok $? "unreadable trace: status 2"

PC=$ROOT/tests/fuzz/corpus/trace/irq-lines-notes.vcr
"$VCR" stats --json "$PC" > "$T/pc.json" && "$VCR" dump --json "$PC" > "$T/pc.jsonl" &&
python3 - "$T/pc.json" "$T/pc.jsonl" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
d = [json.loads(l) for l in open(sys.argv[2])]
assert s["format"] == "1.1", s["format"]
assert s["irq_lines"] == [{"gsi": 4, "changes": 16, "raised": 8, "lowered": 8, "async": 8}], s["irq_lines"]
assert s["notes"] == {"console-tail": 1}, s["notes"]
assert s["records"]["irq_line"] == 16 and s["records"]["note"] == 1 and s["records"]["unknown"] == 0
irq = [r for r in d if r["type"] == "irq_line"]
own = [r for r in irq if not r["async"]]
asy = [r for r in irq if r["async"]]
assert [r["seq"] for r in own] == list(range(0, 24, 3)), own
assert all(r["vcpu"] == r["seq"] % 2 and r["level"] == 1 and r["gsi"] == 4 for r in own), own
assert [r["seq"] for r in asy] == list(range(1, 24, 3)) and all("vcpu" not in r and r["level"] == 0 for r in asy), asy
note = [r for r in d if r["type"] == "note"]
assert len(note) == 1 and note[0]["kind"] == "console-tail" and note[0]["kind_code"] == 1
assert note[0]["text"].startswith("Kernel panic - not syncing") and note[0]["len"] == len(note[0]["text"]) == 93
assert d[-1]["type"] == "end" and d[-2]["type"] == "note" and note[0]["seq"] == 23
PY
ok $? "pc-like trace, JSON: IRQ line changes by GSI (own and async), console-tail note"

"$VCR" stats "$PC" > "$T/pc.txt" && "$VCR" dump "$PC" > "$T/pcd.txt" &&
grep -Eq '^  4 +8 +8  \(8\)$' "$T/pc.txt" && grep -Eq '^  console-tail +1$' "$T/pc.txt" &&
grep -q '^  irq_line vcpu 1: gsi=4 level=1$' "$T/pcd.txt" &&
grep -q '^  irq_line: gsi=4 level=0 async$' "$T/pcd.txt" &&
grep -q '^  note: console-tail len=93$' "$T/pcd.txt" &&
grep -q '^    "---\[ end Kernel panic - not syncing \]---"$' "$T/pcd.txt"
ok $? "pc-like trace, text: stats line for gsi 4, notes; dump lines for both records"
