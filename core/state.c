/* core/state.c: vCPU state snapshots and exit decoding (see state.h). */
#include "core/state.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

size_t vcr_class_offset(enum vcr_class c)
{
	switch (c) {
	case VCR_CLASS_REGS: return offsetof(struct vcr_vcpu_state, regs);
	case VCR_CLASS_SREGS: return offsetof(struct vcr_vcpu_state, sregs);
	case VCR_CLASS_EVENTS: return offsetof(struct vcr_vcpu_state, events);
	default: return 0;
	}
}

size_t vcr_class_size(enum vcr_class c)
{
	switch (c) {
	case VCR_CLASS_REGS: return sizeof(struct kvm_regs);
	case VCR_CLASS_SREGS: return sizeof(struct kvm_sregs);
	case VCR_CLASS_EVENTS: return sizeof(struct kvm_vcpu_events);
	default: return 0;
	}
}

void vcr_state_copy(struct vcr_vcpu_state *dst, const struct vcr_vcpu_state *src,
		    unsigned mask)
{
	if (mask & VCR_CLASS_REGS)
		dst->regs = src->regs;
	if (mask & VCR_CLASS_SREGS)
		dst->sregs = src->sregs;
	if (mask & VCR_CLASS_EVENTS)
		dst->events = src->events;
}

static void seg_normalize(struct kvm_segment *s)
{
	s->padding = 0;
}

void vcr_state_normalize(struct vcr_vcpu_state *st)
{
	struct kvm_sregs *s = &st->sregs;

	seg_normalize(&s->cs); seg_normalize(&s->ds); seg_normalize(&s->es);
	seg_normalize(&s->fs); seg_normalize(&s->gs); seg_normalize(&s->ss);
	seg_normalize(&s->tr); seg_normalize(&s->ldt);
	memset(s->gdt.padding, 0, sizeof(s->gdt.padding));
	memset(s->idt.padding, 0, sizeof(s->idt.padding));

	struct kvm_vcpu_events *e = &st->events;
	e->nmi.pad = 0;
	memset(e->reserved, 0, sizeof(e->reserved));
	/* Implicit padding before exception_payload (after has_payload). */
	size_t end = offsetof(struct kvm_vcpu_events, exception_has_payload) + 1;
	memset((uint8_t *)e + end, 0, offsetof(struct kvm_vcpu_events, exception_payload) - end);
}

unsigned vcr_state_diff_mask(const struct vcr_vcpu_state *a,
			     const struct vcr_vcpu_state *b)
{
	unsigned m = 0;
	if (memcmp(&a->regs, &b->regs, sizeof(a->regs)))
		m |= VCR_CLASS_REGS;
	if (memcmp(&a->sregs, &b->sregs, sizeof(a->sregs)))
		m |= VCR_CLASS_SREGS;
	if (memcmp(&a->events, &b->events, sizeof(a->events)))
		m |= VCR_CLASS_EVENTS;
	return m;
}

int vcr_exit_from_run(struct vcr_exit *e, const struct kvm_run *run, size_t run_size)
{
	e->reason = run->exit_reason;
	e->data_len = 0;
	memset(&e->u, 0, sizeof(e->u));

	switch (run->exit_reason) {
	case KVM_EXIT_IO: {
		e->u.io.direction = run->io.direction;
		e->u.io.size = run->io.size;
		e->u.io.port = run->io.port;
		e->u.io.count = run->io.count;
		if (run->io.direction != KVM_EXIT_IO_OUT)
			break;
		uint64_t len = (uint64_t)run->io.size * run->io.count;
		if (run->io.data_offset > run_size || len > run_size - run->io.data_offset ||
		    len > VCR_EXIT_DATA_MAX)
			return -EINVAL;
		memcpy(e->data, (const uint8_t *)run + run->io.data_offset, len);
		e->data_len = (uint32_t)len;
		break;
	}
	case KVM_EXIT_MMIO:
		e->u.mmio.phys_addr = run->mmio.phys_addr;
		e->u.mmio.len = run->mmio.len;
		e->u.mmio.is_write = run->mmio.is_write;
		if (run->mmio.len > 8)
			return -EINVAL;
		if (run->mmio.is_write) {
			memcpy(e->data, run->mmio.data, run->mmio.len);
			e->data_len = run->mmio.len;
		}
		break;
	case KVM_EXIT_DEBUG:
		e->u.debug.exception = run->debug.arch.exception;
		e->u.debug.pc = run->debug.arch.pc;
		e->u.debug.dr6 = run->debug.arch.dr6;
		e->u.debug.dr7 = run->debug.arch.dr7;
		break;
	case KVM_EXIT_FAIL_ENTRY:
		e->u.fail_entry.hardware_entry_failure_reason =
			run->fail_entry.hardware_entry_failure_reason;
		e->u.fail_entry.cpu = run->fail_entry.cpu;
		break;
	case KVM_EXIT_INTERNAL_ERROR: {
		uint32_t n = run->internal.ndata;
		e->u.internal.suberror = run->internal.suberror;
		e->u.internal.ndata = n > 16 ? 16 : n;
		memcpy(e->u.internal.data, run->internal.data,
		       e->u.internal.ndata * sizeof(uint64_t));
		break;
	}
	case KVM_EXIT_SYSTEM_EVENT: {
		uint32_t n = run->system_event.ndata;
		e->u.system_event.type = run->system_event.type;
		e->u.system_event.ndata = n > 16 ? 16 : n;
		memcpy(e->u.system_event.data, run->system_event.data,
		       e->u.system_event.ndata * sizeof(uint64_t));
		break;
	}
	case KVM_EXIT_HYPERCALL:
		e->u.hypercall.nr = run->hypercall.nr;
		memcpy(e->u.hypercall.args, run->hypercall.args, sizeof(e->u.hypercall.args));
		e->u.hypercall.ret = run->hypercall.ret;
		e->u.hypercall.longmode = run->hypercall.longmode;
		break;
	case KVM_EXIT_UNKNOWN:
		e->u.unknown.hardware_exit_reason = run->hw.hardware_exit_reason;
		break;
	default:
		break;
	}
	return 0;
}

static const char *const reason_names[] = {
	[KVM_EXIT_UNKNOWN] = "UNKNOWN",
	[KVM_EXIT_EXCEPTION] = "EXCEPTION",
	[KVM_EXIT_IO] = "IO",
	[KVM_EXIT_HYPERCALL] = "HYPERCALL",
	[KVM_EXIT_DEBUG] = "DEBUG",
	[KVM_EXIT_HLT] = "HLT",
	[KVM_EXIT_MMIO] = "MMIO",
	[KVM_EXIT_IRQ_WINDOW_OPEN] = "IRQ_WINDOW_OPEN",
	[KVM_EXIT_SHUTDOWN] = "SHUTDOWN",
	[KVM_EXIT_FAIL_ENTRY] = "FAIL_ENTRY",
	[KVM_EXIT_INTR] = "INTR",
	[KVM_EXIT_SET_TPR] = "SET_TPR",
	[KVM_EXIT_TPR_ACCESS] = "TPR_ACCESS",
	[KVM_EXIT_NMI] = "NMI",
	[KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR",
	[KVM_EXIT_OSI] = "OSI",
	[KVM_EXIT_PAPR_HCALL] = "PAPR_HCALL",
	[KVM_EXIT_WATCHDOG] = "WATCHDOG",
	[KVM_EXIT_EPR] = "EPR",
	[KVM_EXIT_SYSTEM_EVENT] = "SYSTEM_EVENT",
	[KVM_EXIT_IOAPIC_EOI] = "IOAPIC_EOI",
	[KVM_EXIT_HYPERV] = "HYPERV",
	[KVM_EXIT_X86_RDMSR] = "X86_RDMSR",
	[KVM_EXIT_X86_WRMSR] = "X86_WRMSR",
	[KVM_EXIT_DIRTY_RING_FULL] = "DIRTY_RING_FULL",
	[KVM_EXIT_X86_BUS_LOCK] = "X86_BUS_LOCK",
	[KVM_EXIT_XEN] = "XEN",
	[KVM_EXIT_NOTIFY] = "NOTIFY",
};

const char *vcr_exit_reason_name(uint32_t reason)
{
	if (reason < sizeof(reason_names) / sizeof(reason_names[0]))
		return reason_names[reason];
	return NULL;
}

static int format_data(char *buf, size_t len, const uint8_t *d, uint32_t n)
{
	int w = 0;
	uint32_t shown = n > 16 ? 16 : n;
	w += snprintf(buf, len, " data=");
	for (uint32_t i = 0; i < shown; i++)
		w += snprintf(buf + ((size_t)w < len ? (size_t)w : len),
			      (size_t)w < len ? len - (size_t)w : 0, "%02x", d[i]);
	if (shown < n)
		w += snprintf(buf + ((size_t)w < len ? (size_t)w : len),
			      (size_t)w < len ? len - (size_t)w : 0, "...(%u bytes)", n);
	return w;
}

int vcr_exit_format(const struct vcr_exit *e, char *buf, size_t len)
{
	int w;
	switch (e->reason) {
	case KVM_EXIT_IO:
		w = snprintf(buf, len, "%s port=0x%x size=%u count=%u",
			     e->u.io.direction == KVM_EXIT_IO_OUT ? "out" : "in",
			     e->u.io.port, e->u.io.size, e->u.io.count);
		break;
	case KVM_EXIT_MMIO:
		w = snprintf(buf, len, "%s addr=0x%llx len=%u",
			     e->u.mmio.is_write ? "write" : "read",
			     (unsigned long long)e->u.mmio.phys_addr, e->u.mmio.len);
		break;
	case KVM_EXIT_DEBUG:
		return snprintf(buf, len, "exception=%u pc=0x%llx dr6=0x%llx dr7=0x%llx",
				e->u.debug.exception, (unsigned long long)e->u.debug.pc,
				(unsigned long long)e->u.debug.dr6,
				(unsigned long long)e->u.debug.dr7);
	case KVM_EXIT_FAIL_ENTRY:
		return snprintf(buf, len, "hardware_entry_failure_reason=0x%llx cpu=%u",
				(unsigned long long)e->u.fail_entry.hardware_entry_failure_reason,
				e->u.fail_entry.cpu);
	case KVM_EXIT_INTERNAL_ERROR:
		w = snprintf(buf, len, "suberror=%u", e->u.internal.suberror);
		for (uint32_t i = 0; i < e->u.internal.ndata && i < 16; i++)
			w += snprintf(buf + ((size_t)w < len ? (size_t)w : len),
				      (size_t)w < len ? len - (size_t)w : 0, " data[%u]=0x%llx",
				      i, (unsigned long long)e->u.internal.data[i]);
		return w;
	case KVM_EXIT_SYSTEM_EVENT:
		return snprintf(buf, len, "type=%u ndata=%u", e->u.system_event.type,
				e->u.system_event.ndata);
	case KVM_EXIT_HYPERCALL:
		return snprintf(buf, len, "nr=0x%llx args=0x%llx,0x%llx,0x%llx",
				(unsigned long long)e->u.hypercall.nr,
				(unsigned long long)e->u.hypercall.args[0],
				(unsigned long long)e->u.hypercall.args[1],
				(unsigned long long)e->u.hypercall.args[2]);
	case KVM_EXIT_UNKNOWN:
		return snprintf(buf, len, "hardware_exit_reason=0x%llx",
				(unsigned long long)e->u.unknown.hardware_exit_reason);
	default:
		if (len)
			buf[0] = 0;
		return 0;
	}
	if (e->data_len)
		w += format_data(buf + ((size_t)w < len ? (size_t)w : len),
				 (size_t)w < len ? len - (size_t)w : 0, e->data, e->data_len);
	return w;
}
