#!/bin/bash
# peer_kvm_unit_tests: the CI subset of kvm-unit-tests under vcr and QEMU side
# by side (tests/peer/kvm-unit-tests.sh --subset ci; docs/testing.md, "A
# peer's test suite"), on this machine's /dev/kvm or in one nested boot. The
# side-by-side table is printed as TAP comments; the point fails when the
# runner's status does (the suite does not build, a vCPU pass does not stay
# one when recorded, a trace cannot be replayed, or a runnable test QEMU
# passes fails under vcr).
set -u
root=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${VCR_BUILD:-$root/build}
tarball=$root/../shared/peers/kvm-unit-tests-1da1819e.tar.gz
[ -f "$tarball" ] || tarball=/work/shared/peers/kvm-unit-tests-1da1819e.tar.gz
if [ ! -f "$tarball" ]; then echo "1..0 # SKIP no kvm-unit-tests tarball"; exit 0; fi
if [ ! -w /dev/kvm ] && ! command -v qemu-system-x86_64 >/dev/null; then
    echo "1..0 # SKIP no /dev/kvm and no QEMU for a nested boot"; exit 0
fi
echo "1..1"
out=$(KUT_TARBALL=$tarball "$root/tests/peer/kvm-unit-tests.sh" --build "$build" --subset ci \
      --timeout 30 2>&1)
st=$?
sed 's/^/# /' <<<"$out"
if [ "$st" = 0 ]; then echo "ok 1 - kvm-unit-tests CI subset, vcr beside QEMU"
else echo "not ok 1 - kvm-unit-tests CI subset, vcr beside QEMU (status $st)"; fi
