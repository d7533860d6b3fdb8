#!/bin/bash
# make demo: record the sample guest on KVM (nested under QEMU when this
# machine has no /dev/kvm), then print the trace's summary with `vcr stats`.
# Usage: scripts/demo.sh [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
cd "$root"
vcr=$root/$build/vcr
guest=$root/$build/tests/guests/count64.elf
trace=$root/$build/demo.vcr
[ -x "$vcr" ] && [ -e "$guest" ] || { echo "demo: build first (make all)" >&2; exit 1; }

echo "== vcr run --record $build/demo.vcr $build/tests/guests/count64.elf (on KVM)"
set +e
tests/nested/kvm-run -- "$vcr" run -v --no-stdin --record "$trace" "$guest"
st=$?
set -e
# count64 ends by writing 0x40 (64) to the exit port when every MMIO read
# returned the device's value (tests/guests/guest.h).
if [ $st -ne 64 ]; then
    echo "demo: the recorded run failed (status $st)" >&2
    exit 1
fi
echo
echo "== vcr stats $build/demo.vcr"
"$vcr" stats "$trace"
echo
echo "== vcr dump --to 3 $build/demo.vcr (first exits)"
"$vcr" dump --to 3 "$trace"
