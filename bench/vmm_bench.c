/*
 * bench/vmm_bench.c: the cost of one exit through vcr's VMM loop, on the
 * real KVM of this machine (nested KVM if that is what /dev/kvm is: then the
 * figures are the nested round trip, not KVM's on hardware).
 *
 *   vmm_exit_ns            wall time per exit of spin64 (one data-port OUT
 *                          per iteration): KVM_RUN round trip + dispatch
 *   vmm_exit_observer_ns   the same with an observer whose hooks only count
 *   vmm_exits              exits measured in each run
 *
 * Without /dev/kvm it prints a "# not measured" line and exits 0.
 * Env: VCR_BUILD (guest images), VMM_BENCH_MS (default 500 per run).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include "vmm/vmm.h"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct stopper {
	struct vmm *vm;
	unsigned ms;
};

static void *stop_after(void *arg)
{
	struct stopper *s = arg;
	usleep(s->ms * 1000u);
	vmm_stop(s->vm, VCR_END_SIGNAL, 0, "bench done");
	return NULL;
}

static uint64_t counted;
static void count_after(void *ctx, uint32_t vcpu, struct kvm_run *run)
{
	(void)ctx; (void)vcpu; (void)run;
	counted++;
}
static void count_before(void *ctx, uint32_t vcpu, struct kvm_run *run)
{
	(void)ctx; (void)vcpu; (void)run;
}

/* Returns ns per exit, or a negative value when not measured. */
static double measure(const char *guest, unsigned ms, bool observer, uint64_t *exits)
{
	struct vmm_config cfg;
	struct vcr_err err = { 0 };
	struct vmm *vm;
	struct vmm_result res;
	struct stopper s;
	pthread_t t;

	vmm_config_init(&cfg);
	cfg.guest_path = guest;
	cfg.uart_out_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (vmm_create(&vm, &cfg, &err)) {
		printf("# vmm_exit_ns: not measured (%s)\n", err.msg);
		close(cfg.uart_out_fd);
		return -1;
	}
	if (observer) {
		struct vmm_observer obs = { .after_run = count_after, .before_run = count_before };
		vmm_set_observer(vm, &obs);
	}
	if (vmm_load(vm, &err)) {
		printf("# vmm_exit_ns: not measured (load: %s)\n", err.msg);
		vmm_destroy(vm);
		close(cfg.uart_out_fd);
		return -1;
	}
	s.vm = vm;
	s.ms = ms;
	uint64_t t0 = now_ns();
	pthread_create(&t, NULL, stop_after, &s);
	int r = vmm_run(vm, &res);
	uint64_t t1 = now_ns();
	pthread_join(t, NULL);
	vmm_destroy(vm);
	close(cfg.uart_out_fd);
	if (r || !res.exits)
		return -1;
	*exits = res.exits;
	return (double)(t1 - t0) / (double)res.exits;
}

int main(void)
{
	const char *b = getenv("VCR_BUILD");
	const char *ms_env = getenv("VMM_BENCH_MS");
	unsigned ms = ms_env ? (unsigned)atoi(ms_env) : 500;
	char guest[4096];
	uint64_t n1 = 0, n2 = 0;

	if (access("/dev/kvm", R_OK | W_OK)) {
		printf("# vmm_exit_ns: not measured (no usable /dev/kvm here; run under "
		       "tests/nested/kvm-run)\n");
		return 0;
	}
	snprintf(guest, sizeof(guest), "%s/tests/guests/spin64.elf", b ? b : "build");
	double bare = measure(guest, ms, false, &n1);
	if (bare < 0)
		return 0;
	double obs = measure(guest, ms, true, &n2);
	printf("vmm_exit_ns %.0f ns\n", bare);
	if (obs >= 0)
		printf("vmm_exit_observer_ns %.0f ns\n", obs);
	printf("vmm_exits %llu exits\n", (unsigned long long)n1);
	return 0;
}
