/*
 * vmm/loader_bzimage.c: the Linux boot protocol on the machine (vmm/boot.h):
 * ties vmm/loader_linux.{c,h}, which works on a plain buffer, to struct
 * vmm. The probe (before KVM) reads the initrd, composes the command line,
 * picks the RAM size (VMM_LINUX_MEM_DEFAULT unless -m) and plans the layout
 * with the MP table's range reserved; the load builds it into guest RAM,
 * tells the observer every range written (as vmm_mem_write would), writes
 * the MP table and sets the BSP's 64-bit entry state. APs are left in KVM's
 * reset state: the in-kernel LAPIC starts them on the kernel's INIT/SIPI.
 */
#include "vmm/boot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int compose_cmdline(struct vmm *vm, struct vcr_err *err)
{
	const struct vmm_config *cfg = &vm->cfg;
	const char *user = cfg->cmdline ? cfg->cmdline : "";
	const char *def = cfg->cmdline_replace ? "" : VMM_LINUX_CMDLINE_DEFAULT;
	size_t n = strlen(def) + 1 + strlen(user) + 1;

	vm->linux_cmdline = malloc(n);
	if (!vm->linux_cmdline)
		return vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
	snprintf(vm->linux_cmdline, n, "%s%s%s", def, *def && *user ? " " : "", user);
	return 0;
}

int vmm_bzimage_probe(struct vmm *vm, struct vcr_err *err)
{
	struct vmm_config *cfg = &vm->cfg;
	struct vmm_guest *g = &vm->guest;
	struct vmm_linux_layout layout = { 0 };
	int r;

	r = vmm_linux_probe(&g->lk, vm->image, vm->image_size, cfg->guest_path, err);
	if (r)
		return r;
	if (cfg->machine == VMM_MACHINE_BARE)
		return vcr_err_set(err, -EINVAL, UINT64_MAX,
				   "%s: a Linux kernel needs the pc machine (irqchip, timer), "
				   "not --machine bare", cfg->guest_path);
	if (cfg->mode != VMM_MODE_AUTO && cfg->mode != VMM_MODE_LONG64)
		return vcr_err_set(err, -EINVAL, UINT64_MAX,
				   "%s: a bzImage starts at its 64-bit entry (no --mode)",
				   cfg->guest_path);
	if (cfg->entry_set)
		return vcr_err_set(err, -EINVAL, UINT64_MAX,
				   "%s: --entry does not apply to a bzImage", cfg->guest_path);
	if (!cfg->mem_size_set)
		cfg->mem_size = VMM_LINUX_MEM_DEFAULT;
	if (cfg->initrd_path) {
		r = vmm_read_file(cfg->initrd_path, cfg->mem_size, &vm->initrd, &vm->initrd_size,
				  err);
		if (r)
			return r;
	}
	r = compose_cmdline(vm, err);
	if (r)
		return r;
	layout.ram_size = cfg->mem_size;
	layout.nreserved = 1;
	layout.reserved[0] = (struct vmm_linux_range){ VMM_MPTABLE_BASE, VMM_MPTABLE_SIZE };
	r = vmm_linux_plan(&g->lplan, &g->lk, &layout, vm->initrd_size,
			   strlen(vm->linux_cmdline), err);
	if (r) {
		/* Say which file: the plan's messages name no path. */
		char msg[sizeof(err->msg)];
		snprintf(msg, sizeof(msg), "%s", err->msg);
		return vcr_err_set(err, r, UINT64_MAX, "%s%s%s: %s", cfg->guest_path,
				   vm->initrd ? " with " : "",
				   vm->initrd ? cfg->initrd_path : "", msg);
	}
	g->format = VMM_FORMAT_LINUX;
	g->format_name = "bzimage";
	g->mode = VMM_MODE_LONG64;
	g->entry = g->lk.entry;
	g->load_addr = g->lk.load_addr;
	return 0;
}

int vmm_bzimage_load(struct vmm *vm, struct vcr_err *err)
{
	struct vmm_guest *g = &vm->guest;
	uint64_t size = vm->cfg.mem_size;
	uint8_t *mem = vmm_mem_ptr(vm, 0, size);
	struct vcr_vcpu_state st;
	int r;

	if (!mem)
		return vcr_err_set(err, -EFAULT, UINT64_MAX, "guest RAM is not one slot");
	r = vmm_linux_build(&g->lplan, &g->lk, vm->image, vm->image_size, vm->initrd,
			    vm->initrd_size, vm->linux_cmdline, mem, size, err);
	if (r)
		return r;
	/* vmm_linux_build wrote through a plain pointer: report its ranges as
	 * the one write path would, so a recording holds the initial memory. */
	if (vm->obs.mem_write)
		for (uint32_t i = 0; i < g->lplan.nwritten; i++) {
			const struct vmm_linux_range *w = &g->lplan.written[i];
			vm->obs.mem_write(vm->obs.ctx, VMM_NO_VCPU, w->gpa, mem + w->gpa,
					  w->size);
		}
	r = vmm_mptable_write(vm, err);
	if (r)
		return r;
	r = vmm_vcpu_get_state(vm, 0, &st);
	if (r)
		return vcr_err_set(err, r, UINT64_MAX, "cannot read the BSP's state");
	vmm_linux_set_state(&g->lk, &st);
	r = vmm_vcpu_set_state(vm, 0, &st, VCR_CLASS_REGS | VCR_CLASS_SREGS);
	if (r)
		return vcr_err_set(err, r, UINT64_MAX, "cannot set the BSP's entry state");
	return 0;
}
