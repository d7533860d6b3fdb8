#!/bin/bash
# tests/kvm/record_syscalls.sh: what recording costs in system calls, counted
# with strace on a real `vcr run --record` (spin64: one port exit per loop,
# stopped with SIGINT after a few seconds). The counts do not depend on
# speed, so they are the same nested or not:
#   - the vCPU thread makes exactly one syscall per exit, KVM_RUN: between
#     its first and its last KVM_RUN it makes nothing else (but the UART's
#     write(1) / poll(0) / read(0) for the guest's one line, which are the
#     VMM's device I/O, counted apart and bounded);
#   - all threads together make at most one trace write per 4,096 exits,
#     plus a constant for the header, the footer and the last chunk;
#   - those three with memory checkpoints off; with them on (the default), a
#     1-vCPU guest's vCPU thread takes each checkpoint itself at an exit: its
#     other syscalls are then only that work (KVM_GET_DIRTY_LOG per slot,
#     the page copies' allocations, the recorder's locks).
# Needs strace (Debian package strace) and /dev/kvm.
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
[ -c /dev/kvm ] || { echo "Bail out! no /dev/kvm"; exit 1; }

echo "1..5"
strace -f -qq -o "$tmp/st" -- "$vcr" run --mem-checkpoints off --record "$tmp/t.vcr" "$g/spin64.elf" \
    >"$tmp/out" 2>"$tmp/err" </dev/null &
spid=$!
# Run until strace has seen 3 x 4096 KVM_RUNs (speed varies a lot nested),
# at most 90 s.
for _ in $(seq 90); do
    sleep 1
    [ "$(grep -c 'KVM_RUN' "$tmp/st" 2>/dev/null)" -ge 12288 ] && break
done
vpid=$(cat /proc/$spid/task/$spid/children 2>/dev/null | awk '{print $1}')
[ -n "$vpid" ] && kill -INT "$vpid"
wait $spid
st=$?

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }

exits=$(sed -n 's/.*: \([0-9]*\) exits recorded.*/\1/p' "$tmp/err" | tail -1)
if [ "$st" = 130 ] && [ -n "$exits" ] && [ "$exits" -gt 0 ]; then
    ok "spin64 recorded under strace, stopped by SIGINT ($exits exits)"
else
    not_ok "spin64 recorded under strace, stopped by SIGINT" "status $st, exits '$exits'" \
        "$(head -5 "$tmp/err")"
fi

# strace -f lines: "TID name(args) = ret", split calls as "<unfinished ...>"
# + "<... name resumed>": count each call once, on its first line.
awk '
    / resumed>/ { next }
    /^[0-9]+ +---|^[0-9]+ +\+\+\+/ { next }
    {
        tid = $1; line = $0; sub(/^[0-9]+ +/, "", line)
        name = line; sub(/\(.*/, "", name)
        if (name == "ioctl" && line ~ /KVM_RUN/) {
            kvm_run[tid]++
            if (!(tid in first)) first[tid] = NR
            last[tid] = NR
        }
        nr[NR] = tid; nm[NR] = name; ln[NR] = line
    }
    END {
        for (i = 1; i <= NR; i++) {
            t = nr[i]
            if (!(t in first) || i < first[t] || i > last[t]) continue
            if (nm[i] == "ioctl" && ln[i] ~ /KVM_RUN/) continue
            # The UART of the VMM (guest output, input polled when the guest
            # reads LSR) is device I/O, not recording: counted apart.
            if (ln[i] ~ /^(write\(1,|read\(0,|poll\(\[\{fd=0,)/) { uart[t]++; continue }
            other[t]++; if (!(t in ex)) ex[t] = ln[i]
        }
        for (t in kvm_run)
            printf "vcpu %s %d %d %d %s\n", t, kvm_run[t], other[t] + 0, uart[t] + 0, ex[t]
    }' "$tmp/st" >"$tmp/vcpu"

# Trace writes: write/pwrite*/writev on any fd but 1 and 2, any thread.
writes=$(grep -v ' resumed>' "$tmp/st" |
    grep -Ec '^[0-9]+ +(write|pwrite64|writev|pwritev|pwritev2)\(([3-9]|[1-9][0-9]+),')
runs=$(awk '{s += $3} END {print s + 0}' "$tmp/vcpu")
others=$(awk '{s += $4} END {print s + 0}' "$tmp/vcpu")
uart=$(awk '{s += $5} END {print s + 0}' "$tmp/vcpu")
echo "# vCPU threads: $(wc -l <"$tmp/vcpu"), KVM_RUN calls $runs, other syscalls $others," \
    "UART I/O $uart; trace writes $writes for $exits exits"

if [ "$(wc -l <"$tmp/vcpu")" = 1 ] && [ "$runs" -gt 4096 ] && [ "$others" = 0 ] &&
    [ "$uart" -le 40 ]; then
    ok "vCPU thread: only KVM_RUN between its first and last KVM_RUN ($runs calls)"
else
    not_ok "vCPU thread: only KVM_RUN between its first and last KVM_RUN" \
        "$(cat "$tmp/vcpu")"
fi
# KVM_RUN calls = exits recorded (+1 at most: the run cut by the stop kick
# returns EINTR and is recorded as KVM_EXIT_INTR too, so they are equal).
if [ -n "$exits" ] && [ "$runs" = "$exits" ]; then
    ok "one KVM_RUN per recorded exit ($runs = $exits)"
else
    not_ok "one KVM_RUN per recorded exit" "KVM_RUN $runs, exits recorded '$exits'"
fi
limit=$(( ${exits:-0} / 4096 + 4 ))
if [ -n "$exits" ] && [ "$writes" -le "$limit" ]; then
    ok "trace writes: $writes for $exits exits (<= 1 per 4096 + 4 for header/footer/tail)"
else
    not_ok "trace writes: at most one per 4096 exits" "$writes writes, limit $limit"
fi
# With checkpoints (the default): a few seconds are enough for several.
strace -f -qq -o "$tmp/st2" -- "$vcr" run --mem-interval 200ms --record "$tmp/c.vcr" "$g/spin64.elf" \
    >/dev/null 2>"$tmp/err2" </dev/null &
spid=$!
sleep 4
vpid=$(cat /proc/$spid/task/$spid/children 2>/dev/null | awk '{print $1}')
[ -n "$vpid" ] && kill -INT "$vpid"
wait $spid
ckpts=$("$vcr" stats "$tmp/c.vcr" 2>/dev/null | sed -n 's/^ *checkpoints *\([0-9]*\).*/\1/p')
got=$(awk '
    / resumed>/ { next }
    /^[0-9]+ +---|^[0-9]+ +\+\+\+/ { next }
    {
        tid = $1; line = $0; sub(/^[0-9]+ +/, "", line)
        if (line ~ /^ioctl\(.*KVM_RUN/) { if (!(tid in first)) first[tid] = NR; last[tid] = NR }
        nr[NR] = tid; ln[NR] = line
    }
    END {
        for (t in first) if (best == "" || last[t] - first[t] > last[best] - first[best]) best = t
        for (i = first[best]; i <= last[best]; i++) {
            if (nr[i] != best || ln[i] ~ /^ioctl\(.*KVM_RUN/) continue
            if (ln[i] ~ /^(write\(1,|read\(0,|poll\(\[\{fd=0,)/) continue
            # KVM_CLEAR_DIRTY_LOG too where the host offers manual
            # protection (vmm/kvm.c, docs/recorder.md)
            if (ln[i] ~ /^ioctl\(.*KVM_(GET|CLEAR)_DIRTY_LOG/) { dl++; continue }
            if (ln[i] ~ /^(mmap|munmap|mprotect|madvise|brk|futex)\(/) { mm++; continue }
            bad++; if (ex == "") ex = ln[i]
        }
        printf "%d %d %d %s\n", dl, mm, bad, ex
    }' "$tmp/st2")
read -r nlog nmm nbad ex <<<"$got"
if [ "${ckpts:-0}" -ge 2 ] && [ "$nlog" -gt 0 ] && [ "$nbad" = 0 ]; then
    ok "checkpoints on: the vCPU thread's other syscalls are checkpoint work ($ckpts checkpoints: $nlog KVM_GET/CLEAR_DIRTY_LOG, $nmm allocation/lock calls)"
else
    not_ok "checkpoints on: the vCPU thread's other syscalls are checkpoint work" \
        "checkpoints '$ckpts', dirty-log ioctls $nlog, alloc/lock $nmm, others $nbad: $ex" \
        "$(head -3 "$tmp/err2")"
fi
exit $((failed > 0))
