/*
 * replayer/cursor.h: random access to a trace by exit. The gdbstub's replay
 * target, diff and dump stand on it.
 *
 * A cursor stands on one EXIT record (its position, a global sequence number
 * 0..nexits-1) and knows the full state of every vCPU there: for vCPU v, the
 * state after v's last EXIT (or SET_STATE) at or before the position.
 * Seeking costs one chunk decode at most wherever the target is (index +
 * keyframe + deltas); stepping within a decoded chunk costs no decode.
 *
 * What "at exit P" means: vCPU v's state is the state after v's last EXIT or
 * SET_STATE record that comes before the extras of P (for P's own vCPU,
 * exactly what KVM synced at that exit). The extras of P (the VMM's answer:
 * INPUT, SET_STATE, MEM_WRITE...) take effect afterwards and are visible, in
 * state and memory, from the next exit on. Memory records written before the
 * first exit (the loader's) are visible everywhere.
 *
 * Ring-mode traces keep only their newest exits: positions then run from
 * vcr_cursor_first() to vcr_cursor_first() + nexits - 1 (first is 0 for every
 * other trace).
 *
 * Memory: the trace holds the bytes the VMM wrote (loader, DMA) and, when
 * recorded with checkpoints, the pages the guest dirtied in each interval
 * (docs/replay.md, "Memory at an exit"). vcr_cursor_read_mem returns guest
 * physical memory at the position where the trace knows it exactly and
 * refuses bytes the trace never held or holds only an older version of.
 *
 * Threading: one thread at a time. Errors: 0 or negative errno; details in
 * vcr_cursor_error().
 */
#ifndef VCR_REPLAYER_CURSOR_H
#define VCR_REPLAYER_CURSOR_H

#include <stdint.h>
#include "formats/trace.h"

struct vcr_cursor;

/* Open `path`; the cursor stands on the first exit (-ENODATA if the trace
 * has no exit). */
int vcr_cursor_open(struct vcr_cursor **out, const char *path, struct vcr_err *err);
void vcr_cursor_close(struct vcr_cursor *c);

const struct vcr_trace_info *vcr_cursor_info(const struct vcr_cursor *c);
uint64_t vcr_cursor_nexits(const struct vcr_cursor *c);		/* all vCPUs */
uint64_t vcr_cursor_vcpu_nexits(const struct vcr_cursor *c, uint32_t vcpu);

/* Current position (global exit sequence number). */
uint64_t vcr_cursor_pos(const struct vcr_cursor *c);
/* Sequence number of the first exit kept (0 unless ring mode). */
uint64_t vcr_cursor_first(const struct vcr_cursor *c);

/* Go to exit `seq`; -ERANGE if seq >= nexits (position unchanged). */
int vcr_cursor_seek(struct vcr_cursor *c, uint64_t seq);
/* Go to exit n of vCPU v; -ERANGE if there is none. */
int vcr_cursor_seek_vcpu(struct vcr_cursor *c, uint32_t vcpu, uint64_t n);

/* Move to the next (dir > 0) or previous (dir < 0) exit, of any vCPU when
 * vcpu == UINT32_MAX, else of that vCPU. -ERANGE at either end (position
 * unchanged). */
int vcr_cursor_step(struct vcr_cursor *c, int dir, uint32_t vcpu);

/* vCPU of the exit at the position (cheap: no record is built). */
uint32_t vcr_cursor_vcpu(const struct vcr_cursor *c);

/* The EXIT record at the position (valid until the cursor moves). */
const struct vcr_record *vcr_cursor_exit(const struct vcr_cursor *c);

/* Full state of vCPU v at the position; -ENOENT if v has no state yet. */
int vcr_cursor_state(const struct vcr_cursor *c, uint32_t vcpu, struct vcr_vcpu_state *st);
/* The same without the copy, for callers that look at every exit: a pointer
 * into the cursor, valid until it moves; NULL where vcr_cursor_state fails. */
const struct vcr_vcpu_state *vcr_cursor_state_ref(const struct vcr_cursor *c, uint32_t vcpu);
/* Per-vCPU exit ordinal of v's latest exit at or before the position. */
int vcr_cursor_vcpu_index(const struct vcr_cursor *c, uint32_t vcpu, uint64_t *n);

/* The non-EXIT records that belong to the exit at the position (INPUT,
 * SET_STATE, INJECT, MEM_*, MARKER, END, IRQ_LINE, NOTE written after it and
 * before the next exit), in file order. *n receives their count; the array is valid until
 * the cursor moves. CKPT and CKPT_PAGES come without their bitmaps and page
 * bytes (NULL pointers, len 0): memory is read with vcr_cursor_read_mem. */
const struct vcr_record *vcr_cursor_extras(const struct vcr_cursor *c, size_t *n);

/* Read guest-physical memory at the position (classes below). Returns 0,
 * or -ENOENT if some byte in range is STALE or UNKNOWN (nothing copied
 * then). The first call (and the first per-vCPU step or ordinal that
 * leaves the decoded window) scans the whole trace once to build the memory
 * index and a per-exit vCPU index. The index holds positions of checkpoint
 * pages, not their bytes: a read decodes at most one chunk (a small cache
 * keeps recent pages). */
int vcr_cursor_read_mem(struct vcr_cursor *c, uint64_t gpa, void *buf, size_t len);
/* The same, serving STALE bytes too (their older contents: gdb's
 * `monitor memory lenient`); UNKNOWN still refused. */
int vcr_cursor_read_mem_stale(struct vcr_cursor *c, uint64_t gpa, void *buf, size_t len);

/* What the trace knows of guest memory at the position, by class:
 *   EXACT      the bytes are the guest's memory at the position (a memory
 *              checkpoint at or before it that the guest did not write
 *              after, or the checkpoint is at the position)
 *   STALE      older contents only: the guest wrote the page between the
 *              checkpoint that holds it and the next one after the position
 *   UNTRACKED  bytes the VMM wrote (loader, devices) in a trace without dirty
 *              tracking: right as of `since`, the guest may have changed them
 *   UNKNOWN    nothing recorded
 * vcr_cursor_read_mem serves EXACT and UNTRACKED bytes and refuses a range
 * holding a STALE or UNKNOWN byte (-ENOENT). */
enum vcr_mem_class {
	VCR_MEM_UNKNOWN = 0,
	VCR_MEM_UNTRACKED,
	VCR_MEM_STALE,
	VCR_MEM_EXACT,
};
const char *vcr_mem_class_name(enum vcr_mem_class cls);

struct vcr_mem_range {
	uint64_t gpa, len;
	enum vcr_mem_class cls;
	uint64_t since;		/* exit seq the bytes date from, UINT64_MAX:
				 * before the first exit (vcr_cursor_mem_class
				 * only; 0 in vcr_cursor_mem_ranges) */
};

/* Call fn for every run of known bytes (class other than UNKNOWN) at the
 * position, in address order, adjacent bytes of one class merged; stops at
 * and returns fn's first nonzero result. */
int vcr_cursor_mem_ranges(struct vcr_cursor *c,
			  int (*fn)(void *arg, const struct vcr_mem_range *r), void *arg);
/* The class of the byte at gpa and the run of bytes around it, inside its
 * page, that share that class and date (*r). */
int vcr_cursor_mem_class(struct vcr_cursor *c, uint64_t gpa, struct vcr_mem_range *r);

/* What the memory index found: checkpoints, and damaged checkpoint
 * records it skipped (malformed CKPT / CKPT_PAGES records in chunks that
 * passed their checksums; damage_msg describes the first, by its chunk's
 * file offset and payload byte; valid while the cursor is open). */
struct vcr_cursor_mem_info {
	uint64_t checkpoints;
	uint64_t damaged;
	const char *damage_msg;
};
int vcr_cursor_mem_info(struct vcr_cursor *c, struct vcr_cursor_mem_info *mi);

const struct vcr_err *vcr_cursor_error(const struct vcr_cursor *c);

#endif
