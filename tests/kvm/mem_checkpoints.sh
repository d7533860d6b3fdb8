#!/bin/bash
# mem_checkpoints: guest memory in a trace, end to end on real KVM. The
# mem64 guest (tests/guests/mem64.c) writes `quiet` once and a known
# `pattern` before each of its exits, then crashes through a call chain. It
# is recorded with periodic memory checkpoints (`vcr run --record
# --mem-interval 8x`), then real gdb reads the trace through
# `vcr replay --gdb` with the guest's ELF: at the last exit `bt` walks the
# whole chain, `x/16xb` shows the pattern of the crash, `x/4i` the ud2; at a
# checkpoint exit the pattern of that round; at an exit inside an interval
# the pattern is refused as stale (monitor memory says why), the quiet page
# is still served, and `monitor memory lenient` serves the older pattern.
# A host whose KVM has no dirty log gets a final checkpoint only (vcr says
# so): the test asserts that instead (per host, not a skip). How the log is
# read differs by host too: with KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 (probed
# here with raw ioctls, not by vcr) KVM_CLEAR_DIRTY_LOG, else
# KVM_GET_DIRTY_LOG alone; the trace's header says which (dirty_log), and
# the test asserts it against the probe and against what each of our
# flavours offers (both offer it: direct kvm_pvm, nested kvm_amd).
set -u
root=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${VCR_BUILD:-$root/build}
vcr=${VCR:-$build/vcr}
guest=$build/tests/guests/mem64.elf
. "$root/tests/host/gdb_lib.inc"

if [ ! -e /dev/kvm ]; then
    if [ -n "${VCR_ALLOW_SKIP_KVM:-}" ]; then echo "1..0 # SKIP no /dev/kvm"; exit 0; fi
    echo "1..1"; echo "not ok 1 - /dev/kvm missing (run through tests/nested/kvm-run)"; exit 1
fi
command -v gdb >/dev/null || { echo "1..0 # SKIP no gdb"; exit 0; }
[ -f "$guest" ] || { echo "1..1"; echo "not ok 1 - $guest not built"; exit 1; }
tmp=$(mktemp -d)
trap 'kill $GDB_SERVER_PID 2>/dev/null; rm -rf "$tmp"' EXIT
echo "1..13"

rounds=$(sed -n 's/^#define G_MEM_ROUNDS[[:space:]]*\([0-9]*\).*/\1/p' "$root/tests/guests/guest.h")
sym() { nm "$guest" | awk -v s="$1" '$3 == s { print "0x" $1 }' | sed 's/0x0*/0x/'; }
pattern=$(sym pattern)
quiet=$(sym quiet)
ud2=$(objdump -d "$guest" | awk '/<mem64_crash>:/ { on = 1 } on && /\tud2/ { sub(":", "", $1); print "0x" $1; exit }')
# x/16xb of the pattern in round r, as gdb prints the bytes.
want_pattern() { local i out=""; for i in $(seq 0 15); do out+=$(printf ' 0x%02x' $(((i * 7 + $1) & 255))); done; echo "${out# }"; }
want_quiet=$(for i in $(seq 0 15); do printf ' 0x%02x' $((i ^ 0x5a)); done); want_quiet=${want_quiet# }
bytes_of() { grep -o '0x[0-9a-f][0-9a-f]\b' | grep -v '^0x1[0-9a-f]\{5\}$' | tr '\n' ' ' | sed 's/ $//'; }
xb() { gdb_section "$1" "$2" | sed -n 's/^0x[0-9a-f]* <[^>]*>:[[:space:]]*//p' | tr '\t' ' ' | tr -s ' ' | tr '\n' ' ' | sed 's/ $//'; }

"$vcr" run --no-stdin --record "$tmp/t.vcr" --mem-interval 8x -v "$guest" >"$tmp/run.out" 2>"$tmp/run.err"
st=$?
nolog=0
grep -q "no dirty page log" "$tmp/run.err" && nolog=1
tap_eq "$st" 128 "mem64 recorded with periodic checkpoints ends through its #UD handler (exit status 0x80)"
"$vcr" stats --json "$tmp/t.vcr" >"$tmp/stats.json" 2>&1
nck=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["checkpoints"]["count"])' "$tmp/stats.json" 2>/dev/null)
nfin=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["checkpoints"]["final"])' "$tmp/stats.json" 2>/dev/null)
exits=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["exits"])' "$tmp/stats.json" 2>/dev/null)
if [ $nolog = 1 ]; then
    echo "# this KVM has no dirty page log: final checkpoint only"
    tap_ok $([ "${nck:-0}" = 1 ] && [ "${nfin:-0}" = 1 ]; echo $?) "no dirty log: one final checkpoint ($nck)"
else
    # A checkpoint that comes due while the previous one is still being
    # written is skipped and counted (slow hosts: nested L1 under TCG).
    nskip=$(sed -n 's/.*memory checkpoints: [0-9]* taken (\([0-9]*\) skipped).*/\1/p' "$tmp/run.err")
    tap_ok $([ $(( ${nck:-0} + ${nskip:-0} )) -ge $((rounds / 8)) ] && [ "${nck:-0}" -ge 3 ] &&
             [ "${nfin:-0}" = 1 ]; echo $?) \
        "dirty log: $nck checkpoints (+${nskip:-?} skipped while one was written) for $exits exits, the last one final"
fi
# The host's offer, by raw ioctls: KVM_CREATE_VM (0xae01), then
# KVM_CHECK_EXTENSION (0xae03) of cap 168 on the VM: bit 0 is
# KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE.
offer=$(python3 -c '
import fcntl, os
k = os.open("/dev/kvm", os.O_RDWR)
v = fcntl.ioctl(k, 0xae01, 0)
print("clear-dirty-log" if fcntl.ioctl(v, 0xae03, 168) & 1 else "get-dirty-log")' 2>/dev/null)
hdr=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["keys"].get("dirty_log", "absent"))' "$tmp/stats.json" 2>/dev/null)
case "${VCR_KVM_FLAVOUR:-}" in
    direct-kvm_pvm|nested-kvm_amd) want_offer=clear-dirty-log ;;
    *) want_offer=$offer ;;	# a host we have no table entry for: the probe
esac
[ $nolog = 1 ] && want_offer=none
echo "# ${VCR_KVM_FLAVOUR:-this host}: KVM offers ${offer:-?}; the trace says dirty_log=${hdr:-?}"
tap_ok $([ "$hdr" = "$want_offer" ] && { [ $nolog = 1 ] || [ "$offer" = "$want_offer" ]; }; echo $?) \
    "the header's dirty_log is $want_offer, as ${VCR_KVM_FLAVOUR:-this host} offers (probe: ${offer:-?})"
last=$((exits - 1))
# A checkpoint taken right after a pattern exit (al = round), and the exit
# just before the next checkpoint: the guest rewrote the pattern in between.
# (a file, not <(...): L1 of the nested flavour has no /dev/fd)
"$vcr" dump "$tmp/t.vcr" | awk '
    function hex(s,   i, v) { v = 0; for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1; return v }
    /^#[0-9]+ / { e = substr($1, 2) + 0; io = ($0 ~ /IO out port=0xf1/); d = $0; sub(/.*data=/, "", d); sub(/ .*/, "", d) }
    /^  ckpt: / { if (ck != "" && e > ck + 2) { print ck, r, e; exit } if (ck == "" && io && e >= 8) { ck = e; r = hex(d) } }' > "$tmp/ck"
read -r ck round next < "$tmp/ck"
echo "# $exits exits; checkpoint at exit $ck (round $round), next at $next"

gdb_start_server "$tmp/stub.log" "$vcr" replay --gdb 127.0.0.1:0 "$tmp/t.vcr" \
    || { echo "Bail out! vcr replay --gdb did not listen"; exit 1; }
stale=$((next - 1))
cat >"$tmp/cmds" <<GDB
set pagination off
set confirm off
set width 0
file $guest
target remote 127.0.0.1:$GDB_PORT
monitor seek $last
maintenance flush register-cache
echo @@bt\n
bt
echo @@crash_pattern\n
x/16xb $pattern
echo @@insn\n
frame 1
x/4i \$pc
frame 0
echo @@at_ck\n
monitor seek $ck
maintenance flush register-cache
x/16xb $pattern
echo @@at_ck_quiet\n
x/16xb $quiet
echo @@stale\n
monitor seek $stale
maintenance flush register-cache
x/16xb $pattern
echo @@stale_why\n
monitor memory $pattern
echo @@stale_quiet\n
x/16xb $quiet
echo @@lenient\n
monitor memory lenient
x/16xb $pattern
echo @@end\n
kill
GDB
gdb_run_cmds "$tmp/cmds" "$tmp/gdb.out"
gdb_stop_server >/dev/null

frames=$(gdb_section "$tmp/gdb.out" bt | grep -o 'mem64_[a-z0-9_]* \|in _start\|^#[0-9]*  _start' | tr -d ' ' | tr '\n' ' ')
echo "# bt: $frames"
tap_ok $(gdb_section "$tmp/gdb.out" bt | awk '
    /mem64_ud_handler|<signal handler called>/ && s == 0 { s = 1 } /mem64_crash/ && s == 1 { s = 2 }
    /mem64_level2/ && s == 2 { s = 3 } /mem64_level1/ && s == 3 { s = 4 }
    /mem64_main/ && s == 4 { s = 5 } /_start/ && s == 5 { s = 6 } END { exit s == 6 ? 0 : 1 }'; echo $?) \
    "bt at the last exit: the #UD handler, mem64_crash, mem64_level2, mem64_level1, mem64_main, _start"
tap_ok $(gdb_section "$tmp/gdb.out" bt | grep -q "Cannot access memory"; [ $? = 1 ]; echo $?) \
    "bt reads the whole stack (no 'Cannot access memory')"
tap_eq "$(xb "$tmp/gdb.out" crash_pattern)" "$(want_pattern $((rounds + 1)))" \
    "x/16xb pattern at the crash: round $((rounds + 1))"
tap_ok $(gdb_section "$tmp/gdb.out" insn | grep -q "^=> $ud2 <mem64_crash+[0-9]*>:[[:space:]]*ud2"; echo $?) \
    "x/4i \$pc in the crashed frame shows the ud2 at $ud2"
if [ $nolog = 1 ]; then
    for d in "pattern at a checkpoint exit" "quiet at a checkpoint exit" "stale pattern refused" \
             "monitor memory says stale" "quiet served inside an interval" "lenient read"; do
        tap_ok 0 "$d: not on this host (no dirty log, final checkpoint only) # SKIP"
    done
else
    tap_eq "$(xb "$tmp/gdb.out" at_ck)" "$(want_pattern "$round")" \
        "at checkpoint exit $ck the pattern of round $round is exact"
    tap_eq "$(xb "$tmp/gdb.out" at_ck_quiet)" "$want_quiet" "the quiet page there too"
    tap_ok $(gdb_section "$tmp/gdb.out" stale | grep -q "Cannot access memory at address $pattern"; echo $?) \
        "at exit $stale (the guest rewrote the pattern before the next checkpoint) it is refused"
    # Per host: with two-dimensional paging (NPT, EPT: kvm_amd, kvm_intel)
    # the CPU sets the accessed bits of the guest's page tables itself, so
    # their pages are dirty in every interval and a virtual address between
    # checkpoints is refused before its page is looked at; PVM's shadow
    # paging keeps those bits out of the dirty log, so the tables stay exact
    # and the pattern's own page is what is stale.
    if [ "${VCR_KVM_FLAVOUR:-}" = direct-kvm_pvm ]; then
        tap_ok $(gdb_section "$tmp/gdb.out" stale_why | grep -q "stale: bytes .* as of exit $ck"; echo $?) \
            "monitor memory says stale, as of checkpoint exit $ck (PVM: the page tables stay exact)"
        tap_eq "$(xb "$tmp/gdb.out" stale_quiet)" "$want_quiet" "the quiet page is still exact at exit $stale"
    else
        tap_ok $(gdb_section "$tmp/gdb.out" stale_why | grep -q "page tables of vCPU 0 are not known exactly.*stale"; echo $?) \
            "monitor memory says why: the page tables are stale at exit $stale (the CPU set their accessed bits; ${VCR_KVM_FLAVOUR:-this host})"
        tap_ok $(gdb_section "$tmp/gdb.out" stale_quiet | grep -q "Cannot access memory at address $quiet"; echo $?) \
            "the quiet page is refused there too: its translation goes through the stale tables"
    fi
    tap_eq "$(xb "$tmp/gdb.out" lenient)" "$(want_pattern "$round")" \
        "monitor memory lenient serves the pattern of checkpoint exit $ck (older contents)"
fi
[ $TAP_FAIL = 0 ] || { echo "# gdb output:"; sed 's/^/#   /' "$tmp/gdb.out"; echo "# run:"; sed 's/^/#   /' "$tmp/run.err"; }
exit $TAP_FAIL
