/*
 * crash64: a long-mode guest that triple-faults at a known rip. It prints a
 * line, makes one data-port exit (rax = 0xdead) from the instruction just
 * before `crash_rip`, then executes ud2 at `crash_rip` (the symbol, read
 * with nm, tells tests the address). The VMM starts long-mode guests with an
 * empty IDT (limit 0): #UD cannot be delivered -> #GP -> #DF -> triple fault
 * (KVM_EXIT_SHUTDOWN), and `vcr run` exits 3.
 */
#include "guest.h"

	.code64
	.text
	.globl _start
_start:
	mov	$stack_top, %rsp
	lea	s_msg(%rip), %rsi
	call	puts
	lidt	null_idt(%rip)		/* make sure, whatever the VMM did */
	mov	$0xdead, %eax
	.globl	last_exit_rip
last_exit_rip:
	out	%al, $G_PORT_DATA	/* 2 bytes: ends at crash_rip */
	.globl	crash_rip
crash_rip:
	ud2
	jmp	crash_rip

#include "lib64.inc"

	.section .rodata
s_msg:	.asciz	"crash64: triple fault ahead\n"
	.align 8
null_idt:
	.word	0
	.quad	0

	.bss
	.align 16
	.space	4096
stack_top:
