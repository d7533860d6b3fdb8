#!/bin/bash
# tests/kvm/vmport.sh: the pc machine's VMware backdoor port (vmm/dev_vmport.c,
# docs/vmm.md), checked by the vmport32 guest (tests/guests/vmport32.S) at
# CPL 0 on real KVM: GETVERSION, GETRAMSIZE, GETBIOSUUID, GET_VCPU_INFO, an
# unknown command, no magic,
# the command in ecx's low byte, a 1-byte IN and an OUT, each leaving eax,
# ebx, ecx and edx as QEMU's vmport does; a recording of it replays identical
# (the registers the port sets are SET_STATE records). On the bare machine,
# which has no such port, the same guest reads all ones and must fail.
set -u
root=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${VCR_BUILD:-$root/build}
vcr=${VCR:-$build/vcr}
g=$build/tests/guests/vmport32.elf
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

. "$root/tests/kvm/tap.inc"
# The lines a run must print on pc: what QEMU's vmport leaves (QEMU 10.0,
# -accel kvm -machine pc -m 32M -kernel vmport32.elf, prints the same).
want_pc() {
    cat <<'EOF'
vmport32: getversion eax=00000006 ebx=564d5868 ecx=00000002 edx=00005658
vmport32: unknown-0xfff eax=ffffffff ebx=deadbeef ecx=00000fff edx=00005658
vmport32: no-magic eax=ffffffff ebx=deadbeef ecx=0000000a edx=00005658
vmport32: getramsize eax=02000000 ebx=00001177 ecx=00000014 edx=00005658
vmport32: getbiosuuid eax=00000000 ebx=00000000 ecx=00000000 edx=00000000
vmport32: get-vcpu-info eax=00000008 ebx=deadbeef ecx=00000044 edx=00005658
vmport32: getversion-0x10a eax=00000006 ebx=564d5868 ecx=00000002 edx=00005658
vmport32: getversion-inb eax=00000006 ebx=564d5868 ecx=00000002 edx=00005658
vmport32: getversion-outl eax=00000006 ebx=564d5868 ecx=00000002 edx=00005658
EOF
}
# check DESC STATUS WANT_STATUS: the run's status and its lines as want_pc.
check() {
    if [ "$2" != "$3" ]; then
        not_ok "$1" "exit status $2, want $3"
    elif ! want_pc | diff - "$tmp/out" >"$tmp/diff"; then
        not_ok "$1" "output differs from QEMU's answers:" "$(cat "$tmp/diff")"
    else
        ok "$1"
    fi
}

echo "1..4"
# 0x21 written as 32 bits: isa-debug-exit makes it (0x21 << 1) | 1 = 67.
timeout 60 "$vcr" run --no-stdin --machine pc -m 32M --isa-debug-exit "$g" \
    >"$tmp/out" 2>"$tmp/err" </dev/null
check "pc: every backdoor call leaves the registers as QEMU's vmport (67)" $? 67

timeout 60 "$vcr" run --no-stdin --record "$tmp/t.vcr" --machine pc -m 32M --isa-debug-exit "$g" \
    >"$tmp/out" 2>"$tmp/err" </dev/null
check "pc, recorded: the same answers (67)" $? 67
timeout 120 "$vcr" replay --verify "$tmp/t.vcr" >"$tmp/out" 2>"$tmp/err" </dev/null
st=$?
if [ "$st" = 0 ] && grep -q "identical" "$tmp/out"; then ok "the recording replays identical"
else not_ok "the recording replays identical" "replay status $st"; fi

# bare: no port, so an IN reads all ones and leaves ebx and ecx alone.
timeout 60 "$vcr" run --no-stdin --machine bare -m 32M --isa-debug-exit "$g" \
    >"$tmp/out" 2>"$tmp/err" </dev/null
st=$?
if [ "$st" = 95 ] &&
    grep -qx "vmport32: getversion eax=ffffffff ebx=deadbeef ecx=0000000a edx=00005658" "$tmp/out" &&
    grep -qx "vmport32: FAIL getversion" "$tmp/out"; then
    ok "bare machine: no port, the IN reads all ones and the guest fails (95)"
else not_ok "bare machine: no port, the IN reads all ones and the guest fails" "status $st"; fi
[ "$failed" = 0 ]
