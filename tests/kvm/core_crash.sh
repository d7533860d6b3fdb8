#!/bin/bash
# core_crash: `vcr core` of a crash recorded on real KVM. crash64 (loaded
# by vcr's ELF loader, so its code and data are in the trace) makes a data
# port exit with rax = 0xdead just before ud2 at crash_rip, then triple
# faults. The core at that exit and at the last one (the triple fault)
# passes readelf -a -W without a warning; `gdb -batch crash64.elf CORE`
# shows the registers `vcr dump --full` shows at that exit, and at s_msg and
# crash_rip the bytes the ELF file holds there (read with objcopy, not
# through vcr); the VCR note names the exit.
set -u
root=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${VCR_BUILD:-$root/build}
vcr=${VCR:-$build/vcr}
guest=$build/tests/guests/crash64.elf
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ ! -e /dev/kvm ]; then
    if [ -n "${VCR_ALLOW_SKIP_KVM:-}" ]; then echo "1..0 # SKIP no /dev/kvm"; exit 0; fi
    echo "1..1"; echo "not ok 1 - /dev/kvm missing (run through tests/nested/kvm-run)"; exit 1
fi
command -v gdb > /dev/null || { echo "1..1"; echo "not ok 1 - gdb not installed (scripts/deps.sh installs it)"; exit 1; }
echo "1..7"
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }

timeout 60 "$vcr" run --no-stdin --record "$tmp/t.vcr" "$guest" > "$tmp/run.out" 2> "$tmp/run.err"
st=$?
[ $st = 3 ]
ok $? "crash64 recorded, vcr run exits 3 (triple fault) ($st)"
[ $st = 3 ] || sed 's/^/# /' "$tmp/run.err" | head

# the 0xdead exit: the last OUT to the data port 0xf1
at=$("$vcr" dump --json "$tmp/t.vcr" | python3 -c '
import json, sys
last = None
for l in sys.stdin:
    r = json.loads(l)
    if r.get("type") == "exit" and r.get("io", {}).get("port") == 0xf1:
        last = r["seq"]
print(last)')
"$vcr" core --at "$at" "$tmp/t.vcr" -o "$tmp/at.core" 2> "$tmp/err"; s1=$?
"$vcr" core "$tmp/t.vcr" -o "$tmp/last.core" 2>> "$tmp/err"; s2=$?
readelf -a -W "$tmp/at.core" > /dev/null 2> "$tmp/re1"; r1=$?
readelf -a -W "$tmp/last.core" > /dev/null 2> "$tmp/re2"; r2=$?
[ "$s1 $s2 $r1 $r2" = "0 0 0 0" ] && [ ! -s "$tmp/re1" ] && [ ! -s "$tmp/re2" ]
ok $? "cores at exit $at and at the last exit; readelf -a -W without a warning"
sed 's/^/# /' "$tmp/err" "$tmp/re1" "$tmp/re2" | head

regs="rax rbx rcx rdx rsi rdi rbp rsp r8 r9 r10 r11 r12 r13 r14 r15 rip eflags cs ss ds es fs gs"
sym() { nm "$guest" | awk -v s="$1" '$3 == s { print "0x" $1 }'; }
msg=$(sym s_msg); crash=$(sym crash_rip)
# One gdb per core (gdb starts slowly under TCG): the registers, then the
# bytes at s_msg and crash_rip after markers.
rungdb() {	# CORE OUT
    gdb -nx -batch -ex "info registers $regs" -ex 'echo @msg\n' -ex "x/16xb $msg" \
        -ex 'echo @crash\n' -ex "x/4xb $crash" "$guest" "$1" > "$2" 2>&1
}
gdbregs() {	# OUT: "name value" per register, as gdb printed them
    sed '/^@msg/,$d' "$1" |
        awk -v want=" $regs " 'NF >= 2 && $2 ~ /^0x/ && index(want, " " $1 " ") { print $1, $2 }'
}
gdb_bytes() {	# OUT MARKER: the bytes x/..xb printed after the marker
    sed -n "/^@$2/,/^@/p" "$1" | sed -n 's/^0x[0-9a-f]*[^:]*:\s*//p' | tr '\t' ' ' |
        tr '\n' ' ' | sed 's/ *$//'
}
dumpregs() {	# SEQ: the same from vcr dump --full --json
    "$vcr" dump --full --from "$1" --to "$1" --json "$tmp/t.vcr" | python3 -c '
import json, sys
names = sys.argv[1].split()
for l in sys.stdin:
    r = json.loads(l)
    if r.get("type") != "exit":
        continue
    g = r["regs"]
    for n in names:
        v = int(g["rflags" if n == "eflags" else n], 16)
        if n == "eflags":
            v &= 0xffffffff
        print(n, hex(v))' "$regs"
}
rungdb "$tmp/at.core" "$tmp/gdb1"
rungdb "$tmp/last.core" "$tmp/gdb2"
gdbregs "$tmp/gdb1" > "$tmp/g1"; dumpregs "$at" > "$tmp/d1"
[ "$(wc -l < "$tmp/g1")" = 24 ] && diff "$tmp/d1" "$tmp/g1" > "$tmp/diff1" && grep -q "rax 0xdead" "$tmp/g1"
ok $? "gdb at exit $at: 24 registers as vcr dump shows them, rax = 0xdead"
sed 's/^/# /' "$tmp/diff1" | head
last=$("$vcr" dump --json "$tmp/t.vcr" | python3 -c '
import json, sys
s = None
for l in sys.stdin:
    r = json.loads(l)
    if r.get("type") == "exit":
        s = r["seq"]
print(s)')
gdbregs "$tmp/gdb2" > "$tmp/g2"; dumpregs "$last" > "$tmp/d2"
[ -s "$tmp/d2" ] && diff "$tmp/d2" "$tmp/g2" > "$tmp/diff2"
ok $? "gdb at the last exit ($last, the triple fault): registers as vcr dump shows them"
sed 's/^/# /' "$tmp/diff2" | head

# the guest's bytes, from the ELF file
objcopy -O binary --only-section=.rodata "$guest" "$tmp/rodata.bin"
objcopy -O binary --only-section=.text "$guest" "$tmp/text.bin"
sec() { objdump -h "$guest" | awk -v s="$1" '$2 == s { print "0x" $4 }'; }
want_bytes() {	# FILE SECTION_ADDR ADDR N
    python3 -c '
import sys
b = open(sys.argv[1], "rb").read()
o = int(sys.argv[3], 16) - int(sys.argv[2], 16)
print(" ".join("0x%02x" % x for x in b[o:o + int(sys.argv[4])]))' "$@"
}
w1=$(want_bytes "$tmp/rodata.bin" "$(sec .rodata)" "$msg" 16)
g1=$(gdb_bytes "$tmp/gdb1" msg)
[ -n "$w1" ] && [ "$g1" = "$w1" ]
ok $? "x/16xb s_msg ($msg): the ELF's bytes ($g1)"
w2=$(want_bytes "$tmp/text.bin" "$(sec .text)" "$crash" 4)
g2=$(gdb_bytes "$tmp/gdb2" crash)
[ -n "$w2" ] && [ "$g2" = "$w2" ] && [ "${w2:0:9}" = "0x0f 0x0b" ]
ok $? "x/4xb crash_rip ($crash) in the last core: ud2 as in the ELF ($g2)"

readelf -n "$tmp/at.core" > "$tmp/notes"
np=$(grep -c NT_PRSTATUS "$tmp/notes")
exit_in_note=$(python3 - "$tmp/at.core" <<'PY'
import struct, sys
b = open(sys.argv[1], "rb").read()
phoff, = struct.unpack_from("<Q", b, 32)
phnum, = struct.unpack_from("<H", b, 56)
for i in range(phnum):
    t, _, off, _, _, sz = struct.unpack_from("<IIQQQQ", b, phoff + 56 * i)
    if t != 4:
        continue
    p = off
    while p < off + sz:
        nsz, dsz, typ = struct.unpack_from("<III", b, p)
        name = b[p + 12:p + 12 + nsz - 1]
        d = p + 12 + ((nsz + 3) & ~3)
        if name == b"VCR":
            print(struct.unpack_from("<Q", b, d + 8)[0])
        p = d + ((dsz + 3) & ~3)
PY
)
[ "$np" = 1 ] && [ "$exit_in_note" = "$at" ]
ok $? "one NT_PRSTATUS; the VCR note names exit $at ($exit_in_note)"
