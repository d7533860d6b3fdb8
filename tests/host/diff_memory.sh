#!/bin/bash
# diff_memory: `vcr diff --memory` on the two traces tests/unit/diff_memory
# writes (same exits, memory that differs in known places: see that file):
# the text names the first differing page with its offset and values and
# the memory known on one side only; --json carries the same; --all reports
# every point; a trace against itself is "same" with status 0; without
# --memory the exits alone are the same (status 0).
set -u
ROOT=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${VCR_BUILD:-$ROOT/build}
VCR=${VCR:-$BUILD/vcr}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
echo "1..6"
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }

"$BUILD/tests/unit/diff_memory" "$T/a.vcr" "$T/b.vcr" > /dev/null
"$VCR" diff "$T/a.vcr" "$T/b.vcr" > "$T/out"
ok $? "without --memory: the exits are the same, status 0"

"$VCR" diff --memory "$T/a.vcr" "$T/b.vcr" > "$T/out"; st=$?
[ $st = 1 ] && grep -q "memory at A exit #0 / B exit #0 (vcpu 0): 1 page differs" "$T/out" &&
    grep -q "page 0x5000: first difference at +0x123: A 0x11 B 0x22" "$T/out"
ok $? "--memory: status 1, page 0x5000 at +0x123, 0x11 / 0x22"
grep -q "not compared: 256 bytes known in A only, 512 in B only" "$T/out" &&
    grep -q "0x8000..0x80ff: A untracked, B unknown" "$T/out" &&
    grep -q "0x9000..0x91ff: A unknown, B untracked" "$T/out"
ok $? "--memory: the memory known on one side only, with its classes"
[ $st = 1 ] || sed 's/^/# /' "$T/out"

"$VCR" diff --memory --all "$T/a.vcr" "$T/b.vcr" > "$T/out"
[ "$(grep -c '^memory at' "$T/out")" = 3 ] && grep -q "page 0x3000: first difference at +0x40: A 0xaa B 0xbb" "$T/out"
ok $? "--memory --all: three points, page 0x3000 at exit 4"

"$VCR" diff --memory --json "$T/a.vcr" "$T/b.vcr" | python3 -c '
import json, sys
ev = [json.loads(l) for l in sys.stdin]
m = [e for e in ev if e["type"] == "memory"]
s = [e for e in ev if e["type"] == "memory_summary"]
assert len(m) == 1 and m[0]["pages"][0] == {"gpa": "0x5000", "offset": 0x123, "a": 0x11, "b": 0x22}, m
assert m[0]["only_a"] == 256 and m[0]["only_b"] == 512
assert len(s) == 1 and s[0]["same"] is False and s[0]["aligned_pairs"] == 10
' 2> "$T/err"
ok $? "--memory --json: the point and the summary ($(tail -1 "$T/err"))"

"$VCR" diff --memory "$T/a.vcr" "$T/a.vcr" > "$T/out"
[ $? = 0 ] && grep -q "memory: same at" "$T/out"
ok $? "a trace against itself: memory same, status 0"
