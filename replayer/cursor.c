/*
 * replayer/cursor.c: random access to a trace by exit (see cursor.h).
 *
 * Model. The cursor keeps a *window*: a run of consecutive EXIT records
 * [wbase, wbase + nex) decoded from the trace reader, each with the full
 * state of its vCPU, the non-EXIT records that belong to it (its "extras"),
 * and a *base snapshot*: the state of every other vCPU as of exit wbase.
 * States change through a list of events (base snapshot entries, EXITs,
 * SET_STATEs) in file order, each linked to the previous event of the same
 * vCPU, and each keeping what it changed as the reader's XOR delta (a few
 * words; vcr_record_ref). The cursor keeps one full state per vCPU, the one
 * at the position (st[]), with the events before the position applied.
 * XOR undoes itself, so moving either way applies the deltas of the events
 * in between; cur[v] is v's last event at the position (-1: no state yet).
 *   - a state query is one copy (none with vcr_cursor_state_ref);
 *   - a forward step applies the events between two exits (O(1) amortized);
 *   - a backward step applies the same events again, and follows the
 *     per-vCPU links back for cur[];
 *   - a seek outside the window is one reader seek (index + one chunk
 *     decode, see formats/trace.h) plus the records up to the next exit.
 * Forward steps read the next records from the reader, which stays
 * positioned after the window, so walking a trace decodes each chunk once.
 * Keeping deltas rather than a state per event (as before) saves copying
 * 520 bytes into the window per exit and keeps the window a few dozen
 * bytes an exit, cache-resident.
 * A backward step off the front of the window reloads a window of
 * CUR_BACK_SPAN exits that ends there, so long reverse walks cost one reader
 * seek per CUR_BACK_SPAN steps. The window is compacted once it holds
 * CUR_WINDOW_MAX exits, keeping CUR_KEEP_BEHIND exits behind the position.
 *
 * Position semantics: at exit P, vCPU v's state is the state after v's last
 * EXIT or SET_STATE that comes *before the extras of P* in the file: for P's
 * own vCPU, exactly the state KVM synced at that exit. The extras of P (the
 * VMM's answers to it: inputs, SET_STATE, memory writes) are what happens
 * next; they become visible in state and memory at P + 1. Guest memory is the
 * same: a MEM_WRITE/MEM_PAGES record carrying seq s (the exit it follows, or
 * UINT64_MAX before the first exit) is visible from exit s + 1 on.
 *
 * Lazy whole-trace index. Memory reads, per-vCPU ordinals of vCPUs whose last
 * exit is before the window, and per-vCPU steps that leave the window need
 * facts from the whole trace. The first such call scans the trace once with a
 * second reader (the main reader keeps its position) and builds: one byte per
 * exit naming its vCPU, per-vCPU exit counts every CUR_BLOCK exits, and the
 * memory index (replayer/memory.c: the VMM's writes and the checkpoints'
 * page versions, which it reads again from the trace on demand).
 *
 * Why one file of this size: its one concern is the position in a trace and
 * what is true there, and its parts all work on the one window (exits,
 * extras, events, deltas, base snapshot) and the states at the position:
 * filling it, moving in it, compacting and reloading it, and answering
 * from it or from the index. Split, each part would need the window's
 * invariants (cur[], the event links, the views into it) and the hot step
 * path would cross files. Inside:
 *   helpers  growable arrays, the arena, applying and pushing events
 *            (cur_apply, cur_push_event: always inlined into the steps),
 *            then the window itself: adding exits and extras, rebasing,
 *            filling, reset, moving, compaction, cur_goto (a seek inside
 *            or outside the window)
 *   index    the lazy whole-trace index: vCPU bytes, count blocks, memory
 *            map (cur_build_index)
 *   API      open/close, seek and step, the queries (exit, state, extras,
 *            vCPU ordinals, memory reads)
 */
#include "replayer/cursor.h"
#include "replayer/memory.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define CUR_WINDOW_MAX 1024u	/* exits in the window before compaction */
#define CUR_KEEP_BEHIND 64u	/* exits kept behind the position on compaction */
#define CUR_BACK_SPAN 1024u	/* exits loaded by a backward reload */
#define CUR_FILL_AHEAD 64u	/* a seek this close ahead reads on instead of seeking */
#define CUR_READAHEAD 32u	/* exits decoded ahead of a forward step, so that the
				 * next steps take the fast path */
#define CUR_BLOCK 4096u		/* exits per per-vCPU count block of the index */

typedef __typeof__(((struct vcr_exit *)0)->u) cur_exit_payload;

/* 64 bytes: the payloads of port I/O and MMIO exits (16 bytes) are kept
 * here, others (up to 160 bytes) in the arena, so that a window of exits
 * stays small in the cache. */
struct cur_exit {
	uint32_t vcpu;
	uint32_t valid;
	uint64_t vcpu_exit;
	uint32_t ev;		/* event holding the state after this exit */
	uint32_t xfirst;	/* first extra in xs[] */
	uint32_t xcount;
	uint32_t reason;
	uint32_t data_len;
	uint32_t ulen;		/* bytes of the payload kept (the rest is zero):
				 * 16 in u16, else sizeof(cur_exit_payload) in
				 * the arena at u_off */
	uint64_t aoff;		/* arena length before this exit: what it and
				 * everything after it put there starts here */
	uint64_t data_off;	/* exit data bytes in arena */
	uint8_t u16[16];
};
#define CUR_U_OFF(x) ((x)->data_off + (x)->data_len + 1)	/* payload after the data */

struct cur_event {
	uint32_t vcpu;
	int32_t prev;		/* previous event of the same vCPU, -1 none */
	uint64_t vcpu_exit;	/* ordinal of v's latest exit, UINT64_MAX unknown */
	uint32_t doff;		/* its delta: dn words from dw[doff], dx[doff] */
	uint32_t dn;		/* 0 for base entries (their state is in st[]) */
};

#define CUR_WORDS (sizeof(struct vcr_vcpu_state) / 8)

/* A non-EXIT record, compact: large payloads live in the arena or, for
 * SET_STATE, in the event list. */
struct cur_extra {
	uint32_t type;
	uint32_t vcpu;
	uint64_t seq;
	uint32_t a, b;		/* INPUT kind/len, SET_STATE dirty/event,
				 * INJECT kind/vector, END how/status,
				 * IRQ_LINE gsi/level, NOTE kind/len */
	uint64_t gpa, len;	/* MEM_*; IRQ_LINE: flags in len */
	uint64_t off;		/* arena offset of data/text, UINT64_MAX none */
};


struct vcr_cursor {
	char *path;
	struct vcr_reader *rd;
	const struct vcr_trace_info *info;
	uint32_t nvcpus;
	uint64_t first;		/* seq of the first exit kept (0 unless ring mode) */
	uint64_t nexits;
	uint64_t *vcpu_nexits;
	struct vcr_err err;
	struct vcr_record scratch;	/* reader output (vcr_reader_next_ref) */
	struct vcr_record_ref sref;	/* its state and data */

	/* window */
	uint64_t wbase;
	struct cur_exit *ex;
	size_t nex, capex;
	struct cur_event *ev;
	size_t nev, capev;
	uint8_t *dw;		/* event deltas: state word numbers... */
	uint64_t *dx;		/* ... and the XORs (capacity capd both) */
	size_t ndw, capd;
	struct cur_extra *xs;
	size_t nxs, capxs;
	uint8_t *arena;
	size_t alen, acap;
	int32_t *wlast;		/* per vCPU: last event in the window */
	bool wend;		/* reader reached the end after the last exit */
	bool rd_follows;	/* reader is positioned right after the window */

	/* position */
	size_t pi;		/* index in ex[] */
	int32_t *cur;		/* per vCPU: its last event at the position, -1 none */
	struct vcr_vcpu_state *st;	/* per vCPU: its state at the position */
	uint32_t napplied;	/* st[] has the events [0, napplied) applied:
				 * ex[pi].ev + 1 between calls */

	/* materialized views, valid until the cursor moves */
	struct vcr_record rec;
	bool rec_ok;
	struct vcr_record *xrec;
	size_t capxrec;
	bool xrec_ok;

	/* lazy whole-trace index */
	bool idx_ok;
	uint8_t *exit_vcpu;	/* per exit */
	uint64_t *blk_count;	/* [block][vcpu]: exits of vcpu before block start */
	struct rmem *mem;	/* memory index (replayer/memory.h) */
};

/* ------------------------------------------------------------ helpers */

_Static_assert(sizeof(struct vcr_vcpu_state) % 8 == 0, "state size");

/* Called once or twice per exit: the common case stays inline. */
static inline int cur_grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (__builtin_expect(need <= *cap, 1))
		return 0;
	return vcr_grow(p, cap, need, elem);
}

/* Append len bytes to the arena; *off receives their offset. */
static inline int cur_arena_put(struct vcr_cursor *c, const void *data, size_t len, uint64_t *off)
{
	if (len > SIZE_MAX - c->alen - 1)
		return -ENOMEM;
	int rc = cur_grow((void **)&c->arena, &c->acap, c->alen + len + 1, 1);
	if (rc)
		return rc;
	if (len <= 16) {
		/* Exit and input data are a byte or a few: no call. */
		for (size_t i = 0; i < len; i++)
			c->arena[c->alen + i] = ((const uint8_t *)data)[i];
	} else {
		memcpy(c->arena + c->alen, data, len);
	}
	c->arena[c->alen + len] = 0;	/* texts are stored NUL-terminated */
	*off = c->alen;
	c->alen += len + 1;
	return 0;
}

static int cur_fail(struct vcr_cursor *c, int code, const char *what)
{
	const struct vcr_err *re = c->rd ? vcr_reader_error(c->rd) : NULL;
	if (re && re->code)
		return vcr_err_set(&c->err, code, re->offset, "%s: %s", what, re->msg);
	return vcr_err_set(&c->err, code, UINT64_MAX, "%s: %s", what, strerror(-code));
}

/* XOR the delta of event e into state s. */
static inline __attribute__((always_inline)) void
cur_apply(const struct vcr_cursor *c, const struct cur_event *e, struct vcr_vcpu_state *s)
{
	uint64_t *w = (uint64_t *)s;
	uint32_t n = e->dn;
	if (!n)
		return;		/* (dw, dx may not exist yet) */
	const uint8_t *dw = c->dw + e->doff;
	const uint64_t *dx = c->dx + e->doff;
	for (uint32_t k = 0; k < n; k++)
		w[dw[k]] ^= dx[k];
}

static int cur_grow_deltas(struct vcr_cursor *c, size_t need)
{
	size_t cap = c->capd, cap2 = c->capd;
	int rc = cur_grow((void **)&c->dx, &cap, need, sizeof(*c->dx));
	if (!rc)
		rc = cur_grow((void **)&c->dw, &cap2, need, 1);
	if (!rc)
		c->capd = cap;
	return rc;
}

/* Append an event of vcpu changing its state by the delta (n words).
 * Inlined: it runs once or twice per exit read. */
static inline __attribute__((always_inline)) int cur_push_event(struct vcr_cursor *c, uint32_t vcpu, uint64_t vcpu_exit,
			  uint32_t n, const uint8_t *word, const uint64_t *x)
{
	if (c->nev >= INT32_MAX || c->ndw > UINT32_MAX - CUR_WORDS)
		return -EOVERFLOW;
	if (n > CUR_WORDS)
		return vcr_err_set(&c->err, -EBADMSG, UINT64_MAX, "delta of %u words", n);
	int rc = cur_grow((void **)&c->ev, &c->capev, c->nev + 1, sizeof(*c->ev));
	if (!rc && c->ndw + n > c->capd)
		rc = cur_grow_deltas(c, c->ndw + n);
	if (rc)
		return rc;
	struct cur_event *e = &c->ev[c->nev];
	e->vcpu = vcpu;
	e->prev = c->wlast[vcpu];
	e->vcpu_exit = vcpu_exit;
	/* Words come in increasing order (vcr_record_ref): checking the last
	 * one bounds them all. */
	if (n && word[n - 1] >= CUR_WORDS)
		return vcr_err_set(&c->err, -EBADMSG, UINT64_MAX, "delta of word %u",
				   word[n - 1]);
	e->doff = (uint32_t)c->ndw;
	e->dn = n;
	/* Locals: a byte stored through c->dw could alias c's fields, which
	 * would then be reloaded every word. */
	if (n) {	/* (dw, dx may not exist yet otherwise) */
		uint8_t *dw = c->dw + c->ndw;
		uint64_t *dx = c->dx + c->ndw;
		for (uint32_t k = 0; k < n; k++) {
			dw[k] = word[k];
			dx[k] = x[k];
		}
		c->ndw += n;
	}
	c->wlast[vcpu] = (int32_t)c->nev;
	c->nev++;
	return 0;
}

/* Bring st[] to the events [0, n) applied, from napplied, either way. */
static void cur_state_to(struct vcr_cursor *c, uint32_t n)
{
	uint32_t a = n < c->napplied ? n : c->napplied;
	uint32_t b = n < c->napplied ? c->napplied : n;
	for (uint32_t e = a; e < b; e++)
		cur_apply(c, &c->ev[e], &c->st[c->ev[e].vcpu]);
	c->napplied = n;
}

static void cur_invalidate_views(struct vcr_cursor *c)
{
	c->rec_ok = false;
	c->xrec_ok = false;
}

static void cur_window_clear(struct vcr_cursor *c)
{
	c->nex = c->nev = c->nxs = c->alen = c->ndw = 0;
	c->napplied = 0;
	c->pi = 0;
	c->wend = false;
	for (uint32_t v = 0; v < c->nvcpus; v++)
		c->wlast[v] = -1;
	cur_invalidate_views(c);
}

/* Append the EXIT record in c->scratch to the window. */
static int cur_add_exit(struct vcr_cursor *c)
{
	const struct vcr_record *r = &c->scratch;
	if (r->vcpu >= c->nvcpus)
		return vcr_err_set(&c->err, -EBADMSG, UINT64_MAX,
				   "exit %llu names vCPU %u, trace has %u",
				   (unsigned long long)r->seq, r->vcpu, c->nvcpus);
	if (r->seq != c->wbase + c->nex)
		return vcr_err_set(&c->err, -EBADMSG, UINT64_MAX,
				   "reader returned exit %llu where %llu was expected",
				   (unsigned long long)r->seq,
				   (unsigned long long)(c->wbase + c->nex));
	if (c->nex >= INT32_MAX)
		return -EOVERFLOW;
	int rc = cur_grow((void **)&c->ex, &c->capex, c->nex + 1, sizeof(*c->ex));
	if (rc)
		return rc;
	uint32_t dlen = r->u.exit.exit.data_len;
	if (dlen > VCR_EXIT_DATA_MAX)
		return vcr_err_set(&c->err, -EBADMSG, UINT64_MAX, "exit %llu: data_len %u",
				   (unsigned long long)r->seq, dlen);
	struct cur_exit *x = &c->ex[c->nex];
	x->vcpu = r->vcpu;
	x->valid = r->u.exit.valid;
	x->vcpu_exit = r->vcpu_exit;
	x->reason = r->u.exit.exit.reason;
	x->data_len = dlen;
	/* The reader zeroes what a reason does not use; keep only the used
	 * part of the 160-byte union for the common reasons (vcr_cursor_exit
	 * zeroes the rest). */
	x->ulen = r->u.exit.exit.reason == KVM_EXIT_IO ? 16 :
		  r->u.exit.exit.reason == KVM_EXIT_MMIO ? 16 : (uint32_t)sizeof(cur_exit_payload);
	x->xfirst = (uint32_t)c->nxs;
	x->xcount = 0;
	x->aoff = c->alen;
	/* The data, then (when not kept inline) the payload, right after it
	 * (CUR_U_OFF). */
	rc = cur_arena_put(c, c->sref.data, dlen, &x->data_off);
	if (rc)
		return rc;
	if (x->ulen == 16) {
		memcpy(x->u16, &r->u.exit.exit.u, 16);
	} else {
		uint64_t uoff;
		rc = cur_arena_put(c, &r->u.exit.exit.u, x->ulen, &uoff);
		if (rc)
			return rc;
	}
	rc = cur_push_event(c, r->vcpu, r->vcpu_exit, c->sref.delta_n, c->sref.delta_word,
			    c->sref.delta_xor);
	if (rc)
		return rc;
	x->ev = (uint32_t)(c->nev - 1);
	c->nex++;
	return 0;
}

/* Append the non-EXIT record in c->scratch as an extra of the last exit. */
static int cur_add_extra(struct vcr_cursor *c)
{
	const struct vcr_record *r = &c->scratch;
	int rc = cur_grow((void **)&c->xs, &c->capxs, c->nxs + 1, sizeof(*c->xs));
	if (rc)
		return rc;
	struct cur_extra *x = &c->xs[c->nxs];
	memset(x, 0, sizeof(*x));
	x->type = r->type;
	x->vcpu = r->vcpu;
	x->seq = r->seq;
	x->off = UINT64_MAX;
	switch (r->type) {
	case VCR_REC_INPUT:
		if (r->u.input.len > VCR_EXIT_DATA_MAX)
			return vcr_err_set(&c->err, -EBADMSG, UINT64_MAX, "input of %u bytes",
					   r->u.input.len);
		x->a = r->u.input.kind;
		x->b = r->u.input.len;
		rc = cur_arena_put(c, c->sref.data, r->u.input.len, &x->off);
		break;
	case VCR_REC_SET_STATE: {
		if (r->vcpu >= c->nvcpus)
			return vcr_err_set(&c->err, -EBADMSG, UINT64_MAX,
					   "SET_STATE for vCPU %u, trace has %u", r->vcpu, c->nvcpus);
		/* The delta from the vCPU's last state (the window's, which
		 * the reader shares) to the one with the dirty classes
		 * replaced. */
		int32_t last = c->wlast[r->vcpu];
		uint64_t ord = last >= 0 ? c->ev[last].vcpu_exit : UINT64_MAX;
		x->a = r->u.set_state.dirty;
		rc = cur_push_event(c, r->vcpu, ord, c->sref.delta_n, c->sref.delta_word,
				    c->sref.delta_xor);
		x->b = (uint32_t)(c->nev - 1);
		break;
	}
	case VCR_REC_INJECT:
		x->a = r->u.inject.kind;
		x->b = r->u.inject.vector;
		break;
	case VCR_REC_MEM_WRITE:
	case VCR_REC_MEM_PAGES:
		if (r->u.mem.len > SIZE_MAX / 2 || (r->u.mem.len && !r->u.mem.data))
			return vcr_err_set(&c->err, -EBADMSG, UINT64_MAX, "memory record of %llu bytes",
					   (unsigned long long)r->u.mem.len);
		x->gpa = r->u.mem.gpa;
		x->len = r->u.mem.len;
		rc = cur_arena_put(c, r->u.mem.data, (size_t)r->u.mem.len, &x->off);
		break;
	case VCR_REC_MARKER:
		if (r->u.marker.text)
			rc = cur_arena_put(c, r->u.marker.text, strlen(r->u.marker.text), &x->off);
		break;
	case VCR_REC_IRQ_LINE:
		x->a = r->u.irq_line.gsi;
		x->b = r->u.irq_line.level;
		x->len = r->u.irq_line.flags;
		break;
	case VCR_REC_NOTE:
		x->a = r->u.note.kind;
		x->b = r->u.note.text ? r->u.note.len : 0;
		rc = cur_arena_put(c, r->u.note.text ? r->u.note.text : "", x->b, &x->off);
		break;
	case VCR_REC_END:
		x->a = r->u.end.how;
		x->b = (uint32_t)r->u.end.status;
		if (r->u.end.msg)
			rc = cur_arena_put(c, r->u.end.msg, strlen(r->u.end.msg), &x->off);
		break;
	case VCR_REC_CKPT:
		/* Without its bitmaps: memory is read through the index. */
		x->a = r->u.ckpt.flags;
		x->b = (uint32_t)r->u.ckpt.number;
		x->gpa = r->u.ckpt.gpa;
		x->len = r->u.ckpt.npages;
		break;
	case VCR_REC_CKPT_PAGES:
		x->a = r->u.ckpt_pages.count;
		x->b = (uint32_t)r->u.ckpt_pages.number;
		x->gpa = r->u.ckpt_pages.gpa;
		x->len = r->u.ckpt_pages.first;
		break;
	default:
		break;	/* unknown optional record: kept with its type only */
	}
	if (rc)
		return rc;
	c->nxs++;
	c->ex[c->nex - 1].xcount++;
	return 0;
}

/* The reader took vCPU states from a keyframe since the last record (a new
 * chunk): where one differs from what the window's deltas make of it (a
 * hostile file; never in a well-formed trace read on in order), an event
 * without an exit takes the state to the reader's, so that walking and
 * seeking agree. The record in c->scratch is not in the window yet, but
 * the reader's state has its delta. */
static int cur_rebase(struct vcr_cursor *c)
{
	const struct vcr_record *r = &c->scratch;
	bool has_delta = r->type == VCR_REC_EXIT || r->type == VCR_REC_SET_STATE;
	for (uint32_t v = 0; v < c->nvcpus; v++) {
		struct vcr_vcpu_state want;
		if (vcr_reader_state(c->rd, v, &want) != 0)
			memset(&want, 0, sizeof(want));
		uint64_t *w = (uint64_t *)&want;
		/* What the window makes of it: the state at the position
		 * with v's events after it applied. */
		struct vcr_vcpu_state front = c->st[v];
		for (uint32_t e = c->napplied; e < c->nev; e++)
			if (c->ev[e].vcpu == v)
				cur_apply(c, &c->ev[e], &front);
		const uint64_t *have = (const uint64_t *)&front;
		if (has_delta && r->vcpu == v)
			for (uint32_t k = 0; k < c->sref.delta_n && c->sref.delta_word[k] < CUR_WORDS; k++)
				w[c->sref.delta_word[k]] ^= c->sref.delta_xor[k];
		uint8_t word[CUR_WORDS];
		uint64_t x[CUR_WORDS];
		uint32_t n = 0;
		for (uint32_t k = 0; k < CUR_WORDS; k++)
			if (w[k] != have[k]) {
				word[n] = (uint8_t)k;
				x[n++] = w[k] ^ have[k];
			}
		if (!n)
			continue;
		int32_t last = c->wlast[v];
		int rc = cur_push_event(c, v, last >= 0 ? c->ev[last].vcpu_exit : UINT64_MAX,
					n, word, x);
		if (rc)
			return rc;
	}
	return 0;
}

/* Read records until the window holds `want` exits (returns 1) or the
 * trace ends (returns 0, wend set). Records after an exit are its extras.
 * The reader must follow the window. One call reads many exits: the
 * forward walk reads ahead through here. */
static int cur_fill_upto(struct vcr_cursor *c, size_t want)
{
	if (c->wend)
		return 0;
	if (c->nex >= want)
		return 1;
	if (!c->rd_follows)
		return vcr_err_set(&c->err, -EINVAL, UINT64_MAX, "cursor: reader lost its position");
	cur_invalidate_views(c);
	for (;;) {
		int rc = vcr_reader_next_ref(c->rd, &c->scratch, &c->sref);
		if (rc < 0) {
			c->rd_follows = false;
			return cur_fail(c, rc, "reading trace");
		}
		if (rc == 0) {
			c->wend = true;
			return 0;
		}
		if (c->sref.rebased && c->nex) {
			rc = cur_rebase(c);
			if (rc) {
				c->rd_follows = false;
				return rc;
			}
		}
		if (c->scratch.type == VCR_REC_EXIT) {
			rc = cur_add_exit(c);
			if (rc) {
				c->rd_follows = false;
				return rc;
			}
			if (c->nex >= want)
				return 1;
			continue;
		}
		if (c->nex == 0)
			continue;	/* cannot happen after a seek; ignore */
		rc = cur_add_extra(c);
		if (rc) {
			c->rd_follows = false;
			return rc;
		}
	}
}

/* Make sure exit index i of the window exists with its extras complete.
 * 0 if so, -ERANGE if the trace ends first, other negatives on error. */
static int cur_ensure(struct vcr_cursor *c, size_t i)
{
	int rc = cur_fill_upto(c, i + 2);
	if (rc < 0)
		return rc;
	return i < c->nex ? 0 : -ERANGE;
}

/* Start a new window at exit seq: reader seek, base snapshot, the exit. */
static int cur_reset(struct vcr_cursor *c, uint64_t seq)
{
	cur_window_clear(c);
	c->wbase = seq;
	c->rd_follows = false;
	int rc = vcr_reader_seek(c->rd, seq);
	if (rc < 0)
		return cur_fail(c, rc, "seeking in trace");
	c->rd_follows = true;
	for (;;) {
		rc = vcr_reader_next_ref(c->rd, &c->scratch, &c->sref);
		if (rc < 0) {
			c->rd_follows = false;
			return cur_fail(c, rc, "reading trace");
		}
		if (rc == 0) {
			c->rd_follows = false;
			return vcr_err_set(&c->err, -EBADMSG, UINT64_MAX,
					   "trace ends before exit %llu of %llu",
					   (unsigned long long)seq, (unsigned long long)c->nexits);
		}
		if (c->scratch.type == VCR_REC_EXIT)
			break;
	}
	/* Base snapshot: every vCPU as the reader knows it now, the exit's
	 * own included (its exit event, applied, is already in st[]); other
	 * known vCPUs get a base entry saying so. */
	uint32_t own = c->scratch.vcpu;
	if (own >= c->nvcpus) {
		c->rd_follows = false;
		return vcr_err_set(&c->err, -EBADMSG, UINT64_MAX, "exit %llu names vCPU %u",
				   (unsigned long long)seq, own);
	}
	for (uint32_t v = 0; v < c->nvcpus; v++) {
		bool known = vcr_reader_state(c->rd, v, &c->st[v]) == 0;
		if (!known)
			memset(&c->st[v], 0, sizeof(c->st[v]));
		if (v != own && known) {
			rc = cur_push_event(c, v, UINT64_MAX, 0, NULL, NULL);
			if (rc)
				return rc;
		}
	}
	rc = cur_add_exit(c);
	if (rc) {
		c->rd_follows = false;
		return rc;
	}
	/* Points cur[] at exit 0 of the window at once, so that the cursor
	 * has a consistent position even if reading on fails. */
	for (uint32_t v = 0; v < c->nvcpus; v++)
		c->cur[v] = -1;
	for (uint32_t e = 0; e < c->nev; e++)
		c->cur[c->ev[e].vcpu] = (int32_t)e;
	c->napplied = (uint32_t)c->nev;
	c->pi = 0;
	return 0;
}

/* Point cur[] at the states of position i by scanning events from the
 * window start. */
static void cur_rescan(struct vcr_cursor *c, size_t i)
{
	for (uint32_t v = 0; v < c->nvcpus; v++)
		c->cur[v] = -1;
	for (uint32_t e = 0; e <= c->ex[i].ev; e++)
		c->cur[c->ev[e].vcpu] = (int32_t)e;
	cur_state_to(c, c->ex[i].ev + 1);
	c->pi = i;
	cur_invalidate_views(c);
}

/* Move the position to window index i (extras of i complete). */
static void cur_moveto(struct vcr_cursor *c, size_t i)
{
	if (i == c->pi) {
		return;
	} else if (i > c->pi) {
		uint32_t end = c->ex[i].ev + 1;
		for (uint32_t e = c->napplied; e < end; e++) {
			const struct cur_event *ev = &c->ev[e];
			c->cur[ev->vcpu] = (int32_t)e;
			cur_apply(c, ev, &c->st[ev->vcpu]);
		}
		c->napplied = end;
	} else if (c->pi - i <= 8) {
		cur_state_to(c, c->ex[i].ev + 1);
		uint32_t lim = c->ex[i].ev;
		for (uint32_t e = c->ex[c->pi].ev; e > lim; e--) {
			uint32_t v = c->ev[e].vcpu;
			int32_t k = c->cur[v];
			while (k > (int32_t)lim)
				k = c->ev[k].prev;
			c->cur[v] = k;
		}
	} else {
		cur_rescan(c, i);
		return;
	}
	c->pi = i;
	cur_invalidate_views(c);
}

/* Drop the exits before window index k, keeping every state at k. */
static int cur_compact(struct vcr_cursor *c, size_t k)
{
	if (k == 0)
		return 0;
	uint32_t ev0 = c->ex[k].ev;
	uint32_t own = c->ex[k].vcpu;
	/* The other vCPUs known at k get base entries. What the dropped
	 * events changed stays in st[] (the position is at k or after). */
	int32_t *at = malloc(c->nvcpus * sizeof(*at));
	if (!at)
		return -ENOMEM;
	for (uint32_t v = 0; v < c->nvcpus; v++)
		at[v] = -1;
	for (uint32_t e = 0; e < ev0; e++)
		at[c->ev[e].vcpu] = (int32_t)e;
	size_t nbase = 0;
	for (uint32_t v = 0; v < c->nvcpus; v++)
		if (v != own && at[v] >= 0)
			nbase++;
	/* In place (the array keeps its capacity, so a long forward walk
	 * reuses the same, cache-warm memory): the base entries are saved,
	 * the tail moves down behind them. */
	size_t ntail = c->nev - ev0;
	struct cur_event *base = nbase ? malloc(nbase * sizeof(*base)) : NULL;
	if (nbase && !base) {
		free(at);
		return -ENOMEM;
	}
	size_t n = 0;
	for (uint32_t v = 0; v < c->nvcpus; v++)
		if (v != own && at[v] >= 0) {
			base[n] = c->ev[at[v]];
			base[n].doff = 0;
			base[n++].dn = 0;
		}
	free(at);
	/* The deltas of the kept events start at the first one's. */
	uint32_t d0 = c->ev[ev0].doff;
	for (size_t e = ev0; e < c->nev; e++)
		c->ev[e].doff -= d0;
	if (d0 && c->ndw > d0) {
		memmove(c->dw, c->dw + d0, c->ndw - d0);
		memmove(c->dx, c->dx + d0, (c->ndw - d0) * sizeof(*c->dx));
	}
	c->ndw -= d0;
	c->napplied = c->napplied - ev0 + (uint32_t)nbase;
	memmove(c->ev + nbase, c->ev + ev0, ntail * sizeof(*c->ev));
	if (nbase)
		memcpy(c->ev, base, nbase * sizeof(*base));
	free(base);
	n = nbase + ntail;
	/* Relink and reindex. */
	int64_t shift = (int64_t)nbase - (int64_t)ev0;
	for (uint32_t v = 0; v < c->nvcpus; v++)
		c->wlast[v] = -1;
	for (size_t e = 0; e < n; e++) {
		c->ev[e].prev = c->wlast[c->ev[e].vcpu];
		c->wlast[c->ev[e].vcpu] = (int32_t)e;
	}
	c->nev = n;

	uint32_t x0 = c->ex[k].xfirst;
	/* Arena bytes of exits >= k and their extras start at the first
	 * arena offset any of them uses. */
	uint64_t a0 = c->ex[k].aoff;
	memmove(c->ex, c->ex + k, (c->nex - k) * sizeof(*c->ex));
	c->nex -= k;
	/* (The arrays may still be NULL when empty: no memmove then.) */
	if (c->nxs > x0)
		memmove(c->xs, c->xs + x0, (c->nxs - x0) * sizeof(*c->xs));
	c->nxs -= x0;
	if (c->alen > a0)
		memmove(c->arena, c->arena + a0, c->alen - a0);
	c->alen -= a0;
	for (size_t i = 0; i < c->nex; i++) {
		c->ex[i].ev = (uint32_t)((int64_t)c->ex[i].ev + shift);
		c->ex[i].xfirst -= x0;
		c->ex[i].aoff -= a0;
		c->ex[i].data_off -= a0;
	}
	for (size_t i = 0; i < c->nxs; i++) {
		if (c->xs[i].off != UINT64_MAX)
			c->xs[i].off -= a0;
		if (c->xs[i].type == VCR_REC_SET_STATE)
			c->xs[i].b = (uint32_t)((int64_t)c->xs[i].b + shift);
	}
	c->wbase += k;
	size_t pi = c->pi >= k ? c->pi - k : 0;
	cur_rescan(c, pi);
	return 0;
}

/* Stand on exit seq, reusing the window when possible. */
static int cur_goto_once(struct vcr_cursor *c, uint64_t seq)
{
	int rc;
	if (seq >= c->wbase && c->nex) {
		size_t i = (size_t)(seq - c->wbase);
		if (i < c->nex && (i + 1 < c->nex || c->wend)) {
			cur_moveto(c, i);
			return 0;
		}
		if (i < c->nex + CUR_FILL_AHEAD && c->rd_follows) {
			/* Just ahead: read on rather than seek. Keep the window
			 * bounded, with some history behind the position. */
			size_t low = c->pi < i ? c->pi : i;
			if (c->nex >= CUR_WINDOW_MAX && low > CUR_KEEP_BEHIND) {
				rc = cur_compact(c, low - CUR_KEEP_BEHIND);
				if (rc)
					return rc;
				i = (size_t)(seq - c->wbase);
			}
			rc = cur_ensure(c, i);
			if (rc)
				return rc;
			/* Read ahead; a failure here shows again, with its
			 * message, when a step gets there. */
			size_t ahead = i + CUR_READAHEAD;
			if (ahead > CUR_WINDOW_MAX)
				ahead = CUR_WINDOW_MAX;
			(void)cur_fill_upto(c, ahead);
			cur_moveto(c, i);
			return 0;
		}
	}
	uint64_t start = seq;
	if (seq < c->wbase && c->wbase - seq <= CUR_BACK_SPAN / 2)
		/* A little behind the window (stepping backwards): load a
		 * window that ends where this one starts, so that the next
		 * backward steps cost nothing. */
		start = c->wbase - c->first > CUR_BACK_SPAN ? c->wbase - CUR_BACK_SPAN : c->first;
	rc = cur_reset(c, start);
	if (rc)
		return rc;
	rc = cur_ensure(c, (size_t)(seq - start));
	if (rc)
		return rc;
	cur_rescan(c, (size_t)(seq - start));
	return 0;
}

/* cur_goto_once, and on failure back to where the cursor was if possible
 * (a damaged chunk must not leave the cursor without a position). */
static int cur_goto(struct vcr_cursor *c, uint64_t seq)
{
	if (seq < c->first || seq - c->first >= c->nexits)
		return vcr_err_set(&c->err, -ERANGE, UINT64_MAX, "no exit %llu (trace has %llu..%llu)",
				   (unsigned long long)seq, (unsigned long long)c->first,
				   (unsigned long long)(c->first + c->nexits - 1));
	bool had = c->nex > 0;
	uint64_t old = c->wbase + c->pi;
	int rc = cur_goto_once(c, seq);
	if (rc == 0)
		return 0;
	if (rc == -ERANGE)	/* the trace ended before its index said */
		rc = vcr_err_set(&c->err, -EBADMSG, UINT64_MAX,
				 "trace ends before exit %llu of %llu",
				 (unsigned long long)seq, (unsigned long long)c->nexits);
	struct vcr_err keep = c->err;
	if (had && old != seq && cur_goto_once(c, old) != 0) {
		c->nex = 0;	/* no position: accessors refuse */
		c->pi = 0;
	}
	if (!had)
		c->nex = 0;
	c->err = keep;
	return rc;
}

/* ------------------------------------------------------------ index */

/* Scan the whole trace once (second reader) for the exit->vCPU map, the
 * per-vCPU count blocks and the memory map. */
static int cur_build_index(struct vcr_cursor *c)
{
	if (c->idx_ok)
		return 0;
	struct vcr_reader *r2 = NULL;
	struct vcr_record *rec = NULL;
	uint64_t nblocks = c->nexits / CUR_BLOCK + 1;
	uint64_t *cnt = NULL;
	int rc = vcr_reader_open(&r2, c->path, &c->err);
	if (rc)
		return rc;
	rc = rmem_open(&c->mem, c->path);
	if (rc) {
		vcr_reader_close(r2);
		return rc;
	}
	rec = malloc(sizeof(*rec));
	c->exit_vcpu = malloc(c->nexits ? c->nexits : 1);
	c->blk_count = calloc(nblocks * c->nvcpus, sizeof(uint64_t));
	cnt = calloc(c->nvcpus, sizeof(*cnt));
	if (!rec || !c->exit_vcpu || !c->blk_count || !cnt) {
		rc = -ENOMEM;
		goto out;
	}
	uint64_t seen = 0;
	for (;;) {
		rc = vcr_reader_next(r2, rec);
		if (rc < 0) {
			const struct vcr_err *re = vcr_reader_error(r2);
			rc = vcr_err_set(&c->err, rc, re->offset, "indexing trace: %s", re->msg);
			goto out;
		}
		if (rc == 0)
			break;
		if (rec->type == VCR_REC_EXIT) {
			if (rec->seq != c->first + seen || seen >= c->nexits ||
			    rec->vcpu >= c->nvcpus) {
				rc = vcr_err_set(&c->err, -EBADMSG, UINT64_MAX,
						 "indexing trace: exit %llu (vCPU %u) out of order",
						 (unsigned long long)rec->seq, rec->vcpu);
				goto out;
			}
			if (seen % CUR_BLOCK == 0)
				memcpy(c->blk_count + (seen / CUR_BLOCK) * c->nvcpus, cnt,
				       c->nvcpus * sizeof(*cnt));
			c->exit_vcpu[seen++] = (uint8_t)rec->vcpu;
			cnt[rec->vcpu]++;
		} else {
			rc = rmem_add(c->mem, r2, rec, &c->err);
			if (rc)
				goto out;
		}
	}
	if (seen != c->nexits) {
		rc = vcr_err_set(&c->err, -EBADMSG, UINT64_MAX,
				 "indexing trace: %llu exits read, index says %llu",
				 (unsigned long long)seen, (unsigned long long)c->nexits);
		goto out;
	}
	rc = rmem_finish(c->mem, r2, &c->err);
	if (rc)
		goto out;
	c->idx_ok = true;
	rc = 0;
out:
	free(cnt);
	free(rec);
	vcr_reader_close(r2);
	if (rc) {
		free(c->exit_vcpu);
		free(c->blk_count);
		rmem_close(c->mem);
		c->exit_vcpu = NULL;
		c->blk_count = NULL;
		c->mem = NULL;
	}
	return rc;
}

/* Exits of vCPU v with seq <= s (index required). */
static uint64_t idx_count_upto(const struct vcr_cursor *c, uint32_t v, uint64_t s)
{
	s -= c->first;
	uint64_t b = s / CUR_BLOCK;
	uint64_t n = c->blk_count[b * c->nvcpus + v];
	for (uint64_t i = b * CUR_BLOCK; i <= s; i++)
		n += c->exit_vcpu[i] == v;
	return n;
}

/* ------------------------------------------------------------ API */

int vcr_cursor_open(struct vcr_cursor **out, const char *path, struct vcr_err *err)
{
	struct vcr_cursor *c = calloc(1, sizeof(*c));
	int rc;
	*out = NULL;
	if (!c)
		return vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
	c->path = strdup(path);
	if (!c->path) {
		rc = vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
		goto fail;
	}
	rc = vcr_reader_open(&c->rd, path, err);
	if (rc)
		goto fail;
	c->info = vcr_reader_info(c->rd);
	c->nvcpus = c->info->nvcpus;
	if (c->nvcpus == 0 || c->nvcpus > VCR_TRACE_MAX_VCPUS) {
		rc = vcr_err_set(err, -EBADMSG, UINT64_MAX, "%s: trace declares %u vCPUs",
				 path, c->nvcpus);
		goto fail;
	}
	struct vcr_reader_stats *st = malloc(sizeof(*st));
	c->vcpu_nexits = calloc(c->nvcpus, sizeof(*c->vcpu_nexits));
	c->wlast = malloc(c->nvcpus * sizeof(*c->wlast));
	c->cur = malloc(c->nvcpus * sizeof(*c->cur));
	c->st = calloc(c->nvcpus, sizeof(*c->st));
	if (!st || !c->vcpu_nexits || !c->wlast || !c->cur || !c->st) {
		free(st);
		rc = vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
		goto fail;
	}
	vcr_reader_get_stats(c->rd, st);
	c->nexits = st->exits;
	memcpy(c->vcpu_nexits, st->vcpu_exits, c->nvcpus * sizeof(*c->vcpu_nexits));
	free(st);
	if (c->nexits == 0) {
		rc = vcr_err_set(err, -ENODATA, UINT64_MAX, "%s: trace holds no exit", path);
		goto fail;
	}
	/* The first exit kept: 0, except for ring-mode traces. */
	for (;;) {
		rc = vcr_reader_next_ref(c->rd, &c->scratch, &c->sref);
		if (rc <= 0) {
			const struct vcr_err *re = vcr_reader_error(c->rd);
			rc = vcr_err_set(err, rc ? rc : -EBADMSG, re->offset,
					 "%s: cannot read the first exit: %s", path,
					 rc ? re->msg : "trace ends first");
			goto fail;
		}
		if (c->scratch.type == VCR_REC_EXIT)
			break;
	}
	c->first = c->scratch.seq;
	rc = cur_goto(c, c->first);
	if (rc) {
		if (err)
			*err = c->err;
		goto fail;
	}
	*out = c;
	return 0;
fail:
	vcr_cursor_close(c);
	return rc;
}

void vcr_cursor_close(struct vcr_cursor *c)
{
	if (!c)
		return;
	vcr_reader_close(c->rd);
	free(c->path);
	free(c->vcpu_nexits);
	free(c->ex);
	free(c->ev);
	free(c->xs);
	free(c->arena);
	free(c->wlast);
	free(c->cur);
	free(c->st);
	free(c->dw);
	free(c->dx);
	free(c->xrec);
	free(c->exit_vcpu);
	free(c->blk_count);
	rmem_close(c->mem);
	free(c);
}

const struct vcr_trace_info *vcr_cursor_info(const struct vcr_cursor *c)
{
	return c->info;
}

uint64_t vcr_cursor_nexits(const struct vcr_cursor *c)
{
	return c->nexits;
}

uint64_t vcr_cursor_vcpu_nexits(const struct vcr_cursor *c, uint32_t vcpu)
{
	return vcpu < c->nvcpus ? c->vcpu_nexits[vcpu] : 0;
}

uint64_t vcr_cursor_pos(const struct vcr_cursor *c)
{
	return c->wbase + c->pi;
}

uint64_t vcr_cursor_first(const struct vcr_cursor *c)
{
	return c->first;
}

int vcr_cursor_seek(struct vcr_cursor *c, uint64_t seq)
{
	return cur_goto(c, seq);
}

int vcr_cursor_seek_vcpu(struct vcr_cursor *c, uint32_t vcpu, uint64_t n)
{
	if (vcpu >= c->nvcpus || n >= c->vcpu_nexits[vcpu])
		return vcr_err_set(&c->err, -ERANGE, UINT64_MAX, "no exit %llu of vCPU %u",
				   (unsigned long long)n, vcpu);
	uint64_t seq;
	/* The window may hold it already. */
	for (size_t i = 0; i < c->nex; i++)
		if (c->ex[i].vcpu == vcpu && c->ex[i].vcpu_exit == n)
			return vcr_cursor_seek(c, c->wbase + i);
	int rc;
	if (c->idx_ok) {
		/* Binary search the per-vCPU counts. */
		uint64_t lo = c->first, hi = c->first + c->nexits - 1;
		while (lo < hi) {
			uint64_t mid = lo + (hi - lo) / 2;
			if (idx_count_upto(c, vcpu, mid) >= n + 1)
				hi = mid;
			else
				lo = mid + 1;
		}
		seq = lo;
	} else {
		/* The reader answers from its own chunk buffer, without moving
		 * its iteration (formats/trace_reader.c): rd_follows holds. */
		rc = vcr_reader_vcpu_exit_seq(c->rd, vcpu, n, &seq);
		if (rc)
			return cur_fail(c, rc, "looking up vCPU exit");
	}
	return vcr_cursor_seek(c, seq);
}

int vcr_cursor_step(struct vcr_cursor *c, int dir, uint32_t vcpu)
{
	if (__builtin_expect(dir == 1 && vcpu == UINT32_MAX && c->pi + 2 < c->nex, 1)) {
		/* The common forward step: the next exit and its extras are
		 * decoded (so it is in the trace). */
		cur_moveto(c, c->pi + 1);
		return 0;
	}
	uint64_t pos = vcr_cursor_pos(c);
	if (dir == 0)
		return 0;
	if (vcpu == UINT32_MAX || (c->nvcpus == 1 && vcpu == 0)) {
		if (dir > 0) {
			if (pos + 1 - c->first >= c->nexits)
				return -ERANGE;
			if (c->nex && c->pi + 2 < c->nex) {
				/* The next exit and its extras are decoded. */
				cur_moveto(c, c->pi + 1);
				return 0;
			}
			return cur_goto(c, pos + 1);
		}
		if (pos == c->first)
			return -ERANGE;
		return cur_goto(c, pos - 1);
	}
	if (vcpu >= c->nvcpus)
		return -ERANGE;
	/* Look in the window first. */
	if (dir > 0) {
		for (size_t i = c->pi + 1; i < c->nex; i++)
			if (c->ex[i].vcpu == vcpu)
				return cur_goto(c, c->wbase + i);
	} else {
		for (size_t i = c->pi; i-- > 0;)
			if (c->ex[i].vcpu == vcpu)
				return cur_goto(c, c->wbase + i);
	}
	int rc = cur_build_index(c);
	if (rc)
		return rc;
	if (dir > 0) {
		uint64_t i = pos - c->first;
		const uint8_t *p = memchr(c->exit_vcpu + i + 1, (int)vcpu, c->nexits - i - 1);
		if (!p)
			return -ERANGE;
		return cur_goto(c, c->first + (uint64_t)(p - c->exit_vcpu));
	}
	const uint8_t *p = memrchr(c->exit_vcpu, (int)vcpu, pos - c->first);
	if (!p)
		return -ERANGE;
	return cur_goto(c, c->first + (uint64_t)(p - c->exit_vcpu));
}

uint32_t vcr_cursor_vcpu(const struct vcr_cursor *c)
{
	return c->nex ? c->ex[c->pi].vcpu : UINT32_MAX;
}

const struct vcr_record *vcr_cursor_exit(const struct vcr_cursor *cc)
{
	/* The view is built on demand; the cursor object itself is never const
	 * (it comes from calloc), only the caller's handle is. */
	struct vcr_cursor *c = (struct vcr_cursor *)cc;
	if (!c->nex)
		return NULL;	/* lost its position after a read error */
	if (!c->rec_ok) {
		const struct cur_exit *x = &c->ex[c->pi];
		struct vcr_record *r = &c->rec;
		r->type = VCR_REC_EXIT;
		r->vcpu = x->vcpu;
		r->seq = c->wbase + c->pi;
		r->vcpu_exit = x->vcpu_exit;
		r->u.exit.valid = x->valid;
		r->u.exit.exit.reason = x->reason;
		r->u.exit.exit.data_len = x->data_len;
		if (x->ulen == 16) {
			memcpy(&r->u.exit.exit.u, x->u16, 16);
			memset((uint8_t *)&r->u.exit.exit.u + 16, 0, sizeof(cur_exit_payload) - 16);
		} else {
			memcpy(&r->u.exit.exit.u, c->arena + CUR_U_OFF(x), sizeof(cur_exit_payload));
		}
		if (x->data_len)
			memcpy(r->u.exit.exit.data, c->arena + x->data_off, x->data_len);
		r->u.exit.state = c->st[x->vcpu];
		c->rec_ok = true;
	}
	return &c->rec;
}

int vcr_cursor_state(const struct vcr_cursor *c, uint32_t vcpu, struct vcr_vcpu_state *st)
{
	if (!c->nex)
		return -EIO;
	if (vcpu >= c->nvcpus || c->cur[vcpu] < 0)
		return -ENOENT;
	vcr_copy8n(st, &c->st[vcpu], sizeof(*st));
	return 0;
}

const struct vcr_vcpu_state *vcr_cursor_state_ref(const struct vcr_cursor *c, uint32_t vcpu)
{
	if (!c->nex || vcpu >= c->nvcpus || c->cur[vcpu] < 0)
		return NULL;
	return &c->st[vcpu];
}

int vcr_cursor_vcpu_index(const struct vcr_cursor *cc, uint32_t vcpu, uint64_t *n)
{
	struct vcr_cursor *c = (struct vcr_cursor *)cc;	/* see vcr_cursor_exit */
	if (!c->nex)
		return -EIO;
	if (vcpu >= c->nvcpus)
		return -ENOENT;
	int32_t e = c->cur[vcpu];
	if (e >= 0 && c->ev[e].vcpu_exit != UINT64_MAX) {
		*n = c->ev[e].vcpu_exit;
		return 0;
	}
	uint64_t pos = vcr_cursor_pos(c);
	if (c->nvcpus == 1) {
		*n = pos;
		return 0;
	}
	int rc = cur_build_index(c);
	if (rc)
		return rc;
	uint64_t k = idx_count_upto(c, vcpu, pos);
	if (k == 0)
		return -ENOENT;
	*n = k - 1;
	return 0;
}

const struct vcr_record *vcr_cursor_extras(const struct vcr_cursor *cc, size_t *n)
{
	struct vcr_cursor *c = (struct vcr_cursor *)cc;	/* see vcr_cursor_exit */
	*n = 0;
	if (!c->nex)
		return NULL;
	const struct cur_exit *x = &c->ex[c->pi];
	*n = x->xcount;
	if (!x->xcount)
		return NULL;
	if (!c->xrec_ok) {
		if (cur_grow((void **)&c->xrec, &c->capxrec, x->xcount, sizeof(*c->xrec))) {
			*n = 0;
			return NULL;
		}
		for (uint32_t i = 0; i < x->xcount; i++) {
			const struct cur_extra *s = &c->xs[x->xfirst + i];
			struct vcr_record *r = &c->xrec[i];
			const char *text = s->off == UINT64_MAX ? NULL : (const char *)c->arena + s->off;
			r->type = s->type;
			r->vcpu = s->vcpu;
			r->seq = s->seq;
			r->vcpu_exit = 0;
			switch (s->type) {
			case VCR_REC_INPUT:
				r->u.input.kind = s->a;
				r->u.input.len = s->b;
				memcpy(r->u.input.data, c->arena + s->off, s->b);
				break;
			case VCR_REC_SET_STATE:
				r->u.set_state.dirty = s->a;
				/* The state at the position with the vCPU's
				 * events up to this one applied. */
				r->u.set_state.state = c->st[s->vcpu];
				for (uint32_t e = c->napplied; e <= s->b; e++)
					if (c->ev[e].vcpu == s->vcpu)
						cur_apply(c, &c->ev[e], &r->u.set_state.state);
				break;
			case VCR_REC_INJECT:
				r->u.inject.kind = s->a;
				r->u.inject.vector = s->b;
				break;
			case VCR_REC_MEM_WRITE:
			case VCR_REC_MEM_PAGES:
				r->u.mem.gpa = s->gpa;
				r->u.mem.len = s->len;
				r->u.mem.data = c->arena + s->off;
				break;
			case VCR_REC_MARKER:
				r->u.marker.text = text;
				break;
			case VCR_REC_IRQ_LINE:
				r->u.irq_line.gsi = s->a;
				r->u.irq_line.level = s->b;
				r->u.irq_line.flags = (uint32_t)s->len;
				break;
			case VCR_REC_NOTE:
				r->u.note.kind = s->a;
				r->u.note.len = s->b;
				r->u.note.text = text;
				break;
			case VCR_REC_END:
				r->u.end.how = s->a;
				r->u.end.status = (int32_t)s->b;
				r->u.end.msg = text;
				break;
			case VCR_REC_CKPT:
				r->u.ckpt.flags = s->a;
				r->u.ckpt.number = s->b;
				r->u.ckpt.gpa = s->gpa;
				r->u.ckpt.npages = s->len;
				r->u.ckpt.dirty = r->u.ckpt.stored = NULL;
				break;
			case VCR_REC_CKPT_PAGES:
				r->u.ckpt_pages.count = s->a;
				r->u.ckpt_pages.number = s->b;
				r->u.ckpt_pages.gpa = s->gpa;
				r->u.ckpt_pages.first = s->len;
				r->u.ckpt_pages.len = 0;
				r->u.ckpt_pages.data = NULL;
				break;
			default:
				break;
			}
		}
		c->xrec_ok = true;
	}
	return c->xrec;
}

int vcr_cursor_read_mem(struct vcr_cursor *c, uint64_t gpa, void *buf, size_t len)
{
	int rc = cur_build_index(c);
	return rc ? rc : rmem_read(c->mem, vcr_cursor_pos(c), gpa, buf, len, false);
}

int vcr_cursor_read_mem_stale(struct vcr_cursor *c, uint64_t gpa, void *buf, size_t len)
{
	int rc = cur_build_index(c);
	return rc ? rc : rmem_read(c->mem, vcr_cursor_pos(c), gpa, buf, len, true);
}

const char *vcr_mem_class_name(enum vcr_mem_class cls)
{
	switch (cls) {
	case VCR_MEM_UNKNOWN: return "unknown";
	case VCR_MEM_UNTRACKED: return "untracked";
	case VCR_MEM_STALE: return "stale";
	case VCR_MEM_EXACT: return "exact";
	}
	return "?";
}

int vcr_cursor_mem_ranges(struct vcr_cursor *c,
			  int (*fn)(void *arg, const struct vcr_mem_range *r), void *arg)
{
	int rc = cur_build_index(c);
	return rc ? rc : rmem_ranges(c->mem, vcr_cursor_pos(c), fn, arg);
}

int vcr_cursor_mem_class(struct vcr_cursor *c, uint64_t gpa, struct vcr_mem_range *r)
{
	int rc = cur_build_index(c);
	return rc ? rc : rmem_class(c->mem, vcr_cursor_pos(c), gpa, r);
}

int vcr_cursor_mem_info(struct vcr_cursor *c, struct vcr_cursor_mem_info *mi)
{
	int rc = cur_build_index(c);
	if (rc)
		return rc;
	mi->checkpoints = rmem_ncheckpoints(c->mem);
	mi->damaged = rmem_damage(c->mem, &mi->damage_msg);
	return 0;
}

const struct vcr_err *vcr_cursor_error(const struct vcr_cursor *c)
{
	return &c->err;
}
