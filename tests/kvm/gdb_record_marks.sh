#!/bin/bash
# gdb_record_marks: `vcr run --gdb --record` writes each stop gdb sees into
# the trace (MARKER "vcr.gdb.stop vcpu=V signal=S reason=R", after the exit
# of the stop), and `vcr timeline` draws them. Real gdb on the gdb64 guest:
# a breakpoint on tick (hit twice), one stepi, then continue to the guest's
# end. The stub reports four stops: the two hits (swbreak), the single step
# gdb makes to continue over the breakpoint, and the stepi: four markers,
# two of them breakpoint stops; the picture has its "gdb stop" marks.
set -u
root=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${VCR_BUILD:-$root/build}
vcr=${VCR:-$build/vcr}
guest=$build/tests/guests/gdb64.elf
tmp=$(mktemp -d)
. "$root/tests/host/gdb_lib.inc"
trap 'kill $GDB_SERVER_PID 2>/dev/null; rm -rf "$tmp"' EXIT

command -v gdb >/dev/null || { echo "1..0 # SKIP no gdb"; exit 0; }
echo "1..4"

gdb_start_server "$tmp/vcr.log" "$vcr" run --no-stdin --record "$tmp/t.vcr" \
    --gdb 127.0.0.1:0 "$guest" || { echo "Bail out! vcr run --gdb did not listen"; exit 1; }
cat > "$tmp/cmds" <<GDB
set pagination off
set confirm off
file $guest
target remote 127.0.0.1:$GDB_PORT
break tick
continue
continue
delete
stepi
continue
GDB
gdb_run_cmds "$tmp/cmds" "$tmp/out" >/dev/null
gdb_stop_server
st=$?
# gdb's own count: two breakpoint hits and one stepi (the last continue
# ends with the guest's exit, which is not a stop).
hits=$(grep -c "^Breakpoint 1, " "$tmp/out")
tap_ok $([ "$hits" = 2 ] && grep -q "exited with code" "$tmp/out"; echo $?) \
    "gdb: tick hit twice, one stepi, the guest runs to its end (status $st)"

"$vcr" dump "$tmp/t.vcr" > "$tmp/dump" 2>&1
n=$(grep -c 'marker: "vcr.gdb.stop vcpu=0 signal=5 reason=' "$tmp/dump")
# swbreak where int3 reaches the VMM, hwbreak where the stub uses DR0-3.
nb=$(grep -Ec 'marker: "vcr.gdb.stop vcpu=0 signal=5 reason=(sw|hw)break"' "$tmp/dump")
tap_ok $([ "$n" = 4 ] && [ "$nb" = "$hits" ]; echo $?) \
    "one vcr.gdb.stop marker per stop reported: $n (want 4), $nb breakpoint stops (gdb's hits: $hits) ($(grep -o 'vcr.gdb.stop [^"]*' "$tmp/dump" | tr '\n' ';'))"
"$vcr" dump --json "$tmp/t.vcr" | python3 -c '
import json, sys
seen = 0
for l in sys.stdin:
    r = json.loads(l)
    if r["type"] == "exit":
        seen += 1
    if r["type"] == "marker" and r.get("text", "").startswith("vcr.gdb.stop"):
        sys.exit(0 if seen > 0 else 1)
sys.exit(1)'
tap_ok $? "the first marker comes after an exit (the stop's), not before the run"

"$vcr" timeline -o "$tmp/t.svg" "$tmp/t.vcr" > /dev/null 2>&1
tap_ok $([ "$(grep -c 'gdb stop (vcpu=0' "$tmp/t.svg")" -ge 1 ] && grep -q '>gdb stop<' "$tmp/t.svg"; echo $?) \
    "vcr timeline marks the gdb stops (tooltip and legend)"
[ "$TAP_FAIL" = 0 ] || { sed 's/^/# /' "$tmp/out" | tail -20; sed 's/^/# /' "$tmp/vcr.log" | tail -5; }
exit $TAP_FAIL
