/*
 * regs_test: the register table covers every meaningful byte of struct
 * vcr_vcpu_state exactly once, names are unique, gdb numbering is dense, and
 * get/set round-trip (segment attributes included).
 */
#include <stdlib.h>
#include <string.h>

#include "core/regs.h"
#include "core/state.h"
#include "core/util.h"
#include "tests/lib/tap.h"

int main(void)
{
	tap_plan(9);

	/* 1. Coverage: a byte is meaningful if normalize() does not zero it. */
	struct vcr_vcpu_state ones;
	memset(&ones, 0xff, sizeof(ones));
	vcr_state_normalize(&ones);
	unsigned char cover[sizeof(struct vcr_vcpu_state)] = { 0 };
	int overlap = 0;
	for (size_t i = 0; i < vcr_nregs; i++) {
		const struct vcr_reg *r = &vcr_regs[i];
		if (r->fmt == VCR_REG_NONE)
			continue;
		for (unsigned b = 0; b < r->size; b++)
			if (cover[r->offset + b]++)
				overlap++;
	}
	size_t uncovered = 0, first = 0;
	for (size_t b = 0; b < sizeof(ones); b++) {
		int meaningful = ((unsigned char *)&ones)[b] != 0;
		if (meaningful && !cover[b]) {
			if (!uncovered++)
				first = b;
		}
	}
	if (!tap_ok(uncovered == 0, "every meaningful state byte is in the table"))
		tap_diag("%zu bytes uncovered, first at offset %zu", uncovered, first);
	tap_ok(overlap == 0, "no state byte is named twice");

	/* 2. Bytes covered by the table are never zeroed by normalize(). */
	size_t covered_padding = 0;
	for (size_t b = 0; b < sizeof(ones); b++)
		if (cover[b] && ((unsigned char *)&ones)[b] == 0)
			covered_padding++;
	tap_ok(covered_padding == 0, "normalize() keeps every named byte");

	/* 3. Unique names. */
	int dup = 0;
	for (size_t i = 0; i < vcr_nregs; i++)
		for (size_t j = i + 1; j < vcr_nregs; j++) {
			if (!strcmp(vcr_regs[i].name, vcr_regs[j].name))
				dup++;
			const char *gi = vcr_regs[i].gdb_name ? vcr_regs[i].gdb_name : vcr_regs[i].name;
			const char *gj = vcr_regs[j].gdb_name ? vcr_regs[j].gdb_name : vcr_regs[j].name;
			if ((vcr_regs[i].flags & VCR_REG_F_GDB) && (vcr_regs[j].flags & VCR_REG_F_GDB) &&
			    !strcmp(gi, gj))
				dup++;
		}
	tap_ok(dup == 0, "register names (and gdb names) are unique");

	/* 4. gdb numbering dense and in table order. */
	int dense = 1;
	for (unsigned n = 0; n < vcr_gdb_nregs(); n++) {
		const struct vcr_reg *r = vcr_reg_by_gdb(n);
		if (!r || r != &vcr_regs[n])
			dense = 0;
	}
	tap_ok(dense && vcr_gdb_nregs() > 40, "gdb register numbers are dense (%zu)", vcr_gdb_nregs());

	/* 5. gdb's core feature layout starts as gdb expects. */
	static const char *const core_order[] = {
		"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
		"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip", "eflags",
		"cs", "ss", "ds", "es", "fs", "gs", "st0",
	};
	int order_ok = 1;
	for (unsigned n = 0; n < VCR_ARRAY_SIZE(core_order); n++) {
		const struct vcr_reg *r = vcr_reg_by_gdb(n);
		const char *g = r->gdb_name ? r->gdb_name : r->name;
		if (strcmp(g, core_order[n]))
			order_ok = 0;
	}
	tap_ok(order_ok, "core registers in gdb's i386:x86-64 order");

	/* 6. get/set round trip on every register. */
	struct vcr_vcpu_state st;
	memset(&st, 0, sizeof(st));
	int rt = 1;
	srand(1);
	for (size_t i = 0; i < vcr_nregs; i++) {
		const struct vcr_reg *r = &vcr_regs[i];
		if (r->fmt == VCR_REG_NONE)
			continue;
		uint64_t v = ((uint64_t)rand() << 33) ^ ((uint64_t)rand() << 7) ^ (uint64_t)rand();
		if (r->fmt == VCR_REG_SEGATTR)
			v &= 0x1f0ff;
		else if (r->size < 8)
			v &= (1ull << (8 * r->size)) - 1;
		vcr_reg_set(&st, r, v);
		if (vcr_reg_get(&st, r) != v)
			rt = 0;
	}
	tap_ok(rt, "vcr_reg_set then vcr_reg_get returns the value");

	/* 7. Segment attributes pack like VMX access rights. */
	struct vcr_vcpu_state s2;
	memset(&s2, 0, sizeof(s2));
	s2.sregs.cs.type = 0xb; s2.sregs.cs.s = 1; s2.sregs.cs.present = 1;
	s2.sregs.cs.l = 1; s2.sregs.cs.g = 1;
	tap_is_u64(vcr_reg_get(&s2, vcr_reg_by_name("cs.attr")), 0xa09b, "cs.attr of a 64-bit code segment");

	/* 8. Mode detection. */
	s2.sregs.cr0 = 0x80000011; s2.sregs.efer = 0x500;
	tap_ok(!strcmp(vcr_cpu_mode(&s2), "long64"), "long mode detected");
	return tap_exit_status();
}
