/*
 * vmport32: a multiboot ELF32 that calls the VMware backdoor port (0x5658)
 * at CPL 0 and checks the registers as QEMU's vmport (hw/i386/vmport.c)
 * leaves them: GETVERSION (0x0a: eax 6, ebx the magic "VMXh", ecx 2),
 * GETRAMSIZE (0x14: eax the RAM size, ebx 0x1177; run it with -m 32M),
 * GETBIOSUUID (0x13: eax..edx all zero, no UUID), GET_VCPU_INFO (0x44: eax
 * bit 3, the vCPU has x2APIC, as on a pc with the in-kernel LAPIC), an
 * unknown command (0xfff: eax all ones, ebx and ecx untouched), eax without
 * the magic (eax all ones), only ecx's low byte as the command (0x10a is
 * GETVERSION), a 1-byte IN and a 32-bit OUT (eax gets the answer in full
 * either way, as QEMU sets it). edx holds the port and must stay (but for
 * GETBIOSUUID). The answers are QEMU 10.0's (-accel kvm -machine pc -m 32M
 * -kernel vmport32.elf prints the same lines).
 *
 * For each case it prints "vmport32: NAME eax=X ebx=X ecx=X edx=X" (hex),
 * one "vmport32: FAIL NAME" line when a register is not what QEMU leaves,
 * and exits through port 0xf4 with a 32-bit write of 0x21 (every case as
 * QEMU) or 0x2f. Without the port (the bare machine) an IN reads all ones
 * and the calls fail.
 */
#include "guest.h"

#define MB_MAGIC	0x1badb002
#define MB_FLAGS	0x00000003
#define VP_EXIT_OK	0x21
#define VP_EXIT_FAIL	0x2f
#define VP_PORT		0x5658
#define VP_MAGIC	0x564d5868
#define VP_SENTINEL	0xdeadbeef	/* ebx before each call */
#define VP_RAM		0x2000000	/* -m 32M */
#define K_INL		0
#define K_INB		1
#define K_OUTL		2

/* NAME, eax, ecx in (ebx VP_SENTINEL, edx VP_PORT), how, eax ebx ecx edx out */
.macro vcase name, eax, ecx, kind, weax, webx, wecx, wedx=VP_PORT
	.long	\name, \eax, \ecx, \kind, \weax, \webx, \wecx, \wedx
.endm

	.section .multiboot, "a"
	.align 4
	.long	MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

	.code32
	.text
	.globl _start
_start:
	mov	$stack_top, %esp
	mov	$cases, %esi
next:	cmpl	$0, (%esi)
	je	done
	mov	4(%esi), %eax
	mov	$VP_SENTINEL, %ebx
	mov	8(%esi), %ecx
	mov	$VP_PORT, %edx
	cmpl	$K_INB, 12(%esi)
	je	1f
	cmpl	$K_OUTL, 12(%esi)
	je	2f
	inl	%dx, %eax
	jmp	3f
1:	inb	%dx, %al
	jmp	3f
2:	outl	%eax, %dx
3:	mov	%eax, got
	mov	%ebx, got + 4
	mov	%ecx, got + 8
	mov	%edx, got + 12
	call	report
	add	$32, %esi
	jmp	next

done:	mov	$VP_EXIT_OK, %eax
	cmpl	$0, failed
	je	1f
	mov	$VP_EXIT_FAIL, %eax
1:	out	%eax, $G_PORT_EXIT
die:	cli
	hlt
	jmp	die

/* report: esi = the case, got = its registers after the call. */
report:
	push	%esi
	mov	$s_head, %esi
	call	puts
	mov	(%esp), %esi
	mov	(%esi), %esi
	call	puts
	mov	$regnames, %edi
	xor	%ebx, %ebx
1:	mov	%edi, %esi
	call	puts
	mov	got(,%ebx,4), %eax
	call	puthex
	add	$6, %edi
	inc	%ebx
	cmp	$4, %ebx
	jb	1b
	mov	$'\n', %al
	call	putc
	pop	%esi
	mov	16(%esi), %eax
	cmp	got, %eax
	jne	2f
	mov	20(%esi), %eax
	cmp	got + 4, %eax
	jne	2f
	mov	24(%esi), %eax
	cmp	got + 8, %eax
	jne	2f
	mov	28(%esi), %eax
	cmp	got + 12, %eax
	jne	2f
	ret
2:	push	%esi
	mov	(%esi), %esi
	call	fail
	pop	%esi
	ret

#include "lib32.inc"

	.section .rodata
s_head:	.asciz	"vmport32: "
s_fail:	.asciz	"vmport32: FAIL "
regnames: .asciz " eax="
	.asciz	" ebx="
	.asciz	" ecx="
	.asciz	" edx="
n_ver:	.asciz	"getversion"
n_unk:	.asciz	"unknown-0xfff"
n_nomagic: .asciz "no-magic"
n_ram:	.asciz	"getramsize"
n_uuid:	.asciz	"getbiosuuid"
n_info:	.asciz	"get-vcpu-info"
n_low:	.asciz	"getversion-0x10a"
n_inb:	.asciz	"getversion-inb"
n_out:	.asciz	"getversion-outl"
	.align 4
cases:
	vcase n_ver, VP_MAGIC, 0x0a, K_INL, 6, VP_MAGIC, 2
	vcase n_unk, VP_MAGIC, 0xfff, K_INL, 0xffffffff, VP_SENTINEL, 0xfff
	vcase n_nomagic, 0x12345678, 0x0a, K_INL, 0xffffffff, VP_SENTINEL, 0x0a
	vcase n_ram, VP_MAGIC, 0x14, K_INL, VP_RAM, 0x1177, 0x14
	vcase n_uuid, VP_MAGIC, 0x13, K_INL, 0, 0, 0, 0
	vcase n_info, VP_MAGIC, 0x44, K_INL, 8, VP_SENTINEL, 0x44
	vcase n_low, VP_MAGIC, 0x10a, K_INL, 6, VP_MAGIC, 2
	vcase n_inb, VP_MAGIC, 0x0a, K_INB, 6, VP_MAGIC, 2
	vcase n_out, VP_MAGIC, 0x0a, K_OUTL, 6, VP_MAGIC, 2
	.long	0

	.data
failed:	.long	0
got:	.space	16
	.bss
	.align 16
	.space	4096
stack_top:
