/*
 * diff_files: vcr_diff_files on traces written by the trace writer
 * (tools/gen.c, the synthetic test guest), with B decoded on a reader
 * thread (opts.reader_thread) and on the calling thread (default): same results either way,
 * including an early stop while the reader thread is blocked for room,
 * END comparison, several vCPUs, --vcpu, and an unreadable file.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "replayer/diff.h"
#include "tests/lib/tap.h"
#include "tools/gen.c"	/* the generator is not part of libvcr */

struct got {
	int gaps, changed, pairs, ends;
	uint64_t gap_b_first, gap_b_count, resume_a, resume_b;
	uint64_t pair_idx;
	uint32_t pair_vcpu;
};

static int collect(void *ctx, const struct vcr_diff_event *ev)
{
	struct got *g = ctx;
	switch (ev->type) {
	case VCR_DIFF_EV_GAP:
		if (!g->gaps++) {
			g->gap_b_first = ev->b.first_idx;
			g->gap_b_count = ev->b.count;
			g->resume_a = ev->resume_a ? ev->resume_a->idx : UINT64_MAX;
			g->resume_b = ev->resume_b ? ev->resume_b->idx : UINT64_MAX;
		}
		break;
	case VCR_DIFF_EV_PAIR:
		if (!g->pairs++) {
			g->pair_idx = ev->xa->idx;
			g->pair_vcpu = ev->vcpu;
		}
		break;
	case VCR_DIFF_EV_CHANGED:
		g->changed++;
		break;
	case VCR_DIFF_EV_END:
		g->ends++;
		break;
	}
	return 0;
}

static char dir[64];

static const char *gen(const char *name, struct vcr_gen_opts *o)
{
	static char paths[8][128];
	static int n;
	char *p = paths[n++ % 8];
	struct vcr_err err;
	snprintf(p, 128, "%s/%s.vcr", dir, name);
	if (vcr_gen_trace(p, o, &err) < 0)
		tap_bail("generate %s: %s", name, err.msg);
	return p;
}

int main(void)
{
	struct vcr_gen_opts g;
	struct vcr_diff_opts o;
	struct vcr_diff_summary sum;
	struct vcr_err err;
	struct got got;

	snprintf(dir, sizeof(dir), "/tmp/vcr-diff-files.XXXXXX");
	if (!mkdtemp(dir))
		tap_bail("mkdtemp");
	tap_plan(2 * 8 + 1);

	vcr_gen_opts_init(&g);
	g.exits = 50000;
	const char *a = gen("a", &g), *b = gen("b", &g);
	g.exits = 50003;
	g.extra_at = 30000;
	g.extra = 3;
	const char *x = gen("x", &g);
	g.exits = 50000;
	g.extra_at = -1;
	g.input_at = 11;	/* early: diff stops while B's thread is far ahead */
	const char *in = gen("in", &g);
	g.input_at = -1;
	g.end_status = 9;
	const char *e = gen("e", &g);
	g.end_status = 0;
	g.vcpus = 3;
	g.exits = 30000;
	const char *m0 = gen("m0", &g);
	g.variant_vcpu = 2;
	g.reg_at = 5000;
	g.reg_value = 0x77;
	const char *m2 = gen("m2", &g);

	for (int single = 0; single < 2; single++) {
		const char *mode = single ? "one thread" : "reader thread";
		vcr_diff_opts_init(&o);
		o.reader_thread = !single;
		memset(&got, 0, sizeof(got));
		int rc = vcr_diff_files(a, b, &o, collect, &got, &sum, &err);
		tap_ok(rc == 0 && sum.pairs == 50000 && sum.stretches == 0 && !sum.end_differs &&
		       got.gaps + got.pairs + got.ends == 0, "%s: same run: 50000 pairs, no event", mode);

		o.all = true;
		memset(&got, 0, sizeof(got));
		rc = vcr_diff_files(a, x, &o, collect, &got, &sum, &err);
		tap_ok(rc == 0 && got.gaps == 1 && got.gap_b_first == 30000 && got.gap_b_count == 3 &&
		       got.resume_a == 30000 && got.resume_b == 30003 && sum.pairs == 50000 &&
		       sum.stretches == 1 && !sum.end_differs,
		       "%s: 3 inserted at 30000, realigned, the rest paired", mode);

		o.all = false;
		memset(&got, 0, sizeof(got));
		rc = vcr_diff_files(a, in, &o, collect, &got, &sum, &err);
		tap_ok(rc == 0 && got.pairs >= 1 && got.pair_idx == 11 && got.changed == 1 &&
		       sum.pairs < 1000, "%s: input at 11: first stretch, stopped early (%llu pairs)",
		       mode, (unsigned long long)sum.pairs);

		memset(&got, 0, sizeof(got));
		rc = vcr_diff_files(a, e, &o, collect, &got, &sum, &err);
		tap_ok(rc == 0 && got.ends == 1 && sum.end_differs && sum.stretches == 0,
		       "%s: END status differs: one END event", mode);

		memset(&got, 0, sizeof(got));
		rc = vcr_diff_files(m0, m2, &o, collect, &got, &sum, &err);
		tap_ok(rc == 0 && got.pairs >= 1 && got.pair_vcpu == 2 && got.pair_idx == 5000 &&
		       got.changed == 1, "%s: 3 vCPUs, rdi on vCPU 2 at 5000: only vCPU 2", mode);

		o.vcpu = 1;
		memset(&got, 0, sizeof(got));
		rc = vcr_diff_files(m0, m2, &o, collect, &got, &sum, &err);
		tap_ok(rc == 0 && sum.stretches == 0 && sum.pairs == 10000, "%s: --vcpu 1: same, 10000 pairs",
		       mode);
		o.vcpu = 7;
		rc = vcr_diff_files(m0, m2, &o, collect, &got, &sum, &err);
		tap_ok(rc == -EINVAL, "%s: --vcpu 7 of 3: -EINVAL", mode);
		o.vcpu = UINT32_MAX;

		rc = vcr_diff_files(a, "/nonexistent/x.vcr", &o, collect, &got, &sum, &err);
		tap_ok(rc < 0, "%s: unreadable B: error %d (%s)", mode, rc,
		       err.msg);
	}

	/* B truncated at a chunk boundary (a crash): the rest of A deleted. */
	{
		struct vcr_gen_opts c;
		vcr_gen_opts_init(&c);
		c.exits = 50000;
		c.chunk_exits = 1000;
		c.cut = true;
		const char *cut = gen("cut", &c);
		vcr_diff_opts_init(&o);
		memset(&got, 0, sizeof(got));
		int rc = vcr_diff_files(a, cut, &o, collect, &got, &sum, &err);
		tap_ok(rc == 0 && sum.stretches + sum.end_differs >= 1,
		       "cut-short B: reported as different (%llu pairs, %llu stretches, end %d)",
		       (unsigned long long)sum.pairs, (unsigned long long)sum.stretches, sum.end_differs);
	}

	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		tap_diag("could not remove %s", dir);
	return tap_exit_status();
}
