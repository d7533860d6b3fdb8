/*
 * recorder/internal.h: the inside of struct vcr_recorder and of a vCPU's
 * handle, and the few functions one recorder/ source calls in another.
 * Nothing outside recorder/ includes this (recorder/recorder.h is the
 * contract).
 *
 * Who owns what:
 *   vcpu.c     the producers: every hook that puts a record into a ring
 *              (the vCPU's own, or the control ring), the after_run fast
 *              path (after_run_fast.h) and the vmm_observer adapter
 *   writer.c   the writer thread: drains the rings into the trace writer
 *   recorder.c open, end, close: the recorder's lifecycle
 *   report.c   the counters and the end-of-run line
 *   ckpt.c     memory checkpoints: the copy (checkpoint thread, vCPUs
 *              paused) and the encoding into CKPT / CKPT_PAGES (writer thread)
 *   layout.h   the ring records between vcpu.c and writer.c
 */
#ifndef VCR_RECORDER_INTERNAL_H
#define VCR_RECORDER_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "formats/trace.h"
#include "recorder/layout.h"
#include "recorder/recorder.h"
#include "recorder/ring.h"

struct vcr_recorder_vcpu {
	struct vcr_ring ring;
	/* Producer-only state, next to the ring's producer line in use. */
	uint64_t pending;		/* enum rec_pending (vcpu.c) */
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

#define REC_CKPT_REGIONS 8

struct rec_ckpt_region {
	uint64_t gpa, npages;
	uint64_t *touched;		/* pages the guest dirtied or the VMM
					 * wrote so far (full checkpoints);
					 * atomic ORs: the writer thread marks
					 * MEM_WRITEs */
	/* Writer thread's, for XOR pages (recorder/ckpt.c): every page as
	 * last stored (anonymous, NORESERVE: a page costs memory once
	 * stored; NULL: no XOR), the checkpoint number that stored it + 1
	 * (0: none) and its version's XOR chain length + 1 (0: the shadow
	 * does not hold it: pages enter it when stored a second time). */
	uint8_t *shadow;
	uint64_t *last;
	uint8_t *depth;
	/* Pages the VMM wrote since the last pre-copy (atomic ORs by the
	 * threads that write, exchanged to 0 by the copies): host writes are
	 * not in KVM's dirty log, so a pre-copied page the VMM wrote after is
	 * copied again at the pause. */
	uint64_t *vmmw;
};

/* One checkpoint between its copy and the writer thread (owned by the
 * control ring record that carries it, then freed by the writer). */
struct rec_ckpt_buf {
	uint64_t number;
	uint32_t flags;			/* VCR_CKPT_* */
	uint32_t nreg;
	struct {
		uint64_t gpa, npages;
		uint64_t *dirty, *stored;	/* stored == dirty unless FULL */
		uint64_t nstored;
		/* Where each stored page's copy is, in bitmap order: in
		 * `pages` (copied at the pause) or in `pre` (copied before
		 * it, by vcr_recorder_checkpoint_pre, and not dirtied since). */
		const uint8_t **pp;
		uint8_t *pages, *pre;
	} reg[REC_CKPT_REGIONS];
};

/* A pre-copy waiting for its pause (recorder/ckpt.c): per region the pages
 * KVM's log had dirty (taken out of the log, so they belong to the next
 * checkpoint whatever happens) and the copies made of them, or none
 * (copied == NULL: the copy failed; the pause copies them). */
struct rec_ckpt_pre {
	struct {
		uint64_t gpa, npages;
		uint64_t *dirty, *copied;
		uint8_t *pages;			/* popcount(copied) pages */
	} reg[REC_CKPT_REGIONS];
	uint32_t nreg;
};

struct rec_ckpt_state {
	uint32_t nreg;
	struct rec_ckpt_region reg[REC_CKPT_REGIONS];
	uint64_t budget;		/* bytes/s; 0: none */
	uint32_t share;			/* percent of the time; 0: none */
	uint64_t work_ns;		/* atomic: checkpoint work since the
					 * last delay was worked out */
	uint64_t ring_bytes;
	uint64_t number;		/* next checkpoint's */
	uint64_t full_at;		/* trace bytes at the last full one */
	uint32_t pending;		/* atomic: handed over, not yet written */
	/* The pre-copy and the pause's copy exclude each other (one vCPU:
	 * an exit mark may start the pause during a timed pre-copy). */
	pthread_mutex_t copy_lock;
	struct rec_ckpt_pre *pre;	/* under copy_lock */
	/* Writer thread's: the encoding buffer and the repeat table. */
	uint8_t *enc;
	uint64_t *htab;			/* (hash, ordinal + 1) pairs */
	size_t htab_cap;
	/* Counters, under the recorder's lock. */
	uint64_t count, dirty, stored, copy_ns, copy_max_ns, skipped;
	uint64_t pre_count, pre_ns, pre_served;	/* pre-copies; their pages
						 * stored without a copy at
						 * the pause */
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

	struct rec_ckpt_state ck;

	/* nvcpus of them, in the same allocation: the observer callbacks
	 * find a vCPU's state at a fixed offset from ctx, with no pointer
	 * to load first (one load less on the vCPU's dependency chain). */
	struct vcr_recorder_vcpu vcpus[];
};

/* writer.c: the writer thread's body (arg: the recorder). */
void *vcr_rec_writer_main(void *arg);

/* writer.c: keep the first writer error `rc` (while doing `what`), tell
 * opts.on_error, and stop writing (records are then counted as dropped).
 * Writer thread, or close after it has been joined. */
void vcr_rec_fail(struct vcr_recorder *r, int rc, const char *what);

/* writer.c: copy the trace writer's counters for vcr_recorder_get_stats. */
void vcr_rec_publish_stats(struct vcr_recorder *r);

/* vcpu.c: under control_lock, a FENCE with the vCPU rings' heads (none
 * before the run). */
void vcr_rec_control_fence(struct vcr_recorder *r);

/* ckpt.c: set up from the trace header's regions (open), free (close);
 * the writer thread's side: write one checkpoint (and free it), mark the
 * pages a MEM_WRITE touched. */
int vcr_rec_ckpt_init(struct vcr_recorder *r, const struct vcr_trace_info *info,
		      const struct vcr_recorder_opts *opts);
void vcr_rec_ckpt_free(struct vcr_recorder *r);
int vcr_rec_ckpt_write(struct vcr_recorder *r, struct rec_ckpt_buf *b);
void vcr_rec_ckpt_discard(struct vcr_recorder *r, struct rec_ckpt_buf *b);
void vcr_rec_ckpt_touch(struct vcr_recorder *r, uint64_t gpa, uint64_t len);
/* ckpt.c, for the observer's mem_write (any thread, after the write): the
 * VMM wrote [gpa, gpa + len), which KVM's dirty log does not see. */
void vcr_rec_ckpt_vmm_wrote(struct vcr_recorder *r, uint64_t gpa, uint64_t len);

/* report.c: the summary as of now (w_dropped not included: it belongs to
 * the writer thread). */
void vcr_rec_fill_summary(struct vcr_recorder *r, struct vcr_recorder_summary *s);

#endif
