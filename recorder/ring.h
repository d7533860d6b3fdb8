/*
 * recorder/ring.h: the single-producer/single-consumer record ring between a
 * vCPU thread (producer) and the recorder's writer thread (consumer).
 * Internal to recorder/ (and bench/record_bench.c, which times the producer).
 *
 * Layout: a power-of-two byte buffer cut into 64-byte slots. A record takes
 * one or more consecutive slots and starts with struct vcr_ring_hdr; it never
 * wraps: when it would not fit before the end of the buffer, the producer
 * fills the rest with a PAD record and starts again at offset 0. So the
 * consumer always reads a record in place, with no copy, and a record may be
 * at most half the buffer (then a free region of its size always appears
 * once the consumer catches up).
 *
 * Positions are monotonic 64-bit byte counters (never wrap in practice).
 * `head` is written only by the producer, `tail` only by the consumer; each
 * side publishes with a release store and reads the other's with an acquire
 * load, and keeps a cached copy of the other's counter so that the common
 * case touches no shared cache line but the slots themselves. No lock, no
 * allocation, no syscall on the producer side unless the ring is full.
 *
 * Full ring: the producer rings the consumer's doorbell (a futex word the
 * consumer sleeps on when idle), raises `waiting` and sleeps on the futex
 * `wake_seq`, which the consumer bumps and wakes after it has freed space
 * (vcr_ring_wake_producer); a 1 ms timeout bounds any lost wake-up. The
 * stall and its duration are counted. A record is never dropped unless the
 * consumer has declared itself gone (vcr_ring_consumer_gone), in which case
 * it is counted in `dropped`.
 */
#ifndef VCR_RECORDER_RING_H
#define VCR_RECORDER_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VCR_RING_SLOT 64u
#define VCR_RING_MIN_BYTES (64u << 10)
#define VCR_RING_MAX_BYTES (1ull << 32)	/* record lengths fit 32 bits */
#define VCR_RING_HUGE (2ull << 20)	/* rings this big are THP-aligned */

enum vcr_ring_kind {
	VCR_RING_PAD = 0,	/* filler up to the end of the buffer */
	VCR_RING_EXIT = 1,
	VCR_RING_INPUT = 2,
	VCR_RING_SET_STATE = 3,
	VCR_RING_INJECT = 4,
	VCR_RING_MEM_WRITE = 5,
	VCR_RING_MARKER = 6,
	VCR_RING_FENCE = 7,	/* control ring: vCPU heads to drain first */
	VCR_RING_IRQ_LINE = 8,
	VCR_RING_NOTE = 9,
	VCR_RING_CKPT = 10,	/* control ring: a memory checkpoint */
	VCR_RING_MEM_BUF = 11,	/* control ring: a large VMM write, a copy */
};

struct vcr_ring_hdr {
	uint32_t len;		/* bytes of the record, header included,
				 * multiple of VCR_RING_SLOT */
	uint16_t kind;		/* enum vcr_ring_kind */
	uint16_t arg;		/* small kind-specific field */
};

struct vcr_ring {
	/* Producer's line. */
	_Alignas(64) uint64_t head;	/* published end of committed records;
					 * only the producer writes it, so it
					 * reads it back relaxed (no private
					 * copy: one store per commit, not two) */
	uint64_t p_limit;		/* head may grow up to here without a
					 * check: min(p_tail + size, end of the
					 * buffer's current lap); 0 at first */
	uint64_t p_tail;		/* producer's last view of tail */
	uint64_t p_next;		/* head after the reserved record */
	uint64_t stalls;		/* times the producer found the ring full */
	uint64_t stall_ns;		/* time spent waiting, ns */
	uint64_t dropped;		/* records lost (consumer gone) */
	/* Consumer's line. */
	_Alignas(64) uint64_t tail;	/* published end of released records */
	uint64_t c_tail;		/* consumer's own tail */
	uint64_t c_head;		/* consumer's snapshot of head */
	uint32_t gone;			/* consumer will never read again */
	/* Stall hand-shake, written by both sides (rarely). */
	_Alignas(64) uint32_t waiting;	/* producer sleeps for space */
	uint32_t wake_seq;		/* futex: bumped by the consumer */
	/* Read-only after init. */
	_Alignas(64) uint8_t *buf;
	uint64_t size;			/* bytes, power of two */
	uint64_t mask;
	uint32_t *doorbell;		/* consumer's idle futex, or NULL */
};

/* Map a buffer of `bytes` (rounded up to a power of two, at least
 * VCR_RING_MIN_BYTES), prefaulted so that the producer takes no page fault;
 * from VCR_RING_HUGE on, aligned to it and advised as a transparent huge
 * page.
 * Returns 0 or -errno. */
int vcr_ring_init(struct vcr_ring *r, uint64_t bytes);
void vcr_ring_destroy(struct vcr_ring *r);

/* Largest record (bytes, header included) the ring can carry. */
static inline uint64_t vcr_ring_max_record(const struct vcr_ring *r)
{
	return r->size / 2;
}

static inline uint32_t vcr_ring_round(uint64_t bytes)
{
	return (uint32_t)((bytes + VCR_RING_SLOT - 1) & ~(uint64_t)(VCR_RING_SLOT - 1));
}

/* Producer: its own published head. */
static inline uint64_t vcr_ring_phead(const struct vcr_ring *r)
{
	return __atomic_load_n(&r->head, __ATOMIC_RELAXED);
}

/* Slow path of vcr_ring_reserve: padding at the end of the buffer, a stale
 * view of tail, or a full ring (then it waits); recomputes p_limit. */
void *vcr_ring_reserve_slow(struct vcr_ring *r, uint32_t len);

/* Slow path of the slow path: wait until [.., end) is free. Returns false
 * when the consumer is gone. */
bool vcr_ring_wait_space(struct vcr_ring *r, uint64_t end);

/*
 * Reserve `len` bytes (a multiple of VCR_RING_SLOT, <= vcr_ring_max_record)
 * for one record and return where to write it, or NULL when the consumer is
 * gone (the record is counted as dropped). The caller fills the record,
 * header included, then calls vcr_ring_commit. Producer thread only.
 */
static inline void *vcr_ring_reserve(struct vcr_ring *r, uint32_t len)
{
	uint64_t head = vcr_ring_phead(r);

	/* One compare: p_limit folds "fits before the end of the buffer"
	 * and "free by the cached tail" together. */
	if (__builtin_expect(head + len <= r->p_limit, 1)) {
		r->p_next = head + len;
		return r->buf + (head & r->mask);
	}
	return vcr_ring_reserve_slow(r, len);
}

/* Software prefetch (for writing) of the lines one page ahead of a record
 * of `len` bytes at `head`, every line of it: the hardware prefetcher stops
 * at page boundaries, so without it the first records of each page wait
 * for their lines (and the page walk); compiled as prefetchw where the
 * target allows, which also takes the line back from the writer's core.
 * (Prefetching only the record's first line, or none, is 5.8 or 11.8
 * instructions an exit fewer but 50-120 ns more of batch time in
 * bench/record_bench: bench/README.md, "Recorder optimisations, re-judged".) */
#define VCR_RING_PREFETCH_AHEAD 4096u

static inline __attribute__((always_inline)) void
vcr_ring_prefetch(const struct vcr_ring *r, uint64_t head, uint32_t len)
{
	const uint8_t *p = r->buf + ((head + VCR_RING_PREFETCH_AHEAD) & r->mask);
	/* Near the end of the buffer the last lines may fall past it: a
	 * prefetch never faults, and those lines are cold anyway. */
	for (uint32_t off = 0; off < len; off += VCR_RING_SLOT)
		__builtin_prefetch(p + off, 1, 3);
}

/* Publish the record reserved last. */
static inline void vcr_ring_commit(struct vcr_ring *r)
{
	__atomic_store_n(&r->head, r->p_next, __ATOMIC_RELEASE);
}

/* Consumer: take a snapshot of what the producer has published. Records
 * committed after the snapshot are not returned by vcr_ring_peek until the
 * next snapshot (the writer uses this to order rings, see writer.c).
 * Returns true when the snapshot holds unread records. */
static inline bool vcr_ring_snapshot(struct vcr_ring *r)
{
	r->c_head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
	return r->c_head != r->c_tail;
}

/* Consumer: the next record of the snapshot, skipping padding, or NULL. The
 * record stays valid until vcr_ring_release. */
static inline const struct vcr_ring_hdr *vcr_ring_peek(struct vcr_ring *r)
{
	while (r->c_tail != r->c_head) {
		const struct vcr_ring_hdr *h =
			(const struct vcr_ring_hdr *)(r->buf + (r->c_tail & r->mask));
		if (h->kind != VCR_RING_PAD)
			return h;
		r->c_tail += h->len;
		__atomic_store_n(&r->tail, r->c_tail, __ATOMIC_RELEASE);
	}
	return NULL;
}

/* Consumer: give the record returned by vcr_ring_peek back to the producer. */
static inline void vcr_ring_release(struct vcr_ring *r, const struct vcr_ring_hdr *h)
{
	r->c_tail += h->len;
	__atomic_store_n(&r->tail, r->c_tail, __ATOMIC_RELEASE);
}

/* Consumer: stop reading for good; a waiting producer gives up. */
void vcr_ring_consumer_gone(struct vcr_ring *r);

/* Consumer, after releasing records: wake the producer if it waits. */
void vcr_ring_wake_producer(struct vcr_ring *r);

/* Futex helpers shared with the consumer's idle wait. */
void vcr_futex_wait(uint32_t *word, uint32_t val, long timeout_ns);
void vcr_futex_wake(uint32_t *word);

#endif
