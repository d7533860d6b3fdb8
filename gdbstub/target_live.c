/*
 * gdbstub/target_live.c: gdb on the running vCPUs of `vcr run`, through the
 * VMM's debug controls (vmm/vmm.h: debug handler, KVM_SET_GUEST_DEBUG per
 * vCPU, kicks, state in kvm_run->s.regs).
 *
 * All-stop. A vCPU that stops (breakpoint, watchpoint, step, interrupt
 * request) records the stop and kicks the others; each vCPU then waits
 * ("parks") inside the VMM's debug handler, on its own thread, until the
 * server releases it. The server sees the stop through an eventfd once every
 * vCPU is parked. A step releases only the stepping vCPU (the others stay
 * parked: docs/gdb.md). Guest debug settings are computed by the server and
 * applied by each vCPU thread as it leaves the handler (the VMM requires
 * vmm_vcpu_set_guest_debug on the vCPU's own thread while it runs). How
 * breakpoints and watchpoints are served, and what those settings are, is
 * live_debug.c's.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gdbstub/live_int.h"

/* ------------------------------------------------------------ vCPU side */

/* CLOCK_REALTIME ms from now: the clock of pthread_cond_timedwait and
 * pthread_timedjoin_np. */
static struct timespec deadline_ms(long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += ms % 1000 * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

/* Wait on l->cond (lock held) for a wakeup, or ms at most. */
static void wait_ms(struct gdbstub_live *l, long ms)
{
	struct timespec ts = deadline_ms(ms);
	pthread_cond_timedwait(&l->cond, &l->lock, &ts);
}

static void kick_running(struct gdbstub_live *l, unsigned except)
{
	for (unsigned v = 0; v < l->n; v++)
		if (v != except && !l->vc[v].parked)
			vmm_kick(l->vm, v);
}

static void notify(struct gdbstub_live *l)
{
	uint64_t one = 1;
	ssize_t w = write(l->efd, &one, sizeof(one));
	(void)w;	/* a full counter already wakes the poller */
}

static void begin_stop(struct gdbstub_live *l, const struct gdbstub_stop *s)
{
	if (l->stopping)
		return;	/* another vCPU stopped first: all-stop reports one */
	l->stopping = true;
	l->stop = *s;
	kick_running(l, s->thread);
}

static int live_handler(void *ctx, struct vmm *vm, uint32_t v, enum vmm_debug_event ev,
			struct kvm_run *run)
{
	struct gdbstub_live *l = ctx;
	struct gdbstub_stop s = { .signal = 5, .thread = v };
	int ret;

	pthread_mutex_lock(&l->lock);
	switch (ev) {
	case VMM_DEBUG_START:
		break;	/* wait for gdb (stopping is set from the start) */
	case VMM_DEBUG_EXIT:
		if (gdbstub_lv_debug_exit(l, v, run, &s))
			begin_stop(l, &s);
		else if (!l->stopping) {
			pthread_mutex_unlock(&l->lock);
			return VMM_DEBUG_CONTINUE;
		}
		break;
	case VMM_DEBUG_KICKED:
		if (!l->stopping) {	/* a stale kick from an earlier stop */
			pthread_mutex_unlock(&l->lock);
			return VMM_DEBUG_CONTINUE;
		}
		break;
	}
	l->vc[v].parked = true;
	l->nparked++;
	if (l->nparked == l->n)
		notify(l);
	pthread_cond_broadcast(&l->cond);
	while (!l->vc[v].go && !l->killed && !vmm_ended(vm)) {
		wait_ms(l, 100);
	}
	l->vc[v].go = false;
	l->vc[v].parked = false;
	l->nparked--;
	ret = l->killed ? VMM_DEBUG_KILL : VMM_DEBUG_CONTINUE;
	struct kvm_guest_debug dbg = l->vc[v].dbg;
	pthread_mutex_unlock(&l->lock);
	if (ret == VMM_DEBUG_CONTINUE)
		vmm_vcpu_set_guest_debug(vm, v, &dbg);
	return ret;
}

/* ------------------------------------------------------------ target ops */

static unsigned lv_nthreads(void *t)
{
	struct gdbstub_live *l = t;
	return l->n;
}

static int lv_get_state(void *t, unsigned th, struct vcr_vcpu_state *st, unsigned *avail)
{
	struct gdbstub_live *l = t;
	int rc = vmm_vcpu_get_state(l->vm, th, st);
	*avail = rc ? 0 : VCR_CLASS_ALL;
	return rc;
}

static int lv_set_state(void *t, unsigned th, const struct vcr_vcpu_state *st, unsigned dirty)
{
	struct gdbstub_live *l = t;
	/* Events are shown read-only; never write them back. */
	return vmm_vcpu_set_state(l->vm, th, st, dirty & (VCR_CLASS_REGS | VCR_CLASS_SREGS));
}

static int lv_read_phys(void *t, uint64_t gpa, void *buf, size_t len)
{
	struct gdbstub_live *l = t;
	return vmm_mem_read(l->vm, gpa, buf, len);
}

static int lv_write_phys(void *t, uint64_t gpa, const void *buf, size_t len)
{
	struct gdbstub_live *l = t;
	return vmm_mem_write(l->vm, gpa, buf, len);
}

static int lv_resume(void *t, const struct gdbstub_resume *r, struct gdbstub_stop *stop)
{
	struct gdbstub_live *l = t;
	(void)stop;

	if (r->reverse)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&l->lock);
	if (l->ended) {
		pthread_mutex_unlock(&l->lock);
		return -ESRCH;
	}
	bool emul = gdbstub_lv_have_step_bps(l);
	for (unsigned v = 0; v < l->n; v++) {
		if (r->action == GDBSTUB_STEP)
			l->vc[v].step = v == r->thread ? STEP_USER : STEP_NONE;
		else
			l->vc[v].step = emul ? STEP_EMUL : STEP_NONE;
	}
	gdbstub_lv_compute_debug(l);
	l->stopping = false;
	memset(&l->stop, 0, sizeof(l->stop));
	for (unsigned v = 0; v < l->n; v++)
		l->vc[v].go = r->action == GDBSTUB_CONTINUE || v == r->thread;
	uint64_t junk;
	ssize_t rd = read(l->efd, &junk, sizeof(junk));	/* drop stale wakeups */
	(void)rd;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
	return 0;
}

static int lv_stop_fd(void *t)
{
	struct gdbstub_live *l = t;
	return l->efd;
}

static int lv_wait_stop(void *t, struct gdbstub_stop *stop)
{
	struct gdbstub_live *l = t;
	uint64_t junk;
	ssize_t rd = read(l->efd, &junk, sizeof(junk));
	(void)rd;

	pthread_mutex_lock(&l->lock);
	if (l->ended) {
		memset(stop, 0, sizeof(*stop));
		stop->reason = GDBSTUB_STOP_EXITED;
		stop->exit_code = l->exit_code;
		pthread_mutex_unlock(&l->lock);
		return 1;
	}
	if (!l->stopping) {
		pthread_mutex_unlock(&l->lock);
		return 0;
	}
	/* vCPUs that halted for good never park: wait a little for the rest,
	 * then report the stop with whoever is parked. */
	for (int i = 0; i < 5 && l->nparked < l->n && !l->ended; i++) {
		wait_ms(l, 100);
	}
	*stop = l->stop;
	if (!stop->signal)
		stop->signal = 5;
	void (*fn)(void *, const struct gdbstub_stop *) = l->on_stop;
	void *ctx = l->on_stop_ctx;
	pthread_mutex_unlock(&l->lock);
	if (fn)
		fn(ctx, stop);
	return 1;
}

static void lv_interrupt(void *t)
{
	struct gdbstub_live *l = t;
	struct gdbstub_stop s = { .signal = 2 };

	pthread_mutex_lock(&l->lock);
	for (unsigned v = 0; v < l->n; v++)
		if (!l->vc[v].parked) {
			s.thread = v;
			break;
		}
	if (!l->stopping) {
		l->stopping = true;
		l->stop = s;
		kick_running(l, UINT32_MAX);
	}
	if (l->nparked == l->n)
		notify(l);
	pthread_mutex_unlock(&l->lock);
}

static void lv_initial_stop(void *t, struct gdbstub_stop *stop)
{
	struct gdbstub_live *l = t;
	pthread_mutex_lock(&l->lock);
	*stop = l->stop;
	stop->signal = 5;
	pthread_mutex_unlock(&l->lock);
}

static void lv_detach(void *t, bool kill)
{
	struct gdbstub_live *l = t;

	pthread_mutex_lock(&l->lock);
	gdbstub_lv_clear_bps(l);
	for (unsigned v = 0; v < l->n; v++) {
		l->vc[v].step = STEP_NONE;
		l->vc[v].go = true;
	}
	gdbstub_lv_compute_debug(l);
	l->stopping = false;
	if (kill)
		l->killed = true;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
}

static const struct gdbstub_target_ops live_ops = {
	.nthreads = lv_nthreads,
	.get_state = lv_get_state,
	.set_state = lv_set_state,
	.read_phys = lv_read_phys,
	.write_phys = lv_write_phys,
	.resume = lv_resume,
	.stop_fd = lv_stop_fd,
	.wait_stop = lv_wait_stop,
	.interrupt = lv_interrupt,
	.breakpoint = gdbstub_lv_breakpoint,
	.monitor = gdbstub_lv_monitor,
	.monitor_help = gdbstub_lv_monitor_help,
	.initial_stop = lv_initial_stop,
	.detach = lv_detach,
};

/* ------------------------------------------------------------ server */

static void *server_main(void *arg)
{
	struct gdbstub_live *l = arg;
	struct gdbstub *g = NULL;
	struct vcr_err err = { 0 };
	int fd = -1, rc;

	rc = gdbstub_accept_on(l->lfd, &fd, &err);
	if (rc) {
		pthread_mutex_lock(&l->lock);
		bool ended = l->ended;
		pthread_mutex_unlock(&l->lock);
		if (!ended)
			vcr_log("gdbstub: %s; the guest runs on without gdb", err.msg);
		lv_detach(l, false);
		return NULL;
	}
	pthread_mutex_lock(&l->lock);
	l->fd = fd;
	/* The guest waits for gdb before its first instruction: every vCPU
	 * parks at VMM_DEBUG_START. */
	while (l->nparked < l->n && !l->ended && !vmm_ended(l->vm)) {
		wait_ms(l, 1000);
	}
	pthread_mutex_unlock(&l->lock);
	rc = gdbstub_new(&g, &live_ops, l, 0);
	if (rc) {
		vcr_log("gdbstub: %s", strerror(-rc));
		lv_detach(l, false);
	} else {
		rc = gdbstub_serve_fd(g, fd);
		if (rc)
			vcr_log("gdbstub: connection: %s", strerror(-rc));
		vcr_log("gdbstub: gdb session ended");
	}
	gdbstub_free(g);
	return NULL;
}

int gdbstub_live_start(struct gdbstub_live **out, struct vmm *vm, const char *addr,
		       struct vcr_err *err)
{
	struct gdbstub_live *l = calloc(1, sizeof(*l));
	int rc;

	*out = NULL;
	if (!l)
		return vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
	l->vm = vm;
	l->n = vmm_nvcpus(vm);
	l->lfd = l->fd = l->efd = -1;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->cond, NULL);
	l->vc = calloc(l->n ? l->n : 1, sizeof(*l->vc));
	if (!l->vc) {
		rc = vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
		goto fail;
	}
	l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->efd < 0) {
		rc = vcr_err_set(err, -errno, UINT64_MAX, "eventfd: %s", strerror(errno));
		goto fail;
	}
	gdbstub_lv_debug_init(l);
	l->stopping = true;
	l->stop.signal = 5;
	snprintf(l->addr, sizeof(l->addr), "%s", addr);
	rc = gdbstub_listen(addr, &l->lfd, err);
	if (rc)
		goto fail;
	vmm_set_debug_handler(vm, live_handler, l);
	rc = pthread_create(&l->thread, NULL, server_main, l);
	if (rc) {
		vmm_set_debug_handler(vm, NULL, NULL);
		rc = vcr_err_set(err, -rc, UINT64_MAX, "cannot start the gdb thread");
		goto fail;
	}
	l->thread_started = true;
	*out = l;
	return 0;
fail:
	if (l->lfd >= 0)
		close(l->lfd);
	if (l->efd >= 0)
		close(l->efd);
	free(l->vc);
	free(l);
	return rc;
}

void gdbstub_live_on_stop(struct gdbstub_live *l,
			  void (*fn)(void *ctx, const struct gdbstub_stop *s), void *ctx)
{
	if (!l)
		return;
	pthread_mutex_lock(&l->lock);
	l->on_stop = fn;
	l->on_stop_ctx = ctx;
	pthread_mutex_unlock(&l->lock);
}

void gdbstub_live_exited(struct gdbstub_live *l, int code)
{
	if (!l)
		return;
	pthread_mutex_lock(&l->lock);
	l->exit_code = code;
	pthread_mutex_unlock(&l->lock);
}

void gdbstub_live_stop(struct gdbstub_live *l)
{
	if (!l)
		return;
	pthread_mutex_lock(&l->lock);
	l->ended = true;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
	notify(l);
	if (l->thread_started) {
		/* A gdb waiting for a stop gets W00 through the eventfd; one that
		 * has control, or no gdb at all, is cut off. */
		struct timespec ts = deadline_ms(2000);
		if (pthread_timedjoin_np(l->thread, NULL, &ts)) {
			pthread_mutex_lock(&l->lock);
			if (l->fd >= 0)
				shutdown(l->fd, SHUT_RDWR);
			pthread_mutex_unlock(&l->lock);
			shutdown(l->lfd, SHUT_RDWR);
			pthread_join(l->thread, NULL);
		}
	}
	vmm_set_debug_handler(l->vm, NULL, NULL);
	if (l->fd >= 0)
		close(l->fd);
	if (l->lfd >= 0)
		close(l->lfd);
	close(l->efd);
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->cond);
	free(l->vc);
	free(l);
}
