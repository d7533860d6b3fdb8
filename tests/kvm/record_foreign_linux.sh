#!/bin/bash
# record_foreign_linux: `vcr record -- qemu-system-x86_64 -accel kvm -smp 2`
# booting Debian's kernel (~/.cache/vcr/kernel/vmlinuz, scripts/deps.sh) with
# the busybox initramfs (tests/linux/init.sh, vcr.cmd=nproc), one boot, ended
# by /init's `reboot -f` (QEMU -no-reboot then exits 0):
#   - the console: /init's markers, nproc prints 2, the kernel's reboot line,
#     no panic;
#   - vcr exits with QEMU's status (0) and the END says vmm_exit 0;
#   - the trace is complete after QEMU exits (stats: complete, no damaged
#     chunk; dump --json reads to the END, which is the last record; a
#     cursor seek to every exit through tools/cursor_probe);
#   - per-vCPU streams: stats has exits of vCPUs 0 and 1, both in the 2 vCPU
#     header; each vCPU's exit indices run 0..n-1 in dump --json, `dump
#     --vcpu V` gives exactly that vCPU's exits, both vCPUs exit from the
#     kernel's high half (the AP ran Linux, not only the BIOS's wait loop),
#     and their vcr.vcpu markers name two distinct QEMU threads.
# QEMU's own exit status on other paths (a guest's debug-exit code, SIGKILL)
# is record_foreign.sh's. Skipped, with the reason, where QEMU cannot use
# /dev/kvm (probed with mbcalc32, which is quick) and on PVM, where this
# kernel does not boot (not under QEMU either).
set -u
ROOT=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${VCR_BUILD:-$ROOT/build}
VCR=${VCR:-$BUILD/vcr}
cache=${VCR_CACHE:-$HOME/.cache/vcr}
kernel=${VCR_LINUX_KERNEL:-$cache/kernel/vmlinuz}
initrd=$BUILD/tests/linux/initramfs.cpio.gz
limit=${VCR_LINUX_TIMEOUT:-480}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

QEMU=$(command -v qemu-system-x86_64)
if [ -z "$QEMU" ]; then
	echo "1..0 # SKIP qemu-system-x86_64 not installed"
	exit 0
fi
for f in "$kernel" "$initrd" "$BUILD/tests/guests/mbcalc32.bin"; do
	[ -r "$f" ] || { echo "1..1"; echo "not ok 1 - $f missing (scripts/deps.sh fetches the kernel, make builds the rest)"; exit 1; }
done
# PVM (kvm_pvm) runs QEMU's BIOS and mbcalc32, but this kernel spins in its
# decompressor there, under QEMU as under vcr's own VMM (tests/linux/
# boot_parts.sh asserts vcr's no-progress message on PVM): no boot to test.
if [ -d /sys/module/kvm_pvm ] || [ "${VCR_KVM_FLAVOUR:-}" = direct-kvm_pvm ]; then
	echo "1..0 # SKIP kvm_pvm: Debian's kernel does not boot on this KVM (it spins in its decompressor, under QEMU too)"
	exit 0
fi

# Can QEMU use this KVM at all? A failure here is the host's (PVM refuses
# QEMU's MSR setup), not vcr's: skip, saying why.
timeout 60 "$QEMU" -accel kvm -nographic -no-reboot -nodefaults -m 32 \
	-device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$BUILD/tests/guests/mbcalc32.bin" \
	> "$T/probe.out" 2>&1 < /dev/null
s=$?
if [ "$s" != $(( (0x34 << 1) | 1 )) ]; then
	echo "1..0 # SKIP QEMU cannot run a guest with -accel kvm here (status $s: $(head -c 200 "$T/probe.out" | tr '\n' ' '))"
	exit 0
fi

echo "1..12"
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
# The console without \r and terminal escapes (SeaBIOS clears the screen
# with ESC c ESC [?7l ESC [2J, twice, with no newline after the second).
console() { tr -d '\r' < "$T/q.out" | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1bc//g'; }
has() { console | grep -Eq "$1"; }

# quiet and loglevel: the console costs exits (one per byte) and time.
t0=$(date +%s)
timeout "$limit" "$VCR" record -o "$T/q.vcr" -- "$QEMU" -accel kvm -nographic -no-reboot \
	-nodefaults -serial stdio -smp 2 -m 256 -kernel "$kernel" -initrd "$initrd" \
	-append "console=ttyS0 quiet loglevel=3 panic=-1 vcr.cmd=nproc" \
	> "$T/q.out" 2> "$T/q.err" < /dev/null
s=$?
echo "# vcr record -- qemu -smp 2 (Linux): status $s after $(( $(date +%s) - t0 )) s"
[ "$s" = 0 ] || { sed 's/^/# err: /' "$T/q.err" | tail -8; console | sed 's/^/# out: /' | tail -15; }

has '^VCR-LINUX-INIT up=[0-9.]+ cpus=2'
ok $? "the kernel boots under vcr record -- qemu -smp 2 to /init, which sees 2 CPUs"
console | sed -n '/^VCR-LINUX-CMD-BEGIN/,/^VCR-LINUX-CMD-END/p' | grep -qx 2 &&
	has '^VCR-LINUX-CMD-END status=0'
ok $? "nproc in the guest prints 2"
# The kernel's own line (printed synchronously) proves the reboot; /init's
# END line just before `reboot -f` sits in the tty's buffer and can be lost
# to the reset on a loaded host (tests/linux/init.sh), so it is only shown.
has 'reboot: Restarting system' && ! has 'Kernel panic'
ok $? "the guest reboots (the kernel's 'reboot: Restarting system'), no panic on the console (/init's END line: $(console | grep -c '^VCR-LINUX-END how=reboot'))"

"$VCR" stats "$T/q.vcr" > "$T/stats" 2>&1
st=$?
[ "$s" = 0 ] && [ "$st" = 0 ] && grep -q "^ended *vmm_exit, status 0 " "$T/stats"
ok $? "vcr exits with QEMU's status ($s, want 0: -no-reboot) and the END says vmm_exit 0 ($(grep '^ended' "$T/stats"))"
grep -q "^complete *yes$" "$T/stats"
ok $? "the trace is complete after QEMU exits ($(grep '^complete' "$T/stats"))"
grep -q "vmm=foreign" "$T/stats" && grep -Eq "^guest .*, 2 vCPUs, " "$T/stats"
ok $? "its header: a foreign VMM with 2 vCPUs ($(grep '^guest' "$T/stats" | cut -c1-100))"
sed -n '/^exits by vCPU/,/^[a-z]/p' "$T/stats" > "$T/byvcpu"
grep -Eq "^  0 +[1-9][0-9]* " "$T/byvcpu" && grep -Eq "^  1 +[1-9][0-9]* " "$T/byvcpu"
ok $? "stats: exits of vCPU 0 and of vCPU 1 ($(grep '^  [01] ' "$T/byvcpu" | tr -s ' ' | tr '\n' ';'))"
nexits=$(sed -n 's/^records .*exits \([0-9]*\).*/\1/p' "$T/stats")
echo "# $nexits exits; $(grep '^size' "$T/stats" | cut -c1-120)"

"$VCR" dump --json "$T/q.vcr" > "$T/d.jsonl" 2> "$T/d.err"
dst=$?
for v in 0 1; do "$VCR" dump --json --vcpu $v "$T/q.vcr" > "$T/d$v.jsonl" 2>> "$T/d.err"; done
got=$(python3 - "$T/d.jsonl" "$T/d0.jsonl" "$T/d1.jsonl" "${nexits:-0}" "$T/dump.check" <<'PY'
import json, re, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
exits = [r for r in recs if r["type"] == "exit"]
bad = []
if len(exits) != int(sys.argv[4]):
    bad.append("end %d exits, stats says %s" % (len(exits), sys.argv[4]))
if not recs or recs[-1]["type"] != "end":
    bad.append("end last record %s, not the end" % (recs[-1]["type"] if recs else None))
per = {}
for r in exits:
    per.setdefault(r["vcpu"], []).append(r)
streams = []
for v in (0, 1):
    mine = per.get(v, [])
    idx = [r["vcpu_exit"] for r in mine]
    if idx != list(range(len(idx))):
        bad.append("stream vCPU %d: exit indices not 0..%d" % (v, len(idx) - 1))
    only = [json.loads(l) for l in open(sys.argv[2 + v])]
    only = [r for r in only if r["type"] == "exit"]
    if [r["seq"] for r in only] != [r["seq"] for r in mine]:
        bad.append("stream dump --vcpu %d: %d exits, want %d" % (v, len(only), len(mine)))
    hi = sum(1 for r in mine if int(r["rip"], 16) >= 0xffffffff80000000)
    if not hi:
        bad.append("kernel vCPU %d: no exit in the kernel's high half" % v)
    streams.append("vCPU %d: %d exits, %d in the kernel" % (v, len(mine), hi))
if sorted(per) != [0, 1]:
    bad.append("stream exits of vCPUs %s" % sorted(per))
tids = {}
for r in recs:
    if r["type"] == "marker":
        m = re.search(r"vcr\.vcpu index=(\d+) id=\d+ tid=(\d+)", json.dumps(r))
        if m:
            tids[int(m.group(1))] = int(m.group(2))
if sorted(tids) != [0, 1] or len(set(tids.values())) != 2:
    bad.append("markers vcr.vcpu markers: %s" % tids)
with open(sys.argv[5], "w") as f:
    f.write("\n".join(bad))
print("; ".join(streams + ["threads %s" % tids]))
PY
)
echo "# $got"
why() { sed -n "s/^$1 //p" "$T/dump.check" | head -3 | tr '\n' ';' | sed 's/^./: &/'; }
[ "$dst" = 0 ] && ! grep -q "^end " "$T/dump.check"
ok $? "dump --json reads every record (status $dst), its exits are stats' and the END is the last record$(why end)"
! grep -q "^stream " "$T/dump.check"
ok $? "per-vCPU streams: exits of vCPUs 0 and 1 only, each numbered 0..n-1, dump --vcpu V gives exactly them$(why stream)"
! grep -q "^kernel " "$T/dump.check"
ok $? "both vCPUs exit from the kernel's high half (the AP ran Linux)$(why kernel)"
! grep -q "^markers " "$T/dump.check"
ok $? "the vcr.vcpu markers name vCPUs 0 and 1 on two distinct QEMU threads$(why markers)"
"$BUILD/tools/cursor_probe" "$T/q.vcr" > "$T/cursor" 2> "$T/cursor.err"
cst=$?
[ "$cst" = 0 ] && [ "$(wc -l < "$T/cursor")" = "${nexits:-x}" ]
ok $? "every chunk readable: a cursor seek to every exit (cursor_probe: $(wc -l < "$T/cursor") of $nexits, status $cst)"
