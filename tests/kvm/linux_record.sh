#!/bin/bash
# linux_record: Debian's kernel on vcr's pc machine, part A of
# tests/linux/boot_parts.sh (one boot): -c 2 --record with nproc and a panic, then stats, dump --json, a seek to every exit, replay --verify/--resync on its trace; on PVM, vcr's no-progress message.
root=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
exec bash "$root/tests/linux/boot_parts.sh" a
