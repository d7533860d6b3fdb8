/* replayer/diff_mem.c: guest memory compared at aligned exits (`vcr diff
 * --memory`; see "Memory" in diff.h). Three steps: where each trace's
 * memory changes (a reader pass), which aligned pairs to compare at (the
 * exit alignment's pairs, one per combination of changes), and the
 * comparison at each (two cursors). */
#include "replayer/diff.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "formats/trace.h"
#include "replayer/cursor.h"

#define DM_PAGE 4096u
#define DM_CHUNK (1u << 20)

/* Exit seqs from which a trace's memory may differ from the exit before. */
struct dm_changes {
	uint64_t *seq;
	size_t n, cap;
};

static bool dm_memory_record(uint32_t type)
{
	switch (type) {
	case VCR_REC_EXIT: case VCR_REC_INPUT: case VCR_REC_SET_STATE:
	case VCR_REC_INJECT: case VCR_REC_MARKER: case VCR_REC_END:
	case VCR_REC_IRQ_LINE: case VCR_REC_NOTE:
		return false;
	default:
		return true;	/* MEM_WRITE, MEM_PAGES, and what is newer than us */
	}
}

static int dm_scan(const char *path, struct dm_changes *ch, struct vcr_err *err)
{
	struct vcr_reader *r;
	struct vcr_record_ref ref;
	struct vcr_record *rec = malloc(sizeof(*rec));
	uint64_t next = UINT64_MAX;	/* seq of the exit after the last one seen */
	if (!rec)
		return vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
	int rc = vcr_reader_open(&r, path, err);
	if (rc < 0) {
		free(rec);
		return rc;
	}
	while ((rc = vcr_reader_next_ref(r, rec, &ref)) > 0) {
		if (rec->type == VCR_REC_EXIT) {
			next = rec->seq + 1;
			continue;
		}
		if (!dm_memory_record(rec->type) || next == UINT64_MAX)
			continue;	/* before the first exit: the same everywhere */
		if (ch->n && ch->seq[ch->n - 1] == next)
			continue;
		if (ch->n == ch->cap) {
			size_t cap = ch->cap ? ch->cap * 2 : 256;
			uint64_t *p = realloc(ch->seq, cap * sizeof(*p));
			if (!p) {
				rc = -ENOMEM;
				break;
			}
			ch->seq = p;
			ch->cap = cap;
		}
		ch->seq[ch->n++] = next;
	}
	if (rc < 0) {
		const struct vcr_err *re = vcr_reader_error(r);
		rc = vcr_err_set(err, rc, re ? re->offset : UINT64_MAX, "%s: %s", path,
				 rc == -ENOMEM ? "out of memory" :
				 re && re->msg[0] ? re->msg : strerror(-rc));
	}
	vcr_reader_close(r);
	free(rec);
	return rc < 0 ? rc : 0;
}

/* Changes at or before seq: the memory "generation" of that exit. */
static uint64_t dm_gen(const struct dm_changes *ch, uint64_t seq)
{
	size_t lo = 0, hi = ch->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ch->seq[mid] <= seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* An aligned pair kept for comparison. */
struct dm_pair {
	uint64_t seq_a, seq_b, gen_a, gen_b;
	uint32_t vcpu;
};

struct dm_collect {
	struct dm_changes ca, cb;
	struct dm_pair *p;
	size_t n, cap;
	uint64_t pairs;
	/* per vCPU: the generations of its last kept pair (runs of pairs
	 * with the same ones add nothing) */
	uint64_t last_a[VCR_TRACE_MAX_VCPUS], last_b[VCR_TRACE_MAX_VCPUS];
	bool have[VCR_TRACE_MAX_VCPUS];
};

static int dm_on_aligned(void *ctx, const struct vcr_diff_exit *a, const struct vcr_diff_exit *b)
{
	struct dm_collect *c = ctx;
	uint32_t v = a->vcpu < VCR_TRACE_MAX_VCPUS ? a->vcpu : 0;
	uint64_t ga = dm_gen(&c->ca, a->seq), gb = dm_gen(&c->cb, b->seq);
	c->pairs++;
	if (c->have[v] && c->last_a[v] == ga && c->last_b[v] == gb)
		return 0;
	c->have[v] = true;
	c->last_a[v] = ga;
	c->last_b[v] = gb;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		struct dm_pair *p = realloc(c->p, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		c->p = p;
		c->cap = cap;
	}
	c->p[c->n++] = (struct dm_pair){ a->seq, b->seq, ga, gb, a->vcpu };
	return 0;
}

static int dm_cmp_pair(const void *x, const void *y)
{
	const struct dm_pair *a = x, *b = y;
	if (a->seq_a != b->seq_a)
		return a->seq_a < b->seq_a ? -1 : 1;
	return a->seq_b < b->seq_b ? -1 : a->seq_b > b->seq_b;
}

/* ------------------------------------------------------ comparison */

struct dm_ranges {
	struct vcr_mem_range *r;
	size_t n, cap;
};

static int dm_on_range(void *arg, const struct vcr_mem_range *r)
{
	struct dm_ranges *v = arg;
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 64;
		struct vcr_mem_range *p = realloc(v->r, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		v->r = p;
		v->cap = cap;
	}
	v->r[v->n++] = *r;
	return 0;
}

static bool dm_served(enum vcr_mem_class c)
{
	return c == VCR_MEM_EXACT || c == VCR_MEM_UNTRACKED;
}

/* Class of side r at gpa, with the end of the run it is in (or of the gap
 * before the next range). *i advances over ranges that end at or before
 * gpa. */
static enum vcr_mem_class dm_class_at(const struct dm_ranges *r, size_t *i, uint64_t gpa,
				      uint64_t *end)
{
	while (*i < r->n && r->r[*i].gpa + r->r[*i].len <= gpa)
		(*i)++;
	if (*i == r->n) {
		*end = UINT64_MAX;
		return VCR_MEM_UNKNOWN;
	}
	const struct vcr_mem_range *x = &r->r[*i];
	if (x->gpa > gpa) {
		*end = x->gpa;
		return VCR_MEM_UNKNOWN;
	}
	*end = x->gpa + x->len;
	return x->cls;
}

struct dm_cmp {
	struct vcr_cursor *a, *b;
	uint8_t *ba, *bb;
	struct dm_ranges ra, rb;
	struct vcr_err *err;
};

static int dm_read_err(struct dm_cmp *m, int rc, const char *side, uint64_t gpa,
		       struct vcr_cursor *c)
{
	return vcr_err_set(m->err, rc, UINT64_MAX, "trace %s: reading memory at 0x%llx: %s",
			   side, (unsigned long long)gpa,
			   vcr_cursor_error(c)->msg[0] ? vcr_cursor_error(c)->msg :
			   strerror(-rc));
}

/* Compare [gpa, gpa + len), served by both sides, into p. */
static int dm_compare_run(struct dm_cmp *m, uint64_t gpa, uint64_t len,
			  struct vcr_diff_mem_point *p)
{
	uint64_t last_page = UINT64_MAX;
	for (uint64_t done = 0; done < len;) {
		size_t n = len - done < DM_CHUNK ? (size_t)(len - done) : DM_CHUNK;
		int rc = vcr_cursor_read_mem(m->a, gpa + done, m->ba, n);
		if (rc)
			return dm_read_err(m, rc, "A", gpa + done, m->a);
		if ((rc = vcr_cursor_read_mem(m->b, gpa + done, m->bb, n)))
			return dm_read_err(m, rc, "B", gpa + done, m->b);
		p->bytes_compared += n;
		if (memcmp(m->ba, m->bb, n)) {
			for (size_t k = 0; k < n; k++) {
				if (m->ba[k] == m->bb[k])
					continue;
				uint64_t at = gpa + done + k, page = at & ~(uint64_t)(DM_PAGE - 1);
				if (page == last_page)
					continue;
				last_page = page;
				if (p->npages < VCR_DIFF_MEM_PAGES)
					p->pages[p->npages++] = (struct vcr_diff_mem_page){
						page, (uint32_t)(at - page), m->ba[k], m->bb[k] };
				p->pages_differing++;
				/* on to the next page */
				size_t skip = (size_t)(page + DM_PAGE - (gpa + done));
				k = skip - 1 < n ? skip - 1 : n;
			}
		}
		done += n;
	}
	return 0;
}

static void dm_gap(struct vcr_diff_mem_point *p, uint64_t gpa, uint64_t len,
		   enum vcr_mem_class ca, enum vcr_mem_class cb)
{
	if (dm_served(ca))
		p->only_a += len;
	else
		p->only_b += len;
	if (p->ngaps && p->gaps[p->ngaps - 1].gpa + p->gaps[p->ngaps - 1].len == gpa &&
	    p->gaps[p->ngaps - 1].cls_a == ca && p->gaps[p->ngaps - 1].cls_b == cb) {
		p->gaps[p->ngaps - 1].len += len;
		return;
	}
	p->ngaps_total++;
	if (p->ngaps < VCR_DIFF_MEM_GAPS)
		p->gaps[p->ngaps++] = (struct vcr_diff_mem_gap){ gpa, len, (uint8_t)ca, (uint8_t)cb };
}

static int dm_compare_at(struct dm_cmp *m, const struct dm_pair *pr,
			 struct vcr_diff_mem_point *p)
{
	int rc;
	memset(p, 0, sizeof(*p));
	p->seq_a = pr->seq_a;
	p->seq_b = pr->seq_b;
	p->vcpu = pr->vcpu;
	if ((rc = vcr_cursor_seek(m->a, pr->seq_a)))
		return vcr_err_set(m->err, rc, UINT64_MAX, "trace A: exit %llu: %s",
				   (unsigned long long)pr->seq_a, vcr_cursor_error(m->a)->msg);
	if ((rc = vcr_cursor_seek(m->b, pr->seq_b)))
		return vcr_err_set(m->err, rc, UINT64_MAX, "trace B: exit %llu: %s",
				   (unsigned long long)pr->seq_b, vcr_cursor_error(m->b)->msg);
	m->ra.n = m->rb.n = 0;
	if ((rc = vcr_cursor_mem_ranges(m->a, dm_on_range, &m->ra)))
		return vcr_err_set(m->err, rc, UINT64_MAX, "trace A: memory: %s",
				   rc == -ENOMEM ? "out of memory" : vcr_cursor_error(m->a)->msg);
	if ((rc = vcr_cursor_mem_ranges(m->b, dm_on_range, &m->rb)))
		return vcr_err_set(m->err, rc, UINT64_MAX, "trace B: memory: %s",
				   rc == -ENOMEM ? "out of memory" : vcr_cursor_error(m->b)->msg);
	/* Walk both range lists together, run by run of equal classes. */
	size_t ia = 0, ib = 0;
	uint64_t at = 0;
	for (;;) {
		uint64_t ea, eb;
		enum vcr_mem_class ca = dm_class_at(&m->ra, &ia, at, &ea);
		enum vcr_mem_class cb = dm_class_at(&m->rb, &ib, at, &eb);
		uint64_t end = ea < eb ? ea : eb;
		rc = 0;
		if (dm_served(ca) && dm_served(cb))
			rc = dm_compare_run(m, at, end - at, p);
		else if (dm_served(ca) || dm_served(cb))
			dm_gap(p, at, end - at, ca, cb);
		if (rc)
			return rc;
		if (end == UINT64_MAX)
			break;
		at = end;
	}
	return 0;
}

int vcr_diff_memory(const char *path_a, const char *path_b, const struct vcr_diff_opts *o,
		    vcr_diff_mem_cb cb, void *cbctx, struct vcr_diff_mem_summary *sum,
		    struct vcr_err *err)
{
	struct dm_collect *c = calloc(1, sizeof(*c));
	struct dm_cmp m = { .err = err };
	struct vcr_diff_summary dsum;
	struct vcr_diff_mem_point *pt = NULL;
	int rc;

	memset(sum, 0, sizeof(*sum));
	if (!c)
		return vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
	if ((rc = dm_scan(path_a, &c->ca, err)) || (rc = dm_scan(path_b, &c->cb, err)))
		goto out;
	struct vcr_diff_opts mo = *o;
	mo.all = true;
	mo.on_aligned = dm_on_aligned;
	mo.aligned_ctx = c;
	rc = vcr_diff_files(path_a, path_b, &mo, NULL, NULL, &dsum, err);
	if (rc == -ENOMEM && !err->msg[0])
		vcr_err_set(err, rc, UINT64_MAX, "out of memory");
	if (rc)
		goto out;
	sum->pairs = c->pairs;
	if (c->n)
		qsort(c->p, c->n, sizeof(*c->p), dm_cmp_pair);

	if ((rc = vcr_cursor_open(&m.a, path_a, err)) || (rc = vcr_cursor_open(&m.b, path_b, err)))
		goto out;
	m.ba = malloc(DM_CHUNK);
	m.bb = malloc(DM_CHUNK);
	pt = malloc(sizeof(*pt));
	if (!m.ba || !m.bb || !pt) {
		rc = vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
		goto out;
	}
	/* One point per combination of generations, in A's order. Pairs of
	 * several vCPUs can repeat a combination: compare it once. */
	uint64_t done_a = UINT64_MAX, done_b = UINT64_MAX;
	for (size_t i = 0; i < c->n; i++) {
		const struct dm_pair *pr = &c->p[i];
		if (pr->gen_a == done_a && pr->gen_b == done_b)
			continue;
		done_a = pr->gen_a;
		done_b = pr->gen_b;
		if ((rc = dm_compare_at(&m, pr, pt)))
			goto out;
		sum->points++;
		sum->last = *pt;
		sum->have_last = true;
		if (!pt->pages_differing)
			continue;
		sum->differing++;
		if (cb && (rc = cb(cbctx, pt)))
			goto out;
		if (!o->all)
			break;
	}
out:
	free(pt);
	free(m.ba);
	free(m.bb);
	free(m.ra.r);
	free(m.rb.r);
	vcr_cursor_close(m.a);
	vcr_cursor_close(m.b);
	free(c->ca.seq);
	free(c->cb.seq);
	free(c->p);
	free(c);
	return rc;
}
