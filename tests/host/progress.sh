#!/bin/bash
# progress: the progress line of long commands (cli/progress.h) appears on
# stderr when it is a terminal (a pty here: "vcr CMD: N/TOTAL exits (P%),
# R exits/s, M:SS left", drawn with \r and erased at the end), not when
# stderr is a pipe, and not with --quiet; the command's results are the
# same either way.
set -u
ROOT=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${VCR_BUILD:-$ROOT/build}
VCR=${VCR:-$BUILD/vcr}
GEN=$BUILD/tools/gen_trace
PTY="python3 $ROOT/tests/host/progress_pty.py"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

echo "1..13"
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }

"$GEN" --exits 200000 --vcpus 2 "$T/a.vcr" &&
"$GEN" --exits 200000 --vcpus 2 --reg-at 90000 --reg-value 7 "$T/b.vcr"
ok $? "generate two 200000-exit traces"

# A progress line: \r, the command, done/total exits with the percentage,
# a rate and the time left; the last thing written erases it.
line_ok() {	# FILE CMD TOTAL
    python3 - "$1" "$2" "$3" <<'PY'
import re, sys
b = open(sys.argv[1], "rb").read().decode()
pat = r"\rvcr %s: [0-9.]+[kM]?/%s exits[a-z ]* \([0-9]+%%\), [0-9.]+[kMG]? exits[a-z ]*/s, [0-9:]+ left\x1b\[K" % (
    sys.argv[2], re.escape(sys.argv[3]))
ok = re.search(pat, b) and b.endswith("\r\x1b[K")
if not ok:
    print("# got %r" % b[:300])
sys.exit(0 if ok else 1)
PY
}

$PTY pty "$T/dump.err" -- "$VCR" dump -o "$T/d.txt" "$T/a.vcr"
s=$?
line_ok "$T/dump.err" dump 200k
ok $(( s | $? )) "dump -o on a terminal: progress line, erased at the end"
$PTY pipe "$T/dump.pipe" -- "$VCR" dump -o "$T/d2.txt" "$T/a.vcr"
[ $? = 0 ] && [ ! -s "$T/dump.pipe" ]
ok $? "dump -o with stderr a pipe: nothing on stderr"
$PTY pty "$T/dump.q" -- "$VCR" dump -q -o "$T/d3.txt" "$T/a.vcr"
[ $? = 0 ] && [ ! -s "$T/dump.q" ] && cmp -s "$T/d.txt" "$T/d2.txt" && cmp -s "$T/d.txt" "$T/d3.txt"
ok $? "dump -q on a terminal: nothing on stderr; the three dumps are the same"
"$VCR" dump "$T/a.vcr" | cmp -s - "$T/d.txt"
ok $? "dump -o FILE writes what dump prints on stdout"
$PTY pty "$T/dump.range" -- "$VCR" dump --from 10000 --to 59999 -o "$T/d4.txt" "$T/a.vcr"
line_ok "$T/dump.range" dump 50.0k
ok $? "dump --from/--to: the total is the exits of the range"

$PTY pty "$T/diff.err" -- "$VCR" diff "$T/a.vcr" "$T/b.vcr"
s=$?
# Two vCPUs, each a pass over both traces: (200000 + 200000) * 2.
line_ok "$T/diff.err" diff 800k
ok $(( (s != 1) | $? )) "diff on a terminal: progress line (status 1: they differ)"
$PTY pipe "$T/diff.pipe" -- "$VCR" diff "$T/a.vcr" "$T/b.vcr"
[ $? = 1 ] && [ ! -s "$T/diff.pipe" ]
ok $? "diff with stderr a pipe: nothing on stderr"
$PTY pty "$T/diff.q" -- "$VCR" diff --quiet "$T/a.vcr" "$T/b.vcr"
[ $? = 1 ] && [ ! -s "$T/diff.q" ]
ok $? "diff --quiet on a terminal: nothing on stderr"

$PTY pty "$T/tl.err" -- "$VCR" timeline -o "$T/t.svg" "$T/a.vcr"
s=$?
line_ok "$T/tl.err" timeline 200k
ok $(( s | $? )) "timeline on a terminal: progress line"
$PTY pipe "$T/tl.pipe" -- "$VCR" timeline -o "$T/t2.svg" "$T/a.vcr"
[ $? = 0 ] && [ ! -s "$T/tl.pipe" ] && cmp -s "$T/t.svg" "$T/t2.svg"
ok $? "timeline with stderr a pipe: nothing on stderr, the same picture"
$PTY pty "$T/tl.q" -- "$VCR" timeline -q -o "$T/t3.svg" "$T/a.vcr" "$T/b.vcr"
[ $? = 0 ] && [ ! -s "$T/tl.q" ]
ok $? "timeline -q A B on a terminal: nothing on stderr"
$PTY pty "$T/tl2.err" -- "$VCR" timeline -o "$T/t4.svg" "$T/a.vcr" "$T/b.vcr"
grep -q "exits compared" "$T/tl2.err" && line_ok "$T/tl2.err" timeline 400k
ok $? "timeline A B on a terminal: progress of the reading, then of the comparison"
