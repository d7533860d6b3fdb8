/*
 * gdbstub/live_int.h: what the live target's two files share (not for other
 * modules: the live target's API is in gdbstub/gdbstub.h).
 *   target_live.c  all-stop: vCPUs parking in the VMM's debug handler, the
 *                  target ops for state, memory, resume and stops, the
 *                  server thread
 *   live_debug.c   the debug mechanisms: the int3 probe, debug registers,
 *                  breakpoint and watchpoint paths (Z0-Z4), each vCPU's
 *                  guest debug settings, what a KVM_EXIT_DEBUG means
 * Threading: every field below `lock` is guarded by it; the functions
 * marked "lock held" expect the caller to hold it.
 */
#ifndef VCR_GDBSTUB_LIVE_INT_H
#define VCR_GDBSTUB_LIVE_INT_H

#include <pthread.h>

#include "gdbstub/gdbstub.h"
#include "vmm/vmm.h"

#define LIVE_MAX_SW 64

/* How a software breakpoint (Z0), or a Z1 where execute debug registers do
 * not fire, is served: live_debug.c. */
enum sw_path { SW_INT3, SW_DR, SW_STEP };
enum step_mode {
	STEP_NONE,
	STEP_USER,	/* gdb asked this vCPU to step */
	STEP_EMUL,	/* stepping stands in for breakpoints (SW_STEP) */
};

/* What the host's debug mechanisms do: gdbstub_lv_debug_init's probes. */
struct live_caps {
	bool int3;		/* int3 with USE_SW_BP exits to us */
	bool dr_exec;		/* DR0-3 execute breakpoints fire */
	bool dr_write;		/* ... write watchpoints */
	bool dr_access;		/* ... access watchpoints */
	bool step;		/* KVM_GUESTDBG_SINGLESTEP stops after one instruction */
	bool blockirq;		/* ... and BLOCKIRQ keeps a pending interrupt out */
};

struct dr_slot {
	bool used;
	enum gdbstub_bp_type type;	/* SW (a Z0 on the dr path), HW, WP_* */
	uint64_t addr;
	unsigned len;
};

struct sw_bp {
	uint64_t addr;
	enum sw_path path;
	int slot;		/* SW_DR: debug register */
	uint64_t gpa;		/* SW_INT3: where 0xcc went */
	uint8_t orig;
	bool hw;		/* a Z1 (stops report hwbreak) */
};

/* A write watchpoint served by stepping: the bytes at gpa are compared
 * after every instruction (no data debug registers on this host). */
struct step_watch {
	uint64_t addr, gpa;
	unsigned len;
	uint8_t old[8];
};

struct live_vcpu {
	bool parked;
	bool go;		/* released by the server */
	enum step_mode step;
	struct kvm_guest_debug dbg;	/* to apply when leaving the handler */
};

struct gdbstub_live {
	struct vmm *vm;
	unsigned n;
	/* what the host's debug mechanisms do (gdbstub_lv_debug_init) */
	struct live_caps caps;
	uint32_t dbg_caps;	/* KVM_CAP_SET_GUEST_DEBUG2 mask (0 unknown) */

	pthread_mutex_t lock;
	pthread_cond_t cond;	/* vCPUs wait for `go`; server waits for parks */
	int efd;		/* stop ready (or run ended) */
	bool stopping;		/* an all-stop is in progress or complete */
	struct gdbstub_stop stop;
	unsigned nparked;
	bool killed, ended;
	int exit_code;		/* gdbstub_live_exited: gdb's W<code> */
	void (*on_stop)(void *ctx, const struct gdbstub_stop *s);
	void *on_stop_ctx;
	struct live_vcpu *vc;

	/* breakpoints and watchpoints (live_debug.c) */
	struct dr_slot dr[4];
	struct sw_bp sw[LIVE_MAX_SW];
	unsigned nsw;
	struct step_watch sww[4];
	unsigned nsww;

	/* server thread */
	pthread_t thread;
	bool thread_started;
	int lfd, fd;
	char addr[128];
};

/* live_debug.c */
/* Probe int3, execute / write / access debug registers, single step and
 * BLOCKIRQ on a throw-away VM, read KVM's guest debug caps; log what serves
 * what. */
void gdbstub_lv_debug_init(struct gdbstub_live *l);
/* Recompute every vCPU's guest debug settings from the breakpoints and the
 * step modes (lock held). */
void gdbstub_lv_compute_debug(struct gdbstub_live *l);
/* Some breakpoint or watchpoint is served by stepping (lock held). */
bool gdbstub_lv_have_step_bps(struct gdbstub_live *l);
/* Classify a KVM_EXIT_DEBUG of vCPU v (lock held): true if it is a stop for
 * gdb (reason and addr filled in s), false to keep the vCPU going. */
bool gdbstub_lv_debug_exit(struct gdbstub_live *l, unsigned v, const struct kvm_run *run,
			   struct gdbstub_stop *s);
/* Remove every breakpoint and watchpoint, restoring int3 bytes (lock held). */
void gdbstub_lv_clear_bps(struct gdbstub_live *l);
/* The target ops of the same names (they take the lock). */
int gdbstub_lv_breakpoint(void *t, enum gdbstub_bp_type type, uint64_t addr, unsigned kind,
			  bool insert);
int gdbstub_lv_monitor(void *t, const char *cmd, struct gdbstub_out *o);
void gdbstub_lv_monitor_help(void *t, struct gdbstub_out *o);

#endif
