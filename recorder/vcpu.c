/*
 * recorder/vcpu.c: the producer side of the recorder: every hook that puts
 * a record into a ring, and nothing else (no decoding, no trace writing).
 * The per-vCPU hooks run on the vCPU's thread and are what the recorder is
 * judged by (instructions per exit on that thread, bench/record_callgrind.sh):
 * after_run's fast path (after_run_fast.h, twice: AVX2 and baseline) with
 * its slow path, before_run, inject, vcpu_mem_write, vcpu_irq_line and
 * vcpu_note; then the control ring's producers (other threads: mem_write,
 * marker, irq_line, note) and the vmm_observer
 * adapter, whose callbacks inline the fast paths. See recorder.h for the
 * contract, layout.h for the records, ring.h for the ring.
 */
#include "recorder/internal.h"

#include <pthread.h>
#include <string.h>
#include <immintrin.h>

#include "core/state.h"
#include "vmm/vmm.h"

#define REC_MARKER_MAX 4000u

/* What the next before_run owes the trace: the VMM's answer to the exit
 * after_run recorded. NONE, IO_IN and MMIO_READ (the slow path validates
 * the run page again), or, from the after_run fast path, the first header
 * word of the one-slot INPUT record to write (REC_PENDING_IN8(kind), never
 * a small value): in_n <= 8 bytes at in_src, 8 bytes readable there. */
enum rec_pending {
	REC_PENDING_NONE = 0,
	REC_PENDING_IO_IN,
	REC_PENDING_MMIO_READ,
};
#define REC_PENDING_IN8(kind) \
	(VCR_RING_SLOT | (uint64_t)VCR_RING_INPUT << 32 | (uint64_t)(kind) << 48)
#define REC_PENDING_IS_IN8(p) ((p) >= VCR_RING_SLOT)

/* ---- vCPU-thread side ------------------------------------------------- */

struct vcr_recorder_vcpu *vcr_recorder_vcpu(struct vcr_recorder *r, uint32_t index)
{
	if (!r || index >= r->nvcpus)
		return NULL;
	return &r->vcpus[index];
}

/* 32-byte vectors (any alignment; the fast layout's are aligned but the
 * union's): AVX2 moves in the avx2 clone of after_run,
 * pairs of SSE2 moves in the default one. Explicit, because GCC turns a
 * 520-byte memcpy into `rep movsq`, whose start-up costs more than the
 * copy at this size. */
typedef uint8_t rec_v32 __attribute__((vector_size(32), aligned(1), may_alias));

static inline __attribute__((always_inline)) void rec_copy32(void *dst, const void *src)
{
	*(rec_v32 *)dst = *(const rec_v32 *)src;
}

/* Exits whose kvm_run payload fits REC_UNION_SMALL bytes. */
static inline bool rec_small_union(uint32_t reason)
{
	const uint32_t small = 1u << KVM_EXIT_UNKNOWN | 1u << KVM_EXIT_IO |
			       1u << KVM_EXIT_HLT | 1u << KVM_EXIT_MMIO | 1u << KVM_EXIT_SHUTDOWN |
			       1u << KVM_EXIT_FAIL_ENTRY | 1u << KVM_EXIT_INTR;
	return reason < 32 && (small >> reason & 1);
}

/* kvm_run from kvm_valid_regs to the end of s.regs (REC_XF_RUN_FULL
 * bytes): 16 aligned vectors and one overlapping the last. */
static inline __attribute__((always_inline)) void rec_copy_run_full(void *dst, const void *src)
{
#pragma GCC unroll 16
	for (int i = 0; i < 16; i++)
		rec_copy32((uint8_t *)dst + 32 * i, (const uint8_t *)src + 32 * i);
	rec_copy32((uint8_t *)dst + REC_XF_RUN_FULL - 32,
		   (const uint8_t *)src + REC_XF_RUN_FULL - 32);
}

static inline __attribute__((always_inline)) void rec_copy_se(void *dst, const void *src)
{
#pragma GCC unroll 11
	for (int i = 0; i < 11; i++)
		rec_copy32((uint8_t *)dst + 32 * i, (const uint8_t *)src + 32 * i);
	rec_copy32((uint8_t *)dst + REC_SE_SIZE - 32, (const uint8_t *)src + REC_SE_SIZE - 32);
}

/* The general path of after_run: any exit, any state of the ring (padding
 * at its end, full). Always writes a full EXIT. */
static void __attribute__((noinline))
rec_after_run_slow(struct vcr_recorder_vcpu *v, const struct kvm_run *run)
{
	uint32_t reason = run->exit_reason;
	uint32_t ulen = REC_UNION_SMALL;
	uint32_t dlen = 0;
	const uint8_t *dsrc = NULL;

	switch (reason) {
	case KVM_EXIT_IO:
		if (run->io.direction == KVM_EXIT_IO_OUT) {
			uint64_t n = (uint64_t)run->io.size * run->io.count;
			uint64_t off = run->io.data_offset;
			/* KVM puts the data in the run mapping; bound it
			 * anyway, the decoder refuses what falls outside. */
			if (off <= v->run_size && n <= v->run_size - off &&
			    n <= VCR_EXIT_DATA_MAX) {
				dlen = (uint32_t)n;
				dsrc = (const uint8_t *)run + off;
			}
		} else {
			v->pending = REC_PENDING_IO_IN;
		}
		break;
	case KVM_EXIT_MMIO:
		if (!run->mmio.is_write)
			v->pending = REC_PENDING_MMIO_READ;
		break;
	default:
		if (!rec_small_union(reason))
			ulen = REC_UNION_FULL;
		break;
	}

	uint32_t len = vcr_ring_round(REC_EXIT_FULL_BYTES + ulen +
				      (dlen > REC_INLINE_DATA ? dlen : REC_INLINE_DATA));
	struct rr_exit *e = vcr_ring_reserve(&v->ring, len);
	if (!e)
		return;
	e->h.len = len;
	e->h.kind = VCR_RING_EXIT;
	e->h.arg = (uint16_t)ulen;
	e->reason = reason;
	e->dlen = (uint16_t)dlen;
	e->valid = (uint8_t)(run->kvm_valid_regs & VCR_CLASS_ALL);
	e->pad = 0;
	memcpy(&e->st, &run->s.regs, sizeof(e->st));
	memcpy(v->se, (const uint8_t *)&run->s.regs + REC_SE_OFF, REC_SE_SIZE);
	memset(v->se_poison, 0, sizeof(v->se_poison));
	uint8_t *bytes = (uint8_t *)e + REC_EXIT_FULL_BYTES;
	memcpy(bytes, &run->hw, ulen);
	if (dlen)
		memcpy(bytes + ulen, dsrc, dlen);
	vcr_ring_commit(&v->ring);
}

/* sregs + events equal to the last full EXIT's (and one full EXIT done:
 * se_poison is non-zero before)? AVX2: 12 vectors (the last overlaps the
 * 11th) XOR-ed and OR-ed, one vptest. */
__attribute__((target("avx2"))) static inline __attribute__((always_inline)) bool
rec_se_same_avx2(const uint8_t *sse, const struct vcr_recorder_vcpu *v)
{
	__m256i acc = _mm256_load_si256((const __m256i *)v->se_poison);
#pragma GCC unroll 11
	for (int i = 0; i < 11; i++)
		acc = _mm256_or_si256(acc, _mm256_xor_si256(
			_mm256_loadu_si256((const __m256i *)(sse + 32 * i)),
			_mm256_load_si256((const __m256i *)(v->se + 32 * i))));
	acc = _mm256_or_si256(acc, _mm256_xor_si256(
		_mm256_loadu_si256((const __m256i *)(sse + REC_SE_SIZE - 32)),
		_mm256_loadu_si256((const __m256i *)(v->se + REC_SE_SIZE - 32))));
	return _mm256_testz_si256(acc, acc);
}

/* The same with SSE2 (baseline x86-64): 24 vectors, one pcmpeqb/pmovmskb. */
static inline __attribute__((always_inline)) bool
rec_se_same_sse2(const uint8_t *sse, const struct vcr_recorder_vcpu *v)
{
	__m128i acc = _mm_load_si128((const __m128i *)v->se_poison);
#pragma GCC unroll 23
	for (int i = 0; i < 23; i++)
		acc = _mm_or_si128(acc, _mm_xor_si128(
			_mm_loadu_si128((const __m128i *)(sse + 16 * i)),
			_mm_load_si128((const __m128i *)(v->se + 16 * i))));
	acc = _mm_or_si128(acc, _mm_xor_si128(
		_mm_loadu_si128((const __m128i *)(sse + REC_SE_SIZE - 16)),
		_mm_loadu_si128((const __m128i *)(v->se + REC_SE_SIZE - 16))));
	return _mm_movemask_epi8(_mm_cmpeq_epi8(acc, _mm_setzero_si128())) == 0xffff;
}

static inline void rec_clear_poison(struct vcr_recorder_vcpu *v)
{
	memset(v->se_poison, 0, sizeof(v->se_poison));
}

/* prfchw: the ring prefetch becomes prefetchw, which takes the line
 * exclusive (the writer's core may hold it shared from its last lap); CPUs
 * without it run the opcode as a NOP. */
/*
 * The writes of the after_run fast path (fast layout). A short EXIT is the
 * first 3 slots of a full one, so rec_fast_short writes those, header
 * included, before the sregs + events compare is known; when that compare
 * fails (rare), rec_fast_full adds the rest and rewrites the header. Why
 * this order: a store can leave the store buffer only once it and every
 * older instruction have retired, and the compare (24 loads, an OR tree,
 * vptest) is the last thing to resolve; with the record's stores older
 * than the branch on it, they drain while the compare completes, and only
 * the publishing store of `head` waits for it. It is also one instruction
 * an exit fewer than compare-then-write (bench/README.md, "Recorder
 * optimisations, re-judged").
 */
static inline __attribute__((always_inline)) void
rec_fast_short(uint8_t *e, const struct kvm_run *run, uint64_t hdr, uint64_t d)
{
	const uint8_t *src = (const uint8_t *)run + REC_XF_RUN_OFF;
	/* The union's 24 bytes as one 32-byte copy: its last 8 bytes land on
	 * [32, 40), which the next copy overwrites (stores keep their
	 * order). */
	rec_copy32(e + REC_XF_UNION, &run->hw);
#pragma GCC unroll 5
	for (int i = 0; i < 5; i++)
		rec_copy32(e + REC_XF_VALID + 32 * i, src + 32 * i);
	*(rec_u64u *)(e + REC_XF_DATA) = d;
	*(rec_u64u *)e = hdr | REC_XF_SHORT_SLOTS * VCR_RING_SLOT | (uint64_t)REC_XF_SHORT << 48;
}

/* sregs and events changed: the rest of a full EXIT at e (which holds a
 * short one, unpublished), and the new sregs + events to compare the next
 * exits with. False when the full record does not fit before the end of
 * the ring or the ring is full by the cached view of tail (the caller
 * takes the slow path, which writes over it). */
static inline __attribute__((always_inline)) bool
rec_fast_full(struct vcr_recorder_vcpu *v, uint8_t *e, uint64_t head, const struct kvm_run *run,
	      uint64_t hdr)
{
	const uint64_t len = REC_XF_FULL_SLOTS * VCR_RING_SLOT;
	const uint8_t *sse = (const uint8_t *)&run->s.regs + REC_SE_OFF;
	struct vcr_ring *g = &v->ring;

	if (__builtin_expect(head + len > g->p_limit, 0))
		return false;
	_Static_assert(REC_XF_STATE + REC_SE_OFF == REC_XF_SHORT_SLOTS * VCR_RING_SLOT,
		       "sregs + events follow a short EXIT");
	rec_copy_se(e + REC_XF_STATE + REC_SE_OFF, sse);
	rec_copy_se(v->se, sse);
	rec_clear_poison(v);
	*(rec_u64u *)e = hdr | len;
	__atomic_store_n(&g->head, head + len, __ATOMIC_RELEASE);
	return true;
}

#define REC_FAST_NAME vcr_recorder_after_run_avx2
#define REC_FAST_ATTR __attribute__((target("avx2,prfchw")))
#define REC_FAST_SE_SAME rec_se_same_avx2
#include "recorder/after_run_fast.h"
#undef REC_FAST_NAME
#undef REC_FAST_ATTR
#undef REC_FAST_SE_SAME

#define REC_FAST_NAME vcr_recorder_after_run_sse2
#define REC_FAST_ATTR
#define REC_FAST_SE_SAME rec_se_same_sse2
#include "recorder/after_run_fast.h"
#undef REC_FAST_NAME
#undef REC_FAST_ATTR
#undef REC_FAST_SE_SAME

typedef void rec_after_run_fn(struct vcr_recorder_vcpu *v, const struct kvm_run *run);

/* Runs while the dynamic loader relocates, before the sanitizers' runtime
 * is up: no instrumentation. */
__attribute__((no_sanitize("address", "undefined")))
static rec_after_run_fn *rec_after_run_resolve(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") ? vcr_recorder_after_run_avx2
					      : vcr_recorder_after_run_sse2;
}

void vcr_recorder_after_run(struct vcr_recorder_vcpu *v, const struct kvm_run *run)
	__attribute__((ifunc("rec_after_run_resolve")));

/* can_over_read: 8 bytes may be read at data whatever n (then the ring
 * record, at least 64 bytes, takes them too). */
static inline __attribute__((always_inline)) void
rec_input(struct vcr_recorder_vcpu *v, uint32_t kind, const void *data, uint32_t n,
	  bool can_over_read)
{
	uint32_t len = vcr_ring_round(offsetof(struct rr_input, data) +
				      (n > REC_INLINE_DATA ? n : REC_INLINE_DATA));
	struct rr_input *in = vcr_ring_reserve(&v->ring, len);
	if (!in)
		return;
	in->h.len = len;
	in->h.kind = VCR_RING_INPUT;
	in->h.arg = (uint16_t)kind;
	in->len = n;
	if (n <= REC_INLINE_DATA && can_over_read)
		*(rec_u64u *)in->data = *(const rec_u64u *)data;
	else
		memcpy(in->data, data, n);
	vcr_ring_commit(&v->ring);
}

static void __attribute__((noinline))
rec_before_run_slow(struct vcr_recorder_vcpu *v, const struct kvm_run *run)
{
	uint64_t pending = v->pending;

	v->pending = REC_PENDING_NONE;
	/* The run page still holds the exit that asked for the data: KVM
	 * rewrites it only inside the coming KVM_RUN. */
	if (pending == REC_PENDING_IO_IN && run->exit_reason == KVM_EXIT_IO &&
	    run->io.direction == KVM_EXIT_IO_IN) {
		uint64_t n = (uint64_t)run->io.size * run->io.count;
		uint64_t off = run->io.data_offset;
		if (off <= v->run_size && n <= v->run_size - off && n <= VCR_EXIT_DATA_MAX)
			rec_input(v, VCR_INPUT_IO_IN, (const uint8_t *)run + off, (uint32_t)n,
				  off + REC_INLINE_DATA <= v->run_size);
	} else if (REC_PENDING_IS_IN8(pending)) {
		rec_input(v, (uint32_t)(pending >> 48), v->in_src, (uint32_t)v->in_n, true);
	} else if (pending == REC_PENDING_MMIO_READ && run->exit_reason == KVM_EXIT_MMIO &&
		   !run->mmio.is_write) {
		uint32_t n = run->mmio.len <= 8 ? run->mmio.len : 8;
		rec_input(v, VCR_INPUT_MMIO_READ, run->mmio.data, n, true);
	}

	uint32_t dirty = (uint32_t)run->kvm_dirty_regs & VCR_CLASS_ALL;
	if (dirty) {
		uint32_t len = vcr_ring_round(sizeof(struct rr_set_state));
		struct rr_set_state *s = vcr_ring_reserve(&v->ring, len);
		if (!s)
			return;
		s->h.len = len;
		s->h.kind = VCR_RING_SET_STATE;
		s->h.arg = (uint16_t)dirty;
		memcpy(&s->st, &run->s.regs, sizeof(s->st));
		vcr_ring_commit(&v->ring);
	}
}

static inline __attribute__((always_inline)) void
rec_before_run(struct vcr_recorder_vcpu *v, const struct kvm_run *run)
{
	uint64_t pending = v->pending;
	uint32_t dirty = (uint32_t)run->kvm_dirty_regs & VCR_CLASS_ALL;

	if (__builtin_expect(!(pending | dirty), 1))
		return;
	/* The answer to an IN / MMIO read of up to 8 bytes, as after_run's
	 * fast path left it: one INPUT slot whose header word is `pending`,
	 * no re-validation (the run page keeps the exit until the coming
	 * KVM_RUN). */
	if (__builtin_expect(REC_PENDING_IS_IN8(pending) && !dirty, 1)) {
		struct vcr_ring *g = &v->ring;
		uint64_t head = vcr_ring_phead(g);
		if (__builtin_expect(head + VCR_RING_SLOT <= g->p_limit, 1)) {
			uint8_t *e = g->buf + (head & g->mask);
			vcr_ring_prefetch(g, head, VCR_RING_SLOT);
			_Static_assert(offsetof(struct rr_input, data) == 16, "INPUT layout");
			*(rec_u64u *)e = pending;
			*(rec_u64u *)(e + 8) = v->in_n;
			*(rec_u64u *)(e + 16) = *(const rec_u64u *)v->in_src;
			v->pending = REC_PENDING_NONE;
			__atomic_store_n(&g->head, head + VCR_RING_SLOT, __ATOMIC_RELEASE);
			return;
		}
	}
	rec_before_run_slow(v, run);
}

void vcr_recorder_before_run(struct vcr_recorder_vcpu *v, const struct kvm_run *run)
{
	rec_before_run(v, run);
}

void vcr_recorder_inject(struct vcr_recorder_vcpu *v, uint32_t kind, uint32_t vector)
{
	uint32_t len = vcr_ring_round(sizeof(struct rr_inject));
	struct rr_inject *in = vcr_ring_reserve(&v->ring, len);
	if (!in)
		return;
	in->h.len = len;
	in->h.kind = VCR_RING_INJECT;
	in->h.arg = (uint16_t)kind;
	in->vector = vector;
	vcr_ring_commit(&v->ring);
}

/* One IRQ_LINE record into ring (a vCPU's, or the control ring under its
 * lock). */
static void rec_irq_line_ring(struct vcr_ring *ring, uint32_t gsi, uint32_t level,
			      uint32_t flags)
{
	uint32_t len = vcr_ring_round(sizeof(struct rr_irq_line));
	struct rr_irq_line *q = vcr_ring_reserve(ring, len);
	if (!q)
		return;
	q->h.len = len;
	q->h.kind = VCR_RING_IRQ_LINE;
	q->h.arg = (uint16_t)flags;
	q->gsi = gsi;
	q->level = level;
	vcr_ring_commit(ring);
}

void vcr_recorder_vcpu_irq_line(struct vcr_recorder_vcpu *v, uint32_t gsi, uint32_t level)
{
	rec_irq_line_ring(&v->ring, gsi, level, 0);
}

/* One NOTE record into ring; text longer than the ring can carry (or than
 * VCR_NOTE_MAX) keeps its end: a console's newest lines. */
static void rec_note_ring(struct vcr_ring *ring, uint32_t kind, const char *text, size_t n)
{
	uint64_t max = vcr_ring_max_record(ring) - offsetof(struct rr_note, text) - 1;
	if (max > VCR_NOTE_MAX)
		max = VCR_NOTE_MAX;
	if (!text)
		n = 0;
	if (n > max) {
		text += n - max;
		n = (size_t)max;
	}
	uint32_t len = vcr_ring_round(offsetof(struct rr_note, text) + n + 1);
	struct rr_note *m = vcr_ring_reserve(ring, len);
	if (!m)
		return;
	m->h.len = len;
	m->h.kind = VCR_RING_NOTE;
	m->h.arg = 0;
	m->kind = kind;
	m->len = (uint32_t)n;
	if (n)
		memcpy(m->text, text, n);
	m->text[n] = 0;
	vcr_ring_commit(ring);
}

void vcr_recorder_vcpu_note(struct vcr_recorder_vcpu *v, uint32_t kind, const char *text,
			    size_t len)
{
	rec_note_ring(&v->ring, kind, text, len);
}

/* The most VMM-written bytes one ring record of ring carries. */
static uint64_t rec_mem_piece_max(const struct vcr_ring *ring)
{
	uint64_t max = vcr_ring_max_record(ring) - offsetof(struct rr_mem, data);
	return max & ~(uint64_t)(VCR_RING_SLOT - 1);
}

/* Put [gpa, gpa+len) into ring in pieces a ring can carry. */
static void rec_mem_write_ring(struct vcr_ring *ring, uint64_t gpa, const void *data,
			       uint64_t len)
{
	const uint8_t *p = data;
	uint64_t max = rec_mem_piece_max(ring);

	do {
		uint64_t n = len < max ? len : max;
		uint32_t rlen = vcr_ring_round(offsetof(struct rr_mem, data) + n);
		struct rr_mem *m = vcr_ring_reserve(ring, rlen);
		if (!m)
			return;
		m->h.len = rlen;
		m->h.kind = VCR_RING_MEM_WRITE;
		m->h.arg = 0;
		m->gpa = gpa;
		m->len = n;
		memcpy(m->data, p, n);
		vcr_ring_commit(ring);
		gpa += n;
		p += n;
		len -= n;
	} while (len);
}

void vcr_recorder_vcpu_mem_write(struct vcr_recorder_vcpu *v, uint64_t gpa,
				 const void *data, uint64_t len)
{
	rec_mem_write_ring(&v->ring, gpa, data, len);
}

/* ---- other threads ------------------------------------------------------ */

/* Under control_lock: when any vCPU has published records, a FENCE with
 * their heads (none before the run: the loader's writes need none). */
void vcr_rec_control_fence(struct vcr_recorder *r)
{
	uint64_t any = 0;
	for (uint32_t i = 0; i < r->nvcpus; i++)
		any |= __atomic_load_n(&r->vcpus[i].ring.head, __ATOMIC_ACQUIRE);
	if (!any)
		return;
	uint32_t len = vcr_ring_round(offsetof(struct rr_fence, head) +
				      (uint64_t)r->nvcpus * sizeof(uint64_t));
	struct rr_fence *f = vcr_ring_reserve(&r->control, len);
	if (!f)
		return;
	f->h.len = len;
	f->h.kind = VCR_RING_FENCE;
	f->h.arg = 0;
	f->n = r->nvcpus;
	/* Read again after the check: a head only grows, and the later the
	 * value the more exits are (rightly) ordered before the record. */
	for (uint32_t i = 0; i < r->nvcpus; i++)
		f->head[i] = __atomic_load_n(&r->vcpus[i].ring.head, __ATOMIC_ACQUIRE);
	vcr_ring_commit(&r->control);
}

void vcr_recorder_mem_write(struct vcr_recorder *r, uint64_t gpa, const void *data,
			    uint64_t len)
{
	uint8_t *copy = len > rec_mem_piece_max(&r->control) ? malloc(len) : NULL;
	if (copy)
		memcpy(copy, data, len);
	pthread_mutex_lock(&r->control_lock);
	vcr_rec_control_fence(r);
	if (copy) {
		uint32_t rlen = vcr_ring_round(sizeof(struct rr_mem_buf));
		struct rr_mem_buf *m = vcr_ring_reserve(&r->control, rlen);
		if (m) {
			m->h.len = rlen;
			m->h.kind = VCR_RING_MEM_BUF;
			m->h.arg = 0;
			m->gpa = gpa;
			m->len = len;
			m->buf = copy;
			vcr_ring_commit(&r->control);
		} else {
			free(copy);
		}
	} else {
		/* Small, or no memory for a copy: through the ring. */
		rec_mem_write_ring(&r->control, gpa, data, len);
	}
	pthread_mutex_unlock(&r->control_lock);
}

void vcr_recorder_marker(struct vcr_recorder *r, const char *text)
{
	size_t n = strnlen(text, REC_MARKER_MAX);
	uint32_t len = vcr_ring_round(offsetof(struct rr_marker, text) + n + 1);

	pthread_mutex_lock(&r->control_lock);
	vcr_rec_control_fence(r);
	struct rr_marker *m = vcr_ring_reserve(&r->control, len);
	if (m) {
		m->h.len = len;
		m->h.kind = VCR_RING_MARKER;
		m->h.arg = 0;
		memcpy(m->text, text, n);
		m->text[n] = 0;
		vcr_ring_commit(&r->control);
	}
	pthread_mutex_unlock(&r->control_lock);
}

void vcr_recorder_irq_line(struct vcr_recorder *r, uint32_t gsi, uint32_t level)
{
	pthread_mutex_lock(&r->control_lock);
	vcr_rec_control_fence(r);
	rec_irq_line_ring(&r->control, gsi, level, VCR_IRQ_ASYNC);
	pthread_mutex_unlock(&r->control_lock);
}

void vcr_recorder_note(struct vcr_recorder *r, uint32_t kind, const char *text, size_t len)
{
	pthread_mutex_lock(&r->control_lock);
	vcr_rec_control_fence(r);
	rec_note_ring(&r->control, kind, text, len);
	pthread_mutex_unlock(&r->control_lock);
}

/* ---- vmm_observer adapter ---------------------------------------------- */

/* The observer's after_run, one per variant of the fast path (chosen when
 * the observer is filled), with the fast path inlined: no second call and
 * no ifunc jump per exit. */
__attribute__((target("avx2,prfchw")))
static void obs_after_run_avx2(void *ctx, uint32_t vcpu, struct kvm_run *run)
{
	struct vcr_recorder *r = ctx;
	if (vcpu < r->nvcpus)
		vcr_recorder_after_run_avx2(&r->vcpus[vcpu], run);
}

static void obs_after_run_sse2(void *ctx, uint32_t vcpu, struct kvm_run *run)
{
	struct vcr_recorder *r = ctx;
	if (vcpu < r->nvcpus)
		vcr_recorder_after_run_sse2(&r->vcpus[vcpu], run);
}

/* prfchw: the INPUT's ring prefetch is a prefetchw too (a NOP on CPUs
 * without it). */
__attribute__((target("prfchw")))
static void obs_before_run(void *ctx, uint32_t vcpu, struct kvm_run *run)
{
	struct vcr_recorder *r = ctx;
	if (vcpu < r->nvcpus)
		rec_before_run(&r->vcpus[vcpu], run);
}

/* vcpu: the vCPU whose exit the VMM serves, on that vCPU's thread (its own
 * ring, after that exit), or VMM_NO_VCPU (the control ring). */
static void obs_mem_write(void *ctx, uint32_t vcpu, uint64_t gpa, const void *data,
			  uint64_t len)
{
	struct vcr_recorder *r = ctx;
	vcr_rec_ckpt_vmm_wrote(r, gpa, len);
	if (vcpu < r->nvcpus)
		vcr_recorder_vcpu_mem_write(&r->vcpus[vcpu], gpa, data, len);
	else
		vcr_recorder_mem_write(r, gpa, data, len);
}

static void obs_inject(void *ctx, uint32_t vcpu, uint32_t kind, uint32_t vector)
{
	struct vcr_recorder *r = ctx;
	if (vcpu < r->nvcpus)
		vcr_recorder_inject(&r->vcpus[vcpu], kind, vector);
}

/* vcpu as for mem_write: the vCPU whose exit the VMM serves (its ring,
 * after that exit), or VMM_NO_VCPU (the control ring, after a FENCE). */
static void obs_irq_line(void *ctx, uint32_t vcpu, uint32_t gsi, uint32_t level)
{
	struct vcr_recorder *r = ctx;
	if (vcpu < r->nvcpus)
		vcr_recorder_vcpu_irq_line(&r->vcpus[vcpu], gsi, level);
	else
		vcr_recorder_irq_line(r, gsi, level);
}

static void obs_note(void *ctx, uint32_t vcpu, uint32_t kind, const char *text, size_t len)
{
	struct vcr_recorder *r = ctx;
	if (vcpu < r->nvcpus)
		vcr_recorder_vcpu_note(&r->vcpus[vcpu], kind, text, len);
	else
		vcr_recorder_note(r, kind, text, len);
}

static void obs_end(void *ctx, uint32_t how, int32_t status, const char *msg)
{
	vcr_recorder_end(ctx, how, status, msg);
}

void vcr_recorder_observer(struct vcr_recorder *r, struct vmm_observer *obs)
{
	memset(obs, 0, sizeof(*obs));
	obs->ctx = r;
	__builtin_cpu_init();
	obs->after_run = __builtin_cpu_supports("avx2") ? obs_after_run_avx2 : obs_after_run_sse2;
	obs->before_run = obs_before_run;
	obs->mem_write = obs_mem_write;
	obs->inject = obs_inject;
	obs->irq_line = obs_irq_line;
	obs->note = obs_note;
	obs->end = obs_end;
}
