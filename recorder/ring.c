/* recorder/ring.c: buffer setup and the full-ring slow path (see ring.h). */
#include "recorder/ring.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"

int vcr_ring_init(struct vcr_ring *r, uint64_t bytes)
{
	uint64_t size = VCR_RING_MIN_BYTES;

	memset(r, 0, sizeof(*r));
	if (bytes > VCR_RING_MAX_BYTES)
		return -EINVAL;
	while (size < bytes)
		size <<= 1;
	void *p;
	if (size >= VCR_RING_HUGE) {
		/* 2 MiB aligned and MADV_HUGEPAGE (where THP allows it): the
		 * vCPU then crosses no 4 KiB page, so takes no TLB miss, as it
		 * fills the ring (p90 and mean per exit a little lower in
		 * record_bench). Written once here, so that the vCPU thread
		 * takes no first-touch fault while the guest runs. */
		uint8_t *raw = mmap(NULL, size + VCR_RING_HUGE, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (raw == MAP_FAILED)
			return -errno;
		uint8_t *a = (uint8_t *)(((uintptr_t)raw + VCR_RING_HUGE - 1) &
					 ~(uintptr_t)(VCR_RING_HUGE - 1));
		if (a > raw)
			munmap(raw, (size_t)(a - raw));
		if (raw + size + VCR_RING_HUGE > a + size)
			munmap(a + size, (size_t)(raw + size + VCR_RING_HUGE - (a + size)));
		madvise(a, size, MADV_HUGEPAGE);	/* a hint: may fail */
		memset(a, 0, size);
		p = a;
	} else {
		/* MAP_POPULATE: the vCPU thread must not take the first-touch
		 * page faults of its ring while the guest runs. */
		p = mmap(NULL, size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (p == MAP_FAILED)
			return -errno;
	}
	r->buf = p;
	r->size = size;
	r->mask = size - 1;
	return 0;
}

void vcr_ring_destroy(struct vcr_ring *r)
{
	if (r->buf)
		munmap(r->buf, r->size);
	r->buf = NULL;
}

void *vcr_ring_reserve_slow(struct vcr_ring *r, uint32_t len)
{
	uint64_t head = vcr_ring_phead(r);
	uint64_t pos = head & r->mask;
	uint64_t pad = pos + len > r->size ? r->size - pos : 0;
	uint64_t end = head + pad + len;

	if (end - r->p_tail > r->size) {
		r->p_tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
		if (end - r->p_tail > r->size && !vcr_ring_wait_space(r, end)) {
			__atomic_store_n(&r->dropped, r->dropped + 1, __ATOMIC_RELAXED);
			return NULL;
		}
	}
	if (pad) {
		struct vcr_ring_hdr *h = (struct vcr_ring_hdr *)(r->buf + pos);
		h->kind = VCR_RING_PAD;
		h->len = (uint32_t)pad;
	}
	r->p_next = end;
	/* The record starts at head + pad, in the lap that ends at
	 * ((head + pad) | mask) + 1; end is within both bounds. */
	uint64_t lap_end = ((head + pad) | r->mask) + 1;
	uint64_t free_end = r->p_tail + r->size;
	r->p_limit = lap_end < free_end ? lap_end : free_end;
	return r->buf + ((head + pad) & r->mask);
}

void vcr_futex_wait(uint32_t *word, uint32_t val, long timeout_ns)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = timeout_ns };
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
}

void vcr_futex_wake(uint32_t *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

bool vcr_ring_wait_space(struct vcr_ring *r, uint64_t end)
{
	uint64_t t0 = vcr_now_ns();
	bool ok = true;

	for (;;) {
		if (__atomic_load_n(&r->gone, __ATOMIC_ACQUIRE)) {
			ok = false;
			break;
		}
		uint32_t seq = __atomic_load_n(&r->wake_seq, __ATOMIC_ACQUIRE);
		/* Dekker pair with vcr_ring_wake_producer: either we see the
		 * consumer's new tail, or it sees `waiting` and bumps seq. */
		__atomic_store_n(&r->waiting, 1, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		r->p_tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
		if (end - r->p_tail <= r->size)
			break;
		if (r->doorbell) {
			__atomic_add_fetch(r->doorbell, 1, __ATOMIC_SEQ_CST);
			vcr_futex_wake(r->doorbell);
		}
		vcr_futex_wait(&r->wake_seq, seq, 1000000);
	}
	__atomic_store_n(&r->waiting, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&r->stalls, r->stalls + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&r->stall_ns, r->stall_ns + (vcr_now_ns() - t0), __ATOMIC_RELAXED);
	return ok;
}

void vcr_ring_wake_producer(struct vcr_ring *r)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&r->waiting, __ATOMIC_RELAXED)) {
		__atomic_add_fetch(&r->wake_seq, 1, __ATOMIC_SEQ_CST);
		vcr_futex_wake(&r->wake_seq);
	}
}

void vcr_ring_consumer_gone(struct vcr_ring *r)
{
	__atomic_store_n(&r->gone, 1, __ATOMIC_RELEASE);
	__atomic_add_fetch(&r->wake_seq, 1, __ATOMIC_SEQ_CST);
	vcr_futex_wake(&r->wake_seq);
}
