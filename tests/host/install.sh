#!/bin/bash
# install: `make install` into a temporary DESTDIR puts every file where a
# Debian user looks for it; a program built only against the installed tree
# (`pkg-config --cflags --libs libvcr`) opens a trace and walks it; the man
# pages render without a groff warning, carry `vcr --version` and every
# option of --help; the installed bash completion completes commands,
# options and trace files; `make uninstall` leaves no file behind.
set -u
ROOT=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${VCR_BUILD:-$ROOT/build}
VCR=${VCR:-$BUILD/vcr}
GEN=$BUILD/tools/gen_trace
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
D=$T/dest

# the build being tested, as make names it (build-san is SAN=1)
case $BUILD in
"$ROOT/build-san" | build-san) mkvars=(SAN=1) san=1 ;;
*) mkvars=(BUILD="${BUILD#"$ROOT"/}") san=0 ;;
esac

echo "1..18"
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }

make -s --no-print-directory -C "$ROOT" "${mkvars[@]}" install PREFIX=/usr DESTDIR="$D" \
	>"$T/make.out" 2>&1
st=$?
[ $st = 0 ] || sed 's/^/# /' "$T/make.out" | tail -20
ok $st "make install PREFIX=/usr DESTDIR=tmp"

cmds=$("$VCR" help | sed -n 's/^  \([a-z]\+\) .*/\1/p')
missing=
want="usr/bin/vcr usr/lib/libvcr.a usr/lib/pkgconfig/libvcr.pc usr/include/vcr/formats/trace.h
	usr/share/bash-completion/completions/vcr usr/share/man/man1/vcr.1
	usr/share/doc/vcr/README.md usr/share/doc/vcr/format.md"
for c in $cmds; do want+=" usr/share/man/man1/vcr-$c.1"; done
# vcr record loads it from ../lib/vcr/ beside the vcr binary (cli/cmd_record.c).
[ -e "$BUILD/libvcr-preload.so" ] && want+=" usr/lib/vcr/libvcr-preload.so"
for f in $want; do [ -f "$D/$f" ] || missing+=" $f"; done
[ -x "$D/usr/bin/vcr" ] || missing+=" (usr/bin/vcr not executable)"
[ -z "$missing" ] || echo "# missing:$missing"
ok "$([ -z "$missing" ]; echo $?)" "installed: binary, library, headers, libvcr.pc, completion, man pages, docs"

v=$("$VCR" --version)
[ "$("$D/usr/bin/vcr" --version)" = "$v" ]
ok $? "the installed vcr --version is the build's ($v)"

# pkg-config on the installed tree only: sysroot = DESTDIR
export PKG_CONFIG_LIBDIR=$D/usr/lib/pkgconfig PKG_CONFIG_PATH= PKG_CONFIG_SYSROOT_DIR=$D
[ "vcr $(pkg-config --modversion libvcr)" = "$v" ]
ok $? "pkg-config --modversion libvcr agrees with vcr --version"

flags=$(pkg-config --cflags --libs libvcr)
sanflags=
[ $san = 1 ] && sanflags=-fsanitize=address,undefined
echo "# pkg-config --cflags --libs libvcr: $flags"

# every installed header compiles alone (it includes what it needs), from a
# folder where nothing of the source tree is reachable
bad=
for h in $(cd "$D/usr/include/vcr" && find . -name '*.h' | sed 's|^\./||'); do
	printf '#include <%s>\n' "$h" >"$T/h.c"
	(cd "$T" && cc -std=gnu11 -Wall -Wextra -Werror $(pkg-config --cflags libvcr) \
		-fsyntax-only h.c) 2>"$T/h.err" || { bad+=" $h"; sed 's/^/# /' "$T/h.err" | head -5; }
done
ok "$([ -z "$bad" ]; echo $?)" "each installed header compiles alone${bad:+ (not:$bad)}"

cat >"$T/walk.c" <<'EOF'
/* Open a trace with the installed libvcr and count its records by type. */
#include <stdio.h>
#include <formats/trace.h>

int main(int argc, char **argv)
{
	struct vcr_reader *r;
	struct vcr_err err = { 0 };
	struct vcr_record rec;
	unsigned long long n[VCR_REC_END + 1] = { 0 }, last = 0;
	int ret;

	if (argc != 2 || vcr_reader_open(&r, argv[1], &err) < 0) {
		fprintf(stderr, "walk: %s\n", err.msg);
		return 2;
	}
	while ((ret = vcr_reader_next(r, &rec)) > 0) {
		if (rec.type <= VCR_REC_END)
			n[rec.type]++;
		if (rec.type == VCR_REC_EXIT)
			last = rec.seq;
	}
	printf("vcpus=%u exits=%llu last_seq=%llu input=%llu mem_write=%llu marker=%llu end=%llu\n",
	       vcr_reader_info(r)->nvcpus, n[VCR_REC_EXIT], last, n[VCR_REC_INPUT],
	       n[VCR_REC_MEM_WRITE], n[VCR_REC_MARKER], n[VCR_REC_END]);
	vcr_reader_close(r);
	return ret < 0 ? 1 : 0;
}
EOF
(cd "$T" && cc -std=gnu11 -Wall -Wextra -Werror $sanflags -o walk walk.c $flags) 2>&1 | sed 's/^/# /'
ok "${PIPESTATUS[0]}" "a program that walks a trace builds with pkg-config --cflags --libs libvcr only"

# 1000 exits on 2 vCPUs, 500 each; the generator serves an input at the
# exits e % 8 in {3, 6, 7} of each vCPU: 3 of 8 of 496, plus 500 % 8 = 4
# exits (e 496..499: 499 % 8 = 3 serves one) -> 187 per vCPU
"$GEN" --exits 1000 --vcpus 2 --marker "$T/t.vcr" >/dev/null
out=$("$T/walk" "$T/t.vcr"); st=$?
echo "# $out"
[ $st = 0 ] && [ "$out" = "vcpus=2 exits=1000 last_seq=999 input=374 mem_write=1 marker=1 end=1" ]
ok $? "it reads the generated trace: 2 vCPUs, 1000 exits, 374 inputs, a marker, the end"

# man pages
M=$D/usr/share/man/man1
warn=
for p in "$M"/*.1; do
	groff -ww -z -man "$p" 2>&1 | sed "s|^|# ${p##*/}: |" | tee -a "$T/warn" | head -3
	LC_ALL=C MANWIDTH=80 man --warnings -l "$p" 2>&1 >/dev/null | sed "s|^|# ${p##*/}: |" |
		tee -a "$T/warn" | head -3
done
[ -s "$T/warn" ] && warn=1
ok "${warn:-0}" "groff -ww and man -l render every page without a warning"

bad=
for p in "$M"/*.1; do
	grep -q "^\.TH .* \"$v\" " "$p" || bad+=" ${p##*/}"
done
ok "$([ -z "$bad" ]; echo $?)" "every page's .TH carries '$v'${bad:+ (not:$bad)}"

# every option and the usage of every --help appear in the rendered page
bad=
for c in $cmds; do
	page=$(LC_ALL=C MANWIDTH=1000 man -l "$M/vcr-$c.1" 2>/dev/null)
	help=$("$VCR" "$c" --help)
	grep -q "^ *vcr $c" <<<"$page" || bad+=" $c:usage"
	for o in $(grep -E '^\s+-' <<<"$help" | grep -oE -- '(^|[ ,])--?[A-Za-z][A-Za-z0-9-]*' | tr -d ' ,'); do
		grep -qe "$o" <<<"$page" || bad+=" $c:$o"
	done
done
page=$(LC_ALL=C MANWIDTH=1000 man -l "$M/vcr.1" 2>/dev/null)
for c in $cmds; do grep -q "vcr $c" <<<"$page" || bad+=" vcr.1:$c"; done
ok "$([ -z "$bad" ]; echo $?)" "the pages show every command, usage and option of --help${bad:+ (not:$bad)}"

# the generator on a help text full of roff's special characters: each shows
# as written, without a warning
mkdir -p "$T/fake" && cat >"$T/fake/vcr" <<'EOF'
#!/bin/bash
case $1 in
--version) echo "vcr 9.8.7-rc1" ;;
help) printf 'usage: vcr COMMAND\n\nTest.\n\ncommands:\n  odd      back\\slash \\fB\n' ;;
odd) cat <<'T'
usage: vcr odd [--re-do] FILE
       vcr odd --x\y
.TH starts with a dot and a \fB font escape
'br starts with an apostrophe; a -5 minus, a well-known hyphen
  --re-do X     what \n does
                more of it

Exit status: 0 fine, 1 not.
T
;;
esac
EOF
chmod +x "$T/fake/vcr"
"$ROOT/pkg/mkman.py" "$T/fake/vcr" "$T/fake/man" &&
page=$(LC_ALL=C MANWIDTH=1000 man --warnings -l "$T/fake/man/vcr-odd.1" 2>"$T/fake/warn") &&
[ ! -s "$T/fake/warn" ] &&
grep -qF 'vcr-odd - back\slash \fB' <<<"$page" &&
grep -qF 'vcr odd --x\y' <<<"$page" &&
grep -qF ".TH starts with a dot and a \\fB font escape 'br starts with an apostrophe; a -5 minus, a well-known hyphen" <<<"$page" &&
grep -qF 'what \n does more of it' <<<"$page" &&
grep -qF '0 fine, 1 not.' <<<"$page" && grep -q '^EXIT STATUS' <<<"$page" &&
grep -q '^\.TH "VCR-ODD" 1 .* "vcr 9.8.7-rc1" ' "$T/fake/man/vcr-odd.1"
st=$?
[ $st = 0 ] || { sed 's/^/# /' "$T/fake/warn"; sed 's/^/# /' <<<"${page-}"; }
ok $st "mkman.py: backslashes, leading dots and apostrophes, minus signs come out as written"

# bash completion, installed copy, on the installed binary
mkdir -p "$T/w/sub" && touch "$T/w/a.vcr" "$T/w/b.vcr" "$T/w/guest.bin"
comp() {	# WORDS...: COMPREPLY, sorted, one per line, for the last word
	(
		# shellcheck disable=SC1090
		source "$D/usr/share/bash-completion/completions/vcr"
		cd "$T/w" || exit 1
		COMP_WORDS=("$@")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		_vcr vcr "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf '%s\n' "${COMPREPLY[@]}" | sort
	)
}
VI=$D/usr/bin/vcr
[ "$(comp "$VI" "")" = "$(printf '%s\n' $cmds --help --version | sort)" ]
ok $? "completion: the commands of vcr help"
got=$(comp "$VI" dump --)
want=$("$VCR" dump --help | grep -E '^\s+-' | grep -oE -- '--[a-z][a-z-]*' | sort -u)
[ -n "$want" ] && [ "$got" = "$want" ]
ok $? "completion: vcr dump -- offers the long options of vcr dump --help"
[ "$(comp "$VI" stats "")" = "$(printf '%s\n' a.vcr b.vcr sub)" ] &&
[ "$(comp "$VI" diff a.vcr "")" = "$(printf '%s\n' a.vcr b.vcr sub)" ]
ok $? "completion: trace arguments of stats and diff are *.vcr files (and folders)"
[ "$(comp "$VI" run --record "")" = "$(printf '%s\n' a.vcr b.vcr sub)" ] &&
[ "$(comp "$VI" run -m 64M "")" = "$(printf '%s\n' a.vcr b.vcr guest.bin sub)" ] &&
[ -z "$(comp "$VI" run --memory "")" ]
ok $? "completion: run --record takes a trace, GUEST any file, --memory no file"
[ "$(comp "$VI" help d)" = "$(printf '%s\n' diff dump)" ]
ok $? "completion: vcr help COMMAND completes commands"

make -s --no-print-directory -C "$ROOT" "${mkvars[@]}" uninstall PREFIX=/usr DESTDIR="$D" \
	>"$T/make.out" 2>&1
st=$?
[ $st = 0 ] || sed 's/^/# /' "$T/make.out" | tail -20
ok $st "make uninstall PREFIX=/usr DESTDIR=tmp"
left=$(find "$D" ! -type d)
[ -z "$left" ] || sed 's/^/# left: /' <<<"$left"
ok "$([ -z "$left" ]; echo $?)" "nothing but empty folders is left after make uninstall"
