#!/bin/bash
# core_cli: `vcr core` from the command line on the corpus trace of crash64
# (tests/corpus): a core readelf takes without a warning, whose registers
# (gdb) are `vcr dump`'s at that exit; and every way it can fail gives one
# line and status 2 and leaves no file behind: an exit the trace does not
# hold, a trace without exits, an unwritable -o, /dev/full (which stays),
# a file-size limit and a full file system in the middle of the memory.
set -u
ROOT=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${VCR_BUILD:-$ROOT/build}
VCR=${VCR:-$BUILD/vcr}
TRACE=$ROOT/tests/corpus/crash64.vcr
GUEST=$BUILD/tests/guests/crash64.elf
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

echo "1..11"
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
# one line on stderr, status 2, no file left: $1 what, $2 expected text, $3 file
fails() {
    local st=$1 what=$2 want=$3 file=$4
    local lines; lines=$(wc -l < "$T/err")
    [ "$st" = 2 ] && [ "$lines" = 1 ] && grep -q -- "$want" "$T/err" && [ ! -e "$file" ]
    ok $? "$what: status 2, one line ($(head -c 200 "$T/err" | tr '\n' ' '))"
}

"$VCR" core "$TRACE" -o "$T/c.core" 2> "$T/err"; st=$?
readelf -a -W "$T/c.core" > "$T/readelf" 2> "$T/readelf.err"; rst=$?
[ $st = 0 ] && [ $rst = 0 ] && [ ! -s "$T/readelf.err" ] && grep -q "CORE (Core file)" "$T/readelf"
ok $? "vcr core of the last exit: readelf -a -W without a warning"

# the exit before the triple fault: OUT 0xf1 with rax 0xdead (crash64.S)
at=$("$VCR" dump --json "$TRACE" | python3 -c '
import json, sys
last = None
for l in sys.stdin:
    r = json.loads(l)
    if r.get("type") == "exit" and r.get("io", {}).get("port") == 0xf1:
        last = r["seq"]
print(last)')
"$VCR" core --at "$at" -q "$TRACE" -o "$T/at.core" 2> "$T/err"; st=$?
[ $st = 0 ] && [ ! -s "$T/err" ]
ok $? "--at $at -q: written, nothing said"
if command -v gdb > /dev/null; then
    gdb -nx -batch -ex 'info registers rax rsp rip' -ex 'x/s &s_msg' "$GUEST" "$T/at.core" > "$T/gdb" 2>&1
    want=$("$VCR" dump --full --from "$at" --to "$at" --json "$TRACE" | python3 -c '
import json, sys
for l in sys.stdin:
    r = json.loads(l)
    if r.get("type") == "exit":
        g = r["regs"]
        print("%s %s %s" % (hex(int(g["rax"], 16)), hex(int(g["rsp"], 16)), hex(int(g["rip"], 16))))')
    got=$(awk '$1 == "rax" || $1 == "rsp" || $1 == "rip" { printf "%s ", $2 }' "$T/gdb" | sed 's/ $//')
    [ -n "$want" ] && [ "$got" = "$want" ] && grep -q 'crash64: triple fault ahead' "$T/gdb"
    ok $? "gdb on crash64.elf + core: rax rsp rip = vcr dump's ($got / $want), s_msg readable"
    [ "$got" = "$want" ] || sed 's/^/# /' "$T/gdb" | head -20
else
    ok 0 "# SKIP gdb not installed"
fi

"$VCR" core --at 100000 "$TRACE" -o "$T/x.core" 2> "$T/err"; fails $? "--at beyond the trace" "holds exits 0\.\." "$T/x.core"
"$BUILD/tools/gen_trace" --exits 0 "$T/e0.vcr" > /dev/null
"$VCR" core "$T/e0.vcr" -o "$T/x.core" 2> "$T/err"; fails $? "a trace without exits" "no exit" "$T/x.core"
"$VCR" core "$TRACE" -o "$T/nodir/x.core" 2> "$T/err"; fails $? "unwritable -o" "No such file" "$T/nodir/x.core"
"$VCR" core "$TRACE" 2> "$T/err"; [ $? = 2 ] && grep -q -- "-o FILE" "$T/err"
ok $? "no -o: status 2, says -o FILE is required"

"$VCR" core "$TRACE" -o /dev/full 2> "$T/err"; st=$?
[ $st = 2 ] && [ "$(wc -l < "$T/err")" = 1 ] && grep -q "No space left" "$T/err" && [ -c /dev/full ]
ok $? "-o /dev/full: ENOSPC reported, /dev/full left alone ($(cat "$T/err"))"

# a file-size limit of 8 KiB (the core is about 30 KiB): EFBIG mid-write
(ulimit -f 8; trap '' XFSZ; exec "$VCR" core "$TRACE" -o "$T/big.core") 2> "$T/err"
fails $? "8 KiB file-size limit" "File too large.*partial core removed" "$T/big.core"

# a 16 KiB tmpfs: ENOSPC after the headers, in the memory
if unshare -m true 2> /dev/null; then
    unshare -m sh -c 'mkdir -p "$1/m" && mount -t tmpfs -o size=16k none "$1/m" &&
        "$2" core "$3" -o "$1/m/x.core"; s=$?; ls "$1/m" > "$1/left"; exit $s' sh "$T" "$VCR" "$TRACE" 2> "$T/err"
    st=$?
    [ $st = 2 ] && [ "$(wc -l < "$T/err")" = 1 ] && grep -q "No space left.*partial core removed" "$T/err" &&
        [ ! -s "$T/left" ]
    ok $? "full 16 KiB tmpfs: ENOSPC reported, the partial core removed ($(cat "$T/err"))"
else
    ok 0 "# SKIP no mount namespace (unshare -m) for a small tmpfs"
fi

"$VCR" core --help | grep -q "usage: vcr core"
ok $? "vcr core --help"
