/*
 * recorder/oracle.c: the differential oracle's logger (recorder/oracle.h).
 */
#include "recorder/oracle.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "core/state.h"

#define ORACLE_MAX_VCPUS 256u

struct vcr_oracle {
	struct vmm *vm;
	FILE *f;
	pthread_mutex_t lock;
	struct vmm_observer next;
	uint64_t lost;
	uint64_t exits[ORACLE_MAX_VCPUS];
};

int vcr_oracle_open(struct vcr_oracle **out, const char *path, struct vmm *vm,
		    struct vcr_err *err)
{
	struct vcr_oracle *o = calloc(1, sizeof(*o));

	*out = NULL;
	if (!o)
		return vcr_err_set(err, -ENOMEM, 0, "out of memory");
	o->vm = vm;
	o->f = fopen(path, "wbe");
	if (!o->f) {
		int e = -errno;
		free(o);
		return vcr_err_set(err, e, 0, "%s: %s", path, strerror(-e));
	}
	if (fwrite(VCR_ORACLE_MAGIC, 8, 1, o->f) != 1) {
		fclose(o->f);
		free(o);
		return vcr_err_set(err, -EIO, 0, "%s: cannot write", path);
	}
	pthread_mutex_init(&o->lock, NULL);
	*out = o;
	return 0;
}

static void oracle_after_run(void *ctx, uint32_t vcpu, struct kvm_run *run)
{
	struct vcr_oracle *o = ctx;
	struct vcr_oracle_rec rec;
	int fd = vmm_vcpu_fd(o->vm, vcpu);

	if (o->next.after_run)
		o->next.after_run(o->next.ctx, vcpu, run);
	memset(&rec, 0, sizeof(rec));
	rec.vcpu = vcpu;
	rec.reason = run->exit_reason;
	if (ioctl(fd, KVM_GET_REGS, &rec.regs) == 0)
		rec.got |= VCR_CLASS_REGS;
	if (ioctl(fd, KVM_GET_SREGS, &rec.sregs) == 0)
		rec.got |= VCR_CLASS_SREGS;
	if (ioctl(fd, KVM_GET_VCPU_EVENTS, &rec.events) == 0)
		rec.got |= VCR_CLASS_EVENTS;
	pthread_mutex_lock(&o->lock);
	rec.exit = vcpu < ORACLE_MAX_VCPUS ? o->exits[vcpu]++ : 0;
	if (fwrite(&rec, sizeof(rec), 1, o->f) != 1)
		o->lost++;
	pthread_mutex_unlock(&o->lock);
}

/* The rest only passes calls on. */
static void oracle_before_run(void *ctx, uint32_t vcpu, struct kvm_run *run)
{
	struct vcr_oracle *o = ctx;
	o->next.before_run(o->next.ctx, vcpu, run);
}

static void oracle_mem_write(void *ctx, uint32_t vcpu, uint64_t gpa, const void *data,
			     uint64_t len)
{
	struct vcr_oracle *o = ctx;
	o->next.mem_write(o->next.ctx, vcpu, gpa, data, len);
}

static void oracle_inject(void *ctx, uint32_t vcpu, uint32_t kind, uint32_t vector)
{
	struct vcr_oracle *o = ctx;
	o->next.inject(o->next.ctx, vcpu, kind, vector);
}

static void oracle_irq_line(void *ctx, uint32_t vcpu, uint32_t gsi, uint32_t level)
{
	struct vcr_oracle *o = ctx;
	o->next.irq_line(o->next.ctx, vcpu, gsi, level);
}

static void oracle_note(void *ctx, uint32_t vcpu, uint32_t kind, const char *text, size_t len)
{
	struct vcr_oracle *o = ctx;
	o->next.note(o->next.ctx, vcpu, kind, text, len);
}

static void oracle_end(void *ctx, uint32_t how, int32_t status, const char *msg)
{
	struct vcr_oracle *o = ctx;

	pthread_mutex_lock(&o->lock);
	if (fflush(o->f))
		o->lost++;
	pthread_mutex_unlock(&o->lock);
	if (o->next.end)
		o->next.end(o->next.ctx, how, status, msg);
}

void vcr_oracle_observer(struct vcr_oracle *o, const struct vmm_observer *next,
			 struct vmm_observer *obs)
{
	memset(&o->next, 0, sizeof(o->next));
	if (next)
		o->next = *next;
	memset(obs, 0, sizeof(*obs));
	obs->ctx = o;
	obs->after_run = oracle_after_run;
	obs->end = oracle_end;
	obs->before_run = o->next.before_run ? oracle_before_run : NULL;
	obs->mem_write = o->next.mem_write ? oracle_mem_write : NULL;
	obs->inject = o->next.inject ? oracle_inject : NULL;
	obs->irq_line = o->next.irq_line ? oracle_irq_line : NULL;
	obs->note = o->next.note ? oracle_note : NULL;
}

int vcr_oracle_close(struct vcr_oracle *o, struct vcr_err *err)
{
	int r = 0;

	if (!o)
		return 0;
	if (fclose(o->f) || o->lost)
		r = vcr_err_set(err, -EIO, 0, "oracle log: %llu records lost",
				(unsigned long long)o->lost);
	pthread_mutex_destroy(&o->lock);
	free(o);
	return r;
}
