/*
 * record_bench: what the recorder costs the vCPU thread per exit, measured
 * in-process on kvm_run pages shaped like real exits (no KVM needed).
 *
 * The exit stream repeats the pattern of tests/guests/count64 plus a polling
 * UART: OUT 1 byte to a data port, MMIO read (8 bytes, answered), MMIO write
 * (8 bytes), and every 4th iteration an IN from the UART status register and
 * an OUT of one character. Each exit is after_run + the VMM's answer +
 * before_run on the vCPU handle, exactly as vmm/ calls them, with the real
 * writer thread draining the ring to a real trace at the same time.
 *
 * Prints:
 *   record_vcpu_ns_per_exit     median over rounds of a batch of 2048 exits
 *                               (the ring never fills: no stall included)
 *   record_writer_ns_per_exit   writer-thread time to encode and write them
 *   record_bytes_per_exit       trace bytes per exit for this stream
 *   record_kvm_get3_ns          KVM_GET_REGS + KVM_GET_SREGS +
 *                               KVM_GET_VCPU_EVENTS, which sync regs replace,
 *                               where /dev/kvm works (else a line saying so)
 *
 * Modes: --callgrind N runs N exits through bench_vcpu_exits() only (for
 * bench/record_callgrind.sh); --kvm-only prints just the KVM_GET figure.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "formats/trace.h"
#include "recorder/recorder.h"

#define RUN_SIZE (3 * 4096)	/* KVM_GET_VCPU_MMAP_SIZE on x86-64 */
#define PIO_OFF 4096		/* KVM_PIO_PAGE_OFFSET * page size */
#define NPAT 14			/* exits per 4 iterations of the pattern */
static int BATCH = 2048;
#define ROUNDS 200

#define MAX_PAGES 4096
static struct kvm_run *runs[MAX_PAGES];
static uint32_t npages = NPAT;
static const char *source = "synthetic";

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void base_state(struct kvm_run *run, uint64_t i)
{
	struct kvm_regs *g = &run->s.regs.regs;
	struct kvm_sregs *s = &run->s.regs.sregs;

	run->kvm_valid_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS;
	g->rax = i * i * 3 + 0x1234;
	g->rbx = (i << 8) ^ 0xabcdef;
	g->rcx = i;
	g->rsp = 0x9ff00;
	g->rip = 0x100040 + (i % NPAT) * 7;
	g->rflags = 0x46;
	s->cr0 = 0x80050033;
	s->cr3 = 0x2000;
	s->cr4 = 0x20;
	s->efer = 0x500;
	s->cs.selector = 8;
	s->cs.l = 1;
	s->cs.present = 1;
	s->cs.type = 11;
	s->cs.s = 1;
	s->ds.selector = s->es.selector = s->ss.selector = 16;
	s->gdt.base = 0x1000;
	s->gdt.limit = 23;
}

static void make_io(struct kvm_run *run, uint8_t dir, uint16_t port, uint8_t byte)
{
	run->exit_reason = KVM_EXIT_IO;
	run->io.direction = dir;
	run->io.size = 1;
	run->io.port = port;
	run->io.count = 1;
	run->io.data_offset = PIO_OFF;
	((uint8_t *)run)[PIO_OFF] = byte;
}

static void make_mmio(struct kvm_run *run, uint64_t gpa, int write, uint64_t val)
{
	run->exit_reason = KVM_EXIT_MMIO;
	run->mmio.phys_addr = gpa;
	run->mmio.len = 8;
	run->mmio.is_write = (uint8_t)write;
	memcpy(run->mmio.data, &val, 8);
}

static void build_pages(void)
{
	int k = 0;
	for (int it = 0; it < 4; it++) {
		for (int j = 0; j < 3; j++) {
			struct kvm_run *run = runs[k];
			base_state(run, (uint64_t)k);
			if (j == 0)
				make_io(run, KVM_EXIT_IO_OUT, 0xf1, (uint8_t)run->s.regs.regs.rax);
			else
				make_mmio(run, 0xd0000000ull + (j == 2 ? 8 : 0), j == 2,
					  run->s.regs.regs.rax);
			k++;
		}
	}
	base_state(runs[k], (uint64_t)k);
	make_io(runs[k++], KVM_EXIT_IO_IN, 0x3fd, 0);	/* LSR */
	base_state(runs[k], (uint64_t)k);
	make_io(runs[k++], KVM_EXIT_IO_OUT, 0x3f8, 'x');/* THR */
}

/*
 * Captured pages: rebuild the kvm_run page of every exit of a real trace
 * (tests/corpus/count64.vcr: 356 exits of count64 + its UART output), as KVM
 * left it: exit reason and payload, s.regs, OUT data at the PIO offset, the
 * answer to reads. Replaces the synthetic pattern when the file is there.
 */
static void load_trace_pages(void)
{
	const char *root = getenv("VCR_ROOT");
	char path[1024];
	struct vcr_reader *rd;
	struct vcr_err err;
	struct vcr_record *r = malloc(sizeof(*r));
	uint32_t n = 0;

	snprintf(path, sizeof(path), "%s/tests/corpus/count64.vcr", root ? root : ".");
	if (!r || vcr_reader_open(&rd, path, &err) < 0) {
		free(r);
		return;
	}
	while (n < MAX_PAGES && vcr_reader_next(rd, r) > 0) {
		if (r->type != VCR_REC_EXIT)
			continue;
		const struct vcr_exit *e = &r->u.exit.exit;
		struct kvm_run *run = aligned_alloc(4096, RUN_SIZE);
		if (!run)
			break;
		memset(run, 0, RUN_SIZE);
		run->kvm_valid_regs = r->u.exit.valid;
		memcpy(&run->s.regs, &r->u.exit.state, sizeof(r->u.exit.state));
		run->exit_reason = e->reason;
		if (e->reason == KVM_EXIT_IO) {
			run->io.direction = e->u.io.direction;
			run->io.size = e->u.io.size;
			run->io.port = e->u.io.port;
			run->io.count = e->u.io.count;
			run->io.data_offset = PIO_OFF;
			memcpy((uint8_t *)run + PIO_OFF, e->data, e->data_len);
		} else if (e->reason == KVM_EXIT_MMIO) {
			run->mmio.phys_addr = e->u.mmio.phys_addr;
			run->mmio.len = e->u.mmio.len;
			run->mmio.is_write = e->u.mmio.is_write;
			memcpy(run->mmio.data, e->data, e->data_len);
		}
		runs[NPAT + n++] = run;
	}
	vcr_reader_close(rd);
	free(r);
	if (n > 0) {
		/* Use them instead of the synthetic pattern. */
		for (uint32_t i = 0; i < n; i++)
			runs[i] = runs[NPAT + i];
		npages = n;
		source = "captured count64.vcr";
	}
}

/* The vCPU thread's part for n exits: what vmm/ calls around KVM_RUN, and
 * the VMM's answer to reads (one store) in between. */
__attribute__((noinline)) void bench_vcpu_exits(struct vcr_recorder_vcpu *v, uint64_t n);
__attribute__((noinline)) void bench_vcpu_exits(struct vcr_recorder_vcpu *v, uint64_t n)
{
	uint32_t k = 0;
	for (uint64_t i = 0; i < n; i++) {
		struct kvm_run *run = runs[k];
		vcr_recorder_after_run(v, run);
		if (run->exit_reason == KVM_EXIT_MMIO && !run->mmio.is_write)
			*(uint64_t *)run->mmio.data = 0x5643522d4d4d494full;
		else if (run->exit_reason == KVM_EXIT_IO && run->io.direction == KVM_EXIT_IO_IN)
			((uint8_t *)run)[PIO_OFF] = 0x60;
		vcr_recorder_before_run(v, run);
		k = k + 1 == npages ? 0 : k + 1;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void kvm_get3(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		printf("# record_kvm_get3_ns: not measured (no /dev/kvm here; "
		       "tests/nested/kvm-run -- %s/bench/record_bench --kvm-only gives a "
		       "nested figure)\n", getenv("VCR_BUILD") ? getenv("VCR_BUILD") : "build");
		return;
	}
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	int vcpu = vm >= 0 ? ioctl(vm, KVM_CREATE_VCPU, 0) : -1;
	if (vcpu < 0) {
		printf("# record_kvm_get3_ns: not measured (KVM_CREATE_*: %s)\n", strerror(errno));
		close(kvm);
		return;
	}
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_vcpu_events ev;
	const int n = 20000;
	uint64_t t0 = now_ns();
	for (int i = 0; i < n; i++) {
		if (ioctl(vcpu, KVM_GET_REGS, &regs) < 0 || ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0 ||
		    ioctl(vcpu, KVM_GET_VCPU_EVENTS, &ev) < 0) {
			printf("# record_kvm_get3_ns: not measured (KVM_GET_*: %s)\n",
			       strerror(errno));
			goto out;
		}
	}
	/* Which KVM answered matters: kvm_intel/kvm_amd on hardware, kvm_amd
	 * in an L1 under TCG (nested: wall times are the emulator's), or
	 * another backend (e.g. kvm_pvm on some cloud VMs). */
	const char *backend = !access("/sys/module/kvm_intel", F_OK) ? "kvm_intel" :
			      !access("/sys/module/kvm_amd", F_OK) ? "kvm_amd" :
			      !access("/sys/module/kvm_pvm", F_OK) ? "kvm_pvm" : "unknown";
	printf("# KVM_GET_REGS+SREGS+VCPU_EVENTS on this machine's /dev/kvm (%s%s)\n", backend,
	       getenv("VCR_BENCH_NESTED") ? ", nested under TCG" : "");
	printf("record_kvm_get3_ns %.1f ns\n", (double)(now_ns() - t0) / n);
out:
	close(vcpu);
	close(vm);
	close(kvm);
}

int main(int argc, char **argv)
{
	uint64_t callgrind_n = 0;

	if (getenv("RECORD_BENCH_BATCH"))
		BATCH = atoi(getenv("RECORD_BENCH_BATCH"));
	if (argc > 1 && !strcmp(argv[1], "--kvm-only")) {
		kvm_get3();
		return 0;
	}
	if (argc > 2 && !strcmp(argv[1], "--callgrind"))
		callgrind_n = strtoull(argv[2], NULL, 0);

	for (int i = 0; i < NPAT; i++) {
		runs[i] = aligned_alloc(4096, RUN_SIZE);
		if (!runs[i])
			return 1;
		memset(runs[i], 0, RUN_SIZE);
	}
	build_pages();
	load_trace_pages();

	char path[] = "/tmp/vcr-record-bench-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0) {
		perror("mkstemp");
		return 1;
	}
	close(fd);
	struct vcr_mem_region region = { .gpa = 0, .size = 64 << 20 };
	struct vcr_trace_info info = {
		.arch = VCR_ARCH_X86_64, .kvm_api_version = 12, .sync_regs_mask = 7,
		.nvcpus = 1, .mem = &region, .nmem = 1, .cmdline = "record_bench",
	};
	/* Callgrind mode: a ring big enough for every exit, so the count has
	 * no stall in it. */
	struct vcr_recorder_opts opts = {
		.run_size = RUN_SIZE,
		.buffer_bytes = callgrind_n ? callgrind_n * 640 : 0,
	};
	if (!callgrind_n && getenv("RECORD_BENCH_BUFFER"))
		opts.buffer_bytes = strtoull(getenv("RECORD_BENCH_BUFFER"), NULL, 0);
	struct vcr_recorder *rec;
	struct vcr_err err;
	if (vcr_recorder_open(&rec, path, &info, &opts, &err) < 0) {
		fprintf(stderr, "record_bench: %s\n", err.msg);
		return 1;
	}
	struct vcr_recorder_vcpu *v = vcr_recorder_vcpu(rec, 0);

	if (callgrind_n) {
		bench_vcpu_exits(v, callgrind_n);
		vcr_recorder_end(rec, VCR_END_EXIT_PORT, 0, "bench");
		vcr_recorder_close(rec, NULL);
		unlink(path);
		return 0;
	}

	/* Warm up (page cache, zstd contexts, branch predictors). */
	bench_vcpu_exits(v, BATCH);
	static uint64_t per[ROUNDS];
	uint64_t produced = BATCH, writer_ns = 0;
	struct vcr_recorder_summary st;
	for (int r = 0; r < ROUNDS; r++) {
		/* Let the writer drain first, so that a batch never fills the
		 * ring and no stall is timed. */
		do {
			vcr_recorder_get_stats(rec, &st);
		} while (st.exits < produced && (usleep(100), 1));
		uint64_t t0 = now_ns();
		bench_vcpu_exits(v, BATCH);
		uint64_t t1 = now_ns();
		per[r] = t1 - t0;
		produced += BATCH;
		do {
			vcr_recorder_get_stats(rec, &st);
		} while (st.exits < produced && (usleep(50), 1));
		writer_ns += now_ns() - t0;
	}
	vcr_recorder_end(rec, VCR_END_EXIT_PORT, 0, "bench");
	struct vcr_recorder_summary sum;
	vcr_recorder_close(rec, &sum);
	unlink(path);
	qsort(per, ROUNDS, sizeof(per[0]), cmp_u64);
	printf("# exits: %s (%u kvm_run pages, replayed in a loop)\n", source, npages);
	printf("record_vcpu_ns_per_exit %.2f ns\n", (double)per[ROUNDS / 2] / BATCH);
	printf("record_vcpu_ns_per_exit_p10 %.2f ns\n", (double)per[ROUNDS / 10] / BATCH);
	printf("record_writer_ns_per_exit %.0f ns\n",
	       (double)writer_ns / ((double)ROUNDS * BATCH));
	/* The stream repeats a few hundred pages at most: it compresses far
	 * better than a real run; see docs/recorder.md for real guests. */
	printf("record_bytes_per_exit_looped %.1f bytes\n",
	       sum.exits ? (double)sum.trace_bytes / (double)sum.exits : 0.0);
	if (sum.stalls)
		printf("# %llu stalls during the bench\n", (unsigned long long)sum.stalls);
	kvm_get3();
	return 0;
}
