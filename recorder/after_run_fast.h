/*
 * recorder/after_run_fast.h: the fast path of vcr_recorder_after_run,
 * included twice by recorder/recorder.c: once compiled for AVX2 and once for
 * baseline x86-64 (an ifunc picks one when the program loads). Before
 * including, recorder.c defines
 *   REC_FAST_NAME      the function's name
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
REC_FAST_ATTR static void REC_FAST_NAME(struct vcr_recorder_vcpu *v, const struct kvm_run *run)
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
				v->in_n = (uint32_t)n;
				v->in_kind = VCR_INPUT_IO_IN;
				v->pending = REC_PENDING_IN8;
			} else {
				v->pending = REC_PENDING_IO_IN;
			}
		}
	} else if (reason == KVM_EXIT_MMIO) {
		if (!run->mmio.is_write) {
			v->in_src = run->mmio.data;
			v->in_n = run->mmio.len <= 8 ? run->mmio.len : 8;
			v->in_kind = VCR_INPUT_MMIO_READ;
			v->pending = REC_PENDING_IN8;
		}
	} else if (!rec_small_union(reason)) {
		goto slow;
	}

	/* Second header word: reason, dlen, valid (flags added below). One
	 * register from here on instead of three. */
	uint64_t w1 = reason | dlen << 32 | (uint64_t)(run->kvm_valid_regs & VCR_CLASS_ALL) << 48;
	const uint8_t *sr = (const uint8_t *)&run->s.regs;
	bool same = REC_FAST_SE_SAME(sr + REC_SE_OFF, v);
	uint64_t len = same ? REC_EXIT_SHORT_SLOTS * VCR_RING_SLOT
			    : REC_EXIT_FULL_SLOTS * VCR_RING_SLOT;
	struct vcr_ring *g = &v->ring;
	uint64_t head = g->p_head;
	uint64_t pos = head & g->mask;
	if (__builtin_expect(pos + len > g->size || head + len - g->p_tail > g->size, 0))
		goto slow;
	vcr_ring_prefetch(g, head);

	uint8_t *e = g->buf + pos;
	uint8_t *bytes;
	/* struct vcr_ring_hdr, then reason, dlen, valid, flags: two words. */
	*(rec_u64u *)e = len | (uint64_t)VCR_RING_EXIT << 32 | (uint64_t)REC_UNION_SMALL << 48;
	if (__builtin_expect(same, 1)) {
		*(rec_u64u *)(e + 8) = w1 | (uint64_t)REC_EXIT_SHORT << 56;
		/* regs: 144 bytes = 4 vectors + 16 bytes. */
#pragma GCC unroll 4
		for (int i = 0; i < 4; i++)
			rec_copy32(e + REC_EXIT_HDR + 32 * i, sr + 32 * i);
		rec_copy16(e + REC_EXIT_HDR + 128, sr + 128);
		bytes = e + REC_EXIT_SHORT_BYTES;
	} else {
		/* kvm_run->s.regs is laid out exactly as struct vcr_vcpu_state
		 * (static asserts): one copy of the three classes, and the new
		 * sregs + events to compare the next exits with. */
		*(rec_u64u *)(e + 8) = w1;
		rec_copy_state(e + REC_EXIT_HDR, sr);
		rec_copy_se(v->se, sr + REC_SE_OFF);
		rec_clear_poison(v);
		bytes = e + REC_EXIT_FULL_BYTES;
	}
	/* 32 bytes: the union's REC_UNION_SMALL, then d over the rest. */
	rec_copy32(bytes, &run->hw);
	*(rec_u64u *)(bytes + REC_UNION_SMALL) = d;
	g->p_head = head + len;
	__atomic_store_n(&g->head, head + len, __ATOMIC_RELEASE);
	return;
slow:
	rec_after_run_slow(v, run);
}
