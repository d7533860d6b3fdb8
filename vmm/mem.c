/*
 * vmm/mem.c: guest physical memory as the VMM touches it (vmm.h): finding
 * the host bytes of a guest range in the slots (overflow-safe), reading, and
 * the one write path, which tells the observer (MEM_WRITE in a recording).
 */
#include "vmm/vmm_int.h"

#include <errno.h>
#include <string.h>

void *vmm_mem_ptr(struct vmm *vm, uint64_t gpa, uint64_t len)
{
	for (uint32_t i = 0; i < vm->nslots; i++) {
		const struct vmm_slot *s = &vm->slots[i];
		if (gpa >= s->r.gpa && vcr_range_ok(gpa - s->r.gpa, len, s->r.size))
			return s->host + (gpa - s->r.gpa);
	}
	return NULL;
}

int vmm_mem_read(struct vmm *vm, uint64_t gpa, void *buf, uint64_t len)
{
	const void *p = vmm_mem_ptr(vm, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(buf, p, len);
	return 0;
}

int vmm_mem_write_vcpu(struct vmm *vm, uint32_t vcpu, uint64_t gpa, const void *buf,
		       uint64_t len)
{
	void *p = vmm_mem_ptr(vm, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(p, buf, len);
	if (vm->obs.mem_write)
		vm->obs.mem_write(vm->obs.ctx, vcpu, gpa, p, len);
	return 0;
}

int vmm_mem_write(struct vmm *vm, uint64_t gpa, const void *buf, uint64_t len)
{
	return vmm_mem_write_vcpu(vm, VMM_NO_VCPU, gpa, buf, len);
}
