/*
 * vmm/ckpt.c: pausing every vCPU at an exit boundary for a memory
 * checkpoint (vmm.h, "Memory checkpoints").
 *
 * One vCPU: it takes the checkpoint itself at the loop top after an exit,
 * when the interval (checkpoint thread) or its exit mark set ckpt.pause; no
 * kick, so no KVM_EXIT_INTR in the trace. Several: a checkpoint thread
 * sleeps for the interval (or until a vCPU reached its exit mark), sets
 * ckpt.pause, and kicks each vCPU as the pc watchdog
 * probes: immediate_exit + the kick signal, but no kick_pending, so the
 * debug handler is not told. Each vCPU, at its loop top, sees the flag and
 * waits on ckpt.cond for the generation to move; a vCPU thread that left
 * its loop (halted on bare, the run ended) counts as gone. Once paused +
 * gone covers every vCPU the thread calls the checkpoint function, then
 * bumps the generation and lets them go. The guest runs on no vCPU in
 * between: the memory copied is the memory at those exits.
 */
#include "vmm/dev.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

static void ckpt_deadline(struct timespec *ts, uint64_t ns)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ns += (uint64_t)ts->tv_nsec;
	ts->tv_sec += (time_t)(ns / 1000000000ull);
	ts->tv_nsec = (long)(ns % 1000000000ull);
}

void vmm_set_checkpoints(struct vmm *vm, vmm_ckpt_fn fn, vmm_ckpt_pre_fn pre, void *ctx,
			 uint64_t interval_ns, uint64_t interval_exits)
{
	vm->ckpt.fn = fn;
	vm->ckpt.pre = pre;
	vm->ckpt.ctx = ctx;
	vm->ckpt.interval_ns = interval_ns;
	vm->ckpt.interval_exits = interval_exits;
}

void vmm_ckpt_pause_here(struct vmm *vm, struct vmm_vcpu *c)
{
	(void)c;
	if (vm->nvcpus == 1) {
		/* The only vCPU, out of KVM_RUN at its exit: no kick, so no
		 * KVM_EXIT_INTR lands in the trace (replay stays exact). */
		int64_t next = vm->ckpt.fn(vm->ckpt.ctx, vm, false);
		atomic_store(&vm->ckpt.next_ns, next);
		atomic_store(&vm->ckpt.pause, false);
		return;
	}
	pthread_mutex_lock(&vm->ckpt.lock);
	if (atomic_load(&vm->ckpt.pause)) {
		uint64_t gen = vm->ckpt.gen;
		vm->ckpt.paused++;
		pthread_cond_broadcast(&vm->ckpt.cond);
		while (vm->ckpt.gen == gen)
			pthread_cond_wait(&vm->ckpt.cond, &vm->ckpt.lock);
		vm->ckpt.paused--;
	}
	pthread_mutex_unlock(&vm->ckpt.lock);
}

void vmm_ckpt_exits_due(struct vmm *vm, struct vmm_vcpu *c)
{
	c->ckpt_mark = c->exits + vm->ckpt.interval_exits;
	if (vm->nvcpus == 1) {
		atomic_store(&vm->ckpt.pause, true);	/* at the loop top, now */
		return;
	}
	pthread_mutex_lock(&vm->ckpt.lock);
	vm->ckpt.due = true;
	pthread_cond_broadcast(&vm->ckpt.cond);
	pthread_mutex_unlock(&vm->ckpt.lock);
}

void vmm_ckpt_vcpu_gone(struct vmm *vm)
{
	if (!vm->ckpt.fn)
		return;
	pthread_mutex_lock(&vm->ckpt.lock);
	vm->ckpt.gone++;
	pthread_cond_broadcast(&vm->ckpt.cond);
	pthread_mutex_unlock(&vm->ckpt.lock);
}

/* The pre-copy, without ckpt.lock: a vCPU arriving at its loop top (an
 * exit mark) takes the lock, and must not wait for the copy. */
static void ckpt_pre(struct vmm *vm)
{
	if (!vm->ckpt.pre)
		return;
	pthread_mutex_unlock(&vm->ckpt.lock);
	int rc = vm->ckpt.pre(vm->ckpt.ctx, vm);
	if (rc < 0)
		vcr_debug("checkpoint pre-copy failed (%d): the pause copies it all", rc);
	pthread_mutex_lock(&vm->ckpt.lock);
}

/* One round: pre-copy, pause, call fn, release. ckpt.lock held on entry and exit.
 * Returns fn's answer, or 0 when the round gave up. One vCPU: ask it to
 * checkpoint at its next exit, and take the answer of the last one. */
static int64_t ckpt_round(struct vmm *vm)
{
	struct timespec ts;
	int64_t next = 0;

	if (vm->nvcpus == 1) {
		/* The last round's pause not taken yet (no exit since): this
		 * one is that one. */
		if (atomic_load(&vm->ckpt.pause))
			return 0;
		ckpt_pre(vm);
		atomic_store(&vm->ckpt.pause, true);
		return atomic_exchange(&vm->ckpt.next_ns, 0);
	}

	ckpt_pre(vm);
	atomic_store(&vm->ckpt.pause, true);
	for (uint32_t i = 0; i < vm->nvcpus; i++) {
		struct vmm_vcpu *c = &vm->vcpus[i];
		__atomic_store_n(&c->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		pthread_mutex_lock(&vm->kick_lock);
		if (vm->running && c->thread_started)
			pthread_kill(c->thread, VMM_KICK_SIGNAL);
		pthread_mutex_unlock(&vm->kick_lock);
	}
	ckpt_deadline(&ts, (uint64_t)VMM_CKPT_PAUSE_MS * 1000000ull);
	while (vm->ckpt.paused + vm->ckpt.gone < vm->nvcpus && !vm->ckpt.stop)
		if (pthread_cond_timedwait(&vm->ckpt.cond, &vm->ckpt.lock, &ts))
			break;
	if (vm->ckpt.paused + vm->ckpt.gone >= vm->nvcpus && !atomic_load(&vm->ended))
		next = vm->ckpt.fn(vm->ckpt.ctx, vm, false);
	else
		vcr_debug("checkpoint skipped: %u of %u vCPUs paused", vm->ckpt.paused,
			  vm->nvcpus - vm->ckpt.gone);
	atomic_store(&vm->ckpt.pause, false);
	vm->ckpt.gen++;
	pthread_cond_broadcast(&vm->ckpt.cond);
	return next;
}

static void *ckpt_main(void *arg)
{
	struct vmm *vm = arg;
	uint64_t wait_ns = vm->ckpt.interval_ns;

	pthread_mutex_lock(&vm->ckpt.lock);
	while (!vm->ckpt.stop) {
		struct timespec ts;
		if (wait_ns) {
			ckpt_deadline(&ts, wait_ns);
			while (!vm->ckpt.stop && !vm->ckpt.due)
				if (pthread_cond_timedwait(&vm->ckpt.cond, &vm->ckpt.lock, &ts))
					break;
		} else {
			while (!vm->ckpt.stop && !vm->ckpt.due)
				pthread_cond_wait(&vm->ckpt.cond, &vm->ckpt.lock);
		}
		if (vm->ckpt.stop)
			break;
		vm->ckpt.due = false;
		int64_t next = ckpt_round(vm);
		if (next < 0)
			break;
		wait_ns = (uint64_t)next > vm->ckpt.interval_ns ? (uint64_t)next : vm->ckpt.interval_ns;
	}
	pthread_mutex_unlock(&vm->ckpt.lock);
	return NULL;
}

int vmm_ckpt_start(struct vmm *vm)
{
	for (uint32_t i = 0; i < vm->nvcpus; i++)
		vm->vcpus[i].ckpt_mark = vm->ckpt.fn && vm->ckpt.interval_exits ?
			vm->ckpt.interval_exits : UINT64_MAX;
	if (!vm->ckpt.fn || (!vm->ckpt.interval_ns && !vm->ckpt.interval_exits))
		return 0;
	vm->ckpt.stop = false;
	int e = pthread_create(&vm->ckpt.thread, NULL, ckpt_main, vm);
	if (e)
		return -e;
	vm->ckpt.started = true;
	return 0;
}

void vmm_ckpt_stop(struct vmm *vm)
{
	if (!vm->ckpt.started)
		return;
	pthread_mutex_lock(&vm->ckpt.lock);
	vm->ckpt.stop = true;
	pthread_cond_broadcast(&vm->ckpt.cond);
	pthread_mutex_unlock(&vm->ckpt.lock);
	pthread_join(vm->ckpt.thread, NULL);
	vm->ckpt.started = false;
}

void vmm_ckpt_final(struct vmm *vm)
{
	if (vm->ckpt.fn)
		vm->ckpt.fn(vm->ckpt.ctx, vm, true);
}
