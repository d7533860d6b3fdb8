/*
 * replayer/memory.c: the cursor's memory index (replayer/memory.h has the
 * model and the contract).
 *
 * Layout:
 *   pieces / ppages  the VMM's writes, clipped to pages, bytes in `data`;
 *                    ppages lists each page's pieces (file order)
 *   cks              one entry per checkpoint (seq, number, gap)
 *   vers             one entry per stored page version (page, checkpoint,
 *                    dirty, where its bytes are: run + index in the run,
 *                    or zero, or missing; an XOR version also the version
 *                    its runs apply to, found in rmem_finish); vorder
 *                    sorts them by (page, ck)
 *   runs             one CKPT_PAGES record each: its trace position and
 *                    the versions it holds, in ordinal order (run_vers)
 * A page's bytes are decoded on demand: reader `rd` reads the run again
 * (one chunk decode at most), and the page cache keeps recent versions.
 * A page at an exit is a few segments (page_fill: runs of bytes with one
 * source, a piece or the version), found per piece and bitmap word; reads,
 * classes and ranges work on the segments, never byte by byte.
 */
#include "replayer/memory.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PG VCR_CKPT_PAGE
#define CACHE_PAGES 512u	/* decoded versions kept (2 MiB) */
#define NONE UINT32_MAX

enum { V_MISSING = 0, V_ZERO, V_RAW, V_XOR };

struct piece {
	uint64_t page, key;	/* key: seq + 1 of the record (visible at >= key) */
	uint64_t data_off;
	uint32_t ord;
	uint16_t pofs, len;
};

struct ppage {
	uint64_t page;
	size_t first, count;
	bool sorted;		/* keys rise with file order (pieces_upto) */
};

/* A run of bytes of the page with one source. */
struct seg {
	uint32_t b, e;		/* [b, e) within the page */
	uint64_t date;		/* the source record's seq + 2; 1: before the
				 * first exit; 0: nothing holds the bytes */
	const uint8_t *src;	/* the bytes of [b, e), NULL when date is 0 */
};

struct ck {
	uint64_t seq, number;
	uint32_t flags;
	int32_t lastgap;	/* last checkpoint index <= this one that follows
				 * a missing number, -1 none */
	bool gap;
};

struct ver {
	uint64_t page;
	uint32_t ck;
	uint8_t dirty, enc;	/* enc: V_* */
	uint8_t xrep;		/* V_XOR repeating another page's (until
				 * rmem_finish: base is that version) */
	uint32_t run, idx;	/* V_RAW, V_XOR: the bytes or runs are page
				 * idx of run */
	uint32_t base;		/* V_XOR: the version the runs apply to, NONE
				 * unknown (until rmem_finish: `back`) */
};

struct run {
	struct vcr_reader_pos pos;
	uint64_t first;
	uint32_t count;
	size_t vbase;		/* in run_vers */
};

/* The checkpoint being read: its regions' ordinal 0 versions. */
struct cur_reg {
	uint64_t gpa, base, nstored;
};

struct rmem {
	char *path;
	struct vcr_reader *rd;		/* for decoding runs, opened on demand */
	struct piece *pieces;
	size_t npieces, cappieces;
	struct ppage *ppages;
	size_t nppages;
	uint8_t *data;
	size_t ndata, capdata;
	struct ck *cks;
	size_t ncks, capcks;
	struct ver *vers;
	size_t nvers, capvers;
	uint32_t *vorder;
	struct run *runs;
	size_t nruns, capruns;
	uint32_t *run_vers;
	size_t nrun_vers, caprun_vers;
	struct cur_reg reg[16];
	uint32_t nreg;
	uint64_t damage;
	char damage_msg[256];
	struct vcr_ckpt_page scan[VCR_CKPT_RUN_MAX];
	struct vcr_record rec;
	/* Page cache: tag = version + 1. */
	uint32_t ctag[CACHE_PAGES];
	uint8_t (*cdata)[PG];
	uint8_t xbuf[PG];		/* an XOR chain's page being built */
	/* One page's sources (page_fill): segs cover the page in address
	 * order; raw, the same in the order found; taken, the bytes a piece
	 * took; starts and seg_at, where each raw segment begins. */
	struct seg *segs, *raw;
	uint32_t nseg, nraw, ntaken;
	uint64_t taken[PG / 64], starts[PG / 64];
	uint16_t seg_at[PG];
};

int rmem_open(struct rmem **out, const char *path)
{
	struct rmem *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->path = strdup(path);
	/* Segments are disjoint and not empty: a page has at most PG. */
	m->segs = malloc(2 * (size_t)PG * sizeof(*m->segs));
	if (!m->path || !m->segs) {
		free(m->path);
		free(m->segs);
		free(m);
		return -ENOMEM;
	}
	m->raw = m->segs + PG;
	*out = m;
	return 0;
}

void rmem_close(struct rmem *m)
{
	if (!m)
		return;
	vcr_reader_close(m->rd);
	free(m->path);
	free(m->pieces);
	free(m->ppages);
	free(m->data);
	free(m->cks);
	free(m->vers);
	free(m->vorder);
	free(m->runs);
	free(m->run_vers);
	free(m->cdata);
	free(m->segs);
	free(m);
}

uint64_t rmem_damage(const struct rmem *m, const char **msg)
{
	if (msg)
		*msg = m->damage_msg;
	return m->damage;
}

uint64_t rmem_ncheckpoints(const struct rmem *m)
{
	return m->ncks;
}

/* ---- building ------------------------------------------------------------ */

static int add_write(struct rmem *m, const struct vcr_record *r, struct vcr_err *err)
{
	uint64_t gpa = r->u.mem.gpa, len = r->u.mem.len, end;
	if (len == 0)
		return 0;
	if (!r->u.mem.data || vcr_add_overflow(gpa, len, &end) || len > SIZE_MAX / 2)
		return vcr_err_set(err, -EBADMSG, UINT64_MAX,
				   "memory record at gpa 0x%llx, %llu bytes, wraps",
				   (unsigned long long)gpa, (unsigned long long)len);
	int rc = vcr_grow((void **)&m->data, &m->capdata, m->ndata + (size_t)len, 1);
	if (rc)
		return rc;
	uint64_t base = m->ndata;
	memcpy(m->data + base, r->u.mem.data, (size_t)len);
	m->ndata += (size_t)len;
	uint64_t key = r->seq + 1;	/* UINT64_MAX (before exit 0) wraps to 0 */
	for (uint64_t a = gpa; a < end;) {
		uint64_t page = a / PG, pofs = a % PG, n = PG - pofs;
		if (n > end - a)
			n = end - a;
		if (m->npieces >= UINT32_MAX)
			return -EOVERFLOW;
		rc = vcr_grow((void **)&m->pieces, &m->cappieces, m->npieces + 1, sizeof(*m->pieces));
		if (rc)
			return rc;
		m->pieces[m->npieces] = (struct piece){ page, key, base + (a - gpa),
							(uint32_t)m->npieces, (uint16_t)pofs,
							(uint16_t)n };
		m->npieces++;
		a += n;
	}
	return 0;
}

static int push_ver(struct rmem *m, uint64_t page, uint8_t dirty)
{
	if (m->nvers >= UINT32_MAX - 1)
		return -EOVERFLOW;
	int rc = vcr_grow((void **)&m->vers, &m->capvers, m->nvers + 1, sizeof(*m->vers));
	if (rc)
		return rc;
	m->vers[m->nvers++] = (struct ver){ page, (uint32_t)(m->ncks - 1), dirty, V_MISSING, 0,
					    NONE, 0, NONE };
	return 0;
}

static int add_ckpt(struct rmem *m, const struct vcr_record *r)
{
	int rc;
	/* A checkpoint taken before any exit is not one vcr writes: skip. */
	if (r->seq == UINT64_MAX)
		return 0;
	struct ck *last = m->ncks ? &m->cks[m->ncks - 1] : NULL;
	if (!last || last->number != r->u.ckpt.number || last->seq != r->seq) {
		if (m->ncks >= UINT32_MAX - 1)
			return -EOVERFLOW;
		rc = vcr_grow((void **)&m->cks, &m->capcks, m->ncks + 1, sizeof(*m->cks));
		if (rc)
			return rc;
		struct ck *k = &m->cks[m->ncks];
		k->seq = r->seq;
		k->number = r->u.ckpt.number;
		k->flags = 0;
		k->gap = last && r->u.ckpt.number != last->number + 1;
		k->lastgap = k->gap ? (int32_t)m->ncks : last ? last->lastgap : -1;
		m->ncks++;
		m->nreg = 0;
	}
	m->cks[m->ncks - 1].flags |= r->u.ckpt.flags;
	uint64_t np = r->u.ckpt.npages, p0 = r->u.ckpt.gpa / PG, base = m->nvers;
	const uint8_t *d = r->u.ckpt.dirty, *s = r->u.ckpt.stored;
	for (uint64_t i = 0; i < np; i++)
		if (s[i / 8] >> (i % 8) & 1)
			if ((rc = push_ver(m, p0 + i, d[i / 8] >> (i % 8) & 1)))
				return rc;
	uint64_t nstored = m->nvers - base;
	/* Dirty but not stored (not from vcr's writer): contents missing. */
	for (uint64_t i = 0; s != d && i < np; i++)
		if ((d[i / 8] >> (i % 8) & 1) && !(s[i / 8] >> (i % 8) & 1))
			if ((rc = push_ver(m, p0 + i, 1)))
				return rc;
	if (m->nreg < VCR_ARRAY_SIZE(m->reg))
		m->reg[m->nreg++] = (struct cur_reg){ r->u.ckpt.gpa, base, nstored };
	return 0;
}

/* The first damage in file order is described: a record the reader
 * skipped before this one (rd's stats) came first. */
static void first_damage(struct rmem *m, const struct vcr_reader *rd)
{
	struct vcr_reader_stats st;
	if (m->damage_msg[0])
		return;
	vcr_reader_get_stats(rd, &st);
	if (st.damaged_records)
		snprintf(m->damage_msg, sizeof(m->damage_msg), "%s", st.damaged_record_msg);
}

static void damaged(struct rmem *m, struct vcr_reader *rd, const struct vcr_reader_pos *pos,
		    const char *what, const struct vcr_record *r)
{
	m->damage++;
	first_damage(m, rd);
	if (!m->damage_msg[0])
		snprintf(m->damage_msg, sizeof(m->damage_msg),
			 "checkpoint #%llu pages %llu..%llu (chunk at offset %llu, payload byte %llu): "
			 "%s; skipped, those pages are unknown",
			 (unsigned long long)r->u.ckpt_pages.number,
			 (unsigned long long)r->u.ckpt_pages.first,
			 (unsigned long long)(r->u.ckpt_pages.first + r->u.ckpt_pages.count - 1),
			 (unsigned long long)vcr_reader_chunk_offset(rd, pos),
			 (unsigned long long)pos->byte, what);
}

static int add_pages(struct rmem *m, struct vcr_reader *rd, const struct vcr_record *r)
{
	struct vcr_reader_pos pos;
	vcr_reader_tell(rd, &pos);
	if (!m->ncks || m->cks[m->ncks - 1].number != r->u.ckpt_pages.number) {
		damaged(m, rd, &pos, "no checkpoint record before it", r);
		return 0;
	}
	const struct cur_reg *g = NULL;
	for (uint32_t i = 0; i < m->nreg; i++)
		if (m->reg[i].gpa == r->u.ckpt_pages.gpa)
			g = &m->reg[i];
	uint64_t first = r->u.ckpt_pages.first;
	uint32_t cnt = r->u.ckpt_pages.count;
	if (!g || first + cnt > g->nstored) {
		damaged(m, rd, &pos, "pages outside the checkpoint's region", r);
		return 0;
	}
	if (vcr_ckpt_pages_scan(r->u.ckpt_pages.data, r->u.ckpt_pages.len, first, cnt, m->scan)) {
		damaged(m, rd, &pos, "malformed page encodings", r);
		return 0;
	}
	if (m->nruns >= UINT32_MAX - 1)
		return -EOVERFLOW;
	int rc = vcr_grow((void **)&m->runs, &m->capruns, m->nruns + 1, sizeof(*m->runs));
	if (!rc)
		rc = vcr_grow((void **)&m->run_vers, &m->caprun_vers, m->nrun_vers + cnt,
			  sizeof(*m->run_vers));
	if (rc)
		return rc;
	uint32_t ri = (uint32_t)m->nruns++;
	m->runs[ri] = (struct run){ pos, first, cnt, m->nrun_vers };
	for (uint32_t k = 0; k < cnt; k++) {
		struct ver *v = &m->vers[g->base + first + k];
		m->run_vers[m->nrun_vers++] = (uint32_t)(g->base + first + k);
		switch (m->scan[k].enc) {
		case VCR_CKPT_ZERO:
			v->enc = V_ZERO;
			break;
		case VCR_CKPT_RAW:
			v->enc = V_RAW;
			v->run = ri;
			v->idx = k;
			break;
		case VCR_CKPT_REPEAT: {
			/* ref < this ordinal: resolved already (or missing). */
			uint32_t oi = (uint32_t)(g->base + m->scan[k].ref);
			const struct ver *o = &m->vers[oi];
			v->enc = o->enc;
			v->run = o->run;
			v->idx = o->idx;
			if (o->enc == V_XOR) {
				/* Its bytes are o's page's previous version
				 * XOR the runs: o's base, once found. */
				v->xrep = 1;
				v->base = o->xrep ? o->base : oi;
			}
			break;
		}
		case VCR_CKPT_XOR:
			if (m->cks[m->ncks - 1].flags & VCR_CKPT_FULL)
				break;	/* a full checkpoint stands alone: missing */
			v->enc = V_XOR;
			v->run = ri;
			v->idx = k;
			v->base = m->scan[k].ref > UINT32_MAX ? UINT32_MAX : (uint32_t)m->scan[k].ref;
			break;
		}
	}
	return 0;
}

int rmem_add(struct rmem *m, struct vcr_reader *r, const struct vcr_record *rec,
	     struct vcr_err *err)
{
	switch (rec->type) {
	case VCR_REC_MEM_WRITE:
	case VCR_REC_MEM_PAGES:
		return add_write(m, rec, err);
	case VCR_REC_CKPT:
		return add_ckpt(m, rec);
	case VCR_REC_CKPT_PAGES:
		return add_pages(m, r, rec);
	}
	return 0;
}

static int cmp_piece(const void *a, const void *b)
{
	const struct piece *x = a, *y = b;
	if (x->page != y->page)
		return x->page < y->page ? -1 : 1;
	return x->ord < y->ord ? -1 : x->ord > y->ord;
}

static int cmp_vorder(const void *a, const void *b, void *arg)
{
	const struct ver *vs = arg;
	const struct ver *x = &vs[*(const uint32_t *)a], *y = &vs[*(const uint32_t *)b];
	if (x->page != y->page)
		return x->page < y->page ? -1 : 1;
	if (x->ck != y->ck)
		return x->ck < y->ck ? -1 : 1;
	return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
}

/* Each XOR version's base: the page's previous version in the index, if
 * it is in the checkpoint `back` numbers earlier that the writer named
 * (else a checkpoint that stored the page was lost: unknown). */
static int xor_bases(struct rmem *m)
{
	uint32_t *at = malloc(m->nvers * sizeof(*at));
	if (!at)
		return -ENOMEM;
	for (size_t i = 0; i < m->nvers; i++)
		at[m->vorder[i]] = (uint32_t)i;
	for (size_t vi = 0; vi < m->nvers; vi++) {
		struct ver *v = &m->vers[vi];
		if (v->enc != V_XOR || v->xrep)
			continue;
		uint64_t back = v->base, num = m->cks[v->ck].number;
		v->base = NONE;
		uint32_t i = at[vi];
		if (!i)
			continue;
		const struct ver *p = &m->vers[m->vorder[i - 1]];
		if (p->page == v->page && p->ck < v->ck && num >= back &&
		    m->cks[p->ck].number == num - back)
			v->base = m->vorder[i - 1];
	}
	for (size_t vi = 0; vi < m->nvers; vi++) {
		struct ver *v = &m->vers[vi];
		if (v->enc == V_XOR && v->xrep)
			v->base = m->vers[v->base].base;
	}
	free(at);
	return 0;
}

int rmem_finish(struct rmem *m, struct vcr_reader *r, struct vcr_err *err)
{
	size_t cap = 0;
	struct vcr_reader_stats st;
	(void)err;
	vcr_reader_get_stats(r, &st);
	first_damage(m, r);
	m->damage += st.damaged_records;
	if (m->npieces)
		qsort(m->pieces, m->npieces, sizeof(*m->pieces), cmp_piece);
	for (size_t i = 0; i < m->npieces;) {
		size_t j = i;
		while (j < m->npieces && m->pieces[j].page == m->pieces[i].page)
			j++;
		int rc = vcr_grow((void **)&m->ppages, &cap, m->nppages + 1, sizeof(*m->ppages));
		if (rc)
			return rc;
		bool sorted = true;
		for (size_t k = i + 1; k < j; k++)
			if (m->pieces[k].key < m->pieces[k - 1].key)
				sorted = false;
		m->ppages[m->nppages++] = (struct ppage){ m->pieces[i].page, i, j - i, sorted };
		i = j;
	}
	if (m->nvers) {
		m->vorder = malloc(m->nvers * sizeof(*m->vorder));
		if (!m->vorder)
			return -ENOMEM;
		for (size_t i = 0; i < m->nvers; i++)
			m->vorder[i] = (uint32_t)i;
		qsort_r(m->vorder, m->nvers, sizeof(*m->vorder), cmp_vorder, m->vers);
		return xor_bases(m);
	}
	return 0;
}

/* ---- lookups ------------------------------------------------------------- */

/* Last checkpoint with seq <= pos, -1 none. */
static int64_t ck_at(const struct rmem *m, uint64_t pos)
{
	size_t lo = 0, hi = m->ncks;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->cks[mid].seq <= pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (int64_t)lo - 1;
}

/* vorder range of page. */
static void ver_range(const struct rmem *m, uint64_t page, size_t *b, size_t *e)
{
	size_t lo = 0, hi = m->nvers;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->vers[m->vorder[mid]].page < page)
			lo = mid + 1;
		else
			hi = mid;
	}
	*b = lo;
	hi = m->nvers;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->vers[m->vorder[mid]].page <= page)
			lo = mid + 1;
		else
			hi = mid;
	}
	*e = lo;
}

static const struct ppage *ppage_of(const struct rmem *m, uint64_t page)
{
	size_t lo = 0, hi = m->nppages;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->ppages[mid].page < page)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < m->nppages && m->ppages[lo].page == page ? &m->ppages[lo] : NULL;
}

static bool cached(const struct rmem *m, uint32_t vi)
{
	return m->ctag[vi % CACHE_PAGES] == vi + 1;
}

/* Read run ri's record again into m->rec and m->scan (NULL on failure):
 * its data. */
static const uint8_t *run_load(struct rmem *m, uint32_t ri)
{
	if (!m->rd) {
		struct vcr_err e;
		if (vcr_reader_open(&m->rd, m->path, &e))
			return NULL;
	}
	const struct run *r = &m->runs[ri];
	if (vcr_reader_read_at(m->rd, &r->pos, &m->rec) != 1 ||
	    m->rec.type != VCR_REC_CKPT_PAGES || m->rec.u.ckpt_pages.count != r->count ||
	    vcr_ckpt_pages_scan(m->rec.u.ckpt_pages.data, m->rec.u.ckpt_pages.len, r->first,
				r->count, m->scan))
		return NULL;
	return m->rec.u.ckpt_pages.data;
}

static const uint8_t *raw_bytes(struct rmem *m, uint32_t vi)
{
	const struct ver *v = &m->vers[vi];
	const struct run *r = &m->runs[v->run];
	const uint8_t *src = run_load(m, v->run);
	if (!src || v->idx >= r->count || m->scan[v->idx].enc != VCR_CKPT_RAW)
		return NULL;
	/* The run's other raw pages are likely next (a stack, a buffer). */
	for (uint32_t k = 0; k < r->count; k++) {
		uint32_t o = m->run_vers[r->vbase + k];
		const struct ver *ov = &m->vers[o];
		if (m->scan[k].enc != VCR_CKPT_RAW || ov->run != v->run || ov->idx != k)
			continue;
		uint32_t s = o % CACHE_PAGES;
		memcpy(m->cdata[s], src + m->scan[k].off, PG);
		m->ctag[s] = o + 1;
	}
	uint32_t slot = vi % CACHE_PAGES;
	memcpy(m->cdata[slot], src + m->scan[v->idx].off, PG);
	m->ctag[slot] = vi + 1;
	return m->cdata[slot];
}

static const uint8_t *ver_bytes(struct rmem *m, uint32_t vi);

/* An XOR version: down its chain to a version with bytes (raw, zero or
 * cached), then the XOR runs back up, each version on the way cached. */
static const uint8_t *xor_bytes(struct rmem *m, uint32_t vi)
{
	uint32_t chain[VCR_CKPT_XOR_READ_DEPTH], n = 0, cur = vi;
	while (m->vers[cur].enc == V_XOR && !cached(m, cur)) {
		if (n == VCR_CKPT_XOR_READ_DEPTH || m->vers[cur].base == NONE)
			return NULL;
		chain[n++] = cur;
		cur = m->vers[cur].base;
	}
	const uint8_t *b = ver_bytes(m, cur);	/* not XOR, or cached */
	if (!b)
		return NULL;
	memcpy(m->xbuf, b, PG);
	while (n-- > 0) {
		const struct ver *v = &m->vers[chain[n]];
		const uint8_t *src = run_load(m, v->run);
		if (!src || v->idx >= m->runs[v->run].count ||
		    m->scan[v->idx].enc != VCR_CKPT_XOR ||
		    vcr_ckpt_xor_apply(m->xbuf, src + m->scan[v->idx].off, m->scan[v->idx].len))
			return NULL;
		uint32_t s = chain[n] % CACHE_PAGES;
		memcpy(m->cdata[s], m->xbuf, PG);
		m->ctag[s] = chain[n] + 1;
	}
	return m->cdata[vi % CACHE_PAGES];
}

/* The bytes of version vi (NULL: missing, or the trace cannot be read). */
static const uint8_t *ver_bytes(struct rmem *m, uint32_t vi)
{
	static const uint8_t zero[PG];
	const struct ver *v = &m->vers[vi];
	if (v->enc == V_ZERO)
		return zero;
	if (v->enc != V_RAW && v->enc != V_XOR)
		return NULL;
	if (!m->cdata) {
		m->cdata = malloc((size_t)CACHE_PAGES * PG);
		if (!m->cdata)
			return NULL;
	}
	if (cached(m, vi))
		return m->cdata[vi % CACHE_PAGES];
	return v->enc == V_RAW ? raw_bytes(m, vi) : xor_bytes(m, vi);
}

/* What the trace holds of one page at pos. */
struct pview {
	bool tracked;
	int64_t k;		/* checkpoint at or before pos */
	uint32_t vi;		/* latest version at or before k, NONE */
	bool page_stale;	/* the guest may have written it after its source */
	bool answer;		/* the VMM answered exit pos with a write to it */
	const struct ppage *pp;
	size_t npieces;		/* pieces of pp visible at pos: the first npieces
				 * when pp->sorted, else all (filtered by key) */
};

/* Pieces of pp with key <= pos: keys rise with file order (a record's seq
 * never falls) unless the trace breaks that, which pp->sorted says. */
static size_t pieces_upto(const struct rmem *m, const struct ppage *pp, uint64_t pos)
{
	if (!pp->sorted)
		return pp->count;
	size_t lo = 0, hi = pp->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->pieces[pp->first + mid].key <= pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void view(struct rmem *m, uint64_t page, uint64_t pos, struct pview *w)
{
	memset(w, 0, sizeof(*w));
	w->vi = NONE;
	w->tracked = m->ncks > 0;
	w->pp = ppage_of(m, page);
	if (w->pp)
		w->npieces = pieces_upto(m, w->pp, pos);
	if (!w->tracked)
		return;
	w->k = ck_at(m, pos);
	size_t b, e;
	ver_range(m, page, &b, &e);
	/* First version of the page with ck > k: vorder sorts by (page, ck). */
	size_t lo = b, hi = e;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if ((int64_t)m->vers[m->vorder[mid]].ck <= w->k)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > b)
		w->vi = m->vorder[lo - 1];
	size_t kn = (size_t)(w->k + 1);
	bool next_dirty = true;
	if (kn < m->ncks && !m->cks[kn].gap) {
		/* The next checkpoint's bitmap: no entry, not dirtied; else its
		 * last entry's bit. */
		next_dirty = false;
		for (size_t i = lo; i < e && m->vers[m->vorder[i]].ck == kn; i++)
			next_dirty = m->vers[m->vorder[i]].dirty;
	}
	w->page_stale = next_dirty;
	if (w->k >= 0 && m->cks[w->k].seq == pos) {
		w->page_stale = false;
		const struct ppage *pp = w->pp;
		if (pp && pp->sorted)
			w->answer = w->npieces < pp->count &&
				    m->pieces[pp->first + w->npieces].key == pos + 1;
		else
			for (size_t i = 0; pp && i < pp->count; i++)
				if (m->pieces[pp->first + i].key == pos + 1)
					w->answer = true;
	}
}

struct pfill {
	enum vcr_mem_class cls;	/* of the bytes that have a source */
	uint32_t nseg;		/* segs, in address order, covering the page */
};

/* First bit of w[] at or after x, below lim, equal to `set`; lim if none. */
static uint32_t next_bit(const uint64_t *w, uint32_t x, uint32_t lim, bool set)
{
	while (x < lim) {
		uint64_t v = set ? w[x / 64] : ~w[x / 64];
		v &= ~0ull << (x % 64);
		if (v) {
			uint32_t r = (x & ~63u) + (uint32_t)__builtin_ctzll(v);
			return r < lim ? r : lim;
		}
		x = (x & ~63u) + 64;
	}
	return lim;
}

static void set_bits(uint64_t *w, uint32_t b, uint32_t e)
{
	while (b < e) {
		uint32_t n = 64 - b % 64 < e - b ? 64 - b % 64 : e - b;
		w[b / 64] |= (n == 64 ? ~0ull : ((1ull << n) - 1)) << (b % 64);
		b += n;
	}
}

/* A segment at [b, e): kept at m->raw[m->nraw], its start marked so that
 * the segments come out in address order without a sort. */
static void emit(struct rmem *m, uint32_t b, uint32_t e, uint64_t date, const uint8_t *src)
{
	m->raw[m->nraw] = (struct seg){ b, e, date, src };
	m->seg_at[b] = (uint16_t)m->nraw++;
	m->starts[b / 64] |= 1ull << (b % 64);
}

/* Piece p, newest of those left, takes the bytes of its range that no
 * newer piece took: the work is per bitmap word and per run taken, never
 * per byte. */
static void claim(struct rmem *m, const struct piece *p, uint64_t pd)
{
	uint32_t t = (uint32_t)p->pofs + p->len;
	if (!m->ntaken) {
		/* All of it (the common case: one write, or the newest). */
		emit(m, p->pofs, t, pd, m->data + p->data_off);
		if (p->len < PG)
			set_bits(m->taken, p->pofs, t);
		m->ntaken = p->len;
		return;
	}
	for (uint32_t x = p->pofs; x < t;) {
		uint32_t b = next_bit(m->taken, x, t, false);
		if (b >= t)
			break;
		uint32_t e = next_bit(m->taken, b, t, true);
		emit(m, b, e, pd, m->data + p->data_off + (b - p->pofs));
		set_bits(m->taken, b, e);
		m->ntaken += e - b;
		x = e;
	}
}

/* Into m->segs: where each byte of the page at pos comes from, in address
 * order. A version whose bytes cannot be read counts as absent. */
static void page_fill(struct rmem *m, uint64_t page, uint64_t pos, struct pfill *f)
{
	struct pview w;
	view(m, page, pos, &w);
	uint64_t vdate = 0;
	const uint8_t *vb = NULL;
	if (w.vi != NONE && (vb = ver_bytes(m, w.vi)))
		vdate = m->cks[m->vers[w.vi].ck].seq + 2;
	memset(m->taken, 0, sizeof(m->taken));
	memset(m->starts, 0, sizeof(m->starts));
	m->nraw = 0;
	m->ntaken = 0;
	/* Newest piece first. A piece no newer than the checkpoint (its seq
	 * <= the checkpoint's: the VMM's answer to that exit comes before it
	 * in the trace) is in the checkpoint's bytes already. */
	for (size_t i = w.npieces; i-- > 0 && m->ntaken < PG;) {
		const struct piece *p = &m->pieces[w.pp->first + i];
		uint64_t pd = p->key + 1;
		if (p->key > pos)
			continue;
		if (vb && pd <= vdate) {
			if (w.pp->sorted)
				break;
			continue;
		}
		claim(m, p, pd);
	}
	bool pieces = m->nraw > 0;
	/* The rest: the version's bytes, or nothing. */
	if (!m->ntaken)
		emit(m, 0, PG, vdate, vb);
	for (uint32_t x = 0; m->ntaken && m->ntaken < PG && x < PG;) {
		uint32_t b = next_bit(m->taken, x, PG, false);
		if (b >= PG)
			break;
		uint32_t e = next_bit(m->taken, b, PG, true);
		emit(m, b, e, vdate, vb ? vb + b : NULL);
		x = e;
	}
	if (!pieces || m->nraw == 1) {
		memcpy(m->segs, m->raw, m->nraw * sizeof(*m->segs));
		m->nseg = m->nraw;
	} else {
		m->nseg = 0;
		for (uint32_t x = next_bit(m->starts, 0, PG, true); x < PG;
		     x = next_bit(m->starts, x + 1, PG, true))
			m->segs[m->nseg++] = m->raw[m->seg_at[x]];
	}
	f->nseg = m->nseg;
	if (!w.tracked) {
		f->cls = VCR_MEM_UNTRACKED;
		return;
	}
	bool stale = w.page_stale || w.answer;
	/* A missing checkpoint between the source and pos. */
	if (w.k >= 0 && m->cks[w.k].lastgap >= 0) {
		uint64_t gseq = m->cks[m->cks[w.k].lastgap].seq + 2;
		for (uint32_t i = 0; i < m->nseg && !stale; i++)
			if (m->segs[i].date && m->segs[i].date < gseq)
				stale = true;
	}
	f->cls = stale ? VCR_MEM_STALE : VCR_MEM_EXACT;
}

/* First segment holding a byte at or after pofs. */
static uint32_t seg_find(const struct rmem *m, const struct pfill *f, uint32_t pofs)
{
	uint32_t lo = 0, hi = f->nseg;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (m->segs[mid].e <= pofs)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Whether [pofs, pofs + n) of the page just filled may be served. */
static bool servable(const struct rmem *m, const struct pfill *f, uint32_t pofs, uint32_t n,
		     bool stale_ok)
{
	if (f->cls == VCR_MEM_STALE && !stale_ok)
		return false;
	for (uint32_t i = seg_find(m, f, pofs); i < f->nseg && m->segs[i].b < pofs + n; i++)
		if (!m->segs[i].date)
			return false;
	return true;
}

static void copy_out(const struct rmem *m, const struct pfill *f, uint32_t pofs, uint32_t n,
		     uint8_t *dst)
{
	for (uint32_t i = seg_find(m, f, pofs); i < f->nseg && m->segs[i].b < pofs + n; i++) {
		const struct seg *g = &m->segs[i];
		uint32_t b = g->b > pofs ? g->b : pofs, e = g->e < pofs + n ? g->e : pofs + n;
		memcpy(dst + (b - pofs), g->src + (b - g->b), e - b);
	}
}

int rmem_read(struct rmem *m, uint64_t pos, uint64_t gpa, void *buf, size_t len,
	      bool stale_ok)
{
	uint64_t end;
	struct pfill f;
	if (len == 0)
		return 0;
	if (vcr_add_overflow(gpa, len, &end))
		return -ENOENT;
	if (gpa % PG + len <= PG) {
		page_fill(m, gpa / PG, pos, &f);
		if (!servable(m, &f, gpa % PG, (uint32_t)len, stale_ok))
			return -ENOENT;
		copy_out(m, &f, gpa % PG, (uint32_t)len, buf);
		return 0;
	}
	/* Check every page before copying any: nothing copied on refusal. */
	for (int pass = 0; pass < 2; pass++)
		for (uint64_t a = gpa; a < end;) {
			uint64_t pofs = a % PG, n = PG - pofs;
			if (n > end - a)
				n = end - a;
			page_fill(m, a / PG, pos, &f);
			if (!servable(m, &f, (uint32_t)pofs, (uint32_t)n, stale_ok))
				return -ENOENT;
			if (pass == 1)
				copy_out(m, &f, (uint32_t)pofs, (uint32_t)n, (uint8_t *)buf + (a - gpa));
			a += n;
		}
	return 0;
}

int rmem_class(struct rmem *m, uint64_t pos, uint64_t gpa, struct vcr_mem_range *r)
{
	uint64_t page = gpa / PG, pofs = gpa % PG;
	struct pfill f;
	page_fill(m, page, pos, &f);
	uint32_t i = seg_find(m, &f, (uint32_t)pofs);
	uint64_t d = m->segs[i].date;
	uint32_t i0 = i, i1 = i;
	while (i0 > 0 && m->segs[i0 - 1].date == d)
		i0--;
	while (i1 + 1 < f.nseg && m->segs[i1 + 1].date == d)
		i1++;
	r->gpa = page * PG + m->segs[i0].b;
	r->len = m->segs[i1].e - m->segs[i0].b;
	r->cls = d ? f.cls : VCR_MEM_UNKNOWN;
	r->since = d ? d - 2 : UINT64_MAX;	/* date 1: before exit 0 */
	return 0;
}

int rmem_ranges(struct rmem *m, uint64_t pos,
		int (*fn)(void *arg, const struct vcr_mem_range *r), void *arg)
{
	struct vcr_mem_range run = { 0, 0, VCR_MEM_UNKNOWN, 0 };
	size_t ip = 0, iv = 0;
	int rc;
	for (;;) {
		/* Next page holding anything: merge the two sorted lists. */
		uint64_t pp = ip < m->nppages ? m->ppages[ip].page : UINT64_MAX;
		uint64_t pv = iv < m->nvers ? m->vers[m->vorder[iv]].page : UINT64_MAX;
		uint64_t page = pp < pv ? pp : pv;
		if (page == UINT64_MAX)
			break;
		while (ip < m->nppages && m->ppages[ip].page == page)
			ip++;
		while (iv < m->nvers && m->vers[m->vorder[iv]].page == page)
			iv++;
		struct pfill f;
		page_fill(m, page, pos, &f);
		uint64_t base = page * PG;
		for (uint32_t i = 0; i < f.nseg; i++) {
			const struct seg *g = &m->segs[i];
			if (!g->date)
				continue;
			if (run.len && run.gpa + run.len == base + g->b && run.cls == f.cls) {
				run.len += g->e - g->b;
			} else {
				if (run.len && (rc = fn(arg, &run)))
					return rc;
				run = (struct vcr_mem_range){ base + g->b, g->e - g->b, f.cls, 0 };
			}
		}
	}
	return run.len ? fn(arg, &run) : 0;
}
