/*
 * qdev32: a multiboot ELF32 linked low (at 0x8000, over vcr's usual mbi
 * place) that checks the QEMU-compatible machine vcr offers (docs/vmm.md,
 * "Guests built for QEMU"): where the mbi and the module went, fw_cfg,
 * pc-testdev, unbacked MMIO and unknown ports. It prints
 * "qdev32: cmdline=<cmdline> module=<its first line>", then "qdev32: cpuid
 * x2apic=X tsc-deadline=T" (CPUID leaf 1's bits), "qdev32: pic imr=X" (the
 * 8259s' masks, master << 8 | slave), then one line per
 * failed check ("qdev32: FAIL <what>"), and exits through port 0xf4 with a
 * 32-bit write of QD_EXIT_OK or QD_EXIT_FAIL (so --isa-debug-exit makes
 * vcr exit (v << 1) | 1, and the plain exit port the low byte v).
 */
#include "guest.h"

#define MB_MAGIC	0x1badb002
#define MB_FLAGS	0x00000003
#define QD_EXIT_OK	0x21
#define QD_EXIT_FAIL	0x2f

	.section .multiboot, "a"
	.align 4
	.long	MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

	.code32
	.text
	.globl _start
_start:
	mov	%eax, %edi
	in	$G_PORT_VCPU_ID, %ax	/* vCPU 0 checks; the others stop */
	test	%ax, %ax
	jnz	die
	mov	%edi, %eax
	mov	$stack_top, %esp
	cmp	$0x2badb002, %eax
	jne	die
	mov	%ebx, %ebp

	/* The mbi: out of page 0 and out of the image. */
	cmp	$0x1000, %ebp
	jb	f_mbi
	cmp	$__image_end, %ebp
	jae	1f
	cmp	$_start_image, %ebp
	jae	f_mbi
	jmp	1f
f_mbi:	mov	$s_f_mbi, %esi
	call	fail
1:
	mov	$s_cmd, %esi
	call	puts
	mov	16(%ebp), %esi
	call	puts
	mov	$s_mod, %esi
	call	puts
	testl	$(1 << 3), (%ebp)
	jz	f_mod
	cmpl	$1, 20(%ebp)		/* mods_count */
	jne	f_mod
	mov	24(%ebp), %ebx		/* mods_addr */
	mov	(%ebx), %esi		/* mod_start: past the image */
	cmp	$__image_end, %esi
	jb	f_mod
	mov	4(%ebx), %ecx		/* mod_end */
2:	cmp	%ecx, %esi		/* print its first line */
	jae	3f
	lodsb
	cmp	$'\n', %al
	je	3f
	call	putc
	jmp	2b
f_mod:	mov	$s_f_mod, %esi
	call	fail
3:	mov	$'\n', %al
	call	putc

	/* CPUID leaf 1 ECX: x2APIC (bit 21) and TSC-deadline (bit 24), which
	 * the machine offers only with an in-kernel LAPIC (pc). */
	mov	$1, %eax
	xor	%ecx, %ecx
	cpuid
	mov	%ecx, %edi
	mov	$s_x2apic, %esi
	call	puts
	mov	%edi, %eax
	shr	$21, %eax
	and	$1, %al
	add	$'0', %al
	call	putc
	mov	$s_tscdl, %esi
	call	puts
	mov	%edi, %eax
	shr	$24, %eax
	and	$1, %al
	add	$'0', %al
	call	putc
	mov	$'\n', %al
	call	putc

	/* The 8259s' masks as the firmware left them (bare: no PIC, all
	 * ones as any unknown port). */
	mov	$s_pic, %esi
	call	puts
	in	$0x21, %al
	movzbl	%al, %eax
	shl	$8, %eax
	in	$0xa1, %al
	call	puthex
	mov	$'\n', %al
	call	putc

	/* fw_cfg: signature, CPU count, RAM size, an unknown key. */
	mov	$0x510, %dx
	xor	%eax, %eax
	outw	%ax, %dx
	call	cfg_read4
	cmp	$0x554d4551, %eax	/* "QEMU" */
	je	1f
	mov	$s_f_sig, %esi
	call	fail
1:	mov	$5, %ax
	call	cfg_sel
	call	cfg_read4		/* 2 bytes of count, then 0s */
	mov	%eax, %edi
	in	$G_PORT_VCPU_ID, %eax
	shr	$16, %eax
	cmp	%eax, %edi
	je	1f
	mov	$s_f_cpus, %esi
	call	fail
1:	mov	$3, %ax
	call	cfg_sel
	call	cfg_read4
	mov	%eax, %edi
	call	cfg_read4
	test	%eax, %eax
	jnz	f_ram
	mov	8(%ebp), %eax		/* mem_upper KiB + 1 MiB = RAM */
	shl	$10, %eax
	add	$0x100000, %eax
	cmp	%eax, %edi
	je	1f
f_ram:	mov	$s_f_ram, %esi
	call	fail
1:	mov	$0x1234, %ax
	call	cfg_sel
	call	cfg_read4
	test	%eax, %eax
	jz	1f
	mov	$s_f_unk, %esi
	call	fail
1:
	/* pc-testdev scratch register, whole and by bytes. */
	mov	$0x12345678, %eax
	out	%eax, $0xe0
	in	$0xe2, %al
	cmp	$0x34, %al
	jne	f_scr
	mov	$0xaa, %al
	out	%al, $0xe9
	in	$0xe0, %eax
	cmp	$0x1234aa78, %eax
	je	1f
f_scr:	mov	$s_f_scr, %esi
	call	fail
1:	/* flush page: the page stays what it was. */
	movl	$0x5a5a5a5a, flushme
	mov	$flushme, %eax
	out	%eax, $0xe4
	cmpl	$0x5a5a5a5a, flushme
	je	1f
	mov	$s_f_flush, %esi
	call	fail
1:	/* pc-testdev's MMIO buffer, both ends. */
	movl	$0xdeadbeef, 0xff000100
	movl	$0x0badf00d, 0xff00fffc
	cmpl	$0xdeadbeef, 0xff000100
	jne	f_buf
	cmpl	$0x0badf00d, 0xff00fffc
	je	1f
f_buf:	mov	$s_f_buf, %esi
	call	fail
1:	/* Unbacked MMIO reads 0, an unknown port all ones. */
	movl	$0x11111111, 0xe0000000
	cmpl	$0, 0xe0000000
	je	1f
	mov	$s_f_mmio, %esi
	call	fail
1:	in	$0x80, %al
	cmp	$0xff, %al
	je	1f
	mov	$s_f_port, %esi
	call	fail
1:
	mov	$QD_EXIT_OK, %eax
	cmpl	$0, failed
	je	1f
	mov	$QD_EXIT_FAIL, %eax
1:	out	%eax, $G_PORT_EXIT
die:	hlt
	jmp	die

/* cfg_sel: ax = key. cfg_read4: eax = next 4 data bytes, little-endian. */
cfg_sel:
	mov	$0x510, %dx
	outw	%ax, %dx
	ret
cfg_read4:
	mov	$0x511, %dx
	mov	$4, %ecx
	xor	%ebx, %ebx
1:	in	%dx, %al
	shl	$8, %ebx
	mov	%al, %bl
	loop	1b
	bswap	%ebx			/* first byte read is the lowest */
	mov	%ebx, %eax
	ret

#include "lib32.inc"

	.section .rodata
s_cmd:	.asciz	"qdev32: cmdline="
s_mod:	.asciz	" module="
s_x2apic: .asciz "qdev32: cpuid x2apic="
s_tscdl: .asciz	" tsc-deadline="
s_pic:	.asciz	"qdev32: pic imr="
s_fail:	.asciz	"qdev32: FAIL "
s_f_mbi: .asciz	"mbi in page 0 or inside the image"
s_f_mod: .asciz	"no module past the image"
s_f_sig: .asciz	"fw_cfg signature"
s_f_cpus: .asciz "fw_cfg CPU count"
s_f_ram: .asciz	"fw_cfg RAM size"
s_f_unk: .asciz	"fw_cfg unknown key not 0"
s_f_scr: .asciz	"pc-testdev scratch register"
s_f_flush: .asciz "pc-testdev flush page"
s_f_buf: .asciz	"pc-testdev MMIO buffer"
s_f_mmio: .asciz "unbacked MMIO not 0"
s_f_port: .asciz "unknown port not all ones"

	.data
failed:	.long	0
	.align 4096
flushme: .long	0
	.bss
	.align 16
	.space	4096
stack_top:
