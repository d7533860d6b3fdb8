#!/bin/bash
# gdb_bench: gdb 13 driving `stepi` and 8 KiB memory reads (gdb's Python API,
# no remote log) against our replay stub (`vcr replay --gdb` on a 1-vCPU
# trace) and, in the same run, against QEMU's gdbstub
# (qemu-system-x86_64 -S -gdb, TCG, one CPU stopped at the reset vector);
# and live single steps through KVM: our stub (`vcr run --gdb`) against
# QEMU's gdbstub on -accel kvm, the same guest on the same /dev/kvm.
#
# Both gdbs stay connected for the whole run and are driven in turns through
# FIFOs: round r measures ours, then QEMU's, for each figure, so both see the
# same machine load (the bench machine is shared: a single sequential run
# can land one side in a busy second). The figure printed is the median of
# the ROUNDS rounds; the best and worst rounds follow as a comment.
#
# What a step is differs: replay `stepi` moves to the next recorded EXIT (the
# trace holds exits, not instructions: here 13 instructions apart (one OUT
# per 16-byte slot of code), on a real guest often thousands), QEMU's TCG
# `stepi` executes one instruction. gdb_replay_exit_steps_per_s and gdb_stepi_per_s_qemu_tcg are
# each what its stub does per gdb command; they are not the same work.
#
# Live single steps (where /dev/kvm opens): both stubs run the multiboot
# kernel pm32k.bin on this machine's /dev/kvm (vcr run --gdb stops at its
# entry; QEMU, stopped at the reset vector, is run to a hardware breakpoint
# there through its firmware's multiboot loader); gdb then writes the same
# two-instruction loop over the entry (inc %eax; jmp back) and steps it.
# Each stepi is one guest instruction executed by KVM single step
# (KVM_GUESTDBG_SINGLESTEP, a KVM_EXIT_DEBUG after it) in both, and the same
# instructions: the two figures are the same work. gdb checks that %eax grew
# by one per loop iteration it stepped: a stub that steps nothing gives nan.
#
# Memory reads use the same bytes on both sides, loaded at 0x200000 (our
# trace's "loader" writes them; QEMU gets them through -device loader):
#   dense:  8 KiB of x86-64 machine code (the .text of the vcr binary)
#   sparse: two page-table pages (a few entries, the rest zero)
# See docs/gdb.md ("Performance") for what limits each figure.
#
# Prints "name value unit" lines:
#   gdb_replay_exit_steps_per_s                  replay stepi: exit to exit
#   gdb_replay_reverse_exit_steps_per_s          reverse-stepi (QEMU has none)
#   gdb_stepi_per_s_qemu_tcg                     QEMU TCG: one instruction
#   gdb_live_stepi_per_s                         vcr run --gdb on KVM: one
#                                                instruction (KVM single step)
#   gdb_live_stepi_per_s_qemu_kvm                QEMU -accel kvm: the same
#   gdb_mem_read_mb_per_s / gdb_mem_read_mb_per_s_qemu          (dense)
#   gdb_mem_read_sparse_mb_per_s / gdb_mem_read_sparse_mb_per_s_qemu
# STEPS (default 2000) stepi and READS (default 1000) reads per target and
# figure, split over ROUNDS (default 5) rounds.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
build=${VCR_BUILD:-build}
case $build in /*) ;; *) build=$root/$build ;; esac
helper=$build/tests/host/gdb_mktrace
vcr=${VCR:-$build/vcr}
steps=${STEPS:-2000}
reads=${READS:-1000}
rounds=${ROUNDS:-5}
. "$root/tests/host/gdb_lib.inc"
tmp=$(mktemp -d)
qpid=
lpid=
kpid=
gpids=()
cleanup() {
    kill ${GDB_SERVER_PID:-} $qpid $lpid $kpid "${gpids[@]}" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

nstep=$(( (steps + rounds - 1) / rounds ))
nread=$(( (reads + rounds - 1) / rounds ))
BLOB=0x200000
guest=$build/tests/guests/pm32k.bin
ENTRY=0x$(nm "$build/tests/guests/pm32k.elf" 2>/dev/null | awk '$3 == "_start" { print $1 }')

# The memory both stubs serve at BLOB: 8 KiB dense, then 8 KiB sparse.
make_blob() {
    local text=$tmp/text.bin
    objcopy -O binary --only-section=.text "$vcr" "$text" 2>/dev/null || return 1
    [ "$(stat -c %s "$text")" -ge 16384 ] || return 1
    dd if="$text" of="$tmp/blob.bin" bs=4096 skip=1 count=2 status=none || return 1
    python3 - "$tmp/blob.bin" <<'PY'
import struct, sys
pages = bytearray(8192)
for i in range(4):      # PML4/PDPT-like: a few present entries per page
    struct.pack_into("<Q", pages, 8 * i, 0x3003 + 0x1000 * i)
    struct.pack_into("<Q", pages, 4096 + 8 * (256 + i), 0x200083 + 0x200000 * i)
open(sys.argv[1], "ab").write(pages)
PY
}

# gdb_session NAME PORT PID: a gdb connected to PORT (served by process PID)
# that runs the commands written to $tmp/NAME.in and answers each with a
# line on $tmp/NAME.out:
#   stepi N | rstepi N   -> rate (per second)
#   mem N ADDR           -> rate (MB/s), gdb's own CPU time per read (us,
#                           time.process_time: every gdb thread), the
#                           stub's CPU time per read (us, /proc/PID/schedstat)
gdb_session() {
    local name=$1 port=$2 spid=$3
    mkfifo "$tmp/$name.in" "$tmp/$name.out"
    cat >"$tmp/$name.py" <<PY
import gdb, time
gdb.execute("set pagination off")
import os
def stub_ns():
    # Every thread of the stub's process (QEMU serves gdb and runs the
    # vCPU on different threads): /proc/PID/schedstat is one thread's.
    try:
        d = "/proc/$spid/task"
        return sum(int(open(d + "/" + t + "/schedstat").read().split()[0])
                   for t in os.listdir(d))
    except Exception:
        return None
try:
    gdb.execute("target remote 127.0.0.1:$port", to_string=True)
    inf = gdb.selected_inferior()
    ok = True
except gdb.error as e:
    ok = False
fin = open("$tmp/$name.in")
fout = open("$tmp/$name.out", "w", buffering=1)
for line in fin:
    w = line.split()
    if not w or w[0] == "quit":
        break
    if not ok:
        fout.write("nan\n")
        continue
    if w[0] == "live":
        # live ENTRY HB: stop at ENTRY (HB=1: run there to a hardware
        # breakpoint first), write the loop over it, start it at ENTRY.
        try:
            a = int(w[1], 0)
            if w[2] == "1":
                gdb.execute("hbreak *%d" % a, to_string=True)
                gdb.execute("continue", to_string=True)
                gdb.execute("delete", to_string=True)
            if int(gdb.parse_and_eval("\$pc")) != a:
                raise gdb.error("not at the entry")
            inf.write_memory(a, b"\x40\xeb\xfd")   # 1: inc %eax; jmp 1b
            gdb.execute("set \$pc = %d" % a, to_string=True)
            fout.write("ok\n")
        except Exception as e:
            ok = False
            fout.write("nan # %s\n" % str(e).replace("\n", " "))
        continue
    n = int(w[1])
    try:
        t = time.perf_counter()
        c = time.process_time()
        s = stub_ns()
        if w[0] == "stepi":
            ax = int(gdb.parse_and_eval("\$rax")) & 0xffffffff
            pc = int(gdb.parse_and_eval("\$pc"))
            for i in range(n):
                gdb.execute("stepi", to_string=True)
            if len(w) > 2:
                # The live loop: n steps from the inc (at w[2]) run
                # ceil(n/2) incs, from the jmp floor(n/2).
                grew = (int(gdb.parse_and_eval("\$rax")) - ax) & 0xffffffff
                want = (n + (pc == int(w[2], 0))) // 2
                if grew != want:
                    raise gdb.error("eax grew by %d in %d steps, not %d" % (grew, n, want))
        elif w[0] == "rstepi":
            for i in range(n):
                gdb.execute("reverse-stepi", to_string=True)
        elif w[0] == "mem":
            a = int(w[2], 0)
            for i in range(n):
                inf.read_memory(a, 8192)
        dt = time.perf_counter() - t
        cpu = (time.process_time() - c) / n * 1e6
        s1 = stub_ns()
        stub = (s1 - s) / n / 1e3 if s is not None and s1 is not None else float("nan")
        if w[0] == "mem":
            fout.write("%.2f %.1f %.1f\n" % (n * 8192 / dt / 1e6, cpu, stub))
        else:
            fout.write("%.2f\n" % (n / dt))
    except Exception as e:
        fout.write("nan # %s\n" % str(e).replace("\n", " "))
if ok:
    gdb.execute("detach", to_string=True)
PY
    # Read-write opens of the FIFOs never block, whatever gdb does.
    timeout 900 gdb -batch -nx -x "$tmp/$name.py" >"$tmp/$name.log" 2>&1 &
    gpids+=($!)
}

# ask FDIN FDOUT CMD [FILE2]: one measurement; prints the rate or nan (the
# other numbers of a mem answer go to FILE2).
ask() {
    local line
    echo "$3" >&"$1"
    if read -t 300 -r line <&"$2"; then
        [ -n "${4:-}" ] && echo "${line#* }" >>"$4"
        echo "${line%% *}"
    else
        echo nan
    fi
}

# stats FILE [COLUMN]: "largest median smallest" of the numbers in COLUMN
# (default 1) of FILE ("nan nan nan" when none).
stats() {
    awk -v c="${2:-1}" '$c != "nan" && $c != "" { print $c }' "$1" 2>/dev/null | sort -g |
        awk '{ v[NR] = $1 } END {
        if (!NR) { print "nan nan nan"; exit }
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.1f %.1f %.1f\n", v[NR], m, v[1] }'
}

ours=0 qemu=0
if ! make_blob; then
    echo "# cannot build the memory blob from $vcr's .text" >&2
elif [ -x "$helper" ] && [ -x "$vcr" ] &&
     "$helper" make "$tmp/t.vcr" $((nstep + 50)) 1 "$tmp/blob.bin" >/dev/null &&
     gdb_start_server "$tmp/stub.log" "$vcr" replay --gdb 127.0.0.1:0 "$tmp/t.vcr" >/dev/null; then
    gdb_session ours "$GDB_PORT" "$GDB_SERVER_PID"
    exec 3<>"$tmp/ours.in" 4<>"$tmp/ours.out"
    ours=1
else
    echo "# our stub did not start ($helper, $vcr)" >&2
fi

# Live: vcr run --gdb and QEMU -accel kvm on the same guest and /dev/kvm.
live=0 qlive=0
if [ -r /dev/kvm ] && [ -w /dev/kvm ] && [ -f "$guest" ] && [ "$ENTRY" != 0x ] &&
   [ -x "$vcr" ]; then
    rpid=${GDB_SERVER_PID:-} rport=${GDB_PORT:-}
    if gdb_start_server "$tmp/live.log" "$vcr" run --no-stdin --gdb 127.0.0.1:0 "$guest" >/dev/null; then
        lpid=$GDB_SERVER_PID
        gdb_session live "$GDB_PORT" "$lpid"
        exec 7<>"$tmp/live.in" 8<>"$tmp/live.out"
        [ "$(ask 7 8 "live $ENTRY 0")" = ok ] && live=1
    else
        echo "# vcr run --gdb did not start: $(head -3 "$tmp/live.log")" >&2
    fi
    GDB_SERVER_PID=$rpid GDB_PORT=$rport
    if command -v qemu-system-x86_64 >/dev/null; then
        for _ in 1 2 3; do
            port=$((20000 + RANDOM % 20000))
            qemu-system-x86_64 -accel kvm -m 64 -smp 1 -nodefaults -display none \
                -kernel "$guest" -S -gdb tcp:127.0.0.1:$port >"$tmp/qkvm.log" 2>&1 &
            kpid=$!
            sleep 1
            kill -0 $kpid 2>/dev/null && break
            kpid=
        done
        if [ -n "$kpid" ]; then
            gdb_session qkvm "$port" "$kpid"
            exec 9<>"$tmp/qkvm.in" 10<>"$tmp/qkvm.out"
            [ "$(ask 9 10 "live $ENTRY 1")" = ok ] && qlive=1
        else
            echo "# QEMU -accel kvm did not start: $(head -3 "$tmp/qkvm.log")" >&2
        fi
    fi
fi

if command -v qemu-system-x86_64 >/dev/null && [ -f "$tmp/blob.bin" ]; then
    for _ in 1 2 3; do
        port=$((20000 + RANDOM % 20000))
        qemu-system-x86_64 -machine q35 -accel tcg -m 64 -smp 1 -nodefaults -display none \
            -device loader,file="$tmp/blob.bin",addr=$BLOB,force-raw=on \
            -S -gdb tcp:127.0.0.1:$port >"$tmp/qemu.log" 2>&1 &
        qpid=$!
        sleep 1
        kill -0 $qpid 2>/dev/null && break
        qpid=
    done
    if [ -n "$qpid" ]; then
        gdb_session qemu "$port" "$qpid"
        exec 5<>"$tmp/qemu.in" 6<>"$tmp/qemu.out"
        qemu=1
    else
        echo "# QEMU did not start: $(head -3 "$tmp/qemu.log")" >&2
    fi
fi

for _ in $(seq 1 "$rounds"); do
    if [ $ours = 1 ]; then
        ask 3 4 "stepi $nstep" >>"$tmp/r.stepi"
        ask 3 4 "rstepi $nstep" >>"$tmp/r.rstepi"
    fi
    [ $qemu = 1 ] && ask 5 6 "stepi $nstep" >>"$tmp/q.stepi"
    [ $live = 1 ] && ask 7 8 "stepi $nstep $ENTRY" >>"$tmp/l.stepi"
    [ $qlive = 1 ] && ask 9 10 "stepi $nstep $ENTRY" >>"$tmp/k.stepi"
    [ $ours = 1 ] && ask 3 4 "mem $nread $BLOB" "$tmp/r.dense.cpu" >>"$tmp/r.dense"
    [ $qemu = 1 ] && ask 5 6 "mem $nread $BLOB" "$tmp/q.dense.cpu" >>"$tmp/q.dense"
    [ $ours = 1 ] && ask 3 4 "mem $nread $((BLOB + 8192))" >>"$tmp/r.sparse"
    [ $qemu = 1 ] && ask 5 6 "mem $nread $((BLOB + 8192))" >>"$tmp/q.sparse"
done
[ $ours = 1 ] && echo quit >&3
[ $qemu = 1 ] && echo quit >&5
[ $live = 1 ] && echo quit >&7
[ $qlive = 1 ] && echo quit >&9
wait "${gpids[@]}" 2>/dev/null
gpids=()
for f in ours qemu live qkvm; do
    grep -qi "error\|cannot\|refused" "$tmp/$f.log" 2>/dev/null &&
        echo "# $f gdb: $(grep -i 'error\|cannot\|refused' "$tmp/$f.log" | head -2)" >&2
done

out() {	# out NAME FILE UNIT: the median round, best and worst as a comment
    local best med least
    read -r best med least < <(stats "$2")
    echo "$1 $med $3"
    echo "#   $1: best $best, worst $least over $rounds rounds"
}
touch "$tmp"/r.stepi "$tmp"/r.rstepi "$tmp"/q.stepi "$tmp"/l.stepi "$tmp"/k.stepi "$tmp"/r.dense "$tmp"/q.dense \
    "$tmp"/r.sparse "$tmp"/q.sparse
out gdb_replay_exit_steps_per_s "$tmp/r.stepi" steps/s
out gdb_replay_reverse_exit_steps_per_s "$tmp/r.rstepi" steps/s
out gdb_stepi_per_s_qemu_tcg "$tmp/q.stepi" stepi/s
echo "#   a replay step moves to the next recorded exit, a QEMU TCG stepi executes one instruction: not the same work"
out gdb_live_stepi_per_s "$tmp/l.stepi" stepi/s
out gdb_live_stepi_per_s_qemu_kvm "$tmp/k.stepi" stepi/s
echo "#   live: one guest instruction per stepi, by KVM single step in both stubs, the same loop (pm32k.bin's entry overwritten with inc/jmp); /dev/kvm: $(ls /sys/module 2>/dev/null | grep -E '^kvm_(intel|amd|pvm)$' | head -1)"
out gdb_mem_read_mb_per_s "$tmp/r.dense" MB/s
out gdb_mem_read_mb_per_s_qemu "$tmp/q.dense" MB/s
# Where a dense read's time goes: gdb's own CPU per 8 KiB read and the
# stub's, medians over the rounds; gdb's CPU alone bounds the rate at
# 8192 B / (its CPU per read), whatever the stub does.
cpu() {	# cpu NAME FILE COLUMN: the median over the rounds
    local best med least
    read -r best med least < <(stats "$2" "$3")
    echo "$1 $med us"
}
touch "$tmp"/r.dense.cpu "$tmp"/q.dense.cpu
cpu gdb_mem_read_gdb_cpu_us "$tmp/r.dense.cpu" 1
cpu gdb_mem_read_stub_cpu_us "$tmp/r.dense.cpu" 2
cpu gdb_mem_read_gdb_cpu_us_qemu "$tmp/q.dense.cpu" 1
cpu gdb_mem_read_stub_cpu_us_qemu "$tmp/q.dense.cpu" 2
read -r _ g _ < <(stats "$tmp/r.dense.cpu" 1)
[ "$g" != nan ] && awk -v g="$g" 'BEGIN { printf "gdb_mem_read_gdb_bound_mb_per_s %.1f MB/s\n", 8192 / g }'
echo "#   gdb_mem_read_gdb_bound_mb_per_s: 8192 B over gdb's median CPU per dense read against our stub (the rate a stub taking no time would give)"
out gdb_mem_read_sparse_mb_per_s "$tmp/r.sparse" MB/s
out gdb_mem_read_sparse_mb_per_s_qemu "$tmp/q.sparse" MB/s
