/* vmm/vmm.c: configuration, vmm_create / vmm_load and accessors (vmm.h,
 * "high level"). */
#include "vmm/boot.h"
#include "vmm/dev.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void vmm_config_init(struct vmm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mem_size = VMM_MEM_DEFAULT;
	cfg->nvcpus = 1;
	cfg->format = VMM_FORMAT_AUTO;
	cfg->mode = VMM_MODE_AUTO;
	cfg->uart_out_fd = 1;
	cfg->uart_in_fd = -1;
}

int vmm_config_validate(const struct vmm_config *cfg, struct vcr_err *err)
{
	if (cfg->mem_size < VMM_MEM_MIN || cfg->mem_size > VMM_MEM_MAX || (cfg->mem_size & 0xfff))
		return vcr_err_set(err, -EINVAL, UINT64_MAX,
				   "memory size %llu: must be a multiple of 4 KiB between 1 MiB "
				   "and 3 GiB", (unsigned long long)cfg->mem_size);
	if (cfg->nvcpus < 1 || cfg->nvcpus > VMM_MAX_VCPUS)
		return vcr_err_set(err, -EINVAL, UINT64_MAX, "%u vCPUs: must be 1..%d",
				   cfg->nvcpus, VMM_MAX_VCPUS);
	if (!cfg->guest_path || !*cfg->guest_path)
		return vcr_err_set(err, -EINVAL, UINT64_MAX, "no guest image given");
	if (cfg->format > VMM_FORMAT_LINUX || cfg->mode > VMM_MODE_LONG64 ||
	    cfg->machine > VMM_MACHINE_PC)
		return vcr_err_set(err, -EINVAL, UINT64_MAX, "bad format, mode or machine");
	if (cfg->initrd_path && !*cfg->initrd_path)
		return vcr_err_set(err, -EINVAL, UINT64_MAX, "empty initrd path");
	if (cfg->format == VMM_FORMAT_MULTIBOOT && cfg->mode != VMM_MODE_AUTO &&
	    cfg->mode != VMM_MODE_PROT32)
		return vcr_err_set(err, -EINVAL, UINT64_MAX,
				   "multiboot kernels start in 32-bit protected mode");
	if (cfg->load_addr_set && cfg->format != VMM_FORMAT_FLAT && cfg->format != VMM_FORMAT_AUTO)
		return vcr_err_set(err, -EINVAL, UINT64_MAX, "--load applies to flat images only");
	if (cfg->cmdline && strlen(cfg->cmdline) >= VMM_CMDLINE_MAX)
		return vcr_err_set(err, -E2BIG, UINT64_MAX, "command line longer than %u bytes",
				   VMM_CMDLINE_MAX - 1);
	if (cfg->cpuid) {
		int r = vmm_cpuid_spec_check(cfg->cpuid, err);
		if (r)
			return r;
	}
	if (cfg->uart_out_fd < 0)
		return vcr_err_set(err, -EINVAL, UINT64_MAX, "no UART output fd");
	return 0;
}

int vmm_read_file(const char *path, uint64_t max, uint8_t **buf, uint64_t *size,
		  struct vcr_err *err)
{
	struct stat st;
	uint8_t *b = NULL;
	int fd, r = 0;

	*buf = NULL;
	*size = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vcr_err_set(err, -errno, UINT64_MAX, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		r = vcr_err_set(err, -errno, UINT64_MAX, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = vcr_err_set(err, -EINVAL, UINT64_MAX, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_size == 0) {
		r = vcr_err_set(err, -EINVAL, UINT64_MAX, "%s: empty file", path);
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		r = vcr_err_set(err, -EFBIG, UINT64_MAX,
				"%s: %llu bytes do not fit in %llu bytes of guest memory",
				path, (unsigned long long)st.st_size, (unsigned long long)max);
		goto out;
	}
	b = malloc((size_t)st.st_size);
	if (!b) {
		r = vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
		goto out;
	}
	for (uint64_t off = 0; off < (uint64_t)st.st_size; ) {
		ssize_t n = pread(fd, b + off, (size_t)st.st_size - off, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = vcr_err_set(err, n < 0 ? -errno : -EIO, off, "%s: read failed", path);
			goto out;
		}
		off += (uint64_t)n;
	}
	*buf = b;
	*size = (uint64_t)st.st_size;
	b = NULL;
out:
	free(b);
	close(fd);
	return r;
}

static void probe_free(struct vmm *probe)
{
	free(probe->image);
	free(probe->initrd);
	free(probe->linux_cmdline);
}

/* Validate, read the image into probe->image, decide the loader. */
static int probe_guest(struct vmm *probe, const struct vmm_config *cfg, struct vcr_err *err)
{
	int r;

	memset(probe, 0, sizeof(*probe));
	r = vmm_config_validate(cfg, err);
	if (r)
		return r;
	probe->cfg = *cfg;
	probe->have_cfg = true;
	r = vmm_read_file(cfg->guest_path, cfg->mem_size, &probe->image, &probe->image_size,
			  err);
	if (!r)
		r = vmm_loader_probe(probe, err);
	return r;
}

int vmm_check(const struct vmm_config *cfg, struct vcr_err *err)
{
	struct vmm probe;
	int r = probe_guest(&probe, cfg, err);

	probe_free(&probe);
	return r;
}

int vmm_create(struct vmm **out, const struct vmm_config *cfg, struct vcr_err *err)
{
	struct vmm *vm = NULL;
	struct vmm probe;
	int r;

	*out = NULL;
	/* Read and check the image before creating anything in KVM, so that
	 * bad input is reported the same with or without /dev/kvm. */
	r = probe_guest(&probe, cfg, err);
	if (r)
		goto fail_probe;

	r = vmm_open(&vm, err);
	if (r)
		goto fail_probe;
	vm->have_cfg = true;
	vm->cfg = probe.cfg;		/* with what the probe decided (Linux RAM) */
	vm->image = probe.image;
	vm->image_size = probe.image_size;
	vm->initrd = probe.initrd;
	vm->initrd_size = probe.initrd_size;
	vm->linux_cmdline = probe.linux_cmdline;
	vm->guest = probe.guest;
	memset(&probe, 0, sizeof(probe));
	vm->guest_path = strdup(cfg->guest_path);
	vm->cmdline = strdup(cfg->cmdline ? cfg->cmdline : "");
	vm->initrd_path = cfg->initrd_path ? strdup(cfg->initrd_path) : NULL;
	if (!vm->guest_path || !vm->cmdline || (cfg->initrd_path && !vm->initrd_path)) {
		r = vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
		goto fail;
	}
	vm->cfg.guest_path = vm->guest_path;
	vm->cfg.cmdline = vm->cmdline;
	vm->cfg.initrd_path = vm->initrd_path;
	const struct vmm_machine *m = vm->cfg.machine == VMM_MACHINE_PC ||
		(vm->cfg.machine == VMM_MACHINE_AUTO && vm->guest.format == VMM_FORMAT_LINUX) ?
		&vmm_machine_pc : &vmm_machine_bare;

	struct vcr_mem_region ram = { .gpa = 0, .size = vm->cfg.mem_size, .flags = 0 };
	r = vmm_mem_add(vm, &ram, err);
	if (r)
		goto fail;
	/* The irqchip first: the CPUID table offers x2APIC and TSC-deadline
	 * only when the in-kernel LAPIC exists. */
	if (m->pc) {
		r = vmm_pc_create_irqchip(vm, err);
		if (r)
			goto fail;
	}
	r = vmm_cpuid_set(vm, NULL, 0, err);
	if (!r && cfg->cpuid)
		r = vmm_cpuid_spec_apply(vm, cfg->cpuid, err);
	if (r)
		goto fail;
	r = vmm_vcpus_create(vm, vm->cfg.nvcpus, err);
	if (r)
		goto fail;
	if (m->pc) {
		r = vmm_pc_setup_vcpus(vm, err);
		if (r)
			goto fail;
	}
	r = vmm_machine_create(vm, m, err);
	if (r)
		goto fail;
	*out = vm;
	return 0;
fail_probe:
	probe_free(&probe);
	return r;
fail:
	vmm_destroy(vm);
	return r;
}

/* On pc, a kernel that boots as on a PC (Linux, multiboot) starts on the BSP
 * alone and wakes its APs with INIT/SIPI through the in-kernel LAPIC; vcr's
 * own flat and ELF guests get every vCPU at the entry, as on bare. */
bool vmm_pc_aps_at_entry(const char *format_name)
{
	return format_name && (!strcmp(format_name, "flat") || !strcmp(format_name, "elf32") ||
			       !strcmp(format_name, "elf64"));
}

int vmm_load(struct vmm *vm, struct vcr_err *err)
{
	if (!vm->have_cfg)
		return vcr_err_set(err, -EINVAL, UINT64_MAX, "vmm_load needs vmm_create");
	if (vm->machine && vm->machine->pc && vmm_pc_aps_at_entry(vm->guest.format_name)) {
		int r = vmm_pc_start_aps(vm, err);
		if (r)
			return r;
	}
	if (vm->machine && vm->machine->pc && vmm_pc_has_bios(vm->guest.format_name)) {
		int r = vmm_pc_bios_write(vm);
		if (r)
			return vcr_err_set(err, r, UINT64_MAX, "cannot set up what a BIOS leaves "
					   "(vector table, PIT): %s", strerror(-r));
	}
	return vmm_loader_load(vm, err);
}

const uint8_t *vmm_image(const struct vmm *vm, uint64_t *size)
{
	*size = vm->image_size;
	return vm->image;
}

const struct vmm_config *vmm_get_config(const struct vmm *vm)
{
	return vm->have_cfg ? &vm->cfg : NULL;
}

const char *vmm_format_name(const struct vmm *vm)
{
	return vm->guest.format_name ? vm->guest.format_name : "none";
}

const char *vmm_mode_name(const struct vmm *vm)
{
	switch (vm->guest.mode) {
	case VMM_MODE_REAL: return "real";
	case VMM_MODE_PROT32: return "prot32";
	case VMM_MODE_LONG64: return "long64";
	default: return "none";
	}
}

const char *vmm_machine_name(const struct vmm *vm)
{
	return vm->machine ? vm->machine->name : "none";
}

const char *vmm_guest_cmdline(const struct vmm *vm)
{
	if (vm->linux_cmdline)
		return vm->linux_cmdline;
	return vm->cmdline ? vm->cmdline : "";
}

uint64_t vmm_entry(const struct vmm *vm)
{
	return vm->guest.entry;
}

void vmm_set_observer(struct vmm *vm, const struct vmm_observer *obs)
{
	if (obs)
		vm->obs = *obs;
	else
		memset(&vm->obs, 0, sizeof(vm->obs));
}

void vmm_set_debug_handler(struct vmm *vm, vmm_debug_fn fn, void *ctx)
{
	vm->dbg_fn = fn;
	vm->dbg_ctx = ctx;
}
