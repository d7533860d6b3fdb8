/*
 * tests/unit/trace_ref.c: vcr_reader_next_ref (the zero-copy read used by the
 * cursor and diff) returns the same records as vcr_reader_next, with the
 * state and data it points to instead of copying, across random
 * multi-vCPU streams of every record type, chunk sizes (the writer's
 * default, which adapts to how well exits compress, and fixed ones) and
 * interleaved seeks; and the writer's adaptive chunks keep a poorly
 * compressing stream's chunks small.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "formats/trace.h"
#include "tests/lib/tap.h"
#include "tests/unit/trace_gen.h"

static char path[256];
static struct tgen gen;
static struct vcr_record rec, want, a, b;

/* b (from next_ref) completed with what ref points to, compared with a. */
static bool same_as_copy(const struct vcr_record *x, struct vcr_record *y,
			 const struct vcr_record_ref *ref, char *why, size_t wlen)
{
	switch (y->type) {
	case VCR_REC_EXIT:
		if (!ref->state || (y->u.exit.exit.data_len && !ref->data)) {
			snprintf(why, wlen, "EXIT without state/data pointer");
			return false;
		}
		y->u.exit.state = *ref->state;
		memcpy(y->u.exit.exit.data, ref->data, y->u.exit.exit.data_len);
		break;
	case VCR_REC_SET_STATE:
		if (!ref->state) {
			snprintf(why, wlen, "SET_STATE without state pointer");
			return false;
		}
		y->u.set_state.state = *ref->state;
		break;
	case VCR_REC_INPUT:
		if (y->u.input.len && !ref->data) {
			snprintf(why, wlen, "INPUT without data pointer");
			return false;
		}
		memcpy(y->u.input.data, ref->data, y->u.input.len);
		break;
	default:
		if (ref->state || ref->data) {
			snprintf(why, wlen, "type %u with a pointer", y->type);
			return false;
		}
		break;
	}
	return tgen_same(x, y, why, wlen);
}

/* Read the trace with both calls in lockstep: the whole trace, then 50
 * random seeks each followed by up to 300 records. */
static bool check_lockstep(uint64_t seed, uint64_t *nrec_out)
{
	struct vcr_reader *ra = NULL, *rb = NULL;
	struct vcr_err err;
	struct vcr_record_ref ref;
	char why[200] = "";
	bool ok = false;
	uint64_t n = 0, rng = seed | 1;
	if (vcr_reader_open(&ra, path, &err) || vcr_reader_open(&rb, path, &err)) {
		tap_diag("open: %s", err.msg);
		goto out;
	}
	struct vcr_reader_stats st;
	vcr_reader_get_stats(ra, &st);
	for (int round = 0; round <= 50; round++) {
		if (round) {
			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			uint64_t s = st.exits ? rng % st.exits : 0;
			if (vcr_reader_seek(ra, s) || vcr_reader_seek(rb, s)) {
				tap_diag("seek %llu failed", (unsigned long long)s);
				goto out;
			}
		}
		for (int k = 0; !round || k < 300; k++) {
			int ka = vcr_reader_next(ra, &a);
			memset(&b, 0x5a, sizeof(b));
			int kb = vcr_reader_next_ref(rb, &b, &ref);
			if (ka != kb) {
				tap_diag("record %llu: next %d, next_ref %d", (unsigned long long)n, ka, kb);
				goto out;
			}
			if (ka < 0)
				goto out;
			if (ka == 0)
				break;
			if (!same_as_copy(&a, &b, &ref, why, sizeof(why))) {
				tap_diag("record %llu: %s", (unsigned long long)n, why);
				goto out;
			}
			if (!round)
				n++;
		}
	}
	ok = true;
out:
	*nrec_out = n;
	vcr_reader_close(ra);
	vcr_reader_close(rb);
	return ok;
}

int main(void)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(path, sizeof(path), "%s/vcr-trace-ref-%d.vcr", tmp, (int)getpid());
	static const struct { uint64_t seed; uint32_t nvcpus, nrecs, chunk; } cfg[] = {
		{ 1, 1, 20000, 0 },
		{ 2, 3, 30000, 0 },
		{ 3, 4, 8000, 7 },
		{ 4, 2, 20000, 512 },
	};
	const int ncfg = (int)(sizeof(cfg) / sizeof(cfg[0]));
	tap_plan(ncfg + 1);
	for (int i = 0; i < ncfg; i++) {
		uint64_t n = 0;
		bool ok = tgen_write_small(&gen, path, cfg[i].seed, cfg[i].nvcpus, cfg[i].nrecs,
						   cfg[i].chunk, &rec, &want) == 0 &&
			  check_lockstep(cfg[i].seed, &n) && n == cfg[i].nrecs;
		tap_ok(ok, "next_ref equals next: %u vCPUs, %u records, chunk_exits %u (%llu records read)",
		       cfg[i].nvcpus, cfg[i].nrecs, cfg[i].chunk, (unsigned long long)n);
	}

	/* Adaptive chunks: this random stream compresses poorly, so the
	 * writer's default makes chunks of fewer exits than its maximum
	 * (3072), which keeps a seek's decode small. */
	struct vcr_reader *r;
	struct vcr_err err;
	struct vcr_reader_stats st = { 0 };
	bool ok = tgen_write_small(&gen, path, 9, 2, 40000, 0, &rec, &want) == 0 &&
		  vcr_reader_open(&r, path, &err) == 0;
	if (ok) {
		vcr_reader_get_stats(r, &st);
		vcr_reader_close(r);
	}
	/* (A fixed 3072 would make ceil(exits / 3072) chunks.) */
	ok = ok && st.chunks >= 2 * ((st.exits + 3071) / 3072);
	tap_ok(ok, "default chunks of a poorly compressing stream stay small (%llu exits in %llu chunks, %llu bytes each)",
	       (unsigned long long)st.exits, (unsigned long long)st.chunks,
	       (unsigned long long)(st.chunks ? st.chunk_bytes / st.chunks : 0));
	unlink(path);
	return tap_exit_status();
}
