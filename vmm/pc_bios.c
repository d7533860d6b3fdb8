/*
 * vmm/pc_bios.c: what a BIOS leaves in memory for a kernel the pc machine
 * boots as on a PC through multiboot (QEMU boots them through SeaBIOS): a
 * real-mode interrupt vector table whose every entry points at a stub in
 * the legacy hole, the hardware IRQ vectors (0x08-0x0f, 0x70-0x77, where
 * the 8259s are left: kvm_pc.c) at stubs that send the PIC its EOI. So a
 * kernel that drops to real mode and waits in HLT for the BIOS's timer tick
 * (kvm-unit-tests' realmode) is woken and goes on, instead of jumping
 * through a zero vector; and the PIT's channel 0 counting as the BIOS left
 * it (mode 3, count 65536: 18.2 Hz on IRQ 0), where KVM creates it stopped.
 * Linux kernels (64-bit entry) get none of it; the image is loaded after,
 * so a kernel linked over the table wins.
 */
#include "vmm/dev.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#define BIOS_STUBS	0xf0000u	/* segment 0xf000, offset 0 */
#define IVT_ENTRIES	256u

int vmm_pc_bios_write(struct vmm *vm)
{
	static const uint8_t stubs[] = {
		/* 0: any other vector */
		0xcf,					/* iret */
		/* 1: IRQ 0-7 */
		0x50, 0xb0, 0x20, 0xe6, 0x20,		/* push ax; mov al,0x20; out 0x20,al */
		0x58, 0xcf,				/* pop ax; iret */
		/* 8: IRQ 8-15 */
		0x50, 0xb0, 0x20, 0xe6, 0xa0, 0xe6, 0x20,	/* ... out 0xa0,al; out 0x20,al */
		0x58, 0xcf,
	};
	uint8_t ivt[IVT_ENTRIES * 4];

	for (uint32_t v = 0; v < IVT_ENTRIES; v++) {
		uint16_t off = v >= 0x08 && v <= 0x0f ? 1 : v >= 0x70 && v <= 0x77 ? 8 : 0;
		uint16_t seg = BIOS_STUBS >> 4;
		memcpy(&ivt[v * 4], &off, 2);
		memcpy(&ivt[v * 4 + 2], &seg, 2);
	}
	int r = vmm_mem_write(vm, BIOS_STUBS, stubs, sizeof(stubs));
	if (!r)
		r = vmm_mem_write(vm, 0, ivt, sizeof(ivt));
	return r ? r : vmm_pc_bios_timer(vm);
}

/* The timer as the BIOS left it: KVM state, not memory, so a replay sets it
 * again (vmm_pc_replay_bios) where the trace's memory records bring the
 * table. */
int vmm_pc_bios_timer(struct vmm *vm)
{
	struct kvm_pit_state2 pit;
	if (ioctl(vm->vm_fd, KVM_GET_PIT2, &pit) < 0)
		return -errno;
	pit.channels[0].count = 0;		/* 65536 */
	pit.channels[0].mode = 3;		/* square wave */
	pit.channels[0].rw_mode = 3;		/* LSB then MSB */
	pit.channels[0].write_state = 3;
	pit.channels[0].read_state = 3;
	pit.channels[0].bcd = 0;
	pit.channels[0].gate = 1;
	if (ioctl(vm->vm_fd, KVM_SET_PIT2, &pit) < 0)	/* loads the count: it runs */
		return -errno;
	return 0;
}

bool vmm_pc_has_bios(const char *format_name)
{
	return format_name && !strcmp(format_name, "multiboot");
}

int vmm_pc_replay_bios(struct vmm *vm)
{
	return vmm_pc_bios_timer(vm);
}
