#!/bin/bash
# tests/kvm/replay_progress.sh: `vcr replay --verify/--resync` draws its
# progress line (cli/progress.h) when stderr is a terminal (a pty), not when
# it is a pipe, and not with --quiet. The trace: tests/guests/spin64
# recorded for 3 s and stopped by SIGINT: a replay that lasts about as long
# as the recording whatever the machine's speed (direct KVM: ~4*10^4 exits;
# nested under TCG, where starting the VM takes most of it: a few), long
# enough for the replay's ten-a-second progress reports.
set -u
root=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${VCR_BUILD:-$root/build}
vcr=${VCR:-$build/vcr}
pty="python3 $root/tests/host/progress_pty.py"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "1..5"
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }

timeout -s INT 3 "$vcr" run --record "$tmp/e.vcr" "$build/tests/guests/spin64.elf" </dev/null >/dev/null 2>&1
exits=$("$vcr" stats --json "$tmp/e.vcr" | python3 -c 'import json,sys; print(json.load(sys.stdin)["exits"])')
[ "${exits:-0}" -gt 0 ]
ok $? "record spin64 for 3 s: $exits exits"

has_line() {	# FILE MODE
    python3 - "$1" <<'PY'
import re, sys
b = open(sys.argv[1], "rb").read().decode()
ok = re.search(r"\rvcr replay: [0-9.]+[kM]?/[0-9.]+[kM]? exits \([0-9]+%\), [0-9.]+[kMG]? exits/s, "
               r"[0-9:]+ left\x1b\[K", b) and b.endswith("\r\x1b[K")
if not ok:
    print("# got %r" % b[:300])
sys.exit(0 if ok else 1)
PY
}

for mode in verify resync; do
    $pty pty "$tmp/$mode.err" -- "$vcr" replay --$mode "$tmp/e.vcr"
    s=$?
    has_line "$tmp/$mode.err"
    ok $(( (s > 1) | $? )) "replay --$mode on a terminal: progress line, erased at the end"
done
$pty pipe "$tmp/pipe.err" -- "$vcr" replay --verify "$tmp/e.vcr"
[ $? -lt 2 ] && [ ! -s "$tmp/pipe.err" ]
ok $? "replay --verify with stderr a pipe: nothing on stderr"
$pty pty "$tmp/q.err" -- "$vcr" replay --verify --quiet "$tmp/e.vcr"
[ $? -lt 2 ] && [ ! -s "$tmp/q.err" ]
ok $? "replay --verify --quiet on a terminal: nothing on stderr"
