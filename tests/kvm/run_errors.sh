#!/bin/bash
# tests/kvm/run_errors.sh: bad input to `vcr run` (missing file, damaged
# ELF, too big for memory, bad options) gives a clear one-line error and exit
# status 2, and never a crash (TAP). These checks need no KVM, but they run
# where KVM is, next to the other run_* tests.
set -u
root=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${VCR_BUILD:-$root/build}
vcr=${VCR:-$build/vcr}
g=$build/tests/guests
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

n=0 failed=0
# expect DESC STDERR_REGEX -- vcr run ARGS...: status 2, message matches.
expect() {
    local desc=$1 re=$2; shift 3
    n=$((n + 1))
    timeout 60 "$vcr" run "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    local st=$?
    if [ $st = 2 ] && grep -Eq -- "$re" "$tmp/err"; then
        echo "ok $n - $desc"
    else
        failed=$((failed + 1))
        echo "not ok $n - $desc"
        echo "# status $st (want 2), stderr must match /$re/:"
        sed 's/^/#   /' "$tmp/err" | head -10
    fi
}
# patch FILE OFFSET HEXBYTES: overwrite bytes in place.
patch() { printf "$(echo "$3" | sed 's/\(..\)/\\x\1/g')" |
          dd of="$1" bs=1 seek=$(($2)) conv=notrunc status=none; }

echo "1..18"
expect "missing file" "$tmp/nope: No such file or directory" -- "$tmp/nope"
: >"$tmp/empty"
expect "empty file" "empty file" -- "$tmp/empty"
expect "a directory" "not a regular file" -- "$tmp"

head -c 100 "$g/count64.elf" >"$tmp/trunc.elf"
expect "truncated ELF: program headers outside the file" "program headers .* outside the file" -- "$tmp/trunc.elf"

cp "$g/count64.elf" "$tmp/machine.elf"; patch "$tmp/machine.elf" 18 2800	# e_machine = ARM
expect "ELF64 for another machine" "not x86-64" -- "$tmp/machine.elf"

# First program header at e_phoff (0x40 in our ELF64 files); p_offset at +8.
cp "$g/count64.elf" "$tmp/off.elf"; patch "$tmp/off.elf" $((0x40 + 8)) 00000000ff000000
expect "ELF64 segment file offset past the end" "segment 0: file bytes .* outside the file" -- "$tmp/off.elf"

cp "$g/count64.elf" "$tmp/sz.elf"; patch "$tmp/sz.elf" $((0x40 + 32)) ffffffffffffff7f	# p_filesz
expect "ELF64 segment size overflowing" "segment 0" -- "$tmp/sz.elf"

cp "$g/count64.elf" "$tmp/ph.elf"; patch "$tmp/ph.elf" 32 ffffffffffffff7f	# e_phoff
expect "ELF64 program header offset past the end" "program headers .* outside the file" -- "$tmp/ph.elf"

expect "image too big for the memory" "does not fit in 1048576 bytes" -- -m 1M "$g/count64.elf"

# pm32's multiboot header is at file offset 0x1000: ask for a video mode
# (flags 7) with a matching checksum.
cp "$g/pm32.elf" "$tmp/video.elf"; patch "$tmp/video.elf" $((0x1004)) 07000000f74f52e4
expect "multiboot kernel wanting a video mode" "requires a video mode" -- "$tmp/video.elf"

expect "--load on an ELF" "--load applies to flat images only \\(this is elf64\\)" -- --load 0x200000 "$g/count64.elf"
expect "real mode with an entry above 1 MiB" "real-mode entry 0x100000 is above 1 MiB" -- --mode real "$g/count64.elf"
expect "--ring without --record" "--ring needs --record" -- --ring 1M "$g/count64.elf"
expect "bad vCPU count" "bad vCPU count" -- -c 0 "$g/count64.elf"
expect "memory size over the limit" "memory size .* between 1 MiB and 3 GiB" -- -m 4G "$g/count64.elf"
expect "bad format name" "bad format 'coff'" -- --format coff "$g/count64.elf"
expect "checkpoint budget share out of range" "bad --mem-budget '100%'" -- --record "$tmp/b.vcr" --mem-budget 100% "$g/count64.elf"
expect "checkpoint budget given twice a share" "bad --mem-budget '5%,6%'" -- --record "$tmp/b.vcr" --mem-budget 5%,6% "$g/count64.elf"

[ $failed = 0 ]
