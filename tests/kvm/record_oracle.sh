#!/bin/bash
# record_oracle: the differential oracle (docs/testing.md). vcr's own VMM,
# run with --oracle-log, logs KVM_GET_REGS / KVM_GET_SREGS /
# KVM_GET_VCPU_EVENTS after every exit (recorder/oracle.h); recorded from
# outside by `vcr record`, the same run's trace must hold that state, field
# by field, at every exit (tests/tools/oracle_check):
#   - preload backend on the dynamic vcr, seccomp backend on build/vcr-static
#     (picked by --backend auto, which must see it is static), for three
#     guests: mbcalc32 (multiboot, port exits), count64 (long mode, port and
#     MMIO exits), smp64 on 2 vCPUs (per-vCPU streams);
#   - vcr run's own --record beside --oracle-log agrees with the log too;
#   - the checker is not blind: a log against another guest's trace differs;
#   - --backend auto leaves a dynamic executable to preload.
# vcr-static missing (no static libc/libzstd, sanitizer build): those points
# skip, saying why.
set -u
ROOT=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${VCR_BUILD:-$ROOT/build}
VCR=${VCR:-$BUILD/vcr}
STATIC=$BUILD/vcr-static
CHECK=$BUILD/tests/tools/oracle_check
g=$BUILD/tests/guests
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# An ASan vcr runs with libvcr-preload.so preloaded ahead of the runtime.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0

echo "1..10"
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
skip() { n=$((n + 1)); echo "ok $n - # SKIP $1"; }

# name, status the guest exits with, vcr run arguments
guests=("mbcalc32 52 $g/mbcalc32.bin" "count64 64 $g/count64.elf" "smp64 82 -c 2 $g/smp64.elf")

# oracle BACKEND EXE NAME STATUS ARGS...: record EXE run ARGS under BACKEND,
# compare trace and log; prints the checker's line.
oracle() {
	local be=$1 exe=$2 name=$3 want=$4; shift 4
	timeout 120 "$VCR" record --backend "$be" -o "$T/$name-$be.vcr" -- \
		"$exe" run --no-stdin --oracle-log "$T/$name-$be.log" "$@" \
		> "$T/$name-$be.out" 2> "$T/$name-$be.err" < /dev/null
	local s=$?
	if [ "$s" != "$want" ]; then
		echo "vcr record exited $s, want $want: $(tail -3 "$T/$name-$be.err" | tr '\n' ' ')"
		return 1
	fi
	"$CHECK" "$T/$name-$be.log" "$T/$name-$be.vcr"
}

for gs in "${guests[@]}"; do
	set -- $gs
	name=$1 want=$2; shift 2
	got=$(oracle preload "$VCR" "$name" "$want" "$@")
	ok $? "preload, dynamic vcr run: $name: trace = oracle log at every exit ($got)"
done

static_why=
if [ ! -x "$STATIC" ]; then
	static_why="no $STATIC (static linking impossible here, or a sanitizer build)"
elif ! "$VCR" record --backend auto -o "$T/auto.vcr" -- "$STATIC" --help \
		> /dev/null 2> "$T/auto.err" < /dev/null; then
	static_why="vcr-static does not run: $(tail -1 "$T/auto.err")"
fi
if [ -z "$static_why" ]; then
	grep -q "static executable: backend seccomp" "$T/auto.err"
	ok $? "--backend auto: vcr-static is static, so seccomp ($(grep -o 'is .*' "$T/auto.err" | head -1))"
	for gs in "${guests[@]}"; do
		set -- $gs
		name=$1 want=$2; shift 2
		got=$(oracle auto "$STATIC" "$name" "$want" "$@")
		r=$?
		"$VCR" stats "$T/$name-auto.vcr" 2>&1 | grep -q "backend=seccomp" || r=1
		ok $r "seccomp, static vcr run: $name: trace = oracle log at every exit, header backend=seccomp ($got)"
	done
else
	skip "--backend auto on vcr-static: $static_why"
	for gs in "${guests[@]}"; do skip "seccomp on vcr-static, ${gs%% *}: $static_why"; done
fi

timeout 60 "$VCR" run --no-stdin --record "$T/self.vcr" --oracle-log "$T/self.log" "$g/count64.elf" \
	> /dev/null 2> "$T/self.err" < /dev/null
s=$?
got=$("$CHECK" "$T/self.log" "$T/self.vcr")
r=$?
[ "$s" = 64 ] && [ "$r" = 0 ]
ok $? "vcr run --record beside --oracle-log: its own trace = the log (status $s; $got)"

got=$("$CHECK" "$T/mbcalc32-preload.log" "$T/count64-preload.vcr")
r=$?
[ "$r" = 1 ]
ok $? "the checker sees a difference: mbcalc32's log against count64's trace (status $r: ${got:0:160})"

"$VCR" record --backend auto -o "$T/auto2.vcr" -- "$VCR" --help > /dev/null 2> "$T/auto2.err" < /dev/null
grep -q "dynamically linked: backend preload" "$T/auto2.err"
ok $? "--backend auto: the dynamic vcr goes to preload"
