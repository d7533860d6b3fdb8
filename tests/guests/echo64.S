/*
 * echo64: a long-mode guest that reads COM1 input (stdin of `vcr run`).
 * It prints "echo64: ready", then reads bytes (polling LSR.DR) and echoes
 * them upper-cased until a newline: "echo64: HELLO" -> exit G_EXIT_ECHO_OK.
 * If no byte arrives within G_ECHO_POLLS polls of LSR it gives up with
 * G_EXIT_ECHO_TIMEOUT (each poll is an exit, so keep the limit small).
 */
#include "guest.h"

#define LSR_DR	0x01

	.code64
	.text
	.globl _start
_start:
	mov	$stack_top, %rsp
	lea	s_ready(%rip), %rsi
	call	puts
	lea	s_prefix(%rip), %rsi
	call	puts
next:
	mov	$G_ECHO_POLLS, %ecx
1:	mov	$G_COM1_LSR, %dx
	in	%dx, %al
	test	$LSR_DR, %al
	jnz	2f
	dec	%ecx
	jnz	1b
	mov	$G_EXIT_ECHO_TIMEOUT, %dil
	jmp	exit
2:	mov	$G_COM1, %dx
	in	%dx, %al		/* RBR */
	cmp	$'\n', %al
	je	done
	cmp	$'a', %al		/* upper-case a-z */
	jb	3f
	cmp	$'z', %al
	ja	3f
	sub	$0x20, %al
3:	movzbl	%al, %edi
	call	putc
	jmp	next
done:
	mov	$'\n', %dil
	call	putc
	mov	$G_EXIT_ECHO_OK, %dil
	jmp	exit

#include "lib64.inc"

	.section .rodata
s_ready:	.asciz	"echo64: ready\n"
s_prefix:	.asciz	"echo64: "

	.bss
	.align 16
	.space	4096
stack_top:
