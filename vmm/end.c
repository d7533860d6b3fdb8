/*
 * vmm/end.c: kicks and how a run ends. A run ends once (vmm_end: the first
 * caller wins, from a vCPU thread, a device or the VMM's signal thread);
 * the ender kicks every other vCPU out of KVM_RUN with immediate_exit + a
 * signal. vmm/run.c (the vCPU loop), vmm/dev_test_ports.c (the exit port),
 * vmm/dev_i8042.c (reset) and vmm/dev_serial.c (a kernel panic) end runs
 * through it; a panic line the UART saw is kept here for the end message.
 */
#include "vmm/vmm_int.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int vmm_end_exit_status(uint32_t how, int32_t status)
{
	switch (how) {
	case VCR_END_EXIT_PORT: return status & 0xff;
	case VCR_END_HLT: return VMM_STATUS_HALTED;
	case VCR_END_RESET: return VMM_STATUS_HALTED;	/* a clean reboot */
	case VCR_END_PANIC: return VMM_STATUS_PANIC;
	case VCR_END_SHUTDOWN: return VMM_STATUS_SHUTDOWN;
	case VCR_END_INTERNAL_ERROR: return VMM_STATUS_INTERNAL_ERROR;
	case VCR_END_FAIL_ENTRY: return VMM_STATUS_FAIL_ENTRY;
	case VCR_END_SIGNAL: return VMM_STATUS_SIGNAL_BASE + (status & 0x7f);
	case VCR_END_GDB_KILL: return VMM_STATUS_SIGNAL_BASE + SIGKILL;
	case VCR_END_ERROR: return VMM_STATUS_ERROR;
	case VCR_END_VMM_EXIT: return status & 0xff;	/* vcr record: the VMM's */
	default: return VMM_STATUS_UNEXPECTED;
	}
}

static void kick(struct vmm *vm, struct vmm_vcpu *c)
{
	/* Order matters: pending before immediate_exit before the signal, so
	 * that the loop (which clears immediate_exit, then reads pending)
	 * never loses a kick. See vcpu_take_kick. */
	atomic_store(&c->kick_pending, true);
	if (c->run)
		__atomic_store_n(&c->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	/* Under kick_lock: vmm_run stops signalling before it joins, so
	 * pthread_kill never sees a joined thread. */
	pthread_mutex_lock(&vm->kick_lock);
	if (vm->running && c->thread_started && !pthread_equal(c->thread, pthread_self()))
		pthread_kill(c->thread, VMM_KICK_SIGNAL);
	pthread_mutex_unlock(&vm->kick_lock);
}

void vmm_kick(struct vmm *vm, uint32_t vcpu)
{
	if (vcpu < vm->nvcpus)
		kick(vm, &vm->vcpus[vcpu]);
}

void vmm_kick_all(struct vmm *vm)
{
	for (uint32_t i = 0; i < vm->nvcpus; i++)
		kick(vm, &vm->vcpus[i]);
}

static void vmm_vend(struct vmm *vm, uint32_t vcpu, uint32_t how, int32_t status,
		     const char *fmt, va_list ap)
{
	pthread_mutex_lock(&vm->end_lock);
	if (atomic_load(&vm->ended)) {
		pthread_mutex_unlock(&vm->end_lock);
		return;
	}
	struct vmm_result *res = &vm->result;
	res->how = how;
	res->status = status;
	res->exit_status = vmm_end_exit_status(how, status);
	res->vcpu = vcpu;
	vsnprintf(res->msg, sizeof(res->msg), fmt, ap);
	atomic_store(&vm->ended, true);
	pthread_mutex_unlock(&vm->end_lock);
	vmm_kick_all(vm);
	pthread_mutex_lock(&vm->end_lock);
	vm->end_kicked = true;
	pthread_cond_broadcast(&vm->end_cond);
	pthread_mutex_unlock(&vm->end_lock);
}

void vmm_end(struct vmm *vm, uint32_t vcpu, uint32_t how, int32_t status,
	     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmm_vend(vm, vcpu, how, status, fmt, ap);
	va_end(ap);
}

void vmm_stop(struct vmm *vm, uint32_t how, int32_t status, const char *msg)
{
	vmm_end(vm, 0, how, status, "%s", msg ? msg : vcr_end_how_name(how));
}

bool vmm_ended(const struct vmm *vm)
{
	return atomic_load(&((struct vmm *)vm)->ended);
}

void vmm_panic_seen(struct vmm *vm, const char *line)
{
	pthread_mutex_lock(&vm->panic_lock);
	if (!vm->panicked) {
		vm->panicked = true;
		snprintf(vm->panic_line, sizeof(vm->panic_line), "%s", line);
	}
	pthread_mutex_unlock(&vm->panic_lock);
}

bool vmm_panic_line(struct vmm *vm, char *buf, size_t len)
{
	bool p;

	pthread_mutex_lock(&vm->panic_lock);
	p = vm->panicked;
	if (p && len)
		snprintf(buf, len, "%s", vm->panic_line);
	pthread_mutex_unlock(&vm->panic_lock);
	return p;
}
