/*
 * smp64: a long-mode guest for several vCPUs. Without an in-kernel irqchip
 * there is no INIT/SIPI: every vCPU starts at _start with the same
 * registers, and reads its index and the vCPU count from port
 * G_PORT_VCPU_ID. Each takes a spin lock (xchg) to print "smp64: cpu N",
 * then counts itself in `arrived` (lock inc). vCPU 0 waits for all, prints
 * "smp64: N cpus" and exits with G_EXIT_SMP_BASE + N; the others halt.
 */
#include "guest.h"

	.code64
	.text
	.globl _start
_start:
	mov	$G_PORT_VCPU_ID, %dx
	in	%dx, %eax
	movzwl	%ax, %r12d		/* my index */
	shr	$16, %eax
	mov	%eax, %r13d		/* number of vCPUs */
	mov	%r12, %rax		/* own stack: stacks + (index + 1) * 4 KiB */
	inc	%rax
	shl	$12, %rax
	lea	stacks(%rip), %rsp
	add	%rax, %rsp

1:	mov	$1, %eax		/* print under the lock */
	xchg	%eax, print_lock(%rip)
	test	%eax, %eax
	jz	2f
	pause
	jmp	1b
2:	lea	s_cpu(%rip), %rsi
	call	puts
	mov	%r12, %rdi
	call	putdec
	mov	$'\n', %dil
	call	putc
	movl	$0, print_lock(%rip)
	lock incl arrived(%rip)

	test	%r12, %r12
	jnz	ap_halt
3:	pause				/* vCPU 0: wait for everybody */
	mov	arrived(%rip), %eax
	cmp	%r13d, %eax
	jb	3b
	lea	s_all(%rip), %rsi
	call	puts
	mov	%r13, %rdi
	call	putdec
	lea	s_cpus(%rip), %rsi
	call	puts
	mov	$G_EXIT_SMP_BASE, %dil
	add	%r13b, %dil
	jmp	exit

ap_halt:
	cli
	hlt
	jmp	ap_halt

#include "lib64.inc"

	.section .rodata
s_cpu:	.asciz	"smp64: cpu "
s_all:	.asciz	"smp64: "
s_cpus:	.asciz	" cpus\n"

	.data
	.align 64
print_lock: .long 0
	.align 64
arrived: .long 0

	.bss
	.align 4096
stacks:	.space	4096 * 64		/* VMM_MAX_VCPUS */
