#!/bin/bash
# fuzz_disasm: run the instruction decoder's fuzzer (tests/fuzz/fuzz_disasm.c:
# mode, linear address, page walk, fetch with unknown bytes, capstone) for a
# bounded time. Seeds written here: real mode at 0 with `ud2`; 64-bit mode
# (CR0.PE|PG, CR4.PAE, EFER.LME|LMA, CS.L) with a 4-level identity map of
# the first 2 MiB at cr3 0x1000 and `out %al, $0xf1` at rip 0x3000. A bad
# state or memory must give "unknown" or "invalid", never a crash.
# FUZZ_TIME (s, default 30). TAP (tests/host/fuzz_lib.inc).
root=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$root/tests/host/fuzz_lib.inc"
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
py=/usr/bin/python3
[ -x "$py" ] || py=python3
# struct vcr_vcpu_state: kvm_regs (18 x 8 bytes: rax..r15, rip at 128,
# rflags at 136), kvm_sregs (8 segments of 24 bytes: base 0, limit 8,
# selector 12, type 14, present 15, dpl 16, db 17, s 18, l 19, g 20, avl 21,
# unusable 22; cs first; then tr, ldt, gdt, idt (16 each), cr0 at 304, cr2,
# cr3, cr4, cr8, efer at 344 ...), kvm_vcpu_events: sizes from the uapi.
"$py" - "$seeds" <<'PY'
import struct, sys
S = 144 + 312 + 64                      # regs + sregs + events
def state(rip, cs_l=0, cr0=0, cr3=0, cr4=0, efer=0):
    b = bytearray(S)
    struct.pack_into('<Q', b, 128, rip)
    struct.pack_into('<Q', b, 136, 2)
    cs = 144
    struct.pack_into('<QIHBBBBBBBBBB', b, cs, 0, 0xffffffff, 8, 0xb, 1, 0, 0 if cs_l else 1, 1,
                     cs_l, 1, 0, 0, 0)
    off = 144 + 8 * 24 + 2 * 16         # after 8 segments, gdt and idt
    struct.pack_into('<QQQQQQ', b, off, cr0, 0, cr3, cr4, 0, efer)
    return b
real = state(0)
open(sys.argv[1] + "/real-ud2", "wb").write(real + b"\0" + b"\x0f\x0b")
mem = bytearray(0x4000)
struct.pack_into('<Q', mem, 0x1000, 0x2003)    # PML4[0] -> PDPT 0x2000
struct.pack_into('<Q', mem, 0x2000, 0x83)            # PDPT[0]: 1 GiB page at 0
mem[0x3000:0x3002] = b"\xe6\xf1"
l64 = state(0x3000, cs_l=1, cr0=0x80000011, cr3=0x1000, cr4=0x20, efer=0x500)
open(sys.argv[1] + "/long64-out", "wb").write(l64 + b"\0" + mem)
PY
fuzz_run fuzz_disasm "the instruction decoder (mode, page walk, unknown bytes) from $(ls "$seeds" | wc -l) seeds" \
    "${FUZZ_TIME:-30}" "$seeds" -- -max_len=20000
