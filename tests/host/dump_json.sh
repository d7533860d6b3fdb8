#!/bin/bash
# dump_json: `vcr dump --json` parses with python's json module, follows the
# documented schema, agrees with the replay cursor (tools/cursor_probe: a
# different library path) register by register, and agrees with the
# generator's guest model (values computed here, not read from vcr).
# Also: --from/--to/--vcpu filters, text dump, JSON string escaping.
set -u
ROOT=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${VCR_BUILD:-$ROOT/build}
VCR=${VCR:-$BUILD/vcr}
GEN=$BUILD/tools/gen_trace
PROBE=$BUILD/tools/cursor_probe
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

echo "1..10"
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }

# 3 vCPUs, small chunks so that the cursor seeks across many chunks.
"$GEN" --exits 3000 --vcpus 3 --chunk 64 --marker --input-at 11 --variant-vcpu 2 "$T/t.vcr"
ok $? "generate a 3-vCPU trace"

"$VCR" dump --json --full "$T/t.vcr" > "$T/full.jsonl"
ok $? "vcr dump --json --full exits 0"

"$PROBE" "$T/t.vcr" > "$T/probe.jsonl"
ok $? "cursor_probe reads every exit through the cursor"

python3 - "$T/full.jsonl" "$T/probe.jsonl" > "$T/py.out" 2>&1 <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
probe = {}
for l in open(sys.argv[2]):
    o = json.loads(l)
    probe[o["seq"]] = o
exits = [r for r in recs if r["type"] == "exit"]
assert len(exits) == 3000, len(exits)
assert [r["seq"] for r in exits] == list(range(3000)), "exit seqs not 0..2999 in order"
# schema: key order is stable and as documented
first = exits[0]
keys = list(first.keys())
assert keys[:6] == ["type", "seq", "vcpu", "vcpu_exit", "reason", "reason_code"], keys
assert keys[-3:] == ["rip", "valid", "regs"], keys
assert len(probe) == 3000, len(probe)
bad = 0
for r in exits:
    p = probe[r["seq"]]
    if (p["vcpu"], p["vcpu_exit"], p["reason"]) != (r["vcpu"], r["vcpu_exit"], r["reason"]):
        print("# seq %d: header differs: %s vs %s" % (r["seq"], p, r)); bad += 1; continue
    if list(p["regs"].keys()) != list(r["regs"].keys()):
        print("# seq %d: register names differ" % r["seq"]); bad += 1; continue
    for k, v in p["regs"].items():
        if r["regs"][k] != v:
            print("# seq %d %s: dump %s cursor %s" % (r["seq"], k, r["regs"][k], v)); bad += 1
    if r["rip"] != hex(int(p["regs"]["rip"], 16)):
        print("# seq %d rip field" % r["seq"]); bad += 1
assert bad == 0, "%d disagreements with the cursor" % bad
print("cursor agrees")
# the guest model of tools/gen.h, computed independently
per = {}
for r in exits:
    v, e = r["vcpu"], r["vcpu_exit"]
    assert e == per.get(v, 0), "vcpu_exit not consecutive"
    per[v] = e + 1
    assert r["seq"] % 3 == v, "round robin"
    op = e % 8
    assert int(r["regs"]["rip"], 16) == 0x100000 + op * 0x10
    assert int(r["regs"]["rcx"], 16) == e
    if op in (0, 1, 4, 5):
        assert r["reason"] == "IO" and r["io"]["direction"] == "out"
        assert r["io"]["port"] == (0x80 if op == 5 else 0x3f8)
        assert r["data"] == "%02x" % (ord("a") + e % 26)
        assert int(r["regs"]["rax"], 16) == ord("a") + e % 26
    elif op == 2:
        assert r["reason"] == "MMIO" and r["mmio"] == {"direction": "write", "addr": "0xfee000b0", "len": 4}
        assert r["data"] == (e & 0xffffffff).to_bytes(4, "little").hex()
    elif op == 6:
        assert r["reason"] == "MMIO" and r["mmio"]["direction"] == "read" and "data" not in r
    else:
        assert r["reason"] == "IO" and r["io"] == {"direction": "in", "port": 0x60, "size": 1, "count": 1}
print("model agrees")
# inputs follow their exit and rbx holds them from the next exit on
last = {}
for r in recs:
    if r["type"] == "exit":
        if r["vcpu"] in last:
            assert int(r["regs"]["rbx"], 16) == last[r["vcpu"]], "rbx after input"
    elif r["type"] == "input":
        last[r["vcpu"]] = int(r["data"][:2], 16)
markers = [r for r in recs if r["type"] == "marker"]
assert markers and markers[0]["text"] == 'boot "gen"\tstart' and markers[0]["seq"] is None
end = recs[-1]
assert end["type"] == "end" and end["how"] == "exit_port" and end["status"] == 0
print("records agree")
PY
rc=$?
ok $rc "dump --json parses, matches the cursor register by register and the guest model"
[ $rc = 0 ] || sed 's/^/# /' "$T/py.out" | head -20

# Default (changed registers only): rebuilding full states from the deltas
# must give the --full values.
"$VCR" dump --json "$T/t.vcr" > "$T/delta.jsonl"
python3 - "$T/delta.jsonl" "$T/full.jsonl" <<'PY'
import json, sys
d = [json.loads(l) for l in open(sys.argv[1])]
f = [json.loads(l) for l in open(sys.argv[2])]
assert len(d) == len(f)
state = {}
for a, b in zip(d, f):
    if a["type"] != "exit":
        continue
    s = state.setdefault(a["vcpu"], {k: "0x" + "0" * (len(v) - 2) for k, v in b["regs"].items()})
    s.update(a["regs"])
    assert s == b["regs"], "seq %d: delta dump does not rebuild the full state" % a["seq"]
PY
ok $? "default dump: changed registers rebuild the full state at every exit"

# After a seek (--from), changes are still against the vCPU's previous exit.
python3 - "$T/full.jsonl" "$VCR" "$T/t.vcr" <<'PY'
import json, subprocess, sys
full = [json.loads(l) for l in open(sys.argv[1])]
ex = {r["seq"]: r for r in full if r["type"] == "exit"}
for s in (1, 100, 1501, 2999):
    out = subprocess.run([sys.argv[2], "dump", "--json", "--from", str(s), "--to", str(s), sys.argv[3]],
                         capture_output=True, text=True, check=True).stdout
    got = [json.loads(l) for l in out.splitlines() if json.loads(l)["type"] == "exit"]
    assert len(got) == 1 and got[0]["seq"] == s
    cur = ex[s]
    prev = [r for q, r in ex.items() if q < s and r["vcpu"] == cur["vcpu"]]
    base = prev[-1]["regs"] if prev else {k: None for k in cur["regs"]}
    want = {k: v for k, v in cur["regs"].items() if base[k] != v and (base[k] is not None or int(v, 16))}
    assert got[0]["regs"] == want, (s, got[0]["regs"], want)
PY
ok $? "--from N: registers changed since that vCPU's previous exit, as in a full dump"

out=$("$VCR" dump --json --from 100 --to 199 --vcpu 1 "$T/t.vcr" |
      python3 -c 'import json,sys; r=[json.loads(l) for l in sys.stdin]; e=[x for x in r if x["type"]=="exit"]; print(len(e), min(x["seq"] for x in e), max(x["seq"] for x in e), set(x["vcpu"] for x in r if "vcpu" in x))')
[ "$out" = "34 100 199 {1}" ]
ok $? "--from 100 --to 199 --vcpu 1: 34 exits of vCPU 1 (got: $out)"

"$VCR" dump "$T/t.vcr" > "$T/text"
grep -q '^#11 vcpu 2 exit 3: IO in port=0x60 size=1 count=1 rip=0x100030$' "$T/text" &&
grep -q '^  input vcpu 2: io_in len=1 data=' "$T/text" &&
grep -q '^  end: exit_port status=0$' "$T/text"
ok $? "text dump: exit lines, input and end records"

"$VCR" dump /nonexistent.vcr > /dev/null 2>&1
[ $? = 2 ]
ok $? "unreadable trace: exit status 2"

"$VCR" dump --from 10 --to 5 "$T/t.vcr" > /dev/null 2>&1
[ $? = 2 ]
ok $? "--from after --to: exit status 2"
