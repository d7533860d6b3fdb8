/*
 * cli/timeline.h: the picture `vcr timeline` writes, as SVG or as HTML (the
 * same SVG inline, with a small script that shows a column's counts under
 * the mouse; no external resource).
 *
 * What is drawn comes in a struct tl_pic: one or two traces (groups), each
 * with its binned exits (core/timeline.h: one lane per vCPU) and its marks
 * (end, crashes, memory pages, markers, first divergence). The writer draws
 * one element per run of equal columns and reason, never one per exit, so
 * the output's size depends on the width and the lanes, not on the trace.
 *
 * Reason colours are fixed per KVM exit reason (docs/tools.md lists them):
 * a picture of one trace and of another colour the same reason the same.
 *
 * Errors: tl_write returns 0 or -1 (write error: ferror(f)).
 */
#ifndef VCR_CLI_TIMELINE_H
#define VCR_CLI_TIMELINE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/timeline.h"

enum tl_mark_kind {
	TL_MARK_END = 1,	/* how the run ended: a line over the group */
	TL_MARK_CRASH,		/* a crash exit or a crash end */
	TL_MARK_MEM,		/* a memory checkpoint (CKPT) or MEM_PAGES */
	TL_MARK_MARKER,		/* a MARKER record (user text) */
	TL_MARK_DIVERGE,	/* first divergence of a vCPU (timeline A B) */
	TL_MARK_GDB,		/* gdb stopped the guest (vcr run --gdb --record) */
};

#define TL_MARK_TEXT 120

struct tl_mark {
	uint32_t kind;		/* enum tl_mark_kind */
	uint32_t lane;		/* UINT32_MAX: the whole group */
	uint64_t pos;		/* exit number */
	uint64_t n;		/* marks merged into this one (same kind, lane, column) */
	char text[TL_MARK_TEXT];
};

#define TL_MAX_GROUPS 2

struct tl_group {
	const char *name;	/* "A" in `vcr timeline A B`; NULL alone */
	const char *path;
	struct vcr_tl bins;
	struct tl_mark *marks;
	size_t nmarks, capmarks;
	uint64_t exits;
};

struct tl_pic {
	const char *title;
	uint32_t width;		/* the plot's width in pixels (columns) */
	uint32_t ngroups;
	struct tl_group g[TL_MAX_GROUPS];
	char note[200];		/* a line under the picture ("" none) */
};

/* Add a mark to g, merged with one of the same kind in the same lane and
 * column; 0 or -ENOMEM. At most TL_MAX_MARKS marks are kept apart: past
 * that, marks of a kind go into the first of their lane. */
#define TL_MAX_MARKS 4096
int tl_mark_add(struct tl_group *g, uint32_t kind, uint32_t lane, uint64_t pos,
		const char *text);

/* The colour of a KVM exit reason, "#rrggbb". */
const char *tl_reason_colour(uint32_t reason);

/* Write the picture: SVG (html false) or an HTML page around it. */
int tl_write(FILE *f, const struct tl_pic *pic, bool html);

#endif
