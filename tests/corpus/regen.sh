#!/bin/bash
# Re-record the committed corpus of real traces (used by benches and tests
# that want real register streams) with the current vcr and trace format.
# Runs the guests on KVM through the nested harness.
# Usage: tests/corpus/regen.sh [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}
cd "$root"
vcr=$root/$build/vcr
g=$root/$build/tests/guests
out=$root/tests/corpus
cat > "$out/.batch" <<EOB
$vcr run --no-stdin --record $out/count64.vcr $g/count64.elf > /dev/null; test \$? = 64
$vcr run --no-stdin --record $out/crash64.vcr $g/crash64.elf > /dev/null; test \$? = 3
$vcr run --no-stdin -c 2 --record $out/smp64.vcr $g/smp64.elf > /dev/null; test \$? = 82
$vcr run --no-stdin --record $out/hello16.vcr $g/hello16.bin > /dev/null; test \$? = 0
EOB
res=$(mktemp -d)
trap 'rm -rf "$res" "$out/.batch"' EXIT
tests/nested/kvm-run --batch "$out/.batch" --results "$res"
for f in "$res"/*.status; do
    [ "$(cat "$f")" = 0 ] || { echo "regen: command $(basename "$f" .status) failed" >&2; cat "${f%.status}.err" >&2; exit 1; }
done
for t in "$out"/*.vcr; do "$vcr" stats "$t" | grep -E '^(ended|complete)' | sed "s|^|$(basename "$t"): |"; done
