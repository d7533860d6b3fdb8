/*
 * count64: a long-mode guest that makes a known number of exits while
 * computing known register values (see guest.h). For i = 0..G_COUNT_ITERS-1:
 *     rax = G_COUNT_F(i), rbx = G_COUNT_G(i), rcx = i
 *     out %al, $G_PORT_DATA              port exit
 *     mov G_MMIO_BASE, %rdx              MMIO read exit (must read G_MMIO_VALUE)
 *     mov %rax, G_MMIO_BASE+8            MMIO write exit
 * %r15 counts every exit the guest makes (the UART ones too), incremented
 * just before the exiting instruction: at any exit, r15 = number of exits
 * so far including that one. At the end it prints the port and MMIO exit
 * counts, then makes its last two exits: `out %eax, $G_PORT_DATA` with eax =
 * total exits of the run (these two included), then the exit port.
 */
#include "guest.h"

	.code64
	.text
	.globl _start
_start:
	mov	$stack_top, %rsp
	xor	%r15d, %r15d		/* all exits */
	xor	%r14d, %r14d		/* MMIO reads with a wrong value */
	xor	%r10d, %r10d		/* port exits of the loop */
	xor	%r11d, %r11d		/* MMIO exits of the loop */
	mov	$G_MMIO_BASE, %r12d
	movabs	$G_MMIO_VALUE, %r13
	xor	%ecx, %ecx
	.globl	count_loop
count_loop:
	mov	%rcx, %rax		/* rax = i*i*3 + 0x1234 */
	imul	%rax, %rax
	lea	(%rax, %rax, 2), %rax
	add	$0x1234, %rax
	mov	%rcx, %rbx		/* rbx = (i << 8) ^ 0xabcdef */
	shl	$8, %rbx
	xor	$0xabcdef, %rbx
	inc	%r15
	inc	%r10
	.globl	port_exit
port_exit:
	out	%al, $G_PORT_DATA
	inc	%r15
	inc	%r11
	mov	(%r12), %rdx
	cmp	%r13, %rdx
	je	1f
	inc	%r14
1:	inc	%r15
	inc	%r11
	mov	%rax, 8(%r12)
	inc	%rcx
	cmp	$G_COUNT_ITERS, %rcx
	jb	count_loop

	lea	s_port(%rip), %rsi
	call	puts
	mov	%r10, %rdi
	call	putdec
	lea	s_mmio(%rip), %rsi
	call	puts
	mov	%r11, %rdi
	call	putdec
	mov	$'\n', %dil
	call	putc

	add	$2, %r15		/* the two exits below */
	mov	%r15, %rax
	out	%eax, $G_PORT_DATA
	mov	$G_EXIT_COUNT_OK, %al
	test	%r14, %r14
	jz	2f
	mov	$G_EXIT_COUNT_BAD, %al
2:	out	%al, $G_PORT_EXIT
3:	hlt
	jmp	3b

#include "lib64.inc"

	.section .rodata
s_port:	.asciz	"count64: port="
s_mmio:	.asciz	" mmio="

	.bss
	.align 16
	.space	4096
stack_top:
