/*
 * vmm/dev_serial.c: the 8250 UART on COM1 (ports 0x3f8-0x3ff). Output is
 * line buffered to cfg.uart_out_fd; input is read from cfg.uart_in_fd
 * without blocking when the guest polls LSR or RBR. Owns the UART's
 * registers and buffers.
 *
 * On the bare machine it is polled: no interrupt is ever raised (IIR says
 * none). On the pc machine it drives ISA IRQ 4 (VMM_IRQ_COM1) through
 * vmm_irq_line as a 16450 does (no FIFO): the THRE interrupt is pending
 * once the transmitter is empty (at once: output never blocks) until IIR
 * reports it or THR is written, the RX interrupt while a byte waits in RBR;
 * the line's level is recomputed after every register access and changed
 * only when it differs. An input thread waits for stdin so that a byte
 * interrupts a guest that does not poll (an interactive shell), and the
 * output is watched for "Kernel panic - not syncing" (vmm_panic_seen; the
 * closing "---[ end Kernel panic" line ends the run as a panic when the
 * kernel does not reset by itself). The console's last UART_TAIL bytes are
 * kept too: a run that ends as a panic hands its last whole lines to the
 * observer (a console-tail note, which a recording keeps) before the end.
 */
#include "vmm/dev.h"
#include "formats/trace.h"	/* VCR_NOTE_CONSOLE_TAIL */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define UART_NPORTS	8
#define UART_TAIL	4096	/* console bytes a panic note carries at most */

struct uart {
	pthread_mutex_t lock;		/* vCPUs and the input thread share it */
	struct vmm *vm;
	uint8_t ier, lcr, mcr, scr, dll, dlm;
	int out_fd, in_fd;
	bool in_eof;
	bool have_rx;
	uint8_t rx;
	uint32_t out_len;
	char out[4096];			/* line buffer: flushed at '\n' / full / end */
	/* pc machine only */
	bool irq;			/* drives VMM_IRQ_COM1 */
	bool level;			/* the line as last set */
	bool thr_ipending;		/* THRE interrupt pending */
	uint32_t line_len;		/* the current console line, for panics */
	char line[256];
	char tail[UART_TAIL];		/* ring: the newest output bytes */
	uint64_t tail_n;		/* bytes ever put in it */
	pthread_t in_thread;
	bool in_thread_started, stop;
	pthread_cond_t rx_taken;	/* RBR read: the input thread may go on */
	int wake[2];			/* the input thread's poll wakes on it */
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
#define UART_IIR_THRI	0x02
#define UART_IIR_RDI	0x04
#define UART_IER_RDI	0x01
#define UART_IER_THRI	0x02
#define UART_MCR_LOOP	0x10
#define UART_MSR_IDLE	0xb0	/* DCD, DSR, CTS: a cable is attached */

static void uart_init(struct uart *u, int out_fd, int in_fd)
{
	pthread_mutex_init(&u->lock, NULL);
	pthread_cond_init(&u->rx_taken, NULL);
	u->wake[0] = u->wake[1] = -1;
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

static uint8_t uart_iir(const struct uart *u)
{
	if (!u->irq)
		return UART_IIR_NONE;
	if ((u->ier & UART_IER_RDI) && u->have_rx)
		return UART_IIR_RDI;
	if ((u->ier & UART_IER_THRI) && u->thr_ipending)
		return UART_IIR_THRI;
	return UART_IIR_NONE;
}

/* Under u->lock, so line changes are made in the order of the accesses
 * that caused them. */
static void uart_update_irq_locked(struct uart *u, uint32_t vcpu)
{
	bool level = uart_iir(u) != UART_IIR_NONE;

	if (!u->irq || level == u->level)
		return;
	if (vmm_irq_line(u->vm, vcpu, VMM_IRQ_COM1, level) == 0)
		u->level = level;
}

/* A whole console line: remember a panic, and end the run at the panic's
 * closing line (the kernel will only spin after it). */
static bool uart_line_locked(struct uart *u, uint32_t vcpu)
{
	static const char panic[] = "Kernel panic - not syncing";
	static const char end[] = "---[ end Kernel panic - not syncing";
	char *l = u->line;

	l[u->line_len] = 0;
	u->line_len = 0;
	if (!strstr(l, panic))
		return false;
	if (!strstr(l, end)) {
		vmm_panic_seen(u->vm, l);
		return false;
	}
	vmm_panic_seen(u->vm, l);
	uart_flush_locked(u);
	char first[sizeof(u->vm->panic_line)];
	vmm_panic_line(u->vm, first, sizeof(first));
	vmm_end(u->vm, vcpu, VCR_END_PANIC, 0, "guest kernel panic (vcpu %u): %s", vcpu, first);
	return true;
}

static uint8_t uart_read(struct uart *u, unsigned reg)
{
	uint8_t v = 0;

	switch (reg) {
	case UART_RBR_THR:
		if (u->lcr & UART_LCR_DLAB) {
			v = u->dll;
		} else {
			uart_poll_input(u);
			v = u->have_rx ? u->rx : 0;
			u->have_rx = false;
			pthread_cond_signal(&u->rx_taken);
		}
		break;
	case UART_IER:
		v = (u->lcr & UART_LCR_DLAB) ? u->dlm : u->ier;
		break;
	case UART_IIR_FCR:
		v = uart_iir(u);
		if (v == UART_IIR_THRI)
			u->thr_ipending = false;	/* reading IIR acknowledges it */
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
		/* Loopback: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD. */
		if (u->mcr & UART_MCR_LOOP)
			v = (uint8_t)((u->mcr & 1) << 5 | (u->mcr & 2) << 3 | (u->mcr & 0xc) << 4);
		else
			v = UART_MSR_IDLE;
		break;
	case UART_SCR:
		v = u->scr;
		break;
	}
	return v;
}

/* true when the write ended the run (a panic's last line). */
static bool uart_write(struct uart *u, unsigned reg, uint8_t v, uint32_t vcpu)
{
	bool ended = false;

	switch (reg) {
	case UART_RBR_THR:
		if (u->lcr & UART_LCR_DLAB) {
			u->dll = v;
			break;
		}
		u->out[u->out_len++] = (char)v;
		u->tail[u->tail_n++ % UART_TAIL] = (char)v;
		if (v == '\n' || u->out_len == sizeof(u->out))
			uart_flush_locked(u);
		/* Sent at once: the transmitter is empty again. */
		u->thr_ipending = true;
		if (u->irq) {
			if (v == '\n')
				ended = uart_line_locked(u, vcpu);
			else if (v != '\r' && u->line_len < sizeof(u->line) - 1)
				u->line[u->line_len++] = (char)v;
		}
		break;
	case UART_IER:
		if (u->lcr & UART_LCR_DLAB) {
			u->dlm = v;
			break;
		}
		/* Enabling THRI with THR empty raises it at once (Linux's
		 * startup test for UARTs that do not re-assert THRE). */
		if ((v & UART_IER_THRI) && !(u->ier & UART_IER_THRI))
			u->thr_ipending = true;
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
	return ended;
}

/* 16/32-bit accesses touch the following registers too, as on an ISA bus;
 * past the last one they wrap to the first (the bus hands us any access
 * that starts on our ports). */
static int serial_access(void *opaque, struct vmm_vcpu *c, uint64_t off, uint8_t *data,
			 uint32_t size, bool is_write)
{
	struct uart *u = ((struct vmm_dev *)opaque)->state;
	bool ended = false;

	pthread_mutex_lock(&u->lock);
	for (uint32_t b = 0; b < size && !ended; b++) {
		unsigned reg = (unsigned)(off + b) & (UART_NPORTS - 1);
		if (is_write)
			ended = uart_write(u, reg, data[b], c->index);
		else
			data[b] = uart_read(u, reg);
	}
	uart_update_irq_locked(u, c->index);
	pthread_mutex_unlock(&u->lock);
	return ended ? VMM_BUS_ENDED : VMM_BUS_CONTINUE;
}

/* pc: wait for input, take a byte when RBR is free, raise the RX
 * interrupt. Stops at EOF or when destroy wakes it. */
static void *uart_input_main(void *arg)
{
	struct uart *u = arg;

	for (;;) {
		struct pollfd p[2] = { { .fd = u->in_fd, .events = POLLIN },
				       { .fd = u->wake[0], .events = POLLIN } };
		pthread_mutex_lock(&u->lock);
		while (u->have_rx && !u->stop)
			pthread_cond_wait(&u->rx_taken, &u->lock);
		bool done = u->stop || u->in_eof;
		pthread_mutex_unlock(&u->lock);
		if (done)
			break;
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		pthread_mutex_lock(&u->lock);
		uart_poll_input(u);
		uart_update_irq_locked(u, VMM_NO_VCPU);
		pthread_mutex_unlock(&u->lock);
	}
	return NULL;
}

static int serial_create(struct vmm_dev *dev, struct vcr_err *err)
{
	const struct vmm_config *cfg = &dev->vm->cfg;
	struct uart *u = calloc(1, sizeof(*u));
	int r;

	if (!u)
		return vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
	uart_init(u, cfg->uart_out_fd, cfg->uart_in_fd);
	u->vm = dev->vm;
	u->irq = dev->vm->machine && dev->vm->machine->pc;
	dev->state = u;
	r = vmm_bus_register(&dev->vm->bus, VMM_BUS_PIO, VMM_PORT_COM1, UART_NPORTS,
			     serial_access, dev, "com1");
	if (r)
		return vcr_err_set(err, r, UINT64_MAX, "serial: cannot claim ports %#x-%#x",
				   VMM_PORT_COM1, VMM_PORT_COM1 + UART_NPORTS - 1);
	if (u->irq && u->in_fd >= 0) {
		if (pipe2(u->wake, O_CLOEXEC) < 0)
			return vcr_err_set(err, -errno, UINT64_MAX, "serial: pipe: %s",
					   strerror(errno));
		r = pthread_create(&u->in_thread, NULL, uart_input_main, u);
		if (r)
			return vcr_err_set(err, -r, UINT64_MAX, "serial: input thread: %s",
					   strerror(r));
		u->in_thread_started = true;
	}
	return 0;
}

/* The console's newest whole lines (from the first line start inside the
 * ring; all of it when the ring never wrapped), as the guest wrote them. */
static size_t uart_tail_lines(const struct uart *u, char *buf)
{
	uint64_t n = u->tail_n < UART_TAIL ? u->tail_n : UART_TAIL;
	uint64_t start = u->tail_n - n;
	size_t len = 0;

	for (uint64_t i = start; i < u->tail_n; i++)
		buf[len++] = u->tail[i % UART_TAIL];
	if (start == 0)
		return len;
	char *nl = memchr(buf, '\n', len);
	if (!nl)
		return len;
	size_t skip = (size_t)(nl + 1 - buf);
	memmove(buf, nl + 1, len - skip);
	return len - skip;
}

static void serial_run_end(struct vmm_dev *dev)
{
	struct uart *u = dev->state;
	struct vmm *vm = dev->vm;

	uart_flush(u);
	/* Before vmm_run tells the observer the end (vmm.h: note). */
	if (vm->result.how != VCR_END_PANIC || !vm->obs.note)
		return;
	char buf[UART_TAIL];
	pthread_mutex_lock(&u->lock);
	size_t len = uart_tail_lines(u, buf);
	pthread_mutex_unlock(&u->lock);
	if (len)
		vm->obs.note(vm->obs.ctx, VMM_NO_VCPU, VCR_NOTE_CONSOLE_TAIL, buf, len);
}

static void serial_destroy(struct vmm_dev *dev)
{
	struct uart *u = dev->state;

	if (!u)
		return;
	if (u->in_thread_started) {
		pthread_mutex_lock(&u->lock);
		u->stop = true;
		pthread_cond_signal(&u->rx_taken);
		pthread_mutex_unlock(&u->lock);
		if (write(u->wake[1], "", 1) < 0) {
			/* a full pipe wakes it as well */
		}
		pthread_join(u->in_thread, NULL);
	}
	for (int i = 0; i < 2; i++)
		if (u->wake[i] >= 0)
			close(u->wake[i]);
	uart_flush(u);
	pthread_cond_destroy(&u->rx_taken);
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
