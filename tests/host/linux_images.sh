#!/bin/bash
# tests/host/linux_images.sh: bad Linux inputs to `vcr run` (a damaged
# bzImage, a missing / empty / too big initrd, too little memory, a command
# line too long, Linux options on other guests) exit 2 with one line naming
# the problem, before KVM is touched (no /dev/kvm needed) (TAP). The damaged
# kernels are Debian's vmlinuz with one header field patched.
set -u
root=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${VCR_BUILD:-$root/build}
vcr=${VCR:-$build/vcr}
kernel=${VCR_LINUX_KERNEL:-${VCR_CACHE:-$HOME/.cache/vcr}/kernel/vmlinuz}
g=$build/tests/guests
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

n=0 failed=0
# expect DESC STDERR_REGEX -- vcr run ARGS...: status 2, one line matching.
expect() {
    local desc=$1 re=$2; shift 3
    n=$((n + 1))
    timeout 60 "$vcr" run "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    local st=$?
    if [ $st = 2 ] && [ "$(wc -l <"$tmp/err")" = 1 ] && grep -Eq -- "$re" "$tmp/err"; then
        echo "ok $n - $desc"
    else
        failed=$((failed + 1))
        echo "not ok $n - $desc"
        echo "# status $st (want 2), stderr must be one line matching /$re/:"
        sed 's/^/#   /' "$tmp/err" | head -10
    fi
}
patch() { printf "$(echo "$3" | sed 's/\(..\)/\\x\1/g')" |
          dd of="$1" bs=1 seek=$(($2)) conv=notrunc status=none; }
damaged() { cp "$kernel" "$tmp/$1"; patch "$tmp/$1" "$2" "$3"; }

echo "1..14"
if [ ! -r "$kernel" ]; then
    echo "# no kernel at $kernel"
fi
damaged flag 0x1fe 0000
expect "boot_flag not 0xaa55" "flag: boot_flag 0, expected 0xaa55" -- "$tmp/flag"
damaged ver 0x206 0502
expect "boot protocol too old" "ver: Linux boot protocol 2.05, need 2.06" -- "$tmp/ver"
damaged xlf 0x236 0000
expect "no 64-bit entry" "xlf: no 64-bit entry point" -- "$tmp/xlf"
damaged zimg 0x211 00
expect "a zImage" "zimg: a zImage" -- "$tmp/zimg"
head -c 20000 "$kernel" >"$tmp/trunc"
expect "truncated after the setup code" "trunc: setup_sects .* leaves no kernel" -- "$tmp/trunc"
damaged flag2 0x1fe 0000
expect "--format linux on a damaged image" "flag2: boot_flag 0" -- --format linux "$tmp/flag2"
expect "--kernel of an ELF" "count64.elf: no Linux setup header" -- --kernel "$g/count64.elf"
expect "missing initrd" "nope: No such file or directory" -- --kernel "$kernel" --initrd "$tmp/nope"
: >"$tmp/empty"
expect "empty initrd" "empty: empty file" -- --kernel "$kernel" --initrd "$tmp/empty"
head -c 40M /dev/zero >"$tmp/big"
expect "initrd does not fit" "initrd of 41943040 bytes does not fit" -- -m 100M --kernel "$kernel" --initrd "$tmp/big"
expect "too little memory for the kernel" "Linux kernel needs .* give at least [0-9]+ MiB" -- -m 16M --kernel "$kernel"
expect "command line too long" "Linux command line of 3[0-9]+ bytes: the kernel takes" -- --kernel "$kernel" --cmdline "$(head -c 3000 /dev/zero | tr '\0' x)"
expect "--initrd on an ELF guest" "--initrd applies to a Linux kernel only \\(this is elf64\\)" -- --initrd "$kernel" "$g/count64.elf"
expect "a bzImage on --machine bare" "needs the pc machine" -- --machine bare "$kernel"

[ $failed = 0 ]
