/*
 * vmm/machine.c: the machine descriptions (which devices a machine has, in
 * creation order) and building / tearing down a machine's devices
 * (vmm/dev.h).
 */
#include "vmm/dev.h"

#include <errno.h>
#include <stdlib.h>

static const struct vmm_dev_type *const bare_devs[] = {
	&vmm_dev_serial,
	&vmm_dev_test_ports,
	&vmm_dev_mmio_test,
	&vmm_dev_fwcfg,		/* QEMU's, for guests built for it */
	&vmm_dev_pctestdev,
};

const struct vmm_machine vmm_machine_bare = {
	.name = "bare",
	.devs = bare_devs,
	.ndevs = VCR_ARRAY_SIZE(bare_devs),
};

/* The test devices stay so vcr's own guests run on pc too (--machine pc);
 * fw_cfg, pc-testdev (with its IRQ lines here) and the VMware backdoor port
 * as QEMU's pc has them for the guests built for QEMU (kvm-unit-tests). */
static const struct vmm_dev_type *const pc_devs[] = {
	&vmm_dev_serial,
	&vmm_dev_i8042,
	&vmm_dev_cmos,
	&vmm_dev_test_ports,
	&vmm_dev_mmio_test,
	&vmm_dev_fwcfg,
	&vmm_dev_pctestdev,
	&vmm_dev_vmport,
};

const struct vmm_machine vmm_machine_pc = {
	.name = "pc",
	.pc = true,
	.devs = pc_devs,
	.ndevs = VCR_ARRAY_SIZE(pc_devs),
};

int vmm_machine_create(struct vmm *vm, const struct vmm_machine *m, struct vcr_err *err)
{
	vm->devs = calloc(m->ndevs ? m->ndevs : 1, sizeof(*vm->devs));
	if (!vm->devs)
		return vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
	vm->machine = m;
	for (uint32_t i = 0; i < m->ndevs; i++) {
		struct vmm_dev *d = &vm->devs[i];
		d->type = m->devs[i];
		d->vm = vm;
		d->state = NULL;
		vm->ndevs = i + 1;	/* destroy sees it even if create fails */
		int r = d->type->create(d, err);
		if (r)
			return r;
	}
	return 0;
}

void vmm_machine_run_end(struct vmm *vm)
{
	for (uint32_t i = 0; i < vm->ndevs; i++)
		if (vm->devs[i].type->run_end)
			vm->devs[i].type->run_end(&vm->devs[i]);
}

void vmm_machine_destroy(struct vmm *vm)
{
	for (uint32_t i = vm->ndevs; i-- > 0; )
		if (vm->devs[i].type->destroy)
			vm->devs[i].type->destroy(&vm->devs[i]);
	free(vm->devs);
	vm->devs = NULL;
	vm->ndevs = 0;
}
