/* mem64_start: entry and #UD handler of the memory test guest (mem64.c). */
#include "guest.h"

	.code64
	.text
	.globl _start
_start:
	lea	stack_top(%rip), %rsp
	xor	%ebp, %ebp		/* the outermost frame */
	call	mem64_main
1:	hlt
	jmp	1b

/* #UD (no error code): [rsp] holds the faulting rip. The CFI says so, as a
 * signal frame (gdb then shows the ud2 itself as frame 1's pc, and unwinds
 * the crashed function through its own rbp-based CFI). */
	.cfi_sections .debug_frame	/* guest.ld keeps no .eh_frame */
	.globl	mem64_ud_handler
	.type	mem64_ud_handler, @function
mem64_ud_handler:
	.cfi_startproc simple
	.cfi_signal_frame
	.cfi_def_cfa %rsp, 8
	.cfi_offset %rip, -8
	.cfi_offset %rsp, 16	/* the interrupted rsp, in the frame the CPU pushed */
	push	%rbp
	.cfi_adjust_cfa_offset 8
	.cfi_offset %rbp, -16
	mov	%rsp, %rbp
	mov	$G_EXIT_MEM_CRASH, %al
	.globl	mem64_report
mem64_report:
	out	%al, $G_PORT_EXIT
2:	hlt
	jmp	2b
	.cfi_endproc
	.size	mem64_ud_handler, . - mem64_ud_handler

	.bss
	.align 16
	.space	8192
stack_top:
