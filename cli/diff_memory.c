/* cli/diff_memory.c: what `vcr diff --memory` prints (the comparison is
 * replayer/diff.h's vcr_diff_memory): text, or JSON Lines objects of type
 * "memory" (a point whose memory differs), "memory_last" (the last point
 * compared) and "memory_summary". */
#include "cli/diff_memory.h"

#include <errno.h>
#include <string.h>

#include "replayer/cursor.h"

static void mem_point_json(struct vcr_json *j, const char *type, const struct vcr_diff_mem_point *p)
{
	vcr_json_obj(j, NULL);
	vcr_json_str(j, "type", type);
	vcr_json_u64(j, "seq_a", p->seq_a);
	vcr_json_u64(j, "seq_b", p->seq_b);
	vcr_json_u64(j, "vcpu", p->vcpu);
	vcr_json_u64(j, "bytes_compared", p->bytes_compared);
	vcr_json_u64(j, "pages_differing", p->pages_differing);
	vcr_json_arr(j, "pages");
	for (uint32_t i = 0; i < p->npages; i++) {
		vcr_json_obj(j, NULL);
		vcr_json_hex64(j, "gpa", p->pages[i].gpa);
		vcr_json_u64(j, "offset", p->pages[i].offset);
		vcr_json_u64(j, "a", p->pages[i].a);
		vcr_json_u64(j, "b", p->pages[i].b);
		vcr_json_end(j);
	}
	vcr_json_end(j);
	vcr_json_u64(j, "only_a", p->only_a);
	vcr_json_u64(j, "only_b", p->only_b);
	vcr_json_arr(j, "not_compared");
	for (uint32_t i = 0; i < p->ngaps; i++) {
		vcr_json_obj(j, NULL);
		vcr_json_hex64(j, "gpa", p->gaps[i].gpa);
		vcr_json_u64(j, "len", p->gaps[i].len);
		vcr_json_str(j, "a", vcr_mem_class_name(p->gaps[i].cls_a));
		vcr_json_str(j, "b", vcr_mem_class_name(p->gaps[i].cls_b));
		vcr_json_end(j);
	}
	vcr_json_end(j);
	vcr_json_end(j);
}

static void mem_gaps_text(FILE *f, const struct vcr_diff_mem_point *p)
{
	if (!p->only_a && !p->only_b)
		return;
	fprintf(f, "  not compared: %llu bytes known in A only, %llu in B only\n",
		(unsigned long long)p->only_a, (unsigned long long)p->only_b);
	for (uint32_t i = 0; i < p->ngaps; i++)
		fprintf(f, "    0x%llx..0x%llx: A %s, B %s\n", (unsigned long long)p->gaps[i].gpa,
			(unsigned long long)(p->gaps[i].gpa + p->gaps[i].len - 1),
			vcr_mem_class_name(p->gaps[i].cls_a), vcr_mem_class_name(p->gaps[i].cls_b));
	if (p->ngaps_total > p->ngaps)
		fprintf(f, "    ... %llu more ranges\n", (unsigned long long)(p->ngaps_total - p->ngaps));
}

struct mem_out {
	FILE *f;
	struct vcr_json *j;	/* NULL: text */
	bool shown;		/* a point was printed: the last one's exits */
	uint64_t shown_a, shown_b;
};

static int on_mem(void *ctx, const struct vcr_diff_mem_point *p)
{
	struct mem_out *o = ctx;
	if (o->j) {
		mem_point_json(o->j, "memory", p);
		return ferror(o->f) ? -EIO : 0;
	}
	o->shown = true;
	o->shown_a = p->seq_a;
	o->shown_b = p->seq_b;
	fprintf(o->f, "memory at A exit #%llu / B exit #%llu (vcpu %u): %llu page%s\n",
		(unsigned long long)p->seq_a, (unsigned long long)p->seq_b, p->vcpu,
		(unsigned long long)p->pages_differing,
		p->pages_differing == 1 ? " differs" : "s differ");
	for (uint32_t i = 0; i < p->npages; i++)
		fprintf(o->f, "  page 0x%llx: first difference at +0x%x: A 0x%02x B 0x%02x\n",
			(unsigned long long)p->pages[i].gpa, p->pages[i].offset, p->pages[i].a,
			p->pages[i].b);
	if (p->pages_differing > p->npages)
		fprintf(o->f, "  ... %llu more pages\n",
			(unsigned long long)(p->pages_differing - p->npages));
	mem_gaps_text(o->f, p);
	return ferror(o->f) ? -EIO : 0;
}

int cli_diff_memory(FILE *f, struct vcr_json *j, const char *a, const char *b,
		    const struct vcr_diff_opts *o)
{
	struct mem_out out = { .f = f, .j = j };
	struct vcr_diff_mem_summary ms;
	struct vcr_err err;
	vcr_err_clear(&err);
	int rc = vcr_diff_memory(a, b, o, on_mem, &out, &ms, &err);
	if (rc) {
		fflush(stdout);
		fprintf(stderr, "vcr diff: --memory: %s\n", err.msg[0] ? err.msg : strerror(-rc));
		return 2;
	}
	if (j) {
		if (ms.have_last)
			mem_point_json(j, "memory_last", &ms.last);
		vcr_json_obj(j, NULL);
		vcr_json_str(j, "type", "memory_summary");
		vcr_json_bool(j, "same", !ms.differing);
		vcr_json_u64(j, "aligned_pairs", ms.pairs);
		vcr_json_u64(j, "points", ms.points);
		vcr_json_u64(j, "differing_points", ms.differing);
		vcr_json_end(j);
	} else if (!ms.have_last) {
		fprintf(f, "memory: no aligned exit to compare at\n");
	} else {
		fprintf(f, "memory: %s at %llu point%s of %llu aligned exits (last: A exit #%llu / B exit "
		       "#%llu, %llu bytes compared)\n", ms.differing ? "different" : "same",
		       (unsigned long long)ms.points, ms.points == 1 ? "" : "s",
		       (unsigned long long)ms.pairs, (unsigned long long)ms.last.seq_a,
		       (unsigned long long)ms.last.seq_b,
		       (unsigned long long)ms.last.bytes_compared);
		if (!out.shown || out.shown_a != ms.last.seq_a || out.shown_b != ms.last.seq_b)
			mem_gaps_text(f, &ms.last);
	}
	return ms.differing ? 1 : 0;
}

