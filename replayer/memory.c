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
 *                    or zero, or missing); vorder sorts them by (page, ck)
 *   runs             one CKPT_PAGES record each: its trace position and
 *                    the versions it holds, in ordinal order (run_vers)
 * A page's bytes are decoded on demand: reader `rd` reads the run again
 * (one chunk decode at most), and the page cache keeps recent versions.
 */
#include "replayer/memory.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PG VCR_CKPT_PAGE
#define CACHE_PAGES 512u	/* decoded versions kept (2 MiB) */
#define NONE UINT32_MAX

enum { V_MISSING = 0, V_ZERO, V_RAW };

struct piece {
	uint64_t page, key;	/* key: seq + 1 of the record (visible at >= key) */
	uint64_t data_off;
	uint32_t ord;
	uint16_t pofs, len;
};

struct ppage {
	uint64_t page;
	size_t first, count;
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
	uint32_t run, idx;	/* V_RAW: bytes are page idx of run */
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
	uint8_t page[PG];		/* assembly of one page */
	uint64_t date[PG];		/* per byte: source seq + 2, 0 none */
};

int rmem_open(struct rmem **out, const char *path)
{
	struct rmem *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->path = strdup(path);
	if (!m->path) {
		free(m);
		return -ENOMEM;
	}
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
	m->vers[m->nvers++] = (struct ver){ page, (uint32_t)(m->ncks - 1), dirty, V_MISSING,
					    NONE, 0 };
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

static void damaged(struct rmem *m, const struct vcr_reader_pos *pos, const char *what,
		    const struct vcr_record *r)
{
	if (!m->damage++)
		snprintf(m->damage_msg, sizeof(m->damage_msg),
			 "checkpoint #%llu pages %llu..%llu (chunk %llu, payload byte %llu): %s; "
			 "skipped, those pages are unknown",
			 (unsigned long long)r->u.ckpt_pages.number,
			 (unsigned long long)r->u.ckpt_pages.first,
			 (unsigned long long)(r->u.ckpt_pages.first + r->u.ckpt_pages.count - 1),
			 (unsigned long long)pos->chunk, (unsigned long long)pos->byte, what);
}

static int add_pages(struct rmem *m, struct vcr_reader *rd, const struct vcr_record *r)
{
	struct vcr_reader_pos pos;
	vcr_reader_tell(rd, &pos);
	if (!m->ncks || m->cks[m->ncks - 1].number != r->u.ckpt_pages.number) {
		damaged(m, &pos, "no checkpoint record before it", r);
		return 0;
	}
	const struct cur_reg *g = NULL;
	for (uint32_t i = 0; i < m->nreg; i++)
		if (m->reg[i].gpa == r->u.ckpt_pages.gpa)
			g = &m->reg[i];
	uint64_t first = r->u.ckpt_pages.first;
	uint32_t cnt = r->u.ckpt_pages.count;
	if (!g || first + cnt > g->nstored) {
		damaged(m, &pos, "pages outside the checkpoint's region", r);
		return 0;
	}
	if (vcr_ckpt_pages_scan(r->u.ckpt_pages.data, r->u.ckpt_pages.len, first, cnt, m->scan)) {
		damaged(m, &pos, "malformed page encodings", r);
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
			const struct ver *o = &m->vers[g->base + m->scan[k].ref];
			v->enc = o->enc;
			v->run = o->run;
			v->idx = o->idx;
			break;
		}
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

int rmem_finish(struct rmem *m, struct vcr_err *err)
{
	size_t cap = 0;
	(void)err;
	if (m->npieces)
		qsort(m->pieces, m->npieces, sizeof(*m->pieces), cmp_piece);
	for (size_t i = 0; i < m->npieces;) {
		size_t j = i;
		while (j < m->npieces && m->pieces[j].page == m->pieces[i].page)
			j++;
		int rc = vcr_grow((void **)&m->ppages, &cap, m->nppages + 1, sizeof(*m->ppages));
		if (rc)
			return rc;
		m->ppages[m->nppages++] = (struct ppage){ m->pieces[i].page, i, j - i };
		i = j;
	}
	if (m->nvers) {
		m->vorder = malloc(m->nvers * sizeof(*m->vorder));
		if (!m->vorder)
			return -ENOMEM;
		for (size_t i = 0; i < m->nvers; i++)
			m->vorder[i] = (uint32_t)i;
		qsort_r(m->vorder, m->nvers, sizeof(*m->vorder), cmp_vorder, m->vers);
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

/* The bytes of version vi (NULL: missing, or the trace cannot be read). */
static const uint8_t *ver_bytes(struct rmem *m, uint32_t vi)
{
	static const uint8_t zero[PG];
	const struct ver *v = &m->vers[vi];
	if (v->enc == V_ZERO)
		return zero;
	if (v->enc != V_RAW)
		return NULL;
	if (!m->cdata) {
		m->cdata = malloc((size_t)CACHE_PAGES * PG);
		if (!m->cdata)
			return NULL;
	}
	uint32_t slot = vi % CACHE_PAGES;
	if (m->ctag[slot] == vi + 1)
		return m->cdata[slot];
	if (!m->rd) {
		struct vcr_err e;
		if (vcr_reader_open(&m->rd, m->path, &e))
			return NULL;
	}
	const struct run *r = &m->runs[v->run];
	if (vcr_reader_read_at(m->rd, &r->pos, &m->rec) != 1 ||
	    m->rec.type != VCR_REC_CKPT_PAGES || m->rec.u.ckpt_pages.count != r->count ||
	    vcr_ckpt_pages_scan(m->rec.u.ckpt_pages.data, m->rec.u.ckpt_pages.len, r->first,
				r->count, m->scan))
		return NULL;
	if (v->idx >= r->count || m->scan[v->idx].enc != VCR_CKPT_RAW)
		return NULL;
	const uint8_t *src = m->rec.u.ckpt_pages.data;
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
	memcpy(m->cdata[slot], src + m->scan[v->idx].off, PG);
	m->ctag[slot] = vi + 1;
	return m->cdata[slot];
}

/* What the trace holds of one page at pos. */
struct pview {
	bool tracked;
	int64_t k;		/* checkpoint at or before pos */
	uint32_t vi;		/* latest version at or before k, NONE */
	bool page_stale;	/* the guest may have written it after its source */
	bool answer;		/* the VMM answered exit pos with a write to it */
	const struct ppage *pp;
	bool pieces_visible;	/* some piece newer than the version is visible */
};

static void view(struct rmem *m, uint64_t page, uint64_t pos, struct pview *w)
{
	memset(w, 0, sizeof(*w));
	w->vi = NONE;
	w->tracked = m->ncks > 0;
	w->pp = ppage_of(m, page);
	if (!w->tracked)
		return;
	w->k = ck_at(m, pos);
	size_t b, e;
	ver_range(m, page, &b, &e);
	bool next_dirty = true;
	for (size_t i = b; i < e; i++) {
		const struct ver *v = &m->vers[m->vorder[i]];
		if ((int64_t)v->ck <= w->k)
			w->vi = m->vorder[i];
		else if ((int64_t)v->ck == w->k + 1)
			next_dirty = v->dirty;
	}
	size_t kn = (size_t)(w->k + 1);
	if (kn < m->ncks && !m->cks[kn].gap) {
		/* The next checkpoint's bitmap: no entry, not dirtied. */
		bool any = false;
		for (size_t i = b; i < e; i++)
			if (m->vers[m->vorder[i]].ck == kn)
				any = true;
		if (!any)
			next_dirty = false;
	} else {
		next_dirty = true;
	}
	w->page_stale = next_dirty;
	if (w->k >= 0 && m->cks[w->k].seq == pos) {
		w->page_stale = false;
		for (size_t i = 0; w->pp && i < w->pp->count; i++)
			if (m->pieces[w->pp->first + i].key == pos + 1)
				w->answer = true;
	}
}

/* Into m->date: the source date of each byte of the page (its record's
 * seq + 2; 1: before the first exit; 0: nothing holds it); into m->page its
 * bytes when want_bytes. Returns the class of the bytes that have a source
 * (*uniform: every such byte comes from the version). A version whose
 * bytes cannot be read counts as absent. */
static enum vcr_mem_class page_fill(struct rmem *m, uint64_t page, uint64_t pos,
				    bool want_bytes, bool *uniform)
{
	struct pview w;
	view(m, page, pos, &w);
	uint64_t vdate = 0;
	const uint8_t *vb = NULL;
	memset(m->date, 0, sizeof(m->date));
	if (w.vi != NONE) {
		vb = ver_bytes(m, w.vi);
		if (vb) {
			vdate = m->cks[m->vers[w.vi].ck].seq + 2;
			for (size_t b = 0; b < PG; b++)
				m->date[b] = vdate;
			if (want_bytes)
				memcpy(m->page, vb, PG);
		}
	}
	*uniform = true;
	/* Newest piece first; a byte takes the newest that covers it. A piece
	 * no newer than the checkpoint (its seq <= the checkpoint's: the VMM's
	 * answer to that exit comes before it in the trace) is in the
	 * checkpoint's bytes already. */
	for (size_t i = w.pp ? w.pp->count : 0; i-- > 0;) {
		const struct piece *p = &m->pieces[w.pp->first + i];
		uint64_t pd = p->key + 1;
		if (p->key > pos || (vb && pd <= vdate))
			continue;
		for (uint32_t b = p->pofs; b < (uint32_t)p->pofs + p->len; b++) {
			if (m->date[b] && m->date[b] != vdate)
				continue;	/* a newer piece has it */
			m->date[b] = pd;
			if (want_bytes)
				m->page[b] = m->data[p->data_off + (b - p->pofs)];
			*uniform = false;
		}
	}
	if (!w.tracked)
		return VCR_MEM_UNTRACKED;
	/* A missing checkpoint between the source and pos. */
	bool stale = w.page_stale || w.answer;
	if (w.k >= 0 && m->cks[w.k].lastgap >= 0) {
		uint64_t gseq = m->cks[m->cks[w.k].lastgap].seq + 2;
		for (size_t b = 0; b < PG && !stale; b++)
			if (m->date[b] && m->date[b] < gseq)
				stale = true;
	}
	return stale ? VCR_MEM_STALE : VCR_MEM_EXACT;
}

/* Whether [pofs, pofs + n) of the page just filled may be served. */
static bool servable(const struct rmem *m, enum vcr_mem_class cls, uint64_t pofs, uint64_t n,
		     bool stale_ok)
{
	if (cls == VCR_MEM_STALE && !stale_ok)
		return false;
	for (uint64_t b = pofs; b < pofs + n; b++)
		if (!m->date[b])
			return false;
	return true;
}

int rmem_read(struct rmem *m, uint64_t pos, uint64_t gpa, void *buf, size_t len,
	      bool stale_ok)
{
	uint64_t end;
	bool uni;
	if (len == 0)
		return 0;
	if (vcr_add_overflow(gpa, len, &end))
		return -ENOENT;
	if (gpa % PG + len <= PG) {
		enum vcr_mem_class cls = page_fill(m, gpa / PG, pos, true, &uni);
		if (!servable(m, cls, gpa % PG, len, stale_ok))
			return -ENOENT;
		memcpy(buf, m->page + gpa % PG, len);
		return 0;
	}
	/* Check every page before copying any: nothing copied on refusal. */
	for (int pass = 0; pass < 2; pass++)
		for (uint64_t a = gpa; a < end;) {
			uint64_t pofs = a % PG, n = PG - pofs;
			if (n > end - a)
				n = end - a;
			enum vcr_mem_class cls = page_fill(m, a / PG, pos, pass == 1, &uni);
			if (!servable(m, cls, pofs, n, stale_ok))
				return -ENOENT;
			if (pass == 1)
				memcpy((uint8_t *)buf + (a - gpa), m->page + pofs, n);
			a += n;
		}
	return 0;
}

int rmem_class(struct rmem *m, uint64_t pos, uint64_t gpa, struct vcr_mem_range *r)
{
	uint64_t page = gpa / PG, pofs = gpa % PG;
	bool uni;
	enum vcr_mem_class cls = page_fill(m, page, pos, false, &uni);
	uint64_t d = m->date[pofs];
	uint64_t b0 = pofs, b1 = pofs + 1;
	while (b0 > 0 && m->date[b0 - 1] == d)
		b0--;
	while (b1 < PG && m->date[b1] == d)
		b1++;
	r->gpa = page * PG + b0;
	r->len = b1 - b0;
	r->cls = d ? cls : VCR_MEM_UNKNOWN;
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
		bool uni;
		enum vcr_mem_class cls = page_fill(m, page, pos, false, &uni);
		uint64_t base = page * PG;
		for (uint32_t b = 0; b < PG;) {
			uint32_t e = b + 1;
			bool known = m->date[b] != 0;
			if (uni && known)
				e = PG;
			else
				while (e < PG && (m->date[e] != 0) == known)
					e++;
			if (known) {
				if (run.len && run.gpa + run.len == base + b && run.cls == cls) {
					run.len += e - b;
				} else {
					if (run.len && (rc = fn(arg, &run)))
						return rc;
					run = (struct vcr_mem_range){ base + b, e - b, cls, 0 };
				}
			}
			b = e;
		}
	}
	return run.len ? fn(arg, &run) : 0;
}
