/* timeline_bins: core/timeline.h against counts worked out by hand: which
 * column a position falls in (spans that divide evenly and ones that do not,
 * fewer positions than columns, huge spans), reason slots and the shared
 * OTHER slot, dominant reason, the pixel split of a stacked column (sums,
 * rare reasons kept visible, ties), positions and lanes outside. */
#include <errno.h>
#include <string.h>

#include "core/timeline.h"
#include "tests/lib/tap.h"

static void test_columns(void)
{
	struct vcr_tl t;
	tap_ok(vcr_tl_init(&t, 2, 0, 1000, 10) == 0, "init 1000 positions in 10 columns");
	tap_ok(vcr_tl_col(&t, 0) == 0 && vcr_tl_col(&t, 99) == 0 && vcr_tl_col(&t, 100) == 1 &&
		       vcr_tl_col(&t, 999) == 9,
	       "100 positions a column: 0 and 99 in column 0, 100 in 1, 999 in 9");
	tap_ok(vcr_tl_col(&t, 1000) == -1, "position 1000 is past the end");
	tap_ok(vcr_tl_col_first(&t, 3) == 300 && vcr_tl_col_first(&t, 10) == 1000,
	       "column 3 starts at 300, column 10 (the end) at 1000");
	vcr_tl_free(&t);

	/* 10 positions in 3 columns: p*3/10 -> 0,0,0,0,1,1,1,2,2,2. */
	tap_ok(vcr_tl_init(&t, 1, 50, 10, 3) == 0, "init 10 positions from 50 in 3 columns");
	tap_ok(vcr_tl_col(&t, 49) == -1 && vcr_tl_col(&t, 50) == 0 && vcr_tl_col(&t, 53) == 0 &&
		       vcr_tl_col(&t, 54) == 1 && vcr_tl_col(&t, 56) == 1 &&
		       vcr_tl_col(&t, 57) == 2 && vcr_tl_col(&t, 59) == 2,
	       "uneven split: columns of 4, 3 and 3 positions");
	tap_ok(vcr_tl_col_first(&t, 1) == 54 && vcr_tl_col_first(&t, 2) == 57,
	       "uneven split: columns start at 54 and 57");
	vcr_tl_free(&t);

	tap_ok(vcr_tl_init(&t, 1, 0, 5, 800) == 0 && t.ncols == 5,
	       "5 positions in 800 columns: one column a position");
	tap_ok(vcr_tl_col(&t, 4) == 4, "position 4 in column 4");
	vcr_tl_free(&t);

	/* 2^60 positions: the 128-bit path. (2^59 + 1) * 4 / 2^60 = 2. */
	tap_ok(vcr_tl_init(&t, 1, 0, 1ull << 60, 4) == 0, "init 2^60 positions in 4 columns");
	tap_ok(vcr_tl_col(&t, (1ull << 59) + 1) == 2 && vcr_tl_col(&t, (1ull << 60) - 1) == 3,
	       "huge span: 2^59+1 in column 2, the last position in column 3");
	vcr_tl_free(&t);

	tap_ok(vcr_tl_init(&t, 0, 0, 10, 10) == -EINVAL && vcr_tl_init(&t, 1, 0, 0, 10) == -EINVAL &&
		       vcr_tl_init(&t, 1, 0, 10, 0) == -EINVAL &&
		       vcr_tl_init(&t, 1, UINT64_MAX, 2, 1) == -EINVAL,
	       "no lanes, no span, no columns, or a span past 2^64: -EINVAL");
	vcr_tl_free(&t);
}

static void test_counts(void)
{
	struct vcr_tl t;
	if (vcr_tl_init(&t, 2, 0, 100, 10))
		tap_bail("init");
	/* Lane 0, column 0: 3 of reason 2 (IO), 1 of 5 (HLT). Lane 1,
	 * column 9: 2 of 6 (MMIO). */
	vcr_tl_add(&t, 0, 0, 2);
	vcr_tl_add(&t, 0, 3, 2);
	vcr_tl_add(&t, 0, 9, 5);
	vcr_tl_add(&t, 0, 5, 2);
	vcr_tl_add(&t, 1, 95, 6);
	vcr_tl_add(&t, 1, 99, 6);
	tap_ok(t.nreasons == 3 && t.reason[0] == 2 && t.reason[1] == 5 && t.reason[2] == 6,
	       "slots in order of first appearance: 2, 5, 6");
	const uint32_t *c = vcr_tl_counts(&t, 0, 0);
	tap_ok(c[0] == 3 && c[1] == 1 && c[2] == 0, "lane 0 column 0: 3 IO, 1 HLT");
	tap_ok(vcr_tl_total(&t, 0, 0) == 4 && vcr_tl_total(&t, 1, 9) == 2 &&
		       vcr_tl_total(&t, 1, 0) == 0 && vcr_tl_total(&t, 0, 9) == 0,
	       "totals per cell; other cells empty");
	tap_ok(vcr_tl_dominant(&t, 0, 0) == 0 && vcr_tl_dominant(&t, 1, 9) == 2 &&
		       vcr_tl_dominant(&t, 0, 5) == -1,
	       "dominant: IO in lane 0 col 0, MMIO in lane 1 col 9, none in an empty cell");
	tap_ok(vcr_tl_add(&t, 2, 0, 2) == -ERANGE && vcr_tl_add(&t, 0, 100, 2) == -ERANGE &&
		       t.outside == 2 && t.added == 6,
	       "lane 2 and position 100 are outside: counted apart, not binned");
	/* A tie goes to the lower slot. */
	vcr_tl_add(&t, 1, 10, 5);
	vcr_tl_add(&t, 1, 11, 6);
	tap_ok(vcr_tl_dominant(&t, 1, 1) == 1, "a tie between slots 1 and 2 goes to 1");
	vcr_tl_free(&t);

	/* More reasons than slots: the 16th and later share OTHER. */
	if (vcr_tl_init(&t, 1, 0, 10, 1))
		tap_bail("init");
	for (uint32_t r = 0; r < VCR_TL_MAX_REASONS + 3; r++)
		vcr_tl_add(&t, 0, r % 10, 100 + r);
	vcr_tl_add(&t, 0, 0, 1000);	/* a code past the slot table */
	c = vcr_tl_counts(&t, 0, 0);
	tap_ok(t.nreasons == VCR_TL_MAX_REASONS && c[VCR_TL_OTHER] == 4 && t.other == 4 &&
		       c[0] == 1 && t.reason[VCR_TL_MAX_REASONS - 1] == 100 + VCR_TL_MAX_REASONS - 1,
	       "15 reasons get slots; 3 more and code 1000 go to OTHER");
	vcr_tl_free(&t);
}

static void test_stack(void)
{
	struct vcr_tl t;
	uint32_t h[VCR_TL_SLOTS];
	if (vcr_tl_init(&t, 1, 0, 10000, 4))
		tap_bail("init");
	/* Column 0: 750 of A, 250 of B -> 30 and 10 of 40 pixels. */
	for (int i = 0; i < 1000; i++)
		vcr_tl_add(&t, 0, (uint64_t)i, i < 750 ? 2 : 5);
	vcr_tl_stack(&t, 0, 0, 40, h);
	/* base 1 each, 38 left: 38*750/1000 = 28.5 -> 28, 38*250/1000 = 9.5
	 * -> 9; one pixel left, remainders tie (500 each): slot 0. */
	tap_ok(h[0] == 30 && h[1] == 10, "3:1 in 40 px: 30 and 10 (got %u %u)", h[0], h[1]);

	/* Column 1: 9999 of A... only 2500 positions a column: 2499 A, 1 B. */
	for (uint64_t p = 2500; p < 4999; p++)
		vcr_tl_add(&t, 0, p, 2);
	vcr_tl_add(&t, 0, 4999, 6);
	vcr_tl_stack(&t, 0, 1, 40, h);
	tap_ok(h[0] == 39 && h[2] == 1, "1 exit in 2500 still gets a pixel (got %u %u)", h[0], h[2]);

	/* Three reasons in 2 pixels: the two largest get them. */
	vcr_tl_add(&t, 0, 5000, 2);
	vcr_tl_add(&t, 0, 5001, 2);
	vcr_tl_add(&t, 0, 5002, 2);
	vcr_tl_add(&t, 0, 5003, 5);
	vcr_tl_add(&t, 0, 5004, 5);
	vcr_tl_add(&t, 0, 5005, 6);
	vcr_tl_stack(&t, 0, 2, 2, h);
	tap_ok(h[0] + h[1] + h[2] == 2 && h[0] == 1 && h[1] == 1 && h[2] == 0,
	       "3 reasons in 2 px: IO and HLT get one each (got %u %u %u)", h[0], h[1], h[2]);

	vcr_tl_stack(&t, 0, 3, 40, h);
	uint32_t sum = 0;
	for (int s = 0; s < VCR_TL_SLOTS; s++)
		sum += h[s];
	tap_ok(sum == 0, "an empty column stacks nothing");
	vcr_tl_free(&t);
}

int main(void)
{
	tap_plan(23);
	test_columns();
	test_counts();
	test_stack();
	return tap_exit_status();
}
