#!/bin/bash
# cli_help: every command listed by `vcr help` answers --help with a usage text
# and status 0; unknown commands and no command at all exit 2 with a message.
set -u
root=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
vcr=${VCR:-$root/build/vcr}
cmds=$("$vcr" help | sed -n 's/^  \([a-z]\+\) .*/\1/p')
n=$(echo "$cmds" | wc -w)
echo "1..$((n + 3))"
i=0
for c in $cmds; do
    i=$((i + 1))
    out=$("$vcr" "$c" --help 2>&1); st=$?
    if [ $st = 0 ] && grep -q "usage: vcr $c" <<<"$out"; then
        echo "ok $i - vcr $c --help"
    else
        echo "not ok $i - vcr $c --help (status $st)"; head -5 <<<"$out" | sed 's/^/# /'
    fi
done
[ "$n" -ge 6 ] && echo "ok $((i + 1)) - vcr help lists $n commands" || echo "not ok $((i + 1)) - vcr help lists $n commands"
out=$("$vcr" frobnicate 2>&1); st=$?
[ $st = 2 ] && grep -q "unknown command 'frobnicate'" <<<"$out" && echo "ok $((i + 2)) - unknown command: status 2, named" || echo "not ok $((i + 2)) - unknown command (status $st)"
"$vcr" >/dev/null 2>&1; st=$?
[ $st = 2 ] && echo "ok $((i + 3)) - no command: status 2" || echo "not ok $((i + 3)) - no command (status $st)"
