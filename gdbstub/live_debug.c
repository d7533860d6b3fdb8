/*
 * gdbstub/live_debug.c: the live target's debug mechanisms (see
 * live_int.h): which KVM guest-debug feature serves each breakpoint and
 * watchpoint gdb sets, the per-vCPU guest debug settings that follow, and
 * what a KVM_EXIT_DEBUG means for gdb.
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
#include <string.h>
#include <sys/ioctl.h>

#include "core/x86_mmu.h"
#include "gdbstub/live_int.h"

/* ------------------------------------------------------------ probes */

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

void gdbstub_lv_debug_init(struct gdbstub_live *l)
{
	l->int3_works = probe_int3();
	int caps = ioctl(vmm_vm_fd(l->vm), KVM_CHECK_EXTENSION, KVM_CAP_SET_GUEST_DEBUG2);
	l->dbg_caps = caps > 0 ? (uint32_t)caps : 0;
	vcr_log("gdbstub: software breakpoints use %s; single steps %s",
		l->int3_works ? "int3 (probe: int3 reaches the VMM)"
			      : "debug registers, then single-stepping (probe: int3 does not "
				"reach the VMM on this host)",
		(l->dbg_caps & KVM_GUESTDBG_BLOCKIRQ) ? "block interrupts" : "may see interrupts");
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

int gdbstub_lv_breakpoint(void *t, enum gdbstub_bp_type type, uint64_t addr, unsigned kind,
			  bool insert)
{
	struct gdbstub_live *l = t;
	int rc;

	if (type == GDBSTUB_WP_READ)
		return -EOPNOTSUPP;	/* x86 debug registers cannot watch reads alone */
	pthread_mutex_lock(&l->lock);
	if (type == GDBSTUB_BP_SW)
		rc = insert ? sw_insert(l, addr) : sw_remove(l, addr);
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

void gdbstub_lv_monitor_help(void *t, struct gdbstub_out *o)
{
	(void)t;
	gdbstub_printf(o, "live target:\n"
			  "  breakpoints       how breakpoints are served (int3, debug registers, stepping)\n");
}

void gdbstub_lv_clear_bps(struct gdbstub_live *l)
{
	while (l->nsw)
		sw_remove(l, l->sw[0].addr);
	memset(l->dr, 0, sizeof(l->dr));
}
