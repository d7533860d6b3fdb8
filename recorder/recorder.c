/* recorder/recorder.c: per-vCPU rings, the writer thread, crash capture
 * (see recorder.h for the contract, ring.h for the ring). */
#include "recorder/recorder.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <immintrin.h>

#include "core/state.h"
#include "recorder/ring.h"
#include "vmm/vmm.h"

/* ---- ring record layouts ------------------------------------------------
 * Private to this file and the bench; each starts with struct vcr_ring_hdr
 * and is rounded up to VCR_RING_SLOT bytes. */

/* Bytes of the kvm_run exit union copied for the frequent exits: io (16),
 * mmio (24), fail_entry (16), hw (8); HLT, SHUTDOWN and INTR carry none.
 * Other reasons (DEBUG's 32 bytes included) copy the whole union (256). */
#define REC_UNION_SMALL 24u
#define REC_UNION_FULL 256u
#define REC_INLINE_DATA 8u

/* EXIT, general layout, written by rec_after_run_slow (any exit, any
 * payload, the whole sync area). arg: bytes of the union copied (24 or
 * 256, never REC_XF_FAST). */
struct rr_exit {
	struct vcr_ring_hdr h;
	uint32_t reason;		/* kvm_run->exit_reason */
	uint16_t dlen;			/* OUT bytes after the union */
	uint8_t valid;			/* kvm_valid_regs & VCR_CLASS_ALL */
	uint8_t pad;
	struct vcr_vcpu_state st;	/* kvm_run->s.regs, raw */
	/* then: union bytes, then OUT data */
};

#define REC_EXIT_HDR 16u
#define REC_EXIT_FULL_BYTES (REC_EXIT_HDR + sizeof(struct vcr_vcpu_state))
/* sregs + events: the part a short EXIT leaves out. */
#define REC_SE_OFF offsetof(struct vcr_vcpu_state, sregs)
#define REC_SE_SIZE (sizeof(struct vcr_vcpu_state) - REC_SE_OFF)

/*
 * EXIT, fast layout, written by the after_run fast path (the frequent
 * exits: union of up to 24 bytes, up to 8 bytes of OUT data). The header
 * is one word: arg = REC_XF_FAST | REC_XF_SHORT? | dlen << 8 | reason
 * (< 32). Then
 *   [8, 32)    the exit union's first 24 bytes (kvm_run + 0x20)
 *   [32, 40)   kvm_valid_regs
 *   [40, 48)   OUT data, dlen bytes (where kvm_run has kvm_dirty_regs)
 *   [48, ...)  kvm_run->s.regs: short (REC_XF_SHORT, sregs and events
 *              byte for byte those of the vCPU's previous full EXIT, the
 *              common case) regs only, 192 bytes = 3 slots in all; full,
 *              the whole sync area, 9 slots.
 * [32, ...) is kvm_run's bytes from kvm_valid_regs on, copied with 32-byte
 * loads and stores that are all aligned (kvm_run + 0x120 and the slot):
 * none splits a cache line, which the previous layout (regs at +16) did
 * twice per exit on each side. The writer keeps each vCPU's last sregs
 * and events to rebuild a short EXIT's state.
 */
#define REC_XF_FAST 0x8000u
#define REC_XF_SHORT 0x4000u
#define REC_XF_REASON_MASK 0xffu
#define REC_XF_DLEN_SHIFT 8
#define REC_XF_UNION 8u
#define REC_XF_VALID 32u
#define REC_XF_DATA 40u
#define REC_XF_STATE 48u
#define REC_XF_SHORT_SLOTS 3u
#define REC_XF_FULL_SLOTS 9u
/* kvm_run bytes copied from kvm_valid_regs on: to the end of s.regs. */
#define REC_XF_RUN_OFF offsetof(struct kvm_run, kvm_valid_regs)
#define REC_XF_RUN_FULL (offsetof(struct kvm_run, s) + sizeof(struct vcr_vcpu_state) - \
			 REC_XF_RUN_OFF)

struct rr_input {
	struct vcr_ring_hdr h;		/* arg: enum vcr_input_kind */
	uint32_t len;
	uint32_t pad;
	uint8_t data[];
};

struct rr_set_state {
	struct vcr_ring_hdr h;		/* arg: dirty classes */
	uint64_t pad;
	struct vcr_vcpu_state st;
};

struct rr_inject {
	struct vcr_ring_hdr h;		/* arg: enum vcr_inject_kind */
	uint32_t vector;
};

struct rr_mem {
	struct vcr_ring_hdr h;
	uint64_t gpa;
	uint64_t len;
	uint8_t data[];
};

struct rr_marker {
	struct vcr_ring_hdr h;
	char text[];			/* NUL-terminated */
};

/* Control ring only, before a record written while vCPUs run (gdb's
 * writes): the vCPU rings' published heads when it was made. The writer
 * drains each vCPU ring up to its head first, so the record lands after
 * every exit that preceded it. */
struct rr_fence {
	struct vcr_ring_hdr h;
	uint32_t n;			/* vCPUs */
	uint32_t pad;
	uint64_t head[];
};

_Static_assert(sizeof(struct vcr_vcpu_state) == sizeof(struct kvm_sync_regs),
	       "vcr_vcpu_state mirrors kvm_sync_regs");
_Static_assert(offsetof(struct vcr_vcpu_state, sregs) ==
	       offsetof(struct kvm_sync_regs, sregs), "sregs offset");
_Static_assert(offsetof(struct vcr_vcpu_state, events) ==
	       offsetof(struct kvm_sync_regs, events), "events offset");
_Static_assert(sizeof(((struct kvm_run *)0)->padding) == REC_UNION_FULL,
	       "kvm_run exit union is 256 bytes");
_Static_assert(offsetof(struct rr_exit, st) == REC_EXIT_HDR, "EXIT header");
/* Fast layout: kvm_run's fields where the copies expect them. */
_Static_assert(offsetof(struct kvm_run, hw) == 0x20, "exit union at 0x20");
_Static_assert(REC_XF_RUN_OFF == 0x120 && REC_XF_RUN_OFF % 32 == 0, "kvm_valid_regs at 0x120");
_Static_assert(offsetof(struct kvm_run, kvm_dirty_regs) == REC_XF_RUN_OFF + 8 &&
	       offsetof(struct kvm_run, s) == REC_XF_RUN_OFF + 16, "kvm_dirty_regs, s.regs");
_Static_assert(REC_XF_UNION + REC_UNION_SMALL == REC_XF_VALID &&
	       REC_XF_VALID + 16 == REC_XF_STATE && REC_XF_DATA == REC_XF_VALID + 8 &&
	       REC_XF_VALID % 32 == 0, "fast layout");
_Static_assert(REC_XF_STATE + sizeof(struct kvm_regs) == REC_XF_SHORT_SLOTS * VCR_RING_SLOT,
	       "a short fast EXIT fills 3 slots exactly: 5 aligned vectors from +32");
_Static_assert(REC_XF_RUN_FULL == 16 * 32 + 24 &&
	       REC_XF_VALID + REC_XF_RUN_FULL <= REC_XF_FULL_SLOTS * VCR_RING_SLOT,
	       "a full fast EXIT fits 9 slots");
_Static_assert(REC_UNION_FULL < REC_XF_SHORT, "general layout's arg never looks fast");
_Static_assert(sizeof(((struct kvm_run *)0)->mmio) <= REC_UNION_SMALL &&
	       sizeof(((struct kvm_run *)0)->io) <= REC_UNION_SMALL &&
	       sizeof(((struct kvm_run *)0)->fail_entry) <= REC_UNION_SMALL &&
	       sizeof(((struct kvm_run *)0)->hw) <= REC_UNION_SMALL, "small payloads");
_Static_assert(sizeof(struct kvm_regs) == 4 * 32 + 16, "kvm_regs size");
_Static_assert(REC_SE_SIZE == 11 * 32 + 24, "sregs + events size");

#define REC_MARKER_MAX 4000u
#define REC_BATCH 256u		/* records per ring per round */
#define REC_IDLE_NS 1000000u	/* writer's sleep when every ring is empty */
#define REC_CHASE_MIN 64u	/* fewer records in a round: sleep too */

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

struct vcr_recorder_vcpu {
	struct vcr_ring ring;
	/* Producer-only state, next to the ring's producer line in use. */
	uint64_t pending;		/* enum rec_pending or REC_PENDING_IN8 */
	const uint8_t *in_src;
	uint64_t in_n;
	uint32_t index;
	size_t run_size;
	struct vcr_recorder *rec;
	/* sregs + events of the last full EXIT (producer's copy); se_poison
	 * is all ones until the first full EXIT, so nothing matches before. */
	_Alignas(64) uint8_t se[REC_SE_SIZE];
	_Alignas(32) uint8_t se_poison[32];
	/* Writer's copy of the same, to rebuild short EXITs. */
	_Alignas(64) uint8_t w_se[REC_SE_SIZE];
};

struct vcr_recorder {
	struct vcr_writer *w;
	char *path;
	uint32_t nvcpus;
	size_t run_size;
	uint32_t flush_ms;
	void (*on_error)(void *arg, int err, const char *msg);
	void *on_error_arg;

	struct vcr_ring control;
	pthread_mutex_t control_lock;		/* control ring producers */

	pthread_t thread;
	bool thread_started;
	uint32_t doorbell;			/* futex: rung by stalled vCPUs */
	uint32_t stopping;			/* set by close */
	int error;				/* first writer error, atomic */

	/* Writer thread's own state. */
	struct vcr_record rec;			/* scratch record */
	struct kvm_run *scratch_run;		/* run_size bytes, for decoding */
	uint32_t rr_next;			/* round-robin start */
	uint64_t w_dropped;			/* records thrown away after an error */
	bool discard;

	/* Shared, under lock. */
	pthread_mutex_t lock;
	struct vcr_writer_stats wstats;		/* copied after each busy round */
	char error_msg[256];
	bool ended;
	uint32_t end_how;
	int32_t end_status;
	char end_msg[256];
	uint64_t t_open_ns;			/* CLOCK_MONOTONIC at open */
	uint64_t t_end_ns;			/* ... at the first end, or 0 */

	/* nvcpus of them, in the same allocation: the observer callbacks
	 * find a vCPU's state at a fixed offset from ctx, with no pointer
	 * to load first (one load less on the vCPU's dependency chain). */
	struct vcr_recorder_vcpu vcpus[];
};

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
typedef uint64_t rec_u64u __attribute__((aligned(1), may_alias));

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
 * the publishing store of `head` waits for it (paced median -1.5 ns, see
 * docs/recorder.md).
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

/* Put [gpa, gpa+len) into ring in pieces a ring can carry. */
static void rec_mem_write_ring(struct vcr_ring *ring, uint64_t gpa, const void *data,
			       uint64_t len)
{
	const uint8_t *p = data;
	uint64_t max = vcr_ring_max_record(ring) - offsetof(struct rr_mem, data);

	max &= ~(uint64_t)(VCR_RING_SLOT - 1);
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
static void rec_control_fence(struct vcr_recorder *r)
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
	pthread_mutex_lock(&r->control_lock);
	rec_control_fence(r);
	rec_mem_write_ring(&r->control, gpa, data, len);
	pthread_mutex_unlock(&r->control_lock);
}

void vcr_recorder_marker(struct vcr_recorder *r, const char *text)
{
	size_t n = strnlen(text, REC_MARKER_MAX);
	uint32_t len = vcr_ring_round(offsetof(struct rr_marker, text) + n + 1);

	pthread_mutex_lock(&r->control_lock);
	rec_control_fence(r);
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

static uint64_t rec_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void vcr_recorder_end(struct vcr_recorder *r, uint32_t how, int32_t status,
		      const char *msg)
{
	pthread_mutex_lock(&r->lock);
	if (!r->ended) {
		r->ended = true;
		r->t_end_ns = rec_now_ns();
		r->end_how = how;
		r->end_status = status;
		snprintf(r->end_msg, sizeof(r->end_msg), "%s", msg ? msg : "");
	}
	pthread_mutex_unlock(&r->lock);
}

int vcr_recorder_error(const struct vcr_recorder *r)
{
	return __atomic_load_n(&r->error, __ATOMIC_ACQUIRE);
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
	obs->end = obs_end;
}

/* ---- writer thread ------------------------------------------------------ */

static void rec_fail(struct vcr_recorder *r, int rc, const char *what)
{
	char msg[256];

	if (rc == -ENOSPC)
		snprintf(msg, sizeof(msg), "disk full while %s %s: the trace ends at its "
			 "last complete chunk", what, r->path);
	else
		snprintf(msg, sizeof(msg), "%s %s failed: %s", what, r->path, strerror(-rc));
	pthread_mutex_lock(&r->lock);
	snprintf(r->error_msg, sizeof(r->error_msg), "%s", msg);
	pthread_mutex_unlock(&r->lock);
	__atomic_store_n(&r->error, rc, __ATOMIC_RELEASE);
	r->discard = true;
	if (r->on_error)
		r->on_error(r->on_error_arg, rc, msg);
}

/* Turn one ring record into a trace record and append it. */
static int rec_emit(struct vcr_recorder *r, uint32_t vcpu, const struct vcr_ring_hdr *h)
{
	struct vcr_record *rec = &r->rec;

	rec->type = 0;
	rec->vcpu = vcpu;
	switch (h->kind) {
	case VCR_RING_EXIT: {
		const uint8_t *p = (const void *)h;
		struct kvm_run *sr = r->scratch_run;
		struct vcr_vcpu_state *st = &rec->u.exit.state;
		uint8_t *w_se = r->vcpus[vcpu].w_se;
		uint32_t reason, ulen, dlen;
		const uint8_t *ubytes, *dbytes;

		rec->type = VCR_REC_EXIT;
		if (h->arg & REC_XF_FAST) {
			reason = h->arg & REC_XF_REASON_MASK;
			dlen = (h->arg >> REC_XF_DLEN_SHIFT) & 0xf;
			ulen = REC_UNION_SMALL;
			ubytes = p + REC_XF_UNION;
			dbytes = p + REC_XF_DATA;
			rec->u.exit.valid = (uint8_t)(*(const rec_u64u *)(p + REC_XF_VALID) &
						      VCR_CLASS_ALL);
			if (h->arg & REC_XF_SHORT) {
				memcpy(&st->regs, p + REC_XF_STATE, sizeof(st->regs));
				memcpy((uint8_t *)st + REC_SE_OFF, w_se, REC_SE_SIZE);
			} else {
				memcpy(st, p + REC_XF_STATE, sizeof(*st));
				memcpy(w_se, (const uint8_t *)st + REC_SE_OFF, REC_SE_SIZE);
			}
		} else {
			const struct rr_exit *e = (const void *)h;
			reason = e->reason;
			dlen = e->dlen;
			ulen = h->arg;
			ubytes = p + REC_EXIT_FULL_BYTES;
			dbytes = ubytes + ulen;
			rec->u.exit.valid = e->valid;
			*st = e->st;
			memcpy(w_se, (const uint8_t *)&e->st + REC_SE_OFF, REC_SE_SIZE);
		}
		vcr_state_normalize(st);
		/* Rebuild the parts of a kvm_run page that the exit decoder
		 * reads, so that the one decoder in core/ serves both the
		 * recorder and everyone else. */
		sr->exit_reason = reason;
		memcpy(&sr->hw, ubytes, ulen);
		if (reason == KVM_EXIT_IO && sr->io.direction == KVM_EXIT_IO_OUT &&
		    dlen && sr->io.data_offset <= r->run_size &&
		    dlen <= r->run_size - sr->io.data_offset)
			memcpy((uint8_t *)sr + sr->io.data_offset, dbytes, dlen);
		if (vcr_exit_from_run(&rec->u.exit.exit, sr, r->run_size) < 0) {
			/* Only a payload pointing outside the run page gets
			 * here: keep the exit, without its data. */
			rec->u.exit.exit.data_len = 0;
		}
		break;
	}
	case VCR_RING_INPUT: {
		const struct rr_input *in = (const void *)h;
		rec->type = VCR_REC_INPUT;
		rec->u.input.kind = h->arg;
		rec->u.input.len = in->len;
		memcpy(rec->u.input.data, in->data, in->len);
		break;
	}
	case VCR_RING_SET_STATE: {
		const struct rr_set_state *s = (const void *)h;
		rec->type = VCR_REC_SET_STATE;
		rec->u.set_state.dirty = h->arg;
		rec->u.set_state.state = s->st;
		vcr_state_normalize(&rec->u.set_state.state);
		break;
	}
	case VCR_RING_INJECT: {
		const struct rr_inject *in = (const void *)h;
		rec->type = VCR_REC_INJECT;
		rec->u.inject.kind = h->arg;
		rec->u.inject.vector = in->vector;
		break;
	}
	case VCR_RING_MEM_WRITE: {
		const struct rr_mem *m = (const void *)h;
		rec->type = VCR_REC_MEM_WRITE;
		rec->u.mem.gpa = m->gpa;
		rec->u.mem.len = m->len;
		rec->u.mem.data = m->data;
		break;
	}
	case VCR_RING_MARKER: {
		const struct rr_marker *m = (const void *)h;
		rec->type = VCR_REC_MARKER;
		rec->u.marker.text = m->text;
		break;
	}
	default:
		return 0;
	}
	return vcr_writer_append(r->w, rec);
}

static void rec_emit_or_drop(struct vcr_recorder *r, uint32_t vcpu,
			     const struct vcr_ring_hdr *h)
{
	if (r->discard) {
		r->w_dropped++;
	} else {
		int rc = rec_emit(r, vcpu, h);
		if (rc < 0) {
			r->w_dropped++;
			rec_fail(r, rc, "writing trace");
		}
	}
}

/* Write vCPU i's records up to ring position `end` (a head the vCPU had
 * published when a control record was made: the ring's head, re-read here,
 * is at least that, so the loop ends there). The round's snapshot stays as
 * it was (or `end`, if further): records published after it may follow a
 * control record of the next round, so they must not be written in this
 * one. */
static uint64_t rec_drain_until(struct vcr_recorder *r, uint32_t i, uint64_t end)
{
	struct vcr_ring *ring = &r->vcpus[i].ring;
	const struct vcr_ring_hdr *h;
	uint64_t snap = ring->c_head;
	uint64_t n = 0;

	if ((int64_t)(end - ring->c_tail) <= 0)
		return 0;
	vcr_ring_snapshot(ring);
	while ((int64_t)(end - ring->c_tail) > 0 && (h = vcr_ring_peek(ring))) {
		rec_emit_or_drop(r, i, h);
		vcr_ring_release(ring, h);
		n++;
	}
	ring->c_head = (int64_t)(ring->c_tail - snap) > 0 ? ring->c_tail : snap;
	if (n)
		vcr_ring_wake_producer(ring);
	return n;
}

/* Consume up to `max` records of one ring's snapshot. Returns how many. */
static uint64_t rec_drain_ring(struct vcr_recorder *r, struct vcr_ring *ring,
			       uint32_t vcpu, uint32_t max)
{
	const struct vcr_ring_hdr *h;
	uint64_t n = 0, done = 0;

	while (done < max && (h = vcr_ring_peek(ring))) {
		if (h->kind == VCR_RING_FENCE) {
			const struct rr_fence *f = (const void *)h;
			for (uint32_t i = 0; i < f->n && i < r->nvcpus; i++)
				n += rec_drain_until(r, i, f->head[i]);
		} else {
			rec_emit_or_drop(r, vcpu, h);
		}
		vcr_ring_release(ring, h);
		done++;
	}
	if (done)
		vcr_ring_wake_producer(ring);
	return n + done;
}

/*
 * One round: snapshot every vCPU ring, then the control ring, then write the
 * control records, then a batch of each vCPU in rotating order. Snapshotting
 * the vCPU rings first matters: a control record (the loader's memory)
 * published before a vCPU thread started is visible by the time that vCPU's
 * records are, so it is written first.
 */
static uint64_t rec_round(struct vcr_recorder *r)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < r->nvcpus; i++)
		vcr_ring_snapshot(&r->vcpus[i].ring);
	if (vcr_ring_snapshot(&r->control))
		n += rec_drain_ring(r, &r->control, 0, UINT32_MAX);
	for (uint32_t k = 0; k < r->nvcpus; k++) {
		uint32_t i = (r->rr_next + k) % r->nvcpus;
		n += rec_drain_ring(r, &r->vcpus[i].ring, i, REC_BATCH);
	}
	r->rr_next = (r->rr_next + 1) % r->nvcpus;
	return n;
}

static void rec_publish_stats(struct vcr_recorder *r)
{
	struct vcr_writer_stats st;
	vcr_writer_get_stats(r->w, &st);
	pthread_mutex_lock(&r->lock);
	r->wstats = st;
	pthread_mutex_unlock(&r->lock);
}

static void *rec_writer_main(void *arg)
{
	struct vcr_recorder *r = arg;
	uint64_t last = rec_now_ns();
	bool unflushed = false;

	for (;;) {
		/* Read `stopping` before the round: close sets it after the
		 * last hook returned, so an empty round after it saw the
		 * flag means everything has been written. */
		uint32_t stopping = __atomic_load_n(&r->stopping, __ATOMIC_ACQUIRE);
		uint32_t bell = __atomic_load_n(&r->doorbell, __ATOMIC_ACQUIRE);
		uint64_t n = rec_round(r);
		if (n) {
			unflushed = true;
			last = rec_now_ns();
			rec_publish_stats(r);
			/* A short round means the writer is right behind the
			 * vCPUs. Chasing their newest records costs them: each
			 * snapshot takes the cache line holding `head`, and
			 * reading a record just written pulls its neighbour
			 * lines (spatial prefetch) away from the vCPU's core,
			 * where the next record goes. So sleep; the next
			 * wake-up takes a bigger batch. */
			if (stopping || n >= REC_CHASE_MIN)
				continue;
		} else if (stopping) {
			break;
		} else if (unflushed && !r->discard &&
			   rec_now_ns() - last >= (uint64_t)r->flush_ms * 1000000u) {
			int rc = vcr_writer_flush(r->w);
			if (rc < 0)
				rec_fail(r, rc, "flushing trace");
			unflushed = false;
			rec_publish_stats(r);
		}
		/* Idle: sleep, unless a stalled vCPU rang since the round
		 * started (then the futex value differs and this returns). */
		vcr_futex_wait(&r->doorbell, bell, REC_IDLE_NS);
	}
	return NULL;
}

/* ---- open / close ------------------------------------------------------- */

static void rec_free(struct vcr_recorder *r)
{
	if (!r)
		return;
	for (uint32_t i = 0; i < r->nvcpus; i++)
		vcr_ring_destroy(&r->vcpus[i].ring);
	vcr_ring_destroy(&r->control);
	pthread_mutex_destroy(&r->control_lock);
	pthread_mutex_destroy(&r->lock);
	free(r->scratch_run);
	free(r->path);
	free(r);
}

int vcr_recorder_open(struct vcr_recorder **out, const char *path,
		      const struct vcr_trace_info *info,
		      const struct vcr_recorder_opts *opts, struct vcr_err *err)
{
	struct vcr_recorder *r = NULL;
	uint64_t buf = opts->buffer_bytes ? opts->buffer_bytes : VCR_RECORDER_BUFFER_DEFAULT;
	int rc;

	*out = NULL;
	if (info->nvcpus == 0 || info->nvcpus > VCR_TRACE_MAX_VCPUS)
		return vcr_err_set(err, -EINVAL, UINT64_MAX, "recorder: %u vCPUs (1..%u)",
				   info->nvcpus, VCR_TRACE_MAX_VCPUS);
	if (opts->run_size < sizeof(struct kvm_run))
		return vcr_err_set(err, -EINVAL, UINT64_MAX,
				   "recorder: run_size %zu smaller than struct kvm_run",
				   opts->run_size);
	if (buf > VCR_RING_MAX_BYTES)
		return vcr_err_set(err, -EINVAL, UINT64_MAX,
				   "recorder: buffer of %llu bytes too large",
				   (unsigned long long)buf);

	size_t rsz = (sizeof(*r) + (size_t)info->nvcpus * sizeof(r->vcpus[0]) + 63) &
		     ~(size_t)63;
	r = aligned_alloc(64, rsz);
	if (!r)
		return vcr_err_set(err, -ENOMEM, UINT64_MAX, "recorder: out of memory");
	memset(r, 0, rsz);
	pthread_mutex_init(&r->control_lock, NULL);
	pthread_mutex_init(&r->lock, NULL);
	r->t_open_ns = rec_now_ns();
	r->nvcpus = info->nvcpus;
	r->run_size = opts->run_size;
	r->flush_ms = opts->flush_ms ? opts->flush_ms : 1000;
	r->on_error = opts->on_error;
	r->on_error_arg = opts->on_error_arg;
	r->path = strdup(path);
	r->scratch_run = calloc(1, opts->run_size);
	if (!r->path || !r->scratch_run) {
		rc = vcr_err_set(err, -ENOMEM, UINT64_MAX, "recorder: out of memory");
		goto fail;
	}
	for (uint32_t i = 0; i < r->nvcpus; i++) {
		struct vcr_recorder_vcpu *v = &r->vcpus[i];
		v->index = i;
		v->run_size = opts->run_size;
		memset(v->se_poison, 0xff, sizeof(v->se_poison));
		v->rec = r;
		rc = vcr_ring_init(&v->ring, buf);
		v->ring.doorbell = &r->doorbell;
		if (rc < 0) {
			vcr_err_set(err, rc, UINT64_MAX, "recorder: buffer of vCPU %u: %s", i,
				    strerror(-rc));
			goto fail;
		}
	}
	rc = vcr_ring_init(&r->control, buf);
	r->control.doorbell = &r->doorbell;
	if (rc < 0) {
		vcr_err_set(err, rc, UINT64_MAX, "recorder: control buffer: %s", strerror(-rc));
		goto fail;
	}

	struct vcr_writer_opts wo = {
		.zstd_level = opts->zstd_level,
		.chunk_exits = opts->chunk_exits,
		.ring_bytes = opts->ring_bytes,
		.flush_exits = opts->flush_exits,
	};
	rc = vcr_writer_open(&r->w, path, info, &wo, err);
	if (rc < 0)
		goto fail;

	/* The writer thread takes no asynchronous signal: SIGINT/SIGTERM are
	 * the VMM's to handle, and must not interrupt trace writes. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = -pthread_create(&r->thread, NULL, rec_writer_main, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc < 0) {
		vcr_err_set(err, rc, UINT64_MAX, "recorder: writer thread: %s", strerror(-rc));
		vcr_writer_abort(r->w);
		goto fail;
	}
	r->thread_started = true;
	*out = r;
	return 0;

fail:
	rec_free(r);
	return rc;
}

static void rec_fill_summary(struct vcr_recorder *r, struct vcr_recorder_summary *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&r->lock);
	s->how = r->ended ? r->end_how : 0;
	s->status = r->end_status;
	snprintf(s->msg, sizeof(s->msg), "%s", r->end_msg);
	s->exits = r->wstats.exits;
	s->records = r->wstats.records;
	s->trace_bytes = r->wstats.bytes_written;
	s->raw_bytes = r->wstats.raw_bytes;
	s->chunks = r->wstats.chunks;
	s->write_calls = r->wstats.write_calls;
	snprintf(s->error_msg, sizeof(s->error_msg), "%s", r->error_msg);
	pthread_mutex_unlock(&r->lock);
	s->error = vcr_recorder_error(r);
	for (uint32_t i = 0; i < r->nvcpus; i++) {
		const struct vcr_ring *g = &r->vcpus[i].ring;
		s->stalls += __atomic_load_n(&g->stalls, __ATOMIC_RELAXED);
		s->stall_ns += __atomic_load_n(&g->stall_ns, __ATOMIC_RELAXED);
		s->dropped += __atomic_load_n(&g->dropped, __ATOMIC_RELAXED);
	}
	s->stalls += __atomic_load_n(&r->control.stalls, __ATOMIC_RELAXED);
	s->stall_ns += __atomic_load_n(&r->control.stall_ns, __ATOMIC_RELAXED);
	s->dropped += __atomic_load_n(&r->control.dropped, __ATOMIC_RELAXED);
}

void vcr_recorder_get_stats(struct vcr_recorder *r, struct vcr_recorder_summary *s)
{
	rec_fill_summary(r, s);
	/* w_dropped belongs to the writer thread; read it only at close. */
}

int vcr_recorder_close(struct vcr_recorder *r, struct vcr_recorder_summary *sum)
{
	struct vcr_recorder_summary local;
	int rc = 0;

	if (!r)
		return 0;
	if (!sum)
		sum = &local;
	__atomic_store_n(&r->stopping, 1, __ATOMIC_RELEASE);
	if (r->thread_started)
		pthread_join(r->thread, NULL);
	/* From here on this thread is the writer's only user. */
	for (uint32_t i = 0; i < r->nvcpus; i++)
		vcr_ring_consumer_gone(&r->vcpus[i].ring);
	vcr_ring_consumer_gone(&r->control);

	if (!r->discard) {
		struct vcr_record *rec = &r->rec;
		/* How long the run took (docs/recorder.md): a MARKER right
		 * before END, since the header is written before the run and
		 * END's body ends with its free text. */
		char dur[64];
		pthread_mutex_lock(&r->lock);
		uint64_t t_end = r->ended ? r->t_end_ns : rec_now_ns();
		pthread_mutex_unlock(&r->lock);
		snprintf(dur, sizeof(dur), VCR_RECORDER_DURATION_MARKER "%llu",
			 (unsigned long long)(t_end - r->t_open_ns));
		memset(rec, 0, offsetof(struct vcr_record, u) + sizeof(rec->u.marker));
		rec->type = VCR_REC_MARKER;
		rec->u.marker.text = dur;
		rc = vcr_writer_append(r->w, rec);
		if (rc < 0)
			rec_fail(r, rc, "writing trace");
	}
	if (!r->discard) {
		struct vcr_record *rec = &r->rec;
		memset(rec, 0, offsetof(struct vcr_record, u) + sizeof(rec->u.end));
		rec->type = VCR_REC_END;
		pthread_mutex_lock(&r->lock);
		if (r->ended) {
			rec->u.end.how = r->end_how;
			rec->u.end.status = r->end_status;
		} else {
			r->ended = true;
			r->end_how = VCR_END_ERROR;
			r->end_status = 0;
			snprintf(r->end_msg, sizeof(r->end_msg), "run ended without a reason");
			rec->u.end.how = r->end_how;
		}
		rec->u.end.msg = r->end_msg;
		pthread_mutex_unlock(&r->lock);
		rc = vcr_writer_append(r->w, rec);
		if (rc < 0)
			rec_fail(r, rc, "writing trace");
	}
	rec_publish_stats(r);
	if (r->discard) {
		vcr_writer_abort(r->w);
	} else {
		rc = vcr_writer_close(r->w);
		if (rc < 0)
			rec_fail(r, rc, "closing trace");
	}
	r->w = NULL;

	rec_fill_summary(r, sum);
	sum->dropped += r->w_dropped;
	struct stat st;
	if (stat(r->path, &st) == 0)
		sum->trace_bytes = (uint64_t)st.st_size;
	rc = sum->error;
	rec_free(r);
	return rc;
}

/* ---- reporting ---------------------------------------------------------- */

int vcr_recorder_summary_format(const struct vcr_recorder_summary *s, const char *path,
				char *buf, size_t len)
{
	char extra[384] = "";
	size_t x = 0;

	if (s->stalls)
		x += (size_t)snprintf(extra + x, sizeof(extra) - x,
				      ", %llu stalls (%.1f ms)", (unsigned long long)s->stalls,
				      (double)s->stall_ns / 1e6);
	if (s->dropped && x < sizeof(extra))
		x += (size_t)snprintf(extra + x, sizeof(extra) - x,
				      ", %llu records LOST", (unsigned long long)s->dropped);
	if (s->error && x < sizeof(extra))
		snprintf(extra + x, sizeof(extra) - x, ", %s", s->error_msg);
	return snprintf(buf, len,
			"record: %s status %d: %llu exits recorded, trace %s %llu bytes, "
			"%.1f bytes/exit%s",
			vcr_end_how_name(s->how), (int)s->status,
			(unsigned long long)s->exits, path ? path : "",
			(unsigned long long)s->trace_bytes,
			s->exits ? (double)s->trace_bytes / (double)s->exits : 0.0, extra);
}
