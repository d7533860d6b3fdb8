#!/bin/bash
# gdb_live: real gdb (batch mode) on `vcr run --gdb` with the ELF test guest
# gdb64 (tests/guests/gdb64.c), on real KVM (nested where need be). Covers:
# registers at entry, break on a symbol, stepi, x/4i, set $rax seen by the
# guest, a hardware watchpoint, more software breakpoints than debug
# registers (the stepping path), an address not mapped, Ctrl-C on a looping
# guest, system registers, the guest's exit; then threads on 2 vCPUs and
# lldb (registers, and `kill` ending cleanly). Prints which breakpoint and
# watchpoint paths the host used (the stub probes them: docs/gdb.md).
set -u
root=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${VCR_BUILD:-$root/build}
vcr=${VCR:-$build/vcr}
guest=$build/tests/guests/gdb64.elf
. "$root/tests/host/gdb_lib.inc"

if [ ! -e /dev/kvm ]; then
    # A KVM test that did not run is a failure unless skipping is asked for.
    if [ -n "${VCR_ALLOW_SKIP_KVM:-}" ]; then echo "1..0 # SKIP no /dev/kvm"; exit 0; fi
    echo "1..1"; echo "not ok 1 - /dev/kvm missing (run through tests/nested/kvm-run)"; exit 1
fi
command -v gdb >/dev/null || { echo "1..0 # SKIP no gdb"; exit 0; }
[ -f "$guest" ] || { echo "1..1"; echo "not ok 1 - $guest not built"; exit 1; }
tmp=$(mktemp -d)
trap 'kill $GDB_SERVER_PID 2>/dev/null; rm -rf "$tmp"' EXIT
echo "1..26"

sym() { nm "$guest" | awk -v s="$1" '$3 == s { print "0x" $1 }' | sed 's/0x0*/0x/'; }
entry=$(sym _start)
tick=$(sym tick)
# In tick: the instruction that stores rax into counter ("mov %rax,counter").
store=$(objdump -d "$guest" | awk '/<tick>:/ { on = 1 } on && /mov +%rax,/ { sub(":", "", $1); print "0x" $1; exit }')
# ... and its OUT, after the store: a backstop for the watchpoint, so that a
# watchpoint that does not fire fails its own point only, not every later one.
tick_out=$(objdump -d "$guest" | awk '/<tick>:/ { on = 1 } on && /\tout +/ { sub(":", "", $1); print "0x" $1; exit }')

gdb_start_server "$tmp/vcr.log" "$vcr" run --no-stdin --gdb 127.0.0.1:0 "$guest" \
    || { echo "Bail out! vcr run --gdb did not listen"; exit 1; }
cat > "$tmp/cmds" <<GDB
set pagination off
set confirm off
file $guest
target remote 127.0.0.1:$GDB_PORT
echo @@entry\n
p/x \$pc
p/x \$cr0
p/x \$efer
p/x \$fs_base
p \$cs_attr & 0x2000
info registers rip
monitor breakpoints
echo @@break\n
break tick
continue
p/x \$pc
p counter
echo @@stepi\n
stepi
p/x \$pc
x/4i \$pc
echo @@setrax\n
delete
tbreak *$store
continue
set \$rax = 500
break tick
continue
p counter
echo @@watch\n
delete
set breakpoint always-inserted on
watch counter
monitor breakpoints
set breakpoint always-inserted off
tbreak *$tick_out
continue
p counter
echo @@manybp\n
delete
set breakpoint always-inserted on
break *0x1000b2
break *0x100099
break *0x1000a4
hbreak *0x1000a6
break *0xffff800000000000
break tick
monitor breakpoints
set breakpoint always-inserted off
continue
p/x \$pc
p counter
echo @@ctrlc\n
delete
set var limit = 0x7fffffffffff
continue
p/x \$pc
p counter > 501
echo @@finish\n
set var limit = 0
continue
echo @@end\n
GDB
# Ctrl-C: gdb runs on a pseudo-terminal and gets a real Ctrl-C key press 5 s
# after "@@ctrlc" (the guest then loops in `continue`); gdb passes it on as
# the interrupt byte 0x03 (the stub logs it).
GDB_TIMEOUT=240 gdb_run_cmds_pty "$tmp/cmds" "$tmp/out" "@@ctrlc" 5
gdb_stop_server
vstatus=$?
sec() { gdb_section "$tmp/out" "$1"; }
val() { sec "$1" | sed -n "s/^\\\$[0-9]* = //p" | sed -n "${2}p"; }

tap_eq "$(val entry 1)" "$entry" "registers at connect: rip is the ELF entry"
v=$(val entry 2); tap_ok $(( (v & 0x80000001) == 0x80000001 ? 0 : 1 )) "p \$cr0: paging and protection on ($v)"
v=$(val entry 3); tap_ok $(( (v & 0x400) ? 0 : 1 )) "p \$efer: long mode active ($v)"
tap_eq "$(val entry 4)" "0x0" "p \$fs_base"
tap_eq "$(val entry 5)" "8192" "cs_attr has L (64-bit code segment)"
path=$(sec entry | grep "^software breakpoints:")
echo "# breakpoint path on this host: ${path:-unknown}"
tap_ok $([ -n "$path" ] && echo 0 || echo 1) "monitor breakpoints names the path in use"
sec break | grep -q "Breakpoint 1, .*tick" ; tap_ok $? "break tick; continue: hit"
tap_eq "$(val break 1)/$(val break 2)" "$tick/0" "stopped at tick with counter 0"
v=$(val stepi 1); tap_ok $([ -n "$v" ] && [ $((v)) -gt $((tick)) ] && echo 0 || echo 1) "stepi advances rip ($tick -> $v)"
sec stepi | grep -q "add *\$0x1,%rax" ; tap_ok $? "x/4i \$pc disassembles"
tap_eq "$(val setrax 1)" "500" "set \$rax before the store: the guest stored 500 into counter"
sec watch | grep -q "Hardware watchpoint [0-9]*: counter" ; tap_ok $? "watch counter is a hardware watchpoint"
sec watch | grep -q "New value = 501" && [ "$(val watch 1)" = 501 ] ; tap_ok $? "the watchpoint fires on the guest's store"
if sec watch | grep -q "Temporary breakpoint [0-9]*, "; then
    echo "# watch: the guest ran past its store to the backstop at $tick_out (flavour ${VCR_KVM_FLAVOUR:-unknown})"
fi
# The stub probes data breakpoints at start and serves a write watchpoint by
# DR0-3 where they fire, else by single-stepping and comparing.
wpath=$(sec watch | grep "^write watchpoints:")
wused=$(sec watch | grep -E "^  (DR[0-3]: watch 0x[0-9a-f]+ len 8|watch 0x[0-9a-f]+ len 8 via single-stepping)$")
echo "# watchpoint path (flavour ${VCR_KVM_FLAVOUR:-unknown}): ${wpath:-unknown}; in use: ${wused:-none}"
tap_ok $([ -n "$wpath" ] && [ -n "$wused" ] && echo 0 || echo 1) "monitor breakpoints says how watchpoints are served and which serves counter"
sec manybp | grep -q "break 0x[0-9a-f]* via single-stepping" ; tap_ok $? "a breakpoint beyond the debug registers (or unmapped) is still served"
echo "$(sec manybp | grep ' via \|DR[0-3]' | sed 's/^/#   /')"
sec manybp | grep -q "Breakpoint [0-9]*, .*tick" ; tap_ok $? "... and hit (tick)"
tap_eq "$(val manybp 2)" "501" "... at the next tick, nothing corrupted (counter 501)"
sec ctrlc | grep -q "received signal SIGINT" && grep -q "interrupt (0x03) from gdb" "$tmp/vcr.log" ; tap_ok $? "Ctrl-C stops a looping guest (SIGINT, through the 0x03 byte)"
tap_eq "$(val ctrlc 2)" "1" "... after it ran on (counter > 501)"
sec finish | grep -q "exited with code 0140" ; tap_ok $? "the guest's exit (0x60) reaches gdb"
tap_eq "$vstatus" "96" "vcr run exits with the guest's status"
[ "$TAP_FAIL" = 0 ] || { echo "# gdb output:"; sed 's/^/#   /' "$tmp/out"; echo "# vcr log:"; sed 's/^/#   /' "$tmp/vcr.log"; }

# Threads on 2 vCPUs, then lldb reading registers.
gdb_start_server "$tmp/vcr2.log" "$vcr" run --no-stdin -c 2 --gdb 127.0.0.1:0 "$guest" \
    || { echo "Bail out! vcr run -c 2 --gdb did not listen"; exit 1; }
cat > "$tmp/cmds2" <<GDB
file $guest
target remote 127.0.0.1:$GDB_PORT
echo @@threads\n
info threads
thread 2
p/x \$pc
p/x \$rsp
echo @@end\n
kill
GDB
gdb_run_cmds "$tmp/cmds2" "$tmp/out2"
gdb_stop_server
n=$(gdb_section "$tmp/out2" threads | grep -c "Thread [12] (vCPU")
tap_eq "$n" "2" "info threads lists every vCPU"
gdb_section "$tmp/out2" threads | grep -q "Switching to thread 2" && \
    [ "$(gdb_section "$tmp/out2" threads | sed -n 's/^\$1 = //p')" = "$entry" ] ; tap_ok $? "thread 2 shows vCPU 1's registers"
[ "$TAP_FAIL" = 0 ] || { echo "# gdb output:"; sed 's/^/#   /' "$tmp/out2"; }

if command -v lldb >/dev/null; then
    gdb_start_server "$tmp/vcr3.log" "$vcr" run --no-stdin --gdb 127.0.0.1:0 "$guest" \
        || { echo "Bail out! vcr run --gdb did not listen"; exit 1; }
    timeout 60 lldb -b -o "gdb-remote 127.0.0.1:$GDB_PORT" -o "register read rip" \
        -o "register read rax" -o "kill" "$guest" >"$tmp/lldb" 2>&1
    lstatus=$?
    gdb_stop_server
    grep -q "rip = $(printf '0x%016x' $((entry)))" "$tmp/lldb" ; tap_ok $? "lldb gdb-remote reads rip"
    grep -q "rax = " "$tmp/lldb" ; tap_ok $? "lldb reads rax"
    [ "$lstatus" = 0 ] && ! grep -q "failed to send" "$tmp/lldb" ; tap_ok $? "lldb kill ends the session cleanly (lldb exit $lstatus)"
    [ "$TAP_FAIL" = 0 ] || sed 's/^/#   /' "$tmp/lldb"
else
    echo "ok 24 # SKIP no lldb"; echo "ok 25 # SKIP no lldb"; echo "ok 26 # SKIP no lldb"
fi
exit $TAP_FAIL
