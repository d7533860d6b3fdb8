/*
 * vmm/dev_serial.c: the 8250 UART on COM1 (ports 0x3f8-0x3ff), polled: no
 * interrupt is ever raised (IIR says none). Output is line buffered to
 * cfg.uart_out_fd; input is read from cfg.uart_in_fd without blocking when
 * the guest polls LSR or RBR. Owns the UART's registers and buffers.
 */
#include "vmm/dev.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#define UART_NPORTS	8

struct uart {
	pthread_mutex_t lock;		/* vCPUs share the UART */
	uint8_t ier, lcr, mcr, scr, dll, dlm;
	int out_fd, in_fd;
	bool in_eof;
	bool have_rx;
	uint8_t rx;
	uint32_t out_len;
	char out[4096];			/* line buffer: flushed at '\n' / full / end */
};

/* 8250 registers (offset from the base port) and bits. */
#define UART_RBR_THR	0	/* DLAB=0; DLL when DLAB=1 */
#define UART_IER	1	/* DLAB=0; DLM when DLAB=1 */
#define UART_IIR_FCR	2
#define UART_LCR	3
#define UART_MCR	4
#define UART_LSR	5
#define UART_MSR	6
#define UART_SCR	7
#define UART_LCR_DLAB	0x80
#define UART_LSR_DR	0x01
#define UART_LSR_THRE	0x20
#define UART_LSR_TEMT	0x40
#define UART_IIR_NONE	0x01
#define UART_MSR_IDLE	0xb0	/* DCD, DSR, CTS: a cable is attached */

static void uart_init(struct uart *u, int out_fd, int in_fd)
{
	pthread_mutex_init(&u->lock, NULL);
	u->out_fd = out_fd;
	u->in_fd = in_fd;
	u->in_eof = in_fd < 0;
	u->lcr = 0x03;	/* 8N1, as firmware would leave it */
	u->dll = 1;	/* 115200 baud */
}

static void uart_flush_locked(struct uart *u)
{
	uint32_t off = 0;

	while (off < u->out_len) {
		ssize_t n = write(u->out_fd, u->out + off, u->out_len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;	/* guest output is best effort: a closed stdout
				 * must not stop the guest */
		off += (uint32_t)n;
	}
	u->out_len = 0;
}

static void uart_flush(struct uart *u)
{
	pthread_mutex_lock(&u->lock);
	uart_flush_locked(u);
	pthread_mutex_unlock(&u->lock);
}

/* Fetch one input byte if one is ready, without blocking. */
static void uart_poll_input(struct uart *u)
{
	struct pollfd p = { .fd = u->in_fd, .events = POLLIN };

	if (u->have_rx || u->in_eof)
		return;
	if (poll(&p, 1, 0) <= 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR)))
		return;
	ssize_t n = read(u->in_fd, &u->rx, 1);
	if (n == 1)
		u->have_rx = true;
	else if (n == 0 || (errno != EINTR && errno != EAGAIN))
		u->in_eof = true;
}

static uint8_t uart_read(struct uart *u, unsigned reg)
{
	uint8_t v = 0;

	pthread_mutex_lock(&u->lock);
	switch (reg) {
	case UART_RBR_THR:
		if (u->lcr & UART_LCR_DLAB) {
			v = u->dll;
		} else {
			uart_poll_input(u);
			v = u->have_rx ? u->rx : 0;
			u->have_rx = false;
		}
		break;
	case UART_IER:
		v = (u->lcr & UART_LCR_DLAB) ? u->dlm : u->ier;
		break;
	case UART_IIR_FCR:
		v = UART_IIR_NONE;
		break;
	case UART_LCR:
		v = u->lcr;
		break;
	case UART_MCR:
		v = u->mcr;
		break;
	case UART_LSR:
		/* Output is never busy: the transmitter is always ready. */
		uart_poll_input(u);
		v = UART_LSR_THRE | UART_LSR_TEMT | (u->have_rx ? UART_LSR_DR : 0);
		break;
	case UART_MSR:
		v = UART_MSR_IDLE;
		break;
	case UART_SCR:
		v = u->scr;
		break;
	}
	pthread_mutex_unlock(&u->lock);
	return v;
}

static void uart_write(struct uart *u, unsigned reg, uint8_t v)
{
	pthread_mutex_lock(&u->lock);
	switch (reg) {
	case UART_RBR_THR:
		if (u->lcr & UART_LCR_DLAB) {
			u->dll = v;
			break;
		}
		u->out[u->out_len++] = (char)v;
		if (v == '\n' || u->out_len == sizeof(u->out))
			uart_flush_locked(u);
		break;
	case UART_IER:
		if (u->lcr & UART_LCR_DLAB)
			u->dlm = v;
		else
			u->ier = v & 0x0f;
		break;
	case UART_LCR:
		u->lcr = v;
		break;
	case UART_MCR:
		u->mcr = v & 0x1f;
		break;
	case UART_SCR:
		u->scr = v;
		break;
	default:		/* FCR, LSR, MSR writes: nothing to emulate */
		break;
	}
	pthread_mutex_unlock(&u->lock);
}

/* 16/32-bit accesses touch the following registers too, as on an ISA bus;
 * past the last one they wrap to the first (the bus hands us any access
 * that starts on our ports). */
static int serial_access(void *opaque, struct vmm_vcpu *c, uint64_t off, uint8_t *data,
			 uint32_t size, bool is_write)
{
	struct uart *u = ((struct vmm_dev *)opaque)->state;

	(void)c;
	for (uint32_t b = 0; b < size; b++) {
		unsigned reg = (unsigned)(off + b) & (UART_NPORTS - 1);
		if (is_write)
			uart_write(u, reg, data[b]);
		else
			data[b] = uart_read(u, reg);
	}
	return VMM_BUS_CONTINUE;
}

static int serial_create(struct vmm_dev *dev, struct vcr_err *err)
{
	const struct vmm_config *cfg = &dev->vm->cfg;
	struct uart *u = calloc(1, sizeof(*u));
	int r;

	if (!u)
		return vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
	uart_init(u, cfg->uart_out_fd, cfg->uart_in_fd);
	dev->state = u;
	r = vmm_bus_register(&dev->vm->bus, VMM_BUS_PIO, VMM_PORT_COM1, UART_NPORTS,
			     serial_access, dev, "com1");
	if (r)
		return vcr_err_set(err, r, UINT64_MAX, "serial: cannot claim ports %#x-%#x",
				   VMM_PORT_COM1, VMM_PORT_COM1 + UART_NPORTS - 1);
	return 0;
}

static void serial_run_end(struct vmm_dev *dev)
{
	uart_flush(dev->state);
}

static void serial_destroy(struct vmm_dev *dev)
{
	struct uart *u = dev->state;

	if (!u)
		return;
	uart_flush(u);
	pthread_mutex_destroy(&u->lock);
	free(u);
	dev->state = NULL;
}

const struct vmm_dev_type vmm_dev_serial = {
	.name = "serial",
	.create = serial_create,
	.run_end = serial_run_end,
	.destroy = serial_destroy,
};
