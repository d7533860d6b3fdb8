#!/bin/bash
# insn_exits: the instruction at an exit (core/disasm.h), in 16-, 32- and
# 64-bit code recorded on real KVM: `vcr dump --insn` (JSON and text) at the
# crash, the crash message of `vcr run`, `vcr stats --top`, and `vcr diff`
# of runs that differ (-c 1 / -c 2: port 0xf0 answers nvcpus << 16).
#
# Guests (tests/guests/): insn16 (real mode, CS base 0x7c00), insn32f (flat
# 32-bit), insn32 (32-bit paging: the code runs at a 1 GiB alias the
# guest's own page directory maps), insn64, and crash64 (the crash test
# guest). Each executes `ud2` at crash_rip with an empty IDT (triple
# fault), after `out %al, $0xf1` at last_exit_rip, after `in $0xf0, %eax` at
# vcpu_in. The expected texts below are those source lines as capstone
# spells AT&T (`outb` for `out` with %al, `inl` for `in` to %eax); the
# addresses come from nm. What a KVM reports differs, and each variant is
# asserted and named (`#` lines):
#   - the crash exit's rip: at ud2 (PVM, Intel), or KVM reset the vCPU
#     (kvm_amd: rip 0xfff0, whose bytes no memory holds: "unknown");
#   - the rip of a port I/O exit: on the instruction, or past it;
#   - real mode on PVM is emulated, and ud2 ends it with an internal error;
#   - PVM cannot run 32-bit paging: insn32 triple-faults where it sets
#     CR0.PG (`mov %eax, %cr0` at paging_on), which is then what is checked
#     (and, since no vCPU gets to the port read, two -c 1 runs are diffed).
set -u
ROOT=${VCR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${VCR_BUILD:-$ROOT/build}
VCR=${VCR:-$BUILD/vcr}
G=$BUILD/tests/guests
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
PY=/usr/bin/python3

# name, image, ELF for nm, mode, linear = sym + lin_off, rip = linear - rip_base
GUESTS=(
	"insn16 insn16.bin insn16.elf 16 0 0x7c00"
	"insn32f insn32f.elf insn32f.elf 32 0 0"
	"insn32 insn32.elf insn32.elf 32 0x40000000 0"
	"insn64 insn64.elf insn64.elf 64 0 0"
	"crash64 crash64.elf crash64.elf 64 0 0"
)
echo "1..29"
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
sym() { nm "$G/$1" | awk -v s="$2" '$3 == s { print "0x" $1 }'; }

for spec in "${GUESTS[@]}"; do
	read -r name img elf mode lin_off rip_base <<< "$spec"
	a=$T/$name.vcr
	timeout 60 "$VCR" run --no-stdin --record "$a" "$G/$img" > "$T/run.out" 2> "$T/run.err"
	st=$?
	# What the guest's source says, as numbers: the crash, the data exit,
	# the port read, and (insn32) where paging is turned on.
	args=(--mode "$mode" --lin-off "$lin_off" --rip-base "$rip_base"
	      --crash "$(sym "$elf" crash_rip)" --last "$(sym "$elf" last_exit_rip)"
	      --paging "$(sym "$elf" paging_on)")
	"$VCR" dump --insn --json "$a" > "$T/d.jsonl"
	"$VCR" dump --insn "$a" > "$T/d.txt"
	"$VCR" stats --json --top 50 "$a" > "$T/s.json"
	"$VCR" stats --top 50 "$a" > "$T/s.txt"
	out=$($PY - "$T" "$st" "${args[@]}" <<'PY'
import json, sys
T, status = sys.argv[1], int(sys.argv[2])
a = dict(zip(sys.argv[3::2], sys.argv[4::2]))
num = lambda k: int(a[k], 0) if a.get(k) else None
mode, lin_off, rip_base = int(a["--mode"]), int(a["--lin-off"], 0), int(a["--rip-base"], 0)
rip = lambda sym: sym + lin_off - rip_base	# a symbol as rip
crash, last, paging = num("--crash"), num("--last"), num("--paging")
recs = [json.loads(l) for l in open(T + "/d.jsonl")]
ex = [r for r in recs if r["type"] == "exit"]
res = []
def point(cond, what, diag=""):
    res.append(("ok" if cond else "not ok", what, diag))
end = ex[-1] if ex else {"reason": "none", "rip": "0x0"}
endrip = int(end["rip"], 16)
# The variants (see the header).
if paging is not None and endrip == rip(paging) - lin_off:
    variant, want = "no 32-bit paging: triple fault at paging_on", ("ok", "movl %eax, %cr0", endrip)
elif endrip == rip(crash):
    variant, want = "crash exit at ud2", ("ok", "ud2", endrip)
elif endrip == 0xfff0:
    variant, want = "KVM reset the vCPU: crash exit at rip 0xfff0", ("unknown", None, endrip)
else:
    variant, want = "unexpected", ("?", None, endrip)
print("# %s: %s (status %d, last exit %s rip %#x)" % (a["--mode"] + "-bit", variant, status,
      end["reason"], endrip))
ins = end.get("insn") or {}
if want[0] == "ok":
    # the linear address: CS base + rip, or (paging) the alias, and the gpa
    # the page walk gives
    lin = endrip + rip_base if mode != 64 else endrip
    gpa = lin - lin_off if endrip != rip(paging or -1) - lin_off else lin
    good = (ins.get("status"), ins.get("text"), ins.get("mode")) == ("ok", want[1], mode) and \
        int(ins.get("linear", "0"), 16) == lin and int(ins.get("gpa", "0"), 16) == gpa
else:
    good = (ins.get("status"), ins.get("why"), ins.get("where")) == ("unknown", "no_bytes", "0xfffffff0")
# and the data-port exit before the crash: on `out` or past it (on ud2)
io = [r for r in ex if r["reason"] == "IO" and r.get("io", {}).get("port") == 0xf1]
io_ok = True
io_text = None
if want[1] != "movl %eax, %cr0":
    if not io:
        io_ok = False
    else:
        r = io[-1]
        rr = int(r["rip"], 16)
        io_text = "outb %al, $0xf1" if rr == rip(last) else "ud2" if rr == rip(crash) else None
        io_ok = io_text is not None and (r["insn"]["status"], r["insn"]["text"]) == ("ok", io_text)
        print("# data exit at %#x: %s" % (rr, "on the out" if io_text == "outb %al, $0xf1" else "past it"))
point(status in (3, 4) and end["reason"] in ("SHUTDOWN", "INTERNAL_ERROR") and good and io_ok,
      "dump --insn --json: last exit %s, data exit %s" % (want[1] or "unknown at 0xfff0", io_text),
      json.dumps(ins) + " " + json.dumps(io[-1]["insn"] if io else None))
# text: the same on the exit lines
txt = [l for l in open(T + "/d.txt") if l.startswith("#")]
lt = txt[-1] if txt else ""
good_t = ('insn="%s"' % want[1] in lt) if want[1] else "insn=unknown (no bytes at gpa 0xfffffff0)" in lt
if io_text:
    good_t = good_t and any(('port=0xf1' in l and 'insn="%s"' % io_text in l) for l in txt)
point(good_t, "dump --insn text: the last exit line and the data exit line", lt.strip())
# the crash message of vcr run
err = open(T + "/run.err").read()
if want[0] == "ok":
    m = "instruction at the crash (vcpu 0, rip=%#x, %d-bit): %s" % (endrip, mode, want[1])
else:
    m = "instruction at the crash (vcpu 0, rip=0xfff0, 16-bit): unknown (no bytes at gpa 0xfffffff0)"
point(m in err, "vcr run's crash message: %s" % m, err.strip().replace("\n", " | "))
# stats: the data exit's rip with its instruction (or the crash's)
s = json.load(open(T + "/s.json"))
key, text = (io[-1]["rip"], io_text) if io_text else (end["rip"], want[1])
tr = [r for r in s["top_rips"] if r["rip"] == key]
st_txt = open(T + "/s.txt").read()
good_s = len(tr) == 1 and tr[0]["mode"] == mode and tr[0]["insn"]["text"] == text and \
    ('%d-bit  "%s"' % (mode, text)) in st_txt
point(good_s, "stats --top: rip %s, %d-bit, %s" % (key, mode, text), json.dumps(tr))
for r in res:
    print("%s|%s|%s" % r)
print("variant|%s|" % ("nopaging" if want[1] == "movl %eax, %cr0" else "ran"))
PY
)
	variant=
	while IFS= read -r line; do
		case "$line" in
		"#"*) echo "$line" ;;
		variant*) IFS='|' read -r _ variant _ <<< "$line" ;;
		*) IFS='|' read -r res what diag <<< "$line"
		   [ "$res" = ok ]; ok $? "$name: $what"
		   [ "$res" = ok ] || echo "# $diag" ;;
		esac
	done <<< "$out"
	[ $st = 3 ] || [ $st = 4 ]
	ok $? "$name: vcr run ended in a crash (status $st)"
	[ $st = 3 ] || [ $st = 4 ] || sed 's/^/# /' "$T/run.err" | head -5

	[ "$name" = crash64 ] && continue
	# Two runs that differ: -c 2 changes what port 0xf0 answers vCPU 0.
	b=$T/$name-c2.vcr
	timeout 60 "$VCR" run --no-stdin -c 2 --record "$b" "$G/$img" > /dev/null 2>&1
	"$VCR" diff --json --vcpu 0 "$a" "$b" > "$T/diff.jsonl"
	ds=$?
	"$VCR" diff --vcpu 0 "$a" "$b" > "$T/diff.txt"
	if [ "$variant" = nopaging ]; then
		# Every vCPU faults before it reads port 0xf0, so -c 2 only adds
		# a race between two faults; two -c 1 runs must be the same.
		timeout 60 "$VCR" run --no-stdin --record "$b" "$G/$img" > /dev/null 2>&1
		"$VCR" diff "$a" "$b" > "$T/diff.txt"
		ds=$?
		[ $ds = 0 ]
		ok $? "$name: the port read is never reached here: two -c 1 runs diff the same (status $ds)"
		[ $ds = 0 ] || sed 's/^/# /' "$T/diff.txt" | head -8
		continue
	fi
	got=$($PY - "$T" "$mode" "$(sym "$elf" vcpu_in)" "$(sym "$elf" after_in)" "$lin_off" "$rip_base" <<'PY'
import json, sys
T, mode, vin, after, lin_off, rip_base = sys.argv[1], int(sys.argv[2]), int(sys.argv[3], 0), \
    int(sys.argv[4], 0), int(sys.argv[5], 0), int(sys.argv[6], 0)
ev = [json.loads(l) for l in open(T + "/diff.jsonl")]
p = [e for e in ev if e["type"] == "pair"]
if not p:
    print("no pair event"); sys.exit()
x = p[0]
rip = int(x["a"]["rip"], 16)
want = {vin + lin_off - rip_base: "inl $0xf0, %eax", after + lin_off - rip_base: "testw %ax, %ax"}.get(rip)
a, b = x["a"]["insn"], x["b"]["insn"]
txt = open(T + "/diff.txt").read()
print("pair at %#x (%s)" % (rip, "on the in" if want and want.startswith("in") else "past the in"),
      x["served_with_differs"], a["status"], a["text"] == want, b["text"] == want,
      a["mode"] == mode == b["mode"], ('insn             A "%s"' % want) in txt,
      ('                 B "%s"' % want) in txt)
PY
)
	case "$got" in
	*" True ok True True True True True") ok 0 "$name: diff -c 1 / -c 2: the instruction at the first differing pair, both sides, text and JSON ($got)" ;;
	*) ok 1 "$name: diff -c 1 / -c 2: the instruction at the first differing pair, both sides ($got, status $ds)"
	   sed 's/^/# /' "$T/diff.txt" | head -8 ;;
	esac
done
