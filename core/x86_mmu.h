/*
 * core/x86_mmu.h: guest page-table walker. Translates a guest-virtual
 * (linear) address to a guest-physical one the way the vCPU in `st` would,
 * reading the guest's page tables through a physical-read callback. Used by
 * the gdbstub (gdb's addresses are virtual) on live vCPUs and on traces.
 *
 * Modes, from cr0.PG, cr4.PAE/PSE/LA57 and efer.LMA:
 *   paging off              linear = physical (no segmentation applied: gdb
 *                           does not apply it either; see docs/gdb.md)
 *   32-bit, no PAE          2 levels, 4 KiB pages, 4 MiB pages with cr4.PSE
 *                           (PSE-36 high address bits honoured)
 *   PAE                     3 levels (PDPTEs read from memory at cr3), 4 KiB
 *                           and 2 MiB pages
 *   4-level / 5-level       with 2 MiB and 1 GiB pages; non-canonical
 *                           addresses fail
 * Permissions (U/S, R/W, NX) are not checked: a debugger reads what the
 * kernel could read. Accessed/dirty bits are never written.
 *
 * Returns 0 and fills *gpa and *page_left (bytes from va to the end of its
 * page, so callers can copy page by page), -EFAULT when a level is not
 * present or the address is not canonical, or the callback's error.
 * No state, no allocation: safe from any thread.
 */
#ifndef VCR_CORE_X86_MMU_H
#define VCR_CORE_X86_MMU_H

#include <stddef.h>
#include <stdint.h>
#include "core/state.h"

/* Read len bytes of guest-physical memory at gpa; 0 or -errno. */
typedef int (*vcr_mmu_read_fn)(void *ctx, uint64_t gpa, void *buf, size_t len);

int vcr_mmu_translate(const struct vcr_vcpu_state *st, uint64_t va,
		      vcr_mmu_read_fn read, void *ctx,
		      uint64_t *gpa, uint64_t *page_left);

/* Number of page-table levels in use (0: paging off, 2, 3, 4 or 5). */
int vcr_mmu_levels(const struct vcr_vcpu_state *st);

/* Enumerate the mappings instead of translating one address (vcr core lays
 * out its PT_LOADs from them): fn(arg, va, gpa, len) once per present leaf
 * (4 KiB page, or 2 MiB / 4 MiB / 1 GiB page as one call) whose linear
 * range meets [va_lo, va_hi] (inclusive; clipped to it), in increasing va
 * order (canonical, sign-extended addresses in long mode). Each table is
 * read with one call of `read`; a table it cannot read (-ENOENT, -EFAULT)
 * is skipped and counted in *unreadable (if not NULL): a walk over a partly
 * recorded memory gives what can be known. Page tables can share tables
 * (or point back at themselves): a caller walking untrusted memory bounds
 * the work in its callbacks (fn's nonzero result, or another error from
 * `read`, ends the walk and is returned). Paging off: no call (there is no
 * mapping to list). Returns 0 or that result. */
typedef int (*vcr_mmu_map_fn)(void *arg, uint64_t va, uint64_t gpa, uint64_t len);
int vcr_mmu_walk(const struct vcr_vcpu_state *st, uint64_t va_lo, uint64_t va_hi,
		 vcr_mmu_read_fn read, void *ctx, vcr_mmu_map_fn fn, void *arg,
		 uint64_t *unreadable);

#endif
