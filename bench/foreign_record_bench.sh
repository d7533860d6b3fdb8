#!/bin/bash
# foreign_record_bench.sh: QEMU's slowdown under `vcr record` (goal <= 1.03
# with the preload backend; the seccomp one, two ptrace stops per KVM_RUN,
# is reported beside it).
#
# The guest is exit-heavy: a multiboot kernel this script writes itself (32
# bytes of header, 19 of code) that does N `out %al, $0xf1` (an unassigned
# port: one KVM_RUN round trip through QEMU each), then exits through
# isa-debug-exit; N is FOREIGN_BENCH_EXITS (default 1,000,000) for the
# preload pairs, FOREIGN_BENCH_SECCOMP_EXITS (default 100,000) for the
# seccomp ones, whose ptrace stops cost far more per exit than the effect
# the preload figure looks for. SeaBIOS and the multiboot ROM add ~1,500
# exits and QEMU's start-up a fixed time (seconds on PVM), both in the
# figure (wall time, as a user sees it); the time added per guest exit
# (the median of the pairs' differences over N) is printed beside it.
#
# Machine load moves QEMU's own time by more than the effect measured, so
# the runs are pairs, plain and recorded back to back, in alternating order
# (plain first in odd rounds, recorded first in even ones), a preload pair
# and a seccomp pair per round; each pair gives a ratio, and the figure is
# the median of the FOREIGN_BENCH_ROUNDS ratios, printed with their spread
# (min, quartiles, max) and the load average before and after. A round
# whose runs did not all end with the guest's status is an error.
set -euo pipefail
build=${VCR_BUILD:-build}
rounds=${FOREIGN_BENCH_ROUNDS:-9}
exits=${FOREIGN_BENCH_EXITS:-1000000}
sexits=${FOREIGN_BENCH_SECCOMP_EXITS:-100000}
qemu=$(command -v qemu-system-x86_64 || true)
if [ -z "$qemu" ] || [ ! -w /dev/kvm ]; then
    echo "# foreign_record_slowdown: not measured (needs qemu-system-x86_64 and /dev/kvm)"
    exit 0
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/mk.py" <<'PY'
import struct, sys
n = int(sys.argv[2])
base, magic, flags = 0x100000, 0x1BADB002, 0x00010000   # a.out kludge: addresses below
code = (bytes([0xFA, 0xB9]) + struct.pack("<I", n) +    # cli; mov $n, %ecx
        bytes([0xE6, 0xF1,                              # 1: out %al, $0xf1
               0x49, 0x75, 0xFB,                        # dec %ecx; jnz 1b
               0xB0, 0x34, 0xE6, 0xF4,                  # mov $0x34, %al; out %al, $0xf4
               0xF4, 0xEB, 0xFD]))                      # hlt; jmp .-1
hdr = struct.pack("<8I", magic, flags, -(magic + flags) & 0xffffffff, base, base,
                  base + 32 + len(code), 0, base + 32)
open(sys.argv[1], "wb").write(hdr + code)
PY
python3 "$dir/mk.py" "$dir/preload.bin" "$exits"
python3 "$dir/mk.py" "$dir/seccomp.bin" "$sexits"
q=("$qemu" -accel kvm -nographic -no-reboot -nodefaults -serial stdio -m 32
   -device isa-debug-exit,iobase=0xf4,iosize=4 -kernel)
want=$(( (0x34 << 1) | 1 ))
now() { date +%s.%N; }
# run KIND GUEST: one run, its wall time on stdout; its status must be the
# guest's.
run() {
    local t0 t1 s=0
    t0=$(now)
    case $1 in
        plain) "${q[@]}" "$2" > /dev/null 2> "$dir/err" < /dev/null || s=$? ;;
        *) "$build/vcr" record --backend "$1" -o "$dir/t.vcr" -- "${q[@]}" "$2" \
               > /dev/null 2> "$dir/err" < /dev/null || s=$? ;;
    esac
    t1=$(now)
    if [ "$s" != "$want" ]; then
        echo "foreign_record_bench: $1 run: status $s, want $want: $(tail -c 300 "$dir/err")" >&2
        exit 1
    fi
    echo "$t0 $t1" | awk '{ printf "%.4f\n", $2 - $1 }'
}
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for i in $(seq "$rounds"); do
    for be in preload seccomp; do
        if [ $((i % 2)) = 1 ]; then
            p=$(run plain "$dir/$be.bin"); r=$(run "$be" "$dir/$be.bin")
        else
            r=$(run "$be" "$dir/$be.bin"); p=$(run plain "$dir/$be.bin")
        fi
        echo "$be $p $r" >> "$dir/times"
    done
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)
python3 - "$dir/times" "$rounds" "$exits" "$sexits" "$load0" "$load1" <<'PY'
import statistics, sys
pairs = {"preload": [], "seccomp": []}
for line in open(sys.argv[1]):
    be, p, r = line.split()
    pairs[be].append((float(p), float(r)))
def quart(x):
    x = sorted(x)
    q = statistics.quantiles(x, n=4, method="inclusive") if len(x) > 1 else [x[0]] * 3
    return "min %.3f q1 %.3f median %.3f q3 %.3f max %.3f" % (x[0], q[0], q[1], q[2], x[-1])
print("# %s rounds of alternating pairs; load %s before, %s after"
      % (sys.argv[2], sys.argv[5], sys.argv[6]))
for be, name, n in (("preload", "foreign_record_slowdown", int(sys.argv[3])),
                    ("seccomp", "foreign_record_slowdown_seccomp", int(sys.argv[4]))):
    ps = [p for p, _ in pairs[be]]
    rs = [r for _, r in pairs[be]]
    ratios = [r / p for p, r in pairs[be]]
    print("# %s: plain %s s" % (be, quart(ps)))
    print("# %s: recorded %s s" % (be, quart(rs)))
    print("# %s: ratios %s" % (be, quart(ratios)))
    print("# %s: %d guest exits a run, %.2f us added per exit (median of the pairs)"
          % (be, n, statistics.median(r - p for p, r in pairs[be]) / n * 1e6))
    print("%s %.3f x" % (name, statistics.median(ratios)))
PY
