/*
 * gdbstub/target_live.c: gdb on the running vCPUs of `vcr run`, through the
 * VMM's debug controls (vmm/vmm.h: debug handler, KVM_SET_GUEST_DEBUG per
 * vCPU, kicks, state in kvm_run->s.regs).
 *
 * All-stop. A vCPU that stops (breakpoint, watchpoint, step, interrupt
 * request) records the stop and kicks the others; each vCPU then waits
 * ("parks") inside the VMM's debug handler, on its own thread, until the
 * server releases it. The server sees the stop through an eventfd once every
 * vCPU is parked. A step releases only the stepping vCPU (the others stay
 * parked: docs/gdb.md). Guest debug settings are computed by the server and
 * applied by each vCPU thread as it leaves the handler (the VMM requires
 * vmm_vcpu_set_guest_debug on the vCPU's own thread while it runs).
 *
 * Software breakpoints (Z0). At start a throw-away VM checks whether int3
 * with KVM_GUESTDBG_USE_SW_BP exits to userspace. It does on real hardware;
 * it does not under QEMU TCG's nested SVM, which delivers int3 to the L2
 * guest's IDT (NESTED-KVM.md). Paths:
 *   int3    probe passed: 0xcc written at the translated address at insert,
 *           the original byte put back at remove; an address that does not
 *           translate yet (not mapped) takes a debug register instead, so
 *           nothing is ever written to a wrong or absent page;
 *   dr      probe failed: a free debug register (execute breakpoint);
 *   step    no debug register free: every vCPU single-steps while gdb
 *           continues and stops when rip equals a breakpoint (slow, exact).
 * `monitor breakpoints` and a log line say which path serves what.
 *
 * Z1 hardware breakpoints, Z2 write and Z4 access watchpoints use DR0-3
 * (lengths 1/2/4/8, aligned); x86 cannot watch reads alone, so Z3 is
 * refused (empty reply: gdb reports it unsupported).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/x86_mmu.h"
#include "gdbstub/gdbstub.h"
#include "vmm/vmm.h"

#define LIVE_MAX_SW 64

enum sw_path { SW_INT3, SW_DR, SW_STEP };
enum step_mode { STEP_NONE, STEP_USER, STEP_EMUL };

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
	bool int3_works;
	uint32_t dbg_caps;	/* KVM_CAP_SET_GUEST_DEBUG2 mask (0 unknown) */

	pthread_mutex_t lock;
	pthread_cond_t cond;	/* vCPUs wait for `go`; server waits for parks */
	int efd;		/* stop ready (or run ended) */
	bool stopping;		/* an all-stop is in progress or complete */
	struct gdbstub_stop stop;
	unsigned nparked;
	bool killed, ended;
	int exit_code;		/* gdbstub_live_exited: gdb's W<code> */
	struct live_vcpu *vc;

	struct dr_slot dr[4];
	struct sw_bp sw[LIVE_MAX_SW];
	unsigned nsw;

	/* server thread */
	pthread_t thread;
	bool thread_started;
	int lfd, fd;
	char addr[128];
};

/* ------------------------------------------------------------ int3 probe */

/* A real-mode throw-away VM runs "int3; hlt" with USE_SW_BP. If int3 exits
 * to us, KVM_EXIT_DEBUG with exception 3; if the host delivers it to the
 * guest instead, the IVT sends it to a "hlt" elsewhere (KVM_EXIT_HLT). */
static bool probe_int3(void)
{
	struct vmm *vm = NULL;
	struct vcr_err err;
	struct vcr_mem_region r = { 0, 0x10000, 0 };
	bool ok = false;

	if (vmm_open(&vm, &err) || vmm_mem_add(vm, &r, &err) ||
	    vmm_cpuid_set(vm, NULL, 0, &err) || vmm_vcpus_create(vm, 1, &err))
		goto out;
	uint8_t code[] = { 0xcc, 0xf4 };	/* int3; hlt */
	uint8_t hlt = 0xf4;
	uint32_t ivt3 = 0x00000300;		/* 0000:0300 */
	if (vmm_mem_write(vm, 0x1000, code, sizeof(code)) || vmm_mem_write(vm, 0x300, &hlt, 1) ||
	    vmm_mem_write(vm, 3 * 4, &ivt3, 4))
		goto out;
	struct vcr_vcpu_state st;
	if (vmm_vcpu_get_state(vm, 0, &st))
		goto out;
	st.regs.rip = 0x1000;
	st.regs.rflags = 2;
	st.regs.rsp = 0x8000;
	struct kvm_segment *segs[] = { &st.sregs.cs, &st.sregs.ds, &st.sregs.es,
				       &st.sregs.ss, &st.sregs.fs, &st.sregs.gs };
	for (size_t i = 0; i < VCR_ARRAY_SIZE(segs); i++) {
		segs[i]->selector = 0;
		segs[i]->base = 0;
	}
	if (vmm_vcpu_set_state(vm, 0, &st, VCR_CLASS_REGS | VCR_CLASS_SREGS))
		goto out;
	struct kvm_guest_debug dbg = { .control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP };
	if (vmm_vcpu_set_guest_debug(vm, 0, &dbg))
		goto out;
	if (vmm_vcpu_run_once(vm, 0))
		goto out;
	struct kvm_run *run = vmm_vcpu_run_page(vm, 0);
	ok = run->exit_reason == KVM_EXIT_DEBUG && run->debug.arch.exception == 3;
out:
	vmm_destroy(vm);
	return ok;
}

/* ------------------------------------------------------------ debug regs */

static uint64_t dr7_bits(const struct dr_slot *s, int i)
{
	uint64_t rw, len;

	switch (s->type) {
	case GDBSTUB_WP_WRITE:
		rw = 1;
		break;
	case GDBSTUB_WP_ACCESS:
		rw = 3;
		break;
	default:
		rw = 0;	/* execute: length must be 1 (00) */
		break;
	}
	switch (rw ? s->len : 1) {
	case 2: len = 1; break;
	case 4: len = 3; break;
	case 8: len = 2; break;
	default: len = 0; break;
	}
	return (1ull << (2 * i)) | (rw << (16 + 4 * i)) | (len << (18 + 4 * i));
}

/* Recompute every vCPU's guest debug settings (lock held). */
static void compute_debug(struct gdbstub_live *l)
{
	struct kvm_guest_debug base;
	bool any_dr = false, any_int3 = false;

	memset(&base, 0, sizeof(base));
	for (int i = 0; i < 4; i++)
		if (l->dr[i].used) {
			base.arch.debugreg[i] = l->dr[i].addr;
			base.arch.debugreg[7] |= dr7_bits(&l->dr[i], i);
			any_dr = true;
		}
	for (unsigned i = 0; i < l->nsw; i++)
		if (l->sw[i].path == SW_INT3)
			any_int3 = true;
	if (any_dr) {
		base.arch.debugreg[7] |= 1ull << 10;	/* reserved, reads as 1 */
		base.control |= KVM_GUESTDBG_USE_HW_BP;
	}
	if (any_int3)
		base.control |= KVM_GUESTDBG_USE_SW_BP;
	for (unsigned v = 0; v < l->n; v++) {
		struct kvm_guest_debug d = base;
		if (l->vc[v].step != STEP_NONE) {
			d.control |= KVM_GUESTDBG_SINGLESTEP;
			/* A step must not land in an interrupt handler. */
			if (l->dbg_caps & KVM_GUESTDBG_BLOCKIRQ)
				d.control |= KVM_GUESTDBG_BLOCKIRQ;
		}
		if (d.control)
			d.control |= KVM_GUESTDBG_ENABLE;
		l->vc[v].dbg = d;
	}
}

static int free_slot(struct gdbstub_live *l)
{
	for (int i = 0; i < 4; i++)
		if (!l->dr[i].used)
			return i;
	return -1;
}

static bool have_step_bps(struct gdbstub_live *l)
{
	for (unsigned i = 0; i < l->nsw; i++)
		if (l->sw[i].path == SW_STEP)
			return true;
	return false;
}

static const char *path_name(enum sw_path p)
{
	switch (p) {
	case SW_INT3: return "int3";
	case SW_DR: return "debug register";
	default: return "single-stepping";
	}
}

/* ------------------------------------------------------------ vCPU side */

/* CLOCK_REALTIME ms from now: the clock of pthread_cond_timedwait and
 * pthread_timedjoin_np. */
static struct timespec deadline_ms(long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += ms % 1000 * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

/* Wait on l->cond (lock held) for a wakeup, or ms at most. */
static void wait_ms(struct gdbstub_live *l, long ms)
{
	struct timespec ts = deadline_ms(ms);
	pthread_cond_timedwait(&l->cond, &l->lock, &ts);
}

static void kick_running(struct gdbstub_live *l, unsigned except)
{
	for (unsigned v = 0; v < l->n; v++)
		if (v != except && !l->vc[v].parked)
			vmm_kick(l->vm, v);
}

static void notify(struct gdbstub_live *l)
{
	uint64_t one = 1;
	ssize_t w = write(l->efd, &one, sizeof(one));
	(void)w;	/* a full counter already wakes the poller */
}

static void begin_stop(struct gdbstub_live *l, const struct gdbstub_stop *s)
{
	if (l->stopping)
		return;	/* another vCPU stopped first: all-stop reports one */
	l->stopping = true;
	l->stop = *s;
	kick_running(l, s->thread);
}

/* Classify a KVM_EXIT_DEBUG. Returns true if it is a stop for gdb. */
static bool debug_exit(struct gdbstub_live *l, unsigned v, const struct kvm_run *run,
		       struct gdbstub_stop *s)
{
	const struct kvm_debug_exit_arch *a = &run->debug.arch;

	if (a->exception == 3) {
		s->reason = GDBSTUB_STOP_SWBREAK;
		return true;
	}
	if (a->exception != 1)
		return true;
	uint64_t hit = a->dr6 & 0xf;
	if (hit) {
		int i = __builtin_ctzll(hit);
		const struct dr_slot *d = &l->dr[i];
		switch (d->type) {
		case GDBSTUB_BP_SW:
			s->reason = GDBSTUB_STOP_SWBREAK;
			break;
		case GDBSTUB_BP_HW:
			s->reason = GDBSTUB_STOP_HWBREAK;
			break;
		case GDBSTUB_WP_WRITE:
			s->reason = GDBSTUB_STOP_WATCH;
			s->addr = d->addr;
			break;
		default:
			s->reason = GDBSTUB_STOP_AWATCH;
			s->addr = d->addr;
			break;
		}
		return true;
	}
	if (a->dr6 & (1ull << 14)) {	/* DR6.BS: single step */
		if (l->vc[v].step == STEP_EMUL) {
			uint64_t rip = run->s.regs.regs.rip;
			for (unsigned i = 0; i < l->nsw; i++)
				if (l->sw[i].path == SW_STEP && l->sw[i].addr == rip) {
					s->reason = GDBSTUB_STOP_SWBREAK;
					return true;
				}
			return false;	/* keep stepping */
		}
		return true;
	}
	return true;
}

static int live_handler(void *ctx, struct vmm *vm, uint32_t v, enum vmm_debug_event ev,
			struct kvm_run *run)
{
	struct gdbstub_live *l = ctx;
	struct gdbstub_stop s = { .signal = 5, .thread = v };
	int ret;

	pthread_mutex_lock(&l->lock);
	switch (ev) {
	case VMM_DEBUG_START:
		break;	/* wait for gdb (stopping is set from the start) */
	case VMM_DEBUG_EXIT:
		if (debug_exit(l, v, run, &s))
			begin_stop(l, &s);
		else if (!l->stopping) {
			pthread_mutex_unlock(&l->lock);
			return VMM_DEBUG_CONTINUE;
		}
		break;
	case VMM_DEBUG_KICKED:
		if (!l->stopping) {	/* a stale kick from an earlier stop */
			pthread_mutex_unlock(&l->lock);
			return VMM_DEBUG_CONTINUE;
		}
		break;
	}
	l->vc[v].parked = true;
	l->nparked++;
	if (l->nparked == l->n)
		notify(l);
	pthread_cond_broadcast(&l->cond);
	while (!l->vc[v].go && !l->killed && !vmm_ended(vm)) {
		wait_ms(l, 100);
	}
	l->vc[v].go = false;
	l->vc[v].parked = false;
	l->nparked--;
	ret = l->killed ? VMM_DEBUG_KILL : VMM_DEBUG_CONTINUE;
	struct kvm_guest_debug dbg = l->vc[v].dbg;
	pthread_mutex_unlock(&l->lock);
	if (ret == VMM_DEBUG_CONTINUE)
		vmm_vcpu_set_guest_debug(vm, v, &dbg);
	return ret;
}

/* ------------------------------------------------------------ target ops */

static unsigned lv_nthreads(void *t)
{
	struct gdbstub_live *l = t;
	return l->n;
}

static int lv_get_state(void *t, unsigned th, struct vcr_vcpu_state *st, unsigned *avail)
{
	struct gdbstub_live *l = t;
	int rc = vmm_vcpu_get_state(l->vm, th, st);
	*avail = rc ? 0 : VCR_CLASS_ALL;
	return rc;
}

static int lv_set_state(void *t, unsigned th, const struct vcr_vcpu_state *st, unsigned dirty)
{
	struct gdbstub_live *l = t;
	/* Events are shown read-only; never write them back. */
	return vmm_vcpu_set_state(l->vm, th, st, dirty & (VCR_CLASS_REGS | VCR_CLASS_SREGS));
}

static int lv_read_phys(void *t, uint64_t gpa, void *buf, size_t len)
{
	struct gdbstub_live *l = t;
	return vmm_mem_read(l->vm, gpa, buf, len);
}

static int lv_write_phys(void *t, uint64_t gpa, const void *buf, size_t len)
{
	struct gdbstub_live *l = t;
	return vmm_mem_write(l->vm, gpa, buf, len);
}

static int lv_resume(void *t, const struct gdbstub_resume *r, struct gdbstub_stop *stop)
{
	struct gdbstub_live *l = t;
	(void)stop;

	if (r->reverse)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&l->lock);
	if (l->ended) {
		pthread_mutex_unlock(&l->lock);
		return -ESRCH;
	}
	bool emul = have_step_bps(l);
	for (unsigned v = 0; v < l->n; v++) {
		if (r->action == GDBSTUB_STEP)
			l->vc[v].step = v == r->thread ? STEP_USER : STEP_NONE;
		else
			l->vc[v].step = emul ? STEP_EMUL : STEP_NONE;
	}
	compute_debug(l);
	l->stopping = false;
	memset(&l->stop, 0, sizeof(l->stop));
	for (unsigned v = 0; v < l->n; v++)
		l->vc[v].go = r->action == GDBSTUB_CONTINUE || v == r->thread;
	uint64_t junk;
	ssize_t rd = read(l->efd, &junk, sizeof(junk));	/* drop stale wakeups */
	(void)rd;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
	return 0;
}

static int lv_stop_fd(void *t)
{
	struct gdbstub_live *l = t;
	return l->efd;
}

static int lv_wait_stop(void *t, struct gdbstub_stop *stop)
{
	struct gdbstub_live *l = t;
	uint64_t junk;
	ssize_t rd = read(l->efd, &junk, sizeof(junk));
	(void)rd;

	pthread_mutex_lock(&l->lock);
	if (l->ended) {
		memset(stop, 0, sizeof(*stop));
		stop->reason = GDBSTUB_STOP_EXITED;
		stop->exit_code = l->exit_code;
		pthread_mutex_unlock(&l->lock);
		return 1;
	}
	if (!l->stopping) {
		pthread_mutex_unlock(&l->lock);
		return 0;
	}
	/* vCPUs that halted for good never park: wait a little for the rest,
	 * then report the stop with whoever is parked. */
	for (int i = 0; i < 5 && l->nparked < l->n && !l->ended; i++) {
		wait_ms(l, 100);
	}
	*stop = l->stop;
	if (!stop->signal)
		stop->signal = 5;
	pthread_mutex_unlock(&l->lock);
	return 1;
}

static void lv_interrupt(void *t)
{
	struct gdbstub_live *l = t;
	struct gdbstub_stop s = { .signal = 2 };

	pthread_mutex_lock(&l->lock);
	for (unsigned v = 0; v < l->n; v++)
		if (!l->vc[v].parked) {
			s.thread = v;
			break;
		}
	if (!l->stopping) {
		l->stopping = true;
		l->stop = s;
		kick_running(l, UINT32_MAX);
	}
	if (l->nparked == l->n)
		notify(l);
	pthread_mutex_unlock(&l->lock);
}

static int phys_cb(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	return vmm_mem_read(ctx, gpa, buf, len);
}

/* Through the page tables of the vCPU that stopped last. */
static int translate_va(struct gdbstub_live *l, uint64_t va, uint64_t *gpa)
{
	struct vcr_vcpu_state st;
	uint64_t left;
	unsigned v = l->stop.thread < l->n ? l->stop.thread : 0;

	if (vmm_vcpu_get_state(l->vm, v, &st))
		return -EFAULT;
	return vcr_mmu_translate(&st, va, phys_cb, l->vm, gpa, &left);
}

static int sw_insert(struct gdbstub_live *l, uint64_t addr)
{
	struct sw_bp *b;

	for (unsigned i = 0; i < l->nsw; i++)
		if (l->sw[i].addr == addr)
			return 0;
	if (l->nsw == LIVE_MAX_SW)
		return -ENOSPC;
	b = &l->sw[l->nsw];
	memset(b, 0, sizeof(*b));
	b->addr = addr;
	b->slot = -1;
	if (l->int3_works && translate_va(l, addr, &b->gpa) == 0 &&
	    vmm_mem_read(l->vm, b->gpa, &b->orig, 1) == 0) {
		uint8_t cc = 0xcc;
		if (vmm_mem_write(l->vm, b->gpa, &cc, 1) == 0) {
			b->path = SW_INT3;
			l->nsw++;
			return 0;
		}
	}
	int s = free_slot(l);
	if (s >= 0) {
		l->dr[s] = (struct dr_slot){ .used = true, .type = GDBSTUB_BP_SW, .addr = addr, .len = 1 };
		b->path = SW_DR;
		b->slot = s;
	} else {
		b->path = SW_STEP;
	}
	l->nsw++;
	return 0;
}

static int sw_remove(struct gdbstub_live *l, uint64_t addr)
{
	for (unsigned i = 0; i < l->nsw; i++) {
		struct sw_bp *b = &l->sw[i];
		if (b->addr != addr)
			continue;
		if (b->path == SW_INT3)
			vmm_mem_write(l->vm, b->gpa, &b->orig, 1);
		else if (b->path == SW_DR)
			l->dr[b->slot].used = false;
		l->sw[i] = l->sw[--l->nsw];
		return 0;
	}
	return 0;
}

static int lv_breakpoint(void *t, enum gdbstub_bp_type type, uint64_t addr, unsigned kind,
			 bool insert)
{
	struct gdbstub_live *l = t;
	int rc = 0;

	if (type == GDBSTUB_WP_READ)
		return -EOPNOTSUPP;	/* x86 debug registers cannot watch reads alone */
	pthread_mutex_lock(&l->lock);
	if (type == GDBSTUB_BP_SW) {
		rc = insert ? sw_insert(l, addr) : sw_remove(l, addr);
		goto out;
	}
	unsigned len = type == GDBSTUB_BP_HW ? 1 : kind;
	if (type != GDBSTUB_BP_HW &&
	    ((len != 1 && len != 2 && len != 4 && len != 8) || (addr & (len - 1)))) {
		rc = -EINVAL;	/* DRs watch 1/2/4/8 aligned bytes */
		goto out;
	}
	for (int i = 0; i < 4; i++) {
		struct dr_slot *d = &l->dr[i];
		if (d->used && d->type == type && d->addr == addr && d->len == len) {
			if (!insert)
				d->used = false;
			goto out;
		}
	}
	if (!insert)
		goto out;
	int s = free_slot(l);
	if (s < 0) {
		rc = -ENOSPC;
		goto out;
	}
	l->dr[s] = (struct dr_slot){ .used = true, .type = type, .addr = addr, .len = len };
out:
	compute_debug(l);
	pthread_mutex_unlock(&l->lock);
	return rc;
}

static int lv_monitor(void *t, const char *cmd, struct gdbstub_out *o)
{
	struct gdbstub_live *l = t;

	if (strcmp(cmd, "breakpoints"))
		return 0;
	pthread_mutex_lock(&l->lock);
	gdbstub_printf(o, "software breakpoints: %s\n",
		       l->int3_works ? "int3 (the probe saw int3 reach the VMM)"
				     : "debug registers, then single-stepping (the probe saw "
				       "int3 go to the guest: no int3 is ever written)");
	gdbstub_printf(o, "single step: %s\n", (l->dbg_caps & KVM_GUESTDBG_BLOCKIRQ)
		       ? "KVM_GUESTDBG_BLOCKIRQ (no interrupt handlers)" : "plain (KVM lacks BLOCKIRQ)");
	for (unsigned i = 0; i < l->nsw; i++)
		gdbstub_printf(o, "  break 0x%" PRIx64 " via %s\n", l->sw[i].addr,
			       path_name(l->sw[i].path));
	for (int i = 0; i < 4; i++)
		if (l->dr[i].used && l->dr[i].type != GDBSTUB_BP_SW)
			gdbstub_printf(o, "  DR%d: %s 0x%" PRIx64 " len %u\n", i,
				       l->dr[i].type == GDBSTUB_BP_HW ? "hbreak"
				       : l->dr[i].type == GDBSTUB_WP_WRITE ? "watch" : "awatch",
				       l->dr[i].addr, l->dr[i].len);
	pthread_mutex_unlock(&l->lock);
	return 1;
}

static void lv_monitor_help(void *t, struct gdbstub_out *o)
{
	(void)t;
	gdbstub_printf(o, "live target:\n"
			  "  breakpoints       how breakpoints are served (int3, debug registers, stepping)\n");
}

static void lv_initial_stop(void *t, struct gdbstub_stop *stop)
{
	struct gdbstub_live *l = t;
	pthread_mutex_lock(&l->lock);
	*stop = l->stop;
	stop->signal = 5;
	pthread_mutex_unlock(&l->lock);
}

static void lv_detach(void *t, bool kill)
{
	struct gdbstub_live *l = t;

	pthread_mutex_lock(&l->lock);
	while (l->nsw)
		sw_remove(l, l->sw[0].addr);
	memset(l->dr, 0, sizeof(l->dr));
	for (unsigned v = 0; v < l->n; v++) {
		l->vc[v].step = STEP_NONE;
		l->vc[v].go = true;
	}
	compute_debug(l);
	l->stopping = false;
	if (kill)
		l->killed = true;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
}

static const struct gdbstub_target_ops live_ops = {
	.nthreads = lv_nthreads,
	.get_state = lv_get_state,
	.set_state = lv_set_state,
	.read_phys = lv_read_phys,
	.write_phys = lv_write_phys,
	.resume = lv_resume,
	.stop_fd = lv_stop_fd,
	.wait_stop = lv_wait_stop,
	.interrupt = lv_interrupt,
	.breakpoint = lv_breakpoint,
	.monitor = lv_monitor,
	.monitor_help = lv_monitor_help,
	.initial_stop = lv_initial_stop,
	.detach = lv_detach,
};

/* ------------------------------------------------------------ server */

static void *server_main(void *arg)
{
	struct gdbstub_live *l = arg;
	struct gdbstub *g = NULL;
	struct vcr_err err = { 0 };
	int fd = -1, rc;

	rc = gdbstub_accept_on(l->lfd, &fd, &err);
	if (rc) {
		pthread_mutex_lock(&l->lock);
		bool ended = l->ended;
		pthread_mutex_unlock(&l->lock);
		if (!ended)
			vcr_log("gdbstub: %s; the guest runs on without gdb", err.msg);
		lv_detach(l, false);
		return NULL;
	}
	pthread_mutex_lock(&l->lock);
	l->fd = fd;
	/* The guest waits for gdb before its first instruction: every vCPU
	 * parks at VMM_DEBUG_START. */
	while (l->nparked < l->n && !l->ended && !vmm_ended(l->vm)) {
		wait_ms(l, 1000);
	}
	pthread_mutex_unlock(&l->lock);
	rc = gdbstub_new(&g, &live_ops, l, 0);
	if (rc) {
		vcr_log("gdbstub: %s", strerror(-rc));
		lv_detach(l, false);
	} else {
		rc = gdbstub_serve_fd(g, fd);
		if (rc)
			vcr_log("gdbstub: connection: %s", strerror(-rc));
		vcr_log("gdbstub: gdb session ended");
	}
	gdbstub_free(g);
	return NULL;
}

int gdbstub_live_start(struct gdbstub_live **out, struct vmm *vm, const char *addr,
		       struct vcr_err *err)
{
	struct gdbstub_live *l = calloc(1, sizeof(*l));
	int rc;

	*out = NULL;
	if (!l)
		return vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
	l->vm = vm;
	l->n = vmm_nvcpus(vm);
	l->lfd = l->fd = l->efd = -1;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->cond, NULL);
	l->vc = calloc(l->n ? l->n : 1, sizeof(*l->vc));
	if (!l->vc) {
		rc = vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
		goto fail;
	}
	l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->efd < 0) {
		rc = vcr_err_set(err, -errno, UINT64_MAX, "eventfd: %s", strerror(errno));
		goto fail;
	}
	l->int3_works = probe_int3();
	int caps = ioctl(vmm_vm_fd(vm), KVM_CHECK_EXTENSION, KVM_CAP_SET_GUEST_DEBUG2);
	l->dbg_caps = caps > 0 ? (uint32_t)caps : 0;
	vcr_log("gdbstub: software breakpoints use %s; single steps %s",
		l->int3_works ? "int3 (probe: int3 reaches the VMM)"
			      : "debug registers, then single-stepping (probe: int3 does not "
				"reach the VMM on this host)",
		(l->dbg_caps & KVM_GUESTDBG_BLOCKIRQ) ? "block interrupts" : "may see interrupts");
	l->stopping = true;
	l->stop.signal = 5;
	snprintf(l->addr, sizeof(l->addr), "%s", addr);
	rc = gdbstub_listen(addr, &l->lfd, err);
	if (rc)
		goto fail;
	vmm_set_debug_handler(vm, live_handler, l);
	rc = pthread_create(&l->thread, NULL, server_main, l);
	if (rc) {
		vmm_set_debug_handler(vm, NULL, NULL);
		rc = vcr_err_set(err, -rc, UINT64_MAX, "cannot start the gdb thread");
		goto fail;
	}
	l->thread_started = true;
	*out = l;
	return 0;
fail:
	if (l->lfd >= 0)
		close(l->lfd);
	if (l->efd >= 0)
		close(l->efd);
	free(l->vc);
	free(l);
	return rc;
}

void gdbstub_live_exited(struct gdbstub_live *l, int code)
{
	if (!l)
		return;
	pthread_mutex_lock(&l->lock);
	l->exit_code = code;
	pthread_mutex_unlock(&l->lock);
}

void gdbstub_live_stop(struct gdbstub_live *l)
{
	if (!l)
		return;
	pthread_mutex_lock(&l->lock);
	l->ended = true;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
	notify(l);
	if (l->thread_started) {
		/* A gdb waiting for a stop gets W00 through the eventfd; one that
		 * has control, or no gdb at all, is cut off. */
		struct timespec ts = deadline_ms(2000);
		if (pthread_timedjoin_np(l->thread, NULL, &ts)) {
			pthread_mutex_lock(&l->lock);
			if (l->fd >= 0)
				shutdown(l->fd, SHUT_RDWR);
			pthread_mutex_unlock(&l->lock);
			shutdown(l->lfd, SHUT_RDWR);
			pthread_join(l->thread, NULL);
		}
	}
	vmm_set_debug_handler(l->vm, NULL, NULL);
	if (l->fd >= 0)
		close(l->fd);
	if (l->lfd >= 0)
		close(l->lfd);
	close(l->efd);
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->cond);
	free(l->vc);
	free(l);
}
