/*
 * record_bench: what the recorder costs the vCPU thread per exit, measured
 * in-process on captured kvm_run images (no KVM needed).
 *
 * The exits are those of tests/corpus/count64.vcr (356 exits: port, MMIO
 * read and write, UART), or without it a synthetic pattern of the same
 * shape. As in a real run the vCPU has one kvm_run page, into which KVM's
 * part (kvm_fill, not timed) copies each captured exit before the recorder's
 * hooks run: after_run, the VMM's answer to reads, before_run, through the
 * recorder's vmm_observer exactly as vmm/ calls them. The recorder's writer thread drains the ring to a real
 * trace file at the same time, on its own schedule.
 *
 * Prints (the setup and the timing method first, as "# " lines):
 *   record_vcpu_ns_per_exit        paced: exits 2 us apart (RECORD_BENCH_PACE_NS),
 *                                  each timed alone by the TSC with its stores
 *                                  completed; median over 50,000 exits
 *   record_vcpu_ns_per_exit_p90    ... 90th percentile, and _mean; "# " lines
 *                                  add the mean of the p25-p75 samples, the
 *                                  median per exit kind, and the median with
 *                                  empty observer callbacks (not subtracted)
 *   record_vcpu_ns_per_exit_burst_marginal
 *                                  batches of 2048 exits back to back,
 *                                  per-thread CPU time minus the loop without
 *                                  the recorder (timed right before); median
 *                                  batch, and _p10. Marginal: the work
 *                                  overlaps KVM's copy, so it can read below
 *                                  the paced figure
 *   record_writer_ns_per_exit      writer-thread time to encode and write
 *   record_bytes_per_exit_looped   trace bytes per exit for this stream
 *   record_kvm_get3_ns             KVM_GET_REGS + KVM_GET_SREGS +
 *                                  KVM_GET_VCPU_EVENTS, which sync regs replace,
 *                                  where /dev/kvm works (else a line saying so)
 *
 * Knobs: RECORD_BENCH_BUFFER (ring bytes), RECORD_BENCH_BATCH,
 * RECORD_BENCH_PACE_NS, RECORD_BENCH_PACED_EXITS, RECORD_BENCH_NOFENCE (time
 * without waiting for the stores), RECORD_BENCH_DIST (paced percentiles),
 * RECORD_BENCH_SYNTHETIC (ignore the corpus).
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
#include "vmm/vmm.h"

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

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* rdtsc between fences: lfence keeps the hooks' instructions on their side
 * of the read; mfence before the closing read waits until every store of
 * the hooks has reached the cache (their read-for-ownership misses
 * included), so a paced sample is the full cost, not what the store buffer
 * hides. */
static inline uint64_t tsc_open(void)
{
	uint32_t lo, hi;
	__asm__ volatile("mfence; lfence; rdtsc; lfence" : "=a"(lo), "=d"(hi) : : "memory");
	return (uint64_t)hi << 32 | lo;
}

static int nofence;
static inline uint64_t tsc_close(void)
{
	uint32_t lo, hi;
	if (nofence)
		__asm__ volatile("lfence; rdtsc; lfence" : "=a"(lo), "=d"(hi) : : "memory");
	else
		__asm__ volatile("mfence; lfence; rdtsc; lfence" : "=a"(lo), "=d"(hi) : : "memory");
	return (uint64_t)hi << 32 | lo;
}

/* TSC ticks per ns, against CLOCK_MONOTONIC over 50 ms. */
static double tsc_per_ns(void)
{
	uint64_t n0 = now_ns(), c0 = tsc_open();
	while (now_ns() - n0 < 50000000u)
		;
	uint64_t n1 = now_ns(), c1 = tsc_open();
	return (double)(c1 - c0) / (double)(n1 - n0);
}

/*
 * A vCPU has ONE kvm_run page, and KVM writes the exit into it (on the same
 * core) right before KVM_RUN returns: the page is hot when after_run reads
 * it. kvm_fill plays KVM's part: it copies what KVM writes for an exit
 * (exit reason, the exit union, kvm_valid_regs, s.regs, OUT data in the PIO
 * page) from a captured image into the vCPU's live page. It is not timed in
 * the paced figure and subtracted from the burst one.
 */
static struct kvm_run *live;

static inline __attribute__((always_inline)) void kvm_fill(struct kvm_run *dst,
							   const struct kvm_run *src)
{
	memcpy(dst, src, offsetof(struct kvm_run, kvm_dirty_regs));
	dst->kvm_dirty_regs = 0;
	memcpy(&dst->s.regs, &src->s.regs, sizeof(dst->s.regs));
	if (src->exit_reason == KVM_EXIT_IO && src->io.direction == KVM_EXIT_IO_OUT)
		memcpy((uint8_t *)dst + PIO_OFF, (const uint8_t *)src + PIO_OFF,
		       (size_t)src->io.size * src->io.count);
}

/* The recorder's observer (vcr_recorder_observer), called as vmm/ calls it:
 * through the pointers, with the vCPU index. */
static struct vmm_observer obs;

/* One exit as vmm/ serves it: after_run, the VMM's answer, before_run. */
static inline __attribute__((always_inline)) void one_exit(struct vcr_recorder_vcpu *v,
							   struct kvm_run *run)
{
	(void)v;
	obs.after_run(obs.ctx, 0, run);
	if (run->exit_reason == KVM_EXIT_MMIO && !run->mmio.is_write)
		*(uint64_t *)run->mmio.data = 0x5643522d4d4d494full;
	else if (run->exit_reason == KVM_EXIT_IO && run->io.direction == KVM_EXIT_IO_IN)
		((uint8_t *)run)[PIO_OFF] = 0x60;
	obs.before_run(obs.ctx, 0, run);
}

/* Exit kinds for the paced figure's breakdown: the reads cost an INPUT
 * record in before_run on top of the EXIT. */
enum { K_OUT, K_IN, K_MMIO_READ, K_MMIO_WRITE, K_OTHER, K_N };
static const char *const kind_name[K_N] = { "out", "in", "mmio_read", "mmio_write", "other" };

static int exit_kind(const struct kvm_run *run)
{
	if (run->exit_reason == KVM_EXIT_IO)
		return run->io.direction == KVM_EXIT_IO_OUT ? K_OUT : K_IN;
	if (run->exit_reason == KVM_EXIT_MMIO)
		return run->mmio.is_write ? K_MMIO_WRITE : K_MMIO_READ;
	return K_OTHER;
}

/* Empty observer callbacks: what the paced interval holds besides the
 * recorder's work (the two indirect calls and the VMM's answer). */
static void empty_hook(void *ctx, uint32_t vcpu, struct kvm_run *run)
{
	(void)ctx;
	(void)vcpu;
	(void)run;
}

/*
 * Paced: exits one at a time, `pace_ns` apart (busy wait: what KVM_RUN and
 * the guest take between two userspace exits, 2-100 us on real machines), the
 * writer thread draining the ring on its own schedule meanwhile, as in a real
 * run. Each exit is timed alone with the TSC, stores completed (tsc_close);
 * the fence-to-fence cost of an empty interval is subtracted. Per-exit
 * samples make the median immune to preemption on a loaded machine.
 */
static void paced(struct vcr_recorder_vcpu *v, uint64_t n, uint64_t pace_ns, double tpn,
		  uint64_t *samples, uint8_t *kinds, double *median_ns, double *p90_ns,
		  double *mean_ns, double *mid_ns, double kind_median_ns[K_N])
{
	uint64_t pace = (uint64_t)((double)pace_ns * tpn);
	uint32_t k = 0;

	/* Overhead of the timing itself. */
	for (uint64_t i = 0; i < n / 4; i++) {
		uint64_t t0 = tsc_open();
		samples[i] = tsc_close() - t0;
	}
	qsort(samples, n / 4, sizeof(samples[0]), cmp_u64);
	uint64_t over = samples[n / 8];

	uint64_t t_end = tsc_open();
	for (uint64_t i = 0; i < n; i++) {
		while (tsc_open() - t_end < pace)
			;
		kvm_fill(live, runs[k]);
		uint64_t t0 = tsc_open();
		one_exit(v, live);
		t_end = tsc_close();
		samples[i] = t_end - t0 > over ? t_end - t0 - over : 0;
		kinds[i] = (uint8_t)exit_kind(runs[k]);
		k = k + 1 == npages ? 0 : k + 1;
	}
	double sum = 0;
	for (uint64_t i = 0; i < n; i++)
		sum += (double)samples[i];
	/* Per exit kind: gather each kind's samples at the front of a copy
	 * (the samples of the other kinds follow), sort that part. */
	uint64_t *tmp = malloc(n * sizeof(*tmp));
	for (int kd = 0; tmp && kd < K_N; kd++) {
		uint64_t m = 0;
		for (uint64_t i = 0; i < n; i++)
			if (kinds[i] == kd)
				tmp[m++] = samples[i];
		qsort(tmp, m, sizeof(tmp[0]), cmp_u64);
		kind_median_ns[kd] = m ? (double)tmp[m / 2] / tpn : -1;
	}
	free(tmp);
	qsort(samples, n, sizeof(samples[0]), cmp_u64);
	if (getenv("RECORD_BENCH_DIST"))
		for (int q = 5; q < 100; q += 5)
			printf("# p%d %.1f ns\n", q, (double)samples[n * (uint64_t)q / 100] / tpn);
	*median_ns = (double)samples[n / 2] / tpn;
	/* Mean of the middle half: finer than the median's TSC step, and as
	 * immune to the tail; what A/B comparisons in docs/recorder.md use. */
	double mid = 0;
	for (uint64_t i = n / 4; i < n / 4 + n / 2; i++)
		mid += (double)samples[i];
	*mid_ns = n >= 2 ? mid / (double)(n / 2) / tpn : 0;
	*p90_ns = (double)samples[n * 9 / 10] / tpn;
	*mean_ns = sum / (double)n / tpn;
}

/* The vCPU thread's part for n exits back to back (burst mode and
 * callgrind). */
__attribute__((noinline)) void bench_vcpu_exits(struct vcr_recorder_vcpu *v, uint64_t n);
__attribute__((noinline)) void bench_vcpu_exits(struct vcr_recorder_vcpu *v, uint64_t n)
{
	uint32_t k = 0;
	for (uint64_t i = 0; i < n; i++) {
		kvm_fill(live, runs[k]);
		one_exit(v, live);
		k = k + 1 == npages ? 0 : k + 1;
	}
}

/* The same loop without the recorder: KVM's part and the VMM's answer. */
__attribute__((noinline)) void bench_fill_only(uint64_t n);
__attribute__((noinline)) void bench_fill_only(uint64_t n)
{
	uint32_t k = 0;
	for (uint64_t i = 0; i < n; i++) {
		kvm_fill(live, runs[k]);
		struct kvm_run *run = live;
		if (run->exit_reason == KVM_EXIT_MMIO && !run->mmio.is_write)
			*(uint64_t *)run->mmio.data = 0x5643522d4d4d494full;
		else if (run->exit_reason == KVM_EXIT_IO && run->io.direction == KVM_EXIT_IO_IN)
			((uint8_t *)run)[PIO_OFF] = 0x60;
		__asm__ volatile("" : : "r"(run) : "memory");
		k = k + 1 == npages ? 0 : k + 1;
	}
}

static void wait_written(struct vcr_recorder *rec, uint64_t produced)
{
	struct vcr_recorder_summary st;
	do {
		vcr_recorder_get_stats(rec, &st);
	} while (st.exits < produced && (usleep(100), 1));
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

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);
	return v && *v ? strtoull(v, NULL, 0) : def;
}

int main(int argc, char **argv)
{
	uint64_t callgrind_n = 0;

	nofence = getenv("RECORD_BENCH_NOFENCE") != NULL;
	BATCH = (int)env_u64("RECORD_BENCH_BATCH", (uint64_t)BATCH);
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
	live = aligned_alloc(4096, RUN_SIZE);
	if (!live)
		return 1;
	memset(live, 0, RUN_SIZE);
	build_pages();
	if (!getenv("RECORD_BENCH_SYNTHETIC"))
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
		.buffer_bytes = callgrind_n ? callgrind_n * 640 : env_u64("RECORD_BENCH_BUFFER", 0),
	};
	struct vcr_recorder *rec;
	struct vcr_err err;
	if (vcr_recorder_open(&rec, path, &info, &opts, &err) < 0) {
		fprintf(stderr, "record_bench: %s\n", err.msg);
		return 1;
	}
	struct vcr_recorder_vcpu *v = vcr_recorder_vcpu(rec, 0);
	vcr_recorder_observer(rec, &obs);

	if (callgrind_n) {
		bench_vcpu_exits(v, callgrind_n);
		vcr_recorder_end(rec, VCR_END_EXIT_PORT, 0, "bench");
		vcr_recorder_close(rec, NULL);
		unlink(path);
		return 0;
	}

	uint64_t pace_ns = env_u64("RECORD_BENCH_PACE_NS", 2000);
	uint64_t npaced = env_u64("RECORD_BENCH_PACED_EXITS", 50000);
	uint64_t buffer = opts.buffer_bytes ? opts.buffer_bytes : VCR_RECORDER_BUFFER_DEFAULT;
	printf("# setup: exits from %s (%u kvm_run pages, replayed in a loop); one vCPU "
	       "thread, the recorder's writer thread draining its %llu KiB ring concurrently "
	       "to a real trace file\n", source, npages,
	       (unsigned long long)(buffer >> 10));
	printf("# paced: %llu exits %llu ns apart, each timed alone (TSC, stores completed "
	       "by mfence, timing overhead subtracted); median over exits\n",
	       (unsigned long long)npaced, (unsigned long long)pace_ns);
	printf("# burst: %d batches of %d exits back to back, per-thread CPU time "
	       "(CLOCK_THREAD_CPUTIME_ID) minus that of the same loop without the recorder "
	       "run just before; median and 10th percentile over batches\n", ROUNDS, BATCH);

	/* Warm up (page cache, zstd contexts, branch predictors). */
	bench_vcpu_exits(v, (uint64_t)BATCH);
	uint64_t produced = (uint64_t)BATCH;
	wait_written(rec, produced);

	double tpn = tsc_per_ns();
	uint64_t *samples = malloc(npaced * sizeof(*samples));
	uint8_t *kinds = malloc(npaced);
	if (!samples || !kinds)
		return 1;
	double med, p90, mean, mid, kmed[K_N];
	paced(v, npaced, pace_ns, tpn, samples, kinds, &med, &p90, &mean, &mid, kmed);
	produced += npaced;
	/* The same loop with empty callbacks (no recorder work, nothing
	 * produced): printed, not subtracted. */
	double e_med, e_p90, e_mean, e_mid, e_kmed[K_N];
	struct vmm_observer saved = obs;
	obs.after_run = empty_hook;
	obs.before_run = empty_hook;
	paced(v, npaced, pace_ns, tpn, samples, kinds, &e_med, &e_p90, &e_mean, &e_mid, e_kmed);
	obs = saved;
	free(samples);
	free(kinds);
	struct vcr_recorder_summary st0;
	wait_written(rec, produced);
	vcr_recorder_get_stats(rec, &st0);

	static uint64_t fill[ROUNDS];
	static int64_t per[ROUNDS];
	uint64_t writer_ns = 0;
	for (int r = 0; r < ROUNDS; r++) {
		/* The writer drains first, so that a batch never fills the
		 * ring and no stall is timed. Each round times the loop
		 * without the recorder right before the one with it: the
		 * difference of the two is the round's figure. */
		wait_written(rec, produced);
		uint64_t t0 = thread_cpu_ns();
		bench_fill_only((uint64_t)BATCH);
		uint64_t t1 = thread_cpu_ns();
		fill[r] = t1 - t0;
		uint64_t w0 = now_ns();
		t0 = thread_cpu_ns();
		bench_vcpu_exits(v, (uint64_t)BATCH);
		per[r] = (int64_t)(thread_cpu_ns() - t0) - (int64_t)fill[r];
		produced += (uint64_t)BATCH;
		wait_written(rec, produced);
		writer_ns += now_ns() - w0;
	}
	vcr_recorder_end(rec, VCR_END_EXIT_PORT, 0, "bench");
	struct vcr_recorder_summary sum;
	vcr_recorder_close(rec, &sum);
	unlink(path);
	qsort(per, ROUNDS, sizeof(per[0]), cmp_i64);
	qsort(fill, ROUNDS, sizeof(fill[0]), cmp_u64);
	printf("record_vcpu_ns_per_exit %.2f ns\n", med);
	printf("record_vcpu_ns_per_exit_p90 %.2f ns\n", p90);
	printf("record_vcpu_ns_per_exit_mean %.2f ns\n", mean);
	printf("# paced mean of the p25-p75 samples (finer than the median's TSC step): %.2f ns\n",
	       mid);
	printf("# paced median by exit kind:");
	for (int kd = 0; kd < K_N; kd++)
		if (kmed[kd] >= 0)
			printf(" %s %.2f", kind_name[kd], kmed[kd]);
	printf(" ns\n# paced median with empty observer callbacks (the two indirect calls "
	       "and the VMM's answer, included above, not subtracted): %.2f ns (p25-p75 mean %.2f)\n",
	       e_med, e_mid);
	if (st0.stalls)
		printf("# %llu stalls during the paced run (ring full; in the mean)\n",
		       (unsigned long long)st0.stalls);
	/* Back to back, the recorder's work overlaps the stalls of KVM's copy
	 * into the page: the difference is a marginal throughput figure and
	 * can read below what one exit costs alone (the paced figure). */
	printf("record_vcpu_ns_per_exit_burst_marginal %.2f ns\n", (double)per[ROUNDS / 2] / BATCH);
	printf("record_vcpu_ns_per_exit_burst_marginal_p10 %.2f ns\n",
	       (double)per[ROUNDS / 10] / BATCH);
	printf("# burst loop without the recorder (KVM's copy into the page, the "
	       "VMM's answer): %.2f ns per exit, subtracted\n", (double)fill[ROUNDS / 2] / BATCH);
	printf("record_writer_ns_per_exit %.0f ns\n",
	       (double)writer_ns / ((double)ROUNDS * BATCH));
	/* The stream repeats a few hundred pages at most: it compresses far
	 * better than a real run; see docs/recorder.md for real guests. */
	printf("record_bytes_per_exit_looped %.1f bytes\n",
	       sum.exits ? (double)sum.trace_bytes / (double)sum.exits : 0.0);
	if (sum.stalls > st0.stalls)
		printf("# %llu stalls during the burst batches\n",
		       (unsigned long long)(sum.stalls - st0.stalls));
	kvm_get3();
	return 0;
}
