/*
 * rdtsc64: a long-mode guest whose exits depend on RDTSC (for replay
 * divergence tests). 16 times: read the TSC; if bit 7 of it is set, write
 * the data port (an OUT exit), else read the vCPU-id port (an IN exit).
 * RDTSC does not exit under KVM, so the sequence of exit kinds differs from
 * run to run and a replay that does not reproduce the TSC diverges.
 * Prints how many OUTs it made and exits with G_EXIT_RDTSC_DONE.
 */
#include "guest.h"

	.code64
	.text
	.globl _start
_start:
	mov	$stack_top, %rsp
	mov	$16, %ecx
	xor	%ebx, %ebx		/* OUT count */
	.globl	tsc_loop
tsc_loop:
	rdtsc
	test	$0x80, %al		/* bit 7: an exit takes thousands of
					 * cycles, so this bit is noise */
	jz	1f
	inc	%ebx
	out	%al, $G_PORT_DATA
	jmp	2f
1:	mov	$G_PORT_VCPU_ID, %dx
	in	%dx, %al
2:	dec	%ecx
	jnz	tsc_loop
	lea	s_msg(%rip), %rsi
	call	puts
	mov	%rbx, %rdi
	call	putdec
	mov	$'\n', %dil
	call	putc
	mov	$G_EXIT_RDTSC_DONE, %dil
	jmp	exit

#include "lib64.inc"

	.section .rodata
s_msg:	.asciz	"rdtsc64: outs="

	.bss
	.align 16
	.space	4096
stack_top:
