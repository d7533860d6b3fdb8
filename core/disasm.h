/*
 * core/disasm.h: the instruction at a vCPU's rip, decoded with libcapstone
 * in the mode the vCPU is in, from guest memory read through a callback (a
 * trace's memory through the replay cursor, or a live VMM's). Used by `vcr
 * dump`, `vcr diff`, `vcr stats` and the crash message of `vcr run`.
 *
 * Mode (vcr_disasm_mode), from the state alone:
 *   CR0.PE = 0 (real mode) or RFLAGS.VM = 1 (virtual-8086)    16-bit
 *   EFER.LMA = 1 and CS.L = 1 (64-bit mode)                      64-bit
 *   otherwise (protected mode, compatibility mode)   CS.D/B ? 32 : 16
 * Address: the linear address is CS.base + rip (64-bit mode: rip, the base
 * does not apply; other modes wrap at 4 GiB), translated through the page
 * tables of the state (core/x86_mmu.h) when CR0.PG is set. Text is AT&T
 * syntax (as GNU as and gdb write it), branch targets computed from rip.
 *
 * Bytes are never guessed: up to 15 are fetched (page by page); when a
 * read fails the longest readable prefix is kept, and an instruction that
 * needs bytes past it is VCR_INSN_UNKNOWN, as is one whose first byte (or
 * page-table entry) cannot be read. VCR_INSN_INVALID: 15 bytes known and
 * no instruction in them.
 *
 * Lifecycle: vcr_disasm_open (capstone handles, one per mode), any number
 * of decodes, vcr_disasm_close (accepts NULL). Threading: one handle per
 * thread. Errors: 0 or -errno (-ENOMEM; a read callback's error other than
 * -ENOENT, which means "these bytes are not known").
 */
#ifndef VCR_CORE_DISASM_H
#define VCR_CORE_DISASM_H

#include <stddef.h>
#include <stdint.h>
#include "core/state.h"
#include "core/x86_mmu.h"

#define VCR_INSN_MAX 15		/* bytes: the architectural limit */
#define VCR_INSN_TEXT 200	/* text, with the NUL (capstone: 32 + 160) */

enum vcr_insn_status {
	VCR_INSN_OK = 0,	/* decoded: text, len */
	VCR_INSN_UNKNOWN,	/* the bytes it needs are not known: why */
	VCR_INSN_INVALID,	/* 15 bytes known, no instruction */
};

/* Why an instruction is unknown (the first obstacle met). */
enum vcr_insn_why {
	VCR_INSN_WHY_NONE = 0,
	VCR_INSN_WHY_NO_BYTES,	/* no bytes known at gpa `where` */
	VCR_INSN_WHY_NOT_MAPPED,	/* linear `where` not present in the page
					 * tables, or not canonical */
	VCR_INSN_WHY_NO_TABLES,	/* a page-table entry at gpa `where` not known */
	VCR_INSN_WHY_SHORT,	/* vcr_disasm_bytes: the bytes given end first */
};

struct vcr_insn {
	enum vcr_insn_status status;
	enum vcr_insn_why why;	/* UNKNOWN: what stopped the fetch */
	uint64_t where;		/* the address `why` names */
	unsigned mode;		/* 16, 32 or 64 */
	uint64_t rip;		/* the address the text is decoded at */
	uint64_t linear;	/* of the first byte */
	uint64_t gpa;		/* of the first byte (nbytes > 0) */
	uint8_t nbytes;		/* bytes known from the first, <= VCR_INSN_MAX */
	uint8_t len;		/* OK: instruction length (<= nbytes) */
	uint8_t bytes[VCR_INSN_MAX];
	char text[VCR_INSN_TEXT];	/* OK: "ud2", "outb %al, $0xf1" */
	uint8_t stale;		/* set by the caller: some bytes (or page-table
				 * entries) read were older contents (a trace's
				 * STALE memory): the guest may have changed them */
};

struct vcr_disasm;

int vcr_disasm_open(struct vcr_disasm **out);
void vcr_disasm_close(struct vcr_disasm *d);

/* 16, 32 or 64: the mode the vCPU in `st` executes in (see above). */
unsigned vcr_disasm_mode(const struct vcr_vcpu_state *st);
/* The linear address of the instruction at rip (see above). */
uint64_t vcr_disasm_linear(const struct vcr_vcpu_state *st);

/* Decode the first instruction of bytes[0..n) (n <= VCR_INSN_MAX; more is
 * ignored) in `mode` (16, 32, 64; else -EINVAL) at address `rip`. Fills
 * every field; linear and gpa are 0. UNKNOWN (why SHORT) when n < 15 and
 * no instruction fits in the n bytes. Returns 0. */
int vcr_disasm_bytes(struct vcr_disasm *d, const uint8_t *bytes, size_t n, unsigned mode,
		     uint64_t rip, struct vcr_insn *out);

/* The instruction at st's rip: mode, linear address, page walk, fetch,
 * decode. `read` reads guest-physical memory (0, -ENOENT when a byte is
 * not known, or another -errno that is returned as is). Returns 0 with
 * *out filled whatever the status. */
int vcr_disasm_at(struct vcr_disasm *d, const struct vcr_vcpu_state *st,
		  vcr_mmu_read_fn read, void *ctx, struct vcr_insn *out);

/* One line for humans: the text when OK, else "unknown (no bytes at gpa
 * 0x...)", "unknown (linear 0x... not mapped)", "unknown (page table entry
 * at gpa 0x... not known)", with "N bytes known: 0f 01; then " before the
 * reason when some bytes were, or "invalid (0f ff ...)". Like snprintf. */
int vcr_insn_format(const struct vcr_insn *in, char *buf, size_t len);
/* "ok", "unknown", "invalid"; and "no_bytes", "not_mapped", "no_tables",
 * "short", "" for the reasons (JSON). */
const char *vcr_insn_status_name(enum vcr_insn_status s);
const char *vcr_insn_why_name(enum vcr_insn_why w);

#endif
