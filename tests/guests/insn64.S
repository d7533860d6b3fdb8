/*
 * insn64: the 64-bit member of insn16/insn32 (tests/kvm/insn_exits.sh):
 * reads port 0xf0 (vCPU index | nvcpus << 16), parks every vCPU but 0,
 * makes one data-port exit from `last_exit_rip` and executes ud2 at
 * `crash_rip` with an empty IDT: triple fault, `vcr run` exits 3. Paging
 * is the loader's identity map, whose tables the trace holds.
 */
#include "guest.h"

	.code64
	.text
	.globl _start
_start:
	lidt	null_idt(%rip)
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
	.quad	0
