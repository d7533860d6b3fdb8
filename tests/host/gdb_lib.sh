# gdb_lib.sh: shared helpers of the gdb tests (sourced, not run).
#
#   gdb_start_server LOG CMD...   run CMD (a stub listening on port 0) in the
#                                 background; sets GDB_PORT from its log line
#                                 "gdbstub: waiting for gdb on HOST:PORT" and
#                                 GDB_SERVER_PID
#   gdb_run_cmds FILE OUT         gdb -batch, one -ex per line of FILE
#   gdb_section OUT NAME          the lines gdb printed between "@@NAME" and
#                                 the next "@@" marker
#   gdb_stop_server               wait for the stub (kill it after 10 s)

gdb_start_server() {
    local log=$1; shift
    "$@" 2>"$log" &
    GDB_SERVER_PID=$!
    GDB_PORT=
    for _ in $(seq 1 200); do
        GDB_PORT=$(sed -n 's/.*waiting for gdb on [^ ]*:\([0-9][0-9]*\).*/\1/p' "$log" | head -1)
        [ -n "$GDB_PORT" ] && return 0
        kill -0 "$GDB_SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "# stub did not start listening; its log:"; sed 's/^/#   /' "$log"
    return 1
}

gdb_stop_server() {
    for _ in $(seq 1 100); do
        kill -0 "$GDB_SERVER_PID" 2>/dev/null || { wait "$GDB_SERVER_PID"; return $?; }
        sleep 0.1
    done
    kill "$GDB_SERVER_PID" 2>/dev/null
    wait "$GDB_SERVER_PID"
    return 124
}

# gdb_run_cmds FILE OUT: run gdb in batch mode with each line of FILE as one
# -ex command (unlike -x, an error does not end the script: the tests check
# that some commands fail).
gdb_run_cmds() {
    local args=() l
    while IFS= read -r l; do args+=(-ex "$l"); done <"$1"
    timeout "${GDB_TIMEOUT:-60}" gdb -batch -nx "${args[@]}" >"$2" 2>&1
    echo "# gdb exit status $?"
}

gdb_section() {
    awk -v n="@@$2" '$0 == n { on = 1; next } /^@@/ { on = 0 } on' "$1"
}

# tap helpers for scripts
TAP_N=0
TAP_FAIL=0
tap_ok() {	# tap_ok COND-STATUS DESC
    TAP_N=$((TAP_N + 1))
    if [ "$1" = 0 ]; then echo "ok $TAP_N - $2"; else echo "not ok $TAP_N - $2"; TAP_FAIL=1; fi
}
tap_eq() {	# tap_eq GOT WANT DESC
    if [ "$1" = "$2" ]; then tap_ok 0 "$3"; else tap_ok 1 "$3"; echo "#   got '$1', want '$2'"; fi
}
