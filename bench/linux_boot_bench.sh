#!/bin/bash
# linux_boot_bench.sh: Debian's kernel with the busybox initramfs
# (tests/linux/init.sh), boot time to /init's marker (VCR-LINUX-INIT) under
# `vcr run`, `vcr run --record` and `qemu-system-x86_64 -accel kvm` (same
# kernel, initrd, command line and memory, -nographic), LINUX_BENCH_ROUNDS
# rounds (default 2), the three alternating within a round so that machine
# load hits them alike; medians. Also, from the last recording: trace bytes
# per exit and exits per boot by reason.
#
# On a host whose /dev/kvm is not kvm_intel/kvm_amd (PVM: this kernel spins
# in its decompressor there, and QEMU cannot boot it: "failed to set MSR
# 0x10a") the bench runs nested, through tests/nested/kvm-run (L1 under
# QEMU TCG, kvm_amd): the figures are then those of nested KVM, and the
# output says so.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${VCR_BUILD:-$root/build}" && pwd)
cache=${VCR_CACHE:-$HOME/.cache/vcr}
kernel=${VCR_LINUX_KERNEL:-$cache/kernel/vmlinuz}
initrd=$build/tests/linux/initramfs.cpio.gz
module=
for m in kvm_intel kvm_amd kvm_pvm; do
    [ -d /sys/module/$m ] && [ -e /dev/kvm ] && { module=$m; break; }
done

if [ ! -r "$kernel" ] || [ ! -r "$initrd" ]; then
    echo "# linux_boot: not measured ($kernel or $initrd missing)"
    exit 0
fi
if [ -z "${LINUX_BENCH_IN_L1:-}" ]; then
    case "$module" in
    kvm_intel|kvm_amd) ;;
    *)
        echo "# linux_boot: /dev/kvm here is ${module:-missing}, where this kernel does not boot;"
        echo "# measuring nested instead (tests/nested/kvm-run: kvm_amd in L1 under QEMU TCG, L1 with ${LINUX_BENCH_L1_SMP:-2} CPUs: the VMM's threads get one beside the guest's, as on a real host)"
        exec "$root/tests/nested/kvm-run" --nested --smp "${LINUX_BENCH_L1_SMP:-2}" --boot-timeout 300 --timeout 1800 -- \
            env LINUX_BENCH_IN_L1=nested-kvm_amd VCR_BUILD="$build" bash "$0"
        ;;
    esac
fi
where=${LINUX_BENCH_IN_L1:-direct-$module}
echo "# linux_boot: KVM is $where ($(uname -r))"
python3 - "$build" "$kernel" "$initrd" "${LINUX_BENCH_ROUNDS:-2}" "$where" <<'PY'
import os, re, statistics, subprocess, sys, tempfile, time
build, kernel, initrd, rounds, where = sys.argv[1:6]
rounds = int(rounds)
vcr = os.path.join(build, "vcr")
extra = "quiet vcr.end=reboot"
cmdline = "console=ttyS0 reboot=k panic=-1 pci=off acpi=off nokaslr no_timer_check " + extra
tmp = tempfile.mkdtemp()
trace = os.path.join(tmp, "t.vcr")
trace_nockpt = os.path.join(tmp, "n.vcr")
base = ["-m", "256M", "--no-stdin", "--kernel", kernel, "--initrd", initrd, "--cmdline", extra]
runs = {
    "vcr": [vcr, "run"] + base,
    "record": [vcr, "run", "--record", trace] + base,
    # The same without memory checkpoints: what the dirty log and the
    # checkpoints cost, apart from the exits' recording.
    "record_nockpt": [vcr, "run", "--record", trace_nockpt, "--mem-checkpoints", "off"] + base,
    "qemu": ["qemu-system-x86_64", "-accel", "kvm", "-nographic", "-no-reboot", "-m", "256",
             "-kernel", kernel, "-initrd", initrd, "-append", cmdline],
}
MARK = b"VCR-LINUX-INIT"

def boot(argv):
    """Seconds from start to the marker line on stdout, or None (and why)."""
    for k, f in (("record", trace), ("record_nockpt", trace_nockpt)):
        if os.path.exists(f) and argv is runs[k]:
            os.unlink(f)
    t0 = time.monotonic()
    try:
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL)
    except OSError as e:
        return None, str(e)
    t = None
    for line in p.stdout:
        if t is None and MARK in line:
            t = time.monotonic() - t0
    try:
        p.wait(timeout=600)
    except subprocess.TimeoutExpired:
        p.kill()
    err = p.stderr.read().decode(errors="replace").strip().splitlines()
    return t, (err[-1] if err else "exit status %d" % p.returncode)

times = {k: [] for k in runs}
why = {}
for r in range(rounds):
    for k, argv in runs.items():
        if k == "qemu" and k in why:
            continue
        t, msg = boot(argv)
        if t is None:
            why[k] = msg
        else:
            times[k].append(t)
        print("# round %d %s: %s" % (r + 1, k, "%.2f s" % t if t is not None else "no marker: " + msg))
med = {k: statistics.median(v) for k, v in times.items() if v}
if "vcr" in med:
    print("linux_boot_s %.2f s" % med["vcr"])
if "record" in med:
    print("linux_boot_record_s %.2f s" % med["record"])
if "qemu" in med:
    print("linux_boot_qemu_s %.2f s" % med["qemu"])
else:
    print("# linux_boot_qemu_s: not measured: QEMU did not reach the marker (%s)" % why.get("qemu", "?"))
if "vcr" in med and "record" in med:
    print("linux_record_slowdown %.3f x" % (med["record"] / med["vcr"]))
if "vcr" in med and "record_nockpt" in med:
    print("linux_boot_record_nockpt_s %.2f s" % med["record_nockpt"])
    print("linux_record_nockpt_slowdown %.3f x (--mem-checkpoints off)" %
          (med["record_nockpt"] / med["vcr"]))
if "vcr" in med and "qemu" in med:
    print("# vcr / QEMU boot time: %.2f (goal <= 1)" % (med["vcr"] / med["qemu"]))
def trace_stats(path):
    """vcr stats of a trace: (text, exits, total, header, chunk bytes), or None."""
    if not os.path.exists(path):
        return None
    st = subprocess.run([vcr, "stats", path], capture_output=True, text=True).stdout
    m = re.search(r"^records\s+\d+, exits (\d+)", st, re.M)
    size = re.search(r"^size\s+(\d+) bytes: header (\d+), (\d+) in", st, re.M)
    xs = re.search(r"^exit stream\s+([0-9.]+) bytes per exit: (\d+) bytes in (\d+) chunks?"
                   r" without memory records, (\d+) exits", st, re.M)
    if not (m and size and xs):
        return None
    return (st, int(m.group(1))) + tuple(map(int, size.groups())) + (xs.groups(),)

ts = trace_stats(trace)
if ts:
    st, exits, total, header, chunks, xs = ts
    mem = re.search(r"^  memory bytes\s+(\d+)", st, re.M)
    memb = int(mem.group(1)) if mem else 0
    print("linux_trace_bytes_per_exit %.1f bytes (the whole file / exits)" % (total / exits))
    print("# of which the header %d bytes, the loaded memory (kernel, initrd: %d bytes "
          "of memory records) and the checkpoints most" % (header, memb))
    print("linux_trace_exit_stream_bytes_per_exit %s bytes (%s bytes in %s chunks without "
          "memory records, %s exits: what recording the exits costs; goal <= 8)" % xs)
    print("linux_exits_per_boot %d exits" % exits)
    sec = re.search(r"^exits by reason\n((?:  .*\n)+)", st, re.M)
    for l in (sec.group(1).splitlines() if sec else []):
        f = l.split()
        print("linux_exits_per_boot_%s %s exits" % (f[0], f[1]))
ts = trace_stats(trace_nockpt)
if ts:
    _, exits, total, header, chunks, xs = ts
    print("linux_trace_nockpt_bytes_per_exit %.1f bytes (--mem-checkpoints off; "
          "without the header %.1f; exit stream %s)" % (total / exits, chunks / exits, xs[0]))
# The exit stream of a boot that prints its console (no `quiet`): about
# 10^5 exits, most of them the UART's, recorded once with the defaults.
loud = os.path.join(tmp, "loud.vcr")
p = subprocess.run([vcr, "run", "--record", loud, "-m", "256M", "--no-stdin", "--kernel", kernel,
                    "--initrd", initrd, "--cmdline", "vcr.end=reboot"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=1200)
ts = trace_stats(loud)
if ts:
    st, exits, total, header, chunks, xs = ts
    print("linux_loud_exits_per_boot %d exits (console printed, no quiet)" % exits)
    print("linux_loud_exit_stream_bytes_per_exit %s bytes (%s bytes in %s chunks without memory "
          "records, %s exits; goal <= 8)" % xs)
    print("linux_loud_trace_bytes_per_exit %.1f bytes (the whole file / exits)" % (total / exits))
else:
    print("# linux_loud: no trace (%s)" % p.stderr.decode(errors="replace").strip()[-200:])
print("# linux_boot measured on %s, %d rounds, medians" % (where, rounds))
PY
