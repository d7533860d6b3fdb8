/*
 * mbcalc32: a multiboot v1 kernel (flat, a.out-kludge addresses) whose port
 * exits are the same under any VMM that loads it: it takes nothing from
 * its loader (no mbi, no boot registers), sets its own GDT, segments, TR,
 * IDT (empty), CR0/CR3/CR4, EFER and EFLAGS, then writes G_MBCALC_ITERS computed
 * values to G_PORT_DATA (an unassigned port outside vcr) with every
 * general register computed, prints "mbcalc32: ok" to COM1 without polling
 * its status (so the exits do not depend on the UART model), and writes
 * G_EXIT_MBCALC to the exit port (vcr exits with it; QEMU's isa-debug-exit
 * at 0xf4 exits with 2 * it + 1). Used by tests/kvm/record_foreign.sh to
 * compare `vcr record -- qemu` with `vcr run --record`, exit by exit.
 */
#include "guest.h"

#define G_MBCALC_ITERS	64
#define G_EXIT_MBCALC	0x34	/* not in guest.h: this guest's own */

#define MB_MAGIC	0x1badb002
#define MB_FLAGS	0x00010000	/* the header gives the addresses */

	.section .multiboot, "a"
	.align 4
mb_header:
	.long	MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)
	.long	mb_header, __load_start, __load_end, __bss_end, _start

	.code32
	.text
	.globl _start
_start:
	cli
	lgdt	gdt_desc
	ljmp	$0x08, $1f
1:	mov	$0x10, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %fs
	mov	%eax, %gs
	mov	%eax, %ss
	mov	$stack_top, %esp
	mov	$tss, %eax		/* TR: our own 32-bit TSS, not the loader's */
	mov	%ax, gdt_tss + 2
	shr	$16, %eax
	mov	%al, gdt_tss + 4
	mov	%ah, gdt_tss + 7
	mov	$0x18, %eax
	ltr	%ax
	lidt	idt_desc
	mov	$0x00000011, %eax	/* PE | ET: caches on, no WP/NE/AM */
	mov	%eax, %cr0
	xor	%eax, %eax
	mov	%eax, %cr4
	mov	%eax, %cr3
	xor	%edx, %edx
	mov	$0xc0000080, %ecx	/* EFER = 0 */
	wrmsr
	pushl	$2
	popfl

	xor	%ecx, %ecx		/* i */
2:	mov	%ecx, %eax		/* eax = i * i * 3 + 0x1234 */
	imul	%ecx, %eax
	imul	$3, %eax, %eax
	add	$0x1234, %eax
	mov	%ecx, %ebx		/* ebx = (i << 8) ^ 0xabcdef */
	shl	$8, %ebx
	xor	$0xabcdef, %ebx
	lea	(%ecx,%ecx,8), %esi	/* esi = 9 i */
	mov	%ecx, %edi		/* edi = ~i */
	not	%edi
	mov	%eax, %ebp		/* ebp = eax + ebx */
	add	%ebx, %ebp
	mov	$G_PORT_DATA, %edx
	out	%al, %dx		/* one byte: QEMU's debug exit is at 0xf4 */
	inc	%ecx
	cmp	$G_MBCALC_ITERS, %ecx
	jb	2b

	mov	$s_ok, %esi
	mov	$G_COM1, %edx
3:	lodsb
	test	%al, %al
	jz	4f
	out	%al, %dx
	jmp	3b
4:	mov	$G_EXIT_MBCALC, %eax
	out	%al, $G_PORT_EXIT
5:	hlt
	jmp	5b

	.data
	.align 8
gdt:	.quad	0
	.quad	0x00cf9b000000ffff	/* 0x08: code, flat, 32-bit, accessed */
	.quad	0x00cf93000000ffff	/* 0x10: data, flat, accessed */
gdt_tss: .quad	0x0000890000000067	/* 0x18: 32-bit TSS, 104 bytes; base set above */
gdt_end:
gdt_desc:
	.word	gdt_end - gdt - 1
	.long	gdt
idt_desc:
	.word	0
	.long	0
s_ok:	.asciz	"mbcalc32: ok\n"

	.bss
	.align 16
tss:	.space	104
	.align 16
	.space	4096
stack_top:
