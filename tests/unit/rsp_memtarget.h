/*
 * rsp_memtarget.h: a small in-memory gdbstub target for the unit tests and
 * the fuzzer (header only). Two vCPUs: 0 in long mode with 4-level page
 * tables mapping [0, 2 MiB) with one 2 MiB page (memory ends at 1 MiB, so
 * [1 MiB, 2 MiB) translates but faults), 1 in real mode. Resuming is
 * synchronous: a step adds 1 to rip (subtracts when reverse), continue steps
 * until rip hits a breakpoint or 1000 steps passed. Four debug-register slots
 * shared by Z1/Z2/Z4 as on x86; Z3 is refused like on x86.
 */
#ifndef VCR_TESTS_RSP_MEMTARGET_H
#define VCR_TESTS_RSP_MEMTARGET_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/state.h"
#include "gdbstub/gdbstub.h"

#define MT_MEM (1u << 20)

struct memtarget {
	uint8_t *mem;
	struct vcr_vcpu_state st[2];
	uint64_t sw[16];
	unsigned nsw;
	struct { uint64_t addr; int type; bool used; } dr[4];
	unsigned resumes, detached, killed;
};

static unsigned mt_nthreads(void *t)
{
	(void)t;
	return 2;
}

static int mt_get_state(void *t, unsigned th, struct vcr_vcpu_state *st, unsigned *avail)
{
	struct memtarget *m = t;
	if (th >= 2)
		return -ESRCH;
	*st = m->st[th];
	*avail = VCR_CLASS_ALL;
	return 0;
}

static int mt_set_state(void *t, unsigned th, const struct vcr_vcpu_state *st, unsigned dirty)
{
	struct memtarget *m = t;
	if (th >= 2)
		return -ESRCH;
	vcr_state_copy(&m->st[th], st, dirty);
	return 0;
}

static int mt_read(void *t, uint64_t gpa, void *buf, size_t len)
{
	struct memtarget *m = t;
	if (gpa > MT_MEM || len > MT_MEM - gpa)
		return -EFAULT;
	memcpy(buf, m->mem + gpa, len);
	return 0;
}

static int mt_write(void *t, uint64_t gpa, const void *buf, size_t len)
{
	struct memtarget *m = t;
	if (gpa > MT_MEM || len > MT_MEM - gpa)
		return -EFAULT;
	memcpy(m->mem + gpa, buf, len);
	return 0;
}

static int mt_hit(struct memtarget *m, uint64_t rip, enum gdbstub_stop_reason *why)
{
	for (unsigned i = 0; i < m->nsw; i++)
		if (m->sw[i] == rip) {
			*why = GDBSTUB_STOP_SWBREAK;
			return 1;
		}
	for (unsigned i = 0; i < 4; i++)
		if (m->dr[i].used && m->dr[i].type == GDBSTUB_BP_HW && m->dr[i].addr == rip) {
			*why = GDBSTUB_STOP_HWBREAK;
			return 1;
		}
	return 0;
}

static int mt_resume(void *t, const struct gdbstub_resume *r, struct gdbstub_stop *stop)
{
	struct memtarget *m = t;
	unsigned th = r->thread < 2 ? r->thread : 0;
	struct kvm_regs *regs = &m->st[th].regs;

	m->resumes++;
	memset(stop, 0, sizeof(*stop));
	stop->signal = 5;
	stop->thread = th;
	for (int i = 0; i < 1000; i++) {
		regs->rip += r->reverse ? (uint64_t)-1 : 1;
		if (r->action == GDBSTUB_STEP)
			return 1;
		if (mt_hit(m, regs->rip, &stop->reason))
			return 1;
	}
	return 1;
}

static int mt_breakpoint(void *t, enum gdbstub_bp_type type, uint64_t addr, unsigned kind,
			 bool insert)
{
	struct memtarget *m = t;
	(void)kind;

	if (type == GDBSTUB_WP_READ)
		return -EOPNOTSUPP;
	if (type == GDBSTUB_BP_SW) {
		for (unsigned i = 0; i < m->nsw; i++)
			if (m->sw[i] == addr) {
				if (!insert)
					m->sw[i] = m->sw[--m->nsw];
				return 0;
			}
		if (!insert)
			return 0;
		if (m->nsw == 16)
			return -ENOSPC;
		m->sw[m->nsw++] = addr;
		return 0;
	}
	for (unsigned i = 0; i < 4; i++)
		if (m->dr[i].used && m->dr[i].addr == addr && m->dr[i].type == (int)type) {
			if (!insert)
				m->dr[i].used = false;
			return 0;
		}
	if (!insert)
		return 0;
	for (unsigned i = 0; i < 4; i++)
		if (!m->dr[i].used) {
			m->dr[i].used = true;
			m->dr[i].addr = addr;
			m->dr[i].type = (int)type;
			return 0;
		}
	return -ENOSPC;
}

static int mt_monitor(void *t, const char *cmd, struct gdbstub_out *o)
{
	struct memtarget *m = t;
	if (!strcmp(cmd, "resumes")) {
		gdbstub_printf(o, "resumes=%u\n", m->resumes);
		return 1;
	}
	return 0;
}

static void mt_detach(void *t, bool kill)
{
	struct memtarget *m = t;
	if (kill)
		m->killed++;
	else
		m->detached++;
}

static const struct gdbstub_target_ops mt_ops = {
	.nthreads = mt_nthreads,
	.get_state = mt_get_state,
	.set_state = mt_set_state,
	.read_phys = mt_read,
	.write_phys = mt_write,
	.resume = mt_resume,
	.breakpoint = mt_breakpoint,
	.monitor = mt_monitor,
	.detach = mt_detach,
};

static void mt_put64(struct memtarget *m, uint64_t gpa, uint64_t v)
{
	memcpy(m->mem + gpa, &v, 8);
}

/* 0 or -ENOMEM. */
static int mt_init(struct memtarget *m)
{
	memset(m, 0, sizeof(*m));
	m->mem = calloc(1, MT_MEM);
	if (!m->mem)
		return -ENOMEM;
	/* vCPU 0: long mode, cr3 = 0x1000 -> PDPT 0x2000 -> PD 0x3000 whose
	 * entry 0 is a 2 MiB page at 0. */
	mt_put64(m, 0x1000, 0x2000 | 3);
	mt_put64(m, 0x2000, 0x3000 | 3);
	mt_put64(m, 0x3000, 0x0 | 0x83);
	struct vcr_vcpu_state *s = &m->st[0];
	s->regs.rip = 0x10000;
	s->regs.rsp = 0x80000;
	s->regs.rax = 0x1122334455667788ull;
	s->regs.rflags = 0x202;
	s->sregs.cr0 = 0x80000011;
	s->sregs.cr3 = 0x1000;
	s->sregs.cr4 = 0x20;
	s->sregs.efer = 0x500;
	s->sregs.cs.l = 1;
	s->sregs.cs.present = 1;
	s->sregs.cs.selector = 8;
	s->sregs.fs.base = 0xfeedf00d;
	s->events.exception.pending = 1;
	s->events.exception.nr = 14;
	/* vCPU 1: real mode at f000:fff0. */
	s = &m->st[1];
	s->regs.rip = 0xfff0;
	s->regs.rflags = 2;
	s->sregs.cs.selector = 0xf000;
	s->sregs.cs.base = 0xffff0000;
	s->sregs.cr0 = 0x60000010;
	for (unsigned i = 0; i < 256; i++)
		m->mem[0x10000 + i] = (uint8_t)i;
	return 0;
}

static void mt_free(struct memtarget *m)
{
	free(m->mem);
	m->mem = NULL;
}

#endif
