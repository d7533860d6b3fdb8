/*
 * vmm/bus.c: the port/MMIO bus (vmm/bus.h): range registration, and turning
 * a KVM_EXIT_IO or KVM_EXIT_MMIO into handler calls. Owns the checks of the
 * exit payload KVM left in kvm_run and the policy for unclaimed addresses.
 */
#include "vmm/vmm_int.h"

#include <errno.h>
#include <string.h>

int vmm_bus_register(struct vmm_bus *bus, enum vmm_bus_space space, uint64_t base,
		     uint64_t len, vmm_bus_fn fn, void *opaque, const char *name)
{
	uint64_t end;

	if (space >= VMM_BUS_NSPACES || !fn || !len || vcr_add_overflow(base, len, &end) ||
	    (space == VMM_BUS_PIO && end > 0x10000))
		return -EINVAL;
	for (uint32_t i = 0; i < bus->n[space]; i++) {
		const struct vmm_bus_range *o = &bus->ranges[space][i];
		if (base < o->base + o->len && o->base < end)
			return -EINVAL;
	}
	if (bus->n[space] >= VMM_BUS_MAX_RANGES)
		return -ENOSPC;
	bus->ranges[space][bus->n[space]++] = (struct vmm_bus_range){
		.base = base, .len = len, .fn = fn, .opaque = opaque, .name = name,
	};
	return 0;
}

/* The range holding [addr, addr + need), or NULL. */
static const struct vmm_bus_range *bus_find(const struct vmm_bus *bus,
					    enum vmm_bus_space space, uint64_t addr,
					    uint64_t need)
{
	for (uint32_t i = 0; i < bus->n[space]; i++) {
		const struct vmm_bus_range *r = &bus->ranges[space][i];
		if (addr >= r->base && vcr_range_ok(addr - r->base, need, r->len))
			return r;
	}
	return NULL;
}

static void bus_unknown(struct vmm *vm, const char *what, uint64_t addr, bool write)
{
	atomic_fetch_add_explicit(&vm->unknown_io, 1, memory_order_relaxed);
	vcr_debug("unknown %s %s at %#llx", what, write ? "write" : "read",
		  (unsigned long long)addr);
}

int vmm_bus_io(struct vmm *vm, struct vmm_vcpu *c)
{
	struct kvm_run *run = c->run;
	uint16_t port = run->io.port;
	uint32_t size = run->io.size, count = run->io.count;
	bool write = run->io.direction == KVM_EXIT_IO_OUT;
	uint64_t total;

	/* The data area is inside the kvm_run page; trust nothing. */
	if (size == 0 || size > 4 || vcr_mul_overflow(size, count, &total) ||
	    !vcr_range_ok(run->io.data_offset, total, vm->run_size)) {
		vmm_end(vm, c->index, VCR_END_ERROR, 0,
			"vcpu %u: malformed KVM_EXIT_IO (port %#x size %u count %u offset %llu)",
			c->index, port, size, count, (unsigned long long)run->io.data_offset);
		return VMM_BUS_ENDED;
	}
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	const struct vmm_bus_range *r = bus_find(&vm->bus, VMM_BUS_PIO, port, 1);

	for (uint32_t i = 0; i < count; i++, data += size) {
		if (!r) {
			bus_unknown(vm, "port", port, write);
			if (!write)
				memset(data, 0xff, size);
			continue;
		}
		if (!write)
			memset(data, 0, size);
		if (r->fn(r->opaque, c, port - r->base, data, size, write) == VMM_BUS_ENDED)
			return VMM_BUS_ENDED;
	}
	return VMM_BUS_CONTINUE;
}

int vmm_bus_mmio(struct vmm *vm, struct vmm_vcpu *c)
{
	struct kvm_run *run = c->run;
	uint64_t gpa = run->mmio.phys_addr;
	uint32_t len = run->mmio.len;
	bool write = run->mmio.is_write;

	if (len == 0 || len > sizeof(run->mmio.data)) {
		vmm_end(vm, c->index, VCR_END_ERROR, 0,
			"vcpu %u: malformed KVM_EXIT_MMIO (gpa %#llx len %u)",
			c->index, (unsigned long long)gpa, len);
		return VMM_BUS_ENDED;
	}
	const struct vmm_bus_range *r = bus_find(&vm->bus, VMM_BUS_MMIO, gpa, len);
	if (!r) {
		/* Unbacked physical addresses read 0 on a PC (ports float
		 * high, memory does not). */
		bus_unknown(vm, "MMIO", gpa, write);
		if (!write)
			memset(run->mmio.data, 0, len);
		return VMM_BUS_CONTINUE;
	}
	if (!write)
		memset(run->mmio.data, 0, len);
	return r->fn(r->opaque, c, gpa - r->base, run->mmio.data, len, write);
}
