/* core/timeline.c: exits binned by column, lane and reason (timeline.h). */
#include "core/timeline.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int vcr_tl_init(struct vcr_tl *t, uint32_t nlanes, uint64_t first, uint64_t span,
		uint32_t ncols)
{
	memset(t, 0, sizeof(*t));
	if (!nlanes || nlanes > VCR_TL_MAX_LANES || !ncols || ncols > VCR_TL_MAX_COLS || !span ||
	    first + span < first)
		return -EINVAL;
	if (span < ncols)
		ncols = (uint32_t)span;
	t->count = calloc((size_t)nlanes * ncols * VCR_TL_SLOTS, sizeof(*t->count));
	if (!t->count)
		return -ENOMEM;
	t->nlanes = nlanes;
	t->ncols = ncols;
	t->first = first;
	t->span = span;
	return 0;
}

void vcr_tl_free(struct vcr_tl *t)
{
	free(t->count);
	t->count = NULL;
}

int64_t vcr_tl_col(const struct vcr_tl *t, uint64_t pos)
{
	if (pos < t->first || pos - t->first >= t->span)
		return -1;
	uint64_t off = pos - t->first;
	/* off < span and ncols <= 2^16: the product overflows only past
	 * 2^48 exits, where the 128-bit division is worth its cost. */
	if (off < (1ull << 47))
		return (int64_t)(off * t->ncols / t->span);
	return (int64_t)((unsigned __int128)off * t->ncols / t->span);
}

uint64_t vcr_tl_col_first(const struct vcr_tl *t, uint32_t col)
{
	/* The smallest off with off * ncols / span >= col. */
	unsigned __int128 x = (unsigned __int128)col * t->span;
	return t->first + (uint64_t)((x + t->ncols - 1) / t->ncols);
}

static uint32_t tl_slot(struct vcr_tl *t, uint32_t reason)
{
	if (reason < sizeof(t->slot_of) && t->slot_of[reason])
		return t->slot_of[reason] - 1u;
	if (reason >= sizeof(t->slot_of) || t->nreasons == VCR_TL_MAX_REASONS)
		return VCR_TL_OTHER;
	t->reason[t->nreasons] = reason;
	t->slot_of[reason] = (uint8_t)(t->nreasons + 1);
	return t->nreasons++;
}

int vcr_tl_add(struct vcr_tl *t, uint32_t lane, uint64_t pos, uint32_t reason)
{
	int64_t col = vcr_tl_col(t, pos);
	if (col < 0 || lane >= t->nlanes) {
		t->outside++;
		return -ERANGE;
	}
	uint32_t s = tl_slot(t, reason);
	uint32_t *c = &t->count[((size_t)lane * t->ncols + (size_t)col) * VCR_TL_SLOTS + s];
	if (*c != UINT32_MAX)
		(*c)++;
	t->added++;
	if (s == VCR_TL_OTHER)
		t->other++;
	return 0;
}

const uint32_t *vcr_tl_counts(const struct vcr_tl *t, uint32_t lane, uint32_t col)
{
	return &t->count[((size_t)lane * t->ncols + col) * VCR_TL_SLOTS];
}

uint64_t vcr_tl_total(const struct vcr_tl *t, uint32_t lane, uint32_t col)
{
	const uint32_t *c = vcr_tl_counts(t, lane, col);
	uint64_t n = 0;
	for (int s = 0; s < VCR_TL_SLOTS; s++)
		n += c[s];
	return n;
}

int vcr_tl_dominant(const struct vcr_tl *t, uint32_t lane, uint32_t col)
{
	const uint32_t *c = vcr_tl_counts(t, lane, col);
	int best = -1;
	for (int s = 0; s < VCR_TL_SLOTS; s++)
		if (c[s] && (best < 0 || c[s] > c[best]))
			best = s;
	return best;
}

void vcr_tl_stack(const struct vcr_tl *t, uint32_t lane, uint32_t col, uint32_t height,
		  uint32_t h[VCR_TL_SLOTS])
{
	const uint32_t *c = vcr_tl_counts(t, lane, col);
	uint64_t total = 0, rem[VCR_TL_SLOTS];
	bool taken[VCR_TL_SLOTS] = { false };
	uint32_t nonempty = 0, base = 0, left;

	for (int s = 0; s < VCR_TL_SLOTS; s++) {
		total += c[s];
		nonempty += c[s] != 0;
		h[s] = 0;
	}
	if (!total || !height)
		return;
	/* A pixel for each reason present first, when there is room. */
	if (height >= nonempty)
		base = 1;
	left = height - base * nonempty;
	uint32_t given = 0;
	for (int s = 0; s < VCR_TL_SLOTS; s++) {
		if (!c[s]) {
			rem[s] = 0;
			continue;
		}
		unsigned __int128 x = (unsigned __int128)left * c[s];
		h[s] = base + (uint32_t)(x / total);
		rem[s] = (uint64_t)(x % total);
		given += h[s];
	}
	/* The pixels rounding left over go to the largest remainders (the
	 * lower slot on a tie): fewer than the number of reasons present. */
	while (given < height) {
		int best = -1;
		for (int s = 0; s < VCR_TL_SLOTS; s++)
			if (c[s] && !taken[s] && (best < 0 || rem[s] > rem[best]))
				best = s;
		if (best < 0)
			break;
		h[best]++;
		taken[best] = true;
		given++;
	}
}
