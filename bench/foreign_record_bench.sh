#!/bin/bash
# foreign_record_bench.sh: QEMU's slowdown under `vcr record` (goal <= 1.03
# with the preload backend; the seccomp one, two ptrace stops per KVM_RUN,
# is reported beside it): qemu-system-x86_64 -accel kvm runs
# tests/guests/mbcalc32.bin (SeaBIOS, the multiboot ROM, the guest: ~1,500
# exits) FOREIGN_BENCH_ROUNDS times plain, under vcr record and under vcr
# record --backend seccomp, in turn within each round so that machine load
# hits all three alike; the results are the ratios of the medians of the
# wall times (QEMU start-up included, as a user sees it).
set -euo pipefail
build=${VCR_BUILD:-build}
rounds=${FOREIGN_BENCH_ROUNDS:-5}
qemu=$(command -v qemu-system-x86_64 || true)
if [ -z "$qemu" ] || [ ! -w /dev/kvm ]; then
    echo "# foreign_record_slowdown: not measured (needs qemu-system-x86_64 and /dev/kvm)"
    exit 0
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
q=("$qemu" -accel kvm -nographic -no-reboot -nodefaults -serial stdio -m 32
   -device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$build/tests/guests/mbcalc32.bin")
now() { date +%s.%N; }
for i in $(seq "$rounds"); do
    t0=$(now); "${q[@]}" > /dev/null 2>&1 < /dev/null || true; t1=$(now)
    "$build/vcr" record -o "$dir/t.vcr" -- "${q[@]}" > /dev/null 2>&1 < /dev/null || true; t2=$(now)
    "$build/vcr" record --backend seccomp -o "$dir/s.vcr" -- "${q[@]}" > /dev/null 2>&1 \
        < /dev/null || true; t3=$(now)
    echo "$t0 $t1 $t2 $t3" >> "$dir/times"
done
python3 - "$dir/times" <<'PY'
import statistics, sys
plain, rec, sec = [], [], []
for line in open(sys.argv[1]):
    t0, t1, t2, t3 = map(float, line.split())
    plain.append(t1 - t0); rec.append(t2 - t1); sec.append(t3 - t2)
p, r, s = statistics.median(plain), statistics.median(rec), statistics.median(sec)
print("foreign_record_plain_s %.3f s" % p)
print("foreign_record_vcr_s %.3f s" % r)
print("foreign_record_seccomp_s %.3f s" % s)
print("foreign_record_slowdown %.3f x" % (r / p))
print("foreign_record_slowdown_seccomp %.3f x" % (s / p))
PY
