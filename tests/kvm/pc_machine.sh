#!/bin/bash
# tests/kvm/pc_machine.sh: the pc machine for a kernel that boots as on a PC
# (docs/vmm.md, "Machines"), checked by the pcsmp32 guest
# (tests/guests/pcsmp32.S) on real KVM: only the BSP at a multiboot entry,
# fw_cfg's CPU count, an IRQ raised on pc-testdev's line 14 delivered by the
# in-kernel IOAPIC and LAPIC and waking a HLT with interrupts on, the APs
# started by the guest's INIT/SIPI; the line changes recorded as IRQ_LINE
# records and the trace replayed (identical or its first divergence named).
# On the bare machine the same guest sees every vCPU at the entry and no
# interrupt: it must fail there, which shows the checks can fail.
set -u
root=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${VCR_BUILD:-$root/build}
vcr=${VCR:-$build/vcr}
g=$build/tests/guests/pcsmp32.elf
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

. "$root/tests/kvm/tap.inc"
# run DESC WANT_STATUS STDOUT_REGEX -- vcr run ARGS...
run() {
    local desc=$1 want=$2 re=$3; shift 4
    timeout 60 "$vcr" run --no-stdin "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    local st=$?
    if [ "$st" != "$want" ]; then
        not_ok "$desc" "exit status $st, want $want"
    elif [ -n "$re" ] && ! grep -Eq -- "$re" "$tmp/out"; then
        not_ok "$desc" "stdout does not match /$re/"
    else
        ok "$desc"
    fi
}

echo "1..8"
# 0x21 written as 32 bits: isa-debug-exit makes it (0x21 << 1) | 1 = 67.
for c in 1 2 3; do
    run "pc, $c vCPU(s): fw_cfg counts $c, IRQ 14 delivered once, $((c - 1)) AP(s) by INIT/SIPI" 67 \
        "^pcsmp32: cpus=$c irqs=1 aps=$((c - 1))\$" -- --machine pc --isa-debug-exit -c "$c" "$g"
done
# bare: no irqchip, so the HLT with interrupts on ends the run before any
# check is printed, or (several vCPUs) an AP at the entry reports failure.
timeout 60 "$vcr" run --no-stdin --machine bare --isa-debug-exit -c 2 "$g" \
    >"$tmp/out" 2>"$tmp/err" </dev/null
st=$?
if [ "$st" != 67 ] && ! grep -q "irqs=1" "$tmp/out"; then
    ok "bare machine, 2 vCPUs: the guest's checks fail there (status $st)"
else not_ok "bare machine, 2 vCPUs: the guest's checks fail there" "status $st"; fi

timeout 60 "$vcr" run --no-stdin --record "$tmp/t.vcr" --machine pc --isa-debug-exit -c 2 "$g" \
    >"$tmp/out" 2>"$tmp/err" </dev/null
st=$?
if [ "$st" = 67 ] && grep -q "^pcsmp32: cpus=2 irqs=1 aps=1$" "$tmp/out"; then
    ok "recorded on pc with 2 vCPUs: the same checks pass (67)"
else not_ok "recorded on pc with 2 vCPUs: the same checks pass" "status $st"; fi
"$vcr" dump "$tmp/t.vcr" >"$tmp/dump" 2>"$tmp/err"
if grep -q "irq_line vcpu 0: gsi=14 level=1" "$tmp/dump" &&
    grep -q "irq_line vcpu 0: gsi=14 level=0" "$tmp/dump"; then
    ok "the trace holds line 14's raise and lower (IRQ_LINE records, vCPU 0)"
else not_ok "the trace holds line 14's raise and lower"; fi
if "$vcr" stats "$tmp/t.vcr" | grep -Eq '^  1 +[0-9]+ '; then
    ok "vcr stats counts exits of vCPU 1 (the AP ran)"
else not_ok "vcr stats counts exits of vCPU 1"; fi
# The APs' spin and the checkpoint kicks are asynchronous: the replay may
# diverge, but must say where, and say identical only when it is.
timeout 120 "$vcr" replay --verify "$tmp/t.vcr" >"$tmp/rep" 2>&1
rst=$?
if { [ "$rst" = 0 ] && grep -qi "identical" "$tmp/rep"; } ||
   { [ "$rst" = 1 ] && grep -q "^diverged at exit [0-9]" "$tmp/rep"; }; then
    ok "replay --verify: $(head -1 "$tmp/rep" | cut -c1-80) (status $rst)"
else cp "$tmp/rep" "$tmp/err"; not_ok "replay --verify identical or its first divergence named" "status $rst"; fi
[ "$failed" = 0 ]
