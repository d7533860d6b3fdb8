/*
 * recorder/layout.h: the records a vCPU thread puts into its ring and the
 * writer thread takes out: their layouts, the constants the after_run fast
 * path and the writer's decoder agree on, and the asserts that tie the fast
 * layout to struct kvm_run. Internal to recorder/ (vcpu.c writes these
 * records, writer.c reads them); the trace format is formats/trace.h's.
 *
 * Each record starts with struct vcr_ring_hdr and is rounded up to
 * VCR_RING_SLOT bytes.
 */
#ifndef VCR_RECORDER_LAYOUT_H
#define VCR_RECORDER_LAYOUT_H

#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

#include "core/state.h"
#include "recorder/ring.h"

struct rec_ckpt_buf;

/* Bytes of the kvm_run exit union copied for the frequent exits: io (16),
 * mmio (24), fail_entry (16), hw (8); HLT, SHUTDOWN and INTR carry none.
 * Other reasons (DEBUG's 32 bytes included) copy the whole union (256). */
#define REC_UNION_SMALL 24u
#define REC_UNION_FULL 256u
#define REC_INLINE_DATA 8u

/* EXIT, general layout, written by rec_after_run_slow (any exit, any
 * payload, the whole sync area). arg: bytes of the union copied (24 or
 * 256, never REC_XF_FAST). */
struct rr_exit {
	struct vcr_ring_hdr h;
	uint32_t reason;		/* kvm_run->exit_reason */
	uint16_t dlen;			/* OUT bytes after the union */
	uint8_t valid;			/* kvm_valid_regs & VCR_CLASS_ALL */
	uint8_t pad;
	struct vcr_vcpu_state st;	/* kvm_run->s.regs, raw */
	/* then: union bytes, then OUT data */
};

#define REC_EXIT_HDR 16u
#define REC_EXIT_FULL_BYTES (REC_EXIT_HDR + sizeof(struct vcr_vcpu_state))
/* sregs + events: the part a short EXIT leaves out. */
#define REC_SE_OFF offsetof(struct vcr_vcpu_state, sregs)
#define REC_SE_SIZE (sizeof(struct vcr_vcpu_state) - REC_SE_OFF)

/*
 * EXIT, fast layout, written by the after_run fast path (the frequent
 * exits: union of up to 24 bytes, up to 8 bytes of OUT data). The header
 * is one word: arg = REC_XF_FAST | REC_XF_SHORT? | dlen << 8 | reason
 * (< 32). Then
 *   [8, 32)    the exit union's first 24 bytes (kvm_run + 0x20)
 *   [32, 40)   kvm_valid_regs
 *   [40, 48)   OUT data, dlen bytes (where kvm_run has kvm_dirty_regs)
 *   [48, ...)  kvm_run->s.regs: short (REC_XF_SHORT, sregs and events
 *              byte for byte those of the vCPU's previous full EXIT, the
 *              common case) regs only, 192 bytes = 3 slots in all; full,
 *              the whole sync area, 9 slots.
 * [32, ...) is kvm_run's bytes from kvm_valid_regs on, copied with 32-byte
 * loads and stores that are all aligned (kvm_run + 0x120 and the slot):
 * none splits a cache line, which the previous layout (regs at +16) did
 * twice per exit on each side. The writer keeps each vCPU's last sregs
 * and events to rebuild a short EXIT's state.
 */
#define REC_XF_FAST 0x8000u
#define REC_XF_SHORT 0x4000u
#define REC_XF_REASON_MASK 0xffu
#define REC_XF_DLEN_SHIFT 8
#define REC_XF_UNION 8u
#define REC_XF_VALID 32u
#define REC_XF_DATA 40u
#define REC_XF_STATE 48u
#define REC_XF_SHORT_SLOTS 3u
#define REC_XF_FULL_SLOTS 9u
/* kvm_run bytes copied from kvm_valid_regs on: to the end of s.regs. */
#define REC_XF_RUN_OFF offsetof(struct kvm_run, kvm_valid_regs)
#define REC_XF_RUN_FULL (offsetof(struct kvm_run, s) + sizeof(struct vcr_vcpu_state) - \
			 REC_XF_RUN_OFF)

struct rr_input {
	struct vcr_ring_hdr h;		/* arg: enum vcr_input_kind */
	uint32_t len;
	uint32_t pad;
	uint8_t data[];
};

struct rr_set_state {
	struct vcr_ring_hdr h;		/* arg: dirty classes */
	uint64_t pad;
	struct vcr_vcpu_state st;
};

struct rr_inject {
	struct vcr_ring_hdr h;		/* arg: enum vcr_inject_kind */
	uint32_t vector;
};

struct rr_mem {
	struct vcr_ring_hdr h;
	uint64_t gpa;
	uint64_t len;
	uint8_t data[];
};

struct rr_marker {
	struct vcr_ring_hdr h;
	char text[];			/* NUL-terminated */
};

/* An interrupt line change: on the vCPU's ring (made while serving its
 * exit) or on the control ring (VCR_IRQ_ASYNC, after a FENCE). */
struct rr_irq_line {
	struct vcr_ring_hdr h;		/* arg: VCR_IRQ_* flags */
	uint32_t gsi;
	uint32_t level;
};

/* Control ring only: a memory checkpoint (recorder/ckpt.c), owned by the
 * record until the writer thread writes and frees it. */
struct rr_ckpt {
	struct vcr_ring_hdr h;
	struct rec_ckpt_buf *buf;
};

/* Control ring only: a VMM write too large for the ring in one piece (a
 * loaded kernel), as a heap copy the writer thread writes and frees: the
 * loader then waits for one memcpy, not for the writer's compression of
 * every piece through a full ring. */
struct rr_mem_buf {
	struct vcr_ring_hdr h;
	uint64_t gpa;
	uint64_t len;
	uint8_t *buf;
};

struct rr_note {
	struct vcr_ring_hdr h;
	uint32_t kind;			/* enum vcr_note_kind */
	uint32_t len;			/* bytes of text */
	char text[];			/* len bytes, then a NUL */
};

/* Control ring only, before a record written while vCPUs run (gdb's
 * writes): the vCPU rings' published heads when it was made. The writer
 * drains each vCPU ring up to its head first, so the record lands after
 * every exit that preceded it. */
struct rr_fence {
	struct vcr_ring_hdr h;
	uint32_t n;			/* vCPUs */
	uint32_t pad;
	uint64_t head[];
};

_Static_assert(sizeof(struct vcr_vcpu_state) == sizeof(struct kvm_sync_regs),
	       "vcr_vcpu_state mirrors kvm_sync_regs");
_Static_assert(offsetof(struct vcr_vcpu_state, sregs) ==
	       offsetof(struct kvm_sync_regs, sregs), "sregs offset");
_Static_assert(offsetof(struct vcr_vcpu_state, events) ==
	       offsetof(struct kvm_sync_regs, events), "events offset");
_Static_assert(sizeof(((struct kvm_run *)0)->padding) == REC_UNION_FULL,
	       "kvm_run exit union is 256 bytes");
_Static_assert(offsetof(struct rr_exit, st) == REC_EXIT_HDR, "EXIT header");
/* Fast layout: kvm_run's fields where the copies expect them. */
_Static_assert(offsetof(struct kvm_run, hw) == 0x20, "exit union at 0x20");
_Static_assert(REC_XF_RUN_OFF == 0x120 && REC_XF_RUN_OFF % 32 == 0, "kvm_valid_regs at 0x120");
_Static_assert(offsetof(struct kvm_run, kvm_dirty_regs) == REC_XF_RUN_OFF + 8 &&
	       offsetof(struct kvm_run, s) == REC_XF_RUN_OFF + 16, "kvm_dirty_regs, s.regs");
_Static_assert(REC_XF_UNION + REC_UNION_SMALL == REC_XF_VALID &&
	       REC_XF_VALID + 16 == REC_XF_STATE && REC_XF_DATA == REC_XF_VALID + 8 &&
	       REC_XF_VALID % 32 == 0, "fast layout");
_Static_assert(REC_XF_STATE + sizeof(struct kvm_regs) == REC_XF_SHORT_SLOTS * VCR_RING_SLOT,
	       "a short fast EXIT fills 3 slots exactly: 5 aligned vectors from +32");
_Static_assert(REC_XF_RUN_FULL == 16 * 32 + 24 &&
	       REC_XF_VALID + REC_XF_RUN_FULL <= REC_XF_FULL_SLOTS * VCR_RING_SLOT,
	       "a full fast EXIT fits 9 slots");
_Static_assert(REC_UNION_FULL < REC_XF_SHORT, "general layout's arg never looks fast");
_Static_assert(sizeof(((struct kvm_run *)0)->mmio) <= REC_UNION_SMALL &&
	       sizeof(((struct kvm_run *)0)->io) <= REC_UNION_SMALL &&
	       sizeof(((struct kvm_run *)0)->fail_entry) <= REC_UNION_SMALL &&
	       sizeof(((struct kvm_run *)0)->hw) <= REC_UNION_SMALL, "small payloads");
_Static_assert(sizeof(struct kvm_regs) == 4 * 32 + 16, "kvm_regs size");
_Static_assert(REC_SE_SIZE == 11 * 32 + 24, "sregs + events size");

/* An unaligned, aliasing 64-bit word: the fast layout's header and data
 * words, read and written in place. */
typedef uint64_t rec_u64u __attribute__((aligned(1), may_alias));

#endif
