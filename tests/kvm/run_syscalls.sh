#!/bin/bash
# tests/kvm/run_syscalls.sh: the vCPU loop makes exactly one syscall per exit
# (KVM_RUN): no KVM_GET_*/SET_* ioctl, no lock syscall, nothing for port and
# MMIO exits. Counted with strace on count64 (one UART line), without
# recording; counts are the same nested or not (TAP). The number of exits is
# the guest's own: count64 counts every exit it makes in r15 and writes the
# total with a 4-byte OUT to the data port before its last exit; a second
# run, recorded, gives that OUT's bytes (the trace is only read for them).
set -u
root=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${VCR_BUILD:-$root/build}
vcr=${VCR:-$build/vcr}
g=$build/tests/guests
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# LeakSanitizer refuses to run under ptrace (sanitizer build); the other
# tests of the same binary check for leaks.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
if ! command -v strace >/dev/null; then
    # scripts/deps.sh installs strace: its absence is a broken set-up, not a skip.
    echo "1..1"; echo "not ok 1 - strace not installed (scripts/deps.sh installs it)"
    exit 1
fi
echo "1..5"
timeout 120 strace -f -qq -o "$tmp/trace" "$vcr" run --no-stdin "$g/count64.elf" >"$tmp/out" 2>"$tmp/err"
st=$?
if [ $st = 64 ]; then echo "ok 1 - count64 under strace: status 0x40"; else
    echo "not ok 1 - count64 under strace: status 0x40"; echo "# status $st"; sed 's/^/# /' "$tmp/err"; fi

# The guest's own count: the little-endian bytes of its 4-byte OUT to 0xf1.
"$vcr" run --no-stdin --record "$tmp/c.vcr" "$g/count64.elf" >/dev/null 2>"$tmp/rec.err"
hex=$("$vcr" dump --json "$tmp/c.vcr" 2>>"$tmp/rec.err" |
      grep '"port":241,"size":4' | sed -n 's/.*"data":"\([0-9a-f]\{8\}\)".*/\1/p' | tail -1)
want=
[ -n "$hex" ] && want=$((0x${hex:6:2}${hex:4:2}${hex:2:2}${hex:0:2}))
if [ -n "$want" ] && [ "$want" -gt 0 ]; then echo "ok 2 - the guest reports its exit count ($want)"; else
    echo "not ok 2 - the guest reports its exit count"; sed 's/^/# /' "$tmp/rec.err"; want=none; fi
runs=$(grep -c 'ioctl([0-9]*, KVM_RUN' "$tmp/trace")
if [ "$runs" = "$want" ]; then echo "ok 3 - one KVM_RUN per exit the guest counted ($runs)"; else
    echo "not ok 3 - one KVM_RUN per exit the guest counted"; echo "# KVM_RUN: $runs, guest: $want"; fi

# The vCPU thread: every syscall between its first and last KVM_RUN.
tid=$(grep -m1 'KVM_RUN' "$tmp/trace" | awk '{print $1}')
grep "^$tid " "$tmp/trace" | grep -v 'resumed>' |
    awk '/KVM_RUN/ { seen = 1; n++; last = NR } seen { line[NR] = $0 }
         END { for (i = 1; i <= last; i++) if (i in line && line[i] !~ /KVM_RUN/) print line[i] }' \
    >"$tmp/other"
others=$(wc -l <"$tmp/other")
if grep -q 'KVM_GET\|KVM_SET' "$tmp/trace" && grep 'KVM_GET\|KVM_SET' "$tmp/trace" |
        grep -q "^$tid "; then
    echo "not ok 4 - no KVM_GET_*/KVM_SET_* ioctl on the vCPU thread"
    grep "^$tid .*KVM_[GS]ET" "$tmp/trace" | head -5 | sed 's/^/# /'
else
    echo "ok 4 - no KVM_GET_*/KVM_SET_* ioctl on the vCPU thread"
fi
# One write() for the guest's one line of output (the UART is line
# buffered); nothing else.
if [ "$others" = 1 ] && grep -q 'write(1, "count64: port=100 mmio=200\\n"' "$tmp/other"; then
    echo "ok 5 - between the first and last KVM_RUN: one write() (the UART line), nothing else"
else
    echo "not ok 5 - between the first and last KVM_RUN: one write() (the UART line), nothing else"
    sed 's/^/# /' "$tmp/other" | head -20
fi
