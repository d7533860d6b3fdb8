/*
 * gdbstub/live_debug.c: the live target's debug mechanisms (see
 * live_int.h): which KVM guest-debug feature serves each breakpoint and
 * watchpoint gdb sets, the per-vCPU guest debug settings that follow, and
 * what a KVM_EXIT_DEBUG means for gdb.
 *
 * Probes. At start one throw-away 64-bit VM (vmm_probe_open) checks each
 * mechanism: int3 with USE_SW_BP, DR0 as an execute breakpoint, as a write
 * and as an access watchpoint, a single step, and BLOCKIRQ. Hosts differ:
 * int3 does not reach the VMM under QEMU TCG's nested SVM (NESTED-KVM.md),
 * nor on PVM, whose data breakpoints never fire either (docs/gdb.md, table
 * of hosts). Nothing that failed its probe is ever relied on.
 *
 * Software breakpoints (Z0):
 *   int3    probe passed: 0xcc written at the translated address at insert,
 *           the original byte put back at remove; an address that does not
 *           translate yet (not mapped) takes another path, so nothing is
 *           ever written to a wrong or absent page;
 *   dr      a free debug register (execute breakpoints work);
 *   step    otherwise: every vCPU single-steps while gdb continues and stops
 *           when rip equals a breakpoint (slow, exact).
 * Z1 hardware breakpoints use DR0-3, or the step path where execute DRs do
 * not fire (never int3). Z2 write and Z4 access watchpoints use DR0-3
 * (lengths 1/2/4/8, aligned); where data DRs do not fire, Z2 is served by
 * stepping and comparing the watched bytes after every instruction, and Z4
 * is refused (empty reply: gdb uses its own software watchpoints), as is Z2
 * where single steps fail too. x86 cannot watch reads alone: Z3 is refused.
 * `monitor breakpoints` and the log lines at start say which path serves
 * what.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/ioctl.h>

#include "core/x86_mmu.h"
#include "gdbstub/live_int.h"

/* ------------------------------------------------------------ probes */

/* One throw-away 64-bit VM (vmm_probe_open) holds a snippet per probe;
 * each probe points rip at its snippet, sets guest debug and runs once. A
 * mechanism that works ends in KVM_EXIT_DEBUG at the expected place; one
 * that does not lets the snippet run on to its "hlt", or the exception goes
 * through the guest's IDT to another "hlt" (KVM_EXIT_HLT either way). */
#define PB_INT3 0x00	/* int3; hlt */
#define PB_NOPS 0x10	/* nop; nop; hlt: execute DR0 at +1, single step */
#define PB_STORE 0x20	/* mov %al,VMM_PROBE_DATA; hlt */
#define PB_LOAD 0x30	/* mov VMM_PROBE_DATA,%al; hlt */
#define PB_ABS32(a) 0x04, 0x25, (a) & 0xff, (a) >> 8 & 0xff, (a) >> 16 & 0xff, (a) >> 24
static const uint8_t probe_code[] = {
	[PB_INT3] = 0xcc, 0xf4,
	[PB_NOPS] = 0x90, 0x90, 0xf4,
	[PB_STORE] = 0x88, PB_ABS32(VMM_PROBE_DATA), 0xf4,
	[PB_LOAD] = 0x8a, PB_ABS32(VMM_PROBE_DATA), 0xf4,
};

/* Run the snippet at `at` once with dbg; the exit, or NULL on failure.
 * rflags: the guest's (IF for the BLOCKIRQ probe). */
static const struct kvm_run *probe_run(struct vmm *vm, unsigned at, uint64_t rflags,
				       const struct kvm_guest_debug *dbg, uint64_t *rip)
{
	struct vcr_vcpu_state st;

	if (vmm_vcpu_get_state(vm, 0, &st))
		return NULL;
	st.regs.rip = VMM_PROBE_CODE + at;
	st.regs.rflags = rflags;
	if (vmm_vcpu_set_state(vm, 0, &st, VCR_CLASS_REGS) || vmm_vcpu_set_guest_debug(vm, 0, dbg) ||
	    vmm_vcpu_run_once(vm, 0) || vmm_vcpu_get_state(vm, 0, &st))
		return NULL;
	*rip = st.regs.rip;
	return vmm_vcpu_run_page(vm, 0);
}

/* DR0 set up as `rw` (0 execute, 1 write, 3 access), one byte, at addr:
 * does the snippet at `at` stop with DR6.B0? */
static bool probe_dr(struct vmm *vm, unsigned at, uint64_t addr, unsigned rw)
{
	struct kvm_guest_debug dbg = { .control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP };
	uint64_t rip;

	dbg.arch.debugreg[0] = addr;
	dbg.arch.debugreg[7] = 1 | (1ull << 10) | ((uint64_t)rw << 16);
	const struct kvm_run *run = probe_run(vm, at, 2, &dbg, &rip);
	return run && run->exit_reason == KVM_EXIT_DEBUG && run->debug.arch.exception == 1 &&
	       (run->debug.arch.dr6 & 1);
}

static void probe_all(struct gdbstub_live *l)
{
	struct live_caps *c = &l->caps;
	struct vmm *vm;
	uint64_t rip;

	memset(c, 0, sizeof(*c));
	int caps = ioctl(vmm_vm_fd(l->vm), KVM_CHECK_EXTENSION, KVM_CAP_SET_GUEST_DEBUG2);
	l->dbg_caps = caps > 0 ? (uint32_t)caps : 0;
	if (vmm_probe_open(&vm, probe_code, sizeof(probe_code)))
		return;	/* nothing works as far as we know: every path falls back */

	struct kvm_guest_debug dbg = { .control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP };
	const struct kvm_run *run = probe_run(vm, PB_INT3, 2, &dbg, &rip);
	c->int3 = run && run->exit_reason == KVM_EXIT_DEBUG && run->debug.arch.exception == 3;

	c->dr_exec = probe_dr(vm, PB_NOPS, VMM_PROBE_CODE + PB_NOPS + 1, 0);
	c->dr_write = probe_dr(vm, PB_STORE, VMM_PROBE_DATA, 1);
	c->dr_access = probe_dr(vm, PB_LOAD, VMM_PROBE_DATA, 3);

	dbg = (struct kvm_guest_debug){ .control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP };
	run = probe_run(vm, PB_NOPS, 2, &dbg, &rip);
	/* A step stops before the snippet's hlt; where exactly differs (QEMU
	 * TCG's nested SVM reports it one instruction later than hardware). */
	c->step = run && run->exit_reason == KVM_EXIT_DEBUG && run->debug.arch.exception == 1 &&
		  rip <= VMM_PROBE_CODE + PB_NOPS + 2;

	/* BLOCKIRQ: an interrupt pending with IF set; a step that blocks it
	 * stops on the next nop, one that does not stops in (or halts at) the
	 * handler. */
	if (c->step && (l->dbg_caps & KVM_GUESTDBG_BLOCKIRQ)) {
		struct kvm_interrupt irq = { .irq = 0x20 };
		if (ioctl(vmm_vcpu_fd(vm, 0), KVM_INTERRUPT, &irq) == 0) {
			dbg.control |= KVM_GUESTDBG_BLOCKIRQ;
			run = probe_run(vm, PB_NOPS, 2 | (1u << 9), &dbg, &rip);
			c->blockirq = run && run->exit_reason == KVM_EXIT_DEBUG &&
				      rip <= VMM_PROBE_CODE + PB_NOPS + 2;
		}
	}
	vmm_destroy(vm);
}

/* How each request is served, from the probes (docs/gdb.md, "hosts"). */
static const char *sw_desc(const struct gdbstub_live *l)
{
	if (l->caps.int3)
		return "int3 (probe: int3 reaches the VMM)";
	if (l->caps.dr_exec)
		return "debug registers, then single-stepping (probe: int3 does not reach the VMM)";
	return "single-stepping (probe: neither int3 nor execute debug registers reach the VMM)";
}

static const char *hw_desc(const struct gdbstub_live *l)
{
	return l->caps.dr_exec ? "debug registers DR0-3"
			       : "single-stepping (probe: execute debug registers do not fire)";
}

static const char *watch_desc(const struct gdbstub_live *l)
{
	if (l->caps.dr_write)
		return "debug registers DR0-3";
	if (l->caps.step)
		return "single-stepping, comparing the watched bytes after each instruction "
		       "(probe: data debug registers do not fire; the guest runs one exit per "
		       "instruction while a watchpoint is set)";
	return "refused (probe: neither data debug registers nor single steps work; gdb "
	       "uses its own software watchpoints)";
}

static const char *awatch_desc(const struct gdbstub_live *l)
{
	return l->caps.dr_access ? "debug registers DR0-3"
				 : "refused (probe: access debug registers do not fire; a read "
				   "cannot be seen by comparing bytes)";
}

static const char *step_desc(const struct gdbstub_live *l)
{
	if (!l->caps.step)
		return "does not work (probe: no debug exit after one instruction)";
	if (l->caps.blockirq)
		return "KVM_GUESTDBG_BLOCKIRQ (no interrupt handlers; probe passed)";
	return (l->dbg_caps & KVM_GUESTDBG_BLOCKIRQ)
		       ? "plain (KVM lists BLOCKIRQ but the probe saw an interrupt taken)"
		       : "plain (KVM lacks BLOCKIRQ)";
}

void gdbstub_lv_debug_init(struct gdbstub_live *l)
{
	probe_all(l);
	vcr_log("gdbstub: software breakpoints: %s", sw_desc(l));
	vcr_log("gdbstub: hardware breakpoints: %s", hw_desc(l));
	vcr_log("gdbstub: write watchpoints: %s", watch_desc(l));
	vcr_log("gdbstub: access watchpoints: %s", awatch_desc(l));
	vcr_log("gdbstub: single steps: %s", step_desc(l));
}

/* ------------------------------------------------------------ debug registers */

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

void gdbstub_lv_compute_debug(struct gdbstub_live *l)
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

bool gdbstub_lv_have_step_bps(struct gdbstub_live *l)
{
	for (unsigned i = 0; i < l->nsw; i++)
		if (l->sw[i].path == SW_STEP)
			return true;
	return l->nsww > 0;
}

/* A stepped write watchpoint whose bytes changed: stop there (and take the
 * new bytes as the reference for the next change). */
static bool step_watch_hit(struct gdbstub_live *l, struct gdbstub_stop *s)
{
	for (unsigned i = 0; i < l->nsww; i++) {
		struct step_watch *w = &l->sww[i];
		uint8_t now[8];
		if (vmm_mem_read(l->vm, w->gpa, now, w->len) || !memcmp(now, w->old, w->len))
			continue;
		memcpy(w->old, now, w->len);
		s->reason = GDBSTUB_STOP_WATCH;
		s->addr = w->addr;
		return true;
	}
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

/* ------------------------------------------------------------ debug exits */

bool gdbstub_lv_debug_exit(struct gdbstub_live *l, unsigned v, const struct kvm_run *run,
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
	if (a->dr6 & (1ull << 14) || l->vc[v].step != STEP_NONE) {	/* DR6.BS: a step */
		/* A watched store shows after its instruction, as a data
		 * breakpoint would: the same step may also be gdb's own. */
		if (step_watch_hit(l, s))
			return true;
		if (l->vc[v].step == STEP_EMUL) {
			uint64_t rip = run->s.regs.regs.rip;
			for (unsigned i = 0; i < l->nsw; i++)
				if (l->sw[i].path == SW_STEP && l->sw[i].addr == rip) {
					s->reason = l->sw[i].hw ? GDBSTUB_STOP_HWBREAK
								: GDBSTUB_STOP_SWBREAK;
					return true;
				}
			return false;	/* keep stepping */
		}
		return true;
	}
	return true;
}

/* ------------------------------------------------------------ breakpoints */

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

/* A Z0, or a Z1 (hw) on a host whose execute debug registers do not fire:
 * int3 where it works and the address translates (never for a Z1: gdb
 * asked not to write memory), else a debug register, else stepping. */
static int sw_insert(struct gdbstub_live *l, uint64_t addr, bool hw)
{
	struct sw_bp *b;

	for (unsigned i = 0; i < l->nsw; i++)
		if (l->sw[i].addr == addr && l->sw[i].hw == hw)
			return 0;
	if (l->nsw == LIVE_MAX_SW)
		return -ENOSPC;
	b = &l->sw[l->nsw];
	memset(b, 0, sizeof(*b));
	b->addr = addr;
	b->slot = -1;
	b->hw = hw;
	if (!hw && l->caps.int3 && translate_va(l, addr, &b->gpa) == 0 &&
	    vmm_mem_read(l->vm, b->gpa, &b->orig, 1) == 0) {
		uint8_t cc = 0xcc;
		if (vmm_mem_write(l->vm, b->gpa, &cc, 1) == 0) {
			b->path = SW_INT3;
			l->nsw++;
			return 0;
		}
	}
	int s = l->caps.dr_exec ? free_slot(l) : -1;
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

static int sw_remove(struct gdbstub_live *l, uint64_t addr, bool hw)
{
	for (unsigned i = 0; i < l->nsw; i++) {
		struct sw_bp *b = &l->sw[i];
		if (b->addr != addr || b->hw != hw)
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

/* Z1, Z2, Z4: one debug register per (type, addr, len); inserting one
 * that is there or removing one that is not is a success, as gdb expects. */
static int dr_update(struct gdbstub_live *l, enum gdbstub_bp_type type, uint64_t addr,
		     unsigned kind, bool insert)
{
	unsigned len = type == GDBSTUB_BP_HW ? 1 : kind;

	if (type != GDBSTUB_BP_HW &&
	    ((len != 1 && len != 2 && len != 4 && len != 8) || (addr & (len - 1))))
		return -EINVAL;	/* DRs watch 1/2/4/8 aligned bytes */
	for (int i = 0; i < 4; i++) {
		struct dr_slot *d = &l->dr[i];
		if (d->used && d->type == type && d->addr == addr && d->len == len) {
			if (!insert)
				d->used = false;
			return 0;
		}
	}
	if (!insert)
		return 0;
	int s = free_slot(l);
	if (s < 0)
		return -ENOSPC;
	l->dr[s] = (struct dr_slot){ .used = true, .type = type, .addr = addr, .len = len };
	return 0;
}

/* Z2 on a host without data debug registers: remember the bytes, compare
 * them after every step. */
static int sww_update(struct gdbstub_live *l, uint64_t addr, unsigned len, bool insert)
{
	for (unsigned i = 0; i < l->nsww; i++)
		if (l->sww[i].addr == addr && l->sww[i].len == len) {
			if (!insert)
				l->sww[i] = l->sww[--l->nsww];
			return 0;
		}
	if (!insert)
		return 0;
	if (len < 1 || len > 8)
		return -EINVAL;
	if (l->nsww == VCR_ARRAY_SIZE(l->sww))
		return -ENOSPC;
	struct step_watch *w = &l->sww[l->nsww];
	uint64_t gpa;
	/* The whole range in one page, so that one translation covers it. */
	if ((addr & 0xfff) + len > 0x1000 || translate_va(l, addr, &gpa) ||
	    vmm_mem_read(l->vm, gpa, w->old, len))
		return -EFAULT;
	w->addr = addr;
	w->gpa = gpa;
	w->len = len;
	l->nsww++;
	return 0;
}

int gdbstub_lv_breakpoint(void *t, enum gdbstub_bp_type type, uint64_t addr, unsigned kind,
			  bool insert)
{
	struct gdbstub_live *l = t;
	int rc;

	if (type == GDBSTUB_WP_READ)
		return -EOPNOTSUPP;	/* x86 debug registers cannot watch reads alone */
	/* Refused: gdb falls back to its own software watchpoints. */
	if (type == GDBSTUB_WP_ACCESS && !l->caps.dr_access)
		return -EOPNOTSUPP;
	if (type == GDBSTUB_WP_WRITE && !l->caps.dr_write && !l->caps.step)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&l->lock);
	if (type == GDBSTUB_BP_SW || (type == GDBSTUB_BP_HW && !l->caps.dr_exec))
		rc = insert ? sw_insert(l, addr, type == GDBSTUB_BP_HW)
			    : sw_remove(l, addr, type == GDBSTUB_BP_HW);
	else if (type == GDBSTUB_WP_WRITE && !l->caps.dr_write)
		rc = sww_update(l, addr, kind, insert);
	else
		rc = dr_update(l, type, addr, kind, insert);
	gdbstub_lv_compute_debug(l);
	pthread_mutex_unlock(&l->lock);
	return rc;
}

int gdbstub_lv_monitor(void *t, const char *cmd, struct gdbstub_out *o)
{
	struct gdbstub_live *l = t;

	if (strcmp(cmd, "breakpoints"))
		return 0;
	pthread_mutex_lock(&l->lock);
	gdbstub_printf(o, "software breakpoints: %s\n", sw_desc(l));
	gdbstub_printf(o, "hardware breakpoints: %s\n", hw_desc(l));
	gdbstub_printf(o, "write watchpoints: %s\n", watch_desc(l));
	gdbstub_printf(o, "access watchpoints: %s\n", awatch_desc(l));
	gdbstub_printf(o, "single step: %s\n", step_desc(l));
	for (unsigned i = 0; i < l->nsw; i++)
		gdbstub_printf(o, "  %s 0x%" PRIx64 " via %s\n", l->sw[i].hw ? "hbreak" : "break",
			       l->sw[i].addr, path_name(l->sw[i].path));
	for (unsigned i = 0; i < l->nsww; i++)
		gdbstub_printf(o, "  watch 0x%" PRIx64 " len %u via single-stepping\n",
			       l->sww[i].addr, l->sww[i].len);
	for (int i = 0; i < 4; i++)
		if (l->dr[i].used && l->dr[i].type != GDBSTUB_BP_SW)
			gdbstub_printf(o, "  DR%d: %s 0x%" PRIx64 " len %u\n", i,
				       l->dr[i].type == GDBSTUB_BP_HW ? "hbreak"
				       : l->dr[i].type == GDBSTUB_WP_WRITE ? "watch" : "awatch",
				       l->dr[i].addr, l->dr[i].len);
	pthread_mutex_unlock(&l->lock);
	return 1;
}

void gdbstub_lv_monitor_help(void *t, struct gdbstub_out *o)
{
	(void)t;
	gdbstub_printf(o, "live target:\n"
			  "  breakpoints       how breakpoints are served (int3, debug registers, stepping)\n");
}

void gdbstub_lv_clear_bps(struct gdbstub_live *l)
{
	while (l->nsw)
		sw_remove(l, l->sw[0].addr, l->sw[0].hw);
	l->nsww = 0;
	memset(l->dr, 0, sizeof(l->dr));
}
