/*
 * vmm/dev_vmport.c: the VMware backdoor port (pc machine), as QEMU's pc has
 * it by default (hw/i386/vmport.c, -machine vmport=on): port 0x5658, whose
 * "I/O" is a call. The guest loads eax with the magic 0x564D5868 ("VMXh")
 * and the low byte of ecx with a command, and does IN (or OUT) on the port;
 * the answer comes back in eax and, for some commands, in other registers.
 *
 *   0x0a GETVERSION    eax 6, ebx the magic, ecx 2 (the VMX type "ESX
 *                      server", QEMU's default)
 *   0x13 GETBIOSUUID   eax..edx the BIOS UUID: all zero (vcr has none, as
 *                      QEMU without -uuid)
 *   0x14 GETRAMSIZE    eax the RAM size in bytes (low 32 bits), ebx 0x1177
 *   0x2d GETHZ         eax:ebx the TSC rate in Hz (low, high), ecx the APIC
 *                      bus rate (KVM's 1 GHz); ebx all ones when KVM does
 *                      not say its TSC rate
 *   0x44 GET_VCPU_INFO eax bit 3 when the vCPU's CPUID has x2APIC
 *   anything else, or eax without the magic: eax all ones, every other
 *   register as it was (QEMU's answer to an unsupported command; its
 *   vmmouse commands 0x27-0x29 are unsupported here, vcr has no vmmouse)
 *
 * As in QEMU, eax always ends up holding the answer in full (zero-extended
 * to rax), whatever the access: an IN carries it in the IN data (the bus's
 * seam); an OUT, a narrower IN and every other register the command sets
 * are written with vmm_vcpu_set_state (kvm_dirty_regs: KVM loads them on
 * the next KVM_RUN, and the recorder keeps them as a SET_STATE record, so a
 * replay needs no device), rax with them. Register values are zero-extended
 * as QEMU's are. No state of its own.
 */
#include "vmm/dev.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>

#define VMPORT_PORT		0x5658
#define VMPORT_MAGIC		0x564d5868u

#define VMPORT_GETVERSION	0x0a
#define VMPORT_GETBIOSUUID	0x13
#define VMPORT_GETRAMSIZE	0x14
#define VMPORT_GETHZ		0x2d
#define VMPORT_GET_VCPU_INFO	0x44

#define VMPORT_VERSION		6	/* open-vm-tools' VERSION_MAGIC */
#define VMPORT_VMX_TYPE_ESX	2
#define VMPORT_RAMSIZE_EBX	0x1177
#define VMPORT_APIC_BUS_HZ	1000000000u	/* KVM's LAPIC timer: 1 ns a tick */
#define VMPORT_INFO_X2APIC	(1u << 3)	/* "legacy x2APIC" in GET_VCPU_INFO */
#define CPUID_1_ECX_X2APIC	(1u << 21)

static bool vmport_has_x2apic(const struct vmm *vm)
{
	uint32_t n;
	const struct kvm_cpuid_entry2 *e = vmm_cpuid(vm, &n);

	for (uint32_t i = 0; i < n; i++)
		if (e[i].function == 1)
			return e[i].ecx & CPUID_1_ECX_X2APIC;
	return false;
}

/* The command in r (eax, ecx as the guest left them): the answer for eax,
 * other registers changed in r. */
static uint32_t vmport_command(struct vmm *vm, struct vmm_vcpu *c, struct kvm_regs *r)
{
	uint8_t cmd = (uint8_t)r->rcx;	/* QEMU reads the command as a byte */
	long khz;

	if ((uint32_t)r->rax != VMPORT_MAGIC)
		return UINT32_MAX;
	switch (cmd) {
	case VMPORT_GETVERSION:
		r->rbx = VMPORT_MAGIC;
		r->rcx = VMPORT_VMX_TYPE_ESX;
		return VMPORT_VERSION;
	case VMPORT_GETBIOSUUID:
		r->rbx = r->rcx = r->rdx = 0;
		return 0;
	case VMPORT_GETRAMSIZE:
		r->rbx = VMPORT_RAMSIZE_EBX;
		return (uint32_t)vm->cfg.mem_size;
	case VMPORT_GETHZ:
		khz = ioctl(c->fd, KVM_GET_TSC_KHZ, 0);
		if (khz <= 0) {
			r->rbx = UINT32_MAX;	/* "not supported"; eax stays */
			return (uint32_t)r->rax;
		}
		uint64_t hz = (uint64_t)khz * 1000;
		r->rcx = VMPORT_APIC_BUS_HZ;
		r->rbx = (uint32_t)(hz >> 32);
		return (uint32_t)hz;
	case VMPORT_GET_VCPU_INFO:
		return vmport_has_x2apic(vm) ? VMPORT_INFO_X2APIC : 0;
	default:
		return UINT32_MAX;
	}
}

static int vmport_access(void *opaque, struct vmm_vcpu *c, uint64_t off, uint8_t *data,
			 uint32_t size, bool is_write)
{
	struct vmm *vm = ((struct vmm_dev *)opaque)->vm;
	struct vcr_vcpu_state st;
	struct kvm_regs before;
	uint32_t eax;

	(void)off;
	if (vmm_vcpu_get_state(vm, c->index, &st))
		return VMM_BUS_CONTINUE;
	before = st.regs;
	eax = vmport_command(vm, c, &st.regs);
	if (!is_write)
		for (uint32_t i = 0; i < size && i < sizeof(eax); i++)
			data[i] = (uint8_t)(eax >> (8 * i));
	/* rax too whenever the registers are written: KVM may load the dirty
	 * registers after it has completed the IN (PVM does), and a stale rax
	 * would then undo the IN data. A 4-byte IN that changes nothing else
	 * needs no write: it sets all of eax (clearing rax's top half) itself. */
	st.regs.rax = eax;
	if (!is_write && size == 4)
		before.rax = eax;
	if (memcmp(&st.regs, &before, sizeof(before)))
		vmm_vcpu_set_state(vm, c->index, &st, VCR_CLASS_REGS);
	return VMM_BUS_CONTINUE;
}

static int vmport_create(struct vmm_dev *dev, struct vcr_err *err)
{
	int r = vmm_bus_register(&dev->vm->bus, VMM_BUS_PIO, VMPORT_PORT, 1, vmport_access, dev,
				 "vmport");

	if (r)
		return vcr_err_set(err, r, UINT64_MAX, "vmport: cannot claim port 0x%x", VMPORT_PORT);
	return 0;
}

const struct vmm_dev_type vmm_dev_vmport = {
	.name = "vmport",
	.create = vmport_create,
};
