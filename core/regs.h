/*
 * core/regs.h: the register table. Every register that vcr shows, compares or
 * serves to gdb is named here once: its name, where it lives in struct
 * vcr_vcpu_state, how it is extracted, and its place in gdb's target
 * description. dump, diff, JSON and the gdbstub all iterate this table; no
 * other list of register names exists in the tree.
 *
 * Together, the entries with a class cover every byte of struct
 * vcr_vcpu_state that vcr_state_normalize() leaves meaningful (tested in
 * tests/unit/regs_test.c), so a diff over the table misses nothing.
 *
 * Entries with class 0 are registers gdb requires in org.gnu.gdb.i386.core
 * (x87 state) that KVM_CAP_SYNC_REGS does not carry: targets that cannot
 * supply them report them unavailable ('x' bytes in a 'g' reply).
 */
#ifndef VCR_CORE_REGS_H
#define VCR_CORE_REGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/state.h"

enum vcr_reg_fmt {
	VCR_REG_U,		/* little-endian unsigned integer of `size` bytes */
	VCR_REG_SEGATTR,	/* kvm_segment attribute bytes packed as VMX access
				 * rights: type | s<<4 | dpl<<5 | present<<7 |
				 * avl<<12 | l<<13 | db<<14 | g<<15 | unusable<<16;
				 * offset points at kvm_segment.type */
	VCR_REG_NONE,		/* not in vcr_vcpu_state (see above) */
};

enum vcr_reg_flags {
	VCR_REG_F_GDB      = 1u << 0,	/* in the gdb target description */
	VCR_REG_F_READONLY = 1u << 1,	/* gdb may not write it */
	VCR_REG_F_SUMMARY  = 1u << 2,	/* shown by dump's short form */
};

struct vcr_reg {
	const char *name;	/* unique, lower case: "rax", "cs.base", "cr3" */
	uint16_t offset;	/* byte offset in struct vcr_vcpu_state */
	uint8_t size;		/* bytes in the state struct (1, 2, 4, 8) */
	uint8_t fmt;		/* enum vcr_reg_fmt */
	uint8_t cls;		/* enum vcr_class, 0 for VCR_REG_NONE */
	uint8_t flags;		/* enum vcr_reg_flags */
	int16_t gdb_regnum;	/* position in the 'g' packet, -1 if not served */
	uint16_t gdb_bits;	/* width on the wire (zero-extended or truncated) */
	const char *gdb_name;	/* name in target XML (NULL: same as name) */
	const char *gdb_feature;/* "org.gnu.gdb.i386.core", ... */
	const char *gdb_type;	/* "int64", "code_ptr", "i387_ext", ... */
	const char *gdb_group;	/* NULL or "system", "general", ... */
};

/* The table, in gdb register-number order for the entries with
 * gdb_regnum >= 0, then the rest. */
extern const struct vcr_reg vcr_regs[];
extern const size_t vcr_nregs;

/* Number of registers in the gdb 'g' packet (max gdb_regnum + 1). */
size_t vcr_gdb_nregs(void);
/* Table entry for gdb register number n, or NULL. */
const struct vcr_reg *vcr_reg_by_gdb(unsigned n);
/* Table entry by name (vcr name or gdb name), or NULL. */
const struct vcr_reg *vcr_reg_by_name(const char *name);

/* Value of r in st, zero-extended to 64 bits. r must not be VCR_REG_NONE. */
uint64_t vcr_reg_get(const struct vcr_vcpu_state *st, const struct vcr_reg *r);
/* Store v into r in st (truncated to the register's size/format). */
void vcr_reg_set(struct vcr_vcpu_state *st, const struct vcr_reg *r, uint64_t v);
/* True when r differs between a and b. */
bool vcr_reg_differs(const struct vcr_vcpu_state *a, const struct vcr_vcpu_state *b,
		     const struct vcr_reg *r);

/* Print the value of r as text ("0x...", fixed width for its size) into buf. */
int vcr_reg_format(const struct vcr_vcpu_state *st, const struct vcr_reg *r,
		   char *buf, size_t len);

/* Mode of the vCPU from cr0/efer/cs: "real", "protected16", "protected32",
 * "long64", "compat", "v8086". */
const char *vcr_cpu_mode(const struct vcr_vcpu_state *st);

#endif
