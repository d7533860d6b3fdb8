#!/bin/bash
# tests/kvm/replay_verify.sh: record every test guest with `vcr run --record`,
# then re-execute the trace on KVM with `vcr replay` (TAP):
#   - every deterministic guest: --verify says "N exits replayed, identical"
#     with N the trace's exit count (from `vcr stats`), status 0;
#   - rdtsc64 (its exits depend on RDTSC, which is not an input): --verify
#     names exit 0, the first exit after the first RDTSC, with rax among the
#     differing registers, status 1; --resync runs all exits and counts the
#     corrections, status 1;
#   - a trace with one register of one exit changed (tests/tools/trace_edit):
#     --verify names that exit and only that register, with both values;
#   - replays that cannot start say why (missing / different guest image,
#     another struct layout, a damaged first chunk), status 2; --verify on a
#     trace damaged further on replays up to the damage and says where it
#     stopped, status 1;
#   - dirty-bit discipline: counted by the replayer (--stats) and checked from
#     outside with strace: one KVM_RUN per exit, no KVM_GET_*/KVM_SET_*
#     register ioctl after the first KVM_RUN, sregs flagged dirty only when
#     they change.
set -u
root=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${VCR_BUILD:-$root/build}
vcr=${VCR:-$build/vcr}
g=$build/tests/guests
edit=$build/tests/tools/trace_edit
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
    n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"
    shift; for l in "$@"; do echo "# $l"; done
    [ -f "$tmp/out" ] && sed 's/^/#   stdout: /' "$tmp/out" | head -25
    [ -f "$tmp/err" ] && sed 's/^/#   stderr: /' "$tmp/err" | head -10
}
check() { # check DESC COND_STATUS(0 = pass) DETAILS...
    local d=$1 c=$2; shift 2
    if [ "$c" = 0 ]; then ok "$d"; else not_ok "$d" "$@"; fi
}
trace_exits() { "$vcr" stats "$1" | sed -n 's/^records .*, exits \([0-9]*\)$/\1/p'; }
counter() { sed -n "s/^$1 \([0-9]*\)$/\1/p" "$tmp/out"; }
replay() { # replay MODE TRACE [ARGS]: stdout in $tmp/out, status in $st
    local mode=$1 t=$2; shift 2
    timeout 120 "$vcr" replay "$mode" --stats "$@" "$t" >"$tmp/out" 2>"$tmp/err" </dev/null
    st=$?
}

echo "1..24"

# -- every deterministic guest: record, then verify ---------------------------
guests=(
    "hello16 hello16.bin"
    "count64 count64.elf"
    "pm32 pm32.elf"
    "pm32-elf --format elf pm32.elf"
    "smp64-1 smp64.elf"
    "smp64-2 -c 2 smp64.elf"
    "crash64 crash64.elf"
    "gdb64 gdb64.elf"
)
for spec in "${guests[@]}"; do
    set -- $spec
    name=$1; shift
    img=${!#}; opts=("${@:1:$#-1}")
    timeout 60 "$vcr" run --record "$tmp/$name.vcr" "${opts[@]}" "$g/$img" \
        >"$tmp/run.out" 2>&1 </dev/null
    want=$(trace_exits "$tmp/$name.vcr")
    replay --verify "$tmp/$name.vcr"
    first=$(head -1 "$tmp/out")
    runs=$(counter kvm_run)
    check "$name: --verify reports identical with the trace's $want exits" \
        $([ -n "$want" ] && [ "$st" = 0 ] && [ "$first" = "$want exits replayed, identical" ] &&
          [ "$runs" = "$want" ] && echo 0 || echo 1) \
        "status $st, first line '$first', trace exits '$want', kvm_run '$runs'"
done

# -- what a trace says `vcr run` exited with ----------------------------------
# crash64 triple-faults: the END record's status is 0 (no guest status), the
# run's exit status 3; stats names both.
timeout 60 "$vcr" run --record "$tmp/crash2.vcr" "$g/crash64.elf" >/dev/null 2>&1 </dev/null
rs=$?
line=$("$vcr" stats "$tmp/crash2.vcr" | grep '^ended ')
check "crash64: stats says the run ended in a shutdown and vcr run's exit status ($rs)" \
    $([ "$rs" = 3 ] && [[ "$line" == "ended        shutdown ("*"); vcr run exit status $rs" ]] &&
      echo 0 || echo 1) "run status $rs, stats '$line'"

# -- rdtsc64: a divergence that must not be hidden ---------------------------
timeout 60 "$vcr" run --record "$tmp/rdtsc.vcr" "$g/rdtsc64.elf" >/dev/null 2>&1 </dev/null
want=$(trace_exits "$tmp/rdtsc.vcr")
replay --verify "$tmp/rdtsc.vcr"
check "rdtsc64: --verify diverges at exit 0 (after the first RDTSC), rax differs, status 1" \
    $([ "$st" = 1 ] && grep -q '^diverged at exit 0 (vCPU 0, its exit 0)' "$tmp/out" &&
      grep -Eq '^  rax +recorded 0x[0-9a-f]{16}  live 0x[0-9a-f]{16}$' "$tmp/out" &&
      grep -q '^  exit recorded ' "$tmp/out" && grep -q '^  exit live ' "$tmp/out" &&
      echo 0 || echo 1) "status $st"
replay --resync "$tmp/rdtsc.vcr"
line=$(head -1 "$tmp/out")
corr=$(counter corrections)
# A host whose rip is already past an OUT at its exit (PVM) gets the
# recorded state loaded without a re-run: counted as forced.
echo "# rdtsc64 --resync on ${VCR_KVM_FLAVOUR:-this host}: $(counter forced_exits) exits forced without a re-run"
check "rdtsc64: --resync replays all $want exits and counts corrections, first at exit 0" \
    $([ "$st" = 1 ] && [ -n "$corr" ] && [ "$corr" -ge 1 ] &&
      [[ "$line" == "$want exits replayed, $corr corrected "*"first correction at exit 0 (vCPU 0, its exit 0)" ]] &&
      echo 0 || echo 1) "status $st, line '$line'"
check "rdtsc64: --resync corrects through regs only (sregs flagged once: the initial state)" \
    $([ "$(counter dirty_sregs)" = 1 ] && [ "$(counter dirty_regs)" -gt "$corr" ] && echo 0 || echo 1) \
    "dirty_regs $(counter dirty_regs), dirty_sregs $(counter dirty_sregs), corrections $corr"

# -- 2 vCPUs, thousands of exits, a run ended by SIGTERM -----------------------
# Each vCPU's last exit is KVM_EXIT_INTR (the kick that stopped it): a kick
# between two KVM_RUNs is reproduced exactly, one that landed in the middle
# of guest code is not. Verify must then name an INTR exit, nothing else.
# Periodic memory checkpoints kick 2 vCPUs (KVM_EXIT_INTR exits, which
# --verify cannot reproduce): this point is about damage, so final only.
timeout 300 "$vcr" run --record "$tmp/spin.vcr" --mem-checkpoints final -c 2 "$g/spin64.elf" >/dev/null 2>&1 </dev/null &
pid=$!
# SIGTERM once the guest runs (the trace exists), not after a fixed delay: a
# sanitizer build on a loaded nested L1 takes seconds to get that far.
for _ in $(seq 600); do [ -s "$tmp/spin.vcr" ] && break; sleep 0.2; done
sleep 2
kill -TERM $pid
wait $pid
want=$(trace_exits "$tmp/spin.vcr")
replay --verify "$tmp/spin.vcr"
if [ "$st" = 0 ]; then
    c=$([ "$(head -1 "$tmp/out")" = "$want exits replayed, identical" ] && echo 0 || echo 1)
else
    c=$([ "$st" = 1 ] && grep -q '^  exit recorded  INTR' "$tmp/out" && echo 0 || echo 1)
fi
check "spin64 on 2 vCPUs stopped by SIGTERM ($want exits): --verify identical, or diverged at a kick (INTR) only" \
    "$c" "status $st"
# How many vCPUs a kick caught inside KVM_RUN (INTR exits) depends on timing.
nintr=$("$vcr" stats "$tmp/spin.vcr" | awk '/^exits by reason/ { f = 1; next }
    f && /^[^ ]/ { exit } f && $1 == "INTR" { print $2; exit }')
nintr=${nintr:-0}
replay --resync "$tmp/spin.vcr"
line=$(head -1 "$tmp/out")
corr=$(counter corrections)
check "spin64 on 2 vCPUs: --resync replays all $want exits; immediate runs = INTR exits ($nintr), corrections only there (${corr:-?})" \
    $([ -n "$want" ] && [ "$want" -gt 100 ] && [[ "$line" == "$want exits replayed"* ]] &&
      [ -n "$corr" ] && [ "$corr" -le "$nintr" ] && [ "$(counter kvm_run_immediate)" = "$nintr" ] &&
      echo 0 || echo 1) "status $st, line '$line', kvm_run_immediate $(counter kvm_run_immediate)"

# -- a trace edited on purpose -----------------------------------------------
"$edit" "$tmp/count64.vcr" "$tmp/edit1.vcr" 100 rbx 0xdeadbeef >"$tmp/edit.out" 2>&1
replay --verify "$tmp/edit1.vcr"
nregs=$(grep -c '^  [a-z0-9.]* *recorded 0x' "$tmp/out")
check "edited rbx of exit 100: --verify names exit 100 and rbx (recorded 0xdeadbeef), nothing else" \
    $([ "$st" = 1 ] && grep -q '^diverged at exit 100 (vCPU 0, its exit 100): the exit matches, registers differ$' "$tmp/out" &&
      grep -Eq '^  rbx +recorded 0x00000000deadbeef  live 0x[0-9a-f]{16}$' "$tmp/out" &&
      [ "$nregs" = 1 ] && grep -q '^100 exits replayed identically before it' "$tmp/out" &&
      echo 0 || echo 1) "status $st, $nregs registers listed; $(cat "$tmp/edit.out")"
"$edit" "$tmp/count64.vcr" "$tmp/edit2.vcr" 250 cr4 0x6f8 >"$tmp/edit.out" 2>&1
replay --verify "$tmp/edit2.vcr"
check "edited cr4 of exit 250 (an sregs register): --verify names exit 250 and cr4" \
    $([ "$st" = 1 ] && grep -q '^diverged at exit 250 (vCPU 0, its exit 250)' "$tmp/out" &&
      grep -Eq '^  cr4 +recorded 0x00000000000006f8  live ' "$tmp/out" && echo 0 || echo 1) \
    "status $st; $(cat "$tmp/edit.out")"

# -- replays that cannot start -----------------------------------------------
cp "$g/count64.elf" "$tmp/image.elf"
"$edit" --reference "$tmp/image.elf" "$tmp/count64.vcr" "$tmp/ref.vcr" >/dev/null 2>&1
replay --verify "$tmp/ref.vcr"
c1=$([ "$st" = 0 ] && ! grep -q note "$tmp/err" && echo 0 || echo 1)
cp "$g/count64.elf" "$tmp/other.elf"
printf '\x01' | dd of="$tmp/other.elf" bs=1 seek=200 conv=notrunc 2>/dev/null
cp "$tmp/other.elf" "$tmp/image.elf"
replay --verify "$tmp/ref.vcr"
c2=$([ "$st" = 0 ] && grep -Eq "note: guest image '$tmp/image.elf' changed since the recording \(sha256 [0-9a-f]{64}, recorded [0-9a-f]{64}\)" "$tmp/err" && echo 0 || echo 1)
rm "$tmp/image.elf"
replay --verify "$tmp/ref.vcr"
check "referenced image: replays silently when present; changed or missing, replays the trace's memory (status 0) with a note naming the image and hash" \
    $([ "$c1" = 0 ] && [ "$c2" = 0 ] && [ "$st" = 0 ] &&
      grep -Eq "note: guest image '$tmp/image.elf' cannot be read .*not needed.*sha256 [0-9a-f]{64}" "$tmp/err" &&
      echo 0 || echo 1) "present: $c1; changed: $c2; missing: status $st"
replay --verify "$tmp/ref.vcr" --image "$tmp/other.elf"
check "a different guest image given with --image is refused with both hashes (status 2)" \
    $([ "$st" = 2 ] && grep -Eq "is not the recorded one: sha256 [0-9a-f]{64}, the trace was recorded with [0-9a-f]{64}" "$tmp/err" &&
      echo 0 || echo 1) "status $st"
python3 - "$tmp/count64.vcr" "$tmp/layout.vcr" <<'EOF'
import struct, sys
d = bytearray(open(sys.argv[1], 'rb').read())
flen = struct.unpack_from('<I', d, 12)[0]
p = 24
while p < 24 + flen:
    tag, flags, ln = struct.unpack_from('<HHI', d, p)
    if tag == 3:  # struct layout: sizes of kvm_regs, kvm_sregs, kvm_vcpu_events
        struct.pack_into('<I', d, p + 12, struct.unpack_from('<I', d, p + 12)[0] + 8)
    p += 8 + ln
def fnv(h, b):
    for x in b:
        h = ((h ^ x) * 0x100000001b3) & 0xffffffffffffffff
    return h
struct.pack_into('<Q', d, 16, fnv(fnv(0xcbf29ce484222325, d[:16]), d[24:24 + flen]))
open(sys.argv[2], 'wb').write(d)
EOF
replay --verify "$tmp/layout.vcr"
check "a trace from another struct layout is refused, naming the struct (status 2)" \
    $([ "$st" = 2 ] && grep -q 'kvm_sregs of [0-9]* bytes, this vcr has' "$tmp/err" && echo 0 || echo 1) \
    "status $st"
python3 - "$tmp/count64.vcr" "$tmp/damaged.vcr" <<'EOF'
import sys
d = bytearray(open(sys.argv[1], 'rb').read())
p = d.index(b'VCRCHUNK')        # the first chunk: flip a byte of its payload
d[p + 200] ^= 0xff
open(sys.argv[2], 'wb').write(d)
EOF
replay --verify "$tmp/damaged.vcr"
check "a damaged first chunk (the guest's start) is refused, naming its offset and the checksum (status 2)" \
    $([ "$st" = 2 ] && grep -Eq 'chunk at offset [0-9]+.*checksum' "$tmp/err" && echo 0 || echo 1) "status $st"

python3 - "$tmp/spin.vcr" "$tmp/damaged2.vcr" <<'EOF'
import sys
import struct
d = bytearray(open(sys.argv[1], 'rb').read())
# The last chunk that holds exits (the final checkpoint's come after).
p = len(d)
while True:
    p = d.rindex(b'VCRCHUNK', 0, p)
    if struct.unpack_from('<I', d, p + 24)[0]:
        break
d[p + 200] ^= 0xff
open(sys.argv[2], 'wb').write(d)
EOF
want=$(trace_exits "$tmp/spin.vcr")
replay --verify "$tmp/damaged2.vcr"
line=$(head -1 "$tmp/out")
upto=$(echo "$line" | sed -n 's/^\([0-9]*\) exits replayed, identical, then the trace is damaged: stopped before exit \1 of [0-9]*$/\1/p')
check "spin64 with its last chunk of exits damaged (one the open does not decode: the final checkpoint follows): --verify replays up to the damage, says where it stopped (status 1)" \
    $([ "$st" = 1 ] && [ -n "$upto" ] && [ "$upto" -gt 0 ] && [ "$upto" -lt "$want" ] &&
      grep -Eq '^damage: at offset [0-9]+: chunk at offset [0-9]+: .*checksum' "$tmp/out" &&
      echo 0 || echo 1) "status $st, line '$line', trace exits $want"

# -- dirty-bit discipline, counted inside and outside -------------------------
replay --verify "$tmp/count64.vcr"
sets=$(counter set_state_records)
check "count64 --verify: regs and sregs flagged dirty once each (the initial state), events never" \
    $([ "$st" = 0 ] && [ "$sets" = 1 ] && [ "$(counter dirty_regs)" = 1 ] &&
      [ "$(counter dirty_sregs)" = 1 ] && [ "$(counter dirty_events)" = 0 ] && echo 0 || echo 1) \
    "set_state $sets, dirty regs/sregs/events $(counter dirty_regs)/$(counter dirty_sregs)/$(counter dirty_events)"
if command -v strace >/dev/null; then
    # LeakSanitizer (SAN=1 builds) refuses to run under ptrace.
    ASAN_OPTIONS=detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS} \
    timeout 120 strace -f -qq -e trace=ioctl -o "$tmp/strace" \
        "$vcr" replay --verify --stats "$tmp/count64.vcr" >"$tmp/out" 2>"$tmp/err" </dev/null
    st=$?
    want=$(trace_exits "$tmp/count64.vcr")
    nrun=$(grep -c 'KVM_RUN' "$tmp/strace")
    first=$(grep -n 'KVM_RUN' "$tmp/strace" | head -1 | cut -d: -f1)
    inloop=$(tail -n +"${first:-1}" "$tmp/strace" |
             grep -Ec 'KVM_(GET|SET)_(REGS|SREGS|SREGS2|VCPU_EVENTS|FPU|XSAVE|XCRS|DEBUGREGS|MSRS)\b')
    before=$(head -n "${first:-1}" "$tmp/strace" | grep -Ec 'KVM_GET_(REGS|SREGS|VCPU_EVENTS)\b')
    check "strace: one KVM_RUN per exit ($want), as the replayer counts" \
        $([ "$st" = 0 ] && [ "$nrun" = "$want" ] && [ "$(counter kvm_run)" = "$want" ] && echo 0 || echo 1) \
        "status $st, strace KVM_RUN $nrun, counter $(counter kvm_run), exits $want"
    check "strace: no KVM_GET_*/KVM_SET_* register ioctl after the first KVM_RUN ($before GETs before it, at vCPU creation)" \
        $([ -n "$first" ] && [ "$inloop" = 0 ] && echo 0 || echo 1) \
        "$inloop register ioctls in the loop: $(tail -n +"${first:-1}" "$tmp/strace" | grep -E 'KVM_(GET|SET)_' | head -3)"
else
    not_ok "strace: one KVM_RUN per exit" "strace is not installed"
    not_ok "strace: no register ioctl in the loop" "strace is not installed"
fi

[ "$n" = 24 ] || echo "# ran $n points, planned 24"
[ "$failed" = 0 ] && [ "$n" = 24 ]
