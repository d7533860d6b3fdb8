/*
 * core/timeline.h: exits binned by picture column, per lane and per exit
 * reason: what `vcr timeline` draws, kept apart from how it draws it.
 *
 * A timeline's x axis spans positions [first, first + span): exit numbers
 * (the trace has no exit times, docs/format.md). The span is cut into
 * `ncols` columns of equal width; position p falls in column
 * (p - first) * ncols / span. Each lane (a vCPU) counts, per column, the
 * exits of each reason. Reasons get a slot in the order they are first
 * added, VCR_TL_MAX_REASONS at most; later ones share slot VCR_TL_OTHER.
 * Memory is nlanes * ncols * VCR_TL_SLOTS counters, whatever the number of
 * exits: 10^7 exits cost what 10^3 do.
 *
 * Lifecycle: vcr_tl_init, vcr_tl_add per exit, queries, vcr_tl_free (safe
 * on a zeroed or failed init). Plain data, one thread at a time.
 * Errors: 0 or -errno (-EINVAL bad sizes, -ENOMEM, -ERANGE a position or
 * lane outside the timeline: counted in `outside`, not binned).
 */
#ifndef VCR_CORE_TIMELINE_H
#define VCR_CORE_TIMELINE_H

#include <stdint.h>

#define VCR_TL_MAX_REASONS 15
#define VCR_TL_OTHER VCR_TL_MAX_REASONS	/* the slot of every later reason */
#define VCR_TL_SLOTS (VCR_TL_MAX_REASONS + 1)
#define VCR_TL_MAX_COLS 65536u
#define VCR_TL_MAX_LANES 1024u

struct vcr_tl {
	uint32_t nlanes, ncols;
	uint64_t first, span;
	uint32_t nreasons;			/* slots in use below OTHER */
	uint32_t reason[VCR_TL_MAX_REASONS];	/* slot -> reason code */
	uint8_t slot_of[256];	/* reason code -> slot + 1; 0: none yet */
	uint32_t *count;	/* [lane][col][slot], saturating at UINT32_MAX */
	uint64_t added, outside;
	uint64_t other;		/* exits counted in slot OTHER */
};

/* ncols is lowered to span when span is smaller (a column per position). */
int vcr_tl_init(struct vcr_tl *t, uint32_t nlanes, uint64_t first, uint64_t span,
		uint32_t ncols);
void vcr_tl_free(struct vcr_tl *t);

/* Column of position pos, or -1 outside [first, first + span). */
int64_t vcr_tl_col(const struct vcr_tl *t, uint64_t pos);
/* First position of column col (col <= ncols: ncols gives the end). */
uint64_t vcr_tl_col_first(const struct vcr_tl *t, uint32_t col);

/* Count one exit of `reason` at position pos in lane `lane`. */
int vcr_tl_add(struct vcr_tl *t, uint32_t lane, uint64_t pos, uint32_t reason);

/* The VCR_TL_SLOTS counters of one cell (lane < nlanes, col < ncols). */
const uint32_t *vcr_tl_counts(const struct vcr_tl *t, uint32_t lane, uint32_t col);
/* Sum of a cell's counters (saturating). */
uint64_t vcr_tl_total(const struct vcr_tl *t, uint32_t lane, uint32_t col);
/* The slot with the most exits in a cell (the lower slot on a tie), -1 if
 * the cell is empty. */
int vcr_tl_dominant(const struct vcr_tl *t, uint32_t lane, uint32_t col);
/* Share `height` pixels among a cell's slots in proportion to their counts,
 * by largest remainder: h[] sums to height (0 for an empty cell), and a
 * slot with exits gets at least one pixel while height allows, so a rare
 * reason stays visible. */
void vcr_tl_stack(const struct vcr_tl *t, uint32_t lane, uint32_t col, uint32_t height,
		  uint32_t h[VCR_TL_SLOTS]);

#endif
