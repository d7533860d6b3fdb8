#!/bin/bash
# Self-test of tests/nested/kvm-run (TAP), run by tests/run as a host test.
# Two boots: a batch (statuses 0-255, signals, timeout, output, environment,
# working directory, writes back to L0) and a single command serving a TCP
# port that a client here reaches through --forward.
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

echo 1..16
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
EOF
KVM_RUN_TEST_VAR='a b $c "d"' "$K" --timeout 5 --batch batch --results res >harness.log 2>&1
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
is "$(cut -f1,2 res/summary.tsv | tr '\t\n' ': ')" "1:0 2:1 3:255 4:139 5:0 6:0 7:0 8:0 9:0 10:timeout 11:0 " \
    "batch: summary.tsv lists every command"
grep -q "\[10/11\] TIMEOUT" harness.log
ok $? "batch: the timeout is reported on its line"
exec 2>&3 3>&-
if [ $failed = 1 ]; then
    echo "# kvm-run said:"
    sed 's/^/#   /' harness.log | tail -n 30
fi

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
exit $failed
