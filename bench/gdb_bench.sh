#!/bin/bash
# gdb_bench: gdb 13 driving `stepi` and 8 KiB memory reads (gdb's Python
# API, no remote log) against our replay stub and, in the same run, against
# QEMU's gdbstub (qemu-system-x86_64 -S -gdb, TCG, stopped at the reset
# vector in the BIOS: the same real work per step for gdb, a register read
# and a few small memory reads). Prints "name value unit" lines:
#   gdb_stepi_per_s / gdb_stepi_per_s_qemu
#   gdb_mem_read_mb_per_s / gdb_mem_read_mb_per_s_qemu
# STEPS (default 2000) and READS (default 2000) set the counts.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
build=${VCR_BUILD:-build}
case $build in /*) ;; *) build=$root/$build ;; esac
helper=$build/tests/host/gdb_mktrace
steps=${STEPS:-2000}
reads=${READS:-2000}
. "$root/tests/host/gdb_lib.inc"
tmp=$(mktemp -d)
qpid=
trap 'kill $GDB_SERVER_PID $qpid 2>/dev/null; rm -rf "$tmp"' EXIT

# run_gdb PORT ADDR: prints "STEPI <rate>" and "MEM <MB/s>"
run_gdb() {
    cat >"$tmp/bench.py" <<PY
import gdb, time
gdb.execute("set pagination off")
gdb.execute("target remote 127.0.0.1:$1", to_string=True)
n = $steps
t = time.perf_counter()
for i in range(n):
    gdb.execute("stepi", to_string=True)
dt = time.perf_counter() - t
print("STEPI %.0f" % (n / dt))
inf = gdb.selected_inferior()
m = $reads
t = time.perf_counter()
for i in range(m):
    inf.read_memory($2, 8192)
dt = time.perf_counter() - t
print("MEM %.1f" % (m * 8192 / dt / 1e6))
gdb.execute("detach", to_string=True)
PY
    timeout 300 gdb -batch -nx -ex "set code-cache off" -ex "set stack-cache off" \
        -x "$tmp/bench.py" 2>&1
}

ours_steps=; ours_mem=; q_steps=; q_mem=
if [ -x "$helper" ]; then
    "$helper" make "$tmp/t.vcr" $((steps + 100)) >/dev/null
    if gdb_start_server "$tmp/stub.log" "$helper" serve 127.0.0.1:0 "$tmp/t.vcr"; then
        out=$(run_gdb "$GDB_PORT" 0x100000)
        ours_steps=$(echo "$out" | sed -n 's/^STEPI //p')
        ours_mem=$(echo "$out" | sed -n 's/^MEM //p')
        gdb_stop_server >/dev/null
    fi
else
    echo "# $helper not built" >&2
fi

if command -v qemu-system-x86_64 >/dev/null; then
    port=$((20000 + RANDOM % 20000))
    qemu-system-x86_64 -machine q35 -accel tcg -m 64 -nodefaults -display none \
        -S -gdb tcp:127.0.0.1:$port >/dev/null 2>&1 &
    qpid=$!
    sleep 1
    out=$(run_gdb "$port" 0xf0000)
    q_steps=$(echo "$out" | sed -n 's/^STEPI //p')
    q_mem=$(echo "$out" | sed -n 's/^MEM //p')
    kill $qpid 2>/dev/null; wait $qpid 2>/dev/null; qpid=
fi

echo "gdb_stepi_per_s ${ours_steps:-nan} stepi/s"
echo "gdb_stepi_per_s_qemu ${q_steps:-nan} stepi/s"
echo "gdb_mem_read_mb_per_s ${ours_mem:-nan} MB/s"
echo "gdb_mem_read_mb_per_s_qemu ${q_mem:-nan} MB/s"
