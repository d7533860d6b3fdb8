/*
 * vmm/kvm_pc.c: the pc machine's part of the KVM layer (vmm_int.h): the
 * in-kernel irqchip (PIC, IOAPIC, one LAPIC per vCPU) and PIT, made before
 * the vCPUs; the per-vCPU state firmware would leave behind (MSRs, FPU,
 * LAPIC LINT0/LINT1 wiring), made once after them; interrupt lines
 * (KVM_IRQ_LINE, told to the observer) and KVM_GET_MP_STATE for the halt
 * watchdog. The bare machine calls none of it.
 *
 * The initial MSR and LAPIC values are the ones kvmtool and Firecracker give
 * a Linux guest: a kernel entered at its 64-bit entry finds them as a BIOS
 * would leave them (fast strings on, MTRRs default write-back, the LAPIC in
 * virtual-wire mode so the 8259's INTR reaches the BSP through LINT0).
 */
#include "vmm/dev.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define MSR_IA32_TSC		0x10
#define MSR_IA32_SYSENTER_CS	0x174
#define MSR_IA32_SYSENTER_ESP	0x175
#define MSR_IA32_SYSENTER_EIP	0x176
#define MSR_IA32_MISC_ENABLE	0x1a0
#define MSR_MTRR_DEF_TYPE	0x2ff
#define MSR_STAR		0xc0000081
#define MSR_LSTAR		0xc0000082
#define MSR_CSTAR		0xc0000083
#define MSR_SYSCALL_MASK	0xc0000084
#define MSR_KERNEL_GS_BASE	0xc0000102

#define MISC_ENABLE_FAST_STRING	(1ull << 0)
#define MTRR_DEF_ENABLE		(1ull << 11)
#define MTRR_TYPE_WB		6ull

#define APIC_LVT0		0x350
#define APIC_LVT1		0x360
#define APIC_MODE_NMI		4u
#define APIC_MODE_EXTINT	7u

/*
 * The 8259s as a BIOS leaves them (SeaBIOS's pic_reset, then its timer
 * enabled): initialized, IRQs 0-7 at vectors 0x08-0x0f and 8-15 at
 * 0x70-0x77, every line masked but the timer (IRQ 0, the PIT KVM starts at
 * 18.2 Hz) and the cascade; pc_bios.c's vector table serves them in real
 * mode. KVM creates them zeroed: vector base 0 and nothing masked, so a
 * line a device raises for the IOAPIC (pc-testdev's, the UART's) would also
 * reach the BSP through LINT0 as an ExtINT at vector 0-15, an exception
 * vector, and stay in service there forever. A kernel programs its PICs
 * itself (Linux masks them); a guest that does not gets the BIOS's state.
 */
static int init_pics(struct vmm *vm, struct vcr_err *err)
{
	static const struct { uint32_t chip; uint8_t base, imr; } pics[] = {
		{ KVM_IRQCHIP_PIC_MASTER, 0x08, 0xfa },
		{ KVM_IRQCHIP_PIC_SLAVE, 0x70, 0xff },
	};

	for (size_t i = 0; i < VCR_ARRAY_SIZE(pics); i++) {
		struct kvm_irqchip c = { .chip_id = pics[i].chip };
		if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &c) < 0)
			return vcr_err_set(err, -errno, UINT64_MAX, "KVM_GET_IRQCHIP (PIC %u): %s",
					   pics[i].chip, strerror(errno));
		c.chip.pic.irq_base = pics[i].base;
		c.chip.pic.imr = pics[i].imr;
		c.chip.pic.init_state = 0;	/* ICW1-ICW4 done */
		c.chip.pic.init4 = 1;		/* 8086 mode (ICW4) */
		if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &c) < 0)
			return vcr_err_set(err, -errno, UINT64_MAX, "KVM_SET_IRQCHIP (PIC %u): %s",
					   pics[i].chip, strerror(errno));
	}
	return 0;
}

int vmm_pc_create_irqchip(struct vmm *vm, struct vcr_err *err)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };

	if (vm->nvcpus)
		return vcr_err_set(err, -EBUSY, UINT64_MAX,
				   "the irqchip must be created before the vCPUs");
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return vcr_err_set(err, -errno, UINT64_MAX, "KVM_CREATE_IRQCHIP: %s",
				   strerror(errno));
	/* SPEAKER_DUMMY: KVM also answers port 0x61 (the PIT channel 2 gate
	 * Linux's PIT calibration reads). */
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return vcr_err_set(err, -errno, UINT64_MAX, "KVM_CREATE_PIT2: %s",
				   strerror(errno));
	vm->irqchip = true;
	return init_pics(vm, err);
}

static int set_msrs(struct vmm_vcpu *c, struct vcr_err *err)
{
	static const struct { uint32_t index; uint64_t value; } init[] = {
		{ MSR_IA32_SYSENTER_CS, 0 },
		{ MSR_IA32_SYSENTER_ESP, 0 },
		{ MSR_IA32_SYSENTER_EIP, 0 },
		{ MSR_STAR, 0 },
		{ MSR_CSTAR, 0 },
		{ MSR_KERNEL_GS_BASE, 0 },
		{ MSR_SYSCALL_MASK, 0 },
		{ MSR_LSTAR, 0 },
		{ MSR_IA32_TSC, 0 },
		{ MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING },
		{ MSR_MTRR_DEF_TYPE, MTRR_DEF_ENABLE | MTRR_TYPE_WB },
	};
	enum { N = VCR_ARRAY_SIZE(init) };
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[N];
	} m;
	int r;

	memset(&m, 0, sizeof(m));
	m.hdr.nmsrs = N;
	for (unsigned i = 0; i < N; i++) {
		m.e[i].index = init[i].index;
		m.e[i].data = init[i].value;
	}
	/* KVM_SET_MSRS stops at the first MSR it refuses and returns how many
	 * it set: name that one. */
	r = ioctl(c->fd, KVM_SET_MSRS, &m);
	if (r < 0)
		return vcr_err_set(err, -errno, UINT64_MAX, "KVM_SET_MSRS on vcpu %u: %s",
				   c->index, strerror(errno));
	if (r < N)
		return vcr_err_set(err, -EINVAL, UINT64_MAX,
				   "KVM_SET_MSRS on vcpu %u: KVM refused MSR %#x (value %#llx)",
				   c->index, init[r].index, (unsigned long long)init[r].value);
	return 0;
}

static int set_fpu(struct vmm_vcpu *c, struct vcr_err *err)
{
	struct kvm_fpu fpu;

	memset(&fpu, 0, sizeof(fpu));
	fpu.fcw = 0x37f;	/* FNINIT: all exceptions masked, 64-bit precision */
	fpu.mxcsr = 0x1f80;	/* SSE exceptions masked */
	if (ioctl(c->fd, KVM_SET_FPU, &fpu) < 0)
		return vcr_err_set(err, -errno, UINT64_MAX, "KVM_SET_FPU on vcpu %u: %s",
				   c->index, strerror(errno));
	return 0;
}

static void lvt_mode(struct kvm_lapic_state *l, unsigned reg, uint32_t mode)
{
	uint32_t v;

	memcpy(&v, l->regs + reg, sizeof(v));
	v = (v & ~0x700u) | mode << 8;
	memcpy(l->regs + reg, &v, sizeof(v));
}

static int set_lapic(struct vmm_vcpu *c, struct vcr_err *err)
{
	struct kvm_lapic_state l;

	if (ioctl(c->fd, KVM_GET_LAPIC, &l) < 0)
		return vcr_err_set(err, -errno, UINT64_MAX, "KVM_GET_LAPIC on vcpu %u: %s",
				   c->index, strerror(errno));
	lvt_mode(&l, APIC_LVT0, APIC_MODE_EXTINT);
	lvt_mode(&l, APIC_LVT1, APIC_MODE_NMI);
	if (ioctl(c->fd, KVM_SET_LAPIC, &l) < 0)
		return vcr_err_set(err, -errno, UINT64_MAX, "KVM_SET_LAPIC on vcpu %u: %s",
				   c->index, strerror(errno));
	return 0;
}

int vmm_pc_setup_vcpus(struct vmm *vm, struct vcr_err *err)
{
	for (uint32_t i = 0; i < vm->nvcpus; i++) {
		struct vmm_vcpu *c = &vm->vcpus[i];
		int r = set_msrs(c, err);
		if (!r)
			r = set_fpu(c, err);
		if (!r)
			r = set_lapic(c, err);
		if (r)
			return r;
	}
	return 0;
}

int vmm_irq_line(struct vmm *vm, uint32_t vcpu, uint32_t gsi, uint32_t level)
{
	struct kvm_irq_level l = { .irq = gsi, .level = level };

	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &l) < 0)
		return -errno;
	if (vm->obs.irq_line)
		vm->obs.irq_line(vm->obs.ctx, vcpu, gsi, level);
	return 0;
}

int vmm_vcpu_mp_state(struct vmm *vm, uint32_t vcpu, uint32_t *state)
{
	struct kvm_mp_state mp;

	if (vcpu >= vm->nvcpus)
		return -EINVAL;
	if (ioctl(vm->vcpus[vcpu].fd, KVM_GET_MP_STATE, &mp) < 0)
		return -errno;
	*state = mp.mp_state;
	return 0;
}

int vmm_pc_start_aps(struct vmm *vm, struct vcr_err *err)
{
	struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_RUNNABLE };

	for (uint32_t i = 1; i < vm->nvcpus; i++)
		if (ioctl(vm->vcpus[i].fd, KVM_SET_MP_STATE, &mp) < 0)
			return vcr_err_set(err, -errno, UINT64_MAX,
					   "KVM_SET_MP_STATE on vcpu %u: %s", i, strerror(errno));
	return 0;
}

int vmm_pc_replay_irqchip(struct vmm *vm, struct vcr_err *err)
{
	return vmm_pc_create_irqchip(vm, err);
}

int vmm_pc_replay_vcpus(struct vmm *vm, bool aps_runnable, struct vcr_err *err)
{
	int r = vmm_pc_setup_vcpus(vm, err);

	if (!r && aps_runnable)
		r = vmm_pc_start_aps(vm, err);
	return r;
}

int vmm_pc_replay_irq(struct vmm *vm, uint32_t gsi, uint32_t level)
{
	struct kvm_irq_level l = { .irq = gsi, .level = level };

	return ioctl(vm->vm_fd, KVM_IRQ_LINE, &l) < 0 ? -errno : 0;
}
