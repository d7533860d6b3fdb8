/*
 * vmm/dev_i8042.c: the few i8042 (PS/2 controller) bits a Linux guest needs
 * on the pc machine: ports 0x60 (data) and 0x64 (status / command), with no
 * keyboard or mouse behind them. The status register reads "input buffer
 * empty", so the kernel's reboot=k path (kb_wait, then 0xfe to 0x64) does
 * not spin, and the controller's own commands answer (command byte, self
 * test, interface tests; no aux port, so Linux does not probe a mouse
 * through timeouts). A reset (command 0xfe or any pulse of output
 * port bit 0, or an output port write with bit 0 clear) ends the run:
 * VCR_END_RESET, or VCR_END_PANIC when the console showed a kernel panic
 * first (panic=-1 resets at once). Owns the controller's registers.
 */
#include "vmm/dev.h"

#include <errno.h>
#include <stdlib.h>

#define I8042_DATA	0x60
#define I8042_CMD	0x64

#define STS_OBF		0x01	/* output buffer full: a byte for port 0x60 */
#define STS_SYS		0x04	/* system flag: POST passed */
#define STS_UNLOCKED	0x10	/* keyboard not inhibited */

struct i8042 {
	pthread_mutex_t lock;
	uint8_t cmd_byte;	/* controller configuration */
	uint8_t out;
	bool have_out;
	uint8_t pending;	/* command waiting for its data byte (0x60, 0xd1...) */
};

static void put_out(struct i8042 *k, uint8_t v)
{
	k->out = v;
	k->have_out = true;
}

static int reset(struct vmm_dev *dev, struct vmm_vcpu *c)
{
	struct vmm *vm = dev->vm;
	char line[sizeof(vm->panic_line)];

	if (vmm_panic_line(vm, line, sizeof(line)))
		vmm_end(vm, c->index, VCR_END_PANIC, 0,
			"guest kernel panic, then reset (vcpu %u): %s", c->index, line);
	else
		vmm_end(vm, c->index, VCR_END_RESET, 0,
			"guest reset the machine (i8042 reset pulse, vcpu %u)", c->index);
	return VMM_BUS_ENDED;
}

static int i8042_access(void *opaque, struct vmm_vcpu *c, uint64_t off, uint8_t *data,
			uint32_t size, bool is_write, uint16_t port)
{
	struct vmm_dev *dev = opaque;
	struct i8042 *k = dev->state;
	bool do_reset = false;

	(void)off, (void)size;
	pthread_mutex_lock(&k->lock);
	if (!is_write) {
		if (port == I8042_CMD) {
			data[0] = STS_SYS | STS_UNLOCKED | (k->have_out ? STS_OBF : 0);
		} else {
			data[0] = k->out;
			k->have_out = false;
		}
	} else if (port == I8042_DATA) {
		uint8_t v = data[0];
		if (k->pending == 0x60)
			k->cmd_byte = v;
		else if (k->pending == 0xd2)
			put_out(k, v);		/* as if the keyboard sent it */
		else if (k->pending == 0xd3)
			put_out(k, 0xff);	/* no aux port: the loop fails */
		else if (k->pending == 0xd1 && !(v & 1))
			do_reset = true;	/* output port: bit 0 is the CPU's reset line */
		/* Bytes for the keyboard itself: there is none, no answer. */
		k->pending = 0;
	} else {
		uint8_t v = data[0];
		k->pending = 0;
		switch (v) {
		case 0x20:			/* read the command byte */
			put_out(k, k->cmd_byte);
			break;
		case 0x60:			/* write the command byte */
		case 0xd1:			/* write the output port */
		case 0xd2:			/* write the keyboard output buffer */
		case 0xd3:			/* write the aux output buffer */
			k->pending = v;
			break;
		case 0xaa:			/* controller self test: passed */
			put_out(k, 0x55);
			break;
		case 0xa9:			/* aux interface test: clock stuck high, */
			put_out(k, 0x02);	/* so Linux registers no aux port */
			break;
		case 0xab:			/* keyboard interface test: ok */
			put_out(k, 0x00);
			break;
		default:
			/* 0xf0-0xff pulse output port bits 0-3 low for the
			 * bits clear in the command: bit 0 is reset. */
			if (v >= 0xf0 && !(v & 1))
				do_reset = true;
			break;
		}
	}
	pthread_mutex_unlock(&k->lock);
	return do_reset ? reset(dev, c) : VMM_BUS_CONTINUE;
}

static int data_access(void *opaque, struct vmm_vcpu *c, uint64_t off, uint8_t *data,
		       uint32_t size, bool is_write)
{
	return i8042_access(opaque, c, off, data, size, is_write, I8042_DATA);
}

static int cmd_access(void *opaque, struct vmm_vcpu *c, uint64_t off, uint8_t *data,
		      uint32_t size, bool is_write)
{
	return i8042_access(opaque, c, off, data, size, is_write, I8042_CMD);
}

static int i8042_create(struct vmm_dev *dev, struct vcr_err *err)
{
	struct i8042 *k = calloc(1, sizeof(*k));
	int r;

	if (!k)
		return vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
	pthread_mutex_init(&k->lock, NULL);
	k->cmd_byte = 0x61;	/* keyboard interrupt on, translation, no aux */
	dev->state = k;
	r = vmm_bus_register(&dev->vm->bus, VMM_BUS_PIO, I8042_DATA, 1, data_access, dev,
			     "i8042-data");
	if (!r)
		r = vmm_bus_register(&dev->vm->bus, VMM_BUS_PIO, I8042_CMD, 1, cmd_access, dev,
				     "i8042-cmd");
	if (r)
		return vcr_err_set(err, r, UINT64_MAX, "i8042: cannot claim ports 0x60, 0x64");
	return 0;
}

static void i8042_destroy(struct vmm_dev *dev)
{
	struct i8042 *k = dev->state;

	if (!k)
		return;
	pthread_mutex_destroy(&k->lock);
	free(k);
	dev->state = NULL;
}

const struct vmm_dev_type vmm_dev_i8042 = {
	.name = "i8042",
	.create = i8042_create,
	.destroy = i8042_destroy,
};
