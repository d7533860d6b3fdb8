/*
 * recorder/foreign.h: record a VMM vcr did not write (`vcr record --
 * COMMAND`): the vcr side of libvcr-preload.so (recorder/preload/).
 *
 * Lifecycle:
 *   vcr_foreign_create   the shared memory (a memfd, recorder/preload/shm.h)
 *                        whose fd COMMAND inherits (VCR_PRELOAD_FD)
 *   vcr_foreign_drain    called in a loop while COMMAND runs: moves what the
 *                        library put in the per-vCPU rings into a recorder
 *                        (recorder/recorder.h), which writes the trace. The
 *                        trace is created at the first vCPU record, when the
 *                        VMM has set up its memory slots, CPUID and vCPUs
 *                        (they go into the header); slot changes after that
 *                        become MARKERs ("vcr.memslots ...")
 *   vcr_foreign_finish   after COMMAND exited: drain the rest, write END with
 *                        how it ended, close the trace; frees.
 *
 * Mapping: library EXIT -> vcr_recorder_after_run on a kvm_run rebuilt from
 * the copy; BEFORE (IN / MMIO-read answers, KVM_SET_REGS/SREGS(2)/
 * VCPU_EVENTS, kvm_dirty_regs) -> vcr_recorder_before_run, i.e. INPUT and
 * SET_STATE; KVM_INTERRUPT / KVM_NMI -> INJECT. vCPU index = the order in
 * which the VMM created its vCPUs; MARKER "vcr.vcpu index=I id=ID tid=T"
 * when a vCPU first runs.
 *
 * Threading: one thread calls everything (the CLI's main thread); the
 * producer is the preload library or the seccomp tracer's thread. The VMM
 * is not trusted: every length it wrote is checked; a record that does not
 * fit is counted in `bad` and skipped.
 * Errors: 0 or -errno, with err filled.
 */
#ifndef VCR_RECORDER_FOREIGN_H
#define VCR_RECORDER_FOREIGN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/util.h"
#include "formats/trace.h"
#include "recorder/recorder.h"

struct vcr_foreign;

struct vcr_foreign_opts {
	const char *path;		/* the trace */
	uint64_t buffer_bytes;		/* shared ring per vCPU; 0: 2 MiB */
	uint64_t ring_bytes;		/* --ring (vcr_recorder_opts.ring_bytes) */
	bool no_events;			/* do not sync EVENTS */
	const char *cmdline;		/* for the trace header */
	const struct vcr_kv *kv;	/* extra header key/values (copied at open) */
	uint32_t nkv;
};

int vcr_foreign_create(struct vcr_foreign **out, const struct vcr_foreign_opts *o,
		       struct vcr_err *err);

/* The fd COMMAND must inherit (not close-on-exec). */
int vcr_foreign_fd(const struct vcr_foreign *f);

/* The shared memory itself, for a producer inside vcr (the seccomp
 * tracer, recorder/seccomp.h), which writes what the library would. */
struct vcr_pre_hdr *vcr_foreign_shm(struct vcr_foreign *f);

/* Move what the rings hold into the trace. Returns the number of records
 * moved (0: nothing new), or -errno (the trace could not be created). */
ssize_t vcr_foreign_drain(struct vcr_foreign *f, struct vcr_err *err);

/* Why the library left this VM alone (protected state, ...), or NULL. */
const char *vcr_foreign_refused(struct vcr_foreign *f);

struct vcr_foreign_summary {
	struct vcr_recorder_summary rec;
	uint32_t nvcpus;		/* vCPUs in the trace */
	uint64_t lib_dropped;		/* records the library dropped (full ring) */
	uint64_t bad;			/* malformed records skipped */
	uint64_t late_vcpus;		/* records of vCPUs created after the trace */
};

/* Drain everything left, END (how, status, msg), close the trace, free f.
 * Returns 0 or the first error. Accepts NULL. */
int vcr_foreign_finish(struct vcr_foreign *f, uint32_t how, int32_t status,
		       const char *msg, struct vcr_foreign_summary *sum, struct vcr_err *err);

#endif
