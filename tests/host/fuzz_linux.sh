#!/bin/bash
# fuzz_linux: run the Linux boot protocol fuzzer (tests/fuzz/fuzz_linux.c:
# setup header probe, placement in a RAM layout, zero page / page tables /
# GDT build) for a bounded time. Seeds: a valid synthetic bzImage header
# written here (boot.rst offsets) and the first 64 KiB of Debian's bzImage
# when the cache has it. A damaged image must give an error, never a crash,
# an out-of-bounds access or overlapping writes. FUZZ_TIME (s, default 30).
# TAP (tests/host/fuzz_lib.inc).
root=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$root/tests/host/fuzz_lib.inc"
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
py=/usr/bin/python3
[ -x "$py" ] || py=python3
"$py" - "$seeds/synthetic.bin" <<'PY'
import struct, sys
img = bytearray(0x600 + 0x3000)
img[0] = 16                                   # the fuzzer's RAM size choice: 17 MiB
img[3] = 2                                    # command line of 32 bytes
for off, fmt, v in [(0x1f1, '<B', 2), (0x1f4, '<I', 0x300), (0x1fe, '<H', 0xaa55),
                    (0x200, '<B', 0xeb), (0x201, '<B', 0x6a), (0x206, '<H', 0x20f),
                    (0x211, '<B', 1), (0x22c, '<I', 0x37ffffff), (0x230, '<I', 0x200000),
                    (0x234, '<B', 1), (0x236, '<H', 1), (0x238, '<I', 0x7ff),
                    (0x248, '<I', 0x100), (0x24c, '<I', 0x1000), (0x258, '<Q', 0x200000),
                    (0x260, '<I', 0x800000)]:
    struct.pack_into(fmt, img, off, v)
img[0x202:0x206] = b'HdrS'
open(sys.argv[1], 'wb').write(img)
PY
kernel=${VCR_CACHE:-$HOME/.cache/vcr}/kernel/vmlinuz
[ -r "$kernel" ] && head -c 65536 "$kernel" >"$seeds/debian-head.bin"
fuzz_run fuzz_linux "the Linux boot protocol loader from $(ls "$seeds" | wc -l) seeds" \
    "${FUZZ_TIME:-30}" "$seeds" -- -max_len=65536
