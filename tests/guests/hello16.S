/*
 * hello16: a real-mode flat binary, loaded at 0x7c00 (cs=0, ip=0x7c00).
 * Prints one line on COM1 by polling LSR, then halts with interrupts off:
 * `vcr run` ends "halted" with status 0.
 */
#include "guest.h"

	.code16
	.text
	.globl _start
_start:
	cli
	xor	%ax, %ax
	mov	%ax, %ds
	mov	$msg, %si
next:
	lodsb
	test	%al, %al
	jz	done
	call	putc
	jmp	next
done:
	hlt
	jmp	done		/* nothing can wake us, but be safe */

/* putc: al = byte. Waits for THRE, then writes THR. */
putc:
	mov	%al, %bl
	mov	$G_COM1_LSR, %dx
1:	in	%dx, %al
	test	$G_LSR_THRE, %al
	jz	1b
	mov	$G_COM1, %dx
	mov	%bl, %al
	out	%al, %dx
	ret

msg:	.asciz "Hello from real mode!\n"
