/* core/regs.c: the register table (see regs.h). */
#include "core/regs.h"

#include <stdio.h>
#include <string.h>

#define ST(member) ((uint16_t)offsetof(struct vcr_vcpu_state, member))
#define SZ(member) ((uint8_t)sizeof(((struct vcr_vcpu_state *)0)->member))

#define CORE "org.gnu.gdb.i386.core"
#define SEGS "org.gnu.gdb.i386.segments"
#define SYS  "org.vcr.x86.system"
#define EVT  "org.vcr.x86.events"

#define G  VCR_REG_F_GDB
#define RO VCR_REG_F_READONLY
#define SM VCR_REG_F_SUMMARY

/* A general register of struct kvm_regs served as gdb register n. */
#define GPR(nm, n, type) \
	{ #nm, ST(regs.nm), 8, VCR_REG_U, VCR_CLASS_REGS, G | SM, n, 64, NULL, CORE, type, "general" }
/* x87 registers gdb requires in the core feature; not in sync regs. */
#define X87(nm, n, bits, type) \
	{ nm, 0, 0, VCR_REG_NONE, 0, G | RO, n, bits, NULL, CORE, type, "float" }
/* Segment: selector in the core feature, base/limit/attributes in ours. */
#define SEGSEL(seg, n) \
	{ #seg, ST(sregs.seg.selector), 2, VCR_REG_U, VCR_CLASS_SREGS, G, n, 32, NULL, CORE, "int32", "general" }
#define SEGCACHE(seg, n) \
	{ #seg ".base", ST(sregs.seg.base), 8, VCR_REG_U, VCR_CLASS_SREGS, G, n, 64, #seg "_base", SYS, "data_ptr", "system" }, \
	{ #seg ".limit", ST(sregs.seg.limit), 4, VCR_REG_U, VCR_CLASS_SREGS, G, n + 1, 32, #seg "_limit", SYS, "uint32", "system" }, \
	{ #seg ".attr", ST(sregs.seg.type), 9, VCR_REG_SEGATTR, VCR_CLASS_SREGS, G, n + 2, 32, #seg "_attr", SYS, "uint32", "system" }
/* A plain field in the system feature. */
#define SYSREG(nm, member, n, bits, gname, type) \
	{ nm, ST(member), SZ(member), VCR_REG_U, VCR_CLASS_SREGS, G, n, bits, gname, SYS, type, "system" }
/* A read-only field of kvm_vcpu_events in the events feature. */
#define EVREG(nm, member, n, bits, gname) \
	{ nm, ST(events.member), SZ(events.member), VCR_REG_U, VCR_CLASS_EVENTS, G | RO, n, bits, gname, EVT, "uint" #bits, "system" }

const struct vcr_reg vcr_regs[] = {
	GPR(rax, 0, "int64"), GPR(rbx, 1, "int64"), GPR(rcx, 2, "int64"),
	GPR(rdx, 3, "int64"), GPR(rsi, 4, "int64"), GPR(rdi, 5, "int64"),
	GPR(rbp, 6, "data_ptr"), GPR(rsp, 7, "data_ptr"),
	GPR(r8, 8, "int64"), GPR(r9, 9, "int64"), GPR(r10, 10, "int64"),
	GPR(r11, 11, "int64"), GPR(r12, 12, "int64"), GPR(r13, 13, "int64"),
	GPR(r14, 14, "int64"), GPR(r15, 15, "int64"),
	GPR(rip, 16, "code_ptr"),
	/* gdb's eflags is 32 bits wide; bits 32-63 of RFLAGS are reserved. */
	{ "rflags", ST(regs.rflags), 8, VCR_REG_U, VCR_CLASS_REGS, G | SM, 17, 32,
	  "eflags", CORE, "i386_eflags", "general" },
	SEGSEL(cs, 18), SEGSEL(ss, 19), SEGSEL(ds, 20), SEGSEL(es, 21),
	SEGSEL(fs, 22), SEGSEL(gs, 23),
	X87("st0", 24, 80, "i387_ext"), X87("st1", 25, 80, "i387_ext"),
	X87("st2", 26, 80, "i387_ext"), X87("st3", 27, 80, "i387_ext"),
	X87("st4", 28, 80, "i387_ext"), X87("st5", 29, 80, "i387_ext"),
	X87("st6", 30, 80, "i387_ext"), X87("st7", 31, 80, "i387_ext"),
	X87("fctrl", 32, 32, "int"), X87("fstat", 33, 32, "int"),
	X87("ftag", 34, 32, "int"), X87("fiseg", 35, 32, "int"),
	X87("fioff", 36, 32, "int"), X87("foseg", 37, 32, "int"),
	X87("fooff", 38, 32, "int"), X87("fop", 39, 32, "int"),
	/* gdb treats these as segment bases only inside this feature. */
	{ "fs.base", ST(sregs.fs.base), 8, VCR_REG_U, VCR_CLASS_SREGS, G, 40, 64,
	  "fs_base", SEGS, "int", "system" },
	{ "gs.base", ST(sregs.gs.base), 8, VCR_REG_U, VCR_CLASS_SREGS, G, 41, 64,
	  "gs_base", SEGS, "int", "system" },
	SYSREG("cr0", sregs.cr0, 42, 64, NULL, "uint64"),
	SYSREG("cr2", sregs.cr2, 43, 64, NULL, "uint64"),
	SYSREG("cr3", sregs.cr3, 44, 64, NULL, "uint64"),
	SYSREG("cr4", sregs.cr4, 45, 64, NULL, "uint64"),
	SYSREG("cr8", sregs.cr8, 46, 64, NULL, "uint64"),
	SYSREG("efer", sregs.efer, 47, 64, NULL, "uint64"),
	SYSREG("apic_base", sregs.apic_base, 48, 64, NULL, "uint64"),
	SEGCACHE(cs, 49), SEGCACHE(ss, 52), SEGCACHE(ds, 55), SEGCACHE(es, 58),
	{ "fs.limit", ST(sregs.fs.limit), 4, VCR_REG_U, VCR_CLASS_SREGS, G, 61, 32,
	  "fs_limit", SYS, "uint32", "system" },
	{ "fs.attr", ST(sregs.fs.type), 9, VCR_REG_SEGATTR, VCR_CLASS_SREGS, G, 62, 32,
	  "fs_attr", SYS, "uint32", "system" },
	{ "gs.limit", ST(sregs.gs.limit), 4, VCR_REG_U, VCR_CLASS_SREGS, G, 63, 32,
	  "gs_limit", SYS, "uint32", "system" },
	{ "gs.attr", ST(sregs.gs.type), 9, VCR_REG_SEGATTR, VCR_CLASS_SREGS, G, 64, 32,
	  "gs_attr", SYS, "uint32", "system" },
	{ "tr", ST(sregs.tr.selector), 2, VCR_REG_U, VCR_CLASS_SREGS, G, 65, 32,
	  "tr", SYS, "uint32", "system" },
	SEGCACHE(tr, 66),
	{ "ldt", ST(sregs.ldt.selector), 2, VCR_REG_U, VCR_CLASS_SREGS, G, 69, 32,
	  "ldtr", SYS, "uint32", "system" },
	SEGCACHE(ldt, 70),
	SYSREG("gdt.base", sregs.gdt.base, 73, 64, "gdtr_base", "data_ptr"),
	SYSREG("gdt.limit", sregs.gdt.limit, 74, 32, "gdtr_limit", "uint32"),
	SYSREG("idt.base", sregs.idt.base, 75, 64, "idtr_base", "data_ptr"),
	SYSREG("idt.limit", sregs.idt.limit, 76, 32, "idtr_limit", "uint32"),
	SYSREG("intr_bitmap0", sregs.interrupt_bitmap[0], 77, 64, NULL, "uint64"),
	SYSREG("intr_bitmap1", sregs.interrupt_bitmap[1], 78, 64, NULL, "uint64"),
	SYSREG("intr_bitmap2", sregs.interrupt_bitmap[2], 79, 64, NULL, "uint64"),
	SYSREG("intr_bitmap3", sregs.interrupt_bitmap[3], 80, 64, NULL, "uint64"),
	/* Pending and injected events: "what was pending when it died?" */
	EVREG("exc.injected", exception.injected, 81, 8, "exc_injected"),
	EVREG("exc.nr", exception.nr, 82, 8, "exc_nr"),
	EVREG("exc.has_error_code", exception.has_error_code, 83, 8, "exc_has_error_code"),
	EVREG("exc.pending", exception.pending, 84, 8, "exc_pending"),
	EVREG("exc.error_code", exception.error_code, 85, 32, "exc_error_code"),
	EVREG("intr.injected", interrupt.injected, 86, 8, "intr_injected"),
	EVREG("intr.nr", interrupt.nr, 87, 8, "intr_nr"),
	EVREG("intr.soft", interrupt.soft, 88, 8, "intr_soft"),
	EVREG("intr.shadow", interrupt.shadow, 89, 8, "intr_shadow"),
	EVREG("nmi.injected", nmi.injected, 90, 8, "nmi_injected"),
	EVREG("nmi.pending", nmi.pending, 91, 8, "nmi_pending"),
	EVREG("nmi.masked", nmi.masked, 92, 8, "nmi_masked"),
	EVREG("sipi_vector", sipi_vector, 93, 32, "sipi_vector"),
	EVREG("events.flags", flags, 94, 32, "events_flags"),
	EVREG("smi.smm", smi.smm, 95, 8, "smi_smm"),
	EVREG("smi.pending", smi.pending, 96, 8, "smi_pending"),
	EVREG("smi.smm_inside_nmi", smi.smm_inside_nmi, 97, 8, "smi_inside_nmi"),
	EVREG("smi.latched_init", smi.latched_init, 98, 8, "smi_latched_init"),
	EVREG("triple_fault.pending", triple_fault.pending, 99, 8, "triple_fault_pending"),
	EVREG("exc.has_payload", exception_has_payload, 100, 8, "exc_has_payload"),
	EVREG("exc.payload", exception_payload, 101, 64, "exc_payload"),
};

const size_t vcr_nregs = sizeof(vcr_regs) / sizeof(vcr_regs[0]);

size_t vcr_gdb_nregs(void)
{
	size_t n = 0;
	for (size_t i = 0; i < vcr_nregs; i++)
		if (vcr_regs[i].gdb_regnum >= 0 && (size_t)vcr_regs[i].gdb_regnum + 1 > n)
			n = (size_t)vcr_regs[i].gdb_regnum + 1;
	return n;
}

const struct vcr_reg *vcr_reg_by_gdb(unsigned n)
{
	/* The table is in gdb order: entry n is register n when present. */
	if (n < vcr_nregs && vcr_regs[n].gdb_regnum == (int)n)
		return &vcr_regs[n];
	for (size_t i = 0; i < vcr_nregs; i++)
		if (vcr_regs[i].gdb_regnum == (int)n)
			return &vcr_regs[i];
	return NULL;
}

const struct vcr_reg *vcr_reg_by_name(const char *name)
{
	for (size_t i = 0; i < vcr_nregs; i++) {
		const struct vcr_reg *r = &vcr_regs[i];
		if (!strcmp(r->name, name) || (r->gdb_name && !strcmp(r->gdb_name, name)))
			return r;
	}
	return NULL;
}

static uint64_t load_le(const uint8_t *p, unsigned size)
{
	uint64_t v = 0;
	memcpy(&v, p, size);	/* x86-64 only: host order is little-endian */
	return v;
}

uint64_t vcr_reg_get(const struct vcr_vcpu_state *st, const struct vcr_reg *r)
{
	const uint8_t *p = (const uint8_t *)st + r->offset;

	switch (r->fmt) {
	case VCR_REG_U:
		return load_le(p, r->size);
	case VCR_REG_SEGATTR: {
		const struct kvm_segment *s =
			(const void *)(p - offsetof(struct kvm_segment, type));
		return (uint64_t)(s->type & 0xf) | (uint64_t)(s->s & 1) << 4 |
		       (uint64_t)(s->dpl & 3) << 5 | (uint64_t)(s->present & 1) << 7 |
		       (uint64_t)(s->avl & 1) << 12 | (uint64_t)(s->l & 1) << 13 |
		       (uint64_t)(s->db & 1) << 14 | (uint64_t)(s->g & 1) << 15 |
		       (uint64_t)(s->unusable & 1) << 16;
	}
	default:
		return 0;
	}
}

void vcr_reg_set(struct vcr_vcpu_state *st, const struct vcr_reg *r, uint64_t v)
{
	uint8_t *p = (uint8_t *)st + r->offset;

	switch (r->fmt) {
	case VCR_REG_U:
		memcpy(p, &v, r->size);
		break;
	case VCR_REG_SEGATTR: {
		struct kvm_segment *s = (void *)(p - offsetof(struct kvm_segment, type));
		s->type = v & 0xf;
		s->s = (v >> 4) & 1;
		s->dpl = (v >> 5) & 3;
		s->present = (v >> 7) & 1;
		s->avl = (v >> 12) & 1;
		s->l = (v >> 13) & 1;
		s->db = (v >> 14) & 1;
		s->g = (v >> 15) & 1;
		s->unusable = (v >> 16) & 1;
		break;
	}
	default:
		break;
	}
}

bool vcr_reg_differs(const struct vcr_vcpu_state *a, const struct vcr_vcpu_state *b,
		     const struct vcr_reg *r)
{
	if (r->fmt == VCR_REG_NONE)
		return false;
	return memcmp((const uint8_t *)a + r->offset, (const uint8_t *)b + r->offset,
		      r->size) != 0;
}

int vcr_reg_format(const struct vcr_vcpu_state *st, const struct vcr_reg *r,
		   char *buf, size_t len)
{
	if (r->fmt == VCR_REG_NONE)
		return snprintf(buf, len, "<unavailable>");
	unsigned digits = r->fmt == VCR_REG_SEGATTR ? 5 : r->size * 2u;
	return snprintf(buf, len, "0x%0*llx", (int)digits,
			(unsigned long long)vcr_reg_get(st, r));
}

const char *vcr_cpu_mode(const struct vcr_vcpu_state *st)
{
	const struct kvm_sregs *s = &st->sregs;

	if (!(s->cr0 & 1))
		return "real";
	if (st->regs.rflags & (1u << 17))
		return "v8086";
	if (s->efer & (1u << 10))	/* EFER.LMA */
		return s->cs.l ? "long64" : "compat";
	return s->cs.db ? "protected32" : "protected16";
}
