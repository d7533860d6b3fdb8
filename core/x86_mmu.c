/* core/x86_mmu.c: guest page-table walker (see x86_mmu.h; Intel SDM vol. 3,
 * chapter 4 "Paging"). */
#include "core/x86_mmu.h"

#include <errno.h>

#define CR0_PG   (1ull << 31)
#define CR4_PSE  (1ull << 4)
#define CR4_PAE  (1ull << 5)
#define CR4_LA57 (1ull << 12)
#define EFER_LMA (1ull << 10)

#define PTE_P    (1ull << 0)
#define PTE_PS   (1ull << 7)
/* Physical address bits 51:12 of an entry. Bits 63:52 (NX, protection keys,
 * software bits) are not address bits. */
#define PTE_ADDR 0x000ffffffffff000ull

int vcr_mmu_levels(const struct vcr_vcpu_state *st)
{
	const struct kvm_sregs *s = &st->sregs;

	if (!(s->cr0 & CR0_PG))
		return 0;
	if (!(s->cr4 & CR4_PAE))
		return 2;
	if (!(s->efer & EFER_LMA))
		return 3;
	return (s->cr4 & CR4_LA57) ? 5 : 4;
}

static int read32(vcr_mmu_read_fn rd, void *ctx, uint64_t gpa, uint64_t *v)
{
	uint32_t x;
	int rc = rd(ctx, gpa, &x, sizeof(x));
	if (rc)
		return rc;
	*v = x;
	return 0;
}

static int read64(vcr_mmu_read_fn rd, void *ctx, uint64_t gpa, uint64_t *v)
{
	return rd(ctx, gpa, v, sizeof(*v));
}

static void done(uint64_t va, uint64_t base, unsigned shift, uint64_t *gpa,
		 uint64_t *page_left)
{
	uint64_t mask = (1ull << shift) - 1;

	*gpa = base + (va & mask);
	*page_left = (1ull << shift) - (va & mask);
}

static int walk32(const struct vcr_vcpu_state *st, uint64_t va, vcr_mmu_read_fn rd,
		  void *ctx, uint64_t *gpa, uint64_t *page_left)
{
	uint64_t pde, pte;
	int rc;

	va &= 0xffffffffull;
	rc = read32(rd, ctx, (st->sregs.cr3 & 0xfffff000ull) + ((va >> 22) << 2), &pde);
	if (rc)
		return rc;
	if (!(pde & PTE_P))
		return -EFAULT;
	if ((pde & PTE_PS) && (st->sregs.cr4 & CR4_PSE)) {
		/* 4 MiB page: bits 31:22 from the PDE, 39:32 from PDE bits
		 * 20:13 (PSE-36). */
		uint64_t base = (pde & 0xffc00000ull) | ((pde >> 13) & 0xffull) << 32;
		done(va, base, 22, gpa, page_left);
		return 0;
	}
	rc = read32(rd, ctx, (pde & 0xfffff000ull) + (((va >> 12) & 0x3ff) << 2), &pte);
	if (rc)
		return rc;
	if (!(pte & PTE_P))
		return -EFAULT;
	done(va, pte & 0xfffff000ull, 12, gpa, page_left);
	return 0;
}

static int walk_pae(const struct vcr_vcpu_state *st, uint64_t va, vcr_mmu_read_fn rd,
		    void *ctx, uint64_t *gpa, uint64_t *page_left)
{
	uint64_t e;
	int rc;

	va &= 0xffffffffull;
	/* The PDPT is 32-byte aligned at cr3 bits 31:5. */
	rc = read64(rd, ctx, (st->sregs.cr3 & 0xffffffe0ull) + ((va >> 30) << 3), &e);
	if (rc)
		return rc;
	if (!(e & PTE_P))
		return -EFAULT;
	rc = read64(rd, ctx, (e & PTE_ADDR) + (((va >> 21) & 0x1ff) << 3), &e);
	if (rc)
		return rc;
	if (!(e & PTE_P))
		return -EFAULT;
	if (e & PTE_PS) {
		done(va, e & PTE_ADDR & ~((1ull << 21) - 1), 21, gpa, page_left);
		return 0;
	}
	rc = read64(rd, ctx, (e & PTE_ADDR) + (((va >> 12) & 0x1ff) << 3), &e);
	if (rc)
		return rc;
	if (!(e & PTE_P))
		return -EFAULT;
	done(va, e & PTE_ADDR, 12, gpa, page_left);
	return 0;
}

static int walk_long(const struct vcr_vcpu_state *st, int levels, uint64_t va,
		     vcr_mmu_read_fn rd, void *ctx, uint64_t *gpa, uint64_t *page_left)
{
	unsigned vbits = levels == 5 ? 57 : 48;
	uint64_t table = st->sregs.cr3 & PTE_ADDR;
	int rc;

	/* Canonical: bits 63:vbits-1 all equal. */
	int64_t sx = (int64_t)(va << (64 - vbits)) >> (64 - vbits);
	if ((uint64_t)sx != va)
		return -EFAULT;
	for (int lvl = levels; lvl >= 1; lvl--) {
		unsigned shift = 12 + 9 * (unsigned)(lvl - 1);
		uint64_t e;

		rc = read64(rd, ctx, table + (((va >> shift) & 0x1ff) << 3), &e);
		if (rc)
			return rc;
		if (!(e & PTE_P))
			return -EFAULT;
		/* PS is a page-size bit at the PDPTE (1 GiB) and PDE (2 MiB)
		 * levels only; at the PML4/PML5 it is reserved. */
		if (lvl == 1 || ((lvl == 2 || lvl == 3) && (e & PTE_PS))) {
			done(va, e & PTE_ADDR & ~((1ull << shift) - 1), shift, gpa,
			     page_left);
			return 0;
		}
		table = e & PTE_ADDR;
	}
	return -EFAULT;	/* not reached */
}

int vcr_mmu_translate(const struct vcr_vcpu_state *st, uint64_t va,
		      vcr_mmu_read_fn read, void *ctx,
		      uint64_t *gpa, uint64_t *page_left)
{
	int levels = vcr_mmu_levels(st);

	switch (levels) {
	case 0:
		*gpa = va;
		*page_left = 4096 - (va & 4095);
		return 0;
	case 2:
		return walk32(st, va, read, ctx, gpa, page_left);
	case 3:
		return walk_pae(st, va, read, ctx, gpa, page_left);
	default:
		return walk_long(st, levels, va, read, ctx, gpa, page_left);
	}
}
