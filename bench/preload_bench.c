/*
 * bench/preload_bench.c: what libvcr-preload.so adds to each KVM_RUN of a
 * VMM, without the kernel's part. Linked with recorder/preload/preload.c
 * built with -DVCR_PRE_BENCH, whose KVM_RUN calls vcr_pre_bench_kvm_run
 * below instead of the kernel.
 *
 * It sets up the shared memory as `vcr record` does (recorder/foreign.h),
 * creates a real VM and vCPU through the interposed ioctl, runs a real-mode
 * guest (in al, 0xf0; out 0xf1, al; loop) on KVM for PRE_CAPTURE exits and
 * keeps each kvm_run page as KVM left it (the "captured pages"), then calls
 * ioctl(KVM_RUN) N times more, each of which copies the next captured page
 * into kvm_run (the kernel's part, not counted) and lets the library do its
 * work around it: BEFORE for the IN answers, kvm_valid_regs, EXIT. The ring
 * is emptied after each call, outside the count, as vcr's drain would.
 *
 *   preload_bench [--callgrind N]   N calls (default 200000), one line:
 *                                   "preload_calls N"
 * bench/preload_callgrind.sh counts the instructions inside ioctl minus
 * those of vcr_pre_bench_kvm_run (nested toggle).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "recorder/foreign.h"
#include "recorder/preload/shm.h"

#define PRE_CAPTURE 64

int vcr_pre_bench_kvm_run(int fd);
void vcr_pre_bench_init(void);

static struct {
	struct kvm_run *run;
	size_t run_size;
	int capturing;
	uint8_t (*pages)[8192];
	unsigned n, next;
} bench;

int vcr_pre_bench_kvm_run(int fd)
{
	if (bench.capturing) {
		int r = (int)syscall(SYS_ioctl, fd, KVM_RUN, 0);
		if (r == 0 && bench.n < PRE_CAPTURE)
			memcpy(bench.pages[bench.n++], bench.run, 8192);
		return r;
	}
	/* KVM's part: it writes the exit and the synced registers. */
	memcpy(bench.run, bench.pages[bench.next], 0x20 + 256);
	memcpy(&bench.run->s, &((struct kvm_run *)bench.pages[bench.next])->s,
	       sizeof(struct kvm_sync_regs));
	memcpy((uint8_t *)bench.run + 4096, bench.pages[bench.next] + 4096, 16);
	bench.next = (bench.next + 1) % bench.n;
	return 0;
}

static int die(const char *what)
{
	fprintf(stderr, "preload_bench: %s: %s\n", what, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	unsigned long n = 200000;
	struct vcr_foreign *f;
	struct vcr_err err = { 0 };
	char num[16];

	if (argc == 3 && !strcmp(argv[1], "--callgrind"))
		n = strtoul(argv[2], NULL, 0);
	struct vcr_foreign_opts fo = { .path = "/dev/null", .buffer_bytes = 1 << 20 };
	if (vcr_foreign_create(&f, &fo, &err)) {
		fprintf(stderr, "preload_bench: %s\n", err.msg);
		return 1;
	}
	struct vcr_pre_hdr *h = mmap(NULL, vcr_pre_total_bytes(1 << 20), PROT_READ | PROT_WRITE,
				     MAP_SHARED, vcr_foreign_fd(f), 0);
	if (h == MAP_FAILED)
		return die("mmap");
	/* The library maps its own view and closes the fd it was given. */
	snprintf(num, sizeof(num), "%d", dup(vcr_foreign_fd(f)));
	setenv(VCR_PRE_ENV_FD, num, 1);
	vcr_pre_bench_init();
	if (!h->owner_pid)
		return die("the library did not take the shared memory");

	bench.pages = calloc(PRE_CAPTURE, sizeof(*bench.pages));
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return die("/dev/kvm");
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	bench.run_size = (size_t)ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	uint8_t *mem = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			    -1, 0);
	static const uint8_t guest[] = { 0xe4, 0xf0, 0xe6, 0xf1, 0xeb, 0xfa };
	memcpy(mem + 0x1000, guest, sizeof(guest));
	struct kvm_userspace_memory_region reg = {
		.memory_size = 0x10000, .userspace_addr = (uintptr_t)mem,
	};
	if (vm < 0 || ioctl(vm, KVM_SET_USER_MEMORY_REGION, &reg))
		return die("VM");
	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		return die("vCPU");
	bench.run = mmap(NULL, bench.run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	struct kvm_sregs sregs;
	if (bench.run == MAP_FAILED || ioctl(vcpu, KVM_GET_SREGS, &sregs))
		return die("kvm_run");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	struct kvm_regs regs = { .rip = 0x1000, .rflags = 2 };
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) || ioctl(vcpu, KVM_SET_REGS, &regs))
		return die("state");

	bench.capturing = 1;
	for (int i = 0; i < PRE_CAPTURE; i++) {
		if (ioctl(vcpu, KVM_RUN, 0))
			return die("KVM_RUN");
		if (bench.run->exit_reason == KVM_EXIT_IO &&
		    bench.run->io.direction == KVM_EXIT_IO_IN)
			((uint8_t *)bench.run)[bench.run->io.data_offset] = (uint8_t)i;
		h->vcpu[0].tail = h->vcpu[0].head;
	}
	bench.capturing = 0;
	if (bench.n != PRE_CAPTURE)
		fprintf(stderr, "preload_bench: captured %u pages\n", bench.n);

	for (unsigned long i = 0; i < n; i++) {
		if (ioctl(vcpu, KVM_RUN, 0))
			return die("KVM_RUN (replay)");
		struct kvm_run *run = bench.run;
		if (run->exit_reason == KVM_EXIT_IO && run->io.direction == KVM_EXIT_IO_IN)
			((uint8_t *)run)[run->io.data_offset] = (uint8_t)i;
		__atomic_store_n(&h->vcpu[0].tail, h->vcpu[0].head, __ATOMIC_RELEASE);
	}
	printf("preload_calls %lu\n", n);
	return 0;
}
