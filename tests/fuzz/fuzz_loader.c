/*
 * tests/fuzz/fuzz_loader.c: libFuzzer target for the boot protocols (vmm/
 * boot.h, vmm/loader*.c, vmm/boot.c): any file given to `vcr run` must give
 * a clear error or load inside guest memory, never crash or write out of
 * bounds.
 *
 * Each input is probed as auto, flat (real and long mode), ELF and multiboot;
 * when a probe accepts it, the loader runs for real into a plain 4 MiB
 * buffer standing in for guest RAM (a struct vmm with one slot and no KVM:
 * no vCPUs, so only memory is written). Seeds: the test guests
 * (build/tests/guests), see vmm/module.mk.
 */
#include <stdlib.h>
#include <string.h>

#include "vmm/boot.h"

#define FUZZ_MEM (4u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *ram;

static void try_one(const uint8_t *data, size_t size, enum vmm_format fmt, enum vmm_mode mode)
{
	struct vmm vm;
	struct vcr_err err = { 0 };
	char cmdline[] = "fuzz cmdline";

	memset(&vm, 0, sizeof(vm));
	vmm_config_init(&vm.cfg);
	vm.cfg.guest_path = "fuzz";
	vm.cfg.mem_size = FUZZ_MEM;
	vm.cfg.format = fmt;
	vm.cfg.mode = mode;
	vm.cfg.cmdline = cmdline;
	vm.cmdline = cmdline;
	vm.have_cfg = true;
	/* An exact-size copy so that ASan sees any read past the image. */
	vm.image = malloc(size ? size : 1);
	if (!vm.image)
		return;
	memcpy(vm.image, data, size);
	vm.image_size = size;
	if (vmm_loader_probe(&vm, &err) == 0) {
		vm.slots[0].r.gpa = 0;
		vm.slots[0].r.size = FUZZ_MEM;
		vm.slots[0].host = ram;
		vm.nslots = 1;
		if (vmm_loader_load(&vm, &err) != 0 && !err.msg[0])
			abort();	/* every failure must say why */
	} else if (!err.msg[0]) {
		abort();
	}
	free(vm.image);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ram)
		ram = calloc(1, FUZZ_MEM);
	if (!ram || size == 0 || size > FUZZ_MEM)	/* read_image's limits */
		return 0;
	try_one(data, size, VMM_FORMAT_AUTO, VMM_MODE_AUTO);
	try_one(data, size, VMM_FORMAT_FLAT, VMM_MODE_REAL);
	try_one(data, size, VMM_FORMAT_FLAT, VMM_MODE_LONG64);
	try_one(data, size, VMM_FORMAT_ELF, VMM_MODE_AUTO);
	try_one(data, size, VMM_FORMAT_MULTIBOOT, VMM_MODE_AUTO);
	return 0;
}
