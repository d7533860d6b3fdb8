/* recorder/ring.c: buffer setup and the full-ring slow path (see ring.h). */
#include "recorder/ring.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

int vcr_ring_init(struct vcr_ring *r, uint64_t bytes)
{
	uint64_t size = VCR_RING_MIN_BYTES;

	memset(r, 0, sizeof(*r));
	if (bytes > VCR_RING_MAX_BYTES)
		return -EINVAL;
	while (size < bytes)
		size <<= 1;
	/* MAP_POPULATE: the vCPU thread must not take the first-touch page
	 * faults of its ring while the guest runs. */
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
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

static uint64_t ring_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

bool vcr_ring_wait_space(struct vcr_ring *r, uint64_t end)
{
	/* Sleeping rather than spinning: the writer may need this very core
	 * to catch up (two-core machines), and a stall is already the slow
	 * case. 20 us is well below the writer's time to drain a batch. */
	const struct timespec nap = { .tv_sec = 0, .tv_nsec = 20000 };
	uint64_t t0 = ring_now_ns();
	bool ok = true;

	for (;;) {
		if (__atomic_load_n(&r->gone, __ATOMIC_ACQUIRE)) {
			ok = false;
			break;
		}
		nanosleep(&nap, NULL);
		r->p_tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
		if (end - r->p_tail <= r->size)
			break;
	}
	__atomic_store_n(&r->stalls, r->stalls + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&r->stall_ns, r->stall_ns + (ring_now_ns() - t0), __ATOMIC_RELAXED);
	return ok;
}
