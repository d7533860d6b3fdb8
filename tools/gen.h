/*
 * tools/gen.h: synthetic traces of a deterministic "test guest", written with
 * the trace writer API, for the dump/stats/diff tests and the diff benchmark.
 *
 * The guest model: each vCPU runs a loop of eight exiting instructions
 * (per-vCPU exit index e, op = e % 8):
 *   0,1,4  OUT 0x3f8 (UART), one byte ('a' + e % 26); rax holds the byte
 *   2      MMIO write 0xfee000b0, 4 bytes (e)
 *   3,7    IN 0x60: an INPUT record serves it (byte f(vcpu, e)); the guest
 *          keeps the byte in rbx, so rbx at e+1..e+4 shows it
 *   5      OUT 0x80 (POST code)
 *   6      MMIO read 0xfed00000, 4 bytes, served by an INPUT record
 * rip is 0x100000 + op * 0x10, rcx counts exits, the rest is a fixed long
 * mode state. Variants change one thing at a known exit (see the opts).
 * Same options, same bytes: two generations are the same run.
 */
#ifndef VCR_TOOLS_GEN_H
#define VCR_TOOLS_GEN_H

#include <stdbool.h>
#include <stdint.h>
#include "core/util.h"

struct vcr_gen_opts {
	uint64_t exits;		/* total exits (all vCPUs, round robin) */
	uint32_t vcpus;		/* 1..VCR_TRACE_MAX_VCPUS */
	uint32_t chunk_exits;	/* writer keyframe interval, 0: default */
	uint64_t ring_bytes;	/* writer ring mode: keep about this much */
	/* Variants (per-vCPU exit indexes of vCPU `variant_vcpu`): */
	uint32_t variant_vcpu;
	int64_t input_at;	/* -1, or an IN/MMIO-read exit whose input is
				 * XORed with 0x5a */
	int64_t extra_at;	/* -1, or: insert `extra` exits before this one */
	uint32_t extra;		/* OUT 0xe9 at rip 0x100100 + 2k */
	int64_t reg_at;		/* -1, or: at this exit rdi = reg_value */
	uint64_t reg_value;
	int32_t end_status;	/* END record: exit port, this status */
	bool no_end;		/* no END record */
	bool cut;		/* abort the writer: no footer, like a crash */
	bool marker;		/* a MARKER and a MEM_WRITE before the first exit */
	bool code;		/* MEM_WRITEs before the first exit: page tables
				 * at cr3 mapping the first 2 MiB, and each op's
				 * instruction at its rip (gen.c, gen_code) */
};

void vcr_gen_opts_init(struct vcr_gen_opts *o);

/* Write the trace to `path`. 0 or -errno (message in err). */
int vcr_gen_trace(const char *path, const struct vcr_gen_opts *o, struct vcr_err *err);

#endif
