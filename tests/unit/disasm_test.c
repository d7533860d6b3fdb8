/*
 * disasm_test: core/disasm.h. The mode each state executes in; the linear
 * address (CS.base, 64-bit mode ignoring it, 4 GiB wrap); the page walk
 * (a 32-bit PSE alias and a 4-level 4 KiB mapping built here, by hand);
 * bytes that end (an instruction at the end of a known range decodes, one
 * that runs past it is unknown), unmapped pages, page tables not known,
 * invalid bytes. Expected texts are the encodings' meanings (Intel SDM
 * opcode tables) written out by hand, in capstone's AT&T spelling.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "core/disasm.h"
#include "tests/lib/tap.h"

/* Guest memory: `len` bytes at gpa 0, of which [known_lo, known_hi) and
 * [k2_lo, k2_hi) are known; other reads give -ENOENT. */
#define MEM_SIZE 0x400000
static uint8_t mem[MEM_SIZE];
struct known {
	uint64_t lo, hi, lo2, hi2;
	unsigned reads;
};

static bool covered(const struct known *k, uint64_t a)
{
	return (a >= k->lo && a < k->hi) || (a >= k->lo2 && a < k->hi2);
}

static int mem_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	struct known *k = ctx;
	k->reads++;
	if (gpa >= MEM_SIZE || len > MEM_SIZE - gpa)
		return -ENOENT;
	for (size_t i = 0; i < len; i++)
		if (!covered(k, gpa + i))
			return -ENOENT;
	memcpy(buf, mem + gpa, len);
	return 0;
}

static int failing_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	(void)ctx, (void)gpa, (void)buf, (void)len;
	return -EIO;
}

static void seg(struct kvm_segment *s, uint64_t base, int l, int db)
{
	memset(s, 0, sizeof(*s));
	s->base = base;
	s->limit = 0xffffffff;
	s->present = 1;
	s->s = 1;
	s->type = 0xb;
	s->l = (uint8_t)l;
	s->db = (uint8_t)db;
}

static void real_mode(struct vcr_vcpu_state *st, uint16_t cs, uint64_t ip)
{
	memset(st, 0, sizeof(*st));
	seg(&st->sregs.cs, (uint64_t)cs << 4, 0, 0);
	st->sregs.cs.selector = cs;
	st->sregs.cs.limit = 0xffff;
	st->regs.rip = ip;
	st->regs.rflags = 2;
}

static void prot32(struct vcr_vcpu_state *st, uint64_t base, uint64_t eip)
{
	memset(st, 0, sizeof(*st));
	seg(&st->sregs.cs, base, 0, 1);
	st->sregs.cr0 = 0x11;
	st->regs.rip = eip;
	st->regs.rflags = 2;
}

static void long64(struct vcr_vcpu_state *st, uint64_t cr3, uint64_t rip)
{
	memset(st, 0, sizeof(*st));
	seg(&st->sregs.cs, 0x12345000, 1, 0);	/* a base 64-bit mode ignores */
	st->sregs.cr0 = 0x80050033;
	st->sregs.cr4 = 0x20;
	st->sregs.efer = 0x500;
	st->sregs.cr3 = cr3;
	st->regs.rip = rip;
	st->regs.rflags = 2;
}

static void put(uint64_t gpa, const void *p, size_t n)
{
	memcpy(mem + gpa, p, n);
}

static void put64(uint64_t gpa, uint64_t v)
{
	memcpy(mem + gpa, &v, 8);
}

static void put32(uint64_t gpa, uint32_t v)
{
	memcpy(mem + gpa, &v, 4);
}

static void test_modes(void)
{
	struct vcr_vcpu_state st;

	real_mode(&st, 0x07c0, 0x10);
	tap_ok(vcr_disasm_mode(&st) == 16 && vcr_disasm_linear(&st) == 0x7c10,
	       "real mode: 16-bit, linear = cs.base 0x7c00 + ip 0x10");
	prot32(&st, 0, 0x1000);
	st.regs.rflags |= 1u << 17;	/* VM */
	st.sregs.cs.base = 0x20000;
	tap_ok(vcr_disasm_mode(&st) == 16 && vcr_disasm_linear(&st) == 0x21000,
	       "virtual-8086 (PE, RFLAGS.VM): 16-bit, linear cs.base + ip");
	prot32(&st, 0x100, 0x1000);
	tap_ok(vcr_disasm_mode(&st) == 32 && vcr_disasm_linear(&st) == 0x1100,
	       "protected mode, CS.D=1: 32-bit, linear = cs.base + eip");
	st.sregs.cs.db = 0;
	tap_ok(vcr_disasm_mode(&st) == 16, "protected mode, CS.D=0: 16-bit");
	prot32(&st, 0xfffff000, 0x2000);
	tap_ok(vcr_disasm_linear(&st) == 0x1000, "32-bit: cs.base + eip wraps at 4 GiB");
	long64(&st, 0, 0xffffffff80001000ull);
	tap_ok(vcr_disasm_mode(&st) == 64 && vcr_disasm_linear(&st) == 0xffffffff80001000ull,
	       "long mode, CS.L=1: 64-bit, linear = rip (cs.base ignored)");
	st.sregs.cs.l = 0;
	st.sregs.cs.db = 1;
	tap_ok(vcr_disasm_mode(&st) == 32 && vcr_disasm_linear(&st) == ((0x12345000 + 0xffffffff80001000ull) & 0xffffffff),
	       "compatibility mode (LMA, CS.L=0, D=1): 32-bit, cs.base applies");
	st.sregs.cs.db = 0;
	tap_ok(vcr_disasm_mode(&st) == 16, "compatibility mode, D=0: 16-bit");
	st.sregs.cs.l = 1;
	st.sregs.efer = 0x100;	/* LME without LMA: not in long mode yet */
	st.sregs.cs.db = 1;
	tap_ok(vcr_disasm_mode(&st) == 32, "CS.L without EFER.LMA: not 64-bit");
}

static void check(struct vcr_disasm *d, const struct vcr_vcpu_state *st, struct known *k,
		  enum vcr_insn_status status, const char *text, const char *what)
{
	struct vcr_insn in;
	char buf[300];
	int rc = vcr_disasm_at(d, st, mem_read, k, &in);
	vcr_insn_format(&in, buf, sizeof(buf));
	if (!tap_ok(rc == 0 && in.status == status && !strcmp(buf, text), "%s: %s", what, text))
		tap_diag("rc %d status %d got \"%s\"", rc, in.status, buf);
}

static void test_fetch(struct vcr_disasm *d)
{
	struct vcr_vcpu_state st;
	struct known k = { 0 };
	static const uint8_t ud2[] = { 0x0f, 0x0b };
	static const uint8_t out_f1[] = { 0xe6, 0xf1 };
	static const uint8_t movabs[] = { 0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8 };
	static const uint8_t jmp_self[] = { 0xeb, 0xfe };
	static const uint8_t ljmp16[] = { 0xea, 0x10, 0x00, 0xc0, 0x07 };

	/* Real mode at 07c0:0010 = 0x7c10. */
	put(0x7c10, ljmp16, sizeof(ljmp16));
	k = (struct known){ .lo = 0x7c00, .hi = 0x7e00 };
	real_mode(&st, 0x07c0, 0x10);
	check(d, &st, &k, VCR_INSN_OK, "ljmpw $0x7c0:$0x10", "16-bit far jump at 07c0:0010");
	put(0x7c20, jmp_self, sizeof(jmp_self));
	real_mode(&st, 0x07c0, 0x20);
	check(d, &st, &k, VCR_INSN_OK, "jmp 0x20", "16-bit jmp $ targets ip, not the linear address");

	/* The end of a known range: ud2 in its last two bytes decodes, a
	 * 10-byte movabs cut after 6 is unknown. */
	put(0x7dfe, ud2, 2);
	real_mode(&st, 0, 0x7dfe);
	k.reads = 0;
	check(d, &st, &k, VCR_INSN_OK, "ud2", "ud2 in the last 2 known bytes");
	tap_ok(k.reads <= 8, "the known prefix is bisected (%u reads)", k.reads);
	put(0x7dfa, movabs, 6);
	prot32(&st, 0, 0x7dfa);
	st.sregs.efer = 0x500;
	st.sregs.cs.l = 1;	/* 64-bit, paging off is not architectural but */
	st.sregs.cs.db = 0;	/* the rules still give 64-bit mode */
	check(d, &st, &k, VCR_INSN_UNKNOWN,
	      "unknown (6 bytes known: 48 b8 01 02 03 04; then no bytes at gpa 0x7e00)",
	      "movabs running past the known range");
	real_mode(&st, 0, 0x8000);
	check(d, &st, &k, VCR_INSN_UNKNOWN, "unknown (no bytes at gpa 0x8000)",
	      "rip outside every known byte");

	/* 15 known bytes that are no instruction: 14 operand-size prefixes
	 * and 0f, whose second opcode byte is missing. */
	memset(mem + 0x7d00, 0x66, 14);
	mem[0x7d0e] = 0x0f;
	prot32(&st, 0, 0x7d00);
	check(d, &st, &k, VCR_INSN_INVALID, "invalid (66 66 66 66 66 66 66 66 66 66 66 66 66 66 0f)",
	      "15 bytes, no instruction");

	/* 32-bit paging, PSE: PDE 0 and PDE 0x100 map 4 MiB at 0, so linear
	 * 0x40007d40 is gpa 0x7d40. */
	put(0x7d40, out_f1, 2);
	put32(0x3000, 0x83);
	put32(0x3000 + 0x100 * 4, 0x83);
	k = (struct known){ .lo = 0x7c00, .hi = 0x7e00, .lo2 = 0x3000, .hi2 = 0x4000 };
	prot32(&st, 0, 0x40007d40);
	st.sregs.cr0 |= 0x80000000;
	st.sregs.cr4 = 0x10;
	st.sregs.cr3 = 0x3000;
	check(d, &st, &k, VCR_INSN_OK, "outb %al, $0xf1", "32-bit paging (4 MiB PSE alias)");
	st.regs.rip = 0x80007d40;	/* PDE 0x200: not present */
	check(d, &st, &k, VCR_INSN_UNKNOWN, "unknown (linear 0x80007d40 not mapped)",
	      "32-bit: page not present");
	k.lo2 = k.hi2 = 0;
	st.regs.rip = 0x40007d40;
	check(d, &st, &k, VCR_INSN_UNKNOWN, "unknown (page table entry at gpa 0x3400 not known)",
	      "32-bit: page directory not in the known memory");

	/* 4-level paging, 4 KiB pages: linear 0x200ff8 -> gpa 0x105ff8 and
	 * linear 0x201000 -> gpa 0x107000 (not adjacent), so a movabs across
	 * the boundary needs both translations; then the second page is
	 * unmapped. Tables at 0x10000 (PML4), 0x11000, 0x12000, 0x13000. */
	put64(0x10000, 0x11003);
	put64(0x11000, 0x12003);
	put64(0x12000 + 1 * 8, 0x13003);		/* PD[1]: 2 MiB..4 MiB */
	put64(0x13000 + 0 * 8, 0x105003);		/* PT[0]: 0x200000 */
	put64(0x13000 + 1 * 8, 0x107003);		/* PT[1]: 0x201000 */
	memcpy(mem + 0x105ff8, movabs, 8);
	memcpy(mem + 0x107000, movabs + 8, 2);
	k = (struct known){ .lo = 0x10000, .hi = 0x14000, .lo2 = 0x105000, .hi2 = 0x108000 };
	long64(&st, 0x10000, 0x200ff8);
	check(d, &st, &k, VCR_INSN_OK, "movabsq $0x807060504030201, %rax",
	      "64-bit, 4 KiB pages: an instruction across two non-adjacent pages");
	put64(0x13000 + 1 * 8, 0);
	check(d, &st, &k, VCR_INSN_UNKNOWN,
	      "unknown (8 bytes known: 48 b8 01 02 03 04 05 06; then linear 0x201000 not mapped)",
	      "64-bit: the second page not mapped");
	st.regs.rip = 0x0000800000000000ull;
	check(d, &st, &k, VCR_INSN_UNKNOWN, "unknown (linear 0x800000000000 not mapped)",
	      "64-bit: non-canonical rip");

	struct vcr_insn in;
	st.regs.rip = 0x200ff8;
	tap_ok(vcr_disasm_at(d, &st, failing_read, NULL, &in) == -EIO,
	       "a read error other than -ENOENT is returned");
	tap_ok(vcr_disasm_bytes(d, ud2, 2, 8, 0, &in) == -EINVAL, "mode 8: -EINVAL");
	tap_ok(vcr_disasm_bytes(d, ud2, 1, 64, 0, &in) == 0 && in.status == VCR_INSN_UNKNOWN &&
	       in.why == VCR_INSN_WHY_SHORT && in.nbytes == 1,
	       "vcr_disasm_bytes: 0f alone is unknown (short)");
	tap_ok(vcr_disasm_bytes(d, out_f1, 2, 32, 0, &in) == 0 && in.status == VCR_INSN_OK &&
	       in.len == 2 && !strcmp(in.text, "outb %al, $0xf1"),
	       "vcr_disasm_bytes: e6 f1 is outb %%al, $0xf1, 2 bytes");
}

int main(void)
{
	struct vcr_disasm *d;

	tap_plan(26);
	test_modes();
	if (vcr_disasm_open(&d) != 0)
		tap_bail("vcr_disasm_open failed");
	test_fetch(d);
	vcr_disasm_close(d);
	vcr_disasm_close(NULL);
	return tap_exit_status();
}
