#!/bin/bash
# record_foreign: `vcr record -- qemu-system-x86_64 -accel kvm ...` records a
# VMM vcr did not write (libvcr-preload.so, recorder/foreign.c):
#   - QEMU runs tests/guests/mbcalc32.bin (multiboot) under vcr record: the
#     guest's output reaches stdout and vcr exits with QEMU's status;
#   - the same guest under `vcr run --record`: the guest's own port exits
#     (rip inside the guest image) are the same exits with the same
#     registers, exit by exit (the guest sets all the state it runs on; the
#     stale vector numbers of events not pending differ between loaders);
#   - two QEMU recordings agree on those exits too; the header names QEMU
#     and holds its memory slots; --no-events syncs regs and sregs only;
#   - KVM_IRQ_LINE_STATUS calls become IRQ_LINE records (strace the oracle);
#   - `vcr replay --gdb` on the QEMU trace: continue to the end, reverse-stepi
#     one exit back, reverse-continue to a hardware breakpoint on a guest
#     port exit (registers as `vcr dump` has them there) and to exit 0; the
#     trace holds no memory of the guest, so memory reads are refused;
#   - QEMU killed with SIGKILL mid-run: the trace is readable up to its last
#     exits (the guest's, all 78) and its END says SIGKILL.
# The seccomp backend on the same QEMU: tests/kvm/record_foreign_seccomp.sh.
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
# QEMU's own exit status for the guest's 0x34 on the debug-exit port.
QSTATUS=$(( (0x34 << 1) | 1 ))
timeout 120 "${q[@]}" > "$T/plain.out" 2> "$T/plain.err" < /dev/null
s=$?
if [ "$s" != "$QSTATUS" ]; then
	echo "1..0 # SKIP QEMU cannot run the guest with -accel kvm here (status $s: $(head -c 200 "$T/plain.err" | tr '\n' ' '))"
	exit 0
fi

echo "1..15"
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }

timeout 120 "$VCR" record -o "$T/q1.vcr" -- "${q[@]}" > "$T/q1.out" 2> "$T/q1.err" < /dev/null
s=$?
[ "$s" = "$QSTATUS" ] && grep -q "mbcalc32: ok" "$T/q1.out"
ok $? "vcr record -- qemu: the guest's output, QEMU's status ($s, want $QSTATUS)"
[ "$s" = "$QSTATUS" ] || sed 's/^/# /' "$T/q1.err" | tail -5

timeout 60 "$VCR" run --no-stdin --record "$T/v.vcr" "$G" > "$T/v.out" 2> "$T/v.err"
s=$?
[ "$s" = $((0x34)) ] && grep -q "mbcalc32: ok" "$T/v.out"
ok $? "vcr run --record of the same guest (status $s)"

timeout 120 "$VCR" record -o "$T/q2.vcr" -- "${q[@]}" > /dev/null 2> "$T/q2.err" < /dev/null
for t in q1 q2 v; do "$VCR" dump --json --full "$T/$t.vcr" > "$T/$t.jsonl" 2>> "$T/dump.err"; done

# The guest's own port exits: IO exits with rip in the image (0x100000, 4 KiB).
cat > "$T/cmp.py" <<'PY'
import json, sys

STALE = ("events.flags", "exc.nr", "intr.nr")   # loader's leftovers, see above

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
got=$(python3 "$T/cmp.py" "$T/v.jsonl" "$T/q1.jsonl")
ok $? "the guest's 78 port exits: vcr run and vcr record -- qemu agree exit by exit ($got)"
got=$(python3 "$T/cmp.py" "$T/q1.jsonl" "$T/q2.jsonl")
ok $? "two QEMU recordings agree on the guest's exits ($got)"
# The same through vcr diff: only the guest's own port exits (its firmware
# reads the RTC, which differs run to run; QEMU's kicks, INTR exits, land
# anywhere), without the vector numbers KVM leaves in events that are not
# pending (see STALE above).
"$VCR" diff --rip 0x100000-0x101000 --reasons IO --ignore intr.nr,exc.nr,events.flags \
	"$T/q1.vcr" "$T/q2.vcr" > "$T/diff.out" 2>&1
s=$?
"$VCR" diff --rip 0x101000-0x100000 "$T/q1.vcr" "$T/q2.vcr" > /dev/null 2>&1
bad=$?
[ "$s" = 0 ] && grep -q "^same: 78 exits compared" "$T/diff.out" && [ "$bad" = 2 ]
ok $? "vcr diff --rip (the guest's code) of two QEMU recordings: same (status $s: $(tail -1 "$T/diff.out")); a bad range is status $bad"

"$VCR" stats "$T/q1.vcr" > "$T/stats" 2>&1
grep -q "vmm=foreign, vmm_exe=$QEMU" "$T/stats" && grep -Eq "of memory in [1-9][0-9]* slots" "$T/stats" &&
	grep -q "ended *vmm_exit, status $QSTATUS" "$T/stats"
ok $? "the header names QEMU and its memory slots; END says vmm_exit $QSTATUS"

python3 - "$T/q1.jsonl" <<'PY'
import json, sys
kinds = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    kinds[r["type"]] = kinds.get(r["type"], 0) + 1
    if r["type"] == "exit" and r["valid"] != 7:
        sys.exit("exit %d valid %d" % (r["seq"], r["valid"]))
sys.exit(0 if kinds.get("input", 0) > 0 and kinds.get("set_state", 0) > 0 else "kinds %s" % kinds)
PY
ok $? "every exit has regs, sregs and events; QEMU's answers (INPUT) and set state (SET_STATE) are there"

timeout 120 "$VCR" record --no-events -o "$T/ne.vcr" -- "${q[@]}" > /dev/null 2>&1 < /dev/null
s=$?
"$VCR" dump --json "$T/ne.vcr" | python3 -c '
import json, sys
v = set(json.loads(l)["valid"] for l in sys.stdin if "\"exit\"" in l[:20])
sys.exit(0 if v == {3} else "valid %s" % v)'
r=$?
[ "$s" = "$QSTATUS" ] && [ "$r" = 0 ]
ok $? "--no-events: QEMU runs the same (status $s), exits sync regs and sregs only"

# Interrupt lines: QEMU raises and lowers ISA lines with KVM_IRQ_LINE_STATUS
# (the UART's IRQ 4, the keyboard's...), from its vCPU thread while it
# serves an exit and from its main thread at reset. strace is the oracle:
# per KVM_RUN of the vCPU thread, the calls that follow it are the exit's
# IRQ_LINE records; the other threads' calls are the async ones.
if command -v strace >/dev/null; then
	timeout 120 strace -f -qq -e trace=ioctl -o "$T/st.txt" "$VCR" record -o "$T/s.vcr" -- "${q[@]}" \
		> /dev/null 2>&1 < /dev/null
	"$VCR" dump --json "$T/s.vcr" > "$T/s.jsonl" 2>/dev/null
	got=$(python3 - "$T/st.txt" "$T/s.jsonl" <<'PY'
import json, sys
lines = [l.split(None, 1) for l in open(sys.argv[1]) if l.strip()]
runt = {t for t, r in lines if "KVM_RUN" in r}
if len(runt) != 1:
    print("vCPU threads: %s" % runt); sys.exit(1)
runt = runt.pop()
calls, other = [], 0
for t, r in lines:
    if "KVM_RUN" in r and "resumed" not in r:
        calls.append(0)
    elif "KVM_IRQ_LINE_STATUS" in r and "= 0" in r:
        if t == runt and calls:
            calls[-1] += 1
        else:
            other += 1
rec, async_ = [], 0
for l in open(sys.argv[2]):
    r = json.loads(l)
    if r["type"] == "exit":
        rec.append(0)
    elif r["type"] == "irq_line":
        if r.get("async"):
            async_ += 1
        elif rec:
            rec[-1] += 1
bad = [i for i, (a, b) in enumerate(zip(calls, rec)) if a != b]
print("%d runs / %d exits, %d / %d lines on the vCPU thread, %d / %d from others%s" % (
    len(calls), len(rec), sum(calls), sum(rec), other, async_,
    ", first mismatch at exit %d" % bad[0] if bad else ""))
# QEMU in the nested flavour's L1 raises lines only from its main thread.
sys.exit(0 if calls == rec and other == async_ and sum(calls) + other > 0 else 1)
PY
)
	ok $? "KVM_IRQ_LINE_STATUS calls are IRQ_LINE records, exit by exit as strace saw them ($got)"
else
	ok 0 "# SKIP no strace: KVM_IRQ_LINE recording"
fi

# gdb on the QEMU trace. Expected rips and registers come from the dump:
# the last two exits, exit 0, and the guest's last port exit at the rip of
# its first one (where reverse-continue from the end stops).
if command -v gdb >/dev/null; then
	. "$ROOT/tests/host/gdb_lib.inc"
	# (a file, not <(...): L1 of the nested flavour has no /dev/fd)
	python3 - "$T/q1.jsonl" > "$T/gdb.want" <<'PY'
import json, sys
ex = [json.loads(l) for l in open(sys.argv[1])]
ex = [r for r in ex if r["type"] == "exit"]
g = [r for r in ex if r["reason"] == "IO" and 0x100000 <= int(r["rip"], 16) < 0x101000]
b = [r for r in g if r["rip"] == g[0]["rip"]][-1]
h = lambda r: "0x%x" % int(r["rip"], 16)
print(h(ex[-1]), h(ex[-2]), h(ex[0]), h(b), "0x%x" % int(b["regs"]["rax"], 16), b["seq"])
PY
	read -r last prev first brk brk_rax brk_seq < "$T/gdb.want"
	{
		echo "target remote 127.0.0.1:PORT"
		echo 'echo @@end\n'; echo continue; echo 'p/x $pc'
		echo 'echo @@rstep\n'; echo reverse-stepi; echo 'p/x $pc'
		echo 'echo @@rbrk\n'; echo "hbreak *$brk"; echo reverse-continue; echo 'p/x $pc'; echo 'p/x $rax'
		echo 'echo @@rfirst\n'; echo delete; echo reverse-continue; echo 'p/x $pc'
		echo 'echo @@mem\n'; echo 'x/2i $pc'
		echo 'echo @@done\n'; echo kill
	} > "$T/gdbcmds"
	if gdb_start_server "$T/rg.log" "$VCR" replay --gdb 127.0.0.1:0 "$T/q1.vcr"; then
		sed -i "s/PORT/$GDB_PORT/" "$T/gdbcmds"
		gdb_run_cmds "$T/gdbcmds" "$T/gdb.out" >/dev/null
		gdb_stop_server
	fi
	sec() { gdb_section "$T/gdb.out" "$1" | sed -n 's/^\$[0-9]* = //p' | tr '\n' ' ' | sed 's/ $//'; }
	got=$(sec end); [ "$got" = "$last" ]
	ok $? "replay --gdb on the QEMU trace: continue runs to the last exit (pc $got, want $last)"
	got=$(sec rstep); [ "$got" = "$prev" ]
	ok $? "reverse-stepi goes one exit back (pc $got, want $prev)"
	got=$(sec rbrk); [ "$got" = "$brk $brk_rax" ]
	ok $? "reverse-continue stops at the hbreak on the guest's port exit (exit $brk_seq: pc, rax $got, want $brk $brk_rax)"
	got=$(sec rfirst); gdb_section "$T/gdb.out" mem | grep -q "Cannot access memory" && [ "$got" = "$first" ]
	ok $? "reverse-continue without breakpoints reaches exit 0 (pc $got, want $first); memory QEMU's guest wrote is refused, not made up"
	[ "$(grep -c . "$T/gdb.out")" -gt 0 ] || sed 's/^/# /' "$T/rg.log"
else
	for d in "replay --gdb on the QEMU trace" "reverse-stepi" "reverse-continue to a breakpoint" "reverse-continue to exit 0"; do
		ok 0 "# SKIP no gdb: $d"
	done
fi

# Without the debug-exit device the guest's last OUT is ignored and it halts
# with interrupts off for good: kill QEMU once the guest has printed.
kq=("$QEMU" -accel kvm -nographic -no-reboot -nodefaults -serial stdio -m 32 -kernel "$G")
read -r s d g1 g2 g3 <<<"$(foreign_sigkill k)"
got="$g1 $g2 $g3"
[ "$s" = 137 ] && [ "$d" = 0 ] && [ "$got" = "78 signal 9" ]
ok $? "QEMU killed by SIGKILL: vcr exits 137 ($s), the trace has the guest's 78 exits and END signal 9 ($got)"

# The executable QEMU ran is not interposed in the programs it starts: the
# library removed VCR_PRELOAD_FD from the environment before QEMU's main.
env_of_child=$(LD_PRELOAD=$BUILD/libvcr-preload.so VCR_PRELOAD_FD=99 sh -c 'echo "${VCR_PRELOAD_FD-unset}"')
[ "$env_of_child" = unset ]
ok $? "the library takes VCR_PRELOAD_FD out of the environment (child sees: $env_of_child)"
