/*
 * core/progress.h: how library code reports progress on long work (a
 * replay, a diff, a walk over a trace) without printing: the caller hands
 * in a struct vcr_progress with a callback, the library adds the units it
 * has done, and every `step` units the callback hears how far it got. What
 * is shown, where and how often is the caller's business (cli/progress.h
 * draws a line on a terminal).
 *
 * Lifecycle: the caller fills fn, ctx, total and step, zeroes the rest, and
 * keeps the struct alive for the work. A NULL progress costs one branch.
 * Threading: vcr_progress_add may be called from several threads at once
 * (a replay's vCPU threads); the callback then runs on whichever thread
 * crossed a step, never on two at once; a thread that finds it running
 * skips its turn rather than wait.
 * Errors: none; the callback returns nothing.
 */
#ifndef VCR_CORE_PROGRESS_H
#define VCR_CORE_PROGRESS_H

#include <stdint.h>

struct vcr_progress {
	void (*fn)(void *ctx, uint64_t done, uint64_t total);
	void *ctx;
	uint64_t total;		/* units expected; 0: not known */
	uint64_t step;		/* call fn every this many units; 0: 4096 */
	/* Kept by vcr_progress_add: */
	uint64_t done, next;
	int busy;
};

/* Called by vcr_progress_add when done reaches next. */
void vcr_progress_report(struct vcr_progress *p, uint64_t done);

/* Add n units done. */
static inline void vcr_progress_add(struct vcr_progress *p, uint64_t n)
{
	if (!p)
		return;
	uint64_t d = __atomic_add_fetch(&p->done, n, __ATOMIC_RELAXED);
	if (d >= __atomic_load_n(&p->next, __ATOMIC_RELAXED))
		vcr_progress_report(p, d);
}

#endif
