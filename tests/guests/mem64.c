/*
 * mem64: the guest for memory in traces (tests/kvm/mem_checkpoints.sh). It
 * writes `quiet` once, then G_MEM_ROUNDS rounds of `pattern` (byte i of
 * round r is i * 7 + r), each followed by one data-port exit (al = r), then
 * calls mem64_level1 -> mem64_level2 (one more round, r = G_MEM_ROUNDS + 1)
 * -> mem64_crash, which executes ud2. Its #UD handler (mem64_start.S) keeps
 * the faulting frame walkable (CFI) and reports through the exit port
 * (G_EXIT_MEM_CRASH), so that the last exit holds the crashed stack on
 * every KVM (a triple fault on AMD resets the vCPU before it exits).
 * Built with frame pointers: gdb walks main's call chain with the ELF.
 */
#include "guest.h"

unsigned char pattern[4096] __attribute__((aligned(4096)));
unsigned char quiet[4096] __attribute__((aligned(4096)));
volatile unsigned long mem64_round;

struct idt_entry {
	unsigned short off0, sel;
	unsigned char ist, type;
	unsigned short off1;
	unsigned int off2, zero;
} __attribute__((packed));

static struct idt_entry idt[32] __attribute__((aligned(16)));

void mem64_ud_handler(void);
void mem64_main(void);
void mem64_level1(unsigned r);
void mem64_level2(unsigned r);
void mem64_crash(unsigned r);
void mem64_poke(unsigned r);

static inline void outb(unsigned short port, unsigned char v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static void fill(unsigned r)
{
	for (unsigned i = 0; i < sizeof(pattern); i++)
		((volatile unsigned char *)pattern)[i] = (unsigned char)(i * 7 + r);
}

/* Not a leaf: mem64_crash keeps a frame pointer like its callers. */
__attribute__((noinline)) void mem64_poke(unsigned r)
{
	outb(G_PORT_DATA, (unsigned char)r);
}

__attribute__((noinline)) void mem64_crash(unsigned r)
{
	mem64_poke(r);
	__asm__ volatile("ud2");
}

__attribute__((noinline)) void mem64_level2(unsigned r)
{
	fill(r);
	mem64_round = r;
	mem64_crash(r);
	__asm__ volatile("" ::: "memory");	/* not a tail call */
}

__attribute__((noinline)) void mem64_level1(unsigned r)
{
	mem64_level2(r + 1);
	__asm__ volatile("" ::: "memory");
}

static void idt_setup(void)
{
	unsigned short cs;
	unsigned long h = (unsigned long)mem64_ud_handler;
	struct {
		unsigned short limit;
		unsigned long base;
	} __attribute__((packed)) d = { sizeof(idt) - 1, (unsigned long)idt };

	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	idt[6] = (struct idt_entry){ (unsigned short)h, cs, 0, 0x8e, (unsigned short)(h >> 16),
				     (unsigned int)(h >> 32), 0 };
	__asm__ volatile("lidt %0" : : "m"(d));
}

void mem64_main(void)
{
	idt_setup();
	for (unsigned i = 0; i < sizeof(quiet); i++)
		((volatile unsigned char *)quiet)[i] = (unsigned char)(i ^ 0x5a);
	for (unsigned r = 0; r < G_MEM_ROUNDS; r++) {
		fill(r);
		mem64_round = r;
		outb(G_PORT_DATA, (unsigned char)r);
	}
	mem64_level1(G_MEM_ROUNDS);
	__asm__ volatile("" ::: "memory");
}
