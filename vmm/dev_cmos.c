/*
 * vmm/dev_cmos.c: the CMOS RTC at ports 0x70 (index, bit 7 = NMI mask) and
 * 0x71 (data), answered sanely for a Linux guest: the time of day (host
 * UTC, read at each access) in BCD, or binary if the guest clears register
 * B's DM bit; register A with UIP clear (Linux spins while UIP reads set,
 * and an unclaimed port reads all ones), register B 24-hour mode, C no
 * flags, D "valid RAM and time"; century 0x32. Other bytes are CMOS RAM the
 * guest may write and read back. No RTC interrupt (IRQ 8) is raised. Owns
 * the index and the RAM.
 */
#include "vmm/dev.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#define CMOS_INDEX	0x70
#define CMOS_DATA	0x71

#define REG_A		0x0a
#define REG_B		0x0b
#define REG_C		0x0c
#define REG_D		0x0d
#define REG_CENTURY	0x32
#define B_24H		0x02
#define B_BINARY	0x04	/* DM: binary, not BCD */

struct cmos {
	pthread_mutex_t lock;
	uint8_t index;
	uint8_t ram[128];
};

static uint8_t enc(const struct cmos *s, int v)
{
	return (s->ram[REG_B] & B_BINARY) ? (uint8_t)v : (uint8_t)((v / 10) << 4 | v % 10);
}

static uint8_t cmos_read(struct cmos *s, uint8_t i)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	switch (i) {
	case 0x00: return enc(s, tm.tm_sec);
	case 0x02: return enc(s, tm.tm_min);
	case 0x04: return enc(s, tm.tm_hour);
	case 0x06: return enc(s, tm.tm_wday + 1);
	case 0x07: return enc(s, tm.tm_mday);
	case 0x08: return enc(s, tm.tm_mon + 1);
	case 0x09: return enc(s, tm.tm_year % 100);
	case REG_CENTURY: return enc(s, (tm.tm_year + 1900) / 100);
	case REG_A: return s->ram[REG_A] & 0x7f;	/* UIP never set */
	case REG_C: return 0;				/* no interrupt flags */
	case REG_D: return 0x80;			/* VRT: battery good */
	default: return s->ram[i];
	}
}

static int cmos_access(void *opaque, struct vmm_vcpu *c, uint64_t off, uint8_t *data,
		       uint32_t size, bool is_write)
{
	struct cmos *s = ((struct vmm_dev *)opaque)->state;

	(void)c;
	pthread_mutex_lock(&s->lock);
	for (uint32_t b = 0; b < size; b++) {
		bool idx = ((off + b) & 1) == 0;
		if (idx) {
			if (is_write)
				s->index = data[b] & 0x7f;	/* bit 7: NMI mask, ignored */
			else
				data[b] = s->index;
		} else if (is_write) {
			if (s->index != REG_C && s->index != REG_D)
				s->ram[s->index] = data[b];
		} else {
			data[b] = cmos_read(s, s->index);
		}
	}
	pthread_mutex_unlock(&s->lock);
	return VMM_BUS_CONTINUE;
}

static int cmos_create(struct vmm_dev *dev, struct vcr_err *err)
{
	struct cmos *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
	pthread_mutex_init(&s->lock, NULL);
	s->ram[REG_A] = 0x26;	/* 32.768 kHz time base, 1024 Hz periodic rate */
	s->ram[REG_B] = B_24H;
	dev->state = s;
	r = vmm_bus_register(&dev->vm->bus, VMM_BUS_PIO, CMOS_INDEX, 2, cmos_access, dev,
			     "cmos");
	if (r)
		return vcr_err_set(err, r, UINT64_MAX, "cmos: cannot claim ports 0x70-0x71");
	return 0;
}

static void cmos_destroy(struct vmm_dev *dev)
{
	struct cmos *s = dev->state;

	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s);
	dev->state = NULL;
}

const struct vmm_dev_type vmm_dev_cmos = {
	.name = "cmos",
	.create = cmos_create,
	.destroy = cmos_destroy,
};
