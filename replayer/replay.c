/*
 * replayer/replay.c: re-execution of a trace on KVM (see replay.h).
 *
 * Shape: the main thread checks the trace and the guest image, rebuilds the
 * VM, writes the memory records that precede the first exit (the loader's),
 * then starts one thread per vCPU and watches for progress. Each vCPU thread
 * reads the whole trace with its own reader and acts on its own records only:
 * it is the vCPU's recorded life, in order. Threads stop at the first
 * divergence (verify: no thread runs for an exit numbered after it), on
 * trouble, or when no vCPU made progress for opts.timeout_ms (a guest that
 * diverged into a loop without exits).
 *
 * Stopping a vCPU that sits in KVM_RUN: set kvm_run->immediate_exit, then
 * signal its thread (RP_KICK_SIGNAL, a no-op handler installed without
 * SA_RESTART) so that KVM_RUN returns -EINTR; the thread then sees the stop
 * flags. Flags are set before immediate_exit and the signal, and a thread
 * checks them after clearing immediate_exit and before KVM_RUN, so no stop
 * is lost (same protocol as vmm/run.c's kicks).
 */
#include "replayer/replay.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "core/regs.h"
#include "formats/sha256.h"
#include "formats/trace.h"
#include "vmm/vmm.h"

#define RP_KICK_SIGNAL SIGUSR2
#define RP_TIMEOUT_DEFAULT_MS 10000u

struct rp;

struct rp_vcpu {
	struct rp *rp;
	uint32_t index;
	pthread_t thread;
	bool started;
	struct kvm_run *run;
	_Atomic uint64_t awaiting;	/* seq of the exit it runs for, UINT64_MAX none */
	struct vcr_record rec;
	struct vcr_vcpu_state live;
	struct vcr_exit live_exit;
	struct vcr_replay_counters n;
	uint64_t exits, corrections, exit_corrections;
	/* resync forced a recorded IN without re-running it: the INPUT
	 * record that follows goes into rax, not into the run page */
	bool forced_in;
	uint8_t forced_in_size;
};

struct rp {
	const char *path;
	const struct vcr_replay_opts *o;
	struct vmm *vm;
	size_t run_size;
	uint32_t nvcpus;
	struct rp_vcpu *v;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	_Atomic uint64_t stop_seq;	/* no thread runs for a later exit */
	_Atomic bool abort;		/* trouble or timeout: everybody out */
	_Atomic uint64_t progress;
	unsigned running;		/* threads not finished (lock) */
	struct vcr_replay_result *res;	/* first, note (lock) */
	int trouble;			/* first trouble (lock) */
	struct vcr_err err;		/* its description (lock) */
	/* resync: where this host leaves rip at an exit to userspace
	 * (rp_probe_rip): past the instruction (PVM at OUT) or on it, the
	 * next KVM_RUN completing it (kvm_amd, kvm_intel; PVM at IN) */
	bool out_rip_past, in_rip_past, mmio_rip_past;
	bool pc;			/* the trace's machine is pc (irqchip) */
};

static void rp_kick_handler(int sig)
{
	(void)sig;	/* only there to make KVM_RUN return -EINTR */
}

static void rp_kick(struct rp_vcpu *t)
{
	__atomic_store_n(&t->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (t->started)
		pthread_kill(t->thread, RP_KICK_SIGNAL);
}

/* First trouble wins; everybody stops. */
VCR_PRINTF(3, 4)
static int rp_trouble(struct rp *rp, int code, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&rp->lock);
	if (!rp->trouble) {
		rp->trouble = code;
		rp->err.code = code;
		rp->err.offset = UINT64_MAX;
		va_start(ap, fmt);
		vsnprintf(rp->err.msg, sizeof(rp->err.msg), fmt, ap);
		va_end(ap);
	}
	atomic_store(&rp->abort, true);
	for (uint32_t i = 0; i < rp->nvcpus; i++)
		rp_kick(&rp->v[i]);
	pthread_mutex_unlock(&rp->lock);
	return code;
}

static bool rp_same_exit(const struct vcr_exit *a, const struct vcr_exit *b)
{
	return a->reason == b->reason && a->data_len == b->data_len &&
	       !memcmp(&a->u, &b->u, sizeof(a->u)) && !memcmp(a->data, b->data, a->data_len);
}

/* Load the classes of `want` in `mask` that differ from what KVM last
 * synced (or what we already wrote into s.regs): only those are flagged in
 * kvm_dirty_regs. Returns the classes flagged. */
static unsigned rp_load(struct rp_vcpu *t, const struct vcr_vcpu_state *want_in, unsigned mask)
{
	struct vcr_vcpu_state live, want = *want_in;
	vcr_state_normalize(&want);
	vmm_vcpu_get_state(t->rp->vm, t->index, &live);
	unsigned diff = vcr_state_diff_mask(&live, &want) & mask;
	if (diff)
		vmm_vcpu_set_state(t->rp->vm, t->index, &want, diff);
	for (int c = 0; c < 3; c++) {
		if (diff & (1u << c))
			t->n.dirty[c]++;
		else if (mask & (1u << c))
			t->n.dirty_skipped++;
	}
	return diff;
}

/* One KVM_RUN (immediate: with immediate_exit, KVM completes the pending
 * exit and loads dirty state without entering the guest). Returns 0 after an
 * exit (or the intended -EINTR of an immediate run), 1 when told to stop,
 * negative on failure. */
static int rp_run(struct rp_vcpu *t, bool immediate, uint64_t seq)
{
	struct rp *rp = t->rp;
	for (;;) {
		t->run->immediate_exit = immediate;
		if (atomic_load(&rp->abort) || seq > atomic_load(&rp->stop_seq)) {
			t->run->immediate_exit = 0;
			return 1;
		}
		int rc = vmm_vcpu_run_once(rp->vm, t->index);
		t->n.kvm_run++;
		if (immediate)
			t->n.kvm_run_immediate++;
		t->run->immediate_exit = 0;
		if (rc == 0)
			return 0;
		if (rc == -EINTR && immediate)
			return 0;
		/* An AP of the pc machine waiting for SIPI (in-kernel LAPIC)
		 * blocks in KVM_RUN until the BSP's replayed INIT/SIPI reaches
		 * it, then returns EAGAIN: it is runnable now, no exit yet. */
		if (rc == -EAGAIN)
			continue;
		if (rc != -EINTR)
			return rp_trouble(rp, rc, "KVM_RUN of vCPU %u failed at exit %" PRIu64 ": %s",
					  t->index, seq, strerror(-rc));
		/* A kick or a stray signal: no exit happened; look at the
		 * flags and run again. */
	}
}

static void rp_fill_point(struct vcr_replay_point *p, const struct rp_vcpu *t,
			  const struct vcr_record *rec, bool exit_differs, unsigned classes)
{
	p->valid = true;
	p->seq = rec->seq;
	p->vcpu = rec->vcpu;
	p->vcpu_exit = rec->vcpu_exit;
	p->exit_differs = exit_differs;
	p->classes = classes;
	p->rec_exit = rec->u.exit.exit;
	p->live_exit = t->live_exit;
	p->rec_state = rec->u.exit.state;
	p->live_state = t->live;
}

/* Note a divergence (verify) or a correction (resync); keep the one with the
 * lowest exit number. Verify: stop every thread bound for a later exit. */
static void rp_note(struct rp_vcpu *t, const struct vcr_record *rec, bool exit_differs,
		    unsigned classes)
{
	struct rp *rp = t->rp;
	pthread_mutex_lock(&rp->lock);
	struct vcr_replay_point *p = &rp->res->first;
	if (!p->valid || rec->seq < p->seq)
		rp_fill_point(p, t, rec, exit_differs, classes);
	if (rp->o->mode == VCR_REPLAY_VERIFY) {
		if (rec->seq < atomic_load(&rp->stop_seq))
			atomic_store(&rp->stop_seq, rec->seq);
		for (uint32_t i = 0; i < rp->nvcpus; i++)
			if (i != t->index && atomic_load(&rp->v[i].awaiting) > rec->seq &&
			    atomic_load(&rp->v[i].awaiting) != UINT64_MAX)
				rp_kick(&rp->v[i]);
	}
	pthread_mutex_unlock(&rp->lock);
}

/* Compare the live exit with the recorded one: 0 equal, bit 0 exit differs,
 * other bits: classes (shifted by 1) that differ. */
static unsigned rp_compare(struct rp_vcpu *t, const struct vcr_record *rec, unsigned classes)
{
	int rc = vcr_exit_from_run(&t->live_exit, t->run, t->rp->run_size);
	if (rc)
		memset(&t->live_exit, 0xff, sizeof(t->live_exit.u));	/* cannot equal */
	vmm_vcpu_get_state(t->rp->vm, t->index, &t->live);
	unsigned d = vcr_state_diff_mask(&t->live, &rec->u.exit.state) & classes;
	return (rp_same_exit(&rec->u.exit.exit, &t->live_exit) ? 0 : 1) | d << 1;
}

/* At the recorded exit e, does this host's rip stand past the exiting
 * instruction already? Then the recorded state is the state after it, and
 * running it again would run on to the next exit. */
static bool rp_rip_past(const struct rp *rp, const struct vcr_exit *e)
{
	if (e->reason == KVM_EXIT_IO)
		return e->u.io.direction == KVM_EXIT_IO_IN ? rp->in_rip_past : rp->out_rip_past;
	return e->reason == KVM_EXIT_MMIO && rp->mmio_rip_past;
}

/* Resync on a rip-past host: the recorded state already holds everything
 * the exiting instruction did except what the VMM answers; load it and
 * count the exit as forced. A recorded IN gets its input into rax when its
 * INPUT record comes (rp_input); a string IN or an MMIO read has its
 * destination elsewhere (memory, a decoded register) and cannot be forced
 * this way. */
static int rp_force(struct rp_vcpu *t, const struct vcr_record *rec, unsigned classes)
{
	const struct vcr_exit *e = &rec->u.exit.exit;
	bool in = e->reason == KVM_EXIT_IO && e->u.io.direction == KVM_EXIT_IO_IN;

	if ((in && e->u.io.count != 1) || (e->reason == KVM_EXIT_MMIO && !e->u.mmio.is_write))
		return rp_trouble(t->rp, -EIO, "resync: exit %" PRIu64 " (vCPU %u) cannot be "
				  "forced: this host's rip is past the exiting instruction and a "
				  "%s has no register to put the recorded input in", rec->seq,
				  t->index, in ? "string IN" : "MMIO read");
	rp_load(t, &rec->u.exit.state, classes);
	t->forced_in = in;
	t->forced_in_size = e->u.io.size;
	t->n.forced++;
	t->exits++;
	atomic_fetch_add(&t->rp->progress, 1);
	return 0;
}

/* The recorded EXIT `rec` of this vCPU: run until the live one, compare.
 * 0: go on, 1: stop (divergence or told to), negative: trouble. */
static int rp_exit(struct rp_vcpu *t, const struct vcr_record *rec)
{
	struct rp *rp = t->rp;
	uint64_t seq = rec->seq;
	unsigned classes = rec->u.exit.valid & VCR_CLASS_ALL;
	/* A recorded KVM_EXIT_INTR was a kick (end of run, signal): it came at
	 * no particular instruction. The replay makes the same KVM_RUN return
	 * at once (completing the previous exit) and compares what that
	 * gives; a vCPU that was kicked mid-flight shows as a divergence. */
	bool intr = rec->u.exit.exit.reason == KVM_EXIT_INTR;

	atomic_store(&t->awaiting, seq);
	t->forced_in = false;
	int rc = rp_run(t, intr, seq);
	if (rc)
		goto out;
	unsigned d = rp_compare(t, rec, classes);
	if (!d) {
		t->exits++;
		atomic_fetch_add(&rp->progress, 1);
		goto out;
	}
	rp_note(t, rec, d & 1, classes);
	if (rp->o->mode == VCR_REPLAY_VERIFY) {
		rc = 1;
		goto out;
	}
	/* Resync. */
	t->corrections++;
	if (!(d & 1)) {
		rp_load(t, &rec->u.exit.state, classes);
		t->exits++;
		atomic_fetch_add(&rp->progress, 1);
		goto out;
	}
	t->exit_corrections++;
	switch (t->live_exit.reason) {
	case KVM_EXIT_SHUTDOWN:
	case KVM_EXIT_FAIL_ENTRY:
	case KVM_EXIT_INTERNAL_ERROR:
		/* NESTED-KVM.md: after a shutdown SVM has reset the vCPU;
		 * running it again runs garbage. */
		rc = rp_trouble(rp, -EIO, "resync: at exit %" PRIu64 " vCPU %u stopped with %s "
				"where the trace has %s; KVM cannot resume it", seq, t->index,
				vcr_exit_reason_name(t->live_exit.reason) ?: "?",
				vcr_exit_reason_name(rec->u.exit.exit.reason) ?: "?");
		goto out;
	}
	/* The live exit is not the recorded one. Let KVM finish it (an
	 * immediate run completes the pending I/O without entering the guest),
	 * then load the recorded state, which puts the guest back on the
	 * recorded exiting instruction, and run it again. */
	rc = rp_run(t, true, seq);
	if (rc)
		goto out;
	if (rp_rip_past(rp, &rec->u.exit.exit)) {
		rc = rp_force(t, rec, classes);
		goto out;
	}
	rp_load(t, &rec->u.exit.state, classes);
	rc = rp_run(t, intr, seq);
	if (rc)
		goto out;
	d = rp_compare(t, rec, classes);
	if (d & 1) {
		char want[160], got[160];
		vcr_exit_format(&rec->u.exit.exit, want, sizeof(want));
		vcr_exit_format(&t->live_exit, got, sizeof(got));
		rc = rp_trouble(rp, -EIO, "resync: exit %" PRIu64 " (vCPU %u) cannot be forced: "
				"recorded %s %s, live %s %s after loading the recorded state", seq,
				t->index, vcr_exit_reason_name(rec->u.exit.exit.reason) ?: "?", want,
				vcr_exit_reason_name(t->live_exit.reason) ?: "?", got);
		goto out;
	}
	if (d)
		rp_load(t, &rec->u.exit.state, classes);
	t->exits++;
	atomic_fetch_add(&rp->progress, 1);
out:
	atomic_store(&t->awaiting, UINT64_MAX);
	return rc;
}

/* Hand recorded IN / MMIO read data to the live exit waiting for it. */
static int rp_input(struct rp_vcpu *t, const struct vcr_record *rec)
{
	struct kvm_run *run = t->run;
	uint32_t len = rec->u.input.len;
	t->n.inputs++;
	if (t->forced_in && rec->u.input.kind == VCR_INPUT_IO_IN) {
		/* what KVM would have done completing the IN: the low bytes
		 * of rax (a 4-byte IN zero-extends into rax, as a 32-bit
		 * write does) */
		t->forced_in = false;
		unsigned sz = t->forced_in_size;
		if (len == sz && (sz == 1 || sz == 2 || sz == 4)) {
			struct vcr_vcpu_state st;
			uint64_t v = 0;
			vmm_vcpu_get_state(t->rp->vm, t->index, &st);
			memcpy(&v, rec->u.input.data, sz);
			if (sz == 4)
				st.regs.rax = v;
			else
				st.regs.rax = (st.regs.rax & ~((1ull << 8 * sz) - 1)) | v;
			vmm_vcpu_set_state(t->rp->vm, t->index, &st, VCR_CLASS_REGS);
			return 0;
		}
	}
	if (rec->u.input.kind == VCR_INPUT_IO_IN) {
		uint64_t n = (uint64_t)run->io.size * run->io.count;
		if (run->exit_reason == KVM_EXIT_IO && run->io.direction == KVM_EXIT_IO_IN &&
		    n == len && vcr_range_ok(run->io.data_offset, n, t->rp->run_size)) {
			memcpy((uint8_t *)run + run->io.data_offset, rec->u.input.data, len);
			return 0;
		}
	} else if (rec->u.input.kind == VCR_INPUT_MMIO_READ) {
		if (run->exit_reason == KVM_EXIT_MMIO && !run->mmio.is_write &&
		    len == run->mmio.len && len <= sizeof(run->mmio.data)) {
			memcpy(run->mmio.data, rec->u.input.data, len);
			return 0;
		}
	}
	return rp_trouble(t->rp, -EBADMSG, "input (kind %u, %u bytes) after exit %" PRIu64
			  " does not fit vCPU %u's live exit (%s)", rec->u.input.kind, len,
			  rec->seq, t->index, vcr_exit_reason_name(run->exit_reason) ?: "?");
}

static int rp_inject(struct rp_vcpu *t, const struct vcr_record *rec)
{
	int fd = vmm_vcpu_fd(t->rp->vm, t->index), rc;
	t->n.injects++;
	if (rec->u.inject.kind == VCR_INJECT_IRQ) {
		struct kvm_interrupt irq = { .irq = rec->u.inject.vector };
		rc = ioctl(fd, KVM_INTERRUPT, &irq);
	} else if (rec->u.inject.kind == VCR_INJECT_NMI) {
		rc = ioctl(fd, KVM_NMI);
	} else {
		return rp_trouble(t->rp, -EBADMSG, "inject of unknown kind %u after exit %" PRIu64,
				  rec->u.inject.kind, rec->seq);
	}
	if (rc < 0)
		return rp_trouble(t->rp, -errno, "injecting %s %u into vCPU %u after exit %" PRIu64
				  " failed: %s", rec->u.inject.kind == VCR_INJECT_IRQ ? "IRQ" : "NMI",
				  rec->u.inject.vector, t->index, rec->seq, strerror(errno));
	return 0;
}

/* The pc machine: the line a device drove after that exit (or, ASYNC, from
 * its own thread: vCPU 0 re-drives it after the exit it follows, which is as
 * close as the trace says). The irqchip then delivers it when KVM decides,
 * not where the recording took it: re-execution may diverge there, and
 * verify says where. */
static int rp_irq_line(struct rp_vcpu *t, const struct vcr_record *rec)
{
	if (!t->rp->pc)
		return 0;
	t->n.irq_lines++;
	int rc = vmm_pc_replay_irq(t->rp->vm, rec->u.irq_line.gsi, rec->u.irq_line.level);
	if (rc)
		return rp_trouble(t->rp, rc, "KVM_IRQ_LINE (gsi %u, level %u) after exit %" PRIu64
				  " failed: %s", rec->u.irq_line.gsi, rec->u.irq_line.level,
				  rec->seq, strerror(-rc));
	return 0;
}

static int rp_mem(struct rp *rp, struct vcr_replay_counters *n, const struct vcr_record *rec)
{
	n->mem_writes++;
	n->mem_bytes += rec->u.mem.len;
	if (vmm_mem_write(rp->vm, rec->u.mem.gpa, rec->u.mem.data, rec->u.mem.len))
		return rp_trouble(rp, -EFAULT, "memory record at gpa 0x%" PRIx64 " (%" PRIu64
				  " bytes) lies outside the trace's memory layout",
				  rec->u.mem.gpa, rec->u.mem.len);
	return 0;
}

static void *rp_thread(void *arg)
{
	struct rp_vcpu *t = arg;
	struct rp *rp = t->rp;
	struct vcr_reader *r = NULL;
	struct vcr_err err;
	int rc = vcr_reader_open(&r, rp->path, &err);
	if (rc) {
		rp_trouble(rp, rc, "%s", err.msg);
		goto out;
	}
	uint64_t seen = 0;	/* exits read so far, every vCPU's */
	while (!atomic_load(&rp->abort)) {
		rc = vcr_reader_next(r, &t->rec);
		if (rc < 0 && rp->res->damaged)
			break;	/* the damage ends what can be verified */
		if (rc < 0 && rp->o->mode == VCR_REPLAY_VERIFY) {
			/* Damage the open did not see (a chunk's payload is
			 * checked when decoded): verify ends before it, as for
			 * damage found at the start. Every thread reads every
			 * chunk, so each stops here, with the same exit. */
			const struct vcr_err *re = vcr_reader_error(r);
			pthread_mutex_lock(&rp->lock);
			if (!rp->res->damaged || seen < rp->res->damage_exit) {
				rp->res->damage_exit = seen;
				rp->res->damage_offset = re->offset;
				snprintf(rp->res->damage, sizeof(rp->res->damage), "%s", re->msg);
			}
			rp->res->damaged = true;
			pthread_mutex_unlock(&rp->lock);
			break;
		}
		if (rc < 0) {
			const struct vcr_err *re = vcr_reader_error(r);
			rp_trouble(rp, rc, "reading the trace: %s", re->msg);
			break;
		}
		if (rc == 0)
			break;
		const struct vcr_record *rec = &t->rec;
		if (rp->res->damaged && rec->type == VCR_REC_EXIT && rec->seq >= rp->res->damage_exit)
			break;
		if (rec->type == VCR_REC_EXIT)
			seen = rec->seq + 1;
		if (rec->vcpu != t->index)
			continue;
		rc = 0;
		switch (rec->type) {
		case VCR_REC_EXIT:
			rc = rp_exit(t, rec);
			break;
		case VCR_REC_INPUT:
			rc = rp_input(t, rec);
			break;
		case VCR_REC_SET_STATE:
			t->n.set_states++;
			rp_load(t, &rec->u.set_state.state, rec->u.set_state.dirty & VCR_CLASS_ALL);
			break;
		case VCR_REC_INJECT:
			rc = rp_inject(t, rec);
			break;
		case VCR_REC_IRQ_LINE:
			rc = rp_irq_line(t, rec);
			break;
		case VCR_REC_MEM_WRITE:
		case VCR_REC_MEM_PAGES:
			if (rec->seq != UINT64_MAX)	/* the main thread did those */
				rc = rp_mem(rp, &t->n, rec);
			break;
		default:
			break;
		}
		if (rc)
			break;
	}
out:
	vcr_reader_close(r);
	pthread_mutex_lock(&rp->lock);
	rp->running--;
	pthread_cond_broadcast(&rp->cond);
	pthread_mutex_unlock(&rp->lock);
	return NULL;
}

/* The guest image: an embedded one must be intact; a referenced one
 * given with --image must be the recorded one. Replay itself never reads
 * the image (the loader's memory is in the trace's MEM records): a
 * referenced image missing or changed at its recorded path is a note. */
static int rp_check_image(const struct vcr_trace_info *info, const char *override,
			  struct vcr_replay_result *res, struct vcr_err *err)
{
	uint8_t d[VCR_SHA256_LEN];
	char want[2 * VCR_SHA256_LEN + 1], got[2 * VCR_SHA256_LEN + 1];
	vcr_sha256_hex(info->image_sha256, want);
	switch (info->image_mode) {
	case VCR_IMAGE_NONE:
		return 0;
	case VCR_IMAGE_EMBEDDED:
		if (!info->image)
			return vcr_err_set(err, -EBADMSG, UINT64_MAX,
					   "the trace says it embeds the guest image but holds none");
		vcr_sha256(info->image, info->image_size, d);
		if (memcmp(d, info->image_sha256, sizeof(d))) {
			vcr_sha256_hex(d, got);
			return vcr_err_set(err, -EBADMSG, UINT64_MAX,
					   "the guest image embedded in the trace is damaged: "
					   "sha256 %s, the header says %s", got, want);
		}
		return 0;
	case VCR_IMAGE_REFERENCE: {
		const char *p = override ? override : info->image_path;
		if (!p || !*p)
			return vcr_err_set(err, -EBADMSG, UINT64_MAX,
					   "the trace references its guest image without a path; "
					   "give it with --image (sha256 %s)", want);
		int rc = vcr_sha256_file(p, d);
		if (rc && override)
			return vcr_err_set(err, rc, UINT64_MAX,
					   "guest image '%s' cannot be read (%s); the trace was "
					   "recorded with the image of sha256 %s", p, strerror(-rc), want);
		if (rc) {
			snprintf(res->image_note, sizeof(res->image_note),
				 "guest image '%s' cannot be read (%s); not needed: the trace holds "
				 "the memory its loader wrote (recorded image sha256 %s)", p,
				 strerror(-rc), want);
			return 0;
		}
		if (memcmp(d, info->image_sha256, sizeof(d))) {
			vcr_sha256_hex(d, got);
			if (override)
				return vcr_err_set(err, -ESTALE, UINT64_MAX,
						   "guest image '%s' is not the recorded one: sha256 %s, "
						   "the trace was recorded with %s", p, got, want);
			snprintf(res->image_note, sizeof(res->image_note),
				 "guest image '%s' changed since the recording (sha256 %s, recorded "
				 "%s); replaying the trace's memory, not the file", p, got, want);
		}
		return 0;
	}
	default:
		return vcr_err_set(err, -EBADMSG, UINT64_MAX, "unknown guest image mode %u",
				   info->image_mode);
	}
}

static uint64_t rp_now_ms(void)
{
	return vcr_now_ns() / 1000000;
}

/* What replay needs of the trace before it builds a VM: x86-64, a vCPU
 * count the VMM takes, memory, the recorded guest image, every chunk
 * readable. Fills res->trace_exits and res->nvcpus. */
/* Verify on a damaged trace checks what precedes the damage: the exits
 * numbered without a gap from 0, up to the first damaged chunk (the reader
 * says so) or the first missing exit (a chunk left out of the index). */
static int rp_find_damage(struct vcr_reader *r, struct vcr_replay_result *res,
			  struct vcr_record *rec)
{
	uint64_t next = 0;
	int rc;

	res->damaged = true;
	res->damage_offset = UINT64_MAX;
	while ((rc = vcr_reader_next(r, rec)) > 0) {
		if (rec->type != VCR_REC_EXIT)
			continue;
		if (rec->seq != next) {
			snprintf(res->damage, sizeof(res->damage),
				 "exit %" PRIu64 " is missing (the next one in the file is exit %"
				 PRIu64 "): its chunk failed its checksum", next, rec->seq);
			break;
		}
		next++;
	}
	if (rc < 0) {
		const struct vcr_err *re = vcr_reader_error(r);
		res->damage_offset = re->offset;
		snprintf(res->damage, sizeof(res->damage), "%s", re->msg);
	}
	res->damage_exit = next;
	return 0;
}

static int rp_check_trace(struct vcr_reader *r, const struct vcr_replay_opts *o,
			  struct vcr_replay_result *res, struct vcr_record *rec,
			  struct vcr_reader_stats *st, struct vcr_err *err)
{
	const struct vcr_trace_info *info = vcr_reader_info(r);
	int rc;

	if (info->arch != VCR_ARCH_X86_64)
		return vcr_err_set(err, -EPROTONOSUPPORT, UINT64_MAX,
				   "the trace is for architecture %u, this vcr replays x86-64 only",
				   info->arch);
	if (info->nvcpus == 0 || info->nvcpus > VMM_MAX_VCPUS || info->nmem == 0)
		return vcr_err_set(err, -EBADMSG, UINT64_MAX,
				   "the trace header describes %u vCPUs and %u memory slots; "
				   "replay needs 1..%u vCPUs and at least one slot",
				   info->nvcpus, info->nmem, VMM_MAX_VCPUS);
	rc = rp_check_image(info, o->image, res, err);
	if (rc)
		return rc;
	vcr_reader_get_stats(r, st);
	res->trace_exits = st->exits;
	res->nvcpus = info->nvcpus;
	if (!st->damaged_chunks)
		return 0;
	if (o->mode == VCR_REPLAY_VERIFY)
		return rp_find_damage(r, res, rec);
	/* Resync re-executes the whole trace, and needs every record. Walk
	 * the trace for the reader's own account of the damage (offset and
	 * what). */
	while ((rc = vcr_reader_next(r, rec)) > 0)
		;
	const struct vcr_err *re = vcr_reader_error(r);
	if (rc < 0)
		return vcr_err_set(err, -EBADMSG, re->offset, "the trace is damaged: %s", re->msg);
	return vcr_err_set(err, -EBADMSG, UINT64_MAX,
			   "the trace is damaged: %" PRIu64 " chunks fail their checksum "
			   "and were left out of its index", st->damaged_chunks);
}

/* The recorded machine: memory layout, CPUID, vCPUs. */
static int rp_build_vm(struct rp *rp, const struct vcr_trace_info *info, struct vcr_err *err)
{
	int rc = vmm_open(&rp->vm, err);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < info->nmem; i++) {
		rc = vmm_mem_add(rp->vm, &info->mem[i], err);
		if (rc)
			return rc;
	}
	rc = vmm_cpuid_set(rp->vm, info->ncpuid ? info->cpuid : NULL, info->ncpuid, err);
	if (rc)
		return rc;
	/* The pc machine (vcr run's machine=pc, vmm/vmm.h): the irqchip
	 * before the vCPUs, their firmware state after; a trace without the
	 * key (older, or another VMM's) replays on the bare machine. */
	const char *machine = vcr_trace_info_get(info, "machine");
	rp->pc = machine && !strcmp(machine, "pc");
	if (rp->pc) {
		rc = vmm_pc_replay_irqchip(rp->vm, err);
		if (rc)
			return rc;
	}
	rc = vmm_vcpus_create(rp->vm, info->nvcpus, err);
	if (rc)
		return rc;
	if (rp->pc) {
		const char *loader = vcr_trace_info_get(info, "loader");
		rc = vmm_pc_replay_vcpus(rp->vm, vmm_pc_aps_at_entry(loader), err);
		if (rc)
			return rc;
		if (vmm_pc_has_bios(loader) && (rc = vmm_pc_replay_bios(rp->vm)) != 0)
			return vcr_err_set(err, rc, UINT64_MAX, "cannot start the PIT as the "
					   "BIOS left it: %s", strerror(-rc));
	}
	rp->run_size = vmm_run_size(rp->vm);
	rp->nvcpus = info->nvcpus;
	return 0;
}

/* The loader's memory: the records before the first exit, counted in *n.
 * A trace whose first exit is not exit 0 kept only its newest chunks (ring
 * mode): its start, and so the guest's memory, is gone. */
static int rp_load_memory(struct rp *rp, struct vcr_reader *r, struct vcr_record *rec,
			  struct vcr_replay_counters *n, struct vcr_err *err)
{
	int rc;

	for (;;) {
		rc = vcr_reader_next(r, rec);
		if (rc < 0) {
			const struct vcr_err *re = vcr_reader_error(r);
			return vcr_err_set(err, rc, re->offset, "reading the trace: %s", re->msg);
		}
		if (rc == 0 || rec->type == VCR_REC_EXIT)
			break;
		if ((rec->type == VCR_REC_MEM_WRITE || rec->type == VCR_REC_MEM_PAGES) &&
		    rec->seq == UINT64_MAX) {
			rc = rp_mem(rp, n, rec);
			if (rc) {
				*err = rp->err;
				return rc;
			}
		}
	}
	if (rc == 0)
		return vcr_err_set(err, -ENODATA, UINT64_MAX, "the trace holds no exit to replay");
	if (rec->seq != 0)
		return vcr_err_set(err, -ENODATA, UINT64_MAX,
				   "the trace starts at exit %" PRIu64 " (recorded in ring mode): "
				   "the guest's start is not in it, so it cannot be re-executed; "
				   "use the cursor (dump, gdb) instead", rec->seq);
	return 0;
}

/* Start one thread per vCPU. Takes rp->lock and returns with it held: a
 * thread that ends at once must find itself counted in rp->running. A
 * thread that cannot start is trouble (those started see the abort).
 * Returns how many started. */
static uint32_t rp_start_threads(struct rp *rp)
{
	uint32_t nthreads = 0;

	pthread_mutex_lock(&rp->lock);
	for (uint32_t i = 0; i < rp->nvcpus; i++) {
		int e = pthread_create(&rp->v[i].thread, NULL, rp_thread, &rp->v[i]);
		if (e) {
			pthread_mutex_unlock(&rp->lock);
			rp_trouble(rp, -e, "cannot start vCPU thread: %s", strerror(e));
			pthread_mutex_lock(&rp->lock);
			break;
		}
		rp->v[i].started = true;
		rp->running++;
		nthreads++;
	}
	return nthreads;
}

/* No progress for the timeout: somebody runs a guest that never reaches
 * its exit. With rp->lock held. */
static void rp_stuck(struct rp *rp, unsigned timeout)
{
	char who[160] = "";
	size_t wl = 0;
	for (uint32_t i = 0; i < rp->nvcpus && wl < sizeof(who) - 40; i++) {
		uint64_t a = atomic_load(&rp->v[i].awaiting);
		if (a != UINT64_MAX)
			wl += (size_t)snprintf(who + wl, sizeof(who) - wl, "%svCPU %u (exit %" PRIu64 ")",
					       wl ? ", " : "", i, a);
	}
	if (rp->res->first.valid && rp->o->mode == VCR_REPLAY_VERIFY) {
		/* Others wait for the vCPU that diverged: the divergence is
		 * the answer. */
		snprintf(rp->res->note, sizeof(rp->res->note),
			 "after the divergence, %s never reached its next exit",
			 wl ? who : "a vCPU");
		atomic_store(&rp->abort, true);
		for (uint32_t i = 0; i < rp->nvcpus; i++)
			rp_kick(&rp->v[i]);
	} else {
		pthread_mutex_unlock(&rp->lock);
		rp_trouble(rp, -ETIMEDOUT, "no exit for %u ms: %s never reached the recorded "
			   "exit (the guest runs somewhere the recording did not go)",
			   timeout, wl ? who : "no vCPU");
		pthread_mutex_lock(&rp->lock);
	}
}

/* Wait for every vCPU thread to finish, watching for progress; with
 * rp->lock held (returned released). */
static void rp_watch(struct rp *rp)
{
	unsigned timeout = rp->o->timeout_ms ? rp->o->timeout_ms : RP_TIMEOUT_DEFAULT_MS;
	uint64_t last = atomic_load(&rp->progress), last_t = rp_now_ms();
	struct vcr_progress *prog = rp->o->progress;
	uint64_t told = 0;
	if (prog)
		prog->total = rp->res->trace_exits;
	while (rp->running) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&rp->cond, &rp->lock, &ts);
		uint64_t p = atomic_load(&rp->progress), now = rp_now_ms();
		/* Progress is told from this thread, the caller's, ten times
		 * a second at most: the vCPU threads only count. */
		if (prog && p > told) {
			vcr_progress_add(prog, p - told);
			told = p;
		}
		if (p != last) {
			last = p;
			last_t = now;
			continue;
		}
		if (now - last_t < timeout || atomic_load(&rp->abort))
			continue;
		rp_stuck(rp, timeout);
	}
	pthread_mutex_unlock(&rp->lock);
}

static void rp_add_counters(struct vcr_replay_counters *to, const struct vcr_replay_counters *n)
{
	to->kvm_run += n->kvm_run;
	to->kvm_run_immediate += n->kvm_run_immediate;
	for (int c = 0; c < 3; c++)
		to->dirty[c] += n->dirty[c];
	to->dirty_skipped += n->dirty_skipped;
	to->set_states += n->set_states;
	to->inputs += n->inputs;
	to->injects += n->injects;
	to->irq_lines += n->irq_lines;
	to->mem_writes += n->mem_writes;
	to->mem_bytes += n->mem_bytes;
	to->forced += n->forced;
}

/* Every thread's counts, and how the replay ended: trouble, a divergence
 * (verify), or every exit of the trace replayed. */
static int rp_outcome(struct rp *rp, const struct vcr_replay_counters *main_n,
		      struct vcr_err *err)
{
	struct vcr_replay_result *res = rp->res;

	res->n = *main_n;
	for (uint32_t i = 0; i < rp->nvcpus; i++) {
		const struct rp_vcpu *t = &rp->v[i];
		res->exits += t->exits;
		res->corrections += t->corrections;
		res->exit_corrections += t->exit_corrections;
		rp_add_counters(&res->n, &t->n);
	}
	if (rp->trouble) {
		*err = rp->err;
		return rp->trouble;
	}
	if (rp->o->mode == VCR_REPLAY_VERIFY && res->first.valid) {
		res->diverged = true;
		return 0;
	}
	if (res->damaged) {
		if (res->exits != res->damage_exit)
			return vcr_err_set(err, -EIO, UINT64_MAX, "only %" PRIu64 " of the %" PRIu64
					   " exits before the damage were replayed", res->exits,
					   res->damage_exit);
		return 0;
	}
	if (res->exits != res->trace_exits)
		return vcr_err_set(err, -EIO, UINT64_MAX,
				   "only %" PRIu64 " of the trace's %" PRIu64 " exits were replayed",
				   res->exits, res->trace_exits);
	return 0;
}

/* One throw-away VM running `code`: does its first exit, of `reason`,
 * leave rip at code + len_insn (past the exiting instruction)? A probe that
 * cannot run says no: the common convention, rip on the instruction. */
static bool rp_probe_one(const uint8_t *code, size_t len, uint32_t reason, unsigned len_insn)
{
	struct vmm *vm;
	struct vcr_vcpu_state st;
	bool past = false;

	if (vmm_probe_open(&vm, code, len))
		return false;
	struct kvm_run *run = vmm_vcpu_run_page(vm, 0);
	if (vmm_vcpu_run_once(vm, 0) == 0 && run->exit_reason == reason &&
	    vmm_vcpu_get_state(vm, 0, &st) == 0)
		past = st.regs.rip == VMM_PROBE_CODE + len_insn;
	vmm_destroy(vm);
	return past;
}

/* Where this host leaves rip at OUT, IN and MMIO exits. PVM differs by
 * direction: an OUT exits with rip past it, an IN on it. */
static void rp_probe_rip(struct rp *rp)
{
	static const uint8_t out[] = { 0xe6, 0x80, 0xf4 };	/* out %al,$0x80; hlt */
	static const uint8_t in[] = { 0xe4, 0x80, 0xf4 };	/* in $0x80,%al; hlt */
	static const uint8_t mmio[] = {				/* mov %al,0x200000; hlt */
		0x88, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00, 0xf4,
	};
	rp->out_rip_past = rp_probe_one(out, sizeof(out), KVM_EXIT_IO, 2);
	rp->in_rip_past = rp_probe_one(in, sizeof(in), KVM_EXIT_IO, 2);
	rp->mmio_rip_past = rp_probe_one(mmio, sizeof(mmio), KVM_EXIT_MMIO, 7);
}

int vcr_replay(const char *path, const struct vcr_replay_opts *o,
	       struct vcr_replay_result *res, struct vcr_err *err)
{
	struct rp rp = { .path = path, .o = o, .res = res };
	struct vcr_reader *r = NULL;
	struct vcr_record *rec = NULL;
	struct vcr_reader_stats *st = NULL;
	struct vcr_replay_counters main_n = { 0 };
	struct sigaction sa, old_sa;
	bool sig_set = false, lock_init = false;
	int rc;

	memset(res, 0, sizeof(*res));
	atomic_store(&rp.stop_seq, UINT64_MAX);
	rc = vcr_reader_open(&r, path, err);
	if (rc)
		return rc;
	rec = malloc(sizeof(*rec));
	st = malloc(sizeof(*st));
	if (!rec || !st) {
		rc = vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
		goto out;
	}
	rc = rp_check_trace(r, o, res, rec, st, err);
	if (rc)
		goto out;
	if (res->damaged) {	/* rp_find_damage read it all: from the start again */
		vcr_reader_close(r);
		r = NULL;
		rc = vcr_reader_open(&r, path, err);
		if (rc)
			goto out;
	}
	rc = rp_build_vm(&rp, vcr_reader_info(r), err);
	if (rc)
		goto out;
	rc = rp_load_memory(&rp, r, rec, &main_n, err);
	if (rc)
		goto out;
	if (o->mode == VCR_REPLAY_RESYNC)
		rp_probe_rip(&rp);

	rp.v = calloc(rp.nvcpus, sizeof(*rp.v));
	if (!rp.v) {
		rc = vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
		goto out;
	}
	pthread_mutex_init(&rp.lock, NULL);
	pthread_cond_init(&rp.cond, NULL);
	lock_init = true;
	for (uint32_t i = 0; i < rp.nvcpus; i++) {
		rp.v[i].rp = &rp;
		rp.v[i].index = i;
		rp.v[i].run = vmm_vcpu_run_page(rp.vm, i);
		atomic_store(&rp.v[i].awaiting, UINT64_MAX);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = rp_kick_handler;	/* no SA_RESTART: KVM_RUN returns -EINTR */
	sigemptyset(&sa.sa_mask);
	if (sigaction(RP_KICK_SIGNAL, &sa, &old_sa) == 0)
		sig_set = true;

	uint32_t nthreads = rp_start_threads(&rp);
	rp_watch(&rp);
	for (uint32_t i = 0; i < nthreads; i++)
		pthread_join(rp.v[i].thread, NULL);
	rc = rp_outcome(&rp, &main_n, err);
out:
	if (sig_set)
		sigaction(RP_KICK_SIGNAL, &old_sa, NULL);
	if (lock_init) {
		pthread_mutex_destroy(&rp.lock);
		pthread_cond_destroy(&rp.cond);
	}
	free(rp.v);
	vmm_destroy(rp.vm);
	vcr_reader_close(r);
	free(rec);
	free(st);
	return rc;
}

/* ------------------------------------------------------------ report */

static void rp_print_exit(FILE *f, const char *who, const struct vcr_exit *e)
{
	char buf[200];
	const char *name = vcr_exit_reason_name(e->reason);
	vcr_exit_format(e, buf, sizeof(buf));
	if (name)
		fprintf(f, "  exit %-9s %s%s%s\n", who, name, buf[0] ? " " : "", buf);
	else
		fprintf(f, "  exit %-9s reason %u%s%s\n", who, e->reason, buf[0] ? " " : "", buf);
}

static void rp_print_point(FILE *f, const struct vcr_replay_point *p)
{
	rp_print_exit(f, "recorded", &p->rec_exit);
	rp_print_exit(f, "live", &p->live_exit);
	unsigned n = 0;
	for (size_t i = 0; i < vcr_nregs; i++) {
		const struct vcr_reg *r = &vcr_regs[i];
		if (r->fmt == VCR_REG_NONE || !(r->cls & p->classes))
			continue;
		if (!vcr_reg_differs(&p->rec_state, &p->live_state, r))
			continue;
		char a[64], b[64];
		vcr_reg_format(&p->rec_state, r, a, sizeof(a));
		vcr_reg_format(&p->live_state, r, b, sizeof(b));
		fprintf(f, "  %-18s recorded %s  live %s\n", r->name, a, b);
		n++;
	}
	if (!n)
		fprintf(f, "  registers: identical\n");
}

void vcr_replay_print(FILE *f, const struct vcr_replay_opts *o,
		      const struct vcr_replay_result *res)
{
	const struct vcr_replay_point *p = &res->first;
	if (o->mode == VCR_REPLAY_VERIFY) {
		if (!res->diverged && res->damaged) {
			fprintf(f, "%" PRIu64 " exits replayed, identical, then the trace is damaged: "
				"stopped before exit %" PRIu64 " of %" PRIu64 "\n", res->exits,
				res->damage_exit, res->trace_exits);
			if (res->damage_offset != UINT64_MAX)
				fprintf(f, "damage: at offset %" PRIu64 ": %s\n", res->damage_offset,
					res->damage);
			else
				fprintf(f, "damage: %s\n", res->damage);
			return;
		}
		if (!res->diverged) {
			fprintf(f, "%" PRIu64 " exits replayed, identical\n", res->exits);
			return;
		}
		fprintf(f, "diverged at exit %" PRIu64 " (vCPU %u, its exit %" PRIu64 "): %s%s\n",
			p->seq, p->vcpu, p->vcpu_exit,
			p->exit_differs ? "the exit differs" : "the exit matches, registers differ",
			p->exit_differs && memcmp(&p->rec_state, &p->live_state, sizeof(p->rec_state))
				? " and so do registers" : "");
		rp_print_point(f, p);
		fprintf(f, "%" PRIu64 " exits replayed identically before it (of %" PRIu64 " in the trace)\n",
			res->exits, res->trace_exits);
		if (res->note[0])
			fprintf(f, "note: %s\n", res->note);
		return;
	}
	if (!res->corrections) {
		fprintf(f, "%" PRIu64 " exits replayed, identical: no correction needed\n", res->exits);
		return;
	}
	fprintf(f, "%" PRIu64 " exits replayed, %" PRIu64 " corrected (%" PRIu64
		" with a different exit); first correction at exit %" PRIu64 " (vCPU %u, its exit %"
		PRIu64 ")\n", res->exits, res->corrections, res->exit_corrections, p->seq, p->vcpu,
		p->vcpu_exit);
	rp_print_point(f, p);
}

void vcr_replay_print_counters(FILE *f, const struct vcr_replay_result *res)
{
	const struct vcr_replay_counters *n = &res->n;
	fprintf(f, "kvm_run %" PRIu64 "\n", n->kvm_run);
	fprintf(f, "kvm_run_immediate %" PRIu64 "\n", n->kvm_run_immediate);
	fprintf(f, "dirty_regs %" PRIu64 "\n", n->dirty[0]);
	fprintf(f, "dirty_sregs %" PRIu64 "\n", n->dirty[1]);
	fprintf(f, "dirty_events %" PRIu64 "\n", n->dirty[2]);
	fprintf(f, "dirty_skipped %" PRIu64 "\n", n->dirty_skipped);
	fprintf(f, "set_state_records %" PRIu64 "\n", n->set_states);
	fprintf(f, "input_records %" PRIu64 "\n", n->inputs);
	fprintf(f, "inject_records %" PRIu64 "\n", n->injects);
	fprintf(f, "irq_line_records %" PRIu64 "\n", n->irq_lines);
	fprintf(f, "mem_records %" PRIu64 "\n", n->mem_writes);
	fprintf(f, "mem_bytes %" PRIu64 "\n", n->mem_bytes);
	fprintf(f, "corrections %" PRIu64 "\n", res->corrections);
	fprintf(f, "forced_exits %" PRIu64 "\n", n->forced);
}
