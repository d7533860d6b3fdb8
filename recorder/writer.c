/*
 * recorder/writer.c: the recorder's writer thread. It drains the vCPU rings
 * and the control ring round-robin, in the order recorder.h promises (a
 * control record after the vCPU records its FENCE names), turns each ring
 * record (layout.h) back into a trace record, rebuilding the kvm_run page
 * the one exit decoder in core/ reads, and hands it to the trace writer;
 * it flushes when the guest is quiet and, after the first write error,
 * keeps draining without writing so that no vCPU waits forever.
 */
#include "recorder/internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/state.h"

#define REC_BATCH 256u		/* records per ring per round */
#define REC_IDLE_NS 1000000u	/* writer's sleep when every ring is empty */
#define REC_CHASE_MIN 64u	/* fewer records in a round: sleep too */

void vcr_rec_fail(struct vcr_recorder *r, int rc, const char *what)
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
/* A MEM_WRITE record of the VMM's bytes (from the ring or a heap copy);
 * the pages count as touched for full checkpoints. */
static void rec_mem_write(struct vcr_recorder *r, struct vcr_record *rec, uint64_t gpa,
			  uint64_t len, const uint8_t *data)
{
	rec->type = VCR_REC_MEM_WRITE;
	rec->u.mem.gpa = gpa;
	rec->u.mem.len = len;
	rec->u.mem.data = data;
	vcr_rec_ckpt_touch(r, gpa, len);
}

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
		rec_mem_write(r, rec, m->gpa, m->len, m->data);
		break;
	}
	case VCR_RING_MARKER: {
		const struct rr_marker *m = (const void *)h;
		rec->type = VCR_REC_MARKER;
		rec->u.marker.text = m->text;
		break;
	}
	case VCR_RING_IRQ_LINE: {
		const struct rr_irq_line *q = (const void *)h;
		rec->type = VCR_REC_IRQ_LINE;
		rec->u.irq_line.gsi = q->gsi;
		rec->u.irq_line.level = q->level;
		rec->u.irq_line.flags = h->arg;
		break;
	}
	case VCR_RING_NOTE: {
		const struct rr_note *m = (const void *)h;
		rec->type = VCR_REC_NOTE;
		rec->u.note.kind = m->kind;
		rec->u.note.len = m->len;
		rec->u.note.text = m->text;
		break;
	}
	case VCR_RING_CKPT:
		return vcr_rec_ckpt_write(r, ((const struct rr_ckpt *)h)->buf);
	case VCR_RING_MEM_BUF: {
		const struct rr_mem_buf *m = (const void *)h;
		rec_mem_write(r, rec, m->gpa, m->len, m->buf);
		int rc = vcr_writer_append(r->w, rec);
		free(m->buf);
		return rc;
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
		if (h->kind == VCR_RING_CKPT)
			vcr_rec_ckpt_discard(r, ((const struct rr_ckpt *)h)->buf);
		if (h->kind == VCR_RING_MEM_BUF)
			free(((const struct rr_mem_buf *)h)->buf);
	} else {
		int rc = rec_emit(r, vcpu, h);
		if (rc < 0) {
			r->w_dropped++;
			vcr_rec_fail(r, rc, "writing trace");
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

void vcr_rec_publish_stats(struct vcr_recorder *r)
{
	struct vcr_writer_stats st;
	vcr_writer_get_stats(r->w, &st);
	pthread_mutex_lock(&r->lock);
	r->wstats = st;
	pthread_mutex_unlock(&r->lock);
}

void *vcr_rec_writer_main(void *arg)
{
	struct vcr_recorder *r = arg;
	uint64_t last = vcr_now_ns();
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
			last = vcr_now_ns();
			vcr_rec_publish_stats(r);
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
			   vcr_now_ns() - last >= (uint64_t)r->flush_ms * 1000000u) {
			int rc = vcr_writer_flush(r->w);
			if (rc < 0)
				vcr_rec_fail(r, rc, "flushing trace");
			unflushed = false;
			vcr_rec_publish_stats(r);
		}
		/* Idle: sleep, unless a stalled vCPU rang since the round
		 * started (then the futex value differs and this returns). */
		vcr_futex_wait(&r->doorbell, bell, REC_IDLE_NS);
	}
	return NULL;
}
