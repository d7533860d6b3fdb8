/*
 * cli/cmd_timeline.c: `vcr timeline TRACE [TRACE_B] -o FILE.svg|.html`: the
 * exits of a trace over exit numbers (traces hold no exit times), one lane
 * per vCPU, coloured by reason (core/timeline.h bins them by column, so a
 * picture of 10^7 exits is as big as one of 10^3), with marks for the end,
 * crashes, memory checkpoints and pages, markers and, given two traces, where each vCPU
 * first diverges (replayer/diff.h). The drawing is cli/timeline.c.
 *
 * Exit status: 0 written; 1 written but a trace is damaged (what was
 * readable is drawn); 2 bad options, unreadable trace or write error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "cli/progress.h"
#include "cli/timeline.h"
#include "core/end.h"
#include "formats/trace.h"
#include "replayer/diff.h"

#define TL_DEFAULT_WIDTH 1000u

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vcr timeline [OPTIONS] -o FILE.svg TRACE\n"
		"       vcr timeline [OPTIONS] -o FILE.html TRACE_A TRACE_B\n"
		"\n"
		"Draw a trace's exits over exit numbers: one lane per vCPU, each pixel\n"
		"column coloured by the reasons of its exits (stacked by count), with\n"
		"marks for the end of the run, crashes, memory pages and markers. With\n"
		"two traces, both are drawn, one above the other, with a line where\n"
		"each vCPU first diverges (as vcr diff finds it). FILE.html is the same\n"
		"picture with the counts of the column under the mouse.\n"
		"\n"
		"  -o, --output FILE  write FILE: .svg or .html (required)\n"
		"  --width PX         columns of the plot (default %u, 16..%u)\n"
		"  --title TEXT       the picture's title (default: the trace's name)\n"
		"  -q, --quiet        no progress line on a terminal\n"
		"\n"
		"Exit status: 0, 1 if a trace is damaged (what is readable is drawn),\n"
		"2 if a trace cannot be read or FILE cannot be written.\n",
		TL_DEFAULT_WIDTH, VCR_TL_MAX_COLS);
}

struct tl_cmd {
	const char *out;
	const char *title;
	uint32_t width;
	bool quiet;
	bool html;
	struct tl_pic pic;
	struct cli_progress prog;
	struct vcr_progress *p;
	int status;
};

static bool crash_reason(uint32_t reason)
{
	return reason == KVM_EXIT_SHUTDOWN || reason == KVM_EXIT_INTERNAL_ERROR ||
	       reason == KVM_EXIT_FAIL_ENTRY;
}

static bool crash_end(uint32_t how)
{
	return how == VCR_END_SHUTDOWN || how == VCR_END_INTERNAL_ERROR ||
	       how == VCR_END_FAIL_ENTRY || how == VCR_END_PANIC;
}

static int mark(struct tl_cmd *c, struct tl_group *g, uint32_t kind, uint32_t lane, uint64_t pos,
		const char *text)
{
	if (tl_mark_add(g, kind, lane, pos, text) < 0) {
		fprintf(stderr, "vcr timeline: out of memory\n");
		c->status = 2;
		return -1;
	}
	return 0;
}

/* One pass over the trace, straight through (no seeks): bin every exit,
 * keep the marks. */
static int read_group(struct tl_cmd *c, struct tl_group *g, struct vcr_reader *r)
{
	struct vcr_record rec;
	struct vcr_record_ref ref;
	char text[TL_MARK_TEXT];
	uint64_t errors = 0, last = UINT64_MAX;
	int rc;

	for (;;) {
		rc = vcr_reader_next_ref(r, &rec, &ref);
		if (rc == 0)
			break;
		if (rc < 0) {
			const struct vcr_err *re = vcr_reader_error(r);
			cli_progress_clear(&c->prog);
			fprintf(stderr, "vcr timeline: %s: %s (offset %llu)\n", g->path,
				re->msg[0] ? re->msg : strerror(-rc), (unsigned long long)re->offset);
			if (c->status < 1)
				c->status = 1;
			if (++errors >= CLI_MAX_READ_ERRORS || rc == -EIO || rc == -ENOMEM)
				break;
			continue;
		}
		/* Marks before the first exit go at the start. */
		uint64_t pos = rec.seq == UINT64_MAX ? g->bins.first : rec.seq;
		switch (rec.type) {
		case VCR_REC_EXIT: {
			uint32_t reason = rec.u.exit.exit.reason;
			vcr_tl_add(&g->bins, rec.vcpu, rec.seq, reason);
			vcr_progress_add(c->p, 1);
			last = rec.seq;
			g->exits++;
			if (crash_reason(reason)) {
				const char *n = vcr_exit_reason_name(reason);
				snprintf(text, sizeof(text), "exit #%" PRIu64 " vCPU %u: %s, rip 0x%llx",
					 rec.seq, rec.vcpu, n ? n : "?",
					 ref.state ? (unsigned long long)ref.state->regs.rip : 0ull);
				if (mark(c, g, TL_MARK_CRASH, rec.vcpu, rec.seq, text))
					return -1;
			}
			break;
		}
		case VCR_REC_MEM_PAGES:
			snprintf(text, sizeof(text), "after exit #%" PRIu64 ": memory pages, %" PRIu64
				 " bytes at gpa 0x%" PRIx64, pos, rec.u.mem.len, rec.u.mem.gpa);
			if (mark(c, g, TL_MARK_MEM, UINT32_MAX, pos, text))
				return -1;
			break;
		case VCR_REC_CKPT:
			/* One CKPT per memory region; those of one checkpoint
			 * share a column and merge into one mark. */
			snprintf(text, sizeof(text), "after exit #%" PRIu64 ": memory checkpoint %"
				 PRIu64 "%s%s", pos, rec.u.ckpt.number,
				 rec.u.ckpt.flags & VCR_CKPT_FULL ? " (full)" : "",
				 rec.u.ckpt.flags & VCR_CKPT_FINAL ? " (final)" : "");
			if (mark(c, g, TL_MARK_MEM, UINT32_MAX, pos, text))
				return -1;
			break;
		case VCR_REC_MARKER:
			/* gdb stops of a recorded `vcr run --gdb` (cli/cmd_run.c). */
			if (rec.u.marker.text && !strncmp(rec.u.marker.text, "vcr.gdb.stop ", 13)) {
				snprintf(text, sizeof(text), "after exit #%" PRIu64 ": gdb stop (%s)",
					 pos, rec.u.marker.text + 13);
				if (mark(c, g, TL_MARK_GDB, UINT32_MAX, pos, text))
					return -1;
				break;
			}
			/* vcr's own markers (vcr.duration_ns=...) are not the user's. */
			if (!rec.u.marker.text || !strncmp(rec.u.marker.text, "vcr.", 4))
				break;
			snprintf(text, sizeof(text), "after exit #%" PRIu64 ": marker %s", pos,
				 rec.u.marker.text);
			if (mark(c, g, TL_MARK_MARKER, UINT32_MAX, pos, text))
				return -1;
			break;
		case VCR_REC_END: {
			uint64_t end = last == UINT64_MAX ? g->bins.first : last + 1;
			snprintf(text, sizeof(text), "end after exit #%" PRIu64 ": %s, status %d%s%s",
				 end ? end - 1 : 0, vcr_end_how_name(rec.u.end.how), rec.u.end.status,
				 rec.u.end.msg && rec.u.end.msg[0] ? ": " : "",
				 rec.u.end.msg ? rec.u.end.msg : "");
			if (mark(c, g, TL_MARK_END, UINT32_MAX, end, text))
				return -1;
			if (crash_end(rec.u.end.how) && last != UINT64_MAX &&
			    mark(c, g, TL_MARK_CRASH, UINT32_MAX, last, text))
				return -1;
			break;
		}
		default:
			/* Records drawn as nothing (inputs, state, injections,
			 * interrupt lines, notes); types this vcr does not know
			 * are skipped by the reader. */
			break;
		}
	}
	return 0;
}

/* ------------------------------------------------------------ divergence */

struct tl_div {
	struct tl_cmd *c;
	bool seen[VCR_TRACE_MAX_VCPUS];
	bool any;
	uint64_t first_a, first_b;	/* the earliest divergence in A */
	uint32_t first_vcpu;
	bool end_differs;
	struct vcr_diff_end end_a, end_b;
};

static int on_diff(void *ctx, const struct vcr_diff_event *ev)
{
	struct tl_div *d = ctx;
	struct tl_cmd *c = d->c;
	char text[TL_MARK_TEXT];
	uint64_t a, b;

	if (ev->type == VCR_DIFF_EV_END) {
		d->end_differs = true;
		d->end_a = ev->end_a;
		d->end_b = ev->end_b;
		return 0;
	}
	if (ev->vcpu >= VCR_TRACE_MAX_VCPUS || d->seen[ev->vcpu])
		return 0;
	d->seen[ev->vcpu] = true;
	const char *what;
	if (ev->type == VCR_DIFF_EV_PAIR) {
		a = ev->xa->seq;
		b = ev->xb->seq;
		what = "state differs";
	} else {
		/* A side without exits in the stretch diverges where it
		 * resumes, or at its end. */
		a = ev->a.count ? ev->a.first_seq :
		    ev->resume_a ? ev->resume_a->seq : c->pic.g[0].bins.first + c->pic.g[0].exits;
		b = ev->b.count ? ev->b.first_seq :
		    ev->resume_b ? ev->resume_b->seq : c->pic.g[1].bins.first + c->pic.g[1].exits;
		what = ev->type == VCR_DIFF_EV_GAP ? (ev->a.count && ev->b.count ? "exits replaced" :
						     ev->b.count ? "exits inserted in B" :
						     "exits deleted from A") :
		       ev->type == VCR_DIFF_EV_UNALIGNED ? "no longer aligned" : "state differs";
	}
	snprintf(text, sizeof(text), "vCPU %u first diverges: %s, A exit #%" PRIu64 ", B exit #%"
		 PRIu64, ev->vcpu, what, a, b);
	if (ev->vcpu < c->pic.g[0].bins.nlanes &&
	    mark(c, &c->pic.g[0], TL_MARK_DIVERGE, ev->vcpu, a, text))
		return -ENOMEM;
	if (ev->vcpu < c->pic.g[1].bins.nlanes &&
	    mark(c, &c->pic.g[1], TL_MARK_DIVERGE, ev->vcpu, b, text))
		return -ENOMEM;
	if (!d->any || a < d->first_a) {
		d->any = true;
		d->first_a = a;
		d->first_b = b;
		d->first_vcpu = ev->vcpu;
	}
	return 0;
}

static int diverge(struct tl_cmd *c)
{
	struct tl_div d = { .c = c };
	struct vcr_diff_opts o;
	struct vcr_diff_summary sum;
	struct vcr_err err;
	struct cli_progress prog;

	vcr_diff_opts_init(&o);
	o.progress = cli_progress_start(&prog, "timeline", "exits compared", 0, c->quiet);
	vcr_err_clear(&err);
	int rc = vcr_diff_files(c->pic.g[0].path, c->pic.g[1].path, &o, on_diff, &d, &sum, &err);
	cli_progress_end(&prog);
	if (rc < 0) {
		fprintf(stderr, "vcr timeline: diff: %s\n", err.msg[0] ? err.msg : strerror(-rc));
		return -1;
	}
	if (d.any)
		snprintf(c->pic.note, sizeof(c->pic.note),
			 "first divergence: vCPU %u at exit #%" PRIu64 " of A, #%" PRIu64 " of B%s",
			 d.first_vcpu, d.first_a, d.first_b,
			 d.end_differs ? "; the runs end differently" : "");
	else if (d.end_differs)
		snprintf(c->pic.note, sizeof(c->pic.note),
			 "same exits; the runs end differently (%s, %s)",
			 d.end_a.present ? vcr_end_how_name(d.end_a.how) : "no end",
			 d.end_b.present ? vcr_end_how_name(d.end_b.how) : "no end");
	else
		snprintf(c->pic.note, sizeof(c->pic.note), "no divergence: %" PRIu64
			 " exits compared", sum.pairs);
	return 0;
}

/* ------------------------------------------------------------------ main */

static bool ends_with(const char *s, const char *sfx)
{
	size_t n = strlen(s), k = strlen(sfx);
	return n >= k && !strcasecmp(s + n - k, sfx);
}

static int cmd_timeline(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "output", 1, 0, 'o' }, { "width", 1, 0, 'w' }, { "title", 1, 0, 't' },
		{ "quiet", 0, 0, 'q' }, { "help", 0, 0, 'h' }, { 0, 0, 0, 0 },
	};
	struct tl_cmd c = { .width = TL_DEFAULT_WIDTH };
	struct vcr_reader *r[TL_MAX_GROUPS] = { 0 };
	FILE *f = NULL;
	uint64_t v;
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "ho:q", lo, NULL)) != -1) {
		switch (opt) {
		case 'o':
			c.out = optarg;
			break;
		case 'w':
			if (cli_number("timeline", "width", optarg, 0, 16, VCR_TL_MAX_COLS, &v))
				return 2;
			c.width = (uint32_t)v;
			break;
		case 't':
			c.title = optarg;
			break;
		case 'q':
			c.quiet = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	int npaths = argc - optind;
	if (npaths < 1 || npaths > TL_MAX_GROUPS || !c.out) {
		usage(stderr);
		return 2;
	}
	if (ends_with(c.out, ".html") || ends_with(c.out, ".htm")) {
		c.html = true;
	} else if (!ends_with(c.out, ".svg")) {
		fprintf(stderr, "vcr timeline: %s: the output is .svg or .html\n", c.out);
		return 2;
	}

	/* Both traces share the x axis: exit numbers from the lower first
	 * exit to the higher end. */
	uint64_t first = UINT64_MAX, end = 0, total = 0;
	struct tl_pic *pic = &c.pic;
	pic->ngroups = (uint32_t)npaths;
	pic->width = c.width;
	for (int i = 0; i < npaths; i++) {
		struct vcr_reader_stats st;
		struct tl_group *g = &pic->g[i];
		g->path = argv[optind + i];
		g->name = npaths > 1 ? (i ? "B" : "A") : NULL;
		if (!(r[i] = cli_open_trace("timeline", g->path))) {
			c.status = 2;
			goto out;
		}
		vcr_reader_get_stats(r[i], &st);
		if (st.first_seq < first)
			first = st.first_seq;
		if (st.first_seq + st.exits > end)
			end = st.first_seq + st.exits;
		total += st.exits;
	}
	for (int i = 0; i < npaths; i++) {
		struct tl_group *g = &pic->g[i];
		uint32_t n = vcr_reader_info(r[i])->nvcpus;
		if (!n || n > VCR_TRACE_MAX_VCPUS)
			n = n ? VCR_TRACE_MAX_VCPUS : 1;
		int rc = vcr_tl_init(&g->bins, n, first, end > first ? end - first : 1, c.width);
		if (rc < 0) {
			fprintf(stderr, "vcr timeline: %s\n", strerror(-rc));
			c.status = 2;
			goto out;
		}
	}
	c.title = c.title ? c.title : npaths > 1 ? "vcr timeline: A against B" : pic->g[0].path;
	pic->title = c.title;

	c.p = cli_progress_start(&c.prog, "timeline", "exits", total, c.quiet);
	for (int i = 0; i < npaths; i++) {
		if (read_group(&c, &pic->g[i], r[i]) < 0)
			goto out;
		vcr_reader_close(r[i]);
		r[i] = NULL;
	}
	cli_progress_end(&c.prog);
	c.p = NULL;
	if (npaths == 2 && diverge(&c) < 0) {
		c.status = 2;
		goto out;
	}

	if (!(f = fopen(c.out, "w"))) {
		fprintf(stderr, "vcr timeline: %s: %s\n", c.out, strerror(errno));
		c.status = 2;
		goto out;
	}
	if (tl_write(f, pic, c.html) < 0 || cli_flush("timeline", f))
		c.status = 2;
	if (fclose(f) && c.status < 2) {
		fprintf(stderr, "vcr timeline: %s: %s\n", c.out, strerror(errno));
		c.status = 2;
	}
out:
	cli_progress_end(&c.prog);
	for (int i = 0; i < TL_MAX_GROUPS; i++) {
		vcr_reader_close(r[i]);
		vcr_tl_free(&pic->g[i].bins);
		free(pic->g[i].marks);
	}
	return c.status;
}
VCR_COMMAND("timeline", 43, cmd_timeline, "draw a trace's exits per vCPU (by exit number) as SVG or HTML");
