/* cli/cmd_diff.c: `vcr diff A B`: where two runs differ, per vCPU. The
 * engine is replayer/diff.h; this file only parses options and prints. */
#include <errno.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "cli/insn.h"
#include "cli/progress.h"
#include "core/json.h"
#include "core/regs.h"
#include "formats/trace.h"
#include "cli/diff_memory.h"
#include "replayer/diff.h"

/* What the reported events add up to, per vCPU (like diff --stat). */
struct diff_tally {
	uint64_t differing;	/* aligned exits that differ (changed stretches) */
	uint64_t stretches;	/* changed, gap and unaligned events */
	uint64_t only_a, only_b;	/* exits in a gap or unaligned tail */
};

struct diff_out {
	FILE *f;
	struct vcr_json j;	/* on f, with json */
	bool json;
	uint32_t max_pairs;
	uint32_t window;
	struct diff_tally total;
	struct diff_tally *vc;	/* per vCPU, nvc of them */
	uint32_t nvc;
	int oom;
	bool insn;		/* show the instruction at the exits shown */
	struct cli_insn ia, ib;	/* A's and B's memory */
	struct cli_progress prog;	/* cleared before each event printed */
};

static void tally(struct diff_out *o, const struct vcr_diff_event *ev)
{
	if (ev->type == VCR_DIFF_EV_PAIR || ev->type == VCR_DIFF_EV_END)
		return;
	if (ev->vcpu >= o->nvc) {
		uint32_t n = ev->vcpu + 1;
		struct diff_tally *v = realloc(o->vc, n * sizeof(*v));
		if (!v) {
			o->oom = -ENOMEM;
			return;
		}
		memset(v + o->nvc, 0, (n - o->nvc) * sizeof(*v));
		o->vc = v;
		o->nvc = n;
	}
	struct diff_tally *ts[] = { &o->total, &o->vc[ev->vcpu] };
	for (size_t i = 0; i < VCR_ARRAY_SIZE(ts); i++) {
		ts[i]->stretches++;
		if (ev->type == VCR_DIFF_EV_CHANGED) {
			ts[i]->differing += ev->a.count;
		} else {
			ts[i]->only_a += ev->a.count;
			ts[i]->only_b += ev->b.count;
		}
	}
}

static void text_tally(FILE *f, const struct diff_tally *t)
{
	fprintf(f, "%llu differing exit%s in %llu stretch%s, %llu exit%s only in A, %llu only in B",
		(unsigned long long)t->differing, t->differing == 1 ? "" : "s",
		(unsigned long long)t->stretches, t->stretches == 1 ? "" : "es",
		(unsigned long long)t->only_a, t->only_a == 1 ? "" : "s",
		(unsigned long long)t->only_b);
}

static void text_totals(const struct diff_out *o)
{
	fputs("total: ", o->f);
	text_tally(o->f, &o->total);
	fputc('\n', o->f);
	for (uint32_t v = 0; v < o->nvc; v++) {
		if (!o->vc[v].stretches)
			continue;
		fprintf(o->f, "  vcpu %u: ", v);
		text_tally(o->f, &o->vc[v]);
		fputc('\n', o->f);
	}
}

static void json_tally(struct vcr_json *j, const struct diff_tally *t)
{
	vcr_json_u64(j, "differing_exits", t->differing);
	vcr_json_u64(j, "stretches", t->stretches);
	vcr_json_u64(j, "only_a", t->only_a);
	vcr_json_u64(j, "only_b", t->only_b);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vcr diff [OPTIONS] A.vcr B.vcr\n"
		"\n"
		"Compare two traces exit by exit, per vCPU. Exits are aligned on (reason,\n"
		"rip, port/MMIO address); extra or missing exits are reported as inserted\n"
		"or deleted stretches and comparison resumes after them. For aligned exits,\n"
		"every register of the table, the exit payload and the inputs that served\n"
		"the exit are compared.\n"
		"\n"
		"  --all            report every differing stretch (default: the first of\n"
		"                   each vCPU)\n"
		"  --ignore R,...   do not compare these registers (names as in `vcr dump`)\n"
		"  --vcpu V         only vCPU V\n"
		"  --rip LO-HI      only the exits whose rip is in [LO, HI) (hex with 0x),\n"
		"                   e.g. a guest's own code apart from its firmware's\n"
		"  --reasons R,...  only the exits of these reasons (names as `vcr dump`\n"
		"                   prints them: IO,MMIO,HLT...): leave out INTR, say,\n"
		"                   the VMM's asynchronous kicks\n"
		"  --json           JSON Lines: one object per event, then a summary\n"
		"  --pairs N        differing exits detailed per stretch (default %u)\n"
		"  --window N       exits of lookahead to realign (default %u)\n"
		"  --no-insn        do not show the instruction at the exits shown (decoded\n"
		"                   from the memory each trace holds at that exit)\n"
		"  -q, --quiet      no progress line on a terminal\n"
		"  --memory         also compare guest memory at aligned exits: the first\n"
		"                   differing pages (with --all: at every point), and the\n"
		"                   memory known on one side only\n"
		"\n"
		"Exit status: 0 same, 1 different, 2 trouble (unreadable trace, bad option).\n",
		VCR_DIFF_DEFAULT_MAX_PAIRS, VCR_DIFF_DEFAULT_WINDOW);
}

/* Bytes of an INPUT extra that were kept. */
static uint32_t extra_shown(const struct vcr_diff_extra *e)
{
	return e->len < sizeof(e->data) ? e->len : (uint32_t)sizeof(e->data);
}

static const char *inject_kind(uint32_t kind)
{
	return kind == VCR_INJECT_NMI ? "nmi" : "irq";
}

/* ------------------------------------------------------------- text */

static void text_extras(FILE *f, const struct vcr_diff_exit *x)
{
	if (!x->nextras) {
		fputs("none", f);
		return;
	}
	for (uint32_t i = 0; i < x->nextras && i < VCR_DIFF_EXTRAS_SHOWN; i++) {
		const struct vcr_diff_extra *e = &x->extras[i];
		if (i)
			fputs(", ", f);
		switch (e->type) {
		case VCR_REC_INPUT: {
			fprintf(f, "%s len=%u data=", vcr_input_kind_name(e->kind), e->len);
			uint32_t n = extra_shown(e);
			for (uint32_t k = 0; k < n; k++)
				fprintf(f, "%02x", e->data[k]);
			if (n < e->len)
				fputs("...", f);
			break;
		}
		case VCR_REC_INJECT:
			fprintf(f, "inject %s vector=%u", inject_kind(e->kind), e->vector);
			break;
		case VCR_REC_SET_STATE:
			fprintf(f, "set_state dirty=0x%x", e->kind);
			break;
		default:
			fprintf(f, "%s", vcr_rec_type_name(e->type));
		}
	}
	if (x->nextras > VCR_DIFF_EXTRAS_SHOWN)
		fprintf(f, " (+%u more)", x->nextras - VCR_DIFF_EXTRAS_SHOWN);
}

/* The instruction at x (of the trace `ins` reads), after `pre`. */
static void text_insn(struct diff_out *o, const char *pre, struct cli_insn *ins,
		      const struct vcr_diff_exit *x)
{
	struct vcr_insn in;

	if (!o->insn)
		return;
	int rc = cli_insn_at(ins, x->seq, x->state, &in);
	fputs(pre, o->f);
	cli_insn_print(o->f, rc, &in);
}

/* "exit 1234 (#2469)": per-vCPU index, then global sequence number. */
static void text_exit_line(struct diff_out *o, const char *mark, struct cli_insn *ins,
			   const struct vcr_diff_exit *x)
{
	FILE *f = o->f;
	char pay[256];
	const char *name = vcr_exit_reason_name(x->exit->reason);
	vcr_exit_format(x->exit, pay, sizeof(pay));
	fprintf(f, "  %s exit %llu (#%llu) %s%s%s rip=0x%llx", mark,
		(unsigned long long)x->idx, (unsigned long long)x->seq, name ? name : "?",
		pay[0] ? " " : "", pay, (unsigned long long)x->state->regs.rip);
	text_insn(o, " insn=", ins, x);
	putc('\n', f);
}

static void text_range(FILE *f, const char *side, const struct vcr_diff_range *r)
{
	if (r->count == 1)
		fprintf(f, "%s exit %llu (#%llu)", side, (unsigned long long)r->first_idx,
			(unsigned long long)r->first_seq);
	else
		fprintf(f, "%s exits %llu..%llu (#%llu..#%llu)", side,
			(unsigned long long)r->first_idx, (unsigned long long)r->last_idx,
			(unsigned long long)r->first_seq, (unsigned long long)r->last_seq);
}

static void text_event(struct diff_out *o, const struct vcr_diff_event *ev)
{
	FILE *f = o->f;
	char pa[256], pb[256];

	switch (ev->type) {
	case VCR_DIFF_EV_PAIR: {
		const struct vcr_diff_exit *a = ev->xa, *b = ev->xb;
		const char *name = vcr_exit_reason_name(a->exit->reason);
		fprintf(f, "vcpu %u: A exit %llu (#%llu) / B exit %llu (#%llu): %s rip=0x%llx differs\n",
			ev->vcpu, (unsigned long long)a->idx, (unsigned long long)a->seq,
			(unsigned long long)b->idx, (unsigned long long)b->seq, name ? name : "?",
			(unsigned long long)a->state->regs.rip);
		if (o->insn) {
			fprintf(f, "    %-16s", "insn");
			text_insn(o, " A ", &o->ia, a);
			fprintf(f, "\n    %-16s", "");
			text_insn(o, " B ", &o->ib, b);
			putc('\n', f);
		}
		if (ev->payload_differs) {
			vcr_exit_format(a->exit, pa, sizeof(pa));
			vcr_exit_format(b->exit, pb, sizeof(pb));
			fprintf(f, "    %-16s A %s\n    %-16s B %s\n", "exit", pa, "", pb);
		}
		if (ev->extras_differ) {
			fprintf(f, "    %-16s A ", "served with");
			text_extras(f, a);
			fprintf(f, "\n    %-16s B ", "");
			text_extras(f, b);
			fputc('\n', f);
		}
		for (uint32_t i = 0; i < ev->nregs; i++) {
			const struct vcr_reg *r = &vcr_regs[ev->regs[i]];
			vcr_reg_format(a->state, r, pa, sizeof(pa));
			vcr_reg_format(b->state, r, pb, sizeof(pb));
			fprintf(f, "    %-16s A %-20s B %s\n", r->name, pa, pb);
		}
		break;
	}
	case VCR_DIFF_EV_CHANGED:
		fprintf(f, "vcpu %u: %llu differing exit%s: ", ev->vcpu,
			(unsigned long long)ev->a.count, ev->a.count == 1 ? "" : "s");
		text_range(f, "A", &ev->a);
		fputs(" / ", f);
		text_range(f, "B", &ev->b);
		if (ev->a.count > o->max_pairs)
			fprintf(f, " (first %u shown)", o->max_pairs);
		fputc('\n', f);
		break;
	case VCR_DIFF_EV_GAP:
	case VCR_DIFF_EV_UNALIGNED:
		if (ev->type == VCR_DIFF_EV_UNALIGNED)
			fprintf(f, "vcpu %u: no realignment within %u exits; the rest is not compared:",
				ev->vcpu, o->window);
		else if (ev->a.count && ev->b.count)
			fprintf(f, "vcpu %u: %llu exit%s of A replaced by %llu of B:", ev->vcpu,
				(unsigned long long)ev->a.count, ev->a.count == 1 ? "" : "s",
				(unsigned long long)ev->b.count);
		else if (ev->b.count)
			fprintf(f, "vcpu %u: %llu exit%s only in B (inserted):", ev->vcpu,
				(unsigned long long)ev->b.count, ev->b.count == 1 ? "" : "s");
		else
			fprintf(f, "vcpu %u: %llu exit%s only in A (deleted):", ev->vcpu,
				(unsigned long long)ev->a.count, ev->a.count == 1 ? "" : "s");
		if (ev->a.count) {
			fputc(' ', f);
			text_range(f, "A", &ev->a);
		}
		if (ev->b.count) {
			fputs(ev->a.count ? ", " : " ", f);
			text_range(f, "B", &ev->b);
		}
		fputc('\n', f);
		for (uint32_t i = 0; i < ev->nlist_a; i++)
			text_exit_line(o, "- A", &o->ia, ev->list_a[i]);
		if (ev->a.count > ev->nlist_a)
			fprintf(f, "  - A ... %llu more\n",
				(unsigned long long)(ev->a.count - ev->nlist_a));
		for (uint32_t i = 0; i < ev->nlist_b; i++)
			text_exit_line(o, "+ B", &o->ib, ev->list_b[i]);
		if (ev->b.count > ev->nlist_b)
			fprintf(f, "  + B ... %llu more\n",
				(unsigned long long)(ev->b.count - ev->nlist_b));
		if (ev->resume_a && ev->resume_b)
			fprintf(f, "  realigned at A exit %llu (#%llu) / B exit %llu (#%llu)\n",
				(unsigned long long)ev->resume_a->idx,
				(unsigned long long)ev->resume_a->seq,
				(unsigned long long)ev->resume_b->idx,
				(unsigned long long)ev->resume_b->seq);
		else if (ev->type == VCR_DIFF_EV_GAP)
			fprintf(f, "  %s\n", !ev->b.count ? "(B ends before them)" :
				!ev->a.count ? "(A ends before them)" : "(to the end of both)");
		break;
	case VCR_DIFF_EV_END:
		fprintf(f, "runs ended differently: A %s", ev->end_a.present ?
			vcr_end_how_name(ev->end_a.how) : "without an END record");
		if (ev->end_a.present)
			fprintf(f, " status %d", ev->end_a.status);
		fprintf(f, ", B %s", ev->end_b.present ?
			vcr_end_how_name(ev->end_b.how) : "without an END record");
		if (ev->end_b.present)
			fprintf(f, " status %d", ev->end_b.status);
		fputc('\n', f);
		break;
	}
}

/* ------------------------------------------------------------- JSON */

/* ins: the trace's memory for "insn", NULL: none. */
static void json_exit(struct vcr_json *j, const char *key, const struct vcr_diff_exit *x,
		      struct cli_insn *ins)
{
	vcr_json_obj(j, key);
	vcr_json_u64(j, "seq", x->seq);
	vcr_json_u64(j, "vcpu_exit", x->idx);
	vcr_json_exit(j, x->exit, VCR_DIFF_DATA_KEPT);
	vcr_json_hex64(j, "rip", x->state->regs.rip);
	if (ins) {
		struct vcr_insn in;
		int rc = cli_insn_at(ins, x->seq, x->state, &in);
		vcr_json_insn(j, "insn", rc < 0 ? NULL : &in);
	}
	vcr_json_arr(j, "served_with");
	for (uint32_t i = 0; i < x->nextras && i < VCR_DIFF_EXTRAS_SHOWN; i++) {
		const struct vcr_diff_extra *e = &x->extras[i];
		vcr_json_obj(j, NULL);
		vcr_json_str(j, "type", vcr_rec_type_name(e->type));
		if (e->type == VCR_REC_INPUT) {
			vcr_json_str(j, "kind", vcr_input_kind_name(e->kind));
			vcr_json_u64(j, "len", e->len);
			vcr_json_hexbytes(j, "data", e->data, extra_shown(e));
		} else if (e->type == VCR_REC_INJECT) {
			vcr_json_str(j, "kind", inject_kind(e->kind));
			vcr_json_u64(j, "vector", e->vector);
		} else if (e->type == VCR_REC_SET_STATE) {
			vcr_json_u64(j, "dirty", e->kind);
		}
		vcr_json_end(j);
	}
	vcr_json_end(j);
	vcr_json_u64(j, "served_with_count", x->nextras);
	vcr_json_end(j);
}

/* A side's stretch, and with `lists` the first exits of it. */
static void json_range(struct vcr_json *j, const char *key, const struct vcr_diff_range *r,
		       bool lists, const struct vcr_diff_exit *const *list, uint32_t nlist,
		       struct cli_insn *ins)
{
	vcr_json_obj(j, key);
	vcr_json_u64(j, "count", r->count);
	if (r->count) {
		vcr_json_u64(j, "first_seq", r->first_seq);
		vcr_json_u64(j, "first_vcpu_exit", r->first_idx);
		vcr_json_u64(j, "last_seq", r->last_seq);
		vcr_json_u64(j, "last_vcpu_exit", r->last_idx);
	}
	if (lists) {
		vcr_json_arr(j, "exits");
		for (uint32_t i = 0; i < nlist; i++)
			json_exit(j, NULL, list[i], ins);
		vcr_json_end(j);
	}
	vcr_json_end(j);
}

static void json_resume(struct vcr_json *j, const char *key, const struct vcr_diff_exit *x)
{
	if (!x) {
		vcr_json_null(j, key);
		return;
	}
	vcr_json_obj(j, key);
	vcr_json_u64(j, "seq", x->seq);
	vcr_json_u64(j, "vcpu_exit", x->idx);
	vcr_json_end(j);
}

static void json_end(struct vcr_json *j, const char *key, const struct vcr_diff_end *e)
{
	vcr_json_obj(j, key);
	vcr_json_bool(j, "present", e->present);
	if (e->present) {
		vcr_json_str(j, "how", vcr_end_how_name(e->how));
		vcr_json_i64(j, "status", e->status);
	}
	vcr_json_end(j);
}

static void json_event(struct diff_out *o, const struct vcr_diff_event *ev)
{
	struct vcr_json *j = &o->j;
	static const char *const types[] = {
		[VCR_DIFF_EV_PAIR] = "pair", [VCR_DIFF_EV_CHANGED] = "changed",
		[VCR_DIFF_EV_GAP] = "gap", [VCR_DIFF_EV_UNALIGNED] = "unaligned",
		[VCR_DIFF_EV_END] = "end",
	};
	bool lists = ev->type == VCR_DIFF_EV_GAP || ev->type == VCR_DIFF_EV_UNALIGNED;

	vcr_json_obj(j, NULL);
	vcr_json_str(j, "type", types[ev->type]);
	if (ev->type != VCR_DIFF_EV_END)
		vcr_json_u64(j, "vcpu", ev->vcpu);
	switch (ev->type) {
	case VCR_DIFF_EV_PAIR:
		json_exit(j, "a", ev->xa, o->insn ? &o->ia : NULL);
		json_exit(j, "b", ev->xb, o->insn ? &o->ib : NULL);
		vcr_json_bool(j, "payload_differs", ev->payload_differs);
		vcr_json_bool(j, "served_with_differs", ev->extras_differ);
		vcr_json_arr(j, "regs");
		for (uint32_t i = 0; i < ev->nregs; i++) {
			const struct vcr_reg *r = &vcr_regs[ev->regs[i]];
			vcr_json_obj(j, NULL);
			vcr_json_str(j, "name", r->name);
			vcr_json_reg(j, "a", ev->xa->state, r);
			vcr_json_reg(j, "b", ev->xb->state, r);
			vcr_json_end(j);
		}
		vcr_json_end(j);
		break;
	case VCR_DIFF_EV_CHANGED:
	case VCR_DIFF_EV_GAP:
	case VCR_DIFF_EV_UNALIGNED:
		if (ev->type == VCR_DIFF_EV_GAP)
			vcr_json_str(j, "kind", ev->a.count && ev->b.count ? "replaced" :
				     ev->b.count ? "inserted" : "deleted");
		json_range(j, "a", &ev->a, lists, ev->list_a, ev->nlist_a, o->insn ? &o->ia : NULL);
		json_range(j, "b", &ev->b, lists, ev->list_b, ev->nlist_b, o->insn ? &o->ib : NULL);
		if (ev->type == VCR_DIFF_EV_GAP) {
			json_resume(j, "resume_a", ev->resume_a);
			json_resume(j, "resume_b", ev->resume_b);
		}
		break;
	case VCR_DIFF_EV_END:
		json_end(j, "a", &ev->end_a);
		json_end(j, "b", &ev->end_b);
		break;
	}
	vcr_json_end(j);
}

static int on_event(void *ctx, const struct vcr_diff_event *ev)
{
	struct diff_out *o = ctx;
	tally(o, ev);
	if (o->oom)
		return o->oom;
	cli_progress_clear(&o->prog);
	if (o->json)
		json_event(o, ev);
	else
		text_event(o, ev);
	return ferror(o->f) ? -EIO : 0;
}

/* What the options fill: the engine's and the output's. */
struct diff_args {
	struct vcr_diff_opts *o;
	struct diff_out *out;
	bool memory;		/* --memory */
};

static int diff_opt(void *ctx, int val, const char *arg)
{
	struct diff_args *da = ctx;
	struct vcr_diff_opts *o = da->o;
	struct vcr_err err;
	uint64_t v;

	switch (val) {
	case 'n':
		da->out->insn = false;
		return 0;
	case 'a':
		o->all = true;
		return 0;
	case 'i':
		vcr_err_clear(&err);
		if (vcr_diff_ignore_parse(o, arg, &err) < 0) {
			fprintf(stderr, "vcr diff: --ignore: %s\n", err.msg);
			return -1;
		}
		return 0;
	case 'r': {
		char *end;
		errno = 0;
		unsigned long long lo = strtoull(arg, &end, 0), hi = 0;
		if (!errno && end != arg && *end == '-' && end[1]) {
			const char *h = end + 1;
			hi = strtoull(h, &end, 0);
		}
		if (errno || *end || hi <= lo || arg[0] == '-') {
			fprintf(stderr, "vcr diff: --rip: '%s' is not LO-HI with LO < HI\n", arg);
			return -1;
		}
		o->rip_lo = lo;
		o->rip_hi = hi;
		return 0;
	}
	case 'R': {
		char buf[256];
		snprintf(buf, sizeof(buf), "%s", arg);
		for (char *sv, *w = strtok_r(buf, ",", &sv); w; w = strtok_r(NULL, ",", &sv)) {
			uint32_t r;
			for (r = 0; r < 64; r++) {
				const char *name = vcr_exit_reason_name(r);
				if (name && !strcasecmp(w, name))
					break;
			}
			if (r == 64) {
				fprintf(stderr, "vcr diff: --reasons: no exit reason '%s'\n", w);
				return -1;
			}
			o->reasons |= 1ull << r;
		}
		return 0;
	}
	case 'p':
		if (cli_number("diff", "pairs", arg, 0, 1, UINT32_MAX, &v))
			return -1;
		o->max_pairs = (uint32_t)v;
		return 0;
	case 'w':
		if (cli_number("diff", "window", arg, 0, 1, 1u << 24, &v))
			return -1;
		o->window = (uint32_t)v;
		return 0;
	case 'm':
		da->memory = true;
		return 0;
	}
	return -1;
}

static void json_summary(struct vcr_json *j, const struct vcr_diff_summary *sum, bool same,
			 bool complete, const struct diff_out *o)
{
	vcr_json_obj(j, NULL);
	vcr_json_str(j, "type", "summary");
	vcr_json_bool(j, "same", same);
	vcr_json_u64(j, "pairs", sum->pairs);
	vcr_json_u64(j, "differing_pairs", sum->differing_pairs);
	vcr_json_u64(j, "stretches", sum->stretches);
	vcr_json_u64(j, "exits_a", sum->exits_a);
	vcr_json_u64(j, "exits_b", sum->exits_b);
	vcr_json_u64(j, "skipped_a", sum->skipped_a);
	vcr_json_u64(j, "skipped_b", sum->skipped_b);
	vcr_json_bool(j, "end_differs", sum->end_differs);
	vcr_json_bool(j, "complete", complete);
	/* what the events above add up to (all of them with --all) */
	vcr_json_obj(j, "totals");
	json_tally(j, &o->total);
	vcr_json_arr(j, "vcpus");
	for (uint32_t v = 0; v < o->nvc; v++) {
		if (!o->vc[v].stretches)
			continue;
		vcr_json_obj(j, NULL);
		vcr_json_u64(j, "vcpu", v);
		json_tally(j, &o->vc[v]);
		vcr_json_end(j);
	}
	vcr_json_end(j);
	vcr_json_end(j);
	vcr_json_end(j);
}

static int cmd_diff(int argc, char **argv)
{
	static const struct option own[] = {
		{ "all", 0, 0, 'a' }, { "ignore", 1, 0, 'i' }, { "pairs", 1, 0, 'p' },
		{ "window", 1, 0, 'w' }, { "no-insn", 0, 0, 'n' }, { "memory", 0, 0, 'm' },
		{ "rip", 1, 0, 'r' }, { "reasons", 1, 0, 'R' },
	};
	struct vcr_diff_opts o;
	struct diff_out out = { .f = stdout, .insn = true };
	struct diff_args da = { &o, &out, false };
	const struct cli_cmd cmd = {
		.name = "diff", .usage = usage, .nargs = 2,
		.common = CLI_OPT_JSON | CLI_OPT_VCPU | CLI_OPT_QUIET,
		.own = own, .nown = VCR_ARRAY_SIZE(own), .own_opt = diff_opt, .ctx = &da,
	};
	struct cli_opts co;
	struct vcr_diff_summary sum;
	struct vcr_err err;
	int rc;

	vcr_diff_opts_init(&o);
	if ((rc = cli_parse(&cmd, &co, argc, argv)) != CLI_GO_ON)
		return rc;
	o.vcpu = co.vcpu;
	out.json = co.json;
	vcr_json_init(&out.j, out.f);
	out.max_pairs = o.max_pairs ? o.max_pairs : VCR_DIFF_DEFAULT_MAX_PAIRS;
	out.window = o.window ? o.window : VCR_DIFF_DEFAULT_WINDOW;

	cli_insn_init(&out.ia, "diff", argv[optind]);
	cli_insn_init(&out.ib, "diff", argv[optind + 1]);

	vcr_err_clear(&err);
	o.progress = cli_progress_start(&out.prog, "diff", "exits", 0, co.quiet);
	rc = vcr_diff_files(argv[optind], argv[optind + 1], &o, on_event, &out, &sum, &err);
	cli_insn_fini(&out.ia);
	cli_insn_fini(&out.ib);
	cli_progress_end(&out.prog);
	if (rc < 0) {
		fflush(stdout);
		fprintf(stderr, "vcr diff: %s\n", err.msg[0] ? err.msg : strerror(-rc));
		free(out.vc);
		return 2;
	}
	bool same = sum.stretches == 0 && !sum.end_differs;
	if (!out.json && (sum.skipped_a || sum.skipped_b))
		printf("not compared: %llu exits of %s from before the other trace's first (it is a "
		       "ring trace)\n", (unsigned long long)(sum.skipped_a ? sum.skipped_a : sum.skipped_b),
		       sum.skipped_a && sum.skipped_b ? "A and B" : sum.skipped_a ? "A" : "B");
	if (out.json)
		json_summary(&out.j, &sum, same, o.all || same, &out);
	else if (same)
		printf("same: %llu exits compared\n", (unsigned long long)sum.pairs);
	else if (!o.all)
		printf("different (first difference per vCPU shown; --all for every one)\n");
	else
		printf("different: %llu stretch%s, %llu of %llu aligned exits differ\n",
		       (unsigned long long)sum.stretches, sum.stretches == 1 ? "" : "es",
		       (unsigned long long)sum.differing_pairs, (unsigned long long)sum.pairs);
	if (!out.json && !same)
		text_totals(&out);
	free(out.vc);
	int mrc = da.memory ? cli_diff_memory(stdout, out.json ? &out.j : NULL, argv[optind],
					   argv[optind + 1], &o) : 0;
	if (cli_flush("diff", stdout) || mrc == 2)
		return 2;
	return same && !mrc ? 0 : 1;
}
VCR_COMMAND("diff", 40, cmd_diff, "compare two traces per vCPU: first divergence, gaps");
