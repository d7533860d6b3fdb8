/*
 * bench/vmm_bench.c: what an exit costs the user, on this machine's real
 * /dev/kvm (run it under tests/nested/kvm-run for the nested KVM: then the
 * figures are the nested round trip under TCG, not KVM's on hardware).
 *
 * One VM, one vCPU running spin64 (one OUT to the data port per loop
 * iteration: a KVM_EXIT_IO and nothing else), driven by a loop here that
 * does what vmm/'s does per exit (KVM_RUN, look at the exit, answer INs),
 * in three modes, alternated round by round in one run so that all three
 * see the same machine load:
 *
 *   vmm_exit_ns_nosync   kvm_valid_regs = 0: KVM copies no register set
 *                        into kvm_run on exit
 *   vmm_exit_ns          kvm_valid_regs = 7 (regs, sregs, events), as vcr
 *                        runs every guest: the in-kernel cost of sync regs
 *                        is the difference to the line above
 *   vmm_exit_ns_record   kvm_valid_regs = 7 and the recorder's observer
 *                        hooks around every KVM_RUN, its writer thread
 *                        writing a real trace meanwhile (vcr run --record)
 *   vmm_exit_sync_ratio    vmm_exit_ns / vmm_exit_ns_nosync
 *   vmm_exit_record_ratio  vmm_exit_ns_record / vmm_exit_ns: the cost of
 *                          recording as the guest feels it
 *
 * Method: ROUNDS rounds; each round runs EXITS exits in each mode, the
 * order rotating from round to round (a warm-up first, not counted). A mode's
 * figure is the median over rounds of its wall time per exit; a ratio is the
 * median over rounds of that round's ratio (the two sides of a ratio ran
 * one right after the other). Min and max follow as "# " lines.
 *
 * Without /dev/kvm it prints a "# not measured" line and exits 0.
 * Env: VCR_BUILD (guest images), VMM_BENCH_ROUNDS (default 25),
 * VMM_BENCH_EXITS (exits per mode and round; default: about 60 ms' worth,
 * calibrated).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "recorder/recorder.h"
#include "vmm/vmm.h"

#define PORT_VCPU_ID 0xf0	/* tests/guests/guest.h */
#define PORT_UART_LSR 0x3fd

enum { M_NOSYNC, M_SYNC, M_RECORD, M_N };
static const char *const mode_name[M_N] = { "vmm_exit_ns_nosync", "vmm_exit_ns",
					    "vmm_exit_ns_record" };

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct bench {
	int fd;
	struct kvm_run *run;
	struct vmm_observer obs;	/* the recorder's */
};

/* n exits in mode m; returns wall ns per exit, or < 0 on an error. */
static double run_exits(struct bench *b, int m, uint64_t n)
{
	struct kvm_run *run = b->run;
	const uint32_t valid = m == M_NOSYNC ? 0 : VCR_CLASS_ALL;
	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < n; i++) {
		if (m == M_RECORD)
			b->obs.before_run(b->obs.ctx, 0, run);
		run->kvm_valid_regs = valid;
		if (ioctl(b->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR) {
				i--;
				continue;
			}
			printf("# KVM_RUN: %s\n", strerror(errno));
			return -1;
		}
		if (m == M_RECORD)
			b->obs.after_run(b->obs.ctx, 0, run);
		if (run->exit_reason != KVM_EXIT_IO) {
			printf("# unexpected exit %u\n", run->exit_reason);
			return -1;
		}
		/* spin64's start: its vCPU index (0), then the UART (THR
		 * empty) for its one line. */
		if (run->io.direction == KVM_EXIT_IO_IN)
			memset((uint8_t *)run + run->io.data_offset,
			       run->io.port == PORT_UART_LSR ? 0x60 : 0,
			       (size_t)run->io.size * run->io.count);
	}
	return (double)(now_ns() - t0) / (double)n;
}

static const char *kvm_backend(void)
{
	return !access("/sys/module/kvm_intel", F_OK) ? "kvm_intel" :
	       !access("/sys/module/kvm_amd", F_OK) ? "kvm_amd" :
	       !access("/sys/module/kvm_pvm", F_OK) ? "kvm_pvm" : "unknown";
}

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);
	return v && *v ? strtoull(v, NULL, 0) : def;
}

int main(void)
{
	const char *bd = getenv("VCR_BUILD");
	char guest[4096];
	struct vmm_config cfg;
	struct vcr_err err = { 0 };
	struct vmm *vm;

	if (access("/dev/kvm", R_OK | W_OK)) {
		printf("# vmm_exit_ns: not measured (no usable /dev/kvm here; run under "
		       "tests/nested/kvm-run)\n");
		return 0;
	}
	snprintf(guest, sizeof(guest), "%s/tests/guests/spin64.elf", bd ? bd : "build");
	vmm_config_init(&cfg);
	cfg.guest_path = guest;
	cfg.uart_out_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (vmm_create(&vm, &cfg, &err) || vmm_load(vm, &err)) {
		printf("# vmm_exit_ns: not measured (%s)\n", err.msg);
		return 0;
	}

	char path[] = "/tmp/vcr-vmm-bench-XXXXXX";
	int tfd = mkstemp(path);
	if (tfd < 0) {
		perror("mkstemp");
		return 1;
	}
	close(tfd);
	uint32_t nmem;
	const struct vcr_mem_region *mem = vmm_mem_regions(vm, &nmem);
	struct vcr_trace_info info = {
		.arch = VCR_ARCH_X86_64, .kvm_api_version = vmm_api_version(vm),
		.sync_regs_mask = vmm_sync_regs_mask(vm), .nvcpus = 1, .mem = mem, .nmem = nmem,
		.cmdline = "vmm_bench",
	};
	struct vcr_recorder_opts ro = { .run_size = vmm_run_size(vm) };
	struct vcr_recorder *rec;
	if (vcr_recorder_open(&rec, path, &info, &ro, &err) < 0) {
		printf("# vmm_exit_ns_record: not measured (%s)\n", err.msg);
		return 1;
	}
	struct bench b = { .fd = vmm_vcpu_fd(vm, 0), .run = vmm_vcpu_run_page(vm, 0) };
	vcr_recorder_observer(rec, &b.obs);

	int rounds = (int)env_u64("VMM_BENCH_ROUNDS", 25);
	if (rounds < 1 || rounds > 1000)
		rounds = 25;
	uint64_t n = env_u64("VMM_BENCH_EXITS", 0);
	/* Warm-up, which also sizes a round: about 60 ms per mode. */
	double w = run_exits(&b, M_SYNC, 2000);
	if (w < 0)
		return 1;
	if (!n)
		n = (uint64_t)(60e6 / w) + 100;
	for (int m = 0; m < M_N; m++)
		if (run_exits(&b, m, n / 4 + 1) < 0)
			return 1;

	double *v[M_N], *rs = malloc(sizeof(double) * (size_t)rounds),
	       *rr = malloc(sizeof(double) * (size_t)rounds);
	for (int m = 0; m < M_N; m++)
		v[m] = malloc(sizeof(double) * (size_t)rounds);
	if (!rs || !rr || !v[0] || !v[1] || !v[2])
		return 1;
	for (int r = 0; r < rounds; r++) {
		/* The order rotates, so that no mode always follows another. */
		for (int k = 0; k < M_N; k++) {
			int m = (r + k) % M_N;
			if ((v[m][r] = run_exits(&b, m, n)) < 0)
				return 1;
		}
		rs[r] = v[M_SYNC][r] / v[M_NOSYNC][r];
		rr[r] = v[M_RECORD][r] / v[M_SYNC][r];
	}
	vcr_recorder_end(rec, VCR_END_SIGNAL, 0, "bench done");
	struct vcr_recorder_summary sum;
	vcr_recorder_close(rec, &sum);
	unlink(path);
	vmm_destroy(vm);

	printf("# /dev/kvm: %s%s; spin64, one vCPU; %d rounds of %llu exits per mode, "
	       "modes alternated in each round; wall time per exit, median over rounds\n",
	       kvm_backend(), getenv("VCR_BENCH_NESTED") ? ", nested under TCG" : "", rounds,
	       (unsigned long long)n);
	for (int m = 0; m < M_N; m++) {
		double med = median(v[m], rounds);
		printf("%s %.0f ns\n", mode_name[m], med);
		printf("#   %s: min %.0f max %.0f\n", mode_name[m], v[m][0], v[m][rounds - 1]);
	}
	double ms = median(rs, rounds), mr = median(rr, rounds);
	printf("vmm_exit_sync_ratio %.3f x\n", ms);
	printf("#   vmm_exit_sync_ratio: per-round min %.3f max %.3f (sync regs in KVM: "
	       "%.0f ns per exit at the median)\n", rs[0], rs[rounds - 1],
	       median(v[M_SYNC], rounds) - median(v[M_NOSYNC], rounds));
	printf("vmm_exit_record_ratio %.3f x\n", mr);
	printf("#   vmm_exit_record_ratio: per-round min %.3f max %.3f; %llu exits recorded, "
	       "%llu ring stalls\n", rr[0], rr[rounds - 1], (unsigned long long)sum.exits,
	       (unsigned long long)sum.stalls);
	return 0;
}
