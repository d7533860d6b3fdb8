/*
 * vmm/dev_pctestdev.c: QEMU's pc-testdev (hw/misc/pc-testdev.c), the device
 * kvm-unit-tests' x86 tests talk to:
 *   0xe0-0xe3  a 32-bit scratch register: a write of n bytes at 0xe0 + k
 *              sets its bytes k..k+n-1, a read returns them (0 past its end)
 *   0xe4-0xe7  flush page: a write of a guest-physical address makes the
 *              host drop KVM's mappings of that page (mprotect off and on,
 *              as QEMU does), so the guest's next access faults in afresh
 *   0xe8-0xeb  the scratch register again, byte by byte
 *   0xff000000 64 KiB of MMIO buffer: what is written there reads back
 *   0x2000-0x2017  IRQ lines (pc machine only: they need the in-kernel
 *              irqchip): a write to 0x2000 + n sets line n (the ISA IRQ /
 *              IOAPIC pin, 0-23) to (value != 0), through vmm_irq_line,
 *              so the recorder keeps each change (an IRQ_LINE record)
 *
 * State: the register and buffer are the device's, shared by all vCPUs
 * under a lock. Reads are answered only through `data` (the bus's seam),
 * so a recorded run's replay gets the same bytes without this device.
 */
#include "vmm/dev.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define PCT_PORT_SCRATCH	0xe0
#define PCT_PORT_FLUSH		0xe4
#define PCT_PORT_SCRATCH_BYTE	0xe8
#define PCT_IOMEM_BASE		0xff000000ull
#define PCT_IOMEM_SIZE		0x10000ull
#define PCT_PAGE		4096ull
#define PCT_PORT_IRQ		0x2000
#define PCT_NIRQ		24

struct pctestdev {
	pthread_mutex_t lock;
	uint8_t scratch[4];
	uint8_t iomem[PCT_IOMEM_SIZE];
};

static int pct_scratch_access(void *opaque, struct vmm_vcpu *c, uint64_t off, uint8_t *data,
			      uint32_t size, bool is_write)
{
	struct pctestdev *p = ((struct vmm_dev *)opaque)->state;

	(void)c;
	pthread_mutex_lock(&p->lock);
	for (uint32_t i = 0; i < size && off + i < sizeof(p->scratch); i++) {
		if (is_write)
			p->scratch[off + i] = data[i];
		else
			data[i] = p->scratch[off + i];
	}
	pthread_mutex_unlock(&p->lock);
	return VMM_BUS_CONTINUE;
}

static int pct_flush_access(void *opaque, struct vmm_vcpu *c, uint64_t off, uint8_t *data,
			    uint32_t size, bool is_write)
{
	struct vmm *vm = ((struct vmm_dev *)opaque)->vm;
	uint32_t gpa = 0;

	(void)c;
	if (!is_write || off)
		return VMM_BUS_CONTINUE;
	memcpy(&gpa, data, size < 4 ? size : 4);
	/* RAM slots are mmap'ed, so a page of guest memory is a host page. */
	void *host = vmm_mem_ptr(vm, gpa & ~(PCT_PAGE - 1), PCT_PAGE);
	if (host) {
		mprotect(host, PCT_PAGE, PROT_NONE);
		mprotect(host, PCT_PAGE, PROT_READ | PROT_WRITE);
	}
	return VMM_BUS_CONTINUE;
}

static int pct_iomem_access(void *opaque, struct vmm_vcpu *c, uint64_t off, uint8_t *data,
			    uint32_t size, bool is_write)
{
	struct pctestdev *p = ((struct vmm_dev *)opaque)->state;

	(void)c;
	pthread_mutex_lock(&p->lock);	/* the bus checked off + size <= the range */
	if (is_write)
		memcpy(p->iomem + off, data, size);
	else
		memcpy(data, p->iomem + off, size);
	pthread_mutex_unlock(&p->lock);
	return VMM_BUS_CONTINUE;
}

static int pct_irq_access(void *opaque, struct vmm_vcpu *c, uint64_t off, uint8_t *data,
			  uint32_t size, bool is_write)
{
	struct vmm *vm = ((struct vmm_dev *)opaque)->vm;
	uint32_t level = 0;

	if (!is_write)
		return VMM_BUS_CONTINUE;	/* reads give 0, as QEMU's (write-only) */
	for (uint32_t i = 0; i < size; i++)
		level |= data[i];
	/* One line per port, as QEMU's: a wider write sets the line at its
	 * address only. A failing KVM_IRQ_LINE has nobody to tell but the
	 * guest, whose test then fails on the interrupt it does not get. */
	(void)vmm_irq_line(vm, c->index, (uint32_t)off, level != 0);
	return VMM_BUS_CONTINUE;
}

static int pct_create(struct vmm_dev *dev, struct vcr_err *err)
{
	static const struct {
		enum vmm_bus_space space;
		uint64_t base, len;
		vmm_bus_fn fn;
		const char *name;
	} ranges[] = {
		{ VMM_BUS_PIO, PCT_PORT_SCRATCH, 4, pct_scratch_access, "pc-testdev-ioport" },
		{ VMM_BUS_PIO, PCT_PORT_FLUSH, 4, pct_flush_access, "pc-testdev-flush-page" },
		{ VMM_BUS_PIO, PCT_PORT_SCRATCH_BYTE, 4, pct_scratch_access,
		  "pc-testdev-ioport-byte" },
		{ VMM_BUS_MMIO, PCT_IOMEM_BASE, PCT_IOMEM_SIZE, pct_iomem_access, "pc-testdev" },
	};
	struct pctestdev *p = calloc(1, sizeof(*p));

	if (!p)
		return vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
	pthread_mutex_init(&p->lock, NULL);
	dev->state = p;
	for (size_t i = 0; i < VCR_ARRAY_SIZE(ranges); i++) {
		int r = vmm_bus_register(&dev->vm->bus, ranges[i].space, ranges[i].base,
					 ranges[i].len, ranges[i].fn, dev, ranges[i].name);
		if (r)
			return vcr_err_set(err, r, UINT64_MAX, "pc-testdev: cannot claim %s %#llx",
					   ranges[i].space == VMM_BUS_PIO ? "port" : "MMIO",
					   (unsigned long long)ranges[i].base);
	}
	if (dev->vm->machine && dev->vm->machine->pc) {
		int r = vmm_bus_register(&dev->vm->bus, VMM_BUS_PIO, PCT_PORT_IRQ, PCT_NIRQ,
					 pct_irq_access, dev, "pc-testdev-irq-line");
		if (r)
			return vcr_err_set(err, r, UINT64_MAX,
					   "pc-testdev: cannot claim ports %#x-%#x", PCT_PORT_IRQ,
					   PCT_PORT_IRQ + PCT_NIRQ - 1);
	}
	return 0;
}

static void pct_destroy(struct vmm_dev *dev)
{
	struct pctestdev *p = dev->state;

	if (!p)
		return;
	pthread_mutex_destroy(&p->lock);
	free(p);
	dev->state = NULL;
}

const struct vmm_dev_type vmm_dev_pctestdev = {
	.name = "pc-testdev",
	.create = pct_create,
	.destroy = pct_destroy,
};
