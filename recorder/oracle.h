/*
 * recorder/oracle.h: the differential oracle (docs/testing.md "The
 * differential oracle"): an observer of vcr's own VMM that, after every
 * exit, asks KVM for the vCPU's state with KVM_GET_REGS, KVM_GET_SREGS and
 * KVM_GET_VCPU_EVENTS and logs the three structs as KVM returned them. A
 * recorder that watches the same VMM from outside (`vcr record`, either
 * backend) must put the same state in its trace for every exit:
 * tests/kvm/oracle_check.c compares the two.
 *
 * Log format (host byte order, x86-64 only): VCR_ORACLE_MAGIC (8 bytes),
 * then one struct vcr_oracle_rec per exit in the order the exits were
 * logged (per vCPU: exit order).
 *
 * Lifecycle: vcr_oracle_open, vcr_oracle_observer (install the result with
 * vmm_set_observer, before vmm_load), vmm_run, vcr_oracle_close.
 * Threading: the observer runs on every vCPU thread; records are written
 * whole under a mutex. The GET ioctls run on the vCPU's own thread while it
 * is out of KVM_RUN (where the observer's after_run is called).
 * Errors: 0 or -errno, with err filled; a failed write or ioctl during the
 * run is counted and reported by vcr_oracle_close.
 */
#ifndef VCR_RECORDER_ORACLE_H
#define VCR_RECORDER_ORACLE_H

#include <stdint.h>
#include <linux/kvm.h>

#include "core/util.h"
#include "vmm/vmm.h"

#define VCR_ORACLE_MAGIC "VCRORC1\n"

struct vcr_oracle_rec {
	uint32_t vcpu;			/* vCPU index */
	uint32_t reason;		/* kvm_run exit_reason as the VMM saw it */
	uint64_t exit;			/* per-vCPU exit number, from 0 */
	uint32_t got;			/* VCR_CLASS_* whose GET ioctl succeeded */
	uint32_t pad;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_vcpu_events events;
};

struct vcr_oracle;

int vcr_oracle_open(struct vcr_oracle **out, const char *path, struct vmm *vm,
		    struct vcr_err *err);

/* The observer to install: logs after every exit, and passes every call
 * on to *next (NULL: none; copied) so the oracle can sit beside a
 * recorder. */
void vcr_oracle_observer(struct vcr_oracle *o, const struct vmm_observer *next,
			 struct vmm_observer *obs);

/* Flush, close, free. Returns 0, or -EIO if a record was lost. Accepts
 * NULL. */
int vcr_oracle_close(struct vcr_oracle *o, struct vcr_err *err);

#endif
