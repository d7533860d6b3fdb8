#!/bin/bash
# tests/kvm/qemu_devices.sh: the QEMU-compatible parts of vcr's machine
# (docs/vmm.md, "Guests built for QEMU"), checked by the qdev32 guest
# (tests/guests/qdev32.S) on real KVM: a multiboot kernel linked over vcr's
# usual mbi place, its "NAME ARGS" command line and module, fw_cfg,
# pc-testdev, unbacked MMIO, unknown ports, isa-debug-exit, --cpuid; and a
# recording of it that replays identical (every device answer is an input).
set -u
root=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${VCR_BUILD:-$root/build}
vcr=${VCR:-$build/vcr}
g=$build/tests/guests/qdev32.elf
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'VCRMOD01 the module\nsecond line\n' >"$tmp/mod"

. "$root/tests/kvm/tap.inc"
# run DESC WANT_STATUS STDOUT_REGEX NOT_REGEX -- vcr run ARGS...
run() {
    local desc=$1 want=$2 re=$3 nre=$4; shift 5
    timeout 60 "$vcr" run --no-stdin "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    local st=$?
    if [ "$st" != "$want" ]; then
        not_ok "$desc" "exit status $st, want $want"
    elif [ -n "$re" ] && ! grep -Eq -- "$re" "$tmp/out"; then
        not_ok "$desc" "stdout does not match /$re/"
    elif [ -n "$nre" ] && grep -Eq -- "$nre" "$tmp/out"; then
        not_ok "$desc" "stdout matches /$nre/"
    else
        ok "$desc"
    fi
}

echo "1..12"
# 0x21 written as 32 bits: isa-debug-exit makes it (0x21 << 1) | 1 = 67.
run "qdev32 at 0x8000 with a module, --isa-debug-exit: every check passes, status 67" 67 \
    "^qdev32: cmdline=$g a b module=VCRMOD01 the module\$" 'FAIL' -- \
    --isa-debug-exit --module "$tmp/mod" --cmdline "a b" "$g"
run "3 vCPUs, 16 MiB, plain exit port: fw_cfg counts 3 CPUs and 16 MiB, status 0x21" 33 \
    "^qdev32: cmdline=$g  module=VCRMOD01" 'FAIL' -- -c 3 -m 16M --module "$tmp/mod" "$g"
run "no module: the guest sees none and says so (status (0x2f << 1) | 1)" 95 \
    'FAIL no module past the image' 'FAIL (fw_cfg|pc-testdev|unbacked|unknown|mbi)' -- \
    --isa-debug-exit "$g"
# CPUID: x2APIC and TSC-deadline only with the in-kernel LAPIC (pc); KVM
# before 6.13 reports TSC-deadline only as KVM_CAP_TSC_DEADLINE_TIMER (the
# nested L1's 6.1), which every x86 KVM with an in-kernel LAPIC has.
run "bare machine: CPUID hides x2APIC and TSC-deadline (no in-kernel LAPIC)" 67 \
    '^qdev32: cpuid x2apic=0 tsc-deadline=0$' '' -- --isa-debug-exit --module "$tmp/mod" "$g"
run "pc machine: CPUID offers x2APIC and TSC-deadline (KVM's in-kernel LAPIC)" 67 \
    '^qdev32: cpuid x2apic=1 tsc-deadline=1$' 'FAIL' -- --machine pc --isa-debug-exit \
    --module "$tmp/mod" "$g"
# The 8259s' masks: on pc as a BIOS leaves them for the devices vcr has
# (master 0xfa: the timer and the cascade; slave 0xff; SeaBIOS under QEMU
# 10 leaves 0xb8/0x8e, also unmasking the keyboard, floppy, RTC, mouse, FPU
# and IDE lines vcr has no device for); bare has no PIC (all ones).
run "pc machine: the 8259s masked as a BIOS leaves them (master 0xfa, slave 0xff)" 67 \
    '^qdev32: pic imr=0000faff$' 'FAIL' -- --machine pc --isa-debug-exit --module "$tmp/mod" "$g"
run "bare machine: no 8259s (their ports read all ones)" 67 \
    '^qdev32: pic imr=0000ffff$' '' -- --isa-debug-exit --module "$tmp/mod" "$g"
run "--module of a missing file is bad input (2)" 2 '' '' -- --module "$tmp/none" "$g"
run "--cpuid with an unknown flag is bad input (2)" 2 '' '' -- --cpuid host,+nosuchflag "$g"
if grep -q "nosuchflag" "$tmp/err"; then ok "the message names the unknown flag"
else not_ok "the message names the unknown flag"; fi
run "--cpuid host,-pcid,vendor=GenuineIntel runs the guest all the same" 67 '^qdev32: ' 'FAIL' \
    -- --cpuid host,-pcid,vendor=GenuineIntel --isa-debug-exit --module "$tmp/mod" "$g"

# Recorded, then replayed: fw_cfg and pc-testdev answers come from the trace.
timeout 60 "$vcr" run --no-stdin --record "$tmp/t.vcr" --isa-debug-exit --module "$tmp/mod" \
    "$g" >"$tmp/out" 2>"$tmp/err" </dev/null
st=$?
timeout 120 "$vcr" replay --verify "$tmp/t.vcr" >"$tmp/rep" 2>&1
rst=$?
if [ "$st" = 67 ] && [ "$rst" = 0 ]; then ok "recorded (67) and replayed identical"
else cat "$tmp/rep" >>"$tmp/err"; not_ok "recorded and replayed identical" "run $st, replay $rst"; fi
[ "$failed" = 0 ]
