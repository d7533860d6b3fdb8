/*
 * tests/kvm/run_vmm_api.c: the VMM's hooks on real KVM (TAP).
 *
 *  1. observer on count64: one after_run per exit and one before_run per
 *     KVM_RUN, as many as the guest counted itself (its last data-port OUT
 *     carries its total); at the k-th data-port exit rax/rbx/rcx are the
 *     values the guest computed; the MMIO reads were handed the device value;
 *     the loader's state arrives as dirty REGS|SREGS in the first before_run
 *     and its bytes through mem_write.
 *  2. debug handler + guest debug on gdb64: 20 single steps, each a
 *     KVM_EXIT_DEBUG with #DB whose pc is the synced rip; then stepping is
 *     turned off and the guest runs to its end.
 *  3. kicks on spin64 with 2 vCPUs: vmm_kick_all brings both into the
 *     handler (KICKED); a register written there with vmm_vcpu_set_state is
 *     what the guest runs with; vmm_stop ends the run with its reason.
 *  4. SIGUSR1 (the kick signal): a handler the caller installed before
 *     vmm_run is installed again after it, with its flags, and is the one
 *     that runs when SIGUSR1 is raised.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/tap.h"
#include "tests/guests/guest.h"
#include "vmm/vmm.h"

static char guest_dir[4096];
static int null_fd;

static struct vmm *make_vm(const char *guest, uint32_t ncpus)
{
	struct vmm_config cfg;
	struct vcr_err err = { 0 };
	struct vmm *vm;
	char path[4200];

	snprintf(path, sizeof(path), "%s/%s", guest_dir, guest);
	vmm_config_init(&cfg);
	cfg.guest_path = path;
	cfg.nvcpus = ncpus;
	/* Guest output is not what this test checks: keep TAP clean. */
	cfg.uart_out_fd = null_fd;
	if (vmm_create(&vm, &cfg, &err))
		tap_bail("vmm_create %s: %s", path, err.msg);
	return vm;
}

/* ---- 1: observer ---------------------------------------------------------- */

struct obs1 {
	uint64_t after, before, mem_bytes, mem_calls, mem_vcpu_calls, ends;
	unsigned first_dirty;
	uint64_t port_k;		/* data-port exits seen */
	uint64_t bad_regs;		/* port exits with wrong rax/rbx/rcx */
	uint64_t mmio_reads, mmio_good;
	uint32_t last_reason;
	bool last_was_mmio_read;
	uint64_t guest_total;		/* from the final 4-byte data-port OUT */
	uint32_t end_how;
	int32_t end_status;
};

static void o1_after(void *ctx, uint32_t vcpu, struct kvm_run *run)
{
	struct obs1 *o = ctx;
	(void)vcpu;
	o->after++;
	o->last_was_mmio_read = run->exit_reason == KVM_EXIT_MMIO && !run->mmio.is_write;
	if (run->exit_reason == KVM_EXIT_IO && run->io.port == G_PORT_DATA &&
	    run->io.direction == KVM_EXIT_IO_OUT) {
		const uint8_t *d = (const uint8_t *)run + run->io.data_offset;
		if (run->io.size == 4) {
			uint32_t v;
			memcpy(&v, d, 4);
			o->guest_total = v;
			return;
		}
		uint64_t k = o->port_k++;
		const struct kvm_regs *r = &run->s.regs.regs;
		if (r->rax != (uint64_t)G_COUNT_F(k) || r->rbx != (uint64_t)G_COUNT_G(k) ||
		    r->rcx != k) {
			if (!o->bad_regs)
				tap_diag("port exit %llu: rax=%#llx rbx=%#llx rcx=%llu",
					 (unsigned long long)k, (unsigned long long)r->rax,
					 (unsigned long long)r->rbx, (unsigned long long)r->rcx);
			o->bad_regs++;
		}
	}
}

static void o1_before(void *ctx, uint32_t vcpu, struct kvm_run *run)
{
	struct obs1 *o = ctx;
	(void)vcpu;
	if (o->before++ == 0)
		o->first_dirty = run->kvm_dirty_regs;
	if (o->last_was_mmio_read) {
		uint64_t v = 0, want = G_MMIO_VALUE;
		memcpy(&v, run->mmio.data, run->mmio.len);
		o->mmio_reads++;
		if (run->mmio.len == 8 && v == want)
			o->mmio_good++;
		o->last_was_mmio_read = false;
	}
}

static void o1_mem(void *ctx, uint32_t vcpu, uint64_t gpa, const void *data, uint64_t len)
{
	struct obs1 *o = ctx;
	(void)gpa;
	(void)data;
	o->mem_calls++;
	o->mem_bytes += len;
	if (vcpu != VMM_NO_VCPU)
		o->mem_vcpu_calls++;
}

static void o1_end(void *ctx, uint32_t how, int32_t status, const char *msg)
{
	struct obs1 *o = ctx;
	(void)msg;
	o->ends++;
	o->end_how = how;
	o->end_status = status;
}

static void test_observer(void)
{
	struct obs1 o = { 0 };
	struct vmm_observer obs = { .ctx = &o, .after_run = o1_after, .before_run = o1_before,
				    .mem_write = o1_mem, .end = o1_end };
	struct vcr_err err = { 0 };
	struct vmm_result res;
	struct vmm *vm = make_vm("count64.elf", 1);

	vmm_set_observer(vm, &obs);
	if (vmm_load(vm, &err))
		tap_bail("vmm_load: %s", err.msg);
	tap_ok(o.mem_calls > 0 && o.mem_bytes >= 0x13c + 4096 * 6 && o.mem_vcpu_calls == 0,
	       "loader writes go through mem_write, for no vCPU (%llu calls, %llu bytes)",
	       (unsigned long long)o.mem_calls, (unsigned long long)o.mem_bytes);
	tap_ok(vmm_run(vm, &res) == 0, "vmm_run");
	tap_ok(res.how == VCR_END_EXIT_PORT && res.status == G_EXIT_COUNT_OK &&
	       res.exit_status == G_EXIT_COUNT_OK, "count64 ended at the exit port with 0x40 (%s)",
	       res.msg);
	tap_is_u64(o.guest_total, 356, "the guest counted 356 exits");
	tap_is_u64(o.after, o.guest_total, "one after_run per exit the guest made");
	tap_is_u64(o.before, o.after, "one before_run per KVM_RUN");
	tap_is_u64(res.exits, o.after, "vmm_result.exits");
	tap_is_u64(o.first_dirty, VCR_CLASS_REGS | VCR_CLASS_SREGS,
		   "the first before_run carries the loader's state as dirty REGS|SREGS");
	tap_ok(o.port_k == G_COUNT_ITERS && o.bad_regs == 0,
	       "at each of the %d data-port exits rax/rbx/rcx are the guest's values",
	       G_COUNT_ITERS);
	tap_ok(o.mmio_reads == 100 && o.mmio_good == 100,
	       "every MMIO read was handed the device value before the next KVM_RUN");
	tap_ok(o.ends == 1 && o.end_how == VCR_END_EXIT_PORT && o.end_status == G_EXIT_COUNT_OK,
	       "end called once with how and status");
	vmm_destroy(vm);
}

/* ---- 2: single step --------------------------------------------------------- */

struct step {
	int steps, bad, starts;
	uint64_t last_pc;
	int distinct_pcs;
};

static int step_handler(void *ctx, struct vmm *vm, uint32_t vcpu, enum vmm_debug_event ev,
			struct kvm_run *run)
{
	struct step *s = ctx;
	struct kvm_guest_debug dbg = { 0 };

	if (ev == VMM_DEBUG_START) {
		s->starts++;
		dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP;
		vmm_vcpu_set_guest_debug(vm, vcpu, &dbg);
		return VMM_DEBUG_CONTINUE;
	}
	if (ev != VMM_DEBUG_EXIT)
		return VMM_DEBUG_CONTINUE;
	s->steps++;
	if (run->debug.arch.exception != 1 || run->debug.arch.pc != run->s.regs.regs.rip)
		s->bad++;
	if (run->debug.arch.pc != s->last_pc)
		s->distinct_pcs++;
	s->last_pc = run->debug.arch.pc;
	if (s->steps == 20)	/* enough: run free */
		vmm_vcpu_set_guest_debug(vm, vcpu, &dbg);
	return VMM_DEBUG_CONTINUE;
}

static void test_single_step(void)
{
	struct step s = { 0 };
	struct vcr_err err = { 0 };
	struct vmm_result res;
	struct vmm *vm = make_vm("gdb64.elf", 1);

	vmm_set_debug_handler(vm, step_handler, &s);
	if (vmm_load(vm, &err))
		tap_bail("vmm_load: %s", err.msg);
	tap_ok(vmm_run(vm, &res) == 0 && res.how == VCR_END_EXIT_PORT &&
	       res.status == G_EXIT_GDB_DONE, "gdb64 with 20 single steps runs to its end (%s)",
	       res.msg);
	tap_ok(s.starts == 1, "VMM_DEBUG_START once before the first KVM_RUN");
	tap_ok(s.steps == 20 && s.bad == 0 && s.distinct_pcs >= 15,
	       "20 KVM_EXIT_DEBUG #DB steps, pc = synced rip (%d steps, %d bad, %d pcs)",
	       s.steps, s.bad, s.distinct_pcs);
	vmm_destroy(vm);
}

/* ---- 3: kicks, set_state, stop ---------------------------------------------- */

struct kick {
	atomic_int kicked[2];
	atomic_int set_done;
	atomic_int seen_after_set;	/* data-port exits with rax in the new range */
	atomic_ullong exits[2];
};

static int kick_handler(void *ctx, struct vmm *vm, uint32_t vcpu, enum vmm_debug_event ev,
			struct kvm_run *run)
{
	struct kick *k = ctx;
	(void)run;
	if (ev != VMM_DEBUG_KICKED || vcpu > 1)
		return VMM_DEBUG_CONTINUE;
	atomic_fetch_add(&k->kicked[vcpu], 1);
	if (vcpu == 1) {
		struct vcr_vcpu_state st;
		vmm_vcpu_get_state(vm, 1, &st);
		st.regs.rax = 0x100000000ull;	/* the guest's counter jumps */
		vmm_vcpu_set_state(vm, 1, &st, VCR_CLASS_REGS);
		atomic_store(&k->set_done, 1);
	}
	return VMM_DEBUG_CONTINUE;
}

static void k_after(void *ctx, uint32_t vcpu, struct kvm_run *run)
{
	struct kick *k = ctx;
	if (vcpu > 1)
		return;
	atomic_fetch_add(&k->exits[vcpu], 1);
	if (vcpu == 1 && run->exit_reason == KVM_EXIT_IO && run->io.port == G_PORT_DATA &&
	    run->s.regs.regs.rax > 0x100000000ull && run->s.regs.regs.rax < 0x100100000ull)
		atomic_fetch_add(&k->seen_after_set, 1);
}

struct kick_ctl {
	struct vmm *vm;
	struct kick *k;
	int ok_kick, ok_set;
};

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

static void *kick_ctl(void *arg)
{
	struct kick_ctl *c = arg;
	/* Let both vCPUs spin first. */
	for (int i = 0; i < 500 && (atomic_load(&c->k->exits[0]) < 100 ||
				    atomic_load(&c->k->exits[1]) < 100); i++)
		sleep_ms(10);
	vmm_kick_all(c->vm);
	for (int i = 0; i < 500 && !(atomic_load(&c->k->kicked[0]) &&
				     atomic_load(&c->k->kicked[1])); i++)
		sleep_ms(10);
	c->ok_kick = atomic_load(&c->k->kicked[0]) == 1 && atomic_load(&c->k->kicked[1]) == 1;
	for (int i = 0; i < 500 && atomic_load(&c->k->seen_after_set) < 10; i++)
		sleep_ms(10);
	c->ok_set = atomic_load(&c->k->seen_after_set) >= 10;
	vmm_stop(c->vm, VCR_END_SIGNAL, 15, "test stop");
	return NULL;
}

static void test_kick(void)
{
	struct kick k;
	struct vmm_observer obs = { .ctx = &k, .after_run = k_after };
	struct vcr_err err = { 0 };
	struct vmm_result res;
	struct vmm *vm = make_vm("spin64.elf", 2);
	struct kick_ctl c = { .vm = vm, .k = &k };
	pthread_t t;

	memset(&k, 0, sizeof(k));
	vmm_set_observer(vm, &obs);
	vmm_set_debug_handler(vm, kick_handler, &k);
	if (vmm_load(vm, &err))
		tap_bail("vmm_load: %s", err.msg);
	pthread_create(&t, NULL, kick_ctl, &c);
	int r = vmm_run(vm, &res);
	pthread_join(t, NULL);
	tap_ok(c.ok_kick, "vmm_kick_all: each of 2 spinning vCPUs reached the handler once "
	       "(%d, %d)", atomic_load(&k.kicked[0]), atomic_load(&k.kicked[1]));
	tap_ok(c.ok_set, "a register set in the handler (vmm_vcpu_set_state) is what vCPU 1 "
	       "runs with (%d exits seen)", atomic_load(&k.seen_after_set));
	tap_ok(r == 0 && res.how == VCR_END_SIGNAL && res.status == 15 &&
	       res.exit_status == 128 + 15 && !strcmp(res.msg, "test stop"),
	       "vmm_stop from another thread ends the run with its reason (%s)", res.msg);
	vmm_destroy(vm);
}

/* ---- 4: the caller's SIGUSR1 comes back ------------------------------------ */

static volatile sig_atomic_t usr1_seen;

static void usr1_handler(int sig)
{
	(void)sig;
	usr1_seen++;
}

static void test_signal_restored(void)
{
	struct sigaction mine = { .sa_handler = usr1_handler, .sa_flags = SA_RESTART }, after;
	struct vcr_err err = { 0 };
	struct vmm_result res;
	struct vmm *vm = make_vm("count64.elf", 1);

	sigemptyset(&mine.sa_mask);
	sigaddset(&mine.sa_mask, SIGUSR2);
	if (sigaction(SIGUSR1, &mine, NULL) < 0)
		tap_bail("sigaction: %s", strerror(errno));
	if (vmm_load(vm, &err))
		tap_bail("vmm_load: %s", err.msg);
	tap_ok(vmm_run(vm, &res) == 0 && res.how == VCR_END_EXIT_PORT, "count64 runs (%s)",
	       res.msg);
	sigaction(SIGUSR1, NULL, &after);
	tap_ok(after.sa_handler == usr1_handler && (after.sa_flags & SA_RESTART) &&
	       sigismember(&after.sa_mask, SIGUSR2) == 1,
	       "after vmm_run SIGUSR1 has the caller's handler, flags and mask again");
	usr1_seen = 0;
	raise(SIGUSR1);
	tap_ok(usr1_seen == 1, "raising SIGUSR1 runs the caller's handler");
	signal(SIGUSR1, SIG_DFL);
	vmm_destroy(vm);
}

int main(void)
{
	const char *b = getenv("VCR_BUILD");

	snprintf(guest_dir, sizeof(guest_dir), "%s/tests/guests", b ? b : "build");
	null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	tap_plan(20);
	test_observer();
	test_single_step();
	test_kick();
	test_signal_restored();
	return tap_exit_status();
}
