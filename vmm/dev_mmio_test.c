/*
 * vmm/dev_mmio_test.c: the MMIO test device, VMM_MMIO_TEST_SIZE bytes at
 * VMM_MMIO_TEST_BASE: every read returns VMM_MMIO_TEST_VALUE (little-endian,
 * truncated to the access size), writes are accepted and ignored. It gives
 * test guests MMIO exits whose read data the recorder must keep as INPUT.
 */
#include "vmm/dev.h"

#include <string.h>

static int mmio_test_access(void *opaque, struct vmm_vcpu *c, uint64_t off, uint8_t *data,
			    uint32_t size, bool is_write)
{
	uint64_t v = VMM_MMIO_TEST_VALUE;

	(void)opaque, (void)c, (void)off;
	if (!is_write)
		memcpy(data, &v, size);	/* size <= 8: checked by the bus */
	return VMM_BUS_CONTINUE;
}

static int mmio_test_create(struct vmm_dev *dev, struct vcr_err *err)
{
	int r = vmm_bus_register(&dev->vm->bus, VMM_BUS_MMIO, VMM_MMIO_TEST_BASE,
				 VMM_MMIO_TEST_SIZE, mmio_test_access, dev, "mmio-test");

	if (r)
		return vcr_err_set(err, r, UINT64_MAX, "MMIO test device: cannot claim %#llx",
				   VMM_MMIO_TEST_BASE);
	return 0;
}

const struct vmm_dev_type vmm_dev_mmio_test = {
	.name = "mmio-test",
	.create = mmio_test_create,
};
