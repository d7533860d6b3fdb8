/*
 * vmm/dev_fwcfg.c: QEMU's firmware configuration device (fw_cfg), the
 * traditional port interface only (docs/specs/fw_cfg.rst in QEMU):
 *   0x510  selector (a 16-bit write; an 8-bit write selects its byte): picks
 *          an item and rewinds its read offset
 *   0x511  data: each byte read returns the next byte of the selected item,
 *          0 past its end or for an item vcr does not have
 * Items: 0x00 signature "QEMU", 0x01 ID 1 (traditional interface, no DMA),
 * 0x03 RAM size (u64), 0x05 CPU count (u16), 0x0f max CPU count (u16), 0x19
 * the file directory (count 0, big-endian, as fw_cfg files are). Guests such
 * as kvm-unit-tests count their CPUs and size their RAM through it.
 *
 * State: the selector and offset, shared by all vCPUs as on QEMU, under a
 * lock. Every byte a guest reads is IN data in kvm_run: the recorder keeps
 * it and the replayer gives it back, so nothing here needs recording.
 */
#include "vmm/dev.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define FWCFG_PORT_SEL		0x510
#define FWCFG_PORT_DATA		0x511

#define FWCFG_SIGNATURE		0x00
#define FWCFG_ID		0x01
#define FWCFG_RAM_SIZE		0x03
#define FWCFG_NB_CPUS		0x05
#define FWCFG_MAX_CPUS		0x0f
#define FWCFG_FILE_DIR		0x19
#define FWCFG_ITEM_MAX		8	/* bytes of the largest item vcr has */

struct fwcfg {
	pthread_mutex_t lock;
	uint16_t sel;
	uint32_t off;
};

/* The bytes of item `key` into buf (FWCFG_ITEM_MAX); its length, 0 when vcr
 * does not have it. */
static uint32_t fwcfg_item(const struct vmm *vm, uint16_t key, uint8_t *buf)
{
	uint64_t v;

	switch (key) {
	case FWCFG_SIGNATURE:
		memcpy(buf, "QEMU", 4);
		return 4;
	case FWCFG_ID:
		v = 1;			/* traditional interface only */
		memcpy(buf, &v, 4);
		return 4;
	case FWCFG_RAM_SIZE:
		v = vm->cfg.mem_size;
		memcpy(buf, &v, 8);
		return 8;
	case FWCFG_NB_CPUS:
	case FWCFG_MAX_CPUS:
		v = vm->nvcpus;
		memcpy(buf, &v, 2);
		return 2;
	case FWCFG_FILE_DIR:
		memset(buf, 0, 4);	/* no files */
		return 4;
	default:
		return 0;
	}
}

static int fwcfg_sel_access(void *opaque, struct vmm_vcpu *c, uint64_t off, uint8_t *data,
			    uint32_t size, bool is_write)
{
	struct fwcfg *f = ((struct vmm_dev *)opaque)->state;
	uint16_t sel;

	(void)c;
	if (!is_write)
		return VMM_BUS_CONTINUE;	/* the selector reads as 0 */
	pthread_mutex_lock(&f->lock);
	sel = f->sel;
	for (uint32_t i = 0; i < size && off + i < 2; i++)
		((uint8_t *)&sel)[off + i] = data[i];
	f->sel = sel;
	f->off = 0;
	pthread_mutex_unlock(&f->lock);
	return VMM_BUS_CONTINUE;
}

static int fwcfg_data_access(void *opaque, struct vmm_vcpu *c, uint64_t off, uint8_t *data,
			     uint32_t size, bool is_write)
{
	struct vmm_dev *dev = opaque;
	struct fwcfg *f = dev->state;
	uint8_t item[FWCFG_ITEM_MAX];

	(void)c, (void)off;
	if (is_write)
		return VMM_BUS_CONTINUE;	/* the write channel is not offered */
	pthread_mutex_lock(&f->lock);
	uint32_t len = fwcfg_item(dev->vm, f->sel, item);
	/* A wider read is one byte on QEMU's data port too; the rest stays 0. */
	(void)size;
	if (f->off < len)
		data[0] = item[f->off];
	if (f->off < UINT32_MAX)
		f->off++;
	pthread_mutex_unlock(&f->lock);
	return VMM_BUS_CONTINUE;
}

static int fwcfg_create(struct vmm_dev *dev, struct vcr_err *err)
{
	struct fwcfg *f = calloc(1, sizeof(*f));
	int r;

	if (!f)
		return vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
	pthread_mutex_init(&f->lock, NULL);
	dev->state = f;
	r = vmm_bus_register(&dev->vm->bus, VMM_BUS_PIO, FWCFG_PORT_SEL, 1, fwcfg_sel_access,
			     dev, "fw_cfg-selector");
	if (!r)
		r = vmm_bus_register(&dev->vm->bus, VMM_BUS_PIO, FWCFG_PORT_DATA, 1,
				     fwcfg_data_access, dev, "fw_cfg-data");
	if (r)
		return vcr_err_set(err, r, UINT64_MAX, "fw_cfg: cannot claim ports %#x-%#x",
				   FWCFG_PORT_SEL, FWCFG_PORT_DATA);
	return 0;
}

static void fwcfg_destroy(struct vmm_dev *dev)
{
	struct fwcfg *f = dev->state;

	if (!f)
		return;
	pthread_mutex_destroy(&f->lock);
	free(f);
	dev->state = NULL;
}

const struct vmm_dev_type vmm_dev_fwcfg = {
	.name = "fw_cfg",
	.create = fwcfg_create,
	.destroy = fwcfg_destroy,
};
