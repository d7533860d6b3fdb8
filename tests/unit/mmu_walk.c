/* mmu_walk: vcr_mmu_walk (core/x86_mmu.h) on hand-built page tables in
 * every paging mode: the mappings listed are the ones built (values from
 * the construction), in va order, clipped to the range asked, each one
 * agreeing with vcr_mmu_translate; tables the memory lacks are counted and
 * skipped; a table pointing at itself is walked in bounded work when the
 * callback bounds it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/x86_mmu.h"
#include "tests/lib/tap.h"

#define MEM (4u << 20)
static uint8_t *mem;

static int rd(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	(void)ctx;
	if (gpa > MEM || len > MEM - gpa)
		return -ENOENT;
	memcpy(buf, mem + gpa, len);
	return 0;
}

static void put32(uint64_t a, uint32_t v) { memcpy(mem + a, &v, 4); }
static void put64(uint64_t a, uint64_t v) { memcpy(mem + a, &v, 8); }

struct map { uint64_t va, gpa, len; };
struct got {
	struct map m[64];
	unsigned n;
	unsigned limit;		/* stop after this many (0: none) */
	const struct vcr_vcpu_state *st;
	int agree;
};

static int on_map(void *arg, uint64_t va, uint64_t gpa, uint64_t len)
{
	struct got *g = arg;
	uint64_t t, left;
	if (g->limit && g->n >= g->limit)
		return 1;
	if (vcr_mmu_translate(g->st, va, rd, NULL, &t, &left) || t != gpa ||
	    vcr_mmu_translate(g->st, va + len - 1, rd, NULL, &t, &left) || t != gpa + len - 1)
		g->agree = 0;
	if (g->n < 64)
		g->m[g->n] = (struct map){ va, gpa, len };
	g->n++;
	return 0;
}

static int same(const struct got *g, const struct map *want, unsigned n)
{
	if (g->n != n) {
		tap_diag("%u mappings, want %u", g->n, n);
		return 0;
	}
	for (unsigned i = 0; i < n; i++)
		if (g->m[i].va != want[i].va || g->m[i].gpa != want[i].gpa ||
		    g->m[i].len != want[i].len) {
			tap_diag("mapping %u: va 0x%llx gpa 0x%llx len 0x%llx", i,
				 (unsigned long long)g->m[i].va, (unsigned long long)g->m[i].gpa,
				 (unsigned long long)g->m[i].len);
			return 0;
		}
	return g->agree;
}

static void walk(const struct vcr_vcpu_state *st, uint64_t lo, uint64_t hi, struct got *g,
		 uint64_t *unreadable)
{
	memset(g, 0, sizeof(*g));
	g->st = st;
	g->agree = 1;
	*unreadable = 0;
	vcr_mmu_walk(st, lo, hi, rd, NULL, on_map, g, unreadable);
}

int main(void)
{
	struct vcr_vcpu_state st;
	struct got g;
	uint64_t unr;

	tap_plan(8);
	mem = calloc(1, MEM);
	if (!mem)
		tap_bail("calloc");

	memset(&st, 0, sizeof(st));
	walk(&st, 0, UINT64_MAX, &g, &unr);
	tap_ok(g.n == 0, "paging off: no mapping listed");

	/* 32-bit: cr3 0x1000; PDE 0 -> PT 0x2000 (PTE 5 -> 0x7000); PDE 1 ->
	 * 4 MiB at 0x00c00000 with PSE-36 bits 3; PDE 0x300 -> PT outside
	 * memory (unreadable). */
	st.sregs.cr0 = 0x80000001;
	st.sregs.cr3 = 0x1000;
	st.sregs.cr4 = 0x10;
	put32(0x1000, 0x2000 | 1);
	put32(0x2000 + 5 * 4, 0x7000 | 1);
	put32(0x1000 + 4, 0x00c00000 | (3u << 13) | 0x81);
	put32(0x1000 + 0x300 * 4, 0x7ffff000u | 1);
	walk(&st, 0, UINT64_MAX, &g, &unr);
	static const struct map w32[] = {
		{ 0x5000, 0x7000, 0x1000 }, { 0x400000, 0x300c00000ull, 0x400000 },
	};
	tap_ok(same(&g, w32, 2) && unr == 1, "32-bit: 4 KiB and 4 MiB (PSE-36), one table unreadable");
	walk(&st, 0x401000, 0x402fff, &g, &unr);
	static const struct map w32c[] = { { 0x401000, 0x300c01000ull, 0x2000 } };
	tap_ok(same(&g, w32c, 1), "32-bit: clipped to the range asked");

	/* PAE: cr3 0x10000 (PDPT, 4 entries); PDPTE 3 -> PD 0x11000; PDE 0 ->
	 * 2 MiB at 0x200000; PDE 1 -> PT 0x12000, PTE 1 -> 0x9000. */
	memset(mem, 0, MEM);
	st.sregs.cr3 = 0x10000;
	st.sregs.cr4 = 0x20;
	put64(0x10000 + 3 * 8, 0x11000 | 1);
	put64(0x11000, 0x200000 | 0x81);
	put64(0x11000 + 8, 0x12000 | 1);
	put64(0x12000 + 8, 0x9000 | 1);
	walk(&st, 0x80000000, 0xffffffff, &g, &unr);
	static const struct map wpae[] = {
		{ 0xc0000000, 0x200000, 0x200000 }, { 0xc0201000, 0x9000, 0x1000 },
	};
	tap_ok(same(&g, wpae, 2), "PAE: 2 MiB and 4 KiB in the upper half");

	/* 4-level: PML4 at 0x20000. Entry 0 -> PDPT 0x21000: PDPTE 1 -> 1 GiB
	 * at 0x40000000. Entry 511 -> PDPT 0x22000: PDPTE 511 -> PD 0x23000:
	 * PDE 511 -> 2 MiB at 0x600000. */
	memset(mem, 0, MEM);
	st.sregs.cr3 = 0x20000;
	st.sregs.cr4 = 0x20;
	st.sregs.efer = 0x500;
	put64(0x20000, 0x21000 | 3);
	put64(0x21000 + 8, 0x40000000 | 0x83);
	put64(0x20000 + 511 * 8, 0x22000 | 3);
	put64(0x22000 + 511 * 8, 0x23000 | 3);
	put64(0x23000 + 511 * 8, 0x600000 | 0x83);
	walk(&st, 0, UINT64_MAX, &g, &unr);
	static const struct map w4[] = {
		{ 0x40000000, 0x40000000, 0x40000000 },
		{ 0xffffffffffe00000ull, 0x600000, 0x200000 },
	};
	tap_ok(same(&g, w4, 2), "4-level: 1 GiB low, 2 MiB at the top, canonical addresses");
	walk(&st, 0xffff800000000000ull, UINT64_MAX, &g, &unr);
	tap_ok(same(&g, w4 + 1, 1), "4-level: the kernel half only");

	/* 5-level: PML5 at 0x30000, entry 511 -> the PML4 above. */
	st.sregs.cr3 = 0x30000;
	st.sregs.cr4 = 0x20 | 0x1000;
	put64(0x30000 + 511 * 8, 0x20000 | 3);
	walk(&st, 0xff00000000000000ull, UINT64_MAX, &g, &unr);
	static const struct map w5[] = {
		{ 0xffff000040000000ull, 0x40000000, 0x40000000 },
		{ 0xffffffffffe00000ull, 0x600000, 0x200000 },
	};
	tap_ok(same(&g, w5, 2), "5-level: both mappings through PML5[511]");

	/* Every entry of a PML4 pointing at itself: 512^3 4 KiB leaves if
	 * walked out; the callback's bound ends the walk. */
	memset(mem, 0, MEM);
	st.sregs.cr3 = 0x20000;
	st.sregs.cr4 = 0x20;
	for (int i = 0; i < 512; i++)
		put64(0x20000 + (uint64_t)i * 8, 0x20000 | 3);
	memset(&g, 0, sizeof(g));
	g.st = &st;
	g.agree = 1;
	g.limit = 1000;
	int rc = vcr_mmu_walk(&st, 0, UINT64_MAX, rd, NULL, on_map, &g, &unr);
	tap_ok(rc == 1 && g.n == 1000 && g.agree, "self-referencing tables: the callback's bound stops it");
	free(mem);
	return tap_exit_status();
}
