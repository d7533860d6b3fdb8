#!/bin/bash
# Self-test of tests/nested/kvm-run (TAP), run by tests/run as a host test.
# Two boots: a batch (statuses 0-255, signals, timeout, output, environment,
# working directory, writes back to L0, a kvm.ko parameter by --kvm-param) and a single command serving a TCP
# port that a client here reaches through --forward. Then tests/run's KVM
# flavours: selection (--flavour, VCR_KVM_FLAVOURS), the report format, and
# its grading of tests/kvm/known-failures entries (XFAIL, stale entries).
set -u
here=$(cd "$(dirname "$0")" && pwd)
K=${VCR_KVM_RUN:-$here/kvm-run}
py=/usr/bin/python3
[ -x $py ] || py=python3

n=0
failed=0
ok() {
    n=$((n + 1))
    if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi
}
is() {  # got want description
    [ "$1" = "$2" ]
    ok $? "$3"
    [ "$1" = "$2" ] || echo "#   expected '$2', got '$1'"
}

echo 1..31
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1     # a working directory under /tmp is writable in L1

cat >batch <<'EOF'
# comments and blank lines are not commands

exit 0
exit 1
exit 255
sh -c 'kill -SEGV $$'
echo to-stdout; echo to-stderr >&2
test -c /dev/kvm && test -w /dev/kvm
printf '%s' "$KVM_RUN_TEST_VAR"
pwd
echo written-in-l1 >from-l1.txt
sleep 60
echo still-running
cat /sys/module/kvm/parameters/enable_vmware_backdoor
EOF
KVM_RUN_TEST_VAR='a b $c "d"' "$K" --timeout 5 --kvm-param enable_vmware_backdoor=1 \
    --batch batch --results res >harness.log 2>&1
is $? 0 "batch: kvm-run exits 0 when every command ran"
exec 3>&2 2>/dev/null    # a missing result file fails its point; no cat noise
is "$(cat res/1.status res/2.status res/3.status | tr '\n' ' ')" "0 1 255 " "batch: statuses 0, 1, 255 come back"
is "$(cat res/4.status)" 139 "batch: a command killed by SIGSEGV has status 139"
is "$(cat res/5.out)/$(cat res/5.err)" "to-stdout/to-stderr" "batch: stdout and stderr kept apart"
is "$(cat res/6.status)" 0 "batch: /dev/kvm is there and writable"
is "$(cat res/7.out)" 'a b $c "d"' "batch: the caller's environment reaches the command unchanged"
is "$(cat res/8.out)" "$tmp" "batch: commands run in the caller's working directory"
is "$(cat from-l1.txt 2>/dev/null)" "written-in-l1" "batch: a file written in L1 is here"
[ -e res/10.timedout ] && [ "$(cat res/10.status)" = 124 ]
ok $? "batch: sleep 60 with --timeout 5 is stopped, status 124, marked timed out"
is "$(cat res/11.out)" "still-running" "batch: the command after a timeout still runs"
is "$(cat res/12.out)" Y "batch: --kvm-param enable_vmware_backdoor=1 reaches L1's kvm.ko"
is "$(cut -f1,2 res/summary.tsv | tr '\t\n' ': ')" "1:0 2:1 3:255 4:139 5:0 6:0 7:0 8:0 9:0 10:timeout 11:0 12:0 " \
    "batch: summary.tsv lists every command"
grep -q "\[10/12\] TIMEOUT" harness.log
ok $? "batch: the timeout is reported on its line"
exec 2>&3 3>&-
if [ $failed = 1 ]; then
    echo "# kvm-run said:"
    sed 's/^/#   /' harness.log | tail -n 30
fi

"$K" --kvm-param 'enable_vmware_backdoor=1 x' -- true >/dev/null 2>param.err
st=$?
[ $st = 125 ] && grep -q -- '--kvm-param needs NAME=VALUE' param.err
ok $? "--kvm-param that is not NAME=VALUE is refused (125) before any boot"

# Single mode and a forwarded port. The same port number on both sides, so
# that it works in direct mode too.
port=$((20000 + RANDOM % 20000))
cat >server.py <<EOF
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", $port))
s.listen(1)
print("listening", flush=True)
c, _ = s.accept()
c.sendall(b"pong:" + c.recv(64))
c.close()
print("served", flush=True)
sys.exit(42)
EOF
start=$SECONDS
"$K" --timeout 90 --forward $port:$port -- $py server.py >single.out 2>single.err &
pid=$!
reply=$($py - "$port" "$pid" <<'EOF'
import os, socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
deadline = time.time() + 90
while time.time() < deadline:
    try:
        os.kill(pid, 0)         # stop trying once kvm-run is gone
    except OSError:
        break
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=10)
        c.sendall(b"ping")
        r = c.recv(64)
        c.close()
        if r:
            print(r.decode())
            break
    except OSError:
        pass
    time.sleep(0.5)
EOF
)
is "$reply" "pong:ping" "forward: a client here reaches a server in L1 through --forward"
wait $pid
is $? 42 "single: kvm-run exits with the command's status (42)"
is "$(tr '\n' ' ' <single.out)" "listening served " "single: the command's output is streamed to stdout"
echo "# single mode with forward: $((SECONDS - start)) s"

"$K" --boot-timeout 90 --timeout 60 --total-timeout 1 -- sleep 30 >/dev/null 2>total.err
st=$?
[ $st = 125 ] && grep -q -- '--total-timeout' total.err
ok $? "an exceeded --total-timeout stops the run with status 125 and says why"
[ $st = 125 ] || { echo "#   status $st"; sed 's/^/#   /' total.err; }

# ---- tests/run: KVM flavours ------------------------------------------------
R=$(cd "$here/.." && pwd)/run
B=${VCR_BUILD:-$(cd "$here/../.." && pwd)/build}
nkvm=$(ls "$here/../kvm" | grep -c -E '\.(c|sh)$')
# This machine's flavour, found here independently of tests/run.
direct=
if (exec 3<>/dev/kvm) 2>/dev/null; then
    direct=direct-kvm
    for m in kvm_pvm kvm_intel kvm_amd; do
        [ -d /sys/module/$m ] && { direct=direct-$m; break; }
    done
fi
echo "# direct flavour here: ${direct:-none}"
"$R" --build "$B" --kvm --list --flavour nested >list.n 2>&1
is "$(grep -c '^kvm   \[nested-kvm_amd\] ' list.n)/$(wc -l <list.n)" "$nkvm/$nkvm" \
    "run --flavour nested: each KVM test once, as [nested-kvm_amd]"
VCR_KVM_FLAVOURS=nested "$R" --build "$B" --kvm --list >list.e 2>&1
cmp -s list.n list.e
ok $? "run: VCR_KVM_FLAVOURS=nested selects as --flavour nested does"
"$R" --build "$B" --list --flavour bogus >/dev/null 2>bogus.err
st=$?
[ $st = 2 ] && grep -q "flavour must be nested, direct or all" bogus.err
ok $? "run --flavour bogus: refused (status 2, says why)"
if [ -n "$direct" ]; then
    "$R" --build "$B" --kvm --list --flavour direct >list.d 2>&1
    is "$(grep -c "^kvm   \[$direct\] " list.d)/$(wc -l <list.d)" "$nkvm/$nkvm" \
        "run --flavour direct: each KVM test once, as [$direct]"
    "$R" --build "$B" --kvm --list --flavour all >list.a 2>&1
    is "$(sort list.a | tr '\n' '|')" "$(cat list.n list.d | sort | tr '\n' '|')" \
        "run --flavour all: both flavours where both exist"
    "$R" --build "$B" --kvm --flavour direct sync_regs_test >sync.out 2>&1
    st=$?
    np=$(grep -c "^PASS \[$direct\] ${B#"$(cd "$here/../.." && pwd)/"}/tests/kvm/sync_regs_test: " sync.out)
    [ $st = 0 ] && [ "$np" -gt 0 ] &&
        grep -qx "# flavour $direct: $np passed, 0 failed, 0 xfail, 0 skipped, [0-9.]* s" sync.out &&
        grep -qx "$np passed, 0 failed" sync.out
    ok $? "run --flavour direct: 'PASS [$direct] FILE: ...' lines, the flavour's summary, the last line"
    [ $st = 0 ] || sed 's/^/#   /' sync.out | tail -n 20
else
    for d in "--flavour direct lists" "--flavour all lists" "--flavour direct runs"; do
        n=$((n + 1)); echo "ok $n # SKIP $d: no /dev/kvm here"
    done
fi

# Grading, on made-up output (tests/run loaded as a module).
cat >known <<'EOF2'
# comment
direct-x* tests/kvm/t.sh "second point" a bug
direct-x* tests/kvm/t.sh "no such point" fixed long ago
nested-* tests/kvm/t.sh "first" only nested
not a valid line
EOF2
cat >grade.py <<'EOF2'
import importlib.machinery, importlib.util, sys
loader = importlib.machinery.SourceFileLoader("tests_run", sys.argv[1])
spec = importlib.util.spec_from_loader("tests_run", loader)
r = importlib.util.module_from_spec(spec)
loader.exec_module(r)
known, bad = r.load_known(sys.argv[2])
print("bad %d" % len(bad))
def case(name, stdout, status, flavour="direct-xyz"):
    t = r.Test("kvm", "tests/kvm/t.sh", ["true"], flavour=flavour)
    t.stdout, t.status = stdout, status
    r.grade(t, known)
    print("%s %d/%d/%d/%d" % (name, t.passed, t.failed, t.xfailed, t.skipped))
    for l in t.lines:
        print(name + "| " + l)
case("a", "1..3\nok 1 - first\nnot ok 2 - second point\nnot ok 3 - third\n", 1)
case("b", "1..2\nok 1 - first\nnot ok 2 - second point\n", 1)
case("c", "1..2\nok 1 - first\nok 2 - second point\n", 0)
case("d", "1..2\nnot ok 1 - first point\nnot ok 2 - second point\n", 1, flavour="nested-kvm_amd")
EOF2
$py grade.py "$R" known >grade.out 2>&1
is "$(sed -n 's/^bad //p' grade.out)" 1 "run: a malformed known-failures line is found"
is "$(sed -n 's/^a //p' grade.out)" "1/2/1/0" "run: a known failing point is XFAIL (counted apart); another failing point and the stale entry FAIL"
grep -q '^a| XFAIL \[direct-xyz\] tests/kvm/t.sh: second point (known failure, .*known:2: a bug)$' grade.out
ok $? "run: the XFAIL line names flavour, test, point, entry and reason"
grep -q '^a| FAIL \[direct-xyz\] tests/kvm/t.sh: known failure "no such point" did not fail' grade.out
ok $? "run: an entry that no longer fails is a FAIL"
is "$(sed -n 's/^b //p' grade.out)/$(grep -c '^b| FAIL .*exited with status' grade.out)" "1/1/1/0/0" \
    "run: a test failing only in known points: no extra FAIL for its status"
is "$(grep -c '^c| FAIL .*did not fail' grade.out)" 2 "run: both entries of a passing test are stale"
is "$(sed -n 's/^d //p' grade.out)" "0/1/1/0" "run: entries apply to their own flavour only"
[ $failed = 0 ] || sed 's/^/#   /' grade.out
exit $failed
