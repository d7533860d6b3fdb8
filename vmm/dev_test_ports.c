/*
 * vmm/dev_test_ports.c: the ports test guests talk to (vmm.h, docs/vmm.md):
 *   0xf0  in: vCPU index in bits 0-15, number of vCPUs in bits 16-31
 *   0xf1  test data: an exit and nothing else; reads give 0
 *   0xf4  exit: a write of byte v ends the run (VCR_END_EXIT_PORT, v)
 * Stateless: dev->vm gives the vCPU count and the way to end the run.
 */
#include "vmm/dev.h"

#include <string.h>

static int vcpu_id_access(void *opaque, struct vmm_vcpu *c, uint64_t off, uint8_t *data,
			  uint32_t size, bool is_write)
{
	struct vmm *vm = ((struct vmm_dev *)opaque)->vm;
	uint32_t v = c->index | (vm->nvcpus << 16);

	(void)off;
	if (!is_write)
		memcpy(data, &v, size);	/* little-endian: a byte read gives the index */
	return VMM_BUS_CONTINUE;
}

/* Writes are the point (an exit the guest makes at will); reads stay 0. */
static int test_data_access(void *opaque, struct vmm_vcpu *c, uint64_t off, uint8_t *data,
			    uint32_t size, bool is_write)
{
	(void)opaque, (void)c, (void)off, (void)data, (void)size, (void)is_write;
	return VMM_BUS_CONTINUE;
}

static int exit_access(void *opaque, struct vmm_vcpu *c, uint64_t off, uint8_t *data,
		       uint32_t size, bool is_write)
{
	struct vmm *vm = ((struct vmm_dev *)opaque)->vm;

	(void)off;
	if (!is_write)
		return VMM_BUS_CONTINUE;	/* reads give 0 */
	if (vm->cfg.isa_debug_exit) {
		/* QEMU's isa-debug-exit: the whole value, and exit (v << 1) | 1
		 * (the process status keeps its low byte, as QEMU's does). */
		uint32_t v = 0;
		memcpy(&v, data, size < 4 ? size : 4);
		int32_t st = (int32_t)(((uint64_t)v << 1 | 1) & 0x7fffffff);
		vmm_end(vm, c->index, VCR_END_EXIT_PORT, st,
			"guest wrote %#x to isa-debug-exit (vcpu %u): status %d", v, c->index,
			st & 0xff);
		return VMM_BUS_ENDED;
	}
	vmm_end(vm, c->index, VCR_END_EXIT_PORT, data[0],
		"guest wrote %u to the exit port (vcpu %u)", data[0], c->index);
	return VMM_BUS_ENDED;
}

static int test_ports_create(struct vmm_dev *dev, struct vcr_err *err)
{
	static const struct {
		uint16_t port;
		vmm_bus_fn fn;
		const char *name;
	} ports[] = {
		{ VMM_PORT_VCPU_ID, vcpu_id_access, "vcpu-id" },
		{ VMM_PORT_TEST_DATA, test_data_access, "test-data" },
		{ VMM_PORT_EXIT, exit_access, "exit" },
	};

	for (size_t i = 0; i < VCR_ARRAY_SIZE(ports); i++) {
		int r = vmm_bus_register(&dev->vm->bus, VMM_BUS_PIO, ports[i].port, 1,
					 ports[i].fn, dev, ports[i].name);
		if (r)
			return vcr_err_set(err, r, UINT64_MAX, "test ports: cannot claim %#x",
					   ports[i].port);
	}
	return 0;
}

const struct vmm_dev_type vmm_dev_test_ports = {
	.name = "test-ports",
	.create = test_ports_create,
};
