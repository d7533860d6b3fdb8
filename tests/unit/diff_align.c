/*
 * diff_align: the diff engine (replayer/diff.h) on synthetic exit sequences:
 * identical runs, inserted/deleted/replaced stretches and realignment,
 * register and input differences, --ignore, --all, unalignable tails, and
 * runs of unequal length. (JSON escaping: tests/unit/json_writer.c.)
 *
 * The synthetic source rebuilds every exit into one buffer that the next
 * call overwrites, as the trace reader does, so an engine that kept a
 * pointer past its validity would compare garbage and fail here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/regs.h"
#include "replayer/diff.h"
#include "tests/lib/tap.h"

/* One synthetic exit: enough to build a key, a state and an input. */
struct syn {
	uint32_t reason;
	uint16_t port;
	uint64_t rip;
	uint64_t rax, rbx;
	int input;		/* -1: none, else IN data byte served */
};

struct syn_src {
	const struct syn *v;
	size_t n, pos;
	uint32_t vcpu;
	uint64_t idx0;		/* first per-vCPU exit number (ring traces) */
	struct vcr_exit exit;
	struct vcr_vcpu_state st;
};

static int syn_next(void *ctx, struct vcr_diff_exit *x, struct vcr_err *err)
{
	struct syn_src *s = ctx;
	(void)err;
	if (s->pos >= s->n)
		return 0;
	const struct syn *e = &s->v[s->pos];
	/* Poison the previous exit: stale pointers must not look valid. */
	memset(&s->exit, 0xa5, sizeof(s->exit));
	memset(&s->st, 0, sizeof(s->st));
	s->exit.reason = e->reason;
	s->exit.data_len = 0;
	memset(&s->exit.u, 0, sizeof(s->exit.u));
	if (e->reason == KVM_EXIT_IO) {
		s->exit.u.io.direction = e->input >= 0 ? KVM_EXIT_IO_IN : KVM_EXIT_IO_OUT;
		s->exit.u.io.size = 1;
		s->exit.u.io.port = e->port;
		s->exit.u.io.count = 1;
		if (e->input < 0) {
			s->exit.data[0] = (uint8_t)e->rax;
			s->exit.data_len = 1;
		}
	}
	s->st.regs.rip = e->rip;
	s->st.regs.rax = e->rax;
	s->st.regs.rbx = e->rbx;
	s->st.regs.rflags = 2;
	s->st.sregs.cr0 = 0x11;
	memset(x, 0, sizeof(*x));
	x->seq = (s->idx0 + s->pos) * 2 + 1;	/* as if another vCPU ran in between */
	x->idx = s->idx0 + s->pos;
	x->vcpu = s->vcpu;
	x->valid = VCR_CLASS_ALL;
	x->exit = &s->exit;
	x->state = &s->st;
	x->data_hash = s->exit.data_len ? vcr_diff_hash(0, s->exit.data, s->exit.data_len) : 0;
	if (e->input >= 0) {
		uint8_t b = (uint8_t)e->input;
		struct vcr_diff_extra ex = { .type = 2 /* VCR_REC_INPUT */, .kind = 1, .len = 1 };
		ex.data[0] = b;
		vcr_diff_exit_add_extra(x, &ex, &b, 1);
	}
	s->pos++;
	return 1;
}

/* A deterministic "guest": a loop over a few instructions that exit. */
static struct syn *make_run(size_t n)
{
	struct syn *v = calloc(n, sizeof(*v));
	uint64_t x = 0x12345678;
	for (size_t i = 0; i < n; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		unsigned op = (unsigned)(x >> 60) % 5;
		v[i].reason = op == 4 ? KVM_EXIT_HLT : KVM_EXIT_IO;
		v[i].port = (uint16_t)(0x3f8 + op);
		v[i].rip = 0x1000 + op * 0x10 + (x >> 40 & 0x7) * 0x100;
		v[i].rax = i;
		v[i].rbx = 7;
		v[i].input = op == 3 ? (int)(i & 0xff) : -1;
	}
	return v;
}

/* Events collected from a diff. */
struct got {
	int npair, nchanged, ngap, nunaligned;
	struct vcr_diff_event first_gap, first_changed, first_unaligned;
	uint64_t gap_resume_a_idx, gap_resume_b_idx;
	bool gap_resume_a, gap_resume_b;
	uint64_t gap_list_b_idx[VCR_DIFF_MAX_LIST];
	uint32_t gap_nlist_b;
	/* first PAIR */
	uint64_t pair_a_idx, pair_b_idx, pair_a_seq;
	uint32_t pair_nregs;
	char pair_reg0[32];
	uint64_t pair_reg0_a, pair_reg0_b;
	bool pair_extras, pair_payload;
	uint64_t pair2_idx;
	uint32_t pair2_nregs;
};

static int collect(void *ctx, const struct vcr_diff_event *ev)
{
	struct got *g = ctx;
	switch (ev->type) {
	case VCR_DIFF_EV_PAIR:
		if (g->npair == 0) {
			g->pair_a_idx = ev->xa->idx;
			g->pair_b_idx = ev->xb->idx;
			g->pair_a_seq = ev->xa->seq;
			g->pair_nregs = ev->nregs;
			g->pair_extras = ev->extras_differ;
			g->pair_payload = ev->payload_differs;
			if (ev->nregs) {
				const struct vcr_reg *r = &vcr_regs[ev->regs[0]];
				snprintf(g->pair_reg0, sizeof(g->pair_reg0), "%s", r->name);
				g->pair_reg0_a = vcr_reg_get(ev->xa->state, r);
				g->pair_reg0_b = vcr_reg_get(ev->xb->state, r);
			}
		} else if (g->npair == 1) {
			g->pair2_idx = ev->xa->idx;
			g->pair2_nregs = ev->nregs;
		}
		g->npair++;
		break;
	case VCR_DIFF_EV_CHANGED:
		if (!g->nchanged)
			g->first_changed = *ev;
		g->nchanged++;
		break;
	case VCR_DIFF_EV_GAP:
		if (!g->ngap) {
			g->first_gap = *ev;
			g->gap_resume_a = ev->resume_a != NULL;
			g->gap_resume_b = ev->resume_b != NULL;
			if (ev->resume_a)
				g->gap_resume_a_idx = ev->resume_a->idx;
			if (ev->resume_b)
				g->gap_resume_b_idx = ev->resume_b->idx;
			g->gap_nlist_b = ev->nlist_b;
			for (uint32_t i = 0; i < ev->nlist_b; i++)
				g->gap_list_b_idx[i] = ev->list_b[i]->idx;
		}
		g->ngap++;
		break;
	case VCR_DIFF_EV_UNALIGNED:
		if (!g->nunaligned)
			g->first_unaligned = *ev;
		g->nunaligned++;
		break;
	}
	return 0;
}

static int run_diff(const struct syn *a, size_t na, const struct syn *b, size_t nb,
		    const struct vcr_diff_opts *o, struct got *g, struct vcr_diff_summary *sum)
{
	static struct syn_src sa, sb;
	memset(&sa, 0, sizeof(sa));
	memset(&sb, 0, sizeof(sb));
	sa.v = a, sa.n = na;
	sb.v = b, sb.n = nb;
	struct vcr_diff_source A = { syn_next, &sa }, B = { syn_next, &sb };
	struct vcr_err err;
	memset(g, 0, sizeof(*g));
	memset(sum, 0, sizeof(*sum));
	vcr_err_clear(&err);
	int rc = vcr_diff_sources(&A, &B, 0, o, collect, g, sum, &err);
	if (rc)
		tap_diag("diff failed: %d %s", rc, err.msg);
	return rc;
}

/* b = a with `k` extra exits inserted before position `at`. */
static struct syn *with_insert(const struct syn *a, size_t n, size_t at, size_t k)
{
	struct syn *b = calloc(n + k, sizeof(*b));
	memcpy(b, a, at * sizeof(*b));
	for (size_t i = 0; i < k; i++) {
		b[at + i] = a[at];
		b[at + i].reason = KVM_EXIT_IO;
		b[at + i].port = 0x80;	/* POST code port: unlike anything in a */
		b[at + i].rip = 0x9000 + i * 2;
		b[at + i].input = -1;
	}
	memcpy(b + at + k, a + at, (n - at) * sizeof(*b));
	return b;
}

static int stopper(void *ctx, const struct vcr_diff_event *ev)
{
	(void)ctx;
	(void)ev;
	return 42;
}

int main(void)
{
	const size_t N = 5000;
	struct syn *a = make_run(N), *b;
	struct vcr_diff_opts o;
	struct vcr_diff_summary sum;
	struct got g;
	struct vcr_err err;

	tap_plan(43);

	/* 1: identical runs */
	vcr_diff_opts_init(&o);
	o.all = true;
	b = make_run(N);
	tap_ok(run_diff(a, N, b, N, &o, &g, &sum) == 0 && sum.stretches == 0 &&
	       g.npair + g.ngap + g.nchanged + g.nunaligned == 0, "identical runs: no difference");
	tap_is_u64(sum.pairs, N, "identical runs: every exit paired");
	tap_ok(sum.exits_a == N && sum.exits_b == N, "identical runs: every exit read");

	/* 2: three extra exits in the middle of b */
	free(b);
	b = with_insert(a, N, 2500, 3);
	run_diff(a, N, b, N + 3, &o, &g, &sum);
	tap_ok(g.ngap == 1 && g.nchanged == 0 && g.nunaligned == 0,
	       "3 inserted: one gap, nothing else (gaps %d changed %d)", g.ngap, g.nchanged);
	tap_ok(g.first_gap.a.count == 0 && g.first_gap.b.count == 3, "3 inserted: counts 0/3");
	tap_is_u64(g.first_gap.b.first_idx, 2500, "3 inserted: stretch starts at b's exit 2500");
	tap_is_u64(g.first_gap.b.last_idx, 2502, "3 inserted: stretch ends at b's exit 2502");
	tap_ok(g.gap_resume_a && g.gap_resume_a_idx == 2500 && g.gap_resume_b &&
	       g.gap_resume_b_idx == 2503, "3 inserted: realigned at a 2500 / b 2503");
	tap_ok(g.gap_nlist_b == 3 && g.gap_list_b_idx[0] == 2500 && g.gap_list_b_idx[2] == 2502,
	       "3 inserted: the gap lists the three exits");
	tap_is_u64(sum.pairs, N, "3 inserted: everything else paired after realignment");

	/* 3: the same seen from the other side: deleted */
	run_diff(b, N + 3, a, N, &o, &g, &sum);
	tap_ok(g.ngap == 1 && g.first_gap.a.count == 3 && g.first_gap.b.count == 0 &&
	       g.first_gap.a.first_idx == 2500 && sum.stretches == 1, "3 deleted: one gap 3/0");

	/* 4: a register differs at one exit */
	free(b);
	b = make_run(N);
	b[1234].rbx = 0x99;
	run_diff(a, N, b, N, &o, &g, &sum);
	tap_ok(g.npair == 1 && g.nchanged == 1 && g.ngap == 0, "rbx at 1234: one pair, one stretch");
	tap_ok(g.pair_a_idx == 1234 && g.pair_b_idx == 1234 && g.pair_a_seq == 2469,
	       "rbx at 1234: exit numbers");
	tap_ok(g.pair_nregs == 1 && !strcmp(g.pair_reg0, "rbx") && g.pair_reg0_a == 7 &&
	       g.pair_reg0_b == 0x99, "rbx at 1234: names rbx with 0x7 / 0x99");
	tap_ok(g.first_changed.a.count == 1 && g.first_changed.b.first_idx == 1234,
	       "rbx at 1234: stretch of one");

	/* 5: --ignore rbx hides it; unknown names are refused */
	vcr_err_clear(&err);
	tap_ok(vcr_diff_ignore_parse(&o, "rbx,eflags", &err) == 0, "--ignore rbx,eflags parses");
	run_diff(a, N, b, N, &o, &g, &sum);
	tap_ok(sum.stretches == 0 && g.npair == 0, "--ignore rbx: no difference");
	tap_ok(vcr_diff_ignore_parse(&o, "rbx,nosuchreg", &err) == -EINVAL &&
	       strstr(err.msg, "nosuchreg"), "--ignore unknown register: -EINVAL naming it");
	tap_ok(vcr_diff_ignore_parse(&o, "st0", &err) == -EINVAL, "--ignore st0 (not recorded): -EINVAL");
	tap_ok(vcr_diff_ignore_parse(&o, "rax,,rbx", &err) == -EINVAL, "--ignore empty name: -EINVAL");

	/* 6: an input differs at exit k; the guest holds it in rax at k+1 */
	vcr_diff_opts_init(&o);
	o.all = true;
	size_t k = 0;
	for (size_t i = 100; i < N - 1; i++)
		if (a[i].input >= 0) {
			k = i;
			break;
		}
	b[1234].rbx = 7;
	b[k].input = a[k].input ^ 0x40;
	b[k + 1].rax = 0xabcd;
	run_diff(a, N, b, N, &o, &g, &sum);
	tap_ok(g.nchanged == 1 && g.npair == 2, "input at k: one stretch of two pairs");
	tap_ok(g.pair_a_idx == k && g.pair_extras && g.pair_nregs == 0 && !g.pair_payload,
	       "input at k: first pair is exit k, serving input differs");
	tap_ok(g.pair2_idx == k + 1 && g.pair2_nregs == 1, "input at k: then rax at k+1");

	/* 7: two separate differences: --all reports both, default the first */
	b[k].input = a[k].input;
	b[k + 1].rax = a[k + 1].rax;
	b[200].rax = 1;
	b[4000].rbx = 1;
	run_diff(a, N, b, N, &o, &g, &sum);
	tap_ok(g.nchanged == 2 && sum.stretches == 2, "--all: two stretches");
	o.all = false;
	run_diff(a, N, b, N, &o, &g, &sum);
	tap_ok(g.nchanged == 1 && g.first_changed.a.first_idx == 200 && sum.pairs < 300,
	       "default: first stretch only, and stops early (%llu pairs)",
	       (unsigned long long)sum.pairs);
	o.all = true;
	b[200].rax = a[200].rax;
	b[4000].rbx = a[4000].rbx;

	/* 8: replaced: two exits of a became three different ones in b */
	free(b);
	{
		struct syn *t = with_insert(a, N, 3000, 3);
		/* drop a[3000], a[3001] from t (they sit after the insert) */
		memmove(t + 3003, t + 3005, (N + 3 - 3005) * sizeof(*t));
		b = t;
	}
	run_diff(a, N, b, N + 1, &o, &g, &sum);
	tap_ok(g.ngap == 1 && g.first_gap.a.count == 2 && g.first_gap.b.count == 3 &&
	       g.first_gap.a.first_idx == 3000 && g.gap_resume_a_idx == 3002 &&
	       g.gap_resume_b_idx == 3003, "replaced: 2 deleted + 3 inserted, realigned");
	tap_ok(sum.stretches == 1 && g.npair == 0, "replaced: nothing else differs");

	/* 9: b stops early (a trace cut short): deleted tail */
	run_diff(a, N, a, 4000, &o, &g, &sum);
	tap_ok(g.ngap == 1 && g.first_gap.a.count == 1000 && g.first_gap.b.count == 0 &&
	       !g.gap_resume_a && !g.gap_resume_b, "b cut short: 1000 exits only in a");

	/* 10: runs unrelated after 100 exits: unaligned within a small window */
	free(b);
	b = make_run(N);
	for (size_t i = 100; i < N; i++) {
		b[i].rip = 0x7000 + i * 3;
		b[i].rax = i;
	}
	o.window = 64;
	run_diff(a, N, b, N, &o, &g, &sum);
	tap_ok(g.nunaligned == 1 && g.ngap == 0, "unrelated tail: unaligned");
	tap_ok(g.first_unaligned.a.count == N - 100 && g.first_unaligned.b.count == N - 100 &&
	       g.first_unaligned.a.first_idx == 100, "unrelated tail: counts the rest on both sides");
	tap_is_u64(sum.pairs, 100, "unrelated tail: 100 pairs compared");

	/* 11: extra loop iterations with the same keys as their neighbours */
	free(b);
	{
		struct syn *loop = calloc(40, sizeof(*loop)), *loop2 = calloc(43, sizeof(*loop2));
		for (int i = 0; i < 40; i++) {
			loop[i] = (struct syn){ KVM_EXIT_IO, 0x3f8, 0x1000, (uint64_t)i, 0, -1 };
			if (i >= 20)
				loop[i].rip = 0x2000 + (uint64_t)i;
		}
		memcpy(loop2, loop, 20 * sizeof(*loop));
		for (int i = 20; i < 23; i++)
			loop2[i] = (struct syn){ KVM_EXIT_IO, 0x3f8, 0x1000, (uint64_t)i, 0, -1 };
		memcpy(loop2 + 23, loop + 20, 20 * sizeof(*loop));
		o.window = 0;
		run_diff(loop, 40, loop2, 43, &o, &g, &sum);
		tap_ok(g.ngap == 1 && g.first_gap.b.count == 3 && g.first_gap.a.count == 0,
		       "3 extra loop iterations: one gap of 3");
		tap_ok(g.gap_resume_a_idx == 20 && g.gap_resume_b_idx == 23,
		       "3 extra loop iterations: realigned at the loop exit");
		b = NULL;
		free(loop);
		free(loop2);
	}

	/* 12: empty sides */
	run_diff(a, 0, a, 0, &o, &g, &sum);
	tap_ok(sum.stretches == 0 && sum.pairs == 0, "two empty runs are the same");
	run_diff(a, 0, a, 10, &o, &g, &sum);
	tap_ok(g.ngap == 1 && g.first_gap.b.count == 10, "empty vs 10: 10 inserted");

	/* 13: the confirmation must not resync on a single coincidental key */
	b = make_run(N);
	for (size_t i = 1000; i < 1010; i++)
		b[i].rip += 0x40000;	/* 10 exits replaced */
	run_diff(a, N, b, N, &o, &g, &sum);
	tap_ok(g.ngap == 1 && g.first_gap.a.count == 10 && g.first_gap.b.count == 10 &&
	       sum.pairs == N - 10, "10 replaced: one gap of 10/10");

	/* 14: callback can stop the diff */
	{
		struct syn_src sa = { .v = a, .n = N }, sb = { .v = b, .n = N };
		struct vcr_diff_source A = { syn_next, &sa }, B = { syn_next, &sb };
		memset(&sum, 0, sizeof(sum));
		tap_ok(vcr_diff_sources(&A, &B, 0, &o, stopper, NULL, &sum, &err) == 42,
		       "a callback's non-zero return stops the diff and is returned");
	}

	/* 15: the window bounds the lookahead: a gap of exactly `window`
	 * exits is found, one more is not */
	free(b);
	b = with_insert(a, N, 1000, 64);
	o.window = 64;
	run_diff(a, N, b, N + 64, &o, &g, &sum);
	tap_ok(g.ngap == 1 && g.first_gap.b.count == 64 && g.nunaligned == 0 && sum.pairs == N,
	       "gap of 64 with window 64: found and realigned");
	free(b);
	b = with_insert(a, N, 1000, 65);
	run_diff(a, N, b, N + 65, &o, &g, &sum);
	tap_ok(g.nunaligned == 1 && g.ngap == 0 && g.first_unaligned.a.count == N - 1000 &&
	       g.first_unaligned.b.count == N + 65 - 1000, "gap of 65 with window 64: unaligned");
	o.window = 0;
	free(b);
	b = make_run(N);

	/* 17: exits with the same key compare their OUT data */
	free(b);
	b = make_run(N);
	for (size_t i = 10; i < N; i++)
		if (a[i].reason == KVM_EXIT_IO && a[i].input < 0) {
			k = i;
			break;
		}
	b[k].rax ^= 0x100;	/* data byte is (uint8_t)rax: unchanged */
	b[k].rax ^= 0x101;	/* now the data byte changes too */
	run_diff(a, N, b, N, &o, &g, &sum);
	tap_ok(g.npair == 1 && g.pair_payload && g.pair_nregs == 1, "OUT data and rax differ at %zu",
	       k);
	b[k].rax = a[k].rax;

	/* 19: ring traces: A kept exits 300.., B 1000..: compare from 1000 */
	{
		struct syn_src sa = { .v = a + 300, .n = N - 300, .idx0 = 300 };
		struct syn_src sb = { .v = a + 1000, .n = N - 1000, .idx0 = 1000 };
		struct vcr_diff_source A = { syn_next, &sa }, B = { syn_next, &sb };
		memset(&g, 0, sizeof(g));
		memset(&sum, 0, sizeof(sum));
		int rc = vcr_diff_sources(&A, &B, 0, &o, collect, &g, &sum, &err);
		tap_ok(rc == 0 && sum.stretches == 0 && sum.skipped_a == 700 && sum.skipped_b == 0 &&
		       sum.pairs == N - 1000, "ring traces starting at 300 and 1000: 700 skipped, rest same");
		sb.pos = 0;
		sb.v = b + 1000;
		b[2000].rbx = 5;
		sa.pos = 0;
		memset(&g, 0, sizeof(g));
		memset(&sum, 0, sizeof(sum));
		rc = vcr_diff_sources(&B, &A, 0, &o, collect, &g, &sum, &err);
		tap_ok(rc == 0 && sum.skipped_b == 700 && g.npair == 1 && g.pair_a_idx == 2000,
		       "ring traces, reversed, with a difference at 2000: found at 2000");
		b[2000].rbx = a[2000].rbx;
	}

	/* 18: a vCPU's exit numbers are reported as the source gave them */
	b[4321].rbx = 1;
	run_diff(a, N, b, N, &o, &g, &sum);
	tap_ok(g.first_changed.a.first_seq == 4321 * 2 + 1 && g.first_changed.a.last_idx == 4321,
	       "stretch ranges carry seq and per-vCPU index");

	free(a);
	free(b);
	return tap_exit_status();
}

