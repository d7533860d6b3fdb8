/*
 * spin64: a long-mode guest that never ends on its own, for tests that stop
 * a run from outside (SIGINT, SIGTERM, SIGKILL) and for long recordings
 * (--ring), and for the debug tests (kicks, all-stop on several vCPUs).
 * vCPU 0 prints one line; then every vCPU loops forever on its own stack:
 * rax = iteration, out %al, $G_PORT_DATA (one exit per iteration).
 */
#include "guest.h"

	.code64
	.text
	.globl _start
_start:
	mov	$G_PORT_VCPU_ID, %dx
	in	%dx, %eax
	movzwl	%ax, %r12d		/* index: own stack, only 0 prints */
	lea	1(%r12), %rax
	shl	$12, %rax
	lea	stacks(%rip), %rsp
	add	%rax, %rsp
	test	%r12, %r12
	jnz	1f
	lea	s_msg(%rip), %rsi
	call	puts
1:	xor	%eax, %eax
	.globl	spin_loop
spin_loop:
	inc	%rax
	out	%al, $G_PORT_DATA
	jmp	spin_loop

#include "lib64.inc"

	.section .rodata
s_msg:	.asciz	"spin64: spinning\n"

	.bss
	.align 4096
stacks:	.space	4096 * 64		/* VMM_MAX_VCPUS */
