/*
 * vmm/dev.h: what a device is, and which devices a machine has (vmm/
 * internal). One device per file (vmm/dev_*.c), each exporting one
 * struct vmm_dev_type; a machine description (vmm/machine.c) lists the
 * types it creates, in order.
 *
 * Lifecycle: vmm_create builds the machine after the vCPUs exist:
 * vmm_machine_create calls each type's create, which allocates the device's
 * state and registers its ranges on vm->bus with the struct vmm_dev as the
 * handlers' opaque pointer. At the end of vmm_run (every vCPU thread
 * joined) each run_end is called (the UART flushes its line buffer); in
 * vmm_destroy each destroy. A machine half built by a failed create is torn
 * down the same way: destroy must accept a device whose create failed.
 *
 * Machines. "bare": no irqchip, no timer; every event is an exit to
 * userspace, so a run is driven by the guest's own exits alone. "pc" (stock
 * Linux): the same device files plus i8042, CMOS and the VMware backdoor
 * port (QEMU's pc has it, kvm-unit-tests call it), and the flag `pc`
 * that makes vmm_create ask the KVM layer (vmm/kvm_pc.c) for the in-kernel
 * irqchip and PIT before the vCPUs and the firmware-like vCPU setup after
 * them, the UART interrupt, and vmm_run start the halt watchdog.
 *
 * Interrupts. A device on a pc machine raises or lowers its line (a GSI:
 * the ISA IRQ number, VMM_IRQ_COM1 for the UART) from a handler or its own
 * thread with vmm_irq_line (vmm_int.h): KVM_IRQ_LINE { irq = gsi, level }
 * on vm->vm_fd, then the observer's irq_line, since a line change is an
 * input the recorder must keep, ordered after the exit being served when
 * made from a handler.
 */
#ifndef VCR_VMM_DEV_H
#define VCR_VMM_DEV_H

#include "vmm/vmm_int.h"

struct vmm_dev;

struct vmm_dev_type {
	const char *name;
	/* Build dev->state and register ranges on dev->vm->bus. 0 or -errno
	 * with err filled. */
	int (*create)(struct vmm_dev *dev, struct vcr_err *err);
	/* After the run, all vCPU threads joined (may be NULL). */
	void (*run_end)(struct vmm_dev *dev);
	/* Free dev->state (NULL after a failed create). May be NULL. */
	void (*destroy)(struct vmm_dev *dev);
};

/* One device of a machine. */
struct vmm_dev {
	const struct vmm_dev_type *type;
	struct vmm *vm;		/* the machine: config, nvcpus, vmm_end, later
				 * its interrupt lines */
	void *state;		/* the device's own, owned by its type */
};

struct vmm_machine {
	const char *name;
	bool pc;		/* irqchip + PIT before the vCPUs, LAPIC/MSR setup,
				 * interrupting UART, halt watchdog */
	const struct vmm_dev_type *const *devs;
	uint32_t ndevs;
};

/* The device types (vmm/dev_*.c). */
extern const struct vmm_dev_type vmm_dev_serial;	/* 8250 on COM1 */
extern const struct vmm_dev_type vmm_dev_test_ports;	/* 0xf0, 0xf1, 0xf4 */
extern const struct vmm_dev_type vmm_dev_mmio_test;	/* VMM_MMIO_TEST_BASE */
extern const struct vmm_dev_type vmm_dev_fwcfg;		/* 0x510-0x511 */
extern const struct vmm_dev_type vmm_dev_pctestdev;	/* 0xe0-0xeb, 0xff000000 */
extern const struct vmm_dev_type vmm_dev_i8042;		/* 0x60, 0x64: reset */
extern const struct vmm_dev_type vmm_dev_cmos;		/* 0x70, 0x71: RTC */
extern const struct vmm_dev_type vmm_dev_vmport;	/* 0x5658: VMware backdoor */

/* The machines (vmm/machine.c). */
extern const struct vmm_machine vmm_machine_bare;
extern const struct vmm_machine vmm_machine_pc;
#define VMM_IRQ_COM1 4		/* pc: the UART's ISA IRQ (GSI) */

/* vmm/machine.c: create every device of m (after vmm_vcpus_create), call
 * run_end / destroy on every device created. */
int vmm_machine_create(struct vmm *vm, const struct vmm_machine *m, struct vcr_err *err);
void vmm_machine_run_end(struct vmm *vm);
void vmm_machine_destroy(struct vmm *vm);

#endif
