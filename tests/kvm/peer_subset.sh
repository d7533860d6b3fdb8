#!/bin/bash
# tests/kvm/peer_subset.sh: the CI subset of kvm-unit-tests on this KVM (the
# batch's: nested kvm_amd in L1, or the machine's own), vcr beside QEMU
# (tests/peer/kvm-unit-tests.sh --here --subset ci; docs/testing.md, "A
# peer's test suite"). The suite is built on the host beforehand (make
# peer-suite, which make check runs): building it in L1 would be slow. The
# side-by-side table is printed as TAP comments; one point per test of the
# subset and one for the runner's status, which fails when a vcr PASS is not
# a PASS when recorded, a trace cannot be replayed, or a runnable test QEMU
# passes does not pass under vcr.
set -u
root=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${VCR_BUILD:-$root/build}
tarball=$root/../shared/peers/kvm-unit-tests-1da1819e.tar.gz
[ -f "$tarball" ] || tarball=/work/shared/peers/kvm-unit-tests-1da1819e.tar.gz
if [ ! -f "$tarball" ]; then echo "1..0 # SKIP no kvm-unit-tests tarball"; exit 0; fi
if [ ! -f "$build/peer/kvm-unit-tests/x86/dummy.flat" ]; then
    echo "1..1"
    echo "not ok 1 - kvm-unit-tests is not built in $build/peer (make peer-suite)"
    exit 1
fi
# A work folder of its own (the batches of both flavours run at once):
# the built suite linked in, its stamp copied, the environment file and the
# results written here.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ln -s "$build/peer/kvm-unit-tests" "$work/kvm-unit-tests"
cp "$build/peer"/.built-* "$work/" 2>/dev/null
# On PVM, ioapic and hypercall hang under QEMU and vcr alike (40 s each,
# twice): that flavour runs the subset without them, realmode in their
# place (it passes there).
sel=(--subset ci)
case ${VCR_KVM_FLAVOUR:-} in
*kvm_pvm) sel=(--subset ci vmexit_cpuid smptest realmode vmx hyperv_synic) ;;
esac
out=$(KUT_TARBALL=$tarball "$root/tests/peer/kvm-unit-tests.sh" --build "$build" --here \
      "${sel[@]}" --timeout 40 --work "$work" 2>&1)
st=$?
sed 's/^/# /' <<<"$out"
# One point per test row of the table: the test's own verdicts, and what the
# runner judged wrong with it (the (!rec) and (!ci) marks).
rows=$(awk '/^TEST /{t=1; next} t && NF == 0 {exit} t' <<<"$out")
n=0 failed=0
echo "1..$(( $(grep -c . <<<"$rows") + 1 ))"
while read -r name _ q v rest; do
    [ -n "$name" ] || continue
    n=$((n + 1))
    case "$v$rest" in
    *'(!rec)'*|*'(!ci)'*|*"could not replay"*|*"no trace"*|*"not run"*)
        failed=$((failed + 1)); echo "not ok $n - $name: QEMU $q, vcr $v $rest" ;;
    *) echo "ok $n - $name: QEMU $q, vcr $v" ;;
    esac
done <<<"$rows"
n=$((n + 1))
if [ "$st" = 0 ]; then echo "ok $n - the runner's verdict on the subset (status 0)"
else failed=$((failed + 1)); echo "not ok $n - the runner's verdict on the subset (status $st)"; fi
[ "$failed" = 0 ]
