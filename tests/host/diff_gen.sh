#!/bin/bash
# diff_gen: `vcr diff` on generated traces of the test guest (tools/gen.h):
# the same run twice (status 0), one input changed at a known exit (that
# exit and the register it changes, with both values), three extra exits in
# the middle (an inserted stretch of three, then realignment), --ignore,
# --vcpu, --all, how runs ended, trouble (status 2). JSON checked with
# python's json module; values cross-checked against `vcr dump --json`.
set -u
ROOT=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${VCR_BUILD:-$ROOT/build}
VCR=${VCR:-$BUILD/vcr}
GEN=$BUILD/tools/gen_trace
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

echo "1..21"
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
status() { "$@" > "$T/out" 2> "$T/err"; echo $?; }
py() { python3 -c "$1" < "$T/out" 2>&1; }

"$GEN" --exits 4000 "$T/a.vcr" && "$GEN" --exits 4000 "$T/b.vcr" &&
"$GEN" --exits 4000 --input-at 1203 "$T/input.vcr" &&
"$GEN" --exits 4003 --extra-at 2000 --extra 3 "$T/extra.vcr" &&
"$GEN" --exits 4000 --reg-at 777 --reg-value 0x1234 "$T/reg.vcr" &&
"$GEN" --exits 4000 --end-status 3 "$T/end.vcr" &&
"$GEN" --exits 6000 --vcpus 2 "$T/m0.vcr" &&
"$GEN" --exits 6000 --vcpus 2 --variant-vcpu 1 --input-at 103 "$T/m1.vcr"
ok $? "generate the traces"

s=$(status "$VCR" diff "$T/a.vcr" "$T/b.vcr")
[ "$s" = 0 ] && grep -qx 'same: 4000 exits compared' "$T/out"
ok $? "same deterministic run twice: status 0, 4000 exits compared (status $s)"

s=$(status "$VCR" diff --json "$T/input.vcr" "$T/a.vcr")
[ "$s" = 1 ]
ok $? "input changed at exit 1203: status 1"
got=$(py '
import json, sys
ev = [json.loads(l) for l in sys.stdin]
p = [e for e in ev if e["type"] == "pair"]
print(p[0]["a"]["vcpu_exit"], p[0]["b"]["vcpu_exit"], p[0]["a"]["seq"], p[0]["served_with_differs"],
      p[0]["a"]["served_with"][0]["data"], p[0]["b"]["served_with"][0]["data"], len(p[0]["regs"]),
      p[1]["a"]["vcpu_exit"], [r["name"] for r in p[1]["regs"]], p[1]["regs"][0]["a"], p[1]["regs"][0]["b"])')
# The B side is the unmodified run: its input at 1203 and rbx at 1204.
"$VCR" dump --json --from 1203 --to 1204 "$T/a.vcr" > "$T/da"
"$VCR" dump --json --from 1203 --to 1204 "$T/input.vcr" > "$T/di"
want=$(python3 -c '
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
i = [json.loads(l) for l in open(sys.argv[2])]
ina = [r for r in a if r["type"] == "input"][0]["data"]
ini = [r for r in i if r["type"] == "input"][0]["data"]
assert int(ina, 16) ^ int(ini, 16) == 0x5a
rb = lambda rs: [r for r in rs if r["type"] == "exit" and r["vcpu_exit"] == 1204][0]["regs"]["rbx"]
print(1203, 1203, 1203, True, ini, ina, 0, 1204, ["rbx"], rb(i), rb(a))' "$T/da" "$T/di")
[ -n "$want" ] && [ "$got" = "$want" ]
ok $? "input at 1203: names exit 1203 (input differs), then rbx at 1204 with both values"
[ "$got" = "$want" ] || { echo "# got:  $got"; echo "# want: $want"; }

s=$(status "$VCR" diff "$T/input.vcr" "$T/a.vcr")
grep -q '^vcpu 0: A exit 1203 (#1203) / B exit 1203 (#1203): IO rip=0x100030 differs$' "$T/out" &&
grep -q '^    rbx  *A 0x00000000000000.. *B 0x00000000000000..$' "$T/out"
ok $? "input at 1203: text report names the exit and rbx"

s=$(status "$VCR" diff --json "$T/a.vcr" "$T/extra.vcr")
got=$(py '
import json, sys
ev = [json.loads(l) for l in sys.stdin]
g = [e for e in ev if e["type"] == "gap"]
s = ev[-1]
print(len(g), g[0]["kind"], g[0]["a"]["count"], g[0]["b"]["count"], g[0]["b"]["first_vcpu_exit"],
      g[0]["b"]["last_vcpu_exit"], [x["io"]["port"] for x in g[0]["b"]["exits"]],
      g[0]["resume_a"]["vcpu_exit"], g[0]["resume_b"]["vcpu_exit"], s["same"])')
[ "$s" = 1 ] && [ "$got" = "1 inserted 0 3 2000 2002 [233, 233, 233] 2000 2003 False" ]
ok $? "3 extra exits: inserted stretch B 2000..2002, realigned at A 2000 / B 2003 (got: $got)"

s=$(status "$VCR" diff --all --json "$T/a.vcr" "$T/extra.vcr")
got=$(py '
import json, sys
ev = [json.loads(l) for l in sys.stdin]
s = ev[-1]
print(s["stretches"], s["pairs"], s["differing_pairs"], s["complete"])')
[ "$s" = 1 ] && [ "$got" = "1 4000 0 True" ]
ok $? "3 extra exits, --all: one stretch, all 4000 exits of A paired after it (got: $got)"

s=$(status "$VCR" diff "$T/extra.vcr" "$T/a.vcr")
grep -q '^vcpu 0: 3 exits only in A (deleted): A exits 2000..2002 (#2000..#2002)$' "$T/out" &&
grep -q '^  realigned at A exit 2003 (#2003) / B exit 2000 (#2000)$' "$T/out"
ok $? "reversed: 3 exits only in A (deleted), realigned"

s=$(status "$VCR" diff --json "$T/a.vcr" "$T/reg.vcr")
got=$(py '
import json, sys
ev = [json.loads(l) for l in sys.stdin]
p = [e for e in ev if e["type"] == "pair"][0]
print(p["a"]["vcpu_exit"], [(r["name"], r["a"], r["b"]) for r in p["regs"]])')
[ "$s" = 1 ] && [ "$got" = "777 [('rdi', '0x0000000000000000', '0x0000000000001234')]" ]
ok $? "rdi set at 777: reported with both values (got: $got)"

s=$(status "$VCR" diff --ignore rdi "$T/a.vcr" "$T/reg.vcr")
[ "$s" = 0 ]
ok $? "--ignore rdi: same (status $s)"

s=$(status "$VCR" diff --ignore rdi,nosuch "$T/a.vcr" "$T/reg.vcr")
[ "$s" = 2 ] && grep -q nosuch "$T/err"
ok $? "--ignore with an unknown register: status 2, named (status $s)"

s=$(status "$VCR" diff "$T/a.vcr" "$T/end.vcr")
[ "$s" = 1 ] && grep -qx 'runs ended differently: A exit_port status 0, B exit_port status 3' "$T/out"
ok $? "different exit status: reported, status 1"

s=$(status "$VCR" diff --json "$T/m0.vcr" "$T/m1.vcr")
got=$(py '
import json, sys
ev = [json.loads(l) for l in sys.stdin]
p = [e for e in ev if e["type"] == "pair"][0]
print(p["vcpu"], p["a"]["vcpu_exit"], p["a"]["seq"], sorted(set(e.get("vcpu") for e in ev if e["type"] != "summary")))')
[ "$s" = 1 ] && [ "$got" = "1 103 207 [1]" ]
ok $? "2 vCPUs, input changed on vCPU 1 exit 103 (#207): only vCPU 1 differs (got: $got)"

s=$(status "$VCR" diff --vcpu 0 "$T/m0.vcr" "$T/m1.vcr")
[ "$s" = 0 ]
ok $? "--vcpu 0: same (status $s)"

s=$(status "$VCR" diff --json --window 2 "$T/a.vcr" "$T/extra.vcr")
got=$(py '
import json, sys
ev = [json.loads(l) for l in sys.stdin]
u = [e for e in ev if e["type"] == "unaligned"][0]
print(u["a"]["count"], u["a"]["first_vcpu_exit"], u["b"]["count"], len(u["b"]["exits"]), ev[-1]["type"])')
[ "$s" = 1 ] && [ "$got" = "2000 2000 2003 8 summary" ]
ok $? "--window 2 cannot bridge 3 extra exits: unaligned rest, counted on both sides (got: $got)"

s=$(status "$VCR" diff --json "$T/a.vcr" "$T/end.vcr")
got=$(py '
import json, sys
ev = [json.loads(l) for l in sys.stdin]
e = [x for x in ev if x["type"] == "end"][0]
print(e["a"], e["b"], ev[-1]["end_differs"], ev[-1]["same"])')
[ "$s" = 1 ] && [ "$got" = "{'present': True, 'how': 'exit_port', 'status': 0} {'present': True, 'how': 'exit_port', 'status': 3} True False" ]
ok $? "END differs, JSON: both ends, summary says so (got: $got)"

"$GEN" --exits 50000 --chunk 500 --ring 20000 "$T/r1.vcr" && "$GEN" --exits 50000 --chunk 500 --ring 40000 "$T/r2.vcr"
s=$(status "$VCR" diff --json "$T/r2.vcr" "$T/r1.vcr")
got=$(py '
import json, sys
s = json.loads(sys.stdin.read().splitlines()[-1])
print(s["same"], s["skipped_a"] > 0, s["skipped_b"], s["pairs"] == s["exits_b"], s["pairs"] > 1000)')
[ "$s" = 0 ] && [ "$got" = "True True 0 True True" ]
ok $? "two ring traces of one run, kept from different exits: same, the older part skipped (got: $got)"

s=$(status "$VCR" diff "$T/a.vcr" "$T/nonexistent.vcr")
[ "$s" = 2 ]
ok $? "missing trace: status 2"

head -c 1000 "$T/a.vcr" > "$T/garbage.vcr"; printf 'garbage' | dd of="$T/garbage.vcr" bs=1 seek=0 conv=notrunc 2>/dev/null
s=$(status "$VCR" diff "$T/a.vcr" "$T/garbage.vcr")
[ "$s" = 2 ]
ok $? "damaged header: status 2 (status $s)"

# Totals, like diff --stat: the generator inserted 3 exits on vCPU 0 (extra)
# and changed one input on vCPU 1 (m1), where the pair events name each exit.
s=$(status "$VCR" diff --all "$T/a.vcr" "$T/extra.vcr")
[ "$s" = 1 ] && [ "$(tail -2 "$T/out")" = "total: 0 differing exits in 1 stretch, 0 exits only in A, 3 only in B
  vcpu 0: 0 differing exits in 1 stretch, 0 exits only in A, 3 only in B" ]
ok $? "--all ends with the totals and one line per vCPU that differs (3 inserted exits)"
s=$(status "$VCR" diff --all --json "$T/m0.vcr" "$T/m1.vcr")
got=$(py '
import json, sys
ev = [json.loads(l) for l in sys.stdin]
ch = [e for e in ev if e["type"] == "changed"]
t = ev[-1]["totals"]
v = t["vcpus"]
ok = (t["differing_exits"] == sum(e["a"]["count"] for e in ch) == ev[-1]["differing_pairs"] > 0 and
      t["stretches"] == len(ch) == ev[-1]["stretches"] and [x["vcpu"] for x in v] == [1] and
      v[0]["differing_exits"] == t["differing_exits"] and t["only_a"] == t["only_b"] == 0)
print(ok, t["differing_exits"])')
"$VCR" diff --all "$T/m0.vcr" "$T/m1.vcr" > "$T/out2"
[ "$s" = 1 ] && [ "${got%% *}" = True ] &&
grep -qx "total: ${got#* } differing exits in 1 stretch, 0 exits only in A, 0 only in B" "$T/out2" &&
grep -qx "  vcpu 1: ${got#* } differing exits in 1 stretch, 0 exits only in A, 0 only in B" "$T/out2" &&
! grep -q "^  vcpu 0:" "$T/out2"
ok $? "2 vCPUs, vCPU 1 changed: totals (text and JSON) add up the stretches and name vCPU 1 only (got: $got)"
