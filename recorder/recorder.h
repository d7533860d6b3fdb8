/*
 * recorder/recorder.h: turn every KVM exit into trace records without slowing
 * the vCPU down.
 *
 * Lifecycle:
 *   vcr_recorder_open     create the trace (formats/trace.h writer), one
 *                         record ring per vCPU, start the writer thread
 *   [vcr_recorder_observer  fill a struct vmm_observer for vmm/vmm.h]
 *   hooks ...             from the VMM, while the guest runs
 *   vcr_recorder_end      how the run ended (once; later calls are ignored)
 *   vcr_recorder_close    drain, write END, finalise, fill the summary
 *
 * Threading:
 *   - Each vCPU has a handle (vcr_recorder_vcpu) and a single-producer ring
 *     (recorder/ring.h). The per-vCPU hooks (after_run, before_run, inject,
 *     vcpu_mem_write, vcpu_irq_line, vcpu_note) must be called by one thread per vCPU at a time: the
 *     vCPU's own thread. They copy bytes into the ring and nothing else: no
 *     lock, no allocation, no syscall, no decoding. When the ring is full
 *     they wait for the writer (the "stall", counted and reported); records
 *     are never dropped silently.
 *   - vcr_recorder_mem_write, vcr_recorder_marker, vcr_recorder_irq_line and
 *     vcr_recorder_note may be called from any other thread (the loader before the run, gdb's server thread during
 *     it); they share a control ring behind a mutex. Such a record is
 *     written after every record a vCPU had published when the call was
 *     made (a FENCE in the control ring carries the vCPU rings' heads), and
 *     before the records of any vCPU that the calling thread starts
 *     afterwards.
 *   - One writer thread drains the rings round-robin (a bounded batch per
 *     ring per round, so one busy vCPU cannot starve the others), turns the
 *     raw copies into records (vcr_exit_from_run, vcr_state_normalize),
 *     and calls vcr_writer_append. It sleeps 1 ms when every ring is empty,
 *     and flushes the trace when the guest has been quiet for flush_ms, so
 *     that a trace of an idle guest killed with SIGKILL is on disk.
 *   - vcr_recorder_end, vcr_recorder_error and vcr_recorder_get_stats: any
 *     thread. vcr_recorder_close: once, after every vCPU thread stopped
 *     calling hooks.
 *
 * Errors: when the writer fails (disk full, I/O error), the first error is
 * kept (vcr_recorder_error), opts.on_error is called once from the writer
 * thread (the VMM stops the run there), and the writer keeps draining the
 * rings without writing so that no vCPU blocks forever; the records it
 * throws away are counted as dropped. The trace then stays readable up to
 * its last complete chunk (no footer; readers rebuild the index).
 *
 * Record mapping (formats/trace.h):
 *   after_run        EXIT: exit_reason + payload + kvm_run->s.regs (the
 *                    classes in kvm_valid_regs), OUT / MMIO-write bytes
 *   before_run       INPUT: IN data (io area) or MMIO read data of the exit
 *                    just served; SET_STATE: the classes in kvm_dirty_regs,
 *                    from kvm_run->s.regs
 *   inject           INJECT
 *   *mem_write       MEM_WRITE (split into pieces of at most half a ring)
 *   marker           MARKER
 *   *irq_line        IRQ_LINE: flags 0 from a vCPU's hook (after the exit
 *                    being served), VCR_IRQ_ASYNC from vcr_recorder_irq_line
 *   *note            NOTE (text over what a ring carries or VCR_NOTE_MAX
 *                    keeps its last bytes)
 *   close            MARKER "vcr.duration_ns=N" (N: ns from
 *                    vcr_recorder_open to the first vcr_recorder_end, or to
 *                    close without one), then END, after everything else
 */
#ifndef VCR_RECORDER_RECORDER_H
#define VCR_RECORDER_RECORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

#include "core/util.h"
#include "formats/trace.h"

struct vcr_recorder;
struct vcr_recorder_vcpu;
struct vmm_observer;
struct vmm;

/* Text of the MARKER the recorder writes right before END: this prefix,
 * then the run's duration in ns (decimal). */
#define VCR_RECORDER_DURATION_MARKER "vcr.duration_ns="

#define VCR_RECORDER_BUFFER_DEFAULT (2ull << 20)	/* per-vCPU ring, bytes */

struct vcr_recorder_opts {
	size_t run_size;	/* KVM_GET_VCPU_MMAP_SIZE; required */
	uint64_t buffer_bytes;	/* per-vCPU ring; 0: VCR_RECORDER_BUFFER_DEFAULT */
	uint64_t ring_bytes;	/* --ring: keep about the newest ring_bytes of
				 * trace on disk (vcr_writer_opts.ring_bytes);
				 * 0: keep everything */
	uint32_t chunk_exits;	/* exits per chunk; 0: the writer's default */
	uint32_t flush_exits;	/* vcr_writer_opts.flush_exits; 0: default */
	int zstd_level;		/* 0: the writer's default */
	uint32_t flush_ms;	/* flush after this long without records; 0: 1000 */
	uint64_t ckpt_budget;	/* memory checkpoints: bytes per second at most
				 * (the next one waits longer); 0: no budget */
	uint32_t ckpt_share;	/* and the percentage (1..99) of the run's time
				 * their work (pre-copy, pause, encoding) may
				 * take at most, the same way; 0: no limit */
	/* Called once, on the writer thread, when writing the trace failed
	 * (err < 0, msg says what). Typically vmm_stop(VCR_END_ERROR). */
	void (*on_error)(void *arg, int err, const char *msg);
	void *on_error_arg;
};

/* Create the trace at `path` with header `info` (info->nvcpus rings), start
 * the writer thread. Returns 0 or -errno, with err describing it. */
int vcr_recorder_open(struct vcr_recorder **out, const char *path,
		      const struct vcr_trace_info *info,
		      const struct vcr_recorder_opts *opts, struct vcr_err *err);

/* The handle of vCPU `index` (< info->nvcpus), or NULL. */
struct vcr_recorder_vcpu *vcr_recorder_vcpu(struct vcr_recorder *r, uint32_t index);

/* ---- per-vCPU hooks: the vCPU's own thread only ----------------------- */

/* Right after KVM_RUN returned (an exit, or -EINTR with KVM_EXIT_INTR):
 * copy the exit and the synced register sets. */
void vcr_recorder_after_run(struct vcr_recorder_vcpu *v, const struct kvm_run *run);

/* Right before KVM_RUN: record the IN / MMIO-read data the VMM placed in
 * `run` for the previous exit (once per such exit), and the classes set in
 * run->kvm_dirty_regs with their values from run->s.regs. */
void vcr_recorder_before_run(struct vcr_recorder_vcpu *v, const struct kvm_run *run);

/* An interrupt (VCR_INJECT_IRQ, vector) or NMI the VMM injects. */
void vcr_recorder_inject(struct vcr_recorder_vcpu *v, uint32_t kind, uint32_t vector);

/* Bytes the VMM wrote into guest memory while serving this vCPU. */
void vcr_recorder_vcpu_mem_write(struct vcr_recorder_vcpu *v, uint64_t gpa,
				 const void *data, uint64_t len);

/* An interrupt line the VMM drove (KVM_IRQ_LINE gsi, level) while serving
 * this vCPU's exit: ordered after that exit. */
void vcr_recorder_vcpu_irq_line(struct vcr_recorder_vcpu *v, uint32_t gsi, uint32_t level);

/* A note (enum vcr_note_kind) made while serving this vCPU's exit: len
 * bytes of text (not NUL-terminated; it may hold NULs). */
void vcr_recorder_vcpu_note(struct vcr_recorder_vcpu *v, uint32_t kind, const char *text,
			    size_t len);

/* ---- other threads --------------------------------------------------- */

/* Bytes written into guest memory by a thread that is not a vCPU thread
 * (the loader). */
void vcr_recorder_mem_write(struct vcr_recorder *r, uint64_t gpa, const void *data,
			    uint64_t len);

/* A user marker (text, truncated to 4000 bytes). */
void vcr_recorder_marker(struct vcr_recorder *r, const char *text);

/* An interrupt line change made by a thread that serves no exit (a
 * device's input thread): IRQ_LINE with VCR_IRQ_ASYNC, after every record
 * the vCPUs had published when it was made. */
void vcr_recorder_irq_line(struct vcr_recorder *r, uint32_t gsi, uint32_t level);

/* A note from any thread (the VMM's console tail when the run ends). */
void vcr_recorder_note(struct vcr_recorder *r, uint32_t kind, const char *text, size_t len);

/* How the run ended (enum vcr_end_how), the status, a message for humans
 * (copied). The first call wins. Any thread. */
void vcr_recorder_end(struct vcr_recorder *r, uint32_t how, int32_t status,
		      const char *msg);

/* 0, or the first error of the writer thread (negative errno). */
int vcr_recorder_error(const struct vcr_recorder *r);

/*
 * Fill a vmm_observer (vmm/vmm.h) whose callbacks call the hooks above with
 * ctx = r. mem_write with a vCPU index (a write made while serving that
 * vCPU's exit, on its thread) goes to that vCPU's ring, after that exit;
 * with VMM_NO_VCPU to the control ring (vcr_recorder_mem_write). irq_line
 * and note the same way (vcr_recorder_vcpu_irq_line / vcr_recorder_irq_line,
 * vcr_recorder_vcpu_note / vcr_recorder_note).
 */
void vcr_recorder_observer(struct vcr_recorder *r, struct vmm_observer *obs);

/* ---- memory checkpoints ------------------------------------------------ */

/*
 * The checkpoint function for vmm_set_checkpoints (ctx = the recorder),
 * called with every vCPU paused (or after the run, final): reads each
 * slot's dirty log (vmm_dirty_log_get; without dirty logging only a final
 * checkpoint is possible: it then stores every page), copies the pages to
 * store into one buffer and hands it to the writer thread through the
 * control ring, after every record the vCPUs had published (so the
 * checkpoint belongs to the last exit written before it, and holds the
 * memory at that exit). The writer thread encodes it into one CKPT per
 * region and CKPT_PAGES runs (zero pages, repeats within the checkpoint,
 * raw pages) and frees it. While the previous checkpoint is not written yet
 * a periodic call copies nothing (the dirty log keeps accumulating: the
 * next one covers both intervals). In ring mode (opts.ring_bytes) a
 * checkpoint is full (every page touched so far, VCR_CKPT_FULL) once half
 * a ring of trace was written since the last full one, so that the ring
 * always holds one to start from. Returns the delay the byte budget wants
 * before the next one (ns), 0, or negative on error.
 */
int64_t vcr_recorder_checkpoint(void *ctx, struct vmm *vm, bool final);

/*
 * The pre-copy for vmm_set_checkpoints (vmm_ckpt_pre_fn), with the vCPUs
 * running, before a periodic pause: takes the pages dirty so far out of
 * the dirty log and copies them. The next vcr_recorder_checkpoint stores
 * those copies where the guest did not dirty the page again (KVM's log,
 * after the pre-copy cleared it) and the VMM did not write it, and copies
 * only the rest while the vCPUs wait: the checkpoint still holds the
 * memory at its exit, and the pause is shorter (bench/mem_bench.sh). Does
 * nothing while a pre-copy waits for its pause or the writer is behind.
 * 0 or -errno.
 */
int vcr_recorder_checkpoint_pre(void *ctx, struct vmm *vm);

/* ---- end --------------------------------------------------------------- */

struct vcr_recorder_summary {
	uint32_t how;		/* enum vcr_end_how; 0 if never told */
	int32_t status;
	char msg[256];		/* from vcr_recorder_end */
	uint64_t exits;		/* EXIT records handed to the trace writer */
	uint64_t records;	/* all records handed to the trace writer */
	uint64_t trace_bytes;	/* file size after close */
	uint64_t raw_bytes;	/* the records as raw structs (for ratios) */
	uint64_t chunks;
	uint64_t write_calls;	/* write syscalls of the trace writer */
	uint64_t stalls;	/* times a vCPU found its ring full */
	uint64_t stall_ns;	/* total time vCPUs waited, ns */
	uint64_t dropped;	/* records lost after a writer error */
	uint64_t ckpts;		/* memory checkpoints taken */
	uint64_t ckpt_skipped;	/* periodic ones skipped (writer behind) */
	uint64_t ckpt_dirty;	/* dirty pages they found */
	uint64_t ckpt_stored;	/* pages they stored */
	uint64_t ckpt_copy_ns;	/* time spent copying, vCPUs paused */
	uint64_t ckpt_copy_max_ns;
	uint64_t ckpt_pre;	/* pre-copies made (vcr_recorder_checkpoint_pre) */
	uint64_t ckpt_pre_ns;	/* their time, vCPUs running */
	uint64_t ckpt_pre_served; /* stored pages taken from a pre-copy */
	int error;		/* first writer error (negative errno) or 0 */
	char error_msg[256];
};

/* Snapshot of the counters while running (trace_bytes = written so far). */
void vcr_recorder_get_stats(struct vcr_recorder *r, struct vcr_recorder_summary *s);

/* Wait for the writer to drain every ring, write END (how/status/msg from
 * vcr_recorder_end, or VCR_END_ERROR "run ended without a reason"), write
 * the footer and close the file; fill *sum (may be NULL); free r (also on
 * error). Returns 0 or the first error (negative errno). Accepts NULL. */
int vcr_recorder_close(struct vcr_recorder *r, struct vcr_recorder_summary *sum);

/* The end-of-run line, e.g. "record: exit-port status 0: 1234 exits
 * recorded, trace 56789 bytes, 46.0 bytes/exit". No newline. Returns the
 * length snprintf would have written. */
int vcr_recorder_summary_format(const struct vcr_recorder_summary *s, const char *path,
				char *buf, size_t len);

#endif
