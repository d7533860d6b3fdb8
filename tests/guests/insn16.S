/*
 * insn16: a real-mode guest that triple-faults at a known address, for the
 * instruction-at-exit tests (tests/kvm/insn_exits.sh). Flat binary at
 * 0x7c00 (cs=0). It far-jumps to cs=0x07c0 so that what follows runs with a
 * non-zero CS base (linear = 0x7c00 + ip), reads port 0xf0 (vCPU index |
 * nvcpus << 16: `-c 1` and `-c 2` runs differ there and in eax after it),
 * parks every vCPU but 0, makes one data-port exit from `last_exit_rip`
 * and executes ud2 at `crash_rip`. The IDT limit is 0: #UD -> #GP -> #DF
 * -> shutdown (KVM_EXIT_SHUTDOWN), `vcr run` exits 3. Symbols (nm) are
 * linear addresses; ip = symbol - 0x7c00.
 */
#include "guest.h"

	.code16
	.text
	.globl _start
_start:
	cli
	xor	%ax, %ax
	mov	%ax, %ds
	lidt	null_idt
	ljmp	$0x07c0, $(far - _start)
far:
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

	.align 8
null_idt:
	.word	0
	.long	0
