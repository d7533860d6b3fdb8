/*
 * replayer/replay.h: re-execute a trace on KVM and check that it reproduces
 * (verify), or force it along the recording (resync).
 *
 * What a replay does:
 *   1. Opens the trace (formats/trace.h: refuses other layouts, damage) and
 *      checks the guest image the header carries (EMBEDDED: its SHA-256) or
 *      references (REFERENCE: the file must exist and hash to the recorded
 *      SHA-256). Ring-mode traces that lost their start cannot be replayed.
 *   2. Rebuilds the VM with vmm/vmm.h's low level: memory slots and CPUID
 *      from the header, nvcpus vCPUs; no devices, no loader. Guest memory
 *      comes from the trace's MEM_WRITE/MEM_PAGES records (the loader's
 *      writes), the initial state from its SET_STATE records.
 *   3. Runs every vCPU through its recorded exits. Before each KVM_RUN it
 *      hands back what the VMM handed over when recording: IN data into the
 *      kvm_run I/O area, MMIO read data into kvm_run->mmio.data, SET_STATE
 *      through kvm_run->s.regs + kvm_dirty_regs, INJECT (KVM_INTERRUPT /
 *      KVM_NMI), memory writes. After each exit it compares the exit (reason
 *      and payload) and the synced state (kvm_run->s.regs) with the recorded
 *      EXIT. No KVM_GET_* / KVM_SET_* register ioctl is made in the loop;
 *      a class is flagged in kvm_dirty_regs only when its bytes differ from
 *      what KVM last synced (a dirty sregs makes KVM rebuild the MMU
 *      context), and every flag is counted.
 *   4. Verify stops at the first divergence. Resync loads the recorded state
 *      back (dirty bits) wherever the live state differs and goes on; when
 *      the live exit itself differs, it first lets KVM complete the live exit
 *      (KVM_RUN with immediate_exit), then loads the recorded state, which
 *      makes the guest execute the recorded exiting instruction again.
 *
 * vCPUs: each vCPU replays its own recorded sequence of exits on its own
 * thread. The order of records of different vCPUs in a trace is the order
 * in which the recorder drained its per-vCPU rings, not a time order, so a
 * single thread following it would deadlock on guests whose vCPUs wait for
 * each other through memory. Guests driven only by exits replay exactly;
 * shared-memory races between vCPUs replay like any run (docs/replay.md).
 *
 * Errors: vcr_replay returns 0 when the replay ran (identical, diverged or
 * resynchronised: see the result) and a negative errno when it could not
 * start or broke down, with err saying why.
 */
#ifndef VCR_REPLAYER_REPLAY_H
#define VCR_REPLAYER_REPLAY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/progress.h"
#include "core/state.h"
#include "core/util.h"

enum vcr_replay_mode {
	VCR_REPLAY_VERIFY = 1,
	VCR_REPLAY_RESYNC = 2,
};

struct vcr_replay_opts {
	enum vcr_replay_mode mode;
	const char *image;	/* where a referenced guest image is now; NULL:
				 * the path recorded in the trace */
	unsigned timeout_ms;	/* give up when no vCPU reaches its next exit
				 * for this long; 0: 10000 */
	struct vcr_progress *progress;	/* exits replayed, of total (set by
					 * vcr_replay to the trace's exits),
					 * told on the caller's thread; NULL:
					 * none */
};

/* One exit where live and recorded differ. */
struct vcr_replay_point {
	bool valid;
	uint64_t seq;		/* global exit number */
	uint32_t vcpu;
	uint64_t vcpu_exit;	/* exit number of that vCPU */
	bool exit_differs;	/* reason or payload */
	unsigned classes;	/* register classes compared (VCR_CLASS_*) */
	struct vcr_exit rec_exit, live_exit;
	struct vcr_vcpu_state rec_state, live_state;
};

struct vcr_replay_counters {
	uint64_t kvm_run;		/* KVM_RUN ioctls, all vCPUs */
	uint64_t kvm_run_immediate;	/* of which with immediate_exit set */
	uint64_t dirty[3];		/* kvm_dirty_regs flags: regs, sregs, events */
	uint64_t dirty_skipped;		/* classes a SET_STATE named but that
					 * already held those bytes */
	uint64_t set_states, inputs, injects, mem_writes;	/* records applied */
	uint64_t irq_lines;		/* IRQ_LINE records re-driven (pc machine) */
	uint64_t mem_bytes;
	uint64_t forced;		/* resync: exits whose recorded state was
					 * loaded without running them again (a
					 * host whose rip is past the exiting
					 * instruction: PVM at port I/O) */
};

struct vcr_replay_result {
	uint64_t trace_exits;	/* EXIT records in the trace */
	uint64_t exits;		/* exits replayed and compared */
	bool diverged;		/* verify: stopped at `first` */
	uint64_t corrections;	/* resync: exits whose state or exit differed */
	uint64_t exit_corrections;	/* of which the exit itself differed */
	struct vcr_replay_point first;	/* verify: the divergence; resync: the
					 * first correction */
	struct vcr_replay_counters n;
	uint32_t nvcpus;
	char note[256];		/* e.g. why a multi-vCPU verify stopped early */
	char image_note[400];	/* a referenced image missing or changed ("") */
	/* verify on a damaged trace: exits [0, damage_exit) were there to
	 * replay; the damage (at file offset damage_offset, UINT64_MAX unknown)
	 * took the rest */
	bool damaged;
	uint64_t damage_exit, damage_offset;
	char damage[sizeof(((struct vcr_err *)0)->msg)];
};

/* Replay the trace at path. See the top of this file. */
int vcr_replay(const char *path, const struct vcr_replay_opts *opts,
	       struct vcr_replay_result *res, struct vcr_err *err);

/* Print the outcome the way `vcr replay` does: "N exits replayed,
 * identical", or the divergence (exit numbers, vCPU, exit reasons recorded
 * vs live, every differing register by name from core/regs.h with both
 * values), or the resync summary. */
void vcr_replay_print(FILE *f, const struct vcr_replay_opts *opts,
		      const struct vcr_replay_result *res);

/* Print the counters, one "name value" per line. */
void vcr_replay_print_counters(FILE *f, const struct vcr_replay_result *res);

#endif
