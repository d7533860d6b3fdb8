/*
 * recorder/preload/producer.h: the producer side of the rings of
 * recorder/preload/shm.h, shared by the two writers of those records:
 * libvcr-preload.so (preload.c, inside the VMM) and vcr's seccomp tracer
 * (recorder/seccomp.c, outside it, on the same kvm_run pages mapped through
 * pidfd_getfd). Header only, static inline: the preload library links
 * nothing of libvcr, and its KVM_RUN path must compile to what it was.
 *
 * One struct vcr_pre_prod per ring; one producer thread per ring (the VM
 * ring's producers hold the shared header's lock). vcr_pre_enter and
 * vcr_pre_exit_body are what a KVM_RUN costs: the first before the real
 * call (the VMM's answer to the previous IN / MMIO read and its
 * kvm_dirty_regs as a BEFORE record, the sync classes ORed into
 * kvm_valid_regs), the second after it (the EXIT record).
 */
#ifndef VCR_RECORDER_PRELOAD_PRODUCER_H
#define VCR_RECORDER_PRELOAD_PRODUCER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <linux/kvm.h>

#include "recorder/preload/shm.h"

#define VCR_PRE_CLASS_ALL 7u
#define VCR_PRE_PENDING_IN 1u
#define VCR_PRE_PENDING_MMIO 2u

/* A ring's producer state (the shared part is sh). */
struct vcr_pre_prod {
	struct kvm_run *run;		/* our own mapping; NULL: not recorded */
	uint32_t run_size;
	uint32_t first;			/* no KVM_RUN yet */
	struct vcr_pre_vcpu *sh;
	uint8_t *buf;
	uint64_t size, mask;
	uint64_t head;			/* own copy of sh->head */
	/* head may grow up to lim without a look at the consumer or the
	 * buffer's end: the lesser of (tail last seen + size) and the end
	 * of head's lap. 0 at the start: the first record computes it. */
	uint64_t lim;
	uint64_t c_tail;		/* last tail seen */
	uint32_t pending;		/* PRE_PENDING_* of the last exit */
	uint32_t in_len, in_off;	/* where its answer goes in kvm_run */
};

/* 8 aligned bytes of a record, stored as one word. */
typedef uint64_t vcr_pre_w64 __attribute__((may_alias));

/* A record header as one store: len, kind, arg 0 (little-endian x86-64). */
static inline uint64_t vcr_pre_hdr_word(uint32_t len, uint16_t kind)
{
	return (uint64_t)len | (uint64_t)kind << 32;
}

/* The record does not fit below lim: pad to the buffer's end if it would
 * not fit there, wait for room, recompute lim. */
static __attribute__((unused, noinline)) uint8_t *
vcr_pre_reserve_slow(struct vcr_pre_prod *v, uint32_t len, uint64_t *next)
{
	uint64_t head = v->head;
	uint64_t off = head & v->mask;
	uint64_t pad = off + len > v->size ? v->size - off : 0;
	uint64_t need = head + pad + len;
	uint64_t seen = v->c_tail;
	unsigned idle = 0;

	for (;;) {
		v->c_tail = __atomic_load_n(&v->sh->tail, __ATOMIC_ACQUIRE);
		if (need - v->c_tail <= v->size)
			break;
		if (v->c_tail != seen) {
			seen = v->c_tail;
			idle = 0;
		}
		if (++idle > VCR_PRE_FULL_WAIT_MS * 20) {
			__atomic_fetch_add(&v->sh->dropped, 1, __ATOMIC_RELAXED);
			return NULL;
		}
		struct timespec ts = { 0, 50000 };
		nanosleep(&ts, NULL);
	}
	if (pad) {
		*(vcr_pre_w64 *)(v->buf + off) = vcr_pre_hdr_word((uint32_t)pad, VCR_PRE_PAD);
		off = 0;
	}
	uint64_t lap_end = ((head + pad) | v->mask) + 1;
	v->lim = v->c_tail + v->size < lap_end ? v->c_tail + v->size : lap_end;
	*next = need;
	return v->buf + off;
}

/* Room for a record of len bytes (multiple of 8, <= size / 2), or NULL
 * (dropped). Pads to the end of the buffer when it would not fit. The
 * common case is one compare against lim. */
static inline __attribute__((always_inline)) uint8_t *
vcr_pre_reserve(struct vcr_pre_prod *v, uint32_t len, uint64_t *next)
{
	uint64_t head = v->head;

	if (__builtin_expect(head + len > v->lim, 0))
		return vcr_pre_reserve_slow(v, len, next);
	*next = head + len;
	return v->buf + (head & v->mask);
}

static inline void vcr_pre_commit(struct vcr_pre_prod *v, uint64_t next)
{
	v->head = next;
	__atomic_store_n(&v->sh->head, next, __ATOMIC_RELEASE);
}

/* ---- records ------------------------------------------------------------ */

/* What the VMM did since the last exit: the answer it wrote for that exit
 * (if it was an IN or an MMIO read) and the classes in `dirty`. */
static __attribute__((unused, noinline)) void vcr_pre_before_rec(struct vcr_pre_prod *v, uint32_t dirty, const struct kvm_sync_regs *sync)
{
	uint32_t in = v->pending ? v->in_len : 0;
	uint32_t slen = dirty ? sizeof(struct kvm_sync_regs) : 0;
	uint32_t len = vcr_pre_round(sizeof(struct vcr_pre_before) + slen + in);
	uint64_t next;
	struct vcr_pre_before *b = (struct vcr_pre_before *)vcr_pre_reserve(v, len, &next);

	v->pending = 0;
	if (!b)
		return;
	*(vcr_pre_w64 *)b = vcr_pre_hdr_word(len, VCR_PRE_BEFORE);
	b->dirty = dirty;
	b->in_len = in;
	if (dirty)
		memcpy(b + 1, sync, slen);
	if (in)
		memcpy((uint8_t *)(b + 1) + slen, (const uint8_t *)v->run + v->in_off, in);
	vcr_pre_commit(v, next);
}

/* 32-byte vectors, unaligned: compiled to one AVX load/store each in
 * pre_exit_avx2, to two SSE2 ones in pre_exit_sse2. */
typedef uint8_t vcr_pre_v32 __attribute__((vector_size(32), aligned(1), may_alias));
typedef uint64_t vcr_pre_u64u __attribute__((aligned(1), may_alias));

static inline __attribute__((always_inline)) void
vcr_pre_copy32(uint8_t *dst, const uint8_t *src, size_t n)
{
#pragma GCC unroll 32
	for (size_t i = 0; i < n; i += 32)
		*(vcr_pre_v32 *)(dst + i) = *(const vcr_pre_v32 *)(src + i);
}

/* The common BEFORE: the answer (<= 8 bytes, 8 readable) to an IN or an
 * MMIO read, no dirty classes. */
static inline void vcr_pre_answer8(struct vcr_pre_prod *v)
{
	uint64_t next;
	struct vcr_pre_before *b = (struct vcr_pre_before *)vcr_pre_reserve(v, 24, &next);

	v->pending = 0;
	if (!b)
		return;
	*(vcr_pre_w64 *)b = vcr_pre_hdr_word(24, VCR_PRE_BEFORE);
	*(vcr_pre_w64 *)&b->dirty = (uint64_t)v->in_len << 32;	/* dirty 0, in_len */
	*(vcr_pre_u64u *)(b + 1) = *(const vcr_pre_u64u *)((const uint8_t *)v->run + v->in_off);
	vcr_pre_commit(v, next);
}

/* intr: KVM_RUN failed with EINTR, which leaves exit_reason as it was (a
 * stale reason, or 0 at the first run): the copy says KVM_EXIT_INTR. */
static inline __attribute__((always_inline)) void
vcr_pre_exit_body(struct vcr_pre_prod *v, const struct kvm_run *run, int intr)
{
	const uint8_t *d = NULL;
	uint32_t dlen = 0;
	uint32_t reason = run->exit_reason;

	if (intr) {
		/* nothing to serve */
	} else if (reason == KVM_EXIT_IO) {
		uint64_t n = (uint64_t)run->io.size * run->io.count;
		/* 8 bytes readable at the data even when n < 8: the short
		 * copies below move one word. */
		if (run->io.data_offset + (n < 8 ? 8 : n) <= v->run_size && n <= v->size / 4) {
			if (run->io.direction == KVM_EXIT_IO_OUT) {
				d = (const uint8_t *)run + run->io.data_offset;
				dlen = (uint32_t)n;
			} else {
				v->pending = VCR_PRE_PENDING_IN;
				v->in_len = (uint32_t)n;
				v->in_off = (uint32_t)run->io.data_offset;
			}
		}
	} else if (reason == KVM_EXIT_MMIO && !run->mmio.is_write && run->mmio.len <= 8) {
		v->pending = VCR_PRE_PENDING_MMIO;
		v->in_len = run->mmio.len;
		v->in_off = offsetof(struct kvm_run, mmio.data);
	}

	uint32_t len = vcr_pre_round(sizeof(struct vcr_pre_exit) + dlen);
	uint64_t next;
	struct vcr_pre_exit *e = (struct vcr_pre_exit *)vcr_pre_reserve(v, len, &next);
	if (!e)
		return;
	*(vcr_pre_w64 *)e = vcr_pre_hdr_word(len, VCR_PRE_EXIT);
	*(vcr_pre_w64 *)&e->dlen = dlen;			/* and pad 0 */
	/* The exit union's first 24 bytes hold the payload of the frequent
	 * exits (io, mmio; none for HLT and INTR): two vectors cover them
	 * with the fields before; the others copy the whole union. Then
	 * kvm_valid_regs to the end of the synced registers. */
	const uint8_t *src = (const uint8_t *)run;
	if (intr || reason == KVM_EXIT_IO || reason == KVM_EXIT_MMIO || reason == KVM_EXIT_HLT)
		vcr_pre_copy32(e->run, src, 64);
	else
		memcpy(e->run, src, VCR_PRE_RUN_TAIL_OFF);
	vcr_pre_copy32(e->run + VCR_PRE_RUN_TAIL_OFF, src + VCR_PRE_RUN_TAIL_OFF,
		   VCR_PRE_RUN_COPY - VCR_PRE_RUN_TAIL_OFF);
	if (intr) {
		uint32_t r = KVM_EXIT_INTR;
		memcpy(e->run + offsetof(struct kvm_run, exit_reason), &r, sizeof(r));
	}
	/* 1 to 8 bytes: the record has room for a word (rounded to 8), and 8
	 * are readable at d. None: the record ends at VCR_PRE_RUN_COPY, and
	 * its next word may be the ring's end or bytes vcr has not read. */
	if (dlen - 1u < 8u)
		*(vcr_pre_u64u *)(e->run + VCR_PRE_RUN_COPY) = *(const vcr_pre_u64u *)d;
	else if (dlen)
		memcpy(e->run + VCR_PRE_RUN_COPY, d, dlen);
	vcr_pre_commit(v, next);
}

_Static_assert(VCR_PRE_RUN_TAIL_OFF % 32 == 0 && VCR_PRE_RUN_COPY >= 64 &&
	       (VCR_PRE_RUN_COPY - VCR_PRE_RUN_TAIL_OFF) % 32 == 0 &&
	       VCR_PRE_RUN_COPY <= offsetof(struct kvm_run, s) + sizeof(((struct kvm_run *)0)->s),
	       "the vector copies stay inside kvm_run and the record");

static inline void vcr_pre_inject_rec(struct vcr_pre_prod *v, uint16_t kind, uint32_t vector)
{
	uint64_t next;
	struct vcr_pre_inject *j =
		(struct vcr_pre_inject *)vcr_pre_reserve(v, sizeof(struct vcr_pre_inject), &next);

	if (!j)
		return;
	*(vcr_pre_w64 *)j = vcr_pre_hdr_word(sizeof(*j), VCR_PRE_INJECT) | (uint64_t)kind << 48;
	j->vector = vector;
	j->pad = 0;
	vcr_pre_commit(v, next);
}


/* Before a KVM_RUN on run (v's kvm_run): the BEFORE record if the VMM answered
 * the last exit or set kvm_dirty_regs, then our sync classes ORed into
 * kvm_valid_regs. Returns kvm_valid_regs as the VMM left it. */
static inline __attribute__((always_inline)) uint64_t
vcr_pre_enter(struct vcr_pre_prod *v, struct kvm_run *run, uint64_t valid_bits)
{
	uint32_t dirty = run->kvm_dirty_regs & VCR_PRE_CLASS_ALL;

	if (v->pending | dirty) {
		if (!dirty && v->in_len <= 8)
			vcr_pre_answer8(v);
		else
			vcr_pre_before_rec(v, dirty, &run->s.regs);
	}
	uint64_t old = run->kvm_valid_regs;
	run->kvm_valid_regs = old | valid_bits;
	return old;
}

/* A KVM_IRQ_LINE(_STATUS) record into v (the VM ring: lock held). */
static inline void vcr_pre_irq_line_rec(struct vcr_pre_prod *v, uint32_t gsi, uint32_t level)
{
	uint64_t next;
	struct vcr_pre_irq_line *q =
		(struct vcr_pre_irq_line *)vcr_pre_reserve(v, sizeof(*q), &next);

	if (!q)
		return;
	*(vcr_pre_w64 *)q = vcr_pre_hdr_word(sizeof(*q), VCR_PRE_IRQ_LINE);
	q->gsi = gsi;
	q->level = level;
	vcr_pre_commit(v, next);
}

/* v's ring in the shared memory at h, index idx (VCR_PRE_MAX_VCPUS: the
 * VM ring). */
static inline void vcr_pre_prod_init(struct vcr_pre_prod *v, struct vcr_pre_hdr *h, uint32_t idx)
{
	v->sh = idx < VCR_PRE_MAX_VCPUS ? &h->vcpu[idx] : &h->vm;
	v->buf = (uint8_t *)h + h->ring_off + (uint64_t)idx * h->ring_bytes;
	v->size = h->ring_bytes;
	v->mask = h->ring_bytes - 1;
	v->lim = 0;
}

/* ---- the VM-wide table and vCPU slots (writer holds hdr->lock, or is
 * the only writer) ---------------------------------------------------- */

static inline void vcr_pre_gen_bump(struct vcr_pre_hdr *h)
{
	__atomic_store_n(&h->gen, h->gen + 1, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* KVM_SET_USER_MEMORY_REGION(2) done: the slot table follows it. */
static __attribute__((unused)) void vcr_pre_table_memslot(struct vcr_pre_hdr *h,
					 const struct kvm_userspace_memory_region *m)
{
	uint32_t i;

	vcr_pre_gen_bump(h);
	for (i = 0; i < h->nslots && h->slots[i].slot != m->slot; i++)
		;
	if (m->memory_size == 0) {
		if (i < h->nslots) {
			memmove(&h->slots[i], &h->slots[i + 1],
				(h->nslots - i - 1) * sizeof(h->slots[0]));
			h->nslots--;
		}
	} else if (i < VCR_PRE_MAX_SLOTS) {
		h->slots[i].slot = m->slot;
		h->slots[i].flags = m->flags;
		h->slots[i].gpa = m->guest_phys_addr;
		h->slots[i].size = m->memory_size;
		h->slots[i].uaddr = m->userspace_addr;
		if (i == h->nslots)
			h->nslots++;
	}
	vcr_pre_gen_bump(h);
}

/* KVM_SET_CPUID2 on the first vCPU done (it stands for all). */
static __attribute__((unused)) void vcr_pre_table_cpuid(struct vcr_pre_hdr *h,
				       const struct kvm_cpuid_entry2 *e, uint32_t nent)
{
	uint32_t n = nent < VCR_PRE_MAX_CPUID ? nent : VCR_PRE_MAX_CPUID;

	vcr_pre_gen_bump(h);
	memcpy(h->cpuid, e, n * sizeof(*e));
	h->ncpuid = n;
	vcr_pre_gen_bump(h);
}

/* The index of the vCPU with KVM id `id`, -1 if all slots are taken.
 * *fresh: a new slot, whose id is set; the caller sets up its producer,
 * then vcr_pre_claim_publish. */
static __attribute__((unused)) int vcr_pre_claim_slot(struct vcr_pre_hdr *h, uint32_t id, int *fresh)
{
	*fresh = 0;
	for (uint32_t i = 0; i < h->nvcpus; i++)
		if (h->vcpu[i].id == id)
			return (int)i;
	if (h->nvcpus >= VCR_PRE_MAX_VCPUS)
		return -1;
	*fresh = 1;
	h->vcpu[h->nvcpus].id = id;
	return (int)h->nvcpus;
}

static inline void vcr_pre_claim_publish(struct vcr_pre_hdr *h, uint32_t idx)
{
	__atomic_store_n(&h->vcpu[idx].state, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&h->nvcpus, idx + 1, __ATOMIC_RELEASE);
}

#endif
