#!/bin/bash
# tests/kvm/run_syscalls.sh: the vCPU loop makes exactly one syscall per exit
# (KVM_RUN): no KVM_GET_*/SET_* ioctl, no lock syscall, nothing for port and
# MMIO exits. Counted with strace on count64 (356 exits, one UART line),
# without recording; counts are the same nested or not (TAP).
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
echo "1..4"
timeout 120 strace -f -qq -o "$tmp/trace" "$vcr" run --no-stdin "$g/count64.elf" >"$tmp/out" 2>"$tmp/err"
st=$?
if [ $st = 64 ]; then echo "ok 1 - count64 under strace: status 0x40"; else
    echo "not ok 1 - count64 under strace: status 0x40"; echo "# status $st"; sed 's/^/# /' "$tmp/err"; fi

runs=$(grep -c 'ioctl([0-9]*, KVM_RUN' "$tmp/trace")
if [ "$runs" = 356 ]; then echo "ok 2 - 356 KVM_RUN for the 356 exits the guest counted"; else
    echo "not ok 2 - 356 KVM_RUN for the 356 exits the guest counted"; echo "# KVM_RUN: $runs"; fi

# The vCPU thread: every syscall between its first and last KVM_RUN.
tid=$(grep -m1 'KVM_RUN' "$tmp/trace" | awk '{print $1}')
grep "^$tid " "$tmp/trace" | grep -v 'resumed>' |
    awk '/KVM_RUN/ { seen = 1; n++; last = NR } seen { line[NR] = $0 }
         END { for (i = 1; i <= last; i++) if (i in line && line[i] !~ /KVM_RUN/) print line[i] }' \
    >"$tmp/other"
others=$(wc -l <"$tmp/other")
if grep -q 'KVM_GET\|KVM_SET' "$tmp/trace" && grep 'KVM_GET\|KVM_SET' "$tmp/trace" |
        grep -q "^$tid "; then
    echo "not ok 3 - no KVM_GET_*/KVM_SET_* ioctl on the vCPU thread"
    grep "^$tid .*KVM_[GS]ET" "$tmp/trace" | head -5 | sed 's/^/# /'
else
    echo "ok 3 - no KVM_GET_*/KVM_SET_* ioctl on the vCPU thread"
fi
# One write() for the guest's one line of output (the UART is line
# buffered); nothing else.
if [ "$others" = 1 ] && grep -q 'write(1, "count64: port=100 mmio=200\\n"' "$tmp/other"; then
    echo "ok 4 - between the first and last KVM_RUN: one write() (the UART line), nothing else"
else
    echo "not ok 4 - between the first and last KVM_RUN: one write() (the UART line), nothing else"
    sed 's/^/# /' "$tmp/other" | head -20
fi
