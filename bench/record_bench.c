/*
 * record_bench: what the recorder costs per exit, measured in-process on
 * captured kvm_run images (no KVM needed). What a run on KVM costs the user
 * (the exit round trip with and without the recorder) is bench/vmm_bench;
 * the judged vCPU-thread figure is instructions (bench/record_callgrind.sh).
 *
 * The exits are those of tests/corpus/count64.vcr (356 exits: port, MMIO
 * read and write, UART), or without it a synthetic pattern of the same
 * shape. As in a real run the vCPU has one kvm_run page, into which KVM's
 * part (kvm_fill) copies each captured exit before the recorder's hooks run:
 * after_run, the VMM's answer to reads, before_run, through the recorder's
 * vmm_observer exactly as vmm/ calls them. The recorder's writer thread
 * drains the ring to a real trace file at the same time, on its own schedule.
 *
 * Prints (the setup and the method first, as "# " lines):
 *   record_vcpu_loop_ns_per_exit
 *                          vCPU-thread CPU time per exit of batches of exits
 *                          back to back, kvm_fill + hooks + the VMM's answer
 *                          (CLOCK_THREAD_CPUTIME_ID around a batch of a
 *                          quarter ring, 819 exits: no fence, no stall in the
 *                          window); median over batches; the default 2 MiB
 *                          ring (bigger than L2)
 *   record_vcpu_{loop,fill}_ns_per_exit_b25[_ring64k]
 *                          the same in batches of 25 exits (a quarter of a
 *                          64 KiB ring) on the 2 MiB ring and on a 64 KiB one
 *                          (fits L2): the ring-size dependence
 *   record_vcpu_fill_ns_per_exit
 *                          the same loop without the recorder (kvm_fill and
 *                          the VMM's answer), batches alternating with the
 *                          above; the ratio of the two follows as a comment.
 *                          No difference of two timings is printed: it is
 *                          noisier than the signal and can go negative
 *   record_writer_cpu_ns_per_exit
 *                          the writer thread's CPU time (its own thread clock,
 *                          so its idle sleeps do not count) over the whole
 *                          2 MiB-ring run, divided by the exits it wrote:
 *                          decode, normalize, delta, zstd, write
 *   record_bytes_per_exit_looped   trace bytes per exit for this stream
 *
 * Knobs: RECORD_BENCH_BATCHES (batches per ring size, default 400),
 * RECORD_BENCH_SYNTHETIC (ignore the corpus).
 * Modes: --callgrind N runs N exits through bench_vcpu_exits() only (for
 * bench/record_callgrind.sh).
 */
#include <dirent.h>
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

#define MAX_PAGES 4096
static struct kvm_run *runs[MAX_PAGES];
static uint32_t npages = NPAT;
static const char *source = "synthetic";

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

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * A vCPU has ONE kvm_run page, and KVM writes the exit into it (on the same
 * core) right before KVM_RUN returns: the page is hot when after_run reads
 * it. kvm_fill plays KVM's part: it copies what KVM writes for an exit
 * (exit reason, the exit union, kvm_valid_regs, s.regs, OUT data in the PIO
 * page) from a captured image into the vCPU's live page. The batch figures time it
 * both with and without the recorder.
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

/* The vCPU thread's part for n exits back to back (batches and
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

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);
	return v && *v ? strtoull(v, NULL, 0) : def;
}

/* The writer thread's CPU clock: the one thread vcr_recorder_open started
 * (its tid is the task that is new in /proc/self/task). */
static size_t list_tasks(pid_t *t, size_t max)
{
	DIR *d = opendir("/proc/self/task");
	size_t n = 0;
	struct dirent *e;
	if (!d)
		return 0;
	while ((e = readdir(d)) && n < max)
		if (e->d_name[0] != '.')
			t[n++] = (pid_t)atoi(e->d_name);
	closedir(d);
	return n;
}

static clockid_t thread_clock(pid_t tid)
{
	/* The kernel's encoding of a per-thread CPU clock: CPUCLOCK_SCHED
	 * (2) | CPUCLOCK_PERTHREAD_MASK (4), ~tid above (posix-timers.h). */
	return (clockid_t)(((unsigned)~tid << 3) | 6);
}

static uint64_t clock_ns(clockid_t c)
{
	struct timespec ts;
	if (clock_gettime(c, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct batch_fig {
	double loop_ns, fill_ns, ratio;	/* medians */
	uint64_t batch, stalls;
	double writer_ns, bytes;
	bool writer_ok;
};

static const char *trace_path;

/* Open a recorder with a ring of `buffer` bytes, run `nb` pairs of batches
 * (without and with the recorder, the order alternating) of a quarter
 * ring's worth of exits. */
static int batches(uint64_t buffer, uint64_t batch, int nb, struct batch_fig *f)
{
	struct vcr_mem_region region = { .gpa = 0, .size = 64 << 20 };
	struct vcr_trace_info info = {
		.arch = VCR_ARCH_X86_64, .kvm_api_version = 12, .sync_regs_mask = 7,
		.nvcpus = 1, .mem = &region, .nmem = 1, .cmdline = "record_bench",
	};
	struct vcr_recorder_opts opts = { .run_size = RUN_SIZE, .buffer_bytes = buffer };
	struct vcr_recorder *rec;
	struct vcr_err err;
	pid_t before[64], after[64];
	size_t nbef = list_tasks(before, 64);
	if (vcr_recorder_open(&rec, trace_path, &info, &opts, &err) < 0) {
		fprintf(stderr, "record_bench: %s\n", err.msg);
		return -1;
	}
	size_t naft = list_tasks(after, 64);
	pid_t writer = 0;
	int nnew = 0;
	for (size_t i = 0; i < naft; i++) {
		bool old = false;
		for (size_t j = 0; j < nbef; j++)
			old = old || after[i] == before[j];
		if (!old) {
			writer = after[i];
			nnew++;
		}
	}
	f->writer_ok = nnew == 1;
	clockid_t wclk = thread_clock(writer);
	struct vcr_recorder_vcpu *v = vcr_recorder_vcpu(rec, 0);
	vcr_recorder_observer(rec, &obs);

	/* A raw EXIT copy is at most 640 bytes here (the callgrind ring is
	 * sized on that): a quarter ring never fills it. */
	if (!batch)
		batch = buffer / 4 / 640;
	f->batch = batch;
	bench_vcpu_exits(v, batch);	/* warm-up: zstd contexts, caches */
	uint64_t produced = batch;
	wait_written(rec, produced);
	uint64_t w0 = f->writer_ok ? clock_ns(wclk) : 0, e0 = produced;
	uint64_t *loop = malloc(sizeof(uint64_t) * (size_t)nb);
	uint64_t *fill = malloc(sizeof(uint64_t) * (size_t)nb);
	double *ratio = malloc(sizeof(double) * (size_t)nb);
	if (!loop || !fill || !ratio)
		return -1;
	for (int r = 0; r < nb; r++) {
		/* The writer drained the ring before: no stall is timed. The
		 * wait sleeps, so one untimed pass brings the kvm_run pages
		 * back into the cache; then both loops, in turn first. */
		wait_written(rec, produced);
		bench_fill_only(batch);
		uint64_t t0 = thread_cpu_ns(), t1, t2;
		if (r % 2) {
			bench_fill_only(batch);
			t1 = thread_cpu_ns();
			bench_vcpu_exits(v, batch);
			t2 = thread_cpu_ns();
			fill[r] = t1 - t0;
			loop[r] = t2 - t1;
		} else {
			bench_vcpu_exits(v, batch);
			t1 = thread_cpu_ns();
			bench_fill_only(batch);
			t2 = thread_cpu_ns();
			loop[r] = t1 - t0;
			fill[r] = t2 - t1;
		}
		produced += batch;
		ratio[r] = fill[r] ? (double)loop[r] / (double)fill[r] : 0;
	}
	wait_written(rec, produced);
	uint64_t w1 = f->writer_ok ? clock_ns(wclk) : 0;
	struct vcr_recorder_summary sum;
	vcr_recorder_end(rec, VCR_END_EXIT_PORT, 0, "bench");
	vcr_recorder_close(rec, &sum);
	qsort(loop, (size_t)nb, sizeof(loop[0]), cmp_u64);
	qsort(fill, (size_t)nb, sizeof(fill[0]), cmp_u64);
	qsort(ratio, (size_t)nb, sizeof(ratio[0]), cmp_double);
	f->loop_ns = (double)loop[nb / 2] / (double)batch;
	f->fill_ns = (double)fill[nb / 2] / (double)batch;
	f->ratio = ratio[nb / 2];
	f->stalls = sum.stalls;
	f->writer_ns = (double)(w1 - w0) / (double)(produced - e0);
	f->bytes = sum.exits ? (double)sum.trace_bytes / (double)sum.exits : 0.0;
	free(loop);
	free(fill);
	free(ratio);
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t callgrind_n = 0;

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

	static char path[] = "/tmp/vcr-record-bench-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0) {
		perror("mkstemp");
		return 1;
	}
	close(fd);
	trace_path = path;

	if (callgrind_n) {
		/* A ring big enough for every exit, so the count has no stall
		 * in it. */
		struct vcr_mem_region region = { .gpa = 0, .size = 64 << 20 };
		struct vcr_trace_info info = {
			.arch = VCR_ARCH_X86_64, .kvm_api_version = 12, .sync_regs_mask = 7,
			.nvcpus = 1, .mem = &region, .nmem = 1, .cmdline = "record_bench",
		};
		struct vcr_recorder_opts opts = { .run_size = RUN_SIZE,
						  .buffer_bytes = callgrind_n * 640 };
		struct vcr_recorder *rec;
		struct vcr_err err;
		if (vcr_recorder_open(&rec, path, &info, &opts, &err) < 0) {
			fprintf(stderr, "record_bench: %s\n", err.msg);
			return 1;
		}
		vcr_recorder_observer(rec, &obs);
		bench_vcpu_exits(vcr_recorder_vcpu(rec, 0), callgrind_n);
		vcr_recorder_end(rec, VCR_END_EXIT_PORT, 0, "bench");
		vcr_recorder_close(rec, NULL);
		unlink(path);
		return 0;
	}

	int nb = (int)env_u64("RECORD_BENCH_BATCHES", 400);
	if (nb < 1 || nb > 100000)
		nb = 400;
	/* The ring comparison runs the same batch (what fits a quarter of
	 * the 64 KiB ring) on both rings, so that the clock reads (a
	 * syscall each, printed below) weigh the same on both. */
	struct batch_fig big, big25, small;
	uint64_t b25 = (64 << 10) / 4 / 640;
	if (batches(VCR_RECORDER_BUFFER_DEFAULT, 0, nb, &big) ||
	    batches(VCR_RECORDER_BUFFER_DEFAULT, b25, nb, &big25) ||
	    batches(64 << 10, b25, nb, &small))
		return 1;
	uint64_t c[101];
	for (int i = 0; i < 101; i++) {
		uint64_t t0 = thread_cpu_ns();
		c[i] = thread_cpu_ns() - t0;
	}
	qsort(c, 101, sizeof(c[0]), cmp_u64);
	unlink(path);
	printf("# setup: exits from %s (%u kvm_run pages, replayed in a loop); one vCPU "
	       "thread, the recorder's writer thread draining its ring concurrently to a "
	       "real trace file\n", source, npages);
	printf("# batches: %d pairs (without and with the recorder, in turn first) of a quarter ring of "
	       "exits back to back (%llu exits with the 2 MiB ring, %llu with 64 KiB); "
	       "vCPU-thread CPU time per exit, median over batches\n", nb,
	       (unsigned long long)big.batch, (unsigned long long)small.batch);
	printf("record_vcpu_loop_ns_per_exit %.1f ns\n", big.loop_ns);
	printf("record_vcpu_fill_ns_per_exit %.1f ns\n", big.fill_ns);
	printf("#   with/without the recorder, median of the per-batch ratios: %.2f x\n",
	       big.ratio);
	printf("# ring size, %llu-exit batches on both (a thread CPU clock read costs %llu ns "
	       "here, twice a batch, in both loops): 2 MiB ring (bigger than L2)\n",
	       (unsigned long long)b25, (unsigned long long)c[50]);
	printf("record_vcpu_loop_ns_per_exit_b%llu %.1f ns\n", (unsigned long long)b25,
	       big25.loop_ns);
	printf("record_vcpu_fill_ns_per_exit_b%llu %.1f ns\n", (unsigned long long)b25,
	       big25.fill_ns);
	printf("#   with/without: %.2f x; the same with a 64 KiB ring (fits L2):\n", big25.ratio);
	printf("record_vcpu_loop_ns_per_exit_b%llu_ring64k %.1f ns\n", (unsigned long long)b25,
	       small.loop_ns);
	printf("record_vcpu_fill_ns_per_exit_b%llu_ring64k %.1f ns\n", (unsigned long long)b25,
	       small.fill_ns);
	printf("#   with/without: %.2f x\n", small.ratio);
	if (big.stalls || big25.stalls || small.stalls)
		printf("# ring stalls: %llu, %llu (2 MiB), %llu (64 KiB)\n",
		       (unsigned long long)big.stalls, (unsigned long long)big25.stalls,
		       (unsigned long long)small.stalls);
	if (big.writer_ok)
		printf("record_writer_cpu_ns_per_exit %.0f ns\n", big.writer_ns);
	else
		printf("# record_writer_cpu_ns_per_exit: not measured (writer thread not found)\n");
	/* The stream repeats a few hundred pages at most: it compresses far
	 * better than a real run; see docs/recorder.md for real guests. */
	printf("record_bytes_per_exit_looped %.1f bytes\n", big.bytes);
	return 0;
}
