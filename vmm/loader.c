/*
 * vmm/loader.c: which boot protocol an image uses (flat binary, ELF,
 * multiboot: named by --format or found by auto), the checks that hold for
 * all of them, and dispatching the load (vmm/boot.h).
 */
#include "vmm/boot.h"

#include <errno.h>
#include <string.h>

static bool is_elf(const uint8_t *img, uint64_t size)
{
	return size >= 4 && !memcmp(img, "\177ELF", 4);
}

static int probe_format(struct vmm *vm, struct vcr_err *err)
{
	const struct vmm_config *cfg = &vm->cfg;
	int r;

	switch (cfg->format) {
	case VMM_FORMAT_FLAT:
		return vmm_flat_probe(vm, err);
	case VMM_FORMAT_ELF:
		return vmm_elf_probe(vm, vm->image, vm->image_size, false, err);
	case VMM_FORMAT_MULTIBOOT:
		return vmm_mb_probe(vm, err);
	case VMM_FORMAT_LINUX:
		return vmm_bzimage_probe(vm, err);
	case VMM_FORMAT_AUTO:
		/* The setup header's magic first: it sits at a fixed offset
		 * no other format uses, and a bzImage may contain anything
		 * (even a multiboot-looking word) in its first 8 KiB. */
		if (vmm_linux_is_bzimage(vm->image, vm->image_size))
			return vmm_bzimage_probe(vm, err);
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
		return vmm_flat_probe(vm, err);
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
	if (vm->cfg.initrd_path && g->format != VMM_FORMAT_LINUX)
		return vcr_err_set(err, -EINVAL, UINT64_MAX,
				   "%s: --initrd applies to a Linux kernel only (this is %s)",
				   cfg->guest_path, g->format_name);
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
	switch (vm->guest.format) {
	case VMM_FORMAT_FLAT:
		return vmm_flat_load(vm, err);
	case VMM_FORMAT_ELF:
		return vmm_elf_exec_load(vm, err);
	case VMM_FORMAT_MULTIBOOT:
		return vmm_mb_load(vm, err);
	case VMM_FORMAT_LINUX:
		return vmm_bzimage_load(vm, err);
	default:
		return vcr_err_set(err, -EINVAL, UINT64_MAX, "nothing to load");
	}
}
