/*
 * gdb64: the long-mode guest for the gdb tests, in freestanding C with debug
 * info. main calls tick() until `counter` reaches `limit`; tick increments
 * `counter` and makes one data-port exit, so the guest is exit-driven (and
 * replays exactly). It prints a line at start and end and exits with
 * G_EXIT_GDB_DONE. gdb can `break tick`, `print counter`, `set var limit`.
 */
#include "guest.h"

volatile unsigned long counter;
volatile unsigned long limit = 1000;

static inline void outb(unsigned short port, unsigned char v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline unsigned char inb(unsigned short port)
{
	unsigned char v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static void putc_uart(char c)
{
	while (!(inb(G_COM1_LSR) & G_LSR_THRE))
		;
	outb(G_COM1, (unsigned char)c);
}

static void puts_uart(const char *s)
{
	while (*s)
		putc_uart(*s++);
}

__attribute__((noinline)) void tick(void)
{
	counter++;
	outb(G_PORT_DATA, (unsigned char)counter);
}

void gdb64_main(void);
void gdb64_main(void)
{
	puts_uart("gdb64: start\n");
	while (counter < limit)
		tick();
	puts_uart("gdb64: done\n");
	outb(G_PORT_EXIT, G_EXIT_GDB_DONE);
}
