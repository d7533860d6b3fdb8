/*
 * vmm/kvm.c: the KVM layer (vmm.h, "low level"): every ioctl the VMM makes
 * on /dev/kvm, the VM and the vCPUs (open, memory slots, CPUID, vCPU
 * creation, KVM_RUN, guest debug), the register state in kvm_run->s.regs,
 * and tearing it all down. Guest memory access is vmm/mem.c.
 */
#include "vmm/dev.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define VMM_TSS_ADDR 0xfffbd000ull	/* 3 pages KVM needs on Intel, above RAM */

int vmm_open(struct vmm **out, struct vcr_err *err)
{
	struct vmm *vm;
	int r;

	*out = NULL;
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
	vm->kvm_fd = -1;
	vm->vm_fd = -1;
	pthread_mutex_init(&vm->end_lock, NULL);
	pthread_cond_init(&vm->end_cond, NULL);
	pthread_mutex_init(&vm->kick_lock, NULL);
	pthread_mutex_init(&vm->panic_lock, NULL);
	pthread_mutex_init(&vm->ckpt.lock, NULL);
	pthread_cond_init(&vm->ckpt.cond, NULL);
	atomic_init(&vm->ended, false);
	atomic_init(&vm->active, 0);
	atomic_init(&vm->unknown_io, 0);

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		r = -errno;
		if (r == -ENOENT)
			vcr_err_set(err, r, UINT64_MAX,
				    "/dev/kvm does not exist: KVM is not available on this "
				    "machine (run under tests/nested/kvm-run)");
		else
			vcr_err_set(err, r, UINT64_MAX, "cannot open /dev/kvm: %s", strerror(-r));
		goto fail;
	}
	r = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (r != KVM_API_VERSION) {
		r = vcr_err_set(err, -ENOTSUP, UINT64_MAX,
				"KVM API version %d, vcr needs %d", r, KVM_API_VERSION);
		goto fail;
	}
	vm->api_version = (uint32_t)r;
	r = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS);
	if (r < 0 || (r & VCR_CLASS_ALL) != VCR_CLASS_ALL) {
		r = vcr_err_set(err, -ENOTSUP, UINT64_MAX,
				"KVM_CAP_SYNC_REGS is %d, vcr needs regs|sregs|events (7)", r);
		goto fail;
	}
	vm->sync_mask = (uint32_t)r;
	r = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (r < (int)sizeof(struct kvm_run)) {
		r = vcr_err_set(err, r < 0 ? -errno : -EINVAL, UINT64_MAX,
				"KVM_GET_VCPU_MMAP_SIZE failed");
		goto fail;
	}
	vm->run_size = (size_t)r;
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		r = vcr_err_set(err, -errno, UINT64_MAX, "KVM_CREATE_VM: %s", strerror(errno));
		goto fail;
	}
	/* Intel needs a TSS area for real mode (api.rst, KVM_SET_TSS_ADDR);
	 * AMD accepts and ignores it. It lies above any RAM we map. */
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)VMM_TSS_ADDR) < 0) {
		r = vcr_err_set(err, -errno, UINT64_MAX, "KVM_SET_TSS_ADDR: %s", strerror(errno));
		goto fail;
	}
	*out = vm;
	return 0;
fail:
	vmm_destroy(vm);
	return r;
}

int vmm_mem_add(struct vmm *vm, const struct vcr_mem_region *r, struct vcr_err *err)
{
	uint64_t end;

	if (vm->nslots >= VMM_MAX_SLOTS)
		return vcr_err_set(err, -ENOSPC, UINT64_MAX, "too many memory slots");
	if (!r->size || (r->gpa | r->size) & 0xfff || vcr_add_overflow(r->gpa, r->size, &end))
		return vcr_err_set(err, -EINVAL, UINT64_MAX,
				   "bad memory region gpa=%#llx size=%#llx",
				   (unsigned long long)r->gpa, (unsigned long long)r->size);
	for (uint32_t i = 0; i < vm->nslots; i++) {
		const struct vcr_mem_region *o = &vm->slots[i].r;
		if (r->gpa < o->gpa + o->size && o->gpa < end)
			return vcr_err_set(err, -EINVAL, UINT64_MAX,
					   "memory region %#llx+%#llx overlaps slot %u",
					   (unsigned long long)r->gpa,
					   (unsigned long long)r->size, i);
	}
	void *host = mmap(NULL, r->size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (host == MAP_FAILED)
		return vcr_err_set(err, -errno, UINT64_MAX, "cannot map %llu bytes of guest memory: %s",
				   (unsigned long long)r->size, strerror(errno));
	struct kvm_userspace_memory_region kr = {
		.slot = vm->nslots,
		.flags = r->flags,
		.guest_phys_addr = r->gpa,
		.memory_size = r->size,
		.userspace_addr = (uint64_t)(uintptr_t)host,
	};
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &kr) < 0) {
		int e = -errno;
		munmap(host, r->size);
		return vcr_err_set(err, e, UINT64_MAX, "KVM_SET_USER_MEMORY_REGION: %s",
				   strerror(-e));
	}
	vm->slots[vm->nslots].r = *r;
	vm->slots[vm->nslots].host = host;
	vm->regions[vm->nslots] = *r;
	vm->nslots++;
	return 0;
}

int vmm_dirty_log_enable(struct vmm *vm, struct vcr_err *err)
{
	/* Manual protection before the slots log: without
	 * KVM_DIRTY_LOG_INITIALLY_SET, so the first log holds what the guest
	 * wrote since now, as without it. A host that does not offer it (or
	 * refuses it) keeps KVM_GET_DIRTY_LOG's clearing. */
	int caps = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
	if (caps > 0 && (caps & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE)) {
		struct kvm_enable_cap ec = {
			.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
			.args = { KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE },
		};
		vm->ckpt.manual_protect = ioctl(vm->vm_fd, KVM_ENABLE_CAP, &ec) == 0;
	}
	for (uint32_t i = 0; i < vm->nslots; i++) {
		struct kvm_userspace_memory_region kr = {
			.slot = i,
			.flags = vm->slots[i].r.flags | KVM_MEM_LOG_DIRTY_PAGES,
			.guest_phys_addr = vm->slots[i].r.gpa,
			.memory_size = vm->slots[i].r.size,
			.userspace_addr = (uint64_t)(uintptr_t)vm->slots[i].host,
		};
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &kr) < 0) {
			int e = -errno;
			/* Put back the slots already changed. */
			while (i-- > 0) {
				kr.slot = i;
				kr.flags = vm->slots[i].r.flags;
				kr.guest_phys_addr = vm->slots[i].r.gpa;
				kr.memory_size = vm->slots[i].r.size;
				kr.userspace_addr = (uint64_t)(uintptr_t)vm->slots[i].host;
				ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &kr);
			}
			if (vm->ckpt.manual_protect) {
				struct kvm_enable_cap ec = { .cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 };
				ioctl(vm->vm_fd, KVM_ENABLE_CAP, &ec);
				vm->ckpt.manual_protect = false;
			}
			return vcr_err_set(err, e, UINT64_MAX,
					   "KVM_SET_USER_MEMORY_REGION with KVM_MEM_LOG_DIRTY_PAGES: %s",
					   strerror(-e));
		}
	}
	vm->ckpt.dirty_log = true;
	return 0;
}

bool vmm_dirty_log_enabled(const struct vmm *vm)
{
	return vm->ckpt.dirty_log;
}

const char *vmm_dirty_log_mode(const struct vmm *vm)
{
	if (!vm->ckpt.dirty_log)
		return NULL;
	return vm->ckpt.manual_protect ? "clear-dirty-log" : "get-dirty-log";
}

int vmm_dirty_log_get(struct vmm *vm, uint32_t slot, uint64_t *bitmap)
{
	if (slot >= vm->nslots || !vm->ckpt.dirty_log)
		return -EINVAL;
	struct kvm_dirty_log dl = { .slot = slot, .dirty_bitmap = bitmap };
	if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &dl) < 0)
		return -errno;
	if (!vm->ckpt.manual_protect)
		return 0;
	/* The whole slot: num_pages may be any count when the range ends at
	 * the slot's end (api.rst, KVM_CLEAR_DIRTY_LOG); set bits only are
	 * cleared and protected again. */
	struct kvm_clear_dirty_log cl = {
		.slot = slot, .first_page = 0,
		.num_pages = (uint32_t)(vm->slots[slot].r.size / 4096), .dirty_bitmap = bitmap,
	};
	if (ioctl(vm->vm_fd, KVM_CLEAR_DIRTY_LOG, &cl) < 0)
		return -errno;
	return 0;
}

uint8_t *vmm_mem_slot_host(struct vmm *vm, uint32_t slot)
{
	return slot < vm->nslots ? vm->slots[slot].host : NULL;
}

const struct vcr_mem_region *vmm_mem_regions(const struct vmm *vm, uint32_t *n)
{
	*n = vm->nslots;
	return vm->regions;
}

int vmm_kvm_cpuid_get(int fd, unsigned long req, uint32_t first, uint32_t max,
		      struct kvm_cpuid2 **out)
{
	/* The kernel says E2BIG until the buffer is large enough. */
	for (uint32_t cap = first; ; cap *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + (size_t)cap * sizeof(c->entries[0]));
		if (!c)
			return -ENOMEM;
		c->nent = cap;
		if (ioctl(fd, req, c) == 0) {
			*out = c;
			return 0;
		}
		int e = errno;
		free(c);
		if (e != E2BIG || cap >= max)
			return -e;
	}
}

int vmm_cpuid_set(struct vmm *vm, const struct kvm_cpuid_entry2 *entries, uint32_t n,
		  struct vcr_err *err)
{
	struct kvm_cpuid2 *c = NULL;

	if (vm->nvcpus)
		return vcr_err_set(err, -EBUSY, UINT64_MAX, "CPUID must be set before vCPUs exist");
	if (entries) {
		if (n > 4096)
			return vcr_err_set(err, -EINVAL, UINT64_MAX, "%u CPUID entries is too many", n);
		c = calloc(1, sizeof(*c) + (size_t)n * sizeof(c->entries[0]));
		if (!c)
			return vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
		c->nent = n;
		memcpy(c->entries, entries, (size_t)n * sizeof(c->entries[0]));
	} else {
		int e = vmm_kvm_cpuid_get(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, 128, 4096, &c);
		if (e)
			return vcr_err_set(err, e, UINT64_MAX, "KVM_GET_SUPPORTED_CPUID: %s",
					   strerror(-e));
		/* x2APIC and TSC-deadline exist only in KVM's in-kernel LAPIC
		 * (api.rst, KVM_GET_SUPPORTED_CPUID): without the pc machine's
		 * irqchip (made before this call) a guest that trusted them
		 * would #GP on the MSRs; with it they are KVM's, as QEMU gives
		 * them (kvm-unit-tests' x2apic and tsc-deadline tests). Before
		 * Linux 6.13 or so KVM_GET_SUPPORTED_CPUID never reports
		 * TSC-deadline (it depends on the irqchip): the capability
		 * KVM_CAP_TSC_DEADLINE_TIMER says it, and QEMU sets the bit from
		 * it; so do we (the nested L1's 6.1 KVM: apic.flat skipped its
		 * TSC-deadline test without it; the 6.18 PVM reports both). */
		bool tscdl = vm->irqchip &&
			     ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
		for (uint32_t i = 0; i < c->nent; i++)
			if (c->entries[i].function == 1) {
				c->entries[i].ecx |= 1u << 31;	/* hypervisor present */
				if (!vm->irqchip)
					c->entries[i].ecx &= ~(1u << 21 | 1u << 24);
				else if (tscdl)
					c->entries[i].ecx |= 1u << 24;
			}
	}
	free(vm->cpuid);
	vm->cpuid = c;
	return 0;
}

const struct kvm_cpuid_entry2 *vmm_cpuid(const struct vmm *vm, uint32_t *n)
{
	*n = vm->cpuid ? vm->cpuid->nent : 0;
	return vm->cpuid ? vm->cpuid->entries : NULL;
}

/* CPUID as vCPU `index` sees it: its own APIC id in leaves 1 and 0xb/0x1f. */
static int vcpu_set_cpuid(struct vmm *vm, struct vmm_vcpu *c)
{
	size_t sz = sizeof(*vm->cpuid) + vm->cpuid->nent * sizeof(vm->cpuid->entries[0]);
	struct kvm_cpuid2 *mine = malloc(sz);
	int r = 0;

	if (!mine)
		return -ENOMEM;
	memcpy(mine, vm->cpuid, sz);
	for (uint32_t i = 0; i < mine->nent; i++) {
		struct kvm_cpuid_entry2 *e = &mine->entries[i];
		if (e->function == 1)
			e->ebx = (e->ebx & 0x00ffffffu) | (c->index << 24);
		else if (e->function == 0xb || e->function == 0x1f)
			e->edx = c->index;
	}
	if (ioctl(c->fd, KVM_SET_CPUID2, mine) < 0)
		r = -errno;
	free(mine);
	return r;
}

int vmm_vcpus_create(struct vmm *vm, uint32_t n, struct vcr_err *err)
{
	int r;

	if (vm->nvcpus)
		return vcr_err_set(err, -EBUSY, UINT64_MAX, "vCPUs already created");
	if (n == 0 || n > VMM_MAX_VCPUS)
		return vcr_err_set(err, -EINVAL, UINT64_MAX, "%u vCPUs: must be 1..%d",
				   n, VMM_MAX_VCPUS);
	if (!vm->cpuid) {
		r = vmm_cpuid_set(vm, NULL, 0, err);
		if (r)
			return r;
	}
	vm->vcpus = calloc(n, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
	for (uint32_t i = 0; i < n; i++) {
		vm->vcpus[i].fd = -1;
		vm->vcpus[i].vm = vm;
		vm->vcpus[i].index = i;
		atomic_init(&vm->vcpus[i].kick_pending, false);
		atomic_init(&vm->vcpus[i].probe, false);
		atomic_init(&vm->vcpus[i].probe_result, 0);
	}
	vm->nvcpus = n;	/* from here vmm_destroy cleans up every entry */
	for (uint32_t i = 0; i < n; i++) {
		struct vmm_vcpu *c = &vm->vcpus[i];
		c->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)i);
		if (c->fd < 0)
			return vcr_err_set(err, -errno, UINT64_MAX, "KVM_CREATE_VCPU %u: %s",
					   i, strerror(errno));
		void *p = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
		if (p == MAP_FAILED)
			return vcr_err_set(err, -errno, UINT64_MAX, "mmap kvm_run of vCPU %u: %s",
					   i, strerror(errno));
		c->run = p;
		r = vcpu_set_cpuid(vm, c);
		if (r)
			return vcr_err_set(err, r, UINT64_MAX, "KVM_SET_CPUID2 on vCPU %u: %s",
					   i, strerror(-r));
		r = vmm_hyperv_vcpu(vm, c);
		if (r)
			return vcr_err_set(err, r, UINT64_MAX, "the Hyper-V SynIC on vCPU %u "
					   "(KVM_CAP_HYPERV_SYNIC2): %s", i, strerror(-r));
		/* Fill s.regs once, so that it always holds the vCPU's state and a
		 * loader can edit it and mark it dirty (no KVM_SET_* later). */
		struct kvm_sync_regs *s = &c->run->s.regs;
		if (ioctl(c->fd, KVM_GET_REGS, &s->regs) < 0 ||
		    ioctl(c->fd, KVM_GET_SREGS, &s->sregs) < 0 ||
		    ioctl(c->fd, KVM_GET_VCPU_EVENTS, &s->events) < 0)
			return vcr_err_set(err, -errno, UINT64_MAX, "reading vCPU %u state: %s",
					   i, strerror(errno));
		c->run->kvm_valid_regs = VCR_CLASS_ALL;
		c->run->kvm_dirty_regs = 0;
	}
	return 0;
}

uint32_t vmm_nvcpus(const struct vmm *vm) { return vm->nvcpus; }
int vmm_kvm_fd(const struct vmm *vm) { return vm->kvm_fd; }
int vmm_vm_fd(const struct vmm *vm) { return vm->vm_fd; }
uint32_t vmm_api_version(const struct vmm *vm) { return vm->api_version; }
uint32_t vmm_sync_regs_mask(const struct vmm *vm) { return vm->sync_mask; }
size_t vmm_run_size(const struct vmm *vm) { return vm->run_size; }

int vmm_vcpu_fd(const struct vmm *vm, uint32_t vcpu)
{
	return vcpu < vm->nvcpus ? vm->vcpus[vcpu].fd : -1;
}

struct kvm_run *vmm_vcpu_run_page(const struct vmm *vm, uint32_t vcpu)
{
	return vcpu < vm->nvcpus ? vm->vcpus[vcpu].run : NULL;
}

int vmm_vcpu_run_once(struct vmm *vm, uint32_t vcpu)
{
	struct vmm_vcpu *c;
	struct kvm_run *run;

	if (vcpu >= vm->nvcpus)
		return -EINVAL;
	c = &vm->vcpus[vcpu];
	run = c->run;
	/* Guest debug must be given again before every KVM_RUN while single
	 * stepping (NESTED-KVM.md: otherwise the step flag is lost under SVM). */
	if (c->dbg_dirty || (c->dbg.control & KVM_GUESTDBG_SINGLESTEP)) {
		if (ioctl(c->fd, KVM_SET_GUEST_DEBUG, &c->dbg) < 0)
			return -errno;
		c->dbg_dirty = false;
	}
	run->kvm_valid_regs = VCR_CLASS_ALL;
	if (ioctl(c->fd, KVM_RUN, 0) < 0) {
		int e = -errno;
		/* With immediate_exit KVM returns -EINTR without touching
		 * exit_reason; make it say what happened. */
		if (e == -EINTR)
			run->exit_reason = KVM_EXIT_INTR;
		return e;
	}
	/* Answered here, for a run and a replay alike (vmm/hyperv.c). */
	if (run->exit_reason == KVM_EXIT_HYPERV)
		vmm_hyperv_exit(run);
	return 0;
}

int vmm_vcpu_get_state(struct vmm *vm, uint32_t vcpu, struct vcr_vcpu_state *st)
{
	if (vcpu >= vm->nvcpus)
		return -EINVAL;
	const struct kvm_sync_regs *s = &vm->vcpus[vcpu].run->s.regs;
	st->regs = s->regs;
	st->sregs = s->sregs;
	st->events = s->events;
	vcr_state_normalize(st);
	return 0;
}

int vmm_vcpu_set_state(struct vmm *vm, uint32_t vcpu, const struct vcr_vcpu_state *st,
		       unsigned mask)
{
	if (vcpu >= vm->nvcpus || (mask & ~(unsigned)VCR_CLASS_ALL))
		return -EINVAL;
	struct kvm_run *run = vm->vcpus[vcpu].run;
	struct kvm_sync_regs *s = &run->s.regs;
	if (mask & VCR_CLASS_REGS)
		s->regs = st->regs;
	if (mask & VCR_CLASS_SREGS)
		s->sregs = st->sregs;
	if (mask & VCR_CLASS_EVENTS)
		s->events = st->events;
	run->kvm_dirty_regs |= mask;
	return 0;
}

int vmm_vcpu_set_guest_debug(struct vmm *vm, uint32_t vcpu, const struct kvm_guest_debug *dbg)
{
	if (vcpu >= vm->nvcpus)
		return -EINVAL;
	vm->vcpus[vcpu].dbg = *dbg;
	vm->vcpus[vcpu].dbg_dirty = true;
	return 0;
}

void vmm_destroy(struct vmm *vm)
{
	if (!vm)
		return;
	vmm_machine_destroy(vm);
	for (uint32_t i = 0; i < vm->nvcpus; i++) {
		struct vmm_vcpu *c = &vm->vcpus[i];
		if (c->run)
			munmap(c->run, vm->run_size);
		if (c->fd >= 0)
			close(c->fd);
	}
	free(vm->vcpus);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	for (uint32_t i = 0; i < vm->nslots; i++)
		munmap(vm->slots[i].host, vm->slots[i].r.size);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	free(vm->cpuid);
	free(vm->image);
	free(vm->initrd);
	free(vm->initrd_path);
	free(vm->linux_cmdline);
	free(vm->guest_path);
	free(vm->cmdline);
	pthread_mutex_destroy(&vm->end_lock);
	pthread_cond_destroy(&vm->end_cond);
	pthread_mutex_destroy(&vm->kick_lock);
	pthread_mutex_destroy(&vm->ckpt.lock);
	pthread_cond_destroy(&vm->ckpt.cond);
	pthread_mutex_destroy(&vm->panic_lock);
	free(vm);
}
