#!/bin/bash
# tests/kvm/run_guests.sh: every test guest runs under `vcr run` on real KVM,
# prints what it should and exits with the status it should (TAP).
# Statuses and ports: tests/guests/guest.h, docs/vmm.md.
set -u
root=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${VCR_BUILD:-$root/build}
vcr=${VCR:-$build/vcr}
g=$build/tests/guests
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

. "$root/tests/kvm/tap.inc"
# run DESC WANT_STATUS WANT_STDOUT_REGEX -- vcr run ARGS...
run() {
    local desc=$1 want=$2 re=$3; shift 4
    timeout 60 "$vcr" run "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    local st=$?
    if [ "$st" != "$want" ]; then
        not_ok "$desc" "exit status $st, want $want"
    elif ! grep -Eq -- "$re" "$tmp/out"; then
        not_ok "$desc" "stdout does not match /$re/"
    else
        ok "$desc"
    fi
}

echo "1..16"
run "hello16 (flat, real mode) prints and halts with 0" 0 '^Hello from real mode!$' -- "$g/hello16.bin"
run "pm32 as multiboot: magic, cmdline, memory map, status 0x32" 50 \
    '^pm32: multiboot, cmdline=[^ ]*/pm32.elf console=ttyS0 quiet mem_upper=64512 mmap=4$' -- \
    --cmdline "console=ttyS0 quiet" "$g/pm32.elf"
run "pm32 with -m 16M: mem_upper follows the memory size" 50 'mem_upper=15360 ' -- \
    -m 16M "$g/pm32.elf"
run "pm32k.bin: flat multiboot kernel placed by its a.out-kludge addresses" 50 \
    '^pm32: multiboot, cmdline=[^ ]*/pm32k.bin k mem_upper=64512 mmap=4$' -- --cmdline k "$g/pm32k.bin"
run "pm32 as plain ELF32 (--format elf): no multiboot magic, status 0x33" 51 \
    '^pm32: protected mode, no multiboot$' -- --format elf "$g/pm32.elf"
run "count64 (ELF64, long mode): 100 port + 200 MMIO exits, MMIO reads right (0x40)" 64 \
    '^count64: port=100 mmio=200$' -- "$g/count64.elf"
run "count64 as a flat image in long mode at 0x100000" 64 '^count64: port=100 mmio=200$' -- \
    --format flat --mode long64 --load 0x100000 "$g/count64.bin"
run "smp64 on 2 vCPUs: both run, status 0x52" 82 '^smp64: 2 cpus$' -- -c 2 "$g/smp64.elf"
if grep -q '^smp64: cpu 0$' "$tmp/out" && grep -q '^smp64: cpu 1$' "$tmp/out"; then
    ok "smp64: each vCPU read its own index from port 0xf0"
else
    not_ok "smp64: each vCPU read its own index from port 0xf0"
fi
run "smp64 on 1 vCPU: status 0x51" 81 '^smp64: 1 cpus$' -- "$g/smp64.elf"
run "rdtsc64 runs to its end (0x70)" 112 '^rdtsc64: outs=[0-9]+$' -- "$g/rdtsc64.elf"
run "gdb64 (freestanding C) counts to its limit (0x60)" 96 '^gdb64: done$' -- "$g/gdb64.elf"

# COM1 input comes from stdin.
printf 'hello, uart\n' | timeout 60 "$vcr" run "$g/echo64.elf" >"$tmp/out" 2>"$tmp/err"
st=$?
if [ $st = 33 ] && grep -q '^echo64: HELLO, UART$' "$tmp/out"; then
    ok "echo64 reads stdin through COM1 (RBR/LSR.DR) and echoes it, status 0x21"
else
    not_ok "echo64 reads stdin through COM1 (RBR/LSR.DR) and echoes it, status 0x21" "status $st"
fi

# Triple fault: status 3 and a message with the rip. On Intel KVM reports the
# faulting rip (crash_rip); on AMD it resets the vCPU first, and the message
# gives the rip of the last exit instead (last_exit_rip, just before).
crash=$(nm "$g/crash64.elf" | awk '$3 == "crash_rip" { print $1 }' | sed 's/^0*//')
last=$(nm "$g/crash64.elf" | awk '$3 == "last_exit_rip" { print $1 }' | sed 's/^0*//')
run "crash64 triple-faults: status 3" 3 '^crash64: triple fault ahead$' -- "$g/crash64.elf"
if grep -q "triple fault (KVM_EXIT_SHUTDOWN)" "$tmp/err" &&
   grep -Eq "at rip=0x$crash |last exit before it: IO at rip=0x$last " "$tmp/err"; then
    ok "crash64: the message names the triple fault and rip 0x$crash (or the last exit at 0x$last)"
else
    not_ok "crash64: the message names the triple fault and its rip" "crash_rip=0x$crash last_exit_rip=0x$last"
fi

# SIGTERM stops a guest that never ends: status 128+15 and a message.
timeout 60 "$vcr" run "$g/spin64.elf" >"$tmp/out" 2>"$tmp/err" </dev/null &
pid=$!
for _ in $(seq 100); do grep -q spinning "$tmp/out" 2>/dev/null && break; sleep 0.1; done
sleep 0.2
kill -TERM $pid
wait $pid
st=$?
if [ $st = 143 ] && grep -q "stopped by TERM" "$tmp/err"; then
    ok "spin64 stopped by SIGTERM: status 143, message"
else
    not_ok "spin64 stopped by SIGTERM: status 143, message" "status $st"
fi

[ $failed = 0 ]
