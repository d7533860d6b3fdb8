/* gdb64_start: entry of the gdb test guest (gdb64.c): a stack, then main. */
	.code64
	.text
	.globl _start
_start:
	lea	stack_top(%rip), %rsp
	call	gdb64_main
1:	hlt
	jmp	1b

	.bss
	.align 16
	.space	8192
stack_top:
