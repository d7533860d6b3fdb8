#!/bin/bash
# gdb_replay: real gdb (batch mode) on a trace served by `vcr replay --gdb`:
# registers, system registers, disassembly, stepi / reverse-stepi,
# continue / reverse-continue to breakpoints and to the trace's edges,
# memory as of the position, monitor seek/where/events, threads. Every
# expected value comes from the cursor through gdb_mktrace's `state`, not
# from the stub.
set -u
root=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${VCR_BUILD:-$root/build}
vcr=${VCR:-$build/vcr}
helper=$build/tests/host/gdb_mktrace
. "$root/tests/host/gdb_lib.inc"

command -v gdb >/dev/null || { echo "1..0 # SKIP no gdb"; exit 0; }
[ -x "$helper" ] || { echo "1..0 # SKIP $helper not built"; exit 0; }
tmp=$(mktemp -d)
trap 'kill $GDB_SERVER_PID 2>/dev/null; rm -rf "$tmp"' EXIT

echo "1..22"
"$helper" make "$tmp/t.vcr" 64 || { echo "Bail out! cannot write the trace"; exit 1; }
st() { "$helper" state "$tmp/t.vcr" "$1"; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
rip_of() { st "$1" | field rip; }

# Serve through `vcr replay --gdb` when the CLI has it, else through the
# helper (same library entry point, gdbstub_serve_replay).
if "$vcr" replay --help 2>&1 | grep -q -- --gdb; then
    server=("$vcr" replay --gdb 127.0.0.1:0 "$tmp/t.vcr")
    echo "# server: vcr replay --gdb"
else
    server=("$helper" serve 127.0.0.1:0 "$tmp/t.vcr")
    echo "# server: gdb_mktrace serve (vcr replay has no --gdb yet)"
fi
gdb_start_server "$tmp/stub.log" "${server[@]}" || { echo "Bail out! no stub"; exit 1; }

bp31=$(rip_of 31)
bp10=$(rip_of 10)
cat > "$tmp/cmds" <<GDB
set pagination off
set confirm off
target remote 127.0.0.1:$GDB_PORT
echo @@regs0\n
p/x \$rip
p/x \$rax
p \$cr3
p/x \$fs_base
p/x \$cs_attr
echo @@disas\n
x/2i \$pc
echo @@threads\n
info threads
echo @@step1\n
stepi
p/x \$rip
p/x \$rax
echo @@step2\n
stepi
p/x \$rip
p/x \$rbx
thread
echo @@step3\n
stepi
echo @@rstep\n
reverse-stepi
p/x \$rip
p/x \$rax
echo @@cont31\n
break *$bp31
continue
p/x \$rax
p/x *(unsigned long *)0x180000
echo @@rcont10\n
break *$bp10
reverse-continue
p/x \$rax
p/x *(unsigned long *)0x180000
echo @@rcontbegin\n
delete
reverse-continue
p/x \$rip
echo @@seek\n
monitor seek 40
maintenance flush register-cache
p/x \$rax
p \$exc_pending
p \$exc_nr
monitor where
monitor events
echo @@nomem\n
x/x 0x300000
echo @@setreg\n
set \$rax = 5
echo @@contend\n
continue
p/x \$rip
echo @@mode\n
monitor mode
echo @@end\n
GDB
gdb_run_cmds "$tmp/cmds" "$tmp/out"
sec() { gdb_section "$tmp/out" "$1"; }
val() { sec "$1" | sed -n "s/^\\\$[0-9]* = //p" | sed -n "${2}p"; }

s0=$(st 0)
tap_eq "$(val regs0 1)" "$(echo "$s0" | field rip)" "rip at exit 0 is the recorded one"
tap_eq "$(val regs0 2)" "$(echo "$s0" | field rax)" "rax at exit 0"
tap_eq "$(val regs0 3)" "4096" "p \$cr3 (system register feature)"
tap_eq "$(val regs0 4)" "$(echo "$s0" | field fs_base)" "p \$fs_base (segments feature)"
tap_eq "$(val regs0 5)" "0xa09b" "segment descriptor cache: cs_attr"
sec disas | grep -q "nop" ; tap_ok $? "x/2i \$pc disassembles recorded code"
n=$(sec threads | grep -c "Thread [12] ")
tap_eq "$n" "2" "info threads lists both vCPUs"
s1=$(st 1)
tap_eq "$(val step1 1)/$(val step1 2)" "$(echo "$s1" | field rip)/$(echo "$s1" | field rax)" \
    "stepi goes to exit 1 (rip/rax)"
s2=$(st 2)
tap_eq "$(val step2 1)/$(val step2 2)" "$(echo "$s2" | field rip)/0x$(echo "$s2" | field vcpu)" \
    "stepi to exit 2 switches to vCPU 1's registers"
sec step2 | grep -q "Current thread is 2" ; tap_ok $? "exit 2 is reported as thread 2"
tap_eq "$(val rstep 1)/$(val rstep 2)" "$(echo "$s2" | field rip)/$(echo "$s2" | field rax)" \
    "reverse-stepi from exit 3 lands on exit 2"
s31=$(st 31)
tap_eq "$(val cont31 1)" "$(echo "$s31" | field rax)" "continue to a breakpoint: exit 31"
tap_eq "$(val cont31 2)" "$(echo "$s31" | field data)" "memory at exit 31 shows the VMM's write after exit 30"
s10=$(st 10)
tap_eq "$(val rcont10 1)" "$(echo "$s10" | field rax)" "reverse-continue to a breakpoint: exit 10"
tap_eq "$(val rcont10 2)" "$(echo "$s10" | field data)" "memory at exit 10 is the older value"
sec rcontbegin | grep -q "No more reverse-execution history" ; tap_ok $? "reverse-continue stops at the trace start (replaylog:begin)"
tap_eq "$(val rcontbegin 1)" "$(echo "$s0" | field rip)" "... on exit 0"
tap_eq "$(val seek 1)/$(val seek 2)/$(val seek 3)" "$(st 40 | field rax)/1/13" \
    "monitor seek 40: rax, pending #GP (exc_pending, exc_nr registers)"
sec seek | grep -q "exit 40 of 64" && sec seek | grep -q "pending=1 nr=13" ; tap_ok $? "monitor where / events"
sec nomem | grep -q "Cannot access memory at address 0x300000" ; tap_ok $? "memory the trace does not hold is a clear error"
sec contend | grep -q "No more reverse-execution history" && \
    [ "$(val contend 1)" = "$(st 63 | field rip)" ] ; tap_ok $? "continue without breakpoints stops at the trace end (replaylog:end)"
sec setreg | grep -qi "error\|cannot\|Could not" ; tap_ok $? "registers are read-only in replay"

gdb_stop_server
[ "$TAP_FAIL" = 0 ] || { echo "# gdb output:"; sed 's/^/#   /' "$tmp/out"; }
exit $TAP_FAIL
