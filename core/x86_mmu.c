/* core/x86_mmu.c: guest page-table walker (see x86_mmu.h; Intel SDM vol. 3,
 * chapter 4 "Paging"). */
#include "core/x86_mmu.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

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

/* ------------------------------------------------------ enumeration */

struct mmu_walk {
	const struct vcr_vcpu_state *st;
	vcr_mmu_read_fn rd;
	void *ctx;
	vcr_mmu_map_fn fn;
	void *arg;
	uint64_t lo, hi;	/* inclusive, in the canonical form */
	uint64_t *unreadable;
	int levels;		/* 2, 3, 4, 5 */
	unsigned vbits;		/* 32, 48, 57 */
};

/* Canonical form of a linear address built from table indexes. */
static uint64_t mmu_canon(const struct mmu_walk *w, uint64_t va)
{
	if (w->vbits == 32)
		return va & 0xffffffffull;
	return (uint64_t)((int64_t)(va << (64 - w->vbits)) >> (64 - w->vbits));
}

static int mmu_leaf(struct mmu_walk *w, uint64_t va, uint64_t base, uint64_t size)
{
	uint64_t end = va + (size - 1);	/* inclusive: 1 GiB at the top does not wrap */
	if (end < w->lo || va > w->hi)
		return 0;
	if (va < w->lo) {
		base += w->lo - va;
		va = w->lo;
	}
	if (end > w->hi)
		end = w->hi;
	return w->fn(w->arg, va, base, end - va + 1);
}

/* Table at gpa `table` of level lvl, covering linear addresses from raw
 * (non-canonical) `va_base`. */
static int mmu_walk_table(struct mmu_walk *w, uint64_t table, int lvl, uint64_t va_base)
{
	bool pae = w->levels >= 3, top = lvl == w->levels;
	unsigned esize = pae ? 8 : 4;
	unsigned shift = pae ? 12 + 9 * (unsigned)(lvl - 1) : (lvl == 2 ? 22 : 12);
	unsigned n = !pae ? 1024 : (w->levels == 3 && top) ? 4 : 512;
	uint8_t buf[4096];
	int rc;

	rc = w->rd(w->ctx, table, buf, (size_t)n * esize);
	if (rc == -ENOENT || rc == -EFAULT) {
		if (w->unreadable)
			(*w->unreadable)++;
		return 0;
	}
	if (rc)
		return rc;
	for (unsigned i = 0; i < n; i++) {
		uint64_t raw = va_base + ((uint64_t)i << shift), size = 1ull << shift;
		uint64_t va = mmu_canon(w, raw), e;
		if (va + (size - 1) < w->lo || va > w->hi)
			continue;
		if (pae) {
			memcpy(&e, buf + i * 8, 8);
		} else {
			uint32_t x;
			memcpy(&x, buf + i * 4, 4);
			e = x;
		}
		if (!(e & PTE_P))
			continue;
		if (!pae) {
			if (lvl == 1)
				rc = mmu_leaf(w, va, e & 0xfffff000ull, size);
			else if ((e & PTE_PS) && (w->st->sregs.cr4 & CR4_PSE))
				rc = mmu_leaf(w, va, (e & 0xffc00000ull) |
					      ((e >> 13) & 0xffull) << 32, size);
			else
				rc = mmu_walk_table(w, e & 0xfffff000ull, lvl - 1, raw);
		} else if (lvl == 1 || ((lvl == 2 || (lvl == 3 && w->levels >= 4)) &&
					(e & PTE_PS))) {
			rc = mmu_leaf(w, va, e & PTE_ADDR & ~(size - 1), size);
		} else {
			rc = mmu_walk_table(w, e & PTE_ADDR, lvl - 1, raw);
		}
		if (rc)
			return rc;
	}
	return 0;
}

int vcr_mmu_walk(const struct vcr_vcpu_state *st, uint64_t va_lo, uint64_t va_hi,
		 vcr_mmu_read_fn read, void *ctx, vcr_mmu_map_fn fn, void *arg,
		 uint64_t *unreadable)
{
	struct mmu_walk w = {
		.st = st, .rd = read, .ctx = ctx, .fn = fn, .arg = arg, .lo = va_lo,
		.hi = va_hi, .unreadable = unreadable, .levels = vcr_mmu_levels(st),
	};
	uint64_t table;

	switch (w.levels) {
	case 0:
		return 0;
	case 2:
		w.vbits = 32;
		table = st->sregs.cr3 & 0xfffff000ull;
		break;
	case 3:
		w.vbits = 32;
		table = st->sregs.cr3 & 0xffffffe0ull;
		break;
	default:
		w.vbits = w.levels == 5 ? 57 : 48;
		table = st->sregs.cr3 & PTE_ADDR;
	}
	return mmu_walk_table(&w, table, w.levels, 0);
}
