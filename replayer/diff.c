/* replayer/diff.c: per-vCPU exit alignment and comparison (see diff.h).
 *
 * Why one file of this size: one concern, finding where two runs differ,
 * and one state the parts share (struct vcr_diff: the options, both sides'
 * item windows, the per-vCPU results). Inside, in the order data flows:
 *   options      --ignore parsing, the register mask
 *   hashing      an exit's identity (reason, rip, port/address) for alignment
 *   items        an exit and its state as the engine compares them
 *   one side     a side's bounded window of items per vCPU
 *   engine       alignment with a bounded lookahead: equal, differing,
 *                inserted and deleted stretches, reported through callbacks
 *   trace source items from a trace reader (states by delta, damage noted)
 *   reader thread  each side decoded on its own thread, handed over in
 *                batches, so decoding overlaps comparison
 * The engine is fed items by the source alone; tests drive it with items
 * made by hand (tests/unit/diff_align.c). */
#include "replayer/diff.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "formats/trace.h"

typedef __typeof__(((struct vcr_exit *)0)->u) diff_exit_u;

/* ------------------------------------------------------------ options */

void vcr_diff_opts_init(struct vcr_diff_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->vcpu = UINT32_MAX;
}

int vcr_diff_ignore_parse(struct vcr_diff_opts *o, const char *list, struct vcr_err *err)
{
	if (vcr_nregs > VCR_DIFF_MAX_REGS)
		return vcr_err_set(err, -E2BIG, UINT64_MAX, "register table larger than %u",
				   VCR_DIFF_MAX_REGS);
	const char *p = list;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char name[64];
		if (n == 0 || n >= sizeof(name))
			return vcr_err_set(err, -EINVAL, UINT64_MAX,
					   "bad register name in --ignore list '%s'", list);
		memcpy(name, p, n);
		name[n] = 0;
		const struct vcr_reg *r = vcr_reg_by_name(name);
		if (!r)
			return vcr_err_set(err, -EINVAL, UINT64_MAX, "unknown register '%s'", name);
		if (r->fmt == VCR_REG_NONE)
			return vcr_err_set(err, -EINVAL, UINT64_MAX,
					   "register '%s' is not recorded in traces", name);
		size_t i = (size_t)(r - vcr_regs);
		o->ignore[i / 64] |= 1ull << (i % 64);
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* -------------------------------------------------------------- hashing */

uint64_t vcr_diff_hash(uint64_t h, const void *p, size_t n)
{
	/* Word-at-a-time multiply-xor mixing: the inputs are a few bytes per
	 * exit, hashed for every exit, so this sits on the hot path of a diff
	 * with nothing to report. Not cryptographic; a collision could only
	 * hide a difference between two equally long payloads. */
	const uint8_t *b = p;
	const uint64_t m = 0xff51afd7ed558ccdull;
	h ^= 0x9e3779b97f4a7c15ull + n;
	while (n >= 8) {
		uint64_t w;
		memcpy(&w, b, 8);
		h = (h ^ w) * m;
		h ^= h >> 29;
		b += 8;
		n -= 8;
	}
	if (n) {
		uint64_t w = 0;
		memcpy(&w, b, n);
		h = (h ^ w ^ (uint64_t)n << 56) * m;
		h ^= h >> 29;
	}
	return h;
}

void vcr_diff_exit_add_extra(struct vcr_diff_exit *x, const struct vcr_diff_extra *e,
			     const void *bytes, size_t nbytes)
{
	uint64_t h = x->extras_hash;
	uint32_t hdr[4] = { e->type, e->kind, e->vector, e->len };
	h = vcr_diff_hash(h, hdr, sizeof(hdr));
	if (nbytes)
		h = vcr_diff_hash(h, bytes, nbytes);
	x->extras_hash = h ? h : 1;
	if (x->nextras < VCR_DIFF_EXTRAS_SHOWN)
		x->extras[x->nextras] = *e;
	x->nextras++;
}

/* ------------------------------------------------------------ items */

/* The alignment key of an exit. */
struct diff_key {
	uint64_t rip;
	uint64_t addr;		/* port or MMIO address */
	uint32_t reason;
	uint32_t sub;		/* direction and size/len */
};

/* An exit in the engine: the source's view plus what comparisons need.
 * A live item points into the source's buffers; a ring item owns copies. */
struct diff_item {
	struct vcr_diff_exit x;
	struct diff_key key;
	uint32_t reason, data_len;
	const diff_exit_u *u;
};

struct diff_slot {
	struct diff_item it;
	struct vcr_vcpu_state state;
	diff_exit_u u;
	uint8_t data[VCR_DIFF_DATA_KEPT];
};

/* An exit copied for an event (the exit struct is large: a few of these). */
struct diff_view {
	struct vcr_diff_exit x;
	struct vcr_vcpu_state state;
	struct vcr_exit exit;
};

static void key_of(struct diff_key *k, const struct vcr_exit *e, uint64_t rip)
{
	memset(k, 0, sizeof(*k));
	k->reason = e->reason;
	k->rip = rip;
	if (e->reason == KVM_EXIT_IO) {
		k->addr = e->u.io.port;
		k->sub = (uint32_t)e->u.io.direction << 8 | e->u.io.size;
	} else if (e->reason == KVM_EXIT_MMIO) {
		k->addr = e->u.mmio.phys_addr;
		k->sub = (uint32_t)e->u.mmio.is_write << 8 | (e->u.mmio.len & 0xff);
	}
}

static bool key_eq(const struct diff_key *a, const struct diff_key *b)
{
	return a->rip == b->rip && a->addr == b->addr && a->reason == b->reason &&
	       a->sub == b->sub;
}

bool vcr_diff_same_key(const struct vcr_diff_exit *a, const struct vcr_diff_exit *b)
{
	struct diff_key ka, kb;
	key_of(&ka, a->exit, a->state->regs.rip);
	key_of(&kb, b->exit, b->state->regs.rip);
	return key_eq(&ka, &kb);
}

static void item_init_live(struct diff_item *it)
{
	const struct vcr_exit *e = it->x.exit;
	key_of(&it->key, e, it->x.state->regs.rip);
	it->reason = e->reason;
	it->data_len = e->data_len;
	it->u = (const diff_exit_u *)&e->u;
}

static void slot_store(struct diff_slot *s, const struct diff_item *live)
{
	s->it = *live;
	s->state = *live->x.state;
	s->u = *live->u;
	uint32_t n = live->data_len < VCR_DIFF_DATA_KEPT ? live->data_len : VCR_DIFF_DATA_KEPT;
	memset(s->data, 0, sizeof(s->data));
	if (live->x.exit)
		memcpy(s->data, live->x.exit->data, n);
	s->it.x.state = &s->state;
	s->it.x.exit = NULL;	/* materialized by view_of() when reported */
	s->it.u = &s->u;
}

/* Payload fields that matter for each reason: the reader need not zero the
 * unused bytes of the union, so it is not compared as a block. */
static bool payload_eq(const struct diff_item *a, const struct diff_item *b)
{
	const diff_exit_u *x = a->u, *y = b->u;

	if (a->reason != b->reason || a->data_len != b->data_len ||
	    a->x.data_hash != b->x.data_hash)
		return false;
	switch (a->reason) {
	case KVM_EXIT_IO:
		return x->io.direction == y->io.direction && x->io.size == y->io.size &&
		       x->io.port == y->io.port && x->io.count == y->io.count;
	case KVM_EXIT_MMIO:
		return x->mmio.phys_addr == y->mmio.phys_addr && x->mmio.len == y->mmio.len &&
		       x->mmio.is_write == y->mmio.is_write;
	case KVM_EXIT_DEBUG:
		return x->debug.exception == y->debug.exception && x->debug.pc == y->debug.pc &&
		       x->debug.dr6 == y->debug.dr6 && x->debug.dr7 == y->debug.dr7;
	case KVM_EXIT_FAIL_ENTRY:
		return x->fail_entry.hardware_entry_failure_reason ==
			       y->fail_entry.hardware_entry_failure_reason &&
		       x->fail_entry.cpu == y->fail_entry.cpu;
	case KVM_EXIT_INTERNAL_ERROR: {
		uint32_t n = x->internal.ndata > 16 ? 16 : x->internal.ndata;
		return x->internal.suberror == y->internal.suberror &&
		       x->internal.ndata == y->internal.ndata &&
		       !memcmp(x->internal.data, y->internal.data, n * sizeof(uint64_t));
	}
	case KVM_EXIT_SYSTEM_EVENT: {
		uint32_t n = x->system_event.ndata > 16 ? 16 : x->system_event.ndata;
		return x->system_event.type == y->system_event.type &&
		       x->system_event.ndata == y->system_event.ndata &&
		       !memcmp(x->system_event.data, y->system_event.data, n * sizeof(uint64_t));
	}
	case KVM_EXIT_HYPERCALL:
		return x->hypercall.nr == y->hypercall.nr &&
		       !memcmp(x->hypercall.args, y->hypercall.args, sizeof(x->hypercall.args)) &&
		       x->hypercall.ret == y->hypercall.ret &&
		       x->hypercall.longmode == y->hypercall.longmode;
	case KVM_EXIT_UNKNOWN:
		return x->unknown.hardware_exit_reason == y->unknown.hardware_exit_reason;
	default:
		return true;
	}
}

/* ------------------------------------------------------------ one side */

struct diff_side {
	const struct vcr_diff_source *src;
	struct diff_slot *ring;
	uint32_t cap, head, count;
	struct diff_item live;
	bool live_ok, ended;
	uint64_t nread;
};

/* Make sure at least k+1 exits are pending. 1: yes, 0: the side ends
 * before, <0: error. */
static int side_fill(struct diff_side *s, uint32_t k, struct vcr_err *err)
{
	while (s->count + (s->live_ok ? 1u : 0u) <= k) {
		if (s->ended)
			return 0;
		if (s->live_ok) {
			if (s->count >= s->cap)
				return vcr_err_set(err, -EOVERFLOW, UINT64_MAX,
						   "diff window overflow");
			slot_store(&s->ring[(s->head + s->count) % s->cap], &s->live);
			s->count++;
			s->live_ok = false;
		}
		/* The source fills every field; extras start empty. */
		s->live.x.extras_hash = 0;
		s->live.x.nextras = 0;
		int r = s->src->next(s->src->ctx, &s->live.x, err);
		if (r < 0)
			return r;
		if (r == 0) {
			s->ended = true;
			return 0;
		}
		item_init_live(&s->live);
		s->live_ok = true;
		s->nread++;
	}
	return 1;
}

static uint32_t side_pending(const struct diff_side *s)
{
	return s->count + (s->live_ok ? 1u : 0u);
}

static struct diff_item *side_at(struct diff_side *s, uint32_t k)
{
	if (k < s->count)
		return &s->ring[(s->head + k) % s->cap].it;
	return &s->live;
}

static void side_pop(struct diff_side *s)
{
	if (s->count) {
		s->head = (s->head + 1) % s->cap;
		s->count--;
	} else {
		s->live_ok = false;
	}
}

/* ------------------------------------------------------------ engine */

struct diff_engine {
	const struct vcr_diff_opts *o;
	uint32_t window, confirm, max_pairs;
	uint32_t vcpu;
	vcr_diff_cb cb;
	void *cbctx;
	struct vcr_diff_summary *sum;
	struct diff_side a, b;
	struct diff_key *ka, *kb;	/* keys copied for the resync search */
	struct diff_view *views;	/* 2 * VCR_DIFF_MAX_LIST + 2 */
	uint16_t regs[VCR_DIFF_MAX_REGS];
	/* the open stretch of differing aligned pairs */
	bool in_changed;
	struct vcr_diff_range ca, cb_;
	uint64_t pair_no;
	bool stop;		/* first stretch reported (without o->all) */
};

static const struct vcr_diff_exit *view_of(struct diff_engine *e, unsigned slot,
					   const struct diff_item *it)
{
	struct diff_view *v = &e->views[slot];
	v->x = it->x;
	v->state = *it->x.state;
	v->exit.reason = it->reason;
	v->exit.data_len = it->data_len;
	memcpy(&v->exit.u, it->u, sizeof(v->exit.u));
	/* A live item still has all its data; a ring item its first bytes. */
	uint32_t n = it->data_len;
	if (!it->x.exit && n > VCR_DIFF_DATA_KEPT)
		n = VCR_DIFF_DATA_KEPT;
	if (n > VCR_EXIT_DATA_MAX)
		n = VCR_EXIT_DATA_MAX;
	if (it->x.exit)
		memcpy(v->exit.data, it->x.exit->data, n);
	else
		memcpy(v->exit.data, ((const struct diff_slot *)it)->data, n);
	v->x.exit = &v->exit;
	v->x.state = &v->state;
	return &v->x;
}

static bool reg_ignored(const struct vcr_diff_opts *o, size_t i)
{
	return i < VCR_DIFF_MAX_REGS && (o->ignore[i / 64] >> (i % 64) & 1);
}

/* Registers that differ between the states of a and b, into e->regs. */
static uint32_t regs_differing(struct diff_engine *e, const struct diff_item *a,
			       const struct diff_item *b)
{
	if (!memcmp(a->x.state, b->x.state, sizeof(*a->x.state)))
		return 0;
	uint32_t n = 0;
	for (size_t i = 0; i < vcr_nregs && n < VCR_DIFF_MAX_REGS; i++) {
		const struct vcr_reg *r = &vcr_regs[i];
		if (r->fmt == VCR_REG_NONE || reg_ignored(e->o, i))
			continue;
		if (vcr_reg_differs(a->x.state, b->x.state, r))
			e->regs[n++] = (uint16_t)i;
	}
	return n;
}

static void range_add(struct vcr_diff_range *r, const struct vcr_diff_exit *x)
{
	if (r->count == 0) {
		r->first_seq = x->seq;
		r->first_idx = x->idx;
	}
	r->last_seq = x->seq;
	r->last_idx = x->idx;
	r->count++;
}

static int emit(struct diff_engine *e, struct vcr_diff_event *ev)
{
	ev->vcpu = e->vcpu;
	return e->cb ? e->cb(e->cbctx, ev) : 0;
}

static int close_changed(struct diff_engine *e)
{
	if (!e->in_changed)
		return 0;
	e->in_changed = false;
	e->sum->stretches++;
	struct vcr_diff_event ev = { .type = VCR_DIFF_EV_CHANGED, .a = e->ca, .b = e->cb_ };
	return emit(e, &ev);
}

/* Compare the aligned pair at the front of both sides and pop it. */
static int compare_front(struct diff_engine *e)
{
	struct diff_item *a = side_at(&e->a, 0), *b = side_at(&e->b, 0);
	int rc = 0;

	e->sum->pairs++;
	if (e->o->on_aligned && (rc = e->o->on_aligned(e->o->aligned_ctx, &a->x, &b->x)))
		return rc;
	bool payload = !payload_eq(a, b);
	bool extras = a->x.extras_hash != b->x.extras_hash;
	uint32_t nregs = regs_differing(e, a, b);
	if (payload || extras || nregs) {
		e->sum->differing_pairs++;
		if (!e->in_changed) {
			e->in_changed = true;
			e->pair_no = 0;
			memset(&e->ca, 0, sizeof(e->ca));
			memset(&e->cb_, 0, sizeof(e->cb_));
		}
		range_add(&e->ca, &a->x);
		range_add(&e->cb_, &b->x);
		if (e->pair_no < e->max_pairs) {
			struct vcr_diff_event ev = {
				.type = VCR_DIFF_EV_PAIR,
				.xa = view_of(e, 0, a),
				.xb = view_of(e, 1, b),
				.regs = e->regs,
				.nregs = nregs,
				.payload_differs = payload,
				.extras_differ = extras,
				.pair_no = e->pair_no,
			};
			rc = emit(e, &ev);
		}
		e->pair_no++;
	} else if (e->in_changed) {
		rc = close_changed(e);
		if (!e->o->all)
			e->stop = true;	/* first stretch reported: done with this vCPU */
	}
	side_pop(&e->a);
	side_pop(&e->b);
	return rc;
}

/* Pop `n` pending exits of s and then read it to its end, counting into r.
 * Lists the first ones as views starting at view slot `slot0`. */
static int drain(struct diff_engine *e, struct diff_side *s, uint64_t n, bool to_end,
		 struct vcr_diff_range *r, const struct vcr_diff_exit **list,
		 uint32_t *nlist, unsigned slot0, struct vcr_err *err)
{
	*nlist = 0;
	for (;;) {
		if (!to_end && n == 0)
			return 0;
		int f = side_fill(s, 0, err);
		if (f < 0)
			return f;
		if (f == 0)
			return 0;
		struct diff_item *it = side_at(s, 0);
		if (*nlist < VCR_DIFF_MAX_LIST) {
			list[*nlist] = view_of(e, slot0 + *nlist, it);
			(*nlist)++;
		}
		range_add(r, &it->x);
		side_pop(s);
		if (n)
			n--;
	}
}

/* Search the closest resync point; see the header comment. *found false:
 * none within the window. */
static int resync_search(struct diff_engine *e, uint32_t *oi, uint32_t *oj, bool *found,
			 struct vcr_err *err)
{
	uint32_t want = e->window + e->confirm;
	int f;

	if ((f = side_fill(&e->a, want - 1, err)) < 0)
		return f;
	if ((f = side_fill(&e->b, want - 1, err)) < 0)
		return f;
	uint32_t na = side_pending(&e->a), nb = side_pending(&e->b);
	for (uint32_t k = 0; k < na; k++)
		e->ka[k] = side_at(&e->a, k)->key;
	for (uint32_t k = 0; k < nb; k++)
		e->kb[k] = side_at(&e->b, k)->key;
	uint32_t la = na < e->window ? na : e->window;
	uint32_t lb = nb < e->window ? nb : e->window;

	*found = false;
	for (uint32_t d = 1; d <= la + lb; d++) {
		uint32_t ilo = d > lb ? d - lb : 0, ihi = d < la ? d : la;
		for (uint32_t i = ilo; i <= ihi; i++) {
			uint32_t j = d - i;
			uint32_t ra = na - i, rb = nb - j;
			uint32_t m = e->confirm;
			if (ra < m || rb < m) {
				/* A side ran out in the buffer, so it ended:
				 * accept a shorter confirmation, or both
				 * ending together. */
				m = ra < rb ? ra : rb;
				if (m == 0 && !(ra == 0 && rb == 0 && e->a.ended && e->b.ended))
					continue;
			}
			uint32_t k = 0;
			while (k < m && key_eq(&e->ka[i + k], &e->kb[j + k]))
				k++;
			if (k == m) {
				*oi = i;
				*oj = j;
				*found = true;
				return 0;
			}
		}
	}
	return 0;
}

/* The fronts have different keys, or one side ended. */
static int misaligned(struct diff_engine *e, bool *stop, struct vcr_err *err)
{
	const struct vcr_diff_exit *la[VCR_DIFF_MAX_LIST], *lb[VCR_DIFF_MAX_LIST];
	struct vcr_diff_event ev = { .type = VCR_DIFF_EV_GAP, .list_a = la, .list_b = lb };
	uint32_t i = 0, j = 0;
	bool found = true;
	int rc;

	*stop = false;
	if (side_pending(&e->a) && side_pending(&e->b)) {
		rc = resync_search(e, &i, &j, &found, err);
		if (rc < 0)
			return rc;
	} else {
		/* One side ended: the rest of the other has no counterpart. */
		*stop = true;
	}
	if (!found) {
		ev.type = VCR_DIFF_EV_UNALIGNED;
		*stop = true;
	}
	bool to_end = *stop;
	rc = drain(e, &e->a, i, to_end, &ev.a, la, &ev.nlist_a, 2, err);
	if (rc < 0)
		return rc;
	rc = drain(e, &e->b, j, to_end, &ev.b, lb, &ev.nlist_b, 2 + VCR_DIFF_MAX_LIST, err);
	if (rc < 0)
		return rc;
	if (!to_end) {
		/* Both sides have their realigned exit pending (or ended). */
		if ((rc = side_fill(&e->a, 0, err)) < 0 || (rc = side_fill(&e->b, 0, err)) < 0)
			return rc;
		if (side_pending(&e->a))
			ev.resume_a = view_of(e, 0, side_at(&e->a, 0));
		if (side_pending(&e->b))
			ev.resume_b = view_of(e, 1, side_at(&e->b, 0));
	}
	e->sum->stretches++;
	rc = emit(e, &ev);
	if (rc)
		return rc;
	if (!e->o->all)
		*stop = true;
	return 0;
}

int vcr_diff_sources(const struct vcr_diff_source *a, const struct vcr_diff_source *b,
		     uint32_t vcpu, const struct vcr_diff_opts *o, vcr_diff_cb cb,
		     void *cbctx, struct vcr_diff_summary *sum, struct vcr_err *err)
{
	struct diff_engine e = {
		.o = o,
		.window = o->window ? o->window : VCR_DIFF_DEFAULT_WINDOW,
		.confirm = o->confirm ? o->confirm : VCR_DIFF_DEFAULT_CONFIRM,
		.max_pairs = o->max_pairs ? o->max_pairs : VCR_DIFF_DEFAULT_MAX_PAIRS,
		.vcpu = vcpu,
		.cb = cb,
		.cbctx = cbctx,
		.sum = sum,
		.a.src = a,
		.b.src = b,
	};
	int rc = 0;

	if (e.window > (1u << 24) || e.confirm > 1024)
		return vcr_err_set(err, -EINVAL, UINT64_MAX, "diff window too large");
	uint32_t cap = e.window + e.confirm + 1;
	e.a.cap = e.b.cap = cap;
	e.a.ring = calloc(cap, sizeof(*e.a.ring));
	e.b.ring = calloc(cap, sizeof(*e.b.ring));
	e.ka = calloc(cap, sizeof(*e.ka));
	e.kb = calloc(cap, sizeof(*e.kb));
	e.views = calloc(2 * VCR_DIFF_MAX_LIST + 2, sizeof(*e.views));
	if (!e.a.ring || !e.b.ring || !e.ka || !e.kb || !e.views) {
		rc = vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory for the diff window");
		goto out;
	}

	/* Ring traces (opts.ring_bytes) keep only their newest exits: start
	 * at the first per-vCPU exit number both sides have. Not with a rip
	 * or reason filter: the first exits kept then differ in number
	 * wherever the runs made a different count of exits filtered out. */
	for (; !o->rip_hi && !o->reasons;) {
		int fa = side_fill(&e.a, 0, err), fb = fa < 0 ? fa : side_fill(&e.b, 0, err);
		if (fa < 0 || fb < 0) {
			rc = fa < 0 ? fa : fb;
			goto out;
		}
		if (!fa || !fb)
			break;
		uint64_t ia = side_at(&e.a, 0)->x.idx, ib = side_at(&e.b, 0)->x.idx;
		if (ia == ib)
			break;
		if (ia < ib) {
			side_pop(&e.a);
			sum->skipped_a++;
		} else {
			side_pop(&e.b);
			sum->skipped_b++;
		}
	}

	for (;;) {
		int fa = side_fill(&e.a, 0, err), fb;
		if (fa < 0) {
			rc = fa;
			goto out;
		}
		fb = side_fill(&e.b, 0, err);
		if (fb < 0) {
			rc = fb;
			goto out;
		}
		if (!fa && !fb)
			break;
		if (fa && fb && key_eq(&side_at(&e.a, 0)->key, &side_at(&e.b, 0)->key)) {
			rc = compare_front(&e);
			if (rc || e.stop)
				goto out;
			continue;
		}
		bool had_changed = e.in_changed;
		if ((rc = close_changed(&e)))
			goto out;
		if (had_changed && !o->all)
			goto out;
		bool stop;
		rc = misaligned(&e, &stop, err);
		if (rc || stop)
			goto out;
	}
	rc = close_changed(&e);
out:
	sum->exits_a += e.a.nread;
	sum->exits_b += e.b.nread;
	free(e.a.ring);
	free(e.b.ring);
	free(e.ka);
	free(e.kb);
	free(e.views);
	return rc;
}

/* ------------------------------------------------------- trace source */

/* The exits of one vCPU of a trace file, with the records that served each
 * one. Exit k is read into record buffer k % nrec; after returning it, the
 * source reads ahead into buffer (k + 1) % nrec to find where its serving
 * records stop. With nrec = 2 that is a double buffer; the reader thread
 * below uses more buffers so that returned exits stay valid while it reads
 * further. */
struct trace_src {
	struct vcr_reader *r;
	uint32_t vcpu;
	struct vcr_record **rec;
	uint32_t nrec;
	uint64_t cur;		/* rec[cur % nrec]: the read-ahead EXIT */
	bool have_next, started, eof;
	struct vcr_diff_end end;
	const char *path;
	struct vcr_progress *progress;	/* exits read, NULL: none */
	uint64_t rip_lo, rip_hi;	/* opts.rip_lo/hi */
	uint64_t reasons;		/* opts.reasons */
};

static int trace_src_read(struct trace_src *t, struct vcr_record *rec,
			  struct vcr_record_ref *ref, struct vcr_err *err)
{
	/* Zero-copy: each pass reads every vCPU's records, and only the
	 * records of t->vcpu are copied (trace_src_advance). */
	int r = vcr_reader_next_ref(t->r, rec, ref);
	if (r > 0 && rec->type == VCR_REC_EXIT)
		vcr_progress_add(t->progress, 1);
	if (r < 0) {
		const struct vcr_err *re = vcr_reader_error(t->r);
		return vcr_err_set(err, r, re ? re->offset : UINT64_MAX, "%s: %s", t->path,
				   re && re->msg[0] ? re->msg : strerror(-r));
	}
	return r;
}

/* Read records into `rec` until the next EXIT of t->vcpu (1) or the end
 * (0); serving records on the way are added to x (if not NULL). */
static int trace_src_advance(struct trace_src *t, struct vcr_record *rec,
			     struct vcr_diff_exit *x, struct vcr_err *err)
{
	for (;;) {
		struct vcr_record_ref ref;
		int r = trace_src_read(t, rec, &ref, err);
		if (r <= 0) {
			if (r == 0)
				t->eof = true;
			return r;
		}
		if (rec->type == VCR_REC_END) {
			t->end.present = true;
			t->end.how = rec->u.end.how;
			t->end.status = rec->u.end.status;
			continue;
		}
		if (rec->vcpu != t->vcpu)
			continue;
		if (rec->type == VCR_REC_EXIT &&
		    ((t->rip_hi && (ref.state->regs.rip < t->rip_lo ||
				    ref.state->regs.rip >= t->rip_hi)) ||
		     (t->reasons && (rec->u.exit.exit.reason >= 64 ||
				     !(t->reasons >> rec->u.exit.exit.reason & 1))))) {
			x = NULL;	/* its serving records are not x's */
			continue;
		}
		if (rec->type == VCR_REC_EXIT) {
			/* The exit stays in use while the source reads ahead,
			 * which moves the reader's state: copy it. */
			uint32_t n = rec->u.exit.exit.data_len;
			if (n > VCR_EXIT_DATA_MAX)
				n = VCR_EXIT_DATA_MAX;
			rec->u.exit.state = *ref.state;
			if (n)
				memcpy(rec->u.exit.exit.data, ref.data, n);
			return 1;
		}
		if (!x)
			continue;
		struct vcr_diff_extra ex = { .type = rec->type };
		switch (rec->type) {
		case VCR_REC_INPUT: {
			uint32_t n = rec->u.input.len;
			if (n > VCR_EXIT_DATA_MAX)
				n = VCR_EXIT_DATA_MAX;
			ex.kind = rec->u.input.kind;
			ex.len = rec->u.input.len;
			if (n)
				memcpy(ex.data, ref.data, n < sizeof(ex.data) ? n : sizeof(ex.data));
			vcr_diff_exit_add_extra(x, &ex, ref.data, n);
			break;
		}
		case VCR_REC_INJECT:
			ex.kind = rec->u.inject.kind;
			ex.vector = rec->u.inject.vector;
			vcr_diff_exit_add_extra(x, &ex, NULL, 0);
			break;
		case VCR_REC_SET_STATE: {
			ex.kind = rec->u.set_state.dirty;
			uint64_t h = 0;
			for (unsigned c = 1; c <= VCR_CLASS_EVENTS; c <<= 1)
				if (ex.kind & c)
					h = vcr_diff_hash(h, (const uint8_t *)ref.state +
						vcr_class_offset(c), vcr_class_size(c));
			vcr_diff_exit_add_extra(x, &ex, &h, sizeof(h));
			break;
		}
		default:
			break;	/* memory and markers are not part of an exit */
		}
	}
}

static int trace_src_next(void *ctx, struct vcr_diff_exit *x, struct vcr_err *err)
{
	struct trace_src *t = ctx;
	int r;

	if (!t->started) {
		t->started = true;
		r = trace_src_advance(t, t->rec[t->cur % t->nrec], NULL, err);
		if (r < 0)
			return r;
		t->have_next = r == 1;
	}
	if (!t->have_next)
		return 0;
	const struct vcr_record *rec = t->rec[t->cur % t->nrec];
	x->seq = rec->seq;
	x->idx = rec->vcpu_exit;
	x->vcpu = rec->vcpu;
	x->valid = rec->u.exit.valid;
	x->exit = &rec->u.exit.exit;
	x->state = &rec->u.exit.state;
	uint32_t n = rec->u.exit.exit.data_len;
	if (n > VCR_EXIT_DATA_MAX)
		return vcr_err_set(err, -EBADMSG, UINT64_MAX, "%s: exit %llu: data_len %u",
				   t->path, (unsigned long long)rec->seq, n);
	x->data_hash = n ? vcr_diff_hash(0, rec->u.exit.exit.data, n) : 0;
	/* The returned exit stays in its buffer; read ahead into the next. */
	r = trace_src_advance(t, t->rec[(t->cur + 1) % t->nrec], x, err);
	if (r < 0)
		return r;
	t->have_next = r == 1;
	t->cur++;
	return 1;
}

static void trace_src_close(struct trace_src *t)
{
	if (t->r)
		vcr_reader_close(t->r);
	for (uint32_t i = 0; t->rec && i < t->nrec; i++)
		free(t->rec[i]);
	free(t->rec);
	memset(t, 0, sizeof(*t));
}

static int trace_src_open(struct trace_src *t, const char *path, uint32_t vcpu,
			  uint32_t nrec, const struct vcr_diff_opts *o, struct vcr_err *err)
{
	memset(t, 0, sizeof(*t));
	t->path = path;
	t->vcpu = vcpu;
	t->rip_lo = o->rip_lo;
	t->rip_hi = o->rip_hi;
	t->reasons = o->reasons;
	t->rec = calloc(nrec, sizeof(*t->rec));
	if (!t->rec)
		return vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
	t->nrec = nrec;
	for (uint32_t i = 0; i < nrec; i++)
		if (!(t->rec[i] = malloc(sizeof(struct vcr_record)))) {
			trace_src_close(t);
			return vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
		}
	int r = vcr_reader_open(&t->r, path, err);
	if (r < 0) {
		t->r = NULL;
		trace_src_close(t);
		return r;
	}
	return 0;
}

/* ------------------------------------------------------- reader thread */

/* Decoding dominates a diff with nothing to report, and the two traces are
 * independent: with opts.reader_thread, B's exits are read by a thread while
 * the caller's thread reads A and compares. Not the default: on our shared
 * 2-core machine under load the two threads kept waiting for each other
 * and it was slower than one thread (bench/diff_bench measures both). Exits are handed over in place: the thread's trace
 * source has PF_SLOTS record buffers, exit k lives in buffer k % PF_SLOTS,
 * and the thread may only read ahead into a buffer the consumer released.
 * Blocking (mutex + condvar) happens only when a side must wait; otherwise
 * hand-over is two atomic counters. */
#define PF_SLOTS 1024u
/* A waiting side is woken only when the other has made room for, or
 * published, this many exits: one wake-up per batch, not per exit. */
#define PF_BATCH 256u

struct pf_src {
	struct trace_src t;
	struct vcr_diff_exit items[PF_SLOTS];
	pthread_t th;
	bool th_started;
	_Atomic uint64_t head;		/* exits published */
	_Atomic uint64_t tail;		/* exits released by the consumer */
	_Atomic bool done, stop, prod_waiting, cons_waiting;
	bool holding;			/* the consumer holds exit `tail` */
	bool eof;			/* after pf_stop: the thread read to the end */
	struct vcr_diff_end end;	/* after pf_stop: B's END record */
	int rc;				/* producer's result, valid once done */
	struct vcr_err err;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

static void pf_wake(struct pf_src *p, _Atomic bool *waiting)
{
	if (atomic_load(waiting)) {
		pthread_mutex_lock(&p->mu);
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
}

static void *pf_main(void *arg)
{
	struct pf_src *p = arg;
	int rc = 0;

	for (uint64_t k = 0;; k++) {
		/* Reading exit k reads ahead into buffer k + 1: it must be
		 * free. When full, wait for room for a batch. */
		if (k + 1 >= atomic_load(&p->tail) + PF_SLOTS) {
			pthread_mutex_lock(&p->mu);
			atomic_store(&p->prod_waiting, true);
			while (k + PF_BATCH >= atomic_load(&p->tail) + PF_SLOTS &&
			       !atomic_load(&p->stop))
				pthread_cond_wait(&p->cv, &p->mu);
			atomic_store(&p->prod_waiting, false);
			pthread_mutex_unlock(&p->mu);
		}
		if (atomic_load(&p->stop))
			break;
		struct vcr_diff_exit *x = &p->items[k % PF_SLOTS];
		x->extras_hash = 0;
		x->nextras = 0;
		rc = trace_src_next(&p->t, x, &p->err);
		if (rc <= 0)
			break;
		atomic_store(&p->head, k + 1);
		if (k + 1 - atomic_load(&p->tail) >= PF_BATCH)
			pf_wake(p, &p->cons_waiting);
	}
	p->rc = rc;
	atomic_store(&p->done, true);
	pf_wake(p, &p->cons_waiting);
	return NULL;
}

static int pf_next(void *ctx, struct vcr_diff_exit *x, struct vcr_err *err)
{
	struct pf_src *p = ctx;
	uint64_t tail = atomic_load(&p->tail);

	if (p->holding) {
		atomic_store(&p->tail, ++tail);
		p->holding = false;
		if (tail + PF_SLOTS > atomic_load(&p->head) + PF_BATCH)
			pf_wake(p, &p->prod_waiting);
	}
	if (atomic_load(&p->head) == tail) {
		pthread_mutex_lock(&p->mu);
		atomic_store(&p->cons_waiting, true);
		while (atomic_load(&p->head) - tail < PF_BATCH && !atomic_load(&p->done))
			pthread_cond_wait(&p->cv, &p->mu);
		atomic_store(&p->cons_waiting, false);
		pthread_mutex_unlock(&p->mu);
		if (atomic_load(&p->head) == tail) {
			/* done: the end, or the producer's error */
			if (p->rc < 0 && err)
				*err = p->err;
			return p->rc < 0 ? p->rc : 0;
		}
	}
	*x = p->items[tail % PF_SLOTS];
	p->holding = true;
	return 1;
}

static int pf_start(struct pf_src *p, const char *path, uint32_t vcpu,
		    struct vcr_progress *prog, const struct vcr_diff_opts *o, struct vcr_err *err)
{
	memset(p, 0, sizeof(*p));
	int rc = trace_src_open(&p->t, path, vcpu, PF_SLOTS, o, err);
	if (rc < 0)
		return rc;
	p->t.progress = prog;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	vcr_err_clear(&p->err);
	rc = pthread_create(&p->th, NULL, pf_main, p);
	if (rc) {
		pthread_mutex_destroy(&p->mu);
		pthread_cond_destroy(&p->cv);
		trace_src_close(&p->t);
		return vcr_err_set(err, -rc, UINT64_MAX, "cannot start a reader thread: %s",
				   strerror(rc));
	}
	p->th_started = true;
	return 0;
}

/* Stop the thread (it may be waiting for room) and free everything. */
static void pf_stop(struct pf_src *p)
{
	if (!p->th_started)
		return;
	atomic_store(&p->stop, true);
	pthread_mutex_lock(&p->mu);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->th, NULL);
	p->eof = p->t.eof;
	p->end = p->t.end;
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	trace_src_close(&p->t);
	p->th_started = false;
}

static int trace_nvcpus(const char *path, uint32_t *n, uint64_t *exits, struct vcr_err *err)
{
	struct vcr_reader *r;
	struct vcr_reader_stats st;
	int rc = vcr_reader_open(&r, path, err);
	if (rc < 0)
		return rc;
	*n = vcr_reader_info(r)->nvcpus;
	vcr_reader_get_stats(r, &st);
	*exits = st.exits;
	vcr_reader_close(r);
	return 0;
}

int vcr_diff_files(const char *path_a, const char *path_b, const struct vcr_diff_opts *o,
		   vcr_diff_cb cb, void *cbctx, struct vcr_diff_summary *sum,
		   struct vcr_err *err)
{
	struct trace_src ta = { 0 }, tb = { 0 };
	struct pf_src *pb = NULL;
	struct vcr_diff_end end_a = { 0 }, end_b = { 0 };
	bool eof_a = false, eof_b = false;
	uint32_t nvcpus, nb;
	uint64_t exits_a, exits_b;
	int rc;

	memset(sum, 0, sizeof(*sum));
	/* The vCPU count comes from the headers; a vCPU only one trace has is
	 * compared against nothing (all its exits inserted or deleted). */
	if ((rc = trace_nvcpus(path_a, &nvcpus, &exits_a, err)) < 0 ||
	    (rc = trace_nvcpus(path_b, &nb, &exits_b, err)) < 0)
		return rc;
	if (nb > nvcpus)
		nvcpus = nb;
	if (nvcpus > VCR_TRACE_MAX_VCPUS)
		nvcpus = VCR_TRACE_MAX_VCPUS;

	uint32_t v0 = 0, v1 = nvcpus;
	if (o->vcpu != UINT32_MAX) {
		if (o->vcpu >= nvcpus)
			return vcr_err_set(err, -EINVAL, UINT64_MAX,
					   "no vCPU %u (the traces have %u)", o->vcpu, nvcpus);
		v0 = o->vcpu;
		v1 = o->vcpu + 1;
	}
	if (o->reader_thread && !(pb = malloc(sizeof(*pb))))
		return vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
	struct vcr_progress *prog = o->progress;
	if (prog)
		prog->total = (exits_a + exits_b) * (v1 - v0);
	/* Each vCPU is its own pass over both files. */
	for (uint32_t v = v0; v < v1; v++) {
		struct vcr_diff_source sa = { trace_src_next, &ta }, sb;
		if (prog)
			__atomic_store_n(&prog->done, (exits_a + exits_b) * (v - v0),
					 __ATOMIC_RELAXED);
		if ((rc = trace_src_open(&ta, path_a, v, 2, o, err)) < 0)
			goto out;
		ta.progress = prog;
		if (pb) {
			if ((rc = pf_start(pb, path_b, v, prog, o, err)) < 0)
				goto out;
			sb = (struct vcr_diff_source){ pf_next, pb };
		} else {
			if ((rc = trace_src_open(&tb, path_b, v, 2, o, err)) < 0)
				goto out;
			tb.progress = prog;
			sb = (struct vcr_diff_source){ trace_src_next, &tb };
		}
		rc = vcr_diff_sources(&sa, &sb, v, o, cb, cbctx, sum, err);
		if (pb) {
			/* Join before looking at what the thread's source saw.
			 * It may have read the end of B ahead of the engine;
			 * that counts only if the engine got there too. */
			bool consumed = atomic_load(&pb->done) &&
					atomic_load(&pb->head) == atomic_load(&pb->tail) + pb->holding &&
					pb->rc == 0;
			pf_stop(pb);
			if (consumed && pb->eof) {
				eof_b = true;
				end_b = pb->end;
			}
		} else if (tb.eof) {
			eof_b = true;
			end_b = tb.end;
		}
		if (ta.eof) {
			eof_a = true;
			end_a = ta.end;
		}
		trace_src_close(&ta);
		trace_src_close(&tb);
		if (rc)
			goto out;
	}
	/* How the runs ended is known only where both were read to the end. */
	if (eof_a && eof_b &&
	    (end_a.present != end_b.present || end_a.how != end_b.how ||
	     end_a.status != end_b.status)) {
		struct vcr_diff_event ev = { .type = VCR_DIFF_EV_END, .vcpu = UINT32_MAX,
					     .end_a = end_a, .end_b = end_b };
		sum->end_differs = true;
		if (cb)
			rc = cb(cbctx, &ev);
	}
out:
	if (pb)
		pf_stop(pb);
	free(pb);
	trace_src_close(&ta);
	trace_src_close(&tb);
	return rc;
}
