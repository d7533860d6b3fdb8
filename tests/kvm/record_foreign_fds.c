/*
 * record_foreign_fds: `vcr record` of a small VMM of our own that does what
 * confuses a naive interposer, then the trace read back with the reader:
 *   - it uses sync regs itself (kvm_valid_regs = REGS, reads run->s.regs)
 *     and must see exactly what KVM_GET_REGS says, recorder or not;
 *   - it sets CPUID and one memory slot, which the header must hold;
 *   - it moves its vCPU fd around: dup + close, fork (the child exits),
 *     fcntl(F_DUPFD) to a high number (not interposed: found by its
 *     /proc/self/fd name) + close.
 * The guest (real mode at 0x1000): in al, 0xf0 (the VMM answers 0x20);
 * 16 x { out 0xf1, al; inc al }; hlt. The trace must hold all 18 exits,
 * the INPUT 0x20, every OUT's data equal to the rax KVM synced, and END
 * vmm_exit 0.
 *
 * Run by tests/run as a test; it runs itself (--vmm) under $VCR record,
 * with each backend (preload, seccomp).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "formats/trace.h"
#include "tests/lib/tap.h"

#define GUEST_ADDR 0x1000
#define N_OUT 16

static const uint8_t guest[] = {
	0xe4, 0xf0,		/* in al, 0xf0 */
	0xe6, 0xf1,		/* 1: out 0xf1, al */
	0xfe, 0xc0,		/* inc al */
	0x3c, 0x30,		/* cmp al, 0x30 */
	0x75, 0xf8,		/* jne 1b */
	0xf4,			/* hlt */
};

/* The VMM. Exit status: 0 all well, 3 its own sync-regs reads disagreed
 * with KVM_GET_REGS, 4 the guest did something else, 5 setup failed. */
static int vmm_main(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return 5;
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	uint8_t *mem = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (vm < 0 || run_size <= 0 || mem == MAP_FAILED)
		return 5;
	memcpy(mem + GUEST_ADDR, guest, sizeof(guest));
	struct kvm_userspace_memory_region reg = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = 0x10000,
		.userspace_addr = (uintptr_t)mem,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &reg))
		return 5;
	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		return 5;
	struct kvm_cpuid2 *cpuid = calloc(1, sizeof(*cpuid) + 256 * sizeof(cpuid->entries[0]));
	if (!cpuid)
		return 5;
	cpuid->nent = 256;
	if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, cpuid) || ioctl(vcpu, KVM_SET_CPUID2, cpuid))
		return 5;
	free(cpuid);
	struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
				   vcpu, 0);
	if (run == MAP_FAILED)
		return 5;
	struct kvm_sregs sregs;
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs))
		return 5;
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	struct kvm_regs regs = { .rip = GUEST_ADDR, .rflags = 2 };
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) || ioctl(vcpu, KVM_SET_REGS, &regs))
		return 5;

	int bad_sync = 0;
	for (int k = 0;; k++) {
		run->kvm_valid_regs = KVM_SYNC_X86_REGS;	/* the VMM's own use */
		if (ioctl(vcpu, KVM_RUN, 0)) {
			if (errno != EINTR)
				return 5;
			k--;
			continue;
		}
		struct kvm_regs got;
		if (ioctl(vcpu, KVM_GET_REGS, &got))
			return 5;
		if (memcmp(&got, &run->s.regs.regs, sizeof(got)))
			bad_sync = 1;
		if (run->exit_reason == KVM_EXIT_HLT)
			break;
		if (run->exit_reason != KVM_EXIT_IO)
			return 4;
		uint8_t *io = (uint8_t *)run + run->io.data_offset;
		if (run->io.direction == KVM_EXIT_IO_IN)
			*io = 0x20;
		if (k == 4) {		/* dup + close */
			int d = dup(vcpu);
			close(vcpu);
			vcpu = d;
		} else if (k == 8) {	/* a child that leaves */
			pid_t p = fork();
			if (p == 0)
				_exit(0);
			waitpid(p, NULL, 0);
		} else if (k == 12) {	/* a dup the library does not see */
			int d = fcntl(vcpu, F_DUPFD_CLOEXEC, 300);
			close(vcpu);
			vcpu = d;
		}
		if (vcpu < 0)
			return 5;
	}
	return bad_sync ? 3 : 0;
}

/* Record the VMM with `vcr record --backend B` and check the trace. */
static void check_backend(const char *vcr, const char *self, const char *trace,
			  const char *backend)
{
	pid_t p = fork();
	if (p == 0) {
		/* An ASan build of this test runs under LD_PRELOAD too. */
		setenv("ASAN_OPTIONS", "verify_asan_link_order=0", 1);
		execl(vcr, vcr, "record", "--backend", backend, "-o", trace, "--", self,
		      "--vmm", (char *)NULL);
		_exit(127);
	}
	int st = 0;
	waitpid(p, &st, 0);
	tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	       "%s: the VMM ran under vcr record, its own sync-regs reads equal KVM_GET_REGS "
	       "(status %d)", backend, WIFEXITED(st) ? WEXITSTATUS(st) : -1);

	struct vcr_reader *r = NULL;
	struct vcr_err err = { 0 };
	if (vcr_reader_open(&r, trace, &err))
		tap_bail("%s: %s", trace, err.msg);
	const struct vcr_trace_info *info = vcr_reader_info(r);
	tap_ok(info->nvcpus == 1 && info->nmem == 1 && info->mem[0].gpa == 0 &&
	       info->mem[0].size == 0x10000 && info->ncpuid > 0,
	       "%s: the header has the VMM's vCPU, memory slot and CPUID (%u vCPUs, %u slots, "
	       "%u CPUID entries)", backend, info->nvcpus, info->nmem, info->ncpuid);
	struct vcr_record *rec = calloc(1, sizeof(*rec));
	int exits = 0, outs_ok = 0, valid_ok = 0, input_ok = 0, end_ok = 0, rc;
	if (!rec)
		tap_bail("out of memory");
	while ((rc = vcr_reader_next(r, rec)) > 0) {
		if (rec->type == VCR_REC_EXIT) {
			const struct vcr_exit *e = &rec->u.exit.exit;
			valid_ok += rec->u.exit.valid == 7;
			if (exits >= 1 && exits <= N_OUT && e->reason == KVM_EXIT_IO &&
			    e->u.io.direction == KVM_EXIT_IO_OUT && e->u.io.port == 0xf1 &&
			    e->data_len == 1 && e->data[0] == 0x20 + exits - 1 &&
			    (rec->u.exit.state.regs.rax & 0xff) == e->data[0])
				outs_ok++;
			exits++;
		} else if (rec->type == VCR_REC_INPUT) {
			input_ok += exits == 1 && rec->u.input.len == 1 &&
				    rec->u.input.data[0] == 0x20;
		} else if (rec->type == VCR_REC_END) {
			end_ok = rec->u.end.how == VCR_END_VMM_EXIT && rec->u.end.status == 0;
		}
	}
	tap_ok(rc == 0 && exits == N_OUT + 2, "%s: the trace reads to its end: %d exits (want %d)",
	       backend, exits, N_OUT + 2);
	tap_ok(outs_ok == N_OUT, "%s: every OUT across dup, fork and F_DUPFD is there, data = "
	       "synced al (%d of %d)", backend, outs_ok, N_OUT);
	tap_ok(valid_ok == exits, "%s: every exit has regs, sregs and events (%d of %d)",
	       backend, valid_ok, exits);
	tap_ok(input_ok == 1, "%s: the VMM's answer to the IN is an INPUT 0x20", backend);
	tap_ok(end_ok, "%s: END says vmm_exit, status 0", backend);
	free(rec);
	vcr_reader_close(r);
	unlink(trace);
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--vmm"))
		return vmm_main();

	const char *vcr = getenv("VCR");
	char dir[] = "/tmp/vcr-rff-XXXXXX", trace[64];
	if (!vcr || access("/dev/kvm", R_OK | W_OK))
		tap_skip_all("needs $VCR and /dev/kvm");
	if (!mkdtemp(dir))
		tap_bail("mkdtemp: %s", strerror(errno));
	snprintf(trace, sizeof(trace), "%s/t.vcr", dir);

	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		tap_bail("readlink /proc/self/exe: %s", strerror(errno));
	self[n] = 0;

	tap_plan(14);
	check_backend(vcr, self, trace, "preload");
	/* The seccomp backend follows no close/dup: the moved fd is found
	 * again by kcmp and its /proc name. */
	check_backend(vcr, self, trace, "seccomp");
	rmdir(dir);
	return tap_exit_status();
}
