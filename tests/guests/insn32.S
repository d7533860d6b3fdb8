/*
 * insn32: a 32-bit protected-mode ELF32 guest that triple-faults at a
 * known address with paging on, for the instruction-at-exit tests
 * (tests/kvm/insn_exits.sh). Its page directory is part of the image (so
 * the trace holds it: the loader writes it): PDE 0 and PDE 0x100 both map
 * the first 4 MiB (4 MiB pages, CR4.PSE), and after enabling paging it
 * jumps to the alias, linear 0x40000000 + its load address. There it
 * reads port 0xf0 (vCPU index | nvcpus << 16: `-c 1` and `-c 2` runs
 * differ there and in eax after it), parks every vCPU but 0, makes one
 * data-port exit from `last_exit_rip` and executes ud2 at `crash_rip`.
 * IDT limit 0: #UD -> #GP -> #DF -> shutdown, `vcr run` exits 3. Symbols
 * (nm) are load addresses; eip = symbol + INSN32_ALIAS.
 * Built twice: insn32.elf as above, insn32f.elf (-DINSN32_FLAT) without
 * paging (eip = symbol), for a KVM that cannot run 32-bit paging (PVM
 * triple-faults at `paging_on`, the instruction that sets CR0.PG).
 */
#include "guest.h"

#ifdef INSN32_FLAT
#define INSN32_ALIAS	0
#else
#define INSN32_ALIAS	0x40000000
#endif

	.code32
	.text
	.globl _start
_start:
	mov	$stack_top, %esp
	lidt	null_idt
#ifndef INSN32_FLAT
	mov	$page_dir, %eax
	mov	%eax, %cr3
	mov	%cr4, %eax
	or	$0x10, %eax		/* PSE: 4 MiB pages */
	mov	%eax, %cr4
	mov	%cr0, %eax
	or	$0x80000000, %eax	/* PG */
	.globl	paging_on
paging_on:
	mov	%eax, %cr0
	mov	$(vcpu_in + INSN32_ALIAS), %eax
	jmp	*%eax
#endif
	.globl	vcpu_in
vcpu_in:
	in	$G_PORT_VCPU_ID, %eax
	.globl	after_in
after_in:
	test	%ax, %ax
	jnz	park
	.globl	last_exit_rip
last_exit_rip:
	out	%al, $G_PORT_DATA
	.globl	crash_rip
crash_rip:
	ud2
park:
	hlt
	jmp	park

	.section .rodata
	.align 8
null_idt:
	.word	0
	.long	0

	.data
	.align 4096
page_dir:
	.long	0x83			/* 0: 4 MiB at 0, present, writable, PS */
	.fill	0xff, 4, 0
	.long	0x83			/* 0x100: linear 1 GiB -> 0 */
	.fill	0x2ff, 4, 0

	.bss
	.align 16
	.space	4096
stack_top:
