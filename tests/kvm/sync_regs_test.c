/*
 * sync_regs_test: KVM_CAP_SYNC_REGS on the KVM we run on, checked end to end.
 *
 * vcr rests on kvm_run->s.regs (Documentation/virt/kvm/api.rst,
 * "KVM_CAP_SYNC_REGS"): with kvm_valid_regs set, KVM copies regs, sregs and
 * vcpu events into the run page at every exit; with a bit in kvm_dirty_regs,
 * the next KVM_RUN loads the matching set from there. This test drives a real
 * vCPU with raw ioctls (no vcr code) through a real-mode guest of a few
 * instructions that exits by port I/O, and checks each of those promises.
 * Same idea as Linux's tools/testing/selftests/kvm/x86/sync_regs_test.c;
 * our own guest and checks.
 *
 * Guest memory (64 KiB at guest physical 0):
 *   0x0000  real-mode IVT, vector 2 (NMI) -> GUEST_NMI
 *   0x1000  guest code (srt_guest_*), entered with cs = 0, ip = 0x1000
 *   0x2000  MAGIC_A, read through es after the host moves es.base there
 *   0x3000  MAGIC_B, where a non-dirty es.base change would point
 *   0x8000  top of the stack (ss = 0)
 *
 * Exits, in order:                             the host then
 *   A  out 0x10 (al)   computed rax, rcx      sets rbx, dirty REGS
 *   B  out 0x11 (eax)  ebx echoed             sets es.base and cr4, dirty SREGS;
 *                                             rbx without dirty bit
 *   C  out 0x12 (eax)  es:0, cr4, old ebx     sets NMI pending, dirty EVENTS;
 *                                             es.base without dirty bit
 *   D  out 0x14 (eax)  NMI handler, es:0      clears kvm_valid_regs
 *   E  out 0x13 (al)   back from iret         -
 *   F  hlt
 *
 * Needs /dev/kvm: fails without it unless VCR_ALLOW_SKIP_KVM=1 (then skips).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/lib/tap.h"

#define MEM_SIZE	0x10000
#define CODE_GPA	0x1000
#define MAGIC_A_GPA	0x2000
#define MAGIC_B_GPA	0x3000
#define STACK_TOP	0x8000
#define MAGIC_A		0xc0ffee42u
#define MAGIC_B		0xbadc0de5u
#define RBX_DIRTY	0x1122334455667788ull
#define X86_CR4_OSFXSR	(1ull << 9)
#define SYNC_ALL	((uint32_t)(KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS))

/*
 * The guest, assembled by the compiler as 16-bit code into .rodata; the host
 * copies srt_guest_start..srt_guest_end to CODE_GPA. Label offsets give the
 * rip expected at each exit. The operand-size prefixes make the 32-bit
 * arithmetic legal in real mode.
 */
__asm__(
	".pushsection .rodata\n"
	".code16\n"
	".globl srt_guest_start, srt_guest_after_a, srt_guest_after_b\n"
	".globl srt_guest_after_c, srt_guest_nmi, srt_guest_after_d\n"
	".globl srt_guest_after_e, srt_guest_end\n"
	".globl srt_guest_out_a, srt_guest_out_b, srt_guest_out_d, srt_guest_out_e\n"
	"srt_guest_start:\n"
	"	movl $0x12345678, %eax\n"
	"	addl $0x11111111, %eax\n"
	"	movl %eax, %ecx\n"
	"	roll $8, %ecx\n"
	"	xorl $0x0f0f0f0f, %ecx\n"
	"srt_guest_out_a:\n"
	"	outb %al, $0x10\n"
	"srt_guest_after_a:\n"
	"	movl %ebx, %eax\n"
	"srt_guest_out_b:\n"
	"	outl %eax, $0x11\n"
	"srt_guest_after_b:\n"
	"	movl %es:0, %eax\n"
	"	movl %cr4, %ecx\n"
	"	movl %ebx, %edx\n"
	"	outl %eax, $0x12\n"
	"srt_guest_after_c:\n"
	"	movl $0x13131313, %eax\n"
	"srt_guest_out_e:\n"
	"	outb %al, $0x13\n"
	"srt_guest_after_e:\n"
	"	hlt\n"
	"srt_guest_nmi:\n"
	"	movl %es:0, %eax\n"
	"srt_guest_out_d:\n"
	"	outl %eax, $0x14\n"
	"srt_guest_after_d:\n"
	"	iret\n"
	"srt_guest_end:\n"
	".code64\n"
	".popsection\n");

extern const unsigned char srt_guest_start[], srt_guest_after_a[], srt_guest_after_b[],
	srt_guest_after_c[], srt_guest_nmi[], srt_guest_after_d[], srt_guest_after_e[],
	srt_guest_end[], srt_guest_out_a[], srt_guest_out_b[], srt_guest_out_d[],
	srt_guest_out_e[];

static uint64_t guest_rip(const unsigned char *label)
{
	return CODE_GPA + (uint64_t)(label - srt_guest_start);
}

/*
 * Where rip points at an OUT exit depends on the KVM. x86's common code
 * (kvm_fast_pio, used by kvm_amd and kvm_intel) exits with rip still on the
 * OUT and skips it when the next KVM_RUN completes the I/O; other backends
 * (PVM) exit with rip already past it. Either is a valid convention, but one
 * KVM must keep to one: the first exit decides, every later one must match.
 */
static int rip_convention = -1;	/* 0: rip at the OUT, 1: rip after it */

static int rip_at_out(uint64_t rip, const unsigned char *out, const unsigned char *after)
{
	int c;

	if (rip == guest_rip(out))
		c = 0;
	else if (rip == guest_rip(after))
		c = 1;
	else
		return 0;
	if (rip_convention < 0) {
		rip_convention = c;
		tap_diag("rip at an OUT exit points %s", c ? "past the OUT (already skipped)" :
			 "at the OUT (KVM skips it on the next KVM_RUN)");
	}
	return c == rip_convention;
}

struct vm {
	int kvm, vm, vcpu;
	struct kvm_run *run;
	size_t run_size;
	unsigned char *mem;
};

/* KVM_RUN, restarted on EINTR. Returns 0 or -errno. */
static int vcpu_run(struct vm *v)
{
	int r;

	do
		r = ioctl(v->vcpu, KVM_RUN, 0);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

static const char *exit_name(uint32_t reason)
{
	switch (reason) {
	case KVM_EXIT_IO: return "IO";
	case KVM_EXIT_HLT: return "HLT";
	case KVM_EXIT_MMIO: return "MMIO";
	case KVM_EXIT_SHUTDOWN: return "SHUTDOWN";
	case KVM_EXIT_FAIL_ENTRY: return "FAIL_ENTRY";
	case KVM_EXIT_INTERNAL_ERROR: return "INTERNAL_ERROR";
	case KVM_EXIT_DEBUG: return "DEBUG";
	default: return "other";
	}
}

/*
 * Runs the vCPU to the next exit and checks it is an OUT of `size` bytes to
 * `port`; returns the data (zero-extended). A vCPU that stops elsewhere makes
 * every later point meaningless: bail out with everything we know.
 */
static uint32_t run_to_out(struct vm *v, uint16_t port, uint8_t size, const char *what)
{
	struct kvm_regs regs;
	uint32_t data = 0;
	int r = vcpu_run(v);

	if (r < 0)
		tap_bail("%s: KVM_RUN failed: %s", what, strerror(-r));
	if (v->run->exit_reason != KVM_EXIT_IO || v->run->io.direction != KVM_EXIT_IO_OUT ||
	    v->run->io.port != port || v->run->io.size != size || v->run->io.count != 1) {
		if (ioctl(v->vcpu, KVM_GET_REGS, &regs) == 0)
			tap_diag("rip 0x%llx rax 0x%llx", regs.rip, regs.rax);
		tap_bail("%s: expected OUT of %u bytes to port 0x%x, got exit %u (%s) "
			 "dir %u port 0x%x size %u count %u", what, size, port,
			 v->run->exit_reason, exit_name(v->run->exit_reason),
			 v->run->io.direction, v->run->io.port, v->run->io.size,
			 v->run->io.count);
	}
	memcpy(&data, (unsigned char *)v->run + v->run->io.data_offset, size);
	return data;
}

/* ---- field-by-field comparison, naming every difference ---- */

struct field {
	const char *name;
	size_t off;
	size_t size;
};

#define F(type, m) { #m, offsetof(type, m), sizeof(((type *)0)->m) }

static const struct field regs_fields[] = {
	F(struct kvm_regs, rax), F(struct kvm_regs, rbx), F(struct kvm_regs, rcx),
	F(struct kvm_regs, rdx), F(struct kvm_regs, rsi), F(struct kvm_regs, rdi),
	F(struct kvm_regs, rsp), F(struct kvm_regs, rbp), F(struct kvm_regs, r8),
	F(struct kvm_regs, r9), F(struct kvm_regs, r10), F(struct kvm_regs, r11),
	F(struct kvm_regs, r12), F(struct kvm_regs, r13), F(struct kvm_regs, r14),
	F(struct kvm_regs, r15), F(struct kvm_regs, rip), F(struct kvm_regs, rflags),
};

#define SEG(sg) F(struct kvm_sregs, sg.base), F(struct kvm_sregs, sg.limit),	\
	F(struct kvm_sregs, sg.selector), F(struct kvm_sregs, sg.type),		\
	F(struct kvm_sregs, sg.present), F(struct kvm_sregs, sg.dpl),		\
	F(struct kvm_sregs, sg.db), F(struct kvm_sregs, sg.s),			\
	F(struct kvm_sregs, sg.l), F(struct kvm_sregs, sg.g),			\
	F(struct kvm_sregs, sg.avl), F(struct kvm_sregs, sg.unusable)

static const struct field sregs_fields[] = {
	SEG(cs), SEG(ds), SEG(es), SEG(fs), SEG(gs), SEG(ss), SEG(tr), SEG(ldt),
	F(struct kvm_sregs, gdt.base), F(struct kvm_sregs, gdt.limit),
	F(struct kvm_sregs, idt.base), F(struct kvm_sregs, idt.limit),
	F(struct kvm_sregs, cr0), F(struct kvm_sregs, cr2), F(struct kvm_sregs, cr3),
	F(struct kvm_sregs, cr4), F(struct kvm_sregs, cr8), F(struct kvm_sregs, efer),
	F(struct kvm_sregs, apic_base), F(struct kvm_sregs, interrupt_bitmap),
};

static const struct field events_fields[] = {
	F(struct kvm_vcpu_events, exception.injected),
	F(struct kvm_vcpu_events, exception.nr),
	F(struct kvm_vcpu_events, exception.has_error_code),
	F(struct kvm_vcpu_events, exception.pending),
	F(struct kvm_vcpu_events, exception.error_code),
	F(struct kvm_vcpu_events, interrupt.injected),
	F(struct kvm_vcpu_events, interrupt.nr),
	F(struct kvm_vcpu_events, interrupt.soft),
	F(struct kvm_vcpu_events, interrupt.shadow),
	F(struct kvm_vcpu_events, nmi.injected),
	F(struct kvm_vcpu_events, nmi.pending),
	F(struct kvm_vcpu_events, nmi.masked),
	F(struct kvm_vcpu_events, sipi_vector),
	F(struct kvm_vcpu_events, flags),
	F(struct kvm_vcpu_events, smi.smm),
	F(struct kvm_vcpu_events, smi.pending),
	F(struct kvm_vcpu_events, smi.smm_inside_nmi),
	F(struct kvm_vcpu_events, smi.latched_init),
	F(struct kvm_vcpu_events, triple_fault.pending),
	F(struct kvm_vcpu_events, exception_has_payload),
	F(struct kvm_vcpu_events, exception_payload),
};

static uint64_t field_get(const void *base, const struct field *f)
{
	const unsigned char *p = (const unsigned char *)base + f->off;
	uint64_t v = 0;

	if (f->size <= sizeof(v))
		memcpy(&v, p, f->size);	/* little-endian: the low bytes */
	return v;
}

/* Returns the number of differing fields and prints each as a diagnostic. */
static int compare_fields(const char *what, const struct field *fields, size_t n,
			  const void *synced, const void *got)
{
	int diffs = 0;

	for (size_t i = 0; i < n; i++) {
		const struct field *f = &fields[i];
		const unsigned char *a = (const unsigned char *)synced + f->off;
		const unsigned char *b = (const unsigned char *)got + f->off;

		if (memcmp(a, b, f->size) == 0)
			continue;
		diffs++;
		if (f->size <= 8)
			tap_diag("  %s.%s: s.regs has 0x%llx, KVM_GET_* has 0x%llx", what,
				 f->name, (unsigned long long)field_get(synced, f),
				 (unsigned long long)field_get(got, f));
		else
			tap_diag("  %s.%s differs", what, f->name);
	}
	return diffs;
}

static void get_or_bail(struct vm *v, unsigned long req, void *buf, const char *name)
{
	if (ioctl(v->vcpu, req, buf) < 0)
		tap_bail("%s failed: %s", name, strerror(errno));
}

static void check_synced_equal_get(struct vm *v, const char *exit)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_vcpu_events events;

	memset(&events, 0, sizeof(events));
	get_or_bail(v, KVM_GET_REGS, &regs, "KVM_GET_REGS");
	get_or_bail(v, KVM_GET_SREGS, &sregs, "KVM_GET_SREGS");
	get_or_bail(v, KVM_GET_VCPU_EVENTS, &events, "KVM_GET_VCPU_EVENTS");
	tap_ok(!compare_fields("regs", regs_fields, sizeof(regs_fields) / sizeof(regs_fields[0]),
			       &v->run->s.regs.regs, &regs),
	       "exit %s: synced regs equal KVM_GET_REGS", exit);
	tap_ok(!compare_fields("sregs", sregs_fields,
			       sizeof(sregs_fields) / sizeof(sregs_fields[0]),
			       &v->run->s.regs.sregs, &sregs),
	       "exit %s: synced sregs equal KVM_GET_SREGS", exit);
	tap_ok(!compare_fields("events", events_fields,
			       sizeof(events_fields) / sizeof(events_fields[0]),
			       &v->run->s.regs.events, &events),
	       "exit %s: synced events equal KVM_GET_VCPU_EVENTS", exit);
}

/* ---- setup ---- */

static void vm_create(struct vm *v)
{
	struct kvm_userspace_memory_region region;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	int size;

	v->vm = ioctl(v->kvm, KVM_CREATE_VM, 0);
	if (v->vm < 0)
		tap_bail("KVM_CREATE_VM failed: %s", strerror(errno));
	v->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (v->mem == MAP_FAILED)
		tap_bail("mmap of guest memory failed: %s", strerror(errno));
	region = (struct kvm_userspace_memory_region){
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = MEM_SIZE,
		.userspace_addr = (uintptr_t)v->mem,
	};
	if (ioctl(v->vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		tap_bail("KVM_SET_USER_MEMORY_REGION failed: %s", strerror(errno));

	v->vcpu = ioctl(v->vm, KVM_CREATE_VCPU, 0);
	if (v->vcpu < 0)
		tap_bail("KVM_CREATE_VCPU failed: %s", strerror(errno));
	size = ioctl(v->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < (int)sizeof(struct kvm_run))
		tap_bail("KVM_GET_VCPU_MMAP_SIZE returned %d: %s", size,
			 size < 0 ? strerror(errno) : "too small");
	v->run_size = (size_t)size;
	v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->vcpu, 0);
	if (v->run == MAP_FAILED)
		tap_bail("mmap of kvm_run failed: %s", strerror(errno));

	memcpy(v->mem + CODE_GPA, srt_guest_start, (size_t)(srt_guest_end - srt_guest_start));
	uint16_t nmi_vector[2] = { (uint16_t)guest_rip(srt_guest_nmi), 0 };	/* ip, cs */
	memcpy(v->mem + 2 * 4, nmi_vector, sizeof(nmi_vector));
	uint32_t a = MAGIC_A, b = MAGIC_B;
	memcpy(v->mem + MAGIC_A_GPA, &a, sizeof(a));
	memcpy(v->mem + MAGIC_B_GPA, &b, sizeof(b));

	/* From the reset state (cs 0xf000, base 0xffff0000), move cs to 0. */
	get_or_bail(v, KVM_GET_SREGS, &sregs, "KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(v->vcpu, KVM_SET_SREGS, &sregs) < 0)
		tap_bail("KVM_SET_SREGS failed: %s", strerror(errno));
	memset(&regs, 0, sizeof(regs));
	regs.rip = CODE_GPA;
	regs.rflags = 0x2;
	regs.rsp = STACK_TOP;
	if (ioctl(v->vcpu, KVM_SET_REGS, &regs) < 0)
		tap_bail("KVM_SET_REGS failed: %s", strerror(errno));
}

int main(void)
{
	struct vm v = { .kvm = -1, .vm = -1, .vcpu = -1 };
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_vcpu_events events;
	uint32_t data, want_rax, want_rcx;
	int r, cap;

	setvbuf(stdout, NULL, _IOLBF, 0);
	v.kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (v.kvm < 0) {
		const char *allow = getenv("VCR_ALLOW_SKIP_KVM");
		char why[160];

		snprintf(why, sizeof(why), "cannot open /dev/kvm: %s", strerror(errno));
		if (allow && strcmp(allow, "1") == 0)
			tap_skip_all(why);
		tap_plan(1);
		tap_ok(0, "open /dev/kvm (set VCR_ALLOW_SKIP_KVM=1 to skip instead)");
		tap_diag("%s", why);
		return 1;
	}

	/* Opening /dev/kvm and creating the VM are preconditions (a failure
	 * above is a failed point, vm_create bails), not points of their own
	 * that could only pass. */
	tap_plan(24);
	r = ioctl(v.kvm, KVM_GET_API_VERSION, 0);
	tap_is_u64((uint64_t)r, (uint64_t)KVM_API_VERSION, "KVM_GET_API_VERSION is %d", KVM_API_VERSION);
	cap = ioctl(v.kvm, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS);
	if (!tap_ok(cap > 0 && (cap & SYNC_ALL) == SYNC_ALL,
		    "KVM_CAP_SYNC_REGS reports regs|sregs|events"))
		tap_diag("  KVM_CHECK_EXTENSION(KVM_CAP_SYNC_REGS) = %d (want bits 0x%x)%s%s", cap,
			 SYNC_ALL, cap < 0 ? ": " : "", cap < 0 ? strerror(errno) : "");

	vm_create(&v);

	/* Bits outside KVM_SYNC_X86_VALID_FIELDS make KVM_RUN fail before entry. */
	v.run->kvm_valid_regs = SYNC_ALL | (1u << 7);
	r = vcpu_run(&v);
	if (!tap_ok(r == -EINVAL, "KVM_RUN rejects an unknown kvm_valid_regs bit with EINVAL"))
		tap_diag("  KVM_RUN returned %s", r ? strerror(-r) : "success");
	v.run->kvm_valid_regs = SYNC_ALL;
	v.run->kvm_dirty_regs = 1u << 7;
	r = vcpu_run(&v);
	if (!tap_ok(r == -EINVAL, "KVM_RUN rejects an unknown kvm_dirty_regs bit with EINVAL"))
		tap_diag("  KVM_RUN returned %s", r ? strerror(-r) : "success");
	v.run->kvm_dirty_regs = 0;

	/* Exit A: the guest computed rax and rcx. */
	want_rax = 0x12345678u + 0x11111111u;
	want_rcx = ((want_rax << 8) | (want_rax >> 24)) ^ 0x0f0f0f0fu;
	data = run_to_out(&v, 0x10, 1, "exit A");
	tap_is_u64(data, want_rax & 0xff, "exit A: OUT 0x10 carries al = 0x%x", want_rax & 0xff);
	check_synced_equal_get(&v, "A");
	if (!tap_ok((uint32_t)v.run->s.regs.regs.rax == want_rax &&
		    (uint32_t)v.run->s.regs.regs.rcx == want_rcx &&
		    rip_at_out(v.run->s.regs.regs.rip, srt_guest_out_a, srt_guest_after_a),
		    "exit A: synced eax, ecx, rip hold what the guest computed"))
		tap_diag("  eax 0x%x (want 0x%x), ecx 0x%x (want 0x%x), rip 0x%llx (want 0x%llx or past it)",
			 (uint32_t)v.run->s.regs.regs.rax, want_rax,
			 (uint32_t)v.run->s.regs.regs.rcx, want_rcx,
			 v.run->s.regs.regs.rip, (unsigned long long)guest_rip(srt_guest_out_a));

	/* Exit B: rbx written through s.regs with KVM_SYNC_X86_REGS dirty. */
	v.run->s.regs.regs.rbx = RBX_DIRTY;
	v.run->kvm_dirty_regs = KVM_SYNC_X86_REGS;
	data = run_to_out(&v, 0x11, 4, "exit B");
	tap_is_u64(data, (uint32_t)RBX_DIRTY, "exit B: guest sees rbx set with KVM_SYNC_X86_REGS dirty");
	tap_is_u64(v.run->kvm_dirty_regs, 0, "exit B: KVM cleared kvm_dirty_regs");
	get_or_bail(&v, KVM_GET_REGS, &regs, "KVM_GET_REGS");
	if (!tap_ok(v.run->s.regs.regs.rbx == RBX_DIRTY && regs.rbx == RBX_DIRTY &&
		    rip_at_out(v.run->s.regs.regs.rip, srt_guest_out_b, srt_guest_after_b),
		    "exit B: all 64 bits of rbx kept (synced and KVM_GET_REGS), rip at the OUT"))
		tap_diag("  synced rbx 0x%llx, KVM_GET_REGS rbx 0x%llx, want 0x%llx; rip 0x%llx",
			 v.run->s.regs.regs.rbx, regs.rbx, RBX_DIRTY, v.run->s.regs.regs.rip);

	/* Exit C: es.base and cr4 through s.regs with SREGS dirty; rbx changed
	 * without the REGS bit must not reach the guest. */
	v.run->s.regs.sregs.es.base = MAGIC_A_GPA;
	v.run->s.regs.sregs.cr4 |= X86_CR4_OSFXSR;
	v.run->s.regs.regs.rbx = 0xdeadbeefdeadbeefull;
	v.run->kvm_dirty_regs = KVM_SYNC_X86_SREGS;
	data = run_to_out(&v, 0x12, 4, "exit C");
	tap_is_u64(data, MAGIC_A, "exit C: guest reads es:0 through es.base set with KVM_SYNC_X86_SREGS dirty");
	get_or_bail(&v, KVM_GET_SREGS, &sregs, "KVM_GET_SREGS");
	if (!tap_ok(((uint32_t)v.run->s.regs.regs.rcx & X86_CR4_OSFXSR) &&
		    (v.run->s.regs.sregs.cr4 & X86_CR4_OSFXSR) && (sregs.cr4 & X86_CR4_OSFXSR) &&
		    v.run->s.regs.sregs.es.base == MAGIC_A_GPA && sregs.es.base == MAGIC_A_GPA,
		    "exit C: guest reads cr4.OSFXSR set through s.regs; synced and KVM_GET_SREGS agree"))
		tap_diag("  guest cr4 0x%x, synced cr4 0x%llx, KVM_GET_SREGS cr4 0x%llx, "
			 "es.base synced 0x%llx got 0x%llx",
			 (uint32_t)v.run->s.regs.regs.rcx, v.run->s.regs.sregs.cr4, sregs.cr4,
			 v.run->s.regs.sregs.es.base, sregs.es.base);
	if (!tap_ok((uint32_t)v.run->s.regs.regs.rdx == (uint32_t)RBX_DIRTY &&
		    v.run->s.regs.regs.rbx == RBX_DIRTY,
		    "exit C: rbx written without its dirty bit is ignored (and s.regs refreshed)"))
		tap_diag("  guest's ebx 0x%x (want 0x%x), synced rbx 0x%llx (want 0x%llx)",
			 (uint32_t)v.run->s.regs.regs.rdx, (uint32_t)RBX_DIRTY,
			 v.run->s.regs.regs.rbx, RBX_DIRTY);

	/* Exit D: an NMI made pending through s.regs.events is delivered before
	 * the next instruction; es.base changed without the SREGS bit is not. */
	v.run->s.regs.events.nmi.pending = 1;
	v.run->s.regs.events.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING;
	v.run->s.regs.sregs.es.base = MAGIC_B_GPA;
	v.run->kvm_dirty_regs = KVM_SYNC_X86_EVENTS;
	data = run_to_out(&v, 0x14, 4, "exit D (NMI handler)");
	if (!tap_ok(rip_at_out(v.run->s.regs.regs.rip, srt_guest_out_d, srt_guest_after_d),
		    "exit D: NMI injected with KVM_SYNC_X86_EVENTS dirty ran the guest's handler"))
		tap_diag("  rip 0x%llx, handler's OUT at 0x%llx", v.run->s.regs.regs.rip,
			 (unsigned long long)guest_rip(srt_guest_out_d));
	tap_is_u64(data, MAGIC_A, "exit D: es.base written without its dirty bit is ignored");
	tap_is_u64(v.run->s.regs.events.nmi.masked, 1, "exit D: synced events show NMIs masked in the handler");
	check_synced_equal_get(&v, "D");

	/* Exit E: with kvm_valid_regs clear, KVM leaves s.regs alone. */
	v.run->kvm_valid_regs = 0;
	v.run->s.regs.regs.rax = 0x5a5a5a5a5a5a5a5aull;
	data = run_to_out(&v, 0x13, 1, "exit E");
	get_or_bail(&v, KVM_GET_REGS, &regs, "KVM_GET_REGS");
	if (!tap_ok(v.run->s.regs.regs.rax == 0x5a5a5a5a5a5a5a5aull && (uint32_t)regs.rax == 0x13131313u &&
		    rip_at_out(regs.rip, srt_guest_out_e, srt_guest_after_e),
		    "exit E: with kvm_valid_regs = 0 s.regs is not written; KVM_GET_REGS has the guest's eax"))
		tap_diag("  synced rax 0x%llx (want the poison 0x5a5a...), KVM_GET_REGS rax 0x%llx (want 0x13131313) rip 0x%llx",
			 v.run->s.regs.regs.rax, regs.rax, regs.rip);
	memset(&events, 0, sizeof(events));
	get_or_bail(&v, KVM_GET_VCPU_EVENTS, &events, "KVM_GET_VCPU_EVENTS");
	tap_is_u64(events.nmi.masked, 0, "exit E: iret from the handler unmasked NMIs");

	/* Exit F: the guest halts; without an in-kernel irqchip HLT exits. */
	v.run->kvm_valid_regs = SYNC_ALL;
	r = vcpu_run(&v);
	if (!tap_ok(r == 0 && v.run->exit_reason == KVM_EXIT_HLT, "exit F: guest ends with HLT"))
		tap_diag("  KVM_RUN %s, exit %u (%s)", r ? strerror(-r) : "ok",
			 v.run->exit_reason, exit_name(v.run->exit_reason));

	munmap(v.run, v.run_size);
	munmap(v.mem, MEM_SIZE);
	close(v.vcpu);
	close(v.vm);
	close(v.kvm);
	return tap_exit_status();
}
