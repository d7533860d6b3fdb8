#!/bin/bash
# linux_halt: Debian's kernel on vcr's pc machine, part C of
# tests/linux/boot_parts.sh (one boot): -c 2 with halt -f: the end when every vCPU halted with IF=0.
root=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
exec bash "$root/tests/linux/boot_parts.sh" c
