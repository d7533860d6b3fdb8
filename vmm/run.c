/*
 * vmm/run.c: the vCPU threads and how a run ends.
 *
 * Each vCPU thread loops: deliver a pending kick, before_run, KVM_RUN,
 * after_run, then one switch on exit_reason. A run ends once (vmm_end: the
 * first caller wins); the ender kicks every other vCPU out of KVM_RUN with
 * immediate_exit + a signal, and vmm_run joins them all.
 *
 * The pc machine has an in-kernel irqchip, so HLT never exits: a guest
 * whose every vCPU halted with interrupts off (Linux's `halt -f`) would
 * block in KVM_RUN forever. A watchdog thread notices a quiet second (no
 * exit on any vCPU), probes every vCPU (immediate_exit + the kick signal,
 * but not a kick: the debug handler is not told), and each vCPU answers at
 * its -EINTR from KVM_GET_MP_STATE and rflags.IF. When all are stopped
 * (halted with IF=0, or an AP never started), the run ends as VCR_END_HLT.
 * A probe costs one KVM_EXIT_INTR exit per vCPU per quiet second.
 *
 * The same probes tell a guest that spins without ever exiting (no console,
 * no port, nothing vcr can see: a kernel that cannot run on this host's KVM
 * loops in its decompressor so) from one that waits: after
 * WATCHDOG_STALL_MS (30 s) without a real exit while some vCPU is runnable (not
 * halted) at every answered probe, vcr says so once per quiet stretch, with
 * where each vCPU was (not while gdb is attached, which may hold the
 * vCPUs). The probes' own exits do not count as activity: an answer that
 * comes late on a loaded host must not restart the stretch. It does not end
 * the run: a guest may compute for that long on purpose; SIGINT does.
 */
#include "vmm/dev.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define WATCHDOG_QUIET_MS	1000	/* no exit for this long: probe */
#define WATCHDOG_ANSWER_MS	100	/* how long the vCPUs have to answer */
#define WATCHDOG_STALL_MS	30000	/* quiet and runnable this long: say so */
#define RFLAGS_IF		0x200ull

/* The kick signal's handler (VMM_KICK_SIGNAL, vmm_int.h) does nothing; its
 * only job is to make KVM_RUN return -EINTR. vCPU threads block every other
 * signal. */
static void kick_handler(int sig)
{
	(void)sig;
}

/* True when a kick was pending (and is now consumed). */
static bool vcpu_take_kick(struct vmm_vcpu *c)
{
	c->run->immediate_exit = 0;
	return atomic_exchange(&c->kick_pending, false);
}

static bool debug_call(struct vmm *vm, struct vmm_vcpu *c, enum vmm_debug_event ev)
{
	if (!vm->dbg_fn)
		return true;
	if (vm->dbg_fn(vm->dbg_ctx, vm, c->index, ev, c->run) == VMM_DEBUG_KILL) {
		vmm_end(vm, c->index, VCR_END_GDB_KILL, 0, "killed by the debugger");
		return false;
	}
	return true;
}

/* The message for a triple fault. On AMD, KVM re-initialises the vCPU on a
 * shutdown intercept before returning (the VMCB is undefined afterwards), so
 * the synced rip is the reset vector; then the last exit's rip is the best
 * clue we have, and the message says so. */
static void end_shutdown(struct vmm *vm, struct vmm_vcpu *c)
{
	const struct kvm_sync_regs *s = &c->run->s.regs;
	bool reset = s->regs.rip == 0xfff0 && s->sregs.cs.base == 0xffff0000ull;

	if (reset)
		vmm_end(vm, c->index, VCR_END_SHUTDOWN, 0,
			"triple fault (KVM_EXIT_SHUTDOWN) on vcpu %u; KVM reset the vCPU "
			"(rip=0xfff0), last exit before it: %s at rip=%#llx (exit #%llu)",
			c->index, vcr_exit_reason_name(c->last_reason) ?
			vcr_exit_reason_name(c->last_reason) : "none",
			(unsigned long long)c->last_rip, (unsigned long long)c->exits - 1);
	else
		vmm_end(vm, c->index, VCR_END_SHUTDOWN, 0,
			"triple fault (KVM_EXIT_SHUTDOWN) on vcpu %u at rip=%#llx "
			"cs=%#x cr0=%#llx (exit #%llu)", c->index,
			(unsigned long long)s->regs.rip, s->sregs.cs.selector,
			(unsigned long long)s->sregs.cr0, (unsigned long long)c->exits - 1);
}

static void end_internal(struct vmm *vm, struct vmm_vcpu *c)
{
	const struct kvm_run *run = c->run;
	char data[200] = "";
	size_t off = 0;
	uint32_t n = run->internal.ndata;

	if (n > VCR_ARRAY_SIZE(run->internal.data))
		n = VCR_ARRAY_SIZE(run->internal.data);
	for (uint32_t i = 0; i < n && off < sizeof(data); i++)
		off += (size_t)snprintf(data + off, sizeof(data) - off, " %#llx",
					(unsigned long long)run->internal.data[i]);
	vmm_end(vm, c->index, VCR_END_INTERNAL_ERROR, (int32_t)run->internal.suberror,
		"KVM internal error (KVM_EXIT_INTERNAL_ERROR) on vcpu %u at rip=%#llx: "
		"suberror %u%s, data:%s", c->index,
		(unsigned long long)run->s.regs.regs.rip, run->internal.suberror,
		run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ?
		" (emulation failed)" : "", n ? data : " none");
}

/* The watchdog asked (vCPU thread, just out of KVM_RUN with -EINTR). */
static void probe_answer(struct vmm *vm, struct vmm_vcpu *c)
{
	uint32_t mp;
	bool stopped = false;

	mp = UINT32_MAX;
	if (vmm_vcpu_mp_state(vm, c->index, &mp) == 0)
		stopped = (mp == KVM_MP_STATE_HALTED &&
			   !(c->run->s.regs.regs.rflags & RFLAGS_IF)) ||
			mp == KVM_MP_STATE_UNINITIALIZED || mp == KVM_MP_STATE_INIT_RECEIVED;
	c->probe_rip = c->run->s.regs.regs.rip;
	c->probe_mp = mp;
	atomic_store(&c->probe_result, stopped ? 1 : 2);
}

static void *vcpu_thread(void *arg)
{
	struct vmm_vcpu *c = arg;
	struct vmm *vm = c->vm;
	struct kvm_run *run = c->run;
	const struct vmm_observer *obs = &vm->obs;

	if (!debug_call(vm, c, VMM_DEBUG_START))
		goto out;
	for (;;) {
		/* A memory checkpoint wants every vCPU out of KVM_RUN. */
		if (atomic_load_explicit(&vm->ckpt.pause, memory_order_relaxed))
			vmm_ckpt_pause_here(vm, c);
		if (atomic_load_explicit(&vm->ended, memory_order_relaxed))
			break;
		if (vcpu_take_kick(c)) {
			if (atomic_load(&vm->ended))
				break;
			if (!debug_call(vm, c, VMM_DEBUG_KICKED))
				break;
		}
		if (obs->before_run)
			obs->before_run(obs->ctx, c->index, run);
		int r = vmm_vcpu_run_once(vm, c->index);
		if (r == 0 || r == -EINTR) {
			__atomic_fetch_add(&c->exits, 1, __ATOMIC_RELAXED);
			if (obs->after_run)
				obs->after_run(obs->ctx, c->index, run);
			if (__builtin_expect(c->exits >= c->ckpt_mark, 0))
				vmm_ckpt_exits_due(vm, c);
		}
		if (r == -EINTR) {
			if (atomic_exchange(&c->probe, false)) {
				__atomic_fetch_add(&c->probe_exits, 1, __ATOMIC_RELAXED);
				probe_answer(vm, c);
			}
			continue;	/* a kick or a stray signal: see loop top */
		}
		/* An AP (in-kernel LAPIC) waiting for SIPI returns EAGAIN once
		 * it got it: run it again, now from the SIPI vector. */
		if (r == -EAGAIN)
			continue;
		if (r < 0) {
			vmm_end(vm, c->index, VCR_END_ERROR, -r, "KVM_RUN on vcpu %u failed: %s",
				c->index, strerror(-r));
			break;
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			if (vmm_bus_io(vm, c) == VMM_BUS_ENDED)
				goto out;
			break;
		case KVM_EXIT_MMIO:
			if (vmm_bus_mmio(vm, c) == VMM_BUS_ENDED)
				goto out;
			break;
		case KVM_EXIT_HYPERV:
			break;	/* answered by vmm_vcpu_run_once (vmm/hyperv.c) */
		case KVM_EXIT_HLT:
			/* No irqchip and no device that interrupts: nothing can
			 * wake this vCPU, whatever IF says. It stops; the run
			 * ends when the last vCPU stops. */
			vcr_debug("vcpu %u halted at rip=%#llx", c->index,
				  (unsigned long long)run->s.regs.regs.rip);
			if (atomic_fetch_sub(&vm->active, 1) == 1)
				vmm_end(vm, c->index, VCR_END_HLT, 0,
					"halted (vcpu %u at rip=%#llx, every vCPU halted)",
					c->index, (unsigned long long)run->s.regs.regs.rip);
			goto out;
		case KVM_EXIT_DEBUG:
			if (!vm->dbg_fn) {
				vmm_end(vm, c->index, VCR_END_ERROR, 0,
					"unexpected KVM_EXIT_DEBUG on vcpu %u at rip=%#llx",
					c->index, (unsigned long long)run->debug.arch.pc);
				goto out;
			}
			if (!debug_call(vm, c, VMM_DEBUG_EXIT))
				goto out;
			break;
		case KVM_EXIT_SHUTDOWN:
			/* Never run this vCPU again: SVM has reset it. */
			end_shutdown(vm, c);
			goto out;
		case KVM_EXIT_INTERNAL_ERROR:
			end_internal(vm, c);
			goto out;
		case KVM_EXIT_FAIL_ENTRY:
			vmm_end(vm, c->index, VCR_END_FAIL_ENTRY, 0,
				"VM entry failed (KVM_EXIT_FAIL_ENTRY) on vcpu %u at rip=%#llx: "
				"hardware_entry_failure_reason=%#llx cpu=%u", c->index,
				(unsigned long long)run->s.regs.regs.rip,
				(unsigned long long)run->fail_entry.hardware_entry_failure_reason,
				run->fail_entry.cpu);
			goto out;
		case KVM_EXIT_SYSTEM_EVENT:
			vmm_end(vm, c->index, VCR_END_SYSTEM_EVENT, (int32_t)run->system_event.type,
				"system event %u on vcpu %u at rip=%#llx", run->system_event.type,
				c->index, (unsigned long long)run->s.regs.regs.rip);
			goto out;
		default:
			vmm_end(vm, c->index, VCR_END_ERROR, (int32_t)run->exit_reason,
				"unexpected exit %s (%u) on vcpu %u at rip=%#llx",
				vcr_exit_reason_name(run->exit_reason) ?
				vcr_exit_reason_name(run->exit_reason) : "?",
				run->exit_reason, c->index,
				(unsigned long long)run->s.regs.regs.rip);
			goto out;
		}
		c->last_rip = run->s.regs.regs.rip;
		c->last_reason = run->exit_reason;
	}
out:
	vmm_ckpt_vcpu_gone(vm);
	return NULL;
}

/* The guest's exits, without the probes' own: an answer that comes after
 * the watchdog stopped waiting for it (a loaded host) is no activity. */
static uint64_t total_exits(struct vmm *vm)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < vm->nvcpus; i++)
		n += __atomic_load_n(&vm->vcpus[i].exits, __ATOMIC_RELAXED) -
		     __atomic_load_n(&vm->vcpus[i].probe_exits, __ATOMIC_RELAXED);
	return n;
}

/* Wait ms on end_cond (end_lock held); true once the run has ended. */
static bool watchdog_wait(struct vmm *vm, long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	while (!vm->end_kicked)
		if (pthread_cond_timedwait(&vm->end_cond, &vm->end_lock, &ts))
			break;
	return vm->end_kicked || atomic_load(&vm->ended);
}

/* One quiet stretch, as the probes saw it. */
struct stall {
	uint64_t since_ms;		/* CLOCK_MONOTONIC of the last real exit */
	bool runnable;			/* some vCPU runnable at every probe */
	bool told;
	uint64_t rip0[VMM_MAX_VCPUS];	/* each vCPU's rip at the first probe */
	bool moved[VMM_MAX_VCPUS];	/* ... and whether it changed since */
	uint32_t probes;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void stall_probed(struct vmm *vm, struct stall *s)
{
	bool runnable = false;
	uint32_t answered = 0;

	for (uint32_t i = 0; i < vm->nvcpus; i++) {
		const struct vmm_vcpu *c = &vm->vcpus[i];
		if (atomic_load(&c->probe_result) == 0)
			continue;
		answered++;
		runnable |= c->probe_mp == KVM_MP_STATE_RUNNABLE;
		if (s->probes == 0)
			s->rip0[i] = c->probe_rip;
		else if (c->probe_rip != s->rip0[i])
			s->moved[i] = true;
	}
	/* No answer in time (a loaded host, or gdb holds every vCPU): this
	 * round says nothing either way. */
	if (!answered || vm->dbg_fn)	/* gdb: it knows where the guest is */
		return;
	s->runnable = (s->probes == 0 || s->runnable) && runnable;
	s->probes++;
	uint64_t quiet = mono_ms() - s->since_ms;
	if (s->told || !s->runnable || quiet < WATCHDOG_STALL_MS)
		return;
	s->told = true;
	char where[512];
	size_t n = 0;
	where[0] = 0;
	for (uint32_t i = 0; i < vm->nvcpus && n < sizeof(where) - 96; i++) {
		const struct vmm_vcpu *c = &vm->vcpus[i];
		n += (size_t)snprintf(where + n, sizeof(where) - n, "%svcpu %u %s at rip=%#llx%s",
				      i ? "; " : "", i,
				      c->probe_mp == KVM_MP_STATE_RUNNABLE ? "running" :
				      c->probe_mp == KVM_MP_STATE_HALTED ? "halted" : "not started",
				      (unsigned long long)c->probe_rip,
				      s->moved[i] ? "" : " (the same rip at every probe)");
	}
	vcr_log("no progress seen: no exit for %llu s and the guest is not halted (%s): it "
		"runs without any I/O vcr can see; if it stays so it spins (a kernel that "
		"cannot run on this host's KVM does); SIGINT ends the run",
		(unsigned long long)(quiet / 1000), where);
}

static void *watchdog_main(void *arg)
{
	struct vmm *vm = arg;
	uint64_t last = total_exits(vm);
	struct stall stall = { .since_ms = mono_ms() };

	pthread_mutex_lock(&vm->end_lock);
	for (;;) {
		if (watchdog_wait(vm, WATCHDOG_QUIET_MS))
			break;
		uint64_t now = total_exits(vm);
		if (now != last) {
			last = now;
			stall = (struct stall){ .since_ms = mono_ms() };
			continue;
		}
		for (uint32_t i = 0; i < vm->nvcpus; i++) {
			struct vmm_vcpu *c = &vm->vcpus[i];
			atomic_store(&c->probe_result, 0);
			atomic_store(&c->probe, true);
			__atomic_store_n(&c->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
			pthread_mutex_lock(&vm->kick_lock);
			if (vm->running && c->thread_started)
				pthread_kill(c->thread, VMM_KICK_SIGNAL);
			pthread_mutex_unlock(&vm->kick_lock);
		}
		if (watchdog_wait(vm, WATCHDOG_ANSWER_MS))
			break;
		uint32_t stopped = 0;
		for (uint32_t i = 0; i < vm->nvcpus; i++)
			stopped += atomic_load(&vm->vcpus[i].probe_result) == 1;
		last = total_exits(vm);
		stall_probed(vm, &stall);
		if (stopped == vm->nvcpus) {
			uint64_t rip = vm->vcpus[0].probe_rip;
			pthread_mutex_unlock(&vm->end_lock);
			vmm_end(vm, 0, VCR_END_HLT, 0,
				"halted: every vCPU stopped with interrupts off (vcpu 0 at "
				"rip=%#llx)", (unsigned long long)rip);
			return NULL;
		}
	}
	pthread_mutex_unlock(&vm->end_lock);
	return NULL;
}

int vmm_run(struct vmm *vm, struct vmm_result *res)
{
	struct sigaction sa = { .sa_handler = kick_handler }, old_sa;
	sigset_t all, old;
	int r = 0;

	memset(res, 0, sizeof(*res));
	if (vm->running || !vm->nvcpus)
		return -EINVAL;
	/* No SA_RESTART: the kick must interrupt KVM_RUN. */
	sigemptyset(&sa.sa_mask);
	if (sigaction(VMM_KICK_SIGNAL, &sa, &old_sa) < 0)
		return -errno;

	atomic_store(&vm->active, vm->nvcpus);
	pthread_mutex_lock(&vm->kick_lock);
	vm->running = true;
	pthread_mutex_unlock(&vm->kick_lock);
	/* vCPU threads get every signal blocked but the kick: SIGINT and
	 * friends belong to the CLI's signal thread. */
	sigfillset(&all);
	sigdelset(&all, VMM_KICK_SIGNAL);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	vm->ckpt.gone = 0;
	/* Before the vCPU threads (each reads its exit mark from the start),
	 * with every signal but the kick blocked like them: SIGINT and SIGTERM
	 * are the CLI's signal thread's. It kicks only threads that started. */
	if (vmm_ckpt_start(vm) < 0)
		vcr_debug("cannot start the checkpoint thread: periodic checkpoints off");
	for (uint32_t i = 0; i < vm->nvcpus; i++) {
		struct vmm_vcpu *c = &vm->vcpus[i];
		int e = pthread_create(&c->thread, NULL, vcpu_thread, c);
		if (e) {
			vmm_end(vm, i, VCR_END_ERROR, -e, "cannot start vcpu %u thread: %s",
				i, strerror(e));
			r = -e;
			break;
		}
		pthread_mutex_lock(&vm->kick_lock);
		c->thread_started = true;
		pthread_mutex_unlock(&vm->kick_lock);
	}
	if (!r && vm->machine && vm->machine->pc) {
		int e = pthread_create(&vm->watchdog, NULL, watchdog_main, vm);
		if (e)
			vmm_end(vm, 0, VCR_END_ERROR, -e, "cannot start the watchdog: %s",
				strerror(e));
		else
			vm->watchdog_started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	/* Every vCPU thread leaves its loop only once the run has ended (a
	 * halted one earlier, but then it stays out), so wait for the end,
	 * stop signalling, then join. A stop that came before the threads
	 * existed is seen by each thread at its loop top. */
	pthread_mutex_lock(&vm->end_lock);
	while (!vm->end_kicked)
		pthread_cond_wait(&vm->end_cond, &vm->end_lock);
	pthread_mutex_unlock(&vm->end_lock);
	if (vm->watchdog_started) {
		pthread_join(vm->watchdog, NULL);
		vm->watchdog_started = false;
	}
	vmm_ckpt_stop(vm);
	pthread_mutex_lock(&vm->kick_lock);
	vm->running = false;
	pthread_mutex_unlock(&vm->kick_lock);
	for (uint32_t i = 0; i < vm->nvcpus; i++)
		if (vm->vcpus[i].thread_started) {
			pthread_join(vm->vcpus[i].thread, NULL);
			vm->vcpus[i].thread_started = false;
		}
	/* The kick signal is the process's: give it back as the caller had it.
	 * No kick signals any more (running is false) and the threads that
	 * could receive one are joined. */
	sigaction(VMM_KICK_SIGNAL, &old_sa, NULL);
	vmm_machine_run_end(vm);
	/* Every vCPU out for good: the memory of the last exits. */
	vmm_ckpt_final(vm);

	*res = vm->result;
	for (uint32_t i = 0; i < vm->nvcpus; i++)
		res->exits += vm->vcpus[i].exits;
	res->unknown_io = atomic_load(&vm->unknown_io);
	if (vm->obs.end)
		vm->obs.end(vm->obs.ctx, res->how, res->status, res->msg);
	return r;
}
