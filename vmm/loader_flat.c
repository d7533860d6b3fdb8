/*
 * vmm/loader_flat.c: flat binaries: the file's bytes at --load (default
 * 0x7c00 in real mode, 0x100000 otherwise), the vCPU at --entry (default:
 * the load address) in the mode --mode names (default real).
 */
#include "vmm/boot.h"

#include <errno.h>

int vmm_flat_probe(struct vmm *vm, struct vcr_err *err)
{
	const struct vmm_config *cfg = &vm->cfg;
	struct vmm_guest *g = &vm->guest;
	uint64_t end;

	g->format = VMM_FORMAT_FLAT;
	g->format_name = "flat";
	g->mode = cfg->mode == VMM_MODE_AUTO ? VMM_MODE_REAL : cfg->mode;
	g->load_addr = cfg->load_addr_set ? cfg->load_addr :
		       g->mode == VMM_MODE_REAL ? 0x7c00 : 0x100000;
	g->entry = cfg->entry_set ? cfg->entry : g->load_addr;
	if (vcr_add_overflow(g->load_addr, vm->image_size, &end) || end > cfg->mem_size)
		return vcr_err_set(err, -EFBIG, UINT64_MAX,
				   "%s: %llu bytes at %#llx do not fit in %llu bytes of memory",
				   cfg->guest_path, (unsigned long long)vm->image_size,
				   (unsigned long long)g->load_addr,
				   (unsigned long long)cfg->mem_size);
	if (g->mode != VMM_MODE_REAL && vmm_boot_overlaps(g->load_addr, vm->image_size))
		return vcr_err_set(err, -EINVAL, UINT64_MAX,
				   "%s: image at %#llx overlaps the boot area [%#llx, %#llx)",
				   cfg->guest_path, (unsigned long long)g->load_addr,
				   VMM_BOOT_AREA, VMM_BOOT_AREA_END);
	if (g->entry >= cfg->mem_size)
		return vcr_err_set(err, -EINVAL, UINT64_MAX, "entry %#llx is outside memory",
				   (unsigned long long)g->entry);
	return 0;
}

int vmm_flat_load(struct vmm *vm, struct vcr_err *err)
{
	const struct vmm_guest *g = &vm->guest;
	int r = vmm_mem_write(vm, g->load_addr, vm->image, vm->image_size);

	if (r)
		return vcr_err_set(err, r, UINT64_MAX, "cannot write the image");
	return vmm_boot_start(vm, g->mode, g->entry, err);
}
