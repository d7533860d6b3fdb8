/*
 * replayer/core.h: an ELF core file of the guest at one exit of a trace
 * (`vcr core`), for gdb, crash and the tools that read QEMU's
 * dump-guest-memory cores.
 *
 * The file (ELF64, ET_CORE, EM_X86_64, little-endian; docs/tools.md, "vcr
 * core", has the layout and the VCR note's fields):
 *   ELF header, program headers: one PT_NOTE, then the PT_LOADs sorted by
 *   p_vaddr (PN_XNUM and a section header 0 when there are 0xffff or more)
 *   notes: one NT_PRSTATUS ("CORE", struct elf_prstatus, pr_pid = vCPU + 1)
 *   per vCPU with a state at the exit, then one "QEMU" note per vCPU (type
 *   0, QEMU's QEMUCPUState version 1: segments, gdt/idt, cr0..cr4), then one
 *   "VCR" note (type VCR_CORE_NOTE_TYPE): the exit, the trace's identity,
 *   and the memory ranges that are left out (stale, unknown) or included but
 *   untracked
 *   memory: from a 4 KiB aligned offset, every included byte once, ranges in
 *   physical-address order.
 * Included memory: the bytes the cursor classes EXACT or UNTRACKED at the
 * exit. PT_LOADs: p_paddr is the guest-physical address. When paging is on
 * at the exit (the page tables of the exit's vCPU), every mapping of the
 * kernel half (long mode: the upper canonical half; 32-bit: 0x80000000 and
 * up) onto included memory gets a PT_LOAD with its virtual address as
 * p_vaddr; several mappings of one physical page share its file bytes. The
 * included bytes no kernel-half mapping reaches get p_vaddr = p_paddr (what
 * gdb needs on a guest that runs identity-mapped, or with paging off).
 *
 * vcr_core_write seeks the cursor to the exit and writes the whole file
 * with pwrite from large buffers at offsets from 0: fd must be a file open
 * for writing that supports pwrite (-ESPIPE otherwise). The caller owns fd
 * and removes a partial file after an error (ENOSPC...).
 *
 * Threading: the cursor's (one thread). Errors: 0 or -errno with the reason
 * in err: -ERANGE for an exit the trace does not hold, -EIO/-ENOSPC/-EFBIG...
 * from writing, -ENOMEM, or the cursor's error reading the trace.
 */
#ifndef VCR_REPLAYER_CORE_H
#define VCR_REPLAYER_CORE_H

#include <stdint.h>
#include "core/util.h"
#include "replayer/cursor.h"

#define VCR_CORE_NOTE_TYPE 0x56435201u	/* "VCR" note: "VCR" 1 */
#define VCR_CORE_NOTE_VERSION 1u
/* VCR note flags. */
#define VCR_CORE_F_UNTRACKED 1u	/* some included bytes are UNTRACKED (listed) */

struct vcr_core_opts {
	uint64_t at;		/* exit sequence number; UINT64_MAX: the last */
	const char *trace_path;	/* named in the VCR note, stat()ed for its
				 * identity (size, mtime); NULL: none */
};

struct vcr_core_result {
	uint64_t exit;		/* the exit written */
	uint64_t file_bytes;	/* size of the core */
	uint64_t mem_bytes;	/* included memory (each byte once) */
	uint64_t untracked_bytes;	/* of which UNTRACKED */
	uint64_t stale_bytes, unknown_bytes;	/* left out (unknown: inside the
						 * trace's memory layout) */
	uint32_t nvcpus;	/* NT_PRSTATUS notes */
	uint64_t nloads;	/* PT_LOADs */
	uint64_t nvirt;		/* of which kernel-half mappings */
	uint64_t unreadable_tables;	/* page-table pages the trace lacks */
};

int vcr_core_write(struct vcr_cursor *c, int fd, const struct vcr_core_opts *o,
		   struct vcr_core_result *res, struct vcr_err *err);

#endif
