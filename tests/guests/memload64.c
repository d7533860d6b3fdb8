/*
 * memload64: the guest of bench/mem_bench.sh. MEMLOAD_ITERS iterations,
 * each one data-port exit; built twice: memload64.elf (MEMLOAD_DIRTY: each
 * iteration also writes a 128-byte text line into the next page of a
 * 256 KiB area, so that every page is dirtied once per 64 iterations, with
 * text-like bytes) and exits64.elf (exits only). Exits with G_EXIT_GDB_DONE.
 */
#include "guest.h"

#ifndef MEMLOAD_ITERS
#define MEMLOAD_ITERS 1000000u
#endif
#define AREA_PAGES 64u

#ifdef MEMLOAD_DIRTY
static char area[AREA_PAGES * 4096] __attribute__((aligned(4096)));
#endif

static inline void outb(unsigned short port, unsigned char v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

void memload64_main(void);
void memload64_main(void)
{
	for (unsigned i = 0; i < MEMLOAD_ITERS; i++) {
#ifdef MEMLOAD_DIRTY
		static const char words[] = "the quick brown fox jumps over the lazy dog; "
					    "pack my box with five dozen liquor jugs. ";
		char *line = area + (i % AREA_PAGES) * 4096 + (i / AREA_PAGES * 128) % 4096;
		for (unsigned k = 0; k < 127; k++)
			line[k] = words[(k + i) % (sizeof(words) - 1)];
		line[127] = '\n';
#endif
		outb(G_PORT_DATA, (unsigned char)i);
	}
	outb(G_PORT_EXIT, G_EXIT_GDB_DONE);
}
