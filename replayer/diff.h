/*
 * replayer/diff.h: compare two runs exit by exit, per vCPU.
 *
 * What it answers: "where do these two traces first differ, and how?". For
 * each vCPU the engine walks the exits of both traces in order, pairing them.
 * Two exits are *aligned* when their keys are equal: exit reason, rip, and
 * the payload key (I/O direction, port and size; MMIO address, length and
 * direction). An aligned pair *differs* when a register of the table
 * (core/regs.h, minus the ignored ones), the exit payload (including OUT and
 * MMIO write data), or the records that served the exit (INPUT, SET_STATE,
 * INJECT: what the VMM answered) differ.
 *
 * When the keys of the two current exits differ, one run has extra, missing
 * or different exits. The engine then looks ahead at most `window` exits on
 * each side for the closest resynchronisation point (i, j), the one with the
 * smallest i + j such that `confirm` consecutive keys agree from A[i] and
 * B[j] on (a greedy bounded search along diagonals, in the spirit of Myers'
 * O(ND) diff restricted to a window). A[0..i) are reported as deleted (only
 * in A), B[0..j) as inserted (only in B), and comparison resumes at the
 * realigned pair. If no point exists within the window the rest of that
 * vCPU is reported as unaligned and not compared further.
 *
 * Cost: in the common case (no difference) each exit is read once and
 * compared in place, without copying it. Memory is bounded by the window:
 * about 2 * (window + confirm) copies of an exit summary (~900 bytes each),
 * whatever the trace length. vCPUs are compared one after another, each
 * with its own pass over both files, so memory does not grow with vCPUs.
 * With opts.reader_thread, vcr_diff_files decodes trace B on a second
 * thread (1024 record buffers, ~5 MiB, handed over in place), since
 * decoding is most of the work.
 *
 * A ring trace keeps only its newest exits: comparison starts at the first
 * per-vCPU exit number (vcr_diff_exit.idx) both sides have; earlier exits
 * of the other side are counted as skipped, not as deleted or inserted.
 *
 * Reporting is by callback, in trace order per vCPU: one PAIR event per
 * differing aligned pair (at most `max_pairs` per stretch), then a CHANGED
 * event closing the stretch; one GAP event per inserted/deleted stretch;
 * UNALIGNED when resynchronisation failed; END when the runs ended
 * differently. Pointers in events are valid during the callback only.
 *
 * Threading: no global state; one diff per thread (vcr_diff_files starts
 * and joins its own reader thread; the callback runs on the caller's). Errors: 0 or -errno,
 * message in struct vcr_err.
 */
#ifndef VCR_REPLAYER_DIFF_H
#define VCR_REPLAYER_DIFF_H

#include <stdbool.h>
#include <stdint.h>
#include "core/progress.h"
#include "core/regs.h"
#include "core/state.h"
#include "core/util.h"

#define VCR_DIFF_MAX_REGS 256		/* capacity of the ignore bitmap */
#define VCR_DIFF_DEFAULT_WINDOW 4096	/* exits of lookahead per side */
#define VCR_DIFF_DEFAULT_CONFIRM 4	/* keys that must agree to resync */
#define VCR_DIFF_DEFAULT_MAX_PAIRS 3	/* detailed pairs per changed stretch */
#define VCR_DIFF_MAX_LIST 8		/* exits listed per GAP side */
#define VCR_DIFF_EXTRAS_SHOWN 2		/* serving records kept for display */
#define VCR_DIFF_DATA_KEPT 32		/* payload bytes kept for display */

struct vcr_diff_exit;

struct vcr_diff_opts {
	uint32_t vcpu;		/* UINT32_MAX: every vCPU of either trace */
	bool all;		/* report every stretch; else stop each vCPU
				 * after its first differing stretch */
	uint32_t window;	/* 0: VCR_DIFF_DEFAULT_WINDOW */
	uint32_t confirm;	/* 0: VCR_DIFF_DEFAULT_CONFIRM */
	uint32_t max_pairs;	/* 0: VCR_DIFF_DEFAULT_MAX_PAIRS */
	uint64_t ignore[VCR_DIFF_MAX_REGS / 64];	/* bit i: skip vcr_regs[i] */
	uint64_t reasons;	/* vcr_diff_files: bit r set: only exits of KVM
				 * reason r (< 64) are compared (with their
				 * serving records); 0: every reason */
	uint64_t rip_lo, rip_hi;	/* vcr_diff_files: only exits whose rip
				 * is in [rip_lo, rip_hi) (with the records
				 * serving them) are compared, from each
				 * trace's first such exit (no ring-start
				 * alignment); rip_hi 0: all */
	bool reader_thread;	/* vcr_diff_files: decode trace B on a second
				 * thread while A is read and compared on the
				 * caller's (default: both on the caller's) */
	/* vcr_diff_files: exits read so far, of total = (exits of A + exits
	 * of B) * vCPUs compared (each vCPU is a pass; one that stops early
	 * jumps to the next pass's start). NULL: none. With reader_thread,
	 * the callback may run on the reader thread. */
	struct vcr_progress *progress;
	/* Called for every aligned pair compared (equal or not), before its
	 * events; nonzero stops the diff (returned as is). NULL: none. */
	int (*on_aligned)(void *ctx, const struct vcr_diff_exit *a,
			  const struct vcr_diff_exit *b);
	void *aligned_ctx;
};

/* Defaults for everything (all vCPUs, first stretch only, nothing ignored). */
void vcr_diff_opts_init(struct vcr_diff_opts *o);

/* Add the comma-separated register names in `list` (table names or gdb
 * names) to o->ignore. Unknown or unavailable names: -EINVAL with the name in
 * err. */
int vcr_diff_ignore_parse(struct vcr_diff_opts *o, const char *list, struct vcr_err *err);

/* A record that served an exit (INPUT, SET_STATE or INJECT), for display. */
struct vcr_diff_extra {
	uint32_t type;		/* enum vcr_rec_type */
	uint32_t kind;		/* INPUT: kind; INJECT: kind; SET_STATE: dirty */
	uint32_t vector;	/* INJECT */
	uint32_t len;		/* INPUT: full length */
	uint8_t data[16];	/* INPUT: first bytes */
};

/* One exit as the engine sees it. */
struct vcr_diff_exit {
	uint64_t seq;		/* global exit number in its trace */
	uint64_t idx;		/* exit number of its vCPU */
	uint32_t vcpu;
	uint32_t valid;		/* VCR_CLASS_* KVM synced */
	const struct vcr_exit *exit;	/* payload; data[] holds at least the
					 * first min(data_len, VCR_DIFF_DATA_KEPT)
					 * bytes (more only while streaming) */
	const struct vcr_vcpu_state *state;	/* full state after the exit */
	uint64_t data_hash;	/* hash of exit->data[0..data_len) */
	uint64_t extras_hash;	/* hash of the serving records, 0: none */
	uint32_t nextras;
	struct vcr_diff_extra extras[VCR_DIFF_EXTRAS_SHOWN];
};

/* Hash helpers for sources: fold bytes into a running hash (start from 0;
 * the length is mixed in). */
uint64_t vcr_diff_hash(uint64_t h, const void *p, size_t n);
/* Record a serving record into x (extras_hash, nextras, extras[]). */
void vcr_diff_exit_add_extra(struct vcr_diff_exit *x, const struct vcr_diff_extra *e,
			     const void *bytes, size_t nbytes);

/* A stream of the exits of one vCPU, in order. next() fills every field of
 * *x (the engine zeroes extras_hash and nextras before the call, for
 * vcr_diff_exit_add_extra) and returns 1, 0 at the end, or a negative errno
 * (message in err). What *x points to stays valid until the following
 * next() call. */
struct vcr_diff_source {
	int (*next)(void *ctx, struct vcr_diff_exit *x, struct vcr_err *err);
	void *ctx;
};

enum vcr_diff_ev_type {
	VCR_DIFF_EV_PAIR = 1,	/* an aligned pair that differs (details) */
	VCR_DIFF_EV_CHANGED,	/* end of a stretch of differing aligned pairs */
	VCR_DIFF_EV_GAP,	/* exits without counterpart: deleted from A
				 * (a.count > 0), inserted in B (b.count > 0),
				 * or both (replaced) */
	VCR_DIFF_EV_UNALIGNED,	/* no resync within the window; the rest of
				 * this vCPU is not compared */
	VCR_DIFF_EV_END,	/* the runs ended differently */
};

/* A stretch on one side: `count` exits starting at first_seq/first_idx. */
struct vcr_diff_range {
	uint64_t count;
	uint64_t first_seq, first_idx;
	uint64_t last_seq, last_idx;
};

struct vcr_diff_end {
	bool present;		/* the trace has an END record */
	uint32_t how;		/* enum vcr_end_how */
	int32_t status;
};

struct vcr_diff_event {
	uint32_t type;		/* enum vcr_diff_ev_type */
	uint32_t vcpu;
	/* PAIR: the two exits and what differs. */
	const struct vcr_diff_exit *xa, *xb;
	const uint16_t *regs;	/* indices into vcr_regs that differ */
	uint32_t nregs;
	bool payload_differs;	/* exit payload or data */
	bool extras_differ;	/* serving records */
	uint64_t pair_no;	/* 0-based position of this pair in its stretch */
	/* CHANGED, GAP, UNALIGNED: the stretch on each side. */
	struct vcr_diff_range a, b;
	/* GAP, UNALIGNED: the first exits of each side's stretch. */
	const struct vcr_diff_exit *const *list_a, *const *list_b;
	uint32_t nlist_a, nlist_b;
	/* GAP: where comparison resumes (NULL: that side ended). */
	const struct vcr_diff_exit *resume_a, *resume_b;
	/* END */
	struct vcr_diff_end end_a, end_b;
};

/* Return 0 to continue, non-zero to stop the diff (returned as is). */
typedef int (*vcr_diff_cb)(void *ctx, const struct vcr_diff_event *ev);

struct vcr_diff_summary {
	uint64_t pairs;		/* aligned pairs compared */
	uint64_t differing_pairs;
	uint64_t stretches;	/* CHANGED + GAP + UNALIGNED events */
	uint64_t exits_a, exits_b;	/* exits read from each side */
	uint64_t skipped_a, skipped_b;	/* exits before the first per-vCPU
					 * exit number both sides have (ring
					 * traces start late): not compared */
	bool end_differs;
};

/* Compare the exits of one vCPU from two sources. */
int vcr_diff_sources(const struct vcr_diff_source *a, const struct vcr_diff_source *b,
		     uint32_t vcpu, const struct vcr_diff_opts *o, vcr_diff_cb cb,
		     void *cbctx, struct vcr_diff_summary *sum, struct vcr_err *err);

/* Compare two trace files: every vCPU (or o->vcpu), then how the runs
 * ended (when both were read to their end). sum->stretches +
 * sum->end_differs is zero iff the runs are the same. Returns 0, a negative
 * errno (unreadable trace...), or the callback's non-zero value. */
int vcr_diff_files(const char *path_a, const char *path_b, const struct vcr_diff_opts *o,
		   vcr_diff_cb cb, void *cbctx, struct vcr_diff_summary *sum,
		   struct vcr_err *err);

/*
 * Memory (`vcr diff --memory`): guest memory compared at aligned exits.
 *
 * The aligned pairs are those of vcr_diff_files over every vCPU (all
 * stretches, whatever o->all says). Memory at an exit changes only where a
 * record that is not part of an exit (MEM_WRITE, MEM_PAGES, and any record
 * type this vcr does not know, such as memory checkpoints) came before it:
 * each trace's such places are listed in one reader pass, and memory is
 * compared at the first aligned pair of each combination of them, in trace
 * A's order, with a cursor on each trace. Compared: the bytes both cursors
 * serve (class EXACT or UNTRACKED, replayer/cursor.h) at their exits;
 * bytes one side serves and the other does not (unknown or stale there) are
 * reported as not compared. A differing 4 KiB page is reported with the
 * offset and both values of its first differing byte.
 *
 * Events: one per compared point whose memory differs (the first only,
 * unless o->all), then the summary. Cost: per compared point, one pass
 * over the memory both traces know.
 */
#define VCR_DIFF_MEM_PAGES 8		/* differing pages listed per point */
#define VCR_DIFF_MEM_GAPS 8		/* not-compared ranges listed */

struct vcr_diff_mem_page {
	uint64_t gpa;		/* page base */
	uint32_t offset;	/* first differing byte in the page */
	uint8_t a, b;		/* its values */
};

/* A range one side serves and the other does not, with both classes
 * (enum vcr_mem_class). */
struct vcr_diff_mem_gap {
	uint64_t gpa, len;
	uint8_t cls_a, cls_b;
};

struct vcr_diff_mem_point {
	uint64_t seq_a, seq_b;		/* the aligned exits */
	uint32_t vcpu;
	uint64_t bytes_compared;
	uint64_t pages_differing;
	struct vcr_diff_mem_page pages[VCR_DIFF_MEM_PAGES];	/* the first ones */
	uint32_t npages;
	uint64_t only_a, only_b;	/* bytes served by one side only */
	struct vcr_diff_mem_gap gaps[VCR_DIFF_MEM_GAPS];	/* the first ones */
	uint32_t ngaps;
	uint64_t ngaps_total;
};

struct vcr_diff_mem_summary {
	uint64_t pairs;		/* aligned pairs seen */
	uint64_t points;	/* of which memory was compared at */
	uint64_t differing;	/* points whose memory differs */
	bool have_last;
	struct vcr_diff_mem_point last;	/* the last point compared */
};

/* Return 0 to continue, non-zero to stop (returned as is). */
typedef int (*vcr_diff_mem_cb)(void *ctx, const struct vcr_diff_mem_point *p);

int vcr_diff_memory(const char *path_a, const char *path_b, const struct vcr_diff_opts *o,
		    vcr_diff_mem_cb cb, void *cbctx, struct vcr_diff_mem_summary *sum,
		    struct vcr_err *err);

/* Key equality as the aligner uses it (reason, rip, payload key). */
bool vcr_diff_same_key(const struct vcr_diff_exit *a, const struct vcr_diff_exit *b);

#endif
