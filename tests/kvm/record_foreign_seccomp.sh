#!/bin/bash
# record_foreign_seccomp: `vcr record --backend seccomp -- qemu-system-x86_64
# -accel kvm ...` (recorder/seccomp.c: no library in QEMU, a seccomp filter
# and vcr's tracer thread) on tests/guests/mbcalc32.bin, beside the preload
# backend (record_foreign.sh, whose time budget the nested flavour fills):
#   - the guest's output and QEMU's status;
#   - the guest's 78 port exits equal the preload recording's exit by exit
#     (registers but the stale vectors of events not pending, I/O, data);
#   - header backend=seccomp (the preload one's backend=preload), END;
#   - every exit syncs regs, sregs and events; INPUT, SET_STATE and IRQ_LINE
#     records are there;
#   - QEMU killed with SIGKILL mid-run: readable trace, END signal 9.
# Skipped where qemu-system-x86_64 is missing or cannot use /dev/kvm.
set -u
ROOT=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${VCR_BUILD:-$ROOT/build}
VCR=${VCR:-$BUILD/vcr}
G=$BUILD/tests/guests/mbcalc32.bin
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. "$ROOT/tests/kvm/record_foreign.inc"

QEMU=$(command -v qemu-system-x86_64)
if [ -z "$QEMU" ]; then
	echo "1..0 # SKIP qemu-system-x86_64 not installed"
	exit 0
fi
q=("$QEMU" -accel kvm -nographic -no-reboot -nodefaults -serial stdio -m 32
   -device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$G")
kq=("$QEMU" -accel kvm -nographic -no-reboot -nodefaults -serial stdio -m 32 -kernel "$G")
QSTATUS=$(( (0x34 << 1) | 1 ))

# The preload recording is the reference (and says whether QEMU runs here).
timeout 120 "$VCR" record -o "$T/q1.vcr" -- "${q[@]}" > "$T/q1.out" 2> "$T/q1.err" < /dev/null
s=$?
if [ "$s" != "$QSTATUS" ]; then
	echo "1..0 # SKIP QEMU cannot run the guest with -accel kvm here (status $s: $(tail -c 200 "$T/q1.err" | tr '\n' ' '))"
	exit 0
fi
"$VCR" dump --json --full "$T/q1.vcr" > "$T/q1.jsonl" 2>> "$T/dump.err"
"$VCR" stats "$T/q1.vcr" > "$T/stats" 2>&1

echo "1..5"
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }

# The guest's own port exits: IO exits with rip in the image (0x100000, 4 KiB).
cat > "$T/cmp.py" <<'PY'
import json, sys

STALE = ("events.flags", "exc.nr", "intr.nr")   # stale vectors of events not pending (loaders differ)

def exits(path):
    out = []
    for line in open(path):
        r = json.loads(line)
        if r.get("type") == "exit" and r.get("reason") == "IO" and \
           0x100000 <= int(r["rip"], 16) < 0x101000:
            out.append(r)
    return out

a, b = exits(sys.argv[1]), exits(sys.argv[2])
bad = []
if len(a) != len(b) or len(a) != 78:
    bad.append("exits: %d vs %d (want 78)" % (len(a), len(b)))
for i, (x, y) in enumerate(zip(a, b)):
    if x["io"] != y["io"] or x.get("data") != y.get("data"):
        bad.append("exit %d: %s %s vs %s %s" % (i, x["io"], x.get("data"), y["io"], y.get("data")))
    for k, v in x["regs"].items():
        if k not in STALE and y["regs"].get(k) != v:
            bad.append("exit %d: %s %s vs %s" % (i, k, v, y["regs"].get(k)))
print("; ".join(bad[:4]) if bad else "same")
sys.exit(1 if bad else 0)
PY

timeout 120 "$VCR" record --backend seccomp -o "$T/sq.vcr" -- "${q[@]}" > "$T/sq.out" 2> "$T/sq.err" < /dev/null
s=$?
[ "$s" = "$QSTATUS" ] && grep -q "mbcalc32: ok" "$T/sq.out"
ok $? "vcr record --backend seccomp -- qemu: the guest's output, QEMU's status ($s, want $QSTATUS)"
[ "$s" = "$QSTATUS" ] || sed 's/^/# /' "$T/sq.err" | tail -5
"$VCR" dump --json --full "$T/sq.vcr" > "$T/sq.jsonl" 2>> "$T/dump.err"
got=$(python3 "$T/cmp.py" "$T/q1.jsonl" "$T/sq.jsonl")
ok $? "the guest's 78 port exits: preload and seccomp recordings of QEMU agree exit by exit ($got)"
"$VCR" stats "$T/sq.vcr" > "$T/sq.stats" 2>&1
grep -q "backend=seccomp" "$T/sq.stats" && grep -q "backend=preload" "$T/stats" &&
	grep -q "ended *vmm_exit, status $QSTATUS" "$T/sq.stats"
ok $? "the seccomp trace's header says backend=seccomp (the preload one's preload); END vmm_exit $QSTATUS"
python3 - "$T/sq.jsonl" <<'PY'
import json, sys
kinds = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    kinds[r["type"]] = kinds.get(r["type"], 0) + 1
    if r["type"] == "exit" and r["valid"] != 7:
        sys.exit("exit %d valid %d" % (r["seq"], r["valid"]))
sys.exit(0 if all(kinds.get(k, 0) > 0 for k in ("input", "set_state", "irq_line"))
         else "kinds %s" % kinds)
PY
ok $? "seccomp: every exit has regs, sregs and events; INPUT, SET_STATE and IRQ_LINE records are there"
read -r s d g1 g2 g3 <<<"$(foreign_sigkill sk --backend seccomp)"
got="$g1 $g2 $g3"
[ "$s" = 137 ] && [ "$d" = 0 ] && [ "$got" = "78 signal 9" ]
ok $? "seccomp: QEMU killed by SIGKILL: vcr exits 137 ($s), the trace has the guest's 78 exits and END signal 9 ($got)"
