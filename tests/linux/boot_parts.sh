#!/bin/bash
# tests/linux/boot_parts.sh [PARTS]: Debian's own kernel (~/.cache/vcr/kernel/vmlinuz, a bzImage)
# on vcr's pc machine with the busybox initramfs (tests/linux/init.sh), in
# three boots (each a minute or so nested), every point of issue 11's list.
# One KVM test per boot, so that each gets tests/run's timeout:
# tests/kvm/linux_record.sh (A), linux_gdb.sh (B), linux_halt.sh (C).
#   A. -c 2 --record, vcr.cmd=nproc, vcr.end=panic: the console, the
#      markers, "2" from nproc (MP table, INIT/SIPI), the panic end (7) with
#      the panic lines in the trace (a console-tail note); then the trace:
#      stats, dump --json, a seek to every exit (tools/cursor_probe),
#      replay --verify (1 and the divergence named, bounded) and --resync
#   B. -c 2 --gdb, vcr.cmd=sleep 40 (so that the run outlasts the Ctrl-C
#      delay however fast the host boots), default end (reboot -f): gdb
#      without debug symbols, the kernel's exported symbols from
#      tests/linux/ksyms.py: Ctrl-C stops the running kernel, registers,
#      both vCPUs as threads, hbreak on schedule fires, $cr3, x/4i $pc
#      through the kernel's page tables, hbreak on kernel_restart (reboot -f
#      calls it) fires, continue: the reset end (0)
#   C. -c 2, vcr.cmd=halt -f: every vCPU halts with IF=0: the hlt end (0)
# On direct-kvm_pvm this kernel does not boot (it spins in its decompressor;
# QEMU fails there too: "failed to set MSR 0x10a"): one boot asserts that
# vcr says so (the watchdog's "no progress seen") instead of sitting silent
# (docs/testing.md, host differences). With the sanitizer build (build-san),
# part A only.
set -u
root=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${VCR_BUILD:-$root/build}
vcr=${VCR:-$build/vcr}
cache=${VCR_CACHE:-$HOME/.cache/vcr}
kernel=${VCR_LINUX_KERNEL:-$cache/kernel/vmlinuz}
vmlinux=${VCR_LINUX_VMLINUX:-$cache/kernel/vmlinux}
initrd=$build/tests/linux/initramfs.cpio.gz
flavour=${VCR_KVM_FLAVOUR:-unknown}
. "$root/tests/host/gdb_lib.inc"

if [ ! -e /dev/kvm ]; then
    if [ -n "${VCR_ALLOW_SKIP_KVM:-}" ]; then echo "1..0 # SKIP no /dev/kvm"; exit 0; fi
    echo "1..1"; echo "not ok 1 - /dev/kvm missing (run through tests/nested/kvm-run)"; exit 1
fi
for f in "$kernel" "$vmlinux" "$initrd"; do
    [ -r "$f" ] || { echo "1..1"; echo "not ok 1 - $f missing (scripts/deps.sh fetches the kernel, make builds the initramfs)"; exit 1; }
done
tmp=$(mktemp -d)
trap 'kill $GDB_SERVER_PID 2>/dev/null; rm -rf "$tmp"' EXIT
GDB_SERVER_PID=
limit=${VCR_LINUX_TIMEOUT:-400}
# PARTS: a subset of "a b c" (default all). The sanitizer build (CI runs
# the suite on both) boots once, part A: it drives most of vcr's code (the
# pc machine, recording, stats, dump, the cursor, replay) and keeps CI's
# nested time within its budget; B and C skip there.
parts=" ${1:-a b c} "
case $build in
    *-san) case "$parts" in *" a "*) parts=" a " ;; *) echo "1..0 # SKIP sanitizer build: part A (linux_record) boots this kernel there"; exit 0 ;; esac ;;
esac
part() { case "$parts" in *" $1 "*) return 0 ;; esac; return 1; }
# 256 MiB: enough for this kernel and initramfs, and L1 (1 GiB) keeps room.
common=(-m 256M --no-stdin --kernel "$kernel" --initrd "$initrd")

# boot NAME ARGS...: vcr run -v ... > NAME.out 2> NAME.err, NAME.st
boot() {
    local name=$1; shift
    local t0=$(date +%s)
    timeout "$limit" "$vcr" run -v "${common[@]}" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null
    echo $? >"$tmp/$name.st"
    echo "# $name: status $(cat "$tmp/$name.st") after $(( $(date +%s) - t0 )) s ($flavour;" \
         "$(grep -c 'no progress seen' "$tmp/$name.err") no-progress lines)"
}
show() { echo "# $1 stderr (tail):"; grep -v "unknown port" "$tmp/$1.err" | tail -6 | sed 's/^/#   /'
         echo "# $1 console (tail):"; tr -d '\r' <"$tmp/$1.out" | tail -10 | sed 's/^/#   /'; }
has() { tr -d '\r' <"$tmp/$1.out" | grep -Eq -- "$2"; }
st() { cat "$tmp/$1.st"; }

if [ "$flavour" = direct-kvm_pvm ]; then
    case "$parts" in
        *" a "*) ;;
        *) echo "1..0 # SKIP this kernel does not boot on PVM (linux_record asserts what vcr says there)"; exit 0 ;;
    esac
    echo "1..2"
    limit=45
    boot pvm
    tap_eq "$(st pvm)" 124 "PVM: the kernel does not boot here (no end before the timeout)"
    grep -q "no progress seen: no exit for [0-9]* s and the guest is not halted (vcpu 0 running at rip=" "$tmp/pvm.err"
    tap_ok $? "PVM: vcr says the guest makes no progress it can see"
    [ "$TAP_FAIL" = 0 ] || show pvm
    exit "$TAP_FAIL"
fi

plan=0
part a && plan=$((plan + 23)); part b && plan=$((plan + 14)); part c && plan=$((plan + 3))
echo "1..$plan"
part_a() {
# --- A: -c 2, recorded, nproc, panic -------------------------------------
trace=$tmp/a.vcr
boot a -c 2 --record "$trace" --cmdline "quiet vcr.cmd=nproc vcr.end=panic"
has a '^VCR-LINUX-INIT up=[0-9.]+ cpus=2'; tap_ok $? "A: /init starts and sees 2 CPUs"
tr -d '\r' <"$tmp/a.out" | sed -n '/^VCR-LINUX-CMD-BEGIN/,/^VCR-LINUX-CMD-END/p' | grep -qx 2
tap_ok $? "A: nproc prints 2"
has a '^VCR-LINUX-CMD-END status=0'; tap_ok $? "A: the command ends with status 0"
has a '^VCR-LINUX-END how=panic'; tap_ok $? "A: /init asks for the crash (sysrq c)"
has a 'Kernel panic - not syncing'; tap_ok $? "A: the panic is on the console"
tap_eq "$(st a)" 7 "A: vcr run exits 7 (panic)"
grep -q "guest kernel panic.*Kernel panic - not syncing.*(panic, exit status 7" "$tmp/a.err"
tap_ok $? "A: the end names the panic line and the panic reason"
[ "$TAP_FAIL" = 0 ] || show a

"$vcr" stats "$trace" >"$tmp/stats" 2>&1; tap_eq $? 0 "A: vcr stats reads the trace"
grep -q "^complete *yes" "$tmp/stats"; tap_ok $? "A: the trace is complete"
grep -q "^ended *panic" "$tmp/stats"; tap_ok $? "A: its end is the panic"
grep -q "^machine\|machine=pc" "$tmp/stats"; tap_ok $? "A: its header says machine=pc"
sed -n '/^exits by reason/,/^exits by vCPU/p' "$tmp/stats" | grep -q "^  IO  *[0-9]"
tap_ok $? "A: stats: exits by reason (IO)"
sed -n '/^exits by vCPU/,/^I\/O ports/p' "$tmp/stats" | grep -c "^  [01]  " | grep -qx 2
tap_ok $? "A: stats: exits of both vCPUs"
grep -q "^  0x03f8 out  *[0-9]" "$tmp/stats"; tap_ok $? "A: stats: exits by port (COM1 THR)"
grep -q "^  4  *[1-9][0-9]*  *[1-9]" "$tmp/stats"; tap_ok $? "A: stats: IRQ 4 line changes (the UART's interrupt)"
nexits=$(sed -n 's/^records .*exits \([0-9]*\).*/\1/p' "$tmp/stats")
echo "# A: $nexits exits; $(grep '^size' "$tmp/stats")"
"$vcr" dump --json "$trace" >"$tmp/dump.json" 2>"$tmp/dump.err"; dst=$?
python3 - "$tmp/dump.json" "$nexits" >"$tmp/json.check" 2>&1 <<'EOF'
import json, sys
n = exits = 0
notes = []
vcpus = {}
for line in open(sys.argv[1]):
    o = json.loads(line)
    n += 1
    t = o.get("type")
    if t == "exit":
        exits += 1
        vcpus[o.get("vcpu")] = o
    if t == "note":
        notes.append(o)
print("records", n, "exits", exits, "notes", len(notes), "vcpus", sorted(vcpus))
assert exits == int(sys.argv[2]), "exit count differs from stats"
assert sorted(vcpus) == [0, 1], "not every vCPU has exits"
assert any("Kernel panic - not syncing" in str(x) for x in notes), "no note with the panic"
EOF
jst=$?
sed 's/^/# /' "$tmp/json.check"
tap_ok $(( dst | jst )) "A: dump --json parses, its exits match stats, both vCPUs have a last exit"
# The records after the last exit: the note, then the end.
"$vcr" dump --from $((nexits - 1)) "$trace" >"$tmp/tail" 2>&1
awk '/^  note/ { on = 1; next } on && /^    / { print; next } { on = 0 }' "$tmp/tail" |
    grep -q "Kernel panic - not syncing"
tap_ok $? "A: the panic's console lines are in the trace (a console-tail note)"
awk '/^  note/ { on = 1 } /^  end:/ { if (on) ok = 1 } END { exit !ok }' "$tmp/tail"
tap_ok $? "A: ... written before the end record"
"$build/tools/cursor_probe" "$trace" >"$tmp/cursor" 2>"$tmp/cursor.err"; cst=$?
[ $cst = 0 ] && [ "$(wc -l <"$tmp/cursor")" = "$nexits" ]
tap_ok $? "A: a seek to every exit works (cursor_probe: $(wc -l <"$tmp/cursor") of $nexits, status $cst)"
t0=$(date +%s)
timeout 120 "$vcr" replay --verify --timeout 10000 "$trace" >"$tmp/verify" 2>&1; vst=$?
echo "# verify: status $vst after $(( $(date +%s) - t0 )) s: $(head -1 "$tmp/verify")"
if [ $vst = 0 ]; then
    grep -q "identical" "$tmp/verify"; tap_ok $? "A: replay --verify: identical (status 0) says so"
else
    [ $vst = 1 ] && grep -q "^diverged at exit [0-9]* (vCPU [01]" "$tmp/verify"
    tap_ok $? "A: replay --verify exits 1 naming the first divergence, in time"
fi
t0=$(date +%s)
timeout 120 "$vcr" replay --resync --stats --timeout 10000 "$trace" >"$tmp/resync" 2>&1; rst=$?
echo "# resync: status $rst after $(( $(date +%s) - t0 )) s: $(grep -v '^[a-z_]* [0-9]*$' "$tmp/resync" | head -2 | tr '\n' ' ')"
[ $rst = 1 ] || [ $rst = 2 ]; tap_ok $? "A: replay --resync ends in time, not identical ($rst)"
grep -q "^irq_line_records [1-9]" "$tmp/resync" || grep -q "cannot replay" "$tmp/resync"
tap_ok $? "A: ... it re-drives the IRQ_LINE records (or says why it cannot go on)"

# linux_banner at the panic: the kernel's version string read by gdb through
# the replay stub at the last exit (the final checkpoint makes memory there
# exact), through the kernel's page tables. Debian's System.map is a stub
# and linux_banner is not exported, so its address is found in vmlinux
# itself: where "Linux version <release> " lies in .rodata (its link
# address: nokaslr); the expected string is the file's.
python3 - "$vmlinux" "$(cat "$cache/kernel/version" 2>/dev/null)" >"$tmp/banner" <<'EOF'
import struct, sys
elf = open(sys.argv[1], "rb").read()
shoff, = struct.unpack_from("<Q", elf, 0x28)
shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3a)
hdrs = [struct.unpack_from("<IIQQQQIIQQ", elf, shoff + i * shentsize) for i in range(shnum)]
names = elf[hdrs[shstrndx][4]:hdrs[shstrndx][4] + hdrs[shstrndx][5]]
for h in hdrs:
    if names[h[0]:names.index(b"\0", h[0])] != b".rodata":
        continue
    data = elf[h[4]:h[4] + h[5]]
    i = data.find(b"Linux version " + sys.argv[2].encode() + b" ")
    if i < 0:
        sys.exit("no banner in .rodata")
    text = data[i:data.index(b"\0", i)].decode()
    print("0x%x %s" % (h[3] + i, text[:40]))
    break
else:
    sys.exit("no .rodata")
EOF
bst=$?
read -r baddr btext <"$tmp/banner"
echo "# linux_banner at ${baddr:-?} (in vmlinux's .rodata): ${btext:-?}"
if [ $bst = 0 ] && [ -n "$baddr" ]; then
    gdb_start_server "$tmp/rstub.log" "$vcr" replay --gdb 127.0.0.1:0 "$trace" ||
        echo "# vcr replay --gdb did not listen"
    cat >"$tmp/bcmds" <<GDB
set pagination off
set confirm off
target remote 127.0.0.1:$GDB_PORT
monitor seek $((nexits - 1))
maintenance flush register-cache
echo @@banner\n
x/s $baddr
echo @@end\n
kill
GDB
    gdb_run_cmds "$tmp/bcmds" "$tmp/bgdb.out"
    gdb_stop_server >/dev/null
    gdb_section "$tmp/bgdb.out" banner | sed 's/^/# gdb: /' | cut -c1-120
    gdb_section "$tmp/bgdb.out" banner | grep -qF "\"$btext"
    tap_ok $? "A: replay --gdb at the last exit: x/s linux_banner is the kernel's version string"
else
    tap_ok 1 "A: replay --gdb at the last exit: x/s linux_banner (its address not found in vmlinux)"
fi

}

part_b() {
# --- B: gdb on the live kernel, -c 2, reboot -------------------------------
ksyms=$("$root/tests/linux/ksyms.py" "$vmlinux" kernel_restart schedule)
kr=0x$(echo "$ksyms" | awk '$3 == "kernel_restart" { print $1 }')
pk=0x$(echo "$ksyms" | awk '$3 == "schedule" { print $1 }')
echo "# kernel_restart at $kr, schedule at $pk (ksyms.py, exported symbols of $vmlinux)"
f0=$TAP_FAIL
gdb_start_server "$tmp/b.err" sh -c 'exec "$0" "$@" >"'"$tmp/b.out"'" </dev/null' \
    "$vcr" run -v "${common[@]}" -c 2 --gdb 127.0.0.1:0 --cmdline "quiet vcr.cmd=sleep,40" \
    || { echo "Bail out! vcr run --gdb did not listen"; exit 1; }
cat > "$tmp/cmds" <<GDB
set pagination off
set confirm off
set architecture i386:x86-64
target remote 127.0.0.1:$GDB_PORT
echo @@entry\n
p/x \$pc
echo @@ctrlc\n
continue
echo @@stopped\n
p/x \$pc
info registers rip rsp cs
info threads
echo @@printk\n
hbreak *$pk
continue
p/x \$pc
p/x \$cr3
x/4i \$pc
delete
echo @@hbreak\n
hbreak *$kr
continue
p/x \$pc
info threads
delete
echo @@step\n
monitor breakpoints
stepi
p/x \$pc
stepi
p/x \$pc
echo @@cont\n
continue
echo @@end\n
GDB
GDB_TIMEOUT=$limit gdb_run_cmds_pty "$tmp/cmds" "$tmp/gdb" "@@ctrlc" 20
gdb_stop_server; echo $? >"$tmp/b.st"
echo "# b: status $(cat "$tmp/b.st") ($(grep -c 'no progress seen' "$tmp/b.err") no-progress lines)"
sec() { gdb_section "$tmp/gdb" "$1"; }
val() { sec "$1" | sed -n "s/^\\\$[0-9]* = //p" | sed -n "${2}p"; }
tap_eq "$(val entry 1)" "0x1000200" "B: gdb connects at the 64-bit entry (startup_64)"
sec ctrlc | grep -q "received signal SIGINT" && grep -q "interrupt (0x03) from gdb" "$tmp/b.err"
tap_ok $? "B: Ctrl-C stops the booting kernel"
pc=$(val stopped 1)
sec stopped | grep -Eq "^rip +0x[0-9a-f]+" && sec stopped | grep -Eq "^cs +0x(10|33) "
tap_ok $? "B: info registers (rip, rsp, cs: the kernel's or user code segment; pc $pc)"
[ "$(sec stopped | grep -Ec '^[ *] +[12] +Thread ')" = 2 ]; tap_ok $? "B: info threads: both vCPUs"
tap_eq "$(val printk 1)" "$pk" "B: hbreak *schedule fires (the kernel proper runs)"
cr3=$(val printk 2)
tap_ok $([ -n "$cr3" ] && [ $((cr3)) -ne 0 ] && echo 0 || echo 1) "B: p \$cr3 ($cr3)"
sec printk | grep -Eq "^=> ${pk}:	[a-z]" ; tap_ok $? "B: x/4i \$pc disassembles at a kernel virtual address (4-level page tables)"
sec hbreak | grep -q "Hardware assisted breakpoint 1, $kr" || sec hbreak | grep -q "^\\\$[0-9]* = $kr\$"
tap_ok $? "B: hbreak *kernel_restart fires (reboot -f)"
[ "$(sec hbreak | grep -Ec '^[ *] +[12] +Thread ')" = 2 ]; tap_ok $? "B: ... info threads there: both vCPUs"
step=$(sec step | sed -n 's/^single step: //p')
echo "# single step on $flavour: ${step:-unknown}"
s1=$(val step 1); s2=$(val step 2)
tap_ok $([ -n "$s1" ] && [ -n "$s2" ] && [ $((s1)) -gt $((kr)) ] && [ $((s2)) -gt $((s1)) ] &&
         [ $((s2)) -lt $((kr + 64)) ] && echo 0 || echo 1) \
    "B: two stepi stay in kernel_restart, no interrupt handler ($kr -> $s1 -> $s2; $step)"
has b '^VCR-LINUX-INIT up=[0-9.]+ cpus=2'; tap_ok $? "B: the boot went on after Ctrl-C and continue"
has b '^VCR-LINUX-END how=reboot'; tap_ok $? "B: ... and after the breakpoint, to its end"
tap_eq "$(cat "$tmp/b.st")" 0 "B: reboot -f ends the run as a reset, exit status 0"
grep -q "guest reset the machine (i8042 reset pulse.*(reset, exit status 0" "$tmp/b.err"
tap_ok $? "B: the end says reset"
if [ "$TAP_FAIL" != "$f0" ]; then
    echo "# gdb output:"; sed 's/^/#   /' "$tmp/gdb"; show b
fi

}

part_c() {
# --- C: halt -f -------------------------------------------------------------
f0=$TAP_FAIL
boot c -c 2 --cmdline "quiet vcr.cmd=halt,-f"
has c '^VCR-LINUX-CMD-BEGIN'; tap_ok $? "C: halt -f runs"
tap_eq "$(st c)" 0 "C: exit status 0"
grep -q "every vCPU stopped with interrupts off.*(hlt, exit status 0" "$tmp/c.err"
tap_ok $? "C: the run ends as every vCPU halted with interrupts off"
[ "$TAP_FAIL" = "$f0" ] || show c
}

for p in a b c; do part $p && part_$p; done
exit "$TAP_FAIL"
