/*
 * gdbstub/gdbstub.h: a GDB remote-protocol server for x86-64 vCPUs.
 *
 * The server knows nothing of the machine: it parses packets (gdbstub/rsp.h),
 * dispatches them through a command table, and reaches the machine only
 * through struct gdbstub_target_ops (which file holds what: the list in
 * gdbstub/gdbstub_int.h). Two targets exist: live vCPUs of a VMM
 * (gdbstub/target_live.c and live_debug.c, gdbstub_live_start) and a replay
 * cursor over a trace (gdbstub/target_replay.c, gdbstub_serve_replay).
 *
 * Model:
 * - gdb threads are vCPUs: thread id N (1-based, hex on the wire) is vCPU
 *   N-1. All-stop: every vCPU is stopped whenever gdb has control.
 * - Registers are served from the one register table (core/regs.h) as a
 *   struct vcr_vcpu_state per thread; the target description XML is
 *   generated from that table, always in the 64-bit layout (gdb cannot change
 *   layout within a session).
 * - Memory addresses in m/M/X/x are guest-virtual: the server translates them
 *   through the current thread's page tables (core/x86_mmu.h) and asks the
 *   target for guest-physical bytes.
 *
 * Lifecycle: gdbstub_new -> (gdbstub_feed ... | gdbstub_serve_fd) ->
 * gdbstub_free. gdbstub_feed is the whole protocol over an in-memory byte
 * stream (used by unit tests and the fuzzer); gdbstub_serve_fd runs a session
 * on a connected socket, polling the target's stop fd while the guest runs.
 *
 * Threading: a server is used by one thread. Targets may run vCPU threads of
 * their own and report stops through stop_fd (see below).
 * Errors: 0 or -errno. A malformed packet is answered (E-code or nack) and
 * never ends the session.
 */
#ifndef VCR_GDBSTUB_GDBSTUB_H
#define VCR_GDBSTUB_GDBSTUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/state.h"
#include "core/util.h"
#include "gdbstub/rsp.h"

/* Largest packet payload we accept and advertise (PacketSize). Large packets
 * make memory reads fast: gdb 13 reads in chunks of about PacketSize/2 (an
 * 8 KiB read is one round trip). It does not slow stepping: see
 * docs/gdb.md, "Performance" (-DGDBSTUB_PACKET_SIZE=... to experiment). */
#ifndef GDBSTUB_PACKET_SIZE
#define GDBSTUB_PACKET_SIZE 0x20000u
#endif

/* Breakpoint kinds, numbered as in Z/z packets. */
enum gdbstub_bp_type {
	GDBSTUB_BP_SW = 0,
	GDBSTUB_BP_HW = 1,
	GDBSTUB_WP_WRITE = 2,
	GDBSTUB_WP_READ = 3,
	GDBSTUB_WP_ACCESS = 4,
};

enum gdbstub_action {
	GDBSTUB_CONTINUE,
	GDBSTUB_STEP,
};

struct gdbstub_resume {
	enum gdbstub_action action;
	unsigned thread;	/* 0-based vCPU that steps (or the current thread
				 * for continue) */
	bool reverse;		/* bs / bc (replay targets only) */
};

enum gdbstub_stop_reason {
	GDBSTUB_STOP_NONE = 0,	/* step done, interrupt, or plain signal */
	GDBSTUB_STOP_SWBREAK,
	GDBSTUB_STOP_HWBREAK,
	GDBSTUB_STOP_WATCH,	/* write watchpoint at addr */
	GDBSTUB_STOP_AWATCH,	/* access watchpoint at addr */
	GDBSTUB_STOP_REPLAY_BEGIN,	/* replaylog:begin */
	GDBSTUB_STOP_REPLAY_END,	/* replaylog:end */
	GDBSTUB_STOP_EXITED,	/* the guest ended: W<code> */
};

struct gdbstub_stop {
	enum gdbstub_stop_reason reason;
	unsigned thread;	/* 0-based vCPU that stopped */
	int signal;		/* 5 SIGTRAP (default when 0), 2 SIGINT */
	uint64_t addr;		/* watchpoint address */
	int exit_code;		/* GDBSTUB_STOP_EXITED */
};

/* Text sink for monitor commands (each call becomes an 'O' packet). */
struct gdbstub_out;
void gdbstub_printf(struct gdbstub_out *o, const char *fmt, ...) VCR_PRINTF(2, 3);

/*
 * Target operations. `t` is the target's own pointer. Thread numbers are
 * 0-based vCPU indices < nthreads. Optional operations may be NULL.
 */
struct gdbstub_target_ops {
	unsigned (*nthreads)(void *t);
	/* State of vCPU `thread`; *avail = VCR_CLASS_* mask of classes that
	 * hold real values (others are served as unavailable). */
	int (*get_state)(void *t, unsigned thread, struct vcr_vcpu_state *st,
			 unsigned *avail);
	/* Write the classes in `dirty`; NULL or -EROFS for read-only targets. */
	int (*set_state)(void *t, unsigned thread, const struct vcr_vcpu_state *st,
			 unsigned dirty);
	/* Guest-physical memory. read_phys may return -ENOENT for bytes the
	 * target does not hold (a trace), -EFAULT outside guest memory. */
	int (*read_phys)(void *t, uint64_t gpa, void *buf, size_t len);
	int (*write_phys)(void *t, uint64_t gpa, const void *buf, size_t len);
	/*
	 * Resume. Returns 1 when the target stopped again before returning
	 * (replay targets; *stop filled), 0 when vCPUs now run (the server then
	 * polls stop_fd() and calls wait_stop() when it is readable), or -errno
	 * (-EOPNOTSUPP for reverse on a live target).
	 */
	int (*resume)(void *t, const struct gdbstub_resume *r, struct gdbstub_stop *stop);
	int (*stop_fd)(void *t);
	/* Collect the stop once stop_fd is readable: 1 stopped (all vCPUs
	 * halted, *stop filled), 0 not yet (spurious wakeup). */
	int (*wait_stop)(void *t, struct gdbstub_stop *stop);
	/* Interrupt (0x03) while running: stop all vCPUs soon; the stop is
	 * then reported through stop_fd with signal 2. */
	void (*interrupt)(void *t);
	/* Insert (insert=true) or remove a breakpoint/watchpoint. -EOPNOTSUPP
	 * makes the server reply empty (gdb: "not supported"), -ENOSPC when the
	 * debug registers are all used. */
	int (*breakpoint)(void *t, enum gdbstub_bp_type type, uint64_t addr,
			  unsigned kind, bool insert);
	/* Target-specific monitor command: 1 handled, 0 unknown, <0 error. */
	int (*monitor)(void *t, const char *cmd, struct gdbstub_out *o);
	/* What the target knows of guest-physical address gpa (a trace:
	 * exact, stale, unknown, and why), for `monitor memory ADDR`; NULL
	 * when every byte is simply there (a live guest). */
	void (*mem_describe)(void *t, uint64_t gpa, struct gdbstub_out *o);
	/* Extra lines for `monitor help`. */
	void (*monitor_help)(void *t, struct gdbstub_out *o);
	/* Initial stop (the '?' reply before any resume). */
	void (*initial_stop)(void *t, struct gdbstub_stop *stop);
	/* gdb detached (D) or killed (k): leave the guest in a sane state. */
	void (*detach)(void *t, bool kill);
};

enum gdbstub_flags {
	GDBSTUB_F_REVERSE = 1u << 0,	/* offer ReverseStep/ReverseContinue */
};

struct gdbstub;

int gdbstub_new(struct gdbstub **out, const struct gdbstub_target_ops *ops, void *t,
		unsigned flags);
void gdbstub_free(struct gdbstub *g);

/* Feed bytes from the client. Replies accumulate in the buffer returned by
 * gdbstub_output() (the caller sends and resets it). Returns 0, or 1 when
 * the session is over (detach, kill), or -errno on an internal failure
 * (out of memory). While the target runs asynchronously, only the interrupt
 * byte and acks are acted upon. */
int gdbstub_feed(struct gdbstub *g, const uint8_t *in, size_t len);
struct rsp_buf *gdbstub_output(struct gdbstub *g);

/* True while the target runs (a resume returned 0); the caller polls
 * stop_fd and calls gdbstub_target_stopped when it is readable. */
bool gdbstub_running(const struct gdbstub *g);
int gdbstub_target_stopped(struct gdbstub *g);

/* Run a whole session on connected socket fd until gdb detaches, kills or
 * disconnects. Returns 0 or -errno. */
int gdbstub_serve_fd(struct gdbstub *g, int fd);

/* Listen on ADDR ("PORT", ":PORT", "HOST:PORT"; host defaults to
 * 127.0.0.1; port 0 picks a free one) and log "gdbstub: waiting for gdb on
 * HOST:PORT" (tests read the port from it). *lfd is the listening socket. */
int gdbstub_listen(const char *addr, int *lfd, struct vcr_err *err);
/* Accept one connection on lfd (TCP_NODELAY set). */
int gdbstub_accept_on(int lfd, int *fd_out, struct vcr_err *err);
/* Both, closing the listening socket. */
int gdbstub_accept(const char *addr, int *fd_out, struct vcr_err *err);

/* The target description (for tests); valid for the server's lifetime. */
const char *gdbstub_target_xml(struct gdbstub *g, size_t *len);

/* Counters for tests and benches. */
struct gdbstub_stats {
	uint64_t packets, bad_packets, interrupts, resumes;
};
void gdbstub_get_stats(const struct gdbstub *g, struct gdbstub_stats *st);

/* ---- the two targets (entry points used by the CLI) ---- */

struct vcr_cursor;
/* Serve the trace under cursor c to one gdb connecting on addr. Returns when
 * gdb detaches or disconnects. */
int gdbstub_serve_replay(struct vcr_cursor *c, const char *addr, struct vcr_err *err);

/* Live vCPUs of a VMM (`vcr run --gdb ADDR`). Call after vmm_create and
 * before vmm_run: installs the VMM debug handler (every vCPU then waits for
 * gdb before its first instruction), probes whether int3 reaches the VMM on
 * this host (logged), listens on addr and serves one gdb on a thread of its
 * own. gdbstub_live_stop after vmm_run returned (or on an error path; NULL
 * accepted): tells a waiting gdb that the guest exited, ends the session,
 * frees. */
#define GDBSTUB_LIVE_API 1
struct vmm;
struct gdbstub_live;
int gdbstub_live_start(struct gdbstub_live **out, struct vmm *vm, const char *addr,
		       struct vcr_err *err);
void gdbstub_live_stop(struct gdbstub_live *l);
/* The run's exit status (what `vcr run` exits with), for the W packet a
 * waiting gdb gets ("exited with code N"); call before gdbstub_live_stop.
 * Without it gdb sees code 0. NULL accepted. */
void gdbstub_live_exited(struct gdbstub_live *l, int code);
/* Called on the server thread each time a stop is reported to gdb (every
 * vCPU parked), before the reply is sent: `vcr run --gdb --record` writes
 * it into the trace as a MARKER "vcr.gdb.stop ...". Set before gdb can
 * resume the guest (right after gdbstub_live_start). NULL accepted. */
void gdbstub_live_on_stop(struct gdbstub_live *l,
			  void (*fn)(void *ctx, const struct gdbstub_stop *s), void *ctx);

#endif
