/*
 * pcsmp32: a multiboot ELF32 that checks what the pc machine gives a kernel
 * that boots as on a PC (docs/vmm.md, "Machines"):
 *   - only the BSP runs at the entry; fw_cfg says how many CPUs there are;
 *   - an interrupt raised through pc-testdev's IRQ line 14 (port 0x200e) is
 *     routed by the in-kernel IOAPIC to the LAPIC and wakes a HLT with
 *     interrupts on (the handler counts it; lowering the line gives none);
 *   - INIT/SIPI through the LAPIC's ICR start every AP at a real-mode
 *     trampoline (SIPI vector 0x07: 0x7000), each AP counts itself once.
 * It prints "pcsmp32: cpus=C irqs=I aps=A", one "pcsmp32: FAIL <what>" line
 * per failed check, and exits through port 0xf4 with a 32-bit write of 0x21
 * (all checks passed) or 0x2f.
 */
#include "guest.h"

#define MB_MAGIC	0x1badb002
#define MB_FLAGS	0x00000003
#define PC_EXIT_OK	0x21
#define PC_EXIT_FAIL	0x2f
#define LAPIC		0xfee00000
#define IOAPIC		0xfec00000
#define IRQ_VECTOR	0x30
#define TRAMPOLINE	0x7000
#define AP_COUNT	0x6ff0		/* a word below the trampoline */
#define SPIN		50000000	/* bounded waits: a machine that never
					 * delivers fails instead of hanging */

	.section .multiboot, "a"
	.align 4
	.long	MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

	.code32
	.text
	.globl _start
_start:
	mov	$stack_top, %esp
	cmp	$0x2badb002, %eax
	jne	die
	/* Only the BSP starts here: any other vCPU at the entry is a failure
	 * the BSP would not see, so it tells the exit port itself. */
	in	$G_PORT_VCPU_ID, %ax
	test	%ax, %ax
	jz	1f
	mov	$PC_EXIT_FAIL, %eax
	out	%eax, $G_PORT_EXIT
	jmp	die
1:
	/* fw_cfg's CPU count (key 5). */
	mov	$0x510, %dx
	mov	$5, %ax
	outw	%ax, %dx
	mov	$0x511, %dx
	xor	%eax, %eax
	in	%dx, %al
	mov	%eax, ncpus

	/* The IDT: vector IRQ_VECTOR is irq_handler, the rest empty. */
	mov	$irq_handler, %eax
	mov	$idt + IRQ_VECTOR * 8, %edi
	mov	%ax, (%edi)
	mov	%cs, %dx		/* whatever code selector the loader gave */
	mov	%dx, 2(%edi)
	movw	$0x8e00, 4(%edi)	/* present, 32-bit interrupt gate */
	shr	$16, %eax
	mov	%ax, 6(%edi)
	lidt	idt_desc

	/* The PIC masked: the IOAPIC alone delivers line 14. */
	mov	$0xff, %al
	out	%al, $0x21
	out	%al, $0xa1
	/* LAPIC on (spurious vector 0xff, software enable). */
	movl	$0x1ff, LAPIC + 0xf0
	/* IOAPIC pin 14: fixed, physical, edge, active high, to APIC id 0. */
	movl	$0x10 + 2 * 14 + 1, IOAPIC
	movl	$0, IOAPIC + 0x10
	movl	$0x10 + 2 * 14, IOAPIC
	movl	$IRQ_VECTOR, IOAPIC + 0x10

	/* Raise line 14 and wait in HLT with interrupts on. */
	mov	$0x200e, %dx
	mov	$1, %al
	out	%al, %dx
	sti
	hlt
	cli
	xor	%al, %al
	out	%al, %dx		/* lowered: no second interrupt */
	mov	$SPIN / 100, %ecx
1:	loop	1b
	cmpl	$1, irqs
	je	1f
	mov	$s_f_irq, %esi
	call	fail
1:
	/* The APs: the trampoline copied to 0x7000, INIT then SIPI to all
	 * but self, then wait for ncpus - 1 of them. */
	movl	$0, AP_COUNT
	mov	$ap_tramp, %esi
	mov	$TRAMPOLINE, %edi
	mov	$ap_tramp_end - ap_tramp, %ecx
	rep movsb
	movl	$0x000c4500, LAPIC + 0x300	/* INIT, assert, all excluding self */
	mov	$SPIN / 100, %ecx
1:	loop	1b
	movl	$0x000c4600 | (TRAMPOLINE >> 12), LAPIC + 0x300	/* SIPI */
	mov	ncpus, %ebx
	dec	%ebx
	mov	$SPIN, %ecx
1:	cmp	%ebx, AP_COUNT
	jae	2f
	pause
	loop	1b
2:	mov	AP_COUNT, %eax
	mov	%eax, aps
	cmp	%ebx, %eax
	je	1f
	mov	$s_f_aps, %esi
	call	fail
1:
	mov	$s_head, %esi
	call	puts
	mov	ncpus, %eax
	call	putdec
	mov	$s_irqs, %esi
	call	puts
	mov	irqs, %eax
	call	putdec
	mov	$s_aps, %esi
	call	puts
	mov	aps, %eax
	call	putdec
	mov	$'\n', %al
	call	putc

	mov	$PC_EXIT_OK, %eax
	cmpl	$0, failed
	je	1f
	mov	$PC_EXIT_FAIL, %eax
1:	out	%eax, $G_PORT_EXIT
die:	cli
	hlt
	jmp	die

/* The frame is dropped by hand instead of IRET: a 32-bit IRET is what
 * PVM's emulator cannot do (KVM_EXIT_INTERNAL_ERROR there), and the only
 * interrupt this guest takes is the one that ends its HLT, after which it
 * wants interrupts off anyway (the gate cleared IF). */
irq_handler:
	incl	irqs
	movl	$0, LAPIC + 0xb0	/* EOI */
	add	$12, %esp		/* eip, cs, eflags */
	jmp	*-12(%esp)

/* The AP trampoline, run in real mode at 0x7000 (cs = 0x0700, ip = 0):
 * count once, then stop for good. */
	.code16
ap_tramp:
	cli
	xor	%ax, %ax
	mov	%ax, %ds
	lock incl AP_COUNT
1:	hlt
	jmp	1b
ap_tramp_end:
	.code32

/* putdec: eax in decimal (at most 10 digits). */
putdec:
	mov	$numbuf + 11, %edi
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

#include "lib32.inc"

	.section .rodata
s_head:	.asciz	"pcsmp32: cpus="
s_irqs:	.asciz	" irqs="
s_aps:	.asciz	" aps="
s_fail:	.asciz	"pcsmp32: FAIL "
s_f_irq: .asciz	"IRQ 14 through the IOAPIC not delivered exactly once"
s_f_aps: .asciz	"not every AP started by INIT/SIPI"
	.align 8
idt_desc:
	.word	256 * 8 - 1
	.long	idt

	.data
failed:	.long	0
irqs:	.long	0
aps:	.long	0
ncpus:	.long	0
numbuf:	.space	12
	.bss
	.align 16
idt:	.space	256 * 8
	.space	4096
stack_top:
