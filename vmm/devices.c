/*
 * vmm/devices.c: the I/O bus and its devices: 8250 UART on COM1, the vCPU
 * index port, the test data and exit ports, the MMIO test device. Unknown
 * ports and MMIO read as all ones and ignore writes (counted).
 *
 * The bus is a table of (kind, base, length, handler); one exit becomes one
 * handler call per element (string I/O has `count` elements).
 */
#include "vmm/vmm_int.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

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

void vmm_uart_init(struct vmm_uart *u, int out_fd, int in_fd)
{
	memset(u, 0, sizeof(*u));
	pthread_mutex_init(&u->lock, NULL);
	u->out_fd = out_fd;
	u->in_fd = in_fd;
	u->in_eof = in_fd < 0;
	u->lcr = 0x03;	/* 8N1, as firmware would leave it */
	u->dll = 1;	/* 115200 baud */
}

static void uart_flush_locked(struct vmm_uart *u)
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

void vmm_uart_flush(struct vmm_uart *u)
{
	pthread_mutex_lock(&u->lock);
	uart_flush_locked(u);
	pthread_mutex_unlock(&u->lock);
}

void vmm_uart_destroy(struct vmm_uart *u)
{
	vmm_uart_flush(u);
	pthread_mutex_destroy(&u->lock);
}

/* Fetch one input byte if one is ready, without blocking. */
static void uart_poll_input(struct vmm_uart *u)
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

static uint8_t uart_read(struct vmm_uart *u, unsigned reg)
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

static void uart_write(struct vmm_uart *u, unsigned reg, uint8_t v)
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

static void unknown_access(struct vmm *vm, const char *what, uint64_t addr, bool write)
{
	atomic_fetch_add_explicit(&vm->unknown_io, 1, memory_order_relaxed);
	vcr_debug("unknown %s %s at %#llx", what, write ? "write" : "read",
		  (unsigned long long)addr);
}

int vmm_dev_io(struct vmm *vm, struct vmm_vcpu *c)
{
	struct kvm_run *run = c->run;
	uint16_t port = run->io.port;
	uint32_t size = run->io.size, count = run->io.count;
	bool write = run->io.direction == KVM_EXIT_IO_OUT;
	uint64_t total;

	/* The data area is inside the kvm_run page; trust nothing. */
	if (size == 0 || size > 4 || vcr_mul_overflow(size, count, &total) ||
	    !vcr_range_ok(run->io.data_offset, total, vm->run_size)) {
		vmm_end(vm, c->index, VCR_END_ERROR, 0,
			"vcpu %u: malformed KVM_EXIT_IO (port %#x size %u count %u offset %llu)",
			c->index, port, size, count, (unsigned long long)run->io.data_offset);
		return 1;
	}
	uint8_t *data = (uint8_t *)run + run->io.data_offset;

	for (uint32_t i = 0; i < count; i++, data += size) {
		uint32_t v = 0;

		if (port >= VMM_PORT_COM1 && port < VMM_PORT_COM1 + 8) {
			/* 16/32-bit accesses touch the following registers
			 * too, as on an ISA bus. */
			for (uint32_t b = 0; b < size; b++) {
				unsigned reg = (port + b - VMM_PORT_COM1) & 7;
				if (write)
					uart_write(&vm->uart, reg, data[b]);
				else
					data[b] = uart_read(&vm->uart, reg);
			}
			continue;
		}
		switch (port) {
		case VMM_PORT_VCPU_ID:
			if (write)
				break;
			v = c->index | (vm->nvcpus << 16);
			memcpy(data, &v, size);
			break;
		case VMM_PORT_TEST_DATA:
			if (!write)
				memset(data, 0, size);
			break;
		case VMM_PORT_EXIT:
			if (!write) {
				memset(data, 0, size);
				break;
			}
			vmm_end(vm, c->index, VCR_END_EXIT_PORT, data[0],
				"guest wrote %u to the exit port (vcpu %u)", data[0], c->index);
			return 1;
		default:
			unknown_access(vm, "port", port, write);
			if (!write)
				memset(data, 0xff, size);
			break;
		}
	}
	return 0;
}

int vmm_dev_mmio(struct vmm *vm, struct vmm_vcpu *c)
{
	struct kvm_run *run = c->run;
	uint64_t gpa = run->mmio.phys_addr;
	uint32_t len = run->mmio.len;

	if (len == 0 || len > sizeof(run->mmio.data)) {
		vmm_end(vm, c->index, VCR_END_ERROR, 0,
			"vcpu %u: malformed KVM_EXIT_MMIO (gpa %#llx len %u)",
			c->index, (unsigned long long)gpa, len);
		return 1;
	}
	if (gpa >= VMM_MMIO_TEST_BASE && vcr_range_ok(gpa - VMM_MMIO_TEST_BASE, len,
						       VMM_MMIO_TEST_SIZE)) {
		if (!run->mmio.is_write) {
			uint64_t v = VMM_MMIO_TEST_VALUE;
			memcpy(run->mmio.data, &v, len);
		}
		return 0;
	}
	unknown_access(vm, "MMIO", gpa, run->mmio.is_write);
	if (!run->mmio.is_write)
		memset(run->mmio.data, 0xff, len);
	return 0;
}
