/*
 * vmm/bus.h: the port-I/O and MMIO bus (vmm/ internal; vmm/bus.c).
 *
 * A device registers a range of one space (ports or guest-physical MMIO)
 * with a handler and an opaque pointer; the vCPU loop hands every
 * KVM_EXIT_IO and KVM_EXIT_MMIO to vmm_bus_io / vmm_bus_mmio, which check the
 * exit's payload, find the range and call its handler once per element
 * (string I/O has `count` elements). An access no range claims is counted
 * (vm->unknown_io): port reads return all ones, MMIO reads 0 (as on a PC),
 * writes are dropped.
 *
 * Which range an access belongs to:
 *   ports  the range holding the access's first port, as an ISA device
 *          decodes its base: a 4-byte IN at 0x3fe is the UART's, which then
 *          serves the bytes past its end itself (it wraps, like hardware);
 *   MMIO   the range holding the whole access [gpa, gpa + len).
 *
 * The recorder's seam: a handler answers a read only by filling `data`,
 * which points into the vCPU's kvm_run page (the io data area or
 * mmio.data), and writes guest memory only through vmm_mem_write_vcpu. The
 * observer's before_run then sees every byte handed to the guest exactly as
 * the guest will (vmm.h), so devices need no recording code of their own.
 *
 * Lifecycle: ranges are registered while the machine is built (vmm_create,
 * single-threaded) and never removed; during the run the table is only read,
 * so lookups take no lock. Handlers run on the vCPU's thread, concurrently
 * for different vCPUs: a device with state shared between vCPUs locks it.
 */
#ifndef VCR_VMM_BUS_H
#define VCR_VMM_BUS_H

#include <stdbool.h>
#include <stdint.h>

struct vmm;
struct vmm_vcpu;

enum vmm_bus_space {
	VMM_BUS_PIO = 0,
	VMM_BUS_MMIO = 1,
	VMM_BUS_NSPACES = 2,
};

/* A handler's answer: go on, or the run has ended (the handler called
 * vmm_end, e.g. the exit port) and the vCPU leaves its loop. */
#define VMM_BUS_CONTINUE	0
#define VMM_BUS_ENDED		1

/* One element of one access: off = address - range base; data holds the
 * size (1..8) bytes written, or receives the bytes read (zeroed before the
 * call, so a handler that leaves bytes alone reads them as 0). */
typedef int (*vmm_bus_fn)(void *opaque, struct vmm_vcpu *c, uint64_t off, uint8_t *data,
			  uint32_t size, bool is_write);

struct vmm_bus_range {
	uint64_t base, len;
	vmm_bus_fn fn;
	void *opaque;
	const char *name;	/* for -v logs */
};

#define VMM_BUS_MAX_RANGES 24	/* per space */

struct vmm_bus {
	struct vmm_bus_range ranges[VMM_BUS_NSPACES][VMM_BUS_MAX_RANGES];
	uint32_t n[VMM_BUS_NSPACES];
};

/* Claim [base, base + len) of `space`. -EINVAL for an empty, wrapping or
 * (ports) beyond-0xffff range or one that overlaps a registered range,
 * -ENOSPC when the space is full. */
int vmm_bus_register(struct vmm_bus *bus, enum vmm_bus_space space, uint64_t base,
		     uint64_t len, vmm_bus_fn fn, void *opaque, const char *name);

/* Serve the vCPU's KVM_EXIT_IO / KVM_EXIT_MMIO. VMM_BUS_ENDED when the run
 * ended (a handler's doing, or a malformed exit: VCR_END_ERROR). */
int vmm_bus_io(struct vmm *vm, struct vmm_vcpu *c);
int vmm_bus_mmio(struct vmm *vm, struct vmm_vcpu *c);

#endif
