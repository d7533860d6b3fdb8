/*
 * vmm/boot.c: the boot structures every boot protocol shares (vmm/boot.h):
 * GDT, identity page tables, the memory map, the initial vCPU state. The
 * loaders (vmm/loader*.c) stand on it.
 *
 * Boot area (docs/vmm.md), all inside [VMM_BOOT_AREA, VMM_BOOT_AREA_END):
 *   0x1000  GDT: 0x08 32-bit code, 0x10 data, 0x18 64-bit code (flat, 4 GiB)
 *   0x2000  PML4, 0x3000 PDPT, 0x4000-0x7fff four page directories mapping
 *           0-4 GiB identically with 2 MiB pages (1 GiB pages would need
 *           pdpe1gb, which not every (nested) CPU offers)
 *   0x8000  multiboot information, memory map, names, command line
 * Only the structures the chosen mode needs are written.
 */
#include "vmm/boot.h"

#include <string.h>

#define SEL_CODE32	0x08
#define SEL_DATA	0x10
#define SEL_CODE64	0x18

#define CR0_PE		(1ull << 0)
#define CR0_ET		(1ull << 4)
#define CR0_PG		(1ull << 31)
#define CR4_PAE		(1ull << 5)
#define EFER_LME	(1ull << 8)
#define EFER_LMA	(1ull << 10)

#define REAL_SP		0x7c00ull	/* below the classic boot sector address */

bool vmm_boot_overlaps(uint64_t gpa, uint64_t len)
{
	uint64_t end;

	if (!len)
		return false;
	if (vcr_add_overflow(gpa, len, &end))
		return true;
	return gpa < VMM_BOOT_AREA_END && end > VMM_BOOT_AREA;
}

static int boot_write_gdt(struct vmm *vm)
{
	/* Accessed bits preset (0x9b / 0x93) so the CPU never writes the GDT. */
	static const uint64_t gdt[4] = {
		0,
		0x00cf9b000000ffffull,	/* 0x08: code, 32-bit, base 0, 4 GiB */
		0x00cf93000000ffffull,	/* 0x10: data, base 0, 4 GiB */
		0x00af9b000000ffffull,	/* 0x18: code, 64-bit */
	};
	return vmm_mem_write(vm, VMM_BOOT_GDT, gdt, sizeof(gdt));
}

static int boot_write_page_tables(struct vmm *vm)
{
	uint64_t pml4[512] = { VMM_BOOT_PDPT | 3 };	/* present, writable */
	uint64_t pdpt[512] = { 0 };
	uint64_t pd[512];
	int r;

	for (unsigned i = 0; i < 4; i++)
		pdpt[i] = (VMM_BOOT_PD + i * 0x1000ull) | 3;
	r = vmm_mem_write(vm, VMM_BOOT_PML4, pml4, sizeof(pml4));
	if (!r)
		r = vmm_mem_write(vm, VMM_BOOT_PDPT, pdpt, sizeof(pdpt));
	for (unsigned i = 0; i < 4 && !r; i++) {
		for (unsigned j = 0; j < 512; j++)	/* present, writable, 2 MiB */
			pd[j] = (((uint64_t)i * 512 + j) << 21) | 0x83;
		r = vmm_mem_write(vm, VMM_BOOT_PD + i * 0x1000ull, pd, sizeof(pd));
	}
	return r;
}

int vmm_boot_write_tables(struct vmm *vm, enum vmm_mode mode)
{
	int r = 0;

	if (mode != VMM_MODE_REAL)
		r = boot_write_gdt(vm);
	if (!r && mode == VMM_MODE_LONG64)
		r = boot_write_page_tables(vm);
	return r;
}

unsigned vmm_boot_mem_map(const struct vmm *vm, struct vmm_boot_range *out)
{
	uint64_t mem = vm->cfg.mem_size;
	unsigned n = 0;

	/* Below 640 KiB: usable, except the boot area holding the boot
	 * information itself. 640 KiB - 1 MiB is the legacy hole. */
	out[n++] = (struct vmm_boot_range){ 0, VMM_BOOT_AREA, true };
	out[n++] = (struct vmm_boot_range){ VMM_BOOT_AREA, VMM_BOOT_AREA_END - VMM_BOOT_AREA,
					    false };
	out[n++] = (struct vmm_boot_range){ VMM_BOOT_AREA_END, 0xa0000 - VMM_BOOT_AREA_END,
					    true };
	if (mem > 0x100000)
		out[n++] = (struct vmm_boot_range){ 0x100000, mem - 0x100000, true };
	return n;
}

static void seg_flat(struct kvm_segment *s, uint16_t sel, bool code, bool l)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = code ? 0xb : 0x3;	/* execute/read accessed, read/write accessed */
	s->present = 1;
	s->s = 1;
	s->g = 1;
	s->l = l;
	s->db = !l;
}

int vmm_boot_set_state(struct vmm *vm, enum vmm_mode mode, uint64_t entry,
		       uint64_t eax, uint64_t ebx)
{
	for (uint32_t i = 0; i < vm->nvcpus; i++) {
		struct vcr_vcpu_state st;
		int r = vmm_vcpu_get_state(vm, i, &st);	/* KVM's reset state */
		if (r)
			return r;
		struct kvm_regs *g = &st.regs;
		struct kvm_sregs *s = &st.sregs;

		memset(g, 0, sizeof(*g));
		g->rflags = 0x2;	/* reserved bit 1; IF=0 */
		g->rax = eax;
		g->rbx = ebx;
		if (mode == VMM_MODE_REAL) {
			uint16_t cs = (uint16_t)((entry >> 4) & 0xf000);
			struct kvm_segment *segs[] = { &s->ds, &s->es, &s->fs, &s->gs, &s->ss };
			s->cs.selector = cs;
			s->cs.base = (uint64_t)cs << 4;
			g->rip = entry - s->cs.base;
			for (size_t k = 0; k < VCR_ARRAY_SIZE(segs); k++) {
				segs[k]->selector = 0;
				segs[k]->base = 0;
			}
			g->rsp = REAL_SP;
		} else {
			bool lm = mode == VMM_MODE_LONG64;
			seg_flat(&s->cs, lm ? SEL_CODE64 : SEL_CODE32, true, lm);
			seg_flat(&s->ds, SEL_DATA, false, false);
			s->es = s->fs = s->gs = s->ss = s->ds;
			s->gdt.base = VMM_BOOT_GDT;
			s->gdt.limit = 4 * 8 - 1;
			s->idt.base = 0;
			s->idt.limit = 0;	/* no IDT: any exception triple-faults */
			s->cr0 = CR0_PE | CR0_ET;
			if (lm) {
				s->cr0 |= CR0_PG;
				s->cr3 = VMM_BOOT_PML4;
				s->cr4 = CR4_PAE;
				s->efer = EFER_LME | EFER_LMA;
			}
			g->rip = entry;
			g->rsp = VMM_STACK_TOP;
		}
		r = vmm_vcpu_set_state(vm, i, &st, VCR_CLASS_REGS | VCR_CLASS_SREGS);
		if (r)
			return r;
	}
	return 0;
}

int vmm_boot_start(struct vmm *vm, enum vmm_mode mode, uint64_t entry, struct vcr_err *err)
{
	int r = vmm_boot_write_tables(vm, mode);

	if (r)
		return vcr_err_set(err, r, UINT64_MAX, "cannot write boot structures");
	r = vmm_boot_set_state(vm, mode, entry, 0, 0);
	if (r)
		return vcr_err_set(err, r, UINT64_MAX, "cannot set the initial vCPU state");
	return 0;
}
