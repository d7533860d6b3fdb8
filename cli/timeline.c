/* cli/timeline.c: the timeline picture as SVG or HTML (timeline.h). */
#include "cli/timeline.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>

#include "core/state.h"
#include "core/util.h"

/* Layout, in pixels. */
#define TL_LEFT 120		/* lane labels */
#define TL_RIGHT 24
#define TL_TITLE_H 34
#define TL_GROUP_H 20		/* a group's heading: its trace and end */
#define TL_TICKS_H 16		/* marker ticks above the lanes */
#define TL_LANE_H 28
#define TL_LANE_GAP 6
#define TL_AXIS_H 34
#define TL_LEGEND_ROW 20

/* Colours by reason: the exits tests and guests make most get distinct,
 * documented colours; crash reasons are reds. */
static const struct {
	uint32_t reason;
	const char *colour;
} tl_colours[] = {
	{ KVM_EXIT_IO, "#4e79a7" },		/* blue */
	{ KVM_EXIT_MMIO, "#f28e2b" },		/* orange */
	{ KVM_EXIT_HLT, "#59a14f" },		/* green */
	{ KVM_EXIT_DEBUG, "#edc948" },		/* yellow */
	{ KVM_EXIT_HYPERCALL, "#b07aa1" },	/* purple */
	{ KVM_EXIT_SYSTEM_EVENT, "#76b7b2" },	/* teal */
	{ KVM_EXIT_IRQ_WINDOW_OPEN, "#9c755f" },/* brown */
	{ KVM_EXIT_INTR, "#bab0ac" },		/* grey */
	{ KVM_EXIT_X86_RDMSR, "#ff9da7" },	/* pink */
	{ KVM_EXIT_X86_WRMSR, "#d37295" },	/* dark pink */
	{ KVM_EXIT_SHUTDOWN, "#e15759" },	/* red */
	{ KVM_EXIT_INTERNAL_ERROR, "#a40e26" },	/* dark red */
	{ KVM_EXIT_FAIL_ENTRY, "#7f0000" },	/* maroon */
};
#define TL_COLOUR_OTHER "#555555"
#define TL_COLOUR_END "#000000"
#define TL_COLOUR_CRASH "#d00000"
#define TL_COLOUR_MEM "#1f77b4"
#define TL_COLOUR_MARKER "#666666"
#define TL_COLOUR_GDB "#2ca02c"
#define TL_COLOUR_DIVERGE "#e000e0"

const char *tl_reason_colour(uint32_t reason)
{
	for (size_t i = 0; i < VCR_ARRAY_SIZE(tl_colours); i++)
		if (tl_colours[i].reason == reason)
			return tl_colours[i].colour;
	return TL_COLOUR_OTHER;
}

static const char *slot_colour(const struct vcr_tl *t, int s)
{
	return s == VCR_TL_OTHER ? TL_COLOUR_OTHER : tl_reason_colour(t->reason[s]);
}

static void slot_name(const struct vcr_tl *t, int s, char *buf, size_t len)
{
	if (s == VCR_TL_OTHER) {
		snprintf(buf, len, "other");
		return;
	}
	const char *n = vcr_exit_reason_name(t->reason[s]);
	if (n)
		snprintf(buf, len, "%s", n);
	else
		snprintf(buf, len, "reason %u", t->reason[s]);
}

int tl_mark_add(struct tl_group *g, uint32_t kind, uint32_t lane, uint64_t pos,
		const char *text)
{
	int64_t col = vcr_tl_col(&g->bins, pos);
	/* Merge with a recent mark in the same column: marks come in trace
	 * order, so those of one column are together. */
	for (size_t i = g->nmarks, k = 0; i > 0 && k < 16; i--, k++) {
		struct tl_mark *m = &g->marks[i - 1];
		if (m->kind == kind && m->lane == lane && vcr_tl_col(&g->bins, m->pos) == col) {
			m->n++;
			return 0;
		}
	}
	if (g->nmarks >= TL_MAX_MARKS) {
		for (size_t i = 0; i < g->nmarks; i++)
			if (g->marks[i].kind == kind && g->marks[i].lane == lane) {
				g->marks[i].n++;
				return 0;
			}
		return 0;	/* a new kind past the limit: dropped */
	}
	if (g->nmarks == g->capmarks) {
		size_t cap = g->capmarks ? g->capmarks * 2 : 64;
		struct tl_mark *m = realloc(g->marks, cap * sizeof(*m));
		if (!m)
			return -ENOMEM;
		g->marks = m;
		g->capmarks = cap;
	}
	struct tl_mark *m = &g->marks[g->nmarks++];
	m->kind = kind;
	m->lane = lane;
	m->pos = pos;
	m->n = 1;
	snprintf(m->text, sizeof(m->text), "%s", text ? text : "");
	return 0;
}

/* Text for SVG/HTML: the five XML escapes, control bytes dropped. */
static void xml(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		switch (c) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default:
			if (c >= 0x20 && c != 0x7f)
				putc(c, f);
		}
	}
}

struct tl_layout {
	uint32_t w, h;		/* the whole picture */
	uint32_t plot_x, plot_w;
	uint32_t group_y[TL_MAX_GROUPS];	/* top of each group's heading */
	uint32_t lanes_y[TL_MAX_GROUPS];	/* top of each group's first lane */
	uint32_t axis_y, legend_y, nlegend_rows, note_y;
};

/* Reasons of all groups for the legend, by reason code (dedup). */
struct tl_legend {
	uint32_t n;
	uint32_t reason[TL_MAX_GROUPS * VCR_TL_MAX_REASONS];
	uint64_t count[TL_MAX_GROUPS * VCR_TL_MAX_REASONS];
	bool other;
	uint64_t other_count;
	bool kinds[TL_MARK_GDB + 1];	/* mark kinds drawn */
	uint32_t nkinds;
};

static void legend_build(const struct tl_pic *pic, struct tl_legend *lg)
{
	memset(lg, 0, sizeof(*lg));
	for (uint32_t gi = 0; gi < pic->ngroups; gi++) {
		const struct vcr_tl *t = &pic->g[gi].bins;
		uint64_t per[VCR_TL_SLOTS] = { 0 };
		for (uint32_t l = 0; l < t->nlanes; l++)
			for (uint32_t c = 0; c < t->ncols; c++) {
				const uint32_t *k = vcr_tl_counts(t, l, c);
				for (int s = 0; s < VCR_TL_SLOTS; s++)
					per[s] += k[s];
			}
		for (uint32_t s = 0; s < t->nreasons; s++) {
			uint32_t i = 0;
			while (i < lg->n && lg->reason[i] != t->reason[s])
				i++;
			if (i == lg->n)
				lg->reason[lg->n++] = t->reason[s];
			lg->count[i] += per[s];
		}
		if (per[VCR_TL_OTHER]) {
			lg->other = true;
			lg->other_count += per[VCR_TL_OTHER];
		}
		for (size_t i = 0; i < pic->g[gi].nmarks; i++) {
			uint32_t k = pic->g[gi].marks[i].kind;
			if (k <= TL_MARK_GDB && !lg->kinds[k]) {
				lg->kinds[k] = true;
				lg->nkinds++;
			}
		}
	}
}

#define TL_LEGEND_ITEM_W 190

static void layout(const struct tl_pic *pic, const struct tl_legend *lg, struct tl_layout *L)
{
	uint32_t y = TL_TITLE_H;
	L->plot_x = TL_LEFT;
	L->plot_w = pic->width;
	L->w = TL_LEFT + pic->width + TL_RIGHT;
	for (uint32_t gi = 0; gi < pic->ngroups; gi++) {
		L->group_y[gi] = y;
		y += TL_GROUP_H + TL_TICKS_H;
		L->lanes_y[gi] = y;
		y += pic->g[gi].bins.nlanes * (TL_LANE_H + TL_LANE_GAP);
	}
	L->axis_y = y;
	y += TL_AXIS_H;
	L->legend_y = y;
	uint32_t per_row = (L->w - TL_LEFT / 2) / TL_LEGEND_ITEM_W;
	if (!per_row)
		per_row = 1;
	uint32_t items = lg->n + lg->other + lg->nkinds;
	L->nlegend_rows = (items + per_row - 1) / per_row;
	y += L->nlegend_rows * TL_LEGEND_ROW + 6;
	L->note_y = y;
	if (pic->note[0])
		y += TL_LEGEND_ROW;
	L->h = y + 8;
}

static double col_x(const struct tl_layout *L, const struct vcr_tl *t, uint32_t col)
{
	return L->plot_x + (double)col * L->plot_w / t->ncols;
}

static double pos_x(const struct tl_layout *L, const struct vcr_tl *t, uint64_t pos)
{
	return L->plot_x + (double)(pos - t->first) * L->plot_w / (double)t->span;
}

/* One lane: per reason slot, runs of columns with the same stacked height
 * are one rect. Slots stack bottom-up in slot order. */
static void lane_svg(FILE *f, const struct tl_layout *L, const struct vcr_tl *t, uint32_t lane,
		     uint32_t y0)
{
	uint32_t *h = calloc((size_t)t->ncols * VCR_TL_SLOTS, sizeof(*h));
	if (!h)
		return;
	for (uint32_t c = 0; c < t->ncols; c++)
		vcr_tl_stack(t, lane, c, TL_LANE_H, &h[(size_t)c * VCR_TL_SLOTS]);
	for (int s = 0; s < VCR_TL_SLOTS; s++) {
		const char *col = slot_colour(t, s);
		bool any = false;
		for (uint32_t c = 0; c < t->ncols;) {
			const uint32_t *hc = &h[(size_t)c * VCR_TL_SLOTS];
			if (!hc[s]) {
				c++;
				continue;
			}
			uint32_t below = 0;
			for (int k = 0; k < s; k++)
				below += hc[k];
			/* Extend while the slot's height and the stack below it
			 * stay the same. */
			uint32_t e = c + 1;
			for (; e < t->ncols; e++) {
				const uint32_t *he = &h[(size_t)e * VCR_TL_SLOTS];
				uint32_t b = 0;
				for (int k = 0; k < s; k++)
					b += he[k];
				if (he[s] != hc[s] || b != below)
					break;
			}
			if (!any) {
				fprintf(f, "<g fill=\"%s\">", col);
				any = true;
			}
			double x = col_x(L, t, c), x1 = col_x(L, t, e);
			fprintf(f, "<rect x=\"%.2f\" y=\"%u\" width=\"%.2f\" height=\"%u\"/>", x,
				y0 + TL_LANE_H - below - hc[s], x1 - x, hc[s]);
			c = e;
		}
		if (any)
			fputs("</g>\n", f);
	}
	free(h);
}

static const char *mark_colour(uint32_t kind)
{
	switch (kind) {
	case TL_MARK_END: return TL_COLOUR_END;
	case TL_MARK_CRASH: return TL_COLOUR_CRASH;
	case TL_MARK_MEM: return TL_COLOUR_MEM;
	case TL_MARK_GDB: return TL_COLOUR_GDB;
	case TL_MARK_DIVERGE: return TL_COLOUR_DIVERGE;
	default: return TL_COLOUR_MARKER;
	}
}

static void mark_title(FILE *f, const struct tl_mark *m)
{
	fputs("<title>", f);
	xml(f, m->text);
	if (m->n > 1)
		fprintf(f, " (and %" PRIu64 " more in this column)", m->n - 1);
	fputs("</title>", f);
}

static void marks_svg(FILE *f, const struct tl_layout *L, const struct tl_group *g, uint32_t gi)
{
	const struct vcr_tl *t = &g->bins;
	uint32_t top = L->lanes_y[gi];
	uint32_t bottom = top + t->nlanes * (TL_LANE_H + TL_LANE_GAP) - TL_LANE_GAP;

	for (size_t i = 0; i < g->nmarks; i++) {
		const struct tl_mark *m = &g->marks[i];
		double x = m->kind == TL_MARK_END ? pos_x(L, t, m->pos) : pos_x(L, t, m->pos) + 0.5;
		/* A hostile trace can put a mark anywhere: keep it on the plot. */
		if (x > L->plot_x + L->plot_w)
			x = L->plot_x + L->plot_w;
		if (x < L->plot_x)
			x = L->plot_x;
		const char *c = mark_colour(m->kind);
		uint32_t y0 = m->lane == UINT32_MAX ? top : top + m->lane * (TL_LANE_H + TL_LANE_GAP);
		uint32_t y1 = m->lane == UINT32_MAX ? bottom : y0 + TL_LANE_H;
		fputs("<g>", f);
		switch (m->kind) {
		case TL_MARK_END:
		case TL_MARK_DIVERGE:
			fprintf(f, "<line x1=\"%.2f\" y1=\"%u\" x2=\"%.2f\" y2=\"%u\" stroke=\"%s\" "
				   "stroke-width=\"2\"%s/>", x, y0 - 4, x, y1 + 4, c,
				m->kind == TL_MARK_END ? " stroke-dasharray=\"4 2\"" : "");
			break;
		case TL_MARK_CRASH:
			/* a triangle pointing down onto the lane */
			fprintf(f, "<path d=\"M%.2f %uL%.2f %uL%.2f %uZ\" fill=\"%s\"/>", x - 6,
				y0 - 12, x + 6, y0 - 12, x, y0, c);
			break;
		case TL_MARK_MEM:
			fprintf(f, "<rect x=\"%.2f\" y=\"%u\" width=\"7\" height=\"7\" fill=\"%s\" "
				   "transform=\"rotate(45 %.2f %u)\"/>", x - 3.5, top - 12, c, x,
				top - 8);
			break;
		default:
			fprintf(f, "<line x1=\"%.2f\" y1=\"%u\" x2=\"%.2f\" y2=\"%u\" stroke=\"%s\" "
				   "stroke-width=\"1.5\"/>", x, top - 14, x, top - 2, c);
			break;
		}
		mark_title(f, m);
		fputs("</g>\n", f);
	}
}

static void axis_svg(FILE *f, const struct tl_layout *L, const struct vcr_tl *t)
{
	uint32_t y = L->axis_y;
	fprintf(f, "<g stroke=\"#333\"><line x1=\"%u\" y1=\"%u\" x2=\"%u\" y2=\"%u\"/>",
		L->plot_x, y, L->plot_x + L->plot_w, y);
	/* 1, 2 or 5 times a power of ten, about every 100 pixels. */
	double want = (double)t->span * 100 / L->plot_w;
	uint64_t step = 1;
	while ((double)step * 5 < want && step < UINT64_MAX / 10)
		step *= 10;
	if ((double)step < want)
		step *= (double)step * 2 >= want ? 2 : 5;
	uint64_t p0 = (t->first + step - 1) / step * step;
	for (uint64_t p = p0; p <= t->first + t->span && p >= p0; p += step) {
		double x = pos_x(L, t, p);
		fprintf(f, "<line x1=\"%.2f\" y1=\"%u\" x2=\"%.2f\" y2=\"%u\"/>", x, y, x, y + 5);
	}
	fputs("</g>\n<g font-size=\"11\" text-anchor=\"middle\" fill=\"#333\">", f);
	for (uint64_t p = p0; p <= t->first + t->span && p >= p0; p += step) {
		/* Round ticks read shorter with a suffix: 2M, 250k. */
		char lab[32];
		if (p >= 1000000000 && p % 1000000000 == 0)
			snprintf(lab, sizeof(lab), "%" PRIu64 "G", p / 1000000000);
		else if (p >= 1000000 && p % 1000000 == 0)
			snprintf(lab, sizeof(lab), "%" PRIu64 "M", p / 1000000);
		else if (p >= 10000 && p % 1000 == 0)
			snprintf(lab, sizeof(lab), "%" PRIu64 "k", p / 1000);
		else
			snprintf(lab, sizeof(lab), "%" PRIu64, p);
		fprintf(f, "<text x=\"%.2f\" y=\"%u\">%s</text>", pos_x(L, t, p), y + 17, lab);
	}
	fprintf(f, "</g>\n<text x=\"%u\" y=\"%u\" font-size=\"11\" text-anchor=\"end\" "
		   "fill=\"#333\">exit number</text>\n", L->plot_x + L->plot_w, y + 31);
}

static void legend_item(FILE *f, const struct tl_layout *L, uint32_t *i, const char *colour,
			const char *shape, const char *label)
{
	uint32_t per_row = (L->w - TL_LEFT / 2) / TL_LEGEND_ITEM_W;
	if (!per_row)
		per_row = 1;
	uint32_t x = TL_LEFT / 2 + (*i % per_row) * TL_LEGEND_ITEM_W;
	uint32_t y = L->legend_y + (*i / per_row) * TL_LEGEND_ROW;
	if (!strcmp(shape, "rect"))
		fprintf(f, "<rect x=\"%u\" y=\"%u\" width=\"12\" height=\"12\" fill=\"%s\"/>", x,
			y, colour);
	else
		fprintf(f, "<line x1=\"%u\" y1=\"%u\" x2=\"%u\" y2=\"%u\" stroke=\"%s\" "
			   "stroke-width=\"2\"/>", x + 6, y - 1, x + 6, y + 13, colour);
	fprintf(f, "<text x=\"%u\" y=\"%u\">", x + 17, y + 11);
	xml(f, label);
	fputs("</text>\n", f);
	(*i)++;
}

static void legend_svg(FILE *f, const struct tl_layout *L, const struct tl_legend *lg)
{
	char buf[96];
	uint32_t i = 0;
	fputs("<g font-size=\"12\" fill=\"#222\">\n", f);
	for (uint32_t k = 0; k < lg->n; k++) {
		const char *n = vcr_exit_reason_name(lg->reason[k]);
		if (n)
			snprintf(buf, sizeof(buf), "%s (%" PRIu64 ")", n, lg->count[k]);
		else
			snprintf(buf, sizeof(buf), "reason %u (%" PRIu64 ")", lg->reason[k],
				 lg->count[k]);
		legend_item(f, L, &i, tl_reason_colour(lg->reason[k]), "rect", buf);
	}
	if (lg->other) {
		snprintf(buf, sizeof(buf), "other reasons (%" PRIu64 ")", lg->other_count);
		legend_item(f, L, &i, TL_COLOUR_OTHER, "rect", buf);
	}
	/* The marks present only. */
	static const struct {
		uint32_t kind;
		const char *colour, *label;
	} kinds[] = {
		{ TL_MARK_END, TL_COLOUR_END, "end of the run" },
		{ TL_MARK_CRASH, TL_COLOUR_CRASH, "crash" },
		{ TL_MARK_MEM, TL_COLOUR_MEM, "memory checkpoint" },
		{ TL_MARK_MARKER, TL_COLOUR_MARKER, "marker" },
		{ TL_MARK_GDB, TL_COLOUR_GDB, "gdb stop" },
		{ TL_MARK_DIVERGE, TL_COLOUR_DIVERGE, "first divergence" },
	};
	for (size_t k = 0; k < VCR_ARRAY_SIZE(kinds); k++)
		if (lg->kinds[kinds[k].kind])
			legend_item(f, L, &i, kinds[k].colour, "line", kinds[k].label);
	fputs("</g>\n", f);
}

static void svg(FILE *f, const struct tl_pic *pic)
{
	struct tl_legend lg;
	struct tl_layout L;
	legend_build(pic, &lg);
	layout(pic, &lg, &L);

	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"tl\" width=\"%u\" height=\"%u\" "
		   "viewBox=\"0 0 %u %u\" font-family=\"sans-serif\" shape-rendering=\"crispEdges\">\n",
		L.w, L.h, L.w, L.h);
	fprintf(f, "<rect width=\"%u\" height=\"%u\" fill=\"#ffffff\"/>\n", L.w, L.h);
	fprintf(f, "<text x=\"%u\" y=\"22\" font-size=\"15\" font-weight=\"bold\">", TL_LEFT / 2);
	xml(f, pic->title);
	fputs("</text>\n", f);
	for (uint32_t gi = 0; gi < pic->ngroups; gi++) {
		const struct tl_group *g = &pic->g[gi];
		const struct vcr_tl *t = &g->bins;
		fprintf(f, "<text x=\"%u\" y=\"%u\" font-size=\"12\" fill=\"#222\">", TL_LEFT / 2,
			L.group_y[gi] + 14);
		if (g->name) {
			xml(f, g->name);
			fputs(": ", f);
		}
		xml(f, g->path);
		fprintf(f, " (%" PRIu64 " exits)</text>\n", g->exits);
		for (uint32_t l = 0; l < t->nlanes; l++) {
			uint32_t y0 = L.lanes_y[gi] + l * (TL_LANE_H + TL_LANE_GAP);
			fprintf(f, "<g class=\"lane\" data-group=\"%u\" data-lane=\"%u\">\n", gi, l);
			fprintf(f, "<rect x=\"%u\" y=\"%u\" width=\"%u\" height=\"%u\" fill=\"#f2f2f2\"/>\n",
				L.plot_x, y0, L.plot_w, TL_LANE_H);
			fprintf(f, "<text x=\"%u\" y=\"%u\" font-size=\"12\" text-anchor=\"end\">%s%s"
				   "vCPU %u</text>\n", L.plot_x - 8, y0 + TL_LANE_H / 2 + 4,
				g->name ? g->name : "", g->name ? " " : "", l);
			lane_svg(f, &L, t, l, y0);
			fputs("</g>\n", f);
		}
		marks_svg(f, &L, g, gi);
	}
	axis_svg(f, &L, &pic->g[0].bins);
	legend_svg(f, &L, &lg);
	if (pic->note[0]) {
		fprintf(f, "<text x=\"%u\" y=\"%u\" font-size=\"12\" fill=\"#444\">", TL_LEFT / 2,
			L.note_y + 12);
		xml(f, pic->note);
		fputs("</text>\n", f);
	}
	fputs("</svg>\n", f);
}

/* HTML: the counts behind the picture for the hover script, sparse: per
 * lane [col, slot, count, slot, count, ..., -1, col, ...]. */
static void html_data(FILE *f, const struct tl_pic *pic)
{
	struct tl_legend lg;
	struct tl_layout L;
	char name[64];
	legend_build(pic, &lg);
	layout(pic, &lg, &L);

	fprintf(f, "{\"x\":%u,\"w\":%u,\"laneH\":%u,\"laneGap\":%u,\"groups\":[", L.plot_x,
		L.plot_w, TL_LANE_H, TL_LANE_GAP);
	for (uint32_t gi = 0; gi < pic->ngroups; gi++) {
		const struct vcr_tl *t = &pic->g[gi].bins;
		fprintf(f, "%s{\"name\":\"%s\",\"y\":%u,\"first\":%" PRIu64 ",\"span\":%" PRIu64
			   ",\"ncols\":%u,\"reasons\":[", gi ? "," : "",
			pic->g[gi].name ? pic->g[gi].name : "", L.lanes_y[gi], t->first, t->span,
			t->ncols);
		for (int s = 0; s < VCR_TL_SLOTS; s++) {
			slot_name(t, s, name, sizeof(name));
			fprintf(f, "%s\"%s\"", s ? "," : "", name);
		}
		fputs("],\"lanes\":[", f);
		for (uint32_t l = 0; l < t->nlanes; l++) {
			fputs(l ? ",[" : "[", f);
			bool first = true;
			for (uint32_t c = 0; c < t->ncols; c++) {
				const uint32_t *k = vcr_tl_counts(t, l, c);
				if (!vcr_tl_total(t, l, c))
					continue;
				fprintf(f, "%s%u", first ? "" : ",-1,", c);
				first = false;
				for (int s = 0; s < VCR_TL_SLOTS; s++)
					if (k[s])
						fprintf(f, ",%d,%u", s, k[s]);
			}
			fputs("]", f);
		}
		fputs("]}", f);
	}
	fputs("]}", f);
}

static const char tl_script[] =
	"(function(){\n"
	"var svg=document.getElementById('tl'),tip=document.getElementById('tip');\n"
	"var cells=TL.groups.map(function(g){return g.lanes.map(function(a){\n"
	"  var m={},i=0;while(i<a.length){var c=a[i++],l=[];\n"
	"  while(i<a.length&&a[i]!==-1){l.push([a[i],a[i+1]]);i+=2;}i++;m[c]=l;}return m;});});\n"
	"svg.addEventListener('mousemove',function(e){\n"
	"  var r=svg.getBoundingClientRect(),x=e.clientX-r.left,y=e.clientY-r.top,t='';\n"
	"  TL.groups.forEach(function(g,gi){\n"
	"    var l=Math.floor((y-g.y)/(TL.laneH+TL.laneGap));\n"
	"    if(y<g.y||l>=g.lanes.length||(y-g.y)%(TL.laneH+TL.laneGap)>TL.laneH)return;\n"
	"    var c=Math.floor((x-TL.x)*g.ncols/TL.w);if(c<0||c>=g.ncols)return;\n"
	"    var a=g.first+Math.ceil(c*g.span/g.ncols),b=g.first+Math.ceil((c+1)*g.span/g.ncols)-1;\n"
	"    t=(g.name?g.name+' ':'')+'vCPU '+l+', '+(b>a?'exits '+a+'..'+b:'exit '+a)+': ';\n"
	"    var k=cells[gi][l][c];\n"
	"    t+=k?k.map(function(p){return g.reasons[p[0]]+' '+p[1];}).join(', '):'none of this vCPU';\n"
	"  });\n"
	"  if(t){tip.textContent=t;tip.style.display='block';tip.style.left=(e.pageX+12)+'px';\n"
	"    tip.style.top=(e.pageY+12)+'px';}else tip.style.display='none';\n"
	"});\n"
	"svg.addEventListener('mouseleave',function(){tip.style.display='none';});\n"
	"})();\n";

int tl_write(FILE *f, const struct tl_pic *pic, bool html)
{
	if (html) {
		fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>", f);
		xml(f, pic->title);
		fputs("</title>\n<style>body{margin:8px;background:#fff}"
		      "#tip{position:absolute;display:none;background:#ffffe8;border:1px solid #999;"
		      "padding:3px 6px;font:12px sans-serif;pointer-events:none}</style>\n"
		      "</head><body>\n", f);
	}
	svg(f, pic);
	if (html) {
		fputs("<div id=\"tip\"></div>\n<script>\nvar TL=", f);
		html_data(f, pic);
		fprintf(f, ";\n%s</script>\n</body></html>\n", tl_script);
	}
	return ferror(f) ? -1 : 0;
}
