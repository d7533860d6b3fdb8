#!/bin/bash
# tests/peer/kvm-unit-tests.sh: a peer's test suite on vcr's VMM, side by side
# with QEMU (docs/testing.md, "A peer's test suite").
#
#   tests/peer/kvm-unit-tests.sh [--build DIR] [--subset ci|all] [--nested|--here]
#                                [--l1-smp N] [--timeout S|cfg] [--work DIR]
#                                [--no-qemu] [--no-record]
#                                [--build-only] [--report-only] [TEST...]
#
# 1. Builds kvm-unit-tests from the shared, unmodified upstream tarball into
#    BUILD/peer/ (never into the repository), on this machine.
# 2. Reads its x86/unittests.cfg and, for every default x86_64 test (or the
#    CI subset, or the TESTs named), on KVM (this machine's /dev/kvm with
#    --here, the default when it exists; in one nested boot with --nested):
#      - `vcr run` with the cfg's smp, memory and test arguments translated,
#        the test's environment file as the multiboot module, isa-debug-exit;
#      - when that passed, `vcr run --record` the same, then `vcr replay --verify`;
#      - the suite's own `./x86/run` (QEMU -accel kvm) with the same
#        environment file, as the reference.
#    A test needing what vcr's machine does not have, or whose cfg `check =`
#    fails on this host (a kvm.ko parameter: "needs kvm.P=V", as the suite's
#    run_tests.sh skips it), is "not runnable: needs X" (never run, never a
#    pass); --nested loads L1's kvm.ko with the parameters the selected
#    tests' checks ask for. One asking for more vCPUs than vcr gives it
#    runs on what vcr gives, and its PASS is counted apart ("PASS/1cpu").
#    Results are written test by test, so a nested boot that dies leaves the
#    finished ones (and the rest reported as not run).
# 3. Prints the table: test, smp, QEMU's verdict, vcr's, vcr's recorded,
#    the replay's (identical, or the first divergence), and the totals.
#
# Timeouts (--timeout), per run of a test, QEMU's and vcr's alike: `cfg`
# (the default for the whole suite) gives each test its unittests.cfg
# `timeout =`, else 90 s, as the suite's own run_tests.sh does; S seconds
# (the default for the CI subset: 60) caps them (a cfg timeout that is
# shorter wins); cfgxK gives each K times its cfg timeout (a slow host:
# in nested L1 under TCG apic.flat's NMI tests took about 220 s, where the
# cfg gives x2apic 30). The recorded run and the replay get three times the
# test's timeout: what a recording costs is not the test's (periodic memory
# checkpoints: sieve rewrites 100 MB a round; recorded in nested L1 it took
# 3.8 times its plain run before the checkpoints' time-share budget, 1.36
# times with it, 159 s of its 180); the REC/RUN column shows that cost.
#
# Verdicts are the test's own: its isa-debug-exit code (0 PASS, 77 SKIP, else
# FAIL), TIMEOUT when it did not end in time, CRASH when the VMM ended it
# (triple fault, internal error...), NOEXIT when it stopped without the exit
# port. Status: 1 when the suite cannot be built or run, or when a test that
# passes under vcr does not pass when recorded or its trace cannot be replayed
# at all; with --subset ci also when a runnable test QEMU passes does not pass
# under vcr. Otherwise 0: the report is the result.
set -u
root=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${VCR_BUILD:-$root/build}
tarball=${KUT_TARBALL:-$root/../shared/peers/kvm-unit-tests-1da1819e.tar.gz}
[ -f "$tarball" ] || tarball=/work/shared/peers/kvm-unit-tests-1da1819e.tar.gz
machine=${VCR_PEER_MACHINE:-pc}
subset=all where= l1_smp=1 tmo= work= use_qemu=1 use_record=1 run_only= build_only= report_only= names=()
# The CI subset, bounded (tests/kvm/peer_subset.sh runs it on both KVM
# flavours; in nested L1 each test takes 30-40 s, most of it QEMU's start):
# the CPUID exit (vmexit_cpuid), SMP through INIT/SIPI (smptest), the
# in-kernel IOAPIC with pc-testdev's IRQ lines, x2APIC and 4 vCPUs
# (ioapic), hypercalls (hypercall), and two not runnable. realmode is not
# in it: on nested kvm_amd it triple-faults after its sti test in about
# half the runs under vcr (plain or recorded), a bug not yet found.
ci_tests=(vmexit_cpuid smptest ioapic hypercall vmx hyperv_synic)

while [ $# -gt 0 ]; do
    case $1 in
    --build) build=$(cd "$2" && pwd); shift 2 ;;
    --subset) subset=$2; shift 2 ;;
    --nested) where=nested; shift ;;
    --l1-smp) l1_smp=$2; shift 2 ;;
    --here) where=here; shift ;;
    --timeout) tmo=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --no-qemu) use_qemu=; shift ;;
    --no-record) use_record=; shift ;;
    --run-only) run_only=1; shift ;;   # internal: the KVM side, suite built
    --build-only) build_only=1; shift ;; # build the suite and its environment file, run nothing
    --report-only) report_only=1; shift ;; # the table of the results already in --work
    -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "$0: unknown option $1" >&2; exit 2 ;;
    *) names+=("$1"); shift ;;
    esac
done
case $tmo in
"") [ "$subset" = ci ] && tmo=60 || tmo=cfg ;;
cfg) ;;
cfgx[1-9]|cfgx[1-9][0-9]) ;;
*[!0-9]*|0) echo "$0: --timeout needs seconds, cfg or cfgxK (K 1..99), not '$tmo'" >&2; exit 2 ;;
esac
vcr=${VCR:-$build/vcr}
[ -n "$work" ] || work=$build/peer
work=$(mkdir -p "$work" && cd "$work" && pwd)
kut=$work/kvm-unit-tests
res=$work/results
[ "$subset" = ci ] && [ ${#names[@]} -eq 0 ] && names=("${ci_tests[@]}")

# ---------------------------------------------------------------- build
build_suite() {
    local stamp=$work/.built-$(basename "$tarball")
    [ -f "$stamp" ] && [ -f "$kut/x86/dummy.flat" ] && return 0
    rm -rf "$kut" && mkdir -p "$kut" || return 1
    tar -xzf "$tarball" -C "$kut" --strip-components=1 || return 1
    (cd "$kut" && ./configure --arch=x86_64 >"$work/configure.log" 2>&1 &&
        make -j2 >"$work/make.log" 2>&1) || {
        echo "# kvm-unit-tests build failed:"; tail -20 "$work/make.log" | sed 's/^/#   /'
        return 1; }
    touch "$stamp"
}

# The environment file both VMMs hand the tests (multiboot module / -initrd),
# made by the suite's own scripts exactly as its runner makes it.
make_env() {
    [ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd 2>/dev/null
    # Its functions' statuses are not meant to be chained (a last test
    # that fails): the file's content is what counts.
    (cd "$kut" && source config.mak && source scripts/arch-run.bash &&
        source scripts/vmm.bash && ACCEL=kvm && KVM_UNIT_TESTS_ENV=$work/env &&
        : >"$KVM_UNIT_TESTS_ENV" && { env_params; env_file; env_errata; }) >/dev/null 2>&1
    grep -q '^KERNEL_VERSION=' "$work/env"
}

# ---------------------------------------------------------------- the cfg
# One line per test: name|file|smp|qemu_params|test_args|arch|groups|accel|timeout|check
parse_cfg() {
    awk '
    function flush() { if (name != "") print name "|" f["file"] "|" f["smp"] "|" f["qemu_params"] "|" f["test_args"] "|" f["arch"] "|" f["groups"] "|" f["accel"] "|" f["timeout"] "|" f["check"] }
    /^\[.*\]$/ { flush(); name = substr($0, 2, length($0) - 2); split("", f); next }
    /^[a-z_]+ *=/ { k = $0; sub(/ *=.*/, "", k); v = $0; sub(/^[a-z_]+ *= */, "", v)
                    if (k != "test_args") gsub(/^"|"$/, "", v)
                    gsub(/\|/, " ", v); f[k] = v }
    END { flush() }' "$kut/x86/unittests.cfg"
}

vcr_has() { "$vcr" run --help 2>&1 | grep -q -e "$1"; }

# What vcr lacks for this test: sets why ("" when runnable), vmem (MiB), vextra.
needs() {
    local file=$1 qp=$2 check=$3 t
    why= vmem=128 vextra=()
    case "$file" in
    vmx*.flat) why="nested VMX"; return ;;
    svm*.flat) why="nested SVM"; return ;;
    s3.flat) why="ACPI S3 (the RSDP/FADT and PM1 registers, suspend to RAM and wake)"; return ;;
    esac
    case "$qp" in
    *+vmx*) why="nested VMX"; return ;;
    *+svm*) why="nested SVM"; return ;;
    *hyperv-testdev*) why="hyperv-testdev (QEMU's test device for SynIC message and event connections)"; return ;;
    *hv_passthrough*|*hv-passthrough*)
        # KVM's Hyper-V emulation (vcr's --cpuid ...,hv-passthrough), where
        # this host's KVM has it: probed once with our hv32 guest.
        [ -n "${hv_here:-}" ] || {
            timeout 60 "$vcr" run --no-stdin --machine pc --cpuid host,hv-passthrough \
                "$build/tests/guests/hv32.elf" >/dev/null 2>"$work/hv-probe.err" </dev/null
            grep -q 'does not emulate Hyper-V' "$work/hv-probe.err" && hv_here=no || hv_here=yes
        }
        [ "$hv_here" = yes ] || { why="Hyper-V emulation in KVM (this host's has none)"; return; } ;;
    *hv_*|*hyperv*) why="Hyper-V enlightenments one by one (vcr offers hv-passthrough only)"; return ;;
    *intel-iommu*) why="an IOMMU (intel-iommu, q35, interrupt remapping)"; return ;;
    esac
    # -machine pit=off (vmexit_ipi) keeps QEMU's PIT quiet for a timing
    # test that never programs it: vcr's pc keeps its PIT, which stays idle.
    # -m N[g]
    t=$(grep -oE -- '-m [0-9]+[gGmM]?' <<<"$qp" | head -1 | awk '{print $2}')
    if [ -n "$t" ]; then
        case $t in *[gG]) vmem=$(( ${t%?} * 1024 )) ;; *[mM]) vmem=${t%?} ;; *) vmem=$t ;; esac
        [ "$vmem" -gt 3072 ] && { why="more than 3 GiB of RAM (-m $t)"; return; }
    fi
    # -cpu MODEL,flags: host and max are KVM's CPUID, which vcr gives too.
    t=$(grep -oE -- '-cpu [^ ]+' <<<"$qp" | head -1 | awk '{print $2}')
    if [ -n "$t" ]; then
        case ,$t, in *,phys-bits=*) why="a smaller MAXPHYADDR (-cpu $t)"; return ;; esac
        # host-phys-bits and migratable=no are what vcr gives anyway.
        local spec
        spec=$(sed -E 's/,(host-phys-bits|migratable=no)(,|$)/\2/g' <<<"$t")
        case $spec in
        host|max) ;;
        *) if vcr_has "--cpuid"; then vextra+=(--cpuid "$spec")
           else why="CPUID as QEMU's -cpu $t (a --cpuid option)"; return; fi ;;
        esac
    fi
    case "$qp" in *kernel-irqchip=split*) why="a split irqchip (userspace IOAPIC)"; return ;; esac
    # Then the cfg's `check = PATH=VALUE ...`, as the suite's run_tests.sh reads
    # them (scripts/runtime.bash): the host KVM's parameters (or other
    # files) a test needs; one that differs makes the test not runnable
    # under QEMU and vcr alike (the nested boot loads kvm.ko with the kvm
    # ones: kvm_params).
    for t in $check; do
        local path=${t%%=*} value=${t#*=} have
        have=$(cat "$path" 2>/dev/null) || have="(absent)"
        [ "$have" = "$value" ] && continue
        case $path in
        /sys/module/*/parameters/*)
            t=${path#/sys/module/}; t=${t%%/*}.${path##*/}
            why="$t=$value (the host's is $have)" ;;
        *) why="$path=$value (it is $have)" ;;
        esac
        return
    done
}

. "$root/tests/peer/verdict.inc"

# A test's arguments as the suite's runner gives them: the cfg's test_args
# are shell words (quoted: 'cpuid', "10000000 `date +%s`"), which its
# run_tests.sh evaluates at each run; ./x86/run's eval does the same for
# QEMU below, this for vcr. No globbing ("ept_access*").
shell_args() { set -f; eval "set -- $1"; printf '%s' "$*"; }

# The output's verdict hint when it printed nothing at all.
silent() { [ -s "$1" ] || echo "/silent"; }

run_one() {
    local name=$1 file=$2 smp=$3 qp=$4 args=$5 ttmo=$6 check=$7 n d base=$res/$1
    local cpus=${smp:-1} st mach=()
    rm -f "$base".*
    needs "$file" "$qp" "$check"
    if [ -n "$why" ]; then
        echo "not runnable: needs $why" >"$base.why"
        echo done >"$base.done"
        return
    fi
    # The pc machine (in-kernel irqchip, PIT, LAPICs: SMP through INIT/SIPI,
    # fw_cfg, pc-testdev with its IRQ lines) is QEMU's pc as these tests
    # know it; VCR_PEER_MACHINE=bare runs them on the bare machine instead,
    # where APs cannot be started: one vCPU, counted apart.
    [ "$machine" = pc ] && mach=(--machine pc)
    [ "$machine" = pc ] || { [ "$cpus" -gt 1 ] && { echo "$cpus" >"$base.wanted"; cpus=1; }; }
    local vargs=(--no-stdin --isa-debug-exit --module "$work/env" -m "${vmem}M" -c "$cpus"
                 "${mach[@]}" "${vextra[@]}")
    local t0 t1 t2 cl=()
    t0=$(date +%s%N)
    echo vcr >"$base.stage"
    [ -n "$args" ] && cl=(--cmdline "$(shell_args "$args")")
    timeout -k 5 "$ttmo" "$vcr" run "${vargs[@]}" "${cl[@]}" "$kut/x86/$file" \
        >"$base.vcr.out" 2>"$base.vcr.err"
    st=$?; t1=$(date +%s%N)
    echo "$(vcr_verdict $st "$base.vcr.err")$(silent "$base.vcr.out") $st" >"$base.vcr"
    # Recorded only when it passed: what a recording must show is that a
    # pass stays a pass and its trace replays (or where it diverges).
    if [ -n "$use_record" ] && [ "$(cut -d' ' -f1 "$base.vcr")" = PASS ]; then
        echo rec >"$base.stage"
        [ -n "$args" ] && cl=(--cmdline "$(shell_args "$args")")
        timeout -k 5 $((ttmo * 3)) "$vcr" run --record "$base.trace" "${vargs[@]}" "${cl[@]}" \
            "$kut/x86/$file" \
            >"$base.rec.out" 2>"$base.rec.err"
        st=$?; t2=$(date +%s%N)
        echo "$(vcr_verdict $st "$base.rec.err")$(silent "$base.rec.out") $st" >"$base.rec"
        if [ -s "$base.trace" ]; then
            # The figures: exits, file bytes, plain and recorded wall time.
            local js ex fs
            js=$("$vcr" stats --json "$base.trace" 2>/dev/null)
            ex=$(grep -o '"exits":[0-9]*' <<<"$js" | head -1 | cut -d: -f2)
            fs=$(grep -o '"file_size":[0-9]*' <<<"$js" | head -1 | cut -d: -f2)
            echo "${ex:-0} ${fs:-0} $((t1 - t0)) $((t2 - t1))" >"$base.fig"

            echo rep >"$base.stage"
            timeout -k 5 $((ttmo * 3)) "$vcr" replay --verify "$base.trace" >"$base.rep.out" 2>&1
            st=$?
            case $st in
            0) echo "identical" ;;
            1) echo "diverged: $(grep -m1 -iE 'diverg|differ|mismatch' "$base.rep.out" | cut -c1-100)" ;;
            124|137) echo "replay timed out" ;;
            *) echo "could not replay ($st): $(tail -1 "$base.rep.out" | cut -c1-80)" ;;
            esac >"$base.rep"
            rm -f "$base.trace"   # big; the verdict is what we keep
        else
            echo "no trace" >"$base.rep"
        fi
    fi
    if [ -n "$use_qemu" ]; then
        echo qemu >"$base.stage"
        n=$smp; [ -z "$n" ] && n=1
        (cd "$kut" && eval "ENVIRON_DEFAULT=no KVM_UNIT_TESTS_ENV='$work/env' TIMEOUT=${ttmo}s \
            ./x86/run x86/$file -smp $n $qp ${args:+-append \"\$(shell_args \"\$args\")\"}" \
            >"$base.qemu.out" 2>"$base.qemu.err" </dev/null)
        st=$?; echo "$(qemu_verdict $st)$(silent "$base.qemu.out") $st" >"$base.qemu"
    fi
    d=done; echo "$d" >"$base.done"
}

# The tests to run: default x86_64 ones (or those named).
select_tests() {
    local name file smp qp args arch groups accel ttmo check
    while IFS='|' read -r name file smp qp args arch groups accel ttmo check; do
        if [ ${#names[@]} -gt 0 ]; then
            local hit=
            for n in "${names[@]}"; do [ "$n" = "$name" ] && hit=1; done
            [ -n "$hit" ] || continue
        else
            [ -n "$arch" ] && [ "$arch" != x86_64 ] && continue
            case " $groups " in *" nodefault "*) continue ;; esac
            [ -n "$accel" ] && [ "$accel" != kvm ] && continue
        fi
        echo "$name|$file|$smp|$qp|$args|$ttmo|$check"
    done < <(parse_cfg)
}

# A test's timeout in seconds, from its cfg `timeout =` (ttmo: "180",
# "90s"; empty when it has none) and --timeout.
test_timeout() {
    local c=${1%s}
    case $c in ""|*[!0-9]*|0) c=90 ;; esac   # run_tests.sh's default
    case $tmo in
    cfg) echo "$c" ;;
    cfgx*) echo $((c * ${tmo#cfgx})) ;;
    *) if [ "$c" -lt "$tmo" ]; then echo "$c"; else echo "$tmo"; fi ;;
    esac
}

run_all() {
    [ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd 2>/dev/null
    local name file smp qp args ttmo check
    while IFS='|' read -r name file smp qp args ttmo check; do
        local t
        t=$(test_timeout "$ttmo")
        [ -f "$res/$name.done" ] && continue   # a boot before this one ran it
        run_one "$name" "$file" "$smp" "$qp" "$args" "$t" "$check" </dev/null
        echo "# ran $name" >&2
    done <"$work/selected"
}

if [ -n "$run_only" ]; then
    run_all
    exit 0
fi

# ---------------------------------------------------------------- main
if [ -n "$report_only" ]; then
    [ -s "$work/selected" ] || { echo "$0: no earlier run in $work"; exit 1; }
else
[ -x "$vcr" ] || { echo "$0: no vcr at $vcr (make first)"; exit 1; }
[ -f "$tarball" ] || { echo "$0: no suite tarball at $tarball"; [ -n "$build_only" ] && exit 0; exit 1; }
mkdir -p "$work" "$res" || exit 1
build_suite || exit 1
make_env && [ -s "$work/env" ] || { echo "$0: cannot make the tests' environment file"; exit 1; }
[ -n "$build_only" ] && { echo "# kvm-unit-tests built in $kut"; exit 0; }
select_tests >"$work/selected"
[ -s "$work/selected" ] || { echo "$0: no test selected"; exit 1; }
command -v qemu-system-x86_64 >/dev/null || { use_qemu=; echo "# no qemu-system-x86_64: no reference"; }
while IFS='|' read -r name _; do rm -f "$res/$name".*; done <"$work/selected"

[ -z "$where" ] && { [ -w /dev/kvm ] && where=here || where=nested; }
self=("$0" --build "$build" --work "$work" --timeout "$tmo" --run-only)
[ -z "$use_qemu" ] && self+=(--no-qemu)
[ -z "$use_record" ] && self+=(--no-record)
case $where in
here) run_all ;;
nested)
    # One boot for every test; the per-test files survive an L1 that dies.
    # A run that kills L1 (QEMU's emulator.flat makes the L0 QEMU abort:
    # NESTED-KVM.md) is reported as such ("L1 died" in the column of the
    # run it was in), and the next boot goes on with the tests after it.
    : >"$work/nested.log"
    # L1's kvm.ko gets the parameters the selected tests' cfg checks ask
    # for (/sys/module/kvm/parameters/P=V: enable_vmware_backdoor=Y for
    # vmware_backdoors, read-only once loaded; the others are kvm.ko's
    # defaults), the first value of each.
    kvm_params=() seen=" "
    while IFS='|' read -r _ _ _ _ _ _ check; do
        for t in $check; do
            case $t in /sys/module/kvm/parameters/*=*) ;; *) continue ;; esac
            t=${t#/sys/module/kvm/parameters/}
            case $seen in *" ${t%%=*} "*) continue ;; esac
            seen+="${t%%=*} " kvm_params+=(--kvm-param "$t")
        done
    done <"$work/selected"
    [ ${#kvm_params[@]} -gt 0 ] && echo "# L1's kvm.ko with ${kvm_params[*]}"
    for boot in 1 2 3 4 5; do
        # The boot's bound: each test's timeout left to run, eight times
        # (plain, QEMU, and the recorded run's and the replay's three).
        ntests=0 tsum=0
        while IFS='|' read -r name _ _ _ _ ttmo _; do
            [ -f "$res/$name.done" ] && continue
            ntests=$((ntests + 1)) tsum=$((tsum + $(test_timeout "$ttmo")))
        done <"$work/selected"
        [ "$ntests" -gt 0 ] || break
        "$root/tests/nested/kvm-run" --nested --rw "$work" --boot-timeout 300 --smp "$l1_smp" "${kvm_params[@]}" \
            --timeout $(( tsum * 8 + 120 )) -- "${self[@]}" >>"$work/nested.log" 2>&1
        echo "# nested boot $boot: status $? (log: $work/nested.log)"
        died=
        while IFS='|' read -r name _; do
            [ -f "$res/$name.done" ] && continue
            [ -f "$res/$name.stage" ] && died=$name
            break
        done <"$work/selected"
        [ -n "$died" ] || break          # the boot itself failed: stop
        stage=$(cat "$res/$died.stage")
        echo "L1DIED" >"$res/$died.$stage"
        [ "$stage" = rec ] && echo "not replayed (L1 died recording)" >"$res/$died.rep"
        [ "$stage" = rep ] && echo "L1 died replaying" >"$res/$died.rep"
        echo done >"$res/$died.done"
        echo "# $died: L1 died during its $stage run; booting again for the rest"
    done
    ;;
esac

fi

# ---------------------------------------------------------------- report
status=0
declare -A count
printf '%-28s %-4s %-16s %-16s %-16s %8s %7s %6s  %s\n' TEST SMP QEMU VCR "VCR --record" \
    EXITS B/EXIT REC/RUN "REPLAY --verify"
fig_ex=0 fig_fs=0 fig_plain=0 fig_rec=0
while IFS='|' read -r name file smp qp args ttmo _; do
    b=$res/$name q=- v=- r=- p=-
    [ -f "$b.qemu" ] && q=$(cut -d' ' -f1 "$b.qemu")
    # QEMU's run script ending 0 with no output at all ran nothing (a test
    # it skipped before starting QEMU): not a pass to hold vcr to.
    case $q in */silent) q="SILENT(${q%%/*})" ;; esac
    if [ -f "$b.why" ]; then
        v=$(cat "$b.why"); key="not runnable"
    elif [ ! -f "$b.done" ]; then
        v="not run (the KVM side ended first)"; key="not run"; status=1
    else
        v=$(cut -d' ' -f1 "$b.vcr")
        [ -f "$b.rec" ] && r=$(cut -d' ' -f1 "$b.rec")
        [ -f "$b.rep" ] && p=$(cat "$b.rep")
        key=${v%%/*}
        if [ -f "$b.wanted" ]; then
            [ "$key" = PASS ] && key="PASS on fewer vCPUs (apart)"
            v="$v/1cpu(of $(cat "$b.wanted"))"
        fi
        if [ "${v%%/*}" = PASS ] && [ -n "$use_record" ]; then
            [ "${r%%/*}" = PASS ] || { v="$v(!rec)"; status=1; }
            case $p in could*|"no trace") status=1 ;; esac
        fi
        if [ "$subset" = ci ] && [ "${q%%/*}" = PASS ] && [ "${v%%/*}" != PASS ] &&
            [ ! -f "$b.wanted" ]; then
            v="$v(!ci)"; status=1
        fi
    fi
    count[$key]=$(( ${count[$key]:-0} + 1 ))
    [ -n "$q" ] && count["qemu ${q%%/*}"]=$(( ${count["qemu ${q%%/*}"]:-0} + 1 ))
    fe=- fb=- fr=-
    if [ -s "$b.fig" ] && read -r ex fs tp tr <"$b.fig" && [ "${ex:-0}" -gt 0 ] 2>/dev/null; then
        fe=$ex fb=$(awk -v f="$fs" -v e="$ex" 'BEGIN { printf "%.1f", f / e }')
        fr=$(awk -v a="$tr" -v b="$tp" 'BEGIN { printf "%.2f", a / b }')
        fig_ex=$((fig_ex + ex)) fig_fs=$((fig_fs + fs))
        fig_plain=$((fig_plain + tp)) fig_rec=$((fig_rec + tr))
    fi
    printf '%-28s %-4s %-16s %-16s %-16s %8s %7s %6s  %s\n' "$name" "${smp:-1}" "$q" "$v" "$r" \
        "$fe" "$fb" "$fr" "$p"
done <"$work/selected"
echo
for k in "${!count[@]}"; do echo "# $k: ${count[$k]}"; done | sort
# Across the recorded tests (each recorded once, after its plain run):
if [ "$fig_ex" -gt 0 ]; then
    echo "peer_exits_recorded $fig_ex exits"
    awk -v f="$fig_fs" -v e="$fig_ex" 'BEGIN { printf "peer_trace_bytes_per_exit %.2f bytes\n", f / e }'
    awk -v a="$fig_rec" -v b="$fig_plain" \
        'BEGIN { printf "peer_record_slowdown %.3f (recorded / plain wall time, summed)\n", a / b }'
fi
exit $status
