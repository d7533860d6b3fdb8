/*
 * vmm/loader.c: which loader (flat binary, ELF, multiboot), and flat
 * images. The boot structures the loaders share are in vmm/boot.c.
 */
#include "vmm/vmm_int.h"

#include <errno.h>
#include <string.h>

static bool is_elf(const uint8_t *img, uint64_t size)
{
	return size >= 4 && !memcmp(img, "\177ELF", 4);
}

static int flat_probe(struct vmm *vm, struct vcr_err *err)
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

static int probe_format(struct vmm *vm, struct vcr_err *err)
{
	const struct vmm_config *cfg = &vm->cfg;
	int r;

	switch (cfg->format) {
	case VMM_FORMAT_FLAT:
		return flat_probe(vm, err);
	case VMM_FORMAT_ELF:
		return vmm_elf_probe(vm, vm->image, vm->image_size, false, err);
	case VMM_FORMAT_MULTIBOOT:
		return vmm_mb_probe(vm, err);
	case VMM_FORMAT_AUTO:
		r = vmm_mb_probe(vm, err);
		if (r != -ENOENT)
			return r;
		vcr_err_clear(err);
		memset(&vm->guest, 0, sizeof(vm->guest));
		if (is_elf(vm->image, vm->image_size))
			return vmm_elf_probe(vm, vm->image, vm->image_size, false, err);
		if (cfg->mode == VMM_MODE_AUTO && vm->image_size > 0x10000)
			return vcr_err_set(err, -EINVAL, UINT64_MAX,
					   "%s: no ELF or multiboot header, and too big (%llu "
					   "bytes) for a real-mode flat image: give --format "
					   "and --mode", cfg->guest_path,
					   (unsigned long long)vm->image_size);
		return flat_probe(vm, err);
	}
	return vcr_err_set(err, -EINVAL, UINT64_MAX, "bad format");
}

int vmm_loader_probe(struct vmm *vm, struct vcr_err *err)
{
	const struct vmm_config *cfg = &vm->cfg;
	const struct vmm_guest *g = &vm->guest;
	int r = probe_format(vm, err);

	if (r)
		return r;
	/* Checks that hold whatever the format (auto may have picked one the
	 * user did not name). */
	if (cfg->load_addr_set && g->format != VMM_FORMAT_FLAT)
		return vcr_err_set(err, -EINVAL, UINT64_MAX,
				   "%s: --load applies to flat images only (this is %s)",
				   cfg->guest_path, g->format_name);
	if (g->mode == VMM_MODE_REAL && g->entry >= 0x100000)
		return vcr_err_set(err, -EINVAL, UINT64_MAX,
				   "%s: real-mode entry %#llx is above 1 MiB", cfg->guest_path,
				   (unsigned long long)g->entry);
	return 0;
}

int vmm_loader_load(struct vmm *vm, struct vcr_err *err)
{
	struct vmm_guest *g = &vm->guest;
	int r;

	switch (g->format) {
	case VMM_FORMAT_FLAT:
		r = vmm_mem_write(vm, g->load_addr, vm->image, vm->image_size);
		if (r)
			return vcr_err_set(err, r, UINT64_MAX, "cannot write the image");
		break;
	case VMM_FORMAT_ELF:
		r = vmm_elf_load(vm, vm->image, vm->image_size, err);
		if (r)
			return r;
		break;
	case VMM_FORMAT_MULTIBOOT:
		return vmm_mb_load(vm, err);	/* sets its own state (EAX/EBX) */
	default:
		return vcr_err_set(err, -EINVAL, UINT64_MAX, "nothing to load");
	}
	if (g->mode != VMM_MODE_REAL) {
		r = vmm_boot_write_gdt(vm);
		if (!r && g->mode == VMM_MODE_LONG64)
			r = vmm_boot_write_page_tables(vm);
		if (r)
			return vcr_err_set(err, r, UINT64_MAX, "cannot write boot structures");
	}
	r = vmm_boot_set_state(vm, g->mode, g->entry, 0, 0);
	if (r)
		return vcr_err_set(err, r, UINT64_MAX, "cannot set the initial vCPU state");
	return 0;
}
