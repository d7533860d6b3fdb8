#!/bin/bash
# linux_gdb: Debian's kernel on vcr's pc machine, part B of
# tests/linux/boot_parts.sh (one boot): -c 2 --gdb: Ctrl-C, registers, hbreak on exported symbols (ksyms.py), threads, stepi, then the reboot.
root=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
exec bash "$root/tests/linux/boot_parts.sh" b
