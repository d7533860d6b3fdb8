/*
 * pm32: a 32-bit protected-mode ELF32 that is also a multiboot v1 kernel.
 * Started by the multiboot loader (EAX = 0x2BADB002, EBX = mbi) it prints
 * the command line, mem_upper and the number of memory-map entries, and
 * exits with G_EXIT_PM32_MULTIBOOT; started as a plain ELF32 it says so and
 * exits with G_EXIT_PM32_PLAIN. Built twice: pm32.elf (ELF32, the loader
 * uses its segments) and pm32k.bin (flat, multiboot a.out-kludge addresses).
 */
#include "guest.h"

#define MB_MAGIC	0x1badb002
#ifdef AOUT_KLUDGE
/* pm32k.bin: the same kernel as a flat file whose header says where it goes
 * (flag 16: header_addr, load_addr, load_end_addr, bss_end_addr, entry). */
#define MB_FLAGS	0x00010003
#else
#define MB_FLAGS	0x00000003	/* align modules, want memory info */
#endif

	.section .multiboot, "a"
	.align 4
mb_header:
	.long	MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)
#ifdef AOUT_KLUDGE
	.long	mb_header, __load_start, __load_end, __bss_end, _start
#endif

	.code32
	.text
	.globl _start
_start:
	mov	$stack_top, %esp
	mov	%cr0, %ecx
	test	$1, %cl			/* PE must be set: we are in protected mode */
	jz	fail
	cmp	$0x2badb002, %eax
	jne	plain
	mov	%ebx, %ebp		/* mbi */

	mov	$s_mb, %esi
	call	puts
	testl	$(1 << 2), (%ebp)	/* cmdline present? */
	jz	1f
	mov	16(%ebp), %esi
	call	puts
1:	mov	$s_upper, %esi
	call	puts
	mov	8(%ebp), %eax		/* mem_upper, KiB */
	call	putdec
	mov	$s_mmap, %esi
	call	puts
	xor	%eax, %eax		/* count memory-map entries */
	testl	$(1 << 6), (%ebp)
	jz	3f
	mov	48(%ebp), %esi		/* mmap_addr */
	mov	44(%ebp), %ecx		/* mmap_length */
	add	%esi, %ecx
2:	cmp	%ecx, %esi
	jae	3f
	inc	%eax
	add	(%esi), %esi		/* size field excludes itself */
	add	$4, %esi
	jmp	2b
3:	call	putdec
	mov	$'\n', %al
	call	putc
	mov	$G_EXIT_PM32_MULTIBOOT, %al
	out	%al, $G_PORT_EXIT
	jmp	halt

plain:
	mov	$s_plain, %esi
	call	puts
	mov	$G_EXIT_PM32_PLAIN, %al
	out	%al, $G_PORT_EXIT
fail:
halt:	hlt
	jmp	halt

/* putc: al = byte. */
putc:
	push	%eax
	mov	$G_COM1_LSR, %dx
1:	in	%dx, %al
	test	$G_LSR_THRE, %al
	jz	1b
	pop	%eax
	mov	$G_COM1, %dx
	out	%al, %dx
	ret

/* puts: esi = NUL-terminated string. */
puts:
	lodsb
	test	%al, %al
	jz	1f
	call	putc
	jmp	puts
1:	ret

/* putdec: eax = unsigned value. */
putdec:
	mov	$numbuf_end, %edi
	movb	$0, (%edi)
	mov	$10, %ecx
1:	xor	%edx, %edx
	div	%ecx
	add	$'0', %dl
	dec	%edi
	mov	%dl, (%edi)
	test	%eax, %eax
	jnz	1b
	mov	%edi, %esi
	jmp	puts

	.section .rodata
s_mb:	.asciz	"pm32: multiboot, cmdline="
s_upper: .asciz	" mem_upper="
s_mmap:	.asciz	" mmap="
s_plain: .asciz	"pm32: protected mode, no multiboot\n"

	.bss
numbuf:	.space	15
numbuf_end: .space 1
	.align 16
	.space	4096
stack_top:
