/* cli/cmd_diff.c: `vcr diff A B`: where two runs differ, per vCPU. The
 * engine is replayer/diff.h; this file only parses options and prints. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/regs.h"
#include "formats/trace.h"
#include "replayer/diff.h"

struct diff_out {
	FILE *f;
	bool json;
	uint32_t max_pairs;
	uint32_t window;
};

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
		"  --json           JSON Lines: one object per event, then a summary\n"
		"  --pairs N        differing exits detailed per stretch (default %u)\n"
		"  --window N       exits of lookahead to realign (default %u)\n"
		"\n"
		"Exit status: 0 same, 1 different, 2 trouble (unreadable trace, bad option).\n",
		VCR_DIFF_DEFAULT_MAX_PAIRS, VCR_DIFF_DEFAULT_WINDOW);
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
			fprintf(f, "%s len=%u data=", vcr_diff_input_kind_name(e->kind), e->len);
			uint32_t n = e->len < sizeof(e->data) ? e->len : (uint32_t)sizeof(e->data);
			for (uint32_t k = 0; k < n; k++)
				fprintf(f, "%02x", e->data[k]);
			if (n < e->len)
				fputs("...", f);
			break;
		}
		case VCR_REC_INJECT:
			fprintf(f, "inject %s vector=%u", e->kind == VCR_INJECT_NMI ? "nmi" : "irq",
				e->vector);
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

/* "exit 1234 (#2469)": per-vCPU index, then global sequence number. */
static void text_exit_line(FILE *f, const char *mark, const struct vcr_diff_exit *x)
{
	char pay[256];
	const char *name = vcr_exit_reason_name(x->exit->reason);
	vcr_exit_format(x->exit, pay, sizeof(pay));
	fprintf(f, "  %s exit %llu (#%llu) %s%s%s rip=0x%llx\n", mark,
		(unsigned long long)x->idx, (unsigned long long)x->seq, name ? name : "?",
		pay[0] ? " " : "", pay, (unsigned long long)x->state->regs.rip);
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
			text_exit_line(f, "- A", ev->list_a[i]);
		if (ev->a.count > ev->nlist_a)
			fprintf(f, "  - A ... %llu more\n",
				(unsigned long long)(ev->a.count - ev->nlist_a));
		for (uint32_t i = 0; i < ev->nlist_b; i++)
			text_exit_line(f, "+ B", ev->list_b[i]);
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

static void json_exit(FILE *f, const struct vcr_diff_exit *x)
{
	fprintf(f, "{\"seq\":%llu,\"vcpu_exit\":%llu", (unsigned long long)x->seq,
		(unsigned long long)x->idx);
	vcr_diff_json_exit(f, x->exit, VCR_DIFF_DATA_KEPT);
	fprintf(f, ",\"rip\":\"0x%llx\",\"served_with\":[", (unsigned long long)x->state->regs.rip);
	for (uint32_t i = 0; i < x->nextras && i < VCR_DIFF_EXTRAS_SHOWN; i++) {
		const struct vcr_diff_extra *e = &x->extras[i];
		fprintf(f, "%s{\"type\":\"%s\"", i ? "," : "", vcr_rec_type_name(e->type));
		if (e->type == VCR_REC_INPUT) {
			fprintf(f, ",\"kind\":\"%s\",\"len\":%u,\"data\":\"",
				vcr_diff_input_kind_name(e->kind), e->len);
			uint32_t n = e->len < sizeof(e->data) ? e->len : (uint32_t)sizeof(e->data);
			for (uint32_t k = 0; k < n; k++)
				fprintf(f, "%02x", e->data[k]);
			fputc('"', f);
		} else if (e->type == VCR_REC_INJECT) {
			fprintf(f, ",\"kind\":\"%s\",\"vector\":%u",
				e->kind == VCR_INJECT_NMI ? "nmi" : "irq", e->vector);
		} else if (e->type == VCR_REC_SET_STATE) {
			fprintf(f, ",\"dirty\":%u", e->kind);
		}
		fputc('}', f);
	}
	fprintf(f, "],\"served_with_count\":%u}", x->nextras);
}

static void json_range(FILE *f, const struct vcr_diff_range *r)
{
	fprintf(f, "{\"count\":%llu", (unsigned long long)r->count);
	if (r->count)
		fprintf(f, ",\"first_seq\":%llu,\"first_vcpu_exit\":%llu,\"last_seq\":%llu,"
			"\"last_vcpu_exit\":%llu", (unsigned long long)r->first_seq,
			(unsigned long long)r->first_idx, (unsigned long long)r->last_seq,
			(unsigned long long)r->last_idx);
}

static void json_end(FILE *f, const struct vcr_diff_end *e)
{
	if (!e->present) {
		fputs("{\"present\":false}", f);
		return;
	}
	fprintf(f, "{\"present\":true,\"how\":\"%s\",\"status\":%d}", vcr_end_how_name(e->how),
		e->status);
}

static void json_event(struct diff_out *o, const struct vcr_diff_event *ev)
{
	FILE *f = o->f;
	static const char *const types[] = {
		[VCR_DIFF_EV_PAIR] = "pair", [VCR_DIFF_EV_CHANGED] = "changed",
		[VCR_DIFF_EV_GAP] = "gap", [VCR_DIFF_EV_UNALIGNED] = "unaligned",
		[VCR_DIFF_EV_END] = "end",
	};

	fprintf(f, "{\"type\":\"%s\"", types[ev->type]);
	if (ev->type != VCR_DIFF_EV_END)
		fprintf(f, ",\"vcpu\":%u", ev->vcpu);
	switch (ev->type) {
	case VCR_DIFF_EV_PAIR:
		fputs(",\"a\":", f);
		json_exit(f, ev->xa);
		fputs(",\"b\":", f);
		json_exit(f, ev->xb);
		fprintf(f, ",\"payload_differs\":%s,\"served_with_differs\":%s,\"regs\":[",
			ev->payload_differs ? "true" : "false", ev->extras_differ ? "true" : "false");
		for (uint32_t i = 0; i < ev->nregs; i++) {
			const struct vcr_reg *r = &vcr_regs[ev->regs[i]];
			fprintf(f, "%s{\"name\":", i ? "," : "");
			vcr_diff_json_string(f, r->name);
			fputs(",\"a\":", f);
			vcr_diff_json_reg(f, ev->xa->state, r);
			fputs(",\"b\":", f);
			vcr_diff_json_reg(f, ev->xb->state, r);
			fputc('}', f);
		}
		fputc(']', f);
		break;
	case VCR_DIFF_EV_CHANGED:
		fputs(",\"a\":", f);
		json_range(f, &ev->a);
		fputs("},\"b\":", f);
		json_range(f, &ev->b);
		fputc('}', f);
		break;
	case VCR_DIFF_EV_GAP:
	case VCR_DIFF_EV_UNALIGNED:
		if (ev->type == VCR_DIFF_EV_GAP)
			fprintf(f, ",\"kind\":\"%s\"", ev->a.count && ev->b.count ? "replaced" :
				ev->b.count ? "inserted" : "deleted");
		fputs(",\"a\":", f);
		json_range(f, &ev->a);
		fputs(",\"exits\":[", f);
		for (uint32_t i = 0; i < ev->nlist_a; i++) {
			if (i)
				fputc(',', f);
			json_exit(f, ev->list_a[i]);
		}
		fputs("]},\"b\":", f);
		json_range(f, &ev->b);
		fputs(",\"exits\":[", f);
		for (uint32_t i = 0; i < ev->nlist_b; i++) {
			if (i)
				fputc(',', f);
			json_exit(f, ev->list_b[i]);
		}
		fputs("]}", f);
		if (ev->type == VCR_DIFF_EV_GAP) {
			fputs(",\"resume_a\":", f);
			if (ev->resume_a)
				fprintf(f, "{\"seq\":%llu,\"vcpu_exit\":%llu}",
					(unsigned long long)ev->resume_a->seq,
					(unsigned long long)ev->resume_a->idx);
			else
				fputs("null", f);
			fputs(",\"resume_b\":", f);
			if (ev->resume_b)
				fprintf(f, "{\"seq\":%llu,\"vcpu_exit\":%llu}",
					(unsigned long long)ev->resume_b->seq,
					(unsigned long long)ev->resume_b->idx);
			else
				fputs("null", f);
		}
		break;
	case VCR_DIFF_EV_END:
		fputs(",\"a\":", f);
		json_end(f, &ev->end_a);
		fputs(",\"b\":", f);
		json_end(f, &ev->end_b);
		break;
	}
	fputs("}\n", f);
}

static int on_event(void *ctx, const struct vcr_diff_event *ev)
{
	struct diff_out *o = ctx;
	if (o->json)
		json_event(o, ev);
	else
		text_event(o, ev);
	return ferror(o->f) ? -EIO : 0;
}

static int parse_u32(const char *s, uint32_t *v)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 0);
	if (errno || !*s || *end || x > UINT32_MAX || s[0] == '-')
		return -1;
	*v = (uint32_t)x;
	return 0;
}

static int cmd_diff(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "all", 0, 0, 'a' }, { "ignore", 1, 0, 'i' }, { "vcpu", 1, 0, 'v' },
		{ "json", 0, 0, 'j' }, { "pairs", 1, 0, 'p' }, { "window", 1, 0, 'w' },
		{ "help", 0, 0, 'h' }, { 0, 0, 0, 0 },
	};
	struct vcr_diff_opts o;
	struct diff_out out = { .f = stdout };
	struct vcr_diff_summary sum;
	struct vcr_err err;
	int c;

	vcr_diff_opts_init(&o);
	vcr_err_clear(&err);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'a':
			o.all = true;
			break;
		case 'i':
			if (vcr_diff_ignore_parse(&o, optarg, &err) < 0) {
				fprintf(stderr, "vcr diff: --ignore: %s\n", err.msg);
				return 2;
			}
			break;
		case 'v':
			if (parse_u32(optarg, &o.vcpu) || o.vcpu == UINT32_MAX) {
				fprintf(stderr, "vcr diff: bad --vcpu '%s'\n", optarg);
				return 2;
			}
			break;
		case 'j':
			out.json = true;
			break;
		case 'p':
			if (parse_u32(optarg, &o.max_pairs) || !o.max_pairs) {
				fprintf(stderr, "vcr diff: bad --pairs '%s'\n", optarg);
				return 2;
			}
			break;
		case 'w':
			if (parse_u32(optarg, &o.window) || !o.window || o.window > (1u << 24)) {
				fprintf(stderr, "vcr diff: bad --window '%s' (1..16777216)\n", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 2) {
		usage(stderr);
		return 2;
	}
	out.max_pairs = o.max_pairs ? o.max_pairs : VCR_DIFF_DEFAULT_MAX_PAIRS;
	out.window = o.window ? o.window : VCR_DIFF_DEFAULT_WINDOW;

	int rc = vcr_diff_files(argv[optind], argv[optind + 1], &o, on_event, &out, &sum, &err);
	if (rc < 0) {
		fflush(stdout);
		fprintf(stderr, "vcr diff: %s\n", err.msg[0] ? err.msg : strerror(-rc));
		return 2;
	}
	bool same = sum.stretches == 0 && !sum.end_differs;
	if (!out.json && (sum.skipped_a || sum.skipped_b))
		printf("not compared: %llu exits of %s from before the other trace's first (it is a "
		       "ring trace)\n", (unsigned long long)(sum.skipped_a ? sum.skipped_a : sum.skipped_b),
		       sum.skipped_a && sum.skipped_b ? "A and B" : sum.skipped_a ? "A" : "B");
	if (out.json)
		printf("{\"type\":\"summary\",\"same\":%s,\"pairs\":%llu,\"differing_pairs\":%llu,"
		       "\"stretches\":%llu,\"exits_a\":%llu,\"exits_b\":%llu,\"skipped_a\":%llu,"
		       "\"skipped_b\":%llu,\"end_differs\":%s,\"complete\":%s}\n",
		       same ? "true" : "false",
		       (unsigned long long)sum.pairs, (unsigned long long)sum.differing_pairs,
		       (unsigned long long)sum.stretches, (unsigned long long)sum.exits_a,
		       (unsigned long long)sum.exits_b, (unsigned long long)sum.skipped_a,
		       (unsigned long long)sum.skipped_b, sum.end_differs ? "true" : "false",
		       o.all || same ? "true" : "false");
	else if (same)
		printf("same: %llu exits compared\n", (unsigned long long)sum.pairs);
	else if (!o.all)
		printf("different (first difference per vCPU shown; --all for every one)\n");
	else
		printf("different: %llu stretch%s, %llu of %llu aligned exits differ\n",
		       (unsigned long long)sum.stretches, sum.stretches == 1 ? "" : "es",
		       (unsigned long long)sum.differing_pairs, (unsigned long long)sum.pairs);
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "vcr diff: write error\n");
		return 2;
	}
	return same ? 0 : 1;
}
VCR_COMMAND("diff", 40, cmd_diff, "compare two traces per vCPU: first divergence, gaps");
