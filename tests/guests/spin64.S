/*
 * spin64: a long-mode guest that never ends on its own, for tests that stop
 * a run from outside (SIGINT, SIGTERM, SIGKILL) and for long recordings
 * (--ring). It prints one line, then loops forever: rax = iteration,
 * out %al, $G_PORT_DATA (one exit per iteration).
 */
#include "guest.h"

	.code64
	.text
	.globl _start
_start:
	mov	$stack_top, %rsp
	lea	s_msg(%rip), %rsi
	call	puts
	xor	%eax, %eax
	.globl	spin_loop
spin_loop:
	inc	%rax
	out	%al, $G_PORT_DATA
	jmp	spin_loop

#include "lib64.inc"

	.section .rodata
s_msg:	.asciz	"spin64: spinning\n"

	.bss
	.align 16
	.space	4096
stack_top:
