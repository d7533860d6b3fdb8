#!/bin/bash
# peer_verdict: the peer runner's verdicts (tests/peer/verdict.inc) from a
# run's exit status and stderr, with the lines vcr and QEMU's ./x86/run
# really print (taken from nested runs of the suite): the guest's
# isa-debug-exit codes and vcr's own statuses overlap, and vcr's stderr
# must tell them apart.
set -u
root=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$root/tests/peer/verdict.inc"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0
# v DESC WANT STATUS [STDERR_LINE...]
v() {
    local desc=$1 want=$2 st=$3 got; shift 3
    : >"$tmp/err"
    for l in "$@"; do printf '%s\n' "$l" >>"$tmp/err"; done
    got=$(vcr_verdict "$st" "$tmp/err")
    n=$((n + 1))
    if [ "$got" = "$want" ]; then echo "ok $n - $desc: $want"
    else failed=$((failed + 1)); echo "not ok $n - $desc: got $got, want $want"; fi
}
wd='vcr: no progress seen: no exit for 30 s and the guest is not halted (vcpu 0 running at rip=0x400222 (the same rip at every probe)): it runs without any I/O vcr can see; if it stays so it spins (a kernel that cannot run on this host'"'"'s KVM does); SIGINT ends the run'
echo "1..11"
v "status 1, nothing on stderr (the test's exit code 0)" PASS 1
v "status 1 with the watchdog's 'no progress seen' notes (sieve)" PASS 1 "$wd" "$wd"
v "status 1 and vcr saying why it could not run" "ERROR(1)" 1 \
    "vcr: run: --cpuid hv-passthrough: this KVM does not emulate Hyper-V (no KVM_CAP_SYS_HYPERV_CPUID; a PVM /dev/kvm, or a kernel without CONFIG_KVM_HYPERV)"
v "status 1 with a watchdog note, then vcr's own failure" "ERROR(1)" 1 "$wd" "vcr: run: KVM_RUN on vcpu 0 failed: Bad address"
v "status 3, a triple fault vcr ended" CRASH 3 \
    "vcr: run: triple fault (KVM_EXIT_SHUTDOWN) on vcpu 0 at rip=0x4040f5 cs=0x8 cr0=0x80000011 (exit #600) (shutdown, exit status 3; 601 exits, 0 unknown I/O accesses)"
v "status 3 without vcr's end line (the test's FAIL: (1 << 1) | 1)" FAIL 3
v "status 77 (report_summary's SKIP)" SKIP 77
v "status 124 (timeout)" TIMEOUT 124 \
    "vcr: run: stopped by TERM (signal, exit status 143; 3042 exits, 0 unknown I/O accesses)"
v "status 0 (stopped without the exit port)" NOEXIT 0
n=$((n + 1))
if [ "$(qemu_verdict 0)" = PASS ] && [ "$(qemu_verdict 77)" = SKIP ] && [ "$(qemu_verdict 1)" = FAIL ]; then
    echo "ok $n - ./x86/run's 0, 77, 1: PASS, SKIP, FAIL"
else failed=$((failed + 1)); echo "not ok $n - ./x86/run's 0, 77, 1"; fi
n=$((n + 1))
if [ "$(qemu_verdict 124)" = TIMEOUT ] && [ "$(qemu_verdict 134)" = ABORT ]; then
    echo "ok $n - ./x86/run's 124, 134: TIMEOUT, ABORT"
else failed=$((failed + 1)); echo "not ok $n - ./x86/run's 124, 134"; fi
[ "$failed" = 0 ]
