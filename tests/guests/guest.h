/*
 * tests/guests/guest.h: constants shared by the test guests (assembly, via
 * the C preprocessor) and the tests that check them. The VMM side of these
 * numbers is vmm/vmm.h; docs/vmm.md lists them.
 */
#ifndef VCR_TESTS_GUEST_H
#define VCR_TESTS_GUEST_H

#define G_COM1		0x3f8
#define G_COM1_LSR	0x3fd
#define G_LSR_THRE	0x20
#define G_PORT_VCPU_ID	0xf0	/* in: index | nvcpus << 16 */
#define G_PORT_DATA	0xf1	/* out: an exit, nothing else */
#define G_PORT_EXIT	0xf4	/* out: vcr exits with the byte */
#define G_MMIO_BASE	0xd0000000
#define G_MMIO_VALUE	0x5643522d4d4d494f	/* what the MMIO test device reads */

/* Exit-port statuses of the guests (a guest that halts exits 0). */
#define G_EXIT_PM32_MULTIBOOT	0x32	/* pm32 started by the multiboot loader */
#define G_EXIT_PM32_PLAIN	0x33	/* pm32 started as a plain ELF32 */
#define G_EXIT_COUNT_OK		0x40	/* count64: every MMIO read was right */
#define G_EXIT_COUNT_BAD	0x41	/* count64: an MMIO read was wrong */
#define G_EXIT_SMP_BASE		0x50	/* smp64: + number of vCPUs that ran */
#define G_EXIT_GDB_DONE		0x60	/* gdb64: counter reached limit */
#define G_EXIT_RDTSC_DONE	0x70	/* rdtsc64 */
#define G_EXIT_ECHO_OK		0x21	/* echo64: echoed a line of input */
#define G_EXIT_MEM_CRASH	0x80	/* mem64: its #UD handler reports the crash */
#define G_MEM_ROUNDS		64	/* mem64: pattern rounds, one exit each */
#define G_EXIT_ECHO_TIMEOUT	0x22	/* echo64: no input came */
#define G_ECHO_POLLS		100000	/* echo64: LSR polls before giving up */

/* count64: iterations; each makes one port exit and two MMIO exits. */
#define G_COUNT_ITERS	100
/* count64 register values at iteration i (checked by the recorder tests):
 *   rax = G_COUNT_F(i), rbx = G_COUNT_G(i), rcx = i,
 *   r15 = exits the guest performed so far, including the current one. */
#define G_COUNT_F(i)	((i) * (i) * 3 + 0x1234)
#define G_COUNT_G(i)	(((i) << 8) ^ 0xabcdef)

#endif
