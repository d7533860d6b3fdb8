/* rsp_mmu_test: core/x86_mmu.c on hand-built page tables in every paging
 * mode (paging off, 32-bit with 4 KiB and 4 MiB pages, PAE, 4-level and
 * 5-level with 4 KiB / 2 MiB / 1 GiB pages), not-present and non-canonical
 * addresses. (Named rsp_* because it belongs to the gdbstub's tests.) */
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
		return -EFAULT;
	memcpy(buf, mem + gpa, len);
	return 0;
}

static void put32(uint64_t a, uint32_t v) { memcpy(mem + a, &v, 4); }
static void put64(uint64_t a, uint64_t v) { memcpy(mem + a, &v, 8); }

static int tr(const struct vcr_vcpu_state *st, uint64_t va, uint64_t *gpa, uint64_t *left)
{
	uint64_t l;
	return vcr_mmu_translate(st, va, rd, NULL, gpa, left ? left : &l);
}

int main(void)
{
	struct vcr_vcpu_state st;
	uint64_t gpa = 0, left = 0;

	tap_plan(19);
	mem = calloc(1, MEM);
	if (!mem)
		tap_bail("calloc");

	memset(&st, 0, sizeof(st));
	tap_ok(vcr_mmu_levels(&st) == 0 && tr(&st, 0x12345, &gpa, &left) == 0 &&
	       gpa == 0x12345 && left == 0x1000 - 0x345, "paging off: identity, page_left");

	/* 32-bit: cr3=0x1000; PDE 0 -> PT at 0x2000; PTE 5 -> 0x7000.
	 * PDE 1 -> 4 MiB page at 0x00c00000 with PSE-36 bits = 0x3 (-> 3_00c00000). */
	put32(0x1000, 0x2000 | 1);
	put32(0x2000 + 5 * 4, 0x7000 | 1);
	put32(0x1000 + 1 * 4, 0x00c00000 | 0x81 | (3u << 13));
	st.sregs.cr0 = 0x80000001;
	st.sregs.cr3 = 0x1000;
	tap_ok(vcr_mmu_levels(&st) == 2 && tr(&st, 0x5abc, &gpa, &left) == 0 && gpa == 0x7abc &&
	       left == 0x544, "32-bit: 4 KiB page");
	tap_ok(tr(&st, 0x6000, &gpa, NULL) == -EFAULT, "32-bit: not-present PTE faults");
	st.sregs.cr4 = 0x10;	/* PSE */
	tap_ok(tr(&st, 0x00412345, &gpa, &left) == 0 && gpa == 0x300c12345ull &&
	       left == 0x400000 - 0x12345, "32-bit: 4 MiB page with PSE-36 bits");
	st.sregs.cr4 = 0;
	tap_ok(tr(&st, 0x00412345, &gpa, NULL) != 0 || gpa != 0x300c12345ull, "32-bit: PS ignored without cr4.PSE");
	tap_ok(tr(&st, 0x100005abcull, &gpa, NULL) == 0 && gpa == 0x7abc,
	       "32-bit: the address is truncated to 32 bits");

	/* PAE: cr3=0x3000 (PDPT, 32-byte aligned); PDPTE 0 -> PD 0x4000;
	 * PDE 0 -> PT 0x5000 -> PTE 1 -> 0x9000; PDE 1 -> 2 MiB page at 0x600000. */
	memset(mem, 0, MEM);
	put64(0x3000, 0x4000 | 1);
	put64(0x4000, 0x5000 | 1);
	put64(0x5000 + 8, 0x9000 | 1 | (1ull << 63));	/* NX is not an address bit */
	put64(0x4008, 0x600000 | 0x81);
	st.sregs.cr3 = 0x3000;
	st.sregs.cr4 = 0x20;
	tap_ok(vcr_mmu_levels(&st) == 3 && tr(&st, 0x1010, &gpa, NULL) == 0 && gpa == 0x9010,
	       "PAE: 4 KiB page (NX bit ignored)");
	tap_ok(tr(&st, 0x200123, &gpa, &left) == 0 && gpa == 0x600123 &&
	       left == 0x200000 - 0x123, "PAE: 2 MiB page");
	tap_ok(tr(&st, 0x40000000, &gpa, NULL) == -EFAULT, "PAE: not-present PDPTE faults");

	/* 4-level: cr3=0x10000; PML4[0] -> 0x11000; PML4[511] -> 0x14000.
	 * PDPT 0x11000: [0] -> PD 0x12000, [1] -> 1 GiB page at 0x40000000.
	 * PD 0x12000: [0] -> PT 0x13000 (PTE 2 -> 0x20000), [1] -> 2 MiB at 0x200000.
	 * Kernel half: PDPT 0x14000 [510] -> PD 0x15000 [0] -> 2 MiB at 0x400000. */
	memset(mem, 0, MEM);
	put64(0x10000, 0x11000 | 3);
	put64(0x10000 + 511 * 8, 0x14000 | 3);
	put64(0x11000, 0x12000 | 3);
	put64(0x11008, 0x40000000 | 0x83);
	put64(0x12000, 0x13000 | 3);
	put64(0x12008, 0x200000 | 0x83);
	put64(0x13000 + 2 * 8, 0x20000 | 3);
	put64(0x14000 + 510 * 8, 0x15000 | 3);
	put64(0x15000, 0x400000 | 0x83);
	st.sregs.cr3 = 0x10000;
	st.sregs.cr4 = 0x20;
	st.sregs.efer = 0x500;
	tap_ok(vcr_mmu_levels(&st) == 4 && tr(&st, 0x2468, &gpa, &left) == 0 &&
	       gpa == 0x20468 && left == 0xb98, "4-level: 4 KiB page");
	tap_ok(tr(&st, 0x3fffff, &gpa, &left) == 0 && gpa == 0x3fffff && left == 1,
	       "4-level: 2 MiB page, last byte");
	tap_ok(tr(&st, 0x7fffffff, &gpa, &left) == 0 && gpa == 0x7fffffff && left == 1,
	       "4-level: 1 GiB page");
	tap_ok(tr(&st, 0xffffffff80001234ull, &gpa, NULL) == 0 && gpa == 0x401234,
	       "4-level: kernel-half address");
	tap_ok(tr(&st, 0x0000800000000000ull, &gpa, NULL) == -EFAULT,
	       "4-level: non-canonical address faults");
	tap_ok(tr(&st, 0x3000, &gpa, NULL) == -EFAULT, "4-level: not-present PTE faults");
	put64(0x10008, 0x3ff000000ull | 3);	/* PML4[1] points outside memory */
	tap_ok(tr(&st, 0x8000000000ull, &gpa, NULL) == -EFAULT,
	       "4-level: a table outside memory gives the reader's error");

	/* 5-level: cr3=0x30000; PML5[0] -> the 4-level PML4 above. */
	put64(0x30000, 0x10000 | 3);
	st.sregs.cr3 = 0x30000;
	st.sregs.cr4 = 0x20 | 0x1000;
	tap_ok(vcr_mmu_levels(&st) == 5 && tr(&st, 0x2468, &gpa, NULL) == 0 && gpa == 0x20468,
	       "5-level: 4 KiB page");
	tap_ok(tr(&st, 0x0000800000000000ull, &gpa, NULL) == -EFAULT,
	       "5-level: PML5[1] not present");
	tap_ok(tr(&st, 0xff00000000000000ull, &gpa, NULL) == -EFAULT &&
	       tr(&st, 0x0100000000000000ull, &gpa, NULL) == -EFAULT,
	       "5-level: non-canonical (57-bit) addresses fault");

	free(mem);
	return tap_exit_status();
}
