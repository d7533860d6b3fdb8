/*
 * vmm/hyperv.c: KVM's Hyper-V emulation offered to the guest, as QEMU's
 * `-cpu host,hv-passthrough` offers it (docs/vmm.md, "Hyper-V
 * enlightenments"): `--cpuid host,hv-passthrough`.
 *
 * KVM emulates Hyper-V in the kernel: the reference time counter and TSC
 * page, the SynIC and its timers, the virtual processor index, the APIC
 * assist MSRs, PV TLB flush and IPI hypercalls. It does so for a vCPU whose
 * CPUID carries the Hyper-V interface signature ("Hv#1" in leaf 0x40000001)
 * and the features KVM_GET_SUPPORTED_HV_CPUID reports. So the whole state is
 * the CPUID table: vmm_hyperv_cpuid puts the Hyper-V leaves at 0x40000000
 * and moves KVM's own (its signature and PV features) to 0x40000100, where
 * both KVM and a Linux guest look for them next; vmm_hyperv_vcpu enables
 * the SynIC (KVM_CAP_HYPERV_SYNIC2) on a vCPU whose table has it, after
 * KVM_SET_CPUID2. The SynIC, its timers and the APIC parts need the
 * in-kernel LAPIC: the pc machine has them all, the bare machine the rest
 * (the reference counter and TSC page, the VP index, the hypercalls). A
 * replay builds its machine from the trace's CPUID table and gets the same.
 *
 * What KVM leaves to userspace (KVM_EXIT_HYPERV):
 *   - SYNIC: the guest wrote a SynIC MSR (control, event or message page).
 *     QEMU uses it to post its own devices' messages; vcr has no such
 *     device (no VMBus, no hyperv-testdev), so there is nothing to do.
 *   - HCALL: HvPostMessage or HvSignalEvent to a connection KVM does not
 *     know (no eventfd bound): vcr has no connection at all, and answers
 *     HV_STATUS_INVALID_CONNECTION_ID as QEMU does for an unknown one.
 *   - SYNDBG: the synthetic debugger's MSRs; its leaves (0x40000080-82) and
 *     feature bit are left out of the table, as QEMU leaves them out unless
 *     asked (hv-syndbg), so a guest does not use it.
 * vmm_hyperv_exit gives that answer in kvm_run right after KVM_RUN returns
 * (vmm_vcpu_run_once), so `vcr run` and a replay answer alike.
 */
#include "vmm/vmm_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define HV_LEAF_BASE		0x40000000u
#define HV_LEAF_INTERFACE	0x40000001u
#define HV_LEAF_FEATURES	0x40000003u
#define HV_LEAF_SYNDBG_FIRST	0x40000080u
#define HV_LEAF_LAST		0x400000ffu
#define KVM_LEAF_MOVED		0x100u		/* KVM's leaves go to 0x40000100 */
#define HV_SIGNATURE_EAX	0x31237648u	/* "Hv#1" */
#define HV_LEAF_RECOMMEND	0x40000004u
#define HV_SYNIC_AVAILABLE	(1u << 2)	/* leaf 0x40000003 EAX */
#define HV_STIMER_AVAILABLE	(1u << 3)
#define HV_APIC_MSRS_AVAILABLE	(1u << 4)
#define HV_DEBUG_MSRS_AVAILABLE	(1u << 11)	/* leaf 0x40000003 EDX: syndbg */
#define HV_STIMER_DIRECT	(1u << 19)	/* leaf 0x40000003 EDX */
#define HV_APIC_RECOMMENDED	(1u << 3)	/* leaf 0x40000004 EAX */
#define HV_CLUSTER_IPI_RECOMMENDED (1u << 10)
#define HV_EX_MASKS_RECOMMENDED	(1u << 11)
#define HV_STATUS_INVALID_CONNECTION_ID	0x12u

static const struct kvm_cpuid_entry2 *leaf_find(const struct kvm_cpuid_entry2 *e, uint32_t n,
						uint32_t leaf)
{
	for (uint32_t i = 0; i < n; i++)
		if (e[i].function == leaf)
			return &e[i];
	return NULL;
}

bool vmm_hyperv_in_cpuid(const struct kvm_cpuid_entry2 *e, uint32_t n)
{
	const struct kvm_cpuid_entry2 *i = leaf_find(e, n, HV_LEAF_INTERFACE);
	return i && i->eax == HV_SIGNATURE_EAX;
}

int vmm_hyperv_cpuid(struct vmm *vm, struct vcr_err *err)
{
	struct kvm_cpuid2 *hv = NULL, *c = NULL, *old = vm->cpuid;

	if (!old || vm->nvcpus)
		return vcr_err_set(err, -EINVAL, UINT64_MAX, "--cpuid hv-passthrough: CPUID not "
				   "set, or too late");
	if (vmm_hyperv_in_cpuid(old->entries, old->nent))
		return 0;
	/* The system ioctl (Linux 5.11); the older vCPU one would need a
	 * vCPU before its own CPUID is set. */
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SYS_HYPERV_CPUID) <= 0)
		return vcr_err_set(err, -ENOTSUP, UINT64_MAX, "--cpuid hv-passthrough: this KVM "
				   "does not emulate Hyper-V (no KVM_CAP_SYS_HYPERV_CPUID; a PVM "
				   "/dev/kvm, or a kernel without CONFIG_KVM_HYPERV)");
	int r = vmm_kvm_cpuid_get(vm->kvm_fd, KVM_GET_SUPPORTED_HV_CPUID, 16, 256, &hv);
	if (r)
		return vcr_err_set(err, r, UINT64_MAX, "KVM_GET_SUPPORTED_HV_CPUID: %s",
				   strerror(-r));
	c = calloc(1, sizeof(*c) + (size_t)(old->nent + hv->nent) * sizeof(c->entries[0]));
	if (!c) {
		free(hv);
		return vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
	}
	/* KVM's own hypervisor leaves move up by 0x100, its max-leaf word with
	 * them; everything else stays. */
	for (uint32_t i = 0; i < old->nent; i++) {
		struct kvm_cpuid_entry2 e = old->entries[i];
		if (e.function >= HV_LEAF_BASE && e.function <= HV_LEAF_LAST) {
			if (e.function == HV_LEAF_BASE && e.eax >= HV_LEAF_BASE &&
			    e.eax <= HV_LEAF_LAST)
				e.eax += KVM_LEAF_MOVED;
			e.function += KVM_LEAF_MOVED;
		}
		c->entries[c->nent++] = e;
	}
	uint32_t max = HV_LEAF_INTERFACE;
	for (uint32_t i = 0; i < hv->nent; i++) {
		struct kvm_cpuid_entry2 e = hv->entries[i];
		if (e.function < HV_LEAF_BASE || e.function >= HV_LEAF_SYNDBG_FIRST)
			continue;	/* the synthetic debugger: not offered */
		/* The SynIC and its timers, the APIC assist MSRs and the PV
		 * IPIs are the in-kernel LAPIC's (KVM refuses the SynIC
		 * without it): the bare machine offers the rest, as it hides
		 * x2APIC (vmm_cpuid_set). */
		if (e.function == HV_LEAF_FEATURES) {
			e.edx &= ~HV_DEBUG_MSRS_AVAILABLE;
			if (!vm->irqchip) {
				e.eax &= ~(HV_SYNIC_AVAILABLE | HV_STIMER_AVAILABLE |
					   HV_APIC_MSRS_AVAILABLE);
				e.edx &= ~HV_STIMER_DIRECT;
			}
		} else if (e.function == HV_LEAF_RECOMMEND && !vm->irqchip) {
			e.eax &= ~(HV_APIC_RECOMMENDED | HV_CLUSTER_IPI_RECOMMENDED |
				   HV_EX_MASKS_RECOMMENDED);
		}
		if (e.function > max)
			max = e.function;
		c->entries[c->nent++] = e;
	}
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == HV_LEAF_BASE)
			c->entries[i].eax = max;
	free(hv);
	if (!vmm_hyperv_in_cpuid(c->entries, c->nent)) {
		free(c);
		return vcr_err_set(err, -ENOTSUP, UINT64_MAX, "--cpuid hv-passthrough: "
				   "KVM_GET_SUPPORTED_HV_CPUID has no Hyper-V interface leaf");
	}
	vm->cpuid = c;
	free(old);
	return 0;
}

int vmm_hyperv_vcpu(struct vmm *vm, struct vmm_vcpu *c)
{
	const struct kvm_cpuid_entry2 *f;
	struct kvm_enable_cap cap = { .cap = KVM_CAP_HYPERV_SYNIC2 };

	if (!vmm_hyperv_in_cpuid(vm->cpuid->entries, vm->cpuid->nent))
		return 0;
	f = leaf_find(vm->cpuid->entries, vm->cpuid->nent, HV_LEAF_FEATURES);
	if (!f || !(f->eax & HV_SYNIC_AVAILABLE))
		return 0;
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_HYPERV_SYNIC2) <= 0)
		return -ENOTSUP;
	return ioctl(c->fd, KVM_ENABLE_CAP, &cap) < 0 ? -errno : 0;
}

void vmm_hyperv_exit(struct kvm_run *run)
{
	if (run->hyperv.type == KVM_EXIT_HYPERV_HCALL)
		run->hyperv.u.hcall.result = HV_STATUS_INVALID_CONNECTION_ID;
}
