/*
 * vmm/mptable.c: the Intel MultiProcessor Specification 1.4 table of the pc
 * machine (vmm_int.h): how a kernel booted with acpi=off learns its CPUs
 * (one processor entry per vCPU, APIC id = vCPU index, vCPU 0 the BSP), the
 * ISA bus, the IOAPIC KVM_CREATE_IRQCHIP emulates at 0xfec00000, ISA IRQs
 * 0-15 on IOAPIC pins 0-15 (KVM's default GSI routing; kvmtool does the
 * same), and LINT0 ExtINT / LINT1 NMI on every LAPIC (virtual wire, matching
 * vmm/kvm_pc.c's LVT setup).
 *
 * The floating pointer is at VMM_MPTABLE_BASE (0xf0000, inside the BIOS
 * range Linux scans), the configuration table right after it; the range is
 * reserved in the e820 map (vmm/loader_bzimage.c). Written through
 * vmm_mem_write, so a recording holds it.
 */
#include "vmm/dev.h"

#include <errno.h>
#include <string.h>

#define MP_LAPIC_ADDR	0xfee00000u
#define MP_IOAPIC_ADDR	0xfec00000u
#define MP_SPEC_REV	4		/* 1.4 */
#define MP_APIC_VER	0x14		/* integrated xAPIC */
#define MP_IOAPIC_VER	0x11
#define MP_ISA_IRQS	16

struct mpf {				/* floating pointer, 16 bytes */
	char sig[4];			/* "_MP_" */
	uint32_t physptr;
	uint8_t length;			/* 16-byte units */
	uint8_t spec;
	uint8_t checksum;
	uint8_t feature[5];		/* 0: a table is present; no IMCR */
} __attribute__((packed));

struct mpc {				/* configuration table header */
	char sig[4];			/* "PCMP" */
	uint16_t length;
	uint8_t spec;
	uint8_t checksum;
	char oem[8];
	char product[12];
	uint32_t oemptr;
	uint16_t oemsize;
	uint16_t count;			/* entries */
	uint32_t lapic;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

struct mpc_cpu {
	uint8_t type, apicid, apicver, flags;
	uint32_t signature, features;
	uint32_t reserved[2];
} __attribute__((packed));

struct mpc_bus {
	uint8_t type, busid;
	char bustype[6];
} __attribute__((packed));

struct mpc_ioapic {
	uint8_t type, apicid, apicver, flags;
	uint32_t addr;
} __attribute__((packed));

struct mpc_irq {			/* I/O and local interrupt entries */
	uint8_t type, irqtype;
	uint16_t irqflag;
	uint8_t srcbus, srcirq, dstapic, dstpin;
} __attribute__((packed));

_Static_assert(sizeof(struct mpf) == 16 && sizeof(struct mpc) == 44 &&
	       sizeof(struct mpc_cpu) == 20 && sizeof(struct mpc_bus) == 8 &&
	       sizeof(struct mpc_ioapic) == 8 && sizeof(struct mpc_irq) == 8, "MP spec sizes");
_Static_assert(sizeof(struct mpf) + sizeof(struct mpc) + VMM_MAX_VCPUS * sizeof(struct mpc_cpu) +
	       sizeof(struct mpc_bus) + sizeof(struct mpc_ioapic) +
	       (MP_ISA_IRQS + 2) * sizeof(struct mpc_irq) <= VMM_MPTABLE_SIZE, "MP table fits");

enum { MP_CPU, MP_BUS, MP_IOAPIC, MP_INTSRC, MP_LINTSRC };
enum { MP_INT = 0, MP_NMI = 1, MP_EXTINT = 3 };

static uint8_t checksum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return (uint8_t)-s;
}

int vmm_mptable_write(struct vmm *vm, struct vcr_err *err)
{
	uint8_t buf[VMM_MPTABLE_SIZE];
	struct mpf *fp = (struct mpf *)buf;
	struct mpc *t = (struct mpc *)(buf + sizeof(*fp));
	uint8_t *p = (uint8_t *)(t + 1);
	uint32_t ioapic_id = vm->nvcpus;	/* the first id after the CPUs' */
	uint16_t count = 0;
	int r;

	memset(buf, 0, sizeof(buf));
	for (uint32_t i = 0; i < vm->nvcpus; i++, count++) {
		struct mpc_cpu *c = (struct mpc_cpu *)p;
		c->type = MP_CPU;
		c->apicid = (uint8_t)i;
		c->apicver = MP_APIC_VER;
		c->flags = 1 | (i == 0 ? 2 : 0);	/* enabled, BSP */
		c->signature = 0x600;			/* family 6 */
		c->features = 0x201;			/* FPU, APIC */
		p += sizeof(*c);
	}
	struct mpc_bus *b = (struct mpc_bus *)p;
	b->type = MP_BUS;
	memcpy(b->bustype, "ISA   ", 6);
	p += sizeof(*b);
	count++;
	struct mpc_ioapic *io = (struct mpc_ioapic *)p;
	io->type = MP_IOAPIC;
	io->apicid = (uint8_t)ioapic_id;
	io->apicver = MP_IOAPIC_VER;
	io->flags = 1;
	io->addr = MP_IOAPIC_ADDR;
	p += sizeof(*io);
	count++;
	for (uint8_t irq = 0; irq < MP_ISA_IRQS; irq++, count++) {
		struct mpc_irq *e = (struct mpc_irq *)p;
		*e = (struct mpc_irq){ .type = MP_INTSRC, .irqtype = MP_INT, .srcirq = irq,
				       .dstapic = (uint8_t)ioapic_id, .dstpin = irq };
		p += sizeof(*e);
	}
	/* Every LAPIC (0xff): LINT0 ExtINT, LINT1 NMI. */
	((struct mpc_irq *)p)[0] = (struct mpc_irq){ .type = MP_LINTSRC, .irqtype = MP_EXTINT,
						      .dstapic = 0xff, .dstpin = 0 };
	((struct mpc_irq *)p)[1] = (struct mpc_irq){ .type = MP_LINTSRC, .irqtype = MP_NMI,
						      .dstapic = 0xff, .dstpin = 1 };
	p += 2 * sizeof(struct mpc_irq);
	count += 2;

	memcpy(t->sig, "PCMP", 4);
	t->length = (uint16_t)(p - (uint8_t *)t);
	t->spec = MP_SPEC_REV;
	memcpy(t->oem, "VCR     ", 8);
	memcpy(t->product, "VCR-VMM     ", 12);
	t->count = count;
	t->lapic = MP_LAPIC_ADDR;
	t->checksum = checksum((const uint8_t *)t, t->length);

	memcpy(fp->sig, "_MP_", 4);
	fp->physptr = (uint32_t)(VMM_MPTABLE_BASE + sizeof(*fp));
	fp->length = 1;
	fp->spec = MP_SPEC_REV;
	fp->checksum = checksum((const uint8_t *)fp, sizeof(*fp));

	r = vmm_mem_write(vm, VMM_MPTABLE_BASE, buf, (uint64_t)(p - buf));
	if (r)
		return vcr_err_set(err, r, UINT64_MAX, "cannot write the MP table at %#llx",
				   (unsigned long long)VMM_MPTABLE_BASE);
	return 0;
}
