/*
 * hv32: a multiboot ELF32 that uses KVM's Hyper-V emulation as the machine
 * offers it with `--cpuid host,hv-passthrough` (vmm/hyperv.c; docs/vmm.md,
 * "Hyper-V enlightenments"), at CPL 0, paging off (addresses are physical):
 *   - CPUID 0x40000000: the Hyper-V vendor leaf (its max leaf and vendor),
 *     0x40000001 "Hv#1"; KVM's own signature moved to 0x40000100;
 *   - the VP index MSR (vCPU 0: 0);
 *   - the reference time counter MSR advances;
 *   - the guest OS id and the hypercall page: KVM writes a VMCALL or
 *     VMMCALL there;
 *   - the reference TSC page: valid (sequence not 0) where the host's
 *     clock allows it (a TSC clocksource), printed either way;
 *   - the SynIC, where leaf 0x40000003 offers it (the pc machine): its
 *     message and event pages and SCONTROL enabled (each write a
 *     KVM_EXIT_HYPERV SYNIC exit to the VMM), SCONTROL reads back;
 *   - HvSignalEvent (fast hypercall 0x5d) to a connection nobody bound:
 *     with the SynIC on, KVM hands it to the VMM (KVM_EXIT_HYPERV HCALL),
 *     whose answer is HV_STATUS_INVALID_CONNECTION_ID (0x12), as QEMU's;
 *     without it KVM answers HV_STATUS_INVALID_HYPERCALL_INPUT (3) itself
 *     (it falls through to HvPostMessage's check for an active SynIC).
 * It prints "hv32: vendor=<12 chars> max=X kvm-leaves=X features=X" (leaf
 * 0x40000003 EAX), "hv32: vp_index=N
 * tsc-page=valid|invalid signal-event=X" (hex), a "hv32: FAIL <what>" line
 * per failed check, and exits through port 0xf4 with a 32-bit write of 0x21
 * (all passed) or 0x2f; without the Hyper-V interface leaf it prints
 * "hv32: no Hyper-V" and writes 0x30. Other vCPUs halt at the entry.
 */
#include "guest.h"

#define MB_MAGIC	0x1badb002
#define MB_FLAGS	0x00000003
#define HV_EXIT_OK	0x21
#define HV_EXIT_FAIL	0x2f
#define HV_EXIT_NONE	0x30
#define MSR_GUEST_OS_ID	0x40000000
#define MSR_HYPERCALL	0x40000001
#define MSR_VP_INDEX	0x40000002
#define MSR_TIME_REF	0x40000020
#define MSR_REF_TSC	0x40000021
#define MSR_SCONTROL	0x40000080
#define MSR_SIEFP	0x40000082
#define MSR_SIMP	0x40000083
#define HV_SYNIC_AVAILABLE (1 << 2)	/* leaf 0x40000003 EAX */
#define HC_SIGNAL_EVENT	0x5d
#define HC_FAST		(1 << 16)

	.section .multiboot, "a"
	.align 4
	.long	MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

	.code32
	.text
	.globl _start
_start:
	mov	$stack_top, %esp
	in	$G_PORT_VCPU_ID, %ax	/* vCPU 0 checks; the others stop */
	test	%ax, %ax
	jnz	die

	/* Leaf 0x40000001: the Hyper-V interface, or none at all. */
	mov	$0x40000001, %eax
	cpuid
	cmp	$0x31237648, %eax	/* "Hv#1" */
	je	1f
	mov	$s_none, %esi
	call	puts
	mov	$HV_EXIT_NONE, %eax
	out	%eax, $G_PORT_EXIT
	jmp	die
1:	mov	$0x40000000, %eax
	cpuid
	mov	%ebx, vendor
	mov	%ecx, vendor + 4
	mov	%edx, vendor + 8
	mov	%eax, %edi
	mov	$s_vendor, %esi
	call	puts
	mov	$vendor, %esi
	call	puts
	mov	$s_max, %esi
	call	puts
	mov	%edi, %eax
	call	puthex
	/* KVM's signature: the first base from 0x40000000 up that has it. */
	mov	$s_kvm, %esi
	call	puts
	mov	$0x40000000, %edi
2:	mov	%edi, %eax
	cpuid
	cmp	$0x4b4d564b, %ebx	/* "KVMK" */
	jne	3f
	cmp	$0x564b4d56, %ecx	/* "VMKV" */
	jne	3f
	cmp	$0x0000004d, %edx	/* "M\0\0\0" */
	je	4f
3:	add	$0x100, %edi
	cmp	$0x40010000, %edi
	jb	2b
	xor	%edi, %edi
4:	mov	%edi, %eax
	call	puthex
	mov	$s_feat, %esi
	call	puts
	mov	$0x40000003, %eax
	cpuid
	mov	%eax, features
	call	puthex
	mov	$'\n', %al
	call	putc

	/* The VP index. */
	mov	$MSR_VP_INDEX, %ecx
	rdmsr
	mov	%eax, vp_index

	/* The reference counter (100 ns units) advances over a spin. */
	mov	$MSR_TIME_REF, %ecx
	rdmsr
	mov	%eax, %ebx
	mov	$2000000, %ecx
1:	loop	1b
	mov	$MSR_TIME_REF, %ecx
	rdmsr
	cmp	%ebx, %eax
	ja	1f
	mov	$s_f_ref, %esi
	call	fail
1:
	/* Guest OS id (Linux's form: vendor 0x8100), then the hypercall page. */
	mov	$MSR_GUEST_OS_ID, %ecx
	mov	$0x81000000, %edx
	mov	$0x00060100, %eax
	wrmsr
	mov	$MSR_HYPERCALL, %ecx
	xor	%edx, %edx
	mov	$hcpage + 1, %eax	/* GPA | enable */
	wrmsr
	cmpw	$0x010f, hcpage		/* 0f 01 c1 (VMCALL) or 0f 01 d9 (VMMCALL) */
	je	1f
	mov	$s_f_hc, %esi
	call	fail
1:
	/* The reference TSC page. */
	mov	$MSR_REF_TSC, %ecx
	xor	%edx, %edx
	mov	$tscpage + 1, %eax
	wrmsr

	/* The SynIC, where offered (the pc machine): message page, event
	 * page, then SCONTROL on. */
	testl	$HV_SYNIC_AVAILABLE, features
	jz	1f
	mov	$MSR_SIMP, %ecx
	xor	%edx, %edx
	mov	$msgpage + 1, %eax
	wrmsr
	mov	$MSR_SIEFP, %ecx
	xor	%edx, %edx
	mov	$evpage + 1, %eax
	wrmsr
	mov	$MSR_SCONTROL, %ecx
	xor	%edx, %edx
	mov	$1, %eax
	wrmsr
	rdmsr
	cmp	$1, %eax
	je	1f
	mov	$s_f_synic, %esi
	call	fail
1:
	/* HvSignalEvent, fast: EDX:EAX the control, EBX:ECX the connection
	 * id (7, bound to nothing); the status comes back in EDX:EAX. */
	mov	$HC_SIGNAL_EVENT | HC_FAST, %eax
	xor	%edx, %edx
	xor	%ebx, %ebx
	mov	$7, %ecx
	xor	%esi, %esi
	xor	%edi, %edi
	call	hcpage
	mov	%eax, hc_status

	mov	$s_vp, %esi
	call	puts
	mov	vp_index, %eax
	call	puthex
	mov	$s_tsc, %esi
	call	puts
	mov	$s_valid, %esi
	cmpl	$0, tscpage		/* tsc_sequence: 0 is "not valid" */
	jne	1f
	mov	$s_invalid, %esi
1:	call	puts
	mov	$s_sig, %esi
	call	puts
	mov	hc_status, %eax
	call	puthex
	mov	$'\n', %al
	call	putc
	cmpl	$0, vp_index
	je	1f
	mov	$s_f_vp, %esi
	call	fail
1:	mov	$0x12, %eax		/* the VMM's answer, with the SynIC on */
	testl	$HV_SYNIC_AVAILABLE, features
	jnz	2f
	mov	$3, %eax		/* KVM's own, without */
2:	cmp	%eax, hc_status
	je	1f
	mov	$s_f_sig, %esi
	call	fail
1:
	mov	$HV_EXIT_OK, %eax
	cmpl	$0, failed
	je	1f
	mov	$HV_EXIT_FAIL, %eax
1:	out	%eax, $G_PORT_EXIT
die:	cli
	hlt
	jmp	die

#include "lib32.inc"

	.section .rodata
s_none:	.asciz	"hv32: no Hyper-V\n"
s_vendor: .asciz "hv32: vendor="
s_max:	.asciz	" max="
s_kvm:	.asciz	" kvm-leaves="
s_feat:	.asciz	" features="
s_vp:	.asciz	"hv32: vp_index="
s_tsc:	.asciz	" tsc-page="
s_valid: .asciz	"valid"
s_invalid: .asciz "invalid"
s_sig:	.asciz	" signal-event="
s_fail:	.asciz	"hv32: FAIL "
s_f_ref: .asciz	"reference counter does not advance"
s_f_hc:	.asciz	"no hypercall instruction in the hypercall page"
s_f_synic: .asciz "SCONTROL does not read back enabled"
s_f_vp:	.asciz	"vp_index of vCPU 0 not 0"
s_f_sig: .asciz	"HvSignalEvent status not 0x12 (SynIC on) or 3 (off)"

	.data
failed:	.long	0
vp_index: .long	0
features: .long	0
hc_status: .long 0
vendor:	.space	16
	.bss
	.align 4096
hcpage:	.space	4096
tscpage: .space	4096
msgpage: .space	4096
evpage:	.space	4096
	.align 16
	.space	4096
stack_top:
