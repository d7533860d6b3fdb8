/*
 * recorder/ckpt.c: memory checkpoints (recorder.h, "memory checkpoints").
 *
 * Two halves. vcr_recorder_checkpoint runs with every vCPU paused (the
 * VMM's checkpoint thread, or vmm_run after the run): it reads the dirty
 * logs and copies the pages to store, and does nothing else, since the
 * vCPUs wait for it. vcr_rec_ckpt_write runs on the writer thread: zero
 * pages, pages equal to an earlier one of the same checkpoint, pages as
 * XOR against their previous version where that is smaller, raw pages,
 * into CKPT / CKPT_PAGES records (docs/format.md), then frees the copy.
 * For XOR the writer thread keeps every page as it last stored it (a
 * shadow of the guest's stored memory, paid for page by page).
 */
#include "recorder/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "vmm/vmm.h"

#define CKPT_RUN 32u	/* pages per CKPT_PAGES record: 128 KiB raw at most */

int vcr_rec_ckpt_init(struct vcr_recorder *r, const struct vcr_trace_info *info,
		      const struct vcr_recorder_opts *opts)
{
	struct rec_ckpt_state *ck = &r->ck;
	int e = pthread_mutex_init(&ck->copy_lock, NULL);
	if (e)
		return -e;
	ck->budget = opts->ckpt_budget;
	ck->share = opts->ckpt_share < 100 ? opts->ckpt_share : 0;
	ck->ring_bytes = opts->ring_bytes;
	for (uint32_t i = 0; i < info->nmem && ck->nreg < REC_CKPT_REGIONS; i++) {
		const struct vcr_mem_region *m = &info->mem[i];
		uint64_t np = m->size / VCR_CKPT_PAGE;
		if (!np || np > VCR_CKPT_MAX_PAGES || m->gpa % VCR_CKPT_PAGE)
			continue;
		struct rec_ckpt_region *g = &ck->reg[ck->nreg];
		g->gpa = m->gpa;
		g->npages = np;
		g->touched = calloc((np + 63) / 64, 8);
		g->vmmw = calloc((np + 63) / 64, 8);
		if (!g->touched || !g->vmmw) {
			free(g->touched);
			free(g->vmmw);
			return -ENOMEM;
		}
		ck->nreg++;
		/* Without room for the shadow, pages are stored without XOR. */
		void *sh = mmap(NULL, np * VCR_CKPT_PAGE, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		g->last = calloc(np, sizeof(*g->last));
		g->depth = calloc(np, 1);
		if (sh == MAP_FAILED || !g->last || !g->depth) {
			if (sh != MAP_FAILED)
				munmap(sh, np * VCR_CKPT_PAGE);
			free(g->last);
			free(g->depth);
			g->last = NULL;
			g->depth = NULL;
		} else {
			g->shadow = sh;
		}
	}
	return 0;
}

static void ckpt_pre_free(struct rec_ckpt_pre *p)
{
	if (!p)
		return;
	for (uint32_t i = 0; i < p->nreg; i++) {
		free(p->reg[i].dirty);
		free(p->reg[i].copied);
		free(p->reg[i].pages);
	}
	free(p);
}

void vcr_rec_ckpt_free(struct vcr_recorder *r)
{
	ckpt_pre_free(r->ck.pre);
	r->ck.pre = NULL;
	pthread_mutex_destroy(&r->ck.copy_lock);
	for (uint32_t i = 0; i < r->ck.nreg; i++) {
		struct rec_ckpt_region *g = &r->ck.reg[i];
		free(g->touched);
		free(g->vmmw);
		if (g->shadow)
			munmap(g->shadow, g->npages * VCR_CKPT_PAGE);
		free(g->last);
		free(g->depth);
	}
	free(r->ck.enc);
	free(r->ck.htab);
}

/* Set the bits of [gpa, gpa + len) in each region's bitmap at `off`
 * (touched or vmmw). */
static void ckpt_mark(struct vcr_recorder *r, size_t off, uint64_t gpa, uint64_t len, int order)
{
	if (!len)
		return;
	for (uint32_t i = 0; i < r->ck.nreg; i++) {
		struct rec_ckpt_region *g = &r->ck.reg[i];
		uint64_t *bm = *(uint64_t **)((char *)g + off);
		uint64_t lo = g->gpa, hi = g->gpa + g->npages * VCR_CKPT_PAGE;
		uint64_t a = gpa > lo ? gpa : lo, b = gpa + len < hi && gpa + len > gpa ? gpa + len : hi;
		for (uint64_t p = (a - lo) / VCR_CKPT_PAGE; a < b && p * VCR_CKPT_PAGE < b - lo; p++)
			__atomic_fetch_or(&bm[p / 64], 1ull << (p % 64), order);
	}
}

void vcr_rec_ckpt_touch(struct vcr_recorder *r, uint64_t gpa, uint64_t len)
{
	ckpt_mark(r, offsetof(struct rec_ckpt_region, touched), gpa, len, __ATOMIC_RELAXED);
}

void vcr_rec_ckpt_vmm_wrote(struct vcr_recorder *r, uint64_t gpa, uint64_t len)
{
	/* After the write itself (vmm_mem_write_vcpu copies, then tells the
	 * observer): a copy that finds the bit clear saw the bytes. */
	ckpt_mark(r, offsetof(struct rec_ckpt_region, vmmw), gpa, len, __ATOMIC_SEQ_CST);
}

static void ckpt_buf_free(struct rec_ckpt_buf *b)
{
	if (!b)
		return;
	for (uint32_t i = 0; i < b->nreg; i++) {
		if (b->reg[i].stored != b->reg[i].dirty)
			free(b->reg[i].stored);
		free(b->reg[i].dirty);
		free(b->reg[i].pp);
		free(b->reg[i].pages);
		free(b->reg[i].pre);
	}
	free(b);
}

static uint64_t ckpt_popcount(const uint64_t *w, uint64_t nwords)
{
	uint64_t n = 0;
	for (uint64_t i = 0; i < nwords; i++)
		n += (uint64_t)__builtin_popcountll(w[i]);
	return n;
}

/* Region g's memory slot in the VMM (*slot) and its host memory, or NULL. */
static uint8_t *ckpt_host(struct vmm *vm, const struct rec_ckpt_region *g, uint32_t *slot)
{
	uint32_t n;
	const struct vcr_mem_region *slots = vmm_mem_regions(vm, &n);
	for (uint32_t s = 0; s < n; s++)
		if (slots[s].gpa == g->gpa && slots[s].size == g->npages * VCR_CKPT_PAGE) {
			*slot = s;
			return vmm_mem_slot_host(vm, s);
		}
	return NULL;
}

/* Copy the pages of bitmap `bm` (nw words) from host into a new buffer. */
static uint8_t *ckpt_copy(const uint8_t *host, const uint64_t *bm, uint64_t nw, uint64_t n)
{
	uint8_t *buf = malloc(n ? n * VCR_CKPT_PAGE : 1), *pg = buf;
	if (!buf)
		return NULL;
	for (uint64_t w = 0; w < nw; w++)
		for (uint64_t m = bm[w]; m; m &= m - 1) {
			uint64_t p = w * 64 + (uint64_t)__builtin_ctzll(m);
			memcpy(pg, host + p * VCR_CKPT_PAGE, VCR_CKPT_PAGE);
			pg += VCR_CKPT_PAGE;
		}
	return buf;
}

int vcr_recorder_checkpoint_pre(void *ctx, struct vmm *vm)
{
	struct vcr_recorder *r = ctx;
	struct rec_ckpt_state *ck = &r->ck;
	int rc = 0;

	if (!vmm_dirty_log_enabled(vm))
		return -EOPNOTSUPP;
	pthread_mutex_lock(&ck->copy_lock);
	if (ck->pre || __atomic_load_n(&ck->pending, __ATOMIC_ACQUIRE)) {
		pthread_mutex_unlock(&ck->copy_lock);
		return 0;
	}
	uint64_t t0 = vcr_now_ns();
	struct rec_ckpt_pre *p = calloc(1, sizeof(*p));
	if (!p) {
		pthread_mutex_unlock(&ck->copy_lock);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < ck->nreg; i++) {
		struct rec_ckpt_region *g = &ck->reg[i];
		uint32_t slot;
		uint8_t *host = ckpt_host(vm, g, &slot);
		if (!host)
			continue;
		uint64_t nw = (g->npages + 63) / 64;
		uint64_t *d = calloc(nw, 8);
		if (!d) {
			rc = -ENOMEM;
			break;
		}
		/* VMM writes from here on: copied again at the pause. */
		for (uint64_t w = 0; w < nw; w++)
			__atomic_store_n(&g->vmmw[w], 0, __ATOMIC_SEQ_CST);
		int e = vmm_dirty_log_get(vm, slot, d);
		if (e) {
			free(d);
			rc = e;
			break;
		}
		/* From here the bits are out of KVM's log: they stay in p. */
		p->reg[p->nreg].gpa = g->gpa;
		p->reg[p->nreg].npages = g->npages;
		p->reg[p->nreg].dirty = d;
		p->nreg++;
		for (uint64_t w = 0; w < nw; w++)
			__atomic_fetch_or(&g->touched[w], d[w], __ATOMIC_RELAXED);
		uint64_t n = ckpt_popcount(d, nw);
		uint8_t *pages = ckpt_copy(host, d, nw, n);
		uint64_t *copied = pages ? malloc(nw * 8) : NULL;
		if (!copied) {
			free(pages);	/* the pause copies these pages */
			rc = -ENOMEM;
			continue;
		}
		memcpy(copied, d, nw * 8);
		p->reg[p->nreg - 1].copied = copied;
		p->reg[p->nreg - 1].pages = pages;
	}
	ck->pre = p;
	uint64_t dt = vcr_now_ns() - t0;
	pthread_mutex_unlock(&ck->copy_lock);
	__atomic_fetch_add(&ck->work_ns, dt, __ATOMIC_RELAXED);
	pthread_mutex_lock(&r->lock);
	ck->pre_count++;
	ck->pre_ns += dt;
	pthread_mutex_unlock(&r->lock);
	return rc;
}

/* The pre-copy's part for region gpa/npages, or NULL. */
static struct rec_ckpt_pre *ckpt_pre_region(struct rec_ckpt_pre *p, uint64_t gpa,
					    uint64_t npages, uint32_t *idx)
{
	for (uint32_t i = 0; p && i < p->nreg; i++)
		if (p->reg[i].gpa == gpa && p->reg[i].npages == npages) {
			*idx = i;
			return p;
		}
	return NULL;
}

int64_t vcr_recorder_checkpoint(void *ctx, struct vmm *vm, bool final)
{
	struct vcr_recorder *r = ctx;
	struct rec_ckpt_state *ck = &r->ck;
	uint64_t t0 = vcr_now_ns();
	bool log = vmm_dirty_log_enabled(vm);

	if (!log && !final)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&ck->copy_lock);
	if (!final && __atomic_load_n(&ck->pending, __ATOMIC_ACQUIRE)) {
		/* A pre-copy stays for the next pause: what the guest wrote
		 * since it is in the log, what the VMM wrote in vmmw. */
		pthread_mutex_unlock(&ck->copy_lock);
		pthread_mutex_lock(&r->lock);
		ck->skipped++;
		pthread_mutex_unlock(&r->lock);
		return 0;
	}
	struct rec_ckpt_pre *pre = ck->pre;
	ck->pre = NULL;
	pthread_mutex_lock(&r->lock);
	uint64_t written = r->wstats.chunk_bytes_total;
	pthread_mutex_unlock(&r->lock);
	bool full = !log || (ck->ring_bytes && written - ck->full_at >= ck->ring_bytes / 2);

	struct rec_ckpt_buf *b = calloc(1, sizeof(*b));
	if (!b) {
		ckpt_pre_free(pre);
		pthread_mutex_unlock(&ck->copy_lock);
		return -ENOMEM;
	}
	b->number = ck->number;
	b->flags = (final ? VCR_CKPT_FINAL : 0) | (full ? VCR_CKPT_FULL : 0);
	uint64_t dirty = 0, stored = 0, served = 0;
	int rc = 0;
	for (uint32_t i = 0; i < ck->nreg && !rc; i++) {
		struct rec_ckpt_region *g = &ck->reg[i];
		uint32_t slot;
		uint8_t *host = ckpt_host(vm, g, &slot);
		if (!host)
			continue;
		uint64_t nw = (g->npages + 63) / 64;
		uint64_t *d = calloc(nw, 8);
		if (!d) {
			rc = -ENOMEM;
			break;
		}
		b->reg[b->nreg].dirty = d;
		b->reg[b->nreg].stored = d;
		b->reg[b->nreg].gpa = g->gpa;
		b->reg[b->nreg].npages = g->npages;
		b->nreg++;
		/* now: KVM's log since the pre-copy or the last checkpoint;
		 * vw: the VMM's writes since the pre-copy. */
		uint64_t *now = malloc(nw * 8), *vw = calloc(nw, 8);
		if (!now || !vw) {
			free(now);
			free(vw);
			rc = -ENOMEM;
			break;
		}
		if (log) {
			rc = vmm_dirty_log_get(vm, slot, now);
			if (rc) {
				free(now);
				free(vw);
				break;
			}
			for (uint64_t w = 0; w < nw; w++)
				vw[w] = __atomic_exchange_n(&g->vmmw[w], 0, __ATOMIC_SEQ_CST);
		} else {
			/* No log: which pages the guest wrote is not known; the
			 * final checkpoint stores them all (zero pages as a tag). */
			memset(now, 0xff, nw * 8);
			if (g->npages % 64)
				now[nw - 1] = (1ull << (g->npages % 64)) - 1;
		}
		uint32_t pi = 0;
		struct rec_ckpt_pre *pr = ckpt_pre_region(pre, g->gpa, g->npages, &pi);
		const uint64_t *pd = pr ? pr->reg[pi].dirty : NULL;
		const uint64_t *pc = pr ? pr->reg[pi].copied : NULL;
		for (uint64_t w = 0; w < nw; w++) {
			d[w] = now[w] | (pd ? pd[w] : 0);
			__atomic_fetch_or(&g->touched[w], d[w], __ATOMIC_RELAXED);
		}
		uint64_t *st = d;
		if (full && log) {
			st = malloc(nw * 8);
			if (!st) {
				free(now);
				free(vw);
				rc = -ENOMEM;
				break;
			}
			for (uint64_t w = 0; w < nw; w++)
				st[w] = __atomic_load_n(&g->touched[w], __ATOMIC_RELAXED) | d[w];
			b->reg[b->nreg - 1].stored = st;
		}
		/* A stored page comes from the pre-copy when it was copied
		 * then and neither the guest (KVM's log) nor the VMM wrote it
		 * since; else it is copied now. The VMM's writes are not
		 * `dirty` (they are MEM_WRITE records, docs/format.md). */
		for (uint64_t w = 0; w < nw; w++)
			now[w] = st[w] & ~(pc ? pc[w] & ~(now[w] | vw[w]) : 0);
		free(vw);
		uint64_t ns = ckpt_popcount(st, nw), nnow = ckpt_popcount(now, nw);
		dirty += ckpt_popcount(d, nw);
		stored += ns;
		served += ns - nnow;
		b->reg[b->nreg - 1].nstored = ns;
		if (!ns) {
			free(now);
			continue;
		}
		const uint8_t **pp = malloc(ns * sizeof(*pp));
		uint8_t *pages = pp ? ckpt_copy(host, now, nw, nnow) : NULL;
		if (!pages) {
			free(pp);
			free(now);
			rc = -ENOMEM;
			break;
		}
		b->reg[b->nreg - 1].pp = pp;
		b->reg[b->nreg - 1].pages = pages;
		if (pr && ns > nnow) {
			b->reg[b->nreg - 1].pre = pr->reg[pi].pages;
			pr->reg[pi].pages = NULL;
		}
		/* Each stored page's copy, in bitmap order: the pre-copy's
		 * ordinal is the page's rank among the copied bits. */
		const uint8_t *pre_pg = b->reg[b->nreg - 1].pre;
		uint64_t k = 0, rank = 0;
		for (uint64_t w = 0; w < nw; w++) {
			for (uint64_t m = st[w]; m; m &= m - 1) {
				uint64_t bit = 1ull << __builtin_ctzll(m);
				if (now[w] & bit) {
					pp[k++] = pages;
					pages += VCR_CKPT_PAGE;
				} else {
					uint64_t below = pc[w] & (bit - 1);
					pp[k++] = pre_pg + (rank + (uint64_t)__builtin_popcountll(below)) *
								     VCR_CKPT_PAGE;
				}
			}
			if (pc)
				rank += (uint64_t)__builtin_popcountll(pc[w]);
		}
		free(now);
	}
	ckpt_pre_free(pre);
	if (!rc) {
		pthread_mutex_lock(&r->control_lock);
		uint32_t len = vcr_ring_round(sizeof(struct rr_ckpt));
		/* After every exit the vCPUs published: the pause's. */
		vcr_rec_control_fence(r);
		struct rr_ckpt *c = vcr_ring_reserve(&r->control, len);
		if (c) {
			c->h.len = len;
			c->h.kind = VCR_RING_CKPT;
			c->h.arg = 0;
			c->buf = b;
			__atomic_fetch_add(&ck->pending, 1, __ATOMIC_RELEASE);
			vcr_ring_commit(&r->control);
			b = NULL;
		} else {
			rc = -EPIPE;
		}
		pthread_mutex_unlock(&r->control_lock);
	}
	ckpt_buf_free(b);
	if (!rc) {
		ck->number++;
		if (full)
			ck->full_at = written;
	}
	pthread_mutex_unlock(&ck->copy_lock);
	if (rc)
		return rc;
	uint64_t dt = vcr_now_ns() - t0;
	pthread_mutex_lock(&r->lock);
	ck->count++;
	ck->dirty += dirty;
	ck->stored += stored;
	ck->pre_served += served;
	ck->copy_ns += dt;
	if (dt > ck->copy_max_ns)
		ck->copy_max_ns = dt;
	pthread_mutex_unlock(&r->lock);
	/* The next one waits until the byte budget allows its pages (as
	 * many as this one's) and the work since the last delay (this pause,
	 * the pre-copy before it, the writer's encoding of the checkpoint
	 * before) is at most `share` percent of the time. */
	uint64_t work = __atomic_exchange_n(&ck->work_ns, 0, __ATOMIC_RELAXED) + dt;
	uint64_t wait = ck->budget ? stored * VCR_CKPT_PAGE * 1000000000ull / ck->budget : 0;
	if (ck->share && work / ck->share * (100 - ck->share) > wait)
		wait = work / ck->share * (100 - ck->share);
	return wait > INT64_MAX ? INT64_MAX : (int64_t)wait;
}

/* ---- writer thread ------------------------------------------------------ */

static uint64_t ckpt_hash(const uint8_t *p)
{
	uint64_t h = 0x9e3779b97f4a7c15ull;
	for (size_t i = 0; i < VCR_CKPT_PAGE; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0x100000001b3ull;
		h ^= h >> 29;
	}
	return h | 1;	/* 0 marks an empty slot */
}

void vcr_rec_ckpt_discard(struct vcr_recorder *r, struct rec_ckpt_buf *b)
{
	ckpt_buf_free(b);
	__atomic_fetch_sub(&r->ck.pending, 1, __ATOMIC_RELEASE);
}

int vcr_rec_ckpt_write(struct vcr_recorder *r, struct rec_ckpt_buf *b)
{
	struct rec_ckpt_state *ck = &r->ck;
	struct vcr_record *rec = &r->rec;
	uint64_t t0 = vcr_now_ns();
	int rc = 0;

	if (!ck->enc) {
		ck->enc = malloc(CKPT_RUN * (VCR_CKPT_PAGE + 11));
		if (!ck->enc)
			rc = -ENOMEM;
	}
	/* A checkpoint's records in chunks of their own, apart from the
	 * exits': a reader decodes no page bytes to seek to an exit, and
	 * `vcr stats` tells the exit stream's bytes from memory's. */
	if (!rc)
		rc = vcr_writer_flush(r->w);
	for (uint32_t i = 0; i < b->nreg && !rc; i++) {
		uint64_t np = b->reg[i].npages, ns = b->reg[i].nstored;
		memset(rec, 0, offsetof(struct vcr_record, u) + sizeof(rec->u.ckpt));
		rec->type = VCR_REC_CKPT;
		rec->u.ckpt.number = b->number;
		rec->u.ckpt.flags = b->flags;
		rec->u.ckpt.gpa = b->reg[i].gpa;
		rec->u.ckpt.npages = np;
		/* Little-endian words are the format's LSB-first bytes. */
		rec->u.ckpt.dirty = (const uint8_t *)b->reg[i].dirty;
		rec->u.ckpt.stored = (const uint8_t *)b->reg[i].stored;
		rc = vcr_writer_append(r->w, rec);
		if (rc || !ns)
			continue;
		/* Repeats: a table of the region's pages by hash (open
		 * addressing, at most half full). */
		size_t cap = 16;
		while (cap < ns * 2)
			cap <<= 1;
		if (cap > ck->htab_cap) {
			free(ck->htab);
			ck->htab = malloc(cap * 2 * sizeof(uint64_t));
			ck->htab_cap = ck->htab ? cap : 0;
			if (!ck->htab) {
				rc = -ENOMEM;
				break;
			}
		}
		memset(ck->htab, 0, cap * 2 * sizeof(uint64_t));
		const uint8_t *const *pp = b->reg[i].pp;
		/* XOR needs the previous version, so not in a full checkpoint:
		 * it starts a ring trace's memory on its own. */
		struct rec_ckpt_region *g = NULL;
		for (uint32_t j = 0; j < ck->nreg; j++)
			if (ck->reg[j].gpa == b->reg[i].gpa && ck->reg[j].npages == np &&
			    ck->reg[j].shadow)
				g = &ck->reg[j];
		uint8_t *odepth = g ? malloc(ns) : NULL;
		if (!odepth)
			g = NULL;
		bool xor_ok = g && !(b->flags & VCR_CKPT_FULL);
		const uint64_t *stw = b->reg[i].stored;
		uint64_t w = 0, bits = np ? stw[0] : 0;
		for (uint64_t first = 0; first < ns && !rc; first += CKPT_RUN) {
			uint32_t cnt = (uint32_t)(ns - first < CKPT_RUN ? ns - first : CKPT_RUN);
			size_t n = 0;
			for (uint32_t k = 0; k < cnt; k++) {
				uint64_t ord = first + k;
				const uint8_t *pg = pp[ord];
				uint64_t h = ckpt_hash(pg), ref = UINT64_MAX;
				size_t j = h & (cap - 1);
				while (ck->htab[2 * j]) {
					if (ck->htab[2 * j] == h &&
					    !memcmp(pp[ck->htab[2 * j + 1] - 1], pg, VCR_CKPT_PAGE)) {
						ref = ck->htab[2 * j + 1] - 1;
						break;
					}
					j = (j + 1) & (cap - 1);
				}
				if (ref == UINT64_MAX) {
					ck->htab[2 * j] = h;
					ck->htab[2 * j + 1] = ord + 1;
				}
				if (!g) {
					n += vcr_ckpt_page_put(ck->enc + n, pg, ref);
					continue;
				}
				/* The page number of ordinal ord: the next set bit. */
				while (!bits)
					bits = stw[++w];
				uint64_t p = w * 64 + (uint64_t)__builtin_ctzll(bits);
				bits &= bits - 1;
				uint8_t *sh = g->shadow + p * VCR_CKPT_PAGE;
				/* Zero and repeat first (1-3 bytes); a raw page
				 * is then replaced by its XOR when smaller. */
				size_t x = vcr_ckpt_page_put(ck->enc + n, pg, ref);
				uint8_t d = ref != UINT64_MAX ? odepth[ref] : 1;
				if (x == 1 + VCR_CKPT_PAGE && xor_ok && g->depth[p] &&
				    g->depth[p] <= VCR_CKPT_XOR_WRITE_DEPTH && b->number >= g->last[p]) {
					size_t y = vcr_ckpt_page_put_xor(ck->enc + n, pg, sh,
									 b->number - (g->last[p] - 1));
					if (y) {
						x = y;
						d = (uint8_t)(g->depth[p] + 1);
					}
				}
				n += x;
				odepth[ord] = d;
				/* The shadow keeps pages stored a second time on:
				 * pages the guest rewrites, where XOR pays. A first
				 * store (most of a first checkpoint) copies nothing:
				 * on a slow host (nested under TCG) each new shadow
				 * page's fault made the writer miss checkpoints. */
				if (g->last[p]) {
					memcpy(sh, pg, VCR_CKPT_PAGE);
					g->depth[p] = d;
				}
				g->last[p] = b->number + 1;
			}
			memset(rec, 0, offsetof(struct vcr_record, u) + sizeof(rec->u.ckpt_pages));
			rec->type = VCR_REC_CKPT_PAGES;
			rec->u.ckpt_pages.number = b->number;
			rec->u.ckpt_pages.gpa = b->reg[i].gpa;
			rec->u.ckpt_pages.first = first;
			rec->u.ckpt_pages.count = cnt;
			rec->u.ckpt_pages.len = n;
			rec->u.ckpt_pages.data = ck->enc;
			rc = vcr_writer_append(r->w, rec);
			/* A chunk per full record (about 128 KiB): a reader
			 * decodes one chunk to serve one page, and that decode
			 * is most of a read's time (bench/mem_read_bench: 512
			 * KiB chunks doubled the 99th percentile; 64 KiB ones
			 * cost a third more trace bytes per page). A smaller
			 * record stays in the chunk, which the writer's own
			 * limits end: a flush per checkpoint costs a slow host
			 * checkpoints (skipped while one is written). */
			if (!rc && cnt == CKPT_RUN)
				rc = vcr_writer_flush(r->w);
		}
		free(odepth);
	}
	if (!rc)
		rc = vcr_writer_flush(r->w);
	__atomic_fetch_add(&ck->work_ns, vcr_now_ns() - t0, __ATOMIC_RELAXED);
	vcr_rec_ckpt_discard(r, b);
	return rc;
}
