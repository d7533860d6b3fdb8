/*
 * vmm/probe.c: throw-away VMs that ask the host KVM how it behaves (see
 * vmm.h, "probes"). One vCPU in 64-bit mode on the loaders' own GDT and
 * identity page tables (boot.c), as the guests that matter run: a host
 * may treat other modes differently (PVM runs only 64-bit guests natively).
 * Every IDT vector leads to a "hlt" at VMM_PROBE_HLT: an exception (or
 * interrupt) the host delivers to the guest instead of to us ends in
 * KVM_EXIT_HLT at VMM_PROBE_HLT + 1, which callers tell apart from the exit
 * they look for, and the vCPU stays usable for the next probe (a triple
 * fault would leave it reset on some hosts).
 */
#include <errno.h>
#include <string.h>

#include "vmm/boot.h"

int vmm_probe_open(struct vmm **out, const void *code, size_t len)
{
	struct vmm *vm = NULL;
	struct vcr_err err;
	struct vcr_mem_region r = { 0, VMM_PROBE_MEM, 0 };
	int rc;

	*out = NULL;
	if (len > VMM_PROBE_DATA - VMM_PROBE_CODE)
		return -EINVAL;
	if ((rc = vmm_open(&vm, &err)) || (rc = vmm_mem_add(vm, &r, &err)) ||
	    (rc = vmm_cpuid_set(vm, NULL, 0, &err)) || (rc = vmm_vcpus_create(vm, 1, &err)) ||
	    (rc = vmm_mem_write(vm, VMM_PROBE_CODE, code, len)) ||
	    (rc = vmm_boot_write_tables(vm, VMM_MODE_LONG64)) ||
	    (rc = vmm_boot_set_state(vm, VMM_MODE_LONG64, VMM_PROBE_CODE, 0, 0)))
		goto fail;
	struct vcr_vcpu_state st;
	if ((rc = vmm_vcpu_get_state(vm, 0, &st)))
		goto fail;
	/* 64-bit interrupt gates (type 0xe, present) on the code segment. */
	uint8_t hlt = 0xf4, idt[256 * 16] = { 0 };
	for (size_t i = 0; i < 256; i++) {
		uint8_t *g = idt + 16 * i;
		g[0] = VMM_PROBE_HLT & 0xff;
		g[1] = VMM_PROBE_HLT >> 8 & 0xff;
		g[2] = st.sregs.cs.selector & 0xff;
		g[3] = st.sregs.cs.selector >> 8;
		g[5] = 0x8e;
		g[6] = VMM_PROBE_HLT >> 16 & 0xff;
		g[7] = VMM_PROBE_HLT >> 24 & 0xff;
	}
	st.sregs.idt.base = VMM_PROBE_IDT;
	st.sregs.idt.limit = sizeof(idt) - 1;
	if ((rc = vmm_mem_write(vm, VMM_PROBE_IDT, idt, sizeof(idt))) ||
	    (rc = vmm_mem_write(vm, VMM_PROBE_HLT, &hlt, 1)) ||
	    (rc = vmm_vcpu_set_state(vm, 0, &st, VCR_CLASS_REGS | VCR_CLASS_SREGS)))
		goto fail;
	*out = vm;
	return 0;
fail:
	vmm_destroy(vm);
	return rc ? rc : -EIO;
}
