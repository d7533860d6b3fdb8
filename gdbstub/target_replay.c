/*
 * gdbstub/target_replay.c: gdb on a recorded trace, through the cursor
 * (replayer/cursor.h).
 *
 * The model (docs/gdb.md): each recorded exit is one step. The position is
 * a global exit number; `stepi` moves to the next exit of any vCPU,
 * `reverse-stepi` to the previous one, and the stop names the vCPU that made
 * that exit as the current thread. `continue` / `reverse-continue` move until
 * the vCPU of an exit has its rip on a breakpoint (Z0 or Z1: both are just
 * addresses here), else stop at the trace's end or start with
 * replaylog:end / replaylog:begin. Watchpoints are refused (the trace holds
 * no guest stores). Registers and memory are read-only.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gdbstub/gdbstub.h"
#include "replayer/cursor.h"

#define REPLAY_MAX_BPS 256

struct replay_bp {
	uint64_t addr;
	enum gdbstub_bp_type type;
};

struct replay {
	struct vcr_cursor *c;
	uint32_t nvcpus;
	bool lenient;		/* monitor memory lenient: serve stale bytes */
	uint64_t stale_reads;	/* reads that served stale bytes */
	struct replay_bp bps[REPLAY_MAX_BPS];
	size_t nbps;
};

static unsigned rp_nthreads(void *t)
{
	struct replay *r = t;
	return r->nvcpus;
}

static int rp_get_state(void *t, unsigned thread, struct vcr_vcpu_state *st,
			unsigned *avail)
{
	struct replay *r = t;
	int rc = vcr_cursor_state(r->c, thread, st);

	if (rc == -ENOENT) {
		/* No state for this vCPU yet at this point of the trace: every
		 * register is unavailable, which gdb shows as such. */
		*avail = 0;
		return 0;
	}
	if (rc)
		return rc;
	*avail = VCR_CLASS_ALL;
	return 0;
}

static int rp_read_phys(void *t, uint64_t gpa, void *buf, size_t len)
{
	struct replay *r = t;
	int rc = vcr_cursor_read_mem(r->c, gpa, buf, len);
	if (rc == -ENOENT && r->lenient) {
		rc = vcr_cursor_read_mem_stale(r->c, gpa, buf, len);
		if (!rc)
			r->stale_reads++;
	}
	return rc;
}

static void rp_mem_describe(void *t, uint64_t gpa, struct gdbstub_out *o)
{
	struct replay *r = t;
	struct vcr_mem_range mr;
	struct vcr_cursor_mem_info mi;
	if (vcr_cursor_mem_class(r->c, gpa, &mr) || vcr_cursor_mem_info(r->c, &mi)) {
		gdbstub_printf(o, "  memory index unavailable: %s\n", vcr_cursor_error(r->c)->msg);
		return;
	}
	char since[48];
	if (mr.since == UINT64_MAX)
		snprintf(since, sizeof(since), "before the first exit");
	else
		snprintf(since, sizeof(since), "as of exit %" PRIu64, mr.since);
	gdbstub_printf(o, "  %s: bytes 0x%" PRIx64 "..0x%" PRIx64 " at exit %" PRIu64 "%s%s\n",
		       vcr_mem_class_name(mr.cls), mr.gpa, mr.gpa + mr.len - 1,
		       vcr_cursor_pos(r->c), mr.cls == VCR_MEM_UNKNOWN ? "" : ", ",
		       mr.cls == VCR_MEM_UNKNOWN ? "" : since);
	switch (mr.cls) {
	case VCR_MEM_EXACT:
		gdbstub_printf(o, "  the guest's memory at this exit: recorded then, and the "
				  "guest did not write the page up to the next checkpoint (or "
				  "this exit is a checkpoint)\n");
		break;
	case VCR_MEM_STALE:
		gdbstub_printf(o, "  older contents only: the guest wrote the page between the "
				  "checkpoint before this exit and the next one (or no checkpoint "
				  "follows); refused unless 'monitor memory lenient'\n");
		break;
	case VCR_MEM_UNTRACKED:
		gdbstub_printf(o, "  written by the VMM (loader, device); the trace has no memory "
				  "checkpoints, so the guest may have changed them since\n");
		break;
	case VCR_MEM_UNKNOWN:
		gdbstub_printf(o, "  no record holds these bytes%s\n", mi.checkpoints ?
			       " (the guest did not write them while recorded, and the VMM did "
			       "not either)" : " (recorded without memory checkpoints)");
		break;
	}
	gdbstub_printf(o, "  trace: %" PRIu64 " checkpoints%s%s\n", mi.checkpoints,
		       mi.damaged ? "; damaged checkpoint records skipped: " : "",
		       mi.damaged ? mi.damage_msg : "");
}

static unsigned cur_vcpu(struct replay *r)
{
	const struct vcr_record *e = vcr_cursor_exit(r->c);
	return e && e->vcpu < r->nvcpus ? e->vcpu : 0;
}

/* The breakpoint (if any) on the rip of the vCPU that made the current exit. */
static const struct replay_bp *bp_hit(struct replay *r)
{
	const struct vcr_record *e = vcr_cursor_exit(r->c);

	if (!e || !r->nbps)
		return NULL;
	uint64_t rip = e->u.exit.state.regs.rip;
	for (size_t i = 0; i < r->nbps; i++)
		if (r->bps[i].addr == rip)
			return &r->bps[i];
	return NULL;
}

static int rp_resume(void *t, const struct gdbstub_resume *rs, struct gdbstub_stop *stop)
{
	struct replay *r = t;
	int dir = rs->reverse ? -1 : 1;
	int rc;

	memset(stop, 0, sizeof(*stop));
	stop->signal = 5;
	for (;;) {
		rc = vcr_cursor_step(r->c, dir, UINT32_MAX);
		if (rc == -ERANGE) {
			stop->reason = dir > 0 ? GDBSTUB_STOP_REPLAY_END
					       : GDBSTUB_STOP_REPLAY_BEGIN;
			break;
		}
		if (rc)
			return rc;
		if (rs->action == GDBSTUB_STEP)
			break;
		const struct replay_bp *bp = bp_hit(r);
		if (bp) {
			stop->reason = bp->type == GDBSTUB_BP_SW ? GDBSTUB_STOP_SWBREAK
								 : GDBSTUB_STOP_HWBREAK;
			break;
		}
	}
	stop->thread = cur_vcpu(r);
	return 1;
}

static int rp_breakpoint(void *t, enum gdbstub_bp_type type, uint64_t addr, unsigned kind,
			 bool insert)
{
	struct replay *r = t;
	(void)kind;

	if (type != GDBSTUB_BP_SW && type != GDBSTUB_BP_HW)
		return -EOPNOTSUPP;
	for (size_t i = 0; i < r->nbps; i++) {
		if (r->bps[i].addr != addr || r->bps[i].type != type)
			continue;
		if (insert)
			return 0;
		r->bps[i] = r->bps[--r->nbps];
		return 0;
	}
	if (!insert)
		return 0;	/* removing an absent breakpoint is harmless */
	if (r->nbps == REPLAY_MAX_BPS)
		return -ENOSPC;
	r->bps[r->nbps].addr = addr;
	r->bps[r->nbps].type = type;
	r->nbps++;
	return 0;
}

static void print_where(struct replay *r, struct gdbstub_out *o)
{
	const struct vcr_record *e = vcr_cursor_exit(r->c);
	char desc[256] = "";

	if (!e) {
		gdbstub_printf(o, "no exit at the position\n");
		return;
	}
	const char *name = vcr_exit_reason_name(e->u.exit.exit.reason);
	vcr_exit_format(&e->u.exit.exit, desc, sizeof(desc));
	gdbstub_printf(o, "exit %" PRIu64 " of %" PRIu64 ": vCPU %u exit %" PRIu64
			  ", %s %s, rip=0x%" PRIx64 "\n",
		       vcr_cursor_pos(r->c), vcr_cursor_nexits(r->c), e->vcpu, e->vcpu_exit,
		       name ? name : "?", desc, (uint64_t)e->u.exit.state.regs.rip);
}

static int rp_monitor(void *t, const char *cmd, struct gdbstub_out *o)
{
	struct replay *r = t;

	if (!strcmp(cmd, "where")) {
		print_where(r, o);
		return 1;
	}
	if (!strncmp(cmd, "seek", 4) && (cmd[4] == ' ' || cmd[4] == 0)) {
		char *end;
		const char *a = cmd + 4;
		while (*a == ' ')
			a++;
		errno = 0;
		unsigned long long n = strtoull(a, &end, 0);
		if (!*a || *end || errno || *a == '-') {
			gdbstub_printf(o, "usage: monitor seek N (0 <= N < %" PRIu64 ")\n",
				       vcr_cursor_nexits(r->c));
			return 1;
		}
		int rc = vcr_cursor_seek(r->c, n);
		if (rc) {
			gdbstub_printf(o, "cannot seek to exit %llu: %s (trace has %" PRIu64
					  " exits)\n", n, strerror(-rc), vcr_cursor_nexits(r->c));
			return 1;
		}
		print_where(r, o);
		/* gdb keeps registers it already fetched: tell the user. */
		gdbstub_printf(o, "(run 'flushregs' so that gdb re-reads registers)\n");
		return 1;
	}
	if (!strcmp(cmd, "memory") || !strcmp(cmd, "memory strict") ||
	    !strcmp(cmd, "memory lenient")) {
		if (cmd[6])
			r->lenient = cmd[7] == 'l';
		gdbstub_printf(o, "memory: %s (%" PRIu64 " reads served stale bytes so far)\n",
			       r->lenient ? "lenient: stale bytes are served (older contents, "
					    "WARNING: not the guest's memory at this exit)" :
			       "strict: only exact bytes are served; stale ones read as "
			       "'Cannot access memory'", r->stale_reads);
		return 1;
	}
	if (!strcmp(cmd, "breakpoints")) {
		gdbstub_printf(o, "replay target: breakpoints match the rip of recorded "
				  "exits (%zu set)\n", r->nbps);
		for (size_t i = 0; i < r->nbps; i++)
			gdbstub_printf(o, "  %s 0x%" PRIx64 "\n",
				       r->bps[i].type == GDBSTUB_BP_SW ? "break" : "hbreak",
				       r->bps[i].addr);
		return 1;
	}
	return 0;
}

static void rp_monitor_help(void *t, struct gdbstub_out *o)
{
	(void)t;
	gdbstub_printf(o, "replay target (each recorded exit is one step):\n"
			  "  where             position: exit number, vCPU, reason, rip\n"
			  "  seek N            go to exit N (then: flushregs)\n"
			  "  breakpoints       list breakpoints\n"
			  "  memory strict|lenient  serve only exact bytes (default), or stale\n"
			  "                    ones too (older contents, with a warning)\n");
}

static void rp_initial_stop(void *t, struct gdbstub_stop *stop)
{
	struct replay *r = t;

	memset(stop, 0, sizeof(*stop));
	stop->signal = 5;
	stop->thread = cur_vcpu(r);
}

static const struct gdbstub_target_ops replay_ops = {
	.nthreads = rp_nthreads,
	.get_state = rp_get_state,
	.read_phys = rp_read_phys,
	.resume = rp_resume,
	.breakpoint = rp_breakpoint,
	.monitor = rp_monitor,
	.monitor_help = rp_monitor_help,
	.mem_describe = rp_mem_describe,
	.initial_stop = rp_initial_stop,
};

int gdbstub_serve_replay(struct vcr_cursor *c, const char *addr, struct vcr_err *err)
{
	struct replay r = { .c = c };
	struct gdbstub *g = NULL;
	int fd = -1, rc;

	r.nvcpus = vcr_cursor_info(c)->nvcpus;
	if (!r.nvcpus)
		r.nvcpus = 1;
	rc = gdbstub_new(&g, &replay_ops, &r, GDBSTUB_F_REVERSE);
	if (rc)
		return vcr_err_set(err, rc, UINT64_MAX, "gdbstub: %s", strerror(-rc));
	rc = gdbstub_accept(addr, &fd, err);
	if (rc)
		goto out;
	vcr_log("gdbstub: serving trace (%" PRIu64 " exits, %u vCPUs); each exit is one step",
		vcr_cursor_nexits(c), r.nvcpus);
	rc = gdbstub_serve_fd(g, fd);
	if (rc)
		vcr_err_set(err, rc, UINT64_MAX, "gdbstub: connection: %s", strerror(-rc));
out:
	if (fd >= 0)
		close(fd);
	gdbstub_free(g);
	return rc;
}
