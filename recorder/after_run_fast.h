/*
 * recorder/after_run_fast.h: the fast path of vcr_recorder_after_run,
 * included twice by recorder/vcpu.c: once compiled for AVX2 and once for
 * baseline x86-64 (an ifunc picks one when the program loads). Before
 * including, vcpu.c defines
 *   REC_FAST_NAME      the function's name (always inlined into the
 *                      observer callback of its variant; the ifunc takes
 *                      an out-of-line copy)
 *   REC_FAST_ATTR      its target attribute (or nothing)
 *   REC_FAST_SE_SAME   bool (const uint8_t *sse, const struct vcr_recorder_vcpu *v):
 *                      do the REC_SE_SIZE bytes at sse equal v->se, with
 *                      v->se_poison (non-zero until the first full EXIT)
 *                      OR-ed into the difference?
 *
 * The frequent exits (port I/O with up to 8 bytes of OUT data, MMIO, HLT,
 * SHUTDOWN, INTR, FAIL_ENTRY), when the record fits before the end of
 * the ring and the ring has room by the producer's cached view of tail; all
 * else goes to rec_after_run_slow. No call on this path (the slow path is a
 * tail call), so the compiler needs no callee-saved register.
 */
REC_FAST_ATTR static inline __attribute__((always_inline)) void
REC_FAST_NAME(struct vcr_recorder_vcpu *v, const struct kvm_run *run)
{
	uint32_t reason = run->exit_reason;
	uint64_t d = 0;
	uint64_t dlen = 0;

	if (reason == KVM_EXIT_IO) {
		if (run->io.direction == KVM_EXIT_IO_OUT) {
			uint64_t off = run->io.data_offset;
			dlen = (uint64_t)run->io.size * run->io.count;
			/* run_size > sizeof(struct kvm_run): no underflow. */
			if (__builtin_expect(dlen > REC_INLINE_DATA ||
					     off > v->run_size - REC_INLINE_DATA, 0))
				goto slow;
			/* A fixed 8-byte copy: the bytes past dlen are not
			 * read back. */
			d = *(const rec_u64u *)((const uint8_t *)run + off);
		} else {
			/* IN: before_run records the VMM's answer; up to 8
			 * bytes by the pointer checked here. */
			uint64_t off = run->io.data_offset;
			uint64_t n = (uint64_t)run->io.size * run->io.count;
			if (__builtin_expect(n <= REC_INLINE_DATA &&
					     off <= v->run_size - REC_INLINE_DATA, 1)) {
				v->in_src = (const uint8_t *)run + off;
				v->in_n = n;
				v->pending = REC_PENDING_IN8(VCR_INPUT_IO_IN);
			} else {
				v->pending = REC_PENDING_IO_IN;
			}
		}
	} else if (reason == KVM_EXIT_MMIO) {
		if (!run->mmio.is_write) {
			v->in_src = run->mmio.data;
			v->in_n = run->mmio.len <= 8 ? run->mmio.len : 8;
			v->pending = REC_PENDING_IN8(VCR_INPUT_MMIO_READ);
		}
	} else if (!rec_small_union(reason)) {
		goto slow;
	}

	/* The header word but its length and REC_XF_SHORT (reason < 32
	 * here). */
	uint64_t hdr = (uint64_t)VCR_RING_EXIT << 32 |
		       (uint64_t)(REC_XF_FAST | reason | dlen << REC_XF_DLEN_SHIFT) << 48;
	struct vcr_ring *g = &v->ring;
	uint64_t head = vcr_ring_phead(g);
	if (__builtin_expect(head + REC_XF_SHORT_SLOTS * VCR_RING_SLOT > g->p_limit, 0))
		goto slow;
	vcr_ring_prefetch(g, head, REC_XF_SHORT_SLOTS * VCR_RING_SLOT);
	uint8_t *e = g->buf + (head & g->mask);
	/* The short record first, then the compare that decides whether it
	 * stays short (see rec_fast_short). */
	rec_fast_short(e, run, hdr, d);
	if (__builtin_expect(REC_FAST_SE_SAME((const uint8_t *)&run->s.regs + REC_SE_OFF, v), 1)) {
		__atomic_store_n(&g->head, head + REC_XF_SHORT_SLOTS * VCR_RING_SLOT,
				 __ATOMIC_RELEASE);
		return;
	}
	if (rec_fast_full(v, e, head, run, hdr))
		return;
slow:
	rec_after_run_slow(v, run);
}
